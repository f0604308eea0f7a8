"""Direct logit attribution: how much each component's direct write to the residual stream moves
a logit difference, read through the final LayerNorm (frozen at its cached scale) and W_U.

Because the residual stream is a sum, the components' attributions add up (with the LayerNorm
bias and b_U as one constant) to the logit difference itself; ``tests/test_attribution.py`` checks it.
"""

from __future__ import annotations

import torch

from course.cache import ActivationCache


def logit_diff_direction(model, answer_tokens: torch.Tensor, wrong_tokens: torch.Tensor) -> torch.Tensor:
    """``W_U[:, answer] - W_U[:, wrong]``: the residual direction that raises the answer over the wrong token. ``[batch d_model]``."""
    W_U = model.W_U.detach()
    return (W_U[:, answer_tokens] - W_U[:, wrong_tokens]).T


def attribute(stack: torch.Tensor, cache: ActivationCache, direction: torch.Tensor, pos: int = -1) -> torch.Tensor:
    """Project each component ``[component batch pos d_model]`` at ``pos``, after the final LayerNorm's
    linear part, onto ``direction [batch d_model]``; mean over the batch -> ``[component]``."""
    scaled = cache.apply_ln_to_stack(stack[:, :, pos : (pos + 1) or None], pos_slice=slice(pos, (pos + 1) or None))
    return (scaled[:, :, 0] * direction).sum(-1).mean(-1)


def dla_by_component(model, cache: ActivationCache, answer_tokens, wrong_tokens, pos: int = -1):
    """Attribution of embeddings and each attention and MLP layer: ``([component], labels)``."""
    stack, labels = cache.decompose_resid()
    return attribute(stack, cache, logit_diff_direction(model, answer_tokens, wrong_tokens), pos), labels


def dla_by_head(model, cache: ActivationCache, answer_tokens, wrong_tokens, pos: int = -1) -> torch.Tensor:
    """Attribution of every attention head: ``[layer head_index]``."""
    stack, _ = cache.stack_head_results()
    scores = attribute(stack, cache, logit_diff_direction(model, answer_tokens, wrong_tokens), pos)
    return scores.view(model.cfg.n_layers, model.cfg.n_heads)


def dla_by_layer(model, cache: ActivationCache, answer_tokens, wrong_tokens, pos: int = -1):
    """Attribution of the residual stream accumulated up to each layer, through the linear map above
    (not the logit lens, which applies the real LayerNorm: ``lens.logit_lens``)."""
    stack = cache.accumulated_resid()
    labels = cache.accumulated_resid_labels()
    return attribute(stack, cache, logit_diff_direction(model, answer_tokens, wrong_tokens), pos), labels
