"""Plain text from HTML, for descriptions and summaries outside the page."""

from __future__ import annotations

import html as html_module

import lxml.html


def plain_text(fragment: str) -> str:
    """The text of an HTML fragment, entities decoded, white space collapsed."""
    if not fragment:
        return ""
    if "<" not in fragment:
        text = html_module.unescape(fragment)
    else:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
        for node in root.iter("script", "style"):
            node.drop_tree()
        text = root.text_content()
    return " ".join(text.split())


def truncate_words(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` cut at a word boundary so that it is at most `limit` characters,
    ellipsis included; text that fits is returned as it is."""
    if len(text) <= limit:
        return text
    room = limit - len(ellipsis)
    cut = text[: room + 1]
    cut = cut[: cut.rindex(" ")] if " " in cut else cut[:room]
    # Trailing punctuation before an ellipsis reads badly: hyphens and dashes too.
    return cut.rstrip(" ,;:.-\u2013\u2014") + ellipsis
