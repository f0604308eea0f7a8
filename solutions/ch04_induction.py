"""Chapter 04, induction heads: reference solutions, their hints and the known mistakes.

The previous-token score is chapter 03's exercise (``previous_token_attention``); the course's one
definition of both scores is in ``course/metrics.py``, and ``tests/test_metrics.py`` holds these
references equal to it on the shipped models."""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "04"
TITLE = "Induction heads"


def _induction_cases():
    g = torch.Generator().manual_seed(5)
    seq_len = 4
    n = 1 + 2 * seq_len
    perfect = torch.zeros(1, 2, n, n)
    perfect[0, :, :, 0] = 1
    for q in range(1 + seq_len, n):
        perfect[0, 0, q] = 0
        perfect[0, 0, q, q - seq_len + 1] = 1  # head 0 is a perfect induction head
    scores = torch.randn(2, 3, n, n, generator=g).masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
    return [Case("random causal patterns, seq_len 4", (scores.softmax(-1), seq_len)),
            Case("a perfect induction head (head 0), seq_len 4", (perfect, seq_len))]


def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    """On BOS + r + r (r of length seq_len): mean attention from each token of the second repeat to
    the token just after its first occurrence, per head. pattern: [batch head_index q k] -> [head_index]."""
    stripe = pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)  # query i attends key i - seq_len + 1
    return stripe[..., -seq_len:].mean(dim=(0, -1))  # the queries of the second repeat


def _wrong_induction_same_token(pattern, seq_len):
    stripe = pattern.diagonal(offset=-seq_len, dim1=-2, dim2=-1)
    return stripe[..., -seq_len:].mean(dim=(0, -1))


def _wrong_induction_two_after(pattern, seq_len):
    stripe = pattern.diagonal(offset=-(seq_len - 2), dim1=-2, dim2=-1)
    return stripe[..., -seq_len:].mean(dim=(0, -1))


def _wrong_induction_whole_stripe(pattern, seq_len):
    return pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1).mean(dim=(0, -1))


def composition(W_A: torch.Tensor, W_B: torch.Tensor) -> torch.Tensor:
    """How much W_B reads what W_A writes: ||W_A W_B||_F / (||W_A||_F ||W_B||_F).
    W_A, W_B: [d_model d_model] -> a scalar tensor."""
    return torch.linalg.matrix_norm(W_A @ W_B) / (torch.linalg.matrix_norm(W_A) * torch.linalg.matrix_norm(W_B))


def _wrong_comp_no_normalise(W_A, W_B):
    return torch.linalg.matrix_norm(W_A @ W_B)


def _wrong_comp_elementwise(W_A, W_B):
    return torch.linalg.matrix_norm(W_A * W_B) / (torch.linalg.matrix_norm(W_A) * torch.linalg.matrix_norm(W_B))


def _wrong_comp_spectral(W_A, W_B):
    return torch.linalg.matrix_norm(W_A @ W_B, ord=2) / (torch.linalg.matrix_norm(W_A, ord=2) * torch.linalg.matrix_norm(W_B, ord=2))


def _composition_cases():
    g = torch.Generator().manual_seed(6)
    return [Case("random 8 x 8", (torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g))),
            Case("W_B = W_A^T (aligned)", (lambda a: (a, a.T))(torch.randn(6, 6, generator=g))),
            Case("random 16 x 16, scaled", (3 * torch.randn(16, 16, generator=g), 0.1 * torch.randn(16, 16, generator=g)))]


EXERCISES = [
    Exercise(
        "induction_score", CHAPTER, induction_score, _induction_cases,
        hints=["A token in the second repeat at position i first occurred at i - seq_len; an induction head looks at "
               "the token *after* that one, i - seq_len + 1.",
               "That is the diagonal offset -(seq_len - 1); keep only its last seq_len entries (the second repeat's queries)."],
        mistakes=[
            Mistake("same token", _wrong_induction_same_token, "Did you use offset -seq_len? That is the earlier copy of "
                                                               "the same token; an induction head attends one further, to what came next."),
            Mistake("two after", _wrong_induction_two_after, "Off by one: the stripe is at offset -(seq_len - 1), not -(seq_len - 2)."),
            Mistake("whole stripe", _wrong_induction_whole_stripe, "Did you average the whole stripe? Its first entries are "
                                                                   "queries in the first repeat, where nothing can be copied yet."),
        ],
    ),
    Exercise(
        "composition", CHAPTER, composition, _composition_cases,
        hints=["Multiply the two matrices, take the Frobenius norm, divide by the product of their own Frobenius norms.",
               "torch.linalg.matrix_norm uses the Frobenius norm by default."],
        mistakes=[
            Mistake("not normalised", _wrong_comp_no_normalise, "Did you forget to divide by ||W_A|| ||W_B||? Without it "
                                                                "the score grows with the weights' scale."),
            Mistake("elementwise", _wrong_comp_elementwise, "Did you use * instead of @? Composition is a matrix product."),
            Mistake("spectral", _wrong_comp_spectral, "Did you use the spectral norm (ord=2)? The score uses the Frobenius norm."),
        ],
    ),
]
