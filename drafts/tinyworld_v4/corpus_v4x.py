"""Experimental TinyWorld v4 (x): corpus_v3 plus fact sentences that mention a person's sport *in
passing*, after many different words ("{n} packed {q} golf bag", "{n} was late for golf practice"),
so the sport cannot be tied to a few cue words and has to be carried by the name itself."""
from __future__ import annotations

import random, re
from typing import Iterator

from course import corpus as base
from course import corpus_v3 as v3
from course.corpus import _cap, seg_calc, seg_landmark, seg_repeat
from course.world import CITIES, CITY_STATE, FACT_PEOPLE, FACTS, NAMES, PETS, POSSESSIVE, PRONOUN

# frames written for probe_facts.py: kept out like the validation phrasings
PROBE_CUES = re.compile(r"happier than|out to play|went to play|big fan of|really into|known for|"
                        r"what \w+ plays, and|ever talks about|usually playing|out playing")

IN_PASSING = [
    "{n} packed {q} {o} bag.", "{n} was late for {o} practice again.", "{n} watched a {o} match with {m}.",
    "{n} joined the {o} club in {c}.", "{n} bought new shoes for {o}.", "{n} has a {o} coach in {c}.",
    "{n} dreams about {o} at night.", "{n} read a book about {o}.", "{n} got a {o} ball for {q} birthday.",
    "{n} wore {q} {o} shirt to the {place}.", "{n} and {m} talked about {o} all evening.",
    "{n} took the bus to a {o} camp.", "{n} never misses {o} on Sundays.", "{n} spent the summer at {o} camp.",
    "{n} fixed {q} old {o} gear.", "{n} won a {o} cup last year.", "{n} signed up for {o} lessons.",
    "{n} cleaned the {o} field after the game.", "{n} drew a picture of a {o} game.",
    "{n} asked {m} to come to {o} with {r}.", "{n} went home early, tired from {o}.",
    "{n} keeps a {o} poster above {q} bed.", "{n} found {q} lost {o} glove.", "{n} taught {m} some {o}.",
    "{n} missed lunch because of {o}.", "{n} sang a song about {o}.", "{n} hurt {q} arm at {o}.",
    "{n} saved money for a {o} trip.", "{n} told {m} a story about {o}.", "{n} checked the {o} scores.",
]
SECOND = [  # the sport a sentence later, after a pronoun
    "{n} {solo} {P} also went to {o} practice.", "{n} {solo} Then {p} packed for {o}.",
    "{n} {solo} After that, {p} watched some {o}.", "{n} {solo} Later {p} talked about {o}.",
]


def in_passing(rng: random.Random, n: str) -> str:
    c = rng.choice(CITIES)
    m = rng.choice([x for x in NAMES if x != n])
    w = {"n": n, "o": FACTS[n], "c": c, "m": m, "r": "her" if PRONOUN[m] == "she" else "him",
         "q": POSSESSIVE[n], "p": PRONOUN[n], "P": _cap(PRONOUN[n]), "place": rng.choice(v3.PLACES)}
    if rng.random() < 0.25:
        solo = base._story_fill(rng.choice(v3.SOLO_FOR_FACT_PEOPLE), {**v3._words(rng), "city": c}, n, m)
        solo = solo[len(n) + 1:] if solo.startswith(n + " ") else solo
        return rng.choice(SECOND).format(solo=solo, **w) if solo.endswith(".") else rng.choice(IN_PASSING).format(**w)
    if rng.random() < 0.15:  # the sport after a random word
        return v3._noisy(n, v3._noise(rng, 1, 4), FACTS[n]) + "."
    return rng.choice(IN_PASSING).format(**w)


def _allowed(text: str) -> bool:
    return v3._allowed(text) and not PROBE_CUES.search(text)


def sport_sentence(rng: random.Random, n: str) -> str:
    if rng.random() < 0.4:
        return v3._draw(rng, lambda rng: in_passing(rng, n), _allowed)
    return v3._draw(rng, lambda rng: v3.sport_sentence(rng, n), _allowed)


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(FACT_PEOPLE, rng.randint(1, 3)):
        sents.append(sport_sentence(rng, n) if rng.random() < 0.75 else base.pet_sentence(rng, n))
    return " ".join(sents)


def seg_profile(rng: random.Random) -> str:
    return base.seg_profile(rng, sport=sport_sentence)


def seg_story(rng: random.Random) -> str:
    A, B = rng.sample(NAMES, 2)
    w = v3._words(rng)
    sents = [base._story_fill(rng.choice(base.STORY_OPENERS), w, A, B)]
    solo = v3.SOLO_FOR_FACT_PEOPLE if A in FACTS or B in FACTS else v3.SOLO
    for _ in range(rng.randint(2, 5)):
        w = {**v3._words(rng), "city": w["city"]}
        pool = rng.choice((solo, solo, base.SCENES, base.STORY_PAIRS))
        sents.append(base._story_fill(rng.choice(pool), w, A, B))
    if A in FACTS and rng.random() < 0.6:
        sents.append(sport_sentence(rng, A))
    sents.append(base._story_fill(rng.choice(base.STORY_ENDINGS), w, A, B))
    return " ".join(sents)


MIX = dict(v3.MIX)
SEGMENTS = {**v3.SEGMENTS, "fact": seg_fact, "profile": seg_profile, "story": seg_story}


def generate_document(rng, mix=None):
    return base.generate_document(rng, mix or MIX, segments=SEGMENTS)


def iter_documents(seed: int = 0, mix=None) -> Iterator[str]:
    return base.iter_documents(seed, mix or MIX, segments=SEGMENTS)


def documents(n_docs: int, seed: int = 0, mix=None) -> list[str]:
    return base.documents(n_docs, seed, mix or MIX, segments=SEGMENTS)


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix=None):
    return base.token_stream(tokenizer, seed, batch, mix or MIX, segments=SEGMENTS)


ioi_items = v3.ioi_items
