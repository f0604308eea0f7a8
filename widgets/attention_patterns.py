"""AttentionPatterns: every head of a layer as a thumbnail, one large selected head, and token
hovering that shows what a token attends to and what attends to it. Drawn on canvases so that
12 heads x 512 tokens stays smooth; patterns travel as float16 bytes (lower triangle only when
the pattern is causal, which halves them again)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, check_array, check_length, check_tokens, css, esm, pack


class AttentionPatterns(BaseWidget):
    _esm = esm("attention_patterns.js")
    _css = css("attention_patterns.css")

    tokens = t.List(t.Unicode(), help="Token strings, one per position.").tag(sync=True)
    patterns = t.Bytes(help="Attention probabilities as little-endian `dtype` bytes, see `storage`.").tag(sync=True)
    shape = t.List(t.Int(), help="[heads, query, key] shape of the patterns.").tag(sync=True)
    dtype = t.Enum(["float16", "float32"], "float16", help="Number format of `patterns`.").tag(sync=True)
    storage = t.Enum(
        ["full", "causal"], "full",
        help="'full': every [head, query, key] entry; 'causal': only key <= query, row by row.",
    ).tag(sync=True)
    head_labels = t.List(t.Unicode(), help="One label per head, e.g. 'L0H3'.").tag(sync=True)
    selected_head = t.Int(0, help="Index of the head shown large.").tag(sync=True)
    hovered_token = t.Int(-1, help="Position last hovered in the browser (-1: none yet).").tag(sync=True)

    def __init__(
        self,
        tokens: Sequence[str],
        patterns: Any,
        head_labels: Sequence[str] | None = None,
        *,
        selected_head: int = 0,
        dtype: str = "float16",
    ) -> None:
        tokens = check_tokens(tokens)
        p = check_array(
            patterns, "patterns", ["heads", "query", "key"],
            hint="For one head, add a head axis with patterns[None]; for a cached "
            "[batch, head, query, key] pattern, pass patterns[0] or use AttentionPatterns.from_cache.",
        )
        n_heads, n_q, n_k = p.shape
        if n_q != n_k:
            raise WidgetInputError(
                f"patterns must be square [heads, pos, pos], but query has {n_q} and key has {n_k} "
                "positions. Pass the pattern of one full forward pass (hook_pattern)."
            )
        check_length(tokens, n_k, "patterns", tuple(p.shape), "[heads, query, key]")
        if p.size and (p.min() < -1e-3 or p.max() > 1 + 1e-3):
            raise WidgetInputError(
                f"patterns must be probabilities in [0, 1] but range from {p.min():.3g} to "
                f"{p.max():.3g}. Did you pass attention scores (hook_attn_scores) instead of "
                "the softmaxed pattern (hook_pattern)?"
            )
        labels = [f"head {i}" for i in range(n_heads)] if head_labels is None else check_tokens(head_labels, "head_labels")
        if len(labels) != n_heads:
            raise WidgetInputError(
                f"head_labels has {len(labels)} entries but patterns has {n_heads} heads "
                f"(shape [heads, query, key] = {tuple(p.shape)}). Give one label per head."
            )
        if not 0 <= selected_head < max(n_heads, 1):
            raise WidgetInputError(f"selected_head must be in 0..{n_heads - 1}; got {selected_head}.")
        causal = n_q > 1 and not np.triu(p, k=1).any()
        if causal:
            rows, cols = np.tril_indices(n_q)
            flat = p[:, rows, cols]  # row by row, k <= q
        else:
            flat = p
        super().__init__(
            tokens=tokens,
            patterns=pack(flat, dtype),
            shape=[n_heads, n_q, n_k],
            dtype=dtype,
            storage="causal" if causal else "full",
            head_labels=labels,
            selected_head=selected_head,
        )

    @t.validate("selected_head")
    def _check_head(self, proposal):
        v = proposal["value"]
        n = self.shape[0] if self.shape else 1
        if not 0 <= v < n:
            raise t.TraitError(f"selected_head must be in 0..{n - 1}; got {v}.")
        return v

    @classmethod
    def from_cache(cls, cache: Any, layer: int, tokens: Sequence[str], **kwargs: Any) -> "AttentionPatterns":
        """Patterns of one layer from an activation cache (batch 0), labelled L{layer}H{head}."""
        name = f"blocks.{layer}.attn.hook_pattern"
        try:
            pattern = cache[name]
        except KeyError:
            raise WidgetInputError(
                f"the cache has no '{name}'. Run model.run_with_cache(tokens) without a "
                "names_filter that drops it, and check that layer < model.cfg.n_layers."
            ) from None
        p = check_array(pattern, name, ["batch", "head", "query", "key"])
        labels = [f"L{layer}H{i}" for i in range(p.shape[1])]
        return cls(tokens, p[0], head_labels=kwargs.pop("head_labels", labels), **kwargs)

    def pattern(self, head: int | None = None) -> np.ndarray:
        """The [query, key] pattern of a head as the browser receives it (float16-rounded)."""
        head = self.selected_head if head is None else head
        n_heads, n_q, n_k = self.shape
        flat = np.frombuffer(self.patterns, dtype=np.dtype(self.dtype).newbyteorder("<")).astype(np.float32)
        if self.storage == "causal":
            tri = n_q * (n_q + 1) // 2
            out = np.zeros((n_q, n_k), np.float32)
            out[np.tril_indices(n_q)] = flat[head * tri:(head + 1) * tri]
            return out
        return flat.reshape(n_heads, n_q, n_k)[head]
