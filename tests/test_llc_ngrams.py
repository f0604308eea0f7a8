import math

import pytest
import torch

from course.llc import SGLDConfig, estimate_llc
from course.ngrams import NGramModel


def test_ngram_orders_predict_a_deterministic_sequence_better_and_better():
    # "a b c a b c ...": a unigram sees 3 equally likely tokens, a bigram knows what follows
    seqs = [[0, 1, 2] * 20 for _ in range(5)]
    uni = NGramModel(1, d_vocab=3, k=0.001).fit(seqs).loss(seqs)
    bi = NGramModel(2, d_vocab=3, k=0.001).fit(seqs).loss(seqs)
    assert uni == pytest.approx(math.log(3), abs=1e-3)
    assert bi < 0.01


def test_ngram_smoothing_gives_unseen_tokens_a_finite_loss():
    model = NGramModel(2, d_vocab=10).fit([[1, 2, 3]])
    assert math.isfinite(model.loss([[7, 8, 9]]))
    with pytest.raises(ValueError, match="n must be at least 1"):
        NGramModel(0, 10)


def quadratic_model(dims_used: int, total: int = 8):
    """Loss depends on only ``dims_used`` of ``total`` parameters: a model with that many effective
    directions. The LLC of a regular quadratic minimum is (number of used directions) / 2."""
    class Quad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(total))

    model = Quad()
    loss_fn = lambda m, batch: (m.w[:dims_used] ** 2).sum() + 0 * batch.sum()  # noqa: E731
    return model, loss_fn


@pytest.mark.parametrize("dims", [2, 6])
def test_llc_of_a_quadratic_basin_is_half_its_effective_dimension(dims):
    model, loss_fn = quadratic_model(dims)
    batches = lambda: iter([torch.zeros(1)] * 10)  # noqa: E731
    result = estimate_llc(model, batches, loss_fn, n_tokens=10_000,
                          cfg=SGLDConfig(epsilon=1e-4, gamma=1.0, n_chains=4, n_steps=800, n_burnin=200))
    assert result["llc"] == pytest.approx(dims / 2, rel=0.25)
    assert len(result["traces"]) == 4 and len(result["traces"][0]) == 800
