"""The endpoint's limits, each O(1) work per request and bounded in memory.

* `client_key`: whom a rate limit counts. A person with an IPv6 connection
  is given a whole /64 (often more) and can pick any address in it, so an
  IPv6 address counts as its /64; an IPv4 address (or one written as
  IPv4-mapped IPv6) counts as itself.
* `RateLimiter`: at most `limit` hits per key in any `window` seconds, for at
  most `max_keys` keys: an LRU table (OrderedDict), so that a flood of new
  keys evicts the least recently seen one and never makes a request scan
  the table.
* `PendingCount`: how many comments are pending and their bytes, kept in
  memory and counted again only when the pending folder changes under the
  endpoint (a moderator's command, a purge).
* `QUEUE_TROUBLE` and `probe_write`: the errors that mean the queue cannot be
  written (a full disk, a read-only or foreign folder), for which the
  endpoint pauses comments rather than failing.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from pathlib import Path

from lab_common.files import TEMP_PREFIX

# errno values of a write to the queue that mean "not now, not for anyone":
# the disk or the quota is full, the file system is read-only, the process
# may not write there, or the folder is gone (a moderator moved it).
QUEUE_TROUBLE = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOENT,
        errno.ENOTDIR,
    }
)


def client_key(address: str) -> str:
    """Whom a request counts as: an IPv4 address, or an IPv6 address's /64
    (`2001:db8:1:2::/64`); an IPv4-mapped IPv6 address as its IPv4 one.
    Anything else (a Unix socket's empty address) counts as itself."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0].strip())
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    """At most `limit` hits per key in any `window` seconds (sliding window),
    in memory: a restart forgets, which only ever lets a few more through.

    The table holds at most `max_keys` keys, least recently seen first; a new
    key beyond that evicts the first. Each key's hits are a deque bounded by
    `limit`. A hit also drops the least recently seen key if all its hits
    are older than the window, so an idle table shrinks without a scan. Every
    call does a bounded amount of work whatever the table holds.

    Eviction forgets a key that may still be within its window; a client
    would need `max_keys` other keys (addresses, or /64s) sent in between to
    profit, which the setting makes expensive."""

    def __init__(self, limit: int, window: float, max_keys: int = 20000):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hits)

    def keys(self) -> list[str]:
        """The keys, least recently seen first (for tests and diagnostics)."""
        with self._lock:
            return list(self._hits)

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit; None if allowed, else the seconds until one would be."""
        with self._lock:
            self._drop_oldest_if_idle(key, now)
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque(maxlen=self.limit)
                if len(self._hits) > self.max_keys:
                    self._hits.popitem(last=False)
            else:
                self._hits.move_to_end(key)
            # At most `limit` to drop: the deque holds no more.
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return hits[0] + self.window - now
            hits.append(now)
            return None

    def refund(self, key: str) -> None:
        """Take back the last hit (a form refused for a mistake does not
        count against the reader)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()

    def _drop_oldest_if_idle(self, key: str, now: float) -> None:
        oldest = next(iter(self._hits), key)
        if oldest == key:
            return
        hits = self._hits[oldest]
        if not hits or hits[-1] <= now - self.window:
            del self._hits[oldest]


class PendingCount:
    """The number and total size of the pending comment files, O(1) to ask.

    Kept in memory: `added` counts the endpoint's own new files. Anything
    else that changes the folder (a moderator approving or rejecting from
    another process, a purge) changes the folder's modification time, and
    a `usage` after it counts the folder again (one scandir), at most once
    every `settle_seconds`: the endpoint's own writes change that time too,
    and while comments arrive together (each written beside the others) the
    folder's time moves with nearly every request; counting again for each
    made every request O(pending) and a busy endpoint slow. So a moderator's
    change shows within `settle_seconds`. `added` adopts the folder's new
    time; a moderator's change in the same instant could then go unseen, so
    the folder is also counted again every `recount_seconds` (a bounded
    drift, never a lasting one). A file is counted once by name, whoever saw
    it first."""

    def __init__(
        self,
        folder: Path,
        recount_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        settle_seconds: float = 1.0,
    ):
        self.folder = Path(folder)
        self.recount_seconds = recount_seconds
        self.settle_seconds = settle_seconds
        self.monotonic = monotonic
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._stamp: int | None = None
        self._counted = -math.inf
        self._lock = threading.Lock()

    def usage(self) -> tuple[int, int]:
        """(pending comments, their bytes)."""
        stamp = self._folder_stamp()
        now = self.monotonic()
        with self._lock:
            since = now - self._counted
            changed = stamp != self._stamp and since >= self.settle_seconds
            if changed or since >= self.recount_seconds:
                self._recount(stamp, now)
            return len(self._sizes), self._bytes

    def added(self, name: str, size: int) -> None:
        """The endpoint wrote pending file `name` of `size` bytes."""
        with self._lock:
            if name not in self._sizes:
                self._sizes[name] = size
                self._bytes += size
            self._stamp = self._folder_stamp()

    def _folder_stamp(self) -> int | None:
        try:
            return os.stat(self.folder).st_mtime_ns
        except OSError:
            return None

    def _recount(self, stamp: int | None, now: float) -> None:
        sizes: dict[str, int] = {}
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(TEMP_PREFIX) or not name.endswith(".yaml"):
                        continue
                    try:
                        sizes[name] = entry.stat().st_size
                    except OSError:
                        continue  # removed while counting
        except OSError:
            pass  # no folder: nothing pending (writing will say what is wrong)
        self._sizes = sizes
        self._bytes = sum(sizes.values())
        self._stamp = stamp
        self._counted = now


def probe_write(folder: Path) -> None:
    """Write, fsync and remove a small scratch file in `folder`; OSError if
    the folder cannot take a new file (full, read-only, not permitted)."""
    path = Path(folder) / f"{TEMP_PREFIX}probe-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, b"\n" * 512)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        path.unlink(missing_ok=True)


def forwarding_headers(environ: dict) -> Iterator[str]:
    """The forwarding headers a request carries (HTTP names)."""
    for key, name in FORWARDING_HEADERS:
        if key in environ:
            yield name


FORWARDING_HEADERS = (
    ("HTTP_X_FORWARDED_FOR", "X-Forwarded-For"),
    ("HTTP_FORWARDED", "Forwarded"),
    ("HTTP_X_REAL_IP", "X-Real-IP"),
)
