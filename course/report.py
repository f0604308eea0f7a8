"""A class's progress for its instructor: every learner's progress file under one folder, one table.

    course report DIR [--csv PATH] [--learners-csv PATH]

DIR is what the instructor collected from a hub's home folders (``/home`` itself, or a copy of it):
every file named ``progress.json`` below it is read (a workspace's ``.course/progress.json``, or the
per-user fallback ``~/.course-mechinterp/progress.json``; see course/progress.py for the format).
The learner is the first folder below DIR, so ``DIR/alice/course-workspace/.course/progress.json``
is alice's; two files of one learner are merged. A file that cannot be read (corrupt, cut short,
not a progress record, written by a newer course) is skipped with a warning that names it; a
record with odd fields is read as far as it makes sense. The report never writes under DIR.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from course.progress import FORMAT, PROGRESS_FILE

MAX_BYTES = 1_000_000  # a real progress file is a few kB; anything this large is not one


class Unreadable(Exception):
    """A progress file the report skips; the message says why, in an instructor's words."""


@dataclass
class Record:
    """One learner's record of one exercise, with every field in its expected type."""
    chapter: Optional[str] = None
    passed: bool = False
    attempts: int = 0
    hints: int = 0
    revealed: bool = False

    def merge(self, other: "Record") -> "Record":
        """The same exercise recorded in two of a learner's files: passed in either, counts added."""
        return Record(self.chapter or other.chapter, self.passed or other.passed,
                      self.attempts + other.attempts, max(self.hints, other.hints),
                      self.revealed or other.revealed)


@dataclass
class Learner:
    name: str
    files: list[Path] = field(default_factory=list)
    records: dict[str, Record] = field(default_factory=dict)


@dataclass
class ExerciseRow:
    chapter: str
    name: str
    tried: int  # learners who ran check() at least once
    passed: int
    hinted: int  # learners who asked for at least one hint
    revealed: int
    median_attempts: Optional[float]  # over the learners who tried


# -- reading -----------------------------------------------------------------------------------------

def _count(value) -> Optional[int]:
    """A non-negative integer count, or None when the field holds anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def parse_record(raw) -> tuple[Record, bool]:
    """(record, clean): fields of the wrong type are dropped, and ``clean`` is False if any was."""
    if not isinstance(raw, dict):
        return Record(), False
    clean = True
    record = Record()
    chapter = raw.get("chapter")
    if isinstance(chapter, str):
        record.chapter = chapter
    elif chapter is not None:
        clean = False
    for key in ("passed", "revealed"):
        if key in raw:
            if isinstance(raw[key], bool):
                setattr(record, key, raw[key])
            else:
                clean = False
    for key in ("attempts", "hints"):
        if key in raw:
            n = _count(raw[key])
            if n is None:
                clean = False
            else:
                setattr(record, key, n)
    if record.passed and record.attempts == 0:
        record.attempts = 1  # passing took at least one check (a file from before attempts were counted)
    return record, clean


def read_progress(path: Path) -> tuple[dict[str, Record], list[str]]:
    """The records of one progress file and notes on what in it was odd. Raises ``Unreadable``."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise Unreadable(f"{size:,} bytes, too large to be a progress file")
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise Unreadable(f"cannot be read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise Unreadable("not UTF-8 text") from e
    if not text.strip():
        raise Unreadable("empty")
    try:
        data = json.loads(text)
    except ValueError as e:
        raise Unreadable(f"not valid JSON, perhaps cut short ({e})") from e
    if not isinstance(data, dict):
        raise Unreadable(f"a JSON {type(data).__name__}, not a progress record")
    version = data.get("format", 1)  # files written before the field existed are format 1
    if isinstance(version, bool) or not isinstance(version, int):
        raise Unreadable(f"unknown format {version!r}")
    if version > FORMAT:
        raise Unreadable(f"format {version}, newer than this course reads ({FORMAT}); upgrade the course")
    exercises = data.get("exercises")
    if not isinstance(exercises, dict):
        raise Unreadable("no table of exercises in it: not a progress record")
    records, odd = {}, []
    for name, raw in exercises.items():
        name = shown(name)
        if not isinstance(raw, dict):
            odd.append(f"{name!r} is not a record")
            continue
        record, clean = parse_record(raw)
        if not clean:
            odd.append(f"{name!r} has fields of the wrong type")
        records[name] = record
    return records, odd


def shown(text: str, limit: int = 60) -> str:
    """A name from a learner's file as safe terminal text: no control characters, not too long."""
    text = text if text.isprintable() else ascii(text)[1:-1]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def find_progress_files(root: Path, warn: Callable[[str], None]) -> list[Path]:
    """Every ``progress.json`` below ``root``, sorted; symbolic links to folders are not followed."""
    found = []

    def unreadable(error: OSError) -> None:
        warn(f"skipped folder {error.filename}: {error.strerror or error}")

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        dirs.sort()
        if PROGRESS_FILE in files:
            found.append(Path(folder) / PROGRESS_FILE)
    return sorted(found)


def learner_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).parts
    return shown(parts[0] if len(parts) > 1 and not parts[0].startswith(".") else root.resolve().name)


def collect(root: Path, warn: Callable[[str], None]) -> list[Learner]:
    """The learners under ``root``, by name, each with the merged records of their files."""
    learners: dict[str, Learner] = {}
    for path in find_progress_files(root, warn):
        try:
            records, odd = read_progress(path)
        except Unreadable as e:
            warn(f"skipped {path}: {e}")
            continue
        if odd:
            warn(f"read {path} in part: " + "; ".join(odd[:3]) + (f" (and {len(odd) - 3} more)" if len(odd) > 3 else ""))
        learner = learners.setdefault(learner_name(root, path), Learner(learner_name(root, path)))
        learner.files.append(path)
        for name, record in records.items():
            mine = learner.records.get(name)
            learner.records[name] = record if mine is None else mine.merge(record)
    return [learners[name] for name in sorted(learners)]


# -- summarising -------------------------------------------------------------------------------------

def course_exercises() -> list[tuple[str, str]]:
    """(chapter, exercise name) of every exercise of the installed course, in course order."""
    from course.exercises import registry

    return [(ex.chapter, ex.name) for ex in registry()]


def exercise_rows(learners: list[Learner], exercises: list[tuple[str, str]]) -> list[ExerciseRow]:
    """One row per exercise of the course, then one per exercise found only in learners' files
    (renamed or removed since they did it), with the chapter their files give."""
    order = list(exercises)
    known = {name for _, name in order}
    extra: dict[str, str] = {}
    for learner in learners:
        for name, record in learner.records.items():
            if name not in known:
                extra.setdefault(name, record.chapter or "?")
    order += sorted(((chapter, name) for name, chapter in extra.items()), key=lambda x: (x[0], x[1]))
    rows = []
    for chapter, name in order:
        records = [lr.records[name] for lr in learners if name in lr.records]
        attempts = [r.attempts for r in records if r.attempts > 0]
        rows.append(ExerciseRow(
            chapter=chapter, name=name, tried=len(attempts),
            passed=sum(r.passed for r in records),
            hinted=sum(r.hints > 0 for r in records),
            revealed=sum(r.revealed for r in records),
            median_attempts=statistics.median(attempts) if attempts else None,
        ))
    return rows


def chapters_done(learner: Learner, exercises: list[tuple[str, str]]) -> list[str]:
    """The chapters in which the learner passes every exercise."""
    by_chapter: dict[str, list[str]] = {}
    for chapter, name in exercises:
        by_chapter.setdefault(chapter, []).append(name)
    return [chapter for chapter, names in by_chapter.items()
            if all(learner.records.get(n, Record()).passed for n in names)]


def learner_rows(learners: list[Learner], exercises: list[tuple[str, str]]) -> list[list[str]]:
    known = {name for _, name in exercises}
    rows = [["learner", "chapters done", "exercises passed", "hints", "revealed"]]
    for lr in learners:
        done = chapters_done(lr, exercises)
        passed = sum(r.passed for n, r in lr.records.items() if n in known)
        rows.append([lr.name, ", ".join(done) if done else "-", f"{passed}/{len(exercises)}",
                     str(sum(r.hints for r in lr.records.values())),
                     str(sum(r.revealed for r in lr.records.values()))])
    return rows


def _median(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:g}"


def exercise_table(rows: list[ExerciseRow], n_learners: int, known: set[str]) -> list[list[str]]:
    table = [["chapter", "exercise", "tried", "passed", "used hints", "revealed", "median attempts"]]
    for r in rows:
        name = r.name if r.name in known else f"{r.name} (not in this course version)"
        table.append([r.chapter, name, str(r.tried), f"{r.passed}/{n_learners}", str(r.hinted),
                      str(r.revealed), _median(r.median_attempts)])
    return table


def table(rows: list[list[str]]) -> str:
    """Rows of text as aligned columns under a rule."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """Write rows as CSV; a cell that a spreadsheet would run as a formula is quoted as text."""
    def cell(c: str) -> str:
        return "'" + c if c[:1] in ("=", "+", "@") or (c.startswith("-") and c != "-") else c

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([[cell(c) for c in row] for row in rows])


# -- the command -------------------------------------------------------------------------------------

def run(root: Path, csv_path: Optional[Path] = None, learners_csv: Optional[Path] = None,
        exercises: Optional[list[tuple[str, str]]] = None, out=None, err=None) -> int:
    """Print the class report for ``root``; returns the exit status (1 when nothing could be read)."""
    out = out or sys.stdout
    err = err or sys.stderr

    def warn(message: str) -> None:
        print(f"warning: {message}", file=err)

    if not root.is_dir():
        print(f"course report: {root} is not a folder", file=err)
        return 1
    learners = collect(root, warn)
    if not learners:
        print(f"course report: no readable {PROGRESS_FILE} under {root}", file=err)
        return 1
    exercises = course_exercises() if exercises is None else exercises
    known = {name for _, name in exercises}
    per_exercise = exercise_table(exercise_rows(learners, exercises), len(learners), known)
    per_learner = learner_rows(learners, exercises)
    print(f"Class report: {len(learners)} learner{'s' if len(learners) != 1 else ''} under {root}\n", file=out)
    print(table(per_exercise), file=out)
    print("\nA chapter is done when every one of its exercises passes.\n", file=out)
    print(table(per_learner), file=out)
    if csv_path is not None:
        write_csv(csv_path, per_exercise)
        print(f"\nWrote the exercise table to {csv_path}", file=out)
    if learners_csv is not None:
        write_csv(learners_csv, per_learner)
        print(f"Wrote the learner table to {learners_csv}", file=out)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="folder holding the learners' home folders (e.g. a copy of /home)")
    parser.add_argument("--csv", type=Path, metavar="PATH", help="also write the exercise table as CSV")
    parser.add_argument("--learners-csv", type=Path, metavar="PATH", help="also write the learner table as CSV")


def main(args: argparse.Namespace) -> int:
    return run(Path(args.dir).expanduser(), args.csv, args.learners_csv)
