"""Behavioural metrics of a TinyWorld model: each phenomenon a chapter studies, measured on the
held-out evaluation sets of ``course.evalsets``. The model cards record these numbers and the
tests hold the shipped models to them.
"""

from __future__ import annotations

import collections
import functools
import importlib
from typing import Optional

import torch

from course import evalsets, metrics


def _single_token(tokenizer, text: str) -> int:
    ids = tokenizer.encode(text)
    if len(ids) != 1:
        raise ValueError(f"{text!r} is {len(ids)} tokens, expected one")
    return ids[0]


def encode_prompts(model, prompts: list[str]) -> torch.Tensor:
    """Prompts of equal token length -> ``[batch pos]`` with BOS first."""
    rows = [[model.tokenizer.bos_id] + model.tokenizer.encode(p) for p in prompts]
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise ValueError(f"prompts must have the same number of tokens to batch them, got lengths {sorted(lengths)}")
    return torch.tensor(rows, dtype=torch.long, device=model.W_E.device)


def same_length_groups(model, prompts: list[str]) -> list[list[int]]:
    """The indices of ``prompts``, grouped by token length: each group batches with encode_prompts."""
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(model.tokenizer.encode(p)), []).append(i)
    return list(by_length.values())


def last_logits(model, prompts: list[str], batch_size: int = 256) -> torch.Tensor:
    """Logits at the last position of each prompt, ``[n d_vocab]``; prompts grouped by length."""
    out = [None] * len(prompts)
    with torch.no_grad():
        for idx in same_length_groups(model, prompts):
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                logits = model(encode_prompts(model, [prompts[i] for i in chunk]))[:, -1]
                for row, i in enumerate(chunk):
                    out[i] = logits[row]
    return torch.stack(out)


def top1_accuracy(model, prompts: list[str], answers: list[str]) -> float:
    logits = last_logits(model, prompts)
    targets = torch.tensor([_single_token(model.tokenizer, a) for a in answers], device=logits.device)
    return (logits.argmax(-1) == targets).float().mean().item()


def ioi_scores(model, items: list) -> dict:
    """Accuracy (logit difference > 0), mean logit difference (IO minus S) and how often IO is the
    top prediction, overall and for ABBA and BABA, on IOI items (``evalsets.IOIItem``)."""
    logits = last_logits(model, [it.prompt for it in items])
    io = torch.tensor([_single_token(model.tokenizer, it.answer) for it in items], device=logits.device)
    s = torch.tensor([_single_token(model.tokenizer, it.subject) for it in items], device=logits.device)
    diff = metrics.logit_diff(logits, io, s, per_prompt=True)  # correct name minus subject
    out = {"accuracy": (diff > 0).float().mean().item(), "logit_diff": diff.mean().item(),
           "top1": (logits.argmax(-1) == io).float().mean().item()}
    for order in ("ABBA", "BABA"):
        mask = torch.tensor([it.order == order for it in items])
        out[f"accuracy_{order}"] = (diff[mask] > 0).float().mean().item()
        out[f"logit_diff_{order}"] = diff[mask].mean().item()
    out["_diff"] = diff
    return out


def ioi_by_frame(model, items: list, n_frames: int, prefix: str) -> dict:
    """``ioi_scores`` of items made from ``n_frames`` frames, keys prefixed, plus the accuracy of
    each frame (``{prefix}accuracy_by_frame``)."""
    scores = ioi_scores(model, items)
    diff = scores.pop("_diff")
    out = {f"{prefix}{k}": v for k, v in scores.items()}
    frames = torch.tensor([it.template for it in items])
    out[f"{prefix}accuracy_by_frame"] = [round((diff[frames == t] > 0).float().mean().item(), 3)
                                         for t in range(n_frames)]
    return out


def ioi_metrics(model, n: int = 500, seed: int = 0) -> dict:
    """IOI on two held-out sets, both about name pairs never together in training: new *sentence
    structures* (``ioi_*``: evalsets.IOI_HELD_OUT_FRAMES, with per-frame accuracy) and new
    *combinations of the corpus's parts* (``ioi_recombined_*``: corpus.ioi_items)."""
    out = ioi_by_frame(model, evalsets.ioi_dataset(n, seed=seed), len(evalsets.IOI_HELD_OUT_FRAMES), "ioi_")
    recombined = ioi_scores(model, corpus_of(model).ioi_items(n, seed=seed))
    recombined.pop("_diff")
    out.update({f"ioi_recombined_{k}": v for k, v in recombined.items()})
    return out


def fresh_ioi_metrics(model, n: int = 480) -> dict:
    """IOI on the fresh frames (evalsets.FRESH_IOI_FRAMES), held-out name pairs: ``fresh_ioi_*``."""
    items = evalsets.ioi_dataset(n, seed=27, frames=evalsets.FRESH_IOI_FRAMES)
    return ioi_by_frame(model, items, len(evalsets.FRESH_IOI_FRAMES), "fresh_ioi_")


def validation_metrics(model, n_ioi: int = 320) -> dict:
    """IOI, facts and two-hop recall on the validation frames and phrasings (evalsets.VALIDATION_*),
    a second held-out set written to stand in for other people's prompts."""
    items = evalsets.ioi_dataset(n_ioi, seed=5, frames=evalsets.VALIDATION_IOI_FRAMES)
    out = ioi_by_frame(model, items, len(evalsets.VALIDATION_IOI_FRAMES), "validation_ioi_")
    facts = fact_by_new_phrasing(model, evalsets.VALIDATION_FACT_PHRASINGS)
    out["validation_fact_by_phrasing"] = facts
    out["validation_fact_accuracy"] = sum(facts.values()) / len(facts)
    hops = two_hop_by_new_phrasing(model, evalsets.VALIDATION_TWO_HOP_PHRASINGS)
    out["validation_two_hop_by_phrasing"] = hops
    out["validation_two_hop_accuracy"] = sum(hops.values()) / len(hops)
    return out


def fact_by_new_phrasing(model, phrasings: list[str]) -> dict[str, float]:
    """Top-1 accuracy of each fact phrasing ("{n}" the person, "{p}" their pronoun) over the fact
    people: the way to score a set of phrasings written outside evalsets (the validation ones, or a
    learner's own)."""
    out = {}
    for frame in phrasings:
        items = evalsets.fact_dataset([frame])
        out[frame] = top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])
    return out


def two_hop_by_new_phrasing(model, phrasings: list[str]) -> dict[str, float]:
    """Top-1 accuracy of each two-hop phrasing ("{c}" the city) over the held-out cities."""
    out = {}
    for frame in phrasings:
        items = evalsets.two_hop_dataset(held_out_cities=True, phrasings=[frame])
        out[frame] = top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])
    return out


def fact_accuracy(model, phrasings: str = "held_out") -> float:
    """Top-1 over the whole vocabulary: the person's sport is the model's next word."""
    items = evalsets.fact_dataset(phrasings)
    return top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])


def fact_accuracy_among_sports(model, phrasings: str = "held_out") -> float:
    """The person's sport ranks first among the 12 sports (whatever word the model would write
    first: after "plays" the corpus also continues "a lot of golf")."""
    from course.world import SPORTS

    items = evalsets.fact_dataset(phrasings)
    sport_ids = torch.tensor([_single_token(model.tokenizer, " " + s) for s in SPORTS])
    logits = last_logits(model, [it.prompt for it in items])[:, sport_ids]  # [n sport]
    answers = torch.tensor([SPORTS.index(it.object) for it in items])
    return (logits.argmax(-1) == answers).float().mean().item()


def fact_first_sport_accuracy(model, phrasings: str | list[str] = "held_out", max_new_tokens: int = 4) -> float:
    """The first sport the model names in its greedy continuation (up to ``max_new_tokens`` tokens)
    is the person's. Top-1 asks for the sport as the very next word; the corpus often puts a word
    first ("plays a lot of golf", "the answer is always golf"), so a miss here is a fact the model
    does not state, where a top-1 miss may be only the word it writes first."""
    from course.world import SPORTS

    items = evalsets.fact_dataset(phrasings)
    prompts = [it.prompt for it in items]
    sport_of = {_single_token(model.tokenizer, " " + s): s for s in SPORTS}
    right = 0
    with torch.no_grad():
        for group in same_length_groups(model, prompts):  # a learner's phrasings may differ in length
            tokens = encode_prompts(model, [prompts[i] for i in group])
            new = model.generate(tokens, max_new_tokens=max_new_tokens)[:, tokens.shape[1]:]  # [n new], greedy
            for row, i in zip(new.tolist(), group):
                named = next((sport_of[t] for t in row if t in sport_of), None)
                right += named == items[i].object
    return right / len(items)


def two_hop_accuracy(model, held_out_cities: bool = True, phrasings: str = "all") -> float:
    items = evalsets.two_hop_dataset(held_out_cities, phrasings)
    return top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])


def two_hop_by_phrasing(model, held_out_cities: bool = True) -> dict[str, float]:
    """Accuracy of each question phrasing (training and held-out ones) on the chosen cities."""
    items = evalsets.two_hop_dataset(held_out_cities, "all")
    logits = last_logits(model, [it.prompt for it in items])
    hits = logits.argmax(-1) == torch.tensor([_single_token(model.tokenizer, it.answer) for it in items])
    out: dict[str, list] = {}
    for it, hit in zip(items, hits.tolist()):
        out.setdefault(it.phrasing, []).append(hit)
    return {k: sum(v) / len(v) for k, v in out.items()}


def one_hop_accuracy(model, kind: str) -> float:
    items = evalsets.one_hop_dataset(kind)
    return top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])


def addition_accuracy(model, held_out: bool = True, limit: int | None = None) -> float:
    """Exact match of the greedily generated answer (a space, then the digits, then a non-digit)."""
    items = evalsets.addition_dataset(held_out=held_out)[:limit]
    tokens = encode_prompts(model, [it.prompt for it in items])
    correct = 0
    with torch.no_grad():
        for start in range(0, len(items), 256):
            out = model.generate(tokens[start : start + 256], max_new_tokens=5)
            for row, it in zip(out[:, tokens.shape[1]:], items[start : start + 256]):
                text = model.tokenizer.decode(row.tolist())
                digits = text[1:].split("\n")[0]
                number = ""
                for ch in digits:
                    if not ch.isdigit():
                        break
                    number += ch
                correct += text.startswith(" ") and number == str(it.total)
    return correct / len(items)


@functools.lru_cache(maxsize=4)
def common_tokens(tokenizer, corpus: str = "course.corpus", min_count: int = 20, n_docs: int = 5000,
                  seed: int = 12345) -> torch.Tensor:
    """Ids of the tokens that occur at least ``min_count`` times in a fixed sample of a corpus
    module's documents (``course.corpus``, TinyWorld v2, by default).

    Many BPE merges never occur in running text and their embeddings stay untrained, so random
    sequences are drawn from tokens the model has really seen (with GPT-2 and its 50k trained
    tokens, TransformerLens samples the whole vocabulary)."""
    docs = importlib.import_module(corpus).documents(n_docs, seed)
    counts = collections.Counter(i for ids in tokenizer.encode_batch(docs) for i in ids)
    special = {tokenizer.bos_id, getattr(tokenizer, "eot_id", None)}
    return torch.tensor(sorted(i for i, c in counts.items() if c >= min_count and i not in special))


def corpus_of(model):
    """The corpus module a model was trained on, as its card names it (``course.corpus`` without a card)."""
    card = getattr(model, "card", None) or {}
    return importlib.import_module(card.get("data", {}).get("corpus", "course.corpus"))


def seen_tokens(model) -> torch.Tensor:
    """The ids a model saw in training, to draw random sequences from: ``common_tokens`` of the
    corpus its card names, for a model with the course's tokenizer; every id but BOS for one
    without (the toy models of chapter 04, trained on uniform random ids)."""
    from course.tokenizer import Tokenizer
    tokenizer = getattr(model, "tokenizer", None)
    if isinstance(tokenizer, Tokenizer):
        card = getattr(model, "card", None) or {}
        return common_tokens(tokenizer, card.get("data", {}).get("corpus", "course.corpus"))
    bos = getattr(tokenizer, "bos_id", 0)
    return torch.tensor([i for i in range(model.cfg.d_vocab) if i != bos])


def repeated_random_tokens(model, seq_len: int = 50, batch: int = 20, seed: int = 0) -> torch.Tensor:
    """``metrics.repeated_tokens`` drawn from the tokens this model saw: ``[batch 1 + 2*seq_len]``,
    on the model's device."""
    bos = getattr(getattr(model, "tokenizer", None), "bos_id", 0)
    return metrics.repeated_tokens(seen_tokens(model), seq_len, batch, seed, bos_id=bos).to(model.W_E.device)


def induction_loss_gap(model, seq_len: int = 50, batch: int = 20, seed: int = 0) -> dict:
    """Mean loss over the first and the second repeat of random tokens; their gap is in-context learning."""
    with torch.no_grad():
        losses = model.loss(repeated_random_tokens(model, seq_len, batch, seed), per_token=True)
    return metrics.repeat_losses(losses, seq_len)


def head_scores(model, seq_len: int = 50, batch: int = 20, seed: int = 0) -> dict[str, torch.Tensor]:
    """Induction and previous-token scores (``metrics``) of every head, ``[layer head_index]``, on
    ``repeated_random_tokens``."""
    tokens = repeated_random_tokens(model, seq_len, batch, seed)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    patterns = torch.stack([cache["pattern", layer] for layer in range(model.cfg.n_layers)])  # [layer batch head_index q k]
    return {"induction": metrics.induction_score(patterns, seq_len), "previous_token": metrics.prev_token_score(patterns)}


def held_out_loss(model, n_docs: int = 300, seed: int = 10_000_019, corpus: Optional[str] = None) -> float:
    """Mean next-token loss (nats) on fresh corpus documents (a seed no training run uses), each
    document on its own after BOS, truncated to the context. ``corpus``: a corpus module's name, to
    measure on another corpus's documents than the one the model's card names."""
    tok = model.tokenizer
    total, count = 0.0, 0
    documents = (importlib.import_module(corpus) if corpus else corpus_of(model)).documents(n_docs, seed)
    with torch.no_grad():
        for doc in documents:
            ids = torch.tensor([[tok.bos_id] + tok.encode(doc)][: model.cfg.n_ctx])[:, : model.cfg.n_ctx]
            losses = model.loss(ids, per_token=True)
            total += losses.sum().item()
            count += losses.numel()
    return total / count


NEUTRAL_PROMPTS = ["One morning,", "Last summer,", "The"]


def samples(model, prompts: list[str] = NEUTRAL_PROMPTS, max_new_tokens: int = 40, temperature: float = 0.8,
            seed: int = 0) -> list[str]:
    """Free continuations of neutral prompts (sampled, first line only): does it write TinyWorld text?"""
    torch.manual_seed(seed)
    tok = model.tokenizer
    out = []
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([[tok.bos_id] + tok.encode(p)])
            new = model.generate(ids, max_new_tokens=max_new_tokens, temperature=temperature)[0, ids.shape[1]:]
            out.append(p + tok.decode(new.tolist()).split("\n")[0].split("<|endoftext|>")[0])
    return out


def tinyworld_metrics(model, quick: bool = False) -> dict:
    """Every behaviour the tinyworld card records, on held-out frames, phrasings, cities and pairs.
    ``quick`` uses smaller sets and skips the mechanism checks (during training)."""
    from course import causal_tracing, two_hop

    out = {}
    out.update(ioi_metrics(model, n=100 if quick else 500))
    out["fact_accuracy_held_out_phrasings"] = fact_accuracy(model, "held_out")
    out["fact_accuracy_train_phrasing"] = fact_accuracy(model, "train")
    out["fact_accuracy_among_sports_held_out_phrasings"] = fact_accuracy_among_sports(model, "held_out")
    out["fact_first_sport_held_out_phrasings"] = fact_first_sport_accuracy(model, "held_out")
    out["two_hop_held_out_accuracy"] = two_hop_accuracy(model, held_out_cities=True)
    out["two_hop_trained_accuracy"] = two_hop_accuracy(model, held_out_cities=False)
    out["city_state_accuracy"] = one_hop_accuracy(model, "city_state")
    out["state_capital_accuracy"] = one_hop_accuracy(model, "state_capital")
    out["addition_held_out_accuracy"] = addition_accuracy(model, held_out=True, limit=200 if quick else None)
    out.update(induction_loss_gap(model))
    out["two_hop_held_out_by_phrasing"] = two_hop_by_phrasing(model, held_out_cities=True)
    out.update(validation_metrics(model))
    if quick:
        return out
    out["two_hop_state"] = two_hop.locate_state(model)
    out["addition_train_accuracy"] = addition_accuracy(model, held_out=False, limit=1000)
    out["max_induction_score"] = head_scores(model)["induction"].max().item()
    out["held_out_loss"] = held_out_loss(model)
    out.update(fresh_ioi_metrics(model))
    facts = evalsets.fact_dataset("held_out")  # traced where the model knows the fact (trace_facts skips misses)
    out["fact_trace"] = {site: causal_tracing.trace_facts(model, facts, site=site) for site in ("resid", "mlp", "attn")}
    out["samples"] = samples(model)
    return out


# How each tinyworld card metric is measured, written into the card beside the figures.
TINYWORLD_HOW_MEASURED = {
    "ioi_*": "500 prompts on the 10 sentence structures of evalsets.IOI_HELD_OUT_FRAMES (written for evaluation; "
             "none of their distinctive phrases occurs in training) about held-out name pairs (never together in "
             "training), half ABBA, half BABA. Accuracy: logit(IO) > logit(S) at the last position; logit diff: mean "
             "logit(IO) - logit(S); top1: IO is the top prediction.",
    "fresh_ioi_*": "480 prompts on the 12 frames of evalsets.FRESH_IOI_FRAMES, written after every corpus was fixed "
                   "(their distinctive phrases tested absent from the training text), held-out name pairs.",
    "ioi_recombined_*": "the same on new sentences assembled from the corpus's own parts (corpus.ioi_items), "
                        "held-out name pairs.",
    "validation_*": "the validation frames and phrasings (evalsets.VALIDATION_*: 8 IOI frames, 6 fact and 6 two-hop "
                    "phrasings, written after the held-out ones to stand in for other people's prompts; no corpus "
                    "generates them): IOI as ioi_* on 320 prompts and held-out name pairs; facts: top-1 sport of the "
                    "40 fact people; two-hop: top-1 capital for the 31 held-out cities.",
    "fact_accuracy_*": "top-1 sport of all 40 fact people in the 4 held-out phrasings (evalsets.FACT_HELD_OUT_PHRASINGS) "
                       "and in the trained prompt 'My friend {n} plays'; among_sports: the right sport ranks first "
                       "among the 12 sports (the next word may be another, e.g. 'plays a lot of golf').",
    "fact_first_sport_*": "the same people and phrasings, greedy continuation of 4 tokens: the first sport named is the "
                          "person's (counts 'the answer is always golf', where top-1 sees ' always').",
    "two_hop_*": "top-1 capital for the held-out cities (one per state, never in a segment with their capital) in the "
                 "8 trained and 4 held-out question phrasings (by_phrasing: each phrasing); trained: training cities.",
    "two_hop_state": "a linear probe (course.probing) for the state at each site (residual stream before each layer and "
                     "after the last, at the city's token and the last token), fitted on training cities in trained "
                     "phrasings, scored on held-out cities in all phrasings; swap: add mean(state B) - mean(state A) at "
                     "the site, B the next state in the list, share answering B's capital per phrasing; the site shown "
                     "is the one whose worst phrasing is best.",
    "fact_trace": "ROME-style causal tracing (course.causal_tracing.trace_facts) on the held-out fact phrasings: the "
                  "subject's embedding plus Gaussian noise (3x the std of the name embeddings), one site's clean "
                  "activation restored at each layer and position kind; mean indirect effect (p restored - p corrupt) / "
                  "(p clean - p corrupt) over the prompts the model answers right and where the noise lowers p by >= 0.05.",
    "addition_*": "greedy answer after 'calc: a + b =' for both orders of the 10% held-out operand pairs (train: 1000 "
                  "training pairs); exact match of the digits.",
    "induction": "max_induction_score: max over heads of the attention from the second repeat to the token after the "
                 "earlier occurrence; repeat_loss_*: mean loss over the first and second repeat; 20 sequences of 50 "
                 "random common tokens repeated.",
    "held_out_loss": "mean next-token loss on 300 fresh documents of the model's own corpus, from a seed no training "
                     "run uses.",
    "samples": "temperature 0.8 continuations of neutral prompts, first line.",
}


def attn_only_metrics(model) -> dict:
    scores = head_scores(model)
    metrics = {"max_induction_score": scores["induction"].max().item(),
               "max_previous_token_score": scores["previous_token"].max().item()}
    metrics.update(induction_loss_gap(model))
    return metrics


def induction_bump(series: list[dict], max_intervals: int = 3) -> dict:
    """Locate the induction bump in a checkpoint series (dicts with ``step`` and ``repeat_loss_gap``).

    The in-context gap (loss on the first repeat minus loss on the second) rises when induction heads
    form. The bump is the window of at most ``max_intervals`` consecutive checkpoint intervals over
    which the gap rises most; we report where it starts and ends, the share of the whole rise it
    holds, and how much of training (in log steps) it spans.
    """
    import math

    steps = [c["step"] for c in series]
    gap = [c["repeat_loss_gap"] for c in series]
    total = max(gap) - min(gap[0], 0.0)
    best = (-math.inf, 0, 1)
    for i in range(len(series) - 1):
        for j in range(i + 1, min(i + max_intervals, len(series) - 1) + 1):
            if gap[j] - gap[i] > best[0]:
                best = (gap[j] - gap[i], i, j)
    rise, i, j = best
    log_total = math.log(steps[-1]) - math.log(steps[0])
    return {"start": steps[i], "end": steps[j], "rise": rise, "drop_fraction": rise / total if total > 0 else 0.0,
            "log_span_fraction": (math.log(steps[j]) - math.log(steps[i])) / log_total}
