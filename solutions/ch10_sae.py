"""Chapter 10, sparse autoencoders: reference solutions and the mistakes each check recognises.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; the ``_wrong_*`` functions are the mistakes
``check`` names. Conventions (as in ``course/sae.py``, which holds the reusable SAE): x is
``[batch d_in]``, ``W_enc [d_in d_sae]``, ``W_dec [d_sae d_in]`` whose rows are the feature
directions, features f ``[batch d_sae]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "10"
TITLE = "Sparse autoencoders and steering"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _weights(d_in=6, d_sae=10, seed=0):
    g = _gen(seed)
    W_enc = torch.randn(d_in, d_sae, generator=g) / d_in**0.5
    W_dec = torch.randn(d_sae, d_in, generator=g)
    b_enc = torch.randn(d_sae, generator=g) * 0.1
    b_dec = torch.randn(d_in, generator=g) * 0.5
    return W_enc, b_enc, W_dec, b_dec


# -- encoder ----------------------------------------------------------------------------------

def sae_encode(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, b_dec: torch.Tensor) -> torch.Tensor:
    """The ReLU SAE's features f = ReLU((x - b_dec) @ W_enc + b_enc).
    x: [batch d_in], W_enc: [d_in d_sae], b_enc: [d_sae], b_dec: [d_in]. Returns [batch d_sae]."""
    return F.relu((x - b_dec) @ W_enc + b_enc)


def _wrong_encode_no_centring(x, W_enc, b_enc, b_dec):
    return F.relu(x @ W_enc + b_enc)


def _wrong_encode_no_relu(x, W_enc, b_enc, b_dec):
    return (x - b_dec) @ W_enc + b_enc


def _wrong_encode_add_b_dec(x, W_enc, b_enc, b_dec):
    return F.relu((x + b_dec) @ W_enc + b_enc)


def _encode_cases():
    W_enc, b_enc, W_dec, b_dec = _weights()
    return [Case("batch of 4", (torch.randn(4, 6, generator=_gen(1)), W_enc, b_enc, b_dec)),
            Case("x equal to b_dec", (b_dec[None].clone(), W_enc, b_enc, b_dec))]


# -- top-k ------------------------------------------------------------------------------------

def topk_activation(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k activation: keep the k largest entries of ReLU(pre) in each row and set the rest to 0.
    pre: [batch d_sae] pre-activations. Returns [batch d_sae]."""
    acts = F.relu(pre)
    values, index = acts.topk(k, dim=-1)
    return torch.zeros_like(acts).scatter(-1, index, values)


def _wrong_topk_of_abs(pre, k):
    values, index = pre.abs().topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, index, pre.gather(-1, index).relu())


def _wrong_topk_no_relu(pre, k):
    values, index = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, index, values)


def _wrong_topk_over_batch(pre, k):
    values, index = F.relu(pre).topk(min(k, pre.shape[0]), dim=0)
    return torch.zeros_like(pre).scatter(0, index, values)


def _topk_cases():
    pre = torch.randn(5, 12, generator=_gen(2))
    return [Case("k = 3", (pre, 3)),
            Case("mostly negative, k = 4", (pre - 1.5, 4)),
            Case("one row, k = 1", (torch.tensor([[0.5, -3.0, 2.0, 1.0]]), 1))]


# -- the loss ---------------------------------------------------------------------------------

def sae_loss(x: torch.Tensor, x_hat: torch.Tensor, f: torch.Tensor, W_dec: torch.Tensor,
             l1_coefficient: float) -> torch.Tensor:
    """Reconstruction + sparsity: the squared error ||x - x_hat||^2 summed over d_in, plus
    l1_coefficient * sum_i f_i ||W_dec[i]|| (the L1 norm of the features, each weighted by its
    decoder row's norm), both averaged over the batch. Returns a scalar tensor."""
    reconstruction = (x - x_hat).pow(2).sum(-1).mean()
    sparsity = (f * W_dec.norm(dim=-1)).sum(-1).mean()
    return reconstruction + l1_coefficient * sparsity


def _wrong_loss_no_decoder_norm(x, x_hat, f, W_dec, l1_coefficient):
    return (x - x_hat).pow(2).sum(-1).mean() + l1_coefficient * f.abs().sum(-1).mean()


def _wrong_loss_mean_everywhere(x, x_hat, f, W_dec, l1_coefficient):
    return (x - x_hat).pow(2).mean() + l1_coefficient * (f * W_dec.norm(dim=-1)).mean()


def _wrong_loss_l2_penalty(x, x_hat, f, W_dec, l1_coefficient):
    return (x - x_hat).pow(2).sum(-1).mean() + l1_coefficient * (f * W_dec.norm(dim=-1)).pow(2).sum(-1).mean()


def _loss_cases():
    W_enc, b_enc, W_dec, b_dec = _weights(seed=3)
    x = torch.randn(4, 6, generator=_gen(4))
    f = F.relu((x - b_dec) @ W_enc + b_enc)
    return [Case("a random SAE", (x, f @ W_dec + b_dec, f, W_dec, 0.1)),
            Case("decoder rows of norm 2, coefficient 1", (x, f @ W_dec + b_dec, f, 2 * W_dec / W_dec.norm(dim=-1, keepdim=True), 1.0))]


# -- metrics ----------------------------------------------------------------------------------

def l0_norm(f: torch.Tensor) -> torch.Tensor:
    """L0: the number of non-zero features per token, averaged over tokens. f: [batch d_sae] -> scalar."""
    return (f != 0).float().sum(-1).mean()


def _wrong_l0_fraction(f):
    return (f != 0).float().mean()


def _wrong_l0_is_l1(f):
    return f.abs().sum(-1).mean()


def _wrong_l0_total(f):
    return (f != 0).float().sum()


def _l0_cases():
    f = F.relu(torch.randn(6, 20, generator=_gen(5)) - 1)
    return [Case("sparse features", (f,)), Case("one token", (torch.tensor([[0.0, 2.0, 0.0, 0.5]]),))]


def variance_explained(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of variance explained: 1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2, where
    mean(x) is the mean over the batch (one vector). x, x_hat: [batch d_in] -> scalar."""
    return 1 - (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()


def _wrong_variance_not_centred(x, x_hat):
    return 1 - (x - x_hat).pow(2).sum() / x.pow(2).sum()


def _wrong_variance_unexplained(x, x_hat):
    return (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()


def _wrong_variance_per_token(x, x_hat):
    return (1 - (x - x_hat).pow(2).sum(-1) / (x - x.mean(0)).pow(2).sum(-1)).mean()


def _variance_cases():
    g = _gen(6)
    x = torch.randn(8, 5, generator=g) + 3.0
    return [Case("a noisy reconstruction of off-centre data", (x, x + 0.3 * torch.randn(8, 5, generator=g))),
            Case("reconstruction = the mean", (x, x.mean(0).expand(8, 5).clone()))]


def ce_loss_recovered(loss_clean: float, loss_spliced: float, loss_zero: float) -> float:
    """Share of the loss the SAE recovers: (loss_zero - loss_spliced) / (loss_zero - loss_clean).
    1 means splicing in the SAE costs nothing; 0 means it is as bad as zeroing the activation."""
    return (loss_zero - loss_spliced) / (loss_zero - loss_clean)


def _wrong_recovered_is_lost(loss_clean, loss_spliced, loss_zero):
    return (loss_spliced - loss_clean) / (loss_zero - loss_clean)


def _wrong_recovered_ratio(loss_clean, loss_spliced, loss_zero):
    return loss_clean / loss_spliced


def _wrong_recovered_no_clean(loss_clean, loss_spliced, loss_zero):
    return (loss_zero - loss_spliced) / loss_zero


def _recovered_cases():
    return [Case("a good SAE", (1.5, 1.7, 6.0)), Case("a poor SAE", (2.0, 4.0, 5.0))]


# -- the decoder constraint ---------------------------------------------------------------------

def normalize_decoder(W_dec: torch.Tensor) -> torch.Tensor:
    """Return W_dec with every row (one feature's direction) scaled to unit norm. W_dec: [d_sae d_in]."""
    return W_dec / W_dec.norm(dim=-1, keepdim=True)


def _wrong_normalize_columns(W_dec):
    return W_dec / W_dec.norm(dim=0, keepdim=True)


def _wrong_normalize_whole(W_dec):
    return W_dec / W_dec.norm()


def _normalize_cases():
    return [Case("10 features in 6 dims", (torch.randn(10, 6, generator=_gen(7)),)),
            Case("already unit rows", (torch.eye(3),))]



# -- one training step ---------------------------------------------------------------------------

def _unit_rows(W):
    return W / W.norm(dim=-1, keepdim=True)


def sae_training_step(params: dict, x: torch.Tensor, k: int, lr: float) -> dict:
    """One step of gradient descent on a top-k SAE, as course.sae.train_sae takes it (with plain
    SGD in place of Adam). params: {"W_enc": [d_in d_sae], "b_enc": [d_sae], "W_dec": [d_sae d_in]
    (unit rows), "b_dec": [d_in]}; x: [batch d_in].
    1. The loss is the fraction of variance unexplained: sum of ||x - x_hat||^2 over the batch
       divided by the sum of ||x - mean(x)||^2 (mean over the batch), where
       f = top-k of ReLU((x - b_dec) @ W_enc + b_enc) per token and x_hat = f @ W_dec + b_dec.
    2. Its gradient with respect to the four parameters (torch.autograd.grad).
    3. From each row of W_dec's gradient, remove its component along that row of W_dec: that part
       would only change the row's norm, which step 5 undoes.
    4. Update: p <- p - lr * gradient, for every parameter.
    5. Scale each row of the new W_dec back to unit norm.
    Return {"W_enc", "b_enc", "W_dec", "b_dec": the new parameters (no gradient), "loss": the loss
    of step 1 (a scalar tensor, before the update)}."""
    p = {name: params[name].detach().clone().requires_grad_(True) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    acts = F.relu((x - p["b_dec"]) @ p["W_enc"] + p["b_enc"])  # [batch d_sae]
    values, index = acts.topk(k, dim=-1)
    f = torch.zeros_like(acts).scatter(-1, index, values)
    x_hat = f @ p["W_dec"] + p["b_dec"]
    loss = (x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    grads = dict(zip(p, torch.autograd.grad(loss, list(p.values()))))
    W_dec = p["W_dec"].detach()
    grads["W_dec"] = grads["W_dec"] - (grads["W_dec"] * W_dec).sum(-1, keepdim=True) * W_dec
    new = {name: (p[name] - lr * grads[name]).detach() for name in p}
    new["W_dec"] = new["W_dec"] / new["W_dec"].norm(dim=-1, keepdim=True)
    new["loss"] = loss.detach()
    return new


def _step(params, x, k, lr, centre=True, topk_dim=-1, fvu=True, remove_parallel=True, renormalise="rows",
          sign=1.0):
    p = {name: params[name].detach().clone().requires_grad_(True) for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    acts = F.relu(((x - p["b_dec"]) if centre else x) @ p["W_enc"] + p["b_enc"])
    values, index = acts.topk(min(k, acts.shape[topk_dim]), dim=topk_dim)
    f = torch.zeros_like(acts).scatter(topk_dim, index, values)
    x_hat = f @ p["W_dec"] + p["b_dec"]
    loss = (x - x_hat).pow(2).sum() / ((x - x.mean(0)).pow(2).sum() if fvu else x.shape[0])
    grads = dict(zip(p, torch.autograd.grad(loss, list(p.values()))))
    if remove_parallel:
        W_dec = p["W_dec"].detach()
        grads["W_dec"] = grads["W_dec"] - (grads["W_dec"] * W_dec).sum(-1, keepdim=True) * W_dec
    new = {name: (p[name] - sign * lr * grads[name]).detach() for name in p}
    if renormalise == "rows":
        new["W_dec"] = new["W_dec"] / new["W_dec"].norm(dim=-1, keepdim=True)
    elif renormalise == "columns":
        new["W_dec"] = new["W_dec"] / new["W_dec"].norm(dim=0, keepdim=True)
    new["loss"] = loss.detach()
    return new


def _wrong_step_no_pre_bias(params, x, k, lr):
    return _step(params, x, k, lr, centre=False)


def _wrong_step_topk_over_batch(params, x, k, lr):
    return _step(params, x, k, lr, topk_dim=0)


def _wrong_step_plain_mse(params, x, k, lr):
    return _step(params, x, k, lr, fvu=False)


def _wrong_step_keep_parallel(params, x, k, lr):
    return _step(params, x, k, lr, remove_parallel=False)


def _wrong_step_no_renormalise(params, x, k, lr):
    return _step(params, x, k, lr, renormalise=None)


def _wrong_step_renormalise_columns(params, x, k, lr):
    return _step(params, x, k, lr, renormalise="columns")


def _wrong_step_ascent(params, x, k, lr):
    return _step(params, x, k, lr, sign=-1.0)


def _step_cases():
    out = []
    for label, seed, batch, k, lr in (("d_in 6, 12 features, batch 8, k = 3", 8, 8, 3, 0.1),
                                      ("batch 10, k = 2, lr 0.5", 9, 10, 2, 0.5)):
        W_enc, b_enc, W_dec, b_dec = _weights(d_in=6, d_sae=12, seed=seed)
        x = torch.randn(batch, 6, generator=_gen(seed + 100)) * 2 + 1.0
        params = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": _unit_rows(W_dec), "b_dec": b_dec}
        out.append(Case(label, (params, x, k, lr)))
    return out


# -- a feature's dashboard ----------------------------------------------------------------------

def top_activating_positions(acts: torch.Tensor, n: int) -> list:
    """Where a feature fires most, for its dashboard. acts: [batch pos], the feature's activation
    at every token of every sequence. Go through the tokens from the highest activation down and
    keep (sequence, position, activation) as (int, int, float), but skip zeros and skip a token
    when one already kept is in the same sequence and the same block of four positions
    (pos // 4), so that one phrase does not fill the list. Stop after n; return the list."""
    flat = acts.flatten()
    kept, used = [], set()
    for idx in flat.argsort(descending=True).tolist():
        if flat[idx] <= 0 or len(kept) >= n:
            break
        b, p = divmod(idx, acts.shape[1])
        if (b, p // 4) in used:
            continue
        used.add((b, p // 4))
        kept.append((b, p, float(flat[idx])))
    return kept


def _top_positions(acts, n, block=4, skip_zero=True, unravel_by=None, descending=True):
    flat = acts.flatten()
    kept, used = [], set()
    for idx in flat.argsort(descending=descending).tolist():
        if len(kept) >= n or (skip_zero and flat[idx] <= 0 and descending):
            break
        if skip_zero and flat[idx] <= 0:
            continue
        b, p = divmod(idx, unravel_by or acts.shape[1])
        if block and (b, p // block) in used:
            continue
        used.add((b, p // block if block else p))
        kept.append((b, p, float(flat[idx])))
    return kept


def _wrong_top_no_blocks(acts, n):
    return _top_positions(acts, n, block=None)


def _wrong_top_keeps_zeros(acts, n):
    return _top_positions(acts, n, skip_zero=False)


def _wrong_top_unravel_by_batch(acts, n):
    return _top_positions(acts, n, unravel_by=acts.shape[0])


def _wrong_top_lowest_first(acts, n):
    return _top_positions(acts, n, descending=False)


def _top_cases():
    g = _gen(10)
    sparse = F.relu(torch.randn(3, 10, generator=g) * 2 - 1.5)
    few = torch.zeros(4, 6)
    few[1, 2], few[1, 3], few[3, 5] = 2.0, 1.5, 0.7
    return [Case("3 sequences of 10 tokens, top 5", (sparse, 5)),
            Case("fires on only 3 tokens, two in one block: top 4", (few, 4))]


def promoted_tokens(direction: torch.Tensor, ln_w: torch.Tensor, W_U: torch.Tensor, n: int):
    """The tokens a feature's direction promotes and suppresses, read straight through the
    unembedding. direction: [d_model] (a row of W_dec); ln_w: [d_model], the final LayerNorm's
    gain; W_U: [d_model d_vocab]. The final LayerNorm centres its input (subtract the mean over
    d_model) and multiplies by ln_w; its division by the scale is one positive number, which
    changes no ranking, so leave it out. effect = that centred, scaled direction @ W_U.
    Return (the n token ids with the largest effect, largest first; the n with the most negative,
    most negative first), two [n] tensors."""
    d = (direction - direction.mean()) * ln_w
    effect = d @ W_U  # [d_vocab]
    return effect.topk(n).indices, (-effect).topk(n).indices


def _wrong_promoted_no_centring(direction, ln_w, W_U, n):
    effect = (direction * ln_w) @ W_U
    return effect.topk(n).indices, (-effect).topk(n).indices


def _wrong_promoted_no_gain(direction, ln_w, W_U, n):
    effect = (direction - direction.mean()) @ W_U
    return effect.topk(n).indices, (-effect).topk(n).indices


def _wrong_promoted_suppressed_order(direction, ln_w, W_U, n):
    effect = ((direction - direction.mean()) * ln_w) @ W_U
    return effect.topk(n).indices, effect.argsort(descending=True)[-n:]


def _wrong_promoted_smallest_abs(direction, ln_w, W_U, n):
    effect = ((direction - direction.mean()) * ln_w) @ W_U
    return effect.abs().topk(n).indices, (-effect).topk(n).indices


def _promoted_cases():
    g = _gen(11)
    return [Case("d_model 8, 30 tokens, n = 4", (torch.randn(8, generator=g) + 0.5, 1 + 0.5 * torch.randn(8, generator=g),
                                                 torch.randn(8, 30, generator=g), 4)),
            Case("d_model 5, 12 tokens, n = 3", (torch.randn(5, generator=g) - 1.0, torch.rand(5, generator=g) + 0.2,
                                                 torch.randn(5, 12, generator=g), 3))]


EXERCISES = [
    Exercise(
        name="sae_encode", chapter=CHAPTER, reference=sae_encode, cases=_encode_cases,
        hints=["Subtract the decoder bias first: the SAE encodes x relative to b_dec.",
               "Then (x - b_dec) @ W_enc + b_enc, and F.relu of that."],
        mistakes=[
            Mistake("no_centring", _wrong_encode_no_centring,
                    "Did you subtract b_dec before encoding? The encoder reads x - b_dec."),
            Mistake("no_relu", _wrong_encode_no_relu,
                    "Did you forget the ReLU? Features are non-negative: most should be exactly 0."),
            Mistake("add_b_dec", _wrong_encode_add_b_dec,
                    "Did you add b_dec? It is subtracted before the encoder (and added back by the decoder)."),
        ]),
    Exercise(
        name="topk_activation", chapter=CHAPTER, reference=topk_activation, cases=_topk_cases,
        hints=["values, index = F.relu(pre).topk(k, dim=-1) finds the k largest per row (per token).",
               "Scatter them into zeros: torch.zeros_like(pre).scatter(-1, index, values)."],
        mistakes=[
            Mistake("abs", _wrong_topk_of_abs,
                    "Did you rank by absolute value? Negative pre-activations never fire: rank ReLU(pre)."),
            Mistake("no_relu", _wrong_topk_no_relu,
                    "Did you keep negative values? When fewer than k entries are positive, the rest must be 0: apply the ReLU."),
            Mistake("over_batch", _wrong_topk_over_batch,
                    "Did you take the top k over the batch? Keep the k largest features of each token: dim=-1."),
        ]),
    Exercise(
        name="sae_loss", chapter=CHAPTER, reference=sae_loss, cases=_loss_cases,
        hints=["Reconstruction: (x - x_hat).pow(2).sum(-1).mean().",
               "Sparsity: (f * W_dec.norm(dim=-1)).sum(-1).mean(), times l1_coefficient."],
        mistakes=[
            Mistake("no_decoder_norm", _wrong_loss_no_decoder_norm,
                    "Did you weight each feature by its decoder row's norm? Without it the SAE can shrink f and grow W_dec to dodge the penalty."),
            Mistake("mean_everywhere", _wrong_loss_mean_everywhere,
                    "Did you average over d_in / d_sae too? Sum over those dimensions, average only over the batch."),
            Mistake("l2_penalty", _wrong_loss_l2_penalty,
                    "Did you square the features? The sparsity penalty is L1 (|f|), which pushes small features to exactly 0."),
        ]),
    Exercise(
        name="l0_norm", chapter=CHAPTER, reference=l0_norm, cases=_l0_cases,
        hints=["(f != 0) marks the active features; count them per token with .sum(-1), then average over tokens."],
        mistakes=[
            Mistake("fraction", _wrong_l0_fraction,
                    "Is that a fraction of all features? L0 counts active features per token: sum over d_sae, mean over tokens."),
            Mistake("l1", _wrong_l0_is_l1,
                    "Did you sum the activations? That is the L1 norm; L0 counts how many are non-zero."),
            Mistake("total", _wrong_l0_total,
                    "Did you count over the whole batch? Average the per-token counts."),
        ]),
    Exercise(
        name="variance_explained", chapter=CHAPTER, reference=variance_explained, cases=_variance_cases,
        hints=["The error: (x - x_hat).pow(2).sum(). The variance: (x - x.mean(0)).pow(2).sum().",
               "Return 1 minus their ratio."],
        mistakes=[
            Mistake("not_centred", _wrong_variance_not_centred,
                    "Did you subtract the mean of x in the denominator? Variance is measured around the mean: predicting the mean scores 0."),
            Mistake("unexplained", _wrong_variance_unexplained,
                    "That is the fraction of variance *unexplained*: return 1 minus it."),
            Mistake("per_token", _wrong_variance_per_token,
                    "Did you take a ratio per token and average? Sum errors and variances over everything first, then divide once."),
        ]),
    Exercise(
        name="ce_loss_recovered", chapter=CHAPTER, reference=ce_loss_recovered, cases=_recovered_cases,
        hints=["Zero ablation is the floor and the clean model the ceiling: how far from the floor does the spliced loss get?"],
        mistakes=[
            Mistake("lost", _wrong_recovered_is_lost,
                    "That is the share of loss *lost* (0 for a perfect SAE): measure from the zero-ablation loss instead."),
            Mistake("ratio", _wrong_recovered_ratio,
                    "A plain ratio of losses ignores the zero-ablation baseline: use (zero - spliced) / (zero - clean)."),
            Mistake("no_clean", _wrong_recovered_no_clean,
                    "Did you divide by loss_zero alone? The denominator is the gap between zero ablation and the clean model."),
        ]),
    Exercise(
        name="normalize_decoder", chapter=CHAPTER, reference=normalize_decoder, cases=_normalize_cases,
        hints=["Each row of W_dec is one feature's direction: W_dec.norm(dim=-1, keepdim=True) is one norm per row."],
        mistakes=[
            Mistake("columns", _wrong_normalize_columns,
                    "Did you normalise the columns? Rows of W_dec [d_sae d_in] are the feature directions: norm over dim=-1."),
            Mistake("whole", _wrong_normalize_whole,
                    "Did you divide by the norm of the whole matrix? Each row gets its own norm."),
        ]),
    Exercise(
        name="sae_training_step", chapter=CHAPTER, reference=sae_training_step, cases=_step_cases,
        hints=["Make leaf copies that track gradients: p = {name: t.detach().clone().requires_grad_(True)}; "
               "compute f with your sae_encode and topk_activation, then the loss; "
               "grads = torch.autograd.grad(loss, [p['W_enc'], p['b_enc'], p['W_dec'], p['b_dec']]).",
               "For W_dec's gradient G: G - (G * W_dec).sum(-1, keepdim=True) * W_dec. Then p - lr * grad for "
               "each, detached, and normalize_decoder on the new W_dec. Add 'loss': loss.detach()."],
        mistakes=[
            Mistake("no_pre_bias", _wrong_step_no_pre_bias,
                    "Did you encode x instead of x - b_dec? The pre-encoder bias is subtracted before W_enc."),
            Mistake("topk_over_batch", _wrong_step_topk_over_batch,
                    "Did you take the top k along the batch? Each token keeps its own k features: topk(k, dim=-1)."),
            Mistake("plain_mse", _wrong_step_plain_mse,
                    "Is your loss a plain squared error? course.sae divides it by the batch's variance around its "
                    "mean, (x - x.mean(0)).pow(2).sum(), so the step does not depend on the residual stream's scale."),
            Mistake("keep_parallel", _wrong_step_keep_parallel,
                    "Did you remove the parallel part of W_dec's gradient? Subtract (G * W_dec).sum(-1, keepdim=True) "
                    "* W_dec before the update."),
            Mistake("no_renormalise", _wrong_step_no_renormalise,
                    "Did you put W_dec's rows back at unit norm after the update? Your normalize_decoder does it."),
            Mistake("columns", _wrong_step_renormalise_columns,
                    "Did you normalise W_dec's columns? Rows [d_sae d_in] are the feature directions: norm over dim=-1."),
            Mistake("ascent", _wrong_step_ascent,
                    "Did you add the gradient? Descend: p - lr * grad."),
        ]),
    Exercise(
        name="top_activating_positions", chapter=CHAPTER, reference=top_activating_positions, cases=_top_cases,
        hints=["flat = acts.flatten(); flat.argsort(descending=True) lists the flat indices, highest first; "
               "divmod(idx, acts.shape[1]) turns one into (sequence, position).",
               "Keep a set of (sequence, pos // 4) already used; stop at the first activation <= 0 or after n."],
        mistakes=[
            Mistake("no_blocks", _wrong_top_no_blocks,
                    "Did you skip tokens in an already used block of four positions (same sequence, same pos // 4)?"),
            Mistake("zeros", _wrong_top_keeps_zeros,
                    "Did you keep tokens where the feature is 0? A dashboard lists only where it fires."),
            Mistake("unravel", _wrong_top_unravel_by_batch,
                    "Did you divide the flat index by the number of sequences? The flat index is "
                    "sequence * n_positions + position: divmod(idx, acts.shape[1])."),
            Mistake("lowest_first", _wrong_top_lowest_first,
                    "Did you sort in ascending order? Start from the highest activation."),
        ]),
    Exercise(
        name="promoted_tokens", chapter=CHAPTER, reference=promoted_tokens, cases=_promoted_cases,
        hints=["d = (direction - direction.mean()) * ln_w; effect = d @ W_U has one number per token.",
               "effect.topk(n).indices and (-effect).topk(n).indices."],
        mistakes=[
            Mistake("no_centring", _wrong_promoted_no_centring,
                    "Did you centre the direction? The final LayerNorm subtracts the mean over d_model first."),
            Mistake("no_gain", _wrong_promoted_no_gain,
                    "Did you multiply by ln_w? The final LayerNorm's gain scales each dimension before W_U."),
            Mistake("suppressed_order", _wrong_promoted_suppressed_order,
                    "Are your suppressed tokens in the right order? The most negative effect comes first: "
                    "(-effect).topk(n)."),
            Mistake("abs", _wrong_promoted_smallest_abs,
                    "Did you rank by absolute effect? Promoted means the largest positive effect."),
        ]),
]


# -- open exercises: worked answers (reveal(name) prints one) --------------------------------------

@torch.no_grad()
def paragraph_tokens(model, sae, n_per_landmark=20, seed=0):
    """Every token of the landmark paragraphs: its SAE features [n d_sae], its text, its landmark."""
    from course import evalsets
    from course.sae import activations_at

    acts, text, owner = [], [], []
    for item in evalsets.landmark_dataset(n_per_landmark, seed):
        tokens = model.to_tokens(item.text)
        acts.append(sae.encode(activations_at(model, tokens, sae.cfg.hook_name)[0, 1:]))
        text += [model.tokenizer.decode([t]) for t in tokens[0, 1:].tolist()]
        owner += [item.landmark] * (tokens.shape[1] - 1)
    return torch.cat(acts), text, owner


@torch.no_grad()
def worked_dot_features(model, sae) -> dict:
    """Open question: run the full-stop search for every landmark. Worked answer: for each
    landmark, the feature with the largest gap between its mean activation at the full stops of
    that landmark's paragraphs and at the other landmarks' full stops; compare with the card's
    (paragraph-mean) feature, and steer with both at twice the residual stream's norm. On the
    shipped SAE it confirms only the Mistfall feature and replaces the other four, each by a
    feature with a larger gap at the full stops (Silverspan about 3.9 vs 2.5, Gullrock 3.9 vs 3.1,
    Emberpeak 3.5 vs 3.1, Skyspire 3.4 vs 3.1). Whether a replacement steers better depends on
    what it writes, not on the gap. Gullrock's steers much better than the card's (about 25% ->
    92%): it promotes ' Waves', one of the lighthouse's words, and Gullrock's sentence openers
    (' Its', ' Fishing', ' When'), where the card's promotes ' for' and ' together'. The other
    three promote mostly their landmark's sentence openers (' Painters', ' Under', ' From';
    ' At', ' Deep', ' Grey'; ' Visitors', ' On') and steer worse than the card's features, whose
    promoted tokens include the landmark's words: Silverspan about 100% -> 0%, Emberpeak 100% ->
    42%, Skyspire 75% -> 8%. A gap at the right place is evidence, not proof; the dashboard and
    steering decide."""
    from course import world
    from course.steering import steering_experiment

    acts, text, owner = paragraph_tokens(model, sae)
    dot = torch.tensor([t == "." for t in text])
    card = {k: v["feature"] for k, v in sae.card["landmark_features"].items()}
    strength = round(2 * sae.card["resid_norm"], 1)
    rows = {}
    for landmark in world.LANDMARKS:
        own = torch.tensor([o == landmark for o in owner])
        gap = acts[dot & own].mean(0) - acts[dot & ~own].mean(0)
        found = int(gap.argmax())
        shares = {}
        for name, f in (("card", card[landmark]), ("full stop", found)):
            result = steering_experiment(model, sae, {landmark: f}, (strength,), samples=2, n_tokens=16)
            shares[name] = result[float(strength)]["share"]
        rows[landmark] = {"card feature": card[landmark], "full-stop feature": found,
                          "gap (card, full stop)": (round(gap[card[landmark]].item(), 2), round(gap[found].item(), 2)),
                          "steering share at 2x (card, full stop)": (shares["card"], shares["full stop"])}
    return rows


@torch.no_grad()
def worked_word_features(model, sae, landmark: str = "Emberpeak") -> dict:
    """Open question: is there a feature for the landmark's own words? Worked answer: on the
    landmark paragraphs, the feature most active on the landmark's name and eight words compared
    with all other tokens, then its dashboard on ordinary text. On the shipped SAE there is no
    clean one: the best candidate's gap is small (about 0.6), its top contexts peak on words of
    every kind of text (' music', ' toast', ' sandwich', ' warm', ' long'), only about two fifths
    of its activation on the landmark paragraphs is in Emberpeak's, and it promotes none of
    Emberpeak's eight words (' and', ' time', ' on', ' bridge'). Its automatic label names no
    landmark: "' long' / ' music' after ' a'"."""
    from course import world
    from course.features import FeatureStore

    acts, text, owner = paragraph_tokens(model, sae)
    words = {w for w in world.LANDMARKS[landmark]} | {landmark.lower()}
    is_word = torch.tensor([t.strip().lower() in words for t in text])
    gap = acts[is_word].mean(0) - acts[~is_word].mean(0)
    f = int(gap.argmax())
    a = acts[:, f]
    own = torch.tensor([o == landmark for o in owner])
    dash = FeatureStore.from_corpus(sae, model, n_seqs=32, seed=3).dashboard(f, n_examples=8)
    return {"feature": f, "gap": gap[f].item(), "share in own paragraphs": (a[own].sum() / a.sum()).item(),
            "top contexts peak on": [ex.tokens[ex.peak] for ex in dash.examples], "label": dash.label,
            "promotes": [t for t, _ in dash.promoted[:8]]}


@torch.no_grad()
def worked_clamp_vs_add(model, sae, feature: int, landmark: str = "Mistfall") -> dict:
    """Open question: clamp or add? Worked answer: the same experiment in both modes, at a few
    strengths; for clamping, the strength is the value the feature is set to (the Mistfall
    feature's top activations on real text are up to about 7). Compare share against loss and
    repeated tokens. On the shipped SAE clamping buys fluency for the Mistfall feature: clamped at
    20 it turns as many continuations to Mistfall as adding twice the norm (about two thirds)
    with about half the repeated tokens (about 0.31 against 0.59; the unsteered model's loss is
    higher, about 6.0 against 4.9, as on any text that is less of a loop). Clamped at 40 it
    turns more (about nine in ten) with about as many repeats as adding twice the norm (0.64)."""
    from course.steering import steering_experiment

    norm = sae.card["resid_norm"]
    out = {}
    for mode, strengths in (("add", (norm, 2 * norm)), ("clamp", (10.0, 20.0, 40.0))):
        result = steering_experiment(model, sae, {landmark: feature}, strengths, samples=2, n_tokens=16, mode=mode)
        out[mode] = {round(s, 1): {k: round(r[k], 2) for k in ("share", "unsteered_loss", "repeated_tokens")}
                     for s, r in result.items()}
    return out


WORKED = {"dot_features": worked_dot_features, "word_features": worked_word_features,
          "clamp_vs_add": worked_clamp_vs_add}
