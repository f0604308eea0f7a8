"""Activation patching and path patching: causal interventions that ask which activations matter.

Activation patching runs the model on a *corrupted* prompt (here: IOI names swapped, so the right
answer flips) and copies in one activation from the *clean* run. If the metric moves back towards
its clean value, that activation carries the information that distinguishes the two prompts.
Scores are normalised: 0 = as corrupted, 1 = fully restored (as in ARENA's and TransformerLens's
tutorials). Path patching narrows this to one path: it changes a sender head's output and lets
the change reach only chosen receivers, with every other head frozen (Wang et al., 2022).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from course.cache import act_name

Metric = Callable[[torch.Tensor], torch.Tensor]  # logits [batch pos d_vocab] -> scalar, e.g. metrics.logit_diff


def normalised(metric: Metric, clean_value: float, corrupted_value: float) -> Metric:
    """Rescale a metric so that the corrupted run scores 0 and the clean run scores 1."""
    span = clean_value - corrupted_value
    if abs(span) < 1e-6:
        raise ValueError("the clean and corrupted runs score the same: nothing to restore")
    return lambda logits: (metric(logits) - corrupted_value) / span


@torch.no_grad()
def patch_resid_by_layer_and_pos(model, clean_tokens, corrupted_tokens, metric: Metric,
                                 hook: str = "resid_pre") -> torch.Tensor:
    """Patch the clean residual stream into the corrupted run at one (layer, position) at a time.
    Returns ``[layer pos]`` scores."""
    names = [act_name(hook, layer) for layer in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(clean_tokens, names_filter=names)
    n_pos = clean_tokens.shape[1]
    scores = torch.zeros(model.cfg.n_layers, n_pos)
    for layer, name in enumerate(names):
        for pos in range(n_pos):
            def patch(act, hook, pos=pos, name=name):
                act = act.clone()
                act[:, pos] = clean_cache[name][:, pos]
                return act

            scores[layer, pos] = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, patch)]))
    return scores


@torch.no_grad()
def patch_layer_outputs(model, clean_tokens, corrupted_tokens, metric: Metric) -> dict[str, torch.Tensor]:
    """Patch each attention layer's and MLP layer's whole output: ``{"attn_out": [layer], "mlp_out": [layer]}``."""
    kinds = ["attn_out"] + ([] if model.cfg.attn_only else ["mlp_out"])
    names = [act_name(k, l) for k in kinds for l in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(clean_tokens, names_filter=names)
    out = {}
    for kind in kinds:
        out[kind] = torch.tensor([
            float(metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=[
                (act_name(kind, l), lambda act, hook: clean_cache[hook.name])])))
            for l in range(model.cfg.n_layers)])
    return out


@torch.no_grad()
def patch_heads(model, clean_tokens, corrupted_tokens, metric: Metric, component: str = "z",
                pos: Optional[int] = None) -> torch.Tensor:
    """Patch one head's ``z`` (its output before W_O; or ``q``, ``k``, ``v``, ``pattern``) from the clean
    run into the corrupted run, at every position or only ``pos``. Returns ``[layer head_index]``
    (for ``k`` and ``v`` under grouped-query attention, ``[layer kv_head_index]``)."""
    names = [act_name(component, l) for l in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(clean_tokens, names_filter=names)
    head_axis = 1 if component in ("pattern", "attn_scores") else 2
    n_heads = clean_cache[names[0]].shape[head_axis]
    scores = torch.zeros(model.cfg.n_layers, n_heads)
    for layer, name in enumerate(names):
        for head in range(n_heads):
            def patch(act, hook, head=head):
                act = act.clone()
                index = [slice(None)] * act.ndim
                index[head_axis] = head
                if pos is not None:
                    index[1 if head_axis == 2 else 2] = pos
                act[tuple(index)] = clean_cache[hook.name][tuple(index)]
                return act

            scores[layer, head] = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, patch)]))
    return scores


@torch.no_grad()
def path_patch(model, target_tokens, source_tokens, senders: Sequence[tuple[int, int]], metric: Metric,
               receivers: Optional[Sequence[tuple[int, int, str]]] = None) -> torch.Tensor:
    """Path patching from ``senders`` (``(layer, head)``) to ``receivers``.

    Run on ``target_tokens``; the senders' outputs are replaced by their values on ``source_tokens``;
    every other head is frozen to its target value, so the change can travel only directly. With
    ``receivers=None`` the path ends at the logits (through MLPs, which are recomputed, as in ARENA's
    IOI exercises). With receivers ``(layer, head, "q"|"k"|"v")``, a second run takes the receivers'
    inputs from the first run and everything else from the target run (under grouped-query
    attention a ``k`` or ``v`` receiver's head is a key/value head). Returns the metric.
    """
    n_layers = model.cfg.n_layers
    z_names = [act_name("z", l) for l in range(n_layers)]
    _, target_cache = model.run_with_cache(target_tokens, names_filter=z_names)
    _, source_cache = model.run_with_cache(source_tokens, names_filter=z_names)
    sender_set = set(senders)

    def freeze_or_send(act, hook):
        layer = int(hook.name.split(".")[1])
        act = target_cache[hook.name].clone()  # every head frozen to its target value ...
        for (l, h) in sender_set:
            if l == layer:
                act[:, :, h] = source_cache[hook.name][:, :, h]  # ... except the senders
        return act

    if receivers is None:
        return metric(model.run_with_hooks(target_tokens, fwd_hooks=[(n, freeze_or_send) for n in z_names]))

    receiver_names = sorted({act_name(kind, l) for l, _, kind in receivers})
    with model.hooks([(n, freeze_or_send) for n in z_names]):
        _, sent_cache = model.run_with_cache(target_tokens, names_filter=receiver_names)

    def receive(act, hook):
        act = act.clone()
        layer = int(hook.name.split(".")[1])
        kind = hook.name.split("hook_")[-1]
        for (l, h, k) in receivers:
            if l == layer and k == kind:
                act[:, :, h] = sent_cache[hook.name][:, :, h]
        return act

    return metric(model.run_with_hooks(target_tokens, fwd_hooks=[(n, receive) for n in receiver_names]))


@torch.no_grad()
def path_patch_all_senders(model, target_tokens, source_tokens, metric: Metric,
                           receivers: Optional[Sequence[tuple[int, int, str]]] = None) -> torch.Tensor:
    """``path_patch`` with each head in turn as the only sender: ``[layer head_index]``.
    Senders must come before the receivers, so heads at or after the first receiver layer score NaN."""
    last_layer = model.cfg.n_layers if receivers is None else min(l for l, _, _ in receivers)
    scores = torch.full((model.cfg.n_layers, model.cfg.n_heads), float("nan"))
    for layer in range(last_layer):
        for head in range(model.cfg.n_heads):
            scores[layer, head] = path_patch(model, target_tokens, source_tokens, [(layer, head)], metric, receivers)
    return scores
