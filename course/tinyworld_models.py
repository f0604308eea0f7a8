"""The zoo's language models trained on TinyWorld: a ``Recipe`` each (architecture, training
settings, data mix, the metrics its card records) and the one training run they all share, which
writes the weights, the card and, for a series recipe, float16 snapshots at log-spaced steps.
A new TinyWorld model is one more ``Recipe`` in ``RECIPES``.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import torch

from course import evaluate, tinyworld, weights
from course.config import ModelConfig
from course.model import HookedTransformer
from course.registry import Entry, train_command
from course.tokenizer import Tokenizer
from course.train import TrainConfig, packed_batches, train


@dataclass
class Recipe:
    description: str
    model: ModelConfig
    train: TrainConfig
    metrics: Callable[[HookedTransformer], dict]  # what the card records
    series: bool = False  # also ship the log-spaced checkpoints, in float16
    data_mix: Optional[dict[str, float]] = None  # TinyWorld's segment shares (None: tinyworld.MIX)
    random_repeat_rows: float = 0.0  # share of each batch replaced by repeated random common tokens
    metrics_during_training: Optional[Callable[[HookedTransformer], dict]] = None  # cheaper (None: metrics)


RECIPES: dict[str, Recipe] = {
    "tinyworld": Recipe(
        "GPT-2-style, 4 layers x 128 wide, with LayerNorm and MLPs, trained on TinyWorld. The course's main model: "
        "IOI, facts, two-hop recall, addition, induction.",
        ModelConfig(n_layers=4, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=2048, n_ctx=128),
        TrainConfig(steps=5000, batch_size=32, seq_len=128, lr=2e-3, warmup_steps=200, eval_every=500,
                    seed=0, data_seed=0),
        evaluate.tinyworld_metrics,
        # A first run with TinyWorld's default mix learned IOI (95%, logit diff 9.8) and every fact by
        # step 2000, but no induction head and only 6% of held-out sums: so more sums, more repeats,
        # and a fifth of each batch of repeated random tokens (as attn-only-2l).
        data_mix={**tinyworld.MIX, "repeat": 0.15, "calc": 0.2},
        random_repeat_rows=0.2,
        metrics_during_training=functools.partial(evaluate.tinyworld_metrics, quick=True),
    ),
    "attn-only-2l": Recipe(
        "Two-layer attention-only transformer (with LayerNorm) trained on TinyWorld, with log-spaced checkpoints "
        "for the training-dynamics chapter. Forms previous-token and induction heads.",
        ModelConfig(n_layers=2, d_model=128, n_heads=4, d_head=32, attn_only=True, d_vocab=2048, n_ctx=128,
                    pos_init="sinusoidal"),
        TrainConfig(steps=8000, batch_size=16, seq_len=128, lr=1e-3, warmup_steps=200, eval_every=500,
                    n_checkpoints=24, seed=0, data_seed=1),
        evaluate.attn_only_metrics,
        series=True,
        # Induction heads form after a long plateau. With TinyWorld's own 9% of repeats an earlier
        # recipe (2000 steps of 32 x 128) formed none, so this one doubles the repeated passages
        # and fills a quarter of each batch with repeated runs of random common tokens. With GPT-2's
        # random positional init, 6000 steps gave induction 0.85 but previous-token heads smeared over
        # offsets 1-3 (best 0.44); positions starting as sinusoids make them sharp.
        data_mix={**tinyworld.MIX, "repeat": 0.2},
        random_repeat_rows=0.25,
    ),
}


def train_recipe(name: str, out_dir: Path, steps: Optional[int] = None, progress: bool = True) -> dict:
    """Train ``name`` from scratch with its recipe; write weights and card to ``out_dir``.
    ``steps`` shortens the run (a smoke test). Returns the card."""
    recipe = RECIPES[name]
    tcfg = TrainConfig(**{**recipe.train.to_dict(), **({"steps": steps} if steps else {})})
    if steps:  # keep warmup and evaluation inside the shortened run
        tcfg.warmup_steps = min(tcfg.warmup_steps, max(1, steps // 10))
        tcfg.eval_every = steps
    tokenizer = Tokenizer.load()
    torch.manual_seed(tcfg.seed)
    model = HookedTransformer(recipe.model, tokenizer=tokenizer)
    model.init_weights(seed=tcfg.seed)
    stream = tinyworld.token_stream(tokenizer, seed=tcfg.data_seed, mix=recipe.data_mix)
    batches = packed_batches(stream, tcfg.batch_size, tcfg.seq_len)
    if recipe.random_repeat_rows:
        batches = with_random_repeats(batches, tokenizer, recipe.random_repeat_rows, tcfg.data_seed)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    series_metrics = []

    def on_checkpoint(step, m):
        snapshots[step] = {k: v.detach().to("cpu", torch.float16).clone() for k, v in m.state_dict().items()}
        with torch.no_grad():
            series_metrics.append({"step": step, **recipe.metrics(m)})

    history = train(model, batches, tcfg, evaluate=recipe.metrics_during_training or recipe.metrics,
                    on_checkpoint=on_checkpoint if recipe.series else None, progress=progress)
    model = model.cpu().eval()
    with torch.no_grad():
        metrics = recipe.metrics(model)
    card = {
        "name": name,
        "description": recipe.description,
        "tokenizer": "course/data/tokenizer.json",
        "tokenizer_sha256": weights.sha256_of(Path(str(resources.files("course") / "data" / "tokenizer.json"))),
        "data": {"corpus": "course.tinyworld", "seed": tcfg.data_seed, "mix": recipe.data_mix or tinyworld.MIX,
                 "random_repeat_rows": recipe.random_repeat_rows,
                 "tokens_seen": tcfg.steps * tcfg.batch_size * tcfg.seq_len},
        "recipe": tcfg.to_dict(),
        "command": train_command(name, steps),
        "metrics": metrics,
        "final_train_loss": sum(history["loss"][-50:]) / len(history["loss"][-50:]),
        "training_seconds": round(history["seconds"], 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "evals_during_training": history["evals"],
        "loss_curve": _thin(history),
    }
    if recipe.series:
        spath = weights.series_path(name, out_dir)
        card["series"] = {"file": spath.name, "sha256": weights.save_series(snapshots, spath), "dtype": "float16",
                          "checkpoints": series_metrics}
    return weights.save_model(model, weights.weights_path(name, out_dir), card)


def with_random_repeats(batches, tokenizer, share: float, seed: int):
    """Replace ``share`` of each batch's rows by BOS + a random run of common tokens, repeated until
    the row is full (the same kind of sequence the induction score is measured on)."""
    generator = torch.Generator().manual_seed(seed)
    vocab = evaluate.common_tokens(tokenizer)
    for batch in batches:
        n_rows = round(share * batch.shape[0])
        for row in range(n_rows):
            length = int(torch.randint(8, 40, (1,), generator=generator))
            run = vocab[torch.randint(0, len(vocab), (length,), generator=generator)]
            batch[row, 0] = tokenizer.bos_id
            batch[row, 1:] = run.repeat(batch.shape[1] // length + 1)[: batch.shape[1] - 1]
        yield batch


def _thin(history: dict, points: int = 200) -> dict:
    """The loss curve, averaged into at most ``points`` buckets so the card stays small."""
    steps, losses = history["step"], history["loss"]
    size = max(1, len(steps) // points)
    return {"step": [steps[min(i + size, len(steps)) - 1] for i in range(0, len(steps), size)],
            "loss": [round(sum(losses[i:i + size]) / len(losses[i:i + size]), 4) for i in range(0, len(losses), size)]}


def load(path: Path) -> HookedTransformer:
    return weights.load_model(path, tokenizer=Tokenizer.load())


def load_series(path: Path, card: dict) -> dict[int, HookedTransformer]:
    return weights.load_series(path, card, tokenizer=Tokenizer.load())


ENTRIES = [
    Entry(name, recipe.description, load, functools.partial(train_recipe, name), recipe.metrics,
          load_series if recipe.series else None)
    for name, recipe in RECIPES.items()
]
