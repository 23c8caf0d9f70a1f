"""lab_writer's settings and their defaults (the one place they are set)."""

from __future__ import annotations

from lab_common import SettingsError
from lab_common.processes import default_workers

DEFAULTS = {
    # Processes that render pages: 1 renders in the build's own process; "auto"
    # is lab_common.processes.default_workers() (one per CPU, at most 4).
    "LAB_WRITER_PROCESSES": "auto",
    # Fewer pages than this to render are rendered in the build's own process.
    "LAB_WRITER_PARALLEL_MIN_PAGES": 64,
    # Leave a page alone when everything it is made from is the same as when
    # the last build wrote it into the same output folder (for in-place
    # rebuilds: `make regenerate`, `make devserver`). The record of what each
    # file was made from lives in CACHE_PATH.
    "LAB_WRITER_SKIP_UNCHANGED": False,
}


def writer_settings(settings) -> dict:
    options = {key: settings.get(key, value) for key, value in DEFAULTS.items()}
    processes = options["LAB_WRITER_PROCESSES"]
    if processes == "auto":
        processes = default_workers()
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise SettingsError(
            f"LAB_WRITER_PROCESSES: {options['LAB_WRITER_PROCESSES']!r} is not "
            '"auto" or a whole number of at least 1'
        )
    options["LAB_WRITER_PROCESSES"] = processes
    minimum = options["LAB_WRITER_PARALLEL_MIN_PAGES"]
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
        raise SettingsError(
            f"LAB_WRITER_PARALLEL_MIN_PAGES: {minimum!r} is not a whole number"
        )
    if not isinstance(options["LAB_WRITER_SKIP_UNCHANGED"], bool):
        raise SettingsError("LAB_WRITER_SKIP_UNCHANGED: must be True or False")
    return options
