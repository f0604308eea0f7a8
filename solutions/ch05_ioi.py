"""Chapter 05, indirect object identification: reference solutions, their hints and the known mistakes.

The references use only ``torch`` (the notebook imports it). The ``_wrong_*`` functions are the
mistakes ``check`` recognises by their output.
"""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "05"
TITLE = "Indirect object identification"


# -- the logit difference ----------------------------------------------------------------------------

def ioi_logit_diff(logits: torch.Tensor, io_tokens: torch.Tensor, s_tokens: torch.Tensor) -> torch.Tensor:
    """How much the model prefers the indirect object over the subject, at the last position,
    averaged over the batch. logits: [batch pos d_vocab]; io_tokens, s_tokens: [batch] -> scalar tensor."""
    last = logits[:, -1]  # [batch d_vocab]
    rows = torch.arange(last.shape[0])
    return (last[rows, io_tokens] - last[rows, s_tokens]).mean()


def _wrong_ld_sign(logits, io_tokens, s_tokens):
    last = logits[:, -1]
    rows = torch.arange(last.shape[0])
    return (last[rows, s_tokens] - last[rows, io_tokens]).mean()


def _wrong_ld_all_positions(logits, io_tokens, s_tokens):
    rows = torch.arange(logits.shape[0])
    return (logits[rows, :, io_tokens] - logits[rows, :, s_tokens]).mean()


def _wrong_ld_first_position(logits, io_tokens, s_tokens):
    first = logits[:, 0]
    rows = torch.arange(first.shape[0])
    return (first[rows, io_tokens] - first[rows, s_tokens]).mean()


def _wrong_ld_sum(logits, io_tokens, s_tokens):
    last = logits[:, -1]
    rows = torch.arange(last.shape[0])
    return (last[rows, io_tokens] - last[rows, s_tokens]).sum()


def _wrong_ld_probs(logits, io_tokens, s_tokens):
    last = logits[:, -1].softmax(-1)
    rows = torch.arange(last.shape[0])
    return (last[rows, io_tokens] - last[rows, s_tokens]).mean()


def _ld_cases():
    g = torch.Generator().manual_seed(5)
    return [
        Case("batch 1, 3 positions, vocab 4", (torch.tensor([[[0.0, 1, 2, 3], [1, 0, 0, 0], [0.5, 2.0, -1.0, 0.0]]]),
                                              torch.tensor([1]), torch.tensor([2]))),
        Case("random, batch 4, 6 positions, vocab 10",
             (torch.randn(4, 6, 10, generator=g), torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8]))),
    ]


# -- direct logit attribution ------------------------------------------------------------------------

def dla_by_component(model, cache, io_tokens: torch.Tensor, s_tokens: torch.Tensor) -> torch.Tensor:
    """Direct logit attribution by component: how much each thing that wrote to the residual stream
    (the token embedding, the positional embedding, then each layer's attention output and MLP
    output, in that order) adds directly to logit[IO] - logit[S] at the last position, averaged
    over the batch. cache: a full cache of the run (cache["hook_embed"], cache["hook_pos_embed"],
    cache[f"blocks.{layer}.hook_attn_out"], cache[f"blocks.{layer}.hook_mlp_out"]: [batch pos d_model];
    cache["ln_final.hook_scale"]: [batch pos 1]). Pass each component through the final LayerNorm
    as a linear map: centre it, divide by the scale the *whole* stream had, multiply by
    model.ln_final.w (the bias belongs to no component). Then project on W_U[:, IO] - W_U[:, S].
    io_tokens, s_tokens: [batch] -> [component] (2 + 2 * n_layers values)."""
    parts = [cache["hook_embed"], cache["hook_pos_embed"]]
    for layer in range(model.cfg.n_layers):
        parts += [cache[f"blocks.{layer}.hook_attn_out"], cache[f"blocks.{layer}.hook_mlp_out"]]
    end = torch.stack(parts)[:, :, -1]  # [component batch d_model], at the last position
    scale = cache["ln_final.hook_scale"][:, -1]  # [batch 1]: the whole stream's scale
    normed = (end - end.mean(-1, keepdim=True)) / scale * model.ln_final.w.detach()
    W_U = model.W_U.detach()
    direction = (W_U[:, io_tokens] - W_U[:, s_tokens]).T  # [batch d_model]
    return (normed * direction).sum(-1).mean(-1)


def _components(model, cache, pos=-1, with_pos_embed=True):
    parts = [cache["hook_embed"]] + ([cache["hook_pos_embed"]] if with_pos_embed else [])
    for layer in range(model.cfg.n_layers):
        parts += [cache[f"blocks.{layer}.hook_attn_out"], cache[f"blocks.{layer}.hook_mlp_out"]]
    return torch.stack(parts)[:, :, pos]


def _direction(model, io_tokens, s_tokens):
    W_U = model.W_U.detach()
    return (W_U[:, io_tokens] - W_U[:, s_tokens]).T


def _frozen_ln(model, cache, end, pos=-1):
    scale = cache["ln_final.hook_scale"][:, pos]
    return (end - end.mean(-1, keepdim=True)) / scale * model.ln_final.w.detach()


def _wrong_dla_no_layernorm(model, cache, io_tokens, s_tokens):
    end = _components(model, cache)
    return (end * _direction(model, io_tokens, s_tokens)).sum(-1).mean(-1)


def _wrong_dla_no_scale(model, cache, io_tokens, s_tokens):
    end = _components(model, cache)
    normed = (end - end.mean(-1, keepdim=True)) * model.ln_final.w.detach()
    return (normed * _direction(model, io_tokens, s_tokens)).sum(-1).mean(-1)


def _wrong_dla_no_centre(model, cache, io_tokens, s_tokens):
    end = _components(model, cache)
    normed = end / cache["ln_final.hook_scale"][:, -1] * model.ln_final.w.detach()
    return (normed * _direction(model, io_tokens, s_tokens)).sum(-1).mean(-1)


def _wrong_dla_own_layernorm(model, cache, io_tokens, s_tokens):
    end = _components(model, cache)
    with torch.no_grad():
        normed = torch.nn.functional.layer_norm(end, end.shape[-1:], model.ln_final.w, model.ln_final.b,
                                                model.cfg.ln_eps)
    return (normed * _direction(model, io_tokens, s_tokens)).sum(-1).mean(-1)


def _wrong_dla_first_position(model, cache, io_tokens, s_tokens):
    end = _frozen_ln(model, cache, _components(model, cache, pos=0), pos=0)
    return (end * _direction(model, io_tokens, s_tokens)).sum(-1).mean(-1)


def _wrong_dla_io_only(model, cache, io_tokens, s_tokens):
    end = _frozen_ln(model, cache, _components(model, cache))
    return (end * model.W_U.detach()[:, io_tokens].T).sum(-1).mean(-1)


def _wrong_dla_no_pos_embed(model, cache, io_tokens, s_tokens):
    end = _frozen_ln(model, cache, _components(model, cache, with_pos_embed=False))
    return (end * _direction(model, io_tokens, s_tokens)).sum(-1).mean(-1)


def _small_model(seed: int = 0, n_layers: int = 2):
    """A small random model with large weights and LayerNorm weights away from 1, so that every
    step of the methods below changes the answer."""
    from course.config import ModelConfig
    from course.model import HookedTransformer

    cfg = ModelConfig(n_layers=n_layers, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=23, n_ctx=32,
                      init_std=0.4)
    model = HookedTransformer(cfg).eval()
    model.init_weights(seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".w") and p.ndim == 1:  # LayerNorm weights
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=g))
            elif name.endswith(".b") and p.ndim == 1:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return model


def _dla_cases():
    model = _small_model(seed=1)
    g = torch.Generator().manual_seed(6)
    out = []
    for label, batch, pos in (("batch 3, 6 positions", 3, 6), ("batch 5, 9 positions", 5, 9)):
        tokens = torch.randint(0, 23, (batch, pos), generator=g)
        _, cache = model.run_with_cache(tokens)
        io, s = torch.randint(0, 23, (batch,), generator=g), torch.randint(0, 23, (batch,), generator=g)
        out.append(Case(f"a random 2-layer model's cache, {label}", (model, cache, io, s)))
    return out


# -- activation patching ------------------------------------------------------------------------------

def patch_position(corrupted_act: torch.Tensor, clean_act: torch.Tensor, pos: int) -> torch.Tensor:
    """The body of an activation-patching hook: the corrupted activation with position ``pos`` taken
    from the clean run. Both: [batch pos ...] -> same shape. Do not modify the inputs in place."""
    patched = corrupted_act.clone()
    patched[:, pos] = clean_act[:, pos]
    return patched


def _wrong_patch_all(corrupted_act, clean_act, pos):
    return clean_act.clone()


def _wrong_patch_batch_axis(corrupted_act, clean_act, pos):
    patched = corrupted_act.clone()
    patched[pos] = clean_act[pos]
    return patched


def _wrong_patch_from_pos(corrupted_act, clean_act, pos):
    patched = corrupted_act.clone()
    patched[:, pos:] = clean_act[:, pos:]
    return patched


def _wrong_patch_off_by_one(corrupted_act, clean_act, pos):
    patched = corrupted_act.clone()
    patched[:, pos - 1] = clean_act[:, pos - 1]
    return patched


def _patch_cases():
    g = torch.Generator().manual_seed(7)
    return [
        Case("batch 3, 5 positions, d_model 3, pos 2", (torch.zeros(3, 5, 3), torch.ones(3, 5, 3), 2)),
        Case("random, batch 3, 6 positions, 2 heads x 4, pos 4",
             (torch.randn(3, 6, 2, 4, generator=g), torch.randn(3, 6, 2, 4, generator=g), 4)),
        Case("pos 0", (torch.randn(3, 4, 2, generator=g), torch.randn(3, 4, 2, generator=g), 0)),
    ]


def restored_fraction(patched: torch.Tensor, clean: float, corrupted: float) -> torch.Tensor:
    """Normalise a patched metric: 0 where it equals the corrupted run's, 1 where it equals the clean run's.
    patched: any shape of metric values; clean, corrupted: the two runs' values -> same shape as patched."""
    return (patched - corrupted) / (clean - corrupted)


def _wrong_fraction_clean_origin(patched, clean, corrupted):
    return (patched - clean) / (clean - corrupted)


def _wrong_fraction_ratio(patched, clean, corrupted):
    return patched / clean


def _wrong_fraction_flipped(patched, clean, corrupted):
    return (patched - corrupted) / (corrupted - clean)


def _fraction_cases():
    g = torch.Generator().manual_seed(8)
    return [
        Case("clean 4, corrupted -2", (torch.tensor([-2.0, 1.0, 4.0, 5.0]), 4.0, -2.0)),
        Case("a [layer pos] grid", (torch.randn(3, 5, generator=g), 3.2, 0.4)),
    ]


# -- activation patching over layers and positions --------------------------------------------------

def activation_patching_grid(model, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor, metric) -> torch.Tensor:
    """Activation patching of the residual stream: for every layer and every position, run the model
    on the corrupted tokens with the residual stream *before* that layer
    (f"blocks.{layer}.hook_resid_pre", [batch pos d_model]) at that one position replaced by its
    value on the clean tokens, and record metric(logits) of that run (a number).
    clean_tokens, corrupted_tokens: [batch pos] -> [layer pos]."""
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(clean_tokens, names_filter=names)
    grid = torch.zeros(model.cfg.n_layers, clean_tokens.shape[1])
    with torch.no_grad():
        for layer, name in enumerate(names):
            for pos in range(clean_tokens.shape[1]):
                def patch(act, hook):
                    act = act.clone()
                    act[:, pos] = clean_cache[name][:, pos]
                    return act

                grid[layer, pos] = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, patch)]))
    return grid


def _grid(model, run_tokens, cache_tokens, metric, hook="resid_pre", from_pos_on=False):
    names = [f"blocks.{layer}.hook_{hook}" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(cache_tokens, names_filter=names)
    grid = torch.zeros(model.cfg.n_layers, run_tokens.shape[1])
    with torch.no_grad():
        for layer, name in enumerate(names):
            for pos in range(run_tokens.shape[1]):
                def patch(act, hook):
                    act = act.clone()
                    where = slice(pos, None) if from_pos_on else pos
                    act[:, where] = cache[name][:, where]
                    return act

                grid[layer, pos] = metric(model.run_with_hooks(run_tokens, fwd_hooks=[(name, patch)]))
    return grid


def _wrong_grid_reversed(model, clean_tokens, corrupted_tokens, metric):
    return _grid(model, clean_tokens, corrupted_tokens, metric)


def _wrong_grid_same_run(model, clean_tokens, corrupted_tokens, metric):
    return _grid(model, corrupted_tokens, corrupted_tokens, metric)


def _wrong_grid_resid_post(model, clean_tokens, corrupted_tokens, metric):
    return _grid(model, corrupted_tokens, clean_tokens, metric, hook="resid_post")


def _wrong_grid_from_pos_on(model, clean_tokens, corrupted_tokens, metric):
    return _grid(model, corrupted_tokens, clean_tokens, metric, from_pos_on=True)


def _two_runs(seed, batch, n_pos, changed):
    """Clean tokens and a corrupted copy that differs at the positions ``changed``."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, 23, (batch, n_pos), generator=g)
    corrupted = clean.clone()
    for pos in changed:
        corrupted[:, pos] = (clean[:, pos] + 1 + torch.randint(0, 21, (batch,), generator=g)) % 23
    return clean, corrupted


def _last_logit_diff(logits):
    """The metric of the small cases: logit[3] - logit[5] at the last position, batch mean."""
    return (logits[:, -1, 3] - logits[:, -1, 5]).mean()


def _grid_cases():
    model = _small_model(seed=2)
    return [
        Case("random 2-layer model, batch 3, 5 positions, the corruption at position 1",
             (model, *_two_runs(9, 3, 5, [1]), _last_logit_diff)),
        Case("random 2-layer model, batch 2, 6 positions, corrupted at positions 2 and 4",
             (model, *_two_runs(10, 2, 6, [2, 4]), _last_logit_diff)),
    ]


# -- path patching to one head's queries, keys or values ---------------------------------------------

def path_patch_head(model, target_tokens: torch.Tensor, source_tokens: torch.Tensor, sender: tuple, receiver: tuple,
                    metric) -> torch.Tensor:
    """Path patching from one sender head to one input of one receiver head.
    sender: (layer, head); receiver: (layer, head, kind), kind "q", "k" or "v", in a later layer.
    1. Cache every head's output z (f"blocks.{layer}.attn.hook_z", [batch pos head_index d_head]) on
       the target run and on the source run.
    2. Run on the target tokens with every head's z frozen to its target value, except the
       sender's, which takes its source value (MLPs are recomputed). Cache the receiver's input
       f"blocks.{layer}.attn.hook_{kind}" ([batch pos head_index d_head]).
    3. Run on the target tokens again, replacing only the receiver head's slice of that input by
       the value cached in step 2. Return metric(logits) of this run."""
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    _, target = model.run_with_cache(target_tokens, names_filter=z_names)
    _, source = model.run_with_cache(source_tokens, names_filter=z_names)
    s_layer, s_head = sender
    r_layer, r_head, kind = receiver
    r_name = f"blocks.{r_layer}.attn.hook_{kind}"

    def freeze_but_send(z, hook):
        z = target[hook.name].clone()  # every head frozen to its target value ...
        if hook.name == z_names[s_layer]:
            z[:, :, s_head] = source[hook.name][:, :, s_head]  # ... except the sender
        return z

    with torch.no_grad():
        with model.hooks([(name, freeze_but_send) for name in z_names]):
            _, sent = model.run_with_cache(target_tokens, names_filter=r_name)

        def receive(act, hook):
            act = act.clone()
            act[:, :, r_head] = sent[r_name][:, :, r_head]  # only the receiver head's input
            return act

        return metric(model.run_with_hooks(target_tokens, fwd_hooks=[(r_name, receive)]))


def _path(model, target_tokens, source_tokens, sender, receiver, metric, freeze=True, send=True,
          whole_layer=False, head_axis=2, direct=False):
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    _, target = model.run_with_cache(target_tokens, names_filter=z_names)
    _, source = model.run_with_cache(source_tokens, names_filter=z_names)
    (s_layer, s_head), (r_layer, r_head, kind) = sender, receiver
    r_name = f"blocks.{r_layer}.attn.hook_{kind}"

    def hook_z(z, hook):
        z = (target[hook.name] if freeze else z).clone()
        if send and hook.name == z_names[s_layer]:
            z[:, :, s_head] = source[hook.name][:, :, s_head]
        return z

    with torch.no_grad():
        if direct:  # the receiver's input taken from the source run, whatever the sender did
            _, sent = model.run_with_cache(source_tokens, names_filter=r_name)
        else:
            with model.hooks([(name, hook_z) for name in z_names]):
                _, sent = model.run_with_cache(target_tokens, names_filter=r_name)

        def receive(act, hook):
            act = act.clone()
            if whole_layer:
                return sent[r_name].clone()
            index = [slice(None)] * act.ndim
            index[head_axis] = r_head
            act[tuple(index)] = sent[r_name][tuple(index)]
            return act

        return metric(model.run_with_hooks(target_tokens, fwd_hooks=[(r_name, receive)]))


def _wrong_path_nothing_frozen(model, target_tokens, source_tokens, sender, receiver, metric):
    return _path(model, target_tokens, source_tokens, sender, receiver, metric, freeze=False)


def _wrong_path_never_sent(model, target_tokens, source_tokens, sender, receiver, metric):
    return _path(model, target_tokens, source_tokens, sender, receiver, metric, send=False)


def _wrong_path_whole_layer(model, target_tokens, source_tokens, sender, receiver, metric):
    return _path(model, target_tokens, source_tokens, sender, receiver, metric, whole_layer=True)


def _wrong_path_position_axis(model, target_tokens, source_tokens, sender, receiver, metric):
    return _path(model, target_tokens, source_tokens, sender, receiver, metric, head_axis=1)


def _wrong_path_receiver_from_source(model, target_tokens, source_tokens, sender, receiver, metric):
    return _path(model, target_tokens, source_tokens, sender, receiver, metric, direct=True)


def _path_cases():
    model = _small_model(seed=3, n_layers=3)
    target, source = _two_runs(11, 3, 6, [1, 3])
    return [
        Case("random 3-layer model, sender L0H2 -> receiver L2H3's keys",
             (model, target, source, (0, 2), (2, 3, "k"), _last_logit_diff)),
        Case("sender L0H1 -> receiver L2H0's queries", (model, target, source, (0, 1), (2, 0, "q"), _last_logit_diff)),
        Case("sender L1H0 -> receiver L2H1's values", (model, target, source, (1, 0), (2, 1, "v"), _last_logit_diff)),
    ]


EXERCISES = [
    Exercise(
        "ioi_logit_diff", CHAPTER, ioi_logit_diff, _ld_cases,
        hints=["Only the last position predicts the name: take logits[:, -1], one row of d_vocab per prompt.",
               "Pick each row's IO and S logits with advanced indexing (rows = torch.arange(batch)), subtract, "
               "then average over the batch."],
        mistakes=[
            Mistake("sign", _wrong_ld_sign, "Did you subtract the wrong way round? It is logit[IO] minus logit[S]: "
                                            "positive when the model gets it right."),
            Mistake("all positions", _wrong_ld_all_positions,
                    "Did you average over every position? Only the last position predicts the indirect object."),
            Mistake("first position", _wrong_ld_first_position,
                    "Did you read position 0? The prediction is at the last position, index -1."),
            Mistake("sum", _wrong_ld_sum, "Did you sum over the batch? Take the mean, so the number does not "
                                          "depend on how many prompts you used."),
            Mistake("probabilities", _wrong_ld_probs,
                    "Did you apply a softmax? The logit difference is on logits: it is also the log of the "
                    "ratio of the two probabilities."),
        ],
    ),
    Exercise(
        "dla_by_component", CHAPTER, dla_by_component, _dla_cases,
        hints=["Stack the components at the last position into [component batch d_model]: embed, pos_embed, then "
               "attn_out and mlp_out of each layer.",
               "The final LayerNorm as a linear map: (x - x.mean(-1, keepdim=True)) / scale * model.ln_final.w, with "
               "the scale of the whole stream, cache['ln_final.hook_scale'][:, -1]. Then the dot product with "
               "W_U[:, IO] - W_U[:, S] per prompt, summed over d_model and averaged over the batch."],
        mistakes=[
            Mistake("no layernorm", _wrong_dla_no_layernorm,
                    "Did you project the raw components? The final LayerNorm stands between the stream and W_U: "
                    "centre each component, divide by the stream's scale, multiply by ln_final.w."),
            Mistake("no scale", _wrong_dla_no_scale,
                    "Did you leave out the division by the scale? LayerNorm divides the whole stream by one number "
                    "per prompt, cache['ln_final.hook_scale'][:, -1], and so every component."),
            Mistake("no centring", _wrong_dla_no_centre,
                    "Did you forget to centre? LayerNorm subtracts the mean over d_model first, and because that is "
                    "linear, each component loses its own mean."),
            Mistake("own layernorm", _wrong_dla_own_layernorm,
                    "Did you apply the real LayerNorm to each component on its own? Each would get its own scale and "
                    "the bias, and the parts would no longer add up: divide every component by the scale of the "
                    "whole stream, and leave the bias out."),
            Mistake("first position", _wrong_dla_first_position,
                    "Did you read position 0? The prediction is made at the last position, index -1."),
            Mistake("io only", _wrong_dla_io_only, "Did you project on W_U[:, IO] alone? The metric is a difference: "
                                                   "project on W_U[:, IO] - W_U[:, S]."),
            Mistake("no pos_embed", _wrong_dla_no_pos_embed,
                    "Did you leave out the positional embedding? The stream starts as hook_embed + hook_pos_embed: "
                    "both are components, in that order, before layer 0's attention."),
        ],
    ),
    Exercise(
        "patch_position", CHAPTER, patch_position, _patch_cases,
        hints=["Copy the corrupted activation (clone), then overwrite one position with the clean values.",
               "Position is the second axis: patched[:, pos] = clean_act[:, pos]."],
        mistakes=[
            Mistake("everything", _wrong_patch_all, "Did you return the whole clean activation? Patch one position "
                                                    "only, so you learn where the information is."),
            Mistake("batch axis", _wrong_patch_batch_axis,
                    "Did you index the batch axis? Position is axis 1: act[:, pos]."),
            Mistake("from pos on", _wrong_patch_from_pos, "Did you patch every position from pos onwards? Patch "
                                                          "exactly one position: act[:, pos], not act[:, pos:]."),
            Mistake("off by one", _wrong_patch_off_by_one, "Off by one: patch position pos itself, not pos - 1."),
        ],
    ),
    Exercise(
        "restored_fraction", CHAPTER, restored_fraction, _fraction_cases,
        hints=["Map the corrupted value to 0 and the clean value to 1 with a straight line.",
               "(patched - corrupted) / (clean - corrupted)."],
        mistakes=[
            Mistake("clean origin", _wrong_fraction_clean_origin,
                    "Did you measure from the clean value? The corrupted run is the 0 of the scale: subtract "
                    "the corrupted value."),
            Mistake("ratio", _wrong_fraction_ratio, "Did you divide by the clean value alone? Subtract the corrupted "
                                                    "value first, or a corrupted run would not score 0."),
            Mistake("flipped", _wrong_fraction_flipped, "Is the denominator corrupted - clean? It is clean - corrupted, "
                                                        "so full restoration scores +1."),
        ],
    ),
    Exercise(
        "activation_patching_grid", CHAPTER, activation_patching_grid, _grid_cases,
        hints=["Cache the clean run's resid_pre of every layer once. Then two loops (layer, position); in each, "
               "run the corrupted tokens with one hook on that layer's resid_pre.",
               "The hook is your patch_position: clone the activation, copy in the clean values at [:, pos], "
               "return it. model.run_with_hooks(corrupted_tokens, fwd_hooks=[(name, hook)]) gives the logits; "
               "store metric(logits) at grid[layer, pos]."],
        mistakes=[
            Mistake("reversed", _wrong_grid_reversed,
                    "Did you run the clean tokens and patch in corrupted activations? That is *noising*, a "
                    "different question: here run the corrupted tokens and restore one clean activation."),
            Mistake("same run", _wrong_grid_same_run,
                    "Did you cache the corrupted run? The patched-in values must come from the clean run; patching "
                    "a run with its own activations changes nothing."),
            Mistake("resid_post", _wrong_grid_resid_post,
                    "Did you patch hook_resid_post? Row `layer` patches the stream *before* that layer, "
                    "blocks.{layer}.hook_resid_pre (so row 0 patches the embeddings)."),
            Mistake("from pos on", _wrong_grid_from_pos_on,
                    "Did you patch every position from pos onwards? Patch exactly one position: act[:, pos]."),
        ],
    ),
    Exercise(
        "path_patch_head", CHAPTER, path_patch_head, _path_cases,
        hints=["Three runs on the target tokens' model, after caching hook_z of every layer on the target and the "
               "source. Run 2 hooks *every* hook_z: return the target's z, with the sender's head slice from the "
               "source; cache the receiver's hook_q / hook_k / hook_v there.",
               "Use `with model.hooks([(name, freeze_but_send) for name in z_names]):` around a "
               "model.run_with_cache(target_tokens, names_filter=receiver_name). Run 3 hooks only the receiver's "
               "input and replaces act[:, :, head] (head is axis 2) by what run 2 cached."],
        mistakes=[
            Mistake("nothing frozen", _wrong_path_nothing_frozen,
                    "Did you patch the sender without freezing the other heads? Then the sender's change also "
                    "reaches the receiver through heads in between: that is activation patching of the sender. "
                    "Freeze every other head's z to its target value in run 2."),
            Mistake("never sent", _wrong_path_never_sent,
                    "Does your run 2 give the sender its source value? With every head frozen to the target, "
                    "nothing changes and the metric equals the target run's."),
            Mistake("whole layer", _wrong_path_whole_layer,
                    "Did you replace the input of every head in the receiver's layer? Replace only the receiver "
                    "head's slice, act[:, :, head]."),
            Mistake("position axis", _wrong_path_position_axis,
                    "Did you index act[:, head]? hook_q/k/v are [batch pos head_index d_head]: the head is axis 2, "
                    "act[:, :, head]."),
            Mistake("receiver from source", _wrong_path_receiver_from_source,
                    "Did you take the receiver's input straight from the source run? That lets every path from the "
                    "source change reach it, not only the sender's: compute it in run 2, with the sender patched "
                    "and the rest frozen."),
        ],
    ),
]


# -- worked answers to the open-ended exercises ------------------------------------------------------

@torch.no_grad()
def worked_held_out_frames(model) -> list[dict]:
    """Open question: does the copy-suppression head explain the sentence structures the model
    never saw? Worked answer: for each held-out structure that makes a batch of one token length,
    measure the logit difference, the accuracy, where L2H0 looks from END (the subject of the last
    clause, S2?), what L2H0 writes directly and what the MLP of layer 3 writes directly. Sort by
    logit difference and compare the columns. On the shipped model the worst structure ("It rained,
    so A and B stayed inside. S read the newspaper to") is the one where L2H0 finds S2 least (six
    tenths of its attention, more than nine tenths elsewhere), and there the MLP of layer 3 writes
    *against* IO; in the next ("The teacher asked A and B to share a desk. S lent a pencil to") L2H0
    finds S2 and writes for IO as much as anywhere, yet the MLP adds almost nothing (0.6 against
    L2H0's 6.3); in the three the model always gets right, the MLP writes more than L2H0 itself."""
    from course import attribution, evalsets, ioi, metrics

    rows = []
    for template, frame in enumerate(evalsets.IOI_HELD_OUT_FRAMES):
        if frame.startswith("{"):
            continue  # a name at the very start has no leading space: several tokens (see ioi.ioi_batch)
        batch = ioi.ioi_batch(model, n=40, seed=0, frames="held_out", template=template)
        logits, cache = model.run_with_cache(batch.clean)
        per_prompt = metrics.logit_diff(logits, batch.io, batch.s, per_prompt=True)
        prompts = torch.arange(len(batch.items))
        to_s2 = cache["pattern", 2][prompts, :, -1, batch.positions["S2"]].mean(0)  # [head_index]
        dla = attribution.dla_by_head(model, cache, batch.io, batch.s)
        components, labels = attribution.dla_by_component(model, cache, batch.io, batch.s)
        rows.append({"frame": frame, "prompts": len(batch.items), "logit_diff": per_prompt.mean().item(),
                     "accuracy": (per_prompt > 0).float().mean().item(), "L2H0 END->S2": to_s2[0].item(),
                     "L2H0 direct": dla[2, 0].item(), "MLP3 direct": components[labels.index("3_mlp_out")].item()})
    return sorted(rows, key=lambda r: r["logit_diff"])


@torch.no_grad()
def worked_mlp_shares(model, batch) -> dict[str, dict[str, float]]:
    """Open question: the MLP of layer 3 writes half of the logit difference directly. Is that its
    own doing, or the copy-suppression head's? Worked answer: rerun the clean prompts with the
    output (z) of L2H0 taken from the ABC run (S2 replaced by a third name, so it suppresses that
    name instead), and compare every component's direct logit attribution with the clean run's. On
    the shipped model the MLP's share goes from +6.6 to +0.6: it turns what L2H0 writes into
    logits, and writes little for IO without it (the MLP of layer 2 likewise, +1.5 to -0.1)."""
    from course import attribution

    _, abc_cache = model.run_with_cache(batch.abc, names_filter="blocks.2.attn.hook_z")

    def abc_head(z, hook):
        z = z.clone()
        z[:, :, 0] = abc_cache["blocks.2.attn.hook_z"][:, :, 0]
        return z

    _, clean_cache = model.run_with_cache(batch.clean)
    with model.hooks([("blocks.2.attn.hook_z", abc_head)]):
        _, patched_cache = model.run_with_cache(batch.clean)
    clean, labels = attribution.dla_by_component(model, clean_cache, batch.io, batch.s)
    patched, _ = attribution.dla_by_component(model, patched_cache, batch.io, batch.s)
    return {label: {"clean": c, "L2H0 from ABC": p}
            for label, c, p in zip(labels, clean.tolist(), patched.tolist())}


@torch.no_grad()
def worked_early_heads(model, batch) -> dict[str, float]:
    """Open question: do the heads other than L2H0 matter for IOI? Worked answer: mean-ablate them
    (replace their z by its mean over the batch, position by position) and measure the logit
    difference: each head alone (among them L1H3, L2H1 and L3H2, the heads the rules of section 4
    named), all eight heads of layers 0 and 1 together, and L2H0 with L1H2. Every prompt of the
    batch has the same structure, so the mean keeps what is the same across prompts (where S2
    sits) and removes only which names are where. On the shipped model L1H3 and L2H1 cost little or
    nothing; the heads that cost most after L2H0 are L3H2 (17%), L2H2 (15%) and L1H2 (13%). L2H2
    from END looks at the second name of the opening, whoever it is, and writes nothing for IO
    directly: what it writes is read later, by the MLP of layer 3. All eight heads of layers 0 and 1 together
    cost under a tenth, L2H0 alone more than four fifths, L2H0 with L1H2 nearly everything."""
    from course import metrics

    _, cache = model.run_with_cache(batch.clean, names_filter=lambda n: n.endswith("attn.hook_z"))

    def ablated(heads):
        def hook(z, hook):
            layer = int(hook.name.split(".")[1])
            z = z.clone()
            for l, h in heads:
                if l == layer:
                    z[:, :, h] = cache[hook.name][:, :, h].mean(0)
            return z

        logits = model.run_with_hooks(batch.clean, fwd_hooks=[(lambda n: n.endswith("attn.hook_z"), hook)])
        return metrics.logit_diff(logits, batch.io, batch.s).item()

    heads = [(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)]
    out = {"clean": ablated([])}
    out.update({f"L{layer}H{head} ablated": ablated([(layer, head)]) for layer, head in heads})
    out.update({"all heads of layers 0-1 ablated": ablated([(layer, head) for layer, head in heads if layer < 2]),
                "L1H2 and L2H0 ablated": ablated([(1, 2), (2, 0)])})
    return out


WORKED = {"held_out_frames": worked_held_out_frames, "mlp_shares": worked_mlp_shares,
          "early_heads": worked_early_heads}
