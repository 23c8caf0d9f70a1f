"""The feeds generator: decides every feed in generate_context (so that pages
can link them in <head>), builds and writes them in generate_output."""

from __future__ import annotations

import logging
from collections import defaultdict

from pelican.generators import Generator

from lab_common import absolute_url
from lab_common.output import item_key, site_key, write_output

from .build import FeedMeta, atom_bytes, feed_generator, json_feed, rss_bytes
from .items import (
    FeedItem,
    Person,
    article_item,
    call_item,
    challenge_event_items,
    newest_first,
    order_fields,
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
            # The post's challenge and category; its authors' and tags' feeds
            # are found on their own pages and on the feeds page (a post
            # with many tags would otherwise carry a long list on every view).
            if getattr(article, "challenge", None):
                keys.append(f"challenge:{article.challenge.slug}")
            keys.append(f"category:{article.category.slug}")
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
            page_path=page_url,
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

    def lab_output_claims(self) -> list[tuple[str, str]]:
        """What generate_output will write, as (save_as, source) pairs, for
        lab_content's check that no two sources write one file."""
        claims = [
            (save_as, f"the {meta.key} feed")
            for meta in self.index.feeds.values()
            for save_as in (meta.atom_save_as, meta.rss_save_as, meta.json_save_as)
            if save_as
        ]
        page = self.options["LAB_FEEDS_PAGE_SAVE_AS"]
        return [*claims, (page, "the list of feeds (LAB_FEEDS_PAGE_SAVE_AS)")]

    def generate_output(self, writer):
        settings, o, c = self.settings, self.options, self.context
        limit = o["LAB_FEEDS_MAX_ITEMS"]
        site, language = settings["SITENAME"], settings["DEFAULT_LANG"]
        publisher = Person(site, absolute_url(settings["SITEURL"], ""))
        # Groups hold the posts themselves: a post's item (its body with
        # absolute links) costs far more than sorting, so it is made once,
        # and only for the feeds that are written.
        articles = c.get("articles", [])
        groups: dict[str, list] = defaultdict(list)
        groups["all"] = list(articles)
        for article in articles:
            groups[f"category:{article.category.slug}"].append(article)
            for tag in getattr(article, "tags", []):
                groups[f"tag:{tag.slug}"].append(article)
            for author in getattr(article, "authors", []):
                groups[f"author:{author.slug}"].append(article)
            if getattr(article, "challenge", None):
                groups[f"challenge:{article.challenge.slug}"].append(article)
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
        made: dict[int, FeedItem] = {}

        def item_of(entry) -> FeedItem:
            if isinstance(entry, FeedItem):
                return entry
            if id(entry) not in made:
                made[id(entry)] = article_item(entry, settings, o)
            return made[id(entry)]

        # A post's place in each of its feeds, worked out once, not per feed.
        order = {id(a): order_fields(a, settings, o) for a in articles}

        def fields(entry):
            found = order.get(id(entry))
            return found if found is not None else order_fields(entry, settings, o)

        for key, meta in self.index.feeds.items():
            chosen = newest_first(groups.get(key, []), limit, fields)
            feed = FeedFiles(meta, chosen, item_of, site, language)
            base = self._key(writer, chosen)
            for save_as, produce in feed.files():
                write_output(
                    writer,
                    save_as,
                    None if base is None else (base, meta, site, language),
                    produce,
                )
        writer.write_file(
            o["LAB_FEEDS_PAGE_SAVE_AS"],
            self.get_template("feeds"),
            c,
            relative_urls=settings["RELATIVE_URLS"],
            page_name="feeds",
            url=o["LAB_FEEDS_PAGE_URL"],
        )

    @staticmethod
    def _key(writer, chosen: list):
        """What a feed's files are made from, for lab_writer: the site as
        every page sees it and each chosen post in full (its links to other
        items are in the former); None when the writer cannot tell."""
        site = site_key(writer)
        keys = [
            entry if isinstance(entry, FeedItem) else item_key(writer, entry)
            for entry in chosen
        ]
        if site is None or None in keys:
            return None
        return (site, keys)


class FeedFiles:
    """The files of one feed (Atom, RSS, JSON Feed), each made only when
    asked for; Atom and RSS share one feedgen object, made once."""

    def __init__(self, meta: FeedMeta, chosen: list, item_of, site: str, language):
        self.meta, self.chosen, self.item_of = meta, chosen, item_of
        self.site, self.language = site, language
        self._items: list[FeedItem] | None = None
        self._generator = None

    def items(self) -> list[FeedItem]:
        if self._items is None:
            self._items = [self.item_of(entry) for entry in self.chosen]
        return self._items

    def generator(self):
        if self._generator is None:
            self._generator = feed_generator(
                self.meta, self.items(), self.site, self.language
            )
        return self._generator

    def files(self):
        meta = self.meta
        # Atom first: rss_bytes() points the feed's self link at the RSS file.
        yield meta.atom_save_as, lambda: atom_bytes(self.generator())
        yield meta.rss_save_as, lambda: rss_bytes(self.generator(), meta)
        if meta.json_save_as:
            yield (
                meta.json_save_as,
                lambda: json_feed(meta, self.items(), self.site, self.language),
            )
