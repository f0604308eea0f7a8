"""Experimental TinyWorld v4 (y): v4x plus sport sentences about *everyone*: fact people with their
own sport, everyone else with a random one, after a broad set of natural cues ("likes to play",
"got into", "a huge fan of"), so a model can learn *where a sport goes* from all people and
*which sport* from the fact people."""
from __future__ import annotations

import random
from typing import Iterator

from course import corpus as base
from course import corpus_v3 as v3
import corpus_v4x as x
from course.world import FACTS, NAMES, SPORTS

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
    m = rng.choice([p for p in NAMES if p != n and p not in FACTS])
    o = FACTS.get(n) or rng.choice(SPORTS)
    return v3._draw(rng, lambda rng: rng.choice(GENERIC).format(n=n, m=m, o=o), x._allowed)


def sport_sentence(rng: random.Random, n: str) -> str:
    return generic(rng, n) if rng.random() < 0.3 else x.sport_sentence(rng, n)


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(v3.FACT_PEOPLE, rng.randint(1, 3)):
        sents.append(sport_sentence(rng, n) if rng.random() < 0.75 else base.pet_sentence(rng, n))
    if rng.random() < 0.5:  # and someone who is not a fact person, with any sport
        sents.insert(rng.randint(0, len(sents)), generic(rng, rng.choice([p for p in NAMES if p not in FACTS])))
    return " ".join(sents)


def seg_profile(rng: random.Random) -> str:
    return base.seg_profile(rng, sport=sport_sentence)




MIX = dict(v3.MIX)
SEGMENTS = {**v3.SEGMENTS, "fact": seg_fact, "profile": seg_profile, "story": x.seg_story}


def generate_document(rng, mix=None):
    return base.generate_document(rng, mix or MIX, segments=SEGMENTS)


def iter_documents(seed: int = 0, mix=None) -> Iterator[str]:
    return base.iter_documents(seed, mix or MIX, segments=SEGMENTS)


def documents(n_docs: int, seed: int = 0, mix=None) -> list[str]:
    return base.documents(n_docs, seed, mix or MIX, segments=SEGMENTS)


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix=None):
    return base.token_stream(tokenizer, seed, batch, mix or MIX, segments=SEGMENTS)


ioi_items = v3.ioi_items
