"""Proxy run: tinyworld's recipe for STEPS steps on a given corpus. usage: proxy_train.py NAME CORPUS STEPS THREADS"""
import sys, time, dataclasses, json
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import torch
name, corpus, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
from pathlib import Path
from course import tinyworld_models as tm
base = tm.RECIPES["tinyworld"]
tm.RECIPES[name] = dataclasses.replace(base, corpus=corpus, keep_every=0,
                                       train=dataclasses.replace(base.train, steps=steps, eval_every=steps))
t = time.time()
card = tm.train_recipe(name, Path(__file__).parent / "proxy", progress=True)
print("seconds", time.time() - t)
