"""The shipped SAE, ``tinyworld-sae``: its recipe and the run that trains it on the tinyworld
model's residual stream and writes its card (the SAE metrics, the landmark features, and a
steering experiment at several strengths, from which tests/test_sae.py takes its threshold).
``zoo.load("tinyworld-sae")`` returns the ``SAE``; ``python -m course.zoo train tinyworld-sae``
reproduces it.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Optional

import torch

from course import zoo
from course.evaluate import corpus_of
from course.features import landmark_features
from course.registry import Entry, train_command
from course.sae import (SAE, SAEConfig, SAETrainConfig, collect_activations, dead_fraction, eval_tokens, evaluate,
                        load, save, train_sae)
from course.steering import steering_experiment
from course.weights import sha256_of, weights_path

NAME = "tinyworld-sae"


@dataclass
class Recipe:
    model: str = "tinyworld"  # the zoo model whose activations it reads (and whose corpus is its text)
    sae: SAEConfig = field(default_factory=SAEConfig)
    train: SAETrainConfig = field(default_factory=SAETrainConfig)
    n_tokens: int = 1_000_000  # activations collected for training
    data_seed: int = 1  # TinyWorld stream of the training text (the model trained on seed 0)
    eval_seed: int = 2  # held-out stream for the card's metrics
    eval_seqs: int = 64  # sequences of 128 tokens for the metrics
    dead_tokens: int = 200_000  # held-out tokens over which a dead feature never fires
    # Steering strengths as multiples of the mean norm of the residual stream at the hook.
    steering_multiples: tuple = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    fluent_loss_increase: float = 1.0  # nats: the test's strength must keep text this close to natural

    def description(self) -> str:
        return (f"Top-k SAE (k={self.sae.k}, {self.sae.d_sae} features) on {self.sae.hook_name} of the {self.model} "
                "model; position 0 and BOS tokens excluded from training and metrics.")

    def shortened(self, steps: int) -> "Recipe":
        """The same recipe for ``steps`` steps on just enough tokens, measured on fewer (a smoke test)."""
        n_tokens = steps * self.train.batch_size
        return replace(self, train=replace(self.train, steps=steps, warmup_steps=min(self.train.warmup_steps, steps)),
                       n_tokens=n_tokens, eval_seqs=8, dead_tokens=n_tokens, steering_multiples=(0.0, 1.0))


RECIPE = Recipe()


def card_metrics(sae: SAE, model, eval_seqs: int, eval_seed: int, dead_tokens: int) -> dict:
    """The card's metrics: ``sae.evaluate`` on ``eval_seqs`` held-out sequences, and the dead
    fraction over ``dead_tokens`` tokens (too few tokens make rare features look dead)."""
    metrics = evaluate(sae, model, eval_tokens(model, eval_seqs, eval_seed))
    metrics["dead_fraction_eval_tokens"] = metrics.pop("dead_fraction")
    metrics["dead_fraction"] = dead_fraction(sae, model, dead_tokens, eval_seed)
    metrics["dead_fraction_tokens"] = dead_tokens
    return metrics


def _measure_loaded(sae: SAE) -> dict:
    """``card_metrics`` with the model and settings its card records (the first shipped card
    predates ``recipe.eval_seqs``: it used the recipe's 64)."""
    card = sae.card
    return card_metrics(sae, zoo.load(card["model"]), card["recipe"].get("eval_seqs", RECIPE.eval_seqs),
                        card["data"]["eval_seed"], card["metrics"]["dead_fraction_tokens"])


def choose_test_strength(steering: dict, max_loss_increase: float) -> float:
    """The strength with the largest gain in landmark share over the baseline among those whose
    continuations the unsteered model still finds fluent (loss within ``max_loss_increase``)."""
    base = steering[0.0]
    fluent = [s for s, r in steering.items() if s > 0 and r["unsteered_loss"] <= base["unsteered_loss"] + max_loss_increase]
    candidates = fluent or [s for s in steering if s > 0]
    return max(candidates, key=lambda s: steering[s]["share"] - base["share"])


def train(out_dir: Path, steps: Optional[int] = None, progress: bool = True) -> dict:
    """Collect activations from the recipe's model, train, measure, and save the SAE with its
    card: metrics, landmark features, steering at several strengths. Returns the card."""
    recipe = RECIPE.shortened(steps) if steps else RECIPE
    start = time.perf_counter()
    model = zoo.load(recipe.model)
    acts = collect_activations(model, recipe.sae.hook_name, recipe.n_tokens, recipe.data_seed, progress=progress)
    resid_norm = acts[:100_000].float().norm(dim=-1).mean().item()
    collect_seconds = time.perf_counter() - start
    sae, history = train_sae(acts, recipe.sae, recipe.train, progress=progress)
    del acts
    metrics = card_metrics(sae, model, recipe.eval_seqs, recipe.eval_seed, recipe.dead_tokens)
    landmarks = landmark_features(sae, model)
    features = {k: v.feature for k, v in landmarks.items()}
    strengths = [round(m * resid_norm, 1) for m in recipe.steering_multiples]
    steering = steering_experiment(model, sae, features, strengths)
    # What tests/test_sae.py runs (fewer samples and tokens, so it is quick): measured here, and
    # half the measured gain is what the test asserts, leaving room for other machines' rounding.
    test_strength = choose_test_strength(steering, recipe.fluent_loss_increase)
    quick = steering_experiment(model, sae, features, (0, test_strength), samples=2, n_tokens=16)
    margin = quick[float(test_strength)]["share"] - quick[0.0]["share"]
    card = {
        "name": NAME,
        "description": recipe.description(),
        "model": recipe.model,
        "model_sha256": sha256_of(weights_path(recipe.model)),
        "data": {"corpus": corpus_of(model).__name__, "seed": recipe.data_seed, "n_tokens": recipe.n_tokens,
                 "excluded": "position 0 and BOS/EOT tokens", "eval_seed": recipe.eval_seed,
                 "eval_tokens": metrics["n_tokens"]},
        "recipe": {"train": recipe.train.to_dict(), "n_tokens": recipe.n_tokens, "eval_seqs": recipe.eval_seqs,
                   "steering_multiples": list(recipe.steering_multiples)},
        "command": train_command(NAME, steps),
        "metrics": metrics,
        "resid_norm": resid_norm,
        "landmark_features": {k: asdict(v) for k, v in landmarks.items()},
        "steering": {str(k): v for k, v in steering.items()},
        "steering_test": {"strength": test_strength, "samples": 2, "n_tokens": 16,
                          "baseline_share": quick[0.0]["share"], "steered_share": quick[float(test_strength)]["share"],
                          "measured_margin": margin, "asserted_margin": math.floor(50 * margin) / 100},
        "collect_seconds": round(collect_seconds, 1),
        "training_seconds": round(history["seconds"], 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "history": history,
    }
    return save(sae, weights_path(NAME, out_dir), card)


ENTRIES = [Entry(NAME, RECIPE.description(), load, train, _measure_loaded)]
