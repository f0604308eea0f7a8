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
        # a probe's accuracy at a site where it is near chance may move by a prompt or two
        assert a == pytest.approx(b, abs=0.01 if "probe_accuracy" in path else 2e-3), path
    else:
        assert a == b, path


def test_card_is_a_fresh_measurement(measured):
    _close(zoo.card("tinyworld")["metrics"], measured)


# What the model does, and where it stops. The targets (IOI >= 95% on new sentence
# structures, two-hop and facts >= 90% in held-out phrasings) are NOT all met by this model; these
# tests hold what it measures, so the chapters' prose can neither overstate nor go stale.

def test_ioi_on_new_sentence_structures(measured):
    # 10 structures written for evaluation: 0.84 overall (0.40-1.00 by frame); the earlier corpus gave 0.57
    assert measured["ioi_accuracy"] >= 0.8 and measured["ioi_logit_diff"] >= 4.0
    for order in ("ABBA", "BABA"):
        assert measured[f"ioi_accuracy_{order}"] >= 0.75 and measured[f"ioi_logit_diff_{order}"] >= 3.0, order
    by_frame = measured["ioi_accuracy_by_frame"]
    assert sum(a >= 0.9 for a in by_frame) >= 5 and min(by_frame) < 0.5  # half the frames solved, one not


def test_ioi_on_new_combinations_of_known_parts(measured):
    for order in ("ABBA", "BABA"):
        assert measured[f"ioi_recombined_accuracy_{order}"] >= 0.95, order
        assert measured[f"ioi_recombined_logit_diff_{order}"] >= 5.0, order


def test_two_hop_on_held_out_cities(measured):
    from course import evalsets
    by_phrasing = measured["two_hop_held_out_by_phrasing"]
    assert len(by_phrasing) == 12
    trained = [by_phrasing[p] for p in evalsets.TWO_HOP_TRAIN_PHRASINGS]
    held = [by_phrasing[p] for p in evalsets.TWO_HOP_HELD_OUT_PHRASINGS]
    assert sum(trained) / len(trained) >= 0.8  # composites it never saw, in phrasings it was trained on
    assert 0.3 <= min(held) and max(held) < 0.9  # new phrasings: partly (0.35-0.74), not the 90% target


def test_the_state_is_readable_and_swapping_it_moves_the_capital(measured):
    from course import evalsets
    state = measured["two_hop_state"]
    probes = state["probe_accuracy_by_site"]
    assert probes["blocks.0.hook_resid_pre@city"] >= 0.95  # the city's embedding already says its state
    assert probes["blocks.1.hook_resid_pre@last"] >= 0.9  # and after layer 0 the last token holds it
    swaps = state["swap_by_phrasing"]
    assert state["site"] == "blocks.3.hook_resid_post@last"
    assert min(swaps[p] for p in evalsets.TWO_HOP_TRAIN_PHRASINGS) >= 0.85, swaps
    held = [swaps[p] for p in evalsets.TWO_HOP_HELD_OUT_PHRASINGS]
    assert sum(x >= 0.9 for x in held) == 3 and min(held) >= 0.5, swaps  # 3 of 4 new phrasings follow the swap


def test_facts(measured):
    # Known in whole forms ("The sport that Mary loves is") but weak in new phrasings: 0.23 top-1
    # (0.33 ranked first among the 12 sports); the previous corpus gave 0.04
    assert 0.15 <= measured["fact_accuracy_held_out_phrasings"] < 0.5
    assert measured["fact_accuracy_among_sports_held_out_phrasings"] >= measured["fact_accuracy_held_out_phrasings"]


def test_facts_are_looked_up_at_the_subjects_token_by_mlp0(measured):
    # traced on the held-out phrasings the model answers right
    table = measured["fact_trace"]["mlp"]
    subject = causal_tracing.POSITION_KINDS.index("subject")
    last = causal_tracing.POSITION_KINDS.index("last")
    effects = [row[subject] for row in table["table"]]
    assert effects.index(max(effects)) == 0 and max(effects) >= 0.8
    assert table["n_prompts"] >= 30
    attn = measured["fact_trace"]["attn"]["table"]
    assert max(range(len(attn)), key=lambda layer: attn[layer][last]) == 2  # layer 2's attention moves it to the end


def test_addition_on_held_out_pairs(measured):
    assert measured["addition_held_out_accuracy"] >= 0.95


def test_induction(measured):
    assert measured["max_induction_score"] >= 0.8
    assert measured["repeat_loss_gap"] >= 4.0


def test_writes_tinyworld_text(measured):
    assert measured["held_out_loss"] < 1.3
    assert all(len(s.split()) >= 5 for s in measured["samples"])


def test_answers_a_prompt_typed_by_hand(model):
    assert model.generate("The capital of Texas is", max_new_tokens=1) == "The capital of Texas is Austin"


def test_card_reports_what_more_training_bought(model):
    rows = zoo.card("tinyworld")["what_training_buys"]
    assert [r["step"] for r in rows] == [2000, 4000, 6000, 8000, 10000]
    assert rows[-1]["ioi_accuracy"] > rows[0]["ioi_accuracy"] + 0.15
    assert rows[0]["repeat_loss_gap"] < 1.0 < 4.0 < rows[-1]["repeat_loss_gap"]  # induction forms between 4k and 6k steps
    assert rows[0]["addition_held_out_accuracy"] < 0.5 < 0.95 <= rows[-1]["addition_held_out_accuracy"]
    assert set(zoo.card("tinyworld")["how_measured"]) >= {"ioi_*", "two_hop_state", "fact_trace"}
