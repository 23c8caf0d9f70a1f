"""Absolute URLs for places that leave the site (feeds, social cards, JSON-LD),
where a relative URL silently breaks."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import lxml.html

# Attributes that carry a URL, by element; srcset holds several.
_URL_ATTRIBUTES = {
    "a": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "iframe": ("src",),
    "object": ("data",),
    "embed": ("src",),
    "link": ("href",),
    "form": ("action",),
    "blockquote": ("cite",),
    "q": ("cite",),
    "ins": ("cite",),
    "del": ("cite",),
}


def absolute_url(siteurl: str, url: str) -> str:
    """Join a site-relative URL (`updates/2025/x/`) to SITEURL; leave absolute
    URLs, fragments-only and other schemes (mailto:) alone."""
    if not url:
        return siteurl.rstrip("/") + "/"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return url
    return urljoin(siteurl.rstrip("/") + "/", url.lstrip("/"))


def output_url(siteurl: str, save_as: str) -> str:
    """The public URL of an output file: `x/index.html` is served as `x/`."""
    path = save_as.replace("\\", "/")
    if path == "index.html":
        path = ""
    elif path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return absolute_url(siteurl, path)


def absolutise_html(fragment: str, base_url: str) -> str:
    """The HTML fragment with every URL in href, src, srcset (and the other
    URL attributes) made absolute against `base_url`, the page it belongs to.

    Parses with lxml's HTML parser; returns the fragment unchanged if it has
    no elements.
    """
    if not fragment or "<" not in fragment:
        return fragment
    wrapper = lxml.html.fragment_fromstring(fragment, create_parent="div")
    changed = False
    for element in wrapper.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in _URL_ATTRIBUTES.get(element.tag, ()):
            value = element.get(attribute)
            if value is None:
                continue
            if attribute == "srcset":
                new = _absolute_srcset(value, base_url)
            else:
                new = _join(base_url, value.strip())
            if new != value:
                element.set(attribute, new)
                changed = True
    if not changed:
        return fragment
    serialised = lxml.html.tostring(wrapper, encoding="unicode")
    return serialised[len("<div>") : -len("</div>")]


def _join(base_url: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme or url.startswith("#"):
        return url
    return urljoin(base_url, url)


def _absolute_srcset(value: str, base_url: str) -> str:
    candidates = []
    for candidate in value.split(","):
        bits = candidate.strip().split()
        if not bits:
            continue
        bits[0] = _join(base_url, bits[0])
        candidates.append(" ".join(bits))
    return ", ".join(candidates)
