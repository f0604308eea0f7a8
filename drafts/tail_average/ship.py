"""Ship the tail average (branch tail-average) without training again: the recipe's run is the one
already shipped (seed 1, drafts/mlp_width/out/tinyworld-mlp512-10000-seed1*), so its weights at the
end are the moving average the checkpoint holds, and the kept averages at 6,000 and 8,000 are that
run's. Writes course/checkpoints/tinyworld.{safetensors,json}: the card of the run with the "weights"
line the recipe now writes, its metrics measured afresh on the averaged weights, and the
what_training_buys table (the kept rows from the kept folder when it is there, else the card's own).

    python drafts/tail_average/ship.py [KEPT_DIR]
"""

import json
import sys
from pathlib import Path

import torch

from course import evaluate, tinyworld_models as tm, weights, zoo

torch.set_num_threads(2)
recipe = tm.RECIPES["tinyworld"]
path = zoo.CHECKPOINT_DIR / "tinyworld.safetensors"
card = json.loads(path.with_suffix(".json").read_text())
assert "uniform average" not in card["weights"], "the checkpoint is already the tail average"
kept = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("drafts/mlp_width/out/tinyworld-mlp512-10000-seed1-kept")
model = tm.load(recipe.tokenizer, path)
if kept.exists():
    tm.tail_average(model, [kept / f"step{s}.safetensors" for s in recipe.tail_average_of[:-1]])
else:  # the same average was committed in drafts until it shipped (its weights equal the checkpoint's)
    committed = Path(__file__).with_name("tinyworld-seed1-tail-6k-8k-10k.safetensors")
    if not committed.exists():
        sys.exit(f"no kept folder at {kept} and no {committed.name}: restore it with "
                 f"git show 9d1b323:drafts/tail_average/{committed.name} > {committed}")
    model.load_state_dict(weights.load_state(committed))
model.eval()
card["weights"] = card["weights"].replace("; evals_during_training", tm._tail_words(recipe.tail_average_of) + "; evals_during_training")
with torch.no_grad():
    card["metrics"] = recipe.metrics(model)
card.pop("sha256", None)
card = weights.save_model(model, path, card, dtype=recipe.weights_dtype)  # adds the file's sha256 and size
if kept.exists():
    card = tm.add_training_table("tinyworld", zoo.CHECKPOINT_DIR, kept_dir=kept)
else:
    model.card = card
    with torch.no_grad():
        card["what_training_buys"][-1].update(evaluate.tinyworld_metrics(model, quick=True))
    weights.write_card(path, card)
print({k: round(v, 3) for k, v in card["metrics"].items() if isinstance(v, float)})
