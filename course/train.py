"""A short training loop: AdamW, linear warmup then cosine decay, gradient clipping, periodic
evaluation, a progress bar, and checkpoints at log-spaced steps (early training changes fastest,
so the training-dynamics chapter wants more snapshots there). Seeded: a rerun reproduces it, and a
long run saved to a state file resumes where it stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch
from tqdm.auto import tqdm

from course import resumable
from course.averaging import WeightAverage
from course.metrics import next_token_loss


@dataclass
class TrainConfig:
    steps: int = 2000  # optimizer steps
    batch_size: int = 32  # sequences per step
    seq_len: int = 128  # tokens per sequence
    lr: float = 2e-3  # peak learning rate
    min_lr_frac: float = 0.1  # the cosine decays to lr * min_lr_frac
    warmup_steps: int = 100
    weight_decay: float = 0.1  # AdamW's decoupled decay, on matrices only
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    eval_every: int = 250
    n_checkpoints: int = 0  # snapshots at log-spaced steps (0: none)
    seed: int = 0  # weight initialisation
    data_seed: int = 0  # the corpus stream

    def to_dict(self) -> dict:
        return asdict(self)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * cosine)


def log_spaced_steps(total: int, n: int) -> list[int]:
    """About n steps from 1 to total, evenly spaced in log(step); rounding may merge a few early ones."""
    if n <= 0:
        return []
    if n == 1:
        return [total]
    return sorted({max(1, round(total ** (i / (n - 1)))) for i in range(n)})


def packed_batches(token_ids: Iterator[int], batch_size: int, seq_len: int) -> Iterator[torch.Tensor]:
    """Cut an endless stream of token ids into ``[batch seq_len]`` blocks (documents packed end to end)."""
    n = batch_size * seq_len
    while True:
        block = [next(token_ids) for _ in range(n)]
        yield torch.tensor(block, dtype=torch.long).view(batch_size, seq_len)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # Decay weight matrices, not biases or LayerNorm gains (as in GPT-2 / nanoGPT).
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train(model, batches: Iterator[torch.Tensor], cfg: TrainConfig,
          evaluate: Optional[Callable[[torch.nn.Module], dict]] = None,
          on_checkpoint: Optional[Callable[[int, torch.nn.Module], None]] = None,
          on_step: Optional[Callable[[int, float], Optional[bool]]] = None,
          progress: bool = True, device: Optional[torch.device] = None,
          state_path: Optional[Path] = None, save_every: int = 500, bf16: bool = False,
          average: Optional[WeightAverage] = None) -> dict:
    """Train ``model`` in place. Returns the history: losses per step and evaluations.

    ``on_step(step, loss)`` may return True to stop early (a widget's Stop button uses this).
    ``state_path``: save the whole training state there every ``save_every`` steps and, if it
    exists, resume from it (see `course.resumable`). ``bf16``: the forward pass under bfloat16
    autocast (about 1.6x faster on a CPU with AVX-512 BF16); loss, weights and optimizer in float32.
    ``average``: a `course.averaging.WeightAverage` updated after every step (and saved in the state).
    """
    device = device or default_device()
    torch.manual_seed(cfg.seed)
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    checkpoint_steps = set(log_spaced_steps(cfg.steps, cfg.n_checkpoints))
    history = {"step": [], "loss": [], "lr": [], "evals": [], "seconds": 0.0}
    start_step = 0
    if state_path is not None and Path(state_path).exists():
        start_step, history = resumable.load_state(Path(state_path), model, optimizer, average)
        for _ in range(start_step):  # the stream is deterministic: skip what was already trained on
            next(batches)
    start = time.perf_counter() - history["seconds"]
    bar = tqdm(range(start_step + 1, cfg.steps + 1), disable=not progress, desc="training", unit="step",
               initial=start_step, total=cfg.steps)
    for step in bar:
        tokens = next(batches).to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step - 1, cfg)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(tokens)  # [batch pos d_vocab]
        loss = next_token_loss(logits.float(), tokens)
        if model.cfg.n_experts:  # a mixture of experts also learns to spread tokens over its experts
            loss = loss + model.aux_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if average is not None:
            average.update(model, step)

        loss_value = loss.item()
        history["step"].append(step)
        history["loss"].append(loss_value)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        bar.set_postfix(loss=f"{loss_value:.3f}")
        if evaluate is not None and (step % cfg.eval_every == 0 or step == cfg.steps):
            model.eval()
            with torch.no_grad():
                metrics = evaluate(model)
            model.train()
            history["evals"].append({"step": step, **metrics})
            bar.write(f"step {step}: loss {loss_value:.3f} " + " ".join(
                f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float)))
        if on_checkpoint is not None and step in checkpoint_steps:
            model.eval()
            on_checkpoint(step, model)
            model.train()
        if state_path is not None and (step % save_every == 0 or step == cfg.steps):
            history["seconds"] = time.perf_counter() - start
            resumable.save_state(Path(state_path), model, optimizer, step, history, average)
        if on_step is not None and on_step(step, loss_value):
            break
    history["seconds"] = time.perf_counter() - start
    model.eval()
    return history
