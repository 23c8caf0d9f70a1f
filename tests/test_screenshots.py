"""tests/screenshots.py, make check's pictures for reviewers: which pages it
takes (units, on synthetic trees), and the files it writes for the sample's
production build (a gate: needs Debian's chromium and playwright)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
import screenshots
from pagetypes import PAGE_TYPES
from screenshots import HEIGHT, MAX_CHANGED, WIDTHS, file_name, find_type, plan, slug


def tree(root: Path, *pages: str) -> Path:
    for page in pages:
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        (root / page).write_text("<!doctype html><title>x</title>")
    return root


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("index.html", "home"),
        ("404.html", "404"),
        ("updates/2025/x/index.html", "updates-2025-x"),
        ("post with comments", "post-with-comments"),
    ],
)
def test_slug(page, expected):
    assert slug(page) == expected


def test_the_sample_paths_come_first(tmp_path):
    site = tree(tmp_path, *PAGE_TYPES.values())
    assert {kind: find_type(site, kind) for kind in PAGE_TYPES} == PAGE_TYPES


def test_another_site_gets_a_page_of_each_type_by_pattern(tmp_path):
    site = tree(
        tmp_path,
        "index.html",
        "updates/2024/a/index.html",
        "updates/2026/b/index.html",
        "updates/2026/b/comments.atom.xml",
        "challenges/index.html",
        "challenges/loneliness/index.html",
        "updates/tag/care/index.html",
        "authors/sam/index.html",
        "privacy/index.html",
    )
    assert find_type(site, "post with comments") == "updates/2026/b/index.html"
    assert find_type(site, "post") == "updates/2024/a/index.html"
    assert find_type(site, "challenge") == "challenges/loneliness/index.html"
    assert find_type(site, "tag") == "updates/tag/care/index.html"
    assert find_type(site, "author") == "authors/sam/index.html"
    assert find_type(site, "page") == "privacy/index.html"  # not a section
    assert find_type(site, "call") is None


def test_plan_takes_types_then_changed_pages_once(tmp_path):
    site = tree(tmp_path, "index.html", "a/index.html", "b/index.html")
    shots, notes = plan(site, ["a/index.html", "/a/index.html", "index.html", "",
                               "gone/index.html", "feeds/all.atom.xml"])  # fmt: skip
    assert [(s.label, s.page) for s in shots] == [
        ("type-home", "index.html"),
        ("type-page", "a/index.html"),  # a/ is the first page of no section
        # a/ is already taken as a type; index.html too
    ]
    assert "gone/index.html: not a page of this site" in notes
    assert "feeds/all.atom.xml: not a page of this site" in notes
    assert any("no page of type 'post'" in note for note in notes)
    shots, _ = plan(site, ["b/index.html"])
    assert shots[-1].label == "page-b" and shots[-1].what == "changed page"


def test_plan_is_bounded(tmp_path):
    pages = [f"p/{n}/index.html" for n in range(MAX_CHANGED + 3)]
    site = tree(tmp_path, "index.html", *pages)
    shots, notes = plan(site, pages)
    assert sum(s.what == "changed page" for s in shots) == MAX_CHANGED
    assert "3 more changed pages not taken" in notes


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


@pytest.mark.gates
def test_screenshots_of_the_sample_production_build(prod_site, tmp_path, monkeypatch):
    """Three page types and a changed page, at both widths with JavaScript on
    and off: one PNG each, as wide as the window, at least a window tall; the
    search page differs without JavaScript (it says search needs it)."""
    site, _ = prod_site
    kinds = ("home", "search", "post with comments")
    monkeypatch.setattr(screenshots, "PAGE_TYPES", {k: PAGE_TYPES[k] for k in kinds})
    listed = tmp_path / "changed.txt"
    listed.write_text("updates/2026/looking-ahead/index.html\nno/such/index.html\n")
    monkeypatch.setenv("LAB_CHANGED_PAGES", str(listed))
    out = tmp_path / "shots"
    (out).mkdir()
    (out / "type-stale--320px-js.png").write_bytes(b"old")
    started = time.monotonic()
    assert screenshots.main(["--site", str(site), "--out", str(out)]) == 0
    assert time.monotonic() - started < 120
    labels = [f"type-{slug(k)}" for k in kinds] + ["page-updates-2026-looking-ahead"]
    expected = {
        file_name(screenshots.Shot(label, "", ""), width, js)
        for label in labels
        for width in WIDTHS
        for js in (True, False)
    }
    assert {p.name for p in out.glob("*.png")} == expected
    for name in expected:
        width, height = png_size(out / name)
        assert width == int(name.split("--")[1].split("px")[0]), name
        assert height >= HEIGHT, name
    for width in WIDTHS:
        on = (out / f"type-search--{width}px-js.png").read_bytes()
        off = (out / f"type-search--{width}px-nojs.png").read_bytes()
        assert on != off
    index = (out / "index.md").read_text()
    assert "| page-updates-2026-looking-ahead--* | changed page |" in index
    assert "no/such/index.html: not a page of this site" in index
