"""Behavioural metrics of a TinyWorld model: each phenomenon a chapter studies, measured on the
held-out evaluation sets of ``course.tinyworld``. The model cards record these numbers and the
tests hold the shipped models to them.
"""

from __future__ import annotations

import collections
import functools

import torch

from course import metrics, tinyworld


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


def last_logits(model, prompts: list[str], batch_size: int = 256) -> torch.Tensor:
    """Logits at the last position of each prompt, ``[n d_vocab]``; prompts grouped by length."""
    out = [None] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(model.tokenizer.encode(p)), []).append(i)
    with torch.no_grad():
        for idx in by_length.values():
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


def ioi_metrics(model, n: int = 300, seed: int = 0, held_out: bool = True) -> dict:
    items = tinyworld.ioi_dataset(n, seed=seed, held_out=held_out)
    logits = last_logits(model, [it.prompt for it in items])
    io = torch.tensor([_single_token(model.tokenizer, it.answer) for it in items], device=logits.device)
    s = torch.tensor([_single_token(model.tokenizer, it.subject) for it in items], device=logits.device)
    diff = metrics.logit_diff(logits, io, s, per_prompt=True)  # correct name minus subject
    return {"ioi_accuracy": (diff > 0).float().mean().item(), "ioi_logit_diff": diff.mean().item(),
            "ioi_top1": (logits.argmax(-1) == io).float().mean().item()}


def fact_accuracy(model) -> float:
    items = tinyworld.fact_dataset()
    return top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])


def two_hop_accuracy(model, held_out: bool) -> float:
    items = tinyworld.two_hop_dataset(held_out=held_out)
    return top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])


def one_hop_accuracy(model, kind: str) -> float:
    items = tinyworld.one_hop_dataset(kind)
    return top1_accuracy(model, [it.prompt for it in items], [it.answer for it in items])


def addition_accuracy(model, held_out: bool = True, limit: int | None = None) -> float:
    """Exact match of the greedily generated answer (a space, then the digits, then a non-digit)."""
    items = tinyworld.addition_dataset(held_out=held_out)[:limit]
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
def common_tokens(tokenizer, min_count: int = 20, n_docs: int = 5000, seed: int = 12345) -> torch.Tensor:
    """Ids of the tokens that occur at least ``min_count`` times in a fixed sample of TinyWorld.

    About 700 of the 2048 ids qualify; many BPE merges never occur in running text, and their
    embeddings stay untrained, so random sequences are drawn from tokens the model has really seen
    (with GPT-2 and its 50k trained tokens, TransformerLens samples the whole vocabulary)."""
    counts = collections.Counter(i for ids in tokenizer.encode_batch(tinyworld.corpus(n_docs, seed)) for i in ids)
    special = {tokenizer.bos_id, getattr(tokenizer, "eot_id", None)}
    return torch.tensor(sorted(i for i, c in counts.items() if c >= min_count and i not in special))


def seen_tokens(model) -> torch.Tensor:
    """The ids a model saw in training, to draw random sequences from: ``common_tokens`` for a
    model with the course's TinyWorld tokenizer; every id but BOS for one without (the toy models
    of chapter 04, trained on uniform random ids)."""
    from course.tokenizer import Tokenizer

    tokenizer = getattr(model, "tokenizer", None)
    if isinstance(tokenizer, Tokenizer):
        return common_tokens(tokenizer)
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


def tinyworld_metrics(model, quick: bool = False) -> dict:
    """Every behaviour the tinyworld card records. ``quick`` uses smaller sets (during training)."""
    metrics = {}
    metrics.update(ioi_metrics(model, n=100 if quick else 500))
    metrics["fact_accuracy"] = fact_accuracy(model)
    metrics["two_hop_trained_accuracy"] = two_hop_accuracy(model, held_out=False)
    metrics["two_hop_held_out_accuracy"] = two_hop_accuracy(model, held_out=True)
    metrics["city_state_accuracy"] = one_hop_accuracy(model, "city_state")
    metrics["state_capital_accuracy"] = one_hop_accuracy(model, "state_capital")
    metrics["addition_held_out_accuracy"] = addition_accuracy(model, held_out=True, limit=200 if quick else None)
    metrics.update(induction_loss_gap(model))
    return metrics


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
