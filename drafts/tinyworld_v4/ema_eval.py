"""The candidate's raw weights against its moving averages (full_train.py), on the quick card
metrics and the fresh IOI frames. usage: ema_eval.py OUT_DIR [STEP]  (STEP: the kept weights of that step)"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from course import evaluate
from course.model import HookedTransformer
from course.tokenizer import Tokenizer
from course import tinyworld_models as tm

torch.set_num_threads(1)
out = Path(sys.argv[1])
step = int(sys.argv[2]) if len(sys.argv) > 2 else None
raw = out / (f"tinyworld-kept/step{step}.safetensors" if step else "tinyworld.safetensors")
files = {"raw": raw, **{f"ema{d}": out / (f"tinyworld-kept/ema{d}_step{step}.safetensors" if step
                                         else f"tinyworld.ema{d}.safetensors") for d in (0.999, 0.9998)}}
recipe = tm.RECIPES["tinyworld"]
model = HookedTransformer(recipe.model, tokenizer=Tokenizer.load(recipe.tokenizer))  # each file's weights go in below
model.card = {"data": {"corpus": "course.corpus_v4"}}
KEYS = ["ioi_accuracy", "ioi_accuracy_ABBA", "ioi_accuracy_BABA", "validation_ioi_accuracy", "fresh_ioi_accuracy",
        "fact_accuracy_held_out_phrasings", "fact_accuracy_train_phrasing", "validation_fact_accuracy",
        "two_hop_held_out_accuracy", "validation_two_hop_accuracy", "addition_held_out_accuracy", "repeat_loss_gap",
        "held_out_loss"]
rows = {}
for name, path in files.items():
    state = load_file(str(path))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    model.eval()
    with torch.no_grad():
        m = evaluate.tinyworld_metrics(model, quick=True)
        m.update(evaluate.fresh_ioi_metrics(model))
        m["held_out_loss"] = evaluate.held_out_loss(model)
    rows[name] = m
print(f"{'':36s}" + "".join(f"{n:>11s}" for n in rows))
for k in KEYS:
    print(f"{k:36s}" + "".join(f"{rows[n].get(k, float('nan')):11.3f}" for n in rows))
