"""Old addresses and where they lead: pure functions over plain values.

An old address (`redirect_from` in a page's front matter, checked and spelt
one way by lab_content.schema.old_path) is a path from the site's root,
percent-encoded (`/caf%C3%A9/`), or WordPress's `/?p=123`. This module says
where the page that sends readers on is written, which claims clash, and what
the redirect maps for hosts (Netlify's and Cloudflare's `_redirects`, an
nginx `map`) hold.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Files a page may be written as: a static host serves them as HTML.
PAGE_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class Redirect:
    """One old address of one content item."""

    old: str  # as redirect_from spells it: "/2019/03/14/slug/", "/?p=123"
    source: str  # the content file that names it, "posts/2025-01-01-x.md"
    url: str  # the item's URL from the site's root, "updates/2025/x/"
    title: str  # the item's title, for the link on the page


def page_save_as(old: str) -> str | None:
    """Where the page at `old` is written, under the output folder: a folder's
    index.html for `/a/b/` and `/a/b` (a host sends `/a/b` on to `/a/b/`),
    the file itself for `/a/b.html`. None for an address no page can stand at:
    one with a query (hosts serve `/` whatever the query), or a file of
    another type (`/feed.php`, which a host would serve with that type).

    On disk the name is decoded (`café/index.html`): hosts decode the address
    a browser asks for before they look for the file."""
    if "?" in old:
        return None
    path = unquote(old).lstrip("/")
    if not path or path.endswith("/"):
        return path + "index.html"
    suffix = posixpath.splitext(path.rsplit("/", 1)[-1])[1].lower()
    if suffix in PAGE_SUFFIXES:
        return path
    if suffix[1:].isalnum():
        return None
    return path + "/index.html"


def problems(redirects: Iterable[Redirect], live: Mapping[str, str]) -> list[str]:
    """`path: redirect_from: reason` for each old address that is a live
    page's address (`live`: save_as -> the content file written there) or
    that another item names too (the first, by file name, keeps it)."""
    lines = []
    claimed: dict[str, Redirect] = {}
    for redirect in sorted(redirects, key=lambda r: (r.source, r.old)):
        save_as = page_save_as(redirect.old)
        where = f"{redirect.source}: redirect_from: {redirect.old!r}"
        owner = live.get(save_as) if save_as else None
        if owner == redirect.source:
            lines.append(f"{where} is this page's own address")
            continue
        if owner is not None:
            lines.append(
                f"{where} is the address of {owner}, which is live there; "
                "remove it from one of them"
            )
            continue
        first = claimed.setdefault(save_as or redirect.old, redirect)
        if first.source != redirect.source:
            also = "" if first.old == redirect.old else f" (as {first.old!r})"
            lines.append(
                f"{where} is also named by {first.source}{also}; an old address "
                "can lead to one page only"
            )
    return lines


def pages(redirects: Iterable[Redirect]) -> dict[str, Redirect]:
    """save_as -> the redirect whose page goes there (`/a` and `/a/` of one
    item share one page)."""
    found: dict[str, Redirect] = {}
    for redirect in sorted(redirects, key=lambda r: (r.source, r.old)):
        save_as = page_save_as(redirect.old)
        if save_as is not None:
            found.setdefault(save_as, redirect)
    return dict(sorted(found.items()))


def target_url(siteurl: str, url: str, save_as: str | None, relative: bool) -> str:
    """The new address as a page written at `save_as` links it: relative to
    that page when the site links relatively (RELATIVE_URLS, as Pelican gives
    templates their SITEURL), else from SITEURL."""
    if relative and save_as is not None:
        depth = save_as.count("/")
        return ("/".join([".."] * depth) or ".") + "/" + url
    return siteurl.rstrip("/") + "/" + url


def map_entries(redirects: Iterable[Redirect], siteurl: str) -> list[tuple[str, str]]:
    """(old address, absolute new address) for the maps, sorted, each once.
    Old addresses are from the site's root: under SITEURL's own path, if it
    has one."""
    base = urlsplit(siteurl).path.rstrip("/")
    absolute = siteurl.rstrip("/") + "/"
    return sorted({(base + r.old, absolute + r.url) for r in redirects})


def netlify_redirects(entries: Iterable[tuple[str, str]], status: str) -> str:
    """A `_redirects` file (Netlify, Cloudflare Pages): `OLD NEW STATUS` a
    line; `/?p=123` as Netlify's query match, `/ p=123 NEW STATUS`
    (Cloudflare skips those lines: it matches no queries)."""
    lines = ["# Old addresses and where they lead (written by lab_redirects)."]
    for old, new in entries:
        path, has_query, query = old.partition("?")
        lines.append(
            " ".join([path, query, new, status] if has_query else [old, new, status])
        )
    return "\n".join(lines) + "\n"


def nginx_map(entries: Iterable[tuple[str, str]]) -> str:
    """Two nginx `map` blocks for nginx's http {} block: paths matched
    against $uri (decoded, without the query: `/?utm_source=x` on an old
    path still matches), WordPress's `/?p=123` against $request_uri."""
    paths, queries = [], []
    for old, new in entries:
        if "?" in old:
            queries.append(f"    {_nginx_string(old)} {_nginx_string(new)};")
        else:
            paths.append(f"    {_nginx_string(unquote(old))} {_nginx_string(new)};")
    head = "# Old addresses and where they lead (written by lab_redirects).\n"
    return head + "".join(
        f'map {source} {variable} {{\n    default "";\n'
        + "".join(line + "\n" for line in lines)
        + "}\n"
        for source, variable, lines in (
            ("$uri", "$lab_redirect_path", paths),
            ("$request_uri", "$lab_redirect_query", queries),
        )
    )


def _nginx_string(value: str) -> str:
    # In a quoted nginx string a backslash escapes the next character.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
