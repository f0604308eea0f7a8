"""The shipped main model's card against full-recipe candidates, metric by metric, with the
phrasing tables, the state probe and swap, and the fact trace (MLP rows at the subject and the
last token). usage: compare_main.py CARD.json ...  (the shipped card is always the first column)
A bare metrics file (eval_kept.py's, for a snapshot along a run) stands in for a card; the fourth held-out
set's rows (fresh2) are printed where a file has them.

Training writes a candidate's card beside its weights in drafts/mlp_width/out/, which git ignores; the
cards of the runs the NOTES report are kept in drafts/mlp_width/cards/."""
import json
import sys

paths = ["course/checkpoints/tinyworld.json", *sys.argv[1:]]
# a column is named by the end of its file name (the run's seed, corpus or snapshot step tell columns apart)
cards = {p.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".metrics")[-14:]: json.load(open(p)) for p in paths}
if len(cards) < len(paths):
    sys.exit("two files end in the same 14 characters; the columns would collide")
cards = {n: c if "metrics" in c else {"metrics": c} for n, c in cards.items()}
ms = {n: c["metrics"] for n, c in cards.items()}
keys = ["ioi_accuracy_ABBA", "ioi_accuracy_BABA", "ioi_logit_diff_ABBA", "ioi_logit_diff_BABA",
        "validation_ioi_accuracy_ABBA", "validation_ioi_accuracy_BABA", "validation_ioi_logit_diff_ABBA",
        "fresh_ioi_accuracy_ABBA", "fresh_ioi_accuracy_BABA", "fact_accuracy_held_out_phrasings",
        "fact_accuracy_among_sports_held_out_phrasings", "validation_fact_accuracy", "two_hop_held_out_accuracy",
        "validation_two_hop_accuracy", "addition_held_out_accuracy", "max_induction_score", "repeat_loss_gap",
        "held_out_loss", "fresh2_ioi_accuracy_ABBA", "fresh2_ioi_accuracy_BABA", "fresh2_fact_accuracy",
        "fresh2_two_hop_accuracy"]
print("metric".ljust(46), *[n.rjust(14) for n in ms])
for k in keys:
    print(k.ljust(46), *[f"{m.get(k, float('nan')):14.3f}" for m in ms.values()])
print("training_seconds".ljust(46), *[f"{c.get('training_seconds', 0):14.0f}" for c in cards.values()])
for table in ("two_hop_held_out_by_phrasing", "validation_two_hop_by_phrasing", "validation_fact_by_phrasing"):
    print(table)
    for ph in ms[next(iter(ms))][table]:
        print("  ", ph[:56].ljust(56), *[f"{m[table].get(ph, float('nan')):7.2f}" for m in ms.values()])
print("two_hop_state: probe site / accuracy / worst swap")
for n, m in ms.items():
    s = m["two_hop_state"]
    print("  ", n.ljust(14), s["site"], s["probe_accuracy"], round(min(s["swap_by_phrasing"].values()), 3))
print("fact trace, MLP rows (restored share of the answer by position kind)")
for n, m in ms.items():
    t = m["fact_trace"]["mlp"]
    print("  ", n, t["kinds"])
    for layer, row in enumerate(t["table"]):
        print("     mlp", layer, [round(x, 2) for x in row])
