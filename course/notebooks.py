"""Chapter notebooks: built from readable text sources, and filled with the reference solutions.

Sources live in ``course/chapters/src/NN_<name>.py`` in the "percent" format (jupytext's): a line
``# %% [markdown]`` starts a text cell (its lines prefixed with ``# ``), ``# %%`` a code cell, and
``# %% [exercise] NAME`` an exercise cell. For an exercise cell the builder writes the stub itself,
from the reference in ``solutions/``: the reference's signature and docstring, then
``raise NotImplementedError``. The cell's own lines (usually ``check(NAME)``) follow the stub.
So a stub cannot drift from its reference, and ``python -m course.notebooks check`` (run by the
tests) fails if a committed ``.ipynb`` differs from what its source builds.

``fill`` is the opposite transform, for tests and benchmarks: it swaps each stub for the
reference's full source and turns ``check(NAME)`` into ``assert check(NAME)``.

    python -m course.notebooks build          # rewrite course/chapters/*.ipynb from the sources
    python -m course.notebooks check          # exit 1 if any notebook is stale
    python -m course.notebooks fill OUT_DIR   # filled copies, ready to run
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from pathlib import Path

import nbformat

CHAPTERS = Path(__file__).parent / "chapters"
SOURCES = CHAPTERS / "src"
_CELL_RE = re.compile(r"^# %%(?: \[(markdown|exercise)\])?(?: (\S+))?\s*$")


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def chapter_sources() -> list[Path]:
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def stub_source(name: str) -> str:
    """The learner's starting point: the reference's signature and docstring, no body."""
    from course.exercises import get

    source = textwrap.dedent(inspect.getsource(get(name).reference))
    fn = ast.parse(source).body[0]
    doc = fn.body[0]
    if not (isinstance(fn, ast.FunctionDef) and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)):
        raise ValueError(f"reference {name} must be a function that opens with a docstring")
    head = source.splitlines()[: doc.end_lineno]
    return "\n".join(head + [f"    # Your code here. hint({name!r}) gives a hint, check({name}) tests it.",
                             "    raise NotImplementedError"])


def reference_source(name: str) -> str:
    from course.exercises import get

    return textwrap.dedent(inspect.getsource(get(name).reference)).rstrip()


def parse_source(text: str) -> list[dict]:
    """Split a percent-format source into cells: dicts with kind, name and lines."""
    cells: list[dict] = []
    for line in text.splitlines():
        m = _CELL_RE.match(line)
        if m:
            cells.append({"kind": m.group(1) or "code", "name": m.group(2), "lines": []})
        elif cells:
            cells[-1]["lines"].append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"text before the first '# %%' cell marker: {line!r}")
    for cell in cells:
        while cell["lines"] and not cell["lines"][-1].strip():
            cell["lines"].pop()
        while cell["lines"] and not cell["lines"][0].strip():
            cell["lines"].pop(0)
    return cells


def build_notebook(source: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "course": {"source": f"src/{source.name}", "note": "built by `python -m course.notebooks build`; "
                                                           "edit the source, not this file"},
    }
    for i, cell in enumerate(parse_source(source.read_text(encoding="utf-8"))):
        cid = f"c{i:03d}"
        if cell["kind"] == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in cell["lines"]]
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines), id=cid))
        elif cell["kind"] == "exercise":
            name = cell["name"]
            body = "\n".join(cell["lines"])
            c = nbformat.v4.new_code_cell(stub_source(name) + ("\n\n\n" + body if body else ""), id=cid)
            c.metadata = {"tags": ["exercise"], "course": {"exercise": name}}
            nb.cells.append(c)
        else:
            nb.cells.append(nbformat.v4.new_code_cell("\n".join(cell["lines"]), id=cid))
    return nb


def notebook_path(source: Path) -> Path:
    return CHAPTERS / (source.stem + ".ipynb")


def dumps(nb) -> str:
    return nbformat.writes(nb) + "\n"


def build(write: bool = True) -> list[Path]:
    """Build every chapter; return the notebooks whose committed file differs (was rewritten)."""
    stale = []
    for source in chapter_sources():
        target = notebook_path(source)
        text = dumps(build_notebook(source))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(target)
            if write:
                target.write_text(text, encoding="utf-8")
    return stale


def exercise_cells(nb) -> list[tuple[int, str]]:
    return [(i, c.metadata["course"]["exercise"]) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and "exercise" in c.metadata.get("course", {})]


def fill_cell(source: str, name: str) -> str:
    """Replace the top-level function ``name`` in a cell by its reference, and make each
    top-level ``check(...)`` an assertion."""
    lines = source.splitlines()
    tree = ast.parse(source)
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    if not fns:
        raise ValueError(f"exercise cell for {name} defines no function {name}")
    fn = fns[0]
    start = fn.lineno - 1 - len(fn.decorator_list)
    lines[start : fn.end_lineno] = reference_source(name).splitlines()
    out = []
    for line in lines:
        if re.match(r"^check\(.*\)\s*$", line):
            line = f"assert {line.strip()}, 'the reference failed its own check'"
        out.append(line)
    return "\n".join(out)


def fill_notebook(nb, prelude: str | None = None):
    """A copy of ``nb`` with every stub replaced by its reference (optionally a first code cell)."""
    nb = nbformat.from_dict(nb)
    for i, name in exercise_cells(nb):
        nb.cells[i].source = fill_cell(nb.cells[i].source, name)
    if prelude:
        nb.cells.insert(0, nbformat.v4.new_code_cell(prelude, id="prelude"))
    return nb


def fill(out_dir: Path, prelude: str | None = None) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapter_notebooks():
        nb = fill_notebook(nbformat.read(path, as_version=4), prelude)
        target = out_dir / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def to_script(nb) -> str:
    """The code cells of a notebook as one Python script (for benchmarks: no kernel needed)."""
    return "\n\n".join(f"# cell {i}\n{c.source}" for i, c in enumerate(nb.cells) if c.cell_type == "code")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("build", "check", "fill"):
        print(__doc__)
        return 2
    if argv[0] == "build":
        for path in build(write=True):
            print(f"wrote {path}")
        return 0
    if argv[0] == "check":
        stale = build(write=False)
        for path in stale:
            print(f"{path} is out of date with its source: run `python -m course.notebooks build`")
        return 1 if stale else 0
    if len(argv) != 2:
        print("usage: python -m course.notebooks fill OUT_DIR")
        return 2
    for path in fill(Path(argv[1])):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
