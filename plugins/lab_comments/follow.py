"""Follow a challenge by email (issue 19): a reader gives an address and a
challenge, confirms it by a signed link, then gets one email per new item of
that challenge's feed (updates, phases starting, calls opening and closing:
the same data as the feed), or one weekly digest, as they chose.

    POST /follow              address, challenge, mode (each | weekly); the
                              same "check your email" page whatever happens,
                              so that the form tells nobody who follows what
    GET  /follow/confirm?t=   a page with a button; never confirms on GET
                              alone (mail scanners follow links)
    POST /follow/confirm      t: the follow starts
    GET  /follow/unsubscribe?t=  a page with a button
    POST /follow/unsubscribe  t (form) or ?t= with List-Unsubscribe=One-Click
                              (RFC 8058): the follow ends at once, no login

**What is kept** (`<queue>/followers/`, never in content/ or output/):
`readers/<key>.yaml` per address (key: keyed hash of the address), holding
the address, the endpoint's address its links go to, and its follows (mode,
when confirmed, last digest); `challenges/<slug>.yaml` the ids, titles and
links of the items seen in each followed feed and when each was first seen;
`feeds/` the last good copy of each feed fetched from the live site;
`mail/` the outgoing queue (mail.MailQueue: retries, sent once).
An address with no follow left is deleted; one never confirmed after
UNCONFIRMED_DAYS.

**Abuse.** At most one confirmation email per address per day, whatever is
asked; at most `rate` requests per client per hour (limits.RateLimiter);
nothing but a confirmation is ever sent to a follow not confirmed. Every
follow needs its own confirmation, so a stranger cannot add follows to an
address that confirmed one.

**Tokens** are `<id>.<expiry>.<hmac>`, the HMAC-SHA256 with the queue's
secret over purpose, id and expiry, so a confirm token cannot unsubscribe,
nor the other way round.

**The feeds** are the build's Atom feeds of each challenge (lab_feeds:
feeds/challenge/<slug>.atom.xml), fetched from the live site or read from a
folder (`feed` pattern with {slug}); fetched through fetch.Fetcher, so with
its validators (a 304 when unchanged), cap, deadline and checks. The first
look at a feed records what it holds and sends nothing; an item first seen
before a follow was confirmed is never sent to it.

Duplicated with the reply notifications (subscriptions.py, built at the
same time): the token signing, the per-address store and its purge, the
confirm and unsubscribe pages; a later change may fold them into one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus
from xml.etree import ElementTree

from lxml import etree

from . import schema
from .digest import Looping
from .limits import RateLimiter
from .mail import MailQueue, MailSettings, new_message, parse_address, stamp
from .store import (
    StoreError,
    atomic_write,
    dump_yaml,
    keyed_hash,
    load_yaml,
    make_dir,
    remove_file,
)

logger = logging.getLogger(__name__)

FOLDER = "followers"
MODES = ("each", "weekly")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
KEY = re.compile(r"[0-9a-f]{64}")
UNCONFIRMED_DAYS = 7
CONFIRM_DAYS = 7  # a confirmation link works this long
UNSUBSCRIBE_DAYS = 3650  # an old email's link still works
CONFIRM_EVERY = dt.timedelta(days=1)  # at most one confirmation per address
ATOM = "{http://www.w3.org/2005/Atom}"
FEED_MAX = 5 * 1024 * 1024
MAIL_KEEP_DAYS = 30
# Items first seen this long ago and gone from the feed are forgotten.
KEEP_DAYS = 60


@dataclass(frozen=True)
class FollowSettings:
    feed: str  # a URL or a path, with {slug}; "" : the site's, from the manifest
    every: float = 900.0  # seconds between two looks at the feeds
    digest_days: float = 7.0
    rate: int = 5  # requests per client per hour


# -- tokens (pure)


def sign(secret: bytes, purpose: str, ident: str, expiry: int) -> str:
    mac = hmac.new(secret, f"{purpose}\0{ident}\0{expiry}".encode(), hashlib.sha256)
    return f"{ident}.{expiry}.{mac.hexdigest()[:40]}"


def verify(secret: bytes, purpose: str, token: str, now: dt.datetime) -> str | None:
    """The id a good, unexpired token of `purpose` names, else None."""
    ident, _, rest = token.partition(".")
    expiry, _, _ = rest.partition(".")
    if not expiry.isdigit() or len(token) > 300:
        return None
    good = sign(secret, purpose, ident, int(expiry))
    if not hmac.compare_digest(good.encode(), token.encode()):
        return None
    return ident if int(expiry) >= now.timestamp() else None


def make_token(secret: bytes, purpose: str, ident: str, now: dt.datetime, days: int):
    return sign(secret, purpose, ident, int(now.timestamp()) + days * 86400)


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
    challenge: str, mode: str, link: str, change: bool = False
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
    ]
    html = _html(
        subject,
        [
            (lines[0], ""),
            ("To confirm, open this link and press the button:", link),
            (lines[3], ""),
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
    key: str
    address: str
    base: str  # the endpoint's address (links go there)
    created: dt.datetime
    confirm_sent: dt.datetime | None = None
    # slug -> {"mode", "confirmed" (stamp or None), "last_digest"}
    follows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "base": self.base,
            "created": stamp(self.created),
            "confirm_sent": stamp(self.confirm_sent) if self.confirm_sent else None,
            "follows": self.follows,
        }


def _moment(value: Any) -> dt.datetime | None:
    try:
        return schema.utc_datetime(value) if value else None
    except schema.Invalid:
        return None


class FollowStore:
    """The followers and what was seen in each feed; one lock for the
    process (request threads and the worker)."""

    def __init__(self, root: Path, secret: bytes):
        self.root = Path(root)
        self.secret = secret
        self.readers_dir = self.root / "readers"
        self.challenges_dir = self.root / "challenges"
        self.lock = threading.RLock()

    def open(self) -> FollowStore:
        for folder in (self.root, self.readers_dir, self.challenges_dir):
            make_dir(folder)
        return self

    def key(self, address: str) -> str:
        return keyed_hash(self.secret, "follower", address.strip().lower())

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise StoreError("not a follower key")
        return self.readers_dir / f"{key}.yaml"

    def read(self, key: str) -> Reader | None:
        try:
            data = load_yaml(self._path(key).read_bytes())
        except (FileNotFoundError, StoreError):
            return None
        if not isinstance(data, dict):
            return None
        created = _moment(data.get("created"))
        follows = data.get("follows") or {}
        if created is None or not isinstance(follows, dict):
            return None
        return Reader(
            key,
            str(data.get("address", "")),
            str(data.get("base", "")),
            created,
            _moment(data.get("confirm_sent")),
            {str(k): dict(v) for k, v in follows.items() if isinstance(v, dict)},
        )

    def write(self, reader: Reader) -> None:
        if not reader.follows:
            remove_file(self._path(reader.key))
            return
        atomic_write(self._path(reader.key), dump_yaml(reader.record()))

    def readers(self) -> list[Reader]:
        found = []
        for path in sorted(self.readers_dir.glob("*.yaml")):
            reader = self.read(path.stem) if KEY.fullmatch(path.stem) else None
            if reader is not None:
                found.append(reader)
        return found

    def ask(
        self, address: str, slug: str, mode: str, base: str, now: dt.datetime
    ) -> tuple[Reader, bool]:
        """Record a follow waiting for confirmation; (reader, whether to send
        a confirmation now: not within a day of the last one, and not when
        the follow is confirmed already with this mode). A confirmed
        follow's mode changes only when the change is confirmed too
        (`asked_mode` until then): else anyone could turn another's weekly
        email into one per item, or the other way round."""
        with self.lock:
            key = self.key(address)
            reader = self.read(key) or Reader(key, address, base, now)
            follow = reader.follows.get(slug)
            if follow and follow.get("confirmed"):
                if follow.get("mode") == mode:
                    if follow.pop("asked_mode", None) is not None:
                        self.write(reader)  # asked back to what it is
                    return reader, False
                follow["asked_mode"] = mode
            else:
                reader.follows[slug] = {"mode": mode, "confirmed": None}
            reader.base = base
            send = reader.confirm_sent is None or now - reader.confirm_sent >= (
                CONFIRM_EVERY
            )
            if send:
                reader.confirm_sent = now
            self.write(reader)
            return reader, send

    def confirm(self, key: str, slug: str, now: dt.datetime) -> bool:
        with self.lock:
            reader = self.read(key)
            follow = reader.follows.get(slug) if reader else None
            if reader is None or follow is None:
                return False
            if not follow.get("confirmed"):
                follow["confirmed"] = stamp(now)
                follow["last_digest"] = stamp(now)
                self.write(reader)
            elif follow.get("asked_mode") in MODES:
                # A confirmed change of mode; the weekly count starts anew.
                follow["mode"] = follow.pop("asked_mode")
                follow["last_digest"] = stamp(now)
                self.write(reader)
            return True

    def unsubscribe(self, key: str, slug: str) -> bool:
        with self.lock:
            reader = self.read(key)
            if reader is None or slug not in reader.follows:
                return False
            del reader.follows[slug]
            self.write(reader)  # no follow left: the file goes
            logger.info("follow: one follow ended")
            return True

    def purge(self, now: dt.datetime) -> int:
        """Follows never confirmed after UNCONFIRMED_DAYS go; a reader with
        none left goes with them."""
        removed = 0
        limit = now - dt.timedelta(days=UNCONFIRMED_DAYS)
        with self.lock:
            for reader in self.readers():
                stale = [
                    slug
                    for slug, follow in reader.follows.items()
                    if not follow.get("confirmed")
                    and (reader.confirm_sent or reader.created) < limit
                ]
                for slug in stale:
                    del reader.follows[slug]
                if stale:
                    removed += len(stale)
                    self.write(reader)
        return removed

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
    ):
        self.store = FollowStore(Path(queue_root) / FOLDER, secret).open()
        if reader is None:
            make_dir(self.store.root / "feeds")
            reader = FeedReader(self.store.root / "feeds")
        self.outbox = MailQueue(self.store.root / "mail").open()
        self.secret = secret
        self.mail = mail
        self.settings = settings
        self.siteurl = siteurl
        self.clock = clock
        self.read = reader
        self.limiter = RateLimiter(settings.rate, 3600.0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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

    def ask(self, address: str, slug: str, mode: str, base: str) -> None:
        """A request to follow (checked by the caller); a confirmation queued
        when the store says so."""
        now = self.clock()
        reader, send = self.store.ask(address, slug, mode, base, now)
        if not send:
            return
        token = make_token(self.secret, "confirm", f"{reader.key}~{slug}", now, 7)
        link = f"{base}/follow/confirm?t={quote_plus(token)}"
        change = "asked_mode" in reader.follows.get(slug, {})
        letter = confirm_letter(slug, mode, link, change=change)
        key = mail_key("confirm", reader.key, stamp(now))
        self._queue(key, address, letter, now, unsubscribe="")
        self._wake.set()

    def token_target(self, purpose: str, token: str) -> tuple[str, str] | None:
        ident = verify(self.secret, purpose, token, self.clock())
        if ident is None:
            return None
        key, _, slug = ident.partition("~")
        return (key, slug) if KEY.fullmatch(key) and SLUG.fullmatch(slug) else None

    def _queue(
        self, key: str, address: str, letter: Letter, now: dt.datetime, unsubscribe
    ) -> None:
        headers = {"Auto-Submitted": "auto-generated"}
        if unsubscribe:
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        domain = parse_address(self.mail.sender, "LAB_COMMENTS_MAIL_FROM").domain
        message = new_message(
            self.mail,
            [address],
            letter.subject,
            letter.text,
            html=letter.html,
            message_id=f"<{key}@{domain}>",
            now=now,
            headers=headers,
        )
        self.outbox.add(key, message, [address], now)

    def unsubscribe_link(self, reader: Reader, slug: str, now: dt.datetime) -> str:
        token = make_token(
            self.secret, "unsubscribe", f"{reader.key}~{slug}", now, UNSUBSCRIBE_DAYS
        )
        return f"{reader.base}/follow/unsubscribe?t={quote_plus(token)}"

    # -- the worker

    def _run(self) -> None:
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
                self.outbox.purge_sent(now)
                # Refused by the server for a month: given up (logged).
                self.outbox.expire(now, MAIL_KEEP_DAYS)
                self._look(now)
            return self.outbox.deliver(self.mail, self.clock())

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
        link = self.unsubscribe_link(reader, slug, now)
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
                self._queue(key, reader.address, letter, now, link)
            follow["last_digest"] = stamp(now)
            self.store.write(reader)
            return
        if first:
            return
        for item in new:
            letter = items_letter(title, [item], link)
            key = mail_key("item", reader.key, slug, item.id)
            self._queue(key, reader.address, letter, now, link)


def form_value(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name, [])
    return values[0].strip() if len(values) == 1 else ""


def token_of(environ, form: Mapping[str, list[str]]) -> str:
    """The token from the form, or from the query (one-click unsubscribe
    posts to the link itself)."""
    token = form_value(form, "t")
    if token:
        return token
    query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=5)
    return form_value(query, "t")
