"""Reading an SAE's features: dashboards (top-activating contexts, activation histogram, the
tokens a feature's direction promotes and suppresses), automatic labels from the top contexts,
and TinyWorld's landmark features, found by how well a feature separates paragraphs about one
landmark from the others. To look at a context, ``widgets.TokenView(ex.tokens, ex.acts)``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from course import evalsets, world
from course.sae import SAE, activations_at, eval_tokens, keep_mask


# -- feature dashboards ------------------------------------------------------------------------

@dataclass
class Example:
    """One context where a feature fires: its tokens up to and a little past the peak."""

    tokens: list[str]
    acts: list[float]  # the feature's activation at each of those tokens
    peak: int  # index (in tokens) of the top activation
    value: float


@dataclass
class Dashboard:
    feature: int
    frequency: float  # fraction of tokens it fires on
    examples: list[Example]  # top-activating contexts, strongest first
    histogram: tuple[list[int], list[float]]  # counts and bin edges of its non-zero activations
    promoted: list[tuple[str, float]]  # tokens whose logits its direction raises most (W_dec[f] @ W_U)
    suppressed: list[tuple[str, float]]  # ... and lowers most
    label: str = ""

    def __str__(self) -> str:
        lines = [f"feature {self.feature}: {self.label}   (fires on {100 * self.frequency:.2f}% of tokens)"]
        for ex in self.examples[:5]:
            left = "".join(ex.tokens[max(0, ex.peak - 8) : ex.peak]).replace("\n", "\\n")
            lines.append(f"  {ex.value:6.2f}  ...{left}[[{ex.tokens[ex.peak]}]]")
        lines.append("  promotes:   " + ", ".join(repr(t) for t, _ in self.promoted[:8]))
        lines.append("  suppresses: " + ", ".join(repr(t) for t, _ in self.suppressed[:8]))
        return "\n".join(lines)


class FeatureStore:
    """Activations of a fixed text sample, kept once, so any feature's dashboard is quick.

    Holds the residual stream at the SAE's hook for ``tokens [batch pos]`` (BOS positions are
    masked out: their activation counts as 0)."""

    def __init__(self, sae: SAE, model, tokens: torch.Tensor):
        self.sae, self.model, self.tokens = sae, model, tokens
        self.keep = keep_mask(tokens, model.tokenizer.bos_id)
        chunks = [activations_at(model, tokens[i : i + 64], sae.cfg.hook_name) for i in range(0, len(tokens), 64)]
        self.resid = torch.cat(chunks)  # [batch pos d_in]
        self._str = {}

    @classmethod
    def from_corpus(cls, sae: SAE, model, n_seqs: int = 200, seed: int = 3) -> "FeatureStore":
        return cls(sae, model, eval_tokens(model, n_seqs, seed))

    @torch.no_grad()
    def acts(self, features: Optional[Sequence[int]] = None) -> torch.Tensor:
        """``[batch pos n_features]`` activations (all features when None: mind the memory).
        Encoded 32 sequences at a time: top-k needs every pre-activation, but only briefly."""
        out = []
        for i in range(0, len(self.tokens), 32):
            f = self.sae.encode(self.resid[i : i + 32]) * self.keep[i : i + 32, :, None]
            out.append(f if features is None else f[..., list(features)])
        return torch.cat(out)

    @torch.no_grad()
    def frequencies(self) -> torch.Tensor:
        """``[d_sae]`` fraction of kept tokens on which each feature fires."""
        counts = torch.zeros(self.sae.cfg.d_sae)
        for i in range(0, len(self.tokens), 32):
            f = self.sae.encode(self.resid[i : i + 32])[self.keep[i : i + 32]]
            counts += (f > 0).sum(0)
        return counts / self.keep.sum()

    def token_str(self, token_id: int) -> str:
        if token_id not in self._str:
            self._str[token_id] = self.model.tokenizer.decode([token_id])
        return self._str[token_id]

    def dashboard(self, feature: int, n_examples: int = 10, context: int = 12, after: int = 3,
                  bins: int = 30, n_logits: int = 10) -> Dashboard:
        a = self.acts([feature])[..., 0]  # [batch pos]
        flat = a.flatten()
        nonzero = flat[flat > 0]
        order = flat.argsort(descending=True)
        examples, used = [], set()
        for idx in order.tolist():
            if flat[idx] <= 0 or len(examples) >= n_examples:
                break
            b, p = divmod(idx, a.shape[1])
            if (b, p // 4) in used:  # one example per neighbourhood, not the same phrase five times
                continue
            used.add((b, p // 4))
            lo, hi = max(0, p - context), min(a.shape[1], p + after + 1)
            ids = self.tokens[b, lo:hi].tolist()
            examples.append(Example([self.token_str(i) for i in ids], a[b, lo:hi].tolist(), p - lo, float(flat[idx])))
        if nonzero.numel():
            counts = torch.histc(nonzero, bins=bins, min=0.0, max=float(nonzero.max()))
            edges = torch.linspace(0.0, float(nonzero.max()), bins + 1)
        else:
            counts, edges = torch.zeros(bins), torch.linspace(0, 1, bins + 1)
        promoted, suppressed = logit_effects(self.sae, self.model, feature, n_logits)
        dash = Dashboard(feature, nonzero.numel() / max(1, int(self.keep.sum())), examples,
                         ([int(c) for c in counts.tolist()], edges.tolist()), promoted, suppressed)
        dash.label = auto_label(dash)
        return dash


def logit_effects(sae: SAE, model, feature: int, n: int = 10) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The tokens a feature's direction promotes and suppresses when read straight through the
    unembedding, ``W_dec[feature] @ W_U``, after the final LayerNorm's centring and gain (its
    division by the scale is one positive number per position, so it cannot change the ranking)."""
    with torch.no_grad():
        d = sae.W_dec[feature]
        ln = getattr(model, "ln_final", None)
        if ln is not None and hasattr(ln, "w"):
            d = (d - d.mean()) * ln.w
        effect = d @ model.W_U  # [d_vocab]
        top = effect.topk(n)
        bottom = (-effect).topk(n)
    dec = model.tokenizer.decode
    return ([(dec([i]), v) for i, v in zip(top.indices.tolist(), top.values.tolist())],
            [(dec([i]), -v) for i, v in zip(bottom.indices.tolist(), bottom.values.tolist())])


_WORD = re.compile(r"[A-Za-z]+")


def landmarks_in(text: str) -> set[str]:
    """The TinyWorld landmarks whose name or one of whose words ``text`` uses."""
    vocab = {}
    for name, words in world.LANDMARKS.items():
        vocab.update({w: name for w in (name.lower(), *words)})
    return {vocab[w.lower()] for w in _WORD.findall(text) if w.lower() in vocab}


def auto_label(dash: Dashboard, min_share: float = 0.5) -> str:
    """A label from the top examples alone, the way an LLM labeller would start, with rules:

    - the tokens it fires on: the peak tokens that cover at least ``min_share`` of the examples
      (e.g. "' lava' / ' ash'"), else "mixed tokens";
    - the topic: if at least ``min_share`` of the examples' contexts use one landmark's words,
      "(Emberpeak)" - a topic feature - or the peak token's preceding token if that is shared.
    An automatic label is a hypothesis: check it against the dashboard and by steering."""
    if not dash.examples:
        return "never fires (dead)"
    peaks = Counter(ex.tokens[ex.peak] for ex in dash.examples)
    n = len(dash.examples)
    chosen, covered = [], 0
    for tok, c in peaks.most_common(3):
        chosen.append(tok)
        covered += c
        if covered >= min_share * n:
            break
    label = " / ".join(repr(t) for t in chosen) if covered >= min_share * n else "mixed tokens"
    topics = Counter()
    for ex in dash.examples:
        topics.update(landmarks_in("".join(ex.tokens[: ex.peak + 1])))
    if topics:
        topic, c = topics.most_common(1)[0]
        if c >= min_share * n:
            return f"{label} ({topic})"
    prev = Counter(ex.tokens[ex.peak - 1] for ex in dash.examples if ex.peak > 0)
    if prev:
        tok, c = prev.most_common(1)[0]
        if c >= min_share * n:
            return f"{label} after {tok!r}"
    return label


# -- landmark features -------------------------------------------------------------------------

@torch.no_grad()
def paragraph_activations(sae: SAE, model, texts: Sequence[str]) -> torch.Tensor:
    """``[n_texts d_sae]``: each feature's mean activation over each text's tokens (BOS first,
    not counted)."""
    out = []
    for text in texts:
        tokens = model.to_tokens(text)
        x = activations_at(model, tokens, sae.cfg.hook_name)[0, 1:]  # [pos-1 d_in]
        out.append(sae.encode(x).mean(0))
    return torch.stack(out)


@dataclass
class LandmarkFeature:
    landmark: str
    feature: int
    separation: float  # (mean in - mean out) / pooled std of per-paragraph mean activations
    mean_in: float
    mean_out: float
    fires_on: float  # fraction of this landmark's paragraphs where it fires at all


def landmark_features(sae: SAE, model, n_per_landmark: int = 20, seed: int = 0) -> dict[str, LandmarkFeature]:
    """For each TinyWorld landmark, the feature whose mean activation over a paragraph best
    separates that landmark's paragraphs from the other landmarks' (largest standardized gap)."""
    items = evalsets.landmark_dataset(n_per_landmark, seed)
    acts = paragraph_activations(sae, model, [it.text for it in items])  # [n d_sae]
    names = [it.landmark for it in items]
    found = {}
    for landmark in world.LANDMARKS:
        mask = torch.tensor([n == landmark for n in names])
        a_in, a_out = acts[mask], acts[~mask]
        pooled = ((a_in.var(0) + a_out.var(0)) / 2).sqrt() + 1e-3
        score = (a_in.mean(0) - a_out.mean(0)) / pooled
        f = int(score.argmax())
        found[landmark] = LandmarkFeature(landmark, f, float(score[f]), float(a_in[:, f].mean()),
                                          float(a_out[:, f].mean()), float((a_in[:, f] > 0).float().mean()))
    return found
