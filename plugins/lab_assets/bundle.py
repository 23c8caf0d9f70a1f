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
    css = _minify("".join(parts), entry, browsers)
    return shorten_custom_properties(css)[0].encode("utf-8")


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


def _custom_property_spans(css: str) -> list[tuple[int, int]]:
    """Where each custom property name (--name) is in minified CSS, outside
    strings and url() tokens, which may hold any text."""
    spans = []
    i, n = 0, len(css)
    while i < n:
        char = css[i]
        if char in "\"'":
            # A string runs to its unescaped closing quote.
            i += 1
            while i < n and css[i] != char:
                i += 2 if css[i] == "\\" else 1
            i += 1
        elif css.startswith("url(", i):
            i = css.find(")", i) + 1 or n
        elif css.startswith("--", i) and (i == 0 or css[i - 1] in "{;(,: "):
            end = i + 2
            while end < n and (css[end].isalnum() or css[end] in "-_"):
                end += 1
            spans.append((i, end))
            i = end
        else:
            i += 1
    return spans


def shorten_custom_properties(css: str) -> tuple[str, dict[str, str]]:
    """The CSS with every custom property renamed to a short name (--a, --b,
    … the most used first), and the names given. The theme's names
    (--lab-colour-secondary-text) are for people; a reader's browser needs
    only to match them, and they are a third of the bundle: var() is used
    hundreds of times. Nothing outside the stylesheet names them (the
    pages have no style attributes: the security policy refuses them)."""
    spans = _custom_property_spans(css)
    counts: dict[str, int] = {}
    for start, end in spans:
        counts[css[start:end]] = counts.get(css[start:end], 0) + 1
    ordered = sorted(counts, key=lambda name: (-counts[name], name))
    names = {name: f"--{_short(index)}" for index, name in enumerate(ordered)}
    return rename_custom_properties(css, names), names


def rename_custom_properties(css: str, names: Mapping[str, str]) -> str:
    """The CSS with each custom property in `names` renamed (outside strings
    and url() tokens)."""
    parts, last = [], 0
    for start, end in _custom_property_spans(css):
        parts += [css[last:start], names.get(css[start:end], css[start:end])]
        last = end
    parts.append(css[last:])
    return "".join(parts)


def _short(index: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = letters[rest] + name
    return name


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
        code = without_leading_comments(text).rstrip()
        parts.append(f"/* {name} */\n{{\n{code}\n}}\n")
    return "".join(parts).encode("utf-8")


def without_leading_comments(script: str) -> str:
    """The script without the comments before its first statement (each
    file's notes for people, often its longest comment). Only those: a
    comment further on may sit beside a string or a regular expression
    that only a JavaScript parser could tell from it."""
    text = script.lstrip()
    while True:
        if text.startswith("//"):
            newline = text.find("\n")
            text = "" if newline < 0 else text[newline + 1 :].lstrip()
        elif text.startswith("/*"):
            end = text.find("*/", 2)
            if end < 0:
                return script  # unterminated: leave it for the browser to refuse
            text = text[end + 2 :].lstrip()
        else:
            return text


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
