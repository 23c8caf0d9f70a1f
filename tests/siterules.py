"""The rules every valid site meets, whatever its content: the checks that
tests/test_lab_content.py runs on the Lab's own content/ and on other sites.

Each rule takes a built site (`Built`) and returns readable problems, one per
line; an empty list means the site keeps the rule. A rule never names a post,
a title or a count: those belong to the tests of fixture sites. The rules
reuse the checkers of sitecheck.py, feedcheck.py and socialcheck.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from conftest import html_files, parse_html, refresh_target
from feedcheck import check_feed, feed_files
from lxml import etree
from sitecheck import (
    broken_css_references,
    broken_references,
    foreign_loads,
    parse_errors,
    structure_problems,
)
from socialcheck import check_site_social, load_profiles
from statementcheck import STATEMENT_PAGE, statement_problems

from lab_comments.endpoint import ManifestError, parse_manifest
from lab_comments.render import anchor_for
from lab_content.frontmatter import split_front_matter

# What every build writes, whatever its content: the listings, the pages the
# theme links from every page's header and footer, and the machine-read files.
EXPECTED_FILES = (
    "index.html",
    "404.html",
    "updates/index.html",
    "updates/archives/index.html",
    "updates/tags/index.html",
    "updates/categories/index.html",
    "authors/index.html",
    "challenges/index.html",
    "get-involved/index.html",
    "search/index.html",
    "about/index.html",
    "comments-policy/index.html",
    "privacy/index.html",
    "accessibility/index.html",
    "sitemap.xml",
    "robots.txt",
    "comments-manifest.json",
    "feeds/all.atom.xml",
    "feeds/all.rss.xml",
)
SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
# Content folders whose items each have a page at <section>/<slug>/.
ITEM_SECTIONS = {"challenges": "challenges", "get-involved": "get-involved"}


@dataclass(frozen=True)
class Built:
    """A site built from `content` into `output` for `siteurl`; `log` holds
    every WARNING or ERROR record the build emitted."""

    output: Path
    siteurl: str
    content: Path
    log: tuple[str, ...]


def no_warnings(site: Built) -> list[str]:
    return list(site.log)


def expected_files(site: Built) -> list[str]:
    return [
        f"no {name}" for name in EXPECTED_FILES if not (site.output / name).is_file()
    ]


def html_parses(site: Built) -> list[str]:
    return parse_errors(site.output)


def page_structure(site: Built) -> list[str]:
    return structure_problems(site.output)


def links_resolve(site: Built) -> list[str]:
    return broken_references(site.output, site.siteurl) + broken_css_references(
        site.output
    )


def nothing_from_other_hosts(site: Built) -> list[str]:
    return foreign_loads(site.output, site.siteurl)


def feeds_valid(site: Built) -> list[str]:
    return [problem for feed in feed_files(site.output) for problem in check_feed(feed)]


def social_meta(site: Built) -> list[str]:
    return check_site_social(site.output, site.siteurl, load_profiles(site.content))


def sitemap_lists_every_page(site: Built) -> list[str]:
    """The sitemap names every page but 404.html and the pages at old
    addresses, once, in order, each an existing file under the site's
    address; robots.txt names the sitemap."""
    output, siteurl = site.output, site.siteurl
    problems = []
    robots = (output / "robots.txt").read_text(encoding="utf-8").splitlines()
    if f"Sitemap: {siteurl}/sitemap.xml" not in robots:
        problems.append("robots.txt: does not name the sitemap")
    locs = etree.parse(str(output / "sitemap.xml")).xpath(
        "//s:url/s:loc/text()", namespaces=SITEMAP_NS
    )
    if locs != sorted(set(locs)):
        problems.append("sitemap.xml: addresses not sorted, or one listed twice")
    listed = set()
    for loc in locs:
        if not loc.startswith(siteurl + "/"):
            problems.append(f"sitemap.xml: {loc} is not under {siteurl}/")
            continue
        path = loc[len(siteurl) + 1 :]
        target = (
            output / path / "index.html"
            if path.endswith("/") or not path
            else (output / path)
        )
        if not target.is_file():
            problems.append(f"sitemap.xml: {loc}: no file")
        listed.add(target)
    # Pages at old addresses (lab_redirects) are listed nowhere.
    moved = {page for page in html_files(output) if refresh_target(parse_html(page))}
    pages = set(html_files(output)) - {output / "404.html"} - moved
    problems += [
        f"sitemap.xml: {page.relative_to(output)} is at an old address, but listed"
        for page in sorted(moved & listed)
    ]
    problems += [
        f"sitemap.xml: {page.relative_to(output)} is not listed"
        for page in sorted(pages - listed)
    ]
    problems += [
        f"sitemap.xml: {target.relative_to(output)} is listed but not a page"
        for target in sorted(listed - pages - moved)
        if target.is_file()
    ]
    return problems


# All that the public manifest may hold (issue 15: no titles; issue 19: a
# post with published replies carries its title and, per reply, what the
# reply email says, all shown on its page already; the challenges' slugs,
# the ones a reader may follow by email).
MANIFEST_KEYS = {"version", "siteurl", "posts", "staff", "challenges"}
MANIFEST_POST_KEYS = {"url", "open", "closes", "comments"}
MANIFEST_REPLY_POST_KEYS = MANIFEST_POST_KEYS | {"title", "replies"}
MANIFEST_REPLY_KEYS = {"to", "name", "text", "url"}


def comments_published(site: Built) -> list[str]:
    """The manifest the endpoint reads is valid, names this site and holds
    only what the endpoint needs (no titles, no hidden or draft post); every
    post it lists has a page; every approved comment file of a published
    post is listed under its post and shown on the post's page or on one of
    the pages of its comments beside it (comments/<n>/)."""
    output = site.output
    try:
        data = (output / "comments-manifest.json").read_bytes()
        siteurl, posts = parse_manifest(data)
    except (OSError, ManifestError) as exc:
        return [f"comments-manifest.json: {exc}"]
    problems = []
    raw = json.loads(data)
    if set(raw) - MANIFEST_KEYS:
        problems.append(f"comments-manifest.json: {sorted(set(raw) - MANIFEST_KEYS)}")
    for slug, entry in raw["posts"].items():
        allowed = (
            MANIFEST_REPLY_POST_KEYS if entry.get("replies") else (MANIFEST_POST_KEYS)
        )
        if set(entry) - allowed:
            problems.append(
                f"comments-manifest.json: {slug}: {sorted(set(entry) - allowed)}"
            )
        for reply_id, reply in entry.get("replies", {}).items():
            if set(reply) != MANIFEST_REPLY_KEYS or reply_id not in entry["comments"]:
                problems.append(f"comments-manifest.json: {slug}: reply {reply_id}")
    problems += [
        f"comments-manifest.json: lists challenge {slug}, which has no page"
        for slug in raw.get("challenges", [])
        if not (output / "challenges" / slug / "index.html").is_file()
    ]
    unlisted = post_statuses(site.content, ("hidden", "draft"))
    problems += [
        f"comments-manifest.json: lists {slug}, a {unlisted[slug]} post"
        for slug in sorted(set(posts) & set(unlisted))
    ]
    if siteurl != site.siteurl:
        problems.append(f"comments-manifest.json: siteurl {siteurl!r}")
    pages = {}
    for slug, post in posts.items():
        if not post.url.startswith(site.siteurl + "/"):
            problems.append(f"comments-manifest.json: {slug}: url {post.url!r}")
            continue
        page = output / post.url[len(site.siteurl) + 1 :] / "index.html"
        if not page.is_file():
            problems.append(f"comments-manifest.json: {slug}: no page {post.url}")
        else:
            pages[slug] = page
    shown = _shown_ids(pages)
    for path in sorted((site.content / "comments").glob("*/*.yaml")):
        name = path.relative_to(site.content).as_posix()
        comment = yaml.safe_load(path.read_text(encoding="utf-8"))
        post = posts.get(path.parent.name)
        if post is None and path.parent.name in unlisted:
            continue
        if post is None:
            problems.append(f"{name}: its post is not in the manifest")
            continue
        if comment["id"] not in post.comments:
            problems.append(f"{name}: not listed under its post in the manifest")
        slug = path.parent.name
        if slug in pages and anchor_for(comment["id"]) not in shown(slug):
            problems.append(f"{name}: not shown on {post.url} or its comments")
    return problems


def _shown_ids(pages: dict[str, Path]) -> Callable[[str], set[str]]:
    """slug -> the ids of the elements on the post's page and the pages of
    its comments (each post's pages parsed once)."""
    found: dict[str, set[str]] = {}

    def shown(slug: str) -> set[str]:
        if slug not in found:
            page = pages[slug]
            found[slug] = {
                node.get("id")
                for path in [page, *page.parent.glob("comments/*/index.html")]
                for node in parse_html(path).iter()
            }
        return found[slug]

    return shown


def post_statuses(content: Path, statuses: tuple[str, ...]) -> dict[str, str]:
    """slug -> status of the posts (under content/posts/) with one of these."""
    found = {}
    for path in sorted((content / "posts").glob("**/*.md")):
        data, _ = split_front_matter(path.read_text(encoding="utf-8"))
        if data.get("status") in statuses and data.get("slug"):
            found[str(data["slug"])] = str(data["status"])
    return found


def items_have_pages(site: Built) -> list[str]:
    """Every challenge and call that is not a draft has its page."""
    problems = []
    for folder, section in ITEM_SECTIONS.items():
        for path in sorted((site.content / folder).glob("*.md")):
            data, _ = split_front_matter(path.read_text(encoding="utf-8"))
            if data.get("status", "published") == "draft":
                continue
            page = site.output / section / str(data["slug"]) / "index.html"
            if not page.is_file():
                name = path.relative_to(site.content)
                problems.append(f"{name}: no {page.relative_to(site.output)}")
    return problems


def calls_have_calendars(site: Built) -> list[str]:
    """Every call page links exactly one calendar file, and it is one."""
    problems = []
    for page in sorted((site.output / "get-involved").glob("*/index.html")):
        name = page.relative_to(site.output)
        links = [
            a.get("href")
            for a in parse_html(page).iter("a")
            if a.get("href", "").endswith(".ics")
        ]
        if len(links) != 1:
            problems.append(f"{name}: {len(links)} calendar links")
            continue
        target = page.parent / links[0].rsplit("/", 1)[-1]
        if not target.is_file():
            problems.append(f"{name}: no {target.name}")
            continue
        text = target.read_text(encoding="utf-8")
        if not text.startswith("BEGIN:VCALENDAR") or "DTEND:" not in text:
            problems.append(f"{name}: {target.name} is not a calendar with an end")
    return problems


def accessibility_statement(site: Built) -> list[str]:
    """The accessibility statement has every part the UK's model statement
    requires (statementcheck.py), however the Lab words it."""
    page = site.output / STATEMENT_PAGE
    if not page.is_file():
        return []  # expected-files names it
    return [f"{STATEMENT_PAGE}: {p}" for p in statement_problems(parse_html(page))]


RULES: dict[str, Callable[[Built], list[str]]] = {
    "no-warnings": no_warnings,
    "expected-files": expected_files,
    "html-parses": html_parses,
    "page-structure": page_structure,
    "links-resolve": links_resolve,
    "nothing-from-other-hosts": nothing_from_other_hosts,
    "feeds-valid": feeds_valid,
    "social-meta": social_meta,
    "sitemap": sitemap_lists_every_page,
    "comments-published": comments_published,
    "items-have-pages": items_have_pages,
    "calls-have-calendars": calls_have_calendars,
    "accessibility-statement": accessibility_statement,
}


def all_problems(site: Built) -> list[str]:
    """Every rule's problems, each prefixed with the rule's name."""
    return [f"{name}: {p}" for name, rule in RULES.items() for p in rule(site)]
