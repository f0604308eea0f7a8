"""The ``course`` command: a workspace of the learner's own, and JupyterLab opened on it.

    course start [DIR] [--no-open]   copy the chapters into DIR (default ./course-workspace), open JupyterLab
    course reset CHAPTER [--dir DIR] back the chapter up and put a fresh copy in its place
    course progress [--dir DIR]      which exercises pass
    course report DIR [--csv PATH]   an instructor's table of a class's progress (course/report.py)
    course site OUTDIR               every chapter run with the references, as offline HTML pages (course/site.py)

The workspace keeps ``.course/manifest.json``: the sha256 of each notebook as it was copied. On a
later ``start`` (after upgrading the course), a notebook whose file still has that hash was never
edited and is updated; one the learner changed is kept as it is, and we say so. New chapters are
added. Nothing the learner wrote is ever overwritten; ``reset`` backs up before it replaces.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from course import report as class_report
from course import site as site_module
from course.progress import MANIFEST_FILE, WORKSPACE_DIR, write_json_atomic

DEFAULT_DIR = "course-workspace"


def packaged_chapters() -> list[Path]:
    from course.notebooks import chapter_notebooks

    return chapter_notebooks()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_path(workspace: Path) -> Path:
    return workspace / WORKSPACE_DIR / MANIFEST_FILE


def read_manifest(workspace: Path) -> dict:
    path = manifest_path(workspace)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("notebooks"), dict):
            return data
    except (OSError, ValueError):
        pass
    return {"format": 1, "notebooks": {}}


def sync_workspace(workspace: Path, chapters: list[Path] | None = None) -> dict[str, list[str]]:
    """Copy new chapters in, update untouched ones, keep edited ones. Returns what happened."""
    chapters = packaged_chapters() if chapters is None else chapters
    workspace.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(workspace)
    report: dict[str, list[str]] = {"added": [], "updated": [], "kept": [], "unchanged": []}
    for source in chapters:
        target = workspace / source.name
        pristine = manifest["notebooks"].get(source.name)
        new_hash = sha256(source)
        if not target.exists():
            shutil.copyfile(source, target)
            report["added"].append(source.name)
        elif sha256(target) == new_hash:
            report["unchanged"].append(source.name)
        elif pristine is not None and sha256(target) == pristine:
            shutil.copyfile(source, target)  # never edited: take the new version
            report["updated"].append(source.name)
        else:
            report["kept"].append(source.name)  # edited by the learner (or not ours): never overwrite
            continue
        manifest["notebooks"][source.name] = new_hash
    _save_manifest(workspace, manifest)
    return report


def _save_manifest(workspace: Path, manifest: dict) -> None:
    manifest["updated"] = datetime.datetime.now().isoformat(timespec="seconds")
    write_json_atomic(manifest_path(workspace), manifest)


def find_chapter(name: str, chapters: list[Path]) -> Path:
    """'0', '00', '00_how_an_llm_writes_text' or the file name -> the packaged notebook."""
    key = name.strip()
    for path in chapters:
        number = path.name[:2]
        if key in (path.name, path.stem) or (key.isdigit() and int(key) == int(number)):
            return path
    known = ", ".join(p.stem for p in chapters)
    raise SystemExit(f"no chapter {name!r}; the chapters are: {known}")


def reset_chapter(workspace: Path, name: str, chapters: list[Path] | None = None) -> Path | None:
    """Move the learner's copy to .course/backups/ and put a fresh one in its place.
    Returns the backup's path (None if there was nothing to back up)."""
    chapters = packaged_chapters() if chapters is None else chapters
    source = find_chapter(name, chapters)
    target = workspace / source.name
    backup = None
    if target.exists():
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup_dir = workspace / WORKSPACE_DIR / "backups"
        backup_dir.mkdir(parents=True, exist_ok=True)
        backup = backup_dir / f"{source.stem}.{stamp}.ipynb"
        n = 1
        while backup.exists():
            backup = backup_dir / f"{source.stem}.{stamp}-{n}.ipynb"
            n += 1
        shutil.copyfile(target, backup)
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    manifest = read_manifest(workspace)
    manifest["notebooks"][source.name] = sha256(source)
    _save_manifest(workspace, manifest)
    return backup


def open_jupyterlab(workspace: Path, notebook: str) -> int:
    """Run JupyterLab with the workspace as its root, opened on ``notebook``; returns its exit code."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workspace}",
           f"--LabApp.default_url=/lab/tree/{notebook}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # e.g. a Docker container: Jupyter refuses root unless told
        cmd.append("--allow-root")
    try:
        return subprocess.call(cmd, cwd=workspace)
    except KeyboardInterrupt:
        return 0


def cmd_start(args) -> int:
    workspace = Path(args.dir).expanduser().resolve()
    chapters = packaged_chapters()
    report = sync_workspace(workspace, chapters)
    print(f"Your course workspace: {workspace}")
    for key, verb in [("added", "added"), ("updated", "updated to the new version (you had not edited them)")]:
        if report[key]:
            print(f"  {verb}: {', '.join(report[key])}")
    if report["kept"]:
        print(f"  kept your edited copies: {', '.join(report['kept'])}")
        print("  (`course reset CHAPTER` gets a fresh copy; yours is backed up first)")
    if args.no_open:
        return 0
    first = chapters[0].name if chapters else ""
    print(f"Opening JupyterLab on {first} (stop it with Ctrl-C)...")
    return open_jupyterlab(workspace, first)


def cmd_reset(args) -> int:
    workspace = Path(args.dir).expanduser().resolve()
    backup = reset_chapter(workspace, args.chapter)
    source = find_chapter(args.chapter, packaged_chapters())
    if backup:
        print(f"Backed up your {source.name} to {backup}")
    print(f"Fresh copy of {source.name} in {workspace}")
    return 0


def cmd_progress(args) -> int:
    from course.exercises import progress

    os.chdir(Path(args.dir).expanduser())
    progress()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="The mechanistic interpretability course.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="copy the chapters into your workspace and open JupyterLab")
    start.add_argument("dir", nargs="?", default=DEFAULT_DIR, help=f"workspace folder (default ./{DEFAULT_DIR})")
    start.add_argument("--no-open", action="store_true", help="only copy the chapters; do not start JupyterLab")
    start.set_defaults(func=cmd_start)
    reset = sub.add_parser("reset", help="back up a chapter notebook and restore a fresh copy")
    reset.add_argument("chapter", help="chapter number (e.g. 00) or notebook name")
    reset.add_argument("--dir", default=DEFAULT_DIR, help=f"workspace folder (default ./{DEFAULT_DIR})")
    reset.set_defaults(func=cmd_reset)
    prog = sub.add_parser("progress", help="show which exercises pass")
    prog.add_argument("--dir", default=DEFAULT_DIR, help=f"workspace folder (default ./{DEFAULT_DIR})")
    prog.set_defaults(func=cmd_progress)
    report = sub.add_parser("report", help="instructors: a class table from every learner's progress under DIR")
    class_report.add_arguments(report)
    report.set_defaults(func=class_report.main)
    site = sub.add_parser("site", help="render every chapter, run with the reference solutions, to a static website")
    site_module.add_arguments(site)
    site.set_defaults(func=site_module.main)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
