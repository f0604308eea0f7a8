import pytest
import torch

from course.hooks import HookError


def test_a_hook_can_replace_an_activation(tiny_model, tokens):
    def zero_attention(act, hook):
        return torch.zeros_like(act)

    clean = tiny_model(tokens)
    ablated = tiny_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_attn_out", zero_attention)])
    assert not torch.allclose(clean, ablated)
    # and ablating attention by hand gives the same answer
    _, cache = tiny_model.run_with_cache(tokens)
    patched = tiny_model.run_with_hooks(
        tokens, fwd_hooks=[("blocks.0.hook_resid_mid", lambda act, hook: cache["blocks.0.hook_resid_pre"])])
    torch.testing.assert_close(ablated, patched)


def test_a_hook_returning_none_only_reads(tiny_model, tokens):
    seen = []
    out = tiny_model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_pattern", lambda a, h: seen.append(h.name))])
    torch.testing.assert_close(out, tiny_model(tokens), atol=1e-5, rtol=1e-5)
    assert seen == ["blocks.1.attn.hook_pattern"]


def test_filters_select_many_hooks(tiny_model, tokens):
    seen = []
    tiny_model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_pattern"), lambda a, h: seen.append(h.name))])
    assert seen == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]


def test_hooks_are_removed_even_when_a_hook_raises(tiny_model, tokens):
    def broken(act, hook):
        raise RuntimeError("learner bug")

    with pytest.raises(RuntimeError, match="learner bug"):
        tiny_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_resid_pre", broken)])
    assert not any(hp.has_hooks for hp in tiny_model.hook_dict.values())
    with pytest.raises(Exception):
        tiny_model.run_with_cache(torch.full((1, 3), 99))  # forward itself raises
    assert not any(hp.has_hooks for hp in tiny_model.hook_dict.values())


def test_unknown_hook_name_suggests_close_names(tiny_model, tokens):
    with pytest.raises(HookError, match=r"no hook point named 'blocks.0.attn.hook_patern'.*'blocks.0.attn.hook_pattern'"):
        tiny_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_patern", lambda a, h: None)])


def test_wrong_shape_from_a_hook_names_hook_and_shapes(tiny_model, tokens):
    def bad(act, hook):
        return act[:, :, :-1]

    with pytest.raises(HookError, match=r"blocks.0.hook_resid_post returned shape \(3, 10, 31\).*\(3, 10, 32\)"):
        tiny_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_resid_post", bad)])
    assert not any(hp.has_hooks for hp in tiny_model.hook_dict.values())


def test_non_tensor_return_is_an_error(tiny_model, tokens):
    with pytest.raises(HookError, match="return None to only read"):
        tiny_model.run_with_hooks(tokens, fwd_hooks=[("hook_embed", lambda a, h: 3.0)])


def test_names_filter_limits_the_cache(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens, names_filter=lambda n: "resid_post" in n)
    assert list(cache) == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    with pytest.raises(KeyError, match="names_filter"):
        cache["blocks.0.attn.hook_pattern"]
