"""The course tokenizer: a byte-level BPE (as in GPT-2) trained on TinyWorld, ~2k tokens.

Two choices differ from GPT-2: every digit is its own token (so "95" is "9" "5" and addition can be
learned digit by digit; the space before a number is a token of its own), and every word of the
world (names, cities, states, capitals, sports, landmark words) is a single token with its leading
space, which the evaluation sets rely on. `python -m course.tokenizer` rebuilds the shipped file.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Iterable, Sequence

from tokenizers import Tokenizer as _HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"  # id 0; ends every document and doubles as BOS
# The shipped tokenizers, each with the corpus it was trained on and its size. The first one stays
# because attn-only-2l was trained with it; the main model and its SAE use the second.
SHIPPED = {"tokenizer.json": ("course.corpus_v1", 2048), "tokenizer-v2.json": ("course.corpus", 3072)}
DEFAULT_FILE = "tokenizer-v2.json"
DEFAULT_VOCAB_SIZE = 2048
TRAIN_DOCS = 20_000
TRAIN_SEED = 1234


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's reversible map from bytes to printable characters (a space becomes "Ġ", "\n" "Ċ").
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


_UNICODE_TO_BYTE = {c: b for b, c in _bytes_to_unicode().items()}


class Tokenizer:
    """A thin wrapper over a Hugging Face `tokenizers` BPE with the few methods the course uses."""

    def __init__(self, hf: _HFTokenizer):
        self._tok = hf
        eot = hf.token_to_id(EOT)
        if eot is None:
            raise ValueError(f"tokenizer has no {EOT!r} token")
        self.eot_id = self.bos_id = eot
        self.vocab_size = hf.get_vocab_size(with_added_tokens=True)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Tokenizer":
        """Load a tokenizer: a file path, or the name of one shipped in course/data (see
        `SHIPPED`; by default the main model's, "tokenizer-v2.json")."""
        name = DEFAULT_FILE if path is None else str(path)
        if name in SHIPPED:
            res = importlib.resources.files("course") / "data" / name
            return cls(_HFTokenizer.from_str(res.read_text(encoding="utf-8")))
        if not Path(name).exists():
            raise FileNotFoundError(f"no tokenizer file {name!r}; the shipped ones are {sorted(SHIPPED)}")
        return cls(_HFTokenizer.from_file(name))

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(path), pretty=True)

    def encode(self, text: str) -> list[int]:
        """Token ids of text. No BOS is added: prepend `bos_id` yourself where a model needs it."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"encode_batch expects strs, got {type(t).__name__}")
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def _check_ids(self, ids: Iterable) -> list[int]:
        out = []
        for i in ids:
            try:
                j = int(i)  # accepts numpy / torch integer scalars
            except (TypeError, ValueError):
                raise TypeError(f"token ids must be integers, got {i!r}") from None
            if j != i or not 0 <= j < self.vocab_size:
                raise ValueError(f"token id {i!r} is out of range: ids go from 0 to {self.vocab_size - 1}")
            out.append(j)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a list of ids. Special tokens are kept, so decode(encode(s)) == s for any s."""
        if hasattr(ids, "tolist"):  # a tensor or array
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        return self._tok.decode(self._check_ids(ids), skip_special_tokens=False)

    def token_str(self, id: int) -> str:
        """One token as readable text: byte-level symbols mapped back (" Dallas", "\\n", "9").
        A token holding part of a multi-byte character shows the bytes it has, e.g. "\\xf0\\x9f"."""
        (i,) = self._check_ids([id])
        tok = self._tok.id_to_token(i)
        if tok == EOT:
            return tok
        raw = bytes(_UNICODE_TO_BYTE[c] for c in tok)
        return raw.decode("utf-8", errors="backslashreplace")

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"


def _bpe(vocab_size: int, split_digits: bool) -> tuple[_HFTokenizer, trainers.BpeTrainer]:
    tok = _HFTokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if split_digits:
        # Digits first: "36" -> "3", "6" and " 95" -> " ", "9", "5"; then GPT-2's byte-level split.
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: any text encodes
    )
    return tok, trainer


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> Tokenizer:
    """Byte-level BPE with one token per digit and EOT as id 0. Deterministic for a given input."""
    tok, trainer = _bpe(vocab_size, split_digits=True)
    tok.train_from_iterator(texts, trainer=trainer)
    return Tokenizer(tok)


def train_merge_everything_bpe(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> Tokenizer:
    """Plain GPT-2-style BPE: digits are merged like any other characters, so numbers split
    unevenly ("12345" may become "123" "45"). Chapter 01 contrasts it with `train_tokenizer`."""
    tok, trainer = _bpe(vocab_size, split_digits=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return Tokenizer(tok)


def world_words(corpus: str = "course.corpus") -> list[str]:
    """Every word of TinyWorld that must be a single token with its leading space (for the v2
    corpus, also the everyday words its sentences are built from)."""
    from course import lexicon
    from course import world as tw

    words = (tw.NAMES + list(tw.STATES) + tw.CITIES + tw.CAPITALS + tw.SPORTS + list(tw.LANDMARKS)
             + [w for ws in tw.LANDMARKS.values() for w in ws]
             + tw.PLACES + tw.OBJECTS + tw.ANIMALS + tw.FOODS + tw.COLORS + tw.FEELINGS + tw.WEATHER)
    if corpus != "course.corpus_v1":
        words += (lexicon.THINGS + lexicon.FOODS + lexicon.PLACES + lexicon.ANIMALS + lexicon.COLORS
                  + lexicon.FEELINGS + lexicon.WEATHER)
    return list(dict.fromkeys(words))


def training_texts(corpus: str = "course.corpus_v1", n_docs: int = TRAIN_DOCS, seed: int = TRAIN_SEED) -> list[str]:
    """Documents of ``corpus`` plus a list of the world's words, each repeated often enough that
    BPE merges it into one token even if the sampled documents happen to use it rarely."""
    import importlib

    boost = " " + " ".join(world_words(corpus))  # " Mary Alice ...": each word with its leading space
    return importlib.import_module(corpus).documents(n_docs, seed) + [boost] * 200


def train_shipped(name: str = DEFAULT_FILE) -> Tokenizer:
    """Rebuild one of the shipped tokenizers from its corpus (deterministic)."""
    corpus, size = SHIPPED[name]
    return train_tokenizer(training_texts(corpus), size)


def main() -> None:
    for name in SHIPPED:
        out = Path(__file__).parent / "data" / name
        tok = train_shipped(name)
        tok.save(out)
        print(f"wrote {out} ({tok.vocab_size} tokens)")


if __name__ == "__main__":
    main()
