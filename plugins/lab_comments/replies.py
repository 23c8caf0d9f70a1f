"""Email to readers who ticked "Email me when someone replies".

At intake (endpoint.py) a ticked box keeps the address with the comment's
id in the private store (subscriptions.py) and queues one confirmation
email, at most one a day to an address that has not confirmed since. Each
comment's subscription is confirmed on its own (its token names it), so
that a stranger's comment cannot subscribe an address that confirmed
another. Nothing is told of a subscription until it is confirmed (by a POST:
a GET only shows the button, since mail scanners follow links).

A reply is told when it is published: when the live manifest (fetched by
fetch.py, or written by a local build) lists it among a post's `replies`
with `to` a subscribed comment. Pending, rejected and erased replies are
never in the manifest, so they are never told. Each subscription remembers
the replies it was told of (`told`), written after the email is queued
under a key fixed by (address, reply): a crash between the two cannot
queue it twice (mail.MailQueue refuses a key queued or sent). A reply the
address wrote itself (`wrote`, noted at intake) is not told.

Sending goes through the readers' mail queue (subscriptions.ReaderOutbox,
`<queue>/reader-mail/`, shared with follow.py), with retries and backoff
(mail.py), one thread at a time. Every email carries a signed unsubscribe
link (for the whole address) and the List-Unsubscribe and
List-Unsubscribe-Post headers (RFC 8058 one-click).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote as url_quote
from xml.etree import ElementTree

from .digest import Looping, quote
from .mail import MailSettings
from .subscriptions import (
    CONFIRM,
    CONFIRM_DAYS,
    CONFIRM_PATH,
    DAILY,
    LIMIT_DIR,
    MAIL_DIR,
    UNSUBSCRIBE,
    UNSUBSCRIBE_DAYS,
    UNSUBSCRIBE_PATH,
    ReaderOutbox,
    RecipientLimit,
    Subscribers,
    about,
    address_hash,
    drop_queued,
    find,
    ident_of,
    moment,
    sign,
)

logger = logging.getLogger(__name__)

KIND = "replies"
# The thread looks at the manifest (a stat of the file) this often, and
# through the subscribers only when it changed, or when poked (a
# confirmation), or every LOOK_SECONDS.
MANIFEST_SECONDS = 2.0
LOOK_SECONDS = 300.0
NAME_CHARS = 80
TEXT_CHARS = 300
# When the follow thread holds the mail queue, try again this soon.
BUSY_SECONDS = 1.0
# A subscription to a comment neither pending nor published (rejected, or
# erased) this long after it was made is dropped: it can never be told
# anything. Longer than a comment may wait (LAB_COMMENTS_PENDING_DAYS, 30)
# and than a build may lag after an approval.
ORPHAN_DAYS = 45


@dataclass(frozen=True)
class ReaderMail:
    """Where links point and who answers: the endpoint's public address
    (LAB_COMMENTS_PUBLIC_URL) and the Reply-To (LAB_COMMENTS_REPLY_TO); at
    most `daily` emails to one address a day (LAB_COMMENTS_READER_MAIL_DAILY,
    subscriptions.RecipientLimit)."""

    public_url: str
    reply_to: str = ""
    daily: int = DAILY


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def link(settings: ReaderMail, path: str, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{path}?t={url_quote(token)}"


# -- what the emails say (pure)


def _page(title: str, paragraphs: list[tuple[str, str]], unsubscribe: str) -> str:
    """HTML built as a tree (readers' words are text nodes, never markup):
    each paragraph is (text, link) with the link "" for none."""
    root = ElementTree.Element("html", lang="en-GB")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "meta", charset="utf-8")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(root, "body")
    for text, href in paragraphs:
        if href:
            paragraph = ElementTree.SubElement(body, "p")
            paragraph.text = text + " "
            ElementTree.SubElement(paragraph, "a", href=href).text = href
        else:
            tag = "blockquote" if text[:1] == ">" else "p"
            ElementTree.SubElement(body, tag).text = text.lstrip("> ")
    footer = ElementTree.SubElement(body, "p")
    footer.text = "To stop these emails: "
    ElementTree.SubElement(footer, "a", href=unsubscribe).text = "unsubscribe"
    return "<!DOCTYPE html>\n" + ElementTree.tostring(
        root, encoding="unicode", method="html"
    )


def _text(paragraphs: list[tuple[str, str]], unsubscribe: str) -> str:
    lines = []
    for text, href in paragraphs:
        lines += [f"{text} {href}".strip(), ""]
    lines.append(f"To stop these emails (one click): {unsubscribe}")
    return "\n".join(lines) + "\n"


def confirmation_email(confirm: str, unsubscribe: str, on: str = "") -> Email:
    """`on`: the address of the update the comment is on ("" if unknown),
    so that a reader with several comments knows which one this is."""
    subject = "Confirm: email me when someone replies"
    paragraphs = [
        (
            "Someone (we hope you) sent a comment with this address and asked "
            "to be emailed when someone replies to it.",
            "",
        ),
        *([("The comment is on this update:", on)] if on else []),
        ("To confirm, open this link and press the button:", confirm),
        (
            "If it was not you, do nothing: we send no other email to this "
            "address, and delete it in 7 days.",
            "",
        ),
    ]
    return Email(
        subject,
        _text(paragraphs, unsubscribe),
        _page(subject, paragraphs, unsubscribe),
    )


def reply_email(title: str, reply: Mapping[str, str], unsubscribe: str) -> Email:
    name = quote(reply["name"], NAME_CHARS)
    subject = "A reply to your comment" + (f" on {quote(title, 100)}" if title else "")
    paragraphs = [
        (f"{name} replied to your comment on {quote(title, 200) or 'an update'}:", ""),
        ("> " + quote(reply["text"], TEXT_CHARS), ""),
        ("Read it and answer:", reply["url"]),
    ]
    return Email(
        subject,
        _text(paragraphs, unsubscribe),
        _page(subject, paragraphs, unsubscribe),
    )


def mail_key(kind: str, ident: str, item: str) -> str:
    """A message's name in the queue and its Message-ID, fixed by what it
    is about, so that it is never queued twice."""
    digest = hashlib.sha256(f"{ident}\0{item}".encode()).hexdigest()[:32]
    return f"{kind}-{digest}"


# -- the worker


class ReplyNotifier(Looping):
    """Queues the confirmation and reply emails and sends them; `start`
    runs it in a thread (`serve`), `run_once` is one round (tests)."""

    thread_name = "lab-comments-replies"

    def __init__(
        self,
        queue_root: Path,
        secret: bytes,
        mail: MailSettings,
        settings: ReaderMail,
        manifest_posts: Callable[[], Mapping],
        *,
        is_pending: Callable[[str], bool] = lambda comment_id: False,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.secret = secret
        self.mail = mail
        self.settings = settings
        self.manifest_posts = manifest_posts
        self.is_pending = is_pending
        self.clock = clock
        self.subscribers = Subscribers(queue_root, secret).open()
        self.outbox = ReaderOutbox(
            queue_root, mail, settings.reply_to, secret=secret, daily=settings.daily
        )
        super().__init__()
        self._purged: dt.datetime | None = None
        # The manifest's posts as last looked through, and when.
        self._looked: tuple[object, float] | None = None

    # -- at intake (the endpoint's threads)

    def subscribe(
        self, address: str, comment_id: str, now: dt.datetime, on: str = ""
    ) -> bool:
        """Keep `address` for replies to `comment_id` (on the update at `on`);
        queue a confirmation when one is due. Whether one was queued."""
        extra = {"on": on} if on else None
        key, ask = self.subscribers.subscribe(address, KIND, comment_id, now, extra)
        if ask:
            self._ask(key, address, comment_id, now, on)
        return ask

    def confirm(self, key: str, comment_id: str, now: dt.datetime) -> bool:
        """A confirmation's link pressed: that comment's subscription is
        confirmed, and another waiting is asked about. False if the
        subscription is gone."""
        done, following = self.subscribers.confirm_one(key, KIND, comment_id, now)
        record = self.subscribers.read(key) if following else None
        sub = find(record, KIND, following) if record else None
        if sub is not None:
            self._ask(key, record["address"], following, now, str(sub.get("on", "")))
        self.poke()
        return done

    def _ask(
        self, key: str, address: str, comment_id: str, now: dt.datetime, on: str
    ) -> None:
        expires = now + dt.timedelta(CONFIRM_DAYS)
        token = sign(self.secret, CONFIRM, ident_of(key, KIND, comment_id), expires)
        email = confirmation_email(
            link(self.settings, CONFIRM_PATH, token), self._unsubscribe(key, now), on
        )
        # One confirmation per comment, ever (the queue refuses a key it has
        # queued or sent): however it is asked for again, it is not resent.
        self._queue(key, f"confirm-{comment_id}", address, email, now, True)
        self.poke()

    def poke(self) -> None:
        self._wake.set()

    # -- the thread (Looping: start, stop)

    def _run(self) -> None:
        # Said at start, so that whoever runs the server sees it is on.
        logger.info(
            "reply emails: on, links from %s, at most %d email(s) a day to a reader",
            self.settings.public_url,
            self.settings.daily,
        )
        while not self._stop.is_set():
            poked = self._wake.is_set()
            self._wake.clear()
            wait = MANIFEST_SECONDS
            try:
                wait = min(wait, self.run_once(always=poked))
            except Exception:
                logger.exception("reply emails: unexpected error")
            self._wake.wait(max(0.05, wait))

    def run_once(self, always: bool = True) -> float:
        """Tell what is new (`always`, or when the manifest changed), send
        what is due; seconds until the next round is needed."""
        with self.outbox.sending(wait=False) as mine:
            if not mine:
                return BUSY_SECONDS
            now = self.clock()
            posts = self.manifest_posts()
            last = self._looked
            if (
                always
                or last is None
                or last[0] is not posts
                or time.monotonic() - last[1] > LOOK_SECONDS
            ):
                self._looked = (posts, time.monotonic())
                self.look(now, posts)
            self.outbox.deliver(self.clock)
            if self._purged is None or now - self._purged > dt.timedelta(days=1):
                self._purged = now
                self.subscribers.purge(now)
                self.tidy(now, posts)
                self.outbox.tidy(now)
            due = self.outbox.next_due()
            wait = LOOK_SECONDS
            if due is not None:
                wait = min(wait, (due - self.clock()).total_seconds())
            return max(0.0, wait)

    def look(self, now: dt.datetime, posts: Mapping) -> int:
        """Queue one email per published reply (in the manifest's `posts`)
        not yet told to a confirmed subscriber of the comment it answers;
        how many were queued."""
        answers: dict[str, list[tuple[str, str, Mapping[str, str]]]] = {}
        for post in posts.values():
            for reply_id, reply in post.replies.items():
                told = (post.title, reply_id, reply)
                answers.setdefault(reply["to"], []).append(told)
        if not answers:
            return 0
        queued = 0
        for ident in self.subscribers.idents():
            record = self.subscribers.read(ident)
            if not record:
                continue
            wrote = set(record.get("wrote", []))
            for sub in record.get("subscriptions", []):
                if sub.get("kind") != KIND or not sub.get("confirmed"):
                    continue
                told = set(sub.get("told", []))
                for title, reply_id, reply in answers.get(sub.get("id"), []):
                    if reply_id in told or reply_id in wrote:
                        continue
                    email = reply_email(title, reply, self._unsubscribe(ident, now))
                    if self._queue(ident, reply_id, record["address"], email, now):
                        queued += 1
                    self.subscribers.told(ident, KIND, sub["id"], reply_id)
        return queued

    def tidy(self, now: dt.datetime, posts: Mapping) -> int:
        """Drop subscriptions that can never be told anything (ORPHAN_DAYS);
        nothing without a manifest (it would look like no comment at all)."""
        if not posts:
            return 0
        published = set().union(*(post.comments for post in posts.values()))
        limit = now - dt.timedelta(days=ORPHAN_DAYS)

        def keep(sub: Mapping) -> bool:
            comment_id = sub.get("id")
            return (
                sub.get("kind") != KIND
                or comment_id in published
                or moment(sub.get("since")) >= limit
                or self.is_pending(str(comment_id))
            )

        return sum(self.subscribers.drop(i, keep) for i in self.subscribers.idents())

    def _unsubscribe(self, ident: str, now: dt.datetime) -> str:
        expires = now + dt.timedelta(days=UNSUBSCRIBE_DAYS)
        token = sign(self.secret, UNSUBSCRIBE, ident, expires)
        return link(self.settings, UNSUBSCRIBE_PATH, token)

    def _queue(  # noqa: PLR0917 (one email's parts, in order)
        self,
        ident: str,
        item: str,
        address: str,
        email: Email,
        now: dt.datetime,
        confirm: bool = False,
    ) -> bool:
        return self.outbox.add(
            mail_key(KIND, ident, item),
            address,
            email.subject,
            email.text,
            email.html,
            now,
            self._unsubscribe(ident, now),
            about(KIND, confirm=confirm),
        )


def erase_address(queue_root: Path, secret: bytes, address: str) -> int:
    """Everything the reader email keeps about `address`: its file in the
    store, its emails still queued (subscriptions.drop_queued, the path an
    unsubscribe takes too; the sent markers name no address) and its daily
    count. How many files were removed. Needs no mail settings. It only
    removes files (staff may run it as root beside the endpoint's files)."""
    removed = int(Subscribers(queue_root, secret).erase(address))
    removed += drop_queued(queue_root, secret, address_hash(secret, address))
    limit = RecipientLimit(Path(queue_root) / MAIL_DIR / LIMIT_DIR, secret)
    return removed + int(limit.forget(address))
