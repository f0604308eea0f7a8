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
# an exact lookup of its last digit. Here we run both analyses, live, on the course's main model,
# `tinyworld`, which learned to add from lines such as `calc: 36 + 59 = 95` in its corpus, and on
# chapter 11's cross-layer transcoder, trained on its MLPs.
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
model = zoo.load("tinyworld").eval()
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
wrong = (~correct).nonzero()[:, 0].tolist()
errors = [(int(batch.a[i]), int(batch.b[i])) for i in wrong]
place = {0: "ones", 1: "tens", 2: "hundreds"}  # counted from the right
said, wrong_place = {}, {}
for (a, b), i in zip(errors, wrong):
    out = model.generate(model.to_tokens(f"calc: {a} + {b} ="), max_new_tokens=4)[0, 11:]
    said[a, b] = tok.decode(out.tolist()).split(chr(10))[0].strip()
    wrong_place[a, b] = place.get(int(batch.n_digits[i] - first_wrong[i]), "space or end")  # the first wrong one
    print(f"  wrong: {a} + {b} = {a + b}, the model says {said[a, b]!r} (first wrong: the {wrong_place[a, b]} digit; "
          f"ones digits make {a % 10 + b % 10}{', held out' if batch.held_out[i] else ''})")
card = model.card["metrics"]["addition_held_out_accuracy"]  # measured by greedy generation (course.evaluate)
print(f"the model card's held-out accuracy: {card:.4f}")
at_carry = [(a, b) for a, b in errors if wrong_place[a, b] == "tens" and a % 10 + b % 10 in (9, 10)]
lost = [(a, b) for a, b in at_carry if a % 10 + b % 10 == 10 and said[a, b] == str(a + b - 10)]
made_up = [(a, b) for a, b in at_carry if a % 10 + b % 10 == 9 and said[a, b] == str(a + b + 10)]
print(f"{len(errors)} errors; {len(at_carry)} in the tens digit where the ones digits make 9 or 10: "
      f"{len(lost)} lose the carry, {len(made_up)} make one up")
assert abs(table["held-out pairs"][1] - card) < 1e-6  # the teacher-forced count is the same measurement
assert table["all pairs"][1] > 0.99  # trained-model claim: it adds (measured 0.9970)
assert table["held-out pairs"][1] > 0.99  # trained-model claim: ... on pairs it never saw too (measured 0.9963)
assert 15 <= len(errors) <= 35  # trained-model claim: a couple of dozen errors (measured 24)
assert len(at_carry) >= 0.6 * len(errors)  # trained-model claim: most at the carry's edge (measured 18 of 24)
assert len(lost) + len(made_up) == len(at_carry) and len(lost) > len(made_up)  # trained-model claim (15 and 3)
assert all(a + b >= 100 for a, b in at_carry) and (41, 69) in lost and (80, 69) in made_up  # trained-model claim

# %% [markdown]
# Almost perfect, on pairs it saw and pairs it did not, with and without a carry. The couple of
# dozen errors are not scattered at random, though: most are in the tens digit of a three-digit sum,
# right at the carry's edge. Where the ones digits make exactly 10 (41 + 69) the model writes the
# tens digit one too low, as if it had forgotten the carry (100 for 110); where they make 9 (80 + 69)
# it writes it one too high, carrying a 1 that is not there. Section 5 comes back to this.
#
# Exact-match accuracy hides how *sure* the model is. The **margin** of a digit is its logit minus
# the best other digit's logit where it is predicted: below 0 the digit is wrong. Here is the
# smallest margin over an answer's digits, for every pair.

# %%
margins = torch.stack([digit_margin(run, batch, w) for w in ("tens", "ones")], 1)  # [n 2]
fig = go.Figure(go.Heatmap(z=batch.grid(margins.min(1).values).numpy(), x=list(range(10, 100)),
                           y=list(range(10, 100)), colorscale="Viridis", colorbar_title="margin"))
fig.update_layout(title="Smallest digit margin of each answer (a down, b across)", height=520, width=600,
                  xaxis_title="b", yaxis_title="a", yaxis_autorange="reversed")
smallest = margins.min(1).values
by_decade = {t: smallest[batch.total // 10 == t // 10].mean().item() for t in range(20, 200, 10)}
print("mean smallest margin by the sum's tens:", {f"{t}s": round(v, 1) for t, v in by_decade.items()})
assert max(by_decade, key=by_decade.get) == 100  # trained-model claim: surest in the 100s (6.1; the rest 3.1 to 5.2)
fig

# %% [markdown]
# The map is not uniform. It changes at the scale of tens, in bands along the anti-diagonals
# (a + b constant): the surest answers are the sums from 100 to 109, whose tens digit is a 0. And it
# changes from pair to pair inside every block of ten. Keep this picture in mind; section 5 comes
# back to the lowest margins, where the errors are.
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
    assert 50 < len(top) < 300  # trained-model claim: many neurons, no single one (measured 117 and 83)
    assert a[3].abs().sum() / a.abs().sum() > 0.7  # trained-model claim: mostly the last MLP (measured 0.81 and 0.91)

# %% [markdown]
# No neuron does the job alone: about a hundred share 80% of it, most of them in the last MLP.
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
# Two different textures. The ones-digit neurons are stripes along the anti-diagonals (a + b
# constant) that repeat every ten: each fires for sums that end in one or two particular digits, a
# rule about the **sum's ones digit** ("the sum ends in 5"). The first-digit neurons are coarse:
# each fires on one side of an edge across the square where the sum crosses a threshold ("the sum
# is over 100"), an edge drawn as a staircase of whole tens with a diagonal inside each block of
# ten. They see the **size** of the sum.
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


assert share_of("ones", ("ones digits", "sum mod 10")) > 0.9  # trained-model claim: the ones digit, its digits (0.99)
assert share_of("ones", ("sum mod 10",)) > 0.6  # trained-model claim: mostly the sum's ones digit (measured 0.75)
assert share_of("ones", ("ones digits",)) > 0.1  # trained-model claim: ... the rest a lookup of the pair (0.24)
assert share_of("first", ("tens digits", "sum", "one operand")) > 0.75  # trained-model claim: size (measured 0.84)
assert share_of("first", ("sum",)) > 0.5  # trained-model claim: most of it the size of the sum (measured 0.63)
assert share_of("first", ("unclassified",)) < 0.25  # trained-model claim: a seventh unlabelled (measured 0.14)
median_mod10 = torch.tensor([r["sum mod 10"] for r in classes["ones"].values()]).median()
median_pair = torch.tensor([r["ones digits"] for r in classes["ones"].values()]).median()
print(f"ones-digit neurons: median share explained by the sum mod 10 alone {median_mod10:.2f}, "
      f"by both ones digits {median_pair:.2f}")
assert median_mod10 > 0.6 and median_pair > median_mod10 + 0.1  # trained-model claim: 0.76 and 0.93
unlabelled = [k for k, r in classes["first"].items() if r["label"] == "unclassified"]
tens_and_carry = (batch.a // 10) * 20 + (batch.b // 10) * 2 + batch.carry.long()  # (a // 10, b // 10, carry)
with_carry = explained_by_groups(torch.stack([run.post["first"][:, l, n] for l, n in unlabelled], 1), tens_and_carry)
print(f"the {len(unlabelled)} unlabelled first-digit neurons: (a // 10, b // 10, carry) explains "
      f"{with_carry.median():.2f} of their variance (median)")
assert with_carry.median() > 0.85  # trained-model claim: they read the tens column with its carry (measured 0.93)

# %% [markdown]
# The ones digit is mostly a matter of the *sum's* ones digit: three quarters of its attribution
# goes to neurons that the sum mod 10 explains, like the stripes above ("the sum ends in 5"), and
# the rest to neurons that need the two ones digits as a pair, each a piece of the addition table
# ("_6 + _9"). Even the mod-10 neurons are not clean: the pair of ones digits explains more of them
# than their sum's last digit does, a rule about the sum blurred by which pair made it. (The
# course's previous main model, trained on an earlier corpus, had it the other way round: its
# ones-digit neurons were nearly all lookups of the pair. The task does not fix which rules a model
# ends up with.)
#
# The first digit is a matter of size: neurons that read the range of the sum, the operands' tens
# digits, or one operand. A seventh of its attribution goes to neurons no grouping explains on its
# own; what they read is the tens digits *together with* the carry, the three inputs of the tens
# column, which section 5 looks at. Together, a bag of small rules.
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
    assert neurons[w].sum() < 100  # trained-model claim: under a hundred per digit (measured 93 and 81)
    assert s["keep these, ablate the rest"]["share"] > 0.8  # trained-model claim: most of the answer (0.90 and 1.02)
    assert s["ablate these, keep the rest"]["share"] < 0.25  # trained-model claim: little left (0.15 and 0.07)
    random_share, these_share = s["ablate as many random neurons"]["share"], s["ablate these, keep the rest"]["share"]
    assert random_share > these_share + 0.4  # trained-model claim: random neurons matter much less (0.99 and 0.86)
assert ablation["ones"]["keep these, ablate the rest"]["accuracy"] > 0.95  # trained-model claim (measured 1.000)

kinds = ("keep these, ablate the rest", "ablate these, keep the rest", "ablate as many random neurons")
fig = go.Figure([go.Bar(name=name, x=[f"{w} digit" for w in ablation], y=[ablation[w][name]["share"] for w in ablation])
                 for name in kinds])
fig.update_layout(title="Share of the correct digit's logit difference (held-out pairs)", barmode="group", height=340,
                  yaxis_title="share")
fig

# %% [markdown]
# Under a hundred neurons per digit, most of them in the last MLP and each a crude rule, carry most
# of the answer; remove them and the answer mostly goes, while removing as many random neurons costs
# much less.
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
    assert 0.35 < summary[w]["unclassified"]["features"] / len(feature_classes[w]) < 0.65  # trained-model claim: half
    assert summary[w]["unclassified"]["median fire rate"] < 0.1  # trained-model claim: the unlabelled are rare (4%, 3%)
    assert summary[w]["unclassified"]["share of activation"] < 0.2  # trained-model claim: ... and carry little (9%, 5%)
ones_summary, first_summary = summary["ones"], summary["first"]
mod10_share, pair_share = (ones_summary[k]["share of activation"] for k in ("sum mod 10", "ones digits"))
assert mod10_share > pair_share  # trained-model claim: the sum's ones digit over the pair (measured 16% and 3%)
assert ones_summary["sum"]["share of activation"] > 0.5  # trained-model claim (measured 75%)
assert first_summary["ones digits"]["median fire rate"] > 0.95  # trained-model claim: always on (100%) ...
assert 0.2 < first_summary["ones digits"]["share of activation"] < 0.5  # trained-model claim: ... a third (36%)

# %% [markdown]
# About half of the features that fire get no label, but they are rare ones: each fires on a few
# percent of the pairs, and together they carry a small share of the activation. The common
# features are heuristics of the kinds the neurons showed, with the same split where the ones digit
# is predicted: more of the activation in features of the sum's ones digit than in lookups of the
# pair. Two rows of the table need a word. Where the ones digit is predicted, most of the activation
# is in "sum" features: they read the tens digit the model has just written, which the sum decides
# (in the graph they join the magnitude). Where the first digit is predicted, a third of it is in a
# few "ones digits" features that fire on every pair: always-on features, labelled by how their
# activation varies with the ones digits, not by when they fire.

# %%
graphs, pruned, influence = {}, {}, {}
for w, prompt in (("first", "calc: 36 + 59 = "), ("ones", "calc: 36 + 59 = 9")):
    graphs[w] = build_graph(model, clt, prompt)
    pruned[w] = graphs[w].prune()
    group_supernodes(graphs[w], feature_classes[w], pruned[w])
    influence[w] = influence_by_group(graphs[w], pruned[w])
    print(f"{prompt!r}: {graphs[w]}")
    print(f"  pruned to {int(pruned[w].node_mask.sum())} nodes; scores "
          f"{ {k: round(v, 2) for k, v in graphs[w].scores().items()} }")
    print("  share of the influence on the logit:", {k: round(v, 2) for k, v in sorted(influence[w].items())})
    assert graphs[w].scores()["replacement_score"] > 0.75  # trained-model claim: mostly features (0.87, 0.84)
assert max(influence["first"], key=influence["first"].get) == "magnitude"  # trained-model claim: the 9 (0.32)
assert max(influence["ones"], key=influence["ones"].get) == "ones digits (lookup)"  # trained-model claim: the 5 (0.34)
assert all(influence[w]["error nodes"] < 0.15 for w in graphs)  # trained-model claim: errors little (0.07, 0.08)
into = direct_into_logit(graphs["ones"], "5", pruned["ones"])
print("direct edges into the logit of '5':", {k: round(v, 2) for k, v in sorted(into.items())})
lookup_edge = into["ones digits (lookup)"]
rest = sum(v for k, v in into.items() if v > 0 and k != "ones digits (lookup)")
assert lookup_edge > 2 * rest  # trained-model claim: the lookup writes the 5 (measured 11.8; the rest 3.3)
assert into["other features"] < 0  # trained-model claim: the unlabelled features push it down (measured -4.0)

# %%
widget = AttributionGraph(graphs["ones"].to_dict())
widget

# %% [markdown]
# Each graph has the parts the story needs, and little left to the error nodes. Features at the
# operands' digit tokens (**first operand**, **second operand**) feed, through attention, the
# features at the last position, which split into the classes found over all pairs: the
# **ones-digit lookup** (the sum's ones digit, or the pair of ones digits) and the **magnitude** (sum
# range, tens digits, one operand). *Influence* sums every path from a node to the logit (so it is
# never negative): that is the share each group carries. In the graph of the 9, the first digit,
# the magnitude carries the most; in the graph of the 5, the lookup. The *direct* edges into the 5
# come almost all from the lookup; the operands' own features add a little (through attention,
# without passing through the lookup), and the unlabelled features take some away.
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
assert all(s.get("error nodes", 0.0) < 0.2 for s in shares)  # trained-model claim: errors carry little (<= 0.12)
assert mean_share["second operand"] > 2 * mean_share["first operand"]  # trained-model claim (0.23 vs 0.06)
assert mean_share["magnitude"] > 2 * mean_share["first operand"]  # trained-model claim (0.21 vs 0.06)

# %% [markdown]
# The lookup leads in every graph, the second operand's features and the magnitude follow, well
# ahead of the first operand's features, and the error nodes carry little. In the residual stream,
# where does the correct digit's logit come from directly? Split it into what each layer wrote at
# the position that predicts the ones digit (direct logit attribution, chapter 05), over the
# held-out pairs:

# %%
dla = direct_logit_attribution(model, held, "ones")
print({k: round(v, 2) for k, v in dla.items()}, f"total {sum(dla.values()):.2f}")
assert dla["3.mlp"] > 0.75 * sum(dla.values())  # trained-model claim: the last MLP writes most of it (measured 0.87)
assert 0.08 < dla["3.attn"] / sum(dla.values()) < 0.2  # trained-model claim: the last attention layer a seventh (0.14)

# %% [markdown]
# Most of it is written by the last MLP, where the ones-digit neurons are, and about a seventh by
# the last attention layer, which reads the operands' digits at their own tokens.
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
assert outcomes["first"]["swap"]["donor's digit"] > 0.7  # trained-model claim: magnitude sets the tens (0.80)
assert outcomes["first"]["control"]["own digit"] > 0.95  # trained-model claim: the lookup features do not (1.00)
assert outcomes["ones"]["control"]["own digit"] > 0.95  # trained-model claim: the magnitude features do not (1.00)
assert outcomes["ones"]["swap"]["own digit"] < 0.1  # trained-model claim: the lookup swap removes the ones digit (0.02)
assert 0.55 < outcomes["ones"]["swap"]["donor's digit"] < 0.8  # trained-model claim: ... installs the donor's (0.66)
assert outcomes["ones"]["swap + attention"]["donor's digit"] > 0.95  # trained-model claim: with attention (1.00)
assert outcomes["ones"]["attention alone"]["donor's digit"] > 0.95  # trained-model claim: attention alone (1.00)

# %% [markdown]
# The two swaps behave differently, and both tell us something:
#
# - The **magnitude** features decide the first digit: swapped from a pair ten higher (or lower),
#   they move the digit to the donor's on four held-out pairs in five (the pairs counted are those
#   whose first digit differs from the donor's), and the lookup features, swapped from the same
#   donor, never move it. Size and last digit travel on separate paths.
# - The **lookup** features carry most of the ones digit but not all of it: swapping them almost
#   always removes the right digit, and puts the donor's in its place on about two pairs in three.
#   The rest arrives by another path: the last attention layer, which brings the operands' ones
#   digits to this position, both straight to the logits (a seventh of the logit above) and into
#   the MLP where the lookup reads them. Swap the donor's attention output there as well and the
#   donor's digit wins on every pair. Swap it *alone*, leaving the features to be computed afresh,
#   and it wins on every pair too: the lookup follows whatever digits attention brings it. The ones
#   digit is read from the operands by attention and turned into the sum's last digit by the last
#   MLP, with both parts voting on the logits.
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
carry_attribution = attribution["first"].flatten().abs()[carry_like].sum() / attribution["first"].abs().sum()
print(f"their layers: {sorted(set((carry_like.nonzero()[:, 0] // d_mlp).tolist()))}; "
      f"their share of the first digit's |attribution|: {carry_attribution:.3f}")
assert carry_share[best] > 0.75  # trained-model claim: there is a carry-like neuron (measured 0.80) ...
assert profile[:10].min() > 5 * profile[10:].max()  # trained-model claim: ... with a sharp edge (2.30 vs 0.33)
assert 2 <= carry_like.sum() <= 8 and (carry_like.nonzero()[:, 0] // d_mlp == L - 1).all()  # trained-model claim (4)
up = torch.stack([post[batch.carry, i].mean() > post[~batch.carry, i].mean() for i in carry_like.nonzero()[:, 0]])
assert up.any() and not up.all()  # trained-model claim: some fire for a carry, some for none (2 and 2)
assert carry_attribution < 0.02  # trained-model claim: a tiny part of the first digit's attribution (measured 0.005)

tens_margin = digit_margin(run, batch, "tens")
by_ones_sum = torch.stack([tens_margin[ones_sum == v].mean() for v in range(19)])
close_calls = torch.stack([(tens_margin[ones_sum == v] < 1).float().mean() for v in range(19)])
name = f"L{best // d_mlp} N{best % d_mlp}"
fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{name} over a (down) and b (across)",
                                                    f"{name}: mean by a % 10 + b % 10",
                                                    "tens digit: share won by less than 1"])
fig.add_trace(go.Heatmap(z=batch.grid(post[:, best]).numpy(), x=list(range(10, 100)), y=list(range(10, 100)),
                         colorscale="RdBu_r", zmid=0, showscale=False), row=1, col=1)
colours = ["#0072B2"] * 10 + ["#D55E00"] * 9  # orange: the ones digits carry
fig.add_trace(go.Bar(x=list(range(19)), y=profile.numpy(), marker_color=colours, showlegend=False), row=1, col=2)
fig.add_trace(go.Bar(x=list(range(19)), y=close_calls.numpy(), marker_color=colours, showlegend=False), row=1, col=3)
fig.update_yaxes(autorange="reversed", row=1, col=1)
fig.update_xaxes(title_text="a % 10 + b % 10 (orange: a carry)", row=1, col=2)
fig.update_xaxes(title_text="a % 10 + b % 10", row=1, col=3)
fig.update_layout(height=360, width=1000, title="The carry, as the model has it")
print("mean margin of the tens digit by a % 10 + b % 10:", [round(v, 2) for v in by_ones_sum.tolist()])
print("share of pairs whose tens digit wins by less than 1:", [round(v, 3) for v in close_calls.tolist()])
assert by_ones_sum.max() - by_ones_sum.min() < 1  # trained-model claim: flat on average (4.77 to 5.40)
assert close_calls.argmax() == 10  # trained-model claim: most close calls where the ones digits make 10 (0.071)
others = torch.cat([close_calls[1:10], close_calls[11:]])
assert close_calls[10] > 1.5 * close_calls[0] > 3 * others.max()  # trained-model claim: then 0 (0.037; others <= 0.016)
fig

# %% [markdown]
# So there *is* a carry heuristic: a handful of neurons in the last MLP, some firing when the ones
# digits make less than 10, others when they make 10 or more. The best of them is nearly a clean bit,
# high for every sum of ones digits up to 9 and close to silent from 10 on. It is one more rule in
# the bag, with a tiny share of the first digit's attribution.
#
# A clean carry signal does not make a clean carry, though. On average the tens digit is about as
# sure whatever the ones digits make. But its close calls, the pairs where the right tens digit
# wins by less than 1, pile up where the ones digits make exactly 10, and next where both operands
# end in 0; elsewhere they are rare. Section 1's errors sit at that edge: the tens digit of 41 + 69
# came out one too low. To the school method every carrying pair is the same; to the model, a sum
# of ones digits of exactly 10 is the hard case, the one where its estimate of the carry is closest
# to the threshold.
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
assert looked_up > 0.9  # trained-model claim: a function of the three inputs (measured 0.98) ...
assert 0.35 < added < looked_up - 0.3  # trained-model claim: ... their sum only about half of it (measured 0.50)

# %% [markdown]
# The neurons are functions of the three inputs of the tens column, but only loosely of their sum:
# the sum explains about half of a typical neuron's variance, the three inputs as a lookup nearly
# all of it. Each neuron covers a patch of (tens of a, tens of b, carry) combinations that follows
# their sum only roughly, and their votes, read together by the unembedding, give the digit. More a
# table than an adder.
#
# Third, other lengths. The corpus only ever writes operands from 10 to 99. The school method does
# not care; does the model?

# %%
other_lengths = out_of_range_accuracy(model)
print({k: round(v, 2) for k, v in other_lengths.items()})
assert other_lengths["two-digit operands (its range)"] > 0.95  # trained-model claim (measured 0.99)
assert other_lengths["one-digit operands (0..9)"] < 0.1  # trained-model claim: rules about its own range (0.01)
assert other_lengths["three-digit operands"] < 0.1  # trained-model claim (measured 0.00)

# %% [markdown]
# Almost never right. The rules it learned are rules about two-digit operands in this exact
# format, not about digits.
#
# So the account and the mechanism differ, and the difference is measurable: the answer comes from
# many parallel, low-precision heuristics (ranges of the sum, a lookup of the tens column, the sum's
# ones digit and lookups of the pair of ones digits, a carry signal, attention that carries the
# digits to where the answer is written), whose votes add up. Parts of the school method have
# counterparts, the carry most of all, but as rules in a table, unsure at its edge and tied to the
# range it was trained on.
#
# ## Recap
#
# - tinyworld adds two numbers of 10..99 almost perfectly, held-out pairs included; most of its
#   couple of dozen errors are in the tens digit of a three-digit sum, a carry lost where the ones
#   digits make exactly 10 or made up where they make 9.
# - The neurons that matter are mostly in the last MLP, about a hundred per digit. The ones digit's
#   read mostly the sum's ones digit, some the pair of ones digits; the first digit's read the range
#   of the sum, the operands' tens digits, one operand, or the tens column with its carry. The share
#   of variance a grouping explains (eta squared) turns that into labels.
# - Keeping only those neurons keeps most of the correct logit; removing them removes most of it.
# - Attribution graphs with the CLT show the same parts as features: operands, a ones-digit lookup,
#   magnitude. Swapping the magnitude features between pairs moves the first digit on most pairs;
#   swapping the lookup features moves the ones digit on two pairs in three, and swapping the last
#   attention layer's output, which brings the operands' ones digits to the lookup, on every pair.
# - The school method has counterparts, but not as an algorithm: a sharp carry neuron among many
#   rules, yet a tens digit least sure where the ones digits make 10; a tens column looked up more
#   than added; and nothing that carries over to other lengths.
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
