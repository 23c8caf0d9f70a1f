"""Old addresses keep working (`redirect_from`, plugins/lab_redirects): the
field's checks, the pages at old addresses and the redirect maps, read back
from builds of tests/fixtures/redirects (laid over the small fixture site),
served on 127.0.0.1, and rebuilt in place."""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import html5lib
import pytest
from conftest import (
    ROOT,
    SAMPLE_SITEURL_DEV,
    SAMPLE_SITEURL_PROD,
    build,
    html_files,
    parse_html,
    refresh_target,
)
from lab_redirects.redirects import (
    Redirect,
    map_entries,
    netlify_redirects,
    nginx_map,
    page_save_as,
    problems,
)
from lab_redirects.settings import redirects_settings
from lxml import etree
from rebuildkit import SAME, Site
from redirectkit import MOVED_POST, MOVED_URL, redirect_content
from siterules import RULES, Built
from statichost import StaticHost

from lab_common import SettingsError
from lab_common.errors import ContentValidationError
from lab_content.schema import SCHEMAS, Invalid, old_path, old_paths

MOVED_TITLE = "Moved here from the old blog"
HISTORY_TITLE = 'Our history & "origins"'
CHALLENGE_TITLE = "What would it take for a fixture to pass?"
# Old address -> (the page written there, or None: in the maps only; the
# new address, from the site's root).
OLD = {
    "/2019/03/14/old-slug/": ("2019/03/14/old-slug/index.html", MOVED_URL),
    "/2019/03/14/older-slug/": ("2019/03/14/older-slug/index.html", MOVED_URL),
    "/2019/03/14/old-slug.html": ("2019/03/14/old-slug.html", MOVED_URL),
    "/archives/123": ("archives/123/index.html", MOVED_URL),
    "/caf%C3%A9-r%C3%A9union/": ("café-réunion/index.html", MOVED_URL),
    "/wp/old-slug.php": (None, MOVED_URL),
    "/?p=123": (None, MOVED_URL),
    "/old-page/": ("old-page/index.html", "history/"),
    "/?page_id=7": (None, "history/"),
    "/challenges/old-fixture-challenge/": (
        "challenges/old-fixture-challenge/index.html",
        "challenges/fixture-challenge/",
    ),
}
PAGES = {old: save_as for old, (save_as, _) in OLD.items() if save_as}
SITEURLS = {"dev": SAMPLE_SITEURL_DEV, "prod": SAMPLE_SITEURL_PROD}


# -- the field


@pytest.mark.parametrize(
    ("value", "spelt"),
    [
        ("/2019/03/14/old-slug/", "/2019/03/14/old-slug/"),
        ("/old-page.html", "/old-page.html"),
        ("/archives/123", "/archives/123"),
        ("/?p=123", "/?p=123"),
        ("/?page_id=7", "/?page_id=7"),
        ("/café/", "/caf%C3%A9/"),
        ("/caf%c3%a9/", "/caf%C3%A9/"),
        ("/caf%C3%A9/", "/caf%C3%A9/"),
        ("/a b/", "/a%20b/"),
        ("/100%25/", "/100%25/"),
        ("  /padded/ ", "/padded/"),
        ("/", "/"),
    ],
)
def test_an_old_address_has_one_spelling(value, spelt):
    assert old_path(value) == spelt
    assert old_path(spelt) == spelt


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2019/old/", "is not a path from the site's root"),
        ("https://old.example.org/2019/old/", "is not a path from the site's root"),
        ("//old.example.org/x/", "is not a path from the site's root"),
        ("/a/../b/", "has a '.' or '..' part"),
        ("/a/%2e%2E/b/", "has a '.' or '..' part"),
        ("/a/./b/", "has a '.' or '..' part"),
        ("/a//b/", "has an empty part (//)"),
        ("/a%2Fb/", "has an encoded slash (%2F)"),
        ("/50%/", "a '%' that is not followed by two hex digits"),
        ("/%FF/", "percent-encoded, but not as UTF-8"),
        ("/a\\b/", "contains a backslash"),
        ("/a\x00b/", "contains a control character"),
        ("/a\u0085b/", "contains a control character"),
        ("/a%0Ab/", "contains an encoded control character"),
        ("/a/#top", "has a fragment"),
        ("/blog/?p=123", "the only address with a query kept is /?key=value"),
        ("/?p=1&cat=2", "the only address with a query kept is /?key=value"),
        ("/?p=<1>", "the only address with a query kept is /?key=value"),
        ("", "must not be empty"),
        (2019, "expected text"),
    ],
)
def test_a_wrong_old_address_says_why(value, reason):
    with pytest.raises(Invalid) as refused:
        old_path(value)
    assert reason in str(refused.value)


def test_a_list_names_each_address_once():
    assert old_paths("/one/") == ["/one/"]
    assert old_paths(["/one/", "/?p=1"]) == ["/one/", "/?p=1"]
    with pytest.raises(Invalid) as twice:
        old_paths(["/caf%c3%a9/", "/two/", "/café/"])
    assert str(twice.value) == "[2]: '/caf%C3%A9/' is the same address as [0]"
    with pytest.raises(Invalid) as wrong:
        old_paths(["/one/", "http://x.org/"])
    assert str(wrong.value).startswith("[1]: 'http://x.org/' is not a path")
    with pytest.raises(Invalid, match="expected a list of paths, got a mapping"):
        old_paths({"from": "/one/"})


def test_every_content_type_takes_old_addresses():
    assert {kind for kind, fields in SCHEMAS.items() if "redirect_from" in fields} == {
        "post",
        "page",
        "challenge",
        "call",
    }
    assert all(f["redirect_from"].convert is old_paths for f in SCHEMAS.values())


# -- pure parts of the plugin


@pytest.mark.parametrize(
    ("old", "save_as"),
    [
        ("/2019/03/14/slug/", "2019/03/14/slug/index.html"),
        ("/2019/03/14/slug", "2019/03/14/slug/index.html"),
        ("/old.html", "old.html"),
        ("/Old.HTM", "Old.HTM"),
        ("/v1.2-notes", "v1.2-notes/index.html"),
        ("/caf%C3%A9/", "café/index.html"),
        ("/a%20b/", "a b/index.html"),
        ("/", "index.html"),
        ("/feed.php", None),
        ("/files/report.pdf", None),
        ("/?p=123", None),
    ],
)
def test_where_the_page_at_an_old_address_goes(old, save_as):
    assert page_save_as(old) == save_as


def test_clashing_old_addresses_are_named_with_both_files():
    redirects = [
        Redirect("/about/", "posts/b.md", "updates/2025/b/", "B"),
        Redirect("/updates/2025/b/", "posts/b.md", "updates/2025/b/", "B"),
        Redirect("/shared/", "posts/b.md", "updates/2025/b/", "B"),
        Redirect("/shared", "posts/c.md", "updates/2025/c/", "C"),
        Redirect("/?p=1", "posts/c.md", "updates/2025/c/", "C"),
        Redirect("/?p=1", "pages/a.md", "a/", "A"),
        Redirect("/c-only/", "posts/c.md", "updates/2025/c/", "C"),
        Redirect("/c-only", "posts/c.md", "updates/2025/c/", "C"),
    ]
    live = {
        "about/index.html": "pages/about.md",
        "updates/2025/b/index.html": "posts/b.md",
    }
    assert problems(redirects, live) == [
        "posts/b.md: redirect_from: '/about/' is the address of pages/about.md, "
        "which is live there; remove it from one of them",
        "posts/b.md: redirect_from: '/updates/2025/b/' is this page's own address",
        "posts/c.md: redirect_from: '/?p=1' is also named by pages/a.md; an old "
        "address can lead to one page only",
        "posts/c.md: redirect_from: '/shared' is also named by posts/b.md (as "
        "'/shared/'); an old address can lead to one page only",
    ]


def test_the_maps_hold_every_old_address_once():
    redirects = [
        Redirect("/?p=7", "posts/a.md", "updates/2025/a/", "A"),
        Redirect("/old/", "posts/a.md", "updates/2025/a/", "A"),
        Redirect("/caf%C3%A9/", "posts/a.md", "updates/2025/a/", "A"),
        Redirect("/say-%22hi%22/", "posts/a.md", "updates/2025/a/", "A"),
    ]
    entries = map_entries(redirects, "https://lab.example.org/sub/")
    new = "https://lab.example.org/sub/updates/2025/a/"
    assert entries == [
        ("/sub/?p=7", new),
        ("/sub/caf%C3%A9/", new),
        ("/sub/old/", new),
        ("/sub/say-%22hi%22/", new),
    ]
    lines = netlify_redirects(entries, "301!").splitlines()
    assert lines[0].startswith("#")
    assert [line.split() for line in lines[1:]] == [
        ["/sub/", "p=7", new, "301!"],
        ["/sub/caf%C3%A9/", new, "301!"],
        ["/sub/old/", new, "301!"],
        ["/sub/say-%22hi%22/", new, "301!"],
    ]
    nginx = nginx_map(entries)
    assert f'    "/sub/café/" "{new}";' in nginx.splitlines()
    assert f'    "/sub/say-\\"hi\\"/" "{new}";' in nginx.splitlines()
    assert f'    "/sub/?p=7" "{new}";' in nginx.splitlines()


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("LAB_REDIRECTS_MAP_STATUS", "200", "is not one of: 301"),
        ("LAB_REDIRECTS_MAP_STATUS", 301, "expected str"),
        ("LAB_REDIRECTS_MAP_SAVE_AS", "../_redirects", "is not a path in the output"),
        ("LAB_REDIRECTS_NGINX_SAVE_AS", "/etc/nginx/x", "is not a path in the output"),
        ("LAB_REDIRECTS_PAGES", "yes", "expected bool"),
    ],
)
def test_a_wrong_setting_is_named(key, value, reason):
    with pytest.raises(SettingsError) as wrong:
        redirects_settings({key: value})
    assert str(wrong.value).startswith(key) and reason in str(wrong.value)


# -- the fixture site, built


@pytest.fixture(scope="module")
def content(tmp_path_factory) -> Path:
    return redirect_content(tmp_path_factory.mktemp("redirects") / "content")


@pytest.fixture(scope="module")
def sites(content, tmp_path_factory) -> dict[str, Path]:
    built = {}
    for name, conffile in (("dev", "pelicanconf.py"), ("prod", "publishconf.py")):
        output = tmp_path_factory.mktemp(f"redirects-{name}")
        log = build(conffile, output, path=content, SITEURL=SITEURLS[name])
        assert log.messages() == []
        built[name] = output
    return built


def head_of(tree):
    return list(tree.find("head"))


def text_of(node) -> str:
    return " ".join("".join(node.itertext()).split())


@pytest.mark.parametrize("config", ["dev", "prod"])
def test_each_old_address_has_a_page_that_sends_readers_on(sites, config):
    output, siteurl = sites[config], SITEURLS[config]
    about = parse_html(output / "about/index.html")
    for old, save_as in PAGES.items():
        new = OLD[old][1]
        page = output / save_as
        tree = parse_html(page)
        head = head_of(tree)
        # The site's language and policy, first in <head> as on every page.
        assert tree.get("lang") == about.get("lang")
        assert head[0].get("charset") == "utf-8"
        assert head[1].get("http-equiv") == "Content-Security-Policy"
        assert head[1].get("content") == head_of(about)[1].get("content")
        meta = {(m.get("name") or m.get("http-equiv")): m.get("content") for m in head}
        assert meta["robots"] == "noindex"
        assert meta["referrer"] == "strict-origin-when-cross-origin"
        target = refresh_target(tree)
        assert meta["refresh"] == f"0; url={target}"
        # Relative in the development build, as its other links; either way
        # it names the new page's file.
        page_address = f"{siteurl}/{save_as}"
        assert urljoin(page_address, target) == f"{siteurl}/{new}"
        assert target.startswith("http") == (config == "prod")
        canonical = [e.get("href") for e in head if e.get("rel") == "canonical"]
        assert canonical == [f"{siteurl}/{new}"]
        # The same link, visible, named by the new page's title.
        links = [(a.get("href"), text_of(a)) for a in tree.iter("a")]
        title = HISTORY_TITLE if new == "history/" else MOVED_TITLE
        if new.startswith("challenges/"):
            title = CHALLENGE_TITLE
        assert links == [(target, title)]
        assert [text_of(h) for h in tree.iter("h1")] == ["This page has moved"]
        # Nothing to load: no stylesheet, script, image or font.
        assert [e.tag for e in tree.iter() if e.tag in ("script", "img", "style")] == []
        assert [e.get("rel") for e in head if e.tag == "link"] == ["canonical"]
        assert (output / new / "index.html").is_file()


def test_addresses_with_a_query_or_another_type_get_no_page(sites):
    output = sites["prod"]
    written = {p.relative_to(output).as_posix() for p in html_files(output)}
    assert set(PAGES.values()) <= written
    assert not (output / "wp").exists()
    # The query form lives in the maps only: the home page is the home page.
    assert refresh_target(parse_html(output / "index.html")) is None


def test_a_non_ascii_address_is_decoded_on_disk_and_encoded_in_the_map(sites):
    output = sites["prod"]
    assert (output / "café-réunion" / "index.html").is_file()
    lines = (output / "_redirects").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("/caf%C3%A9-r%C3%A9union/ ") for line in lines)
    assert all(line.isascii() for line in lines)
    nginx = (output / "_redirects.nginx").read_text(encoding="utf-8")
    assert f'"/café-réunion/" "{SAMPLE_SITEURL_PROD}/{MOVED_URL}";' in nginx


@pytest.mark.parametrize("config", ["dev", "prod"])
def test_the_redirects_map_lists_every_old_address(sites, config):
    output, siteurl = sites[config], SITEURLS[config]
    lines = (output / "_redirects").read_text(encoding="utf-8").splitlines()
    rules = [line.split() for line in lines if line and not line.startswith("#")]
    expected = []
    for old, (_, new) in OLD.items():
        path, has_query, query = old.partition("?")
        target = f"{siteurl}/{new}"
        expected.append(
            [path, query, target, "301"] if has_query else [old, target, "301"]
        )
    assert sorted(rules) == sorted(expected)


def test_pages_at_old_addresses_are_listed_nowhere(sites):
    output = sites["prod"]
    locs = etree.parse(str(output / "sitemap.xml")).xpath(
        "//s:loc/text()",
        namespaces={"s": "http://www.sitemaps.org/schemas/sitemap/0.9"},
    )
    assert f"{SAMPLE_SITEURL_PROD}/{MOVED_URL}" in locs
    old_urls = {f"{SAMPLE_SITEURL_PROD}/{save_as}" for save_as in PAGES.values()}
    old_urls |= {u.removesuffix("index.html") for u in old_urls}
    assert not old_urls & set(locs)
    # Feeds name the posts at their own addresses only.
    feeds = [*sorted((output / "feeds").rglob("*.xml")), output / "feeds/all.json"]
    assert len(feeds) > 5
    text = "".join(path.read_text(encoding="utf-8") for path in feeds)
    assert f"{SAMPLE_SITEURL_PROD}/{MOVED_URL}" in text
    for old in OLD:
        assert old.strip("/?") not in text, old


def indexed_urls(output: Path) -> set[str]:
    """The addresses of the pages Pagefind indexed (its fragments are gzipped
    JSON after a signature)."""
    urls = set()
    for fragment in (output / "pagefind" / "fragment").glob("*.pf_fragment"):
        data = gzip.decompress(fragment.read_bytes())
        assert data.startswith(b"pagefind_dcd")
        urls.add(json.loads(data[len(b"pagefind_dcd") :])["url"])
    return urls


def test_pages_at_old_addresses_are_not_in_the_search_index(sites, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(sites["prod"], site)
    subprocess.run(
        [sys.executable, "-m", "pagefind", "--site", str(site), "--silent"],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    urls = indexed_urls(site)
    assert f"/{MOVED_URL}" in urls and "/history/" in urls
    for save_as in PAGES.values():
        assert f"/{save_as.removesuffix('index.html')}" not in urls, save_as


def test_the_site_rules_catch_a_broken_page_at_an_old_address(sites, content, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(sites["prod"], copy)
    site = Built(copy, SAMPLE_SITEURL_PROD, content, ())
    assert [rule for rule in RULES if RULES[rule](site)] == []
    page = copy / PAGES["/old-page/"]
    # Breaking a built copy on purpose, not reading HTML: plain replacements.
    text = page.read_text(encoding="utf-8")
    page.write_text(
        text.replace('content="noindex"', 'content="all"').replace(
            "/history/", "/no-such-page/"
        ),
        encoding="utf-8",
    )
    sitemap = copy / "sitemap.xml"
    sitemap.write_text(
        sitemap.read_text(encoding="utf-8").replace(
            "</urlset>",
            f"<url><loc>{SAMPLE_SITEURL_PROD}/old-page/</loc></url></urlset>",
        ),
        encoding="utf-8",
    )
    assert "old-page/index.html: not marked noindex" in RULES["page-structure"](site)
    assert any(
        p.startswith("old-page/index.html: <meta content=") and "no-such-page" in p
        for p in RULES["links-resolve"](site)
    ), RULES["links-resolve"](site)
    assert "sitemap.xml: old-page/index.html is at an old address, but listed" in RULES[
        "sitemap"
    ](site)


# -- mistakes stop the build, naming the files


def write_post(content: Path, name: str, redirect_from: str) -> None:
    (content / "posts" / name).write_text(
        "---\ntitle: Another post\ndate: 2025-06-03T10:00:00+01:00\n"
        "authors: [ada-lane]\ncategory: Learning\nsummary: S.\n"
        f"redirect_from: {redirect_from}\n---\nText.\n",
        encoding="utf-8",
    )


def refused(content: Path, output: Path) -> list[str]:
    with pytest.raises(ContentValidationError) as failure:
        build("pelicanconf.py", output, path=content, SITEURL=SAMPLE_SITEURL_DEV)
    assert not list(output.rglob("*.html")), "nothing is written"
    return failure.value.problems


REFUSALS = {
    "wrong-addresses": (
        [("2025-06-03-a.md", "[/fine/, 'https://old.example.org/x/']"),
         ("2025-06-04-b.md", "/a/../../etc/"),
         ("2025-06-05-c.md", "[/blog/?p=4]")],
        ["posts/2025-06-03-a.md: redirect_from[1]: 'https://old.example.org/x/' "
         "is not a path from the site's root: start it with one '/' and leave "
         "out the scheme and host",
         "posts/2025-06-04-b.md: redirect_from[0]: '/a/../../etc/' has a '.' or "
         "'..' part",
         "posts/2025-06-05-c.md: redirect_from[0]: '/blog/?p=4': the only "
         "address with a query kept is /?key=value, as WordPress's /?p=123"],
    ),
    "a-live-page": (
        [("2025-06-03-a.md", "[/about/, /updates/2025/a/]")],
        ["posts/2025-06-03-a.md: redirect_from: '/about/' is the address of "
         "pages/about.md, which is live there; remove it from one of them",
         "posts/2025-06-03-a.md: redirect_from: '/updates/2025/a/' is this "
         "page's own address"],
    ),
    "named-twice": (
        [("2025-06-03-a.md", "[/2019/03/14/old-slug, /?p=123]")],
        ["posts/2025-06-03-a.md: redirect_from: '/2019/03/14/old-slug' is also "
         f"named by {MOVED_POST} (as '/2019/03/14/old-slug/'); an old address "
         "can lead to one page only",
         "posts/2025-06-03-a.md: redirect_from: '/?p=123' is also named by "
         f"{MOVED_POST}; an old address can lead to one page only"],
    ),
    # Not a content item: lab_content's check of every output file finds it.
    "a-listing-page": (
        [("2025-06-03-a.md", "/updates/tag/one/")],
        ["posts/2025-06-03-a.md (redirect_from '/updates/tag/one/'): output: "
         "would write updates/tag/one/index.html, which tag 'one' (TAG_SAVE_AS) "
         "also writes; give one of them another address"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_wrong_or_clashing_old_address_fails_the_build_naming_the_files(
    tmp_path, case
):
    content = redirect_content(tmp_path / "content")
    posts, expected = REFUSALS[case]
    for name, redirect_from in posts:
        write_post(content, name, redirect_from)
    assert refused(content, tmp_path / "out") == expected


# -- served as the Lab's host serves it


def get(origin: str, path: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(origin)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_an_old_address_served_leads_to_the_new_page(content, tmp_path):
    with StaticHost() as host:
        output = tmp_path / "site"
        build("pelicanconf.py", output, path=content, SITEURL=host.origin)
        host.serve(output)
        # The host sends /archives/123 on to /archives/123/ (below).
        served = {old: OLD[old][1] for old in PAGES if old != "/archives/123"}
        served["/archives/123/"] = MOVED_URL
        titles = {
            MOVED_URL: MOVED_TITLE,
            "history/": HISTORY_TITLE,
            "challenges/fixture-challenge/": CHALLENGE_TITLE,
        }
        for old, new in served.items():
            status, _, body = get(host.origin, old)
            assert status == 200, old
            target = urljoin(host.origin + old, refresh_target(parse_bytes(body)))
            assert target == f"{host.origin}/{new}", old
            status, _, body = get(host.origin, urlsplit(target).path)
            assert status == 200, target
            h1 = [text_of(h) for h in parse_bytes(body).iter("h1")]
            assert h1 == [titles[new]], old
        # A folder's address without its slash goes to the slash first, as
        # GitHub Pages does, and then to the page there.
        status, headers, _ = get(host.origin, "/archives/123")
        assert (status, headers["Location"]) == (301, "/archives/123/")


def parse_bytes(data: bytes):
    return html5lib.parse(data, treebuilder="etree", namespaceHTMLElements=False)


# -- rebuilt in place


def record(site: Site) -> dict:
    with open(site.root / "cache" / "lab_writer.json", encoding="utf-8") as handle:
        return json.load(handle)


def test_an_old_address_taken_out_leaves_no_page_behind(tmp_path):
    site = Site.copy(tmp_path)
    site.rebuild()
    post = "2025-03-01-first.md"
    site.set_redirects(post, ["/2019/old-first/", "/caf%C3%A9/", "/?p=9"])
    site.rebuild()
    page = site.output / "2019" / "old-first" / "index.html"
    assert page.is_file() and (site.output / "café" / "index.html").is_file()
    assert "/ p=9 " in (site.output / "_redirects").read_text(encoding="utf-8")
    assert site.differences() == SAME
    site.set_redirects(post, ["/caf%C3%A9/"])
    site.rebuild()
    assert not page.exists()
    assert "2019/old-first/index.html" in record(site)["last_build"]["removed"]
    assert "p=9" not in (site.output / "_redirects").read_text(encoding="utf-8")
    assert site.differences() == SAME
    site.set_redirects(post, None)
    site.rebuild()
    assert not (site.output / "café").exists()
    assert site.differences() == SAME


def test_an_old_address_moved_to_another_post_leads_there_after_a_rebuild(tmp_path):
    site = Site.copy(tmp_path)
    page = site.output / "2019/old/index.html"
    site.set_redirects("2025-03-01-first.md", ["/2019/old/"])
    site.rebuild()
    assert refresh_target(parse_html(page)).endswith("/updates/2025/first/")
    site.set_redirects("2025-03-01-first.md", None)
    site.set_redirects("2025-06-01-with-comments.md", ["/2019/old/"])
    site.rebuild()
    assert refresh_target(parse_html(page)).endswith("/updates/2025/with-comments/")
    assert site.differences() == SAME
    # A post not yet published (dated after "today") has no page to lead to:
    # its old addresses wait for it.
    site.set_redirects("2025-06-01-with-comments.md", None)
    site.set_redirects("2025-12-20-future.md", ["/2019/old/"])
    site.rebuild()
    assert not page.exists()
    assert site.differences() == SAME


# -- make check's tools, on the fixture site (gates)


@pytest.mark.gates
@pytest.mark.parametrize("gate", ["html", "links", "social", "accessibility"])
def test_make_checks_gates_pass_a_site_with_old_addresses(sites, content, gate):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "check_site.py"), "--site",
         str(sites["prod"]), "--content", str(content), "--only", gate],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.gates
def test_a_page_at_an_old_address_is_accessible(sites, tmp_path):
    """axe-core (WCAG 2.2 AA) at 1280 and 320 px, as make check's gate runs
    it, on pages at old addresses. A browser leaves such a page at once, so
    axe reads a copy whose refresh waits an hour (its content is otherwise
    the page's); axe's meta-refresh rule, which that hour breaks on purpose,
    is left out (it asks for what the real pages have: 0 seconds)."""
    from check_site import gate_accessibility

    site = tmp_path / "site"
    shutil.copytree(sites["prod"], site)
    names = [PAGES["/old-page/"], PAGES["/caf%C3%A9-r%C3%A9union/"]]
    for name in names:
        page = site / name
        # Editing a copy on purpose, not reading HTML: a plain replacement.
        text = page.read_text(encoding="utf-8")
        assert 'content="0; url=' in text
        page.write_text(text.replace('content="0; url=', 'content="3600; url='))
    result = gate_accessibility(site, SAMPLE_SITEURL_PROD, pages=names)
    problems = [p for p in result.problems if "meta-refresh" not in p]
    assert problems == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.gates
def test_nginx_answers_old_addresses_from_the_map(sites, tmp_path):
    """The nginx map the build writes, included as README shows, makes a real
    nginx on 127.0.0.1 answer each old address with 301 to its new one."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("make check needs nginx: apt-get install nginx-light")
    output, port = sites["prod"], free_port()
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "daemon off;\nmaster_process off;\nevents {}\n"
        f"http {{\n    access_log off;\n    include {output}/_redirects.nginx;\n"
        f"    server {{\n        listen 127.0.0.1:{port};\n"
        f"        root {output};\n"
        "        if ($lab_redirect_query) { return 301 $lab_redirect_query; }\n"
        "        if ($lab_redirect_path) { return 301 $lab_redirect_path; }\n"
        "    }\n}\n"
    )
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(main)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        origin = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                get(origin, "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for old, (_, new) in OLD.items():
            status, headers, _ = get(origin, old)
            assert (status, headers.get("Location")) == (
                301,
                f"{SAMPLE_SITEURL_PROD}/{new}",
            ), old
        # A tracking query on an old path still finds it ($uri has no query).
        status, headers, _ = get(origin, "/old-page/?utm_source=x")
        assert (status, headers["Location"]) == (301, f"{SAMPLE_SITEURL_PROD}/history/")
        status, _, _ = get(origin, "/?p=124")
        assert status != 301
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_browser_checks_pick_no_page_at_an_old_address(tmp_path):
    # A renamed post's old address is a post's kind of path; the
    # accessibility gate and the screenshots take a real post instead.
    from check_site import a11y_pages
    from screenshots import find_type

    for name, head in (
        ("updates/2024/aaa-old-name/index.html",
         '<meta http-equiv="refresh" content="0; url=../../2025/new-name/">'),
        ("updates/2025/new-name/index.html", ""),
    ):  # fmt: skip
        page = tmp_path / name
        page.parent.mkdir(parents=True)
        page.write_text(
            f"<!DOCTYPE html><html lang=en><head>{head}<title>T</title></head>"
            "<body><h1>T</h1></body></html>",
            encoding="utf-8",
        )
    assert a11y_pages(tmp_path) == ["updates/2025/new-name/index.html"]
    assert find_type(tmp_path, "post") == "updates/2025/new-name/index.html"
