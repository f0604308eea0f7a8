"""Induction heads: a toy model that forms them in seconds, composition scores, and ablation.

The toy is a 2-layer attention-only transformer trained on sequences that repeat a random run of
tokens. Before induction heads form, the second repeat is as unpredictable as the first; when they
form (a sudden drop of the loss, Olsson et al. 2022) the model copies. Small vocabulary, short
runs and sinusoidal starting positions make the phase change arrive after ~250 steps (~6 s).
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional

import torch

from course.config import ModelConfig
from course.model import HookedTransformer
from course.train import TrainConfig, train

TOY_VOCAB = 100  # token 0 is BOS; 1..100 are the random tokens


def toy_model(seed: int = 0) -> HookedTransformer:
    cfg = ModelConfig(n_layers=2, d_model=64, n_heads=2, d_head=32, attn_only=True, d_vocab=TOY_VOCAB + 1,
                      n_ctx=64, normalization=None, pos_init="sinusoidal")
    model = HookedTransformer(cfg)
    model.init_weights(seed=seed)
    return model


def toy_batches(batch: int = 32, seq_len: int = 64, seed: int = 0) -> Iterator[torch.Tensor]:
    """BOS, then a random run of 6-19 tokens repeated to fill the row: ``[batch seq_len]``."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        out = torch.zeros(batch, seq_len, dtype=torch.long)
        for row in range(batch):
            length = int(torch.randint(6, 20, (1,), generator=generator))
            run = torch.randint(1, TOY_VOCAB + 1, (length,), generator=generator)
            out[row, 1:] = run.repeat(seq_len // length + 1)[: seq_len - 1]
        yield out


def train_toy(model: HookedTransformer, steps: int = 600, seed: int = 0,
              on_step: Optional[Callable[[int, float], Optional[bool]]] = None) -> dict:
    """Train a ``toy_model`` in place (AdamW, lr 1e-2, no weight decay); returns the history."""
    cfg = TrainConfig(steps=steps, batch_size=32, seq_len=64, lr=1e-2, warmup_steps=20, weight_decay=0.0, seed=seed)
    return train(model, toy_batches(seed=seed), cfg, on_step=on_step, progress=False)


def ov_matrix(model, layer: int, head: int) -> torch.Tensor:
    """W_V W_O of one head: ``[d_model d_model]`` (what it writes, for what it reads)."""
    attn = model.blocks[layer].attn
    return (attn.W_V[attn.kv_head(head)] @ attn.W_O[head]).detach()


def qk_matrix(model, layer: int, head: int) -> torch.Tensor:
    """W_Q W_K^T of one head: ``[d_model d_model]`` (query-side stream x key-side stream -> score)."""
    attn = model.blocks[layer].attn
    return (attn.W_Q[head] @ attn.W_K[attn.kv_head(head)].T).detach()


def composition_score(W_A: torch.Tensor, W_B: torch.Tensor) -> float:
    """||W_A W_B||_F / (||W_A||_F ||W_B||_F), Elhage et al. (2021)'s measure of how much one head's
    output is read by another's input (1: fully aligned; random matrices give about 1/sqrt(d))."""
    return (torch.linalg.matrix_norm(W_A @ W_B) / (torch.linalg.matrix_norm(W_A) * torch.linalg.matrix_norm(W_B))).item()


def k_composition(model) -> torch.Tensor:
    """K-composition of every layer-0 head (writer) with every layer-1 head (its keys read it):
    ``[head_layer0 head_layer1]``, with W_A = OV of the writer and W_B = (QK of the reader)^T."""
    n = model.cfg.n_heads
    return torch.tensor([[composition_score(ov_matrix(model, 0, h0), qk_matrix(model, 1, h1).T)
                          for h1 in range(n)] for h0 in range(n)])


def ablate_heads(model, tokens: torch.Tensor, heads: list[tuple[int, int]]) -> torch.Tensor:
    """Per-token loss with the given heads' outputs (their z) set to zero: ``[batch pos-1]``."""
    def zero(act, hook):
        layer = int(hook.name.split(".")[1])
        act = act.clone()
        for l, h in heads:
            if l == layer:
                act[:, :, h] = 0.0
        return act

    with model.hooks([(lambda name: name.endswith("attn.hook_z"), zero)]), torch.no_grad():
        return model.loss(tokens, per_token=True)
