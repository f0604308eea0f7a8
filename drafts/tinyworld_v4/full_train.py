"""The full v4 candidate: tinyworld's recipe (10,000 steps of 32 x 128, bf16, keep every 2,000) on
course.corpus_v4, written to OUT as `tinyworld` would be. Resumable: rerun the same command after an
interruption (train state every 500 steps). usage: full_train.py OUT THREADS"""
import dataclasses
import sys
import time
from pathlib import Path

import torch

out, threads = Path(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from course import tinyworld_models as tm  # noqa: E402

tm.RECIPES["tinyworld"] = dataclasses.replace(tm.RECIPES["tinyworld"], corpus="course.corpus_v4")
t = time.time()
card = tm.train_recipe("tinyworld", out, progress=True)
print("seconds", round(time.time() - t), {k: v for k, v in card["metrics"].items() if not isinstance(v, (dict, list))})
