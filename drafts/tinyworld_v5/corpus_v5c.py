"""TinyWorld v5c (draft): v5b's geography questions in shared endings, with the two things v5b
broke in both seeds put back.

v5b (stop 32, seed 0; stop 33, seed 1) bought the validation fact phrasings (0.808 -> 0.933 in seed
1) and a state probe of 0.93, and lost, in both seeds:
- "The capital of the state that has {c} is" (0.74 -> 0.03): the model reads "{c} is" as the start
  of "{c} is in {state}" and answers " in". v5b's own questions taught it: "the state that has {c}
  in it", "which state {c} is in", "the state {c} is in", "the capital of the state {c} is in" put
  " in" right after "has {c}" and "{c} is". v5c names the same things without " in" after the city.
- IOI on unseen frames (fresh ABBA / BABA 0.942 / 0.996 -> 0.812 / 0.850): v5b took its 6% from
  stories (3%) and geography (3%); stories are where two named people act in many frames. v5c keeps
  the stories whole and takes the 6% from geography (3%) and repeated passages (3%: induction also
  learns from the recipe's random repeat rows).

    PYTHONPATH=drafts/tinyworld_v5 python drafts/mlp_width/train_main_wide.py 512 10000 2 corpus_v5c 1
"""

from __future__ import annotations

import random

import corpus_v5b as v5b
import draft_corpus
from course import corpus_v4 as v4
from course.evalsets import HELD_OUT_CITIES
from course.world import CITIES, CITY_STATE, STATES


def _asked(rng: random.Random) -> tuple[str, str]:
    """A geography question and its answer, as v5b's, with no " in" right after the city."""
    r = rng.random()
    if r < 0.25:
        c = rng.choice(CITIES)
        return rng.choice([f"the state {c} belongs to", f"{c}'s state", f"which state holds {c}",
                           f"the state around {c}", f"where {c} is"]), CITY_STATE[c]
    if r < 0.55:
        s = rng.choice(list(STATES))
        return rng.choice([f"the capital of {s}", f"{s}'s capital", f"the capital city of {s}",
                           f"where the government of {s} meets", f"which city is the capital of {s}"]), STATES[s]["capital"]
    c = rng.choice([c for c in CITIES if c not in HELD_OUT_CITIES])  # a held-out city never meets its capital
    return rng.choice([f"the state capital for {c}", f"{c}'s state capital", f"the capital of {c}'s state",
                       f"the capital of the state that holds {c}", f"which capital {c} looks to",
                       f"where people in {c} go to see their state capital"]), STATES[CITY_STATE[c]]["capital"]


def seg_ask(rng: random.Random) -> str:
    """v5b's question segment, asking v5c's questions."""
    return v5b.seg_ask(rng, asked=_asked)


MIX = dict(v4.MIX)
MIX.update(geo=MIX["geo"] - 0.03, repeat=MIX["repeat"] - 0.03, ask=0.06)  # stories and IOI untouched
SEGMENTS = {**v4.SEGMENTS, "ask": seg_ask}

token_stream, documents = draft_corpus.stream_and_documents(MIX, SEGMENTS)


def __getattr__(attribute: str):
    """Everything else the evaluation reads from a model's corpus (ioi_items, ...) is v4's."""
    return getattr(v4, attribute)
