"""Proxy run: tinyworld's recipe shortened to STEPS steps (the cosine schedule shortened with it) on a
given corpus module. usage: proxy_train.py NAME CORPUS_MODULE STEPS THREADS
e.g. PYTHONPATH=drafts/tinyworld_v5 proxy_train.py v5a corpus_v5 2500 1 (writes proxy/v4z.safetensors and its card)"""
import dataclasses
import sys
import time
from pathlib import Path

import torch

name, corpus, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
from course import tinyworld_models as tm  # noqa: E402

base = tm.RECIPES["tinyworld"]
tm.RECIPES[name] = dataclasses.replace(base, corpus=corpus, keep_every=0,
                                       train=dataclasses.replace(base.train, steps=steps, eval_every=steps))
t = time.time()
card = tm.train_recipe(name, Path(__file__).parent / "proxy", progress=True)
print("seconds", time.time() - t)
