"""Forked worker processes, shared by lab_content (reading posts),
lab_comments (reading comments ahead) and lab_writer (rendering pages). A
forked worker starts with the whole build in memory, so nothing needs
pickling on the way in; it sends back bytes through a pipe and ends without
running the parent's exit handlers.

Two rules keep workers from outliving or endangering a build:
- a worker is forked only from a process that runs one thread (`can_fork`):
  a fork copies the locks other threads hold, held, into the worker, and
  Python 3.12+ warns at every such fork;
- every worker not yet waited for is known here (`live_workers`), and
  `guard_build`, connected to `initialized` by lab_content, ends them when a
  build ends for any reason: a content error, a template error, Ctrl-C. A
  build that ends normally has waited for each of its workers already.
  Thread pools a build runs (`track_pool`) are shut down likewise, so that a
  failed build leaves a process that may fork for the next one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# The workers of this process that nobody has waited for yet, by pid. A
# module global on purpose: child processes belong to the process, whatever
# build forked them, and must be found after that build's objects are gone.
_live: dict[int, Worker] = {}
# Every pid this process has forked (for tests: each must have been reaped).
forked: list[int] = []
# Thread pools a build runs beside its rendering (lab_social's card drawing).
# A build that fails before its pool is shut down would leave the pool's
# threads until garbage collection found it: meanwhile the process may not
# fork (the next build of `make devserver` would render in one process). A
# weak set: a pool shut down and dropped needs no more care.
_pools: weakref.WeakSet[Executor] = weakref.WeakSet()


def default_workers() -> int:
    """Processes a build shares its work between when its settings leave it
    to the machine: one per CPU, at most 4 (beyond that, forking costs more
    than it saves on a site of this size)."""
    return min(os.cpu_count() or 1, 4)


def why_not_fork() -> str | None:
    """Why this process must not fork a worker now, or None when it may."""
    if not hasattr(os, "fork"):
        return "this system does not fork"
    python_threads = threading.active_count()
    if python_threads != 1:
        names = ", ".join(sorted(t.name for t in threading.enumerate()))
        return f"{python_threads} threads are running ({names})"
    # Threads started by native code (a file watcher's, say) are not in
    # `threading`'s list; Linux lists every one of them.
    try:
        native = len(os.listdir("/proc/self/task"))
    except OSError:
        return None
    if native != 1:
        return f"{native} threads are running (some not started by Python)"
    return None


def can_fork() -> bool:
    """True when this system forks and this process runs one thread only
    (else the reason is logged at DEBUG)."""
    reason = why_not_fork()
    if reason is not None:
        logger.debug("no worker processes: %s", reason)
    return reason is None


@dataclass
class Worker:
    pid: int
    fd: int

    def wait(self) -> tuple[bool, bytes]:
        """(whether the work succeeded, what it sent: its result, or a
        description of its error)."""
        try:
            with os.fdopen(self.fd, "rb") as pipe:
                data = pipe.read()
        except BaseException:
            # Ctrl-C while reading: a worker still writing would wait for a
            # reader for ever, so it is ended rather than waited for.
            self.stop()
            raise
        _, status = os.waitpid(self.pid, 0)
        _live.pop(self.pid, None)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and not data:  # killed before it could say why
            reason = f"signal {-code}" if code < 0 else f"exit status {code}"
            data = f"worker process {self.pid} ended with {reason}".encode()
        return code == 0, data

    def stop(self) -> None:
        """End the worker now and reap it; what it was doing is dropped."""
        if _live.pop(self.pid, None) is None:
            return
        with contextlib.suppress(OSError):
            os.close(self.fd)
        # SIGKILL: a worker holds nothing worth finishing once its build is
        # over; one that had ended already is reaped all the same.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def fork_worker(work: Callable[[], bytes]) -> Worker:
    """Run `work` in a forked process; its bytes come back through `wait`.
    Call only when `can_fork()` says so."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: it never returns from here
        os.close(read)
        # The parent's workers are not this one's to wait for or stop.
        _live.clear()
        forked.clear()
        code = 0
        try:
            _log_plainly()
            data = work()
        except BaseException as exc:  # any failure goes back to the parent
            data = describe(exc).encode("utf-8", "replace")
            code = 1
        try:
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write)
    worker = Worker(pid, read)
    _live[pid] = worker
    forked.append(pid)
    return worker


def live_workers() -> list[int]:
    """The pids of this process's workers that nobody has waited for."""
    return sorted(_live)


def track_pool(pool: Executor) -> Executor:
    """Know `pool`, so that a build that fails shuts it down (guard_build)."""
    _pools.add(pool)
    return pool


def stop_pools() -> int:
    """Shut down every known pool, dropping what it has not started and
    waiting for what it has (a card being drawn); how many were running."""
    pools = list(_pools)
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)
        _pools.discard(pool)
    return len(pools)


def stop_workers() -> list[int]:
    """End and reap every worker nobody has waited for; their pids."""
    pids = live_workers()
    for pid in pids:
        worker = _live.get(pid)
        if worker is not None:
            worker.stop()
    return pids


def guard_build(pelican) -> None:
    """An `initialized` receiver: the workers a build leaves behind when it
    fails (or is interrupted) are stopped as the failure leaves the build.
    Pelican sends no signal when a build fails, and its `run()` (which the
    command line, autoreload and our tests call on the instance) is the one
    frame around the whole build, so it is wrapped here, once per instance."""
    run = pelican.run
    if getattr(run, "lab_guarded", False):
        return

    @functools.wraps(run)
    def guarded(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        finally:
            if stop_pools():
                logger.debug("shut down the thread pools the build left")
            stopped = stop_workers()
            if stopped:
                logger.debug(
                    "stopped %d worker process(es) the build left: %s",
                    len(stopped),
                    stopped,
                )

    guarded.lab_guarded = True
    pelican.run = guarded


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _log_plainly() -> None:
    # The parent's log handlers (Rich's console among them) may hold state
    # meant for one process; a worker logs straight to stderr.
    root = logging.getLogger()
    handlers = root.handlers[:]
    for handler in handlers:
        root.removeHandler(handler)
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(plain)
