"""The zoo's language models trained on TinyWorld: a ``Recipe`` each (architecture, corpus, training
settings, data mix, the metrics its card records) and the one training run they all share, which
writes the weights, the card and, for a series recipe, float16 snapshots at log-spaced steps. A
run saves its state every 500 steps beside its output and resumes from it if interrupted.
A new TinyWorld model is one more ``Recipe`` in ``RECIPES``.
"""

from __future__ import annotations

import functools
import importlib
import platform
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import torch
from safetensors.torch import load_file, save_file

from course import evaluate, weights
from course.averaging import WeightAverage
from course.config import ModelConfig
from course.model import HookedTransformer
from course.registry import Entry, train_command
from course.tokenizer import Tokenizer
from course.train import TrainConfig, packed_batches, train


@dataclass
class Recipe:
    description: str
    model: ModelConfig
    train: TrainConfig
    metrics: Callable[[HookedTransformer], dict]  # what the card records
    series: bool = False  # also ship the log-spaced checkpoints, in float16
    series_from: int = 1  # the series keeps the log-spaced checkpoints from this step on (a shortened run: its last)
    data_mix: Optional[dict[str, float]] = None  # the corpus's segment shares (None: its MIX)
    random_repeat_rows: float = 0.0  # share of each batch replaced by repeated random common tokens
    metrics_during_training: Optional[Callable[[HookedTransformer], dict]] = None  # cheaper (None: metrics)
    corpus: str = "course.corpus"  # the module that generates its training text (course.corpus_v1: the first one)
    bf16: bool = False  # forward pass under bfloat16 autocast (train.train)
    tokenizer: str = "tokenizer-v2.json"  # a shipped tokenizer (course.tokenizer.SHIPPED)
    keep_every: int = 0  # also keep the weights every this many steps (for the card's scaling table)
    how_measured: Optional[dict] = None  # a sentence per metric, copied into the card
    weights_dtype: torch.dtype = torch.float32  # float16 halves the shipped file; the card measures the rounded weights
    average_decay: float = 0.0  # ship a moving average of the weights (course.averaging) with this decay (0: the last step's)
    average_from: int = 0  # the average starts from the weights after this step
    # Ship the uniform average of the moving average kept at these steps (the last one: the run's end);
    # () ships the moving average at the end. A shortened run scales the steps with it.
    tail_average_of: tuple[int, ...] = ()

    def corpus_module(self):
        return importlib.import_module(self.corpus)


def _main_model(description: str, corpus: str) -> Recipe:
    """The main model's recipe, on a given corpus: 10,000 steps of 32 x 128 tokens (41M tokens) with
    bf16. Measured before the corpora existed (shared/MEASURED.md): at this budget tokens beat width
    (4 x 192 ran at half the speed; with bf16 on torch 2.13 it costs 1.3x a step, about 63 minutes for
    10,000 steps: drafts/mlp_width/NOTES.md, stop 36). On the first v2 corpus (a few dozen frames)
    held-out sentence structures peaked at 0.72 and fell to 0.57; on v2 they rose to 0.84, on v3 to 0.87.
    The shipped weights are a moving average (decay 0.999, from step 1,001): on v4 with seed 0 the
    last step's weights measured IOI 0.884 (ABBA 0.84), two-hop 0.761 and addition 0.979, their
    average 0.932 (ABBA 0.90), 0.868 and 0.999 (drafts/tinyworld_v4/NOTES.md).
    Seed 1 (initialisation and corpus stream): the seed alone moved IOI on the validation frames from
    0.80 to 0.91 and on fresh frames from 0.87 to 0.97, two-hop from 0.87 to 0.92, and held-out IOI
    from 0.93 to 0.91; seed 1 is shipped (drafts/mlp_width/NOTES.md has both seeds side by side).
    The shipped weights average that moving average at steps 6,000, 8,000 and 10,000 (a window of about
    5,000 steps): on seed 1 held-out IOI rose from 0.896 / 0.916 (ABBA / BABA) to 0.948 / 0.952, the
    state swap from 0.903 to 0.935, for 0.027 nats of held-out loss; IOI on frames written before the
    runs rose in 8 of 9 runs measured (drafts/tail_average/NOTES.md)."""
    return Recipe(
        description,
        ModelConfig(n_layers=4, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=3072, n_ctx=128),
        TrainConfig(steps=10000, batch_size=32, seq_len=128, lr=2e-3, warmup_steps=300, eval_every=1000,
                    seed=1, data_seed=1),
        evaluate.tinyworld_metrics,
        random_repeat_rows=0.1,  # induction heads form early with a tenth of rows of repeated random tokens
        metrics_during_training=functools.partial(evaluate.tinyworld_metrics, quick=True),
        corpus=corpus,
        bf16=True,
        keep_every=2000,
        how_measured=evaluate.TINYWORLD_HOW_MEASURED,
        average_decay=0.999,
        average_from=1000,
        tail_average_of=(6000, 8000, 10000),
    )


RECIPES: dict[str, Recipe] = {
    "tinyworld": _main_model(
        "The course's main model: GPT-2-style, 4 layers x 128 wide, with LayerNorm and MLPs, trained on TinyWorld v4 "
        "(course.corpus_v4); the shipped weights are the moving average of its last ~1,000 steps. IOI, facts, two-hop "
        "recall and addition on held-out and validation frames, phrasings and pairs; induction.", "course.corpus_v4"),
    "attn-only-2l": Recipe(
        "Two-layer attention-only transformer (with LayerNorm) trained on TinyWorld, with log-spaced checkpoints "
        "for the training-dynamics chapter. Forms previous-token and induction heads.",
        ModelConfig(n_layers=2, d_model=128, n_heads=4, d_head=32, attn_only=True, d_vocab=2048, n_ctx=128,
                    pos_init="sinusoidal"),
        TrainConfig(steps=8000, batch_size=16, seq_len=128, lr=2e-3, warmup_steps=200, eval_every=500,
                    n_checkpoints=24, seed=0, data_seed=1),
        evaluate.attn_only_metrics,
        series=True,
        series_from=10,  # steps 1-7 are the untrained start: 18 snapshots, ~24 MB in float16
        # Induction heads form after a long plateau. With TinyWorld's own 9% of repeats an earlier
        # recipe (2000 steps of 32 x 128) formed none, so this one doubles the repeated passages
        # and fills a quarter of each batch with repeated runs of random common tokens. With GPT-2's
        # random positional init, 6000 steps gave induction 0.85 but previous-token heads smeared over
        # offsets 1-3 (best 0.44); positions starting as sinusoids make them sharper.
        # Peak lr 2e-3 (was 1e-3): at 1e-3 the best previous-token head (L0H3) stopped at 0.60, with
        # 0.14 of its attention on the token itself and 0.10 on offset 2 (worse late in the context):
        # it was still sharpening (0.38 at step 3000, 0.50 at 4000) when the cosine schedule ran down.
        # At 2e-3, measured on one thread: previous-token 0.62 at step 3000, 0.80 at 4000, 0.85 at
        # the end (0.85 on offset 1, 0.02 on the token itself, 0.01 on offset 2); induction 0.93 /
        # 0.92 / 0.86 in three layer-1 heads; the bump stays at steps 1134-3662. A larger positional
        # init (0.3 instead of 0.1) instead delayed both heads (prev 0.28, induction 0.34 at 2500).
        data_mix={**importlib.import_module("course.corpus_v1").MIX, "repeat": 0.2},
        random_repeat_rows=0.25,
        corpus="course.corpus_v1",  # shipped before TinyWorld v2; kept on the corpus it was trained on
        tokenizer="tokenizer.json",  # and on the tokenizer trained on that corpus
    ),
}


def variant_metrics_during_training(model: HookedTransformer) -> dict:
    """The quick metrics, plus the best head's induction and previous-token scores and the held-out
    loss: chapter 13's table of when each circuit forms in each architecture."""
    out = evaluate.tinyworld_metrics(model, quick=True)
    scores = evaluate.head_scores(model)
    out["max_induction_score"] = scores["induction"].max().item()
    out["max_previous_token_score"] = scores["previous_token"].max().item()
    out["held_out_loss"] = evaluate.held_out_loss(model)
    return out


def _variant_recipe(variant: str, description: str) -> Recipe:
    """Chapter 13's architectures (course.variants) trained alike: the main model's data, seed, batch,
    learning rate and repeat rows on 4,000 steps (16.4M tokens), the budget by which the main model's
    induction heads, IOI and addition had formed in its raw weights (its card's evals_during_training:
    repeat-loss gap 6.8 nats, IOI 0.87, addition 0.76 at step 4,000; nothing at step 2,000). A first try at 2.7M
    tokens (1,300 steps of 16 x 128) formed no circuit in any of the three. Float16 weights: the
    three ship in 10.6 MB."""
    from course import variants

    return Recipe(
        description,
        variants.config(variant),
        TrainConfig(steps=4000, batch_size=32, seq_len=128, lr=2e-3, warmup_steps=300, eval_every=500,
                    seed=0, data_seed=0),
        evaluate.tinyworld_metrics,
        random_repeat_rows=0.1,
        metrics_during_training=variant_metrics_during_training,
        corpus="course.corpus_v3",
        bf16=True,
        keep_every=1000,
        how_measured=evaluate.TINYWORLD_HOW_MEASURED,
        weights_dtype=torch.float16,
    )


RECIPES.update({
    "tinyworld-gpt2": _variant_recipe(
        "gpt2", "Chapter 13's baseline: the main model's GPT-2-style architecture (LayerNorm, learned positions, "
                "GELU MLPs; 4 layers x 128) on TinyWorld v3 with 16.4M tokens, the budget shared with "
                "tinyworld-llama and tinyworld-moe."),
    "tinyworld-llama": _variant_recipe(
        "llama", "Chapter 13's Llama-style variant: RMSNorm, rotary positions, SwiGLU MLPs and grouped-query attention "
                 "(2 key/value heads), as many attention and MLP weights as tinyworld-gpt2, the same data and budget."),
    "tinyworld-moe": _variant_recipe(
        "moe", "Chapter 13's mixture-of-experts variant: tinyworld-gpt2 with each MLP replaced by 4 experts of "
               "width 256 and top-2 routing (the same active compute per token), the same data and budget."),
})


def train_recipe(name: str, out_dir: Path, steps: Optional[int] = None, progress: bool = True) -> dict:
    """Train ``name`` from scratch with its recipe; write weights and card to ``out_dir``.
    ``steps`` shortens the run (a smoke test); a moving average shrinks with it. Returns the card."""
    recipe = RECIPES[name]
    tcfg = TrainConfig(**{**recipe.train.to_dict(), **({"steps": steps} if steps else {})})
    if steps:  # keep warmup and evaluation inside the shortened run
        tcfg.warmup_steps = min(tcfg.warmup_steps, max(1, steps // 10))
        tcfg.eval_every = steps
    tokenizer = Tokenizer.load(recipe.tokenizer)
    torch.manual_seed(tcfg.seed)
    model = HookedTransformer(recipe.model, tokenizer=tokenizer)
    model.init_weights(seed=tcfg.seed)
    model.card = {"data": {"corpus": recipe.corpus}}  # what evaluate.seen_tokens reads before the real card exists
    stream = recipe.corpus_module().token_stream(tokenizer, seed=tcfg.data_seed, mix=recipe.data_mix)
    batches = packed_batches(stream, tcfg.batch_size, tcfg.seq_len)
    if recipe.random_repeat_rows:
        batches = with_random_repeats(batches, tokenizer, recipe.random_repeat_rows, tcfg.data_seed, recipe.corpus)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    series_metrics = []
    average = None
    if recipe.average_decay:  # a shortened run averages over the same share of its steps
        average = WeightAverage.for_shortened_run(recipe.average_decay, recipe.average_from, recipe.train.steps,
                                                  tcfg.steps)

    def on_checkpoint(step, m):
        if step < min(recipe.series_from, tcfg.steps):
            return
        snapshots[step] = {k: v.detach().to("cpu", torch.float16).clone() for k, v in m.state_dict().items()}
        with torch.no_grad():
            series_metrics.append({"step": step, **recipe.metrics(m)})

    tail = tail_steps(recipe, tcfg)

    def keep(step, loss):  # weights along the way, for the card's "what more training buys" table and the tail
        if ((recipe.keep_every and step % recipe.keep_every == 0) or step in tail) and step < tcfg.steps:
            kept = Path(out_dir) / f"{name}-kept" / f"step{step}.safetensors"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shipped = average.averaged_state(model) if average else model.state_dict()  # what would ship at that step
            save_file({k: v.detach().cpu().contiguous() for k, v in shipped.items()}, str(kept))

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    state = Path(out_dir) / f"{name}.train-state.safetensors"
    history = train(model, batches, tcfg, evaluate=recipe.metrics_during_training or recipe.metrics,
                    on_checkpoint=on_checkpoint if recipe.series else None, on_step=keep, progress=progress,
                    state_path=None if recipe.series else state, bf16=recipe.bf16, average=average)
    if average is not None:
        average.copy_to(model)  # the card measures, and the file holds, the averaged weights
    if tail:
        tail_average(model, [Path(out_dir) / f"{name}-kept" / f"step{s}.safetensors" for s in tail if s < tcfg.steps])
    card = write_card(name, recipe, tcfg, model.cpu().eval(), history, out_dir, steps, snapshots, series_metrics,
                      average)
    for path in (state, state.with_suffix(".json")):
        path.unlink(missing_ok=True)
    if recipe.keep_every and not steps:
        card = add_training_table(name, out_dir)
    return card


def tail_steps(recipe: Recipe, tcfg: TrainConfig) -> list[int]:
    """The steps whose moving averages the shipped weights average (scaled to a shortened run)."""
    return sorted({min(tcfg.steps, max(1, round(s * tcfg.steps / recipe.train.steps))) for s in recipe.tail_average_of})


def tail_average(model: HookedTransformer, kept: list[Path]) -> None:
    """Replace ``model``'s weights by the uniform average of them and the ``kept`` snapshots of the same
    run: a longer average than the moving one (see ``Recipe.tail_average_of``)."""
    states = [load_file(str(path)) for path in kept] + [model.state_dict()]
    model.load_state_dict({k: sum(s[k] for s in states) / len(states) if v.is_floating_point() else v
                           for k, v in states[-1].items()})


def add_training_table(name: str, out_dir: Path, kept_dir: Optional[Path] = None) -> dict:
    """Measure the weights kept along the run (``Recipe.keep_every``) with the quick metrics and add
    them to the card as ``what_training_buys``: the same model after fewer tokens. These are the
    weights of one run at those steps (its learning rate not yet annealed), not separate shorter runs."""
    recipe = RECIPES[name]
    path = weights.weights_path(name, out_dir)
    card = weights.read_card(path)
    rows = []
    kept_dir = kept_dir or Path(out_dir, f"{name}-kept")  # where train_recipe kept them
    kept = sorted(Path(kept_dir).glob("step*.safetensors"), key=lambda p: int(p.stem[4:]))
    for file in kept:
        model = HookedTransformer(recipe.model, tokenizer=Tokenizer.load(recipe.tokenizer))
        model.load_state_dict(load_file(str(file)))
        model.card = card
        with torch.no_grad():
            rows.append({"step": int(file.stem[4:]), **evaluate.tinyworld_metrics(model.eval(), quick=True)})
    final = load(recipe.tokenizer, path)
    with torch.no_grad():
        rows.append({"step": card["recipe"]["steps"], **evaluate.tinyworld_metrics(final, quick=True)})
    for row in rows:
        row["tokens"] = row["step"] * card["recipe"]["batch_size"] * card["recipe"]["seq_len"]
    card["what_training_buys"] = rows
    weights.write_card(path, card)
    return card


def write_card(name: str, recipe: Recipe, tcfg: TrainConfig, model: HookedTransformer, history: dict, out_dir: Path,
               steps: Optional[int] = None, snapshots: Optional[dict] = None, series_metrics: Optional[list] = None,
               average: Optional[WeightAverage] = None) -> dict:
    """Measure the trained model and write its weights and card (and its series, if any). Weights
    shipped in float16 are rounded first, so the card measures what the file holds."""
    with torch.no_grad():
        if recipe.weights_dtype != torch.float32:
            model.load_state_dict({k: v.to(recipe.weights_dtype).float() for k, v in model.state_dict().items()})
        metrics = recipe.metrics(model)
    card = {
        "name": name,
        "description": recipe.description,
        "tokenizer": f"course/data/{recipe.tokenizer}",
        "tokenizer_sha256": weights.sha256_of(Path(str(resources.files("course") / "data" / recipe.tokenizer))),
        "data": {"corpus": recipe.corpus, "seed": tcfg.data_seed, "mix": recipe.data_mix or recipe.corpus_module().MIX,
                 "random_repeat_rows": recipe.random_repeat_rows,
                 "tokens_seen": tcfg.steps * tcfg.batch_size * tcfg.seq_len},
        "recipe": tcfg.to_dict(),
        **({"weights": f"{average.describe()}{_tail_words(tail_steps(recipe, tcfg))}; evals_during_training measure "
                       "the raw weights"} if average else {}),
        "command": train_command(name, steps),
        "metrics": metrics,
        **({"how_measured": recipe.how_measured} if recipe.how_measured else {}),
        "final_train_loss": sum(history["loss"][-50:]) / len(history["loss"][-50:]),
        "training_seconds": round(history["seconds"], 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "evals_during_training": history["evals"],
        "loss_curve": _thin(history),
    }
    if recipe.series:
        spath = weights.series_path(name, out_dir)
        card["series"] = {"file": spath.name, "sha256": weights.save_series(snapshots, spath), "dtype": "float16",
                          "checkpoints": series_metrics}
    return weights.save_model(model, weights.weights_path(name, out_dir), card, dtype=recipe.weights_dtype)


def _tail_words(steps: list[int]) -> str:
    if not steps:
        return ""
    return f"; shipped: the uniform average of that moving average at steps {', '.join(f'{s:,}' for s in steps)}"


def with_random_repeats(batches, tokenizer, share: float, seed: int, corpus: str):
    """Replace ``share`` of each batch's rows by BOS + a random run of the corpus's common tokens,
    repeated until the row is full (the kind of sequence the induction score is measured on)."""
    generator = torch.Generator().manual_seed(seed)
    vocab = evaluate.common_tokens(tokenizer, corpus)
    for batch in batches:
        n_rows = round(share * batch.shape[0])
        for row in range(n_rows):
            length = int(torch.randint(8, 40, (1,), generator=generator))
            run = vocab[torch.randint(0, len(vocab), (length,), generator=generator)]
            batch[row, 0] = tokenizer.bos_id
            batch[row, 1:] = run.repeat(batch.shape[1] // length + 1)[: batch.shape[1] - 1]
        yield batch


def _thin(history: dict, points: int = 200) -> dict:
    """The loss curve, averaged into at most ``points`` buckets so the card stays small."""
    steps, losses = history["step"], history["loss"]
    size = max(1, len(steps) // points)
    return {"step": [steps[min(i + size, len(steps)) - 1] for i in range(0, len(steps), size)],
            "loss": [round(sum(losses[i:i + size]) / len(losses[i:i + size]), 4) for i in range(0, len(losses), size)]}


def load(tokenizer: str, path: Path) -> HookedTransformer:
    return weights.load_model(path, tokenizer=Tokenizer.load(tokenizer))


def load_series(tokenizer: str, path: Path, card: dict) -> dict[int, HookedTransformer]:
    snapshots = weights.load_series(path, card, tokenizer=Tokenizer.load(tokenizer))
    for model in snapshots.values():
        model.card = card  # a snapshot was trained on the same corpus (evaluate.seen_tokens reads it)
    return snapshots


ENTRIES = [
    Entry(name, recipe.description, functools.partial(load, recipe.tokenizer), functools.partial(train_recipe, name),
          recipe.metrics, functools.partial(load_series, recipe.tokenizer) if recipe.series else None)
    for name, recipe in RECIPES.items()
]
