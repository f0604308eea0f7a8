"""Chapter 04, induction heads: reference solutions, their hints and the known mistakes.

The previous-token score is chapter 03's exercise (``previous_token_attention``); the course's one
definition of both scores is in ``course/metrics.py``, and ``tests/test_metrics.py`` holds these
references equal to it on the shipped models."""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "04"
TITLE = "Induction heads"


def _induction_cases():
    g = torch.Generator().manual_seed(5)
    seq_len = 4
    n = 1 + 2 * seq_len
    perfect = torch.zeros(1, 2, n, n)
    perfect[0, :, :, 0] = 1
    for q in range(1 + seq_len, n):
        perfect[0, 0, q] = 0
        perfect[0, 0, q, q - seq_len + 1] = 1  # head 0 is a perfect induction head
    scores = torch.randn(2, 3, n, n, generator=g).masked_fill(torch.ones(n, n).triu(1).bool(), float("-inf"))
    return [Case("random causal patterns, seq_len 4", (scores.softmax(-1), seq_len)),
            Case("a perfect induction head (head 0), seq_len 4", (perfect, seq_len))]


def induction_score(pattern: torch.Tensor, seq_len: int) -> torch.Tensor:
    """On BOS + r + r (r of length seq_len): mean attention from each token of the second repeat to
    the token just after its first occurrence, per head. pattern: [batch head_index q k] -> [head_index]."""
    stripe = pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)  # query i attends key i - seq_len + 1
    return stripe[..., -seq_len:].mean(dim=(0, -1))  # the queries of the second repeat


def _wrong_induction_same_token(pattern, seq_len):
    stripe = pattern.diagonal(offset=-seq_len, dim1=-2, dim2=-1)
    return stripe[..., -seq_len:].mean(dim=(0, -1))


def _wrong_induction_two_after(pattern, seq_len):
    stripe = pattern.diagonal(offset=-(seq_len - 2), dim1=-2, dim2=-1)
    return stripe[..., -seq_len:].mean(dim=(0, -1))


def _wrong_induction_whole_stripe(pattern, seq_len):
    return pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1).mean(dim=(0, -1))


def composition(W_A: torch.Tensor, W_B: torch.Tensor) -> torch.Tensor:
    """How much W_B reads what W_A writes: ||W_A W_B||_F / (||W_A||_F ||W_B||_F).
    W_A, W_B: [d_model d_model] -> a scalar tensor."""
    return torch.linalg.matrix_norm(W_A @ W_B) / (torch.linalg.matrix_norm(W_A) * torch.linalg.matrix_norm(W_B))


def _wrong_comp_no_normalise(W_A, W_B):
    return torch.linalg.matrix_norm(W_A @ W_B)


def _wrong_comp_elementwise(W_A, W_B):
    return torch.linalg.matrix_norm(W_A * W_B) / (torch.linalg.matrix_norm(W_A) * torch.linalg.matrix_norm(W_B))


def _wrong_comp_spectral(W_A, W_B):
    return torch.linalg.matrix_norm(W_A @ W_B, ord=2) / (torch.linalg.matrix_norm(W_A, ord=2) * torch.linalg.matrix_norm(W_B, ord=2))


def _composition_cases():
    g = torch.Generator().manual_seed(6)
    return [Case("random 8 x 8", (torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g))),
            Case("W_B = W_A^T (aligned)", (lambda a: (a, a.T))(torch.randn(6, 6, generator=g))),
            Case("random 16 x 16, scaled", (3 * torch.randn(16, 16, generator=g), 0.1 * torch.randn(16, 16, generator=g)))]


EXERCISES = [
    Exercise(
        "induction_score", CHAPTER, induction_score, _induction_cases,
        hints=["A token in the second repeat at position i first occurred at i - seq_len; an induction head looks at "
               "the token *after* that one, i - seq_len + 1.",
               "That is the diagonal offset -(seq_len - 1); keep only its last seq_len entries (the second repeat's queries)."],
        mistakes=[
            Mistake("same token", _wrong_induction_same_token, "Did you use offset -seq_len? That is the earlier copy of "
                                                               "the same token; an induction head attends one further, to what came next."),
            Mistake("two after", _wrong_induction_two_after, "Off by one: the stripe is at offset -(seq_len - 1), not -(seq_len - 2)."),
            Mistake("whole stripe", _wrong_induction_whole_stripe, "Did you average the whole stripe? Its first entries are "
                                                                   "queries in the first repeat, where nothing can be copied yet."),
        ],
    ),
    Exercise(
        "composition", CHAPTER, composition, _composition_cases,
        hints=["Multiply the two matrices, take the Frobenius norm, divide by the product of their own Frobenius norms.",
               "torch.linalg.matrix_norm uses the Frobenius norm by default."],
        mistakes=[
            Mistake("not normalised", _wrong_comp_no_normalise, "Did you forget to divide by ||W_A|| ||W_B||? Without it "
                                                                "the score grows with the weights' scale."),
            Mistake("elementwise", _wrong_comp_elementwise, "Did you use * instead of @? Composition is a matrix product."),
            Mistake("spectral", _wrong_comp_spectral, "Did you use the spectral norm (ord=2)? The score uses the Frobenius norm."),
        ],
    ),
]


# -- mean-ablation ---------------------------------------------------------------------------------

def mean_ablate(model, tokens: torch.Tensor, heads: list) -> torch.Tensor:
    """Per-token loss with the given heads' outputs replaced by their mean over the batch.
    heads: [(layer, head), ...]. Cache every layer's f"blocks.{layer}.attn.hook_z"
    ([batch pos head_index d_head]) on a clean run; then rerun with a hook that sets each listed
    head's z to that head's mean over the batch, position by position. Attach the hook with
    ``with model.hooks([...])`` (or ``model.run_with_hooks``), so that it is removed afterwards.
    tokens: [batch pos] -> [batch pos-1] (``model.loss(tokens, per_token=True)``)."""
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("attn.hook_z"))

    def hook(z, hook):
        layer = int(hook.name.split(".")[1])
        z = z.clone()
        for l, h in heads:
            if l == layer:
                z[:, :, h] = cache[hook.name][:, :, h].mean(0)  # [pos d_head], broadcast over the batch
        return z

    with model.hooks([(lambda name: name.endswith("attn.hook_z"), hook)]), torch.no_grad():
        return model.loss(tokens, per_token=True)


def _ablate_with(model, tokens, heads, replace):
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("attn.hook_z"))

    def hook(z, hook):
        layer = int(hook.name.split(".")[1])
        z = z.clone()
        for l, h in heads:
            if l == layer:
                replace(z, cache[hook.name], h)
        return z

    with model.hooks([(lambda name: name.endswith("attn.hook_z"), hook)]), torch.no_grad():
        return model.loss(tokens, per_token=True)


def _wrong_ablate_zero(model, tokens, heads):
    def replace(z, clean, h):
        z[:, :, h] = 0.0
    return _ablate_with(model, tokens, heads, replace)


def _wrong_ablate_mean_over_positions(model, tokens, heads):
    def replace(z, clean, h):
        z[:, :, h] = clean[:, :, h].mean(1, keepdim=True)
    return _ablate_with(model, tokens, heads, replace)


def _wrong_ablate_mean_over_everything(model, tokens, heads):
    def replace(z, clean, h):
        z[:, :, h] = clean[:, :, h].mean((0, 1))
    return _ablate_with(model, tokens, heads, replace)


def _wrong_ablate_whole_layer(model, tokens, heads):
    def replace(z, clean, h):
        z[:] = clean.mean(0)
    return _ablate_with(model, tokens, heads, replace)


def _small_model(seed: int):
    """A small random 2-layer model with large weights, so that every head matters."""
    from course.config import ModelConfig
    from course.model import HookedTransformer

    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=23, n_ctx=32, init_std=0.4)
    model = HookedTransformer(cfg).eval()
    model.init_weights(seed=seed)
    return model


def _ablate_cases():
    model = _small_model(seed=3)
    g = torch.Generator().manual_seed(7)
    return [Case("random 2-layer model, batch 4, 7 positions, head L1H2",
                 (model, torch.randint(0, 23, (4, 7), generator=g), [(1, 2)])),
            Case("random 2-layer model, batch 5, 9 positions, heads L0H1 and L1H0",
                 (model, torch.randint(0, 23, (5, 9), generator=g), [(0, 1), (1, 0)]))]


EXERCISES.append(Exercise(
    "mean_ablate", CHAPTER, mean_ablate, _ablate_cases,
    hints=["Two runs: one run_with_cache to get every attn.hook_z, then one run with a hook on attn.hook_z that "
           "replaces z[:, :, head] for the listed heads of that hook's layer (hook.name is 'blocks.{layer}.attn.hook_z').",
           "The replacement is cache[hook.name][:, :, head].mean(0): the mean over the batch, kept per position. "
           "Clone z before writing into it, and return it."],
    mistakes=[
        Mistake("zero-ablation", _wrong_ablate_zero,
                "Did you set the head's output to zero? That is zero-ablation: it sends the next layers an input "
                "they never saw in training. Mean-ablation replaces it by its mean over the batch."),
        Mistake("mean over positions", _wrong_ablate_mean_over_positions,
                "Did you average over positions (dim 1) instead of over the batch (dim 0)? Each position keeps its "
                "own mean: what the head writes there on average, whatever the tokens."),
        Mistake("mean over everything", _wrong_ablate_mean_over_everything,
                "Did you average over the batch *and* the positions? Keep one mean per position: average over dim 0 only."),
        Mistake("whole layer", _wrong_ablate_whole_layer,
                "Did you replace the whole z of the layer? Only the listed heads' slice, z[:, :, head], changes; "
                "the layer's other heads keep their own outputs."),
    ],
))


# -- open exercises: worked answers ------------------------------------------------------------------

@torch.no_grad()
def worked_one_head_at_a_time(model, tokens, seq_len: int = 50) -> dict[str, float]:
    """Open question: layer 1 has three induction heads. Is any one of them enough? Worked answer:
    mean-ablate each alone, each pair, and all three, and read the loss on the second repeat. Alone,
    each costs well under a nat (the other two still copy); any two cost several; all three remove
    the copying."""
    from itertools import combinations

    from course import metrics

    heads = [(1, 0), (1, 1), (1, 2)]
    out = {"clean": metrics.repeat_losses(mean_ablate(model, tokens, []), seq_len)["repeat_loss_second"]}
    for k in (1, 2, 3):
        for group in combinations(heads, k):
            label = " + ".join(f"L{l}H{h}" for l, h in group)
            out[label] = metrics.repeat_losses(mean_ablate(model, tokens, list(group)), seq_len)["repeat_loss_second"]
    return out


@torch.no_grad()
def worked_repeat_lengths(model) -> dict[int, dict[str, float]]:
    """Open question: the chapter repeats runs of 50 tokens. Does copying work for short runs, and for
    runs as long as the context allows (2 * seq_len + 1 <= n_ctx)? Worked answer: measure the first and
    second repeat's loss and the induction score of the best layer-1 head for several lengths."""
    from course import evaluate, metrics

    out = {}
    for seq_len in (3, 5, 10, 25, 50, (model.cfg.n_ctx - 1) // 2):
        tokens = evaluate.repeated_random_tokens(model, seq_len=seq_len)
        logits, cache = model.run_with_cache(tokens, names_filter="blocks.1.attn.hook_pattern")
        per_token = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
        out[seq_len] = {**metrics.repeat_losses(per_token, seq_len),
                        "best induction score": float(metrics.induction_score(cache["pattern", 1], seq_len).max())}
    return out


WORKED = {"one_head_at_a_time": worked_one_head_at_a_time, "repeat_lengths": worked_repeat_lengths}
