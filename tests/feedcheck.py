"""Structural checks of RSS 2.0, Atom (RFC 4287) and JSON Feed 1.1 files.

No offline feed validator exists, so these are the rules that matter to feed
readers, checked on the raw XML (lxml) and on the HTML inside items (html5lib).
Each function returns a list of readable problems; empty means the feed passes.
"""

from __future__ import annotations

import email.utils
import json
from pathlib import Path
from urllib.parse import urlsplit

import html5lib
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
URL_ATTRIBUTES = ("href", "src", "srcset", "poster", "cite", "action")


def relative_urls(html: str) -> list[str]:
    """Every URL in an HTML fragment that a feed reader could not resolve."""
    tree = html5lib.parse(html or "", treebuilder="etree", namespaceHTMLElements=False)
    found = []
    for node in tree.iter():
        for attribute in URL_ATTRIBUTES:
            value = node.get(attribute)
            if value is None:
                continue
            urls = (
                [part.strip().split()[0] for part in value.split(",") if part.strip()]
                if attribute == "srcset"
                else [value.strip()]
            )
            for url in urls:
                parts = urlsplit(url)
                if not parts.scheme and not url.startswith("#"):
                    found.append(url)
    return found


def _parse(path: Path):
    """(root element, []) or (None, [why it is not well-formed XML])."""
    try:
        return etree.parse(str(path)).getroot(), []
    except etree.XMLSyntaxError as exc:
        return None, [f"{path.name}: not well-formed XML: {exc}"]


def check_rss(path: Path) -> list[str]:
    root, problems = _parse(path)
    if root is None:
        return problems
    channel = root.find("channel")
    if root.tag != "rss" or root.get("version") != "2.0" or channel is None:
        return [f"{path.name}: not an RSS 2.0 document"]
    for field in ("title", "link", "description"):
        if not (channel.findtext(field) or "").strip():
            problems.append(f"{path.name}: channel <{field}> is missing or empty")
    guids = []
    for index, item in enumerate(channel.findall("item")):
        where = f"{path.name}: item {index + 1}"
        for field in ("title", "link", "guid", "pubDate", "description"):
            if not (item.findtext(field) or "").strip():
                problems.append(f"{where}: <{field}> is missing or empty")
        link = item.findtext("link") or ""
        if link and not urlsplit(link).scheme:
            problems.append(f"{where}: <link> {link!r} is not absolute")
        guid = item.find("guid")
        if guid is not None:
            guids.append(guid.text)
            permalink = guid.get("isPermaLink", "true")
            looks_like_url = urlsplit(guid.text or "").scheme in ("http", "https")
            # A permalink must be an address, and the item's own address is
            # a permalink. Another address may be a guid that is not one
            # (RSS 2.0 allows it): a WordPress post keeps its guid
            # `https://old.example/?p=12` as its feed id when it moves here.
            is_link = (guid.text or "") == link
            if (permalink == "true" and not looks_like_url) or (
                permalink != "true" and is_link
            ):
                problems.append(
                    f"{where}: guid {guid.text!r} has isPermaLink={permalink!r}"
                )
        date = item.findtext("pubDate")
        if date:
            try:
                parsed = email.utils.parsedate_to_datetime(date)
            except (TypeError, ValueError):
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                problems.append(f"{where}: pubDate {date!r} has no time zone")
        for field in ("description", CONTENT):
            for url in relative_urls(item.findtext(field) or ""):
                problems.append(f"{where}: relative URL {url!r} in {field}")
    problems += _duplicates(path, guids)
    return problems


def check_atom(path: Path) -> list[str]:
    root, problems = _parse(path)
    if root is None:
        return problems
    if root.tag != f"{ATOM}feed":
        return [f"{path.name}: not an Atom feed"]
    for field in ("id", "title", "updated"):
        if not (root.findtext(f"{ATOM}{field}") or "").strip():
            problems.append(f"{path.name}: feed <{field}> is missing or empty")
    feed_has_author = root.find(f"{ATOM}author/{ATOM}name") is not None
    ids = []
    for index, entry in enumerate(root.findall(f"{ATOM}entry")):
        where = f"{path.name}: entry {index + 1}"
        for field in ("id", "title", "updated"):
            if not (entry.findtext(f"{ATOM}{field}") or "").strip():
                problems.append(f"{where}: <{field}> is missing or empty")
        ids.append(entry.findtext(f"{ATOM}id"))
        if entry.find(f"{ATOM}author/{ATOM}name") is None and not feed_has_author:
            problems.append(f"{where}: no author")
        links = [
            link.get("href")
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        if not links:
            problems.append(f"{where}: no alternate link")
        problems += [
            f"{where}: link {href!r} is not absolute"
            for href in links
            if not urlsplit(href or "").scheme
        ]
        for field in ("summary", "content"):
            node = entry.find(f"{ATOM}{field}")
            if node is None:
                continue
            if node.get("type") not in ("html", "text", None):
                problems.append(f"{where}: <{field}> type {node.get('type')!r}")
            for url in relative_urls(node.text or ""):
                problems.append(f"{where}: relative URL {url!r} in <{field}>")
    problems += _duplicates(path, ids)
    return problems


def check_json_feed(path: Path) -> list[str]:
    try:
        feed = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"{path.name}: not JSON: {exc}"]
    problems = []
    if feed.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append(f"{path.name}: version is not JSON Feed 1.1")
    if not feed.get("title"):
        problems.append(f"{path.name}: no title")
    ids = []
    for index, item in enumerate(feed.get("items", [])):
        where = f"{path.name}: item {index + 1}"
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"{where}: no id")
        ids.append(item.get("id"))
        if not (item.get("content_html") or item.get("content_text")):
            problems.append(f"{where}: no content")
        for field in ("content_html", "summary"):
            for url in relative_urls(item.get(field) or ""):
                problems.append(f"{where}: relative URL {url!r} in {field}")
    problems += _duplicates(path, ids)
    return problems


def check_feed(path: Path) -> list[str]:
    if path.name.endswith(".rss.xml"):
        return check_rss(path)
    if path.name.endswith(".atom.xml"):
        return check_atom(path)
    if path.suffix == ".json":
        return check_json_feed(path)
    return []


def feed_files(output: Path) -> list[Path]:
    """Every feed of a built site: those under feeds/ (RSS, Atom, JSON Feed)
    and the comment feeds beside their posts."""
    folder = output / "feeds"
    feeds = {
        p
        for p in folder.rglob("*")
        if p.name.endswith((".rss.xml", ".atom.xml")) or p.suffix == ".json"
    }
    feeds |= set(output.rglob("*.atom.xml")) | set(output.rglob("*.rss.xml"))
    return sorted(feeds)


def _duplicates(path: Path, ids: list) -> list[str]:
    seen, problems = set(), []
    for value in ids:
        if value in seen:
            problems.append(f"{path.name}: id {value!r} appears twice")
        seen.add(value)
    return problems
