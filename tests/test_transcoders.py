"""Chapter 11's transcoders (course/transcoders.py) and their zoo entries
(course/tinyworld_transcoders.py), on small models built here: a briefly trained 2-layer model for
training, and a ReLU model whose MLPs a transcoder can copy exactly, which pins the metrics."""

import json

import pytest
import torch

from course import registry, zoo
from course import transcoders as T
from course.config import ModelConfig
from course.model import HookedTransformer
from course.sae import token_batches
from course.tokenizer import Tokenizer
from course.train import TrainConfig, train
from course.weights import WeightsError


@pytest.fixture(scope="module")
def trained_model():
    """2 layers of d_model 32, 150 steps on TinyWorld text (a few seconds): MLPs with structure."""
    torch.manual_seed(0)
    tok = Tokenizer.load()
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=128, d_vocab=tok.vocab_size, n_ctx=128)
    model = HookedTransformer(cfg, tokenizer=tok)
    recipe = TrainConfig(steps=150, batch_size=8, seq_len=64, lr=3e-3, warmup_steps=20)
    train(model, token_batches(model, 0, 8, 64), recipe, progress=False, device=torch.device("cpu"))
    return model.eval()


def relu_model(seed: int = 0) -> HookedTransformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(n_layers=3, d_model=16, n_heads=2, d_head=8, d_mlp=24, d_vocab=40, n_ctx=32, act_fn="relu",
                      init_std=0.3)
    return HookedTransformer(cfg).eval()


def mirror(model, cross_layer: bool) -> T.Transcoders:
    """Transcoders that *are* the model's ReLU MLPs: W_enc = W_in, W_dec = W_out (a CLT writes
    nothing to later layers), threshold 0. Their replacement is exact."""
    cfg = model.cfg
    tc = T.Transcoders(T.TranscoderConfig(cfg.n_layers, cfg.d_model, cfg.d_mlp, cross_layer, k=4))
    with torch.no_grad():
        for l, block in enumerate(model.blocks):
            tc.W_enc[l].copy_(block.mlp.W_in)
            tc.b_enc[l].copy_(block.mlp.b_in)
            tc.W_dec[l].zero_()
            tc.W_dec[l][0].copy_(block.mlp.W_out)
            tc.b_dec[l].copy_(block.mlp.b_out)
    return tc.eval()


# -- the transcoders ---------------------------------------------------------------------------

def test_config_is_validated():
    with pytest.raises(ValueError, match="k must be at most d_transcoder"):
        T.TranscoderConfig(d_transcoder=8, k=9)
    with pytest.raises(ValueError, match="n_layers must be a positive int"):
        T.TranscoderConfig(n_layers=0)


@pytest.mark.parametrize("cross_layer", [False, True])
def test_decoders_write_to_their_layer_or_every_later_one(cross_layer):
    tc = T.Transcoders(T.TranscoderConfig(n_layers=3, d_model=8, d_transcoder=16, cross_layer=cross_layer, k=2))
    for l in range(3):
        n_out = 3 - l if cross_layer else 1
        assert tc.W_dec[l].shape == (n_out, 16, 8)
        torch.testing.assert_close(tc.decoder_norms(l), torch.ones(16))  # unit rows over every layer written
    with torch.no_grad():
        tc.b_dec.normal_()
    acts = torch.zeros(3, 16)  # [layer d_transcoder]: feature 5 of layer 0 at 2.0
    acts[0, 5] = 2.0
    out = tc.decode(acts)  # [layer d_model]
    for j in range(3):
        expected = tc.b_dec[j] + (2.0 * tc.W_dec[0][j, 5] if j in tc.writes_to(0) else 0)
        torch.testing.assert_close(out[j], expected)


def test_jumprelu_passes_the_pre_activation_above_the_threshold():
    tc = T.Transcoders(T.TranscoderConfig(n_layers=1, d_model=8, d_transcoder=32, k=4))
    with torch.no_grad():
        tc.threshold[0] = 0.3
    x = torch.randn(50, 8)
    pre, acts = tc.pre_acts(0, x), tc.encode(0, x)
    torch.testing.assert_close(acts, torch.where(pre > 0.3, pre, torch.zeros_like(pre)))


def test_batch_topk_keeps_k_per_token_on_average_per_layer():
    pre = torch.randn(10, 2, 50)  # [batch layer d_transcoder]
    acts, cut = T.batch_topk(pre, k=3)
    assert ((acts > 0).sum(dim=(0, 2)) == 30).all()  # k * batch in each layer
    for l in range(2):
        kept = acts[:, l][acts[:, l] > 0]
        assert cut[l] == kept.min()
        assert (pre[:, l][pre[:, l] > cut[l]] == acts[:, l][pre[:, l] > cut[l]]).all()


# -- metrics: a transcoder that copies the MLPs is exact ---------------------------------------

@pytest.mark.parametrize("cross_layer", [False, True])
def test_metrics_of_an_exact_transcoder(cross_layer):
    model = relu_model()
    tc = mirror(model, cross_layer)
    tokens = torch.randint(0, 40, (6, 20), generator=torch.Generator().manual_seed(0))
    m = T.evaluate(tc, model, tokens, batch_size=4)
    assert m["n_tokens"] == 6 * 19  # position 0 left out (this model has no tokenizer, so no BOS id)
    for l in range(3):
        assert m[f"variance_explained_layer_{l}"] == pytest.approx(1.0, abs=1e-5)
        x, _ = T.mlp_activations(model, tokens)
        assert m[f"l0_layer_{l}"] == pytest.approx((x[:, 1:, l] @ model.blocks[l].mlp.W_in + model.blocks[l].mlp.b_in
                                                    > 0).float().sum(-1).mean().item(), abs=1e-4)
    assert m["top1_agreement"] == 1.0
    assert m["kl_divergence"] == pytest.approx(0.0, abs=1e-5)
    assert m["ce_loss_replaced"] == pytest.approx(m["ce_loss_clean"], abs=1e-5)


def test_a_worse_transcoder_scores_worse():
    model = relu_model()
    tc = mirror(model, False)
    with torch.no_grad():
        tc.W_dec[1].mul_(0.5)  # layer 1's features write half of what they should
    tokens = torch.randint(0, 40, (6, 20), generator=torch.Generator().manual_seed(0))
    m = T.evaluate(tc, model, tokens)
    assert m["variance_explained_layer_0"] == pytest.approx(1.0, abs=1e-5)
    assert m["variance_explained_layer_1"] < 0.95
    assert m["kl_divergence"] > 1e-4 and m["ce_loss_replaced"] != m["ce_loss_clean"]


# -- training ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cross_layer", [False, True])
def test_training_learns_a_sparse_replacement(trained_model, cross_layer):
    cfg = T.TranscoderConfig(n_layers=2, d_model=32, d_transcoder=128, cross_layer=cross_layer, k=8)
    tcfg = T.TranscoderTrainConfig(steps=250, batch_size=256, lr=3e-3, buffer_tokens=8192, dead_after_tokens=20_000)
    tc, history = T.train_transcoders(trained_model, token_batches(trained_model, 1, 16, 64), cfg, tcfg,
                                      progress=False)
    assert sum(history["fvu"][-1]) < 0.1 * sum(history["fvu"][0])
    assert (tc.threshold > 0).all() and not tc.training
    m = T.evaluate(tc, trained_model, next(token_batches(trained_model, 2, 16, 64)))  # held-out text
    assert m["variance_explained"] > 0.85, m  # measured 0.95 (per layer), 0.96 (cross layer)
    assert 3 <= m["l0"] <= 12, m  # the JumpReLU at inference keeps about k = 8 (measured 5.9, 5.6)
    assert m["dead_fraction"] < 0.6, m  # on 1,000 tokens (measured 0.36, 0.30)
    assert m["top1_agreement"] > 0.85 and m["kl_divergence"] < 0.05, m  # measured 0.94 / 0.012, 0.92 / 0.013


def test_training_checks_the_model_shape(trained_model):
    with pytest.raises(ValueError, match="d_model=64"):
        T.train_transcoders(trained_model, iter([]), T.TranscoderConfig(n_layers=2, d_model=64), progress=False)


# -- saving, loading, fitting ------------------------------------------------------------------

def test_save_load_round_trip_and_errors(tmp_path):
    tc = T.Transcoders(T.TranscoderConfig(n_layers=2, d_model=16, d_transcoder=32, cross_layer=True, k=4), seed=3)
    with torch.no_grad():
        tc.threshold.copy_(torch.tensor([0.1, 0.2]))
    card = T.save(tc, tmp_path / "tc.safetensors", {"name": "test"})
    assert card["transcoder_config"]["cross_layer"] is True and card["sha256"]
    loaded = T.load(tmp_path / "tc.safetensors")
    for (k, a), (_, b) in zip(tc.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    assert loaded.card["name"] == "test"
    data = bytearray((tmp_path / "tc.safetensors").read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / "tc.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt or was changed"):
        T.load(tmp_path / "tc.safetensors")


def test_transcoders_for_another_model_are_refused():
    model = relu_model()  # d_model 16, 3 layers
    wrong = T.Transcoders(T.TranscoderConfig(n_layers=3, d_model=32, d_transcoder=8, k=2))
    with pytest.raises(ValueError, match=r"d_model=32 and 3 layers, but this model has d_model=16"):
        T.evaluate(wrong, model, torch.zeros(1, 4, dtype=torch.long))
    attn_only = HookedTransformer(ModelConfig(n_layers=3, d_model=32, attn_only=True, d_vocab=40))
    with pytest.raises(ValueError, match="attention-only"):
        T.check_fits(wrong, attn_only)
    with pytest.raises(ValueError, match="layer 3 is out of range"):
        wrong.encode(3, torch.zeros(32))


# -- the zoo entries: the command line, on a small model standing in for tinyworld -------------

@pytest.fixture
def small_tinyworld(monkeypatch, trained_model):
    """zoo.load("tinyworld") answered by the small model (the shipped one is not loaded here)."""
    real_load = zoo.load
    monkeypatch.setattr(zoo, "load", lambda name, **kw: trained_model if name == "tinyworld" else real_load(name, **kw))


@pytest.mark.parametrize("name", ["tinyworld-transcoders", "tinyworld-clt"])
def test_entry_trains_from_the_command_line(small_tinyworld, name, tmp_path):
    zoo.main(["train", name, "--steps", "3", "--out", str(tmp_path)])
    card = zoo.card(name, tmp_path)
    assert card["command"] == f"python -m course.zoo train {name} --steps 3"
    assert card["transcoder_config"]["cross_layer"] == (name == "tinyworld-clt")
    assert card["dtype"] == "float16" and card["recipe"]["weights_dtype"] == "float16"  # shipped at half size
    assert {"variance_explained", "l0", "dead_fraction", "top1_agreement", "kl_divergence"} <= set(card["metrics"])
    loaded = zoo.load(name, directory=tmp_path)
    assert isinstance(loaded, T.Transcoders) and loaded.card == card
    fresh = registry.entries()[name].metrics(loaded)
    assert set(fresh) <= set(card["metrics"])
    for key, value in fresh.items():  # the card's figures are measured again from the saved weights
        assert card["metrics"][key] == pytest.approx(value, abs=1e-4), key
    json.dumps(card)
