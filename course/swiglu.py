"""The SwiGLU MLP (Shazeer 2020, "GLU Variants Improve Transformer"), Llama's replacement for
GPT-2's MLP: a second input matrix W_in whose output is multiplied, neuron by neuron, by the
SiLU of a gate, x W_gate. Three matrices instead of two, so at equal parameter count d_mlp is
about 2/3 of GPT-2's.

Hooks follow TransformerLens's gated MLP: ``hook_pre`` is the gate before SiLU (the neuron's
pre-activation, as in the standard MLP), ``hook_pre_linear`` is x W_in, ``hook_post`` their product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course.config import ModelConfig
from course.hooks import HookPoint


class SwiGLU(nn.Module):
    """W_out (silu(x W_gate + b_gate) * (x W_in + b_in)) + b_out."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.W_gate = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.b_gate = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.hook_pre = HookPoint("batch pos d_mlp")
        self.hook_pre_linear = HookPoint("batch pos d_mlp")
        self.hook_post = HookPoint("batch pos d_mlp")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.hook_pre(F.linear(x, self.W_gate.T, self.b_gate))  # [batch pos d_mlp]
        linear = self.hook_pre_linear(F.linear(x, self.W_in.T, self.b_in))
        post = self.hook_post(F.silu(gate) * linear)
        return F.linear(post, self.W_out.T, self.b_out)  # [batch pos d_model]
