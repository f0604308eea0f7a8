"""Two-hop questions that end in many ways, not only "... is" (stop 35; corpus_v4e asks them).

Every model so far answers two-hop questions in the corpus's phrasings and in the twelve held-out
ones, and fails on most endings nobody trained: the validation phrasings ("... whose government
sits in", "..., you arrive in": 0.00-0.13) and three of fresh2's six ("... the state capital goes
to" -> " the", "... the state government is in" -> "?"). The corpus's composite questions almost all
end in "is", ":" or "A:" (corpus.CAPITAL_QUESTIONS, corpus_v3), so a small model learns "capital
... is" -> a capital, and after any other ending falls back on what the ending's last words usually
precede (" the" after "goes to").

`two_hop_question` asks 35% of the composite questions with a name for the capital (or for the
state's government) and an ending drawn from NAME_ENDINGS / GOVERNMENT_OF: "is called", "goes by
the name", "turns out to be", "works in", "gather in", ... None of these is an ending of a held-out,
validation or fresh2 phrasing, and the family those sets lean on most (travelling from the city to
the capital: "you arrive in", "goes to", "will find the state capital in", "drive to the capital of
its state, which is") is left out on purpose: whether the variety carries over to endings of a kind
never trained is the experiment. The other 65% are corpus_v3's questions.

Result (corpus_v4e, seed 1; NOTES.md): it did not carry over (the four validation phrasings at 0.00
stay there) and it cost the held-out phrasings 0.17 (0.919 -> 0.753). Not a lever.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from course import corpus as base
from course import corpus_v3 as v3
from course.corpus import _cap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fresh2"))
import fresh2  # noqa: E402  (its phrasings are kept out of this corpus, like the evaluation sets')

# Ways to name the capital of a city's state; {R} is a way to name the state (corpus_v3.STATE_OF_CITY).
CAPITAL_OF = ["the capital of {R}", "the capital city of {R}", "the state capital of {R}",
              "the seat of government of {R}", "{c}'s state capital", "the capital of {c}'s state",
              "the state capital for {c}"]
# Endings after a name for the capital itself.
NAME_ENDINGS = ["is called", "is named", "goes by the name", "has the name", "turns out to be", "must be",
                "would be", "has always been", "is none other than", "is known as", "is the city of",
                "is a city called", "is, of course,", "was, and still is,"]
# A name for the state's government, with the endings that fit it (where it works is the capital).
GOVERNMENT_OF = {"the governor of {R}": ["works in", "lives in", "has an office in"],
                 "the lawmakers of {R}": ["gather in", "vote in", "work in"],
                 "the state offices of {R}": ["are in", "are found in", "fill a street in"],
                 "the state house of {R}": ["stands in", "was built in", "is a big building in"]}
KEPT_OUT_FRESH2 = [v3._skeleton(p) for p in fresh2.TWO_HOP_PHRASINGS]


def _allowed(text: str) -> bool:
    return v3._allowed(text) and not any(p.search(text) for p in KEPT_OUT_FRESH2)


def _varied_question(rng: random.Random, c: str) -> str:
    """A composite question with a varied ending, sometimes after a sentence that introduces the city."""
    intro = rng.random() < 0.3
    R = rng.choice(v3.THAT_STATE) if intro else rng.choice(v3.STATE_OF_CITY).format(c=c)
    if rng.random() < 0.7:
        subject = rng.choice([f for f in CAPITAL_OF if not (intro and "{c}" in f)])
        ending = rng.choice(NAME_ENDINGS)
    else:
        subject = rng.choice(list(GOVERNMENT_OF))
        ending = rng.choice(GOVERNMENT_OF[subject])
    sentence = _cap(subject.format(R=R, c=c)) + " " + ending
    return (rng.choice(v3.INTRODUCE_CITY).format(c=c) + " " + sentence) if intro else sentence


def two_hop_question(rng: random.Random, c: str) -> str:
    if rng.random() < 0.35:
        return v3._draw(rng, lambda rng: _varied_question(rng, c), _allowed)
    return v3._draw(rng, lambda rng: v3._two_hop_question(rng, c), _allowed)


def seg_geo(rng: random.Random) -> str:
    """corpus_v3's geography segment (same shares) asking these questions."""
    return base.seg_geo(rng, question=two_hop_question, shares=(0.45, 0.68))
