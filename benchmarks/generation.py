"""Greedy generation speed: our KV cache against recomputing everything, and against Hugging Face
``generate`` (with its cache) on the same weights. 16-token prompt, 256 new tokens, 4 layers.

Targets: cache speedup >= 3x; our cached tokens/s >= 1.5x Hugging Face's. Run: python benchmarks/generation.py
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


def main(prompt_len=16, new=256, threads=2):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = ModelConfig(n_layers=4, d_model=256, n_heads=4, d_head=64, d_mlp=1024, d_vocab=4096, n_ctx=512)
    model = HookedTransformer(cfg).eval()
    hf = to_hf(model)
    hf.generation_config.pad_token_id = 0
    prompt = torch.randint(0, cfg.d_vocab, (1, prompt_len))

    def hf_generate():
        with torch.inference_mode():
            return hf.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=True)

    ours_cached = model.generate(prompt, new, use_cache=True)
    same = torch.equal(ours_cached, model.generate(prompt, new, use_cache=False))
    same_hf = torch.equal(ours_cached, hf_generate())
    t = interleaved({
        "cached": lambda: model.generate(prompt, new, use_cache=True),
        "uncached": lambda: model.generate(prompt, new, use_cache=False),
        "hf": hf_generate,
    }, repeats=3, warmup=1)
    tps = {k: new / v for k, v in t.items()}
    print(f"greedy, {prompt_len}-token prompt + {new} new, 4 layers x 256 wide, {threads} threads")
    print(f"cached == uncached tokens: {same}; ours == Hugging Face tokens: {same_hf}")
    print(table([
        ["what", "tokens/s", "ratio"],
        ["course model, KV cache", f"{tps['cached']:.0f}", "1.00"],
        ["course model, no cache", f"{tps['uncached']:.0f}", f"cache speedup {t['uncached'] / t['cached']:.2f}x (target >= 3)"],
        ["Hugging Face generate, cache", f"{tps['hf']:.0f}", f"ours / HF {tps['cached'] / tps['hf']:.2f}x (target >= 1.5)"],
    ]))


if __name__ == "__main__":
    main()
