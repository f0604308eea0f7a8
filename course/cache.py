"""ActivationCache: the activations of one forward pass, by hook name, and the views of them
that interpretability needs (the residual stream layer by layer, each head's output, the final
LayerNorm applied to a stack of components for direct logit attribution)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Optional

import torch

# Short names, as in TransformerLens's utils.get_act_name: cache["pattern", 0] is
# cache["blocks.0.attn.hook_pattern"].
SHORT_NAMES = {
    "embed": "hook_embed", "pos_embed": "hook_pos_embed",
    "resid_pre": "blocks.{l}.hook_resid_pre", "resid_mid": "blocks.{l}.hook_resid_mid",
    "resid_post": "blocks.{l}.hook_resid_post", "attn_out": "blocks.{l}.hook_attn_out",
    "mlp_out": "blocks.{l}.hook_mlp_out", "q": "blocks.{l}.attn.hook_q", "k": "blocks.{l}.attn.hook_k",
    "v": "blocks.{l}.attn.hook_v", "z": "blocks.{l}.attn.hook_z", "attn_scores": "blocks.{l}.attn.hook_attn_scores",
    "pattern": "blocks.{l}.attn.hook_pattern", "pre": "blocks.{l}.mlp.hook_pre", "post": "blocks.{l}.mlp.hook_post",
    "scale": "blocks.{l}.ln1.hook_scale", "ln_final_scale": "ln_final.hook_scale",
    # chapter 13's variants: SwiGLU's linear half, a mixture of experts' routing
    "pre_linear": "blocks.{l}.mlp.hook_pre_linear", "router_probs": "blocks.{l}.mlp.hook_router_probs",
    "gates": "blocks.{l}.mlp.hook_gates", "expert_out": "blocks.{l}.mlp.hook_expert_out",
}


def act_name(short: str, layer: Optional[int] = None) -> str:
    """``act_name("pattern", 0) == "blocks.0.attn.hook_pattern"``."""
    if short not in SHORT_NAMES:
        raise KeyError(f"unknown short name {short!r}; known: {sorted(SHORT_NAMES)}")
    template = SHORT_NAMES[short]
    if "{l}" in template and layer is None:
        raise KeyError(f"{short!r} lives in every block: give a layer, e.g. cache[{short!r}, 0]")
    return template.format(l=layer)


class ActivationCache(Mapping):
    def __init__(self, activations: dict[str, torch.Tensor], model):
        self._acts = activations
        self.model = model

    # -- mapping ------------------------------------------------------------------------------------
    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, tuple):
            key = act_name(*key)
        elif key not in self._acts and key in SHORT_NAMES and "{l}" not in SHORT_NAMES[key]:
            key = SHORT_NAMES[key]
        if key not in self._acts:
            close = difflib.get_close_matches(key, list(self._acts), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"{key!r} is not in this cache.{hint} (run_with_cache's names_filter may have left it out)")
        return self._acts[key]

    def __iter__(self):
        return iter(self._acts)

    def __len__(self) -> int:
        return len(self._acts)

    def __repr__(self) -> str:
        return f"ActivationCache({len(self)} activations, {self.n_bytes / 1e6:.1f} MB)"

    @property
    def n_bytes(self) -> int:
        """Bytes held, counting each storage once (some activations are views of others)."""
        seen = {}
        for t in self._acts.values():
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return sum(seen.values())

    # -- views of the residual stream ----------------------------------------------------------
    def accumulated_resid(self, layer: Optional[int] = None, incl_mid: bool = False, apply_ln: bool = False,
                          pos_slice=slice(None)) -> torch.Tensor:
        """The residual stream before each block and after the last: ``[component batch pos d_model]``.

        ``layer`` stops before that block (``layer=n_layers`` or None means all); ``incl_mid`` adds the
        stream between attention and MLP. Labels are in ``accumulated_resid_labels``. ``apply_ln``
        applies ``apply_ln_to_stack``, the *linear* map of direct logit attribution (final-stream
        scale, no bias); for a logit lens, which needs the real LayerNorm, use ``lens.logit_lens``."""
        n_layers = self.model.cfg.n_layers
        layer = n_layers if layer is None else layer
        parts = []
        for l in range(layer):
            parts.append(self[f"blocks.{l}.hook_resid_pre"])
            if incl_mid and f"blocks.{l}.hook_resid_mid" in self._acts:
                parts.append(self[f"blocks.{l}.hook_resid_mid"])
        if layer == n_layers:
            parts.append(self[f"blocks.{n_layers - 1}.hook_resid_post"])
        stack = torch.stack(parts)[:, :, pos_slice]
        return self.apply_ln_to_stack(stack, pos_slice=pos_slice) if apply_ln else stack

    def accumulated_resid_labels(self, layer: Optional[int] = None, incl_mid: bool = False) -> list[str]:
        n_layers = self.model.cfg.n_layers
        layer = n_layers if layer is None else layer
        labels = []
        for l in range(layer):
            labels.append(f"{l}_pre")
            if incl_mid and not self.model.cfg.attn_only:
                labels.append(f"{l}_mid")
        if layer == n_layers:
            labels.append("final_post")
        return labels

    def decompose_resid(self, layer: Optional[int] = None, pos_slice=slice(None)) -> tuple[torch.Tensor, list[str]]:
        """The residual stream as a sum of what wrote to it: embeddings, then each attention
        layer's and MLP layer's output. Returns ``([component batch pos d_model], labels)``.
        (A model with rotary positions has no pos_embed component.)"""
        layer = self.model.cfg.n_layers if layer is None else layer
        parts, labels = [self["hook_embed"]], ["embed"]
        if self.model.pos_embed is not None:
            parts.append(self["hook_pos_embed"])
            labels.append("pos_embed")
        for l in range(layer):
            parts.append(self[f"blocks.{l}.hook_attn_out"])
            labels.append(f"{l}_attn_out")
            if not self.model.cfg.attn_only:
                parts.append(self[f"blocks.{l}.hook_mlp_out"])
                labels.append(f"{l}_mlp_out")
        return torch.stack(parts)[:, :, pos_slice], labels

    def stack_head_results(self, layer: Optional[int] = None, pos_slice=slice(None)) -> tuple[torch.Tensor, list[str]]:
        """What each head wrote into the residual stream, ``z_h @ W_O[h]`` (without the shared bias
        b_O): ``([layer*head_index batch pos d_model], labels like "L1H3")``, over layers before ``layer``."""
        layer = self.model.cfg.n_layers if layer is None else layer
        results, labels = [], []
        for l in range(layer):
            z = self[f"blocks.{l}.attn.hook_z"][:, pos_slice]  # [batch pos head_index d_head]
            W_O = self.model.blocks[l].attn.W_O  # [head_index d_head d_model]
            results.append(torch.einsum("bphe,hed->hbpd", z, W_O.to(z.dtype)))
            labels += [f"L{l}H{h}" for h in range(W_O.shape[0])]
        return torch.cat(results).detach(), labels

    def apply_ln_to_stack(self, stack: torch.Tensor, layer: Optional[int] = None, pos_slice=slice(None)) -> torch.Tensor:
        """Apply the LayerNorm that reads the stream before ``layer`` (default: the final one) to each
        component of a stack ``[component batch pos d_model]``, as a *linear* map: centre (RMSNorm
        does not), divide by the scale cached for the full stream, multiply by w. The bias b is
        left out because it is one constant, not part of any component, so the components still add
        up (less b) to the normalised stream. This is what direct logit attribution multiplies by
        W_U; it is not a logit lens (an earlier stream has its own scale): ``lens.logit_lens``
        applies the real one."""
        if self.model.cfg.normalization is None:
            return stack
        if layer is None or layer == self.model.cfg.n_layers:
            scale_name, ln = "ln_final.hook_scale", self.model.ln_final
        else:
            scale_name, ln = f"blocks.{layer}.ln1.hook_scale", self.model.blocks[layer].ln1
        scale = self[scale_name][:, pos_slice]  # [batch pos 1]
        return ln.frozen(stack, scale)

    def logit_attrs(self, stack: torch.Tensor, tokens: torch.Tensor, incorrect_tokens: Optional[torch.Tensor] = None,
                    pos_slice=-1) -> torch.Tensor:
        """Direct logit attribution: each component's contribution to ``logit[token]`` (minus
        ``logit[incorrect]`` if given) at position ``pos_slice``. stack: ``[component batch pos d_model]``
        already passed through ``apply_ln_to_stack``; tokens: ``[batch]``. Returns ``[component batch]``."""
        W_U = self.model.W_U.detach()  # [d_model d_vocab]
        direction = W_U[:, tokens].T  # [batch d_model]
        if incorrect_tokens is not None:
            direction = direction - W_U[:, incorrect_tokens].T
        at_pos = stack[:, :, pos_slice]  # [component batch d_model]
        return (at_pos * direction).sum(-1)
