"""The theme escapes by default (Jinja autoescape): values with markup in
front matter and in authors.yaml appear as text, never as elements, on every
page that prints them; the HTML that is trusted (a post's body, a comment's
sanitised body, the JSON-LD) is printed as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import build, html_files, parse_html

TITLE = '<script>alert(1)</script> & "quotes"'
TAG = "<b>bold</b> & tag"
AUTHOR = 'Amara <em>Okafor</em> & "Co"'
SUPPORT = "<img src=x onerror=alert(2)> & support"
POST = "posts/2026-11-05-looking-ahead.md"
CALL = "get-involved/test-the-toolkit.md"
POST_PAGE = "updates/2026/looking-ahead/index.html"


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def quoted(value: str) -> str:
    """`value` as a YAML string in double quotes."""
    return json.dumps(value)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    import shutil

    from conftest import SAMPLE

    root = tmp_path_factory.mktemp("escaping")
    content = root / "content"
    shutil.copytree(SAMPLE, content)
    replace(
        content / POST,
        "title: Looking ahead to the end of our first challenge",
        f"title: {quoted(TITLE)}",
    )
    replace(content / POST, "tags: [pilot,", f"tags: [{quoted(TAG)}, pilot,")
    replace(content / "authors.yaml", "name: Amara Okafor", f"name: {quoted(AUTHOR)}")
    replace(
        content / CALL,
        "support: >-\n  We pay small voluntary groups for the time they spend testing. "
        "A member of\n  the Lab team will be on hand to help.",
        f"support: {quoted(SUPPORT)}",
    )
    output = root / "output"
    log = build("publishconf.py", output, path=content)
    assert log.messages() == []
    return output


def texts(tree, tag: str) -> list[str]:
    return ["".join(node.itertext()) for node in tree.iter(tag)]


def test_no_page_has_an_element_from_front_matter(hostile_site):
    pages = html_files(hostile_site)
    assert len(pages) > 40
    for page in pages:
        tree = parse_html(page)
        scripts = [s for s in texts(tree, "script") if "alert" in s]
        assert scripts == [] or all(
            # The JSON-LD holds the title as JSON text, never as a script.
            s.startswith("{")
            for s in scripts
        ), page
        for image in tree.iter("img"):
            assert image.get("onerror") is None, page
        assert "bold" not in texts(tree, "b"), page
        assert "Okafor" not in texts(tree, "em"), page


def test_the_title_is_text_wherever_it_is_printed(hostile_site):
    page = parse_html(hostile_site / POST_PAGE)
    assert texts(page, "h1") == [TITLE]
    # The document title strips tags (a title may hold inline markup): what
    # is left is text, the "&" and quotes included.
    title = "".join(page.find(".//title").itertext())
    assert title == 'alert(1) & "quotes" \u2013 The Improvement Lab'
    assert list(page.find(".//title")) == []
    # In listings too.
    home_links = texts(parse_html(hostile_site / "updates" / "index.html"), "a")
    assert TITLE in home_links


def test_the_json_ld_stays_valid_json_with_the_title(hostile_site):
    page = parse_html(hostile_site / POST_PAGE)
    blocks = [
        json.loads(node.text)
        for node in page.iter("script")
        if node.get("type") == "application/ld+json"
    ]
    assert any(block.get("headline") == TITLE for block in blocks), blocks
    # And the script's own text cannot close the element or open a comment.
    for node in page.iter("script"):
        if node.get("type") == "application/ld+json":
            assert "<" not in node.text and "&" not in node.text


def test_a_tag_name_is_text(hostile_site):
    page = parse_html(hostile_site / POST_PAGE)
    assert TAG in texts(page, "a")
    tags = parse_html(hostile_site / "updates" / "tags" / "index.html")
    assert TAG in texts(tags, "a")


def test_an_author_name_is_text(hostile_site):
    page = parse_html(hostile_site / "authors" / "index.html")
    assert AUTHOR in texts(page, "a")
    post = parse_html(hostile_site / POST_PAGE)
    assert AUTHOR in texts(post, "a")


def test_a_calls_support_text_is_text(hostile_site):
    page = parse_html(hostile_site / "get-involved" / "test-the-toolkit" / "index.html")
    assert SUPPORT in texts(page, "p")
    assert [i for i in page.iter("img") if i.get("src") == "x"] == []


def test_trusted_html_is_printed_as_it_is(hostile_site):
    """The post's body (Markdown made HTML), a comment's sanitised body and
    the card meta built in {% set %} blocks are elements, not text."""
    post = parse_html(hostile_site / POST_PAGE)
    assert "Where we are" in texts(post, "h2")
    assert not any("&lt;" in text or "<p>" in text for text in texts(post, "main"))
    calls = parse_html(hostile_site / "get-involved" / "index.html")
    keys = [
        node.text
        for node in calls.iter("span")
        if node.get("class") == "lab-card__meta-key"
    ]
    assert "What we ask:" in keys
    commented = [
        page
        for page in html_files(hostile_site / "updates")
        if any(
            node.get("class", "").startswith("lab-comment__body")
            for node in parse_html(page).iter("div")
        )
    ]
    assert commented, "no page shows a comment body"
    for page in commented:
        bodies = [
            node
            for node in parse_html(page).iter("div")
            if node.get("class", "").startswith("lab-comment__body")
        ]
        assert all(body.find("p") is not None for body in bodies), page


def test_compiled_templates_are_kept_per_environment_options(tmp_path):
    """Jinja's bytecode cache checks a template's source, not the options it
    was compiled with: a build with autoescape off after one with it on must
    not reuse the escaping code (nor the other way round)."""
    cache = str(tmp_path / "jinja")
    plain = {"autoescape": False, "auto_reload": False}
    build("pelicanconf.py", tmp_path / "escaped", LAB_TEMPLATE_CACHE_PATH=cache)
    build(
        "pelicanconf.py", tmp_path / "after", LAB_TEMPLATE_CACHE_PATH=cache,
        JINJA_ENVIRONMENT=plain,
    )  # fmt: skip
    build(
        "pelicanconf.py", tmp_path / "fresh", LAB_TEMPLATE_CACHE_PATH="",
        JINJA_ENVIRONMENT=plain,
    )  # fmt: skip
    after = {
        p.relative_to(tmp_path / "after"): p.read_bytes()
        for p in html_files(tmp_path / "after")
    }
    fresh = {
        p.relative_to(tmp_path / "fresh"): p.read_bytes()
        for p in html_files(tmp_path / "fresh")
    }
    assert after == fresh
