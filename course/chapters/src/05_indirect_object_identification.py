# %% [markdown]
# # Chapter 05: Indirect object identification
#
# **Time:** about 60 minutes. **You will:**
#
# - measure a behaviour with one number, the *logit difference*;
# - split that number into what each layer and each attention head wrote (direct logit attribution);
# - run *activation patching*: copy one activation from a clean run into a corrupted one and see
#   how much of the behaviour comes back;
# - narrow it down with *path patching*, and sort the heads of the shipped model into the classes
#   of the IOI circuit: name movers, S-inhibition heads, duplicate-token and induction heads.
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
# the classic sentence.

# %%
import torch

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
# structures are harder: most are handled, one ("It rained, so ... read the newspaper to") is
# not. Whatever circuit we find below, it does not cover every way of writing the task.

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
# The residual stream at END is a sum: embeddings, plus what every attention layer and MLP wrote.
# The final LayerNorm divides that sum by one number (its scale, which we take from the cache) and
# the unembedding is linear, so each component's share of the logit difference is its dot product
# with the direction W_U[:, IO] - W_U[:, S], after the scale. Write that projection.

# %% [exercise] logit_attribution
check(logit_attribution)

# %%
logits, cache = model.run_with_cache(batch.clean)
components, labels = cache.decompose_resid()  # [component batch pos d_model]
end_components = cache.apply_ln_to_stack(components)[:, :, -1]  # [component batch d_model] at END
by_component = logit_attribution(end_components, model.W_U.detach(), batch.io, batch.s)
for label, value in zip(labels, by_component.tolist()):
    print(f"{label:>12} {value:+7.2f} " + "#" * int(abs(value) * 2))
print(f"{'sum':>12} {by_component.sum().item():+7.2f}   (the logit difference is {clean_ld:.2f}; "
      "the rest is LayerNorm's bias)")
share = dict(zip(labels, by_component.tolist()))
assert max(share, key=share.get) == "2_attn_out" and share["2_attn_out"] > 3  # trained-model claim
assert share["2_mlp_out"] + share["3_mlp_out"] > 3 and abs(share["0_attn_out"]) + abs(share["1_attn_out"]) < 0.5  # trained-model claim

# %% [markdown]
# The largest share is written by the attention of layer 2, the MLPs of layers 2 and 3 add about
# as much again, and the last layer's attention a little; the first two layers write almost
# nothing directly. (An MLP's direct share does not say where its input came from: it may be
# turning what layer 2's attention wrote into logits.) Which heads? `course.attribution` holds the
# same computation per head (each head's output is ``z @ W_O`` for its slice of z):

# %%
dla = attribution.dla_by_head(model, cache, batch.io, batch.s)  # [layer head_index]
print("direct logit attribution per head (rows: layers, columns: heads)")
for layer, row in enumerate(dla.tolist()):
    print(f"  L{layer}: " + "  ".join(f"{v:+6.2f}" for v in row))
top = torch.topk(dla.flatten(), 3)
for value, index in zip(top.values.tolist(), top.indices.tolist()):
    print(f"  L{index // model.cfg.n_heads}H{index % model.cfg.n_heads}: {value:+.2f}")

# %% [markdown]
# One head stands out. A head that writes a name into the answer would be expected to *look at*
# that name. Here is the attention of its layer on one prompt: pick the head with the largest
# attribution and hover over the last token (" to") to see where it looks. Is it IO?

# %%
layer_of_top = int(top.indices[0]) // model.cfg.n_heads
str_tokens = model.to_str_tokens(batch.clean[0])
AttentionPatterns.from_cache(cache, layer_of_top, str_tokens)

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

# %%
n_layers, n_pos = model.cfg.n_layers, batch.clean.shape[1]
_, clean_cache = model.run_with_cache(batch.clean, names_filter=lambda name: name.endswith("hook_resid_pre"))
grid = torch.zeros(n_layers, n_pos)
with torch.no_grad():
    for layer in range(n_layers):
        name = f"blocks.{layer}.hook_resid_pre"
        for pos in range(n_pos):
            hook = lambda act, hook, pos=pos, name=name: patch_position(act, clean_cache[name], pos)  # noqa: E731
            patched_logits = model.run_with_hooks(batch.corrupted, fwd_hooks=[(name, hook)])
            grid[layer, pos] = ioi_logit_diff(patched_logits, batch.io, batch.s)
grid = restored_fraction(grid, clean_ld, corrupted_ld)

print("restored fraction, patching the residual stream before each layer at each position")
print(" " * 6 + "".join(f"{t[:7]:>8}" for t in str_tokens))
for layer in range(n_layers):
    print(f"  L{layer}: " + "".join(f"{v:8.2f}" for v in grid[layer].tolist()))
s2 = int(batch.positions["S2"][0])
assert (grid[:-1, s2] > 0.9).all()  # trained-model claim: before layers 0-2, everything that matters sits at S2
assert grid[-1, -1] > 0.9 and grid[:-1, -1].abs().max() < 0.05  # trained-model claim: before layer 3, at END

# %% [markdown]
# Before layer 0, only the S2 position differs between the two runs, so patching it there
# restores everything. Follow the S2 column down: it stays at 1 before layers 0, 1 and 2, and in
# the last row the whole effect has jumped to END. So the information that tells the two prompts
# apart waits at S2 while layers 0 and 1 work on it there, and layer 2 moves it to END. The heads
# that move it live in layer 2. `course.patching` has the same loop, reusable, and one that
# patches each head's output (z) in turn; `metrics.logit_diff` is the course's logit difference
# (the same as yours):

# %%
metric = patching.normalised(lambda lg: metrics.logit_diff(lg, batch.io, batch.s), clean_ld, corrupted_ld)
library_grid = patching.patch_resid_by_layer_and_pos(model, batch.clean, batch.corrupted, metric)
torch.testing.assert_close(library_grid, grid, atol=1e-4, rtol=1e-4)  # your loop, reproduced
moved = [layer for layer in range(n_layers) if grid[layer, -1] > grid[layer, s2]]
print("first layer whose stream at END matters more than at S2:", moved[0] if moved else None)
assert moved[0] == 3  # trained-model claim
head_scores = patching.patch_heads(model, batch.clean, batch.corrupted, metric)
print("restored fraction when one head's output is patched")
for layer, row in enumerate(head_scores.tolist()):
    print(f"  L{layer}: " + "  ".join(f"{v:+6.2f}" for v in row))

# %% [markdown]
# ## 4. The circuit, head by head
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
# `ioi.attention_table` measures those attention signatures for every head, and
# `ioi.find_circuit` puts it together with the attribution above and one more test: **path
# patching**. It runs the clean prompts but gives one *sender* head its output on the ABC prompts
# (S2 replaced by a third name, so nothing is repeated), freezes every other head, and lets the
# change reach only the name movers' queries. A head whose change there lowers the logit
# difference is telling the name movers where to look: an S-inhibition head.

# %%
circuit = ioi.find_circuit(model, batch)
fmt = lambda heads: ", ".join(f"L{l}H{h}" for l, h in heads) or "none"  # noqa: E731
print("name movers:          ", fmt(circuit.name_movers))
print("negative name movers: ", fmt(circuit.negative_name_movers))
print("S-inhibition heads:   ", fmt(circuit.s_inhibition))
print("duplicate-token heads:", fmt(circuit.duplicate_token))
print("induction heads:      ", fmt(circuit.induction))
for key, table in circuit.attention.items():
    print(f"attention {key}:")
    for layer, row in enumerate(table.tolist()):
        print(f"  L{layer}: " + "  ".join(f"{v:5.2f}" for v in row))
assert circuit.name_movers and circuit.negative_name_movers  # trained-model claim
assert circuit.duplicate_token and circuit.induction and not circuit.s_inhibition  # trained-model claim
paths = torch.nan_to_num(circuit.s_inhibition_scores, nan=0.0)
largest_path = paths.abs().max().item()
sender = divmod(int(paths.abs().argmax()), model.cfg.n_heads)
print(f"largest effect of one head on the name movers' queries: L{sender[0]}H{sender[1]}, {largest_path:.2f} "
      f"of a logit difference of {circuit.clean_logit_diff:.1f}")
assert 0.05 * circuit.clean_logit_diff < largest_path < 0.1 * circuit.clean_logit_diff  # trained-model claim

# %% [markdown]
# Compare with GPT-2 small. Most classes are there: a name mover in the last layer (it attends
# from END to IO and writes IO with a small direct attribution), a negative name mover in layer 2
# (it attends to IO and writes against it), and in layer 1 a duplicate-token head and an induction
# head at S2. Path patching to the name mover's queries finds one head that changes them, but by
# less than a tenth of the logit difference, the bar the classifier sets: **no S-inhibition head**
# in Wang et al.'s sense. The attribution and the patching of section 3 point elsewhere: one head
# of layer 2 writes most of the logit difference, and patching it alone restores all of it. It is
# also the head that nudges the name mover's queries. Look at where it attends:

# %%
mover = divmod(int(head_scores.argmax()), model.cfg.n_heads)
print(f"L{mover[0]}H{mover[1]}: patching it restores {head_scores.max():.0%}; "
      f"the next best head restores {head_scores.flatten().topk(2).values[1]:.0%}")
print(f"direct logit attribution {dla[mover]:+.2f}; "
      f"attention END->S2 {circuit.attention['END->S2'][mover]:.2f}, END->IO {circuit.attention['END->IO'][mover]:.2f}")
assert mover == divmod(int(dla.argmax()), model.cfg.n_heads) == sender and head_scores.max() > 0.8  # trained-model claim
assert circuit.attention["END->S2"][mover] > 0.9 and dla[mover] > 3  # trained-model claim

# %% [markdown]
# It looks at the **subject**, S2, almost exclusively, and yet its output raises IO over S: it
# reads the repeated name and writes *against* it. That is a *copy-suppression* head (McDougall et
# al., 2023, found such heads in GPT-2 small, where they are the "negative name movers"): the
# model does not so much find the other name as push down the one it has seen twice, and the
# remaining name wins. What tells it that S2 is the repeated name? The residual-stream grid of
# section 3 kept everything at S2 until layer 2, and the attention table above shows layer-1 heads
# at S2 attending to S1 (duplicate token) and to the token after S1 (induction, chapter 04): the
# repetition is marked where it happens, and layer 2 reads it there.
#
# A small model trained on a small world is free to find its own algorithm; finding it, instead
# of assuming GPT-2's, is the point of the tools. That it fails on one of the ten new sentence
# structures (section 1) is the other lesson: patching tells you how a model computes on the
# prompts you chose, not that it computes the same way on every prompt.

# %% [markdown]
# The same head, patched through `hook_z` by hand (this is what `patching.patch_heads` does):

# %%
core = [mover]


def patch_core(act, hook):
    layer = int(hook.name.split(".")[1])
    act = act.clone()
    for l, h in core:
        if l == layer:
            act[:, :, h] = clean_z[hook.name][:, :, h]
    return act


_, clean_z = model.run_with_cache(batch.clean, names_filter=lambda n: n.endswith("hook_z"))
with torch.no_grad():
    patched = model.run_with_hooks(batch.corrupted, fwd_hooks=[(lambda n: n.endswith("hook_z"), patch_core)])
core_restored = metric(patched).item()
print(f"patching {len(core)} of {n_layers * model.cfg.n_heads} heads restores {core_restored:.0%} of the logit difference")
assert core_restored > 0.8  # trained-model claim

# %% [markdown]
# ## Recap
#
# - One well-chosen number (the logit difference) turns a behaviour into something we can measure.
# - Direct logit attribution splits it over components, but sees only direct effects.
# - Activation patching finds every activation that matters, by copying it between a clean and a
#   corrupted run; the position grid shows information moving from S2 to END.
# - Path patching isolates one path (sender -> receiver) and separates heads that write the answer
#   from heads that tell others where to look.
# - TinyWorld's model solves IOI mostly with a copy-suppression head in layer 2 that reads the
#   repeated name at S2 and writes against it, after layer-1 heads have marked the repetition; a
#   small name mover and a negative name mover add to it; there is no S-inhibition head. It works
#   on most sentence structures it never saw, not all.
#
# ## Further reading
#
# - Wang et al. (2022), *Interpretability in the Wild: a Circuit for Indirect Object
#   Identification in GPT-2 small*.
# - Heimersheim and Nanda (2024), *How to use and interpret activation patching*.
# - ARENA's chapter 1.4, *Indirect Object Identification*, which does the same on GPT-2 small.
# - Conmy et al. (2023), *Towards Automated Circuit Discovery* (ACDC).
# - McDougall et al. (2023), *Copy Suppression: Comprehensively Understanding an Attention Head*.

# %%
progress()
