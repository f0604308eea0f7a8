"""Chapter 11, transcoders and attribution graphs: reference solutions, the mistakes each check
recognises, and the chapter's helpers for two-hop prompts (supernodes found over many cities,
interventions measured as rates) and its worked answers to the open-ended exercises.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; the ``_wrong_*`` functions are the mistakes
``check`` names. The graph machinery itself is in the package (course/transcoders.py,
replacement.py, attribution_graph.py, interventions.py); the learner re-derives one edge and the
pruning, and the chapter checks both against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "11"
TITLE = "Transcoders and attribution graphs"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- a transcoder's features ---------------------------------------------------------------------

def transcoder_features(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, threshold: float) -> torch.Tensor:
    """One transcoder's feature activations (a JumpReLU): the pre-activation pre = x @ W_enc + b_enc,
    kept where it is above the threshold (and above 0), else 0.
    x: [batch d_model] MLP inputs, W_enc: [d_model d_transcoder], b_enc: [d_transcoder],
    threshold: a float. Returns [batch d_transcoder]."""
    pre = x @ W_enc + b_enc
    return pre * (pre > max(threshold, 0.0))


def _wrong_features_relu(x, W_enc, b_enc, threshold):
    return F.relu(x @ W_enc + b_enc)


def _wrong_features_shifted(x, W_enc, b_enc, threshold):
    return F.relu(x @ W_enc + b_enc - threshold)


def _wrong_features_abs(x, W_enc, b_enc, threshold):
    pre = x @ W_enc + b_enc
    return pre * (pre.abs() > threshold)


def _wrong_features_no_bias(x, W_enc, b_enc, threshold):
    pre = x @ W_enc
    return pre * (pre > max(threshold, 0.0))


def _features_cases():
    g = _gen(0)
    x, W, b = torch.randn(5, 8, generator=g), torch.randn(8, 12, generator=g), torch.randn(12, generator=g)
    return [Case("5 inputs, 12 features, threshold 0.5", (x, W, b, 0.5)),
            Case("threshold 1.5", (x, W, b, 1.5)),
            Case("threshold 0 (a plain ReLU)", (x, W, b, 0.0))]


# -- one edge of the attribution graph -------------------------------------------------------------

def edge_weight(rep, source, target) -> float:
    """The edge source -> target of an attribution graph: the direct effect of one node on another
    in the local replacement model ``rep`` (a course.replacement.LocalReplacement), where
    attention patterns and norm scales are frozen and every MLP output is held fixed.

    Take the embeddings ``rep.resid_0 [pos d_model]`` and the MLP outputs ``rep.mlp_out
    [layer pos d_model]`` as inputs (clones that require grad). The target's value:
    - a feature: its pre-activation, ``rep.transcoders.pre_acts(layer, x)[index]`` of
      x = ``rep.mlp_input(layer, resid_0, mlp_outs)[pos]``;
    - a logit: ``logits[index] - logits.mean()`` of
      logits = ``rep.unembed(rep.final_stream(resid_0, mlp_outs)[-1])``.
    The edge is the gradient of that value, at the place the source writes, dotted with what the
    source writes: an embedding writes ``rep.resid_0[pos]``, an error node ``rep.errors[layer, pos]``,
    a feature ``activation * rep.transcoders.W_dec[layer][o, index]`` into the output of MLP
    ``rep.transcoders.writes_to(layer)[o]`` (one MLP, or every later one for a cross-layer
    transcoder), at its position.
    source, target: course.attribution_graph.Node (kind, layer, pos, index, activation). Returns a float."""
    resid_0 = rep.resid_0.clone().requires_grad_(True)
    mlp_outs = rep.mlp_out.clone().requires_grad_(True)
    with torch.enable_grad():
        if target.kind == "feature":
            x = rep.mlp_input(target.layer, resid_0, mlp_outs)[target.pos]
            value = rep.transcoders.pre_acts(target.layer, x)[target.index]
        else:
            logits = rep.unembed(rep.final_stream(resid_0, mlp_outs)[-1])
            value = logits[target.index] - logits.mean()
        grad_embed, grad_mlp = torch.autograd.grad(value, (resid_0, mlp_outs), allow_unused=True)
    grad_embed = torch.zeros_like(resid_0) if grad_embed is None else grad_embed
    grad_mlp = torch.zeros_like(mlp_outs) if grad_mlp is None else grad_mlp
    if source.kind == "embedding":
        return (grad_embed[source.pos] @ rep.resid_0[source.pos]).item()
    if source.kind == "error":
        return (grad_mlp[source.layer, source.pos] @ rep.errors[source.layer, source.pos]).item()
    total = 0.0
    for o, j in enumerate(rep.transcoders.writes_to(source.layer)):
        write = source.activation * rep.transcoders.W_dec[source.layer][o, source.index].detach()
        total += (grad_mlp[j, source.pos] @ write).item()
    return total


def _write(rep, source) -> tuple[torch.Tensor, torch.Tensor]:
    """(d resid_0, d mlp_out): what removing ``source`` changes in the two inputs."""
    d_embed, d_mlp = torch.zeros_like(rep.resid_0), torch.zeros_like(rep.mlp_out)
    if source.kind == "embedding":
        d_embed[source.pos] = rep.resid_0[source.pos]
    elif source.kind == "error":
        d_mlp[source.layer, source.pos] = rep.errors[source.layer, source.pos]
    else:
        for o, j in enumerate(rep.transcoders.writes_to(source.layer)):
            d_mlp[j, source.pos] = source.activation * rep.transcoders.W_dec[source.layer][o, source.index].detach()
    return d_embed, d_mlp


def _thawed_value(rep, target, resid_0, mlp_outs) -> float:
    """The target's value in a model whose attention patterns are frozen but whose norms
    recompute their scale from their input (what a forward pass of the real model does)."""
    model = rep.model

    def norm(ln, x):
        return F.layer_norm(x, x.shape[-1:], ln.w.detach(), ln.b.detach(), ln.eps)

    resid = resid_0
    for layer in range(rep.n_layers):
        block = model.blocks[layer]
        attn = block.attn
        v = torch.einsum("pd,hde->phe", norm(block.ln1, resid), attn.W_V.detach()) + attn.b_V.detach()
        z = torch.einsum("hqk,khe->qhe", rep.patterns[layer], v)
        resid = resid + torch.einsum("qhe,hed->qd", z, attn.W_O.detach()) + attn.b_O.detach()
        x = norm(block.ln2, resid)
        if target.kind == "feature" and layer == target.layer:
            return rep.transcoders.pre_acts(layer, x[target.pos])[target.index].item()
        resid = resid + mlp_outs[layer]
    logits = rep.unembed(norm(model.ln_final, resid)[-1])
    return (logits[target.index] - logits.mean()).item()


@torch.no_grad()
def _wrong_edge_unfrozen_norm(rep, source, target):
    d_embed, d_mlp = _write(rep, source)
    return (_thawed_value(rep, target, rep.resid_0, rep.mlp_out)
            - _thawed_value(rep, target, rep.resid_0 - d_embed, rep.mlp_out - d_mlp))


def _wrong_edge_no_activation(rep, source, target):
    if source.kind != "feature":
        return edge_weight(rep, source, target)
    from copy import copy

    unit = copy(source)
    unit.activation = 1.0
    return edge_weight(rep, unit, target)


def _wrong_edge_own_layer_only(rep, source, target):
    if source.kind != "feature":
        return edge_weight(rep, source, target)
    layer = source.layer
    resid_0 = rep.resid_0.clone().requires_grad_(True)
    mlp_outs = rep.mlp_out.clone().requires_grad_(True)
    with torch.enable_grad():
        if target.kind == "feature":
            value = rep.transcoders.pre_acts(target.layer, rep.mlp_input(target.layer, resid_0, mlp_outs)[target.pos])
            value = value[target.index]
        else:
            logits = rep.unembed(rep.final_stream(resid_0, mlp_outs)[-1])
            value = logits[target.index] - logits.mean()
        (grad_mlp,) = torch.autograd.grad(value, (mlp_outs,), allow_unused=True)
    if grad_mlp is None:
        return 0.0
    return (grad_mlp[layer, source.pos] @ (source.activation * rep.transcoders.W_dec[layer][0, source.index])).item()


def _wrong_edge_raw_logit(rep, source, target):
    if target.kind != "logit":
        return edge_weight(rep, source, target)
    d_embed, d_mlp = _write(rep, source)
    with torch.no_grad():
        clean = rep.unembed(rep.final_stream(rep.resid_0, rep.mlp_out)[-1])[target.index]
        without = rep.unembed(rep.final_stream(rep.resid_0 - d_embed, rep.mlp_out - d_mlp)[-1])[target.index]
    return (clean - without).item()


def _small_graph(cross_layer: bool, seed: int = 0):
    """A 3-layer random model with LayerNorm, random transcoders (about a tenth of their features
    active) and the attribution graph of a 10-token prompt."""
    from course.attribution_graph import build_graph
    from course.config import ModelConfig
    from course.model import HookedTransformer
    from course.transcoders import TranscoderConfig, Transcoders

    torch.manual_seed(seed)
    cfg = ModelConfig(n_layers=3, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=50, n_ctx=24, init_std=0.2)
    model = HookedTransformer(cfg).eval()
    with torch.no_grad():  # LayerNorm gains and biases that are not 1 and 0
        for name, p in model.named_parameters():
            if ".ln" in name or name.startswith("ln_final"):
                p.add_(0.3 * torch.randn(p.shape, generator=_gen(seed + 1)))
    tc = Transcoders(TranscoderConfig(n_layers=3, d_model=32, d_transcoder=64, cross_layer=cross_layer, k=8), seed=seed)
    with torch.no_grad():
        tc.threshold.fill_(1.2)
    tokens = torch.randint(0, 50, (10,), generator=_gen(seed))
    return build_graph(model, tc, tokens)


def _strongest(graph, target, kind, layer=None, pos_at_least=0):
    """The ``kind`` node (in ``layer``, at a position >= pos_at_least) with the largest edge into ``target``."""
    t = graph.index(target.node_id)
    nodes = [i for i, n in enumerate(graph.nodes)
             if n.kind == kind and (layer is None or n.layer == layer) and n.pos >= pos_at_least]
    return graph.nodes[max(nodes, key=lambda i: graph.adjacency[t, i].abs().item())]


def _edge_cases():
    per_layer, cross = _small_graph(False), _small_graph(True, seed=1)
    rep, rep_x = per_layer.replacement, cross.replacement
    logit, logit_x = per_layer.nodes[-1], cross.nodes[-1]
    late = max((n for n in per_layer.nodes if n.kind == "feature" and n.layer == 2), key=lambda n: n.activation)
    late_x = max((n for n in cross.nodes if n.kind == "feature" and n.layer == 2), key=lambda n: n.activation)
    return [
        Case("a layer-1 feature -> the top logit", (rep, _strongest(per_layer, logit, "feature", 1), logit)),
        Case("a layer-0 feature -> a layer-2 feature", (rep, _strongest(per_layer, late, "feature", 0), late)),
        Case("an error node -> a layer-2 feature", (rep, _strongest(per_layer, late, "error", 1), late)),
        Case("a token embedding -> the top logit", (rep, _strongest(per_layer, logit, "embedding"), logit)),
        Case("a cross-layer feature in layer 0 -> the top logit",
             (rep_x, _strongest(cross, logit_x, "feature", 0), logit_x)),
        Case("a cross-layer feature in layer 0 -> a layer-2 feature",
             (rep_x, _strongest(cross, late_x, "feature", 0), late_x)),
    ]


# -- influence and pruning -----------------------------------------------------------------------

def influence_scores(adjacency: torch.Tensor, logit_weights: torch.Tensor) -> torch.Tensor:
    """Each node's influence on the logits. Normalise the absolute edge weights so that each
    target's incoming edges (a row of |adjacency|) add up to 1 (rows without inputs stay 0); call
    that B. The influence is logit_weights @ (B + B^2 + B^3 + ...): the sum over every path from
    a node to the logits of the product of its normalised edges, weighted by each logit's
    probability. The graph has no cycles, so the series ends.
    adjacency: [node node], adjacency[target, source]; logit_weights: [node], a logit node's
    probability and 0 elsewhere. Returns [node]."""
    B = adjacency.abs()
    B = B / B.sum(-1, keepdim=True).clamp_min(1e-10)
    total = torch.zeros_like(logit_weights)
    current = logit_weights @ B
    for _ in range(len(logit_weights)):
        if not current.any():
            break
        total = total + current
        current = current @ B
    return total


def _series(B: torch.Tensor, w: torch.Tensor, include_self: bool = False) -> torch.Tensor:
    total = w.clone() if include_self else torch.zeros_like(w)
    current = w @ B
    for _ in range(len(w)):
        if not current.any():
            break
        total = total + current
        current = current @ B
    return total


def _wrong_influence_columns(adjacency, logit_weights):
    B = adjacency.abs()
    return _series(B / B.sum(0, keepdim=True).clamp_min(1e-10), logit_weights)


def _wrong_influence_direct_only(adjacency, logit_weights):
    B = adjacency.abs()
    return logit_weights @ (B / B.sum(-1, keepdim=True).clamp_min(1e-10))


def _wrong_influence_signed(adjacency, logit_weights):
    B = adjacency / adjacency.abs().sum(-1, keepdim=True).clamp_min(1e-10)
    return _series(B, logit_weights)


def _wrong_influence_includes_logits(adjacency, logit_weights):
    B = adjacency.abs()
    return _series(B / B.sum(-1, keepdim=True).clamp_min(1e-10), logit_weights, include_self=True)


def _dag(n: int, seed: int, n_logits: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A random graph in which node i reads only nodes after it (the last ones are inputs), with
    signed edges, and the first n_logits nodes as the logits."""
    g = _gen(seed)
    A = torch.randn(n, n, generator=g) * (torch.rand(n, n, generator=g) < 0.5)
    A = A.triu(1)
    A[-2:] = 0  # two input nodes
    A[:, :n_logits] = 0  # nothing reads a logit
    w = torch.zeros(n)
    w[:n_logits] = torch.tensor([0.7, 0.2])[:n_logits]
    return A, w


def _influence_cases():
    hand = torch.zeros(4, 4)
    hand[0, 1], hand[0, 2], hand[1, 3], hand[2, 3] = 3.0, -1.0, 2.0, 1.0  # logit <- 1, 2 <- 3
    return [Case("logit <- two features <- one embedding", (hand, torch.tensor([1.0, 0.0, 0.0, 0.0]))),
            Case("a random 8-node graph", _dag(8, 3)),
            Case("a random 12-node graph", _dag(12, 4))]


def keep_by_share(scores: torch.Tensor, share: float) -> torch.Tensor:
    """Which scores to keep: the fewest largest scores whose sum reaches ``share`` of the total (and
    every score equal to the smallest of those). scores: any shape, non-negative; share in [0, 1].
    Returns a bool tensor of the same shape (all False if the scores add up to 0)."""
    ordered = scores.flatten().sort(descending=True).values
    total = ordered.sum()
    if total <= 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    cumulative = ordered.cumsum(0) / total
    n = min(int((cumulative < share).sum()) + 1, len(ordered))
    return scores >= ordered[n - 1]


def _wrong_keep_top_k(scores, share):
    k = max(1, round(share * scores.numel()))
    cut = scores.flatten().sort(descending=True).values[k - 1]
    return scores >= cut


def _wrong_keep_stops_short(scores, share):
    ordered = scores.flatten().sort(descending=True).values
    n = int((ordered.cumsum(0) / ordered.sum() < share).sum())
    if n == 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    return scores >= ordered[n - 1]


def _wrong_keep_relative_to_max(scores, share):
    return scores >= (1 - share) * scores.max()


def _wrong_keep_unsorted(scores, share):
    flat = scores.flatten()
    before = flat.cumsum(0) - flat
    return (before < share * flat.sum()).reshape(scores.shape)


def _share_cases():
    g = _gen(5)
    return [Case("[5, 1, 3, 1], share 0.75", (torch.tensor([5.0, 1.0, 3.0, 1.0]), 0.75)),
            Case("30 scores, share 0.8", (torch.rand(30, generator=g) ** 3, 0.8)),
            Case("a [4 6] matrix of edge scores, share 0.98", (torch.rand(4, 6, generator=g) ** 4, 0.98))]


EXERCISES = [
    Exercise(
        name="transcoder_features", chapter=CHAPTER, reference=transcoder_features, cases=_features_cases,
        hints=["pre = x @ W_enc + b_enc is the pre-activation, one number per feature.",
               "Keep pre where pre > max(threshold, 0), else 0: pre * (pre > max(threshold, 0.0))."],
        mistakes=[
            Mistake("relu", _wrong_features_relu,
                    "Did you use a plain ReLU? A JumpReLU keeps only pre-activations above the threshold; smaller "
                    "positive ones are 0."),
            Mistake("shifted", _wrong_features_shifted,
                    "Did you subtract the threshold? The threshold decides *whether* a feature fires; when it does, "
                    "its activation is the whole pre-activation, not the part above the threshold."),
            Mistake("abs", _wrong_features_abs,
                    "Did you compare |pre| with the threshold? Features are non-negative: negative pre-activations "
                    "never fire."),
            Mistake("no_bias", _wrong_features_no_bias,
                    "Did you forget the encoder bias b_enc? The pre-activation is x @ W_enc + b_enc."),
        ]),
    Exercise(
        name="edge_weight", chapter=CHAPTER, reference=edge_weight, cases=_edge_cases, atol=1e-4, rtol=1e-3,
        hints=["Make leaves: resid_0 = rep.resid_0.clone().requires_grad_(True), and the same for rep.mlp_out. "
               "Compute the target's value from them with rep.mlp_input(...) or rep.final_stream(...), and take "
               "torch.autograd.grad(value, (resid_0, mlp_outs), allow_unused=True).",
               "An embedding's edge is grad_embed[pos] @ rep.resid_0[pos]; an error node's is "
               "grad_mlp[layer, pos] @ rep.errors[layer, pos].",
               "A feature writes activation * W_dec[layer][o, index] into MLP output writes_to(layer)[o]: sum "
               "grad_mlp[j, pos] @ that write over every (o, j) in enumerate(writes_to(layer))."],
        mistakes=[
            Mistake("no_activation", _wrong_edge_no_activation,
                    "Did you forget the source's activation? A feature writes activation * decoder vector; without "
                    "the activation you get the effect of one unit of the feature, not of the feature as it is."),
            Mistake("unfrozen_norm", _wrong_edge_unfrozen_norm,
                    "Did the norms recompute their scale? Removing a source changes the LayerNorm's denominator in a "
                    "real forward pass; the replacement model freezes it (rep.mlp_input and rep.final_stream do), "
                    "so that edges are linear and add up."),
            Mistake("own_layer_only", _wrong_edge_own_layer_only,
                    "Did you use only the decoder of the feature's own layer? A cross-layer feature also writes to "
                    "every later MLP output: sum over enumerate(rep.transcoders.writes_to(layer))."),
            Mistake("raw_logit", _wrong_edge_raw_logit,
                    "Did you use the raw logit as the target? The softmax cannot see a shift shared by every logit, "
                    "so a logit node's value is the logit minus the mean logit."),
        ]),
    Exercise(
        name="influence_scores", chapter=CHAPTER, reference=influence_scores, cases=_influence_cases,
        hints=["B = adjacency.abs(), then divide each row by its sum (keepdim=True, clamp_min(1e-10)): a row is "
               "one target's inputs.",
               "Sum the series a product at a time: current = logit_weights @ B; add it to the total and set "
               "current = current @ B until current is all zeros."],
        mistakes=[
            Mistake("columns", _wrong_influence_columns,
                    "Did you normalise the columns? adjacency[target, source]: a row is one target's incoming edges, "
                    "and those are what add up to 1 (sum over dim=-1)."),
            Mistake("direct_only", _wrong_influence_direct_only,
                    "Did you stop after one step? Influence sums over paths of every length: B + B^2 + B^3 + ..."),
            Mistake("signed", _wrong_influence_signed,
                    "Did you keep the signs? Influence measures how much a node matters, so use |adjacency|: a "
                    "negative path would cancel a positive one."),
            Mistake("includes_logits", _wrong_influence_includes_logits,
                    "Did you add the logit weights themselves (the B^0 term)? The series starts at B: a logit node "
                    "has no influence on itself."),
        ]),
    Exercise(
        name="keep_by_share", chapter=CHAPTER, reference=keep_by_share, cases=_share_cases,
        hints=["Sort the flattened scores in descending order and take their cumulative sum divided by the total.",
               "The number to keep is the count of cumulative shares below `share`, plus one (the score that "
               "crosses it). Keep every score >= the smallest kept one."],
        mistakes=[
            Mistake("top_k", _wrong_keep_top_k,
                    "Did you keep a fixed fraction of the *nodes* (the top share * n)? Keep the fewest nodes that "
                    "carry that share of the *total score*: a few big scores may carry 80% alone."),
            Mistake("stops_short", _wrong_keep_stops_short,
                    "Did you stop before reaching the share? Keep the score that takes the running total to (or "
                    "past) share, too."),
            Mistake("relative_to_max", _wrong_keep_relative_to_max,
                    "Did you compare each score with the largest one? The cut comes from the running total of the "
                    "sorted scores, not from a fraction of the maximum."),
            Mistake("unsorted", _wrong_keep_unsorted,
                    "Did you accumulate in the original order? Sort the scores from largest to smallest before "
                    "taking the running total."),
        ]),
]


# -- the chapter's helpers: one phrasing, every city ------------------------------------------------

# A trained phrasing (evalsets.TWO_HOP_TRAIN_PHRASINGS[3]) that tinyworld answers for every held-out city,
# as it does the syllabus's "The capital of the state containing {c} is" (TWO_HOP_TRAIN_PHRASINGS[0]); the
# open exercise "other_phrasings" traces that one and a phrasing never trained on.
PHRASING = "If you live in {c}, your state capital is"


@dataclass
class CityBatch:
    """One two-hop phrasing filled with every city of TinyWorld, and every transcoder feature's
    activation on each prompt. All cities are single tokens, so the prompts line up position by
    position, and a feature of one prompt can be compared with (or swapped into) any other."""

    phrasing: str
    cities: list[str]  # course.world.CITIES, in order
    states: list[str]  # each city's state
    capitals: list[str]  # each city's state capital
    held_out: list[bool]  # True for evalsets.HELD_OUT_CITIES (never seen with their capital)
    tokens: torch.Tensor  # [city pos]
    city_pos: int  # the position of the city's token
    acts: torch.Tensor  # [city layer pos d_transcoder] feature activations (0 at position 0 and BOS)
    capital_ids: torch.Tensor  # [n_states] token ids of " Capital", one per state, in STATES order
    state_ids: torch.Tensor  # [n_states] token ids of " State"

    def index(self, city: str) -> int:
        return self.cities.index(city)

    def prompt(self, city: str) -> str:
        return self.phrasing.format(c=city)

    @property
    def held_out_cities(self) -> list[str]:
        return [c for c, h in zip(self.cities, self.held_out) if h]


@torch.no_grad()
def city_batch(model, transcoders, phrasing: str = PHRASING) -> CityBatch:
    """``phrasing`` for every city, run through ``model``, with every feature's activation."""
    from course import evalsets
    from course.transcoders import feature_activations
    from course.world import CITIES, CITY_STATE, STATES

    tok = model.tokenizer
    tokens = [model.to_tokens(phrasing.format(c=c))[0] for c in CITIES]
    lengths = {len(t) for t in tokens}
    if len(lengths) != 1:
        raise ValueError(f"the prompts of {phrasing!r} have {sorted(lengths)} tokens: every city must be one token")
    tokens = torch.stack(tokens)  # [city pos]
    differs = (tokens != tokens[:1]).any(0).nonzero()[:, 0].tolist()
    if len(differs) != 1:
        raise ValueError(f"the prompts of {phrasing!r} differ at positions {differs}; expected the city's alone")
    acts = torch.stack([feature_activations(transcoders, model, tokens, layer)
                        for layer in range(transcoders.cfg.n_layers)], dim=1)
    def one(word: str) -> int:  # every entity word is one token, with its leading space
        ids = tok.encode(" " + word)
        if len(ids) != 1:
            raise ValueError(f"{word!r} is {len(ids)} tokens for this tokenizer; the chapter needs one per entity")
        return ids[0]

    return CityBatch(phrasing, list(CITIES), [CITY_STATE[c] for c in CITIES],
                     [STATES[CITY_STATE[c]]["capital"] for c in CITIES],
                     [c in evalsets.HELD_OUT_CITIES for c in CITIES], tokens, differs[0], acts,
                     torch.tensor([one(v["capital"]) for v in STATES.values()]), torch.tensor([one(s) for s in STATES]))


def state_features(batch: CityBatch, city: str, selectivity: float = 0.3) -> list[tuple[int, int, int]]:
    """The features of ``city``'s prompt that stand for its *state*: active at the city's position
    or later, and firing more on the other cities of the same state than on cities of other states,
    by at least ``selectivity`` times their activation here. (layer, pos, feature) triples."""
    i = batch.index(city)
    states = batch.states
    same = torch.tensor([s == states[i] and j != i for j, s in enumerate(states)])
    other = torch.tensor([s != states[i] for s in states])
    here = batch.acts[i]  # [layer pos d_transcoder]
    gap = batch.acts[same].mean(0) - batch.acts[other].mean(0)
    chosen = (here > 0) & (gap > selectivity * here)
    chosen[:, : batch.city_pos] = False
    return [tuple(x) for x in chosen.nonzero().tolist()]


def capital_scores(model, transcoders) -> torch.Tensor:
    """``[layer d_transcoder]``: how much each feature's decoder, read straight through the final
    norm's centring and gain and the unembedding, raises the state capitals above an average
    token, in standard deviations of its effect on all tokens."""
    from course.world import STATES

    tok = model.tokenizer
    capitals = torch.tensor([tok.encode(" " + v["capital"])[0] for v in STATES.values()])
    directions = torch.stack([w.sum(0) for w in transcoders.W_dec]).detach()  # [layer d_transcoder d_model]
    directions = (directions - directions.mean(-1, keepdim=True)) * model.ln_final.w.detach()
    logits = directions @ model.W_U.detach()  # [layer d_transcoder d_vocab]
    return (logits[..., capitals].mean(-1) - logits.mean(-1)) / logits.std(-1)


def say_capital_features(batch: CityBatch, city: str, scores: torch.Tensor, min_share: float = 0.9,
                         min_score: float = 0.5) -> list[tuple[int, int, int]]:
    """The "say a capital" features of ``city``'s prompt: at the last position, active on at least
    ``min_share`` of all the cities' prompts (so they do not depend on which city), and promoting
    capitals (``capital_scores`` above ``min_score``)."""
    i = batch.index(city)
    common = (batch.acts > 0).float().mean(0) >= min_share  # [layer pos d_transcoder]
    chosen = (batch.acts[i] > 0) & common & (scores[:, None, :] > min_score)
    chosen[:, :-1] = False
    return [tuple(x) for x in chosen.nonzero().tolist()]


def group_supernodes(graph, batch: CityBatch, city: str, scores: torch.Tensor, pruned=None) -> dict[str, list[str]]:
    """Name two supernodes in ``graph`` (the graph of ``city``'s prompt): its state (e.g. "Texas")
    and "say a capital". With ``pruned`` (``graph.prune()``), only nodes the pruned graph keeps."""
    from course.attribution_graph import feature_id

    keep = None if pruned is None else {graph.nodes[i].node_id for i in pruned.node_mask.nonzero()[:, 0].tolist()}
    state = state_features(batch, city)
    say = [x for x in say_capital_features(batch, city, scores) if x not in set(state)]  # the state comes first
    groups = {batch.states[batch.index(city)]: state, "say a capital": say}
    out = {}
    for name, triples in groups.items():
        ids = [feature_id(layer, pos, f) for layer, pos, f in triples]
        ids = [i for i in ids if keep is None or i in keep]
        if ids:
            graph.add_supernode(name, ids)
            out[name] = ids
    return out


def swap_changes(graph, name: str, donor, donor_name: str, scale: float = 2.0) -> dict:
    """Changes that turn off supernode ``name`` of ``graph`` and turn on supernode ``donor_name``
    of ``donor`` (the graph of another prompt of the same shape) at ``scale`` times the
    activations it had there."""
    from course import interventions as I

    changes = I.swapped(graph, name, donor, donor_name)
    for node_id in donor.members(donor_name):
        node = donor.node(node_id)
        changes[node.layer, node.pos, node.index] = scale * node.activation
    return changes


def path_weights(graph, batch: CityBatch, city: str, pruned=None) -> dict[str, float]:
    """The edges between the two-hop prompt's parts, summed over each supernode's members (only
    what ``pruned`` keeps): the city's token -> its state, the state -> the capital's logit, the
    word " capital" -> say a capital, say a capital -> the capital's logit. 0 where a part is
    missing."""
    from course.attribution_graph import embedding_id

    i = batch.index(city)
    state, capital = batch.states[i], " " + batch.capitals[i]
    names, W = graph.supernode_graph(pruned)
    where = {n: k for k, n in enumerate(names)}
    capital_word = next((p for p, t in enumerate(graph.prompt_tokens) if t == " capital"), None)
    parts = {"city": embedding_id(graph.tokens[batch.city_pos], batch.city_pos),
             "capital word": None if capital_word is None else embedding_id(graph.tokens[capital_word], capital_word),
             "state": state, "say": "say a capital",
             "logit": next((n.node_id for n in graph.nodes if n.kind == "logit" and n.token == capital), None)}

    def w(target, source):
        t, s = where.get(parts[target]), where.get(parts[source])
        return 0.0 if t is None or s is None else W[t, s].item()

    return {"city -> state": w("state", "city"), "state -> capital": w("logit", "state"),
            "'capital' -> say a capital": w("say", "capital word"), "say a capital -> capital": w("logit", "say")}


# -- interventions over many cities -------------------------------------------------------------------

@dataclass
class CityInterventions:
    """What one held-out city's prompt answers, before and after each intervention on its graph's
    supernodes (top next token), and each intervention's change of the correct capital's logit
    (minus the mean logit), four ways, each one difference from the one before:

    - predicted: the graph's linearisation (features follow their pre-activation, errors,
      attention and norms fixed);
    - replacement: the local replacement model, where features may switch on or off;
    - frozen: the real model with attention patterns and norm scales frozen, so the MLPs react in
      full, including what the transcoders miss (the error nodes are no longer fixed);
    - real: the real model."""

    city: str
    state: str
    capital: str
    donor: str  # the city whose state is swapped in
    donor_state: str
    donor_capital: str
    n_state: int  # features in the state supernode
    n_say: int  # features in the say-a-capital supernode
    before: str
    after: dict[str, str] = field(default_factory=dict)  # intervention -> top token
    real: dict[str, float] = field(default_factory=dict)  # intervention -> change of the capital's logit
    predicted: dict[str, float] = field(default_factory=dict)
    replacement: dict[str, float] = field(default_factory=dict)
    frozen: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # the graph's replacement and completeness scores
    paths: dict[str, float] = field(default_factory=dict)  # path_weights of its pruned graph
    error_influence: Optional[torch.Tensor] = None  # [layer pos] influence on the logits of each error node
    state_members: list[tuple[int, int]] = field(default_factory=list)  # (layer, pos) of each state supernode member


def _demeaned(change: torch.Tensor, token: int) -> float:
    return (change[token] - change.mean()).item()


@torch.no_grad()
def two_hop_interventions(model, transcoders, batch: CityBatch, cities: Optional[list[str]] = None,
                          donor_scale: float = 2.0, restrict_to_pruned: bool = True) -> list[CityInterventions]:
    """For each city (default: the held-out ones), build the graph of its prompt, name its state and
    say-a-capital supernodes, and run on the real model: suppress the state (set to 0), inhibit it
    (set to minus its activation), swap in the next held-out city's state (this state's features
    off, the donor's on at ``donor_scale`` times their activation there; also at 1x), and suppress
    say-a-capital. Donors are the next city of the list, so each swap changes the state."""
    from course import interventions as I
    from course.attribution_graph import build_graph

    cities = batch.held_out_cities if cities is None else list(cities)
    scores = capital_scores(model, transcoders)
    graphs, pruned = {}, {}
    for city in cities:
        graphs[city] = build_graph(model, transcoders, batch.tokens[batch.index(city)])
        pruned[city] = graphs[city].prune() if restrict_to_pruned else None
        group_supernodes(graphs[city], batch, city, scores, pruned[city])
    tok = model.tokenizer
    out = []
    for k, city in enumerate(cities):
        graph, i = graphs[city], batch.index(city)
        donor = cities[(k + 1) % len(cities)]
        j = batch.index(donor)
        state, say = batch.states[i], "say a capital"
        capital_id = tok.encode(" " + batch.capitals[i])[0]
        rep = graph.replacement
        record = CityInterventions(city, state, batch.capitals[i], donor, batch.states[j], batch.capitals[j],
                                   len(graph.supernodes.get(state, [])), len(graph.supernodes.get(say, [])),
                                   tok.decode([int(rep.logits[-1].argmax())]), scores=graph.scores())
        record.paths = path_weights(graph, batch, city, pruned[city])
        record.state_members = [(graph.node(n).layer, graph.node(n).pos) for n in graph.supernodes.get(state, [])]
        influence = graph.node_influence()
        record.error_influence = influence[graph.mask("error")].reshape(graph.n_layers, len(graph.tokens))
        changes = {}
        if state in graph.supernodes:
            changes["suppress state"] = I.suppressed(graph, state)
            changes["inhibit state"] = I.scaled(graph, state, -1.0)
            if batch.states[j] in graphs[donor].supernodes:
                for name, scale in (("swap state", donor_scale), ("swap state 1x", 1.0)):
                    changes[name] = swap_changes(graph, state, graphs[donor], batch.states[j], scale)
        if say in graph.supernodes:
            changes["suppress say a capital"] = I.suppressed(graph, say)
        for name, change in changes.items():
            result = I.run_intervention(model, transcoders, None, change, replacement=rep)
            after = rep.logits[-1] + result.logit_change
            record.after[name] = tok.decode([int(after.argmax())])
            record.real[name] = _demeaned(result.logit_change, capital_id)
            record.predicted[name] = _demeaned(result.predicted_change, capital_id)
            record.replacement[name] = _demeaned(rep.forward(change)[-1] - rep.forward()[-1], capital_id)
            frozen = I.run_intervention(model, transcoders, None, change, replacement=rep, freeze_attention=True)
            record.frozen[name] = _demeaned(frozen.logit_change, capital_id)
        out.append(record)
    return out


def rates(records: list[CityInterventions], batch: CityBatch) -> dict[str, float]:
    """The chapter's figures, over the cities whose prompt the model answers right: how often each
    intervention removes the capital, gives another one, gives the donor's, or gives no capital."""
    capitals = {" " + c for c in batch.capitals}
    right = [r for r in records if r.before == " " + r.capital]

    def share(name, test):
        done = [r for r in right if name in r.after]
        return sum(test(r, r.after[name]) for r in done) / max(len(done), 1)

    out = {"n_cities": len(records), "answered": len(right) / max(len(records), 1)}
    for name in ("suppress state", "inhibit state"):
        out[f"{name}: capital removed"] = share(name, lambda r, a: a != " " + r.capital)
        out[f"{name}: another capital"] = share(name, lambda r, a: a != " " + r.capital and a in capitals)
    for name in ("swap state", "swap state 1x"):
        out[f"{name}: donor's capital"] = share(name, lambda r, a: a == " " + r.donor_capital)
    name = "suppress say a capital"
    out[f"{name}: no capital"] = share(name, lambda r, a: a not in capitals)
    out[f"{name}: the state"] = share(name, lambda r, a: a == " " + r.state)
    out["with a state supernode"] = sum(r.n_state > 0 for r in right) / max(len(right), 1)
    out["path city -> state -> capital"] = sum(r.paths["city -> state"] > 0 and r.paths["state -> capital"] > 0
                                               for r in right) / max(len(right), 1)
    out["path 'capital' -> say a capital -> capital"] = sum(
        r.paths["'capital' -> say a capital"] > 0 and r.paths["say a capital -> capital"] > 0
        for r in right) / max(len(right), 1)
    out["with a say-a-capital supernode"] = sum(r.n_say > 0 for r in right) / max(len(right), 1)
    return out


def agreement(records: list[CityInterventions], name: str, against: str = "real") -> dict[str, float]:
    """How well the graph predicts intervention ``name``: the correlation of predicted changes of
    the capital's logit with those of ``against`` ("real", "frozen" or "replacement"; see
    ``CityInterventions``) over cities, the share with the same sign, and their mean sizes."""
    pairs = [(r.predicted[name], getattr(r, against)[name]) for r in records if name in r.real]
    predicted, real = torch.tensor(pairs).T
    corr = torch.corrcoef(torch.stack([predicted, real]))[0, 1].item() if len(pairs) > 2 else float("nan")
    return {"n": len(pairs), "correlation": corr, "same_sign": (predicted.sign() == real.sign()).float().mean().item(),
            "mean_predicted": predicted.mean().item(), f"mean_{against}": real.mean().item()}


# -- worked answers to the open-ended exercises ------------------------------------------------------

@torch.no_grad()
def worked_other_phrasings(model, transcoders, phrasings: Optional[list[str]] = None) -> dict[str, dict]:
    """Open question: does the path you found hold in other ways of asking the same thing? Worked
    answer: rerun the whole recipe (supernodes from the cities of each phrasing, interventions on
    its held-out cities) for a trained and a held-out phrasing, and compare the rates. Where the
    model does not answer (it may not, in a held-out phrasing), there is no capital to remove: look
    at ``answered`` first."""
    from course import evalsets

    # With the shipped tinyworld and CLT: in the syllabus's phrasing every held-out city is answered,
    # suppressing the state removes the capital in 0.94 of them (but only 0.48 then name another
    # capital) and the swap gives the donor's in all, but without "say a capital" the answer is still a
    # capital in four cities in five (no capital: 0.19). In the phrasing never trained on, all 31 are
    # answered too; there the state removes the capital in 0.97 and the swap works in 0.97, while
    # removing "say a capital" almost never removes it (0.03): that supernode is the weak half.
    phrasings = phrasings or [evalsets.TWO_HOP_TRAIN_PHRASINGS[0], evalsets.TWO_HOP_HELD_OUT_PHRASINGS[2]]
    out = {}
    for phrasing in phrasings:
        batch = city_batch(model, transcoders, phrasing)
        out[phrasing] = rates(two_hop_interventions(model, transcoders, batch), batch)
    return out


@torch.no_grad()
def worked_one_hop_overlap(model, transcoders, batch: CityBatch) -> dict[str, float]:
    """Open question: is the state the two-hop prompt uses the same state the model computes when
    it is asked for the state itself ("The city of Houston is in")? Worked answer: find the state
    features at the last token of both phrasings, where each answer is made (the same rule, each
    over its own batch of cities), and measure, per held-out city, the share of the two-hop ones
    that are also state features of the one-hop prompt (Jaccard overlap too)."""
    from course import evalsets

    # With the shipped tinyworld and CLT: under half of the two-hop state features (0.47) are state
    # features of the one-hop prompt too (Jaccard 0.27): related codes, far from the same.
    one_hop = city_batch(model, transcoders, evalsets.CITY_STATE_PROMPT)
    contained, jaccard = [], []
    for city in batch.held_out_cities:
        a = {(l, f) for l, p, f in state_features(batch, city) if p == batch.tokens.shape[1] - 1}
        b = {(l, f) for l, p, f in state_features(one_hop, city) if p == one_hop.tokens.shape[1] - 1}
        if a:
            contained.append(len(a & b) / len(a))
            jaccard.append(len(a & b) / len(a | b))
    return {"cities": len(contained), "two_hop_in_one_hop": sum(contained) / max(len(contained), 1),
            "jaccard": sum(jaccard) / max(len(jaccard), 1)}


@torch.no_grad()
def worked_compare_kinds(model, per_layer, cross_layer, prompts: list[str]) -> dict[str, dict[str, float]]:
    """Open question: would the cross-layer transcoder (or the per-layer one) have told a cleaner
    story? Worked answer: for the same prompts, compare the average size of the pruned graph and
    its replacement and completeness scores (1 - replacement score is the share of the logits'
    influence that ends at error nodes). Then rerun the interventions with the other kind."""
    from course.attribution_graph import build_graph

    # With the shipped transcoders, on the first three held-out cities: the CLT's pruned graphs are
    # smaller (59 nodes and 643 edges against 71 and 926), and explain about as much with features
    # (replacement score 0.81 against 0.82): a smaller graph, not a more complete one.
    out = {}
    for name, tc in (("per-layer", per_layer), ("cross-layer", cross_layer)):
        rows = []
        for prompt in prompts:
            graph = build_graph(model, tc, prompt)
            pruned = graph.prune()
            rows.append({"features": float(graph.mask("feature").sum()),
                         "kept nodes": float(pruned.node_mask.sum()), "kept edges": float(pruned.edge_mask.sum()),
                         **graph.scores()})
        out[name] = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
    return out


WORKED = {"other_phrasings": worked_other_phrasings, "one_hop_overlap": worked_one_hop_overlap,
          "compare_kinds": worked_compare_kinds}
