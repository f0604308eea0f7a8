"""course/memories.py (MLPs as key-value memories, fact patching, ablation, ROME's rank-one edit) on a
tiny random model with the course's tokenizer, and its batched causal tracing against
course/causal_tracing.py."""

from __future__ import annotations

import pytest
import torch

from course import causal_tracing, evalsets, memories
from course.probing import word_positions
from course.config import ModelConfig
from course.model import HookedTransformer
from course.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tiny():
    """A small random model with the course's tokenizer, so string prompts work."""
    tokenizer = Tokenizer.load()
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=48, d_vocab=tokenizer.vocab_size, n_ctx=64,
                      init_std=0.3)
    model = HookedTransformer(cfg, tokenizer=tokenizer).eval()
    model.init_weights(seed=0)
    return model


def _prompt(model, text="After work, Mary usually plays", subject="Mary"):
    return memories.encode(model, text), word_positions(model.tokenizer, text, subject)


# -- causal tracing: the batched library, the reference and course.causal_tracing agree ------------------

@pytest.mark.parametrize("site", ["resid", "mlp", "attn"])
@pytest.mark.parametrize("text,subject", [("After work, Mary usually plays", "Mary"),
                                          ("Mary trains hard to get better at", "Mary")])
def test_batched_trace_is_causal_tracing_trace(tiny, site, text, subject):
    tokens, subject_pos = _prompt(tiny, text, subject)
    a = causal_tracing.trace(tiny, tokens, subject_pos, 7, scale=0.5, site=site, n_noise=4, seed=3)
    b = memories.batched_trace(tiny, tokens, subject_pos, 7, scale=0.5, site=site, n_noise=4, seed=3)
    assert a["clean"] == pytest.approx(b["clean"], rel=1e-5)
    assert a["corrupt"] == pytest.approx(b["corrupt"], rel=1e-4)
    torch.testing.assert_close(b["restored"], a["restored"], atol=1e-7, rtol=1e-4)


def test_restoring_the_residual_stream_at_the_subject_before_layer_0_restores_everything(tiny):
    tokens, subject_pos = _prompt(tiny)
    r = memories.batched_trace(tiny, tokens, subject_pos, 9, scale=2.0, site="resid")
    assert r["restored"][0, subject_pos[0]].item() == pytest.approx(r["clean"], rel=1e-4)
    before = [p for p in range(tokens.shape[1]) if p < subject_pos[0]]
    torch.testing.assert_close(r["restored"][0, before], torch.full((len(before),), r["corrupt"]), atol=1e-6, rtol=1e-4)


def test_trace_items_averages_by_kind_and_skips_wrong_answers(tiny):
    items = evalsets.fact_dataset("held_out")[:4]
    out = memories.trace_items(tiny, items, "mlp", n_noise=2, min_gap=-1.0)
    assert len(out["effects"]) == len(out["items"]) <= len(items)
    assert out["by_kind"].shape == (tiny.cfg.n_layers, len(causal_tracing.POSITION_KINDS))
    right = [it for it, ok in zip(items, memories._correct(tiny, items)) if ok]
    assert [it.prompt for it in out["items"]] == [it.prompt for it in right]


# -- keys and values ---------------------------------------------------------------------------------

def test_corpus_tokens_and_activations(tiny):
    text = memories.corpus_tokens(tiny, n_tokens=640, seq_len=64)
    assert text.shape == (10, 64) and text.dtype == torch.long
    assert (text == tiny.tokenizer.eot_id).any()  # documents packed with EOT between them
    acts = memories.mlp_activations(tiny, text, 1, batch_size=3)
    _, cache = tiny.run_with_cache(text, names_filter=["blocks.1.mlp.hook_post"])
    torch.testing.assert_close(acts, cache["post", 1])
    contexts = memories.top_contexts(tiny, text, acts[..., 5], k=4)
    assert len(contexts) == 4 and [c.activation for c in contexts] == sorted((c.activation for c in contexts), reverse=True)
    assert contexts[0].activation == pytest.approx(acts[..., 5].max().item())
    assert all(c.text.endswith(f"[{c.token}]") or "[" in c.text for c in contexts)


def test_value_logits_are_rows_of_w_out_through_the_unembedding(tiny):
    values = memories.value_logits(tiny, 0)
    assert values.shape == (tiny.cfg.d_mlp, tiny.cfg.d_vocab)
    torch.testing.assert_close(values[7], (tiny.blocks[0].mlp.W_out[7] @ tiny.W_U).detach())
    assert memories.top_tokens(tiny, values[7], 3)[0] == tiny.tokenizer.decode([int(values[7].argmax())])


def test_key_value_agreement_counts_next_tokens_among_the_values_top_tokens():
    tokens = torch.tensor([[1, 5, 2, 5, 3, 9]])
    acts = torch.zeros(1, 6, 2)
    acts[0, [0, 2], 0] = 1.0  # neuron 0 fires on positions 0 and 2, both followed by token 5
    acts[0, [1, 3], 1] = 1.0  # neuron 1 fires on positions 1 and 3, followed by tokens 2 and 3
    values = torch.zeros(2, 10)
    values[0, 5] = 1.0  # neuron 0 promotes token 5: agreement 1
    values[1, 2] = 1.0  # neuron 1 promotes token 2: half of its top positions are followed by it
    agreement = memories.key_value_agreement(tokens, acts, values, k=2, m=1)
    torch.testing.assert_close(agreement, torch.tensor([1.0, 0.5]))


# -- patching and ablation ---------------------------------------------------------------------------

def test_patching_an_mlp_output_with_its_own_value_changes_nothing(tiny):
    tokens, subject_pos = _prompt(tiny)
    _, cache = tiny.run_with_cache(tokens)
    with torch.no_grad():
        clean = tiny(tokens)[:, -1]
    same = memories.run_with_mlp_out(tiny, tokens, [0, 1], subject_pos[-1],
                                     [cache["mlp_out", 0][0, subject_pos[-1]], cache["mlp_out", 1][0, subject_pos[-1]]])
    torch.testing.assert_close(same, clean, atol=1e-5, rtol=1e-4)
    value = torch.randn(tiny.cfg.d_model)
    with pytest.raises(ValueError):
        memories.run_with_mlp_out(tiny, tokens, [0, 1], 3, value)


def test_mean_mlp_out_averages_over_people_at_their_subject(tiny):
    items = [it for it in evalsets.fact_dataset("held_out") if it.phrasing == evalsets.FACT_HELD_OUT_PHRASINGS[0]]
    tokens = torch.cat([memories.encode(tiny, it.prompt) for it in items])
    pos = torch.tensor([memories.subject_position(tiny, it.prompt, it.subject) for it in items])
    _, cache = tiny.run_with_cache(tokens)
    expected = cache["mlp_out", 1][torch.arange(len(items)), pos].mean(0)
    torch.testing.assert_close(memories.mean_mlp_out(tiny, items, 1)[items[0].phrasing], expected, atol=1e-6, rtol=1e-4)


def test_fact_patching_and_ablation_tables_run_and_count(tiny):
    items = evalsets.fact_dataset("held_out")
    r = memories.fact_patching(tiny, items, 0)
    assert r["pairs"] == sum(memories._correct(tiny, items)) or r["pairs"] <= len(items)
    assert 0 <= r["flipped"] <= 1 and 0 <= r["kept"] <= 1
    for how in ("mean", "zero"):
        t = memories.ablation_table(tiny, items[:8], 1, how)
        assert set(t["per_person"]) == {it.subject for it in items[:8]}
        assert 0 <= t["ablated_accuracy"] <= 1 and 0 <= t["same_kind"] <= 1
    last = memories.ablation_table(tiny, items[:8], 1, "mean", at="last")
    assert last["clean_accuracy"] == t["clean_accuracy"]
    with pytest.raises(ValueError):
        memories.ablation_table(tiny, items[:2], 1, "random")
    with pytest.raises(ValueError):
        memories.ablation_table(tiny, items[:2], 1, "mean", at="first")


def test_neuron_effects_are_one_neuron_at_a_time(tiny):
    it = evalsets.fact_dataset("held_out")[0]
    means = memories.subject_neuron_means(tiny, evalsets.fact_dataset("held_out")[:10], 1)
    effects = memories.neuron_effects(tiny, it.prompt, it.subject, it.answer, 1, means)
    tokens = memories.encode(tiny, it.prompt)
    pos = memories.subject_position(tiny, it.prompt, it.subject)
    answer = memories.token_id(tiny, it.answer)
    with torch.no_grad():
        clean = tiny(tokens)[0, -1].log_softmax(-1)[answer]
    for n in (0, 17, 47):
        logits = memories.run_with_neurons_ablated(tiny, tokens, 1, pos, torch.tensor([n]), means)
        assert effects[n].item() == pytest.approx((clean - logits[0].log_softmax(-1)[answer]).item(), abs=1e-5)


# -- the rank-one edit ------------------------------------------------------------------------------

def test_rank_one_update_moves_the_key_by_delta_and_spares_c_orthogonal_keys():
    g = torch.Generator().manual_seed(0)
    d_mlp, d_model = 12, 5
    keys = torch.randn(200, d_mlp, generator=g)
    cov = keys.T @ keys / 200
    W_out, key, delta = torch.randn(d_mlp, d_model, generator=g), torch.randn(d_mlp, generator=g), torch.randn(d_model, generator=g)
    new = memories.rank_one_update(W_out, key, delta, cov)
    torch.testing.assert_close(key @ new - key @ W_out, delta, atol=1e-5, rtol=1e-4)
    other = torch.randn(d_mlp, generator=g)
    c = torch.linalg.solve(cov, key)
    other = other - (other @ c) / (key @ c) * key  # orthogonal to C⁻¹ key
    torch.testing.assert_close(other @ new, other @ W_out, atol=1e-5, rtol=1e-4)


def test_key_second_moment_is_the_mean_outer_product_plus_a_ridge(tiny):
    text = memories.corpus_tokens(tiny, n_tokens=256, seq_len=32)
    keys = memories.mlp_activations(tiny, text, 0).reshape(-1, tiny.cfg.d_mlp).double()
    raw = keys.T @ keys / keys.shape[0]
    torch.testing.assert_close(memories.key_second_moment(tiny, 0, text, batch_size=3, ridge=0.0), raw.float(),
                               atol=1e-6, rtol=1e-4)
    ridged = memories.key_second_moment(tiny, 0, text, ridge=0.1)
    torch.testing.assert_close(ridged - raw.float(), 0.1 * raw.diagonal().mean().float() * torch.eye(tiny.cfg.d_mlp),
                               atol=1e-6, rtol=1e-4)


def test_optimize_delta_raises_the_target_and_leaves_the_model_as_it_was(tiny):
    prompts = memories.edit_prompts("Mary")
    before = {n: p.detach().clone() for n, p in tiny.named_parameters()}
    delta = memories.optimize_delta(tiny, 0, prompts, " Mary", " chess", steps=60, lr=0.5)  # layer 0: attention follows
    target = memories.token_id(tiny, " chess")
    gains = []
    for prompt in prompts:
        tokens = memories.encode(tiny, prompt)
        pos = memories.subject_position(tiny, prompt, " Mary")
        _, cache = tiny.run_with_cache(tokens)
        old = cache["mlp_out", 0][0, pos]
        lp = [memories.run_with_mlp_out(tiny, tokens, 0, pos, v)[0].log_softmax(-1)[target] for v in (old, old + delta)]
        gains.append((lp[1] - lp[0]).item())
    assert min(gains) > 0.5  # the target's log-probability rises in every prompt
    assert all(torch.equal(p, before[n]) and p.requires_grad for n, p in tiny.named_parameters())


def test_edited_restores_the_weights_even_on_error(tiny):
    old = tiny.blocks[1].mlp.W_out.detach().clone()
    with pytest.raises(RuntimeError):
        with memories.edited(tiny, 1, torch.zeros_like(old)):
            assert tiny.blocks[1].mlp.W_out.abs().sum() == 0
            raise RuntimeError("boom")
    assert torch.equal(tiny.blocks[1].mlp.W_out.detach(), old)


def test_edit_report_of_a_no_op_edit_changes_nothing(tiny):
    report = memories.edit_report(tiny, 1, "Mary", "chess", tiny.blocks[1].mlp.W_out.detach().clone())
    assert report["others"] == 1.0 and report["pet"] == 1.0
    assert len(report["held_out_by_phrasing"]) == len(evalsets.FACT_HELD_OUT_PHRASINGS)


def test_groups_batch_prompts_of_one_shape(tiny):
    items = evalsets.fact_dataset("held_out")
    batches = memories.groups(tiny, items)
    assert sum(len(g) for _, _, g in batches) == len(items)
    for tokens, pos, group in batches:
        assert tokens.shape[0] == len(group)
        assert all(memories.subject_position(tiny, it.prompt, it.subject) == pos for it in group)


def test_neurons_to_forget_reports_a_k_that_removes_the_fact(tiny):
    items = evalsets.fact_dataset("held_out")
    means = memories.subject_neuron_means(tiny, items, 0)
    # the random model knows no facts: the smallest k already leaves none of the person's prompts right
    r = memories.neurons_to_forget(tiny, "Mary", items, 0, means, ks=(1, 4))
    assert r["k"] == 1 and len(r["neurons"]) == 1 and 0 <= r["others_kept"] <= 1

