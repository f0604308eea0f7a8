import pytest
import torch

from course.sampling import sample_next_token, top_k_filter, top_p_filter
from tests.conftest import tiny_config


def test_top_k_keeps_exactly_k():
    logits = torch.tensor([[1.0, 5.0, 3.0, 2.0, 4.0]])
    kept = top_k_filter(logits, 2)
    assert torch.isfinite(kept).nonzero()[:, 1].tolist() == [1, 4]


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(top_p_filter(probs.log(), 0.75))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.75 <= 0.8
    assert torch.isfinite(top_p_filter(probs.log(), 0.5)).tolist() == [[True, False, False, False]]


def test_greedy_is_argmax_and_sampling_follows_probabilities():
    logits = torch.tensor([[0.0, 2.0, 1.0]]).log_softmax(-1).repeat(4000, 1)
    assert sample_next_token(logits[:1]).tolist() == [1]
    draws = sample_next_token(logits, temperature=1.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).float() / 4000
    torch.testing.assert_close(freq, torch.tensor([0.0, 2.0, 1.0]).softmax(-1), atol=0.03, rtol=0)


def test_bad_sampling_arguments_are_explained():
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token(torch.zeros(1, 3), temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        sample_next_token(torch.zeros(1, 3), temperature=1, top_p=1.5)


class MockModel(torch.nn.Module):
    """Always predicts (last token + 1) mod vocab: generation logic checked without a transformer."""

    def __init__(self):
        super().__init__()
        self.cfg = tiny_config()
        self.W_E = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer = None
        self.blocks = []

    def forward(self, tokens, kv_cache=None):
        if kv_cache is not None:
            kv_cache.advance(tokens.shape[1])
        return torch.nn.functional.one_hot((tokens + 1) % self.cfg.d_vocab, self.cfg.d_vocab).float() * 10


def test_generation_loop_with_a_mock_model():
    from course.sampling import generate

    out = generate(MockModel(), torch.tensor([[3]]), max_new_tokens=5)
    assert out.tolist() == [[3, 4, 5, 6, 7, 8]]


@pytest.mark.parametrize("kwargs", [dict(temperature=0.0), dict(temperature=1.0, seed=3),
                                    dict(temperature=0.8, top_k=5, seed=4), dict(temperature=1.2, top_p=0.9, seed=5)])
def test_cached_and_uncached_generation_agree_exactly(tiny_model, kwargs):
    prompt = torch.randint(0, 50, (2, 4), generator=torch.Generator().manual_seed(0))
    cached = tiny_model.generate(prompt, 20, use_cache=True, **kwargs)
    uncached = tiny_model.generate(prompt, 20, use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)
    assert cached.shape == (2, 24)


def test_same_seed_same_tokens_other_seed_other_tokens(tiny_model):
    prompt = torch.tensor([[1, 2, 3]])
    a = tiny_model.generate(prompt, 15, temperature=1.0, seed=0)
    assert torch.equal(a, tiny_model.generate(prompt, 15, temperature=1.0, seed=0))
    assert not torch.equal(a, tiny_model.generate(prompt, 15, temperature=1.0, seed=1))


def test_generation_may_fill_the_context_but_not_overflow_it(tiny_model):
    prompt = torch.tensor([[1, 2, 3, 4]])
    assert tiny_model.generate(prompt, 20).shape == (1, 24)  # exactly n_ctx
    with pytest.raises(ValueError, match="exceeds the context window of 24.*at most 20"):
        tiny_model.generate(prompt, 21)


def test_stream_yields_the_same_tokens_one_at_a_time(tiny_model):
    prompt = torch.tensor([[5, 6]])
    streamed = list(tiny_model.generate_stream(prompt, 8))
    assert all(isinstance(t, int) for t in streamed)
    assert streamed == tiny_model.generate(prompt, 8)[0, 2:].tolist()
    assert not any(b.attn.frozen_qkv is not None for b in tiny_model.blocks)  # fused weights released


def test_generation_leaves_no_hooks_and_no_frozen_weights_when_abandoned(tiny_model):
    stream = tiny_model.generate_stream(torch.tensor([[5, 6]]), 8)
    next(stream)
    stream.close()
    assert all(b.attn.frozen_qkv is None for b in tiny_model.blocks)


# -- chapter 00's claims about the shipped model, and its worked answers ----------------------------

from course_model import have_shipped_model, load_model  # noqa: E402

shipped = pytest.mark.skipif(not have_shipped_model(), reason="the shipped tinyworld checkpoint is not there yet")


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_repeated_ngram_share():
    from solutions.ch00_generation import repeated_ngram_share

    assert repeated_ngram_share([1, 2, 3, 4, 5, 6]) == 0.0
    assert repeated_ngram_share([1, 2, 3, 4, 1, 2, 3, 4]) == pytest.approx(1 - 4 / 5)
    assert repeated_ngram_share([1, 2]) == 0.0


@shipped
def test_ch00_top_p_adapts_to_the_models_certainty(model):
    with torch.no_grad():
        sure = model(model.to_tokens("The capital of Texas is"))[:, -1]
        unsure = model(model.to_tokens("Mary went to the"))[:, -1]
    assert sure.softmax(-1).max() > 0.99  # 0.994
    assert int(torch.isfinite(top_p_filter(sure, 0.9)).sum()) == 1
    assert int(torch.isfinite(top_p_filter(unsure, 0.9)).sum()) > 20


@shipped
def test_ch00_worked_answers(model):
    from solutions import ch00_generation as sol

    losses = sol.worked_best_temperature(model)
    best = min(losses, key=losses.get)
    assert 0.8 <= best <= 1.0 and abs(losses[0.85] - losses[1.0]) < 0.01  # calibrated: lowest near T = 1
    assert round(losses[0.5] - losses[1.0], 1) == 0.2 and round(losses[2.0] - losses[1.0], 1) == 0.4
    nucleus = sol.worked_nucleus_size(model)
    assert nucleus["fewest"] == 1 and nucleus["most"] > 1000 and round(nucleus["rank correlation with entropy"], 1) == 0.8
    kept = dict(nucleus["kept at each position"][:8])
    assert kept[","] == 1  # 'Vera grew up in Mesa,' -> ' Arizona': a fact, one token kept
    rep = sol.worked_repetition_vs_temperature(model)
    assert round(rep[0.0]["repeated 4-grams"], 1) == 0.3 and rep[1.0]["repeated 4-grams"] < 0.01  # greedy loops, sampling does not
    assert 0.06 < rep[0.5]["repeated 4-grams"] < 0.07  # about 6%
    losses_own = [rep[T]["loss of its own text"] for T in sorted(rep)]
    assert losses_own[1:] == sorted(losses_own[1:])  # from T = 0.5 on, hotter text is stranger to the model
    assert [round(x, 1) for x in losses_own] == [1.1, 1.0, 1.2, 1.8]

