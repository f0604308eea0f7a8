"""Full evaluation of the weights a run kept along the way (its moving average at steps 2,000 /
4,000 / 6,000 / 8,000, written by ``Recipe.keep_every``), to ask whether a run's best model is its
last: the card's own ``what_training_buys`` rows use the quick sets only. Adds the fourth held-out set
(drafts/fresh2) and writes one JSON per snapshot beside the run's card.

    PYTHONPATH=drafts/tinyworld_v5:drafts/fresh2 python drafts/mlp_width/eval_kept.py CARD.json STEP...
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
card_path = Path(sys.argv[1])
card = json.loads(card_path.read_text())
kept_dir = card_path.with_name(card_path.stem + "-kept")
tokenizer = fresh2.load("tinyworld").tokenizer  # the shipped one, loaded once for every snapshot
for step in sys.argv[2:]:
    model = HookedTransformer(ModelConfig.from_dict(card["config"]), tokenizer=tokenizer)
    model.load_state_dict(load_file(str(kept_dir / f"step{step}.safetensors")))
    model.card = card
    model.eval()
    with torch.no_grad():
        metrics = {**evaluate.tinyworld_metrics(model), **fresh2.measure(model)}
    out = card_path.with_name(f"{card_path.stem}-step{step}.metrics.json")
    out.write_text(json.dumps(metrics, indent=1))
    print(out)
