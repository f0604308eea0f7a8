"""A head's QK and OV circuits as full matrices over tokens or positions, read from the weights
alone (no forward pass), and the scores that find copying heads and previous-token heads.

Elhage et al. (2021), *A Mathematical Framework for Transformer Circuits*, write a head as two
bilinear maps: the QK circuit ``W_E W_Q W_K^T W_E^T`` (which tokens attend to which) and the OV
circuit ``W_E W_V W_O W_U`` (what attending to a token adds to the logits). Their model had no
LayerNorm; ours does, so the inputs here are the embeddings *after* the LayerNorm that the head
reads (exact for layer 0 given the position, an approximation for later layers, which also read
earlier heads' outputs), and the OV circuit reads out through the final LayerNorm's linear part
(centre and multiply by ``w``; the per-position scale is one positive number per row, so it
changes no ranking within a row). Rows are sources (keys / attended tokens), as in
TransformerLens's ``FactoredMatrix``; the column convention ``W_U^T W_O W_V W_E`` is the transpose.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from course import metrics


def _ln_rows(ln: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's own LayerNorm (or identity) applied to each row of ``x`` [n d_model]."""
    return ln(x[None])[0]


def mean_token_embedding(model, tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The average token embedding ``[d_model]`` (over ``tokens`` if given, else the whole vocabulary)."""
    W_E = model.W_E.detach()
    return (W_E if tokens is None else W_E[tokens]).mean(0)


def token_inputs(model, layer: int, tokens: Optional[torch.Tensor] = None, position: Optional[int] = None) -> torch.Tensor:
    """What a head of ``layer`` reads when the residual stream holds only a token's embedding plus
    a positional embedding (``position``, or the mean over positions): LN1(W_E[t] + W_pos[p]),
    ``[n_tokens d_model]``."""
    W_E = model.W_E.detach() if tokens is None else model.W_E.detach()[tokens]
    pos = model.W_pos.detach().mean(0) if position is None else model.W_pos.detach()[position]
    with torch.no_grad():
        return _ln_rows(model.blocks[layer].ln1, W_E + pos)


def position_inputs(model, layer: int, n_pos: Optional[int] = None, tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
    """What a head of ``layer`` reads from positions alone: LN1(W_pos[p] + mean token embedding),
    ``[n_pos d_model]``."""
    n_pos = model.cfg.n_ctx if n_pos is None else n_pos
    with torch.no_grad():
        return _ln_rows(model.blocks[layer].ln1, model.W_pos.detach()[:n_pos] + mean_token_embedding(model, tokens))


def effective_unembed(model) -> torch.Tensor:
    """The final LayerNorm's linear part followed by W_U: ``[d_model d_vocab]``. A vector x gives
    logits ``(x - mean(x)) * w @ W_U`` up to one positive scale per position and the bias."""
    W_U = model.W_U.detach()
    ln = model.ln_final
    if not hasattr(ln, "w"):
        return W_U
    d = W_U.shape[0]
    centre = torch.eye(d) - torch.full((d, d), 1.0 / d)
    return centre @ (ln.w.detach()[:, None] * W_U)


def qk_circuit(model, layer: int, head: int, queries: torch.Tensor, keys: torch.Tensor,
               bias: bool = True) -> torch.Tensor:
    """Attention scores ``[n_queries n_keys]`` (before the mask and softmax, scaled by
    1/sqrt(d_head) as in the forward pass) between residual vectors that the head reads, already
    LayerNormed: ``(queries W_Q + b_Q)(keys W_K + b_K)^T / sqrt(d_head)``."""
    attn = model.blocks[layer].attn
    kv = attn.kv_head(head)  # under grouped-query attention, the key head this query head reads
    W_Q, W_K = attn.W_Q.detach()[head], attn.W_K.detach()[kv]  # [d_model d_head]
    q, k = queries @ W_Q, keys @ W_K
    if bias:
        q, k = q + attn.b_Q.detach()[head], k + attn.b_K.detach()[kv]
    return q @ k.T / math.sqrt(W_Q.shape[-1])


def ov_circuit(model, layer: int, head: int, sources: Optional[torch.Tensor] = None,
               unembed: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The full OV circuit ``[n_sources d_vocab]``: the direct effect on every logit of the head
    attending fully to each source. ``sources`` are what the head reads (default: every token,
    ``token_inputs(model, layer)``); biases are left out, since they add the same vector
    whatever the head attends to."""
    attn = model.blocks[layer].attn
    sources = token_inputs(model, layer) if sources is None else sources
    unembed = effective_unembed(model) if unembed is None else unembed
    W_OV = attn.W_V.detach()[attn.kv_head(head)] @ attn.W_O.detach()[head]  # [d_model d_model], rank d_head
    return sources @ W_OV @ unembed


def copying_score(ov: torch.Tensor, tokens: Optional[torch.Tensor] = None, k: int = 1) -> float:
    """Fraction of source tokens whose own logit is among the top ``k`` of their OV row. ``ov`` is
    ``[n_sources d_vocab]`` with row i the source ``tokens[i]`` (default: row i is token i)."""
    tokens = torch.arange(ov.shape[0]) if tokens is None else tokens
    top = ov.topk(k, dim=-1).indices  # [n_sources k]
    return (top == tokens[:, None]).any(-1).float().mean().item()


def ov_eigenvalue_score(model, layer: int, head: int, tokens: Optional[torch.Tensor] = None) -> float:
    """Elhage et al.'s copying measure: sum(eigenvalues) / sum(|eigenvalues|) of the OV circuit
    restricted to ``tokens`` (default: all). +1 when every eigenvalue is positive (the head raises
    the logit of what it attends to), -1 when every one is negative (it suppresses it). The nonzero
    eigenvalues of E V O U_t are those of the small [d_head d_head] matrix V O U_t E, so this is cheap."""
    attn = model.blocks[layer].attn
    E = token_inputs(model, layer, tokens)  # [n d_model]
    U = effective_unembed(model)
    U = U if tokens is None else U[:, tokens]  # [d_model n]
    small = attn.W_O.detach()[head] @ U @ E @ attn.W_V.detach()[attn.kv_head(head)]  # [d_head d_head]
    eig = torch.linalg.eigvals(small.double())
    return (eig.sum().real / eig.abs().sum()).item()


def positional_pattern(model, layer: int, head: int, n_pos: int = 32,
                       tokens: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The attention pattern ``[query_pos key_pos]`` that the head's QK circuit gives to positions
    alone (every token replaced by the mean embedding): causal mask, softmax over keys."""
    x = position_inputs(model, layer, n_pos, tokens)
    scores = qk_circuit(model, layer, head, x, x)
    future = torch.ones(n_pos, n_pos, dtype=torch.bool).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(-1)


def previous_token_qk_score(model, layer: int, head: int, n_pos: int = 32,
                            tokens: Optional[torch.Tensor] = None) -> float:
    """``metrics.prev_token_score`` of ``positional_pattern``: a previous-token score from weights only."""
    pattern = positional_pattern(model, layer, head, n_pos, tokens)  # [query_pos key_pos]
    return metrics.prev_token_score(pattern[None, None]).item()  # as one batch of one head


def all_heads(model, score_fn, **kwargs) -> torch.Tensor:
    """``score_fn(model, layer, head, **kwargs)`` for every head: ``[layer head_index]``."""
    return torch.tensor([[score_fn(model, layer, head, **kwargs) for head in range(model.cfg.n_heads)]
                         for layer in range(model.cfg.n_layers)])


def copying_scores(model, tokens: Optional[torch.Tensor] = None, k: int = 1) -> torch.Tensor:
    """``copying_score`` of every head's OV circuit over ``tokens``: ``[layer head_index]``."""
    def score(model, layer, head):
        sources = token_inputs(model, layer, tokens)
        ov = ov_circuit(model, layer, head, sources)
        if tokens is not None:
            ov = ov[:, tokens]
        return copying_score(ov, None, k)

    return all_heads(model, score)


def head_label(layer: int, head: int) -> str:
    return f"L{layer}H{head}"


def argmax_head(scores: torch.Tensor) -> tuple[int, int]:
    """(layer, head) of the largest entry of a ``[layer head_index]`` score table."""
    flat = int(scores.argmax())
    return divmod(flat, scores.shape[1])
