"""A tiny stand-in for course.model.HookedTransformer that follows the same contract (hook names,
run_with_cache, accumulated_resid, hooks, generate_stream, to_str_tokens...), so widget tests do
not depend on the real model. Its vocabulary includes hostile and invisible strings on purpose."""

from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import torch

HOSTILE = [
    "<img src=x onerror=window.__pwned=1>",
    "</script><script>window.__pwned=1</script>",
    '"><svg onload=window.__pwned=1>',
    "${window.__pwned=1}",
]
SPECIAL = ["<bos>", " ", "\n", "", "\u200b", "שלום", "🙂", " the", "\t"]
VOCAB = SPECIAL + HOSTILE + [f"w{i}" for i in range(40 - len(SPECIAL) - len(HOSTILE))]


class FakeCache(dict):
    def __init__(self, acts, model):
        super().__init__(acts)
        self.model = model

    def accumulated_resid(self, apply_ln: bool = False):
        n = self.model.cfg.n_layers
        stack = torch.stack([self["hook_embed"]] + [self[f"blocks.{l}.hook_resid_post"] for l in range(n)])
        return self.model.ln_final(stack) if apply_ln else stack


class FakeModel:
    def __init__(self, n_layers: int = 2, d_model: int = 16, n_heads: int = 4, seed: int = 0):
        self.cfg = SimpleNamespace(n_layers=n_layers, d_model=d_model, n_heads=n_heads,
                                   d_head=d_model // n_heads, d_vocab=len(VOCAB), n_ctx=128)
        g = torch.Generator().manual_seed(seed)
        r = lambda *s: torch.randn(*s, generator=g) / math.sqrt(s[0])  # noqa: E731
        self.W_E = torch.randn(self.cfg.d_vocab, d_model, generator=g)
        self.W_pos = torch.randn(self.cfg.n_ctx, d_model, generator=g) * 0.5
        self.W_Q = [r(d_model, d_model) * 3 for _ in range(n_layers)]
        self.W_K = [r(d_model, d_model) * 3 for _ in range(n_layers)]
        self.W_V = [r(d_model, d_model) for _ in range(n_layers)]
        self.W_U = r(d_model, self.cfg.d_vocab) * 4
        self.b_U = torch.zeros(self.cfg.d_vocab)
        self._hooks: dict[str, list] = {}
        self.tokenizer = SimpleNamespace(bos_id=0)

    @staticmethod
    def ln_final(x):
        x = x - x.mean(-1, keepdim=True)
        return x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()

    def _hook(self, name, x):
        for fn in self._hooks.get(name, []):
            out = fn(x, SimpleNamespace(name=name))
            if out is not None:
                x = out
        return x

    def __call__(self, tokens):
        b, p = tokens.shape
        H, dh = self.cfg.n_heads, self.cfg.d_head
        x = self._hook("hook_embed", self.W_E[tokens] + self.W_pos[:p])
        mask = torch.triu(torch.ones(p, p, dtype=torch.bool), 1)
        for l in range(self.cfg.n_layers):
            q = (x @ self.W_Q[l]).view(b, p, H, dh).transpose(1, 2)
            k = (x @ self.W_K[l]).view(b, p, H, dh).transpose(1, 2)
            v = (x @ self.W_V[l]).view(b, p, H, dh).transpose(1, 2)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
            pattern = self._hook(f"blocks.{l}.attn.hook_pattern", scores.masked_fill(mask, -1e9).softmax(-1))
            x = x + (pattern @ v).transpose(1, 2).reshape(b, p, -1)
            x = self._hook(f"blocks.{l}.hook_resid_post", x)
        return self.ln_final(x) @ self.W_U + self.b_U

    @contextlib.contextmanager
    def hooks(self, fwd_hooks=()):
        added = []
        try:
            for name, fn in fwd_hooks:
                self._hooks.setdefault(name, []).append(fn)
                added.append((name, fn))
            yield self
        finally:
            for name, fn in added:
                self._hooks[name].remove(fn)

    def run_with_cache(self, tokens, names_filter=None):
        store = {}

        def save(x, hook):
            store[hook.name] = x.detach()

        names = ["hook_embed"] + [f"blocks.{l}.{n}" for l in range(self.cfg.n_layers)
                                  for n in ("attn.hook_pattern", "hook_resid_post")]
        if isinstance(names_filter, str):
            names = [names_filter]
        with self.hooks([(n, save) for n in names]):
            logits = self(tokens)
        return logits, FakeCache(store, self)

    def generate_stream(self, tokens, max_new_tokens=20, temperature=0.0, seed=None):
        g = torch.Generator().manual_seed(seed or 0)
        ids = tokens.clone()
        for _ in range(max_new_tokens):
            logits = self(ids)[0, -1]
            if temperature > 0:
                nxt = torch.multinomial((logits / temperature).softmax(-1), 1, generator=g)
            else:
                nxt = logits.argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt[None]], 1)
            yield int(nxt)

    # text <-> tokens: words of the vocabulary map to themselves, other words to w-tokens
    def to_tokens(self, text: str):
        ids = [0]
        for w in text.split(" "):
            ids.append(VOCAB.index(w) if w in VOCAB else len(SPECIAL) + len(HOSTILE) + sum(map(ord, w)) % 20)
        return torch.tensor([ids])

    def to_str_tokens(self, x):
        ids = self.to_tokens(x)[0] if isinstance(x, str) else x
        return [VOCAB[int(i)] for i in torch.as_tensor(ids).flatten()]

    def to_string(self, ids):
        return "".join(VOCAB[int(i)] for i in torch.as_tensor(ids).flatten())
