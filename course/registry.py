"""The registry of shipped models. Each model declares one ``Entry`` in the module that owns it
(its recipe, how it is built, trained and measured), in that module's ``ENTRIES``; this file only
lists those modules. ``course.zoo`` serves every entry alike, so a new model needs an entry and,
if it lives in a new module, one line in ``ENTRY_MODULES``; no edit of the zoo.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

# Imported on first use, not here: course.zoo stays light, and the owners may import the zoo.
ENTRY_MODULES = ("course.tinyworld_models", "course.modadd", "course.tinyworld_sae", "course.tinyworld_transcoders")


@dataclass(frozen=True)
class Entry:
    name: str  # the zoo name, also the stem of its weights and card files
    description: str  # for zoo.list(), and written on the card
    load: Callable[[Path], Any]  # weights file -> what the entry builds (a model, an SAE...), its card on .card
    train: Callable[..., dict]  # train(out_dir, steps=None, progress=True): write weights and card, return the card
    metrics: Callable[[Any], dict]  # the card's measured "metrics", afresh, on what ``load`` returns
    load_series: Optional[Callable[[Path, dict], dict[int, Any]]] = None  # (series file, card) -> {step: snapshot}

    @property
    def series(self) -> bool:
        """Does it ship a series of snapshots taken during training?"""
        return self.load_series is not None


@functools.cache
def entries() -> dict[str, Entry]:
    """Every shipped model's entry, by name, in the order of ``ENTRY_MODULES``."""
    found: dict[str, Entry] = {}
    for module in ENTRY_MODULES:
        for entry in importlib.import_module(module).ENTRIES:
            if entry.name in found:
                raise ValueError(f"two registry entries are named {entry.name!r} (one in {module})")
            found[entry.name] = entry
    return found


def train_command(name: str, steps: Optional[int] = None) -> str:
    """The command that reproduces a checkpoint, as its card records it."""
    return f"python -m course.zoo train {name}" + (f" --steps {steps}" if steps else "")
