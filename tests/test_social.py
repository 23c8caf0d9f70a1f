"""lab_social's pure parts: descriptions, JSON-LD serialisation, the tags and
structured data of each kind of page, settings, the front-matter field, and
the card images (drawing, legibility, the cache)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from PIL import Image as PILImage

from lab_common import SettingsError
from lab_content.schema import validate
from lab_social.cards import (
    MARGIN,
    TITLE_MAX_LINES,
    TITLE_SIZES,
    Brand,
    CardSpec,
    LogoSpec,
    cached_png,
    contrast_ratio,
    draw_card,
    draw_logo,
    fit_title,
    hex_rgb,
    png_bytes,
)
from lab_social.generator import listing_title
from lab_social.meta import (
    Crumb,
    Event,
    Image,
    Page,
    Person,
    Site,
    describe,
    script_json,
    social_meta,
    structured_data,
)
from lab_social.settings import og_locale, social_settings

BRAND = Brand(background="#00585e", foreground="#ffffff", accent="#ffdd00")
LONDON = dt.timezone(dt.timedelta(hours=1))
SITE = Site(
    name="The Lab",
    url="https://lab.example.org/",
    description="We work on hard problems.",
    locale="en_GB",
    language="en-GB",
    logo=Image("https://lab.example.org/images/social/logo.png", 512, 512, "Logo"),
    twitter="@improvementlab",
    same_as=("https://social.example/@lab",),
    email="lab@example.org",
)
CARD = Image("https://lab.example.org/images/social/x.png", 1200, 630, "Card")
ADA = Person("Ada Lane", "https://lab.example.org/authors/ada/", twitter="@adalane",
             mastodon="@ada@social.example")  # fmt: skip
BEN = Person("Ben Cole", "https://lab.example.org/authors/ben/")
CARA = Person("Cara Díaz", "https://lab.example.org/authors/cara/", twitter="@cara",
              mastodon="@cara@mastodon.example")  # fmt: skip


def tags_of(meta: dict) -> list[tuple[str, str]]:
    return [(t["key"], t["content"]) for t in meta["tags"]]


def values(meta: dict, key: str) -> list[str]:
    return [content for k, content in tags_of(meta) if k == key]


def post(**changes) -> Page:
    fields = {
        "kind": "post",
        "url": "https://lab.example.org/updates/2025/x/",
        "title": "A post",
        "description": "What it says.",
        "image": CARD,
        "authors": (BEN, ADA, CARA),
        "published": dt.datetime(2025, 4, 10, 9, 30, tzinfo=LONDON),
        "section": "Research",
        "tags": ("peer support", "pilot"),
        "breadcrumbs": (
            Crumb("Home", "https://lab.example.org/"),
            Crumb("Updates", "https://lab.example.org/updates/"),
            Crumb("A post", "https://lab.example.org/updates/2025/x/"),
        ),
    }
    return Page(**(fields | changes))


# -- descriptions


@pytest.mark.parametrize(
    ("override", "summary", "expected"),
    [
        (None, "<p>Tom &amp; Amara&#8217;s <em>first</em> update.</p>",
         "Tom & Amara\u2019s first update."),
        ("Our own words.", "<p>The summary.</p>", "Our own words."),
        ("", "<p>Falls back when the override is empty.</p>",
         "Falls back when the override is empty."),
        (None, "Plain &lt;text&gt;", "Plain <text>"),
        (None, None, ""),
    ],
)  # fmt: skip
def test_description_prefers_front_matter_then_the_summary_as_plain_text(
    override, summary, expected
):
    assert describe(override, summary, 200) == expected


def test_description_is_cut_at_a_word_boundary_to_the_limit():
    words = "<p>" + " ".join(["peer support works"] * 30) + "</p>"
    text = describe(None, words, 200)
    assert len(text) <= 200
    assert text.endswith("…")
    assert text[:-1].split()[-1] in {"peer", "support", "works"}
    assert describe(None, "<p>short</p>", 200) == "short"


# -- serialisation


def test_json_ld_is_strict_json_that_cannot_end_its_script_element():
    hostile = '</script><script>alert("x")</script><!-- & \u2028'
    text = script_json({"headline": hostile, "n": 1})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text
    assert json.loads(text) == {"headline": hostile, "n": 1}
    with pytest.raises(ValueError):
        script_json({"bad": float("nan")})


# -- tags


def test_a_post_has_every_open_graph_and_twitter_tag():
    meta = social_meta(post(), SITE)
    keys = [k for k, _ in tags_of(meta)]
    for key in (
        "og:title", "og:type", "og:url", "og:site_name", "og:locale",
        "og:description", "og:image", "og:image:width", "og:image:height",
        "og:image:alt", "article:published_time", "article:modified_time",
        "article:section", "twitter:card", "twitter:site", "twitter:creator",
        "twitter:title", "twitter:description", "twitter:image", "twitter:image:alt",
    ):  # fmt: skip
        assert keys.count(key) == 1, key
    assert values(meta, "og:type") == ["article"]
    assert values(meta, "article:tag") == ["peer support", "pilot"]
    assert values(meta, "article:published_time") == ["2025-04-10T09:30:00+01:00"]
    # Not modified: the modified time is the published time.
    assert values(meta, "article:modified_time") == ["2025-04-10T09:30:00+01:00"]
    assert values(meta, "og:image:width") == ["1200"]
    assert values(meta, "twitter:card") == ["summary_large_image"]
    assert meta["canonical"] == "https://lab.example.org/updates/2025/x/"
    attributes = {t["key"]: t["attribute"] for t in meta["tags"]}
    assert attributes["og:title"] == "property"
    assert attributes["twitter:card"] == "name"


def test_twitter_creator_is_the_first_author_with_a_handle_and_never_a_name():
    meta = social_meta(post(authors=(BEN, ADA, CARA)), SITE)
    assert values(meta, "twitter:creator") == ["@adalane"]
    assert values(meta, "fediverse:creator") == ["@ada@social.example",
                                                 "@cara@mastodon.example"]  # fmt: skip
    nobody = social_meta(post(authors=(BEN,)), SITE)
    assert values(nobody, "twitter:creator") == []
    assert values(nobody, "fediverse:creator") == []
    assert "Ben Cole" not in [c for _, c in tags_of(nobody) if _.startswith("twitter")]


def test_without_an_image_the_card_is_the_small_summary():
    meta = social_meta(post(image=None), SITE)
    assert values(meta, "twitter:card") == ["summary"]
    assert values(meta, "og:image") == []


def test_pages_other_than_posts_have_no_article_tags_or_creators():
    page = post(kind="page", authors=(), published=None, section=None, tags=())
    meta = social_meta(page, SITE)
    assert values(meta, "og:type") == ["website"]
    assert not [k for k, _ in tags_of(meta) if k.startswith("article:")]
    assert values(meta, "twitter:site") == ["@improvementlab"]


# -- structured data


def by_type(blocks: list[dict]) -> dict[str, dict]:
    return {b["@type"]: b for b in blocks}


def test_home_has_the_organization_with_its_logo_and_the_website():
    home = Page(kind="home", url=SITE.url, title="The Lab", description="d",
                image=CARD)  # fmt: skip
    blocks = by_type(structured_data(home, SITE))
    assert set(blocks) == {"Organization", "WebSite"}
    organization = blocks["Organization"]
    assert organization["logo"]["url"] == SITE.logo.url
    assert organization["logo"]["width"] == 512
    assert organization["sameAs"] == ["https://social.example/@lab"]
    assert blocks["WebSite"]["publisher"] == {"@id": organization["@id"]}
    assert all(b["@context"] == "https://schema.org" for b in blocks.values())


def test_a_post_is_a_blog_posting_by_every_author_from_the_publisher():
    blocks = by_type(structured_data(post(), SITE))
    assert set(blocks) == {"BlogPosting", "BreadcrumbList"}
    posting = blocks["BlogPosting"]
    assert [a["name"] for a in posting["author"]] == ["Ben Cole", "Ada Lane",
                                                      "Cara Díaz"]  # fmt: skip
    assert all(a["@type"] == "Person" and a["url"] for a in posting["author"])
    assert posting["publisher"]["@type"] == "Organization"
    assert posting["publisher"]["logo"]["height"] == 512
    assert posting["mainEntityOfPage"]["@id"] == posting["url"]
    assert posting["datePublished"] == posting["dateModified"]
    assert posting["image"]["width"] == 1200
    crumbs = blocks["BreadcrumbList"]["itemListElement"]
    assert [(c["position"], c["name"]) for c in crumbs] == [
        (1, "Home"), (2, "Updates"), (3, "A post")]  # fmt: skip


def test_a_call_is_a_creative_work_that_expires_when_it_closes():
    closes = dt.datetime(2027, 1, 29, 17, tzinfo=dt.UTC)
    call = Page(
        kind="call", url="https://lab.example.org/get-involved/x/", title="Come",
        description="d", image=CARD, expires=closes, audience="Anyone",
        status="Open",
        event=Event("A day", dt.datetime(2027, 2, 18, 13, tzinfo=dt.UTC), "A hall"),
    )  # fmt: skip
    blocks = by_type(structured_data(call, SITE))
    assert blocks["CreativeWork"]["expires"] == "2027-01-29T17:00:00+00:00"
    assert blocks["CreativeWork"]["audience"]["audienceType"] == "Anyone"
    assert blocks["Event"]["startDate"] == "2027-02-18T13:00:00+00:00"
    assert blocks["Event"]["location"]["name"] == "A hall"


def test_a_challenge_is_a_project_of_the_lab_with_its_team():
    challenge = Page(
        kind="challenge", url="https://lab.example.org/challenges/x/", title="Q?",
        description="d", image=CARD, team=(ADA, BEN),
    )  # fmt: skip
    project = by_type(structured_data(challenge, SITE))["Project"]
    assert [m["name"] for m in project["member"]] == ["Ada Lane", "Ben Cole"]
    assert project["parentOrganization"]["name"] == "The Lab"


# -- adapters and settings


def test_listing_titles_drop_the_site_name_that_og_site_name_carries():
    assert listing_title("Posts tagged pilot \u2013 The Lab", "The Lab") == (
        "Posts tagged pilot"
    )
    assert listing_title("The Lab", "The Lab") == "The Lab"


@pytest.mark.parametrize(
    ("language", "locale"), [("en-GB", "en_GB"), ("en-gb", "en_GB"), ("cy", "cy")]
)
def test_og_locale_comes_from_the_language(language, locale):
    assert og_locale(language) == locale


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"LAB_TWITTER_SITE": "improvementlab"}, "LAB_TWITTER_SITE"),
        ({"LAB_TWITTER_SITE": "The Improvement Lab"}, "LAB_TWITTER_SITE"),
        ({"LAB_SOCIAL_CARD_FOREGROUND": "#4a8a8f"}, "LAB_SOCIAL_CARD_FOREGROUND"),
        ({"LAB_SOCIAL_CARD_ACCENT": "#00585f"}, "LAB_SOCIAL_CARD_ACCENT"),
        ({"LAB_SOCIAL_CARD_BACKGROUND": "teal"}, "LAB_SOCIAL_CARD_BACKGROUND"),
        ({"LAB_SOCIAL_LOCALE": "English"}, "LAB_SOCIAL_LOCALE"),
        ({"LAB_SOCIAL_DESCRIPTION_LENGTH": "200"}, "LAB_SOCIAL_DESCRIPTION_LENGTH"),
        ({"LAB_SOCIAL_CACHE_PATH": ""}, "LAB_SOCIAL_CACHE_PATH"),
    ],
)
def test_a_bad_setting_is_refused_by_name(override, key):
    with pytest.raises(SettingsError, match=key):
        social_settings({"DEFAULT_LANG": "en-GB", **override})


def test_settings_defaults_and_the_derived_locale():
    merged = social_settings({"DEFAULT_LANG": "en-GB", "LAB_TWITTER_SITE": "@lab"})
    assert merged["LAB_SOCIAL_LOCALE"] == "en_GB"
    assert merged["LAB_TWITTER_SITE"] == "@lab"
    assert merged["LAB_SOCIAL_DESCRIPTION_LENGTH"] == 200


# -- the front-matter field (lab_content's schema)


BASE_POST = {
    "title": "T", "date": "2025-04-10", "authors": ["a"], "category": "Research",
    "summary": "S",
}  # fmt: skip


@pytest.mark.parametrize("kind", ["post", "page", "challenge", "call"])
def test_every_content_type_takes_the_social_field(kind):
    from lab_content.schema import SCHEMAS

    assert "social" in SCHEMAS[kind]


def test_social_front_matter_is_checked():
    ok, problems = validate(
        "post",
        {**BASE_POST, "social": {"title": "Shared", "description": "D",
                                 "image": {"src": "images/a.png", "alt": "A"}}},
    )  # fmt: skip
    assert problems == []
    assert ok["social"]["image"] == {"src": "images/a.png", "alt": "A"}
    for social, field, reason in (
        ({"image": {"src": "images/a.svg", "alt": "A"}}, "social.image.src",
         "not a PNG"),
        ({"image": {"src": "images/a.png"}}, "social.image.alt", "is required"),
        ({"titel": "typo"}, "social.titel", "unknown field"),
        ({"title": ""}, "social.title", "must not be empty"),
        ({}, "social", "at least one"),
        ("just text", "social", "expected a mapping"),
    ):  # fmt: skip
        _, problems = validate("post", {**BASE_POST, "social": social})
        assert len(problems) == 1, problems
        assert problems[0][0] == field and reason in problems[0][1], problems


# -- card images


def test_card_colours_have_a_readable_contrast():
    assert contrast_ratio("#ffffff", "#00585e") == pytest.approx(8.21, abs=0.01)
    assert contrast_ratio("#ffdd00", "#00585e") >= 4.5
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)


def test_a_card_is_1200_by_630_with_the_title_inside_its_margins():
    spec = CardSpec(title="What is an Improvement Lab?", site_name="The Lab",
                    brand=BRAND, label="Update")  # fmt: skip
    image = draw_card(spec)
    assert image.size == (1200, 630)
    assert image.mode == "RGB"
    background = hex_rgb(BRAND.background)
    foreground = hex_rgb(BRAND.foreground)
    # Nothing but background in the side margins above the accent bar.
    for x in (*range(0, MARGIN - 4, 7), *range(1200 - MARGIN + 4, 1200, 7)):
        for y in range(0, 600, 7):
            assert image.getpixel((x, y)) == background, (x, y)
    # The title is drawn in the text colour, large.
    title_area = image.crop((MARGIN, 200, 1200 - MARGIN, 600))
    colours = {colour: count for count, colour in title_area.getcolors(1 << 20)}
    assert colours.get(foreground, 0) > 2000
    size, lines = fit_title(spec.title, 1200 - 2 * MARGIN, 330)
    assert size == TITLE_SIZES[0] and " ".join(lines) == spec.title


def test_a_very_long_title_shrinks_then_ends_with_an_ellipsis():
    size, lines = fit_title("word " * 200, 1040, 330)
    assert size == TITLE_SIZES[-1] >= 44
    assert len(lines) <= TITLE_MAX_LINES
    assert lines[-1].endswith("…")
    medium = "What would it take for peer support to be available to everyone"
    size, lines = fit_title(medium, 1040, 330)
    assert TITLE_SIZES[-1] <= size and len(lines) <= TITLE_MAX_LINES
    assert " ".join(lines) == medium


def test_the_same_inputs_give_the_same_bytes_and_key():
    spec = CardSpec(title="Same", site_name="The Lab", brand=BRAND)
    assert png_bytes(draw_card(spec)) == png_bytes(draw_card(spec))
    assert spec.key() == CardSpec(title="Same", site_name="The Lab", brand=BRAND).key()
    for other in (
        CardSpec(title="Other", site_name="The Lab", brand=BRAND),
        CardSpec(title="Same", site_name="Another Lab", brand=BRAND),
        CardSpec(title="Same", site_name="The Lab", brand=BRAND, label="Update"),
        CardSpec(title="Same", site_name="The Lab",
                 brand=Brand("#003b3f", "#ffffff", "#ffdd00")),
    ):  # fmt: skip
        assert other.key() != spec.key()


def test_the_logo_is_a_square_png_of_the_brand():
    image = draw_logo(LogoSpec(BRAND))
    assert image.size == (512, 512)
    assert image.getpixel((5, 5)) == hex_rgb(BRAND.background)


def test_the_cache_draws_an_image_only_once(tmp_path):
    calls = []

    def draw():
        calls.append(1)
        return draw_card(CardSpec(title="Once", site_name="The Lab", brand=BRAND))

    key = CardSpec(title="Once", site_name="The Lab", brand=BRAND).key()
    path, drawn = cached_png(key, draw, tmp_path)
    assert drawn and len(calls) == 1
    stamp = path.stat().st_mtime_ns
    again, drawn = cached_png(key, draw, tmp_path)
    assert (again, drawn, len(calls)) == (path, False, 1)
    assert path.stat().st_mtime_ns == stamp
    with PILImage.open(path) as image:
        assert image.format == "PNG" and image.size == (1200, 630)
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.png"]
