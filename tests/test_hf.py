import os
import subprocess
import sys
import time

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from course.hf import HFImportError, from_hf, load_gpt2, to_hf  # noqa: E402
from tests.hf_parity import assert_loads_from_folder, assert_round_trip, perturb_norms_and_biases  # noqa: E402

CONFIGS = {
    "small": dict(n_embd=64, n_head=4, n_layer=2, n_positions=64, vocab_size=300),
    "3-heads-width-48": dict(n_embd=48, n_head=3, n_layer=2, n_positions=37, vocab_size=101),
    "5-heads-width-60-untied": dict(n_embd=60, n_head=5, n_layer=3, n_positions=50, vocab_size=77,
                                    tie_word_embeddings=False),
    "1-layer-7-heads-ctx-99": dict(n_embd=70, n_head=7, n_layer=1, n_positions=99, vocab_size=129, n_inner=100),
}


def hf_model(kw, seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(**kw, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return perturb_norms_and_biases(GPT2LMHeadModel(config).eval())


@pytest.mark.parametrize("name", CONFIGS)
def test_import_and_export_match_logits_and_greedy_tokens(name):
    kw = CONFIGS[name]
    ours, _ = assert_round_trip(hf_model(kw), from_hf, to_hf, kw["vocab_size"], kw["n_positions"])
    assert ours.cfg.tie_embeddings == kw.get("tie_word_embeddings", True)


def test_export_refuses_what_gpt2_cannot_hold(tiny_model):
    with torch.no_grad():
        tiny_model.unembed.b_U += 1
    with pytest.raises(HFImportError, match="no bias"):
        to_hf(tiny_model)


def test_load_from_a_local_folder(tmp_path):
    assert_loads_from_folder(hf_model(CONFIGS["small"]), load_gpt2, tmp_path / "gpt2-local", 300)


def test_loading_by_name_offline_fails_fast_and_clearly(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty-cache")}
    code = "from course.hf import load_gpt2\nload_gpt2('gpt2')"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert result.returncode != 0
    assert "course.hf.HFImportError: GPT-2 weights 'gpt2' were not found in the local Hugging Face cache" in result.stderr
    assert "never downloads" in result.stderr
    assert "site-packages/transformers" not in result.stderr  # no stack trace from inside the library
    assert elapsed < 60
