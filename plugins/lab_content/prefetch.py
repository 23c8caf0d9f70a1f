"""Posts read by worker processes while Pelican reads the first of them.

Pelican reads one post after another, and turning Markdown into HTML is most
of a full build's reading time. When a build starts reading posts (and reads
them all: no content cache), forked workers read the later part of the list
with a copy of the same reader; the build's own reader returns their results
when Pelican reaches those files. What a worker returns is what the reader
itself returns, (HTML, metadata), the same values Pelican's content cache
keeps; a file a worker could not read is read again in the build, so that
its problem is reported as usual.
"""

from __future__ import annotations

import logging
import pickle

from lab_common.processes import Worker, can_fork, fork_worker

logger = logging.getLogger(__name__)


class Prefetch:
    def __init__(self, reader, paths: list[str], processes: int):
        self.taken = 0
        self.results: dict[str, tuple] = {}
        self.owner: dict[str, int] = {}  # path -> index of its worker
        self.workers: dict[int, Worker] = {}
        if processes < 2 or not can_fork():
            return
        # The build reads the first share itself while the workers read the
        # rest, one contiguous share each, in Pelican's order.
        share = -(-len(paths) // processes)
        for start in range(share, len(paths), share):
            chunk = paths[start : start + share]
            self.workers[start] = fork_worker(lambda chunk=chunk: _read(reader, chunk))
            for path in chunk:
                self.owner[path] = start

    def take(self, path: str):
        """The reader's result for `path` if a worker read it, else None."""
        worker = self.owner.pop(path, None)
        if worker is not None and worker in self.workers:
            self._collect(worker)
        found = self.results.pop(path, None)
        self.taken += found is not None
        return found

    def close(self) -> None:
        """Wait for every worker (results nobody took are dropped)."""
        for worker in list(self.workers):
            self._collect(worker)
        logger.debug("lab_content: %d post(s) read by worker processes", self.taken)
        self.results.clear()
        self.owner.clear()

    def _collect(self, worker: int) -> None:
        ok, data = self.workers.pop(worker).wait()
        if ok:
            # The bytes come from our own forked worker, never from outside.
            self.results.update(pickle.loads(data))  # noqa: S301
        else:
            logger.debug("lab_content: a reading worker failed: %s", data.decode())


def _read(reader, paths: list[str]) -> bytes:
    results = {}
    for path in paths:
        try:
            results[path] = reader.read(path)
        except Exception:  # noqa: S112 - read again by the build, which reports it
            continue
    return pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
