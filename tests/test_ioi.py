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
def test_shipped_classifier_names_three_positional_heads_and_no_real_class(circuit):
    # chapter 05, section 4: find_circuit's rules pass L3H2 (name mover), L1H3 and L2H1 (induction),
    # but L3H2 looks at the first name of the opening and L1H3 at the token after it, IO or S1 alike;
    # L2H1 prefers the token after S1 in ABBA prompts only. No S-inhibition, duplicate-token or
    # negative name mover.
    assert circuit.clean_logit_diff > 8
    assert circuit.name_movers == [(3, 2)] and circuit.induction == [(1, 3), (2, 1)]
    assert circuit.negative_name_movers == [] and circuit.s_inhibition == [] and circuit.duplicate_token == []
    drops = circuit.s_inhibition_scores
    assert torch.isfinite(drops[:3]).all() and torch.isnan(drops[3:]).all()  # senders before L3H2 only
    assert drops[:3].abs().max() < 0.015 * circuit.clean_logit_diff  # nothing steers L3H2's queries
    table = circuit.attention
    assert table["END->S2"][3, 2] < 0.02
    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    _, cache = model.run_with_cache(batch.clean)
    end_s1 = ioi.attention_between(cache, batch, 3, "END", "S1")[2]
    assert 0.45 < table["END->IO"][3, 2] < 0.55 and abs(table["END->IO"][3, 2] - end_s1) < 0.05
    s2_io1 = ioi.attention_between(cache, batch, 1, "S2", "IO", offset=1)[3]
    assert 0.38 < table["S2->S1+1"][1, 3] < 0.42 and abs(table["S2->S1+1"][1, 3] - s2_io1) < 0.03
    # by order: the same position in ABBA and BABA prompts, whoever is there
    first = int(torch.minimum(batch.positions["IO"], batch.positions["S1"])[0])
    second = int(torch.maximum(batch.positions["IO"], batch.positions["S1"])[0])
    s2 = int(batch.positions["S2"][0])
    abba = batch.positions["IO"] < batch.positions["S1"]
    for rows in (abba, ~abba):
        assert rows.sum() >= 20
        assert cache["pattern", 3][rows, 2, -1, first].mean() > 0.9
        assert cache["pattern", 1][rows, 3, s2, first + 1].mean() > 0.7
    # L2H1: after the second name in ABBA (where that is S1), no preference in BABA
    after = lambda rows, pos: cache["pattern", 2][rows, 1, s2, pos + 1].mean()  # noqa: E731
    assert after(abba, second) > 3 * after(abba, first)
    assert abs(after(~abba, second) - after(~abba, first)) < 0.1


@shipped
def test_one_layer2_head_reads_the_subject_and_writes_against_it(circuit):
    from course import attribution, patching

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    with torch.no_grad():
        clean = metrics.logit_diff(model(batch.clean), batch.io, batch.s).item()
        corrupted = metrics.logit_diff(model(batch.corrupted), batch.io, batch.s).item()
    assert clean > 8 and corrupted < -8
    metric = patching.normalised(lambda lg: metrics.logit_diff(lg, batch.io, batch.s), clean, corrupted)
    heads = patching.patch_heads(model, batch.clean, batch.corrupted, metric)
    ranked = [divmod(i, model.cfg.n_heads) for i in heads.flatten().topk(2).indices.tolist()]
    assert ranked == [(2, 0), (1, 2)]
    assert 0.85 < heads[2, 0] < 0.95 and 0.05 < heads[1, 2] < 0.12
    _, cache = model.run_with_cache(batch.clean)
    dla = attribution.dla_by_head(model, cache, batch.io, batch.s)
    assert divmod(int(dla.argmax()), model.cfg.n_heads) == (2, 0) and 0.28 < dla[2, 0] / clean < 0.36
    assert 0.03 < dla[1, 2] / clean < 0.05 and 0.015 < dla[3, 2] / clean < 0.03
    rest = dla.clone()
    rest[2, 0] = rest[1, 2] = rest[3, 2] = 0
    assert rest.abs().max() < 0.02 * clean
    components, labels = attribution.dla_by_component(model, cache, batch.io, batch.s)
    share = dict(zip(labels, components.tolist()))
    assert 0.25 < share["2_attn_out"] / clean < 0.35 and 0.45 < share["3_mlp_out"] / clean < 0.55
    assert abs(share["3_attn_out"]) < 0.01 * clean
    # it looks at the subject, not at IO: copy suppression
    assert circuit.attention["END->S2"][2, 0] > 0.95 and circuit.attention["END->IO"][2, 0] < 0.01
    grid = patching.patch_resid_by_layer_and_pos(model, batch.clean, batch.corrupted, metric)
    s2 = int(batch.positions["S2"][0])
    assert (grid[:2, s2] > 0.95).all() and 0.85 < grid[2, s2] < 0.95  # the information waits at S2 ...
    assert grid[:2, -1].abs().max() < 0.05 and 0.05 < grid[2, -1] < 0.15  # ... a tenth reaches END in layer 1
    assert grid[3, -1] > 0.95 and abs(grid[3, s2]) < 0.05  # ... and the rest in layer 2
    by_layer = patching.patch_layer_outputs(model, batch.clean, batch.corrupted, metric)
    assert by_layer["attn_out"][2] > 0.85 and 0.05 < by_layer["attn_out"][1] < 0.12
    assert abs(by_layer["attn_out"][0]) < 0.05 and abs(by_layer["attn_out"][3]) < 0.05
    assert 0.2 < by_layer["mlp_out"][2] < 0.3 and 0.45 < by_layer["mlp_out"][3] < 0.6


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
    # chapter 05, section 5: L2H0 looks at S2 whether or not the name there repeats (ABC); no head
    # of layers 0-1 changes its queries or keys by 0.5% of the logit difference, nor its values by 3%.
    from solutions import ch05_ioi as sol

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    metric = lambda lg: metrics.logit_diff(lg, batch.io, batch.s)  # noqa: E731
    with torch.no_grad():
        clean = metric(model(batch.clean)).item()
    rows = torch.arange(len(batch.items))
    for tokens in (batch.clean, batch.abc, batch.corrupted):
        _, cache = model.run_with_cache(tokens, names_filter="blocks.2.attn.hook_pattern")
        assert cache["pattern", 2][rows, 0, -1, batch.positions["S2"]].mean() > 0.95
    drops = {}
    for kind in "qkv":
        drops[kind] = torch.tensor([[clean - sol.path_patch_head(model, batch.clean, batch.abc, (layer, head),
                                                                 (2, 0, kind), metric).item()
                                     for head in range(model.cfg.n_heads)] for layer in range(2)])
    assert max(drops[kind].abs().max() for kind in "qk") < 0.005 * clean
    assert 0.01 * clean < drops["v"].abs().max() < 0.03 * clean


@shipped
def test_shipped_worked_answers_of_chapter_05():
    from solutions import ch05_ioi as sol

    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=60, seed=0)
    frames = sol.worked_held_out_frames(model)
    assert len(frames) >= 4
    # the worst structure is where L2H0 finds S2 least (six tenths); elsewhere it finds it
    assert frames[0]["frame"].startswith("It rained") and frames[0]["L2H0 END->S2"] < 0.65
    assert min(r["L2H0 END->S2"] for r in frames[1:]) > 0.9
    # in the worst MLP 3 writes against IO, in the next almost nothing; where the model is always
    # right, more than L2H0
    assert frames[0]["MLP3 direct"] < 0 < frames[1]["MLP3 direct"] < 0.2 * frames[1]["L2H0 direct"]
    assert all(r["MLP3 direct"] > r["L2H0 direct"] and r["accuracy"] == 1.0 for r in frames[2:])
    shares = sol.worked_mlp_shares(model, batch)
    mlp3 = shares["3_mlp_out"]
    assert mlp3["clean"] > 0.45 * sum(v["clean"] for v in shares.values())
    assert abs(mlp3["L2H0 from ABC"]) < 0.1 * mlp3["clean"]
    ablated = sol.worked_early_heads(model, batch)
    clean = ablated["clean"]
    single = {f"L{layer}H{head}": ablated[f"L{layer}H{head} ablated"] for layer in range(4) for head in range(4)}
    others = {k: v for k, v in single.items() if k != "L2H0"}
    assert min(others, key=others.get) == "L3H2" and max(others["L2H2"], others["L1H2"]) < 0.9 * clean  # next most
    assert 0.75 * clean < others["L3H2"] < 0.85 * clean
    assert min(single["L1H3"], single["L2H1"]) > 0.95 * clean  # the rules' induction heads cost nothing
    assert 0.85 * clean < ablated["all heads of layers 0-1 ablated"] < 0.95 * clean
    assert single["L2H0"] < 0.15 * clean and ablated["L1H2 and L2H0 ablated"] < 0.05 * clean


def test_score_sentence_measures_one_sentence_and_refuses_names_the_model_lacks():
    tinyworld = zoo.load("tinyworld")
    prompt = "After the long hike, Emma and Jack sat by the fire. Jack poured some tea for"
    r = ioi.score_sentence(tinyworld, prompt, io="Emma", s="Jack")
    logits = tinyworld(tinyworld.to_tokens(prompt))[0, -1]
    emma, jack = tinyworld.tokenizer.encode(" Emma")[0], tinyworld.tokenizer.encode(" Jack")[0]
    assert r["logit_diff"] == pytest.approx((logits[emma] - logits[jack]).item())
    assert r["io_rank"] == int((logits > logits[emma]).sum())
    assert r["top"] == tinyworld.tokenizer.decode([logits.argmax().item()])
    swapped = ioi.score_sentence(tinyworld, prompt, io="Jack", s="Emma")
    assert swapped["logit_diff"] == pytest.approx(-r["logit_diff"])
    with pytest.raises(ValueError, match=r"io='Nora' is not one of TinyWorld's 64 names, so ' Nora' is 2 tokens"):
        ioi.score_sentence(tinyworld, "When Nora and Jack sat down, Jack gave a cup to", io="Nora", s="Jack")
    with pytest.raises(ValueError, match="s='Mary' does not occur in the prompt"):
        ioi.score_sentence(tinyworld, prompt, io="Emma", s="Mary")
    with pytest.raises(ValueError, match="two different people"):
        ioi.score_sentence(tinyworld, prompt, io="Emma", s="Emma")
