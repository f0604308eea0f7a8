"""A fourth held-out set (stop 35), written before the v5d seed-0 run finished and measured on every
candidate alike, to compare main-model candidates without the seed-selection bias of the
validation and fresh sets (the shipped seed was chosen with those two in view, stop 33).

Same construction as evalsets (held-out name pairs, half ABBA / half BABA, cycling through the
frames; facts over the 40 fact people; two-hop over the held-out cities). None of the marker phrases
occurs in 3,000 documents of corpus_v4 or corpus_v5d (checked by ``check_markers``).

    PYTHONPATH=drafts/tinyworld_v5 python drafts/fresh2/fresh2.py WEIGHTS...

Each argument is a .safetensors file (a draft's weights) or "tinyworld" (the shipped model).
"""

from __future__ import annotations

import functools
import sys

import torch

from course import evalsets, evaluate, weights, zoo

IOI_FRAMES = [
    "On the first day of school, {A} met {B} in the hallway. At recess, {S} threw the ball to",
    "It started to rain while {A} and {B} were at the market. {S} opened an umbrella for",
    "The bakery was busy, so {A} waited in line with {B}. At the counter, {S} ordered a muffin for",
    "During the storm, {A} stayed at the house of {B}. In the morning, {S} made pancakes for",
    "{A} sat behind {B} on the long flight. Somewhere over the ocean, {S} passed a pillow to",
    "{A} and {B} raced each other to the corner. Out of breath, {S} handed the water to",
    "{A} and {B} cleaned up the park on Sunday. Before leaving, {S} gave a trash bag to",
    "{A} was teaching {B} how to swim. After the lesson, {S} threw a towel to",
    "{A} and {B} found a lost puppy near the river. Without a word, {S} passed the leash to",
    "The ferry was delayed, and {A} was stuck on the dock with {B}. {S} offered a sandwich to",
    "{A} shared a tent with {B} at summer camp. On the last night, {S} told a ghost story to",
    "{A} and {B} were stacking chairs after the meeting. When they finished, {S} said goodnight to",
]
# The endings ("threw the ball to", "handed the water to", ...) are the corpus's own IOI actions, as in
# the held-out frames: what is new is the sentence around them. ("threw the ball" was a marker until a
# v4e draw wrote it as an IOI action; it is not distinctive.)
IOI_MARKERS = ["first day of school", "in the hallway", "At recess", "started to rain",
               "opened an umbrella", "bakery was busy", "waited in line", "ordered a muffin", "During the storm",
               "made pancakes", "long flight", "over the ocean", "passed a pillow", "raced each other",
               "Out of breath", "cleaned up the park", "trash bag", "how to swim", "lost puppy", "the leash",
               "ferry was delayed", "on the dock", "shared a tent", "summer camp", "ghost story",
               "stacking chairs", "said goodnight"]
FACT_PHRASINGS = [
    "{n} spends every Saturday playing",
    "At the club, {n} signed up to play",
    "Every summer, {n} joins a team to play",
    "Since childhood, {n} has been good at",
    "The game {n} loves most is",
    "{n} once won a trophy for",
]
FACT_MARKERS = ["spends every Saturday", "signed up to play", "joins a team", "Since childhood",
                "loves most", "won a trophy"]
TWO_HOP_PHRASINGS = [
    "{c} belongs to a state, and the capital of that state is",
    "Someone who moves to {c} will find the state capital in",
    "Mail sent from {c} to the state capital goes to",
    "For people living in {c}, the state government is in",
    "On a map, find {c}, then find its state capital:",
    "Starting in {c}, drive to the capital of its state, which is",
]
TWO_HOP_MARKERS = ["belongs to a state", "moves to", "Mail sent", "state government is in", "On a map",
                   "Starting in"]


def check_markers(n_docs: int = 3000) -> dict[str, list[str]]:
    """The markers that occur in each corpus's documents (all lists should be empty)."""
    import importlib
    found = {}
    for name in ("course.corpus_v4", "corpus_v5d"):
        text = "\n".join(importlib.import_module(name).documents(n_docs, seed=0))
        found[name] = [m for m in IOI_MARKERS + FACT_MARKERS + TWO_HOP_MARKERS if m in text]
    return found


def measure(model) -> dict:
    items = evalsets.ioi_dataset(480, seed=35, frames=IOI_FRAMES)
    out = evaluate.ioi_by_frame(model, items, len(IOI_FRAMES), "fresh2_ioi_")
    out["fresh2_fact_by_phrasing"] = facts = evaluate.fact_by_new_phrasing(model, FACT_PHRASINGS)
    out["fresh2_fact_accuracy"] = sum(facts.values()) / len(facts)
    out["fresh2_two_hop_by_phrasing"] = hops = evaluate.two_hop_by_new_phrasing(model, TWO_HOP_PHRASINGS)
    out["fresh2_two_hop_accuracy"] = sum(hops.values()) / len(hops)
    return out


def two_hop_kind_and_hop(model, phrasings: list[str]) -> dict[str, tuple[float, float]]:
    """Per phrasing, on the held-out cities: (the right capital is the likeliest of the capitals,
    mean probability of any capital). The first says whether the hop is computed, the second whether
    the model knows a city is due: a miss with a high first number is the slot's kind, not the hop."""
    from course.world import STATES
    tok = model.tokenizer
    caps = torch.tensor(sorted({tok.encode(" " + v["capital"])[0] for v in STATES.values()}))
    out = {}
    for f in phrasings:
        items = evalsets.two_hop_dataset(held_out_cities=True, phrasings=[f])
        gold = torch.tensor([tok.encode(it.answer)[0] for it in items])
        logits = evaluate.last_logits(model, [it.prompt for it in items])
        among = (caps[logits[:, caps].argmax(-1)] == gold).float().mean().item()
        out[f] = (round(among, 2), round(logits.softmax(-1)[:, caps].sum(-1).mean().item(), 2))
    return out


@functools.cache
def _shipped():
    return zoo.load("tinyworld")


def load(spec: str):
    """The shipped model ("tinyworld") or a draft's weights file, read with the shipped tokenizer."""
    if spec == "tinyworld":
        return _shipped()
    return weights.load_model(spec, tokenizer=_shipped().tokenizer)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1:] == ["--markers"]:
        print(check_markers())
        sys.exit()
    models = {spec.split("/")[-1].replace(".safetensors", ""): load(spec) for spec in sys.argv[1:]}
    rows = {name: measure(m) for name, m in models.items()}
    first = next(iter(rows.values()))
    print(f"{'metric':34s}" + "".join(f"{n[-16:]:>18s}" for n in rows))
    for k in (k for k, v in first.items() if not isinstance(v, (list, dict))):
        print(f"{k:34s}" + "".join(f"{r[k]:18.3f}" for r in rows.values()))
    for n, r in rows.items():
        print("fresh2_ioi_accuracy_by_frame", n[-16:], r["fresh2_ioi_accuracy_by_frame"])
    for k in ("fresh2_fact_by_phrasing", "fresh2_two_hop_by_phrasing"):
        for phr in first[k]:
            print(f"  {phr[:58]:58s}" + "".join(f"{r[k][phr]:8.2f}" for r in rows.values()))
    print("two-hop, validation and fresh2 phrasings: right capital among capitals / p(any capital)")
    phrasings = evalsets.VALIDATION_TWO_HOP_PHRASINGS + TWO_HOP_PHRASINGS
    tables = [two_hop_kind_and_hop(m, phrasings) for m in models.values()]
    for phr in phrasings:
        print(f"  {phr[:58]:58s}" + "".join(f"  {t[phr][0]:.2f}/{t[phr][1]:.2f}" for t in tables))
