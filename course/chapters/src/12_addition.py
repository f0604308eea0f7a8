# %% [markdown]
# # Chapter 12: How the model adds: a bag of heuristics, traced
#
# **Time:** about 60 minutes. **You will:**
#
# - measure tinyworld's addition on *every* pair of operands it could be asked about, and find where
#   its few errors sit;
# - draw, for single MLP neurons, an activation map over all 8,100 operand pairs, at the position
#   that predicts each digit of the answer;
# - write the code that sorts a neuron into a kind of *heuristic* (the sum's ones digit, a lookup
#   of the operands' ones digits, the size of the sum, one operand, the operands' tens digits) by the
#   share of its activation variance each explains;
# - keep only those neurons, then remove only them, and measure how much of the answer they carry;
# - trace `calc: 36 + 59 = 95` with attribution graphs, group the features into supernodes
#   (operands, ones-digit lookup, magnitude), and swap them between pairs on hundreds of held-out
#   sums to change the ones digit, or shift the tens;
# - test the school method ("6 + 9 = 15, write 5, carry the 1") against what the model does.
#
# Ask a language model how it added 36 and 59 and it will tell you about carrying the one. That is
# the method its training text describes, not necessarily the one its weights compute. Nikankin et
# al. (2024) looked inside models that add and found no single algorithm but a *bag of
# heuristics*: many neurons, each a small rule ("the operands end in 6 and 9", "the sum is
# somewhere in the 90s"), whose votes add up to the answer. Ameisen et al. (2025) traced the same
# prompt with attribution graphs and found parallel paths: a rough estimate of the sum's size and
# an exact lookup of its last digit. Here we run both analyses, live, on `tinyworld-v2` (the
# course's previous main model, on whose MLPs chapter 11's transcoders were trained), which learned
# to add from lines such as `calc: 36 + 59 = 95` in its corpus.
#
# Everything runs on the CPU in about a minute.

# %%
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course import zoo
from course.attribution_graph import build_graph
from course.exercises import check, hint, progress, reveal
from solutions.ch12_addition import (SUPERNODE_OF, ablation_scores, accuracy_table, activations_at, addition_batch,
                                     answers_correct, carry_neurons, class_mask, class_summary, classify_features,
                                     digit_margin, direct_into_logit, direct_logit_attribution, donor_pairs,
                                     feature_acts, group_supernodes, influence_by_group, neuron_attribution,
                                     out_of_range_accuracy, position_means, run_batch, swap_rates,
                                     synthetic_neurons, top_by_share)
from widgets import AttributionGraph

torch.manual_seed(0)
model = zoo.load("tinyworld-v2").eval()
clt = zoo.load("tinyworld-clt")  # chapter 11's cross-layer transcoder
tok = model.tokenizer
print(model.to_str_tokens("calc: 36 + 59 = 95"))
L, d_mlp = model.cfg.n_layers, model.cfg.d_mlp

# %% [markdown]
# The tokenizer writes every digit as its own token, and the answer follows a space. So the model
# answers one digit at a time: the space after `=` predicts the first digit, the first digit predicts
# the second, and so on. For a two-digit sum the **ones digit** is predicted at position 12 (where
# the tens digit has just been written); for a three-digit sum at position 13.
#
# ## 1. How well does it add?
#
# The corpus only ever adds two numbers from 10 to 99, and 10% of those pairs (both orders) never
# appear in it: they are the held-out pairs the model's card reports. With 8,100 pairs in all we do
# not need to sample: `addition_batch` writes every one of them with its answer, and one forward pass
# reads the prediction at every answer position (feeding the correct earlier digits, which is also
# what greedy decoding does as long as it is right).

# %%
batch = addition_batch(model)  # 8,100 pairs, a = 10..99 then b = 10..99
run = run_batch(model, batch, record={"first": "first", "ones": "ones"}, mlp_inputs=True)
correct, first_wrong = answers_correct(batch, run.top)
table = accuracy_table(batch, correct)
print(f"{'':>20}{'pairs':>8}{'exact':>9}")
for name, (n, accuracy) in table.items():
    print(f"{name:>20}{n:8d}{accuracy:9.4f}")
errors = [(int(batch.a[i]), int(batch.b[i])) for i in (~correct).nonzero()[:, 0]]
digit_names = {0: "the space", 1: "first digit", 2: "second digit", 3: "third digit", 4: "the end"}
for (a, b), i in zip(errors, (~correct).nonzero()[:, 0].tolist()):
    said = model.generate(model.to_tokens(f"calc: {a} + {b} ="), max_new_tokens=4)[0, 11:]
    print(f"  wrong: {a} + {b} = {a + b}, the model says {tok.decode(said.tolist()).split(chr(10))[0]!r} "
          f"(first wrong: {digit_names[int(first_wrong[i])]})")
card = model.card["metrics"]["addition_held_out_accuracy"]  # measured by greedy generation (course.evaluate)
print(f"the model card's held-out accuracy: {card:.4f}")
assert abs(table["held-out pairs"][1] - card) < 1e-6  # the teacher-forced count is the same measurement
assert table["all pairs"][1] > 0.99  # trained-model claim: it adds
assert table["held-out pairs"][1] > 0.99  # trained-model claim: ... on pairs it never saw too
assert 0 < len(errors) <= 5  # trained-model claim: a handful of errors
assert all((a % 10 + b % 10) == 10 for a, b in errors)  # trained-model claim: all where the ones digits make exactly 10
assert all(int(first_wrong[i]) == 2 for i in (~correct).nonzero()[:, 0])  # trained-model claim: in the tens digit

# %% [markdown]
# Almost perfect, on pairs it saw and pairs it did not, with and without a carry. Exact-match
# accuracy hides how *sure* the model is, though. The **margin** of a digit is its logit minus the
# best other digit's logit where it is predicted: below 0 the digit is wrong. Here is the smallest
# margin over an answer's digits, for every pair.

# %%
margins = torch.stack([digit_margin(run, batch, w) for w in ("tens", "ones")], 1)  # [n 2]
fig = go.Figure(go.Heatmap(z=batch.grid(margins.min(1).values).numpy(), x=list(range(10, 100)),
                           y=list(range(10, 100)), colorscale="Viridis", colorbar_title="margin"))
fig.update_layout(title="Smallest digit margin of each answer (a down, b across)", height=520, width=600,
                  xaxis_title="b", yaxis_title="a", yaxis_autorange="reversed")
fig

# %% [markdown]
# The map is not uniform: it has structure at the scale of single digits, with lines along
# anti-diagonals (a + b constant) inside every block of ten. Keep this picture in mind; section 5
# comes back to the lowest margins, where the errors are.
#
# ## 2. Neurons, pair by pair
#
# Which neurons matter for a digit? For every MLP neuron, at the position that predicts that digit,
# `neuron_attribution` estimates how much the correct digit's logit (minus the mean of the ten
# digit logits) would drop if the neuron were held at its average: its activation's deviation
# from the average, times the gradient of that logit, with the norms' scales frozen (as in an
# attribution graph). We rank neurons by it for the **first** digit (the tens digit of a two-digit
# sum, the 1 of a three-digit one) and the **ones** digit, on a sample of 1,024 pairs.

# %%
sample = batch.select(torch.randperm(len(batch), generator=torch.Generator().manual_seed(0))[:1024])
attribution = {w: neuron_attribution(model, sample, w) for w in ("first", "ones")}  # [layer d_mlp] each
for w, a in attribution.items():
    top = top_by_share(a, 0.8)
    print(f"{w:>6} digit: {len(top)} neurons carry 80% of the |attribution|; by layer "
          f"{[int((top // d_mlp == l).sum()) for l in range(L)]}; share of layer 3 "
          f"{a[3].abs().sum() / a.abs().sum():.2f}")
    assert 50 < len(top) < 300  # trained-model claim: many neurons, no single one
    assert a[3].abs().sum() / a.abs().sum() > 0.5  # trained-model claim: mostly the last MLP

# %% [markdown]
# No neuron does the job alone: more than a hundred share 80% of it, most of them in the last MLP.
# What does each one respond to? Draw its activation for every pair: a down, b across.

# %%
def neuron_map(which, layer, index):
    return batch.grid(run.post[which][:, layer, index])  # [90 90]


best = {w: [divmod(int(i), d_mlp) for i in top_by_share(attribution[w], 0.8)[:3]] for w in ("first", "ones")}
fig = make_subplots(rows=2, cols=3, subplot_titles=[f"{w} digit: L{l} N{n}" for w in best for l, n in best[w]],
                    horizontal_spacing=0.06, vertical_spacing=0.1)
for r, w in enumerate(best):
    for c, (l, n) in enumerate(best[w]):
        fig.add_trace(go.Heatmap(z=neuron_map(w, l, n).numpy(), x=list(range(10, 100)), y=list(range(10, 100)),
                                 colorscale="RdBu_r", zmid=0, showscale=False), row=r + 1, col=c + 1)
fig.update_yaxes(autorange="reversed")
fig.update_layout(title="The three most important neurons for each digit: activation over a (down) and b (across)",
                  height=650, width=900)
fig

# %% [markdown]
# Two different textures. The ones-digit neurons tile the square with a 10 x 10 pattern that
# repeats in every block: they only see the operands' **ones digits** (a lookup table, "_6 + _9").
# The first-digit neurons are blocky at the scale of whole tens: they see the operands roughly,
# by their **tens digits** ("about 40 + about 50"), some with a diagonal edge where the sum crosses
# a threshold.
#
# To say this with numbers we ask how much of a neuron's variance a grouping of the pairs
# explains. Group the 8,100 pairs, say by a % 10; predict each activation by the mean of its
# group; the share of variance explained (eta squared) is 1 minus the squared error left over
# the squared deviation from the overall mean. Write it.

# %% [exercise] explained_by_groups
check(explained_by_groups)

# %% [markdown]
# Now sort a neuron into a heuristic. Each candidate is a grouping of the pairs:
#
# | heuristic | grouping | example rule |
# |---|---|---|
# | sum mod 10 | (a + b) % 10 | "the sum ends in 5" |
# | ones digits | (a % 10, b % 10) | "the operands end in 6 and 9" |
# | sum | a + b | "the sum is in the 90s" |
# | one operand | a alone, or b alone | "a is in the 30s" |
# | tens digits | (a // 10, b // 10) | "about 40 + about 50" |
#
# A neuron gets the first label, in that order, whose grouping explains at least 70% of its
# variance; the order goes from the most specific grouping to the least. Try your function on six
# made-up neurons first, then the checker.

# %% [exercise] classify_neuron
check(classify_neuron)

# %%
a_all, b_all, made_up = synthetic_neurons()
for name, acts in made_up.items():
    result = classify_neuron(acts, a_all, b_all)
    print(f"made-up {name!r:>15} -> {result['label']!r:>15}; " + ", ".join(
        f"{k} {v:.2f}" for k, v in result.items() if k != "label"))

# %% [markdown]
# Now the model's neurons: the ones that carry 80% of each digit's attribution, each classified
# on its activations at the position that predicts that digit.

# %%
neurons, classes = {}, {}
for w in ("first", "ones"):
    top = top_by_share(attribution[w], 0.8)
    results = [classify_neuron(run.post[w][:, int(i) // d_mlp, int(i) % d_mlp], batch.a, batch.b) for i in top]
    classes[w] = {divmod(int(i), d_mlp): r for i, r in zip(top, results)}
    weight = attribution[w].flatten()[top].abs()
    print(f"{w} digit: {len(top)} neurons")
    for label in ("sum mod 10", "ones digits", "sum", "one operand", "tens digits", "unclassified"):
        members = [k for k, r in enumerate(results) if r["label"] == label]
        print(f"  {label:>13}: {len(members):3d} neurons, "
              f"{weight[members].sum() / weight.sum():.0%} of the attribution")
    mask = torch.zeros(L * d_mlp, dtype=torch.bool)
    mask[top[[k for k, r in enumerate(results) if r["label"] != "unclassified"]]] = True
    neurons[w] = mask.reshape(L, d_mlp)  # the heuristic neurons of this digit


def share_of(w, labels):
    top = top_by_share(attribution[w], 0.8)
    weight = attribution[w].flatten()[top].abs()
    chosen = [k for k, i in enumerate(top) if classes[w][divmod(int(i), d_mlp)]["label"] in labels]
    return weight[chosen].sum() / weight.sum()


assert share_of("ones", ("ones digits", "sum mod 10")) > 0.9  # trained-model claim: the ones digit is a lookup
assert share_of("ones", ("sum mod 10",)) < 0.1  # trained-model claim: ... of both ones digits, not of the sum mod 10
assert share_of("first", ("tens digits", "sum", "one operand")) > 0.8  # trained-model claim: the first digit, magnitude
assert share_of("first", ("unclassified",)) < 0.1  # trained-model claim: almost every important neuron has a label
median_mod10 = torch.tensor([r["sum mod 10"] for r in classes["ones"].values()]).median()
print(f"ones-digit neurons: median share explained by the sum mod 10 alone {median_mod10:.2f}, "
      f"by both ones digits {torch.tensor([r['ones digits'] for r in classes['ones'].values()]).median():.2f}")

# %% [markdown]
# The ones digit is a lookup: nearly every neuron that matters for it is a function of the two ones
# digits, and hardly any of the *sum's* ones digit alone. Each one fires for an irregular set of
# digit pairs: a piece of the addition table, not "the sum ends in 5". The first digit is a
# matter of size: neurons that read the operands' tens digits, the rough size of the sum, or one
# operand (and a few that read the ones digits: section 5 comes back to them). Together, a bag of
# small rules.
#
# ## 3. How much of the answer do they carry?
#
# A label is a description. Do these neurons *do* the work? On the held-out pairs, where each digit
# is predicted, we set neurons to their mean activation over all pairs (*mean ablation*) in three
# ways: keep only the heuristic neurons, remove only them, and, as a control, remove as many
# random neurons of the same layers. The score is the correct digit's logit difference as a share of
# the way from "every neuron ablated" (0) to the clean model (1), and the digit's accuracy.

# %%
held = batch.select(batch.held_out.nonzero()[:, 0])
means = {w: position_means(run.post[w], batch.position(w)) for w in ("first", "ones")}
ablation = {w: ablation_scores(model, held, w, neurons[w], means[w], clean=run.digits[batch.held_out])
            for w in ("first", "ones")}
for w, scores in ablation.items():
    print(f"{w} digit, {int(neurons[w].sum())} heuristic neurons, {len(held)} held-out pairs:")
    for name, s in scores.items():
        print(f"  {name:>30}: logit diff {s['logit_diff']:6.2f}, share {s['share']:5.2f}, accuracy {s['accuracy']:.3f}")
for w in ("first", "ones"):
    s = ablation[w]
    assert s["keep these, ablate the rest"]["share"] > 0.8  # trained-model claim: they carry most of the answer
    assert s["ablate these, keep the rest"]["share"] < 0.25  # trained-model claim: without them, little is left
    random_share, these_share = s["ablate as many random neurons"]["share"], s["ablate these, keep the rest"]["share"]
    assert random_share > these_share + 0.4  # trained-model claim: random neurons matter much less
assert ablation["ones"]["keep these, ablate the rest"]["accuracy"] > 0.95  # trained-model claim

kinds = ("keep these, ablate the rest", "ablate these, keep the rest", "ablate as many random neurons")
fig = go.Figure([go.Bar(name=name, x=[f"{w} digit" for w in ablation], y=[ablation[w][name]["share"] for w in ablation])
                 for name in kinds])
fig.update_layout(title="Share of the correct digit's logit difference (held-out pairs)", barmode="group", height=340,
                  yaxis_title="share")
fig

# %% [markdown]
# A hundred-odd neurons in the last MLP, each a crude rule, carry most of each digit; remove them and
# the answer mostly goes, while removing as many random neurons costs much less.
#
# ## 4. The attribution graph of 36 + 59
#
# Neurons are a basis the model happens to use. Chapter 11's transcoder features are a sparser one,
# and they let us draw the whole computation of one prompt as a graph. We need two graphs, one per
# digit: `calc: 36 + 59 = ` predicts the 9, and `calc: 36 + 59 = 9` predicts the 5. (36 + 59 is a
# trained pair; the held-out pairs come right after.)
#
# To name the features we use the same rule as for neurons: every CLT feature that fires on at
# least 1% of the pairs, classified by your `classify_neuron` on its activations over all 8,100
# pairs, where each digit is predicted.

# %%
feature_classes = {w: classify_features(clt, run.mlp_in[w], batch.a, batch.b, classify=classify_neuron)
                   for w in ("first", "ones")}
summary = {w: class_summary(clt, run.mlp_in[w], feature_classes[w]) for w in feature_classes}
for w, rows in summary.items():
    print(f"{w} digit: {len(feature_classes[w])} features fire on >= 1% of the pairs")
    for label, s in rows.items():
        print(f"  {label:>13}: {int(s['features']):3d} features, each firing on {s['median fire rate']:.1%} of the "
              f"pairs (median), {s['share of activation']:.0%} of all their activation")
for w in summary:
    assert summary[w]["unclassified"]["median fire rate"] < 0.1  # trained-model claim: the unlabelled ones are rare
    assert summary[w]["unclassified"]["share of activation"] < 0.2  # trained-model claim: ... and carry little

# %% [markdown]
# About half of the features that fire get no label, but they are rare ones: each fires on a few
# percent of the pairs, and together they carry a small share of the activation. The common
# features are heuristics of the kinds the neurons showed. (Where the ones digit is predicted, most
# of the activation is in "sum" features: they read the tens digit the model has just written,
# which the sum decides. In the graph they join the magnitude.)

# %%
graphs, pruned = {}, {}
for w, prompt in (("first", "calc: 36 + 59 = "), ("ones", "calc: 36 + 59 = 9")):
    graphs[w] = build_graph(model, clt, prompt)
    pruned[w] = graphs[w].prune()
    group_supernodes(graphs[w], feature_classes[w], pruned[w])
    print(f"{prompt!r}: {graphs[w]}")
    print(f"  pruned to {int(pruned[w].node_mask.sum())} nodes; scores "
          f"{ {k: round(v, 2) for k, v in graphs[w].scores().items()} }")
    print("  share of the influence on the logit:",
          {k: round(v, 2) for k, v in sorted(influence_by_group(graphs[w], pruned[w]).items())})
    assert graphs[w].scores()["replacement_score"] > 0.75  # trained-model claim: mostly explained by features
into = direct_into_logit(graphs["ones"], "5", pruned["ones"])
print("direct edges into the logit of '5':", {k: round(v, 2) for k, v in sorted(into.items())})
assert max(into, key=into.get) == "ones digits (lookup)"  # trained-model claim: the lookup writes the 5

# %%
widget = AttributionGraph(graphs["ones"].to_dict())
widget

# %% [markdown]
# Each graph has the parts the story needs. Features at the operands' digit tokens (**first
# operand**, **second operand**) feed, through attention, the features at the last position, which
# split into the classes found over all pairs: the **ones-digit lookup** and the **magnitude**
# (sum range, tens digits, one operand). *Influence* sums every path from a node to the logit (so it
# is never negative): that is the share each group carries. The *direct* edges into the 5 come
# mostly from the lookup, some from the operands' own features (through attention, without passing
# through the lookup), and the magnitude features push it down: a direct edge is measured against
# the mean over the whole vocabulary, and those features lower every digit's logit alike, which does
# not change which digit wins.
#
# In the widget, hover a node for its contexts and what it promotes, click one to light its
# strongest paths; the four supernodes are drawn as boxes.

# %% [markdown]
# One prompt can mislead, so here are held-out pairs: for each, the graph of its ones digit and the
# share of the influence each group carries.

# %%
examples = [(a, b) for a, b in zip(held.a.tolist(), held.b.tolist()) if a + b < 100][::40][:6]
keys = ["first operand", "second operand", "ones digits (lookup)", "magnitude", "other features", "error nodes"]
print(f"{'pair':>9}" + "".join(f"{k:>22}" for k in keys))
shares = []
for a, b in examples:
    g = build_graph(model, clt, f"calc: {a} + {b} = {(a + b) // 10}")
    p = g.prune()
    group_supernodes(g, feature_classes["ones"], p)
    shares.append(influence_by_group(g, p))
    print(f"{a:>3} + {b:<3}" + "".join(f"{shares[-1].get(k, 0.0):22.2f}" for k in keys))
mean_share = {k: sum(s.get(k, 0.0) for s in shares) / len(shares) for k in keys}
print(f"{'mean':>9}" + "".join(f"{mean_share[k]:22.2f}" for k in keys))
assert all(max(s, key=s.get) == "ones digits (lookup)" for s in shares)  # trained-model claim: the lookup leads
assert all(s.get("error nodes", 0.0) < 0.2 for s in shares)  # trained-model claim: errors carry little

# %% [markdown]
# The lookup leads in every graph, the operands' own features follow, and the error nodes carry
# little. In the residual stream, where does the correct digit's logit come from directly? Split it
# into what each layer wrote at the position that predicts the ones digit (direct logit
# attribution, chapter 05), over the held-out pairs:

# %%
dla = direct_logit_attribution(model, held, "ones")
print({k: round(v, 2) for k, v in dla.items()}, f"total {sum(dla.values()):.2f}")
assert dla["3.mlp"] > 0.6 * sum(dla.values())  # trained-model claim: the last MLP writes most of it
assert dla["3.attn"] > 0.1 * sum(dla.values())  # trained-model claim: the last attention layer some of it

# %% [markdown]
# Most of it is written by the last MLP, where the lookup neurons are, and a fifth by the last
# attention layer, which reads the operands' digits at their own tokens.
#
# ### Interventions, measured as rates
#
# A graph is a hypothesis about one prompt. To test it on many, we move features between pairs on the
# real model. For each held-out pair we pick a **donor** pair and, where one digit is predicted, set
# a class of features to the donor's activations there (the prompt's own ones go to 0 unless the
# donor also uses them):
#
# - **change the ones digit:** the donor keeps a and moves b's ones digit by 5 (so the sum's ones
#   digit moves by 5); swap the *ones-digit lookup* features where the ones digit is predicted;
# - **shift the magnitude:** the donor adds 10 to a (or takes 10 away from 90..99), so the sum moves
#   by 10; swap the *magnitude* features where the first digit is predicted.
#
# Each swap has a control: swap the *other* class of features from the same donor.

# %%
lookup = ("ones digits", "sum mod 10")
magnitude = tuple(k for k, v in SUPERNODE_OF.items() if v == "magnitude")
outcomes = {}
for w, change, labels, other in (("ones", "ones", lookup, magnitude), ("first", "tens", magnitude, lookup)):
    rows_, donors = donor_pairs(held, change)
    pairs, donor = held.select(rows_), addition_batch(model, donors)
    donor_run = run_batch(model, donor, record={w: w}, mlp_inputs=True)
    donor_acts = feature_acts(clt, donor_run.mlp_in[w])
    shape = donor_acts.shape[1:]
    chosen, control = class_mask(feature_classes[w], labels, shape), class_mask(feature_classes[w], other, shape)
    outcomes[w] = {"swap": swap_rates(model, clt, pairs, w, chosen, donor, donor_acts),
                   "control": swap_rates(model, clt, pairs, w, control, donor, donor_acts)}
    if w == "ones":  # the same swap, plus the donor's last attention output where the ones digit is predicted
        patch = activations_at(model, donor, w, [f"blocks.{L - 1}.hook_attn_out"])
        outcomes[w]["swap + attention"] = swap_rates(model, clt, pairs, w, chosen, donor, donor_acts, patches=patch)
        outcomes[w]["attention alone"] = swap_rates(model, clt, pairs, w, torch.zeros_like(chosen), donor, donor_acts,
                                                    patches=patch)
    for name, r in outcomes[w].items():
        n_features = int(control.sum() if name == "control" else 0 if name == "attention alone" else chosen.sum())
        print(f"{w} digit, {name:>16} ({n_features} features, {r['n']} pairs): " + ", ".join(
            f"{k} {v:.2f}" for k, v in r.items() if k != "n"))

# %%
assert outcomes["first"]["swap"]["donor's digit"] > 0.8  # trained-model claim: the magnitude features set the tens
assert outcomes["first"]["control"]["own digit"] > 0.95  # trained-model claim: the lookup features do not
assert outcomes["ones"]["control"]["own digit"] > 0.95  # trained-model claim: the magnitude features do not
assert outcomes["ones"]["swap"]["own digit"] < 0.3  # trained-model claim: the lookup swap removes the ones digit ...
assert outcomes["ones"]["swap"]["donor's digit"] > 0.15  # trained-model claim: ... but installs the donor's less often
with_attention = outcomes["ones"]["swap + attention"]["donor's digit"]
assert with_attention > outcomes["ones"]["swap"]["donor's digit"] + 0.3  # trained-model claim: attention votes too
assert outcomes["ones"]["attention alone"]["donor's digit"] > 0.3  # trained-model claim

# %% [markdown]
# The two swaps behave differently, and both tell us something:
#
# - The **magnitude** features decide the first digit: swapped from a pair ten higher (or lower),
#   they move the digit to the donor's on most held-out pairs (the pairs counted are those whose
#   first digit differs from the donor's), and the lookup features, swapped from the same donor,
#   never move it. Size and last digit travel on separate paths.
# - The **lookup** features are needed for the ones digit but are not enough to move it: swapping
#   them almost always removes the right digit, yet puts the donor's in its place on a minority of
#   pairs. The rest of the vote arrives by another path: the last attention layer, which brings the
#   operands' ones digits to this position, both straight to the logits (a fifth of the logit
#   above) and into the MLP where the lookup reads them. Swap the donor's attention output there
#   as well and the donor's digit wins on most pairs; swap it alone and the lookup, reading it,
#   follows part of the way. The ones digit is the sum of parallel votes, not the output of one unit.
#
# ## 5. The model's account and its mechanism
#
# tinyworld's corpus contains sums but no explanations, so we cannot ask it how it adds. The account a
# person (or a larger model) would give is the school method: add the ones digits and write the
# ones digit of that; if it was 10 or more, carry a 1; add the tens digits and the carry. The method
# makes predictions we can test on the model:
#
# 1. the carry is one bit: every pair whose ones digits make 10 to 18 is the same to the tens column;
# 2. the tens column *adds*: it depends on a // 10 + b // 10 + carry, one number;
# 3. it works for numbers of any length.
#
# First, is there a carry at all? Among the neurons where the first digit is predicted, find the one
# whose activation the carry bit (a % 10 + b % 10 >= 10) explains best.

# %%
post = run.post["first"].flatten(1)  # [n layer * d_mlp]
carry_share, best = carry_neurons(post, batch)
ones_sum = batch.a % 10 + batch.b % 10
profile = torch.stack([post[ones_sum == v, best].mean() for v in range(19)])
print(f"L{best // d_mlp} N{best % d_mlp}: the carry bit explains {carry_share[best]:.2f} of its variance, the pair of "
      f"ones digits {explained_by_groups(post[:, best], (batch.a % 10) * 10 + batch.b % 10):.2f}; "
      f"{int((carry_share >= 0.5).sum())} neurons have a carry share of 0.5 or more")
print("its mean activation by a % 10 + b % 10:", [round(v, 2) for v in profile.tolist()])
carry_like = carry_share >= 0.5
print(f"their share of the first digit's |attribution|: "
      f"{attribution['first'].flatten().abs()[carry_like].sum() / attribution['first'].abs().sum():.3f}")
assert carry_share[best] > 0.8  # trained-model claim: there is a carry-like neuron ...
assert profile[10] < 0.5 * profile[:9].mean() and profile[9] < profile[:9].max()  # trained-model claim: ... a soft edge
carry_attribution = attribution["first"].flatten().abs()[carry_like].sum() / attribution["first"].abs().sum()
assert carry_attribution < 0.1  # trained-model claim: a small part of the first digit's attribution

tens_margin = digit_margin(run, batch, "tens")
by_ones_sum = torch.stack([tens_margin[ones_sum == v].mean() for v in range(19)])
name = f"L{best // d_mlp} N{best % d_mlp}"
fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{name} over a (down) and b (across)",
                                                    f"{name}: mean by a % 10 + b % 10", "tens digit: mean margin"])
fig.add_trace(go.Heatmap(z=batch.grid(post[:, best]).numpy(), x=list(range(10, 100)), y=list(range(10, 100)),
                         colorscale="RdBu_r", zmid=0, showscale=False), row=1, col=1)
colours = ["#0072B2"] * 10 + ["#D55E00"] * 9  # orange: the ones digits carry
fig.add_trace(go.Bar(x=list(range(19)), y=profile.numpy(), marker_color=colours, showlegend=False), row=1, col=2)
fig.add_trace(go.Bar(x=list(range(19)), y=by_ones_sum.numpy(), marker_color=colours, showlegend=False), row=1, col=3)
fig.update_yaxes(autorange="reversed", row=1, col=1)
fig.update_xaxes(title_text="a % 10 + b % 10 (orange: a carry)", row=1, col=2)
fig.update_xaxes(title_text="a % 10 + b % 10", row=1, col=3)
fig.update_layout(height=360, width=1000, title="The carry, as the model has it")
print("mean margin of the tens digit by a % 10 + b % 10:", [round(v, 2) for v in by_ones_sum.tolist()])
assert by_ones_sum.argmin() == 10  # trained-model claim: least sure when the ones digits make exactly 10
assert by_ones_sum[10] < by_ones_sum[18] - 1 and by_ones_sum[9] < by_ones_sum[0]  # trained-model claim: graded
fig

# %% [markdown]
# So there *is* a carry heuristic: a few layer-2 neurons that fire when the ones digits make less than
# 10 (or, for others, 10 or more). It is one more rule in the bag, with a small share of the
# attribution, and it is not a clean bit: its edge is soft, and it is weakest right at the boundary.
# The tens digit's margin shows the consequence. To the school method every carrying pair is the
# same; to the model the tens digit is least sure exactly where the ones digits make 10, and surer
# the further their sum is from that edge, on both sides: what an estimate compared with a threshold
# looks like. Both of the model's errors are such pairs (section 1).
#
# Second, does the tens column add? If it did, the neurons that set the first digit would depend on
# the pairs through one number, a // 10 + b // 10 + carry (which is (a + b) // 10). Compare that
# grouping with the lookup of the same three things, (a // 10, b // 10, carry), on the heuristic
# neurons of the first digit:

# %%
first_neurons = neurons["first"].flatten().nonzero()[:, 0]
X = post[:, first_neurons]
added = explained_by_groups(X, batch.total // 10).median()  # a // 10 + b // 10 + carry: the column's sum
looked_up = explained_by_groups(X, (batch.a // 10) * 20 + (batch.b // 10) * 2 + batch.carry.long()).median()
print(f"median share over {len(first_neurons)} neurons: (a + b) // 10 explains {added:.2f}, "
      f"(a // 10, b // 10, carry) explains {looked_up:.2f}")
assert looked_up > 0.9 and added < 0.5  # trained-model claim: a lookup of the digits, not their sum

# %% [markdown]
# The neurons are functions of the three inputs of the tens column, but not of their sum: each one
# covers an irregular patch of (tens of a, tens of b, carry) combinations, and their votes, read
# together by the unembedding, give the digit. A table, not an adder.
#
# Third, other lengths. The corpus only ever writes operands from 10 to 99. The school method does
# not care; does the model?

# %%
other_lengths = out_of_range_accuracy(model)
print({k: round(v, 2) for k, v in other_lengths.items()})
assert other_lengths["two-digit operands (its range)"] > 0.95  # trained-model claim
assert other_lengths["one-digit operands (0..9)"] < 0.5  # trained-model claim: rules about its own range
assert other_lengths["three-digit operands"] < 0.5  # trained-model claim

# %% [markdown]
# Almost never right. The rules it learned are rules about two-digit operands in this exact
# format, not about digits.
#
# So the account and the mechanism differ, and the difference is measurable: the answer comes from
# many parallel, low-precision heuristics (a lookup of the operands' tens digits, ranges of the sum,
# a lookup of the ones digits, a soft carry signal, attention that carries the digits to where the
# answer is written), whose votes add up. Parts of the school method have counterparts, the carry
# most of all, but as graded rules in a table, tied to the range it was trained on.
#
# ## Recap
#
# - tinyworld adds two numbers of 10..99 almost perfectly, held-out pairs included; its two errors
#   are in the tens digit, where the ones digits make exactly 10.
# - The neurons that matter are mostly in the last MLP, more than a hundred per digit. The ones
#   digit's are lookups of both ones digits; the first digit's read the operands' tens digits, the
#   range of the sum, or one operand. The share of variance a grouping explains (eta squared) turns
#   that into labels.
# - Keeping only those neurons keeps most of the correct logit; removing them removes most of it.
# - Attribution graphs with the CLT show the same parts as features: operands, a ones-digit lookup,
#   magnitude. Swapping the magnitude features between pairs moves the first digit; the lookup
#   features are needed for the ones digit, and move it together with the attention that carries the
#   ones digits.
# - The school method has counterparts, but not as an algorithm: a soft carry signal among many
#   rules, a tens column looked up rather than added, and nothing that carries over to other lengths.
#
# ## Further reading
#
# - Nikankin, Reusch, Mueller and Belinkov (2024), *Arithmetic Without Algorithms: Language Models
#   Solve Math with a Bag of Heuristics*: the neuron-level classification this chapter follows
#   (range, modulo, pattern heuristics), on Llama and other models.
# - Ameisen et al. (2025), *Circuit Tracing: Revealing Computational Graphs in Language Models*, and
#   Lindsey et al. (2025), *On the Biology of a Large Language Model*: the addition graphs of
#   `calc: 36 + 59 =`, with lookup-table and low-precision features.
# - Nanda et al. (2023), *Progress measures for grokking via mechanistic interpretability*
#   (chapter 08): a model that *does* learn one clean algorithm, for modular addition.
#
# ## Open exercises
#
# Worked answers: `reveal("other_formats")` and so on prints the code (run it if you like).
#
# 1. **Other formats** (`"other_formats"`). The corpus always writes `calc: a + b =`. Ask the
#    held-out pairs without `calc:`, without spaces around `+`, or with another word. Does the
#    skill belong to the numbers or to the format?
# 2. **A carry feature?** (`"carry_search"`). Repeat the carry search over the CLT's features where
#    the first digit is predicted. Is the best feature a sharper carry bit than the best neuron?
# 3. **One lookup or two?** (`"pathways_per_digit"`). The ones digit is predicted at position 12 for
#    two-digit sums and at 13 for three-digit ones. Do the same neurons do both jobs? Keep only the
#    heuristic neurons and compare the accuracy of the two.

# %%
# Your exploration here. Then, for example: reveal("other_formats")

# %%
progress()
