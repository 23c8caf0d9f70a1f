"""lab_comments at build time: approved comments into the static pages.

Signals:
  initialized     merges the LAB_COMMENTS_* defaults into the settings
  get_generators  adds CommentsGenerator, which (after the articles are read)
                  reads content/comments/<post-slug>/<id>.yaml, checks every
                  file against lab_comments.schema, threads each post's
                  comments and attaches them; then writes each post's comment
                  feed, the endpoint's manifest and the shell of its answer
                  pages (comments_answer.html). A post with more comments
                  than LAB_COMMENTS_PER_PAGE shows the first page of them, and
                  the generator writes the others (<post>/comments/2/, ...,
                  template comments_page.html); each comment's reply form is
                  on the page that shows it.
  article_generator_preread  (connected by each CommentsGenerator to its
                  own build) starts the read-ahead worker as the first post
                  is read
Settings: see settings.DEFAULTS (plugins/README.md); a retired setting that a
site still sets (settings.RETIRED) is named in a warning. Pelican's content
cache settings govern the comments' cache too: with CACHE_CONTENT the build
keeps what it made of each comment file in CACHE_PATH/lab_comments.json, and
with LOAD_CONTENT_CACHE as well it reads again only the files that changed
(lab_comments.cache).
Template variables:
  on every page  `lab_comments`: endpoint, policy_url, privacy_url, limits
                 (name, email, website, body_min, body_max), fields (honeypot,
                 loaded, sent), feed_name
  on each post   `article.comments` (the top-level comments of its first
                 page, each with `replies` and `url`, its page and anchor),
                 `article.comment_pages` (CommentPage: number, comments,
                 first, last, url, save_as; none without comments),
                 `article.comment_count`, `article.comments_open`,
                 `article.comments_closed_reason` ("" | "closed" | "expired"),
                 `article.comments_closes` (aware datetime or None),
                 `article.comments_feed_url` (None without comments)
  on a page of comments (comments_page.html)  `article`, the post, and
                 `lab_comments_page`, the number of the page shown
Any malformed comment file stops the build with `path: field: reason` lines.
Each comment feed is written through lab_common.output.write_output, keyed by
everything it is made from, so a writer that knows the same feed is already
there (lab_writer) skips building it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import posixpath
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pelican import signals
from pelican.generators import Generator

from lab_common import absolute_url, csp, plain_text
from lab_common.dates import build_now
from lab_common.errors import ContentValidationError
from lab_common.fingerprint import digest_plain
from lab_common.output import (
    add_input_folder,
    item_key,
    note_output,
    set_item_input,
    write_output,
)
from lab_common.processes import Worker, can_fork, fork_worker

from . import answer, schema, store
from .cache import (
    CACHE_NAME,
    CachedFile,
    Reading,
    cache_identity,
    entries_ahead,
    load_cache,
    read_comments,
    save_cache,
)
from .render import (
    BodyRenderer,
    Comment,
    CommentPage,
    build_comments,
    comments_feed,
    page_threads,
    paginate,
    thread,
)
from .settings import DEFAULTS, RETIRED, comment_settings
from .store import atomic_write

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
# A post's pages of comments after the first, beside its page.
COMMENT_PAGE = "comments/{number}/"


class CommentValidationError(ContentValidationError):
    """A comment file is malformed: one `path: field: reason` per line, and
    the build stops (lab_content's log filter drops the traceback)."""


# -- pure core


def comments_state(
    setting: str, date: dt.datetime, now: dt.datetime, close_after_days: int
) -> tuple[bool, str, dt.datetime | None]:
    """(open, reason closed: "" | "closed" | "expired", when they close)."""
    if setting == "closed":
        return False, "closed", None
    closes = None
    if close_after_days:
        closes = date + dt.timedelta(days=close_after_days)
        if now >= closes:
            return False, "expired", closes
    return True, "", closes


def manifest_json(
    siteurl: str,
    posts: Mapping[str, Mapping[str, Any]],
    staff: list[str],
    challenges: list[str] = (),
) -> bytes:
    """The endpoint's view of the site, the same bytes for the same content:
    the published posts that take comments, the staff names that readers'
    names are compared with (public already, on the author pages) and the
    challenges' slugs (the ones a reader may follow by email)."""
    data = {
        "version": MANIFEST_VERSION,
        "siteurl": siteurl,
        "posts": dict(posts),
        "staff": staff,
        "challenges": sorted(challenges),
    }
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# How much of a reply's text the manifest carries for the reply email.
REPLY_TEXT_CHARS = 300


def manifest_replies(
    siteurl: str, records: list[Mapping[str, Any]], comments: list[Comment]
) -> dict[str, dict[str, str]]:
    """The published replies of a post, by id: the comment each answers,
    the replier's name, the start of the text and the reply's address (what
    the endpoint's reply email says; all shown on the post's page already)."""
    urls = {comment.id: comment.url for comment in comments}
    replies = {}
    for record in records:
        if not record.get("reply_to") or record["id"] not in urls:
            continue
        # The text of the body as the page shows it (records keep it
        # rendered: cache.py).
        words = plain_text(str(record["body_html"]))
        replies[record["id"]] = {
            "to": record["reply_to"],
            "name": record["name"],
            "text": words[:REPLY_TEXT_CHARS],
            "url": absolute_url(siteurl, urls[record["id"]]),
        }
    return dict(sorted(replies.items()))


def post_folder_url(url: str) -> str:
    """The URL of the folder a post's page is in ("updates/2025/x/")."""
    return url if url.endswith("/") else posixpath.dirname(url) + "/"


def comment_pages(
    top: list[Comment], per_page: int, post_url: str, post_save_as: str
) -> list[CommentPage]:
    """A post's pages of comments (none without comments): the first on the
    post's own page, the others at COMMENT_PAGE beside it. Sets each
    comment's `url`, the page that shows it and its anchor."""
    pages = []
    shown = 0
    folder = post_folder_url(post_url)
    for number, members in enumerate(paginate(top, per_page), start=1):
        if number == 1:
            url, save_as = post_url, ""
        else:
            path = COMMENT_PAGE.format(number=number)
            url = folder + path
            save_as = posixpath.join(
                posixpath.dirname(post_save_as), path, "index.html"
            )
        for comment in members:
            comment.url = f"{url}#{comment.anchor}"
        pages.append(
            CommentPage(
                number=number,
                comments=page_threads(members),
                first=shown + 1,
                last=shown + len(members),
                url=url,
                save_as=save_as,
            )
        )
        shown += len(members)
    return pages


def follow_address(endpoint: str) -> str:
    """The endpoint's follow address: /follow beside its /comments (where
    lab_comments.follow takes the form), under the same prefix if any."""
    parts = urlsplit(endpoint)
    prefix = parts.path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{prefix}/follow"


# -- the generator


class CommentsGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = comment_settings(self.settings)
        self.now = build_now(self.settings)
        # Pages post comments to the endpoint: the policy must allow it.
        csp.allow(self.context, "form-action", self.options["LAB_COMMENTS_ENDPOINT"])
        if self.options["LAB_COMMENTS_FOLLOW"]:
            # The follow form (feeds.html) posts to the endpoint's /follow.
            follow_url = follow_address(self.options["LAB_COMMENTS_ENDPOINT"])
            csp.allow(self.context, "form-action", follow_url)
            self.context["lab_follow"] = {
                "url": follow_url,
                "page": self.options["LAB_COMMENTS_FOLLOW_URL"],
            }
        self.posts: list = []  # published and hidden posts
        self.manifest: dict[str, dict[str, Any]] = {}
        # Every comment of each post (by slug), oldest first: the feeds and
        # the manifest take them all, not only those of the first page.
        self.comments: dict[str, list[Comment]] = {}
        self._renderer: BodyRenderer | None = None
        # What this build did, for the debug log and the tests: comment files
        # found, taken from the cache, read (parsed and checked); bodies
        # rendered; the cache's state ("off", "loaded", "none yet", "ignored:
        # <why>") and whether it was written; feeds written, and feeds the
        # writer skipped because it had them from the same key.
        self.stats: dict[str, Any] = {
            "files": 0, "cached": 0, "read": 0, "rendered": 0,
            "cache": "off", "cache_written": False,
            "feeds_written": 0, "feeds_skipped": 0, "read_ahead": 0,
            "ahead_taken": 0,
        }  # fmt: skip
        self._ahead: Worker | None = None
        # The read-ahead starts when Pelican starts reading posts, never here:
        # a failure in any generator's set-up would leave a worker behind.
        # (A weak reference to the method: the receiver goes with the
        # generator.)
        signals.article_generator_preread.connect(self._read_ahead)

    def _read_ahead(self, articles) -> None:
        """In a full build of a site with many comments, a worker process
        reads, checks and renders them while the build reads the posts
        (lab_content's LAB_READ_PROCESSES = 1 keeps it all in this process).
        Sent before each post is read; the first post of this build starts it."""
        if articles.context is not self.context:
            return  # another build's posts (a generator kept after its build)
        signals.article_generator_preread.disconnect(self._read_ahead)
        if (
            self.settings.get("CACHE_CONTENT")
            or self.settings.get("LAB_READ_PROCESSES", 0) == 1
        ):
            return
        root = Path(self.path) / self.options["LAB_COMMENTS_PATH"]
        found, _ = store.published_files(root)
        if len(found) < self.options["LAB_COMMENTS_READ_AHEAD_MIN_FILES"]:
            return
        if can_fork():  # else it says why, and the build reads them itself
            self._ahead = fork_worker(lambda: entries_ahead(found, self._render))

    def _take_ahead(self) -> dict[str, CachedFile]:
        """The worker's entries (files changed since it read them, or that it
        could not read, are read by the build as if they were not cached)."""
        signals.article_generator_preread.disconnect(self._read_ahead)
        worker, self._ahead = self._ahead, None
        if worker is None:
            return {}
        ok, data = worker.wait()
        if not ok:
            logger.debug("lab_comments: the reading worker failed: %s", data)
            return {}
        # The bytes come from our own forked worker, never from outside.
        entries = pickle.loads(data)  # noqa: S301
        self.stats["read_ahead"] = len(entries)
        return entries

    def generate_context(self):
        context = self.context
        siteurl = self.settings["SITEURL"].rstrip("/")
        self.posts = [*context.get("articles", []), *context.get("hidden_articles", [])]
        every_post = [*self.posts, *context.get("drafts", [])]
        root = Path(self.path) / self.options["LAB_COMMENTS_PATH"]
        cached, identity = self._load_cache(root)
        ahead = self._take_ahead()
        looked_ns = time.time_ns()
        reading = read_comments(
            root, {**ahead, **cached}, {p.slug for p in every_post}, self._render
        )
        from_worker = sum(1 for k, v in reading.files.items() if ahead.get(k) is v)
        self.stats["ahead_taken"] = from_worker
        self.stats.update(
            files=reading.cached + reading.read,
            # What the worker read this build counts as read, not cached.
            cached=reading.cached - from_worker,
            read=reading.read + from_worker,
        )
        logger.debug(
            "lab_comments: %d comment files, %d from the cache (%s), %d read",
            self.stats["files"],
            reading.cached,
            self.stats["cache"],
            reading.read,
        )
        problems = list(reading.problems)
        by_post: dict[str, list[dict[str, Any]]] = {}
        for file in reading.files.values():
            by_post.setdefault(file.record["post"], []).append(file.record)
        max_depth = self.options["LAB_COMMENTS_MAX_DEPTH"]
        folder = posixpath.basename(root.as_posix())
        # The comment files reach pages only through each post's thread.
        add_input_folder(context, root)
        for post in every_post:
            records = by_post.get(post.slug, [])
            # What the post's thread is made from, for the writer's keys: the
            # records (and the settings) decide it, and a digest of them costs
            # far less than one of the thread of objects.
            key = digest_plain(
                [sorted(r.items()) for r in sorted(records, key=lambda r: r["id"])]
            )
            for attribute in ("comments", "comment_pages"):
                set_item_input(post, attribute, key)
            comments = build_comments(records, self.settings["TIMEZONE"], self._render)
            top, thread_problems = thread(comments, max_depth)
            problems += [
                f"{folder}/{post.slug}/{comment_id}.yaml: {reason}"
                for comment_id, reason in thread_problems
            ]
            self._attach(post, top, comments)
        if problems:
            raise CommentValidationError(sorted(set(problems)))
        # Published posts only: a hidden post's address and comments stay out
        # of this public file (it takes no comments), as does every title.
        for post in sorted(context.get("articles", []), key=lambda p: p.slug):
            self.manifest[post.slug] = {
                "url": absolute_url(siteurl, post.url),
                "open": post.comments_open,
                "closes": schema.format_date(post.comments_closes)
                if post.comments_closes
                else None,
                "comments": sorted(c.id for c in self.comments[post.slug]),
            }
            if replies := manifest_replies(
                siteurl, by_post.get(post.slug, []), self.comments[post.slug]
            ):
                # What a reply email says (endpoint replies.py): public
                # already, on the post's page.
                self.manifest[post.slug].update(
                    title=plain_text(post.title), replies=replies
                )
        context["lab_comments"] = self._template_data()
        # Only now that every file has passed every check.
        self._save_cache(identity, cached, reading, looked_ns)

    def _render(self, text: str) -> str:
        if self._renderer is None:
            # One Markdown parser and one nh3 cleaner for every comment this
            # build renders; none at all when every comment is cached.
            self._renderer = BodyRenderer()
        self.stats["rendered"] += 1
        return self._renderer(text)

    def _cache_path(self) -> Path | None:
        if not self.settings.get("CACHE_CONTENT"):
            return None
        return Path(self.settings["CACHE_PATH"]) / CACHE_NAME

    def _load_cache(self, root: Path) -> tuple[dict[str, CachedFile], str]:
        """What an earlier build kept (nothing unless Pelican's cache is both
        kept and loaded), and the identity of this build's cache ("" when
        none is kept)."""
        path = self._cache_path()
        if path is None:
            return {}, ""
        identity = cache_identity(root)
        if not self.settings.get("LOAD_CONTENT_CACHE"):
            self.stats["cache"] = "not loaded (LOAD_CONTENT_CACHE is off)"
            return {}, identity
        cached, self.stats["cache"] = load_cache(path, identity)
        return cached, identity

    def _save_cache(
        self,
        identity: str,
        cached: Mapping[str, CachedFile],
        reading: Reading,
        looked_ns: int,
    ) -> None:
        path = self._cache_path()
        # Nothing read and nothing gone: the cache on disk is this build's
        # already, and not rewriting it spares the build a file and an fsync.
        if path is None or (not reading.read and cached.keys() == reading.files.keys()):
            return
        try:
            save_cache(path, identity, reading.files, looked_ns)
        except OSError as exc:
            logger.warning("lab_comments: cannot write the cache %s: %s", path, exc)
            return
        self.stats["cache_written"] = True

    def _attach(self, post, top: list[Comment], comments: list[Comment]) -> None:
        date = post.date
        if date.tzinfo is None:
            date = date.replace(tzinfo=self.now.tzinfo)
        is_open, reason, closes = comments_state(
            post.metadata.get("comments", "open"),
            date,
            self.now,
            self.options["LAB_COMMENTS_CLOSE_AFTER_DAYS"],
        )
        if getattr(post, "status", "") == "hidden":
            # Left out of the public manifest, so the endpoint takes nothing
            # for it: its page says comments are closed and offers no form.
            is_open, reason, closes = False, "closed", None
        base_url = post_folder_url(post.url)
        feed_name = self.options["LAB_COMMENTS_FEED_NAME"]
        pages = comment_pages(
            top, self.options["LAB_COMMENTS_PER_PAGE"], post.url, post.save_as
        )
        self.comments[post.slug] = comments
        # Pelican already set `post.comments` to the front-matter value
        # ("open"/"closed"); the template gets the first page's threads.
        post.comments = pages[0].comments if pages else []
        post.comment_pages = pages
        post.comment_count = len(comments)
        post.comments_open = is_open
        post.comments_closed_reason = reason
        post.comments_closes = closes
        post.comments_feed_url = (
            base_url + feed_name if comments and feed_name else None
        )

    def _template_data(self) -> dict[str, Any]:
        pages = {
            p.slug: p
            for p in [
                *self.context.get("pages", []),
                *self.context.get("hidden_pages", []),
            ]
        }
        policy = pages.get(self.options["LAB_COMMENTS_POLICY_SLUG"])
        privacy = pages.get(self.options["LAB_COMMENTS_PRIVACY_SLUG"])
        return {
            "endpoint": self.options["LAB_COMMENTS_ENDPOINT"],
            "policy_url": policy.url if policy else None,
            "privacy_url": privacy.url if privacy else None,
            "feed_name": self.options["LAB_COMMENTS_FEED_NAME"],
            "max_depth": self.options["LAB_COMMENTS_MAX_DEPTH"],
            "reply_emails": self.options["LAB_COMMENTS_REPLY_EMAILS"],
            "limits": {
                "name": schema.NAME_MAX,
                "email": schema.EMAIL_MAX,
                "website": schema.WEBSITE_MAX,
                "body_min": schema.BODY_MIN,
                "body_max": schema.BODY_MAX,
            },
            "fields": {
                "honeypot": schema.HONEYPOT,
                "loaded": schema.LOADED,
                "sent": schema.SENT,
            },
        }

    def generate_output(self, writer):
        siteurl = self.settings["SITEURL"].rstrip("/")
        for post in self.posts:
            if post.comments_feed_url:
                self._write_feed(writer, post, siteurl)
            self._write_pages(writer, post)
        # Replaced in one step: a running endpoint never reads half a manifest.
        save_as = self.options["LAB_COMMENTS_MANIFEST_SAVE_AS"]
        path = Path(self.output_path) / save_as
        path.parent.mkdir(parents=True, exist_ok=True)
        staff = sorted(
            {
                profile["name"]
                for profile in (self.context.get("lab_authors") or {}).values()
                if profile.get("name")
            }
        )
        challenges = [
            str(challenge.slug) for challenge in self.context.get("challenges") or []
        ]
        atomic_write(
            path, manifest_json(siteurl, self.manifest, staff, challenges), mode=0o644
        )
        note_output(writer, save_as)
        self._write_answer_shell(writer)
        if self.options["LAB_COMMENTS_FOLLOW"]:
            writer.write_file(
                self.options["LAB_COMMENTS_FOLLOW_SAVE_AS"],
                self.get_template("follow"),
                self.context,
                relative_urls=self.settings["RELATIVE_URLS"],
                page_name="follow",
                url=self.options["LAB_COMMENTS_FOLLOW_URL"],
            )

    def _write_answer_shell(self, writer) -> None:
        """The page the endpoint answers refused comments in (answer.py): the
        site's layout with absolute links (the endpoint serves it from its
        own address), under a policy that lets that page load the site's
        stylesheet and images and post its form back to the endpoint."""
        save_as = self.options["LAB_COMMENTS_ANSWER_SAVE_AS"]
        if not save_as:
            return
        siteurl = self.settings["SITEURL"]
        policy = csp.Policy()
        policy.directives = {
            name: list(sources)
            for name, sources in csp.policy(self.context).directives.items()
        }
        for directive in ("style-src", "img-src", "font-src", "form-action"):
            policy.allow(directive, csp.origin(siteurl))
        writer.write_file(
            save_as,
            self.get_template("comments_answer"),
            self.context,
            relative_urls=False,
            # Its text (a plain value lab_writer can key the page on).
            LAB_CSP=str(policy),
            # Not a page of the site: no social metadata (and, not being
            # .html, in no sitemap, search index or check of the site's pages).
            lab_social=None,
            lab_comments_answer_title=answer.SHELL_TITLE,
            lab_comments_answer_content=answer.SHELL_CONTENT,
        )

    def lab_output_claims(self) -> list[tuple[str, str]]:
        """What generate_output will write, as (save_as, source) pairs, for
        lab_content's check that no two sources write one file."""
        feeds = [
            (
                self._feed_save_as(post),
                f"the comments feed of {post.relative_source_path}",
            )
            for post in self.posts
            if post.comments_feed_url
        ]
        pages = [
            (
                page.save_as,
                f"page {page.number} of the comments of {post.relative_source_path}",
            )
            for post in self.posts
            for page in post.comment_pages[1:]
        ]
        manifest = self.options["LAB_COMMENTS_MANIFEST_SAVE_AS"]
        shell = self.options["LAB_COMMENTS_ANSWER_SAVE_AS"]
        claims = [*feeds, *pages, (manifest, "the comments manifest")]
        if shell:
            claims.append((shell, "the comments endpoint's answer page"))
        if self.options["LAB_COMMENTS_FOLLOW"]:
            follow = self.options["LAB_COMMENTS_FOLLOW_SAVE_AS"]
            claims.append((follow, "the follow-by-email page"))
        return claims

    def _write_pages(self, writer, post) -> None:
        """The post's pages of comments after the first, through the writer
        like any page (so lab_writer keys them on the post, its comments
        included, and removes one a later build no longer writes; the
        sitemap lists those of published posts)."""
        if len(post.comment_pages) < 2:
            return
        template = self.get_template("comments_page")
        for page in post.comment_pages[1:]:
            writer.write_file(
                page.save_as,
                template,
                self.context,
                relative_urls=self.settings["RELATIVE_URLS"],
                article=post,
                lab_comments_page=page.number,
                url=page.url,
            )

    def _feed_save_as(self, post) -> str:
        """Where a post's comment feed is written: beside its page."""
        return posixpath.join(
            posixpath.dirname(post.save_as), self.options["LAB_COMMENTS_FEED_NAME"]
        )

    def _write_feed(self, writer, post, siteurl: str) -> None:
        def feed():
            return comments_feed(
                post_title=plain_text(post.title),
                post_url=absolute_url(siteurl, post.url),
                feed_url=absolute_url(siteurl, post.comments_feed_url),
                comments=self.comments[post.slug],
                language=self.settings.get("DEFAULT_LANG", "en"),
                site_name=self.settings["SITENAME"],
                limit=self.options["LAB_COMMENTS_FEED_MAX"],
                link_of=lambda comment: absolute_url(siteurl, comment.url),
            )

        save_as = self._feed_save_as(post)
        # The key: the post in full as lab_writer knows it (title, address,
        # comments; the settings are the writer's own part), so an unchanged
        # feed costs nothing; else the feed itself, plain values only. Either
        # way the XML is made only if the writer has no file made from the same.
        known = item_key(writer, post)
        if known is not None:
            key, produce = ("comment feed", known), lambda: feed().atom()
        else:
            built = feed()
            key, produce = built, built.atom
        if write_output(writer, save_as, key, produce):
            self.stats["feeds_written"] += 1
        else:
            self.stats["feeds_skipped"] += 1


def merge_settings(pelican) -> None:
    checked = comment_settings(pelican.settings)
    for key in DEFAULTS:
        pelican.settings.setdefault(key, checked[key])
    for key, why in RETIRED.items():
        if key in pelican.settings:
            logger.warning("%s no longer has any effect: %s", key, why)


def get_generators(pelican):
    return CommentsGenerator


def register() -> None:
    signals.initialized.connect(merge_settings)
    signals.get_generators.connect(get_generators)
