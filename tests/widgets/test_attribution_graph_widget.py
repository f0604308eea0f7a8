"""AttributionGraph on the Python side: the graph dict is checked with messages that say what to
fix, the state the browser draws from, supernodes, the intervention callback, the saved page, and
the edge colours under simulated colour blindness. No kernel, no browser (those are in
tests/browser/test_attribution_graph_browser.py)."""

import copy
import json
import pathlib
import re

import numpy as np
import pytest
import traitlets

from graph_fixtures import LONG, RTL, every_type_graph, random_graph
from test_colour_scales import VISIONS, contrast, distance, js_constant
from tiny_model import HOSTILE
from widgets import AttributionGraph, WidgetInputError
from widgets.attribution_graph import validate_graph

STATIC = pathlib.Path(__file__).parents[2] / "widgets" / "static"
JS = STATIC / "attribution_graph.js"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


# -- state ---------------------------------------------------------------------------------------
def test_every_node_type_is_drawn_in_its_row():
    g = every_type_graph()
    w = AttributionGraph(g)
    assert w.row_labels == ["Emb", "L0", "L1", "L2", "L3", "Logit"]
    assert w.prompt_tokens == g["metadata"]["prompt_tokens"] and LONG in w.prompt_tokens
    kinds = {n["kind"] for n in w.nodes}
    assert kinds == {"embedding", "feature", "error", "logit"}
    rows = {n["id"]: n["row"] for n in w.nodes}
    assert rows["E_7_7"] == 0 and rows["0_101_7"] == 1 and rows["1_-1_7"] == 2 and rows["3_-1_8"] == 4
    assert rows["5_900_8"] == rows["Lgt_902_8"] == 5  # logits on top, whatever their layer says
    assert w.node("3_-1_8")["layer"] == "3"  # an int layer is read as its string
    assert all(0 <= n["size"] <= 1 for n in w.nodes) and max(n["size"] for n in w.nodes) == 1
    assert w.node("5_900_8")["size"] == 1 and w.node("E_0_0")["size"] < w.node("3_12_8")["size"]


def test_labels_tokens_and_baseline_logits():
    w = AttributionGraph(every_type_graph())
    assert w.node("5_900_8")["token"] == " Austin"  # from circuit-tracer's clerp 'Output " Austin" (p=...)'
    assert w.node("5_901_8")["token"] == HOSTILE[1]
    assert w.node("Lgt_902_8")["token"] == RTL  # from its "token" key
    assert w.baseline_logits == [[" Austin", 0.62], [HOSTILE[1], 0.21], [RTL, 0.05]]
    assert w.node("1_-1_7")["label"] == "MLP reconstruction error, layer 1"
    assert w.node("E_3_3")["label"] == "Token “\u2068 of\u2069”"
    assert w.node("1_7_7")["top_logits"] == [[HOSTILE[2], None], [" Austin", 1.7]]
    assert w.metadata == {"prompt": "".join(w.prompt_tokens[1:]), "title": "dallas-austin",
                          "replacement_score": 0.81, "completeness_score": 0.93}


def test_links_travel_as_binary_buffers():
    g = random_graph(100, 1000)
    w = AttributionGraph(g)
    assert len(w.nodes) == 100 and w.n_links == 1000
    assert isinstance(w.link_index, bytes) and len(w.link_index) == 1000 * 2 * 4
    assert isinstance(w.link_weight, bytes) and len(w.link_weight) == 1000 * 4
    back = w.links()
    want = [(ln["source"], ln["target"], ln["weight"]) for ln in g["links"]]
    assert [b[:2] for b in back] == [x[:2] for x in want]
    np.testing.assert_allclose([b[2] for b in back], [x[2] for x in want], rtol=1e-6)


def test_graph_from_a_json_file_a_string_or_an_object(tmp_path):
    g = every_type_graph(hostile=False)
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(g), encoding="utf-8")

    class Exported:
        def to_dict(self):
            return g

    for source in (path, str(path), json.dumps(g), Exported()):
        assert AttributionGraph(source).nodes == AttributionGraph(g).nodes
    with pytest.raises(WidgetInputError, match="no graph file at"):
        AttributionGraph(str(tmp_path / "missing.json"))
    with pytest.raises(WidgetInputError, match="graph must be a dict in the graph JSON format"):
        AttributionGraph(42)


def test_cumulative_influence_is_turned_around():
    g = every_type_graph(hostile=False)
    plain = {n["id"]: n["size"] for n in AttributionGraph(g).nodes}
    cum = {n["id"]: n["size"] for n in AttributionGraph(g, cumulative_influence=True).nodes}
    # influence 0.71 (say Austin) vs 0.05 (an embedding): bigger as influence, smaller as a cumulative score
    assert plain["3_12_8"] > plain["E_0_0"] and cum["3_12_8"] < cum["E_0_0"]


# -- validation ----------------------------------------------------------------------------------
def broken(edit):
    g = every_type_graph(hostile=False)
    edit(g)
    return g


@pytest.mark.parametrize("edit, msg", [
    (lambda g: g.pop("links"), r"graph has no 'links' key \(it has \['metadata', 'nodes', 'qParams'\]\)"),
    (lambda g: g.pop("metadata"), r"graph has no 'metadata' key"),
    (lambda g: g["metadata"].pop("prompt_tokens"), r"no 'prompt_tokens'.*to_str_tokens"),
    (lambda g: g["metadata"].update(prompt_tokens=[1, 2]), r"prompt_tokens'\]\[0\] must be a string"),
    (lambda g: g.update(nodes=[]), r"graph\['nodes'\] must be a non-empty list"),
    (lambda g: g["nodes"][3].pop("ctx_idx"), r"graph\['nodes'\]\[3\] has no 'ctx_idx' key .*Every node needs"),
    (lambda g: g["nodes"][0].pop("node_id"), r"graph\['nodes'\]\[0\] has no 'node_id' key"),
    (lambda g: g["nodes"][10].update(feature_type="neuron"),
     r"graph\['nodes'\]\[10\]\['feature_type'\] is 'neuron'; it must be one of \['cross layer transcoder'"),
    (lambda g: g["nodes"][4].update(node_id="E_0_0"), r"\['node_id'\] is 'E_0_0', the same id as graph\['nodes'\]\[0\]"),
    (lambda g: g["nodes"][2].update(ctx_idx=9), r"\['ctx_idx'\] is 9, outside the prompt's 9 positions \(0..8"),
    (lambda g: g["nodes"][2].update(ctx_idx="2"), r"\['ctx_idx'\] must be an int"),
    (lambda g: g["nodes"][9].update(layer="E"), r"\['layer'\] is 'E', but a cross layer transcoder node's layer must be a number"),
    (lambda g: g["nodes"][9].update(activation=float("nan")), r"graph\['nodes'\]\[9\]\['activation'\] is nan"),
    (lambda g: g["nodes"][9].update(influence="high"), r"\['influence'\] must be a number; got str"),
    (lambda g: g["nodes"][9].update(top_contexts="one context"), r"\['top_contexts'\] must be a list of strings"),
    (lambda g: g["nodes"][9].update(top_logits=[(" a", "b", "c")]), r"\['top_logits'\]\[0\] must be a token string or"),
    (lambda g: g["links"][5].update(source="0_101_77"),
     r"graph\['links'\]\[5\]\['source'\] is '0_101_77', which is not the node_id of any node \(close ids: \['0_101_7'"),
    (lambda g: g["links"][2].update(target=7), r"graph\['links'\]\[2\]\['target'\] is 7, which is not the node_id"),
    (lambda g: g["links"][1].pop("weight"), r"graph\['links'\]\[1\] has no 'weight' key"),
    (lambda g: g["links"][1].update(weight=float("inf")), r"graph\['links'\]\[1\]\['weight'\] is inf"),
    (lambda g: g["links"][1].update(weight=None), r"graph\['links'\]\[1\]\['weight'\] must be a number"),
    (lambda g: g["qParams"].update(supernodes=[["only a name"]]), r"supernodes'\]\[0\] must be \[name, node_id, ...\]"),
])
def test_graph_validation(edit, msg):
    with pytest.raises(WidgetInputError, match=msg):
        AttributionGraph(broken(edit))


def test_validation_does_not_change_the_graph():
    g = every_type_graph()
    before = copy.deepcopy(g)
    validate_graph(g)
    assert g == before


# -- supernodes, pin, selection --------------------------------------------------------------------
def test_supernodes_from_python_and_from_the_graph_file():
    g = every_type_graph(hostile=False)
    g["qParams"]["supernodes"] = [["Texas", "1_7_7", "0_101_7"]]  # Neuronpedia's [name, ids...]
    w = AttributionGraph(g)
    assert w.supernodes == {"Texas": ["1_7_7", "0_101_7"]}
    w = AttributionGraph(g, supernodes={"say a capital": ["2_300_8"]})
    assert w.supernodes == {"say a capital": ["2_300_8"]}
    w.group("Texas", ["1_7_7", "2_300_8"])  # a node moves out of its old supernode; empty ones go
    assert w.supernodes == {"Texas": ["1_7_7", "2_300_8"]}
    w.group("Dallas", ["0_101_7"])
    w.ungroup("Texas")
    assert w.supernodes == {"Dallas": ["0_101_7"]}
    with pytest.raises(WidgetInputError, match=r"no supernode 'Texas'; the supernodes are \['Dallas'\]"):
        w.ungroup("Texas")


@pytest.mark.parametrize("value, msg", [
    ({"Texas": ["1_7_7", "nope"]}, r"supernode 'Texas': 'nope' is not a node of this graph"),
    ({"Texas": ["1_7_77"]}, r"close ids: \['1_7_7'"),
    ({"A": ["1_7_7"], "B": ["1_7_7"]}, r"node '1_7_7' is in supernode 'A' and in 'B'"),
    ({" ": ["1_7_7"]}, r"supernode names must be non-empty"),
    ({"A": []}, r"supernode 'A' must list at least one node id"),
])
def test_supernode_validation(value, msg):
    w = AttributionGraph(every_type_graph(hostile=False))
    with pytest.raises(traitlets.TraitError, match=msg):
        w.supernodes = value
    assert w.supernodes == {}


def test_pin_hover_and_selection_take_node_ids_only():
    w = AttributionGraph(every_type_graph(hostile=False))
    w.pinned_node = "1_7_7"
    w.selected_nodes = ["1_7_7", "0_101_7", "1_7_7"]
    assert w.pinned_node == "1_7_7" and w.selected_nodes == ["1_7_7", "0_101_7"]
    for trait in ("pinned_node", "hovered_node"):
        with pytest.raises(traitlets.TraitError, match=f"{trait}: 'Texas' is not a node"):
            setattr(w, trait, "Texas")
    with pytest.raises(traitlets.TraitError, match="selected_nodes: 'x' is not a node"):
        w.selected_nodes = ["x"]
    w.pinned_node = ""
    assert w.pinned_path == []  # the browser fills it in


# -- interventions -----------------------------------------------------------------------------------
def test_without_a_callback_interventions_are_off():
    w = AttributionGraph(every_type_graph(hostile=False), supernodes={"Texas": ["1_7_7"]})
    assert w.can_intervene is False and w.intervention_modes == ["suppress", "swap"]
    with pytest.raises(WidgetInputError, match=r"no on_intervene callback: pass AttributionGraph\(graph, on_intervene=fn\)"):
        w.intervene("Texas", "suppress")
    w._on_msg(w, {"type": "intervene", "supernode": "Texas", "mode": "suppress"}, [])
    assert w.intervention_status.startswith("error: WidgetInputError: this AttributionGraph has no on_intervene")
    with pytest.raises(WidgetInputError, match="on_intervene must be a function"):
        w.on_intervene = "not a function"


def test_callback_wiring_from_a_browser_message():
    calls = []

    def on_intervene(name, node_ids, mode):
        calls.append((name, node_ids, mode))
        return [(" Texas", 0.5), (" Dallas", 0.2)] if mode == "suppress" else {" Sacramento": 0.7}

    w = AttributionGraph(every_type_graph(hostile=False), on_intervene=on_intervene,
                         supernodes={"Texas": ["1_7_7", "0_101_7"]}, modes=["suppress", "swap", "scale -2"])
    assert w.can_intervene is True and w.intervention_status == "idle"
    w._on_msg(w, {"type": "intervene", "supernode": "Texas", "mode": "suppress"}, [])
    assert calls == [("Texas", ["1_7_7", "0_101_7"], "suppress")]
    assert w.intervention_status == "done"
    assert w.intervention_result == {"supernode": "Texas", "mode": "suppress", "node_ids": ["1_7_7", "0_101_7"],
                                     "before": [[" Austin", 0.62], [" Texas", 0.21], [" Dallas", 0.05]],
                                     "after": [[" Texas", 0.5], [" Dallas", 0.2]]}
    assert w.intervene("Texas", "swap") == [[" Sacramento", 0.7]]  # a {token: p} dict is read too
    w._on_msg(w, {"type": "intervene", "supernode": "Texas", "mode": "boost"}, [])
    assert w.intervention_status == "error: WidgetInputError: mode must be one of ['suppress', 'swap', 'scale -2']; got 'boost'."
    w._on_msg(w, {"type": "intervene", "supernode": "Ohio", "mode": "swap"}, [])
    assert "no supernode 'Ohio'; the supernodes are ['Texas']" in w.intervention_status
    assert len(calls) == 2
    w.on_intervene = None
    assert w.can_intervene is False


@pytest.mark.parametrize("returned, msg", [
    (None, r"must return the new top tokens as a list of \(token string, probability\) pairs.*got NoneType"),
    ([" Austin", " Texas"], r"item 0 is ' Austin'"),
    ([(" Austin", float("nan"))], r"the probability of item 0 \(' Austin'\) returned by on_intervene is nan"),
])
def test_a_bad_callback_return_is_shown(returned, msg):
    w = AttributionGraph(every_type_graph(hostile=False), on_intervene=lambda *a: returned, supernodes={"T": ["1_7_7"]})
    with pytest.raises(WidgetInputError, match=msg):
        w.intervene("T", "suppress")
    w._on_msg(w, {"type": "intervene", "supernode": "T", "mode": "suppress"}, [])
    assert re.search(msg, w.intervention_status) and w.intervention_result == {}


def test_a_raising_callback_is_shown_in_the_widget():
    def boom(*_):
        raise RuntimeError("the model is not loaded")

    w = AttributionGraph(every_type_graph(hostile=False), on_intervene=boom, supernodes={"T": ["1_7_7"]})
    w._on_msg(w, {"type": "intervene", "supernode": "T", "mode": "swap"}, [])
    assert w.intervention_status == "error: RuntimeError: the model is not loaded"


# -- saved page, JS conventions, colours --------------------------------------------------------------
def test_save_html_is_standalone_and_inert(tmp_path):
    w = AttributionGraph(every_type_graph(), supernodes={HOSTILE[0]: ["1_7_7"]})
    page = w.save_html(tmp_path / "graph.html").read_text(encoding="utf-8")
    # nothing to fetch (the SVG namespace is a name that is never fetched)
    assert "http://" not in page.replace(SVG_NAMESPACE, "") and "https://" not in page
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 3  # state JSON, ESM JSON, loader: no tag was broken out of
    for bad in ["<img", "<svg", "</script><script>"]:
        for s in scripts[:2]:
            assert bad not in s
    state = json.loads(scripts[0])
    assert set(state["buffers"]) == {"link_index", "link_weight"}
    assert state["traits"]["supernodes"] == {HOSTILE[0]: ["1_7_7"]}
    assert json.loads(scripts[1]) == str(w._esm)


def test_js_module_follows_the_conventions():
    src = JS.read_text(encoding="utf-8")
    assert src.startswith("/**") and "@typedef" in src.split("*/")[0]
    assert "export default { render }" in src and "return () =>" in src
    assert "innerHTML" not in src and "insertAdjacentHTML" not in src and "eval(" not in src
    assert "outerHTML" not in src and "DOMParser" not in src
    assert "// ---- shared helpers" not in src
    assert "http://" not in src.replace(SVG_NAMESPACE, "") and "https://" not in src
    assert str(AttributionGraph._esm).startswith((STATIC / "_shared.js").read_text(encoding="utf-8"))
    assert (STATIC / "attribution_graph.css").exists()
    # every trait the module reads is one the Python class syncs
    synced = set(AttributionGraph.class_own_traits(sync=True))
    for name in set(re.findall(r'model\.get\("(\w+)"\)', src)):
        assert name in synced, name


def test_edge_colours_are_told_apart_by_colour_blind_readers():
    m = re.search(r"^const EDGE_RGB = \[DIVERGING\[(\d)\], DIVERGING\[(\d)\]\];$", JS.read_text(encoding="utf-8"), re.M)
    assert m, "attribution_graph.js no longer takes its edge colours from the diverging scale"
    div = js_constant("DIVERGING")
    pos, neg = div[int(m[1])], div[int(m[2])]
    for vision in VISIONS:
        assert distance(pos, neg, vision) >= 15, vision
    for colour in (pos, neg):  # lines on JupyterLab's light page and its dark theme's
        for page in ([255, 255, 255], [17, 17, 17], [33, 33, 33]):
            assert contrast(colour, page) >= 3.0, (colour, page)
    assert 'NEG_DASH = "' in JS.read_text(encoding="utf-8")  # negative edges are dashed as well
