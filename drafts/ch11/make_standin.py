"""Rebuild the stand-in files the chapter 11 draft runs on, in CH11_STANDIN (default /tmp/ch11):
per-layer and cross-layer transcoders for the shipped (old-tokenizer) tinyworld checkpoint, trained
500 steps each, and 32 sequences of held-out text. Not part of the course: delete it when the
chapter moves to zoo.load("tinyworld"), zoo.load("tinyworld-transcoders") and zoo.load("tinyworld-clt").

The text comes from the corpus the checkpoint was trained on, course/corpus.py as committed at
3e3562f (the working tree may hold a newer corpus for the next model), read with `git show`.

    OMP_NUM_THREADS=1 nice -n 19 python drafts/ch11/make_standin.py     # about 8 minutes on 1 thread
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

import course
from course import transcoders as T, weights
from course.tokenizer import Tokenizer
from course.train import packed_batches

CORPUS_COMMIT = "3e3562fa748ac4ace1ddb7d4bccd865c01265204"
OUT = Path(os.environ.get("CH11_STANDIN", "/tmp/ch11"))


def committed_corpus():
    root = Path(course.__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{CORPUS_COMMIT}:course/corpus.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "corpus_committed.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("corpus_committed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = committed_corpus()
    model = weights.load_model(Path(course.__file__).parent / "checkpoints" / "tinyworld.safetensors",
                               tokenizer=Tokenizer.load("tokenizer.json")).eval()
    tok = model.tokenizer
    batches = lambda seed, n: packed_batches(corpus.token_stream(tok, seed=seed), n, 128)  # noqa: E731
    text = next(batches(2, 32))
    save_file({"tokens": text.contiguous()}, str(OUT / "eval_tokens.safetensors"))
    train = T.TranscoderTrainConfig(steps=500, batch_size=1024, lr=2e-3, warmup_steps=50, buffer_tokens=32768,
                                    dead_after_tokens=50_000)
    for name, cross_layer in (("plt", False), ("clt", True)):
        cfg = T.TranscoderConfig(4, 128, 1024, cross_layer, 16)
        tc, history = T.train_transcoders(model, batches(1, 16), cfg, train)
        metrics = T.evaluate(tc, model, text[:16])
        T.save(tc, OUT / f"{name}-1024-k16-500.safetensors",
               {"name": f"standin-{name}", "metrics": metrics, "history": history})
        print(name, f"{history['seconds']:.0f} s", {k: round(v, 3) for k, v in metrics.items()})


if __name__ == "__main__":
    sys.exit(main())
