"""TinyWorld v5b (draft): v5a's loose questions for geography only.

v5a's `ask` segment asked for a person's sport or pet as well as for a city's state and a state's
capital. At d_mlp 1,024 it bought the two-hop phrasings and a state probe of 0.97, but it moved the
fact lookup from the subject's token to the last one (restoring MLP 0 at the subject gave back 0.05
of the answer, at the last token 0.69; the v4 model 0.68 / 0.04): with one ending asking for a sport,
a pet or a state, the model gathers person and relation at the end and looks the pair up there.
v5b asks only the geography questions, so the facts are left to v4's in-passing sentences, which put
the lookup at the subject, and the shared endings still teach the two-hop slot.

    PYTHONPATH=drafts/tinyworld_v5 python drafts/tinyworld_v4/proxy_train.py v5b1024 corpus_v5b 2500 2 1024
"""

from __future__ import annotations

import random

import corpus_v5 as v5
import draft_corpus
from course import corpus_v3 as v3
from course import corpus_v4 as v4
from course.corpus import _cap
from course.evalsets import HELD_OUT_CITIES
from course.world import CITIES, CITY_STATE, STATES


def _asked(rng: random.Random) -> tuple[str, str]:
    """A geography question and its answer: a city's state, a state's capital, or (for a training
    city only: a held-out city never meets its capital) the capital of the state a city is in."""
    r = rng.random()
    if r < 0.25:
        c = rng.choice(CITIES)
        return rng.choice([f"the state {c} is in", f"{c}'s state", f"which state {c} is in",
                           f"the state that has {c} in it", f"where {c} is"]), CITY_STATE[c]
    if r < 0.55:
        s = rng.choice(list(STATES))
        return rng.choice([f"the capital of {s}", f"{s}'s capital", f"the capital city of {s}",
                           f"where the government of {s} meets", f"which city is the capital of {s}"]), STATES[s]["capital"]
    c = rng.choice([c for c in CITIES if c not in HELD_OUT_CITIES])
    return rng.choice([f"the state capital for {c}", f"{c}'s state capital", f"the capital of {c}'s state",
                       f"the capital of the state {c} is in", f"which capital {c} looks to",
                       f"where people in {c} go to see their state capital"]), STATES[CITY_STATE[c]]["capital"]


def ask(rng: random.Random, asked=_asked) -> str:
    """One loose question and its answer; ``asked`` draws (the thing asked, its answer)."""
    def make(rng):
        X, answer = asked(rng)
        frame = rng.choice(v5.FRAMES)
        if rng.random() < 0.25:  # random words between the question and the ending
            frame = frame.replace("{X}", "{X}, " + v3._noise(rng, 1, 3) + ",", 1) if "{X}," not in frame else frame
        text = frame.format(X=X, Xc=_cap(X), r=rng.choice(["her", "him", "them"]))
        return text + f" {answer}."

    return v3._draw(rng, make, v5._allowed)


def seg_ask(rng: random.Random, asked=_asked) -> str:
    return " ".join(ask(rng, asked) for _ in range(rng.randint(1, 3)))


MIX = dict(v4.MIX)
MIX.update(story=MIX["story"] - 0.03, geo=MIX["geo"] - 0.03, ask=0.06)  # v4's fact share kept
SEGMENTS = {**v4.SEGMENTS, "ask": seg_ask}

token_stream, documents = draft_corpus.stream_and_documents(MIX, SEGMENTS)


def __getattr__(attribute: str):
    """Everything else the evaluation reads from a model's corpus (ioi_items, ...) is v4's."""
    return getattr(v4, attribute)
