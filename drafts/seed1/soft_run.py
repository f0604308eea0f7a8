"""Run a chapter's source (course/chapters/src) with its references filled in, as a plain script, and list every assertion that
fails instead of stopping at the first: the tool for moving a chapter's claims to a new model.

    python drafts/seed1/soft_run.py 05 [more chapter numbers]

Each `assert` of a code cell becomes a check that records its line and goes on; an exception in a
cell is reported and the next cell runs. Plotly figures and widget displays are not drawn."""

from __future__ import annotations

import ast
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repository's `widgets` and `solutions`, as in the notebooks


class SoftAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):  # assert test  ->  _check(lambda: test, lineno)
        call = ast.Expr(ast.Call(ast.Name("_check", ast.Load()),
                                 [ast.Lambda(ast.arguments([], [], None, [], [], None, []), node.test),
                                  ast.Constant(node.lineno)], []))
        return ast.copy_location(call, node)


def run(chapter: str) -> list[str]:
    import plotly.graph_objects as go

    from course import notebooks

    go.Figure.show = lambda self, *a, **k: None
    path = next(p for p in notebooks.chapter_sources() if p.name.startswith(chapter))
    nb = notebooks.fill_notebook(notebooks.build_notebook(path))  # from the source: no build step needed
    failures: list[str] = []
    namespace: dict = {"__name__": "__main__", "display": lambda *a, **k: None}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = "\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!")))
        lines = source.splitlines()

        def _check(test, lineno, lines=lines, index=index):
            try:
                ok = test()
            except Exception as error:  # noqa: BLE001
                ok, why = False, f"raised {error!r}"
            else:
                why = ""
            if not ok:
                failures.append(f"cell {index} line {lineno}: {lines[lineno - 1].strip()} {why}")

        namespace["_check"] = _check
        try:
            tree = ast.fix_missing_locations(SoftAsserts().visit(ast.parse(source)))
            exec(compile(tree, f"<{path.stem} cell {index}>", "exec"), namespace)
        except Exception:  # noqa: BLE001
            failures.append(f"cell {index} raised:\n{traceback.format_exc(limit=3)}")
    return failures


if __name__ == "__main__":
    for chapter in sys.argv[1:]:
        found = run(chapter)
        print(f"== chapter {chapter}: {len(found)} failing")
        print("\n".join(found), flush=True)
