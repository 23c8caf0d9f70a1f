"""Readers' email subscriptions: a private store of addresses, signed links
to confirm and to leave, and the one queue of readers' email. Shared by the
reply emails (replies.py, kind "replies") and following a challenge
(follow.py, kind "follow"); it says nothing about what is sent.

**The store.** `<queue>/subscribers/<hash>.yaml`, one file per address,
named by a keyed hash of the address (`store.keyed_hash`, purpose
"subscriber", with the queue's secret), mode 0600 in a 0700 folder: never in
`content/` or `output/`, never in a published record. A file holds the
address, when it was added, when it was confirmed (None until then), when a
confirmation was last sent, the subscriptions (`kind`, `id`, and what was
told about it: `told`) and the ids of comments the address wrote (`wrote`,
so that nobody is told of their own reply). Written atomically, under one
lock (`<queue>/subscribers/.lock`) for every change.

**Confirmed.** Reply emails are confirmed once per address (`confirmed` of
the record). A follow is confirmed on its own (`confirmed` of that
subscription), so that a stranger cannot add follows, or change one's
mode, to an address that confirmed something else. `asked` (when the last
confirmation went) is the address's, whatever was asked: at most one
confirmation a day reaches an address that did not ask for it.

**Kept how long.** An address with no subscription left is deleted at once;
one never confirmed is deleted CONFIRM_DAYS after it was added (`purge`);
`erase` deletes everything about an address (the staff command
`erase-address`).

**Tokens.** `sign(secret, purpose, ident, expires)` is
`<ident>.<expires>.<mac>`, the mac an HMAC-SHA256 over (purpose, ident,
expiry) with the queue's secret: a confirmation link cannot be used to
unsubscribe, nor an old one after it expired, nor any made without the key.
The ident is an address hash (the whole address: reply emails) or
`<hash>~<kind>~<id>` (one subscription: a follow); `target` splits it.
One pair of routes takes both (CONFIRM_PATH, UNSUBSCRIBE_PATH).

**Sending.** `ReaderOutbox`: every email to readers waits in
`<queue>/reader-mail/` (mail.MailQueue: retries with backoff, never twice),
is built with its List-Unsubscribe headers here, and is sent by one thread
at a time (`sending`, a lock file). Each queued email names what it is
about (`meta`: the subscription's kind and id, and whether it is a
confirmation), so that an unsubscribe removes the emails it ended at once
(`drop_queued`, the path erase-address takes too), and the sender checks
again just before each email that its subscription is still there.

**At most DAILY emails an address a day** (`RecipientLimit`): the times
of the emails sent to an address in the last 24 hours, in
`<queue>/reader-mail/limits/<hash>` (a keyed hash of the address, purpose
"mail-limit": never the address, and not the store's file name either),
gone once the window is past. An email over the limit stays queued until
the window allows it (no attempt counted). A confirmation is never held
(the reader is waiting for it; the store sends at most one a day to an
address) but it counts: an address gets at most DAILY + 1 in a day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from . import schema
from .mail import (
    MailQueue,
    MailSettings,
    Outgoing,
    new_message,
    sender_domain,
    stamp,
)
from .store import (
    TEMP_PREFIX,
    StoreError,
    atomic_write,
    clean_temp_files,
    dump_yaml,
    keyed_hash,
    load_yaml,
    make_dir,
    remove_file,
)

logger = logging.getLogger(__name__)

FOLDER = "subscribers"
LOCK_FILE = ".lock"
# A MAC of a fixed text under the store's key, written by the endpoint: a
# staff command run with another key (LAB_COMMENTS_SECRET_FILE left out)
# would find no address, and say so instead of "erased 0 files".
KEY_CHECK_FILE = ".key-check"
# An address never confirmed is deleted after this many days ...
CONFIRM_DAYS = 7
# ... and is sent at most one confirmation in this long.
RESEND = dt.timedelta(days=1)
# An unsubscribe link works this long after its email was sent: an old
# email's link still ends what it is about.
UNSUBSCRIBE_DAYS = 3650
# How many of an address's own comment ids are remembered.
WROTE_MAX = 500
CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
HASH = re.compile(r"[0-9a-f]{64}")
# An address hash, or one subscription of it (kind, id), and for a follow's
# confirmation the mode it confirms.
IDENT = r"[0-9a-f]{64}(?:~[a-z]{1,20}~[a-z0-9][a-z0-9-]{0,199}(?:~[a-z]{1,20})?)?"
TOKEN = re.compile(rf"({IDENT})\.(\d{{1,12}})\.([0-9a-f]{{32}})")
# The routes of every reader's link (a GET shows a button, a POST acts).
CONFIRM_PATH = "/subscriptions/confirm"
UNSUBSCRIBE_PATH = "/unsubscribe"
MAIL_DIR = "reader-mail"
SEND_LOCK = ".send.lock"
# Queued messages refused this long are given up.
MAIL_KEEP_DAYS = 7.0
# At most this many emails reach one address in any DAILY_WINDOW
# (LAB_COMMENTS_READER_MAIL_DAILY); the rest wait in the queue.
DAILY = 10
DAILY_WINDOW = dt.timedelta(days=1)
LIMIT_DIR = "limits"


def ident_of(key: str, kind: str = "", sub_id: str = "") -> str:
    """A token's ident: the address (`key`), or one of its subscriptions."""
    return f"{key}~{kind}~{sub_id}" if kind else key


def target(ident: str) -> tuple[str, str, str]:
    """(address hash, kind, id) of a token's ident; kind and id "" for the
    whole address."""
    key, _, rest = ident.partition("~")
    kind, _, sub_id = rest.partition("~")
    return key, kind, sub_id


def address_hash(secret: bytes, address: str) -> str:
    return keyed_hash(secret, "subscriber", address.strip().lower())


def _mac(secret: bytes, purpose: str, ident: str, expires: int) -> str:
    message = f"{purpose}\0{ident}\0{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def sign(secret: bytes, purpose: str, ident: str, expires: dt.datetime) -> str:
    """A token for `purpose` about `ident` (an address hash), good until
    `expires`."""
    seconds = int(expires.timestamp())
    return f"{ident}.{seconds}.{_mac(secret, purpose, ident, seconds)}"


def verify(secret: bytes, purpose: str, token: str, now: dt.datetime) -> str | None:
    """The ident a good, unexpired token for `purpose` names; None otherwise."""
    match = TOKEN.fullmatch(token or "")
    if match is None:
        return None
    ident, seconds, mac = match[1], int(match[2]), match[3]
    if not hmac.compare_digest(mac, _mac(secret, purpose, ident, seconds)):
        return None
    if now.timestamp() > seconds:
        return None
    return ident


def new_record(address: str, now: dt.datetime) -> dict[str, Any]:
    """What the store keeps about an address that asked for its first
    subscription (module docstring)."""
    return {
        "address": address,
        "added": stamp(now),
        "confirmed": None,
        "asked": None,
        "subscriptions": [],
        "wrote": [],
    }


class Subscribers:
    """The store (module docstring). Every method that changes a file takes
    the lock; reads of one file need none (files are replaced whole)."""

    def __init__(self, queue_root: Path | str, secret: bytes):
        self.folder = Path(queue_root) / FOLDER
        self.secret = secret

    def open(self) -> Subscribers:
        """For the endpoint: create the folder, remove what a crash left
        half-written and write the key check. A staff command does not open
        the store: the endpoint may be writing right now, and a check written
        with the command's key would vouch for a wrong one."""
        make_dir(self.folder)
        clean_temp_files(self.folder)
        matches = self.key_matches()
        if matches is False:
            # A new key (the old one lost, or renewed): the endpoint's key is
            # the one that counts, and staff commands must use it.
            logger.warning(
                "subscribers: the store was written with another key; the "
                "addresses kept under it can no longer be found by address (their "
                "files stay in subscribers/ until deleted)"
            )
        if not matches:
            atomic_write(self.folder / KEY_CHECK_FILE, self._key_check())
        return self

    def _key_check(self) -> bytes:
        digest = hmac.new(self.secret, b"lab-comments subscribers", hashlib.sha256)
        return digest.hexdigest().encode("ascii") + b"\n"

    def key_matches(self) -> bool | None:
        """Whether this store was written with this key (None: no check yet,
        a store from before the check or none at all)."""
        try:
            written = (self.folder / KEY_CHECK_FILE).read_bytes()
        except FileNotFoundError:
            return None
        return hmac.compare_digest(written.strip(), self._key_check().strip())

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def hash(self, address: str) -> str:
        return address_hash(self.secret, address)

    def path(self, ident: str) -> Path:
        if not HASH.fullmatch(ident):
            raise StoreError("not an address hash")
        return self.folder / f"{ident}.yaml"

    def read(self, ident: str) -> dict[str, Any] | None:
        try:
            data = load_yaml(self.path(ident).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, StoreError):
            logger.error("subscribers: the file of one address cannot be read")
            return None
        return data if isinstance(data, dict) else None

    def write(self, ident: str, record: dict[str, Any]) -> None:
        if not record.get("subscriptions"):
            remove_file(self.path(ident))
            return
        atomic_write(self.path(ident), dump_yaml(record))

    def idents(self) -> list[str]:
        return sorted(
            path.stem
            for path in self.folder.glob("*.yaml")
            if not path.name.startswith(TEMP_PREFIX) and HASH.fullmatch(path.stem)
        )

    # -- changes

    def subscribe(
        self,
        address: str,
        kind: str,
        ident: str,
        now: dt.datetime,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """Add a subscription for `address`, to be confirmed on its own; its
        hash, and whether to send a confirmation now (the subscription is
        unconfirmed, and none was sent to the address in the last day)."""
        key = self.hash(address)
        with self.lock():
            record = self.read(key) or new_record(address, now)
            sub = find(record, kind, ident)
            if sub is None:
                sub = {"kind": kind, "id": ident, "since": stamp(now)}
                sub.update(extra or {}, confirmed=None)
                record["subscriptions"].append(sub)
            ask = not sub.get("confirmed") and may_ask(record, now)
            self.write(key, record)
        return key, ask

    def confirm_one(
        self, key: str, kind: str, sub_id: str, now: dt.datetime
    ) -> tuple[bool, str]:
        """The address confirmed one subscription: (whether it is here, the
        id of another of that kind still waiting whose confirmation may go
        now, or ""). The click proves the address is the reader's, so the
        day's limit starts again; only one other is asked at a time, so that
        subscriptions a stranger added cannot turn one click into many
        emails. A link pressed again changes nothing: else each press would
        start the day's limit again and ask once more."""
        with self.lock():
            record = self.read(key)
            sub = find(record, kind, sub_id) if record else None
            if sub is None:
                return False, ""
            if sub.get("confirmed"):
                return True, ""
            sub["confirmed"] = stamp(now)
            record["confirmed"] = record.get("confirmed") or stamp(now)
            record["asked"] = None
            waiting = [
                s
                for s in record["subscriptions"]
                if s.get("kind") == kind and not s.get("confirmed")
            ]
            following = ""
            if waiting and may_ask(record, now):
                following = str(waiting[-1].get("id"))
            self.write(key, record)
        return True, following

    def note_written(self, address: str, comment_id: str) -> None:
        """Remember that `address` wrote `comment_id` (only if it is here:
        nothing is kept about an address that subscribed to nothing)."""
        key = self.hash(address)
        with self.lock():
            record = self.read(key)
            if record is None:
                return
            record["wrote"] = [*record.get("wrote", []), comment_id][-WROTE_MAX:]
            self.write(key, record)

    def remove(self, ident: str) -> bool:
        """Every subscription of the address, and the address, gone now."""
        with self.lock():
            return remove_file(self.path(ident))

    def erase(self, address: str) -> bool:
        """As `remove`, for a staff command that may run as root: with no
        file for the address it takes no lock, so that it creates nothing
        (a lock file of root's would shut the endpoint out)."""
        ident = self.hash(address)
        return self.path(ident).exists() and self.remove(ident)

    def told(self, ident: str, kind: str, sub_id: str, item: str) -> None:
        """Note that `item` was told to the address about one subscription."""
        with self.lock():
            record = self.read(ident)
            if record is None:
                return
            for sub in record["subscriptions"]:
                if sub.get("kind") == kind and sub.get("id") == sub_id:
                    sub["told"] = sorted({*sub.get("told", []), item})
            self.write(ident, record)

    def drop(self, ident: str, keep: Callable[[Mapping[str, Any]], bool]) -> int:
        """Remove the address's subscriptions that `keep` refuses (the
        address too when none is left); how many went."""
        with self.lock():
            record = self.read(ident)
            if record is None:
                return 0
            kept = [sub for sub in record["subscriptions"] if keep(sub)]
            gone = len(record["subscriptions"]) - len(kept)
            if gone:
                record["subscriptions"] = kept
                self.write(ident, record)
        return gone

    def purge(self, now: dt.datetime) -> int:
        """Delete addresses never confirmed within CONFIRM_DAYS, and the
        follows (confirmed one by one) not confirmed in that time."""
        limit = now - dt.timedelta(days=CONFIRM_DAYS)
        removed = 0
        with self.lock():
            for ident in self.idents():
                record = self.read(ident)
                if record is None:
                    continue
                subs = record.get("subscriptions", [])
                kept = [
                    sub
                    for sub in subs
                    if "confirmed" not in sub
                    or sub["confirmed"]
                    or moment(sub.get("since")) >= limit
                ]
                confirmed = record.get("confirmed") or any(
                    sub.get("confirmed") for sub in kept
                )
                if not confirmed and moment(record.get("added")) < limit:
                    kept = []
                if len(kept) < len(subs):
                    record["subscriptions"] = kept
                    self.write(ident, record)  # none left: the file goes
                    removed += not kept
        if removed:
            logger.info("subscribers: %d unconfirmed address(es) deleted", removed)
        return removed


def may_ask(record: dict[str, Any], now: dt.datetime) -> bool:
    """Whether a confirmation may go to the address now (at most one in
    RESEND, whatever it confirms), noted as sent if so; the caller holds the
    store's lock and writes the record."""
    if record.get("asked") and now - moment(record["asked"]) < RESEND:
        return False
    record["asked"] = stamp(now)
    return True


def find(record: Mapping[str, Any], kind: str, sub_id: str) -> dict | None:
    """The address's subscription of `kind` to `sub_id`, if it has one."""
    for sub in record.get("subscriptions", []):
        if sub.get("kind") == kind and sub.get("id") == sub_id:
            return sub
    return None


def token_of(environ, form: Mapping[str, list[str]]) -> str:
    """The token from the form (a page's button), or from the query (a mail
    app's one-click POST goes to the link itself)."""
    values = form.get("t", [])
    if len(values) == 1 and values[0].strip():
        return values[0].strip()
    values = link_fields(environ.get("QUERY_STRING", "")).get("t", [])
    return values[0].strip() if len(values) == 1 else ""


# A link's query or a button's form longer than this holds no token of ours.
LINK_FIELDS_MAX = 4096


def link_fields(text: str) -> dict[str, list[str]]:
    """The fields of a reader link's query string or of its button's form,
    however many (a mail service may add its own, utm_source and the like);
    none from a text too long to be ours."""
    if len(text) > LINK_FIELDS_MAX:
        return {}
    return parse_qs(text)


def moment(value: Any) -> dt.datetime:
    try:
        return schema.utc_datetime(value)
    except schema.Invalid:
        return dt.datetime.min.replace(tzinfo=dt.UTC)


def about(kind: str, sub_id: str = "", confirm: bool = False) -> dict[str, Any]:
    """What a queued email is about (its `meta` in the queue): the kind of
    its subscription, the id for a follow ("" for the reply emails, which
    are the address's), and whether it is a confirmation."""
    return {"kind": kind, "id": sub_id, "confirm": confirm}


def belongs(entry: Outgoing, kind: str, sub_id: str = "") -> bool:
    """Whether a queued email is about the subscription (`kind`, `sub_id`;
    any of that kind when `sub_id` is ""). An email queued by an older
    version, with no kind in its meta, is told by its key's prefix
    ("replies-", "follow-") and taken to be about any follow: after an
    unsubscribe, rather one email too few than one too many."""
    meta = entry.meta or {}
    if "kind" in meta:
        entry_kind, entry_id = str(meta["kind"]), str(meta.get("id") or "")
    else:
        entry_kind, entry_id = entry.key.split("-", 1)[0], ""
    return entry_kind == kind and (not sub_id or not entry_id or entry_id == sub_id)


def drop_queued(
    queue_root: Path | str, secret: bytes, key: str, kind: str = "", sub_id: str = ""
) -> int:
    """Remove the emails waiting in the readers' queue to the address whose
    hash is `key`: every one, or (`kind`, `sub_id`) those `belongs` finds.
    How many files went. Needs no mail settings (erase-address). The queue
    is read, not opened: opening cleans temporary files, which may be the
    sender's write in progress, and creates folders (as root, for a staff
    command)."""
    outbox = MailQueue(Path(queue_root) / MAIL_DIR)
    removed = 0
    for entry in outbox.entries():
        to_it = any(address_hash(secret, r) == key for r in entry.recipients)
        if to_it and (not kind or belongs(entry, kind, sub_id)):
            removed += int(remove_file(outbox.path(entry.key)))
    return removed


def drop_unsubscribed(queue_root: Path | str, secret: bytes, ident: str) -> int:
    """After the unsubscribe that token `ident` names: its queued emails go,
    and every email to the address when it has no subscription left."""
    key, kind, sub_id = target(ident)
    if Subscribers(queue_root, secret).read(key) is None:
        kind = sub_id = ""
    else:
        kind = kind or "replies"  # a whole-address token: the reply emails
    return drop_queued(queue_root, secret, key, kind, sub_id)


class RecipientLimit:
    """At most `daily` emails to one address in any DAILY_WINDOW (module
    docstring): the times they were sent, in a file named by a keyed hash
    of the address. Used by one sender at a time (ReaderOutbox.sending)."""

    def __init__(self, folder: Path, secret: bytes, daily: int = DAILY):
        if daily < 1:
            raise ValueError("LAB_COMMENTS_READER_MAIL_DAILY: 1 or more")
        self.folder = folder
        self.secret = secret
        self.daily = daily

    def open(self) -> RecipientLimit:
        make_dir(self.folder)
        clean_temp_files(self.folder)
        return self

    def path(self, address: str) -> Path:
        name = keyed_hash(self.secret, "mail-limit", address.strip().lower())
        return self.folder / name

    def times(self, address: str, now: dt.datetime) -> list[dt.datetime]:
        """When emails went to `address` within the window before `now`."""
        return self._times(self.path(address), now)

    def _times(self, path: Path, now: dt.datetime) -> list[dt.datetime]:
        try:
            data = load_yaml(path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, StoreError):
            logger.error("reader mail: a limit file cannot be read; started anew")
            return []
        found = data.get("sent", []) if isinstance(data, dict) else []
        start = now - DAILY_WINDOW
        return sorted(t for t in map(moment, found) if t > start)

    def held_until(self, address: str, now: dt.datetime) -> dt.datetime | None:
        times = self.times(address, now)
        if len(times) < self.daily:
            return None
        # The window allows one more when the oldest that fills it is out.
        return times[len(times) - self.daily] + DAILY_WINDOW

    def note(self, address: str, now: dt.datetime) -> None:
        times = [*self.times(address, now), now]
        atomic_write(self.path(address), dump_yaml({"sent": list(map(stamp, times))}))

    def forget(self, address: str) -> bool:
        return remove_file(self.path(address))

    def tidy(self, now: dt.datetime) -> int:
        """Files with no email in the window go (kept no longer than that)."""
        removed = 0
        for path in self.folder.iterdir():
            if path.name.startswith(TEMP_PREFIX) or self._times(path, now):
                continue
            removed += int(remove_file(path))
        return removed


class ReaderOutbox:
    """The one queue of readers' email (`<queue>/reader-mail/`): `add`
    builds a message with the headers every reader's email carries (RFC
    3834's Auto-Submitted; RFC 8058's List-Unsubscribe and
    List-Unsubscribe-Post when it has an unsubscribe link; the Reply-To),
    named by `key` so that it is never queued twice; `deliver` sends what is
    due while holding `sending` (the reply and the follow threads share the
    queue, and mail.MailQueue wants one sender at a time), through this
    object as its mail.Gate: an email whose subscription ended is removed
    unsent, one over the recipient's daily limit waits, one the server
    refuses for good is given up and the others still go."""

    def __init__(
        self,
        queue_root: Path | str,
        mail: MailSettings,
        reply_to: str = "",
        *,
        secret: bytes,
        daily: int = DAILY,
    ):
        self.folder = Path(queue_root) / MAIL_DIR
        self.queue = MailQueue(self.folder).open()
        self.mail = mail
        self.reply_to = reply_to
        self.subscribers = Subscribers(queue_root, secret)
        self.limit = RecipientLimit(self.folder / LIMIT_DIR, secret, daily).open()

    def add(  # noqa: PLR0917 (one message's parts, in order)
        self,
        key: str,
        address: str,
        subject: str,
        text: str,
        html: str,
        now: dt.datetime,
        unsubscribe: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue one email; `meta` says what it is about (`about`)."""
        headers = {"Auto-Submitted": "auto-generated"}
        if unsubscribe:
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if self.reply_to:
            headers["Reply-To"] = self.reply_to
        message = new_message(
            self.mail,
            [address],
            subject,
            text,
            html=html,
            message_id=f"<{key}@{sender_domain(self.mail)}>",
            now=now,
            headers=headers,
        )
        return self.queue.add(key, message, [address], now, meta)

    @contextlib.contextmanager
    def sending(self, wait: bool = True) -> Iterator[bool]:
        """Held while one thread sends (or, for the reply emails, looks and
        sends); yields False at once when `wait` is False and another holds
        it."""
        fd = os.open(self.folder / SEND_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def deliver(self, now: Callable[[], dt.datetime]) -> tuple[int, int]:
        """Send what is due (the caller holds `sending`); (sent, failed)."""
        return self.queue.deliver(self.mail, now(), gate=self)

    # -- mail.Gate: asked by the queue about each email of a round

    def wanted(self, entry: Outgoing) -> bool:
        """Whether the address still has the subscription the email is about
        (an unsubscribe while a round queued or sent it wins)."""
        for address in entry.recipients:
            key = address_hash(self.subscribers.secret, address)
            if not self.subscribers.path(key).exists():
                continue
            record = self.subscribers.read(key)
            if record is None:
                return True  # there but unreadable (logged): not unsubscribed
            for sub in record.get("subscriptions", []):
                if belongs(entry, str(sub.get("kind")), str(sub.get("id"))):
                    return True
        return False

    def held_until(self, entry: Outgoing, now: dt.datetime) -> dt.datetime | None:
        if (entry.meta or {}).get("confirm"):
            return None
        held = [self.limit.held_until(address, now) for address in entry.recipients]
        return max((until for until in held if until), default=None)

    def sent(self, entry: Outgoing, now: dt.datetime) -> None:
        for address in entry.recipients:
            self.limit.note(address, now)

    def tidy(self, now: dt.datetime) -> None:
        self.queue.purge_sent(now)
        self.queue.expire(now, MAIL_KEEP_DAYS)
        self.limit.tidy(now)

    def next_due(self) -> dt.datetime | None:
        return self.queue.next_due()
