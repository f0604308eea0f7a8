"""The local learning coefficient (LLC), estimated with SGLD (Lau et al., 2023; the devinterp library).

The LLC measures how many effective directions a trained model's loss basin has: a simple
solution sits in a broad, flat basin (small LLC), a complex one in a sharper basin (larger LLC).
Singular learning theory predicts that models move between such basins in developmental stages,
and the LLC tracks them (Hoogland et al., 2024).

The estimator samples weights w near the trained weights w* from a *tempered, localised* posterior

    p(w) ~ exp(-n * beta * L_n(w) - gamma / 2 * |w - w*|^2)

with stochastic-gradient Langevin dynamics, and reports

    llc = n * beta * (mean of L_n(w) over the samples - L_n(w*)),

where n is the number of training tokens the loss averages over and beta = 1 / log(n), the
inverse temperature the theory suggests. gamma keeps the chain near w* ("local");
epsilon is the step size. Too large an epsilon and the loss trace explodes; too small and it
never leaves w*: the traces returned by ``estimate_llc`` are the diagnostic to look at.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

LossFn = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # (model, batch) -> mean loss


@dataclass
class SGLDConfig:
    epsilon: float = 1e-4  # step size
    gamma: float = 100.0  # strength of the pull back to w* (localisation)
    n_chains: int = 2  # independent chains, for a spread
    n_steps: int = 60  # steps per chain, burn-in included
    n_burnin: int = 20  # steps discarded at the start of each chain
    n_beta: float | None = None  # n * beta; default n / log(n)


def sgld_step(model: torch.nn.Module, anchor: list[torch.Tensor], loss: torch.Tensor, cfg: SGLDConfig,
              n_beta: float, generator: torch.Generator) -> None:
    """One Langevin step: w <- w - eps/2 * (n*beta * grad L + gamma * (w - w*)) + N(0, eps)."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        for p, p_star in zip(model.parameters(), anchor):
            drift = n_beta * p.grad + cfg.gamma * (p - p_star)
            noise = torch.randn(p.shape, generator=generator) * math.sqrt(cfg.epsilon)
            p.add_(-0.5 * cfg.epsilon * drift + noise.to(p.device))


def estimate_llc(model: torch.nn.Module, batches: Callable[[], Iterator[torch.Tensor]], loss_fn: LossFn,
                 n_tokens: int, cfg: SGLDConfig = SGLDConfig(), seed: int = 0) -> dict:
    """Estimate the LLC of ``model`` at its current weights. ``batches()`` yields minibatches
    (restarted for each chain); ``n_tokens`` is the size n of the data the loss stands for.
    Returns the estimate, its spread over chains, and the loss traces (the diagnostics)."""
    n_beta = cfg.n_beta if cfg.n_beta is not None else n_tokens / math.log(n_tokens)
    generator = torch.Generator().manual_seed(seed)
    anchor = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        init_loss = float(sum(loss_fn(model, b) for b, _ in zip(batches(), range(4))) / 4)
    estimates, traces = [], []
    for _ in range(cfg.n_chains):
        chain = copy.deepcopy(model).train()
        trace = []
        for step, batch in zip(range(cfg.n_steps), _cycle(batches)):
            loss = loss_fn(chain, batch)
            trace.append(loss.item())
            sgld_step(chain, anchor, loss, cfg, n_beta, generator)
        kept = trace[cfg.n_burnin:]
        estimates.append(n_beta * (sum(kept) / len(kept) - init_loss))
        traces.append(trace)
    mean = sum(estimates) / len(estimates)
    std = (sum((e - mean) ** 2 for e in estimates) / max(1, len(estimates) - 1)) ** 0.5
    return {"llc": mean, "llc_std": std, "chains": estimates, "traces": traces, "init_loss": init_loss,
            "n_beta": n_beta}


def _cycle(batches: Callable[[], Iterator[torch.Tensor]]) -> Iterator[torch.Tensor]:
    while True:
        yield from batches()
