import subprocess
import sys

import pytest
import torch

from course.averaging import WeightAverage
from course.model import HookedTransformer
from course.train import TrainConfig, log_spaced_steps, lr_at, train
from tests.conftest import tiny_config


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_frac=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(99, cfg) == pytest.approx(0.1, abs=0.01)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))


def test_log_spaced_steps():
    steps = log_spaced_steps(3000, 20)
    assert steps[0] == 1 and steps[-1] == 3000 and steps == sorted(set(steps))
    ratios = [b / a for a, b in zip(steps[5:], steps[6:])]
    assert max(ratios) / min(ratios) < 1.2  # evenly spaced in log(step)


def counting_batches(seed):
    """Sequences that count up from a random start (mod 50): learnable in a few dozen steps."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        start = torch.randint(0, 50, (8, 1), generator=generator)
        yield (start + torch.arange(24)) % 50


def run(seed=0, steps=60, **kw):
    model = HookedTransformer(tiny_config())
    model.init_weights(seed=seed)
    history = train(model, counting_batches(seed), TrainConfig(steps=steps, warmup_steps=5, lr=3e-3, seed=seed), progress=False, **kw)
    return model, history


def test_training_reduces_loss_and_is_reproducible():
    model_a, a = run()
    model_b, b = run()
    assert a["loss"] == b["loss"]  # same seed, same data: the same run
    assert sum(a["loss"][-10:]) / 10 < a["loss"][0] - 0.3
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


def test_callbacks_evaluate_checkpoint_and_stop():
    seen = []
    _, history = run(steps=200, evaluate=lambda m: {"x": 1.0},
                     on_checkpoint=lambda step, m: seen.append(step),
                     on_step=lambda step, loss: step == 30)
    assert history["step"][-1] == 30  # stopped early when asked
    assert history["evals"] == []  # eval_every is 250
    assert seen == []  # n_checkpoints defaults to 0


def test_zoo_training_command_smoke(tmp_path):
    """The reproduce-a-checkpoint command runs end to end (a few steps, not the full recipe)."""
    result = subprocess.run([sys.executable, "-m", "course.zoo", "train", "attn-only-2l", "--steps", "4",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    from course import zoo

    model = zoo.load("attn-only-2l", directory=tmp_path)
    card = zoo.card("attn-only-2l", directory=tmp_path)
    assert card["command"] == "python -m course.zoo train attn-only-2l --steps 4"
    assert card["recipe"]["steps"] == 4 and "max_induction_score" in card["metrics"]
    assert sorted(zoo.load_series("attn-only-2l", directory=tmp_path)) == zoo.checkpoint_steps("attn-only-2l", tmp_path)
    assert model.tokenizer is not None


def test_an_interrupted_run_resumes_to_the_same_weights_and_average(tmp_path):
    """Stopped at step 30 and rerun with the same state file, a run ends exactly where an
    uninterrupted one does: its weights, and the moving average of them it keeps."""
    whole_average = WeightAverage(0.9, start=10)
    whole, _ = run(steps=60, average=whole_average)
    state = tmp_path / "run.train-state.safetensors"
    parts_average = WeightAverage(0.9, start=10)
    run(steps=60, average=parts_average, state_path=state, save_every=10, on_step=lambda step, loss: step == 30)
    resumed_average = WeightAverage(0.9, start=10)  # a new process: the average comes back from the state file
    resumed, history = run(steps=60, average=resumed_average, state_path=state, save_every=10)
    assert history["step"][0] == 1 and history["step"][-1] == 60  # the history survived too
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert whole_average.weights.keys() == resumed_average.weights.keys()
    for name, a in whole_average.weights.items():
        assert torch.equal(a, resumed_average.weights[name]), name


def test_weight_average_starts_late_and_follows_with_its_decay():
    model = HookedTransformer(tiny_config())
    average = WeightAverage(0.75, start=2)
    with pytest.raises(RuntimeError, match="starts after step 2"):
        average.copy_to(model)
    weight = model.embed.W_E
    with torch.no_grad():
        weight.fill_(1.0)
        average.update(model, 2)  # not yet
        assert average.weights == {}
        weight.fill_(4.0)
        average.update(model, 3)  # starts from the weights after step 3
        weight.fill_(8.0)
        average.update(model, 4)  # 4 + (1 - 0.75) * (8 - 4)
    assert torch.allclose(average.weights["embed.W_E"], torch.full_like(weight, 5.0))
    average.copy_to(model)
    assert torch.allclose(model.embed.W_E, torch.full_like(weight, 5.0))
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(1.0)


def test_a_shortened_run_averages_over_the_same_share_of_its_steps():
    """The main recipe averages from step 1,001 of 10,000 with decay 0.999 (a window of ~1,000 steps).
    Cut to 2,500 steps, the start and the window shrink by four, so that the start's weights have
    decayed away by the end (0.996 ** 2,250 = 1e-4) instead of keeping a fifth of the average."""
    full = WeightAverage.for_shortened_run(0.999, 1000, 10000, 10000)
    assert (full.decay, full.start) == (0.999, 1000)
    cut = WeightAverage.for_shortened_run(0.999, 1000, 10000, 2500)
    assert cut.start == 250 and cut.decay == pytest.approx(0.996)
    assert cut.decay ** (2500 - cut.start) < 1e-3 < 0.999 ** (2500 - 1000)
    tiny = WeightAverage.for_shortened_run(0.999, 1000, 10000, 4)  # a smoke test still averages, and in range
    assert tiny.start == 0 and tiny.decay == 0.5


def test_a_recipe_with_an_average_ships_the_average(tmp_path, monkeypatch):
    """A few steps of a small recipe that averages from step 1: the file holds the average, not the
    last step's weights, and the card says so."""
    import dataclasses

    from course import tinyworld_models as tm, weights

    recipe = dataclasses.replace(tm.RECIPES["attn-only-2l"], series=False, average_decay=0.5, average_from=1,
                                 metrics=lambda m: {})
    monkeypatch.setitem(tm.RECIPES, "averaged", recipe)
    seen = {}

    def train_and_look(model, *args, **kwargs):
        history = train(model, *args, **kwargs)
        seen["last"] = {k: v.clone() for k, v in model.state_dict().items()}
        seen["average"] = {k: v.clone() for k, v in kwargs["average"].weights.items()}
        return history

    monkeypatch.setattr(tm, "train", train_and_look)
    card = tm.train_recipe("averaged", tmp_path, steps=4, progress=False)
    assert card["weights"].startswith("moving average of the weights (course.averaging), decay 0.5")
    saved = weights.load_state(tmp_path / "averaged.safetensors")
    assert torch.equal(saved["embed.W_E"], seen["average"]["embed.W_E"])
    assert not torch.equal(saved["embed.W_E"], seen["last"]["embed.W_E"])


def test_a_recipe_with_a_tail_ships_the_average_of_its_kept_averages(tmp_path, monkeypatch):
    """The main recipe ships the uniform average of its moving average at steps 6,000, 8,000 and 10,000.
    Cut to 10 steps those are steps 6, 8 and 10: the run keeps the moving average at 6 and 8, and the
    file holds the mean of those two and the one at the end; the card names the steps."""
    import dataclasses

    from safetensors.torch import load_file

    from course import tinyworld_models as tm, weights

    recipe = dataclasses.replace(tm.RECIPES["attn-only-2l"], series=False, average_decay=0.5, average_from=1,
                                 tail_average_of=(6000, 8000, 10000), metrics=lambda m: {},
                                 train=dataclasses.replace(tm.RECIPES["attn-only-2l"].train, steps=10000))
    monkeypatch.setitem(tm.RECIPES, "tailed", recipe)
    assert tm.tail_steps(recipe, dataclasses.replace(recipe.train, steps=10)) == [6, 8, 10]
    seen = {}

    def train_and_look(model, *args, **kwargs):
        history = train(model, *args, **kwargs)
        seen["end"] = {k: v.clone() for k, v in kwargs["average"].weights.items()}
        return history

    monkeypatch.setattr(tm, "train", train_and_look)
    card = tm.train_recipe("tailed", tmp_path, steps=10, progress=False)
    assert "the uniform average of that moving average at steps 6, 8, 10" in card["weights"]
    kept = [load_file(str(tmp_path / "tailed-kept" / f"step{s}.safetensors")) for s in (6, 8)]
    expected = (kept[0]["embed.W_E"] + kept[1]["embed.W_E"] + seen["end"]["embed.W_E"]) / 3
    saved = weights.load_state(tmp_path / "tailed.safetensors")
    torch.testing.assert_close(saved["embed.W_E"], expected)
    assert not torch.equal(saved["embed.W_E"], seen["end"]["embed.W_E"])
