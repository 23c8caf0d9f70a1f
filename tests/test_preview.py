"""The reviewer's preview (previewconf.py, `make preview`): the production build
with relative links, which works from any folder of any static server.

The sample fixture site is built with previewconf.py, indexed by Pagefind as
`make preview` does, and served from a sub-folder (/some/folder/) on
127.0.0.1: every link, image, script, stylesheet and feed it names resolves
there (tests/sitecheck.py) and answers 200 over HTTP, the search page finds
Pagefind's index under the sub-folder, and nothing names the live site's
address (the production SITEURL and comments endpoint of publishconf.py).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import ROOT, SAMPLE_SITEURL_PROD, build, html_files, parse_html
from pagetypes import indexed_copy, page_files
from sitecheck import broken_css_references, broken_references, references, resolve
from statichost import StaticHost

SUBFOLDER = "some/folder"
# The production addresses publishconf.py names when no environment says
# otherwise: a preview must name neither.
LIVE = (SAMPLE_SITEURL_PROD, "https://comments.lab.example.org")
# Where the preview's few absolute URLs point (previewconf.py's default).
PREVIEW_SITEURL = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def served_preview(tmp_path_factory):
    """The sample's preview build at /some/folder/ of a 127.0.0.1 server."""
    root = tmp_path_factory.mktemp("preview")
    with pytest.MonkeyPatch.context() as env:
        for name in ("SITEURL", "PREVIEW_SITEURL", "LAB_COMMENTS_ENDPOINT"):
            env.delenv(name, raising=False)
        handler = build("previewconf.py", root / "built")
    assert handler.messages() == []
    served = root / "served"
    site = indexed_copy(root / "built", served / SUBFOLDER)
    page_files(site)
    with StaticHost() as host:
        host.serve(served)
        yield site, f"{host.origin}/{SUBFOLDER}"


def fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_preview_settings_are_the_production_ones_with_relative_links():
    from pelican.settings import read_settings

    prod = read_settings(str(ROOT / "publishconf.py"))
    preview = read_settings(str(ROOT / "previewconf.py"))
    assert preview["RELATIVE_URLS"] is True and prod["RELATIVE_URLS"] is False
    assert preview["SITEURL"] == PREVIEW_SITEURL
    assert preview["LAB_COMMENTS_ENDPOINT"].startswith("http://127.0.0.1:")
    same = {"PLUGINS", "THEME", "DELETE_OUTPUT_DIRECTORY", "ARTICLE_URL"}
    assert {k: preview[k] for k in same} == {k: prod[k] for k in same}


def test_every_link_and_asset_resolves_from_a_subfolder(served_preview):
    site, base = served_preview
    assert broken_references(site, base) == []
    assert broken_css_references(site) == []


def test_pages_link_relatively(served_preview):
    """Links, feeds, images, scripts and stylesheets are named relatively;
    only the metadata that must be absolute (canonical, Open Graph, JSON-LD)
    names the local address."""
    site, _ = served_preview
    absolute = [
        f"{page.relative_to(site)}: <{ref.element} {ref.attribute}={ref.url!r}>"
        for page in html_files(site)
        for ref in references(site, page)
        if ref.url.startswith(PREVIEW_SITEURL)
        and not (ref.element == "link" and ref.url == canonical(page))
    ]
    assert absolute == []


def canonical(page: Path) -> str | None:
    links = parse_html(page).iter("link")
    return next((n.get("href") for n in links if n.get("rel") == "canonical"), None)


def test_every_internal_address_answers_from_the_server(served_preview):
    """Each page, stylesheet, script, image and feed the pages name, fetched
    from the sub-folder: a link that climbs out of it would answer 404."""
    site, base = served_preview
    urls = set()
    for page in html_files(site):
        for ref in references(site, page):
            kind, _, _ = resolve(site, page, ref.url, base)
            if kind == "internal":
                page_url = f"{base}/{page.relative_to(site).as_posix()}"
                urls.add(urljoin(page_url, ref.url).partition("#")[0])
    assert len(urls) > 50
    assert any(urlsplit(u).path.endswith(".css") for u in urls)
    assert any(".atom.xml" in u for u in urls)
    failing = sorted(u for u in urls if fetch_status(u) != 200)
    assert failing == []


def test_search_finds_pagefind_under_the_subfolder(served_preview):
    site, base = served_preview
    tree = parse_html(site / "search" / "index.html")
    [root] = [n for n in tree.iter("div") if n.get("data-pagefind-src")]
    page_url = f"{base}/search/"
    script = urljoin(page_url, root.get("data-pagefind-src"))
    assert script == f"{base}/pagefind/pagefind.js"
    assert urljoin(page_url, root.get("data-site-root")) == f"{base}/"
    assert fetch_status(script) == 200


def test_card_images_named_by_pages_are_in_the_preview(served_preview):
    """Open Graph needs absolute image URLs: they name the preview's local
    address, and the file is in the preview at that path."""
    site, _ = served_preview
    images = set()
    for page in html_files(site):
        for meta in parse_html(page).iter("meta"):
            if meta.get("property") == "og:image":
                images.add(meta.get("content"))
    assert images
    for image in images:
        assert image.startswith(PREVIEW_SITEURL + "/"), image
        assert (site / image.removeprefix(PREVIEW_SITEURL + "/")).is_file(), image


def test_nothing_names_the_live_site(served_preview):
    site, _ = served_preview
    naming = [
        f"{path.relative_to(site)}: {live}"
        for path in sorted(site.rglob("*"))
        if path.is_file() and path.suffix in {".html", ".xml", ".json", ".txt", ".ics"}
        for live in LIVE
        if live in path.read_text(encoding="utf-8")
    ]
    assert naming == []


def open_in_chromium(browser, url: str, **options):
    """A page opened at `url`, with what failed to load and what the console
    said as errors."""
    context = browser.new_context(**options)
    page = context.new_page()
    failed, errors = [], []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else 0,
    )
    page.goto(url)
    return context, page, failed, errors


STYLED = "(() => { const l = document.querySelector('link[rel=stylesheet]');" \
    " return !!(l && l.sheet) })()"  # fmt: skip
IMAGES = "[...document.images].every(i => i.complete && i.naturalWidth > 0)"


@pytest.mark.gates
def test_a_browser_reads_the_preview_from_a_subfolder(served_preview, browser):
    """A post with comments and the search page in Chromium, from the
    sub-folder: styled, every image drawn, nothing fails to load or logs an
    error; the search runs its query through Pagefind's index under the
    sub-folder and its results link into the sub-folder."""
    _, base = served_preview
    post = f"{base}/updates/2025/first-challenge/"
    context, page, failed, errors = open_in_chromium(browser, post)
    try:
        page.wait_for_load_state("networkidle")
        assert page.evaluate(STYLED) and page.evaluate(IMAGES)
        page.goto(f"{base}/search/?q=peer+support")
        page.locator("[data-lab-search-status]", has_text="result").wait_for(
            timeout=15_000
        )
        links = page.eval_on_selector_all(
            ".lab-search__result-link", "links => links.map(a => a.href)"
        )
        assert links and all(link.startswith(f"{base}/") for link in links)
        assert (failed, errors) == ([], [])
    finally:
        context.close()


@pytest.mark.gates
def test_a_browser_reads_the_preview_from_the_disk(served_preview, browser):
    """From file:// (the preview unzipped and opened): pages are styled and
    their images drawn. Scripts need a server (README says so): Chromium
    refuses module scripts from file://, so search and the comment form's
    enhancements wait for `python3 -m http.server`."""
    site, _ = served_preview
    for name in ("index.html", "updates/2025/first-challenge/index.html"):
        context, page, _, _ = open_in_chromium(browser, (site / name).as_uri())
        try:
            page.wait_for_load_state("load")
            assert page.evaluate(STYLED), name
            assert page.evaluate(IMAGES), name
        finally:
            context.close()


def test_make_preview_builds_into_preview(make_repo, tmp_path):
    from conftest import SAMPLE

    repo, make = make_repo(SAMPLE)
    result = make("preview", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    preview = repo / "preview"
    assert not (repo / "output").exists()
    assert (preview / "pagefind" / "pagefind.js").is_file()
    tree = parse_html(preview / "about" / "index.html")
    sheets = [n.get("href") for n in tree.iter("link") if n.get("rel") == "stylesheet"]
    assert sheets and all(href.startswith("../theme/css/") for href in sheets)


def test_ci_preview_lists_the_pages_a_commit_changes(make_repo, tmp_path):
    """.ci/preview in a git repository of two commits: the second edits a
    post and adds one. Both are built as previews (the base in a worktree);
    the run summary lists the edited post as changed and the new one as added,
    and changed-pages.txt names both; a page neither touches is not listed."""
    import shutil
    import subprocess
    import sys

    from conftest import SAMPLE

    repo, _ = make_repo(SAMPLE)
    (repo / ".ci").mkdir()
    shutil.copy2(ROOT / ".ci" / "preview", repo / ".ci" / "preview")
    (repo / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "previewdiff.py", repo / "tests" / "previewdiff.py")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SOURCE_DATE_EPOCH": "1764244800",
        "BIN": str(Path(sys.executable).parent),
        # The tests' Python environment stands for .venv (never installed).
        "MAKEFLAGS": "-o .venv/.installed-from-requirements",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, timeout=60,
                       capture_output=True)  # fmt: skip

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "base")
    post = repo / "content" / "posts" / "2025-01-20-what-is-a-lab.md"
    post.write_text(post.read_text() + "\nOne more sentence for reviewers.\n")
    new = repo / "content" / "posts" / "2025-11-20-a-new-post.md"
    new.write_text(
        "---\ntitle: A new post\ndate: 2025-11-20T10:00:00+00:00\n"
        "category: Learning\nauthors: [priya-nair]\nsummary: New.\n"
        "slug: a-new-post\n---\n\nNew.\n"
    )
    git("add", "-A")
    git("commit", "-qm", "head")
    result = subprocess.run(
        ["bash", ".ci/preview"], cwd=repo, env=env, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "**Added" in summary, summary
    changed = summary.split("**Changed")[1].split("**Added")[0]
    added = summary.split("**Added")[1]
    assert "- `updates/2025/what-is-a-lab/`" in changed
    assert "- `updates/2025/a-new-post/`" in added
    assert "`about/`" not in summary
    assert "stylesheet" not in summary
    pages = (repo / "changed-pages.txt").read_text().splitlines()
    assert "updates/2025/what-is-a-lab/index.html" in pages
    assert "updates/2025/a-new-post/index.html" in pages
    assert (repo / "preview" / "updates/2025/a-new-post/index.html").is_file()
    assert not (repo / "preview-base" / "updates/2025/a-new-post").exists()
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=repo, env=env, capture_output=True,
        text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert len(worktrees.splitlines()) == 1  # the base's worktree is gone
