"""Experimental TinyWorld v4 (z): v4y without its pronoun cost. In v4y only the fact people had
sport sentences in v3's fact frames (pronouns, "Her friend {n}", two people); everyone else got
the simpler GENERIC frames, and the pronoun frames broke ("Friends of {n} say {p} plays" 0.90 ->
0.03). Here a person who is not a fact person gets sport sentences in the *same* frames as the
fact people, with a random sport (and a random pet) each time, so resolving who the sentence is
about pays everywhere, and the sport itself is only predictable for the fact people."""
from __future__ import annotations

import contextlib
import random
from typing import Iterator

from course import corpus as base
from course import corpus_v3 as v3
import corpus_v4x as x
import corpus_v4y as y
from course.world import FACTS, NAMES, PETS, SPORTS

OTHERS = [p for p in NAMES if p not in FACTS]


@contextlib.contextmanager
def _as_if_fact(n: str, sport: str, pet: str):
    """The v3/v4x sentence builders read world.FACTS and PETS; lend ``n`` a sport and a pet for one sentence."""
    FACTS[n], PETS[n] = sport, pet
    try:
        yield
    finally:
        del FACTS[n], PETS[n]


def other_sport_sentence(rng: random.Random, n: str) -> str:
    """A sport sentence about a non-fact person, in any of the fact people's frames, any sport."""
    if rng.random() < 0.4:
        return y.generic(rng, n)
    with _as_if_fact(n, rng.choice(SPORTS), rng.choice(sorted(set(PETS.values())))):
        return x.sport_sentence(rng, n)


def seg_fact(rng: random.Random) -> str:
    sents = []
    for n in rng.sample(v3.FACT_PEOPLE, rng.randint(1, 3)):
        sents.append(y.sport_sentence(rng, n) if rng.random() < 0.75 else base.pet_sentence(rng, n))
    for _ in range(rng.choice((0, 1, 1, 2))):  # and people who are not fact people, any sport, the same frames
        sents.insert(rng.randint(0, len(sents)), other_sport_sentence(rng, rng.choice(OTHERS)))
    return " ".join(sents)


def seg_profile(rng: random.Random) -> str:
    return base.seg_profile(rng, sport=y.sport_sentence)


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
