"""Chapter 02, build the transformer: reference solutions, their hints and the known mistakes.

Each reference is what the filled-in notebook runs (its source is pasted into the exercise cell),
so it uses only what the notebook imports: ``math``, ``torch`` and ``torch.nn.functional as F``,
and the functions of earlier exercises of the chapter (``attention`` calls ``attention_pattern``,
``mlp`` calls ``gelu_new``). Shapes and parameter names are those of ``course.model``, so the
learner's functions can run the shipped model's weights. The ``_wrong_*`` functions are plausible
mistakes: ``check`` names the misconception when a learner's output equals one of theirs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "02"
TITLE = "Build the transformer"


def _rand(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


# -- LayerNorm -------------------------------------------------------------------------------------

def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm over the last axis: subtract each vector's mean, divide by the square root of its
    variance plus eps, then scale by w and shift by b (one number per d_model direction).
    x: [... d_model], w and b: [d_model] -> [... d_model]."""
    centred = x - x.mean(dim=-1, keepdim=True)
    variance = centred.pow(2).mean(dim=-1, keepdim=True)  # the biased variance, as in GPT-2 and PyTorch
    return centred / torch.sqrt(variance + eps) * w + b


def _wrong_ln_eps_outside(x, w, b, eps=1e-5):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / (centred.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps) * w + b


def _wrong_ln_bessel(x, w, b, eps=1e-5):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(x.var(dim=-1, keepdim=True, unbiased=True) + eps) * w + b


def _wrong_ln_no_centre(x, w, b, eps=1e-5):
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w + b


def _wrong_ln_no_affine(x, w, b, eps=1e-5):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + eps)


def _wrong_ln_no_bias(x, w, b, eps=1e-5):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def _wrong_ln_wrong_axis(x, w, b, eps=1e-5):
    centred = x - x.mean(dim=0, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(dim=0, keepdim=True) + eps) * w + b


def _layer_norm_cases():
    g = torch.Generator().manual_seed(20)
    return [
        # small vectors with a large mean and small spread: eps and Bessel's correction both show
        Case("2 vectors of 4, w = 1, b = 0", (torch.tensor([[1.0, 2.0, 3.0, 4.0], [10.0, 10.5, 9.5, 10.0]]),
                                               torch.ones(4), torch.zeros(4))),
        Case("batch 2, pos 3, d_model 8, random w and b", (_rand(g, 2, 3, 8, scale=3) + 5, _rand(g, 8), _rand(g, 8))),
        Case("a nearly constant vector (variance << eps), eps = 1e-2",
             (torch.tensor([[0.5, 0.5001, 0.4999, 0.5]]), torch.ones(4) * 2, torch.ones(4) * 0.1, 1e-2)),
        Case("batch 4, pos 5, d_model 16", (_rand(g, 4, 5, 16), _rand(g, 16), _rand(g, 16))),
    ]


# -- embeddings ------------------------------------------------------------------------------------

def embed(tokens: torch.Tensor, W_E: torch.Tensor, W_pos: torch.Tensor) -> torch.Tensor:
    """The residual stream before the first block: each token's embedding (row tokens[b, p] of
    W_E) plus the embedding of its position p (row p of W_pos).
    tokens: [batch pos] (int64), W_E: [d_vocab d_model], W_pos: [n_ctx d_model] -> [batch pos d_model]."""
    n_pos = tokens.shape[1]
    return W_E[tokens] + W_pos[:n_pos]  # [batch pos d_model] + [pos d_model] broadcasts over batch


def _wrong_embed_no_pos(tokens, W_E, W_pos):
    return W_E[tokens]


def _wrong_embed_pos_by_token(tokens, W_E, W_pos):
    return W_E[tokens] + W_pos[tokens]


def _wrong_embed_pos_from_one(tokens, W_E, W_pos):
    return W_E[tokens] + W_pos[1 : tokens.shape[1] + 1]



def _embed_cases():
    g = torch.Generator().manual_seed(21)
    return [
        Case("batch 1, 4 tokens, d_vocab 10, d_model 6",
             (torch.tensor([[3, 1, 4, 1]]), _rand(g, 10, 6), _rand(g, 8, 6))),
        Case("batch 3, 5 tokens (ids repeat)", (torch.randint(0, 7, (3, 5), generator=g), _rand(g, 7, 4), _rand(g, 9, 4))),
        Case("the sequence fills the context", (torch.tensor([[0, 2, 2, 1, 0, 3]]), _rand(g, 5, 3), _rand(g, 6, 3))),
    ]


# -- attention -------------------------------------------------------------------------------------

def attention_pattern(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal attention pattern of every head: softmax over key positions of q . k / sqrt(d_head),
    where a query at position i may only attend to keys at positions <= i.
    q, k: [batch pos head_index d_head] -> [batch head_index query_pos key_pos], rows sum to 1."""
    d_head = q.shape[-1]
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(d_head)
    n_pos = q.shape[1]
    future = torch.triu(torch.ones(n_pos, n_pos, dtype=torch.bool, device=q.device), diagonal=1)  # key > query
    scores = scores.masked_fill(future, float("-inf"))
    return scores.softmax(dim=-1)


def _wrong_pattern_no_scale(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k)
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def _wrong_pattern_scale_d_head(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / q.shape[-1]
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def _wrong_pattern_mask_after_softmax(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    return scores.softmax(dim=-1).masked_fill(future, 0.0)


def _wrong_pattern_mask_past(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    past = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).tril(-1)
    return scores.masked_fill(past, float("-inf")).softmax(dim=-1)


def _wrong_pattern_no_mask(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    return scores.softmax(dim=-1)


def _wrong_pattern_softmax_queries(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-2).nan_to_num(0.0)


def _wrong_pattern_mask_diagonal(q, k):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(0)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def _pattern_cases():
    g = torch.Generator().manual_seed(22)
    return [
        Case("batch 1, 4 positions, 2 heads, d_head 4", (_rand(g, 1, 4, 2, 4, scale=2), _rand(g, 1, 4, 2, 4, scale=2))),
        Case("batch 2, 6 positions, 3 heads, d_head 16", (_rand(g, 2, 6, 3, 16), _rand(g, 2, 6, 3, 16))),
        Case("one position: it can only attend to itself", (_rand(g, 1, 1, 2, 8), _rand(g, 1, 1, 2, 8))),
    ]


def attention(x: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor,
              b_Q: torch.Tensor, b_K: torch.Tensor, b_V: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    """Causal multi-head self-attention, as course.model.Attention computes it. Each head h makes
    queries, keys and values x @ W_Q[h] + b_Q[h] (and so on), mixes the values with your
    attention_pattern, and writes z @ W_O[h] back; the heads' outputs are summed, plus b_O.
    x: [batch pos d_model]; W_Q, W_K, W_V: [head_index d_model d_head]; W_O: [head_index d_head d_model];
    b_Q, b_K, b_V: [head_index d_head]; b_O: [d_model] -> [batch pos d_model]."""
    q = torch.einsum("bpd,hde->bphe", x, W_Q) + b_Q  # [batch pos head_index d_head]
    k = torch.einsum("bpd,hde->bphe", x, W_K) + b_K
    v = torch.einsum("bpd,hde->bphe", x, W_V) + b_V
    pattern = attention_pattern(q, k)  # [batch head_index query_pos key_pos]
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)  # [batch pos head_index d_head]
    return torch.einsum("bqhe,hed->bqd", z, W_O) + b_O  # sum over heads


def _attention_with(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O, pattern_fn=None, mix="values"):
    q = torch.einsum("bpd,hde->bphe", x, W_Q) + b_Q
    k = torch.einsum("bpd,hde->bphe", x, W_K) + b_K
    v = torch.einsum("bpd,hde->bphe", x, W_V) + b_V
    pattern = (pattern_fn or attention_pattern)(q, k)
    if mix == "transposed":
        pattern = pattern.transpose(-1, -2)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    return torch.einsum("bqhe,hed->bqd", z, W_O) + b_O


def _wrong_attention_no_b_O(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O):
    return _attention_with(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, torch.zeros_like(b_O))


def _wrong_attention_no_qkv_bias(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O):
    zero = torch.zeros_like(b_Q)
    return _attention_with(x, W_Q, W_K, W_V, W_O, zero, zero, zero, b_O)


def _wrong_attention_pattern_transposed(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O):
    return _attention_with(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O, mix="transposed")


def _wrong_attention_no_scale(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O):
    return _attention_with(x, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O, pattern_fn=_wrong_pattern_no_scale)


def _attention_params(g, d_model, n_heads, d_head, scale=0.5):
    return (_rand(g, n_heads, d_model, d_head, scale=scale), _rand(g, n_heads, d_model, d_head, scale=scale),
            _rand(g, n_heads, d_model, d_head, scale=scale), _rand(g, n_heads, d_head, d_model, scale=scale),
            _rand(g, n_heads, d_head, scale=0.5), _rand(g, n_heads, d_head, scale=0.5),
            _rand(g, n_heads, d_head, scale=0.5), _rand(g, d_model, scale=0.5))


def _attention_cases():
    g = torch.Generator().manual_seed(23)
    return [
        Case("batch 1, 5 positions, d_model 8, 2 heads of 4", (_rand(g, 1, 5, 8), *_attention_params(g, 8, 2, 4))),
        Case("batch 2, 7 positions, d_model 12, 3 heads of 6", (_rand(g, 2, 7, 12), *_attention_params(g, 12, 3, 6))),
    ]


# -- the MLP ---------------------------------------------------------------------------------------

def gelu_new(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU, the tanh approximation:
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))). Elementwise, any shape."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def _wrong_gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _wrong_gelu_no_cubic(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * x))


def _wrong_gelu_no_sqrt(x):
    return 0.5 * x * (1.0 + torch.tanh(2.0 / math.pi * (x + 0.044715 * x.pow(3))))


def _wrong_gelu_relu(x):
    return torch.relu(x)


def _gelu_cases():
    g = torch.Generator().manual_seed(24)
    return [
        Case("a few values from -3 to 3", (torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]),)),
        Case("random, shape [2, 3, 10]", (_rand(g, 2, 3, 10, scale=2),)),
    ]


def mlp(x: torch.Tensor, W_in: torch.Tensor, b_in: torch.Tensor, W_out: torch.Tensor,
        b_out: torch.Tensor) -> torch.Tensor:
    """The MLP of a block: x @ W_in + b_in, your gelu_new, then @ W_out + b_out. Every position is
    processed on its own. x: [batch pos d_model], W_in: [d_model d_mlp], b_in: [d_mlp],
    W_out: [d_mlp d_model], b_out: [d_model] -> [batch pos d_model]."""
    pre = x @ W_in + b_in  # [batch pos d_mlp]
    return gelu_new(pre) @ W_out + b_out


def _wrong_mlp_exact_gelu(x, W_in, b_in, W_out, b_out):
    return F.gelu(x @ W_in + b_in) @ W_out + b_out


def _wrong_mlp_no_b_in(x, W_in, b_in, W_out, b_out):
    return gelu_new(x @ W_in) @ W_out + b_out


def _wrong_mlp_no_b_out(x, W_in, b_in, W_out, b_out):
    return gelu_new(x @ W_in + b_in) @ W_out


def _wrong_mlp_act_after_out(x, W_in, b_in, W_out, b_out):
    return gelu_new((x @ W_in + b_in) @ W_out + b_out)


def _wrong_mlp_no_activation(x, W_in, b_in, W_out, b_out):
    return (x @ W_in + b_in) @ W_out + b_out


def _mlp_cases():
    g = torch.Generator().manual_seed(25)
    return [
        Case("batch 1, 3 positions, d_model 4, d_mlp 8",
             (_rand(g, 1, 3, 4), _rand(g, 4, 8), _rand(g, 8), _rand(g, 8, 4), _rand(g, 4))),
        Case("batch 2, 5 positions, d_model 6, d_mlp 24",
             (_rand(g, 2, 5, 6), _rand(g, 6, 24, scale=0.7), _rand(g, 24), _rand(g, 24, 6, scale=0.5), _rand(g, 6))),
    ]


# -- a block ---------------------------------------------------------------------------------------

def transformer_block(resid: torch.Tensor, ln1, attn, ln2, mlp_layer) -> torch.Tensor:
    """One pre-LayerNorm block, as in GPT-2. Attention reads the LayerNormed stream and adds its
    output to the stream; then the MLP reads the LayerNormed result and adds its output too.
    ln1, attn, ln2, mlp_layer: functions (or modules) [batch pos d_model] -> [batch pos d_model].
    resid: [batch pos d_model] -> the stream after the block, [batch pos d_model]."""
    resid = resid + attn(ln1(resid))
    resid = resid + mlp_layer(ln2(resid))
    return resid


def _wrong_block_post_ln(resid, ln1, attn, ln2, mlp_layer):
    resid = ln1(resid + attn(resid))
    return ln2(resid + mlp_layer(resid))


def _wrong_block_no_residual(resid, ln1, attn, ln2, mlp_layer):
    return mlp_layer(ln2(attn(ln1(resid))))


def _wrong_block_parallel(resid, ln1, attn, ln2, mlp_layer):
    return resid + attn(ln1(resid)) + mlp_layer(ln2(resid))


def _wrong_block_mlp_reads_attn_out(resid, ln1, attn, ln2, mlp_layer):
    attn_out = attn(ln1(resid))
    return resid + attn_out + mlp_layer(ln2(attn_out))


def _block_parts(seed: int = 0):
    from course.config import ModelConfig
    from course.model import MLP, Attention, LayerNorm

    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=11, n_ctx=16, init_std=0.4)
    torch.manual_seed(seed)
    parts = [LayerNorm(cfg), Attention(cfg), LayerNorm(cfg), MLP(cfg)]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for part in parts:
            for p in part.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.4 + (1.0 if p.ndim == 1 and p.shape[0] == 16 else 0.0))
    return [p.eval() for p in parts]


def _block_cases():
    g = torch.Generator().manual_seed(26)
    return [
        Case("random modules, batch 1, 5 positions, d_model 16", (_rand(g, 1, 5, 16) * 2, *_block_parts(0))),
        Case("random modules, batch 2, 8 positions, d_model 16", (_rand(g, 2, 8, 16) * 2, *_block_parts(1))),
    ]


# -- the unembedding -------------------------------------------------------------------------------

def unembed(x: torch.Tensor, W_U: torch.Tensor, b_U: torch.Tensor) -> torch.Tensor:
    """Logits from the (final-LayerNormed) residual stream: x @ W_U + b_U, one score per token of
    the vocabulary. x: [batch pos d_model], W_U: [d_model d_vocab], b_U: [d_vocab] -> [batch pos d_vocab]."""
    return x @ W_U + b_U


def _wrong_unembed_transposed(x, W_U, b_U):
    return x @ W_U.T + b_U


def _wrong_unembed_no_bias(x, W_U, b_U):
    return x @ W_U


def _wrong_unembed_softmax(x, W_U, b_U):
    return (x @ W_U + b_U).softmax(dim=-1)


def _unembed_cases():
    g = torch.Generator().manual_seed(27)
    return [
        Case("square: d_model = d_vocab = 5", (_rand(g, 1, 3, 5), _rand(g, 5, 5), _rand(g, 5))),
        Case("batch 2, 4 positions, d_model 6, d_vocab 10", (_rand(g, 2, 4, 6), _rand(g, 6, 10), _rand(g, 10))),
    ]


EXERCISES = [
    Exercise(
        "layer_norm", CHAPTER, layer_norm, _layer_norm_cases,
        hints=["Three steps along the last axis (keepdim=True so they broadcast): subtract the mean, divide "
               "by sqrt(variance + eps), then * w + b.",
               "The variance here is the plain mean of the squared deviations, ((x - mean)**2).mean(-1): no "
               "n - 1 in the denominator.",
               "eps goes *inside* the square root: torch.sqrt(var + eps)."],
        mistakes=[
            Mistake("eps outside sqrt", _wrong_ln_eps_outside,
                    "Is eps inside the square root? Divide by sqrt(variance + eps), not sqrt(variance) + eps; the two "
                    "differ most when a vector is nearly constant."),
            Mistake("Bessel", _wrong_ln_bessel,
                    "Did you use the unbiased variance (x.var() divides by n - 1)? LayerNorm uses the biased one: "
                    "mean of squared deviations, or x.var(-1, unbiased=False)."),
            Mistake("no centring", _wrong_ln_no_centre,
                    "Did you subtract the mean? LayerNorm centres each vector first (without centring it is "
                    "RMSNorm, chapter 13)."),
            Mistake("no affine", _wrong_ln_no_affine,
                    "Did you apply w and b? After normalising, multiply by w and add b."),
            Mistake("no bias", _wrong_ln_no_bias,
                    "Did you forget the bias? After multiplying by w, add b."),
            Mistake("wrong axis", _wrong_ln_wrong_axis,
                    "Did you normalise over the wrong axis? Each vector (the last axis, d_model) is normalised on "
                    "its own: use dim=-1 with keepdim=True."),
        ],
    ),
    Exercise(
        "embed", CHAPTER, embed, _embed_cases,
        hints=["W_E[tokens] looks up one row per token: [batch pos] -> [batch pos d_model].",
               "Positions are 0, 1, ..., pos-1 whatever the tokens are: W_pos[:pos] is [pos d_model] and "
               "broadcasts over the batch."],
        mistakes=[
            Mistake("no positions", _wrong_embed_no_pos,
                    "Did you add the positional embedding? Without it the model cannot tell 'A saw B' from 'B saw A'."),
            Mistake("positions by token id", _wrong_embed_pos_by_token,
                    "Did you index W_pos with the token ids? Index it with the positions 0..pos-1 (W_pos[:pos])."),
            Mistake("positions from 1", _wrong_embed_pos_from_one,
                    "Did you start the positions at 1? An off-by-one: the first token is at position 0, W_pos[0]."),
        ],
    ),
    Exercise(
        "attention_pattern", CHAPTER, attention_pattern, _pattern_cases,
        hints=["Scores: torch.einsum('bqhe,bkhe->bhqk', q, k) gives every query-key dot product, per head.",
               "Divide the scores by sqrt(d_head) (d_head = q.shape[-1]) so their size does not grow with d_head.",
               "Mask *before* the softmax: set the scores of keys after the query (the upper triangle, "
               "torch.triu(..., diagonal=1)) to -inf, then softmax over the last axis (keys)."],
        mistakes=[
            Mistake("no scale", _wrong_pattern_no_scale,
                    "Did you scale the scores? Divide q . k by sqrt(d_head) before the softmax."),
            Mistake("scale by d_head", _wrong_pattern_scale_d_head,
                    "Did you divide by d_head? The scale is the *square root*, 1 / sqrt(d_head)."),
            Mistake("mask after softmax", _wrong_pattern_mask_after_softmax,
                    "Did you mask after the softmax? Zeroing probabilities afterwards leaves rows that no longer sum "
                    "to 1: set future scores to -inf *before* the softmax."),
            Mistake("wrong triangle", _wrong_pattern_mask_past,
                    "Did you mask the wrong triangle? Hide the *future* (key position > query position, the upper "
                    "triangle, torch.triu(ones, diagonal=1)), not the past."),
            Mistake("no mask", _wrong_pattern_no_mask,
                    "Did you apply the causal mask? Without it, each token sees the tokens after it."),
            Mistake("softmax over queries", _wrong_pattern_softmax_queries,
                    "Did you softmax over the wrong axis? Each query's row (the last axis, keys) must sum to 1: "
                    "softmax(dim=-1)."),
            Mistake("mask the diagonal", _wrong_pattern_mask_diagonal,
                    "Does each token attend to itself? Only keys strictly after the query are hidden: "
                    "triu(diagonal=1), not diagonal=0."),
        ],
    ),
    Exercise(
        "attention", CHAPTER, attention, _attention_cases,
        hints=["Queries for every head at once: torch.einsum('bpd,hde->bphe', x, W_Q) + b_Q; the same for k and v.",
               "Call your attention_pattern(q, k), then z = torch.einsum('bhqk,bkhe->bqhe', pattern, v): each "
               "query position's weighted mix of the values.",
               "Each head writes z[:, :, h] @ W_O[h]; einsum('bqhe,hed->bqd', z, W_O) does all heads and sums them. "
               "Add b_O once."],
        mistakes=[
            Mistake("no b_O", _wrong_attention_no_b_O,
                    "Did you forget the output bias? Add b_O once, after summing the heads."),
            Mistake("no q/k/v bias", _wrong_attention_no_qkv_bias,
                    "Did you forget the biases b_Q, b_K, b_V? Each projection is x @ W + b."),
            Mistake("pattern transposed", _wrong_attention_pattern_transposed,
                    "Did you mix the values with the pattern transposed? Row q of the pattern holds the weights of "
                    "query q over the keys: z[q] = sum over k of pattern[q, k] * v[k]."),
            Mistake("no scale", _wrong_attention_no_scale,
                    "Did you scale the scores? Divide q . k by sqrt(d_head) (your attention_pattern should do it)."),
        ],
    ),
    Exercise(
        "gelu_new", CHAPTER, gelu_new, _gelu_cases,
        hints=["Write the formula as it stands: 0.5 * x * (1 + torch.tanh(...)).",
               "Inside the tanh: math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)."],
        mistakes=[
            Mistake("exact GELU", _wrong_gelu_exact,
                    "Did you use the exact GELU (with erf, F.gelu's default)? GPT-2 uses the tanh approximation: "
                    "the two differ by up to about 1e-3, enough to drift from the shipped model's logits."),
            Mistake("no cubic term", _wrong_gelu_no_cubic,
                    "Did you leave out the cubic term? Inside the tanh it is x + 0.044715 * x**3."),
            Mistake("no sqrt", _wrong_gelu_no_sqrt,
                    "Is the constant sqrt(2 / pi)? It is the square root, math.sqrt(2 / math.pi) ~ 0.798."),
            Mistake("relu", _wrong_gelu_relu,
                    "Did you write a ReLU? GELU is smooth and slightly negative for negative inputs."),
        ],
    ),
    Exercise(
        "mlp", CHAPTER, mlp, _mlp_cases,
        hints=["Three steps: pre = x @ W_in + b_in, then gelu_new(pre), then @ W_out + b_out.",
               "Use your gelu_new, not F.gelu: PyTorch's default GELU is the exact one."],
        mistakes=[
            Mistake("exact GELU", _wrong_mlp_exact_gelu,
                    "Did you use F.gelu? Its default is the exact GELU; GPT-2's MLP uses the tanh approximation "
                    "(your gelu_new, or F.gelu(x, approximate='tanh'))."),
            Mistake("no b_in", _wrong_mlp_no_b_in,
                    "Did you forget the bias b_in? The first layer is x @ W_in + b_in."),
            Mistake("no b_out", _wrong_mlp_no_b_out,
                    "Did you forget the bias b_out? The second layer is h @ W_out + b_out."),
            Mistake("activation at the end", _wrong_mlp_act_after_out,
                    "Is the non-linearity in the middle? It goes between the two linear maps, on the d_mlp "
                    "hidden layer, not on the output."),
            Mistake("no activation", _wrong_mlp_no_activation,
                    "Did you forget the non-linearity? Without gelu_new the two linear maps collapse into one."),
        ],
    ),
    Exercise(
        "transformer_block", CHAPTER, transformer_block, _block_cases,
        hints=["Two updates of the stream, each 'stream = stream + sublayer(norm(stream))'.",
               "The MLP reads the stream *after* attention has added to it (resid_mid), through ln2."],
        mistakes=[
            Mistake("post-LN", _wrong_block_post_ln,
                    "Did you apply LayerNorm after adding (post-LN, as in the original 2017 transformer)? GPT-2 "
                    "normalises only what each sublayer reads: resid + attn(ln1(resid)). The stream itself is "
                    "never normalised."),
            Mistake("no residual", _wrong_block_no_residual,
                    "Did you keep the residual stream? Each sublayer *adds* to it (resid = resid + ...), it does "
                    "not replace it."),
            Mistake("parallel", _wrong_block_parallel,
                    "Does the MLP see what attention wrote? In GPT-2 the MLP reads the stream after attention's "
                    "output was added (reading both from the same input is GPT-J's parallel block)."),
            Mistake("MLP reads attn_out", _wrong_block_mlp_reads_attn_out,
                    "Does the MLP read the whole stream? It reads ln2(resid + attn_out), not attention's output "
                    "alone."),
        ],
    ),
    Exercise(
        "unembed", CHAPTER, unembed, _unembed_cases,
        hints=["One matrix product and a bias: x @ W_U + b_U.",
               "W_U is [d_model d_vocab]: x's last axis (d_model) meets W_U's first."],
        mistakes=[
            Mistake("W_U transposed", _wrong_unembed_transposed,
                    "Did you transpose W_U? It is stored [d_model d_vocab], so the logits are x @ W_U "
                    "(W_U.T is the shape of W_E, [d_vocab d_model])."),
            Mistake("no bias", _wrong_unembed_no_bias,
                    "Did you forget the bias b_U? Logits are x @ W_U + b_U."),
            Mistake("softmax", _wrong_unembed_softmax,
                    "Did you return probabilities? The unembedding returns logits; the softmax comes later."),
        ],
    ),
]


# -- open exercises: worked answers (reveal(name) prints one) -------------------------------------

def _lens_last(model, prompt: str):
    """The logit lens at the last position: [layer d_vocab] logits, one row per stream (as in the chapter)."""
    from course import lens

    tokens = model.to_tokens(prompt)
    _, cache = model.run_with_cache(tokens)
    return lens.logit_lens(model, cache)[:, 0, -1]


@torch.no_grad()
def worked_lens_held_out_phrasings(model) -> dict:
    """Open question: does the lens picture (the capital on top from an early block on) hold for
    phrasings the model never saw in training? Worked answer: for each held-out phrasing and
    every held-out city, the layer at which the capital first becomes the top prediction (the
    answer counts only when the final row gets it right) and the mean probability of the capital
    per layer. On the shipped model the accuracy varies from 71% to 100% between these four
    phrasings, and so does the lens. With "The capital of the state that has {c} is", the nearest
    to the chapter's phrasing, 71% of the cities end right, and 82% of those right answers come to
    the top only at the final row, far more than in the chapter (29% there). With the other three,
    fewer wait for the final row (10%, 16% and 38%). In all four the capital's mean probability
    stays at 0.61 or below until the last block. One prompt's lens is
    an anecdote; the chapter's picture is a property of a phrasing, not of the model."""
    from course import evalsets

    out = {}
    items = evalsets.two_hop_dataset(held_out_cities=True, phrasings="held_out")
    for phrasing in dict.fromkeys(it.phrasing for it in items):
        probs, first_top = [], []
        for it in (x for x in items if x.phrasing == phrasing):
            logits = _lens_last(model, it.prompt)
            capital = model.tokenizer.encode(it.answer)[0]
            ranks = (logits > logits[:, [capital]]).sum(-1)
            probs.append(logits.softmax(-1)[:, capital])
            if ranks[-1] == 0:
                first_top.append(int((ranks == 0).float().argmax()))
        n = len(probs)
        out[phrasing] = {"right at the end": len(first_top) / n,
                         "of those, first on top only at the final row": (sum(f == len(probs[0]) - 1 for f in first_top)
                                                                          / max(len(first_top), 1)),
                         "mean p(capital) per layer": [round(p, 2) for p in torch.stack(probs).mean(0).tolist()]}
    return out


@torch.no_grad()
def worked_city_reading_heads(model, phrasing: str = "The capital of the state containing {c} is") -> dict:
    """Open question: the chapter saw the city read from the last position in layer 0, by L0H3
    (the previous-token head) and L0H0, and again by two heads each of layers 2 and 3. Are they
    needed? Worked answer: over every held-out city, block the last position's attention to the
    city token in some heads (set those pattern entries to 0), and measure how often the model
    still names the capital (the pattern row is not renormalised: the head simply receives
    nothing from the city). On the shipped model the layer-0 route carries the city. Blocking
    every head of layers 1-3 changes nothing (100% of the held-out cities right), and neither does
    blocking the previous-token head L0H3 alone (100%); blocking L0H0 alone leaves 35%, and
    blocking L0H0 and L0H3 together 26%: that much the later heads recover on their own. Blocking
    both layer-0 heads and every head of layers 2-3 leaves 3%, as does blocking every head. The
    previous-token head, the obvious suspect, is the one the model can do without. Attention
    weights say where a head looks, not whether what it brings is needed."""
    from course import evalsets

    items = [it for it in evalsets.two_hop_dataset(held_out_cities=True, phrasings="all") if it.phrasing == phrasing]

    def accuracy(heads):
        right = 0
        for it in items:
            tokens = model.to_tokens(it.prompt)
            city_pos = len(model.to_tokens(phrasing.split("{c}")[0] + it.city)[0]) - 1

            def block(pattern, hook, heads=heads, city_pos=city_pos):  # [batch head_index query_pos key_pos]
                pattern = pattern.clone()
                for layer, head in heads:
                    if hook.name == f"blocks.{layer}.attn.hook_pattern":
                        pattern[:, head, -1, city_pos] = 0
                return pattern

            logits = model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_pattern"), block)])
            right += int(logits[0, -1].argmax()) == model.tokenizer.encode(it.answer)[0]
        return right / len(items)

    layers_2_3 = [(l, h) for l in (2, 3) for h in range(model.cfg.n_heads)]
    cases = {"nothing blocked": [], "L0H3": [(0, 3)], "L0H0": [(0, 0)], "L0H0 and L0H3": [(0, 0), (0, 3)],
             "every head of layers 1-3": [(l, h) for l in range(1, model.cfg.n_layers) for h in range(model.cfg.n_heads)],
             "L0H0, L0H3 and every head of layers 2-3": [(0, 0), (0, 3)] + layers_2_3,
             "every head of every layer": [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]}
    return {name: accuracy(heads) for name, heads in cases.items()}


@torch.no_grad()
def worked_lens_at_the_city(model, phrasing: str = "The capital of the state containing {c} is") -> dict:
    """Open question: at the last position the state shows only behind the capital. Does the lens
    show it at the city's own position, where the card's probe reads it perfectly from the
    embedding? Worked answer: for every held-out city, the rank of its state in the lens at the
    city's token, per layer. On the shipped model the state's median rank there is 825 or worse
    of 3072 at every layer (its best rank for any city at any layer is 8): the state is
    linearly readable there (the probe) without being, for most cities, in the unembedding's
    directions (the lens)."""
    from course import evalsets, lens

    items = [it for it in evalsets.two_hop_dataset(held_out_cities=True, phrasings="all") if it.phrasing == phrasing]
    ranks = []
    for it in items:
        tokens = model.to_tokens(it.prompt)
        city_pos = len(model.to_tokens(phrasing.split("{c}")[0] + it.city)[0]) - 1
        _, cache = model.run_with_cache(tokens)
        logits = lens.logit_lens(model, cache)[:, 0, city_pos]  # [layer d_vocab]
        state = model.tokenizer.encode(" " + it.state)[0]
        ranks.append((logits > logits[:, [state]]).sum(-1))
    ranks = torch.stack(ranks).float()  # [city layer]
    return {"median rank of the state per layer": ranks.median(0).values.int().tolist(),
            "best rank of the state anywhere": int(ranks.min()),
            "probe accuracy at the city (model card)":
                model.card["metrics"]["two_hop_state"]["probe_accuracy_by_site"]["blocks.0.hook_resid_pre@city"]}


WORKED = {"lens_held_out_phrasings": worked_lens_held_out_phrasings, "city_reading_heads": worked_city_reading_heads,
          "lens_at_the_city": worked_lens_at_the_city}
