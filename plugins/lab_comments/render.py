"""Comments made fit to publish: Markdown to clean HTML, threads, and the Atom
feed of a post's comments. Pure functions over plain values; no Pelican.

The body of a comment is untrusted. It goes through Python-Markdown with raw
HTML, images and headings switched off, then through nh3 (an allow-list
sanitiser) that keeps a few tags, only `href` on links, only http, https and
mailto URLs, and sets `rel="nofollow ugc noopener"` on every link. Names and
websites are never HTML: the theme escapes every value it prints, and a
`Comment`'s `body_html`, sanitised so, is marked trusted (Markup) where the
comment is made (`build_comments`).

Every body is rendered within bounds, by the endpoint when a reader sends it
(so that the queue never holds a comment that cannot be published) and by the
build: nesting measured on the source before Markdown runs
(`lab_common.nesting`: Python-Markdown recurses once per level), then the
elements and depth of the tree Markdown makes, then the size of the HTML. A
body beyond them raises `BodyRefused`, whose message is a reason fit to show
the writer; so does one that still exhausts the stack (RecursionError).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import markdown
import nh3
from lxml import etree
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from lab_common import absolutise_html
from lab_common.nesting import MAX_NESTING, nesting_problem

ALLOWED_TAGS = frozenset(
    {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a",
     "hr"}
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener"

# Bounds on what one body may become. An 8,000-character body of ordinary
# writing makes a few hundred elements and under 20 KB of HTML; a hostile one
# (a link in every few characters, an email address Markdown writes as
# entities) can make thousands and 60 KB or more.
MAX_ELEMENTS = 2000  # elements in the body's HTML (paragraphs, links, ...)
MAX_TREE_DEPTH = 4 * MAX_NESTING  # elements inside one another (ul > li > p > em)
MAX_HTML_BYTES = 64 * 1024  # the sanitised HTML, UTF-8


class BodyRefused(ValueError):
    """A body that cannot be shown within the bounds. The message is the
    reason, worded for the person who wrote it ("is ...")."""


class _Bounds(Treeprocessor):
    """Refuses a tree with too many elements or too deep, before Markdown
    serialises it (its serialiser recurses once per level too). Counted
    without recursion."""

    def __init__(self, md, max_elements: int, max_depth: int):
        super().__init__(md)
        self.max_elements = max_elements
        self.max_depth = max_depth

    def run(self, root):
        count = 0
        waiting = [(child, 1) for child in root]
        while waiting:
            element, depth = waiting.pop()
            count += 1
            if count > self.max_elements:
                raise BodyRefused(
                    f"has more than {self.max_elements:,} separate parts (lines, "
                    "list items, links, emphasis); please write it more simply"
                )
            if depth > self.max_depth:
                raise BodyRefused(
                    f"has parts nested more than {self.max_depth} levels deep; "
                    "please write it more simply"
                )
            waiting.extend((child, depth + 1) for child in element)


class BodyRenderer:
    """Comment Markdown to clean HTML. Building the Markdown parser (loading
    its extensions) and the nh3 cleaner costs more than converting a short
    comment, so one renderer serves many bodies: the build makes one per
    build, and `render_body` keeps one per thread (the endpoint answers on
    several threads; neither object may be shared between them). The parser
    is reset between bodies, so nothing one comment defines (a reference
    link, say) reaches the next."""

    def __init__(
        self,
        max_elements: int = MAX_ELEMENTS,
        max_depth: int = MAX_TREE_DEPTH,
        max_html_bytes: int = MAX_HTML_BYTES,
    ) -> None:
        self._bounds = (max_elements, max_depth)
        self.max_html_bytes = max_html_bytes
        self._markdown = _markdown(*self._bounds)
        self._cleaner = nh3.Cleaner(
            tags=set(ALLOWED_TAGS),
            clean_content_tags={"script", "style"},
            # "*": nothing on every tag (nh3 otherwise keeps `lang` and `title`).
            attributes={
                "*": set(),
                **{tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            },
            url_schemes=set(URL_SCHEMES),
            # A relative link in a comment would point into our own site.
            url_relative="deny",
            link_rel=LINK_REL,
            strip_comments=True,
        )

    def __call__(self, text: str) -> str:
        """The HTML of a comment body (Markdown), sanitised by the allow-list;
        BodyRefused if it is beyond the bounds."""
        if problem := nesting_problem(text):
            raise BodyRefused(problem)
        try:
            html = self._markdown.reset().convert(text)
        except RecursionError:
            # The last resort (the nesting check should have refused it);
            # the parser may be left half-way, so it is made again.
            self._markdown = _markdown(*self._bounds)
            raise BodyRefused(
                "is nested too deeply to show; please write it more simply"
            ) from None
        clean = self._cleaner.clean(html).strip()
        if len(clean.encode("utf-8")) > self.max_html_bytes:
            raise BodyRefused(
                f"would make more than {self.max_html_bytes // 1024} KB of the "
                "page (many links, email addresses or symbols); please shorten it"
            )
        return clean


def _markdown(max_elements: int, max_depth: int) -> markdown.Markdown:
    md = markdown.Markdown(
        extensions=["markdown.extensions.nl2br", "markdown.extensions.sane_lists"],
        output_format="html",
    )
    # Raw HTML stays text (escaped), images stay text, headings stay text: a
    # comment cannot add an <h1> to the page or load anything.
    md.preprocessors.deregister("html_block")
    for name in ("html", "image_link", "image_reference", "short_image_ref"):
        md.inlinePatterns.deregister(name)
    for name in ("hashheader", "setextheader"):
        md.parser.blockprocessors.deregister(name)
    # Last of the tree processors: after the inline patterns (20) have made
    # links and emphasis, before the tree is serialised.
    md.treeprocessors.register(_Bounds(md, max_elements, max_depth), "lab_bounds", 1)
    return md


_PER_THREAD = threading.local()


def render_body(text: str) -> str:
    """The HTML of a comment body (Markdown), sanitised by the allow-list,
    with this thread's renderer; BodyRefused if it is beyond the bounds."""
    renderer = getattr(_PER_THREAD, "renderer", None)
    if renderer is None:
        renderer = _PER_THREAD.renderer = BodyRenderer()
    return renderer(text)


def body_problem(text: str) -> str | None:
    """Why a body cannot be published (BodyRefused's reason), or None: what
    the endpoint asks of every body it takes. Markdown runs only when the
    body could go beyond the bounds (`surely_within_bounds`): most comments
    are answered without it."""
    if problem := nesting_problem(text):
        return problem
    if surely_within_bounds(text):
        return None
    try:
        render_body(text)
    except BodyRefused as exc:
        return str(exc)
    return None


# "https://www." is one address: the scheme takes its "www." with it.
_URL_LIKE = re.compile(r"(?i)\b(?:https?://(?:www\.)?|www\.|mailto:)")

# The characters of inline markup: each link, emphasis or code span takes at
# least one of them.
_INLINE_MARKUP = "*_`[<"
# Blocks (lists, quotes, paragraphs) make at most about two elements a level
# of the source's nesting, which the schema bounds (lab_common.nesting).
_BLOCK_DEPTH = 2 * MAX_NESTING + 2


def surely_within_bounds(text: str) -> bool:
    """True when a body (that passed the schema's nesting check) cannot go
    beyond the bounds, judged without Markdown: short enough that its
    elements cannot outnumber MAX_ELEMENTS (Markdown makes at most one
    element a character of source; a margin of two) nor its HTML outgrow
    MAX_HTML_BYTES, and with too few characters of inline markup to nest
    inline elements past MAX_TREE_DEPTH. Lets `comments-list` skip Markdown
    for most comments."""
    if len(text) > MAX_ELEMENTS // 2:
        return False
    markup = sum(text.count(char) for char in _INLINE_MARKUP)
    return _BLOCK_DEPTH + markup <= MAX_TREE_DEPTH


def count_links(text: str) -> int:
    """How many links a body holds (for the moderator's flags): the links it
    would show, or the addresses written out in it, whichever is more.
    BodyRefused if it cannot be shown (it is rendered as the build would,
    unless it surely can be: then Markdown would make no link of it)."""
    written = len(_URL_LIKE.findall(text))
    # Every link Markdown makes starts at a `[` or a `<`.
    if "[" not in text and "<" not in text and surely_within_bounds(text):
        return written
    return max(render_body(text).count("<a "), written)


# -- threads


@dataclass
class Comment:
    """One published comment as the theme sees it."""

    id: str
    post: str
    name: str
    date: dt.datetime  # aware, in the site's zone
    body_html: Markup  # sanitised (BodyRenderer): trusted by the theme
    website: str | None = None
    reply_to: str | None = None
    staff: bool = False
    number: int = 0  # 1 for the oldest comment on the post
    depth: int = 0  # nesting shown on the page, 0 .. max_depth
    anchor: str = ""
    # Set when the comment is shown away from its parent (at the nesting cap):
    # the parent it answers, so the page can say "In reply to".
    in_reply_to: Comment | None = None
    parent: Comment | None = None
    replies: list[Comment] = field(default_factory=list)
    # Its address within the site: the page it is shown on and its anchor
    # ("updates/2025/p/comments/2/#comment-<id>"); set by the build.
    url: str = ""

    @property
    def iso_date(self) -> str:
        return self.date.isoformat()


def anchor_for(comment_id: str) -> str:
    return f"comment-{comment_id}"


def build_comments(
    records: Iterable[Mapping[str, Any]],
    timezone: str,
    renderer: Callable[[str], str] | None = None,
) -> list[Comment]:
    """Comment objects from clean published records (schema-checked), oldest
    first, numbered, bodies rendered (by `renderer`, default `render_body`).
    A record that already holds its rendered body as `body_html` (the build's
    cache keeps it, not the Markdown) is not rendered again."""
    render = renderer or render_body
    zone = ZoneInfo(timezone)
    ordered = sorted(records, key=lambda r: (r["date"], r["id"]))
    comments = []
    for number, record in enumerate(ordered, start=1):
        body_html = record.get("body_html")
        if body_html is None:
            body_html = render(record["body"])
        comments.append(
            Comment(
                id=record["id"],
                post=record["post"],
                name=record["name"],
                date=record["date"].astimezone(zone),
                # Sanitised by the renderer (nh3's allow-list), now or
                # before it was cached: the theme prints it as it is.
                body_html=Markup(body_html),  # noqa: S704 - sanitised by nh3
                website=record.get("website"),
                reply_to=record.get("reply_to"),
                staff=bool(record.get("staff", False)),
                number=number,
                anchor=anchor_for(record["id"]),
            )
        )
    return comments


def thread(
    comments: Sequence[Comment], max_depth: int
) -> tuple[list[Comment], list[tuple[str, str]]]:
    """Arrange comments (oldest first) into threads: each reply under its
    parent, at most `max_depth` levels deep; a deeper reply joins its parent's
    level, marked `in_reply_to`. Returns the top-level comments and the
    problems as (comment id, reason): a parent that is not on the post, or
    replies that form a loop."""
    by_id = {c.id: c for c in comments}
    problems: list[tuple[str, str]] = []
    children: dict[str | None, list[Comment]] = {}
    for comment in comments:
        parent = comment.reply_to
        if parent is not None and parent not in by_id:
            problems.append(
                (comment.id, f"reply_to: there is no comment {parent!r} on this post")
            )
            continue
        children.setdefault(parent, []).append(comment)

    top: list[Comment] = []
    placed: set[str] = set()
    # Iterative, so a long chain of replies cannot exhaust the call stack.
    waiting: list[tuple[Comment, Comment | None]] = [
        (comment, None) for comment in children.get(None, [])
    ]
    while waiting:
        comment, parent = waiting.pop()
        placed.add(comment.id)
        if parent is None:
            comment.depth, comment.parent = 0, None
            top.append(comment)
        elif parent.depth < max_depth:
            comment.depth, comment.parent = parent.depth + 1, parent
            parent.replies.append(comment)
        else:
            # At the cap: shown beside its parent, saying whom it answers.
            comment.depth, comment.parent = parent.depth, parent.parent
            comment.in_reply_to = parent
            (top if parent.parent is None else parent.parent.replies).append(comment)
        waiting.extend((child, comment) for child in children.get(comment.id, []))
    # Re-sort every level by date: replies at the cap join an existing level.
    _sort_levels(top)
    for comment in comments:
        if comment.id not in placed and comment.reply_to in by_id:
            problems.append((comment.id, "reply_to: replies form a loop"))
    return top, problems


def _sort_levels(level: list[Comment]) -> None:
    level.sort(key=lambda c: (c.date, c.id))
    for comment in level:
        _sort_levels(comment.replies)


def flatten(level: Iterable[Comment]) -> list[Comment]:
    """Every comment of a thread, depth first (the reading order)."""
    result = []
    for comment in level:
        result.append(comment)
        result.extend(flatten(comment.replies))
    return result


# -- pages of comments


@dataclass
class CommentPage:
    """One page of a post's comments: the first is the post's own page, the
    others pages of their own. `comments` are the comments shown at the top
    of the page's list (copies, each with only the replies on this page);
    `first` and `last` count comments in reading order, from 1."""

    number: int
    comments: list[Comment]
    first: int
    last: int
    url: str = ""  # within the site; the post's own address for page 1
    save_as: str = ""  # "" for page 1 (the post's page is Pelican's)


def paginate(top: Sequence[Comment], per_page: int) -> list[list[Comment]]:
    """The comments of each page (from `thread`'s top level), in reading
    order, at most `per_page` a page. A thread (a top-level comment and all
    its replies) stays on one page: one that does not fit in what is left of
    a page starts the next. Only a thread longer than a whole page is split:
    it starts a page and goes on over the next ones, `per_page` comments
    each, so that no page, however many comments a post has, holds more."""
    if per_page < 1:
        raise ValueError("per_page must be 1 or more")
    pages: list[list[Comment]] = [[]]
    for root in top:
        members = flatten([root])
        if pages[-1] and len(pages[-1]) + len(members) > per_page:
            pages.append([])
        for start in range(0, len(members), per_page):
            if len(pages[-1]) >= per_page:
                pages.append([])
            pages[-1].extend(members[start : start + per_page])
    return pages if pages[0] else []


def page_threads(members: Sequence[Comment]) -> list[Comment]:
    """The threads one page shows, made of copies of `members` (in reading
    order, as `paginate` gives them): each reply under its parent when the
    parent is on the same page; else (the rest of a thread split over pages)
    at the top of the page's list, saying whom it answers. The comments
    themselves are left as they are (the feed and the manifest read them)."""
    on_page = {c.id for c in members}
    copies: dict[str, Comment] = {}
    roots: list[Comment] = []
    for comment in members:
        shown = replace(comment, replies=[])
        copies[comment.id] = shown
        parent = comment.parent
        if parent is not None and parent.id in on_page:
            shown.depth = copies[parent.id].depth + 1
            copies[parent.id].replies.append(shown)
            continue
        shown.depth = 0
        if parent is not None and shown.in_reply_to is None:
            shown.in_reply_to = parent
        roots.append(shown)
    return roots


# -- the feed

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM = f"{{{ATOM_NS}}}"  # tag prefix: f"{ATOM}entry"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class FeedEntry:
    """A comment as its feed entry shows it."""

    permalink: str  # the entry's id: the post's address and the comment's anchor
    link: str  # the page the comment is shown on, with its anchor
    name: str
    website: str | None
    date: dt.datetime  # aware
    body_html: str  # sanitised; made absolute when the feed is written


@dataclass(frozen=True)
class CommentFeed:
    """Everything a post's comment feed is made from, as plain values (no
    links between comments), newest entry first: what `atom()` writes, and
    so also the key a writer compares to skip a feed made from the same."""

    post_title: str
    post_url: str
    feed_url: str
    language: str
    site_name: str
    entries: tuple[FeedEntry, ...]

    def atom(self) -> bytes:
        """The Atom document (RFC 4287), the same bytes for the same feed."""
        return atom_feed(self)


def comments_feed(
    *,
    post_title: str,
    post_url: str,
    feed_url: str,
    comments: Sequence[Comment],
    language: str,
    site_name: str,
    limit: int | None = None,
    link_of: Callable[[Comment], str] | None = None,
) -> CommentFeed:
    """The feed of a post's comments, newest first, the newest `limit` of
    them (all when None) (`.atom()` writes it). Every URL is absolute and
    every date comes from the comments, so that the same comments always make
    the same feed: `updated` is the newest comment's date, never the build
    time. An entry's id is the post's address and the comment's anchor,
    which never changes; its link is `link_of(comment)` (the page it is
    shown on, which changes when its thread moves to another page of
    comments), that same address when not given."""
    if not comments:
        raise ValueError("a comment feed needs at least one comment")
    entries = []
    newest = sorted(comments, key=lambda c: (c.date, c.id), reverse=True)
    for comment in newest[:limit]:
        if comment.date.tzinfo is None:
            raise ValueError(f"comment {comment.id}: the date has no time zone")
        permalink = f"{post_url}#{comment.anchor}"
        entries.append(
            FeedEntry(
                permalink=permalink,
                link=link_of(comment) if link_of is not None else permalink,
                name=comment.name,
                website=comment.website,
                date=comment.date,
                body_html=str(comment.body_html),  # plain: the feed is XML
            )
        )
    return CommentFeed(
        post_title=post_title,
        post_url=post_url,
        feed_url=feed_url,
        language=language,
        site_name=site_name,
        entries=tuple(entries),
    )


def atom_feed(feed: CommentFeed) -> bytes:
    """The feed as Atom, built with lxml (which escapes every text and
    attribute and refuses characters XML cannot hold), element for element
    as feedgen wrote these feeds before, less its <generator>. feedgen cost
    twice as much per feed: objects for RSS and extensions this feed never
    uses, and a parse of every body (see `_absolute`)."""
    root = etree.Element(f"{ATOM}feed", nsmap={None: ATOM_NS})
    root.set(XML_LANG, feed.language)
    _text(root, "id", feed.feed_url)
    title = f"Comments on \u201c{feed.post_title}\u201d \u2013 {feed.site_name}"
    _text(root, "title", title)
    _text(root, "updated", max(e.date for e in feed.entries).isoformat())
    link = f"{ATOM}link"
    etree.SubElement(
        root, link, href=feed.feed_url, rel="self", type="application/atom+xml"
    )
    etree.SubElement(root, link, href=feed.post_url, rel="alternate", type="text/html")
    for item in feed.entries:
        entry = etree.SubElement(root, f"{ATOM}entry")
        date = item.date.isoformat()
        _text(entry, "id", item.permalink)
        _text(entry, "title", f"Comment by {item.name}")
        _text(entry, "updated", date)
        author = etree.SubElement(entry, f"{ATOM}author")
        _text(author, "name", item.name)
        if item.website:
            _text(author, "uri", item.website)
        content = _text(entry, "content", _absolute(item.body_html, feed.post_url))
        content.set("type", "html")
        # No rel (feedgen dropped the "alternate" asked of it): alternate is
        # Atom's default (RFC 4287, 4.2.7.2), and the bytes stay the same.
        etree.SubElement(entry, link, href=item.link)
        _text(entry, "published", date)
    return etree.tostring(
        root, pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )


def _text(parent, name: str, text: str):
    element = etree.SubElement(parent, f"{ATOM}{name}")
    element.text = text
    return element


def _absolute(body_html: str, post_url: str) -> str:
    """A cleaned body with its URLs made absolute for feed readers.
    absolutise_html only rewrites attribute values, and nh3 writes every
    attribute as name="value": a body without '="' has none, and is left as
    it is without parsing it (most comments have no link)."""
    if '="' not in body_html:
        return body_html
    return absolutise_html(body_html, post_url)
