"""A Markdown reader for files with YAML front matter.

It keeps lists and mappings intact (a challenge's phases, a call's
commitments), checks the front matter against the schema of the file's content
type, and never drops a problem: each becomes a `path: field: reason` line in
the `lab_errors` metadata, which the content generator turns into one failed
build listing all of them.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from markdown import Markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from pelican.readers import MarkdownReader
from pelican.utils import SafeDatetime, pelican_open, posixize_path

from lab_common import plain_text
from lab_common.nesting import nesting_problem

from .addresses import (
    LINK_ATTRIBUTES,
    file_link,
    file_name_problem,
    slug_from_file_name,
)
from .authors import parse_authors
from .frontmatter import FrontMatterError, read_front_matter
from .navigation import reading_minutes
from .schema import validate
from .settings import lab_settings
from .urlwrappers import Author, Category, Tag

# A placeholder date for a post whose own date could not be read, so that
# Pelican keeps the post and the build can report it instead of skipping it.
_PLACEHOLDER_DATE = SafeDatetime(1970, 1, 1)


def content_kind(source_path: str, settings: dict[str, Any]) -> str | None:
    """The content type of a file, from the folder it sits in under PATH."""
    relative = posixize_path(os.path.relpath(source_path, settings["PATH"]))
    folders = {
        "post": settings["LAB_POST_PATHS"],
        "page": settings["LAB_PAGE_PATHS"],
        "challenge": settings["LAB_CHALLENGE_PATHS"],
        "call": settings["LAB_CALL_PATHS"],
    }
    for kind, paths in folders.items():
        if any(relative.startswith(path.rstrip("/") + "/") for path in paths):
            return kind
    return None


def to_datetime(value: dt.date | dt.datetime) -> SafeDatetime:
    """A plain date is midnight, left naive so Pelican puts it in TIMEZONE."""
    if isinstance(value, dt.datetime):
        return SafeDatetime(
            value.year, value.month, value.day, value.hour, value.minute,
            value.second, value.microsecond, tzinfo=value.tzinfo,
        )  # fmt: skip
    return SafeDatetime(value.year, value.month, value.day)


class _FirstImage(Treeprocessor):
    def run(self, root):
        image = next(root.iter("img"), None)
        if image is not None:
            self.md.lab_first_image = {
                "src": image.get("src", ""),
                "alt": image.get("alt", ""),
            }


class _FileLinks(Treeprocessor):
    def __init__(self, md, intrasite_regex: str):
        super().__init__(md)
        self.intrasite_regex = intrasite_regex

    def run(self, root):
        for element in root.iter():
            for name in LINK_ATTRIBUTES:
                value = element.get(name)
                link = value and file_link(value, self.intrasite_regex)
                if link and link not in self.md.lab_file_links:
                    self.md.lab_file_links.append(link)


class FileLinksExtension(Extension):
    """Records every link by file name (`{filename}/posts/a.md`, `{static}`,
    `{attach}`) on the Markdown object while it builds the document (links
    in raw HTML are not seen), so that the build can refuse a link to a file
    that does not exist before writing anything: Pelican only warns, while
    writing."""

    def __init__(self, intrasite_regex: str):
        super().__init__()
        self.intrasite_regex = intrasite_regex

    def extendMarkdown(self, md):
        md.registerExtension(self)
        self.md = md
        md.lab_file_links = []
        md.treeprocessors.register(
            _FileLinks(md, self.intrasite_regex), "lab_file_links", 4
        )

    def reset(self):
        # Kept across the body and the summary of one document: the reader
        # clears it itself before each document.
        pass


class FirstImageExtension(Extension):
    """Records the first image of a document (its src as written, its alt) on
    the Markdown object while it builds the document, so that plugins looking
    for a post's first picture (lab_social) need not parse its HTML again."""

    def extendMarkdown(self, md):
        md.registerExtension(self)
        self.md = md
        md.lab_first_image = None
        # After the inline patterns (20), which turn ![alt](src) into <img>.
        md.treeprocessors.register(_FirstImage(md), "lab_first_image", 5)

    def reset(self):
        self.md.lab_first_image = None


class LabMarkdownReader(MarkdownReader):
    """Markdown with YAML front matter, validated per content type."""

    file_extensions = ("md", "markdown")

    def __init__(self, settings):
        super().__init__(settings)
        self.lab = lab_settings(settings)
        # The front matter is YAML, read here; Markdown's own "meta" extension
        # would otherwise swallow a body that starts with "Word: text".
        self._markdown_options = dict(settings["MARKDOWN"])
        self._markdown_options["extensions"] = [
            name
            for name in settings["MARKDOWN"].get("extensions", [])
            if name != "markdown.extensions.meta"
        ]
        self._author_names = self._read_author_names()
        self._md = None
        # Set by lab_content's plugin when workers read posts ahead (prefetch.py).
        self.prefetch = None

    def _read_author_names(self) -> dict[str, str]:
        path = os.path.join(self.settings["PATH"], self.lab["LAB_AUTHORS_FILE"])
        if not os.path.exists(path):
            return {}
        # utf-8-sig: a byte-order mark reads as if absent, as in every file.
        with open(path, encoding="utf-8-sig") as handle:
            profiles, _ = parse_authors(handle.read())
        # Problems in the authors file are reported once, by the generator.
        return {key: p["name"] or key for key, p in profiles.items()}

    def read(self, source_path):
        if self.prefetch is not None:
            found = self.prefetch.take(source_path)
            if found is not None:
                return found
        self._source_path = source_path
        relative = posixize_path(os.path.relpath(source_path, self.settings["PATH"]))
        settings = {**self.lab, "PATH": self.settings["PATH"]}
        kind = content_kind(source_path, settings)
        with pelican_open(source_path) as text:
            try:
                data, body, problems = read_front_matter(text)
            except FrontMatterError as exc:
                # Nothing in it can be trusted, so nothing more is said of it:
                # no "title: is required" for a title that is there.
                data, body, problems = None, text, [("front matter", str(exc))]
        if kind is None:
            problems.append(("path", "is not in a content folder of this site"))
            kind = "page"
        fields, schema_problems = validate(kind, data) if data is not None else ({}, [])
        problems += schema_problems
        categories = self.lab["LAB_CATEGORIES"]
        if categories and fields.get("category", categories[0]) not in categories:
            problems.append(
                (
                    "category",
                    f"{fields['category']!r} is not one of: {', '.join(categories)}",
                )
            )
        if "slug" not in fields and not (data or {}).get("slug"):
            # The address comes from the file's name, never from the title.
            reason = file_name_problem(kind, relative)
            if reason:
                problems.append(("file name", reason))
            else:
                fields["slug"] = slug_from_file_name(kind, relative)

        # One Markdown object per reader, reset between documents: building it
        # (loading every extension) costs as much as converting a short post.
        self._make_markdown()
        self._md.lab_file_links = []
        content, problem = self._convert(body)
        if problem:
            problems.append(("body", problem))
        first_image = self._md.lab_first_image
        metadata = self._pelican_metadata(kind, fields, problems)
        metadata["lab_kind"] = kind
        # Checked by the generator once every file of the site is known.
        metadata["lab_file_links"] = list(self._md.lab_file_links)
        # None when the text has no image: a fact too, so nobody looks again.
        metadata["lab_first_image"] = first_image
        # Worked out here so that Pelican's content cache (and the workers that
        # read posts in parallel) keep it with the text.
        metadata["lab_reading_minutes"] = reading_minutes(plain_text(content))
        if problems:
            metadata["lab_errors"] = [
                f"{relative}: {field}: {reason}" for field, reason in problems
            ]
            # Keep the item (never published) so that the build can list it.
            metadata.setdefault("title", relative)
            metadata.setdefault("date", _PLACEHOLDER_DATE)
            metadata["status"] = "draft"
        return content, metadata

    def _convert(self, text: str) -> tuple[str, str | None]:
        """The HTML of a Markdown text, or "" and why not: Python-Markdown
        recurses once per level of nesting, and a text nested a few hundred
        levels deep would stop the build with a traceback naming no file."""
        if problem := nesting_problem(text):
            self._md.reset()
            return "", problem
        try:
            return self._md.reset().convert(text), None
        except RecursionError:
            self._md = None  # half-way through a document: made again
            self._make_markdown()
            return "", "is nested too deeply for Markdown; please simplify it"

    def _make_markdown(self) -> None:
        if self._md is None:
            self._md = Markdown(**self._markdown_options)
            FirstImageExtension().extendMarkdown(self._md)
            FileLinksExtension(self.settings["INTRASITE_LINK_REGEX"]).extendMarkdown(
                self._md
            )
            self._md.lab_file_links = []

    def _pelican_metadata(
        self, kind: str, fields: dict[str, Any], problems: list[tuple[str, str]]
    ) -> dict[str, Any]:
        settings = self.settings
        metadata: dict[str, Any] = {}
        for name, value in fields.items():
            if name in ("date", "modified"):
                value = to_datetime(value)
            elif name == "summary":
                value, problem = self._convert(value)
                if problem:
                    problems.append(("summary", problem))
            elif name == "category":
                value = Category(value, settings)
            elif name == "tags":
                value = [Tag(tag, settings) for tag in value]
            elif name == "authors":
                value = [self._author(key) for key in value]
            metadata[name] = value
        return metadata

    def _author(self, key: str) -> Author:
        # The key is the author's slug, so their page and every lookup of their
        # profile use the short key from front matter, whatever the name.
        author = Author(self._author_names.get(key, key), self.settings)
        author.slug = key
        return author
