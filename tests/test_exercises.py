"""Exercises: every reference passes its check, every known mistake is rejected with its own hint,
every notebook stub fails, and check/hint/reveal/progress behave (progress file included)."""

from __future__ import annotations

import ast
import json
import math

import nbformat
import pytest
import torch
import torch.nn.functional as F

from course import exercises, notebooks
from course import progress as progress_store
from course import sampling
from course.exercises import Case, Exercise, Mistake, check, compare, hint, registry, reveal

EXERCISES = registry()
MISTAKES = [(ex, m) for ex in EXERCISES for m in ex.mistakes]


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS", str(path))
    return path


def test_registry_lists_every_exercise_with_what_tooling_needs():
    names = [ex.name for ex in EXERCISES]
    assert len(names) == len(set(names)) >= 13
    for ex in EXERCISES:
        assert len(ex.chapter) == 2 and ex.chapter.isdigit() and callable(ex.reference) and callable(ex.check)
        assert ex.hints and len(ex.mistakes) >= 1
        assert ex.reference.__name__ == ex.name


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_reference_passes(ex):
    result = ex.run(ex.reference)
    assert result.passed, result.message
    assert ex.check(ex.reference) is True


@pytest.mark.parametrize("ex,mistake", MISTAKES, ids=lambda x: x.name.replace(" ", "_"))
def test_each_mistake_is_rejected_with_its_hint(ex, mistake):
    result = ex.run(mistake.fn)
    assert not result.passed
    assert result.mistake == mistake.name, result.message
    assert mistake.hint in result.message
    assert ex.check(mistake.fn) is False


def _stub_functions():
    """(exercise, stub function) for each exercise cell of the committed notebooks."""
    out = []
    for path in notebooks.chapter_notebooks():
        nb = nbformat.read(path, as_version=4)
        for i, name in notebooks.exercise_cells(nb):
            tree = ast.parse(nb.cells[i].source)
            (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
            namespace = {"torch": torch, "F": F, "math": math}
            exec(compile(ast.Module([fn], []), f"<{path.name} stub>", "exec"), namespace)
            out.append((exercises.get(name), namespace[name]))
    return out


STUBS = _stub_functions()


@pytest.mark.parametrize("ex,stub", STUBS, ids=lambda x: getattr(x, "name", ""))
def test_notebook_stub_fails(ex, stub, capsys):
    assert check(stub) is False
    assert "still the stub" in capsys.readouterr().out


def test_every_exercise_of_a_chapter_with_a_notebook_has_a_stub():
    chapters = {p.name[:2] for p in notebooks.chapter_notebooks()}
    assert {"00", "01"} <= chapters
    expected = [ex.name for ex in EXERCISES if ex.chapter in chapters]
    assert sorted(ex.name for ex, _ in STUBS) == sorted(expected)


@pytest.mark.parametrize("ex,stub", STUBS, ids=lambda x: getattr(x, "name", ""))
def test_stub_has_the_reference_signature_and_docstring(ex, stub):
    import inspect

    assert inspect.signature(stub) == inspect.signature(ex.reference)
    assert stub.__doc__ == ex.reference.__doc__


def test_chapter00_references_match_the_course_sampler():
    from solutions import ch00_generation as ch00

    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 3
    assert torch.equal(ch00.top_k_filter(logits, 7), sampling.top_k_filter(logits, 7))
    assert torch.equal(ch00.top_p_filter(logits, 0.8), sampling.top_p_filter(logits, 0.8))
    assert torch.equal(ch00.apply_temperature(logits, 0.7), sampling.apply_temperature(logits, 0.7))


# -- what check prints ------------------------------------------------------------------------------

def test_failure_message_names_input_expected_got_and_first_mismatch(capsys):
    def apply_temperature(logits, temperature):
        return logits * temperature

    assert check(apply_temperature) is False
    out = capsys.readouterr().out
    assert "T = 0.5" in out and "expected:" in out and "got:" in out
    assert "first at index (0, 0)" in out and "tensor of shape (1, 4)" in out
    assert "multiply by T instead of dividing" in out


def test_shape_and_dtype_mismatches_are_explained():
    t = torch.zeros(2, 3)
    assert "transpose" in compare(t, torch.zeros(3, 2))
    assert "expected shape (2, 3), got (6,)" in compare(t, torch.zeros(6))
    assert "dtype" in compare(torch.zeros(2, dtype=torch.long), torch.zeros(2))
    assert "torch.Tensor, got list" in compare(t, [[0.0] * 3] * 2)
    assert "forget to `return`" in compare(t, None)
    assert compare(torch.tensor([float("-inf"), 1.0]), torch.tensor([float("-inf"), 1.0])) is None
    assert compare({("a", "b"): 2}, {("a", "b"): 2}) is None
    assert "missing key" in compare({("a", "b"): 2}, {})


def test_an_error_in_the_learners_code_shows_their_line_not_a_traceback(capsys):
    def greedy(logits):
        probs = logits.softmax(dim=-1)
        return probs.argmax(dim=3)  # the learner's bug

    assert check(greedy) is False
    out = capsys.readouterr().out
    assert "IndexError" in out or "RuntimeError" in out
    assert "return probs.argmax(dim=3)" in out and "line" in out
    assert "Traceback" not in out


def test_error_hints_translate_common_errors(capsys):
    def embed_one_hot(tokens, W_E):
        return F.one_hot(tokens, num_classes=W_E.shape[0]) @ W_E

    assert check(embed_one_hot) is False
    assert ".float()" in capsys.readouterr().out


def test_check_never_crashes(capsys):
    assert check(42) is False
    assert check(lambda x: x) is False  # unknown name
    assert "no exercise is named" in capsys.readouterr().out

    def greedy(logits):
        raise SystemExit("a learner calling exit()")

    assert check(greedy) is False
    assert "greedy raised SystemExit" in capsys.readouterr().out

    def top_k_filter(logits, k):
        class Weird:
            def __eq__(self, other):
                raise RuntimeError("cannot compare")
        return Weird()

    assert check(top_k_filter) is False


def test_check_with_a_renamed_function():
    def my_greedy(logits):
        return logits.argmax(-1)

    assert check(my_greedy, name="greedy") is True


def test_learner_editing_the_input_in_place_does_not_fool_the_checker():
    def apply_temperature(logits, temperature):
        logits /= temperature
        return logits

    assert check(apply_temperature) is True


def test_diagnosis_needs_an_exact_match():
    ex = Exercise("double", "99", lambda x: 2 * x, lambda: [Case("x = 3", (3,))], hints=["times two"],
                  mistakes=[Mistake("square", lambda x: x * x, "Did you square it?")])
    result = ex.run(lambda x: x + 1)
    assert not result.passed and result.mistake is None
    assert "Common mistakes here: Did you square it?" in result.message


# -- hint, reveal, progress ------------------------------------------------------------------------

def test_hints_come_one_at_a_time_then_say_reveal(capsys, progress_file):
    ex = exercises.get("top_p_filter")
    for i in range(len(ex.hints)):
        hint("top_p_filter")
        assert f"Hint {i + 1}/{len(ex.hints)}" in capsys.readouterr().out
    hint("top_p_filter")
    assert "reveal('top_p_filter')" in capsys.readouterr().out
    assert json.loads(progress_file.read_text())["exercises"]["top_p_filter"]["hints"] == len(ex.hints)


def test_reveal_shows_the_reference_and_records_it(capsys, progress_file):
    reveal("greedy")
    out = capsys.readouterr().out
    assert "def greedy(logits" in out and "argmax(dim=-1)" in out
    assert json.loads(progress_file.read_text())["exercises"]["greedy"]["revealed"] is True


def test_reveal_shows_an_open_exercises_worked_answer(capsys, progress_file):
    worked = exercises.worked_answers()
    assert "held_out_frames" in worked and not set(worked) & {ex.name for ex in exercises.registry()}
    reveal("held_out_frames")
    out = capsys.readouterr().out
    assert "Worked answer 'held_out_frames' (from solutions/ch05_ioi.py)" in out
    assert "def worked_held_out_frames(" in out
    reveal("held_out_frame")
    assert "Did you mean the open exercise 'held_out_frames'?" in capsys.readouterr().out


def test_progress_shows_each_chapter(capsys):
    from solutions import ch00_generation as ch00

    check(ch00.greedy)
    check(ch00._wrong_top_k_zero, name="top_k_filter")
    capsys.readouterr()
    exercises.progress()
    out = capsys.readouterr().out
    assert "Chapter 00: How an LLM writes text  1/7" in out and "Chapter 01: Tokens and embeddings  0/6" in out
    assert "Progress: 1/" in out
    assert "✔ greedy" in out and "✘ top_k_filter" in out and "· top_p_filter" in out


def test_progress_file_is_written_atomically(progress_file, monkeypatch):
    progress_store.update("greedy", passed=True)
    before = progress_file.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(progress_store.json, "dump", boom)
    with pytest.raises(OSError):
        progress_store.write_json_atomic(progress_file, {"exercises": {}})
    assert progress_file.read_text() == before  # the old file is intact
    assert [p.name for p in progress_file.parent.iterdir()] == [progress_file.name]  # no temp file left


def test_a_corrupt_progress_file_is_kept_and_replaced(progress_file, capsys):
    progress_file.write_text('{"exercises": {"greedy": {"pas')
    from solutions import ch00_generation as ch00

    assert check(ch00.greedy) is True
    out = capsys.readouterr().out
    assert "could not be read" in out and "kept as" in out
    backups = list(progress_file.parent.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text().startswith('{"exercises"')
    assert json.loads(progress_file.read_text())["exercises"]["greedy"]["passed"] is True


def test_progress_lives_in_the_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_PROGRESS")
    (tmp_path / ".course").mkdir()
    (tmp_path / ".course" / "manifest.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert progress_store.progress_path() == tmp_path / ".course" / "progress.json"


def test_importing_course_modules_has_no_side_effects(tmp_path):
    import subprocess
    import sys

    code = ("import course.exercises, course.progress, course.notebooks, course.cli, sys; "
            "assert 'solutions.ch00_generation' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "" and list(tmp_path.iterdir()) == [], result.stderr
