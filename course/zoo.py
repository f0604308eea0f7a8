"""The model zoo: small checkpoints the course trains itself and ships, each with a card.

Every shipped model is an entry of ``course.registry``, declared by the module that owns it, and
the zoo serves them all alike. ``zoo.list()`` shows the cards; ``zoo.load(name)`` returns what the
entry builds (a ``HookedTransformer`` with its tokenizer for the transformers, an ``SAE`` for
``tinyworld-sae``), its card on ``.card``; ``zoo.load(name, step=...)`` one snapshot of a model
that ships a series. ``python -m course.zoo train NAME`` reproduces a checkpoint: it rewrites the
weights and the card (config, data seed, the exact recipe, measured metrics, training time,
sha256 of the weights). Weights are safetensors only; the sha256 is checked on load.
"""

from __future__ import annotations

import argparse
import difflib
import json
import time
from pathlib import Path
from typing import Any, Optional

import torch

from course import registry
from course.weights import CHECKPOINT_DIR, WeightsError, read_card, series_path, weights_path


def names() -> list[str]:
    return sorted(registry.entries())


def entry(name: str) -> registry.Entry:
    entries = registry.entries()
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no model named {name!r} in the zoo.{hint} Shipped models: {names()}")
    return entries[name]


def load(name: str, step: Optional[int] = None, directory: Optional[Path] = None) -> Any:
    """What the entry ``name`` builds, from its shipped weights (or those in ``directory``), or
    its snapshot at training ``step`` for a model with a series (``checkpoint_steps(name)``)."""
    e = entry(name)
    if step is not None:
        series = load_series(name, directory)
        if step not in series:
            raise KeyError(f"{name!r} has no snapshot at step {step}; its steps are {sorted(series)}")
        return series[step]
    path = weights_path(name, directory)
    if not path.exists():
        raise WeightsError(f"{path} is missing; reinstall the package or run `python -m course.zoo train {name}`")
    _check_trained_on(name, read_card(path), directory)
    return e.load(path)


def _check_trained_on(name: str, name_card: dict, directory: Optional[Path]) -> None:
    """An SAE, a transcoder or a CLT describes the activations of the one model it was trained on:
    refuse to load it beside a different one (a retrained main model, say), whose features it does
    not describe."""
    base, expected = name_card.get("model"), name_card.get("model_sha256")
    if not base or not expected:
        return
    base_path = weights_path(base, directory)
    if not base_path.exists():
        base_path = weights_path(base)
    actual = read_card(base_path).get("sha256") if base_path.exists() else None
    if actual != expected:
        raise WeightsError(
            f"{name} was trained on {base!r} with weights sha256 {expected[:12]}..., but the {base!r} here "
            f"({base_path}) has {str(actual)[:12]}...: its features would not describe this model. Retrain it "
            f"with `python -m course.zoo train {name}` (or reinstall the package to get the matching pair).")


def card(name: str, directory: Optional[Path] = None) -> dict:
    entry(name)
    return read_card(weights_path(name, directory))


def checkpoint_steps(name: str, directory: Optional[Path] = None) -> list[int]:
    return [c["step"] for c in _series_card(name, directory)["series"]["checkpoints"]]


def load_series(name: str, directory: Optional[Path] = None) -> dict[int, Any]:
    """Every shipped snapshot of ``name``, by training step (float16 on disk, float32 in memory)."""
    c = _series_card(name, directory)
    return entry(name).load_series(series_path(name, directory), c)


def _series_card(name: str, directory: Optional[Path]) -> dict:
    c = card(name, directory)
    if not entry(name).series or "series" not in c:
        raise KeyError(f"{name!r} ships no checkpoint series")
    return c


def list() -> dict[str, dict]:  # noqa: A001 - zoo.list() reads naturally
    """Every shipped model's card, printed and returned."""
    cards = {}
    for name, e in registry.entries().items():
        try:
            cards[name] = card(name)
        except WeightsError:
            cards[name] = {"missing": True}
        print(f"{name}: {e.description}")
        for key, value in (cards[name].get("metrics") or {}).items():
            print(f"    {key}: {value:.3f}" if isinstance(value, float) else f"    {key}: {value}")
    return cards


def train(name: str, out_dir: Optional[Path] = None, steps: Optional[int] = None, progress: bool = True) -> dict:
    """Train ``name`` from scratch with its recipe and write its weights and card to ``out_dir``
    (default: the package's checkpoints). ``steps`` shortens the run, for a smoke test."""
    return entry(name).train(Path(out_dir or CHECKPOINT_DIR), steps=steps, progress=progress)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course.zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="reproduce a shipped checkpoint and its card")
    t.add_argument("name", choices=names())
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
    result = train(args.name, args.out, args.steps)
    print(json.dumps(result["metrics"], indent=2))
    print(f"wrote {weights_path(args.name, args.out)} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
