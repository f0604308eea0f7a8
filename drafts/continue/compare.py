"""Side by side: the targets of issue 19 on each metrics file eval.py wrote.
    python drafts/continue/compare.py OUT_DIR NAME...
"""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
runs = {n: json.loads((out / f"{n}.metrics.json").read_text()) for n in sys.argv[2:]}


def row(label, get):
    print(f"{label:42s}" + "".join(f"{get(m):>12}" for m in runs.values()))


print(f"{'':42s}" + "".join(f"{n:>12}" for n in runs))
for key in ("ioi_accuracy_ABBA", "ioi_accuracy_BABA", "validation_ioi_accuracy_ABBA", "validation_ioi_accuracy_BABA",
            "fresh_ioi_accuracy_ABBA", "fresh2_ioi_accuracy_ABBA", "fresh2_ioi_accuracy_BABA",
            "two_hop_held_out_accuracy", "validation_two_hop_accuracy", "fresh2_two_hop_accuracy",
            "fact_accuracy_held_out_phrasings", "fact_first_sport_held_out_phrasings", "validation_fact_accuracy",
            "addition_held_out_accuracy", "max_induction_score", "held_out_loss"):
    row(key, lambda m: f"{m[key]:.3f}")
row("two-hop phrasings >= 0.9 (of 12)", lambda m: sum(v >= 0.9 for v in m["two_hop_held_out_by_phrasing"].values()))
row("two-hop worst phrasing", lambda m: f"{min(m['two_hop_held_out_by_phrasing'].values()):.3f}")
row("probe at the swap's site", lambda m: f"{m['two_hop_state']['probe_accuracy']:.3f}")
row("swap, worst phrasing", lambda m: f"{min(m['two_hop_state']['swap_by_phrasing'].values()):.3f}")
for phrasing in next(iter(runs.values()))["two_hop_held_out_by_phrasing"]:
    row(phrasing[:42], lambda m: f"{m['two_hop_held_out_by_phrasing'][phrasing]:.3f}")
