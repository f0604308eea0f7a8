"""TinyWorld v5e (draft): v5d whose geography segment asks `two_hop_endings`' questions (35% of the
composite questions end in varied ways); everything else is v5d's.

    PYTHONPATH=drafts/tinyworld_v5 python drafts/mlp_width/train_main_wide.py 512 10000 2 corpus_v5e 1
"""

from __future__ import annotations

from typing import Iterator

import corpus_v5d as v5d
import two_hop_endings
from course import corpus as base

MIX = v5d.MIX
SEGMENTS = {**v5d.SEGMENTS, "geo": two_hop_endings.seg_geo}


def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
    return base.token_stream(tokenizer, seed, batch, mix or MIX, segments=SEGMENTS)


def documents(n_docs: int, seed: int = 0) -> list[str]:
    return base.documents(n_docs, seed, MIX, segments=SEGMENTS)


def __getattr__(attribute: str):
    """Everything else the evaluation reads from a model's corpus (ioi_items, ...) is v5d's (v4's)."""
    return getattr(v5d, attribute)
