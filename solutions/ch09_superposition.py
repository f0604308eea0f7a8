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


# -- the training loop --------------------------------------------------------------------------

def train_toy_model(W: torch.Tensor, b: torch.Tensor, batches: torch.Tensor, importance: torch.Tensor,
                    lr: float) -> tuple:
    """Train the toy model with Adam. W: [feature hidden] and b: [feature] are the starting values
    (train copies of them: do not change the inputs); batches: [steps batch feature], the inputs of
    each step; importance: [feature]. At every step: the forward pass x' = ReLU(x W W^T + b), the
    importance-weighted loss (sum over features of I_i (x_i - x'_i)^2, mean over the batch), clear
    the gradients, backpropagate, one step of torch.optim.Adam(lr=lr) over W and b.
    Returns (W, b, losses): the trained W and b (detached) and the loss of each step, computed before
    that step's update: [steps]."""
    W = W.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([W, b], lr=lr)
    losses = []
    for x in batches:  # x: [batch feature]
        x_hat = torch.relu(x @ W @ W.T + b)
        loss = (importance * (x - x_hat) ** 2).sum(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return W.detach(), b.detach(), torch.stack(losses)


def _train(W, b, batches, importance, lr, weighted=True, relu=True, zero_grad=True, feature_mean=False,
           bias=True):
    W = W.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([W, b], lr=lr)
    losses = []
    for x in batches:
        x_hat = x @ W @ W.T + (b if bias else 0)
        if relu:
            x_hat = torch.relu(x_hat)
        err = (importance if weighted else 1) * (x - x_hat) ** 2
        loss = err.mean() if feature_mean else err.sum(-1).mean()
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return W.detach(), b.detach(), torch.stack(losses)


def _wrong_train_unweighted(W, b, batches, importance, lr):
    return _train(W, b, batches, importance, lr, weighted=False)


def _wrong_train_no_relu(W, b, batches, importance, lr):
    return _train(W, b, batches, importance, lr, relu=False)


def _wrong_train_no_zero_grad(W, b, batches, importance, lr):
    return _train(W, b, batches, importance, lr, zero_grad=False)


def _wrong_train_feature_mean(W, b, batches, importance, lr):
    return _train(W, b, batches, importance, lr, feature_mean=True)


def _wrong_train_no_bias(W, b, batches, importance, lr):
    return _train(W, b, batches, importance, lr, bias=False)


def _sparse_batches(steps, batch, n, sparsity, seed):
    g = _gen(seed)
    values = torch.rand(steps, batch, n, generator=g)
    return values * (torch.rand(steps, batch, n, generator=g) >= sparsity)


def _train_cases():
    return [
        Case("5 features, 2 dims, 40 steps of 32 sparse inputs (S = 0.7), importance 0.9^i, lr 0.01",
             (torch.randn(5, 2, generator=_gen(10)) * 0.5, torch.zeros(5), _sparse_batches(40, 32, 5, 0.7, 11),
              0.9 ** torch.arange(5.0), 1e-2)),
        Case("3 features, 2 dims, a nonzero starting bias, 25 steps of 16 dense inputs, lr 0.05",
             (torch.randn(3, 2, generator=_gen(12)) * 0.5, torch.tensor([0.1, -0.2, 0.05]),
              _sparse_batches(25, 16, 3, 0.0, 13), torch.tensor([1.0, 0.3, 2.0]), 5e-2)),
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
    Exercise(
        name="train_toy_model", chapter=CHAPTER, reference=train_toy_model, cases=_train_cases,
        hints=["Make trainable copies: W = W.clone().requires_grad_(True), the same for b; then "
               "optimizer = torch.optim.Adam([W, b], lr=lr).",
               "Loop over the batches: forward pass, loss, optimizer.zero_grad(), loss.backward(), optimizer.step(); "
               "keep loss.detach() of each step and return torch.stack of them with W.detach() and b.detach()."],
        mistakes=[
            Mistake("unweighted", _wrong_train_unweighted,
                    "Did you weight the loss by the importance? Without it every feature matters equally, and "
                    "which features the model keeps is left to chance."),
            Mistake("no_relu", _wrong_train_no_relu,
                    "Did you leave out the ReLU in the forward pass? A linear model cannot filter interference, "
                    "and never learns superposition."),
            Mistake("no_zero_grad", _wrong_train_no_zero_grad,
                    "Did you clear the gradients at each step? loss.backward() adds to .grad: call "
                    "optimizer.zero_grad() before it, or every step also follows all the old gradients."),
            Mistake("feature_mean", _wrong_train_feature_mean,
                    "Did you average the loss over features too? Sum over features, average over the batch only "
                    "(the losses you return are then n_features times smaller than the reference's)."),
            Mistake("no_bias", _wrong_train_no_bias,
                    "Did you leave the bias b out of the forward pass? It is trained too, and it is what lets the "
                    "ReLU cut off interference."),
        ]),
]


# -- worked answers to the open-ended exercises ------------------------------------------------------

def worked_polygons(sparsity: float = 0.99, counts=(3, 4, 5, 6, 8)) -> dict[int, str]:
    """Open question: with n features in 2 dimensions, equally important, at high sparsity, which
    arrangements appear? Worked answer: train one model per n (the best of 4 restarts) and name
    its arrangement; D_i tells how many dimensions each feature got."""
    from course import superposition as sp

    out = {}
    for n in counts:
        res = sp.train_toy(n=n, m=2, sparsity=sparsity, importance=1.0, steps=1500, seed=0)
        W = res.W[0]
        out[n] = f"{sp.classify(W)}; D_i = {[round(v, 2) for v in sp.dimensionality(W).tolist()]}"
    return out


def worked_pentagon_break(sparsities=(0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99)) -> dict[float, str]:
    """Open question: lower the sparsity from 0.99: where does the pentagon break, and what
    replaces it? Worked answer: one sweep over a finer grid of sparsities (5 features, 2
    dimensions, importance 0.9^i), naming each arrangement and listing the features' norms."""
    from course import superposition as sp

    sweep = sp.sparsity_sweep(n=5, m=2, sparsities=sparsities, decay=0.9, steps=1500, restarts=3, seed=0)
    return {s: f"{found['arrangement']}, ||W_i|| = {[round(v, 2) for v in sp.feature_norms(found['W']).tolist()]}"
            for s, found in sweep.items()}


def worked_steeper_importance(decays=(1.0, 0.9, 0.7, 0.5), sparsity: float = 0.99) -> dict[float, str]:
    """Open question: at S = 0.99, how steeply must importance fall before the model stops keeping
    all five features? Worked answer: train at several decays and name each arrangement; with a
    steep decay the least important features are not worth their interference."""
    from course import superposition as sp

    out = {}
    for decay in decays:
        W = sp.train_toy(n=5, m=2, sparsity=sparsity, importance=decay, steps=1500, seed=0).W[0]
        out[decay] = f"{sp.classify(W)}, ||W_i|| = {[round(v, 2) for v in sp.feature_norms(W).tolist()]}"
    return out


WORKED = {"polygons": worked_polygons, "pentagon_break": worked_pentagon_break,
          "steeper_importance": worked_steeper_importance}
