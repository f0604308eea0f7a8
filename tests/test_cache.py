import torch


def test_short_names(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    assert cache["pattern", 1] is cache["blocks.1.attn.hook_pattern"]
    assert cache["embed"] is cache["hook_embed"]


def test_accumulated_resid_ends_with_the_final_stream(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    acc = cache.accumulated_resid()
    assert acc.shape == (3, 3, 10, 32)  # before block 0, before block 1, after block 1
    torch.testing.assert_close(acc[-1], cache["blocks.1.hook_resid_post"])
    assert cache.accumulated_resid_labels() == ["0_pre", "1_pre", "final_post"]
    assert cache.accumulated_resid(incl_mid=True).shape[0] == 5


def test_decomposed_resid_adds_up_to_the_stream(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    parts, labels = cache.decompose_resid()
    assert labels == ["embed", "pos_embed", "0_attn_out", "0_mlp_out", "1_attn_out", "1_mlp_out"]
    torch.testing.assert_close(parts.sum(0), cache["blocks.1.hook_resid_post"])


def test_head_results_add_up_to_attention_output(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    heads, labels = cache.stack_head_results()
    assert labels[:5] == ["L0H0", "L0H1", "L0H2", "L0H3", "L1H0"]
    torch.testing.assert_close(heads[4:].sum(0) + tiny_model.blocks[1].attn.b_O, cache["blocks.1.hook_attn_out"],
                               atol=1e-5, rtol=1e-5)


def test_direct_logit_attribution_adds_up_to_the_logits(tiny_model, tokens):
    logits, cache = tiny_model.run_with_cache(tokens)
    parts, _ = cache.decompose_resid()
    scaled = cache.apply_ln_to_stack(parts)
    answer = tokens[:, -1]
    attrs = cache.logit_attrs(scaled, answer)  # [component batch]
    constant = tiny_model.ln_final.b @ tiny_model.W_U[:, answer] + tiny_model.b_U[answer]
    expected = logits[torch.arange(3), -1, answer]
    torch.testing.assert_close(attrs.sum(0) + constant, expected, atol=1e-4, rtol=1e-4)


def test_cache_size_counts_shared_storage_once(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    listed = sum(t.numel() * t.element_size() for t in cache.values())
    assert 0 < cache.n_bytes <= listed
