"""One JupyterLab server and one headless Chromium for the whole browser suite (2-core budget)."""

import json
import os
import re
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = pathlib.Path(__file__).parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "widgets-browser-test"
SHOTS = REPO / "artifacts" / "screenshots"
sys.path[:0] = [str(REPO), str(REPO / "tests" / "widgets")]  # widgets (uninstalled checkout), tiny_model


def pytest_collection_modifyitems(items):
    if not pathlib.Path(CHROMIUM).exists():
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":  # set by .ci/run: there a skip would hide a failure
            raise pytest.UsageError(f"{CHROMIUM} not found, and COURSE_REQUIRE_BROWSER=1 demands the browser tests")
        skip = pytest.mark.skip(reason=f"{CHROMIUM} not found: install Debian's chromium package to run browser tests")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_lab_settings(settings):
    """JupyterLab user settings for tests: every cell in the DOM (no windowing), no news fetched."""
    for rel, value in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    return settings


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Start `jupyter lab` in a temp dir; yields (base_url, root_dir)."""
    root = tmp_path_factory.mktemp("lab")
    settings = write_lab_settings(root / "_settings")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests" / "widgets")]),
               JUPYTER_PLATFORM_DIRS="1")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={root / '_ws'}",
           "--ServerApp.disable_check_xsrf=True"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = open(root / "_server.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=1)
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError("jupyter lab exited: " + (root / "_server.log").read_text()[-2000:])
                time.sleep(0.5)
        else:
            raise RuntimeError("jupyter lab did not start in 60 s")
        yield url, root
    finally:
        stop_server(proc, log)


def stop_server(proc, log, wait_s=20):
    """Stop a server started by a fixture (SIGTERM: Jupyter shuts its kernels down), then its log."""
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def write_notebook(path, cells):
    """A notebook of code cells, on the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def open_and_run_all(page, url, dialog_timeout=20_000):
    """Open a notebook page (JupyterLab or Notebook 7), accept the kernel dialog that may ask which
    kernel to use on first open, and run every cell from the Run menu."""
    page.goto(url)
    run_all(page, dialog_timeout)


def run_all(page, dialog_timeout=20_000):
    """In a notebook that is opening (or open): accept the kernel dialog if it comes, then Run All."""
    try:
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=dialog_timeout)
    except Exception:
        pass
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => document.querySelector('.jp-Notebook-ExecutionIndicator, .jp-NotebookKernelStatus, "
                           ".jp-Toolbar-kernelStatus') !== null", timeout=30_000)
    page.locator(".jp-Notebook").click()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
