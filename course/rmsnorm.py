"""RMSNorm (Zhang & Sennrich 2019), Llama's replacement for LayerNorm: divide by the root mean
square, then multiply by w. No centring and no bias, so it is cheaper and has one parameter fewer.

The hooks are LayerNorm's (``hook_scale``, ``hook_normalized``), so every tool that reads a norm's
scale works on both; ``frozen`` is the norm as a linear map, used by direct logit attribution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course.config import ModelConfig
from course.hooks import HookPoint


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * w, in float32 as Llama computes it."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.eps = cfg.ln_eps
        self.w = nn.Parameter(torch.ones(cfg.d_model))
        self.hook_scale = HookPoint("batch pos 1")
        self.hook_normalized = HookPoint("batch pos d_model")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.hook_scale.has_hooks or self.hook_normalized.has_hooks):
            return F.rms_norm(x, x.shape[-1:], self.w, self.eps)  # same maths, one fused kernel
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())  # [batch pos 1]
        return self.hook_normalized(x / scale * self.w)

    def frozen(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The norm as a fixed linear map: divide by a given (cached) scale, times w."""
        return x / scale * self.w.detach()
