"""Big threads: a post's comments over pages of their own, so that neither the
post's page nor its comment feed grows with the number of comments.

Fixture sites get hundreds or thousands of generated comments (threads of one
to a few, chains of replies deeper than the nesting cap, one thread longer
than a page), built for real and read back with html5lib. Every link is
followed from the page it is on to the file it names."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest
from commentkit import (
    SECRET,
    build_fixture,
    call,
    comment,
    comment_page_files,
    fixture_site,
    form_fields,
)
from conftest import SAMPLE_SITEURL_DEV, parse_html
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from rebuildkit import SAME, Site, tree
from siterules import RULES, Built, all_problems

from lab_comments.endpoint import CommentsApp, Config
from lab_comments.render import (
    BodyRenderer,
    build_comments,
    flatten,
    page_threads,
    paginate,
    thread,
)
from lab_comments.settings import DEFAULTS, SettingsError, comment_settings
from lab_content.generator import ContentValidationError

POST_DIR = "updates/2025/a-published-post"
POST = f"{POST_DIR}/index.html"
FEED = f"{POST_DIR}/comments.atom.xml"
POST_URL = f"{SAMPLE_SITEURL_DEV}/{POST_DIR}/"
ATOM = "{http://www.w3.org/2005/Atom}"
PER_PAGE = DEFAULTS["LAB_COMMENTS_PER_PAGE"]
FEED_MAX = DEFAULTS["LAB_COMMENTS_FEED_MAX"]
LONG = 45  # the comments of the one thread longer than a page


# -- generated threads


def generated(count: int, long_thread: int = 0, seed: int = 15) -> list[dict]:
    """`count` comments on the fixture post: threads of one to eight (each
    reply to a random earlier comment of its thread, or to the last one, so
    that some chains go deeper than the nesting cap), one of `long_thread`
    comments, their comments interleaved in time as readers write them, one
    a minute. Ids sort as the dates do."""
    rng = random.Random(seed)  # noqa: S311 - made-up comments, not secrets
    sizes: list[int] = []
    while sum(sizes) + long_thread < count:
        left = count - long_thread - sum(sizes)
        sizes.append(min(rng.choice([1, 1, 1, 2, 2, 3, 5, 8]), left))
    if long_thread:
        sizes.insert(len(sizes) // 3, long_thread)
    # Each thread's comments as (its index in the thread, the index it answers).
    threads = []
    for size in sizes:
        shape = [(0, None)]
        for k in range(1, size):
            parent = k - 1 if rng.random() < 0.5 else rng.randrange(k)
            shape.append((k, parent))
        threads.append(shape)
    # Interleave: the next comment comes from one of a few threads under way.
    start = dt.datetime(2025, 5, 2, 9, 0, tzinfo=dt.UTC)
    records: list[dict] = []
    ids: dict[tuple[int, int], str] = {}
    waiting = list(range(len(threads)))
    done = [0] * len(threads)
    while waiting:
        t = rng.choice(waiting[:4])
        k, parent = threads[t][done[t]]
        done[t] += 1
        if done[t] == len(threads[t]):
            waiting.remove(t)
        n = len(records)
        ids[t, k] = f"c{n:05d}"
        extra = {} if parent is None else {"reply_to": ids[t, parent]}
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(8, 40)))
        records.append(
            comment(
                ids[t, k],
                f"Comment {n}: {words}.",
                name=rng.choice(NAMES),
                date=(start + dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                **extra,
            )
        )
    return records


WORDS = ["care", "ward", "patient", "nurse", "team", "data", "week", "pilot",
         "clinic", "home", "time"]  # fmt: skip
NAMES = ["Ann Lee", "Bo Chen", "Cara Diaz", "Dev Patel", "Eve Ng", "Siân Ŵyn"]


def build_with(folder: Path, records: list[dict], **overrides) -> Path:
    content = fixture_site(folder, records)
    output = folder / "output"
    log = build_fixture(content, output, **overrides)
    assert log.messages() == []
    return output


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return generated(250, long_thread=LONG)


@pytest.fixture(scope="module")
def paged(tmp_path_factory, records) -> Path:
    return build_with(tmp_path_factory.mktemp("paged"), records)


@pytest.fixture(scope="module")
def one_page(tmp_path_factory, records) -> Path:
    """The same comments, all on the post's page."""
    return build_with(
        tmp_path_factory.mktemp("one-page"), records, LAB_COMMENTS_PER_PAGE=10_000
    )


# -- reading the built pages


def pages_of(output: Path) -> dict[int, Path]:
    """The pages of the post's comments by number: the post's page, then
    comments/2/, comments/3/, ... (numbered without gaps)."""
    found = dict(enumerate(comment_page_files(output / POST), start=1))
    assert [page.parent.name for page in list(found.values())[1:]] == [
        str(n) for n in range(2, len(found) + 1)
    ]
    return found


def url_of(output: Path, page: Path) -> str:
    path = page.relative_to(output).as_posix().removesuffix("index.html")
    return f"{SAMPLE_SITEURL_DEV}/{path}"


def file_of(output: Path, url: str) -> tuple[Path, str]:
    """The built file an absolute URL of the site names, and its fragment."""
    address, fragment = urldefrag(url)
    assert address.startswith(SAMPLE_SITEURL_DEV + "/"), url
    path = address.removeprefix(SAMPLE_SITEURL_DEV + "/")
    if path.endswith("/") or not path:
        path += "index.html"
    return output / path, fragment


def comment_ids(page_tree) -> list[str]:
    """The ids of the comments on a page, in reading order."""
    return [
        node.get("id").removeprefix("comment-")
        for node in page_tree.iter("article")
        if "lab-comment" in node.get("class", "").split()
    ]


def thread_roots(records: list[dict]) -> dict[str, str]:
    """Comment id -> the id of the top-level comment of its thread."""
    parent = {r["id"]: r.get("reply_to") for r in records}
    roots = {}
    for cid in parent:
        top = cid
        while parent[top] is not None:
            top = parent[top]
        roots[cid] = top
    return roots


def by_class(page_tree, tag: str, name: str) -> list:
    return [n for n in page_tree.iter(tag) if name in n.get("class", "").split()]


def pages_nav(page_tree):
    (nav,) = [
        n for n in page_tree.iter("nav") if n.get("aria-label") == "Pages of comments"
    ]
    return nav


# -- every comment once, in order, threads whole


def test_every_comment_is_on_exactly_one_page_in_the_reading_order(
    paged, one_page, records
):
    pages = pages_of(paged)
    # 250 comments make at least 13 pages of 20; whole threads leave some
    # pages short, so there may be a few more.
    assert len(pages) >= math.ceil(len(records) / PER_PAGE)
    shown = [cid for n in sorted(pages) for cid in comment_ids(parse_html(pages[n]))]
    assert sorted(shown) == sorted(r["id"] for r in records)
    # The pages, one after another, read as the one page of all of them does.
    assert pages_of(one_page) == {1: one_page / POST}
    assert shown == comment_ids(parse_html(one_page / POST))


def test_no_page_holds_more_than_a_page_and_threads_stay_whole(paged, records):
    roots = thread_roots(records)
    size = {top: list(roots.values()).count(top) for top in set(roots.values())}
    pages_with: dict[str, set[int]] = {}
    pages = pages_of(paged)
    for n, page in pages.items():
        ids = comment_ids(parse_html(page))
        assert 1 <= len(ids) <= PER_PAGE, (n, len(ids))
        for cid in ids:
            pages_with.setdefault(roots[cid], set()).add(n)
    for top, numbers in pages_with.items():
        if size[top] <= PER_PAGE:
            assert len(numbers) == 1, (top, sorted(numbers))
        else:  # only the long thread: a page of its own, then the next ones
            assert size[top] == LONG
            first = min(numbers)
            assert numbers == set(range(first, first + math.ceil(LONG / PER_PAGE)))
    # A page is left short only when the next thread would not have fitted.
    for n in range(1, len(pages)):
        here = comment_ids(parse_html(pages[n]))
        following = comment_ids(parse_html(pages[n + 1]))
        next_thread = size[roots[following[0]]]
        assert len(here) + min(next_thread, PER_PAGE) > PER_PAGE, n


def test_the_rest_of_a_split_thread_says_whom_each_reply_answers(paged, records):
    """On the page where a long thread goes on, a reply whose parent is on an
    earlier page starts the list, with an "In reply to" link to the parent
    on the page that shows it. (So does a reply at the nesting cap whose
    parent's parent is on an earlier page.)"""
    parent = {r["id"]: r.get("reply_to") for r in records}
    continued = 0
    for page in pages_of(paged).values():
        page_tree = parse_html(page)
        on_page = set(comment_ids(page_tree))
        (top_list,) = [
            ol for ol in by_class(page_tree, "ol", "lab-comments__list")
            if "lab-comments__list--replies" not in ol.get("class")
        ]  # fmt: skip
        for item in top_list.findall("li"):
            article = item.find("article")
            cid = article.get("id").removeprefix("comment-")
            if parent[cid] is None:
                continue
            continued += parent[cid] not in on_page
            (note,) = by_class(article, "span", "lab-comment__in-reply-to")
            target, fragment = file_of(
                paged, urljoin(url_of(paged, page), next(note.iter("a")).get("href"))
            )
            assert fragment == f"comment-{parent[cid]}"
            assert parent[cid] in comment_ids(parse_html(target))
    assert continued >= 1


# -- links


def test_every_comment_link_leads_to_the_page_that_shows_it(paged, records):
    """Each comment's own link (its date) and each "In reply to" link: the
    page named holds the comment with that anchor."""
    where: dict[str, Path] = {}
    links: list[tuple[str, str, str]] = []  # (comment id, url, what)
    for page in pages_of(paged).values():
        page_tree = parse_html(page)
        base = url_of(paged, page)
        for cid in comment_ids(page_tree):
            where[cid] = page
        for link in by_class(page_tree, "a", "lab-comment__permalink"):
            (article,) = [a for a in page_tree.iter("article") if link in a.iter("a")]
            cid = article.get("id").removeprefix("comment-")
            links.append((cid, urljoin(base, link.get("href")), "permalink"))
        for note in by_class(page_tree, "span", "lab-comment__in-reply-to"):
            href = urljoin(base, next(note.iter("a")).get("href"))
            links.append((urldefrag(href)[1].removeprefix("comment-"), href, "reply"))
    assert len([k for k in links if k[2] == "permalink"]) == len(records)
    for cid, url, what in links:
        target, fragment = file_of(paged, url)
        assert (target, fragment) == (where[cid], f"comment-{cid}"), what


def test_the_feed_holds_exactly_the_newest_and_links_to_their_pages(paged, records):
    feed = etree.parse(str(paged / FEED)).getroot()
    entries = feed.findall(f"{ATOM}entry")
    newest = sorted(records, key=lambda r: (r["date"], r["id"]), reverse=True)
    wanted = [r["id"] for r in newest[:FEED_MAX]]
    # The id never changes (the post and the anchor); the link is the page.
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"{POST_URL}#comment-{cid}" for cid in wanted
    ]
    for entry, cid in zip(entries, wanted, strict=True):
        target, fragment = file_of(paged, entry.find(f"{ATOM}link").get("href"))
        assert fragment == f"comment-{cid}"
        assert cid in comment_ids(parse_html(target))
    # The newest thread is on the last page, not the post's.
    last = max(pages_of(paged).items())[1]
    newest_thread = max(r["id"] for r in records if "reply_to" not in r)
    assert newest_thread in comment_ids(parse_html(last))


def test_the_manifest_knows_every_comment_so_any_page_can_take_a_reply(
    paged, records, tmp_path
):
    """A reply sent from a page of comments (its form, the comment chosen in
    the list, without JavaScript) is taken by the endpoint, which reads the
    manifest."""
    app = CommentsApp(
        Config(
            queue=tmp_path / "queue",
            manifest=paged / "comments-manifest.json",
            secret=SECRET,
        )
    )
    last = max(pages_of(paged).items())[1]
    cid = comment_ids(parse_html(last))[-1]
    _, fields = form_fields(last, reply_to=cid)
    assert fields["reply_to"] == cid and fields["post"] == "a-published-post"
    answer = call(
        app,
        body={**fields, "name": "Flo", "email": "flo@example.net", "body": "Late."},
    )
    assert answer.status == 303
    (pending,) = app.queue.ids()
    assert app.manifest.load().posts["a-published-post"].comments == {
        r["id"] for r in records
    }
    assert pending not in {r["id"] for r in records}


# -- the pages themselves


def nav_facts(output: Path, page: Path) -> dict:
    page_tree = parse_html(page)
    nav = pages_nav(page_tree)
    base = url_of(output, page)

    def number(link) -> int:
        target, _ = file_of(output, urljoin(base, link.get("href")))
        return next(n for n, p in pages_of(output).items() if p == target)

    rel = {a.get("rel"): number(a) for a in nav.iter("a") if a.get("rel")}
    items = []
    for li in nav.iter("li"):
        links = list(li.iter("a"))
        if not links:
            items.append("…")
            continue
        (link,) = links
        assert link.get("aria-label") == f"Page {number(link)}"
        assert "".join(link.itertext()) == str(number(link))
        items.append((number(link), link.get("aria-current")))
    return {"rel": rel, "items": items}


def test_the_pagination_of_the_first_a_middle_and_the_last_page(paged):
    pages = pages_of(paged)
    last = len(pages)
    assert nav_facts(paged, pages[1]) == {
        "rel": {"next": 2},
        "items": [(1, "page"), (2, None), "…", (last, None)],
    }
    assert nav_facts(paged, pages[5]) == {
        "rel": {"prev": 4, "next": 6},
        "items": [(1, None), "…", (4, None), (5, "page"), (6, None), "…",
                  (last, None)],
    }  # fmt: skip
    assert nav_facts(paged, pages[last]) == {
        "rel": {"prev": last - 1},
        "items": [(1, None), "…", (last - 1, None), (last, "page")],
    }


def test_a_page_of_comments_names_its_post_and_leads_back_to_it(paged):
    pages = pages_of(paged)
    page_tree = parse_html(pages[3])
    (h1,) = page_tree.iter("h1")
    assert " ".join("".join(h1.itertext()).split()) == "Comments on A published post"
    (back,) = h1.iter("a")
    assert file_of(paged, urljoin(url_of(paged, pages[3]), back.get("href")))[0] == (
        paged / POST
    )
    title = "".join(next(page_tree.iter("title")).itertext())
    assert title.startswith(f"Comments on A published post (page 3 of {len(pages)})")
    # Its own canonical address (its comments are on no other page), and
    # nothing that keeps it out of search engines.
    canonical = [
        link.get("href")
        for link in page_tree.iter("link")
        if link.get("rel") == "canonical"
    ]
    assert canonical == [url_of(paged, pages[3])]
    assert not [m for m in page_tree.iter("meta") if m.get("name") == "robots"]
    # The form, whose list answers the comments of this page (and only
    # those); the pending notice is on the post only.
    ids = {n.get("id") for n in page_tree.iter()}
    assert "comment-form" in ids and "comment-pending" not in ids
    (select,) = [n for n in page_tree.iter("select") if n.get("name") == "reply_to"]
    assert [o.get("value") for o in select.iter("option")] == [
        "",
        *comment_ids(page_tree),
    ]
    # The range it shows.
    (line,) = by_class(page_tree, "p", "lab-comments__range")
    assert re.fullmatch(
        rf"Comments \d+ to \d+ of 250, oldest first, on page 3 of {len(pages)}\.",
        " ".join("".join(line.itertext()).split()),
    )


def test_a_site_with_pages_of_comments_keeps_every_site_rule(paged, records):
    """The rules every valid site keeps (siterules: structure, links, social
    metadata, sitemap, every comment shown, ...), on the pages of comments."""
    content = paged.parent / "content"
    assert all_problems(Built(paged, SAMPLE_SITEURL_DEV, content, ())) == []
    # The rule that every comment is shown counts the pages of comments: a
    # comment taken off its page is named.
    last = max(pages_of(paged).items())[1]
    cid = comment_ids(parse_html(last))[-1]
    text = last.read_text(encoding="utf-8").replace(f'id="comment-{cid}"', 'id="x"')
    last.write_text(text, encoding="utf-8")
    try:
        problems = RULES["comments-published"](
            Built(paged, SAMPLE_SITEURL_DEV, content, ())
        )
    finally:
        text = text.replace('id="x"', f'id="comment-{cid}"')
        last.write_text(text, encoding="utf-8")
    assert problems == [
        f"comments/a-published-post/{cid}.yaml: not shown on {POST_URL} or its comments"
    ]


def test_pages_of_comments_are_in_the_sitemap(paged):
    sitemap = etree.parse(str(paged / "sitemap.xml")).getroot()
    listed = {
        node.text
        for node in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")
    }
    pages = pages_of(paged)
    assert {url_of(paged, page) for page in pages.values()} <= listed


# -- bounded whatever the count


def test_the_post_page_and_the_feed_do_not_grow_with_the_comments(paged, tmp_path):
    """The post's page with 250 or 2,500 comments weighs what it weighs with
    one full page of them (a few hundred bytes more: the pages' links and
    the range line); the feed what it weighs with its newest 50."""
    full_page = build_with(tmp_path / "twenty", generated(PER_PAGE))
    many = build_with(tmp_path / "many", generated(2500, long_thread=LONG))
    sizes = {
        "20": (full_page / POST).stat().st_size,
        "250": (paged / POST).stat().st_size,
        "2500": (many / POST).stat().st_size,
    }
    assert pages_of(full_page) == {1: full_page / POST}
    assert 1 <= len(comment_ids(parse_html(many / POST))) <= PER_PAGE
    for count in ("250", "2500"):
        assert sizes[count] <= sizes["20"] + 2048, sizes
    # Every page of comments, too, within the same bound.
    for page in pages_of(many).values():
        assert page.stat().st_size <= sizes["20"] + 2048, page
    feeds = {count: (out / FEED).stat().st_size for count, out in
             (("250", paged), ("2500", many))}  # fmt: skip
    entries = etree.parse(str(many / FEED)).getroot().findall(f"{ATOM}entry")
    assert len(entries) == FEED_MAX
    assert abs(feeds["2500"] - feeds["250"]) <= feeds["250"] // 5, feeds


# -- the pages in an in-place rebuild


def test_erasing_comments_takes_their_pages_away(tmp_path):
    site = Site.copy(tmp_path)
    site.settings["LAB_COMMENTS_PER_PAGE"] = 1  # rebuildkit's 2 made smaller
    for n in range(2):
        site.approve_comment(n)
    site.rebuild()
    folder = site.output / "updates/2025/with-comments/comments"
    assert sorted(p.parent.name for p in folder.glob("*/index.html")) == ["2", "3"]
    sitemap = (site.output / "sitemap.xml").read_text(encoding="utf-8")
    assert "/with-comments/comments/3/" in sitemap
    # Two of the three erased: the pages they were on go, in place.
    for path in site.comments()[1:]:
        path.unlink()
    site.rebuild()
    assert not list(folder.glob("*/index.html"))
    assert "/with-comments/comments/" not in (site.output / "sitemap.xml").read_text(
        encoding="utf-8"
    )
    assert site.differences() == SAME
    before = tree(site.output)
    site.rebuild()  # nothing changed: nothing written, nothing removed
    assert tree(site.output) == before


def test_another_file_on_a_page_of_comments_stops_the_build(tmp_path, records):
    content = fixture_site(tmp_path, records)
    (content / "pages" / "squatter.md").write_text(
        "---\ntitle: Squatter\nsummary: In the way.\n"
        f"save_as: {POST_DIR}/comments/2/index.html\n---\nHere first.\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentValidationError) as caught:
        build_fixture(content, tmp_path / "out")
    message = str(caught.value)
    assert f"would write {POST_DIR}/comments/2/index.html" in message
    assert "page 2 of the comments of posts/2025-05-01-published.md" in message


# -- settings


@pytest.mark.parametrize("key", ["LAB_COMMENTS_PER_PAGE", "LAB_COMMENTS_FEED_MAX"])
@pytest.mark.parametrize("value", [0, -3, "20", 2.5, True, None])
def test_the_page_and_feed_sizes_are_positive_whole_numbers(key, value):
    with pytest.raises(SettingsError, match=key):
        comment_settings({key: value})


def test_a_bad_page_size_stops_the_build_naming_the_setting(tmp_path):
    content = fixture_site(tmp_path, [comment("c-a")])
    with pytest.raises(SettingsError, match="LAB_COMMENTS_PER_PAGE: must be 1 or"):
        build_fixture(content, tmp_path / "out", LAB_COMMENTS_PER_PAGE=0)


# -- the pure core, over any shape of threads


@st.composite
def forests(draw):
    """Records of a post: each answers nothing or an earlier one."""
    count = draw(st.integers(1, 60))
    records = []
    for n in range(count):
        parent = draw(st.none() | st.integers(0, n - 1)) if n else None
        records.append(
            {
                "id": f"c{n:03d}",
                "post": "p",
                "name": "N",
                "date": dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n),
                "body_html": "<p>x</p>",
                **({} if parent is None else {"reply_to": f"c{parent:03d}"}),
            }
        )
    return records


@settings(max_examples=150, deadline=None)
@given(records=forests(), per_page=st.integers(1, 12), depth=st.integers(0, 3))
def test_paginate_keeps_every_comment_once_in_order_and_threads_whole(
    records, per_page, depth
):
    comments = build_comments(records, "UTC", BodyRenderer())
    top, problems = thread(comments, depth)
    assert problems == []
    pages = paginate(top, per_page)
    reading = [c.id for c in flatten(top)]
    assert [c.id for page in pages for c in page] == reading
    assert all(1 <= len(page) <= per_page for page in pages)
    root_of = {c.id: root.id for root in top for c in flatten([root])}
    size = {root.id: len(flatten([root])) for root in top}
    for root in top:
        holding = [n for n, page in enumerate(pages) if any(
            root_of[c.id] == root.id for c in page)]  # fmt: skip
        needed = math.ceil(size[root.id] / per_page)
        assert holding == list(range(holding[0], holding[0] + needed))
    # What each page shows: its comments, each once, replies under parents
    # that are on the page; one whose parent is elsewhere says whom it answers.
    for page in pages:
        shown = page_threads(page)
        assert [c.id for c in flatten(shown)] == [c.id for c in page]
        for root in shown:
            original = next(c for c in page if c.id == root.id)
            if original.parent is not None:
                assert root.in_reply_to is not None
    # The comments themselves are left as `thread` made them.
    assert [c.id for c in flatten(top)] == reading
