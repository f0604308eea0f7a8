"""Sparse autoencoders (SAEs) on the residual stream: the autoencoder, its training, the
field's metrics, and saving and loading. Feature dashboards and labels are in course/features.py,
steering in course/steering.py, the shipped SAE's recipe in course/tinyworld_sae.py.

An SAE rewrites an activation x [d_in] as a sparse, non-negative combination of many more feature
directions: ``f = act((x - b_dec) @ W_enc + b_enc)``, ``x_hat = f @ W_dec + b_dec``. Rows of
``W_dec [d_sae d_in]`` are the feature directions (the columns of the decoder matrix in papers
that write it d_in x d_sae) and are kept at unit norm, so a feature's size lives in ``f`` alone.
The activation is either ReLU with an L1 penalty (Bricken et al. 2023) or top-k, which keeps the
k largest pre-activations (Gao et al. 2024) and sets the sparsity directly; top-k training adds
the AuxK loss of Gao et al. against dead features. Shape names: batch, pos, d_in (= d_model), d_sae.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from course.metrics import next_token_loss
from course.weights import WeightsError, load_state, read_card, save_weights


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


def token_batches(model, seed: int, batch_size: int = 64, seq_len: int = 128) -> Iterator[torch.Tensor]:
    """Text of the corpus ``model`` was trained on (its card names it) as ``[batch pos]`` blocks,
    documents packed end to end as in training. Pass the model, not its tokenizer: the SAE must
    read the same kind of text as the model it explains."""
    from course.evaluate import corpus_of
    from course.train import packed_batches

    if not hasattr(model, "tokenizer"):
        raise TypeError(f"token_batches takes the model (it reads the model's corpus and tokenizer), "
                        f"got {type(model).__name__}: pass `model`, not `model.tokenizer`")
    return packed_batches(corpus_of(model).token_stream(model.tokenizer, seed=seed), batch_size, seq_len)


def collect_activations(model, hook_name: str, n_tokens: int, seed: int = 1, batch_size: int = 64,
                        seq_len: int = 128, dtype=torch.float32, progress: bool = False) -> torch.Tensor:
    """About ``n_tokens`` activations ``[n d_in]`` at ``hook_name`` over seeded TinyWorld text,
    without BOS positions (``keep_mask``). The text stream of ``seed`` is reproducible."""
    from tqdm.auto import tqdm

    out, have = [], 0
    batches = token_batches(model, seed, batch_size, seq_len)
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
    sq_err = 0.0
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

        losses["clean"].append(next_token_loss(model(chunk), chunk, per_token=True))
        for kind, fn in (("spliced", splice), ("zero", zero)):
            losses[kind].append(next_token_loss(model.run_with_hooks(chunk, fwd_hooks=[(hook, fn)]), chunk, per_token=True))
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


def eval_tokens(model, n_seqs: int = 64, seed: int = 2, seq_len: int = 128) -> torch.Tensor:
    """Held-out text ``[n_seqs seq_len]`` from ``model``'s corpus (a stream seed neither the model
    nor the SAE trained on)."""
    return next(token_batches(model, seed, n_seqs, seq_len))


# -- saving and loading ------------------------------------------------------------------------

def save(sae: SAE, path, card: Optional[dict] = None) -> dict:
    """Write ``path`` (.safetensors, float32) and the card beside it (.json); returns the card."""
    tensors = {k: v.detach().to("cpu", torch.float32) for k, v in sae.state_dict().items()}
    return save_weights(tensors, path, {**(card or {}), "sae_config": sae.cfg.to_dict(), "dtype": "float32"})


def load(path) -> SAE:
    """An SAE saved with ``save`` (the shipped one: ``zoo.load("tinyworld-sae")``); its card is
    ``sae.card``. The sha256 on the card is checked, so a corrupt or edited file is caught."""
    path = Path(path)
    card = read_card(path)
    try:
        cfg = SAEConfig(**card["sae_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"card {path.with_suffix('.json')} has no valid sae_config: {e}") from None
    state = load_state(path, card.get("sha256"))
    sae = SAE(cfg)
    expected = set(sae.state_dict())
    if set(state) != expected:
        raise WeightsError(f"{path} holds {sorted(state)}, an SAE needs {sorted(expected)}")
    sae.load_state_dict({k: v.float() for k, v in state.items()})
    sae.card = card
    return sae.eval()
