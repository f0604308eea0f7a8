"""TinyWorld v2, v3 and v4: the world, the compositional corpora, and above all that nothing held
out for evaluation (IOI frames and name pairs, two-hop composites and phrasings, fact phrasings,
addition pairs, and the validation frames and phrasings) ever appears in any training stream.
Every test that takes ``text`` runs on all three corpora."""

import hashlib
import importlib
import random
import re

import pytest

from course import corpus, corpus_v1, corpus_v3, corpus_v4, evalsets, world


@pytest.fixture(scope="module", params=["course.corpus", "course.corpus_v3", "course.corpus_v4"])
def generator(request):
    return importlib.import_module(request.param)


@pytest.fixture(scope="module")
def docs(generator):
    return generator.documents(20_000, seed=0)


@pytest.fixture(scope="module")
def text(docs):
    return "\n".join(docs)


def test_world_sizes():
    assert len(set(world.NAMES)) == len(world.NAMES) >= 50
    assert len(world.STATES) >= 30 and all(len(v["cities"]) >= 3 for v in world.STATES.values())
    assert len(world.FACTS) >= 30 and set(world.FACTS.values()) <= set(world.SPORTS)
    assert set(world.PETS) == set(world.FACTS) and set(world.PETS.values()) <= set(world.ANIMALS)


def test_generation_is_deterministic_and_leaves_global_random_alone():
    state = random.getstate()
    assert corpus.documents(200, seed=3) == corpus.documents(200, seed=3) != corpus.documents(200, seed=4)
    it = corpus.iter_documents(seed=3)
    assert [next(it) for _ in range(200)] == corpus.documents(200, seed=3)
    assert random.getstate() == state


def test_every_kind_of_segment_appears(text):
    assert text.count("calc: ") > 5000
    assert len(re.findall(r"\b(gave|handed|passed|sent|showed|offered)\b", text)) > 2000
    assert "The capital of the state containing" in text and ", Texas" in text
    for landmark in world.LANDMARKS:
        assert landmark in text


def test_unknown_mix_kind_is_refused():
    with pytest.raises(ValueError, match="unknown segment kinds"):
        corpus.generate_document(random.Random(0), mix={"poetry": 1.0})


def test_ioi_is_compositional(text):
    # many distinct frames, not a few dozen templates: count distinct name-free skeletons
    skeletons = set()
    for line in text.split("\n"):
        for sent in re.split(r"(?<=\.) ", line):
            if re.search(r" (to|for|at)$", sent.rsplit(" ", 1)[0] if " " in sent else sent):
                skeletons.add(re.sub("|".join(world.NAMES), "N", sent))
    assert len(skeletons) > 3000


@pytest.mark.parametrize("marker", evalsets.IOI_HELD_OUT_MARKERS + evalsets.VALIDATION_IOI_MARKERS
                         + evalsets.FRESH_IOI_MARKERS)
def test_held_out_ioi_frames_never_in_training(text, marker):
    assert not re.search(rf"\b{marker}\b", text)


def test_held_out_name_pairs_never_together_in_training_ioi():
    rng = random.Random(0)
    for _ in range(20_000):
        io, s = corpus.train_name_pair(rng)
        assert evalsets.pair_key(io, s) not in evalsets.HELD_OUT_NAME_PAIRS


def test_held_out_two_hop_phrasings_and_composites_never_in_training(text):
    for phrasing in evalsets.TWO_HOP_HELD_OUT_PHRASINGS + evalsets.VALIDATION_TWO_HOP_PHRASINGS:
        skeleton = re.escape(phrasing).replace(re.escape("{c}"), r"\w+")
        assert not re.search(skeleton, text), phrasing
    for line in text.split("\n"):
        for city in evalsets.HELD_OUT_CITIES:
            if re.search(rf"\b{city}\b", line):
                capital = world.STATES[world.CITY_STATE[city]]["capital"]
                segment_sentences = [s for s in re.split(r"(?<=\.) ", line) if city in s]
                assert not any(capital in s for s in segment_sentences), (city, line)


def test_held_out_fact_phrasings_never_in_training(text):
    for phrasing in evalsets.FACT_HELD_OUT_PHRASINGS + evalsets.VALIDATION_FACT_PHRASINGS:
        skeleton = re.escape(phrasing).replace(re.escape("{n}"), r"\w+").replace(re.escape("{p}"), r"\w+")
        assert not re.search(skeleton, text), phrasing


def test_two_hop_questions_come_in_many_phrasings_including_the_measured_ones(generator):
    rng = random.Random(0)
    skeletons = {generator.two_hop_question(rng, "Dallas").replace("Dallas", "{c}") for _ in range(20_000)}
    assert len(skeletons) > 100
    assert set(evalsets.TWO_HOP_TRAIN_PHRASINGS) <= skeletons
    assert not skeletons & set(evalsets.TWO_HOP_HELD_OUT_PHRASINGS + evalsets.VALIDATION_TWO_HOP_PHRASINGS)


def _sports_with_people(text: str) -> list[tuple[set, str]]:
    """(the people a sentence is about, a sport it names) for every sport in the text. A sentence
    that names nobody ("He plays golf.") is about the last ones named."""
    sport = re.compile(rf"\b({'|'.join(world.SPORTS)})\b")
    name = re.compile(rf"\b({'|'.join(world.NAMES)})\b")
    found = []
    lines = [line for line in text.split("\n") if line.endswith(".")]  # not the random runs of words (induction)
    for line in lines:
        last_named = set()
        for sentence in re.split(r"(?<=\.)\s", line):
            people = set(name.findall(sentence)) or last_named
            found += [(people, played) for played in sport.findall(sentence)]
            last_named = people
    return found


def test_fact_people_always_play_their_own_sport(generator, text):
    found = _sports_with_people(text)
    if generator is not corpus_v4:  # only fact people play sports, every person a sentence names
        assert len(found) > 3000
        assert all(people and all(world.FACTS.get(p) == played for p in people) for people, played in found)
        return
    # v4: everyone else plays too, a random sport each time; checked on sentences about one person
    single = [(next(iter(people)), played) for people, played in found if len(people) == 1]
    facts = [(p, s) for p, s in single if p in world.FACTS]
    assert len(facts) > 3000 and all(world.FACTS[p] == s for p, s in facts)
    others = [(p, s) for p, s in single if p not in world.FACTS]
    assert len(others) > 3000 and len({s for _, s in others}) == len(world.SPORTS)


def test_held_out_addition_pairs_never_in_training(text):
    for a, b in re.findall(r"calc: (\d+) \+ (\d+) =", text):
        assert evalsets.pair_key(int(a), int(b)) not in evalsets.HELD_OUT_ADDITION_PAIRS


def test_facts_in_training_are_the_worlds_facts(text):
    for name, sport in re.findall(rf"\b({'|'.join(world.FACT_PEOPLE)}) plays ({'|'.join(world.SPORTS)})\b", text):
        assert world.FACTS[name] == sport


def test_ioi_evaluation_items():
    items = evalsets.ioi_dataset(200, seed=1)
    assert items == evalsets.ioi_dataset(200, seed=1)
    assert {it.template for it in items} == set(range(len(evalsets.IOI_HELD_OUT_FRAMES)))
    assert sum(it.order == "ABBA" for it in items) == 100
    for it in items:
        assert evalsets.pair_key(it.io, it.s) in evalsets.HELD_OUT_NAME_PAIRS
        assert it.prompt.count(it.s) == 2 and it.prompt.count(it.io) == 1
        assert it.corrupted_prompt.count(it.io) == 2 and it.abc_prompt.count(it.c) == 1


def test_two_hop_and_fact_evaluation_items():
    held = evalsets.two_hop_dataset(True, "all")
    assert len(held) == len(world.STATES) * (len(evalsets.TWO_HOP_TRAIN_PHRASINGS) + len(evalsets.TWO_HOP_HELD_OUT_PHRASINGS))
    assert {x.city for x in held} == set(evalsets.HELD_OUT_CITIES)
    assert all(world.STATES[world.CITY_STATE[x.city]]["capital"] == x.capital for x in held)
    with pytest.raises(ValueError, match="or a list of phrasings"):
        evalsets.two_hop_dataset(True, "some")
    own = evalsets.two_hop_dataset(True, ["Where is {c}? Its state capital is"])  # a learner's own phrasing
    assert [x.prompt for x in own[:1]] == [f"Where is {held[0].city}? Its state capital is"]
    assert [x.answer for x in own] == [x.answer for x in held[:len(own)]] and all(x.held_out_phrasing for x in own)
    facts = evalsets.fact_dataset("held_out")
    assert len(facts) == len(world.FACTS) * len(evalsets.FACT_HELD_OUT_PHRASINGS)


def test_first_corpus_still_reproducible():
    # The shipped tokenizer and attn-only-2l were trained on it: its text must never change. The
    # hash was taken from the original generator (course/tinyworld.py) before it was split up.
    joined = "\n".join(corpus_v1.documents(500, seed=0)).encode()
    assert hashlib.sha256(joined).hexdigest() == "b6bc9beb96c0f67e8baed262d106d8882aee3771f1632d5845578e9f876f3401"


def test_third_corpus_reproduces_the_stream_tinyworld_was_trained_on():
    # tinyworld's recipe regenerates its training text from corpus_v3: the text must never change
    # (the hash of the generator as it trained the shipped model; course.corpus, v2, is pinned the
    # same way, since corpus_v3 and the tokenizer are built from it)
    joined = "\n".join(corpus_v3.documents(500, seed=0)).encode()
    assert hashlib.sha256(joined).hexdigest() == "d0117b0e2280c7138a468a3fe44621c03116b1999d8f6795ed4d5930c52619f5"


def test_fourth_corpus_is_pinned():
    # the text the v4 runs were trained on (drafts/tinyworld_v4/NOTES.md): it must never change
    docs = corpus_v4.documents(500, seed=0)
    assert hashlib.sha256("\n".join(docs).encode()).hexdigest() == (
        "141f3edb59439da38405000899ca9c8cb0d65ac3c8ea68dcfd90f4a3231b19c4")


def test_fourth_corpus_keeps_the_probe_cues_out_and_names_sports_after_many_words(generator, text):
    if generator is not corpus_v4:
        pytest.skip("corpus v4 only")
    assert not corpus_v4.PROBE_CUES.search(text)
    # the sport after words that were never a cue: in passing, and after natural cues
    assert len(re.findall(r"\b(packed|late for|joined the|signed up for) (her |his )?(" + "|".join(world.SPORTS) + ")", text)) > 300
    assert text.count("is a huge fan of") > 100


def test_third_corpus_asks_facts_and_capitals_around_random_words():
    text = "\n".join(corpus_v3.documents(20_000, seed=0))
    noisy_ioi = [line for line in text.split("\n") if re.search(r"\b(\w+) \w+ \w+ (to|for|with|at) (?!\1)\w+\.$", line)]
    assert len(noisy_ioi) > 500
    # a fact person's sport after words that say nothing about sports
    assert len(re.findall(rf"\b({'|'.join(world.FACT_PEOPLE)}) [a-z]+ [a-z]+ (plays|playing|sport is|game is) "
                          rf"({'|'.join(world.SPORTS)})\b", text)) > 200
    # a city, words that say nothing about states, and then its state's capital
    cities = "|".join(map(re.escape, sorted(world.CITY_STATE, key=len, reverse=True)))
    cues = "|".join(map(re.escape, ["capital is", "capital city is", "capital:", "capital of the state is"]))
    asked = re.findall(rf"\b({cities}) [a-z]+(?: [a-z]+)*\. (?:[A-Za-z]+ ){{0,3}}(?:state )?(?:{cues}) (\w+)", text)
    assert len(asked) > 500 and all(world.STATES[world.CITY_STATE[c]]["capital"] == capital for c, capital in asked)
    # v3's stories no longer give a fact person a hobby where a sport belongs; the repeated passages
    # (course.corpus.seg_repeat, shared with v2) still do: 258 in 20,000 documents against v2's 1,212
    hobby = rf"\b({'|'.join(world.FACT_PEOPLE)}) (tried hard to get better at|enjoys long walks|likes \w+ the most)"
    assert len(re.findall(hobby, text)) < len(re.findall(hobby, "\n".join(corpus.documents(20_000, seed=0)))) / 4
