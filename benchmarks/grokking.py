"""Wall time to grok (test accuracy > 99%) of the accelerated recipe against the standard one.

Both trainings run side by side in this one process, one step of each in turn, so both see the
same machine state; each side's clock counts only its own steps and evaluations. The fast side
stops when it groks; the standard side goes on until it groks or its time cap runs out.
Prints the time to grok of each and their ratio.

Run: python benchmarks/grokking.py [--cap 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import table  # noqa: E402

from course import modadd  # noqa: E402


class Side:
    """One training run advanced a step at a time, with its own clock."""

    def __init__(self, name: str, cfg: modadd.GrokConfig):
        self.name, self.cfg = name, cfg
        data = modadd.make_data(cfg.p, cfg.frac_train, cfg.data_seed)
        self.model = modadd.make_model(cfg.p, cfg.seed)
        self.steps = modadd.training_steps(self.model, data, cfg)
        self.seconds, self.step, self.test_acc = 0.0, 0, 0.0
        self.grokked_step = self.grokked_seconds = None

    def advance(self) -> None:
        start = time.perf_counter()
        self.step, metrics = next(self.steps)
        self.seconds += time.perf_counter() - start
        if "test_acc" in metrics:
            self.test_acc = metrics["test_acc"]
            if self.test_acc > 0.99:
                self.grokked_step, self.grokked_seconds = self.step, self.seconds


def main(cap: float = 600.0, seed: int = 0, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    fast = Side("accelerated (Grokfast-EMA, lr 3e-3, wd 2)",
                modadd.GrokConfig(**{**modadd.FAST.to_dict(), "seed": seed, "log_every": 10}))
    standard = Side("standard (AdamW, lr 1e-3, wd 1)",
                    modadd.GrokConfig(**{**modadd.STANDARD.to_dict(), "seed": seed, "log_every": 10}))
    sides = [fast, standard]
    while True:
        running = [s for s in sides if s.grokked_step is None and s.seconds < cap]
        if not running:
            break
        for side in running:
            side.advance()
        if fast.grokked_step is not None and standard.step % 1000 == 0 and standard.grokked_step is None:
            print(f"  standard: step {standard.step}, test accuracy {standard.test_acc:.3f}, {standard.seconds:.0f} s",
                  flush=True)

    rows = [["recipe", "steps to grok", "seconds to grok", "s/step"]]
    for s in sides:
        if s.grokked_step is None:
            rows.append([s.name, f"> {s.step}", f"did not grok within {cap:.0f} s", f"{s.seconds / s.step:.4f}"])
        else:
            rows.append([s.name, str(s.grokked_step), f"{s.grokked_seconds:.1f}", f"{s.seconds / s.step:.4f}"])
    print(f"p = {modadd.P}, 30% train, seed {seed}, {threads} threads, evaluated every 10 steps")
    print(table(rows))
    if fast.grokked_step is None:
        print("the accelerated recipe did not grok within the cap")
    elif standard.grokked_step is None:
        print(f"speedup: > {standard.seconds / fast.grokked_seconds:.1f}x (the standard recipe had not grokked "
              f"after {standard.seconds:.0f} s)")
    else:
        print(f"speedup: {standard.grokked_seconds / fast.grokked_seconds:.1f}x in wall time, "
              f"{standard.grokked_step / fast.grokked_step:.1f}x in steps")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap", type=float, default=600.0, help="seconds the standard recipe may train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    main(args.cap, args.seed, args.threads)
