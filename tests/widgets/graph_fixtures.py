"""Synthetic attribution graphs in the graph JSON format (the public circuit-tracer / Neuronpedia
format the course's exporter writes), for the AttributionGraph widget's tests and measurements.

- ``every_type_graph()``: the two-hop example ("the capital of the state containing Dallas is")
  drawn by hand, with every node type (token embeddings, cross-layer transcoder features, MLP
  reconstruction errors, logits), a positive and a negative edge, and, with ``hostile=True``,
  hostile strings (HTML, script, right-to-left text, a very long token) in every place a string
  goes: prompt tokens, labels, top-activating contexts, promoted logits and logit tokens.
- ``random_graph(100, 1000)``: a layered random graph of a given size, edges only from a lower row
  to a higher one, as attribution edges run. Deterministic for a seed; needs no numpy or torch.
"""

from __future__ import annotations

import random

from tiny_model import HOSTILE

LONG = "Dallas" * 60  # a 360-character token
RTL = "\u202eשלום\u202c"  # right-to-left override around Hebrew text


def _feature(layer: int, feat: int, pos: int, act: float, infl: float, label: str,
             contexts=(), logits=()) -> dict:
    return {"node_id": f"{layer}_{feat}_{pos}", "feature": feat, "layer": str(layer), "ctx_idx": pos,
            "feature_type": "cross layer transcoder", "activation": act, "influence": infl,
            "token_prob": 0.0, "is_target_logit": False, "clerp": label,
            "top_contexts": list(contexts), "top_logits": list(logits)}


def every_type_graph(hostile: bool = True) -> dict:
    """A 9-token two-hop graph: Dallas -> Texas -> say Austin, plus a say-a-capital path."""
    tokens = ["<bos>", "The", " capital", " of", " the", " state", " containing", " Dallas", " is"]
    if hostile:
        tokens[1] = HOSTILE[0]
        tokens[4] = RTL
        tokens[6] = LONG
    last = len(tokens) - 1
    nodes = [{"node_id": f"E_{i}_{i}", "feature": i, "layer": "E", "ctx_idx": i, "feature_type": "embedding",
              "activation": None, "influence": 0.05 + 0.01 * i, "token_prob": 0.0, "is_target_logit": False,
              "clerp": ""} for i in range(len(tokens))]
    texas_ctx = ["Houston is a city in Texas", "the state of Texas", "Dallas, Texas"]
    nodes += [
        _feature(0, 101, 7, 4.2, 0.30, "Dallas", ["flights to Dallas", "Dallas Cowboys"], [" Texas", " Fort"]),
        _feature(0, 55, 2, 3.1, 0.12, "capital (word)", ["the capital of France", "capital city"], [" city"]),
        _feature(1, 7, 7, 2.6, 0.45, "Texas" if not hostile else HOSTILE[1], texas_ctx,
                 [" Texas", " Austin", " Houston"] if not hostile else [HOSTILE[2], [" Austin", 1.7]]),
        _feature(2, 300, last, 1.9, 0.52, "say a capital", ["the capital is", "its capital,"],
                 [" Austin", " Paris", " Sacramento"]),
        _feature(3, 12, last, 5.0, 0.71, "say Austin" if not hostile else HOSTILE[3],
                 ["Austin, the capital" if not hostile else HOSTILE[0]], [" Austin", " Texas"]),
        _feature(3, 9, last, 0.8, 0.10, "say Dallas", ["downtown Dallas"], [" Dallas"]),
        {"node_id": "1_-1_7", "feature": -1, "layer": "1", "ctx_idx": 7, "feature_type": "mlp reconstruction error",
         "activation": None, "influence": 0.08, "token_prob": 0.0, "is_target_logit": False, "clerp": ""},
        {"node_id": f"3_-1_{last}", "feature": -1, "layer": 3, "ctx_idx": last,  # an int layer is accepted
         "feature_type": "mlp reconstruction error", "influence": 0.15, "clerp": "error at layer 3"},
        {"node_id": f"5_900_{last}", "feature": 900, "layer": "5", "ctx_idx": last, "feature_type": "logit",
         "token_prob": 0.62, "is_target_logit": True, "clerp": 'Output " Austin" (p=0.620)', "influence": 0.9},
        {"node_id": f"5_901_{last}", "feature": 901, "layer": "5", "ctx_idx": last, "feature_type": "logit",
         "token_prob": 0.21, "is_target_logit": False,
         "clerp": 'Output " Texas" (p=0.210)' if not hostile else 'Output "' + HOSTILE[1] + '" (p=0.210)'},
        {"node_id": f"Lgt_902_{last}", "feature": 902, "layer": "Lgt", "ctx_idx": last, "feature_type": "logit",
         "token_prob": 0.05, "is_target_logit": False, "clerp": "", "token": " Dallas" if not hostile else RTL},
    ]
    L = last
    links = [
        ("E_7_7", "0_101_7", 3.0), ("E_2_2", "0_55_2", 2.0), ("E_1_1", "0_55_2", 0.3),
        ("0_101_7", "1_7_7", 2.5), ("1_-1_7", "1_7_7", 0.6), ("E_7_7", "1_7_7", 0.9),
        ("1_7_7", f"3_12_{L}", 2.2), ("0_55_2", f"2_300_{L}", 1.4), (f"E_{L}_{L}", f"2_300_{L}", 0.7),
        (f"2_300_{L}", f"3_12_{L}", 1.1), (f"2_300_{L}", f"3_9_{L}", -0.7), ("0_101_7", f"3_9_{L}", 1.0),
        (f"3_12_{L}", f"5_900_{L}", 3.1), (f"3_12_{L}", f"Lgt_902_{L}", -1.2), (f"3_9_{L}", f"Lgt_902_{L}", 1.5),
        ("1_7_7", f"5_901_{L}", 0.9), (f"3_-1_{L}", f"5_900_{L}", 0.4), (f"2_300_{L}", f"5_900_{L}", 0.8),
        ("E_6_6", "1_7_7", -0.2), (f"3_12_{L}", f"5_901_{L}", -0.5),
    ]
    return {
        "metadata": {"slug": "dallas-austin", "prompt": "".join(tokens[1:]), "prompt_tokens": tokens,
                     "replacement_score": 0.81, "completeness_score": 0.93,
                     "scan": "tinyworld-clt" if not hostile else HOSTILE[2]},
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": nodes,
        "links": [{"source": s, "target": t, "weight": w} for s, t, w in links],
    }


def random_graph(n_nodes: int = 100, n_links: int = 1000, n_tokens: int = 16, n_layers: int = 4,
                 seed: int = 0) -> dict:
    """A graph of exactly ``n_nodes`` nodes and ``n_links`` links: one embedding per token, 5 logits
    at the last position, a few error nodes, features for the rest; edges go up the rows."""
    rng = random.Random(seed)
    tokens = ["<bos>"] + [f" w{i}" for i in range(1, n_tokens)]
    nodes = [{"node_id": f"E_{i}_{i}", "feature": i, "layer": "E", "ctx_idx": i, "feature_type": "embedding",
              "influence": rng.random() * 0.2, "clerp": ""} for i in range(n_tokens)]
    n_logits = 5
    n_errors = max(1, (n_nodes - n_tokens - n_logits) // 10)
    n_features = n_nodes - n_tokens - n_logits - n_errors
    rows = {}
    for k in range(n_features):
        layer, pos = rng.randrange(n_layers), rng.randrange(n_tokens)
        nodes.append(_feature(layer, 1000 + k, pos, rng.uniform(0.1, 6), rng.random(), f"feature {k}",
                              [f"context {k}.{j} of the feature" for j in range(3)], [f" w{rng.randrange(n_tokens)}"]))
    for k in range(n_errors):
        layer, pos = rng.randrange(n_layers), rng.randrange(n_tokens)
        nodes.append({"node_id": f"{layer}_-1_{pos}_{k}", "feature": -1, "layer": str(layer), "ctx_idx": pos,
                      "feature_type": "mlp reconstruction error", "influence": rng.random() * 0.3, "clerp": ""})
    probs = sorted((rng.random() for _ in range(n_logits)), reverse=True)
    total = sum(probs) * 1.25
    for k, p in enumerate(probs):
        nodes.append({"node_id": f"L_{k}", "feature": k, "layer": str(n_layers + 1), "ctx_idx": n_tokens - 1,
                      "feature_type": "logit", "token_prob": p / total, "is_target_logit": k == 0,
                      "clerp": f'Output " w{k}" (p={p / total:.3f})'})
    for nd in nodes:
        t = nd["feature_type"]
        rows[nd["node_id"]] = -1 if t == "embedding" else n_layers if t == "logit" else int(nd["layer"])
    ids = [nd["node_id"] for nd in nodes]
    pairs = [(a, b) for a in ids for b in ids if rows[a] < rows[b]]
    if len(pairs) < n_links:
        raise ValueError(f"only {len(pairs)} upward pairs for {n_links} links")
    chosen = rng.sample(pairs, n_links)
    links = [{"source": a, "target": b, "weight": round(rng.gauss(0, 1), 4)} for a, b in chosen]
    return {"metadata": {"prompt": "".join(tokens[1:]), "prompt_tokens": tokens,
                         "replacement_score": 0.5, "completeness_score": 0.8},
            "nodes": nodes, "links": links}
