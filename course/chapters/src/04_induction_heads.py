# %% [markdown]
# # Chapter 04: Induction heads
#
# **Time:** about 45 minutes. **You will:**
#
# - train a two-layer attention-only transformer live and watch its loss drop suddenly when
#   induction heads form (a *phase change*);
# - write the induction score, which with chapter 03's previous-token score finds them;
# - measure how a layer-1 head reads what a layer-0 head wrote (K-composition);
# - ablate the induction heads of the shipped `attn-only-2l` model, then its previous-token head,
#   and watch in-context copying go.
#
# An **induction head** completes patterns: having seen "... A B ... A", it predicts "B". It needs
# two heads in two layers. A *previous-token head* in layer 0 writes into each position "the token
# before me was A". The induction head in layer 1, sitting at the second A, looks for a position
# whose previous token was A (its *keys* read what the previous-token head wrote: K-composition),
# attends there (to B), and copies B to the output.

# %%
import torch
from IPython.display import display

from course import evaluate, induction, metrics, zoo
from course.exercises import check, hint, progress, reveal
from widgets import InductionView, TrainingCurves

torch.manual_seed(0)

# %% [markdown]
# ## 1. Watch induction heads form
#
# The toy data is a random run of 6-19 tokens, repeated until the row is full. Before the model
# can copy, every token is a surprise (about log 100 = 4.6 nats). The curves show the training loss
# and, every 50 steps, the *in-context gap*: loss over the first repeat of random test sequences
# minus loss over the second. Press Stop if you like; it takes about 10-20 seconds.

# %%
curves = TrainingCurves("toy attention-only model", log_x=False, log_y=False)
display(curves)
events = {}


def report(step, loss):
    curves.append(step, train_loss=loss)
    if step % 50 == 0:
        gap = evaluate.induction_loss_gap(live_model, seq_len=25)["repeat_loss_gap"]
        curves.append(step, in_context_gap=gap)
        if gap > 1.0 and "bump" not in events:
            events["bump"] = step
            curves.add_event(step, "induction heads")
    curves.poll()
    return curves.should_stop


live_model = induction.toy_model(seed=0)
history = induction.train_toy(live_model, steps=600, on_step=report)
gap = evaluate.induction_loss_gap(live_model, seq_len=25)["repeat_loss_gap"]
print(f"trained {history['step'][-1]} steps in {history['seconds']:.1f} s; in-context gap {gap:.2f} nats; "
      f"the gap passed 1 nat at step {events.get('bump')}")
assert gap > 1.5  # trained-model claim: the live model learned to copy

# %% [markdown]
# ## 2. Scores that find the heads
#
# Feed random sequences repeated once, BOS + r + r, drawn from tokens the model saw in training
# (`evaluate.repeated_random_tokens`). A previous-token head puts its attention on the diagonal
# just below the main one: you measured that in chapter 03 (`previous_token_attention`), and the
# course's one definition of it is `metrics.prev_token_score`. An induction head at a token of
# the second repeat attends to the token that *followed* that token's first occurrence:
# `seq_len - 1` positions back. Write its score from a pattern `[batch head q k]`.

# %% [exercise] induction_score
check(induction_score)

# %%
test_tokens = evaluate.repeated_random_tokens(live_model, seq_len=25)
_, live_cache = live_model.run_with_cache(test_tokens)
for layer in range(2):
    pattern = live_cache["pattern", layer]
    print(f"layer {layer}: previous-token {metrics.prev_token_score(pattern).tolist()}  "
          f"induction {induction_score(pattern, 25).tolist()}")
    torch.testing.assert_close(induction_score(pattern, 25), metrics.induction_score(pattern, 25))
InductionView.from_model(live_model, seq_len=25)  # the same sequences, the same scores

# %% [markdown]
# ## 3. The shipped model, and its whole training history
#
# `attn-only-2l` is larger (4 heads per layer, LayerNorm) and was trained on TinyWorld text plus
# repeated random runs. `evaluate.head_scores` is the table its model card records; the widget
# below shows the same scores. Click a head in the heatmap to see its pattern, with the induction
# stripe marked.

# %%
model = zoo.load("attn-only-2l")
scores = evaluate.head_scores(model)
print("induction scores\n", scores["induction"].round(decimals=2))
print("previous-token scores\n", scores["previous_token"].round(decimals=2))
best_induction = divmod(int(scores["induction"].argmax()), model.cfg.n_heads)
best_previous = divmod(int(scores["previous_token"].argmax()), model.cfg.n_heads)
print(f"best induction head L{best_induction[0]}H{best_induction[1]}, "
      f"best previous-token head L{best_previous[0]}H{best_previous[1]}")
assert best_induction[0] == 1 and best_previous[0] == 0  # trained-model claim: the two-layer recipe
assert scores["induction"].max() >= 0.8 and scores["previous_token"].max() >= 0.8  # trained-model claim: both sharp
InductionView.from_model(model, seq_len=50)

# %% [markdown]
# How sharp is the previous-token head? Average its attention by how far back each key is, over
# the same sequences: offset 0 is the token itself, offset 1 the previous token.

# %%
tokens = evaluate.repeated_random_tokens(model, seq_len=50)
_, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
prev_layer, prev_head = best_previous
pattern = cache["pattern", prev_layer][:, prev_head]  # [batch query_pos key_pos]
queries = torch.arange(4, tokens.shape[1])
by_offset = [pattern[:, queries, queries - o].mean().item() for o in range(4)]
print(f"L{prev_layer}H{prev_head}'s attention by offset: "
      + ", ".join(f"{o}: {a:.2f}" for o, a in enumerate(by_offset)))
assert by_offset[1] > 0.8 and max(by_offset[0], by_offset[2], by_offset[3]) < 0.1  # trained-model claim

# %% [markdown]
# Almost all of it lands on the previous token, and little on the token itself or two back.
#
# Its checkpoints show the same phase change, on a log scale of steps: nothing, then within one
# stretch of training the in-context gap jumps by several nats and the induction score with it.

# %%
series = zoo.card("attn-only-2l")["series"]["checkpoints"]
history_view = TrainingCurves("attn-only-2l checkpoints", log_x=True, log_y=False)
for c in series:
    history_view.append(c["step"], in_context_gap=c["repeat_loss_gap"], induction_score=c["max_induction_score"],
                        previous_token_score=c["max_previous_token_score"])
bump = evaluate.induction_bump(series)
history_view.add_event(bump["start"], "bump starts")
history_view.add_event(bump["end"], "bump ends")
display(history_view)
print(f"the bump: steps {bump['start']}-{bump['end']}, {bump['drop_fraction']:.0%} of the whole rise, "
      f"{bump['log_span_fraction']:.0%} of training in log steps")

# %% [markdown]
# ## 4. K-composition
#
# The layer-1 head's keys must read what a layer-0 head wrote. Elhage et al. (2021) measure that
# with a *composition score* between the writer's OV matrix (W_V W_O) and the reader's QK matrix
# (W_Q W_K^T). Write it.

# %% [exercise] composition
check(composition)

# %%
n = model.cfg.n_heads
kcomp = torch.tensor([[float(composition(induction.ov_matrix(model, 0, h0), induction.qk_matrix(model, 1, h1).T))
                       for h1 in range(n)] for h0 in range(n)])
torch.testing.assert_close(kcomp, induction.k_composition(model))
print("K-composition (rows: layer-0 writer, columns: layer-1 reader)\n", kcomp.round(decimals=3))
induction_heads = [h for h in range(n) if scores["induction"][1, h] > 0.5]
others = [h for h in range(n) if h not in induction_heads]
print(f"mean K-composition into the induction heads {kcomp[:, induction_heads].mean():.3f}, "
      f"into the other layer-1 heads {kcomp[:, others].mean():.3f} (random matrices: ~{1 / model.cfg.d_model ** 0.5:.3f})")
assert kcomp[:, induction_heads].mean() > kcomp[:, others].mean()  # trained-model claim
rows = kcomp[:, induction_heads].mean(dim=1)  # [head_layer0]: how much each writer is read by the induction heads
print("into the induction heads, by layer-0 writer:", ", ".join(f"L0H{h} {r:.3f}" for h, r in enumerate(rows.tolist())))
# trained-model claim: another layer-0 head scores about as high as the previous-token head
assert max(r for h, r in enumerate(rows.tolist()) if h != prev_head) > rows[prev_head] - 0.02

# %% [markdown]
# The columns separate: the induction heads read far more from layer 0 than the other layer-1 head
# does. The rows do not: by this score, the previous-token head is not the writer the induction
# heads read most, as a second layer-0 head scores about as high. The composition score compares
# the two matrices over *every* direction of the residual stream, including directions the heads
# never meet on real inputs, so it is a coarse first look. When a weight-based score is ambiguous,
# ask the model: take a head away and see what breaks (next section).

# %% [markdown]
# ## 5. Ablation: take the induction heads away
#
# Set the induction heads' outputs to zero and measure the loss on the second repeat again.

# %%
tokens = evaluate.repeated_random_tokens(model, seq_len=50)


def second_repeat_loss(heads):
    return metrics.repeat_losses(induction.ablate_heads(model, tokens, heads), 50)["repeat_loss_second"]


clean = second_repeat_loss([])  # nothing ablated: the card's repeat_loss_second
ablated = second_repeat_loss([(1, h) for h in induction_heads])
control = second_repeat_loss([(1, h) for h in others])
print(f"loss on the second repeat: {clean:.2f} nats; induction heads ablated {ablated:.2f}; "
      f"other layer-1 heads ablated {control:.2f}")
assert ablated > clean + 3 and control < clean + 1  # trained-model claim

# %% [markdown]
# Now the other half of the circuit. Ablate each layer-0 head in turn: if the induction heads'
# keys really depend on what the previous-token head writes, only that ablation should break the
# copying.

# %%
layer0 = {h: second_repeat_loss([(0, h)]) for h in range(n)}
for h, loss in layer0.items():
    tag = "  <- the previous-token head" if h == prev_head else ""
    print(f"L0H{h} ablated: loss on the second repeat {loss:.2f} nats (clean {clean:.2f}){tag}")
# trained-model claim: without it, the induction heads cannot find their target
assert layer0[prev_head] > clean + 3
assert all(layer0[h] < clean + 0.5 for h in range(n) if h != prev_head)  # trained-model claim: the rest barely matter

# %% [markdown]
# That is the separation the composition scores could not show: without the previous-token head,
# the loss on the second repeat climbs by several nats, while removing any other layer-0 head costs
# little. (The head's own output is not what predicts the
# next token; the induction heads' keys need it to know where to look.)

# %% [markdown]
# ## Recap
#
# - Induction needs two heads in two layers: a previous-token head writes "my previous token",
#   and an induction head's keys read it (K-composition) to find where to look.
# - Weight-based composition scores are a coarse first look; ablation shows which heads the circuit
#   depends on: the induction heads, and the one previous-token head feeding them.
# - They form suddenly: the loss on repeated text drops in a short stretch of training.
# - Ablating them, or the previous-token head, removes almost all in-context copying; other heads
#   do not matter for it.
#
# ## Further reading
#
# - Elhage et al. (2021), *A Mathematical Framework for Transformer Circuits*.
# - Olsson et al. (2022), *In-context Learning and Induction Heads*.
# - ARENA chapter 1.2, *Intro to Mechanistic Interpretability: TransformerLens & induction circuits*.

# %%
progress()
