"""lab_social on built sites: the sample content with both configs, read back as
a social network's card checker would (tests/socialcheck.py), and fixture sites
built to exercise images, hostile text and the card cache."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import (
    FIXTURES,
    SAMPLE,
    SAMPLE_SITEURL_DEV,
    SAMPLE_SITEURL_PROD,
    SAMPLE_TODAY,
    build,
    html_files,
    parse_html,
    site_pages,
)
from pelican import signals
from PIL import Image as PILImage
from socialcheck import (
    breadcrumb_problems,
    check_site_social,
    load_profiles,
    local_file,
    page_url,
    read_head,
)

from lab_common import plain_text, truncate_words
from lab_content.frontmatter import split_front_matter
from lab_content.generator import ContentValidationError
from lab_social.generator import SocialGenerator

SITES = {"dev_site": SAMPLE_SITEURL_DEV, "prod_site": SAMPLE_SITEURL_PROD}
CONTENT = SAMPLE


@pytest.fixture(params=sorted(SITES))
def site(request):
    output, _ = request.getfixturevalue(request.param)
    return output, SITES[request.param]


@contextmanager
def social_generators() -> Iterator[list[SocialGenerator]]:
    """The SocialGenerator of each build run inside the block, to read what it
    drew. Pelican keeps weak references to receivers: `keep` lives until the
    block ends."""
    found: list[SocialGenerator] = []

    def keep(generators):
        found.extend(g for g in generators if isinstance(g, SocialGenerator))

    signals.all_generators_finalized.connect(keep)
    try:
        yield found
    finally:
        signals.all_generators_finalized.disconnect(keep)


def front_matter(folder: str) -> list[dict]:
    items = []
    for path in sorted((CONTENT / folder).glob("*.md")):
        data, _ = split_front_matter(path.read_text(encoding="utf-8"))
        items.append(data)
    return items


def published_posts() -> list[dict]:
    return [
        p
        for p in front_matter("posts")
        if p.get("status", "published") == "published"
        and dt.datetime.fromisoformat(str(p["date"])) <= SAMPLE_TODAY
    ]


def markdown_text(source: str) -> str:
    """The plain text of a front-matter summary (Markdown)."""
    import markdown

    return plain_text(markdown.markdown(source))


# -- the sample site, every page


def test_every_page_of_the_sample_site_passes_the_social_checks(site):
    output, siteurl = site
    pages = html_files(output)
    assert len(pages) > 40
    assert check_site_social(output, siteurl, load_profiles(SAMPLE)) == []


def test_twitter_site_and_creator_are_handles_from_the_settings_and_authors(site):
    output, _ = site
    handles = {p["twitter"] for p in load_profiles(SAMPLE).values() if p["twitter"]}
    creators = []
    # Pages at old addresses (lab_redirects) are not shared: socialcheck
    # checks they carry no sharing tags.
    for page in site_pages(output):
        head = read_head(page)
        assert head.values("twitter:site") == ["@improvementlab"], page
        for creator in head.values("twitter:creator"):
            assert creator.startswith("@") and creator in handles, (page, creator)
            creators.append(creator)
    assert creators, "some sample posts have an author with a Twitter handle"


def test_json_ld_breadcrumbs_match_the_visible_ones_on_every_page(site):
    output, siteurl = site
    with_crumbs = 0
    for page in html_files(output):
        head = read_head(page)
        if head.breadcrumbs is not None:
            with_crumbs += 1
            assert head.blocks("BreadcrumbList"), page
        assert breadcrumb_problems(head, page_url(output, page, siteurl)) == []
    assert with_crumbs > 30


def test_each_post_shares_its_title_description_authors_and_dates(prod_site):
    output, _ = prod_site
    profiles = load_profiles(SAMPLE)
    posts = published_posts()
    assert len(posts) >= 10
    for post in posts:
        year = str(post["date"])[:4]
        page = output / "updates" / year / post["slug"] / "index.html"
        head = read_head(page)
        social = post.get("social", {})
        assert head.value("og:title") == social.get("title", post["title"])
        expected = truncate_words(
            social.get("description") or markdown_text(post["summary"]), 200
        )
        assert head.descriptions == [expected]
        assert head.value("og:description") == expected
        (posting,) = head.blocks("BlogPosting")
        assert posting["headline"] == post["title"]
        keys = (
            post["authors"] if isinstance(post["authors"], list) else [post["authors"]]
        )
        assert [a["name"] for a in posting["author"]] == [
            profiles[k]["name"] for k in keys
        ]
        assert [a["url"] for a in posting["author"]] == [
            f"{SAMPLE_SITEURL_PROD}/authors/{k}/" for k in keys
        ]
        twitter = [profiles[k]["twitter"] for k in keys if profiles[k]["twitter"]]
        assert head.values("twitter:creator") == twitter[:1]
        mastodon = [profiles[k]["mastodon"] for k in keys if profiles[k]["mastodon"]]
        assert head.values("fediverse:creator") == mastodon
        published = dt.datetime.fromisoformat(posting["datePublished"])
        assert published == dt.datetime.fromisoformat(str(post["date"]))
        # The latest change note (midnight in the site's zone), never the
        # technical `modified` (issue 18: a typo fixed is no change).
        modified = published
        if post.get("changes"):
            latest = max(change["date"] for change in post["changes"])
            modified = max(
                published,
                dt.datetime.combine(latest, dt.time(), ZoneInfo("Europe/London")),
            )
        assert (
            dt.datetime.fromisoformat(head.value("article:modified_time")) == modified
        )
        assert head.value("article:section") == post["category"]
        tags = post.get("tags", [])
        assert head.values("article:tag") == (
            tags if isinstance(tags, list) else [tags]
        )


def test_challenges_calls_pages_and_home_have_their_structured_data(prod_site):
    output, _ = prod_site
    siteurl = SAMPLE_SITEURL_PROD
    for challenge in front_matter("challenges"):
        head = read_head(output / "challenges" / challenge["slug"] / "index.html")
        (project,) = head.blocks("Project")
        assert project["name"] == " ".join(challenge["title"].split())
        assert [m["name"] for m in project["member"]] == [
            load_profiles(SAMPLE)[k]["name"] for k in challenge["team"]
        ]
        assert head.value("og:title") == challenge.get("social", {}).get(
            "title", challenge["title"]
        )
    for call in front_matter("get-involved"):
        head = read_head(output / "get-involved" / call["slug"] / "index.html")
        (work,) = head.blocks("CreativeWork")
        closes = call["closes"]
        closes = (
            closes
            if isinstance(closes, dt.datetime)
            else dt.datetime.fromisoformat(closes)
        )
        assert dt.datetime.fromisoformat(work["expires"]) == closes
        assert bool(head.blocks("Event")) == ("event" in call["respond"])
    for page in front_matter("pages"):
        target = page.get("save_as") or f"{page['slug']}/index.html"
        head = read_head(output / target)
        (web_page,) = head.blocks("WebPage")
        assert web_page["name"] == page["title"]
    home = read_head(output / "index.html")
    assert {b["@type"] for b in home.json_ld} == {"Organization", "WebSite"}
    (organization,) = home.blocks("Organization")
    logo = local_file(output, siteurl, organization["logo"]["url"])
    with PILImage.open(logo) as image:
        assert image.format == "PNG"
        assert image.size == (
            organization["logo"]["width"],
            organization["logo"]["height"],
        )


def test_svg_images_give_way_to_a_drawn_png_card(prod_site):
    output, _ = prod_site
    siteurl = SAMPLE_SITEURL_PROD
    # This post's front-matter image is an SVG, which networks do not show.
    head = read_head(output / "updates/2025/first-challenge/index.html")
    image = head.value("og:image")
    assert image.startswith(f"{siteurl}/images/social/first-challenge-")
    with PILImage.open(local_file(output, siteurl, image)) as card:
        assert (card.format, card.size) == ("PNG", (1200, 630))
    assert head.value("og:image:alt").endswith(
        "Update: Our first challenge: peer support for everyone who wants it"
    )


# -- the card cache


def card_files(output: Path) -> dict[str, bytes]:
    folder = output / "images" / "social"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_a_second_build_draws_no_card_image_and_a_changed_title_one(
    tmp_path, site_copy
):
    cache = tmp_path / "cache"
    with social_generators() as found:
        build("publishconf.py", tmp_path / "cold", SITEURL=SAMPLE_SITEURL_PROD,
              LAB_SOCIAL_CACHE_PATH=str(cache))  # fmt: skip
        build("publishconf.py", tmp_path / "warm", SITEURL=SAMPLE_SITEURL_PROD,
              LAB_SOCIAL_CACHE_PATH=str(cache))  # fmt: skip
    cold, warm = found
    # Cold: every post, challenge, call and page has a card, plus the site's
    # card and the publisher's logo.
    assert len(cold.drawn) == len(set(cold.drawn)) >= 20
    assert cold.reused == []
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(stamps) == len(cold.drawn)
    # Warm: nothing drawn, the same images taken from the cache, untouched.
    assert warm.drawn == []
    assert sorted(warm.reused) == sorted(cold.drawn)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    assert card_files(tmp_path / "warm") == card_files(tmp_path / "cold")

    # One post's title changes: its card, and only its card, is drawn.
    post = site_copy / "posts" / "2025-05-22-what-the-evidence-says.md"
    text = post.read_text(encoding="utf-8")
    post.write_text(
        text.replace("title: What the evidence says about peer support",
                     "title: What the evidence tells us about peer support"),
        encoding="utf-8",
    )  # fmt: skip
    with social_generators() as found:
        build(
            "publishconf.py",
            tmp_path / "changed",
            path=site_copy,
            SITEURL=SAMPLE_SITEURL_PROD,
            LAB_SOCIAL_CACHE_PATH=str(cache),
        )
    (changed,) = found
    assert len(changed.drawn) == 1
    assert changed.drawn[0].startswith("images/social/what-the-evidence-says-")


# -- fixture sites: images, hostile text, bad front matter


def png(path: Path, size: tuple[int, int], kind: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", size, (200, 120, 40)).save(path, kind)


@pytest.fixture
def image_site(tmp_path) -> Path:
    """The fixture site with raster images: one post overrides its share
    image, one has its own JPEG, one shows a PNG in its text; the challenge
    keeps an SVG."""
    site = tmp_path / "content"
    shutil.copytree(FIXTURES / "site", site)
    png(site / "images" / "share.png", (800, 418))
    png(site / "images" / "own.jpg", (640, 480), "JPEG")
    png(site / "images" / "inline.png", (300, 200))
    posts = site / "posts"
    (posts / "2025-06-01-an-override.md").write_text(
        "---\ntitle: An override\ndate: 2025-06-01T10:00:00+01:00\n"
        "authors: [ben-cole, ada-lane]\ncategory: Research\nsummary: Original.\n"
        "image: {src: images/own.jpg, alt: Not this one}\n"
        "social:\n  title: What a share shows\n  description: Said in a share.\n"
        "  image: {src: images/share.png, alt: A picture for sharing}\n---\nText.\n",
        encoding="utf-8",
    )
    (posts / "2025-06-02-its-own-picture.md").write_text(
        "---\ntitle: Its own picture\ndate: 2025-06-02T10:00:00+01:00\n"
        "authors: [ben-cole]\ncategory: Research\nsummary: Own.\n"
        "image: {src: images/own.jpg, alt: A photograph of the workshop}\n---\n"
        "Text.\n",
        encoding="utf-8",
    )
    (posts / "2025-06-03-a-picture-in-the-text.md").write_text(
        "---\ntitle: A picture in the text\ndate: 2025-06-03T10:00:00+01:00\n"
        "authors: [ada-lane]\ncategory: Research\nsummary: Inline.\n---\n"
        "![A picture on another host](https://other.example/remote.png)\n\n"
        "![A chart of the results]({static}/images/inline.png)\n",
        encoding="utf-8",
    )
    return site


def test_images_come_from_front_matter_then_the_text_then_a_card(tmp_path, image_site):
    output = tmp_path / "output"
    log = build("pelicanconf.py", output, path=image_site, SITEURL=SAMPLE_SITEURL_DEV,
                LAB_SOCIAL_CACHE_PATH=str(tmp_path / "cache"))  # fmt: skip
    assert log.messages() == []
    base = f"{SAMPLE_SITEURL_DEV}/images/"
    expected = {
        "updates/2025/an-override/": (base + "share.png", "800", "418",
                                      "A picture for sharing", "image/png"),
        "updates/2025/its-own-picture/": (base + "own.jpg", "640", "480",
                                          "A photograph of the workshop",
                                          "image/jpeg"),
        "updates/2025/a-picture-in-the-text/": (base + "inline.png", "300", "200",
                                                "A chart of the results",
                                                "image/png"),
    }  # fmt: skip
    for path, (url, width, height, alt, mime) in expected.items():
        head = read_head(output / path / "index.html")
        got = tuple(
            head.value(k)
            for k in ("og:image", "og:image:width", "og:image:height",
                      "og:image:alt", "og:image:type")
        )  # fmt: skip
        assert got == (url, width, height, alt, mime), path
        assert head.value("twitter:image") == url
    override = read_head(output / "updates/2025/an-override/index.html")
    assert override.value("og:title") == "What a share shows"
    assert override.descriptions == ["Said in a share."]
    assert override.titles == ["An override \u2013 The Improvement Lab"]
    (posting,) = override.blocks("BlogPosting")
    assert posting["headline"] == "An override"
    assert override.values("twitter:creator") == ["@adalane"]
    # The challenge's own image is an SVG: it gets a card.
    challenge = read_head(output / "challenges/fixture-challenge/index.html")
    assert challenge.value("og:image").startswith(base + "social/fixture-challenge-")
    profiles = load_profiles(image_site)
    assert check_site_social(output, SAMPLE_SITEURL_DEV, profiles) == []


def test_hostile_titles_and_summaries_stay_inside_their_tags(tmp_path):
    site = tmp_path / "content"
    shutil.copytree(FIXTURES / "site", site)
    title = '</script><script>alert("t")</script> Q&A <b>bold</b> "quoted" \u2028'
    (site / "posts" / "2025-06-01-hostile.md").write_text(
        "---\ntitle: " + json.dumps(title) + "\ndate: 2025-06-01T10:00:00+01:00\n"
        "authors: [ada-lane]\ncategory: Research\nslug: hostile\n"
        "summary: 'Fish &amp; chips <script>alert(\"s\")</script> &lt;b&gt;'\n---\n"
        "Text.\n",
        encoding="utf-8",
    )
    output = tmp_path / "output"
    build("pelicanconf.py", output, path=site, SITEURL=SAMPLE_SITEURL_DEV,
          LAB_SOCIAL_CACHE_PATH=str(tmp_path / "cache"))  # fmt: skip
    page = output / "updates/2025/hostile/index.html"
    head = read_head(page)
    assert head.json_errors == []
    (posting,) = head.blocks("BlogPosting")
    assert posting["headline"] == " ".join(title.split())
    assert head.value("og:title") == " ".join(title.split())
    assert head.descriptions == ["Fish & chips <b>"]
    # The only inline scripts are our JSON-LD: the title opened none of its own.
    inline = [s for s in parse_html(page).iter("script") if not s.get("src")]
    assert len(inline) == len(head.json_ld) == 2
    assert all(s.get("type") == "application/ld+json" for s in inline)
    assert check_site_social(output, SAMPLE_SITEURL_DEV, load_profiles(site)) == []


def test_a_social_image_networks_cannot_show_stops_the_build(site_copy, tmp_path):
    about = site_copy / "pages" / "about.md"
    text = about.read_text(encoding="utf-8")
    about.write_text(
        text.replace(
            "social:\n",
            "social:\n  image: {src: images/workshop.svg, alt: A workshop}\n",
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(ContentValidationError) as caught:
        build("pelicanconf.py", tmp_path / "out", path=site_copy,
              SITEURL=SAMPLE_SITEURL_DEV)  # fmt: skip
    assert (
        "pages/about.md: social.image.src: 'images/workshop.svg' is not a PNG"
        in str(caught.value)
    )


# -- the checker itself fails when it should


def edit(path: Path, old: str, new: str) -> None:
    # Breaking a built page on purpose, not reading HTML: a replacement is enough.
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_checker_names_each_broken_tag(prod_site, tmp_path):
    output, _ = prod_site
    siteurl = SAMPLE_SITEURL_PROD
    site = tmp_path / "site"
    shutil.copytree(output, site)
    post = site / "updates/2025/first-challenge/index.html"
    head = read_head(post)
    width = head.value("og:image:width")
    edit(post, f'<meta property="og:image:width" content="{width}">',
         '<meta property="og:image:width" content="1201">')  # fmt: skip
    edit(post, '<meta name="twitter:creator" content="@amara_lab">',
         '<meta name="twitter:creator" content="Amara Okafor">')  # fmt: skip
    edit(post, '"position":2,"name":"Updates"', '"position":2,"name":"News"')
    about = site / "about/index.html"
    image = read_head(about).value("og:image")
    relative = image.replace(siteurl, "")
    edit(about, f'<meta property="og:image" content="{image}">',
         f'<meta property="og:image" content="{relative}">')  # fmt: skip
    edit(about, '"@type":"WebPage"', '"@type":"WebPage","rating":NaN')
    home = site / "index.html"
    edit(home, '<meta name="twitter:site" content="@improvementlab">', "")
    problems = check_site_social(site, siteurl, load_profiles(SAMPLE))
    expected = [
        "updates/2025/first-challenge/index.html: og:image: ",
        "declared 1201x630, the file is 1200x630",
        "updates/2025/first-challenge/index.html: twitter:creator: 'Amara Okafor' "
        "is not a handle",
        "updates/2025/first-challenge/index.html: JSON-LD BreadcrumbList: ",
        "about/index.html: og:image: '/images/social/",
        "about/index.html: JSON-LD: not strict JSON",
        "index.html: twitter:site: missing",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) >= len(expected)
