"""Interventions on transcoder features, run on the real model, beside what the attribution
graph predicts (Ameisen et al. 2025, "Validating the correctness of attribution graphs").

Setting a feature to a new value means adding ``(new - current) * decoder`` to the MLP outputs it
writes (one layer for a per-layer transcoder, that layer and all later ones for a cross-layer
one), where ``current`` is the feature's activation in *this* run, read from the MLP's input by a
hook. Everything else the MLP writes, including what the transcoder misses (its error), stays as
the real model computes it, and attention and norms run for real (unless ``freeze_attention``
holds them at the prompt's values, as the graph does). The graph's prediction is the
same change pushed through the local replacement model's linearisation (frozen attention and
norms, the prompt's active features following their pre-activation): where the two agree, the
graph's story holds beyond the prompt's own run.

Modes: suppress (set to 0), scale (multiply), swap (set one prompt's features to 0 and add
another prompt's features at their activations there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from course.attribution_graph import FEATURE, LOGIT, AttributionGraph
from course.replacement import Changes, local_replacement
from course.transcoders import Transcoders, bos_id_of, check_fits, keep_positions, mlp_input_hook, mlp_output_hook


def check_changes(changes: Changes, transcoders: Transcoders, n_pos: int) -> None:
    """Raise a ValueError saying which (layer, pos, feature) cannot be changed, and why."""
    cfg = transcoders.cfg
    for key in changes:
        if not (isinstance(key, tuple) and len(key) == 3):
            raise ValueError(f"changes are keyed by (layer, pos, feature), got {key!r}")
        layer, pos, feature = key
        transcoders.check_layer(layer)
        if not 0 <= pos < n_pos:
            raise ValueError(f"position {pos} is out of range: the prompt has positions 0..{n_pos - 1}")
        if not 0 <= feature < cfg.d_transcoder:
            raise ValueError(f"feature {feature} is out of range: each layer has features 0..{cfg.d_transcoder - 1}")


def intervention_hooks(model, transcoders: Transcoders, changes: Changes, keep: torch.Tensor) -> list:
    """Hooks that set each feature ``(layer, pos, feature)`` of ``changes`` to its value, in every
    sequence of a batch: at the feature's MLP input its current activation is read; at each MLP
    output it writes to, ``(value - current) * decoder`` is added. ``keep [batch pos]``
    (``transcoders.keep_positions``) marks where features exist; elsewhere (position 0, BOS
    tokens) the current activation counts as 0, as in the replacement model."""
    by_layer: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for layer in sorted({key[0] for key in changes}):
        items = [(pos, feature, float(value)) for (l, pos, feature), value in changes.items() if l == layer]
        by_layer[layer] = tuple(torch.tensor(column) for column in zip(*items))  # pos, feature, value: [n] each
    delta: dict[int, torch.Tensor] = {}  # layer -> [batch n]: value - current

    def read(layer):
        pos, feature, value = by_layer[layer]

        def fn(x, hook):  # x: [batch pos d_model]
            current = transcoders.encode(layer, x[:, pos, :])  # [batch n d_transcoder]
            current = current.gather(-1, feature[None, :, None].expand(len(x), -1, 1))[..., 0]  # [batch n]
            delta[layer] = value - current * keep[:, pos]
        return fn

    def write(j):
        def fn(out, hook):  # out: [batch pos d_model]
            for layer, (pos, feature, _) in by_layer.items():
                if j in transcoders.writes_to(layer):
                    w = transcoders.W_dec[layer][j - layer][feature].detach()  # [n d_model]
                    out = out.index_add(1, pos, delta[layer][..., None] * w)
            return out
        return fn

    outputs = sorted({j for layer in by_layer for j in transcoders.writes_to(layer)})
    return ([(mlp_input_hook(model, layer), read(layer)) for layer in by_layer]
            + [(mlp_output_hook(j), write(j)) for j in outputs])


@dataclass
class InterventionResult:
    before: list[tuple[str, float]]  # the real model's top next tokens and probabilities
    after: list[tuple[str, float]]  # ... with the intervention
    predicted: list[tuple[str, float]]  # ... as the graph's linearisation predicts them
    logit_change: torch.Tensor  # [d_vocab] the real change of the last position's logits
    predicted_change: torch.Tensor  # [d_vocab] the predicted change
    changes: Changes

    def __str__(self) -> str:
        row = lambda pairs: ", ".join(f"{t!r} {p:.2f}" for t, p in pairs)  # noqa: E731
        return f"before:    {row(self.before)}\nafter:     {row(self.after)}\npredicted: {row(self.predicted)}"


def _top(probs: torch.Tensor, n: int, decode) -> list[tuple[str, float]]:
    values, ids = probs.topk(n)
    return [(decode(i), v) for i, v in zip(ids.tolist(), values.tolist())]


def freezing_hooks(rep) -> list:
    """Hooks that hold the real model's attention patterns and norm scales at their values in the
    local replacement ``rep``: what the graph assumes. Run an intervention with and without them
    to see how much of the graph's error comes from attention and norms moving."""
    L = rep.n_layers
    hooks = [(f"blocks.{l}.attn.hook_pattern", (lambda act, hook, l=l: rep.patterns[l][None])) for l in range(L)]
    if rep.final_scale is not None:
        for l in range(L):
            hooks.append((f"blocks.{l}.ln1.hook_scale", (lambda act, hook, l=l: rep.ln1_scale[l][None])))
            hooks.append((f"blocks.{l}.ln2.hook_scale", (lambda act, hook, l=l: rep.ln2_scale[l][None])))
        hooks.append(("ln_final.hook_scale", lambda act, hook: rep.final_scale[None]))
    return hooks


@torch.no_grad()
def run_intervention(model, transcoders: Transcoders, tokens, changes: Changes, n_top: int = 5,
                     replacement=None, freeze_attention: bool = False) -> InterventionResult:
    """Set features to new values on the real model (``intervention_hooks``) and compare the last
    position's next-token distribution before and after with the graph's linear prediction.
    ``tokens``: the prompt (``[pos]``, ``[1 pos]`` or a string); ``replacement``: its local
    replacement, if already built (an ``AttributionGraph`` keeps it as ``graph.replacement``).
    ``freeze_attention``: hold attention patterns and norm scales at the prompt's values
    (``freezing_hooks``), as the graph does."""
    check_fits(transcoders, model)
    rep = replacement if replacement is not None else local_replacement(model, transcoders, tokens)
    tokens = rep.tokens[None]
    check_changes(changes, transcoders, tokens.shape[1])
    hooks = intervention_hooks(model, transcoders, changes, keep_positions(tokens, bos_id_of(model)))
    hooks += freezing_hooks(rep) if freeze_attention else []
    before = model(tokens)[0, -1]
    after = model.run_with_hooks(tokens, fwd_hooks=hooks)[0, -1]
    predicted_change = rep.forward(changes, linear=True)[-1] - rep.forward(linear=True)[-1]
    tok = getattr(model, "tokenizer", None)
    decode = (lambda i: tok.decode([i])) if tok is not None else (lambda i: f"<{i}>")
    return InterventionResult(_top(before.softmax(-1), n_top, decode), _top(after.softmax(-1), n_top, decode),
                              _top((before + predicted_change).softmax(-1), n_top, decode), after - before,
                              predicted_change, dict(changes))


# -- changes from graph nodes ------------------------------------------------------------------

def _feature_nodes(graph: AttributionGraph, nodes) -> list:
    chosen = [graph.node(i) for i in graph.members(nodes)]
    wrong = [n.node_id for n in chosen if n.kind != FEATURE]
    if wrong:
        raise ValueError(f"only feature nodes can be set; {wrong} are not features (errors, embeddings and "
                         "logits are not the transcoders')")
    return chosen


def scaled(graph: AttributionGraph, nodes, factor: float) -> Changes:
    """Changes that multiply the features ``nodes`` (a supernode's name, a node id, or ids) by ``factor``."""
    return {(n.layer, n.pos, n.index): n.activation * factor for n in _feature_nodes(graph, nodes)}


def suppressed(graph: AttributionGraph, nodes) -> Changes:
    return scaled(graph, nodes, 0.0)


def swapped(graph: AttributionGraph, nodes, donor: AttributionGraph, donor_nodes=None) -> Changes:
    """Changes that turn off ``nodes`` of ``graph`` and turn on ``donor_nodes`` of ``donor`` (another
    prompt's graph; default: its supernode or nodes of the same name) at the activations they had
    there, at the same positions (so the prompts should line up, e.g. one template)."""
    changes = suppressed(graph, nodes)
    if donor_nodes is None:
        donor_nodes = nodes
    for n in _feature_nodes(donor, donor_nodes):
        if n.pos >= len(graph.tokens):
            raise ValueError(f"donor node {n.node_id!r} is at position {n.pos}, past this prompt's "
                             f"{len(graph.tokens)} tokens; swap between prompts of the same shape")
        changes[n.layer, n.pos, n.index] = n.activation
    return changes


def predicted_logit_changes(graph: AttributionGraph, changes: Changes) -> dict[str, float]:
    """The graph's own prediction, from its adjacency alone: push the activation changes of its
    feature nodes along every path (per unit of activation, an edge's weight over its source's
    activation; the prompt's other features pass their input on one to one, as a JumpReLU above
    threshold does; errors and embeddings stay). Returns the change of each logit node's value
    (the logit minus the mean logit), by node id. Equal to ``run_intervention``'s prediction."""
    index = {(n.layer, n.pos, n.index): i for i, n in enumerate(graph.nodes) if n.kind == FEATURE}
    missing = [key for key in changes if key not in index]
    if missing:
        raise ValueError(f"features {missing} are not active on this prompt, so they have no node and no edges in "
                         "this graph; run_intervention predicts their effect from the replacement model")
    acts = graph.activations
    is_feature = graph.mask(FEATURE)
    per_unit = torch.where(is_feature[None, :], graph.adjacency / acts.clamp_min(1e-30)[None, :], 0.0)
    clamped = torch.zeros(len(graph.nodes), dtype=torch.bool)
    start = torch.zeros(len(graph.nodes))
    for key, value in changes.items():
        clamped[index[key]] = True
        start[index[key]] = value - acts[index[key]]
    per_unit[clamped] = 0.0  # a clamped feature ignores its inputs
    delta = start
    for _ in range(len(graph.nodes)):
        new = start + per_unit @ delta
        if torch.equal(new, delta):
            break
        delta = new
    return {n.node_id: delta[i].item() for i, n in enumerate(graph.nodes) if n.kind == LOGIT}


def widget_callback(model, transcoders: Transcoders, graph: AttributionGraph, donor: Optional[AttributionGraph] = None,
                    n_top: int = 5) -> Callable[[str, list, str], list[tuple[str, float]]]:
    """``on_intervene(name, node_ids, mode)`` for ``widgets.AttributionGraph``: runs the intervention
    on the real model and returns the new top tokens. Modes: "suppress", "swap" (with ``donor``'s
    supernode of the same name), or "scale:<factor>" (e.g. "scale:-1")."""
    def on_intervene(name: str, node_ids: list, mode: str) -> list[tuple[str, float]]:
        if mode == "suppress":
            changes = suppressed(graph, node_ids)
        elif mode == "swap":
            if donor is None or name not in donor.supernodes:
                raise ValueError(f"swap needs a donor graph with a supernode named {name!r}")
            changes = swapped(graph, node_ids, donor, name)
        elif mode.startswith("scale:"):
            changes = scaled(graph, node_ids, float(mode.split(":", 1)[1]))
        else:
            raise ValueError(f"unknown mode {mode!r}: use 'suppress', 'swap' or 'scale:<factor>'")
        return run_intervention(model, transcoders, graph.tokens, changes, n_top, graph.replacement).after

    return on_intervene
