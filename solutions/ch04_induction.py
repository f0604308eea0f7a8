"""Chapter 04, induction heads: reference solutions, their hints and the known mistakes."""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "04"
TITLE = "Induction heads"


def _pattern_cases():
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(3, 2, 9, 9, generator=g).masked_fill(torch.ones(9, 9).triu(1).bool(), float("-inf"))
    perfect = torch.zeros(1, 2, 9, 9)
    perfect[0, 0, 0, 0] = 1
    perfect[0, 0, torch.arange(1, 9), torch.arange(0, 8)] = 1  # head 0 always looks one back
    perfect[0, 1, :, 0] = 1  # head 1 always looks at BOS
    return [Case("random causal patterns, batch 3, 2 heads, 9 positions", (scores.softmax(-1),)),
            Case("a perfect previous-token head and a BOS head", (perfect,))]


def prev_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position to the one just before it, per head.
    pattern: [batch head_index query_pos key_pos] -> [head_index]."""
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _wrong_prev_main_diagonal(pattern):
    return pattern.diagonal(offset=0, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _wrong_prev_upper(pattern):
    return pattern.diagonal(offset=1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _wrong_prev_no_batch_mean(pattern):
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=-1)


def _wrong_prev_sum(pattern):
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).sum(dim=-1).mean(0)


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
        "prev_token_score", CHAPTER, prev_token_score, _pattern_cases,
        hints=["Attention from position i to position i - 1 sits on the diagonal just below the main one.",
               "pattern.diagonal(offset=-1, dim1=-2, dim2=-1) gives [batch head_index pos-1]; average over batch and positions."],
        mistakes=[
            Mistake("main diagonal", _wrong_prev_main_diagonal, "Did you take the main diagonal? That is attention to the "
                                                                "token itself; the previous token is offset=-1."),
            Mistake("upper diagonal", _wrong_prev_upper, "Did you take offset=+1? Above the diagonal is the future, "
                                                         "which a causal pattern never attends to; use offset=-1."),
            Mistake("no batch mean", _wrong_prev_no_batch_mean, "Did you forget to average over the batch? The result "
                                                                "has one score per head."),
            Mistake("sum", _wrong_prev_sum, "Did you sum over positions? Take the mean, so a perfect head scores 1."),
        ],
    ),
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
