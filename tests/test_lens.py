"""course.lens.logit_lens: the real final LayerNorm on each layer's stream, so its last row is the
model's own logits on every shipped model, unlike the linear map of direct logit attribution."""

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import tiny_config
from course import lens, modadd, zoo
from course.model import HookedTransformer

PROMPT = "When Mary and John went to the store, John gave a drink to"


def shipped(name: str):
    """A shipped model and a few inputs for it."""
    if name == "modadd":
        return modadd.load(), modadd.make_data().tokens[:64]
    model = zoo.load(name)
    return model, model.to_tokens(PROMPT)


@pytest.mark.parametrize("name", ["tinyworld", "attn-only-2l", "modadd"])
def test_last_row_is_the_models_logits(name):
    model, tokens = shipped(name)
    with torch.no_grad():
        logits = model(tokens)
    rows = lens.logit_lens(model, tokens)
    assert rows.shape == (model.cfg.n_layers + 1, *logits.shape)
    torch.testing.assert_close(rows[-1], logits)
    assert torch.equal(rows[-1].argmax(-1), logits.argmax(-1))  # top-1 at every position


def test_each_row_is_the_real_layer_norm_of_its_stream():
    model, tokens = shipped("tinyworld")
    _, cache = model.run_with_cache(tokens)
    rows = lens.logit_lens(model, cache)
    torch.testing.assert_close(rows, lens.logit_lens(model, tokens), atol=1e-4, rtol=1e-4)  # two runs, float32 sums
    ln = model.ln_final
    for row, stream in zip(rows, cache.accumulated_resid()):
        expected = F.layer_norm(stream, stream.shape[-1:], ln.w, ln.b, ln.eps) @ model.W_U + model.b_U
        torch.testing.assert_close(row, expected.detach(), atol=1e-4, rtol=1e-4)
    # the linear map of direct logit attribution (final-stream scale, no bias) is not a lens:
    linear = cache.accumulated_resid(apply_ln=True)[-1] @ model.W_U + model.b_U
    assert (linear - rows[-1]).abs().max() > 0.1


def test_a_model_without_layer_norm():
    torch.manual_seed(0)
    model = HookedTransformer(tiny_config(normalization=None)).eval()
    tokens = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(0))
    rows = lens.logit_lens(model, tokens)
    torch.testing.assert_close(rows[-1], model(tokens).detach())
    _, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(rows[0], (cache["blocks.0.hook_resid_pre"] @ model.W_U + model.b_U).detach())
