"""SuperpositionExplorer: a toy model of superposition (course.superposition) with n features in a
2-dimensional hidden space, retrained on the Python side whenever the sparsity or importance slider
moves (about a second), its feature directions W_i drawn as arrows in the plane, coloured by
importance, with the arrangement's name and each feature's dimensionality."""

from __future__ import annotations

import math
import time

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, css, esm, pack


class SuperpositionExplorer(BaseWidget):
    _esm = esm("superposition.js")
    _css = css("superposition.css")

    n_features = t.Int(5, help="Number of features n (hidden space is 2-dimensional).").tag(sync=True)
    sparsity = t.Float(0.9, help="Probability that a feature is 0 (S), in [0, 1).").tag(sync=True)
    importance_decay = t.Float(0.9, help="Importance of feature i is decay ** i.").tag(sync=True)
    steps = t.Int(1000, help="Training steps per retrain.").tag(sync=True)
    seed = t.Int(0, help="Seed of the initialisation and data.").tag(sync=True)
    W = t.Bytes(b"", help="float32 bytes [n_features, 2]: feature directions (rows of W).").tag(sync=True)
    importance = t.Bytes(b"", help="float32 bytes [n_features]: importance of each feature.").tag(sync=True)
    dimensionality = t.Bytes(b"", help="float32 bytes [n_features]: dimensions per feature D_i.").tag(sync=True)
    arrangement = t.Unicode("", help="Name of the arrangement (course.superposition.classify).").tag(sync=True)
    loss = t.Float(0.0, help="Final importance-weighted loss.").tag(sync=True)
    train_seconds = t.Float(0.0, help="Time the last retrain took.").tag(sync=True)
    status = t.Unicode("idle", help="'training', 'done' or an error message.").tag(sync=True)

    def __init__(self, n_features: int = 5, sparsity: float = 0.9, importance_decay: float = 0.9, *,
                 steps: int = 1000, seed: int = 0, train: bool = True) -> None:
        self._check(n_features, sparsity, importance_decay, steps)
        super().__init__(n_features=int(n_features), sparsity=float(sparsity),
                         importance_decay=float(importance_decay), steps=int(steps), seed=int(seed))
        self.observe(self._changed, names=["n_features", "sparsity", "importance_decay", "steps", "seed"])
        if train:
            self.retrain()

    @staticmethod
    def _check(n_features, sparsity, importance_decay, steps) -> None:
        if not (isinstance(n_features, int) and 2 <= n_features <= 16):
            raise WidgetInputError(f"n_features must be an int from 2 to 16 (drawn in a plane); got {n_features!r}.")
        if not (isinstance(sparsity, (int, float)) and 0 <= sparsity < 1 and math.isfinite(sparsity)):
            raise WidgetInputError(
                f"sparsity is the probability that a feature is zero: it must be in [0, 1); got {sparsity!r}. "
                "For a feature density of 1%, pass sparsity=0.99.")
        if not (isinstance(importance_decay, (int, float)) and 0 < importance_decay <= 1):
            raise WidgetInputError(
                f"importance_decay must be in (0, 1] (importance of feature i is decay ** i); got {importance_decay!r}.")
        if not (isinstance(steps, int) and 10 <= steps <= 20000):
            raise WidgetInputError(f"steps must be an int from 10 to 20000; got {steps!r}.")

    @t.validate("sparsity")
    def _valid_sparsity(self, proposal):
        self._check(self.n_features, proposal["value"], self.importance_decay, self.steps)
        return proposal["value"]

    @t.validate("importance_decay")
    def _valid_decay(self, proposal):
        self._check(self.n_features, self.sparsity, proposal["value"], self.steps)
        return proposal["value"]

    @t.validate("n_features")
    def _valid_n(self, proposal):
        self._check(proposal["value"], self.sparsity, self.importance_decay, self.steps)
        return proposal["value"]

    def _changed(self, change) -> None:
        try:
            self._check(self.n_features, self.sparsity, self.importance_decay, self.steps)
        except WidgetInputError as e:
            self.status = f"error: {e}"
            return
        self.retrain()

    def retrain(self):
        """Train a fresh toy model with the current settings; returns course.superposition's result."""
        from course import superposition as sp

        self.status = "training"
        start = time.perf_counter()
        res = sp.train_toy(self.n_features, 2, self.sparsity, self.importance_decay, steps=self.steps, seed=self.seed)
        W = res.W[0]
        with self.hold_sync():
            self.W = pack(W.numpy(), "float32")
            self.importance = pack(res.importance[0].numpy(), "float32")
            self.dimensionality = pack(sp.dimensionality(W).numpy(), "float32")
            self.arrangement = str(sp.classify(W))
            self.loss = float(res.loss[0])
            self.train_seconds = time.perf_counter() - start
            self.status = "done"
        return res

    @classmethod
    def from_weights(cls, W, importance=None, sparsity: float = 0.9, importance_decay: float = 0.9):
        """Show an already trained model's directions, W [n_features, 2] (for example one of
        course.superposition.sparsity_sweep's); moving a slider retrains from scratch as usual."""
        import torch

        from course import superposition as sp

        W = torch.as_tensor(np.asarray(W, dtype=np.float32))
        if W.ndim != 2 or W.shape[1] != 2:
            raise WidgetInputError(f"W must be [n_features, 2] (a model with a 2-d hidden space); got shape {tuple(W.shape)}.")
        n = W.shape[0]
        imp = sp.importance_decay(n, importance_decay) if importance is None else torch.as_tensor(
            np.asarray(importance, dtype=np.float32))
        if imp.shape != (n,):
            raise WidgetInputError(f"importance must have one value per feature ({n}); got shape {tuple(imp.shape)}.")
        w = cls(n_features=n, sparsity=sparsity, importance_decay=importance_decay, train=False)
        with w.hold_sync():
            w.W = pack(W.numpy(), "float32")
            w.importance = pack(imp.numpy(), "float32")
            w.dimensionality = pack(sp.dimensionality(W).numpy(), "float32")
            w.arrangement = str(sp.classify(W))
            w.status = "done"
        return w

    def directions(self) -> np.ndarray:
        """The feature directions now shown, [n_features, 2]."""
        return np.frombuffer(self.W, dtype="<f4").reshape(-1, 2)
