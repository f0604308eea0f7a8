"""Causal tracing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT"): where in
the network is a fact recalled?

Run the prompt three times: clean; corrupted (Gaussian noise added to the subject's token
embedding, so the model no longer knows who it is about); and corrupted with one activation (the
residual stream, an MLP's output or an attention layer's output at one layer and position)
restored to its clean value. The share of the answer's probability that the restoration brings
back says how much that one activation carries the fact. ROME found the peak in middle-layer MLPs
at the subject's last token; a table of layers x positions shows where it is in our model.
"""

from __future__ import annotations

import torch

# What can be restored, and the hook that holds it in each block.
SITES = {"resid": "hook_resid_pre", "mlp": "hook_mlp_out", "attn": "hook_attn_out"}


def noise_scale(model, token_ids: list[int], multiple: float = 3.0) -> float:
    """``multiple`` x the standard deviation of the embeddings of ``token_ids`` (ROME uses 3x the
    spread of subject embeddings): enough noise that the subject is no longer recognisable."""
    return multiple * model.W_E[token_ids].std().item()


def _answer_prob(logits: torch.Tensor, answer: int) -> torch.Tensor:  # logits [batch pos d_vocab] -> [batch]
    return logits[:, -1].softmax(-1)[:, answer]


def trace(model, tokens: torch.Tensor, subject_pos: list[int], answer: int, scale: float, site: str = "mlp",
          n_noise: int = 10, seed: int = 0, window: int = 1) -> dict:
    """Causal trace of one prompt. tokens: ``[1 pos]`` (BOS first); subject_pos: the positions of the
    subject's tokens (all are corrupted); answer: the id of the correct next token.

    Returns {"clean", "corrupt"}: the answer's probability, and "restored": ``[layer pos]``, the
    probability with that site restored (averaged over ``n_noise`` noise draws). For "mlp" and "attn"
    the site is restored in ``window`` consecutive layers centred on each layer, as ROME does (a
    single MLP's share is small when several layers share the work)."""
    if site not in SITES:
        raise ValueError(f"site must be one of {sorted(SITES)}, got {site!r}")
    if tokens.ndim != 2 or tokens.shape[0] != 1:
        raise ValueError(f"tokens must be [1 pos], got shape {tuple(tokens.shape)}")
    n_layers, n_pos = model.cfg.n_layers, tokens.shape[1]
    if not subject_pos or not all(0 < p < n_pos for p in subject_pos):
        raise ValueError(f"subject positions {subject_pos} must lie inside the prompt's {n_pos} positions, after BOS")
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n_noise, model.cfg.d_model, generator=generator) * scale
    batch = tokens.expand(n_noise, -1)

    def corrupt(embed, hook):  # embed: [batch pos d_model]
        embed = embed.clone()
        embed[:, subject_pos] += noise.to(embed)[:, None]
        return embed

    with torch.no_grad():
        names = [f"blocks.{layer}.{SITES[site]}" for layer in range(n_layers)]
        clean_logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
        clean = _answer_prob(clean_logits, answer).item()
        corrupt_p = _answer_prob(model.run_with_hooks(batch, fwd_hooks=[("hook_embed", corrupt)]), answer).mean().item()
        restored = torch.zeros(n_layers, n_pos)
        half = window // 2
        for layer in range(n_layers):
            layers = range(max(0, layer - half), min(n_layers, layer + window - half)) if site != "resid" else [layer]
            for pos in range(n_pos):
                def restore(act, hook, pos=pos):
                    act = act.clone()
                    act[:, pos] = cache[hook.name][0, pos]
                    return act
                hooks = [("hook_embed", corrupt)] + [(names[lay], restore) for lay in layers]
                restored[layer, pos] = _answer_prob(model.run_with_hooks(batch, fwd_hooks=hooks), answer).mean()
    return {"clean": clean, "corrupt": corrupt_p, "restored": restored}


def indirect_effect(result: dict) -> torch.Tensor:
    """``[layer pos]``: the share of the clean-minus-corrupt probability that each restoration
    brings back (1 = all of it, 0 = none)."""
    gap = result["clean"] - result["corrupt"]
    return (result["restored"] - result["corrupt"]) / max(gap, 1e-9)


POSITION_KINDS = ("before subject", "subject", "after subject", "last")


def position_kinds(n_pos: int, subject_pos: list[int]) -> list[str]:
    """Name each position of a prompt by where it sits relative to the subject (BOS counts as before)."""
    kinds = []
    for pos in range(n_pos):
        if pos == n_pos - 1:
            kinds.append("last")
        elif pos < subject_pos[0]:
            kinds.append("before subject")
        elif pos in subject_pos:
            kinds.append("subject")
        else:
            kinds.append("after subject")
    return kinds


def trace_facts(model, items, site: str = "mlp", n_noise: int = 10, window: int = 1, min_gap: float = 0.05) -> dict:
    """Causal traces of many fact prompts (items with .prompt, .subject, .answer), averaged into a
    ``[layer kind]`` table of indirect effects with the kinds of POSITION_KINDS. Prompts where the
    subject is the last token are skipped (no "after" and the subject is the last position), and so
    are facts the model gets wrong (as in ROME: there is nothing to locate) and those where the noise
    lowers the answer's probability by less than ``min_gap``."""
    from course.probing import word_positions

    tok = model.tokenizer
    subject_ids = sorted({tok.encode(" " + it.subject)[0] for it in items})
    scale = noise_scale(model, subject_ids)
    total = torch.zeros(model.cfg.n_layers, len(POSITION_KINDS))
    count = torch.zeros(len(POSITION_KINDS))
    for i, it in enumerate(items):
        ids = [tok.bos_id] + tok.encode(it.prompt)
        subject_pos = word_positions(tok, it.prompt, it.subject)
        if subject_pos[-1] == len(ids) - 1:
            continue
        answer = tok.encode(it.answer)[0]
        with torch.no_grad():
            if model(torch.tensor([ids]))[0, -1].argmax().item() != answer:
                continue
        result = trace(model, torch.tensor([ids]), subject_pos, answer, scale, site=site, n_noise=n_noise, seed=i,
                       window=window)
        if result["clean"] - result["corrupt"] < min_gap:
            continue  # the noise barely hurts: a ratio of two tiny numbers would swamp the average
        effect = indirect_effect(result)
        for pos, kind in enumerate(position_kinds(len(ids), subject_pos)):
            k = POSITION_KINDS.index(kind)
            total[:, k] += effect[:, pos]
            count[k] += 1
    return {"kinds": list(POSITION_KINDS), "table": (total / count.clamp(min=1)).tolist(), "noise_scale": scale,
            "n_prompts": int(count[POSITION_KINDS.index("last")])}
