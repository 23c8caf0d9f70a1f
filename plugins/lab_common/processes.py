"""Forked worker processes, shared by lab_content (reading posts) and
lab_writer (rendering pages). A forked worker starts with the whole build in
memory, so nothing needs pickling on the way in; it sends back bytes through
a pipe and ends without running the parent's exit handlers.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

# Rich's screen refresher, which Pelican's "Generating..." status runs.
_HARMLESS_THREADS = ("_RefreshThread",)


def default_workers() -> int:
    """Processes a build shares its work between when its settings leave it
    to the machine: one per CPU, at most 4 (beyond that, forking costs more
    than it saves on a site of this size)."""
    return min(os.cpu_count() or 1, 4)


def can_fork() -> bool:
    """True when this system forks (not Windows) and no thread but the main
    one (and Rich's refresher) runs: a fork copies the locks other threads
    hold, held, into the worker."""
    return hasattr(os, "fork") and all(
        thread is threading.main_thread() or type(thread).__name__ in _HARMLESS_THREADS
        for thread in threading.enumerate()
    )


@dataclass
class Worker:
    pid: int
    fd: int

    def wait(self) -> tuple[bool, bytes]:
        """(whether the work succeeded, what it sent: its result, or a
        description of its error)."""
        with os.fdopen(self.fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and not data:  # killed before it could say why
            reason = f"signal {-code}" if code < 0 else f"exit status {code}"
            data = f"worker process {self.pid} ended with {reason}".encode()
        return code == 0, data


def fork_worker(work: Callable[[], bytes]) -> Worker:
    """Run `work` in a forked process; its bytes come back through `wait`."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: it never returns from here
        os.close(read)
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
    return Worker(pid, read)


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _log_plainly() -> None:
    # Rich's handler writes through a console whose lock the refresher
    # thread may have held at the fork; a worker logs straight to stderr.
    root = logging.getLogger()
    handlers = root.handlers[:]
    for handler in handlers:
        root.removeHandler(handler)
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(plain)
