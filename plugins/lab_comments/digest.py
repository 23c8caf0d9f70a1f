"""Telling moderators that comments are waiting: one email, a digest, at
most once every LAB_COMMENTS_DIGEST_MINUTES.

What drives it is the queue itself: the pending comments that no digest
has listed yet. A comment taken while the endpoint's mail worker was down,
or by another process, is found on the next look, and a restart neither
sends a digest again nor forgets a comment. The endpoint only wakes the
worker (`Notifier.poke`, an in-memory flag): a reader's answer never waits
for the mail server.

The first comment not yet listed opens a window; when it has been open
LAB_COMMENTS_DIGEST_MINUTES, one digest lists every comment not yet listed
that is still pending (none left: no email). So three comments in a minute
make one email, and two digests are always that far apart. While a digest
waits in the mail queue (the server is down), no new one is made: when the
server is back, the waiting one goes, and the next lists everything since,
instead of one email per window of the outage.

What has been listed, and the open window, are kept in
`<queue>/mail/digest.yaml`, written atomically after the digest is queued
(mail.MailQueue: on disk before any attempt to send); a crash between the
two is mended on the next round from the ids the queued digest names.

The email: the subject holds only a count; the body lists each comment's
update, id, name and first line (a stranger's words, quoted and shortened,
with control and format characters taken out), and how to moderate it: its
pull request's address when the delivery by pull request has one
(`<queue>/outbox/<id>.yaml`, field `url`), "being opened" while it has
none, or, in the queue mode, the command that lists pending comments.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from . import delivery, schema
from .mail import MailQueue, MailSettings, new_message, sender_domain, stamp
from .store import Queue, StoreError, atomic_write, dump_yaml, load_yaml

logger = logging.getLogger(__name__)

MAIL_DIR = "mail"
STATE_FILE = "digest.yaml"
LOCK_FILE = ".digest.lock"
# How often the worker looks at the queue when nothing woke it (a comment
# taken by another process, a restart's backlog); sooner when a window or a
# retry is due.
LOOK_SECONDS = 60.0
# What of a stranger's text a digest quotes.
NAME_CHARS = 80
LINE_CHARS = 100
LIST_COMMAND = "make comments-list  (or: python -m lab_comments.cli list)"


@dataclass(frozen=True)
class DigestSettings:
    moderators: tuple[str, ...]
    minutes: float = 15.0  # a float: tests use a few seconds
    # A digest the server refused this long is given up (the comments it
    # lists are purged after as long: LAB_COMMENTS_PENDING_DAYS).
    keep_days: float = 30.0


@dataclass(frozen=True)
class Item:
    """One comment as a digest lists it."""

    id: str
    post: str
    post_url: str
    name: str
    first_line: str
    pull: str  # "" (queue mode), a URL, or PULL_OPENING
    problem: str = ""  # the record cannot be read: what is wrong


PULL_OPENING = "being opened"


# -- what a digest says (pure)


def quote(text: str, limit: int) -> str:
    """A stranger's text for a plain-text line: control, format and
    separator characters out (no line breaks, no bidi overrides), spaces
    single, at most `limit` characters."""
    kept = "".join(
        " " if unicodedata.category(c) in ("Zl", "Zp", "Cc") else c
        for c in text
        if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn")
    )
    words = " ".join(kept.split())
    if len(words) > limit:
        words = words[: limit - 1].rstrip() + "…"
    return words


def first_line(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return line
    return ""


def subject(count: int) -> str:
    return f"{count} new comment{'' if count == 1 else 's'} to moderate"


def digest_text(items: Sequence[Item], minutes: float) -> str:
    """The plain text of a digest."""
    count = len(items)
    lines = [
        f"{count} new comment{'' if count == 1 else 's'} "
        f"{'is' if count == 1 else 'are'} waiting for moderation.",
        "",
        "Names and words below are what readers typed: quoted, shortened, and",
        "not checked. Do not follow a link in them without care.",
        "",
    ]
    for number, item in enumerate(items, 1):
        lines.append(f"{number}. On {item.post_url or item.post} (id {item.id})")
        if item.problem:
            lines.append(f"   It cannot be read: {item.problem}")
        else:
            lines.append(f"   Name:  > {quote(item.name, NAME_CHARS)}")
            lines.append(f"   Text:  > {quote(item.first_line, LINE_CHARS)}")
        if item.pull == PULL_OPENING:
            lines.append("   Pull request: being opened (the forge has not answered)")
        elif item.pull:
            lines.append(f"   Pull request: {item.pull}")
        lines.append("")
    lines.append("To moderate:")
    if any(item.pull for item in items):
        lines.append(
            "- a pull request: merge it to publish the comment, close it to reject it."
        )
    if any(not item.pull for item in items):
        lines.append(
            f"- on the server that holds the queue: {LIST_COMMAND},\n"
            "  then make comments-approve ID=... or make comments-reject ID=..."
        )
    every = f"{minutes:g} minute{'' if minutes == 1 else 's'}"
    lines += ["", f"(The comments endpoint sends this at most once every {every}.)"]
    return "\n".join(lines) + "\n"


def digest_html(items: Sequence[Item], minutes: float) -> str:
    """The HTML alternative of a digest, built as a tree (ElementTree, with
    the stdlib's escaping): readers' words are text nodes in blockquotes,
    never markup; the only links are the update's address (from the
    manifest) and the pull request's (from the forge)."""
    count = len(items)

    def add(parent, tag: str, text: str = "", **attributes) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, tag, attributes)
        element.text = text
        return element

    root = ElementTree.Element("html", lang="en-GB")
    head = add(root, "head")
    add(head, "meta", charset="utf-8")
    add(head, "title", subject(count))
    body = add(root, "body")

    add(
        body,
        "p",
        f"{count} new comment{'' if count == 1 else 's'} "
        f"{'is' if count == 1 else 'are'} waiting for moderation. Names and "
        "words below are what readers typed: quoted, shortened, not checked.",
    )
    listing = add(body, "ol")
    for item in items:
        entry = add(listing, "li", "On ")
        if item.post_url.startswith(("https://", "http://")):
            add(entry, "a", item.post_url, href=item.post_url)
        else:
            add(entry, "span", item.post or "an update")
        add(entry, "span", f" (id {item.id})")
        if item.problem:
            add(entry, "p", f"It cannot be read: {item.problem}")
        else:
            add(entry, "p", "Name:")
            add(entry, "blockquote", quote(item.name, NAME_CHARS))
            add(entry, "p", "Text:")
            add(entry, "blockquote", quote(item.first_line, LINE_CHARS))
        if item.pull == PULL_OPENING:
            add(entry, "p", "Pull request: being opened (the forge has not answered)")
        elif item.pull:
            add(add(entry, "p", "Pull request: "), "a", item.pull, href=item.pull)
    add(body, "p", "To moderate:")
    ways = add(body, "ul")
    if any(item.pull for item in items):
        add(ways, "li", "a pull request: merge it to publish the comment, close it "
            "to reject it.")  # fmt: skip
    if any(not item.pull for item in items):
        way = add(ways, "li", "on the server that holds the queue: ")
        add(way, "code", "make comments-list")
        way[-1].tail = ", then comments-approve or comments-reject with ID=…"
    every = f"{minutes:g} minute{'' if minutes == 1 else 's'}"
    add(body, "p", f"The comments endpoint sends this at most once every {every}.")
    return "<!DOCTYPE html>\n" + ElementTree.tostring(
        root, encoding="unicode", method="html"
    )


def digest_key(ids: Iterable[str]) -> str:
    """The digest's name in the mail queue and in its Message-ID: fixed by
    the comments it lists, so that a duplicate is recognisable."""
    joined = "\n".join(sorted(ids)).encode()
    return "digest-" + hashlib.sha256(joined).hexdigest()[:24]


def pull_request(queue_root: Path, comment_id: str) -> str:
    """How the delivery by pull request stands for one comment: its URL,
    PULL_OPENING, or "" when it has no outbox file (queue mode)."""
    path = delivery.outbox_path(queue_root, comment_id)
    try:
        data = load_yaml(path.read_bytes())
    except FileNotFoundError:
        return ""
    except (OSError, StoreError):
        return PULL_OPENING
    url = data.get("url") if isinstance(data, dict) else None
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return quote(url, 500)
    return PULL_OPENING


# -- the worker


class Looping:
    """A worker thread: `start` runs `_run` (which waits on `_wake` and
    ends when `_stop` is set); `stop` ends it. The subclass names the
    thread and calls this __init__."""

    thread_name = "lab-comments-worker"

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=self.thread_name, daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


@dataclass
class State:
    notified: set[str]
    window: dt.datetime | None = None
    last: dt.datetime | None = None


class Notifier(Looping):
    """Sends the digests; `start` runs it in a thread (the server does),
    `run_once` is one round (the tests step it)."""

    thread_name = "lab-comments-digest"

    def __init__(
        self,
        queue: Queue,
        mail: MailSettings,
        settings: DigestSettings,
        post_url: Callable[[str], str] = lambda slug: "",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.queue = queue
        self.mail = mail
        self.settings = settings
        self.post_url = post_url
        self.clock = clock
        self.folder = Path(queue.root) / MAIL_DIR
        self.outbox = MailQueue(self.folder).open()
        super().__init__()
        self._purged: dt.datetime | None = None
        # Whether a window is open: the comments that arrive meanwhile go in
        # its digest, so they need not wake the worker (under a flood of
        # comments it looks once a window, not once a comment).
        self.window_open = False

    # -- from other threads

    def poke(self) -> None:
        """A comment was stored: look soon (cheap; called by the endpoint)."""
        self._wake.set()

    def _run(self) -> None:
        logger.info(
            "moderators' digest: to %d address(es) through %s:%d, at most every "
            "%g minute(s)",
            len(self.settings.moderators),
            self.mail.host,
            self.mail.effective_port,
            self.settings.minutes,
        )
        while not self._stop.is_set():
            self._wake.clear()
            wait = LOOK_SECONDS
            try:
                wait = self.run_once()
            except Exception:
                # Logged, and tried again on the next round: a worker that
                # died would tell nobody anything again.
                logger.exception("moderators' digest: unexpected error")
            if self.window_open:
                self._stop.wait(max(0.05, wait))
            else:
                self._wake.wait(max(0.05, wait))

    # -- one round

    @property
    def window_seconds(self) -> float:
        return self.settings.minutes * 60

    def run_once(self) -> float:
        """Look, queue a digest when a window is over, send what is due;
        seconds until the next round is needed."""
        lock = self.folder / LOCK_FILE
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return LOOK_SECONDS  # another process sends the digests
            now = self.clock()
            self._look(now)
            self.outbox.deliver(self.mail, self.clock())
            if self._purged is None or now - self._purged > dt.timedelta(days=1):
                self._purged = now
                self.outbox.purge_sent(now)
                self.outbox.expire(now, self.settings.keep_days)
            return self._next_round(self.clock())
        finally:
            os.close(fd)

    def _look(self, now: dt.datetime) -> None:
        state = self.read_state()
        waiting = self._waiting_digests()
        listed = set().union(*waiting.values()) if waiting else set()
        # A digest queued just before a crash, its ids not yet in the state.
        changed = not listed <= state.notified
        state.notified |= listed
        pending = set(self.queue.ids())
        # Only pending ids matter: the set stays as small as the queue.
        state.notified &= pending
        new = sorted(pending - state.notified)
        if not new:
            changed |= state.window is not None
            state.window = None
        elif state.window is None:
            state.window = now
            changed = True
        elif not waiting and now >= state.window + dt.timedelta(
            seconds=self.window_seconds
        ):
            # (While a digest waits for the server, no new one is made: the
            # window stays open until it has gone; module docstring.)
            items = self._items(new)
            if items:
                self._queue_digest(items, now)
                state.last = now
            state.notified |= set(new)
            state.window = None
            changed = True
        self.window_open = state.window is not None
        if changed:
            self.write_state(state)

    def _items(self, ids: Sequence[str]) -> list[Item]:
        items = []
        for comment_id in ids:
            try:
                record = self.queue.read(comment_id)
            except StoreError as exc:
                if not self.queue.path(comment_id).exists():
                    continue  # moderated in the meantime
                items.append(
                    Item(comment_id, "", "", "", "", "", problem=str(exc)[:200])
                )
                continue
            items.append(
                Item(
                    id=comment_id,
                    post=record["post"],
                    post_url=self.post_url(record["post"]),
                    name=record["name"],
                    first_line=first_line(record["body"]),
                    pull=pull_request(self.queue.root, comment_id),
                )
            )
        return items

    def _queue_digest(self, items: Sequence[Item], now: dt.datetime) -> None:
        ids = [item.id for item in items]
        key = digest_key(ids)
        message = new_message(
            self.mail,
            self.settings.moderators,
            subject(len(items)),
            digest_text(items, self.settings.minutes),
            html=digest_html(items, self.settings.minutes),
            message_id=f"<{key}@{sender_domain(self.mail)}>",
            now=now,
            # RFC 3834: no out-of-office answers to a machine's message.
            headers={"Auto-Submitted": "auto-generated"},
        )
        if self.outbox.add(key, message, self.settings.moderators, now, {"ids": ids}):
            logger.info("moderators' digest %s queued: %d comment(s)", key, len(ids))

    def _waiting_digests(self) -> dict[str, set[str]]:
        """The comment ids each digest still in the mail queue lists."""
        return {
            entry.key: {str(i) for i in entry.meta.get("ids", [])}
            for entry in self.outbox.entries()
            if entry.key.startswith("digest-")
        }

    def _next_round(self, now: dt.datetime) -> float:
        wait = LOOK_SECONDS
        due = self.outbox.next_due()
        if due is not None:
            wait = min(wait, (due - now).total_seconds())
        state = self.read_state()
        if state.window is not None:
            end = state.window + dt.timedelta(seconds=self.window_seconds)
            # A window that is over waits for the queued digest to go.
            if end > now or due is None:
                wait = min(wait, (end - now).total_seconds())
        return max(0.0, wait)

    # -- the state file

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    def read_state(self) -> State:
        try:
            data = load_yaml(self.state_path.read_bytes())
        except FileNotFoundError:
            return State(set())
        except (OSError, StoreError):
            logger.error("moderators' digest: %s cannot be read", self.state_path)
            return State(set())
        return _state(data if isinstance(data, dict) else {})

    def write_state(self, state: State) -> None:
        record = {
            "notified": sorted(state.notified),
            "window": stamp(state.window) if state.window else None,
            "last": stamp(state.last) if state.last else None,
        }
        atomic_write(self.state_path, dump_yaml(record))


def _state(data: Mapping[str, Any]) -> State:
    def moment(value: Any) -> dt.datetime | None:
        try:
            return schema.utc_datetime(value) if value else None
        except schema.Invalid:
            return None

    notified = data.get("notified") or []
    return State(
        notified={str(i) for i in notified} if isinstance(notified, list) else set(),
        window=moment(data.get("window")),
        last=moment(data.get("last")),
    )
