"""The shipped main model, `tinyworld` (trained on TinyWorld v4 with seed 1; the uniform average of the moving average
of its weights at steps 6,000, 8,000 and 10,000),
holds every claim of its card on prompts built from frames, phrasings, cities and pairs it never saw in training, including the
validation frames written to stand in for other people's; and its card is a fresh measurement.
The thresholds are the ones the chapters rely on; where the issue's targets are not met, the tests
hold what the model measures, so the prose can neither overstate nor go stale."""

import pytest

from course import causal_tracing, evalsets, evaluate, zoo

pytestmark = pytest.mark.skipif(zoo.card("tinyworld").get("data", {}).get("corpus") != "course.corpus_v4",
                                reason="the shipped tinyworld is not the TinyWorld v4 model")


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


# What the model does, and where it stops (issue 19's targets in the comments).

def test_ioi_on_new_sentence_structures(measured):
    # 10 held-out structures (target >= 0.95 for ABBA and BABA, logit diff >= 3): 0.950 overall, ABBA 0.948,
    # BABA 0.952, logit diff 8.9; the last moving average alone gave 0.91 (ABBA 0.90, BABA 0.92), seed 0 of
    # the same recipe 0.93, the v3 model 0.87, tinyworld-v2 0.84
    assert round(measured["ioi_accuracy"], 3) >= 0.95 and measured["ioi_logit_diff"] >= 8.5  # 475 of 500 (float32)
    assert 0.94 <= measured["ioi_accuracy_ABBA"] < 0.95 and measured["ioi_logit_diff_ABBA"] >= 8.5
    assert measured["ioi_accuracy_BABA"] >= 0.95 and measured["ioi_logit_diff_BABA"] >= 9.0
    by_frame = measured["ioi_accuracy_by_frame"]
    # nine at 0.9 or more; the worst, "{A} called {B} on the phone. The next day, {S} mailed a postcard to", 0.66
    assert sum(a >= 0.9 for a in by_frame) == 9 and 0.65 <= min(by_frame) < 0.7


def test_ioi_on_the_validation_frames(measured):
    # 8 more structures, written after training was designed: 0.92, ABBA 0.95 and BABA 0.89 (the last
    # moving average alone: 0.91, ABBA 0.975, BABA 0.84; seed 0: 0.80, ABBA 0.71; the v3 model 0.875;
    # tinyworld-v2 0.50, chance). The seed was chosen with these figures in view, so they read
    # optimistic; the held-out and fresh frames are the unbiased reading.
    assert 0.9 <= measured["validation_ioi_accuracy"] < 0.95 and measured["validation_ioi_logit_diff"] >= 8.0
    assert round(measured["validation_ioi_accuracy_ABBA"], 3) >= 0.95 and 0.85 <= measured["validation_ioi_accuracy_BABA"] < 0.9


def test_ioi_on_the_fresh_frames(model):
    # 12 structures written after every corpus was fixed (evalsets.FRESH_IOI_FRAMES), 480 prompts:
    # 0.971 (ABBA 0.942, BABA 1.000), logit diff 9.4, IO the top prediction 0.90; the worst frame 0.80
    # (the last moving average alone: 0.969, top-1 0.88, worst 0.825; seed 0: 0.871, ABBA 0.779, top-1 0.51,
    # worst frame 0.55; the v3 model: 0.831, worst frame 0.375)
    fresh = evaluate.fresh_ioi_metrics(model)
    assert fresh["fresh_ioi_accuracy"] >= 0.95 and fresh["fresh_ioi_logit_diff"] >= 9.0
    assert 0.9 <= fresh["fresh_ioi_accuracy_ABBA"] < 0.95 and fresh["fresh_ioi_accuracy_BABA"] >= 0.99
    assert 0.9 <= fresh["fresh_ioi_top1"] < 0.95 and 0.75 <= min(fresh["fresh_ioi_accuracy_by_frame"]) < 0.85


def test_ioi_on_new_combinations_of_known_parts(measured):
    for order in ("ABBA", "BABA"):
        assert measured[f"ioi_recombined_accuracy_{order}"] >= 0.97, order
        assert measured[f"ioi_recombined_logit_diff_{order}"] >= 11.0, order


def test_two_hop_on_held_out_cities(measured):
    from course import evalsets
    assert measured["two_hop_trained_accuracy"] >= 0.99  # training cities' composites (0.997)
    by_phrasing = measured["two_hop_held_out_by_phrasing"]
    assert len(by_phrasing) == 12
    # target: >= 0.9 in every phrasing. 9 of 12 reach it (0.933 over all 12; the last moving average alone
    # 0.919, seed 0 0.87, the v3 model 0.78); the worst are "The capital of the state that has {c} is" (0.71),
    # "{c} lies in a state. The capital of that state is" and "{c} is in a state whose capital is" (0.77 each)
    assert measured["two_hop_held_out_accuracy"] >= 0.93
    assert sum(v >= 0.9 for v in by_phrasing.values()) == 9 and 0.7 <= min(by_phrasing.values()) < 0.75
    held = [by_phrasing[p] for p in evalsets.TWO_HOP_HELD_OUT_PHRASINGS]
    assert sum(held) / len(held) > 0.85  # 0.87 (seed 0: 0.78, the v3 model: 0.65, tinyworld-v2: 0.53)
    # the validation phrasings: one reaches 0.9 ("The seat of government for the state containing {c}
    # is", 0.97), four are at 0; 0.19 over the six
    validation = measured["validation_two_hop_by_phrasing"]
    assert sum(v >= 0.9 for v in validation.values()) == 1 and sum(v == 0 for v in validation.values()) == 4
    assert measured["validation_two_hop_accuracy"] < 0.3


def test_the_state_is_readable_and_swapping_it_moves_the_capital(measured):
    state = measured["two_hop_state"]
    probes = state["probe_accuracy_by_site"]
    assert probes["blocks.0.hook_resid_pre@city"] >= 0.95  # the city's embedding already says its state
    assert probes["blocks.1.hook_resid_pre@city"] >= 0.75  # and the city's position keeps most of it (0.76)
    assert state["site"] == "blocks.3.hook_resid_post@last"
    assert 0.85 <= state["probe_accuracy"] < 0.9  # at the last token after the last layer (target 0.9)
    assert min(state["swap_by_phrasing"].values()) >= 0.9  # the target: >= 0.8 in every phrasing


def test_facts(model, measured):
    # target >= 0.95 in held-out phrasings: top-1 0.64 (0.84 ranked among the 12 sports); seed 0 0.59, the
    # v3 model 0.56, tinyworld-v2 0.23
    assert 0.6 <= measured["fact_accuracy_held_out_phrasings"] < 0.95
    assert measured["fact_accuracy_among_sports_held_out_phrasings"] >= 0.83
    # Most top-1 misses are the word the corpus writes first: "Ask {n} what {p} plays, and the answer
    # is" -> " always" for all 40 people (the corpus says "the answer is always poker"), "usually
    # plays" -> " a lot of". The first sport named within 4 greedy tokens is right for all 160 (the
    # last moving average alone: 153 of 160)
    assert measured["fact_first_sport_held_out_phrasings"] == 1.0
    answer_is = evalsets.FACT_HELD_OUT_PHRASINGS[3]
    assert "the answer is" in answer_is and evaluate.fact_by_new_phrasing(model, [answer_is])[answer_is] == 0
    assert evaluate.fact_first_sport_accuracy(model, [answer_is]) == 1
    # 4 of 6 validation phrasings at 0.95 or more, the worst ("On the weekend you will find {n} out playing")
    # 0.43 (the last moving average alone: 3 of 6, the worst 0.15)
    validation = measured["validation_fact_by_phrasing"]
    assert sum(v >= 0.95 for v in validation.values()) == 4 and 0.4 <= min(validation.values()) < 0.45


def test_a_learners_own_phrasings_are_scored_like_the_cards(model, measured):
    # the helpers that score the validation phrasings take any list: given phrasings the card also
    # measures, they agree with it
    train = evalsets.FACT_TRAIN_PROMPT
    assert evaluate.fact_by_new_phrasing(model, [train])[train] == pytest.approx(measured["fact_accuracy_train_phrasing"])
    question = evalsets.TWO_HOP_HELD_OUT_PHRASINGS[0]
    assert (evaluate.two_hop_by_new_phrasing(model, [question])[question]
            == pytest.approx(measured["two_hop_held_out_by_phrasing"][question]))
    with pytest.raises(ValueError, match="or a list of phrasings"):
        evalsets.fact_dataset("validation")
    # a phrasing of one's own that misses its slot, or names another, is refused with the slot to write
    with pytest.raises(ValueError, match=r"it has no \{n\}; write \{n\} where the person goes"):
        evaluate.fact_by_new_phrasing(model, ["My friend plays"])
    with pytest.raises(ValueError, match=r"it has \{city\}; write \{c\} where the city goes"):
        evaluate.two_hop_by_new_phrasing(model, ["{city} is in a state whose capital is"])


def test_facts_are_looked_up_at_the_subject_by_mlp0(measured):
    # Traced on the held-out phrasings the model answers right: restoring MLP0's output at the subject's
    # token restores 0.87 of the answer, at the last token 0.12; the peak of the layers x positions
    # table is there (the target; seed 0: 0.68). The v3 model looked the fact up at the last token.
    table = measured["fact_trace"]["mlp"]
    subject = causal_tracing.POSITION_KINDS.index("subject")
    last = causal_tracing.POSITION_KINDS.index("last")
    rows = table["table"]
    peak = max(((layer, kind) for layer in range(len(rows)) for kind in range(len(rows[0]))),
               key=lambda lk: rows[lk[0]][lk[1]])
    assert peak == (0, subject) and rows[0][subject] >= 0.85 and rows[0][last] < 0.15
    assert table["n_prompts"] >= 30


def test_addition_on_held_out_pairs(measured):
    assert measured["addition_held_out_accuracy"] >= 0.99


def test_induction(measured):
    assert measured["max_induction_score"] >= 0.95
    assert measured["repeat_loss_gap"] >= 7.0


def test_writes_tinyworld_text(measured):
    assert measured["held_out_loss"] < 1.35  # 1.32 nats on fresh v4 documents (random-word frames included)
    assert all(len(s.split()) >= 5 for s in measured["samples"])


def test_answers_a_prompt_typed_by_hand(model):
    assert model.generate("The capital of Texas is", max_new_tokens=1) == "The capital of Texas is Austin"


def test_card_reports_what_more_training_bought(model):
    rows = zoo.card("tinyworld")["what_training_buys"]
    assert [r["step"] for r in rows] == [2000, 4000, 6000, 8000, 10000]
    assert rows[-1]["validation_ioi_accuracy"] > rows[0]["validation_ioi_accuracy"] + 0.3
    # induction forms between 4k and 6k steps in the averaged weights (in the raw ones between 2k and 4k:
    # an average over the last 1,000 steps lags them)
    assert rows[1]["repeat_loss_gap"] < 1.0 < 4.0 < rows[2]["repeat_loss_gap"]
    assert rows[0]["addition_held_out_accuracy"] < 0.5 < 0.95 <= rows[-1]["addition_held_out_accuracy"]
    assert set(zoo.card("tinyworld")["how_measured"]) >= {"ioi_*", "fresh_ioi_*", "validation_*", "two_hop_state",
                                                          "fact_trace"}
    assert zoo.card("tinyworld")["weights"].startswith("moving average of the weights (course.averaging), decay 0.999")
    assert "the uniform average of that moving average at steps 6,000, 8,000, 10,000" in zoo.card("tinyworld")["weights"]
