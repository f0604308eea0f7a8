"""Saving and loading model weights: safetensors for the tensors, a JSON card beside them.

safetensors stores raw tensors and a header; unlike pickle it cannot run code when loaded,
which is why the course never uses ``torch.load`` on weights. The card records the config,
how the weights were made and what they measured, and the sha256 of the weights file, which is
checked on every load so a truncated or edited file is caught before it misleads anyone.
The shipped files live in ``CHECKPOINT_DIR`` as ``NAME.safetensors`` + ``NAME.json`` (and
``NAME-series.safetensors`` for a series of snapshots): ``weights_path`` and ``series_path``.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from course.config import ModelConfig
from course.model import HookedTransformer

CHECKPOINT_DIR = Path(str(resources.files("course") / "checkpoints"))


def weights_path(name: str, directory: Optional[Path] = None) -> Path:
    """``NAME.safetensors`` in ``directory`` (default: the package's checkpoints); the card is beside it."""
    return Path(directory or CHECKPOINT_DIR) / f"{name}.safetensors"


def series_path(name: str, directory: Optional[Path] = None) -> Path:
    return Path(directory or CHECKPOINT_DIR) / f"{name}-series.safetensors"


class WeightsError(RuntimeError):
    """A weights file or card that is missing, corrupt, or does not fit the model."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(tensors: dict[str, torch.Tensor], path, card: dict) -> dict:
    """Write ``tensors`` to ``path`` (.safetensors) and the card beside it (.json), adding the
    weights file's name, sha256 and size to the card. Returns the card."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    card = {**card, "weights_file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}
    write_card(path, card)
    return card


def save_model(model: HookedTransformer, path, card: Optional[dict] = None, dtype: torch.dtype = torch.float32) -> dict:
    """Write the model's weights (float32, or ``dtype`` to halve a shipped file) and its card, with
    its config. Returns the card. Loading copies them into the model's float32 parameters."""
    tensors = {k: v.detach().to("cpu", dtype) for k, v in model.state_dict().items()}
    extra = {} if dtype == torch.float32 else {"weights_dtype": str(dtype).removeprefix("torch.")}
    return save_weights(tensors, path, {**(card or {}), **extra, "config": model.cfg.to_dict()})


def write_card(path, card: dict) -> None:
    """Write (or rewrite) the card beside the weights file ``path``."""
    Path(path).with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


def read_card(path) -> dict:
    card_path = Path(path).with_suffix(".json")
    if not card_path.exists():
        raise WeightsError(f"no card {card_path} beside the weights file; it holds the model's config")
    try:
        return json.loads(card_path.read_text())
    except json.JSONDecodeError as e:
        raise WeightsError(f"card {card_path} is not valid JSON ({e}); restore it from the package") from None


def load_state(path, expected_sha256: Optional[str] = None) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise WeightsError(
                f"weights file {path} is corrupt or was changed: its sha256 is {actual[:12]}..., the card says "
                f"{expected_sha256[:12]}...; reinstall the package or retrain with `python -m course.zoo train`"
            )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"weights file {path} is not a readable safetensors file: {e}") from None


def load_model(path, tokenizer=None, check_sha: bool = True) -> HookedTransformer:
    """Load weights and card saved by ``save_model``; every mismatch is named."""
    path = Path(path)
    card = read_card(path)
    try:
        cfg = ModelConfig.from_dict(card["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"card {path.with_suffix('.json')} has no valid config: {e}") from None
    state = load_state(path, card.get("sha256") if check_sha else None)
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    load_state_into(model, state, path)
    model.card = card
    return model.eval()


def load_state_into(model: HookedTransformer, state: dict[str, torch.Tensor], source="state dict") -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
             for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append(f"wrong shapes {wrong[:5]}")
        raise WeightsError(f"{source} does not fit this model's config: " + "; ".join(parts))
    model.load_state_dict(state)


# -- checkpoint series: many snapshots of one model in one file, keys "step_<N>.<param>" ---------------

def save_series(snapshots: dict[int, dict[str, torch.Tensor]], path) -> str:
    """Write snapshots ``{step: state_dict}`` (float16 keeps them small) to one safetensors file.
    Returns its sha256, for the card's ``series`` entry."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({f"step_{step}.{k}": v.contiguous() for step, sd in snapshots.items() for k, v in sd.items()}, str(path))
    return sha256_of(path)


def load_series(path, card: dict, tokenizer=None) -> dict[int, HookedTransformer]:
    """The snapshots listed in ``card["series"]["checkpoints"]``, by step, as float32 models."""
    state = load_state(path, card["series"]["sha256"])
    cfg = ModelConfig.from_dict(card["config"])
    models = {}
    for entry in card["series"]["checkpoints"]:
        prefix = f"step_{entry['step']}."
        sub = {k[len(prefix):]: v.float() for k, v in state.items() if k.startswith(prefix)}
        model = HookedTransformer(cfg, tokenizer=tokenizer)
        load_state_into(model, sub, f"{path} (step {entry['step']})")
        models[entry["step"]] = model.eval()
    return models
