"""Indirect object identification on TinyWorld: batches of prompts with the positions that matter,
and the analysis that sorts attention heads into the classes of Wang et al. (2022)'s circuit.

"When Mary and John went to the store, John gave a drink to" -> " Mary". The indirect object
(IO, Mary) and the subject (S, John) are named once in the opening; S is named again (S2); the
model must predict the name that was *not* repeated, at the last position (END).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from course import evalsets, metrics
from course.evaluate import encode_prompts


@dataclass
class IOIBatch:
    clean: torch.Tensor  # [batch pos] clean prompts, BOS first
    corrupted: torch.Tensor  # [batch pos] S2 replaced by IO: the answer flips to S
    abc: torch.Tensor  # [batch pos] S2 replaced by a third name: no repeated name at all
    io: torch.Tensor  # [batch] token id of " IO" (the right answer on the clean prompt)
    s: torch.Tensor  # [batch] token id of " S"
    positions: dict[str, torch.Tensor]  # "IO", "S1", "S2", "END" -> [batch] positions
    items: list


def ioi_batch(model, n: int = 60, seed: int = 0, frames: str = "classic", template: int | None = None) -> IOIBatch:
    """IOI prompts about name pairs never together in training, of one token length (a batch needs
    that): the most common length among the candidates. frames="classic": every prompt on
    `evalsets.IOI_CLASSIC_FRAME`, a structure the corpus builds from its parts, so positions line
    up across the batch; "held_out": sentence structures the corpus never uses
    (`evalsets.IOI_HELD_OUT_FRAMES` that do not open with a name: a name at the very start has no
    leading space and is several tokens). ``template`` picks one held-out frame."""
    tok = model.tokenizer
    if frames == "classic":
        items = evalsets.ioi_dataset(n * 2, seed=seed, frames=[evalsets.IOI_CLASSIC_FRAME])
    elif frames == "held_out":
        items = [it for it in evalsets.ioi_dataset(n * 6, seed=seed)
                 if not evalsets.IOI_HELD_OUT_FRAMES[it.template].startswith("{")]
    else:
        raise ValueError(f"frames must be 'classic' or 'held_out', got {frames!r}")
    if template is not None:
        items = [it for it in items if it.template == template]
    lengths = [len(tok.encode(it.prompt)) for it in items]
    common = max(set(lengths), key=lengths.count)
    items = [it for it, length in zip(items, lengths) if length == common][:n]
    clean = encode_prompts(model, [it.prompt for it in items])
    corrupted = encode_prompts(model, [it.corrupted_prompt for it in items])
    abc = encode_prompts(model, [it.abc_prompt for it in items])
    io = torch.tensor([tok.encode(it.answer)[0] for it in items])
    s = torch.tensor([tok.encode(it.subject)[0] for it in items])
    positions = {"IO": [], "S1": [], "S2": [], "END": []}
    for row, (i, j) in enumerate(zip(io.tolist(), s.tolist())):
        ids = clean[row].tolist()
        s_positions = [p for p, t in enumerate(ids) if t == j]
        positions["IO"].append(ids.index(i))
        positions["S1"].append(s_positions[0])
        positions["S2"].append(s_positions[-1])
        positions["END"].append(len(ids) - 1)
    return IOIBatch(clean, corrupted, abc, io, s, {k: torch.tensor(v) for k, v in positions.items()}, items)


@torch.no_grad()
def score_sentence(model, prompt: str, io: str, s: str) -> dict:
    """An IOI sentence of your own: at its last position, the logit difference (" IO" minus " S"),
    IO's rank among all tokens (0: the top prediction) and the top prediction itself. ``io`` and
    ``s`` are names of TinyWorld (`course.world.NAMES`): after a space each is one token, which is
    what lets one logit stand for a name."""
    from course.world import NAMES

    tok = model.tokenizer
    for role, name in (("io", io), ("s", s)):
        if name not in NAMES:
            pieces = [tok.decode([i]) for i in tok.encode(" " + str(name))]
            raise ValueError(
                f"{role}={name!r} is not one of TinyWorld's {len(NAMES)} names, so ' {name}' is {len(pieces)} tokens "
                f"{pieces} and no single logit stands for it. Use names the model knows, e.g. "
                f"{', '.join(NAMES[:8])} (all of them: course.world.NAMES).")
        if name not in prompt:
            raise ValueError(f"{role}={name!r} does not occur in the prompt; an IOI sentence names both people first")
    if io == s:
        raise ValueError(f"io and s are both {io!r}; the indirect object and the subject are two different people")
    logits = model(model.to_tokens(prompt))[0, -1]  # [d_vocab]
    io_id, s_id = tok.encode(" " + io)[0], tok.encode(" " + s)[0]
    return {"logit_diff": (logits[io_id] - logits[s_id]).item(), "io_rank": int((logits > logits[io_id]).sum()),
            "top": tok.decode([logits.argmax().item()])}


def attention_between(cache, batch: IOIBatch, layer: int, query: str, key: str, offset: int = 0) -> torch.Tensor:
    """Mean attention of every head in ``layer`` from the ``query`` position to ``key`` + offset: ``[head_index]``."""
    pattern = cache["pattern", layer]  # [batch head_index query_pos key_pos]
    rows = torch.arange(pattern.shape[0])
    return pattern[rows, :, batch.positions[query], batch.positions[key] + offset].mean(0)


def attention_table(model, cache, batch: IOIBatch) -> dict[str, torch.Tensor]:
    """For every head, ``[layer head_index]`` tables of the attention the circuit's classes are known by:
    END->IO and END->S (name movers), S2->S1 (duplicate-token heads), S2->S1+1 (induction heads)."""
    table = {"END->IO": [], "END->S2": [], "S2->S1": [], "S2->S1+1": []}
    for layer in range(model.cfg.n_layers):
        table["END->IO"].append(attention_between(cache, batch, layer, "END", "IO"))
        table["END->S2"].append(attention_between(cache, batch, layer, "END", "S2"))
        table["S2->S1"].append(attention_between(cache, batch, layer, "S2", "S1"))
        table["S2->S1+1"].append(attention_between(cache, batch, layer, "S2", "S1", offset=1))
    return {k: torch.stack(v) for k, v in table.items()}


def heads_over(scores: torch.Tensor, threshold: float) -> list[tuple[int, int]]:
    """(layer, head) of every entry of a ``[layer head_index]`` table above ``threshold``, largest first."""
    flat = [(float(scores[l, h]), (l, h)) for l in range(scores.shape[0]) for h in range(scores.shape[1])]
    return [lh for value, lh in sorted(flat, reverse=True) if value > threshold]


@dataclass
class IOICircuit:
    """The heads of each class, as ``(layer, head)``, and the evidence that put them there."""

    name_movers: list
    negative_name_movers: list
    s_inhibition: list
    duplicate_token: list
    induction: list
    dla: torch.Tensor  # [layer head_index] direct logit attribution to logit[IO] - logit[S], at END
    attention: dict  # attention_table
    s_inhibition_scores: torch.Tensor  # [layer head_index] path patching to the name movers' queries
    clean_logit_diff: float


def find_circuit(model, batch: IOIBatch, dla_share: float = 0.03, attention_threshold: float = 0.3,
                 path_share: float = 0.1) -> IOICircuit:
    """Sort heads into the IOI circuit's classes by explicit rules (each documented in chapter 05):

    - name movers: at END they attend to IO more than ``attention_threshold`` and more than to S2,
      and their direct logit attribution is not negative. (The rule reads averages: a head that
      looks at a fixed position, whichever name is there, passes it too; chapter 05 shows one.)
    - negative name movers: they attend END -> IO above the threshold but their direct attribution
      is below ``-dla_share`` of the clean logit difference: they copy the name *against* it;
    - S-inhibition heads: path patching (ABC source) from the head to the name movers' queries
      lowers the logit difference by more than ``path_share`` of it;
    - duplicate-token heads: attention S2 -> S1 above ``attention_threshold``;
    - induction heads: attention S2 -> S1+1 above ``attention_threshold``.
    """
    from course import attribution, patching

    logits, cache = model.run_with_cache(batch.clean)
    clean_ld = metrics.logit_diff(logits, batch.io, batch.s).item()
    dla = attribution.dla_by_head(model, cache, batch.io, batch.s)
    table = attention_table(model, cache, batch)
    looks_at_io = [lh for lh in heads_over(table["END->IO"], attention_threshold)
                   if table["END->IO"][lh] > table["END->S2"][lh]]
    negative = [lh for lh in looks_at_io if dla[lh] < -dla_share * clean_ld]
    name_movers = [lh for lh in looks_at_io if lh not in negative and dla[lh] >= 0]
    metric = lambda lg: metrics.logit_diff(lg, batch.io, batch.s)  # noqa: E731
    if name_movers:
        receivers = [(l, h, "q") for l, h in name_movers]
        to_queries = patching.path_patch_all_senders(model, batch.clean, batch.abc, metric, receivers)
        drop = clean_ld - to_queries  # how much each sender's ABC output lowers the logit difference
    else:
        drop = torch.full_like(dla, float("nan"))
    s_inhibition = heads_over(torch.nan_to_num(drop, nan=-1.0), path_share * clean_ld)
    return IOICircuit(
        name_movers=name_movers, negative_name_movers=negative, s_inhibition=s_inhibition,
        duplicate_token=heads_over(table["S2->S1"], attention_threshold),
        induction=heads_over(table["S2->S1+1"], attention_threshold),
        dla=dla, attention=table, s_inhibition_scores=drop, clean_logit_diff=clean_ld,
    )
