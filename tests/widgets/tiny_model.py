"""The model widget tests run on: a real ``course.model.HookedTransformer`` from a tiny config
(built in milliseconds), with a word-level tokenizer whose vocabulary holds hostile and invisible
strings on purpose, so every token a widget draws from the model is a test of escaping."""

from __future__ import annotations

import torch

from course.config import ModelConfig
from course.model import HookedTransformer

HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    "</script><script>window.__pwned=1</script>",
    '"><svg onload=window.__pwned=1>',
    "${window.__pwned=1}",
]
SPECIAL = ["<bos>", " ", "\n", "", "\u200b", "שלום", "🙂", " the", "\t"]
VOCAB = SPECIAL + HOSTILE + [f"w{i}" for i in range(40 - len(SPECIAL) - len(HOSTILE))]
N_WORDS = len(VOCAB) - len(SPECIAL) - len(HOSTILE)


class WordTokenizer:
    """Words split on single spaces: a word of VOCAB is its own token, any other word one of the
    w-tokens (by a fixed hash). Id 0 is BOS."""

    bos_id = 0

    def encode(self, text: str) -> list[int]:
        return [VOCAB.index(w) if w in VOCAB else len(SPECIAL) + len(HOSTILE) + sum(map(ord, w)) % N_WORDS
                for w in text.split(" ")]

    def decode(self, ids) -> str:
        return "".join(VOCAB[int(i)] for i in ids)


def tiny_model(seed: int = 0) -> HookedTransformer:
    """Two layers of four heads, d_model 16, LayerNorm and MLPs, weights drawn with a large
    init_std so that its patterns and predictions are far from uniform; LayerNorm scales and every
    bias are random too, so a widget that leaves one out (as a linear logit lens would) shows it."""
    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=4, d_head=4, d_mlp=32, d_vocab=len(VOCAB), n_ctx=128,
                      init_std=0.3)
    model = HookedTransformer(cfg, tokenizer=WordTokenizer())
    model.init_weights(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            short = name.split(".")[-1]
            if short == "w" or short.startswith("b"):  # a LayerNorm's scale w and bias b, every other bias
                p.add_(0.5 * torch.randn(p.shape, generator=generator))
    return model.eval()
