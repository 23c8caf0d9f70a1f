"""Feeds: parsed back from the sample site and from fixture sites built to
change, break and repeat things."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
from conftest import FIXTURES, SAMPLE_SITEURL_DEV, build, parse_html
from feedcheck import ATOM, check_feed, feed_files
from lxml import etree

from lab_common import SettingsError
from lab_feeds.build import FeedMeta, feed_generator
from lab_feeds.items import FeedItem, Person, xml_safe

FIXTURE_SITE = FIXTURES / "site"
UTC = dt.UTC


def test_every_feed_of_the_sample_site_passes_the_structural_checks(site_feeds):
    output, feeds = site_feeds
    relative = [p.relative_to(output).parts for p in feeds]
    kinds = {parts[1] for parts in relative if parts[0] == "feeds"}
    assert ("updates", "2025", "first-challenge", "comments.atom.xml") in relative
    assert {"all.atom.xml", "all.rss.xml", "all.json", "get-involved.rss.xml"} <= kinds
    assert {"category", "tag", "author", "challenge"} <= kinds
    problems = [problem for feed in feeds for problem in check_feed(feed)]
    assert problems == []


@pytest.fixture(params=["dev_site", "prod_site"])
def site_feeds(request):
    output, _ = request.getfixturevalue(request.param)
    feeds = feed_files(output)
    assert len(feeds) > 40
    return output, feeds


def rss_items(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().findall("channel/item")


def atom_entries(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().findall(f"{ATOM}entry")


def test_items_are_newest_first_in_the_site_zone_with_full_content(dev_site):
    output, _ = dev_site
    entries = atom_entries(output / "feeds/all.atom.xml")
    published = [
        dt.datetime.fromisoformat(e.findtext(f"{ATOM}published")) for e in entries
    ]
    assert published == sorted(published, reverse=True)
    # Europe/London: +01:00 in summer, +00:00 in winter, whatever the source said.
    offsets = {p.utcoffset() for p in published}
    assert offsets == {dt.timedelta(0), dt.timedelta(hours=1)}
    first = entries[0]
    assert first.find(f"{ATOM}content").get("type") == "html"
    assert first.find(f"{ATOM}summary").get("type") == "html"
    assert len(first.findtext(f"{ATOM}content")) > len(first.findtext(f"{ATOM}summary"))
    assert [a.findtext(f"{ATOM}name") for a in first.findall(f"{ATOM}author")] == [
        "Amara Okafor",
        "Daniel Mensah",
    ]
    terms = {c.get("term") for c in first.findall(f"{ATOM}category")}
    assert terms == {
        "Announcements",
        "pilot",
        "get involved",
        "commissioning",
        "peer support",
    }
    item = rss_items(output / "feeds/all.rss.xml")[0]
    creators = item.findall("{http://purl.org/dc/elements/1.1/}creator")
    assert [c.text for c in creators] == ["Amara Okafor", "Daniel Mensah"]
    assert item.find("{http://purl.org/rss/1.0/modules/content/}encoded") is not None


def test_a_feed_is_as_new_as_its_newest_item(dev_site):
    output, _ = dev_site
    root = etree.parse(str(output / "feeds/all.atom.xml")).getroot()
    newest = max(
        dt.datetime.fromisoformat(e.findtext(f"{ATOM}updated"))
        for e in root.findall(f"{ATOM}entry")
    )
    assert dt.datetime.fromisoformat(root.findtext(f"{ATOM}updated")) == newest


def test_the_challenge_feed_holds_its_updates_and_the_events_that_have_happened(
    dev_site,
):
    output, _ = dev_site
    titles = [
        e.findtext(f"{ATOM}title")
        for e in atom_entries(output / "feeds/challenge/peer-support.atom.xml")
    ]
    assert "Phase started: Sharing the learning" in titles
    assert any(t.startswith("Call closed: Help with the research") for t in titles)
    assert any(t.startswith("Call opened:") for t in titles)
    # The toolkit call opens in January 2027: not an event yet on 27 November 2026.
    assert not any(
        "toolkit" in t.lower() and t.startswith("Call opened") for t in titles
    )
    assert any(not t.startswith(("Phase", "Call")) for t in titles)


def test_the_open_calls_feed_holds_only_open_calls(dev_site):
    output, _ = dev_site
    links = [
        i.findtext("link") for i in rss_items(output / "feeds/get-involved.rss.xml")
    ]
    slugs = sorted(link.rstrip("/").rsplit("/", 1)[-1] for link in links)
    assert slugs == ["sharing-event", "ten-minutes-or-ten-days"]


def test_every_page_links_its_feeds_in_head_and_they_exist(dev_site):
    output, _ = dev_site

    def head_feeds(page):
        tree = parse_html(output / page)
        head = next(tree.iter("head"))
        return [
            (link.get("type"), link.get("href"), link.get("title"))
            for link in head.iter("link")
            if link.get("rel") == "alternate"
        ]

    post = head_feeds("updates/2025/first-challenge/index.html")
    hrefs = [href for _, href, _ in post]
    for part in ("challenge/peer-support", "category/announcements", "feeds/all"):
        assert any(part in href for href in hrefs), part
    # Its authors' and tags' feeds are on their own pages (and the feeds
    # page), not on every post: a post with many tags stays light.
    assert not [h for h in hrefs if "/author/" in h or "/tag/" in h]
    assert any(
        "author/amara-okafor" in h
        for _, h, _ in head_feeds("authors/amara-okafor/index.html")
    )
    assert {t for t, _, _ in post} == {
        "application/atom+xml",
        "application/rss+xml",
        "application/feed+json",
    }
    assert all(title for _, _, title in post)
    assert any(
        "tag/pilot" in h for _, h, _ in head_feeds("updates/tag/pilot/index.html")
    )
    for page in ("index.html", "about/index.html", "updates/index.html"):
        # Relative in a build with relative links (as pages' other links).
        page_url = f"{SAMPLE_SITEURL_DEV}/{page}"
        for _, href, _ in head_feeds(page):
            absolute = urljoin(page_url, href)
            assert absolute.startswith(SAMPLE_SITEURL_DEV + "/"), href
            target = output / absolute.removeprefix(SAMPLE_SITEURL_DEV + "/")
            assert target.is_file(), href


def test_the_feeds_page_lists_every_feed(dev_site):
    output, _ = dev_site
    tree = parse_html(output / "feeds/index.html")
    page_url = f"{SAMPLE_SITEURL_DEV}/feeds/index.html"
    hrefs = {
        urljoin(page_url, a.get("href")) for a in next(tree.iter("main")).iter("a")
    }
    for feed in feed_files(output):
        url = f"{SAMPLE_SITEURL_DEV}/{feed.relative_to(output).as_posix()}"
        assert url in hrefs, url


def fixture_copy(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    return content


def ids_by_link(output: Path) -> dict[str, str]:
    return {
        e.find(f"{ATOM}link").get("href"): e.findtext(f"{ATOM}id")
        for e in atom_entries(output / "feeds/all.atom.xml")
    }


def test_an_item_keeps_its_id_when_title_slug_category_and_dates_change(tmp_path):
    content = fixture_copy(tmp_path)
    build(
        "pelicanconf.py", tmp_path / "before", path=content, SITEURL=SAMPLE_SITEURL_DEV
    )
    before = ids_by_link(tmp_path / "before")
    post = content / "posts/2025-05-01-published.md"
    text = post.read_text(encoding="utf-8")
    text = text.replace("title: A published post", "title: A renamed post")
    text = text.replace("category: Research", "category: Ideas")
    text = text.replace("slug: a-published-post", "slug: renamed")
    text = text.replace("summary: Published.", "summary: New summary.\n"
                        "modified: 2025-06-01T10:00:00+01:00")  # fmt: skip
    post.write_text(text, encoding="utf-8")
    build(
        "pelicanconf.py", tmp_path / "after", path=content, SITEURL=SAMPLE_SITEURL_DEV
    )
    after = ids_by_link(tmp_path / "after")
    old_link = f"{SAMPLE_SITEURL_DEV}/updates/2025/a-published-post/"
    new_link = f"{SAMPLE_SITEURL_DEV}/updates/2025/renamed/"
    assert old_link in before and new_link in after and old_link not in after
    assert after[new_link] == before[old_link]
    assert sorted(after.values()) == sorted(before.values())


def test_an_explicit_id_is_kept_when_the_file_moves(tmp_path):
    content = fixture_copy(tmp_path)
    build(
        "pelicanconf.py", tmp_path / "before", path=content, SITEURL=SAMPLE_SITEURL_DEV
    )
    old_id = ids_by_link(tmp_path / "before")[
        f"{SAMPLE_SITEURL_DEV}/updates/2025/a-published-post/"
    ]
    source = content / "posts/2025-05-01-published.md"
    moved = content / "posts/2025-05-01-moved.md"
    moved.write_text(
        source.read_text(encoding="utf-8").replace(
            "---\ntitle", f"---\nid: {old_id}\ntitle", 1
        ),
        encoding="utf-8",
    )
    source.unlink()
    build(
        "pelicanconf.py", tmp_path / "after", path=content, SITEURL=SAMPLE_SITEURL_DEV
    )
    assert (
        ids_by_link(tmp_path / "after")[
            f"{SAMPLE_SITEURL_DEV}/updates/2025/a-published-post/"
        ]
        == old_id
    )


def test_characters_xml_forbids_are_removed_and_logged(tmp_path):
    content = fixture_copy(tmp_path)
    post = content / "posts/2025-05-01-published.md"
    text = post.read_text(encoding="utf-8")
    text = text.replace(
        "title: A published post", 'title: "A post\\x01 with\\x0b controls"'
    )
    text = text.replace("summary: Published.", 'summary: "Bell\\x07 and \\uFFFE here"')
    text = text.rstrip() + "\n\nA form feed \x0c and an escape \x1b in the body.\n"
    post.write_text(text, encoding="utf-8")
    log = build(
        "pelicanconf.py", tmp_path / "out", path=content, SITEURL=SAMPLE_SITEURL_DEV
    )
    for feed in feed_files(tmp_path / "out"):
        assert check_feed(feed) == [], feed
    titles = [
        e.findtext(f"{ATOM}title")
        for e in atom_entries(tmp_path / "out/feeds/all.atom.xml")
    ]
    assert "A post with controls" in titles
    warnings = [m for m in log.messages() if "XML does not allow" in m]
    assert warnings and all("posts/2025-05-01-published.md" in m for m in warnings)
    assert any(": title:" in m for m in warnings)
    assert any(": content:" in m for m in warnings)


def test_xml_safe_keeps_what_xml_allows():
    text = "Tab\tnew\nline\rcafé 😀 \ud7ff"
    assert xml_safe(text, "x") == text
    assert xml_safe("a\x00b\x1fc\ufffed\ud800e", "x") == "abcde"


def test_summary_only_and_the_item_limit(tmp_path):
    build("pelicanconf.py", tmp_path, path=FIXTURE_SITE, SITEURL=SAMPLE_SITEURL_DEV,
          LAB_FEEDS_SUMMARY_ONLY=True, LAB_FEEDS_MAX_ITEMS=1)  # fmt: skip
    entries = atom_entries(tmp_path / "feeds/all.atom.xml")
    assert len(entries) == 1
    assert entries[0].find(f"{ATOM}content") is None
    assert entries[0].find(f"{ATOM}summary") is not None
    item = rss_items(tmp_path / "feeds/all.rss.xml")[0]
    assert item.find("{http://purl.org/rss/1.0/modules/content/}encoded") is None
    data = json.loads((tmp_path / "feeds/all.json").read_text(encoding="utf-8"))
    assert len(data["items"]) == 1


def test_pelicans_own_feeds_must_stay_off(tmp_path):
    with pytest.raises(SettingsError, match="FEED_ALL_ATOM"):
        build("pelicanconf.py", tmp_path, path=FIXTURE_SITE,
              FEED_ALL_ATOM="feeds/pelican.atom.xml")  # fmt: skip


def test_feeds_do_not_depend_on_the_build_machines_time_zone(tmp_path):
    build(
        "pelicanconf.py",
        tmp_path / "london",
        path=FIXTURE_SITE,
        SITEURL=SAMPLE_SITEURL_DEV,
    )
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        build(
            "pelicanconf.py",
            tmp_path / "la",
            path=FIXTURE_SITE,
            SITEURL=SAMPLE_SITEURL_DEV,
        )
    finally:
        if previous is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous
        time.tzset()
    for feed in feed_files(tmp_path / "london"):
        twin = tmp_path / "la" / feed.relative_to(tmp_path / "london")
        assert feed.read_bytes() == twin.read_bytes(), feed.name


def test_rss_guid_is_a_permalink_only_when_it_is_the_link():
    meta = FeedMeta("all", "all", "T", "D", "https://x.org/", "https://x.org/a.atom.xml",
                    "https://x.org/a.rss.xml", "a.atom.xml", "a.rss.xml")  # fmt: skip
    when = dt.datetime(2025, 1, 1, tzinfo=UTC)
    items = [
        FeedItem("https://x.org/p/", "P", "https://x.org/p/", when, when, "<p>s</p>",
                 None, (Person("A"),)),
        FeedItem("tag:x.org,2025:q", "Q", "https://x.org/q/", when, when, "<p>s</p>",
                 None, (Person("A"),)),
    ]  # fmt: skip
    fg = feed_generator(meta, items, "Site", "en-GB")
    root = etree.fromstring(fg.rss_str())
    guids = {g.text: g.get("isPermaLink") for g in root.iter("guid")}
    assert guids == {"https://x.org/p/": "true", "tag:x.org,2025:q": "false"}
