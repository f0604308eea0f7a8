"""Chapter 13, emergent circuits and modern architectures: reference solutions, the mistakes each
check recognises, the chapter's helpers for comparing the three shipped variants (training compute,
when a measure first crosses a line, the tokens a variant needed to reach a loss, held-out loss on
another corpus's text, routing of the mixture of experts by kind of token) and its worked answers
to the open-ended exercises.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; the ``_wrong_*`` functions are the mistakes
``check`` names. The references are the package's own components (course/rmsnorm.py, rotary.py,
swiglu.py), written out; tests/test_ch13.py holds them equal.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "13"
TITLE = "Emergent circuits and modern architectures"

VARIANT_MODELS = {"gpt2": "tinyworld-gpt2", "llama": "tinyworld-llama", "moe": "tinyworld-moe"}  # variant -> zoo name


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- RMSNorm -------------------------------------------------------------------------------------------

def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm (Zhang & Sennrich 2019), as Llama computes it: divide each vector by the root of the
    mean of its squares (plus eps, inside the root), then multiply by the gain w. No centring and
    no bias.
    x: [... d_model], w: [d_model]. Returns the same shape as x."""
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w


def _wrong_rms_centred(x, w, eps=1e-5):
    x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w


def _wrong_rms_no_eps(x, w, eps=1e-5):
    return x / x.pow(2).mean(-1, keepdim=True).sqrt() * w


def _wrong_rms_eps_outside(x, w, eps=1e-5):
    return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w


def _wrong_rms_wrong_axis(x, w, eps=1e-5):
    return x / (x.pow(2).mean(0, keepdim=True) + eps).sqrt() * w


def _wrong_rms_sum(x, w, eps=1e-5):
    return x / (x.pow(2).sum(-1, keepdim=True) + eps).sqrt() * w


def _wrong_rms_no_gain(x, w, eps=1e-5):
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def _rms_cases():
    g = _gen(0)
    x = torch.randn(3, 5, 16, generator=g) * 2 + 0.5  # [batch pos d_model], not centred
    w = 1 + 0.3 * torch.randn(16, generator=g)
    tiny = 1e-3 * torch.randn(2, 4, 16, generator=g)  # so small that eps matters
    return [Case("x [3 5 16] (a mean far from 0), a gain w", (x, w)),
            Case("x [2 4 16] with entries about 0.001 (eps matters)", (tiny, w)),
            Case("x [5 16], eps = 0.1", (x[0], w), {"eps": 0.1}),
            Case("x [3 5 16], w = ones", (x, torch.ones(16)))]


# -- rotary position embeddings ------------------------------------------------------------------------

def rotary(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embeddings (Su et al. 2021) in the library's layout ("rotate half", as GPT-NeoX
    and Hugging Face's Llama): dimension c of a head is paired with dimension c + d_head/2, and pair c
    at position p turns by the angle p * base^(-2c/d_head). Positions count from 0.
    A pair (x1, x2) turned by angle a becomes (x1 cos a - x2 sin a, x2 cos a + x1 sin a).
    x: [batch pos head_index d_head] queries or keys, d_head even. Returns the same shape."""
    d_head = x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) / d_head)  # [d_head/2]
    angles = torch.arange(x.shape[1], dtype=torch.float32)[:, None] * inv_freq  # [pos d_head/2]
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]  # [pos 1 d_head/2], broadcast over heads
    x1, x2 = x[..., : d_head // 2], x[..., d_head // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def _angles(pos: int, d_head: int, base: float, exponent_step: int = 2, start: int = 0):
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float32) * (exponent_step / 2) / d_head)
    angles = torch.arange(start, start + pos, dtype=torch.float32)[:, None] * inv_freq
    return angles.cos()[:, None], angles.sin()[:, None]


def _wrong_rotary_adjacent(x, base=10000.0):
    cos, sin = _angles(x.shape[1], x.shape[-1], base)
    x1, x2 = x[..., 0::2], x[..., 1::2]  # pairs (0, 1), (2, 3), ...: the original paper's layout
    return torch.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).flatten(-2)


def _wrong_rotary_frequencies(x, base=10000.0):
    cos, sin = _angles(x.shape[1], x.shape[-1], base, exponent_step=1)  # base^(-c/d_head)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def _wrong_rotary_backwards(x, base=10000.0):
    cos, sin = _angles(x.shape[1], x.shape[-1], base)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


def _wrong_rotary_from_one(x, base=10000.0):
    cos, sin = _angles(x.shape[1], x.shape[-1], base, start=1)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def _rotary_cases():
    g = _gen(1)
    return [Case("x [2 6 3 8] (batch 2, 6 positions, 3 heads, d_head 8)", (torch.randn(2, 6, 3, 8, generator=g),)),
            Case("x [1 20 2 16], base 100", (torch.randn(1, 20, 2, 16, generator=g),), {"base": 100.0}),
            Case("x [1 4 1 2] (one pair per head)", (torch.randn(1, 4, 1, 2, generator=g),))]


def rotary_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Causal attention with rotary positions: rotate the queries and the keys (``rotary``), never
    the values; scores q . k / sqrt(d_head), query i attends to keys 0..i, softmax over keys, then
    the pattern-weighted sum of the values.
    q, k, v: [batch pos head_index d_head]. Returns z: [batch pos head_index d_head]."""
    q, k = rotary(q, base), rotary(k, base)
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    pattern = scores.masked_fill(future, float("-inf")).softmax(-1)
    return torch.einsum("bhqk,bkhe->bqhe", pattern, v)


def _attend(q, k, v):
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(q.shape[-1])
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    return torch.einsum("bhqk,bkhe->bqhe", scores.masked_fill(future, float("-inf")).softmax(-1), v)


def _wrong_attention_rotates_v(q, k, v, base=10000.0):
    return _attend(rotary(q, base), rotary(k, base), rotary(v, base))


def _wrong_attention_query_only(q, k, v, base=10000.0):
    return _attend(rotary(q, base), k, v)


def _wrong_attention_no_rotation(q, k, v, base=10000.0):
    return _attend(q, k, v)


def _wrong_attention_adjacent(q, k, v, base=10000.0):
    return _attend(_wrong_rotary_adjacent(q, base), _wrong_rotary_adjacent(k, base), v)


def _attention_cases():
    g = _gen(2)
    q, k, v = (torch.randn(2, 7, 2, 8, generator=g) for _ in range(3))
    q2, k2, v2 = (2 * torch.randn(1, 12, 3, 16, generator=g) for _ in range(3))
    return [Case("q, k, v [2 7 2 8]", (q, k, v)), Case("q, k, v [1 12 3 16] (larger scores), base 500",
                                                       (q2, k2, v2), {"base": 500.0})]


# -- SwiGLU ------------------------------------------------------------------------------------------------

def swiglu_mlp(x: torch.Tensor, W_gate: torch.Tensor, b_gate: torch.Tensor, W_in: torch.Tensor, b_in: torch.Tensor,
               W_out: torch.Tensor, b_out: torch.Tensor) -> torch.Tensor:
    """The SwiGLU MLP (Shazeer 2020), Llama's: the gate x @ W_gate + b_gate goes through SiLU
    (x * sigmoid(x)) and multiplies, neuron by neuron, the linear path x @ W_in + b_in; W_out
    (and b_out) map the product back to the residual stream.
    x: [... d_model]; W_gate, W_in: [d_model d_mlp]; b_gate, b_in: [d_mlp]; W_out: [d_mlp d_model];
    b_out: [d_model]. Returns [... d_model]."""
    return (F.silu(x @ W_gate + b_gate) * (x @ W_in + b_in)) @ W_out + b_out


def _wrong_swiglu_swapped(x, W_gate, b_gate, W_in, b_in, W_out, b_out):
    return (F.silu(x @ W_in + b_in) * (x @ W_gate + b_gate)) @ W_out + b_out


def _wrong_swiglu_gelu(x, W_gate, b_gate, W_in, b_in, W_out, b_out):
    return (F.gelu(x @ W_gate + b_gate) * (x @ W_in + b_in)) @ W_out + b_out


def _wrong_swiglu_sigmoid(x, W_gate, b_gate, W_in, b_in, W_out, b_out):
    return (torch.sigmoid(x @ W_gate + b_gate) * (x @ W_in + b_in)) @ W_out + b_out


def _wrong_swiglu_no_gate(x, W_gate, b_gate, W_in, b_in, W_out, b_out):
    return F.silu(x @ W_in + b_in) @ W_out + b_out


def _wrong_swiglu_silu_after(x, W_gate, b_gate, W_in, b_in, W_out, b_out):
    return F.silu((x @ W_gate + b_gate) * (x @ W_in + b_in)) @ W_out + b_out


def _swiglu_cases():
    g = _gen(3)
    d, m = 8, 12
    args = (torch.randn(2, 5, d, generator=g), torch.randn(d, m, generator=g), torch.randn(m, generator=g),
            torch.randn(d, m, generator=g), torch.randn(m, generator=g), torch.randn(m, d, generator=g) / 3,
            torch.randn(d, generator=g))
    zero_bias = tuple(torch.zeros_like(a) if i in (2, 4, 6) else a for i, a in enumerate(args))
    return [Case("x [2 5 8], d_mlp 12", args), Case("the same without biases", zero_bias)]


# -- the chapter's helpers ----------------------------------------------------------------------------------

def training_flops_per_token(cfg, seq_len: int = 128) -> float:
    """Training compute per token, the estimate of Kaplan et al. (2020): 6 FLOPs for each weight a
    token passes through (2 in the forward pass, 4 in the backward pass), for every weight matrix that
    multiplies the token's activations (the unembedding included; the embedding and W_pos are
    look-ups, the norms' gains negligible; a mixture of experts counts its router and only the
    experts a token runs), plus the attention scores and their weighted sum: 6 * n_layers *
    seq_len * n_heads * d_head (queries meet seq_len / 2 keys on average, twice)."""
    d, e, h, kv = cfg.d_model, cfg.d_head, cfg.n_heads, cfg.n_key_value_heads
    attn = d * e * (2 * h + 2 * kv)  # W_Q, W_O, W_K, W_V
    if cfg.attn_only:
        mlp = 0
    else:
        per_expert = (3 if cfg.mlp == "swiglu" else 2) * d * cfg.d_mlp
        mlp = per_expert * (cfg.experts_per_token if cfg.n_experts else 1) + (d * cfg.n_experts if cfg.n_experts else 0)
    weights = cfg.n_layers * (attn + mlp) + d * cfg.d_vocab
    return 6.0 * weights + 6.0 * cfg.n_layers * seq_len * h * e


def training_table(card: dict, keys: tuple[str, ...]) -> dict[str, list]:
    """The card's per-step measurements (``evals_during_training``) as columns: ``step``, ``tokens``
    and each key."""
    rows = card["evals_during_training"]
    per_step = card["recipe"]["batch_size"] * card["recipe"]["seq_len"]
    return {"step": [r["step"] for r in rows], "tokens": [r["step"] * per_step for r in rows],
            **{k: [r[k] for r in rows] for k in keys}}


def held_out_loss_on(model, corpus: str) -> float:
    """The card's held-out loss (``course.evaluate.held_out_loss``: the same 300 documents, seed and
    truncation), on the held-out documents of the corpus module named ``corpus`` (e.g.
    ``"course.corpus_v3"``) instead of the one the model's card names: two models trained on different
    corpora, measured on the same text."""
    from course import evaluate

    return evaluate.held_out_loss(model, corpus=corpus)


def first_step_over(steps: list[int], values: list[float], threshold: float) -> Optional[int]:
    """The first step at which ``values`` is above ``threshold`` (None if it never is)."""
    return next((s for s, v in zip(steps, values) if v > threshold), None)


def tokens_to_reach(tokens: list[float], losses: list[float], target: float) -> Optional[float]:
    """The tokens at which a loss curve, measured at ``tokens``, first reaches ``target``: linear
    interpolation in log(tokens) between the two measurements around the crossing (None if it never
    does; the first measurement if it starts below)."""
    for i, (t, loss) in enumerate(zip(tokens, losses)):
        if loss <= target:
            if i == 0:
                return float(t)
            t0, l0 = tokens[i - 1], losses[i - 1]
            frac = (l0 - target) / (l0 - loss)
            return float(math.exp(math.log(t0) + frac * (math.log(t) - math.log(t0))))
    return None


def compute_multiplier(base: dict, other: dict) -> float:
    """How much less (> 1) or more (< 1) training compute ``other`` needs than ``base`` for the same
    held-out loss: each is ``{"flops": [...], "loss": [...]}`` along its run. If ``other`` ends below
    base's final loss, the ratio of base's final compute to the compute at which ``other`` reached
    it; otherwise the compute at which ``base`` reached other's final loss over other's final
    compute. Crossings are interpolated (``tokens_to_reach``)."""
    if other["loss"][-1] <= base["loss"][-1]:
        return base["flops"][-1] / tokens_to_reach(other["flops"], other["loss"], base["loss"][-1])
    reached = tokens_to_reach(base["flops"], base["loss"], other["loss"][-1])
    return (reached if reached is not None else float("nan")) / other["flops"][-1]


TOKEN_CLASSES = ("name", "number", "place", "function word", "punctuation", "other word")
FUNCTION_WORDS = frozenset(
    "a an the of to in on at by for from with into about after before as and or but so if then than that this "
    "these those there here is was were are be been am has had have do did does not no he she it they we you i "
    "him her his its their them our your my me us who which what when where while because".split())


def token_class(text: str) -> str:
    """The kind of a token, from its text: a person's name, a number (digits), a place (a word of
    a city, a state or a capital), a function word, punctuation, or another word."""
    from course.world import CAPITALS, CITIES, NAMES, STATES

    word = text.strip()
    places = {part for place in [*CITIES, *STATES, *CAPITALS] for part in place.split()}
    if word in NAMES:
        return "name"
    if word.isdigit():
        return "number"
    if word in places:
        return "place"
    if word.lower() in FUNCTION_WORDS:
        return "function word"
    if word and not any(ch.isalnum() for ch in word):
        return "punctuation"
    return "other word"


def token_classes(model, tokens: torch.Tensor) -> torch.Tensor:
    """``[batch pos]`` indices into ``TOKEN_CLASSES`` of each token (BOS and end-of-text: -1)."""
    tok = model.tokenizer
    by_id = {}
    out = torch.full(tokens.shape, -1, dtype=torch.long)
    special = {tok.bos_id, getattr(tok, "eot_id", None)}
    for idx, t in enumerate(tokens.flatten().tolist()):
        if t in special:
            continue
        if t not in by_id:
            by_id[t] = TOKEN_CLASSES.index(token_class(tok.decode([t])))
        out.view(-1)[idx] = by_id[t]
    return out


def routing_by_class(model, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Where a mixture of experts sends each kind of token. ``share``: ``[layer class expert]``, the
    mean gate each expert gets over the tokens of a class (each token's gates add up to 1, so a row
    adds up to 1; 1 / n_experts everywhere would be no preference); ``count``: ``[class]`` tokens
    of each class."""
    classes = token_classes(model, tokens)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_gates"))
    gates = torch.stack([cache[f"blocks.{l}.mlp.hook_gates"] for l in range(model.cfg.n_layers)])  # [layer batch pos e]
    share = torch.stack([gates[:, classes == c].mean(1) for c in range(len(TOKEN_CLASSES))], dim=1)
    count = torch.tensor([(classes == c).sum().item() for c in range(len(TOKEN_CLASSES))])
    return {"share": share, "count": count}


def routing_information(model, tokens: torch.Tensor) -> torch.Tensor:
    """``[layer]``: the mutual information, in bits, between a token's class and the expert of its
    largest gate (0: the router ignores the class; at most log2(n_experts))."""
    classes = token_classes(model, tokens)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_gates"))
    keep = classes >= 0
    out = []
    for layer in range(model.cfg.n_layers):
        top = cache[f"blocks.{layer}.mlp.hook_gates"].argmax(-1)[keep]
        joint = torch.zeros(len(TOKEN_CLASSES), model.cfg.n_experts)
        joint.index_put_((classes[keep], top), torch.ones(len(top)), accumulate=True)
        joint /= joint.sum()
        outer = joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True)
        nz = joint > 0
        out.append((joint[nz] * (joint[nz] / outer[nz]).log2()).sum())
    return torch.stack(out)


# -- the exercises ---------------------------------------------------------------------------------------

EXERCISES = [
    Exercise(
        "rms_norm", CHAPTER, rms_norm, _rms_cases,
        hints=["The mean of the squares is over the last dimension (d_model): x.pow(2).mean(-1, keepdim=True).",
               "eps goes inside the square root: (mean of squares + eps).sqrt(); then x / that * w."],
        mistakes=[
            Mistake("centred", _wrong_rms_centred,
                    "Did you subtract the mean? That is LayerNorm's first step; RMSNorm leaves the mean where it is "
                    "and only divides by the root mean square."),
            Mistake("no_eps", _wrong_rms_no_eps,
                    "Did you leave out eps? It keeps tiny vectors from being blown up: sqrt(mean(x^2) + eps)."),
            Mistake("eps_outside", _wrong_rms_eps_outside,
                    "Is eps outside the square root? Llama (and the library) add it to the mean of the squares, "
                    "inside the root."),
            Mistake("wrong_axis", _wrong_rms_wrong_axis,
                    "Did you average over the wrong dimension? Each vector is normalised on its own: the mean is "
                    "over d_model, the last dimension."),
            Mistake("sum", _wrong_rms_sum,
                    "Did you sum the squares instead of averaging them? The root *mean* square divides by d_model."),
            Mistake("no_gain", _wrong_rms_no_gain, "Did you forget to multiply by the gain w?"),
        ]),
    Exercise(
        "rotary", CHAPTER, rotary, _rotary_cases,
        hints=["The frequencies: base ** (-torch.arange(0, d_head, 2) / d_head), one per pair; the angles: "
               "torch.arange(pos)[:, None] * frequencies, [pos d_head/2]; add a head axis to broadcast.",
               "x1, x2 = x[..., :d_head // 2], x[..., d_head // 2:]; return "
               "torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)."],
        mistakes=[
            Mistake("adjacent", _wrong_rotary_adjacent,
                    "Did you pair neighbouring dimensions (0 with 1, 2 with 3)? That is the original paper's layout; "
                    "the library (like GPT-NeoX and Hugging Face's Llama) pairs dimension c with c + d_head/2."),
            Mistake("frequencies", _wrong_rotary_frequencies,
                    "Are the frequencies base^(-c/d_head)? Pair c turns at base^(-2c/d_head): the exponent steps by "
                    "2/d_head, so the slowest pair turns at about 1/base per position."),
            Mistake("backwards", _wrong_rotary_backwards,
                    "Do you turn the wrong way? A pair (x1, x2) becomes (x1 cos - x2 sin, x2 cos + x1 sin)."),
            Mistake("from_one", _wrong_rotary_from_one,
                    "Do positions start at 1? The first position is 0 and is not turned at all."),
        ]),
    Exercise(
        "rotary_attention", CHAPTER, rotary_attention, _attention_cases,
        hints=["Rotate q and k with your `rotary`, and leave v alone: the rotation encodes where a key is for the "
               "match, not what the head copies.",
               "scores = einsum('bqhe,bkhe->bhqk', q, k) / sqrt(d_head); mask future keys with -inf "
               "(torch.ones(pos, pos, dtype=torch.bool).triu(1)); softmax over keys; einsum('bhqk,bkhe->bqhe')."],
        mistakes=[
            Mistake("rotates_v", _wrong_attention_rotates_v,
                    "Did you rotate the values too? Rotary positions act only on queries and keys: the values are "
                    "what gets copied and carry no position."),
            Mistake("query_only", _wrong_attention_query_only,
                    "Did you rotate only the queries? Both q and k turn, so that their dot product depends on the "
                    "distance between them."),
            Mistake("no_rotation", _wrong_attention_no_rotation,
                    "Did you forget to rotate? Without it the attention has no idea of position at all."),
            Mistake("adjacent", _wrong_attention_adjacent,
                    "Did you pair neighbouring dimensions? Use the library's layout (c with c + d_head/2), the "
                    "one your `rotary` passes with."),
        ]),
    Exercise(
        "swiglu_mlp", CHAPTER, swiglu_mlp, _swiglu_cases,
        hints=["Two paths from x: the gate x @ W_gate + b_gate, and the linear path x @ W_in + b_in.",
               "F.silu(gate) * linear, then @ W_out + b_out."],
        mistakes=[
            Mistake("swapped", _wrong_swiglu_swapped,
                    "Did you put the SiLU on the W_in path? The non-linearity is on the gate (W_gate); W_in is the "
                    "linear path it multiplies."),
            Mistake("gelu", _wrong_swiglu_gelu,
                    "Did you use GELU? SwiGLU's gate goes through SiLU (Swish): x * sigmoid(x), F.silu."),
            Mistake("sigmoid", _wrong_swiglu_sigmoid,
                    "Did you use a plain sigmoid as the gate? That is the original GLU; SwiGLU uses silu(gate) = "
                    "gate * sigmoid(gate)."),
            Mistake("no_gate", _wrong_swiglu_no_gate,
                    "Did you leave out the gate? The hidden activation is silu(gate) times the linear path, "
                    "not a SiLU of one path."),
            Mistake("silu_after", _wrong_swiglu_silu_after,
                    "Did you apply SiLU after multiplying? Only the gate goes through SiLU; then multiply."),
        ]),
]


# -- worked answers to the open-ended exercises ------------------------------------------------------

def worked_expert_ablation(model, tokens: torch.Tensor) -> dict[str, dict[str, float]]:
    """Remove one expert at a time from every layer of the mixture of experts (its gate set to 0, so
    its tokens keep only their other expert) and measure the loss increase on each kind of token.
    Returns {f"expert {e}": {class: loss increase}}."""
    from course.metrics import next_token_loss

    classes = token_classes(model, tokens)[:, 1:]  # the class of the token being predicted
    with torch.no_grad():
        clean = next_token_loss(model(tokens), tokens, per_token=True)
        out = {}
        for e in range(model.cfg.n_experts):
            def drop(gates, hook, e=e):
                gates = gates.clone()
                gates[..., e] = 0
                return gates

            hooks = [(f"blocks.{l}.mlp.hook_gates", drop) for l in range(model.cfg.n_layers)]
            ablated = next_token_loss(model.run_with_hooks(tokens, fwd_hooks=hooks), tokens, per_token=True)
            out[f"expert {e}"] = {c: (ablated - clean)[classes == i].mean().item()
                                  for i, c in enumerate(TOKEN_CLASSES) if (classes == i).any()}
    return out


def worked_layernorm_as_rmsnorm(model, tokens: torch.Tensor) -> dict[str, float]:
    """How much of LayerNorm does the GPT-2-style model use beyond RMSNorm? Replace every LayerNorm's
    centring and bias (keep only division by the root mean square, times w) without retraining,
    and compare the loss; also how big the mean of the stream is next to its size."""
    from course.metrics import next_token_loss
    from course.model import LayerNorm

    norms = [m for m in model.modules() if isinstance(m, LayerNorm)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_resid_pre"))
        ratios = [(cache[n].mean(-1).abs() / cache[n].pow(2).mean(-1).sqrt()).median().item() for n in cache.keys()]
        clean = next_token_loss(model(tokens), tokens).item()
        originals = [m.forward for m in norms]
        try:
            for m in norms:
                m.forward = lambda x, m=m: rms_norm(x, m.w, m.eps)
            swapped = next_token_loss(model(tokens), tokens).item()
        finally:
            for m, f in zip(norms, originals):
                m.forward = f
    return {"loss": clean, "loss_as_rmsnorm": swapped, "median_mean_over_rms": sum(ratios) / len(ratios)}


def worked_kv_cache(models: dict, prompt: str = "When Mary and John went to the park,", new_tokens: int = 60) -> dict:
    """What grouped-query attention saves: the KV cache of each variant for a full context (batch 1),
    and the time per generated token (greedy, with the cache; wall-clock, so rerun it to see the
    noise). At this size the cache is small and the time goes to the matrix multiplies, so a
    smaller cache barely shows in speed; it matters when the cache is gigabytes."""
    import time

    from course.kv_cache import KVCache

    out = {}
    for name, model in models.items():
        tokens = model.to_tokens(prompt)
        with torch.no_grad():
            model.generate(tokens, max_new_tokens=2)  # warm up
            start = time.perf_counter()
            model.generate(tokens, max_new_tokens=new_tokens)
            seconds = time.perf_counter() - start
        out[name] = {"kv_cache_bytes": KVCache.for_model(model, batch=1).n_bytes,
                     "ms_per_token": 1000 * seconds / new_tokens}
    return out


WORKED = {"expert_ablation": worked_expert_ablation, "layernorm_as_rmsnorm": worked_layernorm_as_rmsnorm,
          "kv_cache": worked_kv_cache}
