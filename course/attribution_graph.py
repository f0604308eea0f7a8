"""Attribution graphs (Ameisen et al. 2025, "Circuit Tracing: Revealing Computational Graphs in
Language Models"; the recipe of their open-source circuit-tracer).

The nodes of the graph of one prompt are its token embeddings, the transcoder features active at
each (layer, position), one error node per (layer, position) and the output logits that cover 95%
of the next token's probability (at most 10). Its edges are *direct* linear effects in the local
replacement model (course/replacement.py), where attention patterns and norm scales are frozen:
the edge from source s to target t is

    activation(s) * (write vector of s) . d(pre-activation of t) / d(MLP outputs where s writes)

with the gradient taken through frozen attention and frozen norms only, never through another
MLP: every other feature and error node is held fixed (the Jacobian of the linearised model
restricted to direct paths). A feature's target value is its pre-activation, a logit's is the
logit minus the mean logit (the softmax cannot see the mean). Because the frozen model is linear,
a target's incoming edges plus a constant (the biases) add up to its value; for an active feature
that value is its activation. ``AttributionGraph.adjacency[t, s]`` holds the edge s -> t.

Influence, pruning and the two scores follow circuit-tracer (``graph.py``): normalise absolute
edge weights per target, sum over all paths to the logits weighted by their probabilities, keep
the nodes that carry 80% of that and then the edges that carry 98%. Export and import in the
graph JSON of circuit-tracer and Neuronpedia's frontend are in course/graph_json.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import torch

from course.replacement import LocalReplacement, local_replacement
from course.transcoders import Transcoders, feature_activations

EMBEDDING, FEATURE, ERROR, LOGIT = "embedding", "feature", "error", "logit"
KIND_ORDER = (FEATURE, ERROR, EMBEDDING, LOGIT)  # the order of the nodes, as in circuit-tracer


def feature_id(layer: int, pos: int, feature: int) -> str:
    return f"{layer}_{feature}_{pos}"


def error_id(layer: int, pos: int) -> str:
    return f"{layer}_-1_{pos}"


def embedding_id(token: int, pos: int) -> str:
    return f"E_{token}_{pos}"


def logit_id(n_layers: int, token: int, pos: int) -> str:
    return f"{n_layers + 1}_{token}_{pos}"  # the frontend puts logits one layer above the last


@dataclass
class Node:
    node_id: str
    kind: str  # "embedding", "feature", "error" or "logit"
    layer: Optional[int]  # feature and error: the MLP layer; embedding, logit: None
    pos: int  # token position (ctx_idx)
    index: Optional[int]  # feature: its index in the layer's transcoder; embedding, logit: token id
    activation: float  # feature: activation; error, embedding: norm of the vector; logit: logit - mean logit
    influence: float = 0.0  # its influence on the logits (see ``node_influence``)
    token: str = ""  # embedding: the prompt's token; logit: the output token
    token_prob: float = 0.0  # logit: its probability
    label: str = ""  # a name the learner gives it ("clerp" in the frontend)
    top_contexts: list[str] = field(default_factory=list)  # feature: where it fires most (for hover)
    top_logits: list[str] = field(default_factory=list)  # feature: tokens its decoder promotes


@dataclass
class Pruned:
    """What ``AttributionGraph.prune`` keeps. ``node_share``/``edge_share``: the fraction of the
    total node/edge influence the thresholds kept (before dangling nodes are removed)."""

    node_mask: torch.Tensor  # [node] bool
    edge_mask: torch.Tensor  # [target source] bool
    node_share: float
    edge_share: float
    node_threshold: float
    edge_threshold: float


@dataclass(eq=False, repr=False)
class AttributionGraph:
    prompt: str
    tokens: list[int]  # the prompt's token ids
    prompt_tokens: list[str]  # ... as strings
    n_layers: int
    nodes: list[Node]  # features, errors, embeddings, logits, in that order
    adjacency: torch.Tensor  # [target source]: the direct effect of each node on each other
    supernodes: dict[str, list[str]] = field(default_factory=dict)  # name -> node ids
    metadata: dict = field(default_factory=dict)
    replacement: Optional[LocalReplacement] = None  # the frozen run it was built from (not exported)

    def __post_init__(self):
        self._index = {n.node_id: i for i, n in enumerate(self.nodes)}

    def __repr__(self) -> str:
        counts = {kind: sum(n.kind == kind for n in self.nodes) for kind in KIND_ORDER}
        return (f"AttributionGraph({self.prompt!r}: " + ", ".join(f"{v} {k}" for k, v in counts.items())
                + f" nodes, {int((self.adjacency != 0).sum())} edges, supernodes {list(self.supernodes)})")

    # -- looking nodes up ------------------------------------------------------------------------
    def index(self, node_id: str) -> int:
        if node_id not in self._index:
            import difflib

            close = difflib.get_close_matches(str(node_id), list(self._index), n=3)
            raise KeyError(f"no node {node_id!r} in this graph" + (f"; close: {close}" if close else "")
                           + ". Ids: features 'layer_feature_pos', errors 'layer_-1_pos', embeddings "
                           "'E_token_pos', logits 'n_layers+1_token_pos'")
        return self._index[node_id]

    def node(self, node_id: str) -> Node:
        return self.nodes[self.index(node_id)]

    def mask(self, kind: str) -> torch.Tensor:  # [node] bool
        return torch.tensor([n.kind == kind for n in self.nodes], dtype=torch.bool)

    def members(self, nodes) -> list[str]:
        """Node ids from a supernode's name, one node id, or a list of ids."""
        if isinstance(nodes, str):
            nodes = self.supernodes[nodes] if nodes in self.supernodes else [nodes]
        ids = list(nodes)
        for node_id in ids:
            self.index(node_id)
        return ids

    @property
    def logit_weights(self) -> torch.Tensor:  # [node]: each logit node's probability, 0 elsewhere
        return torch.tensor([n.token_prob if n.kind == LOGIT else 0.0 for n in self.nodes])

    @property
    def activations(self) -> torch.Tensor:  # [node]
        return torch.tensor([n.activation for n in self.nodes])

    # -- influence, pruning, scores ----------------------------------------------------------------
    def node_influence(self) -> torch.Tensor:
        return node_influence(self.adjacency, self.logit_weights)

    def prune(self, node_threshold: float = 0.8, edge_threshold: float = 0.98) -> Pruned:
        """``prune`` with embeddings, logits and the members of every supernode always kept."""
        grouped = torch.zeros(len(self.nodes), dtype=torch.bool)
        grouped[[self.index(i) for ids in self.supernodes.values() for i in ids]] = True
        return prune(self.adjacency, self.logit_weights, self.mask(FEATURE),
                     self.mask(EMBEDDING) | self.mask(LOGIT) | grouped, node_threshold, edge_threshold)

    def scores(self) -> dict[str, float]:
        return graph_scores(self.adjacency, self.logit_weights, self.mask(EMBEDDING), self.mask(ERROR))

    # -- supernodes ----------------------------------------------------------------------------
    def add_supernode(self, name: str, node_ids: Iterable[str]) -> None:
        """Group nodes under a name (a feature family such as "Texas" or "say a capital")."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a supernode needs a non-empty name, got {name!r}")
        ids = list(dict.fromkeys(node_ids))
        if not ids:
            raise ValueError(f"supernode {name!r} has no nodes")
        for node_id in ids:
            self.index(node_id)
            for other, members in self.supernodes.items():
                if other != name and node_id in members:
                    raise ValueError(f"node {node_id!r} is already in supernode {other!r}; a node belongs to one")
        self.supernodes[name] = ids

    def supernode_graph(self, pruned: Optional[Pruned] = None) -> tuple[list[str], torch.Tensor]:
        """The graph with each supernode merged into one node: ``(names, weights [target source])``.
        Nodes in no supernode stay as themselves (named by node id; with ``pruned``, only those it
        keeps). The weight between two groups is the sum of the edges from one to the other."""
        keep = pruned.node_mask if pruned is not None else torch.ones(len(self.nodes), dtype=torch.bool)
        A = self.adjacency if pruned is None else self.adjacency * pruned.edge_mask
        grouped = {node_id for ids in self.supernodes.values() for node_id in ids}
        alone = [n.node_id for i, n in enumerate(self.nodes) if keep[i] and n.node_id not in grouped]
        names = list(self.supernodes) + alone
        member = torch.zeros(len(names), len(self.nodes))  # [group node]
        for g, name in enumerate(names):
            for node_id in self.supernodes.get(name, [name]):
                member[g, self.index(node_id)] = 1.0
        return names, member @ A @ member.T

    # -- JSON (course/graph_json.py) -----------------------------------------------------------
    def to_dict(self, prune: bool = True, node_threshold: float = 0.8, edge_threshold: float = 0.98,
                slug: str = "", scan: str = "", cumulative_influence: bool = False) -> dict:
        """The graph JSON that circuit-tracer writes and Neuronpedia's frontend (and
        ``widgets.AttributionGraph``) reads; pruned by default, ``prune=False`` for every edge."""
        from course.graph_json import graph_to_dict

        return graph_to_dict(self, prune, node_threshold, edge_threshold, slug, scan, cumulative_influence)

    def save_json(self, path, **kwargs) -> None:
        from course.graph_json import save_json

        save_json(self, path, **kwargs)

    @staticmethod
    def from_dict(data: dict) -> "AttributionGraph":
        from course.graph_json import graph_from_dict

        return graph_from_dict(data)

    @staticmethod
    def load_json(path) -> "AttributionGraph":
        from course.graph_json import load_json

        return load_json(path)


# -- building the graph ------------------------------------------------------------------------

def top_logits(logits: torch.Tensor, probability: float = 0.95,
               max_logits: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """The fewest most likely tokens whose probabilities add up to ``probability``, at most
    ``max_logits``: ``(token ids, probabilities)`` of the last position's ``logits [d_vocab]``."""
    probs = logits.softmax(-1)
    values, tokens = probs.sort(descending=True)
    n = int((values.cumsum(0) < probability).sum()) + 1
    n = min(n, max_logits, len(values))
    return tokens[:n], values[:n]


def _direct_effects(rep: LocalReplacement, features: torch.Tensor, logit_tokens: torch.Tensor,
                    batch_size: int) -> torch.Tensor:
    """The adjacency ``[target source]`` of nodes ordered features (rows of ``features [n 3]``:
    layer, pos, feature), errors (layer-major), embeddings, logits.

    For a batch of targets, one vector-Jacobian product of the frozen linear model (vmapped over
    the targets) gives the gradient of each target with respect to the embeddings and to every
    MLP's output; an edge is that gradient dotted with what the source wrote there."""
    tc, L, P = rep.transcoders, rep.n_layers, len(rep.tokens)
    n_feat, n_err = len(features), L * P
    N = n_feat + n_err + P + len(logit_tokens)
    A = torch.zeros(N, N)
    err0, emb0 = n_feat, n_feat + n_err

    # what each active feature writes per unit, scaled by its activation: by source layer
    writes = {}
    for l in range(L):
        rows = (features[:, 0] == l).nonzero()[:, 0]
        pos, f = features[rows, 1], features[rows, 2]
        writes[l] = (rows, pos, tc.write_vectors(l, f).detach() * rep.acts[l, pos, f][None, :, None])  # [n_out n d]

    def fill(target_rows: torch.Tensor, g0: torch.Tensor, gm: torch.Tensor) -> None:
        """g0 [batch pos d_model]: gradients at the embeddings; gm [batch layer' pos d_model]: at the
        outputs of MLPs 0..layer'-1 (the ones the targets can see)."""
        seen = gm.shape[1]
        A[target_rows, emb0 : emb0 + P] = (g0 * rep.resid_0).sum(-1)
        A[target_rows, err0 : err0 + seen * P] = (gm * rep.errors[:seen]).sum(-1).flatten(1)
        for l in range(seen):
            rows, pos, w = writes[l]
            if len(rows) == 0:
                continue
            effect = 0
            for o, j in enumerate(tc.writes_to(l)):
                if j < seen:
                    effect = effect + torch.einsum("bnd,nd->bn", gm[:, j, pos, :], w[o])
            A[target_rows[:, None], rows[None, :]] = effect

    def vjp_rows(fn, primals, cotangents: torch.Tensor):
        _, vjp_fn = torch.func.vjp(fn, *primals)
        return torch.vmap(vjp_fn)(cotangents)

    for l in range(L):  # feature targets, a layer at a time: they see the MLP outputs before them
        rows = (features[:, 0] == l).nonzero()[:, 0]
        for chunk in rows.split(batch_size):
            cot = torch.zeros(len(chunk), P, tc.cfg.d_model)  # d(pre-activation) / d(MLP input)
            cot[torch.arange(len(chunk)), features[chunk, 1]] = tc.W_enc[l][:, features[chunk, 2]].T.detach()
            g0, gm = vjp_rows(lambda r, m, l=l: rep.mlp_input(l, r, m), (rep.resid_0, rep.mlp_out[:l]), cot)
            fill(chunk, g0, gm)
    if len(logit_tokens):  # logit targets: the logit minus the mean logit, at the last position
        W_U = rep.model.W_U.detach()
        cot = torch.zeros(len(logit_tokens), P, tc.cfg.d_model)
        cot[:, -1] = (W_U[:, logit_tokens] - W_U.mean(1, keepdim=True)).T
        g0, gm = vjp_rows(rep.final_stream, (rep.resid_0, rep.mlp_out), cot)
        fill(torch.arange(N - len(logit_tokens), N), g0, gm)
    return A


def edge(rep: LocalReplacement, source: Node, target: Node) -> float:
    """One edge, computed the plain way (what ``build_graph`` does for all edges at once): make
    the embeddings and the MLP outputs inputs, compute the target from them through the frozen
    model, take its gradient, and dot it with what the source wrote there."""
    resid_0 = rep.resid_0.clone().requires_grad_(True)  # [pos d_model]
    mlp_outs = rep.mlp_out.clone().requires_grad_(True)  # [layer pos d_model], held fixed: direct paths only
    with torch.enable_grad():
        if target.kind == FEATURE:
            value = rep.transcoders.pre_acts(target.layer, rep.mlp_input(target.layer, resid_0, mlp_outs)[target.pos])
            value = value[target.index]
        elif target.kind == LOGIT:
            logits = rep.unembed(rep.final_stream(resid_0, mlp_outs)[-1])
            value = logits[target.index] - logits.mean()
        else:
            raise ValueError(f"a {target.kind} node has no inputs: only features and logits are targets")
        grad_embed, grad_mlp = torch.autograd.grad(value, (resid_0, mlp_outs), allow_unused=True)
    grad_embed = torch.zeros_like(resid_0) if grad_embed is None else grad_embed
    grad_mlp = torch.zeros_like(mlp_outs) if grad_mlp is None else grad_mlp
    if source.kind == EMBEDDING:
        return (grad_embed[source.pos] @ rep.resid_0[source.pos]).item()
    if source.kind == ERROR:
        return (grad_mlp[source.layer, source.pos] @ rep.errors[source.layer, source.pos]).item()
    if source.kind == FEATURE:
        tc = rep.transcoders
        return sum(source.activation * (grad_mlp[j, source.pos] @ tc.W_dec[source.layer][o, source.index]).item()
                   for o, j in enumerate(tc.writes_to(source.layer)))
    raise ValueError("a logit node is never a source")


@torch.no_grad()
def build_graph(model, transcoders: Transcoders, prompt, max_logits: int = 10, logit_probability: float = 0.95,
                batch_size: int = 512) -> AttributionGraph:
    """The attribution graph of ``prompt`` (a string, or token ids ``[pos]``) for ``model`` with
    its MLPs replaced by ``transcoders``. Every active feature is a node; edges are unpruned
    (``graph.prune()`` chooses what to show)."""
    rep = local_replacement(model, transcoders, prompt)
    L, P = rep.n_layers, len(rep.tokens)
    features = rep.acts.nonzero()  # [n 3]: layer, pos, feature, in that order
    logit_tokens, logit_probs = top_logits(rep.logits[-1], logit_probability, max_logits)
    with torch.enable_grad():
        A = _direct_effects(rep, features, logit_tokens, batch_size)

    tokenizer = getattr(model, "tokenizer", None)
    decode = (lambda i: tokenizer.decode([int(i)])) if tokenizer is not None else (lambda i: f"<{int(i)}>")
    ids = rep.tokens.tolist()
    prompt_tokens = [decode(i) for i in ids]
    demeaned = rep.logits[-1] - rep.logits[-1].mean()
    nodes = [Node(feature_id(l, p, f), FEATURE, l, p, f, rep.acts[l, p, f].item()) for l, p, f in features.tolist()]
    nodes += [Node(error_id(l, p), ERROR, l, p, None, rep.errors[l, p].norm().item())
              for l in range(L) for p in range(P)]
    nodes += [Node(embedding_id(t, p), EMBEDDING, None, p, t, rep.resid_0[p].norm().item(), token=prompt_tokens[p])
              for p, t in enumerate(ids)]
    for t, prob in zip(logit_tokens.tolist(), logit_probs.tolist()):
        nodes.append(Node(logit_id(L, t, P - 1), LOGIT, None, P - 1, t, demeaned[t].item(), token=decode(t),
                          token_prob=prob))
    graph = AttributionGraph(prompt if isinstance(prompt, str) else "".join(prompt_tokens), ids, prompt_tokens, L,
                             nodes, A, metadata={"max_n_logits": max_logits, "desired_logit_prob": logit_probability,
                                                 "cross_layer": transcoders.cfg.cross_layer,
                                                 "transcoders": getattr(transcoders, "card", {}).get("name", "")},
                             replacement=rep)
    for node, value in zip(graph.nodes, graph.node_influence().tolist()):
        node.influence = value
    return graph


# -- influence, pruning and scores (circuit-tracer's graph.py) -------------------------------

def normalized(adjacency: torch.Tensor) -> torch.Tensor:
    """|A| with each target's row divided by its sum: the share of a node's direct input that
    each source provides. Rows without input (embeddings, error nodes) stay zero."""
    a = adjacency.abs()
    return a / a.sum(-1, keepdim=True).clamp_min(1e-10)


def influence(normalized_adjacency: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``weights @ (A + A^2 + A^3 + ...)``, i.e. ``weights @ ((I - A)^-1 - I)``: the weighted sum,
    over every path from a node to the weighted targets, of the product of normalised edges.
    The graph has no cycles (a node only reads earlier layers), so the series ends after at most
    as many terms as it has layers; it is summed a matrix-vector product at a time."""
    total = torch.zeros_like(weights)
    current = weights @ normalized_adjacency
    for _ in range(len(weights)):
        if not current.any():
            return total
        total = total + current
        current = current @ normalized_adjacency
    raise RuntimeError("the adjacency matrix has a cycle: influence does not converge")


def node_influence(adjacency: torch.Tensor, logit_weights: torch.Tensor) -> torch.Tensor:
    """Each node's influence on the logits, weighted by their probabilities: ``[node]``. The
    influence that reaches nodes without inputs (embeddings, errors) adds up to the logits' total
    probability, as each node passes on all it receives."""
    return influence(normalized(adjacency), logit_weights)


def threshold_for_share(scores: torch.Tensor, share: float) -> float:
    """The smallest score among the fewest top scores that add up to ``share`` of the total."""
    ordered = scores.flatten().sort(descending=True).values
    total = ordered.sum()
    if total <= 0:
        return float("inf")
    index = int(torch.searchsorted(ordered.cumsum(0) / total, torch.tensor(share)))
    return ordered[min(index, len(ordered) - 1)].item()


def prune(adjacency: torch.Tensor, logit_weights: torch.Tensor, is_feature: torch.Tensor, always_keep: torch.Tensor,
          node_threshold: float = 0.8, edge_threshold: float = 0.98) -> Pruned:
    """Keep the nodes that carry ``node_threshold`` of the influence on the logits (and those of
    ``always_keep``: embeddings, logits, supernode members), then, among the edges between them, the edges that carry
    ``edge_threshold`` of it (an edge's score is its normalised weight times the influence of its
    target, plus the target's own logit weight); finally drop features and error nodes left
    without an outgoing edge, and features left without an incoming one (unless always kept)."""
    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    scores = node_influence(adjacency, logit_weights)
    node_mask = (scores >= threshold_for_share(scores, node_threshold)) | always_keep
    total = scores.sum().clamp_min(1e-30)
    node_share = (scores * node_mask).sum().item() / total.item() if scores.sum() > 0 else 1.0

    kept = adjacency * node_mask[:, None] * node_mask[None, :]
    norm = normalized(kept)
    edge_scores = norm * (influence(norm, logit_weights) + logit_weights)[:, None]
    edge_mask = (edge_scores >= threshold_for_share(edge_scores, edge_threshold)) & (kept != 0)
    edge_total = edge_scores.sum()
    edge_share = (edge_scores * edge_mask).sum().item() / edge_total.item() if edge_total > 0 else 1.0

    while True:  # each removal may leave another node dangling; at most a few rounds
        before = node_mask.clone()
        node_mask &= always_keep | edge_mask.any(0)  # features and errors need an outgoing edge
        node_mask &= always_keep | ~is_feature | edge_mask.any(1)  # features need an incoming edge
        edge_mask &= node_mask[:, None] & node_mask[None, :]
        if torch.equal(before, node_mask):
            break
    return Pruned(node_mask, edge_mask, node_share, edge_share, node_threshold, edge_threshold)


def graph_scores(adjacency: torch.Tensor, logit_weights: torch.Tensor, is_embedding: torch.Tensor,
                 is_error: torch.Tensor) -> dict[str, float]:
    """The two scores of Ameisen et al. (2025), as circuit-tracer computes them:

    - replacement_score: of the influence that reaches the graph's inputs, the share that comes
      from token embeddings rather than error nodes: 1 when the features explain the logits end
      to end, 0 when everything goes through errors;
    - completeness_score: each node's share of (normalised) direct input that comes from
      non-error nodes, averaged over nodes weighted by their influence on the logits (plus their
      own logit weight): partial credit for nodes mostly explained by features."""
    norm = normalized(adjacency)
    scores = influence(norm, logit_weights)
    from_embeddings, from_errors = scores[is_embedding].sum(), scores[is_error].sum()
    replacement = (from_embeddings / (from_embeddings + from_errors).clamp_min(1e-30)).item()
    non_error = 1 - norm[:, is_error].sum(-1)
    weight = scores + logit_weights
    completeness = ((non_error * weight).sum() / weight.sum().clamp_min(1e-30)).item()
    return {"replacement_score": replacement, "completeness_score": completeness}


# -- hover text: where each feature fires, what it promotes ------------------------------------

@torch.no_grad()
def annotate_features(graph: AttributionGraph, model, transcoders: Transcoders, tokens: torch.Tensor,
                      node_ids: Optional[Sequence[str]] = None, n_contexts: int = 3, n_logits: int = 5,
                      context: int = 8) -> None:
    """Fill ``top_contexts`` and ``top_logits`` of the feature nodes (``node_ids``, default all):
    the ``n_contexts`` snippets of ``tokens [batch pos]`` (say held-out TinyWorld text) where the
    feature fires most, its peak token in [[brackets]]; and the tokens its decoder promotes most,
    read straight through the final norm's centring and gain and W_U (summed over the layers a
    cross-layer feature writes to)."""
    ids = [n.node_id for n in graph.nodes if n.kind == FEATURE] if node_ids is None else list(node_ids)
    wanted = {}
    for node_id in ids:
        node = graph.node(node_id)
        if node.kind != FEATURE:
            raise ValueError(f"{node_id!r} is a {node.kind} node; only features have contexts and logits")
        wanted.setdefault(node.layer, set()).add(node.index)
    decode = lambda i: model.tokenizer.decode([int(i)])  # noqa: E731
    ln_w = getattr(model.ln_final, "w", None)
    found: dict[tuple[int, int], tuple[list[str], list[str]]] = {}
    for layer, feats in wanted.items():
        feats = sorted(feats)
        acts = feature_activations(transcoders, model, tokens, layer, torch.tensor(feats))  # [batch pos n]
        direction = transcoders.W_dec[layer].sum(0)[feats].detach()  # [n d_model]
        if model.cfg.normalization == "LN":  # the final norm's centring (RMSNorm does not centre) ...
            direction = direction - direction.mean(-1, keepdim=True)
        if ln_w is not None:  # ... and its gain; its division by the scale cannot change the ranking
            direction = direction * ln_w.detach()
        promoted = (direction @ model.W_U.detach()).topk(n_logits, dim=-1).indices  # [n n_logits]
        for j, f in enumerate(feats):
            a = acts[..., j]
            contexts = []
            for flat in a.flatten().argsort(descending=True)[:n_contexts].tolist():
                b, p = divmod(flat, a.shape[1])
                if a[b, p] <= 0:
                    break
                left = "".join(decode(i) for i in tokens[b, max(0, p - context) : p].tolist())
                contexts.append(f"{left}[[{decode(tokens[b, p])}]]")
            found[layer, f] = (contexts, [decode(i) for i in promoted[j].tolist()])
    for node_id in ids:
        node = graph.node(node_id)
        node.top_contexts, node.top_logits = found[node.layer, node.index]
