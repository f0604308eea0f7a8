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
#   differs from the one Wang et al. found in GPT-2 small;
# - measure a sentence of your own, and see where the model's IOI stops working.
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
# structures are harder: on seven of the ten the model is right every time, but on the worst
# ("It rained, so Mary and John stayed inside. John read the newspaper to") only about two times
# in three. It is also better when the subject is named first in the opening ("John and Mary ...,
# John gave ... to": BABA) than when the indirect object is (ABBA). Whatever circuit we find below,
# it does not cover every way of writing the task.

# %%
card = zoo.card("tinyworld")["metrics"]
print(f"new combinations of known parts: accuracy {card['ioi_recombined_accuracy']:.0%}, "
      f"logit difference {card['ioi_recombined_logit_diff']:.1f}")
print(f"new sentence structures:         accuracy {card['ioi_accuracy']:.0%}, "
      f"logit difference {card['ioi_logit_diff']:.1f}; by structure {card['ioi_accuracy_by_frame']}")
print(f"new sentence structures, IO named first (ABBA) {card['ioi_accuracy_ABBA']:.0%}, "
      f"S named first (BABA) {card['ioi_accuracy_BABA']:.0%}")
assert card["ioi_recombined_accuracy"] > 0.95 > card["ioi_accuracy"] > 0.9  # trained-model claim
by_frame = sorted(card["ioi_accuracy_by_frame"])
assert sum(a == 1.0 for a in by_frame) == 7  # trained-model claim: seven of ten always right
assert 0.6 < by_frame[0] < 0.7 < by_frame[1]  # trained-model claim: the worst about two in three
assert 0.85 < card["ioi_accuracy_ABBA"] < 0.95 < card["ioi_accuracy_BABA"]  # trained-model claim: BABA better

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
others = [k for k in labels if k not in ("3_attn_out", "3_mlp_out")]
print(f"largest of the others, in size: {max(abs(share[k]) for k in others):.2f}")
assert abs(by_component.sum().item() - clean_ld) < 0.05 * clean_ld  # trained-model claim: the parts add up
assert 0.4 < share["3_attn_out"] / clean_ld < 0.5 < share["3_mlp_out"] / clean_ld < 0.6  # trained-model claim
assert max(abs(share[k]) for k in others) < 0.25  # trained-model claim: the rest write almost nothing directly
colour = ["#4c78a8" if "attn" in k else "#f58518" if "mlp" in k else "#999999" for k in labels]
fig = go.Figure(go.Bar(x=labels, y=by_component.tolist(), marker_color=colour))
fig.update_layout(title=f"Direct logit attribution at END (logit difference {clean_ld:.1f})",
                  yaxis_title="share of logit[IO] - logit[S]", height=340)
fig

# %% [markdown]
# The last layer writes the whole answer: its attention a little under half of the logit
# difference (45%), its MLP a little over (56%). Everything before it (the embeddings, layers 0,
# 1 and 2) writes less than a quarter of a logit each, in either direction. A direct share does not say where a component's
# input came from: the MLP of layer 3 reads what layer 3's attention has just written, and may be
# turning it into logits (one of the open exercises at the end finds out). Which heads?
# `course.attribution.dla_by_head` does the same projection per head (a head's output is ``z @ W_O``
# for its slice of z):

# %%
dla = attribution.dla_by_head(model, cache, batch.io, batch.s)  # [layer head_index]
top = torch.topk(dla.flatten(), 3)
for value, index in zip(top.values.tolist(), top.indices.tolist()):
    print(f"  L{index // n_heads}H{index % n_heads}: {value:+.2f}")
print(f"most negative: L{int(dla.argmin()) // n_heads}H{int(dla.argmin()) % n_heads} {dla.min().item():+.2f}")
assert divmod(int(dla.argmax()), n_heads) == (3, 3) and 0.35 < dla[3, 3] / clean_ld < 0.45  # trained-model claim
assert divmod(int(top.indices[1]), n_heads) == (3, 1) and 0.03 < dla[3, 1] / clean_ld < 0.08  # trained-model claim
rest = dla.clone()
rest[3, 3] = rest[3, 1] = 0
assert rest.abs().max() < 0.02 * clean_ld  # trained-model claim: no other head writes 2% either way
fig = go.Figure(go.Heatmap(z=dla.numpy(), x=head_labels, y=layer_labels, colorscale="RdBu", zmid=0,
                           colorbar_title="logit diff", hovertemplate="%{y}%{x}: %{z:+.2f}<extra></extra>"))
fig.update_layout(title="Direct logit attribution per head", height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# One head of the last layer writes most of it: L3H3 alone 40% of the logit difference. L3H1 adds
# 5%, and no other head writes as much as 2%, for IO or against it. A head that writes a name into
# the answer would be expected to *look at* that name. Here is the attention of layer 3 on one
# prompt: hover over the last token (" to") and see where head 3 looks. Is it IO?

# %%
str_tokens = model.to_str_tokens(batch.clean[0])
AttentionPatterns.from_cache(cache, 3, str_tokens)

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
print(f"restored at S2 before layers 0-{n_layers - 1}: {grid[:, s2].min():.2f} or more; "
      f"at END before any layer: {grid[:, -1].max():.2f} or less")
print("first layer whose stream at END matters more than at S2:", moved[0] if moved else None)
assert (grid[:3, s2] > 0.95).all() and grid[3, s2] > 0.9  # trained-model claim: what matters sits at S2
assert grid[:, -1].abs().max() < 0.05 and not moved  # trained-model claim: nothing at END before layer 3
fig = go.Figure(go.Heatmap(z=grid.numpy(), x=[f"{p}:{t}" for p, t in enumerate(str_tokens)], y=layer_labels,
                           colorscale="RdBu", zmid=0, colorbar_title="restored",
                           hovertemplate="before %{y}, %{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title="Activation patching of the residual stream (resid_pre), first prompt's tokens shown",
                  height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# Read the S2 column down: patching it restores everything before layers 0, 1 and 2, and still
# 0.92 before layer 3; END never matters. The top row is true by construction: the two prompts
# differ only in the token at S2, so before layer 0 nothing else *can* differ. What the grid tells
# us is *when* the information moves: it waits at S2 through layers 0, 1 and 2, and before layer 3
# it is still nearly all there (a few hundredths have spread to the words just before END, none
# to END itself). So it reaches END only *inside* layer 3, after the last place this grid patches.
# Patching each layer's whole attention output and MLP output (`patching.patch_layer_outputs`)
# says which part of layer 3 carries it:

# %%
by_layer = patching.patch_layer_outputs(model, batch.clean, batch.corrupted, metric)
for kind, scores in by_layer.items():
    print(f"{kind}: " + ", ".join(f"L{layer} {value:.2f}" for layer, value in enumerate(scores.tolist())))
assert by_layer["attn_out"][3] > 0.95 and by_layer["attn_out"][:2].abs().max() < 0.05  # trained-model claim
assert 0.15 < by_layer["attn_out"][2] < 0.25 and 0.2 < by_layer["mlp_out"][2] < 0.3  # trained-model claim
assert 0.5 < by_layer["mlp_out"][3] < 0.65  # trained-model claim: MLP 3 over half

# %% [markdown]
# Layer 3's attention restores it all; MLP 3, which reads what layer 3's attention has just
# written, more than half. (MLP 0 restores most of it too, for a plain reason: at S2 it reads the
# token itself, so its output differs wherever the token does.) Layer 2 restores some too, its
# attention a fifth and its MLP a quarter; since the grid above shows nothing at END before layer
# 3, what layer 2 writes that matters stays at S2, for layer 3 to read there. Which heads? Patch
# each head's output (its z) in turn, with `patching.patch_heads`:

# %%
head_scores = patching.patch_heads(model, batch.clean, batch.corrupted, metric)  # [layer head_index]
ranked = head_scores.flatten().topk(3).indices.tolist()
print(f"L3H3 restores {head_scores[3, 3]:.0%} of the logit difference alone; the next best heads, "
      f"L2H2 {head_scores[2, 2]:.0%} and L3H1 {head_scores[3, 1]:.0%}")
assert [divmod(i, n_heads) for i in ranked] == [(3, 3), (2, 2), (3, 1)]  # trained-model claim
assert 0.85 < head_scores[3, 3] < 0.97 and 0.13 < head_scores[2, 2] < 0.23  # trained-model claim
assert 0.05 < head_scores[3, 1] < 0.15  # trained-model claim
fig = go.Figure(go.Heatmap(z=head_scores.numpy(), x=head_labels, y=layer_labels, colorscale="RdBu", zmid=0,
                           colorbar_title="restored", hovertemplate="%{y}%{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title="Activation patching of each head's output (z)", height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# L3H3 again, and alone it carries nine tenths of the difference. Second comes a head of layer 2,
# L2H2, with a fifth (layer 2's attention above was nearly all this head); L3H1 restores a tenth.
# A warning about what this shows: the corruption changes one token, so a head that carries that
# token's information to END will restore much of the difference on its own, whether or not it
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
assert circuit.name_movers == [(2, 2)] and circuit.duplicate_token == [(1, 3)]  # trained-model claim
assert not (circuit.negative_name_movers + circuit.s_inhibition + circuit.induction)  # trained-model claim
to_l2h2_queries = circuit.s_inhibition_scores[:2]  # senders of layers 0-1 -> L2H2's queries: the drop
print(f"largest drop by a sender to L2H2's queries: {to_l2h2_queries.abs().max():.3f}, "
      f"{to_l2h2_queries.abs().max() / clean_ld:.2%} of the logit difference")
assert to_l2h2_queries.abs().max() < 0.005 * clean_ld  # trained-model claim: nothing steers L2H2
table = circuit.attention
end_s1 = ioi.attention_between(cache, batch, 2, "END", "S1")[2]
print(f"L2H2: attention END->IO {table['END->IO'][2, 2]:.2f}, END->S1 {end_s1:.2f}, END->S2 {table['END->S2'][2, 2]:.2f}, "
      f"direct attribution {dla[2, 2]:+.2f}")
assert 0.4 < table["END->IO"][2, 2] < 0.55 and abs(table["END->IO"][2, 2] - end_s1) < 0.05  # trained-model claim
assert table["END->S2"][2, 2] < 0.01 and abs(dla[2, 2]) < 0.01 * clean_ld  # trained-model claim
s2_io = ioi.attention_between(cache, batch, 1, "S2", "IO")[3]
print(f"L1H3: attention S2->S1 {table['S2->S1'][1, 3]:.2f}, S2->IO {s2_io:.2f}")
assert 0.3 < table["S2->S1"][1, 3] < 0.35 and abs(table["S2->S1"][1, 3] - s2_io) < 0.05  # trained-model claim
abba = batch.positions["IO"] < batch.positions["S1"]  # IO named first; in the others S is
pattern_l2, pattern_l1 = cache["pattern", 2], cache["pattern", 1]  # [batch head_index query_pos key_pos]
second_name = int(torch.maximum(batch.positions["IO"], batch.positions["S1"])[0])  # IO in BABA, S1 in ABBA
for order, rows in (("ABBA", abba), ("BABA", ~abba)):
    print(f"{order}: attention to the second name of the opening, "
          f"L2H2 from END {pattern_l2[rows, 2, -1, second_name].mean():.2f}, "
          f"L1H3 from S2 {pattern_l1[rows, 3, s2, second_name].mean():.2f}")
    assert pattern_l2[rows, 2, -1, second_name].mean() > 0.9  # trained-model claim: a position, whoever is there
    assert pattern_l1[rows, 3, s2, second_name].mean() > 0.5  # trained-model claim
after_io = ioi.attention_between(cache, batch, 2, "S2", "IO", offset=1)[0]
print(f"L2H0: attention S2->S1+1 {table['S2->S1+1'][2, 0]:.2f}, S2->IO+1 {after_io:.2f}")
assert 0.15 < table["S2->S1+1"][2, 0] < 0.25 and after_io < 0.1  # trained-model claim: a preference, under the bar
print(f"L3H3: attention END->S2 {table['END->S2'][3, 3]:.2f}, END->IO {table['END->IO'][3, 3]:.2f}")
assert table["END->S2"][3, 3] > 0.95 and table["END->IO"][3, 3] < 0.01  # trained-model claim: it looks at S2, not IO
fig = make_subplots(rows=1, cols=4, subplot_titles=list(circuit.attention), horizontal_spacing=0.05)
for i, table_i in enumerate(circuit.attention.values()):
    fig.add_trace(go.Heatmap(z=table_i.numpy(), x=head_labels, y=layer_labels, coloraxis="coloraxis",
                             hovertemplate="%{y}%{x}: %{z:.2f}<extra></extra>"), row=1, col=i + 1)
fig.update_layout(title="Mean attention between the IOI positions, per head", height=300,
                  coloraxis_colorscale="Viridis", coloraxis_cmin=0, coloraxis_cmax=1)
fig.update_yaxes(autorange="reversed")
fig

# %% [markdown]
# The rules find two heads: L2H2 as a name mover and L1H3 as a duplicate-token head. Read the
# tables before you believe them:
#
# - **name mover?** L2H2 looks from END at IO (0.48), and never at S2, so it passes the rule,
#   which compares IO with S2 only. But it looks at S1 just as much (0.47). Split by order, it
#   looks at the second name of the opening almost all the time (0.94 or more), whichever name that
#   is: IO in BABA prompts, S in ABBA ones. It follows a *position*, not the name that was not
#   repeated, and it writes nothing for IO directly (+0.02).
# - **duplicate-token head?** L1H3 at S2 looks at S1 (0.32), and at IO just as much (0.32): it
#   too looks at the second name of the opening (0.55 in either order), whoever it is.
# - **S-inhibition heads?** With L2H2 taken as a name mover, `find_circuit` path patches every
#   earlier head to its queries: the largest change any of them makes is 0.01, a tenth of a
#   percent of the logit difference. Nothing tells L2H2 where to look; it does not need telling,
#   since it looks at a fixed place.
# - **induction head?** L2H0 attends from S2 to the token after S1 (0.20) more than to the token
#   after IO (0.07): the one sign in the tables of "this name came before", and well under the bar.
#
# The head that matters most, L3H3, is in no class: from END it looks at S2 (0.99) and not at IO
# at all, yet its direct attribution is for IO. It reads the subject and writes *against* it: a
# *copy-suppression* head (McDougall et al., 2023, found such heads in GPT-2 small).
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
# Does L3H3 look at S2 *because* that name is repeated, as a duplicate-token head or an S-inhibition
# head would tell it? If so, some earlier head's ABC output (where nothing repeats) would change
# L3H3's queries or keys and lower the logit difference. Take every head of layers 0-2 as the
# sender and L3H3's queries, keys and values as the receiver. (This is the test `find_circuit`
# runs for S-inhibition, pointed at the head that does the work instead of at a name mover.)

# %%
to_l3h3 = {}  # kind -> [layer head_index] for the senders of layers 0-2: how much the logit difference drops
for kind in "qkv":
    to_l3h3[kind] = torch.tensor([[clean_ld - path_patch_head(model, batch.clean, batch.abc, (layer, head), (3, 3, kind),
                                                              ld_metric).item()
                                   for head in range(n_heads)] for layer in range(3)])
library_q = patching.path_patch_all_senders(model, batch.clean, batch.abc, ld_metric, [(3, 3, "q")])[:3]
torch.testing.assert_close(to_l3h3["q"], clean_ld - library_q, atol=1e-4, rtol=1e-4)  # yours is the library's
print("your path_patch_head matches course.patching.path_patch_all_senders")
for kind, scores in to_l3h3.items():
    sender = divmod(int(scores.abs().argmax()), n_heads)
    print(f"senders in layers 0-2 -> L3H3's {kind}: largest change of the logit difference "
          f"{scores.abs().max():.3f} (L{sender[0]}H{sender[1]}), {scores.abs().max() / clean_ld:.1%} of it")
assert max(to_l3h3[kind].abs().max() for kind in "qk") < 0.005 * clean_ld  # trained-model claim
v_sender = divmod(int(to_l3h3["v"].abs().argmax()), n_heads)
assert v_sender == (2, 2) and 0.12 * clean_ld < to_l3h3["v"][2, 2] < 0.2 * clean_ld  # trained-model claim
v_rest = to_l3h3["v"].clone()
v_rest[2, 2] = 0
assert v_rest.abs().max() < 0.03 * clean_ld  # trained-model claim: L2H2 is the one sender to L3H3's values
rows = torch.arange(len(batch.items))
to_s2 = {}
for name, tokens in (("clean", batch.clean), ("ABC", batch.abc), ("corrupted", batch.corrupted)):
    _, run = model.run_with_cache(tokens, names_filter="blocks.3.attn.hook_pattern")
    to_s2[name] = run["pattern", 3][rows, 3, -1, batch.positions["S2"]].mean().item()
print("L3H3's attention END -> S2:", {k: round(v, 3) for k, v in to_s2.items()})
assert min(to_s2.values()) > 0.95  # trained-model claim: repeated or not, L3H3 looks at S2
self_attention = ioi.attention_between(cache, batch, 2, "S2", "S2")[2]
print(f"L2H2's attention from S2 to S2 itself: {self_attention:.2f}")
assert self_attention > 0.95  # trained-model claim

# %% [markdown]
# No head of layers 0-2 changes what L3H3's queries or keys read by as much as half a percent of
# the logit difference. And L3H3 looks at S2 just as hard when the name there was never said
# before (ABC) as when it repeats. So it is not following a "this name is repeated" mark: it finds
# the subject of the last clause (the one who gives) by its place in the sentence, and pushes that
# name down. In these sentences the giver is never the receiver, so that is enough to rule out S,
# and IO is the name left. The model does not so much find the other name as push down the one
# that does the giving.
#
# One path does matter, into L3H3's *values*: from L2H2, which costs 16% of the logit difference
# when it sends the ABC name. At S2, L2H2 attends to S2 itself, so it writes the name at S2 into
# the stream once more, and L3H3 reads that copy along with the token's own. This explains L2H2's
# place in section 3: the name it copies at S2 is the one token in which the clean and corrupted
# prompts differ.
#
# So the circuit, as this model has it, is short: in the last layer one copy-suppression head,
# L3H3, reads the name at S2 (with help from L2H2, which copies that name again at S2) and writes
# against it; the MLP of layer 3 writes a little more again, and L3H1 adds a little for IO. None
# of Wang et al.'s classes is there: the two heads the rules named look at a position, not at a
# name's role. A small model trained on a small world is free to find its own algorithm; finding
# it, instead of assuming GPT-2's, is the point of the tools. Whether the algorithm carries over to
# the sentence structures it never saw is the first open exercise below.

# %% [markdown]
# ## 6. A sentence of your own
#
# `ioi.score_sentence(model, prompt, io, s)` measures one sentence you write: the logit
# difference at its last position, where the indirect object ranks among all tokens, and what the
# model would say. Two rules: both people must be TinyWorld's names (`course.world.NAMES`), since
# only those are one token after a space; a name the model never saw, such as Nora, is two pieces
# and no single logit stands for it, so the function says so instead of measuring nonsense. And
# the sentence must fit in the 128-token context.
#
# Below, two sentences written for this page, in structures the corpus never uses. The first works:
# a logit difference of 11.8, Emma on top. In the second the model still prefers Emma to Jack by 4.2
# nats, but its top guess is not a name at all: " get" ("handed the hammer to get ..."), with Emma
# ranked 8th. The logit difference measures a choice between the two names; it does not say the
# model would name anyone. Try your own, and try them on L3H3: does it still look at S2?

# %%
mine = {
    "hike": ioi.score_sentence(model, "After the long hike, Emma and Jack sat by the fire. Jack poured some tea for",
                               io="Emma", s="Jack"),
    "fence": ioi.score_sentence(model, "On a rainy Tuesday, Emma and Jack fixed the old fence. Later, Jack handed "
                                       "the hammer to", io="Emma", s="Jack"),
}
for name, r in mine.items():
    print(f"{name:>6}: logit diff {r['logit_diff']:5.2f}, Emma ranked {r['io_rank']}, the model says {r['top']!r}")
assert mine["hike"]["top"] == " Emma" and mine["hike"]["logit_diff"] > 8  # trained-model claim: works (11.8)
assert mine["fence"]["top"] == " get" and 3.5 < mine["fence"]["logit_diff"] < 5  # trained-model claim: 4.2
assert mine["fence"]["io_rank"] == 7  # trained-model claim: Emma ranked 8th
try:
    ioi.score_sentence(model, "When Nora and Felix sat down, Felix gave a cup to", io="Nora", s="Felix")
except ValueError as err:
    print(err)
else:
    raise AssertionError("a name TinyWorld lacks should be refused")

# %% [markdown]
# ## Recap
#
# - One well-chosen number (the logit difference) turns a behaviour into something we can measure.
# - Direct logit attribution splits it over components, through the final LayerNorm taken as a
#   linear map, but sees only direct effects.
# - Activation patching finds every activation that matters, by copying it between a clean and a
#   corrupted run; the position grid shows *when* information moves (here it sits at S2 until the
#   attention of the last layer moves it to END), and a one-token corruption makes the heads that
#   move it look decisive on their own.
# - Path patching isolates one path (sender -> receiver's queries, keys or values) and separates
#   heads that write the answer from heads that steer or feed others.
# - Rules that sort heads by average attention can be fooled: a head that looks at a fixed
#   position passes a test meant for a head that looks at a name's role. Compare with the other
#   name before believing a label.
# - TinyWorld's model solves the classic IOI sentence in its last layer: one copy-suppression head,
#   L3H3, looks at the subject of the last clause, repeated or not, and writes against it, and the
#   MLP after it writes a little more again. There are no real name movers, duplicate-token,
#   induction or S-inhibition heads, and no head of layers 0-2 tells L3H3 where to look.
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
#    does worst, does L3H3 still find the subject of the last clause?
# 2. **Whose share is the MLP's?** (`"mlp_shares"`). The MLP of layer 3 writes more than half of
#    the logit difference directly. Give L3H3 its output from the ABC prompts and recompute the
#    attribution: how much of the MLP's share is left?
# 3. **Do the heads before layer 3 matter?** (`"early_heads"`). Mean-ablate the two heads the rules
#    named in section 4 (L1H3 and L2H2, also the one sender to L3H3's values), each head of layers
#    0-2 alone, and all twelve together, and compare with ablating L3H3. Which early head costs the
#    most, and what does it look at? Why can mean ablation over a batch of one sentence structure
#    not remove *where* S2 is?

# %%
# Your exploration here. Then, for example: reveal("held_out_frames")

# %%
progress()
