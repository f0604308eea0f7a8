"""Proxy run: tinyworld's recipe shortened to STEPS steps (the cosine schedule shortened with it) on a
given corpus module, optionally with another MLP width. usage: proxy_train.py NAME CORPUS_MODULE STEPS THREADS [D_MLP]
e.g. proxy_train.py v4z course.corpus_v4 2500 1 (writes proxy/v4z.safetensors and its card)

A proxy ships the last step's weights (no moving average): averaging from step 1,001 with decay 0.999
over a 2,500-step run mixes in the weights of steps where the model still changed fast, and measured
far below the raw weights (stop 30: v5a's averaged card facts 0.194 against 0.481 raw). v4z, the
reference every proxy is compared with, had no average either."""
import dataclasses
import sys
import time
from pathlib import Path

import torch

name, corpus, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d_mlp = int(sys.argv[5]) if len(sys.argv) > 5 else None
torch.set_num_threads(threads)
from course import tinyworld_models as tm  # noqa: E402

base = tm.RECIPES["tinyworld"]
model = dataclasses.replace(base.model, d_mlp=d_mlp) if d_mlp else base.model
tm.RECIPES[name] = dataclasses.replace(base, corpus=corpus, keep_every=0, model=model, average_decay=0.0,
                                       train=dataclasses.replace(base.train, steps=steps, eval_every=steps))
t = time.time()
card = tm.train_recipe(name, Path(__file__).parent / "proxy", progress=True)
print("seconds", time.time() - t)
