"""Wall time to grok (test accuracy > 99%) of the live recipe, ``modadd.train_fast``, for several
seeds in a row, as chapter 08 runs it; then what its extra series cost.

Each seed trains from scratch, exactly as the chapter's live cell does, until it groks or the cap
runs out; the table gives the phase boundaries it crossed (``modadd.phase_boundaries``), when it
grokked and the mean time per step, evaluations included. The target is every seed under 45 s.
The extra series (restricted and excluded loss, the key frequencies' share of the embedding,
``modadd.live_measures``) ride on each logged evaluation: their cost is timed against a training
step and an evaluation without them, interleaved so that all three see the same machine.

Run: python benchmarks/grokking.py [--seeds 0 1 2 3 4] [--cap 90] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved, table  # noqa: E402

from course import modadd  # noqa: E402

TARGET_SECONDS = 45.0


def run_seeds(seeds: list[int], cap: float) -> list[dict]:
    """Train the live recipe once per seed, in a row; one result row per seed."""
    results = []
    for seed in seeds:
        _, history = modadd.train_fast(seed, max_seconds=cap, progress=False)
        phases = modadd.phase_boundaries(history)
        steps = history["step"][-1]
        result = {"seed": seed, "memorised": phases["memorised"], "circuit": phases["circuit"],
                  "grokked_step": history["grokked_step"], "grokked_seconds": history["grokked_seconds"],
                  "steps": steps, "s_per_step": history["seconds_total"] / steps,
                  "key_frequencies": history["key_frequencies"][-1]}
        results.append(result)
        print(f"  seed {seed}: " + (f"grokked at step {result['grokked_step']} after {result['grokked_seconds']:.1f} s"
                                    if result["grokked_step"] else f"not grokked after {cap:.0f} s ({steps} steps)"),
              flush=True)
    return results


def series_cost(repeats: int = 15) -> dict:
    """Seconds of one live training step, one logged evaluation without the extra series, and one
    with them (medians, interleaved), on a model part-way through training."""
    data = modadd.make_data(modadd.LIVE.p, modadd.LIVE.frac_train, modadd.LIVE.data_seed)
    model = modadd.make_model(modadd.LIVE.p)
    never = modadd.GrokConfig(**{**modadd.LIVE.to_dict(), "log_every": 10 ** 9})  # steps without evaluations
    plain = modadd.GrokConfig(**{**modadd.LIVE.to_dict(), "progress_measures": False})
    steps = modadd.training_steps(model, data, never)
    for _ in range(300):  # past memorisation, so the numbers are those of the plateau
        next(steps)
    times = interleaved({"step": lambda: next(steps),
                         "evaluation": lambda: modadd.evaluate(model, data, plain),
                         "evaluation + series": lambda: modadd.evaluate(model, data, modadd.LIVE)}, repeats=repeats)
    steps.close()
    return times


def main(seeds: list[int], cap: float, threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
    live = modadd.LIVE
    print(f"live recipe: p = {live.p}, {live.frac_train:.0%} train, lr {live.lr:g}, weight decay {live.weight_decay:g}, "
          f"Grokfast-EMA alpha {live.grokfast_alpha} lambda {live.grokfast_lambda:g}, table attention, "
          f"bf16 forward, flush denormals; evaluated every {live.log_every} steps; "
          f"{torch.get_num_threads()} threads")
    results = run_seeds(seeds, cap)
    rows = [["seed", "memorised", "circuit", "grokked (step)", "grokked (s)", "s/step", "key frequencies"]]
    for r in results:
        rows.append([str(r["seed"]), str(r["memorised"]), str(r["circuit"]),
                     str(r["grokked_step"]) if r["grokked_step"] else f"> {r['steps']}",
                     f"{r['grokked_seconds']:.1f}" if r["grokked_step"] else f"> {cap:.0f}",
                     f"{r['s_per_step']:.4f}", str(r["key_frequencies"])])
    print(table(rows))
    on_time = sum(1 for r in results if r["grokked_step"] and r["grokked_seconds"] < TARGET_SECONDS)
    print(f"{on_time} of {len(results)} seeds grokked within {TARGET_SECONDS:.0f} s")

    times = series_cost()
    per_step = (times["evaluation + series"] - times["evaluation"]) / live.log_every
    print(f"\none step {times['step'] * 1e3:.1f} ms; one evaluation {times['evaluation'] * 1e3:.1f} ms, "
          f"{times['evaluation + series'] * 1e3:.1f} ms with the extra series")
    print(f"evaluating every {live.log_every} steps costs {times['evaluation'] / live.log_every / times['step']:.1%} "
          f"of the training time; the extra series add {per_step / times['step']:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cap", type=float, default=90.0, help="seconds each seed may train")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    main(args.seeds, args.cap, args.threads)
