"""Card metrics (evaluate.tinyworld_metrics) and fresh2 of the continued run's kept moving averages
and of their uniform tail average, beside the shipped model's, in one table.

    OMP_NUM_THREADS=1 PYTHONPATH=drafts/fresh2 python drafts/continue/eval.py OUT_DIR STEP... [--tail A,B,C]
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

import fresh2
from course import evaluate, zoo
from course.tinyworld_models import tail_average

torch.set_num_threads(1)
out = Path(sys.argv[1])
args = sys.argv[2:]
tails = [a.split(",") for a in args[args.index("--tail") + 1:]] if "--tail" in args else []
steps = args[:args.index("--tail")] if "--tail" in args else args
model = zoo.load("tinyworld")
shipped = {k: v.clone() for k, v in model.state_dict().items()}


def measure(name: str, state: dict) -> None:
    path = out / f"{name}.metrics.json"
    if path.exists():
        return
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        metrics = {**evaluate.tinyworld_metrics(model), **fresh2.measure(model)}
    path.write_text(json.dumps(metrics, indent=1))
    print(name, {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)}, flush=True)


measure("shipped", shipped)
for s in steps:
    measure(f"step{s}", load_file(str(out / f"step{s}.safetensors")))
for tail in tails:  # the recipe's own tail average: the last kept step's weights averaged with the earlier ones
    model.load_state_dict(load_file(str(out / f"step{tail[-1]}.safetensors")))
    tail_average(model, [out / f"step{s}.safetensors" for s in tail[:-1]])
    measure("tail" + "-".join(tail), {k: v.clone() for k, v in model.state_dict().items()})
