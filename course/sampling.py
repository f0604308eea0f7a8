"""How a language model writes text: pick a next token from the logits, append it, repeat.

Generation has two phases. *Prefill* runs the whole prompt once and fills the KV cache;
*decode* then feeds one new token per step, reusing the cached keys and values. With
``use_cache=False`` every step re-runs the whole sequence instead (the slow, obvious way);
both give the same tokens, because sampling draws its random numbers from a seeded generator
in the same order either way.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch

from course.kv_cache import KVCache
from course.validation import check_tokens


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide logits by T: T < 1 sharpens the distribution, T > 1 flattens it."""
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row; set the rest to -inf. ``logits: [batch d_vocab]``."""
    k = min(k, logits.shape[-1])
    kth_largest = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus sampling: keep the smallest set of tokens whose probabilities add up to at least p."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above this one
    drop_sorted = mass_before >= p  # the top token is always kept (mass before it is 0)
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next_token(logits: torch.Tensor, temperature: float = 0.0, top_k: Optional[int] = None,
                      top_p: Optional[float] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``logits: [batch d_vocab]`` -> next token ids ``[batch]``. Temperature 0 means greedy."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive int or None, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    # Inverse-CDF sampling with one uniform number per row: the same seed gives the same draw,
    # and a tiny change in the probabilities cannot change which random number is used.
    u = torch.rand(probs.shape[0], 1, generator=generator).to(probs.device)
    cdf = probs.cumsum(dim=-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=probs.shape[-1] - 1).squeeze(-1)


@contextlib.contextmanager
def frozen_weights(model):
    """While generating, the weights do not change: fuse each layer's Q, K, V matrices once."""
    attns = [block.attn for block in model.blocks]
    try:
        for attn in attns:
            attn.frozen_qkv = attn.qkv_weight()
        yield
    finally:
        for attn in attns:
            attn.frozen_qkv = None


@torch.inference_mode()
def generate_stream(model, tokens, max_new_tokens: int = 20, temperature: float = 0.0, top_k: Optional[int] = None,
                    top_p: Optional[float] = None, seed: Optional[int] = None, use_cache: bool = True,
                    stop_at_eos: bool = False) -> Iterator[torch.Tensor]:
    """Yield the new tokens one step at a time: an ``int`` for a single prompt, else ids ``[batch]``."""
    if isinstance(tokens, str):
        tokens = model.to_tokens(tokens)
    cfg = model.cfg
    tokens = check_tokens(tokens, cfg.d_vocab, cfg.n_ctx).to(model.W_E.device)
    if tokens.shape[1] + max_new_tokens > cfg.n_ctx:
        raise ValueError(
            f"prompt of {tokens.shape[1]} tokens + {max_new_tokens} new tokens exceeds the context window of "
            f"{cfg.n_ctx}; ask for at most {cfg.n_ctx - tokens.shape[1]} new tokens or shorten the prompt"
        )
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    eos = getattr(model.tokenizer, "eos_id", None) if stop_at_eos else None
    kv_cache = KVCache.for_model(model, tokens.shape[0]) if use_cache else None
    with frozen_weights(model):
        yield from _decode_loop(model, tokens, max_new_tokens, temperature, top_k, top_p, generator, kv_cache, eos)


def _decode_loop(model, tokens, max_new_tokens, temperature, top_k, top_p, generator, kv_cache, eos):
    use_cache = kv_cache is not None
    sequence = tokens
    step_input = tokens  # prefill: the whole prompt
    for _ in range(max_new_tokens):
        if use_cache:
            logits = model(step_input, kv_cache=kv_cache)[:, -1]  # decode after the first step: [batch 1]
        else:
            logits = model(sequence)[:, -1]  # recompute everything, every step
        next_token = sample_next_token(logits, temperature, top_k, top_p, generator)  # [batch]
        sequence = torch.cat([sequence, next_token[:, None]], dim=1)
        step_input = next_token[:, None]
        yield int(next_token) if sequence.shape[0] == 1 else next_token
        if eos is not None and bool((next_token == eos).all()):
            return


def generate(model, tokens, max_new_tokens: int = 20, temperature: float = 0.0, top_k: Optional[int] = None,
             top_p: Optional[float] = None, seed: Optional[int] = None, use_cache: bool = True,
             stop_at_eos: bool = False) -> torch.Tensor:
    """Return the prompt followed by the new tokens, ``[batch pos + new]``. For a string prompt,
    return the generated text (prompt included)."""
    as_text = isinstance(tokens, str)
    if as_text:
        tokens = model.to_tokens(tokens)
    tokens = check_tokens(tokens, model.cfg.d_vocab, model.cfg.n_ctx).to(model.W_E.device)
    new = [torch.as_tensor(t, device=tokens.device).reshape(-1, 1) for t in
           generate_stream(model, tokens, max_new_tokens, temperature, top_k, top_p, seed, use_cache, stop_at_eos)]
    out = torch.cat([tokens] + new, dim=1)
    if as_text:
        ids = out[0].tolist()
        if ids and ids[0] == getattr(model.tokenizer, "bos_id", None):
            ids = ids[1:]
        return model.to_string(ids)
    return out
