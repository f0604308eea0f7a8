"""Why the ROME edit of MLP 0 is not specific on v4, and whether protecting the other people's keys
fixes it: C' = C + lam * sum_j k_j k_j^T over the other fact people's subject keys. (one thread)"""
import random
import torch
torch.set_num_threads(1)
from course import memories as M, zoo  # noqa: E402
from course.world import FACT_PEOPLE, FACTS, SPORTS  # noqa: E402

model = zoo.load("tinyworld")
cov = M.key_second_moment(model, 0, M.corpus_tokens(model))
keys = {p: M.subject_key(model, 0, M.edit_prompts(p), " " + p) for p in FACT_PEOPLE}
K = torch.stack(list(keys.values()))
ci = torch.linalg.solve(cov, K.T).T  # C^-1 k per person
overlap = (K @ ci.T) / (ci * K).sum(-1, keepdim=True)  # [edited j, other i]: k_i^T C^-1 k_j / k_j^T C^-1 k_j
off = overlap[~torch.eye(len(K), dtype=bool)]
print(f"other people's share of the edit (k_i C^-1 k_j / k_j C^-1 k_j): median {off.median():.2f}, max {off.max():.2f}")
rng = random.Random(0)
people = rng.sample(FACT_PEOPLE, 6)
for lam in (0.0, 1.0, 10.0, 100.0):
    res = []
    for person in people:
        new = rng.choice([s for s in SPORTS if s != FACTS[person]])
        others = torch.stack([k for p, k in keys.items() if p != person])
        cov2 = cov + lam * others.T @ others / len(others)
        delta = M.optimize_delta(model, 0, M.edit_prompts(person), " " + person, " " + new)
        W = M.rank_one_update(model.blocks[0].mlp.W_out.detach(), keys[person], delta, cov2)
        res.append(M.edit_report(model, 0, person, new, W))
    print(f"lam {lam:6.1f}: " + ", ".join(f"{k} {sum(r[k] for r in res) / len(res):.2f}" for k in ("train", "held_out", "others", "pet")))
