"""Hugging Face GPT-2 <-> course model, by a short table of names and the transposes it needs.

GPT-2 stores its linear layers as ``Conv1D`` with weights ``[in, out]`` and fuses Q, K, V into
one ``c_attn`` matrix; the course model keeps one matrix per role and per head, as
TransformerLens does. Everything here is local: loading by name reads only the local Hugging Face
cache and fails at once, with a clear message, when the weights are not there.
"""

from __future__ import annotations

from pathlib import Path

import torch

from course.config import ModelConfig
from course.model import HookedTransformer


class HFImportError(RuntimeError):
    """A Hugging Face model that cannot be imported (not found offline, or not GPT-2-shaped)."""


def config_from_hf(hf_config) -> ModelConfig:
    if getattr(hf_config, "model_type", None) != "gpt2":
        raise HFImportError(f"only GPT-2 models can be imported, got model_type={hf_config.model_type!r}")
    unusual = {k: getattr(hf_config, k, default) for k, default in
               [("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False), ("reorder_and_upcast_attn", False)]}
    if unusual != {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False}:
        raise HFImportError(f"this GPT-2 uses attention options the course model does not implement: {unusual}")
    act = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}.get(
        hf_config.activation_function)
    if act is None:
        raise HFImportError(f"activation {hf_config.activation_function!r} is not supported")
    d_model, n_heads = hf_config.n_embd, hf_config.n_head
    return ModelConfig(
        n_layers=hf_config.n_layer, d_model=d_model, n_heads=n_heads, d_head=d_model // n_heads,
        d_mlp=hf_config.n_inner or 4 * d_model, d_vocab=hf_config.vocab_size, n_ctx=hf_config.n_positions,
        act_fn=act, ln_eps=hf_config.layer_norm_epsilon, tie_embeddings=bool(hf_config.tie_word_embeddings),
    )


@torch.no_grad()
def from_hf(hf_model, tokenizer=None) -> HookedTransformer:
    """Build a course model with the weights of a ``GPT2LMHeadModel``."""
    cfg = config_from_hf(hf_model.config)
    h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
    sd = {k: v.detach().float() for k, v in hf_model.state_dict().items()}
    ours = {
        "embed.W_E": sd["transformer.wte.weight"],
        "pos_embed.W_pos": sd["transformer.wpe.weight"],
        "ln_final.w": sd["transformer.ln_f.weight"],
        "ln_final.b": sd["transformer.ln_f.bias"],
        "unembed.b_U": torch.zeros(cfg.d_vocab),  # GPT-2's lm_head has no bias
    }
    if not cfg.tie_embeddings:
        ours["unembed.W_U"] = sd["lm_head.weight"].T
    for l in range(cfg.n_layers):
        p, q = f"transformer.h.{l}.", f"blocks.{l}."
        W_Q, W_K, W_V = sd[p + "attn.c_attn.weight"].split(d, dim=1)  # each [d_model, head_index*d_head]
        b_Q, b_K, b_V = sd[p + "attn.c_attn.bias"].split(d)
        for name, W, b in [("Q", W_Q, b_Q), ("K", W_K, b_K), ("V", W_V, b_V)]:
            ours[q + f"attn.W_{name}"] = W.reshape(d, h, e).permute(1, 0, 2)  # -> [head_index d_model d_head]
            ours[q + f"attn.b_{name}"] = b.reshape(h, e)
        ours[q + "attn.W_O"] = sd[p + "attn.c_proj.weight"].reshape(h, e, d)
        ours[q + "attn.b_O"] = sd[p + "attn.c_proj.bias"]
        for ln_hf, ln_ours in [("ln_1", "ln1"), ("ln_2", "ln2")]:
            ours[q + f"{ln_ours}.w"] = sd[p + f"{ln_hf}.weight"]
            ours[q + f"{ln_ours}.b"] = sd[p + f"{ln_hf}.bias"]
        ours[q + "mlp.W_in"] = sd[p + "mlp.c_fc.weight"]  # Conv1D is already [in, out]
        ours[q + "mlp.b_in"] = sd[p + "mlp.c_fc.bias"]
        ours[q + "mlp.W_out"] = sd[p + "mlp.c_proj.weight"]
        ours[q + "mlp.b_out"] = sd[p + "mlp.c_proj.bias"]
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    model.load_state_dict({k: v.contiguous() for k, v in ours.items()}, strict=True)
    return model.eval()


@torch.no_grad()
def to_hf(model: HookedTransformer):
    """Export a course model as a ``GPT2LMHeadModel`` (the inverse of ``from_hf``)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = model.cfg
    problems = []
    if (cfg.attn_only or cfg.normalization != "LN" or cfg.positional != "learned" or cfg.mlp != "standard"
            or cfg.n_experts is not None or cfg.n_key_value_heads != cfg.n_heads):
        problems.append("GPT-2 needs LayerNorm, learned positions, multi-head attention and one standard MLP a block"
                        " (a Llama-style model exports with course.hf_llama.to_hf_llama)")
    if cfg.n_heads * cfg.d_head != cfg.d_model:
        problems.append(f"GPT-2 needs n_heads * d_head == d_model ({cfg.n_heads} * {cfg.d_head} != {cfg.d_model})")
    if model.unembed.b_U.abs().max() > 0:
        problems.append("GPT-2's unembedding has no bias, but this model's b_U is not zero")
    if problems:
        raise HFImportError("cannot export to GPT-2: " + "; ".join(problems))
    hf_config = GPT2Config(
        vocab_size=cfg.d_vocab, n_positions=cfg.n_ctx, n_embd=cfg.d_model, n_layer=cfg.n_layers, n_head=cfg.n_heads,
        n_inner=cfg.d_mlp, activation_function=cfg.act_fn, layer_norm_epsilon=cfg.ln_eps,
        tie_word_embeddings=cfg.tie_embeddings, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    hf_model = GPT2LMHeadModel(hf_config)
    sd = {
        "transformer.wte.weight": model.W_E,
        "transformer.wpe.weight": model.W_pos,
        "transformer.ln_f.weight": model.ln_final.w,
        "transformer.ln_f.bias": model.ln_final.b,
        "lm_head.weight": model.W_U.T,
    }
    d = cfg.d_model
    for l, block in enumerate(model.blocks):
        p, a = f"transformer.h.{l}.", block.attn
        sd[p + "attn.c_attn.weight"] = torch.cat([W.permute(1, 0, 2).reshape(d, -1) for W in (a.W_Q, a.W_K, a.W_V)], 1)
        sd[p + "attn.c_attn.bias"] = torch.cat([b.reshape(-1) for b in (a.b_Q, a.b_K, a.b_V)])
        sd[p + "attn.c_proj.weight"] = a.W_O.reshape(-1, d)
        sd[p + "attn.c_proj.bias"] = a.b_O
        sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = block.ln1.w, block.ln1.b
        sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = block.ln2.w, block.ln2.b
        sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"] = block.mlp.W_in, block.mlp.b_in
        sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"] = block.mlp.W_out, block.mlp.b_out
    missing, unexpected = hf_model.load_state_dict({k: v.detach().clone() for k, v in sd.items()}, strict=False)
    # GPT-2 registers no other parameters; anything missing here would be a bug in the table above.
    missing = [k for k in missing if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias")]
    if missing or unexpected:
        raise HFImportError(f"export table out of date: missing {missing}, unexpected {unexpected}")
    return hf_model.eval()


class HFTokenizer:
    """Adapter giving a Hugging Face tokenizer the small interface the course model uses."""

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer
        self.bos_id = hf_tokenizer.bos_token_id
        self.eos_id = hf_tokenizer.eos_token_id

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False)

    def decode(self, ids) -> str:
        return self.hf.decode(list(ids))


def load_local(model_class, name_or_path: str, convert, what: str) -> HookedTransformer:
    """Load a Hugging Face ``model_class`` from a local folder or the local Hugging Face cache, never
    from the network, and ``convert`` it (``from_hf``, ``hf_llama.from_hf_llama``) with its tokenizer."""
    from transformers import AutoTokenizer

    try:
        hf_model = model_class.from_pretrained(name_or_path, local_files_only=True)
    except OSError:
        where = "this folder" if Path(name_or_path).exists() else "the local Hugging Face cache"
        raise HFImportError(
            f"{what} weights {name_or_path!r} were not found in {where}, and the course never downloads "
            "at run time. On a machine with internet, run once:\n"
            f"    python -c \"from transformers import {model_class.__name__} as M; M.from_pretrained('{name_or_path}')\"\n"
            "then come back offline; or use the course's own models: course.zoo.load('tinyworld')."
        ) from None
    try:
        tokenizer = HFTokenizer(AutoTokenizer.from_pretrained(name_or_path, local_files_only=True))
    except (OSError, ValueError):
        tokenizer = None  # weights without a tokenizer still work on token ids
    return convert(hf_model, tokenizer)


def load_gpt2(name_or_path: str = "gpt2") -> HookedTransformer:
    """Load a GPT-2 from a local folder or the local Hugging Face cache; never from the network."""
    from transformers import GPT2LMHeadModel

    return load_local(GPT2LMHeadModel, name_or_path, from_hf, "GPT-2")
