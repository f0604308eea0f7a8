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
# structures are harder: on six of the ten the model is right every time, but on the worst
# ("Mary called John on the phone. The next day, John mailed a postcard to") only about two times
# in three, and on the next ("It rained, so Mary and John stayed inside. John read the newspaper
# to") nine times in ten. It does about as well whether the opening names the indirect object first
# ("Mary and John ..., John gave ... to": ABBA) or the subject (BABA). Whatever circuit we find
# below, it does not cover every way of writing the task.

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
assert sum(a == 1.0 for a in by_frame) == 6  # trained-model claim: six of ten always right
assert 0.6 < by_frame[0] < 0.7 and 0.85 < by_frame[1] < 0.95 < by_frame[2]  # trained-model claim: 2 in 3, 9 in 10
assert 0.9 < card["ioi_accuracy_ABBA"] < card["ioi_accuracy_BABA"] < 0.96  # trained-model claim: about the same

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
others = [k for k in labels if k not in ("1_attn_out", "2_attn_out", "2_mlp_out", "3_mlp_out")]
print(f"largest of the others, in size: {max(abs(share[k]) for k in others):.2f}")
assert abs(by_component.sum().item() - clean_ld) < 0.05 * clean_ld  # trained-model claim: the parts add up
assert 0.25 < share["2_attn_out"] / clean_ld < 0.35 and 0.45 < share["3_mlp_out"] / clean_ld < 0.55  # trained-model claim
assert 0.1 < share["2_mlp_out"] / clean_ld < 0.15 and 0.03 < share["1_attn_out"] / clean_ld < 0.08  # trained-model claim
assert max(abs(share[k]) for k in others) < 0.015 * clean_ld  # trained-model claim: the rest write almost nothing directly
colour = ["#4c78a8" if "attn" in k else "#f58518" if "mlp" in k else "#999999" for k in labels]
fig = go.Figure(go.Bar(x=labels, y=by_component.tolist(), marker_color=colour))
fig.update_layout(title=f"Direct logit attribution at END (logit difference {clean_ld:.1f})",
                  yaxis_title="share of logit[IO] - logit[S]", height=340)
fig

# %% [markdown]
# Four components write the answer. The MLP of the last layer writes half of the logit difference
# (52%), the attention of layer 2 nearly a third (29%), the MLP of layer 2 an eighth (12%) and the
# attention of layer 1 a little (7%). Everything else, the last layer's attention included, writes
# about 1% or less each, in either direction. A direct share does not say where a component's input
# came from: the MLP of layer 3 reads what the attention of layer 2 has written, and may be turning
# it into logits (one of the open exercises at the end finds out). Which heads?
# `course.attribution.dla_by_head` does the same projection per head (a head's output is ``z @ W_O``
# for its slice of z):

# %%
dla = attribution.dla_by_head(model, cache, batch.io, batch.s)  # [layer head_index]
top = torch.topk(dla.flatten(), 3)
for value, index in zip(top.values.tolist(), top.indices.tolist()):
    print(f"  L{index // n_heads}H{index % n_heads}: {value:+.2f}")
print(f"most negative: L{int(dla.argmin()) // n_heads}H{int(dla.argmin()) % n_heads} {dla.min().item():+.2f}")
assert divmod(int(dla.argmax()), n_heads) == (2, 0) and 0.28 < dla[2, 0] / clean_ld < 0.36  # trained-model claim
assert divmod(int(top.indices[1]), n_heads) == (1, 2) and 0.03 < dla[1, 2] / clean_ld < 0.05  # trained-model claim
assert divmod(int(top.indices[2]), n_heads) == (3, 2) and 0.015 < dla[3, 2] / clean_ld < 0.03  # trained-model claim
rest = dla.clone()
rest[2, 0] = rest[1, 2] = rest[3, 2] = 0
assert rest.abs().max() < 0.02 * clean_ld  # trained-model claim: no other head writes 2% either way
fig = go.Figure(go.Heatmap(z=dla.numpy(), x=head_labels, y=layer_labels, colorscale="RdBu", zmid=0,
                           colorbar_title="logit diff", hovertemplate="%{y}%{x}: %{z:+.2f}<extra></extra>"))
fig.update_layout(title="Direct logit attribution per head", height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# One head of layer 2 writes nearly all of layer 2's share: L2H0 alone 31% of the logit
# difference. L1H2 adds 5% and L3H2 2%, and no other head writes as much as 2%, for IO or
# against it. A head that writes a name into the answer would be expected to *look at* that name.
# Here is the attention of layer 2 on one prompt: hover over the last token (" to") and see where
# head 0 looks. Is it IO?

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
print("restored at S2 before layers 0-3:  ", [round(x, 2) for x in grid[:, s2].tolist()])
print("restored at END before layers 0-3: ", [round(x, 2) for x in grid[:, -1].tolist()])
print("first layer whose stream at END matters more than at S2:", moved[0] if moved else None)
assert (grid[:2, s2] > 0.95).all() and 0.85 < grid[2, s2] < 0.95  # trained-model claim: what matters sits at S2
assert grid[:2, -1].abs().max() < 0.05 and 0.05 < grid[2, -1] < 0.15  # trained-model claim: a tenth at END before layer 2
assert grid[3, -1] > 0.95 and abs(grid[3, s2]) < 0.05 and moved == [3]  # trained-model claim: all at END before layer 3
fig = go.Figure(go.Heatmap(z=grid.numpy(), x=[f"{p}:{t}" for p, t in enumerate(str_tokens)], y=layer_labels,
                           colorscale="RdBu", zmid=0, colorbar_title="restored",
                           hovertemplate="before %{y}, %{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title="Activation patching of the residual stream (resid_pre), first prompt's tokens shown",
                  height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# Read the S2 column down: patching it restores everything before layers 0 and 1, 0.90 before
# layer 2, and nothing before layer 3. The END column is its mirror: nothing before layers 0 and 1,
# a tenth (0.11) before layer 2, everything before layer 3. The top row is true by construction: the
# two prompts differ only in the token at S2, so before layer 0 nothing else *can* differ. What the
# grid tells us is *when* the information moves: it waits at S2 through layers 0 and 1; a tenth of
# it reaches END inside layer 1, and the rest inside layer 2. No other position ever matters.
# Patching each layer's whole attention output and MLP output (`patching.patch_layer_outputs`)
# says which parts carry it:

# %%
by_layer = patching.patch_layer_outputs(model, batch.clean, batch.corrupted, metric)
for kind, scores in by_layer.items():
    print(f"{kind}: " + ", ".join(f"L{layer} {value:.2f}" for layer, value in enumerate(scores.tolist())))
assert by_layer["attn_out"][2] > 0.85 and 0.05 < by_layer["attn_out"][1] < 0.12  # trained-model claim
assert abs(by_layer["attn_out"][0]) < 0.05 and abs(by_layer["attn_out"][3]) < 0.05  # trained-model claim
assert 0.2 < by_layer["mlp_out"][2] < 0.3 and 0.45 < by_layer["mlp_out"][3] < 0.6  # trained-model claim: MLP 3 half

# %% [markdown]
# Layer 2's attention restores nine tenths, layer 1's the other tenth, as the grid said; the last
# layer's attention restores nothing. MLP 3, which reads what layer 2's attention has moved to
# END, restores half, and MLP 2 a quarter. (MLP 0 restores nearly all of it too, for a plain
# reason: at S2 it reads the token itself, so its output differs wherever the token does.) Which
# heads? Patch each head's output (its z) in turn, with `patching.patch_heads`:

# %%
head_scores = patching.patch_heads(model, batch.clean, batch.corrupted, metric)  # [layer head_index]
ranked = head_scores.flatten().topk(2).indices.tolist()
print(f"L2H0 restores {head_scores[2, 0]:.0%} of the logit difference alone; the next best head, "
      f"L1H2, {head_scores[1, 2]:.0%}; no other more than {head_scores.flatten().sort().values[-3]:.0%}")
assert [divmod(i, n_heads) for i in ranked] == [(2, 0), (1, 2)]  # trained-model claim
assert 0.85 < head_scores[2, 0] < 0.95 and 0.05 < head_scores[1, 2] < 0.12  # trained-model claim
rest = head_scores.clone()
rest[2, 0] = rest[1, 2] = 0
assert rest.abs().max() < 0.02  # trained-model claim
fig = go.Figure(go.Heatmap(z=head_scores.numpy(), x=head_labels, y=layer_labels, colorscale="RdBu", zmid=0,
                           colorbar_title="restored", hovertemplate="%{y}%{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title="Activation patching of each head's output (z)", height=320, yaxis_autorange="reversed")
fig

# %% [markdown]
# L2H0 again, and alone it carries nine tenths of the difference; L1H2 the other tenth (it is
# layer 1's tenth above), and no other head as much as 2%. A warning about what this shows: the corruption changes one token, so a head that carries that
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
assert circuit.name_movers == [(3, 2)] and circuit.induction == [(1, 3), (2, 1)]  # trained-model claim
assert not (circuit.negative_name_movers + circuit.s_inhibition + circuit.duplicate_token)  # trained-model claim
to_l3h2_queries = circuit.s_inhibition_scores[:3]  # senders of layers 0-2 -> L3H2's queries: the drop
print(f"largest drop by a sender to L3H2's queries: {to_l3h2_queries.abs().max():.3f}, "
      f"{to_l3h2_queries.abs().max() / clean_ld:.1%} of the logit difference")
assert to_l3h2_queries.abs().max() < 0.015 * clean_ld  # trained-model claim: nothing steers L3H2
table = circuit.attention
end_s1 = ioi.attention_between(cache, batch, 3, "END", "S1")[2]
print(f"L3H2: attention END->IO {table['END->IO'][3, 2]:.2f}, END->S1 {end_s1:.2f}, END->S2 {table['END->S2'][3, 2]:.2f}, "
      f"direct attribution {dla[3, 2]:+.2f}")
assert 0.45 < table["END->IO"][3, 2] < 0.55 and abs(table["END->IO"][3, 2] - end_s1) < 0.05  # trained-model claim
assert table["END->S2"][3, 2] < 0.02 and 0 < dla[3, 2] < 0.03 * clean_ld  # trained-model claim
s2_io1 = ioi.attention_between(cache, batch, 1, "S2", "IO", offset=1)[3]
print(f"L1H3: attention S2->S1+1 {table['S2->S1+1'][1, 3]:.2f}, S2->IO+1 {s2_io1:.2f}")
assert 0.38 < table["S2->S1+1"][1, 3] < 0.42 and abs(table["S2->S1+1"][1, 3] - s2_io1) < 0.03  # trained-model claim
abba = batch.positions["IO"] < batch.positions["S1"]  # IO named first; in the others S is
pattern = {layer: cache["pattern", layer] for layer in range(n_layers)}  # [batch head_index query_pos key_pos]
first_name = int(torch.minimum(batch.positions["IO"], batch.positions["S1"])[0])  # IO in ABBA, S1 in BABA
for order, rows in (("ABBA", abba), ("BABA", ~abba)):
    print(f"{order}: L3H2 from END to the first name of the opening {pattern[3][rows, 2, -1, first_name].mean():.2f}, "
          f"L1H3 from S2 to the token after it {pattern[1][rows, 3, s2, first_name + 1].mean():.2f}")
    assert pattern[3][rows, 2, -1, first_name].mean() > 0.9  # trained-model claim: a position, whoever is there
    assert pattern[1][rows, 3, s2, first_name + 1].mean() > 0.7  # trained-model claim
after_io = ioi.attention_between(cache, batch, 2, "S2", "IO", offset=1)[1]
print(f"L2H1: attention S2->S1+1 {table['S2->S1+1'][2, 1]:.2f}, S2->IO+1 {after_io:.2f}")
assert 0.3 < table["S2->S1+1"][2, 1] < 0.35 and 0.15 < after_io < 0.2  # trained-model claim: a preference
second_name = int(torch.maximum(batch.positions["IO"], batch.positions["S1"])[0])
after_second = {order: pattern[2][rows, 1, s2, second_name + 1].mean().item()
                for order, rows in (("ABBA", abba), ("BABA", ~abba))}
after_first = {order: pattern[2][rows, 1, s2, first_name + 1].mean().item()
               for order, rows in (("ABBA", abba), ("BABA", ~abba))}
print(f"L2H1 from S2, after the second name / after the first: ABBA {after_second['ABBA']:.2f} / "
      f"{after_first['ABBA']:.2f}, BABA {after_second['BABA']:.2f} / {after_first['BABA']:.2f}")
assert after_second["ABBA"] > 3 * after_first["ABBA"]  # trained-model claim: in ABBA, after S1 (second)
assert abs(after_second["BABA"] - after_first["BABA"]) < 0.1  # trained-model claim: in BABA, no preference
print(f"L2H0: attention END->S2 {table['END->S2'][2, 0]:.2f}, END->IO {table['END->IO'][2, 0]:.2f}; "
      f"L1H2: END->S2 {table['END->S2'][1, 2]:.2f}")
assert table["END->S2"][2, 0] > 0.95 and table["END->IO"][2, 0] < 0.01  # trained-model claim: it looks at S2, not IO
assert 0.7 < table["END->S2"][1, 2] < 0.85  # trained-model claim
fig = make_subplots(rows=1, cols=4, subplot_titles=list(circuit.attention), horizontal_spacing=0.05)
for i, table_i in enumerate(circuit.attention.values()):
    fig.add_trace(go.Heatmap(z=table_i.numpy(), x=head_labels, y=layer_labels, coloraxis="coloraxis",
                             hovertemplate="%{y}%{x}: %{z:.2f}<extra></extra>"), row=1, col=i + 1)
fig.update_layout(title="Mean attention between the IOI positions, per head", height=300,
                  coloraxis_colorscale="Viridis", coloraxis_cmin=0, coloraxis_cmax=1)
fig.update_yaxes(autorange="reversed")
fig

# %% [markdown]
# The rules find three heads: L3H2 as a name mover, L1H3 and L2H1 as induction heads. Read the
# tables before you believe them:
#
# - **name mover?** L3H2 looks from END at IO (0.49), and hardly at S2, so it passes the rule,
#   which compares IO with S2 only. But it looks at S1 just as much (0.47). Split by order, it
#   looks at the first name of the opening almost all the time (0.95 or more), whichever name that
#   is: IO in ABBA prompts, S in BABA ones. It follows a *position*, not the name that was not
#   repeated, and it writes only 2% of the logit difference for IO directly.
# - **induction heads?** L1H3 at S2 looks at the token after S1 (0.40) and at the token after IO
#   just as much (0.40). Split by order, it looks at the token after the *first* name of the
#   opening (0.74 or more), whoever that is: the " and" of "When Mary and John". A position again.
#   L2H1 prefers the token after S1 (0.32) to the token after IO (0.18), but only in ABBA prompts,
#   where S1 is the second name; in BABA prompts it splits its attention about evenly. That is
#   the one sign in the tables of "this name came before", in one order only.
# - **S-inhibition heads?** With L3H2 taken as a name mover, `find_circuit` path patches every
#   earlier head to its queries: the largest change any of them makes is 0.15, about 1% of the
#   logit difference. Nothing tells L3H2 where to look; it does not need telling, since it looks at
#   a fixed place.
#
# The head that matters most, L2H0, is in no class: from END it looks at S2 (0.99) and not at IO
# at all, yet its direct attribution is for IO. It reads the subject and writes *against* it: a
# *copy-suppression* head (McDougall et al., 2023, found such heads in GPT-2 small). L1H2, the
# tenth that section 3 found in layer 1, also looks from END at S2 (0.77).
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
# Does L2H0 look at S2 *because* that name is repeated, as a duplicate-token head or an S-inhibition
# head would tell it? If so, some earlier head's ABC output (where nothing repeats) would change
# L2H0's queries or keys and lower the logit difference. Take every head of layers 0 and 1 as the
# sender and L2H0's queries, keys and values as the receiver. (This is the test `find_circuit`
# runs for S-inhibition, pointed at the head that does the work instead of at a name mover.)

# %%
to_l2h0 = {}  # kind -> [layer head_index] for the senders of layers 0-1: how much the logit difference drops
for kind in "qkv":
    to_l2h0[kind] = torch.tensor([[clean_ld - path_patch_head(model, batch.clean, batch.abc, (layer, head), (2, 0, kind),
                                                              ld_metric).item()
                                   for head in range(n_heads)] for layer in range(2)])
library_q = patching.path_patch_all_senders(model, batch.clean, batch.abc, ld_metric, [(2, 0, "q")])[:2]
torch.testing.assert_close(to_l2h0["q"], clean_ld - library_q, atol=1e-4, rtol=1e-4)  # yours is the library's
print("your path_patch_head matches course.patching.path_patch_all_senders")
for kind, scores in to_l2h0.items():
    sender = divmod(int(scores.abs().argmax()), n_heads)
    print(f"senders in layers 0-1 -> L2H0's {kind}: largest change of the logit difference "
          f"{scores.abs().max():.3f} (L{sender[0]}H{sender[1]}), {scores.abs().max() / clean_ld:.1%} of it")
assert max(to_l2h0[kind].abs().max() for kind in "qk") < 0.005 * clean_ld  # trained-model claim
assert 0.01 * clean_ld < to_l2h0["v"].abs().max() < 0.03 * clean_ld  # trained-model claim: no sender feeds its values
rows = torch.arange(len(batch.items))
to_s2 = {}
for name, tokens in (("clean", batch.clean), ("ABC", batch.abc), ("corrupted", batch.corrupted)):
    _, run = model.run_with_cache(tokens, names_filter="blocks.2.attn.hook_pattern")
    to_s2[name] = run["pattern", 2][rows, 0, -1, batch.positions["S2"]].mean().item()
print("L2H0's attention END -> S2:", {k: round(v, 3) for k, v in to_s2.items()})
assert min(to_s2.values()) > 0.95  # trained-model claim: repeated or not, L2H0 looks at S2

# %% [markdown]
# No head of layers 0 and 1 changes what L2H0's queries or keys read by as much as half a percent
# of the logit difference. And L2H0 looks at S2 just as hard when the name there was never said
# before (ABC) as when it repeats. So it is not following a "this name is repeated" mark: it finds
# the subject of the last clause (the one who gives) by its place in the sentence, and pushes that
# name down. In these sentences the giver is never the receiver, so that is enough to rule out S,
# and IO is the name left. The model does not so much find the other name as push down the one
# that does the giving.
#
# Its *values* are not fed by any one earlier head either: the largest sender changes the logit
# difference by 2%. L2H0 reads the name at S2 from the token itself (and from MLP 0's output
# there, which section 3 found to differ wherever the token does).
#
# So the circuit, as this model has it, is short: in layer 2 one copy-suppression head, L2H0,
# reads the name at S2 and writes against it; L1H2, which also looks at S2, adds a tenth; and the
# MLP of layer 3 writes more again (how much of that is its own doing is the second open exercise).
# None of Wang et al.'s classes is there: the three heads the rules named look at positions, not at
# a name's role. A small model trained on a small world is free to find its own algorithm; finding
# it, instead of assuming GPT-2's, is the point of the tools. It is free in another way too: the
# same recipe trained from another random seed (the main model this course shipped before) ran the
# same algorithm in a head of layer 3 instead, fed by a head of layer 2. Which head does the job is
# the seed's choice; what the job is, the tools show either way. Whether the algorithm carries over
# to the sentence structures it never saw is the first open exercise below.

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
# Below, two sentences written for this page, in structures the corpus never uses. The first
# works: a logit difference of 10.9, Emma on top. The second fails: the model prefers Jack, if only by half a nat, and its
# top guess is a third person who is not in the sentence at all: " Ryan", with Emma ranked 18th.
# The logit difference measures a choice between the two names; it does not say the model would
# name either of them. Try your own, and try them on L2H0: does it still look
# at S2?

# %%
mine = {
    "fence": ioi.score_sentence(model, "On a rainy Tuesday, Emma and Jack fixed the old fence. Later, Jack handed "
                                       "the hammer to", io="Emma", s="Jack"),
    "torch": ioi.score_sentence(model, "Late one night, Emma and Jack heard a noise. Jack pointed the torch at",
                                io="Emma", s="Jack"),
}
for name, r in mine.items():
    print(f"{name:>6}: logit diff {r['logit_diff']:5.2f}, Emma ranked {r['io_rank']}, the model says {r['top']!r}")
assert mine["fence"]["top"] == " Emma" and 10.5 < mine["fence"]["logit_diff"] < 11.5  # trained-model claim: works (10.9)
assert mine["torch"]["top"] == " Ryan" and -1 < mine["torch"]["logit_diff"] < 0  # trained-model claim: Jack, by half a nat
assert mine["torch"]["io_rank"] == 17  # trained-model claim: Emma ranked 18th
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
#   attention of layers 1 and 2 moves it to END), and a one-token corruption makes the heads that
#   move it look decisive on their own.
# - Path patching isolates one path (sender -> receiver's queries, keys or values) and separates
#   heads that write the answer from heads that steer or feed others.
# - Rules that sort heads by average attention can be fooled: a head that looks at a fixed
#   position passes a test meant for a head that looks at a name's role. Compare with the other
#   name before believing a label.
# - TinyWorld's model solves the classic IOI sentence in layer 2: one copy-suppression head, L2H0,
#   looks at the subject of the last clause, repeated or not, and writes against it, and the MLP of
#   the last layer writes more again. There are no real name movers, duplicate-token, induction or
#   S-inhibition heads, and no head of layers 0 and 1 tells L2H0 where to look.
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
#    does worst, does L2H0 still find the subject of the last clause?
# 2. **Whose share is the MLP's?** (`"mlp_shares"`). The MLP of layer 3 writes half of the logit
#    difference directly. Give L2H0 its output from the ABC prompts and recompute the attribution:
#    how much of the MLP's share is left?
# 3. **Do the other heads matter?** (`"early_heads"`). Mean-ablate each head alone (among them the
#    three the rules named in section 4, L1H3, L2H1 and L3H2), all eight heads of layers 0 and 1
#    together, and compare with ablating L2H0. Which other head costs the most, and what does it
#    look at? Why can mean ablation over a batch of one sentence structure not remove *where* S2
#    is?

# %%
# Your exploration here. Then, for example: reveal("held_out_frames")

# %%
progress()
