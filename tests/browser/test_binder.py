"""The classroom image, built the way repo2docker builds it and used the way a learner on
mybinder.org uses it: a fresh virtual environment made from `binder/` alone (its requirements.txt,
then its postBuild, run in a copy of the repository that is also the learner's home, as
repo2docker's is), JupyterLab started from that environment with the network cut, the README's
Binder URL opened, and every chapter run there in headless Chromium with the references filled in.

It measures what the image costs: the environment's size on disk and each chapter's kernel peak
memory (VmHWM), which must stay under mybinder.org's limit of about 2 GB. The numbers go to
artifacts/binder/measurements.json and are quoted in binder/README.md.

The network is cut for the server and its kernels by running them in a network namespace of their
own (`unshare -rn`: loopback only), the browser joining it with `nsenter`; where namespaces are not
allowed (some containers), the kernel gets HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1 and no proxy,
and the browser refuses every request that is not to the server, as the other browser tests do.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import ARGS, CHROMIUM, REPO, SHOTS, TOKEN, _free_port, run_all, stop_server, write_lab_settings
from course import notebooks
from course_model import filled_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHAPTERS = notebooks.chapter_notebooks()
LIMIT_BYTES = 2_000_000_000  # mybinder.org gives a learner about 2 GB (its pods' limit is 2 GiB; we keep under both)
MEASUREMENTS = REPO / "artifacts" / "binder" / "measurements.json"
PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")


def readme_urlpath() -> str:
    """The path the README's mybinder.org link opens (`...?urlpath=lab/tree/course-workspace`)."""
    m = re.search(r"mybinder\.org/v2/gh/\S+?\?urlpath=([\w/.-]+)", (REPO / "README.md").read_text(encoding="utf-8"))
    assert m, "the README's Binder section should give a mybinder.org link with ?urlpath=..."
    return m.group(1)


def clean_env(home: pathlib.Path, venv: pathlib.Path) -> dict:
    """The environment of a process in the image: the venv first on PATH, nothing from this
    checkout on sys.path, no proxy, Hugging Face offline."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in PROXY_VARS and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(HOME=str(home), VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    # Where an extra index named in requirements.txt cannot be reached (a machine with only a local
    # index, as here), fail over to the next index at once instead of retrying each package 5 times.
    env.setdefault("PIP_RETRIES", "0")
    env.setdefault("OMP_NUM_THREADS", "1")  # light on a shared CI machine, as the notebook tests are
    return env


def repository_files() -> list[str]:
    """What repo2docker would copy: the repository's files (tracked, or new and not ignored)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f and (REPO / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "artifacts", "build", "dist", "__pycache__", ".pytest_cache", "runs", "workspace"}
        return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(REPO).parts) and ".egg-info" not in str(p)]


def disk_usage(path: pathlib.Path) -> int:
    """Bytes on disk under `path`, as `du` counts them (blocks, hard links once)."""
    seen, total = set(), 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total + os.lstat(path).st_blocks * 512


def network_namespaces_work() -> bool:
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        return False
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True)
    return probe.returncode == 0


def record(key, value):
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    data[key] = value
    MEASUREMENTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def binder_image(tmp_path_factory):
    """Build the environment once per session: `python -m venv`, then binder/requirements.txt, then
    binder/postBuild, in a copy of the repository that is also $HOME (repo2docker's layout)."""
    root = tmp_path_factory.mktemp("binder")
    home, venv = root / "home", root / "venv"
    for rel in repository_files():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, home / rel)
    env = clean_env(home, venv)
    t0 = time.time()
    log = root / "build.log"
    with open(log, "w") as out:
        for cmd in ([sys.executable, "-m", "venv", str(venv)],
                    [str(venv / "bin" / "python"), "-m", "pip", "install", "-r", "binder/requirements.txt"],
                    ["bash", "binder/postBuild"]):
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            result = subprocess.run(cmd, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
            assert result.returncode == 0, f"{cmd} failed:\n" + log.read_text()[-4000:]
    build_s = time.time() - t0
    size = disk_usage(venv)
    record("install", {"venv_mib": round(size / 2**20), "home_mib": round(disk_usage(home) / 2**20),
                       "build_s": round(build_s), "python": sys.version.split()[0]})
    print(f"\nBinder environment: {size / 2**20:.0f} MiB in {venv} (built in {build_s:.0f} s)")
    return home, venv


@pytest.fixture(scope="session")
def binder_lab(binder_image, browser):
    """JupyterLab from the image's venv, network cut; yields (url, server pid, a browser that can
    reach the server, how the network was cut)."""
    home, venv = binder_image
    settings = write_lab_settings(home.parent / "lab-settings")
    port = _free_port()
    netns = network_namespaces_work()
    jupyter = [str(venv / "bin" / "python"), "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
               "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={home}",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home.parent / 'lab-ws'}"]
    if netns or os.geteuid() == 0:
        jupyter.append("--allow-root")  # a Docker-style root, or root inside the namespace
    cmd = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *jupyter] if netns else jupyter
    log_path = home.parent / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=home, env=clean_env(home, venv), stdout=log, stderr=subprocess.STDOUT)
    own_browser = None
    try:
        deadline = time.time() + 120
        while f"127.0.0.1:{port}/" not in log_path.read_text():
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("jupyter lab did not start: " + log_path.read_text()[-3000:])
            time.sleep(0.5)
        if netns:  # the browser joins the server's namespace: loopback is all it can reach
            wrapper = home.parent / "chromium-in-netns"
            wrapper.write_text(f'#!/bin/sh\nexec nsenter -t {proc.pid} -U -n --preserve-credentials {CHROMIUM} "$@"\n')
            wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
            own_browser = browser.browser_type.launch(executable_path=str(wrapper), args=ARGS)
        yield f"http://127.0.0.1:{port}", proc.pid, own_browser or browser, "network namespace" if netns else "offline env"
    finally:
        if own_browser:
            own_browser.close()
        stop_server(proc, log)


def new_page(browser, url):
    """A page that may talk to the server only: any other request is refused and recorded."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    blocked, errors = [], []
    page.route(lambda u: not (u.startswith(url) or u.startswith(("data:", "blob:"))),
               lambda route: (blocked.append(route.request.url), route.abort()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, blocked, errors


def api(page, path, method="GET"):
    """A call to the Jupyter server's REST API, made from the page (the only place that can reach it)."""
    return page.evaluate(
        """async ([path, method, token]) => {
             const r = await fetch(path, {method, headers: {Authorization: 'token ' + token}});
             return r.status === 204 ? null : await r.json();
           }""", [path, method, TOKEN])


def kernel_pid(kernel_id: str) -> int:
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"kernel-{kernel_id}.json".encode() in (proc / "cmdline").read_bytes():
                    return int(proc.name)
            except OSError:
                continue
    raise AssertionError(f"no process runs kernel {kernel_id}")


def proc_status(pid: int, field: str) -> int:
    """A memory figure of /proc/PID/status, in bytes (VmHWM: the peak resident set)."""
    m = re.search(rf"^{field}:\s+(\d+) kB", pathlib.Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) * 1024


def wait_until_run(page, timeout_s):
    """Run All is over when no cell waits ([*]) and at least one has run: every cell ran, or the
    run stopped at an error (JupyterLab then clears the cells still queued)."""
    page.wait_for_function(
        """() => {
             const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
               .map((e) => e.textContent);
             return p.length > 0 && !p.some((t) => t.includes('*')) && p.some((t) => /\\[\\d+\\]/.test(t));
           }""", timeout=timeout_s * 1000, polling=1000)


def saved_notebook(page, path: pathlib.Path, since: float):
    """Save from JupyterLab (File > Save) and read the file back once it carries the run's outputs."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Save( Notebook)?$")).click()
    deadline = time.time() + 60
    while time.time() < deadline:
        if path.stat().st_mtime > since:
            try:
                nb = nbformat.read(path, as_version=4)
                if any(c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
                    return nb
            except Exception:
                pass  # caught mid-write
        page.wait_for_timeout(500)  # not time.sleep: the page's requests pass its route only while Playwright runs
    page.screenshot(path=SHOTS / f"binder_unsaved_{path.stem[:2]}.png")
    raise AssertionError(f"{path.name} was not saved with its outputs (screenshot in {SHOTS})")


def failures(nb) -> list[str]:
    """Cells that did not run, or ran into an error (with the error's last lines)."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0].get("traceback", [])))
            out.append(f"cell {i} raised {errors[0].ename}: {errors[0].evalue}\n{trace[-1500:]}")
        elif cell.execution_count is None and cell.source.strip():
            out.append(f"cell {i} never ran: {cell.source[:80]!r}")
    return out


def test_readme_url_opens_the_workspace(binder_lab):
    url, _, browser, how = binder_lab
    page, blocked, errors = new_page(browser, url)
    try:
        page.goto(f"{url}/{readme_urlpath()}?token={TOKEN}")
        listing = page.locator(".jp-DirListing-content")
        for path in CHAPTERS:
            listing.locator(".jp-DirListing-item", has_text=path.name).wait_for(timeout=60_000)
        assert blocked == [] and errors == []
    finally:
        page.close()
    record("network_cut_by", how)
    print(f"\nnetwork cut by: {how}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem[:2])
def test_chapter_runs_in_the_binder_image(binder_image, binder_lab, chapter):
    home, venv = binder_image
    url, server_pid, browser, _ = binder_lab
    urlpath = readme_urlpath()
    workspace = home / urlpath.split("lab/tree/", 1)[1]
    target = workspace / chapter.name
    assert target.exists(), f"postBuild did not put {chapter.name} in {workspace}"
    nbformat.write(filled_notebook(target), target)  # the learner's copy, with the references filled in
    since = target.stat().st_mtime

    page, blocked, errors = new_page(browser, url)
    try:
        # ?reset: start from an empty layout, not the one that still holds the last chapter's tab
        page.goto(f"{url}/{urlpath}?reset&token={TOKEN}")
        page.locator(".jp-DirListing-item", has_text=chapter.name).dblclick(timeout=60_000)
        run_all(page, dialog_timeout=10_000)
        t0 = time.time()  # Run All was pressed
        wait_until_run(page, timeout_s=1200)
        seconds = time.time() - t0
        sessions = [s for s in api(page, "/api/sessions") if s["path"].endswith(chapter.name)]
        assert len(sessions) == 1, sessions
        pid = kernel_pid(sessions[0]["kernel"]["id"])
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        peak = proc_status(pid, "VmHWM")
        server = proc_status(server_pid, "VmHWM")
        nb = saved_notebook(page, target, since)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / f"binder_{chapter.stem[:2]}.png")
        api(page, f"/api/sessions/{sessions[0]['id']}", method="DELETE")  # free the kernel's memory
    finally:
        page.close()

    record(chapter.stem, {"kernel_peak_mib": round(peak / 2**20), "server_peak_mib": round(server / 2**20),
                          "run_s": round(seconds)})
    print(f"\n{chapter.stem}: kernel peak {peak / 2**20:.0f} MiB, server {server / 2**20:.0f} MiB, {seconds:.0f} s")
    assert cmdline[0].decode().startswith(str(venv)), f"the kernel is not the image's Python: {cmdline[0]!r}"
    problems = failures(nb)
    assert not problems, f"{chapter.name} in the Binder image:\n" + "\n".join(problems)
    assert blocked == [], f"the page asked the network for {blocked}"
    assert errors == [], errors
    assert peak < LIMIT_BYTES, f"{chapter.name}: kernel peak {peak / 2**20:.0f} MiB, over mybinder.org's ~2 GB"
