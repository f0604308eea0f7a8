"""Issue 19, stop 37: do the fact misses come from the phrasing's next word, not from the lookup?
For every fact phrasing (held-out, validation, fresh2): top-1 (the card's metric: the sport is the
very next token) against "the right sport is the first sport the model writes in its greedy
continuation of up to 4 tokens" (so "... the answer is always poker" and "... plays a lot of golf" count, "... is always tennis"
for a poker player does not), and what the model writes most often.

    OMP_NUM_THREADS=1 PYTHONPATH=drafts/fresh2:drafts/tinyworld_v5 python drafts/facts_within/facts_within.py [CARD.json WEIGHTS]
"""

import json
import sys
from collections import Counter

import torch
from safetensors.torch import load_file

import fresh2
from course import evalsets, evaluate, zoo
from course.config import ModelConfig
from course.model import HookedTransformer
from course.world import SPORTS


def greedy(model, prompts: list[str], n: int = 3) -> torch.Tensor:
    """[prompt n] the next n token ids, greedily, one token at a time (each prompt grows as text)."""
    texts = list(prompts)
    out = []
    for _ in range(n):
        ids = evaluate.last_logits(model, texts).argmax(-1)
        out.append(ids)
        texts = [t + model.tokenizer.decode([int(i)]) for t, i in zip(texts, ids)]
    return torch.stack(out, 1)


def first_sport_right(model, phrasing: str, n: int = 4) -> tuple[float, float, str]:
    items = evalsets.fact_dataset([phrasing])
    tok = model.tokenizer
    sport_ids = {tok.encode(" " + s)[0]: s for s in SPORTS}
    cont = greedy(model, [it.prompt for it in items], n)
    top1 = (cont[:, 0] == torch.tensor([tok.encode(it.answer)[0] for it in items])).float().mean().item()
    right = 0
    for row, it in zip(cont.tolist(), items):
        said = next((sport_ids[i] for i in row if i in sport_ids), None)
        right += said == it.object
    common = Counter(tok.decode(row) for row in cont.tolist()).most_common(1)[0][0]
    return top1, right / len(items), common


if __name__ == "__main__":
    torch.set_num_threads(1)
    models = {"shipped": zoo.load("tinyworld")}
    if len(sys.argv) > 2:
        card = json.load(open(sys.argv[1]))
        m = HookedTransformer(ModelConfig.from_dict(card["config"]), tokenizer=models["shipped"].tokenizer)
        m.load_state_dict(load_file(sys.argv[2]))
        models[sys.argv[2].rsplit("/", 1)[-1][-30:]] = m.eval()
    sets = {"held_out": evalsets.FACT_HELD_OUT_PHRASINGS, "validation": evalsets.VALIDATION_FACT_PHRASINGS,
            "fresh2": fresh2.FACT_PHRASINGS}
    with torch.no_grad():
        for set_name, phrasings in sets.items():
            print(f"== {set_name}: top-1 / first sport in 4 greedy tokens right / most common continuation")
            for f in phrasings:
                cells = [first_sport_right(m, f) for m in models.values()]
                print(f"  {f[:52]:52s}" + "".join(f"  {a:.2f} / {b:.2f} {c!r:18s}" for a, b, c in cells))
