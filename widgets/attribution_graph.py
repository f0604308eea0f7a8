"""AttributionGraph: an attribution graph (the graph JSON of circuit-tracer and Neuronpedia, which
`course.attribution_graph` exports) drawn as layers from the token embeddings at the bottom to the
logits at the top, by token position from left to right; nodes sized by influence, edges by weight
(width) and sign (colour and dash). Hover a node for its label, activation, influence, top
activating contexts and the logits it promotes; click it to pin the strongest paths through it;
shift-click nodes and name them as a supernode; choose a supernode and a mode and run an
intervention, through a Python callback, to see the new top logits beside the old.

The graph format (a dict, or a path to its JSON file)::

    {"metadata": {"prompt_tokens": [str], "prompt": str, "replacement_score": float,
                  "completeness_score": float, ...},
     "nodes": [{"node_id": str, "feature_type": "embedding" | "cross layer transcoder" |
                "mlp reconstruction error" | "logit", "layer": str | int, "ctx_idx": int,
                "feature": int | None, "activation": float, "influence": float,
                "token_prob": float, "is_target_logit": bool, "clerp": str,
                "top_contexts": [str], "top_logits": [str | (str, float)], "token": str}, ...],
     "links": [{"source": node_id, "target": node_id, "weight": float}, ...],
     "qParams": {"supernodes": [[name, node_id, ...], ...]}}   # optional, as Neuronpedia saves them

Only node_id, feature_type, layer and ctx_idx are required of a node. Rows come from the
feature type (embeddings at the bottom, logits at the top, whatever their `layer` says) and, for
features and error nodes, from `layer` in numeric order. A bigger `influence` draws a bigger node;
circuit-tracer's own files store the *cumulative* influence instead (smaller is more important):
pass ``cumulative_influence=True`` for those.

Pinning a node lights its strongest paths, traced by one rule in both directions: from each node
on the path, the edges whose |weight| is at least half the largest |weight| among that node's
incoming (going down, towards the embeddings) or outgoing (going up, towards the logits) edges, at
most three per node. The browser traces the path and sends it back as `pinned_path`.
"""

from __future__ import annotations

import difflib
import json
import math
import pathlib
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, css, esm, pack

#: feature_type -> kind of node drawn (its shape and row)
FEATURE_TYPES = {
    "embedding": "embedding",
    "cross layer transcoder": "feature",
    "per layer transcoder": "feature",  # per-layer transcoders' features, drawn as features
    "transcoder": "feature",
    "mlp reconstruction error": "error",
    "logit": "logit",
}
DEFAULT_MODES = ("suppress", "swap")
Intervene = Callable[[str, list, str], Any]

_OUTPUT = re.compile(r'^Output "(.*)" \(p=[^)]*\)$', re.S)


def _where(i: int, key: str | None = None, part: str = "nodes") -> str:
    return f"graph[{part!r}][{i}]" + (f"[{key!r}]" if key else "")


def _finite(v: Any, where: str, *, optional: bool = True) -> float | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise WidgetInputError(f"{where} must be a number; got {type(v).__name__} ({v!r}).")
    v = float(v)
    if not math.isfinite(v):
        raise WidgetInputError(f"{where} is {v}; the widget can only draw finite numbers.")
    return v


def _string_list(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise WidgetInputError(f"{where} must be a list of strings; got {type(v).__name__}.")
    for j, s in enumerate(v):
        if not isinstance(s, str):
            raise WidgetInputError(f"{where}[{j}] must be a string; got {type(s).__name__} ({s!r}).")
    return list(v)


def _logit_list(v: Any, where: str) -> list[list]:
    """top_logits: strings, or (token, value) pairs; returned as [token, value or None] pairs."""
    if v is None:
        return []
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise WidgetInputError(f"{where} must be a list of token strings or (token, value) pairs; "
                               f"got {type(v).__name__}.")
    out = []
    for j, item in enumerate(v):
        if isinstance(item, str):
            out.append([item, None])
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            out.append([item[0], _finite(item[1], f"{where}[{j}][1]")])
        else:
            raise WidgetInputError(f"{where}[{j}] must be a token string or a (token, value) pair; got {item!r}.")
    return out


def _layer_key(layer: str) -> tuple:
    try:
        return (0, float(layer), layer)
    except ValueError:
        return (1, 0.0, layer)


def _label(kind: str, node: Mapping, layer: str, token: str) -> str:
    clerp = node.get("clerp") or ""
    if clerp:
        return str(clerp)
    if kind == "embedding":
        return f"Token “\u2068{token}\u2069”"
    if kind == "logit":
        return f"Logit “\u2068{token}\u2069”"
    if kind == "error":
        return f"MLP reconstruction error, layer {layer}"
    feat = node.get("feature")
    return f"Feature {feat} at layer {layer}" if feat is not None else f"Feature at layer {layer}"


def load_graph(graph: Any) -> dict:
    """The graph as a dict: from a dict, a JSON string, a path to a JSON file, or an object with a
    ``to_dict()`` or ``to_json()`` method (as a graph object of a library may have)."""
    if isinstance(graph, Mapping):
        return dict(graph)
    for method in ("to_dict", "to_json"):
        fn = getattr(graph, method, None)
        if callable(fn):
            out = fn()
            return load_graph(out)
    if isinstance(graph, (str, pathlib.Path)):
        s = str(graph)
        if isinstance(graph, str) and s.lstrip().startswith("{"):
            return json.loads(s)
        path = pathlib.Path(graph)
        if not path.exists():
            raise WidgetInputError(f"no graph file at {str(path)!r}; pass a graph dict or the path of its JSON file.")
        return json.loads(path.read_text(encoding="utf-8"))
    raise WidgetInputError(
        f"graph must be a dict in the graph JSON format (metadata, nodes, links), a path to its "
        f"JSON file, or an object with to_dict(); got {type(graph).__name__}.")


def validate_graph(graph: Any, *, cumulative_influence: bool = False) -> dict:
    """Check a graph and return what the widget draws: prompt tokens, normalised nodes, links as
    index pairs and weights, the metadata it shows, the baseline top logits and the supernodes the
    graph file carries. Raises WidgetInputError saying which entry is wrong and how to fix it."""
    g = load_graph(graph)
    for key in ("metadata", "nodes", "links"):
        if key not in g:
            raise WidgetInputError(
                f"graph has no {key!r} key (it has {sorted(map(str, g))}). An attribution graph is a dict "
                "{'metadata': {'prompt_tokens': [...], ...}, 'nodes': [...], 'links': [...]}, as "
                "course.attribution_graph exports it.")
    meta = g["metadata"]
    if not isinstance(meta, Mapping):
        raise WidgetInputError(f"graph['metadata'] must be a dict; got {type(meta).__name__}.")
    if "prompt_tokens" not in meta:
        raise WidgetInputError(
            "graph['metadata'] has no 'prompt_tokens': the widget labels the positions (x axis) with "
            "the prompt's tokens. Add them, e.g. model.to_str_tokens(prompt).")
    tokens = _string_list(meta["prompt_tokens"], "graph['metadata']['prompt_tokens']")
    if not tokens:
        raise WidgetInputError("graph['metadata']['prompt_tokens'] is empty; a graph needs at least one position.")
    nodes_in, links_in = g["nodes"], g["links"]
    if not isinstance(nodes_in, (list, tuple)) or not nodes_in:
        raise WidgetInputError("graph['nodes'] must be a non-empty list of node dicts.")
    if not isinstance(links_in, (list, tuple)):
        raise WidgetInputError(f"graph['links'] must be a list of link dicts; got {type(links_in).__name__}.")

    nodes: list[dict] = []
    index: dict[str, int] = {}
    for i, nd in enumerate(nodes_in):
        if not isinstance(nd, Mapping):
            raise WidgetInputError(f"{_where(i)} must be a dict; got {type(nd).__name__}.")
        for key in ("node_id", "feature_type", "layer", "ctx_idx"):
            if key not in nd:
                raise WidgetInputError(
                    f"{_where(i)} has no {key!r} key (it has {sorted(map(str, nd))}). Every node needs "
                    "node_id, feature_type, layer and ctx_idx.")
        nid = nd["node_id"]
        if not isinstance(nid, str) or not nid:
            raise WidgetInputError(f"{_where(i, 'node_id')} must be a non-empty string; got {nid!r}.")
        if nid in index:
            raise WidgetInputError(f"{_where(i, 'node_id')} is {nid!r}, the same id as graph['nodes'][{index[nid]}]; "
                                   "node ids must be unique.")
        ftype = nd["feature_type"]
        if ftype not in FEATURE_TYPES:
            raise WidgetInputError(
                f"{_where(i, 'feature_type')} is {ftype!r}; it must be one of {sorted(FEATURE_TYPES)} "
                "(as in the graph JSON of circuit-tracer).")
        kind = FEATURE_TYPES[ftype]
        layer = nd["layer"]
        if isinstance(layer, bool) or not isinstance(layer, (str, int, np.integer)):
            raise WidgetInputError(f"{_where(i, 'layer')} must be a string such as 'E', '2' or 'Lgt', or an int; "
                                   f"got {layer!r}.")
        layer = str(int(layer)) if not isinstance(layer, str) else layer
        if kind in ("feature", "error"):
            try:
                float(layer)
            except ValueError:
                raise WidgetInputError(
                    f"{_where(i, 'layer')} is {layer!r}, but a {ftype} node's layer must be a number "
                    "(the block whose MLP it reads), such as 0 or '2'.") from None
        pos = nd["ctx_idx"]
        if isinstance(pos, bool) or not isinstance(pos, (int, np.integer)):
            raise WidgetInputError(f"{_where(i, 'ctx_idx')} must be an int (a token position); got {pos!r}.")
        if not 0 <= int(pos) < len(tokens):
            raise WidgetInputError(
                f"{_where(i, 'ctx_idx')} is {pos}, outside the prompt's {len(tokens)} positions "
                f"(0..{len(tokens) - 1}, from graph['metadata']['prompt_tokens']).")
        pos = int(pos)
        feat = nd.get("feature")
        if feat is not None and (isinstance(feat, bool) or not isinstance(feat, (int, np.integer))):
            raise WidgetInputError(f"{_where(i, 'feature')} must be an int or None; got {feat!r}.")
        vals = {k: _finite(nd.get(k), _where(i, k)) for k in ("activation", "influence", "token_prob")}
        for k in ("clerp", "token"):
            if nd.get(k) is not None and not isinstance(nd.get(k), str):
                raise WidgetInputError(f"{_where(i, k)} must be a string; got {type(nd.get(k)).__name__}.")
        token = tokens[pos]
        if kind == "logit":
            m = _OUTPUT.match(nd.get("clerp") or "")
            token = nd.get("token") if nd.get("token") is not None else (m.group(1) if m else (nd.get("clerp") or f"logit {feat}"))
        index[nid] = i
        nodes.append({
            "id": nid, "kind": kind, "feature_type": ftype, "layer": layer, "ctx_idx": pos,
            "feature": None if feat is None else int(feat),
            "activation": vals["activation"], "influence": vals["influence"], "token_prob": vals["token_prob"],
            "is_target_logit": bool(nd.get("is_target_logit", False)),
            "label": _label(kind, nd, layer, token), "token": token,
            "top_contexts": _string_list(nd.get("top_contexts"), _where(i, "top_contexts")),
            "top_logits": _logit_list(nd.get("top_logits"), _where(i, "top_logits")),
        })

    # rows: embeddings, then the layers of features and error nodes in numeric order, then logits
    layers = sorted({n["layer"] for n in nodes if n["kind"] in ("feature", "error")}, key=_layer_key)
    row_labels = ["Emb"] + [f"L{lay}" for lay in layers] + ["Logit"]
    for n in nodes:
        n["row"] = 0 if n["kind"] == "embedding" else len(layers) + 1 if n["kind"] == "logit" else 1 + layers.index(n["layer"])

    # size: influence relative to the largest; logits without an influence (as circuit-tracer
    # writes them): probability relative to the most probable logit
    infl = [None if n["influence"] is None else
            max(0.0, 1.0 - n["influence"]) if cumulative_influence else abs(n["influence"]) for n in nodes]
    top_infl = max([x for x in infl if x is not None] or [0.0])
    top_prob = max([n["token_prob"] or 0.0 for n in nodes if n["kind"] == "logit"] or [0.0])
    for n, x in zip(nodes, infl):
        if x is not None and top_infl > 0:
            n["size"] = round(x / top_infl, 6)
        elif x is None and n["kind"] == "logit" and n["token_prob"] is not None and top_prob > 0:
            n["size"] = round(n["token_prob"] / top_prob, 6)
        else:
            n["size"] = 0.3 if x is None else 0.0

    src, dst, wts = [], [], []
    ids = list(index)
    for j, ln in enumerate(links_in):
        if not isinstance(ln, Mapping):
            raise WidgetInputError(f"{_where(j, part='links')} must be a dict; got {type(ln).__name__}.")
        for key in ("source", "target", "weight"):
            if key not in ln:
                raise WidgetInputError(f"{_where(j, part='links')} has no {key!r} key (it has {sorted(map(str, ln))}). "
                                       "Every link is {'source': node_id, 'target': node_id, 'weight': float}.")
        ends = []
        for key in ("source", "target"):
            nid = ln[key]
            if not isinstance(nid, str) or nid not in index:
                close = difflib.get_close_matches(str(nid), ids, n=3) if isinstance(nid, str) else []
                raise WidgetInputError(
                    f"{_where(j, key, 'links')} is {nid!r}, which is not the node_id of any node"
                    + (f" (close ids: {close})" if close else "")
                    + ". Links may only join nodes of graph['nodes']: was the node pruned without its links?")
            ends.append(index[nid])
        src.append(ends[0])
        dst.append(ends[1])
        wts.append(_finite(ln["weight"], _where(j, "weight", "links"), optional=False))

    logits = sorted((n for n in nodes if n["kind"] == "logit"), key=lambda n: -(n["token_prob"] or 0.0))
    baseline = [[n["token"], n["token_prob"] or 0.0] for n in logits]
    supernodes = {}
    q = g.get("qParams")
    if isinstance(q, Mapping) and isinstance(q.get("supernodes"), list):  # Neuronpedia: [[name, id, ...], ...]
        for k, entry in enumerate(q["supernodes"]):
            if not (isinstance(entry, (list, tuple)) and len(entry) >= 2 and all(isinstance(x, str) for x in entry)):
                raise WidgetInputError(f"graph['qParams']['supernodes'][{k}] must be [name, node_id, ...]; got {entry!r}.")
            supernodes[entry[0]] = list(entry[1:])
    shown_meta = {"prompt": str(meta.get("prompt", "")) if meta.get("prompt") is not None else "",
                  "title": str(meta.get("slug", "")) if meta.get("slug") is not None else ""}
    for key in ("replacement_score", "completeness_score"):
        if meta.get(key) is not None:
            shown_meta[key] = _finite(meta[key], f"graph['metadata'][{key!r}]")
    return {"tokens": tokens, "nodes": nodes, "row_labels": row_labels, "index": index,
            "links": (np.asarray(src, np.int32), np.asarray(dst, np.int32), np.asarray(wts, np.float32)),
            "metadata": shown_meta, "baseline": baseline, "supernodes": supernodes}


def check_top_logits(result: Any, where: str = "on_intervene") -> list[list]:
    """(token, probability) pairs from a callback's return: a list of pairs or a {token: p} dict."""
    if isinstance(result, Mapping):
        result = list(result.items())
    hint = (f"{where} must return the new top tokens as a list of (token string, probability) pairs, "
            "e.g. [(' Austin', 0.41), (' Texas', 0.2)]")
    if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise WidgetInputError(f"{hint}; got {type(result).__name__}.")
    out = []
    for j, item in enumerate(result):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise WidgetInputError(f"{hint}; item {j} is {item!r}.")
        out.append([item[0], _finite(item[1], f"the probability of item {j} ({item[0]!r}) returned by {where}",
                                      optional=False)])
    return out


class AttributionGraph(BaseWidget):
    _esm = esm("attribution_graph.js")
    _css = css("attribution_graph.css")

    prompt_tokens = t.List(t.Unicode(), help="The prompt's tokens: the x axis.").tag(sync=True)
    metadata = t.Dict(help="prompt, title, replacement_score, completeness_score (what the header shows).").tag(sync=True)
    row_labels = t.List(t.Unicode(), help="Rows from bottom to top: 'Emb', 'L0', ..., 'Logit'.").tag(sync=True)
    nodes = t.List(t.Dict(), help="Normalised nodes: id, kind, row, ctx_idx, label, size, values, contexts.").tag(sync=True)
    link_index = t.Bytes(b"", help="int32 bytes [n_links, 2]: source and target, as indices into nodes.").tag(sync=True)
    link_weight = t.Bytes(b"", help="float32 bytes [n_links]: the weight of each link.").tag(sync=True)
    hovered_node = t.Unicode("", help="node_id last hovered or focused in the browser ('' none).").tag(sync=True)
    pinned_node = t.Unicode("", help="node_id whose strongest paths are lit ('' none).").tag(sync=True)
    pinned_path = t.List(t.Unicode(), help="Node ids the browser lit for the pinned node.").tag(sync=True)
    selected_nodes = t.List(t.Unicode(), help="Node ids shift-clicked (or Space) to group.").tag(sync=True)
    supernodes = t.Dict(value_trait=t.List(t.Unicode()), help="Named groups {name: [node_id, ...]}.").tag(sync=True)
    intervention_modes = t.List(t.Unicode(), help="Modes offered to on_intervene.").tag(sync=True)
    can_intervene = t.Bool(False, help="Whether an on_intervene callback is set.").tag(sync=True)
    baseline_logits = t.List(t.List(), help="[[token, probability]] before any intervention (the logit nodes).").tag(sync=True)
    intervention_result = t.Dict(help="{supernode, mode, node_ids, before, after} of the last intervention.").tag(sync=True)
    intervention_status = t.Unicode("idle", help="'idle', 'running', 'done' or 'error: ...'.").tag(sync=True)

    def __init__(self, graph: Any, *, on_intervene: Intervene | None = None,
                 supernodes: Mapping[str, Sequence[str]] | None = None,
                 modes: Sequence[str] = DEFAULT_MODES, cumulative_influence: bool = False,
                 baseline_logits: Sequence[tuple[str, float]] | None = None) -> None:
        """``graph``: the graph dict (or its JSON file). ``on_intervene(name, node_ids, mode)``
        runs an intervention on the supernode ``name`` and returns the new top tokens as
        (token, probability) pairs. ``supernodes`` {name: [node_id, ...]} replaces those the
        graph file carries. ``modes``: the modes offered (passed to the callback as given)."""
        g = validate_graph(graph, cumulative_influence=cumulative_influence)
        self._index = g["index"]
        modes = [str(m) for m in modes]
        if not modes:
            raise WidgetInputError("modes must name at least one intervention mode, e.g. ('suppress', 'swap').")
        src, dst, w = g["links"]
        super().__init__(
            prompt_tokens=g["tokens"], metadata=g["metadata"], row_labels=g["row_labels"], nodes=g["nodes"],
            link_index=pack(np.stack([src, dst], 1).reshape(-1), "int32"), link_weight=pack(w, "float32"),
            intervention_modes=modes,
            baseline_logits=g["baseline"] if baseline_logits is None else check_top_logits(baseline_logits, "baseline_logits"),
        )
        self.supernodes = dict(g["supernodes"] if supernodes is None else supernodes)
        self.on_intervene = on_intervene
        self.on_msg(self._on_msg)

    # -- state ---------------------------------------------------------------------------------
    @property
    def on_intervene(self) -> Intervene | None:
        return self._on_intervene

    @on_intervene.setter
    def on_intervene(self, fn: Intervene | None) -> None:
        if fn is not None and not callable(fn):
            raise WidgetInputError(f"on_intervene must be a function (name, node_ids, mode) -> [(token, p)]; got {fn!r}.")
        self._on_intervene = fn
        self.can_intervene = fn is not None

    @property
    def n_links(self) -> int:
        return len(self.link_weight) // 4

    def links(self) -> list[tuple[str, str, float]]:
        """The links as (source id, target id, weight), as the browser receives them."""
        ij = np.frombuffer(self.link_index, dtype="<i4").reshape(-1, 2)
        w = np.frombuffer(self.link_weight, dtype="<f4")
        ids = [n["id"] for n in self.nodes]
        return [(ids[a], ids[b], float(x)) for (a, b), x in zip(ij, w)]

    def node(self, node_id: str) -> dict:
        """The normalised node ``node_id`` (label, kind, row, values...)."""
        self._check_ids([node_id], "node_id")
        return dict(self.nodes[self._index[node_id]])

    def _check_ids(self, ids: Iterable[str], what: str) -> None:
        for nid in ids:
            if nid not in self._index:
                close = difflib.get_close_matches(str(nid), list(self._index), n=3)
                raise t.TraitError(f"{what}: {nid!r} is not a node of this graph"
                                   + (f" (close ids: {close})" if close else "") + ".")

    @t.validate("supernodes")
    def _valid_supernodes(self, proposal):
        value = proposal["value"]
        owner: dict[str, str] = {}
        out = {}
        for name, ids in value.items():
            if not isinstance(name, str) or not name.strip():
                raise t.TraitError(f"supernode names must be non-empty strings; got {name!r}.")
            if isinstance(ids, str) or not ids:
                raise t.TraitError(f"supernode {name!r} must list at least one node id; got {ids!r}.")
            self._check_ids(ids, f"supernode {name!r}")
            for nid in ids:
                if nid in owner and owner[nid] != name:
                    raise t.TraitError(f"node {nid!r} is in supernode {owner[nid]!r} and in {name!r}; "
                                       "a node belongs to one supernode at most.")
                owner[nid] = name
            out[name] = list(dict.fromkeys(ids))
        return out

    @t.validate("pinned_node", "hovered_node")
    def _valid_node(self, proposal):
        if proposal["value"]:
            self._check_ids([proposal["value"]], proposal["trait"].name)
        return proposal["value"]

    @t.validate("selected_nodes")
    def _valid_selection(self, proposal):
        self._check_ids(proposal["value"], "selected_nodes")
        return list(dict.fromkeys(proposal["value"]))

    def group(self, name: str, node_ids: Sequence[str]) -> None:
        """Make (or replace) supernode ``name``; its nodes leave any other supernode."""
        ids = list(node_ids)
        self._check_ids(ids, f"supernode {name!r}")
        rest = {k: [i for i in v if i not in ids] for k, v in self.supernodes.items() if k != name}
        self.supernodes = {**{k: v for k, v in rest.items() if v}, name: ids}

    def ungroup(self, name: str) -> None:
        if name not in self.supernodes:
            raise WidgetInputError(f"no supernode {name!r}; the supernodes are {list(self.supernodes)}.")
        self.supernodes = {k: v for k, v in self.supernodes.items() if k != name}

    # -- interventions -------------------------------------------------------------------------
    def intervene(self, supernode: str, mode: str) -> list[list]:
        """Call on_intervene(supernode, its node ids, mode); show and return the new top logits."""
        if self._on_intervene is None:
            raise WidgetInputError("this AttributionGraph has no on_intervene callback: pass "
                                   "AttributionGraph(graph, on_intervene=fn) with fn(name, node_ids, mode) -> [(token, p)].")
        if supernode not in self.supernodes:
            raise WidgetInputError(f"no supernode {supernode!r}; the supernodes are {list(self.supernodes)}. "
                                   "Group nodes first (shift-click them, or widget.group(name, node_ids)).")
        if mode not in self.intervention_modes:
            raise WidgetInputError(f"mode must be one of {self.intervention_modes}; got {mode!r}.")
        ids = list(self.supernodes[supernode])
        self.intervention_status = "running"
        after = check_top_logits(self._on_intervene(supernode, ids, mode))
        with self.hold_sync():
            self.intervention_result = {"supernode": supernode, "mode": mode, "node_ids": ids,
                                        "before": [list(x) for x in self.baseline_logits], "after": after}
            self.intervention_status = "done"
        return after

    def _on_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("type") == "intervene":
            try:
                self.intervene(str(content.get("supernode", "")), str(content.get("mode", "")))
            except Exception as e:  # shown in the widget instead of lost in the log
                self.intervention_status = f"error: {type(e).__name__}: {e}"
