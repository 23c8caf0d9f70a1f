"""The endpoint ready to deploy: its own small requirements (the versions the
tests run), an import closure without Pelican or anything only the build
needs, one command (`python -m lab_comments serve`), and a fresh virtual
environment with requirements-endpoint.txt alone serving a comment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from commentkit import GOOD, SITE
from deploykit import endpoint_process, get, post_form

from lab_comments.__main__ import with_default
from lab_comments.loadtest import form_body, write_manifest
from lab_comments.store import load_yaml

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
ENDPOINT_REQUIREMENTS = ROOT / "requirements-endpoint.txt"
# The modules of lab_comments only the build imports (they need what the
# build needs); every other module is the endpoint's or the moderation CLI's.
BUILD_ONLY = {"plugin", "cache"}
# What only the build needs: never imported by the endpoint.
BUILD_PACKAGES = {
    "pelican",
    "jinja2",
    "feedgen",
    "PIL",
    "fontTools",
    "lightningcss",
    "pagefind",
    "docutils",
    "pygments",
    "blinker",
    "watchfiles",
    "rich",
    "lab_content",
    "lab_feeds",
    "lab_social",
    "lab_sitemap",
    "lab_assets",
    "lab_writer",
}


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of a pinned requirements file."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        found[normalised(match[1])] = match[3]
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def endpoint_modules() -> list[str]:
    return sorted(
        f"lab_comments.{path.stem}"
        for path in (PLUGINS / "lab_comments").glob("*.py")
        if path.stem not in BUILD_ONLY and path.stem != "__init__"
    )


def test_the_endpoint_requirements_are_pinned_as_the_sites():
    endpoint, site = pins(ENDPOINT_REQUIREMENTS), pins(ROOT / "requirements.txt")
    assert {"waitress", "pyyaml", "markdown", "nh3"} <= set(endpoint)
    assert "pelican" not in endpoint
    assert {name: site.get(name) for name in endpoint} == endpoint


# Run in a child process: the modules it imports, with the build's packages
# made unimportable (an import of one fails loudly), and the distribution
# each third-party module comes from.
CLOSURE = """
import importlib, importlib.metadata, json, sys, sysconfig
before = set(sys.modules)  # the interpreter's own start (site, .pth files)
BLOCKED = set(json.loads(sys.argv[1]))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the endpoint imported {name}")
sys.meta_path.insert(0, Blocker())
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
where = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
new = [sys.modules[name] for name in set(sys.modules) - before]
top = {
    m.__name__.split(".")[0] for m in new
    if any((getattr(m, "__file__", None) or "").startswith(w + "/") for w in where)
}
owners = importlib.metadata.packages_distributions()
print(json.dumps({
    "modules": sorted(sys.modules),
    "third_party": {name: owners.get(name, ["?"]) for name in sorted(top)},
    "files": sorted({
        getattr(m, "__file__", None) or "" for m in list(sys.modules.values())
    }),
}))
"""


@pytest.fixture(scope="module")
def closure() -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CLOSURE,
            json.dumps(sorted(BUILD_PACKAGES)),
            json.dumps(endpoint_modules()),
        ],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(PLUGINS)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_endpoint_side_imports_nothing_only_the_build_needs(closure):
    assert "lab_comments.server" in closure["modules"]
    assert "lab_comments.fetch" in closure["modules"]
    imported = {name.split(".")[0] for name in closure["modules"]}
    assert imported & BUILD_PACKAGES == set()
    assert {f"lab_comments.{m}" for m in BUILD_ONLY} & set(closure["modules"]) == set()


def test_every_package_the_endpoint_imports_is_in_its_requirements(closure):
    ours = {"lab_comments", "lab_common"}
    needed = {
        normalised(dist)
        for name, dists in closure["third_party"].items()
        if name not in ours
        for dist in dists
    }
    unknown = [name for name, dists in closure["third_party"].items() if "?" in dists]
    assert unknown == [], "imported, but from no installed distribution"
    assert needed == set(pins(ENDPOINT_REQUIREMENTS))


def test_the_endpoint_needs_only_lab_comments_and_lab_common_of_plugins(closure):
    """What the container copies (deploy/container/Containerfile)."""
    ours = {
        Path(file).relative_to(PLUGINS).parts[0]
        for file in closure["files"]
        if file and Path(file).is_relative_to(PLUGINS)
    }
    assert ours == {"lab_comments", "lab_common"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["serve"]),
        (["--port", "9001"], ["serve", "--port", "9001"]),
        (["--host=0.0.0.0"], ["serve", "--host=0.0.0.0"]),
        (["serve", "--port", "1"], ["serve", "--port", "1"]),
        (["list"], ["list"]),
        (["--content", "x", "list"], ["--content", "x", "list"]),
        (["--help"], ["--help"]),
    ],
)
def test_python_m_lab_comments_serves_unless_told_otherwise(argv, expected):
    assert with_default(argv) == expected


@pytest.mark.parametrize("module", ["lab_comments", "lab_comments.cli"])
def test_both_commands_run_the_moderation_cli(tmp_path, module):
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PLUGINS),
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "none.json"),
    }
    result = subprocess.run(
        [sys.executable, "-m", module, "list"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No comments are waiting for moderation.\n"


# -- a fresh virtual environment with the endpoint's requirements alone


def run(command: list, timeout: float, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **options,
    )
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


def test_the_endpoint_serves_a_comment_from_its_own_requirements_alone(tmp_path):
    """requirements-endpoint.txt installed alone (pip's cache makes it quick:
    `make install` filled it with the same wheels) into a new virtual
    environment, which then serves a comment into the queue."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=120)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    run(
        [python, "-m", "pip", "install", "--quiet", "-r", ENDPOINT_REQUIREMENTS],
        timeout=600,
        env=env,
    )
    frozen = run([python, "-m", "pip", "freeze"], timeout=60, env=env).stdout
    installed = {
        normalised(line.split("==")[0]): line.split("==")[1]
        for line in frozen.split()
        if "==" in line
    }
    assert installed == pins(ENDPOINT_REQUIREMENTS)

    manifest = tmp_path / "site" / "comments-manifest.json"
    manifest.parent.mkdir()
    write_manifest(manifest, SITE, {"a-post": {}})
    queue = tmp_path / "queue"
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "fresh-venv-" + "s" * 40,
    }
    with endpoint_process(str(python), environ, tmp_path / "server.log") as server:
        assert get(server, "/health") == (200, b"ok\n")
        status, location = post_form(server, form_body(GOOD), SITE)
        assert status == 303
        assert location == f"{SITE}/updates/a-post/#comment-pending"
    files = list((queue / "pending").glob("*.yaml"))
    assert len(files) == 1
    record = load_yaml(files[0].read_bytes())
    assert (record["post"], record["name"], record["body"]) == (
        GOOD["post"],
        GOOD["name"],
        GOOD["body"],
    )
