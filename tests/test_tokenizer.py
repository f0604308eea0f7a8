"""The course tokenizer: the shipped file, single-token world words, one token per digit, exact
round trips, clear errors, and deterministic retraining."""

import re

import pytest

from course import corpus_v1 as tw
from course import evalsets
from course.tokenizer import (EOT, SHIPPED, Tokenizer, train_merge_everything_bpe, train_shipped, train_tokenizer,
                              world_words)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.load()


def test_shipped_tokenizer(tok):
    assert tok.vocab_size == 3072 and Tokenizer.load("tokenizer.json").vocab_size == 2048
    assert tok.eot_id == tok.bos_id == 0
    assert tok.token_str(tok.eot_id) == EOT
    assert len(tok) == tok.vocab_size


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_world_word_is_one_token_with_its_space(name):
    tok = Tokenizer.load(name)
    for word in world_words(SHIPPED[name][0]):
        ids = tok.encode(" " + word)
        assert len(ids) == 1, [tok.token_str(i) for i in ids]
        assert tok.token_str(ids[0]) == " " + word


def test_unknown_tokenizer_name_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="the shipped ones are"):
        Tokenizer.load("tokenizer-v9.json")


def test_every_evaluation_answer_starts_with_one_token(tok):
    answers = ([x.answer for x in evalsets.ioi_dataset(100, seed=0)]
               + [x.subject for x in evalsets.ioi_dataset(100, seed=0)]
               + [x.answer for x in evalsets.two_hop_dataset(True) + evalsets.two_hop_dataset(False)]
               + [x.answer for k in ("city_state", "state_capital") for x in evalsets.one_hop_dataset(k)]
               + [x.answer for x in evalsets.fact_dataset("held_out") + evalsets.fact_dataset("train")])
    for a in answers:
        assert len(tok.encode(a)) == 1, a
    # swapping a name keeps positions aligned (a name at a prompt's start is several tokens,
    # but the same name is swapped for the same name's pieces only in the corrupted prompt's S2)
    for x in evalsets.ioi_dataset(50, seed=1):
        n = len(tok.encode(x.prompt))
        assert len(tok.encode(x.corrupted_prompt)) == n == len(tok.encode(x.abc_prompt))


def test_digits_are_single_tokens(tok):
    pieces = [tok.token_str(i) for i in tok.encode("calc: 36 + 59 = 95")]
    assert pieces[-3:] == [" ", "9", "5"]
    assert pieces == ["calc", ":", " ", "3", "6", " +", " ", "5", "9", " =", " ", "9", "5"]
    assert [tok.token_str(i) for i in tok.encode("12345")] == list("12345")
    for x in evalsets.addition_dataset(held_out=True)[:100]:
        assert tok.encode(x.answer) == tok.encode(" ") + [tok.encode(d)[0] for d in str(x.total)]


def test_merge_everything_bpe_splits_numbers_unevenly():
    texts = tw.documents(1500, seed=0)
    plain = train_merge_everything_bpe(texts, vocab_size=600)
    ours = train_tokenizer(texts, vocab_size=600)
    def multi_digit(t):  # byte-level symbols for ASCII digits are the digits themselves
        return [s for s in t._tok.get_vocab() if len(re.findall("[0-9]", s)) > 1]
    assert multi_digit(plain), "the plain BPE should learn tokens with several digits"
    assert not multi_digit(ours)
    assert len(plain.encode("calc: 36 + 59 = 95")) < len(ours.encode("calc: 36 + 59 = 95"))


TRICKY = [
    "", " ", "  ", "\n", "\n\n\t \r\n", "a", " Dallas", "Dallas", "  leading and trailing  ",
    "héllo wörld", "naïve café", "日本語のテキスト", "emoji 😀👍🏽 and 👩‍👩‍👧", "zero\u200bwidth", "\x00\x01\x7f",
    "calc: 36 + 59 = 95\ncalc: 99 + 99 = 198", "١٢٣ ٤٥", "tabs\tand\vform\x0cfeeds", EOT,
    f"text{EOT}more {EOT} and <|endoftext", "'s 't 're 've 'm 'll 'd", "ĠĊ already byte-level-looking",
    "\ud7ff\ue000\U0010ffff", "a" * 1000, "1" * 50,
]


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip(tok, text):
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


def test_first_corpus_documents_fit_the_context(tok):
    lens = [len(ids) for ids in tok.encode_batch(tw.documents(3000, seed=11))]
    assert max(lens) + 1 <= 128  # with the EOT/BOS in front
    docs = tw.documents(300, seed=11)
    assert all(tok.decode(tok.encode(d)) == d for d in docs)


def test_token_str_is_readable(tok):
    assert tok.token_str(tok.encode("\n")[0]) == "\n"
    assert tok.token_str(tok.encode(" capital")[0]) == " capital"


def test_decode_accepts_int_like_sequences(tok):
    np = pytest.importorskip("numpy")
    ids = tok.encode("The capital of Texas is Austin.")
    assert tok.decode(np.array(ids)) == tok.decode(ids) == "The capital of Texas is Austin."


def test_bad_inputs_give_clear_errors(tok):
    with pytest.raises(TypeError, match="str"):
        tok.encode(123)
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match=f"0 to {tok.vocab_size - 1}"):
        tok.decode([1, tok.vocab_size])
    with pytest.raises(ValueError, match="range"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="range"):
        tok.token_str(10**6)
    with pytest.raises(TypeError, match="integers"):
        tok.decode(["a"])
    with pytest.raises(ValueError, match="range"):
        tok.decode([1.5])


def test_save_load_round_trip(tok, tmp_path):
    tok.save(tmp_path / "t.json")
    again = Tokenizer.load(tmp_path / "t.json")
    assert again.vocab_size == tok.vocab_size
    assert again.encode("When Mary and John went to the store") == tok.encode("When Mary and John went to the store")


def test_training_is_deterministic():
    texts = tw.documents(1000, seed=2)
    a, b = train_tokenizer(texts, 500), train_tokenizer(texts, 500)
    assert a._tok.to_str() == b._tok.to_str()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_file_is_what_training_produces(name):
    # `python -m course.tokenizer` must reproduce each shipped file exactly.
    assert train_shipped(name)._tok.get_vocab() == Tokenizer.load(name)._tok.get_vocab()


def test_token_stream(tok):
    stream = tw.token_stream(tok, seed=0, batch=8)
    ids = [next(stream) for _ in range(400)]
    assert ids[0] == tok.eot_id
    docs = tok.decode(ids).split(EOT)
    assert docs[1:-1] == tw.documents(len(docs) - 2, seed=0)
