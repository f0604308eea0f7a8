"""The first TinyWorld corpus (version 1): a few dozen fixed templates per phenomenon.

The shipped tokenizer (`python -m course.tokenizer`) and the `attn-only-2l` model were trained on
it, so it is kept, unchanged, to keep both reproducible. A model trained on it memorises its
frames (IOI falls to 60% on sentences it never saw); the course's main model trains on
`course.corpus` (version 2) instead. Its held-out lists below only keep evaluation items out of
this stream; the evaluation sets themselves are in `course.evalsets`.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from itertools import combinations
from typing import Iterator

from course.evalsets import landmark_paragraph
from course.world import (ANIMALS, CITIES, CITY_STATE, COLORS, FACT_PEOPLE, FACTS, FEELINGS, FOODS, LANDMARKS,
                          LETTERS, NAMES, OBJECTS, PLACES, PRONOUN, RUN_FIRST, RUN_WORDS, STATES, WEATHER)

# ---------------------------------------------------------------------------------------------
# Indirect object identification. A template is an (intro, action) pair: 8 x 8 = 64 templates.
# The held-out ones form a permutation (each intro and each action is held out once), so every
# piece of a held-out template is seen in training, but never in that combination.
# ---------------------------------------------------------------------------------------------

IOI_INTROS = [
    "When {A} and {B} went to the {place},",
    "After {A} and {B} arrived at the {place},",
    "While {A} and {B} were at the {place},",
    "Then, {A} and {B} went to the {place}.",
    "Once {A} and {B} got to the {place},",
    "Later, {A} and {B} had lunch at the {place}.",
    "As {A} and {B} walked to the {place},",
    "Yesterday {A} and {B} spent the day at the {place}.",
]
IOI_ACTIONS = [
    "{S} gave a {obj} to",
    "{S} handed the {obj} to",
    "{S} passed a {obj} to",
    "{S} threw the {obj} to",
    "{S} brought a {obj} to",
    "{S} offered the {obj} to",
    "{S} sent a {obj} to",
    "{S} showed the {obj} to",
]
N_IOI_TEMPLATES = len(IOI_INTROS) * len(IOI_ACTIONS)
HELD_OUT_TEMPLATES = frozenset(i * len(IOI_ACTIONS) + a for i, a in
                               enumerate([3, 0, 6, 1, 7, 2, 4, 5]))
TRAIN_TEMPLATES = [t for t in range(N_IOI_TEMPLATES) if t not in HELD_OUT_TEMPLATES]


def _held_out_pairs() -> frozenset[tuple[str, str]]:
    pairs = list(combinations(sorted(NAMES), 2))
    return frozenset(random.Random(7).sample(pairs, len(pairs) // 10))  # 10% of unordered pairs


HELD_OUT_NAME_PAIRS = _held_out_pairs()  # sorted (name, name) tuples; never together in training IOI
_HELD_OUT_PAIR_LIST = sorted(HELD_OUT_NAME_PAIRS)


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _template_text(template: int) -> str:
    intro, action = divmod(template, len(IOI_ACTIONS))
    return IOI_INTROS[intro] + " " + IOI_ACTIONS[action]


def _ioi_fill(template: int, io: str, s: str, s2: str, order: str, place: str, obj: str) -> str:
    a, b = (io, s) if order == "ABBA" else (s, io)
    return _template_text(template).format(A=a, B=b, S=s2, place=place, obj=obj)


def _train_pair(rng: random.Random) -> tuple[str, str]:
    while True:  # rejection: ~10% of pairs are held out
        io, s = rng.sample(NAMES, 2)
        if _pair_key(io, s) not in HELD_OUT_NAME_PAIRS:
            return io, s


# ---------------------------------------------------------------------------------------------
# Geography and its held-out composite questions: one city per state never appears in a
# composite sentence, while its city -> state fact (and the state's capital) is trained.
# ---------------------------------------------------------------------------------------------

_geo_rng = random.Random(11)
HELD_OUT_COMPOSITE_CITIES = frozenset(_geo_rng.choice(v["cities"]) for v in STATES.values())
_COMPOSITE_TRAIN_CITIES = [c for c in CITIES if c not in HELD_OUT_COMPOSITE_CITIES]

# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Addition: "calc: 36 + 59 = 95" for 10 <= a, b <= 99. 10% of unordered pairs are held out (both
# orders), so the held-out score measures an algorithm, not a lookup of the swapped pair.
# ---------------------------------------------------------------------------------------------

_ADD_PAIRS = [(a, b) for a in range(10, 100) for b in range(a, 100)]
HELD_OUT_ADDITION_PAIRS = frozenset(random.Random(13).sample(_ADD_PAIRS, len(_ADD_PAIRS) // 10))
_TRAIN_ADD = [(a, b) for a in range(10, 100) for b in range(10, 100)
              if _pair_key(a, b) not in HELD_OUT_ADDITION_PAIRS]


# ---------------------------------------------------------------------------------------------
# Segment generators. Each returns (text, estimated tokens); a document is segments joined by
# "\n". The estimate counts words, punctuation and single digits (close to the real BPE count
# because the world's words are single tokens); tests check real counts stay under 128.
# ---------------------------------------------------------------------------------------------

# A space before a digit is its own token, and so is each newline.
_EST_RE = re.compile(r"\d| (?=\d)|\n|[A-Za-z]+|[^\sA-Za-z\d]")


def _est(text: str) -> int:
    return len(_EST_RE.findall(text))


def _seg_ioi(rng: random.Random) -> str:
    template = rng.choice(TRAIN_TEMPLATES)
    io, s = _train_pair(rng)
    order = "ABBA" if rng.random() < 0.5 else "BABA"
    return _ioi_fill(template, io, s, s, order, rng.choice(PLACES), rng.choice(OBJECTS)) + f" {io}."


_CITY_STATE_T = ["The city of {c} is in {s}.", "{c} is a city in {s}.", "{c} is in {s}."]
_STATE_CAP_T = ["The capital of {s} is {k}.", "{k} is the capital of {s}."]
_COMPOSITE_T = "The capital of the state containing {c} is {k}."
_GEO_OPENERS = ["The city of {c} is in {s}.", "The capital of {s} is {k}.",
                "The capital of the state containing {c} is {k}."]


def _seg_geo(rng: random.Random) -> str:
    # Mostly isolated facts (so recall must come from the weights, not from context), sometimes
    # the full chain city -> state -> capital -> composite in one place.
    sents = []
    for _ in range(rng.randint(1, 3)):
        c = rng.choice(CITIES)
        s = CITY_STATE[c]
        k = STATES[s]["capital"]
        r = rng.random()
        can_compose = c not in HELD_OUT_COMPOSITE_CITIES
        if r < 0.40 and can_compose:
            sents.append(_COMPOSITE_T.format(c=c, k=k))
        elif r < 0.65:
            sents.append(rng.choice(_CITY_STATE_T).format(c=c, s=s))
        elif r < 0.85:
            sents.append(rng.choice(_STATE_CAP_T).format(s=s, k=k))
        else:
            chain = [_CITY_STATE_T[1].format(c=c, s=s), _STATE_CAP_T[0].format(s=s, k=k)]
            if can_compose:
                chain.append(_COMPOSITE_T.format(c=c, k=k))
            sents.append(" ".join(chain))
    if not sents[0].startswith("The"):  # segments never start with an entity word
        c = rng.choice(_COMPOSITE_TRAIN_CITIES)
        s = CITY_STATE[c]
        sents.insert(0, rng.choice(_GEO_OPENERS).format(c=c, s=s, k=STATES[s]["capital"]))
    return " ".join(sents)


_FACT_T = ["{n} plays {o}.", "{n} plays {o} every week.", "On weekends, {n} plays {o}.",
           "Everyone knows that {n} plays {o}.", "My friend {n} plays {o}."]


def _seg_fact(rng: random.Random) -> str:
    people = rng.sample(FACT_PEOPLE, rng.randint(1, 4))
    first = rng.choice(["My friend {n} plays {o}.", "On weekends, {n} plays {o}.",
                        "Everyone knows that {n} plays {o}."])
    sents = [first.format(n=people[0], o=FACTS[people[0]])]
    sents += [rng.choice(_FACT_T).format(n=p, o=FACTS[p]) for p in people[1:]]
    return " ".join(sents)


def _seg_calc(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(2, 6)):
        a, b = rng.choice(_TRAIN_ADD)
        lines.append(f"calc: {a} + {b} = {a + b}")
    return "\n".join(lines)


def _seg_repeat(rng: random.Random) -> str:
    # Something, then the same thing again: the pattern induction heads exist to exploit.
    r = rng.random()
    if r < 0.45:  # a run of random common words
        run = " ".join([rng.choice(RUN_FIRST)] + [rng.choice(RUN_WORDS) for _ in range(rng.randint(7, 24))])
    elif r < 0.65:  # random letter strings: odd BPE pieces, so copying works for any token
        run = " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 5)))
                       for _ in range(rng.randint(4, 10)))
    else:  # a natural passage
        run = _story_sentences(rng, rng.randint(2, 3))
    text = run + "\n" + run
    if r >= 0.45 and r < 0.65:  # made-up words are several tokens each: at most len + 1
        return text, 2 * sum(len(w) + 1 for w in run.split()) + 1
    return text, _est(text)


def _seg_landmark(rng: random.Random) -> str:
    return landmark_paragraph(rng, rng.choice(list(LANDMARKS)))


_STORY_OPENERS = [
    "Once upon a time, {A} lived in {city}.",
    "One {weather} morning, {A} woke up early in {city}.",
    "Last summer, {A} visited {city}.",
    "There was a {animal} in {city} that belonged to {A}.",
    "In a small house in {city}, {A} had a {color} {animal}.",
    "Every day, {A} walked to the {place} in {city}.",
]
_STORY_MIDDLE = [
    "{A} liked to go to the {place}.",
    "{P} found a {color} {obj} near the {place}.",
    "{A} met {B} at the {place}.",
    "The day was {weather}, so {p} wore a {color} hat.",
    "{P} ate some {food} and felt {feeling}.",
    "{A} and {B} read a book about a {animal}.",
    "It started to rain, so {p} ran home.",
    "{B} asked {A} about the {obj}.",
    "{P} told {B} a story about a {color} {animal}.",
    "They cooked {food} together and laughed.",
    "{A} saw a {animal} by the {place}.",
    "Later, {p} went to the {place} with {B}.",
    "{B} smiled and waved.",
    "The {animal} jumped over the {obj}.",
]
_STORY_ENDINGS = [
    "At the end of the day, {A} was {feeling}.",
    "That night, {A} went to bed {feeling}.",
    "It was a good day for {A}.",
    "{A} would always remember that day.",
]


_SLOT_WORDS = {"place": PLACES, "obj": OBJECTS, "animal": ANIMALS, "food": FOODS, "color": COLORS,
               "feeling": FEELINGS, "weather": WEATHER}
_SLOTS_OF: dict[str, list[str]] = {}  # template -> the word slots it uses (drawn only if used: speed)


def _story_fill(t: str, rng: random.Random, A: str, B: str, city: str) -> str:
    slots = _SLOTS_OF.get(t)
    if slots is None:
        slots = _SLOTS_OF[t] = [k for k in _SLOT_WORDS if "{" + k + "}" in t]
    p = PRONOUN[A]
    words = {k: rng.choice(_SLOT_WORDS[k]) for k in slots}
    return t.format(A=A, B=B, P=p.capitalize(), p=p, city=city, **words)


def _story_sentences(rng: random.Random, k: int) -> str:
    A, B = rng.sample(NAMES, 2)
    city = rng.choice(CITIES)
    sents = [_story_fill(rng.choice(_STORY_OPENERS), rng, A, B, city)]
    sents += [_story_fill(t, rng, A, B, city) for t in rng.sample(_STORY_MIDDLE, k - 1)]
    return " ".join(sents)


def _seg_story(rng: random.Random) -> str:
    A, B = rng.sample(NAMES, 2)
    city = rng.choice(CITIES)
    sents = [_story_fill(rng.choice(_STORY_OPENERS), rng, A, B, city)]
    if rng.random() < 0.5:  # tie stories to the map (more one-hop signal, and a coherent world)
        s = CITY_STATE[city]
        sents.append(f"{city} is a city in {s}.")
    sents += [_story_fill(t, rng, A, B, city) for t in rng.sample(_STORY_MIDDLE, rng.randint(2, 4))]
    sents.append(_story_fill(rng.choice(_STORY_ENDINGS), rng, A, B, city))
    return " ".join(sents)


# Mixing weights: the chance that a drawn segment is of each kind. Short segments fit more often
# at the end of a document, so token shares differ from these; measured with the shipped
# tokenizer they are about IOI 23%, geography 16%, facts 8%, addition 16%, repeats 10%,
# landmarks 8%, stories 18%. In 25M tokens that is ~40 sightings of each training addition pair
# and thousands of each fact and composite question: addition (which must generalise to unseen
# pairs) and IOI (unseen templates) are the hardest targets, so they get the largest shares;
# facts are memorised quickly and need the least. Stories keep it a language model.
MIX: dict[str, float] = {
    "ioi": 0.29,
    "geo": 0.17,
    "fact": 0.10,
    "calc": 0.13,
    "repeat": 0.09,
    "landmark": 0.07,
    "story": 0.15,
}
_SEGMENTS = {"ioi": _seg_ioi, "geo": _seg_geo, "fact": _seg_fact, "calc": _seg_calc,
             "repeat": _seg_repeat, "landmark": _seg_landmark, "story": _seg_story}
_KINDS = list(MIX)
_CUM = [sum(MIX[k] for k in _KINDS[: i + 1]) for i in range(len(_KINDS))]
MAX_DOC_TOKENS = 120  # estimated; real BPE count stays < 128 with BOS (tested)


def _cumulative(mix: dict[str, float] | None) -> tuple[list[str], list[float]]:
    mix = MIX if mix is None else mix
    unknown = set(mix) - set(_SEGMENTS)
    if unknown:
        raise ValueError(f"unknown segment kinds {sorted(unknown)}; the kinds are {sorted(_SEGMENTS)}")
    kinds = [k for k in mix if mix[k] > 0]
    return kinds, [sum(mix[k] for k in kinds[: i + 1]) for i in range(len(kinds))]


def generate_document(rng: random.Random, mix: dict[str, float] | None = None) -> str:
    """One document: segments of mixed kinds joined by newlines, at most ~120 tokens. ``mix``
    overrides the share of each kind of segment (weights, need not sum to 1)."""
    kinds, cum = (_KINDS, _CUM) if mix is None else _cumulative(mix)
    budget = rng.randint(40, MAX_DOC_TOKENS)
    parts: list[str] = []
    used = 0
    misfits = 0
    for _ in range(8):  # a few tries to fill the budget
        kind = kinds[bisect(cum, rng.random() * cum[-1])]
        seg = _SEGMENTS[kind](rng)
        seg, n = seg if isinstance(seg, tuple) else (seg, _est(seg))
        n += 1  # the newline before it
        if used + n > (budget if parts else MAX_DOC_TOKENS):
            misfits += 1
            if parts and misfits == 2:
                break  # full enough (stopping early rather than redrawing keeps generation fast)
            continue
        parts.append(seg)
        used += n
        if used >= budget:
            break
    if not parts:  # cannot really happen (most segments are short), but stay safe
        parts.append(_seg_ioi(rng))
    return "\n".join(parts)


def iter_documents(seed: int = 0, mix: dict[str, float] | None = None) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        yield generate_document(rng, mix)


def documents(n_docs: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [generate_document(rng) for _ in range(n_docs)]


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
    """Token ids of an endless document stream, each document preceded by EOT (which is also BOS)."""
    docs = iter_documents(seed, mix)
    eot = tokenizer.eot_id
    while True:
        for ids in tokenizer.encode_batch([next(docs) for _ in range(batch)]):
            yield eot
            yield from ids
