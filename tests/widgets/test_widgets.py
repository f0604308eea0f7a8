"""Python-side widget tests: state, validation messages, binary buffers, saved pages. No kernel."""

import json
import math
import pathlib
import re

import numpy as np
import pytest
import torch

from course import evaluate, lens
from tiny_model import HOSTILE, tiny_model
from widgets import (AttentionPatterns, FeatureSteering, InductionView, LogitLens, TokenView,
                     TrainingCurves, WidgetInputError)
from widgets._base import unpack

STATIC = pathlib.Path(__file__).parents[2] / "widgets" / "static"
TOKS = ["<bos>", " ", "\n", "", "\u200b"] + HOSTILE


def causal_patterns(heads, pos, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(heads, pos, pos, generator=g)
    return s.masked_fill(torch.triu(torch.ones(pos, pos, dtype=torch.bool), 1), -1e9).softmax(-1)


# -- AttentionPatterns -------------------------------------------------------------------------
def test_attention_state_and_buffer_size():
    p = causal_patterns(3, len(TOKS))
    w = AttentionPatterns(TOKS, p, head_labels=["a", "b", "c"])
    n = len(TOKS)
    assert w.shape == [3, n, n] and w.storage == "causal" and w.dtype == "float16"
    assert isinstance(w.patterns, bytes) and len(w.patterns) == 3 * n * (n + 1) // 2 * 2
    np.testing.assert_allclose(w.pattern(2), p[2].numpy(), atol=1e-3)
    w.selected_head = 2
    assert w.selected_head == 2 and w.hovered_token == -1
    with pytest.raises(Exception, match="selected_head must be in 0..2"):
        w.selected_head = 3


def test_attention_full_storage_for_non_causal_and_numpy():
    p = np.full((2, 4, 4), 0.25, dtype=np.float32)
    w = AttentionPatterns(list("abcd"), p, dtype="float32")
    assert w.storage == "full" and len(w.patterns) == 2 * 16 * 4
    np.testing.assert_allclose(unpack(w.patterns, "float32", w.shape), p)


@pytest.mark.parametrize("patterns, tokens, msg", [
    (np.full((4, 4), 0.25), list("abcd"), r"3 dimension\(s\) \[heads, query, key\].*patterns\[None\]"),
    (np.full((1, 2, 4, 4), 0.25), list("abcd"), r"shape \(1, 2, 4, 4\).*from_cache"),
    (np.full((2, 4, 4), 0.25), list("abc"), r"tokens has 3 entries but patterns has 4 positions"),
    (np.full((2, 4, 4), np.nan), list("abcd"), r"32 NaN and 0 inf"),
    (np.full((2, 4, 4), 3.0), list("abcd"), r"hook_attn_scores"),
    (np.full((2, 3, 4), 0.25), list("abcd"), r"square"),
])
def test_attention_validation(patterns, tokens, msg):
    with pytest.raises(WidgetInputError, match=msg):
        AttentionPatterns(tokens, patterns)


def test_attention_rejects_ids_and_label_count():
    with pytest.raises(WidgetInputError, match=r"tokens\[0\] is int"):
        AttentionPatterns([1, 2], np.full((1, 2, 2), 0.5))
    with pytest.raises(WidgetInputError, match="head_labels has 1 entries but patterns has 2 heads"):
        AttentionPatterns(["a", "b"], np.full((2, 2, 2), 0.5), head_labels=["x"])


def test_attention_from_cache_uses_batch_0():
    m = tiny_model()
    ids = m.to_tokens("a b c")
    _, cache = m.run_with_cache(ids)
    w = AttentionPatterns.from_cache(cache, 1, m.to_str_tokens(ids[0]))
    assert w.head_labels == ["L1H0", "L1H1", "L1H2", "L1H3"]
    np.testing.assert_allclose(w.pattern(3), cache["blocks.1.attn.hook_pattern"][0, 3], atol=1e-3)
    with pytest.raises(WidgetInputError, match="blocks.7.attn.hook_pattern"):
        AttentionPatterns.from_cache(cache, 7, ["x"])


# -- TokenView ---------------------------------------------------------------------------------
def test_token_view_state_and_validation():
    w = TokenView(TOKS, torch.arange(len(TOKS)) - 3.0, cmap="diverging",
                  top_k=[[(" a", 0.5), ("b", 0.25)]] + [[]] * (len(TOKS) - 1))
    assert w.vmin == -w.vmax == -(len(TOKS) - 4)
    assert len(w.values) == 4 * len(TOKS)
    assert w.top_k[0] == [[" a", 0.5], ["b", 0.25]]
    with pytest.raises(WidgetInputError, match=r"tokens has 2 entries but values has 3 positions"):
        TokenView(["a", "b"], [1, 2, 3])
    with pytest.raises(WidgetInputError, match=r"1 dimension\(s\) \[pos\].*values\[0\]"):
        TokenView(["a", "b"], [[1, 2]])
    with pytest.raises(WidgetInputError, match="inf"):
        TokenView(["a"], [math.inf])
    with pytest.raises(WidgetInputError, match="top_k has 1 entries but there are 2 tokens"):
        TokenView(["a", "b"], [1, 2], top_k=[[]])
    with pytest.raises(WidgetInputError, match="outside \\[0, 1\\].*not logits"):
        TokenView(["a"], [1], top_k=[[("x", 3.2)]])
    with pytest.raises(WidgetInputError, match="not a single string"):
        TokenView("ab", [1, 2])


# -- LogitLens ---------------------------------------------------------------------------------
def test_logit_lens_from_model():
    m = tiny_model()
    text = "a the b w3 \u200b c"
    w = LogitLens.from_model(m, text)
    ids = m.to_tokens(text)
    L, P = m.cfg.n_layers + 1, ids.shape[1]
    assert w.shape == [L, P] and w.layer_labels == ["embed", "block 0", "block 1"]
    assert len(w.top_probs) == 4 * L * P and len(w.correct_ranks) == 4 * L * P
    ranks = unpack(w.correct_ranks, "int32", w.shape)
    assert (ranks[:, -1] == -1).all() and (ranks[:, :-1] >= 0).all()
    # every row is course.lens.logit_lens; the last is the model's own prediction, probabilities included
    probs = lens.logit_lens(m, ids)[:, 0].softmax(-1)
    np.testing.assert_allclose(unpack(w.top_probs, "float32", w.shape), probs.max(-1).values.numpy(), rtol=1e-5)
    own = m(ids)[0].detach().softmax(-1)
    assert w.top_tokens[-1] == m.to_str_tokens(own.argmax(-1))
    np.testing.assert_allclose(unpack(w.top_probs, "float32", w.shape)[-1], own.max(-1).values.numpy(), rtol=1e-5)


def test_logit_lens_validation():
    with pytest.raises(WidgetInputError, match="top_tokens has 1 layers but top_probs has 2"):
        LogitLens(["a"], [["x"]], np.full((2, 1), 0.5))
    with pytest.raises(WidgetInputError, match=r"top_tokens\[0\] has 2 entries but there are 1"):
        LogitLens(["a"], [["x", "y"]], np.full((1, 1), 0.5))
    with pytest.raises(WidgetInputError, match="softmax"):
        LogitLens(["a"], [["x"]], np.full((1, 1), 4.0))


# -- InductionView -----------------------------------------------------------------------------
def test_induction_from_model():
    m = tiny_model()
    w = InductionView.from_model(m, seq_len=8, seed=1)
    assert w.shape == [2, 4, 17] and w.seq_len == 8 and len(w.tokens) == 17
    assert w.tokens[0] == "<bos>" and w.tokens[1:9] == w.tokens[9:]
    assert len(w.patterns) == 2 * 4 * 17 * 17 * 2 and len(w.loss_per_pos) == 16 * 4
    ind = unpack(w.induction_scores, "float32", [2, 4])
    assert (w.selected_layer, w.selected_head) == np.unravel_index(ind.argmax(), ind.shape)
    # the scores and repeat losses are evaluate's, on the same sequences
    scores = evaluate.head_scores(m, seq_len=8, seed=1)
    np.testing.assert_allclose(ind, scores["induction"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(unpack(w.prev_token_scores, "float32", [2, 4]), scores["previous_token"].numpy(), rtol=1e-6)
    gap = evaluate.induction_loss_gap(m, seq_len=8, seed=1)
    assert w.repeat_loss == pytest.approx([gap["repeat_loss_first"], gap["repeat_loss_second"]], rel=1e-5)
    with pytest.raises(WidgetInputError, match="n_ctx=128"):
        InductionView.from_model(m, seq_len=100)


def test_induction_view_of_attn_only_2l_is_its_card():
    from course import zoo

    w = InductionView.from_model(zoo.load("attn-only-2l"))
    card = zoo.card("attn-only-2l")["metrics"]
    ind = unpack(w.induction_scores, "float32", w.shape[:2])
    best = (w.selected_layer, w.selected_head)
    assert best == (1, 0) and ind[best] == pytest.approx(card["max_induction_score"], abs=0.02)
    assert ind[best] == pytest.approx(evaluate.head_scores(zoo.load("attn-only-2l"))["induction"].max().item(), abs=1e-6)
    first, second = w.repeat_loss
    assert second < first - 5  # the second repeat is copied
    assert [first, second] == pytest.approx([card["repeat_loss_first"], card["repeat_loss_second"]], abs=1e-3)


def test_induction_validation():
    p = np.full((2, 3, 5, 5), 0.2)
    with pytest.raises(WidgetInputError, match="loss_per_pos has 5 entries but there are 5 tokens"):
        InductionView(np.zeros((2, 3)), np.zeros((2, 3)), p, list("abcde"), np.zeros(5))
    with pytest.raises(WidgetInputError, match="prev_token_scores has shape"):
        InductionView(np.zeros((2, 3)), np.zeros((3, 2)), p, list("abcde"), np.zeros(4))


# -- TrainingCurves ----------------------------------------------------------------------------
def test_training_curves_append_and_series():
    c = TrainingCurves("run", send_every=0, snapshot_every=1e9)
    sent = []
    c.send = lambda content, buffers=None: sent.append(content)
    c.append(0, train_loss=2.0)
    c.append(1, train_loss=1.5, test_acc=torch.tensor(0.3), my_metric=7)
    assert c.series == ["train_loss", "test_acc", "my_metric"]
    a = c.as_array()
    assert a.shape == (2, 4) and math.isnan(a[0, 2]) and a[1, 2] == pytest.approx(0.3)
    assert sent[1] == {"type": "points", "start": 1, "series": c.series, "rows": [[1.0, 1.5, pytest.approx(0.3), 7.0]]}
    assert sent[0]["rows"] == [[0.0, 2.0]]  # JSON-safe: no NaN
    json.dumps(sent)
    c.flush()
    assert c.n_points == 2 and len(c.data) == 2 * 4 * 8
    c.add_event(1, "lr drop")
    assert c.events == [[1.0, "lr drop"]]
    with pytest.raises(WidgetInputError, match="diverged"):
        c.append(2, train_loss=math.inf)
    with pytest.raises(WidgetInputError, match="at least one series"):
        c.append(2)


def test_training_curves_steps_stop_and_pause():
    c = TrainingCurves()
    seen = []
    for step in c.steps(100):
        seen.append(step)
        c.append(step, train_loss=1.0 / (step + 1))
        if step == 4:
            c.should_stop = True  # what the Stop button does
    assert seen == [0, 1, 2, 3, 4] and c.status == "stopped" and c.n_points == 5
    assert list(c.steps(3)) == [0, 1, 2] and c.status == "done"


# -- FeatureSteering ---------------------------------------------------------------------------
def test_steering_zero_strength_matches_and_strength_changes_output():
    m = tiny_model()
    g = torch.Generator().manual_seed(0)
    dirs = {"up": torch.randn(16, generator=g), "down": np.ones(16)}
    fs = FeatureSteering(m, dirs, layer=1, strength=0.0, prompt="a b")
    r0 = fs.steer("a b", 6)
    assert r0.unsteered == r0.steered and len(r0.unsteered_tokens) == 6
    fs.strength = 50.0
    r1 = fs.steer("a b", 6)
    assert r1.unsteered == r0.unsteered and r1.steered != r1.unsteered
    assert fs.status == "done" and fs.steered_tokens == r1.steered_tokens
    assert len(fs.steered_acts) == 4 * (len(fs.prompt_tokens) + 6)
    # activation = resid_post . unit direction
    ids = m.to_tokens("a b")
    _, cache = m.run_with_cache(ids)
    unit = dirs["up"] / dirs["up"].norm()
    np.testing.assert_allclose(r1.unsteered_acts[:ids.shape[1]],
                               (cache["blocks.1.hook_resid_post"][0] @ unit).numpy(), rtol=1e-4, atol=1e-4)


def test_steering_hook_adds_the_unit_direction():
    m = tiny_model()
    fs = FeatureSteering(m, {"d": torch.ones(16) * 3}, layer=0, strength=2.0)
    name, fn = fs.steering_hook()
    assert name == "blocks.0.hook_resid_post"
    out = fn(torch.zeros(1, 3, 16), None)
    np.testing.assert_allclose(out.norm(dim=-1).numpy(), 2.0, rtol=1e-5)


def test_steering_validation_and_callable_directions():
    m = tiny_model()
    with pytest.raises(WidgetInputError, match=r"shape \[d_model\] = \[16\]; got shape \(8,\)"):
        FeatureSteering(m, {"bad": torch.ones(8)})
    with pytest.raises(WidgetInputError, match="norm 0"):
        FeatureSteering(m, {"zero": torch.zeros(16)})
    with pytest.raises(WidgetInputError, match=r"layer must be in 0..1"):
        FeatureSteering(m, {"d": torch.ones(16)}, layer=5)
    fs = FeatureSteering(m, lambda layer: {f"feat{layer}": torch.ones(16)}, layer=0)
    assert fs.direction_names == ["feat0"]
    fs.layer = 1
    assert fs.direction_names == ["feat1"] and fs.direction == "feat1"


# -- shared: saved pages, JS conventions -------------------------------------------------------
def all_widgets():
    m = tiny_model()
    n = len(TOKS)
    return [
        AttentionPatterns(TOKS, causal_patterns(2, n), head_labels=HOSTILE[:2]),
        TokenView(TOKS, np.arange(n, dtype=float), top_k=[[(HOSTILE[0], 0.5)]] * n, value_label=HOSTILE[1]),
        LogitLens(TOKS, [TOKS], np.full((1, n), 0.5), layer_labels=[HOSTILE[2]]),
        InductionView.from_model(m, seq_len=4),
        _curves(),
        FeatureSteering(m, {HOSTILE[3]: torch.ones(16)}, prompt=HOSTILE[0]),
    ]


def _curves():
    c = TrainingCurves(HOSTILE[1])
    c.append(1, **{"train_loss": 1.0})
    c.add_event(1, HOSTILE[0])
    c.flush()
    return c


@pytest.mark.parametrize("widget", all_widgets(), ids=lambda w: type(w).__name__)
def test_save_html_is_standalone_and_inert(widget, tmp_path):
    path = widget.save_html(tmp_path / "w.html")
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 3  # state JSON, ESM JSON, loader: no tag was broken out of
    for bad in ["<img", "<svg", "</script><script>"]:
        for s in scripts[:2]:
            assert bad not in s
    assert "<img src=x" not in page.split("<script", 1)[0]
    state = json.loads(scripts[0])
    for name, b64 in state["buffers"].items():
        assert isinstance(getattr(widget, name), bytes)
    assert "_esm" not in state["traits"] and "layout" not in state["traits"]
    assert json.loads(scripts[1]) == str(widget._esm)


def test_every_widget_module_gets_the_shared_helpers():
    import widgets

    shared = (STATIC / "_shared.js").read_text()
    for cls in [widgets.AttentionPatterns, widgets.TokenView, widgets.LogitLens, widgets.InductionView,
                widgets.TrainingCurves, widgets.FeatureSteering, widgets.SuperpositionExplorer]:
        assert str(cls._esm).startswith(shared), cls.__name__
        assert "export default { render }" in str(cls._esm), cls.__name__


def test_js_modules_follow_the_conventions():
    mine = ["attention_patterns", "token_view", "logit_lens", "induction_view", "training_curves", "feature_steering"]
    for js in [STATIC / f"{name}.js" for name in mine]:
        src = js.read_text()
        assert src.startswith("/**") and "@typedef" in src.split("*/")[0], js.name
        assert "export default { render }" in src, js.name
        assert "innerHTML" not in src and "insertAdjacentHTML" not in src and "eval(" not in src, js.name
        assert "return () =>" in src, js.name  # render returns a cleanup function
        assert "// ---- shared helpers" not in src, f"{js.name} repeats the helpers of _shared.js"
        assert (STATIC / js.name.replace(".js", ".css")).exists()
