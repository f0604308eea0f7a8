"""Chapter 10: the sparse autoencoder (unit tests on a tiny random model) and the shipped SAE
held to its card: variance explained, loss recovered, dead features, landmark features, steering."""

import json

import pytest
import torch

from course import features, steering, zoo
from course import sae as S
from course.model import HookedTransformer
from course.tokenizer import Tokenizer
from course.weights import WeightsError
from solutions import ch10_sae as sol
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    tokenizer = Tokenizer.load()
    cfg = tiny_config(d_vocab=tokenizer.vocab_size, n_ctx=128, d_model=16, d_head=4, d_mlp=32)
    return HookedTransformer(cfg, tokenizer=tokenizer).eval()


def mirror_sae(d_in: int, hook: str = "blocks.0.hook_resid_post") -> S.SAE:
    """An SAE that reconstructs exactly: features relu(x) and relu(-x), decoder rows +e_i and -e_i."""
    sae = S.SAE(S.SAEConfig(d_in=d_in, d_sae=2 * d_in, activation="relu", hook_name=hook))
    eye = torch.eye(d_in)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


# -- the autoencoder ---------------------------------------------------------------------------
def test_encode_matches_the_reference_and_topk_keeps_k():
    torch.manual_seed(0)
    relu = S.SAE(S.SAEConfig(d_in=8, d_sae=32, activation="relu"), seed=1)
    with torch.no_grad():
        relu.b_dec.normal_()
        relu.b_enc.normal_()
    x = torch.randn(5, 8)
    torch.testing.assert_close(relu.encode(x), sol.sae_encode(x, relu.W_enc, relu.b_enc, relu.b_dec))
    topk = S.SAE(S.SAEConfig(d_in=8, d_sae=32, k=4), seed=1)
    f = topk.encode(x)
    torch.testing.assert_close(f, sol.topk_activation(topk.pre_acts(x), 4))
    assert ((f > 0).sum(-1) <= 4).all() and (f >= 0).all()
    torch.testing.assert_close(topk.W_dec.norm(dim=-1), torch.ones(32))


def test_config_is_validated():
    with pytest.raises(ValueError, match="'topk' or 'relu'"):
        S.SAEConfig(activation="gelu")
    with pytest.raises(ValueError, match="k must be in 1..d_sae"):
        S.SAEConfig(d_sae=8, k=9)


@pytest.fixture
def one_thread():
    # Tiny matrices: a second thread only adds synchronisation (several times slower on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_keeps_unit_decoder_rows_and_learns(one_thread):
    g = torch.Generator().manual_seed(0)
    directions = torch.randn(24, 8, generator=g)
    codes = torch.rand(4000, 24, generator=g) * (torch.rand(4000, 24, generator=g) < 0.1)
    acts = codes @ directions + 0.5  # sparse combinations of 24 directions, off-centre
    sae, history = S.train_sae(acts, S.SAEConfig(d_in=8, d_sae=48, k=4),
                               S.SAETrainConfig(steps=200, batch_size=256, lr=3e-3, dead_after_tokens=2000),
                               progress=False)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(48))
    assert history["reconstruction"][-1] < 0.5 * history["reconstruction"][0]
    x_hat = sae(acts)
    assert sol.variance_explained(acts, x_hat) > 0.7


def test_relu_loss_has_the_sparsity_term():
    sae = S.SAE(S.SAEConfig(d_in=8, d_sae=16, activation="relu", l1_coefficient=2.0))
    terms = sae.loss(torch.randn(10, 8))
    assert set(terms) >= {"reconstruction", "sparsity", "total", "l0"}
    torch.testing.assert_close(terms["total"], terms["reconstruction"] + terms["sparsity"])


# -- metrics on a tiny model -------------------------------------------------------------------
def test_keep_mask_drops_position_zero_and_bos(small_model):
    bos = small_model.tokenizer.bos_id
    tokens = torch.tensor([[bos, 5, 6, bos, 7], [8, 9, 10, 11, 12]])
    assert S.keep_mask(tokens, bos).tolist() == [[False, True, True, False, True], [False, True, True, True, True]]


def test_a_perfect_sae_scores_perfectly(small_model):
    sae = mirror_sae(16)
    tokens = S.eval_tokens(small_model, n_seqs=4, seq_len=32)
    m = S.evaluate(sae, small_model, tokens)
    assert m["variance_explained"] == pytest.approx(1.0, abs=1e-5)
    assert m["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-3)
    assert m["ce_loss_spliced"] == pytest.approx(m["ce_loss_clean"], abs=1e-4)
    assert m["n_tokens"] == int(S.keep_mask(tokens, small_model.tokenizer.bos_id).sum())
    assert 0 <= m["dead_fraction"] <= 1 and 0 < m["l0"] <= 16
    assert sol.ce_loss_recovered(m["ce_loss_clean"], m["ce_loss_spliced"], m["ce_loss_zero_ablation"]) == \
        pytest.approx(m["ce_loss_recovered"])


def test_collect_activations_skips_later_layers_and_bos(small_model):
    acts = S.collect_activations(small_model, "blocks.0.hook_resid_post", 300, seed=1, batch_size=4, seq_len=32)
    assert acts.shape == (300, 16)
    tokens = next(S.token_batches(small_model, 1, 4, 32))
    _, cache = small_model.run_with_cache(tokens, names_filter="blocks.0.hook_resid_post")
    expected = cache["blocks.0.hook_resid_post"][S.keep_mask(tokens, small_model.tokenizer.bos_id)]
    torch.testing.assert_close(acts[: len(expected)], expected[:300])


def test_text_follows_the_model_and_a_tokenizer_is_refused(small_model):
    from course import corpus, evaluate, zoo
    model = zoo.load("tinyworld")  # trained on corpus_v4: its SAE text must be v4 too
    assert evaluate.corpus_of(model).__name__ == "course.corpus_v4"
    first_document = evaluate.corpus_of(model).documents(1, seed=2)[0]
    text = model.tokenizer.decode(S.eval_tokens(model, n_seqs=1, seq_len=64)[0].tolist())
    assert first_document[:40] in text[:60]  # the stream opens with EOT, then that document
    assert evaluate.corpus_of(small_model) is corpus  # no card: the v2 corpus
    with pytest.raises(TypeError, match="pass `model`, not `model.tokenizer`"):
        S.eval_tokens(small_model.tokenizer)


def test_steering_hooks(small_model):
    sae = mirror_sae(16)
    x = torch.randn(2, 3, 16)
    x[..., 3] = x[..., 3].abs()  # feature 3 reads relu(x_3): clamping it then sets x_3 itself
    name, add = steering.steering_hook("blocks.1.hook_resid_post", torch.ones(16), 2.0)
    assert name == "blocks.1.hook_resid_post"
    torch.testing.assert_close(add(x, None), x + 2.0)
    name, add = steering.feature_hook(sae, 3, 5.0)
    assert name == sae.cfg.hook_name == "blocks.0.hook_resid_post"
    torch.testing.assert_close(add(x, None) - x, (5.0 * sae.W_dec[3]).expand_as(x))
    _, clamp = steering.feature_hook(sae, 3, 2.5, mode="clamp")
    torch.testing.assert_close(sae.encode(clamp(x, None))[..., 3], torch.full((2, 3), 2.5))
    with pytest.raises(ValueError, match="'add' or 'clamp'"):
        steering.feature_hook(sae, 3, 1.0, mode="set")
    conts = steering.steered_continuations(small_model, sae, 3, 50.0, ["Let me tell you about"], samples=2, n_tokens=5)
    plain = steering.steered_continuations(small_model, sae, 3, 0.0, ["Let me tell you about"], samples=2, n_tokens=5)
    assert len(conts) == 2 and all(len(c) == 5 for c in conts) and conts != plain
    flu = steering.fluency(small_model, ["Let me tell you about"], plain, samples=2)
    assert flu["unsteered_loss"] > 0 and 0 <= flu["repeated_tokens"] < 1


def test_mentions_and_auto_label():
    assert steering.mentions(" The lava was hot", "Emberpeak") and steering.mentions("Emberpeak!", "Emberpeak")
    assert not steering.mentions(" the lavatory", "Emberpeak") and not steering.mentions(" a bridge", "Emberpeak")
    assert features.landmarks_in("A bridge near the volcano") == {"Silverspan", "Emberpeak"}
    ex = [features.Example([" The", " Emberpeak", " is", " a", " volcano"], [0, 0, 0, 0, 3.0], 4, 3.0),
          features.Example([" hot", " lava", " and", " volcano"], [0, 1, 0, 2.0], 3, 2.0),
          features.Example([" a", " volcano"], [0, 1.0], 1, 1.0)]
    dash = features.Dashboard(0, 0.01, ex, ([1], [0.0, 1.0]), [], [])
    assert features.auto_label(dash) == "' volcano' (Emberpeak)"
    assert features.auto_label(features.Dashboard(1, 0.0, [], ([], []), [], [])) == "never fires (dead)"


def test_dashboard_on_a_tiny_model(small_model):
    sae = mirror_sae(16)
    store = features.FeatureStore(sae, small_model, S.eval_tokens(small_model, n_seqs=4, seq_len=32))
    dash = store.dashboard(2, n_examples=5)
    assert 0 < len(dash.examples) <= 5 and dash.label
    values = [e.value for e in dash.examples]
    assert values == sorted(values, reverse=True)
    assert all(e.acts[e.peak] == pytest.approx(e.value) for e in dash.examples)
    assert sum(dash.histogram[0]) == pytest.approx(dash.frequency * int(store.keep.sum()), abs=1)
    assert len(dash.promoted) == 10 and dash.promoted[0][1] >= dash.promoted[-1][1]
    assert "feature 2" in str(dash)
    assert store.frequencies()[2] == pytest.approx(dash.frequency)
    acts = store.resid[store.keep]
    counts = S.firing_counts(sae, acts)
    assert counts[2] == int(round(dash.frequency * len(acts))) and counts.sum() == (sae.encode(acts) > 0).sum()


def test_save_load_round_trip_and_corruption(tmp_path):
    sae = S.SAE(S.SAEConfig(d_in=8, d_sae=16, k=2), seed=3)
    card = S.save(sae, tmp_path / "s.safetensors", {"metrics": {"l0": 2.0}})
    loaded = S.load(tmp_path / "s.safetensors")
    assert loaded.cfg == sae.cfg and loaded.card["metrics"] == {"l0": 2.0}
    torch.testing.assert_close(loaded.W_enc, sae.W_enc)
    assert json.loads((tmp_path / "s.json").read_text())["sha256"] == card["sha256"]
    data = bytearray((tmp_path / "s.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "s.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or was changed"):
        S.load(tmp_path / "s.safetensors")
    with pytest.raises(WeightsError, match="no card"):
        S.load(tmp_path / "missing.safetensors")


# -- the shipped SAE ---------------------------------------------------------------------------
shipped = pytest.mark.skipif(not zoo.weights_path("tinyworld-sae").exists(),
                             reason="the shipped SAE is not built yet: python -m course.zoo train tinyworld-sae")


@pytest.fixture(scope="module")
def shipped_pair():
    return zoo.load("tinyworld"), zoo.load("tinyworld-sae")


@shipped
def test_shipped_card_meets_the_claims():
    card = zoo.card("tinyworld-sae")
    m = card["metrics"]
    assert card["model"] == "tinyworld" and card["data"]["corpus"] == zoo.card("tinyworld")["data"]["corpus"]
    assert m["variance_explained"] >= 0.9  # measured 0.955; chapter 10 asserts 0.9 on its own tokens
    assert m["ce_loss_recovered"] >= 0.995  # measured 0.9993
    assert m["dead_fraction"] <= 0.02  # measured 0.0 over 200,000 tokens
    assert m["l0"] == pytest.approx(card["sae_config"]["k"], abs=0.5)  # the stated L0: top-k's k
    assert card["bytes"] < 6e6 and card["data"]["n_tokens"] >= 1_000_000


@shipped
def test_shipped_metrics_reproduce(shipped_pair):
    model, sae = shipped_pair
    m = S.evaluate(sae, model, S.eval_tokens(model, n_seqs=16, seed=5))
    card = sae.card["metrics"]
    # measured on these tokens: 0.9556 and 0.9991 (the card: 0.9555 and 0.9993)
    assert m["variance_explained"] >= 0.9 and abs(m["variance_explained"] - card["variance_explained"]) < 0.03
    assert m["ce_loss_recovered"] >= 0.99 and abs(m["ce_loss_recovered"] - card["ce_loss_recovered"]) < 0.05


@shipped
def test_shipped_landmark_features_and_labels(shipped_pair):
    model, sae = shipped_pair
    # Fresh paragraphs (another seed) find the card's features again, well separated.
    found = features.landmark_features(sae, model, n_per_landmark=10, seed=1)
    card = sae.card["landmark_features"]
    assert len({f.feature for f in found.values()}) == 5  # one distinct feature per landmark
    # On paragraphs of another seed, all 5 card features are found again (measured separations 11.0 to 15.1).
    assert {f.landmark: f.feature for f in found.values()} == {k: v["feature"] for k, v in card.items()}
    for f in found.values():
        assert f.separation > 5.0 and f.mean_in > f.mean_out, f
    # Chapter 10's dashboards (the same 64 sequences of seed 3): the automatic labels and top contexts.
    store = features.FeatureStore.from_corpus(sae, model, n_seqs=64, seed=3)
    labels, about_own = {}, {}
    for name, v in card.items():
        dash = store.dashboard(v["feature"], n_examples=8)
        labels[name] = dash.label
        about_own[name] = sum(name in features.landmarks_in("".join(ex.tokens[: ex.peak + 1])) for ex in dash.examples)
    assert labels == {"Silverspan": "' the' after ' at'", "Emberpeak": "' his' / ' a' (Emberpeak)",
                      "Skyspire": "' the' / ' blue' (Skyspire)", "Gullrock": "' it' / ' studied'",
                      "Mistfall": "'.' (Mistfall)"}, labels
    assert about_own == {"Silverspan": 0, "Emberpeak": 6, "Skyspire": 7, "Gullrock": 1, "Mistfall": 6}, about_own
    places = [t for t, _ in features.logit_effects(sae, model, card["Silverspan"]["feature"], 10)[0]]
    assert places == [" camp", " river", " party", " festival", " bridge", " fair", " market", " village", " bank",
                      " shop"], places  # the "a place comes next" feature


@shipped
def test_steering_with_landmark_features_talks_about_the_landmark(shipped_pair):
    model, sae = shipped_pair
    landmark_features = {k: v["feature"] for k, v in sae.card["landmark_features"].items()}
    strength = sae.card["steering_test"]["strength"]
    result = steering.steering_experiment(model, sae, landmark_features, strengths=(0, strength), samples=2,
                                          n_tokens=16)
    baseline, steered = result[0.0]["share"], result[float(strength)]["share"]
    assert steered - baseline >= sae.card["steering_test"]["asserted_margin"], result


# -- the chapter's learner parts equal the library -------------------------------------------------
def test_training_step_equals_the_library_step_with_sgd(one_thread):
    g = torch.Generator().manual_seed(3)
    acts = torch.randn(300, 8, generator=g) @ torch.randn(8, 8, generator=g) + 2.0
    sae = S.SAE(S.SAEConfig(d_in=8, d_sae=24, k=3), seed=2)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    params = {name: p.detach().clone() for name, p in sae.named_parameters()}
    for step in range(3):  # several steps: the library and the reference stay equal
        x = acts[step * 64 : (step + 1) * 64]
        params = sol.sae_training_step(params, x, 3, lr=0.5)
        optimizer = torch.optim.SGD(sae.parameters(), lr=0.5)
        loss = sae.loss(x)["total"]
        optimizer.zero_grad()
        loss.backward()
        sae.remove_parallel_gradient()
        optimizer.step()
        sae.normalize_decoder()
        torch.testing.assert_close(params["loss"], loss.detach())
        for name, p in sae.named_parameters():
            torch.testing.assert_close(params[name], p.detach())


def test_dashboard_data_equals_the_learner_parts(small_model):
    sae = mirror_sae(16)
    with torch.no_grad():
        sae.W_dec.copy_(torch.nn.functional.normalize(sae.W_dec + 0.3 * torch.randn(32, 16), dim=-1))
    store = features.FeatureStore(sae, small_model, S.eval_tokens(small_model, n_seqs=4, seq_len=32))
    for f in (2, 19):
        dash = store.dashboard(f, n_examples=6)
        top = sol.top_activating_positions(store.acts([f])[..., 0], 6)
        assert [v for _, _, v in top] == pytest.approx([ex.value for ex in dash.examples])
        for (b, p, v), ex in zip(top, dash.examples):
            assert store.token_str(store.tokens[b, p].item()) == ex.tokens[ex.peak]
        up, down = sol.promoted_tokens(sae.W_dec[f].detach(), small_model.ln_final.w.detach(), small_model.W_U.detach(), 10)
        decode = small_model.tokenizer.decode
        assert [decode([i]) for i in up.tolist()] == [t for t, _ in dash.promoted]
        assert [decode([i]) for i in down.tolist()] == [t for t, _ in dash.suppressed]


@shipped
def test_shipped_landmark_features_where_they_fire_and_the_full_stop_search_steers(shipped_pair):
    """What chapter 10 says, on fresh paragraphs (seed 1; the chapter reads seed 0): no card feature
    is a clean full-stop detector (the Gullrock feature puts the most on '.', the Skyspire feature
    the least); the Silverspan feature ("a place comes next") is silent at the other landmarks' full
    stops and fires just before ' river' and ' bridge'; the full-stop search confirms only the
    Mistfall feature and replaces Silverspan's by one that promotes Silverspan's sentence openers
    and, unlike the card's feature, which writes places, steers no text to Silverspan's words."""
    from course import world

    model, sae = shipped_pair
    acts, text, owner = sol.paragraph_tokens(model, sae, n_per_landmark=10, seed=1)
    dot = torch.tensor([t == "." for t in text])
    card = {k: v["feature"] for k, v in sae.card["landmark_features"].items()}

    def own(landmark):
        return torch.tensor([o == landmark for o in owner])

    on_stop, in_own = {}, {}
    for landmark, f in card.items():
        a = acts[:, f]
        on_stop[landmark] = ((a * dot).sum() / a.sum()).item()
        in_own[landmark] = (a[own(landmark)].sum() / a.sum()).item()
    # measured on '.': 0.44, 0.32, 0.20, 0.52, 0.39 (the chapter: 0.45, 0.31, 0.19, 0.54, 0.38); in own 0.67-0.88
    assert max(on_stop, key=on_stop.get) == "Gullrock" and min(on_stop, key=on_stop.get) == "Skyspire", on_stop
    assert all(0.6 < in_own[n] < 0.9 for n in card), in_own
    silver = card["Silverspan"]
    stops = {m: acts[dot & own(m), silver].mean().item() for m in card}
    assert all(stops[m] < 0.01 * stops["Silverspan"] for m in card if m != "Silverspan"), stops  # measured 0.0 vs 2.57
    before = torch.tensor([t in (" river", " bridge") for t in text[1:]] + [False])
    a = acts[:, silver]
    assert 0.25 < (a[before].sum() / a.sum()).item() < 0.45  # measured 0.32 (the chapter: 0.36)

    def full_stop_gap(landmark):
        return acts[dot & own(landmark)].mean(0) - acts[dot & ~own(landmark)].mean(0)

    assert [n for n in card if int(full_stop_gap(n).argmax()) == card[n]] == ["Mistfall"]
    gap = full_stop_gap("Silverspan")
    found = int(gap.argmax())
    assert found != silver and gap[found] > 1.4 * gap[silver]  # measured 4.17 vs 2.57 (the chapter: 3.95 vs 2.53)
    openers = {sentence.split()[0] for sentence in world.LANDMARK_SENTENCES["Silverspan"]}
    promoted = [t.strip() for t, _ in features.logit_effects(sae, model, found, 10)[0]]
    assert [t for t in promoted if t in openers] == ["Painters", "Under", "From", "Every"], promoted
    assert not set(promoted) & set(world.LANDMARKS["Silverspan"]), promoted
    strength = round(2 * sae.card["resid_norm"], 1)
    shares = {f: steering.steering_experiment(model, sae, {"Silverspan": f}, (strength,), samples=2,
                                              n_tokens=16)[float(strength)]["share"] for f in (found, silver)}
    assert shares[silver] == 1.0 and shares[found] == 0.0, shares  # the place feature writes ' river'; the other none


@shipped
def test_shipped_worked_answers_of_chapter_10(shipped_pair):
    from course import world

    model, sae = shipped_pair
    rows = sol.worked_dot_features(model, sae)
    confirmed = {n for n, r in rows.items() if r["full-stop feature"] == r["card feature"]}
    assert confirmed == {"Mistfall"}, rows  # the other four are replaced
    gains = {n: r["steering share at 2x (card, full stop)"] for n, r in rows.items()}
    assert gains["Gullrock"][1] > gains["Gullrock"][0] + 0.5, gains  # measured 0.25 -> 0.92
    assert gains["Silverspan"][1] < gains["Silverspan"][0] - 0.5, gains  # measured 1.0 -> 0.0
    assert gains["Emberpeak"][1] < gains["Emberpeak"][0] and gains["Skyspire"][1] < gains["Skyspire"][0], gains
    # measured 1.0 -> 0.42 and 0.75 -> 0.08
    word = sol.worked_word_features(model, sae)
    assert not features.landmarks_in(word["label"])  # its label names no landmark ("' long' / ' music' after ' a'")...
    assert word["gap"] < 1.0 and word["share in own paragraphs"] < 0.45  # ...and it is weak and mostly elsewhere (0.61, 0.39)
    assert not set(t.strip() for t in word["promotes"]) & set(world.LANDMARKS["Emberpeak"])  # no Emberpeak word
    modes = sol.worked_clamp_vs_add(model, sae, rows["Mistfall"]["full-stop feature"], "Mistfall")
    assert set(modes) == {"add", "clamp"} and all(0 <= r["share"] <= 1 for m in modes.values() for r in m.values())
    (add_1x, add_2x), clamp_20, clamp_40 = modes["add"].values(), modes["clamp"][20.0], modes["clamp"][40.0]
    assert add_1x["share"] < add_2x["share"]  # measured 0.42, 0.67
    # clamping at 20: as many Mistfall continuations as adding 2x, about half the repeats (0.67 and 0.67; 0.31 vs 0.59)
    assert clamp_20["share"] == add_2x["share"] and clamp_20["repeated_tokens"] < 0.6 * add_2x["repeated_tokens"]
    # clamping at 40: more Mistfall continuations than adding 2x, about as many repeats (0.92 vs 0.67; 0.64 vs 0.59)
    assert clamp_40["share"] > add_2x["share"] + 0.2 and abs(clamp_40["repeated_tokens"] - add_2x["repeated_tokens"]) < 0.1
