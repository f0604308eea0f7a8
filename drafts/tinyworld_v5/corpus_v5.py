"""TinyWorld v5 (draft): version 4 plus *loose questions*, so the model finds the answer slot from
what was asked and not from the word right before the answer.

The v4 model knows its facts: "The sport that {n} enjoys most is" and "{n} trains hard to get better
at" are right for all 40 fact people. It fails where the last words never came before an answer in
training: "Ask {n} what {p} plays, and the answer is" -> " always", "{c} is a town in a state whose
government sits in" -> " the", "... and they say" -> " it". Knowledge is there; the *slot* is not
recognised. Version 5 adds one segment, `ask`: a thing asked about (a person's sport or pet, a
city's state, a state's capital, a training city's state capital), wrapped in a frame whose ending
is shared by every kind of thing ("..., and the answer is", "I wrote down", "we agreed on"), with
random words sometimes between the question and the ending. The ending then says nothing about
what is due; only the question earlier in the sentence does, so the model has to look back to it.

Kept out: every held-out and validation phrasing (version 3's skeletons), version 4's probe cues,
and the endings of the validation two-hop phrasings ("arrive in", "sits in", "they say", ...), so
the validation set still measures endings the model never saw.
"""

from __future__ import annotations

import random
import re
from typing import Iterator

from course import corpus as base
from course import corpus_v3 as v3
from course import corpus_v4 as v4
from course.corpus import _cap
from course.evalsets import HELD_OUT_CITIES
from course.world import CITIES, CITY_STATE, FACT_PEOPLE, FACTS, PETS, POSSESSIVE, STATES

VALIDATION_ENDINGS = re.compile(r"can be found|arrive in|sits in|they say|seat of government|in which state|"
                                r"name the state capital|drive from")


def _allowed(text: str) -> bool:
    return v4._allowed(text) and not VALIDATION_ENDINGS.search(text)


# The thing asked, by kind: (ways to name it, answer)
def _asked(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.3:
        n = rng.choice(FACT_PEOPLE)
        q = POSSESSIVE[n]
        return rng.choice([f"{n}'s sport", f"the sport {n} plays", f"which sport {n} plays", f"what {n} plays",
                           f"the game {n} likes", f"{n}'s favorite game", f"what sport {n} is good at"]), FACTS[n]
    if r < 0.4:
        n = rng.choice(FACT_PEOPLE)
        return rng.choice([f"{n}'s pet", f"the animal {n} keeps", f"what pet {n} has",
                           f"which animal lives with {n}"]), "a " + PETS[n]
    if r < 0.55:
        c = rng.choice(CITIES)
        return rng.choice([f"the state {c} is in", f"{c}'s state", f"which state {c} is in",
                           f"the state that has {c} in it", f"where {c} is"]), CITY_STATE[c]
    if r < 0.75:
        s = rng.choice(list(STATES))
        return rng.choice([f"the capital of {s}", f"{s}'s capital", f"the capital city of {s}",
                           f"where the government of {s} meets", f"which city is the capital of {s}"]), STATES[s]["capital"]
    c = rng.choice([c for c in CITIES if c not in HELD_OUT_CITIES])  # a held-out city never meets its capital
    return rng.choice([f"the state capital for {c}", f"{c}'s state capital", f"the capital of {c}'s state",
                       f"the capital of the state {c} is in", f"which capital {c} looks to",
                       f"where people in {c} go to see their state capital"]), STATES[CITY_STATE[c]]["capital"]


FRAMES = [  # {X}: the thing asked; the frame ends where the answer is due
    "If you want to know {X}, the answer is", "Here is a question: {X}? The answer:", "I looked up {X}. It was",
    "We argued about {X} and agreed on", "My teacher asked about {X}, and I wrote down",
    "Nobody forgets {X}. It is", "{Xc} is easy to remember:", "On the quiz, I had to give {X}. I put",
    "Guess {X}! My guess is", "{Xc}? That would be", "Tell me {X}. Sure, it is", "You asked about {X}; it is",
    "Everyone in class knew {X}, so we all said", "To name {X}, just say", "{Xc}, if I remember well, is",
    "The book gives {X} as", "When I asked about {X}, I was told", "I still remember {X}, and it is",
    "The last question was {X}. I answered", "Write down {X}:", "A friend wanted {X}, so I told {r}",
]


def ask(rng: random.Random) -> str:
    def make(rng):
        X, answer = _asked(rng)
        frame = rng.choice(FRAMES)
        if rng.random() < 0.25:  # random words between the question and the ending
            frame = frame.replace("{X}", "{X}, " + v3._noise(rng, 1, 3) + ",", 1) if "{X}," not in frame else frame
        text = frame.format(X=X, Xc=_cap(X), r=rng.choice(["her", "him", "them"]))
        return text + f" {answer}."

    return v3._draw(rng, make, _allowed)


def seg_ask(rng: random.Random) -> str:
    return " ".join(ask(rng) for _ in range(rng.randint(1, 3)))


MIX = dict(v4.MIX)
MIX.update(story=MIX["story"] - 0.04, geo=MIX["geo"] - 0.02, fact=MIX["fact"] - 0.02, ask=0.08)
SEGMENTS = {**v4.SEGMENTS, "ask": seg_ask}


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
    """What a training run reads (the proxy names this module as its corpus)."""
    return base.token_stream(tokenizer, seed, batch, mix or MIX, segments=SEGMENTS)


def documents(n_docs: int, seed: int = 0) -> list[str]:
    return base.documents(n_docs, seed, MIX, segments=SEGMENTS)


ioi_items = v4.ioi_items
two_hop_question = v4.two_hop_question
