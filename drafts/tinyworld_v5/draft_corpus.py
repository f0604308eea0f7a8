"""What every draft corpus module here exports besides its MIX and SEGMENTS: the training stream
and a list of documents, made by course.corpus from that mix and those segments."""

from __future__ import annotations

from typing import Callable, Iterator

from course import corpus as base


def stream_and_documents(default_mix: dict[str, float], segments: dict[str, Callable]):
    """(token_stream, documents) with the signatures a training run and the evaluation read."""

    def token_stream(tokenizer, seed: int = 0, batch: int = 512, mix: dict[str, float] | None = None) -> Iterator[int]:
        return base.token_stream(tokenizer, seed, batch, mix or default_mix, segments=segments)

    def documents(n_docs: int, seed: int = 0) -> list[str]:
        return base.documents(n_docs, seed, default_mix, segments=segments)

    return token_stream, documents
