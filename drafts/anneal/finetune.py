"""Issue 19 experiment: does a short final phase on a different data mix (an "anneal", as large
language models get at the end of pretraining) sharpen what the shipped model half-knows, without
undoing what it does well?

Starts from the shipped `tinyworld` (averaged weights), trains ``steps`` more steps with a fresh
AdamW at peak ``lr`` (warmup a tenth of the run, cosine to a tenth), on the recipe's corpus with
segment shares changed by ``kind=share`` arguments (the rest rescaled so the shares sum to 1), and
the recipe's random repeat rows. The data stream uses seed 101, not the recipe's. Measures the
result with the full `evaluate.tinyworld_metrics` and writes a card to drafts/anneal/cards/.

    python drafts/anneal/finetune.py NAME STEPS LR [kind=share ...] [--corpus MODULE] [--threads N] [--average DECAY]
    python drafts/anneal/finetune.py control 1000 2e-4
    python drafts/anneal/finetune.py facts30 1000 2e-4 fact=0.30
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from course import evaluate, zoo
from course import tinyworld_models as tm
from course.averaging import WeightAverage
from course.train import TrainConfig, packed_batches, train
from safetensors.torch import save_file

parser = argparse.ArgumentParser()
parser.add_argument("name")
parser.add_argument("steps", type=int)
parser.add_argument("lr", type=float)
parser.add_argument("shares", nargs="*", help="kind=share, e.g. fact=0.3")
parser.add_argument("--corpus", default=None)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--average", type=float, default=0.0, help="moving-average decay over the phase (0: none)")
args = parser.parse_args()
torch.set_num_threads(args.threads)

recipe = tm.RECIPES["tinyworld"]
corpus_name = args.corpus or recipe.corpus
corpus = __import__(corpus_name, fromlist=["MIX"])
mix = dict(corpus.MIX)
fixed = {k: float(v) for k, v in (s.split("=") for s in args.shares)}
unknown = set(fixed) - set(mix)
if unknown:
    raise SystemExit(f"unknown segment kinds {sorted(unknown)}; the corpus has {sorted(mix)}")
rest = 1 - sum(fixed.values())
scale = rest / sum(v for k, v in mix.items() if k not in fixed)
mix = {k: fixed.get(k, v * scale) for k, v in mix.items()}

model = zoo.load("tinyworld")
tokenizer = model.tokenizer
cfg = dataclasses.replace(recipe.train, steps=args.steps, lr=args.lr, warmup_steps=max(1, args.steps // 10),
                          eval_every=args.steps + 1, seed=101, data_seed=101)
stream = corpus.token_stream(tokenizer, seed=cfg.data_seed, mix=mix)
batches = tm.with_random_repeats(packed_batches(stream, cfg.batch_size, cfg.seq_len), tokenizer,
                                 recipe.random_repeat_rows, cfg.data_seed, recipe.corpus)
average = WeightAverage(args.average, start=0) if args.average else None
out = Path(__file__).parent / "out"
out.mkdir(exist_ok=True)
t = time.time()
history = train(model, batches, cfg, progress=False, bf16=recipe.bf16, average=average,
                state_path=out / f"{args.name}.state.safetensors")
if average is not None:
    average.copy_to(model)
seconds = time.time() - t
model.eval()
with torch.no_grad():
    metrics = evaluate.tinyworld_metrics(model)
save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / f"{args.name}.safetensors"))
cards = Path(__file__).parent / "cards"
cards.mkdir(exist_ok=True)
card = {"name": args.name, "from": "tinyworld (shipped, averaged)", "steps": args.steps, "lr": args.lr,
        "corpus": corpus_name, "mix": mix, "average": args.average, "training_seconds": round(seconds),
        "final_train_loss": sum(history["loss"][-50:]) / 50, "metrics": metrics}
(cards / f"{args.name}.json").write_text(json.dumps(card, indent=1))
print(f"done: {seconds:.0f} s training")
