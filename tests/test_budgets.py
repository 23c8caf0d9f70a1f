"""Page budgets (issue 14): every kind of page of the production build of the
sample fixture site within 50 KiB of HTML, CSS and JS, uncompressed (images
and the search index aside); a post with comments within 80 KiB. A failure
prints every kind's figures (tests/pageweight.py; `make weights` prints them
for output/)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import SAMPLE, SAMPLE_SITEURL_PROD, build, parse_html
from pagetypes import PAGE_TYPES
from pageweight import BUDGET, BUDGET_WITH_COMMENTS, heaviest, kind_of, table, weigh

from lab_comments.store import Published

# A reader's comment of the usual length, with a link and some Markdown.
BODY = (
    "Thank you for this. In our group we found that *how* people first hear "
    "about peer support matters as much as where it is: a word from a nurse "
    "or a friend works far better than a leaflet. We wrote up what we tried "
    "[on our site](https://example.org/peer) and would be glad to talk.\n\n"
    "One question: will the next phase include groups outside the NHS?"
)


def test_every_kind_of_page_is_within_its_budget(prod_site):
    output, _ = prod_site
    weights = heaviest(output)
    # Every kind the sample has is weighed (its heaviest page).
    kinds = {kind_of(name) for name in PAGE_TYPES.values()}
    assert kinds <= set(weights) | {"page"}, table(weights)
    assert weights["post with comments"].comments >= 3
    over = {k: w.total for k, w in weights.items() if w.total > w.budget}
    assert over == {}, "\n" + table(weights)


def test_every_budget_holds_with_the_readers_email_features_on(readers_email_site):
    """The reply-email box and the follow forms (both off by default) cost
    bytes on the heaviest pages: they still fit."""
    output = readers_email_site
    post = output / "updates/2025/first-challenge/index.html"
    assert any(node.get("name") == "notify" for node in parse_html(post).iter())
    weights = heaviest(output)
    assert weights["post with comments"].comments >= 3
    over = {k: w.total for k, w in weights.items() if w.total > w.budget}
    assert over == {}, "\n" + table(weights)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_weight_counts_the_html_its_stylesheet_and_scripts(tmp_path):
    """The figures the budgets judge: the HTML, the stylesheets that block
    rendering (not print ones), scripts, whether addressed relatively or
    by the live site's address; a page over its budget is flagged."""
    write(tmp_path / "theme/main.css", "a{}" * 100)
    write(tmp_path / "theme/print.css", "b{}" * 1000)
    write(tmp_path / "theme/site.js", "x();" * 10)
    page = write(
        tmp_path / "updates/2025/a/index.html",
        '<!DOCTYPE html><link rel="stylesheet" href="../../../theme/main.css">'
        '<link rel="stylesheet" media="print" href="/theme/print.css">'
        '<script type="module" src="https://lab.example.org/theme/site.js"></script>'
        + "<p>x</p>"
        * (BUDGET // 8),
    )
    weight = weigh(tmp_path, page)
    assert (weight.css, weight.js) == (300, 40)
    assert weight.html == page.stat().st_size > BUDGET
    assert weight.comments == 0 and weight.budget == BUDGET
    assert "OVER" in table({"post": weight})
    with_comments = write(
        tmp_path / "updates/2025/b/index.html",
        '<ol><li class="lab-comments__item">a</li>'
        '<li class="lab-comments__item">b</li></ol>',
    )
    assert weigh(tmp_path, with_comments).budget == BUDGET_WITH_COMMENTS
    assert heaviest(tmp_path)["post with comments"].comments == 2


def test_a_post_with_20_comments_is_within_80_kib(tmp_path):
    """The sample's post with comments, given 20 in all (threads and
    replies, each of a usual length), as a production build writes it."""
    content = tmp_path / "content"
    shutil.copytree(SAMPLE, content)
    published = Published(content / "comments")
    existing = sorted((content / "comments/first-challenge").glob("*.yaml"))
    parent = None
    for number in range(20 - len(existing)):
        record = {
            "id": f"20250501-1000{number:02d}-{number:06x}",
            "post": "first-challenge",
            "name": f"Reader Number {number}",
            "website": "https://example.org/readers/" + str(number),
            "date": f"2025-05-01T10:00:{number:02d}Z",
            "body": BODY,
        }
        if number % 3 and parent:
            record["reply_to"] = parent  # a reply to the last top-level one
        else:
            parent = record["id"]
        published.write(record)
    output = tmp_path / "out"
    build("publishconf.py", output, path=content, SITEURL=SAMPLE_SITEURL_PROD)
    weight = weigh(output, output / "updates/2025/first-challenge/index.html")
    assert weight.comments == 20
    assert weight.budget == BUDGET_WITH_COMMENTS
    assert weight.total <= BUDGET_WITH_COMMENTS, "\n" + table({"20 comments": weight})
