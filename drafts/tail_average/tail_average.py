"""Issue 19, stop 37: does a uniform average of the weights a run kept late (its moving averages at
steps 6,000 / 8,000 / 10,000, say) generalise better than the last one? A weight average over a
longer tail of one run costs no training: the kept snapshots already exist (Recipe.keep_every).

    OMP_NUM_THREADS=1 PYTHONPATH=drafts/tinyworld_v5:drafts/fresh2 python drafts/tail_average/tail_average.py \
        CARD.json FINAL.safetensors KEPT_DIR STEP... [--full]

Prints fresh2 (IOI on 12 frames, facts, two-hop) and, with --full, writes the card metrics of the
average beside this script (tail-<card stem>-<steps>.metrics.json) for compare_main.py.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

import fresh2
from course import evaluate
from course.config import ModelConfig
from course.model import HookedTransformer

torch.set_num_threads(1)
args = [a for a in sys.argv[1:] if a != "--full"]
card_path, final, kept_dir, steps = Path(args[0]), args[1], Path(args[2]), args[3:]
card = json.loads(card_path.read_text())
total = card["recipe"]["steps"]
files = [final if int(s) == total else str(kept_dir / f"step{s}.safetensors") for s in steps]
states = [load_file(f) for f in files]
average = {k: sum(s[k] for s in states) / len(states) for k in states[0]}
model = HookedTransformer(ModelConfig.from_dict(card["config"]), tokenizer=fresh2.load("tinyworld").tokenizer)
model.load_state_dict(average)
model.card = card
model.eval()
with torch.no_grad():
    quick = fresh2.measure(model)
    print(card_path.stem, "steps", "+".join(steps), {k: round(v, 3) for k, v in quick.items() if isinstance(v, float)})
    if "--full" in sys.argv:
        out = {**evaluate.tinyworld_metrics(model), **quick}
        path = Path(__file__).with_name(f"tail-{card_path.stem}-{'-'.join(steps)}.metrics.json")
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(path)
