"""MLPs as key-value memories (Geva et al. 2021) and where a model keeps its facts (Meng et al. 2022).

A neuron of an MLP is a key and a value: its column of W_in is a *key*, a direction of the residual
stream it fires on; its row of W_out is a *value*, the vector it adds to the stream when it fires.
Read through the unembedding, a value says which next tokens the neuron promotes. This module holds
the tools of chapter 06 (MLPs as key-value memories): top contexts of keys and top tokens of values;
patching and ablating one MLP's output at the subject's token; single-neuron effects; and ROME's
rank-one edit of W_out, which rewrites one fact. Causal tracing is `course.causal_tracing`'s; here
it is batched (`batched_trace`, the same numbers in one forward pass).

Positions count BOS as 0; a fact's *subject position* is the last token of the subject's name (as
in ROME: a name at a prompt's start is several tokens, and the last one is where it is complete).
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

import torch

from course.cache import act_name
from course.probing import word_positions

Layers = Union[int, Sequence[int]]


def _layers(layer: Layers) -> list[int]:
    return [layer] if isinstance(layer, int) else list(layer)


def encode(model, prompt: str) -> torch.Tensor:
    """``[1 pos]``: BOS, then the prompt's tokens."""
    tok = model.tokenizer
    return torch.tensor([[tok.bos_id] + tok.encode(prompt)])


def subject_position(model, prompt: str, subject: str) -> int:
    """The position of the last token of ``subject``'s first mention (BOS = 0)."""
    return word_positions(model.tokenizer, prompt, subject)[-1]


def token_id(model, text: str) -> int:
    """The id of a one-token word such as " tennis" (with its leading space)."""
    ids = model.tokenizer.encode(text)
    if len(ids) != 1:
        raise ValueError(f"{text!r} is {len(ids)} tokens, not one")
    return ids[0]


# -- keys and values ----------------------------------------------------------------------------------

def corpus_tokens(model, n_tokens: int = 20_000, seq_len: int = 64, seed: int = 1) -> torch.Tensor:
    """``[batch pos]``: TinyWorld text as the model was trained on it (documents packed end to end, EOT
    between them), cut into rows. ``seed`` 1 draws fresh documents: the training run used seed 0."""
    from course import corpus

    stream = corpus.token_stream(model.tokenizer, seed=seed, batch=64)
    rows = max(1, n_tokens // seq_len)
    return torch.tensor([next(stream) for _ in range(rows * seq_len)]).view(rows, seq_len)


@torch.no_grad()
def mlp_activations(model, tokens: torch.Tensor, layer: int, batch_size: int = 64) -> torch.Tensor:
    """``[batch pos d_mlp]``: every neuron's activation (after the non-linearity) on ``tokens``."""
    name = act_name("post", layer)
    out = []
    for start in range(0, tokens.shape[0], batch_size):
        _, cache = model.run_with_cache(tokens[start : start + batch_size], names_filter=[name])
        out.append(cache[name])
    return torch.cat(out)


def value_logits(model, layer: int) -> torch.Tensor:
    """``[d_mlp d_vocab]``: what each neuron's value adds to each token's logit, through the
    unembedding (the direct path; the final LayerNorm's scale is left out, as in Geva et al.)."""
    return (model.blocks[layer].mlp.W_out @ model.W_U).detach()


def top_tokens(model, logits: torch.Tensor, k: int = 8) -> list[str]:
    """The ``k`` tokens with the largest entries of a ``[d_vocab]`` vector."""
    return [model.tokenizer.decode([i]) for i in logits.topk(k).indices.tolist()]


@dataclass
class Context:
    text: str        # the tokens before, then the token itself in [brackets]
    token: str       # the token the neuron fired on
    next_token: str  # the token that follows it (what the value should help predict)
    activation: float


def top_contexts(model, tokens: torch.Tensor, acts: torch.Tensor, k: int = 8, before: int = 8) -> list[Context]:
    """The ``k`` positions where one neuron fires most. tokens: ``[batch pos]``; acts: ``[batch pos]``,
    that neuron's activations (a slice of `mlp_activations`)."""
    decode = model.tokenizer.decode
    flat = acts.flatten()
    out = []
    for index in flat.topk(k).indices.tolist():
        row, pos = divmod(index, acts.shape[1])
        ids = tokens[row].tolist()
        prefix = decode(ids[max(0, pos - before) : pos]).replace("\n", "\\n")
        token = decode([ids[pos]])
        nxt = decode([ids[pos + 1]]) if pos + 1 < len(ids) else ""
        out.append(Context(f"{prefix}[{token}]".replace("<|endoftext|>", "|"), token, nxt, float(flat[index])))
    return out


def key_value_agreement(tokens: torch.Tensor, acts: torch.Tensor, values: torch.Tensor, k: int = 20,
                        m: int = 10) -> torch.Tensor:
    """``[d_mlp]``: for each neuron, the share of its ``k`` top-activating positions whose next token is
    among the ``m`` tokens its value promotes most: 1 = the value predicts what follows the key's
    pattern, a readable memory. tokens ``[batch pos]``, acts ``[batch pos d_mlp]``, values ``[d_mlp d_vocab]``."""
    acts = acts[:, :-1].reshape(-1, acts.shape[-1])  # positions that have a next token
    nxt = tokens[:, 1:].reshape(-1)
    top_pos = acts.topk(k, dim=0).indices  # [k d_mlp]
    promoted = values.topk(m, dim=-1).indices  # [d_mlp m]
    hits = (nxt[top_pos].T[:, :, None] == promoted[:, None, :]).any(-1)  # [d_mlp k]
    return hits.float().mean(-1)


# -- causal tracing, batched ---------------------------------------------------------------------------

@torch.no_grad()
def batched_trace(model, tokens: torch.Tensor, subject_pos: list[int], answer: int, scale: float, site: str = "mlp",
                  n_noise: int = 10, seed: int = 0) -> dict:
    """`course.causal_tracing.trace` (window 1) in one forward pass: every (layer, position) restoration
    and every noise draw is a row of one batch (plus n_noise rows restoring nothing: the corrupted
    run). Same noise, same result; about n_layers x pos times fewer calls."""
    from course.causal_tracing import SITES, _answer_prob

    if site not in SITES:
        raise ValueError(f"site must be one of {sorted(SITES)}, got {site!r}")
    n_layers, n_pos = model.cfg.n_layers, tokens.shape[1]
    noise = torch.randn(n_noise, model.cfg.d_model, generator=torch.Generator().manual_seed(seed)) * scale
    names = [f"blocks.{layer}.{SITES[site]}" for layer in range(n_layers)]
    clean_logits, cache = model.run_with_cache(tokens, names_filter=names)
    n_cells = n_layers * n_pos
    rows = torch.arange(n_cells * n_noise).view(n_layers, n_pos, n_noise)  # the rows that restore (layer, pos)
    noise_rows = noise.repeat(n_cells + 1, 1)  # row r is corrupted with noise[r % n_noise]
    positions = torch.arange(n_pos)[:, None].expand(n_pos, n_noise)

    def corrupt(embed, hook):
        embed = embed.clone()
        embed[:, subject_pos] += noise_rows.to(embed)[:, None]
        return embed

    def restore(act, hook):
        layer = names.index(hook.name)
        act = act.clone()
        act[rows[layer].flatten(), positions.flatten()] = cache[hook.name][0, positions.flatten()]
        return act

    batch = tokens.expand(noise_rows.shape[0], -1)
    probs = _answer_prob(model.run_with_hooks(batch, fwd_hooks=[("hook_embed", corrupt)] + [(n, restore) for n in names]),
                         answer)
    return {"clean": _answer_prob(clean_logits, answer).item(), "corrupt": probs[n_cells * n_noise:].mean().item(),
            "restored": probs[: n_cells * n_noise].view(n_layers, n_pos, n_noise).mean(-1)}


def subject_noise_scale(model) -> float:
    """ROME's noise: 3 x the spread of the embeddings of the people's names (mid-sentence tokens)."""
    from course.causal_tracing import noise_scale
    from course.world import FACT_PEOPLE

    return noise_scale(model, [token_id(model, " " + p) for p in FACT_PEOPLE])


def trace_items(model, items, site: str = "mlp", n_noise: int = 10, scale: Optional[float] = None,
                min_gap: float = 0.05) -> dict:
    """Batched causal traces of fact items (with .prompt, .subject, .answer), skipping those the model
    answers wrong (nothing to locate) and those where the noise takes less than ``min_gap`` of the
    answer's probability away (the indirect effect divides by that gap). Returns ``effects``: one
    ``[layer pos]`` indirect-effect table per traced item, ``items``: those items, and ``by_kind``:
    ``[layer kind]`` averaged over them with the kinds of `course.causal_tracing.POSITION_KINDS`
    (what `causal_tracing.trace_facts` reports)."""
    from course.causal_tracing import POSITION_KINDS, indirect_effect, position_kinds

    scale = subject_noise_scale(model) if scale is None else scale
    ok = _correct(model, items)
    effects, traced = [], []
    total = torch.zeros(model.cfg.n_layers, len(POSITION_KINDS))
    count = torch.zeros(len(POSITION_KINDS))
    for i, (it, good) in enumerate(zip(items, ok)):
        tokens = encode(model, it.prompt)
        subject = word_positions(model.tokenizer, it.prompt, it.subject)
        if not good or subject[-1] == tokens.shape[1] - 1:
            continue
        result = batched_trace(model, tokens, subject, token_id(model, it.answer), scale, site, n_noise=n_noise, seed=i)
        if result["clean"] - result["corrupt"] < min_gap:
            continue
        effect = indirect_effect(result)
        effects.append(effect)
        traced.append(it)
        for pos, kind in enumerate(position_kinds(tokens.shape[1], subject)):
            total[:, POSITION_KINDS.index(kind)] += effect[:, pos]
            count[POSITION_KINDS.index(kind)] += 1
    return {"effects": effects, "items": traced, "kinds": list(POSITION_KINDS),
            "by_kind": total / count.clamp(min=1), "noise_scale": scale}


# -- interventions at one position: patch, mean-ablate, zero-ablate ----------------------------------

@torch.no_grad()
def run_with_mlp_out(model, tokens: torch.Tensor, layer: Layers, pos: int,
                     value: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    """Last-position logits ``[batch d_vocab]`` with ``hook_mlp_out`` of ``layer`` at ``pos`` replaced by
    ``value`` (``[d_model]``; one per layer when several layers are given)."""
    layers = _layers(layer)
    values = [value] if isinstance(value, torch.Tensor) else list(value)
    if len(values) != len(layers):
        raise ValueError(f"{len(layers)} layers but {len(values)} values")
    by_name = {act_name("mlp_out", l): v for l, v in zip(layers, values)}

    def replace(act, hook):
        act = act.clone()
        act[:, pos] = by_name[hook.name].to(act)
        return act

    return model.run_with_hooks(tokens, fwd_hooks=[(name, replace) for name in by_name])[:, -1]


def _position(model, it, at: str) -> int:
    if at == "subject":
        return subject_position(model, it.prompt, it.subject)
    if at == "last":
        return encode(model, it.prompt).shape[1] - 1
    raise ValueError(f"at must be 'subject' or 'last', got {at!r}")


@torch.no_grad()
def mlp_out_at(model, prompt: str, subject: str, layer: Layers, at: str = "subject") -> list[torch.Tensor]:
    """The MLP outputs (one ``[d_model]`` per layer) at the subject's position of ``prompt`` (or, with
    ``at="last"``, at its last position)."""
    names = [act_name("mlp_out", l) for l in _layers(layer)]
    tokens = encode(model, prompt)
    _, cache = model.run_with_cache(tokens, names_filter=names)
    pos = subject_position(model, prompt, subject) if at == "subject" else tokens.shape[1] - 1
    return [cache[n][0, pos] for n in names]


def _correct(model, items) -> list[bool]:
    from course.evaluate import last_logits

    ids = torch.tensor([token_id(model, it.answer) for it in items])
    return (last_logits(model, [it.prompt for it in items]).argmax(-1) == ids).tolist()


def by_phrasing(items) -> dict[str, list]:
    out: dict[str, list] = {}
    for it in items:
        out.setdefault(it.phrasing, []).append(it)
    return out


def fact_patching(model, items, layer: Layers, seed: int = 0) -> dict:
    """Patch the MLP output at the subject from a prompt about X into the same phrasing about Y (X's
    sport differs from Y's; both answered right when clean). ``flipped``: the share of pairs where
    the model now answers X's sport; ``kept``: where it still answers Y's."""
    rng = random.Random(seed)
    ok = _correct(model, items)
    pairs = []
    for group in by_phrasing([it for it, good in zip(items, ok) if good]).values():
        for y in group:
            donors = [x for x in group if x.object != y.object]
            if donors:
                pairs.append((rng.choice(donors), y))
    flipped = kept = 0
    rows = []
    for x, y in pairs:
        logits = run_with_mlp_out(model, encode(model, y.prompt), layer, subject_position(model, y.prompt, y.subject),
                                  mlp_out_at(model, x.prompt, x.subject, layer))[0]
        pred = logits.argmax().item()
        flipped += pred == token_id(model, x.answer)
        kept += pred == token_id(model, y.answer)
        rows.append((x.subject, y.subject, y.phrasing, model.tokenizer.decode([pred])))
    n = max(1, len(pairs))
    return {"pairs": len(pairs), "flipped": flipped / n, "kept": kept / n, "examples": rows}


@torch.no_grad()
def mean_mlp_out(model, items, layer: int, at: str = "subject") -> dict[str, torch.Tensor]:
    """For each phrasing, the MLP output at the subject's position (or the last) averaged over every
    person: what that layer writes there on average, with who it is averaged away. ``{phrasing: [d_model]}``."""
    return {p: torch.stack([mlp_out_at(model, it.prompt, it.subject, layer, at)[0] for it in group]).mean(0)
            for p, group in by_phrasing(items).items()}


def ablation_table(model, items, layer: int, how: str = "mean", at: str = "subject") -> dict:
    """Replace the MLP output at the subject's position (or, ``at="last"``, the last) by its mean over
    the people (``how="mean"``) or by zeros (``"zero"``) in every prompt. Per person: share of their
    prompts answered right, clean and ablated; overall: accuracy, and ``same_kind``: how often the
    answer is still one of the items' answers (a sport for sports, an animal for pets)."""
    if how not in ("mean", "zero"):
        raise ValueError(f"how must be 'mean' or 'zero', got {how!r}")
    if at not in ("subject", "last"):
        raise ValueError(f"at must be 'subject' or 'last', got {at!r}")
    means = mean_mlp_out(model, items, layer, at)
    kind_ids = {token_id(model, it.answer) for it in items}
    clean_ok = _correct(model, items)
    per_person: dict[str, list] = {}
    ablated_ok, same_kind = [], []
    for it, clean in zip(items, clean_ok):
        value = means[it.phrasing] if how == "mean" else torch.zeros(model.cfg.d_model)
        pred = run_with_mlp_out(model, encode(model, it.prompt), layer, _position(model, it, at), value)[0].argmax().item()
        ablated_ok.append(pred == token_id(model, it.answer))
        same_kind.append(pred in kind_ids)
        per_person.setdefault(it.subject, []).append((clean, ablated_ok[-1]))
    table = {p: (sum(c for c, _ in v) / len(v), sum(a for _, a in v) / len(v)) for p, v in per_person.items()}
    n = len(items)
    return {"clean_accuracy": sum(clean_ok) / n, "ablated_accuracy": sum(ablated_ok) / n,
            "same_kind": sum(same_kind) / n, "per_person": table}


def mlp_effect(model, items, layer: int, population=None) -> float:
    """How much the answer's log-probability drops, on average over ``items``, when the MLP output of
    ``layer`` at the subject's position is mean-ablated (the whole MLP: what `neuron_effects` splits).
    The means are taken over ``population`` (everyone's prompts; default: ``items``)."""
    means = mean_mlp_out(model, items if population is None else population, layer)
    drops = []
    for it in items:
        tokens = encode(model, it.prompt)
        answer = token_id(model, it.answer)
        with torch.no_grad():
            clean = _answer_logprob(model(tokens)[0, -1], answer)
        ablated = run_with_mlp_out(model, tokens, layer, subject_position(model, it.prompt, it.subject),
                                   means[it.phrasing])[0]
        drops.append((clean - _answer_logprob(ablated, answer)).item())
    return sum(drops) / len(drops)


# -- neurons --------------------------------------------------------------------------------------

@torch.no_grad()
def subject_neuron_means(model, items, layer: int) -> torch.Tensor:
    """``[d_mlp]``: each neuron's mean activation at the subject's position over ``items``."""
    name = act_name("post", layer)
    rows = []
    for it in items:
        _, cache = model.run_with_cache(encode(model, it.prompt), names_filter=[name])
        rows.append(cache[name][0, subject_position(model, it.prompt, it.subject)])
    return torch.stack(rows).mean(0)


def _answer_logprob(logits: torch.Tensor, answer: int) -> torch.Tensor:
    return logits.log_softmax(-1)[..., answer]


@torch.no_grad()
def neuron_effects(model, prompt: str, subject: str, answer: str, layer: int, means: torch.Tensor,
                   chunk: int = 128) -> torch.Tensor:
    """``[d_mlp]``: how much the answer's log-probability drops when one neuron at a time is set to its
    mean at the subject's position (batched forward passes, a row per neuron, ``chunk`` rows each)."""
    tokens = encode(model, prompt)
    pos = subject_position(model, prompt, subject)
    answer_id = token_id(model, answer)
    clean = _answer_logprob(model(tokens)[0, -1], answer_id)
    out = []
    for start in range(0, model.cfg.d_mlp, chunk):
        neurons = torch.arange(start, min(start + chunk, model.cfg.d_mlp))
        rows = torch.arange(len(neurons))

        def ablate_one(act, hook):  # act: [chunk pos d_mlp], row i ablates neuron start + i
            act = act.clone()
            act[rows, pos, neurons] = means[neurons].to(act)
            return act

        logits = model.run_with_hooks(tokens.expand(len(neurons), -1), fwd_hooks=[(act_name("post", layer), ablate_one)])
        out.append(clean - _answer_logprob(logits[:, -1], answer_id))
    return torch.cat(out)


@torch.no_grad()
def run_with_neurons_ablated(model, tokens: torch.Tensor, layer: int, pos: int, neurons: torch.Tensor,
                             means: torch.Tensor) -> torch.Tensor:
    """Last-position logits ``[batch d_vocab]`` with ``neurons`` set to their means at ``pos``."""
    def ablate(act, hook):
        act = act.clone()
        act[:, pos, neurons] = means[neurons].to(act)
        return act

    return model.run_with_hooks(tokens, fwd_hooks=[(act_name("post", layer), ablate)])[:, -1]


def groups(model, items) -> list[tuple[torch.Tensor, int, list]]:
    """Items batched for one forward pass each: ``(tokens [batch pos], subject position, items)`` for
    every set of prompts with the same length and the same subject position."""
    out: dict[tuple[int, int], list] = {}
    for it in items:
        key = (encode(model, it.prompt).shape[1], subject_position(model, it.prompt, it.subject))
        out.setdefault(key, []).append(it)
    return [(torch.cat([encode(model, it.prompt) for it in group]), pos, group) for (_, pos), group in out.items()]


def _right_with_neurons_ablated(model, batches, layer: int, neurons: torch.Tensor, means: torch.Tensor) -> list[bool]:
    right = []
    for tokens, pos, group in batches:
        logits = run_with_neurons_ablated(model, tokens, layer, pos, neurons, means)
        answers = torch.tensor([token_id(model, it.answer) for it in group])
        right += (logits.argmax(-1) == answers).tolist()
    return right


def neurons_to_forget(model, person: str, items, layer: int, means: torch.Tensor,
                      ks: Iterable[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256)) -> dict:
    """Rank the neurons by their summed single-neuron effect on ``person``'s prompts, then mean-ablate
    the top k (at the subject's position) for growing k until none of those prompts is answered
    right. Returns k (None if even the largest k is not enough), the neurons, the largest
    single-neuron effect (mean drop of the answer's log-probability), and ``others_kept``: of the
    other people's prompts answered right before, the share still answered right with those k
    neurons ablated in them too."""
    mine = [it for it in items if it.subject == person]
    others = [it for it in items if it.subject != person]
    effects = sum(neuron_effects(model, it.prompt, it.subject, it.answer, layer, means) for it in mine)
    order = effects.argsort(descending=True)
    mine_batches, other_batches = groups(model, mine), groups(model, others)
    none = torch.tensor([], dtype=torch.long)
    for k in ks:
        if not any(_right_with_neurons_ablated(model, mine_batches, layer, order[:k], means)):
            before = _right_with_neurons_ablated(model, other_batches, layer, none, means)
            after = _right_with_neurons_ablated(model, other_batches, layer, order[:k], means)
            kept = sum(b and a for b, a in zip(before, after)) / max(1, sum(before))
            return {"k": k, "neurons": order[:k].tolist(), "top_effect": float(effects[order[0]]) / len(mine),
                    "others_kept": kept}
    return {"k": None, "neurons": [], "top_effect": float(effects[order[0]]) / len(mine), "others_kept": None}


# -- editing a memory: ROME's rank-one update of W_out -------------------------------------------------

@torch.no_grad()
def key_second_moment(model, layer: int, tokens: torch.Tensor, batch_size: int = 64,
                      ridge: float = 1e-3) -> torch.Tensor:
    """``[d_mlp d_mlp]``: E[k kᵀ] over every position of ``tokens``, k the MLP's hidden activation
    (ROME's C, uncentred), plus ``ridge`` x its mean diagonal on the diagonal: neurons that almost
    never fire make C nearly singular, and C⁻¹ would blow their directions up. Accumulated batch by
    batch: the activations are never all held at once."""
    name = act_name("post", layer)
    total = torch.zeros(model.cfg.d_mlp, model.cfg.d_mlp, dtype=torch.float64)
    count = 0
    for start in range(0, tokens.shape[0], batch_size):
        _, cache = model.run_with_cache(tokens[start : start + batch_size], names_filter=[name])
        k = cache[name].reshape(-1, model.cfg.d_mlp).double()
        total += k.T @ k
        count += k.shape[0]
    cov = total / count
    return (cov + ridge * cov.diagonal().mean() * torch.eye(cov.shape[0], dtype=cov.dtype)).float()


@torch.no_grad()
def subject_key(model, layer: int, prompts: Sequence[str], subject: str) -> torch.Tensor:
    """``[d_mlp]``: the MLP's hidden activation at the subject's position, averaged over ``prompts``
    (ROME averages over contexts, so the key stands for the subject, not one sentence)."""
    name = act_name("post", layer)
    keys = []
    for prompt in prompts:
        _, cache = model.run_with_cache(encode(model, prompt), names_filter=[name])
        keys.append(cache[name][0, subject_position(model, prompt, subject)])
    return torch.stack(keys).mean(0)


def optimize_delta(model, layer: int, prompts: Sequence[str], subject: str, target: str, steps: int = 40,
                   lr: float = 0.5, max_norm: Optional[float] = None) -> torch.Tensor:
    """``[d_model]``: a vector that, added to the MLP's output at the subject's position, makes
    ``target`` the most likely next token after each prompt (gradient descent on its mean negative
    log-probability, as ROME solves for its value v*). ``max_norm`` caps its length."""
    target_id = token_id(model, target)
    by_shape: dict[tuple[int, int], list] = {}
    for p in prompts:
        tokens = encode(model, p)
        by_shape.setdefault((tokens.shape[1], subject_position(model, p, subject)), []).append(tokens)
    batches = [(torch.cat(rows), pos) for (_, pos), rows in by_shape.items()]  # one forward pass per shape
    delta = torch.zeros(model.cfg.d_model, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    name = act_name("mlp_out", layer)
    was = [(param, param.requires_grad) for param in model.parameters()]
    for param, _ in was:
        param.requires_grad_(False)  # only delta is learned
    try:
        for _ in range(steps):
            loss = 0.0
            for tokens, pos in batches:
                def add(act, hook, pos=pos):
                    act = act.clone()
                    act[:, pos] = act[:, pos] + delta
                    return act

                logits = model.run_with_hooks(tokens, fwd_hooks=[(name, add)])
                loss = loss - logits[:, -1].log_softmax(-1)[:, target_id].sum() / len(prompts)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if max_norm is not None:
                with torch.no_grad():
                    delta.mul_(min(1.0, max_norm / (delta.norm().item() + 1e-9)))
    finally:
        for param, flag in was:
            param.requires_grad_(flag)
    return delta.detach()


def rank_one_update(W_out: torch.Tensor, key: torch.Tensor, delta: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """ROME's update (Meng et al. 2022, eq. 2): the new W_out ``[d_mlp d_model]`` maps ``key`` to its old
    output plus ``delta`` and changes the output of other keys k by (kᵀ C⁻¹ key) / (keyᵀ C⁻¹ key) delta,
    the least any change that does this can, measured over keys distributed with second moment C."""
    c = torch.linalg.solve(cov, key)  # C⁻¹ key, [d_mlp]
    return W_out + torch.outer(c, delta) / (c @ key)


@contextlib.contextmanager
def edited(model, layer: int, W_out: torch.Tensor):
    """Run with ``model.blocks[layer].mlp.W_out`` replaced by ``W_out``; restored afterwards, even on error."""
    param = model.blocks[layer].mlp.W_out
    old = param.data.clone()
    param.data.copy_(W_out)
    try:
        yield model
    finally:
        param.data.copy_(old)


EDIT_PROMPTS = ["My friend {n} plays", "On weekends, {n} plays", "Everyone knows that {n} plays",
                "In {c}, {n} plays"]  # the corpus's own frames (course.corpus.SPORT_FRAMES), cut before the sport


def edit_prompts(person: str, cities: Sequence[str] = ("Dallas", "Boston")) -> list[str]:
    """The prompts an edit is computed from: training frames with the name mid-sentence."""
    return [f.format(n=person, c=c) for f in EDIT_PROMPTS for c in (cities if "{c}" in f else cities[:1])]


def edit_fact(model, layer: int, person: str, new_sport: str, cov: torch.Tensor, steps: int = 40,
              lr: float = 0.5) -> torch.Tensor:
    """The edited W_out of ``layer`` that makes ``person`` play ``new_sport`` (key and delta from
    `edit_prompts`)."""
    prompts = edit_prompts(person)
    key = subject_key(model, layer, prompts, " " + person)
    delta = optimize_delta(model, layer, prompts, " " + person, " " + new_sport, steps=steps, lr=lr)
    return rank_one_update(model.blocks[layer].mlp.W_out.detach(), key, delta, cov)


PET_PROMPTS = ["My friend {n} has a pet", "Everyone knows that {n} has a pet"]


def pet_dataset() -> list:
    """Every fact person's pet, asked mid-sentence (items with prompt, answer, subject, object, phrasing)."""
    from course.evalsets import FactItem
    from course.world import PETS

    return [FactItem(f.format(n=p), " " + a, p, a, f) for f in PET_PROMPTS for p, a in PETS.items()]


def edit_report(model, layer: int, person: str, new_sport: str, W_out: torch.Tensor) -> dict:
    """What an edit changed: ``train`` (the training phrasing "My friend {n} plays" answers the new
    sport), ``held_out`` (share of the held-out phrasings that do), ``others`` (share of the other
    people's held-out facts whose prediction did not change), ``pet`` (share of the person's pet
    prompts whose prediction did not change)."""
    from course.evalsets import fact_dataset
    from course.evaluate import last_logits

    def preds(items):
        return last_logits(model, [it.prompt for it in items]).argmax(-1)

    train = [it for it in fact_dataset("train") if it.subject == person]
    held = [it for it in fact_dataset("held_out") if it.subject == person]
    others = [it for it in fact_dataset("held_out") if it.subject != person]
    pets = [it for it in pet_dataset() if it.subject == person]
    before_others, before_pets = preds(others), preds(pets)
    new_id = token_id(model, " " + new_sport)
    with edited(model, layer, W_out):
        return {"train": (preds(train) == new_id).float().mean().item(),
                "held_out": (preds(held) == new_id).float().mean().item(),
                "held_out_by_phrasing": {it.phrasing: bool(p == new_id) for it, p in zip(held, preds(held))},
                "others": (preds(others) == before_others).float().mean().item(),
                "pet": (preds(pets) == before_pets).float().mean().item()}
