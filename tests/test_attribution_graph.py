"""Chapter 11's local replacement model, attribution graphs, their JSON and interventions
(course/replacement.py, attribution_graph.py, graph_json.py, interventions.py), on small random
models with random transcoders: exactness, edges against ablations in an independently frozen
model, influence, pruning, scores, supernodes, the JSON round trip, and bad inputs."""

import json

import pytest
import torch

from course import interventions as I
from course.attribution_graph import (AttributionGraph, Node, annotate_features, build_graph, edge, influence,
                                      normalized, threshold_for_share)
from course.config import ModelConfig
from course.model import HookedTransformer
from course.replacement import check_exact, local_replacement
from course.transcoders import TranscoderConfig, Transcoders
from course.validation import TokenError
from tests.test_transcoders import mirror
from tests.widgets.tiny_model import HOSTILE, VOCAB, tiny_model


def setup(cross_layer: bool = False, seed: int = 0, **model_kw):
    """A 3-layer model with non-trivial patterns and random transcoders with about a tenth of
    their features active, and a 10-token prompt."""
    torch.manual_seed(seed)
    cfg = ModelConfig(n_layers=3, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=50, n_ctx=24, init_std=0.2,
                      **model_kw)
    model = HookedTransformer(cfg).eval()
    tc = Transcoders(TranscoderConfig(n_layers=3, d_model=32, d_transcoder=64, cross_layer=cross_layer, k=8), seed=seed)
    with torch.no_grad():
        tc.threshold.fill_(1.2)
    tokens = torch.randint(0, 50, (10,), generator=torch.Generator().manual_seed(seed))
    return model, tc, tokens


@pytest.fixture(scope="module", params=[False, True], ids=["per-layer", "cross-layer"])
def built(request):
    model, tc, tokens = setup(request.param)
    return model, tc, build_graph(model, tc, tokens)


# -- the local replacement model ---------------------------------------------------------------

@pytest.mark.parametrize("cross_layer", [False, True])
@pytest.mark.parametrize("variant", [{}, {"normalization": "RMS"}, {"n_key_value_heads": 2},
                                     {"positional": "rotary"}, {"normalization": None}])
def test_the_replacement_reproduces_the_logits_exactly(cross_layer, variant):
    model, tc, tokens = setup(cross_layer, **variant)
    rep = local_replacement(model, tc, tokens)
    assert rep.max_abs_error() < 1e-4
    assert check_exact(model, tc, tokens) < 1e-4
    assert (rep.forward(linear=True) - rep.logits).abs().max() < 1e-4  # the linearisation too, on its own prompt
    assert (rep.acts > 0).any() and (rep.acts[:, 0] == 0).all()  # features, none at position 0
    predicted = rep.mlp_out - rep.errors
    for layer in range(3):  # features + error = what the MLP wrote
        out = rep.mlp_output(layer, list(rep.acts))
        torch.testing.assert_close(out, rep.mlp_out[layer], atol=1e-5, rtol=1e-5)
    assert (rep.errors[:, 0] == rep.mlp_out[:, 0] - predicted[:, 0]).all()


# -- edges: direct effects, checked against ablations in the real model, frozen by hooks ----------

def frozen_targets(model, tc, graph, mlp_outs, resid_0=None) -> torch.Tensor:
    """Each target's value in the real model's own forward pass on the graph's prompt, with its
    attention patterns and norm scales patched to their values there, every MLP output replaced
    by ``mlp_outs [layer pos d_model]`` (and the embeddings by ``resid_0``): a feature's
    pre-activation, a logit minus the mean logit; in node order, 0 for other nodes."""
    tokens = torch.tensor(graph.tokens)[None]
    _, clean = model.run_with_cache(tokens, names_filter=lambda n: n.endswith(("hook_pattern", "hook_scale")))
    hooks = [(name, (lambda act, hook, v=value: v)) for name, value in clean.items()]
    hooks += [(f"blocks.{l}.hook_mlp_out", (lambda act, hook, l=l: mlp_outs[l][None])) for l in range(3)]
    if resid_0 is not None:
        hooks.append(("blocks.0.hook_resid_pre", lambda act, hook: resid_0[None]))
    mlp_in = {}
    hooks += [(f"blocks.{l}.ln2.hook_normalized", (lambda act, hook, l=l: mlp_in.__setitem__(l, act[0])))
              for l in range(3)]
    logits = model.run_with_hooks(tokens, fwd_hooks=hooks)[0, -1]
    out = torch.zeros(len(graph.nodes))
    for i, n in enumerate(graph.nodes):
        if n.kind == "feature":
            out[i] = tc.pre_acts(n.layer, mlp_in[n.layer][n.pos])[n.index]
        elif n.kind == "logit":
            out[i] = logits[n.index] - logits.mean()
    return out


@torch.no_grad()
def test_edges_are_the_effects_of_removing_each_source(built):
    model, tc, graph = built
    rep = graph.replacement
    clean = frozen_targets(model, tc, graph, rep.mlp_out)
    targets = torch.tensor([i for i, n in enumerate(graph.nodes)
                            if n.kind == "logit" or (n.kind == "feature" and n.layer > 0)])
    sources = [i for i, n in enumerate(graph.nodes) if n.kind != "logit"]
    checked = 0
    for s in sources[::3]:  # a third of the sources: every kind, every layer
        n = graph.nodes[s]
        mlp_outs, resid_0 = rep.mlp_out.clone(), rep.resid_0.clone()
        if n.kind == "feature":
            for o, j in enumerate(tc.writes_to(n.layer)):
                mlp_outs[j, n.pos] -= n.activation * tc.W_dec[n.layer][o, n.index]
        elif n.kind == "error":
            mlp_outs[n.layer, n.pos] -= rep.errors[n.layer, n.pos]
        else:
            resid_0[n.pos] = 0
        ablated = frozen_targets(model, tc, graph, mlp_outs, resid_0)
        torch.testing.assert_close(graph.adjacency[targets, s], (clean - ablated)[targets], atol=2e-4, rtol=1e-3)
        checked += 1
    assert checked > 50 and (graph.adjacency != 0).sum() > 1000


def test_the_plain_edge_is_the_batched_one(built):
    _, _, graph = built
    rng = torch.Generator().manual_seed(0)
    targets = [i for i, n in enumerate(graph.nodes) if n.kind == "logit" or (n.kind == "feature" and n.layer == 2)]
    sources = [i for i, n in enumerate(graph.nodes) if n.kind != "logit"]
    for _ in range(30):
        t = targets[torch.randint(len(targets), (1,), generator=rng).item()]
        s = sources[torch.randint(len(sources), (1,), generator=rng).item()]
        expected = graph.adjacency[t, s].item()
        assert edge(graph.replacement, graph.nodes[s], graph.nodes[t]) == pytest.approx(expected, abs=1e-5, rel=1e-4)
    with pytest.raises(ValueError, match="has no inputs"):
        edge(graph.replacement, graph.nodes[0], graph.nodes[sources[-1]])


@torch.no_grad()
def test_incoming_edges_add_up_to_each_target(built):
    """With every source removed only the biases are left: edges + that constant = the target."""
    model, tc, graph = built
    rep = graph.replacement
    clean = frozen_targets(model, tc, graph, rep.mlp_out)
    constant = frozen_targets(model, tc, graph, torch.zeros_like(rep.mlp_out), torch.zeros_like(rep.resid_0))
    is_target = graph.mask("feature") | graph.mask("logit")
    torch.testing.assert_close((graph.adjacency.sum(-1) + constant)[is_target], clean[is_target], atol=2e-4, rtol=1e-4)
    active = graph.mask("feature")  # for an active feature the target value is its activation
    torch.testing.assert_close(clean[active], graph.activations[active], atol=1e-4, rtol=1e-4)
    layer0 = torch.tensor([n.kind == "feature" and n.layer == 0 for n in graph.nodes])
    assert (graph.adjacency[layer0][:, graph.mask("feature") | graph.mask("error")] == 0).all()  # embeddings only


# -- influence, pruning, scores ----------------------------------------------------------------

def test_influence_is_the_sum_over_paths(built):
    _, _, graph = built
    A, w = normalized(graph.adjacency), graph.logit_weights
    assert torch.allclose(A.sum(-1)[graph.mask("feature") | graph.mask("logit")], torch.ones(1))
    series = w @ (torch.linalg.inv(torch.eye(len(w)) - A.double()) - torch.eye(len(w))).float()
    torch.testing.assert_close(influence(A, w), series, atol=1e-5, rtol=1e-4)
    scores = graph.node_influence()
    leaves = graph.mask("embedding") | graph.mask("error")  # all influence ends at nodes without inputs
    assert scores[leaves].sum().item() == pytest.approx(w.sum().item(), rel=1e-4)
    assert 0.5 < w.sum() <= 1.0 and len(graph.mask("logit").nonzero()) <= 10
    assert [n.influence for n in graph.nodes] == pytest.approx(scores.tolist())


def test_threshold_for_share_keeps_the_fewest_top_scores():
    scores = torch.tensor([1.0, 5.0, 3.0, 1.0])
    assert threshold_for_share(scores, 0.8) == 3.0  # 5 + 3 = 8 of 10
    assert threshold_for_share(scores, 0.81) == 1.0
    assert threshold_for_share(scores, 0.5) == 5.0
    assert threshold_for_share(torch.zeros(3), 0.8) == float("inf")


def test_pruning_keeps_the_stated_shares(built):
    _, _, graph = built
    p = graph.prune(0.8, 0.98)
    assert p.node_share >= 0.8 and p.edge_share >= 0.98
    assert p.node_mask[graph.mask("embedding") | graph.mask("logit")].all()
    assert p.node_mask.sum() < len(graph.nodes) and p.edge_mask.sum() < (graph.adjacency != 0).sum()
    kept_edges = p.edge_mask & (graph.adjacency != 0)
    assert torch.equal(kept_edges, p.edge_mask)
    assert (p.node_mask[:, None] | ~p.edge_mask).all() and (p.node_mask[None, :] | ~p.edge_mask).all()
    features = graph.mask("feature") & p.node_mask
    assert p.edge_mask[features].any(-1).all() and p.edge_mask[:, features].any(0).all()  # no dangling features
    # the node threshold alone: the fewest most influential nodes whose influence reaches 80%
    scores = graph.node_influence()
    cut = threshold_for_share(scores, 0.8)
    top = scores[scores >= cut].sort(descending=True).values
    assert top.sum() >= 0.8 * scores.sum() > top[:-1].sum()
    stricter = graph.prune(0.5, 0.9)
    assert (stricter.node_mask <= p.node_mask | graph.mask("embedding")).all()
    with pytest.raises(ValueError, match="node_threshold must be between 0 and 1"):
        graph.prune(1.5)


def hand_graph() -> AttributionGraph:
    """embedding -> feature (2), feature -> logit (3), error -> logit (1); every node type."""
    nodes = [Node("0_7_1", "feature", 0, 1, 7, 2.0), Node("0_-1_1", "error", 0, 1, None, 0.5),
             Node("E_4_1", "embedding", None, 1, 4, 1.0, token=" Dallas"),
             Node("2_9_1", "logit", None, 1, 9, 4.0, token=" Austin", token_prob=1.0)]
    A = torch.zeros(4, 4)
    A[0, 2], A[3, 0], A[3, 1] = 2.0, 3.0, 1.0
    return AttributionGraph("x Dallas", [3, 4], ["x", " Dallas"], 1, nodes, A)


def test_scores_as_defined_by_ameisen_et_al():
    graph = hand_graph()
    # influence: feature 3/4, error 1/4, embedding 3/4 (through the feature)
    assert graph.node_influence().tolist() == pytest.approx([0.75, 0.25, 0.75, 0.0])
    s = graph.scores()
    assert s["replacement_score"] == pytest.approx(0.75)  # embeddings' share of the inputs' influence
    # non-error input shares: feature 1, error 1, embedding 1, logit 3/4; weights 3/4, 1/4, 3/4, 1
    assert s["completeness_score"] == pytest.approx((0.75 + 0.25 + 0.75 + 0.75) / 2.75)


# -- supernodes --------------------------------------------------------------------------------

def test_supernodes_aggregate_their_edges(built):
    _, _, graph = built
    g = AttributionGraph(graph.prompt, graph.tokens, graph.prompt_tokens, graph.n_layers, graph.nodes,
                         graph.adjacency, {})
    feats = [n.node_id for n in g.nodes if n.kind == "feature"]
    early = [f for f in feats if g.node(f).layer == 0][:4]
    late = [f for f in feats if g.node(f).layer == 2][:3]
    g.add_supernode("early", early)
    g.add_supernode("late", late)
    names, W = g.supernode_graph()
    assert names[:2] == ["early", "late"] and len(names) == len(g.nodes) - 7 + 2
    expected = sum(g.adjacency[g.index(t), g.index(s)] for t in late for s in early)
    assert W[1, 0].item() == pytest.approx(expected.item(), abs=1e-5)
    logit = g.nodes[-1].node_id
    to_logit = sum(g.adjacency[-1, g.index(s)] for s in late).item()
    assert W[names.index(logit), 1].item() == pytest.approx(to_logit, abs=1e-5)
    with pytest.raises(ValueError, match="already in supernode 'early'"):
        g.add_supernode("again", early[:1])
    with pytest.raises(KeyError, match="no node 'nope'"):
        g.add_supernode("bad", ["nope"])
    with pytest.raises(ValueError, match="has no nodes"):
        g.add_supernode("empty", [])
    pruned_names, _ = g.supernode_graph(g.prune())
    assert pruned_names[:2] == ["early", "late"] and len(pruned_names) < len(names)


# -- JSON: the frontend's format, and back -----------------------------------------------------

FRONTEND_NODE_KEYS = {"node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"}


@pytest.fixture(scope="module")
def annotated():
    """A graph on the widget tests' tiny model (hostile token strings) with hover text and names."""
    model = tiny_model()
    tc = Transcoders(TranscoderConfig(n_layers=2, d_model=16, d_transcoder=48, cross_layer=True, k=4), seed=1)
    with torch.no_grad():
        tc.threshold.fill_(0.8)
    ids = [0, VOCAB.index("w1"), VOCAB.index(HOSTILE[0]), VOCAB.index(HOSTILE[1])] + list(range(20, 26))
    graph = build_graph(model, tc, torch.tensor(ids))
    text = torch.randint(1, len(VOCAB), (8, 12), generator=torch.Generator().manual_seed(0))
    annotate_features(graph, model, tc, text)
    feats = [n for n in graph.nodes if n.kind == "feature"]
    feats[0].label = "a feature I named"
    graph.add_supernode("group", [feats[1].node_id, feats[2].node_id, graph.nodes[-1].node_id])
    return model, tc, graph


def test_annotations_fill_the_hover_text(annotated):
    model, _, graph = annotated
    feats = [n for n in graph.nodes if n.kind == "feature"]
    assert all(len(n.top_logits) == 5 for n in feats)
    with_contexts = [n for n in feats if n.top_contexts]
    assert with_contexts and all("[[" in c and c.endswith("]]") for n in with_contexts for c in n.top_contexts)


def test_json_round_trip_with_every_node_type(annotated):
    _, _, graph = annotated
    data = json.loads(json.dumps(graph.to_dict(prune=False)))
    assert {"metadata", "qParams", "nodes", "links"} <= set(data)
    assert {"slug", "scan", "prompt_tokens", "prompt"} <= set(data["metadata"])
    types = {n["feature_type"] for n in data["nodes"]}
    assert types == {"embedding", "cross layer transcoder", "mlp reconstruction error", "logit"}
    assert all(FRONTEND_NODE_KEYS <= set(n) for n in data["nodes"])
    logits = [n for n in data["nodes"] if n["feature_type"] == "logit"]
    assert sum(n["is_target_logit"] for n in logits) == 1 and logits[0]["clerp"].startswith('Output "')
    assert all(n["layer"] == str(graph.n_layers + 1) for n in logits)
    assert data["qParams"]["supernodes"] == [["group"] + graph.supernodes["group"]]
    assert data["metadata"]["prompt_tokens"][2:4] == HOSTILE[:2]  # strings kept as they are (the widget escapes)

    back = AttributionGraph.from_dict(data)
    assert back.prompt == graph.prompt and back.tokens == graph.tokens and back.prompt_tokens == graph.prompt_tokens
    assert back.n_layers == graph.n_layers and back.supernodes == graph.supernodes
    assert torch.equal(back.adjacency, graph.adjacency)
    for a, b in zip(back.nodes, graph.nodes):
        assert (a.node_id, a.kind, a.layer, a.pos, a.index, a.token, a.label) == \
            (b.node_id, b.kind, b.layer, b.pos, b.index, b.token, b.label)
        assert (a.activation, a.influence, a.token_prob) == pytest.approx((b.activation, b.influence, b.token_prob))
        assert (a.top_contexts, a.top_logits) == (b.top_contexts, b.top_logits)
    assert back.scores() == pytest.approx(graph.scores())
    assert data["metadata"]["replacement_score"] == pytest.approx(graph.scores()["replacement_score"])


def test_pruned_json_links_only_kept_nodes(annotated, tmp_path):
    _, _, graph = annotated
    graph.save_json(tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    ids = {n["node_id"] for n in data["nodes"]}
    assert ids < {n.node_id for n in graph.nodes}
    assert all(link["source"] in ids and link["target"] in ids for link in data["links"])
    assert data["qParams"]["supernodes"] == [["group"] + graph.supernodes["group"]]  # members always kept
    assert data["metadata"]["pruning_settings"] == {"node_threshold": 0.8, "edge_threshold": 0.98}
    back = AttributionGraph.load_json(tmp_path / "g.json")
    assert len(back.nodes) == len(ids)
    cumulative = graph.to_dict(cumulative_influence=True)  # circuit-tracer's convention, for Neuronpedia
    assert cumulative["metadata"]["node_threshold"] == 0.8
    assert min(n["influence"] for n in cumulative["nodes"] if n["feature_type"] != "logit") > 0


def test_bad_json_is_named():
    with pytest.raises(ValueError, match="has no 'links'"):
        AttributionGraph.from_dict({"metadata": {}, "nodes": []})
    node = {"node_id": "0_1_1", "feature_type": "attention head", "layer": "0", "ctx_idx": 1}
    with pytest.raises(ValueError, match="feature_type 'attention head'"):
        AttributionGraph.from_dict({"metadata": {}, "nodes": [node], "links": []})
    node["feature_type"] = "cross layer transcoder"
    with pytest.raises(ValueError, match="which is not a node"):
        AttributionGraph.from_dict({"metadata": {"n_layers": 1}, "nodes": [node],
                                    "links": [{"source": "x", "target": "0_1_1", "weight": 1.0}]})


# -- interventions on the real model ---------------------------------------------------------------

@torch.no_grad()
def test_a_feature_set_on_the_real_model_moves_its_mlp_output_by_its_decoder(built):
    model, tc, graph = built
    node = next(n for n in graph.nodes if n.kind == "feature" and n.layer == 1)
    changes = {(node.layer, node.pos, node.index): 0.0}
    result = I.run_intervention(model, tc, graph.tokens, changes, replacement=graph.replacement)
    mlp_outs = graph.replacement.mlp_out.clone()
    delta = torch.zeros_like(mlp_outs)
    for o, j in enumerate(tc.writes_to(1)):
        delta[j, node.pos] = -node.activation * tc.W_dec[1][o, node.index]
    # by hand: the same change added to the MLP outputs it writes (later MLPs then run for real)
    hand = [(f"blocks.{j}.hook_mlp_out", (lambda act, hook, j=j: act + delta[j][None])) for j in tc.writes_to(1)]
    expected = model.run_with_hooks(torch.tensor(graph.tokens)[None], fwd_hooks=hand)[0, -1]
    torch.testing.assert_close(result.logit_change, expected - model(torch.tensor(graph.tokens)[None])[0, -1],
                               atol=1e-4, rtol=1e-4)
    unchanged = I.scaled(graph, node.node_id, 1.0)
    same = I.run_intervention(model, tc, graph.tokens, unchanged, replacement=graph.replacement)
    assert same.logit_change.abs().max() < 1e-4 and same.predicted_change.abs().max() < 1e-4
    assert sum(p for _, p in result.after) <= 1.0 + 1e-6 and len(result.before) == 5


def relu_model_and_mirror(cross_layer: bool):
    """A ReLU model and transcoders that copy its MLPs (``tests.test_transcoders.mirror``): with
    attention and norms frozen, such a replacement is the real model itself."""
    model, _, tokens = setup(cross_layer, act_fn="relu")
    return model, mirror(model, cross_layer), tokens


@pytest.mark.parametrize("cross_layer", [False, True])
@torch.no_grad()
def test_the_graph_predicts_interventions_where_it_is_exact(cross_layer):
    model, tc, tokens = relu_model_and_mirror(cross_layer)
    graph = build_graph(model, tc, tokens)
    feats = [n.node_id for n in graph.nodes if n.kind == "feature" and n.layer < 2 and n.influence > 0][:8]
    for factor in (0.0, 0.99):
        changes = I.scaled(graph, feats, factor)
        result = I.run_intervention(model, tc, tokens, changes, replacement=graph.replacement, freeze_attention=True)
        from_graph = I.predicted_logit_changes(graph, changes)  # paths in the adjacency matrix alone
        predicted = result.predicted_change - result.predicted_change.mean()
        for node_id, value in from_graph.items():
            assert value == pytest.approx(predicted[graph.node(node_id).index].item(), abs=1e-4)
        if factor > 0:  # no ReLU flips: the real model, frozen, changes exactly as the graph predicts
            torch.testing.assert_close(result.logit_change, result.predicted_change, atol=1e-4, rtol=1e-3)
    assert result.predicted_change.abs().max() > 1e-3
    free = I.run_intervention(model, tc, tokens, changes, replacement=graph.replacement)
    assert (free.logit_change - result.logit_change).abs().max() > 1e-5  # attention and norms do move


@torch.no_grad()
def test_swap_and_the_widget_callback(built):
    model, tc, graph = built
    donor_tokens = graph.replacement.tokens.clone()
    donor_tokens[3] = (donor_tokens[3] + 1) % 50
    donor = build_graph(model, tc, donor_tokens)
    here = [n.node_id for n in graph.nodes if n.kind == "feature" and n.pos == 3]
    there = [n.node_id for n in donor.nodes if n.kind == "feature" and n.pos == 3]
    graph.add_supernode("token 3", here)
    donor.add_supernode("token 3", there)
    changes = I.swapped(graph, "token 3", donor)
    assert all(changes[graph.node(i).layer, 3, graph.node(i).index] == 0.0 for i in here if i not in there)
    assert all(changes[donor.node(i).layer, 3, donor.node(i).index] == donor.node(i).activation for i in there)
    callback = I.widget_callback(model, tc, graph, donor)
    after = callback("token 3", here, "swap")
    assert len(after) == 5 and all(isinstance(t, str) and 0 <= p <= 1 for t, p in after)
    assert callback("token 3", here, "suppress") != after
    with pytest.raises(ValueError, match="unknown mode"):
        callback("token 3", here, "explode")
    del graph.supernodes["token 3"]


# -- bad inputs ----------------------------------------------------------------------------------

def test_bad_inputs_get_clear_errors(built):
    model, tc, graph = built
    with pytest.raises(ValueError, match="layer 3 is out of range: these transcoders cover layers 0..2"):
        I.run_intervention(model, tc, graph.tokens, {(3, 1, 0): 0.0}, replacement=graph.replacement)
    with pytest.raises(ValueError, match="position 10 is out of range"):
        I.run_intervention(model, tc, graph.tokens, {(1, 10, 0): 0.0}, replacement=graph.replacement)
    with pytest.raises(TokenError, match="longer than the context window of 24"):
        build_graph(model, tc, torch.zeros(30, dtype=torch.long))
    wide = Transcoders(TranscoderConfig(n_layers=3, d_model=64, d_transcoder=16, k=2))
    with pytest.raises(ValueError, match="trained for a model with d_model=64"):
        build_graph(model, wide, graph.tokens)
    with pytest.raises(ValueError, match="not features"):
        I.suppressed(graph, [graph.nodes[-1].node_id])
    with pytest.raises(KeyError, match="no node '9_9_9'"):
        graph.node("9_9_9")
    missing = {(0, 1, 63): 0.0} if graph.replacement.acts[0, 1, 63] == 0 else {(0, 1, 62): 0.0}
    with pytest.raises(ValueError, match="not active on this prompt"):
        I.predicted_logit_changes(graph, missing)
    with pytest.raises(ValueError, match="one prompt"):
        local_replacement(model, tc, torch.zeros(2, 5, dtype=torch.long))
