"""Time to build an attribution graph: a 16-token prompt on a 4-layer x 128 model (the tinyworld
shape) with per-layer and cross-layer transcoders of 1024 and 2048 features per layer, random
weights, thresholds set so that k features are active per layer and position (the L0 of trained
ones). Split into the local replacement, the edges (vector-Jacobian products), influence and
pruning, and the JSON export; and, as a ratio, against one forward pass of the model.

Target: the whole graph in at most 5 s on a laptop CPU. Run: python benchmarks/attribution_graph.py [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved, table  # noqa: E402

from course.attribution_graph import build_graph  # noqa: E402
from course.config import ModelConfig  # noqa: E402
from course.model import HookedTransformer  # noqa: E402
from course.replacement import local_replacement  # noqa: E402
from course.transcoders import TranscoderConfig, Transcoders  # noqa: E402


def sparse_random_transcoders(model, tokens, d_transcoder: int, k: int, cross_layer: bool) -> Transcoders:
    """Random transcoders whose thresholds let about k features fire per layer and position."""
    cfg = model.cfg
    tc = Transcoders(TranscoderConfig(cfg.n_layers, cfg.d_model, d_transcoder, cross_layer, k)).eval()
    rep = local_replacement(model, tc, tokens)
    with torch.no_grad():
        for l in range(cfg.n_layers):
            pre = tc.pre_acts(l, rep.mlp_in[l, 1:])  # [pos d_transcoder], position 0 never has features
            tc.threshold[l] = pre.flatten().kthvalue(pre.numel() - k * pre.shape[0]).values
    return tc


def phases(model, tc, tokens) -> dict[str, float]:
    times = {}
    start = time.perf_counter()
    graph = build_graph(model, tc, tokens)
    times["build"] = time.perf_counter() - start
    start = time.perf_counter()
    graph.prune()
    graph.scores()
    times["prune+scores"] = time.perf_counter() - start
    start = time.perf_counter()
    data = graph.to_dict()
    times["json"] = time.perf_counter() - start
    times["n_features"] = sum(n.kind == "feature" for n in graph.nodes)
    times["n_links"] = len(data["links"])
    return times


def main(threads: int = 2, repeats: int = 3) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = ModelConfig(n_layers=4, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=3072, n_ctx=128)
    model = HookedTransformer(cfg).eval()
    tokens = torch.randint(0, cfg.d_vocab, (16,))
    forward = interleaved({"forward": lambda: model(tokens[None])}, repeats=20)["forward"]
    rows = [["transcoders", "features/layer", "k", "active", "build s", "prune+scores s", "json s", "total s",
             "x forward", "pruned links"]]
    for cross_layer in (False, True):
        for d_transcoder, k in ((1024, 16), (2048, 16), (2048, 32)):
            tc = sparse_random_transcoders(model, tokens, d_transcoder, k, cross_layer)
            phases(model, tc, tokens)  # warm up (the first vmap traces its function)
            runs = [phases(model, tc, tokens) for _ in range(repeats)]
            best = min(runs, key=lambda r: r["build"] + r["prune+scores"] + r["json"])
            total = best["build"] + best["prune+scores"] + best["json"]
            rows.append(["cross-layer" if cross_layer else "per-layer", str(d_transcoder), str(k),
                         str(best["n_features"]), f"{best['build']:.2f}", f"{best['prune+scores']:.2f}",
                         f"{best['json']:.2f}", f"{total:.2f}", f"{total / forward:.0f}", str(best["n_links"])])
    print(f"16-token prompt, 4 layers x d_model 128, {threads} thread(s); one forward pass {1000 * forward:.1f} ms")
    print(table(rows))
    print("target: total <= 5 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.threads, args.repeats)
