"""Grokking modular addition: the data, the model, two training recipes and the Fourier tools.

The setup is the standard one of the grokking literature (Power et al. 2022; Nanda et al. 2023,
"Progress measures for grokking via mechanistic interpretability"): every pair (a, b) with
a, b in Z_p, p = 113, written as the three tokens ``a b =`` (token p stands for '='), the label
(a + b) mod p read at the last position; a one-layer transformer without LayerNorm; full-batch
AdamW with strong weight decay on a seeded 30% of the pairs. Nanda et al.'s initialisation
(N(0, 1/d_model), the unembedding N(0, 1/d_vocab)) and their 10-step warmup are used.

Recipes: ``STANDARD`` (lr 1e-3, wd 1.0; groks after thousands of steps), ``FAST`` (lr 3e-3,
wd 2.0, plus Grokfast-EMA gradient filtering, Lee et al. 2024, which adds an exponential moving
average of past gradients back onto each gradient and so amplifies the slow, consistent
components that build the generalising circuit) and ``LIVE``, the one a chapter trains in front
of the learner: FAST's optimiser on a smaller problem (p = 71, 35% of the pairs), with three CPU
speed-ups that leave the maths alone (attention by table lookups, a bfloat16 forward pass,
denormals flushed to zero). It memorises by step 150 and groks in 950-2,650 steps: under 45 s
on one CPU core.

Only the last position's output is ever read, so training uses ``last_logits``: the same maths
as ``model(tokens)[:, -1]`` (a test holds it to that) without the queries, MLP and unembedding
of the first two positions, which is several times faster on a CPU. ``table_logits`` goes one
step further for the live run.

The shipped run, ``modadd``, is the standard recipe with a series of float16 snapshots, declared
to the zoo by ``ENTRIES`` below: ``python -m course.zoo train modadd`` rewrites it;
``python -m course.modadd train-fast`` runs the accelerated recipe until it groks.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F

from course import weights, zoo
from course.config import ModelConfig
from course.metrics import fourier_basis
from course.model import HookedTransformer
from course.registry import Entry, train_command

P = 113
NAME = "modadd"


# -- the data ------------------------------------------------------------------------------------
@dataclass
class ModAddData:
    p: int
    tokens: torch.Tensor  # [p*p 3]: row a*p + b is (a, b, p); p is the '=' token
    labels: torch.Tensor  # [p*p]: (a + b) mod p
    train: torch.Tensor  # indices of the training pairs (sorted)
    test: torch.Tensor  # the other pairs (sorted)


def make_data(p: int = P, frac_train: float = 0.3, seed: int = 0) -> ModAddData:
    """All p^2 pairs in the order a*p + b (so logits reshape to a [p, p] grid), and a seeded split."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    labels = (a + b) % p
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(round(frac_train * p * p))
    return ModAddData(p, tokens, labels, order[:n_train].sort().values, order[n_train:].sort().values)


# -- the model -----------------------------------------------------------------------------------
def model_config(p: int = P) -> ModelConfig:
    return ModelConfig(n_layers=1, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=p + 1, n_ctx=3,
                       normalization=None, act_fn="relu")


def make_model(p: int = P, seed: int = 0) -> HookedTransformer:
    """A fresh model with Nanda et al.'s initialisation (wider than GPT-2's N(0, 0.02))."""
    model = HookedTransformer(model_config(p))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.split(".")[-1].startswith("b"):
                param.zero_()
            else:
                fan = model.cfg.d_vocab if name == "unembed.W_U" else model.cfg.d_model
                param.copy_(torch.randn(param.shape, generator=generator) / math.sqrt(fan))
    return model


def last_logits(model: HookedTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """``model(tokens)[:, -1]`` for a one-layer model without LayerNorm, computing only what the
    last position needs: its query, its attention over all keys, its MLP and its unembedding.

    Keys, values and the query depend on a token and its position only, so they are computed once
    per (position, vocabulary entry), 3 x 114 rows, and gathered, instead of once per sequence.
    """
    cfg = model.cfg
    if cfg.n_layers != 1 or cfg.normalization is not None or cfg.attn_only:
        raise ValueError("last_logits is written for the one-layer, LayerNorm-free modular addition model")
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    h, e = cfg.n_heads, cfg.d_head
    n_pos = tokens.shape[1]
    table = model.W_E[None] + model.W_pos[:n_pos, None]  # [pos d_vocab d_model]: every token at every position
    w_qkv, b_qkv = attn.qkv_weight()  # [d_model 3*head_index*d_head]
    kv_table = (table @ w_qkv[:, h * e:] + b_qkv[h * e:]).flatten(0, 1)  # [pos*d_vocab 2*head_index*d_head]
    rows = tokens + torch.arange(n_pos, device=tokens.device) * cfg.d_vocab  # row of (position, token)
    # F.embedding is a gather whose backward is much faster than that of plain indexing
    kv = F.embedding(rows, kv_table).view(-1, n_pos, 2, h, e)  # [batch pos 2 head_index d_head]
    k, v = kv[:, :, 0], kv[:, :, 1]
    last = F.embedding(tokens[:, -1], table[-1])  # [batch d_model]: the residual stream at the last position
    q = F.embedding(tokens[:, -1], table[-1] @ w_qkv[:, : h * e] + b_qkv[: h * e]).view(-1, 1, h, e)
    # The last query may look at every key: no causal mask is needed. With 3 keys, a product
    # and a sum are faster than thousands of tiny matrix multiplications.
    pattern = ((q * k).sum(-1) / math.sqrt(e)).softmax(dim=1)  # [batch key_pos head_index]
    z = (pattern[..., None] * v).sum(1)  # [batch head_index d_head]
    x = last + z.reshape(-1, h * e) @ attn.W_O.reshape(h * e, -1) + attn.b_O  # [batch d_model]
    x = x + mlp(x)
    return model.unembed(x)  # [batch d_vocab]


def table_logits(model: HookedTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """``last_logits`` again, with the attention done by table lookups: a third faster on a CPU.

    An attention score depends only on the query's token and the key's (position, token), so all
    d_vocab x pos x d_vocab x head_index of them fit in one small table; the pattern is three rows
    gathered from it, and the weighted sum of values is one ``F.embedding_bag`` per head (a fused
    gather-and-sum with weights) instead of broadcast products over the whole batch.
    """
    cfg = model.cfg
    if cfg.n_layers != 1 or cfg.normalization is not None or cfg.attn_only or cfg.n_key_value_heads != cfg.n_heads:
        raise ValueError("table_logits is written for the one-layer, LayerNorm-free modular addition model")
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    h, e, n_vocab = cfg.n_heads, cfg.d_head, cfg.d_vocab
    n_pos = tokens.shape[1]
    table = model.W_E[None] + model.W_pos[:n_pos, None]  # [pos d_vocab d_model]: every token at every position
    q = torch.einsum("vd,hde->vhe", table[-1], attn.W_Q) + attn.b_Q  # [d_vocab head_index d_head]: last position
    k = torch.einsum("pvd,hde->pvhe", table, attn.W_K) + attn.b_K  # [pos d_vocab head_index d_head]
    v = torch.einsum("pvd,hde->pvhe", table, attn.W_V) + attn.b_V  # [pos d_vocab head_index d_head]
    scores = torch.einsum("qhe,pkhe->qpkh", q, k) / math.sqrt(e)  # [d_vocab pos d_vocab head_index]
    rows = tokens + torch.arange(n_pos, device=tokens.device) * n_vocab  # [batch pos]: row of (position, token)
    last = tokens[:, -1]  # [batch]: the query's token
    # The last query may look at every key: no causal mask is needed.
    score_rows = last[:, None] * (n_pos * n_vocab) + rows  # [batch pos]: row of (query token, key position, token)
    pattern = F.embedding(score_rows, scores.reshape(-1, h)).softmax(dim=1)  # [batch key_pos head_index]
    heads = torch.arange(h, device=tokens.device)
    bags = (rows[:, None, :] * h + heads[:, None]).flatten(0, 1)  # [batch*head_index pos]: rows of v.view(-1, d_head)
    weights = pattern.transpose(1, 2).flatten(0, 1).to(v.dtype)  # [batch*head_index pos]
    z = F.embedding_bag(bags, v.reshape(-1, e), per_sample_weights=weights, mode="sum")  # [batch*head_index d_head]
    x = F.embedding(last, table[-1]) + z.view(-1, h * e) @ attn.W_O.reshape(h * e, -1) + attn.b_O  # [batch d_model]
    x = x + mlp(x)
    return model.unembed(x)  # [batch d_vocab]


def answer_logits(model: HookedTransformer, tokens: torch.Tensor, forward: Callable = last_logits) -> torch.Tensor:
    """The logits of the p possible answers ('=' is never an answer, so its logit is dropped).
    ``forward`` is ``last_logits`` or ``table_logits``: the same maths."""
    return forward(model, tokens)[:, : model.cfg.d_vocab - 1]


def loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
    # float64 log-softmax: late in training the losses are ~1e-7 and float32 rounds them badly
    loss = F.cross_entropy(logits.double(), labels)
    return loss, (logits.argmax(-1) == labels).float().mean().item()


def weight_norm(model: torch.nn.Module) -> float:
    """L2 norm of all parameters together: what weight decay shrinks."""
    return math.sqrt(sum(p.detach().pow(2).sum().item() for p in model.parameters()))


# -- training ------------------------------------------------------------------------------------
@dataclass
class GrokConfig:
    steps: int = 15000  # full-batch optimizer steps (at most)
    lr: float = 1e-3
    weight_decay: float = 1.0  # AdamW's decoupled decay, on every parameter (as Nanda et al.)
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 10  # linear warmup, then constant (as Nanda et al.)
    grokfast_alpha: Optional[float] = None  # EMA decay of the gradient filter (None: no filter)
    grokfast_lambda: float = 0.0  # how much of the gradient EMA is added to each gradient
    log_every: int = 100  # evaluate train/test loss and accuracy every this many steps
    p: int = P
    frac_train: float = 0.3
    seed: int = 0  # weight initialisation
    data_seed: int = 0  # the train/test split
    # CPU speed-ups of the live run; they change the arithmetic's rounding, not the maths
    table_attention: bool = False  # train and evaluate with table_logits instead of last_logits
    bf16: bool = False  # bfloat16 autocast for the training forward pass (the loss and evaluations stay float32)
    flush_denormal: bool = False  # treat denormal floats as zero while training (see flush_denormal)
    progress_measures: bool = False  # log restricted/excluded loss and key-frequency share (live_measures)

    def to_dict(self) -> dict:
        return asdict(self)


STANDARD = GrokConfig(steps=15000, lr=1e-3, weight_decay=1.0, log_every=100)
FAST = GrokConfig(steps=3000, lr=3e-3, weight_decay=2.0, grokfast_alpha=0.98, grokfast_lambda=2.0, log_every=20)
# The live run: FAST's optimiser on a smaller problem, p = 71 with 35% of the pairs for training
# (1,764 of 5,041), plus the CPU speed-ups. Seeds 0-9 memorise by step 150 with 5-25% test
# accuracy and grok at steps 950-2,650. The shipped problem, p = 113 with 30%, needs up to 2,350
# steps at ~0.025 s each even so (too long for 45 s on one core); with 40% the plateau all but
# vanishes.
LIVE = GrokConfig(steps=4000, lr=3e-3, weight_decay=2.0, grokfast_alpha=0.98, grokfast_lambda=2.0, log_every=50,
                  p=71, frac_train=0.35,
                  table_attention=True, bf16=True, flush_denormal=True, progress_measures=True)


class GrokfastEMA:
    """Grokfast-EMA (Lee et al. 2024, "Grokfast: accelerated grokking by amplifying slow gradients").

    Keeps ``ema = alpha * ema + (1 - alpha) * grad`` per parameter and replaces each gradient by
    ``grad + lamb * ema``. Memorising moves the gradient around from step to step; the
    generalising direction is slow and steady, so the EMA amplifies mostly that.
    """

    def __init__(self, params, alpha: float = 0.98, lamb: float = 2.0):
        self.params = [p for p in params if p.requires_grad]
        self.alpha, self.lamb = alpha, lamb
        self.ema: Optional[list[torch.Tensor]] = None

    @torch.no_grad()
    def __call__(self) -> None:
        grads = [p.grad for p in self.params]
        if self.ema is None:  # start the average at the first gradient, as the reference code does
            self.ema = [g.detach().clone() for g in grads]
        else:
            for e, g in zip(self.ema, grads):
                e.mul_(self.alpha).add_(g, alpha=1 - self.alpha)
        for e, g in zip(self.ema, grads):
            g.add_(e, alpha=self.lamb)


def evaluate(model: HookedTransformer, data: ModAddData, cfg: Optional[GrokConfig] = None) -> dict:
    """Train and test loss and accuracy on every pair (float32), and the weight norm. With a recipe
    ``cfg``, evaluated as it trains: with its forward pass, and its progress measures if it logs them."""
    forward = table_logits if cfg is not None and cfg.table_attention else last_logits
    with torch.no_grad():
        logits = answer_logits(model, data.tokens, forward)  # [p*p p]
        train_loss, train_acc = loss_and_accuracy(logits[data.train], data.labels[data.train])
        test_loss, test_acc = loss_and_accuracy(logits[data.test], data.labels[data.test])
    metrics = {"train_loss": train_loss.item(), "test_loss": test_loss.item(), "train_acc": train_acc,
               "test_acc": test_acc, "weight_norm": weight_norm(model)}
    if cfg is not None and cfg.progress_measures:
        metrics.update(live_measures(model, data, logits))
    return metrics


def live_measures(model: HookedTransformer, data: ModAddData, logits: Optional[torch.Tensor] = None,
                  n_key: int = 5) -> dict:
    """Nanda et al.'s progress measures while training runs: ``restricted_loss``, ``excluded_loss``
    and ``key_fraction``, the share of the embedding's squared norm in the key frequencies.

    The run's final key frequencies are not known yet, so the key frequencies are the ``n_key``
    strongest in W_E *now* (also returned, as ``key_frequencies``): noise early on, settling as
    the circuit forms. Pass the answer logits of every pair ``[p*p p]`` if you have them (an
    evaluation just computed them); then this costs a few milliseconds.
    """
    if logits is None:
        logits = all_logits(model, data)
    freqs = key_frequencies(model.W_E, n_key, data.p)
    return {"restricted_loss": restricted_loss(logits, data.labels, freqs, data.p),
            "excluded_loss": excluded_loss(logits, data.labels, freqs, data.train, data.p),
            "key_fraction": top_frequency_fraction(model.W_E, n_key, data.p), "key_frequencies": freqs}


def _flushing_denormals() -> bool:
    """Whether this thread now treats denormal floats as zero (torch can set the mode, not read it)."""
    return (torch.tensor([1e-320], dtype=torch.float64) * 1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormal(enabled: bool = True) -> Iterator[None]:
    """Treat denormal floats (below ~1e-38 in float32) as zero inside the block, then restore the
    mode found. Near zero training loss many gradients and Adam moments become denormal, and CPU
    arithmetic on them is slow: a probe at p = 113 saw steps grow by half without this (in the
    live run, which stops sooner, the difference was within the timing noise)."""
    if not enabled:
        yield
        return
    before = _flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def training_steps(model: HookedTransformer, data: ModAddData, cfg: GrokConfig) -> Iterator[tuple[int, dict]]:
    """Train ``model`` in place, one full-batch step per iteration, forever (the caller stops).
    Yields ``(step, metrics)``: ``train_loss`` always; on logged steps (every ``cfg.log_every``)
    also ``test_loss``, ``train_acc``, ``test_acc`` and ``weight_norm`` (and, with
    ``cfg.progress_measures``, those of ``live_measures``). With ``cfg.flush_denormal`` the mode
    holds until the generator is closed (``close()``, or garbage collection)."""
    torch.manual_seed(cfg.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
    grokfast = GrokfastEMA(model.parameters(), cfg.grokfast_alpha, cfg.grokfast_lambda) \
        if cfg.grokfast_alpha is not None else None
    forward = table_logits if cfg.table_attention else last_logits
    train_tokens, train_labels = data.tokens[data.train], data.labels[data.train]
    step = 0
    with flush_denormal(cfg.flush_denormal):
        while True:
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * min(1.0, step / cfg.warmup_steps)
            with torch.autocast(train_tokens.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = answer_logits(model, train_tokens, forward)  # [batch p]
            loss = F.cross_entropy(logits.float(), train_labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grokfast is not None:
                grokfast()
            optimizer.step()
            if step % cfg.log_every == 0:
                metrics = evaluate(model, data, cfg)
                model.train()
            else:
                metrics = {"train_loss": loss.item()}
            yield step, metrics


def train(model: HookedTransformer, data: ModAddData, cfg: GrokConfig,
          on_step: Optional[Callable[[int, dict], Optional[bool]]] = None,
          snapshot_every: Optional[int] = None, stop_at_test_acc: Optional[float] = None,
          max_seconds: Optional[float] = None, progress: bool = False) -> dict:
    """Full-batch training of ``model`` in place for ``cfg.steps`` steps. Returns the history
    (one row per logged step) and when test accuracy first exceeded 99% (``grokked_step``).

    ``on_step(step, metrics)`` is called after every step with ``train_loss``; on logged steps
    (every ``cfg.log_every``) ``metrics`` also holds ``test_loss``, ``train_acc``, ``test_acc``,
    ``weight_norm`` and ``seconds``, and with ``cfg.progress_measures`` ``restricted_loss``,
    ``excluded_loss``, ``key_fraction`` and ``key_frequencies`` (see ``live_measures``); the
    history has a column for each. Returning True stops training (a widget's Stop button).
    ``stop_at_test_acc`` stops at the first logged step whose test accuracy exceeds it;
    ``max_seconds`` caps the wall time. With ``snapshot_every``, float16 copies of the weights
    are kept in ``history["snapshots"]`` (step 0 included).
    """
    columns = ["train_loss", "test_loss", "train_acc", "test_acc", "weight_norm", "seconds"]
    if cfg.progress_measures:
        columns += ["restricted_loss", "excluded_loss", "key_fraction", "key_frequencies"]
    history: dict = {"step": [], **{key: [] for key in columns}, "grokked_step": None, "grokked_seconds": None}
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def snapshot(step):
        snapshots[step] = {k: v.detach().to("cpu", torch.float16).clone() for k, v in model.state_dict().items()}

    if snapshot_every:
        snapshot(0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc="training", unit="step")
    start = time.perf_counter()
    # closing() ends the generator on any exit, which restores the denormal mode (flush_denormal)
    with contextlib.closing(training_steps(model, data, cfg)) as steps:
        for step, metrics in steps:
            logged = "test_acc" in metrics
            out_of_time = max_seconds is not None and time.perf_counter() - start > max_seconds
            if not logged and (step == cfg.steps or out_of_time):
                metrics, logged = evaluate(model, data, cfg), True  # end on a logged row
            if logged:
                metrics["seconds"] = time.perf_counter() - start
                history["step"].append(step)
                for key in columns:
                    history[key].append(metrics[key])
                if history["grokked_step"] is None and metrics["test_acc"] > 0.99:
                    history["grokked_step"], history["grokked_seconds"] = step, metrics["seconds"]
                if bar is not None:
                    bar.set_postfix(train_acc=f"{metrics['train_acc']:.2f}", test_acc=f"{metrics['test_acc']:.2f}")
            if snapshot_every and step % snapshot_every == 0:
                snapshot(step)
            if bar is not None:
                bar.update(1)
            stop = on_step is not None and bool(on_step(step, metrics))
            stop |= logged and stop_at_test_acc is not None and metrics["test_acc"] > stop_at_test_acc
            stop |= max_seconds is not None and time.perf_counter() - start > max_seconds
            if stop or step >= cfg.steps:
                if not logged:  # stopped by on_step between logged steps: record where
                    metrics = {**evaluate(model, data, cfg), "seconds": time.perf_counter() - start}
                    history["step"].append(step)
                    for key in columns:
                        history[key].append(metrics[key])
                break
    if bar is not None:
        bar.close()
    history["seconds_total"] = time.perf_counter() - start
    if snapshot_every:
        history["snapshots"] = snapshots
    model.eval()
    return history


# -- Fourier analysis ----------------------------------------------------------------------------
def frequency_power(W_E: torch.Tensor, p: int = P) -> torch.Tensor:
    """Squared norm of the number embeddings (rows 0 .. p-1 of W_E) in each frequency:
    ``[p // 2 + 1]``, index 0 the constant, index k the cos and sin of frequency k together."""
    coeffs = fourier_basis(p).to(W_E.dtype) @ W_E[:p].detach().float()  # [p d_model]
    power = coeffs.pow(2).sum(-1)
    return torch.cat([power[:1], power[1::2] + power[2::2]])


def key_frequencies(W_E: torch.Tensor, k: int = 5, p: int = P) -> list[int]:
    """The ``k`` frequencies (1 .. p // 2) holding the most embedding norm, strongest first."""
    power = frequency_power(W_E, p)[1:]
    return [int(i) + 1 for i in power.argsort(descending=True)[:k]]


def top_frequency_fraction(W_E: torch.Tensor, k: int = 5, p: int = P) -> float:
    """Fraction of the embedding's squared norm in its ``k`` strongest frequencies (~k / (p // 2)
    for an unstructured embedding)."""
    power = frequency_power(W_E, p)
    return (power[1:].sort(descending=True).values[:k].sum() / power.sum()).item()


def all_logits(model: HookedTransformer, data: ModAddData) -> torch.Tensor:
    """Answer logits for every pair: ``[p*p, p]``, row a*p + b."""
    with torch.no_grad():
        return answer_logits(model, data.tokens)


def trig_readout_fraction(logits: torch.Tensor, freqs: Sequence[int], p: int = P) -> float:
    """How much of the logits' variance (over answers c, for every pair a, b) a weighted sum of
    cos(w_k (a + b - c)) over the given frequencies explains: the trig-identity readout.

    The best weights are least-squares fits, one per frequency; because these cosines are
    orthogonal over the p^3 triples (a, b, c), each is fitted alone. Returns R^2 in [0, 1]."""
    centred = (logits - logits.mean(-1, keepdim=True)).double()  # [p*p p]
    s = (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)) % p  # a + b, row a*p + b
    by_sum = torch.zeros(p, p, dtype=torch.float64).index_add_(0, s, centred)  # [sum c]
    diff = (torch.arange(p)[:, None] - torch.arange(p)[None, :]).double()  # s - c
    explained = sum((by_sum * torch.cos(2 * math.pi * k * diff / p)).sum() ** 2 / (p ** 3 / 2) for k in freqs)
    return (explained / centred.pow(2).sum()).item()


def key_directions(freqs: Sequence[int], p: int = P) -> torch.Tensor:
    """``[2 * len(freqs), p*p]`` orthonormal functions of the pair (a, b): cos(w_k (a + b)) and
    sin(w_k (a + b)) for each key frequency, the only directions the Fourier circuit reads out."""
    s = (torch.arange(p).repeat_interleave(p) + torch.arange(p).repeat(p)).double()  # a + b, row a*p + b
    rows = []
    for k in freqs:
        rows += [torch.cos(2 * math.pi * k * s / p), torch.sin(2 * math.pi * k * s / p)]
    rows = torch.stack(rows)
    return (rows / rows.norm(dim=1, keepdim=True)).float()


def restricted_logits(logits: torch.Tensor, freqs: Sequence[int], p: int = P) -> torch.Tensor:
    """The logits ``[p*p, p]`` projected, for each answer, onto the key directions of (a, b)."""
    D = key_directions(freqs, p).to(logits.dtype)
    return D.T @ (D @ logits)


def restricted_loss(logits: torch.Tensor, labels: torch.Tensor, freqs: Sequence[int], p: int = P) -> float:
    """Loss on all pairs when only the key-frequency part of the logits is kept (Nanda et al.):
    low once the Fourier circuit alone can do the task."""
    return F.cross_entropy(restricted_logits(logits, freqs, p).double(), labels).item()


def excluded_loss(logits: torch.Tensor, labels: torch.Tensor, freqs: Sequence[int], train: torch.Tensor,
                  p: int = P) -> float:
    """Training loss when the key-frequency part of the logits is removed (Nanda et al.): rises as
    the model comes to rely on the Fourier circuit instead of memorised lookups."""
    kept = logits - restricted_logits(logits, freqs, p)
    return F.cross_entropy(kept[train].double(), labels[train]).item()


# -- the three phases ----------------------------------------------------------------------------
# Each boundary is one crisp rule on the logged series (steps are those of the logged rows):
PHASE_RULES = {
    "memorised": "first step with train accuracy >= 99%: memorisation ends, circuit formation begins",
    "circuit": "first step after 'memorised' with restricted loss below excluded loss: the key-frequency "
               "part of the logits now explains the data better than everything else, test accuracy still low",
    "cleanup": "first step with test accuracy >= 50%: the test loss is falling fast, cleanup has begun",
    "grokked": "first step with test accuracy > 99%",
    "clean": "first step after 'grokked' whose weight norm is within 2% of the run's final weight norm: "
             "weight decay has finished removing the memorisation",
}


def _first(steps, condition, after: int = -1) -> Optional[int]:
    return next((s for s, ok in zip(steps, condition) if ok and s > after), None)


def phase_boundaries(series: dict) -> dict:
    """Boundaries of the three phases from a series with columns step, train_acc, test_acc,
    weight_norm, restricted_loss, excluded_loss (lists, one entry per logged step). See PHASE_RULES."""
    steps = series["step"]
    memorised = _first(steps, [a >= 0.99 for a in series["train_acc"]])
    after = memorised if memorised is not None else -1
    circuit = _first(steps, [r < e for r, e in zip(series["restricted_loss"], series["excluded_loss"])], after)
    cleanup = _first(steps, [a >= 0.5 for a in series["test_acc"]])
    grokked = _first(steps, [a > 0.99 for a in series["test_acc"]])
    final_norm = series["weight_norm"][-1]
    clean = None if grokked is None else _first(
        steps, [abs(n - final_norm) <= 0.02 * final_norm for n in series["weight_norm"]], grokked - 1)
    return {"memorised": memorised, "circuit": circuit, "cleanup": cleanup, "grokked": grokked, "clean": clean}


def progress_measures(model: HookedTransformer, data: ModAddData, freqs: Sequence[int], n_top: int = 5) -> dict:
    """The progress measures of one snapshot, given the run's key frequencies."""
    logits = all_logits(model, data)
    return {"restricted_loss": restricted_loss(logits, data.labels, freqs, data.p),
            "excluded_loss": excluded_loss(logits, data.labels, freqs, data.train, data.p),
            "top_fraction": top_frequency_fraction(model.W_E, n_top, data.p),
            "trig_fraction": trig_readout_fraction(logits, freqs, data.p)}


# -- the shipped run -----------------------------------------------------------------------------
DESCRIPTION = ("One-layer transformer (no LayerNorm, ReLU MLP) trained on (a + b) mod 113 with the standard "
               "grokking recipe: full-batch AdamW, lr 1e-3, weight decay 1.0, 30% of pairs. Memorises, "
               "forms a Fourier circuit, then groks; float16 snapshots cover the three phases.")
N_SERIES = 13  # snapshots shipped
N_KEY = 5  # key frequencies measured


def load() -> HookedTransformer:
    """The shipped standard run's final weights (``zoo.load("modadd")``)."""
    return zoo.load(NAME)


def card() -> dict:
    return zoo.card(NAME)


def load_series() -> dict[int, HookedTransformer]:
    """Every shipped snapshot of the standard run, by training step (float16 on disk, float32 here)."""
    return zoo.load_series(NAME)


def card_metrics(model: HookedTransformer, data: ModAddData) -> dict:
    """The metrics of a modadd card that the weights determine (the card adds when it grokked)."""
    logits = all_logits(model, data)
    freqs = key_frequencies(model.W_E, N_KEY, data.p)
    return {**evaluate(model, data), "key_frequencies": freqs,
            "top5_fraction": top_frequency_fraction(model.W_E, 5, data.p),
            "trig_fraction": trig_readout_fraction(logits, freqs, data.p),
            "restricted_loss": restricted_loss(logits, data.labels, freqs, data.p),
            "excluded_loss": excluded_loss(logits, data.labels, freqs, data.train, data.p)}


def _measure_loaded(model: HookedTransformer) -> dict:
    """``card_metrics`` on the pairs and split its card records."""
    d = model.card["data"]
    return card_metrics(model, make_data(d["p"], d["frac_train"], d["seed"]))


def _select_series(steps: list[int], phases: dict, n: int) -> list[int]:
    """About ``n`` snapshot steps to ship: step 0, log-spaced ones through memorisation, the phase
    boundaries, and the rest evenly through circuit formation and cleanup, where the story is."""
    available = sorted(steps)
    pick = lambda s: min(available, key=lambda a: abs(a - s))  # noqa: E731
    chosen = {0, available[-1]} | {pick(s) for s in phases.values() if s is not None}
    memorised = phases.get("memorised") or available[len(available) // 10]
    chosen |= {pick(s) for s in (memorised // 10, memorised // 3)}
    end = phases.get("clean") or available[-1]
    k = max(0, n - len(chosen))
    chosen |= {pick(memorised + (end - memorised) * (i + 1) / (k + 1)) for i in range(k)}
    return sorted(chosen)


def train_standard(out_dir: Path, steps: Optional[int] = None, progress: bool = True) -> dict:
    """Train the standard recipe from scratch and write ``modadd`` (final weights, float32),
    ``modadd-series`` (float16 snapshots) and the card to ``out_dir``. Returns the card.
    ``steps`` shortens the run (a smoke test), logged and snapshotted every tenth of it."""
    cfg = STANDARD
    if steps:
        cfg = GrokConfig(**{**STANDARD.to_dict(), "steps": steps, "log_every": max(1, min(cfg.log_every, steps // 10))})
    data = make_data(cfg.p, cfg.frac_train, cfg.data_seed)
    model = make_model(cfg.p, cfg.seed)
    history = train(model, data, cfg, snapshot_every=cfg.log_every, progress=progress)
    return write_run(out_dir, model, data, cfg, history, train_command(NAME, steps))


def write_run(out_dir: Path, model: HookedTransformer, data: ModAddData, cfg: GrokConfig, history: dict,
              command: str) -> dict:
    """Measure a finished run (``history`` with its snapshots), locate its phases, and write the
    weights, the snapshot series and the card. Returns the card."""
    snapshots = history["snapshots"]
    model = model.cpu().eval()
    freqs = key_frequencies(model.W_E, N_KEY, cfg.p)

    # Progress measures on every kept snapshot (every log_every steps), with the final key frequencies.
    measures: dict[str, list] = {"step": [], "restricted_loss": [], "excluded_loss": [], "top_fraction": [],
                                 "trig_fraction": []}
    rows = {s: i for i, s in enumerate(history["step"])}
    probe = HookedTransformer(model.cfg)
    for step in sorted(snapshots):
        probe.load_state_dict({k: v.float() for k, v in snapshots[step].items()})
        for key, value in {"step": step, **progress_measures(probe, data, freqs, N_KEY)}.items():
            measures[key].append(value)
    series = {key: [] for key in ("step", "train_acc", "test_acc", "weight_norm", "restricted_loss", "excluded_loss")}
    for i, step in enumerate(measures["step"]):
        if step in rows:
            series["step"].append(step)
            for key in ("train_acc", "test_acc", "weight_norm"):
                series[key].append(history[key][rows[step]])
            for key in ("restricted_loss", "excluded_loss"):
                series[key].append(measures[key][i])
    phases = phase_boundaries(series)

    shipped = _select_series(list(snapshots), phases, N_SERIES)
    spath = weights.series_path(NAME, out_dir)
    series_sha256 = weights.save_series({s: snapshots[s] for s in shipped}, spath)
    checkpoints = []
    for s in shipped:
        probe.load_state_dict({k: v.float() for k, v in snapshots[s].items()})
        entry = {"step": s, **evaluate(probe, data)}
        i = measures["step"].index(s)
        entry.update({k: measures[k][i] for k in ("restricted_loss", "excluded_loss", "top_fraction", "trig_fraction")})
        checkpoints.append(entry)

    metrics = {**card_metrics(model, data),
               "grokked_step": history["grokked_step"], "grokked_seconds": history["grokked_seconds"]}
    round4 = lambda xs: [float(f"{x:.4g}") for x in xs]  # noqa: E731 - keeps the card small and readable
    card = {
        "name": NAME,
        "description": DESCRIPTION,
        "data": {"task": "(a + b) mod p", "p": cfg.p, "frac_train": cfg.frac_train, "seed": cfg.data_seed,
                 "n_train": len(data.train), "n_test": len(data.test)},
        "recipe": cfg.to_dict(),
        "command": command,
        "metrics": metrics,
        "final_train_loss": metrics["train_loss"],
        "training_seconds": round(history["seconds_total"], 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "evals_during_training": {k: (history[k] if k == "step" else round4(history[k]))
                                  for k in ("step", "train_loss", "test_loss", "train_acc", "test_acc", "weight_norm")},
        "progress_measures": {k: (v if k == "step" else round4(v)) for k, v in measures.items()},
        "phases": phases,
        "phase_rules": PHASE_RULES,
        "series": {"file": spath.name, "sha256": series_sha256, "dtype": "float16", "checkpoints": checkpoints},
    }
    return weights.save_model(model, weights.weights_path(NAME, out_dir), card)


def train_fast(seed: int = 0, data_seed: int = 0, max_seconds: float = 120.0, progress: bool = True,
               on_step: Optional[Callable[[int, dict], Optional[bool]]] = None) -> tuple[HookedTransformer, dict]:
    """The live recipe (``LIVE``: p = 71, 35% of the pairs), stopped as soon as test accuracy
    exceeds 99%. Returns the model and ``train``'s history, whose logged rows (every
    ``LIVE.log_every`` steps) include the progress measures of ``live_measures``: enough for
    ``phase_boundaries``. Analyse the model with ``p=LIVE.p`` (the Fourier tools default to 113)."""
    cfg = GrokConfig(**{**LIVE.to_dict(), "seed": seed, "data_seed": data_seed})
    data = make_data(cfg.p, cfg.frac_train, cfg.data_seed)
    model = make_model(cfg.p, cfg.seed)
    history = train(model, data, cfg, on_step=on_step, stop_at_test_acc=0.99, max_seconds=max_seconds,
                    progress=progress)
    return model, history


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course.modadd", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("train-fast", help="run the accelerated recipe until it groks; print the time "
                                          "(the shipped run: python -m course.zoo train modadd)")
    f.add_argument("--seeds", type=int, nargs="+", default=[0], help="weight-initialisation seeds, one run each")
    f.add_argument("--data-seed", type=int, default=0)
    f.add_argument("--max-seconds", type=float, default=120.0)
    f.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for seed in args.seeds:
        _, history = train_fast(seed, args.data_seed, args.max_seconds, progress=False)
        last = history["step"][-1]
        if history["grokked_step"] is None:
            print(f"seed {seed}: did not grok within {args.max_seconds:.0f} s ({last} steps, "
                  f"test accuracy {history['test_acc'][-1]:.3f})")
        else:
            print(f"seed {seed}: test accuracy > 99% at step {history['grokked_step']} after "
                  f"{history['grokked_seconds']:.1f} s ({history['seconds_total'] / last:.3f} s/step)")


ENTRIES = [Entry(NAME, DESCRIPTION, weights.load_model, train_standard, _measure_loaded, weights.load_series)]


if __name__ == "__main__":
    main()
