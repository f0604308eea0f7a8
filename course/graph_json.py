"""An attribution graph as the JSON that circuit-tracer writes and Neuronpedia's graph frontend
reads (circuit-tracer's ``frontend/graph_models.py`` and ``utils/create_graph_files.py``;
Neuronpedia's ``graph-schema.json``), and back.

The file is ``{"metadata", "qParams", "nodes", "links"}``. Node ids and fields follow
circuit-tracer: a feature is ``"{layer}_{feature}_{pos}"`` with ``feature_type`` "cross layer
transcoder" (circuit-tracer uses it for per-layer transcoders too), an error node
``"{layer}_-1_{pos}"`` ("mlp reconstruction error"), an embedding ``"E_{token}_{pos}"``
("embedding", layer "E"), a logit ``"{n_layers + 1}_{token}_{pos}"`` ("logit", with
``token_prob``, ``is_target_logit`` for the most likely one, and the clerp ``Output "tok" (p=0.123)``).
A feature's ``feature`` is circuit-tracer's Cantor pairing of (layer, index), unique over layers.
Supernodes are ``qParams.supernodes``: ``[[name, node_id, ...], ...]``.

Our additions, which the frontend ignores: each node's ``token``, ``top_contexts`` and
``top_logits``; ``metadata.replacement_score``/``completeness_score``, ``n_layers`` and the
token ids. One difference to know: our ``influence`` is the node's own influence on the logits
(bigger is more important, as ``widgets.AttributionGraph`` sizes nodes), while circuit-tracer's
files store the *cumulative* influence of all nodes at least as influential, which the frontend
compares with ``metadata.node_threshold`` to prune on the fly. We prune before export and write no
``node_threshold``, so the frontend shows what we kept; ``cumulative_influence=True`` writes
circuit-tracer's values and threshold instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from course.attribution_graph import EMBEDDING, ERROR, FEATURE, KIND_ORDER, LOGIT, AttributionGraph, Node

FEATURE_TYPES = {FEATURE: "cross layer transcoder", ERROR: "mlp reconstruction error", EMBEDDING: "embedding",
                 LOGIT: "logit"}
KINDS = {v: k for k, v in FEATURE_TYPES.items()}


def cantor(x: int, y: int) -> int:
    """circuit-tracer's global feature number for feature y of layer x."""
    return (x + y) * (x + y + 1) // 2 + y


def node_to_dict(node: Node, n_layers: int, is_target: bool = False, influence=None) -> dict:
    layer = {FEATURE: node.layer, ERROR: node.layer, EMBEDDING: "E", LOGIT: n_layers + 1}[node.kind]
    feature = {FEATURE: cantor(node.layer, node.index) if node.kind == FEATURE else None, ERROR: -1,
               EMBEDDING: node.pos, LOGIT: node.index}[node.kind]
    js_id = {FEATURE: f"{node.layer}_{node.index}-0", ERROR: f"{node.layer}_-1-{node.pos}",
             EMBEDDING: f"E_{node.index}-{node.pos}", LOGIT: f"L_{node.index}-{node.pos}"}[node.kind]
    clerp = node.label or (f'Output "{node.token}" (p={node.token_prob:.3f})' if node.kind == LOGIT else "")
    out = {"node_id": node.node_id, "feature": feature, "layer": str(layer), "ctx_idx": node.pos,
           "feature_type": FEATURE_TYPES[node.kind], "jsNodeId": js_id, "clerp": clerp,
           "influence": None if node.kind == LOGIT else node.influence if influence is None else influence,
           "activation": node.activation,
           "token_prob": node.token_prob, "is_target_logit": is_target, "run_idx": 0, "reverse_ctx_idx": 0}
    if node.kind in (EMBEDDING, LOGIT):
        out["token"] = node.token
    if node.label:
        out["label"] = node.label  # the clerp of a logit is its output text; the name stays apart
    if node.kind == FEATURE:
        out["top_contexts"] = list(node.top_contexts)
        out["top_logits"] = list(node.top_logits)
    return out


def graph_to_dict(graph: AttributionGraph, prune: bool = True, node_threshold: float = 0.8,
                  edge_threshold: float = 0.98, slug: str = "", scan: str = "",
                  cumulative_influence: bool = False) -> dict:
    """The graph JSON, pruned (``prune``) or with every node and every non-zero edge."""
    n = len(graph.nodes)
    if prune:
        pruned = graph.prune(node_threshold, edge_threshold)
        node_mask, edge_mask = pruned.node_mask, pruned.edge_mask
    else:
        node_mask, edge_mask = torch.ones(n, dtype=torch.bool), torch.ones(n, n, dtype=torch.bool)
    values = torch.tensor([node.influence for node in graph.nodes])
    order = values.argsort(descending=True)
    cumulative = torch.zeros(n)
    cumulative[order] = values[order].cumsum(0) / values.sum().clamp_min(1e-30)
    logits = [i for i, node in enumerate(graph.nodes) if node.kind == LOGIT]
    target = max(logits, key=lambda i: graph.nodes[i].token_prob) if logits else None
    nodes = [node_to_dict(node, graph.n_layers, i == target, cumulative[i].item() if cumulative_influence else None)
             for i, node in enumerate(graph.nodes) if node_mask[i]]
    targets, sources = ((graph.adjacency != 0) & edge_mask).nonzero(as_tuple=True)
    ids = [node.node_id for node in graph.nodes]
    links = [{"source": ids[s], "target": ids[t], "weight": graph.adjacency[t, s].item()}
             for t, s in zip(targets.tolist(), sources.tolist())]
    kept = {ids[i] for i in range(n) if node_mask[i]}
    supernodes = [[name] + [m for m in members if m in kept] for name, members in graph.supernodes.items()]
    metadata = {
        "slug": slug or "course-graph", "scan": scan or graph.metadata.get("transcoders") or "course",
        "transcoder_list": [], "prompt_tokens": list(graph.prompt_tokens), "prompt": graph.prompt,
        "schema_version": 1, "info": {"generator": {"name": "course.attribution_graph"}},
        "generation_settings": {k: graph.metadata[k] for k in ("max_n_logits", "desired_logit_prob")
                                if k in graph.metadata},
        **graph.scores(), "n_layers": graph.n_layers, "tokens": list(graph.tokens),
        "cross_layer": graph.metadata.get("cross_layer"), "influence": "cumulative" if cumulative_influence else "raw",
    }
    if prune:
        metadata["pruning_settings"] = {"node_threshold": node_threshold, "edge_threshold": edge_threshold}
    if cumulative_influence:
        metadata["node_threshold"] = node_threshold
    return {"metadata": metadata,
            "qParams": {"pinnedIds": [], "supernodes": [s for s in supernodes if len(s) > 1], "linkType": "both",
                        "clickedId": "", "sg_pos": ""},
            "nodes": nodes, "links": links}


def _check_node(d: dict, where: str) -> None:
    for key in ("node_id", "feature_type", "layer", "ctx_idx"):
        if key not in d:
            raise ValueError(f"{where} has no {key!r}: every node needs node_id, feature_type, layer and ctx_idx")
    if d["feature_type"] not in KINDS:
        raise ValueError(f"{where} has feature_type {d['feature_type']!r}; known: {sorted(KINDS)}")


def _node_from_dict(d: dict, n_layers: int, where: str) -> Node:
    kind, node_id, pos = KINDS[d["feature_type"]], d["node_id"], int(d["ctx_idx"])
    parts = node_id.split("_")
    try:
        layer = int(d["layer"]) if kind in (FEATURE, ERROR) else None
        index = {FEATURE: lambda: int(parts[1]), ERROR: lambda: None, EMBEDDING: lambda: int(parts[1]),
                 LOGIT: lambda: int(d["feature"])}[kind]()
    except (ValueError, IndexError, TypeError):
        raise ValueError(f"{where}: cannot read layer and index from node_id {node_id!r} "
                         f"(layer {d['layer']!r})") from None
    label = d.get("label", "" if kind == LOGIT else d.get("clerp", "")) or ""
    return Node(node_id, kind, layer, pos, index, float(d.get("activation") or 0.0), float(d.get("influence") or 0.0),
                d.get("token", ""), float(d.get("token_prob") or 0.0), label, list(d.get("top_contexts") or []),
                list(d.get("top_logits") or []))


def graph_from_dict(data: dict) -> AttributionGraph:
    """An ``AttributionGraph`` from its JSON (ours, or circuit-tracer's). Edges not in ``links``
    are zero; there is no replacement model behind it, so interventions need the model again."""
    for key in ("metadata", "nodes", "links"):
        if key not in data:
            raise ValueError(f"graph JSON has no {key!r} (it has {sorted(data)})")
    meta, raw = data["metadata"], list(data["nodes"])
    for i, d in enumerate(raw):
        _check_node(d, f"graph['nodes'][{i}]")
    n_layers = meta.get("n_layers")
    if n_layers is None:  # circuit-tracer's files: the logits sit one layer above the last
        logit_layers = [int(d["layer"]) - 1 for d in raw if KINDS[d["feature_type"]] == LOGIT]
        inner = [int(d["layer"]) + 1 for d in raw if KINDS[d["feature_type"]] in (FEATURE, ERROR)]
        n_layers = max(logit_layers + inner + [0])
    nodes = [_node_from_dict(d, n_layers, f"graph['nodes'][{i}]") for i, d in enumerate(raw)]
    nodes.sort(key=lambda node: KIND_ORDER.index(node.kind))  # stable: features, errors, embeddings, logits
    index = {node.node_id: i for i, node in enumerate(nodes)}
    if len(index) != len(nodes):
        raise ValueError("graph JSON has two nodes with the same node_id")
    A = torch.zeros(len(nodes), len(nodes))
    for j, link in enumerate(data["links"]):
        for key in ("source", "target"):
            if link.get(key) not in index:
                raise ValueError(f"graph['links'][{j}] has {key} {link.get(key)!r}, which is not a node")
        A[index[link["target"]], index[link["source"]]] = float(link["weight"])
    prompt_tokens = list(meta.get("prompt_tokens", []))
    tokens = meta.get("tokens")
    if tokens is None:
        embeddings = sorted((n for n in nodes if n.kind == EMBEDDING), key=lambda n: n.pos)
        tokens = [n.index for n in embeddings]
    supernodes = {}
    for entry in (data.get("qParams") or {}).get("supernodes") or []:
        if isinstance(entry, list) and len(entry) >= 2:
            supernodes[str(entry[0])] = [m for m in entry[1:] if m in index]
    graph = AttributionGraph(meta.get("prompt", ""), list(tokens), prompt_tokens, int(n_layers), nodes, A,
                             supernodes, metadata={k: meta[k] for k in ("cross_layer", "scan") if k in meta})
    if meta.get("influence") != "raw":  # cumulative shares cannot be turned back: recompute on this graph
        for node, value in zip(graph.nodes, graph.node_influence().tolist()):
            node.influence = value
    return graph


def save_json(graph: AttributionGraph, path, **kwargs) -> None:
    """Write ``graph_to_dict(graph, **kwargs)`` to ``path``."""
    Path(path).write_text(json.dumps(graph_to_dict(graph, **kwargs), indent=1) + "\n", encoding="utf-8")


def load_json(path) -> AttributionGraph:
    return graph_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
