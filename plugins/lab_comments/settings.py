"""Build settings of the lab_comments plugin: the defaults in one place,
checked once. (The endpoint's settings are environment variables: see
endpoint.ENVIRONMENT.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The one settings error of every plugin (a ValueError naming the key).
from lab_common.settings import SettingsError

DEFAULTS: dict[str, Any] = {
    # Folder under PATH with the approved comments: <folder>/<post-slug>/<id>.yaml.
    "LAB_COMMENTS_PATH": "comments",
    # Where the form sends comments: the endpoint's POST /comments.
    "LAB_COMMENTS_ENDPOINT": "http://127.0.0.1:8001/comments",
    # True: the comment form shows the box "Email me when someone replies".
    # Turn it on only when the endpoint sends email to readers (the SMTP
    # settings and LAB_COMMENTS_PUBLIC_URL): a box that nobody acts on
    # promises an email the reader never gets.
    "LAB_COMMENTS_REPLY_EMAILS": False,
    # True: challenge pages and the feeds page link to a page with a form
    # that asks the endpoint (/follow beside its /comments) to email a
    # challenge's news; the endpoint needs LAB_COMMENTS_FOLLOW=on.
    "LAB_COMMENTS_FOLLOW": False,
    # The page with that form (template follow.html).
    "LAB_COMMENTS_FOLLOW_URL": "follow/",
    "LAB_COMMENTS_FOLLOW_SAVE_AS": "follow/index.html",
    # Levels of replies shown under a top-level comment; a deeper reply is
    # shown at the last level, saying whom it answers. 0 shows a flat list.
    "LAB_COMMENTS_MAX_DEPTH": 3,
    # Close comments this many days after a post's date; 0 never closes them
    # (a post can still close its own with `comments: closed`).
    "LAB_COMMENTS_CLOSE_AFTER_DAYS": 0,
    # File name of a post's Atom comment feed, beside its page; "" writes none.
    "LAB_COMMENTS_FEED_NAME": "comments.atom.xml",
    # The newest comments a post's feed holds, so that its size is bounded
    # however many comments the post has.
    "LAB_COMMENTS_FEED_MAX": 50,
    # Comments on one page: the post's page shows the first (oldest) ones,
    # and pages of their own beside it (<post>/comments/2/, ...) the rest, so
    # that no page grows with the number of comments. A thread stays on one
    # page unless it alone is longer than a page.
    "LAB_COMMENTS_PER_PAGE": 20,
    # The manifest the endpoint reads (posts that take comments, approved
    # comment ids), relative to the output folder.
    "LAB_COMMENTS_MANIFEST_SAVE_AS": "comments-manifest.json",
    # The page, in the site's layout, that the endpoint answers a refused
    # comment in (it fills in the marked title and content: answer.py);
    # relative to the output folder. Not named .html: it is no page of the
    # site (no sitemap, search index or site check takes it). "" writes none
    # (the endpoint then answers with plain pages).
    "LAB_COMMENTS_ANSWER_SAVE_AS": "comments-answer.shell",
    # Slugs of the pages the form links to (comments policy, privacy notice).
    "LAB_COMMENTS_POLICY_SLUG": "comments-policy",
    "LAB_COMMENTS_PRIVACY_SLUG": "privacy",
    # In a build without Pelican's content cache, a worker process reads,
    # checks and renders the comments while the posts are read, when there
    # are at least this many comment files (lab_content's LAB_READ_PROCESSES
    # = 1 turns workers off).
    "LAB_COMMENTS_READ_AHEAD_MIN_FILES": 200,
}


# Settings an earlier version read, now without effect: named in a warning so
# that a site that still sets one learns why nothing changes.
RETIRED = {
    "LAB_COMMENTS_REPLY_PATH": "each comment's reply form is now on its post's "
    "page (#reply-<id>); there are no reply pages",
}


def comment_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULTS overlaid with the site's values, each checked."""
    merged: dict[str, Any] = {}
    problems = []
    for key, default in DEFAULTS.items():
        value = settings.get(key, default)
        # A bool is an int to isinstance: only a bool setting takes one.
        wrong_bool = isinstance(value, bool) != isinstance(default, bool)
        if wrong_bool or not isinstance(value, type(default)):
            problems.append(
                f"{key}: expected {type(default).__name__}, got {type(value).__name__}"
            )
            continue
        merged[key] = value
    if not problems:
        if merged["LAB_COMMENTS_MAX_DEPTH"] < 0:
            problems.append("LAB_COMMENTS_MAX_DEPTH: must be 0 or more")
        if merged["LAB_COMMENTS_CLOSE_AFTER_DAYS"] < 0:
            problems.append("LAB_COMMENTS_CLOSE_AFTER_DAYS: must be 0 or more")
        for key in ("LAB_COMMENTS_FEED_MAX", "LAB_COMMENTS_PER_PAGE"):
            if merged[key] < 1:
                problems.append(f"{key}: must be 1 or more, got {merged[key]}")
        if not merged["LAB_COMMENTS_ENDPOINT"].startswith(("https://", "http://")):
            problems.append("LAB_COMMENTS_ENDPOINT: must be an http(s) URL")
        if not merged["LAB_COMMENTS_MANIFEST_SAVE_AS"]:
            problems.append("LAB_COMMENTS_MANIFEST_SAVE_AS: must not be empty")
    if problems:
        raise SettingsError("; ".join(problems))
    return merged
