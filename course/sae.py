"""Sparse autoencoders (SAEs) on the residual stream: training, the field's metrics, feature
dashboards, labels from top examples, TinyWorld's landmark features, and steering with them.

An SAE rewrites an activation x [d_in] as a sparse, non-negative combination of many more feature
directions: ``f = act((x - b_dec) @ W_enc + b_enc)``, ``x_hat = f @ W_dec + b_dec``. Rows of
``W_dec [d_sae d_in]`` are the feature directions (the columns of the decoder matrix in papers
that write it d_in x d_sae) and are kept at unit norm, so a feature's size lives in ``f`` alone.
The activation is either ReLU with an L1 penalty (Bricken et al. 2023) or top-k, which keeps the
k largest pre-activations (Gao et al. 2024) and sets the sparsity directly. The shipped SAE is
top-k with the AuxK loss of Gao et al. against dead features; ``python -m course.sae train``
reproduces it and its card. Shape names: batch, pos, d_in (= d_model), d_sae, d_vocab.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course import tinyworld

CHECKPOINT_DIR = Path(str(resources.files("course") / "checkpoints"))
NAME = "tinyworld-sae"


# -- the autoencoder ---------------------------------------------------------------------------

@dataclass
class SAEConfig:
    d_in: int = 128  # width of the activation it reads (the model's d_model)
    d_sae: int = 1024  # number of features (8x d_in)
    activation: str = "topk"  # "topk" (keep the k largest) or "relu" (ReLU, sparsity from the L1 penalty)
    k: int = 32  # features kept per token ("topk" only)
    l1_coefficient: float = 5.0  # weight of the L1 penalty ("relu" only); see SAE.loss for its units
    hook_name: str = "blocks.2.hook_resid_post"  # where in the model it reads and writes

    def __post_init__(self):
        if self.activation not in ("topk", "relu"):
            raise ValueError(f"SAEConfig.activation must be 'topk' or 'relu', got {self.activation!r}")
        if self.activation == "topk" and not 1 <= self.k <= self.d_sae:
            raise ValueError(f"SAEConfig.k must be in 1..d_sae={self.d_sae}, got {self.k}")

    def to_dict(self) -> dict:
        return asdict(self)


class SAE(nn.Module):
    def __init__(self, cfg: SAEConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        generator = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(cfg.d_sae, cfg.d_in, generator=generator)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)  # [d_sae d_in], unit rows: the feature directions
        self.W_enc = nn.Parameter(W_dec.T.clone())  # [d_in d_sae], starts as the decoder's transpose
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:  # [... d_in] -> [... d_sae]
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        acts = F.relu(pre)
        if self.cfg.activation == "topk":
            values, index = acts.topk(self.cfg.k, dim=-1)
            acts = torch.zeros_like(acts).scatter_(-1, index, values)
        return acts

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # [... d_in] -> [... d_sae], sparse, >= 0
        return self.activate(self.pre_acts(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:  # [... d_sae] -> [... d_in]
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction x_hat of x."""
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor, dead: Optional[torch.Tensor] = None, aux_k: int = 64,
             aux_coefficient: float = 1 / 32) -> dict[str, torch.Tensor]:
        """Loss terms on a batch ``x [batch d_in]``. The reconstruction term is the fraction of
        variance unexplained, ||x - x_hat||^2 / ||x - mean(x)||^2 (the MSE in units of the data's
        variance, so the coefficients do not depend on the scale of the residual stream).
        "relu": + l1_coefficient * mean over tokens of sum_i f_i ||W_dec[i]|| / rms norm of x.
        "topk": + aux_coefficient * AuxK, the dead features' top aux_k pre-activations asked to
        reconstruct what the live ones missed, which gives dead features a gradient again."""
        pre = self.pre_acts(x)
        f = self.activate(pre)
        x_hat = self.decode(f)
        variance = (x - x.mean(0)).pow(2).sum(-1).mean()
        terms = {"reconstruction": (x - x_hat).pow(2).sum(-1).mean() / variance}
        if self.cfg.activation == "relu":
            sparsity = (f * self.W_dec.norm(dim=-1)).sum(-1).mean() / variance.sqrt()
            terms["sparsity"] = self.cfg.l1_coefficient * sparsity
        elif dead is not None and bool(dead.any()):
            k = min(aux_k, int(dead.sum()))
            dead_pre = F.relu(pre).masked_fill(~dead, 0.0)
            values, index = dead_pre.topk(k, dim=-1)
            e_hat = torch.zeros_like(pre).scatter_(-1, index, values) @ self.W_dec
            error = (x - x_hat).detach()
            terms["aux"] = aux_coefficient * (error - e_hat).pow(2).sum(-1).mean() / variance
        terms["total"] = sum(terms.values())  # (l0 and fired are added after: not part of the loss)
        terms["l0"] = (f > 0).float().sum(-1).mean().detach()
        terms["fired"] = (f > 0).any(0).detach()  # [d_sae] which features fired in this batch
        return terms

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Put every decoder row back at unit norm (after each optimizer step)."""
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Drop the part of W_dec's gradient that would only change the rows' norms, which the
        renormalisation undoes anyway (as SAELens does)."""
        if self.W_dec.grad is not None:
            along = (self.W_dec.grad * self.W_dec).sum(-1, keepdim=True)
            self.W_dec.grad.sub_(along * self.W_dec)


# -- activations from the model ----------------------------------------------------------------

class _StopForward(Exception):
    """Raised by a hook once it has what it needs: the later layers need not run."""


def activations_at(model, tokens: torch.Tensor, hook_name: str) -> torch.Tensor:
    """The activation at ``hook_name`` for ``tokens [batch pos]``, ``[batch pos d_in]``; the
    layers after it are skipped."""
    store = {}

    def grab(act, hook):
        store["act"] = act.detach()
        raise _StopForward

    with torch.no_grad():
        try:
            with model.hooks([(hook_name, grab)]):
                model(tokens)
        except _StopForward:
            pass
    return store["act"]


def keep_mask(tokens: torch.Tensor, bos_id: int) -> torch.Tensor:
    """``[batch pos]`` True where an activation is used: not position 0 and not a BOS/EOT token.
    The first position (and every BOS) is where attention parks when it has nothing to do; its
    residual stream is several times the norm of any other and would dominate the SAE's loss."""
    keep = tokens != bos_id
    keep[:, 0] = False
    return keep


def token_batches(tokenizer, seed: int, batch_size: int = 64, seq_len: int = 128) -> Iterator[torch.Tensor]:
    """TinyWorld text as ``[batch pos]`` blocks, documents packed end to end (as the model was trained)."""
    from course.train import packed_batches

    return packed_batches(tinyworld.token_stream(tokenizer, seed=seed), batch_size, seq_len)


def collect_activations(model, hook_name: str, n_tokens: int, seed: int = 1, batch_size: int = 64,
                        seq_len: int = 128, dtype=torch.float32, progress: bool = False) -> torch.Tensor:
    """About ``n_tokens`` activations ``[n d_in]`` at ``hook_name`` over seeded TinyWorld text,
    without BOS positions (``keep_mask``). The text stream of ``seed`` is reproducible."""
    from tqdm.auto import tqdm

    out, have = [], 0
    batches = token_batches(model.tokenizer, seed, batch_size, seq_len)
    bar = tqdm(total=n_tokens, disable=not progress, desc="activations", unit="tok", unit_scale=True)
    while have < n_tokens:
        tokens = next(batches)
        acts = activations_at(model, tokens, hook_name)[keep_mask(tokens, model.tokenizer.bos_id)]
        out.append(acts.to(dtype))
        have += acts.shape[0]
        bar.update(acts.shape[0])
    bar.close()
    return torch.cat(out)[:n_tokens]


# -- training ----------------------------------------------------------------------------------

@dataclass
class SAETrainConfig:
    steps: int = 4000  # optimizer steps
    batch_size: int = 2048  # activations per step
    lr: float = 1e-3  # Adam, constant after warmup, then a linear decay over the last 20%
    warmup_steps: int = 50
    aux_k: int = 64  # dead features used by the AuxK loss ("topk")
    aux_coefficient: float = 1 / 32  # as in Gao et al. 2024
    dead_after_tokens: int = 200_000  # a feature silent this long counts as dead during training
    seed: int = 0  # initialisation and batch order

    def to_dict(self) -> dict:
        return asdict(self)


def _lr_at(step: int, cfg: SAETrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_start = int(0.8 * cfg.steps)
    if step < decay_start:
        return cfg.lr
    return cfg.lr * max(0.0, (cfg.steps - step) / max(1, cfg.steps - decay_start))


def train_sae(acts: torch.Tensor, cfg: SAEConfig, tcfg: SAETrainConfig = SAETrainConfig(),
              progress: bool = True, on_step=None) -> tuple[SAE, dict]:
    """Train an SAE on activations ``[n d_in]`` (shuffled each pass). Returns it and its history.
    ``on_step(step, terms)`` may return True to stop early."""
    from tqdm.auto import tqdm

    torch.manual_seed(tcfg.seed)
    sae = SAE(cfg, seed=tcfg.seed)
    with torch.no_grad():  # start the decoder bias at the data's mean: features explain the rest
        sae.b_dec.copy_(acts[: 100_000].float().mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=tcfg.lr, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(tcfg.seed)
    order = torch.randperm(acts.shape[0], generator=generator)
    cursor = 0
    last_fired = torch.zeros(cfg.d_sae)  # tokens since each feature last fired
    history = {"step": [], "reconstruction": [], "l0": [], "dead": [], "seconds": 0.0}
    start = time.perf_counter()
    bar = tqdm(range(tcfg.steps), disable=not progress, desc="training SAE", unit="step")
    for step in bar:
        if cursor + tcfg.batch_size > acts.shape[0]:
            order, cursor = torch.randperm(acts.shape[0], generator=generator), 0
        x = acts[order[cursor : cursor + tcfg.batch_size]].float()
        cursor += tcfg.batch_size
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, tcfg)
        dead = last_fired > tcfg.dead_after_tokens
        terms = sae.loss(x, dead if cfg.activation == "topk" else None, tcfg.aux_k, tcfg.aux_coefficient)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        sae.remove_parallel_gradient()
        optimizer.step()
        sae.normalize_decoder()
        last_fired = torch.where(terms["fired"], torch.zeros_like(last_fired), last_fired + x.shape[0])
        if step % 10 == 0 or step == tcfg.steps - 1:
            history["step"].append(step)
            history["reconstruction"].append(round(terms["reconstruction"].item(), 5))
            history["l0"].append(round(terms["l0"].item(), 2))
            history["dead"].append(round(dead.float().mean().item(), 4))
            bar.set_postfix(fvu=f"{terms['reconstruction'].item():.3f}", l0=f"{terms['l0'].item():.1f}",
                            dead=f"{dead.float().mean().item():.2f}")
        if on_step is not None and on_step(step, terms):
            break
    history["seconds"] = time.perf_counter() - start
    return sae.eval(), history


# -- metrics -----------------------------------------------------------------------------------

def _next_token_losses(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:  # [batch pos-1]
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(
        tokens.shape[0], -1)


@torch.no_grad()
def evaluate(sae: SAE, model, tokens: torch.Tensor, batch_size: int = 32) -> dict:
    """The metrics SAE papers report, on ``tokens [batch pos]`` (BOS positions left out):

    - l0: features active per token, on average;
    - variance_explained: 1 - sum ||x - x_hat||^2 / sum ||x - mean x||^2;
    - ce_loss_recovered: (loss_zero - loss_spliced) / (loss_zero - loss_clean), where "spliced"
      replaces the activation by the SAE's reconstruction and "zero" by zeros (at the kept
      positions, via a hook), so 1 means the SAE loses nothing and 0 means it is no better than
      deleting the residual stream;
    - dead_fraction: features that never fire on any of these tokens (few: see ``dead_fraction``
      for the figure over enough tokens to trust)."""
    hook = sae.cfg.hook_name
    bos = model.tokenizer.bos_id
    sq_err = total_var_num = 0.0
    l0_sum = n = 0
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    xs = []
    losses = {"clean": [], "spliced": [], "zero": []}
    for start in range(0, tokens.shape[0], batch_size):
        chunk = tokens[start : start + batch_size]
        keep = keep_mask(chunk, bos)
        _, cache = model.run_with_cache(chunk, names_filter=hook)
        x = cache[hook][keep]
        f = sae.encode(x)
        x_hat = sae.decode(f)
        sq_err += (x - x_hat).pow(2).sum().item()
        xs.append(x)
        l0_sum += (f > 0).sum().item()
        n += x.shape[0]
        fired |= (f > 0).any(0)

        def splice(act, _hook, keep=keep):
            return torch.where(keep[..., None], sae(act), act)

        def zero(act, _hook, keep=keep):
            return torch.where(keep[..., None], torch.zeros_like(act), act)

        losses["clean"].append(_next_token_losses(model(chunk), chunk))
        losses["spliced"].append(_next_token_losses(model.run_with_hooks(chunk, fwd_hooks=[(hook, splice)]), chunk))
        losses["zero"].append(_next_token_losses(model.run_with_hooks(chunk, fwd_hooks=[(hook, zero)]), chunk))
    x_all = torch.cat(xs)
    total_var = (x_all - x_all.mean(0)).pow(2).sum().item()
    ce = {k: torch.cat(v).mean().item() for k, v in losses.items()}
    return {
        "l0": l0_sum / n,
        "variance_explained": 1 - sq_err / total_var,
        "ce_loss_clean": ce["clean"],
        "ce_loss_spliced": ce["spliced"],
        "ce_loss_zero_ablation": ce["zero"],
        "ce_loss_recovered": (ce["zero"] - ce["spliced"]) / (ce["zero"] - ce["clean"]),
        "dead_fraction": 1 - fired.float().mean().item(),
        "n_tokens": n,
    }


@torch.no_grad()
def firing_counts(sae: SAE, acts: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
    """``[d_sae]`` how many of the activations ``acts [n d_in]`` each feature fires on."""
    counts = torch.zeros(sae.cfg.d_sae)
    for i in range(0, acts.shape[0], batch_size):
        counts += (sae.encode(acts[i : i + batch_size].float()) > 0).sum(0)
    return counts


def dead_fraction(sae: SAE, model, n_tokens: int = 200_000, seed: int = 2) -> float:
    """Fraction of features that never fire on ``n_tokens`` held-out tokens. Rare features need
    many tokens to show up: over a few thousand, a feature firing once in 20,000 looks dead."""
    acts = collect_activations(model, sae.cfg.hook_name, n_tokens, seed)
    return (firing_counts(sae, acts) == 0).float().mean().item()


def eval_tokens(tokenizer, n_seqs: int = 64, seed: int = 2, seq_len: int = 128) -> torch.Tensor:
    """Held-out evaluation text ``[n_seqs seq_len]`` (a stream seed neither model nor SAE trained on)."""
    return next(token_batches(tokenizer, seed, n_seqs, seq_len))


# -- feature dashboards ------------------------------------------------------------------------

@dataclass
class Example:
    """One context where a feature fires: its tokens up to and a little past the peak."""

    tokens: list[str]
    acts: list[float]  # the feature's activation at each of those tokens
    peak: int  # index (in tokens) of the top activation
    value: float

    def token_view(self):
        from widgets import TokenView

        return TokenView(self.tokens, self.acts, value_label="feature activation", vmin=0.0)


@dataclass
class Dashboard:
    feature: int
    frequency: float  # fraction of tokens it fires on
    examples: list[Example]  # top-activating contexts, strongest first
    histogram: tuple[list[int], list[float]]  # counts and bin edges of its non-zero activations
    promoted: list[tuple[str, float]]  # tokens whose logits its direction raises most (W_dec[f] @ W_U)
    suppressed: list[tuple[str, float]]  # ... and lowers most
    label: str = ""

    def __str__(self) -> str:
        lines = [f"feature {self.feature}: {self.label}   (fires on {100 * self.frequency:.2f}% of tokens)"]
        for ex in self.examples[:5]:
            left = "".join(ex.tokens[max(0, ex.peak - 8) : ex.peak]).replace("\n", "\\n")
            lines.append(f"  {ex.value:6.2f}  ...{left}[[{ex.tokens[ex.peak]}]]")
        lines.append("  promotes:   " + ", ".join(repr(t) for t, _ in self.promoted[:8]))
        lines.append("  suppresses: " + ", ".join(repr(t) for t, _ in self.suppressed[:8]))
        return "\n".join(lines)


class FeatureStore:
    """Activations of a fixed text sample, kept once, so any feature's dashboard is quick.

    Holds the residual stream at the SAE's hook for ``tokens [batch pos]`` (BOS positions are
    masked out: their activation counts as 0)."""

    def __init__(self, sae: SAE, model, tokens: torch.Tensor):
        self.sae, self.model, self.tokens = sae, model, tokens
        self.keep = keep_mask(tokens, model.tokenizer.bos_id)
        chunks = [activations_at(model, tokens[i : i + 64], sae.cfg.hook_name) for i in range(0, len(tokens), 64)]
        self.resid = torch.cat(chunks)  # [batch pos d_in]
        self._str = {}

    @classmethod
    def from_corpus(cls, sae: SAE, model, n_seqs: int = 200, seed: int = 3) -> "FeatureStore":
        return cls(sae, model, eval_tokens(model.tokenizer, n_seqs, seed))

    @torch.no_grad()
    def acts(self, features: Optional[Sequence[int]] = None) -> torch.Tensor:
        """``[batch pos n_features]`` activations (all features when None: mind the memory).
        Encoded 32 sequences at a time: top-k needs every pre-activation, but only briefly."""
        out = []
        for i in range(0, len(self.tokens), 32):
            f = self.sae.encode(self.resid[i : i + 32]) * self.keep[i : i + 32, :, None]
            out.append(f if features is None else f[..., list(features)])
        return torch.cat(out)

    @torch.no_grad()
    def frequencies(self) -> torch.Tensor:
        """``[d_sae]`` fraction of kept tokens on which each feature fires."""
        counts = torch.zeros(self.sae.cfg.d_sae)
        for i in range(0, len(self.tokens), 32):
            f = self.sae.encode(self.resid[i : i + 32])[self.keep[i : i + 32]]
            counts += (f > 0).sum(0)
        return counts / self.keep.sum()

    def token_str(self, token_id: int) -> str:
        if token_id not in self._str:
            self._str[token_id] = self.model.tokenizer.decode([token_id])
        return self._str[token_id]

    def dashboard(self, feature: int, n_examples: int = 10, context: int = 12, after: int = 3,
                  bins: int = 30, n_logits: int = 10) -> Dashboard:
        a = self.acts([feature])[..., 0]  # [batch pos]
        flat = a.flatten()
        nonzero = flat[flat > 0]
        order = flat.argsort(descending=True)
        examples, used = [], set()
        for idx in order.tolist():
            if flat[idx] <= 0 or len(examples) >= n_examples:
                break
            b, p = divmod(idx, a.shape[1])
            if (b, p // 4) in used:  # one example per neighbourhood, not the same phrase five times
                continue
            used.add((b, p // 4))
            lo, hi = max(0, p - context), min(a.shape[1], p + after + 1)
            ids = self.tokens[b, lo:hi].tolist()
            examples.append(Example([self.token_str(i) for i in ids], a[b, lo:hi].tolist(), p - lo, float(flat[idx])))
        if nonzero.numel():
            counts = torch.histc(nonzero, bins=bins, min=0.0, max=float(nonzero.max()))
            edges = torch.linspace(0.0, float(nonzero.max()), bins + 1)
        else:
            counts, edges = torch.zeros(bins), torch.linspace(0, 1, bins + 1)
        promoted, suppressed = logit_effects(self.sae, self.model, feature, n_logits)
        dash = Dashboard(feature, nonzero.numel() / max(1, int(self.keep.sum())), examples,
                         ([int(c) for c in counts.tolist()], edges.tolist()), promoted, suppressed)
        dash.label = auto_label(dash)
        return dash


def logit_effects(sae: SAE, model, feature: int, n: int = 10) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The tokens a feature's direction promotes and suppresses when read straight through the
    unembedding, ``W_dec[feature] @ W_U``, after the final LayerNorm's centring and gain (its
    division by the scale is one positive number per position, so it cannot change the ranking)."""
    with torch.no_grad():
        d = sae.W_dec[feature]
        ln = getattr(model, "ln_final", None)
        if ln is not None and hasattr(ln, "w"):
            d = (d - d.mean()) * ln.w
        effect = d @ model.W_U  # [d_vocab]
        top = effect.topk(n)
        bottom = (-effect).topk(n)
    dec = model.tokenizer.decode
    return ([(dec([i]), v) for i, v in zip(top.indices.tolist(), top.values.tolist())],
            [(dec([i]), -v) for i, v in zip(bottom.indices.tolist(), bottom.values.tolist())])


_WORD = re.compile(r"[A-Za-z]+")


def _landmark_vocabulary() -> dict[str, str]:
    """Every landmark's words (and its name), lower case -> the landmark."""
    vocab = {}
    for name, words in tinyworld.LANDMARKS.items():
        vocab[name.lower()] = name
        for w in words:
            vocab[w] = name
    return vocab


def auto_label(dash: Dashboard, min_share: float = 0.5) -> str:
    """A label from the top examples alone, the way an LLM labeller would start, with rules:

    - the tokens it fires on: the peak tokens that cover at least ``min_share`` of the examples
      (e.g. "' lava' / ' ash'"), else "mixed tokens";
    - the topic: if at least ``min_share`` of the examples' contexts use one landmark's words,
      "(Emberpeak)" - a topic feature - or the peak token's preceding token if that is shared.
    An automatic label is a hypothesis: check it against the dashboard and by steering."""
    if not dash.examples:
        return "never fires (dead)"
    peaks = Counter(ex.tokens[ex.peak] for ex in dash.examples)
    n = len(dash.examples)
    chosen, covered = [], 0
    for tok, c in peaks.most_common(3):
        chosen.append(tok)
        covered += c
        if covered >= min_share * n:
            break
    label = " / ".join(repr(t) for t in chosen) if covered >= min_share * n else "mixed tokens"
    vocab = _landmark_vocabulary()
    topics = Counter()
    for ex in dash.examples:
        found = {vocab[w.lower()] for w in _WORD.findall("".join(ex.tokens[: ex.peak + 1])) if w.lower() in vocab}
        topics.update(found)
    if topics:
        topic, c = topics.most_common(1)[0]
        if c >= min_share * n:
            return f"{label} ({topic})"
    prev = Counter(ex.tokens[ex.peak - 1] for ex in dash.examples if ex.peak > 0)
    if prev:
        tok, c = prev.most_common(1)[0]
        if c >= min_share * n:
            return f"{label} after {tok!r}"
    return label


# -- landmark features -------------------------------------------------------------------------

@torch.no_grad()
def paragraph_activations(sae: SAE, model, texts: Sequence[str]) -> torch.Tensor:
    """``[n_texts d_sae]``: each feature's mean activation over each text's tokens (BOS first,
    not counted)."""
    out = []
    for text in texts:
        tokens = model.to_tokens(text)
        x = activations_at(model, tokens, sae.cfg.hook_name)[0, 1:]  # [pos-1 d_in]
        out.append(sae.encode(x).mean(0))
    return torch.stack(out)


@dataclass
class LandmarkFeature:
    landmark: str
    feature: int
    separation: float  # (mean in - mean out) / pooled std of per-paragraph mean activations
    mean_in: float
    mean_out: float
    fires_on: float  # fraction of this landmark's paragraphs where it fires at all


def landmark_features(sae: SAE, model, n_per_landmark: int = 20, seed: int = 0) -> dict[str, LandmarkFeature]:
    """For each TinyWorld landmark, the feature whose mean activation over a paragraph best
    separates that landmark's paragraphs from the other landmarks' (largest standardized gap)."""
    items = tinyworld.landmark_dataset(n_per_landmark, seed)
    acts = paragraph_activations(sae, model, [it.text for it in items])  # [n d_sae]
    names = [it.landmark for it in items]
    found = {}
    for landmark in tinyworld.LANDMARKS:
        mask = torch.tensor([n == landmark for n in names])
        a_in, a_out = acts[mask], acts[~mask]
        pooled = ((a_in.var(0) + a_out.var(0)) / 2).sqrt() + 1e-3
        score = (a_in.mean(0) - a_out.mean(0)) / pooled
        f = int(score.argmax())
        found[landmark] = LandmarkFeature(landmark, f, float(score[f]), float(a_in[:, f].mean()),
                                          float(a_out[:, f].mean()), float((a_in[:, f] > 0).float().mean()))
    return found


# -- steering ----------------------------------------------------------------------------------

def steering_hook(sae: SAE, feature: int, strength: float, mode: str = "add"):
    """``(hook_name, fn)`` that steers with one feature at every position.

    "add": x + strength * W_dec[feature] (W_dec rows are unit vectors, so strength is in the
    residual stream's own units, as in widgets.FeatureSteering). "clamp": set the feature's
    activation to ``strength``, x + (strength - f(x)) * W_dec[feature], leaving the rest of x."""
    direction = sae.W_dec[feature].detach()
    if mode == "add":
        def steer(act, _hook):
            return act + strength * direction.to(act.dtype)
    elif mode == "clamp":
        def steer(act, _hook):
            f = sae.encode(act)[..., feature : feature + 1]
            return act + (strength - f) * direction.to(act.dtype)
    else:
        raise ValueError(f"mode must be 'add' or 'clamp', got {mode!r}")
    return (sae.cfg.hook_name, steer)


def steering_directions(sae: SAE, features: dict[str, int]) -> dict[str, torch.Tensor]:
    """``{name: W_dec[f]}`` for ``widgets.FeatureSteering(model, directions, layer=...)``."""
    return {f"{name} (feature {f})": sae.W_dec[f].detach().clone() for name, f in features.items()}


def sae_layer(sae: SAE) -> int:
    """The block whose hook_resid_post the SAE reads (for FeatureSteering's ``layer``)."""
    m = re.fullmatch(r"blocks\.(\d+)\.hook_resid_post", sae.cfg.hook_name)
    if not m:
        raise ValueError(f"{sae.cfg.hook_name} is not a resid_post hook")
    return int(m.group(1))


def mentions(text: str, landmark: str) -> bool:
    """Does ``text`` use the landmark's name or one of its words?"""
    vocab = {landmark.lower(), *tinyworld.LANDMARKS[landmark]}
    return any(w.lower() in vocab for w in _WORD.findall(text))


@torch.no_grad()
def steered_continuations(model, sae: Optional[SAE], feature: int, strength: float, prompts: Sequence[str],
                          samples: int = 4, n_tokens: int = 20, temperature: float = 0.8,
                          mode: str = "add", seed: int = 0) -> list[list[int]]:
    """``samples`` continuations of each prompt (token ids), steered (strength != 0) or not.
    Seeds are fixed per prompt, so steered and unsteered runs draw the same random numbers."""
    out = []
    hooks = [] if (sae is None or (strength == 0 and mode == "add")) else [steering_hook(sae, feature, strength, mode)]
    for i, prompt in enumerate(prompts):
        tokens = model.to_tokens(prompt).repeat(samples, 1)
        with model.hooks(hooks):
            gen = model.generate(tokens, max_new_tokens=n_tokens, temperature=temperature, seed=seed + i)
        out += [row[tokens.shape[1]:].tolist() for row in gen]
    return out


@torch.no_grad()
def fluency(model, prompts: Sequence[str], continuations: Sequence[list[int]], samples: int) -> dict:
    """How natural continuations look to the *unsteered* model: its mean loss per continuation
    token, and the fraction of continuation tokens that repeat an earlier one."""
    nll, repeated, total = 0.0, 0, 0
    for i, cont in enumerate(continuations):
        prompt = model.to_tokens(prompts[i // samples])
        tokens = torch.cat([prompt, torch.tensor([cont])], 1)
        losses = _next_token_losses(model(tokens), tokens)[0, prompt.shape[1] - 1 :]
        nll += losses.sum().item()
        total += len(cont)
        repeated += len(cont) - len(set(cont))
    return {"unsteered_loss": nll / total, "repeated_tokens": repeated / total}


def steering_experiment(model, sae: SAE, features: dict[str, int], strengths: Sequence[float] = (0, 4, 8, 16, 32),
                        prompts: Optional[Sequence[str]] = None, samples: int = 4, n_tokens: int = 20,
                        temperature: float = 0.8, mode: str = "add", seed: int = 0) -> dict:
    """For each strength: the share of continuations that mention the steered landmark (averaged
    over landmarks, prompts and samples), and their fluency. Strength 0 is the unsteered
    baseline: the share of ordinary continuations that happen to mention each landmark."""
    prompts = list(prompts or tinyworld.landmark_prompts())
    results = {}
    for s in strengths:
        if s == 0 and mode == "add":  # unsteered: one set of texts, scored against every landmark
            conts = steered_continuations(model, None, 0, 0.0, prompts, samples, n_tokens, temperature, mode, seed)
            texts = [model.tokenizer.decode(c) for c in conts]
            shares = {lm: sum(mentions(t, lm) for t in texts) / len(texts) for lm in features}
            flu = [fluency(model, prompts, conts, samples)]
            example = texts[0]
        else:
            shares, flu = {}, []
            for landmark, f in features.items():
                conts = steered_continuations(model, sae, f, s, prompts, samples, n_tokens, temperature, mode, seed)
                texts = [model.tokenizer.decode(c) for c in conts]
                shares[landmark] = sum(mentions(t, landmark) for t in texts) / len(texts)
                flu.append(fluency(model, prompts, conts, samples))
            example = texts[0]
        results[float(s)] = {
            "share": sum(shares.values()) / len(shares),
            "share_by_landmark": shares,
            "unsteered_loss": sum(x["unsteered_loss"] for x in flu) / len(flu),
            "repeated_tokens": sum(x["repeated_tokens"] for x in flu) / len(flu),
            "example": example,  # the first prompt's first continuation (of the last landmark)
        }
    return results


# -- saving, loading, the shipped SAE ----------------------------------------------------------

def weights_path(directory: Optional[Path] = None) -> Path:
    return Path(directory or CHECKPOINT_DIR) / f"{NAME}.safetensors"


def save(sae: SAE, path, card: Optional[dict] = None, dtype=torch.float32) -> dict:
    """Write ``path`` (.safetensors) and the card beside it (.json); returns the card."""
    from safetensors.torch import save_file

    from course.weights import sha256_of

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to("cpu", dtype).contiguous() for k, v in sae.state_dict().items()}, str(path))
    card = dict(card or {})
    card["sae_config"] = sae.cfg.to_dict()
    card["weights_file"] = path.name
    card["dtype"] = str(dtype).replace("torch.", "")
    card["sha256"] = sha256_of(path)
    card["bytes"] = path.stat().st_size
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def load(path=None, check_sha: bool = True) -> SAE:
    """The shipped SAE (or one saved with ``save``); its card is ``sae.card``. The sha256 on the
    card is checked, so a corrupt or edited file is caught."""
    from course.weights import WeightsError, load_state, read_card

    path = Path(path) if path is not None else weights_path()
    if not path.exists():
        raise WeightsError(f"{path} is missing; reinstall the package or run `python -m course.sae train`")
    card = read_card(path)
    try:
        cfg = SAEConfig(**card["sae_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"card {path.with_suffix('.json')} has no valid sae_config: {e}") from None
    state = load_state(path, card.get("sha256") if check_sha else None)
    sae = SAE(cfg)
    expected = set(sae.state_dict())
    if set(state) != expected:
        raise WeightsError(f"{path} holds {sorted(state)}, an SAE needs {sorted(expected)}")
    sae.load_state_dict({k: v.float() for k, v in state.items()})
    sae.card = card
    return sae.eval()


@dataclass
class Recipe:
    sae: SAEConfig = field(default_factory=SAEConfig)
    train: SAETrainConfig = field(default_factory=SAETrainConfig)
    n_tokens: int = 1_000_000  # activations collected for training
    data_seed: int = 1  # TinyWorld stream of the training text (the model trained on seed 0)
    eval_seed: int = 2  # held-out stream for the card's metrics
    eval_seqs: int = 64  # sequences of 128 tokens for the metrics
    dead_tokens: int = 200_000  # held-out tokens over which a dead feature never fires
    # Steering strengths as multiples of the mean norm of the residual stream at the hook.
    steering_multiples: tuple = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    fluent_loss_increase: float = 1.0  # nats: the test's strength must keep text this close to natural


RECIPE = Recipe()


def choose_test_strength(steering: dict, max_loss_increase: float) -> float:
    """The strength with the largest gain in landmark share over the baseline among those whose
    continuations the unsteered model still finds fluent (loss within ``max_loss_increase``)."""
    base = steering[0.0]
    fluent = [s for s, r in steering.items() if s > 0 and r["unsteered_loss"] <= base["unsteered_loss"] + max_loss_increase]
    candidates = fluent or [s for s in steering if s > 0]
    return max(candidates, key=lambda s: steering[s]["share"] - base["share"])


def train_recipe(out_dir: Optional[Path] = None, recipe: Recipe = RECIPE, progress: bool = True, model=None,
                 model_dir: Optional[Path] = None) -> dict:
    """Collect activations from the shipped tinyworld model (or ``model``, or the one in
    ``model_dir``), train, measure, and save the SAE with its card: metrics, landmark features,
    steering at several strengths."""
    from course import zoo
    from course.weights import sha256_of

    start = time.perf_counter()
    model = model if model is not None else zoo.load("tinyworld", directory=model_dir)
    acts = collect_activations(model, recipe.sae.hook_name, recipe.n_tokens, recipe.data_seed, progress=progress)
    resid_norm = acts[:100_000].float().norm(dim=-1).mean().item()
    collect_seconds = time.perf_counter() - start
    sae, history = train_sae(acts, recipe.sae, recipe.train, progress=progress)
    del acts
    metrics = evaluate(sae, model, eval_tokens(model.tokenizer, recipe.eval_seqs, recipe.eval_seed))
    metrics["dead_fraction_eval_tokens"] = metrics.pop("dead_fraction")
    metrics["dead_fraction"] = dead_fraction(sae, model, recipe.dead_tokens, recipe.eval_seed)
    metrics["dead_fraction_tokens"] = recipe.dead_tokens
    landmarks = landmark_features(sae, model)
    features = {k: v.feature for k, v in landmarks.items()}
    strengths = [round(m * resid_norm, 1) for m in recipe.steering_multiples]
    steering = steering_experiment(model, sae, features, strengths)
    # What tests/test_sae.py runs (fewer samples and tokens, so it is quick): measured here, and
    # half the measured gain is what the test asserts, leaving room for other machines' rounding.
    test_strength = choose_test_strength(steering, recipe.fluent_loss_increase)
    quick = steering_experiment(model, sae, features, (0, test_strength), samples=2, n_tokens=16)
    margin = quick[float(test_strength)]["share"] - quick[0.0]["share"]
    weights = zoo.weights_path("tinyworld", model_dir)
    card = {
        "name": NAME,
        "description": f"Top-k SAE (k={recipe.sae.k}, {recipe.sae.d_sae} features) on {recipe.sae.hook_name} "
                       "of the tinyworld model; position 0 and BOS tokens excluded from training and metrics.",
        "model": "tinyworld",
        "model_sha256": sha256_of(weights) if weights.exists() else None,
        "data": {"corpus": "course.tinyworld", "seed": recipe.data_seed, "n_tokens": recipe.n_tokens,
                 "excluded": "position 0 and BOS/EOT tokens", "eval_seed": recipe.eval_seed,
                 "eval_tokens": metrics["n_tokens"]},
        "recipe": {"train": recipe.train.to_dict(), "n_tokens": recipe.n_tokens,
                   "steering_multiples": list(recipe.steering_multiples)},
        "command": "python -m course.sae train",
        "metrics": metrics,
        "resid_norm": resid_norm,
        "landmark_features": {k: asdict(v) for k, v in landmarks.items()},
        "steering": {str(k): v for k, v in steering.items()},
        "steering_test": {"strength": test_strength, "samples": 2, "n_tokens": 16,
                          "baseline_share": quick[0.0]["share"], "steered_share": quick[float(test_strength)]["share"],
                          "measured_margin": margin, "asserted_margin": math.floor(50 * margin) / 100},
        "collect_seconds": round(collect_seconds, 1),
        "training_seconds": round(history["seconds"], 1),
        "total_seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "history": history,
    }
    return save(sae, weights_path(out_dir), card)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course.sae", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="reproduce the shipped SAE and its card")
    t.add_argument("--out", type=Path, default=None, help="folder for the weights and card (default: the package's)")
    t.add_argument("--steps", type=int, default=None, help="fewer steps, for a smoke test")
    t.add_argument("--tokens", type=int, default=None, help="fewer activations, for a smoke test")
    t.add_argument("--model-dir", type=Path, default=None, help="folder holding tinyworld.safetensors (default: the package's)")
    sub.add_parser("card", help="print the shipped SAE's metrics")
    args = parser.parse_args(argv)
    if args.command == "card":
        print(json.dumps(load().card["metrics"], indent=2))
        return
    recipe = Recipe()
    if args.steps:
        recipe.train.steps = args.steps
    if args.tokens:
        recipe.n_tokens = args.tokens
    start = time.perf_counter()
    card = train_recipe(args.out, recipe, model_dir=args.model_dir)
    print(json.dumps(card["metrics"], indent=2))
    print(json.dumps({k: {"share": v["share"], "unsteered_loss": v["unsteered_loss"],
                          "repeated_tokens": v["repeated_tokens"]} for k, v in card["steering"].items()}, indent=2))
    print(json.dumps(card["steering_test"], indent=2))
    print(f"wrote {weights_path(args.out)} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
