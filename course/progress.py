"""The learner's progress: which exercises pass, how many hints were shown, what was revealed.

It lives in one small JSON file in the learner's workspace (``.course/progress.json`` beside the
workspace manifest that ``course start`` writes), found by walking up from the current folder; the
``COURSE_PROGRESS`` environment variable names another file (tests point it at a temporary one).
Writes are atomic (a temporary file, then ``os.replace``), so a crash never leaves half a file; a
file that cannot be read is kept as a backup, a fresh one is started, and the learner is told.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path

WORKSPACE_DIR = ".course"  # inside a workspace: manifest.json, progress.json, backups/
PROGRESS_FILE = "progress.json"
MANIFEST_FILE = "manifest.json"
FORMAT = 1


def find_workspace(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the current folder) holding a manifest."""
    here = Path.cwd() if start is None else Path(start)
    for folder in [here, *here.resolve().parents]:
        if (folder / WORKSPACE_DIR / MANIFEST_FILE).is_file():
            return folder
    return None


def progress_path() -> Path:
    env = os.environ.get("COURSE_PROGRESS")
    if env:
        return Path(env)
    workspace = find_workspace()
    if workspace is not None:
        return workspace / WORKSPACE_DIR / PROGRESS_FILE
    # Not in a workspace (e.g. a notebook opened from a clone of the repository): keep it per user.
    return Path.home() / ".course-mechinterp" / PROGRESS_FILE


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def write_json_atomic(path: Path, data) -> None:
    """Write JSON so that readers see either the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _empty() -> dict:
    return {"format": FORMAT, "exercises": {}}


def load(path: Path | None = None, notify=print) -> dict:
    """Read the progress file. A corrupt one is renamed ``progress.json.corrupt-<time>`` and the
    learner is told; an empty record is returned in its place."""
    path = progress_path() if path is None else Path(path)
    if not path.exists():
        return _empty()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
            raise ValueError("not a progress record")
        return data
    except (ValueError, OSError, UnicodeDecodeError) as e:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            os.replace(path, backup)
            where = f"it was kept as {backup}"
        except OSError:
            where = "it could not be moved aside"
        notify(f"Your progress file {path} could not be read ({type(e).__name__}); {where}, "
               "and a new one was started. Exercises you pass again will be recorded.")
        return _empty()


def update(name: str, path: Path | None = None, **changes) -> dict:
    """Apply ``changes`` to one exercise's record and save. ``attempts=+1``-style counters are
    passed as callables: ``update("greedy", attempts=lambda n: (n or 0) + 1)``."""
    path = progress_path() if path is None else Path(path)
    data = load(path)
    record = data["exercises"].setdefault(name, {})
    for key, value in changes.items():
        record[key] = value(record.get(key)) if callable(value) else value
    try:
        write_json_atomic(path, data)
    except OSError as e:  # a read-only home must not stop the exercise from being checked
        print(f"(progress not saved: {e})")
    return record
