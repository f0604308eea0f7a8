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
def test_shipped_model_has_none_of_gpt2s_classes(circuit):
    # chapter 05, section 4: no head passes any of find_circuit's bars; the near misses look at
    # names in general, not at the repeated one.
    assert circuit.clean_logit_diff > 8
    assert circuit.name_movers == [] and circuit.negative_name_movers == [] and circuit.s_inhibition == []
    assert circuit.duplicate_token == [] and circuit.induction == []
    assert torch.isnan(circuit.s_inhibition_scores).all()  # no name mover: no queries to path patch
    table = circuit.attention
    assert 0.2 < table["END->IO"][3, 0] < 0.3 and abs(table["END->IO"][3, 0] - table["END->S2"][3, 0]) < 0.05
    for lh in [(1, 0), (1, 1)]:
        assert 0.2 < table["S2->S1"][lh] < 0.3


@shipped
def test_two_layer3_heads_read_the_subject_and_write_against_it(circuit):
    from course import attribution, patching

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    with torch.no_grad():
        clean = metrics.logit_diff(model(batch.clean), batch.io, batch.s).item()
        corrupted = metrics.logit_diff(model(batch.corrupted), batch.io, batch.s).item()
    metric = patching.normalised(lambda lg: metrics.logit_diff(lg, batch.io, batch.s), clean, corrupted)
    heads = patching.patch_heads(model, batch.clean, batch.corrupted, metric)
    assert divmod(int(heads.argmax()), model.cfg.n_heads) == (3, 1) and 0.65 < heads[3, 1] < 0.75
    others = heads.clone()
    others[3, 1] = 0
    assert divmod(int(others.argmax()), model.cfg.n_heads) == (3, 3) and 0.2 < heads[3, 3] < 0.3
    _, cache = model.run_with_cache(batch.clean)
    dla = attribution.dla_by_head(model, cache, batch.io, batch.s)
    assert divmod(int(dla.argmax()), model.cfg.n_heads) == (3, 1) and 0.3 < dla[3, 1] / clean < 0.4
    assert dla[3, 3] > 0.1 * clean and dla.min() > -0.02 * clean
    components, labels = attribution.dla_by_component(model, cache, batch.io, batch.s)
    share = dict(zip(labels, components.tolist()))
    assert all(0.45 < share[k] / clean < 0.55 for k in ("3_attn_out", "3_mlp_out"))  # half each
    # they look at the subject, not at IO: copy suppression
    assert circuit.attention["END->S2"][3, 1] > 0.9 and circuit.attention["END->S2"][3, 3] > 0.8
    assert max(circuit.attention["END->IO"][3, 1], circuit.attention["END->IO"][3, 3]) < 0.01
    grid = patching.patch_resid_by_layer_and_pos(model, batch.clean, batch.corrupted, metric)
    s2 = int(batch.positions["S2"][0])
    assert (grid[:, s2] > 0.95).all() and grid[:, -1].abs().max() < 0.05  # the information waits at S2
    by_layer = patching.patch_layer_outputs(model, batch.clean, batch.corrupted, metric)
    assert by_layer["attn_out"][3] > 0.95  # until layer 3's attention moves it to END


# -- chapter 05's exercises: each reference is the library's method ------------------------------------

@pytest.fixture(scope="module")
def random_pair(random_model):
    batch = ioi.ioi_batch(random_model, n=6)
    clean_ld = metrics.logit_diff(random_model(batch.clean), batch.io, batch.s).item()
    corrupted_ld = metrics.logit_diff(random_model(batch.corrupted), batch.io, batch.s).item()
    return batch, lambda lg: metrics.logit_diff(lg, batch.io, batch.s), clean_ld, corrupted_ld


def test_dla_reference_is_the_library(random_model, random_pair):
    from course import attribution
    from solutions import ch05_ioi as sol

    batch = random_pair[0]
    _, cache = random_model.run_with_cache(batch.clean)
    library, labels = attribution.dla_by_component(random_model, cache, batch.io, batch.s)
    torch.testing.assert_close(sol.dla_by_component(random_model, cache, batch.io, batch.s), library)
    assert len(labels) == 2 + 2 * random_model.cfg.n_layers


def test_activation_patching_reference_is_the_library(random_model, random_pair):
    from course import patching
    from solutions import ch05_ioi as sol

    batch, metric, clean_ld, corrupted_ld = random_pair
    mine = sol.restored_fraction(sol.activation_patching_grid(random_model, batch.clean, batch.corrupted, metric),
                                 clean_ld, corrupted_ld)
    library = patching.patch_resid_by_layer_and_pos(random_model, batch.clean, batch.corrupted,
                                                    patching.normalised(metric, clean_ld, corrupted_ld))
    torch.testing.assert_close(mine, library, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["q", "k", "v"])
def test_path_patching_reference_is_the_library(random_model, random_pair, kind):
    from course import patching
    from solutions import ch05_ioi as sol

    batch, metric = random_pair[:2]
    for sender in [(0, 0), (0, 1)]:
        mine = sol.path_patch_head(random_model, batch.clean, batch.abc, sender, (1, 1, kind), metric)
        library = patching.path_patch(random_model, batch.clean, batch.abc, [sender], metric, [(1, 1, kind)])
        torch.testing.assert_close(mine, library)


@shipped
def test_shipped_copy_suppression_head_reads_the_subject_slot_not_the_repetition():
    # chapter 05, section 5: L3H1 looks at S2 whether or not the name there repeats (ABC); no head
    # of layers 0-2 changes its queries or keys by 0.5% of the logit difference, and the largest
    # path to its values (from L2H0) is 3-5% of it.
    from solutions import ch05_ioi as sol

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    metric = lambda lg: metrics.logit_diff(lg, batch.io, batch.s)  # noqa: E731
    with torch.no_grad():
        clean = metric(model(batch.clean)).item()
    rows = torch.arange(len(batch.items))
    for tokens in (batch.clean, batch.abc, batch.corrupted):
        _, cache = model.run_with_cache(tokens, names_filter="blocks.3.attn.hook_pattern")
        assert cache["pattern", 3][rows, 1, -1, batch.positions["S2"]].mean() > 0.9
    drops = {}
    for kind in "qkv":
        drops[kind] = torch.tensor([[clean - sol.path_patch_head(model, batch.clean, batch.abc, (layer, head),
                                                                 (3, 1, kind), metric).item()
                                     for head in range(model.cfg.n_heads)] for layer in range(3)])
    assert max(drops[kind].abs().max() for kind in "qk") < 0.005 * clean
    assert divmod(int(drops["v"].abs().argmax()), model.cfg.n_heads) == (2, 0)
    assert 0.03 * clean < drops["v"].abs().max() < 0.05 * clean


@shipped
def test_shipped_worked_answers_of_chapter_05():
    from solutions import ch05_ioi as sol

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    frames = sol.worked_held_out_frames(model)
    assert len(frames) >= 3
    # the worst structure is the one where L3H1 finds S2 least; the two best have both heads on S2
    assert frames[0]["L3H1 END->S2"] < 0.6 < min(r["L3H1 END->S2"] for r in frames[1:])
    assert min(r["L3H3 END->S2"] for r in frames[-2:]) > 0.7 > max(r["L3H3 END->S2"] for r in frames[:-2])
    shares = sol.worked_mlp_shares(model, batch)
    mlp3 = shares["3_mlp_out"]
    assert mlp3["clean"] > 0.45 * sum(v["clean"] for v in shares.values())
    assert abs(mlp3["L3H1 and L3H3 from ABC"]) < 0.1 * mlp3["clean"]
    ablated = sol.worked_early_heads(model, batch)
    assert ablated["all heads of layers 0-2 ablated"] > 0.9 * ablated["clean"]
    assert ablated["L3H1 ablated"] < 0.5 * ablated["clean"]
    assert ablated["L3H1 and L3H3 ablated"] < 0.1 * ablated["clean"]
