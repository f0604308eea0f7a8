"""Slot collisions: for each evaluation frame, what the v4 corpus writes after the frame's last two
words (names, cities, sports, states and capitals counted as kinds). A frame whose last words the
corpus always continues with something else ("postcard to" -> " a cousin", "the answer is" ->
" always") asks the model to override a fixed phrase it saw hundreds of times.

    python drafts/tinyworld_v5/slot_ngrams.py   (20,000 documents of course.corpus_v4, seed 5; ~1 min)
"""
import collections
import re
from course import corpus_v4 as v4, evalsets as E
text = " ".join(v4.documents(20000, seed=5))
words = re.findall(r"[\w']+|[.,?:!]", text)
follow = collections.defaultdict(collections.Counter)
from course.world import NAMES, SPORTS, CITIES, STATES
caps = {v["capital"] for v in STATES.values()}
def kind(w):
    return ("NAME" if w in NAMES else "SPORT" if w in SPORTS else "CAPITAL" if w in caps else "CITY" if w in CITIES
            else "STATE" if w in STATES else w)
PLACEHOLDER = {"A": "NAME", "B": "NAME", "S": "NAME", "n": "NAME", "c": "CITY", "p": "she"}
kinds = [kind(w) for w in words]
for i in range(len(words) - 2):
    follow[(kinds[i], kinds[i + 1])][words[i + 2]] += 1
sets = {"ioi held-out": E.IOI_HELD_OUT_FRAMES, "ioi validation": E.VALIDATION_IOI_FRAMES, "ioi fresh": E.FRESH_IOI_FRAMES,
        "two-hop held-out": E.TWO_HOP_HELD_OUT_PHRASINGS, "two-hop validation": E.VALIDATION_TWO_HOP_PHRASINGS,
        "facts held-out": E.FACT_HELD_OUT_PHRASINGS, "facts validation": E.VALIDATION_FACT_PHRASINGS}
for name, frames in sets.items():
    print(name)
    for f in frames:
        w = [PLACEHOLDER.get(t[1:-1], t[1:-1]) if t.startswith("{") else t for t in re.findall(r"\{\w+\}|[\w']+|[.,?:!]", f)]
        c = collections.Counter()
        for k, v in follow[(w[-2], w[-1])].items(): c[kind(k)] += v
        tot = sum(c.values())
        print(f"   {' '.join(w[-2:])!r:28} n={tot:6d}  " + ", ".join(f"{k} {v / tot:.2f}" for k, v in c.most_common(4)) if tot else f"   {' '.join(w[-2:])!r:28} unseen")
