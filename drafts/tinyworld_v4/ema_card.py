"""Give the candidate's EMA-0.999 weights a full card, as train_recipe would: the recipe's full
metrics on the averaged weights, and a what_training_buys table from the averages kept every 2,000
steps. usage: ema_card.py RUN_DIR OUT_DIR  (RUN_DIR: full_train.py's output)"""
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from course import evaluate, weights
from course import tinyworld_models as tm
from course.model import HookedTransformer
from course.tokenizer import Tokenizer

torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
run, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
recipe = tm.RECIPES["tinyworld"]
raw_card = weights.read_card(run / "tinyworld.safetensors")


def averaged(path: Path) -> HookedTransformer:
    model = HookedTransformer(recipe.model, tokenizer=Tokenizer.load(recipe.tokenizer))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()}, strict=False)
    model.card = raw_card  # corpus_v4: what evaluate.seen_tokens reads
    return model.eval()


final = averaged(run / "tinyworld.ema0.999.safetensors")
with torch.no_grad():
    metrics = recipe.metrics(final)
    metrics.update(evaluate.fresh_ioi_metrics(final))
rows = []
for step in (2000, 4000, 6000, 8000):
    with torch.no_grad():
        rows.append({"step": step, **evaluate.tinyworld_metrics(averaged(run / f"tinyworld-kept/ema0.999_step{step}.safetensors"), quick=True)})
with torch.no_grad():
    rows.append({"step": 10000, **evaluate.tinyworld_metrics(final, quick=True)})
for row in rows:
    row["tokens"] = row["step"] * raw_card["recipe"]["batch_size"] * raw_card["recipe"]["seq_len"]
card = {**raw_card, "metrics": metrics, "what_training_buys": rows}
card.pop("sha256", None)
card.pop("config", None)
weights.save_model(final, out / "tinyworld.safetensors", card)
print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}, indent=1))
