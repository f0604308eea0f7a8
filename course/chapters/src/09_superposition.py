# %% [markdown]
# # Chapter 09: Superposition
#
# **Time:** about 45 minutes. **You will:**
#
# - build the *toy model of superposition*: n features squeezed into m < n hidden dimensions and
#   read back out through a ReLU, trained with a loss that cares more about important features;
# - write its training loop, and check it against the library's, step for step;
# - measure how many dimensions each feature gets (its *dimensionality* D_i);
# - train it at several sparsities and draw the arrangement of the features as it changes: each
#   of the most important features gets a dimension of its own, then features share them in
#   antipodal pairs, then all five sit in a pentagon in a plane;
# - map the simplest case (two features, one dimension) as a phase diagram;
# - play with the arrangement live in a widget.
#
# Why this matters: a language model has far more things it could usefully detect (a language, a
# topic, a place, a syntactic role...) than it has neurons or residual dimensions. If it could only
# store one feature per dimension it would have to drop most of them. *Superposition* is the
# hypothesis that it stores more features than dimensions, as directions that are not orthogonal,
# and pays for it with *interference*: reading out one feature picks up a little of the others.
# That is cheap when features are **sparse** (rarely active at the same time). A consequence is
# that single neurons become *polysemantic* (they respond to several unrelated things), which is
# what makes neurons hard to read, and what the sparse autoencoders of the next chapter try to undo.
#
# Everything here is trained from scratch in seconds, on the CPU; no language model is involved.

# %%
import math

import plotly.graph_objects as go
import torch
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from course import superposition as sp
from course.exercises import check, hint, progress, reveal
from widgets import SuperpositionExplorer

torch.manual_seed(0)

# %% [markdown]
# ## 1. The toy model
#
# Take n features, a vector x with one value per feature. Each feature is **0 with probability S**
# (the *sparsity*) and otherwise uniform in [0, 1]. The model must copy x through a bottleneck of
# m < n dimensions:
#
# - **squeeze:** h = x W, where W is [n, m] and its row W_i is the direction given to feature i;
# - **read back:** x' = ReLU(h W^T + b), one output per feature, with a bias b per feature.
#
# There is one weight matrix, used both ways, and the hidden layer is linear: the only
# non-linearity is the ReLU at the output. Write the forward pass for a batch.

# %% [exercise] toy_forward
check(toy_forward)

# %% [markdown]
# Not every feature matters equally. Feature i has an *importance* I_i (here I_i = 0.9^i, so
# feature 0 matters most) and the loss weights each feature's squared error by it. With fewer
# dimensions than features, something has to give, and the importance decides what.

# %% [exercise] importance_weighted_loss
check(importance_weighted_loss)

# %% [markdown]
# `course.superposition` holds the same model, batched: a `ToyModel` has a leading *instance*
# dimension so that many models (different sparsities, different random starts) train at once.
# Your two functions give the same answers as its forward pass and loss:

# %%
n_features, d_hidden = 5, 2
importance = sp.importance_decay(n_features, 0.9)
print("importance per feature:", [round(v, 3) for v in importance.tolist()])

toy = sp.ToyModel(n_features, d_hidden, n_instances=2, seed=1)
x = sp.generate_batch(8, torch.full((2, n_features), 0.7), torch.Generator().manual_seed(0))
print("a batch of sparse inputs (instance 0, first 4 rows):")
print(x[:4, 0])
with torch.no_grad():
    out = toy(x)
    for i in range(2):
        torch.testing.assert_close(out[:, i], toy_forward(toy.W[i], toy.b[i], x[:, i]))
        torch.testing.assert_close(sp.weighted_mse(x, out, importance.expand(2, n_features))[i],
                                   importance_weighted_loss(x[:, i], out[:, i], importance))
print("toy_forward and importance_weighted_loss agree with course.superposition")

# %% [markdown]
# Now train it. The loop is the one every model in this course trains with: forward pass, loss,
# clear the old gradients, backpropagate, one optimiser step (Adam). Write it for one model, with
# the inputs of every step given to you, so that the result is exactly reproducible.

# %% [exercise] train_toy_model
check(train_toy_model)

# %% [markdown]
# `sp.train_toy_models` is the library's loop: the same steps, for many models at once. Give your
# loop the batches it draws (the same generator, seeded `seed + 1`) and the model it starts from,
# and the two must end with the same weights. Five features, two dimensions, S = 0.9:

# %%
n_steps, batch_size, S = 600, 256, 0.9
generator = torch.Generator().manual_seed(3 + 1)
batches = torch.stack([sp.generate_batch(batch_size, torch.full((1, n_features), S), generator)[:, 0]
                       for _ in range(n_steps)])  # [steps batch feature]
start = sp.ToyModel(n_features, d_hidden, n_instances=1, seed=3)
W_mine, b_mine, losses = train_toy_model(start.W.detach()[0], start.b.detach()[0], batches, importance, 1e-2)
library = sp.train_toy_models(n_features, d_hidden, S, importance, n_instances=1, steps=n_steps, batch=batch_size,
                              lr=1e-2, seed=3, schedule="constant")
torch.testing.assert_close(W_mine, library.W[0])  # your loop is the library's
torch.testing.assert_close(b_mine, library.b[0])
print(f"loss: first step {losses[0]:.4f}, mean of the last 50 steps {losses[-50:].mean():.4f}; "
      f"arrangement: {sp.classify(W_mine)}")
assert losses[-50:].mean() < 0.5 * losses[:50].mean()  # trained-model claim: it learns
smooth = losses.unfold(0, 25, 1).mean(-1)  # the mean of each 25 steps in a row
fig = go.Figure([go.Scatter(y=losses.tolist(), mode="lines", name="loss of each step", opacity=0.4),
                 go.Scatter(x=list(range(24, n_steps)), y=smooth.tolist(), mode="lines", name="mean of 25 steps")])
fig.update_layout(title="Training the toy model with your loop (n = 5, m = 2, S = 0.9)", xaxis_title="step",
                  yaxis_title="importance-weighted loss", yaxis_type="log", height=320)
fig

# %% [markdown]
# ## 2. How many dimensions does a feature get?
#
# Look at the rows of W. If feature i has a direction of its own, orthogonal to every other, it
# uses one whole dimension. If it shares a line with one other feature (pointing the opposite way)
# it uses half a dimension. Elhage et al. measure this with the *dimensionality*
#
#     D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2        (j runs over all features, i included)
#
# where W_i_hat = W_i / ||W_i||. The numerator is how strongly feature i is represented; the
# denominator adds how much of every feature (itself included) its read-out direction picks up.
# Write it.

# %% [exercise] feature_dimensionality
check(feature_dimensionality)

# %% [markdown]
# Try it on arrangements we can draw by hand. Five unit vectors at 72 degrees from each other (a
# regular pentagon) share two dimensions, so each should get 2/5:

# %%
angles = torch.arange(5) * 2 * torch.pi / 5
pentagon = torch.stack([angles.cos(), angles.sin()], -1)
by_hand = {
    "two dedicated (identity)": torch.eye(2),
    "an antipodal pair + one dedicated": torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]),
    "pentagon": pentagon,
}
for name, W in by_hand.items():
    D = feature_dimensionality(W)
    print(f"{name:>34}: D = {[round(v, 3) for v in D.tolist()]}   ({sp.classify(W).name})")
    torch.testing.assert_close(D, sp.dimensionality(W))
torch.testing.assert_close(feature_dimensionality(pentagon), torch.full((5,), 0.4))

# %% [markdown]
# `sp.classify(W)` names an arrangement with a few explicit rules (read its docstring): a feature
# counts as *represented* when ||W_i|| > 0.5, and the represented ones are called "dedicated"
# (mutually orthogonal), "antipodal pairs" (*every* represented feature has an opposite partner),
# a regular polygon ("pentagon", ...) or "mixed". The rules are strict on purpose, which is why a
# pair plus a lone feature comes out "mixed": D_i is the finer description, feature by feature.

# %% [markdown]
# ## 3. Sparsity changes the arrangement
#
# Now train. Five features, two dimensions, importance 0.9^i, at three sparsities: dense (S = 0,
# every feature is on in every example), S = 0.7 (each feature on 30% of the time) and S = 0.99
# (on 1% of the time). `sp.sparsity_sweep` trains all of them in one batch, three random starts
# per sparsity, and keeps the start with the lowest loss (sparse settings have local minima where
# a feature is left out although it would fit). This takes a few seconds.

# %%
sweep = sp.sparsity_sweep(n=5, m=2, sparsities=(0.0, 0.7, 0.99), decay=0.9, steps=1500, restarts=3, seed=0)
for sparsity, found in sweep.items():
    print(f"S = {sparsity:<4}  {found['arrangement']}   loss {found['loss']:.4f}")
    print(f"          D_i = {[round(v, 2) for v in found['dimensionality'].tolist()]}")
    print(f"          b_i = {[round(v, 2) for v in found['b'].tolist()]}")
colours = sample_colorscale("Viridis", [i / (n_features - 1) for i in range(n_features)])
fig = make_subplots(rows=1, cols=3, subplot_titles=[f"S = {s}: {f['arrangement'].name}" for s, f in sweep.items()])
for col, found in enumerate(sweep.values(), start=1):
    for i, (x, y) in enumerate(found["W"].tolist()):
        fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers+text", text=["", f"{i}"],
                                 textposition="top center", line_color=colours[i], marker_size=[0, 9],
                                 name=f"feature {i}", legendgroup=str(i), showlegend=col == 1,
                                 hovertemplate=f"feature {i}, importance {importance[i]:.2f}<br>"
                                               f"||W_i|| = {math.hypot(x, y):.2f}, "
                                               f"D_i = {found['dimensionality'][i]:.2f}"
                                               "<extra></extra>"), row=1, col=col)
for col in (1, 2, 3):  # square panels: angles are what matter here
    fig.update_xaxes(range=[-1.4, 1.4], row=1, col=col)
    fig.update_yaxes(range=[-1.4, 1.4], scaleanchor="x" if col == 1 else f"x{col}", row=1, col=col)
fig.update_layout(title="Each feature's direction W_i in the two hidden dimensions (colour: importance)", height=380)
fig

# %%
dense, medium, sparse = sweep[0.0], sweep[0.7], sweep[0.99]
assert dense["arrangement"].name == "dedicated" and dense["arrangement"].represented == [0, 1]  # trained-model claim
assert (dense["dimensionality"][:2] > 0.9).all()  # trained-model claim: one dimension each
assert medium["arrangement"].name == "antipodal pairs" and medium["arrangement"].not_represented == [4]  # trained-model claim
assert (medium["dimensionality"][:4] - 0.5).abs().max() < 0.05  # trained-model claim: half a dimension each
assert sparse["arrangement"].name == "pentagon"  # trained-model claim
assert (sparse["dimensionality"] - 0.4).abs().max() < 0.03  # trained-model claim: 2/5 of a dimension each
print("antipodal pairs at S = 0.7:", medium["arrangement"].pairs)
dropped_bias = dense["b"][dense["arrangement"].not_represented]
print(f"biases: dropped features at S = 0 {[round(v, 2) for v in dropped_bias.tolist()]}, "
      f"largest |b_i| at S = 0.7 {medium['b'][:4].abs().max():.2f}, mean b_i at S = 0.99 {sparse['b'].mean():.2f}")
assert ((dropped_bias - 0.5).abs() < 0.1).all()  # trained-model claim: about the average value, 0.5
assert medium["b"][medium["arrangement"].represented].abs().max() < 0.05  # trained-model claim: near 0
assert (sparse["b"] < 0).all() and abs(sparse["b"].mean() + 0.27) < 0.03  # trained-model claim: about -0.27

# %% [markdown]
# Read the three panels (hover over a tip for its norm and D_i):
#
# - **Dense (S = 0):** the model behaves like PCA. The two most important features get a dimension
#   each (D = 1) and the other three are dropped (||W_i|| small). With every feature on at once,
#   any sharing would cost interference in every example, and that is never worth it.
# - **S = 0.7:** four features are represented, as two *antipodal pairs*: feature i and its partner
#   point in opposite directions along one axis (D = 1/2 each). The least important feature is
#   still left out.
# - **S = 0.99:** all five features fit, as a regular pentagon (D = 2/5 each). The model stores
#   2.5 features per dimension.
#
# Look at the biases too. In the dense model the dropped features get a bias near 0.5: with no
# direction to read them from, the best the model can do is output their average value. In the
# antipodal model the biases are near 0, and they can be: reading feature i picks up its partner
# with a *negative* sign, and the ReLU throws negative values away. In the pentagon model the
# biases are **negative** (about -0.27), because there a feature's read-out also picks up its two
# neighbours (at 72 degrees) with a *positive* sign. The negative bias and the ReLU cut most of
# that leak away, at the price of a slightly distorted value for the feature itself.
#
# Check it with your own `toy_forward`: turn one feature on, then two.

# %%
W, b = sparse["W"], sparse["b"]
leak = sp.interference(W)  # [feature feature]
neighbours = [j for j in range(1, 5) if leak[0, j] > 0]  # at 72 degrees: a positive leak
across = [j for j in range(1, 5) if leak[0, j] < 0]  # at 144 degrees: a negative one
one_on = torch.eye(5)[:1]  # only feature 0, at full strength
two_on = torch.eye(5)[[0]] + torch.eye(5)[[neighbours[0]]]  # feature 0 and a neighbour together
out_one = toy_forward(W, b, one_on)[0].detach()
out_two = toy_forward(W, b, two_on)[0].detach()
print(f"feature 0's neighbours {neighbours}, the two across {across}")
print("input", one_on[0].tolist(), "-> output", [round(v, 2) for v in out_one.tolist()])
print("input", two_on[0].tolist(), "-> output", [round(v, 2) for v in out_two.tolist()])
assert abs(out_one[0] - 1) < 0.15 and ((out_one[neighbours] - 0.1).abs() < 0.05).all()  # trained-model claim
assert (out_one[across] == 0).all()  # trained-model claim: cut by the ReLU
assert ((out_two[[0, neighbours[0]]] - 1.5).abs() < 0.1).all()  # trained-model claim: about 1.5 instead of 1
p_two = 0.01**2  # two given features on together at S = 0.99
p_some_pair = 1 - 0.99**5 - 5 * 0.01 * 0.99**4  # at least two of the five on
print(f"at S = 0.99: two given features on together {p_two:.0e}, some pair on {p_some_pair:.1e}")
assert p_two == 1e-4 and 0.9e-3 < p_some_pair < 1.1e-3
fig = go.Figure(go.Heatmap(z=leak.numpy(), x=[f"feature {j}" for j in range(5)], y=[f"read-out {i}" for i in range(5)],
                           colorscale="RdBu", zmid=0, hovertemplate="%{y} picks up %{z:.2f} of %{x}<extra></extra>"))
fig.update_layout(title="Pentagon model: interference W_i_hat . W_j (diagonal: ||W_i||)", height=360,
                  yaxis_autorange="reversed")
fig

# %% [markdown]
# With feature 0 alone, the model reads it back close to 1; its two neighbours leak a little
# (about 0.1) and the two features across the pentagon stay at exactly 0 (their read-outs are
# negative, and the ReLU removes them). With two neighbouring features on at once, each one's
# read-out picks up the other and both come out far too large (about 1.5 instead of 1). At
# S = 0.99 two given features are on together in one example in ten thousand, and some pair is on
# in about one example in a thousand, so the model accepts that error in exchange for representing
# all five features. This is the trade at the heart of superposition: **more features than
# dimensions, paid for with interference, which is cheap when features are sparse.**

# %% [markdown]
# ## 4. The phase diagram for one extra feature
#
# The simplest case shows the whole story: n = 2 features, m = 1 dimension. Feature 0 has
# importance 1, feature 1 has importance r (its *relative importance*). There are three things the
# model can do with feature 1:
#
# - **not represented:** feature 0 gets the dimension, feature 1 is dropped (W = [w, 0]);
# - **dedicated:** feature 1 gets the dimension, feature 0 is dropped;
# - **superposed:** both share it, pointing opposite ways (an antipodal pair, W = [w, -w']).
#
# `sp.phase_diagram` trains one small model per (sparsity, r) cell (six random starts each, keeping
# the best) and names each cell's phase; this takes a few seconds.

# %%
phases = sp.phase_diagram(relative_importance=(0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0),
                          sparsity=(0.0, 0.5, 0.7, 0.8, 0.9, 0.97), seed=0)
r_labels = [f"{r:g}" for r in phases.relative_importance.tolist()]
s_labels = [f"{s:g}" for s in phases.sparsity.tolist()]
fig = go.Figure(go.Heatmap(z=phases.phase_index().numpy(), x=r_labels, y=s_labels, zmin=-0.5, zmax=2.5,
                           customdata=phases.W[..., 1, 0].abs().numpy(), text=phases.phase,
                           colorscale=[[0, "#dddddd"], [1 / 3, "#dddddd"], [1 / 3, "#4c78a8"], [2 / 3, "#4c78a8"],
                                       [2 / 3, "#f58518"], [1, "#f58518"]],
                           colorbar=dict(tickvals=[0, 1, 2], ticktext=list(sp.PHASES)),
                           hovertemplate="S = %{y}, r = %{x}: %{text}, |W_1| = %{customdata:.2f}<extra></extra>"))
fig.update_layout(title="Phase of feature 1 (n = 2 features, m = 1 dimension)", height=380,
                  xaxis=dict(title="relative importance r of feature 1", type="category"),
                  yaxis=dict(title="sparsity S", type="category"))
fig

# %%
counts = [sum(p == "superposed" for p in row) for row in phases.phase]
print("superposed cells per sparsity, from dense to sparse:", counts)
assert phases.at(0.0, 0.5) == "not represented"  # trained-model claim: dense, less important: dropped
assert phases.at(0.0, 2.0) == "dedicated"  # trained-model claim: dense, more important: takes the dimension
assert counts[0] == 0 and counts == sorted(counts) and counts[-1] == len(r_labels)  # trained-model claim: it grows
assert phases.at(0.5, 1.0) == "superposed"  # trained-model claim: from the middle ...
assert phases.at(0.5, 0.1) != "superposed" != phases.at(0.5, 5.0)  # trained-model claim: ... outwards
assert all(p == "superposed" for p in phases.phase[-1])  # trained-model claim: at S = 0.97, whatever r is
w1 = phases.W[..., 1, 0].abs()  # [sparsity r]: feature 1's weight
present = w1[w1 > 0.05]
print(f"feature 1's weight: below 0.05 in {int((w1 <= 0.05).sum())} cells; in the other {present.numel()}, "
      f"from {present.min():.2f} to {present.max():.2f}")
assert ((w1 < 0.05) | (w1 > 0.5)).all()  # trained-model claim: absent, or more than half there
row, col = int((phases.sparsity - 0.97).abs().argmin()), int((phases.relative_importance - 0.5).abs().argmin())
w = phases.W[row, col].flatten()  # [2]: feature 0's and feature 1's weight on the one dimension
print(f"W at S = 0.97, r = 0.5: [{w[0]:+.2f}, {w[1]:+.2f}]  (opposite signs: an antipodal pair)")
assert w[0] * w[1] < 0  # trained-model claim

# %% [markdown]
# Read the diagram from the bottom (dense) up. With dense features there is no superposition at
# all: the more important feature takes the one dimension (at r = 1, where the two are worth the
# same, one of them does). As features get sparser, the "superposed" region grows from the middle
# (r near 1, where both features are worth keeping) outwards, until at high sparsity both
# features share the dimension whatever r is. And feature 1 never comes in gradually: in every
# cell its weight is either about 0 or more than half of its full size, so between two
# neighbouring cells it jumps from absent to present. That is why Elhage et al. call it a *phase
# change*.

# %% [markdown]
# ## 5. Explore it yourself
#
# The widget shows the pentagon model trained above: each arrow is one feature's direction W_i in
# the 2-dimensional hidden space, coloured by importance, with the arrangement's name and each
# feature's D_i. Moving a slider (sparsity, importance decay, number of features) retrains a fresh
# model on the Python side in about a second. Things to try:
#
# - lower the sparsity step by step from 0.99 to 0: where does the pentagon break, and what
#   replaces it?
# - set the importance decay to 1 (all features equally important) at S = 0.99, then to 0.5;
# - try n = 3, 4, 6 and 8 features: which polygons appear, and when does a feature get dropped?

# %%
SuperpositionExplorer.from_weights(sparse["W"], sparsity=0.99, importance_decay=0.9)

# %% [markdown]
# ## Recap
#
# - The toy model squeezes n features into m < n dimensions (x W), reads them back (W^T, a bias and
#   a ReLU), and is trained with a loss that weights each feature's error by its importance.
# - Dense features: the model keeps the m most important ones, each in a dimension of its own, and
#   drops the rest, like PCA.
# - Sparse features: the model stores more features than dimensions, in superposition, as
#   antipodal pairs (D = 1/2) or a pentagon (D = 2/5). Interference is filtered out by the ReLU,
#   helped by negative biases, and is only a problem when several features are on at once.
# - For two features in one dimension, the phase diagram shows an abrupt change from "one feature
#   per dimension" to "sharing" as sparsity grows.
# - In a language model the same pressure makes neurons polysemantic: a direction in activation
#   space, not a neuron, is the natural unit. Finding those directions is the job of the sparse
#   autoencoders of the next chapter.
#
# ## Further reading
#
# - Elhage et al. (2022), *Toy Models of Superposition* (Anthropic, transformer-circuits.pub): the
#   model, the dimensionality measure, the phase diagrams and the polygons all come from here.
# - Olah et al. (2020), *Zoom In: An Introduction to Circuits*, on polysemantic neurons.
# - Bricken et al. (2023), *Towards Monosemanticity: Decomposing Language Models With Dictionary
#   Learning*: sparse autoencoders, the next chapter.
# - ARENA's chapter 1.3.1, *Toy Models of Superposition & Sparse Autoencoders*, which goes further
#   (feature geometry across many dimensions, correlated features, superposition in computation).
#
# ## Open exercises
#
# These have no single answer. Try them (with the widget, or with `sp.train_toy` and
# `sp.sparsity_sweep`), then compare with a worked answer: `reveal("polygons")` and so on
# prints its code (run it; each takes a few seconds).
#
# 1. **Which polygons?** (`"polygons"`). Train n = 3, 4, 5, 6 and 8 equally important features in
#    two dimensions at S = 0.99. Which arrangements appear, and how many features are kept?
# 2. **Where does the pentagon break?** (`"pentagon_break"`). Lower the sparsity from 0.99 in small
#    steps. At which sparsity do the five features stop fitting, and what replaces the pentagon?
# 3. **How much importance?** (`"steeper_importance"`). At S = 0.99, let importance fall faster (decay 0.7,
#    then 0.5). When is the least important feature no longer worth its interference?

# %%
# Your exploration here. Then, for example: reveal("pentagon_break")

# %%
progress()
