"""Hugging Face Llama <-> course model, by one table of names and the reshapes each needs.

A Llama is the course model with chapter 13's options: RMSNorm, rotary positions, a SwiGLU MLP,
grouped-query attention, no biases (unless ``attention_bias`` / ``mlp_bias``), an unembedding
without bias. Hugging Face stores each projection as ``nn.Linear`` weights ``[out, in]`` with the
heads side by side in ``out``; the course keeps one ``[head_index d_model d_head]`` matrix per
role, as TransformerLens does. RoPE needs no permutation: course/rotary.py pairs dimensions as
Hugging Face's ``rotate_half`` does. As in course/hf.py nothing is ever downloaded.
"""

from __future__ import annotations

import torch

from course.config import ModelConfig
from course.hf import HFImportError, load_local
from course.model import HookedTransformer


def _rope(hf_config) -> tuple[str, float]:
    params = getattr(hf_config, "rope_parameters", None)  # transformers 5
    if params is None:  # transformers 4
        params = {"rope_theta": hf_config.rope_theta, **(hf_config.rope_scaling or {})}
    return params.get("rope_type", params.get("type", "default")), float(params["rope_theta"])


def config_from_hf_llama(hf_config) -> ModelConfig:
    if getattr(hf_config, "model_type", None) != "llama":
        raise HFImportError(f"only Llama models can be imported here, got model_type={hf_config.model_type!r}")
    rope_type, rope_theta = _rope(hf_config)
    if rope_type != "default" or hf_config.hidden_act != "silu":
        raise HFImportError(f"this Llama uses options the course model does not implement: rope_type={rope_type!r}, "
                            f"hidden_act={hf_config.hidden_act!r} (supported: 'default', 'silu')")
    n_heads = hf_config.num_attention_heads
    return ModelConfig(
        n_layers=hf_config.num_hidden_layers, d_model=hf_config.hidden_size, n_heads=n_heads,
        d_head=getattr(hf_config, "head_dim", None) or hf_config.hidden_size // n_heads,
        d_mlp=hf_config.intermediate_size, d_vocab=hf_config.vocab_size, n_ctx=hf_config.max_position_embeddings,
        normalization="RMS", positional="rotary", rotary_base=rope_theta, mlp="swiglu",
        n_key_value_heads=hf_config.num_key_value_heads or n_heads, ln_eps=hf_config.rms_norm_eps,
        tie_embeddings=bool(hf_config.tie_word_embeddings),
    )


def key_table(cfg: ModelConfig, attention_bias: bool, mlp_bias: bool) -> list[tuple[str, str, object, object]]:
    """``(hf name, course name, hf -> course, course -> hf)`` for every tensor of a Llama."""
    h, kv, d, e = cfg.n_heads, cfg.n_key_value_heads, cfg.d_model, cfg.d_head

    def heads(n):  # Linear [n*d_head, d_model] <-> [n d_model d_head]
        return lambda w: w.reshape(n, e, d).transpose(1, 2), lambda W: W.transpose(1, 2).reshape(n * e, d)

    def head_bias(n):  # [n*d_head] <-> [n d_head]
        return lambda b: b.reshape(n, e), lambda b: b.reshape(n * e)

    transpose = (lambda w: w.T, lambda W: W.T)  # Linear [out, in] <-> [in out]
    same = (lambda w: w, lambda w: w)
    table = [("model.embed_tokens.weight", "embed.W_E", *same), ("model.norm.weight", "ln_final.w", *same)]
    if not cfg.tie_embeddings:
        table.append(("lm_head.weight", "unembed.W_U", *transpose))
    for l in range(cfg.n_layers):
        p, q = f"model.layers.{l}.", f"blocks.{l}."
        table += [
            (p + "input_layernorm.weight", q + "ln1.w", *same),
            (p + "self_attn.q_proj.weight", q + "attn.W_Q", *heads(h)),
            (p + "self_attn.k_proj.weight", q + "attn.W_K", *heads(kv)),
            (p + "self_attn.v_proj.weight", q + "attn.W_V", *heads(kv)),
            (p + "self_attn.o_proj.weight", q + "attn.W_O",  # [d_model, h*d_head] <-> [h d_head d_model]
             lambda w: w.T.reshape(h, e, d), lambda W: W.reshape(h * e, d).T),
            (p + "post_attention_layernorm.weight", q + "ln2.w", *same),
            (p + "mlp.gate_proj.weight", q + "mlp.W_gate", *transpose),
            (p + "mlp.up_proj.weight", q + "mlp.W_in", *transpose),
            (p + "mlp.down_proj.weight", q + "mlp.W_out", *transpose),
        ]
        if attention_bias:
            table += [(p + "self_attn.q_proj.bias", q + "attn.b_Q", *head_bias(h)),
                      (p + "self_attn.k_proj.bias", q + "attn.b_K", *head_bias(kv)),
                      (p + "self_attn.v_proj.bias", q + "attn.b_V", *head_bias(kv)),
                      (p + "self_attn.o_proj.bias", q + "attn.b_O", *same)]
        if mlp_bias:
            table += [(p + "mlp.gate_proj.bias", q + "mlp.b_gate", *same),
                      (p + "mlp.up_proj.bias", q + "mlp.b_in", *same),
                      (p + "mlp.down_proj.bias", q + "mlp.b_out", *same)]
    return table


@torch.no_grad()
def from_hf_llama(hf_model, tokenizer=None) -> HookedTransformer:
    """Build a course model with the weights of a ``LlamaForCausalLM``."""
    hf_config = hf_model.config
    cfg = config_from_hf_llama(hf_config)
    sd = {k: v.detach().float() for k, v in hf_model.state_dict().items()}
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    ours = {name: torch.zeros_like(p) for name, p in model.state_dict().items()}  # biases Llama lacks stay 0
    for hf_name, name, to_ours, _ in key_table(cfg, hf_config.attention_bias, getattr(hf_config, "mlp_bias", False)):
        ours[name] = to_ours(sd[hf_name])
    model.load_state_dict({k: v.contiguous() for k, v in ours.items()}, strict=True)
    return model.eval()


def _nonzero(model: HookedTransformer, suffixes: tuple[str, ...]) -> bool:
    return any(p.abs().max() > 0 for name, p in model.named_parameters() if name.endswith(suffixes))


@torch.no_grad()
def to_hf_llama(model: HookedTransformer):
    """Export a course model as a ``LlamaForCausalLM`` (the inverse of ``from_hf_llama``). Biases
    export when they are not all zero, through Llama's ``attention_bias`` and ``mlp_bias``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = model.cfg
    if (cfg.attn_only or cfg.normalization != "RMS" or cfg.positional != "rotary" or cfg.mlp != "swiglu"
            or cfg.n_experts is not None):
        raise HFImportError("cannot export to Llama: it needs RMSNorm, rotary positions and one SwiGLU MLP a block "
                            "(a GPT-2-style model exports with course.hf.to_hf)")
    if model.unembed.b_U.abs().max() > 0:
        raise HFImportError("cannot export to Llama: its unembedding has no bias, but this model's b_U is not zero")
    attention_bias = _nonzero(model, ("attn.b_Q", "attn.b_K", "attn.b_V", "attn.b_O"))
    mlp_bias = _nonzero(model, ("mlp.b_gate", "mlp.b_in", "mlp.b_out"))
    hf_config = LlamaConfig(
        vocab_size=cfg.d_vocab, hidden_size=cfg.d_model, intermediate_size=cfg.d_mlp, num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_key_value_heads, head_dim=cfg.d_head,
        hidden_act="silu", max_position_embeddings=cfg.n_ctx, rms_norm_eps=cfg.ln_eps, rope_theta=cfg.rotary_base,
        tie_word_embeddings=cfg.tie_embeddings, attention_bias=attention_bias, mlp_bias=mlp_bias,
        attention_dropout=0.0,
    )
    hf_model = LlamaForCausalLM(hf_config)
    ours = model.state_dict()
    sd = {hf_name: to_hf(ours[name]).detach().clone() for hf_name, name, _, to_hf in
          key_table(cfg, attention_bias, mlp_bias)}
    missing, unexpected = hf_model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not (cfg.tie_embeddings and k == "lm_head.weight")]  # tied: it is embed_tokens
    if missing or unexpected:
        raise HFImportError(f"export table out of date: missing {missing}, unexpected {unexpected}")
    return hf_model.eval()


def load_llama(name_or_path: str) -> HookedTransformer:
    """Load a Llama from a local folder or the local Hugging Face cache; never from the network."""
    from transformers import LlamaForCausalLM

    return load_local(LlamaForCausalLM, name_or_path, from_hf_llama, "Llama")
