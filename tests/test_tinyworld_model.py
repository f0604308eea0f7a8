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


# What the model does, and where it stops: the targets (IOI >= 95% on new sentence
# structures, two-hop and facts >= 90% in held-out phrasings) are NOT met by this model; these
# tests hold what it does measure, so the chapters' prose can neither overstate nor go stale.

def test_ioi_on_new_combinations_of_known_parts(measured):
    for order in ("ABBA", "BABA"):
        assert measured[f"ioi_recombined_accuracy_{order}"] >= 0.95, order
        assert measured[f"ioi_recombined_logit_diff_{order}"] >= 3.0, order


def test_ioi_on_new_sentence_structures_is_weak(measured):
    # 0.57 at the end of training (it was 0.72 at step 6000): structure, not the algorithm, was learned
    assert 0.5 <= measured["ioi_accuracy"] < 0.8
    assert max(measured["ioi_accuracy_by_frame"]) >= 0.85  # one held-out structure is handled


def test_two_hop_on_held_out_cities(measured):
    by_phrasing = measured["two_hop_held_out_by_phrasing"]
    assert len(by_phrasing) == 12
    from course import evalsets
    trained = [by_phrasing[p] for p in evalsets.TWO_HOP_TRAIN_PHRASINGS]
    held = [by_phrasing[p] for p in evalsets.TWO_HOP_HELD_OUT_PHRASINGS]
    assert sum(trained) / len(trained) >= 0.85 and max(trained) == 1.0  # composites it never saw
    assert max(held) < 0.5  # new phrasings of the question: not learned


def test_the_state_is_readable_and_swapping_it_moves_the_capital(measured):
    state = measured["two_hop_state"]
    assert state["probe_accuracy_by_site"]["blocks.0.hook_resid_pre@city"] >= 0.9  # the city's embedding
    swaps = state["swap_by_phrasing"]
    from course import evalsets
    assert min(swaps[p] for p in evalsets.TWO_HOP_TRAIN_PHRASINGS) >= 0.8, swaps


def test_facts(measured):
    assert measured["fact_accuracy_train_phrasing"] >= 0.95
    assert measured["fact_accuracy_held_out_phrasings"] < 0.2  # recorded: new phrasings fail


def test_facts_are_looked_up_at_the_subjects_token_by_mlp0(measured):
    table = measured["fact_trace"]["mlp"]
    subject = causal_tracing.POSITION_KINDS.index("subject")
    effects = [row[subject] for row in table["table"]]
    assert effects.index(max(effects)) == 0 and max(effects) >= 0.5
    assert table["n_prompts"] >= 30


def test_addition_on_held_out_pairs(measured):
    assert measured["addition_held_out_accuracy"] >= 0.95


def test_induction(measured):
    assert measured["max_induction_score"] >= 0.8
    assert measured["repeat_loss_gap"] >= 4.0


def test_writes_tinyworld_text(measured):
    assert measured["held_out_loss"] < 1.5
    assert all(len(s.split()) >= 5 for s in measured["samples"])


def test_answers_a_prompt_typed_by_hand(model):
    assert model.generate("The capital of Texas is", max_new_tokens=1) == "The capital of Texas is Austin"
