"""The intermediate hop of two-hop recall: "the capital of the state containing Dallas is" needs the
state (Texas) on the way to the answer (Austin). Is the state really computed, where, and is it
used? A linear probe reads it; a swap of its representation redirects the answer.

Sites are (hook, position) pairs: the residual stream before each layer and after the last, at
the city's token ("city") and at the last token ("last"). Probes and state means are fitted on the
training cities and scored on the held-out cities, whose composite question the model never saw.
"""

from __future__ import annotations

import torch

from course import evalsets, probing
from course.world import STATES

STATE_NAMES = list(STATES)
_STATE_INDEX = {s: i for i, s in enumerate(STATE_NAMES)}


def sites(model) -> list[tuple[str, str]]:
    hooks = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
    hooks.append(f"blocks.{model.cfg.n_layers - 1}.hook_resid_post")
    return [(h, kind) for h in hooks for kind in ("city", "last")]


def _position(model, item, kind: str) -> int:
    if kind == "last":
        return -1
    return probing.word_positions(model.tokenizer, item.prompt, item.city)[-1]  # the city's last token


def _data(model, held_out_cities: bool, phrasings: str, hook: str, kind: str):
    items = evalsets.two_hop_dataset(held_out_cities, phrasings)
    x = probing.activations(model, [it.prompt for it in items], hook, [_position(model, it, kind) for it in items])
    y = torch.tensor([_STATE_INDEX[it.state] for it in items])
    return items, x, y


def probe_table(model) -> dict[str, float]:
    """Probe accuracy for the state at every site: fitted on training cities (training phrasings),
    scored on held-out cities in every phrasing. Keys are "hook@city" / "hook@last"."""
    out = {}
    for hook, kind in sites(model):
        _, x, y = _data(model, False, "train", hook, kind)
        probe = probing.fit_probe(x, y, len(STATE_NAMES))
        _, xt, yt = _data(model, True, "all", hook, kind)
        out[f"{hook}@{kind}"] = round(probing.probe_accuracy(probe, xt, yt), 3)
    return out


def swap_success(model, hook: str, kind: str, shift: int = 1) -> dict[str, float]:
    """Add (mean of state B - mean of state A) at the site of every held-out question about a city
    in state A, B being ``shift`` states further in the list; the share of questions answered with
    B's capital, per phrasing. Means come from the training cities in the training phrasings."""
    _, x, y = _data(model, False, "train", hook, kind)
    means = probing.class_means(x, y, len(STATE_NAMES))
    tok = model.tokenizer
    out: dict[str, list[bool]] = {}
    for it in evalsets.two_hop_dataset(True, "all"):
        a = _STATE_INDEX[it.state]
        b = (a + shift) % len(STATE_NAMES)
        logits = probing.swap_answers(model, it.prompt, hook, _position(model, it, kind), means[b] - means[a])
        target = tok.encode(" " + STATES[STATE_NAMES[b]]["capital"])[0]
        out.setdefault(it.phrasing, []).append(logits.argmax().item() == target)
    return {k: sum(v) / len(v) for k, v in out.items()}


def locate_state(model) -> dict:
    """The site where swapping the state works best (the lowest per-phrasing success, maximised),
    with its probe accuracy and per-phrasing swap success; and the probe table."""
    probes = probe_table(model)
    best = None
    for hook, kind in sites(model):
        if probes[f"{hook}@{kind}"] < 0.5:  # no readable state there: nothing to swap
            continue
        swaps = swap_success(model, hook, kind)
        if best is None or min(swaps.values()) > min(best["swap_by_phrasing"].values()):
            best = {"site": f"{hook}@{kind}", "probe_accuracy": probes[f"{hook}@{kind}"], "swap_by_phrasing": swaps}
    return {"probe_accuracy_by_site": probes, **(best or {})}
