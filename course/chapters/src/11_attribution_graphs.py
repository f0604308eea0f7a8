# %% [markdown]
# # Chapter 11: Transcoders and attribution graphs: two-hop reasoning, traced
#
# **Time:** about 75 minutes. **You will:**
#
# - meet *transcoders*: sparse features trained to do an MLP's job, per layer or across layers,
#   and measure how well the shipped ones stand in for tinyworld's MLPs;
# - build the *local replacement model* of one prompt (attention and norms frozen, MLPs swapped
#   for features, one error node per layer and position) and check that it is exact;
# - write the computation of one **edge** of an *attribution graph*, and the **pruning** that keeps
#   the nodes and edges that matter;
# - build the graph of "If you live in Houston, your state capital is" for a city the model never
#   saw next to its capital, and find the path city -> state -> capital and a "say a capital" path;
# - group features into *supernodes* in the `AttributionGraph` widget and intervene on them;
# - test the story on **every** held-out city, not one: suppress the state, swap in another state,
#   suppress "say a capital", and count how often the answer moves the way the graph says;
# - compare what the graph predicts with what really happens, and find where its error nodes
#   carry a lot.
#
# Chapter 10 took one activation apart into sparse features. That tells us *what* a layer
# represents, but not *how* the model gets from the prompt to its answer. Circuit tracing (Ameisen
# et al. 2025) goes one step further: it swaps every MLP for sparse features that compute the same
# thing, freezes everything else that is non-linear on one prompt, and reads off a graph of which
# feature pushed which. The model is `tinyworld`, the course's main model (trained on TinyWorld v4),
# and the transcoders were trained on its MLPs. The question is the two-hop one from chapter 02:
# to answer "If you live in Houston, your state capital is", the model needs Texas on the way to
# Austin, and Houston never appeared in the same text as Austin. (The syllabus asks "The capital
# of the state containing Dallas is". Dallas is a training city, whose composite question the
# model may simply have memorised, so we take Texas's held-out city. tinyworld answers both
# phrasings for every held-out city; the first open exercise traces the syllabus's phrasing, and
# one the model never saw.)
#
# Everything runs on the CPU in about a minute; every graph is computed live.

# %%
import plotly.graph_objects as go
import torch

from course import evalsets, interventions as I, transcoders as T
from course import sae as S, zoo
from course.attribution_graph import FEATURE, annotate_features, build_graph, edge
from course.exercises import check, hint, progress, reveal
from course.replacement import local_replacement
from course.world import CITY_STATE, STATES
from solutions.ch11_graphs import (PHRASING, agreement, capital_scores, city_batch, group_supernodes, path_weights,
                                   rates, swap_changes, two_hop_interventions)
from widgets import AttributionGraph

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
per_layer = zoo.load("tinyworld-transcoders")
clt = zoo.load("tinyworld-clt")
text = S.eval_tokens(model, 32, seed=2)
print(f"text for measuring: {tuple(text.shape)} tokens of held-out TinyWorld (a stream seed no model trained on)")
L = model.cfg.n_layers  # 4 MLPs, each replaced by transcoder features
print(clt.cfg)
assert clt.cfg.d_transcoder == per_layer.cfg.d_transcoder == 1024

# %% [markdown]
# ## 1. Transcoders: features that do an MLP's job
#
# An SAE reads an activation and writes the *same* activation back. A **transcoder** (Dunefsky et
# al. 2024) reads what an MLP reads (its input, after the norm) and writes what the MLP writes (its
# output), through sparse, non-negative features:
#
# - **features:** f = JumpReLU(x @ W_enc + b_enc): a feature is on when its pre-activation is above a
#   learned threshold, and then its activation is the whole pre-activation;
# - **output:** y_hat = f @ W_dec + b_dec, the MLP's output predicted.
#
# Because it maps input to output, a transcoder can *replace* the MLP, and its features become the
# units we trace through. Two flavours ship with the course, both with 1024 features per layer:
#
# - **per-layer transcoders** (`tinyworld-transcoders`): one for each MLP, each writing to its own MLP's output;
# - a **cross-layer transcoder** (CLT, `tinyworld-clt`): the features of layer l read layer l's MLP
#   input and write to the outputs of MLP l *and every later MLP*, so `W_dec[l]` has one slice per
#   layer it writes to. A feature computed once can then serve several layers. Ameisen et al. use
#   CLTs because they reconstruct better for the same sparsity.
#
# Write a transcoder's features.

# %% [exercise] transcoder_features
check(transcoder_features)

# %%
layer = 2
x, y = T.mlp_activations(model, text[:4])  # MLP inputs and outputs: [batch pos layer d_model]
keep = T.keep_positions(text[:4], model.tokenizer.bos_id)
x2 = x[keep][:, layer]  # [n d_model], position 0 and BOS tokens left out as in training
with torch.no_grad():
    mine = transcoder_features(x2, clt.W_enc[layer], clt.b_enc[layer], clt.threshold[layer].item())
    torch.testing.assert_close(mine, clt.encode(layer, x2))
print(f"{len(x2)} tokens: {(mine > 0).sum(-1).float().mean():.1f} of {clt.cfg.d_transcoder} layer-{layer} features "
      f"active per token; the CLT's layer-{layer} features write to MLPs {list(clt.writes_to(layer))}")
print("decoder shapes, one per layer:", [tuple(w.shape) for w in clt.W_dec])

# %% [markdown]
# How good are they? The same questions as for an SAE, asked of an MLP's *output*:
#
# - **variance explained** of each MLP's output, each transcoder given the real MLP input;
# - **L0**, the active features per token and layer, and the share of **dead** features;
# - and the one that matters for tracing: replace *every* MLP at once (errors compound through the
#   layers) and compare the model with the real one: **top-1 agreement** on the next token and the
#   **KL divergence** of the next-token distributions.
#
# `course.transcoders.evaluate` measures them on held-out text. First check one number yourself:
# the variance of MLP 2's output that the CLT explains on the four sequences above.

# %%
with torch.no_grad():
    acts = torch.stack([clt.encode(l, x[keep][:, l]) for l in range(L)], dim=1)  # [n layer d_transcoder]
    y_hat = clt.decode(acts)  # [n layer d_model]
y2, y2_hat = y[keep][:, layer], y_hat[:, layer]
by_hand = 1 - (y2 - y2_hat).pow(2).sum() / (y2 - y2.mean(0)).pow(2).sum()
few = T.evaluate(clt, model, text[:4])
print(f"variance explained of MLP {layer}: by hand {by_hand:.4f}, "
      f"evaluate {few[f'variance_explained_layer_{layer}']:.4f}")
assert abs(by_hand - few[f"variance_explained_layer_{layer}"]) < 1e-4

# %%
metrics = {"per-layer": T.evaluate(per_layer, model, text), "cross-layer": T.evaluate(clt, model, text)}
rows = ["variance_explained"] + [f"variance_explained_layer_{l}" for l in range(L)] + [
    "l0", "dead_fraction", "top1_agreement", "kl_divergence", "ce_loss_clean", "ce_loss_replaced"]
print(f"{metrics['per-layer']['n_tokens']} held-out tokens" + " " * 10 + "".join(f"{k:>14}" for k in metrics))
for row in rows:
    print(f"{row:>32}" + "".join(f"{m[row]:14.3f}" for m in metrics.values()))
for name, m in metrics.items():
    assert m["variance_explained"] > 0.85  # trained-model claim: mostly explained (0.962 per-layer, 0.968 CLT)
    assert m["top1_agreement"] > 0.7  # trained-model claim: the model mostly agrees (0.850 per-layer, 0.863 CLT)

fig = go.Figure([go.Bar(name=name, x=[f"MLP {l}" for l in range(L)],
                        y=[m[f"variance_explained_layer_{l}"] for l in range(L)]) for name, m in metrics.items()])
fig.update_layout(title="Variance of each MLP's output explained by its transcoder features", yaxis_range=[0.8, 1],
                  barmode="group", height=320, yaxis_title="variance explained")
fig

# %% [markdown]
# Both explain most of each MLP's output (the CLT a little more, in every layer), yet with every MLP
# replaced the model picks a different next token on about one token in seven (1 - `top1_agreement`;
# one in six for the per-layer kind): small errors in early layers grow through later ones. (The cards of
# the two transcoders, `clt.card["metrics"]`, hold the same numbers measured on more text.) We trace
# with the **cross-layer** transcoder, as Ameisen et al. do; an open exercise at the end compares
# the two kinds on the graphs of this chapter.
#
# ## 2. The local replacement model
#
# A replacement with *every* MLP swapped for features drifts away from the real model. For one
# prompt we can do better, and that is the trick that makes circuit tracing exact:
#
# 1. run the real model on the prompt and keep what makes it non-linear apart from the MLPs: every
#    **attention pattern** and every **norm's scale** (the denominator of each LayerNorm). With
#    them frozen, attention is a fixed mixing of positions and each norm a fixed linear map;
# 2. replace each MLP by the transcoder's features, computed from the frozen stream;
# 3. at every layer and position add back an **error node**: what the MLP really wrote minus what
#    the features wrote.
#
# On its own prompt this *local replacement model* gives the real logits exactly, and everything in
# it is linear except each feature's own activation. Build it for a held-out city, run it
# (`rep.forward()`), and check it against the real model yourself.

# %%
city, donor_city = "Houston", "Oakland"  # held-out cities (Texas, California): never seen next to their capital
assert {city, donor_city} <= evalsets.HELD_OUT_CITIES
prompt = PHRASING.format(c=city)
rep = local_replacement(model, clt, prompt)
tokens = [model.tokenizer.decode([t]) for t in rep.tokens.tolist()]
print(tokens)
with torch.no_grad():
    real_logits = model(rep.tokens[None])[0]  # [pos d_vocab]
    replaced_logits = rep.forward()  # the local replacement model, every position
gap = (replaced_logits - real_logits).abs().max().item()
print(f"max |replacement logit - real logit| over {real_logits.numel():,} logits = {gap:.2e}")
assert gap < 1e-3 and abs(gap - rep.max_abs_error()) < 1e-5  # exact, up to float32 rounding
top = rep.logits[-1].softmax(-1).topk(3)
print("the model answers:", [(model.tokenizer.decode([i]), round(p, 3))
                              for i, p in zip(top.indices.tolist(), top.values.tolist())])
assert model.tokenizer.decode([int(top.indices[0])]) == " Austin" and 0.965 < top.values[0] < 0.97  # trained-model claim

# %% [markdown]
# Without its error nodes the replacement is only the transcoders with attention frozen. How far
# does that drift, and where are the errors big? The heatmap shows each error node's size,
# relative to what the MLP wrote there.

# %%
from dataclasses import replace as dc_replace

without_errors = dc_replace(rep, errors=torch.zeros_like(rep.errors)).forward()
p_real, p_free = rep.logits[-1].log_softmax(-1), without_errors[-1].log_softmax(-1)
top_free = p_free.exp().topk(3)
print("without error nodes:", [(model.tokenizer.decode([i]), round(p, 3)) for i, p in
                               zip(top_free.indices.tolist(), top_free.values.tolist())],
      f"KL(real || no errors) = {(p_real.exp() * (p_real - p_free)).sum():.2f} nats")
relative = rep.errors.norm(dim=-1) / rep.mlp_out.norm(dim=-1)  # [layer pos]
fig = go.Figure(go.Heatmap(z=relative.numpy(), x=[f"{p}:{t}" for p, t in enumerate(tokens)],
                           y=[f"MLP {l}" for l in range(L)],
                           colorscale="cividis", colorbar_title="|error| / |MLP out|"))
fig.update_layout(title=f"Error nodes of the local replacement: {prompt!r}", height=300, yaxis_autorange="reversed")
print(f"|error| / |MLP out| over positions 1..: median {relative[:, 1:].median():.2f}, "
      f"largest {relative[:, 1:].max():.2f}")
assert relative[:, 1:].median() < 0.4  # trained-model claim: the features carry most of each output (0.31)
assert relative[:, 1:].max() > 0.7  # trained-model claim: ... but not everywhere (0.76, the last MLP at ' your')
fig

# %% [markdown]
# Position 0 is all error by design (the transcoders were not trained on the first token, where
# attention parks). Elsewhere the features carry most of each MLP's output: the typical error is
# a quarter to a third of it in the first three MLPs, but in the last MLP it is typically half, and
# at ' your' three quarters of what the MLP wrote there. Keep it in mind: an error node is a part of
# the computation the graph cannot explain. How big an error is tells us little about how much it
# matters for the answer, though; section 8 measures that.
#
# ## 3. One edge
#
# An **attribution graph** has four kinds of nodes: the prompt's **token embeddings**, the
# **features** active at each layer and position, the **error nodes**, and the **logits** of the
# most likely next tokens. An **edge** from a source to a target is the source's *direct* effect on
# the target in the local replacement model: the change in the target if the source alone were
# removed, with every other feature and error node held where it is.
#
# Because the frozen model is linear, that direct effect has a closed form. The target's value is
# a feature's pre-activation, or a logit minus the mean logit (a shift shared by all logits does
# not change the softmax). Take its gradient at the place the source writes (the embeddings, or an
# MLP's output), through frozen attention and frozen norms only, and dot it with what the source
# writes there: for a feature, its **activation times its decoder vector**, summed over every MLP it
# writes to. Write it: `rep.mlp_input` and `rep.final_stream` compute the frozen model from its
# inputs for you (the docstring lists what you need).

# %% [exercise] edge_weight
check(edge_weight)

# %% [markdown]
# Now the graph of the Houston prompt. `build_graph` computes every edge at once, with one
# vector-Jacobian product per batch of targets instead of one gradient per edge. Your function, the
# library's plain `edge`, and the graph's adjacency matrix must agree.

# %%
import time

start = time.perf_counter()
graph = build_graph(model, clt, prompt)
print(f"built in {time.perf_counter() - start:.2f} s: {graph}")
capital = " " + STATES[CITY_STATE[city]]["capital"]
logit = next(n for n in graph.nodes if n.kind == "logit" and n.token == capital)  # the right answer's logit
li = graph.index(logit.node_id)
print(f"logit nodes: {[(n.token, round(n.token_prob, 3)) for n in graph.nodes if n.kind == 'logit']}")
A = graph.adjacency
strongest = A[li].abs().topk(5).indices.tolist()  # the five strongest sources of the capital's logit
for s in strongest:
    source = graph.nodes[s]
    mine, library = edge_weight(graph.replacement, source, logit), edge(graph.replacement, source, logit)
    print(f"{source.kind:>9} L{source.layer} pos {source.pos:>2} -> {logit.token!r}: yours {mine:+.4f}, "
          f"library {library:+.4f}, adjacency {A[li, s].item():+.4f}")
    assert abs(mine - A[li, s].item()) < 1e-3 and abs(library - A[li, s].item()) < 1e-3

# %% [markdown]
# Linear also means the edges **add up**: a target's incoming edges plus a constant give its value
# exactly. The constant is what the biases contribute (of attention, the norms, the unembedding,
# and the transcoders' decoders, which belong to no node): the frozen model run with every
# embedding and feature and error node removed. For the capital's logit, group the direct edges by
# where they come from:

# %%
incoming = A[li]
groups = {kind: incoming[graph.mask(kind)].sum().item() for kind in ("embedding", FEATURE, "error")}
rep = graph.replacement
with torch.no_grad():  # nothing but biases: no embeddings, and each MLP output only its decoder bias
    only_biases = rep.unembed(rep.final_stream(torch.zeros_like(rep.resid_0),
                                               clt.b_dec[:, None, :].expand_as(rep.mlp_out))[-1])
constant = (only_biases[logit.index] - only_biases.mean()).item()
print({k: round(v, 2) for k, v in groups.items()}, f"+ constant {constant:.2f} = {incoming.sum() + constant:.2f}; "
      f"the logit minus the mean logit: {logit.activation:.2f}")
assert abs(incoming.sum().item() + constant - logit.activation) < 1e-2

# %% [markdown]
# ## 4. Influence and pruning
#
# The full graph has hundreds of features and over a hundred thousand edges: too many to read. We
# keep what matters for the output, in two steps (Ameisen et al.; the recipe of their
# circuit-tracer).
#
# **Influence.** Normalise the edges so that each target's incoming |edges| add up to 1: a row of
# the matrix then says which share of the target's direct input each source provides. A node's
# **influence** on the logits is the sum, over every path from it to a logit, of the product of the
# normalised edges along the path, weighted by that logit's probability. Summing over paths of every
# length is a geometric series, B + B^2 + B^3 + ..., which ends because the graph has no cycles (a
# node only reads earlier layers and positions).

# %% [exercise] influence_scores
check(influence_scores)

# %%
scores = influence_scores(A, graph.logit_weights)
torch.testing.assert_close(scores, graph.node_influence())
leaves = graph.mask("embedding") | graph.mask("error")
print(f"influence that reaches the graph's inputs: {scores[leaves].sum():.3f} "
      f"(the logits' total probability: {graph.logit_weights.sum():.3f})")

# %% [markdown]
# **Pruning.** Keep the fewest nodes that together carry 80% of the total influence. Then, among the
# edges between kept nodes, score each edge by its normalised weight times the influence of its
# target (plus the target's own probability, for edges into logits), and keep the fewest edges that
# carry 98% of the total. Both steps need the same function: which scores to keep so that they add
# up to a share of the total. Write it.

# %% [exercise] keep_by_share
check(keep_by_share)

# %% [markdown]
# Put the pieces together, and compare with the library's `graph.prune()`. Embeddings and logits are
# always kept, and a last pass drops features left without an edge in or out.

# %%
def prune(graph, node_share=0.8, edge_share=0.98):
    A, w = graph.adjacency, graph.logit_weights
    always = graph.mask("embedding") | graph.mask("logit")
    nodes = keep_by_share(influence_scores(A, w), node_share) | always
    kept = A * nodes[:, None] * nodes[None, :]
    normalized = kept.abs() / kept.abs().sum(-1, keepdim=True).clamp_min(1e-10)
    edge_scores = normalized * (influence_scores(kept, w) + w)[:, None]
    edges = keep_by_share(edge_scores, edge_share) & (kept != 0)
    is_feature = graph.mask(FEATURE)
    while True:  # a node left dangling can leave another dangling
        before = nodes.clone()
        nodes &= always | edges.any(0)  # every feature and error node needs an outgoing edge
        nodes &= always | ~is_feature | edges.any(1)  # every feature needs an incoming one
        edges &= nodes[:, None] & nodes[None, :]
        if torch.equal(before, nodes):
            return nodes, edges


nodes, edges = prune(graph)
pruned = graph.prune()
assert torch.equal(nodes, pruned.node_mask) and torch.equal(edges, pruned.edge_mask)
print(f"kept {int(nodes.sum())} of {len(graph.nodes)} nodes ({int((nodes & graph.mask(FEATURE)).sum())} features) "
      f"and {int(edges.sum())} of {int((A != 0).sum())} edges; node share {pruned.node_share:.2f}, "
      f"edge share {pruned.edge_share:.3f}")
n_features, n_edges = int(graph.mask(FEATURE).sum()), int((A != 0).sum())
assert 100 < n_features < 1000 and n_edges > 100_000  # trained-model claim: 771 features, 128,816 edges

# %% [markdown]
# Two numbers summarise how much of the answer the graph explains with features rather than
# errors (Ameisen et al.):
#
# - the **replacement score**: of the influence that reaches the graph's inputs, the share that ends
#   at token embeddings rather than at error nodes (1 if the features explain the logits end to end);
# - the **completeness score**: for each node, the share of its direct input that comes from
#   non-error nodes, averaged with the nodes' influence as weights.

# %%
graph_scores = graph.scores()
print({k: round(v, 3) for k, v in graph_scores.items()})
assert graph_scores["replacement_score"] > 0.6  # trained-model claim (0.86)
assert graph_scores["completeness_score"] > 0.8  # trained-model claim (0.957)

# %% [markdown]
# ## 5. Reading the graph: city -> state -> capital
#
# A feature's meaning is a hypothesis until we compare it across inputs. Here the prompts make
# that easy: every TinyWorld city is one token, so "If you live in X, your state capital is" has
# the same length for all 93 cities and its positions line up. We run it for every city and keep
# every feature's activation (`city_batch`), then sort the features of the Houston graph by what
# they do across cities:
#
# - **state** features: active at the city's token or later, and firing *more on the other cities
#   of the same state* (Dallas and Waco) than on cities of other states;
# - **say a capital** features: at the last position, active for at least 90% of all cities (so
#   they do not care which city), and their decoders promote the 31 state capitals above an
#   average token.
#
# Each group becomes a **supernode**, and only features the pruned graph keeps are grouped.

# %%
batch = city_batch(model, clt)  # 93 prompts, every feature's activation: [city layer pos d_transcoder]
cap_scores = capital_scores(model, clt)
state = CITY_STATE[city]
supernodes = group_supernodes(graph, batch, city, cap_scores, pruned)
print(f"{len(batch.cities)} cities, city token at position {batch.city_pos}; supernodes of {city!r}:")
for name, ids in supernodes.items():
    where = sorted({(graph.node(i).layer, graph.node(i).pos) for i in ids})
    print(f"  {name!r}: {len(ids)} features at (layer, pos) {where}")

# %% [markdown]
# Look at *where* they are: at two places only. Two sit at Houston's own token, in layer 0, and the
# other ten at the last token, " is": four of those in layer 0 too, four in layer 2 and two in
# layer 3.
# Features that tell the states apart fire at Houston's token and at every position after it (the
# rule finds some at each), but those that carry influence to the answer, the ones the pruned graph
# keeps, are at these two places. The graphs of the other held-out cities look alike: members at
# the city's token (always in layer 0) and at the last token, nowhere else. In 12 of the 31
# (Oakland, Macon, Pittsburgh, Eugene, Mesa, Bloomington, Kearney, Fairbanks, Missoula, Laramie,
# Newark, Lewiston) every member is at the last token; over all 31, 23 members sit at the city's
# token and 397 at the last. The layer-0 features
# at the city's token fit what the model's card found by causal tracing on facts: the first MLP, at
# the subject's token, does the lookup (restoring MLP 0 there brings back 0.87 of a corrupted
# answer; at the last token, 0.12). But this model does not wait for the state to travel: the
# city's own embedding already carries its state (the probe below reads it there for every held-out
# city), layer-0 attention copies the city to the last token (heads L0H0 and L0H3 attend from there
# to the city), and layer-0 features at the last token already stand for the state. Most of the supernode's members
# are at the last token (the edge city -> state below adds up both places: the members at Houston's token, and,
# across positions, those at the last). The card's linear probe for the state, fitted on training
# cities, tells the same story without any features: at the city's token it reads the state less
# and less as the layers go up; at the last token it reads it for most held-out cities as soon as
# layer 0 has run, and keeps it to the end.

# %%
probe = model.card["metrics"]["two_hop_state"]["probe_accuracy_by_site"]  # held-out cities, all phrasings
for where in ("city", "last"):
    print(f"state probe at the {where:>4} token, before layers 0 (the embedding), 1, 2, 3 and after 3:",
          [round(probe[f"blocks.{l}.hook_resid_pre@{where}"], 2) for l in (0, 1, 2, 3)]
          + [round(probe[f"blocks.3.hook_resid_post@{where}"], 2)])
at_last = [probe[f"blocks.{l}.hook_resid_pre@last"] for l in (1, 2, 3)] + [probe["blocks.3.hook_resid_post@last"]]
assert min(at_last) > 0.85  # trained-model claim: from layer 0 on (0.92, 0.92, 0.88, then 0.88)
assert probe["blocks.0.hook_resid_pre@last"] < 0.1  # trained-model claim: ... and not before it (0.03, chance)
assert probe["blocks.0.hook_resid_pre@city"] == 1  # trained-model claim: the city's embedding carries its state
at_city = probe["blocks.1.hook_resid_pre@city"], probe["blocks.3.hook_resid_post@city"]
assert at_city[0] > 0.75 and at_city[1] < 0.5  # trained-model claim: then fading at the city's token (0.76, then 0.46)

# %% [markdown]
# What does a member of the state supernode fire on? `annotate_features` finds each feature's top
# contexts in held-out text (the hover text of the widget below), and `batch` says for how many
# states each one fires. None is a clean "Texas" unit: each fires for many states, only more
# strongly for Texas's cities; four fire for all 31 states. Their top contexts in ordinary text are
# no help either: the two at Houston's token fire most on people's names, the first two at the last
# token on words such as ' is' and ' to' in all sorts of sentences. In a model this small the state
# is a *code* spread over many features, and Texas is their combination. That is why we group them
# by what they do across cities instead of by a label.

# %%
members = supernodes[state]
annotate_features(graph, model, clt, text, node_ids=[n.node_id for n in graph.nodes if n.kind == FEATURE
                                                     and pruned.node_mask[graph.index(n.node_id)]])
n_states = []
for node_id in members:
    node = graph.node(node_id)
    fires = (batch.acts[:, node.layer, node.pos, node.index] > 0).tolist()
    states_on = sorted({s for s, on in zip(batch.states, fires) if on})
    n_states.append(len(states_on))
    if len(n_states) <= 4:
        print(f"{node_id} (layer {node.layer}, {tokens[node.pos]!r}, activation {node.activation:.2f}): fires for "
              f"{len(states_on)} states, {state} among them: {state in states_on}; top context {node.top_contexts[:1]}")
print(f"the {len(members)} members fire for {sorted(n_states)} states each (of {len(STATES)})")
where = [(graph.node(i).layer, graph.node(i).pos) for i in members]
at_city = [l for l, p in where if p == batch.city_pos]
assert {p for _, p in where} == {batch.city_pos, len(tokens) - 1}  # trained-model claim: the city's token and the last
assert len(at_city) == 2 and set(at_city) == {0}  # trained-model claim: 2 of the 12 at Houston's token, both in layer 0
at_last = [l for l, p in where if p == len(tokens) - 1]
assert [at_last.count(l) for l in range(L)] == [4, 0, 4, 2]  # trained-model claim: the 10 at the last token, by layer
assert min(n_states) > 1 and sorted(n_states)[len(n_states) // 2] > 3  # trained-model claim: none is Texas alone
assert n_states.count(len(STATES)) == 4  # trained-model claim: four fire for every state

# %% [markdown]
# Now the graph at the level of supernodes: `supernode_graph` adds up the edges between groups.
# The story the paper tells for Dallas is a path from the city's token to the state to the capital,
# and a second path from the word "capital" to features that say *some* capital. Both are there:

# %%
paths = path_weights(graph, batch, city, pruned)
for name, weight in paths.items():
    print(f"{name:>30}: {weight:+.2f}")
assert paths["city -> state"] > 0 and paths["state -> capital"] > 0  # trained-model claim
assert paths["say a capital -> capital"] > 0  # trained-model claim

direct = {"state": 0.0, "say a capital": 0.0, "other features": 0.0, "error nodes": 0.0, "embeddings": 0.0}
grouped = {i: n for n, ids in supernodes.items() for i in ids}
for s, node in enumerate(graph.nodes):
    if not edges[li, s]:
        continue
    key = {state: "state", "say a capital": "say a capital"}.get(grouped.get(node.node_id), None)
    key = key or {"feature": "other features", "error": "error nodes", "embedding": "embeddings"}[node.kind]
    direct[key] += A[li, s].item()
fig = go.Figure(go.Bar(x=list(direct), y=list(direct.values()),
                       marker_color=["#0072B2", "#E69F00", "#999999", "#D55E00", "#009E73"]))
fig.update_layout(title=f"Direct edges into the {logit.token!r} logit (pruned graph), by group", height=300,
                  yaxis_title="sum of edge weights")
fig

# %% [markdown]
# ## 6. The graph in a widget
#
# `AttributionGraph` draws the pruned graph: token embeddings at the bottom, the logits at the top,
# positions from left to right, node size by influence, blue solid edges excite and red dashed ones
# inhibit. Hover a node for its contexts and what it promotes; click it to light its strongest
# paths; shift-click nodes and name them to make your own supernode. The two we found are already
# there. Choose one and an intervention: **suppress** (set to 0), **inhibit** (set to minus its
# activation), or **swap** (the state only: Texas off, Oakland's state, California, on at twice its
# activation). The widget runs it on the real model and shows the new top tokens beside the old.

# %%
donor = build_graph(model, clt, PHRASING.format(c=donor_city))
donor_state = CITY_STATE[donor_city]
group_supernodes(donor, batch, donor_city, cap_scores, donor.prune())


def on_intervene(name, node_ids, mode):
    if mode == "suppress":
        changes = I.suppressed(graph, node_ids)
    elif mode == "inhibit":
        changes = I.scaled(graph, node_ids, -1.0)
    elif mode == "swap" and name == state:
        changes = swap_changes(graph, state, donor, donor_state, scale=2.0)
    else:
        raise ValueError(f"swap needs the state supernode {state!r}; {name!r} has no counterpart in the donor")
    return I.run_intervention(model, clt, None, changes, replacement=graph.replacement).after


widget = AttributionGraph(graph.to_dict(), on_intervene=on_intervene, modes=("suppress", "inhibit", "swap"))
# a supernode of your own, from code (shift-click in the widget does the same): the rest of the
# features at the city's token
rest = [n["id"] for n in widget.nodes if n["kind"] == "feature" and n["ctx_idx"] == batch.city_pos
        and n["id"] not in graph.supernodes[state]]
if rest:
    widget.group(f"{city} (other features)", rest)
print("supernodes:", {name: len(ids) for name, ids in widget.supernodes.items()})
shown_after = {}
for name, mode in ((state, "suppress"), (state, "swap"), ("say a capital", "suppress"), ("say a capital", "inhibit")):
    after = shown_after[name, mode] = widget.intervene(name, mode)
    print(f"{mode:>8} {name!r}: " + ", ".join(f"{t!r} {p:.2f}" for t, p in after[:3]))
assert shown_after["say a capital", "suppress"][0][0] == capital  # trained-model claim: Austin stays on top ...
assert 0.805 <= shown_after["say a capital", "suppress"][0][1] < 0.81  # trained-model claim: ... at 0.81
assert shown_after["say a capital", "inhibit"][0][0] != capital  # trained-model claim: ... unless it is inhibited
widget

# %% [markdown]
# The graph also leaves the notebook: `graph.save_json(path)` writes the graph JSON that
# circuit-tracer writes and Neuronpedia's graph frontend reads (supernodes included), and
# `AttributionGraph.load_json(path)` reads it back.

# %%
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as folder:
    graph.save_json(Path(folder) / "houston.json")
    back = type(graph).load_json(Path(folder) / "houston.json")
print(f"saved and loaded: {len(back.nodes)} nodes (the pruned graph), supernodes {list(back.supernodes)}")
assert back.supernodes == graph.supernodes

# %% [markdown]
# ## 7. Every held-out city, not one
#
# One prompt proves little: we chose Houston, and a graph can tell a tidy story by luck. So we
# repeat the whole recipe for each of the 31 held-out cities (one per state, none ever seen in the
# same text as its capital): build its graph, find its supernodes with the same rules, and run four
# interventions on the real model:
#
# - **suppress the state** (its features set to 0) and **inhibit** it (set to minus their
#   activation): does the capital go away, and is another capital said instead?
# - **swap the state**: this state's features off, and the next held-out city's state features on,
#   at twice their activation there (interventions in the papers often clamp to a multiple; 1x is
#   reported too): is the *donor's* capital said?
# - **suppress say a capital**: does the model name something that is not a capital at all (often
#   the state itself)?

# %%
start = time.perf_counter()
records = two_hop_interventions(model, clt, batch)
measured = rates(records, batch)
print(f"{len(records)} held-out cities in {time.perf_counter() - start:.1f} s")
for name, value in measured.items():
    print(f"{name:>45}: {value:.2f}")
for r in records[:3]:
    print(f"  {r.city} ({r.state}): before {r.before!r}; " + ", ".join(f"{k} -> {v!r}" for k, v in r.after.items()))

# %%
shown = ["suppress state: capital removed", "inhibit state: capital removed", "swap state: donor's capital",
         "swap state 1x: donor's capital", "suppress say a capital: no capital", "suppress say a capital: the state"]
fig = go.Figure(go.Bar(x=shown, y=[measured[k] for k in shown], text=[f"{measured[k]:.0%}" for k in shown],
                       marker_color="#0072B2"))
fig.update_layout(title=f"Interventions on {len(records)} held-out cities", yaxis_range=[0, 1], height=340,
                  yaxis_title="share of cities")
fig

# %%
syllabus = evalsets.TWO_HOP_TRAIN_PHRASINGS[0]  # "The capital of the state containing {c} is"
assert measured["answered"] == 1  # trained-model claim: every held-out city answered ...
assert model.card["metrics"]["two_hop_held_out_by_phrasing"][syllabus] == 1  # ... in the syllabus's phrasing too
assert measured["path city -> state -> capital"] > 0.8  # trained-model claim: the path is in every graph (1.00)
assert 0.96 < measured["suppress state: capital removed"] < 0.97  # trained-model claim: 30 of 31 cities
assert 0.93 < measured["suppress state: another capital"] < 0.94  # trained-model claim: another capital in 29
kept_capital = [r.city for r in records if r.after["suppress state"] == " " + r.capital]
assert kept_capital == ["Newark"]  # trained-model claim: the one city that keeps its capital
without_state = [r.after["suppress state"] for r in records]
assert [r.city for r, w in zip(records, without_state) if w == " the"] == ["Missoula"]  # trained-model claim
assert measured["inhibit state: capital removed"] == 1  # trained-model claim: inhibiting removes it everywhere ...
assert 0.64 < measured["inhibit state: another capital"] < 0.65  # trained-model claim: ... another capital in 20 (0.65)
assert measured["swap state: donor's capital"] == 1  # trained-model claim: the donor's capital in all 31
assert 0.9 <= measured["swap state 1x: donor's capital"] < 0.91  # trained-model claim: ... and in 28 of 31 at 1x
without_say = [r.after["suppress say a capital"] for r in records]
kept_without_say = [r.city for r, after in zip(records, without_say) if after == " " + r.capital]
assert len(kept_without_say) == 12 and kept_without_say[:3] == ["Houston", "Oakland", "Orlando"]  # trained-model claim
assert 0.58 < measured["suppress say a capital: no capital"] < 0.59  # trained-model claim: no capital in 18 of 31
assert 0.19 < measured["suppress say a capital: the state"] < 0.2  # trained-model claim: the state itself in 6
assert without_say.count(" the") == 6 and without_say.count(",") == 3  # trained-model claim
other_capital = [r.city for r, w in zip(records, without_say) if w == " Springfield" != " " + r.capital]
assert other_capital == ["Cambridge"]  # trained-model claim: another capital, once
assert records[0].city == "Houston" and without_say[0] == " Austin"  # trained-model claim

# %% [markdown]
# Read the numbers as they are. Zeroing the state features removes the capital in 30 of the 31
# cities, and in all but one of those *another* capital takes its place (Houston's prompt then ends
# in " Nashville"; Missoula's, the exception, in " the"): the model still knows it must name a
# capital, it just no longer knows which. In one city, Newark, the capital survives: the supernode
# holds only the state features the pruned graph keeps, and enough of the state is carried
# elsewhere (by features left out of it, or by what the transcoders miss). Inhibiting them, at
# minus their activation, removes the capital everywhere, and the answer is then less often a
# capital at all (20 of 31). Swapping in the donor's state features gives the donor's capital in
# every city when they are pushed to twice the activation they had in their own prompt, as
# interventions in the papers often do, and in 28 of 31 at 1x. The state's side of the story holds
# up well.
#
# The "say a capital" side does not. Without those features the model still names its own capital
# in 12 of the 31 cities, Houston among them: the widget above showed " Austin" falling from 0.97 to
# 0.81 but staying on top, and only inhibiting the supernode removed it. In 18 it names no capital,
# and what it says instead is mixed: the *state* in 6 (Cincinnati's prompt ends in " Ohio",
# Fairbanks's in " Alaska"), " the" in 6, a comma in 3, and " hour", " for" and " it" once each;
# Cambridge's ends in another capital, " Springfield".
# So the features our rule calls "say a capital" carry part of the push towards a capital, and much
# of it runs elsewhere, in features the rule does not group or in what the transcoders miss; when
# they are gone the model has no single fallback. That is the two-step story, measured on every
# held-out city, not on one prompt: clean on the state's side, partial on the capital's.
#
# ## 8. Validation: does the graph predict what happens?
#
# The graph is a linear model of one prompt. Its prediction for an intervention is the change pushed
# through the local replacement model with attention and norms frozen, the error nodes fixed, and
# the prompt's active features following their pre-activation (none switching on or off). The real
# model differs from that in three ways, and we can remove them one at a time:
#
# 1. **features switch**: run the local replacement model itself, where a JumpReLU can turn a
#    feature on or off (`rep.forward(changes)`);
# 2. **the MLPs react in full**: run the real model with its attention patterns and norm scales
#    frozen at the prompt's values; now whatever the transcoders miss (the error nodes) also
#    responds to the intervention;
# 3. **attention and norms move**: the real model, nothing frozen.
#
# `two_hop_interventions` recorded the change of the capital's logit (minus the mean logit) all four
# ways for every city. Compare:

# %%
names = ["suppress state", "inhibit state", "swap state", "suppress say a capital"]
steps = ["replacement", "frozen", "real"]
print(f"{'mean change of the logit':>24}{'predicted':>11}" + "".join(f"{s:>13}" for s in steps)
      + "   correlation with predicted, same sign (real)")
for name in names:
    a = {step: agreement(records, name, against=step) for step in steps}
    print(f"{name:>24}{a['real']['mean_predicted']:+11.2f}" + "".join(f"{a[s][f'mean_{s}']:+13.2f}" for s in steps)
          + "   " + ", ".join(f"{a[s]['correlation']:.2f}" for s in steps) + f"; {a['real']['same_sign']:.0%}")
fig = go.Figure()
for name, colour in zip(names, ["#0072B2", "#56B4E9", "#E69F00", "#D55E00"]):
    fig.add_trace(go.Scatter(x=[r.predicted[name] for r in records if name in r.real],
                             y=[r.real[name] for r in records if name in r.real], mode="markers", name=name,
                             text=[r.city for r in records if name in r.real], marker_color=colour))
low = min(min(r.real.values()) for r in records)
fig.add_trace(go.Scatter(x=[low, 0], y=[low, 0], mode="lines", name="predicted = real", line_dash="dot",
                         line_color="grey"))
fig.update_layout(title="Change of the capital's logit: the graph's prediction against the real model", height=420,
                  xaxis_title="predicted by the graph", yaxis_title="real")
fig

# %%
suppress = agreement(records, "suppress state")
assert suppress["same_sign"] == 1  # trained-model claim: the graph gets the direction right in every city
assert 0.5 < suppress["correlation"] < 0.6  # trained-model claim: ... and roughly how much, city by city (0.55)
assert agreement(records, "suppress state", against="replacement")["correlation"] > 0.95  # trained-model claim (0.97)
for name in ("suppress state", "inhibit state", "suppress say a capital"):
    a = agreement(records, name)
    assert abs(a["mean_real"] - a["mean_predicted"]) < 0.25 * abs(a["mean_predicted"])  # trained-model claim
swap = {step: agreement(records, "swap state", against=step) for step in steps}
predicted_swap = swap["real"]["mean_predicted"]
assert 1.65 < swap["real"]["mean_real"] / predicted_swap < 1.75  # trained-model claim: 1.7 times (-12.0 against -7.0)
gap_swap = swap["real"]["mean_real"] - predicted_swap  # ... of which switching features makes little (0.37 of 4.93)
assert abs(swap["replacement"]["mean_replacement"] - predicted_swap) < 0.1 * abs(gap_swap)  # trained-model claim
say = agreement(records, "suppress say a capital")
assert say["same_sign"] == 1 and 0.8 < say["correlation"] < 0.85  # trained-model claim: closely, city by city (0.82)
assert round(swap["real"]["same_sign"] * len(records)) == 27  # trained-model claim: the swap's sign right in 27 of 31
assert swap["frozen"]["mean_frozen"] < 1.2 * predicted_swap  # trained-model claim: the MLPs react ...
assert swap["real"]["mean_real"] < 1.2 * swap["frozen"]["mean_frozen"]  # trained-model claim: ... and attention moves
mlp_share = (swap["frozen"]["mean_frozen"] - swap["replacement"]["mean_replacement"]) / gap_swap
assert 0.35 < mlp_share < 0.45  # trained-model claim: the MLPs make two fifths of the gap (0.39), attention the rest

# %% [markdown]
# For taking features away, the graph is a good model on average: it gets the direction right in
# every city, and the mean size within a quarter, for the state and for "say a capital" alike. City
# by city it tracks "say a capital" closely (correlation 0.82 with the real change) but the state
# only roughly (0.55), though closely in the local replacement model (0.97): most of the
# differences between cities that it misses come from what the graph holds fixed. The swap is
# different: the real change of the capital's logit is 1.7 times what the graph predicts (-12.0
# against -7.0 on average), and in 4 of the 31 cities the graph even gets its sign wrong. The steps
# say why. Letting features switch on and off changes little (0.37 of the gap of 4.93): the
# linearisation of the features is not the problem here. Two fifths of the gap appear at step 2,
# when the MLPs react in full: the part of each MLP that the transcoders miss moves with the new
# state, and the graph holds it fixed. The rest, about half, appears at step 3: new state features
# at the last position change where attention looks and how big the norms are, which the graph also
# holds fixed. A graph
# explains one prompt; an intervention that puts *new* features in (rather than removing some)
# makes a different prompt, and the graph of the old one says less about it. Where do the error nodes carry the most? Average, over the held-out
# cities, the influence on the logits that ends at each error node:

# %%
error_map = torch.stack([r.error_influence for r in records]).mean(0)  # [layer pos]
fig = go.Figure(go.Heatmap(z=error_map.numpy(), x=[f"{p}:{t if p != batch.city_pos else ' (city)'}"
                                                  for p, t in enumerate(tokens)],
                           y=[f"MLP {l}" for l in range(L)], colorscale="cividis", colorbar_title="influence"))
fig.update_layout(title="Influence on the logits that ends at error nodes (mean over held-out cities)", height=300,
                  yaxis_autorange="reversed")
layer_max, pos_max = divmod(int(error_map.argmax()), error_map.shape[1])
replacement = torch.tensor([r.scores["replacement_score"] for r in records])
print(f"the biggest error node: MLP {layer_max} at position {pos_max} ({tokens[pos_max]!r}), influence "
      f"{error_map.max():.3f}; replacement score over cities {replacement.mean():.2f} "
      f"(min {replacement.min():.2f}, max {replacement.max():.2f})")
top4 = [divmod(int(i), error_map.shape[1]) for i in error_map.flatten().topk(4).indices]
print("the four biggest error nodes (layer, position):", top4)
last = len(tokens) - 1
assert (layer_max, pos_max) == (0, last) and 0.045 < error_map.max() < 0.05  # trained-model claim: MLP 0 there (0.046)
assert top4[1] == (L - 1, last) and 0.025 < error_map[L - 1, last] < 0.035  # trained-model claim: the last MLP (0.030)
assert set(top4[2:]) == {(1, last), (2, last)}  # trained-model claim: ... then MLPs 1 and 2 there (0.012 each)
assert int(error_map.flatten().argsort(descending=True)[4]) == batch.city_pos  # trained-model claim: then MLP 0 at the city
fig

# %% [markdown]
# The errors that matter most sit where the answer is made, at the last position. The first MLP
# carries the most (0.046), where Houston's state supernode has a third of its members and the
# "say a capital" supernode some of its own: there it reads the state off the city that layer-0
# attention brought along, and part of that lookup is done out of the features' sight. The last
# MLP comes next (0.030): there the model turns "the capital of this state" into one token. That
# is exactly the step that would tell us *how* Texas becomes Austin, and the graph sees only part
# of it (already in section 2, this MLP's errors were the biggest next to what it writes). MLPs 1
# and 2 at the last position follow (0.012 each), then the first MLP at the city's token, the
# other place where the state is looked up. Whatever those MLPs compute that the features miss is
# invisible in the graph. An attribution graph is a hypothesis about the
# model, as good as its features; the interventions are how we test it.
#
# ## Recap
#
# - A transcoder predicts an MLP's output from its input through sparse features; a cross-layer
#   transcoder lets a feature write to every later MLP. Judge them by variance explained *and* by
#   how often the model with every MLP replaced still agrees with the real one.
# - The local replacement model freezes attention patterns and norm scales on one prompt, swaps the
#   MLPs for features and adds error nodes: exact on that prompt, linear apart from the features.
# - An edge is a source's write (activation times decoder, or an embedding, or an error) dotted with
#   the gradient of the target's pre-activation (or demeaned logit) through the frozen model. Edges
#   into a target add up to its value.
# - Influence sums normalised edges over all paths to the logits; pruning keeps the nodes that carry
#   80% of it and the edges that carry 98%.
# - On held-out cities the graph shows city -> state -> capital and "say a capital" -> capital, and
#   interventions on the real model confirm both, the state more cleanly than "say a capital", at
#   the rates measured above; the graph predicts
#   what removing features does, underestimates what swapping new ones in does, and is blind
#   where error nodes are big.
#
# ## Further reading
#
# - Ameisen et al. (2025), *Circuit Tracing: Revealing Computational Graphs in Language Models*
#   (Anthropic): cross-layer transcoders, the local replacement model, attribution graphs, pruning,
#   and validation by intervention.
# - Lindsey et al. (2025), *On the Biology of a Large Language Model* (Anthropic): attribution graphs
#   of a production model, the Dallas -> Texas -> Austin example among many.
# - Dunefsky, Chlenski and Nanda (2024), *Transcoders Find Interpretable LLM Feature Circuits*:
#   transcoders, and circuits read through them.
# - The open-source `circuit-tracer` library and Neuronpedia's graph frontend, whose graph JSON
#   `graph.save_json` writes.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer:
# `reveal("other_phrasings")` and so on prints its code (run it if you like; each takes
# seconds).
#
# 1. **Other phrasings** (`"other_phrasings"`). Run the recipe of section 7 on the syllabus's "The
#    capital of the state containing {c} is", and on a phrasing the model never saw in training,
#    "Which city is the capital of the state with {c} in it? It is". Does the path hold, and do the
#    interventions move the answer the same way? What does a rate mean for a city the model does not
#    answer in the first place?
# 2. **One hop or two** (`"one_hop_overlap"`). When asked "The city of Houston is in", the model names
#    the state. Are its state features at the last token the same ones the two-hop prompt uses?
# 3. **Per-layer or cross-layer** (`"compare_kinds"`). Build the graphs of section 7 with
#    `per_layer` instead of `clt`. Which graphs are smaller, which explain more with features, and
#    which interventions work better?

# %%
# Your exploration here. Then, for example: reveal("other_phrasings")

# %%
progress()
