"""The shipped transcoders of the tinyworld model: ``tinyworld-transcoders`` (one per MLP) and
``tinyworld-clt`` (cross-layer). Each entry's recipe, the run that trains it on the model's MLP
activations over TinyWorld text and writes its card (variance explained of each MLP's output, L0,
dead fraction, and the agreement of the model with every MLP replaced: top-1 next token and KL).
``zoo.load("tinyworld-clt")`` returns the ``Transcoders``; ``python -m course.zoo train
tinyworld-clt`` reproduces them.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Optional

import torch

from course import zoo
from course.evaluate import corpus_of
from course.registry import Entry, train_command
from course.sae import eval_tokens, token_batches
from course.transcoders import (TranscoderConfig, TranscoderTrainConfig, Transcoders, dead_fraction, evaluate, load,
                                round_to, save, train_transcoders)
from course.weights import sha256_of, weights_path


@dataclass
class Recipe:
    name: str
    cross_layer: bool
    model: str = "tinyworld"  # the zoo model whose MLPs they replace (n_layers, d_model and corpus come from it)
    d_transcoder: int = 1024  # features per layer
    k: int = 16  # active features per token and layer
    train: TranscoderTrainConfig = field(default_factory=TranscoderTrainConfig)
    data_seed: int = 1  # TinyWorld stream of the training text (the model trained on seed 0)
    seq_len: int = 128
    eval_seed: int = 2  # held-out stream for the card's metrics
    eval_seqs: int = 64  # sequences of seq_len tokens for the metrics
    dead_tokens: int = 200_000  # held-out tokens over which a dead feature never fires
    weights_dtype: str = "float16"  # shipped half size (the zoo's weight budget); measured as shipped

    def description(self) -> str:
        kind = "Cross-layer transcoder" if self.cross_layer else "Per-layer transcoders"
        return (f"{kind} ({self.d_transcoder} features per layer, BatchTopK k={self.k}, JumpReLU at inference) "
                f"for every MLP of the {self.model} model; position 0 and BOS tokens excluded.")

    def config(self, model) -> TranscoderConfig:
        return TranscoderConfig(model.cfg.n_layers, model.cfg.d_model, self.d_transcoder, self.cross_layer, self.k)

    def shortened(self, steps: int) -> "Recipe":
        """The same recipe for ``steps`` steps, measured on less text (a smoke test)."""
        return replace(self, train=replace(self.train, steps=steps, warmup_steps=min(self.train.warmup_steps, steps),
                                           batch_size=min(self.train.batch_size, 256), buffer_tokens=4096),
                       eval_seqs=4, dead_tokens=2048)


RECIPES = {r.name: r for r in (Recipe("tinyworld-transcoders", cross_layer=False),
                                Recipe("tinyworld-clt", cross_layer=True))}


def card_metrics(tc: Transcoders, model, recipe: Recipe) -> dict:
    """``transcoders.evaluate`` on held-out text, with the dead fraction over ``dead_tokens``."""
    metrics = evaluate(tc, model, eval_tokens(model, recipe.eval_seqs, recipe.eval_seed, recipe.seq_len))
    dead = dead_fraction(tc, model, token_batches(model, recipe.eval_seed, 16, recipe.seq_len),
                         recipe.dead_tokens)
    for l, value in enumerate(dead):
        metrics[f"dead_fraction_layer_{l}"] = value
    metrics["dead_fraction"] = sum(dead) / len(dead)
    metrics["dead_fraction_tokens"] = recipe.dead_tokens
    return metrics


def _measure_loaded(tc: Transcoders) -> dict:
    """``card_metrics`` again, with the model and settings the card records."""
    card = tc.card
    recipe = replace(RECIPES[card["name"]], eval_seqs=card["recipe"]["eval_seqs"],
                     dead_tokens=card["metrics"]["dead_fraction_tokens"], seq_len=card["recipe"]["seq_len"],
                     eval_seed=card["data"]["eval_seed"])
    return card_metrics(tc, zoo.load(card["model"]), recipe)


def train(name: str, out_dir: Path, steps: Optional[int] = None, progress: bool = True) -> dict:
    """Train the recipe ``name`` on its model's MLP activations, measure, and save with the card."""
    recipe = RECIPES[name].shortened(steps) if steps else RECIPES[name]
    start = time.perf_counter()
    model = zoo.load(recipe.model)
    batches = token_batches(model, recipe.data_seed, 16, recipe.seq_len)
    tc, history = train_transcoders(model, batches, recipe.config(model), recipe.train, progress=progress)
    dtype = getattr(torch, recipe.weights_dtype)
    metrics = card_metrics(round_to(tc, dtype), model, recipe)  # the card describes the weights as shipped
    card = {
        "name": name,
        "description": recipe.description(),
        "model": recipe.model,
        "model_sha256": sha256_of(weights_path(recipe.model)),  # the file, not its card: a card may lack it
        "data": {"corpus": corpus_of(model).__name__, "seed": recipe.data_seed, "seq_len": recipe.seq_len,
                 "tokens": recipe.train.steps * recipe.train.batch_size, "excluded": "position 0 and BOS/EOT tokens",
                 "eval_seed": recipe.eval_seed, "eval_tokens": metrics["n_tokens"]},
        "recipe": {"d_transcoder": recipe.d_transcoder, "k": recipe.k, "cross_layer": recipe.cross_layer,
                   "weights_dtype": recipe.weights_dtype,
                   "train": recipe.train.to_dict(), "eval_seqs": recipe.eval_seqs, "seq_len": recipe.seq_len},
        "command": train_command(name, steps),
        "metrics": metrics,
        "thresholds": tc.threshold.tolist(),
        "n_parameters": tc.n_parameters(),
        "training_seconds": round(history["seconds"], 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "history": history,
    }
    return save(tc, weights_path(name, out_dir), card, dtype=dtype)


ENTRIES = [Entry(name, recipe.description(), load, partial(train, name), _measure_loaded)
           for name, recipe in RECIPES.items()]
