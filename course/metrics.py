"""One definition of each measurement that chapters, widgets, model cards and tests share: the
next-token loss, repeated random sequences and the losses on their two halves, the
previous-token and induction scores of attention patterns, the logit difference, and the Fourier
basis of Z_p. Everything else (evaluate.py, the widgets, the exercises' references, which tests
hold equal to these) calls them, so one idea always prints one number.
"""

from __future__ import annotations

import math

import einops
import torch
import torch.nn.functional as F


# -- the next-token loss -------------------------------------------------------------------------

def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor, per_token: bool = False) -> torch.Tensor:
    """Cross-entropy of the logits at position i against token i + 1: ``[batch pos-1]`` per
    token, or its mean. logits: ``[batch pos d_vocab]``, tokens: ``[batch pos]``."""
    targets = tokens[:, 1:].to(logits.device)
    losses = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="none")
    losses = losses.view(targets.shape)
    return losses if per_token else losses.mean()


# -- repeated random sequences: where induction shows --------------------------------------------

def repeated_tokens(vocab: torch.Tensor, seq_len: int = 50, batch: int = 20, seed: int = 0,
                    bos_id: int = 0) -> torch.Tensor:
    """BOS, a random run of ``seq_len`` ids drawn from ``vocab`` (a 1-D tensor of ids), then the
    same run again: ``[batch 1 + 2*seq_len]``. Draw from tokens the model saw in training
    (``evaluate.seen_tokens``): an untrained embedding would measure noise, not induction."""
    generator = torch.Generator().manual_seed(seed)
    half = vocab[torch.randint(0, len(vocab), (batch, seq_len), generator=generator)]
    bos = torch.full((batch, 1), bos_id, dtype=half.dtype)
    return torch.cat([bos, half, half], dim=1)


def repeat_losses(losses, seq_len: int) -> dict:
    """Mean loss over the first and the second repeat of BOS + r + r, and their gap (the
    in-context learning). losses: per-token next-token losses ``[... pos-1]`` (column i predicts
    token i + 1), a tensor or an array. The first repeat skips the first random token, which
    nothing in the context can predict."""
    first = float(losses[..., 1:seq_len].mean())
    second = float(losses[..., seq_len:].mean())
    return {"repeat_loss_first": first, "repeat_loss_second": second, "repeat_loss_gap": first - second}


# -- attention-pattern scores (Olsson et al. 2022; the TransformerLens tutorials) ------------------

def prev_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position i >= 1 to position i - 1, per head.
    pattern: ``[... batch head_index query_pos key_pos]`` -> ``[... head_index]``."""
    stripe = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)
    return einops.reduce(stripe, "... batch head pos -> ... head", "mean")


def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    """On BOS + r + r: mean attention from each token of the second repeat (query i) to the token
    just after its first occurrence (key i - seq_len + 1), per head. The stripe's first two
    entries are queries of the first repeat, where nothing can be copied yet: they are left out.
    pattern: ``[... batch head_index query_pos key_pos]`` -> ``[... head_index]``."""
    stripe = pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)[..., -seq_len:]
    return einops.reduce(stripe, "... batch head pos -> ... head", "mean")


# -- the logit difference ------------------------------------------------------------------------

def logit_diff(logits: torch.Tensor, answer_tokens: torch.Tensor, wrong_tokens: torch.Tensor,
               per_prompt: bool = False) -> torch.Tensor:
    """logit[answer] - logit[wrong] at the last position, averaged over the batch (or
    ``[batch]`` with ``per_prompt``). logits: ``[batch pos d_vocab]``, or ``[batch d_vocab]``
    already taken at the last position; answer_tokens, wrong_tokens: ``[batch]``."""
    last = logits[:, -1] if logits.ndim == 3 else logits  # [batch d_vocab]
    rows = torch.arange(last.shape[0], device=last.device)
    diff = last[rows, answer_tokens.to(last.device)] - last[rows, wrong_tokens.to(last.device)]
    return diff if per_prompt else diff.mean()


# -- the Fourier basis of Z_p (chapter 08) --------------------------------------------------------

def fourier_basis(p: int) -> torch.Tensor:
    """``[p, p]`` orthonormal rows: the constant, then cos(w_k x), sin(w_k x) for k = 1 .. p // 2,
    with w_k = 2 pi k / p. Row 2k - 1 is the cosine of frequency k, row 2k its sine."""
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()
