"""Import a WordPress export (WXR 1.0, 1.1, 1.2) into this site's content.

    make import-wordpress FILE=export.xml [MAP=import-map.yaml] [UPLOADS=folder]
        [DEFAULT_CATEGORY=Name] [FORCE=1]
    python -m lab_import.wordpress export.xml [--map ...] [--uploads ...]
        [--default-category ...] [--force] [--content content] [--settings ...]

Writes, in the site's own format (README: "Moving from WordPress"):
posts into posts/YYYY-MM-DD-<slug>.md and pages into pages/<slug>.md with YAML
front matter (the WordPress guid as the post's feed `id`, old addresses in
`redirect_from`), approved comments into comments/<post>/<id>.yaml, the
authors of imported posts appended to authors.yaml, pictures from the uploads
folder into images/wordpress/. A report goes to the terminal and a file.

Safe on any file: the export is streamed twice (a survey, then the import),
with bounded memory; everything is written to a staging folder first and
moved into place only when the whole import has succeeded, so a refused file
or an unmapped category writes nothing. `.wordpress-import.yaml` in the
content folder records a hash of each file written: a second run changes
nothing, and a file edited since the import is kept unless --force.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import hashlib
import html
import os
import posixpath
import re
import shutil
import sys
import tempfile
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

import yaml
from unidecode import unidecode

from lab_comments import render as comment_render
from lab_comments import schema as comment_schema
from lab_comments.settings import DEFAULTS as COMMENT_DEFAULTS
from lab_comments.store import StoreError, dump_yaml
from lab_content.authors import parse_authors
from lab_content.frontmatter import FrontMatterError, read_front_matter
from lab_content.schema import SCHEMAS, validate

from .convert import escape_text, first_sentences, html_to_markdown, plain_text
from .wxr import Author, Channel, ExportError, Item, read_export

RECORD_FILE = ".wordpress-import.yaml"
REPORT_FILE = "wordpress-import-report.txt"
IMAGES_FOLDER = "images/wordpress"
# The site's own front-matter field for old addresses (lab_content's schema
# defines it); written only where the schema knows it.
REDIRECT_FIELD = "redirect_from"
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".avif")
# First path parts of the site's own pages: no imported page may take them.
RESERVED_PAGE_SLUGS = frozenset(
    ("updates", "authors", "search", "challenges", "get-involved", "images",
     "extra", "theme", "comments", "feeds", "static", "tag", "category")
)  # fmt: skip
_WP_ZERO_DATE = "0000-00-00 00:00:00"
_SIZE_SUFFIX_RE = re.compile(r"-\d+x\d+(?=\.[A-Za-z0-9]+$)")
_SUMMARY_WORDS = 40

# WordPress statuses: what each becomes (None: skipped, with the reason).
STATUSES: dict[str, tuple[str | None, str]] = {
    "publish": ("published", "published"),
    "future": ("published", "scheduled: published on its date"),
    "draft": ("draft", "draft"),
    "pending": ("draft", "pending review: written as a draft"),
    "private": ("draft", "private: written as a draft"),
    "trash": (None, "in the bin"),
    "auto-draft": (None, "an automatic draft"),
    "inherit": (None, "a revision"),
}
COMMENT_STATES = {"1": "approved", "0": "pending", "spam": "spam", "trash": "trash",
                  "post-trashed": "trash"}  # fmt: skip


class ImportStopped(Exception):
    """Nothing was written; each line says why."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class Options:
    export: Path
    content: Path
    map_file: Path | None = None
    uploads: Path | None = None
    default_category: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Site:
    """What the importer needs of the site's settings."""

    timezone: str = "Europe/London"
    categories: tuple[str, ...] = ()
    max_depth: int = COMMENT_DEFAULTS["LAB_COMMENTS_MAX_DEPTH"]
    article_url: str = "updates/{date:%Y}/{slug}/"
    page_url: str = "{slug}/"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Site:
        return cls(
            timezone=settings.get("TIMEZONE") or "UTC",
            categories=tuple(settings.get("LAB_CATEGORIES") or ()),
            max_depth=int(
                settings.get(
                    "LAB_COMMENTS_MAX_DEPTH", COMMENT_DEFAULTS["LAB_COMMENTS_MAX_DEPTH"]
                )
            ),
            article_url=settings.get("ARTICLE_URL", cls.article_url),
            page_url=settings.get("PAGE_URL", cls.page_url),
        )


@dataclass
class ItemReport:
    """What became of one item of the export."""

    post_id: str
    type: str
    title: str
    outcome: str  # "written" or "skipped"
    reason: str = ""
    path: str = ""
    slug: str = ""
    status: str = ""
    feed_id: str = ""
    redirects: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  # ids written
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    items: list[ItemReport] = field(default_factory=list)
    comments: Counter = field(default_factory=Counter)
    comment_problems: list[str] = field(default_factory=list)
    authors_added: list[str] = field(default_factory=list)
    authors_existing: list[str] = field(default_factory=list)
    missing_pictures: list[str] = field(default_factory=list)
    pictures_copied: int = 0
    files: Counter = field(default_factory=Counter)
    kept_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def item(self, post_id: str) -> ItemReport:
        return next(i for i in self.items if i.post_id == post_id)

    def counts(self) -> Counter:
        return Counter(
            f"{i.type} {i.outcome}" + (f" ({i.reason})" if i.reason else "")
            for i in self.items
        )

    def text(self) -> str:
        lines = ["WordPress import", ""]
        lines += [f"  {n:6d}  {what}" for what, n in sorted(self.counts().items())]
        lines += ["", "Comments:"]
        lines += [f"  {n:6d}  {what}" for what, n in sorted(self.comments.items())]
        lines += [f"  refused: {p}" for p in self.comment_problems]
        lines += ["", "Files in the content folder:"]
        lines += [f"  {n:6d}  {what}" for what, n in sorted(self.files.items())]
        lines += [f"  kept (edited since the import; --force replaces it): {p}"
                  for p in self.kept_files]  # fmt: skip
        if self.authors_added:
            lines += ["", "Authors added to authors.yaml (give each a role and a bio):"]
            lines += [f"  {key}" for key in self.authors_added]
        if self.authors_existing:
            lines += ["", "Authors already in authors.yaml (kept as they are):"]
            lines += [f"  {key}" for key in self.authors_existing]
        lines += ["", f"Pictures copied: {self.pictures_copied}"]
        if self.missing_pictures:
            lines += ["Pictures not found (linked to their old address instead):"]
            lines += [f"  {url}" for url in self.missing_pictures]
        lines += ["", "Items:"]
        for item in self.items:
            head = f"  [{item.post_id}] {item.type} {item.title!r}: {item.outcome}"
            if item.reason:
                head += f" ({item.reason})"
            lines.append(head)
            if item.path:
                lines.append(f"      file: {item.path} ({item.status})")
            if item.feed_id:
                lines.append(f"      feed id: {item.feed_id}")
            lines += [f"      old address: {r}" for r in item.redirects]
            if item.comments:
                lines.append(f"      comments: {len(item.comments)}")
            lines += [f"      note: {n}" for n in item.notes]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


# -- small pure helpers


def make_slug(text: str, limit: int = 80) -> str:
    """An ASCII slug of any text (percent-escapes decoded, accents and other
    scripts transliterated): lower-case letters, digits, single hyphens."""
    words = re.findall(r"[a-z0-9]+", unidecode(unquote(text)).lower())
    slug = "-".join(words)
    while len(slug) > limit and "-" in slug:
        slug = slug.rsplit("-", 1)[0]
    return slug[:limit].strip("-")


def wp_datetime(value: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A WordPress `YYYY-MM-DD HH:MM:SS` in `zone`; None for its zero date."""
    value = (value or "").strip()
    if not value or value == _WP_ZERO_DATE:
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        return None


def item_date(
    gmt: str, local: str, zone: dt.tzinfo, pub_date: str = ""
) -> dt.datetime | None:
    """The moment of a post (or comment), in the site's zone: the export's
    GMT date, else its local date read in the site's zone, else pubDate."""
    moment = wp_datetime(gmt, dt.UTC)
    if moment is None:
        moment = wp_datetime(local, zone)
    if moment is None and pub_date:
        try:
            moment = email.utils.parsedate_to_datetime(pub_date)
        except (TypeError, ValueError):
            moment = None
        if moment is not None and (moment.year < 1971 or moment.tzinfo is None):
            moment = None
    return moment.astimezone(zone) if moment else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_title(title: str) -> str:
    return " ".join(html.unescape(title or "").split())


def old_addresses(item: Item, kind: str) -> tuple[list[str], list[str]]:
    """The site-relative paths an item was reachable at: its permalink, the
    `?p=ID` form (and `?page_id=ID` for a page) and each old slug in the
    permalink's shape. Returns (paths, notes)."""
    notes: list[str] = []
    paths: list[str] = []
    link = urlsplit(item.link or "")
    path = link.path or "/"
    if link.query:
        path += "?" + link.query
    if item.link:
        paths.append(path)
    if item.post_id.isdigit():
        paths.append(f"/?p={item.post_id}")
        if kind == "page":
            paths.append(f"/?page_id={item.post_id}")
    old_slugs = [s for s in item.meta.get("_wp_old_slug", []) if s]
    if old_slugs:
        segments = link.path.rstrip("/").split("/")
        name = item.post_name
        if name and segments and segments[-1] in (name, quote(unquote(name))):
            for old in old_slugs:
                shaped = [*segments[:-1], quote(unquote(old), safe="%")]
                trailing = "/" if link.path.endswith("/") else ""
                paths.append("/".join(shaped) + trailing)
        else:
            notes.append(
                "old slugs " + ", ".join(old_slugs) + " have no address of their own "
                "(the permalink does not end with the slug)"
            )
    unique = list(dict.fromkeys(p for p in paths if p.startswith("/")))
    return unique, notes


# -- the mapping file


@dataclass
class ImportMap:
    # lower-cased WordPress category name or slug -> (site category, challenge)
    categories: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    authors: dict[str, str] = field(default_factory=dict)
    default_category: str | None = None

    def category(self, terms: Iterable[tuple[str, str, str]]):
        """(site category, challenge or None, unmapped WordPress names)."""
        found = None
        unmapped = []
        for domain, nicename, name in terms:
            if domain != "category":
                continue
            hit = self.categories.get(nicename.lower()) or self.categories.get(
                clean_title(name).lower()
            )
            if hit is None:
                unmapped.append(clean_title(name) or nicename)
            elif found is None or (found[1] is None and hit[1] is not None):
                found = hit if found is None else (found[0], hit[1])
        if found is None and self.default_category:
            found = (self.default_category, None)
        return found, unmapped


def _map_challenge(
    value: dict, where: str, challenges: set[str], problems: list[str]
) -> str | None:
    extra = set(value) - {"category", "challenge"}
    if extra:
        problems.append(f"{where}: unknown keys {sorted(map(str, extra))}")
    challenge = value.get("challenge")
    if challenge is not None and challenge not in challenges:
        problems.append(
            f"{where}: challenge {challenge!r} is not a challenge of this "
            f"site ({', '.join(sorted(challenges)) or 'none yet'})"
        )
        return None
    return challenge


def read_map(
    path: Path | None, default: str | None, site: Site, challenges: set[str]
) -> ImportMap:
    """The mapping file (YAML, safe_load):

    categories:
      News: Announcements            # WordPress name or slug: site category
      Peer support: {category: Research, challenge: peer-support}
    default_category: Learning       # optional, for any unmapped category
    authors:
      jbloggs: amara-okafor           # optional: login -> authors.yaml key
    """
    problems: list[str] = []
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ImportStopped([f"{path}: cannot be read: {exc}"]) from None
        if not isinstance(data, dict):
            raise ImportStopped([f"{path}: expected a mapping (categories: ...)"])
    unknown = set(data) - {"categories", "default_category", "authors"}
    problems += [f"{path}: {key}: unknown key" for key in sorted(map(str, unknown))]
    result = ImportMap()
    allowed = set(site.categories)

    def category(value: Any, where: str) -> str | None:
        if not isinstance(value, str) or (allowed and value not in allowed):
            problems.append(
                f"{where}: {value!r} is not a category of this site "
                f"({', '.join(site.categories)})"
            )
            return None
        return value

    for name, value in (data.get("categories") or {}).items():
        where = f"{path}: categories: {name}"
        challenge = None
        if isinstance(value, dict):
            challenge = _map_challenge(value, where, challenges, problems)
            value = value.get("category")
        checked = category(value, where)
        if checked:
            result.categories[str(name).lower()] = (checked, challenge)
    default = default or data.get("default_category")
    if default is not None:
        result.default_category = category(default, "default category")
    for login, key in (data.get("authors") or {}).items():
        if not isinstance(key, str) or make_slug(key) != key:
            problems.append(f"{path}: authors: {login}: {key!r} is not an author key")
        else:
            result.authors[str(login).lower()] = key
    if problems:
        raise ImportStopped(problems)
    return result


# -- what is in the content folder already


def _front_matter(path: Path) -> dict[str, Any]:
    try:
        data, _, _ = read_front_matter(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, FrontMatterError):
        return {}
    return data if isinstance(data, dict) else {}


def existing_slugs(content: Path, folder: str, ours: set[str]) -> set[str]:
    """Slugs of the files in a content folder that the import did not write."""
    slugs = set()
    for path in sorted((content / folder).rglob("*.md")):
        relative = path.relative_to(content).as_posix()
        if relative in ours:
            continue
        slug = _front_matter(path).get("slug")
        stem = path.stem
        if not isinstance(slug, str):
            slug = (
                re.sub(r"^\d{4}-\d{2}-\d{2}-", "", stem) if folder == "posts" else stem
            )
        slugs.add(slug)
    return slugs


_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def record_yaml(record: Mapping[str, str]) -> bytes:
    """The record as YAML (`files:` then `path: sha256` a line), written an
    entry at a time: one dump of tens of thousands of entries builds a node
    for each first, and would be the import's peak of memory."""
    parts = ["files:\n"]
    for path, digest in sorted(record.items()):
        entry = yaml.dump({path: digest}, Dumper=_YAML_DUMPER, allow_unicode=True,
                          default_flow_style=False, width=10_000)  # fmt: skip
        parts.append(textwrap.indent(entry, "  "))
    if len(parts) == 1:
        parts = ["files: {}\n"]
    return "".join(parts).encode("utf-8")


def read_record(content: Path) -> dict[str, str]:
    path = content / RECORD_FILE
    if not path.exists():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ImportStopped([f"{path}: cannot be read ({exc}); remove it"]) from None
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in (files or {}).items()}


# -- staging


class Stage:
    """A folder beside the content folder that receives every file first."""

    def __init__(self, content: Path):
        content.mkdir(parents=True, exist_ok=True)
        self.root = Path(
            tempfile.mkdtemp(prefix=".wordpress-import-", dir=content.parent)
        )
        self.hashes: dict[str, str] = {}
        self._folders: set[Path] = set()

    def folder(self, path: Path) -> None:
        """Make a file's folder, once (tens of thousands of files share few)."""
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        self.folder(path)
        path.write_bytes(data)
        self.hashes[relative] = sha256(data)

    def copy(self, relative: str, source: Path) -> None:
        if relative in self.hashes:
            return
        path = self.root / relative
        self.folder(path)
        shutil.copyfile(source, path)
        self.hashes[relative] = file_sha256(path)

    def move(self, files: list[str], content: Path) -> None:
        """Move staged files into the content folder. A staged folder whose
        every file moves, into a folder the content folder lacks (a new
        post's comments), moves whole: one rename instead of one a file."""
        by_folder: dict[str, list[str]] = {}
        for relative in files:
            by_folder.setdefault(posixpath.dirname(relative), []).append(relative)
        staged_count = Counter(posixpath.dirname(r) for r in self.hashes)
        # Folders with folders in them move file by file.
        parents = {
            "/".join(folder.split("/")[:depth])
            for folder in staged_count
            for depth in range(1, folder.count("/") + 1)
        }
        for folder, names in by_folder.items():
            target = content / folder
            whole = len(names) == staged_count[folder] and folder not in parents
            if folder and whole and not target.exists():
                self.folder(target / "x")
                os.replace(self.root / folder, target)
                continue
            for relative in names:
                path = content / relative
                self.folder(path)
                os.replace(self.root / relative, path)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Media:
    """Pictures found in the uploads folder, copied and relinked."""

    def __init__(self, uploads: Path | None, stage: Stage, report: Report):
        self.uploads = uploads.resolve() if uploads else None
        self.stage = stage
        self.report = report
        self._missing: set[str] = set()

    def _source(self, url: str) -> Path | None:
        if self.uploads is None:
            return None
        parts = urlsplit(url)
        path = unquote(parts.path)
        if "/wp-content/uploads/" in path:
            sub = path.split("/wp-content/uploads/", 1)[1]
        elif not parts.scheme and not parts.netloc and not path.startswith("/"):
            sub = path  # an attachment's _wp_attached_file: 2019/03/a.jpg
        else:
            return None
        for candidate in (sub, _SIZE_SUFFIX_RE.sub("", sub)):
            source = (self.uploads / candidate).resolve()
            # Never outside the uploads folder, whatever `..` the URL holds.
            if source.is_relative_to(self.uploads) and source.is_file():
                return source
        return None

    def picture(self, url: str) -> str | None:
        """The picture's path in the content folder (copied there), or None."""
        source = self._source(url)
        if source is None or source.suffix.lower() not in PICTURE_SUFFIXES:
            if url not in self._missing:
                self._missing.add(url)
                self.report.missing_pictures.append(url)
            return None
        relative = source.relative_to(self.uploads)
        folders = [make_slug(part) or "x" for part in relative.parts[:-1]]
        name = (make_slug(relative.stem) or "picture") + source.suffix.lower()
        target = "/".join([IMAGES_FOLDER, *folders, name])
        if target not in self.stage.hashes:
            self.report.pictures_copied += 1
        self.stage.copy(target, source)
        return target

    def relink(self, url: str) -> str | None:
        target = self.picture(url)
        return f"{{static}}/{target}" if target else None


# -- the import


@dataclass
class Survey:
    """What the first pass over the export learns."""

    channel: Channel = field(default_factory=Channel)
    authors: dict[str, Author] = field(default_factory=dict)
    # attachment id -> (url, alt, title)
    attachments: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    unmapped: Counter = field(default_factory=Counter)


def survey(export: Path, mapping: ImportMap) -> Survey:
    found = Survey()
    for record in read_export(export):
        if isinstance(record, Channel):
            found.channel = record
        elif isinstance(record, Author):
            found.authors[record.login.lower()] = record
        elif record.post_type == "attachment":
            url = record.attachment_url or record.first_meta("_wp_attached_file")
            found.attachments[record.post_id] = (
                url,
                " ".join(record.first_meta("_wp_attachment_image_alt").split()),
                clean_title(record.title),
            )
        elif record.post_type == "post" and STATUSES.get(record.status, (None,))[0]:
            category, unmapped = mapping.category(record.terms)
            if mapping.default_category is None:
                for name in unmapped:
                    found.unmapped[name] += 1
                if category is None and not unmapped:
                    found.unmapped["(posts with no category)"] += 1
    return found


class Importer:
    def __init__(self, options: Options, site: Site):
        self.options = options
        self.site = site
        self.zone = ZoneInfo(site.timezone)
        self.content = options.content
        self.report = Report()
        self.record = read_record(self.content)
        ours = set(self.record)
        self.slugs = {
            "post": existing_slugs(self.content, "posts", ours),
            "page": existing_slugs(self.content, "pages", ours) | RESERVED_PAGE_SLUGS,
        }
        self.challenges = {
            _front_matter(p).get("slug") or p.stem
            for p in (self.content / "challenges").glob("*.md")
        }
        self.feed_ids: set[str] = set()
        self.addresses: set[str] = set()
        authors_file = self.content / "authors.yaml"
        self.authors_text = (
            authors_file.read_text(encoding="utf-8") if authors_file.exists() else ""
        )
        profiles, _ = parse_authors(self.authors_text or "{}")
        self.existing_authors = set(profiles)
        self.new_authors: dict[str, str] = {}

    # -- people

    def author_key(self, creator: str, found: Survey, mapping: ImportMap) -> str:
        login = (creator or "").strip()
        mapped = mapping.authors.get(login.lower())
        if mapped:
            key, name = mapped, mapped
        else:
            key = make_slug(login) or "editor"
            author = found.authors.get(login.lower())
            name = (author.display_name if author else "") or login or "Editor"
        if key in self.existing_authors:
            if key not in self.report.authors_existing:
                self.report.authors_existing.append(key)
        elif key not in self.new_authors:
            self.new_authors[key] = " ".join(html.unescape(name).split())
            self.report.authors_added.append(key)
        return key

    # -- one item

    def unique_slug(self, kind: str, wanted: str, notes: list[str]) -> str:
        slug, number = wanted, 1
        while slug in self.slugs[kind]:
            number += 1
            slug = f"{wanted}-{number}"
        if slug != wanted:
            notes.append(f"slug {wanted!r} is taken: written as {slug!r}")
        self.slugs[kind].add(slug)
        return slug

    def featured(self, item: Item, found: Survey, media: Media, notes: list[str]):
        thumbnail = item.first_meta("_thumbnail_id")
        if not thumbnail:
            return None
        attachment = found.attachments.get(thumbnail)
        if attachment is None:
            notes.append(f"featured image {thumbnail} is not in the export")
            return None
        url, alt, title = attachment
        src = media.picture(url) if url else None
        if src is None:
            notes.append(f"featured image not found: {url or thumbnail}")
            return None
        if not alt:
            alt = title or clean_title(item.title) or "Picture"
            notes.append("featured image has no alt text: its title is used")
        return {"src": src, "alt": alt}

    def run_item(
        self, item: Item, found: Survey, mapping: ImportMap, media: Media, stage: Stage
    ) -> None:
        title = clean_title(item.title)
        entry = ItemReport(
            item.post_id, item.post_type or "(no type)", title, "skipped"
        )
        self.report.items.append(entry)
        kind, status, date = self._classify(item, entry)
        if kind is None:
            return
        notes = entry.notes
        if not title:
            title = f"Untitled ({item.post_type} {item.post_id})"
            notes.append("no title: named " + repr(title))
        wanted = (
            make_slug(item.post_name) or make_slug(title) or f"{kind}-{item.post_id}"
        )
        slug = self.unique_slug(kind, wanted, notes)
        missing: list[str] = []
        words: list[str] = []
        body = html_to_markdown(
            item.content,
            relink=media.relink,
            base_url=found.channel.base_site_url or found.channel.link,
            gallery=lambda i: self._gallery(i, found),
            notes=notes,
            missing=missing,
            words=words,
        )
        data: dict[str, Any] = {"title": title}
        if kind == "post":
            data["date"] = date.isoformat(timespec="seconds")
        modified = item_date(item.modified_gmt, item.modified, self.zone)
        if modified and modified > date:
            data["modified"] = modified.isoformat(timespec="seconds")
        if kind == "post":
            data.update(self._people_and_topics(item, found, mapping))
        data["summary"] = self._summary_text(item, title, words[0], notes)
        # In the order of the site's own files: challenge after summary.
        if challenge := data.pop("challenge", None):
            data["challenge"] = challenge
        if image := self.featured(item, found, media, notes):
            data["image"] = image
        data["slug"] = slug
        if status == "draft":
            data["status"] = "draft"
        if kind == "post" and item.comment_status == "closed":
            data["comments"] = "closed"
        data.update(
            self._identity(
                item, kind=kind, status=status, slug=slug, date=date, entry=entry
            )
        )
        _, problems = validate(kind, data)
        if problems:
            raise ImportStopped(
                [
                    f"item {item.post_id} (line {item.line}): {f}: {r}"
                    for f, r in problems
                ]
            )
        relative = (
            f"posts/{date:%Y-%m-%d}-{slug}.md" if kind == "post" else f"pages/{slug}.md"
        )
        front = dump_yaml(data).decode("utf-8")
        stage.write(relative, f"---\n{front}---\n\n{body}\n".encode())
        entry.outcome, entry.path, entry.slug, entry.status = (
            "written", relative, slug, status
        )  # fmt: skip
        notes += [f"picture not found, linked to its old address: {u}" for u in missing]
        if kind == "post":
            entry.comments = self.run_comments(item, slug, stage)
        elif item.comments:
            self.report.comments["not published: on a page (pages take none)"] += len(
                item.comments
            )

    def _classify(self, item: Item, entry: ItemReport):
        """(kind, status, date) of an item to import, or Nones with the
        reason it is skipped in `entry`."""
        kind = {"post": "post", "page": "page"}.get(item.post_type)
        if kind is None:
            entry.reason = {
                "attachment": "an attachment: its picture is copied where used",
                "nav_menu_item": "a menu item",
            }.get(item.post_type, f"post type {item.post_type!r} is not imported")
            return None, None, None
        status, meaning = STATUSES.get(
            item.status, (None, f"status {item.status!r} unknown")
        )
        if status is None:
            entry.reason = meaning
            return None, None, None
        date = item_date(item.post_date_gmt, item.post_date, self.zone, item.pub_date)
        if date is None:
            entry.reason = "no date"
            return None, None, None
        if meaning not in ("published", "draft"):
            entry.notes.append(meaning)
        if item.password and status == "published":
            # Its readers needed the password: never published without it.
            status = "draft"
            entry.notes.append("protected by a password: written as a draft")
        return kind, status, date

    def _people_and_topics(
        self, item: Item, found: Survey, mapping: ImportMap
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "authors": [self.author_key(item.creator, found, mapping)]
        }
        (category, challenge), _ = mapping.category(item.terms)
        data["category"] = category
        tags = [clean_title(n) for d, _, n in item.terms if d == "post_tag"]
        if tags := list(dict.fromkeys(t for t in tags if t)):
            data["tags"] = tags
        if challenge:
            data["challenge"] = challenge
        return data

    def _summary_text(self, item: Item, title: str, text: str, notes: list[str]) -> str:
        summary = escape_text(plain_text(item.excerpt))
        if summary:
            return summary
        words = first_sentences(text, _SUMMARY_WORDS)
        if words:
            notes.append("summary: no excerpt, the first sentences are used")
            return escape_text(words)
        notes.append("summary: no excerpt and no text, the title is used")
        return escape_text(title)

    def _identity(
        self,
        item: Item,
        *,
        kind: str,
        status: str,
        slug: str,
        date: dt.datetime,
        entry: ItemReport,
    ) -> dict[str, Any]:
        """The feed id (a post's WordPress guid) and the old addresses of a
        published item, as front-matter fields."""
        data: dict[str, Any] = {}
        if kind == "post" and (guid := self._feed_id(item, entry.notes)):
            data["id"] = entry.feed_id = guid
        if status == "published":
            entry.redirects = self._redirects(item, kind, slug, date, entry.notes)
            if entry.redirects and REDIRECT_FIELD in SCHEMAS[kind]:
                data[REDIRECT_FIELD] = entry.redirects
        return data

    def _feed_id(self, item: Item, notes: list[str]) -> str | None:
        guid = item.guid.strip()
        if not guid:
            return None
        if guid in self.feed_ids:
            notes.append(f"feed id {guid} is another item's too: not kept")
            return None
        self.feed_ids.add(guid)
        return guid

    def _redirects(
        self, item: Item, kind: str, slug: str, date: dt.datetime, notes: list[str]
    ) -> list[str]:
        paths, redirect_notes = old_addresses(item, kind)
        notes += redirect_notes
        new = self._new_address(kind, slug, date)
        kept = []
        for path in paths:
            if path == new:
                continue
            if path in self.addresses:
                notes.append(f"old address {path} is another item's too: not kept")
                continue
            self.addresses.add(path)
            kept.append(path)
        return kept

    def _gallery(self, attachment_id: str, found: Survey) -> list[tuple[str, str]]:
        attachment = found.attachments.get(attachment_id)
        if not attachment or not attachment[0]:
            return []
        url, alt, title = attachment
        return [(url, alt or title)]

    def _new_address(self, kind: str, slug: str, date: dt.datetime) -> str:
        pattern = self.site.article_url if kind == "post" else self.site.page_url
        try:
            return "/" + pattern.format(slug=slug, date=date)
        except (KeyError, IndexError, ValueError):
            return ""

    # -- comments

    def run_comments(self, item: Item, post: str, stage: Stage) -> list[str]:
        """Approved comments as published comment files, threaded, capped at
        the site's depth; returns the ids written."""
        ok, parents = self._publishable(item, post)
        effective = self._thread(ok, parents)
        written = []
        for comment_id, record in ok.items():
            parent = effective.get(comment_id)
            if parent is not None:
                record["reply_to"] = ok[parent]["id"]
            record = comment_schema.published_record(record)
            stage.write(f"comments/{post}/{record['id']}.yaml", dump_yaml(record))
            self.report.comments["published"] += 1
            written.append(record["id"])
        return written

    def _refused(self, comment_id: str, post: str, problem: str) -> None:
        self.report.comments["not published: refused by the comment checks"] += 1
        self.report.comment_problems.append(
            f"comment {comment_id} on {post}: {problem}"
        )

    def _publishable(self, item: Item, post: str):
        """The records of the comments to publish (by WordPress id) and the
        parent of every comment, published or not."""
        counts = self.report.comments
        ok: dict[str, dict[str, Any]] = {}
        parents: dict[str, str] = {}
        for comment in item.comments:
            parents[comment.id] = comment.parent
            kind = comment.type or "comment"
            state = COMMENT_STATES.get(comment.approved, "other")
            if kind in ("pingback", "trackback"):
                counts[f"not published: {kind} ({state})"] += 1
            elif kind != "comment":
                counts[f"not published: type {kind!r}"] += 1
            elif state != "approved":
                counts[f"not published: {state}"] += 1
            else:
                record, problem = self.comment_record(comment, post)
                if record is None:
                    self._refused(comment.id, post, problem)
                else:
                    ok[comment.id] = record
        return ok, parents

    def _thread(
        self, ok: Mapping[str, Any], parents: Mapping[str, str]
    ) -> dict[str, str | None]:
        """The comment each published comment answers: its nearest published
        ancestor, or, past the site's maximum depth, the deepest ancestor
        allowed (None: a top-level comment)."""
        nearest: dict[str, str | None] = {}
        for comment_id in ok:
            seen = {comment_id}
            parent = parents.get(comment_id, "0")
            while parent not in ("0", "") and parent not in ok and parent not in seen:
                seen.add(parent)
                parent = parents.get(parent, "0")
            found = parent in ok and parent not in seen
            nearest[comment_id] = parent if found else None
        children: dict[str | None, list[str]] = {}
        for comment_id, parent in nearest.items():
            children.setdefault(parent, []).append(comment_id)
        depth: dict[str, int] = {}
        effective: dict[str, str | None] = {}
        # From the top down; iterative, so no thread is too deep to walk.
        waiting: list[tuple[str, str | None]] = [
            (c, None) for c in children.get(None, [])
        ]
        while waiting:
            comment_id, parent = waiting.pop()
            if parent is not None and depth[parent] >= self.site.max_depth:
                parent = effective[parent]
            effective[comment_id] = parent
            depth[comment_id] = 0 if parent is None else depth[parent] + 1
            waiting.extend((c, comment_id) for c in children.get(comment_id, []))
        # Replies in a loop reach no top: shown at the top.
        return {c: effective.get(c) for c in ok}

    def comment_record(self, comment, post: str) -> tuple[dict | None, str]:
        """A published comment's record, checked as the build checks one
        (the schema, then the body's bounds), or None and why not."""
        moment = item_date(comment.date_gmt, comment.date, self.zone)
        if moment is None:
            return None, "no date"
        number = make_slug(comment.id) or "0"
        data: dict[str, Any] = {
            "id": f"{moment.astimezone(dt.UTC):%Y%m%d-%H%M%S}-wp{number}",
            "post": post,
            "name": " ".join(html.unescape(comment.author).split()) or "Anonymous",
            "date": moment,
            "body": html_to_markdown(comment.content),
        }
        if comment.url:
            try:
                data["website"] = comment_schema.website(comment.url)
            except comment_schema.Invalid:
                self.report.comments["website left out (not an http(s) address)"] += 1
        record, problems = comment_schema.validate_published(data)
        if problems:
            return None, "; ".join(f"{field}: {reason}" for field, reason in problems)
        if problem := comment_render.body_problem(record["body"]):
            return None, problem
        return record, ""

    # -- the whole run

    def run(self) -> Report:
        mapping = read_map(
            self.options.map_file,
            self.options.default_category,
            self.site,
            self.challenges,
        )
        found = survey(self.options.export, mapping)
        if found.unmapped:
            raise ImportStopped(
                [
                    "These WordPress categories have no site category: map each in "
                    "the mapping file (MAP=, categories:) or give DEFAULT_CATEGORY=. "
                    f"The site's categories: {', '.join(self.site.categories)}."
                ]
                + [
                    f"  {name} ({n} posts)"
                    for name, n in sorted(found.unmapped.items())
                ]
            )
        stage = Stage(self.content)
        try:
            media = Media(self.options.uploads, stage, self.report)
            for record in read_export(self.options.export):
                if isinstance(record, Item):
                    self.run_item(record, found, mapping, media, stage)
            self.finish(stage)
        finally:
            stage.discard()
        return self.report

    def finish(self, stage: Stage) -> None:
        """Decide, file by file, and move into place only now."""
        record = dict(self.record)
        moves: list[str] = []
        for relative, digest in sorted(stage.hashes.items()):
            target = self.content / relative
            if target.exists():
                current = file_sha256(target)
                if current == digest:
                    record[relative] = digest
                    self.report.files["unchanged"] += 1
                    continue
                if not self.options.force and self.record.get(relative) != current:
                    self.report.kept_files.append(relative)
                    self.report.files["kept (edited since the import)"] += 1
                    continue
                self.report.files["replaced"] += 1
            else:
                self.report.files["written"] += 1
            moves.append(relative)
            record[relative] = digest
        if self.new_authors:
            addition = {
                key: {
                    "name": name,
                    "role": "Writer",
                    "bio": "Wrote for the Lab's earlier website.",
                }
                for key, name in self.new_authors.items()
            }
            text = self.authors_text
            if text and not text.endswith("\n"):
                text += "\n"
            text += "\n# Imported from WordPress: give each a role and a bio.\n"
            text += dump_yaml(addition).decode("utf-8")
            stage.write("authors.yaml", text.encode("utf-8"))
            moves.append("authors.yaml")
        body = record_yaml(record)
        if record != self.record:
            stage.write(RECORD_FILE, body)
            moves.append(RECORD_FILE)
        stage.move(moves, self.content)


def import_wordpress(options: Options, site: Site) -> Report:
    """Import the export; ImportStopped (nothing written) when it cannot."""
    try:
        return Importer(options, site).run()
    except ExportError as exc:
        raise ImportStopped([f"{options.export}: {exc}"]) from None
    except StoreError as exc:
        raise ImportStopped([str(exc)]) from None


# -- the command


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", type=Path, help="the WordPress export")
    parser.add_argument("--map", type=Path, help="the category mapping file")
    parser.add_argument("--uploads", type=Path, help="a copy of wp-content/uploads")
    parser.add_argument("--default-category", help="for unmapped categories")
    parser.add_argument("--force", action="store_true", help="replace edited files")
    parser.add_argument("--content", type=Path, default=None)
    parser.add_argument("--settings", type=Path, default=Path("pelicanconf.py"))
    parser.add_argument("--report", type=Path, default=Path(REPORT_FILE))
    args = parser.parse_args(argv)
    # make import-wordpress hands its values over in the environment, never
    # through a shell command line (see the Makefile).
    export = args.export or (Path(v) if (v := _env("LAB_IMPORT_FILE")) else None)
    if export is None:
        parser.error("name the export: FILE=export.xml (or the first argument)")
    map_file = args.map or (Path(v) if (v := _env("LAB_IMPORT_MAP")) else None)
    uploads = args.uploads or (Path(v) if (v := _env("LAB_IMPORT_UPLOADS")) else None)
    default = args.default_category or _env("LAB_IMPORT_DEFAULT_CATEGORY")
    force = args.force or (_env("LAB_IMPORT_FORCE") or "") in ("1", "yes", "true")
    named = (("export", export), ("mapping file", map_file), ("uploads", uploads))
    problems = [
        f"{what} {path} does not exist"
        for what, path in named
        if path is not None and not path.exists()
    ]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    from pelican.settings import read_settings

    settings = read_settings(str(args.settings))
    content = args.content or Path(settings["PATH"])
    options = Options(export, content, map_file, uploads, default, force)
    try:
        report = import_wordpress(options, Site.from_settings(settings))
    except ImportStopped as exc:
        text = "Import stopped: nothing was written.\n" + "\n".join(exc.lines) + "\n"
        sys.stderr.write(text)
        args.report.write_text(text, encoding="utf-8")
        return 1
    text = report.text()
    sys.stdout.write(text)
    args.report.write_text(text, encoding="utf-8")
    print(f"(This report is also in {args.report}.)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
