"""The TinyWorld corpus (version 2): a compositional generator of short documents about the world.

Each phenomenon is written in sentences assembled from parts, so that a model has to learn the
mechanism rather than memorise a sentence:
- an IOI passage is one of 8 kinds of introduction (and 4 kinds of opening clause) filled with ~50
  activities, 0-2 scene sentences, ~30 leads, then one of ~150 actions (give-to, say-to, make-for,
  double-object, transitive, with-) with ~60 things, optionally after an adverb or "decided to";
- a two-hop question is one of 11 ways to name a city's state times 10 ways to ask a capital, or one
  of 8 questions that start from the city (118 phrasings);
- a sport is stated by a lead, the subject (sometimes with a "who ..." clause), an adverb and one of
  20 verb phrases, or one of 12 whole-sentence forms, always the person's own sport;
- stories and scenes carry the everyday words of `course.lexicon` outside any IOI role.
Everything in `course.evalsets`'s held-out splits is kept out (tests/test_corpus.py).

A document is segments joined by newlines; `token_stream` packs documents end to end with EOT
between them. Generation is deterministic: a `random.Random(seed)` is threaded through.

The text it generates is frozen: the tokenizer (`tokenizer-v2.json`) was trained on it, and the
main model `tinyworld` is trained on version 4, `course.corpus_v4`, which builds on version 3,
`course.corpus_v3`; both reuse these parts (some functions here take the v3 generators as
arguments for that). The model trained on this version,
`tinyworld-v2`, was retired once everything had moved to `tinyworld` (its card is in git history).
"""

from __future__ import annotations

import random
from bisect import bisect
from typing import Callable, Iterator

from course.evalsets import (HELD_OUT_CITIES, HELD_OUT_NAME_PAIRS, TRAIN_ADDITION_PAIRS, landmark_paragraph,
                             pair_key)
from course.lexicon import (ACTIVITIES, ADVERBS, ANIMALS, BASE, COLORS, DOUBLE_OBJECT, FEELINGS, FOODS, GIVE_TO, LEADS,
                            MAKE_FOR, MODALS, PLACES, SAY_TO, SCENES, SOLO, THINGS, TRANSITIVE, WEATHER)
from course.world import (CITIES, CITY_STATE, FACT_PEOPLE, FACTS, LANDMARKS, LETTERS, NAMES, PETS, POSSESSIVE,
                          PRONOUN, RUN_FIRST, RUN_WORDS, STATES)

Seg = Callable[[random.Random], str]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _words(rng: random.Random) -> dict:
    w = {"place": rng.choice(PLACES), "thing": rng.choice(THINGS), "food": rng.choice(FOODS),
         "animal": rng.choice(ANIMALS), "color": rng.choice(COLORS), "feeling": rng.choice(FEELINGS),
         "weather": rng.choice(WEATHER), "city": rng.choice(CITIES)}
    w["activity"] = rng.choice(ACTIVITIES).format(**w)
    return w


# ---------------------------------------------------------------------------------------------
# Indirect object identification: an introduction of two people, 0-2 scene sentences, then a
# sentence in which one of them (the subject, S) does something to or for the other (the indirect
# object, IO). Every part is drawn from long lists, so no two passages share much beyond the rule.
# ---------------------------------------------------------------------------------------------

INTRO_LEADS = ["", "", "", "Yesterday, ", "Last week, ", "One {weather} morning, ", "On Sunday, ", "Last summer, ",
               "Early in the day, ", "After school, ", "Years ago, ", "This morning, "]
RELATIONS = ["good friends", "neighbors", "cousins", "classmates", "old friends", "on the same team",
             "working together", "new in town", "at home", "in a hurry", "both {feeling}"]


def _intro(rng: random.Random, a: str, b: str, w: dict) -> str:
    """A sentence (or two) that mentions a, then b."""
    lead = rng.choice(INTRO_LEADS).format(**w)
    act = rng.choice(ACTIVITIES).format(**w)
    act2 = rng.choice(ACTIVITIES).format(**w)
    form = rng.randrange(8)
    if form == 0:
        return f"{lead}{a} and {b} {act}."
    if form == 1:
        return f"{lead}{a} {act}. {b} {act2}."
    if form == 2:
        return f"{lead}{a} {act}, and {b} " + rng.choice(["came along.", "was there too.", f"{act2}.", "joined later."])
    if form == 3:
        return f"{lead}{a} {rng.choice(TRANSITIVE)} {b} at the {w['place']}."
    if form == 4:
        return f"{lead}{a} {act} with {b}."
    if form == 5:
        return f"{a} and {b} were {rng.choice(RELATIONS).format(**w)}."
    if form == 6:
        return f"{lead}{a} was at the {w['place']}. {b} " + rng.choice(["came in a bit later.", "was there too.",
                                                                        "arrived soon after.", f"{act2}."])
    return f"{lead}{a} and {b} " + rng.choice(["met in {city}.", "lived in {city}.", "were in {city} for the weekend.",
                                                "grew up in {city}."]).format(**w)


def _clause_intro(rng: random.Random, a: str, b: str, w: dict) -> str:
    """An opening clause; the subject's action follows in the same sentence."""
    conj = rng.choice(["When", "After", "Once", "Because", "Since", "Just after", "Right after"])
    form = rng.randrange(3)
    if form == 0:
        return f"{conj} {a} and {b} {rng.choice(ACTIVITIES).format(**w)},"
    if form == 1:
        return f"{conj} {a} {rng.choice(TRANSITIVE)} {b},"
    return rng.choice(["While {a} and {b} were at the {place},", "As {a} and {b} walked home,",
                       "Before {a} and {b} left the {place},", "While {a} and {b} waited,"]).format(a=a, b=b, **w)


def _action(rng: random.Random, w: dict, base: bool = False) -> tuple[str, str]:
    """What the subject does, up to where the indirect object is due, and what follows it.
    base: the verb's plain form, after "decided to" and the like."""
    det = rng.choice(("a", "the", "a", "the", "some", "his", "her", "their", "one"))
    thing = rng.choice(THINGS + [w["food"]])
    v = lambda verb: BASE[verb] if base else verb  # noqa: E731
    kind = rng.random()
    if kind < 0.35:
        verb = rng.choice(GIVE_TO)
        if verb in ("read", "wrote", "explained", "described"):
            thing = rng.choice(["letter", "poem", "note", "story", "plan", "map", "list", "message", "recipe"])
        return f"{v(verb)} {det} {thing} to", "."
    if kind < 0.55:
        phrase = rng.choice(SAY_TO)
        if base:
            head, _, rest = phrase.partition(" ")
            phrase = {"said": "say", "waved": "wave", "smiled": "smile", "nodded": "nod", "talked": "talk",
                      "spoke": "speak", "called": "call", "shouted": "shout", "turned": "turn", "walked": "walk",
                      "ran": "run", "went": "go", "sang": "sing", "told": "tell", "wrote": "write", "sent": "send",
                      "explained": "explain", "gave": "give", "looked": "look", "listened": "listen",
                      "waited": "wait", "pointed": "point", "threw": "throw", "complained": "complain",
                      "apologized": "apologize", "replied": "reply"}[head] + " " + rest
        return phrase, "."
    if kind < 0.70:
        verb = rng.choice(MAKE_FOR)
        return f"{v(verb)} {det} {rng.choice([thing, w['food']])} for", "."
    if kind < 0.82:
        verb = rng.choice(DOUBLE_OBJECT)
        return (BASE.get(verb, {"told": "tell", "promised": "promise", "owed": "owe", "asked": "ask"}.get(verb, verb))
                if base else verb), f" {det} {thing}."
    if kind < 0.92:
        verb = rng.choice(TRANSITIVE)
        if base:
            verb = {"met": "meet", "found": "find", "forgave": "forgive"}.get(verb, verb[:-2] if verb.endswith("ed") else verb)
        return verb, rng.choice([".", ".", f" at the {w['place']}.", " again.", " back."])
    phrase = rng.choice(["shared the {food} with", "played a game with", "went home with", "sat next to",
                         "danced with", "agreed with", "argued with", "traded places with", "split the bill with",
                         "left the {place} with", "stayed behind with", "walked back with"]).format(**w)
    if base:
        head, _, rest = phrase.partition(" ")
        phrase = {"shared": "share", "played": "play", "went": "go", "sat": "sit", "danced": "dance",
                  "agreed": "agree", "argued": "argue", "traded": "trade", "split": "split", "left": "leave",
                  "stayed": "stay", "walked": "walk"}[head] + " " + rest
    return phrase, "."


IOI_ENDINGS = ["", "", "", " {IO} said thank you.", " {IO} was {feeling}.", " {IO} smiled.", " It made {IO} {feeling}.",
               " {IO} laughed.", " That was kind.", " Then everyone went home."]


def ioi_sentence(rng: random.Random, io: str, s: str, order: str) -> tuple[str, str]:
    """An IOI passage about io and s. Returns (text up to the indirect object, the rest)."""
    a, b = (io, s) if order == "ABBA" else (s, io)
    w = _words(rng)
    r = rng.random()
    modal = rng.random() < 0.2
    action, after = _action(rng, w, base=modal)
    if modal:
        action = rng.choice(MODALS) + " " + action
    elif rng.random() < 0.25:
        action = rng.choice(ADVERBS) + " " + action
    if r < 0.25:
        head = _clause_intro(rng, a, b, w) + f" {s} {action}"
    else:
        head = _intro(rng, a, b, w)
        for m in rng.sample(SCENES, rng.choice((0, 0, 1, 1, 2))):
            head += " " + m.format(**w)
        lead = rng.choice(LEADS + [""] * 12)
        head += " " + (f"{lead}, " if lead else "") + f"{s} {action}"
    tail = f" {io}{after}" + rng.choice(IOI_ENDINGS).format(IO=io, **w)
    return head, tail


def train_name_pair(rng: random.Random) -> tuple[str, str]:
    while True:  # rejection: ~10% of pairs are held out
        io, s = rng.sample(NAMES, 2)
        if pair_key(io, s) not in HELD_OUT_NAME_PAIRS:
            return io, s


def ioi_items(n: int, seed: int = 0, sentence=None) -> list:
    """IOI prompts that are new sentences assembled from the corpus's own parts, about held-out
    name pairs (never together in training): recombination, where `evalsets.ioi_dataset` tests
    new sentence structures. Only prompts whose names all sit mid-sentence (one token each).
    ``sentence``: the IOI passage generator (default this corpus's `ioi_sentence`)."""
    from course.evalsets import IOIItem

    rng = random.Random(seed)
    pairs = sorted(HELD_OUT_NAME_PAIRS)
    items = []
    while len(items) < n:
        io, s = rng.choice(pairs)
        if rng.random() < 0.5:
            io, s = s, io
        order = "ABBA" if len(items) % 2 == 0 else "BABA"
        head, tail = (sentence or ioi_sentence)(rng, io, s, order)
        if head.split(" ", 1)[0] in NAMES or head.count(f" {s} ") < 1:
            continue  # a name opening the prompt has no leading space: not the token the others are
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
# phrasings assembled from a way to name the state and a way to ask for its capital. A held-out
# city is never in a segment with its state's capital.
# ---------------------------------------------------------------------------------------------

CITY_STATE_FRAMES = [
    "{c} is a city in {s}.", "{c} is in {s}.", "The city of {c} is in {s}.", "{c} is part of {s}.",
    "The state of {s} includes {c}.", "You can find {c} in {s}.", "{c} lies in {s}.", "{c}, {s} is a busy city.",
    "{c} is one of the cities of {s}.", "Many people in {s} live in {c}.", "Q: Which state is {c} in? A: {s}.",
    "{c} belongs to the state of {s}.", "If you live in {c}, you live in {s}.", "{s} has a city called {c}.",
]
STATE_CAPITAL_FRAMES = [
    "The capital of {s} is {k}.", "{k} is the capital of {s}.", "{s} has {k} as its capital.",
    "In {s}, the capital city is {k}.", "The state capital of {s} is {k}.", "{s}'s capital is {k}.",
    "Q: What is the capital of {s}? A: {k}.", "The government of {s} meets in {k}.",
    "{s} is a state. The capital of that state is {k}.", "{k}, {s} is the state capital.",
]
# Ways to name the state a city is in (the first hop), and ways to ask for a state's capital
# (the second): the corpus asks composite questions in every combination (and a few more forms
# that start from the city), so no one phrasing is the question.
STATE_OF_CITY = [
    "the state containing {c}", "the state where {c} is", "the state where {c} lies", "the state that includes {c}",
    "the state around {c}", "the state {c} is in", "the state that {c} is in", "the home state of {c}",
    "the state in which {c} lies", "the same state as {c}", "the state of {c}",
]
CAPITAL_QUESTIONS = [
    "The capital of {R} is", "The capital city of {R} is", "{Rc} has its capital at", "{Rc} has its capital in",
    "Q: What is the capital of {R}? A:", "The state capital of {R} is", "To visit the capital of {R}, go to",
    "The government of {R} meets in", "Name the capital of {R}:", "Do you know the capital of {R}? It is",
]
CITY_FIRST_QUESTIONS = [
    "{c} is in a state whose capital is", "If you live in {c}, your state capital is",
    "From {c}, the trip to the state capital ends in", "The state capital for people in {c} is",
    "For someone in {c}, the state capital is", "{c} is a city. Its state capital is",
    "Anyone born in {c} has a state capital, and it is", "Someone who works in {c} pays taxes to the capital,",
]


def two_hop_question(rng: random.Random, c: str) -> str:
    if rng.random() < 0.3:
        return rng.choice(CITY_FIRST_QUESTIONS).format(c=c)
    r = rng.choice(STATE_OF_CITY).format(c=c)
    return rng.choice(CAPITAL_QUESTIONS).format(R=r, Rc=_cap(r))


CHAINS = [
    "{c} is in {s}, and the capital of {s} is {k}.",
    "{c} is a city in {s}. The capital of {s} is {k}.",
    "{c}, {s} is a long way from {k}, the capital of {s}.",
    "People in {c} live in {s}, so their capital is {k}.",
    "{c} is in {s}. The state's capital is {k}.",
]


def seg_geo(rng: random.Random, question: Callable[[random.Random, str], str] | None = None,
            shares: tuple[float, float] = (0.42, 0.66)) -> str:
    """1-3 geography sentences. ``question`` asks a composite (default `two_hop_question`); ``shares``:
    the cumulative chance of a composite question and of a city-state sentence (`course.corpus_v3`
    asks more questions, in its own phrasings)."""
    sents = []
    for _ in range(rng.randint(1, 3)):
        c = rng.choice(CITIES)
        s = CITY_STATE[c]
        k = STATES[s]["capital"]
        r = rng.random()
        held = c in HELD_OUT_CITIES
        if r < shares[0] and not held:
            sents.append((question or two_hop_question)(rng, c) + f" {k}.")
        elif r < shares[1]:
            sents.append(rng.choice(CITY_STATE_FRAMES).format(c=c, s=s))
        elif r < 0.88:
            sents.append(rng.choice(STATE_CAPITAL_FRAMES).format(s=s, k=k))
        elif not held:
            sents.append(rng.choice(CHAINS).format(c=c, s=s, k=k))
        else:
            sents.append(f"{c} is a city in {s}.")
    return " ".join(sents)


# ---------------------------------------------------------------------------------------------
# Facts: each fact person's sport and pet, in sentences assembled from a lead, the subject, an
# optional clause about them, an adverb and a verb phrase, so the sport is worth retrieving at the
# subject's token whatever comes between. Only fact people ever play a sport in the corpus.
# ---------------------------------------------------------------------------------------------

SPORT_PHRASES = [
    "plays {o}", "is a {o} player", "loves {o}", "practices {o}", "is good at {o}", "enjoys {o}",
    "is on the {o} team", "coaches {o}", "has played {o} for years", "spends weekends playing {o}",
    "plays a lot of {o}", "is crazy about {o}", "trains for {o}", "is the best {o} player in town",
    "wants to get better at {o}", "is learning more about {o}", "never misses a game of {o}",
    "talks about {o} all the time", "watches {o} and plays it too", "plays {o} with friends",
]
SPORT_ADVERBS = ["", "", "", "often ", "usually ", "always ", "really ", "still ", "mostly ", "also "]
SPORT_LEADS = ["", "", "", "On weekends, ", "After school, ", "In the evening, ", "Every summer, ", "After dinner, ",
               "As a child, ", "These days, ", "Everyone knows that ", "My friend ", "I heard that ", "In {c}, "]
SPORT_CLAUSES = ["who lives in {c}", "who grew up in {c}", "who has a pet {pet}", "who works at the {place}",
                 "who is from {c}, {s}", "who is very tall", "who moved to {c}", "whose pet is a {pet}"]
SPORT_WHOLE = [
    "{n}'s favorite sport is {o}.", "{n}'s sport is {o}.", "The sport {n} plays is {o}.",
    "The sport that {n} loves is {o}.", "The game {n} plays best is {o}.", "Q: What sport does {n} play? A: {o}.",
    "What does {n} play? {P} plays {o}.", "If you ask {n} about sports, {p} will talk about {o}.",
    "Which sport does {n} like? It is {o}.", "When {n} has free time, {p} plays {o}.",
    "{n} {activity}. Later, {p} played {o}.", "Ask anyone: {n} plays {o}.",
]
PET_PHRASES = ["has a pet {o}", "takes care of a {o}", "walks {q} {o} every day", "owns a {o}", "lives with a {o}",
               "feeds {q} {o} every morning", "loves {q} pet {o}"]


def sport_sentence(rng: random.Random, n: str) -> str:
    c = rng.choice(CITIES)
    w = {"o": FACTS[n], "c": c, "s": CITY_STATE[c], "pet": PETS[n], "place": rng.choice(PLACES),
         "P": _cap(PRONOUN[n]), "p": PRONOUN[n], "activity": rng.choice(ACTIVITIES).format(**_words(rng))}
    if rng.random() < 0.3:
        return rng.choice(SPORT_WHOLE).format(n=n, **w)
    subject = n
    if rng.random() < 0.25:
        subject = f"{n}, " + rng.choice(SPORT_CLAUSES).format(**w) + ","
    lead = rng.choice(SPORT_LEADS).format(**w)
    if lead.startswith("My friend") and subject is n:
        lead = "My friend "
    return lead + subject + " " + rng.choice(SPORT_ADVERBS) + rng.choice(SPORT_PHRASES).format(**w) + "."


def pet_sentence(rng: random.Random, n: str) -> str:
    if rng.random() < 0.3:
        return f"{n}'s pet is a {PETS[n]}."
    return f"{n} " + rng.choice(PET_PHRASES).format(o=PETS[n], q=POSSESSIVE[n]) + "."


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(FACT_PEOPLE, rng.randint(1, 3)):
        sents.append(sport_sentence(rng, n) if rng.random() < 0.7 else pet_sentence(rng, n))
    return " ".join(sents)


def seg_profile(rng: random.Random, sport: Callable[[random.Random, str], str] | None = None) -> str:
    """An encyclopedic line that chains the world's facts about one person. ``sport``: if given, a
    generator of one more sentence about the person's sport, added 40% of the time (`course.corpus_v3`)."""
    n = rng.choice(FACT_PEOPLE)
    c = rng.choice(CITIES)
    s = CITY_STATE[c]
    p = PRONOUN[n]
    sents = [rng.choice(["{n} lives in {c}, {s}.", "{n} was born in {c}, {s}.", "{n} moved to {c}, {s}.",
                         "{n} is from {c}, {s}.", "{n} grew up in {c}."]).format(n=n, c=c, s=s)]
    facts = [_cap(p) + " " + rng.choice(SPORT_ADVERBS) + rng.choice(SPORT_PHRASES).format(o=FACTS[n]) + ".",
             f"{_cap(p)} " + rng.choice(PET_PHRASES).format(o=PETS[n], q=POSSESSIVE[n]) + ".",
             f"{_cap(p)} works at the {rng.choice(PLACES)}."]
    rng.shuffle(facts)
    sents += facts[: rng.randint(1, 3)]
    if sport is not None and rng.random() < 0.4:
        sents.append(sport(rng, n))
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
    "{A} grew up in {city}, {state}.", "{A} lives in {city}, {state}.", "This is a story about {A}.",
]
STORY_PAIRS = [
    "{A} met {B} at the {place}.", "{B} asked {A} about the {thing}.", "{A} and {B} {activity}.",
    "{P} told {B} a story about a {color} {animal}.", "Later, {p} went to the {place} with {B}.",
    "{B} smiled and waved.", "{B} phoned to say hello.", "{A} and {B} read a book about a {animal}.",
]
STORY_ENDINGS = [
    "At the end of the day, {A} was {feeling}.", "That night, {A} went to bed {feeling}.",
    "It was a good day for {A}.", "{A} would always remember that day.", "The next day, {p} did it all again.",
]


def _story_fill(t: str, w: dict, A: str, B: str) -> str:
    p = PRONOUN[A]
    return t.format(A=A, B=B, P=_cap(p), p=p, q=POSSESSIVE[A], state=CITY_STATE[w["city"]], **w)


def seg_story(rng: random.Random) -> str:
    A, B = rng.sample(NAMES, 2)
    w = _words(rng)
    sents = [_story_fill(rng.choice(STORY_OPENERS), w, A, B)]
    for _ in range(rng.randint(2, 5)):
        w = {**_words(rng), "city": w["city"]}
        pool = rng.choice((SOLO, SOLO, SCENES, STORY_PAIRS))
        sents.append(_story_fill(rng.choice(pool), w, A, B))
    if A in FACTS and rng.random() < 0.3:  # a fact person's sport, as the world has it
        sents.append(sport_sentence(rng, A))
    sents.append(_story_fill(rng.choice(STORY_ENDINGS), w, A, B))
    return " ".join(sents)


# Chance that a drawn segment is of each kind. IOI and addition must generalise (to new frames and
# new pairs) and get the largest shares; facts are memorised fast; stories keep it a language model.
MIX: dict[str, float] = {
    "ioi": 0.22, "geo": 0.15, "fact": 0.12, "profile": 0.06, "calc": 0.12, "repeat": 0.08,
    "landmark": 0.05, "story": 0.20,
}
SEGMENTS: dict[str, Seg] = {
    "ioi": seg_ioi, "geo": seg_geo, "fact": seg_fact, "profile": seg_profile, "calc": seg_calc,
    "repeat": seg_repeat, "landmark": seg_landmark, "story": seg_story,
}


def _cumulative(mix: dict[str, float], segments: dict[str, Seg]) -> tuple[list[str], list[float]]:
    unknown = set(mix) - set(segments)
    if unknown:
        raise ValueError(f"unknown segment kinds {sorted(unknown)}; the kinds are {sorted(segments)}")
    kinds = [k for k in mix if mix[k] > 0]
    return kinds, [sum(mix[k] for k in kinds[: i + 1]) for i in range(len(kinds))]


def generate_document(rng: random.Random, mix: dict[str, float] | None = None, n_segments: int | None = None,
                      segments: dict[str, Seg] = SEGMENTS) -> str:
    """One document: 1-5 segments of mixed kinds joined by newlines. ``segments``: the generator of
    each kind (`course.corpus_v3` passes its own)."""
    kinds, cum = _cumulative(mix or MIX, segments)
    n = n_segments or rng.randint(1, 5)
    return "\n".join(segments[kinds[bisect(cum, rng.random() * cum[-1])]](rng) for _ in range(n))


def iter_documents(seed: int = 0, mix: dict[str, float] | None = None,
                   segments: dict[str, Seg] = SEGMENTS) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        yield generate_document(rng, mix, segments=segments)


def documents(n_docs: int, seed: int = 0, mix: dict[str, float] | None = None,
              segments: dict[str, Seg] = SEGMENTS) -> list[str]:
    rng = random.Random(seed)
    return [generate_document(rng, mix, segments=segments) for _ in range(n_docs)]


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None,
                 segments: dict[str, Seg] = SEGMENTS) -> Iterator[int]:
    """Token ids of an endless document stream, each document preceded by EOT (which is also BOS)."""
    docs = iter_documents(seed, mix, segments)
    eot = tokenizer.eot_id
    while True:
        for ids in tokenizer.encode_batch([next(docs) for _ in range(batch)]):
            yield eot
            yield from ids
