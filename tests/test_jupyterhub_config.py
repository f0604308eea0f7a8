"""binder/jupyterhub/config.yaml: the values a Zero to JupyterHub class runs on, checked against the
sizing doc beside it (the chart's JSON schema is not available offline, so these are our own checks:
keys the chart reads, limits at or above guarantees, and the doc's arithmetic redone)."""

from __future__ import annotations

import math
import re
import urllib.parse
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "binder" / "jupyterhub"
UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
MIB = 2**20


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((HUB / "config.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def doc() -> str:
    return (HUB / "README.md").read_text(encoding="utf-8")


def get(config: dict, dotted: str):
    node = config
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, f"config.yaml has no {dotted}"
        node = node[key]
    return node


def to_bytes(value) -> int:
    """Memory as JupyterHub reads it (K/M/G/T are powers of 1024, as Kubernetes' Ki/Mi/Gi/Ti)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", str(value))
    assert match, f"not a memory size: {value!r}"
    return int(float(match[1]) * UNITS.get(match[2] or "", 1))


def figure(doc: str, pattern: str) -> float:
    """A number the doc states, found by the words around it."""
    match = re.search(pattern, doc)
    assert match, f"the doc no longer says {pattern!r}"
    return float(match[1].replace(",", ""))


def table(doc: str, first_header: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule dropped) of the doc's table that opens with ``first_header``."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


# -- the chart's keys --------------------------------------------------------------------------------

TOP_LEVEL = {"singleuser", "cull", "hub", "scheduling", "prePuller", "proxy", "ingress", "custom", "debug", "rbac"}


def test_only_keys_the_chart_reads(config):
    assert set(config) <= TOP_LEVEL, f"unknown top-level keys: {set(config) - TOP_LEVEL}"
    for dotted in ["singleuser.image.name", "singleuser.image.tag", "singleuser.memory.guarantee",
                   "singleuser.memory.limit", "singleuser.cpu.guarantee", "singleuser.cpu.limit",
                   "singleuser.storage.capacity", "singleuser.defaultUrl", "cull.enabled", "cull.timeout",
                   "cull.every", "singleuser.lifecycleHooks.postStart.exec.command"]:
        get(config, dotted)


def test_limits_are_at_least_the_guarantees(config):
    memory, cpu = config["singleuser"]["memory"], config["singleuser"]["cpu"]
    assert to_bytes(memory["limit"]) >= to_bytes(memory["guarantee"]) > 0
    assert float(cpu["limit"]) >= float(cpu["guarantee"]) > 0


def test_the_image_is_pinned_and_starts_the_workspace(config):
    image = config["singleuser"]["image"]
    assert image["tag"] not in ("latest", "", None)
    assert config["singleuser"]["cmd"] == "jupyterhub-singleuser"
    command = " ".join(config["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"])
    assert 'course start "$HOME/course-workspace" --no-open' in command
    assert command.rstrip().endswith("|| true")  # a failed sync must not stop the server from starting
    assert config["singleuser"]["defaultUrl"].endswith("/course-workspace")


def test_culling(config):
    cull = config["cull"]
    assert cull["enabled"] is True and cull["users"] is False
    assert 0 < cull["every"] < cull["timeout"]
    kernels = config["singleuser"]["extraFiles"]["kernel-culling"]
    assert kernels["mountPath"].startswith("/etc/jupyter/jupyter_server_config.d/")
    assert kernels["mountPath"].endswith(".json")  # the chart renders `data` by the file's extension
    culling = kernels["data"]["MappingKernelManager"]
    assert 0 < culling["cull_interval"] < culling["cull_idle_timeout"] < config["cull"]["timeout"]


def test_torch_threads_match_the_cpu_limit(config):
    env = config["singleuser"]["extraEnv"]
    assert int(env["OMP_NUM_THREADS"]) == int(float(config["singleuser"]["cpu"]["limit"]))
    assert env["MKL_NUM_THREADS"] == env["OMP_NUM_THREADS"]
    assert all(isinstance(v, str) for v in env.values())  # Kubernetes wants strings


def test_the_image_installs_nbgitpuller():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert re.search(r"^nbgitpuller\b", requirements, re.M)


# -- the doc's numbers -------------------------------------------------------------------------------

def test_settings_table_matches_config(config, doc):
    rows = table(doc, "setting")
    assert len(rows) >= 10
    for dotted, value in rows:
        actual = get(config, dotted)
        expected = yaml.safe_load(value)
        assert str(actual) == str(expected), f"{dotted}: config.yaml has {actual!r}, the doc says {value!r}"


def test_memory_arithmetic(config, doc):
    server = figure(doc, r"JupyterLab loaded \| (\d+) \|")
    kernel = figure(doc, r"\| a kernel \| (\d+) \|")
    chapter = figure(doc, r"the largest \| (\d+) \|")
    assert figure(doc, r"from [\d,]+ to ([\d,]+) MiB") == chapter
    one, two, three = (server + n * (kernel + chapter) for n in (1, 2, 3))
    assert figure(doc, r"one chapter at its peak: [^*]*\*\*([\d,]+) MiB") == one
    assert figure(doc, r"two chapters at their peaks: [^*]*\*\*([\d,]+) MiB") == two
    assert figure(doc, r"three chapters at their peaks: [^*]*\*\*([\d,]+) MiB") == three
    guarantee = to_bytes(config["singleuser"]["memory"]["guarantee"]) / MIB
    limit = to_bytes(config["singleuser"]["memory"]["limit"]) / MIB
    assert one <= guarantee < two, "the guarantee should hold one chapter at its peak, and no more"
    assert three <= limit, "the limit should hold three open chapters at their peaks"
    assert figure(doc, r"with (\d+) MiB to spare") == guarantee - one
    comments = (HUB / "config.yaml").read_text()
    for mib in (one, two, three):
        assert f"{mib:,.0f} MiB" in comments, "config.yaml's comments should give the doc's figures"


def learners_per_node(doc: str, config: dict) -> int:
    node_gib = figure(doc, r"vCPU and (\d+) GiB: the compute-optimised")
    reserved = figure(doc, r"a 32 GiB node keeps\s+[\d.+\s]+= ([\d.]+) GiB")
    daemons = figure(doc, r"take about (\d+) GiB more")
    # the GKE formula the doc cites, redone
    tiers = [(4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06)]
    left, kept = node_gib, 0.0
    for size, share in tiers:
        kept += min(left, size) * share
        left -= min(left, size)
    assert reserved == pytest.approx(kept + 0.1)
    guarantee_gib = to_bytes(config["singleuser"]["memory"]["guarantee"]) / 2**30
    per_node = math.floor((node_gib - reserved - daemons) / guarantee_gib)
    cpus = figure(doc, r"User nodes of (\d+) vCPU")
    cpu_left = figure(doc, r"against 16 − 0.11 \(reserved\) − 0.5 \(those pods\) = (\d+(?:\.\d+)?)")
    assert cpu_left == pytest.approx(cpus - 0.11 - 0.5)
    assert per_node * float(config["singleuser"]["cpu"]["guarantee"]) <= cpu_left, "CPU would bind before memory"
    return per_node


def test_learners_per_node(config, doc):
    per_node = learners_per_node(doc, config)
    assert figure(doc, r"\*\*(\d+) learners per node\*\*") == per_node
    assert config["scheduling"]["userPlaceholder"]["replicas"] == per_node  # one node of headroom


def test_class_sizes(config, doc):
    per_node = learners_per_node(doc, config)
    node_cpus = figure(doc, r"User nodes of (\d+) vCPU")
    node_gib = figure(doc, r"vCPU and (\d+) GiB: the compute-optimised")
    one = figure(doc, r"one chapter at its peak: [^*]*\*\*([\d,]+) MiB")
    guarantee = to_bytes(config["singleuser"]["memory"]["guarantee"]) / 2**30
    limit = to_bytes(config["singleuser"]["memory"]["limit"]) / 2**30
    volume = to_bytes(config["singleuser"]["storage"]["capacity"]) / 2**30
    rows = table(doc, "learners at once")
    assert [r[0] for r in rows] == ["30", "200", "1,000"]
    for row in rows:
        n = int(row[0].replace(",", ""))
        nodes = math.ceil(n / per_node)
        expected = [
            row[0],
            f"{n * guarantee:,.0f} GiB",
            f"{n * one / 1024:,.1f} GiB",
            f"{n * limit:,.0f} GiB",
            str(nodes),
            str(nodes + 1),
            f"{(nodes + 1) * node_cpus:,.0f} vCPU / {(nodes + 1) * node_gib:,.0f} GiB",
            f"{n * volume:,.0f} GiB",
        ]
        assert row == expected, f"the row for {n} learners"


def test_nbgitpuller_link(doc):
    link = next(line for line in doc.splitlines() if "/hub/user-redirect/git-pull?" in line)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert set(query) == {"repo", "branch", "targetPath", "urlpath"}
    target = query["targetPath"][0]
    assert target.startswith("course-workspace/")  # inside the workspace: one progress file
    urlpath = query["urlpath"][0]
    assert urlpath.startswith(f"lab/tree/{target}/")
    notebook = urlpath.removeprefix(f"lab/tree/{target}/")
    assert (ROOT / notebook).is_file(), f"the link opens {notebook}, which is not in the repository"
