"""TinyWorld: determinism, the shape of the world and its evaluation sets, and no leakage of held-out
items into training text."""

import random
import re

import pytest

from course import tinyworld as tw


@pytest.fixture(scope="module")
def train_docs():
    return tw.corpus(20_000, seed=0)


@pytest.fixture(scope="module")
def train_lines(train_docs):
    return [line for d in train_docs for line in d.split("\n")]


# --- the world ---------------------------------------------------------------------------------

def test_world_sizes():
    assert len(set(tw.NAMES)) == len(tw.NAMES) >= 50
    assert len(tw.STATES) >= 30
    assert all(len(v["cities"]) >= 3 for v in tw.STATES.values())
    assert len(tw.FACTS) >= 30 and set(tw.FACTS.values()) <= set(tw.SPORTS)
    assert 4 <= len(tw.LANDMARKS) <= 6


def test_entity_words_are_unique_single_words():
    words = tw.NAMES + list(tw.STATES) + tw.CITIES + tw.CAPITALS + tw.SPORTS + list(tw.LANDMARKS)
    assert len(words) == len(set(words)), "a word used in two roles would make answers ambiguous"
    assert all(re.fullmatch(r"[A-Za-z]+", w) for w in words)


def test_generation_is_deterministic():
    assert tw.corpus(200, seed=3) == tw.corpus(200, seed=3)
    assert tw.corpus(200, seed=3) != tw.corpus(200, seed=4)
    it = tw.iter_documents(seed=3)
    assert [next(it) for _ in range(200)] == tw.corpus(200, seed=3)
    assert tw.generate_document(random.Random(5)) == tw.generate_document(random.Random(5))


def test_global_random_state_untouched():
    random.seed(0)
    before = random.random()
    random.seed(0)
    tw.corpus(50, seed=1)
    assert random.random() == before


def test_documents_are_nonempty_and_mixed(train_docs):
    assert all(d.strip() for d in train_docs)
    text = "\n".join(train_docs[:2000])
    for marker in ["calc:", "containing", " plays ", " to ", "Silverspan", "Once upon a time"]:
        assert marker in text


def test_no_segment_starts_with_an_entity(train_lines):
    # Entities must always be seen with their leading space, as in the evaluation prompts.
    entities = set(tw.NAMES) | set(tw.STATES) | set(tw.CITIES) | set(tw.CAPITALS) | set(tw.LANDMARKS)
    bad = [line for line in train_lines if line.split(" ", 1)[0].rstrip(",.") in entities]
    assert not bad, bad[:3]


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        tw.generate_document(random.Random(0), split="test")


# --- IOI -----------------------------------------------------------------------------------------

def test_ioi_templates():
    assert tw.N_IOI_TEMPLATES >= 10
    assert len(tw.HELD_OUT_TEMPLATES) >= 2
    assert len(tw.TRAIN_TEMPLATES) + len(tw.HELD_OUT_TEMPLATES) == tw.N_IOI_TEMPLATES


@pytest.mark.parametrize("held_out", [True, False])
def test_ioi_items(held_out):
    items = tw.ioi_dataset(200, seed=1, held_out=held_out)
    assert items == tw.ioi_dataset(200, seed=1, held_out=held_out)
    assert {it.order for it in items} == {"ABBA", "BABA"}
    for it in items:
        assert it.answer == " " + it.io and it.subject == " " + it.s and it.io != it.s
        assert it.prompt.endswith(" to")  # right before the indirect object
        # the subject is named twice, the indirect object once
        assert it.prompt.count(it.s) == 2 and it.prompt.count(it.io) == 1
        # corrupted: the second mention of S becomes IO, so IO is repeated and the answer is S
        assert it.corrupted_prompt.count(it.io) == 2 and it.corrupted_answer == it.subject
        assert len(it.corrupted_prompt.split()) == len(it.prompt.split())
        assert it.abc_prompt.count(it.c) == 1 and it.abc_prompt.count(it.s) == 1
        assert it.c not in (it.io, it.s)
        pair_held = tw._pair_key(it.io, it.s) in tw.HELD_OUT_NAME_PAIRS
        assert (it.template in tw.HELD_OUT_TEMPLATES) == held_out
        assert pair_held == held_out
        # the prompt is its template filled in
        filled = tw._ioi_fill(it.template, it.io, it.s, it.s, it.order, it.place, it.obj)
        assert filled == it.prompt


def _ioi_parsers():
    def rx(t):
        t = re.escape(t)
        for slot in ("A", "B", "S"):
            t = t.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>[A-Z][a-z]+)")
        return t.replace(re.escape("{place}"), r"\w+").replace(re.escape("{obj}"), r"\w+")
    intros = [re.compile(rx(t)) for t in tw.IOI_INTROS]
    actions = [re.compile(" " + rx(t)) for t in tw.IOI_ACTIONS]
    return intros, actions


def _parse_ioi(text, intros, actions):
    """(template, A, B, S) of each IOI sentence found in text."""
    out = []
    for i, irx in enumerate(intros):
        for m in irx.finditer(text):
            for a, arx in enumerate(actions):
                m2 = arx.match(text, m.end())
                if m2:
                    out.append((i * len(tw.IOI_ACTIONS) + a, m["A"], m["B"], m2["S"]))
    return out


def test_ioi_parser_finds_held_out_prompts():
    intros, actions = _ioi_parsers()
    for it in tw.ioi_dataset(50, seed=2, held_out=True):
        assert _parse_ioi(it.prompt, intros, actions) == [
            (it.template, *((it.io, it.s) if it.order == "ABBA" else (it.s, it.io)), it.s)]


def test_no_held_out_ioi_in_training(train_docs):
    intros, actions = _ioi_parsers()
    found = [p for d in train_docs for p in _parse_ioi(d, intros, actions)]
    assert len(found) > 5000  # the parser does see the training IOI sentences
    assert {t for t, *_ in found} == set(tw.TRAIN_TEMPLATES)
    leaked_pairs = [(a, b) for _, a, b, _ in found if tw._pair_key(a, b) in tw.HELD_OUT_NAME_PAIRS]
    assert not leaked_pairs, leaked_pairs[:5]
    # and the answer in training is always the indirect object
    for d in train_docs[:3000]:
        for line in d.split("\n"):
            for (t, a, b, s) in _parse_ioi(line, intros, actions):
                io = b if s == a else a
                assert line.endswith(f" to {io}.")


# --- geography ------------------------------------------------------------------------------------

def test_two_hop_datasets():
    trained, held = tw.two_hop_dataset(held_out=False), tw.two_hop_dataset(held_out=True)
    assert len(held) >= 10 and len(trained) >= 30
    assert not {x.city for x in trained} & {x.city for x in held}
    for x in trained + held:
        assert tw.CITY_STATE[x.city] == x.state and tw.STATES[x.state]["capital"] == x.capital
        assert x.prompt == f"The capital of the state containing {x.city} is" and x.answer == " " + x.capital
    assert len(tw.one_hop_dataset("city_state")) == len(tw.CITIES)
    assert len(tw.one_hop_dataset("state_capital")) == len(tw.STATES)
    with pytest.raises(ValueError):
        tw.one_hop_dataset("capital_state")


def test_no_held_out_composite_in_training(train_docs):
    text = "\n".join(train_docs)
    composites = re.findall(r"the state containing (\w+) is (\w+)", text)
    assert len(composites) > 1000
    assert not {c for c, _ in composites} & tw.HELD_OUT_COMPOSITE_CITIES
    assert all(tw.STATES[tw.CITY_STATE[c]]["capital"] == k for c, k in composites)
    # ...while the one-hop facts of held-out cities are trained
    for city in tw.HELD_OUT_COMPOSITE_CITIES:
        assert re.search(rf"\b{city} is (a city )?in {tw.CITY_STATE[city]}\.", text), city


def test_geography_in_training_is_true(train_docs):
    text = "\n".join(train_docs)
    for c, s in re.findall(r"(\w+) is (?:a city )?in (\w+)\.", text):
        assert tw.CITY_STATE[c] == s
    for s, k in re.findall(r"capital of (\w+) is (\w+)", text):
        if s != "the":
            assert tw.STATES[s]["capital"] == k


# --- facts ----------------------------------------------------------------------------------------

def test_facts(train_docs):
    items = tw.fact_dataset()
    assert len(items) == len(tw.FACTS)
    assert all(x.answer == " " + tw.FACTS[x.subject] and x.prompt.endswith(f"{x.subject} plays") for x in items)
    seen = re.findall(r"(\w+) plays (\w+)", "\n".join(train_docs))
    assert {p for p, _ in seen} == set(tw.FACTS)
    assert all(tw.FACTS[p] == s for p, s in seen)


# --- addition ------------------------------------------------------------------------------------

def test_addition_datasets():
    held, train = tw.addition_dataset(held_out=True), tw.addition_dataset(held_out=False)
    assert len(held) + len(train) == 90 * 90
    assert 0.05 < len(held) / (90 * 90) < 0.25
    for x in held[:50] + train[:50]:
        assert x.prompt == f"calc: {x.a} + {x.b} =" and x.answer == f" {x.a + x.b}" and x.total == x.a + x.b


def test_no_held_out_addition_in_training(train_docs):
    eqs = re.findall(r"calc: (\d+) \+ (\d+) = (\d+)", "\n".join(train_docs))
    assert len(eqs) > 10_000
    held = {(x.a, x.b) for x in tw.addition_dataset(held_out=True)}
    assert not {(int(a), int(b)) for a, b, _ in eqs} & held
    assert all(int(a) + int(b) == int(c) for a, b, c in eqs)


# --- repeats and landmarks -------------------------------------------------------------------------

def test_repeated_segments(train_docs):
    lines = [line for d in train_docs[:3000] for line in d.split("\n")]
    repeats = sum(a == b for a, b in zip(lines, lines[1:]))
    assert repeats > 100


def test_landmarks():
    items = tw.landmark_dataset(n_per_landmark=5, seed=0)
    assert len(items) == 5 * len(tw.LANDMARKS)
    for it in items:
        assert it.landmark in it.text
        others = [w for name, ws in tw.LANDMARKS.items() if name != it.landmark for w in ws[:1]]
        assert not any(re.search(rf"\b{w}\b", it.text) for w in others)  # each its own kind word
    for p in tw.landmark_prompts():
        assert not any(name in p for name in tw.LANDMARKS)
