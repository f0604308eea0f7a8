# %% [markdown]
# # Chapter 03: Attention heads
#
# **Time:** about 60 minutes. **You will:**
#
# - compute one attention head by hand, from the residual stream to what it writes back;
# - split a head into its two circuits: the **QK circuit**, which decides *where* to read from,
#   and the **OV circuit**, which decides *what* to move, and write both as full matrices over
#   the vocabulary;
# - search the shipped model's heads, from their weights alone, for a head that attends to the
#   previous token and a head that copies the token it attends to, then confirm both on real
#   text;
# - measure how attention changes what the same token means in different contexts;
# - look at attention patterns with the course's `AttentionPatterns` widget and with
#   `circuitsvis`, the field's standard viewer, made to work offline.
#
# It builds on chapter 02: you should know what `W_Q`, `W_K`, `W_V` and `W_O` are.

# %%
import math

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from course import circuits, circuitsvis_offline, evalsets, evaluate, world, zoo
from course.exercises import check, hint, progress, reveal
from widgets import AttentionPatterns

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
cfg = model.cfg
tok = model.tokenizer
print(f"{cfg.n_layers} layers x {cfg.n_heads} heads, d_model {cfg.d_model}, d_head {cfg.d_head}")
layer_labels = [f"layer {l}" for l in range(cfg.n_layers)]
head_labels = [f"H{h}" for h in range(cfg.n_heads)]


def head_grids(grids, title, zmid=None):
    """One [layer head] heatmap per entry of ``grids`` ({subplot title: tensor}), side by side."""
    fig = make_subplots(rows=1, cols=len(grids), subplot_titles=list(grids), horizontal_spacing=0.12)
    for i, grid in enumerate(grids.values(), 1):
        fig.add_trace(go.Heatmap(z=grid.numpy(), x=head_labels, y=layer_labels, text=grid.numpy().round(2),
                                 texttemplate="%{text}", colorscale="RdBu" if zmid is not None else "Blues",
                                 zmid=zmid, showscale=i == len(grids)), row=1, col=i)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=320)
    return fig

# %% [markdown]
# ## 1. One head, by hand
#
# The meaning of a token in isolation is its embedding. Attention is how the model lets the
# tokens before it change that meaning: each head of each layer moves information from earlier
# positions (sources, or *keys*) to later ones (destinations, or *queries*). A head does two
# separate things:
#
# - its **QK circuit** (`W_Q`, `W_K`) scores every (query, key) pair: how much should this
#   position read from that one? The softmax of the scores is the *attention pattern*;
# - its **OV circuit** (`W_V`, `W_O`) decides what is read: each source's value vector, mapped by
#   `W_O` into the stream. The destination receives the pattern-weighted sum.
#
# Let us compute head 0 of layer 1 ourselves on an IOI sentence, starting from what the head
# reads: the stream after `ln1`.

# %%
ioi = evalsets.ioi_dataset(1, seed=3)[0]
tokens = model.to_tokens(ioi.prompt)
str_tokens = model.to_str_tokens(tokens)
print(str_tokens)
with torch.no_grad():
    _, cache = model.run_with_cache(tokens)
layer, head = 1, 0
a = model.blocks[layer].attn
x = cache[f"blocks.{layer}.ln1.hook_normalized"][0]  # [pos d_model]: what every head of the layer reads

# %% [exercise] head_attention_pattern
check(head_attention_pattern)

# %%
pattern = head_attention_pattern(x, a.W_Q[head], a.W_K[head], a.b_Q[head], a.b_K[head])
torch.testing.assert_close(pattern, cache["pattern", layer][0, head])
print("your pattern matches the model's")

# %% [exercise] head_output
check(head_output)

# %%
with torch.no_grad():
    outputs = torch.stack([head_output(cache["pattern", layer][0, h], x, a.W_V[h], a.b_V[h], a.W_O[h])
                           for h in range(cfg.n_heads)])  # [head_index pos d_model]
torch.testing.assert_close(outputs.sum(0) + a.b_O, cache["attn_out", layer][0], atol=1e-4, rtol=1e-4)
print("the heads' outputs, summed with b_O, are the layer's output")

# %% [markdown]
# So a layer's output is a sum of independent heads, and each head is a pattern (from QK) times
# values (from OV). The two circuits can be studied separately.
#
# ## 2. Looking at patterns
#
# The widget shows every head of a layer: pick a head to see it large, hover a token to see
# where it looks (its row) and what looks at it (its column). Each row sums to 1, and the upper
# triangle is empty: the future is masked.

# %%
AttentionPatterns.from_cache(cache, 0, str_tokens)

# %% [markdown]
# ## 3. The QK circuit: where does a head look?
#
# Ignore for a moment everything but the embeddings. A query token `i` has query
# `W_E[i] @ W_Q`, a key token `j` has key `W_E[j] @ W_K`, and their score is the dot product. All
# of them at once form a `[d_vocab d_vocab]` matrix, `W_E W_Q W_K^T W_E^T`: the *full QK
# circuit*. It is not symmetric: "what does `i` look for" differs from "what does `j` offer".

# %% [exercise] full_qk_circuit
check(full_qk_circuit)

# %% [markdown]
# The same idea works for positions: replace `W_E` by the positional embeddings `W_pos`, and the
# matrix says which *positions* a query position prefers. A head whose positional QK circuit
# favours the position just before the query is a *previous-token head*, a building block of
# induction heads (chapter 04).
#
# In our model each head reads the stream through a LayerNorm, and a position's stream is a
# token *plus* a position. `course.circuits` handles both: `circuits.positional_pattern` feeds
# each position, with the average token embedding added, through the head's `ln1`, `W_Q` and
# `W_K` and the causal softmax. It uses the weights only; no text is run.

# %%
def qk_prev_score(model, layer, head):
    return circuits.previous_token_qk_score(model, layer, head, n_pos=32)


qk_prev = circuits.all_heads(model, qk_prev_score)  # [layer head_index]
prev_layer, prev_head = circuits.argmax_head(qk_prev)
print(f"highest: L{prev_layer}H{prev_head}, {qk_prev[prev_layer, prev_head]:.2f}")

# %% [markdown]
# Does the head really attend to the previous token on actual input? Measure the attention on
# the previous position in the patterns of 20 sequences of random tokens (random, so no word
# carries a hint about where to look).

# %% [exercise] previous_token_attention
check(previous_token_attention)

# %%
rand_tokens = evaluate.repeated_random_tokens(model, seq_len=40, batch=20, seed=0)[:, :41]  # BOS + 40 random tokens
with torch.no_grad():
    _, rand_cache = model.run_with_cache(rand_tokens, names_filter=lambda n: n.endswith("hook_pattern"))
measured_prev = torch.stack([previous_token_attention(rand_cache["pattern", l]) for l in range(cfg.n_layers)])
uniform = sum(1 / (i + 1) for i in range(1, 41)) / 40  # a head that spreads its attention evenly
print(f"L{prev_layer}H{prev_head} puts {measured_prev[prev_layer, prev_head]:.0%} of its attention on the previous "
      f"token; a head attending evenly would put {uniform:.0%} there")
assert circuits.argmax_head(measured_prev) == (prev_layer, prev_head)  # the weights predicted the behaviour
assert measured_prev[prev_layer, prev_head] > 3 * uniform
assert (prev_layer, prev_head) == (0, 3)  # trained-model claim: L0H3 (named again in section 5)
head_grids({"predicted from the QK circuit (weights only)": qk_prev, "measured on random tokens": measured_prev},
           "Previous-token attention of every head")

# %%
pos_pattern = circuits.positional_pattern(model, prev_layer, prev_head, n_pos=12)  # [query_pos key_pos]
assert (pos_pattern[2:].argmax(-1) == torch.arange(1, 11)).all()  # every query from position 2 on looks one back
fig = go.Figure(go.Heatmap(z=pos_pattern.numpy(), x=list(range(12)), y=list(range(12)), colorscale="Blues",
                           hovertemplate="query %{y} -> key %{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title=f"L{prev_layer}H{prev_head}'s QK circuit over positions (weights only, after the softmax)",
                  xaxis_title="key position", yaxis_title="query position", yaxis_autorange="reversed",
                  height=420, width=480)
fig

# %% [markdown]
# ## 4. The OV circuit: what does a head move?
#
# Now suppose a head attends fully to token `j`. It adds `W_E[j] @ W_V @ W_O` to the stream,
# and through the unembedding that changes the logit of every token. All of them at once form
# the *full OV circuit* `W_E W_V W_O W_U`, a `[d_vocab d_vocab]` matrix with the attended
# (source) token in the rows and the affected output token in the columns. (Written for column
# vectors it is the transpose, `W_U^T W_O^T W_V^T W_E^T`.)

# %% [exercise] full_ov_circuit
check(full_ov_circuit)

# %% [markdown]
# A head that *copies* raises the logit of the very token it attends to: its OV circuit has a
# large diagonal. One measure: for what fraction of source tokens is their own logit the
# largest in their row?

# %% [exercise] ov_copying_score
check(ov_copying_score)

# %% [markdown]
# On the real model we again go through each layer's `ln1` on the way in and the final LayerNorm
# on the way out (`circuits.token_inputs` and `circuits.effective_unembed`), and we keep to the
# tokens that are common in TinyWorld text, about 1,300 of them (many BPE tokens never occur, and
# their embeddings stay random).

# %%
common = evaluate.common_tokens(tok)  # ids of the tokens seen often in training text
U = circuits.effective_unembed(model)[:, common]  # [d_model n_common]
copy_scores = torch.zeros(cfg.n_layers, cfg.n_heads)
for l in range(cfg.n_layers):
    E = circuits.token_inputs(model, l, common)  # [n_common d_model]
    b = model.blocks[l].attn
    for h in range(cfg.n_heads):
        ov = full_ov_circuit(E, b.W_V[h], b.W_O[h], U).detach()  # your function, on the real weights
        copy_scores[l, h] = ov_copying_score(ov)
assert 1200 <= len(common) <= 1400  # the prose's "about 1,300"
print(f"copying score: the fraction of {len(common)} tokens whose own logit is the top of their OV row")
copy_layer, copy_head = circuits.argmax_head(copy_scores)
print(f"highest: L{copy_layer}H{copy_head}, {copy_scores[copy_layer, copy_head]:.2f}")
torch.testing.assert_close(copy_scores, circuits.copying_scores(model, common))

# %% [markdown]
# Elhage et al. (2021) measure copying differently: a copying OV circuit has mostly *positive
# eigenvalues* (a token's direction is mapped onto itself, stretched rather than flipped). Their
# score is the sum of the eigenvalues over the sum of their absolute values: +1 for a perfect
# copier, -1 for a head that suppresses what it attends to.

# %%
eig_scores = circuits.all_heads(model, circuits.ov_eigenvalue_score, tokens=common)
print(f"L{copy_layer}H{copy_head}: copying score {copy_scores[copy_layer, copy_head]:.2f}, "
      f"eigenvalue score {eig_scores[copy_layer, copy_head]:.2f}")
chance = 1 / len(common)  # a head whose OV circuit ignored the token would pick its own logit this often
print(f"that is {copy_scores[copy_layer, copy_head] / chance:.0f} times chance")
assert (copy_layer, copy_head) == (2, 2) and 0.07 <= copy_scores[2, 2] < 0.075  # trained-model claim: L2H2, 0.07
assert 90 < copy_scores[2, 2] / chance < 95  # trained-model claim: about 90 times chance
assert 0.92 <= eig_scores[2, 2] < 0.925  # trained-model claim: the two measures agree on this head (0.92)
top3 = {divmod(int(i), cfg.n_heads) for i in copy_scores.flatten().topk(3).indices}  # the three best copiers
print("the three best copiers:", sorted(f"L{l}H{h}" for l, h in top3),
      "their scores:", sorted((round(copy_scores[l, h].item(), 3) for l, h in top3), reverse=True))
assert top3 == {(2, 1), (2, 2), (2, 3)}  # trained-model claim: all three in layer 2
assert 0.065 <= copy_scores[2, 1] < 0.07 and 80 * chance < copy_scores[2, 1] and 0.92 <= eig_scores[2, 1] < 0.925
assert 0.015 <= copy_scores[3, 2] < 0.02 and 0.75 <= eig_scores[3, 2] < 0.76  # trained-model claim: L3H2 far behind
induction = evaluate.head_scores(model)["induction"]  # [layer head], on repeated random tokens (chapter 04)
print("induction score of the layer-2 heads:", induction[2].numpy().round(2))
induction_heads = {tuple(lh) for lh in (induction > 0.9).nonzero().tolist()}  # every head of the model above 0.9
print("induction heads:", sorted(f"L{l}H{h}" for l, h in induction_heads),
      f"; the highest induction score outside them: {induction[induction <= 0.9].max():.2f}")
assert induction_heads == {(2, 1), (2, 2), (2, 3)}  # trained-model claim: three heads of layer 2, no other
assert {(2, 1), (2, 2)} < induction_heads and induction[induction <= 0.9].max() < 0.02  # the two best copiers
assert 0.95 <= induction[2, 1:].min() and induction[2].max() < 0.97  # trained-model claim: 0.95 to 0.97
print(f"L2H3: copying score {copy_scores[2, 3]:.3f} ({copy_scores[2, 3] / chance:.0f} times chance), "
      f"eigenvalue score {eig_scores[2, 3]:.2f}")
assert 0.023 <= copy_scores[2, 3] < 0.024 and 0.885 <= eig_scores[2, 3] < 0.89  # trained-model claim: L2H3 copies less
suppressor = circuits.argmax_head(-eig_scores)
print(f"most negative eigenvalue score: L{suppressor[0]}H{suppressor[1]}, {eig_scores.min():.2f}; "
      f"its copying score {copy_scores[suppressor]:.3f}, its induction score {induction[suppressor]:.2f}")
assert suppressor == (2, 0) and -0.875 <= eig_scores.min() < -0.865  # trained-model claim (open exercise 1)
assert copy_scores[2, 0] == 0 and induction[2, 0] < 0.02  # trained-model claim: L2H0 neither copies nor induces
head_grids({"copying score (top-1 of the OV row)": copy_scores, "eigenvalue score": eig_scores},
           "What each head's OV circuit does to the token it attends to", zmid=0.0)

# %% [markdown]
# The best copier is L2H2. Its top-1 score, 0.07, looks small, but it is about 90 times chance,
# and the eigenvalue score of the same head is 0.92, close to +1. The gap between the two comes
# from our approximation: a layer-2 head does not read bare token embeddings but a stream already
# rewritten by two MLPs, so "its own logit is the very top" is a strict test for an input that is
# only roughly right. L2H2 is not alone: the next copier, L2H1 (0.07, 83 times chance, eigenvalue
# score 0.92), is in layer 2 as well, and so is the third, L2H3 (0.024, 30 times chance,
# eigenvalue score 0.89). Far behind comes L3H2 (0.018, 23 times chance, eigenvalue score 0.76).
# The fourth head of layer 2, L2H0, is the opposite of a copier: its copying score is 0, and its
# eigenvalue score, -0.87, is the most negative of the model. Attending to a token, it lowers that token's logit (open exercise 1).
#
# What are the copying heads of layer 2 for? The last lines above run every head on random tokens
# repeated twice (`evaluate.head_scores`): three heads of layer 2, L2H1, L2H2 and L2H3, and no
# other head of the model, attend from the second copy to the token that followed the same token
# in the first copy (an *induction score* of 0.95 to 0.97; no other head scores above 0.02, L2H0
# included). Attending there and copying what they find, they predict the repeat. They are
# *induction heads*, the subject of chapter 04 (which studies them on a smaller model where they
# are easier to take apart). The three best copiers are exactly these three heads.
#
# Look at the full OV circuit itself, on a few names, cities and states: each row is a token the
# head attends to, each column a token whose logit it changes. A copying head lights up the
# diagonal. (Your `full_ov_circuit`, on the real weights.)

# %%
def single_tokens(words, n):
    """The first n of ``words`` that are one token with a leading space, and their ids."""
    kept = [w for w in words if len(tok.encode(" " + w)) == 1][:n]
    return kept, torch.tensor([tok.encode(" " + w)[0] for w in kept])


words, ids = zip(*[single_tokens(ws, 8) for ws in (world.NAMES, world.CITIES, list(world.STATES))])
words, ids = sum(words, []), torch.cat(ids)
b = model.blocks[copy_layer].attn
with torch.no_grad():
    ov_small = full_ov_circuit(circuits.token_inputs(model, copy_layer, ids), b.W_V[copy_head], b.W_O[copy_head],
                               circuits.effective_unembed(model)[:, ids])  # [24 24]
diagonal_top = (ov_small.argmax(-1) == torch.arange(len(ids))).float()
print(f"own logit the largest in its row: names {diagonal_top[:8].mean():.0%}, cities {diagonal_top[8:16].mean():.0%}, "
      f"states {diagonal_top[16:].mean():.0%} (among these 24 tokens)")
assert diagonal_top[:8].mean() >= diagonal_top[8:16].mean()  # trained-model claim: names are copied best
assert [int(diagonal_top[i : i + 8].sum()) for i in (0, 8, 16)] == [7, 1, 5]  # trained-model claim: 7, 1 and 5 of 8
fig = go.Figure(go.Heatmap(z=ov_small.numpy(), x=words, y=words, colorscale="RdBu", zmid=0,
                           hovertemplate="attends to %{y}, logit of %{x}: %{z:.2f}<extra></extra>"))
fig.update_layout(title=f"L{copy_layer}H{copy_head}'s full OV circuit on 8 names, 8 cities, 8 states",
                  xaxis_title="logit of", yaxis_title="attends to", yaxis_autorange="reversed", height=560, width=620)
fig

# %% [markdown]
# Seven of the eight names, five of the eight states and one of the eight cities have their own
# logit on top of their row. Over the whole vocabulary, what does the copying head write when it
# attends to a name, a city, a state?

# %%
E = circuits.token_inputs(model, copy_layer)
ov_rows = circuits.ov_circuit(model, copy_layer, copy_head, E[[tok.encode(w)[0] for w in (" Mary", " Dallas", " Texas")]])
raised = {}
own_rank = {}
for word, row in zip((" Mary", " Dallas", " Texas"), ov_rows):
    raised[word] = [tok.token_str(int(i)) for i in row.topk(5).indices]
    own_rank[word] = int((row > row[tok.encode(word)[0]]).sum())  # 0 = the token itself comes first
    print(f"attending to {word!r:>9} raises most: {raised[word]}; {word!r} itself ranks {own_rank[word]}")
assert raised[" Mary"][0] == " golf" and {" Jane", " Lisa", " Dan"} <= set(raised[" Mary"])  # trained-model claim
assert raised[" Dallas"][:3] == [" Ohio", " Texas", " California"] and own_rank[" Dallas"] == 125  # trained-model claim
assert raised[" Texas"][:2] == [" soccer", " Texas"] and own_rank[" Mary"] == 9  # trained-model claim

# %% [markdown]
# Attending to ` Mary` it raises other names, ` Jane`, ` Lisa` and ` Dan`, behind an unrelated
# ` golf`; ` Mary` itself has 9 tokens above it. Attending to ` Texas` it raises ` Texas`
# second, behind ` soccer`. Attending to ` Dallas` it raises states: ` Ohio` first, then ` Texas`,
# Dallas's own state, then ` California`; ` Dallas` itself has 125 tokens above it. So what this
# head writes for a token is related to the token (other names for a name, states for a city),
# mixed with a few unrelated words, and only sometimes the token itself on top. Among the 24
# tokens of the heatmap that looks like a clean copy of names and states; over the whole
# vocabulary it is a blur around the attended token.

# %% [markdown]
# ## 5. Context changes meaning
#
# The token ` is` means little on its own. After "The city of Dallas" the model should go on
# with ` in` (and then a state); after "The capital of Ohio", with a city, ` Columbus`. At the
# embedding the two ` is` vectors are identical (same token, same position), and MLPs cannot
# change that, since they see one position at a time: only attention can bring in the words
# before. Compare the two streams at the last position, layer by layer (`0_mid` is after layer
# 0's attention and before its MLP):

# %%
prompts = ["The city of Dallas is", "The capital of Ohio is"]
pair = torch.cat([model.to_tokens(p) for p in prompts])  # both 6 tokens long
with torch.no_grad():
    pair_logits, pair_cache = model.run_with_cache(pair)
streams = pair_cache.accumulated_resid(incl_mid=True)[:, :, -1]  # [layer batch d_model]
labels = pair_cache.accumulated_resid_labels(incl_mid=True)
cosines = F.cosine_similarity(streams[:, 0], streams[:, 1], dim=-1)
for label, c in zip(labels, cosines):
    print(f"{label:>10}: cosine similarity {c:.3f}")
for p, row in zip(prompts, pair_logits[:, -1]):
    print(f"{p!r} -> {tok.token_str(int(row.argmax()))!r}")
assert cosines[0] > 0.999  # identical at the start
assert cosines[1] < cosines[0] - 0.01  # the first attention layer already separates them
assert 0.57 <= cosines[1] < 0.58  # trained-model claim: 0.577 at 0_mid
assert [tok.token_str(int(i)) for i in pair_logits[:, -1].argmax(-1)] == [" in", " Columbus"]

# %% [markdown]
# Same token, same position, different vectors, different predictions: the difference was
# brought in by attention. Which heads? Here is where the last position of the first prompt
# looks, in each layer (the key each head attends to most, and how much):

# %%
pair_str = model.to_str_tokens(pair[0])
last_row = torch.stack([pair_cache["pattern", l][0, :, -1] for l in range(cfg.n_layers)])  # [layer head key_pos]
for l in range(cfg.n_layers):
    best = last_row[l].max(-1)
    print(f"layer {l}: " + "  ".join(f"H{h}->{pair_str[int(best.indices[h])]!r} {best.values[h]:.2f}"
                                     for h in range(cfg.n_heads)))
assert [pair_str[int(i)] for i in last_row[0, [0, 3]].argmax(-1)] == [" Dallas", " Dallas"]  # trained-model claim
assert 0.86 <= last_row[0, 3].max() < 0.87 and 0.965 <= last_row[0, 0].max() < 0.97  # L0H3 86%, L0H0 97%
assert last_row[0, [1, 2]].max() < 0.295 and last_row[1].max() < 0.46  # trained-model claim: at most 29% and 46%
assert [pair_str[int(i)] for i in last_row[2].argmax(-1)] == [" Dallas", "The", " Dallas", " city"]  # trained-model claim
assert 0.395 <= last_row[2, 0].max() < 0.4 and 0.765 <= last_row[2, 2].max() < 0.77  # L2H0 40%, L2H2 77%
assert pair_str[int(last_row[3, 1].argmax())] == " Dallas" and 0.915 <= last_row[3, 1].max() < 0.92  # L3H1: 92%
fig = go.Figure(go.Heatmap(z=last_row.flatten(0, 1).numpy(), x=[f"{i}:{t}" for i, t in enumerate(pair_str)],
                           y=[f"L{l}H{h}" for l in range(cfg.n_layers) for h in range(cfg.n_heads)],
                           colorscale="Blues", zmin=0, zmax=1))
fig.update_layout(title=f"Where the last token ({pair_str[-1]!r}) of {prompts[0]!r} looks, every head",
                  xaxis_title="key", yaxis_autorange="reversed", height=480, width=560)
fig

# %% [markdown]
# In layer 0 two heads bring the city: L0H3, the previous-token head of section 3, puts 86% of
# its attention on " Dallas", the token just before " is", and L0H0 puts 97% there. The other two
# heads of layer 0 spread theirs over the opening words (at most 29% on any one), and so do the
# heads of layer 1 (at most 46%). From the first layer on, the stream at " is" holds the city,
# which is why the two streams part at `0_mid` above (cosine similarity 0.577). Layer 2 looks at
# the city again with two heads: L2H2, the best copier of section 4, puts 77% of its attention on
# " Dallas", and L2H0, the suppressor, 40%; the other two look elsewhere (L2H1 at "The", L2H3 at
# " city"). In layer 3, L3H1 puts 92% on " Dallas".

# %% [markdown]
# ## 6. The same patterns in circuitsvis
#
# `circuitsvis` (Cooney and Nanda) is the attention viewer most interpretability notebooks use,
# so you will meet it elsewhere. Out of the box it needs the internet: printing a view loads its
# code from a CDN, and showing one in Jupyter first tries to reach a public web site. It also
# writes token strings into its script unescaped, so a token containing `</script>` could run
# code in your browser. `course.circuitsvis_offline` builds the same view from the JavaScript
# bundled inside the circuitsvis package, escapes the data, and never touches the network.

# %%
view = circuitsvis_offline.attention_heads(cache["pattern", 0][0], str_tokens,
                                           attention_head_names=[f"L0H{h}" for h in range(cfg.n_heads)])
view

# %% [markdown]
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer: `reveal("name")`
# prints its code (each runs in a second or two).
#
# 1. **A head that suppresses** (`"suppression_head"`). The most negative eigenvalue score belongs
#    to L2H0, the head of layer 2 that is no induction head (-0.87). What does its OV circuit do
#    to the token it attends to? For how many names is the attended name's own logit the *lowest*
#    in its row? Compare with the copier L2H2. (Chapter 05 meets this head again.)
# 2. **Names or places?** (`"names_or_places"`). Measure the copying score of each layer-2 head
#    separately on names, cities, states and capitals. Which head copies which kind of token?

# %%
# Your exploration here. Then, for example: reveal("suppression_head")

# %% [markdown]
# ## Recap
#
# - A head's output is its pattern times its values, mapped by `W_O`; a layer sums its heads.
# - The **QK circuit** `W_E W_Q W_K^T W_E^T` (or with `W_pos`) says where a head looks; the
#   **OV circuit** `W_E W_V W_O W_U` says what it writes when it looks there.
# - From weights alone we found a previous-token head (QK over positions), a copying head (the
#   OV circuit's diagonal) and a head that suppresses what it attends to (a negative eigenvalue
#   score), and confirmed the first on random tokens; over the whole vocabulary the copying head
#   writes tokens related to the one it attends to, the token itself only sometimes first.
# - Attention is what lets the same token mean different things in different contexts.
#
# `progress()` shows your exercises so far.
#
# ## Further reading
#
# - Elhage et al. (2021), *A Mathematical Framework for Transformer Circuits*: QK and OV circuits,
#   copying and eigenvalue scores, previous-token and induction heads.
# - Olsson et al. (2022), *In-context Learning and Induction Heads*: where chapter 04 goes next.
# - Nanda, *TransformerLens* (`FactoredMatrix`, `utils.get_act_name`) and Cooney and Nanda,
#   *CircuitsVis*: the tools this chapter mirrors.
# - Vig (2019), *A Multiscale Visualization of Attention in the Transformer Model* (BertViz).
#
# Next: chapter 04, induction heads.

# %%
progress()
