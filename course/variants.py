"""The three architectures chapter 13 trains on TinyWorld v3 (course.corpus_v3), at the size of the main model
(the main `tinyworld` recipe in course.tinyworld_models: 4 layers, d_model 128, 4 heads of 32, d_vocab 3072, n_ctx 128).

- ``gpt2``: the course's model as it is: LayerNorm, learned positions, a GELU MLP of 512.
- ``llama``: RMSNorm, rotary positions, a SwiGLU MLP and grouped-query attention with 2 key/value
  heads. Grouped K and V save 2 * 128 * 64 weights a layer and SwiGLU has three matrices, so
  d_mlp = 384 makes the attention and MLP matrices exactly as many as gpt2's (3 * 128 * 384 +
  2 * 128 * 128 + 2 * 128 * 64 = 4 * 128 * 128 + 2 * 128 * 512); only W_pos and the norms' biases
  differ.
- ``moe``: gpt2 with each MLP replaced by 4 experts of width 256, top-2 routing (Mixtral's
  recipe): each token runs 2 * 256 = 512 hidden neurons, gpt2's active compute, out of 1024.
  Train it with ``model.aux_loss()`` added to the loss (course/moe.py).
"""

from __future__ import annotations

import dataclasses
import difflib

from course.config import ModelConfig

SIZE = dict(n_layers=4, d_model=128, n_heads=4, d_head=32, d_vocab=3072, n_ctx=128)

VARIANTS = {
    "gpt2": ModelConfig(**SIZE, d_mlp=512),
    "llama": ModelConfig(**SIZE, d_mlp=384, normalization="RMS", positional="rotary", mlp="swiglu",
                         n_key_value_heads=2),
    "moe": ModelConfig(**SIZE, d_mlp=256, n_experts=4, experts_per_token=2),
}


def config(name: str) -> ModelConfig:
    """A fresh copy of the named variant's config."""
    if name not in VARIANTS:
        close = difflib.get_close_matches(name, VARIANTS, n=1)
        raise KeyError(f"no variant {name!r}{f'; did you mean {close[0]!r}?' if close else ''} "
                       f"Variants: {sorted(VARIANTS)}")
    return dataclasses.replace(VARIANTS[name])


def parameter_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameters of a model of this config: ``total``; ``embedding`` (W_E, W_U, b_U, W_pos);
    ``active``, those a token uses (a mixture of experts runs only its top-k experts)."""
    from course.model import HookedTransformer

    model = HookedTransformer(cfg)
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for name, p in model.named_parameters()
                    if name.startswith(("embed.", "unembed.", "pos_embed.")))
    idle = 0
    if cfg.n_experts is not None:
        per_expert = sum(p.numel() for p in model.blocks[0].mlp.experts[0].parameters())
        idle = cfg.n_layers * (cfg.n_experts - cfg.experts_per_token) * per_expert
    return {"total": total, "embedding": embedding, "active": total - idle}
