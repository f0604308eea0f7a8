import pytest
import torch

from course.config import ModelConfig
from course.model import HookedTransformer
from tests.conftest import tiny_config

B, P, H, E, D = 3, 10, 4, 8, 32

EXPECTED_SHAPES = {
    "hook_embed": (B, P, D),
    "hook_pos_embed": (B, P, D),
    "blocks.1.hook_resid_pre": (B, P, D),
    "blocks.1.ln1.hook_scale": (B, P, 1),
    "blocks.1.ln1.hook_normalized": (B, P, D),
    "blocks.1.attn.hook_q": (B, P, H, E),
    "blocks.1.attn.hook_k": (B, P, H, E),
    "blocks.1.attn.hook_v": (B, P, H, E),
    "blocks.1.attn.hook_attn_scores": (B, H, P, P),
    "blocks.1.attn.hook_pattern": (B, H, P, P),
    "blocks.1.attn.hook_z": (B, P, H, E),
    "blocks.1.hook_attn_out": (B, P, D),
    "blocks.1.hook_resid_mid": (B, P, D),
    "blocks.1.mlp.hook_pre": (B, P, 64),
    "blocks.1.mlp.hook_post": (B, P, 64),
    "blocks.1.hook_mlp_out": (B, P, D),
    "blocks.1.hook_resid_post": (B, P, D),
    "ln_final.hook_normalized": (B, P, D),
}


def test_every_hook_has_its_transformerlens_name_and_shape(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    for name, shape in EXPECTED_SHAPES.items():
        assert tuple(cache[name].shape) == shape, name


def test_cache_is_ordered_as_the_forward_pass_runs(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    names = list(cache)
    assert names.index("blocks.0.hook_resid_pre") < names.index("blocks.0.ln1.hook_scale")
    assert names.index("blocks.0.attn.hook_pattern") < names.index("blocks.0.hook_attn_out")
    assert names[-1] == "ln_final.hook_normalized"


def test_logits_shape_and_one_dimensional_input(tiny_model, tokens):
    assert tiny_model(tokens).shape == (B, P, 50)
    torch.testing.assert_close(tiny_model(tokens[0]), tiny_model(tokens[:1]))


def test_fast_path_equals_explicit_attention(tiny_model, tokens):
    # With no hooks the model uses fused kernels; with hooks it computes every step by hand.
    plain = tiny_model(tokens)
    watched, _ = tiny_model.run_with_cache(tokens)
    torch.testing.assert_close(plain, watched, atol=1e-5, rtol=1e-5)


def test_attention_is_causal(tiny_model, tokens):
    changed = tokens.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 50
    torch.testing.assert_close(tiny_model(tokens)[:, :6], tiny_model(changed)[:, :6])
    assert not torch.allclose(tiny_model(tokens)[:, 6:], tiny_model(changed)[:, 6:])


def test_patterns_are_distributions_over_earlier_positions(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    pattern = cache["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(pattern.sum(-1), torch.ones(B, H, P))
    assert pattern.triu(diagonal=1).abs().max() == 0


def test_attention_only_model_has_no_mlp(tokens):
    model = HookedTransformer(tiny_config(attn_only=True))
    assert not any("mlp" in name for name in model.hook_names)
    assert "blocks.0.hook_resid_mid" not in model.hook_names
    _, cache = model.run_with_cache(tokens)
    # with no MLP the stream after a block is the stream before it plus attention's output
    torch.testing.assert_close(cache["blocks.0.hook_resid_post"],
                               cache["blocks.0.hook_resid_pre"] + cache["blocks.0.hook_attn_out"])


def test_model_without_layernorm(tokens):
    model = HookedTransformer(tiny_config(normalization=None))
    assert not any("ln" in name for name in model.hook_names)
    logits, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(logits, cache["blocks.1.hook_resid_post"] @ model.W_U + model.b_U)


def test_kv_cache_forward_matches_full_forward(tiny_model, tokens):
    from course.kv_cache import KVCache

    cache = KVCache.for_model(tiny_model, batch=B)
    chunks = [tiny_model(tokens[:, :4], kv_cache=cache), tiny_model(tokens[:, 4:7], kv_cache=cache)]
    chunks += [tiny_model(tokens[:, i : i + 1], kv_cache=cache) for i in range(7, P)]
    torch.testing.assert_close(torch.cat(chunks, 1), tiny_model(tokens), atol=1e-5, rtol=1e-5)
    assert cache.length == P


def test_kv_cache_with_hooks_matches_too(tiny_model, tokens):
    from course.kv_cache import KVCache

    cache = KVCache.for_model(tiny_model, batch=B)
    tiny_model(tokens[:, :5], kv_cache=cache)
    logits, act = tiny_model.run_with_cache(tokens[:, 5:], kv_cache=cache)
    assert act["blocks.0.attn.hook_pattern"].shape == (B, H, P - 5, P)
    torch.testing.assert_close(logits, tiny_model(tokens)[:, 5:], atol=1e-5, rtol=1e-5)


def test_stacked_weights_have_transformerlens_shapes(tiny_model):
    assert tiny_model.W_Q.shape == (2, H, D, E)
    assert tiny_model.W_O.shape == (2, H, E, D)
    assert tiny_model.W_in.shape == (2, D, 64)
    assert tiny_model.W_U.shape == (D, 50)


def test_tied_embeddings_share_one_matrix():
    model = HookedTransformer(tiny_config(tie_embeddings=True))
    assert "unembed.W_U" not in model.state_dict()
    with torch.no_grad():
        model.embed.W_E[3] += 1.0
    torch.testing.assert_close(model.W_U[:, 3], model.W_E[3])


def test_loss_is_next_token_cross_entropy(tiny_model, tokens):
    logits = tiny_model(tokens)
    manual = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 50), tokens[:, 1:].reshape(-1))
    torch.testing.assert_close(tiny_model.loss(tokens), manual)
    assert tiny_model.loss(tokens, per_token=True).shape == (B, P - 1)


@pytest.mark.parametrize("bad, message", [
    (dict(d_model=0), "d_model"),
    (dict(d_mlp=None), "attn_only"),
    (dict(normalization="batchnorm"), "normalization"),
    (dict(act_fn="swish"), "act_fn"),
])
def test_config_validation_names_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**bad)


def test_config_round_trips_through_dict():
    cfg = tiny_config(attn_only=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "n_expert": 4})
