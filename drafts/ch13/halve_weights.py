"""Store the three chapter-13 variants' weights in float16 so that together they ship under 12 MB
(float32: 6.4 + 6.3 + 8.5 MB). Reads NAME.safetensors + NAME.json from SRC, writes them to DST with
the weights rounded to float16, the card's sha256 and bytes updated, ``weights_dtype: float16``,
and its ``metrics`` measured again on the rounded weights (so the card is what the shipped file
measures; the float32 figures are kept as ``metrics_float32``). The training tables
(``evals_during_training``, ``what_training_buys``) are left as measured during training.

    OMP_NUM_THREADS=1 python drafts/ch13/halve_weights.py /work/runs/variants /work/runs/variants/shipped

Integration note: a ``weights_dtype`` field on ``course.tinyworld_models.Recipe``, passed to
``weights.save_model``, would make ``python -m course.zoo train`` write these files itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from course import weights
from course.tinyworld_models import RECIPES, load

NAMES = ("tinyworld-gpt2", "tinyworld-llama", "tinyworld-moe")


def halve(name: str, src: Path, dst: Path) -> dict:
    card = weights.read_card(weights.weights_path(name, src))
    state = load_file(str(weights.weights_path(name, src)))
    half = {k: v.to(torch.float16) for k, v in state.items()}
    card = weights.save_weights(half, weights.weights_path(name, dst), {**card, "weights_dtype": "float16"})
    model = load(RECIPES[name].tokenizer, weights.weights_path(name, dst))
    with torch.no_grad():
        metrics = RECIPES[name].metrics(model)
    card = {**card, "metrics_float32": card.get("metrics_float32", card["metrics"]), "metrics": metrics}
    weights.write_card(weights.weights_path(name, dst), card)
    return card


if __name__ == "__main__":
    torch.set_num_threads(1)
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    total = 0
    for name in sys.argv[3:] or NAMES:
        card = halve(name, src, dst)
        total += card["bytes"]
        changed = {k: (round(card["metrics_float32"][k], 4), round(v, 4)) for k, v in card["metrics"].items()
                   if isinstance(v, float) and abs(v - card["metrics_float32"][k]) > 1e-4}
        print(f"{name}: {card['bytes']:,} bytes; metrics changed by the rounding: {changed}", flush=True)
    print(f"total {total:,} bytes")
