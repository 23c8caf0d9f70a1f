"""WordPress exports written for the tests (WXR), made with lxml from plain
values, in any WXR version and over http or https."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lxml import etree

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
BASE = "https://old.example.org"
ITEM_FIELDS = ("post_id", "post_date", "post_date_gmt", "post_modified",
               "post_modified_gmt", "post_name", "status", "post_type")  # fmt: skip


def namespaces(version: str = "1.2", scheme: str = "http") -> dict[str, str]:
    return {
        "excerpt": f"{scheme}://wordpress.org/export/{version}/excerpt/",
        "content": CONTENT_NS,
        "wfw": "http://wellformedweb.org/CommentAPI/",
        "dc": DC_NS,
        "wp": f"{scheme}://wordpress.org/export/{version}/",
    }


def post(post_id: int, **fields: Any) -> dict[str, Any]:
    """A published post with every field an export has; `fields` override."""
    slug = fields.pop("post_name", f"post-{post_id}")
    values: dict[str, Any] = {
        "title": f"Post {post_id}",
        "link": f"{BASE}/2019/03/{slug}/",
        "guid": f"{BASE}/?p={post_id}",
        "creator": "jbloggs",
        "content": f"<p>The text of post {post_id}. It has two sentences.</p>",
        "excerpt": "",
        "post_id": str(post_id),
        "post_date": "2019-03-04 10:00:00",
        "post_date_gmt": "2019-03-04 10:00:00",
        "post_modified": "2019-03-05 11:00:00",
        "post_modified_gmt": "2019-03-05 11:00:00",
        "post_name": slug,
        "status": "publish",
        "post_type": "post",
        "terms": [("category", "news", "News")],
        "meta": {},
        "comments": [],
    }
    values.update(fields)
    return values


def comment(comment_id: int, **fields: Any) -> dict[str, Any]:
    values = {
        "comment_id": str(comment_id),
        "comment_author": f"Reader {comment_id}",
        "comment_author_email": f"reader{comment_id}@mail.example",
        "comment_author_url": "",
        "comment_author_IP": "203.0.113.9",
        "comment_agent": "Mozilla/5.0 (Secret Agent)",
        "comment_date": f"2019-03-06 12:{comment_id % 60:02d}:00",
        "comment_date_gmt": f"2019-03-06 12:{comment_id % 60:02d}:00",
        "comment_content": f"Comment number {comment_id}.",
        "comment_approved": "1",
        "comment_type": "comment",
        "comment_parent": "0",
        "comment_user_id": "0",
    }
    values.update(fields)
    return values


def _add(parent, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = (
            etree.CDATA(text) if text and ("<" in text or "&" in text) else text
        )
    return element


def export(
    items: Iterable[Mapping[str, Any]],
    *,
    authors: Iterable[tuple[str, str]] = (("jbloggs", "Jo Bloggs"),),
    version: str = "1.2",
    scheme: str = "http",
    title: str = "The Old Lab",
) -> bytes:
    ns = namespaces(version, scheme)
    wp = f"{{{ns['wp']}}}"
    rss = etree.Element("rss", nsmap=ns, version="2.0")
    channel = etree.SubElement(rss, "channel")
    _add(channel, "title", title)
    _add(channel, "link", BASE)
    _add(channel, wp + "wxr_version", version)
    _add(channel, wp + "base_site_url", BASE)
    for login, name in authors:
        author = _add(channel, wp + "author")
        _add(author, wp + "author_login", login)
        _add(author, wp + "author_email", f"{login}@staff.example")
        _add(author, wp + "author_display_name", name)
    for item in items:
        element = _add(channel, "item")
        _add(element, "title", item["title"])
        _add(element, "link", item["link"])
        _add(element, "guid", item["guid"], isPermaLink="false")
        _add(element, f"{{{DC_NS}}}creator", item["creator"])
        _add(element, f"{{{CONTENT_NS}}}encoded", item["content"])
        _add(element, f"{{{ns['excerpt']}}}encoded", item["excerpt"])
        for key in ITEM_FIELDS:
            _add(element, wp + key, item[key])
        for key in ("comment_status", "post_password"):
            if key in item:
                _add(element, wp + key, item[key])
        if item.get("attachment_url"):
            _add(element, wp + "attachment_url", item["attachment_url"])
        for domain, nicename, name in item["terms"]:
            _add(element, "category", name, domain=domain, nicename=nicename)
        for key, values in item["meta"].items():
            for value in values if isinstance(values, list) else [values]:
                meta = _add(element, wp + "postmeta")
                _add(meta, wp + "meta_key", key)
                _add(meta, wp + "meta_value", value)
        for values in item["comments"]:
            element_c = _add(element, wp + "comment")
            for key, value in values.items():
                _add(element_c, wp + key, value)
            meta = _add(element_c, wp + "commentmeta")
            _add(meta, wp + "meta_key", "akismet_history")
            _add(meta, wp + "meta_value", "secret-meta-value")
    return etree.tostring(
        rss, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


def write(path: Path, items: Iterable[Mapping[str, Any]], **options: Any) -> Path:
    path.write_bytes(export(items, **options))
    return path


def attachment(post_id: int, file: str, alt: str = "", **fields: Any) -> dict:
    meta = {"_wp_attached_file": file}
    if alt:
        meta["_wp_attachment_image_alt"] = alt
    return post(
        post_id,
        post_type="attachment",
        status="inherit",
        attachment_url=f"{BASE}/wp-content/uploads/{file}",
        meta=meta,
        terms=[],
        **fields,
    )
