"""The fixture site with old addresses (tests/fixtures/redirects laid over a
copy of tests/fixtures/site), for tests/test_redirects.py and the site rules
of tests/test_lab_content.py."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FIXTURES

OVERLAY = FIXTURES / "redirects"
# The post with old addresses, and where it lives now.
MOVED_POST = "posts/2025-06-02-moved-here.md"
MOVED_URL = "updates/2025/moved-here/"


def redirect_content(target: Path) -> Path:
    """A copy of the small fixture site at `target`, with the overlay's
    files (new and replaced) laid over it."""
    shutil.copytree(FIXTURES / "site", target)
    shutil.copytree(
        OVERLAY, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.txt")
    )
    return target
