"""lab_comments.render's comment feed: the Atom that lxml builds, checked
against feedgen (which built these feeds before, and still builds lab_feeds')
as the oracle; and the feed as a key (plain values, a stable digest that
changes with anything the bytes are made from)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from feedcheck import check_atom
from feedgen.feed import FeedGenerator
from lxml import etree

from lab_comments.render import (
    BodyRenderer,
    Comment,
    CommentFeed,
    FeedEntry,
    build_comments,
    comments_feed,
    flatten,
    thread,
)
from lab_common import absolutise_html
from lab_common.fingerprint import digest

POST_URL = "https://lab.example.org/updates/2025/p/"
FEED_URL = POST_URL + "comments.atom.xml"
# feedgen names itself in every feed; our feeds need no <generator>.
GENERATOR = re.compile(rb"\n *<generator [^>]*>python-feedgen</generator>")


def feedgen_feed(*, post_title, post_url, feed_url, comments, language, site_name):
    """The comment feed as render.comments_feed built it with feedgen."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(f"Comments on \u201c{post_title}\u201d \u2013 {site_name}")
    feed.link(href=feed_url, rel="self", type="application/atom+xml")
    feed.link(href=post_url, rel="alternate", type="text/html")
    feed.language(language)
    feed.updated(max(c.date for c in comments))
    for comment in sorted(comments, key=lambda c: (c.date, c.id), reverse=True):
        permalink = f"{post_url}#{comment.anchor}"
        entry = feed.add_entry(order="append")
        entry.id(permalink)
        entry.title(f"Comment by {comment.name}")
        entry.link(href=permalink, rel="alternate", type="text/html")
        author = {"name": comment.name}
        if comment.website:
            author["uri"] = comment.website
        entry.author(author)
        entry.published(comment.date)
        entry.updated(comment.date)
        entry.content(absolutise_html(comment.body_html, post_url), type="html")
    return feed.atom_str(pretty=True)


def record(cid, day, body, **extra):
    return {
        "id": cid,
        "post": "p",
        "name": extra.pop("name", cid.upper()),
        "date": dt.datetime(2025, 1, day, 9, 30, 15, tzinfo=dt.UTC),
        "body": body,
        **extra,
    }


HOSTILE = [
    record("a", 1, "Plain words.", name="Ann & <b>Co</b> \"quoted\" 'too'"),
    record("b", 2, "[a link](https://example.org/?a=1&b=<2>) and <script>x</script>",
           website="https://bo.example/?x=1&y=\"2\"", reply_to="a"),
    record("c", 2, "Relative [links](/inside) and [fragments](#x) are dropped; "
           "`<code>` & &amp; &lt;stay&gt; text.\n\nA second paragraph\nwith a break.",
           name="Çé 名前 \U0001f600"),
    record("d", 3, "]]> <![CDATA[ x ]]> &#0; &#x1F600; \\<b\\>", name="D ]]>"),
    record("e", 3, "> quoted\n\n- one\n- two\n\n1. first", reply_to="d",
           staff=True),
]  # fmt: skip


def threaded(records, zone="Europe/London"):
    top, problems = thread(build_comments(records, zone, BodyRenderer()), 3)
    assert problems == []
    return flatten(top)


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "Asia/Kolkata"])
@pytest.mark.parametrize(
    ("title", "language", "site"),
    [
        ("A post", "en-GB", "The Lab"),
        ("Tom & Jerry <live> \u201cquoted\u201d", "cy", "Lab & <Co>"),
    ],
)
def test_the_feed_is_the_document_feedgen_made_without_its_generator(
    zone, title, language, site, tmp_path
):
    comments = threaded(HOSTILE, zone)
    arguments = {
        "post_title": title,
        "post_url": POST_URL,
        "feed_url": FEED_URL,
        "comments": comments,
        "language": language,
        "site_name": site,
    }
    ours = comments_feed(**arguments).atom()
    theirs = feedgen_feed(**arguments)
    assert GENERATOR.search(theirs)
    assert ours == GENERATOR.sub(b"", theirs)
    path = tmp_path / "comments.atom.xml"
    path.write_bytes(ours)
    assert check_atom(path) == []


def test_the_feed_reads_back_as_the_comments_say():
    comments = threaded(HOSTILE)
    feed = comments_feed(
        post_title="A post",
        post_url=POST_URL,
        feed_url=FEED_URL,
        comments=comments,
        language="en-GB",
        site_name="The Lab",
    )
    atom = "{http://www.w3.org/2005/Atom}"
    root = etree.fromstring(feed.atom())
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
    assert root.findtext(f"{atom}updated") == "2025-01-03T09:30:15+00:00"
    entries = root.findall(f"{atom}entry")
    assert [e.findtext(f"{atom}author/{atom}name") for e in entries] == [
        "E", "D ]]>", "Çé 名前 \U0001f600", "B", "Ann & <b>Co</b> \"quoted\" 'too'",
    ]  # fmt: skip
    by_name = {e.findtext(f"{atom}author/{atom}name"): e for e in entries}
    assert by_name["B"].findtext(f"{atom}author/{atom}uri") == (
        'https://bo.example/?x=1&y="2"'
    )
    content = by_name["B"].find(f"{atom}content")
    assert content.get("type") == "html"
    assert "<script" not in content.text and "&lt;script&gt;" in content.text
    link = by_name["B"].find(f"{atom}link")
    assert link.attrib == {"href": POST_URL + "#comment-b"}


def test_a_character_xml_cannot_hold_is_refused_as_feedgen_refused_it():
    (comment,) = threaded([record("a", 1, "Hi.")])
    arguments = {"post_url": POST_URL, "feed_url": FEED_URL, "comments": [comment],
                 "language": "en", "site_name": "Lab"}  # fmt: skip
    with pytest.raises(ValueError):
        feedgen_feed(post_title="Bad \x01", **arguments)
    with pytest.raises(ValueError):
        comments_feed(post_title="Bad \x01", **arguments).atom()


def test_a_feed_needs_comments_with_zone_aware_dates():
    naive = Comment(id="a", post="p", name="A", body_html="<p>x</p>",
                    date=dt.datetime(2025, 1, 1), anchor="comment-a")  # fmt: skip
    with pytest.raises(ValueError, match="no time zone"):
        comments_feed(post_title="P", post_url=POST_URL, feed_url=FEED_URL,
                      comments=[naive], language="en", site_name="Lab")  # fmt: skip


# -- the feed as a key


def feed_of(records, **changes) -> CommentFeed:
    arguments = {"post_title": "A post", "post_url": POST_URL, "feed_url": FEED_URL,
                 "language": "en-GB", "site_name": "The Lab", **changes}  # fmt: skip
    return comments_feed(comments=threaded(records), **arguments)


def test_the_key_is_plain_values_with_a_stable_digest():
    one, two = feed_of(HOSTILE), feed_of(HOSTILE)
    assert one == two and digest(one) == digest(two)
    # No Comment objects (whose parent and reply links make cycles): only
    # strings, dates and None, in frozen dataclasses and tuples.
    for entry in one.entries:
        assert type(entry) is FeedEntry
        for value in dataclasses.astuple(entry):
            assert value is None or isinstance(value, str | dt.datetime)
    assert isinstance(one.entries, tuple)


@pytest.mark.parametrize(
    "change",
    [
        {"post_title": "Another title"},
        {"post_url": POST_URL + "x/"},
        {"feed_url": FEED_URL + "?"},
        {"language": "cy"},
        {"site_name": "Another Lab"},
    ],
)
def test_the_key_changes_with_what_the_feed_says_of_its_post(change):
    assert digest(feed_of(HOSTILE, **change)) != digest(feed_of(HOSTILE))


@pytest.mark.parametrize(
    "change",
    [
        {"body": "Another body."},
        {"name": "Another name"},
        {"website": "https://other.example/"},
        {"date": dt.datetime(2025, 1, 1, 9, 30, 16, tzinfo=dt.UTC)},
        {"id": "z"},
    ],
)
def test_the_key_changes_with_any_comment(change):
    changed = [{**HOSTILE[0], **change}, *HOSTILE[1:]]
    if "id" in change:
        changed[1] = {**changed[1], "reply_to": "z"}
    assert digest(feed_of(changed)) != digest(feed_of(HOSTILE))


def test_the_key_does_not_change_with_the_thread_only():
    """The feed lists comments newest first, whoever they answer: a reply
    that becomes a top-level comment changes the page, not the feed."""
    flat = [{k: v for k, v in r.items() if k != "reply_to"} for r in HOSTILE]
    assert feed_of(flat) == feed_of(HOSTILE)
    assert feed_of(flat).atom() == feed_of(HOSTILE).atom()
