# %% [markdown]
# # Chapter 08: Grokking
#
# **Time:** about 50 minutes. **You will:**
#
# - train a one-layer transformer on modular addition and watch its training and test curves live;
# - replay the curves of a long, shipped run that *groks*: it fits its training data early, looks
#   hopeless on everything else for thousands of steps, then suddenly generalises;
# - open up the final model and find the algorithm it uses, which is built from a handful of
#   waves (*Fourier frequencies*) and trigonometric identities;
# - measure two *progress measures*, the restricted and the excluded loss, on snapshots taken
#   during training, and use them to split training into three phases: memorisation, circuit
#   formation and cleanup.
#
# Grokking is a place where interpretability tells us something about *training*, not only about
# a finished model: the test accuracy barely moves for a long time, yet inside, a general algorithm
# is being built the whole while. The setup follows Nanda et al. (2023), *Progress measures for
# grokking via mechanistic interpretability*.
#
# Everything runs on the CPU. The chapter uses the shipped run `modadd` for the analysis, so
# nothing needs hours of training.

# %%
import math

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from IPython.display import display
from plotly.subplots import make_subplots

from course import modadd
from course.exercises import check, hint, progress, reveal
from widgets import TrainingCurves

torch.manual_seed(0)
P = modadd.P
card = modadd.card()
data = modadd.make_data(P, card["data"]["frac_train"], card["data"]["seed"])
print(f"p = {P}: {P * P} pairs (a, b), {len(data.train)} of them ({len(data.train) / (P * P):.0%}) for training, "
      f"{len(data.test)} held out")
a, b, eq = data.tokens[data.train[0]].tolist()
print(f"a training example: tokens {[a, b, eq]} (token {P} is '='), label {data.labels[data.train[0]].item()}"
      f" = ({a} + {b}) mod {P}")

# %% [markdown]
# ## 1. The task
#
# Every pair (a, b) of numbers 0 .. 112 becomes three tokens, `a b =`, and the model must say
# (a + b) mod 113 at the last position. There are 113^2 = 12,769 pairs; the model trains on a
# fixed random 30% of them and never sees the rest. It is a closed world: the rest of the table is
# fully determined, so the held-out pairs measure exactly whether the model learned *addition* or
# merely learned *a table*.
#
# The model is a one-layer transformer (4 attention heads, a ReLU MLP of 512 neurons, d_model =
# 128, no LayerNorm), trained full-batch with AdamW and a strong weight decay. Weight decay is the
# key ingredient: it keeps pushing every weight towards zero, so a solution that fits the data with
# smaller weights wins in the long run.
#
# ## 2. Train it yourself
#
# Three recipes live in `course.modadd`. `STANDARD` (learning rate 1e-3, weight decay 1.0) groks
# after thousands of steps: that is the shipped run we analyse below. `FAST` adds *Grokfast* (Lee
# et al. 2024): it keeps an exponential moving average of past gradients and adds it back onto
# each new gradient. Memorisation makes the gradient jump around from step to step; the direction
# that builds the general algorithm is slow and steady, so the average amplifies mostly that.
# `LIVE` is `FAST` on a smaller problem, so that it groks in front of you on a laptop: the modulus
# is p = 71 instead of 113, and 35% of the 5,041 pairs are for training (the shipped run uses
# 30%). A larger share makes the task easier, so the live model's test accuracy at memorisation
# sits above the shipped run's (the plot shows it); the three phases still come in order. On one
# CPU core it groks in under a minute for every seed tried (`python benchmarks/grokking.py` times
# ten seeds side by side).
#
# Below it trains live for at most 45 seconds (press Stop to end sooner). Besides the losses and
# accuracies, the plot draws three measures of what is happening inside, taken at every logged
# step on the five frequencies the embedding uses most at that moment (sections 4 and 5 explain
# them): the *restricted* and *excluded* losses (left, with the other losses), and `key_share`,
# the share of the embedding that sits in those five frequencies (right, with the accuracies).
# Watch train accuracy reach 100% while test accuracy stays low (memorisation); then the key share
# climb and the restricted loss fall below the excluded loss while test accuracy still lags (the
# circuit forms); then test accuracy jump (cleanup). When the run ends, the phase boundaries that
# section 6 defines are marked on the plot.

# %%
SECONDS = 45
live = TrainingCurves("Live recipe (Grokfast, p = 71), live")
display(live)


def on_step(step, metrics):
    live.append(step, train_loss=metrics["train_loss"])
    if "test_acc" in metrics:  # a logged step: every LIVE.log_every steps
        live.append(step, test_loss=metrics["test_loss"], train_acc=metrics["train_acc"], test_acc=metrics["test_acc"],
                    restricted_loss=metrics["restricted_loss"], excluded_loss=metrics["excluded_loss"],
                    key_share=metrics["key_fraction"])  # share of W_E in its 5 strongest frequencies
    live.poll()
    return live.should_stop


live_model, live_history = modadd.train_fast(max_seconds=SECONDS, progress=False, on_step=on_step)
live_phases = modadd.phase_boundaries(live_history)  # the rules of section 6, on the live run's logged rows
for label in ("memorised", "circuit", "cleanup"):  # the run stops once it has grokked
    if live_phases[label] is not None:
        live.add_event(live_phases[label], label)
live.flush()
last = live_history["step"][-1]
seconds = live_history["seconds_total"]
live_grokked = live_history["grokked_step"] is not None
print(f"{last} steps in {seconds:.1f} s ({last / seconds:.1f} steps/s); train accuracy "
      f"{live_history['train_acc'][-1]:.1%}, test accuracy {live_history['test_acc'][-1]:.1%}")
shares = list(zip(live_history["step"], live_history["key_fraction"]))
print("key_share (W_E's share in its 5 strongest frequencies):",
      ", ".join(f"step {s}: {f:.0%}" for s, f in shares[:: max(1, len(shares) // 6)]))
print("phases:", ", ".join(f"{k} at step {v}" for k, v in live_phases.items() if k != "clean" and v is not None))
if live_grokked:
    print(f"grokked (test accuracy > 99%) at step {live_history['grokked_step']}")
    # the phases come in order (checked on seeds 0-4 of the live recipe)
    assert live_phases["memorised"] < live_phases["circuit"] <= live_phases["cleanup"] <= live_phases["grokked"]
else:
    print("not grokked within the time limit: raise SECONDS (a busy machine is slower) and run the cell again")

# %% [markdown]
# ## 3. The shipped run: three phases
#
# The shipped model `modadd` is the standard recipe trained for 15,000 steps. Its card holds the
# evaluations it logged every 100 steps. Here they are, replayed into the same widget (both axes
# are logarithmic, so the early steps are spread out), with the boundaries of the phases that we
# locate in section 6 marked as events.

# %%
ev = card["evals_during_training"]
pm = card["progress_measures"]
phases = card["phases"]
replay = TrainingCurves("Standard recipe, the shipped run")
measures_at = {s: i for i, s in enumerate(pm["step"])}
for i, step in enumerate(ev["step"]):
    values = {k: ev[k][i] for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    if step in measures_at:
        values.update(restricted_loss=pm["restricted_loss"][measures_at[step]],
                      excluded_loss=pm["excluded_loss"][measures_at[step]])
    replay.append(step, **values)
for label, step in phases.items():
    replay.add_event(step, label)
replay.flush()
replay

# %%
def row(step):
    i = ev["step"].index(step)
    return (f"step {step:>6}: train loss {ev['train_loss'][i]:.2e}  test loss {ev['test_loss'][i]:7.3f}  "
            f"train acc {ev['train_acc'][i]:6.1%}  test acc {ev['test_acc'][i]:6.1%}  weight norm {ev['weight_norm'][i]:5.1f}")


for step in (100, phases["memorised"], 2000, phases["circuit"], phases["cleanup"], phases["grokked"],
             phases["clean"], ev["step"][-1]):
    print(row(step))
print(f"training took {card['training_seconds'] / 60:.0f} minutes on {card['machine']}")
middle = [ev["weight_norm"][i] for i, step in enumerate(ev["step"]) if phases["memorised"] <= step < phases["cleanup"]]
print(f"weight norm from memorisation to cleanup (steps {phases['memorised']}-{phases['cleanup']}): "
      f"{min(middle):.1f} to {max(middle):.1f}; at the end {ev['weight_norm'][-1]:.1f}")
assert 49 < min(middle) < 51 and 61 < max(middle) < 63 and ev["weight_norm"][-1] < 40  # trained-model claim

# %% [markdown]
# Read the curves. By step 200 the model has **memorised** the training set: training accuracy is
# 100%, test accuracy 2%, and the test loss is far *above* chance (ln 113 = 4.7): the memorised
# table is confidently wrong on new pairs. For thousands of steps after that the test side looks
# hopeless: the test loss jumps around between about 10 and 25, and test accuracy creeps from 2% to
# about 15% by step 5,500. Then the test loss falls fast, test accuracy passes 50% at step 7,500 and
# 99% at step 8,400: the model has **grokked**. The **weight norm** stays between about 50 and 62
# during the long middle stretch and drops below 40 once the model has grokked.
#
# Why would a model that already fits its data keep changing? Weight decay. A lookup table of
# 3,831 memorised answers needs many large weights; a general algorithm for addition fits the same
# data with far smaller weights. The loss plus weight decay is lower for the algorithm, so the
# optimiser drifts towards it. To see that drift we need to know what the algorithm *is*.
#
# ## 4. The algorithm: waves on a circle
#
# Addition mod p is addition of angles. Put each number x on a circle at angle w x, with
# w = 2 pi k / p for some integer *frequency* k. Then a + b mod p is the angle w a + w b, and
# trigonometry does the rest:
#
# - cos(w (a + b)) = cos(w a) cos(w b) - sin(w a) sin(w b), and likewise for sin(w (a + b));
# - the logit of an answer c can be cos(w (a + b - c)) = cos(w (a + b)) cos(w c) + sin(w (a + b)) sin(w c),
#   which is largest exactly when c = a + b mod p.
#
# Nanda et al. found that the grokked model does this: the embedding writes cos(w x) and sin(w x)
# for a few key frequencies, the attention and MLP multiply them into cos(w (a + b)) and
# sin(w (a + b)), and the unembedding reads out cos(w (a + b - c)). Several frequencies added
# together make the peak at the right answer sharp.
#
# To see it we need a basis of waves. The **Fourier basis** of functions on Z_p is the constant,
# then cos(w_k x) and sin(w_k x) for k = 1 .. p // 2: p orthonormal rows, so any function of x
# (a column of the embedding, for instance) splits exactly into frequencies.

# %% [exercise] fourier_basis
check(fourier_basis)

# %%
basis = fourier_basis(P)
torch.testing.assert_close(basis @ basis.T, torch.eye(P), atol=1e-5, rtol=0)  # orthonormal: a change of basis
model = modadd.load()
W_E = model.W_E[:P].detach()  # [p d_model]: the embeddings of the numbers, without '='
coeffs = basis @ W_E  # [p d_model]: the embedding, written in waves
power = torch.cat([coeffs[:1].pow(2).sum(-1), coeffs[1::2].pow(2).sum(-1) + coeffs[2::2].pow(2).sum(-1)])
share = power / power.sum()
print(f"the constant holds {share[0].item():.1%}; a random embedding spreads about 1/{P // 2} per frequency")
fig = go.Figure(go.Bar(x=list(range(1, P // 2 + 1)), y=share[1:].tolist(),
                       hovertemplate="k = %{x}: %{y:.1%}<extra></extra>"))
fig.add_hline(y=1 / (P // 2), line_dash="dot", annotation_text="even spread")
fig.update_layout(title="The number embeddings' squared norm in each frequency", xaxis_title="frequency k",
                  yaxis_title="share", yaxis_tickformat=".0%", height=340)
fig

# %% [markdown]
# A few frequencies hold almost everything. Write the function that names them: the k
# frequencies with the most power, strongest first.

# %% [exercise] key_frequencies
check(key_frequencies)

# %%
freqs = key_frequencies(W_E, 5)
top5 = modadd.top_frequency_fraction(model.W_E, 5)
print(f"key frequencies: {freqs}; they hold {top5:.1%} of the embedding's norm (5 random ones: ~{5 / (P // 2):.0%})")
assert freqs == card["metrics"]["key_frequencies"] == [18, 15, 1, 8, 47]  # trained-model claim
assert top5 > 0.5  # trained-model claim: a few frequencies dominate
assert abs(top5 - card["metrics"]["top5_fraction"]) < 1e-4  # trained-model claim: about 90%

# %% [markdown]
# The embedding is only the input side. Does the *output* follow the trig identity? For every pair
# (a, b), centre the logits over the answers c and ask how much of their variance a weighted sum of
# cos(w_k (a + b - c)) over the key frequencies explains (`modadd.trig_readout_fraction`, a
# least-squares fit):

# %%
logits = modadd.all_logits(model, data)  # [p*p p]: row a*p + b holds the logits of a + b = ?
metrics = modadd.evaluate(model, data)
trig = modadd.trig_readout_fraction(logits, freqs)
print(f"final model: train accuracy {metrics['train_acc']:.2%}, test accuracy {metrics['test_acc']:.2%}")
print(f"cos(w_k (a + b - c)) over the 5 key frequencies explains {trig:.1%} of the logits' variance")
for k in freqs:
    print(f"  k = {k:>2} alone: {modadd.trig_readout_fraction(logits, [k]):.1%}")
assert metrics["test_acc"] > 0.99 and metrics["train_acc"] == 1.0  # trained-model claim: it grokked
assert abs(trig - card["metrics"]["trig_fraction"]) < 1e-4  # trained-model claim: about 69%

# %% [markdown]
# Five frequencies out of 56, one simple formula, and most of the output is explained: this is the
# *Fourier multiplication* circuit. The rest is the remainder of the memorised table and the
# nonlinearity's side effects (the ReLU only approximates the products).
#
# ### Inside the MLP: each neuron reads one frequency
#
# The embedding writes waves; the MLP multiplies them. Take any neuron's activation at the last
# position, over all p^2 pairs (a, b): a p x p grid. Change both axes to the Fourier basis and
# its variance splits into terms in a alone, b alone, and products of a wave in a with a wave in b.
# Collect the terms of each frequency k (a wave of frequency k or the constant on each axis, the
# constant on both excepted): write the share of each neuron's variance that each frequency explains.

# %% [exercise] neuron_frequency_shares
check(neuron_frequency_shares)

# %%
with torch.no_grad():  # no autograd graph over all p^2 pairs: it would hold ~0.8 GB for nothing
    _, mlp_cache = model.run_with_cache(data.tokens, names_filter="blocks.0.mlp.hook_post")
acts = mlp_cache["blocks.0.mlp.hook_post"][:, -1]  # [p*p d_mlp]: after the ReLU, at '='
neuron_shares = neuron_frequency_shares(acts, P)  # [d_mlp p // 2]
best = neuron_shares.argmax(-1) + 1  # [d_mlp]: each neuron's strongest frequency
best_share = neuron_shares.max(-1).values
on_key = torch.isin(best, torch.tensor(freqs)).float().mean().item()
print(f"{on_key:.1%} of the {acts.shape[1]} neurons have a key frequency as their strongest; "
      f"the median neuron has {best_share.median():.0%} of its variance in that one frequency, "
      f"and {(best_share > 0.5).float().mean():.0%} of the neurons more than half")
assert on_key > 0.95 and best_share.median() > 0.85  # trained-model claim: one key frequency per neuron
counts = torch.bincount(best, minlength=P // 2 + 1)[1:]
fig = make_subplots(rows=1, cols=2, subplot_titles=["neurons by their strongest frequency",
                                                    "three neurons' spectra"], horizontal_spacing=0.1)
fig.add_trace(go.Bar(x=list(range(1, P // 2 + 1)), y=counts.tolist(), name="neurons",
                     hovertemplate="k = %{x}: %{y} neurons<extra></extra>"), row=1, col=1)
for n in (0, 1, 2):
    fig.add_trace(go.Bar(x=list(range(1, P // 2 + 1)), y=neuron_shares[n].tolist(), name=f"neuron {n}",
                         hovertemplate="k = %{x}: %{y:.1%}<extra></extra>"), row=1, col=2)
fig.update_xaxes(title_text="frequency k")
fig.update_yaxes(title_text="share of its variance", tickformat=".0%", row=1, col=2)
fig.update_layout(title="The MLP neurons' Fourier spectrum", height=360, barmode="group")
fig

# %% [markdown]
# Nearly every neuron is a *frequency neuron*: it reads one of the five key frequencies and hardly
# anything else, and each key frequency has its own cluster of neurons, as Nanda et al. found.
#
# ### Your live model, beside the shipped one
#
# The model you trained in section 2 solved a smaller table (p = 71) from its own random start.
# Did it find the same kind of algorithm? Put it through the same lens: its embedding split into
# frequencies, its strongest five, and the trig readout of its logits, printed beside the shipped
# model's. A random embedding would spread evenly, about 1/35 of its norm per frequency at p = 71.

# %%
LIVE_P = modadd.LIVE.p
live_data = modadd.make_data(LIVE_P, modadd.LIVE.frac_train, modadd.LIVE.data_seed)  # the split train_fast used
live_power = modadd.frequency_power(live_model.W_E, LIVE_P)
live_share = live_power / live_power.sum()  # [p // 2 + 1]: the constant, then frequencies 1 .. 35
live_freqs = modadd.key_frequencies(live_model.W_E, 5, LIVE_P)
live_top5 = modadd.top_frequency_fraction(live_model.W_E, 5, LIVE_P)
live_trig = modadd.trig_readout_fraction(modadd.all_logits(live_model, live_data), live_freqs, LIVE_P)
print(f"key frequencies: shipped {freqs}, live {live_freqs}")
print(f"top 5: shipped {top5:.1%}, live {live_top5:.1%} (even spread: {5 / (P // 2):.0%} and {5 / (LIVE_P // 2):.0%})")
print(f"trig readout: shipped {trig:.1%}, live {live_trig:.1%} (share of the logits' variance)")
print(f"live run: test accuracy {live_history['test_acc'][-1]:.1%} at step {last}; restricted loss "
      f"{live_history['restricted_loss'][-1]:.3f}, excluded loss {live_history['excluded_loss'][-1]:.2f}")
if live_grokked:
    # Checked on seeds 0-4 of the live recipe, each stopped as it grokked: the top 5 held 67-76%
    # of the embedding, the trig readout explained 78-88% of the logits.
    assert live_top5 >= 0.5  # a few frequencies carry most of the embedding (an even spread: 14%)
    assert live_top5 < top5  # stopped at grokking, the live model has not finished cleaning up
    assert live_trig > 0.5  # the same readout, cos(w_k (a + b - c)), explains most of its logits
    assert live_history["restricted_loss"][-1] < 1.0 < live_history["excluded_loss"][-1]  # the circuit does the work
else:
    print("The live run stopped before it grokked, so it is still partly a lookup table and its spectrum "
          "is flatter than a grokked model's: raise SECONDS in section 2, run that cell and this one again.")
fig = make_subplots(rows=1, cols=2, subplot_titles=[f"shipped run (p = {P})", f"your live run (p = {LIVE_P})"])
for col, (values, p) in enumerate([(share, P), (live_share, LIVE_P)], start=1):
    fig.add_trace(go.Bar(x=list(range(1, p // 2 + 1)), y=values[1:].tolist(), showlegend=False,
                         hovertemplate="k = %{x}: %{y:.1%}<extra></extra>"), row=1, col=col)
fig.update_xaxes(title_text="frequency k")
fig.update_yaxes(tickformat=".0%")
fig.update_layout(title="The embedding's squared norm in each frequency", height=340)
fig

# %% [markdown]
# (If your run did not grok in time, the line above says so; the comparison below assumes it did.)
#
# The picture is the same: a handful of frequencies carry most of the embedding, and the readout
# cos(w_k (a + b - c)) over them explains most of the logits' variance. The frequencies are not the
# same: which ones a run settles on depends on its random start and its training split, not on the
# task, because the trig identity works for every k. (With a different p, the same k is also a
# different angle, 2 pi k / p.) Try `modadd.train_fast(seed=1)` and compare its key frequencies
# with yours. The live model is also less concentrated than the shipped one: it stopped the moment
# it passed 99% test accuracy, while the shipped run went on for thousands of steps of cleanup, in
# which weight decay removes the rest of the memorised table.
#
# ## 5. Progress measures: restricted and excluded loss
#
# The circuit reads only 2 x 5 directions of the logits, seen as functions of the pair (a, b):
# cos(w_k (a + b)) and sin(w_k (a + b)). That gives two ways to test how much the model relies
# on it:
#
# - **restricted loss**: keep only the part of the logits along those directions and measure the
#   loss on all pairs. Low means the circuit alone can do the task.
# - **excluded loss**: *remove* that part and measure the loss on the training pairs. High means
#   the model can no longer fit even its training data without the circuit: memorisation is gone.
#
# First the directions, one vector over the p^2 pairs each.

# %% [exercise] key_directions
check(key_directions)

# %% [exercise] restricted_loss
check(restricted_loss)

# %% [exercise] excluded_loss
check(excluded_loss)

# %%
D = key_directions(P, freqs)
torch.testing.assert_close(D @ D.T, torch.eye(2 * len(freqs)), atol=1e-4, rtol=0)  # orthonormal
restricted = restricted_loss(logits, data.labels, freqs)
excluded = excluded_loss(logits, data.labels, freqs, data.train)
print(f"final model: full train loss {metrics['train_loss']:.1e}, restricted loss {restricted:.3f}, "
      f"excluded loss {excluded:.2f} (chance is ln {P} = {math.log(P):.2f})")
assert restricted < 1.0 < 5.0 < excluded  # trained-model claim: the circuit alone does the task
assert abs(restricted - card["metrics"]["restricted_loss"]) < 1e-3 * card["metrics"]["restricted_loss"]
assert abs(excluded - card["metrics"]["excluded_loss"]) < 1e-3 * card["metrics"]["excluded_loss"]

# %% [markdown]
# Ten directions out of 12,769 carry the answer; without them the model is *worse than chance* on
# its own training data. Now the point of these measures: compute them on snapshots saved
# **during** training, with the final key frequencies. Test accuracy barely moves for thousands of
# steps; these move steadily.

# %%
series = modadd.load_series()  # {step: model}, the shipped snapshots
entries = {e["step"]: e for e in card["series"]["checkpoints"]}
assert sorted(series) == sorted(entries) and 0 in series
print(f"{'step':>6} {'train acc':>9} {'test acc':>9} {'restricted':>10} {'excluded':>9} {'top-5 share':>11}")
snapshot_losses = {}
for step, snap in sorted(series.items()):
    snap_logits = modadd.all_logits(snap, data)
    r = restricted_loss(snap_logits, data.labels, freqs)
    e = excluded_loss(snap_logits, data.labels, freqs, data.train)
    snapshot_losses[step] = (r, e)
    entry = entries[step]
    print(f"{step:>6} {entry['train_acc']:>9.1%} {entry['test_acc']:>9.1%} {r:>10.3f} {e:>9.3f} "
          f"{entry['top_fraction']:>11.1%}")
for step in (phases["memorised"], phases["clean"]):  # trained-model claim: the card's numbers, reproduced
    assert abs(snapshot_losses[step][0] - entries[step]["restricted_loss"]) < 1e-3 * entries[step]["restricted_loss"]
    assert abs(modadd.evaluate(series[step], data)["test_acc"] - entries[step]["test_acc"]) < 1e-6
assert entries[phases["memorised"]]["train_acc"] >= 0.99 > 0.5 > entries[phases["memorised"]]["test_acc"]
assert entries[phases["clean"]]["test_acc"] > 0.99
r_logged = dict(zip(pm["step"], pm["restricted_loss"]))  # the card's series: every 100 steps
rises = [step for step in sorted(r_logged) if phases["memorised"] < step <= phases["circuit"] and r_logged[step] > r_logged[step - 100]]
print(f"restricted loss (every 100 steps): {r_logged[phases['memorised']]:.2f} at step {phases['memorised']}, "
      f"{r_logged[3000]:.2f} at 3000, {r_logged[3500]:.2f} at 3500, {r_logged[phases['circuit']]:.2f} at {phases['circuit']}; "
      f"it rises at {len(rises)} of the logged steps in between")
assert r_logged[3500] > r_logged[3000] + 0.5 and len(rises) >= 5  # trained-model claim: not steadily
assert r_logged[phases["circuit"]] < r_logged[phases["memorised"]] - 2  # trained-model claim: but it falls overall
top_share = {step: entries[step]["top_fraction"] for step in (phases["memorised"], phases["cleanup"], max(entries))}
print("top-5 share:", ", ".join(f"{v:.0%} at step {k}" for k, v in top_share.items()))
assert [round(100 * v) for v in top_share.values()] == [13, 46, 91]  # trained-model claim: the prose's numbers

# %% [markdown]
# (The snapshots are stored in float16; the card's numbers were measured on the same float16
# copies during training, and the asserts above reproduce them to within 0.1%.)
#
# Read the table from the top. At step 200 the training data is memorised; the restricted loss is
# still near chance and the excluded loss is tiny: the table does all the work, and the key
# frequencies hold only 13% of the embedding. From then on, with test accuracy below 15%, the
# restricted loss falls, though not steadily: 3.7 at step 200 and 1.1 at step 5,500, with setbacks
# on the way (1.55 at step 3,000, back up to 2.27 at 3,500: the card's series every 100 steps,
# printed above), and the embedding concentrates
# into the key frequencies; from about step 3,600 the excluded loss rises, so the training data is
# more and more fit through the circuit, and at step 5,500 the restricted loss drops below the
# excluded loss. Only then does test accuracy rise, and weight decay keeps removing what is left of
# the table (the top-5 share goes from 46% at step 7,500 to 91% at the end).
#
# ## 6. Locating the three phases
#
# `modadd.phase_boundaries` turns this story into crisp rules on the logged series: accuracies and
# weight norm every 100 steps, and the two progress measures on a snapshot taken at each of those
# steps, all stored in the card:

# %%
for name, rule in modadd.PHASE_RULES.items():
    print(f"{name:>9}: {rule}")
rows = {s: i for i, s in enumerate(ev["step"])}
logged = {k: [] for k in ("step", "train_acc", "test_acc", "weight_norm", "restricted_loss", "excluded_loss")}
for i, step in enumerate(pm["step"]):
    if step in rows:
        logged["step"].append(step)
        for k in ("train_acc", "test_acc", "weight_norm"):
            logged[k].append(ev[k][rows[step]])
        for k in ("restricted_loss", "excluded_loss"):
            logged[k].append(pm[k][i])
found = modadd.phase_boundaries(logged)
print(found)
assert found == phases and None not in found.values()  # trained-model claim: the card's phases, recomputed
assert found["memorised"] < found["circuit"] <= found["cleanup"] <= found["grokked"] <= found["clean"]
print(f"memorisation:       steps 0 - {found['memorised']}")
print(f"circuit formation:  steps {found['memorised']} - {found['cleanup']} "
      f"(the circuit beats the table on its own from step {found['circuit']})")
print(f"cleanup:            steps {found['cleanup']} - {found['clean']} (test accuracy > 99% at {found['grokked']})")
norm_at = dict(zip(ev["step"], ev["weight_norm"]))
print(f"weight norm: {norm_at[found['cleanup']]:.1f} at the start of cleanup, {norm_at[found['clean']]:.1f} at its end")
assert norm_at[found["clean"]] < norm_at[found["cleanup"]] - 5  # trained-model claim: weight decay removes the table
assert found["cleanup"] - found["circuit"] == 2000  # trained-model claim: the circuit came first

# %% [markdown]
# So the "sudden" generalisation is the visible end of a long, gradual process. Memorisation takes
# a couple of hundred steps. Circuit formation takes most of the run, and little of it shows
# on the test accuracy, because the leftover table still adds noise on every held-out pair. Cleanup
# is the short stretch where weight decay removes that table and the circuit is all that is left.
# (That test accuracy jumps in cleanup is no finding: the rule *starts* cleanup where test accuracy
# passes 50%. The finding is inside: the weight norm falls by several units over cleanup, printed
# above, and the restricted loss had passed below the excluded loss 2,000 steps before.)
#
# ## Recap
#
# - Grokking: a model fits its training data early, and generalises only much later, suddenly.
# - Weight decay drives it: a general algorithm fits the same data with smaller weights than a
#   lookup table does.
# - The grokked model adds numbers as angles: a few key frequencies in the embedding (here 18, 15,
#   1, 8 and 47, about 90% of its norm), MLP neurons that each read one of them, and a readout of
#   cos(w_k (a + b - c)).
# - Progress measures built from that understanding (restricted and excluded loss) move steadily
#   while test accuracy barely moves, and split training into memorisation, circuit formation and cleanup.
# - Gradient filtering (Grokfast) speeds the whole thing up several-fold by amplifying the slow part
#   of the gradient.
#
# ## Further reading
#
# - Power et al. (2022), *Grokking: Generalization Beyond Overfitting on Small Algorithmic Datasets*.
# - Nanda, Chan, Lieberum, Smith and Steinhardt (2023), *Progress measures for grokking via
#   mechanistic interpretability*: the circuit and the three phases studied here.
# - Lee et al. (2024), *Grokfast: Accelerated Grokking by Amplifying Slow Gradients*.
# - Zhong et al. (2023), *The Clock and the Pizza*: the same task, solved by other algorithms.
# - ARENA's chapter 1.5.2, *Grokking and Modular Arithmetic*.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer:
# `reveal("neurons_over_training")` and so on prints its code (run it; the first takes under a
# minute, it loads every snapshot).
#
# 1. **When do the neurons specialise?** (`"neurons_over_training"`). Run `neuron_frequency_shares`
#    on the shipped snapshots (`modadd.load_series()`). Do the neurons settle on the key
#    frequencies during memorisation, during circuit formation, or only in cleanup?
# 2. **Your live model's neurons** (`"live_neurons"`). Your live run stopped as soon as it grokked.
#    Are its neurons frequency neurons too, and on its own key frequencies?

# %%
# Your exploration here. Then, for example: reveal("neurons_over_training")

# %%
progress()
