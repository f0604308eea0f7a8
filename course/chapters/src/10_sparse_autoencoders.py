# %% [markdown]
# # Chapter 10: Sparse autoencoders and steering
#
# **Time:** about 60 minutes. **You will:**
#
# - write the pieces of a *sparse autoencoder* (SAE): the encoder, the top-k activation, the
#   loss, the decoder constraint, and the three numbers everyone reports about an SAE (L0,
#   variance explained, cross-entropy loss recovered);
# - write an SAE training step, check it equals `course.sae`'s, train a small SAE with it on
#   the model's residual stream for a few seconds, and compare it with the shipped one;
# - compute a *feature dashboard*'s data: the contexts where a feature fires most, and the tokens
#   its direction promotes and suppresses;
# - find out which of the features that pick out TinyWorld's five landmarks are really about
#   their landmark (a high score on landmark text is not enough);
# - *steer* the model with them, measure how often the text turns to that landmark, and see
#   where too much steering breaks the text.
#
# Chapter 09 ended with a problem: a model stores more features than it has dimensions, as
# directions that are not orthogonal, so single neurons and single residual dimensions are
# polysemantic. An SAE is a way to take the superposition apart *after* training. It learns a
# dictionary of many more directions than the residual stream has dimensions, and rewrites each
# activation as a **sparse, non-negative** combination of them. If the dictionary is good, each
# direction (a *feature*) means one thing, and only a few fire on any token.
#
# Everything runs on the CPU: `tinyworld` (d_model = 128), the course's main model, and its shipped
# SAE, `tinyworld-sae` (1024 features), trained on this model's residual stream after layer 2,
# over a million tokens of the text the model itself was trained on.

# %%
import re

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from course import sae as S
from course import evalsets, world, zoo
from course.exercises import check, hint, progress, reveal
from course.features import FeatureStore, landmark_features, landmarks_in, logit_effects
from course.steering import steered_continuations, steering_directions, steering_experiment
from solutions.ch10_sae import paragraph_tokens
from widgets import FeatureSteering, TokenView

torch.manual_seed(0)
model = zoo.load("tinyworld").eval()
shipped = zoo.load("tinyworld-sae")  # the shipped SAE (a course.sae.SAE); its card is shipped.card
print(shipped.card["description"])
print("config:", shipped.cfg)
assert (model.cfg.d_model, shipped.cfg.d_sae, shipped.cfg.k) == (128, 1024, 32)  # the numbers in the prose
assert shipped.card["model"] == "tinyworld" and shipped.card["data"]["n_tokens"] == 1_000_000  # as the prose says
assert shipped.card["data"]["corpus"] == model.card["data"]["corpus"]  # the model's own training text

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
# ## 4. One training step, then many
#
# Training an SAE is ordinary gradient descent on the loss, with one twist for the decoder. Write
# one step the way `course.sae.train_sae` takes it, with plain SGD in place of its Adam:
#
# 1. the loss of the top-k SAE: the squared error in units of the batch's variance (the *fraction
#    of variance unexplained*, 1 - your `variance_explained`), so the step does not depend on the
#    residual stream's scale;
# 2. its gradients, by autograd;
# 3. the part of W_dec's gradient that points along each row only changes that row's norm, which
#    the next step undoes: remove it;
# 4. the update, p - lr * gradient;
# 5. the decoder's rows back at unit norm (your `normalize_decoder`).

# %% [exercise] sae_training_step
check(sae_training_step)

# %% [markdown]
# The library's step is the same four calls on an `SAE` module: `sae.loss(x)`,
# `.backward()`, `sae.remove_parallel_gradient()`, the optimizer's step, `sae.normalize_decoder()`.
# With `torch.optim.SGD` as the optimizer, yours must give the same parameters. Check it on a
# fresh SAE of 512 features (k = 16) and a batch of 1024 real activations:

# %%
train_acts = S.collect_activations(model, shipped.cfg.hook_name, 40_000, seed=1)  # seed 1: the SAEs' text
small_cfg = S.SAEConfig(d_in=128, d_sae=512, activation="topk", k=16, hook_name=shipped.cfg.hook_name)
fresh = S.SAE(small_cfg, seed=0)
with torch.no_grad():
    fresh.b_dec.copy_(train_acts.mean(0))  # as train_sae starts: the decoder bias at the data's mean
batch = train_acts[:1024]
params = {name: p.detach().clone() for name, p in fresh.named_parameters()}
yours = sae_training_step(params, batch, small_cfg.k, lr=8.0)
sgd = torch.optim.SGD(fresh.parameters(), lr=8.0)
library_loss = fresh.loss(batch)["total"]
library_loss.backward()
fresh.remove_parallel_gradient()
sgd.step()
fresh.normalize_decoder()
for name, p in fresh.named_parameters():
    torch.testing.assert_close(yours[name], p.detach())
torch.testing.assert_close(yours["loss"], library_loss.detach())
print(f"one step, loss {yours['loss']:.3f}: your parameters equal course.sae's")

# %% [markdown]
# Now train with your step: 150 steps of 1024 activations (a few seconds), and beside it
# `course.sae.train_sae`, the library's loop with the same SAE size and batches of the same size,
# but Adam with a warm-up and the AuxK term of Gao et al., which gives dead features a gradient
# again.

# %%
params = {name: p.detach().clone() for name, p in S.SAE(small_cfg, seed=0).named_parameters()}
params["b_dec"] = train_acts.mean(0)
order = torch.Generator().manual_seed(0)
your_losses = []
for step in range(150):
    params = sae_training_step(params, train_acts[torch.randint(0, len(train_acts), (1024,), generator=order)],
                               small_cfg.k, lr=8.0)
    your_losses.append(params["loss"].item())
small_train = S.SAETrainConfig(steps=150, batch_size=1024, lr=2e-3, warmup_steps=20, dead_after_tokens=50_000)
small, history = S.train_sae(train_acts, small_cfg, small_train, progress=False)
print(f"library: trained in {history['seconds']:.1f} s; fraction of variance unexplained "
      f"{history['reconstruction'][0]:.3f} -> {history['reconstruction'][-1]:.3f}; "
      f"yours (SGD): {your_losses[0]:.3f} -> {your_losses[-1]:.3f}")
assert your_losses[-1] < 0.5 * your_losses[0]  # trained-model claim: your steps learn
fig = go.Figure([go.Scatter(x=list(range(150)), y=your_losses, name="your step (SGD, lr 8)"),
                 go.Scatter(x=history["step"], y=history["reconstruction"], name="course.sae.train_sae (Adam, AuxK)")])
fig.update_layout(title="Training a 512-feature SAE (k = 16) on layer 2's residual stream",
                  xaxis_title="step (1024 activations each)", yaxis_title="fraction of variance unexplained", height=350)
fig

# %% [markdown]
# The shipped SAE was trained by the same loop, for much longer and on far more text
# (`python -m course.zoo train tinyworld-sae` reproduces it). Its card records the recipe and
# the time it took:

# %%
recipe = shipped.card["recipe"]["train"]
print(f"shipped: {recipe['steps']} steps of {recipe['batch_size']} activations, "
      f"{shipped.card['data']['n_tokens']:,} training tokens, {shipped.card['training_seconds'] / 60:.1f} minutes "
      f"on {shipped.card['machine']}")

# %% [markdown]
# Now measure both SAEs the same way, with your metric functions, on held-out text (stream seed
# 2, which neither the model nor the SAEs trained on). Splicing means a hook that replaces the
# activation by the SAE's reconstruction; "zero" replaces it by zeros. Position 0 (and every
# BOS token) is left out, as in training: attention parks there and its residual stream is
# several times larger than anywhere else.

# %%
eval_toks = S.eval_tokens(model, n_seqs=16, seed=2)  # [16 128]
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
            "loss clean / spliced / zero": f"{clean:.3f} / {spliced:.3f} / {zeroed:.2f}",
            "loss added by splicing": spliced - clean}


results = {"library's (512, k=16)": measure(small), "shipped (1024, k=32)": measure(shipped)}
print(f"{keep.sum().item()} held-out tokens")
print(" " * 30 + "".join(f"{name:>24}" for name in results))
for key in results["shipped (1024, k=32)"]:
    print(f"{key:>28}: " + "".join(f"{r[key]:>24.3f}" if isinstance(r[key], float) else f"{r[key]:>24}"
                                    for r in results.values()))
ours, quick = results["shipped (1024, k=32)"], results["library's (512, k=16)"]
assert ours["variance explained"] >= 0.9  # trained-model claim (measured 0.957)
assert ours["CE loss recovered"] >= 0.995  # trained-model claim: "all but a fraction of a percent" (measured 0.9995)
assert ours["dead fraction"] <= 0.02  # trained-model claim (measured 0.000 on these tokens)
assert quick["variance explained"] > 0.7 and quick["CE loss recovered"] > 0.95  # trained-model claim (0.818, 0.982)
assert 0.15 < 1 - quick["variance explained"] < 0.25  # trained-model claim: "a fifth" unexplained (0.182)
assert 0.15 < quick["loss added by splicing"] < 0.35 and ours["loss added by splicing"] < 0.01  # (0.191, 0.006 nats)
assert ours["variance explained"] > quick["variance explained"] and ours["CE loss recovered"] > quick["CE loss recovered"]
assert ours["L0"] == 2 * quick["L0"]  # top-k: L0 is k

# %% [markdown]
# Compare with the shipped SAE's card, measured on 8,000 held-out tokens (and dead features
# counted over 200,000, since a feature firing once in 20,000 tokens looks dead on 2,000):

# %%
card = shipped.card["metrics"]
print(f"card: L0 {card['l0']:.0f}, variance explained {card['variance_explained']:.3f}, "
      f"CE loss recovered {card['ce_loss_recovered']:.4f}, dead {card['dead_fraction']:.1%} "
      f"(over {card['dead_fraction_tokens']:,} tokens)")
assert 7_500 < shipped.card["data"]["eval_tokens"] < 8_500 and card["dead_fraction_tokens"] == 200_000  # as the prose says

# %% [markdown]
# A few seconds of training already explain most of the variance and recover most of the loss:
# the residual stream of a small model is easy to reconstruct. The longer-trained, wider SAE is
# better on both counts, though it also spends twice the L0 (more features per token, each one
# more to read): spliced into the model, it recovers all but a fraction of a percent of the loss.
# Look at what each metric says about the quick SAE: it leaves a fifth of the variance
# unexplained, yet its CE loss recovered is above 0.95, because that score is measured against
# zeroing the activation, a very low bar. The spliced loss itself is what the errors cost the
# model: about a fifth of a nat per token for the quick SAE, almost nothing for the shipped
# one. Try `k=8` or `steps=400` above and watch the trade-off move.
#
# ## 5. What does a feature mean? Dashboards
#
# A feature is a direction; to read it we look at **where it fires** (its top-activating
# contexts on real text) and **what it does** (the tokens its decoder direction raises and lowers
# when read straight through the unembedding: W_dec[f] @ W_U, a direct-logit view). Those two
# lists are a dashboard's data. Write them: first the top-activating positions of one feature.

# %% [exercise] top_activating_positions
check(top_activating_positions)

# %% [markdown]
# Then the tokens a direction promotes and suppresses. Between the residual stream and W_U stands
# the final LayerNorm: it centres the vector and multiplies it by its gain `ln_final.w` (it also
# divides by the scale, one positive number per token, which changes no ranking).

# %% [exercise] promoted_tokens
check(promoted_tokens)

# %% [markdown]
# Which features to look at? TinyWorld describes five landmarks, each in a paragraph of three to
# five sentences from a fixed set. For each landmark, `landmark_features` finds the feature whose
# mean activation over a paragraph best separates that landmark's paragraphs from the others'
# (the gap in means, in units of their spread).

# %%
landmarks = landmark_features(shipped, model)
print(f"{'landmark':>11}  feature  separation  mean in  mean out  fires on")
for lf in landmarks.values():
    print(f"{lf.landmark:>11}  {lf.feature:7d}  {lf.separation:10.1f}  {lf.mean_in:7.2f}  {lf.mean_out:8.3f}  {lf.fires_on:7.0%}")
card_features = {k: v["feature"] for k, v in shipped.card["landmark_features"].items()}
features = {k: v.feature for k, v in landmarks.items()}
print("same features as on the card:", features == card_features)
assert features == card_features  # the card ran this same search on these same paragraphs
assert min(lf.separation for lf in landmarks.values()) > 5  # trained-model claim: one clear feature per landmark (8.5 to 13.3)

# %% [markdown]
# A `FeatureStore` keeps the residual stream of a text sample (64 sequences of held-out text) so
# that any feature's dashboard is quick. Here is the Silverspan feature's, and your two functions
# give the same lists:

# %%
store = FeatureStore.from_corpus(shipped, model, n_seqs=64, seed=3)
silver = features["Silverspan"]
dash = store.dashboard(silver, n_examples=8)
print(dash)
top = top_activating_positions(store.acts([silver])[..., 0], 8)
assert [round(v, 5) for _, _, v in top] == [round(ex.value, 5) for ex in dash.examples]
up, down = promoted_tokens(shipped.W_dec[silver].detach(), model.ln_final.w.detach(), model.W_U.detach(), 10)
assert [model.tokenizer.decode([i]) for i in up.tolist()] == [t for t, _ in dash.promoted]
assert [model.tokenizer.decode([i]) for i in down.tolist()] == [t for t, _ in dash.suppressed]
print("your top positions and promoted / suppressed tokens equal the dashboard's")
openers = {sentence.split()[0] for sentence in world.LANDMARK_SENTENCES["Silverspan"]}  # each sentence's first word
promoted_openers = [t for t, _ in dash.promoted if t.strip() in openers]
promoted_words = [t for t, _ in dash.promoted if t.strip() in world.LANDMARKS["Silverspan"]]  # its eight words
print("first words of Silverspan's sentences among the ten it promotes most:", promoted_openers)
print("Silverspan's own words among them:", promoted_words)
assert dash.label == "' the' after ' at'"  # trained-model claim
assert all(ex.tokens[ex.peak - 1 : ex.peak + 1] == [" at", " the"] and " met" in ex.tokens[ex.peak - 4 : ex.peak - 1]
           and not landmarks_in("".join(ex.tokens[: ex.peak + 1])) for ex in dash.examples)  # trained-model claim: all eight
assert [t for t, _ in dash.promoted] == [" camp", " river", " party", " festival", " bridge", " fair", " market",
                                         " village", " bank", " shop"]  # trained-model claim
assert promoted_openers == [] and promoted_words == [" river", " bridge"]  # trained-model claim
assert 0.032 <= dash.frequency < 0.033  # trained-model claim: 3.3% of tokens

# %% [markdown]
# This dashboard is not about Silverspan. All eight of its strongest contexts are the same turn
# of phrase from the stories, "Fred met Carl at the", "Jane met Nina at the": it peaks on " the"
# after " at", where a place must come next, and none of the eight mentions a landmark. The output
# side agrees: the ten tokens it promotes most are all places or gatherings you can meet someone
# at (" camp", " river", " party", " festival", " bridge", " fair", " market", " village",
# " bank", " shop"). Two of them, " river" and " bridge", are Silverspan's words; none is the
# first word of a Silverspan sentence. On ordinary text this is an "a place comes next" feature,
# and it fires on 3.3% of all tokens.
#
# So why did it win the search for Silverspan? Measure all five features on the text where they
# were chosen, the landmark paragraphs: what share of each feature's total activation falls on "."
# tokens, and what share on its own landmark's paragraphs? On the output side, how many of the ten
# tokens it promotes most are words that only that landmark's sentences use (" Painters",
# " Under", " steel" for Silverspan)? For the Silverspan feature, also measure the share of its
# activation on the token just before " river" or " bridge".

# %%
def only_words(landmark):
    """Words used by this landmark's sentences and by no other landmark's."""
    words = {lm: set(re.findall(r"[A-Za-z]+", " ".join(s))) for lm, s in world.LANDMARK_SENTENCES.items()}
    return words[landmark] - set().union(*(w for lm, w in words.items() if lm != landmark))


para_acts, para_text, para_owner = paragraph_tokens(model, shipped)  # every token of the landmark paragraphs
is_dot = torch.tensor([t == "." for t in para_text])


def describe(landmark, f):
    a = para_acts[:, f]
    own = torch.tensor([o == landmark for o in para_owner])
    promoted = [t for t, _ in logit_effects(shipped, model, f, 10)[0]]
    return {"on_stop": (a * is_dot).sum().item() / a.sum().item(), "in_own": a[own].sum().item() / a.sum().item(),
            "promoted own words": sum(t.strip() in only_words(landmark) for t in promoted), "promoted": promoted}


described = {name: describe(name, f) for name, f in features.items()}
print(f"{'landmark':>11} feature  on '.'  in own paragraphs  own words in top 10 promoted")
for name, d in described.items():
    print(f"{name:>11} {features[name]:7d}  {d['on_stop']:6.0%}  {d['in_own']:16.0%}  {d['promoted own words']:3d}: "
          + ", ".join(repr(t) for t in d["promoted"][:6]))
silver_at_stops = {name: para_acts[is_dot & torch.tensor([o == name for o in para_owner]), silver].mean().item()
                   for name in features}
print("the Silverspan feature's mean at the full stops of each landmark's paragraphs:",
      {name: round(v, 2) for name, v in silver_at_stops.items()})
before_place = torch.tensor([t in (" river", " bridge") for t in para_text[1:]] + [False])  # the next token is one
silver_acts = para_acts[:, silver]
before_share = ((silver_acts * before_place).sum() / silver_acts.sum()).item()
before_tokens = {}  # which tokens carry that share
for i in torch.nonzero(before_place).flatten().tolist():
    before_tokens[para_text[i]] = before_tokens.get(para_text[i], 0.0) + silver_acts[i].item() / silver_acts.sum().item()
print(f"the Silverspan feature's activation just before ' river' or ' bridge': {before_share:.0%}, on",
      {t: f"{v:.0%}" for t, v in sorted(before_tokens.items(), key=lambda kv: -kv[1])[:4]})
own_words = {name: [t for t in d["promoted"] if t.strip() in only_words(name)] for name, d in described.items()}
# trained-model claims: where each feature's activation falls (the prose quotes these)
assert {n: round(d["on_stop"], 2) for n, d in described.items()} == {
    "Silverspan": 0.45, "Emberpeak": 0.31, "Skyspire": 0.19, "Gullrock": 0.54, "Mistfall": 0.38}
assert {n: round(d["in_own"], 2) for n, d in described.items()} == {
    "Silverspan": 0.86, "Emberpeak": 0.64, "Skyspire": 0.82, "Gullrock": 0.83, "Mistfall": 0.75}
assert 2.52 <= silver_at_stops["Silverspan"] < 2.54 and all(silver_at_stops[n] < 0.005 for n in features if n != "Silverspan")
assert 0.36 <= before_share < 0.37  # trained-model claim: 36% just before ' river' or ' bridge'...
assert sorted(before_tokens, key=before_tokens.get, reverse=True)[:3] == [" the", " whole", " long"]  # ...mostly on these
assert own_words == {"Silverspan": [" river", " bridge"],  # trained-model claim: the promoted words only its landmark uses
                     "Emberpeak": [" eruption", " tall", " glow", " Deep", " Scientists", " Grey"],
                     "Skyspire": [" Visitors", " clear", " glass", " tower", " walls", " land"],
                     "Gullrock": [],
                     "Mistfall": [" You", " Water", " Green", " hills", " hear", " cliff", " spray", " wet"]}
fig = go.Figure([go.Bar(name=label, x=list(described), y=[d[key] for d in described.values()])
                 for key, label in (("on_stop", "on '.' tokens"), ("in_own", "in its landmark's paragraphs"))])
fig.update_layout(barmode="group", title="Where each landmark feature's activation falls, on the landmark paragraphs",
                  yaxis_title="share of the feature's total activation", yaxis_tickformat=".0%", height=330)
fig

# %% [markdown]
# On the landmark paragraphs the Silverspan feature does pick out Silverspan. 86% of its
# activation is in Silverspan's paragraphs, more than any of the other four keeps in its own, and
# at the other landmarks' full stops it is silent (0.00 on average, against 2.53 at Silverspan's).
# Within those paragraphs, 45% of it falls on full stops and 36% on the token just before " river"
# or " bridge" (" the" in "across the river", " whole" in "see the whole river", " long" in "a
# long bridge"): the "a place comes next" job it does in the stories. Silverspan's sentences keep
# naming the river and the bridge, the other landmarks' sentences hardly ever call on it, and that
# is enough to give it the best score for Silverspan.
#
# The other four are no cleaner. The Gullrock feature puts the most of its activation on full
# stops (54%), the Skyspire feature the least (19%), and the Emberpeak feature keeps only 64% in
# its own landmark's paragraphs. On the output side the order changes again: the Mistfall feature
# promotes eight tokens that only Mistfall's sentences use (" You", " Water", " Green", " cliff",
# " spray"), the Emberpeak feature six (" eruption", " tall", " glow", " Deep", " Scientists",
# " Grey"), the Skyspire feature six (" Visitors", " clear", " glass", " tower", " walls",
# " land"), the Silverspan feature two (" river", " bridge"), and the Gullrock feature none
# (" for", " together", " behind", " same").
#
# A dashboard reads a feature on ordinary text. The automatic labels (`auto_label`, from the top
# examples alone, the way an LLM labeller would start) name the token where the feature peaks
# and, when most of its top contexts use one landmark's words, that landmark. Count also how many
# of each feature's eight top contexts mention its own landmark, and look at the top one:

# %%
labels, about_own = {}, {}
for name, f in features.items():
    d = store.dashboard(f, n_examples=8)
    labels[name] = d.label
    about_own[name] = sum(name in landmarks_in("".join(ex.tokens[: ex.peak + 1])) for ex in d.examples)
    best = d.examples[0]
    print(f"{name:>11} {f:4d}  label {d.label:<28}  {about_own[name]} of 8 about {name:<10}  top context: "
          + repr("".join(best.tokens[max(0, best.peak - 8) : best.peak + 1])))
assert labels == {"Silverspan": "' the' after ' at'", "Emberpeak": "' his' / ' a' (Emberpeak)",  # trained-model claim
                  "Skyspire": "' the' / ' blue' (Skyspire)", "Gullrock": "' it' / ' studied'", "Mistfall": "'.' (Mistfall)"}
assert about_own == {"Silverspan": 0, "Emberpeak": 6, "Skyspire": 7, "Gullrock": 1, "Mistfall": 6}  # trained-model claim
assert all(0.8 < described[n]["in_own"] < 0.9 for n in ("Silverspan", "Gullrock"))  # "more than four fifths" (86%, 83%)
for n in ("Silverspan", "Gullrock"):  # trained-model claim: all but silent at the others' full stops (under 1%)
    at_stops = {m: para_acts[is_dot & torch.tensor([o == m for o in para_owner]), features[n]].mean().item() for m in features}
    assert all(v < 0.01 * at_stops[n] for m, v in at_stops.items() if m != n)
mean_in = {name: lf.mean_in for name, lf in landmarks.items()}
separation = {name: lf.separation for name, lf in landmarks.items()}
assert sorted(mean_in, key=mean_in.get)[:2] == ["Silverspan", "Gullrock"]  # trained-model claim: the two smallest means
assert 0.46 <= mean_in["Silverspan"] < 0.48 and 0.50 <= mean_in["Gullrock"] < 0.51  # trained-model claim (0.47, 0.50)
assert max(separation, key=separation.get) == "Silverspan" and 13.3 <= separation["Silverspan"] < 13.4  # trained-model claim

# %% [markdown]
# Three of the five labels name their landmark, and six or seven of those features' eight top
# contexts are their landmark's sentences. Only the Mistfall feature's label is a full stop, though:
# the Emberpeak feature peaks on " a" ("At night, a") and, in the stories, on " his" ("Leo loves
# his"); the Skyspire feature on " the" and " blue" ("The walls of the tower are made of blue").
# The other two are busy with something else. The Silverspan feature you have seen; the Gullrock
# feature peaks on " it", " studied", " tea", " hockey" in the stories, with one Gullrock sentence
# among its top eight (print `store.dashboard(f)` for each). Yet on the landmark paragraphs both
# keep more than four fifths of their activation in their own landmark's (86% and 83%) and are all
# but silent at the other landmarks' full stops. They have the two smallest paragraph means of the
# five (0.47 and 0.50, the "mean in" column of the first table), and the Silverspan feature has
# the largest separation (13.3). That is exactly what the paragraph search rewards: a gap in
# means, in units of the spread, is largest for a feature that is quiet on the other landmarks'
# paragraphs, whatever it does on the rest of the text. A label is a hypothesis, and so is a high
# score on one kind of text.
#
# Ask the question where a landmark's sentences end instead: which feature is most active at the
# full stops of Silverspan's paragraphs, compared with the full stops of the other landmarks'
# paragraphs? (The first open exercise runs this search for all five; only for Mistfall does it
# return the feature we already have.)

# %%
def full_stop_gap(landmark):
    own = torch.tensor([o == landmark for o in para_owner])
    return para_acts[is_dot & own].mean(0) - para_acts[is_dot & ~own].mean(0)  # [d_sae]


assert [n for n in features if int(full_stop_gap(n).argmax()) == features[n]] == ["Mistfall"]  # trained-model claim
gap = full_stop_gap("Silverspan")
silver_dot = int(gap.argmax())
second = describe("Silverspan", silver_dot)
dot_openers = [t for t in second["promoted"] if t.strip() in openers]
print(f"feature {silver_dot}: gap at '.' {gap[silver_dot]:.2f} (the paragraph search's feature {silver}: {gap[silver]:.2f}); "
      f"{second['on_stop']:.0%} of its activation on '.', {second['in_own']:.0%} in Silverspan paragraphs")
print(f"promotes ({len(dot_openers)} of 10 first words of Silverspan's sentences): "
      + ", ".join(repr(t) for t in second["promoted"]))
assert silver_dot != silver and 3.94 <= gap[silver_dot] < 3.96 and 2.52 <= gap[silver] < 2.54  # trained-model claim
assert dot_openers == [" Painters", " Under", " From", " Every"]  # trained-model claim: four sentence openers...
assert not {t.strip() for t in second["promoted"]} & set(world.LANDMARKS["Silverspan"])  # ...and none of its eight words
assert round(second["on_stop"], 2) == 0.67 and round(second["in_own"], 2) == 0.81  # trained-model claim
dash2 = store.dashboard(silver_dot, n_examples=8)
dot_peaks = [ex.tokens[ex.peak] for ex in dash2.examples]
dot_about = [landmarks_in("".join(ex.tokens[: ex.peak + 1])) for ex in dash2.examples]
assert dash2.label == "'.' (Silverspan)"  # trained-model claim: on ordinary text too
assert dot_peaks == ["."] * 4 + [" The"] + ["."] * 3  # trained-model claim: seven on a full stop, one on the " The" after one
# trained-model claim: seven name Silverspan's words; the eighth is the end of "Its steel cables hum when the wind blows."
assert [("Silverspan" in a) for a in dot_about] == [True] * 7 + [False]
assert "".join(dash2.examples[7].tokens[: dash2.examples[7].peak + 1]) == " hum when the wind blows."
counts, edges = dash2.histogram
fig = make_subplots(rows=1, cols=2, subplot_titles=(f"feature {silver_dot}: activations where it fires",
                                                    "its direct effect on the logits"))
fig.add_trace(go.Bar(x=[(a + b) / 2 for a, b in zip(edges, edges[1:])], y=counts, name="tokens"), row=1, col=1)
effects = dash2.promoted[:10] + dash2.suppressed[:10][::-1]
fig.add_trace(go.Bar(x=[v for _, v in effects], y=[repr(t) for t, _ in effects], orientation="h", name="logit effect",
                     marker_color=["#2166ac" if v > 0 else "#b2182b" for _, v in effects]), row=1, col=2)
fig.update_xaxes(title_text="activation", row=1, col=1)
fig.update_yaxes(title_text="tokens (held-out text)", row=1, col=1)
fig.update_yaxes(autorange="reversed", row=1, col=2)
fig.update_layout(height=420, showlegend=False, title=f"Dashboard of feature {silver_dot} ({dash2.label})")
fig

# %% [markdown]
# On both sides this one is about Silverspan, and it is a different kind of feature from the
# first. All eight of its strongest contexts on ordinary text are Silverspan's sentences (the
# eighth, " hum when the wind blows.", starts too late to show a Silverspan word), and seven of
# them peak on the full stop, the other on the " The" just after one. Four of the ten tokens it
# promotes are the first words of Silverspan's sentences (" Painters", " Under", " From",
# " Every"), and none is one of the bridge's eight words: it is a "the next sentence is about
# Silverspan" feature, which the paragraph search missed. Its gap at the full stops is half as
# large again as the first feature's (3.95 against 2.53); on the paragraphs, 67% of its
# activation falls on full stops and 81% in Silverspan's paragraphs. Its
# top context, coloured by its activation at each token (hover for the values):

# %%
top_example = dash2.examples[0]
TokenView(top_example.tokens, top_example.acts, value_label="feature activation", vmin=0.0)

# %% [markdown]
# ## 6. Steering
#
# If a feature really means "the next sentence is about Silverspan", adding its direction to the
# residual stream should make the model talk about Silverspan. That is *steering*: at every
# position, after block 2, x <- x + strength * W_dec[f]. The rows are unit vectors, so the
# strength is in the residual stream's own units; the next cell prints its typical norm at this
# layer.
#
# `FeatureSteering` generates a continuation with and without the steering, from the same random
# numbers, and colours each token by how much the (unsteered) residual stream points along the
# feature direction. In JupyterLab you can change the strength, the feature and the prompt and
# press generate; here we drive it from code with the full-stop Silverspan feature you just found.
# (Both continuations are sampled at temperature 0.8 from the same seed. tinyworld is a small
# model and its free-running text from a prompt it never saw is loose word salad, so we judge
# steering by *which words* appear, not by the prose.)

# %%
resid_norm = shipped.card["resid_norm"]
print(f"mean norm of the residual stream at {shipped.cfg.hook_name}: {resid_norm:.1f}")
widget = FeatureSteering(model, steering_directions(shipped, {**features, "Silverspan at '.'": silver_dot}),
                         hook_name=shipped.cfg.hook_name, strength=2 * resid_norm, temperature=0.8, n_tokens=16,
                         prompt=evalsets.landmark_prompts()[0])
widget.direction = next(name for name in widget.direction_names if name.startswith("Silverspan at"))
result = widget.generate()
print("prompt:   ", widget.prompt)
print("unsteered:", result.unsteered)
print("steered:  ", result.steered)
assert result.steered.count(" Painters") == 4 and all(w in result.steered for w in (" Every", " Its"))  # trained-model claim
assert "Silverspan" not in landmarks_in(result.steered)  # trained-model claim: not one of the bridge's words
widget

# %% [markdown]
# The steered text is full of the first words of Silverspan's sentences (" Painters" four times,
# " Every", " Its") and never reaches a word of the bridge itself.
#
# One example proves little. `steering_experiment` measures it: for each landmark feature and
# each of the six neutral prompts (none names a landmark), it samples continuations and counts
# the share that **mention** the landmark (its name or one of its eight words). Strength 0 is
# the baseline: how often ordinary continuations mention a landmark anyway. Small settings
# (2 samples of 16 tokens per prompt, so 12 continuations per landmark) keep it to a few seconds.
# First the five features the paragraph search found, and the twelve texts the Silverspan one
# writes at twice the norm:

# %%
strengths = [0.0, round(resid_norm, 1), round(2 * resid_norm, 1)]
steering = steering_experiment(model, shipped, features, strengths, samples=2, n_tokens=16)
base = steering[0.0]
print(f"{'strength':>9}  {'x norm':>6}  {'share':>6}  {'loss (unsteered model)':>22}  {'repeated':>8}")
for s, r in steering.items():
    print(f"{s:9.1f}  {s / resid_norm:6.1f}  {r['share']:6.0%}  {r['unsteered_loss']:22.2f}  {r['repeated_tokens']:8.0%}")
steered = steering[strengths[2]]
print("share by landmark unsteered:", {k: f"{v:.0%}" for k, v in base["share_by_landmark"].items()})
print("share by landmark at 2x norm:", {k: f"{v:.0%}" for k, v in steered["share_by_landmark"].items()})
by_landmark = steered["share_by_landmark"]
silver_texts = [model.tokenizer.decode(c) for c in steered_continuations(
    model, shipped, silver, strengths[2], evalsets.landmark_prompts(), samples=2, n_tokens=16)]  # as in the experiment
other_places = {t.strip() for t, _ in dash.promoted} - set(world.LANDMARKS["Silverspan"])  # camp, party, festival, ...
text_words = [set(re.findall(r"[a-z]+", t.lower())) for t in silver_texts]
said = {w: sum(w in words for words in text_words) for w in ("river", "bridge")}
with_other_places = sum(bool(words & other_places) for words in text_words)
print(f"feature {silver} at 2x: of {len(silver_texts)} continuations, {said['river']} say ' river', {said['bridge']} "
      f"' bridge', {with_other_places} another place it promotes ({', '.join(sorted(other_places))})")
print("\n".join(repr(t) for t in silver_texts[:3]))
assert round(base["share"], 2) == 0.05 and round(steered["share"], 2) == 0.73  # trained-model claim: 5% -> 73%
assert {n: round(12 * v) for n, v in by_landmark.items()} == {  # trained-model claim: 100%, 100%, 75%, 25%, 67% of 12
    "Silverspan": 12, "Emberpeak": 12, "Skyspire": 9, "Gullrock": 3, "Mistfall": 8}
assert len(silver_texts) == 12 and said == {"river": 11, "bridge": 4} and with_other_places == 12  # trained-model claim

# %% [markdown]
# On average, steering works: from 5% of continuations that mention a landmark to 73% at twice
# the norm. By landmark, it follows the output side. The Emberpeak, Skyspire and Mistfall
# features, which promote their landmark's own words (" eruption", " glass", " cliff"), reach
# 100%, 75% and 67%; the Gullrock feature, which promotes " for" and " together", a quarter. And
# the Silverspan feature, the "a place comes next" one, turns all twelve continuations to
# Silverspan. Read them, though: they are lists of places. Eleven of the twelve say " river" and
# four " bridge", but all twelve also name other places it promotes (" camp", " party",
# " village"). The share counts " river" as Silverspan, so a feature about places in general
# scores as well as one about Silverspan would: it measures which words appear, not what the
# feature is about. Now the full-stop Silverspan feature, the one that fires where Silverspan's
# sentences end:

# %%
dot_steering = steering_experiment(model, shipped, {"Silverspan": silver_dot}, strengths, samples=2, n_tokens=16)
dot_shares = {s: r["share"] for s, r in dot_steering.items()}
print(f"feature {silver_dot}, share of continuations that mention Silverspan:",
      {f"{s / resid_norm:.0f}x": f"{v:.0%}" for s, v in dot_shares.items()})
print(f"feature {silver}, the paragraph search's, at 2x: {by_landmark['Silverspan']:.0%}")
dot_2x = dot_steering[strengths[2]]
print(f"at 2x: {dot_2x['repeated_tokens']:.0%} of the tokens repeat; example:", repr(dot_2x["example"]))
assert [round(12 * v) for v in dot_shares.values()] == [1, 3, 0]  # trained-model claim: 8%, 25%, 0% (of 12)
assert 0.55 <= dot_2x["repeated_tokens"] < 0.56  # trained-model claim: "more than half" (56%)
# trained-model claim: at 2x it writes Silverspan's sentence openers
assert dot_2x["example"].count(" Painters") >= 3 and dot_2x["example"].count(" Its") >= 3
fig = go.Figure()
for name in features:
    fig.add_trace(go.Scatter(x=[s / resid_norm for s in strengths],
                             y=[base["share_by_landmark"][name]] + [steering[s]["share_by_landmark"][name] for s in strengths[1:]],
                             name=f"{name} ({features[name]})", mode="lines+markers"))
fig.add_trace(go.Scatter(x=[s / resid_norm for s in strengths], y=[dot_shares[s] for s in strengths],
                         name=f"Silverspan at '.' ({silver_dot})", mode="lines+markers", line_dash="dash"))
fig.update_layout(title="Steering: share of continuations that mention the landmark",
                  xaxis_title="strength (multiples of the residual stream's norm)", yaxis_tickformat=".0%", height=380)
fig

# %% [markdown]
# A dashboard gave a hypothesis, and steering tested it, but read what the test counts. The
# feature that fires where a Silverspan sentence ends, and promotes the first words of the next
# one, turns 3 of 12 continuations to Silverspan at once the norm and none at twice: it writes
# Silverspan's sentence openers (" Painters", " Its"), more than half its tokens are repeats, and
# it never gets to the bridge's words. The feature about places in general scores 100% because two of the places
# it writes are Silverspan's. Steering shows what a direction *writes*; whether that counts as
# "about Silverspan" depends on the words you count, so read the steered text, not only the share.
#
# ## 7. Too much steering
#
# Steering is a trade. Push harder and the text stops being text: at many times the residual
# stream's norm the added direction drowns out everything else, and the model repeats the
# feature's favourite words. The experiment measures fluency two ways: the *unsteered* model's
# loss on the steered text (how surprising a normal reader finds it) and the share of repeated
# tokens. Here they are for the Mistfall feature, the one that promotes the most of its
# landmark's own words, up to eight times the norm:

# %%
mist = features["Mistfall"]
more = [round(4 * resid_norm, 1), round(8 * resid_norm, 1)]
mist_steering = steering_experiment(model, shipped, {"Mistfall": mist}, strengths + more, samples=2, n_tokens=16)
x = [s / resid_norm for s in mist_steering]
for s, r in mist_steering.items():
    print(f"strength {s:6.1f} ({s / resid_norm:.0f}x norm): share {r['share']:4.0%}, loss {r['unsteered_loss']:.2f}, "
          f"repeated {r['repeated_tokens']:4.0%}  {r['example']!r}")
shares = [r["share"] for r in mist_steering.values()]
repeats = [r["repeated_tokens"] for r in mist_steering.values()]
losses = [r["unsteered_loss"] for r in mist_steering.values()]
assert [round(12 * v) for v in shares] == [0, 5, 8, 6, 6]  # trained-model claim: 0%, 42%, 67% (the most), then 50%, 50%
assert repeats == sorted(repeats) and [round(r, 2) for r in repeats] == [0.08, 0.27, 0.62, 0.72, 0.72]  # trained-model claim
assert repeats[3] == repeats[4]  # trained-model claim: no more repeats at 8x than at 4x
assert [round(v, 2) for v in losses] == [5.12, 6.10, 4.66, 3.86, 4.67]  # trained-model claim: up at 1x, then below unsteered
assert mist_steering[strengths[2]]["example"].count(" Water on cliff") >= 5  # trained-model claim: the loop at 2x
assert mist_steering[more[-1]]["example"].count(" You") >= 10  # trained-model claim: " You You You" at 8x
fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_trace(go.Scatter(x=x, y=shares, name="share mentioning Mistfall"))
fig.add_trace(go.Scatter(x=x, y=repeats, name="repeated tokens"))
fig.add_trace(go.Scatter(x=x, y=losses, name="loss of the unsteered model", line_dash="dot"), secondary_y=True)
fig.update_yaxes(title_text="share", tickformat=".0%", secondary_y=False)
fig.update_yaxes(title_text="nats per token", secondary_y=True)
fig.update_layout(title="More strength: less like text, and not even more on topic", xaxis_title="strength (x norm)",
                  height=360)
fig

# %% [markdown]
# Each step up to four times the norm puts more tokens in repeats: from 8% unsteered to 72%, and
# it stays there at eight times. The share of continuations on Mistfall peaks at twice the norm
# (8 of 12), where the first continuation reads " Water on cliff Water on cliff", then falls to
# half: further up, the loop settles on " You", the first word of "You can hear the roar of the
# water from far away", which is not one of Mistfall's eight words, and at eight times the norm
# the first continuation is mostly " You You You". The loss tells another story. It rises at once
# the norm (6.10 nats against 5.12 for the unsteered continuations), then falls *below* the
# unsteered loss as the text turns into a loop: 4.66 at twice the norm, 3.86 at four times. A loop
# is easy to predict. Judge fluency by the repeated share as well, never by the loss alone, and do
# not expect more strength to buy more topic.
#
# `course.steering.feature_hook(sae, f, strength, mode="clamp")` is the other common form: instead of adding a
# fixed vector it *sets* the feature's activation to a value, which changes x only as much as
# needed. Try it in `steering_experiment(..., mode="clamp")` and compare the fluency.
#
# ## Open exercises
#
# These have no single answer. Try them, then compare with a worked answer: `reveal("name")`
# prints its code (each runs in a few seconds).
#
# 1. **Better landmark features** (`"dot_features"`). Apply the full-stop search to all five
#    landmarks. Which of the paragraph search's features does it confirm, which does it replace,
#    and do the replacements steer better?
# 2. **Word features?** (`"word_features"`). Is there a feature for " volcano" or " lava" at all?
#    Search for the feature most active on the landmark's own words, compared with every other
#    token, and read its dashboard: what does it fire on outside Emberpeak text?
# 3. **Clamp or add** (`"clamp_vs_add"`). Steer with the Mistfall feature (the one feature both
#    searches agree on) by clamping its activation instead of adding its direction. Which gives
#    more Mistfall text for the same fluency?

# %%
# Your exploration here. Then, for example: reveal("dot_features")

# %% [markdown]
# ## Recap
#
# - An SAE rewrites an activation as a sparse, non-negative combination of many unit directions:
#   encoder, ReLU or top-k, decoder with unit rows.
# - Sparsity is either penalised (L1, weighted by the decoder norms) or fixed (top-k).
# - A training step is gradient descent on the reconstruction loss, with the decoder's parallel
#   gradient removed and its rows renormalised after each step.
# - Judge an SAE by L0, variance explained, CE loss recovered (splicing it into the model) and
#   dead features; the spliced loss is the one that counts what the model uses.
# - Dashboards (top contexts, promoted and suppressed tokens) turn a feature into a hypothesis;
#   an automatic label is a starting point, not a result. A feature that scores best on one
#   landmark's text can be about something else entirely (tinyworld's Silverspan feature is "a
#   place comes next"); searching where the landmark's sentences end found one that promotes the
#   first words of its next sentence.
# - Steering tests the hypothesis causally, through the output side: features that write their
#   landmark's words make the model talk about it, one that writes its sentences' first words
#   does not. A share of mentions counts words, not meaning (the place feature "steers to
#   Silverspan" by writing " river"), so read the text. Too much strength breaks the text, while
#   the loss can even improve.
#
# %% [markdown]
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
