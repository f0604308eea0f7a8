"""Exercises: the learner writes a function in a notebook, then ``check(fn)`` compares it with the
reference solution in ``solutions/`` on fixed, edge-case and random inputs.

When they differ, ``check`` prints which input, expected vs got (type, shape, dtype, the first
mismatching index) and a hint. The hint is specific when the learner's output equals the output of
one of the exercise's known *mistakes* (a wrong implementation kept next to the reference: a
missing scale, the wrong axis, an off-by-one position...), so the message names the misconception.
``hint(name)`` gives the next hint, ``reveal(name)`` shows the reference, ``progress()`` shows what
passes. Exercises are declared in the ``solutions`` modules; ``registry()`` collects them.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from course import progress as _progress


@dataclass
class Case:
    """One input to an exercise: a label the learner can read, and the arguments."""

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Mistake:
    """A plausible wrong implementation and the hint that names its misconception."""

    name: str
    fn: Callable
    hint: str


@dataclass
class Result:
    passed: bool
    message: str
    mistake: Optional[str] = None  # the name of the Mistake the learner's output matched, if any
    case: Optional[str] = None  # the label of the first failing case


@dataclass
class Exercise:
    name: str  # the function's name in the notebook, unique across the course
    chapter: str  # "00", "01", ...
    reference: Callable
    cases: Callable[[], list[Case]]  # built lazily (some need a small model), cached
    hints: list[str]  # progressive: hint(name) shows the next one
    mistakes: list[Mistake] = field(default_factory=list)
    error_hints: list[tuple[str, str]] = field(default_factory=list)  # (text in the error, hint)
    atol: float = 1e-5
    rtol: float = 1e-4
    _cases: Optional[list[Case]] = field(default=None, repr=False)

    def get_cases(self) -> list[Case]:
        if self._cases is None:
            self._cases = list(self.cases())
        return self._cases

    def run(self, fn: Callable) -> Result:
        """Compare ``fn`` with the reference on every case; never raises for the learner's errors."""
        cases = self.get_cases()
        for case in cases:
            expected = _call(self.reference, case)  # an error here is a bug in the course: let it show
            try:
                got = _call(fn, case)
            except NotImplementedError:
                return Result(False, f"{self.name} is still the stub: replace `raise NotImplementedError` "
                                     f"with your code (hint({self.name!r}) helps).", case=case.label)
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # noqa: BLE001 - the learner's code may raise anything, even exit()
                return Result(False, _describe_exception(self, case, fn, e), case=case.label)
            diff = compare(expected, got, self.atol, self.rtol)
            if diff is not None:
                return self._failure(case, expected, got, diff)
        return Result(True, f"✔ {self.name}: correct on all {len(cases)} inputs.")

    def _failure(self, case: Case, expected, got, diff: str) -> Result:
        lines = [f"✘ {self.name}: wrong output for input [{case.label}]", f"  input:    {_show_args(case)}",
                 f"  expected: {_short(expected)}", f"  got:      {_short(got)}", f"  {diff}"]
        matched = self.diagnose(case, got)
        if matched is not None:
            lines.append(f"  Hint: {matched.hint}")
        elif self.mistakes and got is not None:
            lines.append("  Common mistakes here: " + " ".join(_question(m.hint) for m in self.mistakes))
        lines.append(f"  (hint({self.name!r}) for a hint, reveal({self.name!r}) for the answer)")
        return Result(False, "\n".join(lines), mistake=matched.name if matched else None, case=case.label)

    def diagnose(self, case: Case, got) -> Optional[Mistake]:
        """The first known mistake whose output on ``case`` equals the learner's."""
        for mistake in self.mistakes:
            try:
                theirs = _call(mistake.fn, case)
            except Exception:  # noqa: BLE001 - a mistake may crash on some inputs; then it is not this one
                continue
            if compare(theirs, got, self.atol, self.rtol) is None:
                return mistake
        return None

    def check(self, fn: Callable) -> bool:
        return self.run(fn).passed


def _question(hint: str) -> str:
    """The first sentence of a hint (hints open with the question they ask)."""
    for end in ("?", ". "):
        if end in hint:
            return hint.split(end)[0] + end.strip()
    return hint


# -- calling and comparing -----------------------------------------------------------------------

def _clone(x):
    """A fresh copy of an argument, so a function that edits its input in place cannot change
    what the reference or the next case sees. Models (nn.Modules) are shared, not copied."""
    import torch

    if isinstance(x, torch.Tensor):
        return x.clone()
    if isinstance(x, torch.nn.Module):
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_clone(v) for v in x) if not hasattr(x, "_fields") else type(x)(*map(_clone, x))
    if isinstance(x, dict):
        return type(x)({k: _clone(v) for k, v in x.items()})
    return copy.deepcopy(x)


def _call(fn: Callable, case: Case):
    return fn(*_clone(case.args), **_clone(case.kwargs))


def compare(expected, got, atol: float = 1e-5, rtol: float = 1e-4, path: str = "output") -> Optional[str]:
    """None if ``got`` matches ``expected``; else one line saying where and how they differ."""
    import torch

    if got is None and expected is not None:
        return f"{path} is None: did you forget to `return` the result?"
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{path}: expected a torch.Tensor, got {type(got).__name__}"
        if got.shape != expected.shape:
            extra = ""
            if sorted(got.shape) == sorted(expected.shape) and got.shape != expected.shape:
                extra = " (the same sizes in another order: a transpose?)"
            elif got.numel() == expected.numel():
                extra = " (the same number of elements: a missing or extra dimension?)"
            return f"{path}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}{extra}"
        if (expected.dtype.is_floating_point != got.dtype.is_floating_point
                or (expected.dtype == torch.bool) != (got.dtype == torch.bool)):
            return f"{path}: expected dtype {expected.dtype}, got {got.dtype}"
        if expected.numel() == 0:
            return None
        e, g = expected.detach().cpu(), got.detach().cpu()
        if e.dtype.is_floating_point:
            close = torch.isclose(g.double(), e.double(), rtol=rtol, atol=atol, equal_nan=True)
        else:
            close = g == e
        if bool(close.all()):
            return None
        bad = (~close).nonzero()[0].tolist()
        idx = tuple(bad) if len(bad) != 1 else bad[0]
        n_bad = int((~close).sum())
        return (f"{path}: {n_bad} of {e.numel()} values differ; the first at index {idx}: "
                f"expected {_scalar(e[tuple(bad)])}, got {_scalar(g[tuple(bad)])}")
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{path}: expected a dict, got {type(got).__name__}"
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        if missing:
            return f"{path}: missing key {missing[0]!r} ({len(missing)} missing)"
        if extra:
            return f"{path}: unexpected key {extra[0]!r} ({len(extra)} extra)"
        for k in expected:
            diff = compare(expected[k], got[k], atol, rtol, f"{path}[{k!r}]")
            if diff:
                return diff
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{path}: expected a {type(expected).__name__}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{path}: expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            diff = compare(e, g, atol, rtol, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"{path}: expected a number, got {type(got).__name__}"
        if isinstance(expected, int) and isinstance(got, int):
            return None if got == expected else f"{path}: expected {expected}, got {got}"
        if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol) or (math.isnan(got) and math.isnan(expected)):
            return None
        return f"{path}: expected {expected:.6g}, got {got:.6g}"
    try:
        equal = bool(expected == got)
    except Exception:  # noqa: BLE001
        equal = False
    return None if equal else f"{path}: expected {_short(expected)}, got {_short(got)}"


def _scalar(t) -> str:
    v = t.item()
    return f"{v:.6g}" if isinstance(v, float) else repr(v)


def _short(x, limit: int = 160) -> str:
    import torch

    if isinstance(x, torch.Tensor):
        desc = f"tensor of shape {tuple(x.shape)}, {str(x.dtype).replace('torch.', '')}"
        if 0 < x.numel() <= 12:
            values = [round(v, 4) if isinstance(v, float) else v for v in x.detach().cpu().flatten().tolist()]
            desc += f": {values}" if x.ndim <= 1 else f", values (flattened) {values}"
        return desc
    if isinstance(x, torch.nn.Module):
        return f"<{type(x).__name__}>"
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show_args(case: Case) -> str:
    parts = [_short(a, 80) for a in case.args] + [f"{k}={_short(v, 80)}" for k, v in case.kwargs.items()]
    return ", ".join(parts) if parts else "(no arguments)"


_HERE = str(Path(__file__).resolve())


def _describe_exception(ex: Exercise, case: Case, fn: Callable, error: BaseException) -> str:
    """The error and the learner's own line that raised it, not the deep traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    code = getattr(fn, "__code__", None)
    theirs = [f for f in frames if code is not None and f.filename == code.co_filename]
    if not theirs:  # a helper of theirs defined in another cell: the last frame outside libraries
        theirs = [f for f in frames if f.filename != _HERE and "site-packages" not in f.filename
                  and not f.filename.startswith(sys.prefix)]
    where = ""
    if theirs:
        frame = theirs[-1]
        where = f"\n  in {frame.name}, line {frame.lineno}" + (f": {frame.line.strip()}" if frame.line else "")
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    advice = next((h for text, h in ex.error_hints if text.lower() in str(error).lower()), None)
    return (f"✘ {ex.name} raised {type(error).__name__}: {message}{where}\n"
            f"  on input [{case.label}]: {_show_args(case)}\n"
            + (f"  Hint: {advice}\n" if advice else "")
            + f"  (hint({ex.name!r}) for a hint)")


# -- the registry ----------------------------------------------------------------------------------

_REGISTRY: Optional[dict[str, Exercise]] = None


def chapter_modules() -> list:
    """The ``solutions.chNN_*`` modules, in chapter order."""
    import solutions

    names = sorted(m.name for m in pkgutil.iter_modules(solutions.__path__) if m.name.startswith("ch"))
    return [importlib.import_module(f"solutions.{n}") for n in names]


def registry() -> list[Exercise]:
    """Every exercise of the course, in chapter order then notebook order."""
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, Exercise] = {}
        for module in chapter_modules():
            for ex in module.EXERCISES:
                if ex.name in found:
                    raise RuntimeError(f"two exercises are named {ex.name!r}")
                found[ex.name] = ex
        _REGISTRY = found
    return list(_REGISTRY.values())


def chapter_titles() -> dict[str, str]:
    return {m.CHAPTER: m.TITLE for m in chapter_modules()}


def get(name: str) -> Exercise:
    registry()
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        extra = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"no exercise is named {name!r}.{extra}")
    return _REGISTRY[name]


# -- what the learner calls ------------------------------------------------------------------------

def check(fn: Callable, name: Optional[str] = None) -> bool:
    """Check your function against the reference; prints what differs and returns True or False.
    ``name`` is needed only if you renamed the function."""
    try:
        if not callable(fn):
            print(f"✘ check() takes your function itself, e.g. check(greedy), not {type(fn).__name__}.")
            return False
        name = name or getattr(fn, "__name__", "")
        try:
            ex = get(name)
        except KeyError as e:
            print(f"✘ {e.args[0]} Pass the exercise's name: check(my_fn, name='greedy').")
            return False
        result = ex.run(fn)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - check must never take the kernel down
        print(f"✘ the checker itself failed ({type(e).__name__}: {e}). This is a bug in the course; "
              "please report it. Your function may still be right.")
        return False
    print(result.message)
    try:
        _progress.update(ex.name, chapter=ex.chapter, passed=result.passed, attempts=lambda n: (n or 0) + 1,
                         **({"passed_at": _progress.now()} if result.passed else {}))
    except Exception as e:  # noqa: BLE001
        print(f"(progress not saved: {e})")
    return result.passed


def hint(name: str) -> None:
    """Show the next hint for an exercise (each call shows one more)."""
    try:
        ex = get(name)
    except KeyError as e:
        print(e.args[0])
        return
    shown = _progress.load()["exercises"].get(name, {}).get("hints", 0)
    if shown >= len(ex.hints):
        print(f"That was the last hint for {name}. reveal({name!r}) shows the reference solution.")
        for i, h in enumerate(ex.hints, 1):
            print(f"  {i}. {h}")
        return
    print(f"Hint {shown + 1}/{len(ex.hints)} for {name}: {ex.hints[shown]}")
    _progress.update(name, chapter=ex.chapter, hints=shown + 1)


def worked_answers() -> dict[str, Callable]:
    """The worked answers of the open-ended exercises: each chapter module's ``WORKED`` dict
    (name -> a function whose code is the answer), in chapter order."""
    found: dict[str, Callable] = {}
    for module in chapter_modules():
        for name, fn in getattr(module, "WORKED", {}).items():
            if name in found or name in {ex.name for ex in registry()}:
                raise RuntimeError(f"two exercises or worked answers are named {name!r}")
            found[name] = fn
    return found


def reveal(name: str) -> None:
    """Show the reference solution (and note in your progress that it was revealed), or the worked
    answer of an open-ended exercise."""
    worked = worked_answers()
    if name in worked:
        print(f"Worked answer {name!r} (from solutions/{Path(inspect.getfile(inspect.unwrap(worked[name]))).name}):\n")
        print(inspect.getsource(worked[name]))
        return
    try:
        ex = get(name)
    except KeyError as e:
        import difflib

        close = difflib.get_close_matches(name, list(worked), n=1)
        print(e.args[0] + (f" Did you mean the open exercise {close[0]!r}?" if close else ""))
        return
    print(f"Reference solution for {name} (from solutions/{Path(inspect.getfile(ex.reference)).name}):\n")
    print(inspect.getsource(ex.reference))
    _progress.update(name, chapter=ex.chapter, revealed=True)


def progress() -> None:
    """Print, chapter by chapter, which exercises pass."""
    records = _progress.load()["exercises"]
    titles = chapter_titles()
    by_chapter: dict[str, list[Exercise]] = {}
    for ex in registry():
        by_chapter.setdefault(ex.chapter, []).append(ex)
    total = sum(1 for ex in registry() if records.get(ex.name, {}).get("passed"))
    print(f"Progress: {total}/{len(registry())} exercises pass  ({_progress.progress_path()})")
    for chapter, exercises in by_chapter.items():
        n = sum(1 for ex in exercises if records.get(ex.name, {}).get("passed"))
        print(f"\nChapter {chapter}: {titles.get(chapter, '')}  {n}/{len(exercises)}")
        for ex in exercises:
            r = records.get(ex.name, {})
            mark = "✔" if r.get("passed") else ("✘" if r.get("attempts") else "·")
            notes = []
            if r.get("attempts"):
                notes.append(f"{r['attempts']} check{'s' if r['attempts'] != 1 else ''}")
            if r.get("hints"):
                notes.append(f"{r['hints']} hint{'s' if r['hints'] != 1 else ''}")
            if r.get("revealed"):
                notes.append("revealed")
            print(f"  {mark} {ex.name}" + (f"  ({', '.join(notes)})" if notes else ""))


__all__ = ["Case", "Exercise", "Mistake", "Result", "check", "compare", "hint", "progress", "registry", "reveal"]
