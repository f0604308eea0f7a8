# %% [markdown]
# # Chapter 01: Tokens and embeddings
#
# **Time:** about 40 minutes. **You will:**
#
# - train a tiny byte-pair-encoding (BPE) tokenizer by hand, and compare it with the course's;
# - see why arithmetic and letter counting are hard for a model that reads tokens, not characters;
# - write the embedding lookup as a one-hot vector times a matrix;
# - find a token's nearest neighbours in embedding space on the shipped model, and measure how
#   often cities sit next to cities and names next to names.
#
# As in chapter 00, write each exercise's body and run its cell; `hint("name")` and
# `reveal("name")` are there if you get stuck.

# %%
import re

import plotly.graph_objects as go
import torch
import torch.nn.functional as F

from course import corpus, world, zoo
from course.exercises import check, hint, progress, reveal
from course.tokenizer import train_merge_everything_bpe
from widgets import TokenView

model = zoo.load("tinyworld").eval()
tokenizer = model.tokenizer

# %% [markdown]
# ## 1. Text becomes tokens
#
# A model cannot read characters directly; it reads a list of integer ids, one per *token*. A
# token can be a whole word with its leading space (`" Dallas"`), a piece of a word, a digit or
# a punctuation mark. The *tokenizer* decides the pieces and their ids. The colour below is the
# number of characters in each token.

# %%
sentence = "The capital of Texas is Austin.\ncalc: 36 + 59 = 95"
ids = tokenizer.encode(sentence)
pieces = [tokenizer.token_str(i) for i in ids]
print(ids)
print(pieces)
assert "".join(pieces) == sentence and tokenizer.decode(ids) == sentence  # nothing is lost
TokenView(pieces, [len(p) for p in pieces], value_label="characters")

# %% [markdown]
# ## 2. Byte-pair encoding, by hand
#
# How are the pieces chosen? Most tokenizers, GPT-2's and ours included, learn them with
# *byte-pair encoding*: start from single characters, find the pair of adjacent symbols that
# occurs most often in a training text, merge it into a new symbol, and repeat. Each merge adds
# one token to the vocabulary. Frequent words end up as one token; rare ones stay in pieces.
#
# Like GPT-2, we first cut the text into words (each with its leading space) and never merge
# across two words. Our training text: a few TinyWorld documents from `course.corpus`, version 2
# of TinyWorld, the text the course tokenizer was trained on. (The model `tinyworld` was trained
# later on version 4, `course.corpus_v4`: the same world and words, with more kinds of sentences,
# read through the same tokenizer.)

# %%
text = "\n".join(corpus.documents(30, seed=0))
word_strings = re.findall(r" ?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+|\s+", text)
words = [list(w) for w in word_strings]
assert "".join(word_strings) == text
print(f"{len(text)} characters, {len(words)} words; the first ones: {word_strings[:8]}")

# %% [markdown]
# First, count the adjacent pairs inside each word.

# %% [exercise] count_pairs
check(count_pairs)

# %% [markdown]
# Then merge one pair everywhere in a word.

# %% [exercise] merge_pair
check(merge_pair)

# %% [markdown]
# Now the training loop: count, merge the most frequent pair, repeat.

# %% [exercise] train_bpe
check(train_bpe)

# %%
merges = train_bpe(words, 60)
print("first merges:", merges[:10])
print("later merges:", [a + b for a, b in merges[-10:]])

# %% [markdown]
# To tokenize a new word, replay the merges in the order they were learned:

# %% [exercise] encode_word
check(encode_word)

# %%
def our_tokens(text):
    return [t for w in re.findall(r" ?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+|\s+", text)
            for t in encode_word(list(w), merges)]


for sample in [" Tallahassee", " the", " Mary", " Springfield"]:
    ours, course_pieces = our_tokens(sample), [tokenizer.token_str(i) for i in tokenizer.encode(sample)]
    print(f"{sample!r:>16}: ours {ours}  course {course_pieces}")

# %% [markdown]
# How well does each compress the training text? The course tokenizer learned a vocabulary of a
# few thousand tokens on a much larger sample of the same corpus, ours 60 merges on 30 documents:

# %%
n_ours, n_course = len(our_tokens(text)), len(tokenizer.encode(text))
print(f"{len(text)} characters -> {n_ours} tokens with our {len(merges)} merges, "
      f"{n_course} with the course tokenizer ({tokenizer.vocab_size} tokens)")
assert "".join(our_tokens(text)) == text  # our tokenizer is lossless too
assert n_course < n_ours < len(text)  # more merges, fewer tokens
assert 2000 < tokenizer.vocab_size < 5000 and len(merges) == 60  # the numbers in the prose

# %% [markdown]
# ## 3. Why numbers and letters are hard
#
# A model sees token ids, not characters, so anything that depends on characters must be learned
# the hard way. Numbers are the classic case. A BPE that merges everything learns tokens for
# frequent digit strings, so numbers split unevenly: one number is one token, its neighbour two
# pieces of different lengths. Addition then means carrying across pieces that do not line up
# from one number to the next.
#
# The course tokenizer avoids this by cutting digits apart before BPE: every digit is its own
# token. Let us train a merge-everything BPE on the same TinyWorld text (it contains many
# `calc:` lines of sums) and compare.

# %%
merge_everything = train_merge_everything_bpe(corpus.documents(3000, seed=1), vocab_size=2048)


def split(tok, number):
    return [tok.token_str(i) for i in tok.encode(f" {number}")]


for n in [7, 36, 59, 95, 100, 123, 150, 187]:
    print(f"{n:>4}: merge-everything {split(merge_everything, n)!s:<24} course {split(tokenizer, n)}")

# %%
numbers = range(10, 200)
patterns = {}
for n in numbers:
    lengths = tuple(len(p.strip()) for p in split(merge_everything, n) if p.strip())
    patterns.setdefault(lengths, []).append(n)
for lengths, examples in sorted(patterns.items(), key=lambda kv: -len(kv[1])):
    print(f"digits per token {lengths}: {len(examples)} numbers, e.g. {examples[:5]}")
one_per_digit = all(len(split(tokenizer, n)) == len(str(n)) + 1 for n in numbers)  # " " then each digit
print(f"merge-everything: {len(patterns)} different ways of cutting the numbers 10-199; "
      f"course tokenizer: one token per digit for all of them: {one_per_digit}")
assert one_per_digit and len(patterns) > 1

# %% [markdown]
# Letters are hidden the same way. How many `a`s are in `" Tallahassee"`? To the model this word
# is one id; its spelling is nowhere in the input. The model can only know it if training text
# ever spelled the word out (this is why large models famously miscount the `r`s in
# "strawberry").

# %%
word = " Tallahassee"
print(tokenizer.encode(word), [tokenizer.token_str(i) for i in tokenizer.encode(word)],
      f"-- {word.count('a')} letters 'a', all inside one token")
assert len(tokenizer.encode(word)) == 1

# %% [markdown]
# ## 4. Embeddings: from an id to a vector
#
# The first layer of the model turns each id into a vector of `d_model` numbers: row `id` of the
# *embedding matrix* `W_E`, of shape `[d_vocab d_model]`. A lookup is the same as a matrix
# product: the *one-hot* vector of an id (all zeros except a 1 at the id) times `W_E` picks out
# that row. Write it that way.

# %% [exercise] embed_one_hot
check(embed_one_hot)

# %%
tokens = model.to_tokens(sentence)
W_E = model.W_E.detach()  # [d_vocab d_model]
print("W_E:", tuple(W_E.shape), " tokens:", tuple(tokens.shape), " embeddings:", tuple(embed_one_hot(tokens, W_E).shape))
with torch.no_grad():
    _, acts = model.run_with_cache(tokens, names_filter="hook_embed")
torch.testing.assert_close(embed_one_hot(tokens, W_E), acts["hook_embed"])  # what the model computes
assert torch.equal(W_E[tokens], model.embed(tokens).detach())  # in practice: indexing, no matmul

# %% [markdown]
# (Position is added separately: `hook_pos_embed` holds row `i` of `W_pos` for position `i`, and
# the two sum into the residual stream, the subject of the next chapters.)
#
# ## 5. Nearest neighbours in embedding space
#
# Training moves tokens that are used alike towards similar directions. Measure it with *cosine
# similarity*, the cosine of the angle between two vectors.

# %% [exercise] nearest_neighbours
check(nearest_neighbours)

# %%
def single_token_id(word):
    (i,) = tokenizer.encode(" " + word)
    return i


for word in ["Dallas", "Mary", "Texas", "red"]:
    neighbours = [tokenizer.token_str(int(i)) for i in nearest_neighbours(W_E, single_token_id(word), 6)]
    print(f"{word:>8}: {neighbours}")

# %% [markdown]
# Is it a pattern or a few lucky examples? For every city, name and state of TinyWorld, is its
# nearest neighbour (out of the whole vocabulary) of the same kind? Picking a random token would
# succeed only a few percent of the time.

# %%
groups = {"cities": world.CITIES, "names": world.NAMES, "states": list(world.STATES)}
same_kind, chance = {}, {}
for kind, members in groups.items():
    ids = {single_token_id(w) for w in members}
    hits = sum(int(nearest_neighbours(W_E, i, 1)[0]) in ids for i in ids)
    same_kind[kind], chance[kind] = hits / len(ids), (len(ids) - 1) / (tokenizer.vocab_size - 1)
    print(f"{kind:>7}: nearest neighbour of the same kind in {hits} of {len(ids)} cases "
          f"(a random token: {chance[kind]:.1%})")
print(f"vocabulary: {tokenizer.vocab_size} tokens")
assert all(same_kind[k] > 5 * chance[k] for k in ("cities", "names"))  # trained-model claim
assert max(chance.values()) < 0.05  # "a few percent"

# %% [markdown]
# A picture of it: project the embeddings of the names, cities and states, and of the ten digit
# tokens, onto the two directions along which they vary most (principal component analysis:
# centre them, and take the top two right singular vectors). Hover a point to see its token.
# Two directions out of 128 keep only part of the variance, so read it as a shadow of the real
# geometry; the next cell measures how well the groups separate even in the shadow.

# %%
kinds = {"names": world.NAMES, "cities": world.CITIES, "states": list(world.STATES)}
point_ids = {kind: [single_token_id(w) for w in members] for kind, members in kinds.items()}
point_ids["digits"] = [tokenizer.encode(str(d))[0] for d in range(10)]
ids_all = torch.tensor(sum(point_ids.values(), []))
X = W_E[ids_all].detach()
X = X - X.mean(0)  # [n d_model], centred
_, S, V = torch.linalg.svd(X, full_matrices=False)
xy = X @ V[:2].T  # [n 2]: the coordinates along the top two principal directions
kept = ((S[:2] ** 2).sum() / (S**2).sum()).item()
kind_of = sum([[kind] * len(v) for kind, v in point_ids.items()], [])
centres = torch.stack([xy[[i for i, k in enumerate(kind_of) if k == kind]].mean(0) for kind in point_ids])
nearest = (xy[:, None] - centres[None]).norm(dim=-1).argmin(-1)
separated = (nearest == torch.tensor([list(point_ids).index(k) for k in kind_of])).float().mean().item()
print(f"the two directions keep {kept:.0%} of the variance; {separated:.0%} of the points are closest to "
      f"their own group's centre in the picture")
assert separated > 0.9 and kept < 0.5  # trained-model claim: the groups separate even in 2 of 128 dimensions
fig = go.Figure()
start = 0
for kind, ids in point_ids.items():
    part = xy[start : start + len(ids)]
    start += len(ids)
    fig.add_trace(go.Scatter(x=part[:, 0].tolist(), y=part[:, 1].tolist(), mode="markers", name=kind,
                             text=[tokenizer.token_str(i) for i in ids], hovertemplate="%{text}<extra></extra>"))
fig.update_layout(title=f"Token embeddings, projected on their top two principal directions ({kept:.0%} of the variance)",
                  xaxis_title="first direction", yaxis_title="second direction", height=480)
fig

# %% [markdown]
# The model was never told what a city is. It put their embeddings together because they occur
# in the same kinds of sentences, and treating them alike makes its predictions better.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer: `reveal("name")`
# prints its code.
#
# 1. **A number line?** (`"digit_line"`). Are the embeddings of neighbouring digits (3 and 4)
#    more alike than those of distant ones (1 and 8)? Compare cosine similarities, and look for
#    the digits' order along their own top principal directions.
# 2. **Which states sit together?** (`"state_neighbours"`). For each state, is the nearest
#    *city* in embedding space one of its own cities? What does that say about what the
#    embedding of a place holds?

# %%
# Your exploration here. Then, for example: reveal("digit_line")
#
# ## Recap
#
# - Text becomes a list of ids; BPE learns its pieces by merging the most frequent adjacent pair,
#   again and again; frequent words end as single tokens.
# - Cutting numbers into uneven pieces makes arithmetic harder; the course tokenizer gives each
#   digit its own token. Spelling is invisible inside a token.
# - Embedding is a table lookup, the same as one-hot times `W_E`.
# - Tokens used alike get similar embeddings: cities near cities, names near names.
#
# ## Further reading
#
# - Sennrich, Haddow & Birch (2016), *Neural Machine Translation of Rare Words with Subword Units*:
#   BPE for language models.
# - Radford et al. (2019), *Language Models are Unsupervised Multitask Learners* (GPT-2):
#   byte-level BPE.
# - Karpathy, *minbpe*: a short, readable BPE implementation.
# - Mikolov et al. (2013), *Efficient Estimation of Word Representations in Vector Space*:
#   embeddings whose geometry reflects meaning.

# %%
progress()
