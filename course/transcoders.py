"""Transcoders: sparse features that stand in for a model's MLPs (Dunefsky et al. 2024), per layer
or cross-layer (Ameisen et al. 2025), with their training on a model's activations, their metrics,
and saving and loading. The local replacement model is in course/replacement.py, attribution
graphs in course/attribution_graph.py, the shipped ones' recipes in course/tinyworld_transcoders.py.

A transcoder reads what an MLP reads, ``x`` (the residual stream after ``ln2``), and predicts what
the MLP writes, ``y`` (``hook_mlp_out``), through many sparse, non-negative features:
``f = act(x @ W_enc + b_enc)``, ``y_hat = f @ W_dec + b_dec``. Unlike an SAE it is not asked to
reproduce its input but to do the MLP's job, so its features are a readable stand-in for the MLP.

A *cross-layer* transcoder (CLT) has features at every layer that read that layer's MLP input and
write to the MLP outputs of that layer and of every later one: the output of layer j is
``b_dec[j] + sum over l <= j of f_l @ W_dec[l][j - l]``. A feature computed once can then serve
several layers, which is why a CLT needs fewer features for the same reconstruction. Per-layer
transcoders are the special case whose features write to their own layer only, so one class,
``Transcoders``, holds both; ``W_dec[l]`` is ``[n_out, d_transcoder, d_model]`` with n_out = 1
(per layer) or n_layers - l (cross layer).

Sparsity: BatchTopK in training (Bussmann et al. 2024), which keeps the k * batch largest
pre-activations of a batch, so the average L0 is k and training is as robust as top-k. At
inference the activation is a JumpReLU with one threshold per layer, learned during training
(the typical smallest value BatchTopK keeps): a feature is on when its own pre-activation passes
the threshold, whatever the other features do. An attribution graph relies on that: the edges
into a feature explain its pre-activation, and for an active feature the activation *is* the
pre-activation. Dead features are revived by the AuxK loss of Gao et al. (2024), as in sae.py.
Training sees each layer's MLP input and output divided by their RMS size, so one learning rate
and one initialisation suit every model and layer; the sizes are folded into the weights at the
end (``fold_scales``), so the transcoders read and write the model's own units.

Shape names: batch, pos, layer, d_model, d_transcoder (features per layer), n_out.
"""

from __future__ import annotations

import operator
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import einops
import torch
import torch.nn.functional as F
from torch import nn

from course.metrics import next_token_loss
from course.sae import _lr_at, keep_mask
from course.weights import WeightsError, load_state, read_card, save_weights


# -- the transcoders ---------------------------------------------------------------------------

@dataclass
class TranscoderConfig:
    n_layers: int = 4  # MLPs of the model it replaces (one transcoder each)
    d_model: int = 128  # the model's residual width
    d_transcoder: int = 1024  # features per layer
    cross_layer: bool = False  # features write to their own MLP (False) or to it and every later one (True)
    k: int = 16  # active features per token and layer, on average (BatchTopK in training)

    def __post_init__(self):
        for name in ("n_layers", "d_model", "d_transcoder", "k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TranscoderConfig.{name} must be a positive int, got {value!r}")
        if self.k > self.d_transcoder:
            raise ValueError(f"TranscoderConfig.k must be at most d_transcoder={self.d_transcoder}, got {self.k}")

    def to_dict(self) -> dict:
        return asdict(self)


class Transcoders(nn.Module):
    """One transcoder per MLP of a model, or one cross-layer transcoder (``cfg.cross_layer``)."""

    def __init__(self, cfg: TranscoderConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        L, d, n = cfg.n_layers, cfg.d_model, cfg.d_transcoder
        g = torch.Generator().manual_seed(seed)
        self.W_enc = nn.Parameter(torch.randn(L, d, n, generator=g) / d**0.5)  # [layer d_model d_transcoder]
        self.b_enc = nn.Parameter(torch.zeros(L, n))
        self.W_dec = nn.ParameterList(  # W_dec[l]: [n_out d_transcoder d_model], one slice per layer it writes
            nn.Parameter(torch.randn(len(self.writes_to(l)), n, d, generator=g)) for l in range(L))
        self.b_dec = nn.Parameter(torch.zeros(L, d))  # [layer d_model]
        self.register_buffer("threshold", torch.zeros(L))  # JumpReLU threshold per layer (set by training)
        self.normalize_decoder()

    def writes_to(self, layer: int) -> range:
        """The layers whose MLP output the features of ``layer`` write to."""
        self.check_layer(layer)
        return range(layer, self.cfg.n_layers if self.cfg.cross_layer else layer + 1)

    def check_layer(self, layer: int) -> None:
        """Raise a ValueError unless ``layer`` is one of the layers these transcoders cover."""
        try:
            ok = 0 <= operator.index(layer) < self.cfg.n_layers
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"layer {layer!r} is out of range: these transcoders cover layers "
                             f"0..{self.cfg.n_layers - 1}")

    # -- reading: MLP input -> features ------------------------------------------------------
    def pre_acts(self, layer: int, x: torch.Tensor) -> torch.Tensor:  # [... d_model] -> [... d_transcoder]
        self.check_layer(layer)
        if x.shape[-1] != self.cfg.d_model:
            raise ValueError(f"the transcoders read vectors of width d_model={self.cfg.d_model}, got {tuple(x.shape)}")
        return x @ self.W_enc[layer] + self.b_enc[layer]

    def encode(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Feature activations at ``layer`` for MLP inputs ``x [... d_model]``: a JumpReLU, the
        pre-activation where it is above the layer's threshold (and positive), else 0."""
        pre = self.pre_acts(layer, x)
        return pre * (pre > self.threshold[layer].clamp_min(0))

    # -- writing: features -> MLP outputs --------------------------------------------------------
    def decode(self, acts: torch.Tensor) -> torch.Tensor:
        """MLP outputs ``[... layer d_model]`` from the activations of every layer ``[... layer d_transcoder]``."""
        outs = list(self.b_dec)  # one [d_model] per output layer; each source layer adds its share
        for l in range(self.cfg.n_layers):
            written = einops.einsum(acts[..., l, :], self.W_dec[l], "... f, o f d -> ... o d")
            for o, j in enumerate(self.writes_to(l)):
                outs[j] = outs[j] + written[..., o, :]
        return torch.stack(outs, dim=-2)

    def write_vectors(self, layer: int, features: torch.Tensor) -> torch.Tensor:
        """What one unit of each feature adds to the MLP outputs it writes: ``[n_out n d_model]``
        for ``features [n]`` of ``layer`` (to layers ``writes_to(layer)``, in order)."""
        return self.W_dec[layer][:, features, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """MLP inputs ``[... layer d_model]`` -> predicted MLP outputs ``[... layer d_model]``."""
        acts = torch.stack([self.encode(l, x[..., l, :]) for l in range(self.cfg.n_layers)], dim=-2)
        return self.decode(acts)

    # -- decoder rows at unit norm in training (a feature's size lives in its activation alone) ---
    def decoder_norms(self, layer: int) -> torch.Tensor:  # [d_transcoder], over every layer it writes
        return self.W_dec[layer].pow(2).sum(dim=(0, 2)).sqrt()

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        for l, w in enumerate(self.W_dec):
            w.div_(self.decoder_norms(l).clamp_min(1e-8)[None, :, None])

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Drop the part of each decoder gradient that only changes a row's norm (undone anyway)."""
        for w in self.W_dec:
            if w.grad is not None:
                along = (w.grad * w).sum(dim=(0, 2), keepdim=True)
                w.grad.sub_(along * w)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def check_fits(transcoders: Transcoders, model) -> None:
    """Raise a ValueError naming the mismatch if ``transcoders`` were not made for ``model``'s shape."""
    cfg, mcfg = transcoders.cfg, model.cfg
    if mcfg.attn_only:
        raise ValueError("this model is attention-only: it has no MLPs for transcoders to replace")
    if (cfg.d_model, cfg.n_layers) != (mcfg.d_model, mcfg.n_layers):
        raise ValueError(
            f"these transcoders were trained for a model with d_model={cfg.d_model} and {cfg.n_layers} layers, "
            f"but this model has d_model={mcfg.d_model} and {mcfg.n_layers} layers; load the transcoders made for "
            "this model (their card names it)")


# -- activations from the model ----------------------------------------------------------------

def mlp_input_hook(model, layer: int) -> str:
    """The hook holding what layer ``layer``'s MLP reads: its norm's output, or the stream itself
    in a model without norms."""
    name = f"blocks.{layer}.ln2.hook_normalized"
    return name if name in model.hook_dict else f"blocks.{layer}.hook_resid_mid"


def mlp_output_hook(layer: int) -> str:
    return f"blocks.{layer}.hook_mlp_out"


def bos_id_of(model) -> Optional[int]:
    return getattr(getattr(model, "tokenizer", None), "bos_id", None)


def keep_positions(tokens: torch.Tensor, bos_id: Optional[int]) -> torch.Tensor:
    """``[batch pos]`` True where transcoders are trained, measured and used: not position 0 and not
    a BOS token (``sae.keep_mask``). There attention parks and the MLPs write outliers; the
    replacement model leaves those positions to their error nodes."""
    return keep_mask(tokens, -1 if bos_id is None else bos_id)


@torch.no_grad()
def mlp_activations(model, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every MLP's input and output for ``tokens [batch pos]``: two ``[batch pos layer d_model]``."""
    L = model.cfg.n_layers
    names = [mlp_input_hook(model, l) for l in range(L)] + [mlp_output_hook(l) for l in range(L)]
    _, cache = model.run_with_cache(tokens, names_filter=names)
    x = torch.stack([cache[mlp_input_hook(model, l)] for l in range(L)], dim=2)
    y = torch.stack([cache[mlp_output_hook(l)] for l in range(L)], dim=2)
    return x, y


def activation_batches(model, token_batches: Iterator[torch.Tensor], batch_size: int,
                       buffer_tokens: int = 65_536) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled minibatches ``(x, y)``, each ``[batch_size layer d_model]``: MLP inputs and outputs
    at kept positions, streamed from ``model`` over ``token_batches`` (``[batch pos]`` blocks).
    A buffer of about ``buffer_tokens`` is filled, shuffled, and used once, so memory stays flat."""
    bos = bos_id_of(model)
    generator = torch.Generator().manual_seed(0)
    xs, ys, have = [], [], 0
    while True:
        while have < buffer_tokens:
            tokens = next(token_batches)
            x, y = mlp_activations(model, tokens)
            keep = keep_positions(tokens, bos)
            xs.append(x[keep])
            ys.append(y[keep])
            have += int(keep.sum())
        x, y = torch.cat(xs), torch.cat(ys)
        order = torch.randperm(len(x), generator=generator)
        x, y = x[order], y[order]
        n_full = len(x) // batch_size * batch_size
        for i in range(0, n_full, batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
        xs, ys, have = [x[n_full:]], [y[n_full:]], len(x) - n_full


# -- training ----------------------------------------------------------------------------------

@dataclass
class TranscoderTrainConfig:
    steps: int = 3000  # optimizer steps
    batch_size: int = 1024  # tokens per step (each with every layer's MLP input and output)
    lr: float = 1e-3  # Adam; warmup, constant, then a linear decay over the last 20% (as sae.py)
    warmup_steps: int = 50
    buffer_tokens: int = 65_536  # activations shuffled together
    aux_k: int = 64  # dead features per layer used by the AuxK loss
    aux_coefficient: float = 1 / 32  # as in Gao et al. 2024
    dead_after_tokens: int = 100_000  # a feature silent this long counts as dead during training
    threshold_decay: float = 0.99  # the JumpReLU threshold is this moving average of BatchTopK's cut
    seed: int = 0  # initialisation

    def to_dict(self) -> dict:
        return asdict(self)


def rms(v: torch.Tensor) -> torch.Tensor:
    """``[layer]``: the root mean square entry of each layer's vectors in ``v [batch layer d_model]``."""
    return v.pow(2).mean(dim=(0, 2)).sqrt().clamp_min(1e-8)


@torch.no_grad()
def fold_scales(tc: Transcoders, x_scale: torch.Tensor, y_scale: torch.Tensor) -> None:
    """Make transcoders trained on ``x / x_scale`` and ``y / y_scale`` (per layer) read and write
    the model's own units: the encoder divides by the input's scale, the decoders and output
    bias multiply by the output's. Activations and thresholds are unchanged; a decoder row's norm
    is now the typical size of the MLP output it writes to."""
    tc.W_enc.div_(x_scale[:, None, None])
    for l, w in enumerate(tc.W_dec):
        w.mul_(y_scale[list(tc.writes_to(l))][:, None, None])
    tc.b_dec.mul_(y_scale[:, None])


def batch_topk(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchTopK per layer: of ``pre [batch layer d_transcoder]``, keep the k * batch largest
    positive values of each layer across the whole batch. Returns the activations and, per
    layer, the smallest value kept ``[layer]`` (the cut the inference threshold tracks)."""
    batch, L, n = pre.shape
    flat = einops.rearrange(F.relu(pre), "b l f -> l (b f)")
    values, index = flat.topk(min(k * batch, flat.shape[1]), dim=-1)
    acts = torch.zeros_like(flat).scatter_(-1, index, values)
    cut = torch.where(values > 0, values, torch.full_like(values, float("inf"))).amin(-1)
    return einops.rearrange(acts, "l (b f) -> b l f", b=batch), cut


def loss_terms(tc: Transcoders, x: torch.Tensor, y: torch.Tensor, dead: Optional[torch.Tensor] = None,
               aux_k: int = 64, aux_coefficient: float = 1 / 32) -> dict[str, torch.Tensor]:
    """Loss on a batch ``x, y [batch layer d_model]``: the fraction of each MLP output's variance
    left unexplained, averaged over layers (so layers with small outputs count as much as the
    others); plus, given ``dead [layer d_transcoder]``, AuxK: the dead features' top ``aux_k``
    pre-activations asked to predict what the live ones missed, which gives them a gradient again."""
    pre = einops.einsum(x, tc.W_enc, "b l d, l d f -> b l f") + tc.b_enc
    acts, cut = batch_topk(pre, tc.cfg.k)
    y_hat = tc.decode(acts)
    variance = (y - y.mean(0)).pow(2).sum(-1).mean(0)  # [layer]
    fvu = (y - y_hat).pow(2).sum(-1).mean(0) / variance  # [layer]
    terms = {"reconstruction": fvu.mean()}
    if dead is not None and bool(dead.any()):
        k = min(aux_k, int(dead.sum(-1).max()))
        dead_pre = F.relu(pre).masked_fill(~dead, 0.0)
        values, index = dead_pre.topk(k, dim=-1)
        aux_hat = tc.decode(torch.zeros_like(pre).scatter_(-1, index, values)) - tc.b_dec
        error = (y - y_hat).detach()
        terms["aux"] = aux_coefficient * ((error - aux_hat).pow(2).sum(-1).mean(0) / variance).mean()
    terms["total"] = sum(terms.values())  # (what follows is measured, not optimised)
    terms["fvu"] = fvu.detach()
    terms["l0"] = (acts > 0).float().sum(-1).mean(0).detach()  # [layer]
    terms["fired"] = (acts > 0).any(0).detach()  # [layer d_transcoder]
    terms["cut"] = cut.detach()
    return terms


def train_transcoders(model, token_batches: Iterator[torch.Tensor], cfg: TranscoderConfig,
                      tcfg: TranscoderTrainConfig = TranscoderTrainConfig(), progress: bool = True,
                      on_step: Optional[Callable[[int, dict], Optional[bool]]] = None) -> tuple[Transcoders, dict]:
    """Train transcoders for every MLP of ``model`` on activations streamed over ``token_batches``
    (``[batch pos]`` token blocks; position 0 and BOS tokens are left out). Returns them, in eval
    mode with their JumpReLU thresholds set, and the history. ``on_step(step, terms)`` may return
    True to stop early."""
    from tqdm.auto import tqdm

    if (cfg.d_model, cfg.n_layers) != (model.cfg.d_model, model.cfg.n_layers):
        raise ValueError(f"TranscoderConfig says d_model={cfg.d_model}, n_layers={cfg.n_layers}; the model has "
                         f"d_model={model.cfg.d_model}, n_layers={model.cfg.n_layers}")
    torch.manual_seed(tcfg.seed)
    tc = Transcoders(cfg, seed=tcfg.seed)
    batches = activation_batches(model, token_batches, tcfg.batch_size, tcfg.buffer_tokens)
    x, y = next(batches)
    # Train on each layer's input and output divided by their RMS size (so the learning rate and
    # the initialisation suit every model and layer), and fold the sizes into the weights at the end.
    x_scale, y_scale = rms(x), rms(y - y.mean(0))  # [layer] each
    x, y = x / x_scale[:, None], y / y_scale[:, None]
    with torch.no_grad():  # start each layer's output bias at its mean: the features explain the rest
        tc.b_dec.copy_(y.mean(0))
    optimizer = torch.optim.Adam(tc.parameters(), lr=tcfg.lr)
    since_fired = torch.zeros(cfg.n_layers, cfg.d_transcoder)  # tokens since each feature last fired
    threshold = None
    history = {"step": [], "fvu": [], "l0": [], "dead": [], "seconds": 0.0}
    start = time.perf_counter()
    bar = tqdm(range(tcfg.steps), disable=not progress, desc="training transcoders", unit="step")
    for step in bar:
        if step > 0:
            x, y = next(batches)
            x, y = x / x_scale[:, None], y / y_scale[:, None]
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, tcfg)
        dead = since_fired > tcfg.dead_after_tokens
        terms = loss_terms(tc, x, y, dead, tcfg.aux_k, tcfg.aux_coefficient)
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        tc.remove_parallel_gradient()
        optimizer.step()
        tc.normalize_decoder()
        since_fired = torch.where(terms["fired"], torch.zeros_like(since_fired), since_fired + len(x))
        cut = terms["cut"]
        threshold = cut if threshold is None else tcfg.threshold_decay * threshold + (1 - tcfg.threshold_decay) * cut
        if step % 10 == 0 or step == tcfg.steps - 1:
            history["step"].append(step)
            history["fvu"].append([round(v, 5) for v in terms["fvu"].tolist()])
            history["l0"].append(round(terms["l0"].mean().item(), 2))
            history["dead"].append(round(dead.float().mean().item(), 4))
            bar.set_postfix(fvu=f"{terms['reconstruction'].item():.3f}", l0=f"{terms['l0'].mean().item():.1f}",
                            dead=f"{dead.float().mean().item():.2f}")
        if on_step is not None and on_step(step, terms):
            break
    with torch.no_grad():
        tc.threshold.copy_(torch.nan_to_num(threshold, posinf=0.0))
        fold_scales(tc, x_scale, y_scale)
    history["seconds"] = time.perf_counter() - start
    return tc.eval(), history


# -- the replacement: every MLP's output predicted by the transcoders --------------------------

def replacement_hooks(model, tc: Transcoders, keep: Optional[torch.Tensor] = None) -> list:
    """Hooks that replace every MLP's output by the transcoders' prediction, each from the MLP
    input of *this* run (so errors compound, as they would in a model with no MLPs left). Where
    ``keep [batch pos]`` is False (position 0, BOS tokens) the real MLP output stays."""
    L = tc.cfg.n_layers
    acts: dict[int, torch.Tensor] = {}

    def read(layer):
        def fn(x, hook):
            acts[layer] = tc.encode(layer, x)  # [batch pos d_transcoder]
        return fn

    def write(layer):
        def fn(out, hook):  # out: [batch pos d_model]
            y_hat = tc.b_dec[layer] + sum(acts[l] @ tc.W_dec[l][layer - l] for l in range(layer + 1)
                                          if layer in tc.writes_to(l))
            return y_hat if keep is None else torch.where(keep[..., None], y_hat, out)
        return fn

    return ([(mlp_input_hook(model, l), read(l)) for l in range(L)]
            + [(mlp_output_hook(l), write(l)) for l in range(L)])


# -- metrics -----------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(tc: Transcoders, model, tokens: torch.Tensor, batch_size: int = 16) -> dict:
    """The card's metrics on held-out ``tokens [batch pos]``, at kept positions:

    - variance_explained_layer_{l}: 1 - sum ||y - y_hat||^2 / sum ||y - mean y||^2 of MLP l's
      output, each transcoder given the real MLP input; variance_explained, their mean;
    - l0_layer_{l}: active features per token; l0, their mean;
    - dead_fraction_layer_{l}: features that never fire on these tokens; dead_fraction, the mean
      (few tokens make rare features look dead: see ``dead_fraction`` for many);
    - the replacement model, every MLP replaced at once (``replacement_hooks``), against the real
      one: top1_agreement (same next-token argmax), kl_divergence (KL(real || replacement) in nats,
      mean per token), ce_loss_clean and ce_loss_replaced (next-token losses)."""
    check_fits(tc, model)
    L = tc.cfg.n_layers
    bos = bos_id_of(model)
    sq_err = torch.zeros(L)
    ys, l0_sum, n = [], torch.zeros(L), 0
    fired = torch.zeros(L, tc.cfg.d_transcoder, dtype=torch.bool)
    agree = kl = ce_clean = ce_replaced = 0.0
    n_next = 0
    for i in range(0, len(tokens), batch_size):
        chunk = tokens[i : i + batch_size]
        keep = keep_positions(chunk, bos)
        x, y = mlp_activations(model, chunk)
        x, y = x[keep], y[keep]  # [n layer d_model]
        acts = torch.stack([tc.encode(l, x[:, l]) for l in range(L)], dim=1)
        sq_err += (y - tc.decode(acts)).pow(2).sum(dim=(0, 2))
        ys.append(y)
        l0_sum += (acts > 0).float().sum(dim=(0, 2))
        fired |= (acts > 0).any(0)
        n += len(x)

        clean = model(chunk)
        replaced = model.run_with_hooks(chunk, fwd_hooks=replacement_hooks(model, tc, keep))
        p_log, q_log = clean.log_softmax(-1)[keep], replaced.log_softmax(-1)[keep]  # [n d_vocab]
        agree += (p_log.argmax(-1) == q_log.argmax(-1)).sum().item()
        kl += (p_log.exp() * (p_log - q_log)).sum().item()
        predicted_here = keep[:, :-1]  # next-token losses of the predictions made at kept positions
        ce_clean += next_token_loss(clean, chunk, per_token=True)[predicted_here].sum().item()
        ce_replaced += next_token_loss(replaced, chunk, per_token=True)[predicted_here].sum().item()
        n_next += int(predicted_here.sum())
    y_all = torch.cat(ys)
    variance = (y_all - y_all.mean(0)).pow(2).sum(dim=(0, 2))
    ve, l0, dead = 1 - sq_err / variance, l0_sum / n, 1 - fired.float().mean(-1)
    metrics = {"variance_explained": ve.mean().item(), "l0": l0.mean().item(), "dead_fraction": dead.mean().item()}
    for l in range(L):
        metrics[f"variance_explained_layer_{l}"] = ve[l].item()
        metrics[f"l0_layer_{l}"] = l0[l].item()
        metrics[f"dead_fraction_layer_{l}"] = dead[l].item()
    metrics.update({"top1_agreement": agree / n, "kl_divergence": kl / n, "ce_loss_clean": ce_clean / n_next,
                    "ce_loss_replaced": ce_replaced / n_next, "n_tokens": n})
    return metrics


@torch.no_grad()
def dead_fraction(tc: Transcoders, model, token_batches: Iterator[torch.Tensor], n_tokens: int) -> list[float]:
    """Per layer, the fraction of features that never fire on about ``n_tokens`` kept tokens."""
    bos = bos_id_of(model)
    fired = torch.zeros(tc.cfg.n_layers, tc.cfg.d_transcoder, dtype=torch.bool)
    seen = 0
    while seen < n_tokens:
        tokens = next(token_batches)
        x, _ = mlp_activations(model, tokens)
        x = x[keep_positions(tokens, bos)]
        for l in range(tc.cfg.n_layers):
            fired[l] |= (tc.encode(l, x[:, l]) > 0).any(0)
        seen += len(x)
    return (1 - fired.float().mean(-1)).tolist()


@torch.no_grad()
def feature_activations(tc: Transcoders, model, tokens: torch.Tensor, layer: int,
                        features: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``[batch pos n]`` activations of ``features`` (default: all) of ``layer`` on ``tokens``,
    0 at position 0 and BOS tokens (where the replacement model uses no features)."""
    from course.sae import activations_at

    x = activations_at(model, tokens, mlp_input_hook(model, layer))
    acts = tc.encode(layer, x) * keep_positions(tokens, bos_id_of(model))[..., None]
    return acts if features is None else acts[..., features]


# -- saving and loading ------------------------------------------------------------------------

def round_to(tc: Transcoders, dtype: torch.dtype) -> Transcoders:
    """Round every parameter to ``dtype`` and back, in place: the transcoders as they will be after a
    ``save(..., dtype=dtype)`` and ``load`` (measure a card on these)."""
    with torch.no_grad():
        for p in tc.state_dict().values():
            p.copy_(p.to(dtype).to(p.dtype))
    return tc


def save(tc: Transcoders, path, card: Optional[dict] = None, dtype: torch.dtype = torch.float32) -> dict:
    """Write ``path`` (.safetensors, in ``dtype``) and its card (.json, with the config); returns the
    card. ``load`` computes in float32 whatever the file holds."""
    tensors = {k: v.detach().to("cpu", dtype) for k, v in tc.state_dict().items()}
    return save_weights(tensors, path, {**(card or {}), "transcoder_config": tc.cfg.to_dict(),
                                        "dtype": str(dtype).removeprefix("torch.")})


def load(path) -> Transcoders:
    """Transcoders saved with ``save``; the card is on ``.card`` and its sha256 is checked."""
    path = Path(path)
    card = read_card(path)
    try:
        cfg = TranscoderConfig(**card["transcoder_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"card {path.with_suffix('.json')} has no valid transcoder_config: {e}") from None
    state = load_state(path, card.get("sha256"))
    tc = Transcoders(cfg)
    expected = tc.state_dict()
    wrong = sorted(set(state) ^ set(expected))
    wrong += [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if wrong:
        raise WeightsError(f"{path} does not fit its card's transcoder_config: keys or shapes differ at {wrong[:5]}")
    tc.load_state_dict({k: v.float() for k, v in state.items()})
    tc.card = card
    return tc.eval()
