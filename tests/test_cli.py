"""`course start` / `course reset`: the learner's workspace, never overwriting their edits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from course import cli


@pytest.fixture
def chapters(tmp_path):
    """A fake packaged course of two chapters (so upgrades can be simulated)."""
    src = tmp_path / "package"
    src.mkdir()
    for name in ["00_intro.ipynb", "01_tokens.ipynb"]:
        (src / name).write_text(f'{{"v": 1, "name": "{name}"}}')
    return src


def listing(src):
    return sorted(src.glob("*.ipynb"))


def test_start_copies_chapters_and_writes_a_manifest(tmp_path, chapters):
    ws = tmp_path / "ws"
    report = cli.sync_workspace(ws, listing(chapters))
    assert report["added"] == ["00_intro.ipynb", "01_tokens.ipynb"]
    assert (ws / "00_intro.ipynb").read_text() == (chapters / "00_intro.ipynb").read_text()
    manifest = json.loads((ws / ".course" / "manifest.json").read_text())
    assert manifest["notebooks"]["00_intro.ipynb"] == cli.sha256(chapters / "00_intro.ipynb")


def test_upgrade_adds_new_chapters_updates_untouched_and_keeps_edited(tmp_path, chapters):
    ws = tmp_path / "ws"
    cli.sync_workspace(ws, listing(chapters))
    (ws / "00_intro.ipynb").write_text("my answers")  # the learner edits chapter 00
    for name in ["00_intro.ipynb", "01_tokens.ipynb"]:  # the course is upgraded
        (chapters / name).write_text(f'{{"v": 2, "name": "{name}"}}')
    (chapters / "02_new.ipynb").write_text('{"v": 2}')
    report = cli.sync_workspace(ws, listing(chapters))
    assert report == {"added": ["02_new.ipynb"], "updated": ["01_tokens.ipynb"], "kept": ["00_intro.ipynb"],
                      "unchanged": []}
    assert (ws / "00_intro.ipynb").read_text() == "my answers"
    assert '"v": 2' in (ws / "01_tokens.ipynb").read_text()
    # running again changes nothing and still keeps the edit
    again = cli.sync_workspace(ws, listing(chapters))
    assert again["kept"] == ["00_intro.ipynb"] and not again["added"] and not again["updated"]
    assert (ws / "00_intro.ipynb").read_text() == "my answers"


def test_a_notebook_not_in_the_manifest_is_never_overwritten(tmp_path, chapters):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "00_intro.ipynb").write_text("something of the learner's")
    report = cli.sync_workspace(ws, listing(chapters))
    assert report["kept"] == ["00_intro.ipynb"]
    assert (ws / "00_intro.ipynb").read_text() == "something of the learner's"


def test_reset_backs_up_then_restores(tmp_path, chapters):
    ws = tmp_path / "ws"
    cli.sync_workspace(ws, listing(chapters))
    (ws / "01_tokens.ipynb").write_text("my work")
    backup = cli.reset_chapter(ws, "1", listing(chapters))
    assert backup.read_text() == "my work" and backup.parent == ws / ".course" / "backups"
    assert (ws / "01_tokens.ipynb").read_text() == (chapters / "01_tokens.ipynb").read_text()
    second = cli.reset_chapter(ws, "01_tokens", listing(chapters))  # twice in one second: no clobbering
    assert second != backup and backup.exists()
    with pytest.raises(SystemExit, match="no chapter"):
        cli.reset_chapter(ws, "07", listing(chapters))


def test_start_opens_jupyterlab_on_chapter_00(tmp_path, monkeypatch, capsys):
    opened = {}
    monkeypatch.setattr(cli, "open_jupyterlab", lambda ws, nb: opened.update(ws=ws, nb=nb) or 0)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["start"]) == 0
    ws = tmp_path / "course-workspace"
    assert opened == {"ws": ws, "nb": "00_how_an_llm_writes_text.ipynb"}
    assert (ws / "00_how_an_llm_writes_text.ipynb").exists() and (ws / "01_tokens_and_embeddings.ipynb").exists()
    assert "Your course workspace" in capsys.readouterr().out


def test_console_script_no_open_and_reset(tmp_path):
    """The real entry point, as binder/postBuild runs it."""
    ws = tmp_path / "home" / "course-workspace"
    run = lambda *args: subprocess.run([sys.executable, "-m", "course.cli", *args], capture_output=True, text=True,
                                       cwd=tmp_path, timeout=120)
    first = run("start", str(ws), "--no-open")
    assert first.returncode == 0, first.stderr
    assert "added: 00_how_an_llm_writes_text.ipynb" in first.stdout
    nb = ws / "00_how_an_llm_writes_text.ipynb"
    nb.write_text(nb.read_text().replace("Chapter 00", "Chapter 00 (my notes)"))
    second = run("start", str(ws), "--no-open")
    assert "kept your edited copies: 00_how_an_llm_writes_text.ipynb" in second.stdout
    assert "(my notes)" in nb.read_text()
    reset = run("reset", "00", "--dir", str(ws))
    assert reset.returncode == 0 and "Backed up" in reset.stdout
    assert "(my notes)" not in nb.read_text()
    assert any("(my notes)" in p.read_text() for p in (ws / ".course" / "backups").iterdir())
