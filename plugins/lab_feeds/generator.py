"""The feeds generator: decides every feed in generate_context (so that pages
can link them in <head>), builds and writes them in generate_output."""

from __future__ import annotations

import logging
import os
from collections import defaultdict

from pelican.generators import Generator

from lab_common import absolute_url

from .build import FeedMeta, atom_bytes, feed_generator, json_feed, rss_bytes
from .items import (
    Person,
    article_item,
    call_item,
    challenge_event_items,
    newest_first,
)
from .settings import feeds_settings

logger = logging.getLogger(__name__)


class FeedIndex:
    """Every feed of the site, and which of them fit a given page.

    Templates call `lab_feeds.for_page(...)` with what they show (a post, a
    tag...); it returns FeedMeta objects with absolute URLs.
    """

    def __init__(self):
        self.feeds: dict[str, FeedMeta] = {}

    def add(self, meta: FeedMeta) -> None:
        self.feeds[meta.key] = meta

    def get(self, key: str) -> FeedMeta | None:
        return self.feeds.get(key)

    def of_kind(self, kind: str) -> list[FeedMeta]:
        return [m for m in self.feeds.values() if m.kind == kind]

    def for_page(
        self,
        *,
        article=None,
        category=None,
        tag=None,
        author=None,
        challenge=None,
        call=None,
    ) -> list[FeedMeta]:
        """The feeds that follow what a page shows, most specific first; the
        site-wide feeds of posts and open calls always come last."""
        keys: list[str] = []
        if article:
            if getattr(article, "challenge", None):
                keys.append(f"challenge:{article.challenge.slug}")
            keys.append(f"category:{article.category.slug}")
            keys += [f"author:{a.slug}" for a in getattr(article, "authors", [])]
            keys += [f"tag:{t.slug}" for t in getattr(article, "tags", [])]
        if category:
            keys.append(f"category:{category.slug}")
        if tag:
            keys.append(f"tag:{tag.slug}")
        if author:
            keys.append(f"author:{author.slug}")
        if challenge:
            keys.append(f"challenge:{challenge.slug}")
        if call and getattr(call, "challenge", None):
            keys.append(f"challenge:{call.challenge.slug}")
        keys += ["all", "calls"]
        seen: list[str] = []
        for key in keys:
            if key in self.feeds and key not in seen:
                seen.append(key)
        return [self.feeds[key] for key in seen]


class LabFeedsGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = feeds_settings(self.settings)
        self.index = FeedIndex()

    def _meta(
        self, key, kind, pattern, slug, *, title, description, page_url, json=False
    ):
        siteurl = self.settings["SITEURL"]
        base = pattern.format(slug=slug)
        return FeedMeta(
            key=key,
            kind=kind,
            title=title,
            description=description,
            page_url=absolute_url(siteurl, page_url),
            atom_url=absolute_url(siteurl, base + ".atom.xml"),
            rss_url=absolute_url(siteurl, base + ".rss.xml"),
            atom_save_as=base + ".atom.xml",
            rss_save_as=base + ".rss.xml",
            json_url=absolute_url(siteurl, base + ".json") if json else None,
            json_save_as=base + ".json" if json else None,
        )

    def generate_context(self):
        o, c, site = self.options, self.context, self.settings["SITENAME"]
        self.index.add(
            self._meta(
                "all", "all", o["LAB_FEEDS_ALL"], "",
                title=f"{site}: all updates",
                description=f"Every update from {site}, newest first.",
                page_url=self.settings.get("INDEX_URL", ""),
                json=True,
            )
        )  # fmt: skip
        self.index.add(
            self._meta(
                "calls", "calls", o["LAB_FEEDS_CALLS"], "",
                title=f"{site}: calls for involvement open now",
                description="Ways to take part in the Lab's work that are open now.",
                page_url=self.settings.get("LAB_CALLS_URL", ""),
            )
        )  # fmt: skip
        groups = (
            ("category", c.get("categories", []), "{}", "Updates in {}, newest first."),
            ("tag", c.get("tags", []), "updates tagged {}",
             "Updates tagged {}, newest first."),
            ("author", c.get("authors", []), "updates by {}",
             "Updates written by {}, newest first."),
        )  # fmt: skip
        for kind, pairs, title, description in groups:
            for thing, _ in pairs:
                self.index.add(
                    self._meta(
                        f"{kind}:{thing.slug}", kind,
                        o[f"LAB_FEEDS_{kind.upper()}"], thing.slug,
                        title=f"{site}: " + title.format(thing.name),
                        description=description.format(thing.name),
                        page_url=thing.url,
                    )
                )  # fmt: skip
        for challenge in c.get("challenges", []):
            self.index.add(
                self._meta(
                    f"challenge:{challenge.slug}", "challenge",
                    o["LAB_FEEDS_CHALLENGE"], challenge.slug,
                    title=f"{site}: {challenge.title}",
                    description="Updates on this challenge, and its events: phases "
                    "starting, calls opening and closing.",
                    page_url=challenge.url,
                )
            )  # fmt: skip
        c["lab_feeds"] = self.index
        c["LAB_FEEDS_PAGE_URL"] = o["LAB_FEEDS_PAGE_URL"]

    def generate_output(self, writer):
        settings, o, c = self.settings, self.options, self.context
        limit = o["LAB_FEEDS_MAX_ITEMS"]
        site, language = settings["SITENAME"], settings["DEFAULT_LANG"]
        publisher = Person(site, absolute_url(settings["SITEURL"], ""))
        # Each post becomes one item, whatever number of feeds it is in.
        articles = c.get("articles", [])
        items = {id(a): article_item(a, settings, o) for a in articles}
        groups: dict[str, list] = defaultdict(list)
        groups["all"] = list(items.values())
        for article in articles:
            item = items[id(article)]
            groups[f"category:{article.category.slug}"].append(item)
            for tag in getattr(article, "tags", []):
                groups[f"tag:{tag.slug}"].append(item)
            for author in getattr(article, "authors", []):
                groups[f"author:{author.slug}"].append(item)
            if getattr(article, "challenge", None):
                groups[f"challenge:{article.challenge.slug}"].append(item)
        now = c.get("lab_today")
        for challenge in c.get("challenges", []):
            groups[f"challenge:{challenge.slug}"] += challenge_event_items(
                challenge,
                challenge.calls,
                now=now,
                settings=settings,
                options=o,
                publisher=publisher,
            )
        groups["calls"] = [
            call_item(call, settings, o, publisher) for call in c.get("open_calls", [])
        ]
        for key, meta in self.index.feeds.items():
            chosen = newest_first(groups.get(key, []), limit)
            fg = feed_generator(meta, chosen, site, language)
            # Atom first: rss_bytes() points the feed's self link at the RSS file.
            self._write(meta.atom_save_as, atom_bytes(fg))
            self._write(meta.rss_save_as, rss_bytes(fg, meta))
            if meta.json_save_as:
                self._write(meta.json_save_as, json_feed(meta, chosen, site, language))
        writer.write_file(
            o["LAB_FEEDS_PAGE_SAVE_AS"],
            self.get_template("feeds"),
            c,
            relative_urls=settings["RELATIVE_URLS"],
            page_name="feeds",
            url=o["LAB_FEEDS_PAGE_URL"],
        )

    def _write(self, name: str, data: bytes) -> None:
        path = os.path.join(self.output_path, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
