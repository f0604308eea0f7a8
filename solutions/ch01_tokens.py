"""Chapter 01, tokens and embeddings: reference solutions, their hints and the known mistakes.

As in every ``solutions`` module, each reference's source is what the filled-in notebook runs and
its docstring is what the learner's stub shows; it may use ``torch``, ``F`` and the functions of
earlier exercises of the same chapter. The ``_wrong_*`` functions are the mistakes ``check`` names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course.exercises import Case, Exercise, Mistake

CHAPTER = "01"
TITLE = "Tokens and embeddings"


# -- BPE by hand -----------------------------------------------------------------------------------

def count_pairs(words: list[list[str]]) -> dict[tuple[str, str], int]:
    """Count how often each pair of adjacent symbols occurs, inside each word (pairs never cross
    from one word to the next). words: a list of words, each a list of symbols, e.g.
    [["l", "o", "w"], ["l", "o"]] -> {("l", "o"): 2, ("o", "w"): 1}. Insert pairs in the order
    you first meet them (a plain dict does this)."""
    counts: dict[tuple[str, str], int] = {}
    for word in words:
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def _wrong_count_across_words(words):
    flat = [s for w in words for s in w]
    counts = {}
    for pair in zip(flat, flat[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _wrong_count_skip_last(words):
    counts = {}
    for word in words:
        for i in range(len(word) - 2):
            pair = (word[i], word[i + 1])
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def _count_cases():
    return [
        Case("two words", ([list("low"), list("lower")],)),
        Case("a repeated symbol", ([list("aaa"), list("ab")],)),
        Case("several words", ([list(" the"), list(" cat"), list(" sat"), list(" on"), list(" the"), list(" mat")],)),
        Case("one-symbol words have no pairs", ([["a"], ["b"]],)),
        Case("no words at all", ([],)),
    ]


def merge_pair(word: list[str], pair: tuple[str, str]) -> list[str]:
    """Replace every occurrence of ``pair`` in ``word`` by one merged symbol, scanning left to
    right; occurrences do not overlap: ["a", "a", "a"] with ("a", "a") -> ["aa", "a"].
    Return a new list; the input is not changed."""
    merged, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            merged.append(word[i] + word[i + 1])
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return merged


def _wrong_merge_overlapping(word, pair):
    merged, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            merged.append(word[i] + word[i + 1])
        else:
            merged.append(word[i])
        i += 1
    return merged


def _wrong_merge_first_only(word, pair):
    for i in range(len(word) - 1):
        if (word[i], word[i + 1]) == pair:
            return word[:i] + [word[i] + word[i + 1]] + word[i + 2 :]
    return list(word)


def _merge_cases():
    return [
        Case("one occurrence", (list("lower"), ("o", "w"))),
        Case("two occurrences", (list("banana"), ("a", "n"))),
        Case("overlapping occurrences", (list("aaa"), ("a", "a"))),
        Case("four in a row", (list("aaaa"), ("a", "a"))),
        Case("pair not present", (list("cat"), ("a", "c"))),
        Case("merged symbols merge again", (["lo", "w", "e", "r"], ("lo", "w"))),
    ]


def train_bpe(words: list[list[str]], n_merges: int) -> list[tuple[str, str]]:
    """Learn up to n_merges BPE merges. At each step count the pairs (count_pairs), take the most
    frequent one (on a tie, the one counted first: max(counts, key=counts.get) does this), merge
    it in every word (merge_pair), and record it. Stop early when no pair is left.
    Return the list of merges, in the order they were learned."""
    merges = []
    for _ in range(n_merges):
        counts = count_pairs(words)
        if not counts:
            break
        best = max(counts, key=counts.get)
        words = [merge_pair(word, best) for word in words]
        merges.append(best)
    return merges


def _wrong_bpe_count_once(words, n_merges):
    counts = count_pairs(words)
    return sorted(counts, key=counts.get, reverse=True)[:n_merges]


def _wrong_bpe_return_words(words, n_merges):
    for _ in range(n_merges):
        counts = count_pairs(words)
        if not counts:
            break
        best = max(counts, key=counts.get)
        words = [merge_pair(word, best) for word in words]
    return words


def _bpe_cases():
    def words(text):
        return [list(w) for w in text.split(" ")]

    return [
        Case("low lower lowest newer wider, 6 merges", (words("low lower lowest newer wider"), 6)),
        Case("aaaa aaa, 3 merges", (words("aaaa aaa"), 3)),
        Case("more merges than possible", (words("abc ab"), 10)),
        Case("a sentence, 8 merges", (words("the cat sat on the mat and the rat sat on the hat"), 8)),
    ]


def encode_word(word: list[str], merges: list[tuple[str, str]]) -> list[str]:
    """Tokenize one word (a list of characters) with learned merges: apply them in the order
    they were learned, each with merge_pair. Return the list of tokens."""
    for pair in merges:
        word = merge_pair(word, pair)
    return word


def _wrong_encode_reversed(word, merges):
    for pair in reversed(merges):
        word = merge_pair(word, pair)
    return word


def _wrong_encode_first_merge_only(word, merges):
    return merge_pair(word, merges[0]) if merges else list(word)


def _encode_cases():
    merges = [("l", "o"), ("lo", "w"), ("e", "r"), ("w", "er"), ("low", "er")]
    return [
        Case("lower with 5 merges", (list("lower"), merges)),
        Case("lowest", (list("lowest"), merges)),
        Case("a word none of the merges touch", (list("cat"), merges)),
        Case("no merges at all", (list("abc"), [])),
        Case("merges that build on each other", (list("aaaa"), [("a", "a"), ("aa", "aa")])),
    ]


# -- embeddings ------------------------------------------------------------------------------------

def embed_one_hot(tokens: torch.Tensor, W_E: torch.Tensor) -> torch.Tensor:
    """The embedding lookup written as a matrix product: one-hot vectors of the token ids
    (width d_vocab) times the embedding matrix.
    tokens: [batch pos] int64, W_E: [d_vocab d_model] -> [batch pos d_model]."""
    one_hot = F.one_hot(tokens, num_classes=W_E.shape[0]).to(W_E.dtype)  # [batch pos d_vocab]
    return one_hot @ W_E


def _wrong_embed_transposed(tokens, W_E):
    return F.one_hot(tokens, num_classes=W_E.shape[0]).to(W_E.dtype) @ W_E.T


def _embed_cases():
    g = torch.Generator().manual_seed(10)
    return [
        Case("square W_E (d_vocab = d_model = 6)", (torch.tensor([[0, 3, 5]]), torch.randn(6, 6, generator=g))),
        Case("batch 2, vocab 20, d_model 8", (torch.randint(0, 20, (2, 5), generator=g), torch.randn(20, 8, generator=g))),
        Case("ids below the top of the vocabulary", (torch.tensor([[1, 2, 1]]), torch.randn(10, 4, generator=g))),
    ]


def nearest_neighbours(W_E: torch.Tensor, token_id: int, k: int) -> torch.Tensor:
    """The k tokens whose embeddings have the highest cosine similarity with token_id's,
    most similar first, leaving token_id itself out.
    W_E: [d_vocab d_model] -> token ids [k] (int64)."""
    unit = W_E / W_E.norm(dim=-1, keepdim=True)  # [d_vocab d_model], every row of length 1
    similarity = unit @ unit[token_id]  # [d_vocab]
    similarity[token_id] = float("-inf")
    return similarity.topk(k).indices


def _wrong_nn_dot(W_E, token_id, k):
    similarity = W_E @ W_E[token_id]
    similarity[token_id] = float("-inf")
    return similarity.topk(k).indices


def _wrong_nn_include_self(W_E, token_id, k):
    unit = W_E / W_E.norm(dim=-1, keepdim=True)
    return (unit @ unit[token_id]).topk(k).indices


def _wrong_nn_least_similar(W_E, token_id, k):
    unit = W_E / W_E.norm(dim=-1, keepdim=True)
    similarity = unit @ unit[token_id]
    similarity[token_id] = float("inf")
    return similarity.topk(k, largest=False).indices


def _nn_cases():
    g = torch.Generator().manual_seed(11)
    # rows of very different lengths, so a plain dot product ranks differently from cosine
    W = torch.randn(40, 8, generator=g) * torch.rand(40, 1, generator=g).mul(5).add(0.1)
    return [
        Case("token 3, k = 5", (W, 3, 5)),
        Case("token 0, k = 1", (W, 0, 1)),
        Case("token 39, k = 10", (W, 39, 10)),
    ]


EXERCISES = [
    Exercise(
        "count_pairs", CHAPTER, count_pairs, _count_cases,
        hints=["zip(word, word[1:]) walks over the adjacent pairs of one word.",
               "Loop over the words and add 1 per pair: counts[pair] = counts.get(pair, 0) + 1."],
        mistakes=[
            Mistake("across words", _wrong_count_across_words,
                    "Did you count pairs across word boundaries? Count inside each word only: BPE never merges "
                    "the end of one word with the start of the next."),
            Mistake("skip last", _wrong_count_skip_last,
                    "Did you miss the last pair of each word? An off-by-one: a word of n symbols has n - 1 "
                    "pairs, i from 0 to n - 2 inclusive (range(len(word) - 1))."),
        ],
    ),
    Exercise(
        "merge_pair", CHAPTER, merge_pair, _merge_cases,
        hints=["Walk through the word with an index i; at each step either merge word[i] and word[i+1] "
               "or copy word[i].",
               "After a merge, jump over both symbols (i += 2), so occurrences do not overlap."],
        mistakes=[
            Mistake("overlapping", _wrong_merge_overlapping,
                    "Did you skip both symbols after a merge? After merging word[i] and word[i+1], continue at "
                    "i + 2: ['a', 'a', 'a'] with ('a', 'a') becomes ['aa', 'a'], not ['aa', 'aa', 'a']."),
            Mistake("first only", _wrong_merge_first_only,
                    "Did you merge only the first occurrence? Merge every occurrence in the word."),
        ],
    ),
    Exercise(
        "train_bpe", CHAPTER, train_bpe, _bpe_cases,
        hints=["Each step is: counts = count_pairs(words); best = max(counts, key=counts.get); "
               "words = [merge_pair(w, best) for w in words].",
               "Count again at every step: a merge creates new pairs (('lo', 'w') only exists after ('l', 'o')).",
               "If counts is empty, every word is a single token: stop."],
        mistakes=[
            Mistake("count once", _wrong_bpe_count_once,
                    "Did you count the pairs only once? Count again after every merge: merges create new pairs "
                    "and change the counts of old ones."),
            Mistake("return words", _wrong_bpe_return_words,
                    "Did you return the merged words? Return the list of merges (pairs), in the order learned."),
        ],
        error_hints=[("empty", "When count_pairs returns nothing, no pair is left to merge: stop the loop early.")],
    ),
    Exercise(
        "encode_word", CHAPTER, encode_word, _encode_cases,
        hints=["Start from the characters and apply each merge with merge_pair, in order.",
               "Order matters: ('lo', 'w') can only apply after ('l', 'o') has made 'lo'."],
        mistakes=[
            Mistake("reversed", _wrong_encode_reversed,
                    "Did you apply the merges in the wrong order? Apply them in the order they were learned: "
                    "later merges build on the symbols earlier ones made."),
            Mistake("first merge only", _wrong_encode_first_merge_only,
                    "Did you apply only the first merge? Apply every merge in turn."),
        ],
    ),
    Exercise(
        "embed_one_hot", CHAPTER, embed_one_hot, _embed_cases,
        hints=["F.one_hot(tokens, num_classes=d_vocab) gives [batch pos d_vocab]; d_vocab is W_E.shape[0].",
               "One-hot vectors are integers: convert them with .float() (or .to(W_E.dtype)) before the matmul."],
        mistakes=[
            Mistake("transposed", _wrong_embed_transposed,
                    "Did you multiply by W_E.T? W_E is [d_vocab d_model]: a one-hot row [d_vocab] times W_E "
                    "picks out one row, no transpose needed."),
        ],
        error_hints=[("same dtype", "F.one_hot returns integers: convert with .float() (or .to(W_E.dtype)) first."),
                     ("cannot be multiplied", "Give F.one_hot num_classes=W_E.shape[0]: without it, its width is "
                                              "the largest id + 1, not the vocabulary size.")],
    ),
    Exercise(
        "nearest_neighbours", CHAPTER, nearest_neighbours, _nn_cases,
        hints=["Cosine similarity is the dot product of unit vectors: divide each row of W_E by its norm.",
               "unit @ unit[token_id] gives one similarity per token; set the token's own entry to -inf, "
               "then .topk(k).indices."],
        mistakes=[
            Mistake("dot product", _wrong_nn_dot,
                    "Did you use the plain dot product? Normalise first: cosine similarity divides by both "
                    "vectors' lengths, so long embeddings do not win just by being long."),
            Mistake("include self", _wrong_nn_include_self,
                    "Did you leave the token itself in? Every vector is most similar to itself; exclude "
                    "token_id before taking the top k."),
            Mistake("least similar", _wrong_nn_least_similar,
                    "Did you take the least similar tokens? topk returns the largest by default; you want "
                    "the highest similarity, most similar first."),
        ],
    ),
]


# -- open exercises: worked answers (reveal(name) prints one) --------------------------------------

@torch.no_grad()
def worked_digit_line(model) -> dict:
    """Open question: do the digit embeddings form a number line? Worked answer: the mean cosine
    similarity of adjacent digits (d, d + 1) against digits three or more apart, and the digits'
    coordinates along their own top two principal directions. On the shipped model adjacent digits
    are far more alike (about 0.77 against 0.20). Along the top direction the digits run from 1
    down to 5 and back up to 9, with 0 beside 9 and 1; the second direction, almost as strong,
    separates the two halves: in these two directions the ten digits go round a circle in order,
    each about a tenth of a turn from the next, and 9 sits next to 0 again. Closer to a clock than
    to a ruler."""
    tok = model.tokenizer
    ids = [tok.encode(str(d))[0] for d in range(10)]
    D = model.W_E[ids].detach()
    cos = torch.nn.functional.cosine_similarity(D[:, None], D[None], dim=-1)
    far = torch.triu(torch.ones(10, 10), 3).bool()
    centred = D - D.mean(0)
    top, second = torch.linalg.svd(centred, full_matrices=False).Vh[:2]
    return {"adjacent": cos.diagonal(1).mean().item(), "three or more apart": cos[far].mean().item(),
            "along the top direction": [round(v, 2) for v in (centred @ top).tolist()],
            "along the second direction": [round(v, 2) for v in (centred @ second).tolist()]}


@torch.no_grad()
def worked_state_neighbours(model) -> dict:
    """Open question: is a state's nearest city (by cosine similarity of embeddings) one of its
    own cities? Worked answer: count it over the states, and compare with what picking a random
    city would give (the state's share of all cities). On the shipped model it is for 29 of the 31
    states, against about 1 by chance: a place's embedding already holds where it is."""
    from course import world

    tok = model.tokenizer

    def one(word):
        ids = tok.encode(" " + word)
        return ids[0] if len(ids) == 1 else None

    cities = [c for c in world.CITIES if one(c) is not None]
    C = torch.nn.functional.normalize(model.W_E[[one(c) for c in cities]].detach(), dim=-1)
    hits, chance, n = 0, 0.0, 0
    for state, info in world.STATES.items():
        if one(state) is None:
            continue
        s = torch.nn.functional.normalize(model.W_E[one(state)].detach(), dim=-1)
        nearest = cities[int((C @ s).argmax())]
        hits += world.CITY_STATE[nearest] == state
        chance += sum(world.CITY_STATE[c] == state for c in cities) / len(cities)
        n += 1
    return {"states": n, "nearest city is its own": hits, "expected by chance": round(chance, 1)}


WORKED = {"digit_line": worked_digit_line, "state_neighbours": worked_state_neighbours}
