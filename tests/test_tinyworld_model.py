"""The shipped main model, `tinyworld` (trained on TinyWorld v2), holds every claim of its card on
prompts built from frames, phrasings, cities and pairs it never saw in training; and its card is a
fresh measurement. The thresholds are the ones the chapters rely on."""

import pytest

from course import causal_tracing, evaluate, zoo

pytestmark = pytest.mark.skipif(zoo.card("tinyworld").get("data", {}).get("corpus") != "course.corpus",
                                reason="the shipped tinyworld is not yet the TinyWorld v2 model")


@pytest.fixture(scope="module")
def model():
    return zoo.load("tinyworld")


@pytest.fixture(scope="module")
def measured(model):
    return evaluate.tinyworld_metrics(model)


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=2e-3), path
    else:
        assert a == b, path


def test_card_is_a_fresh_measurement(measured):
    _close(zoo.card("tinyworld")["metrics"], measured)


def test_ioi_on_held_out_frames(measured):
    for order in ("ABBA", "BABA"):
        assert measured[f"ioi_accuracy_{order}"] >= 0.95, order
        assert measured[f"ioi_logit_diff_{order}"] >= 3.0, order
    assert min(measured["ioi_accuracy_by_frame"]) >= 0.8


def test_two_hop_in_every_phrasing(measured):
    by_phrasing = measured["two_hop_held_out_by_phrasing"]
    assert len(by_phrasing) == 12
    assert min(by_phrasing.values()) >= 0.9, by_phrasing


def test_the_state_is_computed_and_used(measured):
    state = measured["two_hop_state"]
    assert state["probe_accuracy"] >= 0.9, state["site"]
    assert min(state["swap_by_phrasing"].values()) >= 0.8, state["swap_by_phrasing"]


def test_facts_in_held_out_phrasings(measured):
    assert measured["fact_accuracy_held_out_phrasings"] >= 0.95


def test_facts_are_recalled_at_the_subjects_token_in_an_mlp(measured):
    table = measured["fact_trace"]["mlp"]
    subject = causal_tracing.POSITION_KINDS.index("subject")
    effects = [row[subject] for row in table["table"]]
    assert max(effects) >= 0.3  # restoring one MLP at the subject brings back a third of the answer
    assert table["n_prompts"] >= 60


def test_addition_on_held_out_pairs(measured):
    assert measured["addition_held_out_accuracy"] >= 0.95


def test_induction(measured):
    assert measured["max_induction_score"] >= 0.8
    assert measured["repeat_loss_gap"] >= 4.0


def test_writes_tinyworld_text(measured):
    assert measured["held_out_loss"] < 1.5
    assert all(len(s.split()) >= 8 for s in measured["samples"])


def test_answers_a_prompt_typed_by_hand(model):
    assert model.generate("The capital of Texas is", max_new_tokens=1) == "The capital of Texas is Austin"
