# %% [markdown]
# # Chapter 13: Emergent circuits and modern architectures
#
# **Time:** about 50 minutes. **You will:**
#
# - write the three parts a modern open model (Llama, Mistral, gpt-oss...) swaps into GPT-2's
#   design: **RMSNorm**, **rotary position embeddings** (RoPE) applied to queries and keys, and the
#   gated **SwiGLU** MLP, and check each against the course's model;
# - see **grouped-query attention** and a **mixture of experts** at work in the same model;
# - compare three models trained on the same TinyWorld text with the same budget: GPT-2-style,
#   Llama-style and mixture-of-experts, on everything this course has measured: held-out loss,
#   induction heads (and when they form), indirect object identification and the heads that carry
#   it, two-hop recall and where the state is carried, addition and facts;
# - find out which kinds of token each expert of the mixture handles;
# - put a number on "algorithmic progress" for these three: how much training compute each needs
#   for the same loss.
#
# Every chapter so far told one story: nobody writes a circuit into a transformer. Induction
# heads, the IOI circuit, facts in MLPs, the state on the way to a capital, the bag of heuristics
# that adds: each *emerged* from training a model to predict the next token, because it helped.
# The course's model is built like GPT-2 (2019), and so were most of the models the research we
# followed was done on. Today's models change several parts. If the circuits are a consequence of
# the task and the data rather than of GPT-2's exact parts, they should form in a modern model
# too. Measurements can answer that, because each modern part is an option of the course's own
# model (`course.config.ModelConfig`), and the zoo ships three variants trained on the same data,
# seed, token budget and schedule (about half an hour each on a laptop's CPU). The answer turns out
# to be "yes, but not the same way".
#
# Everything runs on the CPU in about a minute.

# %%
import math

import plotly.graph_objects as go
import torch
import torch.nn.functional as F  # noqa: F401 - the exercises' F.silu
from plotly.subplots import make_subplots

from course import evaluate, ioi, metrics, patching, sae, variants, zoo
from course.exercises import check, hint, progress, reveal
from course.train import TrainConfig, lr_at
from solutions.ch13_architectures import (TOKEN_CLASSES, VARIANT_MODELS, compute_multiplier, first_step_over,
                                          held_out_loss_on, routing_by_class, routing_information,
                                          training_flops_per_token, training_table)

torch.manual_seed(0)
models = {variant: zoo.load(name) for variant, name in VARIANT_MODELS.items()}  # gpt2, llama, moe
gpt2, llama, moe = models["gpt2"], models["llama"], models["moe"]
cards = {variant: model.card for variant, model in models.items()}
text = sae.eval_tokens(gpt2, 32, seed=2)  # [32 128] held-out TinyWorld (a stream seed no model trained on)
for variant, model in models.items():
    c = model.cfg
    print(f"{VARIANT_MODELS[variant]:>16}: norm {c.normalization}, positions {c.positional}, MLP {c.mlp}, "
          f"{c.n_heads} query heads / {c.n_key_value_heads} key-value heads, "
          f"experts {c.n_experts or '-'} (top {c.experts_per_token if c.n_experts else '-'})")

# %% [markdown]
# ## 1. What changed since GPT-2
#
# | part | GPT-2 (2019) | a modern open model | what it buys |
# |---|---|---|---|
# | normalisation | LayerNorm: centre, divide by the standard deviation, gain and bias | **RMSNorm**: divide by the root mean square, gain only | fewer operations, one parameter vector fewer, trains as well |
# | positions | a learned vector per position, added to the stream | **rotary**: queries and keys turned by an angle that grows with position | attention scores that depend on the *distance* between tokens; longer contexts |
# | MLP | W_out GELU(W_in x) | **SwiGLU**: W_out (SiLU(W_gate x) * W_in x) | better loss for the same parameters (Shazeer 2020) |
# | attention | every head has its own keys and values | **grouped-query**: groups of query heads share one key and one value head | a smaller KV cache, faster generation |
# | dense or sparse | one MLP per layer, used by every token | **mixture of experts**: several MLPs, a router picks a few per token | more parameters for the same compute per token |
#
# The course's three variants are the same size as the main `tinyworld` model (4 layers, 128
# wide, 4 heads) and differ only in these parts (`course.variants`):
#
# - `tinyworld-gpt2`: the main model's design, the baseline;
# - `tinyworld-llama`: RMSNorm + rotary + SwiGLU + grouped-query attention (2 key-value heads). Its
#   MLP is 384 wide instead of 512, because SwiGLU has three matrices: with the grouped keys and
#   values, the attention and MLP matrices hold exactly as many weights as gpt2's;
# - `tinyworld-moe`: gpt2 with each MLP replaced by 4 experts 256 wide, each token sent to its top
#   2: the same hidden neurons per token as gpt2's MLP (2 x 256 = 512), twice as many in all.
#
# All three read TinyWorld v3 (`course.corpus_v3`). The main model was trained later, on v4
# (`course.corpus_v4`), so `tinyworld-gpt2` is its design but not a shorter run of it. Section 6
# says what differs and which comparisons with the main model that leaves fair.

# %%
counts = {variant: variants.parameter_counts(model.cfg) for variant, model in models.items()}
print(f"{'':>8}{'total':>12}{'embedding':>12}{'active per token':>18}")
for variant, n in counts.items():
    print(f"{variant:>8}{n['total']:>12,}{n['embedding']:>12,}{n['active']:>18,}")
assert abs(counts["llama"]["total"] - counts["gpt2"]["total"]) < 0.02 * counts["gpt2"]["total"]
assert counts["moe"]["active"] < 1.01 * counts["gpt2"]["active"] < counts["moe"]["total"]

# %% [markdown]
# ## 2. RMSNorm
#
# LayerNorm (chapter 02) does two things to each vector of the residual stream before a block
# reads it: it *centres* it (subtracts the mean of its d_model entries) and *scales* it (divides by
# their standard deviation), then applies a gain w and a bias b. Zhang & Sennrich (2019) asked
# whether the centring earns its cost, and found that scaling alone trains as well. **RMSNorm**
# divides by the root mean square and multiplies by w:
#
# RMSNorm(x) = x / sqrt(mean(x²) + eps) * w
#
# Write it for any number of leading dimensions (`[... d_model]`).

# %% [exercise] rms_norm
check(rms_norm)

# %% [markdown]
# Your function should be what the Llama-style model's norms compute. Check it on the real stream:
# the input of block 1's first norm.

# %%
with torch.no_grad():
    _, cache = llama.run_with_cache(text[:4])
    x = cache["blocks.1.hook_resid_pre"]  # [batch pos d_model]
    norm = llama.blocks[1].ln1
    torch.testing.assert_close(rms_norm(x, norm.w, norm.eps), norm(x))
    rms = x.pow(2).mean(-1).sqrt()
print(f"block 1's input: root mean square from {rms.min():.2f} to {rms.max():.2f} over positions; after the norm "
      f"every vector has root mean square 1 (times the gain)")

# %% [markdown]
# With the mean left in, RMSNorm is not LayerNorm without its bias: a vector's mean survives the
# norm. Whether the model cares is an open exercise at the end (`"layernorm_as_rmsnorm"`).
#
# ## 3. Rotary position embeddings
#
# GPT-2 learns one vector per position and adds it to the token's embedding; every head must then
# dig the position back out of the stream. Rotary embeddings (Su et al. 2021) put nothing in the
# stream. Instead, inside every head, the query and the key are **turned** by an angle
# proportional to their position before their dot product:
#
# - a head's d_head dimensions form d_head/2 pairs; pair c turns at its own frequency,
#   θ_c = base^(-2c/d_head) radians per position (base = 10,000): the first pair fast, the last
#   ones very slowly;
# - the pair (x1, x2) at position p becomes (x1 cos pθ_c - x2 sin pθ_c, x2 cos pθ_c + x1 sin pθ_c).
#
# Turning q by iθ and k by jθ changes their dot product only through the difference (i - j)θ. So
# the score of a query at i and a key at j depends on the positions only through **i - j**: a head
# that looks one token back does so at every position alike, which is exactly what a
# previous-token head wants.
#
# One detail matters for matching a real model: *which* dimensions are paired. The original paper
# pairs neighbours (0 with 1, 2 with 3...). GPT-NeoX and Hugging Face's Llama pair dimension c
# with c + d_head/2 ("rotate half"), and so does this course, so a Llama checkpoint loads without
# permuting its weights. Write `rotary` in that layout.

# %% [exercise] rotary
check(rotary)

# %%
theta = 10000.0 ** (-torch.arange(0, 32, 2) / 32)  # the 16 frequencies of a 32-wide head
angles = torch.arange(128)[:, None] * theta  # [pos pair]
fig = go.Figure(go.Heatmap(z=angles.cos().T.numpy(), colorscale="RdBu", zmid=0, colorbar_title="cos(angle)"))
fig.update_layout(title="Rotary angles: each pair of a head turns at its own speed", height=300,
                  xaxis_title="position", yaxis_title="pair c (fast to slow)")
fig

# %% [markdown]
# The relative-position property, measured: put the *same* query vector and the *same* key vector
# at every position and compute every query-key score. If scores depend only on i - j, every
# diagonal of the score matrix is constant.

# %%
torch.manual_seed(1)
q_vec, k_vec = torch.randn(32), torch.randn(32)
q = rotary(q_vec.expand(1, 40, 1, 32).clone())  # [batch pos head_index d_head]
k = rotary(k_vec.expand(1, 40, 1, 32).clone())
scores = q[0, :, 0] @ k[0, :, 0].T  # [query_pos key_pos]
for offset in (0, 1, 5, 20):
    diagonal = torch.diagonal(scores, offset=-offset)
    print(f"distance {offset:>2}: score {diagonal[0]:+.4f}, spread along the diagonal {diagonal.std():.1e}")
    assert diagonal.std() < 1e-4 * (1 + diagonal.abs().mean())

# %% [markdown]
# Now use it in attention. Rotate the queries and the keys, never the values: the rotation says
# *where* a key is, for the match; the value is *what* gets copied, and has no position. Write
# causal attention with rotary positions (scaled scores, mask, softmax, weighted sum).

# %% [exercise] rotary_attention
check(rotary_attention)

# %% [markdown]
# The Llama-style model's attention should now be yours. Its queries and keys are read by
# `hook_q` and `hook_k` *after* rotation (the vectors whose dot product makes the scores), so
# compute them yourself from the norm's output and the weights.
#
# This is also where **grouped-query attention** shows: the model has 4 query heads but only 2
# key and 2 value heads (`W_K` is `[2 d_model d_head]`); query heads 0 and 1 read key-value head
# 0, heads 2 and 3 read head 1. A KV cache stores keys and values, so it shrinks by the same factor.

# %%
attn = llama.blocks[1].attn
print("W_Q", tuple(attn.W_Q.shape), "W_K", tuple(attn.W_K.shape), "W_V", tuple(attn.W_V.shape))
with torch.no_grad():
    x = cache["blocks.1.ln1.hook_normalized"]  # [batch pos d_model]
    q = torch.einsum("bpd,hde->bphe", x, attn.W_Q) + attn.b_Q  # [batch pos head_index d_head], not yet turned
    k = torch.einsum("bpd,hde->bphe", x, attn.W_K) + attn.b_K  # [batch pos kv_head_index d_head]
    v = torch.einsum("bpd,hde->bphe", x, attn.W_V) + attn.b_V
    group = llama.cfg.n_heads // llama.cfg.n_key_value_heads
    k, v = k.repeat_interleave(group, dim=2), v.repeat_interleave(group, dim=2)  # one per query head
    torch.testing.assert_close(rotary(q, llama.cfg.rotary_base), cache["blocks.1.attn.hook_q"])
    torch.testing.assert_close(rotary_attention(q, k, v, llama.cfg.rotary_base), cache["blocks.1.attn.hook_z"])
kv_bytes = {variant: 2 * m.cfg.n_layers * m.cfg.n_key_value_heads * m.cfg.d_head * 4 for variant, m in models.items()}
print("KV cache per token (float32):", {variant: f"{b:,} bytes" for variant, b in kv_bytes.items()})
assert kv_bytes["gpt2"] == 2 * kv_bytes["llama"]

# %% [markdown]
# ## 4. SwiGLU
#
# GPT-2's MLP reads the stream through W_in, applies GELU, and writes back through W_out: each
# hidden neuron is a key-value memory (chapter 06). A gated linear unit (Dauphin et al. 2017;
# Shazeer 2020) reads the stream *twice*: a **gate** x W_gate + b_gate, through a non-linearity,
# multiplies neuron by neuron a **linear path** x W_in + b_in. SwiGLU's non-linearity is SiLU
# (also called Swish), SiLU(z) = z · sigmoid(z). Shazeer found it gave a lower loss than GELU at the
# same parameter count, and nearly every open model since uses it. Write it.

# %% [exercise] swiglu_mlp
check(swiglu_mlp)

# %%
mlp = llama.blocks[2].mlp
with torch.no_grad():
    x = cache["blocks.2.ln2.hook_normalized"]
    torch.testing.assert_close(swiglu_mlp(x, mlp.W_gate, mlp.b_gate, mlp.W_in, mlp.b_in, mlp.W_out, mlp.b_out),
                               cache["blocks.2.hook_mlp_out"])
gpt2_mlp = sum(p.numel() for name, p in gpt2.blocks[0].mlp.named_parameters() if name.startswith("W"))
llama_mlp = sum(p.numel() for name, p in llama.blocks[0].mlp.named_parameters() if name.startswith("W"))
print(f"MLP weights per layer: gpt2 {gpt2_mlp:,} (2 x 128 x 512), llama {llama_mlp:,} (3 x 128 x 384)")
assert llama_mlp - gpt2_mlp == 2 * 128 * 64  # what grouped-query attention saved in each layer

# %% [markdown]
# The Llama-style MLP has *more* weights: grouping the keys and values saved 2 x 128 x 64 = 16,384
# weights per layer in attention, and the MLP spends exactly those (in total the two models'
# matrices are equal). The same hooks exist (`hook_pre` is the
# gate, `hook_post` the product), so every tool of the course reads it.
#
# ## 5. The mixture of experts
#
# `tinyworld-moe` has, in each layer, 4 small MLPs (*experts*) and a **router**, a d_model x 4
# matrix. For each token the router's softmax scores the experts; the token goes to its top 2, and
# their outputs are added, weighted by the two scores renormalised to sum to 1 (Mixtral's recipe).
# Training adds a small **load-balancing loss** (Switch Transformer's), without which a router
# tends to send everything to one expert. The gates are a hook, `hook_gates` `[batch pos expert]`,
# so we can read where every token went, or change it. Compute per token stays that of gpt2: the
# FLOPs below count each weight a token passes through (Kaplan et al. 2020's estimate, 6 per
# weight per training token, plus the attention scores).

# %%
flops = {variant: training_flops_per_token(m.cfg, cards[variant]["recipe"]["seq_len"]) for variant, m in models.items()}
with torch.no_grad():
    _, moe_cache = moe.run_with_cache(text[:4], names_filter=lambda n: n.endswith("hook_gates"))
gates = moe_cache["blocks.0.mlp.hook_gates"]  # [batch pos expert]
print("gates of the first 6 tokens in layer 0:\n", gates[0, :6].numpy().round(2))
print(f"experts per token: {(gates > 0).sum(-1).float().mean():.0f}; gates add up to {gates.sum(-1).mean():.3f}")
print("training FLOPs per token:", {variant: f"{f / 1e6:.2f}M" for variant, f in flops.items()})
assert max(flops.values()) < 1.01 * min(flops.values())

# %% [markdown]
# ## 6. Three models, one budget
#
# The cards say how each model was trained: the same recipe, only the architecture differs. The
# budget is 4,000 steps of 32 sequences of 128 tokens, 16.4M tokens each, two fifths of the main
# tinyworld's. Each variant runs a complete schedule in that budget: a warmup, then a cosine decay
# of the learning rate to a tenth of its peak.
#
# The main model differs in three ways besides its length, and each matters when we compare:
#
# - **its corpus**: TinyWorld v4 is v3 with the fact sentences rebuilt. A fact person's sport is
#   often mentioned in passing ("Mia packed her golf bag"), it follows natural cue phrases ("likes to
#   play", "a huge fan of"), and people without a fixed sport appear in the same frames with a random
#   sport each time. The IOI sentences, the two-hop geography, the sums and the repeated tokens come
#   from the same generators in both versions. So IOI, two-hop recall, addition and induction compare
#   fairly; facts and held-out loss (measured on each model's own corpus) do not;
# - **its shipped weights** are a moving average of its weights over about its last 1,000 steps,
#   where the variants ship their weights as they were at the last step;
# - **its card** measured its *raw* weights every 1,000 steps during training
#   (`evals_during_training`, on the same quick evaluation sets as the variants' cards). Its row
#   at step 4,000 is the main model at the variants' 16.4M tokens, and that is the row to compare
#   with, not its final card.

# %%
same = ["steps", "batch_size", "seq_len", "lr", "warmup_steps", "seed", "data_seed"]
recipe = cards["gpt2"]["recipe"]
for variant, card in cards.items():
    assert all(card["recipe"][k] == recipe[k] for k in same), variant  # the same training for all three
    assert card["data"] == cards["gpt2"]["data"]
tokens = cards["gpt2"]["data"]["tokens_seen"]
main_model = zoo.load("tinyworld")
main = main_model.card
main_at = {r["step"]: r for r in main["evals_during_training"]}  # the main model's raw weights during training
print(f"each: {recipe['steps']:,} steps of {recipe['batch_size']} x {recipe['seq_len']} tokens = {tokens / 1e6:.1f}M "
      f"tokens of {cards['gpt2']['data']['corpus']}, peak learning rate {recipe['lr']}, the same data in the same "
      f"order (the main tinyworld: {main['data']['tokens_seen'] / 1e6:.0f}M tokens of {main['data']['corpus']}, "
      f"raw weights measured at steps {min(main_at):,} to {max(main_at):,})")
assert cards["gpt2"]["data"]["corpus"] == "course.corpus_v3" and main["data"]["corpus"] == "course.corpus_v4"
for variant, card in cards.items():
    print(f"{variant:>6}: {flops[variant] * tokens / 1e12:.1f} TFLOPs of training, "
          f"{card['training_seconds'] / 60:.0f} min on two CPU threads")
seconds = {variant: card["training_seconds"] for variant, card in cards.items()}
at_end = lr_at(recipe["steps"], TrainConfig(**recipe)) / recipe["lr"]
main_then = lr_at(recipe["steps"], TrainConfig(**main["recipe"])) / main["recipe"]["lr"]
print(f"learning rate at step {recipe['steps']:,}: the variants {at_end:.0%} of their peak, the main model "
      f"{main_then:.0%} of its peak")
assert seconds["moe"] > max(seconds["gpt2"], seconds["llama"])  # trained-model claim: the MoE took longest

# %% [markdown]
# Equal FLOPs, but not equal time: the mixture of experts took the longest to train. On a CPU,
# routing costs more than its arithmetic (each expert gathers its tokens, runs, and scatters them
# back), and at this size that overhead dominates. Large models amortise it over far bigger
# matrices; the FLOP count is the fair measure of compute, and it is what we compare.
#
# The last line matters later: at the same step 4,000 the main model was still learning fast, at
# most of its peak rate, while the variants were finishing, at a tenth of theirs.
#
# ## 7. Held-out loss at equal compute
#
# The most basic measure: next-token loss on text no model trained on, measured during training
# (each card's `evals_during_training`, every 500 steps), against the training compute spent so far.

# %%
KEYS = ("held_out_loss", "max_induction_score", "max_previous_token_score", "repeat_loss_gap", "ioi_accuracy",
        "two_hop_held_out_accuracy", "addition_held_out_accuracy", "fact_accuracy_held_out_phrasings")
tables = {variant: training_table(card, KEYS) for variant, card in cards.items()}
COLOURS = {"gpt2": "#636efa", "llama": "#ef553b", "moe": "#00cc96", "main": "#7f7f7f"}
fig = go.Figure()
for variant, t in tables.items():
    fig.add_trace(go.Scatter(x=[n * flops[variant] for n in t["tokens"]], y=t["held_out_loss"], name=variant,
                             mode="lines+markers", line_color=COLOURS[variant]))
fig.update_layout(title="Held-out loss against training compute", xaxis_title="training FLOPs", xaxis_type="log",
                  yaxis_title="held-out loss (nats)", height=360)
final = {variant: card["metrics"]["held_out_loss"] for variant, card in cards.items()}
lowest = {variant: min(t["held_out_loss"]) for variant, t in tables.items()}
for variant, t in tables.items():
    print(f"{variant:>6}: " + " ".join(f"{v:.3f}" for v in t["held_out_loss"]) + f"  (lowest {lowest[variant]:.3f}, "
          f"final {final[variant]:.3f})")
main_on_v3 = held_out_loss_on(main_model, cards["gpt2"]["data"]["corpus"])  # the variants' held-out documents
print(f"the main tinyworld, {main['data']['tokens_seen'] / tokens:.1f}x the tokens: {main_on_v3:.3f} on the same v3 "
      f"documents ({main['metrics']['held_out_loss']:.3f} on v4's, its card's figure)")
fig

# %%
llama_curve = tables["llama"]["held_out_loss"]
assert lowest["llama"] < min(lowest["gpt2"], lowest["moe"])  # trained-model claim: llama goes lowest ...
assert llama_curve[-1] > min(llama_curve) + 0.05  # trained-model claim: ... then its loss rises ...
assert final["llama"] > final["gpt2"]  # trained-model claim: ... and it ends above gpt2
assert tables["gpt2"]["held_out_loss"][-1] == min(tables["gpt2"]["held_out_loss"])  # trained-model claim: gpt2 falls to the end
assert final["moe"] < final["gpt2"] < final["llama"]  # trained-model claim: the MoE ends lowest ...
assert tables["moe"]["held_out_loss"][0] == max(t["held_out_loss"][0] for t in tables.values())  # trained-model claim
steps = tables["llama"]["step"]
assert all(llama_curve[i] == min(t["held_out_loss"][i] for t in tables.values())  # trained-model claim: lowest at
           for i in range(len(steps)) if 2000 <= steps[i] <= 3000)  # steps 2,000 to 3,000
assert main_on_v3 < min(final.values()) - 0.1  # trained-model claim: the main model, below all three on v3 text

# %% [markdown]
# The Llama-style model learns fastest at first: at steps 2,000 to 3,000 its held-out loss is the
# lowest of the three, and at step 3,000 it is 0.05 nats below gpt2's. Then it turns. Over its last
# 1,000 steps its loss on held-out text *rises* by 0.08 nats, and it ends above gpt2, whose loss
# falls to the very end. The mixture of experts starts slowest (the highest loss at step 500) but
# falls to the end and finishes lowest, just below gpt2. The main tinyworld, with 2.5 times the
# tokens, is below all three, also on their own v3 documents (1.32), although it never trained on
# v3's fact sentences. (Its card's 1.30 is on v4 documents, a different text; its card has no
# held-out loss during training, so there is no equal-tokens point for this one measure.)
# Something happened to the Llama-style model in its last thousand steps; the next section shows
# what.
#
# ## 8. Induction heads: did they form, and when?
#
# Chapter 04's test: a sequence of random tokens, repeated. An induction head attends from the
# second copy of a token to the token that followed its first copy, and a previous-token head, the
# circuit's first half, attends from each token to the one before. Here are the induction scores of
# every head of the three trained models, measured now.

# %%
scores = {variant: evaluate.head_scores(m) for variant, m in models.items()}
fig = make_subplots(rows=1, cols=3, subplot_titles=list(models), shared_yaxes=True)
for i, (variant, s) in enumerate(scores.items()):
    fig.add_trace(go.Heatmap(z=s["induction"].numpy(), zmin=0, zmax=1, colorscale="Viridis", showscale=i == 2,
                             colorbar_title="induction"), row=1, col=i + 1)
    fig.update_xaxes(title_text="head", row=1, col=i + 1)
fig.update_yaxes(title_text="layer", autorange="reversed", row=1, col=1)
fig.update_layout(title="Induction score of every head", height=300)
best = {variant: s["induction"].max().item() for variant, s in scores.items()}
previous = {variant: s["previous_token"].max().item() for variant, s in scores.items()}
for variant, s in scores.items():
    layer, head = divmod(int(s["induction"].argmax()), s["induction"].shape[1])
    print(f"{variant:>6}: best induction head L{layer}H{head} {best[variant]:.2f} (card: "
          f"{cards[variant]['metrics']['max_induction_score']:.2f}); best previous-token head {previous[variant]:.2f}; "
          f"in-context gain {cards[variant]['metrics']['repeat_loss_gap']:.2f} nats")
    assert abs(best[variant] - cards[variant]["metrics"]["max_induction_score"]) < 1e-4  # the card, measured again
fig

# %% [markdown]
# When did they form? The cards measured the best head's induction score, the best previous-token
# score and the in-context gain (loss on the first copy minus loss on the second) every 500 steps.

# %%
fig = make_subplots(rows=1, cols=3, subplot_titles=["best induction score", "best previous-token score",
                                                    "in-context gain (nats)"])
for variant, t in tables.items():
    for col, key in enumerate(("max_induction_score", "max_previous_token_score", "repeat_loss_gap")):
        fig.add_trace(go.Scatter(x=t["step"], y=t[key], name=variant, legendgroup=variant, showlegend=col == 0,
                                 mode="lines+markers", line_color=COLOURS[variant]), row=1, col=col + 1)
main_steps = [step for step in main_at if step <= 5000]  # the main model's raw weights, up to step 5,000
fig.add_trace(go.Scatter(x=main_steps, y=[main_at[step]["repeat_loss_gap"] for step in main_steps],
                         name="main (v4, raw)", mode="lines+markers", line=dict(color=COLOURS["main"], dash="dash")),
              row=1, col=3)
fig.update_xaxes(title_text="step")
fig.update_layout(title="When induction forms", height=340)
for key in ("max_previous_token_score", "max_induction_score", "repeat_loss_gap"):
    print(f"{key:>25}: " + "; ".join(f"{v} " + " ".join(f"{x:.2f}" for x in t[key]) for v, t in tables.items()))
fig

# %%
gains = {variant: t["repeat_loss_gap"] for variant, t in tables.items()}
for variant in models:
    assert max(gains[variant][:-2]) < 0.1  # trained-model claim: no in-context gain in any variant until step 3,000 ...
    assert gains[variant][-1] > 0.4 and best[variant] < 0.5  # trained-model claim: ... a start by the end, no full head
prev_llama = tables["llama"]["max_previous_token_score"]
assert prev_llama[-3] < 0.3 and prev_llama[-1] > 0.9  # trained-model claim: llama's previous-token head, late and sharp
assert previous["gpt2"] < 0.5  # trained-model claim: gpt2's still blurred
main_gain = {step: row["repeat_loss_gap"] for step, row in main_at.items()}  # raw weights, every 1,000 steps
print(f"main tinyworld's raw weights, in-context gain at step 3,000: {main_gain[3000]:.2f} nats; at step 4,000 (the same "
      f"{tokens / 1e6:.1f}M tokens): {main_gain[recipe['steps']]:.2f}; at step 5,000: {main_gain[5000]:.2f}; "
      f"its shipped weights: {main['metrics']['repeat_loss_gap']:.2f}")
assert main_gain[3000] < 0.1 < max(g[-1] for g in gains.values()) < 1 < 6 < main_gain[recipe["steps"]]  # trained-model claim
assert main_gain[5000] > 7  # trained-model claim: the main model had all but finished its circuit by step 4,000
assert 0.7 < main_then < 0.75 and abs(at_end - 0.1) < 1e-9  # trained-model claim: 71% of its peak against a tenth
curve = cards["llama"]["loss_curve"]  # the training loss, averaged in buckets
train_at = {step: curve["loss"][min(range(len(curve["step"])), key=lambda i: abs(curve["step"][i] - step))]
            for step in (3000, 4000)}
print(f"Llama-style training loss near step 3,000: {train_at[3000]:.2f}; at the end: {train_at[4000]:.2f}")
assert train_at[4000] < train_at[3000] - 0.2  # trained-model claim: its training loss kept falling

# %% [markdown]
# No variant finished forming an induction head: the best head of each scores below 0.5 (the main
# model's best scores 0.97), and up to step 3,000 the loss on the second copy of a random sequence
# was no lower than on the first. In the last 1,000 steps all three began: by the end the second
# copy was 0.8 to 0.9 nats easier than the first for gpt2 and the Llama-style model, 0.4 for the
# mixture of experts. The circuit is emerging in every architecture, at about the same point of
# training.
#
# What differs is its first half. The Llama-style model's best previous-token head went from 0.23
# to 0.96 in 1,000 steps, while gpt2's crept up to 0.39. With rotary positions, "the token just
# before" is the same turn of the query against the key at every position; with learned positions
# the model has to build it position by position. And the Llama-style model's held-out loss rose
# during exactly those steps (section 7): building the circuit cost it some loss on ordinary text,
# much as the induction bump of chapter 07 did. (Its training loss kept falling: a tenth of every
# training batch is repeated random tokens, where copying pays at once.)
#
# The main model (the grey line: its raw weights, from its card) started at the same point: at
# step 3,000 it had no in-context gain either (0.08 nats). So in all four runs, of three designs and
# two corpus versions, the gain appeared between steps 3,000 and 4,000. What differs is how far it
# got in those 1,000 steps. At step 4,000, the variants' 16.4M tokens, the main model's gain was
# 6.84 nats, eight times the best variant's and close to what it ends with (7.32 at step 5,000,
# 7.22 for its shipped weights): its circuit went from nothing to nearly finished within those
# 1,000 steps. Its learning rate was still at 71% of its peak, while the variants' was ending its
# decay to a tenth over exactly those steps, and their runs stopped with the circuit half built.
# Circuits emerge from training, and whether one is finished depends on the recipe as well as the
# tokens.
#
# ## 9. IOI, two-hop recall, addition, facts
#
# Now the behaviours of chapters 05, 02, 12 and the fact questions, on held-out data as always:
# IOI on sentence structures the corpus never uses, about name pairs never seen together; the
# capital of the state of a city never seen next to its capital; sums of operand pairs held out
# of training; a person's sport asked in phrasings the corpus never uses. The `validation` columns
# are a second held-out set, written to stand in for prompts other people would write. Measured
# now, and checked against the cards. Two tables: each run at its end (the main model's shipped
# weights, after 41M tokens), and every run at step 4,000, 16.4M tokens (each card's last quick
# evaluation for the variants, the raw weights for the main model).

# %%
results = {}
for variant, m in models.items():
    card = cards[variant]["metrics"]
    ioi_m = evaluate.ioi_metrics(m, n=500)
    results[variant] = {"IOI accuracy": ioi_m["ioi_accuracy"], "IOI logit diff": ioi_m["ioi_logit_diff"],
                        "IOI validation": card["validation_ioi_accuracy"],
                        "two-hop accuracy": evaluate.two_hop_accuracy(m),
                        "two-hop validation": card["validation_two_hop_accuracy"],
                        "addition accuracy": evaluate.addition_accuracy(m),
                        "facts accuracy": card["fact_accuracy_held_out_phrasings"]}
    for key, card_key in (("IOI accuracy", "ioi_accuracy"), ("two-hop accuracy", "two_hop_held_out_accuracy"),
                          ("addition accuracy", "addition_held_out_accuracy")):
        assert abs(results[variant][key] - card[card_key]) < 1e-4, (variant, key)  # the card, measured again
CARD_KEYS = {"IOI accuracy": "ioi_accuracy", "IOI logit diff": "ioi_logit_diff",
             "IOI validation": "validation_ioi_accuracy", "two-hop accuracy": "two_hop_held_out_accuracy",
             "two-hop validation": "validation_two_hop_accuracy", "addition accuracy": "addition_held_out_accuracy",
             "facts accuracy": "fact_accuracy_held_out_phrasings"}
results["main"] = {k: main["metrics"][key] for k, key in CARD_KEYS.items()}  # its card: shipped weights, 41M tokens
last_rows = {**{variant: card["evals_during_training"][-1] for variant, card in cards.items()},
             "main": main_at[recipe["steps"]]}
assert all(row["step"] == recipe["steps"] for row in last_rows.values())  # the same step, the same 16.4M tokens
at_4000 = {who: {k: row[key] for k, key in CARD_KEYS.items()} for who, row in last_rows.items()}
for title, table in (("at the end of each run (main: shipped weights, 2.5x the tokens, TinyWorld v4)", results),
                     ("at step 4,000, 16.4M tokens each, quick sets (main: raw weights)", at_4000)):
    print(title)
    print(f"{'':>6}" + "".join(f"{k:>19}" for k in CARD_KEYS))
    for who, r in table.items():
        print(f"{who:>6}" + "".join(f"{v:>19.3f}" for v in r.values()))
fig = make_subplots(rows=1, cols=4, subplot_titles=["IOI accuracy", "two-hop accuracy", "addition accuracy",
                                                    "facts accuracy"])
for col, key in enumerate(["IOI accuracy", "two-hop accuracy", "addition accuracy", "facts accuracy"]):
    fig.add_trace(go.Bar(x=list(models), y=[results[v][key] for v in models],
                         marker_color=[COLOURS[v] for v in models], showlegend=False), row=1, col=col + 1)
fig.update_layout(title="Held-out behaviours of the three variants", height=320, yaxis_range=[0, 1])
fig

# %%
addition = {variant: results[variant]["addition accuracy"] for variant in models}
addition_table = {variant: t["addition_held_out_accuracy"] for variant, t in tables.items()}
print("held-out addition during training:", {v: [round(x, 2) for x in a] for v, a in addition_table.items()})
assert addition["llama"] > 0.95 and addition["gpt2"] < 0.3  # trained-model claim: llama adds, gpt2 hardly
assert addition_table["llama"][1] > 0.7  # trained-model claim: llama by step 1,000
for variant in models:
    assert results[variant]["IOI accuracy"] > 0.7 and results[variant]["two-hop accuracy"] > 0.75  # trained-model claim
assert results["gpt2"]["IOI accuracy"] > results["llama"]["IOI accuracy"] + 0.05  # trained-model claim
facts_llama = tables["llama"]["fact_accuracy_held_out_phrasings"]
assert facts_llama[-3] - facts_llama[-1] > 0.15  # trained-model claim: llama's facts fell in its last 1,000 steps
assert addition["moe"] < 0.15  # trained-model claim
assert results["moe"]["IOI accuracy"] > max(results["main"]["IOI accuracy"], results["gpt2"]["IOI accuracy"]) + 0.02  # trained-model claim
assert results["moe"]["facts accuracy"] > max(results[v]["facts accuracy"] for v in ("gpt2", "llama", "main")) + 0.05  # trained-model claim
moe_card = cards["moe"]["metrics"]
assert moe_card["ioi_accuracy_ABBA"] > 0.95 and moe_card["ioi_accuracy_BABA"] > 0.99  # trained-model claim
assert 0.02 < results["main"]["IOI validation"] - moe_card["validation_ioi_accuracy"] < 0.05  # trained-model claim: below
for variant in models:
    assert results[variant]["two-hop validation"] > results["main"]["two-hop validation"] + 0.05  # trained-model claim
    assert at_4000[variant]["two-hop validation"] > at_4000["main"]["two-hop validation"]  # trained-model claim
main_4000 = at_4000["main"]  # the main model at the variants' tokens: among them on IOI and facts, ...
ioi_4000, two_hop_4000 = ([at_4000[v][key] for v in models] for key in ("IOI accuracy", "two-hop accuracy"))
assert min(ioi_4000) <= main_4000["IOI accuracy"] < at_4000["gpt2"]["IOI accuracy"]  # trained-model claim
assert at_4000["llama"]["facts accuracy"] < main_4000["facts accuracy"] < min(at_4000[v]["facts accuracy"]
                                                                              for v in ("gpt2", "moe"))  # trained-model claim
assert main_4000["two-hop accuracy"] < min(two_hop_4000)  # trained-model claim: ... below all three on two-hop
assert main_at[3000]["addition_held_out_accuracy"] < 0.1 < 0.7 < main_4000["addition accuracy"] < 0.8  # trained-model claim
assert max(at_4000[v]["addition accuracy"] for v in ("gpt2", "moe")) < 0.2  # trained-model claim: far ahead of these two
assert main_at[7000]["addition_held_out_accuracy"] > 0.95  # trained-model claim

# %% [markdown]
# All three learned IOI and two-hop recall on held-out data: IOI at 77% to 98%, two-hop recall at
# 78% to 88%. The main model at the same 16.4M tokens was in the same range for IOI: 87%, below
# gpt2's 88% and the mixture's 99% on the quick set, above the Llama-style model's 78%. Its two-hop
# recall, 76%, was below all three. With 2.5 times the tokens its shipped weights reach 95% and
# 93%. On the validation two-hop phrasings all three variants beat it, at step 4,000 (30-39%
# against 12%) and at its end (19%). The mixture of experts is the best at IOI: 98% on held-out
# sentence structures (ABBA 97%, BABA 99.6%), above even the main model's final 95%, which took
# 2.5 times its tokens; on the validation set its 89% is below the main model's 92%. It is
# also the best of the three at facts in new phrasings (75%). There the main model's figures (57%
# at step 4,000, between the Llama-style model's 48% and gpt2's 68%; 64% at its end) are on the
# same questions, but it learned its facts from v4's rebuilt fact sentences, so the comparison is
# of two corpora as much as of two models.
#
# Addition splits them. The Llama-style model adds 99% of the held-out sums and already had 78%
# by step 1,000 (4.1M tokens); gpt2 ends at 19%, the mixture of experts at 8%. Adding two-digit
# numbers means reading digits at fixed distances back (the other number's ones digit is always
# the same number of tokens away), and rotary attention sees distances directly. gpt2's design can
# learn it too: the main model added 2.5% of the held-out sums at step 3,000 and 75.5% at step
# 4,000, far ahead of gpt2 and the mixture at the same tokens, though 3,000 steps after the
# Llama-style model got there. It reached 95.5% at step 7,000, and its shipped weights add all of
# them. It learned to add in the same 1,000 steps in which its induction circuit formed (section
# 8), with its learning rate still high. Facts in new phrasings and IOI are where the Llama-style
# model is weakest, and its facts fell in its last 1,000 steps (0.69 to 0.48 on the quick set),
# the steps in which its held-out loss rose.
#
# Accuracy says *that*; patching says *how*. Chapter 05 found the main model's IOI circuit by
# patching each head's output from the corrupted prompts (S2 replaced by the IO name, so the answer
# flips) into the clean run: one layer-2 head, L2H0, restores about nine tenths of the logit
# difference alone. It looks from the last token at S2, the repeated subject, and writes against
# that name (a copy-suppression head). The same measurement on each variant, and on the main model
# again, on the same prompts, with where each model's top head looks from the last token:

# %%
batch = ioi.ioi_batch(gpt2, n=60, seed=0)  # the classic frame, name pairs never seen together
ld = lambda lg: metrics.logit_diff(lg, batch.io, batch.s)  # noqa: E731 - the course's logit difference
head_effects, to_s2 = {}, {}  # to_s2: the top head's attention from the last token to S2
rows = torch.arange(len(batch.items))
with torch.no_grad():
    for variant, m in {**models, "main": main_model}.items():
        clean_ld, corrupted_ld = ld(m(batch.clean)).item(), ld(m(batch.corrupted)).item()
        head_effects[variant] = patching.patch_heads(m, batch.clean, batch.corrupted,
                                                     patching.normalised(ld, clean_ld, corrupted_ld))
        layer, head = divmod(int(head_effects[variant].argmax()), m.cfg.n_heads)
        _, run = m.run_with_cache(batch.clean, names_filter=f"blocks.{layer}.attn.hook_pattern")
        to_s2[variant] = run["pattern", layer][rows, head, -1, batch.positions["S2"]].mean().item()
fig = make_subplots(rows=1, cols=4, subplot_titles=list(models) + ["main (v4, 41M tokens)"], shared_yaxes=True)
for i, (variant, effects) in enumerate(head_effects.items()):
    fig.add_trace(go.Heatmap(z=effects.numpy(), zmin=-1, zmax=1, colorscale="RdBu", showscale=i == 3,
                             colorbar_title="restored"), row=1, col=i + 1)
    fig.update_xaxes(title_text="head", row=1, col=i + 1)
    top = effects.flatten().topk(3)
    print(f"{variant:>6}: " + ", ".join(f"L{int(j) // effects.shape[1]}H{int(j) % effects.shape[1]} {x:.2f}"
                                        for x, j in zip(top.values.tolist(), top.indices))
          + f"; the top head's attention from the last token to S2 {to_s2[variant]:.2f}")
fig.update_yaxes(title_text="layer", autorange="reversed", row=1, col=1)
fig.update_layout(title="Share of the IOI logit difference each head restores (patching its output)", height=300)
fig

# %%
llama_top = head_effects["llama"].flatten().topk(2).values
assert llama_top[0] > 0.8 and llama_top[1] < 0.2  # trained-model claim: one late head carries llama's IOI ...
assert head_effects["llama"].flatten().argmax() // llama.cfg.n_heads == 3  # trained-model claim: ... in layer 3
gpt2_early = head_effects["gpt2"][:2].flatten().topk(2).values
assert gpt2_early.min() > 0.25 and head_effects["gpt2"][3].max() < 0.3  # trained-model claim: gpt2's sits early
moe_top = head_effects["moe"].flatten().topk(2)
assert moe_top.values[0] > 0.75 and int(moe_top.indices[0]) // moe.cfg.n_heads == 2  # trained-model claim: one layer-2 head
main_top = head_effects["main"].flatten().topk(2)
assert divmod(int(main_top.indices[0]), main_model.cfg.n_heads) == (2, 0)  # trained-model claim: the main model's L2H0 ...
assert main_top.values[0] > 0.85 and main_top.values[1] < 0.25  # trained-model claim: ... carries nine tenths
assert min(to_s2[v] for v in ("llama", "moe", "main")) > 0.95 and 0.5 < to_s2["gpt2"] < 0.6  # trained-model claim: at S2

# %% [markdown]
# The Llama-style model's IOI runs through one head, L3H0, which restores the whole logit
# difference by itself. The mixture of experts also leans on one head, L2H1 (0.87), a layer
# earlier, and so does the main model: L2H0 (0.91; L1H2 the other 0.09). gpt2, trained on the same
# data in the same order, spreads it over early heads: L0H2 and L1H3 restore about a half and a
# third. The heads differ, but not in where they look: from the last token, the top head of the
# Llama-style model, of the mixture and of the main model each attends to S2, the repeated
# subject (0.96 to 0.99), and not to IO; gpt2's L0H2 gives S2 about half its attention (0.54).
# None of these top heads copies the right name to the end. The same task and the same data gave
# different circuits that share this step. The same design need not give the same circuit either:
# gpt2 *is* the main model's design, yet the main model, trained 2.5 times as long on v4 (whose
# IOI sentences are v3's), ended with one head of layer 2 doing nine tenths of the job, where gpt2
# uses two early heads; and chapter 05 notes that the main model's recipe, run from another seed,
# put that head in layer 3. With one run of each, we cannot tell how much of a difference is the
# architecture and how much the run. (Patching a head's output measures how much of the
# difference flows through it. An early head near S2 can carry "which name is repeated" onward for
# later layers to use; path patching, as in chapter 05, would tell these routes apart.)
#
# Where is the state carried, on the way from a city to its capital? Chapter 02 read, for
# tinyworld, the sites of the residual stream from which a linear probe reads the city's state,
# and where adding "state B minus state A" makes the model answer B's capital. The cards ran the
# same search (`course.two_hop.locate_state`) on each variant: probes trained on training cities,
# scored on held-out ones, at the city's token and at the question's last token, before each layer.
# The main model's card has the same search on its shipped weights (grey).

# %%
state_cards = {**cards, "main": main}
sites = list(cards["gpt2"]["metrics"]["two_hop_state"]["probe_accuracy_by_site"])
fig = go.Figure([go.Bar(name=variant, x=[s.replace("blocks.", "L").replace(".hook_", " ") for s in sites],
                        y=[card["metrics"]["two_hop_state"]["probe_accuracy_by_site"][s] for s in sites],
                        marker_color=COLOURS[variant]) for variant, card in state_cards.items()])
fig.update_layout(title="Probe accuracy for the state, by site (held-out cities)", barmode="group", height=330,
                  yaxis_title="probe accuracy", yaxis_range=[0, 1])
probe = {variant: card["metrics"]["two_hop_state"]["probe_accuracy_by_site"] for variant, card in state_cards.items()}
for variant, card in state_cards.items():
    state = card["metrics"]["two_hop_state"]
    swapped = "no site where a probe reads the state"
    if "site" in state:
        swaps = state["swap_by_phrasing"].values()
        swapped = f"swapped at {state['site']}: the other capital in {min(swaps):.0%} to {max(swaps):.0%} of prompts"
    print(f"{variant:>6}: before layer 1, city {probe[variant]['blocks.1.hook_resid_pre@city']:.2f} / last "
          f"{probe[variant]['blocks.1.hook_resid_pre@last']:.2f}; before layer 3, city "
          f"{probe[variant]['blocks.3.hook_resid_pre@city']:.2f} / last {probe[variant]['blocks.3.hook_resid_pre@last']:.2f}; "
          + swapped)
fig

# %%
assert probe["gpt2"]["blocks.1.hook_resid_pre@last"] > 0.95  # trained-model claim: gpt2 moves it to the end by layer 1
assert probe["llama"]["blocks.3.hook_resid_pre@last"] < 0.4  # trained-model claim: llama keeps it at the city ...
assert min(probe["llama"][f"blocks.{layer}.hook_resid_pre@city"] for layer in (1, 2, 3)) > 0.9  # trained-model claim
assert probe["moe"]["blocks.1.hook_resid_pre@last"] > 0.85 > 0.7 > probe["moe"]["blocks.1.hook_resid_pre@city"]  # trained-model claim
main_last = [probe["main"][f"blocks.{layer}.hook_resid_pre@last"] for layer in (1, 3)]
assert 0.85 < min(main_last) and max(main_last) < 0.95  # trained-model claim: the main model, at the end from layer 1 on ...
assert 0.75 < probe["main"]["blocks.1.hook_resid_pre@city"] < 0.85  # trained-model claim: ... and still at the city

# %% [markdown]
# In gpt2 a probe reads the state at the question's last token from layer 1 on (0.99): layer 0's
# attention moves the city's state to the end of the question. The mixture of experts does the
# same, less cleanly (0.90 at the last token before layer 1). In the Llama-style model it stays at
# the city's token through layer 3 (0.94 to 0.99) and reaches the last token only in the last
# layer's output (0.77), where swapping it still changes the answer in most phrasings. The main
# model does what gpt2 does, less cleanly: a probe reads the state at the question's last token
# from layer 1 on (0.92, and still 0.88 before layer 3), while the city's token keeps it too (0.76
# before layer 1, 0.56 before layer 3). The intermediate hop is real in every model, and where it
# lives depends on the model: at the question's end in gpt2, the mixture and the main model, at
# the city in the Llama-style model.
#
# And the training tables: when did each behaviour appear? (Grey: the main model's raw weights,
# to step 5,000.)

# %%
fig = make_subplots(rows=1, cols=4, subplot_titles=["IOI accuracy", "two-hop accuracy", "addition accuracy",
                                                    "facts accuracy"])
for variant, t in tables.items():
    for col, key in enumerate(("ioi_accuracy", "two_hop_held_out_accuracy", "addition_held_out_accuracy",
                               "fact_accuracy_held_out_phrasings")):
        fig.add_trace(go.Scatter(x=t["step"], y=t[key], name=variant, legendgroup=variant, showlegend=col == 0,
                                 mode="lines+markers", line_color=COLOURS[variant]), row=1, col=col + 1)
for col, key in enumerate(("ioi_accuracy", "two_hop_held_out_accuracy", "addition_held_out_accuracy",
                           "fact_accuracy_held_out_phrasings")):
    fig.add_trace(go.Scatter(x=main_steps, y=[main_at[step][key] for step in main_steps], name="main (v4, raw)",
                             legendgroup="main", showlegend=col == 0, mode="lines+markers",
                             line=dict(color=COLOURS["main"], dash="dash")), row=1, col=col + 1)
fig.update_xaxes(title_text="step")
fig.update_layout(title="Held-out behaviours during training (quick sets; the main model to step 5,000)", height=340)
fig

# %% [markdown]
# ## 10. Which expert handles which tokens?
#
# A mixture of experts is often described as a team of specialists. Is it? Sort the held-out
# tokens into kinds (people's names, numbers, places, function words, punctuation, other words)
# and measure, in each layer, the share of each kind's routing that goes to each expert.

# %%
routing = routing_by_class(moe, text)
info = routing_information(moe, text)
print("tokens of each kind:", dict(zip(TOKEN_CLASSES, routing["count"].tolist())))
L = moe.cfg.n_layers
fig = make_subplots(rows=1, cols=L, subplot_titles=[f"layer {l}" for l in range(L)], shared_yaxes=True)
for l in range(L):
    fig.add_trace(go.Heatmap(z=routing["share"][l].numpy(), x=[f"E{e}" for e in range(moe.cfg.n_experts)],
                             y=list(TOKEN_CLASSES), zmin=0, zmax=1, colorscale="Blues", showscale=l == L - 1,
                             colorbar_title="share"), row=1, col=l + 1)
fig.update_yaxes(autorange="reversed")
fig.update_layout(title="Share of each kind of token's routing, by expert", height=330)
for l in range(L):
    favourite = routing["share"][l].max(-1)
    print(f"layer {l}: class -> expert information {info[l]:.2f} bits (of at most {math.log2(moe.cfg.n_experts):.0f}); "
          + ", ".join(f"{c} E{int(e)} {s:.2f}" for c, s, e in zip(TOKEN_CLASSES, favourite.values, favourite.indices)))
fig

# %%
share = routing["share"]  # [layer class expert]
numbers, names = TOKEN_CLASSES.index("number"), TOKEN_CLASSES.index("name")
common = [TOKEN_CLASSES.index("function word"), TOKEN_CLASSES.index("other word")]
assert (share[:, numbers].max(-1).values > 0.7).sum() >= 3  # trained-model claim: numbers go to one expert ...
assert share[1, names].max() > 0.9 and share[2, names].max() > 0.75  # trained-model claim: ... names in layers 1-2
assert share[:, common].max(-1).values.max() < 0.55  # trained-model claim: the common words spread out
assert (info > 0.25).all() and (info < 0.5).all()  # trained-model claim: the class tells part of the routing

# %% [markdown]
# The router does sort tokens by kind, partly. Numbers go mostly to one expert in three of the
# four layers (0.74, 0.94 and 0.72 of their routing in layers 0, 2 and 3), names to one expert in
# layers 1 and 2 (0.93 and 0.80). Function words and other words, the bulk of the text, are spread
# over experts. The information between a token's kind and its top expert is 0.28 to 0.46 bits, a
# seventh to a quarter of the 2 bits a perfect sorting into four would give. So "a specialist for
# numbers" is a fair description of one expert in layer 2; "an expert for each topic" is not. The
# experts also share: in layer 0 one expert takes the largest share of names, numbers, places and
# punctuation alike. Which expert matters for what is the open exercise `"expert_ablation"`.
#
# ## 11. Algorithmic progress, measured here
#
# Epoch AI's study of language-model pre-training (Ho et al. 2024) estimated that between 2012 and
# 2023 the compute needed to reach a given loss halved about every eight months, from better
# algorithms alone, on top of the growth of hardware. Architecture changes like the ones in this
# chapter are part of that; better data and training recipes are another. The same question,
# asked of our three models: how much training compute does each need to reach the loss another
# one reaches?
#
# A **compute multiplier** answers it: if the Llama-style model reaches gpt2's final held-out
# loss after a fraction f of gpt2's compute, its multiplier is 1/f ("worth 1/f times the compute").
# We read the crossing off the loss curves of section 7, interpolating between evaluations. Section
# 7 showed a complication: the Llama-style loss went down, then up. So we compute it twice, on the
# curves as measured, and on each curve's lowest loss so far (what a run stopped at its best
# evaluation would have).

# %%
curves = {variant: {"flops": [n * flops[variant] for n in t["tokens"]], "loss": t["held_out_loss"]}
          for variant, t in tables.items()}
best_so_far = {variant: {"flops": c["flops"], "loss": [min(c["loss"][: i + 1]) for i in range(len(c["loss"]))]}
               for variant, c in curves.items()}
multiplier = {variant: compute_multiplier(curves["gpt2"], curves[variant]) for variant in ("llama", "moe")}
multiplier_best = {variant: compute_multiplier(best_so_far["gpt2"], best_so_far[variant]) for variant in ("llama", "moe")}
for variant in multiplier:
    print(f"{variant}: {multiplier[variant]:.2f}x gpt2's training compute for the same final held-out loss; "
          f"{multiplier_best[variant]:.2f}x for the same lowest loss so far")

# %%
assert multiplier["llama"] < 0.8 < 1.2 < multiplier_best["llama"]  # trained-model claim: the two readings disagree
assert 1.0 < multiplier["moe"] == multiplier_best["moe"] < 1.15  # trained-model claim: the MoE about 1.06 either way

# %% [markdown]
# Read on the curves as measured, the Llama-style parts are worth about 0.65 times gpt2's compute:
# its final loss is one gpt2 had reached with two thirds of its compute. Read on the lowest loss so
# far, they are worth about 1.4 times: the Llama-style model reached gpt2's final loss with about
# 70% of gpt2's compute. Both are correct readings of the same two runs; they disagree because the
# Llama-style loss rose while its induction circuit formed. The mixture of experts, whose
# loss fell to the end, reads the same both ways: about 1.06 times gpt2's compute, for the same
# compute per token and twice the MLP parameters.
#
# Two more cautions. An intermediate point of a run is not a shorter run: its learning rate has
# not decayed yet, so its loss is higher than a run ending there would reach. And one small
# budget, one seed, one dataset: published comparisons fit scaling laws over many sizes and
# budgets, because an architecture's advantage can grow or shrink with scale. Held-out loss is
# also only one measure. On the behaviours of section 9 the Llama-style model's parts were worth
# far more than 1.4 times the compute for addition, and less than gpt2's for IOI and facts; the
# mixture of experts' were worth more than gpt2's for IOI and facts, and less for addition.
#
# ## Recap
#
# - RMSNorm divides by the root mean square and keeps the mean; RoPE turns queries and keys (never
#   values) by position, so scores depend on the distance between tokens; SwiGLU multiplies a
#   SiLU gate into a linear path. Grouped-query attention shares keys and values between query
#   heads; a mixture of experts routes each token to a few of several MLPs.
# - Each is an option of the course's model, with the same hooks, so every tool of the course
#   reads every variant.
# - Trained on the same 16.4M tokens, all three learned IOI (77-98% on held-out sentence
#   structures) and two-hop recall (78-88% for held-out cities), and all three were in the middle
#   of forming induction heads when their runs ended (in-context gain 0.4-0.9 nats, best head
#   below 0.5). The main model's gain appeared in the same 1,000 steps, but on TinyWorld v4 and
#   with its learning rate still high it had all but finished the circuit by the same tokens
#   (6.84 nats). The circuits emerge in every architecture; *which* circuit, and when, differs.
# - The Llama-style model formed a sharp previous-token head first (0.96 against gpt2's 0.39),
#   learned addition by step 1,000 while gpt2 never did (99% against 19%), carried the two-hop
#   state at the city's token rather than at the question's end, and ran IOI through one late
#   head, where gpt2 spread it over early heads (the main model, after 2.5 times the tokens,
#   uses one head of layer 2, as the mixture does); each of these single heads looks from the
#   last token at the repeated subject. The mixture of experts was the best at IOI (98%) and
#   facts (75%) and the worst at addition (8%), and its router sends numbers and names, not
#   common words, to experts of their own.
# - Quality per unit of compute is a measurable thing: a compute multiplier, read off loss curves,
#   is how the field measures algorithmic progress. Here it depends on where you read it (0.65x or
#   1.4x for the Llama-style parts), which is why published estimates fit many runs.
#
# ## Further reading
#
# - Zhang & Sennrich (2019), *Root Mean Square Layer Normalization*.
# - Su et al. (2021), *RoFormer: Enhanced Transformer with Rotary Position Embedding*.
# - Shazeer (2020), *GLU Variants Improve Transformer*.
# - Ainslie et al. (2023), *GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
#   Checkpoints*.
# - Fedus, Zoph & Shazeer (2022), *Switch Transformers*; Jiang et al. (2024), *Mixtral of Experts*
#   (section 5 there looks at what its router does with tokens, as section 10 does here).
# - Ho et al. (2024), *Algorithmic Progress in Language Models*.
# - Sebastian Raschka (2025), *From GPT-2 to gpt-oss: Analyzing the Architectural Advances*.
# - Olsson et al. (2022), *In-context Learning and Induction Heads*: the phase change in which
#   induction heads form, in models small and large.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer:
# `reveal("expert_ablation")` and so on prints its code (each runs in seconds).
#
# 1. **Remove an expert** (`"expert_ablation"`). Set one expert's gate to 0 in every layer (a hook on
#    `hook_gates`) and measure the loss on each kind of token. Does removing the expert that gets
#    the most numbers hurt numbers most?
# 2. **Does gpt2 need its LayerNorm?** (`"layernorm_as_rmsnorm"`). Replace every LayerNorm of
#    `tinyworld-gpt2` by RMSNorm with the same gain (no centring, no bias) without retraining. How
#    much does the loss change, and how big is the mean of the residual stream next to its size?
# 3. **What grouped keys save** (`"kv_cache"`). Measure the KV cache of each variant for a full
#    context (`course.kv_cache.KVCache.for_model(model, batch=1).n_bytes`) and the time per
#    generated token. Is the Llama-style model faster to generate from at this size? When would it be?

# %%
# Your exploration here. Then, for example: reveal("expert_ablation")

# %%
progress()
