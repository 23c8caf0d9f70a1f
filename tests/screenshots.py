"""Screenshots for reviewers (the last step of `make check`): one page of each
type, and every page a pull request changed, at 320 and 1280 px wide, with
JavaScript on and off, full-page PNGs in one folder that CI keeps with the
preview.

    python tests/screenshots.py [--site output] [--out check-screenshots]
                                [--pages-file FILE]

FILE lists more pages, paths in the site one a line (tests/previewdiff.py
writes it in CI); without --pages-file, the file named by LAB_CHANGED_PAGES,
if any (`make check CHANGED_PAGES=...`). The folder is emptied first, and an
index.md in it says which page each picture shows.

The page types are tests/pagetypes.py's; a site whose page of a type is at
another path than the sample's (the Lab's content/) gets the first page that
matches the type's pattern. The site is answered from its files by the
browser itself (check_site.serve_site_offline): no server, no network.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "plugins")]

from pagetypes import PAGE_TYPES  # noqa: E402
from sitecheck import is_moved_page  # noqa: E402

WIDTHS = (320, 1280)
HEIGHT = 900
# At most this many changed pages get pictures (4 each), so that a pull
# request that touches the whole site stays within about two minutes with
# the page types (35 pages, 140 pictures); the run summary lists them all.
MAX_CHANGED = 20
# Where to look for a page type when the sample's path is not in the site.
PATTERNS: dict[str, tuple[str, ...]] = {
    "post with comments": ("updates/[0-9][0-9][0-9][0-9]/*/comments.atom.xml",),
    "post": ("updates/[0-9][0-9][0-9][0-9]/*/index.html",),
    "challenge": ("challenges/*/index.html",),
    "call": ("get-involved/*/index.html",),
    "tag": ("updates/tag/*/index.html",),
    "author": ("authors/*/index.html",),
    "page": ("about/index.html", "*/index.html"),
}
# Top-level folders that are sections, not pages (for the "page" type).
SECTIONS = {"updates", "challenges", "get-involved", "authors", "search", "feeds"}
# A page's own load is waited for; its late requests (the search index) at
# most this long.
SETTLE_MS = 5000


@dataclass(frozen=True)
class Shot:
    label: str  # file-name stem: "type-home", "page-updates-2025-x"
    page: str  # path in the site: "index.html"
    what: str  # for index.md: "home", "changed page"


def find_type(site: Path, kind: str) -> str | None:
    """The page of type `kind` in `site`: the sample's path, else the first
    match of the type's patterns."""
    if (site / PAGE_TYPES[kind]).is_file():
        return PAGE_TYPES[kind]
    for pattern in PATTERNS.get(kind, ()):
        for found in sorted(site.glob(pattern)):
            page = found.parent / "index.html"
            name = page.relative_to(site).as_posix()
            if kind == "page" and name.split("/")[0] in SECTIONS:
                continue
            # A page at an old address (lab_redirects) leaves at once.
            if page.is_file() and not is_moved_page(page):
                return name
    return None


def slug(page: str) -> str:
    """`updates/2025/x/index.html` -> `updates-2025-x`; `404.html` -> `404`."""
    stem = page.removesuffix("index.html").removesuffix(".html").strip("/")
    return stem.replace("/", "-").replace(" ", "-") or "home"


def plan(site: Path, changed: list[str]) -> tuple[list[Shot], list[str]]:
    """The pages to take, types first, then changed pages (each page once);
    and notes on what was left out."""
    shots, notes, seen = [], [], set()
    for kind in PAGE_TYPES:
        page = find_type(site, kind)
        if page is None:
            notes.append(f"no page of type {kind!r} in this site")
            continue
        if page not in seen:
            seen.add(page)
            shots.append(Shot(f"type-{slug(kind)}", page, kind))
    wanted = [p.strip().lstrip("/") for p in changed if p.strip()]
    pages = [p for p in dict.fromkeys(wanted) if p not in seen]
    for page in pages:
        if not page.endswith(".html") or not (site / page).is_file():
            notes.append(f"{page}: not a page of this site")
    pages = [p for p in pages if p.endswith(".html") and (site / p).is_file()]
    if len(pages) > MAX_CHANGED:
        notes.append(f"{len(pages) - MAX_CHANGED} more changed pages not taken")
    shots += [Shot(f"page-{slug(p)}", p, "changed page") for p in pages[:MAX_CHANGED]]
    return shots, notes


def file_name(shot: Shot, width: int, javascript: bool) -> str:
    return f"{shot.label}--{width}px-{'js' if javascript else 'nojs'}.png"


def index_text(shots: list[Shot], notes: list[str]) -> str:
    lines = [
        "# Screenshots",
        "",
        f"Each page at {' and '.join(f'{w} px' for w in WIDTHS)} wide, full "
        "length, with JavaScript on (`-js`) and off (`-nojs`).",
        "",
        "| picture | shows | page |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {s.label}--* | {s.what} | {s.page} |" for s in shots]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def settle(page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A slow search index is no failure: the picture shows the wait.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=SETTLE_MS)


def take(site: Path, shots: list[Shot], out: Path, browser) -> list[Path]:
    """Every shot at every width, JavaScript on and off; the files written."""
    from check_site import serve_site_offline, site_url_of

    siteurl = site_url_of(site)
    written = []
    for width in WIDTHS:
        for javascript in (True, False):
            context = browser.new_context(
                viewport={"width": width, "height": HEIGHT},
                java_script_enabled=javascript,
            )
            serve_site_offline(context, site, siteurl)
            page = context.new_page()
            try:
                for shot in shots:
                    page.goto(f"{siteurl}/{shot.page}", wait_until="load")
                    if javascript:  # scripts may fetch more (the search index)
                        settle(page)
                    target = out / file_name(shot, width, javascript)
                    page.screenshot(
                        path=str(target), full_page=True, animations="disabled"
                    )
                    written.append(target)
            finally:
                context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "output")
    parser.add_argument("--out", type=Path, default=ROOT / "check-screenshots")
    parser.add_argument(
        "--pages-file",
        type=Path,
        default=Path(os.environ["LAB_CHANGED_PAGES"])
        if os.environ.get("LAB_CHANGED_PAGES")
        else None,
        help="more pages to take, one path a line (default: $LAB_CHANGED_PAGES)",
    )
    args = parser.parse_args(argv)
    changed = []
    if args.pages_file is not None:
        if not args.pages_file.is_file():
            parser.error(f"{args.pages_file}: no such file")
        changed = args.pages_file.read_text(encoding="utf-8").splitlines()
    shots, notes = plan(args.site, changed)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()

    from check_site import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            written = take(args.site, shots, args.out, browser)
        finally:
            browser.close()
    (args.out / "index.md").write_text(index_text(shots, notes), encoding="utf-8")
    for note in notes:
        print(f"      {note}")
    print(
        f"Screenshots: {len(written)} pictures of {len(shots)} pages in {args.out} "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
