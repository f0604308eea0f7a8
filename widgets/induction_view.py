"""InductionView: which heads are induction heads and previous-token heads, on repeated random
sequences (BOS + r + r), as in the TransformerLens tutorial (Olsson et al. 2022). The scores and
the losses over each repeat are `course.metrics`'s, computed by `course.evaluate` on the same
sequences as the model cards and chapter 04, so the widget shows the same numbers they print."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, check_array, check_length, check_tokens, css, esm, pack


class InductionView(BaseWidget):
    _esm = esm("induction_view.js")
    _css = css("induction_view.css")

    tokens = t.List(t.Unicode(), help="Token strings, one per position.").tag(sync=True)
    induction_scores = t.Bytes(help="float32 bytes [layers, heads].").tag(sync=True)
    prev_token_scores = t.Bytes(help="float32 bytes [layers, heads].").tag(sync=True)
    patterns = t.Bytes(help="float16 bytes [layers, heads, pos, pos].").tag(sync=True)
    loss_per_pos = t.Bytes(help="float32 bytes [pos - 1]: loss of predicting token i+1 at position i.").tag(sync=True)
    repeat_loss = t.List(t.Float(), help="[first, second]: mean loss over each repeat (metrics.repeat_losses); "
                                         "empty if not repeated.").tag(sync=True)
    shape = t.List(t.Int(), help="[layers, heads, pos].").tag(sync=True)
    seq_len = t.Int(0, help="Length of one repeat (tokens are BOS + r + r); 0 if not repeated.").tag(sync=True)
    selected_layer = t.Int(0, help="Layer of the head whose pattern is shown.").tag(sync=True)
    selected_head = t.Int(0, help="Head whose pattern is shown.").tag(sync=True)

    def __init__(self, induction_scores: Any, prev_token_scores: Any, patterns: Any,
                 tokens: Sequence[str], loss_per_pos: Any, seq_len: int | None = None) -> None:
        tokens = check_tokens(tokens)
        ind = check_array(induction_scores, "induction_scores", ["layers", "heads"])
        prev = check_array(prev_token_scores, "prev_token_scores", ["layers", "heads"])
        pat = check_array(patterns, "patterns", ["layers", "heads", "query", "key"],
                          hint="Stack each layer's hook_pattern[0] with torch.stack(..., 0).")
        loss = check_array(loss_per_pos, "loss_per_pos", ["pos - 1"])
        if prev.shape != ind.shape:
            raise WidgetInputError(
                f"prev_token_scores has shape {tuple(prev.shape)} but induction_scores has "
                f"{tuple(ind.shape)}; both must be [layers, heads].")
        if pat.shape[:2] != ind.shape:
            raise WidgetInputError(
                f"patterns has {pat.shape[0]} layers x {pat.shape[1]} heads but the scores are "
                f"{ind.shape[0]} x {ind.shape[1]} ([layers, heads]); they must describe the same heads.")
        if pat.shape[2] != pat.shape[3]:
            raise WidgetInputError(f"patterns must be [layers, heads, pos, pos]; got {tuple(pat.shape)}.")
        n_pos = pat.shape[2]
        check_length(tokens, n_pos, "patterns", tuple(pat.shape), "[layers, heads, query, key]")
        if loss.shape[0] != n_pos - 1:
            raise WidgetInputError(
                f"loss_per_pos has {loss.shape[0]} entries but there are {n_pos} tokens; it must "
                f"have pos - 1 = {n_pos - 1} (the loss of predicting token i+1 at position i).")
        if seq_len is None:
            seq_len = (n_pos - 1) // 2 if n_pos % 2 == 1 else 0
        if seq_len and 2 * seq_len + 1 != n_pos:
            raise WidgetInputError(
                f"seq_len={seq_len} means BOS + r + r = {2 * seq_len + 1} tokens, but there are {n_pos}.")
        repeat_loss = []
        if seq_len:
            from course.metrics import repeat_losses

            both = repeat_losses(loss, seq_len)
            repeat_loss = [both["repeat_loss_first"], both["repeat_loss_second"]]
        super().__init__(tokens=tokens, induction_scores=pack(ind), prev_token_scores=pack(prev),
                         patterns=pack(pat, "float16"), loss_per_pos=pack(loss), repeat_loss=repeat_loss,
                         shape=[int(ind.shape[0]), int(ind.shape[1]), n_pos], seq_len=int(seq_len))
        best = np.unravel_index(int(np.argmax(ind)), ind.shape) if ind.size else (0, 0)
        self.selected_layer, self.selected_head = int(best[0]), int(best[1])

    @classmethod
    def from_model(cls, model: Any, seq_len: int = 50, batch: int = 20, seed: int = 0) -> "InductionView":
        """Score every head of `model` on `batch` sequences BOS + r + r, r a random run of `seq_len`
        tokens the model saw in training (`evaluate.repeated_random_tokens`, as the model cards and
        chapter 04). Shows the first sequence's patterns and the loss per position over the batch."""
        import torch

        from course import evaluate, metrics

        n_ctx = model.cfg.n_ctx
        if 2 * seq_len + 1 > n_ctx:
            raise WidgetInputError(
                f"seq_len={seq_len} needs 2 * seq_len + 1 = {2 * seq_len + 1} positions but the "
                f"model's context is n_ctx={n_ctx}. Use seq_len <= {(n_ctx - 1) // 2}.")
        scores = evaluate.head_scores(model, seq_len, batch, seed)  # [layer head_index] each
        tokens = evaluate.repeated_random_tokens(model, seq_len, batch, seed)
        with torch.no_grad():
            logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
        loss = metrics.next_token_loss(logits, tokens, per_token=True).mean(0)  # [pos-1], over the batch
        patterns = torch.stack([cache["pattern", layer][0] for layer in range(model.cfg.n_layers)])  # [layer head q k]
        try:
            str_tokens = [str(s) for s in model.to_str_tokens(tokens[0])]
        except ValueError:  # a model without a tokenizer (chapter 04's toy): show ids
            str_tokens = [str(int(i)) for i in tokens[0]]
        return cls(scores["induction"], scores["previous_token"], patterns, str_tokens, loss, seq_len=seq_len)
