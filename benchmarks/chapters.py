"""Wall time and peak memory of each chapter, run end to end with the reference solutions.

Each chapter's filled notebook runs as one script in a fresh Python process (imports and model
loading included, no Jupyter kernel), so chapters cannot share warm caches. Peak memory is the
process's maximum resident set size. Budget (DESIGN.md, the issue): about 60 s per chapter on a
2-core CPU and well under 1.5 GB. While the shipped tinyworld checkpoint is missing, the chapters
run on a random stand-in of the same shape (tests/course_model.py) and the table says so.

Run: python benchmarks/chapters.py [CHAPTER ...]     e.g. python benchmarks/chapters.py 00 01
(set OMP_NUM_THREADS=1 when the machine is shared: two processes each using 2 threads on 2
cores slow each other down many times over)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from _timing import table  # noqa: E402
from course_model import filled_notebook, notebook_prelude  # noqa: E402

from course import notebooks  # noqa: E402

BUDGET_S = 60.0
BUDGET_MB = 1500.0


def run_chapter(path: Path, workdir: Path) -> tuple[float, float, int]:
    """(wall seconds, peak MB, exit status) of one chapter, filled, in a fresh process."""
    nb = filled_notebook(path)
    script = workdir / (path.stem + ".py")
    script.write_text(notebooks.to_script(nb), encoding="utf-8")
    env = dict(os.environ, COURSE_PROGRESS=str(workdir / "progress.json"), MPLBACKEND="Agg")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"{path.name} failed:\n{stderr[-3000:]}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code  # ru_maxrss is in KiB on Linux


def main(argv: list[str]) -> int:
    paths = [p for p in notebooks.chapter_notebooks() if not argv or p.name[:2] in argv]
    rows = [["chapter", "wall (s)", "peak memory (MB)", "within budget", "status"]]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            wall, mb, code = run_chapter(path, Path(tmp))
            ok = wall <= BUDGET_S and mb <= BUDGET_MB
            failed |= code != 0
            rows.append([path.stem, f"{wall:.1f}", f"{mb:.0f}", "yes" if ok else "NO", "ok" if code == 0 else "FAILED"])
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"Chapters with references filled, each in a fresh process ({os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={threads}; "
          f"budget {BUDGET_S:.0f} s and {BUDGET_MB:.0f} MB)"
          + ("; STAND-IN model (random weights): tinyworld checkpoint missing" if notebook_prelude() else ""))
    print(table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
