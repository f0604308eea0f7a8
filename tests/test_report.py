"""`course report DIR`: the instructor's class table, from progress files as a hub's home folders hold
them, including corrupt, cut-short, old-format and hostile ones (skipped with a warning, never a crash)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from course import cli, report
from course.progress import FORMAT, write_json_atomic

EXERCISES = [("00", "greedy"), ("00", "top_k_filter"), ("01", "merge_pair")]


def home(root, user, data, where="course-workspace/.course"):
    """Write ``data`` as ``user``'s progress file (a dict is written as the course writes it)."""
    path = root / user / where / "progress.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        write_json_atomic(path, data)
    else:
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def record(**exercises):
    return {"format": FORMAT, "exercises": exercises}


@pytest.fixture
def klass(tmp_path):
    root = tmp_path / "home"
    home(root, "alice", record(
        greedy={"chapter": "00", "passed": True, "attempts": 1},
        top_k_filter={"chapter": "00", "passed": True, "attempts": 3, "hints": 2},
        merge_pair={"chapter": "01", "passed": True, "attempts": 2}))
    home(root, "bob", record(
        greedy={"chapter": "00", "passed": True, "attempts": 5, "hints": 1, "revealed": True},
        top_k_filter={"chapter": "00", "passed": False, "attempts": 4}))
    home(root, "carol", record(top_k_filter={"chapter": "00", "hints": 1}))  # a hint, no check yet
    return root


def run(root, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    status = report.run(root, exercises=EXERCISES, out=out, err=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def rows_of(root):
    learners = report.collect(root, warn=lambda m: None)
    return {r.name: r for r in report.exercise_rows(learners, EXERCISES)}, learners


def test_counts_per_exercise(klass):
    rows, learners = rows_of(klass)
    assert [lr.name for lr in learners] == ["alice", "bob", "carol"]
    assert rows["greedy"] == report.ExerciseRow("00", "greedy", tried=2, passed=2, hinted=1, revealed=1,
                                                median_attempts=3)
    assert rows["top_k_filter"] == report.ExerciseRow("00", "top_k_filter", tried=2, passed=1, hinted=2,
                                                      revealed=0, median_attempts=3.5)
    assert rows["merge_pair"].passed == 1 and rows["merge_pair"].median_attempts == 2


def test_chapters_done_needs_every_exercise_of_the_chapter(klass):
    learners = {lr.name: lr for lr in report.collect(klass, warn=lambda m: None)}
    assert report.chapters_done(learners["alice"], EXERCISES) == ["00", "01"]
    assert report.chapters_done(learners["bob"], EXERCISES) == []
    assert report.chapters_done(learners["carol"], EXERCISES) == []


def test_printed_table(klass):
    status, out, err = run(klass)
    assert status == 0 and err == ""
    assert "3 learners" in out
    lines = out.splitlines()
    greedy = next(line for line in lines if " greedy " in line).split()
    assert greedy == ["00", "greedy", "2", "2/3", "1", "1", "3"]
    alice = next(line for line in lines if line.startswith("alice")).split()
    assert alice[:3] == ["alice", "00,", "01"] and alice[3] == "3/3"
    carol = next(line for line in lines if line.startswith("carol")).split()
    assert carol[1] == "-"


def test_csv_files(klass, tmp_path):
    ex_csv, learners_csv = tmp_path / "out" / "class.csv", tmp_path / "out" / "learners.csv"
    status, out, _ = run(klass, csv_path=ex_csv, learners_csv=learners_csv)
    assert status == 0
    rows = list(csv.reader(ex_csv.open(encoding="utf-8")))
    assert rows[0] == ["chapter", "exercise", "tried", "passed", "used hints", "revealed", "median attempts"]
    assert rows[2] == ["00", "top_k_filter", "2", "1/3", "2", "0", "3.5"]
    learners = list(csv.reader(learners_csv.open(encoding="utf-8")))
    assert learners[1][:3] == ["alice", "00, 01", "3/3"]


def test_bad_files_are_skipped_with_a_warning_naming_them(klass):
    bad = {
        "dave": '{"format": 1, "exercises": {"greedy": {"pas',  # cut short mid-write
        "erin": b"\xff\xfe\x00garbage",  # not text
        "frank": "",  # empty
        "gina": "[1, 2, 3]",  # JSON, but not a record
        "hank": json.dumps({"format": FORMAT + 1, "exercises": {}}),  # a newer course's file
        "ivan": json.dumps({"format": "one", "exercises": {}}),
        "judy": json.dumps({"format": 1, "exercises": ["greedy"]}),
        "kim": json.dumps({"greedy": {"passed": True}}),  # a flat dict: not our format
    }
    paths = {user: home(klass, user, data) for user, data in bad.items()}
    status, out, err = run(klass)
    assert status == 0
    for user, path in paths.items():
        assert f"skipped {path}" in err, user
        assert f"\n{user} " not in out  # not counted as a learner
    assert "3 learners" in out
    assert "newer than this course reads" in err and "cut short" in err


def test_partial_and_old_records_are_read_as_far_as_they_make_sense(tmp_path):
    root = tmp_path / "home"
    # no "format" field (files from before it existed), odd field types, a record that is not a dict
    path = home(root, "old", json.dumps({"exercises": {
        "greedy": {"passed": True},  # passed without an attempt count: counted as one attempt
        "top_k_filter": {"passed": "yes", "attempts": -2, "hints": 1.5, "chapter": 7},
        "merge_pair": "passed",
    }}))
    status, out, err = run(root)
    assert status == 0
    assert f"read {path} in part" in err and "'merge_pair' is not a record" in err
    rows, _ = rows_of(root)
    assert rows["greedy"].passed == 1 and rows["greedy"].median_attempts == 1
    assert rows["top_k_filter"] == report.ExerciseRow("00", "top_k_filter", 0, 0, 0, 0, None)
    assert rows["merge_pair"].tried == 0


def test_exercises_no_longer_in_the_course_are_listed_last(tmp_path):
    root = tmp_path / "home"
    home(root, "alice", record(old_name={"chapter": "02", "passed": True, "attempts": 2}))
    status, out, _ = run(root)
    assert status == 0
    assert out.splitlines()[-1].startswith("alice")
    assert "old_name (not in this course version)" in out
    assert out.index("merge_pair") < out.index("old_name")


def test_two_files_of_one_learner_are_merged(tmp_path):
    root = tmp_path / "home"
    home(root, "alice", record(greedy={"passed": False, "attempts": 2}))
    home(root, "alice", record(greedy={"passed": True, "attempts": 1, "hints": 1}), where=".course-mechinterp")
    learners = report.collect(root, warn=lambda m: None)
    assert len(learners) == 1 and len(learners[0].files) == 2
    assert learners[0].records["greedy"] == report.Record(None, True, 3, 1, False)


def test_backups_and_temporary_files_are_not_read(klass):
    ws = klass / "alice" / "course-workspace" / ".course"
    (ws / "progress.json.corrupt-20240101-000000").write_text("{")
    (ws / "progress.json.abc.tmp").write_text("{")
    status, _, err = run(klass)
    assert status == 0 and err == ""


def test_hostile_names_and_files(tmp_path):
    root = tmp_path / "home"
    home(root, "mallory", record(**{"\x1b[2Jx": {"passed": True, "attempts": 1},
                                    "=HYPERLINK(\"http://x\")": {"passed": True, "attempts": 1}}))
    (root / "huge" / ".course").mkdir(parents=True)
    (root / "huge" / ".course" / "progress.json").write_bytes(b" " * (report.MAX_BYTES + 1))
    ex_csv = tmp_path / "class.csv"
    status, out, err = run(root, csv_path=ex_csv)
    assert status == 0
    assert "\x1b" not in out and "\\x1b[2Jx" in out
    assert "too large" in err
    cells = [row[1] for row in csv.reader(ex_csv.open(encoding="utf-8"))]
    assert not any(c.startswith("=") for c in cells)
    assert "'=HYPERLINK(\"http://x\") (not in this course version)" in cells


def test_files_that_cannot_be_opened_are_skipped(klass, monkeypatch):
    dangling = klass / "zed" / ".course" / "progress.json"
    dangling.parent.mkdir(parents=True)
    dangling.symlink_to(klass / "nowhere.json")
    locked = home(klass, "yan", record(greedy={"passed": True, "attempts": 1}))
    real_read = type(locked).read_bytes

    def read_bytes(path):  # as a file of another user's would fail without root
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(type(locked), "read_bytes", read_bytes)
    status, out, err = run(klass)
    assert status == 0 and "3 learners" in out
    assert f"skipped {dangling}: cannot be read" in err
    assert f"skipped {locked}: cannot be read (Permission denied)" in err


def test_nothing_to_read(tmp_path):
    status, out, err = run(tmp_path)
    assert status == 1 and "no readable progress.json" in err
    status, _, err = run(tmp_path / "missing")
    assert status == 1 and "not a folder" in err


def test_the_command_line(klass, capsys, tmp_path):
    assert cli.main(["report", str(klass), "--csv", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "3 learners" in out and (tmp_path / "c.csv").is_file()
    assert "greedy" in out  # the installed course's exercises, in course order
