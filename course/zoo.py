"""The model zoo: small checkpoints the course trains itself and ships, each with a card.

``zoo.load(name)`` returns a ready model with its tokenizer; ``zoo.list()`` shows the cards.
Every checkpoint is reproducible by one command, ``python -m course.zoo train NAME``, which
rewrites the weights and the card (config, data seed, the exact recipe, measured metrics,
training time, sha256 of the weights). Weights are safetensors only; the sha256 is checked on load.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import torch

from course import evaluate, tinyworld
from course.config import ModelConfig
from course.model import HookedTransformer
from course.tokenizer import Tokenizer
from course.train import TrainConfig, packed_batches, train
from course import weights
from course.weights import WeightsError, load_model, read_card, save_model, sha256_of

CHECKPOINT_DIR = Path(str(resources.files("course") / "checkpoints"))


@dataclass
class Recipe:
    description: str
    model: ModelConfig
    train: TrainConfig
    metrics: Callable[[HookedTransformer], dict]
    series: bool = False  # also ship the log-spaced checkpoints, in float16
    data_mix: Optional[dict[str, float]] = None  # TinyWorld's segment shares (None: tinyworld.MIX)
    random_repeat_rows: float = 0.0  # share of each batch replaced by repeated random common tokens


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


def weights_path(name: str, directory: Optional[Path] = None) -> Path:
    return Path(directory or CHECKPOINT_DIR) / f"{name}.safetensors"


def series_path(name: str, directory: Optional[Path] = None) -> Path:
    return Path(directory or CHECKPOINT_DIR) / f"{name}-series.safetensors"


def _check_name(name: str) -> None:
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, sorted(RECIPES) + ["tinyworld-sae", "modadd"], n=1)  # (list is zoo.list here)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no model named {name!r} in the zoo.{hint} Shipped models: {sorted(RECIPES)}")


def load(name: str, step: Optional[int] = None, directory: Optional[Path] = None) -> HookedTransformer:
    """The shipped model ``name`` with its tokenizer, or its snapshot at training ``step``.
    ``"tinyworld-sae"`` gives the sparse autoencoder trained on tinyworld (see course/sae.py)."""
    if name == "tinyworld-sae":
        from course import sae

        return sae.load(sae.weights_path(directory))
    if name == "modadd":  # trained by course/modadd.py's own loop (full-batch, last position only)
        from course import modadd

        return modadd.load(directory) if step is None else modadd.load_series(directory)[step]
    _check_name(name)
    if step is not None:
        return load_series(name, directory)[step]
    path = weights_path(name, directory)
    if not path.exists():
        raise WeightsError(f"{path} is missing; reinstall the package or run `python -m course.zoo train {name}`")
    model = load_model(path, tokenizer=Tokenizer.load())
    model.name = name
    return model


def card(name: str, directory: Optional[Path] = None) -> dict:
    _check_name(name)
    return read_card(weights_path(name, directory))


def checkpoint_steps(name: str, directory: Optional[Path] = None) -> list[int]:
    c = card(name, directory)
    if "series" not in c:
        raise KeyError(f"{name!r} ships no checkpoint series")
    return [entry["step"] for entry in c["series"]["checkpoints"]]


def load_series(name: str, directory: Optional[Path] = None) -> dict[int, HookedTransformer]:
    """Every shipped snapshot of ``name``, by training step (float16 on disk, float32 in memory)."""
    c = card(name, directory)
    if "series" not in c:
        raise KeyError(f"{name!r} ships no checkpoint series")
    return weights.load_series(series_path(name, directory), c, tokenizer=Tokenizer.load())


def list() -> dict[str, dict]:  # noqa: A001 - zoo.list() reads naturally
    """Every shipped model's card, printed and returned."""
    cards = {}
    for name in RECIPES:
        try:
            cards[name] = card(name)
        except WeightsError:
            cards[name] = {"missing": True}
    for name, c in cards.items():
        print(f"{name}: {RECIPES[name].description}")
        for key, value in (c.get("metrics") or {}).items():
            print(f"    {key}: {value:.3f}" if isinstance(value, float) else f"    {key}: {value}")
    return cards


def train_recipe(name: str, out_dir: Optional[Path] = None, steps: Optional[int] = None,
                 progress: bool = True) -> dict:
    """Train ``name`` from scratch with its recipe; write weights and card to ``out_dir``."""
    _check_name(name)
    recipe = RECIPES[name]
    tcfg = TrainConfig(**{**recipe.train.to_dict(), **({"steps": steps} if steps else {})})
    if steps:  # a shortened run (smoke test): keep warmup and evaluation inside it
        tcfg.warmup_steps = min(tcfg.warmup_steps, max(1, steps // 10))
        tcfg.eval_every = steps
    out_dir = Path(out_dir or CHECKPOINT_DIR)
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

    history = train(model, batches, tcfg, evaluate=lambda m: recipe.metrics(m) if name != "tinyworld"
                    else evaluate.tinyworld_metrics(m, quick=True),
                    on_checkpoint=on_checkpoint if recipe.series else None, progress=progress)
    model = model.cpu().eval()
    with torch.no_grad():
        metrics = recipe.metrics(model)
    card = {
        "name": name,
        "description": recipe.description,
        "tokenizer": "course/data/tokenizer.json",
        "tokenizer_sha256": sha256_of(Path(str(resources.files("course") / "data" / "tokenizer.json"))),
        "data": {"corpus": "course.tinyworld", "seed": tcfg.data_seed, "mix": recipe.data_mix or tinyworld.MIX,
                 "random_repeat_rows": recipe.random_repeat_rows,
                 "tokens_seen": tcfg.steps * tcfg.batch_size * tcfg.seq_len},
        "recipe": tcfg.to_dict(),
        "command": f"python -m course.zoo train {name}" + (f" --steps {steps}" if steps else ""),
        "metrics": metrics,
        "final_train_loss": sum(history["loss"][-50:]) / len(history["loss"][-50:]),
        "training_seconds": round(history["seconds"], 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "evals_during_training": history["evals"],
        "loss_curve": _thin(history),
    }
    if recipe.series:
        spath = series_path(name, out_dir)
        card["series"] = {"file": spath.name, "sha256": weights.save_series(snapshots, spath), "dtype": "float16",
                          "checkpoints": series_metrics}
    return save_model(model, weights_path(name, out_dir), card)


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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course.zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="reproduce a shipped checkpoint and its card")
    t.add_argument("name", choices=sorted(RECIPES))
    t.add_argument("--out", type=Path, default=None, help="folder for the weights and card (default: the package's)")
    t.add_argument("--steps", type=int, default=None, help="shorter run, for a smoke test")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (1 is faster when other programs keep the cores busy)")
    sub.add_parser("list", help="show the shipped models and their measured metrics")
    args = parser.parse_args(argv)
    if args.command == "list":
        list()
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = train_recipe(args.name, args.out, args.steps)
    print(json.dumps(result["metrics"], indent=2))
    print(f"wrote {weights_path(args.name, args.out)} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
