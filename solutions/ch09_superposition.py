"""Chapter 09, superposition: reference solutions and the mistakes each check recognises.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; the ``_wrong_*`` functions are the mistakes
``check`` names. The toy model of Elhage et al. 2022 is ``x' = ReLU(W W^T x + b)`` with
``W [feature hidden]`` (row i is feature i's direction); ``course.superposition`` holds the
batched, reusable version, and tests/test_superposition.py holds the two to the same answers.
"""

from __future__ import annotations

import torch

from course.exercises import Case, Exercise, Mistake

CHAPTER = "09"
TITLE = "Superposition"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- the toy model's forward pass ---------------------------------------------------------------

def toy_forward(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The toy model's output x' = ReLU(x W W^T + b) for a batch of feature vectors.
    W: [feature hidden] (row i is feature i's direction), b: [feature], x: [batch feature].
    Returns [batch feature]."""
    h = x @ W  # [batch hidden]: squeeze n features into m dimensions
    return torch.relu(h @ W.T + b)  # read every feature back out, then the ReLU


def _wrong_toy_forward_no_relu(W, b, x):
    return x @ W @ W.T + b


def _wrong_toy_forward_no_bias(W, b, x):
    return torch.relu(x @ W @ W.T)


def _wrong_toy_forward_relu_inside(W, b, x):
    return torch.relu(x @ W) @ W.T + b


def _toy_cases():
    W = torch.randn(5, 2, generator=_gen(0))
    b = torch.randn(5, generator=_gen(1)) * 0.5
    x = torch.rand(4, 5, generator=_gen(2)) * (torch.rand(4, 5, generator=_gen(3)) > 0.5)
    return [
        Case("5 features, 2 dims, sparse x", (W, b, x)),
        Case("one feature on", (W, b, torch.eye(5)[:1])),
        Case("3 features, 3 dims (no superposition needed)", (torch.eye(3), torch.full((3,), -0.1), torch.rand(2, 3, generator=_gen(4)))),
    ]


# -- the importance-weighted loss ---------------------------------------------------------------

def importance_weighted_loss(x: torch.Tensor, x_hat: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """The paper's loss: sum over features of I_i (x_i - x'_i)^2, averaged over the batch.
    x, x_hat: [batch feature]; importance: [feature]. Returns a scalar tensor."""
    return (importance * (x - x_hat) ** 2).sum(-1).mean()


def _wrong_loss_unweighted(x, x_hat, importance):
    return ((x - x_hat) ** 2).sum(-1).mean()


def _wrong_loss_mean_over_features(x, x_hat, importance):
    return (importance * (x - x_hat) ** 2).mean()


def _wrong_loss_importance_inside_square(x, x_hat, importance):
    return ((importance * (x - x_hat)) ** 2).sum(-1).mean()


def _loss_cases():
    x = torch.rand(6, 5, generator=_gen(5))
    x_hat = torch.rand(6, 5, generator=_gen(6))
    return [
        Case("decaying importance", (x, x_hat, 0.7 ** torch.arange(5.0))),
        Case("one example", (x[:1], x_hat[:1], torch.tensor([1.0, 0.5, 0.25, 2.0, 1.0]))),
    ]


# -- dimensionality per feature ----------------------------------------------------------------

def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """Dimensions per feature, D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2, where W_i_hat = W_i / ||W_i||
    and j runs over every feature (i included). W: [feature hidden] -> [feature].
    1 for a feature alone in its direction, 1/2 for an antipodal pair, 2/5 for a pentagon."""
    norms = W.norm(dim=-1)
    unit = W / norms[:, None]
    return norms**2 / ((unit @ W.T) ** 2).sum(-1)


def _wrong_dimensionality_fourth_power(W):
    norms = W.norm(dim=-1)
    return norms**4 / (((W / norms[:, None]) @ W.T) ** 2).sum(-1)


def _wrong_dimensionality_without_self(W):
    norms = W.norm(dim=-1)
    sq = ((W / norms[:, None]) @ W.T) ** 2
    return norms**2 / (sq.sum(-1) - sq.diagonal())


def _wrong_dimensionality_not_normalised(W):
    return W.norm(dim=-1) ** 2 / ((W @ W.T) ** 2).sum(-1)


def _dim_cases():
    pentagon = torch.stack([torch.tensor([torch.cos(a), torch.sin(a)]) for a in torch.arange(5) * 2 * torch.pi / 5]) * 1.2
    return [
        Case("pentagon of norm 1.2 (each D_i = 2/5)", (pentagon,)),
        Case("antipodal pair + a dedicated feature", (torch.tensor([[1.5, 0.0, 0.0], [-1.5, 0.0, 0.0], [0.0, 0.8, 0.0]]),)),
        Case("random W", (torch.randn(6, 3, generator=_gen(7)),)),
    ]


EXERCISES = [
    Exercise(
        name="toy_forward", chapter=CHAPTER, reference=toy_forward, cases=_toy_cases,
        hints=["Two matrix products: x @ W squeezes the features into the hidden space, then @ W.T reads them back.",
               "Add the bias b before the ReLU, and apply the ReLU only at the very end."],
        mistakes=[
            Mistake("no_relu", _wrong_toy_forward_no_relu,
                    "Did you forget the ReLU? Without it the model is linear and cannot filter out interference."),
            Mistake("no_bias", _wrong_toy_forward_no_bias,
                    "Did you leave out the bias b? The negative bias is what lets the ReLU cut off small interference."),
            Mistake("relu_inside", _wrong_toy_forward_relu_inside,
                    "Is your ReLU on the hidden layer? In this model the hidden layer is linear; the ReLU comes after W^T and b."),
        ]),
    Exercise(
        name="importance_weighted_loss", chapter=CHAPTER, reference=importance_weighted_loss, cases=_loss_cases,
        hints=["Square the error of each feature, multiply by that feature's importance, sum over features.",
               "Then average over the batch (the first dimension)."],
        mistakes=[
            Mistake("unweighted", _wrong_loss_unweighted,
                    "Did you use the importance? Each feature's squared error is multiplied by I_i."),
            Mistake("mean_over_features", _wrong_loss_mean_over_features,
                    "Did you average over features too? Sum over features, average only over the batch."),
            Mistake("importance_squared", _wrong_loss_importance_inside_square,
                    "Is the importance inside the square? It multiplies the squared error: I_i (x_i - x'_i)^2, not (I_i (x_i - x'_i))^2."),
        ]),
    Exercise(
        name="feature_dimensionality", chapter=CHAPTER, reference=feature_dimensionality, cases=_dim_cases,
        hints=["The numerator is ||W_i||^2; the denominator sums (W_i_hat . W_j)^2 over every j, including j = i.",
               "W_i_hat is W_i divided by its norm; W_j is not normalised. A pentagon gives 2/5 whatever its size."],
        mistakes=[
            Mistake("fourth_power", _wrong_dimensionality_fourth_power,
                    "Is your numerator ||W_i||^4? Then D depends on the scale of W: use ||W_i||^2 so a dedicated feature gets exactly 1."),
            Mistake("without_self", _wrong_dimensionality_without_self,
                    "Did you leave out j = i in the denominator? The feature's own term ||W_i||^2 belongs there."),
            Mistake("not_normalised", _wrong_dimensionality_not_normalised,
                    "Did you normalise W_i in the dot product? Use W_i / ||W_i|| (not W_i) against W_j."),
        ]),
]
