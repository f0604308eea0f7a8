"""The TinyWorld corpus, version 4: version 3 with its facts rebuilt so that a person's sport is
carried by the *name*, not by the word before the sport.

A model trained on version 3 answers "{n} plays the game of" and "The sport that {n} plays is"
(cue words it saw right before a sport) and fails "{n} went out to play" or "{n} is really into"
at chance among the sports: it stored each fact as (name, cue word) in MLP 0 at the last token
(drafts/tinyworld_v4/NOTES.md). Version 4 changes three things, all in the fact sentences:

- *In passing* (`in_passing`): 40% of a fact person's sport sentences mention the sport after one
  of some thirty unrelated words ("{n} packed her golf bag", "{n} was late for golf practice"),
  so no single cue predicts it.
- *Everyone plays* (`generic`, `other_sport_sentence`): people who are not fact people get sport
  sentences too, in the very frames the fact people get (pronouns, "Her friend {n}", two people
  in one sentence), with a random sport each time. A model learns *where* a sport goes from
  everybody and *which* sport from the name, and it has to resolve who a sentence is about
  everywhere, not only for the fact people.
- *Natural cues* (`GENERIC`): "likes to play", "got into", "a huge fan of" before the sport.

A fact person still always plays their own sport. Everything `course.evalsets` holds out stays out,
and so do the cue words of the validation fact phrasings and of the probe frames in
drafts/tinyworld_v4/probe_facts.py (`PROBE_CUES`). IOI, two-hop, addition, repeats and landmarks
come from version 3's generators, unchanged (the segment mix is version 3's too).

The main model `tinyworld` is trained on this version: it looks a person's sport up at the name's
token (causal tracing: restoring MLP 0 there gives back 0.68 of the answer, at the last token 0.04).
"""

from __future__ import annotations

import contextlib
import random
import re
from typing import Iterator

from course import corpus as base
from course import corpus_v3 as v3
from course.corpus import _cap
from course.world import CITIES, FACT_PEOPLE, FACTS, NAMES, PETS, POSSESSIVE, PRONOUN, SPORTS

OTHERS = [p for p in NAMES if p not in FACTS]  # people without a fixed sport

# Cue words of frames kept for evaluation (validation phrasings and the probe frames): never generated.
PROBE_CUES = re.compile(r"happier than|out to play|went to play|big fan of|really into|known for|"
                        r"what \w+ plays, and|ever talks about|usually playing|out playing")


def _allowed(text: str) -> bool:
    return v3._allowed(text) and not PROBE_CUES.search(text)


# ---------------------------------------------------------------------------------------------
# The sport in passing, after many different words
# ---------------------------------------------------------------------------------------------

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
SECOND = [  # the sport one sentence later, after a pronoun
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


def fact_frame_sentence(rng: random.Random, n: str) -> str:
    """Version 3's fact frames (40% of the time: the sport in passing), outside every kept-out phrasing."""
    if rng.random() < 0.4:
        return v3._draw(rng, lambda rng: in_passing(rng, n), _allowed)
    return v3._draw(rng, lambda rng: v3.sport_sentence(rng, n), _allowed)


# ---------------------------------------------------------------------------------------------
# Natural cues, for everyone
# ---------------------------------------------------------------------------------------------

GENERIC = [
    "{n} likes to play {o}.", "{n} learned to play {o} at school.", "{n} wants to play {o} today.",
    "{n} got into {o} last year.", "{n} is a huge fan of {o}.", "{n} played a game of {o} with {m}.",
    "{n} and {m} played {o} after lunch.", "{n} taught {m} how to play {o}.", "{n} asked {m} to play {o}.",
    "{n} is into {o} these days.", "{n} tried {o} for the first time.", "{n} talked to {m} about {o}.",
    "On Saturday {n} played {o}.", "{n} would rather play {o} than read.", "{n} went to a {o} game.",
    "{n} is crazy about {o}.", "{n} has been playing {o} for years.", "{n} said that {o} is fun.",
    "{n} loved {o} as a child.", "{n} spends every evening on {o}.",
]


def generic(rng: random.Random, n: str) -> str:
    """A natural-cue sport sentence: a fact person's own sport, anyone else's a random one."""
    m = rng.choice([p for p in NAMES if p != n and p not in FACTS])
    o = FACTS.get(n) or rng.choice(SPORTS)
    return v3._draw(rng, lambda rng: rng.choice(GENERIC).format(n=n, m=m, o=o), _allowed)


def sport_sentence(rng: random.Random, n: str) -> str:
    """A fact person's sport: natural cues 30% of the time, else version 3's frames or in passing."""
    return generic(rng, n) if rng.random() < 0.3 else fact_frame_sentence(rng, n)


@contextlib.contextmanager
def _lend_fact(n: str, sport: str, pet: str):
    """Version 3's sentence builders read `course.world.FACTS` and `PETS`: lend ``n`` a sport and a
    pet for the length of one sentence (generation is single-threaded)."""
    FACTS[n], PETS[n] = sport, pet
    try:
        yield
    finally:
        del FACTS[n], PETS[n]


def other_sport_sentence(rng: random.Random, n: str) -> str:
    """A sport sentence about someone who is not a fact person, with a random sport: natural cues
    (40%) or any of the fact people's own frames, pronouns and two-person frames included."""
    if rng.random() < 0.4:
        return generic(rng, n)
    with _lend_fact(n, rng.choice(SPORTS), rng.choice(sorted(set(PETS.values())))):
        return fact_frame_sentence(rng, n)


# ---------------------------------------------------------------------------------------------
# Segments: version 3's, with the fact, profile and story segments rebuilt
# ---------------------------------------------------------------------------------------------


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(FACT_PEOPLE, rng.randint(1, 3)):
        sents.append(sport_sentence(rng, n) if rng.random() < 0.75 else base.pet_sentence(rng, n))
    for _ in range(rng.choice((0, 1, 1, 2))):  # and people who are not fact people, in the same frames
        sents.insert(rng.randint(0, len(sents)), other_sport_sentence(rng, rng.choice(OTHERS)))
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
        sents.append(fact_frame_sentence(rng, A))
    sents.append(base._story_fill(rng.choice(base.STORY_ENDINGS), w, A, B))
    return " ".join(sents)


MIX = dict(v3.MIX)
SEGMENTS = {**v3.SEGMENTS, "fact": seg_fact, "profile": seg_profile, "story": seg_story}


def generate_document(rng: random.Random, mix: dict[str, float] | None = None) -> str:
    return base.generate_document(rng, mix or MIX, segments=SEGMENTS)


def iter_documents(seed: int = 0, mix: dict[str, float] | None = None) -> Iterator[str]:
    return base.iter_documents(seed, mix or MIX, segments=SEGMENTS)


def documents(n_docs: int, seed: int = 0, mix: dict[str, float] | None = None) -> list[str]:
    return base.documents(n_docs, seed, mix or MIX, segments=SEGMENTS)


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
    return base.token_stream(tokenizer, seed, batch, mix or MIX, segments=SEGMENTS)


ioi_items = v3.ioi_items
two_hop_question = v3.two_hop_question
