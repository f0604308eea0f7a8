"""Side by side: proxy cards (2,500 steps, same shortened schedule). usage: compare.py CARD.json ..."""
import json
import sys

cards = {p.rsplit("/", 1)[-1].removesuffix(".json"): json.load(open(p))["metrics"] for p in sys.argv[1:]}
keys = ["fact_accuracy_held_out_phrasings", "fact_accuracy_among_sports_held_out_phrasings", "fact_accuracy_train_phrasing",
        "validation_fact_accuracy", "two_hop_held_out_accuracy", "validation_two_hop_accuracy", "ioi_accuracy",
        "ioi_accuracy_ABBA", "ioi_accuracy_BABA", "validation_ioi_accuracy", "addition_held_out_accuracy", "held_out_loss"]
print("metric".ljust(48), *[n.rjust(8) for n in cards])
for k in keys:
    print(k.ljust(48), *[f"{m.get(k, float('nan')):8.3f}" for m in cards.values()])
for table in ("two_hop_held_out_by_phrasing", "validation_two_hop_by_phrasing", "validation_fact_by_phrasing"):
    print(table)
    for ph in next(iter(cards.values()))[table]:
        print("  ", ph[:60].ljust(60), *[f"{m[table].get(ph, float('nan')):6.2f}" for m in cards.values()])
for name, m in cards.items():
    t = m["fact_trace"]["mlp"]["table"] if "mlp" in m["fact_trace"] else None
    print(name, "fact trace mlp", t)
