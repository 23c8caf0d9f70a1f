"""The published comments as a build reads them, and what a build keeps of
them for the next one.

Finding a comment file costs a directory entry and a stat; reading one costs
YAML parsing, the schema's checks and, most of all, Markdown and the
sanitiser. So `read_comments` takes what an earlier build made of each file
(a `CachedFile`: the clean record, its body already rendered), keyed by the
file's path, size and st_mtime_ns, and reads, checks and renders only the
files that are new or changed. Every check applies to those as before; a file
that fails one is not kept, so it fails every build until it is mended. Only
whether a file's post exists depends on the rest of the site, so that is
checked on every build, for cached files too.

The cache is a JSON file (a cache can then hold data only, never code to
run) written by `save_cache` and read by `load_cache`, which ignores it,
never failing, when it is missing, unreadable, corrupt, of another format, or
made by other code or for another content folder: its identity is a digest of
the modules and libraries that make the records and of the folder, so no
version number has to be remembered when the schema or the renderer changes.
Dates are kept in UTC and put in the site's zone by each build, so TIMEZONE
is not part of it.

No Pelican here: plugin.py decides when to use the cache, and where.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import posixpath
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown
import nh3
import yaml

from lab_common import nesting
from lab_common.fingerprint import digest, module_digest

from . import render, schema, store

CACHE_NAME = "lab_comments.json"
# The layout of the file; what fills it is in `cache_identity`.
CACHE_FORMAT = 1
# A file changed this shortly before a build looked at it could change again
# within the same tick of the file system's clock and keep its size and
# mtime, so it is not kept: the next build reads it again (git's "racily
# clean" rule). Two seconds covers coarse clocks (FAT keeps even seconds) and
# some skew between this machine's clock and a network file system's.
RACY_NS = 2_000_000_000

# A kept record: the clean published record with `body_html`, the body's
# rendered and sanitised HTML, in place of `body` (which nothing else needs).
_REQUIRED_TEXT = ("id", "post", "name", "body_html")
_OPTIONAL_TEXT = ("website", "reply_to")
_KEPT = {*_REQUIRED_TEXT, *_OPTIONAL_TEXT, "date", "staff"}


@dataclass(frozen=True)
class CachedFile:
    """What a build made of one valid comment file."""

    size: int
    mtime_ns: int
    record: dict[str, Any]


@dataclass
class Reading:
    """What a build made of the comment files: the valid ones by path, every
    problem as `path: field: reason`, and how many files came from the cache
    and how many were read."""

    files: dict[str, CachedFile] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    cached: int = 0
    read: int = 0


def check_file(path: str, data: Any) -> tuple[dict[str, Any], list[str]]:
    """A comment file's YAML data checked against the schema, its id against
    its file name and its post against its folder: the clean record and every
    problem as `path: field: reason`."""
    folder, filename = posixpath.split(path)
    post_folder = posixpath.basename(folder)
    stem = filename.removesuffix(".yaml")
    clean, found = schema.validate_published(data)
    lines = [f"{path}: {field}: {reason}" for field, reason in found]
    if "id" in clean and clean["id"] != stem:
        lines.append(f"{path}: id: {clean['id']!r} does not match the file name")
    if "post" in clean and clean["post"] != post_folder:
        lines.append(
            f"{path}: post: {clean['post']!r} does not match the folder {post_folder!r}"
        )
    return clean, lines


def read_comments(
    root: Path,
    cached: Mapping[str, CachedFile],
    post_slugs: Iterable[str],
    render_body: Callable[[str], str],
) -> Reading:
    """Every comment file under `root`: from `cached` when its size and mtime
    are those kept, otherwise read, checked and its body rendered."""
    reading = Reading()
    found, reading.problems = store.published_files(root)
    made: dict[str, CachedFile] = {}
    stale = []
    for file in found:
        entry = cached.get(file.relative)
        if entry is not None and (entry.size, entry.mtime_ns) == (
            file.size,
            file.mtime_ns,
        ):
            made[file.relative] = entry
        else:
            stale.append(file)
    reading.cached, reading.read = len(made), len(stale)
    fresh, parsed, problems = make_entries(stale, render_body)
    made.update(fresh)
    reading.problems += problems
    # Whether a file's post exists depends on the rest of the site: checked
    # on every build, for cached files too.
    known = set(post_slugs)
    readable = made.keys() | parsed
    orphans: dict[str, list[str]] = {}
    for file in found:
        folder = posixpath.dirname(file.relative)
        if posixpath.basename(folder) in known:
            if file.relative in made:
                reading.files[file.relative] = made[file.relative]
        elif file.relative in readable:
            orphans.setdefault(folder, []).append(posixpath.basename(file.relative))
    # One line for a folder, not one for each of its comments: what went is
    # the post's address (a renamed file, an edited slug:), and that is how
    # to keep it.
    for folder, names in sorted(orphans.items()):
        slug = posixpath.basename(folder)
        count = (
            f"1 comment ({names[0]}) is"
            if len(names) == 1
            else f"{len(names)} comments ({', '.join(sorted(names))}) are"
        )
        reading.problems.append(
            f"{folder}: post: {count} on the post with the slug {slug!r}, and no "
            "post has it; if that post's file was renamed or its slug changed, "
            f"give it 'slug: {slug}' to keep its address and its comments"
        )
    return reading


def make_entries(
    files: Iterable[store.PublishedFile], render_body: Callable[[str], str]
) -> tuple[dict[str, CachedFile], set[str], list[str]]:
    """Read, check and render comment files: the entries of the valid ones,
    the paths of those that could be parsed, and every problem."""
    made: dict[str, CachedFile] = {}
    problems: list[str] = []
    # Read, then checked, then rendered, each step for every file before the
    # next: taken file by file, YAML, the schema and Markdown evict one
    # another from the CPU's caches, and 5,000 comments took 20% longer
    # (730 ms against 610 ms on the benchmark site).
    parsed = []
    for file in files:
        try:
            parsed.append((file, store.read_published_file(file)))
        except store.StoreError as exc:
            # Unreadable: there is nothing more to say of it.
            problems.append(f"{file.relative}: file: {exc}")
    valid = []
    for file, data in parsed:
        clean, lines = check_file(file.relative, data)
        problems += lines
        if not lines:
            valid.append((file, clean))
    for file, clean in valid:
        record = {k: v for k, v in clean.items() if k != "body"}
        try:
            record["body_html"] = render_body(clean["body"])
        except render.BodyRefused as exc:
            # Beyond the bounds the endpoint also keeps (a file written by
            # hand, or queued before the endpoint checked): named, not shown.
            problems.append(f"{file.relative}: body: {exc}")
            continue
        made[file.relative] = CachedFile(file.size, file.mtime_ns, record)
    return made, {file.relative for file, _ in parsed}, problems


def entries_ahead(
    files: Iterable[store.PublishedFile], render_body: Callable[[str], str]
) -> bytes:
    """The entries of the valid ones of `files`, pickled: what a worker
    process works out while the build reads the posts (the build then takes
    them as it takes the cache's, checking sizes and times)."""
    made, _, _ = make_entries(files, render_body)
    return pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL)


# -- the file


def cache_identity(root: Path) -> str:
    """Everything but the comment files that what is kept depends on: this
    file's format, the code of the modules that read, check and render a
    comment, the versions of the libraries they use (and of Unicode, which
    NFC normalisation follows), and the folder the paths are relative to."""
    # The code as loaded, not as the files now say: a file edited while a
    # server runs is not the code that server runs.
    sources = [
        module_digest(module)
        # lab_common.nesting: the bounds every body is checked against.
        for module in (schema, store, render, nesting, sys.modules[__name__])
    ]
    return digest(
        CACHE_FORMAT,
        str(root.resolve()),
        sources,
        [markdown.__version__, nh3.__version__, yaml.__version__],
        yaml.__with_libyaml__,
        unicodedata.unidata_version,
        list(sys.version_info[:2]),
    )


def load_cache(path: Path, identity: str) -> tuple[dict[str, CachedFile], str]:
    """The files `save_cache` kept with this identity, and "loaded"; or none,
    and why ("none yet", or "ignored: " and the reason)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, "none yet"
    except OSError as exc:
        return {}, f"ignored: cannot be read ({exc.strerror})"
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return {}, "ignored: of another format"
        if data.get("identity") != identity:
            return {}, "ignored: made by other code or for another folder"
        files = {
            relative: _from_json(relative, value)
            for relative, value in data["files"].items()
        }
    # json's errors are ValueErrors (UnicodeDecodeError too); the others come
    # from values of the wrong type where the file's layout has its own.
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return {}, f"ignored: corrupt ({type(exc).__name__}: {exc})"
    return files, "loaded"


def save_cache(
    path: Path, identity: str, files: Mapping[str, CachedFile], looked_ns: int
) -> int:
    """Replace the cache in one step (a temporary file, then a rename), with
    every file but those changed less than RACY_NS before `looked_ns`, the
    time the build began to look at them; return how many were kept."""
    kept = {
        relative: [file.size, file.mtime_ns, _to_json(file.record)]
        for relative, file in files.items()
        if file.mtime_ns < looked_ns - RACY_NS
    }
    data = {"format": CACHE_FORMAT, "identity": identity, "files": kept}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    store.atomic_write(path, text.encode("ascii"))
    return len(kept)


def _to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, "date": record["date"].isoformat()}


def _from_json(relative: Any, value: Any) -> CachedFile:
    """A kept file, its record as the build made it; ValueError or TypeError
    for anything that a build could not have written."""
    size, mtime_ns, record = value
    if not isinstance(relative, str) or not isinstance(record, dict):
        raise TypeError("an entry is not a path and a record")
    if type(size) is not int or type(mtime_ns) is not int:
        raise TypeError("a size or time is not a whole number")
    if not set(record) <= _KEPT or not all(
        isinstance(record.get(key), str) for key in _REQUIRED_TEXT
    ):
        raise ValueError("a record has other fields than a comment's")
    for key in _OPTIONAL_TEXT:
        if key in record and not isinstance(record[key], str):
            raise TypeError(f"{key} is not text")
    if not isinstance(record.get("staff", False), bool):
        raise TypeError("staff is not true or false")
    date = dt.datetime.fromisoformat(record["date"])
    if date.tzinfo is None:
        raise ValueError("a date has no time zone")
    return CachedFile(size, mtime_ns, {**record, "date": date})
