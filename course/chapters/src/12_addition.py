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
assert table["all pairs"][1] > 0.999  # trained-model claim: it adds (measured 0.9995)
assert table["held-out pairs"][1] > 0.995  # trained-model claim: ... on pairs it never saw too (measured 0.9988)
assert 2 <= len(errors) <= 8  # trained-model claim: a handful of errors (measured 4)
assert len(at_carry) == len(errors) and len(lost) == len(errors)  # trained-model claim: every one a lost carry
assert all(a % 10 + b % 10 == 10 and a + b < 100 for a, b in lost) and (19, 41) in lost  # trained-model claim

# %% [markdown]
# Almost perfect, on pairs it saw and pairs it did not, with and without a carry: four errors in
# 8,100 pairs, one of them on a held-out pair. The four are not scattered at random, though. Each is
# a two-digit sum whose ones digits make exactly 10 (19 + 41), and each time the model writes the tens
# digit one too low, as if it had forgotten the carry (50 for 60). Section 5 comes back to this.
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
assert max(by_decade, key=by_decade.get) == 100  # trained-model claim: surest in the 100s (5.8; the rest 3.0 to 5.3)
fig

# %% [markdown]
# The map is not uniform. It changes at the scale of tens, in bands along the anti-diagonals
# (a + b constant): the surest answers are the sums from 100 to 109, whose tens digit is a 0, the
# least sure those in the 180s and 190s. And inside every block of ten it has a thin dark line, the
# pairs whose ones digits make 10. Keep this picture in mind; section 5 comes back to that line,
# where the errors are.
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
          f"{[int((top // d_mlp == l).sum()) for l in range(L)]}; share of layer 2 "
          f"{a[2].abs().sum() / a.abs().sum():.2f}, of layer 3 {a[3].abs().sum() / a.abs().sum():.2f}")
    assert 50 < len(top) < 300  # trained-model claim: many neurons, no single one (measured 195 and 182)
    assert a[2:].abs().sum() / a.abs().sum() > 0.85  # trained-model claim: the last two MLPs (measured 0.90 and 0.96)

# %% [markdown]
# No neuron does the job alone: close to two hundred share 80% of it, nearly all of them in the last
# two MLPs, layers 2 and 3, the last one carrying a little more. What does each one respond to? Draw
# its activation for every pair: a down, b across.

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
# Two different textures. The ones-digit neurons repeat the same small mark in every block of ten:
# a short dash along the anti-diagonal (a + b constant) that stops at the block's edge, or a dot.
# Each fires for a few particular **pairs of ones digits**, whatever the tens digits are: a dash is
# the pairs whose ones digits add up to a few neighbouring values ("the ones digits make 10 to 13"),
# a dot one or two pairs ("_6 + _9"). The first-digit neurons are coarse: each fires on one side of
# an edge across the square where the sum crosses a threshold ("the sum is under 100"), an edge drawn
# as a staircase of whole tens with a diagonal inside each block of ten, or on a patch of tens
# digits. They see the **size** of the sum.
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


assert share_of("ones", ("ones digits", "sum mod 10")) > 0.9  # trained-model claim: the ones digit, its digits (1.00)
assert share_of("ones", ("ones digits",)) > 0.85  # trained-model claim: nearly all a lookup of the pair (0.95)
assert share_of("ones", ("sum mod 10",)) < 0.1  # trained-model claim: ... hardly the sum's last digit (0.05)
assert share_of("first", ("tens digits", "sum", "one operand")) > 0.9  # trained-model claim: size (measured 0.95)
assert share_of("first", ("sum",)) > 0.45  # trained-model claim: half of it the size of the sum (measured 0.54)
assert share_of("first", ("unclassified",)) < 0.1  # trained-model claim: little unlabelled (measured 0.03)
ones_sum = batch.a % 10 + batch.b % 10  # 0..18: how much the ones digits add up to
groupings = {"the pair of ones digits": (batch.a % 10) * 10 + batch.b % 10, "their sum a % 10 + b % 10": ones_sum,
             "the sum mod 10": (batch.a + batch.b) % 10}
by_layer = {}
for layer in (2, 3):
    X = torch.stack([run.post["ones"][:, l, n] for l, n in classes["ones"] if l == layer], 1)
    by_layer[layer] = {k: explained_by_groups(X, g).median().item() for k, g in groupings.items()}
    print(f"layer {layer}, {X.shape[1]} ones-digit neurons: median share explained by "
          + ", ".join(f"{k} {v:.2f}" for k, v in by_layer[layer].items()))
assert min(v["the pair of ones digits"] for v in by_layer.values()) > 0.9  # trained-model claim: lookups (0.98, 0.97)
assert by_layer[2]["their sum a % 10 + b % 10"] < 0.4  # trained-model claim: layer 2, of particular pairs (0.27)
assert by_layer[3]["their sum a % 10 + b % 10"] > 0.6  # trained-model claim: layer 3, of their sum (0.77) ...
assert by_layer[3]["the sum mod 10"] < 0.5  # trained-model claim: ... not of its last digit alone (0.40)
unlabelled = [k for k, r in classes["first"].items() if r["label"] == "unclassified"]
tens_and_carry = (batch.a // 10) * 20 + (batch.b // 10) * 2 + batch.carry.long()  # (a // 10, b // 10, carry)
with_carry = explained_by_groups(torch.stack([run.post["first"][:, l, n] for l, n in unlabelled], 1), tens_and_carry)
print(f"the {len(unlabelled)} unlabelled first-digit neurons: (a // 10, b // 10, carry) explains "
      f"{with_carry.median():.2f} of their variance (median)")
assert with_carry.median() > 0.85  # trained-model claim: they read the tens column with its carry (measured 0.90)

# %% [markdown]
# The ones digit is a lookup of the pair of ones digits: almost all of its attribution goes to
# neurons that need both ones digits, each a piece of the addition table, and almost none to
# neurons of the sum's last digit alone ("the sum ends in 5"). The two layers split the table
# between them. A layer-2 neuron fires on a few particular pairs. A layer-3 neuron reads mostly how
# much the ones digits add up to, 0 to 18, in a window of a few values (the dashes above): that
# number holds the sum's ones digit *and* whether it carries, and the sum mod 10 alone explains
# less than half of such a neuron. (The course's previous main model, trained on version 3 of the
# corpus, had three quarters of this attribution in neurons of the sum's last digit. The task does
# not fix which rules a model ends up with.)
#
# The first digit is a matter of size: neurons that read the range of the sum or the operands' tens
# digits, a few one operand. A few percent of its attribution goes to neurons no grouping explains
# on its own; what they read is the tens digits *together with* the carry, the three inputs of the
# tens column, which section 5 looks at. Together, a bag of small rules.
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
    assert neurons[w].sum() < 200  # trained-model claim: under two hundred per digit (measured 183 and 182)
    assert s["keep these, ablate the rest"]["share"] > 0.85  # trained-model claim: most of the answer (0.96 and 0.92)
    assert s["ablate these, keep the rest"]["share"] < 0.2  # trained-model claim: little left (0.04 and 0.11)
    random_share, these_share = s["ablate as many random neurons"]["share"], s["ablate these, keep the rest"]["share"]
    assert random_share > these_share + 0.4  # trained-model claim: random neurons matter much less (0.82 and 0.84)
    assert s["keep these, ablate the rest"]["accuracy"] > 0.85  # trained-model claim (measured 0.92 and 0.88)

kinds = ("keep these, ablate the rest", "ablate these, keep the rest", "ablate as many random neurons")
fig = go.Figure([go.Bar(name=name, x=[f"{w} digit" for w in ablation], y=[ablation[w][name]["share"] for w in ablation])
                 for name in kinds])
fig.update_layout(title="Share of the correct digit's logit difference (held-out pairs)", barmode="group", height=340,
                  yaxis_title="share")
fig

# %% [markdown]
# Under two hundred neurons per digit, nearly all in the last two MLPs and each a crude rule, carry
# most of the answer: kept alone, they keep about nine tenths of the logit difference and nine
# answers in ten. Remove them and the answer mostly goes, while removing as many random neurons
# costs much less.
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
    unlabelled_share = summary[w]["unclassified"]["features"] / len(feature_classes[w])
    assert 0.35 < unlabelled_share < 0.65  # trained-model claim: about half, or two in five (49%, 38%)
    assert summary[w]["unclassified"]["median fire rate"] < 0.1  # trained-model claim: the unlabelled are rare (3%, 2%)
    assert summary[w]["unclassified"]["share of activation"] < 0.2  # trained-model claim: ... and carry little (5%, 3%)
ones_summary, first_summary = summary["ones"], summary["first"]
mod10_share, pair_share = (ones_summary[k]["share of activation"] for k in ("sum mod 10", "ones digits"))
assert pair_share > 0.45 and mod10_share < 0.1  # trained-model claim: the pair over the sum's ones digit (56% and 3%)
assert 0.25 < ones_summary["sum"]["share of activation"] < 0.5  # trained-model claim: over a third (measured 37%)
assert 0.3 < first_summary["ones digits"]["median fire rate"] < 0.8  # trained-model claim: half of the pairs (56%) ...
assert 0.2 < first_summary["ones digits"]["share of activation"] < 0.5  # trained-model claim: ... over a third (38%)
first_acts = feature_acts(clt, run.mlp_in["first"])  # [n layer feature]
ones_features = [k for k, r in feature_classes["first"].items() if r["label"] == "ones digits"]
fire = {(l, f): (first_acts[:, l, f] > 0).float().mean().item() for l, f in ones_features}
always_on = [k for k, v in fire.items() if v > 0.99]
class_total = sum(first_acts[:, l, f].sum() for l, f in ones_features)
on_share = sum(first_acts[:, l, f].sum() for l, f in always_on) / class_total
print(f"first digit, 'ones digits' features: {len(ones_features)}, in layers {sorted({l for l, f in ones_features})}; "
      f"{len(always_on)} fire on more than 99% of the pairs and hold {on_share:.0%} of the class's activation")
assert {l for l, f in ones_features} == {0, 1}  # trained-model claim: early features (layers 0 and 1)
assert len(always_on) == 3 and on_share > 0.6  # trained-model claim: three always-on features hold most of it (74%)
del first_acts

# %% [markdown]
# About half of the features that fire where the first digit is predicted get no label (two in five
# where the ones digit is), but they are rare ones: each fires on a few percent of the pairs, and
# together they carry a few percent of the activation. The common features are heuristics of the
# kinds the neurons showed, with the same split where the ones digit is predicted: over half of the
# activation in lookups of the pair of ones digits, next to nothing in features of the sum's ones
# digit alone. Two rows of the table need a word. Where the ones digit is predicted, over a third of
# the activation is in "sum" features: they read the tens digit the model has just written, which
# the sum decides (in the graph they join the magnitude). Where the first digit is predicted, over a
# third of it is in eight "ones digits" features of layers 0 and 1, which fire on about half of the
# pairs (median). Most of their activation is in three of them that fire on practically every pair:
# always-on features, labelled by how their activation varies with the ones digits, not by when
# they fire. In the graph all eight join the lookup.

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
    assert graphs[w].scores()["replacement_score"] > 0.75  # trained-model claim: mostly features (0.89, 0.88)
assert max(influence["first"], key=influence["first"].get) == "magnitude"  # trained-model claim: the 9 (0.53)
assert max(influence["ones"], key=influence["ones"].get) == "ones digits (lookup)"  # trained-model claim: the 5 (0.36)
second_operand = influence["ones"]["second operand"]
assert 0.2 < second_operand < influence["ones"]["ones digits (lookup)"]  # trained-model claim: close behind (0.29)
assert all(influence[w]["error nodes"] < 0.15 for w in graphs)  # trained-model claim: errors little (0.04, 0.04)
into = direct_into_logit(graphs["ones"], "5", pruned["ones"])
print("direct edges into the logit of '5':", {k: round(v, 2) for k, v in sorted(into.items())})
lookup_edge = into["ones digits (lookup)"]
rest = sum(v for k, v in into.items() if v > 0 and k != "ones digits (lookup)")
assert max(into, key=into.get) == "ones digits (lookup)"  # trained-model claim: the lookup writes most (measured 7.97)
assert 1.5 * into["second operand"] < lookup_edge < rest  # trained-model claim: then b's features (4.58); rest 8.65
assert into["magnitude"] < 0  # trained-model claim: the magnitude pushes it down a little (measured -0.50)

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
# the magnitude carries the most, about half. In the graph of the 5 the lookup leads, but less
# clearly: about a third, with the second operand's features close behind. The *direct* edges into
# the 5 say why. The lookup gives the largest, yet less than all the others together: the second
# operand's features, at b's digits, write a good part of the 5 themselves, through attention and
# without passing through the lookup; the first operand's features and the error nodes add a
# little, and the magnitude takes a little away.
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
assert all(s.get("error nodes", 0.0) < 0.2 for s in shares)  # trained-model claim: errors carry little (<= 0.08)
assert mean_share["ones digits (lookup)"] > 0.45  # trained-model claim: about half of the influence (0.51)
assert mean_share["second operand"] > 1.5 * mean_share["first operand"]  # trained-model claim (0.19 vs 0.10)
assert all(0.05 < mean_share[k] < 0.2 for k in ("first operand", "magnitude"))  # trained-model claim (0.10, 0.13)

# %% [markdown]
# The lookup leads in every graph, more clearly than for 36 + 59: about half of the influence. The
# second operand's features follow with about a fifth, the magnitude and the first operand's
# features with about a tenth each, and the error nodes carry little. In the residual stream,
# where does the correct digit's logit come from directly? Split it into what each layer wrote at
# the position that predicts the ones digit (direct logit attribution, chapter 05), over the
# held-out pairs:

# %%
dla = direct_logit_attribution(model, held, "ones")
total = sum(dla.values())
print({k: round(v, 2) for k, v in dla.items()}, f"total {total:.2f}")
assert dla["3.mlp"] > 0.55 * total  # trained-model claim: the last MLP writes most of it (measured 0.65)
assert 0.1 < dla["2.mlp"] / total < 0.25  # trained-model claim: the MLP before it a seventh (0.15)
assert 0.12 < dla["3.attn"] / total < 0.3  # trained-model claim: the last attention layer a fifth (0.20)
assert abs(dla["2.attn"]) < 0.02 * total  # trained-model claim: layer 2's attention writes ~nothing (0.03 of 19.51)

# %% [markdown]
# Most of it is written by the last MLP and about a seventh by the MLP before it: the two layers of
# ones-digit neurons. A fifth comes from the last attention layer. But the MLPs can only look up
# the ones digits if something has brought them to this position. Which heads attend from here to
# a's ones digit (position 5) and to b's (position 9)?

# %%
with torch.no_grad():
    _, pattern_cache = model.run_with_cache(held.tokens, names_filter=lambda name: name.endswith("hook_pattern"))
rows, at = torch.arange(len(held)), held.position("ones")
to_a, to_b = (torch.stack([pattern_cache["pattern", l][rows, :, at, key].mean(0) for l in range(L)])
              for key in (5, 9))  # [layer head]: mean attention to a's, and to b's, ones digit
print("attention to a's ones digit\n", to_a.round(decimals=2))
print("attention to b's ones digit\n", to_b.round(decimals=2))
reader_a, reader_b = (divmod(int(x.argmax()), model.cfg.n_heads) for x in (to_a, to_b))
print(f"a's ones digit is read by L{reader_a[0]}H{reader_a[1]}, b's by L{reader_b[0]}H{reader_b[1]}")
assert reader_a[0] == reader_b[0] == 2 and reader_a != reader_b  # trained-model claim: two heads of layer 2 ...
assert min(to_a.max(), to_b.max()) > 0.9  # trained-model claim: ... each on one digit (measured 0.99 and 0.98)
del pattern_cache

# %% [markdown]
# Two heads of layer 2 fetch the operands, one each: L2H0 attends to a's ones digit and L2H2 to
# b's, each with almost all of its attention. (Where the first digit is predicted, the same two
# heads read the operands' *tens* digits.) So the ones digit is read from the operands by attention
# in layer 2 and turned into the sum's last digit by the MLPs of layers 2 and 3.
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
    if w == "ones":  # the same swap, plus the donor's layer-2 attention output (the two heads) there
        patch = activations_at(model, donor, w, [f"blocks.{reader_a[0]}.hook_attn_out"])
        outcomes[w]["swap + attention"] = swap_rates(model, clt, pairs, w, chosen, donor, donor_acts, patches=patch)
        outcomes[w]["attention alone"] = swap_rates(model, clt, pairs, w, torch.zeros_like(chosen), donor, donor_acts,
                                                    patches=patch)
    for name, r in outcomes[w].items():
        n_features = int(control.sum() if name == "control" else 0 if name == "attention alone" else chosen.sum())
        print(f"{w} digit, {name:>16} ({n_features} features, {r['n']} pairs): " + ", ".join(
            f"{k} {v:.2f}" for k, v in r.items() if k != "n"))

# %%
assert outcomes["first"]["swap"]["donor's digit"] > 0.7  # trained-model claim: magnitude sets the tens (0.90)
assert outcomes["first"]["control"]["own digit"] > 0.95  # trained-model claim: the lookup features do not (1.00)
assert outcomes["ones"]["control"]["own digit"] > 0.95  # trained-model claim: the magnitude features do not (1.00)
assert outcomes["ones"]["swap"]["own digit"] < 0.1  # trained-model claim: the lookup swap removes the ones digit (0.02)
assert 0.45 < outcomes["ones"]["swap"]["donor's digit"] < 0.7  # trained-model claim: ... installs the donor's (0.56)
with_attention = outcomes["ones"]["swap + attention"]
missed = round((1 - with_attention["donor's digit"]) * with_attention["n"])
assert missed <= 1  # trained-model claim: with attention, the donor's digit on all pairs but one (777 of 778)
assert outcomes["ones"]["attention alone"]["donor's digit"] > 0.95  # trained-model claim: attention alone (1.00) ...
alone = outcomes["ones"]["attention alone"]
assert round(alone["donor's digit"] * alone["n"]) == alone["n"]  # trained-model claim: ... on every pair (778 of 778)
assert outcomes["first"]["control"]["donor's digit"] < 0.01  # trained-model claim: never the donor's tens (0.00)

# %% [markdown]
# The two swaps behave differently, and both tell us something:
#
# - The **magnitude** features decide the first digit: swapped from a pair ten higher (or lower),
#   they move the digit to the donor's on nine held-out pairs in ten (the pairs counted are those
#   whose first digit differs from the donor's), and the lookup features, swapped from the same
#   donor, never give it the donor's digit. Size and last digit travel on separate paths.
# - The **lookup** features carry much of the ones digit but not all of it: swapping them almost
#   always removes the right digit, but puts the donor's in its place on only just over half of
#   the pairs. The rest arrives by another path: layer 2's attention, whose heads L2H0 and L2H2
#   bring the operands' ones digits to this position. It writes next to nothing to the logits
#   itself (its entry in the split above is close to 0); what it brings goes into the MLPs of
#   layers 2 and 3, where the lookup reads it. Swap the donor's layer-2 attention output there as
#   well and the donor's digit wins on all pairs but one. Swap it *alone*, leaving the features to
#   be computed afresh, and it wins on every pair: the lookup follows whatever digits the two heads
#   bring it. The ones digit is fetched from the operands by attention in layer 2 and turned into
#   the sum's last digit by the MLPs of layers 2 and 3.
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
assert carry_share[best] > 0.75  # trained-model claim: there is a carry-like neuron (measured 0.85) ...
assert profile[:9].min() > 3 * profile[10:].max()  # trained-model claim: ... high up to 8, low from 10 (0.44 vs 0.10)
assert profile[8] > profile[9] > profile[10]  # trained-model claim: ... with a soft edge at 9 and 10 (0.54, 0.36, 0.10)
assert 10 <= carry_like.sum() <= 20 and (carry_like.nonzero()[:, 0] // d_mlp == 1).all()  # trained-model claim (15)
up = torch.stack([post[batch.carry, i].mean() > post[~batch.carry, i].mean() for i in carry_like.nonzero()[:, 0]])
assert up.any() and not up.all()  # trained-model claim: some fire for a carry, some for none (8 and 7)
assert carry_attribution < 0.03  # trained-model claim: a small part of the first digit's attribution (measured 0.013)

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
rest = torch.cat([by_ones_sum[:9], by_ones_sum[11:]])
assert by_ones_sum.argmin() == 10 and by_ones_sum[9] < rest.min()  # trained-model claim: least sure at 10, then 9
assert rest.max() - rest.min() < 1.5  # trained-model claim: ... and about as sure elsewhere (3.47, 4.40; 5.26 to 6.43)
others = torch.cat([close_calls[:10], close_calls[11:]])
assert close_calls.argmax() == 10 and close_calls[10] > 5 * others.max()  # trained-model claim: close calls at 10
assert close_calls[:9].max() == 0  # trained-model claim: ... and none without a carry, except at 9 (0.055; 0.007)
fig

# %% [markdown]
# So there *is* a carry heuristic, and it is computed early: some fifteen neurons of layer 1, before
# the layers whose neurons set the digit, some firing when the ones digits make less than 10,
# others when they make 10 or more. The best of them is nearly a bit, high for every sum of ones
# digits up to 8 and close to silent from 10 on, with a soft edge: at 9 it is already lower. It is
# one more rule in the bag, with about one percent of the first digit's attribution.
#
# A carry signal does not make a clean carry, though. The tens digit is least sure exactly at that
# edge: its mean margin, between 5.3 and 6.4 for every other sum of ones digits, drops to 4.4 where
# they make 9 and to 3.5 where they make 10, and its close calls, the pairs where the right tens
# digit wins by less than 1, are nearly all at 10. Section 1's errors sit there: the tens digit of
# 19 + 41 came out one too low. To the school method every carrying pair is the same; to the model,
# a sum of ones digits of exactly 10 is the hard case, the one where its estimate of the carry is
# closest to the threshold.
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
assert other_lengths["two-digit operands (its range)"] > 0.95  # trained-model claim (measured 1.00)
assert other_lengths["one-digit operands (0..9)"] < 0.1  # trained-model claim: rules about its own range (0.00)
assert other_lengths["three-digit operands"] < 0.1  # trained-model claim (measured 0.00)

# %% [markdown]
# Never right. The rules it learned are rules about two-digit operands in this exact
# format, not about digits.
#
# So the account and the mechanism differ, and the difference is measurable: the answer comes from
# many parallel, low-precision heuristics (ranges of the sum, a lookup of the tens column, lookups
# of the pair of ones digits and windows on their sum, a carry signal, two attention heads that
# carry the operands' digits to where the answer is written), whose votes add up. Parts of the school
# method have counterparts, the carry most of all, but as rules in a table, unsure at its edge and
# tied to the range it was trained on.
#
# ## Recap
#
# - tinyworld adds two numbers of 10..99 almost perfectly, held-out pairs included; its four errors
#   are all in the tens digit of a two-digit sum whose ones digits make exactly 10: a lost carry.
# - The neurons that matter are in the last two MLPs, under two hundred per digit. The ones digit's
#   are lookups of the pair of ones digits (in layer 3 mostly windows on their sum, 0 to 18); the
#   first digit's read the range of the sum, the operands' tens digits, or the tens column with its
#   carry. The share of variance a grouping explains (eta squared) turns that into labels.
# - Keeping only those neurons keeps most of the correct logit; removing them removes most of it.
# - Attribution graphs with the CLT show the same parts as features: operands, a ones-digit lookup,
#   magnitude. Swapping the magnitude features between pairs moves the first digit on nine pairs in
#   ten; swapping the lookup features moves the ones digit on just over half of them, and swapping
#   layer 2's attention output, where two heads bring the operands' ones digits to the lookup, on
#   every pair.
# - The school method has counterparts, but not as an algorithm: carry neurons in layer 1 among many
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
