"""One moderator action at a time, and a memory of what was decided.

Two moderators (or one in two terminals) may act on the same comment at
once: approve in one, reject in the other. Without a lock both read the
pending file, both succeed, and the comment ends up published *and* counted
as rejected; a redaction written while an approval copies the pending file
is lost from the published one. So every command that changes a comment
(approve, reject, redact, erase, reply) runs under one lock of the queue's
own: `fcntl.flock` on `<queue>/.moderation.lock`, held only while the
command reads and writes its few files (milliseconds). The second command
waits, then sees what the first did and says so.

flock, not a lock file created with O_EXCL: the kernel releases it when the
process ends however it ends (kill -9 too), so a crash never leaves a stale
lock for a moderator to clear by hand. It serialises processes on one host,
which is where the queue lives (a private folder beside the endpoint).

`Decisions` keeps, per comment id, what became of it (`approved`,
`rejected`, `erased`) and when, in `<queue>/decided/<id>.yaml`: nothing
else (no name, no text, no address), so that a later command can answer
"already rejected" rather than "no such comment". They are deleted after
LAB_COMMENTS_PENDING_DAYS, like pending comments.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab_common.files import TEMP_PREFIX, atomic_write

from . import schema
from .store import StoreError, dump_yaml, load_yaml, make_dir, remove_file

LOCK_FILE = ".moderation.lock"
DECIDED_DIR = "decided"
DECISIONS = ("approved", "rejected", "erased")
# A command holds the lock for milliseconds; one that waits this long is
# facing a process that hangs, and says so rather than waiting for ever.
LOCK_TIMEOUT = 30.0
LOCK_POLL = 0.005


@contextmanager
def moderation_lock(queue_root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the queue's moderation lock for the body of the `with`; StoreError
    if another command keeps it longer than `timeout` seconds."""
    root = Path(queue_root)
    make_dir(root)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # Polled, not a blocking flock: a blocking call cannot time out.
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"another moderation command has held {root / LOCK_FILE} "
                        f"for over {timeout:.0f} s; is one waiting for input? "
                        "Try again when it has finished."
                    ) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


class Decisions:
    """What moderators decided about comments no longer pending."""

    def __init__(self, queue_root: Path | str):
        self.root = Path(queue_root) / DECIDED_DIR

    def _path(self, comment_id: str) -> Path:
        try:
            schema.comment_id(comment_id)
        except schema.Invalid:
            raise StoreError(f"{comment_id!r} is not a comment id") from None
        return self.root / f"{comment_id}.yaml"

    def record(self, comment_id: str, decision: str, now: dt.datetime) -> None:
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        path = self._path(comment_id)
        make_dir(self.root)
        entry = {"decision": decision, "date": schema.format_date(now)}
        atomic_write(path, dump_yaml(entry))

    def get(self, comment_id: str) -> tuple[str, str] | None:
        """(decision, date) for a comment decided on, else None."""
        try:
            data = load_yaml(self._path(comment_id).read_bytes())
        except (FileNotFoundError, StoreError):
            return None
        if not isinstance(data, dict) or data.get("decision") not in DECISIONS:
            return None
        return data["decision"], str(data.get("date", "?"))

    def purge(self, now: dt.datetime, days: int) -> int:
        """Forget decisions older than `days`; return how many."""
        if not self.root.is_dir():
            return 0
        limit = now - dt.timedelta(days=days)
        removed = 0
        for path in sorted(self.root.glob("*.yaml")):
            if path.name.startswith(TEMP_PREFIX):
                continue
            data = self.get(path.stem) if _is_id(path.stem) else None
            try:
                date = schema.utc_datetime(data[1]) if data else None
            except (schema.Invalid, ValueError):
                date = None
            if date is None:
                date = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
            if date < limit and remove_file(path):
                removed += 1
        return removed


def _is_id(value: str) -> bool:
    try:
        schema.comment_id(value)
    except schema.Invalid:
        return False
    return True
