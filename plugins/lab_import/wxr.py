"""Read a WordPress export (WXR 1.0, 1.1 and 1.2) as a stream of plain records.

The file is parsed by lxml's iterparse with every network, DTD and entity
feature off, and each item is cleared once read, so memory stays bounded
whatever the file's size. A file that declares a DTD is refused before any
item is read: WordPress never writes one, and its entities are how a
"billion laughs" file grows to gigabytes. Only the fields the importer uses
are read: e-mail addresses, IP addresses, user agents and comment meta never
leave the parser.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

# The wp: and excerpt: namespaces name the WXR version, over http or https.
WP_NS_RE = re.compile(r"^https?://wordpress\.org/export/(1\.[0-2])/(excerpt/)?$")
OTHER_NS = {
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
}
# Post meta the importer reads; every other key is dropped unread.
KEPT_META = ("_thumbnail_id", "_wp_old_slug", "_wp_attachment_image_alt",
             "_wp_attached_file")  # fmt: skip


class ExportError(ValueError):
    """The file cannot be imported; the message says why (and where)."""


@dataclass
class Author:
    login: str
    display_name: str


@dataclass
class Comment:
    id: str
    author: str
    url: str
    date: str
    date_gmt: str
    content: str
    approved: str
    type: str
    parent: str


@dataclass
class Item:
    line: int
    title: str = ""
    link: str = ""
    guid: str = ""
    creator: str = ""
    content: str = ""
    excerpt: str = ""
    post_id: str = ""
    post_date: str = ""
    post_date_gmt: str = ""
    modified: str = ""
    modified_gmt: str = ""
    post_name: str = ""
    status: str = ""
    post_type: str = ""
    pub_date: str = ""
    attachment_url: str = ""
    comment_status: str = ""
    password: str = ""
    # (domain, nicename, name) of each <category>, in the export's order.
    terms: list[tuple[str, str, str]] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)

    def first_meta(self, key: str) -> str:
        values = self.meta.get(key) or [""]
        return values[0]


@dataclass
class Channel:
    """What the channel says of the old site (read before its items)."""

    title: str = ""
    link: str = ""
    base_site_url: str = ""
    wxr_version: str = ""


@functools.lru_cache(maxsize=256)
def name_of(tag: object) -> str:
    """`wp:post_id` for `{http://wordpress.org/export/1.2/}post_id`: the
    version and scheme of the namespace make no difference to the importer."""
    if not isinstance(tag, str):
        return ""  # a comment or processing instruction
    if not tag.startswith("{"):
        return tag
    uri, _, local = tag[1:].partition("}")
    match = WP_NS_RE.match(uri)
    if match:
        return f"{'excerpt' if match[2] else 'wp'}:{local}"
    return f"{OTHER_NS.get(uri, '?')}:{local}"


def _leaf_text(element) -> str:
    # An unresolved entity reference (resolve_entities=False) is a child
    # node, not text: it is dropped, never expanded.
    return element.text or ""


def _comment(element) -> Comment:
    values: dict[str, str] = {}
    for child in element:
        name = name_of(child.tag)
        # Only these: never the e-mail, IP address, user agent or meta.
        if name in ("wp:comment_id", "wp:comment_author", "wp:comment_author_url",
                    "wp:comment_date", "wp:comment_date_gmt", "wp:comment_content",
                    "wp:comment_approved", "wp:comment_type",
                    "wp:comment_parent"):  # fmt: skip
            values[name[len("wp:comment_") :]] = _leaf_text(child)
    return Comment(
        id=values.get("id", "").strip(),
        author=values.get("author", ""),
        url=values.get("author_url", "").strip(),
        date=values.get("date", "").strip(),
        date_gmt=values.get("date_gmt", "").strip(),
        content=values.get("content", ""),
        approved=values.get("approved", "").strip(),
        type=values.get("type", "").strip(),
        parent=values.get("parent", "").strip() or "0",
    )


_ITEM_FIELDS = {
    "title": "title",
    "link": "link",
    "guid": "guid",
    "dc:creator": "creator",
    "content:encoded": "content",
    "excerpt:encoded": "excerpt",
    "pubDate": "pub_date",
    "wp:post_id": "post_id",
    "wp:post_date": "post_date",
    "wp:post_date_gmt": "post_date_gmt",
    "wp:post_modified": "modified",
    "wp:post_modified_gmt": "modified_gmt",
    "wp:post_name": "post_name",
    "wp:status": "status",
    "wp:post_type": "post_type",
    "wp:attachment_url": "attachment_url",
    "wp:comment_status": "comment_status",
    "wp:post_password": "password",
}


def _item(element) -> Item:
    item = Item(line=element.sourceline or 0)
    for child in element:
        name = name_of(child.tag)
        if name in _ITEM_FIELDS:
            value = _leaf_text(child)
            if name not in ("content:encoded", "excerpt:encoded", "title"):
                value = value.strip()
            setattr(item, _ITEM_FIELDS[name], value)
        elif name == "category":
            item.terms.append(
                (child.get("domain", ""), child.get("nicename", ""), _leaf_text(child))
            )
        elif name == "wp:postmeta":
            key = value = ""
            for part in child:
                if name_of(part.tag) == "wp:meta_key":
                    key = _leaf_text(part).strip()
                elif name_of(part.tag) == "wp:meta_value":
                    value = _leaf_text(part)
            if key in KEPT_META:
                item.meta.setdefault(key, []).append(value.strip())
        elif name == "wp:comment":
            item.comments.append(_comment(child))
    return item


def _author(element) -> Author:
    values = {name_of(child.tag): _leaf_text(child).strip() for child in element}
    login = values.get("wp:author_login", "")
    return Author(login=login, display_name=values.get("wp:author_display_name", ""))


_CHANNEL_FIELDS = {
    "title": "title",
    "link": "link",
    "wp:base_site_url": "base_site_url",
    "wp:wxr_version": "wxr_version",
}


def _check_root(element) -> None:
    if element.getroottree().docinfo.internalDTD is not None:
        raise ExportError(
            "the file declares a DTD (<!DOCTYPE ... [ ]>), which a WordPress "
            "export never does; refused unread, since its entities could make "
            "it expand without limit"
        )
    if name_of(element.tag) != "rss":
        raise ExportError(
            f"line {element.sourceline}: this is not a WordPress export (its root "
            f"element is <{etree.QName(element).localname}>, not <rss>)"
        )


def read_export(path: Path | str) -> Iterator[Channel | Author | Item]:
    """The channel (once, before its first author or item), then each author
    and item in the file's order. Raises ExportError for a file that is not
    well-formed XML (with its line), declares a DTD, or is no WordPress
    export."""
    channel = Channel()
    channel_sent = False
    seen_wp = False
    context = etree.iterparse(
        str(path),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    first = True
    try:
        for event, element in context:
            if first:
                first = False
                _check_root(element)
            if event == "start":
                continue
            parent = element.getparent()
            if parent is None or name_of(parent.tag) != "channel":
                continue
            name = name_of(element.tag)
            seen_wp = seen_wp or name.startswith("wp:")
            if name == "item":
                if not channel_sent:
                    channel_sent = True
                    yield channel
                yield _item(element)
            elif name == "wp:author":
                yield _author(element)
            elif name in _CHANNEL_FIELDS:
                setattr(channel, _CHANNEL_FIELDS[name], _leaf_text(element).strip())
            # Bounded memory: what has been read goes, with the siblings before it.
            element.clear()
            while element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if exc.position else "?")
        raise ExportError(
            f"line {line}: the file is not well-formed XML: {exc.msg}"
        ) from None
    if not seen_wp:
        raise ExportError(
            "no wp: elements (http(s)://wordpress.org/export/1.x/): this is not a "
            "WordPress export (WXR 1.0, 1.1 or 1.2)"
        )
    if not channel_sent:
        yield channel
