"""Rotary position embeddings (RoPE; Su et al. 2021), as Llama uses them. Nothing is added to the
residual stream: each query and key is rotated by an angle proportional to its position, so the
dot product of a query at i and a key at j depends on positions only through i - j.

Dimension c of a head is paired with dimension c + d_head/2 (the "rotate half" layout of GPT-NeoX
and Hugging Face's Llama, so its weights import unpermuted); pair c turns by pos * base^(-2c/d_head).
"""

from __future__ import annotations

import torch
from torch import nn

from course.config import ModelConfig


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a quarter turn of every pair."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Rotary(nn.Module):
    """Turns ``[batch pos head_index d_head]`` queries or keys by their position's angles."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        inv_freq = 1.0 / cfg.rotary_base ** (torch.arange(0, cfg.d_head, 2, dtype=torch.float32) / cfg.d_head)
        angles = torch.outer(torch.arange(cfg.n_ctx, dtype=torch.float32), inv_freq)  # [pos d_head/2]
        angles = torch.cat([angles, angles], dim=-1)  # [pos d_head]: both members of a pair turn alike
        # Tables of the rotation, computed once; not in the state dict (they are not learned).
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """``offset``: the absolute position of x's first row (the length of the KV cache)."""
        pos = x.shape[1]
        cos = self.cos[offset : offset + pos, None].to(x.dtype)  # [pos 1 d_head], broadcast over heads
        sin = self.sin[offset : offset + pos, None].to(x.dtype)
        return x * cos + rotate_half(x) * sin
