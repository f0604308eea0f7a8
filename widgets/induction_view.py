"""InductionView: which heads are induction heads and previous-token heads, on a repeated random
sequence (BOS + r + r), as in the TransformerLens tutorial (Olsson et al. 2022): a head's
induction score is its mean attention from each position i of the second repeat to i - seq_len + 1
(the token after the earlier copy of the current token); its previous-token score is its mean
attention on the diagonal offset -1. The loss per position shows the second repeat being predicted."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ._base import STATIC, BaseWidget, WidgetInputError, check_array, check_length, check_tokens, pack, esm


def induction_scores(patterns: np.ndarray, seq_len: int) -> np.ndarray:
    """patterns [layers, heads, pos, pos] of BOS + r + r -> [layers, heads] induction scores."""
    q = np.arange(seq_len + 1, 2 * seq_len + 1)  # the second repeat
    return patterns[..., q, q - seq_len + 1].mean(-1)


def prev_token_scores(patterns: np.ndarray) -> np.ndarray:
    """patterns [layers, heads, pos, pos] -> [layers, heads] mean attention to the previous token."""
    q = np.arange(1, patterns.shape[-1])
    return patterns[..., q, q - 1].mean(-1)


class InductionView(BaseWidget):
    _esm = esm("induction_view.js")
    _css = STATIC / "induction_view.css"

    tokens = t.List(t.Unicode(), help="Token strings, one per position.").tag(sync=True)
    induction_scores = t.Bytes(help="float32 bytes [layers, heads].").tag(sync=True)
    prev_token_scores = t.Bytes(help="float32 bytes [layers, heads].").tag(sync=True)
    patterns = t.Bytes(help="float16 bytes [layers, heads, pos, pos].").tag(sync=True)
    loss_per_pos = t.Bytes(help="float32 bytes [pos - 1]: loss of predicting token i+1 at position i.").tag(sync=True)
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
        super().__init__(tokens=tokens, induction_scores=pack(ind), prev_token_scores=pack(prev),
                         patterns=pack(pat, "float16"), loss_per_pos=pack(loss),
                         shape=[int(ind.shape[0]), int(ind.shape[1]), n_pos], seq_len=int(seq_len))
        best = np.unravel_index(int(np.argmax(ind)), ind.shape) if ind.size else (0, 0)
        self.selected_layer, self.selected_head = int(best[0]), int(best[1])

    @classmethod
    def from_model(cls, model: Any, seq_len: int = 50, seed: int = 0,
                   bos_token_id: int | None = None) -> "InductionView":
        """Run `model` on BOS + r + r for a random r of `seq_len` tokens and score every head."""
        import torch

        n_ctx = getattr(model.cfg, "n_ctx", None)
        if n_ctx is not None and 2 * seq_len + 1 > n_ctx:
            raise WidgetInputError(
                f"seq_len={seq_len} needs 2 * seq_len + 1 = {2 * seq_len + 1} positions but the "
                f"model's context is n_ctx={n_ctx}. Use seq_len <= {(n_ctx - 1) // 2}.")
        if bos_token_id is None:
            tok = getattr(model, "tokenizer", None)
            bos_token_id = getattr(tok, "bos_id", None) or getattr(tok, "bos_token_id", None) or 0
        g = torch.Generator().manual_seed(seed)
        # random tokens other than BOS
        r = torch.randint(0, model.cfg.d_vocab - 1, (seq_len,), generator=g)
        r = r + (r >= bos_token_id).long()
        ids = torch.cat([torch.tensor([bos_token_id]), r, r])[None]
        with torch.no_grad():
            logits, cache = model.run_with_cache(ids)
            logp = logits[0, :-1].log_softmax(-1)
            loss = -logp.gather(-1, ids[0, 1:, None])[:, 0]
            pats = torch.stack([cache[f"blocks.{l}.attn.hook_pattern"][0]
                                for l in range(model.cfg.n_layers)])  # [layers, heads, pos, pos]
        p = pats.float().numpy()
        try:
            str_tokens = [str(s) for s in model.to_str_tokens(ids[0])]
        except Exception:  # a model without a tokenizer: show ids
            str_tokens = [str(int(i)) for i in ids[0]]
        return cls(induction_scores(p, seq_len), prev_token_scores(p), p, str_tokens,
                   loss.numpy(), seq_len=seq_len)
