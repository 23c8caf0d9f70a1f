"""Each quality gate of `make check` fails when it should: one broken thing per
gate, on a copy of the production build, and the gate exits non-zero naming
itself. These need Java, Node and Chromium, so they run in `make check`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

pytestmark = pytest.mark.gates
CHECK = [sys.executable, str(ROOT / "tests" / "check_site.py")]


@pytest.fixture
def site(prod_site, tmp_path) -> Path:
    output, _ = prod_site
    copy = tmp_path / "site"
    shutil.copytree(output, copy)
    return copy


def run_gate(site: Path, gate: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CHECK, "--site", str(site), "--content", str(SAMPLE), "--only", gate,
         *extra],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def edit(path: Path, old: str, new: str) -> None:
    # Building a broken fixture, not reading HTML: a plain replacement is enough.
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def assert_fails(result: subprocess.CompletedProcess, gate: str, detail: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"FAIL  {gate}" in result.stdout, result.stdout
    assert f"failed: {gate}." in result.stdout
    assert detail in result.stdout, result.stdout


@pytest.mark.parametrize(
    "gate", ["html", "links", "feeds", "accessibility", "social", "workflows"]
)
def test_each_gate_passes_the_sample_production_build(site, gate):
    # workflows: actionlint on every workflow of this repository (site.yml,
    # reviews.yml and any added later).
    result = run_gate(site, gate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS  {gate}" in result.stdout


@pytest.mark.parametrize("gate", ["html", "links", "accessibility"])
def test_the_readers_email_forms_pass_the_gates(readers_email_site, gate):
    assert (readers_email_site / "follow/index.html").exists()
    result = run_gate(readers_email_site, gate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS  {gate}" in result.stdout


def test_html_gate_fails_on_an_invalid_element(site):
    edit(site / "about/index.html", "</main>", "<blink>Old markup</blink></main>")
    assert_fails(run_gate(site, "html"), "html", "about/index.html")


def test_links_gate_fails_on_a_broken_link(site):
    edit(
        site / "about/index.html", "</main>", '<a href="/no-such-page/">Gone</a></main>'
    )
    assert_fails(run_gate(site, "links"), "links", "no file no-such-page/index.html")


def test_links_gate_fails_on_a_missing_anchor(site):
    edit(
        site / "about/index.html", "</main>", '<a href="#no-such-part">Gone</a></main>'
    )
    assert_fails(run_gate(site, "links"), "links", "no id 'no-such-part'")


def test_feeds_gate_fails_on_an_item_without_a_date(site):
    feed = site / "feeds/all.rss.xml"
    text = feed.read_text(encoding="utf-8")
    start = text.index("<pubDate>")
    end = text.index("</pubDate>", start) + len("</pubDate>")
    feed.write_text(text[:start] + text[end:], encoding="utf-8")
    assert_fails(run_gate(site, "feeds"), "feeds", "all.rss.xml: item 1: <pubDate>")


def test_accessibility_gate_fails_on_an_unlabelled_input(site):
    edit(site / "index.html", "</main>", '<input type="text" name="q"></main>')
    assert_fails(
        run_gate(site, "accessibility"), "accessibility", "index.html at 1280px: label"
    )


def test_social_gate_fails_on_a_page_without_og_image(site):
    page = site / "about/index.html"
    text = page.read_text(encoding="utf-8")
    start = text.index('<meta property="og:image"')
    end = text.index(">", start) + 1
    page.write_text(text[:start] + text[end:], encoding="utf-8")
    assert_fails(run_gate(site, "social"), "social", "og:image")


def test_workflows_gate_fails_on_a_malformed_workflow(site, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(
        ROOT / ".github/workflows/site.yml", repo / ".github/workflows/site.yml"
    )
    assert run_gate(site, "workflows", "--workflows", str(repo)).returncode == 0
    (repo / ".github/workflows/broken.yml").write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nosuchcontext }}\n"
        "      - uses: actions/checkout@v4\n        run: echo both\n",
        encoding="utf-8",
    )
    assert_fails(
        run_gate(site, "workflows", "--workflows", str(repo)), "workflows", "broken.yml"
    )


def test_an_unknown_gate_is_refused():
    result = subprocess.run(
        [*CHECK, "--only", "spelling"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "unknown gate(s): spelling" in result.stderr
