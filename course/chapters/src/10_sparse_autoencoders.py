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
from course.steering import steering_directions, steering_experiment
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
assert ours["variance explained"] >= 0.9  # trained-model claim (measured 0.953)
assert ours["CE loss recovered"] >= 0.995  # trained-model claim: "all but a fraction of a percent" (measured 0.9992)
assert ours["dead fraction"] <= 0.02  # trained-model claim (measured 0.000 on these tokens)
assert quick["variance explained"] > 0.7 and quick["CE loss recovered"] > 0.95  # trained-model claim (0.811, 0.979)
assert 0.15 < 1 - quick["variance explained"] < 0.25  # trained-model claim: "a fifth" unexplained (0.189)
assert 0.15 < quick["loss added by splicing"] < 0.35 and ours["loss added by splicing"] < 0.01  # (0.216, 0.008 nats)
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
assert min(lf.separation for lf in landmarks.values()) > 5  # trained-model claim: one clear feature per landmark (9.9 to 13.1)

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
print("first words of Silverspan's sentences among the ten it promotes most:", promoted_openers)
assert dash.label == "'.' (Silverspan)"  # trained-model claim: its top contexts end Silverspan's sentences
assert all(ex.tokens[ex.peak] == "." and "Silverspan" in landmarks_in("".join(ex.tokens[: ex.peak + 1]))
           for ex in dash.examples)  # trained-model claim: all eight
assert len(promoted_openers) == 6  # trained-model claim: six of the ten (' Every', ' Painters', ' The', ' Under', ' From', ' Its')
assert not {" bridge", " river", " steel"} & {t for t, _ in dash.promoted[:10]}  # trained-model claim: not its subject

# %% [markdown]
# Its top contexts all end on the "." of a sentence about Silverspan, most often "The Silverspan
# is a long bridge across the river.", never on " bridge" or " river": it fires where a Silverspan
# sentence ends. A full stop is where a small model must guess the next sentence, and in TinyWorld
# the next sentence of a landmark paragraph is about the same landmark, so a feature here *could*
# carry "the next sentence is about Silverspan". Its output side says so: six of the ten tokens it
# promotes most are first words of Silverspan's sentences (" Every", " Painters", " The", " Under",
# " From", " Its"), one more is a second word (" morning", from "Every morning, cars and bikes"),
# and the rest have nothing to do with Silverspan (" would", " Florida", " sat"). Note what it
# does *not* promote: " bridge", " river", " steel", the words the sentences are about.
#
# Are the other four like it? Measure all five where they were chosen, on the landmark
# paragraphs: what share of each feature's total activation falls on "." tokens, and what share
# on its own landmark's paragraphs? On the output side, how many of the ten tokens it promotes
# most are words that only that landmark's sentences use (" Painters", " Under", " steel" for
# Silverspan)?

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
others = [name for name in described if name != "Silverspan"]
# trained-model claim: the Silverspan feature is the most on '.' (69%, 83% in its own paragraphs), yet all five leak:
# 26-69% on '.' and 68-83% in their own paragraphs
assert max(described, key=lambda n: described[n]["on_stop"]) == "Silverspan"
assert all(d["on_stop"] < 0.75 and d["in_own"] < 0.85 for d in described.values())
assert described["Skyspire"]["on_stop"] < 0.3  # trained-model claim: "a quarter" (26%)
assert all(silver_at_stops[n] < 0.1 * silver_at_stops["Silverspan"] for n in others)  # trained-model claim (0.00-0.34 vs 4.23)
own_words = {name: d["promoted own words"] for name, d in described.items()}
assert own_words["Mistfall"] >= 7 and own_words["Skyspire"] >= 6  # trained-model claim (8 and 7 of 10)
assert (own_words["Silverspan"], own_words["Emberpeak"], own_words["Gullrock"]) == (5, 3, 0)  # trained-model claim
fig = go.Figure([go.Bar(name=label, x=list(described), y=[d[key] for d in described.values()])
                 for key, label in (("on_stop", "on '.' tokens"), ("in_own", "in its landmark's paragraphs"))])
fig.update_layout(barmode="group", title="Where each landmark feature's activation falls, on the landmark paragraphs",
                  yaxis_title="share of the feature's total activation", yaxis_tickformat=".0%", height=330)
fig

# %% [markdown]
# On the landmark paragraphs none of the five is a clean full-stop detector. The Silverspan
# feature comes closest: 69% of its activation falls on full stops, 83% of it in Silverspan's
# paragraphs, and at the other landmarks' full stops it is all but silent (under a tenth of its
# value at Silverspan's). The other four leak more, onto other tokens (the Skyspire feature puts
# only a quarter on ".", as much as on " the") and into other landmarks' paragraphs (the
# Mistfall feature has only 68% of its activation in Mistfall's, a sixth in Silverspan's). On
# the output side the order changes again: the Mistfall feature promotes eight tokens that only
# Mistfall's sentences use (" You", " Green", " Water", " spray", " hills"), the Skyspire feature
# seven (" Visitors", " glass", " walls", " clear"), the Silverspan feature five (its sentence
# openers), the Emberpeak feature three, among unrelated words (" for", " most", " Grey" beside
# " made", " kind", " friend"), and the Gullrock feature none (" for", " same", " together").
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
    print(f"{name:>11} {f:4d}  label {d.label:<20}  {about_own[name]} of 8 about {name:<10}  top context: "
          + repr("".join(best.tokens[max(0, best.peak - 8) : best.peak + 1])))
assert all(labels[n] == f"'.' ({n})" for n in ("Silverspan", "Skyspire", "Mistfall"))  # trained-model claim
assert about_own["Silverspan"] == about_own["Skyspire"] == 8 and about_own["Mistfall"] == 7  # trained-model claim
assert labels["Emberpeak"] == "' night' after ' That'" and labels["Gullrock"] == "mixed tokens"  # trained-model claim
assert about_own["Emberpeak"] == about_own["Gullrock"] == 1  # trained-model claim: 1 of 8 each
assert all(0.75 < described[n]["in_own"] < 0.85 for n in ("Emberpeak", "Gullrock"))  # "about four fifths" (78%, 81%)
for n in ("Emberpeak", "Gullrock"):  # trained-model claim: all but silent at the others' full stops (at most 3%)
    at_stops = {m: para_acts[is_dot & torch.tensor([o == m for o in para_owner]), features[n]].mean().item() for m in features}
    assert all(v < 0.05 * at_stops[n] for m, v in at_stops.items() if m != n)
mean_in = {name: lf.mean_in for name, lf in landmarks.items()}
assert mean_in["Emberpeak"] == min(mean_in.values())  # trained-model claim: the smallest paragraph mean (0.32)

# %% [markdown]
# Three of the five labels name their landmark. On ordinary text, too, all eight top contexts of
# the Silverspan and Skyspire features are their landmark's sentences, and seven of the Mistfall
# feature's. The other two are busiest on something else entirely. The Emberpeak feature fires
# on " night" after "That" in the stories ("Carl also practices rugby. That night"); one of its
# eight top contexts is an Emberpeak sentence. The Gullrock feature's label is "mixed tokens": it
# peaks on " tea", " it", " an", " studied" in stories, with one Gullrock sentence among its top
# eight (print `store.dashboard(f)` for each). Yet on the landmark paragraphs both keep about
# four fifths of their activation in their own landmark's, and both are all but silent at the
# other landmarks' full stops; the Emberpeak feature has the smallest paragraph mean of the five
# (the "mean in" column of the first table). That is exactly what the paragraph search rewards: a
# gap in means, in units of the spread, is largest for a feature that is quiet on the other
# landmarks' paragraphs, whatever it does on the rest of the text. A label is a hypothesis, and
# so is a high score on one kind of text.
#
# Ask the question where these features fire most strongly instead: which feature is most
# active at the full stops of Emberpeak paragraphs, compared with the full stops of the other
# landmarks' paragraphs? (For Skyspire, Gullrock and Mistfall this search returns the features
# we already have; Silverspan's is the first open exercise.)

# %%
def full_stop_gap(landmark):
    own = torch.tensor([o == landmark for o in para_owner])
    return para_acts[is_dot & own].mean(0) - para_acts[is_dot & ~own].mean(0)  # [d_sae]


assert all(int(full_stop_gap(n).argmax()) == features[n] for n in ("Skyspire", "Gullrock", "Mistfall"))  # trained-model claim
gap = full_stop_gap("Emberpeak")
ember, ember_dot = features["Emberpeak"], int(gap.argmax())
second = describe("Emberpeak", ember_dot)
print(f"feature {ember_dot}: gap at '.' {gap[ember_dot]:.2f} (the paragraph search's feature {ember}: {gap[ember]:.2f}); "
      f"{second['on_stop']:.0%} of its activation on '.', {second['in_own']:.0%} in Emberpeak paragraphs")
print(f"promotes ({second['promoted own words']} of 10 only Emberpeak's): {', '.join(repr(t) for t in second['promoted'])}")
assert ember_dot != ember and gap[ember_dot] > 2 * gap[ember]  # trained-model claim: twice the gap (4.26 vs 2.05)
assert second["promoted own words"] >= 6  # trained-model claim: "six of the ten" are Emberpeak's words
assert second["on_stop"] > 0.85  # trained-model claim: nearly all on '.' (89%)...
assert second["in_own"] < described["Emberpeak"]["in_own"] - 0.05  # trained-model claim: ...but leakier (68% vs 78%)
dash2 = store.dashboard(ember_dot, n_examples=8)
assert dash2.label == "'.' (Emberpeak)"  # trained-model claim: on ordinary text too
assert all("Emberpeak" in landmarks_in("".join(ex.tokens[: ex.peak + 1])) for ex in dash2.examples)  # trained-model claim
counts, edges = dash2.histogram
fig = make_subplots(rows=1, cols=2, subplot_titles=(f"feature {ember_dot}: activations where it fires",
                                                    "its direct effect on the logits"))
fig.add_trace(go.Bar(x=[(a + b) / 2 for a, b in zip(edges, edges[1:])], y=counts, name="tokens"), row=1, col=1)
effects = dash2.promoted[:10] + dash2.suppressed[:10][::-1]
fig.add_trace(go.Bar(x=[v for _, v in effects], y=[repr(t) for t, _ in effects], orientation="h", name="logit effect",
                     marker_color=["#2166ac" if v > 0 else "#b2182b" for _, v in effects]), row=1, col=2)
fig.update_xaxes(title_text="activation", row=1, col=1)
fig.update_yaxes(title_text="tokens (held-out text)", row=1, col=1)
fig.update_yaxes(autorange="reversed", row=1, col=2)
fig.update_layout(height=420, showlegend=False, title=f"Dashboard of feature {ember_dot} ({dash2.label})")
fig

# %% [markdown]
# On both sides this is an Emberpeak feature. All eight of its strongest contexts on ordinary
# text end Emberpeak's sentences, and six of the ten tokens it promotes are the first words of
# six of Emberpeak's seven sentences (" At", " Grey", " Scientists", " Deep", " Smoke", " Long"):
# it is a "the next sentence is about Emberpeak" feature, which the paragraph search missed. As a
# detector it is not cleaner: 89% of its activation is on full stops, but only 68% of it in
# Emberpeak's paragraphs (a seventh in Silverspan's), less than the paragraph search's feature.
# Its top context, coloured by its activation at each token (hover for the values):

# %%
top_example = dash2.examples[0]
TokenView(top_example.tokens, top_example.acts, value_label="feature activation", vmin=0.0)

# %% [markdown]
# ## 6. Steering
#
# If a feature really means "the next sentence is about Emberpeak", adding its direction to the
# residual stream should make the model talk about Emberpeak. That is *steering*: at every
# position, after block 2, x <- x + strength * W_dec[f]. The rows are unit vectors, so the
# strength is in the residual stream's own units; the next cell prints its typical norm at this
# layer.
#
# `FeatureSteering` generates a continuation with and without the steering, from the same random
# numbers, and colours each token by how much the (unsteered) residual stream points along the
# feature direction. In JupyterLab you can change the strength, the feature and the prompt and
# press generate; here we drive it from code with the full-stop Emberpeak feature you just found.
# (Both continuations are sampled at temperature 0.8 from the same seed. tinyworld is a small
# model and its free-running text from a prompt it never saw is loose word salad, so we judge
# steering by *which words* appear, not by the prose.)

# %%
resid_norm = shipped.card["resid_norm"]
print(f"mean norm of the residual stream at {shipped.cfg.hook_name}: {resid_norm:.1f}")
widget = FeatureSteering(model, steering_directions(shipped, {**features, "Emberpeak at '.'": ember_dot}),
                         hook_name=shipped.cfg.hook_name, strength=2 * resid_norm, temperature=0.8, n_tokens=16,
                         prompt=evalsets.landmark_prompts()[0])
widget.direction = next(name for name in widget.direction_names if name.startswith("Emberpeak at"))
result = widget.generate()
print("prompt:   ", widget.prompt)
print("unsteered:", result.unsteered)
print("steered:  ", result.steered)
assert all(w in result.steered for w in (" Scientists", " Deep", " At", " Smoke"))  # trained-model claim (the prose below)
widget

# %% [markdown]
# The steered text is full of the first words of Emberpeak's sentences (" Scientists", " Deep",
# " At"), what the feature promotes, and once reaches an Emberpeak word (" Smoke").
#
# One example proves little. `steering_experiment` measures it: for each landmark feature and
# each of the six neutral prompts (none names a landmark), it samples continuations and counts
# the share that **mention** the landmark (its name or one of its eight words). Strength 0 is
# the baseline: how often ordinary continuations mention a landmark anyway. Small settings
# (2 samples of 16 tokens per prompt) keep it to a few seconds. First the five features the
# paragraph search found:

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
assert steered["share"] > base["share"] + 0.2  # trained-model claim: on average, steering works (5% -> 32%)
by_landmark = steered["share_by_landmark"]
assert by_landmark["Skyspire"] >= 0.85  # trained-model claim: "nine in ten" (92%)
# trained-model claim: "a quarter to a third" (25% and 33%)
assert 0.2 <= min(by_landmark["Silverspan"], by_landmark["Mistfall"]) <= max(by_landmark["Silverspan"], by_landmark["Mistfall"]) <= 0.4
# trained-model claim: the Emberpeak and Gullrock features do no better than unsteered text (0% and 8%, against 8% and 8%)
assert all(by_landmark[n] <= base["share_by_landmark"][n] for n in ("Emberpeak", "Gullrock"))

# %% [markdown]
# On average, steering works. By landmark, it follows the output side, not the detector scores
# or the labels: the Skyspire feature, which promotes its landmark's own words (" glass",
# " walls", " clear"), turns nine in ten continuations to Skyspire at twice the norm. The
# Silverspan and Mistfall features manage a quarter to a third: what they promote most are the
# first words of their landmark's sentences (" Every", " Painters"; " You", " Green", " Water"),
# which the share does not count, and the steered text repeats them more often than it goes on
# to a landmark word. The Emberpeak and Gullrock features, whose promoted tokens have nothing to
# do with their landmark, do no better than unsteered text, though the Gullrock feature fires at
# the right place (the full-stop search picks it too). Now the full-stop Emberpeak feature, which
# promotes Emberpeak's sentence openers:

# %%
ember_steering = steering_experiment(model, shipped, {"Emberpeak": ember_dot}, strengths, samples=2, n_tokens=16)
ember_shares = {s: r["share"] for s, r in ember_steering.items()}
print(f"feature {ember_dot}, share of continuations that mention Emberpeak:",
      {f"{s / resid_norm:.0f}x": f"{v:.0%}" for s, v in ember_shares.items()})
print(f"feature {ember}, the paragraph search's, at 2x: {by_landmark['Emberpeak']:.0%}")
print("example at 2x:", repr(ember_steering[strengths[2]]["example"]))
assert ember_shares[strengths[2]] > by_landmark["Emberpeak"] + 0.2  # trained-model claim: it steers a little (25% vs 0%)
assert ember_shares[strengths[2]] < 0.5  # trained-model claim: "a quarter" (25%)
# trained-model claim: at 2x it writes Emberpeak's sentence openers
assert all(w in ember_steering[strengths[2]]["example"] for w in (" Scientists", " Deep", " At"))
fig = go.Figure()
for name in features:
    fig.add_trace(go.Scatter(x=[s / resid_norm for s in strengths],
                             y=[base["share_by_landmark"][name]] + [steering[s]["share_by_landmark"][name] for s in strengths[1:]],
                             name=f"{name} ({features[name]})", mode="lines+markers"))
fig.add_trace(go.Scatter(x=[s / resid_norm for s in strengths], y=[ember_shares[s] for s in strengths],
                         name=f"Emberpeak at '.' ({ember_dot})", mode="lines+markers", line_dash="dash"))
fig.update_layout(title="Steering: share of continuations that mention the landmark",
                  xaxis_title="strength (multiples of the residual stream's norm)", yaxis_tickformat=".0%", height=380)
fig

# %% [markdown]
# A dashboard gave a hypothesis, and steering tested it: neither the feature that best separates
# paragraphs nor a detector that fires at the right place is sure to drive the text; the one
# whose output side writes the landmark's words does. The full-stop Emberpeak feature does
# better than the paragraph search's (a quarter of the continuations, against none), but it
# writes what it promotes, Emberpeak's sentence openers (" Scientists", " Deep", " At"), and
# only sometimes gets on to a word of the landmark itself.
#
# ## 7. Too much steering
#
# Steering is a trade. Push harder and the text stops being text: at many times the residual
# stream's norm the added direction drowns out everything else, and the model repeats the
# feature's favourite words. The experiment measures fluency two ways: the *unsteered* model's
# loss on the steered text (how surprising a normal reader finds it) and the share of repeated
# tokens. Here they are for the Skyspire feature, the one that steers best, up to eight times
# the norm:

# %%
sky = features["Skyspire"]
more = [round(4 * resid_norm, 1), round(8 * resid_norm, 1)]
sky_steering = steering_experiment(model, shipped, {"Skyspire": sky}, strengths + more, samples=2, n_tokens=16)
x = [s / resid_norm for s in sky_steering]
for s, r in sky_steering.items():
    print(f"strength {s:6.1f} ({s / resid_norm:.0f}x norm): share {r['share']:4.0%}, loss {r['unsteered_loss']:.2f}, "
          f"repeated {r['repeated_tokens']:4.0%}  {r['example']!r}")
shares = [r["share"] for r in sky_steering.values()]
repeats = [r["repeated_tokens"] for r in sky_steering.values()]
losses = [r["unsteered_loss"] for r in sky_steering.values()]
assert shares[2] == max(shares) > 0.9  # trained-model claim: the most on topic at 2x (92%)...
assert shares[3] < shares[2] - 0.2  # trained-model claim: ...and fewer at 4x (58%)
assert repeats == sorted(repeats) and repeats[-1] > 0.8  # trained-model claim: "more than four in five" (85%, 86%)
assert round(repeats[0], 2) == 0.07  # trained-model claim: 7% unsteered
assert losses[1] == max(losses) and losses[1:4] == sorted(losses[1:4], reverse=True)  # trained-model claim: up, then down
assert sky_steering[strengths[2]]["example"].count(" glass") >= 10  # trained-model claim: " glass glass glass" at 2x
assert sky_steering[more[-1]]["example"].count(" Visitors") >= 10  # trained-model claim: " Visitors Visitors" at 8x
assert max(losses[3:]) < 0.6 * losses[0]  # trained-model claim: at 4x and 8x, about half the unsteered (2.53, 2.87 vs 5.03)
fig = make_subplots(specs=[[{"secondary_y": True}]])
fig.add_trace(go.Scatter(x=x, y=shares, name="share mentioning Skyspire"))
fig.add_trace(go.Scatter(x=x, y=repeats, name="repeated tokens"))
fig.add_trace(go.Scatter(x=x, y=losses, name="loss of the unsteered model", line_dash="dot"), secondary_y=True)
fig.update_yaxes(title_text="share", tickformat=".0%", secondary_y=False)
fig.update_yaxes(title_text="nats per token", secondary_y=True)
fig.update_layout(title="More strength: less like text, and not even more on topic", xaxis_title="strength (x norm)",
                  height=360)
fig

# %% [markdown]
# Every step up in strength puts more tokens in repeats: from 7% unsteered to more than four in
# five at four and eight times the norm. The share of continuations on Skyspire peaks at twice
# the norm (nine in ten), where the text is " glass glass glass", then falls (58% and 75% at
# four and eight times): further up, the loop settles on " Visitors", the first word of
# "Visitors gasp at the height", which is not one of Skyspire's eight words, and at eight times
# the norm the text is almost nothing but " Visitors Visitors Visitors". The loss tells another
# story. It rises at once the norm, then falls as the text turns into a loop, and at four and
# eight times the norm it is about *half* what it is on the unsteered continuations: a loop is
# easy to predict. Judge fluency by the repeated share as well, never by the loss alone, and do
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
# 3. **Clamp or add** (`"clamp_vs_add"`). Steer with the Skyspire feature (one both searches
#    agree on, and the one that steers best) by clamping its activation instead of adding its
#    direction. Which gives more Skyspire text for the same fluency?

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
#   an automatic label is a starting point, not a result. tinyworld's landmark features fire
#   most strongly on the full stops of a landmark's text; some of them promote the words its next
#   sentence uses (its first words, or its content words), and a feature that scores well on
#   landmark text can be about something else entirely.
# - Steering tests the hypothesis causally: the feature whose direction writes its landmark's
#   words makes the model talk about it, those that write its sentences' first words do so a
#   little, those that only fire in the right place not at all; and too much strength breaks the
#   text (while the loss can even improve).
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
