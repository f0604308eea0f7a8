"""Toy models of superposition (Elhage et al. 2022, "Toy Models of Superposition").

n sparse features are squeezed through m < n hidden dimensions and read back out:
``h = W^T x``, ``x' = ReLU(W h + b)``, with W of shape ``[n_features, d_hidden]`` (row i is the
direction of feature i). Each feature is 0 with probability S (the *sparsity*), else uniform in
[0, 1]; the loss weights feature i's squared error by its *importance* I_i.

Many models train at once: every tensor has a leading ``instance`` dimension, so a sweep over
sparsities and importances (or over restarts) is one batched run. The geometry helpers and the
arrangement classifier read W; ``phase_diagram`` reproduces the paper's one-feature phase change.
Shape names: instance, batch, feature (n_features), hidden (d_hidden).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch
from torch import nn

Floats = Union[float, Sequence[float], torch.Tensor]


# -- the model ---------------------------------------------------------------------------------

class ToyModel(nn.Module):
    """``n_instances`` independent toy models, trained side by side."""

    def __init__(self, n_features: int, d_hidden: int, n_instances: int = 1, seed: Optional[int] = 0):
        super().__init__()
        if not (isinstance(n_features, int) and isinstance(d_hidden, int) and n_features >= 1 and d_hidden >= 1):
            raise ValueError(f"n_features and d_hidden must be positive ints, got {n_features!r}, {d_hidden!r}")
        self.n_features, self.d_hidden, self.n_instances = n_features, d_hidden, n_instances
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        W = torch.empty(n_instances, n_features, d_hidden)
        std = math.sqrt(2 / (n_features + d_hidden))  # Xavier-normal, as in the paper's code
        W.normal_(0, std, generator=generator)
        self.W = nn.Parameter(W)  # [instance feature hidden]
        self.b = nn.Parameter(torch.zeros(n_instances, n_features))  # [instance feature]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:  # [batch instance feature] -> [batch instance hidden]
        return torch.einsum("bif,ifh->bih", x, self.W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch instance feature] -> same
        out = torch.einsum("bih,ifh->bif", self.hidden(x), self.W)
        return torch.relu(out + self.b)


def _per_instance(value: Floats, n_instances: int, n_features: int, name: str) -> torch.Tensor:
    """A float, a list per instance, or a tensor -> ``[instance feature]``."""
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.ndim == 0:
        t = t.expand(n_instances, n_features)
    elif t.ndim == 1 and t.shape[0] == n_features and n_instances != n_features:
        t = t.expand(n_instances, n_features)  # one value per feature, shared by every instance
    elif t.ndim == 1 and t.shape[0] == n_instances:
        t = t[:, None].expand(n_instances, n_features)
    if t.shape != (n_instances, n_features):
        raise ValueError(f"{name} must be a number, one value per instance ({n_instances}), one per feature "
                         f"({n_features}) or [instance, feature]; got shape {tuple(t.shape)}")
    return t.contiguous()


def importance_decay(n_features: int, decay: float) -> torch.Tensor:
    """Importance ``decay ** i`` of feature i, as in the paper (feature 0 is the most important)."""
    return decay ** torch.arange(n_features, dtype=torch.float32)


def generate_batch(batch: int, sparsity: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Sparse features ``[batch instance feature]``: 0 with probability ``sparsity``, else U[0, 1]."""
    n_instances, n_features = sparsity.shape
    values = torch.rand(batch, n_instances, n_features, generator=generator)
    present = torch.rand(batch, n_instances, n_features, generator=generator) >= sparsity
    return values * present


def weighted_mse(x: torch.Tensor, x_hat: torch.Tensor, importance: torch.Tensor) -> torch.Tensor:
    """The paper's loss per instance: sum over features of I_i (x_i - x'_i)^2, mean over the batch."""
    return (importance * (x - x_hat) ** 2).sum(-1).mean(0)  # [instance]


@dataclass
class ToyResult:
    """A trained batch of toy models and what they were trained on."""

    model: ToyModel
    sparsity: torch.Tensor  # [instance feature]
    importance: torch.Tensor  # [instance feature]
    loss: torch.Tensor  # [instance], final loss (averaged over the last steps)
    seconds: float

    @property
    def W(self) -> torch.Tensor:  # [instance feature hidden]
        return self.model.W.detach()

    @property
    def b(self) -> torch.Tensor:  # [instance feature]
        return self.model.b.detach()


def train_toy_models(n_features: int, d_hidden: int, sparsity: Floats, importance: Floats = 1.0,
                     n_instances: Optional[int] = None, steps: int = 2000, batch: int = 1024, lr: float = 1e-2,
                     seed: int = 0, schedule: str = "cosine") -> ToyResult:
    """Train a batch of toy models at once; ``sparsity`` and ``importance`` may differ per instance.

    Adam with a cosine-decayed learning rate (``schedule="constant"`` keeps it fixed: the plain loop
    chapter 09's learner writes). The paper uses lr 1e-3 for 10k steps; lr 1e-2 for 2k reaches the
    same arrangements about five times sooner, which is what lets a widget retrain live. The
    batches come from ``generate_batch`` with a generator seeded ``seed + 1``, one per step."""
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if n_instances is None:
        s = torch.as_tensor(sparsity)
        n_instances = s.shape[0] if s.ndim >= 1 and not (s.ndim == 1 and s.shape[0] == n_features) else 1
    S = _per_instance(sparsity, n_instances, n_features, "sparsity")
    I = _per_instance(importance, n_instances, n_features, "importance")
    if not bool(((S >= 0) & (S < 1)).all()):
        raise ValueError("sparsity is the probability that a feature is zero: it must be in [0, 1)")
    start = time.perf_counter()
    model = ToyModel(n_features, d_hidden, n_instances, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    tail = []
    threads = torch.get_num_threads()
    # These tensors are tiny: a second thread only adds synchronisation (on a busy 2-core machine,
    # several times slower), so train on one and give the setting back afterwards.
    torch.set_num_threads(1)
    try:
        for step in range(steps):
            if schedule == "cosine":
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            x = generate_batch(batch, S, generator)
            loss = weighted_mse(x, model(x), I)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()  # instances are independent: the sum trains each on its own loss
            optimizer.step()
            if step >= steps - 50:
                tail.append(loss.detach())
    finally:
        torch.set_num_threads(threads)
    return ToyResult(model.eval(), S, I, torch.stack(tail).mean(0), time.perf_counter() - start)


def train_toy(n: int = 5, m: int = 2, sparsity: float = 0.9, importance: Floats = 0.9, steps: int = 1500,
              seed: int = 0, restarts: int = 4) -> ToyResult:
    """One toy model (the best of ``restarts`` trained together), fast enough for a widget.

    ``importance`` is either a decay (a float: I_i = importance ** i) or one value per feature.
    Sparse settings have local minima (a feature left out that could fit); training a few
    restarts in the same batch and keeping the lowest loss avoids them at almost no extra cost."""
    imp = importance_decay(n, importance) if isinstance(importance, (int, float)) else torch.as_tensor(importance)
    res = train_toy_models(n, m, sparsity, imp, n_instances=restarts, steps=steps, batch=512, lr=1e-2, seed=seed)
    best = int(res.loss.argmin())
    keep = ToyModel(n, m, 1, seed=None)
    with torch.no_grad():
        keep.W.copy_(res.W[best : best + 1])
        keep.b.copy_(res.b[best : best + 1])
    return ToyResult(keep.eval(), res.sparsity[best : best + 1], res.importance[best : best + 1],
                     res.loss[best : best + 1], res.seconds)


# -- geometry of the features ------------------------------------------------------------------

def feature_norms(W: torch.Tensor) -> torch.Tensor:
    """||W_i||: about 1 when feature i is represented, about 0 when it is dropped. ``[... feature]``."""
    return W.norm(dim=-1)


def interference(W: torch.Tensor) -> torch.Tensor:
    """``[... feature feature]``: W_i_hat . W_j, how much of feature j feature i's read-out picks up
    (the diagonal is ||W_i||)."""
    unit = W / W.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return unit @ W.transpose(-1, -2)


def superposition_amount(W: torch.Tensor) -> torch.Tensor:
    """sum_{j != i} (W_i_hat . W_j)^2 per feature: 0 for a feature alone in its dimensions."""
    sq = interference(W) ** 2
    return sq.sum(-1) - sq.diagonal(dim1=-2, dim2=-1)


def dimensionality(W: torch.Tensor) -> torch.Tensor:
    """Dimensions per feature, D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2 (Elhage et al. 2022):
    1 for a dedicated dimension, 1/2 for an antipodal pair, 2/5 for a pentagon in a plane, 0 for a
    feature that is not represented. The numerator is the squared norm (not its fourth power), so
    D_i does not change when the model scales all of W; the denominator's j = i term is ||W_i||^2.
    ``[... feature]``."""
    norms = W.norm(dim=-1)
    denom = (interference(W) ** 2).sum(-1)
    return norms**2 / denom.clamp_min(1e-12)


def total_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """d_hidden / ||W||_F^2: hidden dimensions per feature embedded, averaged (the paper's D*)."""
    return W.shape[-1] / (W**2).sum((-1, -2))


# -- naming the arrangement --------------------------------------------------------------------

REPRESENTED = 0.5  # ||W_i|| above this: the feature is represented
ORTHOGONAL = 0.2  # |cos| below this: two features do not interfere
ANTIPODAL = -0.9  # cos below this: two features point in opposite directions
POLYGON_TOL = 0.25  # radians: how far a polygon's angles may be from 2 pi / k
POLYGON_NAMES = {3: "triangle", 5: "pentagon", 6: "hexagon", 7: "heptagon", 8: "octagon"}


@dataclass
class Arrangement:
    """What ``classify`` saw: a name and the per-feature facts it rests on."""

    name: str  # "dedicated", "antipodal pairs", "triangle", "pentagon", ..., "none represented", "mixed"
    represented: list[int]  # features with ||W_i|| > REPRESENTED
    not_represented: list[int]
    pairs: list[tuple[int, int]] = field(default_factory=list)  # antipodal partners

    def __str__(self) -> str:
        return f"{self.name} ({len(self.represented)} of {len(self.represented) + len(self.not_represented)} features represented)"


def classify(W: torch.Tensor) -> Arrangement:
    """Name the arrangement of one model's features, ``W: [feature hidden]``. The rules, in order:

    1. A feature is *represented* if ||W_i|| > 0.5; the rest are *not represented*.
    2. No represented feature: "none represented".
    3. Every pair of represented features has |cos| < 0.2: "dedicated" (each has its own
       direction, at most d_hidden of them).
    4. Represented features split into pairs with cos < -0.9, and every two features of different
       pairs have |cos| < 0.2: "antipodal pairs".
    5. With d_hidden = 2 and k >= 3 represented features whose directions, sorted by angle, are
       2 pi / k apart (within 0.25 rad) with norms within 30% of each other: a regular polygon
       ("triangle", "pentagon", ...). Four such features are two antipodal pairs, rule 4.
    6. Anything else: "mixed"."""
    if W.ndim != 2:
        raise ValueError(f"classify takes one model's W [feature hidden]; got shape {tuple(W.shape)} "
                         "(for a batch, classify W[i] for each instance)")
    W = W.detach().float()
    norms = feature_norms(W)
    rep = [i for i in range(W.shape[0]) if norms[i] > REPRESENTED]
    absent = [i for i in range(W.shape[0]) if i not in rep]
    if not rep:
        return Arrangement("none represented", rep, absent)
    unit = W[rep] / norms[rep, None]
    cos = unit @ unit.T
    off = cos + 3 * torch.eye(len(rep))  # diagonal pushed above every cosine, out of argmin's way
    if len(rep) == 1 or bool((cos.abs() < ORTHOGONAL).logical_or(torch.eye(len(rep), dtype=torch.bool)).all()):
        return Arrangement("dedicated", rep, absent)
    partner = off.argmin(-1)
    pairs = []
    ok = True
    for a in range(len(rep)):
        b = int(partner[a])
        if off[a, b] > ANTIPODAL or int(partner[b]) != a:
            ok = False
            break
        if a < b:
            pairs.append((rep[a], rep[b]))
    if ok:
        for a in range(len(rep)):
            for b in range(len(rep)):
                if a != b and int(partner[a]) != b and abs(float(cos[a, b])) >= ORTHOGONAL:
                    ok = False
        if ok:
            return Arrangement("antipodal pairs", rep, absent, pairs)
    if W.shape[1] == 2 and len(rep) >= 3:
        angles = torch.atan2(W[rep, 1], W[rep, 0]).sort().values
        gaps = torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi]))
        even = bool(((gaps - 2 * math.pi / len(rep)).abs() < POLYGON_TOL).all())
        similar = float(norms[rep].min() / norms[rep].max()) > 0.7
        if even and similar:
            return Arrangement(POLYGON_NAMES.get(len(rep), f"{len(rep)}-gon"), rep, absent)
    return Arrangement("mixed", rep, absent)


# -- the one-feature phase diagram (n = 2, m = 1) ----------------------------------------------

PHASES = ("not represented", "dedicated", "superposed")


def phase_of(W: torch.Tensor) -> str:
    """Phase of the *extra* feature (index 1) of an n=2, m=1 model, ``W: [2 1]``, as in the paper's
    Figure: "not represented" (||W_1|| < 0.5), "dedicated" (it has the dimension and feature 0 is
    dropped), or "superposed" (both are represented, pointing opposite ways: an antipodal pair)."""
    w = W.detach().reshape(2)
    if abs(float(w[1])) < REPRESENTED:
        return "not represented"
    if abs(float(w[0])) < REPRESENTED:
        return "dedicated"
    return "superposed"


@dataclass
class PhaseDiagram:
    relative_importance: torch.Tensor  # [n_r] importance of the extra feature (feature 0 has 1)
    sparsity: torch.Tensor  # [n_s]
    phase: list[list[str]]  # [n_s][n_r]
    W: torch.Tensor  # [n_s n_r 2 1]

    def phase_index(self) -> torch.Tensor:
        """``[n_s n_r]`` 0 not represented, 1 dedicated, 2 superposed (for an image plot)."""
        return torch.tensor([[PHASES.index(p) for p in row] for row in self.phase])

    def at(self, sparsity: float, relative_importance: float) -> str:
        i = int((self.sparsity - sparsity).abs().argmin())
        j = int((self.relative_importance - relative_importance).abs().argmin())
        return self.phase[i][j]


def phase_diagram(relative_importance: Sequence[float] = (0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 10.0),
                  sparsity: Sequence[float] = (0.0, 0.5, 0.8, 0.9, 0.97, 0.99),
                  steps: int = 1500, restarts: int = 6, batch: int = 256, seed: int = 0) -> PhaseDiagram:
    """Train n=2, m=1 models over a grid of (sparsity, relative importance of feature 1) in one
    batch (``restarts`` seeds per cell, keeping the lowest loss) and name each cell's phase.

    Restarts matter here: a run whose two weights start with the same sign must push one through
    zero to reach the antipodal pair, and a ReLU that has gone quiet on the way gives it no
    gradient; with six restarts per cell at least one starts on the right side."""
    r = torch.tensor(relative_importance, dtype=torch.float32)
    s = torch.tensor(sparsity, dtype=torch.float32)
    n_s, n_r = len(s), len(r)
    S = s[:, None, None].expand(n_s, n_r, restarts).reshape(-1)
    R = r[None, :, None].expand(n_s, n_r, restarts).reshape(-1)
    importance = torch.stack([torch.ones_like(R), R], -1)  # [instance 2]
    res = train_toy_models(2, 1, S, importance, n_instances=len(S), steps=steps, batch=batch, lr=1e-2, seed=seed)
    # Losses are only comparable within a cell (same sparsity and importance): pick per cell.
    loss = res.loss.view(n_s, n_r, restarts)
    W = res.W.view(n_s, n_r, restarts, 2, 1)
    best = loss.argmin(-1)
    W_best = torch.gather(W, 2, best[:, :, None, None, None].expand(n_s, n_r, 1, 2, 1)).squeeze(2)
    phases = [[phase_of(W_best[i, j]) for j in range(n_r)] for i in range(n_s)]
    return PhaseDiagram(r, s, phases, W_best)


# -- a sweep over sparsity, for the chapter's figure -------------------------------------------

def sparsity_sweep(n: int = 5, m: int = 2, sparsities: Sequence[float] = (0.0, 0.7, 0.9, 0.97, 0.99),
                   decay: float = 0.9, steps: int = 2000, restarts: int = 4, seed: int = 0) -> dict:
    """Train n-feature, m-dimension models at several sparsities in one batch; return for each
    sparsity the best restart's W, its arrangement and its dimensionality per feature."""
    k = len(sparsities)
    S = torch.tensor(sparsities, dtype=torch.float32).repeat_interleave(restarts)
    res = train_toy_models(n, m, S, importance_decay(n, decay), n_instances=k * restarts, steps=steps, seed=seed)
    out = {}
    for i, sp in enumerate(sparsities):
        block = slice(i * restarts, (i + 1) * restarts)
        j = i * restarts + int(res.loss[block].argmin())
        W = res.W[j]
        out[float(sp)] = {"W": W, "b": res.b[j], "arrangement": classify(W), "dimensionality": dimensionality(W),
                          "loss": float(res.loss[j])}
    return out
