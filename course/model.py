"""A GPT-2-style transformer whose every activation is a named hook point.

Read it top to bottom, in the order data flows: embeddings, LayerNorm, attention, MLP, a block,
the unembedding, and the model that stacks them. Parameter names and shapes follow
TransformerLens (``W_Q: [head_index, d_model, d_head]``...), so what learners read here matches
what they meet in the field. Architecture variants are options of ``ModelConfig``; the GPT-2
component each replaces is here, the variant in its own module (rmsnorm.py, rotary.py, swiglu.py,
moe.py), and small factories (``make_norm``, ``make_mlp``) pick one. Grouped-query attention is
a parameter of ``Attention`` itself: n_key_value_heads = n_heads is GPT-2's multi-head attention.

Shape names used throughout: batch, pos, d_model, head_index, kv_head_index, d_head, d_mlp,
d_vocab, query_pos, key_pos, expert.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from course.config import ModelConfig
from course.hooks import HookedRootModule, HookPoint
from course.kv_cache import KVCache
from course.metrics import next_token_loss
from course.moe import MoE
from course.rmsnorm import RMSNorm
from course.rotary import Rotary
from course.swiglu import SwiGLU
from course.validation import check_tokens


class Embed(nn.Module):
    """Token id -> vector: row ``id`` of W_E."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # [batch pos] -> [batch pos d_model]
        return self.W_E[tokens]


class PosEmbed(nn.Module):
    """Position -> vector, learned, as in GPT-2. ``offset`` is where this chunk starts (KV cache)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))

    def forward(self, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        batch, pos = tokens.shape
        return self.W_pos[offset : offset + pos].expand(batch, pos, -1)  # [batch pos d_model]


def sinusoids(n_ctx: int, d_model: int) -> torch.Tensor:
    """The fixed positional code of Vaswani et al. (2017): ``[n_ctx d_model]`` of sines and cosines."""
    pos = torch.arange(n_ctx)[:, None]
    freq = 10000 ** (-torch.arange(0, d_model, 2) / d_model)
    code = torch.zeros(n_ctx, d_model)
    code[:, 0::2] = torch.sin(pos * freq)
    code[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return code


class LayerNorm(nn.Module):
    """Centre, divide by the standard deviation (the *scale*), then an affine map w * x + b."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.eps = cfg.ln_eps
        self.w = nn.Parameter(torch.ones(cfg.d_model))
        self.b = nn.Parameter(torch.zeros(cfg.d_model))
        self.hook_scale = HookPoint("batch pos 1")
        self.hook_normalized = HookPoint("batch pos d_model")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.hook_scale.has_hooks or self.hook_normalized.has_hooks):
            return F.layer_norm(x, x.shape[-1:], self.w, self.b, self.eps)  # same maths, one fused kernel
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale * self.w + self.b)

    def frozen(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The norm as a fixed linear map: centre, divide by a given (cached) scale, times w, no bias."""
        return (x - x.mean(-1, keepdim=True)) / scale * self.w.detach()


class Attention(nn.Module):
    """Causal multi-head self-attention. Each head reads the residual stream through W_Q, W_K,
    W_V and writes back through its slice of W_O.

    With n_key_value_heads < n_heads it is grouped-query attention (Ainslie et al. 2023, Llama 2):
    W_K and W_V have one head per *group* of n_heads // n_key_value_heads query heads, query head h
    reads key/value head h // group, and the KV cache shrinks by the same factor. With rotary
    positions, ``hook_q`` and ``hook_k`` hold the rotated vectors, the ones the dot product sees."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, kv, d, e = cfg.n_heads, cfg.n_key_value_heads, cfg.d_model, cfg.d_head
        self.cfg = cfg
        self.W_Q = nn.Parameter(torch.empty(h, d, e))
        self.W_K = nn.Parameter(torch.empty(kv, d, e))
        self.W_V = nn.Parameter(torch.empty(kv, d, e))
        self.W_O = nn.Parameter(torch.empty(h, e, d))
        self.b_Q = nn.Parameter(torch.zeros(h, e))
        self.b_K = nn.Parameter(torch.zeros(kv, e))
        self.b_V = nn.Parameter(torch.zeros(kv, e))
        self.b_O = nn.Parameter(torch.zeros(d))
        self.rotary = Rotary(cfg) if cfg.positional == "rotary" else None
        self.hook_q = HookPoint("batch pos head_index d_head")
        self.hook_k = HookPoint("batch pos kv_head_index d_head")
        self.hook_v = HookPoint("batch pos kv_head_index d_head")
        self.hook_attn_scores = HookPoint("batch head_index query_pos key_pos")
        self.hook_pattern = HookPoint("batch head_index query_pos key_pos")
        self.hook_z = HookPoint("batch pos head_index d_head")
        self.frozen_qkv: Optional[tuple[torch.Tensor, torch.Tensor]] = None  # set by sampling.frozen_weights

    def qkv_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """W_Q, W_K, W_V side by side as one [d_model, (head_index + 2 * kv_head_index) * d_head]
        matrix, so the three projections are a single matmul (as GPT-2's c_attn)."""
        if self.frozen_qkv is not None:  # generation builds it once, not once per token
            return self.frozen_qkv
        w = torch.cat([self.W_Q, self.W_K, self.W_V])  # [head_index+2*kv_head_index d_model d_head]
        b = torch.cat([self.b_Q, self.b_K, self.b_V])  # [head_index+2*kv_head_index d_head]
        return w.transpose(0, 1).reshape(self.cfg.d_model, -1), b.reshape(-1)

    def kv_head(self, head: int) -> int:
        """The key/value head that query head ``head`` reads: itself, unless attention is grouped."""
        return head // (self.cfg.n_heads // self.cfg.n_key_value_heads)

    def forward(self, x: torch.Tensor, kv_cache: Optional[KVCache] = None, layer: int = 0) -> torch.Tensor:
        batch, pos, _ = x.shape
        h, kv, e = self.cfg.n_heads, self.cfg.n_key_value_heads, self.cfg.d_head
        offset = kv_cache.length if kv_cache is not None else 0  # absolute position of x's first row
        w_qkv, b_qkv = self.qkv_weight()
        qkv = torch.addmm(b_qkv, x.reshape(batch * pos, -1), w_qkv).view(batch, pos, h + 2 * kv, e)
        q, k, v = qkv.split([h, kv, kv], dim=2)  # [batch pos head_index d_head], k and v: kv_head_index
        if self.rotary is not None:
            q, k = self.rotary(q, offset), self.rotary(k, offset)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [batch head_index pos d_head]

        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # now [batch kv_head_index offset+pos d_head]
        if kv < h:  # each key/value head serves a group of consecutive query heads
            k, v = k.repeat_interleave(h // kv, dim=1), v.repeat_interleave(h // kv, dim=1)

        if self.hook_attn_scores.has_hooks or self.hook_pattern.has_hooks:
            scores = q @ k.transpose(-1, -2) / math.sqrt(e)  # [batch head_index query_pos key_pos]
            # Query i sits at absolute position offset + i and may attend to keys 0 .. offset + i.
            key_pos = torch.arange(k.shape[2], device=x.device)
            query_pos = torch.arange(pos, device=x.device) + offset
            future = key_pos[None, :] > query_pos[:, None]
            scores = self.hook_attn_scores(scores.masked_fill(future, float("-inf")))
            pattern = self.hook_pattern(scores.softmax(dim=-1))
            z = pattern @ v  # [batch head_index query_pos d_head]
        else:
            # Nobody is looking at the pattern: let PyTorch's fused kernel do the same maths.
            if offset == 0 or pos == 1:
                z = F.scaled_dot_product_attention(q, k, v, is_causal=(offset == 0 and pos > 1))
            else:
                key_pos = torch.arange(k.shape[2], device=x.device)
                allowed = key_pos[None, :] <= (torch.arange(pos, device=x.device) + offset)[:, None]
                z = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        z = self.hook_z(z.transpose(1, 2))  # [batch pos head_index d_head]
        return torch.addmm(self.b_O, z.reshape(batch * pos, h * e), self.W_O.reshape(h * e, -1)).view(batch, pos, -1)


ACTIVATION_FUNCTIONS = {
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's approximation
    "gelu": F.gelu,
    "relu": F.relu,
}


class MLP(nn.Module):
    """Two linear maps with a non-linearity between: keys (W_in) and values (W_out) of a memory."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = ACTIVATION_FUNCTIONS[cfg.act_fn]
        self.hook_pre = HookPoint("batch pos d_mlp")
        self.hook_post = HookPoint("batch pos d_mlp")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.linear(x, W.T, b) is x @ W + b in one fused call
        pre = self.hook_pre(F.linear(x, self.W_in.T, self.b_in))  # [batch pos d_mlp]
        post = self.hook_post(self.act(pre))
        return F.linear(post, self.W_out.T, self.b_out)  # [batch pos d_model]


def make_norm(cfg: ModelConfig) -> nn.Module:
    """LayerNorm (GPT-2), RMSNorm (Llama), or nothing."""
    return {"LN": LayerNorm, "RMS": RMSNorm}[cfg.normalization](cfg) if cfg.normalization else nn.Identity()


def make_dense_mlp(cfg: ModelConfig) -> nn.Module:
    """One MLP of width d_mlp: GPT-2's or SwiGLU."""
    return {"standard": MLP, "swiglu": SwiGLU}[cfg.mlp](cfg)


def make_mlp(cfg: ModelConfig) -> nn.Module:
    """A block's MLP: one dense MLP, or a mixture of n_experts of them."""
    return make_dense_mlp(cfg) if cfg.n_experts is None else MoE(cfg, make_dense_mlp)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: attention then MLP, each reading from and adding to the residual stream."""

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.ln1 = make_norm(cfg)
        self.attn = Attention(cfg)
        self.hook_resid_pre = HookPoint("batch pos d_model")
        self.hook_attn_out = HookPoint("batch pos d_model")
        self.hook_resid_post = HookPoint("batch pos d_model")
        self.attn_only = cfg.attn_only
        if not cfg.attn_only:
            self.ln2 = make_norm(cfg)
            self.mlp = make_mlp(cfg)
            self.hook_resid_mid = HookPoint("batch pos d_model")
            self.hook_mlp_out = HookPoint("batch pos d_model")

    def forward(self, resid: torch.Tensor, kv_cache: Optional[KVCache] = None) -> torch.Tensor:
        resid = self.hook_resid_pre(resid)
        resid = resid + self.hook_attn_out(self.attn(self.ln1(resid), kv_cache, self.layer))
        if not self.attn_only:
            resid = self.hook_resid_mid(resid)
            resid = resid + self.hook_mlp_out(self.mlp(self.ln2(resid)))
        return self.hook_resid_post(resid)


class Unembed(nn.Module):
    """Residual stream -> logits over the vocabulary. With tied embeddings W_U is W_E transposed."""

    def __init__(self, cfg: ModelConfig, embed: Embed):
        super().__init__()
        self.tied = cfg.tie_embeddings
        self._embed = [embed]  # a list, so the tied embedding is not registered twice
        if not self.tied:
            self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))

    def weight(self) -> torch.Tensor:  # [d_model d_vocab]
        return self._embed[0].W_E.T if self.tied else self.W_U

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight().T, self.b_U)  # [batch pos d_vocab]


class HookedTransformer(HookedRootModule):
    def __init__(self, cfg: ModelConfig, tokenizer=None):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer  # anything with encode(str) -> list[int] and decode(list[int]) -> str
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint("batch pos d_model")
        self.pos_embed = None  # rotary positions act inside attention (course/rotary.py)
        if cfg.positional == "learned":
            self.pos_embed = PosEmbed(cfg)
            self.hook_pos_embed = HookPoint("batch pos d_model")
        self.blocks = nn.ModuleList(TransformerBlock(cfg, layer) for layer in range(cfg.n_layers))
        self.ln_final = make_norm(cfg)
        self.unembed = Unembed(cfg, self.embed)
        self.init_weights()
        self.setup_hooks()

    def init_weights(self, seed: Optional[int] = None) -> None:
        """GPT-2's initialisation: N(0, 0.02), with the layers that write to the residual stream
        scaled down by sqrt(2 * n_layers) so its variance does not grow with depth."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith((".w",)):
                nn.init.ones_(p)
            elif name.split(".")[-1].startswith("b"):
                nn.init.zeros_(p)
            else:
                scale = 1 / math.sqrt(2 * self.cfg.n_layers) if name.endswith(("W_O", "W_out")) else 1.0
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=generator) * std * scale)
        if self.cfg.pos_init == "sinusoidal":
            # Still learned, but starting from sinusoids: "the previous position" is then a fixed
            # rotation of each position's code, which makes previous-token heads quick to learn.
            with torch.no_grad():
                self.pos_embed.W_pos.copy_(sinusoids(self.cfg.n_ctx, self.cfg.d_model) * self.cfg.pos_init_scale)

    # -- the forward pass ---------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, kv_cache: Optional[KVCache] = None) -> torch.Tensor:
        """tokens ``[batch pos]`` (or ``[pos]``) -> logits ``[batch pos d_vocab]``."""
        offset = kv_cache.length if kv_cache is not None else 0
        tokens = check_tokens(tokens, self.cfg.d_vocab, self.cfg.n_ctx, offset)
        tokens = tokens.to(self.embed.W_E.device)
        resid = self.hook_embed(self.embed(tokens))
        if self.pos_embed is not None:
            resid = resid + self.hook_pos_embed(self.pos_embed(tokens, offset))
        for block in self.blocks:
            resid = block(resid, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(tokens.shape[1])
        return self.unembed(self.ln_final(resid))

    def loss(self, tokens: torch.Tensor, per_token: bool = False) -> torch.Tensor:
        """Next-token cross-entropy: ``[batch pos-1]`` per token, or its mean."""
        tokens = check_tokens(tokens, self.cfg.d_vocab, self.cfg.n_ctx)
        return next_token_loss(self(tokens), tokens, per_token)

    def aux_loss(self) -> torch.Tensor:
        """The mixture-of-experts load-balancing loss of the last forward pass (course/moe.py),
        mean over layers times ``cfg.router_aux_loss_coef``: add it to the training loss.
        Zero for a dense model."""
        losses = [block.mlp.aux_loss for block in self.blocks if isinstance(getattr(block, "mlp", None), MoE)]
        if not losses:
            return torch.zeros((), device=self.W_E.device)
        if any(loss is None for loss in losses):
            raise RuntimeError("aux_loss() reads the last forward pass; run the model first")
        return self.cfg.router_aux_loss_coef * torch.stack(losses).mean()

    # -- generation (course/sampling.py) -------------------------------------------------------
    def generate(self, tokens, max_new_tokens: int = 20, temperature: float = 0.0, top_k: Optional[int] = None,
                 top_p: Optional[float] = None, seed: Optional[int] = None, use_cache: bool = True,
                 stop_at_eos: bool = False):
        from course.sampling import generate

        return generate(self, tokens, max_new_tokens, temperature, top_k, top_p, seed, use_cache, stop_at_eos)

    def generate_stream(self, tokens, max_new_tokens: int = 20, temperature: float = 0.0,
                        top_k: Optional[int] = None, top_p: Optional[float] = None, seed: Optional[int] = None,
                        use_cache: bool = True, stop_at_eos: bool = False):
        from course.sampling import generate_stream

        return generate_stream(self, tokens, max_new_tokens, temperature, top_k, top_p, seed, use_cache, stop_at_eos)

    # -- text in, text out ---------------------------------------------------------------------
    def _need_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer attached; set model.tokenizer, or load it with course.zoo.load")
        return self.tokenizer

    def to_tokens(self, text: str, prepend_bos: bool = True) -> torch.Tensor:
        """Text -> ``[1 pos]`` token ids (with the BOS token first, as the course models were trained)."""
        tok = self._need_tokenizer()
        if not isinstance(text, str):
            raise TypeError(f"to_tokens takes one string, got {type(text).__name__}")
        ids = tok.encode(text)
        if prepend_bos and getattr(tok, "bos_id", None) is not None:
            ids = [tok.bos_id] + ids
        return torch.tensor([ids], dtype=torch.long, device=self.embed.W_E.device)

    def to_string(self, tokens) -> str:
        tok = self._need_tokenizer()
        ids = tokens.flatten().tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
        return tok.decode(ids)

    def to_str_tokens(self, text_or_tokens, prepend_bos: bool = True) -> list[str]:
        tok = self._need_tokenizer()
        if isinstance(text_or_tokens, str):
            text_or_tokens = self.to_tokens(text_or_tokens, prepend_bos)
        ids = text_or_tokens.flatten().tolist() if isinstance(text_or_tokens, torch.Tensor) else list(text_or_tokens)
        return [tok.decode([i]) for i in ids]

    # -- weights by their TransformerLens names, stacked over layers ------------------------------
    @property
    def W_E(self) -> torch.Tensor:  # [d_vocab d_model]
        return self.embed.W_E

    @property
    def W_pos(self) -> torch.Tensor:  # [n_ctx d_model]
        if self.pos_embed is None:  # not AttributeError, which nn.Module would replace by its own message
            raise ValueError("a model with rotary positions has no W_pos: positions rotate queries and keys")
        return self.pos_embed.W_pos

    @property
    def W_U(self) -> torch.Tensor:  # [d_model d_vocab]
        return self.unembed.weight()

    @property
    def b_U(self) -> torch.Tensor:
        return self.unembed.b_U

    def _stack(self, attr: str) -> torch.Tensor:
        module, name = attr.split(".")
        return torch.stack([getattr(getattr(block, module), name) for block in self.blocks])

    W_Q = property(lambda self: self._stack("attn.W_Q"))  # [layer head_index d_model d_head]
    W_K = property(lambda self: self._stack("attn.W_K"))
    W_V = property(lambda self: self._stack("attn.W_V"))
    W_O = property(lambda self: self._stack("attn.W_O"))  # [layer head_index d_head d_model]
    b_Q = property(lambda self: self._stack("attn.b_Q"))
    b_K = property(lambda self: self._stack("attn.b_K"))
    b_V = property(lambda self: self._stack("attn.b_V"))
    b_O = property(lambda self: self._stack("attn.b_O"))
    W_in = property(lambda self: self._stack("mlp.W_in"))  # [layer d_model d_mlp]
    W_out = property(lambda self: self._stack("mlp.W_out"))  # [layer d_mlp d_model]
    b_in = property(lambda self: self._stack("mlp.b_in"))
    b_out = property(lambda self: self._stack("mlp.b_out"))
