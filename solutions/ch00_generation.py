"""Chapter 00, how an LLM writes text: reference solutions, their hints and the known mistakes.

Each reference is what the filled-in notebook runs (its source is pasted into the exercise cell),
so it uses only what the notebook imports: ``math``, ``torch`` and ``torch.nn.functional as F``.
Its docstring is the one the learner's stub shows. The ``_wrong_*`` functions are plausible
mistakes: ``check`` names the misconception when a learner's output equals one of theirs, and the
tests prove that ``check`` rejects each of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "00"
TITLE = "How an LLM writes text"


# -- greedy decoding -------------------------------------------------------------------------------

def greedy(logits: torch.Tensor) -> torch.Tensor:
    """Greedy decoding: pick the most likely next token of each sequence.
    logits: [batch d_vocab] -> token ids [batch] (int64)."""
    return logits.argmax(dim=-1)


def _wrong_greedy_batch_axis(logits):
    return logits.argmax(dim=0)


def _wrong_greedy_flat(logits):
    return logits.argmax().expand(logits.shape[0])


def _wrong_greedy_argmin(logits):
    return logits.argmin(dim=-1)


def _wrong_greedy_values(logits):
    return logits.max(dim=-1).values


def _greedy_cases():
    g = torch.Generator().manual_seed(0)
    return [
        Case("one sequence, 5 tokens", (torch.tensor([[0.1, 2.0, -1.0, 0.5, 1.9]]),)),
        Case("3 sequences, 4 tokens", (torch.tensor([[1.0, 0.0, 3.0, 2.0], [5.0, 4.0, 0.0, 1.0],
                                                    [-3.0, -2.0, -1.0, -4.0]]),)),
        Case("random, batch 4, vocab 50", (torch.randn(4, 50, generator=g) * 3,)),
        Case("all logits negative", (-torch.rand(2, 7, generator=g) - 1,)),
    ]


# -- temperature -----------------------------------------------------------------------------------

def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Scale logits by a temperature T > 0: T < 1 makes the distribution sharper, T > 1 flatter.
    logits: [batch d_vocab] -> logits of the same shape (not probabilities)."""
    return logits / temperature


def _wrong_temperature_multiply(logits, temperature):
    return logits * temperature


def _wrong_temperature_probs(logits, temperature):
    return (logits / temperature).softmax(dim=-1)


def _wrong_temperature_after_softmax(logits, temperature):
    return logits.softmax(dim=-1) / temperature


def _temperature_cases():
    g = torch.Generator().manual_seed(1)
    x = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    return [
        Case("T = 0.5 (sharper)", (x, 0.5)),
        Case("T = 2 (flatter)", (x, 2.0)),
        Case("T = 1 changes nothing", (x, 1.0)),
        Case("random, batch 3, T = 0.7", (torch.randn(3, 20, generator=g), 0.7)),
    ]


# -- top-k -----------------------------------------------------------------------------------------

def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row and set all the others to -inf (probability 0).
    If k is at least the vocabulary size, nothing is removed. You may assume no ties.
    logits: [batch d_vocab] -> [batch d_vocab]."""
    k = min(k, logits.shape[-1])
    kth_largest = logits.topk(k, dim=-1).values[..., -1:]  # [batch 1]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def _wrong_top_k_zero(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)


def _wrong_top_k_one_extra(logits, k):
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = logits.sort(dim=-1, descending=True).values[..., k : k + 1]  # the (k+1)-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def _wrong_top_k_smallest(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.topk(k, dim=-1, largest=False).values[..., -1:]
    return logits.masked_fill(logits > kth, float("-inf"))


def _wrong_top_k_global(logits, k):
    k = min(k, logits.numel())
    kth = logits.flatten().topk(k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))


def _top_k_cases():
    g = torch.Generator().manual_seed(2)
    x = torch.tensor([[0.3, 2.5, -1.0, 1.7, 0.9, -0.2]])
    return [
        Case("k = 3 of 6", (x, 3)),
        Case("k = 1 (same as greedy)", (x, 1)),
        Case("two rows on different scales, k = 2", (torch.tensor([[5.0, 4.0, 3.0, 2.0], [0.4, 0.1, 0.3, 0.2]]), 2)),
        Case("random, batch 4, vocab 30, k = 5", (torch.randn(4, 30, generator=g), 5)),
        Case("k larger than the vocabulary", (x, 10)),
    ]


# -- top-p (nucleus) ------------------------------------------------------------------------------

def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probabilities add up
    to at least p, and set every other logit to -inf. The most likely token is always kept.
    logits: [batch d_vocab] -> [batch d_vocab]."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
    drop_sorted = mass_before >= p  # a token is kept if the mass before it has not reached p yet
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to the original token order
    return logits.masked_fill(drop, float("-inf"))


def _wrong_top_p_drop_crossing(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = cum > p
    drop_sorted[..., 0] = False
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))


def _wrong_top_p_unsorted_mask(logits, p):
    sorted_logits, _ = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop_sorted, float("-inf"))


def _wrong_top_p_no_sort(logits, p):
    probs = logits.softmax(dim=-1)
    drop = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop, float("-inf"))


def _top_p_cases():
    g = torch.Generator().manual_seed(3)
    # probabilities 0.05, 0.5, 0.15, 0.3 (deliberately not in sorted order)
    x = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log()
    return [
        Case("p = 0.7: 0.5 + 0.3 crosses it", (x, 0.7)),
        Case("p = 0.9", (x, 0.9)),
        Case("p = 0.3: the top token alone is enough", (x, 0.3)),
        Case("random, batch 3, vocab 40, p = 0.8", (torch.randn(3, 40, generator=g) * 2, 0.8)),
    ]


# -- the generation loop ---------------------------------------------------------------------------

def generate_greedy(model, tokens: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """The generation loop without a cache: run the model on the whole sequence, take the logits
    of the last position, pick the next token greedily, append it, repeat.
    tokens: [batch pos] -> [batch pos + max_new_tokens] (the prompt followed by the new tokens)."""
    for _ in range(max_new_tokens):
        logits = model(tokens)  # [batch pos d_vocab]
        next_token = logits[:, -1].argmax(dim=-1)  # [batch]
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


def _wrong_generate_first_position(model, tokens, max_new_tokens):
    for _ in range(max_new_tokens):
        next_token = model(tokens)[:, 0].argmax(dim=-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


def _wrong_generate_last_token_only(model, tokens, max_new_tokens):
    for _ in range(max_new_tokens):
        next_token = model(tokens[:, -1:])[:, -1].argmax(dim=-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


def _wrong_generate_new_only(model, tokens, max_new_tokens):
    prompt_len = tokens.shape[1]
    return generate_greedy(model, tokens, max_new_tokens)[:, prompt_len:]


def _small_model(seed: int = 0):
    """A small random model with large weights, so its predictions depend on the whole context."""
    from course.config import ModelConfig
    from course.model import HookedTransformer

    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=23, n_ctx=32, init_std=0.4)
    model = HookedTransformer(cfg).eval()
    model.init_weights(seed=seed)
    return model


def _generate_cases():
    model = _small_model()
    g = torch.Generator().manual_seed(4)
    return [
        Case("one prompt of 4 tokens, 5 new", (model, torch.tensor([[1, 7, 3, 9]]), 5)),
        Case("a batch of 3 random prompts, 6 new", (model, torch.randint(0, 23, (3, 6), generator=g), 6)),
        Case("a one-token prompt, 8 new", (model, torch.tensor([[5]]), 8)),
        Case("zero new tokens", (model, torch.tensor([[2, 4]]), 0)),
    ]


# -- attention with a KV cache: one decode step of one head --------------------------------------

def decode_step(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, k_new: torch.Tensor,
                v_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One decode step of one attention head with a KV cache.
    q, k_new, v_new: [d_head], the new token's query, key and value.
    k_cache, v_cache: [pos d_head], keys and values of the earlier positions (pos may be 0).
    Append the new key and value to the cache, let the new query attend to every cached position
    (itself included) with softmax(q . k / sqrt(d_head)), and return
    (z [d_head], the new k_cache [pos+1 d_head], the new v_cache [pos+1 d_head])."""
    k_cache = torch.cat([k_cache, k_new[None]], dim=0)  # [pos+1 d_head]
    v_cache = torch.cat([v_cache, v_new[None]], dim=0)
    scores = k_cache @ q / math.sqrt(q.shape[-1])  # [pos+1]
    pattern = scores.softmax(dim=-1)
    z = pattern @ v_cache  # [d_head]
    return z, k_cache, v_cache


def _wrong_decode_no_scale(q, k_cache, v_cache, k_new, v_new):
    k_cache = torch.cat([k_cache, k_new[None]], dim=0)
    v_cache = torch.cat([v_cache, v_new[None]], dim=0)
    return (k_cache @ q).softmax(dim=-1) @ v_cache, k_cache, v_cache


def _wrong_decode_past_only(q, k_cache, v_cache, k_new, v_new):
    if k_cache.shape[0] == 0:
        z = torch.zeros_like(v_new)
    else:
        z = (k_cache @ q / math.sqrt(q.shape[-1])).softmax(dim=-1) @ v_cache
    return z, torch.cat([k_cache, k_new[None]]), torch.cat([v_cache, v_new[None]])


def _wrong_decode_prepend(q, k_cache, v_cache, k_new, v_new):
    k_cache = torch.cat([k_new[None], k_cache], dim=0)
    v_cache = torch.cat([v_new[None], v_cache], dim=0)
    return (k_cache @ q / math.sqrt(q.shape[-1])).softmax(dim=-1) @ v_cache, k_cache, v_cache


def _wrong_decode_mix_keys(q, k_cache, v_cache, k_new, v_new):
    k_cache = torch.cat([k_cache, k_new[None]], dim=0)
    v_cache = torch.cat([v_cache, v_new[None]], dim=0)
    return (k_cache @ q / math.sqrt(q.shape[-1])).softmax(dim=-1) @ k_cache, k_cache, v_cache


def _decode_cases():
    g = torch.Generator().manual_seed(5)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    return [
        Case("3 cached positions, d_head 4", (rand(4) * 2, rand(3, 4), rand(3, 4), rand(4), rand(4))),
        Case("d_head 16, 7 cached positions", (rand(16) * 2, rand(7, 16), rand(7, 16), rand(16), rand(16))),
        Case("empty cache (the first token)", (rand(8), torch.zeros(0, 8), torch.zeros(0, 8), rand(8), rand(8))),
    ]


# -- training: the next-token loss -----------------------------------------------------------------

def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The training loss: the logits at position i predict token i + 1. Return the mean
    cross-entropy over every prediction that has a next token to compare with.
    logits: [batch pos d_vocab], tokens: [batch pos] -> a scalar tensor."""
    predictions = logits[:, :-1]  # [batch pos-1 d_vocab]: the last position has no next token
    targets = tokens[:, 1:]  # [batch pos-1]
    return F.cross_entropy(predictions.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _wrong_loss_no_shift(logits, tokens):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))


def _wrong_loss_shift_backwards(logits, tokens):
    return F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), tokens[:, :-1].reshape(-1))


def _wrong_loss_sum(logits, tokens):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                           reduction="sum")


def _wrong_loss_probs_not_logprobs(logits, tokens):
    probs = logits[:, :-1].softmax(dim=-1)
    return -probs.gather(-1, tokens[:, 1:, None]).mean()


def _loss_cases():
    g = torch.Generator().manual_seed(6)
    return [
        Case("batch 1, 4 positions, vocab 5",
             (torch.randn(1, 4, 5, generator=g) * 2, torch.tensor([[0, 3, 1, 4]]))),
        Case("batch 3, 6 positions, vocab 11",
             (torch.randn(3, 6, 11, generator=g) * 2, torch.randint(0, 11, (3, 6), generator=g))),
        Case("two positions: one prediction", (torch.randn(2, 2, 7, generator=g), torch.tensor([[1, 2], [3, 4]]))),
    ]


EXERCISES = [
    Exercise(
        "greedy", CHAPTER, greedy, _greedy_cases,
        hints=["For each row (one sequence), find the index of the largest logit.",
               "torch.argmax takes a dim argument; the vocabulary is the last axis, dim=-1."],
        mistakes=[
            Mistake("batch axis", _wrong_greedy_batch_axis,
                    "Did you take the argmax over the batch axis? Take it over the vocabulary axis (dim=-1), "
                    "not the batch axis (dim=0)."),
            Mistake("flattened", _wrong_greedy_flat,
                    "Did you call argmax without dim? That gives one index into the flattened tensor; "
                    "use dim=-1 to get one token per sequence."),
            Mistake("values", _wrong_greedy_values,
                    "Did you return the largest logit instead of its index? The next token is the *position* "
                    "of the largest logit in the vocabulary: argmax, not max."),
            Mistake("argmin", _wrong_greedy_argmin,
                    "Did you pick the smallest logit? Greedy picks the largest (argmax)."),
        ],
    ),
    Exercise(
        "apply_temperature", CHAPTER, apply_temperature, _temperature_cases,
        hints=["Temperature rescales the logits before the softmax; nothing else changes.",
               "With T = 2 every logit is halved, so differences between tokens shrink and the distribution flattens."],
        mistakes=[
            Mistake("multiply", _wrong_temperature_multiply,
                    "Did you multiply by T instead of dividing? Divide the logits by the temperature: "
                    "a high T must flatten the distribution."),
            Mistake("probabilities", _wrong_temperature_probs,
                    "Did you return probabilities? Return the scaled logits; the softmax comes later, "
                    "in the sampler."),
            Mistake("after softmax", _wrong_temperature_after_softmax,
                    "Did you divide after the softmax? Temperature divides the logits, before any softmax."),
        ],
        error_hints=[("division by zero", "Temperature 0 is greedy decoding and is handled by the caller; "
                                          "here T > 0.")],
    ),
    Exercise(
        "top_k_filter", CHAPTER, top_k_filter, _top_k_cases,
        hints=["Find the k-th largest logit of each row; everything strictly below it goes.",
               "logits.topk(k, dim=-1).values[..., -1:] is the k-th largest value, kept as a column so it "
               "broadcasts; masked_fill(mask, float('-inf')) does the removing.",
               "k can exceed the vocabulary size: clamp it with min(k, logits.shape[-1])."],
        mistakes=[
            Mistake("zero", _wrong_top_k_zero,
                    "Did you set the removed logits to 0? A logit of 0 still has a probability; set them "
                    "to float('-inf') so the softmax gives them exactly 0."),
            Mistake("off by one", _wrong_top_k_one_extra,
                    "Did you keep k + 1 tokens? An off-by-one: the k-th largest logit itself is kept, the "
                    "(k+1)-th is not (topk(k).values[..., -1] is the k-th)."),
            Mistake("smallest", _wrong_top_k_smallest,
                    "Did you keep the k smallest logits? Keep the largest ones."),
            Mistake("global", _wrong_top_k_global,
                    "Did you take the top k over the whole batch? Each row (sequence) keeps its own k "
                    "tokens: use dim=-1 and keep the threshold per row with [..., -1:]."),
        ],
        error_hints=[("selected index k out of range", "k can be larger than the vocabulary: use "
                                                       "min(k, logits.shape[-1]).")],
    ),
    Exercise(
        "top_p_filter", CHAPTER, top_p_filter, _top_p_cases,
        hints=["Sort each row's tokens by probability, largest first, and add up probabilities as you go.",
               "A token is kept if the probability of the tokens ranked above it is still below p. So the "
               "token whose probability makes the sum cross p is kept.",
               "The mask is computed in sorted order: map it back to the original order with "
               "mask.scatter(-1, order, mask), where order is what sort returned."],
        mistakes=[
            Mistake("drop crossing token", _wrong_top_p_drop_crossing,
                    "Is the token that crosses p kept? It must be: keep tokens while the mass *before* them "
                    "is below p (cumsum - probs < p), not while the cumulative sum including them is."),
            Mistake("mask in sorted order", _wrong_top_p_unsorted_mask,
                    "Did you map the mask back to the original token order? The mask was computed on "
                    "sorted tokens; scatter it back with the indices sort returned."),
            Mistake("no sort", _wrong_top_p_no_sort,
                    "Did you sort the tokens by probability first? The nucleus is made of the *most likely* "
                    "tokens, so the cumulative sum must run over them in descending order."),
        ],
    ),
    Exercise(
        "generate_greedy", CHAPTER, generate_greedy, _generate_cases,
        hints=["Loop max_new_tokens times: logits = model(tokens), then pick and append one token.",
               "model(tokens) has shape [batch pos d_vocab]; the prediction for the next token is at the "
               "last position, logits[:, -1].",
               "torch.cat([tokens, next_token[:, None]], dim=1) appends a column of new tokens."],
        mistakes=[
            Mistake("first position", _wrong_generate_first_position,
                    "Did you read the logits at position 0? An off-by-one position: the next token is "
                    "predicted by the last position, logits[:, -1]."),
            Mistake("last token only", _wrong_generate_last_token_only,
                    "Did you feed the model only the newest token? Without a KV cache the model has no "
                    "memory: it must see the whole sequence at every step."),
            Mistake("new tokens only", _wrong_generate_new_only,
                    "Did you return only the new tokens? Return the prompt followed by them, "
                    "[batch pos + max_new_tokens]."),
        ],
    ),
    Exercise(
        "decode_step", CHAPTER, decode_step, _decode_cases,
        hints=["First append: k_cache = torch.cat([k_cache, k_new[None]]), the same for v.",
               "Scores are one number per cached position: k_cache @ q, divided by sqrt(d_head). "
               "Softmax them, then take the weighted sum of the values.",
               "The new token attends to itself too, which is why it is appended before attending."],
        mistakes=[
            Mistake("no scale", _wrong_decode_no_scale,
                    "Did you forget the scale? Divide the scores q . k by sqrt(d_head) before the softmax."),
            Mistake("past only", _wrong_decode_past_only,
                    "Does the new token attend to itself? Append k_new and v_new to the cache first, then "
                    "attend over all pos + 1 positions."),
            Mistake("prepend", _wrong_decode_prepend,
                    "Did you put the new key in front of the cache? Append it at the end: position pos is "
                    "the newest, so the cache stays in position order."),
            Mistake("mix keys", _wrong_decode_mix_keys,
                    "Did you mix the keys instead of the values? z = pattern @ v_cache."),
        ],
    ),
    Exercise(
        "next_token_loss", CHAPTER, next_token_loss, _loss_cases,
        hints=["The logits at position i are a guess for token i + 1: pair logits[:, :-1] with tokens[:, 1:].",
               "F.cross_entropy wants [N, d_vocab] logits and [N] targets: flatten batch and position "
               "together with reshape(-1, d_vocab) and reshape(-1)."],
        mistakes=[
            Mistake("no shift", _wrong_loss_no_shift,
                    "Did you compare each position with its own token? An off-by-one position: the logits at "
                    "position i predict token i + 1, so shift by one (logits[:, :-1] vs tokens[:, 1:])."),
            Mistake("shift backwards", _wrong_loss_shift_backwards,
                    "Did you shift the wrong way? The logits at i predict the *next* token: "
                    "logits[:, :-1] with tokens[:, 1:], not logits[:, 1:] with tokens[:, :-1]."),
            Mistake("sum", _wrong_loss_sum,
                    "Did you sum instead of averaging? The loss is the mean over all predictions."),
            Mistake("probabilities", _wrong_loss_probs_not_logprobs,
                    "Did you average probabilities? Cross-entropy is the mean of -log p(next token): use "
                    "log_softmax (or F.cross_entropy, which includes it)."),
        ],
        error_hints=[("view size is not compatible", "use reshape instead of view after slicing.")],
    ),
]


# -- open exercises: worked answers (reveal(name) prints one) -------------------------------------

def _document_batch(model, n_docs: int = 48, length: int = 64, seed: int = 1, stories_only: bool = False):
    """[batch length]: TinyWorld documents (`course.corpus_v4`, the text tinyworld was trained on) that
    are at least `length` tokens long, each from its start
    (the same documents chapter 00 scores loss by position on)."""
    from course import corpus_v4

    tok = model.tokenizer
    docs = [d for d in corpus_v4.documents(8 * n_docs, seed=seed) if not (stories_only and d.startswith("calc"))]
    seqs = [[tok.bos_id] + tok.encode(d) for d in docs]
    return torch.tensor([s[:length] for s in seqs if len(s) >= length][:n_docs])


@torch.no_grad()
def worked_best_temperature(model, temperatures=(0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0)) -> dict:
    """Open question: which temperature gives TinyWorld text the highest probability? Worked answer:
    score real documents with logits / T for a range of T. The loss is lowest near T = 1 (on the
    shipped model 0.85 and 1.0 are within 0.01 nats, while 0.5 and 2.0 cost 0.2 and 0.4 nats more):
    the model is *calibrated*, as training with cross-entropy rewards honest probabilities. A lower
    temperature in generation is a choice for safer text, not a more faithful copy of the data."""
    tokens = _document_batch(model)
    logits = model(tokens)[:, :-1]
    targets = tokens[:, 1:]
    return {T: F.cross_entropy((logits / T).flatten(0, 1), targets.flatten()).item() for T in temperatures}


@torch.no_grad()
def worked_nucleus_size(model, p: float = 0.9) -> dict:
    """Open question: how many tokens does top-p keep, position by position, and what decides it?
    Worked answer: on one document, count the tokens top-p keeps at every position and compare with
    the entropy of the model's distribution there. On the shipped model the count swings from 1
    inside a fact ('Vera grew up in Mesa,' -> ' Arizona') to over a thousand at the start of a
    document, and it follows the entropy (a rank correlation of about 0.8): top-p adapts where top-k
    cannot."""
    tokens = _document_batch(model, n_docs=1, stories_only=True)
    logits = model(tokens)[0]  # [pos d_vocab]
    kept = torch.isfinite(top_p_filter(logits, p)).sum(-1).float()  # [pos]
    probs = logits.softmax(-1)
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)

    def ranks(x):
        return x.argsort().argsort().float()

    rho = torch.corrcoef(torch.stack([ranks(kept), ranks(entropy)]))[0, 1].item()
    words = model.to_str_tokens(tokens)
    return {"kept at each position": list(zip(words, kept.int().tolist())),
            "fewest": int(kept.min()), "most": int(kept.max()), "rank correlation with entropy": rho}


@torch.no_grad()
def worked_repetition_vs_temperature(model, prompts=("Mary went to the", "Once upon a time,", "Tom lives in"),
                                     temperatures=(0.0, 0.5, 1.0, 1.5), n_new: int = 60) -> dict:
    """Open question: greedy text loops; how hot must sampling be before it stops looping, and what
    does it cost? Worked answer: for each temperature, the share of repeated 4-grams in the
    generated text, and the loss the model itself gives its text (how unlikely the text is to the
    model, a rough measure of sense). On the shipped model greedy text repeats almost a third of its
    4-grams in these 60 tokens, T = 0.5 about 6% and T = 1 none at all. The text's own loss stays
    near 1 nat up to T = 1 (1.1 greedy, 1.0 at T = 0.5, 1.2 at T = 1; greedy text is not the least
    surprising, because its loops run into lines such as two-hop questions where even the favourite
    token is unsure) and jumps to 1.8 nats at T = 1.5: past T = 1 the model writes text it would not
    predict itself."""
    out = {}
    for T in temperatures:
        shares, losses = [], []
        for seed, prompt in enumerate(prompts):
            tokens = model.to_tokens(prompt)
            generated = model.generate(tokens, max_new_tokens=n_new, temperature=T, seed=seed)
            shares.append(repeated_ngram_share(generated[0, tokens.shape[1]:].tolist()))
            losses.append(model.loss(generated).item())
        out[T] = {"repeated 4-grams": sum(shares) / len(shares), "loss of its own text": sum(losses) / len(losses)}
    return out


def repeated_ngram_share(ids: list[int], n: int = 4) -> float:
    """The share of a text's n-grams that already appeared earlier in it (0: no repeats)."""
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


WORKED = {"best_temperature": worked_best_temperature, "nucleus_size": worked_nucleus_size,
          "repetition_vs_temperature": worked_repetition_vs_temperature}
