"""The checks of the social metadata (issue 5) on a built site, as a social
network's card checker or a search engine would read it: every page's <head>
with an HTML5 parser (html5lib), JSON-LD with strict JSON, images with Pillow.

`check_site_social(site, siteurl, profiles)` returns readable problems, one per
line, each naming the page and the tag; an empty list means every page passes. Used
by tests/test_social_site.py and by the `social` gate of tests/check_site.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from conftest import html_files, parse_html, refresh_target
from PIL import Image

from lab_content.authors import parse_authors

HANDLE_RE = re.compile(r"^@[A-Za-z0-9_]{1,15}$")
FEDIVERSE_RE = re.compile(r"^@[A-Za-z0-9_.]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
LOCALE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
DESCRIPTION_LIMIT = 200
RASTER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif",
                  "WEBP": "image/webp"}  # fmt: skip
# Tags every page has exactly once.
SINGLE_TAGS = (
    "og:title", "og:type", "og:url", "og:site_name", "og:locale", "og:description",
    "og:image", "og:image:width", "og:image:height", "og:image:alt",
    "twitter:card", "twitter:site", "twitter:title", "twitter:description",
    "twitter:image", "twitter:image:alt",
)  # fmt: skip
POST_TAGS = ("article:published_time", "article:modified_time", "article:section")
# Where each kind of page is written (pelicanconf.py's URL settings).
POST_RE = re.compile(r"^updates/\d{4}/[^/]+/index\.html$")
CHALLENGE_RE = re.compile(r"^challenges/[^/]+/index\.html$")
CALL_RE = re.compile(r"^get-involved/[^/]+/index\.html$")


@dataclass
class Head:
    """What a page tells the outside world, read back from its HTML."""

    titles: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    canonicals: list[str] = field(default_factory=list)
    meta: list[tuple[str, str, str]] = field(default_factory=list)  # attr, key, value
    json_ld: list[Any] = field(default_factory=list)
    json_errors: list[str] = field(default_factory=list)
    breadcrumbs: list[tuple[str, str | None]] | None = None  # visible: text, href
    # Where a page at an old address (lab_redirects) sends readers; else None.
    refresh: str | None = None

    def values(self, key: str) -> list[str]:
        return [value for _, k, value in self.meta if k == key]

    def value(self, key: str) -> str | None:
        found = self.values(key)
        return found[0] if found else None

    def blocks(self, kind: str) -> list[dict]:
        return [
            b for b in self.json_ld if isinstance(b, dict) and b.get("@type") == kind
        ]


def text_of(node) -> str:
    return " ".join("".join(node.itertext()).split())


def strict_json(text: str) -> Any:
    """json.loads that refuses what JSON does not allow: NaN and Infinity."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def read_head(page: Path) -> Head:
    tree = parse_html(page)
    head = Head(refresh=refresh_target(tree))
    node = next(tree.iter("head"))
    for title in node.iter("title"):
        head.titles.append(text_of(title))
    for meta in node.iter("meta"):
        if meta.get("name") == "description":
            head.descriptions.append(meta.get("content") or "")
        elif meta.get("property"):
            head.meta.append(("property", meta.get("property"), meta.get("content")))
        elif meta.get("name", "").startswith(("twitter:", "fediverse:")):
            head.meta.append(("name", meta.get("name"), meta.get("content")))
    for link in node.iter("link"):
        if "canonical" in (link.get("rel") or "").split():
            head.canonicals.append(link.get("href") or "")
    for script in tree.iter("script"):
        if script.get("type") != "application/ld+json":
            continue
        try:
            head.json_ld.append(strict_json(script.text or ""))
        except ValueError as exc:
            head.json_errors.append(str(exc))
    for nav in tree.iter("nav"):
        if "lab-breadcrumbs" in (nav.get("class") or "").split():
            head.breadcrumbs = [
                (text_of(item), next((a.get("href") for a in item.iter("a")), None))
                for item in nav.iter("li")
            ]
    return head


def page_url(site: Path, page: Path, siteurl: str) -> str:
    """The public URL of a built page: `x/index.html` is served as `x/`."""
    path = page.relative_to(site).as_posix()
    if path == "index.html":
        path = ""
    elif path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return f"{siteurl.rstrip('/')}/{path}"


def local_file(site: Path, siteurl: str, url: str) -> Path | None:
    """The output file an absolute URL of the site names, or None."""
    prefix = siteurl.rstrip("/") + "/"
    if not url.startswith(prefix):
        return None
    path = unquote(urlsplit(url).path)[len(urlsplit(prefix).path) :]
    target = site / path
    if path == "" or path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target


def image_problems(
    site: Path, siteurl: str, url: str | None, width: Any, height: Any
) -> list[str]:
    """An image URL must be absolute, on this site, name a raster file that
    exists, and have exactly the width and height declared."""
    if not url:
        return ["missing"]
    if not urlsplit(url).scheme or not urlsplit(url).netloc:
        return [f"{url!r} is not absolute"]
    target = local_file(site, siteurl, url)
    if target is None:
        return [f"{url} is not on {siteurl}"]
    if not target.is_file():
        return [f"{url}: no file {target.relative_to(site)}"]
    try:
        with Image.open(target) as image:
            real, kind = image.size, image.format
    except OSError as exc:
        return [f"{url}: not an image ({exc})"]
    problems = []
    if kind not in RASTER_FORMATS:
        problems.append(f"{url}: {kind} is not shown by social networks")
    if (str(width), str(height)) != (str(real[0]), str(real[1])):
        problems.append(
            f"{url}: declared {width}x{height}, the file is {real[0]}x{real[1]}"
        )
    return problems


def iso_datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 date-time with a zone offset, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def urls_in(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [u for v in data.values() for u in urls_in(v)]
    if isinstance(data, list):
        return [u for v in data for u in urls_in(v)]
    if isinstance(data, str) and data.startswith(("http://", "https://")):
        return [data]
    return []


def image_objects(data: Any) -> list[dict]:
    if isinstance(data, dict):
        found = [data] if data.get("@type") == "ImageObject" else []
        return found + [i for v in data.values() for i in image_objects(v)]
    if isinstance(data, list):
        return [i for v in data for i in image_objects(v)]
    return []


def load_profiles(content: Path) -> dict[str, dict]:
    """The authors of the content folder the site was built from: a post's
    twitter:creator and fediverse:creator must be its authors' own handles."""
    path = content / "authors.yaml"
    if not path.is_file():
        return {}
    profiles, _ = parse_authors(path.read_text(encoding="utf-8"))
    return profiles


def check_page(
    site: Path, page: Path, siteurl: str, profiles: dict[str, dict]
) -> list[str]:
    """Every problem of one page's social metadata."""
    name = page.relative_to(site).as_posix()
    url = page_url(site, page, siteurl)
    head = read_head(page)
    problems: list[str] = []

    def problem(key: str, reason: str) -> None:
        problems.append(f"{name}: {key}: {reason}")

    if head.refresh is not None:
        # A page at an old address is not shared: its canonical link names
        # the page it sends readers to, and it describes nothing itself.
        if len(head.canonicals) != 1 or head.canonicals[0] == url:
            problem("canonical", "a page at an old address names its new address")
        if head.meta or head.json_ld:
            problem("social", "a page at an old address carries no sharing tags")
        return problems

    # -- the plain HTML head
    if len(head.titles) != 1 or not head.titles[0]:
        problem("<title>", f"expected one non-empty title, found {head.titles!r}")
    if len(head.descriptions) != 1 or not head.descriptions[0].strip():
        problem("description", f"expected one, found {len(head.descriptions)}")
    description = head.descriptions[0] if head.descriptions else ""
    if len(description) > DESCRIPTION_LIMIT:
        problem(
            "description", f"{len(description)} characters, over {DESCRIPTION_LIMIT}"
        )
    if len(head.canonicals) != 1:
        problem(
            "canonical",
            f"expected one <link rel=canonical>, found {len(head.canonicals)}",
        )
    elif head.canonicals[0] != url:
        problem("canonical", f"{head.canonicals[0]!r} is not the page's address {url}")

    # -- Open Graph and Twitter: each single tag once, and right
    counts = Counter(key for _, key, _ in head.meta)
    for key in SINGLE_TAGS:
        if counts[key] != 1:
            problem(
                key, "missing" if not counts[key] else f"appears {counts[key]} times"
            )
    for attribute, key, _ in head.meta:
        expected = "property" if key.startswith(("og:", "article:")) else "name"
        if attribute != expected:
            problem(key, f"should be in the {expected} attribute")
    for key in ("og:title", "og:site_name", "og:image:alt", "twitter:title",
                "twitter:image:alt"):  # fmt: skip
        if counts[key] and not (head.value(key) or "").strip():
            problem(key, "is empty")
    if head.value("og:url") and head.value("og:url") != url:
        problem("og:url", f"{head.value('og:url')!r} is not the page's address {url}")
    if head.value("og:locale") and not LOCALE_RE.match(head.value("og:locale")):
        problem("og:locale", f"{head.value('og:locale')!r} is not a locale like en_GB")
    for key in ("og:description", "twitter:description"):
        value = head.value(key)
        if value is not None and value != description:
            problem(key, "differs from the meta description")
    if head.value("twitter:title") != head.value("og:title"):
        problem("twitter:title", "differs from og:title")
    if counts["og:image"]:
        for reason in image_problems(
            site, siteurl, head.value("og:image"), head.value("og:image:width"),
            head.value("og:image:height"),
        ):  # fmt: skip
            problem("og:image", reason)
    if head.value("twitter:image") != head.value("og:image"):
        problem("twitter:image", "differs from og:image")
    if head.value("twitter:image:alt") != head.value("og:image:alt"):
        problem("twitter:image:alt", "differs from og:image:alt")
    card = "summary_large_image" if head.value("og:image") else "summary"
    if counts["twitter:card"] and head.value("twitter:card") != card:
        problem("twitter:card", f"{head.value('twitter:card')!r}, expected {card!r}")
    for key in ("twitter:site", "twitter:creator"):
        for value in head.values(key):
            if not HANDLE_RE.match(value or ""):
                problem(key, f"{value!r} is not a handle beginning with @")
    if counts["twitter:creator"] > 1:
        problem("twitter:creator", f"appears {counts['twitter:creator']} times")
    for value in head.values("fediverse:creator"):
        if not FEDIVERSE_RE.match(value or ""):
            problem("fediverse:creator", f"{value!r} is not a handle like @user@server")

    # -- JSON-LD
    for error in head.json_errors:
        problem("JSON-LD", f"not strict JSON: {error}")
    for block in head.json_ld:
        if not isinstance(block, dict) or block.get("@context") != "https://schema.org":
            problem("JSON-LD", "a block without @context https://schema.org")
            continue
        if not block.get("@type"):
            problem("JSON-LD", "a block without @type")
        for address in urls_in(block):
            target = local_file(site, siteurl, address)
            if target is not None and not target.is_file():
                problem("JSON-LD", f"{address}: no file {target.relative_to(site)}")
        for image in image_objects(block):
            for reason in image_problems(
                site, siteurl, image.get("url"), image.get("width"), image.get("height")
            ):
                problem(f"JSON-LD {block.get('@type')} image", reason)
    problems += [f"{name}: {p}" for p in breadcrumb_problems(head, url)]

    # -- what each kind of page must say
    if name == "index.html":
        problems += [f"{name}: {p}" for p in home_problems(head, url)]
    elif POST_RE.match(name):
        problems += [f"{name}: {p}" for p in post_problems(head, url, profiles)]
    elif CHALLENGE_RE.match(name):
        problems += [f"{name}: {p}" for p in challenge_problems(head, url)]
    elif CALL_RE.match(name):
        problems += [f"{name}: {p}" for p in call_problems(head, url)]
    else:
        for key in (*POST_TAGS, "twitter:creator", "fediverse:creator"):
            if counts[key]:
                problem(key, "only posts have authors and publication times")
    return problems


def required(block: dict, kind: str, keys: tuple[str, ...]) -> list[str]:
    return [f"JSON-LD {kind}: no {key}" for key in keys if not block.get(key)]


def one_block(head: Head, kind: str) -> tuple[dict | None, list[str]]:
    found = head.blocks(kind)
    if len(found) != 1:
        return None, [f"JSON-LD: expected one {kind}, found {len(found)}"]
    return found[0], []


def home_problems(head: Head, url: str) -> list[str]:
    problems = []
    organization, missing = one_block(head, "Organization")
    problems += missing
    if organization:
        problems += required(organization, "Organization", ("name", "url", "logo"))
    website, missing = one_block(head, "WebSite")
    problems += missing
    if website:
        problems += required(website, "WebSite", ("name", "url"))
        if website.get("url") != url:
            problems.append("JSON-LD WebSite: url is not the home page")
    return problems


def publisher_problems(block: dict, kind: str) -> list[str]:
    publisher = block.get("publisher") or {}
    problems = []
    if publisher.get("@type") != "Organization" or not publisher.get("name"):
        problems.append(f"JSON-LD {kind}: publisher is not a named Organization")
    logo = publisher.get("logo") or {}
    if not (logo.get("url") and logo.get("width") and logo.get("height")):
        problems.append(f"JSON-LD {kind}: publisher has no logo with its size")
    return problems


def main_entity_problems(block: dict, kind: str, url: str) -> list[str]:
    entity = block.get("mainEntityOfPage") or {}
    if entity.get("@id") != url:
        return [f"JSON-LD {kind}: mainEntityOfPage is not {url}"]
    return []


def post_problems(head: Head, url: str, profiles: dict[str, dict]) -> list[str]:
    problems = []
    if head.value("og:type") != "article":
        problems.append(f"og:type: {head.value('og:type')!r}, expected 'article'")
    for key in POST_TAGS:
        if len(head.values(key)) != 1:
            problems.append(f"{key}: expected once, found {len(head.values(key))}")
    published = iso_datetime(head.value("article:published_time"))
    modified = iso_datetime(head.value("article:modified_time"))
    if published is None or modified is None:
        problems.append(
            "article:published_time/modified_time: not ISO 8601 with a zone"
        )
    elif modified < published:
        problems.append("article:modified_time: before article:published_time")
    posting, missing = one_block(head, "BlogPosting")
    problems += missing
    if posting is None:
        return problems
    problems += required(
        posting, "BlogPosting",
        ("headline", "datePublished", "dateModified", "author", "publisher", "image",
         "mainEntityOfPage", "description"),
    )  # fmt: skip
    problems += publisher_problems(posting, "BlogPosting")
    problems += main_entity_problems(posting, "BlogPosting", url)
    if iso_datetime(posting.get("datePublished")) != published:
        problems.append("JSON-LD BlogPosting: datePublished differs from the meta tag")
    authors = posting.get("author") or []
    if not isinstance(authors, list) or not all(
        a.get("@type") == "Person" and a.get("name") and a.get("url") for a in authors
    ):
        problems.append("JSON-LD BlogPosting: every author must be a Person with url")
        return problems
    # The handles must be the authors' own, from authors.yaml: never a name.
    keys = [a["url"].rstrip("/").rsplit("/", 1)[-1] for a in authors]
    if profiles:
        unknown = [k for k in keys if k not in profiles]
        if unknown:
            problems.append(
                f"JSON-LD BlogPosting: authors not in authors.yaml: {unknown}"
            )
        handles = [
            profiles[k]["twitter"] for k in keys if profiles.get(k, {}).get("twitter")
        ]
        creator = head.value("twitter:creator")
        if (creator or None) != (handles[0] if handles else None):
            problems.append(
                f"twitter:creator: {creator!r}, expected the first author's handle "
                f"{handles[0] if handles else None!r}"
            )
        mastodon = [
            profiles[k]["mastodon"] for k in keys if profiles.get(k, {}).get("mastodon")
        ]
        if head.values("fediverse:creator") != mastodon:
            problems.append(
                f"fediverse:creator: {head.values('fediverse:creator')!r}, "
                f"expected {mastodon!r}"
            )
    return problems


def challenge_problems(head: Head, url: str) -> list[str]:
    project, missing = one_block(head, "Project")
    if project is None:
        return missing
    return required(
        project, "Project", ("name", "url", "description", "image")
    ) + main_entity_problems(project, "Project", url)


def call_problems(head: Head, url: str) -> list[str]:
    work, missing = one_block(head, "CreativeWork")
    if work is None:
        return missing
    problems = required(work, "CreativeWork", ("name", "url", "description", "image",
                                               "expires", "publisher"))  # fmt: skip
    if work.get("expires") and iso_datetime(work["expires"]) is None:
        problems.append("JSON-LD CreativeWork: expires is not ISO 8601 with a zone")
    for happening in head.blocks("Event"):
        problems += required(happening, "Event", ("name", "startDate", "location"))
    return problems + main_entity_problems(work, "CreativeWork", url)


def breadcrumb_problems(head: Head, url: str) -> list[str]:
    """The BreadcrumbList must say what the visible breadcrumbs say: the same
    names, in order, leading to the same addresses."""
    lists = head.blocks("BreadcrumbList")
    if head.breadcrumbs is None:
        return (
            ["JSON-LD: a BreadcrumbList without visible breadcrumbs"] if lists else []
        )
    if len(lists) != 1:
        return [f"JSON-LD: expected one BreadcrumbList, found {len(lists)}"]
    items = lists[0].get("itemListElement") or []
    seen = [
        (item.get("position"), item.get("name"), item.get("item")) for item in items
    ]
    shown = [
        (index, text, urljoin(url, href) if href else url)
        for index, (text, href) in enumerate(head.breadcrumbs, start=1)
    ]
    if seen != shown:
        return [f"JSON-LD BreadcrumbList: {seen!r} differs from the visible {shown!r}"]
    return []


def check_site_social(site: Path, siteurl: str, profiles: dict[str, dict]) -> list[str]:
    """Every problem of every page's social metadata, one line each.
    `profiles` are the authors of the content the site was built from
    (load_profiles)."""
    return [
        problem
        for page in html_files(site)
        for problem in check_page(site, page, siteurl, profiles)
    ]
