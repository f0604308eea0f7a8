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
]
