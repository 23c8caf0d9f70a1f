"""Rebuild in place on every change, missing none made during a rebuild.

    PYTHONPATH=plugins python -m lab_writer.autoreload [pelican's arguments]

takes Pelican's own arguments (`-r` is implied; `-l` also serves the output
folder) and is what `make regenerate` and `make devserver` run instead of
`pelican -r`. Pelican 4.12's autoreload starts a new file watcher after each
build (pelican.utils.wait_for_changes), so a file written while a build runs
(a second comment approved 0.26 s after the first) is seen by no watcher:
the site stays without it until something else changes. Here one watcher
runs for the whole session, in a process of its own, and hands each batch of
changes to the builder through a pipe, where the changes made during a build
wait for the next. (In its own process, so that no thread runs beside the
build, which forks workers.)

The builds themselves are Pelican's: a failed build is logged and the next
change tries again; a change to the settings file reads the settings again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection

logger = logging.getLogger(__name__)

READY = "ready"


def watch_paths(settings, settings_file: str | None) -> list[str]:
    """What Pelican's own autoreload watches (the settings file, the theme,
    the content folder and its static folders), and the template overrides,
    those that exist."""
    content = settings.get("PATH", "")
    candidates = [settings_file, settings.get("THEME", ""), content]
    candidates += [os.path.join(content, p) for p in settings.get("STATIC_PATHS", [])]
    candidates += list(settings.get("THEME_TEMPLATES_OVERRIDES", []))
    paths = []
    for path in candidates:
        if path and os.path.exists(path) and os.path.abspath(path) not in paths:
            paths.append(os.path.abspath(path))
    return paths


def _watch(paths: list[str], ignores: list[str], connection: Connection) -> None:
    """The watcher process: READY once it watches, then each batch of changed
    paths, until the builder goes away."""
    import watchfiles
    from pelican.utils import FileChangeFilter

    parent = os.getppid()
    ready = False
    for changes in watchfiles.watch(
        *paths,
        watch_filter=FileChangeFilter(ignore_file_patterns=set(ignores)),
        rust_timeout=200,
        yield_on_timeout=True,
    ):
        if os.getppid() != parent:  # the builder ended without closing us
            return
        try:
            if not ready:
                ready = True
                connection.send(READY)
            if changes:
                connection.send(sorted({path for _, path in changes}))
        except (BrokenPipeError, EOFError, OSError):
            return


class Watcher:
    """One watcher process over `paths` for as long as this object lives."""

    def __init__(self, paths: Iterable[str], ignores: Iterable[str]):
        self.paths = list(paths)
        receiving, sending = multiprocessing.Pipe(duplex=False)
        self.connection = receiving
        self.process = multiprocessing.Process(
            target=_watch, args=(self.paths, list(ignores), sending), daemon=True
        )
        self.process.start()
        sending.close()
        # Watching before the first build: nothing made during it is missed.
        if receiving.recv() != READY:
            raise RuntimeError("the file watcher did not start")

    def changes(self, timeout: float | None = None) -> set[str] | None:
        """The next batch of changed paths, with every batch already waiting
        (changes made while the caller was building); None after `timeout`
        seconds without any."""
        if not self.connection.poll(timeout):
            return None
        changed = set(self.connection.recv())
        while self.connection.poll(0):
            changed.update(self.connection.recv())
        return changed

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.join(5)


def rebuild_forever(
    build: Callable[[], None], wait: Callable[[], set[str] | None]
) -> None:
    """Build, then build again after each batch of changes `wait` returns,
    until it returns None. A build that fails is logged; the next change
    tries again."""
    while True:
        try:
            build()
        except Exception as exc:  # the server goes on; the next change retries
            logger.warning('Caught exception:\n"%s".', exc)
        if wait() is None:
            return


def main(argv: list[str] | None = None) -> None:
    from pelican import get_instance, listen, parse_arguments
    from pelican.log import console

    from lab_common.build import start_logging

    args = parse_arguments(argv)
    # Stopped like Ctrl-C, so that the watcher and the server end with it.
    signal.signal(signal.SIGTERM, _interrupted)
    start_logging(args)
    pelican, settings = get_instance(args)
    settings_file = os.path.abspath(args.settings) if args.settings else None
    server = None
    if args.listen:
        server = multiprocessing.Process(
            target=listen,
            args=(settings.get("BIND"), settings.get("PORT"), settings["OUTPUT_PATH"]),
            daemon=True,
        )
        server.start()
    state = {"pelican": pelican}
    watcher = Watcher(watch_paths(settings, settings_file), settings["IGNORE_FILES"])

    def wait() -> set[str]:
        nonlocal watcher
        changed = watcher.changes()
        console.print(f"\n-> Modified: {', '.join(sorted(changed))}. re-generating...")
        if settings_file in changed:
            state["pelican"], settings = get_instance(args)
            paths = watch_paths(settings, settings_file)
            if paths != watcher.paths:
                watcher.close()
                watcher = Watcher(paths, settings["IGNORE_FILES"])
        return changed

    def build() -> None:
        state["pelican"].run()  # the instance of the settings as last read

    console.print("  --- AutoReload Mode: one watcher for the whole session. ---")
    try:
        rebuild_forever(build, wait)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
        if server is not None:
            server.terminate()


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main(sys.argv[1:])
