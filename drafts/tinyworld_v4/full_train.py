"""The full v4 candidate: tinyworld's recipe (10,000 steps of 32 x 128, bf16, keep every 2,000) on
course.corpus_v4, written to OUT as `tinyworld` would be. Resumable: rerun the same command after an
interruption (train state every 500 steps).

Also keeps exponential moving averages of the weights (decays 0.999 and 0.9998: horizons of about
1,000 and 5,000 steps), saved beside the run as tinyworld.ema0.999.safetensors etc. and every 2,000
steps in tinyworld-kept/, to test whether averaging steadies the held-out metrics, which moved by
up to 0.1 between the shipped run's 1,000-step evaluations. The card measures the raw weights.
usage: full_train.py OUT THREADS"""
import dataclasses
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

out, threads = Path(sys.argv[1]), int(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(threads)
from course import tinyworld_models as tm  # noqa: E402

DECAYS = (0.999, 0.9998)
tm.RECIPES["tinyworld"] = dataclasses.replace(tm.RECIPES["tinyworld"], corpus="course.corpus_v4")
plain_train = tm.train


def ema_path(decay: float, step: int | None = None) -> Path:
    return out / (f"tinyworld-kept/ema{decay}_step{step}.safetensors" if step else f"tinyworld.ema{decay}.safetensors")


def train_with_ema(model, batches, cfg, on_step=None, **kw):
    state = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    resumed = out / "tinyworld.ema-state.safetensors"
    emas = {}
    if resumed.exists():
        saved = load_file(str(resumed))
        emas = {d: {k: saved[f"{d}/{k}"] for k in state} for d in DECAYS}

    def step_hook(step, loss):
        if not emas:  # a fresh start: begin from the weights after this step (resumed ones included)
            emas.update({d: {k: v.detach().float().clone() for k, v in state.items()} for d in DECAYS})
        with torch.no_grad():
            for d, ema in emas.items():
                for k, v in state.items():
                    ema[k].lerp_(v.detach().float(), 1 - d)
        if step % 500 == 0:  # beside the train state, which is saved at the same steps
            save_file({f"{d}/{k}": v.contiguous() for d, e in emas.items() for k, v in e.items()}, str(resumed))
        if step % 2000 == 0 and step < cfg.steps:
            for d, e in emas.items():
                ema_path(d, step).parent.mkdir(parents=True, exist_ok=True)
                save_file({k: v.contiguous() for k, v in e.items()}, str(ema_path(d, step)))
        return on_step(step, loss) if on_step else None

    history = plain_train(model, batches, cfg, on_step=step_hook, **kw)
    for d, e in emas.items():
        save_file({k: v.contiguous() for k, v in e.items()}, str(ema_path(d)))
    resumed.unlink(missing_ok=True)
    return history


tm.train = train_with_ema
t = time.time()
card = tm.train_recipe("tinyworld", out, progress=True)
print("seconds", round(time.time() - t), {k: v for k, v in card["metrics"].items() if not isinstance(v, (dict, list))})
