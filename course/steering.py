"""Steering: adding a direction to the activation at one hook point, at every position, and
measuring what it does to generated text. ``steering_hook`` is the one hook (the SAE helpers and
``widgets.FeatureSteering`` use it); ``steering_experiment`` counts how often steered text turns
to a TinyWorld landmark, and how fluent it stays (Templeton et al. 2024; Turner et al. 2023).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from course import evalsets
from course.features import landmarks_in
from course.sae import SAE


def steering_hook(hook_name: str, direction: torch.Tensor, strength: float,
                  read: Optional[Callable[[torch.Tensor], torch.Tensor]] = None):
    """``(hook_name, fn)`` that steers the activation at ``hook_name`` along ``direction``
    ``[d_model]`` at every position, for ``model.hooks([...])``.

    Without ``read``, add: x + strength * direction. With ``read``, a function of x giving the
    steered feature's current value ``[... 1]``, clamp: x + (strength - read(x)) * direction,
    which sets that value to ``strength`` and leaves the rest of x alone."""
    direction = direction.detach()

    def steer(act, _hook):  # [batch pos d_model]
        d = direction.to(act.device, act.dtype)
        return act + (strength if read is None else strength - read(act)) * d

    return (hook_name, steer)


def feature_hook(sae: SAE, feature: int, strength: float, mode: str = "add"):
    """``steering_hook`` for one SAE feature, at the hook the SAE reads. "add": x + strength *
    W_dec[feature] (W_dec rows are unit vectors, so strength is in the residual stream's own
    units). "clamp": set the feature's activation to ``strength``."""
    if mode not in ("add", "clamp"):
        raise ValueError(f"mode must be 'add' or 'clamp', got {mode!r}")
    read = (lambda x: sae.encode(x)[..., feature : feature + 1]) if mode == "clamp" else None
    return steering_hook(sae.cfg.hook_name, sae.W_dec[feature], strength, read)


def steering_directions(sae: SAE, features: dict[str, int]) -> dict[str, torch.Tensor]:
    """``{name: W_dec[f]}`` for ``widgets.FeatureSteering(model, directions, hook_name=sae.cfg.hook_name)``."""
    return {f"{name} (feature {f})": sae.W_dec[f].detach().clone() for name, f in features.items()}


def mentions(text: str, landmark: str) -> bool:
    """Does ``text`` use the landmark's name or one of its words?"""
    return landmark in landmarks_in(text)


@torch.no_grad()
def steered_continuations(model, sae: Optional[SAE], feature: int, strength: float, prompts: Sequence[str],
                          samples: int = 4, n_tokens: int = 20, temperature: float = 0.8,
                          mode: str = "add", seed: int = 0) -> list[list[int]]:
    """``samples`` continuations of each prompt (token ids), steered (strength != 0) or not.
    Seeds are fixed per prompt, so steered and unsteered runs draw the same random numbers."""
    out = []
    hooks = [] if (sae is None or (strength == 0 and mode == "add")) else [feature_hook(sae, feature, strength, mode)]
    for i, prompt in enumerate(prompts):
        tokens = model.to_tokens(prompt).repeat(samples, 1)
        with model.hooks(hooks):
            gen = model.generate(tokens, max_new_tokens=n_tokens, temperature=temperature, seed=seed + i)
        out += [row[tokens.shape[1]:].tolist() for row in gen]
    return out


@torch.no_grad()
def fluency(model, prompts: Sequence[str], continuations: Sequence[list[int]], samples: int) -> dict:
    """How natural continuations look to the *unsteered* model: its mean loss per continuation
    token, and the fraction of continuation tokens that repeat an earlier one."""
    nll, repeated, total = 0.0, 0, 0
    for i, cont in enumerate(continuations):
        prompt = model.to_tokens(prompts[i // samples])
        tokens = torch.cat([prompt, torch.tensor([cont])], 1)
        losses = model.loss(tokens, per_token=True)[0, prompt.shape[1] - 1 :]
        nll += losses.sum().item()
        total += len(cont)
        repeated += len(cont) - len(set(cont))
    return {"unsteered_loss": nll / total, "repeated_tokens": repeated / total}


def steering_experiment(model, sae: SAE, features: dict[str, int], strengths: Sequence[float] = (0, 4, 8, 16, 32),
                        prompts: Optional[Sequence[str]] = None, samples: int = 4, n_tokens: int = 20,
                        temperature: float = 0.8, mode: str = "add", seed: int = 0) -> dict:
    """For each strength: the share of continuations that mention the steered landmark (averaged
    over landmarks, prompts and samples), and their fluency. Strength 0 is the unsteered
    baseline: the share of ordinary continuations that happen to mention each landmark."""
    prompts = list(prompts or evalsets.landmark_prompts())
    results = {}
    for s in strengths:
        if s == 0 and mode == "add":  # unsteered: one set of texts, scored against every landmark
            conts = steered_continuations(model, None, 0, 0.0, prompts, samples, n_tokens, temperature, mode, seed)
            texts = [model.tokenizer.decode(c) for c in conts]
            shares = {lm: sum(mentions(t, lm) for t in texts) / len(texts) for lm in features}
            flu = [fluency(model, prompts, conts, samples)]
            example = texts[0]
        else:
            shares, flu = {}, []
            for landmark, f in features.items():
                conts = steered_continuations(model, sae, f, s, prompts, samples, n_tokens, temperature, mode, seed)
                texts = [model.tokenizer.decode(c) for c in conts]
                shares[landmark] = sum(mentions(t, landmark) for t in texts) / len(texts)
                flu.append(fluency(model, prompts, conts, samples))
            example = texts[0]
        results[float(s)] = {
            "share": sum(shares.values()) / len(shares),
            "share_by_landmark": shares,
            "unsteered_loss": sum(x["unsteered_loss"] for x in flu) / len(flu),
            "repeated_tokens": sum(x["repeated_tokens"] for x in flu) / len(flu),
            "example": example,  # the first prompt's first continuation (of the last landmark)
        }
    return results


