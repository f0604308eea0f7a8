"""The local replacement model of one prompt (Ameisen et al. 2025, "Circuit Tracing").

Run the real model on the prompt and keep what makes it non-linear: every attention pattern and
every normalisation's scale (the denominator of LayerNorm or RMSNorm). With those frozen,
attention is a fixed mixing of positions followed by linear maps, and each norm is a linear map,
so the only non-linear parts left are the MLPs. Replace each MLP by transcoder features, and add
back at every (layer, position) the *error*: what the MLP really wrote minus what the features
predict. On this prompt the replacement then reproduces the real logits exactly (``max_abs_error``),
while everything in it is linear except each feature's own activation function. That is what
makes an attribution graph (course/attribution_graph.py) well defined: the direct effect of one
node on another is a product of fixed matrices.

Features are not used at position 0 or at BOS tokens (there the MLP's whole output is its error
node), as the transcoders were not trained there (course/transcoders.py, ``keep_positions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import einops
import torch

from course.transcoders import (Transcoders, bos_id_of, check_fits, keep_positions, mlp_input_hook,
                                mlp_output_hook)
from course.validation import check_tokens

Changes = dict[tuple[int, int, int], float]  # (layer, pos, feature) -> the activation it is set to


def frozen_norm(norm, x: torch.Tensor, scale: Optional[torch.Tensor]) -> torch.Tensor:
    """A norm with its scale fixed (``[pos 1]``, cached from the real run): an affine map of x.
    ``scale`` None means the model has no norm there."""
    if scale is None:
        return x
    bias = getattr(norm, "b", None)  # LayerNorm has one, RMSNorm not
    return norm.frozen(x, scale) + (0 if bias is None else bias.detach())


@dataclass
class LocalReplacement:
    """The frozen run of one prompt and the transcoders standing in for its MLPs. Build it with
    ``local_replacement(model, transcoders, tokens)``."""

    model: object  # the HookedTransformer
    transcoders: Transcoders
    tokens: torch.Tensor  # [pos]
    resid_0: torch.Tensor  # [pos d_model], token plus position embedding: the embedding nodes
    patterns: list[torch.Tensor]  # per layer, [head_index query_pos key_pos]
    ln1_scale: list[Optional[torch.Tensor]]  # per layer, [pos 1] (None: the model has no norms)
    ln2_scale: list[Optional[torch.Tensor]]
    final_scale: Optional[torch.Tensor]  # [pos 1]
    keep: torch.Tensor  # [pos] where features are used (not position 0, not BOS)
    mlp_in: torch.Tensor  # [layer pos d_model], what each MLP read
    mlp_out: torch.Tensor  # [layer pos d_model], what each MLP wrote
    acts: torch.Tensor  # [layer pos d_transcoder], feature activations (0 where not kept)
    errors: torch.Tensor  # [layer pos d_model], mlp_out minus the features' prediction: the error nodes
    logits: torch.Tensor  # [pos d_vocab], the real model's logits

    @property
    def n_layers(self) -> int:
        return self.transcoders.cfg.n_layers

    # -- the frozen pieces ---------------------------------------------------------------------
    def attention(self, layer: int, resid: torch.Tensor) -> torch.Tensor:
        """Layer ``layer``'s attention output for the stream ``[... pos d_model]``, with its norm's
        scale and its pattern frozen: values, mixed by the fixed pattern, through W_O."""
        block = self.model.blocks[layer]
        attn = block.attn
        x = frozen_norm(block.ln1, resid, self.ln1_scale[layer])
        v = einops.einsum(x, attn.W_V.detach(), "... pos d, kv d e -> ... pos kv e") + attn.b_V.detach()
        group = attn.cfg.n_heads // attn.cfg.n_key_value_heads  # grouped-query attention shares values
        v = v.repeat_interleave(group, dim=-2) if group > 1 else v  # [... pos head_index d_head]
        z = einops.einsum(self.patterns[layer], v, "h q k, ... k h e -> ... q h e")
        return einops.einsum(z, attn.W_O.detach(), "... q h e, h e d -> ... q d") + attn.b_O.detach()

    def run(self, resid_0: torch.Tensor, mlp_out: Callable[[int, torch.Tensor], torch.Tensor],
            stop_at_mlp: Optional[int] = None) -> torch.Tensor:
        """The frozen model from the embeddings ``[... pos d_model]``; ``mlp_out(layer, x)`` gives
        each MLP's output from its input x. Returns the input of MLP ``stop_at_mlp``, or (None) the
        final stream after the final norm, ``[... pos d_model]``."""
        resid = resid_0
        for layer in range(self.n_layers):
            resid = resid + self.attention(layer, resid)
            x = frozen_norm(self.model.blocks[layer].ln2, resid, self.ln2_scale[layer])
            if layer == stop_at_mlp:
                return x
            resid = resid + mlp_out(layer, x)
        return frozen_norm(self.model.ln_final, resid, self.final_scale)

    def mlp_input(self, layer: int, resid_0: torch.Tensor, mlp_outs: torch.Tensor) -> torch.Tensor:
        """The input of MLP ``layer`` as a linear function of the embeddings ``[... pos d_model]`` and
        the outputs of the MLPs before it, ``mlp_outs [... layer' pos d_model]`` (layer' >= layer):
        every path from them to it that does not pass through another MLP."""
        return self.run(resid_0, lambda l, x: mlp_outs[..., l, :, :], stop_at_mlp=layer)

    def final_stream(self, resid_0: torch.Tensor, mlp_outs: torch.Tensor) -> torch.Tensor:
        """The stream after the final norm, ``[... pos d_model]``, linear in the same inputs."""
        return self.run(resid_0, lambda l, x: mlp_outs[..., l, :, :])

    def unembed(self, final: torch.Tensor) -> torch.Tensor:  # [... d_model] -> [... d_vocab]
        return final @ self.model.W_U.detach() + self.model.b_U.detach()

    # -- the replacement model itself ----------------------------------------------------------
    def mlp_output(self, layer: int, acts: list[torch.Tensor]) -> torch.Tensor:
        """MLP ``layer``'s output in the replacement: the decoder bias, what the features of this and
        earlier layers (``acts[l] [pos d_transcoder]``) write to it, and the error node."""
        tc = self.transcoders
        written = sum(acts[l] @ tc.W_dec[l][layer - l].detach() for l in range(layer + 1) if layer in tc.writes_to(l))
        return tc.b_dec[layer].detach() + written + self.errors[layer]

    def forward(self, changes: Optional[Changes] = None, linear: bool = False) -> torch.Tensor:
        """Logits ``[pos d_vocab]`` of the replacement model, its features computed from its own
        stream, with ``changes`` clamping some features' activations. ``linear=False``: each feature
        goes through its JumpReLU (any feature may switch on or off). ``linear=True``: the graph's
        linearisation, the features active on the prompt follow their pre-activation and the others
        stay off, so an intervention's effect is what the attribution graph predicts."""
        tc, changes = self.transcoders, changes or {}
        acts: list[torch.Tensor] = []

        def mlp_out(layer: int, x: torch.Tensor) -> torch.Tensor:
            if linear:
                a = tc.pre_acts(layer, x).detach() * (self.acts[layer] > 0)
            else:
                a = tc.encode(layer, x).detach() * self.keep[:, None]
            for (l, pos, feature), value in changes.items():
                if l == layer:
                    a[pos, feature] = value
            acts.append(a)
            return self.mlp_output(layer, acts)

        return self.unembed(self.run(self.resid_0, mlp_out))

    def max_abs_error(self) -> float:
        """Largest |replacement logit - real logit| over every position and token: about 1e-5 in
        float32. The error nodes make the replacement exact on its own prompt."""
        return (self.forward() - self.logits).abs().max().item()


@torch.no_grad()
def local_replacement(model, transcoders: Transcoders, tokens) -> LocalReplacement:
    """Run ``model`` on one prompt (``tokens [pos]`` or ``[1 pos]``, or a string) and freeze it:
    attention patterns, norm scales, and each MLP's input and output, from which the feature
    activations and the error nodes follow."""
    check_fits(transcoders, model)
    if isinstance(tokens, str):
        tokens = model.to_tokens(tokens)
    tokens = check_tokens(tokens, model.cfg.d_vocab, model.cfg.n_ctx)
    if tokens.shape[0] != 1:
        raise ValueError(f"a local replacement is built for one prompt; got a batch of {tokens.shape[0]}")
    L = model.cfg.n_layers
    normed = model.cfg.normalization is not None
    names = ["hook_embed"] + (["hook_pos_embed"] if model.pos_embed is not None else [])
    for l in range(L):
        names += [f"blocks.{l}.attn.hook_pattern", mlp_input_hook(model, l), mlp_output_hook(l)]
        names += [f"blocks.{l}.ln1.hook_scale", f"blocks.{l}.ln2.hook_scale"] if normed else []
    names += ["ln_final.hook_scale"] if normed else []
    _, cache = model.run_with_cache(tokens, names_filter=names)
    logits = model(tokens)[0]  # the real model, as it runs without hooks
    scale = (lambda name: cache[name][0]) if normed else (lambda name: None)

    resid_0 = cache["hook_embed"][0] + (cache["hook_pos_embed"][0] if model.pos_embed is not None else 0)
    mlp_in = torch.stack([cache[mlp_input_hook(model, l)][0] for l in range(L)])  # [layer pos d_model]
    mlp_out = torch.stack([cache[mlp_output_hook(l)][0] for l in range(L)])
    keep = keep_positions(tokens, bos_id_of(model))[0]  # [pos]
    acts = torch.stack([transcoders.encode(l, mlp_in[l]) for l in range(L)]) * keep[None, :, None]
    predicted = einops.rearrange(transcoders.decode(einops.rearrange(acts, "l p f -> p l f")), "p l d -> l p d")
    return LocalReplacement(
        model=model, transcoders=transcoders, tokens=tokens[0], resid_0=resid_0,
        patterns=[cache[f"blocks.{l}.attn.hook_pattern"][0] for l in range(L)],
        ln1_scale=[scale(f"blocks.{l}.ln1.hook_scale") for l in range(L)],
        ln2_scale=[scale(f"blocks.{l}.ln2.hook_scale") for l in range(L)],
        final_scale=scale("ln_final.hook_scale"), keep=keep, mlp_in=mlp_in, mlp_out=mlp_out, acts=acts,
        errors=mlp_out - predicted, logits=logits)


def check_exact(model, transcoders: Transcoders, tokens) -> float:
    """Build the local replacement of a prompt and return the largest difference between its
    logits and the real model's. A learner's check: it should be below 1e-4."""
    return local_replacement(model, transcoders, tokens).max_abs_error()
