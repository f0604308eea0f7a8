"""Linear probes and representation swaps: is an intermediate variable (the state a city is in)
computed, where, and does the model use it?

A probe is evidence that a variable is *readable* from an activation; only an intervention shows
the model *uses* it. So the two go together here: `fit_probe` / `probe_accuracy` find where the
state is linearly decodable on held-out cities, and `swap_answers` replaces one state's mean
representation by another's at that site and checks that the answer follows (Texas -> California
turns "Austin" into "Sacramento").
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def word_positions(tokenizer, prompt: str, word: str) -> list[int]:
    """Positions of the tokens of ``word``'s first occurrence in ``prompt``, counting BOS as 0. A word
    at the start of a prompt has no leading space and is often several tokens ("Dallas" is "D",
    "allas"; " Dallas" is one token), so callers should not assume one token."""
    at = prompt.find(word)
    if at < 0:
        raise ValueError(f"{word!r} does not occur in {prompt!r}")
    cut = at - 1 if at > 0 and prompt[at - 1] == " " else at  # the leading space belongs to the word's token
    before = len(tokenizer.encode(prompt[:cut])) if cut > 0 else 0
    through = len(tokenizer.encode(prompt[: at + len(word)]))
    return list(range(1 + before, 1 + through))


def activations(model, prompts: Sequence[str], hook_name: str, positions: Sequence[int]) -> torch.Tensor:
    """The activation at ``hook_name`` at one position of each prompt: ``[n d_model]``. positions[i]
    indexes prompt i's tokens with BOS at 0 (negative counts from the end)."""
    tok = model.tokenizer
    rows = []
    with torch.no_grad():
        for prompt, pos in zip(prompts, positions):
            ids = torch.tensor([[tok.bos_id] + tok.encode(prompt)])
            _, cache = model.run_with_cache(ids, names_filter=lambda n: n == hook_name)
            rows.append(cache[hook_name][0, pos])
    return torch.stack(rows)


def fit_probe(x: torch.Tensor, labels: torch.Tensor, n_classes: int, steps: int = 300,
              weight_decay: float = 1e-3) -> torch.nn.Linear:
    """A multinomial logistic-regression probe (standardised inputs folded into the weights)."""
    x = x.double()  # float64: LBFGS then lands on the same probe whatever the number of threads
    mean, std = x.mean(0), x.std(0) + 1e-6
    probe = torch.nn.Linear(x.shape[1], n_classes, dtype=torch.float64)
    opt = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")
    z = (x - mean) / std

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(probe(z), labels) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():  # fold the standardisation in: probe(x) works on raw activations
        probe.weight /= std
        probe.bias -= probe.weight @ mean
    return probe.float()


def probe_accuracy(probe: torch.nn.Linear, x: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (probe(x).argmax(-1) == labels).float().mean().item()


def class_means(x: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[n_classes d_model]``: the mean activation of each class (zeros where a class is absent)."""
    means = torch.zeros(n_classes, x.shape[1])
    means.index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=n_classes).clamp(min=1)
    return means / counts[:, None]


def swap_answers(model, prompt: str, hook_name: str, position: int, delta: torch.Tensor) -> torch.Tensor:
    """Last-position logits of ``prompt`` with ``delta`` added to the activation at ``hook_name``
    and ``position`` (e.g. mean of the target state - mean of the source state): ``[d_vocab]``."""
    tok = model.tokenizer
    ids = torch.tensor([[tok.bos_id] + tok.encode(prompt)])

    def add(act, hook):
        act = act.clone()
        act[:, position] += delta
        return act

    with torch.no_grad():
        return model.run_with_hooks(ids, fwd_hooks=[(hook_name, add)])[0, -1]
