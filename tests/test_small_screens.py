"""Issue 14, "Small screens" and "Search that works", in the markup of the
built sample site (read with html5lib; the browser gates in
test_small_screens_browser.py and test_search_browser.py check the layout)."""

from __future__ import annotations

import re
from collections import Counter

from conftest import parse_html, site_pages


def classes(node) -> list[str]:
    return (node.get("class") or "").split()


def with_class(tree, name: str) -> list:
    return [node for node in tree.iter() if name in classes(node)]


def test_every_page_writes_the_navigation_once_inside_the_menu(dev_site):
    """The nav and the search box, written once, inside a closed "Menu"
    <details> (the stylesheet lays it out open on wide screens); the current
    section marked; no id written twice."""
    output, _ = dev_site
    # The pages at old addresses (lab_redirects) have no header: they send
    # readers on at once.
    for page in site_pages(output):
        tree = parse_html(page)
        header = next(tree.iter("header"))
        (menu,) = with_class(header, "lab-header__menu")
        assert menu.tag == "details" and menu.get("open") is None, page
        summary = menu[0]
        assert summary.tag == "summary" and summary.text == "Menu", page
        assert len(list(header.iter("nav"))) == 1, page
        assert [f.get("role") for f in header.iter("form")] == ["search"], page
        links = [(a.get("href"), a.text) for a in next(menu.iter("nav")).iter("a")]
        assert len(links) == 4, page
        ids = Counter(node.get("id") for node in tree.iter() if node.get("id"))
        assert [i for i, n in ids.items() if n > 1] == [], page


def test_feeds_are_listed_title_first_then_their_formats(dev_site):
    """No text of a feed's row stands outside a link, so no comma or colon can
    start a line when the row wraps; the formats are a list of links."""
    output, _ = dev_site
    tree = parse_html(output / "feeds/index.html")
    rows = with_class(tree, "lab-feed-list__item")
    assert len(rows) > 5
    for row in rows:
        title, formats = list(row)
        assert title.tag == "a" and title.text.strip()
        assert formats.tag == "ul"
        names = [li[0].text for li in formats]
        assert names[:2] == ["RSS", "Atom"] and set(names) <= {
            "RSS",
            "Atom",
            "JSON Feed",
        }
        loose = [row.text, title.tail, formats.tail] + [li.tail for li in formats]
        loose += [li.text for li in formats] + [li[0].tail for li in formats]
        assert all(not (text or "").strip() for text in loose), loose


def test_a_post_dates_are_separate_words_for_the_search_index(dev_site):
    """The search index reads the text as written, so the spans of the date
    line need spaces between them even though the layout spaces them out."""
    output, _ = dev_site
    seen = 0
    for page in sorted(output.glob("updates/20*/*/index.html")):
        (dates,) = with_class(parse_html(page), "lab-article__dates")
        text = "".join(dates.itertext())
        for span in list(dates)[1:]:
            seen += 1
            before = text[: text.index("".join(span.itertext()))]
            assert before[-1].isspace(), (page, text)
    assert seen  # some post has a "Last updated" or a reading time


def test_comment_dates_are_dates_and_no_script_rewrites_them(dev_site):
    output, _ = dev_site
    page = output / "updates/2025/first-challenge/index.html"
    times = [
        t
        for meta in with_class(parse_html(page), "lab-comment__meta")
        for t in meta.iter("time")
    ]
    assert times
    for time in times:
        assert re.fullmatch(
            r"\d{1,2} [A-Z][a-z]+ \d{4} at \d{1,2}(:\d\d)?[ap]m", time.text
        )
        assert not [name for name in time.attrib if name.startswith("data-")]
    for script in (output / "theme/js").glob("*.js"):
        code = script.read_text(encoding="utf-8")
        assert "RelativeTimeFormat" not in code, script.name
