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
    today: dt.datetime | None = SAMPLE_TODAY,
    **overrides,
) -> RecordingHandler:
    """Build a site with Pelican, in-process, and return what it logged.

    `config` is pelicanconf.py or publishconf.py of the repository; `path` is
    the content folder (the sample fixture site unless given); `today` pins
    LAB_TODAY (None leaves it unset: the build's own day, as `make` has it);
    `overrides` replace settings. Raises whatever the build raises.
    """
    pinned = {"LAB_TODAY": today} if today is not None else {}
    override = {"OUTPUT_PATH": str(output), **pinned, **overrides}
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


def refresh_target(tree) -> str | None:
    """Where a page's <meta http-equiv="refresh"> sends the reader ("" for a
    refresh without an address), or None when it has none: the pages at old
    addresses (lab_redirects) have one, no other page does."""
    for meta in tree.iter("meta"):
        if (meta.get("http-equiv") or "").strip().lower() != "refresh":
            continue
        _, _, rest = (meta.get("content") or "").partition(";")
        name, _, url = rest.strip().partition("=")
        return url.strip() if name.strip().lower() == "url" else ""
    return None


def site_pages(output: Path) -> list[Path]:
    """The pages readers browse: every HTML file but the pages at old
    addresses (lab_redirects), which send them on at once and have rules of
    their own (sitecheck.redirect_page_problems)."""
    return [p for p in html_files(output) if refresh_target(parse_html(p)) is None]


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


@pytest.fixture(scope="session")
def readers_email_site(tmp_path_factory) -> Path:
    """The sample fixture built with publishconf.py and both readers' email
    features on (both off by default): the reply box on every comment form,
    the follow form on each challenge page, the feeds page and its own."""
    output = tmp_path_factory.mktemp("readers-email") / "site"
    build(
        "publishconf.py",
        output,
        SITEURL=SAMPLE_SITEURL_PROD,
        LAB_COMMENTS_REPLY_EMAILS=True,
        LAB_COMMENTS_FOLLOW=True,
    )
    return output


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
            "previewconf.py",
            "requirements.txt",
        ):
            shutil.copy2(ROOT / name, repo / name)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "plugins", repo / "plugins", ignore=ignore)
        shutil.copytree(ROOT / "theme", repo / "theme")
        shutil.copytree(content, repo / "content")

        def make(target: str, *args: str, timeout: float = 120, env=None, **popen):
            command = [
                "make", "-C", str(repo), target, *args,
                f"BIN={Path(sys.executable).parent}",
                "-o", ".venv/.installed-from-requirements",
            ]  # fmt: skip
            # A fixed day unless `env` says otherwise (SOURCE_DATE_EPOCH=""
            # is the real one).
            env = {
                "PATH": "/usr/bin:/bin",
                "SOURCE_DATE_EPOCH": "1764244800",
                **(env or {}),
            }
            if popen.pop("background", False):
                return subprocess.Popen(command, env=env, **popen)
            return subprocess.run(
                command, capture_output=True, text=True, env=env,
                timeout=timeout, check=False,
            )  # fmt: skip

        return repo, make

    return setup


# -- content/ is the Lab's, output/ a build's: only the tests marked for them
# read them

# The Lab's own content folder. Tests marked `lab_content` build it and check
# only rules any valid site meets; every other test reads fixtures, so that
# adding posts, deleting the sample or approving comments never fails them.
LAB_CONTENT = ROOT / "content"
# What `make html` or `make publish` last built: what a developer happened to
# build last (the comments CLI, say, reads its manifest by default) must never
# change what a test sees. The quality gates (`gates`) check it on purpose.
LAB_OUTPUT = ROOT / "output"


class ContentGuard:
    """Notes every file opened and every folder listed under content/ or
    output/ by a test not marked for it, through Python's audit hooks
    ("open", "os.listdir", "os.scandir", "glob.glob", "shutil.copytree"):
    whatever reads them in this process, however it names the path, is seen
    (an "open" event comes before the file is opened, so reading a file that
    is not there is seen too). What it notes fails the test
    (pytest_runtest_makereport)."""

    EVENTS = frozenset(
        {"open", "os.listdir", "os.scandir", "glob.glob", "shutil.copytree"}
    )

    def __init__(self, *folders: Path):
        self.folders = [os.path.realpath(folder) for folder in folders]
        self.allowed: set[str] = set(self.folders)
        self.seen: list[str] = []

    def allow(self, *folders: Path) -> None:
        self.allowed = {os.path.realpath(folder) for folder in folders}

    def hook(self, event: str, args: tuple) -> None:
        if event not in self.EVENTS or not args:
            return
        if len(self.allowed) == len(self.folders):
            return
        name = args[0]
        if not isinstance(name, (str, bytes, os.PathLike)):
            return  # a file descriptor: its path was seen when it was opened
        if event == "open" and args[1] is None and not os.path.isabs(name):
            # os.open of a relative name may be relative to a folder's
            # descriptor (dir_fd, as shutil.rmtree walks a tree), which the
            # event does not carry: the name alone says nothing of where.
            return
        try:
            path = os.path.realpath(os.fsdecode(name))
        except (TypeError, ValueError):
            return
        for folder in self.folders:
            if folder in self.allowed:
                continue
            if path == folder or path.startswith(folder + os.sep):
                self.seen.append(f"{event} {path}")

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


GUARD = ContentGuard(LAB_CONTENT, LAB_OUTPUT)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab_content: reads the Lab's content/ (rules any valid site meets only)",
    )
    # Audit hooks cannot be removed: the guard is switched per test instead.
    sys.addaudithook(GUARD.hook)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    GUARD.take()
    allowed = []
    if item.get_closest_marker("lab_content") is not None:
        allowed.append(LAB_CONTENT)
    if item.get_closest_marker("gates") is not None:
        allowed += [LAB_CONTENT, LAB_OUTPUT]
    GUARD.allow(*allowed)
    try:
        yield
    finally:
        GUARD.allow(LAB_CONTENT, LAB_OUTPUT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    seen = GUARD.take()
    if seen and not report.failed:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} read the Lab's content/ or the repository's output/ "
            f"({len(seen)} times, first: {seen[0]}). Tests build fixture sites "
            "(SAMPLE, tests/fixtures/) into their own folders; only tests marked "
            "lab_content check content/, against rules, and only the gates "
            "read output/."
        )


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, driven by playwright, for the browser gates (`make
    check` installs playwright; `make test` never asks for this). One per
    module: a module that also starts playwright itself (test_search_browser's
    `search`) must not find another one running from an earlier module."""
    from check_site import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
