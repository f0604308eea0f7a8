# %% [markdown]
# # Chapter 04: Induction heads
#
# **Time:** about 45 minutes. **You will:**
#
# - train a two-layer attention-only transformer live and watch its loss drop suddenly when
#   induction heads form (a *phase change*);
# - write the induction score, which with chapter 03's previous-token score finds them;
# - measure how a layer-1 head reads what a layer-0 head wrote (K-composition);
# - write a mean-ablation with the course's hooks, compare it with zero-ablation on the shipped
#   `attn-only-2l` model, and watch in-context copying go when its induction heads, or its
#   previous-token head, are taken away.
#
# An **induction head** completes patterns: having seen "... A B ... A", it predicts "B". It needs
# two heads in two layers. A *previous-token head* in layer 0 writes into each position "the token
# before me was A". The induction head in layer 1, sitting at the second A, looks for a position
# whose previous token was A (its *keys* read what the previous-token head wrote: K-composition),
# attends there (to B), and copies B to the output.

# %%
import plotly.graph_objects as go
import torch
from IPython.display import display
from plotly.subplots import make_subplots

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
# Here are the two heads on the first sequence (24 random tokens, then the same 24 again): the
# previous-token head's diagonal just below the main one, and the induction head's stripe
# `seq_len - 1` back, which starts where the second repeat does.

# %%
short = evaluate.repeated_random_tokens(model, seq_len=24, batch=1)
_, short_cache = model.run_with_cache(short, names_filter=lambda name: name.endswith("hook_pattern"))
fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                    subplot_titles=[f"previous-token head L{prev_layer}H{prev_head}",
                                    f"induction head L{best_induction[0]}H{best_induction[1]}"])
for col, (layer, head) in enumerate([best_previous, best_induction], start=1):
    fig.add_trace(go.Heatmap(z=short_cache["pattern", layer][0, head].numpy(), coloraxis="coloraxis",
                             hovertemplate="query %{y}, key %{x}: %{z:.2f}<extra></extra>"), row=1, col=col)
fig.update_layout(title="Attention on BOS + r + r (r: 24 random tokens)", height=420, coloraxis={"colorscale": "Blues"})
fig.update_xaxes(title_text="key position")
fig.update_yaxes(title_text="query position", autorange="reversed")
fig

# %% [markdown]
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
# First, where does the model copy? The loss at every position of BOS + r + r, averaged over 20
# random runs of 50 tokens: the first repeat cannot be predicted, the second can.

# %%
tokens = evaluate.repeated_random_tokens(model, seq_len=50)
with torch.no_grad():
    clean_per_token = model.loss(tokens, per_token=True)  # [batch pos-1]: column i predicts token i + 1
clean_repeats = metrics.repeat_losses(clean_per_token, 50)
print(f"loss on the first repeat {clean_repeats['repeat_loss_first']:.2f} nats, "
      f"on the second {clean_repeats['repeat_loss_second']:.2f}")
assert clean_repeats["repeat_loss_first"] > 6 and clean_repeats["repeat_loss_second"] < 0.5  # trained-model claim
fig = go.Figure(go.Scatter(x=list(range(1, tokens.shape[1])), y=clean_per_token.mean(0).tolist(), name="clean"))
fig.add_vline(x=50.5, line_dash="dot", annotation_text="second repeat starts")
fig.update_layout(title="Loss per position (mean over 20 sequences)", xaxis_title="position of the predicted token",
                  yaxis_title="loss (nats)", height=340)
fig

# %% [markdown]
# To take a head away, replace its output by something that carries no information about *these*
# tokens. Setting it to zero (*zero-ablation*) is the simplest choice, but zero may be a value the
# head never outputs, so the layers that read it see something off their training distribution.
# *Mean-ablation* replaces the head's output, at each position, by its mean over the batch: what the
# head writes there on average, whatever the tokens.
#
# Write it with the course's hooks. Every head's output before W_O passes through the hook point
# `blocks.{layer}.attn.hook_z` (`[batch pos head_index d_head]`); a hook `fn(z, hook)` that returns a
# tensor replaces the activation, and `with model.hooks([(name, fn)]):` removes the hook when the block
# ends (a hook added by hand with `add_hook` stays until you remove it, and quietly changes every later
# run). Return the per-token loss, `model.loss(tokens, per_token=True)`.

# %% [exercise] mean_ablate
check(mean_ablate)

# %%
stray = [name for name, point in model.hook_dict.items() if point.has_hooks]
mean_ablate(model, tokens[:2], [(1, 0)])
left_behind = [name for name, point in model.hook_dict.items() if point.has_hooks and name not in stray]
assert not left_behind, f"your mean_ablate left hooks on {left_behind}: attach them with `with model.hooks(...)`"
# On a batch of copies of one sequence, a head's mean over the batch is its own output: nothing changes.
copies = tokens[:1].repeat(4, 1)
torch.testing.assert_close(mean_ablate(model, copies, [(1, h) for h in induction_heads]),
                           model.loss(copies, per_token=True).detach())
print("your mean_ablate leaves no hook behind, and changes nothing on a batch of identical sequences")

# %% [markdown]
# Now compare the two ablations of the induction heads, and of the other layer-1 head as a
# control, on both repeats. `induction.ablate_heads` is the library's zero-ablation.

# %%
def repeats(per_token):
    r = metrics.repeat_losses(per_token, 50)
    return r["repeat_loss_first"], r["repeat_loss_second"]


ablations = {"clean": clean_per_token,
             "induction heads, zero": induction.ablate_heads(model, tokens, [(1, h) for h in induction_heads]),
             "induction heads, mean": mean_ablate(model, tokens, [(1, h) for h in induction_heads]),
             "other layer-1 head, zero": induction.ablate_heads(model, tokens, [(1, h) for h in others]),
             "other layer-1 head, mean": mean_ablate(model, tokens, [(1, h) for h in others])}
table = {label: repeats(per_token) for label, per_token in ablations.items()}
for label, (first, second) in table.items():
    print(f"{label:26s} first repeat {first:5.2f} nats, second repeat {second:5.2f}")
fig = go.Figure([go.Bar(name=f"{which} repeat", x=list(table), y=[v[i] for v in table.values()])
                 for i, which in enumerate(["first", "second"])])
fig.update_layout(barmode="group", title="Loss on each repeat, by ablation", yaxis_title="loss (nats)", height=360)
fig

# %%
clean_first, clean_second = table["clean"]
zero_first, zero_second = table["induction heads, zero"]
mean_first, mean_second = table["induction heads, mean"]
assert zero_second > clean_second + 3 and mean_second > clean_second + 3  # trained-model claim: copying goes
assert max(table["other layer-1 head, zero"][1], table["other layer-1 head, mean"][1]) < clean_second + 1  # trained-model claim
assert zero_first > clean_first + 2 and abs(mean_first - clean_first) < 1  # trained-model claim: zero hurts the first repeat too
assert zero_second > mean_second + 2  # trained-model claim: zero-ablation overshoots
assert zero_second > zero_first and mean_second > mean_first  # trained-model claim: the second repeat ends worse
print(f"zero-ablation costs the first repeat {zero_first - clean_first:+.2f} nats, mean-ablation {mean_first - clean_first:+.2f}; "
      f"on the second repeat zero-ablation gives {zero_second:.2f}, mean-ablation {mean_second:.2f}")

fig = go.Figure([go.Scatter(x=list(range(1, tokens.shape[1])), y=ablations[label].mean(0).tolist(), name=label)
                 for label in ["clean", "induction heads, zero", "induction heads, mean"]])
fig.add_vline(x=50.5, line_dash="dot", annotation_text="second repeat starts")
fig.update_layout(title="Loss per position, with the induction heads ablated", xaxis_title="position of the predicted token",
                  yaxis_title="loss (nats)", height=360)
fig

# %% [markdown]
# Both ablations remove the copying: the second repeat's loss climbs by several nats, while the
# control head costs almost nothing. But zero-ablation *overshoots*. It also raises the loss on the
# first repeat, where the induction heads have nothing to copy, by a few nats: the zero output is
# damage of its own, not the absence of the heads' information. Mean-ablation leaves the first
# repeat about where it was, so what it removes on the second repeat is the copying. Even so, with
# either ablation the second repeat ends up *worse* than the first (the plot above): at those
# positions the rest of the model is set up to trust a copy that no longer comes. Report the
# ablation you used; the size of an effect depends on it.

# %% [markdown]
# Now the other half of the circuit. Ablate each layer-0 head in turn: if the induction heads'
# keys really depend on what the previous-token head writes, only that ablation should break the
# copying.

# %%
def second_repeat_loss(heads):
    return metrics.repeat_losses(induction.ablate_heads(model, tokens, heads), 50)["repeat_loss_second"]


clean = second_repeat_loss([])  # nothing ablated: the card's repeat_loss_second
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
# - How you ablate matters: zero-ablation overshoots, damaging even the first repeat where the
#   induction heads have nothing to copy; mean-ablation replaces a head's output by its average
#   and removes only what depends on the tokens.
#
# ## Further reading
#
# - Elhage et al. (2021), *A Mathematical Framework for Transformer Circuits*.
# - Olsson et al. (2022), *In-context Learning and Induction Heads*.
# - ARENA chapter 1.2, *Intro to Mechanistic Interpretability: TransformerLens & induction circuits*.
# - Heimersheim and Nanda (2024), *How to use and interpret activation patching*, on zero, mean
#   and resample ablation.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer:
# `reveal("one_head_at_a_time")` and so on prints its code (run it; each takes a few seconds).
#
# 1. **Is one induction head enough?** (`"one_head_at_a_time"`). Layer 1 has three induction heads.
#    Mean-ablate each alone, each pair, and all three: how much copying is left each time?
# 2. **Short and long repeats** (`"repeat_lengths"`). The chapter repeats runs of 50 tokens. Does the
#    model copy runs of 3 or 5 tokens, and runs as long as its context allows
#    (`2 * seq_len + 1 <= model.cfg.n_ctx`)? Measure both repeats' losses and the induction score.

# %%
# Your exploration here. Then, for example: reveal("one_head_at_a_time")

# %%
progress()
