"""N-gram baselines: how well you can predict TinyWorld's next token from the last 0, 1 or 2
tokens alone, by counting. Early in training a transformer's loss passes through these levels
(first unigram statistics, then bigrams...) before it learns to use longer context.
"""

from __future__ import annotations

import collections
import math
from typing import Sequence

import torch


class NGramModel:
    """Counts of (context of n-1 tokens -> next token), with add-k smoothing over the vocabulary."""

    def __init__(self, n: int, d_vocab: int, k: float = 0.01):
        if n < 1:
            raise ValueError(f"n must be at least 1 (1 = unigram), got {n}")
        self.n, self.d_vocab, self.k = n, d_vocab, k
        self.counts: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)

    def fit(self, sequences: Sequence[Sequence[int]]) -> "NGramModel":
        for seq in sequences:
            for i in range(self.n - 1, len(seq)):
                self.counts[tuple(seq[i - self.n + 1 : i])][seq[i]] += 1
        return self

    def log_prob(self, context: tuple, token: int) -> float:
        counter = self.counts.get(context)
        total = sum(counter.values()) if counter else 0
        count = counter[token] if counter else 0
        return math.log((count + self.k) / (total + self.k * self.d_vocab))

    def loss(self, sequences: Sequence[Sequence[int]], skip: int = 2) -> float:
        """Mean next-token cross-entropy (nats), scoring positions from ``skip`` on so that every
        order sees the same tokens (a trigram needs two tokens of context)."""
        total, count = 0.0, 0
        for seq in sequences:
            for i in range(max(skip, self.n - 1), len(seq)):
                total -= self.log_prob(tuple(seq[i - self.n + 1 : i]), seq[i])
                count += 1
        return total / count


def model_loss(model, sequences: torch.Tensor, skip: int = 2) -> float:
    """The transformer's loss on the same positions ``NGramModel.loss`` scores. sequences: ``[batch pos]``."""
    with torch.no_grad():
        losses = model.loss(sequences, per_token=True)  # [batch pos-1]; column i predicts token i+1
    return losses[:, skip - 1 :].mean().item()
