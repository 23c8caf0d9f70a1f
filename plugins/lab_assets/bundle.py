"""Bundles of the theme's CSS and JavaScript: pure functions from source files
to bytes and hashed names. No Pelican here."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightningcss


class AssetError(ValueError):
    """A source file cannot be bundled; the message names the file."""


@dataclass(frozen=True)
class Bundle:
    kind: str  # "css" or "js"
    name: str
    save_as: str  # relative to the output folder
    data: bytes


def bundle_stylesheet(entry: Path, browsers: Sequence[str] | None = None) -> bytes:
    """`entry` with every stylesheet it @imports (in order, recursively)
    inlined, minified by Lightning CSS, which parses every rule: a syntax
    error stops the build here rather than being dropped by a browser.

    Lightning CSS has a bundler of its own, but it starts a pool of threads
    that stays for the life of the process, and lab_writer forks its
    workers only from a process with one thread; each file is parsed and
    minified on its own here, and the imports followed in Python."""
    parts: list[str] = []
    _inline(entry, parts, [])
    return _minify("".join(parts), entry, browsers).encode("utf-8")


def _minify(text: str, source: Path, browsers: Sequence[str] | None) -> str:
    try:
        return lightningcss.process_stylesheet(
            text,
            filename=str(source),
            minify=True,
            browsers_list=list(browsers) if browsers else None,
        )
    except ValueError as exc:
        raise AssetError(f"{_shown(source)}: stylesheet: {exc}") from None


def _inline(path: Path, parts: list[str], chain: list[Path]) -> None:
    if path in chain:
        loop = " -> ".join(_shown(p) for p in [*chain, path])
        raise AssetError(f"{_shown(path)}: stylesheet: imports itself ({loop})")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = f" (imported by {_shown(chain[-1])})" if chain else ""
        raise AssetError(f"{_shown(path)}: stylesheet: no such file{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AssetError(
            f"{_shown(path)}: stylesheet: cannot be read ({exc})"
        ) from None
    # Minified, a sheet's @import rules come first, each as @import "path";
    # with nothing else between them.
    rest = _minify(text, path, None)
    while rest.startswith('@import "'):
        end = rest.find('"', len('@import "'))
        target = rest[len('@import "') : end]
        if end < 0 or "\\" in target or rest[end + 1 : end + 2] != ";":
            raise AssetError(
                f"{_shown(path)}: stylesheet: only plain imports of the theme's own "
                'files can be bundled (@import url("file.css"); with no media, '
                "supports or layer condition)"
            )
        if "://" in target or target.startswith("/"):
            raise AssetError(
                f"{_shown(path)}: stylesheet: imports {target}, which is not a "
                "file of the theme (the site loads nothing from other hosts)"
            )
        _inline(path.parent / target, parts, [*chain, path])
        rest = rest[end + 2 :]
    parts.append(rest)


def bundle_script(sources: Sequence[Path], root: Path) -> bytes:
    """The scripts joined in order, each inside a block of its own: a module's
    top-level `const` and function names then stay local to their file."""
    parts = []
    for source in sources:
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AssetError(
                f"{_shown(source)}: script: cannot be read ({exc})"
            ) from None
        name = (
            source.relative_to(root).as_posix()
            if source.is_relative_to(root)
            else source.name
        )
        parts.append(f"/* {name} */\n{{\n{text.rstrip()}\n}}\n")
    return "".join(parts).encode("utf-8")


def _shown(path: Path) -> str:
    """The path as a person at the project's root would type it."""
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def hashed_name(folder: str, name: str, suffix: str, data: bytes, length: int) -> str:
    """folder/name.<first `length` hex digits of SHA-256>.suffix: a new name
    whenever the bytes change, so the file can be cached for a year."""
    digest = hashlib.sha256(data).hexdigest()[:length]
    return posixpath.join(folder, f"{name}.{digest}.{suffix}")


def make_bundles(
    theme: Path, static_dir: str, options: Mapping[str, object]
) -> list[Bundle]:
    """Every bundle the settings ask for, from the theme folder `theme`, to be
    written under `static_dir` (THEME_STATIC_DIR) in the output."""
    length = options["LAB_ASSETS_HASH_LENGTH"]
    bundles = []
    for name, entry in options["LAB_ASSETS_STYLESHEETS"].items():
        data = bundle_stylesheet(theme / entry, options["LAB_ASSETS_BROWSERS"])
        folder = posixpath.join(static_dir, "css")
        bundles.append(
            Bundle("css", name, hashed_name(folder, name, "css", data, length), data)
        )
    for name, files in options["LAB_ASSETS_SCRIPTS"].items():
        data = bundle_script([theme / f for f in files], theme)
        folder = posixpath.join(static_dir, "js")
        bundles.append(
            Bundle("js", name, hashed_name(folder, name, "js", data, length), data)
        )
    return bundles


def template_names(bundles: Sequence[Bundle]) -> dict[str, dict[str, str]]:
    """LAB_ASSETS for templates: {"css": {name: path}, "js": {name: path}},
    paths relative to the site's root (templates put SITEURL before them)."""
    names: dict[str, dict[str, str]] = {"css": {}, "js": {}}
    for bundle in bundles:
        names[bundle.kind][bundle.name] = bundle.save_as
    return names
