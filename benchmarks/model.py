"""Forward-pass cost of the course model against Hugging Face GPT-2, same weights, same inputs.

Prints: plain forward / HF forward (target <= 1.10), run_with_cache of every hook / plain forward
(target <= 1.5), and the cache's size. Run: python benchmarks/model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved, table  # noqa: E402

from course.config import ModelConfig  # noqa: E402
from course.hf import to_hf  # noqa: E402
from course.model import HookedTransformer  # noqa: E402


def main(n_layers=4, d_model=256, batch=8, pos=256, threads=2):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = ModelConfig(n_layers=n_layers, d_model=d_model, n_heads=d_model // 64, d_head=64, d_mlp=4 * d_model,
                      d_vocab=4096, n_ctx=pos)
    model = HookedTransformer(cfg).eval()
    hf = to_hf(model)
    tokens = torch.randint(0, cfg.d_vocab, (batch, pos))
    with torch.inference_mode():
        diff = (hf(tokens).logits - model(tokens)).abs().max().item()
        _, cache = model.run_with_cache(tokens)
        t = interleaved({
            "hf": lambda: hf(tokens),
            "ours": lambda: model(tokens),
            "ours_cache": lambda: model.run_with_cache(tokens),
        })
    print(f"{n_layers} layers x {d_model} wide, batch {batch} x {pos}, {threads} threads; max |logit diff| = {diff:.1e}")
    print(table([
        ["what", "median s", "ratio"],
        ["HF GPT2LMHeadModel forward", f"{t['hf']:.4f}", "1.00"],
        ["course model forward (no hooks)", f"{t['ours']:.4f}", f"{t['ours'] / t['hf']:.2f} x HF (target <= 1.10)"],
        ["run_with_cache (all hooks)", f"{t['ours_cache']:.4f}",
         f"{t['ours_cache'] / t['ours']:.2f} x forward (target <= 1.5)"],
    ]))
    raw = sum(v.numel() * v.element_size() for v in cache.values())
    print(f"cache: {len(cache)} activations, {raw / 1e6:.0f} MB as listed, {cache.n_bytes / 1e6:.0f} MB unique storage")


if __name__ == "__main__":
    main()
