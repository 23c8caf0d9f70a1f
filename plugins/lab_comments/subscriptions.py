"""Readers' email subscriptions: a private store of addresses, and signed
links to confirm and to leave. Shared by the reply emails (replies.py) and
any other email to readers; it says nothing about what is sent.

**The store.** `<queue>/subscribers/<hash>.yaml`, one file per address,
named by a keyed hash of the address (`store.keyed_hash`, purpose
"subscriber", with the queue's secret), mode 0600 in a 0700 folder: never in
`content/` or `output/`, never in a published record. A file holds the
address, when it was added, when it was confirmed (None until then), when a
confirmation was last sent, the subscriptions (`kind`, `id`, and what was
told about it: `told`) and the ids of comments the address wrote (`wrote`,
so that nobody is told of their own reply). Written atomically, under one
lock (`<queue>/subscribers/.lock`) for every change.

**Kept how long.** An address with no subscription left is deleted at once;
one never confirmed is deleted CONFIRM_DAYS after it was added (`purge`);
`erase` deletes everything about an address (the staff command
`erase-address`).

**Tokens.** `sign(secret, purpose, ident, expires)` is
`<ident>.<expires>.<mac>`, the mac an HMAC-SHA256 over (purpose, ident,
expiry) with the queue's secret: a confirmation link cannot be used to
unsubscribe, nor an old one after it expired, nor any made without the key.
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

from . import schema
from .mail import stamp
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
# An address never confirmed is deleted after this many days ...
CONFIRM_DAYS = 7
# ... and is sent at most one confirmation in this long.
RESEND = dt.timedelta(days=1)
# How many of an address's own comment ids are remembered.
WROTE_MAX = 500
CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
HASH = re.compile(r"[0-9a-f]{64}")
TOKEN = re.compile(r"([0-9a-f]{64})\.(\d{1,12})\.([0-9a-f]{32})")


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


class Subscribers:
    """The store (module docstring). Every method that changes a file takes
    the lock; reads of one file need none (files are replaced whole)."""

    def __init__(self, queue_root: Path | str, secret: bytes):
        self.folder = Path(queue_root) / FOLDER
        self.secret = secret

    def open(self) -> Subscribers:
        make_dir(self.folder)
        clean_temp_files(self.folder)
        return self

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
        self, address: str, kind: str, ident: str, now: dt.datetime
    ) -> tuple[str, bool]:
        """Add a subscription for `address`; its hash, and whether to send a
        confirmation now (unconfirmed, and none sent in the last day)."""
        key = self.hash(address)
        with self.lock():
            record = self.read(key) or {
                "address": address,
                "added": stamp(now),
                "confirmed": None,
                "asked": None,
                "subscriptions": [],
                "wrote": [],
            }
            wanted = {"kind": kind, "id": ident}
            if not any(
                {"kind": s.get("kind"), "id": s.get("id")} == wanted
                for s in record["subscriptions"]
            ):
                record["subscriptions"].append({**wanted, "since": stamp(now)})
            ask = not record["confirmed"] and (
                not record["asked"] or now - moment(record["asked"]) >= RESEND
            )
            if ask:
                record["asked"] = stamp(now)
            self.write(key, record)
        return key, ask

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

    def confirm(self, ident: str, now: dt.datetime) -> bool:
        with self.lock():
            record = self.read(ident)
            if record is None:
                return False
            if not record["confirmed"]:
                record["confirmed"] = stamp(now)
                self.write(ident, record)
        return True

    def remove(self, ident: str) -> bool:
        """Every subscription of the address, and the address, gone now."""
        with self.lock():
            return remove_file(self.path(ident))

    def erase(self, address: str) -> bool:
        return self.remove(self.hash(address))

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
        """Delete addresses never confirmed within CONFIRM_DAYS."""
        limit = now - dt.timedelta(days=CONFIRM_DAYS)
        removed = 0
        with self.lock():
            for ident in self.idents():
                record = self.read(ident)
                if record is None or record.get("confirmed"):
                    continue
                if moment(record.get("added")) < limit and remove_file(
                    self.path(ident)
                ):
                    removed += 1
        if removed:
            logger.info("subscribers: %d unconfirmed address(es) deleted", removed)
        return removed


def moment(value: Any) -> dt.datetime:
    try:
        return schema.utc_datetime(value)
    except schema.Invalid:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
