"""Posts read by worker processes while Pelican reads the first of them.

Pelican reads one post after another, and turning Markdown into HTML is most
of a full build's reading time. When a build starts reading posts (and reads
them all: no content cache), forked workers read the later part of the list
with a copy of the same reader; the build's own reader returns their results
when Pelican reaches those files. What a worker returns is what the reader
itself returns, (HTML, metadata), the same values Pelican's content cache
keeps; a file a worker could not read is read again in the build, so that
its problem is reported as usual. Workers write their results to a temporary
file, a batch at a time, which the build unpickles as it needs them, and
each says how many posts it read: `stats()` compares that with what the
build took, so a worker that read nothing is seen (tests/test_workers.py).
"""

from __future__ import annotations

import logging
import pickle
import tempfile
from dataclasses import dataclass
from typing import IO

from lab_common.processes import Worker, can_fork, fork_worker

logger = logging.getLogger(__name__)


# Posts per pickle a worker writes: the build unpickles one batch at a time,
# so it never holds more than one batch it has not handed to Pelican yet.
BATCH = 50


@dataclass
class _Share:
    worker: Worker
    spool: IO[bytes]  # the worker's results, a pickle per batch
    done: bool = False


class Prefetch:
    def __init__(self, reader, paths: list[str], processes: int):
        self.taken = 0
        self.workers = 0
        self.read = 0  # posts the workers read, as they say
        self.results: dict[str, tuple] = {}
        self.owner: dict[str, int] = {}  # path -> its share
        self.shares: dict[int, _Share] = {}
        if processes < 2 or not can_fork():  # can_fork logs why not
            return
        # The build reads the first share itself while the workers read the
        # rest, one contiguous share each, in Pelican's order.
        size = -(-len(paths) // processes)
        for start in range(size, len(paths), size):
            chunk = paths[start : start + size]
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            worker = fork_worker(
                lambda chunk=chunk, spool=spool: _read(reader, chunk, spool)
            )
            self.shares[start] = _Share(worker, spool)
            self.workers += 1
            for path in chunk:
                self.owner[path] = start

    def take(self, path: str):
        """The reader's result for `path` if a worker read it, else None."""
        start = self.owner.pop(path, None)
        if start is not None and path not in self.results:
            self._load_until(self.shares[start], path)
        found = self.results.pop(path, None)
        self.taken += found is not None
        return found

    def close(self) -> None:
        """Wait for every worker (results nobody took are dropped)."""
        for share in self.shares.values():
            if not share.done:
                self._finish(share)
            share.spool.close()
        logger.debug(
            "lab_content: %d worker process(es) read %d post(s); the build took %d",
            self.workers,
            self.read,
            self.taken,
        )
        self.shares.clear()
        self.results.clear()
        self.owner.clear()

    def stats(self) -> dict[str, int]:
        """Worker processes forked, posts they read, posts the build took."""
        return {"workers": self.workers, "read": self.read, "taken": self.taken}

    def _finish(self, share: _Share) -> None:
        ok, message = share.worker.wait()
        share.done = True
        share.spool.seek(0)
        if ok:
            self.read += int(message)
        else:
            logger.debug("lab_content: a reading worker failed: %s", message)
            share.spool.truncate(0)

    def _load_until(self, share: _Share, path: str) -> None:
        if not share.done:
            self._finish(share)
        while path not in self.results:
            try:
                # The bytes come from our own forked worker, never from outside.
                self.results.update(pickle.load(share.spool))  # noqa: S301
            except EOFError:
                return


def _read(reader, paths: list[str], spool) -> bytes:
    """Read `paths` into `spool`; how many were read, as ASCII digits."""
    batch = {}
    read = 0
    for path in paths:
        try:
            batch[path] = reader.read(path)
        except Exception:  # noqa: S112 - read again by the build, which reports it
            continue
        read += 1
        if len(batch) == BATCH:
            pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
            batch = {}
    if batch:
        pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
    spool.flush()
    return str(read).encode("ascii")
