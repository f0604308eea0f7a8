# %% [markdown]
# # Chapter 07: Training dynamics and the local learning coefficient
#
# **Time:** about 45 minutes. **You will:**
#
# - count n-gram baselines on TinyWorld and watch a training run pass them, one after the other;
# - locate the *induction bump*, where in-context learning appears, in the checkpoints of
#   `attn-only-2l` and replay the run in a live plot;
# - write one step of SGLD, the sampler behind the *local learning coefficient* (LLC), and estimate
#   the LLC of a few checkpoints with `course.llc.estimate_llc`;
# - read the LLC over the whole run (precomputed) and see it mark the same stages as the behaviour.
#
# A loss curve falls smoothly, more or less. But a model that predicts from token frequencies and
# one that copies from earlier in its context are different programs, even when their losses are
# close. This chapter looks for the seams between such programs: first with behavioural baselines,
# then with a number from singular learning theory that measures how *complex* the solution at a
# checkpoint is.

# %%
import collections
import json
import math

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course import evaluate, zoo
from course.exercises import check, hint, progress, reveal
from course.llc import SGLDConfig, sgld_step
from course.ngrams import NGramModel, model_loss
from solutions.ch07_dynamics import LLC_CURVE_PATH, LLC_SETTINGS, llc_at, llc_data, tinyworld_rows
from widgets import TrainingCurves

torch.manual_seed(0)
torch.set_num_threads(1)  # the LLC numbers below were computed on one thread
series = zoo.load_series("attn-only-2l")  # {step: model}, 18 log-spaced checkpoints
card = zoo.card("attn-only-2l")
steps = sorted(series)
final = series[steps[-1]]
mix = card["data"]["mix"]  # the mixture of TinyWorld document kinds the model was trained on
print("checkpoints at steps", steps)

# %% [markdown]
# ## 1. What counting can do
#
# The cheapest language model counts. A *unigram* model predicts every token with its overall
# frequency; a *bigram* model with its frequency after the previous token; a *trigram* model after
# the previous two. They are the levels the syllabus describes a transformer passing through early in
# training: first token frequencies, then pairs, then longer patterns, and only later in-context
# algorithms.
#
# Counts need smoothing: a pair never seen in training would get probability 0 and an infinite loss.
# Add k to every count ("add-k"), and k times the vocabulary size to each total, so each context's
# probabilities still sum to 1. Write the bigram model's loss on held-out text, in nats.

# %% [exercise] bigram_loss
check(bigram_loss)

# %% [markdown]
# Now on TinyWorld. We fit on text from the model's own training stream (seed 1, its mix) and score
# everything, the n-grams and the checkpoints, on the same positions of a held-out stream (another
# seed). `course.ngrams.NGramModel` does the counting for any order; your bigram must agree with it.

# %%
fit_rows = tinyworld_rows(final.tokenizer, mix, seed=1, n_seqs=1500, seq_len=128).tolist()
held_out = tinyworld_rows(final.tokenizer, mix, seed=2024, n_seqs=32, seq_len=128)
d_vocab = final.cfg.d_vocab
ngram = {n: NGramModel(n, d_vocab, k=0.01).fit(fit_rows) for n in (1, 2, 3)}
baseline = {n: m.loss(held_out.tolist(), skip=2) for n, m in ngram.items()}
mine = bigram_loss(fit_rows, [row[1:] for row in held_out.tolist()], d_vocab, 0.01)
print(f"your bigram loss {mine:.4f}, NGramModel(2) {baseline[2]:.4f}")
assert abs(mine - baseline[2]) < 1e-6  # same positions (from index 2 on), same counts
for n, name in [(1, "unigram"), (2, "bigram"), (3, "trigram")]:
    print(f"{name:>8}: {baseline[n]:.3f} nats")

# %% [markdown]
# And every checkpoint on the same held-out positions (`course.ngrams.model_loss`). The last columns
# say which counting levels the model has passed.

# %%
held_loss = {step: model_loss(series[step], held_out, skip=2) for step in steps}
checkpoints = {c["step"]: c for c in card["series"]["checkpoints"]}  # metrics recorded at training time
print(" step   held-out loss   in-context gap   below: unigram bigram trigram")
for step in steps:
    below = ["  yes  " if held_loss[step] < baseline[n] else "   -   " for n in (1, 2, 3)]
    print(f"{step:5d}   {held_loss[step]:13.3f}   {checkpoints[step]['repeat_loss_gap']:14.2f}          "
          + " ".join(below))


def first_below(level):
    return next(step for step in steps if held_loss[step] < level)


passes = {n: first_below(baseline[n]) for n in (1, 2, 3)}
bump = evaluate.induction_bump(card["series"]["checkpoints"])
gap = {step: checkpoints[step]["repeat_loss_gap"] for step in steps}
print("first checkpoint below each level:", {f"{n}-gram": s for n, s in passes.items()})
print(f"the induction bump: steps {bump['start']} -> {bump['end']}, holding {bump['drop_fraction']:.1%} "
      f"of the rise of the in-context gap in {bump['log_span_fraction']:.1%} of training (log steps)")
print(f"largest |in-context gap| up to step {bump['start']}: {max(abs(gap[s]) for s in steps if s <= bump['start']):.2f} nats")
# trained-model claim: unigram, then bigram and trigram, then in-context learning
assert passes[1] < passes[2] <= passes[3] < bump["start"]
assert passes == {1: 109, 2: 238, 3: 238}  # trained-model claim: bigram and trigram fall between the same checkpoints
assert max(abs(gap[s]) for s in steps if s <= bump["start"]) < 0.05  # trained-model claim: no copying yet
assert bump["drop_fraction"] > 0.99 and bump["log_span_fraction"] < 0.2  # trained-model claim: a short window

# %%
fig = go.Figure(go.Scatter(x=steps, y=[held_loss[s] for s in steps], mode="lines+markers", name="checkpoints",
                           hovertemplate="step %{x}: %{y:.3f} nats<extra></extra>"))
for n, name, dash, where in [(1, "unigram", "dot", "top right"), (2, "bigram", "dash", "top right"),
                             (3, "trigram", "dashdot", "bottom right")]:
    fig.add_hline(y=baseline[n], line_dash=dash, annotation_text=f"{name} {baseline[n]:.2f}", annotation_position=where)
fig.update_xaxes(type="log", title_text="training step (log scale)")
fig.update_layout(title="Held-out loss of each checkpoint, against the counting baselines", yaxis_title="loss (nats)",
                  height=360, showlegend=False)
fig

# %% [markdown]
# The order is the one the syllabus describes: the model beats the unigram model first (at step
# 109), then the bigram and the trigram model (both at step 238: they fall between the same two
# checkpoints, so the series cannot tell which went first), all within the first few hundred steps.
# All that while the *in-context gap* (the loss on the first copy of a random token sequence minus
# the loss on its repeat, from chapter 04) does not move: it stays below 0.05 nats up to step 1134.
# Passing the trigram level already needs attention (the previous *two* tokens); copying from far
# back in the context comes much later.
#
# `evaluate.induction_bump` finds the window of at most three checkpoint intervals over which the
# in-context gap rises most. Here it is steps 1134 to 3662, and it holds 99.5% of the whole rise in
# less than a fifth of the run on a log scale: a phase change, not a slow drift. The card also
# recorded, at every checkpoint, the best *induction score* of any head (chapter 04), which rises in
# the same window, and the best previous-token score, which creeps up early (to 0.19 by step 1134)
# and then makes most of its rise in the window too (to 0.76 by step 3662).

# %%
fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_trace(go.Scatter(x=steps, y=[gap[s] for s in steps], mode="lines+markers", name="in-context gap (nats)"))
for key, name in [("max_induction_score", "best induction score"), ("max_previous_token_score", "best previous-token score")]:
    fig.add_trace(go.Scatter(x=steps, y=[checkpoints[s][key] for s in steps], mode="lines+markers", name=name,
                             line={"dash": "dot"}), secondary_y=True)
fig.add_vrect(x0=bump["start"], x1=bump["end"], fillcolor="orange", opacity=0.15, line_width=0)
# on a log axis an annotation's x is log10 of the step (shapes take the step itself)
fig.add_annotation(x=math.log10(math.sqrt(bump["start"] * bump["end"])), y=1, yref="paper", yanchor="bottom",
                   text=f"bump: steps {bump['start']}-{bump['end']}", showarrow=False)
fig.update_xaxes(type="log", title_text="training step (log scale)")
fig.update_yaxes(title_text="in-context gap (nats)", secondary_y=False)
fig.update_yaxes(title_text="score", range=[0, 1], secondary_y=True)
fig.update_layout(title="In-context learning arrives in a bump", height=380, legend={"x": 0.01, "y": 0.98})
fig

# %%
print(f"in-context gap: {gap[1676]:.2f} at step 1676, {gap[2477]:.2f} at 2477; best induction score "
      f"{checkpoints[1676]['max_induction_score']:.2f} -> {checkpoints[2477]['max_induction_score']:.2f}")
print(f"held-out loss: {held_loss[bump['start']]:.2f} at step {bump['start']}, {held_loss[bump['end']]:.2f} at step {bump['end']}")
print(f"best previous-token score: {checkpoints[bump['start']]['max_previous_token_score']:.2f} at step {bump['start']}, "
      f"{checkpoints[bump['end']]['max_previous_token_score']:.2f} at step {bump['end']}")
assert gap[1676] < 0.2 < 6 < gap[2477]  # trained-model claim: most of the rise in one interval
assert checkpoints[1676]["max_induction_score"] < 0.1 < 0.7 < checkpoints[2477]["max_induction_score"]  # trained-model claim
assert held_loss[bump["start"]] - held_loss[bump["end"]] > 0.4  # trained-model claim: a second drop
assert [round(gap[1676], 2), round(gap[2477], 2)] == [0.11, 6.42]  # the card's numbers, as the prose says
assert [round(checkpoints[s]["max_induction_score"], 2) for s in (1676, 2477)] == [0.05, 0.79]
assert [round(checkpoints[s]["max_previous_token_score"], 2) for s in (1134, 3662)] == [0.19, 0.76]
assert abs(held_loss[bump["start"]] - 1.75) < 0.01 and abs(held_loss[bump["end"]] - 1.32) < 0.01  # trained-model claim

# %% [markdown]
# Most of the rise happens between two neighbouring checkpoints: the gap goes from 0.11 to 6.42 nats
# between steps 1676 and 2477, and the best induction score from 0.05 to 0.79. The held-out loss,
# which had been falling slowly, drops again with it, from 1.75 to 1.32: TinyWorld text repeats
# itself often enough for copying to pay (open exercise 1 finds which text gains).
#
# ## 2. The run, replayed
#
# `TrainingCurves` is the live plot of chapter 08's training loop; here we feed it the checkpoints
# after the fact, with the counting levels as flat lines and the bump marked. Watch the held-out
# loss cross the two lines, then the loss on repeated random tokens (second copy) fall away from the
# first copy's loss inside the bump, and the held-out loss take a second drop with it.

# %%
curves = TrainingCurves("attn-only-2l, replayed from its checkpoints", log_x=True, log_y=True)
for step in steps:
    c = checkpoints[step]
    curves.append(step, held_out_loss=held_loss[step], unigram_level=baseline[1], bigram_level=baseline[2],
                  repeat_first=c["repeat_loss_first"], repeat_second=c["repeat_loss_second"])
curves.add_event(passes[1], "below unigram")
curves.add_event(passes[2], "below bigram")
curves.add_event(bump["start"], "bump starts")
curves.add_event(bump["end"], "bump ends")
curves.flush()
curves

# %% [markdown]
# ## 3. The local learning coefficient
#
# The behaviour told us *when*; singular learning theory offers a measurement that needs no
# behaviour at all. Near a trained weight vector w*, how fast does the volume of "almost as good"
# weights shrink as we demand a lower loss? In a basin where every direction matters it shrinks
# fast; where many directions are redundant (degenerate: moving along them leaves the loss
# unchanged) it shrinks slowly. The *local learning coefficient* (LLC) is the exponent of that
# shrinking. For an ordinary quadratic bowl it is half the number of directions that matter, and a
# degenerate solution has a smaller one. So the LLC reads as the *effective complexity* of the
# solution: low for a simple, degenerate structure, higher for a more complex one.
#
# We estimate it by sampling (Lau et al., 2023). Draw weights w from a posterior that is *tempered*
# (a factor n·β on the loss, with β = 1/log n) and *localised* (a pull of strength γ back to w*),
#
#     p(w) ∝ exp(-n·β·L(w) - γ/2·|w - w*|²),
#
# and report n·β·(mean L(w) over the samples - L(w*)): the more the loss rises when the weights
# wander, the higher the LLC. The sampler is stochastic-gradient Langevin dynamics (SGLD): a
# gradient step on the exponent above plus Gaussian noise,
#
#     w ← w - ε/2 · (n·β·∇L(w) + γ·(w - w*)) + N(0, ε).
#
# Write one step, for one tensor. `noise` holds standard normal draws, so its scale is up to you.

# %% [exercise] sgld_update
check(sgld_update)

# %% [markdown]
# `course.llc.sgld_step` does the same to every parameter of a model, drawing its noise from a
# generator. Draw the same numbers yourself and your update reproduces it:

# %%
tiny = torch.nn.Linear(3, 2)
anchor = [p.detach().clone() for p in tiny.parameters()]
with torch.no_grad():
    for p in tiny.parameters():
        p.add_(0.1)  # start a little away from w*
x = torch.randn(5, 3)
loss = tiny(x).pow(2).mean()
grads = torch.autograd.grad(loss, list(tiny.parameters()))
before = [p.detach().clone() for p in tiny.parameters()]
cfg = SGLDConfig(epsilon=1e-3, gamma=10.0)
generator = torch.Generator().manual_seed(0)
expected = [sgld_update(w, g, a, cfg.epsilon, cfg.gamma, 50.0, torch.randn(w.shape, generator=generator))
            for w, g, a in zip(before, grads, anchor)]
sgld_step(tiny, anchor, tiny(x).pow(2).mean(), cfg, n_beta=50.0, generator=torch.Generator().manual_seed(0))
for p, e in zip(tiny.parameters(), expected):
    torch.testing.assert_close(p.detach(), e)
print("sgld_update reproduces course.llc.sgld_step")

# %% [markdown]
# A chain starts at w*, takes `n_steps` such steps and records the loss before each. The first
# `n_burnin` steps are the walk away from w*; the rest sample the posterior. Turn one chain's loss
# trace into its estimate:

# %% [exercise] llc_from_trace
check(llc_from_trace)

# %% [markdown]
# Now three checkpoints: one where the bump starts, one inside it, and the last. The settings are the
# ones of the shipped curve below (`LLC_SETTINGS`), with one chain each instead of two, so it takes
# a few seconds: 2048 tokens of TinyWorld as the data (n), ε = 3·10⁻⁵, γ = 3000, 32 steps of which
# 12 are burn-in. The chains cycle through 4 minibatches, and 12 and 20 are multiples of 4, so every
# batch weighs the same.

# %%
sgld, data_settings = LLC_SETTINGS["sgld"], LLC_SETTINGS["data"]
n_batches = data_settings["n_seqs"] // data_settings["batch_size"]
print(json.dumps(sgld), "on", json.dumps(data_settings))
print(f"n = {data_settings['n_seqs'] * data_settings['seq_len']} tokens in {n_batches} minibatches; "
      f"burn-in {sgld['n_burnin']} steps, then {sgld['n_steps'] - sgld['n_burnin']} kept")
assert data_settings["n_seqs"] * data_settings["seq_len"] == 2048 and n_batches == 4
assert (sgld["epsilon"], sgld["gamma"], sgld["n_steps"], sgld["n_burnin"]) == (3e-5, 3000.0, 32, 12)
assert sgld["n_burnin"] % n_batches == 0 and (sgld["n_steps"] - sgld["n_burnin"]) % n_batches == 0
data = llc_data(final, mix)
probe_steps = [bump["start"], steps[steps.index(bump["start"]) + 2], steps[-1]]
fresh = {}
for step in probe_steps:
    result = llc_at(series[step], data, n_chains=1)
    mine = llc_from_trace(result["traces"][0], result["init_loss"], result["n_beta"], LLC_SETTINGS["sgld"]["n_burnin"])
    assert abs(mine - result["chains"][0]) < 1e-6 * max(1.0, abs(mine))  # your estimate is the library's
    fresh[step] = result
    print(f"step {step:5d}: L(w*) = {result['init_loss']:.3f}, LLC ≈ {result['llc']:6.1f}   (n·β = {result['n_beta']:.0f})")

# %% [markdown]
# ### Diagnostics: the loss traces
#
# An LLC estimate is only as good as its chain. Look at the traces before trusting a number:
#
# - a trace that **keeps climbing** has not reached equilibrium (ε too small, or too few steps), and
#   the estimate is too low;
# - a trace that **explodes** (losses of 5, 10, NaN) means ε is too large or γ too weak;
# - a trace that **falls below L(w*)** means w* was not a local minimum: the chain found better
#   weights, and the LLC comes out negative. Checkpoints early in training, still sliding down the
#   loss, do this.
#
# The traces of the three chains above, relative to each one's L(w*) (thin lines), and their mean
# over each cycle of 4 minibatches (thick lines):

# %%
n_steps, n_burnin = sgld["n_steps"], sgld["n_burnin"]
fig = go.Figure()
cycles, swings = {}, {}
for step, color in zip(probe_steps, ["#636efa", "#ef553b", "#00cc96"]):
    rel = [x - fresh[step]["init_loss"] for x in fresh[step]["traces"][0]]
    cycles[step] = [sum(rel[i : i + n_batches]) / n_batches for i in range(0, n_steps, n_batches)]
    swings[step] = max(max(rel[i : i + n_batches]) - min(rel[i : i + n_batches]) for i in range(n_burnin, n_steps, n_batches))
    fig.add_trace(go.Scatter(x=list(range(n_steps)), y=rel, mode="lines", line={"color": color, "width": 1},
                             opacity=0.4, name=f"step {step}"))
    fig.add_trace(go.Scatter(x=[i + (n_batches - 1) / 2 for i in range(0, n_steps, n_batches)], y=cycles[step],
                             mode="lines+markers", line={"color": color, "width": 3}, name=f"step {step}, cycle mean"))
fig.add_vrect(x0=-0.5, x1=n_burnin - 0.5, fillcolor="grey", opacity=0.15, line_width=0,
              annotation_text="burn-in", annotation_position="top left")
fig.add_hline(y=0, line_dash="dot")
fig.update_layout(title="SGLD loss traces: L(w) - L(w*)", xaxis_title="SGLD step", yaxis_title="nats", height=380)
fig

# %%
k = n_burnin // n_batches  # the first kept cycle
for step in probe_steps:
    print(f"step {step:5d}: cycle means " + " ".join(f"{c:+.3f}" for c in cycles[step])
          + f"   rise in the burn-in {cycles[step][k] - cycles[step][0]:.3f}, after it {cycles[step][-1] - cycles[step][k]:.3f};"
          f" swing within a kept cycle up to {swings[step]:.2f}")
for step in probe_steps:  # the climb slows after the burn-in
    assert cycles[step][-1] - cycles[step][k] < cycles[step][k] - cycles[step][0]
assert all(0.3 < swings[s] < 0.8 for s in probe_steps) and abs(swings[1134] - 0.77) < 0.02  # trained-model claim
said = {1134: (0.04, 0.03), 2477: (0.11, 0.03), 8000: (0.16, 0.03)}  # the prose's numbers: (in the burn-in, after it)
for step, (during, after_burnin) in said.items():  # trained-model claim
    assert abs(cycles[step][k] - cycles[step][0] - during) < 0.01 and abs(cycles[step][-1] - cycles[step][k] - after_burnin) < 0.01

# %% [markdown]
# The thin lines zigzag with a period of 4: the chain visits the same 4 minibatches in turn, and
# some are harder than others, by a few tenths of a nat (up to 0.77 at step 1134). The cycle means
# show the real movement. They climb during the burn-in, and after it they rise less than they did
# during it: at steps 2477 and 8000 by about 0.03 nats against 0.11 and 0.16, so those chains
# have roughly levelled off. At step 1134 the climb is small to begin with (0.04 nats), and the
# chain is still creeping upward (0.03 nats) after the burn-in: its estimate, if anything, is a
# little low. These are usable chains, but short ones.
#
# ## 4. The LLC over the whole run
#
# `course/data/llc_curve.json` holds the LLC of all 18 checkpoints, with two chains each and the same
# settings and seed (recorded in the file; `python -m solutions.ch07_dynamics` recomputes it in
# under a minute on one thread, and the file records how long it took). Your single chain starts
# from the same seed as the first of the two shipped chains, so it draws the same noise: it should
# land on that chain's value, up to floating-point rounding that differs from machine to machine.

# %%
shipped = json.loads(LLC_CURVE_PATH.read_text())
curve = {p["step"]: p for p in shipped["points"]}
print("settings:", json.dumps(shipped["settings"]["sgld"]), f"n = {shipped['n_tokens']} tokens;",
      f"computed in {shipped['seconds']:.0f} s ({shipped['machine']})")
for step in probe_steps:
    c = curve[step]
    print(f"step {step:5d}: fresh (1 chain) {fresh[step]['llc']:6.1f}   shipped: first chain {c['chains'][0]:6.1f}, "
          f"mean of 2 chains {c['llc']:6.1f} ± {c['llc_std']:.1f}")
    assert abs(fresh[step]["llc"] - c["chains"][0]) < 0.1 * abs(c["chains"][0])  # the same draws
assert len(shipped["points"]) == 18 and all(len(p["chains"]) == 2 for p in shipped["points"])
assert fresh[probe_steps[0]]["llc"] < fresh[probe_steps[1]]["llc"]  # the bump raises the LLC
assert curve[probe_steps[0]]["llc"] < curve[probe_steps[1]]["llc"]

# %% [markdown]
# Now the whole curve, under the held-out loss of the same checkpoints (error bars: the spread of
# the two chains):

# %%
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                    subplot_titles=["held-out loss (nats)", "local learning coefficient"])
fig.add_trace(go.Scatter(x=steps, y=[held_loss[s] for s in steps], mode="lines+markers", name="held-out loss",
                         hovertemplate="step %{x}: %{y:.3f} nats<extra></extra>"), row=1, col=1)
fig.add_trace(go.Scatter(x=steps, y=[curve[s]["llc"] for s in steps], mode="lines+markers", name="LLC",
                         error_y={"type": "data", "array": [curve[s]["llc_std"] for s in steps]},
                         hovertemplate="step %{x}: LLC %{y:.1f}<extra></extra>"), row=2, col=1)
fig.add_hline(y=0, line_dash="dot", row=2, col=1)
fig.add_vrect(x0=bump["start"], x1=bump["end"], fillcolor="orange", opacity=0.15, line_width=0, row="all", col=1)
for n, label in [(1, "below unigram"), (2, "below bigram")]:
    fig.add_vline(x=passes[n], line_dash="dot", line_color="grey", row="all", col=1)
    fig.add_annotation(x=math.log10(passes[n]), y=1, xref="x2", yref="y2 domain", text=label, showarrow=False,
                       xanchor="left", yanchor="top", textangle=-90)
fig.add_annotation(x=math.log10(math.sqrt(bump["start"] * bump["end"])), y=1, xref="x2", yref="y2 domain",
                   text="bump", showarrow=False, yanchor="top")
fig.update_xaxes(type="log")
fig.update_xaxes(title_text="training step (log scale)", row=2, col=1)
fig.update_layout(title="attn-only-2l: the loss and the local learning coefficient over training", height=560,
                  showlegend=False)
fig

# %%
llc = {s: curve[s]["llc"] for s in steps}
print("LLC:", ", ".join(f"{s}: {v:.0f}" for s, v in llc.items()))
early = [s for s in steps if s < 100]
plateau = [s for s in steps if passes[3] < s and gap[s] < 0.5]  # past the counting levels, before any copying
peak = max((s for s in steps if s < bump["start"]), key=llc.get)
jumps = {(a, b): llc[b] - llc[a] for a, b in zip(steps, steps[1:]) if a >= peak}
gap_rises = {(a, b): gap[b] - gap[a] for a, b in zip(steps, steps[1:])}
after = [s for s in steps if s >= bump["end"]]
print(f"first {len(early)} checkpoints (steps < 100): LLC {min(llc[s] for s in early):.0f} to {max(llc[s] for s in early):.0f}")
print(f"peak: {llc[peak]:.0f} at step {peak}")
print(f"plateau (steps {plateau[0]}-{plateau[-1]}): held-out loss {held_loss[plateau[0]]:.2f} -> {held_loss[plateau[-1]]:.2f}, "
      f"LLC {llc[plateau[0]]:.0f} -> {llc[plateau[-1]]:.0f}")
print(f"largest rise after the peak: {max(jumps, key=jumps.get)} (+{max(jumps.values()):.0f}); "
      f"the in-context gap's largest rise: {max(gap_rises, key=gap_rises.get)}")
print(f"after the bump: lowest {min(llc[s] for s in after):.0f} (step {min(after, key=llc.get)}), at the end {llc[steps[-1]]:.0f}")
assert all(llc[s] < 10 for s in early) and min(llc[s] for s in early) < 0  # trained-model claim: no LLC yet
assert [round(min(llc[s] for s in early)), round(max(llc[s] for s in early))] == [-14, 7]  # trained-model claim
assert passes[1] < peak < passes[2] and round(llc[peak]) == 87  # trained-model claim: the peak comes with the counting
assert plateau == [351, 519, 767, 1134, 1676]  # trained-model claim
assert all(llc[a] > llc[b] for a, b in zip(plateau, plateau[1:]))  # trained-model claim: it falls at every checkpoint
assert [round(held_loss[plateau[0]], 2), round(held_loss[plateau[-1]], 2)] == [1.98, 1.70]  # trained-model claim
assert [round(llc[plateau[0]]), round(llc[plateau[-1]])] == [57, 20]  # trained-model claim
# trained-model claim: the LLC's largest rise after its peak is where the in-context gap rises most
assert max(jumps, key=jumps.get) == max(gap_rises, key=gap_rises.get) == (1676, 2477) and round(llc[2477]) == 49
assert min(after, key=llc.get) == 3662 and round(llc[3662]) == 37 and round(llc[steps[-1]]) == 52  # trained-model claim
assert min(llc[s] for s in after) > max(llc[s] for s in plateau[-2:])  # trained-model claim: not back to the plateau
# trained-model claim: and it ends at its highest since the plateau
assert llc[steps[-1]] == max(llc[s] for s in steps if s > plateau[-1])

# %% [markdown]
# Read it in stages:
#
# 1. **The first 100 steps:** the estimate lies between -14 and 7. The checkpoints are not at a
#    minimum (the loss is still falling fast), so the sampler finds lower loss and the number is not
#    an LLC at all: a diagnostic, not a measurement.
# 2. **Learning token statistics:** the LLC climbs steeply and peaks at 87 (step 161), between the
#    checkpoints where the model passes the unigram and the bigram level. Each new piece of
#    structure is a direction that matters.
# 3. **The plateau before the bump** (steps 351 to 1676: past the counting levels, and up to the
#    last checkpoint before the in-context gap jumps, although the bump's window formally starts
#    at 1134): the held-out loss falls only from 1.98 to 1.70, and the LLC *falls* at every
#    checkpoint, from 57 to 20. The model is simplifying: its solution grows more degenerate while
#    the loss barely moves. Hoogland et al. (2024) saw such decreases too, between the increases.
# 4. **The induction bump:** the LLC jumps to 49 at step 2477, its largest rise after the peak, in
#    exactly the interval where the in-context gap rises most. A more complex solution, and the LLC
#    marks the stage without looking at any behaviour.
# 5. **After the bump:** it dips to 37 (step 3662) but never falls back to the plateau's 20, and
#    ends at 52, its highest value since the plateau, with the slow refinements of the last thousands
#    of steps.
#
# Some honesty about the numbers. With chains this short, the two chains of one checkpoint can
# disagree by more than a quarter (printed below). And the estimate depends on ε, γ, the data size
# n and the chain length: making ε or γ three times smaller or larger moves the estimates by
# anything from a quarter to a factor of three (open exercise 3 tries it). Compare LLCs of
# checkpoints measured with *the same* settings, as here, and read their ups and downs, not their
# absolute size.

# %%
spread = {s: abs(curve[s]["chains"][0] - curve[s]["chains"][1]) / llc[s] for s in steps if llc[s] > 10}
worst = max(spread, key=spread.get)
print(f"the two chains differ by up to {spread[worst]:.0%} of the estimate (step {worst}); "
      f"median {sorted(spread.values())[len(spread) // 2]:.0%}")
assert 0.25 < spread[worst] < 0.3  # trained-model claim: more than a quarter

# %% [markdown]
# ## Recap
#
# - A smooth loss curve hides distinct stages. Counting baselines show the order: token frequencies,
#   then pairs, long before in-context learning.
# - In-context learning arrives as a bump: the in-context gap rises almost entirely within a short
#   window of training, located with `evaluate.induction_bump`.
# - The local learning coefficient measures the effective complexity of the solution at a
#   checkpoint: SGLD samples a tempered, localised posterior around w*, and the LLC is n·β times how
#   much the loss rises on average.
# - Estimates need diagnostics (loss traces) and fixed settings; read them as a curve over training.
# - On `attn-only-2l` the LLC rises while n-gram statistics are learned, falls on the plateau, and
#   jumps with the induction bump, in the same interval as the in-context gap.
#
# ## Further reading
#
# - Olsson et al. (2022), *In-context Learning and Induction Heads*: the bump and its phase change.
# - Lau, Furman, Wang, Murfet and Wei (2023), *The Local Learning Coefficient: A
#   Singularity-Aware Complexity Measure*: the SGLD estimator.
# - Hoogland, Wang, Farrugia-Roberts, Carroll, Wei and Murfet (2024), *The Developmental Landscape of
#   In-Context Learning* (arXiv:2402.02364): the LLC marks developmental stages of a small
#   transformer.
# - Watanabe (2009), *Algebraic Geometry and Statistical Learning Theory*: where the learning
#   coefficient comes from.
# - The `devinterp` library (Timaeus), which implements these estimators for PyTorch models.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer:
# `reveal("bump_by_kind")` and so on prints its code (run it; the first two take a few seconds, the
# third runs 15 short SGLD chains and takes longer).
#
# 1. **Where does the second drop come from?** (`"bump_by_kind"`). Inside the bump the held-out
#    loss fell from 1.75 to 1.32. TinyWorld mixes several kinds of document (`mix`). Score the
#    checkpoints at the bump's start and end on text of one kind at a time
#    (`tinyworld_rows(tokenizer, {kind: 1.0}, ...)`): which kinds gain from copying, and which not
#    at all?
# 2. **Does the previous-token head come first?** (`"previous_token_head"`). Copying needs a
#    previous-token head in layer 0 as well as the induction heads in layer 1 (chapter 04). Find
#    when each forms: `evaluate.head_scores` on every checkpoint of the series.
# 3. **Does the LLC's shape hold for other settings?** (`"llc_settings"`). Estimate the LLC of the
#    early peak (step 161), the plateau (1134) and the bump (2477) with ε and γ three times smaller
#    and larger (`llc_at(model, data, n_chains=1, epsilon=...)`). Do the numbers change? Does their
#    order?

# %%
# Your exploration here. Then, for example: reveal("bump_by_kind")

# %%
progress()
