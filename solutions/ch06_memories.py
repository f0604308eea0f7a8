"""Chapter 06, MLPs as key-value memories: reference solutions, their hints and the known mistakes.

The references use only ``torch`` (the notebook imports it) and the model's hook names. The
``_wrong_*`` functions are the mistakes ``check`` recognises by their output. tests/test_ch06.py
holds ``causal_trace`` equal to ``course.causal_tracing.trace`` and ``rank_one_edit`` to
``course.memories.rank_one_edit`` on the shipped model.
"""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "06"
TITLE = "MLPs as key-value memories"


def _small_model(seed: int = 0):
    """A small random model with large weights, so every site and position matters a little."""
    from course.config import ModelConfig
    from course.model import HookedTransformer

    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=24, d_vocab=19, n_ctx=16, init_std=0.4)
    model = HookedTransformer(cfg).eval()
    model.init_weights(seed=seed)
    return model


# -- keys: what makes a neuron fire --------------------------------------------------------------------

def neuron_activations(model, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """Every neuron's activation in the MLP of ``layer``, after its non-linearity (the hook
    ``blocks.{layer}.mlp.hook_post``). tokens: [batch pos] -> [batch pos d_mlp]."""
    name = f"blocks.{layer}.mlp.hook_post"
    _, cache = model.run_with_cache(tokens, names_filter=[name])
    return cache[name]


def _wrong_acts_pre(model, tokens, layer):
    name = f"blocks.{layer}.mlp.hook_pre"
    return model.run_with_cache(tokens, names_filter=[name])[1][name]


def _wrong_acts_mlp_out(model, tokens, layer):
    name = f"blocks.{layer}.hook_mlp_out"
    return model.run_with_cache(tokens, names_filter=[name])[1][name]


def _wrong_acts_next_layer(model, tokens, layer):
    name = f"blocks.{min(layer + 1, model.cfg.n_layers - 1)}.mlp.hook_post"
    return model.run_with_cache(tokens, names_filter=[name])[1][name]


def _acts_cases():
    model = _small_model()
    g = torch.Generator().manual_seed(1)
    return [
        Case("one prompt of 6 tokens, layer 0", (model, torch.tensor([[0, 5, 3, 9, 9, 2]]), 0)),
        Case("a batch of 3 random prompts, layer 1", (model, torch.randint(0, 19, (3, 7), generator=g), 1)),
    ]


# -- values: what a neuron writes ----------------------------------------------------------------------

def neuron_value(model, layer: int, neuron: int) -> torch.Tensor:
    """What one neuron's value (its row of W_out) adds to each token's logit when the neuron fires
    with activation 1, read straight through the unembedding (ignore the final LayerNorm).
    ``model.blocks[layer].mlp.W_out`` is [d_mlp d_model]; ``model.W_U`` is [d_model d_vocab] -> [d_vocab]."""
    return model.blocks[layer].mlp.W_out[neuron] @ model.W_U


def _wrong_value_key(model, layer, neuron):
    return model.blocks[layer].mlp.W_in[:, neuron] @ model.W_U


def _wrong_value_embedding(model, layer, neuron):
    return model.blocks[layer].mlp.W_out[neuron] @ model.W_E.T


def _wrong_value_other_layer(model, layer, neuron):
    return model.blocks[(layer + 1) % model.cfg.n_layers].mlp.W_out[neuron] @ model.W_U


def _value_cases():
    model = _small_model()
    return [Case("layer 0, neuron 3", (model, 0, 3)), Case("layer 1, neuron 17", (model, 1, 17))]


# -- causal tracing ---------------------------------------------------------------------------------

def causal_trace(model, tokens: torch.Tensor, subject_pos: list[int], answer: int, noise: torch.Tensor,
                 site: str) -> torch.Tensor:
    """Causal tracing of one prompt (Meng et al. 2022). tokens: [1 pos], BOS first; subject_pos: the
    positions of the subject's tokens; answer: the id of the right next token; noise: [n_noise d_model].

    Corrupted run: a batch of n_noise copies of the prompt, copy i with noise[i] added to the token
    embedding (hook ``hook_embed``) at every subject position. For each layer and position, run the
    corrupted batch again with one activation put back to its value in the clean run: ``site`` is
    "resid" (``blocks.{l}.hook_resid_pre``), "mlp" (``blocks.{l}.hook_mlp_out``) or "attn"
    (``blocks.{l}.hook_attn_out``). Return [layer pos]: the answer's probability at the last
    position, averaged over the n_noise copies."""
    hook = {"resid": "hook_resid_pre", "mlp": "hook_mlp_out", "attn": "hook_attn_out"}[site]
    names = [f"blocks.{layer}.{hook}" for layer in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(tokens, names_filter=names)
    batch = tokens.expand(noise.shape[0], -1)  # [n_noise pos]

    def corrupt(embed, hook):  # [n_noise pos d_model]
        embed = embed.clone()
        embed[:, subject_pos] += noise[:, None, :]
        return embed

    restored = torch.zeros(model.cfg.n_layers, tokens.shape[1])
    for layer, name in enumerate(names):
        for pos in range(tokens.shape[1]):
            def restore(act, hook, pos=pos):
                act = act.clone()
                act[:, pos] = clean_cache[hook.name][0, pos]
                return act

            logits = model.run_with_hooks(batch, fwd_hooks=[("hook_embed", corrupt), (name, restore)])
            restored[layer, pos] = logits[:, -1].softmax(-1)[:, answer].mean()
    return restored


def _trace_variant(model, tokens, subject_pos, answer, noise, site, corrupt_pos=None, restore_all=False,
                   restore=True, replace=False):
    hook = {"resid": "hook_resid_pre", "mlp": "hook_mlp_out", "attn": "hook_attn_out"}[site]
    names = [f"blocks.{layer}.{hook}" for layer in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(tokens, names_filter=names)
    batch = tokens.expand(noise.shape[0], -1)
    where = subject_pos if corrupt_pos is None else corrupt_pos

    def corrupt(embed, hook):
        embed = embed.clone()
        if replace:
            embed[:, where] = noise[:, None, :].expand(-1, len(where), -1)
        else:
            embed[:, where] += noise[:, None, :]
        return embed

    out = torch.zeros(model.cfg.n_layers, tokens.shape[1])
    for layer, name in enumerate(names):
        for pos in range(tokens.shape[1]):
            def put_back(act, hook, pos=pos):
                act = act.clone()
                if restore_all:
                    act[:] = clean_cache[hook.name][0]
                elif restore:
                    act[:, pos] = clean_cache[hook.name][0, pos]
                return act

            logits = model.run_with_hooks(batch, fwd_hooks=[("hook_embed", corrupt), (name, put_back)])
            out[layer, pos] = logits[:, -1].softmax(-1)[:, answer].mean()
    return out


def _wrong_trace_no_restore(model, tokens, subject_pos, answer, noise, site):
    return _trace_variant(model, tokens, subject_pos, answer, noise, site, restore=False)


def _wrong_trace_noise_everywhere(model, tokens, subject_pos, answer, noise, site):
    return _trace_variant(model, tokens, subject_pos, answer, noise, site,
                          corrupt_pos=list(range(tokens.shape[1])))


def _wrong_trace_restore_all(model, tokens, subject_pos, answer, noise, site):
    return _trace_variant(model, tokens, subject_pos, answer, noise, site, restore_all=True)


def _wrong_trace_replace(model, tokens, subject_pos, answer, noise, site):
    return _trace_variant(model, tokens, subject_pos, answer, noise, site, replace=True)


def _trace_cases():
    model = _small_model()
    g = torch.Generator().manual_seed(2)
    return [
        Case("6 tokens, subject at 2, MLP outputs, 3 noise draws",
             (model, torch.tensor([[0, 4, 7, 1, 9, 3]]), [2], 5, torch.randn(3, 16, generator=g) * 2.0, "mlp")),
        Case("7 tokens, subject at 1-2, residual stream, 4 noise draws",
             (model, torch.tensor([[0, 8, 2, 6, 6, 11, 3]]), [1, 2], 12, torch.randn(4, 16, generator=g) * 2.0,
              "resid")),
        Case("5 tokens, subject at 3, attention outputs, 2 noise draws",
             (model, torch.tensor([[0, 1, 2, 13, 4]]), [3], 7, torch.randn(2, 16, generator=g) * 2.0, "attn")),
    ]


# -- patching one MLP output --------------------------------------------------------------------------

def patch_mlp_out(model, tokens: torch.Tensor, layer: int, pos: int, value: torch.Tensor) -> torch.Tensor:
    """Run ``tokens`` ([batch pos]) with the output of the MLP of ``layer`` (``blocks.{layer}.hook_mlp_out``)
    at position ``pos`` replaced by ``value`` ([d_model], the same for every prompt of the batch).
    Return the logits at the last position, [batch d_vocab]."""
    def replace(act, hook):  # [batch pos d_model]
        act = act.clone()
        act[:, pos] = value
        return act

    return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", replace)])[:, -1]


def _wrong_patch_add(model, tokens, layer, pos, value):
    def add(act, hook):
        act = act.clone()
        act[:, pos] += value
        return act

    return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", add)])[:, -1]


def _wrong_patch_every_pos(model, tokens, layer, pos, value):
    return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.hook_mlp_out",
                                                    lambda act, hook: value.expand_as(act).clone())])[:, -1]


def _wrong_patch_resid(model, tokens, layer, pos, value):
    def replace(act, hook):
        act = act.clone()
        act[:, pos] = value
        return act

    return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.hook_resid_post", replace)])[:, -1]


def _wrong_patch_all_logits(model, tokens, layer, pos, value):
    def replace(act, hook):
        act = act.clone()
        act[:, pos] = value
        return act

    return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", replace)])


def _patch_cases():
    model = _small_model()
    g = torch.Generator().manual_seed(3)
    return [
        Case("one prompt, layer 0, position 2", (model, torch.tensor([[0, 3, 5, 8, 1]]), 0, 2,
                                                 torch.randn(16, generator=g))),
        Case("a batch of 2, layer 1, position 1", (model, torch.randint(0, 19, (2, 6), generator=g), 1, 1,
                                                   torch.randn(16, generator=g) * 3)),
    ]


# -- mean ablation ---------------------------------------------------------------------------------

def mean_ablation_value(acts: torch.Tensor, subject_pos: torch.Tensor) -> torch.Tensor:
    """The value a mean ablation puts in place of an activation at the subject's token: its average
    over many prompts, each about a different person. acts: [batch pos d_model], one prompt per row;
    subject_pos: [batch], the subject's position in each row -> [d_model]."""
    return acts[torch.arange(acts.shape[0]), subject_pos].mean(0)


def _wrong_mean_zero(acts, subject_pos):
    return torch.zeros(acts.shape[-1])


def _wrong_mean_all_positions(acts, subject_pos):
    return acts.mean((0, 1))


def _wrong_mean_last_position(acts, subject_pos):
    return acts[:, -1].mean(0)


def _wrong_mean_first_prompt(acts, subject_pos):
    return acts[0, subject_pos[0]]


def _mean_cases():
    g = torch.Generator().manual_seed(4)
    return [
        Case("3 prompts, 4 positions, d_model 2, subjects at 1, 2, 1",
             (torch.arange(24.0).view(3, 4, 2), torch.tensor([1, 2, 1]))),
        Case("random, 5 prompts, 6 positions, d_model 8", (torch.randn(5, 6, 8, generator=g), torch.tensor([2, 3, 1, 4, 2]))),
    ]


# -- the rank-one edit (ROME) --------------------------------------------------------------------------

def rank_one_edit(mlp: dict, key: torch.Tensor, delta: torch.Tensor, cov: torch.Tensor) -> dict:
    """ROME's edit of one MLP (Meng et al. 2022). mlp: its weights {"W_in": [d_model d_mlp], "b_in",
    "W_out": [d_mlp d_model], "b_out"}; key: [d_mlp], the hidden activation at the subject's token;
    delta: [d_model], what the MLP's output for that key must gain; cov: [d_mlp d_mlp], C = E[k kᵀ]
    over many tokens. Return the weights after the edit (a new dict, same keys; do not edit the
    inputs in place): the layer that writes the memory gets the rank-one update
    (C⁻¹ key) deltaᵀ / (keyᵀ C⁻¹ key), so that the key's output gains exactly delta."""
    c = torch.linalg.solve(cov, key)  # C⁻¹ key: [d_mlp]
    new = dict(mlp)
    new["W_out"] = mlp["W_out"] + torch.outer(c, delta) / (c @ key)
    return new


def _wrong_edit_w_in(mlp, key, delta, cov):
    c = torch.linalg.solve(cov, key)
    new = dict(mlp)
    new["W_in"] = mlp["W_in"] + torch.outer(delta, c) / (c @ key)
    return new


def _wrong_edit_no_cov(mlp, key, delta, cov):
    new = dict(mlp)
    new["W_out"] = mlp["W_out"] + torch.outer(key, delta) / (key @ key)
    return new


def _wrong_edit_unnormalised(mlp, key, delta, cov):
    new = dict(mlp)
    new["W_out"] = mlp["W_out"] + torch.outer(torch.linalg.solve(cov, key), delta)
    return new


def _wrong_edit_cov_not_inverted(mlp, key, delta, cov):
    c = cov @ key
    new = dict(mlp)
    new["W_out"] = mlp["W_out"] + torch.outer(c, delta) / (c @ key)
    return new


def _wrong_edit_sign(mlp, key, delta, cov):
    c = torch.linalg.solve(cov, key)
    new = dict(mlp)
    new["W_out"] = mlp["W_out"] - torch.outer(c, delta) / (c @ key)
    return new


def _edit_cases():
    g = torch.Generator().manual_seed(5)

    def case(d_model, d_mlp, n):
        keys = torch.randn(n, d_mlp, generator=g).abs()
        mlp = {"W_in": torch.randn(d_model, d_mlp, generator=g), "b_in": torch.randn(d_mlp, generator=g),
               "W_out": torch.randn(d_mlp, d_model, generator=g), "b_out": torch.randn(d_model, generator=g)}
        return (mlp, keys[0] + 0.5, torch.randn(d_model, generator=g), keys.T @ keys / n + 0.1 * torch.eye(d_mlp))

    return [Case("d_model 3, d_mlp 5", case(3, 5, 40)), Case("d_model 6, d_mlp 10", case(6, 10, 100))]


EXERCISES = [
    Exercise(
        "neuron_activations", CHAPTER, neuron_activations, _acts_cases,
        hints=["run_with_cache with names_filter=[name] caches just that hook; the neurons' activations are "
               "blocks.{layer}.mlp.hook_post.",
               "_, cache = model.run_with_cache(tokens, names_filter=[name]); return cache[name]."],
        mistakes=[
            Mistake("pre", _wrong_acts_pre, "Did you read hook_pre? That is before the non-linearity; a key's "
                                            "activation is what the neuron outputs: hook_post."),
            Mistake("mlp_out", _wrong_acts_mlp_out,
                    "Did you read hook_mlp_out? That is the MLP's output in the residual stream ([.. d_model]); "
                    "the neurons are inside it: blocks.{layer}.mlp.hook_post ([.. d_mlp])."),
            Mistake("next layer", _wrong_acts_next_layer, "Is the layer off by one? Read blocks.{layer}, not the next block."),
        ],
    ),
    Exercise(
        "neuron_value", CHAPTER, neuron_value, _value_cases,
        hints=["A neuron's value is its row of W_out: model.blocks[layer].mlp.W_out[neuron], a vector in the "
               "residual stream.",
               "Multiply it by the unembedding, model.W_U ([d_model d_vocab]), to get one number per token."],
        mistakes=[
            Mistake("key", _wrong_value_key,
                    "Did you read W_in[:, neuron]? That is the neuron's key, the direction it reads; its value, the "
                    "vector it writes, is its row of W_out."),
            Mistake("embedding", _wrong_value_embedding,
                    "Did you multiply by the embedding (W_E.T)? Logits come from the unembedding: model.W_U."),
            Mistake("layer", _wrong_value_other_layer, "Did you take another layer's W_out? Use model.blocks[layer]."),
        ],
    ),
    Exercise(
        "causal_trace", CHAPTER, causal_trace, _trace_cases,
        hints=["Three ingredients: a clean cache of the site's hooks; a hook on hook_embed that adds noise[i] "
               "to copy i at the subject's positions; a hook on one site that puts back the clean value at one "
               "position.",
               "Both hooks go in one run_with_hooks call: fwd_hooks=[(\"hook_embed\", corrupt), (name, restore)]. "
               "In restore, act[:, pos] = clean_cache[name][0, pos] (every noisy copy gets the one clean value).",
               "The score is logits[:, -1].softmax(-1)[:, answer].mean(): the probability, averaged over the copies."],
        mistakes=[
            Mistake("no restore", _wrong_trace_no_restore,
                    "Every cell equals the corrupted run: did you forget to put the clean activation back? The "
                    "restoring hook must write clean_cache[name][0, pos] into act[:, pos] and return act."),
            Mistake("noise everywhere", _wrong_trace_noise_everywhere,
                    "Did you add noise at every position? Corrupt only the subject's tokens, so that the model "
                    "forgets who the sentence is about and nothing else."),
            Mistake("restore all", _wrong_trace_restore_all,
                    "Did you restore every position of the layer at once? Restore one position per run: that is "
                    "what tells you *where* the fact is."),
            Mistake("replace", _wrong_trace_replace,
                    "Did you replace the subject's embedding by the noise? Add the noise to it (embed + noise), "
                    "as ROME does."),
        ],
    ),
    Exercise(
        "patch_mlp_out", CHAPTER, patch_mlp_out, _patch_cases,
        hints=["One hook on blocks.{layer}.hook_mlp_out that clones its input and sets act[:, pos] = value.",
               "Return model.run_with_hooks(tokens, fwd_hooks=[(name, replace)])[:, -1]."],
        mistakes=[
            Mistake("add", _wrong_patch_add, "Did you add the value to the MLP's output? Patching *replaces* it: "
                                             "act[:, pos] = value."),
            Mistake("every position", _wrong_patch_every_pos,
                    "Did you replace the MLP's output at every position? Only position pos."),
            Mistake("resid", _wrong_patch_resid,
                    "Did you patch the residual stream (hook_resid_post)? Patch the MLP's own output, "
                    "blocks.{layer}.hook_mlp_out: the rest of the stream stays as it was."),
            Mistake("all logits", _wrong_patch_all_logits,
                    "Did you return the logits of every position? Return only the last position's: [:, -1]."),
        ],
    ),
    Exercise(
        "mean_ablation_value", CHAPTER, mean_ablation_value, _mean_cases,
        hints=["Pick each prompt's activation at its own subject position, then average over the prompts.",
               "acts[torch.arange(batch), subject_pos] is [batch d_model]; .mean(0) averages it."],
        mistakes=[
            Mistake("zero", _wrong_mean_zero,
                    "Did you return zeros? That is zero-ablation: it puts the model somewhere it never is "
                    "(a stream with no MLP output at all) and breaks more than the one fact. Mean-ablation "
                    "removes only what differs between people: use the average over the prompts."),
            Mistake("all positions", _wrong_mean_all_positions,
                    "Did you average over every position? What the MLP writes at other tokens is not what it "
                    "writes at a name; average only at each prompt's subject position."),
            Mistake("last position", _wrong_mean_last_position,
                    "Did you read the last position? Ablate at the subject's token: use subject_pos."),
            Mistake("first prompt", _wrong_mean_first_prompt,
                    "Did you take one prompt's activation? Average over all prompts, or you patch in one "
                    "person's fact instead of removing it."),
        ],
    ),
    Exercise(
        "rank_one_edit", CHAPTER, rank_one_edit, _edit_cases,
        hints=["Only W_out changes: the value is what the MLP writes. Copy the dict and replace \"W_out\".",
               "c = torch.linalg.solve(cov, key) is C⁻¹ key; the update is torch.outer(c, delta) / (c @ key), "
               "[d_mlp d_model] like W_out.",
               "Check: (key @ new_W_out) - (key @ old_W_out) should equal delta."],
        mistakes=[
            Mistake("W_in", _wrong_edit_w_in,
                    "Did you edit W_in? W_in holds the keys (what the neurons fire on); the fact's value is "
                    "written by W_out. Change W_out and leave W_in alone."),
            Mistake("no covariance", _wrong_edit_no_cov,
                    "Did you leave out the covariance? With C⁻¹ missing the update also moves every key "
                    "that points like this one in raw coordinates, and many unrelated tokens do: use "
                    "c = torch.linalg.solve(cov, key) and divide by c @ key."),
            Mistake("not normalised", _wrong_edit_unnormalised,
                    "Did you forget to divide by keyᵀ C⁻¹ key? Without it the key's output changes by "
                    "(keyᵀ C⁻¹ key) x delta instead of delta."),
            Mistake("C not inverted", _wrong_edit_cov_not_inverted,
                    "Did you multiply by C instead of solving with it? The update uses C⁻¹ key: "
                    "torch.linalg.solve(cov, key)."),
            Mistake("sign", _wrong_edit_sign, "Did you subtract the update? The key's output must *gain* delta."),
        ],
    ),
]
