"""Chapter 07, training dynamics and the local learning coefficient: reference solutions, their
hints and the known mistakes; and the shared settings of the chapter's measurements.

The references use ``collections``, ``math`` and ``torch`` (the notebook imports them). The ``_wrong_*`` functions are the mistakes
``check`` recognises by their output.

``python -m solutions.ch07_dynamics`` recomputes ``course/data/llc_curve.json`` (one thread,
under a minute; the file records how long it took): the LLC of every checkpoint of ``attn-only-2l``
with the fixed settings of ``LLC_SETTINGS``. The chapter and ``tests/test_ch07.py`` call ``llc_at``
with the same settings, so a fresh estimate can be compared with the shipped curve.

``WORKED`` holds the worked answers of the chapter's open exercises (``reveal(name)`` prints them).
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import time
from pathlib import Path

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "07"
TITLE = "Training dynamics and the local learning coefficient"

LLC_CURVE_PATH = Path(__file__).resolve().parent.parent / "course" / "data" / "llc_curve.json"

# Data and SGLD settings of the shipped curve. The chains cycle through the same 4 minibatches, so
# with the burn-in and the kept steps both multiples of 4 every batch weighs the same in the mean,
# and init_loss (the mean over those 4 batches) is the loss on exactly the data the chain saw.
LLC_SETTINGS = {
    "model": "attn-only-2l",
    "data": {"stream": "corpus_v1.token_stream", "seed": 77, "mix": "the card's training mix",
             "n_seqs": 32, "seq_len": 64, "batch_size": 8},
    "sgld": {"epsilon": 3e-5, "gamma": 3000.0, "n_chains": 2, "n_steps": 32, "n_burnin": 12, "n_beta": None},
    "seed": 0,
    "threads": 1,
}


# -- data shared by the chapter and its tests ----------------------------------------------------

def tinyworld_rows(tokenizer, mix: dict, seed: int, n_seqs: int, seq_len: int) -> torch.Tensor:
    """``[n_seqs seq_len]`` token ids cut from a TinyWorld stream (documents separated by EOT)."""
    from course import corpus_v1

    stream = corpus_v1.token_stream(tokenizer, seed=seed, mix=mix, batch=64)
    return torch.tensor(list(itertools.islice(stream, n_seqs * seq_len))).view(n_seqs, seq_len)


def llc_data(model, mix: dict) -> torch.Tensor:
    d = LLC_SETTINGS["data"]
    return tinyworld_rows(model.tokenizer, mix, d["seed"], d["n_seqs"], d["seq_len"])


def llc_at(model, data: torch.Tensor, **overrides) -> dict:
    """``course.llc.estimate_llc`` with the shipped curve's settings; keyword arguments replace any
    of ``LLC_SETTINGS["sgld"]`` (``n_chains=1``, ``epsilon=1e-4``, ...)."""
    from course.llc import SGLDConfig, estimate_llc

    unknown = set(overrides) - set(LLC_SETTINGS["sgld"])
    if unknown:
        raise TypeError(f"llc_at: unknown SGLD settings {sorted(unknown)}; the settings are {list(LLC_SETTINGS['sgld'])}")
    s = {**LLC_SETTINGS["sgld"], **overrides}
    batch_size = LLC_SETTINGS["data"]["batch_size"]
    return estimate_llc(model, lambda: iter(data.split(batch_size)), lambda m, b: m.loss(b),
                        n_tokens=data.numel(), cfg=SGLDConfig(**s), seed=LLC_SETTINGS["seed"])


def compute_llc_curve(path: Path = LLC_CURVE_PATH) -> dict:
    from course import zoo

    torch.set_num_threads(LLC_SETTINGS["threads"])
    start = time.time()
    series = zoo.load_series(LLC_SETTINGS["model"])
    mix = zoo.card(LLC_SETTINGS["model"])["data"]["mix"]
    data = llc_data(next(iter(series.values())), mix)
    points = []
    for step, model in series.items():
        r = llc_at(model, data)
        points.append({"step": step, "llc": r["llc"], "llc_std": r["llc_std"], "chains": r["chains"],
                       "init_loss": r["init_loss"], "trace_mean": [sum(c) / len(c) for c in zip(*r["traces"])]})
        print(f"step {step:5d}: llc {r['llc']:8.1f} +- {r['llc_std']:.1f}", flush=True)
    out = {"settings": LLC_SETTINGS, "n_beta": r["n_beta"], "n_tokens": data.numel(),
           "seconds": round(time.time() - start, 1), "machine": f"torch {torch.__version__}, 1 thread",
           "points": points}
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


# -- the bigram baseline ------------------------------------------------------------------------

def bigram_loss(train: list[list[int]], held_out: list[list[int]], d_vocab: int, k: float) -> float:
    """Mean cross-entropy (nats) of an add-k bigram model, counted on ``train``, on every position
    i >= 1 of every ``held_out`` sequence: p(t | prev) = (count(prev, t) + k) / (count(prev) + k * d_vocab)."""
    pairs = collections.Counter()
    contexts = collections.Counter()
    for seq in train:
        for prev, tok in zip(seq[:-1], seq[1:]):
            pairs[prev, tok] += 1
            contexts[prev] += 1
    total, count = 0.0, 0
    for seq in held_out:
        for prev, tok in zip(seq[:-1], seq[1:]):
            total -= math.log((pairs[prev, tok] + k) / (contexts[prev] + k * d_vocab))
            count += 1
    return total / count


def _bigram_generic(train, held_out, d_vocab, k, lag=1, denom_k=True, from_unigram=False, base=math.e):
    pairs, contexts, unigram = collections.Counter(), collections.Counter(), collections.Counter()
    for seq in train:
        unigram.update(seq)
        for prev, tok in zip(seq[:-lag], seq[lag:]):
            pairs[prev, tok] += 1
            contexts[prev] += 1
    total, count = 0.0, 0
    n_train = sum(unigram.values())
    for seq in held_out:
        for prev, tok in zip(seq[:-lag], seq[lag:]):
            denom = (n_train if from_unigram else contexts[prev]) + (k * d_vocab if denom_k else 0)
            p = (pairs[prev, tok] + k) / denom
            total -= math.log(p, base) if p > 0 else -math.inf
            count += 1
    return total / count


def _wrong_bigram_no_smoothing(train, held_out, d_vocab, k):
    return _bigram_generic(train, held_out, d_vocab, 0.0)


def _wrong_bigram_off_by_one(train, held_out, d_vocab, k):
    return _bigram_generic(train, held_out, d_vocab, k, lag=2)


def _wrong_bigram_numerator_only(train, held_out, d_vocab, k):
    return _bigram_generic(train, held_out, d_vocab, k, denom_k=False)


def _wrong_bigram_bits(train, held_out, d_vocab, k):
    return _bigram_generic(train, held_out, d_vocab, k, base=2)


def _bigram_cases():
    g = torch.Generator().manual_seed(7)
    rand = lambda n, length, v: torch.randint(0, v, (n, length), generator=g).tolist()  # noqa: E731
    train = rand(6, 30, 5)
    return [
        Case("'a b c a b c ...', vocab 3, k 0.1", ([[0, 1, 2] * 5], [[0, 1, 2, 0, 1]], 3, 0.1)),
        Case("random, vocab 5, k 0.5 (every pair seen)", (train, rand(3, 12, 5), 5, 0.5)),
        Case("held-out pairs never seen, vocab 6, k 0.01", ([[0, 1, 0, 1, 0, 1]], [[0, 1, 4, 5, 0]], 6, 0.01)),
    ]


# -- one SGLD step --------------------------------------------------------------------------------

def sgld_update(params: torch.Tensor, grads: torch.Tensor, anchor: torch.Tensor, epsilon: float, gamma: float,
                n_beta: float, noise: torch.Tensor) -> torch.Tensor:
    """One step of localised SGLD: w - epsilon/2 * (n_beta * grad + gamma * (w - w*)) + sqrt(epsilon) * noise.
    params (w), grads, anchor (w*), noise (standard normal draws): same shape -> the new params.
    Do not modify the inputs in place."""
    drift = n_beta * grads + gamma * (params - anchor)
    return params - epsilon / 2 * drift + math.sqrt(epsilon) * noise


def _wrong_sgld_no_half(params, grads, anchor, epsilon, gamma, n_beta, noise):
    return params - epsilon * (n_beta * grads + gamma * (params - anchor)) + math.sqrt(epsilon) * noise


def _wrong_sgld_localisation_sign(params, grads, anchor, epsilon, gamma, n_beta, noise):
    return params - epsilon / 2 * (n_beta * grads + gamma * (anchor - params)) + math.sqrt(epsilon) * noise


def _wrong_sgld_noise_epsilon(params, grads, anchor, epsilon, gamma, n_beta, noise):
    return params - epsilon / 2 * (n_beta * grads + gamma * (params - anchor)) + epsilon * noise


def _wrong_sgld_no_n_beta(params, grads, anchor, epsilon, gamma, n_beta, noise):
    return params - epsilon / 2 * (grads + gamma * (params - anchor)) + math.sqrt(epsilon) * noise


def _sgld_cases():
    g = torch.Generator().manual_seed(11)
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    w = r(4)
    return [
        Case("at the anchor, no noise", (w, r(4), w.clone(), 0.01, 10.0, 50.0, torch.zeros(4))),
        Case("zero gradient, away from the anchor", (r(2, 3), torch.zeros(2, 3), r(2, 3), 0.04, 5.0, 20.0, r(2, 3))),
        Case("random, [3 5]", (r(3, 5), r(3, 5), r(3, 5), 0.09, 3.0, 7.0, r(3, 5))),
    ]


# -- from a loss trace to the estimate ----------------------------------------------------------

def llc_from_trace(trace: list[float], init_loss: float, n_beta: float, n_burnin: int) -> float:
    """The LLC estimate of one chain: n_beta * (mean loss over the steps after the burn-in - loss at w*)."""
    kept = trace[n_burnin:]
    return n_beta * (sum(kept) / len(kept) - init_loss)


def _wrong_llc_keep_burnin(trace, init_loss, n_beta, n_burnin):
    return n_beta * (sum(trace) / len(trace) - init_loss)


def _wrong_llc_no_n_beta(trace, init_loss, n_beta, n_burnin):
    kept = trace[n_burnin:]
    return sum(kept) / len(kept) - init_loss


def _wrong_llc_last_only(trace, init_loss, n_beta, n_burnin):
    return n_beta * (trace[-1] - init_loss)


def _llc_cases():
    return [
        Case("5 steps, burn-in 2", ([2.0, 2.5, 2.2, 2.4, 2.3], 2.0, 100.0, 2)),
        Case("a rising trace, burn-in 3", ([1.0, 1.1, 1.3, 1.6, 1.5, 1.55, 1.52, 1.58], 1.0, 30.5, 3)),
    ]


EXERCISES = [
    Exercise(
        "bigram_loss", CHAPTER, bigram_loss, _bigram_cases,
        hints=["Count two things on the training sequences: each pair (prev, token) and each prev on its own "
               "(zip(seq[:-1], seq[1:]) walks the pairs).",
               "On the held-out pairs add -log((count(prev, tok) + k) / (count(prev) + k * d_vocab)), then divide "
               "by the number of pairs."],
        mistakes=[
            Mistake("no smoothing", _wrong_bigram_no_smoothing,
                    "Did you leave out the add-k smoothing? Without it a pair never seen in training has "
                    "probability 0 and an infinite loss: add k to every count and k * d_vocab to the total."),
            Mistake("off by one", _wrong_bigram_off_by_one,
                    "Is your context the token two back? A bigram predicts seq[i] from seq[i - 1]: pair "
                    "seq[:-1] with seq[1:]."),
            Mistake("numerator only", _wrong_bigram_numerator_only,
                    "Did you add k to the counts but not k * d_vocab to the total? Then the probabilities of "
                    "one context no longer sum to 1."),
            Mistake("bits", _wrong_bigram_bits, "Did you use log base 2? The course measures losses in nats "
                                                "(math.log), like the transformer's cross-entropy."),
        ],
    ),
    Exercise(
        "sgld_update", CHAPTER, sgld_update, _sgld_cases,
        hints=["The drift is the gradient of the tempered, localised loss: n_beta * grads + gamma * (params - anchor).",
               "Step against the drift by epsilon / 2, and add noise of variance epsilon: "
               "params - epsilon / 2 * drift + math.sqrt(epsilon) * noise."],
        mistakes=[
            Mistake("no half", _wrong_sgld_no_half,
                    "Did you step by epsilon instead of epsilon / 2? Langevin dynamics takes half a step of "
                    "drift for noise of variance epsilon; without the 1/2 it samples a different temperature."),
            Mistake("localisation sign", _wrong_sgld_localisation_sign,
                    "Is your localisation term gamma * (anchor - params)? It must pull w back towards w*: "
                    "gamma * (params - anchor) inside the drift that you subtract."),
            Mistake("noise scale", _wrong_sgld_noise_epsilon,
                    "Did you scale the noise by epsilon? Its variance is epsilon, so its scale is "
                    "math.sqrt(epsilon)."),
            Mistake("no n_beta", _wrong_sgld_no_n_beta,
                    "Did you forget n_beta on the gradient? The posterior is tempered: exp(-n_beta * L(w))."),
        ],
    ),
    Exercise(
        "llc_from_trace", CHAPTER, llc_from_trace, _llc_cases,
        hints=["Drop the first n_burnin losses: the chain has not reached its stationary spread yet.",
               "n_beta * (mean(trace[n_burnin:]) - init_loss)."],
        mistakes=[
            Mistake("kept burn-in", _wrong_llc_keep_burnin,
                    "Did you average over the whole trace? Skip the first n_burnin steps."),
            Mistake("no n_beta", _wrong_llc_no_n_beta,
                    "Did you forget to multiply by n_beta? The loss rise alone depends on the temperature."),
            Mistake("last step", _wrong_llc_last_only,
                    "Did you use only the last loss? Average over every step after the burn-in."),
        ],
    ),
]



# -- open exercises: worked answers ------------------------------------------------------------------

@torch.no_grad()
def worked_bump_by_kind(n_seqs: int = 16, seq_len: int = 128) -> dict[str, dict[str, float]]:
    """Open question: inside the induction bump the held-out loss takes a second drop. Which kinds of
    TinyWorld text does it come from? Worked answer: held-out rows made of one kind of document at a
    time (same seed as the chapter's held-out text), the loss at the bump's start and at its end, and
    the drop weighted by the kind's share of the training mix."""
    from course import evaluate, zoo
    from course.ngrams import model_loss

    series = zoo.load_series("attn-only-2l")
    card = zoo.card("attn-only-2l")
    bump = evaluate.induction_bump(card["series"]["checkpoints"])
    mix = card["data"]["mix"]
    tokenizer = series[bump["start"]].tokenizer
    out = {}
    for kind, weight in mix.items():
        rows = tinyworld_rows(tokenizer, {kind: 1.0}, seed=2024, n_seqs=n_seqs, seq_len=seq_len)
        before, after = model_loss(series[bump["start"]], rows), model_loss(series[bump["end"]], rows)
        share = weight / sum(mix.values())
        out[kind] = {"share of the mix": share, f"loss at step {bump['start']}": before,
                     f"loss at step {bump['end']}": after, "drop": before - after, "weighted drop": share * (before - after)}
    return out


@torch.no_grad()
def worked_previous_token_head() -> dict[int, dict[str, float]]:
    """Open question: copying needs a previous-token head in layer 0 (chapter 04 found L0H3) as well
    as the induction heads in layer 1. Does the previous-token head form first, or with them? Worked
    answer: at every checkpoint, the previous-token score of each layer-0 head and the best induction
    score in layer 1, on repeated random tokens (``evaluate.head_scores``)."""
    from course import evaluate, zoo

    out = {}
    for step, model in sorted(zoo.load_series("attn-only-2l").items()):
        scores = evaluate.head_scores(model)
        out[step] = {**{f"L0H{h} previous-token": float(v) for h, v in enumerate(scores["previous_token"][0])},
                     "best L1 induction": float(scores["induction"][1].max())}
    return out


def worked_llc_settings(steps: tuple[int, ...] = (161, 1134, 2477)) -> dict[str, dict[int, float]]:
    """Open question: the LLC's size depends on the sampler's settings. Does the *shape* of the curve
    survive other settings: the early peak (step 161) above the plateau (1134), the bump (2477)
    above the plateau? Worked answer: one chain at each of the three checkpoints with the shipped
    settings, then with epsilon and gamma three times smaller and three times larger (15 chains)."""
    from course import zoo

    torch.set_num_threads(LLC_SETTINGS["threads"])  # as the shipped curve
    series = zoo.load_series("attn-only-2l")
    data = llc_data(series[steps[0]], zoo.card("attn-only-2l")["data"]["mix"])
    eps, gamma = LLC_SETTINGS["sgld"]["epsilon"], LLC_SETTINGS["sgld"]["gamma"]
    settings = {"shipped settings": {}, "epsilon / 3": {"epsilon": eps / 3}, "epsilon * 3": {"epsilon": eps * 3},
                "gamma / 3": {"gamma": gamma / 3}, "gamma * 3": {"gamma": gamma * 3}}
    return {label: {step: llc_at(series[step], data, n_chains=1, **change)["llc"] for step in steps}
            for label, change in settings.items()}


WORKED = {"bump_by_kind": worked_bump_by_kind, "previous_token_head": worked_previous_token_head,
          "llc_settings": worked_llc_settings}


if __name__ == "__main__":
    compute_llc_curve()
