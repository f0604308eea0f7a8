"""The one dataclass that describes a model of the course.

Every architectural choice is a field here, validated once in ``__post_init__``. Later chapters
add variants (RMSNorm, rotary positions, SwiGLU, grouped-query attention, mixture of experts) as
new values of these fields, each implemented in its own small module, not as branches in model.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

NORMALIZATIONS = ("LN", None)  # "RMS" is added by chapter 13's variants
ACTIVATIONS = ("gelu_new", "gelu", "relu")  # gelu_new: GPT-2's tanh approximation
POSITIONALS = ("learned",)  # "rotary" is added by chapter 13's variants


@dataclass
class ModelConfig:
    n_layers: int = 2  # number of transformer blocks
    d_model: int = 128  # width of the residual stream
    n_heads: int = 4  # attention heads per layer
    d_head: int = 32  # width of each head's query/key/value/z
    d_mlp: Optional[int] = 512  # hidden width of the MLP; None for an attention-only model
    d_vocab: int = 2048  # number of token ids
    n_ctx: int = 128  # longest sequence the positional embedding covers
    attn_only: bool = False  # no MLPs at all (the induction-head chapter's models)
    normalization: Optional[str] = "LN"  # "LN" (GPT-2's LayerNorm) or None (no normalisation)
    act_fn: str = "gelu_new"  # MLP non-linearity
    positional: str = "learned"  # how positions enter the residual stream
    tie_embeddings: bool = False  # W_U = W_E^T (GPT-2 ties them; the course's own models do not)
    ln_eps: float = 1e-5  # as in GPT-2
    init_std: float = 0.02  # as in GPT-2
    pos_init: str = "normal"  # "normal" (GPT-2) or "sinusoidal" (learned, but starting from Vaswani et al.'s sinusoids)
    pos_init_scale: float = 0.1  # amplitude of the sinusoidal start

    def __post_init__(self):
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_vocab", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}")
        if self.attn_only:
            self.d_mlp = None
        elif not isinstance(self.d_mlp, int) or self.d_mlp < 1:
            raise ValueError(
                f"ModelConfig.d_mlp must be a positive int (or set attn_only=True), got {self.d_mlp!r}"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"ModelConfig.normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.act_fn not in ACTIVATIONS:
            raise ValueError(f"ModelConfig.act_fn must be one of {ACTIVATIONS}, got {self.act_fn!r}")
        if self.pos_init not in ("normal", "sinusoidal"):
            raise ValueError(f"ModelConfig.pos_init must be 'normal' or 'sinusoidal', got {self.pos_init!r}")
        if self.positional not in POSITIONALS:
            raise ValueError(f"ModelConfig.positional must be one of {POSITIONALS}, got {self.positional!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; known fields are {sorted(known)}")
        return cls(**d)
