"""The comments endpoint: a small WSGI application that takes the comment
form and puts each comment in the private moderation queue.

    POST /comments   application/x-www-form-urlencoded, the fields of
                     lab_comments.schema; answers 303 See Other back to the
                     post (#comment-pending), or, with the status below, a
                     page in the site's layout (the build's shell, answer.py)
                     that says what is wrong in the form's words and gives
                     the reader's form back to correct and send again
    OPTIONS /comments  CORS preflight, for the site's own origin only
    POST /forge-hook  the forge's signed webhook: a pull request of ours
                     merged or closed settles its comment (hooks.py;
                     off, 404, without LAB_COMMENTS_HOOK_SECRET)
    GET|POST /subscriptions/confirm?t=…, /unsubscribe?t=…
                     readers' email links (replies.py, subscriptions.py;
                     404 without LAB_COMMENTS_PUBLIC_URL): a GET shows a
                     page with a button, a POST (the button, or a mail
                     app's one-click List-Unsubscribe=One-Click) acts
    GET /health      200 "ok", or 503 and a one-line reason: the queue is
                     full or cannot be written, the manifest is missing or
                     malformed (for a process supervisor or monitoring);
                     with delivery by pull request, a second line gives the
                     backlog ("delivery: 2 to deliver, oldest 3 min"), and
                     says "late" past LAB_COMMENTS_DELIVERY_LATE_SECONDS
                     while staying 200 (comments are still taken and kept)

Refusals: unknown, repeated, missing or over-long fields, a name with a
character that cannot be seen (lab_comments.names), an unknown post (hidden
posts are not in the manifest) or a reply to a comment not on that post (400);
comments closed (403); a body over 64 KiB (413, not read); no Content-Length
(411); another content type (415); another method (405, with Allow); a foreign
Origin (403); too many submissions from one client, an IPv4 address or an
IPv6 /64 (429, with Retry-After; LAB_COMMENTS_RATE_LIMIT per
LAB_COMMENTS_RATE_WINDOW, at most LAB_COMMENTS_RATE_CLIENTS clients tracked,
least recently seen forgotten first: limits.py); too many comments on one
update in the last hour from everyone (429, with Retry-After;
LAB_COMMENTS_POST_HOURLY); comments paused (503, with Retry-After, a page
that tells the reader their text is still in the form): the queue holds
LAB_COMMENTS_MAX_PENDING comments or LAB_COMMENTS_MAX_PENDING_BYTES bytes, or
writing to it fails with a full disk or quota or a read-only or forbidden
folder (nothing half-written is left; logged once until it works again); the
manifest is missing (503). A
filled honeypot, a form sent less than LAB_COMMENTS_MIN_SECONDS after its page
loaded (when the page's script stamped both times) and a duplicate of a
pending comment are answered with the same 303 as a success, and store
nothing; they take as long to answer as a comment that is stored
(EqualAnswers), so that a program cannot tell them apart by the clock either.
No answer carries a stack trace or a file path.

A body is rendered as the build renders it (render.py) before it is queued;
one beyond its bounds (nested too deeply, too many parts, too much HTML) is
refused with 400 and the reason.

It reads only the manifest the build writes (which posts take comments, the
ids of approved comments) and writes only to the queue; `serve` may fetch the
manifest from the live site (fetch.py). With LAB_COMMENTS_DELIVERY=pull-request
a new comment also gets an outbox entry in the queue folder, and a worker
thread delivers it to the site's repository as a pull request
(lab_comments.pulls; docs/delivery.md). It never imports Pelican. Settings
are the environment variables in ENVIRONMENT; serve it with `python -m
lab_comments serve` (waitress; deploy/ and docs/deploy.md for a server). A
queue folder it cannot write to, or an unreadable key, stops it at start
with a StoreError of one line; a bad setting with a ConfigError. Forwarding
headers (X-Forwarded-For, Forwarded, X-Real-IP) are believed only from
LAB_COMMENTS_TRUSTED_PROXY (by waitress); without it the first request that
carries one logs a warning.

With email set up (LAB_COMMENTS_SMTP_HOST and the settings after it), a
stored comment wakes the moderators' digest (digest.py), in memory only: the
answer never waits for the mail server.
"""

from __future__ import annotations

import datetime as dt
import html
import ipaddress
import json
import logging
import os
import queue
import secrets
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from . import answer, delivery, follow, hooks, pulls, replies, schema
from .digest import DigestSettings, Notifier
from .follow import Follow, FollowSettings
from .limits import (
    QUEUE_TROUBLE,
    PendingCount,
    RateLimiter,
    client_key,
    forwarding_headers,
    probe_write,
)
from .mail import MailSettings, parse_addresses
from .moderation import moderation_lock
from .render import body_problem
from .replies import ReaderMail, ReplyNotifier
from .store import TEMP_PREFIX, Queue, StoreError, atomic_write, dump_yaml
from .subscriptions import (
    CONFIRM,
    CONFIRM_PATH,
    LINK_FIELDS_MAX,
    UNSUBSCRIBE,
    UNSUBSCRIBE_PATH,
    drop_unsubscribed,
    link_fields,
    target,
    token_of,
    verify,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every environment variable the endpoint reads: (default, meaning).
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "LAB_COMMENTS_QUEUE": (
        str(REPO_ROOT / "comments-queue"),
        "folder of the private pending queue (outside content/, ignored by git)",
    ),
    "LAB_COMMENTS_MANIFEST": (
        str(REPO_ROOT / "output" / "comments-manifest.json"),
        "the manifest the build writes (LAB_COMMENTS_MANIFEST_SAVE_AS in output/)",
    ),
    "LAB_COMMENTS_ANSWER_SHELL": (
        "",
        "the page in the site's layout that refused comments are answered in "
        "(LAB_COMMENTS_ANSWER_SAVE_AS in output/); empty: comments-answer.shell "
        "beside the manifest; missing: plain pages",
    ),
    "LAB_COMMENTS_SECRET": (
        "",
        "key of the keyed hashes (client and email addresses); empty: a random "
        "key kept in <queue>/.secret",
    ),
    "LAB_COMMENTS_ALLOWED_ORIGINS": (
        "",
        "comma-separated origins allowed to post (https://lab.example.org); "
        "empty: the origin of the site named in the manifest",
    ),
    "LAB_COMMENTS_RATE_LIMIT": (
        "5",
        "submissions allowed per client per window (a client: an IPv4 address, "
        "or an IPv6 address's /64)",
    ),
    "LAB_COMMENTS_RATE_WINDOW": ("600", "the rate-limit window, in seconds"),
    "LAB_COMMENTS_RATE_CLIENTS": (
        "20000",
        "clients the rate limit keeps track of; beyond this the least recently "
        "seen is forgotten",
    ),
    "LAB_COMMENTS_POST_HOURLY": (
        "30",
        "comments taken on one update in any hour, from everyone together",
    ),
    "LAB_COMMENTS_MAX_PENDING": (
        "5000",
        "pending comments beyond which new ones are paused (503) until "
        "moderators catch up",
    ),
    "LAB_COMMENTS_MAX_PENDING_BYTES": (
        str(50 * 1024 * 1024),
        "total size of the pending comment files beyond which new ones are "
        "paused (503)",
    ),
    "LAB_COMMENTS_TRUSTED_PROXY": (
        "",
        "address of the reverse proxy whose X-Forwarded-For gives the reader's "
        'address ("*": any); empty: none, and forwarding headers are ignored '
        "(with a warning logged once)",
    ),
    "LAB_COMMENTS_MIN_SECONDS": (
        "3",
        "a form sent sooner than this after its page loaded is dropped",
    ),
    "LAB_COMMENTS_PENDING_DAYS": (
        "30",
        "pending comments (with their email address) are deleted after this",
    ),
    "LAB_COMMENTS_SENDER_DAYS": (
        "365",
        "keyed hashes of email addresses are deleted this long after the last "
        "approval or rejection of one of their comments",
    ),
    "LAB_COMMENTS_MIN_ANSWER_MS": (
        "0",
        "every 303 answer takes at least this long (milliseconds); a dropped or "
        "duplicate submission always takes as long as a recent stored one",
    ),
    # -- delivery by pull request (lab_comments.pulls; docs/delivery.md)
    "LAB_COMMENTS_DELIVERY": (
        "queue",
        "queue: moderators use the commands; pull-request: each comment is "
        "also delivered as a pull request on the site's repository",
    ),
    "LAB_COMMENTS_GIT_REMOTE": (
        "",
        "the site repository's git URL (https://, ssh, file:// or a path; no "
        "credentials in it)",
    ),
    "LAB_COMMENTS_GIT_BASE": ("main", "the branch pull requests are opened against"),
    "LAB_COMMENTS_GIT_CONTENT": (
        "content/comments",
        "folder of the published comments in the repository",
    ),
    "LAB_COMMENTS_GIT_NAME": ("Lab comments", "author and committer name"),
    "LAB_COMMENTS_GIT_EMAIL": ("comments@lab.invalid", "author and committer email"),
    "LAB_COMMENTS_GIT_USER": (
        "x-access-token",
        "user name sent with the token to an https remote",
    ),
    "LAB_COMMENTS_FORGE_API": (
        "",
        "the forge's API (https://api.github.com, https://codeberg.org/api/v1)",
    ),
    "LAB_COMMENTS_FORGE_TOKEN": (
        "",
        "the forge token (contents and pull requests, read and write, on the one "
        "repository); never logged",
    ),
    "LAB_COMMENTS_FORGE_TOKEN_FILE": (
        "",
        "a file holding the token instead (e.g. a systemd credential)",
    ),
    "LAB_COMMENTS_PULL_LABEL": (
        "comment",
        "label put on each pull request (empty: none)",
    ),
    "LAB_COMMENTS_FORGE_TIMEOUT": ("10", "seconds a forge API call may take"),
    "LAB_COMMENTS_GIT_TIMEOUT": ("120", "seconds a git command may take"),
    "LAB_COMMENTS_RETRY_SECONDS": (
        "30",
        "wait before the first retry of a failed delivery; doubled each time",
    ),
    "LAB_COMMENTS_RETRY_MAX_SECONDS": ("3600", "the longest wait between retries"),
    "LAB_COMMENTS_PULL_CHECK_SECONDS": (
        "600",
        "how often opened pull requests are checked for a merge or close (the "
        "webhook's fallback)",
    ),
    "LAB_COMMENTS_DELIVERY_LATE_SECONDS": (
        "3600",
        "/health says 'late' when a comment has waited this long to be delivered",
    ),
    # -- the forge's webhook (lab_comments.hooks)
    "LAB_COMMENTS_HOOK_SECRET": (
        "",
        "the secret the forge signs its webhook with (32 characters or more); "
        "empty, and no LAB_COMMENTS_HOOK_SECRET_FILE: POST /forge-hook is off "
        "(404)",
    ),
    "LAB_COMMENTS_HOOK_SECRET_FILE": (
        "",
        "a file holding that secret instead (not both)",
    ),
    "LAB_COMMENTS_BRANCH_PREFIX": (
        delivery.DEFAULT_BRANCH_PREFIX,
        "the start of the name of each comment's branch (<prefix><id>)",
    ),
    "LAB_COMMENTS_FORGE_REPO": (
        "",
        "the site's repository on the forge, owner/name; a webhook about a "
        "pull request on any other is ignored (empty: not checked)",
    ),
    # The manifest fetched from the live site (fetch.py; `serve` only).
    "LAB_COMMENTS_MANIFEST_URL": (
        "",
        "address of the live site's manifest "
        "(https://lab.example.org/comments-manifest.json): serve fetches it "
        "into LAB_COMMENTS_MANIFEST, and the answer shell into "
        "LAB_COMMENTS_ANSWER_SHELL; empty: the files are put there otherwise",
    ),
    "LAB_COMMENTS_MANIFEST_EVERY": (
        "300",
        "seconds between two fetches of the manifest (an unchanged one costs a 304)",
    ),
    "LAB_COMMENTS_ANSWER_SHELL_URL": (
        "",
        "address of the live site's answer shell; empty: comments-answer.shell "
        "beside LAB_COMMENTS_MANIFEST_URL; none: not fetched",
    ),
    # A file for the key, so that it stays out of the environment (systemd's
    # LoadCredential=, a container's secret; deploy/).
    "LAB_COMMENTS_SECRET_FILE": (
        "",
        "a file holding LAB_COMMENTS_SECRET (one line), instead of the variable itself",
    ),
    # -- email to moderators (mail.py, digest.py): all empty, no email
    "LAB_COMMENTS_SMTP_HOST": (
        "",
        "the mail server that sends the moderators' digest; empty: no email",
    ),
    "LAB_COMMENTS_SMTP_PORT": ("", "its port; empty: 587 (starttls), 465 (tls), 25"),
    "LAB_COMMENTS_SMTP_SECURITY": (
        "starttls",
        'starttls, tls (implicit TLS) or none (only to 127.0.0.1, ::1, "localhost")',
    ),
    "LAB_COMMENTS_SMTP_USER": ("", "the login's user name; empty: no login"),
    "LAB_COMMENTS_SMTP_PASSWORD": ("", "the login's password (never logged)"),
    "LAB_COMMENTS_SMTP_PASSWORD_FILE": (
        "",
        "a file holding the password instead (a systemd credential, a secret)",
    ),
    "LAB_COMMENTS_SMTP_CA_FILE": (
        "",
        "certificate authorities to trust for the server instead of the system's",
    ),
    "LAB_COMMENTS_SMTP_TIMEOUT": ("30", "seconds allowed for each SMTP step"),
    "LAB_COMMENTS_MAIL_FROM": (
        "",
        'the From of the emails ("Lab comments <comments@lab.example.org>")',
    ),
    "LAB_COMMENTS_MODERATORS": (
        "",
        "comma-separated addresses the digest goes to",
    ),
    "LAB_COMMENTS_DIGEST_MINUTES": (
        "15",
        "at most one digest this often; the first comment not yet told waits "
        "this long for others to join it",
    ),
    "LAB_COMMENTS_MAIL_RETRY_SECONDS": (
        "60",
        "first wait after a failed attempt to send, doubling up to an hour",
    ),
    # -- email to readers (replies.py, subscriptions.py): with the SMTP
    # settings above and a public URL, the form's "Email me when someone
    # replies" box works; without, it is ignored
    "LAB_COMMENTS_PUBLIC_URL": (
        "",
        "this endpoint's public address (https://comments.lab.example.org), for "
        "the confirm and unsubscribe links in readers' email; empty: no email "
        "to readers",
    ),
    "LAB_COMMENTS_REPLY_TO": ("", "the Reply-To of readers' email; empty: none"),
    "LAB_COMMENTS_CONFIRM_LIMIT": (
        "5",
        "confirmation emails one client can cause in an hour",
    ),
    # (subscriptions.RecipientLimit)
    "LAB_COMMENTS_READER_MAIL_DAILY": (
        "10",
        "at most this many emails to one reader's address in 24 hours; the "
        "rest wait in the queue (a confirmation is never held, but counts)",
    ),
    # -- follow a challenge by email (follow.py): needs the email settings
    "LAB_COMMENTS_FOLLOW": ("off", "on: readers may follow a challenge by email"),
    "LAB_COMMENTS_FOLLOW_FEED": (
        "",
        "where each challenge's Atom feed is, a URL or a path with {slug}; empty: "
        "<site>/feeds/challenge/{slug}.atom.xml on the site the manifest names",
    ),
    "LAB_COMMENTS_FOLLOW_EVERY": ("900", "seconds between two looks at the feeds"),
    "LAB_COMMENTS_FOLLOW_RATE": ("5", "follow requests allowed per client per hour"),
}


class ConfigError(ValueError):
    """An environment variable is wrong; the message names it."""


@dataclass(frozen=True)
class Config:
    queue: Path
    manifest: Path
    secret: bytes | None = None
    allowed_origins: tuple[str, ...] = ()
    rate_limit: int = 5
    rate_window: int = 600
    min_seconds: float = 3.0
    pending_days: int = 30
    sender_days: int = 365
    max_body: int = schema.REQUEST_MAX
    min_answer_ms: int = 0
    rate_clients: int = 20000
    post_hourly: int = 30
    max_pending: int = 5000
    max_pending_bytes: int = 50 * 1024 * 1024
    trusted_proxy: str = ""
    # The build's shell for answer pages (None: plain pages).
    answer_shell: Path | None = None
    # Delivery by pull request (None: the queue and the commands only).
    pull_delivery: pulls.Settings | None = None
    # -- the forge's webhook (lab_comments.hooks); no secret: off
    hook_secret: bytes | None = field(default=None, repr=False)
    branch_prefix: str = delivery.DEFAULT_BRANCH_PREFIX
    forge_repo: str = ""
    # The manifest (and shell) fetched from the live site (fetch.py).
    manifest_url: str = ""
    manifest_every: int = 300
    answer_shell_url: str = ""
    # Email to moderators (None, (): none); see mail.py and digest.py.
    mail: MailSettings | None = None
    moderators: tuple[str, ...] = ()
    digest_minutes: float = 15.0
    # Email to readers (replies.py): off without public_url and mail.
    public_url: str = ""
    reply_to: str = ""
    confirm_limit: int = 5
    reader_mail_daily: int = 10
    # Follow a challenge by email (None: off); see follow.py.
    follow: FollowSettings | None = None


class Variables:
    """The environment's settings as the endpoint reads them: `env(name)` is
    a variable's value, or its default from ENVIRONMENT when unset or
    blank; the numbers raise a ConfigError naming the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __call__(self, name: str) -> str:
        return self.environ.get(name, "").strip() or ENVIRONMENT[name][0]

    def number(self, name: str, minimum: int = 0) -> int:
        value = self(name)
        try:
            result = int(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a whole number") from None
        if result < minimum:
            raise ConfigError(f"{name}: must be {minimum} or more")
        return result

    def seconds(self, name: str) -> float:
        value = self(name)
        try:
            result = float(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a number") from None
        if not result > 0 or result == float("inf"):
            raise ConfigError(f"{name}: must be more than 0")
        return result


def config_from_env(environ: Mapping[str, str] = os.environ) -> Config:
    """The endpoint's Config from environment variables (see ENVIRONMENT)."""
    get = Variables(environ)
    number = get.number
    origins = tuple(
        origin_of(o.strip())
        for o in get("LAB_COMMENTS_ALLOWED_ORIGINS").split(",")
        if o.strip()
    )
    if any(not o for o in origins):
        raise ConfigError("LAB_COMMENTS_ALLOWED_ORIGINS: each must be an http(s) URL")
    secret = get("LAB_COMMENTS_SECRET")
    if get("LAB_COMMENTS_SECRET_FILE"):
        secret = secret_from_file(secret, get("LAB_COMMENTS_SECRET_FILE"))
    if secret and len(secret) < 32:
        raise ConfigError("LAB_COMMENTS_SECRET: use at least 32 characters")
    proxy = get("LAB_COMMENTS_TRUSTED_PROXY")
    if proxy and proxy != "*":
        try:
            ipaddress.ip_address(proxy)
        except ValueError:
            raise ConfigError(
                "LAB_COMMENTS_TRUSTED_PROXY: must be an IP address or *"
            ) from None
    try:
        hook_secret = hooks.read_secret(
            get("LAB_COMMENTS_HOOK_SECRET"),
            get("LAB_COMMENTS_HOOK_SECRET_FILE"),
        )
        branch_prefix = hooks.check_prefix(get("LAB_COMMENTS_BRANCH_PREFIX"))
        forge_repo = hooks.check_repo(get("LAB_COMMENTS_FORGE_REPO"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    fetched = {
        name: get(name)
        for name in ("LAB_COMMENTS_MANIFEST_URL", "LAB_COMMENTS_ANSWER_SHELL_URL")
    }
    for name, url in fetched.items():
        may_be_none = name == "LAB_COMMENTS_ANSWER_SHELL_URL" and url == "none"
        if url and not may_be_none and not origin_of(url):
            raise ConfigError(f"{name}: must be an http(s) URL")
    return Config(
        queue=Path(get("LAB_COMMENTS_QUEUE")),
        manifest=Path(get("LAB_COMMENTS_MANIFEST")),
        secret=secret.encode() if secret else None,
        allowed_origins=origins,
        rate_limit=number("LAB_COMMENTS_RATE_LIMIT", 1),
        rate_window=number("LAB_COMMENTS_RATE_WINDOW", 1),
        min_seconds=float(number("LAB_COMMENTS_MIN_SECONDS")),
        pending_days=number("LAB_COMMENTS_PENDING_DAYS", 1),
        sender_days=number("LAB_COMMENTS_SENDER_DAYS", 1),
        min_answer_ms=number("LAB_COMMENTS_MIN_ANSWER_MS"),
        rate_clients=number("LAB_COMMENTS_RATE_CLIENTS", 100),
        post_hourly=number("LAB_COMMENTS_POST_HOURLY", 1),
        max_pending=number("LAB_COMMENTS_MAX_PENDING", 1),
        max_pending_bytes=number("LAB_COMMENTS_MAX_PENDING_BYTES", 1024 * 1024),
        trusted_proxy=proxy,
        answer_shell=Path(
            get("LAB_COMMENTS_ANSWER_SHELL")
            or Path(get("LAB_COMMENTS_MANIFEST")).with_name("comments-answer.shell")
        ),
        hook_secret=hook_secret,
        branch_prefix=branch_prefix,
        forge_repo=forge_repo,
        manifest_url=fetched["LAB_COMMENTS_MANIFEST_URL"],
        manifest_every=number("LAB_COMMENTS_MANIFEST_EVERY", 1),
        answer_shell_url=fetched["LAB_COMMENTS_ANSWER_SHELL_URL"],
        **mail_config(get),
        **reader_mail_config(get),
        pull_delivery=delivery_from_env(environ),
        follow=follow_from_env(get),
    )


def follow_from_env(get: Variables) -> FollowSettings | None:
    """The follow settings (None: off); ConfigError naming the variable."""
    value = get("LAB_COMMENTS_FOLLOW").lower()
    if value not in ("on", "off"):
        raise ConfigError(f"LAB_COMMENTS_FOLLOW: {value!r} is not on or off")
    if value == "off":
        return None
    if not get("LAB_COMMENTS_SMTP_HOST"):
        raise ConfigError("LAB_COMMENTS_SMTP_HOST: needed to follow by email")
    try:
        every = float(get("LAB_COMMENTS_FOLLOW_EVERY"))
        rate = int(get("LAB_COMMENTS_FOLLOW_RATE"))
    except ValueError:
        raise ConfigError(
            "LAB_COMMENTS_FOLLOW_EVERY, LAB_COMMENTS_FOLLOW_RATE: numbers"
        ) from None
    if not every > 0 or rate < 1:
        raise ConfigError("LAB_COMMENTS_FOLLOW_EVERY, _RATE: more than 0")
    # Every link of a follow's emails starts with it: never a request's Host.
    if not origin_of(get("LAB_COMMENTS_PUBLIC_URL")):
        raise ConfigError("LAB_COMMENTS_PUBLIC_URL: needed to follow by email")
    return FollowSettings(get("LAB_COMMENTS_FOLLOW_FEED"), every, rate=rate)


def secret_from_file(secret: str, path: str) -> str:
    """The key in the file LAB_COMMENTS_SECRET_FILE names (ConfigError when
    it cannot be read, or LAB_COMMENTS_SECRET is set as well)."""
    if secret:
        raise ConfigError(
            "LAB_COMMENTS_SECRET_FILE: set it or LAB_COMMENTS_SECRET, not both"
        )
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"LAB_COMMENTS_SECRET_FILE: {path} cannot be read: {reason}"
        ) from None


def mail_config(get: Variables) -> dict:
    """Config's email fields from the LAB_COMMENTS_SMTP_* and _MAIL_*
    variables; ConfigError naming the variable. No host: no email, and no
    other mail setting given."""
    seconds = get.seconds
    host = get("LAB_COMMENTS_SMTP_HOST")
    if not host:
        if get("LAB_COMMENTS_MODERATORS"):
            raise ConfigError(
                "LAB_COMMENTS_SMTP_HOST: needed to email LAB_COMMENTS_MODERATORS"
            )
        return {}
    password = get("LAB_COMMENTS_SMTP_PASSWORD")
    password_file = get("LAB_COMMENTS_SMTP_PASSWORD_FILE")
    if password and password_file:
        raise ConfigError(
            "LAB_COMMENTS_SMTP_PASSWORD_FILE: give the password or its file, not both"
        )
    if password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            # The file's name only: never a word of what it holds.
            raise ConfigError(
                f"LAB_COMMENTS_SMTP_PASSWORD_FILE: {password_file} cannot be read"
            ) from None
    port = get("LAB_COMMENTS_SMTP_PORT")
    if port and not port.isdigit():
        raise ConfigError(f"LAB_COMMENTS_SMTP_PORT: {port!r} is not a port number")
    if not get("LAB_COMMENTS_MAIL_FROM"):
        raise ConfigError("LAB_COMMENTS_MAIL_FROM: needed to send email")
    if not get("LAB_COMMENTS_MODERATORS").strip(" ,"):
        # Said plainly: a Lab turning on email to readers meets it first.
        raise ConfigError(
            "LAB_COMMENTS_MODERATORS: needed with LAB_COMMENTS_SMTP_HOST (the "
            "moderators' digest of new comments goes by the same email settings "
            "as readers' email)"
        )
    ca_file = get("LAB_COMMENTS_SMTP_CA_FILE")
    try:
        settings = MailSettings(
            host=host,
            sender=get("LAB_COMMENTS_MAIL_FROM"),
            security=get("LAB_COMMENTS_SMTP_SECURITY").lower(),
            port=int(port or 0),
            user=get("LAB_COMMENTS_SMTP_USER"),
            password=password,
            ca_file=Path(ca_file) if ca_file else None,
            timeout=seconds("LAB_COMMENTS_SMTP_TIMEOUT"),
            retry_seconds=seconds("LAB_COMMENTS_MAIL_RETRY_SECONDS"),
        )
        moderators = parse_addresses(
            get("LAB_COMMENTS_MODERATORS"), "LAB_COMMENTS_MODERATORS"
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return {
        "mail": settings,
        "moderators": moderators,
        "digest_minutes": seconds("LAB_COMMENTS_DIGEST_MINUTES"),
    }


def reader_mail_config(get: Variables) -> dict:
    """Config's fields for email to readers; ConfigError naming the variable."""
    public_url = get("LAB_COMMENTS_PUBLIC_URL").rstrip("/")
    if public_url and not origin_of(public_url):
        raise ConfigError("LAB_COMMENTS_PUBLIC_URL: must be an http(s) URL")
    if public_url and not get("LAB_COMMENTS_SMTP_HOST"):
        raise ConfigError("LAB_COMMENTS_SMTP_HOST: needed to email readers")
    reply_to = get("LAB_COMMENTS_REPLY_TO")
    if reply_to:
        try:
            parse_addresses(reply_to, "LAB_COMMENTS_REPLY_TO")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return {
        "public_url": public_url,
        "reply_to": reply_to,
        "confirm_limit": get.number("LAB_COMMENTS_CONFIRM_LIMIT", 1),
        "reader_mail_daily": get.number("LAB_COMMENTS_READER_MAIL_DAILY", 1),
    }


def delivery_from_env(environ: Mapping[str, str]) -> pulls.Settings | None:
    """The pull-request delivery settings (None in queue mode); ConfigError
    of one line for a bad or incomplete combination. The token's value is
    never in a message."""
    get = Variables(environ)
    seconds = get.seconds
    mode = get("LAB_COMMENTS_DELIVERY")
    if mode == "queue":
        return None
    if mode != "pull-request":
        raise ConfigError("LAB_COMMENTS_DELIVERY: must be queue or pull-request")
    token = environ.get("LAB_COMMENTS_FORGE_TOKEN", "").strip()
    token_file = get("LAB_COMMENTS_FORGE_TOKEN_FILE")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(
                f"LAB_COMMENTS_FORGE_TOKEN_FILE: cannot be read ({reason})"
            ) from None
    settings = pulls.Settings(
        remote=get("LAB_COMMENTS_GIT_REMOTE"),
        forge_api=get("LAB_COMMENTS_FORGE_API"),
        forge_repo=get("LAB_COMMENTS_FORGE_REPO"),
        token=token,
        base=get("LAB_COMMENTS_GIT_BASE"),
        prefix=get("LAB_COMMENTS_BRANCH_PREFIX"),
        # Empty is a choice here (no label), not "the default".
        label=environ.get("LAB_COMMENTS_PULL_LABEL", "comment").strip(),
        content=get("LAB_COMMENTS_GIT_CONTENT").strip("/"),
        committer_name=get("LAB_COMMENTS_GIT_NAME"),
        committer_email=get("LAB_COMMENTS_GIT_EMAIL"),
        git_user=get("LAB_COMMENTS_GIT_USER"),
        forge_timeout=seconds("LAB_COMMENTS_FORGE_TIMEOUT"),
        git_timeout=seconds("LAB_COMMENTS_GIT_TIMEOUT"),
        retry_seconds=seconds("LAB_COMMENTS_RETRY_SECONDS"),
        retry_max=seconds("LAB_COMMENTS_RETRY_MAX_SECONDS"),
        check_seconds=seconds("LAB_COMMENTS_PULL_CHECK_SECONDS"),
        late_seconds=seconds("LAB_COMMENTS_DELIVERY_LATE_SECONDS"),
    )
    if problem := pulls.settings_problem(settings):
        raise ConfigError(problem)
    return settings


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, lower case; "" if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{host}{suffix}"


# -- the manifest


class ManifestError(Exception):
    """The manifest is missing or malformed (logged; readers see a 503)."""


@dataclass(frozen=True)
class Post:
    slug: str
    url: str
    open: bool
    closes: dt.datetime | None
    comments: frozenset[str]
    # For the reply emails (replies.py): the post's title and its published
    # replies by id (each: to, name, text, url); empty in older manifests.
    title: str = ""
    replies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class Manifest:
    """The build's manifest, re-read whenever the file changes (a rebuild)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self.siteurl = ""
        self.posts: dict[str, Post] = {}
        # The challenges' slugs (None: a manifest that does not list them).
        self.challenges: frozenset[str] | None = None
        # Why the file as it is now cannot be used ("" if it can): a
        # malformed rebuild keeps the last good manifest in use, and /health
        # says so.
        self.problem = ""

    def load(self) -> Manifest:
        try:
            stat = self.path.stat()
        except OSError:
            self.problem = "the manifest is missing (build the site)"
            raise ManifestError(self.problem) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    data = self.path.read_bytes()
                    self.siteurl, self.posts = parse_manifest(data)
                    self.challenges = parse_challenges(data)
                except (ManifestError, OSError) as exc:
                    self.problem = (
                        str(exc)
                        if isinstance(exc, ManifestError)
                        else "the manifest cannot be read"
                    )
                    if self._stamp is None:
                        raise ManifestError(self.problem) from None
                    # Keep the last good one; the next request tries again.
                    logger.error("comments endpoint: the new manifest is malformed")
                    return self
                self._stamp = stamp
                self.problem = ""
        return self


def parse_staff(data: bytes) -> tuple[str, ...]:
    """The staff names in a manifest (for the moderation commands' check of
    readers' names; the endpoint itself takes any name and leaves the check
    to the moderator)."""
    try:
        staff = json.loads(data.decode("utf-8")).get("staff", [])
    except (ValueError, AttributeError):
        raise ManifestError("the manifest is malformed (rebuild the site)") from None
    if not isinstance(staff, list) or not all(isinstance(n, str) for n in staff):
        raise ManifestError("the manifest's staff names are malformed")
    return tuple(staff)


def parse_challenges(data: bytes) -> frozenset[str] | None:
    """The challenges' slugs a manifest lists (None when it lists none: one
    written before it did). Never a reason to refuse the manifest, which
    comments need: a list that is not one counts as none, and a slug no
    follow could name is left out."""
    try:
        slugs = json.loads(data.decode("utf-8")).get("challenges")
    except (ValueError, AttributeError):
        return None
    if not isinstance(slugs, list):
        if slugs is not None:
            logger.error("comments endpoint: the manifest's challenges are malformed")
        return None
    return frozenset(
        slug for slug in slugs if isinstance(slug, str) and follow.SLUG.fullmatch(slug)
    )


def parse_manifest(data: bytes) -> tuple[str, dict[str, Post]]:
    try:
        raw = json.loads(data.decode("utf-8"))
        if raw.get("version") != 1:
            raise ManifestError("the manifest has an unknown version")
        siteurl = raw["siteurl"]
        posts = {}
        for slug, entry in raw["posts"].items():
            closes = entry.get("closes")
            posts[slug] = Post(
                slug=schema.slug(slug),
                url=entry["url"],
                open=bool(entry["open"]),
                closes=schema.utc_datetime(closes) if closes else None,
                comments=frozenset(entry["comments"]),
                title=str(entry.get("title", "")),
                replies=_replies(entry.get("replies", {})),
            )
    except (ValueError, KeyError, TypeError, AttributeError, schema.Invalid):
        raise ManifestError("the manifest is malformed (rebuild the site)") from None
    if not origin_of(siteurl):
        raise ManifestError("the manifest names no site URL")
    return siteurl, posts


def _replies(raw) -> dict[str, dict[str, str]]:
    """A post's replies as the manifest lists them (TypeError if malformed)."""
    keys = ("to", "name", "text", "url")
    replies = {}
    for reply_id, entry in raw.items():
        if not all(isinstance(entry.get(key), str) for key in keys):
            raise TypeError("a reply in the manifest is malformed")
        replies[schema.comment_id(reply_id)] = {key: entry[key] for key in keys}
    return replies


# -- abuse control


class AbuseControl:
    """Honeypot, time to fill in the form, the rate limit per client (an
    IPv4 address or an IPv6 /64: limits.client_key) and the cap per post
    per hour (everyone's comments on one update together)."""

    def __init__(
        self,
        rate_limit: int,
        rate_window: float,
        min_seconds: float,
        post_hourly: int = 30,
        max_clients: int = 20000,
    ):
        self.limiter = RateLimiter(rate_limit, rate_window, max_clients)
        # Keyed by post slugs from the manifest only: bounded by the site.
        self.posts = RateLimiter(post_hourly, 3600, max_clients)
        self.min_seconds = min_seconds

    def admit(self, client: str, now: float) -> float | None:
        return self.limiter.hit(client, now)

    def refund(self, client: str) -> None:
        self.limiter.refund(client)

    def admit_post(self, post: str, now: float) -> float | None:
        return self.posts.hit(post, now)

    def refund_post(self, post: str) -> None:
        self.posts.refund(post)

    def looks_automated(self, controls: schema.Controls) -> str | None:
        """Why a form looks sent by a program, or None. Without JavaScript
        the time stamps are empty and only the honeypot applies."""
        if controls.honeypot.strip():
            return "honeypot"
        stamped = controls.loaded is not None and controls.sent is not None
        if stamped and controls.sent - controls.loaded < self.min_seconds * 1000:
            return "too fast"
        return None


class EqualAnswers:
    """Storing a comment costs writes (each fsynced); dropping one, nothing.
    So that the time of the answer does not tell a program which happened, a
    drop makes the same writes to a scratch file (CommentsApp._decoy), which
    costs the same under any load on the disk or the processor; what a store
    still costs beyond that (hashing, the index, the sender's record) is
    measured, as the difference of the medians of the last `size` answers
    of each kind, and a drop or a duplicate waits that much longer. Stored
    answers are never slowed (beyond `floor`), so throughput is unchanged."""

    def __init__(self, floor: float = 0.0, size: int = 101):
        self.floor = floor
        self._took: dict[bool, deque[float]] = {
            True: deque(maxlen=size),
            False: deque(maxlen=size),
        }
        self._late: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def settle(self, started: float, stored: bool) -> None:
        """Wait as the answer's kind requires; `started` is the
        time.perf_counter() when the request was taken."""
        took = time.perf_counter() - started
        with self._lock:
            self._took[stored].append(took)
            gap = 0.0
            if not stored and self._took[True]:
                gap = statistics.median(self._took[True]) - statistics.median(
                    self._took[False]
                )
            late = statistics.median(self._late) if self._late else 0.0
        # The floor holds whatever the scheduler did before: only the part
        # asked beyond it is shortened by the sleeps' usual lateness.
        asked = max(self.floor, took + max(0.0, gap) - late)
        remaining = asked - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
            # A sleep ends late by a scheduler's tick or so: the median of the
            # last few is asked for less, so that the answers end on time.
            with self._lock:
                self._late.append(time.perf_counter() - started - asked)


# -- responses


@dataclass
class Response:
    status: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


STATUS = {
    200: "200 OK",
    204: "204 No Content",
    303: "303 See Other",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    411: "411 Length Required",
    413: "413 Content Too Large",
    415: "415 Unsupported Media Type",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}
BASE_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]
# A plain answer page (no shell): nothing loads, and its form posts back here.
PAGE_CSP = (
    "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ACCEPTED_TYPE = "application/x-www-form-urlencoded"
# Seconds a reader is asked to wait while comments are paused (a full or
# unwritable queue): moderators need a while to catch up.
PAUSED_RETRY_AFTER = 900
# How often /health writes a scratch file to the queue when all is well.
HEALTH_PROBE_SECONDS = 30.0


class Refusal(Exception):
    """A request refused; becomes an error page with `status`."""

    def __init__(
        self,
        status: int,
        problems: list[schema.Problem] | str,
        back: str = "",
        *,
        headers: Iterable[tuple[str, str]] = (),
        title: str = "",
        form: Mapping[str, list[str]] | None = None,
    ):
        super().__init__(status)
        self.status = status
        self.problems = [("", problems)] if isinstance(problems, str) else problems
        self.back = back
        self.headers = list(headers)
        self.title = title
        # What the reader sent, when it was read: the answer's form has it.
        self.form = form


TITLES = {
    413: "Your comment is too long to send",
    429: "Please wait before sending another comment",
    503: "Comments are not available at the moment",
    500: "Something went wrong",
}


def answer_of(refusal: Refusal, *, notify: bool = False) -> answer.Answer:
    """What a refusal's page says: in the reader's words (answer.py), with
    the form again when the reader's form was read and the post is known
    (with the reply-email box when `notify`: this endpoint sends them)."""
    title = refusal.title or TITLES.get(
        refusal.status, "There is a problem with your comment"
    )
    return answer.answer(
        refusal.status,
        title,
        refusal.problems,
        refusal.back,
        refusal.form,
        notify=notify,
    )


def error_page(status: int, problems: list[schema.Problem], back: str) -> bytes:
    """A plain page (no shell): what went wrong, in the reader's words."""
    return answer.plain_page(answer_of(Refusal(status, problems, back)))


def page_csp(siteurl: str) -> str:
    """The policy of an answer page: no scripts; the site's stylesheet,
    images and fonts (from its own origin, not this one's); the form posts
    back here and the header's search to the site."""
    site = origin_of(siteurl)
    if not site:
        return PAGE_CSP
    return (
        f"default-src 'none'; style-src {site}; img-src {site}; font-src {site}; "
        f"form-action 'self' {site}; base-uri 'none'; frame-ancestors 'none'"
    )


# -- the application


Handler = Callable[["CommentsApp", dict], Response]


class CommentsApp:
    """The WSGI callable. `clock` gives the current UTC time (tests pin it)."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.clock = clock
        self.monotonic = monotonic
        # Opening the queue removes temporary files a crash left behind; under
        # the moderation lock, so that a moderator's write in progress (a
        # redaction, say) is never taken for one. A queue that cannot be
        # written is found now, with one line that says so (StoreError).
        try:
            with moderation_lock(config.queue):
                self.queue = Queue(config.queue, config.secret).open()
            probe_write(self.queue.pending_dir)
        except OSError as exc:
            raise StoreError(
                f"the queue folder {config.queue} cannot be written: "
                f"{exc.strerror or exc}"
            ) from None
        self.manifest = Manifest(config.manifest)
        self.shell = answer.Shell(config.answer_shell)
        self.abuse = AbuseControl(
            config.rate_limit,
            config.rate_window,
            config.min_seconds,
            post_hourly=config.post_hourly,
            max_clients=config.rate_clients,
        )
        self.pending = PendingCount(self.queue.pending_dir, monotonic=monotonic)
        # Why the queue cannot be written ("" when it can): set by a failed
        # write, cleared by the next one that works; logged once each way.
        self._trouble = ""
        self._full = False
        self._state_lock = threading.Lock()
        self._probed: float | None = None
        # What was said once to whoever runs the server (`_warn_once`).
        self._warned: set[str] = set()
        self.answers = EqualAnswers(config.min_answer_ms / 1000)
        self.scratch = Scratch()
        self._purge_lock = threading.Lock()
        self._last_purge: float | None = None
        self.purge()
        # The moderators' digest (None without email settings): the server
        # starts its thread (cli serve); a stored comment only pokes it.
        self.digest: Notifier | None = None
        if config.mail is not None and config.moderators:
            self.digest = Notifier(
                self.queue,
                config.mail,
                DigestSettings(
                    config.moderators, config.digest_minutes, config.pending_days
                ),
                post_url=self._post_address,
            )
        # Email to readers (None when off): intake keeps a ticked box's
        # address and queues its confirmation; the thread (serve) tells of
        # published replies.
        self.replies: ReplyNotifier | None = None
        if config.mail is not None and config.public_url:
            self.replies = ReplyNotifier(
                Path(config.queue),
                self.queue.secret,
                config.mail,
                ReaderMail(
                    config.public_url, config.reply_to, config.reader_mail_daily
                ),
                self._manifest_posts,
                is_pending=lambda comment_id: self.queue.path(comment_id).exists(),
                clock=clock,
            )
        self.confirmations = RateLimiter(config.confirm_limit, 3600.0)
        # Following a challenge by email (follow.py): `serve` starts its worker.
        self.follow: Follow | None = None
        if config.mail is not None and config.follow is not None:
            if not origin_of(config.public_url):
                raise ConfigError("LAB_COMMENTS_PUBLIC_URL: needed to follow by email")
            self.follow = Follow(
                config.queue,
                self.queue.secret,
                config.mail,
                config.follow,
                siteurl=self._siteurl,
                clock=clock,
                reply_to=config.reply_to,
                public_url=config.public_url,
                daily=config.reader_mail_daily,
            )
        # Delivery by pull request: the outbox is written at intake, the
        # worker (start_delivery, run by `serve`) does the rest.
        self.deliverer: pulls.Deliverer | None = None
        if config.pull_delivery is not None:
            self.deliverer = pulls.Deliverer(
                config.pull_delivery, self.queue, clock, staff_names=self._staff_names
            )

    def _manifest_posts(self) -> Mapping[str, Post]:
        try:
            return self.manifest.load().posts
        except ManifestError:
            return {}

    def start_delivery(self) -> pulls.Worker | None:
        """Start the delivery worker (pull-request mode); stop() ends it."""
        if self.deliverer is None:
            return None
        return pulls.Worker(self.deliverer).start()

    def _staff_names(self) -> tuple[str, ...]:
        try:
            return parse_staff(self.manifest.path.read_bytes())
        except (OSError, ManifestError):
            return ()

    # The route table: path -> method -> handler.
    routes: ClassVar[dict[str, dict[str, Handler]]] = {}

    def __call__(self, environ, start_response):
        try:
            response = self.dispatch(environ)
        except Exception:
            # The trace goes to the server's log, never to the reader.
            logger.exception("comments endpoint: unexpected error")
            response = Response(
                STATUS[500], error_page(500, [("", "Please try again later.")], "")
            )
            response.headers.append(("Content-Type", "text/html; charset=utf-8"))
        # A response's own header replaces the base one of the same name.
        own = {name.lower() for name, _ in response.headers}
        base = [(k, v) for k, v in BASE_HEADERS if k.lower() not in own]
        headers = [*base, *response.headers]
        if response.body:
            headers.append(("Content-Length", str(len(response.body))))
        start_response(response.status, headers)
        return [response.body]

    def dispatch(self, environ) -> Response:
        if "forwarding" not in self._warned and not self.config.trusted_proxy:
            self._warn_forwarding(environ)
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        handlers = self.routes.get(path)
        if handlers is None or (
            path == hooks.HOOK_PATH and self.config.hook_secret is None
        ):
            return self.page(Refusal(404, "There is nothing at this address."))
        handler = handlers.get(method)
        if handler is None:
            allow = ", ".join(sorted(handlers))
            refusal = Refusal(
                405, f"This address accepts only {allow}.", headers=[("Allow", allow)]
            )
            return self.page(refusal)
        try:
            return handler(self, environ)
        except Refusal as refusal:
            return self.page(refusal, origin=self._allowed_origin(environ))

    def page(self, refusal: Refusal, origin: str = "") -> Response:
        """The answer to a refusal: a page of the site (the build's shell,
        filled) when there is one, else a plain page; the same words."""
        logger.info("refused %s: %s", refusal.status, refusal.problems)
        return self.show(
            refusal.status,
            answer_of(refusal, notify=self.replies is not None),
            [*refusal.headers, *self._cors(origin)],
        )

    def show(
        self, status: int, content: answer.Answer, extra: Iterable[tuple[str, str]]
    ) -> Response:
        """A page of the site (the build's shell) holding `content`, or a
        plain page when there is no shell."""
        shell = self.shell.text()
        siteurl = self._siteurl() if shell is not None else ""
        if shell is not None and siteurl:
            body, policy = answer.fill_shell(shell, content), page_csp(siteurl)
        else:
            body, policy = answer.plain_page(content), PAGE_CSP
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", policy),
            # Its form posts back here: a browser sends that post's Origin
            # only under a policy that lets it (never to another site).
            ("Referrer-Policy", "same-origin"),
            *extra,
        ]
        return Response(STATUS[status], body, headers)

    # -- helpers

    def _post_address(self, slug: str) -> str:
        """A post's address from the manifest ("" if it has gone)."""
        try:
            post = self.manifest.load().posts.get(slug)
        except ManifestError:
            return ""
        return post.url if post else ""

    def _siteurl(self) -> str:
        try:
            return self.manifest.load().siteurl
        except ManifestError:
            return ""

    def _warn_once(self, key: str, message: str) -> None:
        """A warning for whoever runs the server, once per process (`key`
        names it): the site or its proxy does what this endpoint has not been
        set up for."""
        with self._state_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning("comments endpoint: %s", message)

    def _warn_forwarding(self, environ) -> None:
        """A request came through a proxy that nobody said to trust, so every
        reader behind it shares the proxy's address (and its rate limit)."""
        headers = list(forwarding_headers(environ))
        if headers:
            self._warn_once(
                "forwarding",
                f"a request carries {', '.join(headers)} but no trusted proxy is "
                "set (LAB_COMMENTS_TRUSTED_PROXY): the header is ignored, and all "
                "readers behind that proxy share one rate limit",
            )

    def _paused(self) -> Refusal:
        return Refusal(
            503,
            "So many comments are waiting for a moderator that new ones are "
            "paused for the moment. What you wrote is kept in the form below "
            "(your browser's Back button returns to it too): keep a copy, and "
            "send it again later.",
            headers=[("Retry-After", str(PAUSED_RETRY_AFTER))],
            title="Comments are paused for the moment",
        )

    def _check_capacity(self) -> None:
        """Refuse (503) while the queue holds as many comments or bytes as
        the settings allow; logged when it fills and when it drains."""
        count, size = self.pending.usage()
        full = count >= self.config.max_pending or size >= self.config.max_pending_bytes
        if full != self._full:
            with self._state_lock:
                changed, self._full = full != self._full, full
            if changed and full:
                logger.warning(
                    "comments endpoint: %d comments (%d bytes) pending, the "
                    "limit: new comments are paused until moderators catch up",
                    count,
                    size,
                )
            elif changed:
                logger.info("comments endpoint: the queue has room again")
        if full:
            raise self._paused()

    def _queue_failed(self, exc: OSError) -> Refusal:
        """A write to the queue failed for a reason that is not the
        reader's: the same page as a full queue, logged once an episode."""
        reason = exc.strerror or str(exc)
        with self._state_lock:
            first, self._trouble = not self._trouble, reason
        if first:
            logger.error(
                "comments endpoint: the queue cannot be written (%s): comments "
                "are paused until it can",
                reason,
            )
        return self._paused()

    def _queue_works(self) -> None:
        if self._trouble:
            with self._state_lock:
                was, self._trouble = self._trouble, ""
            if was:
                logger.info("comments endpoint: the queue can be written again")

    def _manifest(self) -> Manifest:
        try:
            return self.manifest.load()
        except ManifestError as exc:
            logger.error("comments endpoint: %s", exc)
            raise Refusal(
                503,
                "Comments cannot be sent at the moment. Please try again later.",
                headers=[("Retry-After", "300")],
            ) from None

    def allowed_origins(self) -> set[str]:
        if self.config.allowed_origins:
            return set(self.config.allowed_origins)
        try:
            return {origin_of(self.manifest.load().siteurl)}
        except ManifestError:
            return set()

    def _allowed_origin(self, environ) -> str:
        origin = environ.get("HTTP_ORIGIN", "")
        return origin if origin and origin in self.allowed_origins() else ""

    @staticmethod
    def _cors(origin: str) -> list[tuple[str, str]]:
        if not origin:
            return []
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]

    def purge(self) -> None:
        """Delete what the privacy notice says we do not keep; at start and
        then at most once an hour, on the next request."""
        now = self.monotonic()
        with self._purge_lock:
            if self._last_purge is not None and now - self._last_purge < 3600:
                return
            self._last_purge = now
        removed = self.queue.purge(
            self.clock(), self.config.pending_days, self.config.sender_days
        )
        if any(removed):
            logger.info("purged %d pending comment(s), %d sender(s)", *removed)

    # -- handlers

    def health(self, environ) -> Response:
        """200 "ok", or 503 and the first reason comments cannot be taken."""
        problem = ""
        try:
            manifest = self.manifest.load()
            problem = manifest.problem
        except ManifestError as exc:
            problem = str(exc)
        if not problem:
            problem = self._queue_problem()
        if problem:
            body = f"unavailable: {problem}\n".encode()
            return Response(STATUS[503], body, [("Content-Type", "text/plain")])
        body = b"ok\n"
        if self.deliverer is not None:
            body += (self._delivery_line() + "\n").encode()
        return Response(STATUS[200], body, [("Content-Type", "text/plain")])

    def _delivery_line(self) -> str:
        """The pull-request backlog. Still 200 when it is late: comments are
        still taken and kept, so a proxy's health check must not take the
        endpoint out of service for a forge's outage; monitoring looks for
        "late" (docs/delivery.md)."""
        count, oldest, held = self.deliverer.backlog(self.clock())
        line = f"delivery: {count} to deliver"
        if count:
            line += f", oldest {_age(oldest)}"
            if oldest >= self.config.pull_delivery.late_seconds:
                line += " (late: see the endpoint's log)"
        if held:
            line += f"; {held} held for the moderation commands"
        return line

    def _queue_problem(self) -> str:
        """Why the queue takes no comment now, or "". A scratch file is
        written when a write has failed (has it recovered?) and otherwise at
        most every HEALTH_PROBE_SECONDS (has the disk filled, or turned
        read-only, since?)."""
        now = self.monotonic()
        if (
            self._trouble
            or self._probed is None
            or now - self._probed >= HEALTH_PROBE_SECONDS
        ):
            self._probed = now
            try:
                probe_write(self.queue.pending_dir)
            except OSError as exc:
                self._queue_failed(exc)
            else:
                self._queue_works()
        if self._trouble:
            return f"the queue cannot be written ({self._trouble})"
        count, size = self.pending.usage()
        if count >= self.config.max_pending or size >= self.config.max_pending_bytes:
            return "the queue is full (comments are paused)"
        return ""

    def preflight(self, environ) -> Response:
        origin = self._allowed_origin(environ)
        if not origin:
            raise Refusal(403, "Comments can only be sent from this site's pages.")
        return Response(
            STATUS[204],
            headers=[
                *self._cors(origin),
                ("Access-Control-Allow-Methods", "POST"),
                ("Access-Control-Allow-Headers", "Content-Type"),
                ("Access-Control-Max-Age", "600"),
            ],
        )

    def _check_origin(self, environ, words: str) -> None:
        """A browser's post from another site is refused (403, `words`);
        no Origin (a program, an older browser) is let through."""
        origin = environ.get("HTTP_ORIGIN")
        if (
            origin is not None
            and origin not in self.allowed_origins()
            and origin != own_origin(environ)
        ):
            raise Refusal(403, words)

    def post_comment(self, environ) -> Response:
        started = time.perf_counter()
        manifest = self._manifest()
        self._check_origin(environ, "Comments can only be sent from this site's pages.")
        length = self._content_length(environ)
        media_type, _, parameters = environ.get("CONTENT_TYPE", "").partition(";")
        if media_type.strip().lower() != ACCEPTED_TYPE or not _utf8(parameters):
            raise Refusal(415, f"The form must be sent as {ACCEPTED_TYPE} (UTF-8).")
        client = self.client_of(environ.get("REMOTE_ADDR", ""))
        try:
            self._check_capacity()
            wait = self.abuse.admit(client, self.monotonic())
        except Refusal as refusal:
            raise self._with_form(refusal, environ, length, manifest) from None
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            refusal = Refusal(
                429,
                f"You have sent {self.config.rate_limit} comments in a short time. "
                f"Please wait {_duration(seconds)} and send it again: what you "
                "wrote is kept in the form below.",
                headers=[("Retry-After", str(seconds))],
            )
            raise self._with_form(refusal, environ, length, manifest)
        try:
            response, stored = self._take(environ, length, manifest)
        except Refusal:
            self.abuse.refund(client)
            raise
        self.answers.settle(started, stored)
        return response

    def _with_form(
        self, refusal: Refusal, environ, length: int, manifest: Manifest
    ) -> Refusal:
        """A refusal made before the form was read (comments paused, too many
        from this client), with the form read after all, so that its page
        keeps what the reader wrote. Nothing in it is checked or kept."""
        try:
            form = self._read_form(environ, length)
        except Refusal:
            return refusal
        refusal.form = form
        refusal.back = refusal.back or _post_url(form, manifest)
        return refusal

    def client_of(self, address: str) -> str:
        """The rate limit's key for a client address: a keyed hash of its
        client_key (an IPv4 address, an IPv6 /64), so that no address is
        held in memory."""
        return self.queue.client_hash(client_key(address))

    def _take(self, environ, length: int, manifest: Manifest) -> tuple[Response, bool]:
        """The answer, and whether a new comment was stored."""
        self.purge()
        form = self._read_form(environ, length)
        try:
            return self._take_form(form, environ, manifest)
        except Refusal as refusal:
            refusal.form = form
            raise

    def _take_form(
        self, form: dict[str, list[str]], environ, manifest: Manifest
    ) -> tuple[Response, bool]:
        back = _post_url(form, manifest)
        controls, problems = schema.parse_controls(form)
        if problems:
            raise Refusal(400, problems, back)
        submission, problems = schema.parse_submission(form)
        # Checked after the form is (the same work either way), and answered
        # as a success whatever the form holds.
        if reason := self.abuse.looks_automated(controls):
            logger.info("dropped a submission (%s)", reason)
            self._decoy(form)
            return self.see_other((back or manifest.siteurl + "/"), environ), False
        if problems:
            raise Refusal(400, problems, back)
        # Rendered as the build will render it: what cannot be published is
        # never queued (it would stop moderation and the build).
        if reason := body_problem(submission.body):
            raise Refusal(400, [("body", reason)], back)
        post = manifest.posts.get(submission.post)
        if post is None:
            raise Refusal(
                400, [("post", "there is no update with this address on the site")]
            )
        now = self.clock()
        if not post.open or (post.closes and now >= post.closes):
            raise Refusal(
                403, [("post", "comments on this update are closed")], post.url
            )
        if submission.reply_to and submission.reply_to not in post.comments:
            raise Refusal(
                400,
                [
                    (
                        "reply_to",
                        "there is no published comment with this id on the update",
                    )
                ],
                post.url,
            )
        wait = self.abuse.admit_post(post.slug, self.monotonic())
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            raise Refusal(
                429,
                f"This update has had {self.config.post_hourly} comments in the "
                "last hour, so comments on it are paused for a while. What you "
                "wrote is kept in the form below (your browser's Back button "
                "returns to it too): keep a copy, and send it again in "
                f"{_duration(seconds)}.",
                post.url,
                headers=[("Retry-After", str(seconds))],
                title="Comments on this update are paused for a while",
            )
        try:
            comment_id, new = self.queue.add(
                submission, environ.get("REMOTE_ADDR", ""), now
            )
        except OSError as exc:
            self.abuse.refund_post(post.slug)
            if exc.errno not in QUEUE_TROUBLE:
                raise
            raise self._queue_failed(exc) from None
        self._queue_works()
        if new:
            self._note_added(comment_id, now)
            self._note_reader(submission, comment_id, environ, now)
        else:
            self.abuse.refund_post(post.slug)
        logger.info(
            "%s comment %s on %s",
            "stored" if new else "duplicate of",
            comment_id,
            post.slug,
        )
        answer = self.see_other(post.url, environ, fragment="comment-pending")
        return answer, new

    def _enqueue(self, comment_id: str, now: dt.datetime) -> None:
        """The comment's outbox entry; the reader's answer never depends on
        it: a comment whose entry could not be written is given one by the
        worker's next round (Deliverer.adopt)."""
        try:
            self.deliverer.enqueue(comment_id, now)
        except OSError as exc:
            logger.error(
                "comment %s: its delivery entry cannot be written (%s); the "
                "worker will pick it up",
                comment_id,
                exc.strerror or exc,
            )

    def _note_added(self, comment_id: str, now: dt.datetime) -> None:
        if self.deliverer is not None:
            self._enqueue(comment_id, now)
        if self.digest is not None:
            self.digest.poke()  # in memory: the answer never waits for mail
        path = self.queue.path(comment_id)
        try:
            size = path.stat().st_size
        except OSError:
            return  # a moderator was quicker; the next count sees it
        self.pending.added(path.name, size)

    def _note_reader(
        self, submission: schema.Submission, comment_id: str, environ, now
    ) -> None:
        """Email to readers at intake: a ticked box keeps the address (and
        queues a confirmation, at most `confirm_limit` an hour per client);
        every comment of a subscribed address is noted, so that its own
        replies are never told to it. The reader's answer does not depend
        on it: a failure is logged."""
        if self.replies is None:
            if submission.notify:
                self._warn_once(
                    "replies",
                    "a comment asked for reply emails, but they are off here: set "
                    "LAB_COMMENTS_PUBLIC_URL and the email settings, or build the "
                    "site without LAB_COMMENTS_REPLY_EMAILS (docs/deploy.md, "
                    "section 11)",
                )
            return
        try:
            self.replies.subscribers.note_written(submission.email, comment_id)
            if not submission.notify:
                return
            client = self.client_of(environ.get("REMOTE_ADDR", ""))
            if self.confirmations.hit(client, self.monotonic()) is not None:
                logger.info("comment %s: too many confirmations asked", comment_id)
                return
            post = self.manifest.posts.get(submission.post)
            on = post.url if post else ""
            self.replies.subscribe(submission.email, comment_id, now, on)
        except (OSError, StoreError) as exc:
            logger.error(
                "comment %s: its subscription was not kept (%s)", comment_id, exc
            )

    # -- readers' links (subscriptions.py): a GET shows a button, a POST acts

    def reader_link(self, environ) -> Response:
        """A link of any reader's email (subscriptions.py): a token for the
        whole address (reply emails) or for one follow (follow.py). A GET
        shows a button; a POST (the button, or a mail app's one-click
        unsubscribe) acts."""
        if self.replies is None and self.follow is None:
            return self.page(Refusal(404, "There is nothing at this address."))
        confirming = environ.get("PATH_INFO", "") == CONFIRM_PATH
        posted = environ.get("REQUEST_METHOD", "GET").upper() == "POST"
        form: Mapping[str, list[str]] = {}
        length = environ.get("CONTENT_LENGTH", "").strip()
        if posted and length.isdigit() and int(length) <= LINK_FIELDS_MAX:
            body = _read_body(environ["wsgi.input"], int(length))
            form = link_fields((body or b"").decode("utf-8", "replace"))
        token = token_of(environ, form)
        now = self.clock()
        purpose = CONFIRM if confirming else UNSUBSCRIBE
        ident = verify(self.queue.secret, purpose, token, now)
        key, kind, sub_id = target(ident or "")
        about = "this challenge" if kind == follow.KIND else "replies to your comment"
        service = self.follow if kind == follow.KIND else self.replies
        mode = ""
        if kind == follow.KIND and service is not None:
            found = follow.token_target(purpose, ident or "")
            key, sub_id, mode = found if found else ("", "", "")
        # A confirmation names one subscription; leaving may name the address.
        kinds = (follow.KIND, replies.KIND) if confirming else ("", follow.KIND)
        if ident is None or not key or kind not in kinds or service is None:
            return self.reader_page(
                400,
                "This link does not work",
                "It is incomplete or too old. If you wanted to confirm, ask "
                "again: send a comment with the box ticked, or follow the "
                "challenge again from its page.",
            )
        if not posted:
            action = "Confirm" if confirming else "Unsubscribe"
            words = (
                f"Press the button to be emailed about {about}."
                if confirming
                else f"Press the button to stop the emails about {about}."
                if kind
                else "Press the button to stop every email from us to this "
                "address and delete it."
            )
            button = (
                f'<form method="post" action="{html.escape(environ["PATH_INFO"])}">'
                f'<input type="hidden" name="t" value="{html.escape(token)}">'
                '<button type="submit" class="lab-button">'
                f"{action}</button></form>"
            )
            return self.reader_page(200, f"{action} email", words, button)
        if confirming:
            if kind == follow.KIND:
                done = self.follow.store.confirm(key, sub_id, mode, now)
                self.follow.poke()
            else:
                done = self.replies.confirm(key, sub_id, now)
            return self.reader_page(
                200,
                "Thank you: your address is confirmed" if done else "Nothing to do",
                f"We will email you about {about}. Every email has a link to stop them."
                if done
                else "There is no subscription for this link any more.",
            )
        if kind:
            self.follow.store.unsubscribe(key, sub_id)
            self._drop_queued(ident)
            return self.reader_page(
                200,
                "You are unsubscribed",
                f"We will not email you about {about} again. Your address is "
                "deleted when you follow nothing.",
            )
        service.subscribers.remove(key)
        self._drop_queued(ident)
        return self.reader_page(
            200,
            "You are unsubscribed",
            "We will not email you again, and your address is deleted.",
        )

    def _drop_queued(self, ident: str) -> None:
        """What an unsubscribe ended is not sent either: its emails still in
        the readers' queue go now (subscriptions.drop_unsubscribed)."""
        try:
            drop_unsubscribed(self.queue.root, self.queue.secret, ident)
        except (OSError, StoreError) as exc:
            # The sender checks each email's subscription again before it
            # goes (ReaderOutbox.wanted): none is sent, it waits on disk.
            logger.error("unsubscribe: queued emails not removed now (%s)", exc)

    def reader_page(
        self, status: int, title: str, words: str, extra: str = ""
    ) -> Response:
        content = answer.Answer(
            title,
            f'<h1 class="lab-heading-xl">{html.escape(title)}</h1>\n'
            f'<p class="lab-body">{html.escape(words)}</p>{extra}',
        )
        return self.show(status, content, [("Cache-Control", "no-store")])

    def _decoy(self, form: Mapping[str, list[str]]) -> None:
        """The writes that storing a comment makes (its file, fsynced, and
        its folder), to a scratch file removed at once: a drop then costs
        what a store costs under any load on the disk or the processor, and
        EqualAnswers only evens out what is left. The scratch file is removed
        by another thread, after the answer: a store removes nothing, and
        removing a file can cost as much as an fsync (on a file system that
        discards freed blocks at once: 4 ms to a store's 8 on the
        development machine), which made a drop the slower answer, and
        EqualAnswers only slows the faster kind. Nor does a drop start that
        thread (Scratch): Thread.start waits until the new thread runs, 2 ms
        or more on a loaded machine, which again made drops the slower. A
        file left by a crash starts with TEMP_PREFIX and goes when the queue
        opens."""
        data = dump_yaml({key: values[0] for key, values in form.items() if values})
        path = self.queue.pending_dir / f"{TEMP_PREFIX}decoy-{secrets.token_hex(8)}"
        try:
            atomic_write(path, data)
        except OSError as exc:
            # As a stored comment would be answered: a program must not learn
            # that its submission was dropped.
            if exc.errno in QUEUE_TROUBLE:
                raise self._queue_failed(exc) from None
            logger.warning("comments endpoint: could not write to the queue")
            return
        self.scratch.remove(path)

    def see_other(self, url: str, environ, fragment: str = "") -> Response:
        location = f"{url}#{fragment}" if fragment else url
        body = (
            '<!DOCTYPE html>\n<html lang="en-GB"><title>Thank you</title>'
            f'<p>Thank you. <a href="{html.escape(location)}">Go back to the '
            "update</a>.</p></html>\n"
        ).encode()
        return Response(
            STATUS[303],
            body,
            [
                ("Location", location),
                ("Content-Type", "text/html; charset=utf-8"),
                *self._cors(self._allowed_origin(environ)),
            ],
        )

    def _content_length(self, environ) -> int:
        value = environ.get("CONTENT_LENGTH", "").strip()
        if not value:
            raise Refusal(411, "The request must say how long it is (Content-Length).")
        if not value.isdigit():
            raise Refusal(400, "The request's Content-Length is not a number.")
        length = int(value)
        if length > self.config.max_body:
            raise Refusal(
                413,
                f"A comment and its details must be under "
                f"{self.config.max_body // 1024} KiB; a comment itself can be "
                f"{schema.BODY_MAX:,} characters long.",
            )
        return length

    def _read_form(self, environ, length: int) -> dict[str, list[str]]:
        data = _read_body(environ["wsgi.input"], length)
        if data is None:
            raise Refusal(400, "The form arrived incomplete. Please send it again.")
        try:
            text = data.decode("utf-8")
            return parse_qs(
                text,
                keep_blank_values=True,
                strict_parsing=False,
                encoding="utf-8",
                errors="strict",
                max_num_fields=40,
            )
        except UnicodeDecodeError:
            raise Refusal(400, "The form was not sent as UTF-8 text.") from None
        except ValueError:
            raise Refusal(400, "The form has too many fields.") from None

    # -- the forge's webhook (lab_comments.hooks)

    def forge_hook(self, environ) -> Response:
        """A signed webhook settles a comment whose pull request was merged
        or closed; nothing is parsed before the signature is checked, and no
        answer names the secret."""
        value = environ.get("CONTENT_LENGTH", "").strip()
        if not value.isdigit():
            return _text(411, "Content-Length required")
        length = int(value)
        if length > hooks.HOOK_BODY_MAX:
            return _text(413, f"over {hooks.HOOK_BODY_MAX} bytes")
        body = _read_body(environ["wsgi.input"], length)
        if body is None:
            return _text(400, "the body arrived incomplete")
        if not hooks.verify(self.config.hook_secret or b"", body, environ):
            logger.warning("forge hook: refused a request without a good signature")
            return _text(401, "signature missing or wrong")
        try:
            payload = hooks.parse(body)
        except hooks.BadPayload as exc:
            return _text(400, str(exc))
        decision = hooks.decide(
            hooks.event_of(environ),
            payload,
            self.config.branch_prefix,
            self.config.forge_repo,
        )
        comment_id = decision.comment_id
        result: dict[str, str] = {"done": "nothing"}
        if comment_id is None:
            result["why"] = decision.why
        elif not hooks.delivered(self.queue.root, comment_id):
            result.update(
                comment=comment_id,
                why="not waiting for a pull request (settled before, or not sent "
                "as one)",
            )
        else:
            done = delivery.settle(
                self.queue, comment_id, decision.merged, self.clock()
            )
            result.update(comment=comment_id)
            if done:
                result["done"] = done
                logger.info("forge hook: comment %s %s", comment_id, done)
            else:
                result["why"] = "settled before"
        body = (json.dumps(result) + "\n").encode()
        return Response(STATUS[200], body, [("Content-Type", "application/json")])

    # -- follow a challenge by email (follow.py)

    def _follow_form(self, environ) -> dict[str, list[str]]:
        if self.follow is None:
            self._warn_once(
                "follow",
                "a request to follow a challenge came, but following is off here: "
                "set LAB_COMMENTS_FOLLOW=on (with LAB_COMMENTS_PUBLIC_URL), or build "
                "the site without LAB_COMMENTS_FOLLOW (docs/deploy.md, section 12)",
            )
            raise Refusal(
                404,
                "Following a challenge by email is not available at the moment. "
                "Its feed is another way to follow it.",
                title="Following by email is not available",
            )
        length = self._content_length(environ)
        media_type = environ.get("CONTENT_TYPE", "").partition(";")[0]
        if media_type.strip().lower() != ACCEPTED_TYPE:
            raise Refusal(415, f"The form must be sent as {ACCEPTED_TYPE} (UTF-8).")
        return self._read_form(environ, length)

    def follow_post(self, environ) -> Response:
        """A request to follow: the same page whatever becomes of it."""
        self._check_origin(environ, "You can only ask from this site's pages.")
        form = self._follow_form(environ)
        wait = self.follow.limiter.hit(
            self.client_of(environ.get("REMOTE_ADDR", "")), self.monotonic()
        )
        if wait is not None:
            raise Refusal(
                429,
                "You have asked to follow several times in a short time. Please "
                "try again in an hour.",
                headers=[("Retry-After", str(max(1, int(wait + 0.999))))],
                title="Please wait before asking again",
            )
        address = follow.form_value(form, "address")
        slug = follow.form_value(form, "challenge")
        mode = follow.form_value(form, "mode") or "each"
        problems: list[schema.Problem] = []
        try:
            # The comments' rule: the address as a mail program reads it
            # (no comment, group, quoted part or domain literal).
            address = schema.email(address)
        except schema.Invalid:
            problems.append(("", "Enter an email address, like name@example.org."))
        if not self._followable(slug) or mode not in follow.MODES:
            problems.append(("", "The form was changed; use the one on the site."))
        if problems:
            raise Refusal(400, problems, title="There is a problem with your request")
        if not follow.form_value(form, "website"):  # the honeypot stays empty
            self.follow.ask(address, slug, mode)
        return self._follow_page(
            "Check your email",
            # The same words whatever happened (no one learns whether an
            # address follows); they say the daily limit, so that a reader
            # whose address was asked for earlier today looks for that email.
            "If this address can take email, one is on its way with a link to "
            "confirm. An address that has not confirmed gets at most one such "
            "email a day: if you asked earlier today, use the link in that one. "
            "Nothing more is sent until you confirm.",
        )

    def _followable(self, slug: str) -> bool:
        """Whether `slug` is a challenge of the site (as the manifest lists
        them; any slug of the right form with a manifest from before it
        did, or none yet)."""
        if not follow.SLUG.fullmatch(slug):
            return False
        try:
            known = self.manifest.load().challenges
        except ManifestError:
            known = None
        return known is None or slug in known

    def _follow_page(self, title: str, text: str):
        content = f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>"
        return self.show(200, answer.Answer(title, content), [])


CommentsApp.routes = {
    "/comments": {"POST": CommentsApp.post_comment, "OPTIONS": CommentsApp.preflight},
    "/health": {"GET": CommentsApp.health},
    hooks.HOOK_PATH: {"POST": CommentsApp.forge_hook},
    CONFIRM_PATH: {"GET": CommentsApp.reader_link, "POST": CommentsApp.reader_link},
    UNSUBSCRIBE_PATH: {
        "GET": CommentsApp.reader_link,
        "POST": CommentsApp.reader_link,
    },
    "/follow": {"POST": CommentsApp.follow_post},
}


def _text(status: int, text: str) -> Response:
    """A short plain answer, for a program (the forge), not a reader."""
    body = f"{text}\n".encode()
    return Response(STATUS[status], body, [("Content-Type", "text/plain")])


def _read_body(stream, length: int) -> bytes | None:
    """Exactly `length` bytes of the request's body, or None if it ends
    sooner."""
    chunks, remaining = [], length
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class Scratch:
    """Removes the decoys' scratch files (CommentsApp._decoy) in a thread of
    its own, after their answers. The thread waits for work and ends when
    there has been none for IDLE seconds, so that a burst of drops starts
    it once and an idle endpoint keeps no thread for it."""

    IDLE = 30.0

    def __init__(self) -> None:
        self._paths: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def remove(self, path: Path) -> None:
        self._paths.put(path)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lab-comments-scratch", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                path = self._paths.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:
                    # A path put since the wait ended is taken by this thread.
                    if self._paths.empty():
                        self._thread = None
                        return
                continue
            try:
                path.unlink(missing_ok=True)
            except OSError:
                logger.warning("comments endpoint: could not remove a scratch file")


def _post_url(form: Mapping[str, list[str]], manifest: Manifest) -> str:
    """The address of the post a form names, if the manifest has it."""
    posted = form.get("post", [""])
    known = manifest.posts.get(posted[0]) if len(posted) == 1 else None
    return known.url if known else ""


def own_origin(environ) -> str:
    """This endpoint's origin as the request names it: an answer page's form
    posts back from there."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    return origin_of(f"{environ.get('wsgi.url_scheme', 'http')}://{host}")


def _utf8(parameters: str) -> bool:
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower() in ("utf-8", "utf8")
    return True


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{(seconds + 59) // 60} minutes"


def make_app(environ: Mapping[str, str] = os.environ) -> CommentsApp:
    """The application configured from environment variables."""
    return CommentsApp(config_from_env(environ))
