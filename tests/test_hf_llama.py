"""Llama import and export (course/hf_llama.py) against randomly initialised LlamaForCausalLM
models built locally from several configs: logits both ways and greedy tokens. Nothing is
downloaded."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from course import variants  # noqa: E402
from course.hf import HFImportError, to_hf  # noqa: E402
from course.hf_llama import from_hf_llama, load_llama, to_hf_llama  # noqa: E402
from course.model import HookedTransformer  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402
from tests.hf_parity import assert_loads_from_folder, assert_round_trip, perturb_norms_and_biases  # noqa: E402

CONFIGS = {
    "multi-head-64": dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=4, intermediate_size=128,
                          num_hidden_layers=2, vocab_size=300, max_position_embeddings=64),
    "grouped-72-6-heads-2-kv-untied": dict(hidden_size=72, num_attention_heads=6, num_key_value_heads=2,
                                           intermediate_size=100, num_hidden_layers=2, vocab_size=97,
                                           max_position_embeddings=40, tie_word_embeddings=False),
    "multi-query-tied-theta-500": dict(hidden_size=48, num_attention_heads=4, num_key_value_heads=1,
                                       intermediate_size=80, num_hidden_layers=1, vocab_size=77,
                                       max_position_embeddings=50, tie_word_embeddings=True, rope_theta=500.0),
    "head-dim-16-with-biases": dict(hidden_size=60, num_attention_heads=5, num_key_value_heads=5, head_dim=16,
                                    intermediate_size=90, num_hidden_layers=3, vocab_size=129,
                                    max_position_embeddings=37, attention_bias=True, mlp_bias=True,
                                    rms_norm_eps=1e-5),
}


def hf_model(kw, seed=0):
    torch.manual_seed(seed)
    # initializer_range 0.1: logits far enough apart that greedy tokens do not hang on float noise;
    # no end-of-sequence token: Hugging Face's generate would suppress it, ours does not
    config = LlamaConfig(**kw, initializer_range=0.1, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    return perturb_norms_and_biases(LlamaForCausalLM(config).eval())


@pytest.mark.parametrize("name", CONFIGS)
def test_import_and_export_match_logits_and_greedy_tokens(name):
    kw = CONFIGS[name]
    ours, back = assert_round_trip(hf_model(kw), from_hf_llama, to_hf_llama, kw["vocab_size"],
                                   kw["max_position_embeddings"])
    assert ours.cfg.n_key_value_heads == kw["num_key_value_heads"]
    assert ours.cfg.tie_embeddings == kw.get("tie_word_embeddings", False)
    assert back.config.attention_bias == kw.get("attention_bias", False)


def test_the_chapters_llama_variant_exports_and_comes_back():
    torch.manual_seed(0)
    model = HookedTransformer(variants.config("llama")).eval()
    tokens = torch.randint(0, 2048, (1, 20))
    with torch.no_grad():
        torch.testing.assert_close(to_hf_llama(model)(tokens).logits, model(tokens), atol=1e-4, rtol=0)
        torch.testing.assert_close(from_hf_llama(to_hf_llama(model))(tokens), model(tokens), atol=1e-4, rtol=0)


def test_export_refuses_what_llama_cannot_hold():
    with pytest.raises(HFImportError, match="RMSNorm, rotary positions"):
        to_hf_llama(HookedTransformer(tiny_config()))
    model = HookedTransformer(tiny_config(normalization="RMS", positional="rotary", mlp="swiglu"))
    with torch.no_grad():
        model.unembed.b_U += 1
    with pytest.raises(HFImportError, match="no bias"):
        to_hf_llama(model)
    with pytest.raises(HFImportError, match="hf_llama.to_hf_llama"):
        to_hf(model)  # and GPT-2's export points here


def test_load_from_a_local_folder_and_not_by_name(tmp_path):
    assert_loads_from_folder(hf_model(CONFIGS["grouped-72-6-heads-2-kv-untied"]), load_llama, tmp_path / "llama", 97)
    with pytest.raises(HFImportError, match="never downloads"):
        load_llama(str(tmp_path / "no-such-llama"))
