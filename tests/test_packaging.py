"""The package, the classroom image and CI agree on what is installed."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def binder_requirements() -> dict[str, Requirement]:
    reqs = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            reqs[req.name] = req
    return reqs


def test_binder_pins_agree_with_pyproject():
    binder = binder_requirements()
    for spec in pyproject()["project"]["dependencies"]:
        req = Requirement(spec)
        assert req.name in binder, f"{req.name} is a dependency in pyproject.toml but missing from binder/requirements.txt"
        if req.name == "torch":
            pinned = Version(str(binder["torch"].specifier).removeprefix("=="))
            assert pinned in req.specifier, f"binder pins torch {pinned}, outside pyproject's {req.specifier}"
        else:
            assert binder[req.name].specifier == req.specifier, (
                f"{req.name}: binder has {binder[req.name].specifier}, pyproject has {req.specifier}")
    hub = {Requirement(s).name: Requirement(s) for s in pyproject()["project"]["optional-dependencies"]["hub"]}
    for name, req in hub.items():  # the classroom image also serves JupyterHub classes
        assert name in binder and binder[name].specifier == req.specifier, f"binder should install {req} (the hub extra)"
    extra = set(binder) - {Requirement(s).name for s in pyproject()["project"]["dependencies"]} - set(hub)
    assert not extra, f"binder installs {extra}, which pyproject does not declare"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.split("# --- the README's test command, verbatim ---")[1].strip().splitlines()[0]
    assert command in readme


def test_readme_torch_pin_is_inside_the_declared_range():
    readme = (ROOT / "README.md").read_text()
    pins = set(re.findall(r"torch==([\d.]+)", readme))
    torch_spec = next(Requirement(s) for s in pyproject()["project"]["dependencies"] if s.startswith("torch"))
    assert pins and all(Version(p) in torch_spec.specifier for p in pins)


def test_every_dependency_has_lower_and_upper_bounds():
    for spec in pyproject()["project"]["dependencies"] + pyproject()["project"]["optional-dependencies"]["test"]:
        ops = {s.operator for s in Requirement(spec).specifier}
        assert ops & {">=", "=="} and ops & {"<", "<=", "=="}, spec


def test_chapter_notebooks_ship_as_package_data():
    data = pyproject()["tool"]["setuptools"]["package-data"]["course"]
    assert "chapters/*.ipynb" in data
