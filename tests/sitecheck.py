"""Reading a built site back: which page links where, and whether it resolves.

Used by the site tests; every HTML page is read with html5lib, the parser
browsers follow, never with regular expressions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import html5lib
from conftest import html_files, parse_html, refresh_target

# Elements and attributes whose URL a browser fetches or follows.
URL_ATTRIBUTES = {
    "a": ("href",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "script": ("src",),
    "iframe": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "form": ("action",),
}
# CSS is not HTML: a tokenising pattern over url() and @import is sound there.
CSS_URL_RE = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")
# Elements whose URL is loaded as part of the page (not merely linked to).
LOADED = {"img", "source", "script", "iframe", "video", "audio"}
LOADED_LINK_RELS = {"stylesheet", "icon", "preload", "modulepreload", "manifest"}


@dataclass(frozen=True)
class Reference:
    page: Path
    element: str
    attribute: str
    url: str
    loaded: bool


def page_url(output: Path, page: Path, siteurl: str) -> str:
    return siteurl.rstrip("/") + "/" + page.relative_to(output).as_posix()


def is_moved_page(page: Path) -> bool:
    """Whether `page` is a page at an old address (lab_redirects)."""
    return refresh_target(parse_html(page)) is not None


def references(output: Path, page: Path, tree=None) -> list[Reference]:
    """Every URL `page` names; `tree` is the page already parsed, if it is."""
    tree = parse_html(page) if tree is None else tree
    found = []
    refresh = refresh_target(tree)
    if refresh:  # the browser goes there at once: a link that must resolve
        found.append(Reference(page, "meta", "content", refresh, False))
    for element, attributes in URL_ATTRIBUTES.items():
        for node in tree.iter(element):
            for attribute in attributes:
                value = node.get(attribute)
                if value is None:
                    continue
                urls = (
                    [
                        part.strip().split()[0]
                        for part in value.split(",")
                        if part.strip()
                    ]
                    if attribute == "srcset"
                    else [value.strip()]
                )
                loaded = element in LOADED or (
                    element == "link"
                    and bool(LOADED_LINK_RELS & set((node.get("rel") or "").split()))
                )
                found += [Reference(page, element, attribute, u, loaded) for u in urls]
    return found


def resolve(
    output: Path, page: Path, url: str, siteurl: str
) -> tuple[str, Path | None, str]:
    """Classify a URL found on `page`: ("external" | "internal" | "other",
    the output file it names, its fragment)."""
    absolute = urljoin(page_url(output, page, siteurl), url)
    parts = urlsplit(absolute)
    site = urlsplit(siteurl)
    if parts.scheme not in ("http", "https"):
        return "other", None, ""
    if (parts.scheme, parts.netloc) != (site.scheme, site.netloc):
        return "external", None, ""
    path = unquote(parts.path)
    base = site.path.rstrip("/")
    if base and path.startswith(base):
        path = path[len(base) :]
    target = output / path.lstrip("/")
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return "internal", target, parts.fragment


def ids_in(page: Path) -> set[str]:
    tree = parse_html(page)
    return {node.get("id") for node in tree.iter() if node.get("id")} | {
        node.get("name") for node in tree.iter("a") if node.get("name")
    }


def broken_references(output: Path, siteurl: str) -> list[str]:
    """Every internal link, image, script or stylesheet that names a missing file
    or a missing anchor, as readable lines."""
    problems = []
    anchors: dict[Path, set[str]] = {}
    for page in html_files(output):
        for ref in references(output, page):
            kind, target, fragment = resolve(output, page, ref.url, siteurl)
            if kind != "internal":
                continue
            name = page.relative_to(output)
            where = f"{name}: <{ref.element} {ref.attribute}={ref.url!r}>"
            if not target.is_file():
                problems.append(f"{where}: no file {target.relative_to(output)}")
            elif fragment and target.suffix == ".html":
                if target not in anchors:
                    anchors[target] = ids_in(target)
                if fragment not in anchors[target]:
                    problems.append(f"{where}: no id {fragment!r} in the target")
    return problems


def foreign_loads(output: Path, siteurl: str) -> list[str]:
    """Every script, stylesheet, font or image that a page or stylesheet would
    load from another host."""
    problems = []
    for page in html_files(output):
        tree = parse_html(page)
        for ref in references(output, page, tree):
            if ref.loaded and resolve(output, page, ref.url, siteurl)[0] == "external":
                problems.append(
                    f"{page.relative_to(output)}: <{ref.element}> {ref.url}"
                )
        for node in tree.iter("style"):
            for url in css_urls(node.text or ""):
                if urlsplit(url).netloc:
                    problems.append(f"{page.relative_to(output)}: <style> {url}")
    for sheet in sorted(output.rglob("*.css")):
        for url in css_urls(sheet.read_text(encoding="utf-8")):
            if urlsplit(url).netloc:
                problems.append(f"{sheet.relative_to(output)}: {url}")
    return problems


def css_urls(css: str) -> list[str]:
    """URLs named by url() and @import in a stylesheet."""
    return [a or b for a, b in CSS_URL_RE.findall(css)]


def broken_css_references(output: Path) -> list[str]:
    """Every stylesheet import or url() that names a missing local file."""
    problems = []
    for sheet in sorted(output.rglob("*.css")):
        for url in css_urls(sheet.read_text(encoding="utf-8")):
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith("data:"):
                continue
            target = (sheet.parent / unquote(parts.path)).resolve()
            if not target.is_file():
                problems.append(f"{sheet.relative_to(output)}: {url}")
    return problems


def parse_errors(output: Path) -> list[str]:
    """Every HTML5 parse error (html5lib, the algorithm browsers follow) of
    every page: a page that parses with errors is read differently by
    different tools."""
    problems = []
    for page in html_files(output):
        parser = html5lib.HTMLParser(namespaceHTMLElements=False)
        parser.parse(page.read_bytes())
        problems += [
            f"{page.relative_to(output)}: line {line}: {code}"
            for (line, _), code, _ in parser.errors
        ]
    return problems


def redirect_page_problems(tree) -> list[str]:
    """A page at an old address (lab_redirects) sends the reader on at once,
    shows the link too, names the new address as canonical, is kept out of
    search engines, and loads nothing."""
    problems = []
    target = refresh_target(tree)
    metas = {
        (m.get("name") or m.get("http-equiv") or "").lower(): m.get("content")
        for m in tree.iter("meta")
    }
    content = (metas.get("refresh") or "").partition(";")[0].strip()
    if not target or content != "0":
        problems.append(f"refresh {metas.get('refresh')!r}: not at once to an address")
    canonicals = [
        link.get("href")
        for link in tree.iter("link")
        if "canonical" in (link.get("rel") or "").split()
    ]
    if len(canonicals) != 1:
        problems.append(f"{len(canonicals)} canonical links")
    if (metas.get("robots") or "") != "noindex":
        problems.append("not marked noindex")
    if target not in [a.get("href") for a in tree.iter("a")]:
        problems.append("no visible link to where it refreshes")
    loaders = ("script", "img", "iframe", "style", "object", "video", "audio")
    loads = [e.tag for e in tree.iter() if e.tag in loaders] + [
        link.get("href")
        for link in tree.iter("link")
        if "canonical" not in (link.get("rel") or "").split()
    ]
    if loads:
        problems.append(f"loads {loads}")
    return problems


def structure_problems(output: Path) -> list[str]:
    """Every page has a language, one h1, one <main> with an id that the
    first link skips to, header, nav and footer landmarks, and no id twice
    (fragment links and labels would go to the first only). A page at an old
    address (lab_redirects) has its own rules: redirect_page_problems."""
    problems = []
    for page in html_files(output):
        name = page.relative_to(output)
        tree = parse_html(page)
        html = tree if tree.tag == "html" else tree.find(".//html")
        if html is None or not html.get("lang"):
            problems.append(f"{name}: no lang")
        if len(list(tree.iter("h1"))) != 1:
            problems.append(f"{name}: {len(list(tree.iter('h1')))} h1 elements")
        if refresh_target(tree) is not None:
            problems += [f"{name}: {p}" for p in redirect_page_problems(tree)]
            continue
        mains = list(tree.iter("main"))
        if len(mains) != 1 or not mains[0].get("id"):
            problems.append(f"{name}: not one <main> with an id")
        else:
            links = [a for a in tree.iter("a") if a.get("href")]
            if not links or links[0].get("href") != f"#{mains[0].get('id')}":
                problems.append(f"{name}: the first link is not a skip link to <main>")
        problems += [
            f"{name}: no <{landmark}>"
            for landmark in ("header", "nav", "footer")
            if not list(tree.iter(landmark))
        ]
        ids = Counter(n.get("id") for n in tree.iter() if n.get("id"))
        problems += [
            f"{name}: id {value!r} appears {count} times"
            for value, count in sorted(ids.items())
            if count > 1
        ]
    return problems
