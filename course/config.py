"""The one dataclass that describes a model of the course.

Every architectural choice is a field here, validated once in ``__post_init__``. The defaults are
GPT-2's; chapter 13's variants (RMSNorm, rotary positions, SwiGLU, grouped-query attention, mixture
of experts) are values of these fields, each implemented in its own small module (rmsnorm.py,
rotary.py, swiglu.py, moe.py) and chosen by model.py's factories. ``course.variants`` names the
combinations the course trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

NORMALIZATIONS = ("LN", "RMS", None)  # LayerNorm (GPT-2), RMSNorm (Llama), none
ACTIVATIONS = ("gelu_new", "gelu", "relu", "silu")  # gelu_new: GPT-2's tanh approximation; silu: SwiGLU's gate
POSITIONALS = ("learned", "rotary")  # a learned W_pos added to the stream (GPT-2), or rotated queries and keys (Llama)
MLPS = ("standard", "swiglu")  # W_out act(W_in x) (GPT-2), or W_out (silu(W_gate x) * W_in x) (Llama)


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
    normalization: Optional[str] = "LN"  # "LN" (GPT-2's LayerNorm), "RMS" (Llama's RMSNorm) or None
    act_fn: Optional[str] = None  # MLP non-linearity; None: the MLP's own (gelu_new for "standard", silu for "swiglu")
    positional: str = "learned"  # "learned" (W_pos, GPT-2) or "rotary" (RoPE on queries and keys, no W_pos)
    rotary_base: float = 10000.0  # RoPE's theta: pair i of a head turns by pos * base^(-2i/d_head) (Su et al. 2021)
    mlp: str = "standard"  # "standard" (GPT-2) or "swiglu" (Shazeer 2020, Llama)
    n_key_value_heads: Optional[int] = None  # heads of keys and values, shared by groups of query heads; None: n_heads
    n_experts: Optional[int] = None  # None: one dense MLP a block; k: a mixture of k experts, each of width d_mlp
    experts_per_token: int = 1  # top-k routing: experts that process each token (1 as Switch, 2 as Mixtral)
    router_aux_loss_coef: float = 0.01  # weight of the load-balancing loss in model.aux_loss() (Fedus et al. 2022)
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
        if self.mlp not in MLPS:
            raise ValueError(f"ModelConfig.mlp must be one of {MLPS}, got {self.mlp!r}")
        if self.act_fn is None:
            self.act_fn = "silu" if self.mlp == "swiglu" else "gelu_new"
        if self.act_fn not in ACTIVATIONS:
            raise ValueError(f"ModelConfig.act_fn must be one of {ACTIVATIONS}, got {self.act_fn!r}")
        if self.mlp == "swiglu" and self.act_fn != "silu":
            raise ValueError(f"ModelConfig.act_fn must be 'silu' (or None) with mlp='swiglu', got {self.act_fn!r}")
        if self.pos_init not in ("normal", "sinusoidal"):
            raise ValueError(f"ModelConfig.pos_init must be 'normal' or 'sinusoidal', got {self.pos_init!r}")
        if self.positional not in POSITIONALS:
            raise ValueError(f"ModelConfig.positional must be one of {POSITIONALS}, got {self.positional!r}")
        if self.positional == "rotary" and self.pos_init != "normal":
            raise ValueError("ModelConfig.pos_init applies to learned positions; a rotary model has no W_pos")
        if self.positional == "rotary" and (self.d_head % 2 or self.rotary_base <= 0):
            raise ValueError(f"ModelConfig: rotary positions turn pairs of dimensions, so d_head must be even "
                             f"(got {self.d_head}) and rotary_base positive (got {self.rotary_base})")
        if self.n_key_value_heads is None:
            self.n_key_value_heads = self.n_heads
        if (not isinstance(self.n_key_value_heads, int) or self.n_key_value_heads < 1
                or self.n_heads % self.n_key_value_heads):
            raise ValueError(f"ModelConfig.n_key_value_heads must divide n_heads={self.n_heads} (each key/value head "
                             f"serves a group of query heads), got {self.n_key_value_heads!r}")
        if self.n_experts is not None:
            if self.attn_only or not isinstance(self.n_experts, int) or self.n_experts < 1:
                raise ValueError(f"ModelConfig.n_experts must be a positive int on a model with MLPs (or None for "
                                 f"a dense MLP), got {self.n_experts!r} with attn_only={self.attn_only}")
            if not 1 <= self.experts_per_token <= self.n_experts:
                raise ValueError(f"ModelConfig.experts_per_token must be between 1 and n_experts={self.n_experts}, "
                                 f"got {self.experts_per_token!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; known fields are {sorted(known)}")
        return cls(**d)
