# %% [markdown]
# # Chapter 10: Sparse autoencoders and steering
#
# **Time:** about 60 minutes. **You will:**
#
# - write the pieces of a *sparse autoencoder* (SAE): the encoder, the top-k activation, the
#   loss, the decoder constraint, and the three numbers everyone reports about an SAE (L0,
#   variance explained, cross-entropy loss recovered);
# - train a small SAE on tinyworld's residual stream for a few seconds and compare it with the
#   shipped one, measured live;
# - read a *feature dashboard*: the contexts where a feature fires most, and the tokens its
#   direction promotes and suppresses;
# - find the features that stand for TinyWorld's five landmarks;
# - *steer* the model with one of them, measure how often the text turns to that landmark, and
#   see where too much steering breaks the text.
#
# Chapter 09 ended with a problem: a model stores more features than it has dimensions, as
# directions that are not orthogonal, so single neurons and single residual dimensions are
# polysemantic. An SAE is a way to take the superposition apart *after* training. It learns a
# dictionary of many more directions than the residual stream has dimensions, and rewrites each
# activation as a **sparse, non-negative** combination of them. If the dictionary is good, each
# direction (a *feature*) means one thing, and only a few fire on any token.
#
# Everything runs on the CPU: `tinyworld` (d_model = 128) and its shipped SAE, `tinyworld-sae`
# (1024 features, trained on layer 2's residual stream).

# %%
import torch
import torch.nn.functional as F

from course import sae as S
from course import evalsets, zoo
from course.exercises import check, hint, progress, reveal
from course.features import FeatureStore, landmark_features
from course.steering import steering_directions, steering_experiment
from widgets import FeatureSteering, TokenView

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
shipped = zoo.load("tinyworld-sae")  # the shipped SAE (a course.sae.SAE); its card is shipped.card
print(shipped.card["description"])
print("config:", shipped.cfg)

# %% [markdown]
# ## 1. The encoder
#
# An SAE reads an activation x (here the residual stream after block 2, `blocks.2.hook_resid_post`)
# and writes back a reconstruction x_hat:
#
# - **encode:** f = ReLU((x - b_dec) @ W_enc + b_enc), one non-negative number per feature;
# - **decode:** x_hat = f @ W_dec + b_dec.
#
# Shapes: x is `[batch d_in]`, `W_enc [d_in d_sae]`, `W_dec [d_sae d_in]`, whose **rows** are the
# feature directions (papers that write the decoder as a d_in x d_sae matrix call them its
# columns: same thing, transposed). The decoder bias b_dec is subtracted before encoding: it is the "typical"
# activation, and the features describe how x differs from it. Write the encoder.

# %% [exercise] sae_encode
check(sae_encode)

# %% [markdown]
# With a ReLU alone, sparsity has to come from a penalty in the loss (section 2). The shipped
# SAE instead uses a **top-k** activation (Gao et al. 2024): keep the k largest positive
# pre-activations of each token and zero the rest, so exactly (at most) k features fire on every
# token and the sparsity is chosen, not tuned. Write it.

# %% [exercise] topk_activation
check(topk_activation)

# %% [markdown]
# Your two functions are exactly what `course.sae.SAE.encode` does for the shipped SAE (top-k,
# k = 32). Check them against it on real activations:

# %%
acts_small = S.collect_activations(model, shipped.cfg.hook_name, 2_000, seed=2)  # [n d_in]
with torch.no_grad():
    pre = sae_encode(acts_small, shipped.W_enc, shipped.b_enc, shipped.b_dec)  # ReLU only
    mine = topk_activation(pre, shipped.cfg.k)
    torch.testing.assert_close(mine, shipped.encode(acts_small))
print(f"{acts_small.shape[0]} activations of width {acts_small.shape[1]} -> {mine.shape[1]} features, "
      f"{(mine > 0).sum(-1).float().mean():.1f} active per token")

# %% [markdown]
# ## 2. The loss and the decoder constraint
#
# A ReLU SAE is trained to reconstruct x while keeping f sparse:
#
# loss = ||x - x_hat||^2 + lambda * sum_i f_i ||W_dec[i]||
#
# The L1 penalty (the sum of the |f_i|) pushes small features to exactly zero. Each f_i is
# weighted by the norm of its decoder row: otherwise the SAE could shrink f and grow W_dec to
# the same effect, and escape the penalty without becoming any sparser.

# %% [exercise] sae_loss
check(sae_loss)

# %% [markdown]
# The common alternative (used by `course.sae`, and by the top-k SAE, where there is no penalty
# to escape) is to keep every decoder row at **unit norm**, putting it back after each optimizer
# step. Then a feature's size lives in f alone, and the strength of a steering vector (section 6)
# is in the residual stream's own units.

# %% [exercise] normalize_decoder
check(normalize_decoder)

# %%
torch.testing.assert_close(shipped.W_dec.norm(dim=-1), torch.ones(shipped.cfg.d_sae))
torch.testing.assert_close(normalize_decoder(shipped.W_dec.detach()), shipped.W_dec.detach())
print("the shipped SAE's 1024 decoder rows all have unit norm")

# %% [markdown]
# ## 3. How good is an SAE? Three numbers
#
# An SAE trades sparsity against reconstruction, and papers report both:
#
# - **L0:** how many features are active per token, on average (smaller is sparser, easier to read);
# - **variance explained:** 1 - (sum of squared errors) / (sum of squared distances from the mean
#   activation). Predicting the mean scores 0; a perfect reconstruction scores 1;
# - **CE loss recovered:** splice x_hat into the model in place of x and measure the next-token
#   loss. 1 means the model loses nothing; 0 means it is as bad as zeroing the activation.
#   Variance explained can hide errors in directions the model cares about; this cannot.
#
# A fourth number is the fraction of **dead** features, which never fire: wasted dictionary
# entries. Write the three functions.

# %% [exercise] l0_norm
check(l0_norm)

# %% [exercise] variance_explained
check(variance_explained)

# %% [exercise] ce_loss_recovered
check(ce_loss_recovered)

# %% [markdown]
# ## 4. Train one yourself, and compare
#
# `course.sae.train_sae` is the training loop: Adam, the top-k SAE's reconstruction loss (plus
# the AuxK term of Gao et al., which gives dead features a gradient again), the decoder's
# parallel gradient removed and its rows renormalised after every step: your `normalize_decoder`.
# We train a *small* SAE (512 features, k = 16) for a few seconds (150 steps of 1024) on 40,000 activations. The
# shipped one was trained for 4000 steps of 2048 activations on a million tokens (about five
# minutes; `python -m course.zoo train tinyworld-sae` reproduces it).

# %%
train_acts = S.collect_activations(model, shipped.cfg.hook_name, 40_000, seed=1)  # seed 1: the SAEs' text
small_cfg = S.SAEConfig(d_in=128, d_sae=512, activation="topk", k=16, hook_name=shipped.cfg.hook_name)
small_train = S.SAETrainConfig(steps=150, batch_size=1024, lr=2e-3, warmup_steps=20, dead_after_tokens=50_000)
small, history = S.train_sae(train_acts, small_cfg, small_train, progress=False)
print(f"trained in {history['seconds']:.1f} s")
for step, fvu, l0 in list(zip(history["step"], history["reconstruction"], history["l0"]))[::4]:
    print(f"  step {step:4d}: fraction of variance unexplained {fvu:.3f}, L0 {l0:.0f}")

# %% [markdown]
# Now measure both SAEs the same way, with your metric functions, on held-out text (stream seed
# 2, which neither the model nor the SAEs trained on). Splicing means a hook that replaces the
# activation by the SAE's reconstruction; "zero" replaces it by zeros. Position 0 (and every
# BOS token) is left out, as in training: attention parks there and its residual stream is
# several times larger than anywhere else.

# %%
eval_toks = S.eval_tokens(model.tokenizer, n_seqs=16, seed=2)  # [16 128]
keep = S.keep_mask(eval_toks, model.tokenizer.bos_id)


def next_token_loss(logits, tokens):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()).item()


@torch.no_grad()
def measure(sae):
    hook = sae.cfg.hook_name
    x = S.activations_at(model, eval_toks, hook)[keep]  # [n d_in]
    f = sae.encode(x)
    splice = lambda act, hook: torch.where(keep[..., None], sae(act), act)  # noqa: E731
    zero = lambda act, hook: torch.where(keep[..., None], torch.zeros_like(act), act)  # noqa: E731
    clean = next_token_loss(model(eval_toks), eval_toks)
    spliced = next_token_loss(model.run_with_hooks(eval_toks, fwd_hooks=[(hook, splice)]), eval_toks)
    zeroed = next_token_loss(model.run_with_hooks(eval_toks, fwd_hooks=[(hook, zero)]), eval_toks)
    return {"L0": l0_norm(f).item(), "variance explained": variance_explained(x, sae.decode(f)).item(),
            "CE loss recovered": ce_loss_recovered(clean, spliced, zeroed),
            "dead fraction": 1 - (f > 0).any(0).float().mean().item(),
            "loss clean / spliced / zero": f"{clean:.3f} / {spliced:.3f} / {zeroed:.2f}"}


results = {"yours (512, k=16)": measure(small), "shipped (1024, k=32)": measure(shipped)}
print(f"{keep.sum().item()} held-out tokens")
print(" " * 30 + "".join(f"{name:>24}" for name in results))
for key in results["shipped (1024, k=32)"]:
    print(f"{key:>28}: " + "".join(f"{r[key]:>24.3f}" if isinstance(r[key], float) else f"{r[key]:>24}"
                                    for r in results.values()))
ours = results["shipped (1024, k=32)"]
assert ours["variance explained"] >= 0.8  # trained-model claim, as tests/test_sae.py asserts
assert ours["CE loss recovered"] >= 0.8  # trained-model claim
assert ours["dead fraction"] <= 0.10  # trained-model claim

# %% [markdown]
# Compare with the shipped SAE's card, measured on 8,000 held-out tokens (and dead features
# counted over 200,000, since a feature firing once in 20,000 tokens looks dead on 2,000):

# %%
card = shipped.card["metrics"]
print(f"card: L0 {card['l0']:.0f}, variance explained {card['variance_explained']:.3f}, "
      f"CE loss recovered {card['ce_loss_recovered']:.4f}, dead {card['dead_fraction']:.1%} "
      f"(over {card['dead_fraction_tokens']:,} tokens)")

# %% [markdown]
# A few seconds of training already explain most of the variance and recover most of the loss:
# the residual stream of a small model is easy to reconstruct. The longer-trained, wider SAE is
# better on both counts, though it also spends twice the L0 (more features per token, each one
# more to read). Look at the gap between the two metrics: the
# spliced loss is what tells you whether the errors fall in directions the model *uses*. Try
# `k=8` or `steps=400` above and watch the trade-off move.
#
# ## 5. What does a feature mean? Dashboards
#
# A feature is a direction; to read it we look at **where it fires** (its top-activating
# contexts on real text) and **what it does** (the tokens its decoder direction raises and lowers
# when read straight through the unembedding: W_dec[f] @ W_U, a direct-logit view). A
# `FeatureStore` keeps the residual stream of a text sample so any feature's dashboard is quick.
#
# Which features to look at? TinyWorld describes five landmarks. For each one,
# `landmark_features` finds the feature whose mean activation over a paragraph best separates that
# landmark's paragraphs from the others' (the gap in means, in units of their spread).

# %%
landmarks = landmark_features(shipped, model)
print(f"{'landmark':>11}  feature  separation  mean in  mean out  fires on")
for lf in landmarks.values():
    print(f"{lf.landmark:>11}  {lf.feature:7d}  {lf.separation:10.1f}  {lf.mean_in:7.2f}  {lf.mean_out:8.3f}  {lf.fires_on:7.0%}")
card_features = {k: v["feature"] for k, v in shipped.card["landmark_features"].items()}
features = {k: v.feature for k, v in landmarks.items()}
print("same features as on the card:", features == card_features)
assert min(lf.separation for lf in landmarks.values()) > 3  # trained-model claim: one clear feature per landmark

# %%
store = FeatureStore.from_corpus(shipped, model, n_seqs=64, seed=3)
ember = features["Emberpeak"]
dash = store.dashboard(ember, n_examples=8)
print(dash)
print("histogram of its non-zero activations (count per bin):", dash.histogram[0])

# %% [markdown]
# The automatic label (`auto_label`) is built from the top examples alone, the way an LLM
# labeller would start: which tokens it fires on, and which landmark's words the contexts use.
# It is a hypothesis. The top context of the feature, coloured by its activation at each token
# (hover for the values):

# %%
top = dash.examples[0]
TokenView(top.tokens, top.acts, value_label="feature activation", vmin=0.0)

# %% [markdown]
# Look at *where* it fires: not only on " volcano" or " lava", but on ordinary tokens (" the",
# ".") inside a sentence about Emberpeak. It is a **topic** feature: it carries "we are talking
# about Emberpeak" along the text, which is what a model needs in order to predict the next
# volcano word. Some of its promoted tokens (volcano words such as ' crater' or ' Smoke') say the
# same from the output side; the rest are a reminder that a direct-logit view ignores everything
# the later layers do with the direction. The other landmarks:

# %%
for name, f in features.items():
    d = store.dashboard(f, n_examples=8)
    print(f"{name:>11}: feature {f:4d}  fires on {d.frequency:6.2%} of tokens  label: {d.label}")
    print(" " * 13 + "promotes: " + ", ".join(repr(t) for t, _ in d.promoted[:6]))

# %% [markdown]
# ## 6. Steering
#
# If a feature really means "Emberpeak", adding its direction to the residual stream should make
# the model talk about Emberpeak. That is *steering*: at every position, after block 2,
# x <- x + strength * W_dec[f]. The rows are unit vectors, so the strength is in the residual
# stream's own units; its typical norm here is about 21.
#
# `FeatureSteering` generates a continuation with and without the steering, from the same random
# numbers, and colours each token by how much the (unsteered) residual stream points along the
# feature direction. In JupyterLab you can change the strength, the feature and the prompt and
# press generate; here we drive it from code. (Both continuations are sampled at temperature 0.8
# from the same seed. tinyworld is a small model and its free-running text from a prompt it never
# saw is loose word salad, so we judge steering by *which words* appear, not by the prose.)

# %%
resid_norm = shipped.card["resid_norm"]
widget = FeatureSteering(model, steering_directions(shipped, features), hook_name=shipped.cfg.hook_name,
                         strength=2 * resid_norm, temperature=0.8, n_tokens=16,
                         prompt=evalsets.landmark_prompts()[0])
widget.direction = next(name for name in widget.direction_names if name.startswith("Emberpeak"))
result = widget.generate()
print("prompt:   ", widget.prompt)
print("unsteered:", result.unsteered)
print("steered:  ", result.steered)
widget

# %% [markdown]
# One example proves little. `steering_experiment` measures it: for each landmark feature and
# each of the six neutral prompts (none names a landmark), it samples continuations and counts
# the share that **mention** the landmark (its name or one of its eight words). Strength 0 is
# the baseline: how often ordinary continuations mention a landmark anyway. Small settings
# (2 samples of 16 tokens per prompt) keep it to a few seconds.

# %%
strengths = [0.0, round(resid_norm, 1), round(2 * resid_norm, 1), round(8 * resid_norm, 1)]
steering = steering_experiment(model, shipped, features, strengths, samples=2, n_tokens=16)
base = steering[0.0]
print(f"{'strength':>9}  {'x norm':>6}  {'share':>6}  {'loss (unsteered model)':>22}  {'repeated':>8}")
for s, r in steering.items():
    print(f"{s:9.1f}  {s / resid_norm:6.1f}  {r['share']:6.0%}  {r['unsteered_loss']:22.2f}  {r['repeated_tokens']:8.0%}")
steered = steering[strengths[2]]
print("share by landmark at 2x norm:", {k: f"{v:.0%}" for k, v in steered["share_by_landmark"].items()})
assert steered["share"] > base["share"]  # trained-model claim: steering turns the text to the landmark

# %% [markdown]
# ## 7. Too much steering
#
# Steering is a trade. Push harder and the share keeps rising for a while, but the text stops
# being text: at many times the residual stream's norm the added direction drowns out everything
# else, and the model repeats the feature's favourite words. Two fluency measures are above:
# the *unsteered* model's loss on the steered text (how surprising a normal reader finds it) and
# the share of repeated tokens. The loss can even *fall* when the text degenerates into loops,
# because repetition is easy to predict; the repeated share does not hide it.

# %%
for s in strengths[1:]:
    print(f"strength {s:6.1f} ({s / resid_norm:.0f}x norm): {steering[s]['example']!r}")
overdone = steering[strengths[-1]]
print(f"repeated tokens: {base['repeated_tokens']:.0%} unsteered -> {overdone['repeated_tokens']:.0%} at 8x norm")
assert overdone["repeated_tokens"] > base["repeated_tokens"]  # trained-model claim: too much steering loops

# %% [markdown]
# `course.steering.feature_hook(sae, f, strength, mode="clamp")` is the other common form: instead of adding a
# fixed vector it *sets* the feature's activation to a value, which changes x only as much as
# needed. Try it in `steering_experiment(..., mode="clamp")` and compare the fluency.
#
# ## Recap
#
# - An SAE rewrites an activation as a sparse, non-negative combination of many unit directions:
#   encoder, ReLU or top-k, decoder with unit rows.
# - Sparsity is either penalised (L1, weighted by the decoder norms) or fixed (top-k).
# - Judge an SAE by L0, variance explained, CE loss recovered (splicing it into the model) and
#   dead features; the spliced loss is the one that counts what the model uses.
# - Dashboards (top contexts, promoted and suppressed tokens) turn a feature into a hypothesis;
#   an automatic label is a starting point, not a result.
# - Steering tests the hypothesis causally: the Emberpeak feature makes the model talk about
#   Emberpeak, measurably more often than chance, until too much strength breaks the text.
#
# ## Further reading
#
# - Bricken et al. (2023), *Towards Monosemanticity: Decomposing Language Models With Dictionary
#   Learning* (Anthropic): ReLU SAEs, dashboards, and features on a one-layer model.
# - Cunningham et al. (2023), *Sparse Autoencoders Find Highly Interpretable Features in Language
#   Models*.
# - Templeton et al. (2024), *Scaling Monosemanticity* (Anthropic): SAEs on a production model,
#   and steering with its features ("Golden Gate Claude").
# - Gao et al. (2024), *Scaling and evaluating sparse autoencoders* (OpenAI): top-k SAEs, AuxK,
#   and scaling laws.
# - Turner et al. (2023), *Activation Addition*: steering with directions taken from prompts.
# - SAELens and Neuronpedia: tools to train SAEs and browse the features of public ones;
#   ARENA's chapter 1.3.2 on SAEs.

# %%
progress()
