"""Chapter 04's claims: the toy forms induction heads within its live budget, and the shipped
attn-only-2l model's induction heads are what in-context copying depends on."""

import torch

from course import evaluate, induction, metrics, zoo


def test_toy_model_forms_induction_heads_in_600_steps():
    model = induction.toy_model(seed=0)
    assert evaluate.induction_loss_gap(model, seq_len=25)["repeat_loss_gap"] < 0.5
    history = induction.train_toy(model, steps=600)
    assert evaluate.induction_loss_gap(model, seq_len=25)["repeat_loss_gap"] > 1.5
    assert history["loss"][-1] < history["loss"][0] - 2  # the phase change


def test_composition_score_bounds():
    # ||W_A W_B|| <= ||W_A|| ||W_B||, so the score is at most 1; for I_4: ||I|| / ||I||^2 = 1/2
    a, b = torch.randn(16, 16), torch.randn(16, 16)
    assert 0 < induction.composition_score(a, b) <= 1
    assert induction.composition_score(torch.eye(4), torch.eye(4)) == 0.5
    rank_one = torch.outer(torch.randn(8), torch.randn(8))
    assert abs(induction.composition_score(rank_one, rank_one.T) - 1) < 1e-5  # fully aligned


def test_shipped_induction_heads_carry_in_context_copying():
    model = zoo.load("attn-only-2l")
    scores = evaluate.head_scores(model)
    heads = [h for h in range(model.cfg.n_heads) if scores["induction"][1, h] > 0.5]
    others = [h for h in range(model.cfg.n_heads) if h not in heads]
    assert heads == [0, 1, 2] and others == [3]
    kcomp = induction.k_composition(model)
    assert kcomp[:, heads].mean() > kcomp[:, others].mean()
    tokens = evaluate.repeated_random_tokens(model, seq_len=50)
    clean, ablated, control = (metrics.repeat_losses(induction.ablate_heads(model, tokens, ablate), 50)["repeat_loss_second"]
                               for ablate in ([], [(1, h) for h in heads], [(1, h) for h in others]))
    assert clean < 0.5 and ablated > clean + 3 and control < clean + 1


def test_shipped_induction_heads_need_the_previous_token_head():
    """Chapter 04's other ablation: the one sharp previous-token head in layer 0 feeds the induction
    heads' keys; without it copying fails, without any other layer-0 head it barely changes."""
    model = zoo.load("attn-only-2l")
    scores = evaluate.head_scores(model)
    layer, prev = divmod(int(scores["previous_token"].argmax()), model.cfg.n_heads)
    assert layer == 0 and scores["previous_token"][0, prev] >= 0.8
    tokens = evaluate.repeated_random_tokens(model, seq_len=50)
    second = {h: metrics.repeat_losses(induction.ablate_heads(model, tokens, [(0, h)] if h is not None else []), 50)
              ["repeat_loss_second"] for h in [None, *range(model.cfg.n_heads)]}
    assert second[prev] > second[None] + 3
    assert all(second[h] < second[None] + 0.5 for h in range(model.cfg.n_heads) if h != prev)


def test_zero_ablation_overshoots_mean_ablation_does_not():
    """Chapter 04's ablation comparison: zero-ablating the induction heads also damages the first
    repeat; mean-ablation (the chapter's exercise) leaves it and removes the copying; neither leaves a hook."""
    from solutions.ch04_induction import mean_ablate

    model = zoo.load("attn-only-2l")
    tokens = evaluate.repeated_random_tokens(model, seq_len=50)
    heads = [(1, 0), (1, 1), (1, 2)]
    clean = metrics.repeat_losses(model.loss(tokens, per_token=True).detach(), 50)
    zero = metrics.repeat_losses(induction.ablate_heads(model, tokens, heads), 50)
    mean = metrics.repeat_losses(mean_ablate(model, tokens, heads), 50)
    assert not any(point.has_hooks for point in model.hook_dict.values())
    assert zero["repeat_loss_first"] > clean["repeat_loss_first"] + 2
    assert abs(mean["repeat_loss_first"] - clean["repeat_loss_first"]) < 1
    assert mean["repeat_loss_second"] > clean["repeat_loss_second"] + 3
    assert zero["repeat_loss_second"] > mean["repeat_loss_second"] + 2


def test_ch04_worked_answers():
    from solutions import ch04_induction as sol

    model = zoo.load("attn-only-2l")
    tokens = evaluate.repeated_random_tokens(model, seq_len=50)
    one = sol.worked_one_head_at_a_time(model, tokens)
    assert all(one[f"L1H{h}"] < one["clean"] + 1 for h in range(3))  # one head alone: the others still copy
    assert one["L1H0 + L1H1 + L1H2"] > one["clean"] + 3
    lengths = sol.worked_repeat_lengths(model)
    assert all(row["repeat_loss_gap"] > 2 for row in lengths.values())
