# %% [markdown]
# # Chapter 05: Indirect object identification
#
# **Time:** about 75 minutes. **You will:**
#
# - measure a behaviour with one number, the *logit difference*;
# - write *direct logit attribution*: split that number into what each layer wrote, through the
#   final LayerNorm and the unembedding;
# - write *activation patching* of the residual stream over layers and positions: copy one
#   activation from a clean run into a corrupted one and see how much of the behaviour comes back;
# - write *path patching* from one head to another head's queries, keys or values;
# - use them to take apart the IOI behaviour of the shipped model, and find where its algorithm
#   differs from the one Wang et al. found in GPT-2 small.
#
# The task, from Wang et al. (2022): in "When Mary and John went to the store, John gave a drink
# to", the next word is " Mary". The model has to notice which name was repeated (John, the
# *subject* S) and say the other one (Mary, the *indirect object* IO). We call the positions
# **IO** and **S1** (the two names in the opening), **S2** (the repeated name) and **END** (the
# last token, where the prediction is made).
#
# Everything here runs on `tinyworld`, on pairs of names that never appeared together in its
# training data. The sentence is the classic one; TinyWorld's corpus builds IOI sentences from
# parts (introductions, scenes, leads, hundreds of actions), and this exact combination is one of
# them. How far does the behaviour carry? On new combinations of the corpus's parts the model is
# nearly always right; on sentence *structures* it never saw (written for evaluation only) it is
# right most of the time but not always. We measure both below, then take apart the circuit on
# the classic sentence. Each method you write is checked against small random models first, then
# run on the real one next to the library's version (`course.attribution`, `course.patching`),
# which later chapters reuse.

# %%
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course import attribution, ioi, metrics, patching, zoo
from course.exercises import check, hint, progress, reveal
from widgets import AttentionPatterns

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
batch = ioi.ioi_batch(model, n=60, seed=0)  # the classic frame, name pairs never seen together
print(len(batch.items), "prompts, e.g.:")
for item in batch.items[:3]:
    print(f"  {item.prompt!r} -> {item.answer!r}   (corrupted: ...{item.corrupted_prompt[-30:]!r})")
print("positions in the first prompt:", {k: int(v[0]) for k, v in batch.positions.items()})
n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
head_labels = [f"H{h}" for h in range(n_heads)]
layer_labels = [f"L{layer}" for layer in range(n_layers)]

# %% [markdown]
# ## 1. One number for the behaviour
#
# The *logit difference* is logit[IO] - logit[S] at END, averaged over the prompts. It is positive
# when the model prefers the right name, and it is the log of how many times likelier IO is than S.
# Write it.

# %% [exercise] ioi_logit_diff
check(ioi_logit_diff)

# %%
with torch.no_grad():
    clean_logits = model(batch.clean)
    corrupted_logits = model(batch.corrupted)
clean_ld = ioi_logit_diff(clean_logits, batch.io, batch.s).item()
corrupted_ld = ioi_logit_diff(corrupted_logits, batch.io, batch.s).item()
accuracy = (metrics.logit_diff(clean_logits, batch.io, batch.s, per_prompt=True) > 0).float().mean().item()
print(f"clean: logit difference {clean_ld:.2f}, IO preferred in {accuracy:.0%} of prompts")
print(f"corrupted (S2 replaced by IO, so the answer flips): logit difference {corrupted_ld:.2f}")
assert accuracy > 0.9 and clean_ld > 3  # trained-model claim: it solves IOI for unseen name pairs
assert corrupted_ld < 0  # trained-model claim: the corruption flips the answer

# %% [markdown]
# The card of the model measures the same thing on two larger held-out sets: 500 new sentences
# assembled from the corpus's parts, and 500 sentences in ten structures written only for
# evaluation ("At the market, Mary and John ate some bread. John passed the bread to"). New
# structures are harder: most are handled, and on the worst one the model is right less than half
# the time. Whatever circuit we find below, it does not cover every way of writing the task.

# %%
card = zoo.card("tinyworld")["metrics"]
print(f"new combinations of known parts: accuracy {card['ioi_recombined_accuracy']:.0%}, "
      f"logit difference {card['ioi_recombined_logit_diff']:.1f}")
print(f"new sentence structures:         accuracy {card['ioi_accuracy']:.0%}, "
      f"logit difference {card['ioi_logit_diff']:.1f}; by structure {card['ioi_accuracy_by_frame']}")
assert card["ioi_recombined_accuracy"] > 0.95 > card["ioi_accuracy"] > 0.8  # trained-model claim
assert max(card["ioi_accuracy_by_frame"]) == 1.0 and min(card["ioi_accuracy_by_frame"]) < 0.5  # trained-model claim

# %% [markdown]
# ## 2. Direct logit attribution
#
# The residual stream at END is a sum: the token and position embeddings, plus what every
# attention layer and MLP wrote. Two things stand between it and the logits. The final LayerNorm
# centres the stream, divides it by one number (its *scale*) and multiplies by a weight w; with the
# scale taken from the cache as a constant, that is a *linear* map, so it can be applied to each
# component separately and the parts still add up. The unembedding is linear too. So each
# component's direct share of the logit difference is its normalised value projected on
# W_U[:, IO] - W_U[:, S]. Write the whole decomposition, from the cache.

# %% [exercise] dla_by_component
check(dla_by_component)

# %%
logits, cache = model.run_with_cache(batch.clean)
by_component = dla_by_component(model, cache, batch.io, batch.s)
library, labels = attribution.dla_by_component(model, cache, batch.io, batch.s)
torch.testing.assert_close(by_component, library)  # yours is the library's
print("your dla_by_component matches course.attribution.dla_by_component")
share = dict(zip(labels, by_component.tolist()))
print(f"sum of the components {by_component.sum().item():+.2f}; the logit difference is {clean_ld:+.2f} "
      "(the rest is the biases of the final LayerNorm and of the unembedding, which belong to no component)")
print("largest:", ", ".join(f"{k} {v:+.2f}" for k, v in sorted(share.items(), key=lambda kv: -kv[1])[:4]))
assert abs(by_component.sum().item() - clean_ld) < 0.05 * clean_ld  # trained-model claim: the parts add up
assert max(share, key=share.get) == "2_attn_out" and 1 / 3 < share["2_attn_out"] / clean_ld < 0.5  # trained-model claim
assert share["2_mlp_out"] + share["3_mlp_out"] > share["2_attn_out"]  # trained-model claim
assert 0 < share["3_attn_out"] < 0.15 * clean_ld  # trained-model claim: a little
early = ("embed", "pos_embed", "0_attn_out", "0_mlp_out", "1_attn_out", "1_mlp_out")
assert sum(abs(share[k]) for k in early) < 0.05 * clean_ld  # trained-model claim: almost nothing directly
colour = ["#4c78a8" if "attn" in k else "#f58518" if "mlp" in k else "#999999" for k in labels]
fig = go.Figure(go.Bar(x=labels, y=by_component.tolist(), marker_color=colour))
fig.update_layout(title=f"Direct logit attribution at END (logit difference {clean_ld:.1f})",
                  yaxis_title="share of logit[IO] - logit[S]", height=340)
fig

# %% [markdown]
# Layer 2's attention writes the largest single share, between a third and a half of the logit
# difference; the MLPs of layers 2 and 3 together write more than it; the last layer's attention
# writes a little; the embeddings and the first two layers write almost nothing directly. A direct
# share does not say where a component's input came from: an MLP may be turning what an earlier
# head wrote into logits (one of the open exercises at the end finds out). Which heads?
# `course.attribution.dla_by_head` does the same projection per head (a head's output is ``z @ W_O``
# for its slice of z):

# %%
dla = attribution.dla_by_head(model, cache, batch.io, batch.s)  # [layer head_index]
top = torch.topk(dla.flatten(), 3)
for value, index in zip(top.values.tolist(), top.indices.tolist()):
    print(f"  L{index // n_heads}H{index % n_heads}: {value:+.2f}")
print(f"most negative: L{int(dla.argmin()) // n_heads}H{int(dla.argmin()) % n_heads} {dla.min().item():+.2f}")
assert divmod(int(dla.argmax()), n_heads) == (2, 0) and dla[2, 0] > 0.4 * clean_ld  # trained-model claim
fig = go.Figure(go.Heatmap(z=dla.numpy(), x=head_labels, y=layer_labels, colorscale="RdBu", zmid=0,
                           colorbar_title="logit diff", hovertemplate="%{y}%{x}: %{z:+.2f}<extra></extra>"))
fig.update_layout(title="Direct logit attribution per head", height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# One head, L2H0, stands out: alone it writes more than 40% of the logit difference. A head that
# writes a name into the answer would be expected to *look at* that name. Here is the attention of
# its layer on one prompt: hover over the last token (" to") and see where head 0 looks. Is it IO?

# %%
str_tokens = model.to_str_tokens(batch.clean[0])
AttentionPatterns.from_cache(cache, 2, str_tokens)

# %% [markdown]
# ## 3. Activation patching
#
# Attribution only sees *direct* effects. To find every activation that matters we intervene.
# Run the model on the **corrupted** prompts (S2 replaced by IO: now the *other* name is repeated
# and the answer flips), and copy in one activation from the **clean** run. Where the copy brings
# the clean logit difference back, that activation carries the information that tells the two
# prompts apart. First the body of the hook: replace one position.

# %% [exercise] patch_position
check(patch_position)

# %% [markdown]
# And a scale: 0 means "as corrupted", 1 means "fully restored".

# %% [exercise] restored_fraction
check(restored_fraction)

# %% [markdown]
# Now the whole experiment. For each layer and each position, patch the clean residual stream
# *before* that layer (``hook_resid_pre``) into the corrupted run at that one position, and record
# the metric. Your `patch_position` is the body of the hook.

# %% [exercise] activation_patching_grid
check(activation_patching_grid)

# %%
ld_metric = lambda lg: metrics.logit_diff(lg, batch.io, batch.s)  # noqa: E731 - the course's logit difference
raw_grid = activation_patching_grid(model, batch.clean, batch.corrupted, ld_metric)  # [layer pos] logit differences
grid = restored_fraction(raw_grid, clean_ld, corrupted_ld)
metric = patching.normalised(ld_metric, clean_ld, corrupted_ld)
library_grid = patching.patch_resid_by_layer_and_pos(model, batch.clean, batch.corrupted, metric)
torch.testing.assert_close(library_grid, grid, atol=1e-4, rtol=1e-4)  # yours is the library's
print("your activation_patching_grid matches course.patching.patch_resid_by_layer_and_pos")
s2 = int(batch.positions["S2"][0])
moved = [layer for layer in range(n_layers) if grid[layer, -1] > grid[layer, s2]]
print(f"restored at S2 before layers 0-{n_layers - 2}: {grid[:-1, s2].min():.2f} or more; "
      f"at END before layer {n_layers - 1}: {grid[-1, -1]:.2f}")
print("first layer whose stream at END matters more than at S2:", moved[0] if moved else None)
assert (grid[:-1, s2] > 0.9).all()  # trained-model claim: before layers 0-2, everything that matters sits at S2
assert grid[-1, -1] > 0.9 and grid[:-1, -1].abs().max() < 0.05 and moved[0] == 3  # trained-model claim: at END by layer 3
fig = go.Figure(go.Heatmap(z=grid.numpy(), x=[f"{p}:{t}" for p, t in enumerate(str_tokens)], y=layer_labels,
                           colorscale="RdBu", zmid=0, colorbar_title="restored",
                           hovertemplate="before %{y}, %{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title="Activation patching of the residual stream (resid_pre), first prompt's tokens shown",
                  height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# Read the S2 column down: patching it restores everything before layers 0, 1 and 2, and in the
# last row the whole effect has jumped to END. The top row is true by construction: the two
# prompts differ only in the token at S2, so before layer 0 nothing else *can* differ. What the
# grid tells us is *when* the information moves: it waits at S2 through layers 0 and 1, and the
# attention of layer 2 carries it to END. Which head? Patch each head's output (its z) in turn,
# with `patching.patch_heads`:

# %%
head_scores = patching.patch_heads(model, batch.clean, batch.corrupted, metric)  # [layer head_index]
second = head_scores.flatten().topk(2).values[1].item()
print(f"L2H0 restores {head_scores[2, 0]:.0%} of the logit difference alone; the next best head {second:.0%}")
assert divmod(int(head_scores.argmax()), n_heads) == (2, 0)  # trained-model claim
assert head_scores[2, 0] > 0.9 and second < 0.35  # trained-model claim
fig = go.Figure(go.Heatmap(z=head_scores.numpy(), x=head_labels, y=layer_labels, colorscale="RdBu", zmid=0,
                           colorbar_title="restored", hovertemplate="%{y}%{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title="Activation patching of each head's output (z)", height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# L2H0 again. A warning about what this shows: the corruption changes one token, so a head that
# carries that token's information to END will restore everything on its own, whether or not it
# does anything clever with it. Patching says *where* the difference travels; what the head does
# with it needs the next tools.
#
# ## 4. The circuit of GPT-2 small, searched for here
#
# Wang et al. found classes of heads in GPT-2 small, each doing one step:
#
# 1. **duplicate-token heads** (at S2, attend to S1: "this name came before") and **induction
#    heads** (at S2, attend to the token after S1), which mark S as repeated;
# 2. **S-inhibition heads** (at END, attend to S2) which move that mark to END, where it changes
#    the *queries* of
# 3. **name movers** (at END) which attend to the name that is *not* marked and copy it to the
#    output; and **negative name movers**, which write against it (a kind of hedge).
#
# `ioi.find_circuit` sorts heads by explicit rules (read its docstring): attention signatures
# (`ioi.attention_table`, drawn below), the sign of the direct attribution, and path patching to
# the name movers' queries, which you write in section 5.

# %%
circuit = ioi.find_circuit(model, batch)
fmt = lambda heads: ", ".join(f"L{l}H{h}" for l, h in heads) or "none"  # noqa: E731
print("name movers:          ", fmt(circuit.name_movers))
print("negative name movers: ", fmt(circuit.negative_name_movers))
print("S-inhibition heads:   ", fmt(circuit.s_inhibition))
print("duplicate-token heads:", fmt(circuit.duplicate_token))
print("induction heads:      ", fmt(circuit.induction))
assert circuit.name_movers == [(3, 0)] and circuit.negative_name_movers == [(2, 1)]  # trained-model claim
assert circuit.duplicate_token == [(1, 3)] and circuit.induction == [(1, 2)]  # trained-model claim
assert not circuit.s_inhibition  # trained-model claim
for lh in [(3, 0), (2, 1)]:
    print(f"L{lh[0]}H{lh[1]}: attention END->IO {circuit.attention['END->IO'][lh]:.2f}, "
          f"direct attribution {dla[lh]:+.2f}")
assert dla[3, 0] > 0 > dla[2, 1]  # trained-model claim: the name mover writes IO, the negative one against it
classified = circuit.name_movers + circuit.negative_name_movers + circuit.duplicate_token + circuit.induction
assert (2, 0) not in classified and circuit.attention["END->S2"][2, 0] > 0.9  # trained-model claim: L2H0 is in no class
fig = make_subplots(rows=1, cols=4, subplot_titles=list(circuit.attention), horizontal_spacing=0.05)
for i, table in enumerate(circuit.attention.values()):
    fig.add_trace(go.Heatmap(z=table.numpy(), x=head_labels, y=layer_labels, coloraxis="coloraxis",
                             hovertemplate="%{y}%{x}: %{z:.2f}<extra></extra>"), row=1, col=i + 1)
fig.update_layout(title="Mean attention between the IOI positions, per head", height=300,
                  coloraxis_colorscale="Viridis", coloraxis_cmin=0, coloraxis_cmax=1)
fig.update_yaxes(autorange="reversed")
fig

# %% [markdown]
# Most classes are there: a name mover in the last layer, L3H0 (it attends from END to IO and
# writes IO), a negative name mover in layer 2, L2H1 (it attends to IO and writes against it),
# and in layer 1 a duplicate-token head and an induction head at S2. No S-inhibition head passed
# the classifier's bar. And the head that matters most, L2H0, is in none of the classes: look at
# its row in the END->S2 table.
#
# ## 5. Path patching
#
# Activation patching a head changes everything downstream of it. *Path patching* asks a narrower
# question: does sender head A change what receiver head B reads? Run the clean (*target*)
# prompts; give the sender its output from the *source* prompts; freeze every other head to its
# clean output, so the change can reach B only directly (or through MLPs, which are recomputed);
# record B's query (or key, or value) input; then run the clean prompts once more with only that
# input of B replaced. The source here is the **ABC** prompts: S2 replaced by a third name, so no
# name is repeated. Write it.

# %% [exercise] path_patch_head
check(path_patch_head)

# %% [markdown]
# First the test `find_circuit` runs: each head of layers 0-2 as the sender, the name mover
# L3H0's queries as the receiver. An S-inhibition head would be one whose ABC output makes the
# name mover look elsewhere, lowering the logit difference.

# %%
to_queries = torch.full((n_layers, n_heads), float("nan"))
for layer in range(3):
    for head in range(n_heads):
        to_queries[layer, head] = path_patch_head(model, batch.clean, batch.abc, (layer, head), (3, 0, "q"), ld_metric)
drop = clean_ld - to_queries  # how much each sender's ABC output lowers the logit difference
torch.testing.assert_close(drop, circuit.s_inhibition_scores, equal_nan=True, atol=1e-4, rtol=1e-4)  # = find_circuit's
print("your path_patch_head matches course.patching.path_patch, as find_circuit runs it")
largest = torch.nan_to_num(drop, nan=0.0).abs()
sender = divmod(int(largest.argmax()), n_heads)
print(f"largest effect on L3H0's queries: L{sender[0]}H{sender[1]}, {largest.max():.2f} "
      f"of a logit difference of {clean_ld:.1f}")
assert sender == (2, 0) and 0.05 * clean_ld < largest.max() < 0.1 * clean_ld  # trained-model claim

# %% [markdown]
# One sender changes the name mover's queries, L2H0 again, by less than a tenth of the logit
# difference, the bar of the classifier: no S-inhibition head in Wang et al.'s sense. L2H0 does
# its work another way. It looks at S2, and its output raises IO over S, so it reads the name at
# S2 and writes *against* it: a *copy-suppression* head (McDougall et al., 2023, found such heads
# in GPT-2 small). But does it look at S2 *because* that name is repeated, as the duplicate-token
# and induction heads of layer 1 would tell it? Two tests. Path patching from every head of layers
# 0 and 1 to L2H0's queries, keys and values, with the ABC source, where no name repeats; and
# L2H0's attention from END to S2 on the three kinds of prompt.

# %%
to_l2h0 = {}  # kind -> [layer head_index] for the senders of layers 0 and 1: the change of the logit difference
for kind in "qkv":
    to_l2h0[kind] = torch.tensor([[clean_ld - path_patch_head(model, batch.clean, batch.abc, (layer, head), (2, 0, kind),
                                                              ld_metric).item()
                                   for head in range(n_heads)] for layer in range(2)])
for kind, scores in to_l2h0.items():
    print(f"senders in layers 0-1 -> L2H0's {kind}: largest change of the logit difference {scores.abs().max():.3f}")
assert max(scores.abs().max() for scores in to_l2h0.values()) < 0.02 * clean_ld  # trained-model claim
rows = torch.arange(len(batch.items))
to_s2 = {}
for name, tokens in (("clean", batch.clean), ("ABC", batch.abc), ("corrupted", batch.corrupted)):
    _, run = model.run_with_cache(tokens, names_filter="blocks.2.attn.hook_pattern")
    to_s2[name] = run["pattern", 2][rows, 0, -1, batch.positions["S2"]].mean().item()
print("L2H0's attention END -> S2:", {k: round(v, 3) for k, v in to_s2.items()})
assert min(to_s2.values()) > 0.9  # trained-model claim: repeated or not, L2H0 looks at S2

# %% [markdown]
# Nothing the heads of layers 0 and 1 write changes what L2H0 reads by as much as 2% of the logit
# difference, and L2H0 looks at S2 just as hard when the name there was never said before. So it
# is not following a "this name is repeated" mark: it finds the subject of the last clause (the
# one who gives) by where it sits in the sentence, and pushes that name down. In these sentences
# the giver is never the receiver, so that is enough to rule out S, and IO is the name left. The
# duplicate-token and induction heads exist, with the attention that names them, but this test
# finds no path from them to the head that decides. The model does not so much find the other name
# as push down the one that does the giving.
#
# A small model trained on a small world is free to find its own algorithm; finding it, instead
# of assuming GPT-2's, is the point of the tools. Whether the algorithm carries over to the
# sentence structures it never saw is the first open exercise below.
#
# ## Recap
#
# - One well-chosen number (the logit difference) turns a behaviour into something we can measure.
# - Direct logit attribution splits it over components, through the final LayerNorm taken as a
#   linear map, but sees only direct effects.
# - Activation patching finds every activation that matters, by copying it between a clean and a
#   corrupted run; the position grid shows *when* information moves (S2 to END, in layer 2), and a
#   one-token corruption makes the head that moves it look decisive on its own.
# - Path patching isolates one path (sender -> receiver's queries, keys or values) and separates
#   heads that write the answer from heads that steer others.
# - TinyWorld's model solves the classic IOI sentence mostly with one copy-suppression head,
#   L2H0, that looks at the subject of the last clause, repeated or not, and writes against it;
#   a name mover and a negative name mover add to it; there is no S-inhibition head, and the
#   repetition heads of layer 1 do not feed L2H0.
#
# ## Further reading
#
# - Wang et al. (2022), *Interpretability in the Wild: a Circuit for Indirect Object
#   Identification in GPT-2 small*.
# - Heimersheim and Nanda (2024), *How to use and interpret activation patching*.
# - ARENA's chapter 1.4, *Indirect Object Identification*, which does the same on GPT-2 small.
# - Conmy et al. (2023), *Towards Automated Circuit Discovery* (ACDC).
# - McDougall et al. (2023), *Copy Suppression: Comprehensively Understanding an Attention Head*.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer:
# `reveal("held_out_frames")` and so on prints its code (run it; each takes a second or two).
#
# 1. **New sentence structures** (`"held_out_frames"`). `ioi.ioi_batch(model, frames="held_out",
#    template=t)` builds prompts in one of the structures the model never saw. Where the model
#    fails, does L2H0 still find the subject of the last clause?
# 2. **Whose share is the MLPs'?** (`"mlp_shares"`). MLPs 2 and 3 write much of the logit
#    difference directly. Give L2H0 its output from the ABC prompts and recompute the attribution:
#    how much of the MLPs' share is left?
# 3. **What are the repetition heads for?** (`"repetition_heads"`). Mean-ablate the
#    duplicate-token head L1H3 and the induction head L1H2, alone and together, and compare with
#    ablating L2H0. Do they matter for this task at all? (Chapter 04 studies induction heads in a
#    model of their own.)

# %%
# Your exploration here. Then, for example: reveal("held_out_frames")

# %%
progress()
