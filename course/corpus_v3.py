"""The TinyWorld corpus, version 3: what `tinyworld` is trained on. It keeps version 2's world,
vocabulary and most of its parts (`course.corpus`, which the tokenizer and the retired model
`tinyworld-v2` were trained on, and which stays byte for byte as it was)
and rebuilds the three places where a model trained on version 2 learned frames instead of rules:

- Facts. Version 2 asked a person's sport in a few whole-sentence forms, and its stories said
  "{A} tried hard to get better at drawing" about the very people whose sport it states elsewhere,
  so "{n} trains hard to get better at" was answered "drawing", as the text had taught. Here a sport
  is asked in six families of frames, each with slots (what the sport is called, the verb, a
  modifier, who asks and how the answer comes), and stories no longer give a fact person a hobby in
  a sport's place.
- Two-hop questions: more ways to point at the city's state (two sentences, "that state", "their
  state"), who asks, and a modifier slot.
- IOI: openings with a place or a reason, a shared object introduced first and handed over later.

And in each of the three, a share of the sentences is written with random common words around the
cue words (`_noise`), the way `course.tinyworld_models.with_random_repeats` fills rows with random
runs for induction: whatever the words, the answer is the same, so a frame cannot be memorised in
place of the rule.

Everything `course.evalsets` holds out, its held-out phrasings and frames and its validation ones
alike, is rejected at generation time (`_allowed`). The slots also leave out the one word that would
turn a held-out phrasing into a recombination of trained parts ("most" in "The sport that {n} enjoys
most is", "trains" before "hard to get better at", "their state's capital", "{c} lies in a state."),
so the held-out phrasings stay new structures.
"""

from __future__ import annotations

import random
import re
from typing import Iterator

from course import corpus as base
from course.corpus import _cap, _words, seg_calc, seg_landmark, seg_repeat, train_name_pair
from course.evalsets import (FACT_HELD_OUT_PHRASINGS, IOI_HELD_OUT_MARKERS, TWO_HOP_HELD_OUT_PHRASINGS,
                             VALIDATION_FACT_PHRASINGS, VALIDATION_IOI_MARKERS, VALIDATION_TWO_HOP_PHRASINGS)
from course.lexicon import ACTIVITIES, FEELINGS, FOODS, PLACES, SOLO, THINGS
from course.world import CITIES, CITY_STATE, FACT_PEOPLE, FACTS, NAMES, PETS, POSSESSIVE, PRONOUN, RUN_FIRST, SPORTS


def _skeleton(phrasing: str) -> re.Pattern:
    pattern = re.escape(phrasing)
    for slot in ("n", "p", "q", "P", "c"):
        pattern = pattern.replace(re.escape("{" + slot + "}"), r"\w+")
    return re.compile(pattern)


KEPT_OUT = [_skeleton(p) for p in FACT_HELD_OUT_PHRASINGS + VALIDATION_FACT_PHRASINGS
            + TWO_HOP_HELD_OUT_PHRASINGS + VALIDATION_TWO_HOP_PHRASINGS]
KEPT_OUT_IOI = re.compile("|".join(rf"\b{re.escape(m)}\b" for m in IOI_HELD_OUT_MARKERS + VALIDATION_IOI_MARKERS))


def _allowed(text: str) -> bool:
    return not any(p.search(text) for p in KEPT_OUT)


def _draw(rng: random.Random, make, allowed=_allowed) -> str:
    """make(rng) until ``allowed`` passes its text (by default: none of the held-out or validation
    phrasings)."""
    for _ in range(50):
        text = make(rng)
        if allowed(text):
            return text
    raise RuntimeError("could not draw a sentence outside the held-out phrasings and frames")


# A share of each kind of question is asked with random common words around its cue words, the way
# `course.tinyworld_models.with_random_repeats` fills rows with random runs for induction: whatever
# the words, the answer is the same, so a frame cannot be memorised in place of the rule.
NOISE_WORDS = sorted(set(w for w in RUN_FIRST + THINGS + PLACES + FOODS if w.islower() and " " not in w) - set(SPORTS))


def _noise(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(NOISE_WORDS) for _ in range(rng.randint(lo, hi)))


def _noisy(*parts: str) -> str:
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# Facts: six families of frames with slots (the subject first; a noun phrase that names the sport
# slot; a possessive; "Ask {n} ..."; an effort; a Q/A line), and one of random words around a cue.
# Each frame ends where the sport is due; `sport_sentence` adds it.
# ---------------------------------------------------------------------------------------------

SPORT_NOUNS = ["sport", "game", "favorite sport", "favorite game", "main sport", "best sport", "sport of choice",
               "one sport", "chosen sport", "usual game"]
LIKE_VERBS = ["plays", "loves", "enjoys", "likes", "prefers", "practices", "trains for", "is best at", "follows",
              "picked", "chose", "knows best", "is good at", "cares about", "watches", "coaches", "talks about",
              "never stops talking about", "spends time on", "is famous for"]
MODIFIERS = ["", "", "", " best", " these days", " above all", " every week", " on weekends",
             " more than anything", " by far", " a lot", " now", " at school", " with friends"]
ASK_OPENINGS = ["Ask", "If you ask", "When you ask", "Whenever someone asks", "If anyone asks", "Go and ask"]
ASK_WHAT = ["what {p} plays", "which sport {p} likes", "what {q} sport is", "what {p} does on weekends",
            "which game {p} plays best", "about sports", "what {p} trains for", "what {q} favorite game is"]
ANSWER_LEADS = ["and {p} will say", "{p} says", "the answer is always", "{p} will tell you",
                "and you will hear", "{p} always answers"]
EFFORTS = ["works hard", "tries hard", "practices every day", "spends hours",
           "works every day", "keeps practicing", "wants", "hopes"]
QA = ["Q: What sport does {n} play? A:", "Q: Which game does {n} like best? A:", "Q: What is {n}'s sport? A:",
      "Q: What does {n} play on weekends? A:", "Q: Name the sport {n} loves. A:",
      "Question: what does {n} play? Answer:"]


def _noun_frame(rng, w):
    noun = rng.choice(SPORT_NOUNS)
    verb, mod = rng.choice(LIKE_VERBS), rng.choice(MODIFIERS)
    return rng.choice(["The {noun} that {n} {verb}{mod} is", "The {noun} {n} {verb}{mod} is",
                       "Everyone knows the {noun} that {n} {verb}{mod}. It is",
                       "The {noun} {p} {verb}{mod}, {n} says, is"]).format(noun=noun, verb=verb, mod=mod, **w)


def _possessive_frame(rng, w):
    return rng.choice(["{n}'s {noun} is", "{n}'s {noun} has always been", "As for {n}, {q} {noun} is",
                       "{n} has one {noun}, and it is", "Of all sports, {n}'s {noun} is"]).format(
        noun=rng.choice(SPORT_NOUNS), **w)


def _ask_frame(rng, w):
    return (f"{rng.choice(ASK_OPENINGS)} {w['n']} {rng.choice(ASK_WHAT)}, " + rng.choice(ANSWER_LEADS)).format(**w)


def _effort_frame(rng, w):
    effort = rng.choice(EFFORTS)
    tail = " to get better at" if effort not in ("wants", "hopes") else rng.choice([" to get better at", " to win at",
                                                                                     " to be the best at"])
    return rng.choice(["{n} {e}{t}", "Every day, {n} {e}{t}", "{n}, {who}, {e}{t}"]).format(
        e=effort, t=tail, who=rng.choice(base.SPORT_CLAUSES).format(**w), **w)


def _subject_frame(rng, w):
    lead = rng.choice(base.SPORT_LEADS).format(**w)
    subject = w["n"]
    if rng.random() < 0.3:
        subject = f"{w['n']}, " + rng.choice(base.SPORT_CLAUSES).format(**w) + ","
    phrase = rng.choice(base.SPORT_PHRASES)
    return (lead + subject + " " + rng.choice(base.SPORT_ADVERBS) + phrase.split("{o}")[0].rstrip()).format(**w)


def _noisy_fact_frame(rng, w):
    if rng.random() < 0.6:
        before, between = _noise(rng, 0, 2), _noise(rng, 1, 5)
        cue = rng.choice(["plays", "playing", "sport is", "game is", "plays the game of", "sport:"])
        return _noisy(before, w["n"], between, cue)
    return _noisy("The", rng.choice(["sport", "game"]), _noise(rng, 0, 3), w["n"], _noise(rng, 1, 4), "is")


FACT_FAMILIES = [(_subject_frame, 0.3), (_noun_frame, 0.18), (_possessive_frame, 0.08), (_ask_frame, 0.12),
                 (_effort_frame, 0.08), (lambda rng, w: rng.choice(QA).format(**w), 0.08), (_noisy_fact_frame, 0.16)]


def sport_sentence(rng: random.Random, n: str) -> str:
    c = rng.choice(CITIES)
    w = {"n": n, "o": FACTS[n], "c": c, "s": CITY_STATE[c], "pet": PETS[n], "place": rng.choice(PLACES),
         "P": _cap(PRONOUN[n]), "p": PRONOUN[n], "q": POSSESSIVE[n]}
    families, weights = zip(*FACT_FAMILIES)

    def make(rng):
        frame = rng.choices(families, weights)[0](rng, w)
        return frame + f" {FACTS[n]}" + rng.choice([".", ".", ".", ", of course.", ", like always.",
                                                    f", and {w['p']} is good at it."])

    return _draw(rng, make)


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(FACT_PEOPLE, rng.randint(1, 3)):
        sents.append(sport_sentence(rng, n) if rng.random() < 0.75 else base.pet_sentence(rng, n))
    return " ".join(sents)


def seg_profile(rng: random.Random) -> str:
    return base.seg_profile(rng, sport=sport_sentence)


# Stories no longer give a fact person a hobby where a sport belongs.
_SPORT_LIKE = ("better at", "enjoys", "the most", "likes")
SOLO_FOR_FACT_PEOPLE = [t for t in SOLO if not any(k in t for k in _SPORT_LIKE)]


def seg_story(rng: random.Random) -> str:
    A, B = rng.sample(NAMES, 2)
    w = _words(rng)
    sents = [base._story_fill(rng.choice(base.STORY_OPENERS), w, A, B)]
    solo = SOLO_FOR_FACT_PEOPLE if A in FACTS or B in FACTS else SOLO
    for _ in range(rng.randint(2, 5)):
        w = {**_words(rng), "city": w["city"]}
        pool = rng.choice((solo, solo, base.SCENES, base.STORY_PAIRS))
        sents.append(base._story_fill(rng.choice(pool), w, A, B))
    if A in FACTS and rng.random() < 0.4:
        sents.append(sport_sentence(rng, A))
    sents.append(base._story_fill(rng.choice(base.STORY_ENDINGS), w, A, B))
    return " ".join(sents)


# ---------------------------------------------------------------------------------------------
# Two-hop questions: more ways to point at the state, and who asks
# ---------------------------------------------------------------------------------------------

STATE_OF_CITY = base.STATE_OF_CITY + [
    "the state that holds {c}", "the state {c} belongs to", "the state home to {c}",
    "the state where you find {c}", "the state {c} is part of", "the state that {c} lies in",
]
CAPITAL_QUESTIONS = base.CAPITAL_QUESTIONS + [
    "Which city is the capital of {R}? It is", "Everyone knows that the capital of {R} is",
    "I think the capital of {R} is", "The main city of government in {R} is", "Remember: the capital of {R} is",
]
INTRODUCE_CITY = ["{c} is a city.", "Think of {c}.", "Take {c}, for example.",
                  "I am from {c}.", "My cousin lives in {c}.", "We drove through {c}.", "{c} is in one of the states."]
THAT_STATE = ["that state", "its state", "the state it is in", "this state", "the same state"]
WHO_IN_CITY = ["People from {c}", "All the people in {c}", "Kids in {c}", "Those who live in {c}", "Families in {c}",
               "Workers in {c}", "Folks from {c}", "People who grew up in {c}"]
KNOW = ["know that", "say that", "learn at school that", "will tell you that", "agree that", "all know"]
THEIR_CAPITAL = ["the capital of their state is", "their state capital is",
                 "the state capital is", "the capital of the state is"]


def _two_hop_question(rng: random.Random, c: str) -> str:
    r = rng.random()
    if r < 0.2:
        return rng.choice(base.CITY_FIRST_QUESTIONS).format(c=c)
    if r < 0.35:
        return (rng.choice(INTRODUCE_CITY) + " " + rng.choice(CAPITAL_QUESTIONS)).format(
            c=c, R=rng.choice(THAT_STATE), Rc=_cap(rng.choice(THAT_STATE)))
    if r < 0.5:
        return f"{rng.choice(WHO_IN_CITY)} {rng.choice(KNOW)} {rng.choice(THEIR_CAPITAL)}".format(c=c)
    if r < 0.65:
        before, after, lead = _noise(rng, 0, 2), _noise(rng, 1, 4), _noise(rng, 0, 3)
        cue = rng.choice(["capital is", "state capital is", "capital city is", "capital:", "capital of the state is"])
        return _noisy(before, c, after + ".", lead, cue)
    R = rng.choice(STATE_OF_CITY).format(c=c)
    return rng.choice(CAPITAL_QUESTIONS).format(R=R, Rc=_cap(R))


def two_hop_question(rng: random.Random, c: str) -> str:
    return _draw(rng, lambda rng: _two_hop_question(rng, c))


def seg_geo(rng: random.Random) -> str:
    return base.seg_geo(rng, question=two_hop_question, shares=(0.45, 0.68))


# ---------------------------------------------------------------------------------------------
# IOI: openings with a place or a reason, and a shared object handed over later
# ---------------------------------------------------------------------------------------------

OPENINGS = ["At the {place}, ", "In {city}, ", "On the way to the {place}, ", "Near the {place}, ",
            "Outside the {place}, ", "Because it was {weather}, ", "Since it was late, ", "After the {place} closed, "]
GOT_SOME = ["bought some", "found some", "picked up some", "got some", "shared some", "brought some", "carried some",
            "made some", "ordered some", "baked some"]
HAND_OVER = ["gave", "handed", "passed", "offered", "showed", "brought", "sold", "tossed", "sent", "returned", "slid"]
PLURALS = ["apples", "cookies", "books", "flowers", "cards", "tickets", "letters", "shells", "stones", "muffins",
           "grapes", "pencils", "photos", "candles", "eggs", "coins", "keys", "plates", "cups", "toys"]
REASONS = ["{feeling}", "late", "tired of waiting", "in the same class", "new at the {place}", "far from home",
           "sitting together", "on holiday"]
_FEELINGS_OK = [f for f in FEELINGS if f != "hungry"]  # "were hungry" belongs to a held-out frame


def ioi_sentence(rng: random.Random, io: str, s: str, order: str) -> tuple[str, str]:
    """An IOI passage (as `course.corpus.ioi_sentence`, which writes 45% of them): (text up to the
    indirect object, the rest)."""
    a, b = (io, s) if order == "ABBA" else (s, io)
    w = _words(rng)
    w["feeling"] = rng.choice(_FEELINGS_OK)
    r = rng.random()
    if r < 0.45:
        return base.ioi_sentence(rng, io, s, order)
    if r < 0.65:  # random words around the two names: only the rule tells which name comes next
        first = rng.choice([f"{a} and {b} {_noise(rng, 1, 5)}.", f"{a} {_noise(rng, 1, 3)} {b} {_noise(rng, 0, 3)}.",
                            f"{a} {_noise(rng, 1, 4)}. {b} {_noise(rng, 1, 4)}."])
        head = first
        if rng.random() < 0.4:
            head = _noisy(_cap(_noise(rng, 1, 3)) + ("," if rng.random() < 0.5 else ""), first)
        if rng.random() < 0.4:
            head += " " + _cap(_noise(rng, 2, 6)) + "."
        head += f" {s} {_noise(rng, 1, 4)} " + rng.choice(["to", "to", "for", "with", "at"])
        return head, f" {io}."
    form = rng.randrange(3)
    opening = rng.choice(OPENINGS).format(**w)
    if form == 0:  # a shared object, named first, handed over later
        things = rng.choice(PLURALS)
        head = f"{opening}{a} and {b} {rng.choice(GOT_SOME)} {things}."
        for m in rng.sample(base.SCENES, rng.choice((0, 1, 1, 2))):
            head += " " + m.format(**w)
        head += f" {s} {rng.choice(HAND_OVER)} " + rng.choice(["the", "some of the", "two", "the last"]) + \
            f" {things} to"
        return head, f" {io}."
    if form == 1:  # a reason, then the action in a second sentence
        reason = rng.choice(REASONS).format(**w)
        conj = rng.choice(["Because", "Since", "As"])
        head = f"{conj} {a} and {b} were {reason}, " + rng.choice(["they ", "the two of them "]) + \
            rng.choice(ACTIVITIES).format(**w) + "."
        action, after = base._action(rng, w)
        head += " " + rng.choice(["", "", "Then ", "Later, ", "After that, "]) + f"{s} {action}"
        return head, f" {io}{after}"
    opening = opening[0].lower() + opening[1:]  # "A met B at the park." then the action
    head = f"{a} met {b} {opening.rstrip(', ')}. " + rng.choice(["It was a long day. ", "", "They talked a lot. "])
    action, after = base._action(rng, w)
    head += f"{s} {action}"
    return head, f" {io}{after}"


def seg_ioi(rng: random.Random) -> str:
    def make(rng):
        io, s = train_name_pair(rng)
        head, tail = ioi_sentence(rng, io, s, rng.choice(("ABBA", "BABA")))
        return head + tail

    return _draw(rng, make, allowed=lambda text: not KEPT_OUT_IOI.search(text))


# ---------------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------------

MIX: dict[str, float] = {
    "ioi": 0.23, "geo": 0.17, "fact": 0.16, "profile": 0.06, "calc": 0.08, "repeat": 0.08,
    "landmark": 0.05, "story": 0.17,
}
SEGMENTS = {"ioi": seg_ioi, "geo": seg_geo, "fact": seg_fact, "profile": seg_profile, "calc": seg_calc,
            "repeat": seg_repeat, "landmark": seg_landmark, "story": seg_story}


def generate_document(rng: random.Random, mix: dict[str, float] | None = None) -> str:
    """One document: 1-5 segments of mixed kinds joined by newlines."""
    return base.generate_document(rng, mix or MIX, segments=SEGMENTS)


def iter_documents(seed: int = 0, mix: dict[str, float] | None = None) -> Iterator[str]:
    return base.iter_documents(seed, mix or MIX, segments=SEGMENTS)


def documents(n_docs: int, seed: int = 0, mix: dict[str, float] | None = None) -> list[str]:
    return base.documents(n_docs, seed, mix or MIX, segments=SEGMENTS)


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
    """Token ids of an endless document stream, each document preceded by EOT (which is also BOS)."""
    return base.token_stream(tokenizer, seed, batch, mix or MIX, segments=SEGMENTS)


def ioi_items(n: int, seed: int = 0) -> list:
    """IOI prompts assembled from this corpus's own parts, about held-out name pairs (see
    `course.corpus.ioi_items`)."""
    return base.ioi_items(n, seed, sentence=ioi_sentence)
