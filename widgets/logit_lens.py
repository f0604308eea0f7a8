"""LogitLens: what each layer would predict if the model stopped there, read from the residual
stream through the final LayerNorm and the unembedding (nostalgebraist 2020)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, check_array, check_length, check_tokens, css, esm, pack


class LogitLens(BaseWidget):
    _esm = esm("logit_lens.js")
    _css = css("logit_lens.css")

    tokens = t.List(t.Unicode(), help="Input token strings, one per position.").tag(sync=True)
    top_tokens = t.List(t.List(t.Unicode()), help="[layers][pos] top predicted next-token string.").tag(sync=True)
    top_probs = t.Bytes(help="float32 bytes [layers, pos]: probability of the top token.").tag(sync=True)
    correct_ranks = t.Bytes(b"", help="int32 bytes [layers, pos]: rank of the actual next token (-1 at the last position); empty when unknown.").tag(sync=True)
    shape = t.List(t.Int(), help="[layers, pos].").tag(sync=True)
    layer_labels = t.List(t.Unicode(), help="One label per row, e.g. 'embed', 'block 0'.").tag(sync=True)
    hovered_cell = t.List(t.Int(), [-1, -1], help="[layer, pos] last hovered in the browser.").tag(sync=True)

    def __init__(
        self,
        tokens: Sequence[str],
        top_tokens: Sequence[Sequence[str]],
        top_probs: Any,
        correct_ranks: Any = None,
        layer_labels: Sequence[str] | None = None,
    ) -> None:
        tokens = check_tokens(tokens)
        probs = check_array(top_probs, "top_probs", ["layers", "pos"])
        n_layers, n_pos = probs.shape
        check_length(tokens, n_pos, "top_probs", tuple(probs.shape), "[layers, pos]")
        if probs.size and (probs.min() < 0 or probs.max() > 1 + 1e-6):
            raise WidgetInputError(
                f"top_probs must be probabilities in [0, 1] but range from {probs.min():.3g} to "
                f"{probs.max():.3g}. Apply softmax to the logits first.")
        rows = list(top_tokens)
        if len(rows) != n_layers:
            raise WidgetInputError(
                f"top_tokens has {len(rows)} layers but top_probs has {n_layers} "
                f"(shape [layers, pos] = {tuple(probs.shape)}). Give one row of strings per layer.")
        rows = [check_tokens(r, f"top_tokens[{i}]") for i, r in enumerate(rows)]
        for i, r in enumerate(rows):
            if len(r) != n_pos:
                raise WidgetInputError(
                    f"top_tokens[{i}] has {len(r)} entries but there are {n_pos} positions. "
                    "Give one top token per position.")
        ranks = b""
        if correct_ranks is not None:
            rk = check_array(correct_ranks, "correct_ranks", ["layers", "pos"])
            if rk.shape != probs.shape:
                raise WidgetInputError(
                    f"correct_ranks has shape {tuple(rk.shape)} but top_probs has "
                    f"{tuple(probs.shape)}; both are [layers, pos].")
            ranks = pack(rk, "int32")
        labels = [f"layer {i}" for i in range(n_layers)] if layer_labels is None else check_tokens(layer_labels, "layer_labels")
        if len(labels) != n_layers:
            raise WidgetInputError(
                f"layer_labels has {len(labels)} entries but there are {n_layers} layers "
                f"(top_probs shape [layers, pos] = {tuple(probs.shape)}).")
        super().__init__(tokens=tokens, top_tokens=rows, top_probs=pack(probs, "float32"),
                         correct_ranks=ranks, shape=[n_layers, n_pos], layer_labels=labels)

    @classmethod
    def from_model(cls, model: Any, tokens: Any) -> "LogitLens":
        """Run `model` on `tokens` (a string, or ids [1, pos]) and read every layer's prediction
        with `course.lens.logit_lens` (the real final LayerNorm: the last row is the model's output)."""
        import torch

        from course.lens import logit_lens

        ids = model.to_tokens(tokens) if isinstance(tokens, str) else torch.as_tensor(tokens)
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2 or ids.shape[0] != 1:
            raise WidgetInputError(
                f"tokens must be a string or ids of shape [1, pos]; got shape {tuple(ids.shape)}. "
                "The logit lens shows one text at a time: pass ids[:1].")
        logits = logit_lens(model, ids)[:, 0].float().cpu()  # [layers+1, pos, d_vocab]
        top_p, top_i = logits.softmax(-1).max(-1)  # [layers+1, pos]
        nxt = ids[0, 1:].cpu()  # the actual next token at each position but the last
        correct = logits[:, :-1].gather(-1, nxt[None, :, None].expand(logits.shape[0], -1, 1))
        ranks = (logits[:, :-1] > correct).sum(-1)
        ranks = torch.cat([ranks, torch.full((logits.shape[0], 1), -1, dtype=ranks.dtype)], 1)
        str_tokens = [str(s) for s in model.to_str_tokens(ids[0])]
        top_tokens = [[str(s) for s in model.to_str_tokens(row)] for row in top_i]
        labels = ["embed"] + [f"block {i}" for i in range(logits.shape[0] - 1)]
        return cls(str_tokens, top_tokens, top_p, ranks, labels)
