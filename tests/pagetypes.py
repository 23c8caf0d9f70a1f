"""One page of each type readers meet, in a built copy of the sample fixture
site (tests/fixtures/sample): the pages the budget, security-policy and
Lighthouse checks visit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

# Page type -> its file in the output of the sample fixture site.
PAGE_TYPES: dict[str, str] = {
    "home": "index.html",
    "post with comments": "updates/2025/first-challenge/index.html",
    "post": "updates/2025/ideas-workshop/index.html",
    "challenge": "challenges/peer-support/index.html",
    "call": "get-involved/ten-minutes-or-ten-days/index.html",
    "challenges": "challenges/index.html",
    "calls": "get-involved/index.html",
    "updates": "updates/index.html",
    "tag": "updates/tag/co-design/index.html",
    "author": "authors/priya-nair/index.html",
    "archives": "updates/archives/index.html",
    "search": "search/index.html",
    "feeds": "feeds/index.html",
    "page": "about/index.html",
    "404": "404.html",
}


def page_files(output: Path) -> dict[str, Path]:
    """Each page type's file; fails naming a type the build did not write."""
    files = {kind: output / name for kind, name in PAGE_TYPES.items()}
    missing = [f"{kind} ({name})" for kind, name in PAGE_TYPES.items()
               if not files[kind].is_file()]  # fmt: skip
    assert not missing, f"the sample site has no page for: {', '.join(missing)}"
    return files


def indexed_copy(output: Path, site: Path) -> Path:
    """A copy of a built site at `site` with its Pagefind search index, as
    `make html` leaves it (the tests' builds make no index)."""
    shutil.copytree(output, site)
    subprocess.run(
        [sys.executable, "-m", "pagefind", "--site", str(site), "--silent"],
        check=True, timeout=120,
    )  # fmt: skip
    return site
