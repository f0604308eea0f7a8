"""The TinyWorld corpus (version 2): a compositional generator of short documents about the world.

Each phenomenon is written in many frames assembled from parts (openings, middles, actions, leads,
endings), so that a model has to learn the mechanism rather than memorise a sentence: an IOI
sentence is one of ~25 ways to introduce two people, times 0-2 middle sentences, times ~8 leads,
times ~30 actions; facts and two-hop questions come in many phrasings, with the subject early and
the relation later. Everything in `course.evalsets`'s held-out splits is kept out (tested).

A document is segments joined by newlines; `token_stream` packs documents end to end with EOT
between them. Generation is deterministic: a `random.Random(seed)` is threaded through.
"""

from __future__ import annotations

import random
from bisect import bisect
from typing import Callable, Iterator

from course.evalsets import (HELD_OUT_CITIES, HELD_OUT_NAME_PAIRS, TRAIN_ADDITION_PAIRS,
                             TWO_HOP_TRAIN_PHRASINGS, landmark_paragraph, pair_key)
from course.world import (ANIMALS, CITIES, CITY_STATE, COLORS, FACT_PEOPLE, FACTS, FEELINGS, FOODS, LANDMARKS,
                          LETTERS, NAMES, OBJECTS, PETS, PLACES, POSSESSIVE, PRONOUN, RUN_FIRST, RUN_WORDS, SPORTS,
                          STATES, WEATHER)

Seg = Callable[[random.Random], str]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _words(rng: random.Random) -> dict:
    return {"place": rng.choice(PLACES), "obj": rng.choice(OBJECTS), "food": rng.choice(FOODS),
            "animal": rng.choice(ANIMALS), "color": rng.choice(COLORS), "feeling": rng.choice(FEELINGS),
            "weather": rng.choice(WEATHER), "city": rng.choice(CITIES), "sport": rng.choice(SPORTS)}


# ---------------------------------------------------------------------------------------------
# Indirect object identification: opening (two people) + middle + lead + action + ending.
# ---------------------------------------------------------------------------------------------

# Openings that end in a full stop (a middle and a lead may follow) ...
IOI_OPENINGS = [
    "{A} and {B} went to the {place}.", "{A} and {B} spent the afternoon at the {place}.",
    "{A} and {B} had lunch at the {place}.", "Yesterday, {A} and {B} visited the {place}.",
    "{A} and {B} were in {city} for the weekend.", "Last week, {A} and {B} drove to {city}.",
    "Both {A} and {B} worked at the {place}.", "{A} and {B} met up in {city}.",
    "{A} and {B} walked around the {place} for a while.", "One {weather} morning, {A} and {B} left for the {place}.",
    "{A} was at the {place}. {B} came in a bit later.", "{A} went to the {place}. {B} was there too.",
    "{A} lived in {city}. {B} lived there as well.", "{A} got up early. Soon {B} woke up too.",
    "{A} sat in the {place}, and {B} sat down nearby.", "{A} went to the {place} with {B}.",
    "{A} met {B} at the {place}.", "{A} ran into {B} near the {place}.", "{A} visited {B} in {city}.",
    "{A} and {B} were good friends.", "{A} waited for {B} at the {place}.",
]
# ... and openings that are a clause: the action follows in the same sentence.
IOI_CLAUSES = [
    "When {A} and {B} went to the {place},", "After {A} and {B} arrived at the {place},",
    "While {A} and {B} were at the {place},", "Once {A} and {B} got to the {place},",
    "As {A} and {B} walked to the {place},", "Before {A} and {B} left the {place},",
    "When {A} met {B} at the {place},", "After {A} and {B} got back from {city},",
]
IOI_MIDDLES = [
    "It was a {weather} day.", "They talked about the {obj}.", "They both felt {feeling}.",
    "The {place} was very busy.", "They looked at a {color} {animal}.", "Then they had some {food}.",
    "A {animal} walked by.", "They stayed for an hour.", "Nobody else was there.",
    "They laughed about an old story.",
]
IOI_LEADS = ["", "", "Then ", "Later, ", "After a while, ", "Soon ", "In the end, ", "Finally, ", "Afterwards, ",
             "That evening, "]
# Actions with the indirect object after a preposition; {det} is "a" or "the".
IOI_ACTIONS_TO = [
    "gave {det} {obj} to", "handed {det} {obj} to", "passed {det} {obj} to", "threw {det} {obj} to",
    "brought {det} {obj} to", "offered {det} {obj} to", "sent {det} {obj} to", "showed {det} {obj} to",
    "lent {det} {obj} to", "sold {det} {obj} to", "tossed {det} {obj} to", "returned the {obj} to",
    "gave some {food} to", "read a story to", "sang a song to", "said goodbye to", "waved to", "smiled at",
    "wrote a letter to", "told a joke to", "talked to", "made {food} for", "bought {det} {obj} for",
    "cooked {food} for", "quickly gave {det} {obj} to", "happily handed {det} {obj} to",
]
IOI_MODAL = ["decided to", "wanted to", "tried to", "forgot to", "had to"]
IOI_BASE_TO = ["give {det} {obj} to", "hand {det} {obj} to", "pass {det} {obj} to", "send {det} {obj} to",
               "show {det} {obj} to", "bring {det} {obj} to", "say goodbye to", "talk to"]
# Double-object actions: the indirect object follows the verb at once.
IOI_ACTIONS_DOUBLE = ["gave", "handed", "passed", "threw", "sent", "showed", "offered", "brought"]
IOI_ENDINGS = ["", "", "", " {IO} said thank you.", " {IO} was {feeling}.", " {IO} smiled.",
               " It made {IO} {feeling}."]


def ioi_sentence(rng: random.Random, io: str, s: str, order: str) -> tuple[str, str]:
    """An IOI passage about io and s. Returns (text up to the indirect object, the rest)."""
    a, b = (io, s) if order == "ABBA" else (s, io)
    w = _words(rng)
    det = rng.choice(("a", "the"))
    r = rng.random()
    if r < 0.15:
        action = rng.choice(IOI_MODAL) + " " + rng.choice(IOI_BASE_TO)
    else:
        action = rng.choice(IOI_ACTIONS_TO)
    double = rng.random() < 0.15
    if double:
        action = rng.choice(IOI_ACTIONS_DOUBLE)
    action = action.format(det=det, **w)
    if rng.random() < 0.3:
        head = rng.choice(IOI_CLAUSES).format(A=a, B=b, **w) + f" {s} {action}"
    else:
        head = rng.choice(IOI_OPENINGS).format(A=a, B=b, **w)
        for m in rng.sample(IOI_MIDDLES, rng.choice((0, 0, 1, 1, 2))):
            head += " " + m.format(**w)
        head += " " + rng.choice(IOI_LEADS) + f"{s} {action}"
    tail = f" {io}" + (f" {det} {w['obj']}." if double else ".")
    tail += rng.choice(IOI_ENDINGS).format(IO=io, **w)
    return head, tail


def train_name_pair(rng: random.Random) -> tuple[str, str]:
    while True:  # rejection: ~10% of pairs are held out
        io, s = rng.sample(NAMES, 2)
        if pair_key(io, s) not in HELD_OUT_NAME_PAIRS:
            return io, s


def ioi_items(n: int, seed: int = 0) -> list:
    """IOI prompts that are new sentences assembled from the corpus's own parts, about held-out
    name pairs (never together in training): recombination, where `evalsets.ioi_dataset` tests
    new sentence structures. Only prompts whose names all sit mid-sentence (one token each)."""
    from course.evalsets import IOIItem

    rng = random.Random(seed)
    pairs = sorted(HELD_OUT_NAME_PAIRS)
    items = []
    while len(items) < n:
        io, s = rng.choice(pairs)
        if rng.random() < 0.5:
            io, s = s, io
        order = "ABBA" if len(items) % 2 == 0 else "BABA"
        head, tail = ioi_sentence(rng, io, s, order)
        if not tail.startswith(f" {io}") or head.split(" ", 1)[0] in NAMES:
            continue  # a double-object action puts IO elsewhere; a name opening the prompt is several tokens
        c = rng.choice([x for x in NAMES if x not in (io, s) and x not in head])
        cut = head.rindex(f" {s} ")
        items.append(IOIItem(prompt=head, answer=" " + io, subject=" " + s, io=io, s=s,
                             corrupted_prompt=head[:cut] + f" {io} " + head[cut + len(s) + 2:], corrupted_answer=" " + s,
                             abc_prompt=head[:cut] + f" {c} " + head[cut + len(s) + 2:], c=c, template=-1, order=order,
                             place="", obj=""))
    return items


def seg_ioi(rng: random.Random) -> str:
    io, s = train_name_pair(rng)
    head, tail = ioi_sentence(rng, io, s, rng.choice(("ABBA", "BABA")))
    return head + tail


# ---------------------------------------------------------------------------------------------
# Geography: city -> state, state -> capital, and composite (two-hop) questions, each in many
# phrasings. A held-out city is never in a segment with its state's capital.
# ---------------------------------------------------------------------------------------------

CITY_STATE_FRAMES = [
    "{c} is a city in {s}.", "{c} is in {s}.", "The city of {c} is in {s}.", "{c} is part of {s}.",
    "The state of {s} includes {c}.", "You can find {c} in {s}.", "{c} lies in {s}.",
]
STATE_CAPITAL_FRAMES = [
    "The capital of {s} is {k}.", "{k} is the capital of {s}.", "{s} has {k} as its capital.",
    "In {s}, the capital city is {k}.", "The state capital of {s} is {k}.",
]
CHAINS = [
    "{c} is in {s}, and the capital of {s} is {k}.",
    "{c} is a city in {s}. The capital of {s} is {k}.",
    "{c}, {s} is a long way from {k}, the capital of {s}.",
]


def seg_geo(rng: random.Random) -> str:
    sents = []
    for _ in range(rng.randint(1, 3)):
        c = rng.choice(CITIES)
        s = CITY_STATE[c]
        k = STATES[s]["capital"]
        r = rng.random()
        held = c in HELD_OUT_CITIES
        if r < 0.40 and not held:
            sents.append(rng.choice(TWO_HOP_TRAIN_PHRASINGS).format(c=c) + f" {k}.")
        elif r < 0.65:
            sents.append(rng.choice(CITY_STATE_FRAMES).format(c=c, s=s))
        elif r < 0.88:
            sents.append(rng.choice(STATE_CAPITAL_FRAMES).format(s=s, k=k))
        elif not held:
            sents.append(rng.choice(CHAINS).format(c=c, s=s, k=k))
        else:
            sents.append(f"{c} is a city in {s}.")
    return " ".join(sents)


# ---------------------------------------------------------------------------------------------
# Facts: each fact person's sport and pet, stated in many frames, the subject often early and the
# relation later, so the attribute is worth retrieving at the subject's token.
# ---------------------------------------------------------------------------------------------

SPORT_FRAMES = [
    "{n} plays {o}.", "{n} plays {o} every week.", "My friend {n} plays {o}.", "On weekends, {n} plays {o}.",
    "Everyone knows that {n} plays {o}.", "{n} is a {o} player.", "{n}'s favorite sport is {o}.",
    "{n}, who lives in {c}, plays {o}.", "{n}, who grew up in {c}, often plays {o}.",
    "{n} loves to play {o}.", "{n} practices {o} after school.", "{n} spent the whole day playing {o}.",
    "In {c}, {n} plays {o} with friends.", "{n} has played {o} for years.", "{n} is very good at {o}.",
    "{n} watched a game and then played {o}.",
]
PET_FRAMES = ["{n} has a pet {o}.", "{n}'s pet is a {o}.", "{n} takes care of a {o}.", "{n} walks {q} {o} every day."]
PRONOUN_SPORT = ["{P} plays {o}.", "{P} is a {o} player.", "{P} loves {o}.", "On weekends, {p} plays {o}."]


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(FACT_PEOPLE, rng.randint(1, 3)):
        c = rng.choice(CITIES)
        if rng.random() < 0.7:
            sents.append(rng.choice(SPORT_FRAMES).format(n=n, o=FACTS[n], c=c))
        else:
            sents.append(rng.choice(PET_FRAMES).format(n=n, o=PETS[n], q=POSSESSIVE[n]))
    return " ".join(sents)


def seg_profile(rng: random.Random) -> str:
    """An encyclopedic line that chains the world's facts about one person."""
    n = rng.choice(FACT_PEOPLE)
    c = rng.choice(CITIES)
    s = CITY_STATE[c]
    p = PRONOUN[n]
    sents = [rng.choice(["{n} lives in {c}, {s}.", "{n} was born in {c}, {s}.", "{n} moved to {c}, {s}."])
             .format(n=n, c=c, s=s)]
    facts = [rng.choice(PRONOUN_SPORT).format(P=_cap(p), p=p, o=FACTS[n]),
             f"{_cap(p)} has a pet {PETS[n]}.",
             f"{_cap(p)} works at the {rng.choice(PLACES)}."]
    rng.shuffle(facts)
    sents += facts[: rng.randint(1, 3)]
    if c not in HELD_OUT_CITIES and rng.random() < 0.3:
        sents.append(f"The capital of {s} is {STATES[s]['capital']}.")
    return " ".join(sents)


# ---------------------------------------------------------------------------------------------
# Addition, repeats (for induction), landmarks and stories
# ---------------------------------------------------------------------------------------------


def seg_calc(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(3, 7)):
        a, b = rng.choice(TRAIN_ADDITION_PAIRS)
        lines.append(f"calc: {a} + {b} = {a + b}")
    return "\n".join(lines)


def seg_repeat(rng: random.Random) -> str:
    # Something, then the same thing again: the pattern induction heads exist to exploit.
    r = rng.random()
    if r < 0.45:  # a run of random common words
        run = " ".join([rng.choice(RUN_FIRST)] + [rng.choice(RUN_WORDS) for _ in range(rng.randint(7, 24))])
    elif r < 0.65:  # random letter strings: odd BPE pieces, so copying works for any token
        run = " ".join("".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 5)))
                       for _ in range(rng.randint(4, 10)))
    else:  # a natural passage
        run = seg_story(rng)
    return run + "\n" + run


def seg_landmark(rng: random.Random) -> str:
    return landmark_paragraph(rng, rng.choice(list(LANDMARKS)))


STORY_OPENERS = [
    "Once upon a time, {A} lived in {city}.", "One {weather} morning, {A} woke up early in {city}.",
    "Last summer, {A} visited {city}.", "There was a {animal} in {city} that belonged to {A}.",
    "In a small house in {city}, {A} had a {color} {animal}.", "Every day, {A} walked to the {place} in {city}.",
    "{A} grew up in {city}, {state}.",
]
STORY_MIDDLES = [
    "{A} liked to go to the {place}.", "{P} found a {color} {obj} near the {place}.",
    "{A} met {B} at the {place}.", "The day was {weather}, so {p} wore a {color} hat.",
    "{P} had some {food} and felt {feeling}.", "{A} and {B} read a book about a {animal}.",
    "It started to rain, so {p} ran home.", "{B} asked {A} about the {obj}.",
    "{P} told {B} a story about a {color} {animal}.", "They cooked {food} together and laughed.",
    "{A} saw a {animal} by the {place}.", "Later, {p} went to the {place} with {B}.", "{B} smiled and waved.",
    "The {animal} jumped over the {obj}.", "{A} read the newspaper in the kitchen.",
    "{P} made some toast and a cup of tea.", "{B} phoned to say hello.",
    "{P} dried {q} hands with a towel.", "{A} kept a secret from everyone.", "{P} wrote a postcard to a cousin.",
    "At school, {p} sat at a desk by the window.", "{P} drew a {animal} with a pencil.",
    # Known flaw, kept so the shipped model stays reproducible from this text: the next sentence
    # gives fact people random sports, against their FACTS. Fix it with the next corpus version.
    "{A} and {B} played {sport} in the {place}.", "A small kitten was sleeping in the sun.",
    "It rained all day, and the streets were wet.", "{A} was hungry, so {p} had {food}.",
]
STORY_ENDINGS = [
    "At the end of the day, {A} was {feeling}.", "That night, {A} went to bed {feeling}.",
    "It was a good day for {A}.", "{A} would always remember that day.",
]


def _story_fill(t: str, w: dict, A: str, B: str) -> str:
    p = PRONOUN[A]
    return t.format(A=A, B=B, P=_cap(p), p=p, q=POSSESSIVE[A], state=CITY_STATE[w["city"]], **w)


def seg_story(rng: random.Random) -> str:
    A, B = rng.sample(NAMES, 2)
    w = _words(rng)
    sents = [_story_fill(rng.choice(STORY_OPENERS), w, A, B)]
    for t in rng.sample(STORY_MIDDLES, rng.randint(2, 4)):
        w = {**_words(rng), "city": w["city"]}
        sents.append(_story_fill(t, w, A, B))
    sents.append(_story_fill(rng.choice(STORY_ENDINGS), w, A, B))
    return " ".join(sents)


# Chance that a drawn segment is of each kind. IOI and addition must generalise (to new frames and
# new pairs) and get the largest shares; facts are memorised fast; stories keep it a language model.
MIX: dict[str, float] = {
    "ioi": 0.24, "geo": 0.14, "fact": 0.09, "profile": 0.06, "calc": 0.15, "repeat": 0.09,
    "landmark": 0.06, "story": 0.17,
}
SEGMENTS: dict[str, Seg] = {
    "ioi": seg_ioi, "geo": seg_geo, "fact": seg_fact, "profile": seg_profile, "calc": seg_calc,
    "repeat": seg_repeat, "landmark": seg_landmark, "story": seg_story,
}


def _cumulative(mix: dict[str, float]) -> tuple[list[str], list[float]]:
    unknown = set(mix) - set(SEGMENTS)
    if unknown:
        raise ValueError(f"unknown segment kinds {sorted(unknown)}; the kinds are {sorted(SEGMENTS)}")
    kinds = [k for k in mix if mix[k] > 0]
    return kinds, [sum(mix[k] for k in kinds[: i + 1]) for i in range(len(kinds))]


def generate_document(rng: random.Random, mix: dict[str, float] | None = None, n_segments: int | None = None) -> str:
    """One document: 1-5 segments of mixed kinds joined by newlines."""
    kinds, cum = _cumulative(mix or MIX)
    n = n_segments or rng.randint(1, 5)
    return "\n".join(SEGMENTS[kinds[bisect(cum, rng.random() * cum[-1])]](rng) for _ in range(n))


def iter_documents(seed: int = 0, mix: dict[str, float] | None = None) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        yield generate_document(rng, mix)


def documents(n_docs: int, seed: int = 0, mix: dict[str, float] | None = None) -> list[str]:
    rng = random.Random(seed)
    return [generate_document(rng, mix) for _ in range(n_docs)]


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
    """Token ids of an endless document stream, each document preceded by EOT (which is also BOS)."""
    docs = iter_documents(seed, mix)
    eot = tokenizer.eot_id
    while True:
        for ids in tokenizer.encode_batch([next(docs) for _ in range(batch)]):
            yield eot
            yield from ids
