"""IOI on twelve more frames, written at stop 27 by the session that trains v4, after corpus_v4 was
pinned and without looking at its IOI parts: a third held-out set, a learner's own sentences stand-in.
usage: own_frames.py [WEIGHTS]  (default: the shipped tinyworld and the three chapter-13 variants)"""
import re
import sys
from pathlib import Path

import torch

from course import evalsets, evaluate, zoo

OWN_IOI_FRAMES = [
    "{A} and {B} carried the heavy box up the stairs. At the top, {S} said thanks to",
    "The lights went out while {A} was reading with {B}. {S} lit a candle for",
    "{A} met {B} at the train station. Before the train left, {S} bought a ticket for",
    "When the movie started, {A} and {B} shared a blanket. Later, {S} poured some tea for",
    "{A} and {B} were lost in the forest. Finally, {S} pointed the way to",
    "Every morning, {A} walks to school with {B}. Today, {S} brought an umbrella for",
    "{A} and {B} planted a garden behind the house. In June, {S} picked a tomato for",
    "At the birthday party, {A} sat next to {B}. When the cake came, {S} cut a slice for",
    "{A} fixed the old radio while {B} watched. When it worked, {S} turned it up for",
    "{A} and {B} were waiting for the doctor. To pass the time, {S} showed a card trick to",
    "It was cold outside, so {A} and {B} made a fire. {S} handed a cup of cocoa to",
    "{A} and {B} climbed the hill before sunrise. At the top, {S} passed the water bottle to",
]
OWN_IOI_MARKERS = ["heavy box", "lights went out", "train station", "shared a blanket", "lost in the forest",
                   "brought an umbrella", "planted a garden", "birthday party", "turned it up", "waiting for the doctor",
                   "cup of cocoa", "before sunrise", "card trick", "picked a tomato", "lit a candle", "said thanks"]


def never_in(text: str) -> list[str]:
    return [m for m in OWN_IOI_MARKERS if re.search(rf"\b{m}\b", text)]


def own_ioi(model, n: int = 480) -> dict:
    items = evalsets.ioi_dataset(n, seed=27, frames=OWN_IOI_FRAMES)
    return evaluate.ioi_by_frame(model, items, len(OWN_IOI_FRAMES), "own_ioi_")


if __name__ == "__main__":
    torch.set_num_threads(1)
    from course import tinyworld_models as tm
    models = ({sys.argv[1]: tm.load("tokenizer-v2.json", Path(sys.argv[1]))} if len(sys.argv) > 1 else
              {name: zoo.load(name) for name in ("tinyworld", "tinyworld-gpt2", "tinyworld-llama", "tinyworld-moe")})
    for name, model in models.items():
        with torch.no_grad():
            r = own_ioi(model.eval())
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
