# %% [markdown]
# # Chapter 00: How an LLM writes text
#
# **Time:** about 45 minutes. **You will:**
#
# - see what a language model actually outputs: one probability distribution over its whole
#   vocabulary for every position of the input;
# - write the four classic ways to pick the next token from that distribution (greedy,
#   temperature, top-k and top-p) and the loop that turns one prediction into a whole text;
# - see the two phases of generation, *prefill* and *decode*, and the shapes computed in each;
# - write one decode step of an attention head with a KV cache, and measure how much the cache
#   speeds generation up on a real model;
# - write the training loss, which uses every position's prediction at once.
#
# **How exercises work.** An exercise cell holds a function with a docstring and no body. Write
# the body, run the cell: `check(your_function)` compares it with a reference solution on fixed,
# edge-case and random inputs and tells you what differs. `hint("name")` gives one hint at a
# time, `reveal("name")` shows the reference, and `progress()` shows where you are.
#
# Everything runs on `tinyworld`, the course's own small model (4 layers, 128 wide), trained on
# *TinyWorld* (version 4, `course.corpus_v4`), a synthetic corpus of short stories, geography facts,
# facts about people, questions and sums.

# %%
import math
import time

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from IPython.display import display
from plotly.subplots import make_subplots

from course import corpus_v4, zoo
from course.exercises import check, hint, progress, reveal
from course.kv_cache import KVCache
from course.sampling import sample_next_token
from widgets import TokenView

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
tokenizer = model.tokenizer
print(model.cfg)
assert (model.cfg.n_layers, model.cfg.d_model) == (4, 128)

# %% [markdown]
# ## 1. One distribution per position
#
# A language model reads a sequence of *tokens* (integer ids; chapter 01 is about where they come
# from) and returns, for every position, a score for each token of its vocabulary: the *logits*.
# A softmax turns each position's scores into a probability distribution over what comes next.
# The model does this for every position at once, in one forward pass.

# %%
prompt = "The capital of Texas is"
tokens = model.to_tokens(prompt)  # [batch pos]; a beginning-of-text token is put first
print(model.to_str_tokens(tokens))
with torch.no_grad():
    logits = model(tokens)  # [batch pos d_vocab]
probs = logits.softmax(dim=-1)
print("tokens:", tuple(tokens.shape), " logits:", tuple(logits.shape))
assert logits.shape == (1, tokens.shape[1], model.cfg.d_vocab)
assert torch.allclose(probs.sum(-1), torch.ones(1, tokens.shape[1]))  # each position: a distribution

# %% [markdown]
# Hover over a token below to see the five tokens the model thinks most likely to come *after*
# it. The colour is the probability of the model's favourite. Only the last position's guess
# matters for writing the next word; the others are what the model would have said had the
# text stopped earlier (and, as section 6 shows, they are what training uses).

# %%
def top_predictions(probs_at_pos, k=5):
    values, ids = probs_at_pos.topk(k)
    return [(tokenizer.token_str(int(i)), float(p)) for p, i in zip(values, ids)]


str_tokens = model.to_str_tokens(tokens)
TokenView(str_tokens, probs[0].max(-1).values, top_k=[top_predictions(p) for p in probs[0]],
          value_label="top probability")

# %%
last = probs[0, -1]
for token, p in top_predictions(last):
    print(f"{token!r:>14}  {p:.3f}")
assert tokenizer.token_str(int(last.argmax())) == " Austin"  # trained-model claim: it knows this fact
assert last.max() > 0.99  # trained-model claim: section 3 quotes 0.994

# %% [markdown]
# ## 2. Choosing a token: greedy decoding
#
# Now we must pick *one* token. The simplest rule, *greedy decoding*, takes the most likely one
# every time. It is deterministic and often good for short factual answers, but it tends to loop
# and repeat itself in longer texts. The logits below have shape `[batch d_vocab]`: one row per
# sequence being generated.

# %% [exercise] greedy
check(greedy)

# %%
next_token = greedy(logits[:, -1])
print(repr(model.to_string(next_token)))

# %% [markdown]
# ## 3. Sampling: temperature, top-k and top-p
#
# To get varied text we *sample* from the distribution instead. Three knobs shape it first:
#
# - **temperature** `T` divides the logits before the softmax: `T < 1` sharpens the distribution
#   towards the favourite, `T > 1` flattens it towards uniform (and `T -> 0` becomes greedy);
# - **top-k** keeps only the `k` most likely tokens;
# - **top-p** (nucleus sampling) keeps the smallest set of most likely tokens whose probability
#   adds up to at least `p`, so it keeps few tokens when the model is sure and many when it is not.

# %% [exercise] apply_temperature
check(apply_temperature)

# %% [markdown]
# After "The capital of Texas is" the model is so sure (` Austin` at 0.994) that no knob changes
# much. Sampling matters where the model is unsure, as in a story: what place did Mary go to?

# %%
def entropy(logits_row):
    p = logits_row.softmax(-1)
    return float(-(p * p.clamp_min(1e-12).log()).sum())


story_tokens = model.to_tokens("Mary went to the")
with torch.no_grad():
    story_logits = model(story_tokens)[0, -1]  # [d_vocab]
entropies = {T: entropy(apply_temperature(story_logits, T)) for T in (0.5, 1.0, 2.0)}
for T, h in entropies.items():
    print(f"T = {T}: entropy {h:.2f} nats")
assert entropies[0.5] < entropies[1.0] < entropies[2.0]  # hotter is flatter

# %% [exercise] top_k_filter
check(top_k_filter)

# %% [exercise] top_p_filter
check(top_p_filter)

# %% [markdown]
# Top-k keeps the same number of tokens whatever the model believes; top-p adapts. Compare the two
# prompts:

# %%
kept = {}
for name, row in [("The capital of Texas is", logits[:, -1]), ("Mary went to the", story_logits[None])]:
    kept[name] = (int(torch.isfinite(top_k_filter(row, 5)).sum()), int(torch.isfinite(top_p_filter(row, 0.9)).sum()))
    print(f"{name!r:>26}: top-k with k=5 keeps {kept[name][0]}, top-p with p=0.9 keeps {kept[name][1]} "
          f"of {model.cfg.d_vocab} tokens")
assert kept["The capital of Texas is"] == (5, 1)  # trained-model claim: sure of Austin, top-p keeps it alone
assert kept["Mary went to the"][0] == 5 and kept["Mary went to the"][1] > 20  # trained-model claim: many places

# %% [markdown]
# Here is what each knob does to the story's distribution, over its fifteen most likely tokens
# (after each filter, the softmax spreads the kept probability over the kept tokens):

# %%
top15 = story_logits.topk(15).indices
words = [tokenizer.token_str(int(i)) for i in top15]
settings = {"left": {f"T = {T}": apply_temperature(story_logits, T) for T in (0.5, 1.0, 2.0)},
            "right": {"no filter": story_logits, "top-k, k = 5": top_k_filter(story_logits[None], 5)[0],
                      "top-p, p = 0.9": top_p_filter(story_logits[None], 0.9)[0]}}
fig = make_subplots(rows=1, cols=2, subplot_titles=["temperature", "filters (at T = 1)"], shared_yaxes=True)
for col, side in enumerate(settings.values(), start=1):
    for label, row in side.items():
        fig.add_trace(go.Bar(x=words, y=row.softmax(-1)[top15].numpy(), name=label), row=1, col=col)
fig.update_yaxes(title_text="probability", row=1, col=1)
fig.update_layout(title="Next token after 'Mary went to the'", barmode="group", height=380)
fig

# %% [markdown]
# The course's sampler, `course.sampling.sample_next_token`, chains exactly these steps (your
# functions match its own `apply_temperature`, `top_k_filter` and `top_p_filter`) and then draws
# one token from the softmax. Sampling many times shows the shape of the distribution:

# %%
generator = torch.Generator().manual_seed(0)
draws = torch.stack([sample_next_token(story_logits[None], temperature=1.0, top_p=0.9, generator=generator)
                     for _ in range(200)])
counts = torch.bincount(draws.flatten(), minlength=model.cfg.d_vocab)
for i in counts.argsort(descending=True)[:5]:
    print(f"{tokenizer.token_str(int(i))!r:>14}  drawn {int(counts[i]):>2} times of 200 "
          f"(probability {float(story_logits.softmax(-1)[i]):.3f})")
print(f"{int((counts > 0).sum())} different tokens drawn")
assert int((counts > 0).sum()) > 10 and counts.max() < 40  # trained-model claim: many places, none dominant

# %% [markdown]
# ## 4. The generation loop
#
# Generation is *autoregressive*: predict a token, append it to the input, and run the model
# again on the longer sequence. Write the loop, greedily, without any cache: every step runs the
# model on the whole sequence so far.

# %% [exercise] generate_greedy
check(generate_greedy)

# %%
prompt_tokens = model.to_tokens("The city of Dallas is in")
with torch.no_grad():
    ours = generate_greedy(model, prompt_tokens, 12)
print(repr(model.to_string(ours[0, 1:])))
assert torch.equal(ours, model.generate(prompt_tokens, max_new_tokens=12, use_cache=False))

# %% [markdown]
# Sampled text, from the course's own `model.generate` (a string in, a string out):

# %%
for seed in range(3):
    print(repr(model.generate("Mary went to the", max_new_tokens=25, temperature=0.8, top_p=0.95, seed=seed)))

# %% [markdown]
# Section 2 said that greedy text tends to loop. Does it, here? Count the share of a text's
# 4-grams (runs of four tokens) that already appeared earlier in the same text, for 100 tokens
# written greedily and sampled at `T = 1`, from four prompts:

# %%
def repeated_ngram_share(ids, n=4):
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return 1 - len(set(grams)) / len(grams)


loop_prompts = ["Mary went to the", "Once upon a time,", "The Emberpeak is", "Tom lives in"]
shares = {"greedy": [], "sampled, T = 1": []}
for seed, text in enumerate(loop_prompts):
    start = model.to_tokens(text)
    with torch.no_grad():
        for kind, T in [("greedy", 0.0), ("sampled, T = 1", 1.0)]:
            out = model.generate(start, max_new_tokens=100, temperature=T, seed=seed)
            shares[kind].append(repeated_ngram_share(out[0, start.shape[1]:].tolist()))
            if kind == "greedy" and seed == 1:
                print(repr(model.to_string(out[0, 1:])[:200]), "...")
mean_share = {kind: sum(v) / len(v) for kind, v in shares.items()}
for kind, v in shares.items():
    print(f"{kind:>15}: repeated 4-grams {[round(x, 2) for x in v]}, mean {mean_share[kind]:.2f}")
assert mean_share["greedy"] > 0.15 and mean_share["sampled, T = 1"] < mean_share["greedy"] / 3  # trained-model claim

# %% [markdown]
# Greedy text does loop: the same sentence or the same sum comes back word for word, because
# once a loop has started, repeating it is the most likely continuation. Sampling breaks the loops.

# %% [markdown]
# ## 5. Prefill and decode, and the KV cache
#
# The loop above repeats work. At step `t` the model recomputes everything about positions
# `0 .. t-1`, although none of it changed: a position only attends to itself and to earlier
# positions, so appending a token cannot change what was computed for the earlier ones.
#
# What later positions need from earlier ones, inside each attention layer, is their **keys**
# and **values**. A *KV cache* keeps them. Generation then has two phases:
#
# - **prefill**: run the whole prompt of `N` tokens in one forward pass (all positions in
#   parallel), store every layer's keys and values, and read the next token off the last
#   position's logits;
# - **decode**: feed only the newest token, a `[batch 1]` input; each layer computes the new
#   token's query, key and value, appends the key and value to the cache, and attends over all
#   cached positions.
#
# Let us watch the shapes in layer 0, for one prefill and one decode step:

# %%
names = ["blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_pattern"]
cache = KVCache.for_model(model, batch=1)
with torch.no_grad():
    pre_logits, pre_acts = model.run_with_cache(prompt_tokens, kv_cache=cache, names_filter=names)
    new_token = pre_logits[:, -1].argmax(-1, keepdim=True)  # [batch 1]
    dec_logits, dec_acts = model.run_with_cache(new_token, kv_cache=cache, names_filter=names)

N = prompt_tokens.shape[1]
print(f"{'':>28}{'prefill':>22}{'decode':>22}")
print(f"{'input tokens':>28}{str(tuple(prompt_tokens.shape)):>22}{str(tuple(new_token.shape)):>22}")
print(f"{'logits':>28}{str(tuple(pre_logits.shape)):>22}{str(tuple(dec_logits.shape)):>22}")
for name in names:
    short = name.split(".")[-1]
    print(f"{short:>28}{str(tuple(pre_acts[name].shape)):>22}{str(tuple(dec_acts[name].shape)):>22}")
print(f"positions in the KV cache after both: {cache.length}")
assert pre_logits.shape[1] == N and dec_logits.shape[1] == 1
assert dec_acts["blocks.0.attn.hook_pattern"].shape[-2:] == (1, N + 1)  # one query, N + 1 keys
assert cache.length == N + 1

# %% [markdown]
# In the decode step the query, key and value exist only for the one new position
# (`[batch 1 head_index d_head]`), yet its attention pattern spans all `N + 1` positions: the
# other `N` keys came from the cache. The logits too are for one position only.
#
# Now write that step yourself, for a single head: the new token's query `q`, key `k_new` and
# value `v_new`, and the cached keys and values of the earlier positions.

# %% [exercise] decode_step
check(decode_step)

# %% [markdown]
# Decoding one token at a time with your `decode_step` must give exactly what the model
# computed for the whole prompt in parallel. Take layer 0, head 0 of the model: its queries,
# keys and values for every position, and the output `z` of the full (prefill) attention:

# %%
with torch.no_grad():
    _, acts = model.run_with_cache(prompt_tokens, names_filter=lambda n: n.startswith("blocks.0.attn.hook_"))
q_all, k_all, v_all = (acts[f"blocks.0.attn.hook_{x}"][0, :, 0] for x in "qkv")  # [pos d_head], head 0
z_prefill = acts["blocks.0.attn.hook_z"][0, :, 0]  # [pos d_head]

k_cache = v_cache = torch.zeros(0, model.cfg.d_head)
z_decoded = []
for pos in range(N):
    z, k_cache, v_cache = decode_step(q_all[pos], k_cache, v_cache, k_all[pos], v_all[pos])
    z_decoded.append(z)
torch.testing.assert_close(torch.stack(z_decoded), z_prefill, atol=1e-5, rtol=1e-4)
print(f"decoded {N} positions one by one: identical to the prefill's z")

# %% [markdown]
# ### How much faster is it?
#
# `model.generate` can run either way: `use_cache=False` recomputes the whole sequence every
# step (your loop), `use_cache=True` does one prefill and then decode steps. Both give the same
# tokens. Let us time them, taking the best of three runs each.

# %%
def generate_timed(use_cache):
    start = time.perf_counter()
    out = model.generate(speed_prompt, max_new_tokens=n_new, use_cache=use_cache)
    return time.perf_counter() - start, out


speed_prompt = model.to_tokens("The capital of Ohio is")
n_new = model.cfg.n_ctx - speed_prompt.shape[1]  # fill the context window
times, outputs = {True: [], False: []}, {}
for _ in range(3):  # alternate the two, so a busy moment of the machine hits both alike
    for use_cache in (True, False):
        seconds, out = generate_timed(use_cache)
        times[use_cache].append(seconds)
        outputs[use_cache] = out
t_cache, t_plain = min(times[True]), min(times[False])
speedup = t_plain / t_cache
print(f"{n_new} new tokens: {t_plain * 1000:.0f} ms without the cache, {t_cache * 1000:.0f} ms with it "
      f"-> {speedup:.1f}x faster")
assert torch.equal(outputs[True], outputs[False])  # same tokens either way
assert speedup > 1

# %% [markdown]
# The gap grows with the length of the text: without a cache step `t` processes `t` positions,
# so `n` steps cost about `n^2 / 2` position-passes; with it, each decode step processes one.
# Let us time each step of both loops (best of three), with the same greedy tokens:

# %%
def step_times(use_cache):
    tokens, seconds = speed_prompt, []
    kv = KVCache.for_model(model, batch=1)
    with torch.no_grad():
        for step in range(n_new):
            start = time.perf_counter()
            if use_cache:
                step_logits = model(tokens if step == 0 else tokens[:, -1:], kv_cache=kv)  # prefill, then decode
            else:
                step_logits = model(tokens)
            tokens = torch.cat([tokens, step_logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            seconds.append(time.perf_counter() - start)
    return torch.tensor(seconds), tokens


runs = {True: [], False: []}
for _ in range(3):
    for use_cache in (True, False):
        seconds, tokens_out = step_times(use_cache)
        runs[use_cache].append(seconds)
        assert torch.equal(tokens_out, outputs[True])  # the same text as model.generate
step_ms = {use_cache: torch.stack(r).min(0).values * 1000 for use_cache, r in runs.items()}  # [step]
lengths = list(range(speed_prompt.shape[1], speed_prompt.shape[1] + n_new))  # positions the model reads
fig = go.Figure([go.Scatter(x=lengths, y=step_ms[False].numpy(), name="no cache: the whole sequence"),
                 go.Scatter(x=lengths, y=step_ms[True].numpy(), name="KV cache: one new token")])
fig.update_layout(title="Time of one generation step", xaxis_title="length of the sequence so far",
                  yaxis_title="milliseconds", height=340)
fig

# %%
early = {use_cache: float(ms[:16].median()) for use_cache, ms in step_ms.items()}  # the first 16 steps
late = {use_cache: float(ms[-16:].median()) for use_cache, ms in step_ms.items()}  # the last 16
print(f"no cache: {early[False]:.1f} ms per step at the start, {late[False]:.1f} ms at the end; "
      f"cache: {early[True]:.1f} -> {late[True]:.1f} ms")
# Timings depend on the machine and on what else runs, so they are printed, not asserted;
# benchmarks/generation.py measures the cache's speedup side by side.

# %% [markdown]
# On a laptop you should see the step time without a cache grow with the length, as the sum
# `n^2 / 2` predicts, while with it every decode step costs about the same (attention over more cached keys is a small part of
# the work here). The price is memory: the cache holds a key and a value vector per layer, head
# and position.

# %%
print(f"KV cache for one sequence of {model.cfg.n_ctx} tokens: {cache.n_bytes / 1e6:.2f} MB "
      f"(2 x {model.cfg.n_layers} layers x {model.cfg.n_heads} heads x {model.cfg.n_ctx} positions x "
      f"{model.cfg.d_head} numbers x 4 bytes)")
assert cache.n_bytes == 2 * model.cfg.n_layers * model.cfg.n_heads * model.cfg.n_ctx * model.cfg.d_head * 4

# %% [markdown]
# ## 6. Training: every position is a prediction
#
# When generating, we used only the last position's distribution. Training uses all of them: on
# a text of `N` tokens the model makes `N - 1` predictions that can be scored in one forward pass,
# the logits at position `i` against the actual token at `i + 1`. The loss is the average
# cross-entropy, `-log p(actual next token)`; gradient descent nudges every weight to lower it.

# %% [exercise] next_token_loss
check(next_token_loss)

# %%
text_tokens = model.to_tokens("The capital of Texas is Austin. The city of Dallas is in Texas.")
with torch.no_grad():
    text_logits = model(text_tokens)
loss = next_token_loss(text_logits, text_tokens)
torch.testing.assert_close(loss, model.loss(text_tokens))
print(f"mean loss {loss:.3f} nats per token (a uniform guess would be {math.log(model.cfg.d_vocab):.2f})")
assert loss < math.log(model.cfg.d_vocab) / 2  # trained-model claim: far better than a uniform guess

# %% [markdown]
# Which tokens were easy to predict, and which surprised the model? Each token is coloured by the
# loss of predicting it from the tokens before it (the first has no prediction, so it gets 0):

# %%
with torch.no_grad():
    per_token = model.loss(text_tokens, per_token=True)[0]  # [pos-1]
TokenView(model.to_str_tokens(text_tokens), torch.cat([torch.zeros(1), per_token]),
          value_label="loss (nats)")

# %% [markdown]
# Over many texts, the position matters. Take 48 documents of the model's own training text
# (`corpus_v4`) of at least 64 tokens, each from its start, and average the loss at each position:

# %%
doc_ids = [[tokenizer.bos_id] + tokenizer.encode(d) for d in corpus_v4.documents(384, seed=1)]
docs = torch.tensor([ids[:64] for ids in doc_ids if len(ids) >= 64][:48])  # [batch 64]
with torch.no_grad():
    loss_by_pos = model.loss(docs, per_token=True).mean(0)  # [63]: predicting token 1, 2, ... 63
fig = go.Figure(go.Scatter(x=list(range(1, 64)), y=loss_by_pos.numpy(), mode="lines+markers"))
fig.update_layout(title=f"Loss by position, mean over {docs.shape[0]} documents",
                  xaxis_title="position of the predicted token", yaxis_title="loss (nats)", height=320)
fig

# %%
first_word, first8, last16 = loss_by_pos[0].item(), loss_by_pos[:8].mean().item(), loss_by_pos[-16:].mean().item()
print(f"first token of a document: {first_word:.2f} nats; first 8 positions {first8:.2f}; last 16 {last16:.2f}")
assert int(loss_by_pos.argmax()) == 0  # trained-model claim: the first word is the hardest
assert first8 > 1.5 * last16  # trained-model claim: more context, lower loss

# %% [markdown]
# The first token of a document is the hardest guess: nothing says yet whether this is a story,
# a fact or a sum. The loss then falls as the context grows: later tokens are predicted from
# more of the text. Trained on positions this way, the model learns to use all the context it is
# given, which is the skill the rest of the course takes apart.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer: `reveal("name")`
# prints its code (each runs in a few seconds).
#
# 1. **The best temperature** (`"best_temperature"`). Divide the logits by `T` and score real
#    TinyWorld text: which `T` gives the lowest loss? What does that say about the model's
#    probabilities, and about why people sample at `T < 1`?
# 2. **How big is the nucleus?** (`"nucleus_size"`). At every position of one document, count
#    the tokens that top-p with `p = 0.9` keeps. Where is it 1, where is it large, and what
#    property of the distribution predicts it?
# 3. **Repetition against temperature** (`"repetition_vs_temperature"`). How hot must sampling
#    be before the loops stop, and what does the model itself think of the text it writes at
#    each temperature (the loss of its own text)?

# %%
# Your exploration here. Then, for example: reveal("best_temperature")

# %% [markdown]
# ## Recap
#
# - A language model maps tokens to one next-token distribution per position.
# - Generation picks a token from the last distribution (greedy, or sampled after temperature,
#   top-k or top-p), appends it, and repeats. Greedy text loops; sampling breaks the loops.
# - Prefill processes the prompt in parallel and fills the KV cache; each decode step then feeds
#   one token and attends over the cached keys and values, which is much faster.
# - Training scores every position's prediction at once with the next-token cross-entropy; the
#   more context a position has, the lower its loss.
#
# `progress()` shows your exercises so far.
#
# ## Further reading
#
# - Holtzman et al. (2019), *The Curious Case of Neural Text Degeneration*: why greedy text
#   repeats itself, and nucleus (top-p) sampling.
# - NVIDIA's technical blog, *Mastering LLM Techniques: Inference Optimization*: prefill, decode
#   and the KV cache in production systems.
# - Karpathy, *nanoGPT* (`model.py`, `generate`): a compact generation loop to compare with ours.
#
# Next: chapter 01, where tokens come from and how they become vectors.

# %%
progress()
