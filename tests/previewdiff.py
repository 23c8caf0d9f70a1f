"""Which pages a pull request changes: two built sites compared file by file.

    python tests/previewdiff.py BASE HEAD [--summary FILE] [--pages FILE]

BASE and HEAD are two builds (CI builds the preview of the pull request's base
and of its head). Prints a Markdown list of the pages changed, added and
removed (appended to --summary too, which CI points at $GITHUB_STEP_SUMMARY)
and writes the changed and added pages, one path a line, to --pages (make
check takes their screenshots).

Pages are HTML files, compared by content. The theme's bundles carry a hash of
their content in their names (`theme/css/main.1a2b3c4d5e.css`), so a change to
the stylesheet rewrites the <link> of every page: the names of hashed files are
read as their unhashed form before pages are compared, and a changed bundle is
reported once ("the stylesheet changed: every page") rather than as every page.
Pagefind's index (pagefind/) is left out: its fragments change with any text.
"""

from __future__ import annotations

import argparse
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Folders whose files are not pages a reviewer reads.
SKIPPED = ("pagefind/",)
# A hashed name: stem.<hash>.ext, the hash at least 8 lowercase hex digits.
MIN_HASH = 8
HEX = frozenset(string.hexdigits.lower())
# What a changed bundle means for a reader, by its extension.
BUNDLE_KINDS = {".css": "stylesheet", ".js": "script"}
# The Markdown list stops after this many lines per heading.
MAX_LISTED = 100


def unhashed(name: str) -> str | None:
    """`main.1a2b3c4d5e.css` -> `main.css`; None for a name without a hash."""
    parts = name.split(".")
    if len(parts) < 3:
        return None
    digest = parts[-2]
    if len(digest) < MIN_HASH or not set(digest) <= HEX:
        return None
    return ".".join([*parts[:-2], parts[-1]])


def site_files(root: Path) -> dict[str, bytes]:
    """Every file of a built site by its path in the site (posix), read."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.relative_to(root).as_posix().startswith(SKIPPED)
    }


def hashed_names(files: dict[str, bytes]) -> dict[str, str]:
    """Each hashed file's path -> its path without the hash."""
    found = {}
    for path in files:
        folder, _, name = path.rpartition("/")
        plain = unhashed(name)
        if plain is not None:
            found[path] = f"{folder}/{plain}" if folder else plain
    return found


def normalised(content: bytes, names: dict[str, str]) -> bytes:
    """A page with every hashed file name it names read as the unhashed one
    (plain text replacement of known names: the page is not parsed)."""
    for hashed, plain in names.items():
        hashed_name = hashed.rpartition("/")[2].encode()
        if hashed_name in content:
            content = content.replace(hashed_name, plain.rpartition("/")[2].encode())
    return content


def page_address(path: str) -> str:
    """`updates/2025/x/index.html` -> `updates/2025/x/` (the address readers
    see); other pages keep their name."""
    if path == "index.html":
        return "/"
    if path.endswith("/index.html"):
        return path.removesuffix("index.html")
    return path


@dataclass
class SiteDiff:
    changed: list[str] = field(default_factory=list)  # pages, by path
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Bundles whose content changed, by unhashed path (theme/css/main.css).
    bundles: list[str] = field(default_factory=list)
    # Other files (feeds, images, sitemap) changed, added or removed.
    other: list[str] = field(default_factory=list)

    @property
    def pages(self) -> list[str]:
        """The pages to look at in the head build: changed, then added."""
        return self.changed + self.added


def compare(base: dict[str, bytes], head: dict[str, bytes]) -> SiteDiff:
    """The difference between two sites' files (path -> bytes)."""
    diff = SiteDiff()
    base_hashed, head_hashed = hashed_names(base), hashed_names(head)
    names = {**base_hashed, **head_hashed}
    by_plain_base = {plain: base[path] for path, plain in base_hashed.items()}
    by_plain_head = {plain: head[path] for path, plain in head_hashed.items()}
    for plain in sorted(by_plain_base.keys() | by_plain_head.keys()):
        if by_plain_base.get(plain) != by_plain_head.get(plain):
            diff.bundles.append(plain)
    for path in sorted(base.keys() | head.keys()):
        if path in names:
            continue  # a bundle: reported above
        is_page = path.endswith(".html")
        if path not in head:
            (diff.removed if is_page else diff.other).append(path)
        elif path not in base:
            (diff.added if is_page else diff.other).append(path)
        elif is_page:
            if normalised(base[path], names) != normalised(head[path], names):
                diff.changed.append(path)
        elif base[path] != head[path]:
            diff.other.append(path)
    return diff


def bundle_line(plain: str, base: set[str], head: set[str]) -> str:
    kind = BUNDLE_KINDS.get(Path(plain).suffix, "bundled file")
    if plain not in base:
        what = "is new"
    elif plain not in head:
        what = "is gone"
    else:
        what = "changed"
    scope = "every page" if kind == "stylesheet" else "every page that loads it"
    return f"- The {kind} `{plain}` {what}: {scope} may look different."


def listing(title: str, paths: list[str]) -> list[str]:
    if not paths:
        return []
    lines = [f"**{title} ({len(paths)})**", ""]
    lines += [f"- `{page_address(p)}` ({p})" for p in paths[:MAX_LISTED]]
    if len(paths) > MAX_LISTED:
        lines.append(f"- ... and {len(paths) - MAX_LISTED} more")
    return [*lines, ""]


def markdown(diff: SiteDiff, base_bundles=(), head_bundles=()) -> str:
    """The run summary's section: bundles first, then pages, then other files."""
    lines = ["### Pages this pull request changes", ""]
    if not (diff.bundles or diff.pages or diff.removed or diff.other):
        return "\n".join([*lines, "No page or file of the site changes.", ""])
    if diff.bundles:
        lines += [
            bundle_line(b, set(base_bundles), set(head_bundles)) for b in diff.bundles
        ]
        lines += [
            "",
            "The pages below change besides that; the screenshots of every "
            "page type show the rest.",
            "",
        ]
    if not (diff.pages or diff.removed):
        lines += ["No page's own content changes.", ""]
    lines += listing("Changed", diff.changed)
    lines += listing("Added", diff.added)
    lines += listing("Removed", diff.removed)
    if diff.other:
        lines += [f"Other files that change: {len(diff.other)} (feeds, images, "
                  "sitemap and the like)", ""]  # fmt: skip
        lines += [f"- {p}" for p in diff.other[:MAX_LISTED]]
        if len(diff.other) > MAX_LISTED:
            lines.append(f"- ... and {len(diff.other) - MAX_LISTED} more")
        lines.append("")
    return "\n".join(lines)


def diff_sites(base: Path, head: Path) -> tuple[SiteDiff, str]:
    """Compare two built sites on disk: the diff and its Markdown."""
    base_files, head_files = site_files(base), site_files(head)
    diff = compare(base_files, head_files)
    text = markdown(
        diff,
        hashed_names(base_files).values(),
        hashed_names(head_files).values(),
    )
    return diff, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the base's build")
    parser.add_argument("head", type=Path, help="the pull request's build")
    parser.add_argument("--summary", type=Path, help="append the Markdown here")
    parser.add_argument("--pages", type=Path, help="write changed pages here")
    args = parser.parse_args(argv)
    for folder in (args.base, args.head):
        if not folder.is_dir():
            parser.error(f"{folder} is not a folder")
    diff, text = diff_sites(args.base, args.head)
    print(text)
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as summary:
            summary.write(text + "\n")
    if args.pages:
        args.pages.write_text(
            "".join(f"{page}\n" for page in diff.pages), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
