"""What a page is made from, as digests: pure functions over the build's
content objects and settings.

A page is written from three kinds of input:
- the build's constants: settings, theme files, our plugins' code (as
  loaded, not as the files on disk now say), the
  versions of Pelican, Jinja and Markdown, "today", data files and images in
  the content folder (`build_digest`);
- what any page may show of any item: its metadata, URL, summary, reading
  time, comment count, neighbours... (`listing_view`, joined for every item
  into one `site_digest`);
- the full text of the item(s) the page is about, and what other plugins
  said it is made from (its comments, say: lab_common.output's item inputs)
  (`full_view`).
So editing a post's body changes only its own page (and the feeds that carry
it), while a new title changes every page, since any may list it.

Anything these functions cannot take a digest of makes them raise
Unfingerprintable; the writer then renders the page as it always would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import os
from collections.abc import Iterable, Mapping

from pelican.contents import Content
from pelican.urlwrappers import URLWrapper

from lab_common.fingerprint import digest_plain as digest
from lab_common.fingerprint import loaded_code_digest
from lab_common.output import ITEM_INPUTS, item_inputs


class Unfingerprintable(TypeError):
    """A value the digest cannot stand for faithfully."""


# Attributes of a content object that are not part of what pages show of it:
# the build's shared context and settings (in the build digest), its body
# (in the full view) and the keys other plugins gave (likewise; see
# lab_common.output.set_item_input), with the attributes they stand for.
_NOT_LISTED = frozenset({"_context", "settings", "_content", "readers", ITEM_INPUTS})
# Values whose repr is already a faithful text of them.
_SIMPLE = (str, int, float, bool, type(None), dt.datetime, dt.date)
_PLAIN_TYPES = frozenset(_SIMPLE) | {bytes}
_PACKAGES = ("pelican", "jinja2", "markdown", "pygments", "feedgen", "nh3", "pillow")


def plain(value, depth: int = 0):
    """`value` as plain data for `digest`: content objects by their source
    path (what they show is in their own listing view), tags, categories and
    authors by name and URL."""
    kind = type(value)
    if kind in _PLAIN_TYPES:  # most values: answered before any isinstance
        return value
    if depth > 12:
        raise Unfingerprintable("nested too deeply")
    if kind is list or kind is tuple:
        return [plain(v, depth + 1) for v in value]
    return _plain_other(value, depth)


def _plain_other(value, depth: int):
    if value is None or isinstance(value, str | bytes | bool | int | float):
        return value
    if isinstance(value, dt.date | dt.time):
        return value
    if isinstance(value, dt.tzinfo):
        return ("zone", str(value))
    if isinstance(value, Content):
        return ("content", value.source_path)
    if isinstance(value, URLWrapper):
        return ("wrapper", type(value).__name__, value.name, value.url)
    if isinstance(value, Mapping):
        # Sorted: a dict filled from a set has another order in another run.
        return {
            str(k): plain(v, depth + 1)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(repr(plain(v, depth + 1)) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__qualname__,
            {f.name: plain(getattr(value, f.name), depth + 1)
             for f in dataclasses.fields(value)},
        )  # fmt: skip
    if callable(value) and hasattr(value, "__qualname__"):
        # Functions and classes in settings: their code is in the build digest.
        return ("callable", getattr(value, "__module__", ""), value.__qualname__)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise Unfingerprintable(f"{type(value).__module__}.{type(value).__qualname__}")


def listing_view(item, summary_digest: str) -> str:
    """What any page may show of `item`: every attribute but its body and
    those that other plugins' item inputs stand for, plus its summary (as a
    digest: see summary_key)."""
    skip = _NOT_LISTED | item_inputs(item).keys()
    attributes = {
        key: plain(value) for key, value in vars(item).items() if key not in skip
    }
    return digest(type(item).__qualname__, attributes, summary_digest)


def full_view(item, listing: str) -> str:
    """Everything about `item` that its own page shows: its listing view,
    its body and its item inputs (a post's comment thread, say)."""
    return digest(listing, item._content, sorted(item_inputs(item).items()))


def summary_key(item) -> str:
    """What an item's summary is made from, apart from the settings and
    other items' URLs (both in other digests): its body and its front-matter
    summary. The summary itself is costly to work out; the writer keeps the
    digest of each one by this key from build to build."""
    return digest(item._content, plain(item.metadata.get("summary")))


def summary_digest(item) -> str:
    return digest(str(item.summary) if item.summary is not None else None)


def file_stats(paths: Iterable[str], suffixes: tuple[str, ...] = ()) -> list[tuple]:
    """Name, size and modification time of every file under the given
    folders or files (theme, data files), but those whose names end with
    `suffixes` and Python's bytecode caches."""
    entries = []
    for top in paths:
        top = os.path.abspath(top)
        if os.path.isfile(top):
            walked = [(os.path.dirname(top), [], [os.path.basename(top)])]
        else:
            walked = os.walk(top)
        for folder, dirs, files in walked:
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if suffixes and name.endswith(suffixes):
                    continue
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:  # gone since the folder was listed
                    continue
                entries.append((path, stat.st_size, stat.st_mtime_ns))
    return entries


def files_digest(stats: Iterable[tuple], skip_under: Iterable[str] = ()) -> str:
    """A digest of `file_stats`, but the files under the folders `skip_under`."""
    prefixes = tuple(os.path.join(folder, "") for folder in skip_under)
    return digest([entry for entry in stats if not entry[0].startswith(prefixes)])


def build_digest(settings: Mapping, files: str) -> str:
    """The inputs every output file shares: settings, package versions, our
    code as loaded (lab_common.fingerprint.loaded_code_digest) and the files
    (theme, the content folder's other files: see files_digest)."""
    versions = []
    for package in _PACKAGES:
        try:
            versions.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((package, None))
    return digest(
        {key: plain(value) for key, value in settings.items()},
        versions,
        loaded_code_digest(),
        files,
    )
