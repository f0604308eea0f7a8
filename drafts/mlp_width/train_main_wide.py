"""Issue 19 candidate: the main model's recipe (TinyWorld v4, moving average with decay 0.999 from
step 1,001) with a dense MLP of 1,024 instead of 512, for 7,500 steps instead of 10,000 so that it
stays inside the issue's 90 minutes on 2 threads (1,024 costs 1.36x per step, NOTES.md).

Writes the card, the weights and the kept snapshots (steps 2,000 / 4,000 / 6,000 / 8,000, for the card's
scaling table) to drafts/mlp_width/out/. The run keeps a resumable state file there: started again
after an interruption, it continues from its last checkpoint.

    python drafts/mlp_width/train_main_wide.py [d_mlp] [steps] [threads] [corpus] [seed] [d_model] [keep_every]

``corpus`` (default tinyworld's, course.corpus_v4) names another corpus module, for example a draft:
    PYTHONPATH=drafts/tinyworld_v5 python drafts/mlp_width/train_main_wide.py 512 10000 2 corpus_v5b

``seed`` (default tinyworld's: 1 since stop 33, 0 before) sets both the initialisation and the
corpus stream; with the other arguments at tinyworld's values it is a seed control of the shipped
model (stop 32 trained seed 1 this way, when seed 0 was shipped):
    python drafts/mlp_width/train_main_wide.py 512 10000 2 course.corpus_v4 0
A run's name carries its seed unless it is 0, so the cards of stops 30-32 (seed 0) keep their names.

``d_model`` (default 128) widens the residual stream, with one head of 32 per 32 dimensions (stop 36:
4 x 192 with d_mlp 768 costs 1.3x a step of 4 x 128 on 2 threads, so 10,000 steps fit the 90 minutes):
    python drafts/mlp_width/train_main_wide.py 768 10000 2 course.corpus_v4 1 192

``keep_every`` (default the recipe's 2,000) keeps the moving average that often for
eval_kept.py, to see when along the run a circuit rises or falls:
    python drafts/mlp_width/train_main_wide.py 768 10000 2 course.corpus_v4 0 192 1000
"""

import dataclasses
import sys
import time
from pathlib import Path

import torch

from course import tinyworld_models as tm

d_mlp = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 7500
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
base = tm.RECIPES["tinyworld"]
corpus = sys.argv[4] if len(sys.argv) > 4 else base.corpus
seed = int(sys.argv[5]) if len(sys.argv) > 5 else base.train.seed
d_model = int(sys.argv[6]) if len(sys.argv) > 6 else base.model.d_model
keep_every = int(sys.argv[7]) if len(sys.argv) > 7 else base.keep_every
name = (f"tinyworld-mlp{d_mlp}-{steps}" + ("" if corpus == base.corpus else f"-{corpus}")
        + ("" if seed == 0 else f"-seed{seed}") + ("" if d_model == base.model.d_model else f"-d{d_model}"))
tm.RECIPES[name] = dataclasses.replace(
    base, model=dataclasses.replace(base.model, d_mlp=d_mlp, d_model=d_model, n_heads=d_model // base.model.d_head,
                                   n_key_value_heads=d_model // base.model.d_head),
    train=dataclasses.replace(base.train, steps=steps, seed=seed, data_seed=seed), corpus=corpus, keep_every=keep_every,
    description=f"tinyworld's recipe, d_model {d_model}, with a dense MLP of {d_mlp} for {steps} steps on {corpus}, seed {seed} "
                "(issue 19 candidate)")
t = time.time()
card = tm.train_recipe(name, Path(__file__).parent / "out", progress=True)
print(f"done in {time.time() - t:.0f} s")
for k, v in card["metrics"].items():
    if isinstance(v, (int, float)):
        print(k, round(v, 3))
