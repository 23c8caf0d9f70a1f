"""lab_common: absolute URLs, zone-aware dates, plain text."""

from __future__ import annotations

import datetime as dt

import html5lib
import pytest

from lab_common import (
    absolute_url,
    absolutise_html,
    aware,
    output_url,
    plain_text,
    truncate_words,
)

BASE = "https://lab.example.org/updates/2025/post/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("updates/2025/x/", "https://lab.example.org/updates/2025/x/"),
        ("/theme/a.png", "https://lab.example.org/theme/a.png"),
        ("", "https://lab.example.org/"),
        ("https://other.example/x", "https://other.example/x"),
        ("mailto:lab@example.org", "mailto:lab@example.org"),
    ],
)
def test_absolute_url(url, expected):
    assert absolute_url("https://lab.example.org/", url) == expected


def test_every_url_attribute_in_a_fragment_becomes_absolute():
    fragment = (
        'Intro <p><a href="../other/">o</a> <a href="#part">p</a> '
        '<a href="mailto:a@b.org">m</a>'
        '<img src="../../../images/a.svg" srcset="a.png 1x, /b.png 2x" alt="A">'
        '<picture><source srcset="c.webp"></picture></p>'
    )
    result = absolutise_html(fragment, BASE)
    tree = html5lib.parse(result, treebuilder="etree", namespaceHTMLElements=False)
    hrefs = [a.get("href") for a in tree.iter("a")]
    assert hrefs == [
        "https://lab.example.org/updates/2025/other/",
        "#part",
        "mailto:a@b.org",
    ]
    img = next(tree.iter("img"))
    assert img.get("src") == "https://lab.example.org/images/a.svg"
    assert img.get("srcset") == (
        "https://lab.example.org/updates/2025/post/a.png 1x, "
        "https://lab.example.org/b.png 2x"
    )
    assert next(tree.iter("source")).get("srcset") == BASE + "c.webp"
    assert result.startswith("Intro <p>")


def test_a_fragment_without_urls_is_returned_unchanged():
    assert (
        absolutise_html("<p>Plain &amp; simple</p>", BASE)
        == "<p>Plain &amp; simple</p>"
    )


def test_naive_dates_are_in_the_site_zone_and_aware_ones_keep_their_instant():
    london = aware(dt.datetime(2025, 7, 1, 9, 30), "Europe/London")
    assert london.utcoffset() == dt.timedelta(hours=1)
    winter = aware(dt.date(2025, 1, 10), "Europe/London")
    assert winter.utcoffset() == dt.timedelta(0) and winter.hour == 0
    fixed = dt.datetime(2025, 7, 1, 9, 30, tzinfo=dt.UTC)
    assert aware(fixed, "Europe/London") == fixed
    assert type(aware(fixed, "Europe/London")) is dt.datetime


def test_plain_text_decodes_entities_and_drops_tags():
    assert plain_text("<p>Caf&eacute; &amp; <b>tea</b><script>x()</script></p>") == (
        "Café & tea"
    )
    assert plain_text("Fish &amp; chips") == "Fish & chips"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 200, "short"),
        ("The quick brown fox jumps over the lazy dog", 20, "The quick brown fox…"),
        ("Words, then more words", 12, "Words, then…"),
        ("Averyveryverylongword", 10, "Averyvery…"),
    ],
)
def test_truncate_words(text, limit, expected):
    result = truncate_words(text, limit)
    assert result == expected
    assert len(result) <= limit


@pytest.mark.parametrize(
    ("save_as", "url"),
    [
        ("index.html", "https://lab.example.org/"),
        ("updates/index.html", "https://lab.example.org/updates/"),
        ("updates/page/2/index.html", "https://lab.example.org/updates/page/2/"),
        ("404.html", "https://lab.example.org/404.html"),
        ("updates\\2025\\x\\index.html", "https://lab.example.org/updates/2025/x/"),
    ],
)
def test_output_url_is_the_public_address_of_an_output_file(save_as, url):
    assert output_url("https://lab.example.org", save_as) == url
