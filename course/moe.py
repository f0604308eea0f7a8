"""A mixture-of-experts MLP (Shazeer et al. 2017; Switch, Fedus et al. 2022; Mixtral): several
expert MLPs per block and a router that sends each token to its top-k of them. Parameters grow
with the number of experts; the compute per token grows only with k.

Routing: probabilities softmax(x W_router) over experts; each token's top-k experts get a gate
(the probability itself when k = 1, as in Switch, so the router learns from the loss; the top-k
probabilities renormalised to sum to 1 when k > 1, as in Mixtral), every other expert gets 0.
Each expert then runs only on the tokens whose gate for it is non-zero, so a hook that edits
``hook_gates`` re-routes tokens (zero a column to ablate an expert).

Hooks: ``hook_router_probs`` and ``hook_gates`` ``[batch pos expert]``; ``hook_expert_out``
``[batch pos expert d_model]``, each expert's output before gating (zero where it did not run);
the MLP's output is the gate-weighted sum over the expert axis. Inside expert e,
``experts.{e}.hook_pre`` / ``hook_post`` see only the tokens routed to it: ``[routed d_mlp]``, in
the order of the flattened (batch pos) positions whose gate for e is non-zero.

Load balancing: after each forward ``aux_loss`` holds Switch's auxiliary loss (1.0 when tokens and
router probability spread evenly). A training loop adds ``model.aux_loss()``, the mean over layers
weighted by ``cfg.router_aux_loss_coef``: ``loss = next_token_loss(model(tokens), tokens) + model.aux_loss()``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from course.config import ModelConfig
from course.hooks import HookPoint


def load_balancing_loss(probs: torch.Tensor, gates: torch.Tensor, k: int) -> torch.Tensor:
    """Switch Transformer's auxiliary loss (Fedus et al. 2022, eq. 4): n_experts * sum_e f_e P_e,
    f_e the fraction of routing slots that went to expert e, P_e its mean router probability.
    Minimal, 1.0, when both are uniform. probs, gates: ``[... expert]``."""
    n_experts = probs.shape[-1]
    fraction = (gates != 0).flatten(0, -2).float().mean(0) / k  # [expert], sums to 1
    mean_prob = probs.flatten(0, -2).mean(0)  # [expert]
    return n_experts * (fraction * mean_prob).sum()


class MoE(nn.Module):
    """``n_experts`` MLPs of width d_mlp (each what ``make_expert`` builds) and a router."""

    def __init__(self, cfg: ModelConfig, make_expert: Callable[[ModelConfig], nn.Module]):
        super().__init__()
        self.k = cfg.experts_per_token
        self.W_router = nn.Parameter(torch.empty(cfg.d_model, cfg.n_experts))
        self.experts = nn.ModuleList(make_expert(cfg) for _ in range(cfg.n_experts))
        for module in self.experts.modules():
            if isinstance(module, HookPoint):  # an expert sees a list of tokens, not the whole [batch pos]
                module.shape = module.shape.replace("batch pos", "routed")
        self.hook_router_probs = HookPoint("batch pos expert")
        self.hook_gates = HookPoint("batch pos expert")
        self.hook_expert_out = HookPoint("batch pos expert d_model")
        self.aux_loss: Optional[torch.Tensor] = None  # set by each forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch pos d_model]
        probs = self.hook_router_probs((x @ self.W_router).softmax(dim=-1))  # [batch pos expert]
        top = probs.topk(self.k, dim=-1)
        weights = top.values / top.values.sum(-1, keepdim=True) if self.k > 1 else top.values
        gates = self.hook_gates(torch.zeros_like(probs).scatter(-1, top.indices, weights))
        self.aux_loss = load_balancing_loss(probs, gates, self.k)

        flat_x, flat_gates = x.flatten(0, -2), gates.flatten(0, -2)  # [token d_model], [token expert]
        expert_out = x.new_zeros(*flat_gates.shape, x.shape[-1])  # [token expert d_model]
        for e, expert in enumerate(self.experts):
            rows = flat_gates[:, e].nonzero().squeeze(-1)  # the tokens routed to expert e
            expert_out[rows, e] = expert(flat_x[rows]).to(expert_out.dtype)
        expert_out = self.hook_expert_out(expert_out.view(*gates.shape, -1))  # [batch pos expert d_model]
        return torch.einsum("bpe,bped->bpd", gates.to(expert_out.dtype), expert_out)
