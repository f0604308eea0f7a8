import os
import subprocess
import sys
import time

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from course.hf import HFImportError, from_hf, load_gpt2, to_hf  # noqa: E402

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
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # move the biases and LayerNorms off their trivial init, so the test sees them
        for name, p in model.named_parameters():
            if "bias" in name or "ln" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("name", CONFIGS)
def test_import_and_export_match_logits_and_greedy_tokens(name):
    kw = CONFIGS[name]
    hf = hf_model(kw)
    ours = from_hf(hf)
    tokens = torch.randint(0, kw["vocab_size"], (2, kw["n_positions"] - 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        hf_logits = hf(tokens).logits
        torch.testing.assert_close(ours(tokens), hf_logits, atol=1e-4, rtol=0)
        back = to_hf(ours)
        torch.testing.assert_close(back(tokens).logits, hf_logits, atol=1e-4, rtol=0)
    assert ours.cfg.tie_embeddings == kw.get("tie_word_embeddings", True)
    prompt = tokens[:1, :5]
    new = kw["n_positions"] - 5
    hf_tokens = hf.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    assert torch.equal(ours.generate(prompt, new), hf_tokens)


def test_export_refuses_what_gpt2_cannot_hold(tiny_model):
    with torch.no_grad():
        tiny_model.unembed.b_U += 1
    with pytest.raises(HFImportError, match="no bias"):
        to_hf(tiny_model)


def test_load_from_a_local_folder(tmp_path):
    hf = hf_model(CONFIGS["small"])
    hf.save_pretrained(tmp_path / "gpt2-local")
    ours = load_gpt2(str(tmp_path / "gpt2-local"))
    tokens = torch.randint(0, 300, (1, 10))
    with torch.no_grad():
        torch.testing.assert_close(ours(tokens), hf(tokens).logits, atol=1e-4, rtol=0)


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
