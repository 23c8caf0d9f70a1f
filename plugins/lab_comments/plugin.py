"""lab_comments at build time: approved comments into the static pages.

Signals:
  initialized     merges the LAB_COMMENTS_* defaults into the settings
  get_generators  adds CommentsGenerator, which (after the articles are read)
                  reads content/comments/<post-slug>/<id>.yaml, checks every
                  file against lab_comments.schema, threads each post's
                  comments and attaches them; then writes each post's comment
                  feed and the endpoint's manifest. It writes no HTML page:
                  each comment's reply form is on its post's page.
Settings: see settings.DEFAULTS (plugins/README.md); a retired setting that a
site still sets (settings.RETIRED) is named in a warning.
Template variables:
  on every page  `lab_comments`: endpoint, policy_url, privacy_url, limits
                 (name, email, website, body_min, body_max), fields (honeypot,
                 loaded, sent), feed_name
  on each post   `article.comments` (top-level comments, each with `replies`
                 and `reply_anchor`, the id of its reply form: "reply-<id>"),
                 `article.comment_count`, `article.comments_open`,
                 `article.comments_closed_reason` ("" | "closed" | "expired"),
                 `article.comments_closes` (aware datetime or None),
                 `article.comments_feed_url` (None without comments)
Any malformed comment file stops the build with `path: field: reason` lines.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import posixpath
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pelican import signals
from pelican.generators import Generator

from lab_common import absolute_url, plain_text
from lab_content.generator import ContentValidationError
from lab_content.model import build_now

from . import schema
from .render import (
    BodyRenderer,
    Comment,
    build_comments,
    comments_feed,
    flatten,
    thread,
)
from .settings import DEFAULTS, RETIRED, comment_settings
from .store import atomic_write, read_published_tree

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1


class CommentValidationError(ContentValidationError):
    """A comment file is malformed: one `path: field: reason` per line, and
    the build stops (lab_content's log filter drops the traceback)."""


# -- pure core


def published_comments(
    items: Iterable[tuple[str, Any]], post_slugs: Iterable[str]
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Check (relative path, YAML data) pairs of comment files: each against
    the schema, its id against its file name, its post against its folder and
    the posts of the site. Returns the clean records by post and every
    problem as `path: field: reason`."""
    known = set(post_slugs)
    by_post: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    for path, data in items:
        folder, filename = posixpath.split(path)
        post_folder = posixpath.basename(folder)
        stem = filename.removesuffix(".yaml")
        clean, found = schema.validate_published(data)
        lines = [f"{path}: {field}: {reason}" for field, reason in found]
        if "id" in clean and clean["id"] != stem:
            lines.append(f"{path}: id: {clean['id']!r} does not match the file name")
        if "post" in clean and clean["post"] != post_folder:
            lines.append(
                f"{path}: post: {clean['post']!r} does not match the folder "
                f"{post_folder!r}"
            )
        if post_folder not in known:
            lines.append(
                f"{path}: post: there is no post with the slug {post_folder!r}"
            )
        if lines:
            problems += lines
            continue
        by_post.setdefault(post_folder, []).append(clean)
    return by_post, problems


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


def manifest_json(siteurl: str, posts: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The endpoint's view of the site, the same bytes for the same content."""
    data = {"version": MANIFEST_VERSION, "siteurl": siteurl, "posts": dict(posts)}
    text = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def post_folder_url(url: str) -> str:
    """The URL of the folder a post's page is in ("updates/2025/x/")."""
    return url if url.endswith("/") else posixpath.dirname(url) + "/"


# -- the generator


class CommentsGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = comment_settings(self.settings)
        self.now = build_now(self.settings)
        self.posts: list = []  # published and hidden posts
        self.manifest: dict[str, dict[str, Any]] = {}
        # One Markdown parser and one nh3 cleaner for every comment of the build.
        self.render_body = BodyRenderer()

    def generate_context(self):
        context = self.context
        siteurl = self.settings["SITEURL"].rstrip("/")
        self.posts = [*context.get("articles", []), *context.get("hidden_articles", [])]
        every_post = [*self.posts, *context.get("drafts", [])]
        root = Path(self.path) / self.options["LAB_COMMENTS_PATH"]
        items, problems = read_published_tree(root)
        by_post, found = published_comments(items, {p.slug for p in every_post})
        problems += found
        max_depth = self.options["LAB_COMMENTS_MAX_DEPTH"]
        folder = posixpath.basename(root.as_posix())
        for post in every_post:
            records = by_post.get(post.slug, [])
            comments = build_comments(
                records, self.settings["TIMEZONE"], self.render_body
            )
            top, thread_problems = thread(comments, max_depth)
            problems += [
                f"{folder}/{post.slug}/{comment_id}.yaml: {reason}"
                for comment_id, reason in thread_problems
            ]
            self._attach(post, top, comments)
        if problems:
            raise CommentValidationError(sorted(set(problems)))
        for post in sorted(self.posts, key=lambda p: p.slug):
            self.manifest[post.slug] = {
                "url": absolute_url(siteurl, post.url),
                "title": plain_text(post.title),
                "open": post.comments_open,
                "closes": schema.format_date(post.comments_closes)
                if post.comments_closes
                else None,
                "comments": sorted(c.id for c in flatten(post.comments)),
            }
        context["lab_comments"] = self._template_data()

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
        base_url = post_folder_url(post.url)
        feed_name = self.options["LAB_COMMENTS_FEED_NAME"]
        # Pelican already set `post.comments` to the front-matter value
        # ("open"/"closed"); the template gets the thread instead.
        post.comments = top
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
                folder = posixpath.dirname(post.save_as)
                self._write_feed(post, folder, flatten(post.comments), siteurl)
        # Replaced in one step: a running endpoint never reads half a manifest.
        path = Path(self.output_path) / self.options["LAB_COMMENTS_MANIFEST_SAVE_AS"]
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, manifest_json(siteurl, self.manifest), mode=0o644)

    def _write_feed(self, post, folder: str, comments: list[Comment], siteurl) -> None:
        feed = comments_feed(
            post_title=plain_text(post.title),
            post_url=absolute_url(siteurl, post.url),
            feed_url=absolute_url(siteurl, post.comments_feed_url),
            comments=comments,
            language=self.settings.get("DEFAULT_LANG", "en"),
            site_name=self.settings["SITENAME"],
        )
        name = posixpath.join(folder, self.options["LAB_COMMENTS_FEED_NAME"])
        self._write(name, feed.atom_str(pretty=True))

    def _write(self, name: str, data: bytes) -> None:
        path = os.path.join(self.output_path, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)


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
