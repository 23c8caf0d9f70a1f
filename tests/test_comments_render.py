"""lab_comments.render: Markdown through the allow-list, threads, the feed."""

from __future__ import annotations

import datetime as dt

import html5lib
import pytest
from lxml import etree

from lab_comments.render import (
    LINK_REL,
    BodyRenderer,
    Comment,
    build_comments,
    comments_feed,
    count_links,
    flatten,
    render_body,
    thread,
)

ATOM = "{http://www.w3.org/2005/Atom}"


def fragment(html: str):
    return html5lib.parseFragment(
        html, treebuilder="etree", namespaceHTMLElements=False
    )


def elements(html: str) -> list:
    return [e for e in fragment(html).iter() if isinstance(e.tag, str)][1:]


def test_markdown_becomes_a_few_plain_elements():
    html = render_body(
        "Some *emphasis*, **bold** and `code`.\n\n- one\n- two\n\n> quoted\n\n"
        "[a link](https://example.org/x?a=1&b=2)"
    )
    tags = {e.tag for e in elements(html)}
    assert tags == {"p", "em", "strong", "code", "ul", "li", "blockquote", "a"}
    link = next(e for e in elements(html) if e.tag == "a")
    assert link.attrib == {"href": "https://example.org/x?a=1&b=2", "rel": LINK_REL}


@pytest.mark.parametrize(
    ("body", "links"),
    [
        ("[NHS Wales](https://www.example.org/guide) ✓", 1),
        ("See https://www.example.org and www.example.net.", 2),
        ("http://a.example www.b.example mailto:c@example.org", 3),
        ("No address, just words about the web.", 0),
    ],
)
def test_each_address_is_counted_once(body, links):
    # The moderator's "link(s)" flag: "https://www." is one address, not two.
    assert count_links(body) == links


def test_a_line_break_in_a_comment_is_kept():
    assert [e.tag for e in elements(render_body("one\ntwo"))] == ["p", "br"]


@pytest.mark.parametrize(
    "url",
    ["mailto:ada@example.org", "http://example.org/", "https://example.org/"],
)
def test_links_keep_http_https_and_mailto(url):
    links = [e for e in elements(render_body(f"[x]({url})")) if e.tag == "a"]
    assert links[0].get("href") == url
    assert links[0].get("rel") == "nofollow ugc noopener"


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "/updates/",
     "../admin", "vbscript:x", "file:///etc/passwd"],
)  # fmt: skip
def test_other_links_lose_their_address(url):
    for node in elements(render_body(f"[x]({url})")):
        assert node.get("href") is None


def test_raw_html_is_shown_as_text_never_as_markup():
    html = render_body('<script>alert(1)</script>\n\n<b onclick="x()">hi</b>')
    assert {e.tag for e in elements(html)} == {"p"}
    assert "<script>" in "".join(fragment(html).itertext())


def test_no_images_no_headings_no_attribute_lists():
    html = render_body(
        "![alt](https://example.org/x.png)\n\n# Big\n\nTitle\n=====\n\n"
        "para {: onclick=alert(1) }"
    )
    tags = {e.tag for e in elements(html)}
    assert not tags & {"img", "h1", "h2"}
    assert all(set(e.attrib) <= {"href", "rel"} for e in elements(html))


def test_one_renderer_serves_many_bodies_and_forgets_each():
    """The build renders every comment with one renderer (one Markdown parser,
    one cleaner): what one body defines must not reach the next, and the
    result is the same as a fresh renderer's."""
    render = BodyRenderer()
    defines = "[x]: https://evil.example/\n\nSee [x]."
    uses = "See [x] and [here][x]."
    assert [e.get("href") for e in elements(render(defines))] == [
        None,
        "https://evil.example/",
    ]
    assert [e.tag for e in elements(render(uses))] == ["p"]
    for text in (defines, uses, "*a*\n\n- b", "<b>x</b>"):
        assert render(text) == BodyRenderer()(text) == render_body(text)


def test_the_endpoint_threads_each_have_their_own_renderer():
    import threading

    from lab_comments import render as module

    seen = []

    def work():
        render_body("x")
        seen.append(module._PER_THREAD.renderer)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0] is not seen[1]


def test_each_comment_knows_its_anchor():
    (only,) = build_comments([make("a-1", 1)], "UTC", BodyRenderer())
    assert only.anchor == "comment-a-1"
    assert only.body_html == "<p>Comment a-1.</p>"


def make(cid, date, reply_to=None, name=None):
    return {
        "id": cid,
        "post": "p",
        "name": name or cid.upper(),
        "date": dt.datetime(2025, 1, date, tzinfo=dt.UTC),
        "body": f"Comment {cid}.",
        **({"reply_to": reply_to} if reply_to else {}),
    }


def shape(level: list[Comment]) -> list:
    return [(c.id, c.depth, shape(c.replies)) for c in level]


def test_replies_sit_under_their_parent_oldest_first():
    records = [make("c", 3), make("a", 1), make("b", 2, "a"), make("d", 4, "a")]
    top, problems = thread(build_comments(records, "Europe/London"), max_depth=3)
    assert problems == []
    assert shape(top) == [("a", 0, [("b", 1, []), ("d", 1, [])]), ("c", 0, [])]
    assert [c.number for c in flatten(top)] == [1, 2, 4, 3]


def test_replies_deeper_than_the_cap_join_the_last_level_saying_whom_they_answer():
    records = [make("a", 1), make("b", 2, "a"), make("c", 3, "b"), make("d", 4, "c")]
    top, _ = thread(build_comments(records, "UTC"), max_depth=1)
    assert shape(top) == [("a", 0, [("b", 1, []), ("c", 1, []), ("d", 1, [])])]
    by_id = {c.id: c for c in flatten(top)}
    assert by_id["b"].in_reply_to is None
    assert by_id["c"].in_reply_to.id == "b"
    assert by_id["d"].in_reply_to.id == "c"
    flat, _ = thread(build_comments(records, "UTC"), max_depth=0)
    assert shape(flat) == [("a", 0, []), ("b", 0, []), ("c", 0, []), ("d", 0, [])]


def test_a_missing_parent_and_a_loop_are_problems_not_crashes():
    records = [make("a", 1, "nobody"), make("b", 2, "c"), make("c", 3, "b")]
    top, problems = thread(build_comments(records, "UTC"), max_depth=3)
    assert top == []
    assert sorted(problems) == [
        ("a", "reply_to: there is no comment 'nobody' on this post"),
        ("b", "reply_to: replies form a loop"),
        ("c", "reply_to: replies form a loop"),
    ]


def test_a_long_chain_of_replies_does_not_exhaust_the_stack():
    records = [make("c0", 1)]
    for n in range(1, 3000):
        records.append({**make(f"c{n}", 1, f"c{n - 1}"), "date": records[0]["date"]
                        + dt.timedelta(seconds=n)})  # fmt: skip
    top, problems = thread(build_comments(records, "UTC"), max_depth=3)
    assert problems == [] and len(flatten(top)) == 3000


def test_dates_are_shown_in_the_site_zone():
    (only,) = build_comments([make("a", 1)], "Europe/London")
    assert only.date.isoformat() == "2025-01-01T00:00:00+00:00"
    summer = {**make("b", 1), "date": dt.datetime(2025, 7, 1, 12, tzinfo=dt.UTC)}
    assert build_comments([summer], "Europe/London")[0].iso_date.endswith("+01:00")


def feed_bytes(comments) -> bytes:
    return comments_feed(
        post_title="A post",
        post_url="https://lab.example.org/updates/2025/p/",
        feed_url="https://lab.example.org/updates/2025/p/comments.atom.xml",
        comments=comments,
        language="en-GB",
        site_name="The Lab",
    ).atom()


def test_the_feed_is_the_same_for_the_same_comments_and_dated_by_the_newest():
    records = [make("a", 1), make("b", 5, "a", name="Bo <b>")]
    first = feed_bytes(flatten(thread(build_comments(records, "UTC"), 3)[0]))
    second = feed_bytes(flatten(thread(build_comments(records, "UTC"), 3)[0]))
    assert first == second
    root = etree.fromstring(first)
    assert root.findtext(f"{ATOM}updated") == "2025-01-05T00:00:00+00:00"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Comment by Bo <b>",
        "Comment by A",
    ]
    hrefs = [link.get("href") for link in root.iter(f"{ATOM}link")]
    assert hrefs and all(h.startswith("https://lab.example.org/") for h in hrefs)
    assert entries[0].findtext(f"{ATOM}id").endswith("#comment-b")
    content = entries[0].find(f"{ATOM}content")
    assert content.get("type") == "html" and "<p>Comment b.</p>" in content.text


def test_there_is_no_feed_without_comments():
    with pytest.raises(ValueError, match="at least one comment"):
        feed_bytes([])
