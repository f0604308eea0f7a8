"""TinyWorld v5d (draft): v5c without two fixed phrases that pre-empt evaluation slots.

`slot_ngrams.py` lists what the corpus writes after the last two words of every evaluation frame.
Two held-out frames end on words the v4 corpus always continues with something else, hundreds of
times (20,000 documents):
- "postcard to" -> " a" in 629 of 629 (the story sentence "{A} wrote a postcard to a cousin."):
  the held-out IOI frame "{A} called {B} on the phone. The next day, {S} mailed a postcard to" is
  the worst of the ten (0.52; the model's top word there is " a", the indirect object never);
- "the answer is" -> " always" in 242 of 242 (v3's fact lead "the answer is always"): the held-out
  fact phrasing "Ask {n} what {p} plays, and the answer is" is at 0.00 (" always", p 0.99).

v5d drops both phrases and adds nothing: the story sentence becomes "{A} wrote a postcard home.",
and "the answer is always" leaves the fact frames' answer leads (five remain). v5c's shared
question endings still write "..., the answer is {state or capital}", so whether a fact question
ending "the answer is" gets a sport now depends on the model carrying the ending across kinds.
Paired with v5c (same seed, everything else equal), the difference is these two phrases.

This module edits `course.lexicon.SOLO` and `course.corpus_v3.ANSWER_LEADS` in place when it is
imported: import it only in a process that trains or measures v5d.

    PYTHONPATH=drafts/tinyworld_v5 python drafts/mlp_width/train_main_wide.py 512 10000 2 corpus_v5d 1
"""

from __future__ import annotations

import corpus_v5c as v5c
from course import corpus_v3 as v3
from course import lexicon

_OLD, _NEW = "{A} wrote a postcard to a cousin.", "{A} wrote a postcard home."
for solo in (lexicon.SOLO, v3.SOLO_FOR_FACT_PEOPLE):  # the same list object in corpus and v3; v3's filtered copy
    if _OLD in solo:
        solo[solo.index(_OLD)] = _NEW
if "the answer is always" in v3.ANSWER_LEADS:
    v3.ANSWER_LEADS.remove("the answer is always")

MIX, SEGMENTS = v5c.MIX, v5c.SEGMENTS  # v5c's segments, whose sentences the edits above changed
token_stream, documents = v5c.token_stream, v5c.documents


def __getattr__(attribute: str):
    """Everything else the evaluation reads from a model's corpus (ioi_items, ...) is v5c's (v4's)."""
    return getattr(v5c, attribute)
