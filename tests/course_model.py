"""The model the chapter tests run on: the shipped ``tinyworld`` when its weights are present,
else a stand-in with the same shape and random weights (so the machinery can be tested before
the checkpoint lands). Claims about the trained model are only asserted when it is the real one."""

from __future__ import annotations

from pathlib import Path

import course

CHECKPOINT = Path(course.__file__).parent / "checkpoints" / "tinyworld.safetensors"


def have_shipped_model() -> bool:
    return CHECKPOINT.exists()


def load_model():
    if have_shipped_model():
        from course import zoo

        return zoo.load("tinyworld").eval()
    import torch

    from course.config import ModelConfig
    from course.model import HookedTransformer
    from course.tokenizer import Tokenizer

    tokenizer = Tokenizer.load()
    cfg = ModelConfig(n_layers=4, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=tokenizer.vocab_size, n_ctx=128)
    torch.manual_seed(0)
    return HookedTransformer(cfg, tokenizer=tokenizer).eval()


# A first notebook cell that makes zoo.load("tinyworld") return the stand-in (only used while the
# shipped checkpoint is missing).
STANDIN_PRELUDE = f"""\
import importlib.util
_spec = importlib.util.spec_from_file_location("course_model", {str(Path(__file__))!r})
course_model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course_model)
from course import zoo
zoo.load = lambda name, **kw: course_model.load_model()
"""


def notebook_prelude() -> str | None:
    return None if have_shipped_model() else STANDIN_PRELUDE


CLAIM_MARKER = "# trained-model claim"


def filled_notebook(path):
    """A chapter with its references filled in, ready to run. With the stand-in model, the
    assertions marked ``# trained-model claim`` (facts only a trained model gets right) are
    replaced by ``pass``: the rest of the chapter still runs and is checked."""
    import nbformat

    from course import notebooks

    nb = notebooks.fill_notebook(nbformat.read(path, as_version=4), prelude=notebook_prelude())
    if not have_shipped_model():
        for cell in nb.cells:
            if cell.cell_type == "code" and CLAIM_MARKER in cell.source:
                cell.source = "\n".join(
                    line[: len(line) - len(line.lstrip())] + "pass  # stand-in model: claim not checked"
                    if CLAIM_MARKER in line else line for line in cell.source.splitlines())
    return nb
