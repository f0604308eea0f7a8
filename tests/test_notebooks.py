"""The chapter notebooks: built from their sources, free of outputs, and runnable end to end with
the reference solutions filled in (under nbval, in a subprocess, one chapter at a time)."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from course import notebooks
from course.exercises import registry
from course_model import filled_notebook

CHAPTERS = notebooks.chapter_notebooks()


def test_every_chapter_has_a_source_and_a_notebook():
    assert [p.stem for p in notebooks.chapter_sources()] == [p.stem for p in CHAPTERS]
    assert len(CHAPTERS) >= 2


def test_notebooks_are_up_to_date_with_their_sources():
    stale = notebooks.build(write=False)
    assert not stale, f"run `python -m course.notebooks build`: {[p.name for p in stale]} differ from their sources"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_clean_for_review(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "learner notebooks are kept without outputs"


def test_each_exercise_appears_once_in_its_chapter():
    seen = {}
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        for _, name in notebooks.exercise_cells(nb):
            assert name not in seen, f"{name} appears twice"
            seen[name] = path.name[:2]
    # every exercise of a chapter that has a notebook (chapters still being written may have none yet)
    assert seen == {ex.name: ex.chapter for ex in registry() if ex.chapter in {p.name[:2] for p in CHAPTERS}}


def test_fill_replaces_the_stub_by_the_reference():
    nb = nbformat.read(CHAPTERS[0], as_version=4)
    filled = notebooks.fill_notebook(nb)
    for i, name in notebooks.exercise_cells(nb):
        assert "raise NotImplementedError" in nb.cells[i].source
        assert "raise NotImplementedError" not in filled.cells[i].source
        assert notebooks.reference_source(name) in filled.cells[i].source
        assert f"assert check({name})" in filled.cells[i].source


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_end_to_end_with_references(path, tmp_path):
    nb = filled_notebook(path)
    target = tmp_path / path.name
    nbformat.write(nb, target)
    env = dict(os.environ, COURSE_PROGRESS=str(tmp_path / "progress.json"), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("OMP_NUM_THREADS", "1")  # light on a shared CI machine; set it to use more cores
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-x", "-p", "no:cacheprovider", "-q",
         "--color=no", "--rootdir", str(tmp_path), "-o", "addopts=", str(target)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[:8000] + result.stderr[-2000:]


def test_parse_source_splits_cells():
    cells = notebooks.parse_source("# %% [markdown]\n# # Title\n# text\n\n# %%\nx = 1\n\n# %% [exercise] greedy\ncheck(greedy)\n")
    assert [(c["kind"], c["name"]) for c in cells] == [("markdown", None), ("code", None), ("exercise", "greedy")]
    assert cells[1]["lines"] == ["x = 1"] and cells[2]["lines"] == ["check(greedy)"]


def test_stub_is_the_references_signature_and_docstring_only():
    stub = notebooks.stub_source("greedy")
    assert stub.startswith("def greedy(logits: torch.Tensor) -> torch.Tensor:")
    assert stub.rstrip().endswith("raise NotImplementedError")
    assert "argmax" not in stub.split('"""')[-1]  # no part of the answer below the docstring


def test_fill_cell_keeps_the_learners_other_lines():
    cell = notebooks.stub_source("greedy") + "\n\n\ncheck(greedy)\nprint('after')\n"
    filled = notebooks.fill_cell(cell, "greedy")
    assert "return logits.argmax(dim=-1)" in filled and "NotImplementedError" not in filled
    assert "assert check(greedy)" in filled and filled.rstrip().endswith("print('after')")
    namespace = {}
    exec(compile(filled.replace("assert check(greedy), 'the reference failed its own check'", ""), "<cell>", "exec"),
         {"torch": __import__("torch"), **namespace})
