"""Follow a challenge by email (issue 19): a reader gives an address and a
challenge, confirms it by a signed link, then gets one email per new item of
that challenge's feed (updates, phases starting, calls opening and closing:
the same data as the feed), or one weekly digest, as they chose.

    POST /follow              address, challenge, mode (each | weekly); the
                              same "check your email" page whatever happens,
                              so that the form tells nobody who follows what

Confirming and leaving go through the readers' routes that the reply emails
use too (subscriptions.CONFIRM_PATH, UNSUBSCRIBE_PATH: a GET shows a
button, a POST acts, one-click unsubscribe by RFC 8058); a follow's tokens
name one subscription (`<hash>~follow~<slug>`), so its unsubscribe link ends
that follow only; a confirmation's token names the mode asked for too
(`<hash>~follow~<slug>~<mode>`), so a click confirms what its email said,
whatever else was asked since. Every link is made from the endpoint's
public address (LAB_COMMENTS_PUBLIC_URL), never from a request's Host.

**What is kept.** The address and its follows are in the readers' private
store (subscriptions.Subscribers, `<queue>/subscribers/`): one subscription
of kind "follow" per challenge, holding the mode, when it was confirmed
(each follow on its own) and the last digest. A request changes nothing of a
confirmed follow: only its confirmation does. An address with nothing left
is deleted; a follow never confirmed after subscriptions.CONFIRM_DAYS.
`<queue>/followers/` keeps only public data: `challenges/<slug>.yaml` the
ids, titles and links of the items seen in each followed feed and when each
was first seen, and `feeds/` the last good copy of each feed fetched from
the live site. Mail waits in the readers' queue (subscriptions.ReaderOutbox:
retries, sent once).

**Abuse.** At most one confirmation email per address per day, whatever is
asked (the store's `asked`, shared with the reply emails); at most `rate`
requests per client per hour (limits.RateLimiter); nothing but a
confirmation is ever sent to a follow not confirmed. Every follow, and every
change of a follow's mode, needs its own confirmation, so a stranger cannot
add follows to an address that confirmed one, nor change what it gets.

**The feeds** are the build's Atom feeds of each challenge (lab_feeds:
feeds/challenge/<slug>.atom.xml), fetched from the live site or read from a
folder (`feed` pattern with {slug}); fetched through fetch.Fetcher, so with
its validators (a 304 when unchanged), cap, deadline and checks. The first
look at a feed records what it holds and sends nothing; an item first seen
before a follow was confirmed is never sent to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus
from xml.etree import ElementTree

from lxml import etree

from . import schema
from .digest import Looping
from .limits import RateLimiter
from .mail import MailSettings, stamp
from .store import StoreError, atomic_write, dump_yaml, load_yaml, make_dir
from .subscriptions import (
    CONFIRM,
    CONFIRM_DAYS,
    CONFIRM_PATH,
    DAILY,
    UNSUBSCRIBE,
    UNSUBSCRIBE_DAYS,
    UNSUBSCRIBE_PATH,
    ReaderOutbox,
    Subscribers,
    about,
    find,
    ident_of,
    may_ask,
    new_record,
    sign,
    target,
)

logger = logging.getLogger(__name__)

FOLDER = "followers"
KIND = "follow"
MODES = ("each", "weekly")
# As long as a post's slug may be (schema.slug): a challenge's is one too.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,199}")
UNCONFIRMED_DAYS = CONFIRM_DAYS  # a follow never confirmed goes then
ATOM = "{http://www.w3.org/2005/Atom}"
FEED_MAX = 5 * 1024 * 1024
# Items first seen this long ago and gone from the feed are forgotten.
KEEP_DAYS = 60


@dataclass(frozen=True)
class FollowSettings:
    feed: str  # a URL or a path, with {slug}; "" : the site's, from the manifest
    every: float = 900.0  # seconds between two looks at the feeds
    digest_days: float = 7.0
    rate: int = 5  # requests per client per hour


def make_token(secret: bytes, purpose: str, ident: str, now: dt.datetime, days: int):
    return sign(secret, purpose, ident, now + dt.timedelta(days=days))


# -- the feed (pure)


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    url: str


def parse_feed(data: bytes) -> tuple[str, list[Item]]:
    """(title, items) of an Atom feed; ValueError if it is not one. A
    document type is refused: the feed is ours and never has one, and it is
    the way to an entity bomb."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ValueError("a feed with a document type")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if root.tag != f"{ATOM}feed":
        raise ValueError("not an Atom feed")
    items = []
    for entry in root.iter(f"{ATOM}entry"):
        ident = (entry.findtext(f"{ATOM}id") or "").strip()
        if not ident:
            continue
        url = ""
        for link in entry.iter(f"{ATOM}link"):
            if link.get("rel", "alternate") == "alternate":
                url = link.get("href", "")
                break
        title = " ".join((entry.findtext(f"{ATOM}title") or "").split())
        items.append(Item(ident, title, url))
    return " ".join((root.findtext(f"{ATOM}title") or "").split()), items


def feed_problem(data: bytes) -> str:
    """What makes `data` no Atom feed of ours ("" when it is one)."""
    try:
        parse_feed(data)
    except ValueError as exc:
        return str(exc)
    return ""


class FeedReader:
    """A feed's bytes from a path, or from the live site through
    fetch.Fetcher (validators sent back, so an unchanged feed costs a 304;
    a cap, a deadline, the checks; the copy kept in `folder`). A fetch that
    fails leaves the last good copy, which then holds nothing new."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.sources: dict[str, Any] = {}

    def __call__(self, location: str) -> bytes:
        if not location.startswith(("https://", "http://")):
            return Path(location).read_bytes()
        # Imported here: fetch imports the endpoint, which imports this.
        from .fetch import Fetcher, Source

        source = self.sources.get(location)
        if source is None:
            name = hashlib.sha256(location.encode()).hexdigest()[:24] + ".xml"
            source = Source(location, self.folder / name, feed_problem, FEED_MAX)
            self.sources[location] = source
        Fetcher([], every=0).fetch(source)
        return source.path.read_bytes()  # OSError: never fetched yet


# -- the emails (pure)


@dataclass(frozen=True)
class Letter:
    subject: str
    text: str
    html: str


def _html(
    title: str, paragraphs: list[tuple[str, str]], items=(), intro: str = ""
) -> str:
    """A small HTML part built as a tree (ElementTree escapes): paragraphs
    are (text, link) pairs; items (title, url) make a list of links."""
    root = ElementTree.Element("html", lang="en-GB")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "meta", charset="utf-8")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(root, "body")
    if intro:
        ElementTree.SubElement(body, "p").text = intro
    if items:
        listing = ElementTree.SubElement(body, "ul")
        for text, url in items:
            entry = ElementTree.SubElement(listing, "li")
            if url.startswith(("https://", "http://")):
                ElementTree.SubElement(entry, "a", href=url).text = text
            else:
                entry.text = text
    for text, link in paragraphs:
        paragraph = ElementTree.SubElement(body, "p")
        if link:
            paragraph.text = text + " "
            ElementTree.SubElement(paragraph, "a", href=link).text = link
        else:
            paragraph.text = text
    return "<!DOCTYPE html>\n" + ElementTree.tostring(
        root, encoding="unicode", method="html"
    )


def confirm_letter(
    challenge: str, mode: str, link: str, unsubscribe: str, change: bool = False
) -> Letter:
    how = "an email for each new item" if mode == "each" else "a weekly email"
    if change:
        subject = f"Confirm: change how you follow {challenge}"
        asked = f"to get {how} about {challenge} instead of the emails you get now"
    else:
        subject = f"Confirm: follow {challenge} by email"
        asked = f"to follow {challenge} by email ({how})"
    lines = [
        f"Someone, probably you, asked {asked}.",
        "To confirm, open this link and press the button:",
        link,
        "If it was not you, do nothing: nothing more will be sent, and the "
        f"address is deleted after {UNCONFIRMED_DAYS} days.",
        "To stop every email about it now, open:",
        unsubscribe,
    ]
    html = _html(
        subject,
        [
            (lines[0], ""),
            ("To confirm, open this link and press the button:", link),
            (lines[3], ""),
            (lines[4], unsubscribe),
        ],
    )
    return Letter(subject, "\n\n".join(lines) + "\n", html)


def items_letter(challenge: str, items: list[Item], unsubscribe: str) -> Letter:
    if len(items) == 1:
        subject = f"{challenge}: {items[0].title}"[:200]
        intro = f"New in {challenge}:"
    else:
        subject = f"{challenge}: {len(items)} new items this week"
        intro = f"New in {challenge} this week:"
    text = [intro, ""]
    for item in items:
        text += [f"- {item.title}", f"  {item.url}"]
    leave = "To stop these emails, open:"
    text += ["", leave, unsubscribe]
    html = _html(
        subject,
        [(leave, unsubscribe)],
        items=[(item.title, item.url) for item in items],
        intro=intro,
    )
    return Letter(subject, "\n".join(text) + "\n", html)


# -- the store


@dataclass
class Reader:
    """An address and its follows, as read (subscriptions.Subscribers)."""

    key: str
    address: str
    # slug -> {"mode", "confirmed" (stamp or None), "last_digest", ...}
    follows: dict[str, dict[str, Any]] = field(default_factory=dict)


def _moment(value: Any) -> dt.datetime | None:
    try:
        return schema.utc_datetime(value) if value else None
    except schema.Invalid:
        return None


class FollowStore:
    """The follows, kept in the readers' store (subscriptions.Subscribers,
    whose lock every change takes: a change reads the file afresh, so an
    unsubscribe meanwhile wins), and what was seen in each feed (`lock`,
    for this process's request threads and worker)."""

    def __init__(self, queue_root: Path, secret: bytes):
        self.subscribers = Subscribers(queue_root, secret)
        self.root = Path(queue_root) / FOLDER
        self.challenges_dir = self.root / "challenges"
        self.lock = threading.RLock()

    def open(self) -> FollowStore:
        self.subscribers.open()
        for folder in (self.root, self.challenges_dir):
            make_dir(folder)
        return self

    def key(self, address: str) -> str:
        return self.subscribers.hash(address)

    def read(self, key: str) -> Reader | None:
        """The address's follows; None when it follows nothing."""
        try:
            record = self.subscribers.read(key)
        except StoreError:
            return None
        follows = {
            str(sub.get("id")): sub
            for sub in (record or {}).get("subscriptions", [])
            if sub.get("kind") == KIND
        }
        if not follows:
            return None
        return Reader(key, str(record.get("address", "")), follows)

    def readers(self) -> list[Reader]:
        found = (self.read(key) for key in self.subscribers.idents())
        return [reader for reader in found if reader is not None]

    def _change(self, key: str, slug: str, change: Callable[[dict], Any]) -> Any:
        """`change` applied to the follow of `slug` as the file holds it now
        (None, and nothing written, when there is none)."""
        with self.subscribers.lock():
            record = self.subscribers.read(key)
            for sub in (record or {}).get("subscriptions", []):
                if sub.get("kind") == KIND and sub.get("id") == slug:
                    result = change(sub)
                    if result is not None:
                        self.subscribers.write(key, record)
                    return result
        return None

    def ask(
        self, address: str, slug: str, mode: str, now: dt.datetime
    ) -> tuple[str, bool, bool]:
        """Record a follow waiting for confirmation (or keep the one that
        waits: asking again neither changes it nor makes it last longer);
        (the address's key, whether to send a confirmation now, whether it
        is for a change of mode). None is sent within a day of the last one
        to the address (RESEND), nor when the follow is confirmed already
        with this mode. A confirmed follow is not changed by a request: its
        new mode is in the confirmation's token, so a stranger can neither
        turn another's weekly email into one per item nor the other way."""
        key = self.key(address)
        with self.subscribers.lock():
            record = self.subscribers.read(key) or new_record(address, now)
            follow = find(record, KIND, slug)
            change = bool(follow and follow.get("confirmed"))
            if change and follow.get("mode") == mode:
                return key, False, False
            if follow is None:
                follow = {"kind": KIND, "id": slug, "since": stamp(now)}
                follow.update(mode=mode, confirmed=None)
                record["subscriptions"].append(follow)
            send = may_ask(record, now)
            self.subscribers.write(key, record)
        return key, send, change

    def confirm(self, key: str, slug: str, mode: str, now: dt.datetime) -> bool:
        """The follow of `slug` confirmed with `mode` (the token's): a new
        follow starts, or a confirmed one changes its mode."""

        def confirm(follow: dict) -> bool:
            if not follow.get("confirmed"):
                follow["confirmed"] = stamp(now)
                follow["last_digest"] = stamp(now)
            elif follow.get("mode") != mode:
                follow["last_digest"] = stamp(now)  # the week starts anew
            follow["mode"] = mode
            return True

        return bool(self._change(key, slug, confirm))

    def digest_sent(self, key: str, slug: str, now: dt.datetime) -> None:
        self._change(key, slug, lambda follow: follow.update(last_digest=stamp(now)))

    def unsubscribe(self, key: str, slug: str) -> bool:
        """The follow of `slug` ends (the address goes when nothing is left)."""
        return bool(
            self.subscribers.drop(
                key, lambda sub: not (sub.get("kind") == KIND and sub.get("id") == slug)
            )
        )

    def purge(self, now: dt.datetime) -> int:
        """Follows never confirmed after UNCONFIRMED_DAYS go (the store's
        purge, with every other unconfirmed subscription)."""
        return self.subscribers.purge(now)

    # -- what each feed held

    def seen(self, slug: str) -> dict[str, dict[str, Any]] | None:
        try:
            data = load_yaml((self.challenges_dir / f"{slug}.yaml").read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, StoreError):
            logger.error("follow: the state of %s cannot be read", slug)
            return None
        items = data.get("items") if isinstance(data, dict) else None
        return items if isinstance(items, dict) else {}

    def write_seen(self, slug: str, items: Mapping[str, dict[str, Any]]) -> None:
        path = self.challenges_dir / f"{slug}.yaml"
        atomic_write(path, dump_yaml({"items": dict(items)}))


# -- the worker


def mail_key(*parts: str) -> str:
    return "follow-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


class Follow(Looping):
    """The follow service: what the routes call (`ask`, `confirm`,
    `unsubscribe`) and the worker that reads the feeds and sends (`start`,
    or `run_once`, which the tests step)."""

    thread_name = "lab-comments-follow"

    def __init__(  # noqa: PLR0917 (the app passes them by name)
        self,
        queue_root: Path,
        secret: bytes,
        mail: MailSettings,
        settings: FollowSettings,
        siteurl: Callable[[], str] = lambda: "",
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        reader: Callable[[str], bytes] | None = None,
        reply_to: str = "",
        public_url: str = "",
        daily: int = DAILY,
    ):
        self.store = FollowStore(Path(queue_root), secret).open()
        if reader is None:
            make_dir(self.store.root / "feeds")
            reader = FeedReader(self.store.root / "feeds")
        self.outbox = ReaderOutbox(
            queue_root, mail, reply_to, secret=secret, daily=daily
        )
        self.secret = secret
        self.mail = mail
        self.settings = settings
        # Every link of the emails starts with the endpoint's public address
        # (LAB_COMMENTS_PUBLIC_URL), never with what a request says it is.
        self.public_url = public_url.rstrip("/")
        self.siteurl = siteurl
        self.clock = clock
        self.read = reader
        self.limiter = RateLimiter(settings.rate, 3600.0)
        super().__init__()
        self._round = threading.Lock()

    def feed_location(self, slug: str) -> str:
        pattern = self.settings.feed
        if not pattern:
            site = self.siteurl().rstrip("/")
            if not site:
                return ""
            pattern = site + "/feeds/challenge/{slug}.atom.xml"
        return pattern.replace("{slug}", slug)

    # -- what the routes do

    def ask(self, address: str, slug: str, mode: str) -> None:
        """A request to follow (checked by the caller); a confirmation queued
        when the store says so."""
        now = self.clock()
        key, send, change = self.store.ask(address, slug, mode, now)
        if not send:
            return
        ident = ident_of(key, KIND, f"{slug}~{mode}")
        token = make_token(self.secret, CONFIRM, ident, now, CONFIRM_DAYS)
        confirm = self.link(CONFIRM_PATH, token)
        leave = self.unsubscribe_link(key, slug, now)
        letter = confirm_letter(slug, mode, confirm, leave, change=change)
        name = mail_key("confirm", key, stamp(now))
        self._queue(name, address, letter, now, leave, about(KIND, slug, confirm=True))
        self._wake.set()

    def _queue(  # noqa: PLR0917 (one email's parts, in order)
        self,
        key: str,
        address: str,
        letter: Letter,
        now: dt.datetime,
        unsubscribe: str,
        meta: Mapping[str, Any],
    ) -> None:
        self.outbox.add(
            key,
            address,
            letter.subject,
            letter.text,
            letter.html,
            now,
            unsubscribe,
            meta,
        )

    def link(self, path: str, token: str) -> str:
        return f"{self.public_url}{path}?t={quote_plus(token)}"

    def unsubscribe_link(self, key: str, slug: str, now: dt.datetime) -> str:
        ident = ident_of(key, KIND, slug)
        token = make_token(self.secret, UNSUBSCRIBE, ident, now, UNSUBSCRIBE_DAYS)
        return self.link(UNSUBSCRIBE_PATH, token)

    def poke(self) -> None:
        """A follow was confirmed: look and send soon."""
        self._wake.set()

    # -- the worker

    def _run(self) -> None:
        logger.info(
            "following: on, feeds from %s, a look every %g s",
            self.settings.feed or "the site the manifest names",
            self.settings.every,
        )
        last_look: dt.datetime | None = None
        while not self._stop.is_set():
            self._wake.clear()
            try:
                now = self.clock()
                look = last_look is None or (now - last_look).total_seconds() >= (
                    self.settings.every
                )
                if look:
                    last_look = now
                self.run_once(look=look)
            except Exception:
                logger.exception("follow: unexpected error")
            wait = self.settings.every
            due = self.outbox.next_due()
            if due is not None:
                wait = min(wait, max(0.05, (due - self.clock()).total_seconds()))
            self._wake.wait(max(0.05, wait))

    def run_once(self, look: bool = True) -> tuple[int, int]:
        """Read the followed feeds (when `look`), queue what is due, send;
        the mail queue's (sent, failed)."""
        with self._round:
            now = self.clock()
            if look:
                self.store.purge(now)
                self.outbox.tidy(now)
                self._look(now)
            # The queue is shared with the reply emails: one sender at a time.
            with self.outbox.sending():
                return self.outbox.deliver(self.clock)

    def _look(self, now: dt.datetime) -> None:
        followed: dict[str, list[Reader]] = {}
        for reader in self.store.readers():
            for slug, follow in reader.follows.items():
                if follow.get("confirmed") and SLUG.fullmatch(slug):
                    followed.setdefault(slug, []).append(reader)
        for slug, readers in sorted(followed.items()):
            location = self.feed_location(slug)
            if not location:
                logger.warning("follow: no site address yet to find feeds at")
                return
            try:
                title, items = parse_feed(self.read(location))
            except (OSError, ValueError) as exc:
                logger.warning("follow: the feed of %s cannot be read: %s", slug, exc)
                continue
            self._challenge(slug, title or slug, items, readers, now)

    def _challenge(self, slug, title, items, readers, now) -> None:
        with self.store.lock:
            seen = self.store.seen(slug)
            first = seen is None
            seen = dict(seen or {})
            new = [item for item in items if item.id not in seen]
            for item in new:
                # The first look records what the feed holds, sends nothing.
                seen[item.id] = {
                    "title": item.title,
                    "url": item.url,
                    "seen": None if first else stamp(now),
                }
            current = {item.id for item in items}
            limit = now - dt.timedelta(days=KEEP_DAYS)
            seen = {
                ident: entry
                for ident, entry in seen.items()
                if ident in current or (_moment(entry.get("seen")) or limit) > limit
            }
            for known in readers:
                # Read again under the lock: an unsubscribe meanwhile wins.
                reader = self.store.read(known.key)
                if reader is not None and slug in reader.follows:
                    self._for_reader(reader, slug, title, seen, new, first, now)
            self.store.write_seen(slug, seen)

    def _for_reader(  # noqa: PLR0917 (one round's values, in order)
        self, reader, slug, title, seen, new, first, now
    ) -> None:
        follow = reader.follows[slug]
        since = _moment(follow.get("confirmed"))
        if since is None:
            return
        link = self.unsubscribe_link(reader.key, slug, now)
        if follow.get("mode") == "weekly":
            last = _moment(follow.get("last_digest")) or since
            if now - last < dt.timedelta(days=self.settings.digest_days):
                return
            due = [
                Item(ident, entry.get("title", ""), entry.get("url", ""))
                for ident, entry in seen.items()
                if (_moment(entry.get("seen")) or since) > max(last, since)
            ]
            if due:
                letter = items_letter(title, due, link)
                key = mail_key("digest", reader.key, slug, stamp(last))
                self._queue(key, reader.address, letter, now, link, about(KIND, slug))
            self.store.digest_sent(reader.key, slug, now)
            return
        if first:
            return
        for item in new:
            letter = items_letter(title, [item], link)
            key = mail_key("item", reader.key, slug, item.id)
            self._queue(key, reader.address, letter, now, link, about(KIND, slug))


def token_target(purpose: str, ident: str) -> tuple[str, str, str] | None:
    """(address key, slug, mode: "" in an unsubscribe token) that a follow
    token's verified ident (subscriptions.verify) names, else None."""
    key, kind, rest = target(ident)
    slug, _, mode = rest.partition("~")
    if kind != KIND or not SLUG.fullmatch(slug):
        return None
    if (purpose == CONFIRM) != (mode in MODES):
        return None
    return key, slug, mode


def form_value(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name, [])
    return values[0].strip() if len(values) == 1 else ""
