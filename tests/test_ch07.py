"""Chapter 07's claims about the shipped attn-only-2l checkpoint series: it passes the counting
baselines in order before the induction bump, and the shipped LLC curve (course/data/llc_curve.json)
is reproduced by a fresh estimate with its recorded settings. The numbers the chapter's prose states
are asserted here too, and the worked answers of its open exercises are run."""

from __future__ import annotations

import json

import pytest
import torch

from course import evaluate, zoo
from course.ngrams import NGramModel, model_loss
from course.exercises import reveal
from solutions import ch07_dynamics as sol
from solutions.ch07_dynamics import LLC_CURVE_PATH, LLC_SETTINGS, llc_at, llc_data, tinyworld_rows

NAME = "attn-only-2l"


@pytest.fixture(scope="module")
def series():
    return zoo.load_series(NAME)


@pytest.fixture(scope="module")
def card():
    return zoo.card(NAME)


@pytest.fixture(scope="module")
def bump(card):
    return evaluate.induction_bump(card["series"]["checkpoints"])


@pytest.fixture(scope="module")
def shipped():
    return json.loads(LLC_CURVE_PATH.read_text())


def test_the_bump_is_where_the_chapter_says(bump, card):
    assert (bump["start"], bump["end"]) == (1134, 3662)
    assert bump["drop_fraction"] > 0.99 and bump["log_span_fraction"] < 0.2  # "99.5% ... less than a fifth"
    c = {p["step"]: p for p in card["series"]["checkpoints"]}
    assert max(abs(c[s]["repeat_loss_gap"]) for s in c if s <= 1134) < 0.05
    assert [round(c[s]["repeat_loss_gap"], 2) for s in (1676, 2477)] == [0.11, 6.42]
    assert [round(c[s]["max_induction_score"], 2) for s in (1676, 2477)] == [0.05, 0.79]
    assert [round(c[s]["max_previous_token_score"], 2) for s in (1134, 3662)] == [0.19, 0.76]


def test_checkpoints_pass_unigram_then_bigram_then_trigram_before_the_bump(series, card, bump):
    tok = next(iter(series.values())).tokenizer
    mix, d_vocab = card["data"]["mix"], card["config"]["d_vocab"]
    fit = tinyworld_rows(tok, mix, seed=1, n_seqs=1500, seq_len=128).tolist()
    held = tinyworld_rows(tok, mix, seed=2024, n_seqs=32, seq_len=128)
    base = {n: NGramModel(n, d_vocab, k=0.01).fit(fit).loss(held.tolist(), skip=2) for n in (1, 2, 3)}
    assert base[1] > base[2] > base[3]
    steps = sorted(series)
    loss = {s: model_loss(series[s], held, skip=2) for s in steps}
    first_below = {n: next(s for s in steps if loss[s] < base[n]) for n in (1, 2, 3)}
    assert first_below[1] < first_below[2] <= first_below[3] < bump["start"]
    assert first_below == {1: 109, 2: 238, 3: 238}
    assert loss[steps[0]] > base[1]  # the first checkpoint is worse than counting tokens
    # the loss takes a second drop inside the bump, beyond what the trigram level explains: 1.75 -> 1.32
    assert loss[bump["end"]] < loss[bump["start"]] - 0.4
    assert abs(loss[bump["start"]] - 1.75) < 0.01 and abs(loss[bump["end"]] - 1.32) < 0.01
    assert [round(loss[351], 2), round(loss[1676], 2)] == [1.98, 1.70]  # the plateau's loss barely moves


def test_shipped_curve_records_its_settings_and_every_checkpoint(shipped, series):
    assert shipped["settings"] == json.loads(json.dumps(LLC_SETTINGS))
    assert [p["step"] for p in shipped["points"]] == sorted(series)
    assert all(len(p["chains"]) == LLC_SETTINGS["sgld"]["n_chains"] for p in shipped["points"])


def test_shipped_curve_has_the_stages_the_chapter_describes(shipped, bump):
    llc = {p["step"]: p["llc"] for p in shipped["points"]}
    before = [s for s in llc if s < bump["start"]]
    assert max(llc[s] for s in before) > 1.5 * llc[bump["start"]]  # rises on n-grams, dips on the plateau
    assert llc[2477] > 1.5 * llc[bump["start"]]  # jumps with the bump
    assert llc[max(llc)] > llc[bump["start"]]
    assert all(v < 10 for s, v in llc.items() if s < 100)  # no LLC to speak of while the loss still falls fast
    assert min(v for s, v in llc.items() if s >= bump["end"]) > llc[bump["start"]]  # stays above the plateau
    assert llc[max(llc)] == max(v for s, v in llc.items() if s > bump["start"])  # ends at its highest since


def test_shipped_curve_numbers_the_prose_states(shipped):
    llc = {p["step"]: p["llc"] for p in shipped["points"]}
    early = [v for s, v in llc.items() if s < 100]
    assert [round(min(early)), round(max(early))] == [-14, 7]
    assert max((s for s in llc if s < 1134), key=llc.get) == 161 and round(llc[161]) == 87
    plateau = [351, 519, 767, 1134, 1676]
    assert all(llc[a] > llc[b] for a, b in zip(plateau, plateau[1:])) and [round(llc[351]), round(llc[1676])] == [57, 20]
    steps = sorted(llc)
    rises = {(a, b): llc[b] - llc[a] for a, b in zip(steps, steps[1:]) if a >= 161}
    assert max(rises, key=rises.get) == (1676, 2477) and round(llc[2477]) == 49
    assert [round(llc[3662]), round(llc[8000])] == [37, 52] and min(llc[s] for s in steps if s >= 3662) == llc[3662]
    spread = {p["step"]: abs(p["chains"][0] - p["chains"][1]) / p["llc"] for p in shipped["points"] if p["llc"] > 10}
    assert 0.25 < max(spread.values()) < 0.3 and max(spread, key=spread.get) == 1676  # "more than a quarter"


def test_fresh_llc_estimates_agree_with_the_shipped_curve(series, shipped):
    """Before (the bump's start), at (inside it) and after (the last checkpoint): a fresh estimate
    with the recorded settings must keep the curve's ordering, and land within 20% of it."""
    torch.set_num_threads(1)
    points = {p["step"]: p for p in shipped["points"]}
    probe = [1134, 2477, 8000]
    data = llc_data(series[8000], zoo.card(NAME)["data"]["mix"])
    fresh = {s: llc_at(series[s], data)["llc"] for s in probe}
    for s in probe:
        assert fresh[s] == pytest.approx(points[s]["llc"], rel=0.2), (s, fresh[s], points[s]["llc"])
    assert fresh[1134] < fresh[2477] and fresh[1134] < fresh[8000]


# -- the open exercises' worked answers ------------------------------------------------------------


def test_worked_bump_by_kind():
    kinds = sol.worked_bump_by_kind()
    drop = {kind: row["drop"] for kind, row in kinds.items()}
    assert max(drop, key=drop.get) == "repeat" and drop["repeat"] > 1  # copying pays most on repeated text
    assert sorted(drop, key=drop.get)[-2] == "ioi" and drop["ioi"] > 0.2  # names recur within a document
    assert all(abs(drop[k]) < 0.1 for k in ("geo", "fact", "calc", "landmark"))
    weighted = {kind: row["weighted drop"] for kind, row in kinds.items()}
    assert weighted["repeat"] > 0.5 * sum(weighted.values())  # more than half of the drop


def test_worked_previous_token_head():
    rows = sol.worked_previous_token_head()
    prev = {s: r["L0H3 previous-token"] for s, r in rows.items()}
    ind = {s: r["best L1 induction"] for s, r in rows.items()}
    assert all(ind[s] < 0.1 for s in rows if s <= 1676) and ind[2477] > 0.7  # the induction heads: in one interval
    assert 0.1 < prev[161] and all(prev[s] < 0.2 for s in rows if s <= 1676)  # the previous-token head creeps up early
    assert prev[2477] < 0.5 < 0.8 < prev[8000]  # and sharpens with and after the induction heads


@pytest.mark.slow
def test_worked_llc_settings():
    torch.set_num_threads(1)
    table = sol.worked_llc_settings()
    assert list(table["shipped settings"]) == [161, 1134, 2477]
    for label, llc in table.items():
        assert llc[161] > llc[2477] > llc[1134] > 0, label  # the shape survives every setting
        assert 1.6 < llc[2477] / llc[1134] < 2.6, label
    ratios = [max(v, s) / min(v, s) for label, llc in table.items() if label != "shipped settings"
              for v, s in zip(llc.values(), table["shipped settings"].values())]
    assert 1.2 < min(ratios) and max(ratios) < 3.2  # "from a quarter to a factor of three"


def test_reveal_prints_each_worked_answer(capsys):
    assert set(sol.WORKED) == {"bump_by_kind", "previous_token_head", "llc_settings"}
    for name in sol.WORKED:
        reveal(name)
        assert f"def worked_{name}(" in capsys.readouterr().out
