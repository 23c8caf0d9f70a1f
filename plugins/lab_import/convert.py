"""WordPress HTML to this site's Markdown.

WordPress stores a post's body as HTML with blank lines for paragraphs (its
`wpautop` adds the <p> tags when it shows the post), block-editor comments
(`<!-- wp:paragraph -->`) and shortcodes (`[caption]`, `[gallery]`...). Here
the shortcodes become plain HTML first (they are text, not HTML, so they are
found in the text), then the HTML is parsed (BeautifulSoup), the comments
dropped, the paragraphs made, and markdownify writes Markdown: no raw HTML
reaches the output, and text that looks like markup is escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Comment, NavigableString, Tag
from markdownify import MarkdownConverter

# Shortcodes turned into HTML; any other one is listed in the report.
KNOWN_SHORTCODES = ("caption", "wp_caption", "gallery", "embed", "audio", "video")
# Every opening and closing tag of a known shortcode, found in one pass.
_SHORTCODE_RE = re.compile(
    r"\[(/?)(caption|wp_caption|embed|audio|video|gallery)\b([^\[\]]{0,2000})\]",
    re.I,
)
# [name attr=...] or [name]...[/name]: what an unknown shortcode looks like
# (a bare "[1]" or "[sic]" in prose is not one).
_OPENING_RE = re.compile(r"\[([A-Za-z][\w-]*)(\s[^\[\]]{0,2000})?\]")
_CLOSING_RE = re.compile(r"\[/([A-Za-z][\w-]*)\]")
_ATTR_RE = re.compile(r"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s'"\]]+))""")
_MEDIA_ATTRS = ("src", "mp3", "m4a", "ogg", "wav", "wma", "mp4", "m4v", "webm",
                "ogv", "wmv", "flv")  # fmt: skip
BLOCK_TAGS = frozenset(
    ("address", "article", "aside", "blockquote", "dd", "details", "div", "dl",
     "dt", "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
     "h6", "header", "hr", "iframe", "li", "main", "nav", "ol", "p", "pre",
     "section", "table", "ul", "video", "audio")
)  # fmt: skip
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")

# relink(url) -> the new link of a picture, or None when it cannot be moved.
Relink = Callable[[str], "str | None"]


HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


def shortcode_attributes(text: str) -> dict[str, str]:
    return {
        m[1].lower(): html.unescape(m[2] if m[2] is not None else m[3] or m[4] or "")
        for m in _ATTR_RE.finditer(text)
    }


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


def _figure(inner: str, caption: str) -> str:
    """A [caption]'s picture (or linked picture) and its caption, which is
    the attribute or else the text after the picture."""
    soup = BeautifulSoup(inner, "html.parser")
    image = soup.find("img")
    if image is None:
        return f"<p>{inner}</p>"
    link = image.find_parent("a")
    picture = (link or image).extract()
    if link is not None:
        # The caption text WordPress puts inside an unclosed link is its own.
        for node in list(picture.contents):
            if node is not image:
                soup.append(node.extract())
    caption = caption or soup.decode()
    return f"<figure>{picture.decode()}<figcaption>{caption}</figcaption></figure>"


def expand_shortcodes(
    text: str, gallery: Callable[[str], list[tuple[str, str]]], notes: list[str]
) -> str:
    """Known shortcodes as HTML; `gallery(id)` gives (url, alt) of a picture
    by its attachment id (or [] when unknown). Notes what it did or could not."""

    def replace(name: str, attrs: dict[str, str], inner: str) -> str:
        if name in ("caption", "wp_caption"):
            notes.append("shortcode [caption]: a picture with its caption")
            return _figure(inner, attrs.get("caption", ""))
        if name == "gallery":
            ids = [i.strip() for i in attrs.get("ids", "").split(",") if i.strip()]
            pictures = [p for i in ids for p in gallery(i)]
            if not ids or len(pictures) < len(ids):
                notes.append(
                    f"shortcode [gallery]: {len(ids) - len(pictures)} of {len(ids)} "
                    "pictures not in the export (a gallery without ids lists "
                    "nothing): left out"
                )
            else:
                notes.append(f"shortcode [gallery]: {len(ids)} pictures")
            return "".join(
                f'<p><img src="{_esc(url)}" alt="{_esc(alt)}"></p>'
                for url, alt in pictures
            )
        keys = ("src",) if name == "embed" else _MEDIA_ATTRS
        url = next((attrs[k] for k in keys if attrs.get(k)), "")
        url = url or html.unescape(inner).strip()
        if not url:
            notes.append(f"shortcode [{name}] without an address: left out")
            return ""
        label = {"embed": url, "audio": "Listen", "video": "Watch"}[name]
        notes.append(f"shortcode [{name}]: a link to {url}")
        return f'<p><a href="{_esc(url)}">{_esc(label)}</a></p>'

    # Linear: an opening tag encloses what lies up to the next tag when that
    # is its own closing tag (WordPress never nests a shortcode in itself).
    tags = list(_SHORTCODE_RE.finditer(text))
    out: list[str] = []
    done = 0
    index = 0
    while index < len(tags):
        tag = tags[index]
        index += 1
        if tag[1]:  # a closing tag with no opening one: left as it is
            continue
        name = tag[2].lower()
        end, inner = tag.end(), ""
        following = tags[index] if index < len(tags) else None
        if following is not None and following[1] and following[2].lower() == name:
            inner, end = text[tag.end() : following.start()], following.end()
            index += 1
        out += [
            text[done : tag.start()],
            replace(name, shortcode_attributes(tag[3]), inner),
        ]
        done = end
    out.append(text[done:])
    text = "".join(out)
    closed = set(_CLOSING_RE.findall(text))
    unknown = {
        match[1]
        for match in _OPENING_RE.finditer(text)
        if match[1] in closed or "=" in (match[2] or "")
    }
    notes += [f"shortcode [{name}]: unknown, left as text" for name in sorted(unknown)]
    return text


def _paragraphs(soup: BeautifulSoup) -> BeautifulSoup:
    """wpautop's job, on the parsed tree: text and inline elements between
    blocks become paragraphs, split at blank lines."""
    out = BeautifulSoup("", "html.parser")
    paragraph: Tag | None = None

    def flush() -> None:
        nonlocal paragraph
        if paragraph is not None and (
            paragraph.get_text().strip() or paragraph.find("img")
        ):
            out.append(paragraph)
        paragraph = None

    for node in list(soup.contents):
        node = node.extract()
        if isinstance(node, Tag) and node.name in BLOCK_TAGS:
            flush()
            out.append(node)
            continue
        if isinstance(node, NavigableString):
            parts = _BLANK_LINE_RE.split(str(node).replace("\r\n", "\n"))
            for index, part in enumerate(parts):
                if index:
                    flush()
                if part.strip() or (paragraph is not None and part):
                    if paragraph is None:
                        paragraph = out.new_tag("p")
                    paragraph.append(NavigableString(part))
            continue
        if paragraph is None:
            paragraph = out.new_tag("p")
        paragraph.append(node)
    flush()
    return out


_PLAIN_ESCAPER = MarkdownConverter(escape_misc=True)


def _target(url: str) -> str:
    """A link target as Markdown reads it whole (in <> when it has spaces
    or brackets)."""
    return f"<{url}>" if any(char in url for char in " ()<>") else url


class _Converter(MarkdownConverter):
    def __init__(self, relink: Relink, base_url: str, missing: list[str], **options):
        super().__init__(**options)
        self.relink = relink
        self.base_url = base_url
        self.missing = missing

    def _absolute(self, url: str) -> str:
        url = url.strip()
        if self.base_url and not urlsplit(url).scheme and not url.startswith("#"):
            return urljoin(self.base_url + "/", url)
        return url

    def convert_img(self, el, text, parent_tags):
        src = self._absolute(el.get("src") or "")
        alt = " ".join((el.get("alt") or "").split()).replace("[", "(")
        alt = alt.replace("]", ")")
        if not src:
            return ""
        new = self.relink(src)
        if new is None:
            # Not moved: a link to where it was, never a picture from
            # another site (the site's content security policy forbids it).
            self.missing.append(src)
            label = alt or "Picture"
            return label if "a" in parent_tags else f"[{label}]({_target(src)})"
        return f"![{alt}]({_target(new)})"

    def convert_a(self, el, text, parent_tags):
        href = el.get("href")
        if href:
            el["href"] = self._absolute(href)
        return super().convert_a(el, text, parent_tags)

    def convert_figure(self, el, text, parent_tags):
        return f"\n\n{text.strip()}\n\n"

    def convert_figcaption(self, el, text, parent_tags):
        text = text.strip()
        return f"\n\n*{text}*\n\n" if text else ""

    def convert_iframe(self, el, text, parent_tags):
        src = self._absolute(el.get("src") or "")
        return f"\n\n<{src}>\n\n" if src.startswith(("http://", "https://")) else ""


def html_to_markdown(
    text: str,
    *,
    relink: Relink = lambda url: None,
    base_url: str = "",
    gallery: Callable[[str], list[tuple[str, str]]] = lambda _id: [],
    notes: list[str] | None = None,
    missing: list[str] | None = None,
    words: list[str] | None = None,
) -> str:
    """Markdown of a WordPress body (or excerpt, or comment). `words`, when
    given, receives the text's plain words (read from the same parse)."""
    notes = notes if notes is not None else []
    missing = missing if missing is not None else []
    if not any(char in text for char in "<&[") and not text.lstrip().startswith(
        ("    ", "\t")
    ):
        # Plain text (most comments): paragraphs at blank lines, escaped,
        # with no parse (indented code would need the converter's care).
        if words is not None:
            words.append(" ".join(text.split()))
        paragraphs = [" ".join(p.split()) for p in _BLANK_LINE_RE.split(text)]
        escaper = _PLAIN_ESCAPER
        return "\n\n".join(escaper.escape(p, set()) for p in paragraphs if p)
    text = expand_shortcodes(text, gallery, notes)
    soup = BeautifulSoup(text, "html.parser")
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for element in soup.find_all(["script", "style", "noscript", "template"]):
        element.decompose()
    if soup.find("h1") is not None:
        # A page's title is its one h1 (the site's pages are checked for
        # it): a body's headings move down a level, an h6 staying an h6.
        for heading in soup.find_all(HEADINGS):
            heading.name = f"h{min(int(heading.name[1]) + 1, 6)}"
        notes.append("headings: moved down one level (the title is the page's h1)")
    if words is not None:
        words.append(_words(soup))
    soup = _paragraphs(soup)
    converter = _Converter(
        relink,
        base_url.rstrip("/"),
        missing,
        heading_style="ATX",
        bullets="-",
        escape_misc=True,
        strip=["span", "font"],
    )
    markdown = converter.convert_soup(soup)
    # A parsed tree is a web of cycles: freed now, not at the next collection,
    # so that memory stays flat over tens of thousands of posts.
    soup.decompose()
    lines = [line.rstrip() for line in markdown.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _words(soup: BeautifulSoup) -> str:
    # Captions are not the text's own sentences.
    return " ".join(
        " ".join(node.split())
        for node in soup.find_all(string=True)
        if node.strip() and node.find_parent("figcaption") is None
    )


def plain_text(text: str) -> str:
    """The words of WordPress HTML, with shortcodes and markup dropped."""
    if not any(char in text for char in "<&["):
        return " ".join(text.split())
    text = _SHORTCODE_RE.sub("", text)
    soup = BeautifulSoup(text, "html.parser")
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for element in soup.find_all(["script", "style"]):
        element.decompose()
    return _words(soup)


_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+")


def first_sentences(text: str, max_words: int = 40) -> str:
    """The opening sentences of a text, up to about `max_words` words (the
    first sentence whole, cut at `max_words` with an ellipsis if longer)."""
    chosen: list[str] = []
    count = 0
    for sentence in _SENTENCE_END_RE.split(text.strip()):
        words = sentence.split()
        if not words:
            continue
        if chosen and count + len(words) > max_words:
            break
        if not chosen and len(words) > max_words:
            return " ".join(words[:max_words]) + "…"
        chosen.append(" ".join(words))
        count += len(words)
    return " ".join(chosen)


def escape_text(text: str) -> str:
    """Plain text as Markdown that shows it as it is."""
    converter = MarkdownConverter(escape_misc=True)
    return converter.convert(f"<p>{html.escape(text)}</p>").strip()
