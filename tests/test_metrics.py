"""course.metrics: each definition on hand-made inputs, and each exercise's reference held equal to
it on the shipped models, so that a chapter's number and the package's are one number."""

import pytest
import torch

from course import evaluate, induction, ioi, metrics, modadd, zoo
from solutions import ch00_generation, ch03_attention, ch04_induction, ch05_ioi, ch08_grokking


def perfect_heads(seq_len: int) -> torch.Tensor:
    """``[1 3 pos pos]`` on BOS + r + r: head 0 a perfect induction head (BOS elsewhere), head 1 a
    perfect previous-token head, head 2 attends to BOS only."""
    n = 2 * seq_len + 1
    pattern = torch.zeros(1, 3, n, n)
    pattern[0, :, :, 0] = 1
    for q in range(seq_len + 1, n):
        pattern[0, 0, q] = 0
        pattern[0, 0, q, q - seq_len + 1] = 1
    pattern[0, 1] = 0
    pattern[0, 1, 0, 0] = 1
    pattern[0, 1, torch.arange(1, n), torch.arange(0, n - 1)] = 1
    return pattern


def test_scores_of_perfect_heads():
    pattern = perfect_heads(5)
    torch.testing.assert_close(metrics.induction_score(pattern, 5), torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(metrics.prev_token_score(pattern), torch.tensor([0.1, 1.0, 0.1]))


def test_scores_of_stacked_layers_are_per_layer():
    g = torch.Generator().manual_seed(0)
    n = 9
    patterns = torch.randn(2, 3, 4, n, n, generator=g).masked_fill(torch.ones(n, n).triu(1).bool(), -1e9).softmax(-1)
    ind, prev = metrics.induction_score(patterns, 4), metrics.prev_token_score(patterns)  # [layer head]
    assert ind.shape == prev.shape == (2, 4)
    for layer in range(2):
        torch.testing.assert_close(ind[layer], metrics.induction_score(patterns[layer], 4))
        torch.testing.assert_close(prev[layer], metrics.prev_token_score(patterns[layer]))


def test_repeated_tokens_draw_from_the_vocabulary_given():
    vocab = torch.tensor([5, 7, 11])
    tokens = metrics.repeated_tokens(vocab, seq_len=6, batch=4, seed=1, bos_id=2)
    assert tokens.shape == (4, 13) and (tokens[:, 0] == 2).all()
    assert torch.equal(tokens[:, 1:7], tokens[:, 7:]) and torch.isin(tokens[:, 1:], vocab).all()
    assert torch.equal(tokens, metrics.repeated_tokens(vocab, seq_len=6, batch=4, seed=1, bos_id=2))


def test_seen_tokens_toy_and_tinyworld():
    toy = induction.toy_model()  # trained on ids 1 .. 100, BOS 0, no tokenizer
    assert torch.equal(evaluate.seen_tokens(toy), torch.arange(1, induction.TOY_VOCAB + 1))
    model = zoo.load("attn-only-2l")
    seen = evaluate.seen_tokens(model)
    assert torch.equal(seen, evaluate.common_tokens(model.tokenizer, "course.corpus_v1"))  # the corpus it was trained on
    assert 300 < len(seen) < model.cfg.d_vocab // 2
    tokens = evaluate.repeated_random_tokens(model)
    assert torch.isin(tokens[:, 1:], seen).all() and (tokens[:, 0] == model.tokenizer.bos_id).all()


def test_repeat_losses_leave_out_the_first_random_token():
    losses = torch.tensor([[9.0, 4.0, 4.0, 1.0, 1.0, 1.0]])  # seq_len 3: column 0 predicts r[0] from BOS
    assert metrics.repeat_losses(losses, 3) == {"repeat_loss_first": 4.0, "repeat_loss_second": 1.0, "repeat_loss_gap": 3.0}
    assert metrics.repeat_losses(losses[0].numpy(), 3)["repeat_loss_gap"] == 3.0


def test_logit_diff_reads_the_last_position():
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(0))
    answer, wrong = torch.tensor([1, 2, 3]), torch.tensor([0, 0, 6])
    per_prompt = metrics.logit_diff(logits, answer, wrong, per_prompt=True)
    torch.testing.assert_close(per_prompt, logits[torch.arange(3), -1, answer] - logits[torch.arange(3), -1, wrong])
    torch.testing.assert_close(metrics.logit_diff(logits, answer, wrong), per_prompt.mean())
    torch.testing.assert_close(metrics.logit_diff(logits[:, -1], answer, wrong), per_prompt.mean())


# -- the exercises' references are the package's definitions, on the shipped models --------------

@pytest.fixture(scope="module")
def attn_only_patterns():
    model = zoo.load("attn-only-2l")
    _, cache = model.run_with_cache(evaluate.repeated_random_tokens(model, seq_len=50))
    return [cache["pattern", layer] for layer in range(model.cfg.n_layers)]


def test_ch03_previous_token_attention_is_prev_token_score(attn_only_patterns):
    for pattern in attn_only_patterns:
        torch.testing.assert_close(ch03_attention.previous_token_attention(pattern), metrics.prev_token_score(pattern))


def test_ch04_induction_score_is_the_metric(attn_only_patterns):
    for pattern in attn_only_patterns:
        torch.testing.assert_close(ch04_induction.induction_score(pattern, 50), metrics.induction_score(pattern, 50))


def test_ch00_next_token_loss_is_the_metric_and_model_loss():
    model = zoo.load("tinyworld")
    tokens = torch.cat([model.to_tokens("When Mary and John went to the store, John gave a drink to Mary."),
                        evaluate.repeated_random_tokens(model, seq_len=8, batch=3)[:, :17]])
    with torch.no_grad():
        logits = model(tokens)
        torch.testing.assert_close(ch00_generation.next_token_loss(logits, tokens), metrics.next_token_loss(logits, tokens))
        torch.testing.assert_close(model.loss(tokens), metrics.next_token_loss(logits, tokens))
        torch.testing.assert_close(model.loss(tokens, per_token=True), metrics.next_token_loss(logits, tokens, per_token=True))


def test_ch05_ioi_logit_diff_is_the_metric():
    model = zoo.load("tinyworld")
    batch = ioi.ioi_batch(model, n=30, seed=0)
    with torch.no_grad():
        logits = model(batch.clean)
    torch.testing.assert_close(ch05_ioi.ioi_logit_diff(logits, batch.io, batch.s), metrics.logit_diff(logits, batch.io, batch.s))


@pytest.mark.parametrize("p", [5, 13, modadd.P])
def test_ch08_fourier_basis_is_the_metric(p):
    torch.testing.assert_close(ch08_grokking.fourier_basis(p), metrics.fourier_basis(p))
    assert modadd.fourier_basis is metrics.fourier_basis
