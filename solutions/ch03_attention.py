"""Chapter 03, attention heads: reference solutions, their hints and the known mistakes.

Each reference is what the filled-in notebook runs (its source is pasted into the exercise cell),
so it uses only what the notebook imports: ``math``, ``torch`` and ``torch.nn.functional as F``.
Shapes and conventions follow ``course.model`` and ``course.circuits``: one head's weights are
``W_Q[h]: [d_model d_head]`` and ``W_O[h]: [d_head d_model]``; full circuits have sources in rows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: F401 - the notebook imports it; references may use it

from course.exercises import Case, Exercise, Mistake

CHAPTER = "03"
TITLE = "Attention heads"


def _rand(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


# -- one head by hand ------------------------------------------------------------------------------

def head_attention_pattern(x: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor, b_Q: torch.Tensor,
                           b_K: torch.Tensor) -> torch.Tensor:
    """The attention pattern of ONE head on one sequence. x is what the head reads (the residual
    stream after ln1): queries x @ W_Q + b_Q, keys x @ W_K + b_K, scores q . k / sqrt(d_head),
    future keys masked, softmax over keys.
    x: [pos d_model], W_Q, W_K: [d_model d_head], b_Q, b_K: [d_head] -> [query_pos key_pos]."""
    q = x @ W_Q + b_Q  # [pos d_head]
    k = x @ W_K + b_K
    scores = q @ k.T / math.sqrt(W_Q.shape[-1])  # [query_pos key_pos]
    future = torch.ones_like(scores, dtype=torch.bool).triu(diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def _pattern_from_scores(scores):
    future = torch.ones_like(scores, dtype=torch.bool).triu(diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def _wrong_head_pattern_no_scale(x, W_Q, W_K, b_Q, b_K):
    return _pattern_from_scores((x @ W_Q + b_Q) @ (x @ W_K + b_K).T)


def _wrong_head_pattern_swapped(x, W_Q, W_K, b_Q, b_K):
    return _pattern_from_scores((x @ W_K + b_K) @ (x @ W_Q + b_Q).T / math.sqrt(W_Q.shape[-1]))


def _wrong_head_pattern_no_bias(x, W_Q, W_K, b_Q, b_K):
    return _pattern_from_scores((x @ W_Q) @ (x @ W_K).T / math.sqrt(W_Q.shape[-1]))


def _wrong_head_pattern_wrong_triangle(x, W_Q, W_K, b_Q, b_K):
    scores = (x @ W_Q + b_Q) @ (x @ W_K + b_K).T / math.sqrt(W_Q.shape[-1])
    past = torch.ones_like(scores, dtype=torch.bool).tril(diagonal=-1)
    return scores.masked_fill(past, float("-inf")).softmax(dim=-1)


def _head_pattern_cases():
    g = torch.Generator().manual_seed(30)
    return [
        Case("5 positions, d_model 8, d_head 4",
             (_rand(g, 5, 8), _rand(g, 8, 4), _rand(g, 8, 4), _rand(g, 4), _rand(g, 4))),
        Case("9 positions, d_model 16, d_head 8",
             (_rand(g, 9, 16), _rand(g, 16, 8, scale=0.7), _rand(g, 16, 8, scale=0.7), _rand(g, 8), _rand(g, 8))),
    ]


def head_output(pattern: torch.Tensor, x: torch.Tensor, W_V: torch.Tensor, b_V: torch.Tensor,
                W_O: torch.Tensor) -> torch.Tensor:
    """What ONE head writes into the residual stream (without the layer's shared bias b_O): each
    query position's pattern-weighted mix of the values x @ W_V + b_V, mapped back by W_O.
    pattern: [query_pos key_pos], x: [pos d_model], W_V: [d_model d_head], b_V: [d_head],
    W_O: [d_head d_model] -> [pos d_model]."""
    v = x @ W_V + b_V  # [key_pos d_head]
    z = pattern @ v  # [query_pos d_head]
    return z @ W_O


def _wrong_head_output_transposed(pattern, x, W_V, b_V, W_O):
    return pattern.T @ (x @ W_V + b_V) @ W_O


def _wrong_head_output_no_bias(pattern, x, W_V, b_V, W_O):
    return pattern @ (x @ W_V) @ W_O


def _wrong_head_output_no_mixing(pattern, x, W_V, b_V, W_O):
    return (x @ W_V + b_V) @ W_O


def _head_output_cases():
    g = torch.Generator().manual_seed(31)

    def pattern(n):
        scores = _rand(g, n, n, scale=2)
        return scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)

    return [
        Case("4 positions, d_model 6, d_head 3", (pattern(4), _rand(g, 4, 6), _rand(g, 6, 3), _rand(g, 3), _rand(g, 3, 6))),
        Case("7 positions, d_model 12, d_head 4", (pattern(7), _rand(g, 7, 12), _rand(g, 12, 4), _rand(g, 4), _rand(g, 4, 12))),
    ]


# -- full circuits ---------------------------------------------------------------------------------

def full_qk_circuit(W_E: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor) -> torch.Tensor:
    """The full QK circuit of one head, W_E W_Q W_K^T W_E^T: entry [i, j] is the attention score
    (before scaling and softmax) of a query token i for a key token j.
    W_E: [d_vocab d_model], W_Q, W_K: [d_model d_head] -> [d_vocab d_vocab] (query tokens in rows)."""
    return (W_E @ W_Q) @ (W_E @ W_K).T


def _wrong_qk_swapped(W_E, W_Q, W_K):
    return (W_E @ W_K) @ (W_E @ W_Q).T


def _wrong_qk_no_transpose_embed(W_E, W_Q, W_K):
    return W_E @ W_Q @ W_K.T @ W_E


def _wrong_qk_query_only(W_E, W_Q, W_K):
    return (W_E @ W_Q) @ (W_E @ W_Q).T


def _qk_cases():
    g = torch.Generator().manual_seed(32)
    return [
        # d_vocab == d_model, so a forgotten transpose of W_E still runs
        Case("d_vocab 6 = d_model 6, d_head 3", (_rand(g, 6, 6), _rand(g, 6, 3), _rand(g, 6, 3))),
        Case("d_vocab 10, d_model 6, d_head 2", (_rand(g, 10, 6), _rand(g, 6, 2), _rand(g, 6, 2))),
    ]


def full_ov_circuit(W_E: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor, W_U: torch.Tensor) -> torch.Tensor:
    """The full OV circuit of one head, W_E W_V W_O W_U: row i holds the change of every logit when
    the head attends fully to token i (the column convention, W_U^T W_O^T W_V^T W_E^T, is its transpose).
    W_E: [d_vocab d_model], W_V: [d_model d_head], W_O: [d_head d_model], W_U: [d_model d_vocab]
    -> [d_vocab d_vocab] (source tokens in rows, output logits in columns)."""
    return W_E @ W_V @ W_O @ W_U


def _wrong_ov_transposed(W_E, W_V, W_O, W_U):
    return (W_E @ W_V @ W_O @ W_U).T


def _wrong_ov_tied(W_E, W_V, W_O, W_U):
    return W_E @ W_V @ W_O @ W_E.T


def _wrong_ov_no_o(W_E, W_V, W_O, W_U):
    return W_E @ W_V @ W_V.T @ W_U


def _ov_cases():
    g = torch.Generator().manual_seed(33)
    return [
        Case("d_vocab 7, d_model 5, d_head 2", (_rand(g, 7, 5), _rand(g, 5, 2), _rand(g, 2, 5), _rand(g, 5, 7))),
        Case("d_vocab 12, d_model 8, d_head 4", (_rand(g, 12, 8), _rand(g, 8, 4), _rand(g, 4, 8), _rand(g, 8, 12))),
    ]


# -- scores ------------------------------------------------------------------------------------------

def ov_copying_score(ov: torch.Tensor) -> float:
    """How much an OV circuit copies: the fraction of source tokens i whose own logit is the
    largest of their row, i.e. attending to token i raises token i more than any other.
    ov: [n n] (sources in rows, the same tokens in the same order as columns) -> a float in [0, 1]."""
    own_is_top = ov.argmax(dim=-1) == torch.arange(ov.shape[0])
    return own_is_top.float().mean().item()


def _wrong_copying_columns(ov):
    return (ov.argmax(dim=0) == torch.arange(ov.shape[0])).float().mean().item()


def _wrong_copying_positive_diagonal(ov):
    return (ov.diagonal() > 0).float().mean().item()


def _wrong_copying_count(ov):
    return float((ov.argmax(dim=-1) == torch.arange(ov.shape[0])).sum().item())


def _copying_cases():
    g = torch.Generator().manual_seed(34)
    copier = torch.eye(8) * 3 + _rand(g, 8, 8)
    # rows are sources: make the column-wise argmax disagree with the row-wise one
    lopsided = torch.tensor([[2.0, 5.0, 0.0, 0.0], [0.0, 1.0, 3.0, 0.0], [0.0, 0.0, 1.0, 0.0], [-4.0, 0.0, 0.0, -1.0]])
    return [
        Case("4 tokens, rows and columns disagree", (lopsided,)),
        Case("8 tokens, mostly a copier", (copier,)),
        Case("30 tokens, random", (_rand(g, 30, 30),)),
    ]


def previous_token_attention(pattern: torch.Tensor) -> torch.Tensor:
    """Previous-token score of every head: the attention each query position i >= 1 pays to
    position i - 1, averaged over the batch and those positions.
    pattern: [batch head_index query_pos key_pos] -> [head_index]."""
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _wrong_prev_main_diagonal(pattern):
    return pattern.diagonal(offset=0, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _wrong_prev_upper(pattern):
    return pattern.diagonal(offset=1, dim1=-2, dim2=-1).mean(dim=(0, -1))


def _wrong_prev_include_first(pattern):
    sub = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)  # [batch head pos-1]
    return sub.sum(dim=-1).mean(0) / pattern.shape[-1]


def _prev_cases():
    g = torch.Generator().manual_seed(35)

    def patterns(b, h, n, scale=2.0):
        scores = _rand(g, b, h, n, n, scale=scale)
        return scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)

    prev = torch.zeros(1, 2, 5, 5)
    prev[0, 0, 0, 0] = 1
    prev[0, 0, 1:, :4] = torch.eye(4)  # head 0 attends to the previous token exactly
    prev[0, 1] = torch.eye(5)  # head 1 attends to itself
    return [
        Case("head 0: previous token, head 1: itself", (prev,)),
        Case("batch 3, 4 heads, 8 positions", (patterns(3, 4, 8),)),
    ]


EXERCISES = [
    Exercise(
        "head_attention_pattern", CHAPTER, head_attention_pattern, _head_pattern_cases,
        hints=["q = x @ W_Q + b_Q and k = x @ W_K + b_K are [pos d_head]; q @ k.T is [query_pos key_pos].",
               "Divide by sqrt(d_head), set the upper triangle (key after query: triu(diagonal=1)) to -inf, "
               "then softmax over the last axis."],
        mistakes=[
            Mistake("no scale", _wrong_head_pattern_no_scale,
                    "Did you scale the scores? Divide q @ k.T by sqrt(d_head)."),
            Mistake("queries and keys swapped", _wrong_head_pattern_swapped,
                    "Did you swap queries and keys? Rows are queries: scores = q @ k.T, with q from W_Q. The QK "
                    "circuit is not symmetric: 'who looks' and 'who is looked at' are different questions."),
            Mistake("no bias", _wrong_head_pattern_no_bias,
                    "Did you forget b_Q and b_K? Each projection is x @ W + b."),
            Mistake("wrong triangle", _wrong_head_pattern_wrong_triangle,
                    "Did you mask the wrong triangle? Hide keys *after* the query (the upper triangle)."),
        ],
    ),
    Exercise(
        "head_output", CHAPTER, head_output, _head_output_cases,
        hints=["Values first: v = x @ W_V + b_V, [pos d_head].",
               "z = pattern @ v mixes the values row by row ([query_pos d_head]); then z @ W_O."],
        mistakes=[
            Mistake("pattern transposed", _wrong_head_output_transposed,
                    "Did you transpose the pattern? Row q holds query q's weights over the keys, so z = pattern @ v."),
            Mistake("no b_V", _wrong_head_output_no_bias,
                    "Did you forget the value bias b_V? v = x @ W_V + b_V."),
            Mistake("no mixing", _wrong_head_output_no_mixing,
                    "Did you use the pattern? Each position's output is a *weighted mix* of the values of the "
                    "positions it attends to, z = pattern @ v, not its own value."),
        ],
    ),
    Exercise(
        "full_qk_circuit", CHAPTER, full_qk_circuit, _qk_cases,
        hints=["Every query token's query vector is a row of W_E @ W_Q; every key token's key is a row of W_E @ W_K.",
               "All dot products at once: (W_E @ W_Q) @ (W_E @ W_K).T."],
        mistakes=[
            Mistake("swapped", _wrong_qk_swapped,
                    "Are queries in the rows? (W_E @ W_Q) @ (W_E @ W_K).T puts the query token first; swapping "
                    "W_Q and W_K gives the transpose, the scores of the wrong direction."),
            Mistake("W_E not transposed", _wrong_qk_no_transpose_embed,
                    "Did you transpose the second W_E? The key side is (W_E @ W_K).T = W_K.T @ W_E.T."),
            Mistake("W_Q twice", _wrong_qk_query_only,
                    "Did you use W_Q on both sides? Keys come from W_K."),
        ],
    ),
    Exercise(
        "full_ov_circuit", CHAPTER, full_ov_circuit, _ov_cases,
        hints=["Follow a token through the head: embedding (W_E), value (W_V), output (W_O), logits (W_U).",
               "Row vectors multiply on the right: W_E @ W_V @ W_O @ W_U."],
        mistakes=[
            Mistake("transposed", _wrong_ov_transposed,
                    "Are the source tokens in the rows? Row i must be what attending to token i does to the "
                    "logits: W_E @ W_V @ W_O @ W_U, not its transpose."),
            Mistake("W_E as unembedding", _wrong_ov_tied,
                    "Did you read out with W_E.T? That is only right when embeddings are tied (GPT-2); tinyworld "
                    "has its own unembedding W_U."),
            Mistake("no W_O", _wrong_ov_no_o,
                    "Did you use W_O? The head writes z @ W_O into the stream, not z @ W_V.T."),
        ],
    ),
    Exercise(
        "ov_copying_score", CHAPTER, ov_copying_score, _copying_cases,
        hints=["For each row i, find the column of its largest entry (argmax over the last axis) and compare it with i.",
               "(ov.argmax(-1) == torch.arange(n)).float().mean().item()."],
        mistakes=[
            Mistake("columns", _wrong_copying_columns,
                    "Did you take the argmax over the columns? Row i is source token i: take each row's argmax (dim=-1)."),
            Mistake("positive diagonal", _wrong_copying_positive_diagonal,
                    "Did you count positive diagonal entries? A copier must raise token i *more than any other* "
                    "token, not just raise it: compare each row's argmax with i."),
            Mistake("count", _wrong_copying_count,
                    "Did you return a count? Return the fraction (a mean), a number between 0 and 1."),
        ],
    ),
    Exercise(
        "previous_token_attention", CHAPTER, previous_token_attention, _prev_cases,
        hints=["The entries [i, i-1] form the diagonal just below the main one: pattern.diagonal(offset=-1, dim1=-2, dim2=-1).",
               "That diagonal has shape [batch head_index pos-1]; average over the batch and the last axis."],
        mistakes=[
            Mistake("main diagonal", _wrong_prev_main_diagonal,
                    "Did you take the main diagonal? That is attention to the token itself; the previous token is "
                    "one below it, offset=-1."),
            Mistake("upper diagonal", _wrong_prev_upper,
                    "Did you take offset=+1? Above the diagonal is the future, which the mask sets to 0: use offset=-1."),
            Mistake("divided by pos", _wrong_prev_include_first,
                    "Did you divide by the number of positions? Position 0 has no previous token: average over the "
                    "pos - 1 entries of the sub-diagonal (a mean does it)."),
        ],
    ),
]


# -- open exercises: worked answers (reveal(name) prints one) --------------------------------------

def _single_token_ids(tokenizer, words):
    ids = [tokenizer.encode(" " + w) for w in words]
    return torch.tensor([i[0] for i in ids if len(i) == 1])


@torch.no_grad()
def worked_suppression_head(model, layer: int = 2, head: int = 0, copier: tuple = (2, 2)) -> dict:
    """Open question: what does the head with the most negative eigenvalue score do? Worked answer:
    its full OV circuit on the 64 names (through ln1 and the final LayerNorm, as in the chapter):
    how often is the attended name's own logit the lowest of its row, and how often the highest?
    Compare with the copying head L2H2. On the shipped model L2H0 (eigenvalue score -0.87) gives
    the attended name the lowest logit of its row for 69% of the names and the highest for none:
    it suppresses what it attends to. L2H2 gives it the highest for 77% and the lowest for none."""
    from course import circuits, world

    ids = _single_token_ids(model.tokenizer, world.NAMES)
    U = circuits.effective_unembed(model)[:, ids]
    out = {}
    for lay, h in ((layer, head), copier):
        a = model.blocks[lay].attn
        ov = circuits.token_inputs(model, lay, ids) @ a.W_V[h] @ a.W_O[h] @ U  # [names names]
        own = torch.arange(len(ids))
        out[f"L{lay}H{h}"] = {"own logit lowest": (ov.argmin(-1) == own).float().mean().item(),
                              "own logit highest": (ov.argmax(-1) == own).float().mean().item(),
                              "mean diagonal minus mean off-diagonal":
                                  (ov.diagonal().mean() - ov.masked_fill(torch.eye(len(ids), dtype=torch.bool), 0).sum()
                                   / (len(ids) ** 2 - len(ids))).item()}
    return out


@torch.no_grad()
def worked_names_or_places(model, layer: int = 2) -> dict:
    """Open question: which layer-2 head copies which kind of token? Worked answer: the copying
    score (own logit the top of its OV row, within the group) per head and per group. On the
    shipped model no layer-2 head specialises: each of the three copiers copies names best and
    cities or capitals least, and L2H2, the best copier over all common tokens, is the best copier
    of every kind (names 0.77, states 0.71, capitals 0.55, cities 0.48). L2H1 and L2H3 copy about
    half as well (names 0.33 and 0.39, places 0.16 to 0.26). L2H0, the suppressor, copies nothing
    in any group (0.00)."""
    from course import circuits, world

    groups = {"names": world.NAMES, "cities": world.CITIES, "states": list(world.STATES), "capitals": world.CAPITALS}
    out = {}
    for name, words in groups.items():
        ids = _single_token_ids(model.tokenizer, words)
        U = circuits.effective_unembed(model)[:, ids]
        E = circuits.token_inputs(model, layer, ids)
        scores = []
        for h in range(model.cfg.n_heads):
            a = model.blocks[layer].attn
            ov = E @ a.W_V[h] @ a.W_O[h] @ U
            scores.append(round((ov.argmax(-1) == torch.arange(len(ids))).float().mean().item(), 2))
        out[f"{name} ({len(ids)})"] = scores
    return out


WORKED = {"suppression_head": worked_suppression_head, "names_or_places": worked_names_or_places}
