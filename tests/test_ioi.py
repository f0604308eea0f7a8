"""IOI batches and the circuit finder: mechanics on a random model, findings on the shipped one."""

import pytest
import torch

from course import ioi, metrics, zoo
from course.config import ModelConfig
from course.model import HookedTransformer
from course.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def random_model():
    tok = Tokenizer.load()
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64, d_vocab=tok.vocab_size, n_ctx=64)
    return HookedTransformer(cfg, tokenizer=tok).eval()


def test_batch_positions_point_at_the_names(random_model):
    batch = ioi.ioi_batch(random_model, n=20)
    rows = torch.arange(len(batch.items))
    assert (batch.clean[rows, batch.positions["IO"]] == batch.io).all()
    assert (batch.clean[rows, batch.positions["S1"]] == batch.s).all()
    assert (batch.clean[rows, batch.positions["S2"]] == batch.s).all()
    assert (batch.positions["S1"] < batch.positions["S2"]).all()
    assert (batch.positions["END"] == batch.clean.shape[1] - 1).all()
    # the corrupted and ABC prompts differ from the clean ones at S2 only
    for other in (batch.corrupted, batch.abc):
        differs = (other != batch.clean)
        assert differs.sum(1).eq(1).all()
        assert (differs.float().argmax(1) == batch.positions["S2"]).all()
    assert (batch.corrupted[rows, batch.positions["S2"]] == batch.io).all()


def test_find_circuit_runs_and_reports_every_class(random_model):
    circuit = ioi.find_circuit(random_model, ioi.ioi_batch(random_model, n=10))
    assert circuit.dla.shape == (2, 2)
    assert set(circuit.attention) == {"END->IO", "END->S2", "S2->S1", "S2->S1+1"}
    for heads in (circuit.name_movers, circuit.negative_name_movers, circuit.duplicate_token, circuit.induction):
        assert all(0 <= l < 2 and 0 <= h < 2 for l, h in heads)


shipped = pytest.mark.skipif(not zoo.weights_path("tinyworld").exists(), reason="tinyworld not built")


@pytest.fixture(scope="module")
def circuit():
    model = zoo.load("tinyworld")
    return ioi.find_circuit(model, ioi.ioi_batch(model, n=60, seed=0))


@shipped
def test_shipped_model_has_name_movers_and_a_negative_name_mover(circuit):
    assert circuit.clean_logit_diff > 10
    assert circuit.name_movers == [(2, 1), (2, 2)]
    assert circuit.negative_name_movers == [(2, 3)]
    # the name movers look at IO from END, and are also induction-style heads at S2
    for lh in circuit.name_movers:
        assert circuit.attention["END->IO"][lh] > 0.5 and circuit.attention["S2->S1+1"][lh] > 0.3


@shipped
def test_shipped_model_has_no_s_inhibition_through_queries(circuit):
    # Unlike GPT-2 small: no earlier head moves the name movers' queries (chapter 05 says so).
    assert circuit.s_inhibition == []
    assert torch.nan_to_num(circuit.s_inhibition_scores, nan=0.0).abs().max() < 0.05
    assert circuit.duplicate_token == [(3, 0)]


@shipped
def test_one_layer_zero_head_moves_the_subject_to_end():
    from course import patching

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    with torch.no_grad():
        clean = metrics.logit_diff(model(batch.clean), batch.io, batch.s).item()
        corrupted = metrics.logit_diff(model(batch.corrupted), batch.io, batch.s).item()
    metric = patching.normalised(lambda lg: metrics.logit_diff(lg, batch.io, batch.s), clean, corrupted)
    heads = patching.patch_heads(model, batch.clean, batch.corrupted, metric)
    assert heads[0, 3] > 0.9  # L0H3 restores the logit difference almost alone ...
    others = heads.clone()
    others[0, 3] = 0
    assert others.abs().max() < 0.05  # ... and no other head restores more than 5%
    grid = patching.patch_resid_by_layer_and_pos(model, batch.clean, batch.corrupted, metric)
    s2 = int(batch.positions["S2"][0])
    assert grid[0, s2] > 0.99 and (grid[1:, -1] > 0.95).all()  # the information is at END from layer 1 on
