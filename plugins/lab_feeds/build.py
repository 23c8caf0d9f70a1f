"""Feeds from items: Atom and RSS 2.0 through feedgen, JSON Feed 1.1 as data.

A feed's own updated time is that of its newest item, never the build time, so
two builds of the same content write the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from feedgen.feed import FeedGenerator

from .items import FeedItem, xml_safe

# Only used when a feed has no items: a fixed instant, not the build time.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class FeedMeta:
    """What a feed is: its key (`tag:peer-support`), titles and addresses
    (all absolute)."""

    key: str
    kind: str  # all | calls | category | tag | author | challenge
    title: str
    description: str
    page_url: str  # the HTML page the feed follows
    atom_url: str
    rss_url: str
    atom_save_as: str
    rss_save_as: str
    json_url: str | None = None
    json_save_as: str | None = None
    # The followed page's address in the site (`tags/x/`): pages link to it,
    # and to the *_save_as files, through SITEURL, so that a build with
    # relative links (a preview) links relatively.
    page_path: str = ""


def feed_generator(
    meta: FeedMeta, items: list[FeedItem], site_name: str, language: str
) -> FeedGenerator:
    """A feedgen FeedGenerator holding `items` in the given order."""
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(meta.atom_url)
    fg.title(xml_safe(meta.title, meta.key))
    fg.subtitle(xml_safe(meta.description, meta.key))
    fg.author({"name": site_name, "uri": meta.page_url})
    # feedgen takes the RSS channel <link> from the last link given: self first.
    fg.link(href=meta.atom_url, rel="self", type="application/atom+xml")
    fg.link(href=meta.page_url, rel="alternate", type="text/html")
    fg.language(language)
    fg.generator("Lab site (Pelican, feedgen)")
    newest = max((item.updated for item in items), default=_EPOCH)
    fg.updated(newest)
    fg.lastBuildDate(newest)
    for item in items:
        entry = fg.add_entry(order="append")
        entry.id(item.id)
        entry.guid(item.id, permalink=item.id == item.link)
        entry.title(item.title)
        entry.link(href=item.link, rel="alternate", type="text/html")
        entry.published(item.published)
        entry.updated(item.updated)
        for person in item.authors:
            author = {"name": person.name}
            if person.url:
                author["uri"] = person.url
            entry.author(author)
            entry.dc.dc_creator(person.name)
        for term in item.categories:
            entry.category(term=term, label=term)
        # content() before summary(): feedgen fills RSS <description> from the
        # summary and <content:encoded> from the content.
        if item.content_html is not None:
            entry.content(item.content_html, type="html")
        entry.summary(item.summary_html, type="html")
    return fg


def atom_bytes(fg: FeedGenerator) -> bytes:
    return fg.atom_str(pretty=True)


def rss_bytes(fg: FeedGenerator, meta: FeedMeta) -> bytes:
    # The RSS self link must name the RSS file, not the Atom one.
    fg.link(href=meta.rss_url, rel="self", type="application/rss+xml", replace=True)
    fg.link(href=meta.page_url, rel="alternate", type="text/html")
    return fg.rss_str(pretty=True)


def json_feed(
    meta: FeedMeta, items: list[FeedItem], site_name: str, language: str
) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "home_page_url": meta.page_url,
        "feed_url": meta.json_url,
        "description": meta.description,
        "language": language,
        "authors": [{"name": site_name, "url": meta.page_url}],
        "items": [],
    }
    for item in items:
        entry = {
            "id": item.id,
            "url": item.link,
            "title": item.title,
            "summary": item.summary_html,
            "date_published": item.published.isoformat(),
            "date_modified": item.updated.isoformat(),
            "authors": [
                {"name": p.name, **({"url": p.url} if p.url else {})}
                for p in item.authors
            ],
            "tags": list(item.categories),
        }
        entry["content_html"] = item.content_html or item.summary_html
        feed["items"].append(entry)
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
