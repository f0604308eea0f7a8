"""The logit lens (nostalgebraist 2020): read the residual stream before each block, and after the
last, as if the model stopped there, through the model's own final LayerNorm and unembedding.

The lens applies the *real* final LayerNorm to each layer's stream: that stream's own mean and
scale, then w and the bias b. Its last row is therefore exactly the model's logits. Direct logit
attribution needs something else, a *linear* map (``ActivationCache.apply_ln_to_stack``: the scale
frozen at the final stream's, no bias) so that components add up; used as a lens, that map
mispredicts wherever an earlier stream's scale or the bias matters.
"""

from __future__ import annotations

from typing import Union

import torch

from course.cache import ActivationCache


def logit_lens(model, cache_or_tokens: Union[ActivationCache, torch.Tensor]) -> torch.Tensor:
    """Logits read from the stream before each block and after the last:
    ``[layer+1 batch pos d_vocab]``, rows labelled by ``cache.accumulated_resid_labels()``.
    Give a cache of a forward pass, or tokens ``[batch pos]`` to run one."""
    cache = cache_or_tokens
    if not isinstance(cache, ActivationCache):
        names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
        names.append(f"blocks.{model.cfg.n_layers - 1}.hook_resid_post")
        with torch.no_grad():
            _, cache = model.run_with_cache(cache_or_tokens, names_filter=names)
    stack = cache.accumulated_resid()  # [layer+1 batch pos d_model]
    with torch.no_grad():
        return model.unembed(model.ln_final(stack))
