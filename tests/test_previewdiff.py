"""tests/previewdiff.py: the pages a pull request changes, from two built
trees (synthetic ones here, written into tmp)."""

from __future__ import annotations

from pathlib import Path

import pytest
from previewdiff import (
    MAX_LISTED,
    compare,
    diff_sites,
    main,
    markdown,
    page_address,
    unhashed,
)

CSS_A = "theme/css/main.1a2b3c4d5e.css"
CSS_B = "theme/css/main.9f8e7d6c5b.css"


def page(body: str, css: str = CSS_A) -> bytes:
    return (
        f'<!doctype html><html><head><link rel="stylesheet" href="../{css}">'
        f"</head><body>{body}</body></html>"
    ).encode()


def site(pages: dict[str, str], css: str = CSS_A, sheet: str = "a{}", **extra):
    files = {path: page(body, css) for path, body in pages.items()}
    files[css] = sheet.encode()
    files.update({k.replace("__", "/"): v.encode() for k, v in extra.items()})
    return files


def write(root: Path, files: dict[str, bytes]) -> Path:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("main.1a2b3c4d5e.css", "main.css"),
        ("search.ffafeff4e1.js", "search.js"),
        ("a.b.0123abcd.js", "a.b.js"),
        ("main.css", None),
        ("main.1a2b.css", None),  # too short to be a hash
        ("main.notahash1.css", None),
        ("2025.01234567.html", "2025.html"),
        ("index.html", None),
    ],
)
def test_unhashed_names(name, plain):
    assert unhashed(name) == plain


@pytest.mark.parametrize(
    ("path", "address"),
    [
        ("index.html", "/"),
        ("updates/2025/x/index.html", "updates/2025/x/"),
        ("404.html", "404.html"),
    ],
)
def test_page_address(path, address):
    assert page_address(path) == address


def test_identical_sites_change_nothing():
    base = site({"index.html": "home", "about/index.html": "about"})
    diff = compare(base, dict(base))
    assert (diff.changed, diff.added, diff.removed, diff.bundles, diff.other) == (
        [],
        [],
        [],
        [],
        [],
    )
    assert "No page or file of the site changes." in markdown(diff)


def test_changed_added_and_removed_pages_are_told_apart():
    base = site({"index.html": "home", "a/index.html": "a", "b/index.html": "b"})
    head = site({"index.html": "home", "a/index.html": "A!", "c/index.html": "c"})
    diff = compare(base, head)
    assert diff.changed == ["a/index.html"]
    assert diff.added == ["c/index.html"]
    assert diff.removed == ["b/index.html"]
    assert diff.pages == ["a/index.html", "c/index.html"]
    assert diff.bundles == []
    text = markdown(diff)
    assert "**Changed (1)**" in text and "- `a/` (a/index.html)" in text
    assert "**Added (1)**" in text and "- `c/` (c/index.html)" in text
    assert "**Removed (1)**" in text and "- `b/` (b/index.html)" in text


def test_a_new_stylesheet_is_one_line_not_every_page():
    """The bundle's new hash changes every page's <link>: that alone is no
    change to any page, and the stylesheet is named once."""
    pages = {f"p{n}/index.html": f"page {n}" for n in range(60)}
    base = site(pages, CSS_A, "a{color:red}")
    head = site(pages, CSS_B, "a{color:blue}")
    head["p7/index.html"] = page("page 7, edited", CSS_B)
    diff = compare(base, head)
    assert diff.bundles == ["theme/css/main.css"]
    assert diff.changed == ["p7/index.html"]
    assert diff.added == diff.removed == diff.other == []
    text = markdown(diff, ["theme/css/main.css"], ["theme/css/main.css"])
    assert "The stylesheet `theme/css/main.css` changed: every page" in text
    assert text.count("\n- `") == 1  # one page listed: p7


def test_files_that_are_not_pages_are_listed_apart():
    base = site({"index.html": "home"})
    head = site({"index.html": "home"}, extra__x="new")
    diff = compare(base, head)
    assert diff.changed == [] and diff.bundles == []
    assert diff.other == ["extra/x"]
    assert "Other files that change: 1" in markdown(diff)


def test_a_new_script_bundle_is_named_as_new():
    base = site({"index.html": "home"})
    head = site({"index.html": "home"})
    head["theme/js/post.0123456789.js"] = b"x"
    diff = compare(base, head)
    assert diff.bundles == ["theme/js/post.js"]
    text = markdown(
        diff, ["theme/css/main.css"], ["theme/css/main.css", "theme/js/post.js"]
    )
    assert "The script `theme/js/post.js` is new" in text
    assert "No page's own content changes." in text


def test_long_lists_are_cut():
    base = site({})
    head = site({f"p{n}/index.html": "x" for n in range(MAX_LISTED + 5)})
    text = markdown(compare(base, head))
    assert f"**Added ({MAX_LISTED + 5})**" in text
    assert text.count("\n- `") == MAX_LISTED
    assert "- ... and 5 more" in text


def test_pagefind_index_is_left_out(tmp_path):
    base = write(tmp_path / "base", site({"index.html": "home"}))
    head = write(tmp_path / "head", site({"index.html": "home"}))
    write(head, {"pagefind/fragment/en_1234abcd.pf_fragment": b"new"})
    diff, _ = diff_sites(base, head)
    assert diff.other == [] and diff.bundles == []


def test_command_writes_the_summary_and_the_page_list(tmp_path, capsys):
    base = write(tmp_path / "base", site({"index.html": "home", "a/index.html": "a"}))
    head = write(
        tmp_path / "head",
        site({"index.html": "home!", "a/index.html": "a", "n/index.html": "n"}),
    )
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    pages = tmp_path / "pages.txt"
    assert (
        main([str(base), str(head), "--summary", str(summary), "--pages", str(pages)])
        == 0
    )
    assert pages.read_text().splitlines() == ["index.html", "n/index.html"]
    written = summary.read_text()
    assert written.startswith("earlier step\n### Pages this pull request changes")
    assert "- `/` (index.html)" in written
    assert "- `/` (index.html)" in capsys.readouterr().out
