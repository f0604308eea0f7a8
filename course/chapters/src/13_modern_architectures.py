# %% [markdown]
# # Chapter 13: Emergent circuits and modern architectures
#
# **Time:** about 50 minutes. **You will:**
#
# - write the three parts a modern open model (Llama, Mistral, gpt-oss...) swaps into GPT-2's
#   design: **RMSNorm**, **rotary position embeddings** (RoPE) applied to queries and keys, and the
#   gated **SwiGLU** MLP, and check each against the course's model;
# - see **grouped-query attention** and a **mixture of experts** at work in the same model;
# - compare three models trained on the same TinyWorld text with the same small budget:
#   GPT-2-style, Llama-style and mixture-of-experts, on everything this course has measured:
#   held-out loss, induction heads (and whether they formed), indirect object identification,
#   two-hop recall and addition;
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
# seed, token budget and schedule. The budget is small (each trains in minutes on a CPU), and that
# turns out to be part of the answer.
#
# Everything runs on the CPU in about a minute.

# %%
import math

import plotly.graph_objects as go
import torch
import torch.nn.functional as F  # noqa: F401 - the exercises' F.silu
from plotly.subplots import make_subplots

from course import evaluate, sae, variants, zoo
from course.exercises import check, hint, progress, reveal
from solutions.ch13_architectures import (TOKEN_CLASSES, VARIANT_MODELS, compute_multiplier, first_step_over,
                                          routing_by_class, routing_information, training_flops_per_token,
                                          training_table)

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
# budget is small, a fraction of the main tinyworld's, so that each trains in minutes on a CPU.

# %%
same = ["steps", "batch_size", "seq_len", "lr", "warmup_steps", "seed", "data_seed"]
recipe = cards["gpt2"]["recipe"]
for variant, card in cards.items():
    assert all(card["recipe"][k] == recipe[k] for k in same), variant  # the same training for all three
    assert card["data"] == cards["gpt2"]["data"]
tokens = cards["gpt2"]["data"]["tokens_seen"]
main = zoo.card("tinyworld")
print(f"each: {recipe['steps']:,} steps of {recipe['batch_size']} x {recipe['seq_len']} tokens = {tokens / 1e6:.1f}M "
      f"tokens, peak learning rate {recipe['lr']}, the same data in the same order "
      f"(the main tinyworld: {main['data']['tokens_seen'] / 1e6:.0f}M tokens)")
for variant, card in cards.items():
    print(f"{variant:>6}: {flops[variant] * tokens / 1e12:.1f} TFLOPs of training, "
          f"{card['training_seconds'] / 60:.1f} min on one CPU thread")
seconds = {variant: card["training_seconds"] for variant, card in cards.items()}
assert seconds["moe"] > max(seconds["gpt2"], seconds["llama"])  # trained-model claim: the MoE took longest

# %% [markdown]
# Equal FLOPs, but not equal time: the mixture of experts took the longest to train. On a CPU,
# routing costs more than its arithmetic (each expert gathers its tokens, runs, and scatters them
# back), and at this size that overhead dominates. Large models amortise it over far bigger
# matrices; the FLOP count is the fair measure of compute, and it is what we compare.
#
# ## 7. Held-out loss at equal compute
#
# The most basic measure: next-token loss on text no model trained on, measured during training
# (each card's `evals_during_training`), against the training compute spent so far.

# %%
KEYS = ("held_out_loss", "max_induction_score", "max_previous_token_score", "repeat_loss_gap", "ioi_accuracy",
        "ioi_logit_diff", "two_hop_held_out_accuracy", "addition_held_out_accuracy")
tables = {variant: training_table(card, KEYS) for variant, card in cards.items()}
COLOURS = {"gpt2": "#636efa", "llama": "#ef553b", "moe": "#00cc96"}
fig = go.Figure()
for variant, t in tables.items():
    fig.add_trace(go.Scatter(x=[n * flops[variant] for n in t["tokens"]], y=t["held_out_loss"], name=variant,
                             mode="lines+markers", line_color=COLOURS[variant]))
fig.update_layout(title="Held-out loss against training compute", xaxis_title="training FLOPs", xaxis_type="log",
                  yaxis_title="held-out loss (nats)", height=360)
final = {variant: card["metrics"]["held_out_loss"] for variant, card in cards.items()}
print("final held-out loss:", {variant: round(v, 3) for variant, v in final.items()},
      f"(the main tinyworld, {main['data']['tokens_seen'] / tokens:.0f}x the tokens: "
      f"{main['metrics']['held_out_loss']:.3f})")
fig

# %% [markdown]
# %%
assert final["llama"] < final["gpt2"] - 0.02  # trained-model claim: the Llama-style model ends lowest ...
assert abs(final["moe"] - final["gpt2"]) < 0.05  # trained-model claim: ... the MoE close to gpt2
assert min(final.values()) > main["metrics"]["held_out_loss"] + 0.4  # trained-model claim: all far from the main model
llama_curve = tables["llama"]["held_out_loss"]
print("Llama-style held-out loss along its run:", [round(v, 2) for v in llama_curve])
assert max(llama_curve[2:]) > llama_curve[1]  # trained-model claim: one evaluation jumps above the trend

# %% [markdown]
# At the same compute the Llama-style model ends lowest, the mixture of experts in between, gpt2
# highest; but the gaps are a few hundredths of a nat, and the main tinyworld, with 15 times the
# tokens, is far below all three. The Llama-style curve also shows a jump: one evaluation in the
# middle of its run is well above the ones before and after. A high learning rate (this recipe's
# is 3e-3, to move fast in a short run) can throw a model briefly off course; it recovered, but a
# single run's curve is noisy, which matters in section 11.
#
# ## 8. Induction heads: did they form?
#
# Chapter 04's test: a sequence of random tokens, repeated. An induction head attends from the
# second copy of a token to the token that followed its first copy. Here are the induction scores
# of every head of the three trained models, measured now.

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
for variant, s in scores.items():
    layer, head = divmod(int(s["induction"].argmax()), s["induction"].shape[1])
    prev = s["previous_token"].max().item()
    print(f"{variant:>6}: best induction head L{layer}H{head} {best[variant]:.2f} (card: "
          f"{cards[variant]['metrics']['max_induction_score']:.2f}); best previous-token head {prev:.2f}")
    assert abs(best[variant] - cards[variant]["metrics"]["max_induction_score"]) < 1e-4  # the card, measured again
fig

# %% [markdown]
# When did they form? The cards measured the best head's induction score, the best previous-token
# score and the in-context gain (loss on the first copy minus loss on the second) every few hundred
# steps.

# %%
fig = make_subplots(rows=1, cols=3, subplot_titles=["best induction score", "best previous-token score",
                                                    "in-context gain (nats)"])
for variant, t in tables.items():
    for col, key in enumerate(("max_induction_score", "max_previous_token_score", "repeat_loss_gap")):
        fig.add_trace(go.Scatter(x=t["step"], y=t[key], name=variant, legendgroup=variant, showlegend=col == 0,
                                 mode="lines+markers", line_color=COLOURS[variant]), row=1, col=col + 1)
fig.update_xaxes(title_text="step")
fig.update_layout(title="When induction forms", height=340)
formed = {variant: first_step_over(t["step"], t["max_induction_score"], 0.5) for variant, t in tables.items()}
print("first step with an induction head scoring above 0.5:", formed)
assert max(best.values()) < 0.1  # trained-model claim: no variant has an induction head
previous = max(s["previous_token"].max().item() for s in scores.values())
assert previous < 0.3  # trained-model claim: no clear previous-token head either
assert max(max(t["repeat_loss_gap"]) for t in tables.values()) < 0.1  # trained-model claim: nor any in-context gain
fig

# %% [markdown]
# None of the three formed an induction head. The best head of each scores a few hundredths (a
# real induction head scores near 1), and the loss on the second copy of a random sequence is no
# lower than on the first: no in-context copying at all. Previous-token heads, the first half of
# the circuit (chapter 04), had only begun to form.
#
# That is not a verdict on the architectures but on the budget. The main tinyworld model, the
# gpt2 design trained for far longer, recorded the same measure every 1,000 steps on its card:

# %%
main_table = main["evals_during_training"]
per_step_main = main["recipe"]["batch_size"] * main["recipe"]["seq_len"]
before = max(r["step"] for r in main_table if r["repeat_loss_gap"] < 0.5)
after = min(r["step"] for r in main_table if r["repeat_loss_gap"] > 5)
print(f"main tinyworld: in-context gain below 0.5 nats up to step {before:,} ({before * per_step_main / 1e6:.1f}M "
      f"tokens), above 5 nats from step {after:,} ({after * per_step_main / 1e6:.1f}M tokens); the variants stopped "
      f"at {tokens / 1e6:.1f}M tokens")
assert before * per_step_main > 4 * tokens  # trained-model claim: induction came far later than this budget

# %% [markdown]
# Induction heads appeared in the main model only after several times the variants' whole
# budget, and then abruptly (chapter 07's phase change). Circuits emerge, but at a price in
# tokens, and a run that stops before it shows none of them, whatever its architecture.
#
# ## 9. IOI, two-hop recall, addition
#
# Now the behaviours of chapters 05, 02 and 12, on held-out data as always: IOI on sentence
# structures the corpus never uses, about name pairs never seen together; the capital of the
# state of a city never seen next to its capital; sums of operand pairs held out of training.
# Measured now, and checked against the cards.

# %%
results = {}
for variant, m in models.items():
    ioi_m = evaluate.ioi_metrics(m, n=500)
    results[variant] = {"IOI accuracy": ioi_m["ioi_accuracy"], "IOI logit diff": ioi_m["ioi_logit_diff"],
                        "two-hop accuracy": evaluate.two_hop_accuracy(m),
                        "addition accuracy": evaluate.addition_accuracy(m)}
    card = cards[variant]["metrics"]
    for key, card_key in (("IOI accuracy", "ioi_accuracy"), ("two-hop accuracy", "two_hop_held_out_accuracy"),
                          ("addition accuracy", "addition_held_out_accuracy")):
        assert abs(results[variant][key] - card[card_key]) < 1e-4, (variant, key)  # the card, measured again
print(f"{'':>6}" + "".join(f"{k:>20}" for k in results["gpt2"]))
for variant, r in results.items():
    print(f"{variant:>6}" + "".join(f"{v:>20.3f}" for v in r.values()))
fig = make_subplots(rows=1, cols=4, subplot_titles=list(results["gpt2"]))
for col, key in enumerate(results["gpt2"]):
    fig.add_trace(go.Bar(x=list(results), y=[r[key] for r in results.values()],
                         marker_color=[COLOURS[v] for v in results], showlegend=False), row=1, col=col + 1)
fig.update_layout(title="Held-out behaviours of the three variants", height=320)
fig

# %%
for variant, r in results.items():
    assert 0.4 < r["IOI accuracy"] < 0.6 and abs(r["IOI logit diff"]) < 0.2  # trained-model claim: IOI at chance
    assert r["two-hop accuracy"] < 0.1  # trained-model claim: no two-hop recall
addition = {variant: r["addition accuracy"] for variant, r in results.items()}
assert addition["llama"] > 0.06  # trained-model claim: the Llama-style model adds a few held-out sums ...
assert max(addition["gpt2"], addition["moe"]) < 0.03  # trained-model claim: ... the other two almost none

# %% [markdown]
# Mostly the same story. IOI is at chance (half right, a logit difference near 0): the models
# have not learned that the repeated name is the wrong answer. With no logit difference to carry,
# there are no IOI heads for patching to find: a head's patching effect is its share of a
# difference, and the difference is not there. Two-hop recall is almost never right. Addition is
# the one exception, and a small one: the Llama-style model gets a few held-out sums right (the
# table above), the other two about one in a hundred. Its curve in the training tables below
# rises towards the end of its run: the beginning of something, not yet a mechanism.
#
# Where is the state carried? Chapter 02 found, for tinyworld, the sites of the residual stream
# from which a linear probe reads the city's state, and where adding "state B minus state A"
# makes the model answer B's capital. The cards ran the same search (`course.two_hop.locate_state`)
# on each variant: probes trained on training cities, scored on held-out ones.

# %%
sites = list(cards["gpt2"]["metrics"]["two_hop_state"]["probe_accuracy_by_site"])
fig = go.Figure([go.Bar(name=variant, x=[s.replace("blocks.", "L").replace(".hook_", " ") for s in sites],
                        y=[card["metrics"]["two_hop_state"]["probe_accuracy_by_site"][s] for s in sites],
                        marker_color=COLOURS[variant]) for variant, card in cards.items()])
fig.update_layout(title="Probe accuracy for the state, by site (held-out cities)", barmode="group", height=330,
                  yaxis_title="probe accuracy", yaxis_range=[0, 1])
for variant, card in cards.items():
    state = card["metrics"]["two_hop_state"]
    if "site" in state:
        swaps = state["swap_by_phrasing"].values()
        print(f"{variant:>6}: best site {state['site']}, probe {state['probe_accuracy']:.2f}, swapping the state "
              f"there gives the other capital in {min(swaps):.0%} to {max(swaps):.0%} of prompts, by phrasing")
    else:
        best_probe = max(state["probe_accuracy_by_site"].values())
        print(f"{variant:>6}: no site where a probe reads the state (best {best_probe:.2f})")
    assert max(state["probe_accuracy_by_site"].values()) < 0.5  # trained-model claim: nowhere, in any variant
fig

# %% [markdown]
# No site of any variant holds a readable state for cities it has not seen with their capital.
# And the training tables: did any behaviour start to appear?

# %%
fig = make_subplots(rows=1, cols=3, subplot_titles=["IOI accuracy", "two-hop accuracy", "addition accuracy"])
for variant, t in tables.items():
    for col, key in enumerate(("ioi_accuracy", "two_hop_held_out_accuracy", "addition_held_out_accuracy")):
        fig.add_trace(go.Scatter(x=t["step"], y=t[key], name=variant, legendgroup=variant, showlegend=col == 0,
                                 mode="lines+markers", line_color=COLOURS[variant]), row=1, col=col + 1)
fig.update_xaxes(title_text="step")
fig.update_layout(title="Held-out behaviours during training (quick sets)", height=340)
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
assert (share[:, numbers].max(-1).values > 0.8).sum() >= 3  # trained-model claim: numbers go to one expert ...
assert share[0, names].max() > 0.8  # trained-model claim: ... and so do names, in layer 0
assert share[:, common].max(-1).values.max() < 0.55  # trained-model claim: the common words spread out
assert (info > 0.3).all() and (info < 1).all()  # trained-model claim: the class tells part of the routing

# %% [markdown]
# The router does sort tokens by kind, partly. Numbers go almost entirely to one expert in three of
# the four layers, and names to one expert in layer 0. Function words and other words, the bulk of
# the text, are spread over experts. The information between a token's kind and its top expert
# is a fifth to a quarter of the 2 bits a perfect sorting into four would give. So "a specialist
# for numbers" is a fair description of one expert here; "an expert for each topic" is not. The
# experts also share: in layer 0 the expert that takes the numbers takes most places too. Which
# expert matters for what is the open exercise `"expert_ablation"`.
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
# We read the crossing off the loss curves of section 7, interpolating between evaluations.

# %%
curves = {variant: {"flops": [n * flops[variant] for n in t["tokens"]], "loss": t["held_out_loss"]}
          for variant, t in tables.items()}
multiplier = {variant: compute_multiplier(curves["gpt2"], curves[variant]) for variant in ("llama", "moe")}
for variant, value in multiplier.items():
    print(f"{variant}: {value:.2f}x gpt2's training compute for the same held-out loss")

# %%
assert multiplier["llama"] > 1.15  # trained-model claim: the Llama-style model is worth more compute ...
assert 0.9 < multiplier["moe"] < 1.15  # trained-model claim: ... the MoE about the same as gpt2

# %% [markdown]
# The Llama-style model reached gpt2's final loss with about three quarters of gpt2's compute: its
# parts are "worth" about 1.3 times the compute, at this size and budget. The mixture of experts
# is worth about as much as gpt2, for the same compute per token and twice the MLP parameters.
#
# Two cautions before reading much into these numbers. First, an intermediate point of a run is
# not a shorter run: its learning rate has not decayed yet, so its loss is higher than a run
# ending there would reach; the multipliers come from one run each. Second, one small budget, one
# seed, one dataset: published comparisons fit scaling laws over many sizes and budgets, because
# an architecture's advantage can grow or shrink with scale. (The jump in the Llama-style curve
# sits just before its crossing, so its multiplier rests on one interval of one run.)
#
# ## Recap
#
# - RMSNorm divides by the root mean square and keeps the mean; RoPE turns queries and keys (never
#   values) by position, so scores depend on the distance between tokens; SwiGLU multiplies a
#   SiLU gate into a linear path. Grouped-query attention shares keys and values between query
#   heads; a mixture of experts routes each token to a few of several MLPs.
# - Each is an option of the course's model, with the same hooks, so every tool of the course
#   reads every variant.
# - Trained on the same data with the same small budget (2.7M tokens of text), none of the three
#   formed an induction head, learned IOI, two-hop recall or addition: circuits emerge only after
#   enough training, and the main tinyworld needed several times this budget before its induction
#   heads appeared. Whether each architecture grows the *same* circuits is a question for longer
#   runs; the tools of this chapter would answer it unchanged.
# - What the budget did show is loss and routing: the Llama-style model ends with the lowest
#   held-out loss at equal compute, and the MoE's router sends numbers, and names early on, to one
#   expert each while spreading common words.
# - Quality per unit of compute is a measurable thing: a compute multiplier, read off loss curves,
#   is how the field measures algorithmic progress; here the Llama-style parts are worth about 1.3
#   times the compute of GPT-2's, the mixture of experts about 1.
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
