"""Issue 19 experiment: is chapter 13's mixture-of-experts variant better at IOI and facts because of
its routing or because of its MLP capacity (4 experts x 256 = 1024 hidden neurons, 512 active)?

Trains tinyworld-gpt2's recipe (TinyWorld v3, 4,000 steps, same seed and data) with a dense MLP of
width ``d_mlp`` (default 1024: the experts' total), and writes the card to drafts/mlp_width/out/.
``seed`` (default 0, the variants' seed) changes the initialisation and the data order, to measure
how far two runs of one recipe differ.

    python drafts/mlp_width/train_wide.py [d_mlp] [threads] [seed]
"""

import dataclasses
import sys
import time
from pathlib import Path

import torch

from course import tinyworld_models as tm

d_mlp = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
name = f"tinyworld-gpt2-mlp{d_mlp}" + (f"-seed{seed}" if seed else "")
base = tm.RECIPES["tinyworld-gpt2"]
tm.RECIPES[name] = dataclasses.replace(
    base, model=dataclasses.replace(base.model, d_mlp=d_mlp),
    train=dataclasses.replace(base.train, seed=seed, data_seed=seed),
    description=f"tinyworld-gpt2 with a dense MLP of {d_mlp} (issue 19 experiment)")
t = time.time()
card = tm.train_recipe(name, Path(__file__).parent / "out", progress=True)
print(f"done in {time.time() - t:.0f} s")
m = card["metrics"]
for k in ["ioi_accuracy_ABBA", "ioi_accuracy_BABA", "validation_ioi_accuracy_ABBA", "validation_ioi_accuracy_BABA",
          "fact_accuracy_held_out_phrasings", "validation_fact_accuracy", "two_hop_held_out_accuracy",
          "validation_two_hop_accuracy", "addition_held_out_accuracy", "held_out_loss"]:
    print(k, round(m[k], 3))
