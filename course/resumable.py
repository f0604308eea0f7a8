"""The saved state of a training run, so that a long run (the main TinyWorld model trains for about
an hour on a laptop CPU) survives an interruption: `course.train.train(..., state_path=...)` saves
it every few hundred steps and resumes from it.

The state is the model's and the optimizer's tensors in one safetensors file plus a JSON of the
step, the history and the optimizer's scalars; never a pickle. The data stream is deterministic
in its seed, so a resumed run skips the batches already seen and trains on exactly what an
uninterrupted run would have.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, history: dict,
               average=None) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if average is not None:  # a course.averaging.WeightAverage: in the same file, so it resumes at the same step
        tensors.update({f"average.{k}": v.detach().cpu().contiguous() for k, v in average.weights.items()})
    opt = optimizer.state_dict()
    scalars = {}
    for pid, st in opt["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.ndim > 0:
                tensors[f"opt.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = float(v)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)  # atomic: an interruption mid-write leaves the previous state intact
    meta = {"step": step, "history": history, "scalars": scalars, "param_groups": opt["param_groups"]}
    path.with_suffix(".json.tmp").write_text(json.dumps(meta))
    path.with_suffix(".json.tmp").replace(path.with_suffix(".json"))


def load_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               average=None) -> tuple[int, dict]:
    meta = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if average is not None:  # empty if the run stopped before the average started
        average.weights = {k[8:]: v for k, v in tensors.items() if k.startswith("average.")}
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for k, v in meta["scalars"].items():
        pid, name = k.split(".", 1)
        state.setdefault(int(pid), {})[name] = torch.tensor(v)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    history = meta["history"]
    history.setdefault("lr", [])
    return meta["step"], history
