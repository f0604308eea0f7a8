"""Side by side: the shipped chapter 13 variants (TinyWorld v3, 4,000 steps) and the dense-width
experiments in drafts/mlp_width/out/. Prints the final metrics and the last evaluations.

    python drafts/mlp_width/compare.py
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["ioi_accuracy_ABBA", "ioi_accuracy_BABA", "ioi_logit_diff_ABBA", "validation_ioi_accuracy_ABBA",
        "validation_ioi_accuracy_BABA", "fresh_ioi_accuracy_ABBA", "fact_accuracy_held_out_phrasings",
        "fact_accuracy_among_sports_held_out_phrasings", "validation_fact_accuracy", "two_hop_held_out_accuracy",
        "validation_two_hop_accuracy", "addition_held_out_accuracy", "max_induction_score", "held_out_loss"]

cards = {v: ROOT / f"course/checkpoints/tinyworld-{v}.json" for v in ("gpt2", "moe", "llama")}
cards.update({p.stem.replace("tinyworld-gpt2-", ""): p for p in sorted((Path(__file__).parent / "out").glob("*.json"))
              if "train-state" not in p.name})
loaded = {k: json.load(open(p)) for k, p in cards.items()}
print(f"{'metric':48s}" + "".join(f"{k:>10s}" for k in loaded))
for key in KEYS:
    row = [c["metrics"].get(key) for c in loaded.values()]
    print(f"{key:48s}" + "".join(f"{x:10.3f}" if isinstance(x, (int, float)) else f"{'-':>10s}" for x in row))
print(f"{'training_seconds':48s}" + "".join(f"{c.get('training_seconds', 0):10.0f}" for c in loaded.values()))
