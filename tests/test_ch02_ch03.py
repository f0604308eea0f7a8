"""Chapters 02 (build the transformer) and 03 (attention heads): their exercises, the circuit
tools in course/circuits.py, the offline circuitsvis rendering, and every number the two
chapters' prose claims about the shipped model."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request

import pytest
import torch

from course import circuits, circuitsvis_offline, evalsets, evaluate
from course_model import have_shipped_model, load_model
from solutions import ch02_transformer, ch03_attention



# -- exercises -------------------------------------------------------------------------------------

# (every reference passing, every known mistake named and every stub failing: tests/test_exercises.py)


def test_learner_parts_rebuild_the_model_exactly():
    """The chapter 02 assembly, with the references, on a small random model."""
    from tests.conftest import tiny_config
    from course.model import HookedTransformer

    torch.manual_seed(0)
    model = HookedTransformer(tiny_config(init_std=0.2)).eval()
    r = ch02_transformer
    sd = model.state_dict()
    tokens = torch.randint(0, 50, (2, 12), generator=torch.Generator().manual_seed(0))
    resid = r.embed(tokens, sd["embed.W_E"], sd["pos_embed.W_pos"])
    for layer in range(model.cfg.n_layers):
        p = lambda name: sd[f"blocks.{layer}.{name}"]  # noqa: E731
        resid = r.transformer_block(
            resid,
            lambda x: r.layer_norm(x, p("ln1.w"), p("ln1.b")),
            lambda x: r.attention(x, *(p(f"attn.{n}") for n in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"))),
            lambda x: r.layer_norm(x, p("ln2.w"), p("ln2.b")),
            lambda x: r.mlp(x, p("mlp.W_in"), p("mlp.b_in"), p("mlp.W_out"), p("mlp.b_out")))
    logits = r.unembed(r.layer_norm(resid, sd["ln_final.w"], sd["ln_final.b"]), sd["unembed.W_U"], sd["unembed.b_U"])
    with torch.no_grad():
        torch.testing.assert_close(logits, model(tokens), atol=1e-5, rtol=1e-4)


# -- course/circuits.py ----------------------------------------------------------------------------

@pytest.fixture
def small():
    from tests.conftest import tiny_config
    from course.model import HookedTransformer

    torch.manual_seed(0)
    model = HookedTransformer(tiny_config(init_std=0.3)).eval()
    for p in model.parameters():  # non-trivial LayerNorm weights and biases
        if p.ndim == 1:
            with torch.no_grad():
                p.add_(torch.randn(p.shape) * 0.2)
    return model


def test_qk_circuit_of_layer_0_is_the_models_attention_score(small):
    tokens = torch.tensor([[3, 17, 8, 8, 41, 0]])
    _, cache = small.run_with_cache(tokens)
    for p in range(tokens.shape[1]):  # what the head reads at position p is token_inputs at p
        x = circuits.token_inputs(small, 0, tokens[0, p : p + 1], position=p)
        torch.testing.assert_close(x[0], cache["blocks.0.ln1.hook_normalized"][0, p], atol=1e-5, rtol=1e-4)
    x = cache["blocks.0.ln1.hook_normalized"][0]
    for head in range(small.cfg.n_heads):
        scores = circuits.qk_circuit(small, 0, head, x, x)
        lower = torch.ones_like(scores, dtype=torch.bool).tril()
        torch.testing.assert_close(scores[lower], cache["attn_scores", 0][0, head][lower], atol=1e-5, rtol=1e-4)


def test_ov_circuit_is_the_direct_effect_on_the_logits(small):
    """Row t of the OV circuit = what the head adds to the logits (up to the final LN's scale and
    a constant per row) when it attends only to a stream holding token t's input."""
    layer, head = 1, 2
    sources = torch.randn(5, small.cfg.d_model)
    ov = circuits.ov_circuit(small, layer, head, sources)
    attn = small.blocks[layer].attn
    written = sources @ attn.W_V[head] @ attn.W_O[head]  # [5 d_model]
    direct = (written - written.mean(-1, keepdim=True)) * small.ln_final.w @ small.W_U
    torch.testing.assert_close(ov, direct.detach(), atol=1e-5, rtol=1e-4)


def test_eigenvalue_score_matches_the_full_matrix(small):
    layer, head = 0, 1
    E = circuits.token_inputs(small, layer)
    full = circuits.ov_circuit(small, layer, head, E)[:, :]  # [d_vocab d_vocab]
    eig = torch.linalg.eigvals(full.double())
    expected = (eig.sum().real / eig.abs().sum()).item()
    assert circuits.ov_eigenvalue_score(small, layer, head) == pytest.approx(expected, abs=1e-6)


def test_copying_scores_of_simple_matrices():
    assert circuits.copying_score(torch.eye(7)) == 1.0
    assert circuits.copying_score(-torch.eye(7) + 0.01 * torch.randn(7, 7)) == 0.0
    assert circuits.copying_score(torch.eye(4).roll(1, dims=1)) == 0.0
    assert circuits.copying_score(torch.eye(4).roll(1, dims=1) * 2 + torch.eye(4), k=2) == 1.0
    assert ch03_attention.ov_copying_score(torch.eye(5) * 3 + 0.1) == 1.0


def test_positional_pattern_is_causal_and_normalised(small):
    pattern = circuits.positional_pattern(small, 1, 0, n_pos=9)
    assert pattern.shape == (9, 9)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(9))
    assert torch.all(pattern.triu(1) == 0)
    score = circuits.previous_token_qk_score(small, 1, 0, n_pos=9)
    assert score == pytest.approx(pattern.diagonal(-1).mean().item())
    table = circuits.all_heads(small, circuits.previous_token_qk_score, n_pos=9)
    assert table.shape == (2, 4) and circuits.argmax_head(table) == divmod(int(table.argmax()), 4)


# -- circuitsvis, offline and escaped ----------------------------------------------------------------

HOSTILE = "</script><img src=x onerror=alert(1)>"


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or run a program fails the test."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"network or subprocess attempted: {args[:1]}")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse("socket", *args)

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    return calls


def test_circuitsvis_itself_reaches_for_the_network(no_network):
    """Why course.circuitsvis_offline exists: circuitsvis's own display tries a web site first, and
    its str() imports the code from a CDN."""
    import circuitsvis.attention

    view = circuitsvis.attention.attention_heads(torch.rand(1, 2, 2), ["a", "b"])
    view._repr_html_()  # falls back to the inline bundle, but only after trying the network
    assert no_network, "circuitsvis no longer tries the network: course.circuitsvis_offline may be unnecessary"
    assert "unpkg.com" in str(view)


@pytest.mark.parametrize("kind", ["attention_heads", "attention_patterns"])
def test_offline_view_makes_no_network_attempt_and_inlines_the_bundle(no_network, kind):
    pattern = torch.rand(2, 3, 3).tril()
    tokens = ["a", "b", "c"]
    view = (circuitsvis_offline.attention_heads(pattern, tokens) if kind == "attention_heads"
            else circuitsvis_offline.attention_patterns(tokens, pattern))
    html = view._repr_html_()
    assert no_network == []
    assert html == str(view) == view.__html__()
    assert "var CircuitsVis=" in html  # the bundle itself, inline
    assert "unpkg" not in html and 'src="http' not in html and "import " not in html.split("CircuitsVis.render")[-1]
    component = "AttentionHeads" if kind == "attention_heads" else "AttentionPatterns"
    assert f"CircuitsVis.{component}" in html


def test_offline_view_escapes_hostile_tokens(no_network):
    tokens = ["ok", HOSTILE, "a&b", "line\u2028sep", "<!--"]
    view = circuitsvis_offline.attention_heads(torch.rand(1, 5, 5), tokens, attention_head_names=[HOSTILE])
    html = view.html
    assert HOSTILE not in html and "<img" not in html and "<!--" not in html
    assert html.lower().count("</script") == 1 and html.rstrip().endswith("</script>")  # only our own closing tag
    # the props still decode to exactly the original strings
    props = re.search(r"CircuitsVis\.AttentionHeads, (\{.*\})\);\n</script>$", html, re.S).group(1)
    decoded = json.loads(props)
    assert decoded["tokens"] == tokens and decoded["attentionHeadNames"] == [HOSTILE]


def test_circuitsvis_own_inline_html_is_not_escaped(no_network):
    """The bug we work around (MEASURED.md): circuitsvis writes token text into its script as is."""
    from circuitsvis.utils.render import render_local

    html = render_local("AttentionHeads", tokens=["a", HOSTILE], attention=[[[1.0, 0.0], [0.5, 0.5]]])
    assert HOSTILE in html


def test_script_safe_json_round_trips():
    obj = {"t": ["<", ">", "&", "\u2028", "\u2029", "é", '"', "\\"], "x": [1.5, 2]}
    text = circuitsvis_offline.script_safe_json(obj)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == obj


def test_offline_view_saves_a_page(tmp_path, no_network):
    path = circuitsvis_offline.attention_patterns(["a", "b"], torch.rand(1, 2, 2)).save(tmp_path / "view.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "CircuitsVis.AttentionPatterns" in text


# -- what the chapters claim about the shipped model ------------------------------------------------

shipped = pytest.mark.skipif(not have_shipped_model(), reason="the shipped tinyworld checkpoint is not there yet")


@pytest.fixture(scope="module")
def model():
    return load_model()


@shipped
def test_ch02_logit_lens_on_the_two_hop_prompt(model):
    item = next(it for it in evalsets.two_hop_dataset(held_out_cities=True, phrasings="train") if it.state == "Texas")
    tokens = model.to_tokens(item.prompt)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        stack = cache.accumulated_resid()[:, 0, -1]
        logits = model.unembed(model.ln_final(stack))
    capital = model.tokenizer.encode(item.answer)[0]
    ranks = (logits > logits[:, [capital]]).sum(-1).tolist()
    assert ranks == [79, 2, 1, 0, 0]  # on top from block 2 on
    top_two = [[model.tokenizer.token_str(int(i)) for i in row.topk(2).indices] for row in logits[1:3]]
    assert top_two == [[" in", " part"], [" in", " Austin"]]  # before that, 'Houston is in' or 'is part of'
    mid = model.unembed(model.ln_final(cache["blocks.2.hook_resid_mid"][0, -1]))
    assert int((mid > mid[capital]).sum()) == 0  # block 2's attention already puts the capital on top
    state = model.tokenizer.encode(" " + item.state)[0]
    state_ranks = (logits > logits[:, [state]]).sum(-1).tolist()
    assert state_ranks == [467, 17, 65, 81, 58]  # the state never comes near the top
    probs = logits.softmax(-1)[:, capital].tolist()
    assert [round(x, 3) for x in probs] == [0.001, 0.064, 0.26, 0.721, 0.974]  # the capital late
    torch.testing.assert_close(logits[-1], model(tokens)[0, -1], atol=1e-4, rtol=1e-4)
    next_id = model(model.to_tokens("The capital of Texas is"))[0, -1].argmax().item()
    assert model.tokenizer.token_str(next_id) == " Austin"


@shipped
def test_ch03_previous_token_head(model):
    qk = circuits.all_heads(model, circuits.previous_token_qk_score, n_pos=32)
    tokens = evaluate.repeated_random_tokens(model, seq_len=40, batch=20, seed=0)[:, :41]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    measured = torch.stack([ch03_attention.previous_token_attention(cache["pattern", l]) for l in range(4)])
    layer, head = circuits.argmax_head(qk)
    assert circuits.argmax_head(measured) == (layer, head) == (0, 3)
    uniform = sum(1 / (i + 1) for i in range(1, 41)) / 40
    assert measured[layer, head] > 3 * uniform


@shipped
def test_ch03_copying_head(model):
    common = evaluate.common_tokens(model.tokenizer)
    scores = circuits.copying_scores(model, common)
    assert circuits.argmax_head(scores) == (2, 2) and 0.07 <= scores[2, 2] < 0.075  # about 90 times chance
    assert 90 < scores[2, 2] * len(common) < 95
    assert 0.92 <= circuits.ov_eigenvalue_score(model, 2, 2, tokens=common) < 0.925
    top3 = {divmod(int(i), model.cfg.n_heads) for i in scores.flatten().topk(3).indices}
    assert top3 == {(2, 1), (2, 2), (2, 3)} and 0.065 <= scores[2, 1] < 0.07 and 0.015 <= scores[3, 2] < 0.02
    eig = circuits.all_heads(model, circuits.ov_eigenvalue_score, tokens=common)
    assert 0.92 <= eig[2, 1] < 0.925 and 0.75 <= eig[3, 2] < 0.76
    assert 0.023 <= scores[2, 3] < 0.024  # L2H3 copies less
    induction = evaluate.head_scores(model)["induction"]
    heads = {tuple(lh) for lh in (induction > 0.9).nonzero().tolist()}
    assert heads == {(2, 1), (2, 2), (2, 3)} and {(2, 1), (2, 2)} < heads  # three layer-2 heads induce, not L2H0
    assert 0.95 <= induction[2, 1:].min() and induction[2].max() < 0.97 and induction[induction <= 0.9].max() < 0.02
    assert 0.885 <= eig[2, 3] < 0.89
    assert circuits.argmax_head(-eig) == (2, 0) and -0.875 <= eig.min() < -0.865  # the suppressor of exercise 1
    assert scores[2, 0] == 0  # it copies nothing


@shipped
def test_ch03_context_changes_meaning(model):
    pair = torch.cat([model.to_tokens(p) for p in ["The city of Dallas is", "The capital of Ohio is"]])
    logits, cache = model.run_with_cache(pair)
    streams = cache.accumulated_resid(incl_mid=True)[:, :, -1]
    cos = torch.nn.functional.cosine_similarity(streams[:, 0], streams[:, 1], dim=-1)
    assert cos[0] > 0.999 and cos[1] < cos[0] - 0.01 and 0.57 <= cos[1] < 0.58
    assert [model.tokenizer.token_str(int(i)) for i in logits[:, -1].argmax(-1)] == [" in", " Columbus"]
    last = torch.stack([cache["pattern", l][0, :, -1] for l in range(4)])  # [layer head key_pos]
    dallas = model.to_str_tokens(pair[0]).index(" Dallas")
    assert 0.86 <= last[0, 3, dallas] < 0.87 and 0.965 <= last[0, 0, dallas] < 0.97  # L0H3 and L0H0 bring the city
    assert last[0, [1, 2]].max() < 0.295 and last[1].max() < 0.46
    assert (last[2, [0, 2]].argmax(-1) == dallas).all() and 0.395 <= last[2, 0, dallas] < 0.4
    assert 0.765 <= last[2, 2, dallas] < 0.77 and 0.915 <= last[3, 1, dallas] < 0.92


@shipped
def test_ch03_worked_answers(model):
    from solutions import ch03_attention as sol

    heads = sol.worked_suppression_head(model)
    assert 0.68 < heads["L2H0"]["own logit lowest"] < 0.7 and heads["L2H0"]["own logit highest"] == 0  # suppresses
    assert heads["L2H0"]["mean diagonal minus mean off-diagonal"] < 0
    assert 0.76 < heads["L2H2"]["own logit highest"] < 0.77 and heads["L2H2"]["own logit lowest"] == 0
    assert heads["L2H2"]["mean diagonal minus mean off-diagonal"] > 0
    groups = sol.worked_names_or_places(model)
    names = next(v for k, v in groups.items() if k.startswith("names"))
    others = [v for k, v in groups.items() if not k.startswith("names")]
    assert names == [0.0, 0.33, 0.77, 0.39]  # L2H2 copies names best; L2H0 copies nothing
    assert all(names[h] > max(v[h] for v in others) for h in (1, 2, 3)) and max(v[0] for v in others) == 0.0
    cities, states, capitals = others
    assert cities == [0.0, 0.26, 0.48, 0.23] and states == [0.0, 0.26, 0.71, 0.26]
    assert capitals == [0.0, 0.26, 0.55, 0.16]  # L2H2 copies every kind best


@shipped
def test_ch02_city_reading_heads_and_memorised_composites(model):
    from course import lens

    item = next(it for it in evalsets.two_hop_dataset(held_out_cities=True, phrasings="train") if it.state == "Texas")
    assert item.city in evalsets.HELD_OUT_CITIES
    tokens = model.to_tokens(item.prompt)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    city_pos = model.to_str_tokens(tokens).index(" " + item.city)
    on_city = torch.stack([cache["pattern", l][0, :, -1, city_pos] for l in range(4)])  # [layer head]
    assert 0.905 <= on_city[0, 3] < 0.91 and 0.92 <= on_city[0, 0] < 0.925  # L0H3 91%, L0H0 92%
    assert on_city[0, 1:3].max() < 0.11 and on_city[1].max() < 0.32
    assert 0.255 <= on_city[2, [0, 2]].min() <= on_city[2, [0, 2]].max() < 0.265 and on_city[2, [1, 3]].max() < 0.015
    assert 0.855 <= on_city[3, 1] < 0.86 and 0.52 <= on_city[3, 2] < 0.525 and on_city[3, [0, 3]].max() < 0.07

    def p_capital(held_out, phrasing):
        probs, right, top = [], [], []
        for it in evalsets.two_hop_dataset(held_out_cities=held_out, phrasings="train"):
            if it.phrasing != phrasing:
                continue
            with torch.no_grad():
                _, c = model.run_with_cache(model.to_tokens(it.prompt))
            row = lens.logit_lens(model, c)[:, 0, -1]
            answer = model.tokenizer.encode(it.answer)[0]
            probs.append(row.softmax(-1)[:, answer])
            right.append(int(row[-1].argmax()) == answer)
            top.append(row.argmax(-1) == answer)
        return torch.stack(probs).mean(0), sum(right) / len(right), torch.stack(top).float().mean(0)

    (held, held_right, held_top), (trained, trained_right, trained_top) = (p_capital(True, item.phrasing),
                                                                           p_capital(False, item.phrasing))
    assert held_right == trained_right == 1.0 and 0.975 <= held[-1] < 0.985 and trained[-1] >= 0.995
    for m in (held, trained):  # the same shape: the capital climbs block by block
        assert m[0] < m[1] < m[2] < m[3] < m[4]
    assert (trained[1:-1] > held[1:-1]).all() and 0.855 <= trained[3] < 0.865 and 0.445 <= held[3] < 0.455
    assert (held_top * 31).round().tolist() == [0, 1, 12, 22, 31]  # held-out: late (31 cities)
    assert (trained_top * 62).round().tolist() == [0, 32, 56, 62, 62]  # trained: early (two cities per state)
    # where held-out cities often fail, the trained composites are still answered
    second = "{c} is in a state whose capital is"
    (held, held_right, _), (trained, trained_right, _) = p_capital(True, second), p_capital(False, second)
    assert trained_right == 1.0 and 0.985 <= trained[-1] < 0.995 and 0.25 <= trained[1] < 0.255
    assert held_right == 24 / 31 and 0.23 <= held[-1] < 0.235 and 0.01 <= held[1] < 0.015
    card = model.card["metrics"]
    assert 0.9325 <= card["two_hop_held_out_accuracy"] < 0.9335 and 0.997 <= card["two_hop_trained_accuracy"] < 0.9975
    assert card["two_hop_held_out_by_phrasing"][second] == pytest.approx(held_right)


@shipped
def test_ch02_worked_answers(model):
    from solutions import ch02_transformer as sol

    phrasings = sol.worked_lens_held_out_phrasings(model)
    late = sorted(v["of those, first on top only at the final row"] for v in phrasings.values())
    assert len(phrasings) == 4 and 0.09 < late[0] < 0.1 and late[2] < 0.4 and 0.81 < late[-1] < 0.82  # by phrasing
    nearest = phrasings["The capital of the state that has {c} is"]  # the nearest to the chapter's phrasing
    assert 0.81 < nearest["of those, first on top only at the final row"] < 0.82
    right = sorted(v["right at the end"] for v in phrasings.values())
    assert 0.70 < right[0] < 0.71 and right[-1] == 1.0
    assert max(p for v in phrasings.values() for p in v["mean p(capital) per layer"][:-1]) <= 0.61
    heads = sol.worked_city_reading_heads(model)
    assert heads["nothing blocked"] == heads["L0H3"] == heads["every head of layers 1-3"] == 1.0  # layer 0 suffices
    assert 0.35 < heads["L0H0"] < 0.36 and 0.25 < heads["L0H0 and L0H3"] < 0.26  # L0H0 matters most
    assert 0.03 < heads["L0H0, L0H3 and every head of layers 2-3"] < 0.04 and heads["every head of every layer"] < 0.05
    city = sol.worked_lens_at_the_city(model)
    assert min(city["median rank of the state per layer"]) == 825 and city["best rank of the state anywhere"] == 8
