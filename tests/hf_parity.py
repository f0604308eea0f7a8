"""The parity check every Hugging Face import/export test runs (GPT-2 in test_hf.py, Llama in
test_hf_llama.py): logits within 1e-4 both ways, and the same greedy tokens, as minGPT's test."""

import torch


def perturb_norms_and_biases(hf_model, names=("bias", "ln", "norm")):
    """Move LayerNorm/RMSNorm weights and biases off their trivial init, so the test sees them."""
    with torch.no_grad():
        for name, p in hf_model.named_parameters():
            if any(n in name for n in names):
                p.add_(torch.randn_like(p) * 0.1)
    return hf_model


def assert_round_trip(hf, import_fn, export_fn, d_vocab: int, n_ctx: int):
    """Import ``hf``, export the result back, and compare both with ``hf`` on tokens filling most of
    the context, then greedy generation to the end of it. Returns (course model, exported model)."""
    tokens = torch.randint(0, d_vocab, (2, n_ctx - 5), generator=torch.Generator().manual_seed(1))
    ours = import_fn(hf)
    with torch.no_grad():
        hf_logits = hf(tokens).logits
        torch.testing.assert_close(ours(tokens), hf_logits, atol=1e-4, rtol=0)
        back = export_fn(ours)
        torch.testing.assert_close(back(tokens).logits, hf_logits, atol=1e-4, rtol=0)
    prompt, new = tokens[:1, :5], n_ctx - 5
    hf_tokens = hf.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False)
    assert torch.equal(ours.generate(prompt, new), hf_tokens)
    assert torch.equal(back.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False), hf_tokens)
    return ours, back


def assert_loads_from_folder(hf, load_fn, folder, d_vocab: int):
    """Save ``hf`` with ``save_pretrained`` and load it back with ``load_fn`` (offline, by path)."""
    hf.save_pretrained(folder)
    ours = load_fn(str(folder))
    tokens = torch.randint(0, d_vocab, (1, 10))
    with torch.no_grad():
        torch.testing.assert_close(ours(tokens), hf(tokens).logits, atol=1e-4, rtol=0)
