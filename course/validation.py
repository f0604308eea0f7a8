"""Checks on what a learner passes in, with errors that say what was wrong and how to fix it."""

from __future__ import annotations

import torch


class TokenError(ValueError):
    """Token ids that the model cannot read: wrong type, wrong shape, out of range, too long."""


def check_tokens(tokens, d_vocab: int, n_ctx: int, offset: int = 0) -> torch.Tensor:
    """Return ``tokens`` as a ``[batch, pos]`` int64 tensor, or raise TokenError saying why not.

    ``offset`` is how many positions a KV cache already holds, so the limit applies to the total.
    """
    if isinstance(tokens, (list, tuple)):
        try:
            tokens = torch.tensor(tokens)
        except (TypeError, ValueError) as e:
            raise TokenError(f"could not turn the list into a tensor of token ids ({e}); pass ints") from None
    if not isinstance(tokens, torch.Tensor):
        raise TokenError(
            f"tokens must be a tensor of integer ids, got {type(tokens).__name__}; "
            "for text, use model.to_tokens(text)"
        )
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TokenError(
            f"tokens must be integer ids, got dtype {tokens.dtype}; did you pass embeddings or probabilities? "
            "Convert ids with tokens.long()"
        )
    if tokens.ndim == 1:
        tokens = tokens.unsqueeze(0)
    if tokens.ndim != 2:
        raise TokenError(
            f"tokens must have shape [batch, pos] (or [pos] for one sequence), got {tuple(tokens.shape)} "
            f"with {tokens.ndim} dimensions"
        )
    if tokens.shape[1] == 0:
        raise TokenError("tokens is empty: the model needs at least one token per sequence")
    if tokens.numel():
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= d_vocab:
            bad = lo if lo < 0 else hi
            raise TokenError(
                f"token id {bad} is out of range: this model's ids run from 0 to {d_vocab - 1} (d_vocab = {d_vocab}). "
                "Were these ids made by a different tokenizer?"
            )
    total = offset + tokens.shape[1]
    if total > n_ctx:
        where = f" (plus {offset} already in the KV cache)" if offset else ""
        raise TokenError(
            f"sequence of {tokens.shape[1]} tokens{where} is longer than the context window of {n_ctx}; "
            f"keep the last {n_ctx - offset} tokens, e.g. tokens[:, -{n_ctx - offset}:]"
        )
    return tokens.long()
