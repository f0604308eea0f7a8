"""Grokking modular addition: the data, the fast path, training, the Fourier tools, the chapter's
exercises, and the shipped run `modadd` held to what its card claims."""

import math

import pytest
import torch

from course import modadd
from solutions import ch08_grokking as sol

P = modadd.P


# -- data and model --------------------------------------------------------------------------------

def test_dataset_covers_every_pair_and_splits_30_percent():
    data = modadd.make_data()
    assert data.tokens.shape == (P * P, 3) and data.labels.shape == (P * P,)
    assert (data.tokens[:, 2] == P).all()  # '=' is token p
    a, b = data.tokens[:, 0], data.tokens[:, 1]
    assert torch.equal(a * P + b, torch.arange(P * P))  # row a*p + b
    assert torch.equal(data.labels, (a + b) % P)
    assert len(data.train) == round(0.3 * P * P) == 3831 and len(data.test) == P * P - 3831
    assert len(set(data.train.tolist()) | set(data.test.tolist())) == P * P


def test_split_is_seeded():
    assert torch.equal(modadd.make_data(seed=0).train, modadd.make_data(seed=0).train)
    assert not torch.equal(modadd.make_data(seed=0).train, modadd.make_data(seed=1).train)


@pytest.mark.parametrize("p", [P, modadd.LIVE.p])
@pytest.mark.parametrize("forward", [modadd.last_logits, modadd.table_logits], ids=lambda f: f.__name__)
def test_fast_paths_equal_the_hooked_model(forward, p):
    model = modadd.make_model(p, seed=3)
    with torch.no_grad():
        for param in model.parameters():  # biases too, so every term of the fast path is exercised
            param.add_(0.1 * torch.randn(param.shape, generator=torch.Generator().manual_seed(param.numel())))
    data = modadd.make_data(p)
    tokens = torch.cat([data.tokens[:300], torch.randint(0, p + 1, (50, 3))])  # also arbitrary sequences
    with torch.no_grad():
        torch.testing.assert_close(forward(model, tokens), model(tokens)[:, -1], atol=1e-5, rtol=1e-5)


def test_short_training_lowers_the_loss_and_reports_every_step():
    data = modadd.make_data()
    model = modadd.make_model(seed=0)
    cfg = modadd.GrokConfig(**{**modadd.FAST.to_dict(), "steps": 24, "log_every": 8})
    seen = []
    history = modadd.train(model, data, cfg, on_step=lambda step, m: seen.append((step, m)) and False)
    assert [s for s, _ in seen] == list(range(1, 25))
    assert history["step"] == [8, 16, 24]
    assert {"test_loss", "test_acc", "weight_norm"} <= set(seen[7][1]) and set(seen[0][1]) == {"train_loss"}
    assert history["train_loss"][-1] < seen[0][1]["train_loss"] - 0.1


def test_on_step_can_stop_training():
    data = modadd.make_data()
    history = modadd.train(modadd.make_model(), data, modadd.GrokConfig(steps=100, log_every=10),
                           on_step=lambda step, m: step == 7)
    assert history["step"][-1] == 7 and len(history["step"]) == 1


# -- the live recipe -------------------------------------------------------------------------------

def live_run(steps: int, log_every: int, **overrides):
    """A short run of the live recipe: (model, data, cfg)."""
    cfg = modadd.GrokConfig(**{**modadd.LIVE.to_dict(), "steps": steps, "log_every": log_every, **overrides})
    return modadd.make_model(cfg.p, cfg.seed), modadd.make_data(cfg.p, cfg.frac_train, cfg.data_seed), cfg


def test_grokfast_adds_the_gradient_average():
    param = torch.nn.Parameter(torch.zeros(2))
    grokfast = modadd.GrokfastEMA([param], alpha=0.5, lamb=2.0)
    param.grad = torch.tensor([1.0, 2.0])
    grokfast()  # the average starts at the first gradient: g + 2 g
    assert torch.equal(param.grad, torch.tensor([3.0, 6.0]))
    param.grad = torch.tensor([3.0, -1.0])
    grokfast()  # ema = 0.5 [1, 2] + 0.5 [3, -1] = [2, 0.5]; g + 2 ema
    assert torch.equal(grokfast.ema[0], torch.tensor([2.0, 0.5]))
    assert torch.equal(param.grad, torch.tensor([7.0, 0.0]))


@pytest.mark.parametrize("before", [False, True])
def test_flush_denormal_holds_while_training_and_is_restored(before):
    model, data, cfg = live_run(steps=3, log_every=2)
    seen = []
    torch.set_flush_denormal(before)
    try:
        modadd.train(model, data, cfg, on_step=lambda step, m: seen.append(modadd._flushing_denormals()))
        assert seen == [True] * 3 and modadd._flushing_denormals() == before

        def fail(step, metrics):
            raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            modadd.train(model, data, cfg, on_step=fail)
        assert modadd._flushing_denormals() == before
    finally:
        torch.set_flush_denormal(False)


def test_live_run_logs_the_progress_measures():
    model, data, cfg = live_run(steps=4, log_every=2)
    logged = []
    history = modadd.train(model, data, cfg, on_step=lambda step, m: "test_acc" in m and logged.append(m))
    assert history["step"] == [2, 4] and len(logged) == 2
    for key in ("restricted_loss", "excluded_loss", "key_fraction", "key_frequencies"):
        assert key in logged[0] and len(history[key]) == 2
    assert all(0 < f < 1 for f in history["key_fraction"]) and len(history["key_frequencies"][-1]) == 5
    # the logged numbers are live_measures of the model as it stands (float32 evaluation, either forward)
    now = modadd.live_measures(model, data)
    assert history["key_frequencies"][-1] == now["key_frequencies"]
    for key in ("restricted_loss", "excluded_loss", "key_fraction"):
        assert history[key][-1] == pytest.approx(now[key], rel=1e-4)
    assert set(modadd.evaluate(model, data)) == {"train_loss", "test_loss", "train_acc", "test_acc", "weight_norm"}


@pytest.mark.slow
def test_live_recipe_groks_a_smaller_problem():
    # p = 59 with 60% of the pairs: seeds 0-3 grokked at steps 360-770 (LIVE itself takes 950-2,650)
    model, data, cfg = live_run(steps=1500, log_every=50, p=59, frac_train=0.6)
    history = modadd.train(model, data, cfg, stop_at_test_acc=0.99)
    phases = modadd.phase_boundaries(history)
    assert history["grokked_step"] is not None and phases["memorised"] <= phases["grokked"]
    # by then the key frequencies carry the embedding, and the fit to the training pairs: without
    # them the loss is worse than chance (ln p), with them alone far better
    assert history["key_fraction"][-1] > 2 * history["key_fraction"][0]
    assert history["restricted_loss"][-1] < math.log(cfg.p) < history["excluded_loss"][-1]


# -- Fourier tools ---------------------------------------------------------------------------------

def test_fourier_basis_is_orthonormal():
    basis = modadd.fourier_basis(P)
    torch.testing.assert_close(basis @ basis.T, torch.eye(P), atol=1e-5, rtol=0)


def test_a_pure_cosine_embedding_is_all_in_its_frequency():
    x = torch.arange(P, dtype=torch.float32)
    direction = torch.randn(128, generator=torch.Generator().manual_seed(0))
    W_E = torch.cos(2 * math.pi * 17 * x / P + 0.3)[:, None] * direction  # [p d_model]
    W_E = torch.cat([W_E, torch.randn(1, 128)])  # the '=' row is ignored
    assert modadd.key_frequencies(W_E, 1) == [17]
    assert modadd.top_frequency_fraction(W_E, 1) > 0.999


def test_random_embedding_spreads_its_norm():
    W_E = torch.randn(P + 1, 128, generator=torch.Generator().manual_seed(0))
    assert modadd.top_frequency_fraction(W_E, 5) < 0.15  # about 5 / 56


def test_trig_readout_explains_a_fourier_circuit():
    a = torch.arange(P).repeat_interleave(P)[:, None]
    b = torch.arange(P).repeat(P)[:, None]
    c = torch.arange(P)[None, :]
    logits = sum(w * torch.cos(2 * math.pi * k * (a + b - c) / P) for w, k in [(3.0, 14), (2.0, 41)])
    assert modadd.trig_readout_fraction(logits, [14, 41]) > 0.999
    assert modadd.trig_readout_fraction(logits, [14]) == pytest.approx(9 / 13, abs=1e-3)
    labels = (a + b).squeeze(1) % P
    train = modadd.make_data().train
    assert modadd.restricted_loss(logits, labels, [14, 41]) == pytest.approx(
        torch.nn.functional.cross_entropy(logits.double(), labels).item(), rel=1e-4)
    assert modadd.excluded_loss(logits, labels, [14, 41], train) == pytest.approx(math.log(P), rel=1e-4)


def test_phase_rules_on_a_synthetic_series():
    series = {"step": [100, 200, 300, 400, 500, 600, 700],
              "train_acc": [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
              "test_acc": [0.0, 0.01, 0.02, 0.3, 0.7, 1.0, 1.0],
              "weight_norm": [50, 60, 58, 50, 40, 31, 30.5],
              "restricted_loss": [5, 5, 4, 2, 1, 0.1, 0.05],
              "excluded_loss": [1, 0.1, 1, 3, 5, 8, 9]}
    assert modadd.phase_boundaries(series) == {"memorised": 200, "circuit": 400, "cleanup": 500, "grokked": 600,
                                               "clean": 600}


# -- the chapter's exercises -----------------------------------------------------------------------

@pytest.mark.parametrize("exercise", sol.EXERCISES, ids=lambda ex: ex.name)
def test_exercise_reference_passes_and_each_mistake_is_named(exercise):
    assert exercise.run(exercise.reference).passed
    for mistake in exercise.mistakes:
        result = exercise.run(mistake.fn)
        assert not result.passed and result.mistake == mistake.name, (mistake.name, result.message)


def test_solutions_agree_with_the_package():
    torch.testing.assert_close(sol.fourier_basis(P), modadd.fourier_basis(P))
    logits = torch.randn(P * P, P, generator=torch.Generator().manual_seed(0))
    data = modadd.make_data()
    assert sol.restricted_loss(logits, data.labels, [3, 9]) == pytest.approx(
        modadd.restricted_loss(logits, data.labels, [3, 9]), rel=1e-5)
    assert sol.excluded_loss(logits, data.labels, [3, 9], data.train) == pytest.approx(
        modadd.excluded_loss(logits, data.labels, [3, 9], data.train), rel=1e-5)


# -- the shipped run -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return modadd.load(), modadd.card(), modadd.make_data(seed=modadd.card()["data"]["seed"])


def test_shipped_run_has_grokked(shipped):
    model, card, data = shipped
    metrics = modadd.evaluate(model, data)
    assert metrics["test_acc"] > 0.99 and metrics["train_acc"] == 1.0
    assert metrics["test_acc"] == pytest.approx(card["metrics"]["test_acc"], abs=1e-6)


def test_shipped_run_key_frequencies(shipped):
    model, card, data = shipped
    freqs = card["metrics"]["key_frequencies"]
    assert modadd.key_frequencies(model.W_E, len(freqs)) == freqs
    assert sol.key_frequencies(model.W_E[:P].detach(), len(freqs)) == freqs
    assert modadd.top_frequency_fraction(model.W_E, 5) > 0.5
    logits = modadd.all_logits(model, data)
    assert modadd.trig_readout_fraction(logits, freqs) == pytest.approx(card["metrics"]["trig_fraction"], abs=1e-4)
    # The Fourier circuit alone does the task; without it the training data is no longer fit.
    restricted = modadd.restricted_loss(logits, data.labels, freqs)
    excluded = modadd.excluded_loss(logits, data.labels, freqs, data.train)
    assert restricted < 1.0 < 5.0 < excluded
    assert restricted == pytest.approx(card["metrics"]["restricted_loss"], rel=1e-4)
    assert excluded == pytest.approx(card["metrics"]["excluded_loss"], rel=1e-4)


def test_shipped_neurons_read_one_key_frequency_each(shipped):
    """Chapter 08's neuron analysis: almost every MLP neuron's strongest frequency is a key frequency,
    and it explains most of that neuron's variance; a frequency's shares add up to at most 1."""
    model, card, data = shipped
    _, cache = model.run_with_cache(data.tokens, names_filter="blocks.0.mlp.hook_post")
    shares = sol.neuron_frequency_shares(cache["blocks.0.mlp.hook_post"][:, -1], P)
    assert shares.shape == (model.cfg.d_mlp, P // 2)
    assert (shares >= -1e-6).all() and (shares.sum(-1) <= 1 + 1e-4).all()
    best = shares.argmax(-1) + 1
    assert torch.isin(best, torch.tensor(card["metrics"]["key_frequencies"])).float().mean() > 0.95
    assert shares.max(-1).values.median() > 0.85


def test_shipped_restricted_loss_falls_with_setbacks_and_weight_norm_range(shipped):
    """Chapter 08's prose: the restricted loss falls from memorisation to the circuit phase, but not
    steadily (1.55 at step 3000, 2.27 at 3500); the weight norm stays within 49.9-61.8 in between."""
    _, card, _ = shipped
    pm, ev, phases = card["progress_measures"], card["evals_during_training"], card["phases"]
    r = dict(zip(pm["step"], pm["restricted_loss"]))
    assert r[3500] > r[3000] + 0.5 and r[phases["circuit"]] < r[phases["memorised"]] - 2
    middle = [w for s, w in zip(ev["step"], ev["weight_norm"]) if phases["memorised"] <= s < phases["cleanup"]]
    assert min(middle) == pytest.approx(49.9, abs=0.06) and max(middle) == pytest.approx(61.8, abs=0.06)


def test_shipped_phases_follow_from_the_series(shipped):
    _, card, _ = shipped
    ev, pm = card["evals_during_training"], card["progress_measures"]
    rows = {s: i for i, s in enumerate(ev["step"])}
    series = {k: [] for k in ("step", "train_acc", "test_acc", "weight_norm", "restricted_loss", "excluded_loss")}
    for i, step in enumerate(pm["step"]):
        if step in rows:
            series["step"].append(step)
            for k in ("train_acc", "test_acc", "weight_norm"):
                series[k].append(ev[k][rows[step]])
            for k in ("restricted_loss", "excluded_loss"):
                series[k].append(pm[k][i])
    phases = modadd.phase_boundaries(series)
    assert phases == card["phases"]
    assert None not in phases.values()
    assert phases["memorised"] < phases["circuit"] <= phases["cleanup"] <= phases["grokked"] <= phases["clean"]


def test_shipped_series_matches_its_card(shipped):
    _, card, data = shipped
    series = modadd.load_series()
    entries = {e["step"]: e for e in card["series"]["checkpoints"]}
    assert sorted(series) == sorted(entries) and 0 in series
    freqs = card["metrics"]["key_frequencies"]
    phases = card["phases"]
    for step in (phases["memorised"], phases["clean"]):
        assert step in series
        logits = modadd.all_logits(series[step], data)
        assert modadd.restricted_loss(logits, data.labels, freqs) == pytest.approx(
            entries[step]["restricted_loss"], rel=1e-3)
        assert modadd.evaluate(series[step], data)["test_acc"] == pytest.approx(entries[step]["test_acc"], abs=1e-6)
    # memorised: train fit, test not; clean: both
    assert entries[phases["memorised"]]["train_acc"] >= 0.99 > 0.5 > entries[phases["memorised"]]["test_acc"]
    assert entries[phases["clean"]]["test_acc"] > 0.99


@pytest.mark.slow
def test_ch08_worked_neurons_over_training():
    rows = sol.worked_neurons_over_training()
    assert rows[max(rows)]["on key frequency"] > 0.95 and rows[0]["on key frequency"] < 0.5
