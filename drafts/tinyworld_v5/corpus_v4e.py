"""TinyWorld v4e (draft, stop 35): the shipped corpus (course.corpus_v4) whose geography segment asks
`two_hop_endings`' questions (35% of the composite questions end in varied ways: "is called",
"turns out to be", "works in", ...); nothing else changes, so paired with the shipped model (same
seed) it reads the one lever.

Why on v4 and not on v5d: on fresh2 (../fresh2), a set written before either was measured, v5d's
IOI is below v4's in both seeds (0.771 / 0.863 against 0.869 / 0.942) and its facts gain was one
seed's (0.412 / 0.869 held-out). The question segment that v5c and v5d add costs IOI on unseen
frames; the ending variety is tested without it.

    PYTHONPATH=drafts/tinyworld_v5 python drafts/mlp_width/train_main_wide.py 512 10000 2 corpus_v4e 1
"""

from __future__ import annotations

import draft_corpus
import two_hop_endings
from course import corpus_v4 as v4

MIX = v4.MIX
SEGMENTS = {**v4.SEGMENTS, "geo": two_hop_endings.seg_geo}

token_stream, documents = draft_corpus.stream_and_documents(MIX, SEGMENTS)


def __getattr__(attribute: str):
    """Everything else the evaluation reads from a model's corpus (ioi_items, ...) is v4's."""
    return getattr(v4, attribute)
