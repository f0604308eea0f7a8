"""Is issue 16 (chapter 06, MLPs as key-value memories) unblocked on the shipped v4 tinyworld?
Measures on held-out fact phrasings: causal-tracing peak, MLP-0 patching flip rate, mean ablation at
the subject, and ROME edits of a few people. usage: python ch06_readiness.py (one thread)."""
import random
import time

import torch

torch.set_num_threads(1)
from course import memories as M, zoo  # noqa: E402
from course.evalsets import fact_dataset  # noqa: E402
from course.world import FACT_PEOPLE, FACTS, SPORTS  # noqa: E402

t0 = time.time()
model = zoo.load("tinyworld")
held = fact_dataset("held_out")
ok = M._correct(model, held)
for ph, group in M.by_phrasing(held).items():
    print(f"recall {sum(o for it, o in zip(held, ok) if it.phrasing == ph) / len(group):.3f}  {ph}")
tr = M.trace_items(model, held, site="mlp", n_noise=5)
print("traced items", len(tr["items"]), "kinds", tr["kinds"])
print("MLP indirect effect by layer x kind:\n", tr["by_kind"].numpy().round(3))
tra = M.trace_items(model, held, site="attn", n_noise=5)
print("attn indirect effect by layer x kind:\n", tra["by_kind"].numpy().round(3))
for layer in (0, 1):
    p = M.fact_patching(model, held, layer)
    print(f"patch MLP{layer} at subject: pairs {p['pairs']} flipped {p['flipped']:.3f} kept {p['kept']:.3f}")
for layer in (0, 1):
    a = M.ablation_table(model, held, layer, "mean")
    print(f"mean-ablate MLP{layer} at subject: clean {a['clean_accuracy']:.3f} ablated {a['ablated_accuracy']:.3f} "
          f"same kind {a['same_kind']:.3f}")
cov = M.key_second_moment(model, 0, M.corpus_tokens(model))
rng = random.Random(0)
reports = []
for person in rng.sample(FACT_PEOPLE, 6):
    new = rng.choice([s for s in SPORTS if s != FACTS[person]])
    W = M.edit_fact(model, 0, person, new, cov)
    r = M.edit_report(model, 0, person, new, W)
    reports.append(r)
    print(person, FACTS[person], "->", new, {k: v for k, v in r.items() if k != "held_out_by_phrasing"},
          r["held_out_by_phrasing"])
for k in ("train", "held_out", "others", "pet"):
    print(k, sum(r[k] for r in reports) / len(reports))
print("seconds", round(time.time() - t0))
