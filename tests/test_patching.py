import pytest
import torch

from course import attribution, metrics, patching


@pytest.fixture
def pair(tiny_model):
    g = torch.Generator().manual_seed(3)
    clean = torch.randint(0, 50, (4, 8), generator=g)
    corrupted = clean.clone()
    corrupted[:, 2] = (corrupted[:, 2] + 7) % 50  # one position differs, as in IOI's name swap
    answer, wrong = torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8])
    with torch.no_grad():
        clean_value = metrics.logit_diff(tiny_model(clean), answer, wrong).item()
        corrupted_value = metrics.logit_diff(tiny_model(corrupted), answer, wrong).item()
    metric = patching.normalised(lambda logits: metrics.logit_diff(logits, answer, wrong), clean_value, corrupted_value)
    return clean, corrupted, metric


def test_patching_the_whole_stream_at_the_changed_position_restores_everything(tiny_model, pair):
    clean, corrupted, metric = pair
    scores = patching.patch_resid_by_layer_and_pos(tiny_model, clean, corrupted, metric)
    assert scores.shape == (2, 8)
    # before block 0 only position 2 differs: patching it there restores the clean run exactly
    assert scores[0, 2].item() == pytest.approx(1.0, abs=1e-4)
    # positions before the change carry nothing (causal attention: they are identical in both runs)
    assert scores[:, :2].abs().max().item() < 1e-4


def test_patching_every_head_and_mlp_restores_the_last_layer(tiny_model, pair):
    clean, corrupted, metric = pair
    layers = patching.patch_layer_outputs(tiny_model, clean, corrupted, metric)
    assert set(layers) == {"attn_out", "mlp_out"} and layers["attn_out"].shape == (2,)
    heads = patching.patch_heads(tiny_model, clean, corrupted, metric)
    assert heads.shape == (2, 4) and torch.isfinite(heads).all()


def test_path_patching_with_every_head_as_sender_at_the_logits(tiny_model, pair):
    clean, corrupted, metric = pair
    every = [(l, h) for l in range(2) for h in range(4)]
    # Sending every head's corrupted output to the logits, but recomputing MLPs on the clean run,
    # is no longer equal to the corrupted run; sending none leaves the clean run untouched.
    assert patching.path_patch(tiny_model, clean, corrupted, [], metric).item() == pytest.approx(1.0, abs=1e-4)
    one = patching.path_patch_all_senders(tiny_model, clean, corrupted, metric)
    assert one.shape == (2, 4) and torch.isfinite(one).all()
    to_q = patching.path_patch_all_senders(tiny_model, clean, corrupted, metric, receivers=[(1, 0, "q")])
    assert torch.isnan(to_q[1]).all() and torch.isfinite(to_q[0]).all()
    assert patching.path_patch(tiny_model, clean, corrupted, every, metric).item() != pytest.approx(1.0, abs=1e-3)


def test_normalised_refuses_a_metric_with_nothing_to_restore():
    with pytest.raises(ValueError, match="nothing to restore"):
        patching.normalised(lambda x: x, 1.0, 1.0)


def test_head_attributions_add_up_to_attention_layers(tiny_model, tokens):
    _, cache = tiny_model.run_with_cache(tokens)
    answer, wrong = tokens[:, -1], (tokens[:, -1] + 1) % 50
    by_head = attribution.dla_by_head(tiny_model, cache, answer, wrong)
    by_component, labels = attribution.dla_by_component(tiny_model, cache, answer, wrong)
    assert by_head.shape == (2, 4)
    # a layer's heads plus its bias b_O (a constant) make up that attention layer's attribution
    b_O = torch.stack([tiny_model.blocks[l].attn.b_O for l in range(2)])[:, None, None].expand(2, *tokens.shape, 32)
    bias_part = attribution.attribute(b_O.detach(), cache, attribution.logit_diff_direction(tiny_model, answer, wrong))
    attn = by_component[[labels.index("0_attn_out"), labels.index("1_attn_out")]]
    torch.testing.assert_close(by_head.sum(1) + bias_part, attn, atol=1e-4, rtol=1e-4)


def test_component_attributions_add_up_to_the_logit_difference(tiny_model, tokens):
    logits, cache = tiny_model.run_with_cache(tokens)
    answer, wrong = tokens[:, -1], (tokens[:, -1] + 1) % 50
    by_component, _ = attribution.dla_by_component(tiny_model, cache, answer, wrong)
    const = (tiny_model.ln_final.b @ (tiny_model.W_U[:, answer] - tiny_model.W_U[:, wrong])).mean()
    const = const + (tiny_model.b_U[answer] - tiny_model.b_U[wrong]).mean()
    expected = metrics.logit_diff(logits, answer, wrong)
    torch.testing.assert_close(by_component.sum() + const, expected, atol=1e-4, rtol=1e-4)
