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

import torch

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
print("first checkpoint below each level:", {f"{n}-gram": s for n, s in passes.items()})
print(f"the induction bump: steps {bump['start']} -> {bump['end']}, holding {bump['drop_fraction']:.0%} "
      f"of the rise of the in-context gap in {bump['log_span_fraction']:.0%} of training (log steps)")
# trained-model claim: unigram, then bigram and trigram, then in-context learning
assert passes[1] < passes[2] <= passes[3] < bump["start"]
assert passes[3] < 500  # trained-model claim: the counting levels fall within the first few hundred steps

# %% [markdown]
# The order is the one the syllabus describes: the model beats the unigram model first, then the
# bigram and the trigram model (here both between the same two checkpoints, so the series cannot
# tell which fell first), all within the first few hundred steps, and long before the *in-context
# gap* (the loss on the first copy of a random token sequence minus the loss on its repeat, from
# chapter 04) moves at all. Passing the trigram level already needs attention (the previous *two*
# tokens); copying from far back in the context comes much later.
#
# `evaluate.induction_bump` finds the window of at most three checkpoint intervals over which the
# in-context gap rises most. Almost the whole rise sits in it, in a sixth of the run on a log scale:
# a phase change, not a slow drift.
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
print(json.dumps(LLC_SETTINGS["sgld"]), "on", json.dumps(LLC_SETTINGS["data"]))
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
# The traces of the three chains above, relative to each one's L(w*):

# %%
traces = TrainingCurves("SGLD loss traces: L(w) - L(w*)", log_x=False, log_y=False)
for t in range(LLC_SETTINGS["sgld"]["n_steps"]):
    traces.append(t, **{f"step_{s}": fresh[s]["traces"][0][t] - fresh[s]["init_loss"] for s in probe_steps})
traces.add_event(LLC_SETTINGS["sgld"]["n_burnin"], "end of burn-in")
traces.flush()
traces

# %% [markdown]
# They jump on the first steps, then hover: a stationary spread, with the batch-to-batch noise of
# SGLD on top. That is what a usable chain looks like.
#
# ## 4. The LLC over the whole run
#
# `course/data/llc_curve.json` holds the LLC of all 18 checkpoints, with two chains each and the same
# settings and seed (recorded in the file; `python -m solutions.ch07_dynamics` recomputes it in
# about a minute on one thread). First, do your fresh estimates agree with it?

# %%
shipped = json.loads(LLC_CURVE_PATH.read_text())
curve = {p["step"]: p for p in shipped["points"]}
print("settings:", json.dumps(shipped["settings"]["sgld"]), f"n = {shipped['n_tokens']} tokens")
for step in probe_steps:
    print(f"step {step:5d}: fresh (1 chain) {fresh[step]['llc']:6.1f}   shipped (2 chains) "
          f"{curve[step]['llc']:6.1f} ± {curve[step]['llc_std']:.1f}")
assert fresh[probe_steps[0]]["llc"] < fresh[probe_steps[1]]["llc"]  # the bump raises the LLC
assert curve[probe_steps[0]]["llc"] < curve[probe_steps[1]]["llc"]

# %%
print(" step    held-out loss    LLC")
for step in steps:
    llc = curve[step]["llc"]
    bar = "#" * max(0, int(llc / 5))
    mark = "  <- bump" if bump["start"] <= step <= bump["end"] else ""
    print(f"{step:5d}   {held_loss[step]:13.3f}   {llc:6.1f} {bar}{mark}")

llc_view = TrainingCurves("attn-only-2l: local learning coefficient", log_x=True, log_y=False)
for step in steps:
    llc_view.append(step, llc=curve[step]["llc"])
llc_view.add_event(passes[2], "below bigram")
llc_view.add_event(bump["start"], "bump starts")
llc_view.add_event(bump["end"], "bump ends")
llc_view.flush()
llc_view

# %% [markdown]
# Read it in stages:
#
# 1. **The first ~100 steps:** the estimate is near zero or negative. The checkpoints are not at a
#    minimum (the loss is still falling fast), so the sampler finds lower loss and the number is not
#    an LLC at all: a diagnostic, not a measurement.
# 2. **Learning token statistics (to a few hundred steps):** the LLC climbs steeply and peaks
#    between the checkpoints where the model passes the unigram and the bigram level. Each new piece
#    of structure is a direction that matters.
# 3. **The plateau before the bump:** the loss barely moves, and the LLC *falls*. The model is
#    simplifying: its solution grows more degenerate at the same loss. Hoogland et al. (2024) saw
#    such decreases too, between the increases.
# 4. **The induction bump:** the LLC jumps as induction heads form: a more complex solution, and it
#    marks the stage without looking at any behaviour.
# 5. **After the bump:** it stays above its level on the plateau, with ups and downs, and ends at
#    its highest value since the plateau, with the slow refinements of the last thousands of steps.
#
# Some honesty about the numbers. The estimate depends on ε, γ, the data size n and the chain
# length; with these short chains it carries tens of percent of noise. Compare LLCs of checkpoints
# measured with *the same* settings, as here, and read their ups and downs, not their absolute size.

# %%
before, at = curve[bump["start"]]["llc"], curve[probe_steps[1]]["llc"]
plateau_top = max(curve[s]["llc"] for s in steps if s < bump["start"])
print(f"LLC: highest before the plateau {plateau_top:.0f}, at the bump's start {before:.0f}, inside the bump {at:.0f}, "
      f"at the end {curve[steps[-1]]['llc']:.0f}")
assert before < plateau_top and before < at  # trained-model claim: a dip on the plateau, a rise in the bump
assert all(curve[s]["llc"] < 10 for s in steps if s < 100)  # trained-model claim: no LLC to speak of at first
peak = max((s for s in steps if s < bump["start"]), key=lambda s: curve[s]["llc"])
assert passes[1] <= peak <= passes[2]  # trained-model claim: the early peak comes with the counting levels
after = [s for s in steps if s >= bump["end"]]
assert min(curve[s]["llc"] for s in after) > before  # trained-model claim: it stays above the plateau's level
# trained-model claim: and it ends at its highest since the plateau
assert curve[steps[-1]]["llc"] == max(curve[s]["llc"] for s in steps if s > bump["start"])

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
# - On `attn-only-2l` the LLC rises while n-gram statistics are learned, dips on the plateau, and
#   jumps with the induction bump.
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

# %%
progress()
