"""The recipe of the course's main model, `tinyworld` (trained on TinyWorld v2), and its run.

4 layers x 128 wide, GPT-2-style. About an hour on a 2-core laptop CPU: bf16 autocast for the
forward pass (weights and optimizer stay float32), resumable from a state file saved every 500
steps, so an interrupted run loses at most a few minutes. A tenth of each batch's rows are
repeated runs of random tokens the corpus uses, so that induction heads form early.
"""

from __future__ import annotations

import collections
import functools
from pathlib import Path
from typing import Iterator, Optional

import torch

from course import corpus, evalsets
from course.config import ModelConfig
from course.model import HookedTransformer
from course.tokenizer import Tokenizer
from course.train import TrainConfig, packed_batches, train

MODEL = ModelConfig(n_layers=4, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=2048, n_ctx=128)
TRAIN = TrainConfig(steps=11000, batch_size=32, seq_len=128, lr=2e-3, warmup_steps=300, eval_every=1000,
                    seed=0, data_seed=0)
RANDOM_REPEAT_ROWS = 0.1
MIX = corpus.MIX


@functools.lru_cache(maxsize=4)
def seen_tokens(tokenizer, min_count: int = 20, n_docs: int = 5000, seed: int = 12345) -> torch.Tensor:
    """Ids of the tokens that occur at least ``min_count`` times in a fixed sample of the corpus:
    random sequences are drawn from these, never from BPE merges the model has not trained on."""
    counts = collections.Counter(i for ids in tokenizer.encode_batch(corpus.documents(n_docs, seed)) for i in ids)
    return torch.tensor(sorted(i for i, c in counts.items() if c >= min_count and i != tokenizer.bos_id))


def with_random_repeats(batches: Iterator[torch.Tensor], tokenizer, share: float, seed: int) -> Iterator[torch.Tensor]:
    """Replace ``share`` of each batch's rows by BOS + a random run of seen tokens, repeated until
    the row is full (the kind of sequence the induction score is measured on)."""
    generator = torch.Generator().manual_seed(seed)
    vocab = seen_tokens(tokenizer)
    for batch in batches:
        for row in range(round(share * batch.shape[0])):
            length = int(torch.randint(8, 40, (1,), generator=generator))
            run = vocab[torch.randint(0, len(vocab), (length,), generator=generator)]
            batch[row, 0] = tokenizer.bos_id
            batch[row, 1:] = run.repeat(batch.shape[1] // length + 1)[: batch.shape[1] - 1]
        yield batch


def training_batches(tokenizer, cfg: TrainConfig = TRAIN) -> Iterator[torch.Tensor]:
    stream = corpus.token_stream(tokenizer, seed=cfg.data_seed, mix=MIX)
    return with_random_repeats(packed_batches(stream, cfg.batch_size, cfg.seq_len), tokenizer,
                               RANDOM_REPEAT_ROWS, cfg.data_seed)


def _last_logits(model, prompts: list[str]) -> torch.Tensor:
    tok = model.tokenizer
    out = []
    for p in prompts:  # one at a time: prompts differ in length (cheap at this size)
        ids = torch.tensor([[tok.bos_id] + tok.encode(p)])
        out.append(model(ids)[0, -1])
    return torch.stack(out)


def quick_metrics(model) -> dict:
    """A few hundred prompts from the held-out splits: what the training log prints."""
    tok = model.tokenizer
    one = lambda s: tok.encode(s)[0]  # noqa: E731
    ioi = evalsets.ioi_dataset(100, seed=1)
    lg = _last_logits(model, [it.prompt for it in ioi])
    rows = torch.arange(len(ioi))
    diff = lg[rows, [one(it.answer) for it in ioi]] - lg[rows, [one(it.subject) for it in ioi]]
    two = evalsets.two_hop_dataset(held_out_cities=True, phrasings="all")
    lg2 = _last_logits(model, [it.prompt for it in two])
    facts = evalsets.fact_dataset("held_out")[::2]
    lg3 = _last_logits(model, [it.prompt for it in facts])
    return {
        "ioi_acc": (diff > 0).float().mean().item(), "ioi_ld": diff.mean().item(),
        "twohop_ho": (lg2.argmax(-1) == torch.tensor([one(it.answer) for it in two])).float().mean().item(),
        "facts_ho": (lg3.argmax(-1) == torch.tensor([one(it.answer) for it in facts])).float().mean().item(),
    }


def train_main(state_path: Path, steps: Optional[int] = None, progress: bool = True) -> tuple[HookedTransformer, dict]:
    """Train (or resume) the main model; returns it with its training history."""
    cfg = TrainConfig(**{**TRAIN.to_dict(), **({"steps": steps} if steps else {})})
    tokenizer = Tokenizer.load()
    torch.manual_seed(cfg.seed)
    model = HookedTransformer(MODEL, tokenizer=tokenizer)
    model.init_weights(seed=cfg.seed)
    history = train(model, training_batches(tokenizer, cfg), cfg, evaluate=quick_metrics, progress=progress,
                    state_path=state_path, bf16=True, device=torch.device("cpu"))
    return model, history
