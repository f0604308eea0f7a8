"""Chapter 08, grokking: reference solutions, their hints and the known mistakes.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; it may use ``torch``, ``F``, ``math`` and the
functions of earlier exercises of the same chapter. The ``_wrong_*`` functions are the mistakes
``check`` names. The course's own versions (used to train and analyse the shipped run) live in
``course/modadd.py``; a test holds the two to the same answers.

Conventions of the chapter: p is odd (113 for the shipped run); logits of every pair are a
``[p*p, p]`` tensor whose row ``a*p + b`` holds the answer logits of ``a + b = ?``; a frequency is
an integer k in 1 .. p // 2 with angular frequency w_k = 2 pi k / p.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "08"
TITLE = "Grokking"


# -- the Fourier basis of Z_p --------------------------------------------------------------------

def fourier_basis(p: int) -> torch.Tensor:
    """The Fourier basis of functions on Z_p as a [p, p] float32 tensor of orthonormal rows:
    row 0 the constant, then for k = 1 .. p // 2 the rows cos(w_k x) (row 2k - 1) and
    sin(w_k x) (row 2k), x = 0 .. p - 1, w_k = 2 pi k / p. Each row has norm 1."""
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * x / p))
        rows.append(torch.sin(2 * math.pi * k * x / p))
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()


def _wrong_basis_unnormalised(p):
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    return torch.stack(rows).float()


def _wrong_basis_no_2pi_over_p(p):
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(k * x), torch.sin(k * x)]
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()


def _wrong_basis_sin_first(p):
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows += [torch.sin(2 * math.pi * k * x / p), torch.cos(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()


def _wrong_basis_transposed(p):
    return fourier_basis(p).T.contiguous()


def _basis_cases():
    return [Case("p = 5", (5,)), Case("p = 13", (13,)), Case("p = 113, the chapter's", (113,))]


# -- key frequencies of the embedding ------------------------------------------------------------

def key_frequencies(W_E: torch.Tensor, k: int) -> list[int]:
    """The k frequencies (integers 1 .. p // 2) in which the number embeddings have the most
    squared norm, strongest first. W_E: [p, d_model], the embeddings of the numbers 0 .. p - 1
    (drop the '=' row first). A frequency's power is the squared norm of its cosine and sine
    coefficients together; the constant (frequency 0) is not a frequency here."""
    p = W_E.shape[0]
    coeffs = fourier_basis(p) @ W_E.float()  # [p d_model]
    power = coeffs[1::2].pow(2).sum(-1) + coeffs[2::2].pow(2).sum(-1)  # [p // 2], frequency 1 first
    return [int(i) + 1 for i in power.argsort(descending=True)[:k]]


def _wrong_key_rows_not_frequencies(W_E, k):
    coeffs = fourier_basis(W_E.shape[0]) @ W_E.float()
    power = coeffs.pow(2).sum(-1)
    power[0] = 0
    return [int(i) for i in power.argsort(descending=True)[:k]]


def _wrong_key_with_constant(W_E, k):
    p = W_E.shape[0]
    coeffs = fourier_basis(p) @ W_E.float()
    power = torch.cat([coeffs[:1].pow(2).sum(-1), coeffs[1::2].pow(2).sum(-1) + coeffs[2::2].pow(2).sum(-1)])
    return [int(i) for i in power.argsort(descending=True)[:k]]


def _wrong_key_cos_only(W_E, k):
    coeffs = fourier_basis(W_E.shape[0]) @ W_E.float()
    power = coeffs[1::2].pow(2).sum(-1)
    return [int(i) + 1 for i in power.argsort(descending=True)[:k]]


def _wrong_key_ascending(W_E, k):
    coeffs = fourier_basis(W_E.shape[0]) @ W_E.float()
    power = coeffs[1::2].pow(2).sum(-1) + coeffs[2::2].pow(2).sum(-1)
    return [int(i) + 1 for i in power.argsort()[:k]]


def _embedding(p, d_model, freqs, seed, phase=True, offset=0.0):
    """A synthetic number embedding: a few frequencies, each of its own strength, in random
    directions, plus a constant offset and a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(p, dtype=torch.float32)
    W = 0.05 * torch.randn(p, d_model, generator=g) + offset * torch.randn(1, d_model, generator=g)
    for i, f in enumerate(freqs):
        strength = 3.0 - 0.4 * i
        shift = float(torch.rand(1, generator=g)) * 2 * math.pi if phase else 0.0
        u, v = torch.randn(2, d_model, generator=g)
        W += strength * (torch.cos(2 * math.pi * f * x / p + shift)[:, None] * u[None]
                         + torch.sin(2 * math.pi * f * x / p + shift)[:, None] * v[None]) / math.sqrt(d_model)
    return W


def _sine_and_cosine(p, d_model):
    """A strong pure sine at frequency 4 and a weaker pure cosine at frequency 9."""
    x = torch.arange(p, dtype=torch.float32)
    g = torch.Generator().manual_seed(4)
    u, v = torch.randn(2, d_model, generator=g)
    return (3.0 * torch.sin(2 * math.pi * 4 * x / p)[:, None] * u + 2.0 * torch.cos(2 * math.pi * 9 * x / p)[:, None] * v
            + 0.05 * torch.randn(p, d_model, generator=g))


def _key_cases():
    return [
        Case("three frequencies, p = 31", (_embedding(31, 16, [7, 2, 12], 1), 3)),
        Case("one pure cosine, frequency 3, p = 13", (_embedding(13, 8, [3], 0, phase=False), 1)),
        Case("a strong sine and a weaker cosine, p = 23", (_sine_and_cosine(23, 8), 2)),
        Case("a large constant offset, p = 31", (_embedding(31, 16, [9, 4], 2, offset=5.0), 2)),
        Case("five frequencies, p = 113", (_embedding(113, 32, [14, 35, 41, 42, 52], 3), 5)),
    ]


# -- restricted and excluded loss ----------------------------------------------------------------

def key_directions(p: int, freqs: list[int]) -> torch.Tensor:
    """The directions the Fourier circuit reads out, as functions of the pair (a, b):
    cos(w_k (a + b)) and sin(w_k (a + b)) for each k in freqs, in that order, each a vector over
    the p*p pairs (entry a*p + b), normalised to norm 1. Returns [2 * len(freqs), p*p]."""
    s = (torch.arange(p)[:, None] + torch.arange(p)[None, :]).flatten().double()  # a + b at a*p + b
    rows = []
    for k in freqs:
        rows.append(torch.cos(2 * math.pi * k * s / p))
        rows.append(torch.sin(2 * math.pi * k * s / p))
    rows = torch.stack(rows)
    return (rows / rows.norm(dim=1, keepdim=True)).float()


def restricted_loss(logits: torch.Tensor, labels: torch.Tensor, freqs: list[int]) -> float:
    """Cross-entropy on all pairs of the logits [p*p, p] restricted to the key frequencies: for
    each answer c, project the logits (a function of the pair) onto the key directions and keep
    only that projection. labels: [p*p], the right answers. Returns a Python float."""
    p = logits.shape[-1]
    D = key_directions(p, freqs)  # [2K p*p], orthonormal rows
    kept = D.T @ (D @ logits.float())  # [p*p p]
    return F.cross_entropy(kept.double(), labels).item()


def excluded_loss(logits: torch.Tensor, labels: torch.Tensor, freqs: list[int], train: torch.Tensor) -> float:
    """Cross-entropy on the training pairs (indices ``train``) of the logits [p*p, p] with their
    key-frequency part removed: the logits minus their projection onto the key directions.
    Returns a Python float."""
    p = logits.shape[-1]
    D = key_directions(p, freqs)
    removed = logits.float() - D.T @ (D @ logits.float())
    return F.cross_entropy(removed[train].double(), labels[train]).item()


def _wrong_dirs_not_normalised(p, freqs):
    s = (torch.arange(p)[:, None] + torch.arange(p)[None, :]).flatten().double()
    rows = []
    for k in freqs:
        rows += [torch.cos(2 * math.pi * k * s / p), torch.sin(2 * math.pi * k * s / p)]
    return torch.stack(rows).float()


def _wrong_dirs_cos_only(p, freqs):
    s = (torch.arange(p)[:, None] + torch.arange(p)[None, :]).flatten().double()
    rows = torch.stack([torch.cos(2 * math.pi * k * s / p) for k in freqs])
    return (rows / rows.norm(dim=1, keepdim=True)).float()


def _wrong_dirs_of_a_only(p, freqs):
    a = torch.arange(p).repeat_interleave(p).double()
    rows = []
    for k in freqs:
        rows += [torch.cos(2 * math.pi * k * a / p), torch.sin(2 * math.pi * k * a / p)]
    rows = torch.stack(rows)
    return (rows / rows.norm(dim=1, keepdim=True)).float()


def _wrong_restricted_project_answers(logits, labels, freqs):
    """Projects over the answer dimension c instead of over the pairs (a, b)."""
    p = logits.shape[-1]
    x = torch.arange(p).double()
    rows = []
    for k in freqs:
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    D = torch.stack(rows)
    D = (D / D.norm(dim=1, keepdim=True)).float()  # [2K p]
    return F.cross_entropy((logits.float() @ D.T @ D).double(), labels).item()


def _restricted_with(directions):
    def fn(logits, labels, freqs):
        D = directions(logits.shape[-1], freqs)
        return F.cross_entropy((D.T @ (D @ logits.float())).double(), labels).item()
    return fn


def _excluded_with(directions):
    def fn(logits, labels, freqs, train):
        D = directions(logits.shape[-1], freqs)
        removed = logits.float() - D.T @ (D @ logits.float())
        return F.cross_entropy(removed[train].double(), labels[train]).item()
    return fn


def _wrong_excluded_all_pairs(logits, labels, freqs, train):
    D = key_directions(logits.shape[-1], freqs)
    removed = logits.float() - D.T @ (D @ logits.float())
    return F.cross_entropy(removed.double(), labels).item()


def _wrong_excluded_kept_instead(logits, labels, freqs, train):
    D = key_directions(logits.shape[-1], freqs)
    kept = D.T @ (D @ logits.float())
    return F.cross_entropy(kept[train].double(), labels[train]).item()


def _grid_logits(p, freqs, seed, memorised=0.0):
    """Logits of a Fourier circuit, sum_k cos(w_k (a + b - c)), plus ``memorised`` times random
    per-pair noise (what a lookup table would add)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.arange(p).repeat_interleave(p)[:, None]
    b = torch.arange(p).repeat(p)[:, None]
    c = torch.arange(p)[None, :]
    logits = sum((2.0 + i) * torch.cos(2 * math.pi * k * (a + b - c) / p) for i, k in enumerate(freqs))
    return (logits + memorised * torch.randn(p * p, p, generator=g)).float()


def _loss_cases(with_train: bool):
    cases = []
    for label, p, freqs, noise, seed in [("a clean Fourier circuit, p = 13", 13, [2, 5], 0.0, 0),
                                         ("a circuit plus memorisation noise, p = 13", 13, [3], 2.0, 1),
                                         ("pure noise, p = 17", 17, [1, 4, 6], 3.0, 2)]:
        logits = _grid_logits(p, freqs, seed, noise) if noise < 3 else 3.0 * torch.randn(
            p * p, p, generator=torch.Generator().manual_seed(seed))
        labels = (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)) % p
        train = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))[: (3 * p * p) // 10].sort().values
        cases.append(Case(label, (logits, labels, freqs) + ((train,) if with_train else ())))
    return cases


EXERCISES = [
    Exercise(
        "fourier_basis", CHAPTER, fourier_basis, _basis_cases,
        hints=["Build the rows in a list: torch.ones(p), then for k in range(1, p // 2 + 1) append "
               "torch.cos(2 * math.pi * k * x / p) and torch.sin(2 * math.pi * k * x / p), x = torch.arange(p).",
               "Stack them into [p, p] and divide each row by its norm: basis / basis.norm(dim=1, keepdim=True)."],
        mistakes=[
            Mistake("unnormalised", _wrong_basis_unnormalised,
                    "Did you normalise each row? The rows must have norm 1 (divide by basis.norm(dim=1, "
                    "keepdim=True)), so that projecting onto them measures how much of a vector they hold."),
            Mistake("no 2pi/p", _wrong_basis_no_2pi_over_p,
                    "Is the angle 2 pi k x / p? cos(k x) is not periodic in x with period p; frequency k on Z_p "
                    "means k full turns as x goes from 0 to p."),
            Mistake("sin first", _wrong_basis_sin_first,
                    "Did you put the sine before the cosine? Row 2k - 1 is cos(w_k x) and row 2k is sin(w_k x)."),
            Mistake("transposed", _wrong_basis_transposed,
                    "Did you stack the functions as columns? Each row is one basis function (basis[i] is a "
                    "function of x): use torch.stack(rows), not torch.stack(rows, dim=1)."),
        ],
    ),
    Exercise(
        "key_frequencies", CHAPTER, key_frequencies, _key_cases,
        hints=["Change basis: coeffs = fourier_basis(p) @ W_E is [p, d_model], one row per basis function.",
               "A frequency k owns two rows, 2k - 1 (cos) and 2k (sin): power_k = the squared norms of both rows "
               "added; coeffs[1::2] and coeffs[2::2] line them up.",
               "power.argsort(descending=True)[:k] gives positions 0, 1, ... which are frequencies 1, 2, ...: add 1."],
        mistakes=[
            Mistake("basis rows", _wrong_key_rows_not_frequencies,
                    "Did you return basis rows instead of frequencies? Rows 2k - 1 and 2k are both frequency k: add "
                    "their powers, then return k."),
            Mistake("with constant", _wrong_key_with_constant,
                    "Did you count the constant as a frequency? Row 0 (the mean of the embeddings) is not a "
                    "frequency: rank only k = 1 .. p // 2."),
            Mistake("cos only", _wrong_key_cos_only,
                    "Did you use only the cosine rows? A frequency's power is cos and sin together: a shifted wave "
                    "cos(w x + phi) splits between them."),
            Mistake("ascending", _wrong_key_ascending,
                    "Did you sort the wrong way? Return the strongest frequencies first (argsort(descending=True))."),
        ],
    ),
    Exercise(
        "key_directions", CHAPTER, key_directions,
        lambda: [Case("p = 7, one frequency", (7, [2])), Case("p = 13, two frequencies", (13, [5, 1])),
                 Case("p = 113, the chapter's", (113, [14, 35, 41]))],
        hints=["s = a + b for every pair, in the order a*p + b: (torch.arange(p)[:, None] + torch.arange(p)[None, :])"
               ".flatten().",
               "For each k append cos(2 pi k s / p) and sin(2 pi k s / p), stack, and normalise each row to norm 1."],
        mistakes=[
            Mistake("unnormalised", _wrong_dirs_not_normalised,
                    "Did you normalise the directions? Each row needs norm 1 for D.T @ (D @ x) to be a projection."),
            Mistake("cos only", _wrong_dirs_cos_only,
                    "Did you leave out the sines? The circuit reads both cos(w (a + b)) and sin(w (a + b)): two rows "
                    "per frequency."),
            Mistake("a only", _wrong_dirs_of_a_only,
                    "Are your directions functions of a + b? The answer depends on the sum, so the readout directions "
                    "are cos(w_k (a + b)), not cos(w_k a)."),
        ],
    ),
    Exercise(
        "restricted_loss", CHAPTER, restricted_loss, lambda: _loss_cases(False),
        hints=["D = key_directions(p, freqs) is [2K, p*p] with orthonormal rows; D.T @ (D @ logits) projects every "
               "answer's column of logits onto them.",
               "Then F.cross_entropy(kept, labels) over all pairs, and .item()."],
        mistakes=[
            Mistake("over answers", _wrong_restricted_project_answers,
                    "Did you project over the answers instead of over the pairs? The key directions are functions of "
                    "(a, b): multiply from the left, D.T @ (D @ logits), with logits [p*p, p]."),
            Mistake("unnormalised", _restricted_with(_wrong_dirs_not_normalised),
                    "Are your directions normalised? Without norm 1 the 'projection' scales the logits by p^2 / 2."),
            Mistake("cos only", _restricted_with(_wrong_dirs_cos_only),
                    "Did you keep the sine directions too? cos(w (a + b - c)) needs both cos(w (a + b)) and "
                    "sin(w (a + b))."),
        ],
    ),
    Exercise(
        "excluded_loss", CHAPTER, excluded_loss, lambda: _loss_cases(True),
        hints=["Subtract the projection: removed = logits - D.T @ (D @ logits).",
               "Evaluate on the training pairs only: removed[train] against labels[train]."],
        mistakes=[
            Mistake("all pairs", _wrong_excluded_all_pairs,
                    "Did you evaluate on all pairs? The excluded loss is a training loss: index with `train`, since "
                    "the question is whether memorisation alone still fits the training data."),
            Mistake("kept, not removed", _wrong_excluded_kept_instead,
                    "Did you keep the key-frequency part instead of removing it? Excluded means logits minus their "
                    "projection onto the key directions."),
            Mistake("cos only", _excluded_with(_wrong_dirs_cos_only),
                    "Did you remove the sine directions too? Remove both cos(w (a + b)) and sin(w (a + b)) per key "
                    "frequency."),
        ],
    ),
]


# -- the Fourier analysis of the MLP neurons ---------------------------------------------------------

def neuron_frequency_shares(acts: torch.Tensor, p: int) -> torch.Tensor:
    """For every neuron, the share of its activation variance over all p^2 pairs (a, b) that each
    frequency k = 1 .. p // 2 explains. acts: [p*p d_mlp], row a*p + b. Write each neuron's
    activations as a p x p grid over (a, b) and change both axes to the Fourier basis
    (fourier_basis(p), rows: constant, cos 1, sin 1, cos 2, ...). Frequency k explains the squared
    coefficients whose a-index and b-index are both among {constant, cos k, sin k}, except the
    (constant, constant) one, which is the mean: terms in a alone, b alone, and their products.
    Divide by the neuron's variance times p^2 (all squared coefficients except the constant's).
    -> [d_mlp p // 2]."""
    grid = acts.reshape(p, p, -1)  # [a b neuron]
    basis = fourier_basis(p)
    # one axis at a time: einsum("ia,jb,abn->ijn", ...) in one call may first build the [p p p p]
    # product of the two bases (652 MB at p = 113)
    along_a = torch.einsum("ia,abn->ibn", basis, grid)  # [freq_a b neuron]
    power = torch.einsum("jb,ibn->ijn", basis, along_a).pow(2)  # [freq_a freq_b neuron]
    total = power.sum((0, 1)) - power[0, 0]
    shares = []
    for k in range(1, p // 2 + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        shares.append((power[idx][:, idx].sum((0, 1)) - power[0, 0]) / total)
    return torch.stack(shares, dim=-1)


def _neuron_shares_with(acts, p, terms, keep_constant=False, square=True):
    grid = acts.reshape(p, p, -1)
    basis = fourier_basis(p)
    coeffs = torch.einsum("jb,ibn->ijn", basis, torch.einsum("ia,abn->ibn", basis, grid))
    power = coeffs.pow(2) if square else coeffs.abs()
    const = 0 if keep_constant else power[0, 0]
    total = power.sum((0, 1)) - const
    shares = []
    for k in range(1, p // 2 + 1):
        c = [2 * k - 1, 2 * k]
        s = 0
        if "linear" in terms:
            s = s + power[0, c].sum(0) + power[c, 0].sum(0)
        if "product" in terms:
            s = s + power[c][:, c].sum((0, 1))
        if keep_constant:
            s = s + power[0, 0]
        shares.append(s / total)
    return torch.stack(shares, dim=-1)


def _wrong_neuron_keep_constant(acts, p):
    return _neuron_shares_with(acts, p, ("linear", "product"), keep_constant=True)


def _wrong_neuron_linear_only(acts, p):
    return _neuron_shares_with(acts, p, ("linear",))


def _wrong_neuron_products_only(acts, p):
    return _neuron_shares_with(acts, p, ("product",))


def _wrong_neuron_amplitude(acts, p):
    return _neuron_shares_with(acts, p, ("linear", "product"), square=False)


def _neuron_cases():
    g = torch.Generator().manual_seed(11)
    p = 7
    a = torch.arange(p).repeat_interleave(p).float()
    b = torch.arange(p).repeat(p).float()
    w = 2 * math.pi / p
    waves = torch.stack([1 + torch.cos(w * 2 * a) * torch.cos(w * 2 * b), 3 + torch.sin(w * a) + 0.5 * torch.cos(w * 3 * b),
                         torch.relu(torch.cos(w * (a + b)))], dim=-1)  # three neurons, 2 and 3 with mixed terms
    return [Case("random activations, p = 7, 5 neurons", (torch.randn(p * p, 5, generator=g) + 2, p)),
            Case("waves plus noise, p = 7, 3 neurons", (waves + 0.1 * torch.randn(p * p, 3, generator=g), p)),
            Case("random activations, p = 11, 4 neurons", (torch.rand(11 * 11, 4, generator=g), 11))]


EXERCISES.append(Exercise(
    "neuron_frequency_shares", "08", neuron_frequency_shares, _neuron_cases,
    hints=["grid = acts.reshape(p, p, -1) is [a b neuron]; torch.einsum('ia,abn->ibn', B, grid), then "
           "torch.einsum('jb,ibn->ijn', B, that), changes both axes to the Fourier basis B = fourier_basis(p) (one "
           "einsum over both bases at once may build a p^4 intermediate: 652 MB at p = 113). The squares of those "
           "coefficients add up to the squares "
           "of the grid (B is orthonormal).",
           "For frequency k the rows and columns to keep are [0, 2k - 1, 2k]; sum their 3 x 3 block of squared "
           "coefficients, subtract the [0, 0] one (the mean), divide by the sum of all of them minus the [0, 0] one."],
    mistakes=[
        Mistake("constant kept", _wrong_neuron_keep_constant,
                "Did you leave in the (constant, constant) coefficient? That is the neuron's mean, not its variance: "
                "subtract power[0, 0] from the total and from every frequency's block."),
        Mistake("linear terms only", _wrong_neuron_linear_only,
                "Did you keep only the terms in a alone and b alone? The products cos(w a) cos(w b), ... are the "
                "point of the circuit: take the whole 3 x 3 block of rows and columns [0, 2k - 1, 2k]."),
        Mistake("products only", _wrong_neuron_products_only,
                "Did you keep only the products of two waves? The terms in a alone or b alone (row or column 0) "
                "are part of the frequency too."),
        Mistake("amplitude", _wrong_neuron_amplitude,
                "Did you add the coefficients' absolute values? Variance adds up in squares: square them."),
    ],
))


# -- open exercises: worked answers ------------------------------------------------------------------

@torch.no_grad()
def worked_neurons_over_training(freqs=(18, 15, 1, 8, 47)) -> dict[int, dict[str, float]]:
    """Open question: when do the MLP neurons become frequency neurons: at memorisation, during
    circuit formation, or only in cleanup? Worked answer: on every shipped snapshot, the share of
    neurons whose strongest frequency is one of the final key frequencies, and the median share of
    its variance that a neuron's strongest frequency explains, beside the test accuracy."""
    from course import modadd

    card = modadd.card()
    data = modadd.make_data(modadd.P, card["data"]["frac_train"], card["data"]["seed"])
    out = {}
    for step, snap in sorted(modadd.load_series().items()):
        _, cache = snap.run_with_cache(data.tokens, names_filter="blocks.0.mlp.hook_post")
        shares = neuron_frequency_shares(cache["blocks.0.mlp.hook_post"][:, -1].float(), modadd.P)
        best = shares.argmax(-1) + 1
        out[step] = {"on key frequency": torch.isin(best, torch.tensor(list(freqs))).float().mean().item(),
                     "median best share": shares.max(-1).values.nanmedian().item(),
                     "test acc": modadd.evaluate(snap, data)["test_acc"]}
    return out


@torch.no_grad()
def worked_live_neurons(live_model) -> dict[str, object]:
    """Open question: your live model (p = 71) stopped as soon as it grokked. Are its neurons
    frequency neurons too, and do they read its own key frequencies? Worked answer: the same
    analysis on its MLP, over all 71^2 pairs."""
    from course import modadd

    p = modadd.LIVE.p
    data = modadd.make_data(p, modadd.LIVE.frac_train, modadd.LIVE.data_seed)
    _, cache = live_model.run_with_cache(data.tokens, names_filter="blocks.0.mlp.hook_post")
    shares = neuron_frequency_shares(cache["blocks.0.mlp.hook_post"][:, -1], p)
    best = shares.argmax(-1) + 1
    key = modadd.key_frequencies(live_model.W_E, 5, p)
    return {"key frequencies": key,
            "on key frequency": torch.isin(best, torch.tensor(key)).float().mean().item(),
            "median best share": shares.max(-1).values.nanmedian().item(),
            "neurons per frequency": {k: int((best == k).sum()) for k in key}}


WORKED = {"neurons_over_training": worked_neurons_over_training, "live_neurons": worked_live_neurons}
