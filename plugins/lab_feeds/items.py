"""Feed items as plain data, built once per post and shared by every feed it
appears in, plus the rules that make them trustworthy: ids that never change,
dates in the site's zone, absolute URLs, no character XML forbids."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from lab_common import absolute_url, absolutise_html, aware

logger = logging.getLogger(__name__)

# XML 1.0 allows tab, newline, carriage return and the ranges below; anything
# else (other C0 controls, lone surrogates, U+FFFE/U+FFFF) makes a feed invalid.
_XML_FORBIDDEN = re.compile(
    "[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass(frozen=True)
class Person:
    name: str
    url: str | None = None


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    link: str
    published: dt.datetime
    updated: dt.datetime
    summary_html: str
    content_html: str | None
    authors: tuple[Person, ...]
    categories: tuple[str, ...] = field(default=())


def xml_safe(text: str, where: str) -> str:
    """`text` without the characters XML forbids; each removal is logged with
    `where` (the file and field), so the writer can fix the source."""
    if not text:
        return text
    cleaned, count = _XML_FORBIDDEN.subn("", text)
    if count:
        logger.warning(
            "%s: removed %d character(s) that XML does not allow from the feed",
            where,
            count,
        )
    return cleaned


def tag_uri(authority: str, year: str, specific: str) -> str:
    """A tag URI (RFC 4151) such as tag:lab.example.org,2025:posts/first."""
    specific = re.sub(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?]", "-", specific)
    return f"tag:{authority},{year}:{specific}"


def source_key(relative_source_path: str) -> str:
    """The part of a file's path that names it for good: its path under
    content/ without the extension. Title, slug and dates may all change."""
    path = relative_source_path.replace("\\", "/")
    return path.rsplit(".", 1)[0]


def item_id(explicit: str | None, relative_source_path: str, options: dict) -> str:
    if explicit:
        return explicit
    return tag_uri(
        options["LAB_FEEDS_TAG_AUTHORITY"],
        options["LAB_FEEDS_TAG_YEAR"],
        source_key(relative_source_path),
    )


def in_zone(value: dt.date | dt.datetime, timezone: str) -> dt.datetime:
    """Aware, and shown in the site's zone whatever zone the writer used."""
    return aware(value, timezone).astimezone(ZoneInfo(timezone))


def content_item(
    content,
    settings: dict,
    options: dict,
    *,
    published: dt.datetime,
    authors: tuple[Person, ...],
    categories: list[str],
    summary_suffix: str = "",
) -> FeedItem:
    """The feed item of a post, call or other content object: absolute URLs,
    dates in the site's zone, no character XML forbids."""
    siteurl = settings["SITEURL"]
    where = content.relative_source_path
    link = absolute_url(siteurl, content.url)
    published = in_zone(published, settings["TIMEZONE"])
    # Only a significant change (a change note, lab_content's `review`) moves
    # an item's updated date: `modified` is also bumped for a typo fixed, and
    # readers are not to be told of the same post twice for that.
    review = getattr(content, "review", None)
    last_updated = review.last_updated if review is not None else None
    updated = in_zone(last_updated, settings["TIMEZONE"]) if last_updated else published
    summary = absolutise_html(content.get_summary(siteurl), link) + summary_suffix
    body = None
    if not options["LAB_FEEDS_SUMMARY_ONLY"]:
        body = xml_safe(
            absolutise_html(content.get_content(siteurl), link), f"{where}: content"
        )
    return FeedItem(
        id=item_id(content.metadata.get("id"), where, options),
        title=xml_safe(content.title, f"{where}: title"),
        link=link,
        published=published,
        updated=max(updated, published),
        summary_html=xml_safe(summary, f"{where}: summary"),
        content_html=body,
        authors=tuple(
            Person(xml_safe(p.name, f"{where}: authors"), p.url) for p in authors
        ),
        categories=tuple(xml_safe(c, f"{where}: tags") for c in categories),
    )


def article_item(article, settings: dict, options: dict) -> FeedItem:
    """A post, with its authors (linking their pages), category and tags."""
    siteurl = settings["SITEURL"]
    authors = tuple(
        Person(author.name, absolute_url(siteurl, author.url))
        for author in getattr(article, "authors", [])
    )
    categories = [article.category.name] if getattr(article, "category", None) else []
    categories += [tag.name for tag in getattr(article, "tags", [])]
    return content_item(
        article, settings, options,
        published=article.date, authors=authors, categories=categories,
    )  # fmt: skip


def call_item(call, settings: dict, options: dict, publisher: Person) -> FeedItem:
    """An open call, dated when it opened; its summary says when it closes."""
    closes = in_zone(call.closes, settings["TIMEZONE"])
    return content_item(
        call, settings, options,
        published=call.opens, authors=(publisher,), categories=["Get involved"],
        summary_suffix=f"<p>Closes {closes.strftime('%-d %B %Y, %H:%M %Z')}.</p>",
    )  # fmt: skip


def challenge_event_items(
    challenge, calls, *, now: dt.datetime, settings: dict, options: dict, publisher
) -> list[FeedItem]:
    """What has happened in a challenge by `now`: each phase that has started,
    each of its calls that has opened or closed. Future events wait for the
    build on their day."""
    siteurl = settings["SITEURL"]
    timezone = settings["TIMEZONE"]
    base = source_key(challenge.relative_source_path)
    link = absolute_url(siteurl, challenge.url)
    events = []
    for phase in challenge.phases:
        starts = in_zone(phase.starts, timezone)
        events.append(
            (
                f"{base}/phase/{phase.slug}/starts",
                f"Phase started: {phase.name}",
                f"{link}#phase-{phase.slug}",
                starts,
                f"<p>{_escape(phase.summary)}</p>",
            )
        )
    for call in calls:
        call_link = absolute_url(siteurl, call.url)
        call_base = source_key(call.relative_source_path)
        for moment, verb in ((call.opens, "opened"), (call.closes, "closed")):
            events.append(
                (
                    f"{call_base}/{verb}",
                    f"Call {verb}: {call.title}",
                    call_link,
                    in_zone(moment, timezone),
                    absolutise_html(call.get_summary(siteurl), call_link),
                )
            )
    authority = options["LAB_FEEDS_TAG_AUTHORITY"]
    year = options["LAB_FEEDS_TAG_YEAR"]
    where = challenge.relative_source_path
    return [
        FeedItem(
            id=tag_uri(authority, year, key),
            title=xml_safe(title, f"{where}: events"),
            link=url,
            published=when,
            updated=when,
            summary_html=xml_safe(summary, f"{where}: events"),
            content_html=None,
            authors=(publisher,),
            categories=("Challenge",),
        )
        for key, title, url, when, summary in events
        if when <= now
    ]


def order_fields(entry, settings: dict, options: dict) -> tuple[dt.datetime, str]:
    """(published, id) of a feed item, or of a post before its item is made:
    what feeds are sorted by."""
    if isinstance(entry, FeedItem):
        return entry.published, entry.id
    return (
        in_zone(entry.date, settings["TIMEZONE"]),
        item_id(entry.metadata.get("id"), entry.relative_source_path, options),
    )


def newest_first(entries: list, limit: int, fields=None) -> list:
    """Newest first, ties broken by id, so the order never depends on input
    order; at most `limit` entries. `fields` gives an entry's (published, id)
    (default: a FeedItem's own)."""
    fields = fields or (lambda item: (item.published, item.id))
    keyed = [(fields(entry), entry) for entry in entries]
    keyed.sort(key=lambda pair: pair[0][1])
    keyed.sort(key=lambda pair: pair[0][0], reverse=True)
    return [entry for _, entry in keyed[:limit]]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
