"""Slot collisions: for each evaluation frame, what the v4 corpus writes after the frame's last two
words (names, cities, sports, states and capitals counted as kinds). A frame whose last words the
corpus always continues with something else ("postcard to" -> " a cousin", "the answer is" ->
" always") asks the model to override a fixed phrase it saw hundreds of times.

    python drafts/tinyworld_v5/slot_ngrams.py   (20,000 documents of course.corpus_v4, seed 5; ~1 min)
"""
import collections
import re

from course import corpus_v4 as v4
from course import evalsets as E
from course.world import CITIES, NAMES, SPORTS, STATES

CAPITALS = {v["capital"] for v in STATES.values()}
PLACEHOLDER = {"A": "NAME", "B": "NAME", "S": "NAME", "n": "NAME", "c": "CITY", "p": "she"}
FRAME_SETS = {"ioi held-out": E.IOI_HELD_OUT_FRAMES, "ioi validation": E.VALIDATION_IOI_FRAMES,
              "ioi fresh": E.FRESH_IOI_FRAMES, "two-hop held-out": E.TWO_HOP_HELD_OUT_PHRASINGS,
              "two-hop validation": E.VALIDATION_TWO_HOP_PHRASINGS, "facts held-out": E.FACT_HELD_OUT_PHRASINGS,
              "facts validation": E.VALIDATION_FACT_PHRASINGS}


def kind(word: str) -> str:
    return ("NAME" if word in NAMES else "SPORT" if word in SPORTS else "CAPITAL" if word in CAPITALS
            else "CITY" if word in CITIES else "STATE" if word in STATES else word)


def next_words(text: str) -> dict[tuple[str, str], collections.Counter]:
    """(kind of word i, kind of word i+1) -> counts of word i+2."""
    words = re.findall(r"[\w']+|[.,?:!]", text)
    kinds = [kind(w) for w in words]
    follow = collections.defaultdict(collections.Counter)
    for i in range(len(words) - 2):
        follow[(kinds[i], kinds[i + 1])][words[i + 2]] += 1
    return follow


def main() -> None:
    follow = next_words(" ".join(v4.documents(20000, seed=5)))
    for name, frames in FRAME_SETS.items():
        print(name)
        for frame in frames:
            w = [PLACEHOLDER.get(t[1:-1], t[1:-1]) if t.startswith("{") else t
                 for t in re.findall(r"\{\w+\}|[\w']+|[.,?:!]", frame)]
            counts = collections.Counter()
            for word, n in follow[(w[-2], w[-1])].items():
                counts[kind(word)] += n
            total = sum(counts.values())
            ending = repr(" ".join(w[-2:])).ljust(28)
            if not total:
                print(f"   {ending} unseen")
                continue
            print(f"   {ending} n={total:6d}  " + ", ".join(f"{k} {v / total:.2f}" for k, v in counts.most_common(4)))


if __name__ == "__main__":
    main()
