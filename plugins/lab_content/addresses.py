"""Addresses that do not move, and that no two sources share.

A page's address (its slug) comes from its file's name, never from its title:
`posts/2025-04-10-first-challenge.md` is `first-challenge`, and
`challenges/peer-support.md` is `peer-support`, unless the front matter's
`slug:` says otherwise. So a changed title never moves a page, its comments or
its feed id; only renaming the file does, and then the build names what
pointed at the old address and how to keep it.

Pure functions over plain values: the reader and the generator adapt them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from .schema import SLUG_RE

# A post's file: the day it was first published, then its address.
DATED_NAME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}-(?P<slug>.+)$")
# Pelican's kinds of link by file, as in `[text]({filename}/posts/a.md)`.
FILE_LINK_KINDS = ("filename", "static", "attach")
# The attributes Pelican looks in for such links (pelican.contents).
LINK_ATTRIBUTES = ("href", "src", "poster", "data", "cite", "formaction", "action")


def slug_from_file_name(kind: str, relative_path: str) -> str:
    """The address a file gets when its front matter gives no `slug:`.

    A post's name is `YYYY-MM-DD-short-name.md` and gives `short-name`; a
    post named without the date gives its whole name (documented fallback).
    Challenges, calls and pages are `short-name.md`.
    """
    stem = posixpath.splitext(posixpath.basename(relative_path))[0]
    if kind == "post":
        match = DATED_NAME_RE.match(stem)
        if match:
            return match["slug"]
    return stem


def file_name_problem(kind: str, relative_path: str) -> str | None:
    """Why a file's name cannot be its address, or None when it can."""
    slug = slug_from_file_name(kind, relative_path)
    if SLUG_RE.match(slug):
        return None
    shape = "YYYY-MM-DD-short-name.md" if kind == "post" else "short-name.md"
    return (
        f"{slug!r} cannot be an address (lower-case letters, digits and single "
        f"hyphens): name the file {shape}, or give the address in slug:"
    )


def file_link(value: str, intrasite_regex: str) -> tuple[str, str] | None:
    """(kind, path) of a link by file name such as `{filename}/posts/a.md`,
    or None for any other link. `intrasite_regex` is Pelican's
    INTRASITE_LINK_REGEX."""
    match = re.match(intrasite_regex, value)
    if not match or match.group("what") not in FILE_LINK_KINDS:
        return None
    return match.group("what"), value[match.end() :]


def link_target(linking_path: str, link_path: str) -> str:
    """The path under the content folder that a link by file name names, as
    Pelican resolves it: from the content folder when it starts with `/`,
    else from the folder of the linking file; query and fragment dropped."""
    path = unquote(urlsplit(link_path).path)
    if path.startswith("/"):
        return posixpath.normpath(path[1:])
    return posixpath.normpath(posixpath.join(posixpath.dirname(linking_path), path))


def missing_link_line(
    linking_path: str, kind: str, link_path: str, target: str, content_kind
) -> str:
    """The problem line for a link whose file does not exist; `content_kind`
    tells the kind of file a path would be (post, page...) or None."""
    line = (
        f"{linking_path}: link: {{{kind}}}{link_path} names {target}, "
        "which does not exist"
    )
    kind_of_target = content_kind(target)
    if kind_of_target is None or not target.endswith((".md", ".markdown")):
        return line
    old = slug_from_file_name(kind_of_target, target)
    return (
        f"{line}; if it was renamed, link to its new name, and give the renamed "
        f"file 'slug: {old}' to keep its old address (and 'id:' to keep its "
        "feed id, as the README says)"
    )


def collisions(claims: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Each output file that two or more sources would write, with them.

    `claims` are (save_as, source) pairs: the path under the output folder
    and words for what writes it (a content file's path, "the index page
    (INDEX_SAVE_AS)"). An empty save_as means "not written".
    """
    by_path: dict[str, list[str]] = {}
    for save_as, source in claims:
        if not save_as:
            continue
        key = posixpath.normpath(save_as.lstrip("/"))
        sources = by_path.setdefault(key, [])
        if source not in sources:
            sources.append(source)
    return {
        save_as: sorted(sources)
        for save_as, sources in sorted(by_path.items())
        if len(sources) > 1
    }


def collision_line(save_as: str, sources: list[str]) -> str:
    first, *others = sources
    verb = "writes" if len(others) == 1 else "write"
    return (
        f"{first}: output: would write {save_as}, which {' and '.join(others)} "
        f"also {verb}; give one of them another address"
    )
