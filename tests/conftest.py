"""Shared fixtures: build real sites with Pelican in-process and read them back."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import html5lib
import pytest
from pelican import Pelican
from pelican.settings import read_settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# A frozen copy of the sample story (the seed's pilot, challenge, calls and
# comment thread). Tests that assert specifics build it, never content/,
# which is the Lab's own and changes with every post.
SAMPLE = FIXTURES / "sample"
# The sample content is judged on a fixed day, so that call and phase statuses
# (and so the expected pages) do not change with the day the tests run.
SAMPLE_TODAY = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
SAMPLE_SITEURL_DEV = "http://127.0.0.1:8000"
SAMPLE_SITEURL_PROD = "https://lab.example.org"


class RecordingHandler(logging.Handler):
    """Keeps every log record at WARNING or above that a build emits."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def messages(self) -> list[str]:
        return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.records]


def build(
    config: str | Path,
    output: Path,
    *,
    path: Path | None = None,
    **overrides,
) -> RecordingHandler:
    """Build a site with Pelican, in-process, and return what it logged.

    `config` is pelicanconf.py or publishconf.py of the repository; `path` is
    the content folder (the sample fixture site unless given); `overrides`
    replace settings. Raises whatever the build raises.
    """
    override = {"OUTPUT_PATH": str(output), "LAB_TODAY": SAMPLE_TODAY, **overrides}
    override["PATH"] = str(path if path is not None else SAMPLE)
    handler = RecordingHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    cwd = os.getcwd()
    try:
        # publishconf.py imports pelicanconf from the working directory.
        os.chdir(ROOT)
        settings = read_settings(str(ROOT / config), override=override)
        Pelican(settings).run()
    finally:
        os.chdir(cwd)
        root.removeHandler(handler)
    return handler


def parse_html(path: Path):
    """Parse a page as a browser would (html5lib), as an ElementTree without
    namespaces, so that `.iter("h1")` finds every h1."""
    with open(path, "rb") as handle:
        return html5lib.parse(handle, treebuilder="etree", namespaceHTMLElements=False)


def html_files(output: Path) -> list[Path]:
    return sorted(output.rglob("*.html"))


@pytest.fixture(scope="session")
def dev_site(tmp_path_factory) -> tuple[Path, RecordingHandler]:
    """The sample fixture site built with pelicanconf.py."""
    output = tmp_path_factory.mktemp("dev-site")
    handler = build("pelicanconf.py", output, SITEURL=SAMPLE_SITEURL_DEV)
    return output, handler


@pytest.fixture(scope="session")
def prod_site(tmp_path_factory) -> tuple[Path, RecordingHandler]:
    """The sample fixture site built with publishconf.py."""
    output = tmp_path_factory.mktemp("prod-site")
    handler = build("publishconf.py", output, SITEURL=SAMPLE_SITEURL_PROD)
    return output, handler


@pytest.fixture
def site_copy(tmp_path) -> Iterator[Path]:
    """A writable copy of the sample fixture site to break on purpose."""
    target = tmp_path / "content"
    shutil.copytree(SAMPLE, target)
    yield target


@pytest.fixture
def make_repo(tmp_path):
    """A copy of the repository (code, theme, config) with the given content,
    and a function that runs a make target in it with this test's Python.

    The copy uses the .venv the tests run in, so no install happens."""

    def setup(content: Path):
        repo = tmp_path / "repo"
        repo.mkdir()
        for name in (
            "Makefile",
            "pelicanconf.py",
            "publishconf.py",
            "requirements.txt",
        ):
            shutil.copy2(ROOT / name, repo / name)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "plugins", repo / "plugins", ignore=ignore)
        shutil.copytree(ROOT / "theme", repo / "theme")
        shutil.copytree(content, repo / "content")

        def make(target: str, *args: str, timeout: float = 120, **popen):
            command = [
                "make", "-C", str(repo), target, *args,
                f"BIN={Path(sys.executable).parent}",
                "-o", ".venv/.installed-from-requirements",
            ]  # fmt: skip
            env = {"PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": "1764244800"}
            if popen.pop("background", False):
                return subprocess.Popen(command, env=env, **popen)
            return subprocess.run(
                command, capture_output=True, text=True, env=env,
                timeout=timeout, check=False,
            )  # fmt: skip

        return repo, make

    return setup
