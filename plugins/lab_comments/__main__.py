"""`python -m lab_comments [command ...]`: the moderation CLI, with `serve` as
the command when none is given, so that a deployed endpoint is one command:

    python -m lab_comments serve --host 127.0.0.1 --port 8001
    python -m lab_comments --port 8001          (the same)
    python -m lab_comments list                 (any other command)

Everything is `lab_comments.cli`'s (`python -m lab_comments.cli` still runs
it); this only supplies the default command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .cli import main

# The options of `serve`: given first, they mean `serve`.
SERVE_OPTIONS = ("--host", "--port", "--threads", "--trusted-proxy")


def with_default(argv: Sequence[str]) -> list[str]:
    """`argv` with `serve` in front when it names no command."""
    if not argv or argv[0].split("=")[0] in SERVE_OPTIONS:
        return ["serve", *argv]
    return list(argv)


if __name__ == "__main__":
    sys.exit(main(with_default(sys.argv[1:])))
