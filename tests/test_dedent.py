"""The theme's indentation is dropped from the pages (lab_content.dedent) and
nothing a reader sees or a machine reads changes: the same elements, the
same attributes, the same words, and a post's preformatted text to the byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import html5lib
import pytest
from conftest import ROOT, SAMPLE, SAMPLE_SITEURL_PROD, build, html_files, parse_html

from lab_content.dedent import dedent

# A post whose body has text where spaces matter: a code block, and a <pre>
# written in the Markdown as HTML.
CODE_POST = """\
---
title: Spaces that matter
date: 2026-11-20T10:00:00+00:00
authors: [amara-okafor]
category: Announcements
summary: A post whose code keeps its indentation.
---

The counts, as the script printed them:

    def count(rows):
        for row in rows:
            yield row

<pre>
  first
      second
</pre>
"""

EXACT = {"pre", "textarea", "script", "code"}


def signature(path: Path) -> list[tuple]:
    """What a page is to its readers: each element with its attributes, its
    text and its tail with runs of white space made one space, except inside
    the elements where white space is kept, which must match exactly."""
    tree = parse_html(path)
    parents = {child: parent for parent in tree.iter() for child in parent}

    def exact(node) -> bool:
        while node is not None:
            if node.tag in EXACT:
                return True
            node = parents.get(node)
        return False

    def words(text, keep):
        return (text or "") if keep else " ".join((text or "").split())

    return [
        (
            node.tag,
            sorted(node.attrib.items()),
            words(node.text, exact(node)),
            words(node.tail, exact(parents.get(node))),
        )
        for node in tree.iter()
    ]


def test_dedent_removes_what_begins_each_line_and_keeps_the_line_breaks():
    assert dedent("<ul>\n  <li>a</li>\n\t\t<li>b</li>\n</ul>") == (
        "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"
    )
    assert dedent("a \n  b") == "a \nb"  # the break still parts the words
    assert dedent("no indentation") == "no indentation"


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory):
    content = tmp_path_factory.mktemp("dedent") / "content"
    shutil.copytree(SAMPLE, content)
    (content / "posts/2026-11-20-spaces-that-matter.md").write_text(
        CODE_POST, encoding="utf-8"
    )
    outputs = {}
    for name, extensions in (("with", None), ("without", [])):
        output = content.parent / name
        overrides = {"SITEURL": SAMPLE_SITEURL_PROD}
        if extensions is not None:
            overrides["JINJA_ENVIRONMENT"] = {
                "autoescape": True,
                "auto_reload": False,
                "extensions": extensions,
            }
        build("publishconf.py", output, path=content, **overrides)
        outputs[name] = output
    return outputs


def test_the_settings_use_the_extension():
    text = (ROOT / "pelicanconf.py").read_text(encoding="utf-8")
    assert '"lab_content.dedent.Dedent"' in text


def test_every_page_is_the_same_to_its_readers_and_smaller(both_ways):
    with_, without = both_ways["with"], both_ways["without"]
    pages = [p.relative_to(with_) for p in html_files(with_)]
    assert pages == [p.relative_to(without) for p in html_files(without)]
    assert len(pages) > 20
    for page in pages:
        assert signature(with_ / page) == signature(without / page), page
    saved = [(without / p).stat().st_size - (with_ / p).stat().st_size for p in pages]
    assert min(saved) >= 0 and sum(saved) > 10_000, saved


def test_a_posts_preformatted_text_keeps_its_spaces(both_ways):
    page = both_ways["with"] / "updates/2026/spaces-that-matter/index.html"
    blocks = ["".join(pre.itertext()) for pre in parse_html(page).iter("pre")]
    assert any("\n    for row in rows:\n        yield" in block for block in blocks), (
        blocks
    )
    assert any("\n      second\n" in block for block in blocks), blocks


def test_no_template_has_preformatted_text_of_its_own():
    """The extension would take the indentation out of such text: the theme
    must write its <pre> and <textarea> elements empty, filled by values."""
    for template in sorted((ROOT / "theme/templates").rglob("*.html")):
        tree = html5lib.parse(
            template.read_text(encoding="utf-8"),
            treebuilder="etree",
            namespaceHTMLElements=False,
        )
        for node in tree.iter():
            if node.tag in {"pre", "textarea"}:
                own = "".join(node.itertext())
                assert "\n " not in own and "\n\t" not in own, template
