# %% [markdown]
# # Chapter 02: Build the transformer
#
# **Time:** about 60 minutes. **You will:**
#
# - follow the *residual stream*, the running sum of vectors that every layer reads from and
#   writes to, through the course's model;
# - write each part of a GPT-2-style transformer yourself: LayerNorm, the token and positional
#   embeddings, causal self-attention, the MLP with GPT-2's GELU, a whole block, and the
#   unembedding;
# - assemble your parts into a model, load the shipped `tinyworld` weights into it, and get the
#   same logits as the course's model to within 1e-4;
# - use the *logit lens* to read what the model would predict after each layer, on a question
#   that needs two facts in a row.
#
# Each exercise is checked against a reference (`check`), and every part is then compared with
# the real model's own activations, so you know your code computes what the model computes.
# `hint("name")` and `reveal("name")` help when you are stuck.

# %%
import math

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots
from torch import nn

from course import corpus, evalsets, lens, zoo
from course.exercises import check, hint, progress, reveal
from widgets import LogitLens

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
cfg = model.cfg
print(cfg)

# %% [markdown]
# ## 1. The residual stream
#
# Inside the model every position carries one vector of `d_model` numbers. The embeddings
# create it; then each block's attention layer and MLP *read* it (through a LayerNorm) and *add*
# their output to it. Nothing ever overwrites it. So the stream at the end is literally the sum
# of everything that was written into it: the embeddings plus the output of every attention
# layer and every MLP. It has the same shape, `[batch pos d_model]`, from start to finish.
#
# The course's model names every intermediate activation (as TransformerLens does), so we can
# cache them all in one forward pass and check that claim:

# %%
prompt = "The city of Dallas is in"
tokens = model.to_tokens(prompt)  # [batch pos]
with torch.no_grad():
    logits, cache = model.run_with_cache(tokens)
print(model.to_str_tokens(tokens))
for name in ["hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.attn.hook_pattern",
             "blocks.0.hook_attn_out", "blocks.0.mlp.hook_post", "blocks.3.hook_resid_post"]:
    print(f"{name:>30}  {tuple(cache[name].shape)}")

parts, labels = cache.decompose_resid()  # [component batch pos d_model]
print("components of the final stream:", labels)
torch.testing.assert_close(parts.sum(0), cache["blocks.3.hook_resid_post"], atol=1e-4, rtol=1e-4)

# %% [markdown]
# Everything a layer wants to tell a later layer has to go through this stream, and each
# component can only add to it. That is why interpretability reads the stream so often: at any
# point it holds everything the model has worked out so far.
#
# ## 2. LayerNorm
#
# Each attention layer and MLP reads the stream through a *LayerNorm*, and so does the
# unembedding at the end. LayerNorm treats each vector on its own: it subtracts the vector's
# mean, divides by its standard deviation (so the result has mean 0 and variance 1), then
# multiplies by a learned weight `w` and adds a learned bias `b`, one of each per direction. It
# keeps the scale of what a layer sees steady, which makes training stable. For interpretation
# it is mostly a nuisance: it is the one non-linear step between the stream and each layer.

# %% [exercise] layer_norm
check(layer_norm)

# %%
ln1 = model.blocks[0].ln1
resid = cache["blocks.0.hook_resid_pre"]
ours = layer_norm(resid, ln1.w, ln1.b, cfg.ln_eps)
torch.testing.assert_close(ours, ln1(resid), atol=1e-5, rtol=1e-4)
normed = (ours - ln1.b) / ln1.w  # undo the affine part: what is left has mean 0 and variance 1
print(f"mean {normed.mean(-1).abs().max():.1e}, variance {normed.var(-1, unbiased=False).mean():.4f}")

# %% [markdown]
# ## 3. Embeddings
#
# The stream starts as the sum of two lookups: the row of `W_E` for each token (what the token
# is) and the row of `W_pos` for each position (where it is). Without the positional part,
# attention would have no idea of word order.

# %% [exercise] embed
check(embed)

# %%
resid0 = embed(tokens, model.W_E, model.W_pos)
torch.testing.assert_close(resid0, cache["blocks.0.hook_resid_pre"])

# %% [markdown]
# ## 4. Causal self-attention
#
# Attention is the only part of the model that moves information *between* positions. Each head
# computes, at every position, a *query* (what am I looking for?), a *key* (what do I contain?)
# and a *value* (what would I pass on?). The score of query position `i` for key position `j` is
# the dot product `q_i . k_j`, divided by `sqrt(d_head)` so that the scores do not grow with the
# head's width (large scores would make the softmax nearly one-hot and its gradients vanish).
# A softmax over the keys turns each query's scores into weights that sum to 1: the *attention
# pattern*.
#
# A language model must not see the future: the prediction at position `i` may depend on tokens
# `0..i` only. So before the softmax, the scores of keys after the query are set to `-inf`,
# which the softmax turns into exactly 0. This is the *causal mask*.

# %% [exercise] attention_pattern
check(attention_pattern)

# %%
q, k = cache["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_k"]  # [batch pos head_index d_head]
pattern = attention_pattern(q, k)
torch.testing.assert_close(pattern, cache["blocks.0.attn.hook_pattern"])
assert torch.all(pattern.triu(1) == 0)  # no attention to the future
print("layer 0's attention patterns, query position 4 (' Dallas'), per head:")
print(pattern[0, :, 4, :5].numpy().round(2))

# %% [markdown]
# A pattern is a grid, queries by keys, so look at it as one. Here are layer 0's four heads on
# the prompt (each row a query, the position doing the looking; each column a key; only the
# lower triangle can be non-zero):

# %%
str_tokens = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(tokens))]
fig = make_subplots(rows=1, cols=cfg.n_heads, subplot_titles=[f"L0H{h}" for h in range(cfg.n_heads)],
                    shared_yaxes=True, horizontal_spacing=0.03)
for h in range(cfg.n_heads):
    fig.add_trace(go.Heatmap(z=pattern[0, h].numpy(), x=str_tokens, y=str_tokens, zmin=0, zmax=1,
                             colorscale="Blues", showscale=h == cfg.n_heads - 1,
                             hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.2f}<extra></extra>"), row=1, col=h + 1)
fig.update_yaxes(autorange="reversed", title_text="query", row=1, col=1)
fig.update_layout(title="Layer 0's attention patterns on 'The city of Dallas is in'", height=330)
fig

# %%
previous_token = [pattern[0, h].diagonal(-1).mean().item() for h in range(cfg.n_heads)]  # weight on the token before
print("mean attention to the previous token, per head:", [round(x, 2) for x in previous_token])
assert 0.845 <= previous_token[3] < 0.85  # trained-model claim: L0H3 looks one back (85%)
assert 0.45 <= previous_token[0] < 0.46 and max(previous_token[1:3]) < 0.31  # trained-model claim: L0H0 45%, the others less
assert 0.935 <= pattern[0, 3, 4, 3] < 0.945  # trained-model claim: at ' Dallas', 94% on ' of'

# %% [markdown]
# L0H3 is a *previous-token head*: on average 85% of each position's attention goes to the token
# just before it (at ` Dallas`, 94% goes to ` of`), so after this layer every position carries
# some of its predecessor. The other three spread their attention more widely: L0H0 gives the
# previous token 45% on average, the other two 30% or less. Chapter 03 finds such heads from the weights alone.

# %% [markdown]
# Now the whole layer. Each head has its own `W_Q`, `W_K`, `W_V` (`[d_model d_head]`) and `W_O`
# (`[d_head d_model]`). A head's output at a position, `z`, is the pattern-weighted mix of the
# values; `W_O` maps it back into the stream. The heads run in parallel and their outputs are
# simply added, plus one shared bias `b_O`.

# %% [exercise] attention
check(attention)

# %%
block0 = model.blocks[0]
a = block0.attn
attn_out = attention(ln1(resid0), a.W_Q, a.W_K, a.W_V, a.W_O, a.b_Q, a.b_K, a.b_V, a.b_O)
torch.testing.assert_close(attn_out, cache["blocks.0.hook_attn_out"], atol=1e-4, rtol=1e-4)

# %% [markdown]
# ## 5. The MLP
#
# The MLP works on each position separately: a linear map up to `d_mlp = 4 * d_model` hidden
# units, a non-linearity, and a linear map back down. GPT-2 uses the GELU non-linearity in a
# tanh approximation (called `gelu_new` in Hugging Face and TransformerLens); the exact GELU
# differs by up to about 0.001, enough to show in a comparison to 1e-4. (Geva et al., 2021, read
# each hidden unit as a key-value memory: its input weights a key, its output weights a value.
# The course's chapter on that, 06, is not written yet.)

# %% [exercise] gelu_new
check(gelu_new)

# %%
x = torch.linspace(-4, 4, 801)
gap = (gelu_new(x) - F.gelu(x)).abs().max().item()
print(f"largest gap between the tanh approximation and the exact GELU on [-4, 4]: {gap:.1e}")
assert 1e-4 < gap < 1e-2

# %% [exercise] mlp
check(mlp)

# %%
m = block0.mlp
resid_mid = cache["blocks.0.hook_resid_mid"]
mlp_out = mlp(block0.ln2(resid_mid), m.W_in, m.b_in, m.W_out, m.b_out)
torch.testing.assert_close(mlp_out, cache["blocks.0.hook_mlp_out"], atol=1e-4, rtol=1e-4)

# %% [markdown]
# ## 6. A block
#
# A block puts the two together, *pre-LayerNorm* as in GPT-2: each sublayer reads a normalised
# copy of the stream and adds its output to the stream itself.

# %% [exercise] transformer_block
check(transformer_block)

# %% [markdown]
# ## 7. The unembedding
#
# After the last block, a final LayerNorm and one linear map turn each position's vector into a
# score for every token of the vocabulary: the logits of the next token. The softmax of the last
# position's logits is the distribution that generation samples from (chapter 00).

# %% [exercise] unembed
check(unembed)

# %% [markdown]
# ## 8. Your transformer
#
# Time to put the parts together. The modules below only hold parameters and call *your*
# functions. Their parameters have the same names and shapes as the course's model
# (`blocks.0.attn.W_Q`, `ln_final.w`, ...), so the shipped weights load into them with
# `load_state_dict`.

# %%
class MyLayerNorm(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.ones(cfg.d_model)), nn.Parameter(torch.zeros(cfg.d_model))
        self.eps = cfg.ln_eps

    def forward(self, x):
        return layer_norm(x, self.w, self.b, self.eps)


class MyAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        for name, shape in [("W_Q", (h, d, e)), ("W_K", (h, d, e)), ("W_V", (h, d, e)), ("W_O", (h, e, d)),
                            ("b_Q", (h, e)), ("b_K", (h, e)), ("b_V", (h, e)), ("b_O", (d,))]:
            setattr(self, name, nn.Parameter(torch.zeros(shape)))

    def forward(self, x):
        return attention(x, self.W_Q, self.W_K, self.W_V, self.W_O, self.b_Q, self.b_K, self.b_V, self.b_O)


class MyMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.W_in, self.b_in = nn.Parameter(torch.zeros(cfg.d_model, cfg.d_mlp)), nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out, self.b_out = nn.Parameter(torch.zeros(cfg.d_mlp, cfg.d_model)), nn.Parameter(torch.zeros(cfg.d_model))

    def forward(self, x):
        return mlp(x, self.W_in, self.b_in, self.W_out, self.b_out)


class MyBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1, self.attn, self.ln2, self.mlp = MyLayerNorm(cfg), MyAttention(cfg), MyLayerNorm(cfg), MyMLP(cfg)

    def forward(self, resid):
        return transformer_block(resid, self.ln1, self.attn, self.ln2, self.mlp)


class MyTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed = nn.Module()
        self.embed.W_E = nn.Parameter(torch.zeros(cfg.d_vocab, cfg.d_model))
        self.pos_embed = nn.Module()
        self.pos_embed.W_pos = nn.Parameter(torch.zeros(cfg.n_ctx, cfg.d_model))
        self.blocks = nn.ModuleList(MyBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_final = MyLayerNorm(cfg)
        self.unembed = nn.Module()
        self.unembed.W_U = nn.Parameter(torch.zeros(cfg.d_model, cfg.d_vocab))
        self.unembed.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))

    def forward(self, tokens):  # [batch pos] -> [batch pos d_vocab]
        resid = embed(tokens, self.embed.W_E, self.pos_embed.W_pos)
        for block in self.blocks:
            resid = block(resid)
        return unembed(self.ln_final(resid), self.unembed.W_U, self.unembed.b_U)


mine = MyTransformer(cfg)
mine.load_state_dict(model.state_dict())  # strict: every name and shape must match
mine.eval()

# %% [markdown]
# Same weights, two implementations. Do they agree on a batch of real TinyWorld text?

# %%
stream = [i for doc in corpus.documents(20, seed=2) for i in [model.tokenizer.bos_id] + model.tokenizer.encode(doc)]
text_tokens = torch.tensor(stream[: 4 * 64]).view(4, 64)  # [batch pos]: four chunks of TinyWorld text
with torch.no_grad():
    theirs = model(text_tokens)
    ours = mine(text_tokens)
max_gap = (ours - theirs).abs().max().item()
print(f"largest difference between your logits and the course model's: {max_gap:.1e}")
torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
same_top = (ours.argmax(-1) == theirs.argmax(-1)).float().mean().item()
print(f"same top-1 prediction at {same_top:.0%} of {text_tokens.numel()} positions")
assert same_top == 1.0

# %%
with torch.no_grad():
    next_id = mine(model.to_tokens("The capital of Texas is"))[0, -1].argmax().item()
print(repr(model.tokenizer.token_str(next_id)))
assert model.tokenizer.token_str(next_id) == " Austin"

# %% [markdown]
# That is a whole GPT-2-style language model in a few dozen lines of your own code. Everything
# else in the course, from induction heads to attribution graphs, takes this model apart.
#
# ## 9. The logit lens
#
# The unembedding expects the *final* stream, but nothing stops us from applying it (with the
# final LayerNorm) to the stream after any earlier block. That is the *logit lens*
# (nostalgebraist, 2020): it shows what the model would predict if it stopped at that layer. It
# works because every block only adds to the stream, so the stream keeps a shared "language"
# that the unembedding can read from the start.
#
# Let us look at a *two-hop* question: the model has to find the state of a city, then that
# state's capital. TinyWorld's model learned the city-state and state-capital facts separately,
# and composite questions for two cities of every state; the third city of each state (here
# Houston) never appears in a composite question, nor in any sentence with its state's capital,
# so the model has to chain the two facts.

# %%
item = next(it for it in evalsets.two_hop_dataset(held_out_cities=True, phrasings="train") if it.state == "Texas")
print(item)
lens_tokens = model.to_tokens(item.prompt)
with torch.no_grad():
    _, lens_cache = model.run_with_cache(lens_tokens)
stack = lens_cache.accumulated_resid()[:, 0]  # [layer pos d_model]: the stream before each block, and at the end
layer_names = lens_cache.accumulated_resid_labels()
lens_logits = unembed(layer_norm(stack, model.ln_final.w, model.ln_final.b, cfg.ln_eps),
                      model.W_U, model.b_U).detach()  # [layer pos d_vocab], with your functions

last = lens_logits[:, -1]  # [layer d_vocab]: predictions after the last token, ' is'
capital_id = model.tokenizer.encode(item.answer)[0]
state_id = model.tokenizer.encode(" " + item.state)[0]
rank_capital = (last > last[:, [capital_id]]).sum(-1)  # 0 = the top prediction
rank_state = (last > last[:, [state_id]]).sum(-1)
for name, row, rc, rs in zip(layer_names, last, rank_capital, rank_state):
    top = model.tokenizer.token_str(int(row.argmax()))
    print(f"{name:>10}: top {top!r:>12}   rank of {item.answer!r}: {int(rc):>4}   rank of {' ' + item.state!r}: {int(rs):>4}")

# %% [markdown]
# Read the table from the top (a rank is the number of tokens scored above: 0 is the top).
# `0_pre` is the stream before any block: the embedding of ` is` plus its position, which knows
# nothing about Houston. Its top guesses, `es` and ` its`, have nothing to do with the question;
# ` Austin` ranks 79. After the first block, whose attention has read the city, the top two
# predictions are ` in` and ` part`, as if the sentence were `Houston is in ...` or `Houston is
# part of ...`, the one-fact sentences that name a city's state; ` Austin` comes third (rank 2).
# After the second block ` Austin` is second, a hair behind ` in`. The third block puts ` Austin`
# on top, and it stays there to the end. Within that block it is the attention that does it:
# after block 2's attention alone (the stream `blocks.2.hook_resid_mid`, checked below) ` Austin`
# already leads, and the MLP only raises it further. ` Texas`, the intermediate hop, never comes
# near the top: its best rank is 17, after block 0, and it ranks 58 at the end. So the lens does
# not show the model "thinking Texas" first and Austin next: it shows the capital rising block by
# block, past a continuation that fits a simpler sentence. (The state is there to find in other
# ways, as the model card's measurements below say: a linear probe reads it from every held-out
# city's own embedding, and, at the last position, from 3% of held-out questions before block 0
# but 92% after it. Swapping one state's mean stream for another's at the last
# position, after the last block, turns the answer into the other state's capital for every
# held-out city in this phrasing; that late, though, the state and its capital are hard to tell
# apart. Probes and interventions, from chapter 05 on, go where the lens cannot.) The last row is
# exactly the model's output.

# %%
with torch.no_grad():
    final_logits = model(lens_tokens)[0]
torch.testing.assert_close(lens_logits[-1], final_logits, atol=1e-4, rtol=1e-4)  # the last row is the model's output
first_top = int((rank_capital == 0).float().argmax())
print(f"{item.answer!r} is first the top prediction at {layer_names[first_top]}")
mid = unembed(layer_norm(lens_cache["blocks.2.hook_resid_mid"][0, -1], model.ln_final.w, model.ln_final.b, cfg.ln_eps),
              model.W_U, model.b_U).detach()  # [d_vocab]: the lens after block 2's attention, before its MLP
rank_mid = int((mid > mid[capital_id]).sum())
print(f"rank of {item.answer!r} after block 2's attention, before its MLP: {rank_mid}")
assert item.city in evalsets.HELD_OUT_CITIES  # never in a composite question in training
two_hop = model.card["metrics"]["two_hop_state"]
probe = two_hop["probe_accuracy_by_site"]
print(f"model card: probe for the state at the city's embedding {probe['blocks.0.hook_resid_pre@city']:.0%}, "
      f"at the last position before block 0 {probe['blocks.0.hook_resid_pre@last']:.0%}, "
      f"after it {probe['blocks.1.hook_resid_pre@last']:.0%}; "
      f"a state swap at {two_hop['site']} moves the answer in "
      f"{two_hop['swap_by_phrasing'][item.phrasing]:.0%} of held-out cities")
assert probe["blocks.0.hook_resid_pre@city"] == 1.0 and 0.915 <= probe["blocks.1.hook_resid_pre@last"] < 0.925
assert 0.025 <= probe["blocks.0.hook_resid_pre@last"] < 0.035 and two_hop["swap_by_phrasing"][item.phrasing] == 1.0
assert two_hop["site"] == f"blocks.{cfg.n_layers - 1}.hook_resid_post@last"  # the swap works best after the last block
assert rank_capital.tolist() == [79, 2, 1, 0, 0] and layer_names[first_top] == "3_pre"  # trained-model claim
top_two = [[model.tokenizer.token_str(int(i)) for i in row.topk(2).indices] for row in last[1:3]]
assert top_two == [[" in", " part"], [" in", " Austin"]]  # trained-model claim: after blocks 0 and 1
assert rank_mid == 0  # trained-model claim: block 2's attention already puts the capital on top
assert rank_state.tolist() == [467, 17, 65, 81, 58]  # trained-model claim: Texas never near the top

# %% [markdown]
# "Whose attention has read the city": which heads does the last position, ` is`, look at, and
# where? One row per head of every layer, one column per key position:

# %%
lens_str = [f"{i}:{t}" for i, t in enumerate(model.to_str_tokens(lens_tokens))]
last_query = torch.stack([lens_cache["pattern", l][0, :, -1] for l in range(cfg.n_layers)])  # [layer head key_pos]
head_labels = [f"L{l}H{h}" for l in range(cfg.n_layers) for h in range(cfg.n_heads)]
fig = go.Figure(go.Heatmap(z=last_query.flatten(0, 1).numpy(), x=lens_str, y=head_labels, zmin=0, zmax=1,
                           colorscale="Blues", text=last_query.flatten(0, 1).numpy().round(2),
                           texttemplate="%{text}", hovertemplate="%{y} -> %{x}: %{z:.2f}<extra></extra>"))
fig.update_yaxes(autorange="reversed")
fig.update_layout(title=f"Where the last token ({lens_str[-1]!r}) looks, every head", height=480,
                  xaxis_title="key position")
fig

# %%
city_pos = model.to_str_tokens(lens_tokens).index(" " + item.city)
on_city = last_query[:, :, city_pos]  # [layer head]
print("attention from ' is' to the city, per layer and head:\n", on_city.numpy().round(2))
assert int(on_city.flatten().argmax()) == 0 and 0.92 <= on_city[0, 0] < 0.925  # trained-model claim: L0H0, 92%
assert 0.905 <= on_city[0, 3] < 0.91 and on_city[0, 1:3].max() < 0.11  # trained-model claim: L0H3, 91%
assert on_city[1].max() < 0.32  # trained-model claim: layer 1 at most 32%
assert 0.255 <= on_city[2, [0, 2]].min() <= on_city[2, [0, 2]].max() < 0.265 and on_city[2, [1, 3]].max() < 0.015  # L2H0, L2H2
assert 0.855 <= on_city[3, 1] < 0.86 and 0.52 <= on_city[3, 2] < 0.525 and on_city[3, [0, 3]].max() < 0.07  # L3H1, L3H2

# %% [markdown]
# In layer 0 two heads look from ` is` at ` Houston`, each with about 90% of its attention: L0H0
# (92%), which section 4 found spreading its attention over the opening words and which here
# finds the city, and L0H3, the previous-token head from section 4 (91%), since the city is the
# token just before ` is`. The other two heads of layer 0 give the city about 10% or less, and no
# head of layer 1 more than 32%. Later layers look again: in layer 2, L2H0 and L2H2 (26% each);
# in layer 3, L3H1 (86%) and L3H2 (52%). So the city's identity reaches the last position in
# block 0 and again in blocks 2 and 3, where the capital rises to the top. (Looking is not using:
# the open exercise `city_reading_heads` blocks the heads' view of the city and finds that the
# layer-0 route alone suffices, L0H0 most of all, that the later heads alone answer 26% of the
# held-out cities, and that blocking both routes leaves almost none answered.)
#
# ### The lens at every position
#
# The table read one column. A heatmap shows all of them: one row per layer, one column per
# position; the text in each cell is the lens's top prediction there, and the colour is the
# probability it gives the token that *actually comes next* (in the last column, the answer):

# %%
lens_probs = lens_logits.softmax(-1)  # [layer pos d_vocab]
next_ids = lens_tokens[0, 1:].tolist() + [capital_id]  # what comes next at each position; the answer last
p_next = lens_probs[:, torch.arange(len(next_ids)), next_ids]  # [layer pos]
top_text = [[model.tokenizer.token_str(int(i)) for i in row] for row in lens_probs.argmax(-1)]
next_text = [[model.tokenizer.token_str(i) for i in next_ids]] * len(layer_names)
fig = go.Figure(go.Heatmap(z=p_next.numpy(), x=lens_str, y=layer_names, zmin=0, zmax=1, colorscale="Viridis",
                           text=top_text, texttemplate="%{text}", customdata=next_text,
                           hovertemplate="%{y}, after %{x}<br>top: %{text}<br>"
                                         "p(%{customdata}) = %{z:.2f}<extra></extra>",
                           colorbar=dict(title="p(next)")))
fig.update_yaxes(autorange="reversed")
fig.update_layout(title="Logit lens: top prediction (text) and the probability of the true next token (colour)",
                  height=360, xaxis_title="position (the prediction is for the token after it)")
fig

# %%
p_answer = p_next[:, -1]
print(f"p({item.answer!r}) at the last position, per layer:", [round(x, 3) for x in p_answer.tolist()])
best_first = int(p_next[0].argmax())
print(f"largest p(next) in the first row (embeddings only): {p_next[0].max():.3f}, "
      f"for {model.tokenizer.token_str(next_ids[best_first])!r} after {lens_str[best_first]!r}")
of_pos = model.to_str_tokens(lens_tokens).index(" capital")  # ' capital' -> ' of'
print(f"p(' of' after ' capital'): {[round(x, 2) for x in p_next[:, of_pos].tolist()]}")
assert 0.002 <= p_next[0].max() < 0.003 and lens_str[best_first] == "3: of"  # trained-model claim: a quarter of 1%
assert [round(x, 2) for x in p_next[1:4, of_pos].tolist()] == [0.95, 0.97, 0.98]  # trained-model claim: ' of' early
assert [round(x, 3) for x in p_answer.tolist()] == [0.001, 0.064, 0.26, 0.721, 0.974]  # trained-model claim: late

# %% [markdown]
# The answer comes late: `p(' Austin')` is 0.064 after the first block, 0.260 after the second,
# 0.721 after the third, and 0.974 at the end. A continuation that needs only the token before it
# comes early: ` of` after ` capital` has 0.95 already after the first block, then 0.97 and 0.98.
# The first row, the bare embeddings, could hold such bigram statistics (which token tends to
# follow which), but this model keeps almost none there: the largest probability it gives a true
# next token is a quarter of one percent (` the` after ` of`). Even ` capital of` waits for
# block 0.
#
# ### Why a held-out city
#
# Houston was chosen because its composite question never appeared in training: the model must
# chain two facts. For the cities whose composites *were* trained (Dallas is one), the model may
# simply have memorised "the capital of the state containing Dallas is Austin". Is Houston
# typical, and does the lens tell the two kinds apart? Here is the mean probability of the capital
# at the last position, per layer, over every city of each kind: in the chapter's phrasing, and in
# a second phrasing from training, `{c} is in a state whose capital is`:

# %%
def p_capital_by_layer(held_out, phrasing):
    items = [it for it in evalsets.two_hop_dataset(held_out_cities=held_out, phrasings="train")
             if it.phrasing == phrasing]
    probs, ranks = [], []
    for it in items:
        with torch.no_grad():
            _, c = model.run_with_cache(model.to_tokens(it.prompt))
        row = lens.logit_lens(model, c)[:, 0, -1]  # [layer d_vocab]
        answer = model.tokenizer.encode(it.answer)[0]
        probs.append(row.softmax(-1)[:, answer])
        ranks.append((row > row[:, [answer]]).sum(-1))
    return torch.stack(probs), torch.stack(ranks)  # [city layer] each


second_phrasing = "{c} is in a state whose capital is"
runs = {(phrasing, kind): p_capital_by_layer(kind == "held-out", phrasing)
        for phrasing in [item.phrasing, second_phrasing] for kind in ["held-out", "trained"]}
fig = make_subplots(rows=1, cols=2, subplot_titles=[f"'{item.phrasing}'", f"'{second_phrasing}'"],
                    shared_yaxes=True)
for col, phrasing in enumerate([item.phrasing, second_phrasing], start=1):
    for kind, colour in [("held-out", "#1f77b4"), ("trained", "#ff7f0e")]:
        p = runs[phrasing, kind][0]
        fig.add_trace(go.Scatter(x=layer_names, y=p.mean(0).numpy(), line_color=colour, showlegend=col == 1,
                                 name=f"{kind} cities ({len(p)})"), row=1, col=col)
fig.update_yaxes(title_text="mean p(capital), last position", range=[0, 1], row=1, col=1)
fig.update_layout(title="The capital in the lens: held-out cities against trained composites", height=360)
fig

# %%
for (phrasing, kind), (p, r) in runs.items():
    print(f"{phrasing!r:>45} {kind:>8}: mean p {[round(x, 2) for x in p.mean(0).tolist()]}, "
          f"capital on top {[round(x, 2) for x in (r == 0).float().mean(0).tolist()]}")
(p_held, r_held), (p_trained, r_trained) = runs[item.phrasing, "held-out"], runs[item.phrasing, "trained"]
mean_held, mean_trained = p_held.mean(0), p_trained.mean(0)  # [layer]
top_held, top_trained = (r_held == 0).float().mean(0), (r_trained == 0).float().mean(0)  # [layer]: capital on top
assert (r_held[:, -1] == 0).all() and (r_trained[:, -1] == 0).all()  # trained-model claim: every city right
assert 0.975 <= mean_held[-1] < 0.985 and mean_trained[-1] >= 0.995  # trained-model claim: 0.98 and 1.00
for m in (mean_held, mean_trained):  # trained-model claim: the capital's probability climbs block by block
    assert m[0] < m[1] < m[2] < m[3] < m[4]
assert (mean_trained[1:-1] > mean_held[1:-1]).all()  # trained-model claim: the trained ones are ahead throughout
assert 0.855 <= mean_trained[3] < 0.865 and 0.445 <= mean_held[3] < 0.455  # trained-model claim: 0.86 against 0.45
assert (len(r_held), len(r_trained)) == (31, 62)  # per state, one held-out city and two with trained composites
assert (r_held == 0).sum(0).tolist() == [0, 1, 12, 22, 31]  # trained-model claim: capital on top, held-out cities
assert (r_trained == 0).sum(0).tolist() == [0, 32, 56, 62, 62]  # trained-model claim: ... and trained composites
assert int(rank_capital[3]) == 0  # Houston is one of the 22
(p2_held, r2_held), (p2_trained, r2_trained) = runs[second_phrasing, "held-out"], runs[second_phrasing, "trained"]
assert int((r2_trained[:, -1] != 0).sum()) == 0 and 0.985 <= p2_trained.mean(0)[-1] < 0.995  # every one, 0.99
assert 0.25 <= p2_trained.mean(0)[1] < 0.255 and 0.01 <= p2_held.mean(0)[1] < 0.015  # after block 0: 0.25, 0.01
held_right2 = (r2_held[:, -1] == 0).float().mean()
assert int((r2_held[:, -1] == 0).sum()) == 24 and 0.23 <= p2_held.mean(0)[-1] < 0.235  # trained-model claim: 24 of 31, 0.23

# %%
card_metrics = model.card["metrics"]
held_all, trained_all = card_metrics["two_hop_held_out_accuracy"], card_metrics["two_hop_trained_accuracy"]
print(f"model card, all {len(card_metrics['two_hop_held_out_by_phrasing'])} phrasings: "
      f"held-out cities {held_all:.1%} right, trained cities {trained_all:.1%}")
assert len(card_metrics["two_hop_held_out_by_phrasing"]) == 12
assert 0.9325 <= held_all < 0.9335 and 0.997 <= trained_all < 0.9975  # trained-model claim: 93.3% and 99.7%
assert abs(card_metrics["two_hop_held_out_by_phrasing"][second_phrasing] - held_right2) < 1e-6  # the card agrees

# %% [markdown]
# In the chapter's phrasing both kinds end right: the capital's probability climbs block by block,
# and every city of both kinds ends on top (0.98 on average for the held-out cities, 1.00 for the
# trained ones). But the lens tells them apart by *when* the capital arrives. For the trained
# composites it is already the top prediction after block 0 for 32 of the 62 cities, after block
# 1 for 56, and after block 2 for all of them. For the held-out cities it is on top after block 0
# for one, after block 1 for 12, and after block 2 for 22; the other 9 wait for the last block.
# The trained ones are ahead at every layer, most after block 2 (0.86 against 0.45). Houston is a
# common case, not a lucky one: its capital comes to the top after block 2, as for 22 of the 31
# held-out cities. One prompt's lens is an anecdote; look at many before you trust a picture.
#
# In the second phrasing the two kinds come apart at the end too. The trained composites end right
# for every city (0.99 on average) and are ahead from block 0 on (0.25 against 0.01); the
# held-out cities end right for only 24 of 31 (0.23 on average). Here the model recalls the
# composites it saw in training better than it chains two facts for a city it never saw in one.
# Over all twelve phrasings of the model card (eight from training, four it never saw), it
# answers held-out cities 93.3% of the time and trained ones 99.7%. So the model does chain the
# two facts for new cities, in most phrasings, but later in the stack than it recalls a trained
# composite, and less reliably where chaining is weak. A demonstration on a trained composite such
# as Dallas would overstate what the model can compose: only a held-out city shows the chain.

# %% [markdown]
# The `LogitLens` widget shows this reading at every position at once: each row is a layer, each
# column a position, each cell the top prediction for the token that comes *after* that
# position, coloured by its probability. Hover a cell for details; cells whose prediction is the
# token that actually comes next are marked. It reads the rows with `course.lens.logit_lens`,
# which computes exactly what your functions did: each stream through the real final LayerNorm
# (its own scale, and the bias). Beware the shortcut of normalising every layer with the final
# stream's scale and leaving the bias out: that *linear* map is what direct logit attribution
# needs (chapter 05), and as a lens it would not even reproduce the model's own output.

# %%
torch.testing.assert_close(lens.logit_lens(model, lens_cache)[:, 0], lens_logits, atol=1e-4, rtol=1e-4)
LogitLens.from_model(model, lens_tokens)

# %% [markdown]
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer: `reveal("name")`
# prints its code (each runs in a few seconds).
#
# 1. **Other phrasings** (`"lens_held_out_phrasings"`). Ask the held-out cities' question in the
#    phrasings the model never saw (`evalsets.two_hop_dataset(held_out_cities=True,
#    phrasings="held_out")`). Does the capital still come to the top as early as in the chapter's
#    phrasing?
# 2. **Which head reads the city?** (`"city_reading_heads"`). L0H0 and L0H3 in layer 0, and two
#    heads in each of layers 2 and 3, look at the city from ` is`. Block their view of the city (a
#    hook on each layer's `hook_pattern` that zeroes that entry), one route at a time and both
#    together, and count how often the model still names the capital.
# 3. **The lens at the city** (`"lens_at_the_city"`). The model card's probe reads the state
#    perfectly from the city's own embedding. Does the lens show the state at the city's
#    position, at any layer?

# %%
# Your exploration here. Then, for example: reveal("city_reading_heads")

# %% [markdown]
# ## Recap
#
# - The residual stream is a sum: embeddings plus every attention layer's and MLP's output. Each
#   layer reads it through a LayerNorm and adds to it.
# - LayerNorm: centre, divide by `sqrt(variance + eps)` (biased variance), then `* w + b`.
# - Attention: scores `q . k / sqrt(d_head)`, future keys masked to `-inf` before the softmax,
#   values mixed by the pattern, heads summed through `W_O` plus `b_O`.
# - MLP: `gelu_new(x W_in + b_in) W_out + b_out`, position by position.
# - Pre-LN block: `resid += attn(ln1(resid))`, then `resid += mlp(ln2(resid))`.
# - Unembedding: final LayerNorm, then `x W_U + b_U`. Applied to earlier layers' streams, it is
#   the logit lens. On a held-out two-hop question it shows the capital coming to the top only in
#   block 2 (its MLP), after two blocks whose top guess is ` in`; the intermediate state never
#   comes near the top. Trained composites reach the top earlier, and stay right in phrasings
#   where the model chains poorly: test composition on held-out cities.
#
# `progress()` shows your exercises so far.
#
# ## Further reading
#
# - Vaswani et al. (2017), *Attention Is All You Need*: the original transformer (post-LN).
# - Radford et al. (2019), *Language Models are Unsupervised Multitask Learners*: GPT-2, whose
#   pre-LN layout we built.
# - Elhage et al. (2021), *A Mathematical Framework for Transformer Circuits*: the residual stream
#   as a communication channel.
# - nostalgebraist (2020), *interpreting GPT: the logit lens*; Belrose et al. (2023), *Eliciting
#   Latent Predictions from Transformers with the Tuned Lens*.
# - Karpathy, *nanoGPT* and Nanda, *TransformerLens*: two readable implementations to compare with
#   `course/model.py`.
#
# Next: chapter 03 opens up the attention heads.

# %%
progress()
