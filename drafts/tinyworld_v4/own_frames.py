"""IOI on the fresh frames (course.evalsets.FRESH_IOI_FRAMES, written at stop 27 after corpus_v4 was
pinned). usage: own_frames.py [WEIGHTS]  (default: the shipped tinyworld and chapter 13's variants)"""
import sys
from pathlib import Path

import torch

from course import evaluate, zoo
from course import tinyworld_models as tm

torch.set_num_threads(1)
models = ({sys.argv[1]: tm.load("tokenizer-v2.json", Path(sys.argv[1]))} if len(sys.argv) > 1 else
          {name: zoo.load(name) for name in ("tinyworld", "tinyworld-gpt2", "tinyworld-llama", "tinyworld-moe")})
for name, model in models.items():
    with torch.no_grad():
        r = evaluate.fresh_ioi_metrics(model.eval())
    print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
