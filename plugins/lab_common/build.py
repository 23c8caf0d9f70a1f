"""`python -m lab_common.build`: the `pelican` command for one build, without
its spinner.

`pelican` draws a "Generating..." spinner from a thread for the whole of a
one-off build. Our plugins fork worker processes only from a process that runs
one thread (lab_common.processes: a fork copies the locks other threads hold),
so under `pelican` a build would do all its work in one process. This takes
the same arguments, through Pelican's own `parse_arguments`, `init_logging`
and `get_instance`, and runs the build with no spinner. Watching (`-r`) and
serving (`-l`) go to `pelican` unchanged: those builds run beside a server or
a watcher anyway, and do their work in one process.
"""

from __future__ import annotations

import logging
import sys

import pelican
from pelican.log import init as init_logging

# Pelican's own logger, as `pelican` reports a failed build: lab_content's
# filter there drops the traceback of a content error.
logger = logging.getLogger("pelican")


def start_logging(args) -> None:
    """Logging as `pelican` sets it up from its arguments (verbosity,
    --fatal, --log-handler, --logs-dedup-min-level)."""
    init_logging(
        level=args.verbosity,
        fatal=args.fatal,
        name="pelican",
        handler=pelican.LOG_HANDLERS[args.log_handler],
        logs_dedup_min_level=getattr(logging, args.logs_dedup_min_level),
    )


def main(argv: list[str] | None = None) -> int:
    args = pelican.parse_arguments(argv)
    if args.autoreload or args.listen:
        pelican.main(argv)
        return 0
    start_logging(args)
    try:
        instance, _ = pelican.get_instance(args)
        instance.run()
    except KeyboardInterrupt:
        logger.warning("Keyboard interrupt received. Exiting.")
        return 130
    except Exception as exc:
        logger.critical("%s: %s", exc.__class__.__name__, exc, exc_info=True)
        return getattr(exc, "exitcode", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
