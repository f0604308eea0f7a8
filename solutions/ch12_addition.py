"""Chapter 12, how the model adds: reference solutions, the mistakes each check recognises, and
the chapter's helpers for addition prompts (every operand pair run at once, teacher-forced;
neuron and feature activations at the positions that predict each answer digit; mean ablation
and feature swaps over many pairs in one batch) and its worked answers to the open-ended
exercises.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; the ``_wrong_*`` functions are the mistakes
``check`` names. The graph machinery is the package's (course/transcoders.py, replacement.py,
attribution_graph.py, interventions.py); what is here is specific to ``calc: a + b =``.

The format is the corpus's (``seg_calc`` in course/corpus.py, which course/corpus_v3.py and corpus_v4.py reuse):
``calc: 36 + 59 = 95``, operands 10..99, one token per digit, the answer after a space. With BOS
first the prompt is 11 tokens; position 11 (the space) predicts the answer's first digit, and each
digit's token predicts the next one. So the ones digit of a two-digit sum is predicted at position
12, of a three-digit sum at 13, with the answer's earlier digits already in the prompt (teacher
forcing, which is also what greedy decoding does when the earlier digits are right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "12"
TITLE = "How the model adds"

PROMPT = "calc: {a} + {b} ="  # course.evalsets.AdditionItem's prompt
LOW, HIGH = 10, 100  # the corpus's operands: 10..99 (course.evalsets._ADD_PAIRS)
N_POS = 15  # BOS + 10 prompt tokens + " " + up to three digits


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- every pair, teacher-forced ------------------------------------------------------------------

@dataclass
class AdditionBatch:
    """Operand pairs, each written as the corpus writes it with its answer (``calc: a + b = s``),
    padded with newlines to one length, so one forward pass reads every answer position."""

    a: torch.Tensor  # [n]
    b: torch.Tensor  # [n]
    tokens: torch.Tensor  # [n pos]
    digit_ids: torch.Tensor  # [10] the token of each digit
    held_out: torch.Tensor  # [n] bool: the pair is one of evalsets.HELD_OUT_ADDITION_PAIRS (either order)
    first_pos: int  # the position that predicts the answer's first digit (the space after " =")

    @property
    def total(self) -> torch.Tensor:
        return self.a + self.b

    @property
    def n_digits(self) -> torch.Tensor:  # [n] 2 or 3
        return 2 + (self.total >= 100).long()

    @property
    def carry(self) -> torch.Tensor:  # [n] bool: the ones digits add up to 10 or more
        return (self.a % 10 + self.b % 10) >= 10

    def __len__(self) -> int:
        return len(self.a)

    def position(self, which: str) -> torch.Tensor:
        """[n] the position that predicts the answer's "first", "tens" or "ones" digit."""
        if which == "first":
            return torch.full_like(self.a, self.first_pos)
        if which == "tens":
            return self.first_pos - 2 + self.n_digits
        if which == "ones":
            return self.first_pos - 1 + self.n_digits
        raise ValueError(f"which must be 'first', 'tens' or 'ones', got {which!r}")

    def digit(self, which: str) -> torch.Tensor:
        """[n] the correct "first", "tens" or "ones" digit of each answer."""
        s = self.total
        if which == "first":
            return torch.where(s >= 100, s // 100, s // 10)
        if which == "tens":
            return (s // 10) % 10
        if which == "ones":
            return s % 10
        raise ValueError(f"which must be 'first', 'tens' or 'ones', got {which!r}")

    def select(self, rows) -> "AdditionBatch":
        return AdditionBatch(self.a[rows], self.b[rows], self.tokens[rows], self.digit_ids, self.held_out[rows],
                             self.first_pos)

    def grid(self, x: torch.Tensor) -> torch.Tensor:
        """[n ...] over every pair -> [a b ...] (rows a = 10..99, columns b = 10..99)."""
        side = HIGH - LOW
        if len(x) != side * side:
            raise ValueError("grid() needs the batch of every pair (addition_batch(model))")
        return x.reshape(side, side, *x.shape[1:])


def addition_batch(model, pairs: Optional[list[tuple[int, int]]] = None) -> AdditionBatch:
    """Every pair (a, b) with 10 <= a, b <= 99, a first then b (or ``pairs``), teacher-forced."""
    from course.evalsets import HELD_OUT_ADDITION_PAIRS, pair_key

    tok = model.tokenizer
    pairs = pairs or [(a, b) for a in range(LOW, HIGH) for b in range(LOW, HIGH)]
    newline = tok.encode("\n")[0]
    prompt_len = len(tok.encode(PROMPT.format(a=36, b=59))) + 1
    rows = []
    for a, b in pairs:
        ids = [tok.bos_id] + tok.encode(PROMPT.format(a=a, b=b) + f" {a + b}")
        if len(ids) != prompt_len + 1 + len(str(a + b)):
            raise ValueError(f"calc: {a} + {b} does not tokenize as one token per digit; operands must be 10..99")
        rows.append(ids + [newline] * (N_POS - len(ids)))
    return AdditionBatch(torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs]),
                         torch.tensor(rows), torch.tensor([tok.encode(str(d))[0] for d in range(10)]),
                         torch.tensor([pair_key(a, b) in HELD_OUT_ADDITION_PAIRS for a, b in pairs]),
                         prompt_len)


@dataclass
class Run:
    """One teacher-forced pass over a batch: what the model predicts at every answer position, and
    the activations asked for, each at one position per pair."""

    top: torch.Tensor  # [n pos] the most likely next token at every position
    digits: torch.Tensor  # [n pos d] the logits of the ten digit tokens at every position
    post: dict = field(default_factory=dict)  # name -> [n layer d_mlp] MLP neurons (hook_post)
    mlp_in: dict = field(default_factory=dict)  # name -> [n layer d_model] MLP inputs (what transcoders read)


def _rows_at(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    return x[torch.arange(len(x)), positions]


@torch.no_grad()
def run_batch(model, batch: AdditionBatch, record: Optional[dict] = None, mlp_inputs: bool = False,
              hooks: Optional[Callable] = None, batch_size: int = 256) -> Run:
    """Run every pair; keep the digit logits and the top token at every position, and for each
    ``name -> which`` of ``record`` the MLP neurons (and with ``mlp_inputs`` the MLP inputs) of
    every layer at the position that predicts that digit. ``hooks(rows)``: extra hooks for the
    pairs ``rows`` (a slice) of the batch."""
    from course.transcoders import mlp_input_hook

    record = record or {}
    L, n, P = model.cfg.n_layers, len(batch), batch.tokens.shape[1]
    positions = {name: batch.position(which) for name, which in record.items()}
    top = torch.zeros(n, P, dtype=torch.long)
    digits = torch.zeros(n, P, len(batch.digit_ids))
    posts = {name: torch.zeros(n, L, model.cfg.d_mlp) for name in record}  # filled in place: no copies
    ins = {name: torch.zeros(n, L, model.cfg.d_model) for name in record} if mlp_inputs else {}
    names = [f"blocks.{l}.mlp.hook_post" for l in range(L)] + ([mlp_input_hook(model, l) for l in range(L)]
                                                               if mlp_inputs else [])
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        store = {}

        def keep(act, hook):
            store[hook.name] = act
        extra = hooks(rows) if hooks is not None else []
        recording = [(m, keep) for m in names] if record else []
        logits = model.run_with_hooks(batch.tokens[rows], fwd_hooks=extra + recording)
        top[rows] = logits.argmax(-1)
        digits[rows] = logits[..., batch.digit_ids]
        for name in record:
            p = positions[name][rows]
            for l in range(L):
                posts[name][rows, l] = _rows_at(store[f"blocks.{l}.mlp.hook_post"], p)
                if mlp_inputs:
                    ins[name][rows, l] = _rows_at(store[mlp_input_hook(model, l)], p)
        del logits
    return Run(top, digits, posts, ins)


def answers_correct(batch: AdditionBatch, top: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Is each greedy answer exactly right: the space, every digit, then a token that is not a
    digit (what course.evaluate.addition_accuracy checks)? Returns (correct [n] bool, first wrong
    answer token [n]: -1 if none, 0 the space, 1 the first digit, ... n_digits + 1 the end)."""
    n = len(batch)
    wrong = torch.full((n,), -1)
    for k in range(N_POS - batch.first_pos + 1):  # answer token k is predicted at first_pos - 1 + k
        pos = batch.first_pos - 1 + k
        if pos >= batch.tokens.shape[1]:
            break
        is_end = k == batch.n_digits + 1  # [n]: this token ends the answer
        active = k <= batch.n_digits + 1
        expected = batch.tokens[:, min(pos + 1, batch.tokens.shape[1] - 1)]  # (unused where the answer has ended)
        ok = torch.where(is_end, ~torch.isin(top[:, pos], batch.digit_ids), top[:, pos] == expected)
        wrong = torch.where((wrong < 0) & active & ~ok, torch.full_like(wrong, k), wrong)
    return wrong < 0, wrong


def accuracy_table(batch: AdditionBatch, correct: torch.Tensor) -> dict[str, tuple[int, float]]:
    """Accuracy by kind of pair: (number of pairs, share answered exactly)."""
    groups = {"all pairs": torch.ones_like(correct), "held-out pairs": batch.held_out,
              "trained pairs": ~batch.held_out, "carry": batch.carry, "no carry": ~batch.carry,
              "two-digit answer": batch.n_digits == 2, "three-digit answer": batch.n_digits == 3}
    return {name: (int(m.sum()), correct[m].float().mean().item()) for name, m in groups.items()}


def _right_and_others(run: Run, batch: AdditionBatch, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    """[n] the correct digit's logit and [n 10] the digits' logits with the correct one set to -inf."""
    logits = _rows_at(run.digits, batch.position(which))  # [n 10]
    right = batch.digit(which)
    return logits.gather(-1, right[:, None])[:, 0], logits.scatter(-1, right[:, None], float("-inf"))


def digit_margin(run: Run, batch: AdditionBatch, which: str) -> torch.Tensor:
    """[n] how far the correct digit's logit is above the best other digit, where it is predicted."""
    correct, others = _right_and_others(run, batch, which)
    return correct - others.max(-1).values


def runner_up_digit(run: Run, batch: AdditionBatch, which: str) -> torch.Tensor:
    """[n] the best digit other than the correct one, where it is predicted (the winner where the model is wrong)."""
    return _right_and_others(run, batch, which)[1].argmax(-1)


def carry_error_digit(a: int, b: int) -> int:
    """The digit in the tens digit's place of a + b with the carry lost (the ones digits make 10 or more) or
    made up (they make 9): 7 for 19 + 61 (70), 1 for 34 + 65 (109)."""
    total, carried = a + b, a % 10 + b % 10 >= 10
    wrong_total = total - 10 if carried else total + 10
    return int(str(wrong_total)[len(str(total)) - 2])


def ones_pairs_above_half_peak(acts: torch.Tensor, batch: AdditionBatch) -> torch.Tensor:
    """The pairs of ones digits (10 * a % 10 + b % 10, 0..99) on which the mean of ``acts`` ([n], one value per
    pair of the batch) is above half its peak."""
    pair = (batch.a % 10) * 10 + batch.b % 10
    means = torch.zeros(100).index_add_(0, pair, acts) / torch.bincount(pair, minlength=100).clamp(min=1)
    return (means > 0.5 * means.max()).nonzero()[:, 0]


def digit_logit_diff(digit_logits: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """[n] the correct digit's logit minus the mean of the ten digits' logits."""
    return digit_logits.gather(-1, right[:, None])[:, 0] - digit_logits.mean(-1)


# -- exercise 1: the share of a neuron's variance that a grouping explains -----------------------

def explained_by_groups(acts: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """The share of the variance of ``acts`` that the groups explain (eta squared): predict each
    activation by the mean of its group, and compare the squared error left with the squared
    deviation from the overall mean: 1 - sum (x - group mean)^2 / sum (x - mean)^2.
    acts: [n] one neuron, or [n k] k neurons; groups: [n] integer labels (any values).
    Returns a 0-dim tensor for [n], or [k] (0 for a neuron that never varies: nothing to explain)."""
    _, g = torch.unique(groups, return_inverse=True)  # labels 0..G-1
    x = acts if acts.ndim == 2 else acts[:, None]
    counts = torch.bincount(g).to(x.dtype)  # [G]
    means = torch.zeros(len(counts), x.shape[1], dtype=x.dtype).index_add_(0, g, x) / counts[:, None]
    within = (x - means[g]).pow(2).sum(0)
    total = (x - x.mean(0)).pow(2).sum(0)
    share = torch.where(total > 0, 1 - within / total.clamp_min(1e-30), 0.0)  # a constant neuron: nothing explained
    return share if acts.ndim == 2 else share[0]


def _group_means(x, groups):
    _, g = torch.unique(groups, return_inverse=True)
    x2 = x if x.ndim == 2 else x[:, None]
    counts = torch.bincount(g).to(x2.dtype)
    means = torch.zeros(len(counts), x2.shape[1], dtype=x2.dtype).index_add_(0, g, x2) / counts[:, None]
    return x2, g, means, counts


def _squeeze(share, acts):
    return share if acts.ndim == 2 else share[0]


def _wrong_ve_uncentred(acts, groups):
    x, g, means, _ = _group_means(acts, groups)
    return _squeeze(1 - (x - means[g]).pow(2).sum(0) / x.pow(2).sum(0).clamp_min(1e-12), acts)


def _wrong_ve_unexplained(acts, groups):
    x, g, means, _ = _group_means(acts, groups)
    return _squeeze((x - means[g]).pow(2).sum(0) / (x - x.mean(0)).pow(2).sum(0).clamp_min(1e-12), acts)


def _wrong_ve_unweighted(acts, groups):
    x, g, means, _ = _group_means(acts, groups)
    return _squeeze(means.var(0, unbiased=False) / x.var(0, unbiased=False).clamp_min(1e-12), acts)


def _wrong_ve_std(acts, groups):
    x, g, means, _ = _group_means(acts, groups)
    ratio = (x - means[g]).pow(2).sum(0) / (x - x.mean(0)).pow(2).sum(0).clamp_min(1e-12)
    return _squeeze(1 - ratio.sqrt(), acts)


def _ve_cases():
    g = _gen(0)
    groups = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])  # unequal groups
    x = torch.tensor([1.0, 1.2, 0.8, 1.1, 0.9, 3.0, 3.4, 6.0])  # a mean far from 0
    k = torch.randint(0, 7, (200,), generator=g) * 3 + 1  # labels that are not 0..G-1
    y = torch.stack([k.float() * 0.5 + torch.randn(200, generator=g),
                     (k % 2).float() + 2 + 0.3 * torch.randn(200, generator=g),
                     torch.randn(200, generator=g) + 5], dim=1)
    return [Case("8 activations in 3 groups of sizes 5, 2, 1", (x, groups)),
            Case("3 neurons [200 3], 7 groups labelled 1, 4, ..., 19", (y, k)),
            Case("one neuron of those, [200]", (y[:, 1], k))]


# -- exercise 2: which heuristic a neuron implements ---------------------------------------------

HEURISTICS = ("sum mod 10", "ones digits", "sum", "one operand", "tens digits")


def classify_neuron(acts: torch.Tensor, a: torch.Tensor, b: torch.Tensor, threshold: float = 0.7) -> dict:
    """Which heuristic does a neuron implement? Measure the share of its activation variance that
    each of these groupings of the pairs explains (``explained_by_groups``, as floats):
    - "sum mod 10": (a + b) % 10, the ones digit of the sum;
    - "ones digits": the pair (a % 10, b % 10), a lookup table of the operands' ones digits;
    - "sum": a + b, the sum itself (its range);
    - "one operand": the larger of the shares explained by a alone and by b alone;
    - "tens digits": the pair (a // 10, b // 10), a low-precision lookup of both operands.
    The label is the first of those five, in that order (the most specific first: a function of
    the sum mod 10 is also a function of the sum and of the ones digits), whose share is at least
    ``threshold``; "unclassified" if none is.
    acts: [n] one neuron's activation on the pairs (a, b): [n] each.
    Returns {"sum mod 10": float, "ones digits": float, "sum": float, "one operand": float,
    "tens digits": float, "label": str}."""
    shares = {
        "sum mod 10": explained_by_groups(acts, (a + b) % 10).item(),
        "ones digits": explained_by_groups(acts, (a % 10) * 10 + b % 10).item(),
        "sum": explained_by_groups(acts, a + b).item(),
        "one operand": max(explained_by_groups(acts, a).item(), explained_by_groups(acts, b).item()),
        "tens digits": explained_by_groups(acts, (a // 10) * 10 + b // 10).item(),
    }
    label = next((name for name, share in shares.items() if share >= threshold), "unclassified")
    return {**shares, "label": label}


def _classify_with(shares: dict, order, threshold: float) -> dict:
    label = next((name for name in order if shares[name] >= threshold), "unclassified")
    return {**{k: shares[k] for k in HEURISTICS}, "label": label}


def _shares(acts, a, b, ones=None, total=None, operand=None):
    return {"sum mod 10": explained_by_groups(acts, (a + b) % 10).item(),
            "ones digits": explained_by_groups(acts, (a % 10) * 10 + b % 10 if ones is None else ones).item(),
            "sum": explained_by_groups(acts, a + b if total is None else total).item(),
            "one operand": (max(explained_by_groups(acts, a).item(), explained_by_groups(acts, b).item())
                            if operand is None else operand),
            "tens digits": explained_by_groups(acts, (a // 10) * 10 + b // 10).item()}


def _wrong_classify_sum_first(acts, a, b, threshold=0.7):
    order = ("sum", "sum mod 10", "ones digits", "one operand", "tens digits")
    return _classify_with(_shares(acts, a, b), order, threshold)


def _wrong_classify_digit_sum(acts, a, b, threshold=0.7):
    return _classify_with(_shares(acts, a, b, ones=a % 10 + b % 10), HEURISTICS, threshold)


def _wrong_classify_decades(acts, a, b, threshold=0.7):
    return _classify_with(_shares(acts, a, b, total=(a + b) // 10), HEURISTICS, threshold)


def _wrong_classify_operand_ones(acts, a, b, threshold=0.7):
    operand = max(explained_by_groups(acts, a % 10).item(), explained_by_groups(acts, b % 10).item())
    return _classify_with(_shares(acts, a, b, operand=operand), HEURISTICS, threshold)


def _wrong_classify_fixed_threshold(acts, a, b, threshold=0.7):
    return _classify_with(_shares(acts, a, b), HEURISTICS, 0.7)


def synthetic_neurons() -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Every pair (a, b) of 10..99 and six made-up neurons on them, one per label (for the
    checker, and to try ``classify_neuron`` on before the model's neurons)."""
    side = torch.arange(LOW, HIGH)
    a, b = side[:, None].expand(-1, len(side)).flatten(), side[None, :].expand(len(side), -1).flatten()
    g = _gen(1)
    noise = lambda scale: scale * torch.randn(len(a), generator=g)  # noqa: E731
    s = a + b
    neurons = {
        "sum mod 10": torch.relu(torch.cos(2 * math.pi * ((s % 10) - 2) / 10)) + noise(0.05),
        "ones digits": ((a % 10 == 6) & (b % 10 >= 4)).float() + 0.5 * ((a % 10) < 3).float() + noise(0.05),
        "sum": torch.sigmoid((s - 120) / 6.0) + noise(0.02),
        "one operand": ((a >= 30) & (a < 40)).float() + noise(0.05),
        "tens digits": ((a // 10 == 4) & (b // 10 >= 5)).float() + 0.6 * ((b // 10) == 2).float() + noise(0.05),
        "unclassified": noise(1.0),
    }
    return a, b, neurons


def _classify_cases():
    a, b, neurons = synthetic_neurons()
    order = ["sum mod 10", "ones digits", "sum", "one operand", "tens digits", "unclassified"]
    cases = [Case(f"a made-up '{name}' neuron on all 8,100 pairs", (neurons[name], a, b)) for name in order]
    cases.append(Case("the 'one operand' neuron with threshold 0.98", (neurons["one operand"], a, b),
                      {"threshold": 0.98}))
    return cases


# -- neurons: attribution, classification, ablation -------------------------------------------------

def neuron_attribution(model, batch: AdditionBatch, which: str, batch_size: int = 128) -> torch.Tensor:
    """[layer d_mlp] each MLP neuron's average contribution to the correct digit's logit (minus
    the mean digit logit) where ``which`` digit is predicted: (activation - its mean there) times
    the gradient, with every norm's scale frozen (so the logit is linear in each neuron's
    direct and indirect paths, as in an attribution graph). A first-order estimate of what mean
    ablation of the neuron would cost; the chapter measures the real cost by ablation."""
    L = model.cfg.n_layers
    positions, right = batch.position(which), batch.digit(which)
    total = torch.zeros(L, model.cfg.d_mlp)
    run = run_batch(model, batch, {which: which})
    means = position_means(run.post[which], positions)
    for start in range(0, len(batch), batch_size):
        rows = slice(start, start + batch_size)
        store = {}

        def keep(act, hook):
            store[hook.name] = act
            return act
        freeze = (lambda name: name.endswith("hook_scale"), lambda act, hook: act.detach())
        with torch.enable_grad():
            logits = model.run_with_hooks(batch.tokens[rows], fwd_hooks=[
                (lambda name: name.endswith("mlp.hook_post"), keep), freeze])
            metric = digit_logit_diff(_rows_at(logits, positions[rows])[:, batch.digit_ids], right[rows]).sum()
            grads = torch.autograd.grad(metric, [store[f"blocks.{l}.mlp.hook_post"] for l in range(L)])
        p = positions[rows]
        for l in range(L):
            delta = run.post[which][rows, l] - torch.stack([means[int(q)][l] for q in p])
            total[l] += (delta * _rows_at(grads[l], p)).sum(0)
    return total / len(batch)


def position_means(acts: torch.Tensor, positions: torch.Tensor) -> dict[int, torch.Tensor]:
    """{position: mean of ``acts [n ...]`` over the pairs read at that position}."""
    return {int(p): acts[positions == p].mean(0) for p in positions.unique()}


def top_by_share(scores: torch.Tensor, share: float) -> torch.Tensor:
    """Indices (into scores.flatten()) of the fewest largest |scores| that add up to ``share`` of the total."""
    flat = scores.flatten().abs()
    order = flat.argsort(descending=True)
    cumulative = flat[order].cumsum(0) / flat.sum()
    return order[: int((cumulative < share).sum()) + 1]


@torch.no_grad()
def ablate_neurons(model, batch: AdditionBatch, which: str, ablate: torch.Tensor, means: dict) -> Run:
    """Run the batch with the neurons ``ablate [layer d_mlp]`` (bool) set to their mean (``means``,
    from ``position_means``), only where ``which`` digit is predicted."""
    positions = batch.position(which)
    L = model.cfg.n_layers

    def hooks(rows):
        p = positions[rows]
        fill = {l: torch.stack([means[int(q)][l] for q in p]) for l in range(L) if ablate[l].any()}

        def make(l):
            def fn(act, hook):
                act = act.clone()
                r = torch.arange(len(act))
                act[r, p] = torch.where(ablate[l], fill[l], act[r, p])
                return act
            return fn
        return [(f"blocks.{l}.mlp.hook_post", make(l)) for l in fill]
    return run_batch(model, batch, hooks=hooks)


def ablation_scores(model, batch: AdditionBatch, which: str, neurons: torch.Tensor, means: dict,
                    seed: int = 0, clean: Optional[torch.Tensor] = None) -> dict[str, dict[str, float]]:
    """Keep ``neurons [layer d_mlp]`` (bool) and mean-ablate every other neuron, then the opposite,
    then a control (as many random neurons of the same layers ablated), where ``which`` digit is
    predicted. For each: the correct digit's logit difference (``digit_logit_diff``) as a share of
    the clean one, after removing what is left with every neuron ablated, and the digit's accuracy.
    ``clean``: the batch's digit logits [n pos 10] from a run already made (``Run.digits``), if any."""
    right, positions = batch.digit(which), batch.position(which)

    def score(run):
        d = _rows_at(run.digits, positions)
        return digit_logit_diff(d, right).mean().item(), (d.argmax(-1) == right).float().mean().item()

    clean, clean_acc = score(run_batch(model, batch) if clean is None else Run(None, clean))
    floor, floor_acc = score(ablate_neurons(model, batch, which, torch.ones_like(neurons), means))
    g = _gen(seed)
    control = torch.zeros_like(neurons)
    for l in range(len(neurons)):
        k = int(neurons[l].sum())
        control[l, torch.randperm(neurons.shape[1], generator=g)[:k]] = True
    out = {"clean": {"logit_diff": clean, "share": 1.0, "accuracy": clean_acc},
           "every neuron ablated": {"logit_diff": floor, "share": 0.0, "accuracy": floor_acc}}
    for name, ablate in (("keep these, ablate the rest", ~neurons), ("ablate these, keep the rest", neurons),
                         ("ablate as many random neurons", control)):
        ld, acc = score(ablate_neurons(model, batch, which, ablate, means))
        out[name] = {"logit_diff": ld, "share": (ld - floor) / (clean - floor), "accuracy": acc}
    return out


# -- transcoder features over every pair, and swapping them -------------------------------------

@torch.no_grad()
def feature_acts(transcoders, mlp_in: torch.Tensor) -> torch.Tensor:
    """[n layer d_transcoder] every feature's activation, from MLP inputs [n layer d_model]."""
    n, L, _ = mlp_in.shape
    out = torch.zeros(n, L, transcoders.cfg.d_transcoder)
    for l in range(L):
        out[:, l] = transcoders.encode(l, mlp_in[:, l])
    return out


@torch.no_grad()
def classify_features(transcoders, mlp_in: torch.Tensor, a: torch.Tensor, b: torch.Tensor, min_active: float = 0.01,
                      classify: Optional[Callable] = None, threshold: float = 0.7) -> dict[tuple[int, int], dict]:
    """``classify_neuron`` (or ``classify``) for every transcoder feature that fires on at least
    ``min_active`` of the pairs, from the MLP inputs ``mlp_in [n layer d_model]`` read where one digit
    is predicted: {(layer, feature): its result}. One layer at a time, to keep memory low."""
    classify = classify or classify_neuron
    out = {}
    for l in range(mlp_in.shape[1]):
        acts = transcoders.encode(l, mlp_in[:, l])  # [n d_transcoder]
        for f in ((acts > 0).float().mean(0) >= min_active).nonzero()[:, 0].tolist():
            out[(l, f)] = classify(acts[:, f], a, b, threshold)
    return out


@torch.no_grad()
def class_summary(transcoders, mlp_in: torch.Tensor, classes: dict) -> dict[str, dict[str, float]]:
    """For each label of ``classes`` (from ``classify_features``): how many features, the median
    share of pairs each fires on, and the label's share of all their activation (summed over pairs)."""
    rate, mass = {}, {}
    for l in range(mlp_in.shape[1]):
        acts = transcoders.encode(l, mlp_in[:, l])
        for (layer, f) in classes:
            if layer == l:
                rate[(l, f)] = (acts[:, f] > 0).float().mean().item()
                mass[(l, f)] = acts[:, f].sum().item()
    total = sum(mass.values())
    out = {}
    for label in sorted({r["label"] for r in classes.values()}):
        keys = [k for k, r in classes.items() if r["label"] == label]
        out[label] = {"features": float(len(keys)),
                      "median fire rate": torch.tensor([rate[k] for k in keys]).median().item(),
                      "share of activation": sum(mass[k] for k in keys) / total}
    return out


def class_mask(classes: dict, labels, shape) -> torch.Tensor:
    """[layer d_transcoder] bool: the features whose label is one of ``labels``."""
    mask = torch.zeros(shape, dtype=torch.bool)
    for (l, f), r in classes.items():
        if r["label"] in labels:
            mask[l, f] = True
    return mask


@torch.no_grad()
def activations_at(model, batch: AdditionBatch, which: str, names: list[str]) -> dict[str, torch.Tensor]:
    """{hook name: [n d_model]} the activations ``names`` where ``which`` digit is predicted."""
    p = batch.position(which)
    out = {n: [] for n in names}
    for start in range(0, len(batch), 512):
        _, cache = model.run_with_cache(batch.tokens[start:start + 512], names_filter=names)
        for n in names:
            out[n].append(_rows_at(cache[n], p[start:start + 512]))
    return {n: torch.cat(v) for n, v in out.items()}


@torch.no_grad()
def set_features(model, transcoders, batch: AdditionBatch, which: str, mask: torch.Tensor,
                 values: torch.Tensor, patches: Optional[dict] = None) -> Run:
    """Run the batch with the features ``mask [layer d_transcoder]`` set to ``values [n layer
    d_transcoder]`` (one row per pair) where ``which`` digit is predicted: as in
    course.interventions, each feature's current activation is read at its MLP's input and
    (value - current) times its decoder is added to every MLP output it writes; everything else,
    including what the transcoders miss, runs as the real model computes it. ``patches``: {hook
    name: [n d_model]}, activations also set there (e.g. an attention output from another pair)."""
    from course.transcoders import mlp_input_hook, mlp_output_hook

    positions = batch.position(which)
    layers = [l for l in range(mask.shape[0]) if mask[l].any()]
    patches = patches or {}

    def hooks(rows):
        p = positions[rows]
        delta = {}

        def patch(name):
            def fn(act, hook):
                act = act.clone()
                act[torch.arange(len(act)), p] = patches[name][rows]
                return act
            return fn

        def read(l):
            def fn(x, hook):
                current = transcoders.encode(l, _rows_at(x, p))  # [n d_transcoder]
                delta[l] = torch.where(mask[l], values[rows, l] - current, 0.0)
            return fn

        def write(j):
            def fn(out, hook):
                out = out.clone()
                r = torch.arange(len(out))
                for l in layers:
                    if j in transcoders.writes_to(l):
                        out[r, p] += delta[l] @ transcoders.W_dec[l][j - l]
                return out
            return fn
        outputs = sorted({j for l in layers for j in transcoders.writes_to(l)})
        return ([(name, patch(name)) for name in patches] + [(mlp_input_hook(model, l), read(l)) for l in layers]
                + [(mlp_output_hook(j), write(j)) for j in outputs])
    return run_batch(model, batch, hooks=hooks)


def donor_pairs(batch: AdditionBatch, change: str) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """For each pair of ``batch``, a donor pair whose answer has the same number of digits:
    - change="ones": b's ones digit moved by 5 (tens digits kept), so the sum's ones digit moves by 5;
    - change="tens": a moved by 10 (up, or down from 90..99), so the sum moves by 10.
    Returns (rows of ``batch`` that have one, [(a, b)] of their donors)."""
    rows, donors = [], []
    for i, (a, b) in enumerate(zip(batch.a.tolist(), batch.b.tolist())):
        if change == "ones":
            a2, b2 = a, (b // 10) * 10 + (b % 10 + 5) % 10
        elif change == "tens":
            a2, b2 = (a + 10 if a < 90 else a - 10), b
        else:
            raise ValueError(f"change must be 'ones' or 'tens', got {change!r}")
        if (a + b >= 100) == (a2 + b2 >= 100):
            rows.append(i)
            donors.append((a2, b2))
    return torch.tensor(rows), donors


def swap_rates(model, transcoders, batch: AdditionBatch, which: str, mask: torch.Tensor,
               donor: AdditionBatch, donor_acts: torch.Tensor, scale: float = 1.0,
               patches: Optional[dict] = None) -> dict[str, float]:
    """Set the features ``mask`` of each pair to ``scale`` times the donor pair's activations
    (``donor_acts [n layer d_transcoder]``, read where the donor predicts the same digit; a
    feature the donor does not use goes to 0), where ``which`` digit is predicted, and count what
    the model then predicts there: the donor's digit, its own, or another. ``patches``: as in
    ``set_features`` (the donor's activations of other hooks, e.g. from ``activations_at``)."""
    values = torch.where(mask, scale * donor_acts, 0.0)
    run = set_features(model, transcoders, batch, which, mask, values, patches)
    got = _rows_at(run.top, batch.position(which))
    own, theirs = batch.digit_ids[batch.digit(which)], batch.digit_ids[donor.digit(which)]
    moved = batch.digit(which) != donor.digit(which)
    return {"n": int(moved.sum()), "donor's digit": (got == theirs)[moved].float().mean().item(),
            "own digit": (got == own)[moved].float().mean().item(),
            "another digit": ((got != theirs) & (got != own))[moved].float().mean().item()}


# -- the graph of one pair: supernodes from the classes ------------------------------------------

SUPERNODE_OF = {"sum mod 10": "ones digits (lookup)", "ones digits": "ones digits (lookup)",
                "sum": "magnitude", "tens digits": "magnitude", "one operand": "magnitude"}


def group_supernodes(graph, classes: dict, pruned=None) -> dict[str, list[str]]:
    """Name supernodes in the graph of one pair: at the last position, its features grouped by
    their class over every pair (``SUPERNODE_OF``: the ones-digit lookup, or the magnitude); and the
    features at each operand's two digit tokens ("first operand", "second operand"). Only the nodes
    ``pruned`` keeps, if given."""
    keep = None if pruned is None else {graph.nodes[i].node_id for i in pruned.node_mask.nonzero()[:, 0].tolist()}
    last = len(graph.tokens) - 1
    first_digits, second_digits = (3, 4), (7, 8)  # after BOS: calc : ' ' d d ' +' ' ' d d ' ='
    groups: dict[str, list[str]] = {}
    for node in graph.nodes:
        if node.kind != "feature" or (keep is not None and node.node_id not in keep):
            continue
        name = None
        if node.pos == last:
            label = classes.get((node.layer, node.index), {}).get("label")
            name = SUPERNODE_OF.get(label)
        elif node.pos - 1 in first_digits:
            name = "first operand"
        elif node.pos - 1 in second_digits:
            name = "second operand"
        if name:
            groups.setdefault(name, []).append(node.node_id)
    for name, ids in groups.items():
        graph.add_supernode(name, ids)
    return groups


def direct_into_logit(graph, token: str, pruned=None) -> dict[str, float]:
    """The direct edges into the logit of ``token``, summed by supernode (and the rest of the
    features, the error nodes and the embeddings); only the edges ``pruned`` keeps, if given."""
    logit = next(n for n in graph.nodes if n.kind == "logit" and n.token == token)
    li = graph.index(logit.node_id)
    member = {i: name for name, ids in graph.supernodes.items() for i in ids}
    out: dict[str, float] = {}
    for s, node in enumerate(graph.nodes):
        w = graph.adjacency[li, s].item()
        if w == 0 or (pruned is not None and not pruned.edge_mask[li, s]):
            continue
        key = member.get(node.node_id) or {"feature": "other features", "error": "error nodes",
                                           "embedding": "embeddings"}.get(node.kind)
        if key:
            out[key] = out.get(key, 0.0) + w
    return out


def influence_by_group(graph, pruned=None) -> dict[str, float]:
    """Each supernode's share of the influence on the logits (``graph.node_influence()``) of the
    graph's feature and error nodes, with the rest of the features and the error nodes as two more
    groups (only the nodes ``pruned`` keeps, if given)."""
    influence = graph.node_influence()
    member = {i: name for name, ids in graph.supernodes.items() for i in ids}
    out: dict[str, float] = {}
    for i, node in enumerate(graph.nodes):
        if node.kind not in ("feature", "error") or (pruned is not None and not pruned.node_mask[i]):
            continue
        key = member.get(node.node_id) or ("other features" if node.kind == "feature" else "error nodes")
        out[key] = out.get(key, 0.0) + influence[i].item()
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


@torch.no_grad()
def direct_logit_attribution(model, batch: AdditionBatch, which: str) -> dict[str, float]:
    """The correct digit's logit difference (``digit_logit_diff``) where ``which`` digit is
    predicted, split into what each embedding, attention layer and MLP wrote to the residual
    stream there (through the final LayerNorm with its scale frozen), averaged over the batch."""
    L = model.cfg.n_layers
    names = ["hook_embed", "hook_pos_embed"] + [f"blocks.{l}.hook_{k}_out" for l in range(L) for k in ("attn", "mlp")]
    p, right = batch.position(which), batch.digit(which)
    W = model.W_U[:, batch.digit_ids] * model.ln_final.w[:, None]  # [d_model 10]
    totals = dict.fromkeys(names, 0.0)
    for start in range(0, len(batch), 512):
        rows = slice(start, start + 512)
        _, cache = model.run_with_cache(batch.tokens[rows], names_filter=names + ["ln_final.hook_scale"])
        scale = _rows_at(cache["ln_final.hook_scale"], p[rows])
        for n in names:
            x = _rows_at(cache[n], p[rows])
            totals[n] += digit_logit_diff(((x - x.mean(-1, keepdim=True)) / scale) @ W, right[rows]).sum().item()
    short = lambda n: n.replace("blocks.", "").replace("hook_", "").replace("_out", "")  # noqa: E731
    return {short(n): v / len(batch) for n, v in totals.items()}


# -- worked answers to the open-ended exercises ----------------------------------------------------

@torch.no_grad()
def out_of_range_accuracy(model) -> dict[str, float]:
    """The school method works for numbers of any length. Does the model's? Ask it, greedily, for
    every pair of one-digit operands (100 prompts) and for pairs of three-digit ones (a fixed sample
    of 200), which the corpus never writes, and count exact answers; for comparison, 200 pairs of
    its own range."""
    from course.evaluate import encode_prompts

    g = _gen(3)
    sets = {"one-digit operands (0..9)": [(a, b) for a in range(10) for b in range(10)],
            "three-digit operands": [tuple(x) for x in torch.randint(100, 1000, (200, 2), generator=g).tolist()],
            "two-digit operands (its range)": [tuple(x) for x in
                                               torch.randint(10, 100, (200, 2), generator=g).tolist()]}
    out = {}
    for name, pairs in sets.items():
        prompts = [PROMPT.format(a=a, b=b) for a, b in pairs]
        tokens = encode_prompts(model, prompts)
        generated = model.generate(tokens, max_new_tokens=6)[:, tokens.shape[1]:]
        text = [model.tokenizer.decode(r.tolist()) for r in generated]
        answers = [t[1:].split("\n")[0] for t in text]
        out[name] = sum(ans.startswith(str(a + b)) and not ans[len(str(a + b)):len(str(a + b)) + 1].isdigit()
                        for ans, (a, b) in zip(answers, pairs)) / len(pairs)
    return out


def carry_neurons(post: torch.Tensor, batch: AdditionBatch, min_std: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The share of each unit's variance that the carry bit alone explains (``post [n k]``: neurons
    or features over every pair), 0 for units whose standard deviation is below ``min_std`` (a GELU
    neuron that only moves in its small negative tail). Returns (shares [k], the best unit's index)."""
    shares = explained_by_groups(post, batch.carry.long())
    shares = torch.where(post.std(0) >= min_std, shares, 0.0)
    return shares, int(shares.argmax())


@torch.no_grad()
def worked_carry_search(model, transcoders, batch: AdditionBatch, run: Run) -> dict[str, float]:
    """Open question: the chapter found carry-like neurons. Does the cross-layer transcoder have a
    carry *feature* where the first digit is predicted, and how sharp is it? Worked answer: the
    carry share of every feature that fires on 1% of the pairs, the best one's mean activation by
    the sum of the ones digits (0..18), and how much more of it the pair of ones digits explains."""
    acts = feature_acts(transcoders, run.mlp_in["first"]).flatten(1)
    acts = acts[:, (acts > 0).float().mean(0) >= 0.01].clone()
    shares, best = carry_neurons(acts, batch, min_std=0.0)
    ones_sum = batch.a % 10 + batch.b % 10
    x = acts[:, best]
    return {"features": float(acts.shape[1]), "best feature: carry": shares[best].item(),
            "best feature: ones digits": explained_by_groups(x, (batch.a % 10) * 10 + batch.b % 10).item(),
            "features with carry share >= 0.5": float((shares >= 0.5).sum()),
            **{f"mean at ones sum {v}": x[ones_sum == v].mean().item() for v in (0, 8, 9, 10, 11, 18)}}


@torch.no_grad()
def worked_other_formats(model) -> dict[str, float]:
    """Open question: the corpus always writes `calc: a + b = s`. Does the skill survive another
    way of writing the question? Worked answer: greedy accuracy on the held-out pairs in three
    formats the corpus never uses, next to its own."""
    from course import evalsets
    from course.evaluate import encode_prompts

    items = evalsets.addition_dataset(held_out=True)
    formats = {"calc: {a} + {b} =": "its own", "{a} + {b} =": "no 'calc:'", "calc: {a}+{b} =": "no spaces",
               "sum: {a} + {b} =": "'sum:'"}
    out = {}
    for fmt, name in formats.items():
        prompts = [fmt.format(a=it.a, b=it.b) for it in items]
        tokens = encode_prompts(model, prompts)
        rows = model.generate(tokens, max_new_tokens=5)[:, tokens.shape[1]:]
        said = [model.tokenizer.decode(r.tolist())[1:].split("\n")[0] for r in rows]
        out[name] = sum(s[:len(str(it.total))] == str(it.total) and not s[len(str(it.total)):][:1].isdigit()
                        for s, it in zip(said, items)) / len(items)
    return out


@torch.no_grad()
def worked_pathways_per_digit(model, batch: AdditionBatch, neurons: dict, means: dict) -> dict[str, float]:
    """Open question: the ones digit of a three-digit sum is predicted one position later than that
    of a two-digit sum. Are the two the same neurons? Worked answer: keep only the heuristic
    neurons found over all pairs and compare the ones digit's accuracy for two- and three-digit
    answers separately."""
    run = ablate_neurons(model, batch, "ones", ~neurons["ones"], means["ones"])
    d = _rows_at(run.digits, batch.position("ones"))
    right = (d.argmax(-1) == batch.digit("ones"))
    return {"two-digit answers": right[batch.n_digits == 2].float().mean().item(),
            "three-digit answers": right[batch.n_digits == 3].float().mean().item()}


WORKED = {"other_formats": worked_other_formats, "carry_search": worked_carry_search,
          "pathways_per_digit": worked_pathways_per_digit}


EXERCISES = [
    Exercise(
        name="explained_by_groups", chapter=CHAPTER, reference=explained_by_groups, cases=_ve_cases,
        hints=["torch.unique(groups, return_inverse=True) turns any labels into 0..G-1; torch.bincount counts each "
               "group, and index_add_ sums each group's activations, so their ratio is the group means.",
               "Each activation's prediction is means[g]. The answer is 1 - ((x - means[g])**2).sum(0) / "
               "((x - x.mean(0))**2).sum(0), for every column at once if x is [n k]."],
        mistakes=[
            Mistake("uncentred", _wrong_ve_uncentred,
                    "Did you compare with sum(x^2) instead of the squared deviation from the mean? The total "
                    "variance is measured around the overall mean; otherwise a neuron with a large mean looks "
                    "explained by any grouping."),
            Mistake("unexplained", _wrong_ve_unexplained,
                    "Did you return the share left unexplained? The answer is 1 minus the within-group squared "
                    "error over the total."),
            Mistake("unweighted", _wrong_ve_unweighted,
                    "Did you take the variance of the group means with each group counted once? A group of one "
                    "pair would weigh as much as a group of a thousand; weight each mean by its group's size (which "
                    "1 - within / total does)."),
            Mistake("std", _wrong_ve_std,
                    "Did you take a ratio of standard deviations? Shares of variance add up; shares of standard "
                    "deviation do not. Use squared errors, not their square root."),
        ]),
    Exercise(
        name="classify_neuron", chapter=CHAPTER, reference=classify_neuron, cases=_classify_cases,
        hints=["Each share is one call: explained_by_groups(acts, grouping).item(), e.g. the ones digits as one label "
               "(a % 10) * 10 + b % 10 and the tens digits as (a // 10) * 10 + b // 10.",
               "Build the dict in the order of the docstring, then the label is next((k for k, v in shares.items() "
               "if v >= threshold), 'unclassified')."],
        mistakes=[
            Mistake("sum_first", _wrong_classify_sum_first,
                    "Did you test 'sum' before 'sum mod 10'? Every function of the sum's ones digit is also a "
                    "function of the sum, so a mod-10 neuron would be called a sum neuron: test the most specific "
                    "grouping first."),
            Mistake("digit_sum", _wrong_classify_digit_sum,
                    "Did you group 'ones digits' by a % 10 + b % 10? That is the sum of the ones digits (19 values): "
                    "it cannot tell 6 + 9 from 7 + 8. A lookup table needs the pair as one label, "
                    "(a % 10) * 10 + b % 10."),
            Mistake("decades", _wrong_classify_decades,
                    "Did you group 'sum' by (a + b) // 10? That is the sum rounded to tens; the 'sum' grouping is the "
                    "exact sum a + b (a neuron that tracks a range of sums is a function of it)."),
            Mistake("operand_ones", _wrong_classify_operand_ones,
                    "Did you group 'one operand' by a % 10 (the operand's ones digit)? The grouping is the whole "
                    "operand, a alone and b alone; take the larger share."),
            Mistake("fixed_threshold", _wrong_classify_fixed_threshold,
                    "Did you use 0.7 instead of the threshold argument? The label depends on the threshold the caller "
                    "passes; 0.7 is only its default."),
        ]),
]
