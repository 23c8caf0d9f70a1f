"""Reviews and change notes (issue 18): the pure dates of lab_common.reviews,
every front-matter rule, the page's wording, JSON-LD and Open Graph, feed
dates that move only with a change note, and `make review-report`
(lab_reviews.report) on a fixture site with items overdue, due soon and fine."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, SAMPLE_TODAY, build, parse_html
from lab_reviews import report
from lxml import etree
from pelican.settings import read_settings

from lab_common import SettingsError
from lab_common.errors import ContentValidationError
from lab_common.reviews import (
    Change,
    Period,
    add_period,
    last_significant_change,
    next_review_due,
    parse_period,
    review_status,
)
from lab_content.reader import LabMarkdownReader
from lab_content.settings import lab_settings

FIXTURE_SITE = FIXTURES / "site"
POST = "posts/2025-05-01-published.md"
HTML = ""  # parse_html drops the namespace
ATOM = "{http://www.w3.org/2005/Atom}"
D = dt.date

# -- pure dates


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("12 months", Period(12, "months")),
        ("1 year", Period(1, "years")),
        ("6  Weeks", Period(6, "weeks")),
        ("30 days", Period(30, "days")),
    ],
)
def test_a_period_is_read(text, period):
    assert parse_period(text) == period


@pytest.mark.parametrize(
    "text", ["yearly", "0 months", "12", "-1 days", "2 fortnights"]
)
def test_a_period_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError, match="is not a period such as '12 months'"):
        parse_period(text)


@pytest.mark.parametrize(
    ("day", "period", "expected"),
    [
        (D(2025, 1, 31), "1 month", D(2025, 2, 28)),
        (D(2024, 1, 31), "1 month", D(2024, 2, 29)),
        (D(2025, 11, 15), "3 months", D(2026, 2, 15)),
        (D(2024, 2, 29), "1 year", D(2025, 2, 28)),
        (D(2025, 1, 1), "2 weeks", D(2025, 1, 15)),
        (D(2025, 1, 1), "10 days", D(2025, 1, 11)),
    ],
)
def test_a_period_is_added_by_the_calendar(day, period, expected):
    assert add_period(day, parse_period(period)) == expected


@pytest.mark.parametrize(
    ("due", "status"),
    [
        (D(2026, 11, 26), "overdue"),
        (D(2026, 11, 27), "due-soon"),
        (D(2026, 12, 27), "due-soon"),
        (D(2026, 12, 28), "ok"),
        (None, None),
    ],
)
def test_the_status_of_a_review_on_a_day(due, status):
    assert review_status(due, D(2026, 11, 27), soon_days=30) == status


def test_the_next_review_is_fixed_or_counted_from_the_last_review_or_change():
    every = Period(6, "months")
    kwargs = {"review_every": every, "last_change": D(2025, 3, 1)}
    assert next_review_due(reviewed=D(2025, 5, 1), next_review=None, **kwargs) == D(
        2025, 11, 1
    )
    assert next_review_due(reviewed=None, next_review=None, **kwargs) == D(2025, 9, 1)
    assert next_review_due(
        reviewed=None, review_every=None, next_review=D(2027, 1, 1), last_change=None
    ) == D(2027, 1, 1)
    assert (
        next_review_due(
            reviewed=None, review_every=every, next_review=None, last_change=None
        )
        is None
    )


def test_the_last_significant_change_is_the_latest_note_else_publication():
    changes = [Change(D(2025, 6, 1), "a"), Change(D(2025, 8, 1), "b")]
    assert last_significant_change(D(2025, 5, 1), changes) == D(2025, 8, 1)
    assert last_significant_change(D(2025, 5, 1), []) == D(2025, 5, 1)
    assert last_significant_change(None, []) is None


# -- front matter rules, file by file

POST_TEXT = (FIXTURE_SITE / POST).read_text(encoding="utf-8")


def with_fields(text: str, extra: str) -> str:
    """`text` (a file with front matter) with `extra` lines added to it."""
    head, _, rest = text.partition("\n---\n")
    return f"{head}\n{extra}---\n{rest}"


@pytest.fixture(scope="module")
def reader_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("reviews-reader") / "content"
    shutil.copytree(FIXTURE_SITE, site)
    settings = read_settings(str(ROOT / "pelicanconf.py"), override={"PATH": str(site)})
    return site, LabMarkdownReader({**lab_settings(settings), **settings})


def errors(reader_site, relative: str, text: str) -> list[str]:
    site, reader = reader_site
    path = site / relative
    original = path.read_bytes() if path.exists() else None
    path.write_text(text, encoding="utf-8")
    try:
        return sorted(reader.read(str(path))[1].get("lab_errors", []))
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_bytes(original)


FIELD_CASES = [
    pytest.param(
        "review_every: yearly\n",
        [
            "review_every: 'yearly' is not a period such as '12 months' (a whole "
            "number of 1 or more, then one of: days, weeks, months, years)"
        ],
        id="period-not-a-period",
    ),
    pytest.param(
        "review_every: 12\n",
        [
            "review_every: expected text, got a number (put text that looks like "
            "one in quotes)"
        ],
        id="period-a-number",
    ),
    pytest.param(
        "review_every: 6 months\nnext_review: 2026-01-01\n",
        ["next_review: give review_every or next_review, not both"],
        id="cycle-and-fixed-day",
    ),
    pytest.param(
        "reviewed: 2025-09-01\nnext_review: 2025-08-01\n",
        ["next_review: 2025-08-01 is not after the last review (2025-09-01)"],
        id="next-review-before-last",
    ),
    pytest.param(
        "reviewed: 1 September 2025\n",
        ["reviewed: '1 September 2025' is not a date (write 2025-04-14)"],
        id="reviewed-not-a-date",
    ),
    pytest.param(
        "owner: Ada Lane\n",
        [
            "owner: 'Ada Lane' is not a slug (lower-case letters, digits and "
            "single hyphens)"
        ],
        id="owner-not-a-key",
    ),
    pytest.param(
        "changes:\n  - {date: 2025-06-01, note: Older.}\n"
        "  - {date: 2025-08-01, note: Newer.}\n",
        [
            "changes[1].date: 2025-08-01 is newer than the entry before it "
            "(2025-06-01): list changes newest first"
        ],
        id="changes-oldest-first",
    ),
    pytest.param(
        "changes:\n  - {date: 2025-06-01, note: '  '}\n",
        ["changes[0].note: must not be empty"],
        id="empty-note",
    ),
    pytest.param(
        "changes:\n  - {date: 2025-06-01, note: Fixed.}\n"
        "  - {date: 2025-06-01, note: Fixed.}\n",
        ["changes[1]: repeats [0]"],
        id="duplicate-note",
    ),
    pytest.param(
        "changes:\n  - {date: 2025-04-30, note: Before it was out.}\n",
        ["changes[0].date: 2025-04-30 is before the post was published (2025-05-01)"],
        id="change-before-publication",
    ),
    pytest.param(
        "changes:\n  - {date: 2025-06-01}\n",
        ["changes[0].note: is required"],
        id="change-without-note",
    ),
    pytest.param(
        "changes:\n  - {date: 2025-06-01, note: N, by: ada-lane}\n",
        ["changes[0].by: unknown field"],
        id="change-unknown-key",
    ),
    pytest.param(
        "changes: []\n",
        ["changes: expected a list of one or more {date, note} entries"],
        id="changes-empty",
    ),
]


@pytest.mark.parametrize(("extra", "reasons"), FIELD_CASES)
def test_each_review_field_rule_names_the_field(reader_site, extra, reasons):
    assert errors(reader_site, POST, with_fields(POST_TEXT, extra)) == sorted(
        f"{POST}: {reason}" for reason in reasons
    )


@pytest.mark.parametrize(
    "relative",
    [
        "pages/about.md",
        "challenges/fixture-challenge.md",
        "get-involved/fixture-call.md",
    ],
)
def test_every_content_type_takes_the_review_fields(reader_site, relative):
    text = (FIXTURE_SITE / relative).read_text(encoding="utf-8")
    good = (
        "reviewed: 2025-09-01\nreview_every: 1 year\nowner: ada-lane\n"
        "changes:\n  - {date: 2025-10-01, note: Checked the advice.}\n"
    )
    assert errors(reader_site, relative, with_fields(text, good)) == []
    bad = "review_every: 6 months\nnext_review: 2026-01-01\n"
    assert errors(reader_site, relative, with_fields(text, bad)) == [
        f"{relative}: next_review: give review_every or next_review, not both"
    ]


def build_broken(tmp_path: Path, files: dict[str, str]) -> list[str]:
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    for name, text in files.items():
        (content / name).write_text(text, encoding="utf-8")
    with pytest.raises(ContentValidationError) as caught:
        build("pelicanconf.py", tmp_path / "output", path=content)
    return caught.value.problems


def test_rules_that_need_today_and_the_authors_are_the_builds(tmp_path):
    # SAMPLE_TODAY (the build's "today") is 2026-11-27.
    extra = (
        "owner: nobody-here\nreviewed: 2026-11-28\n"
        "changes:\n  - {date: 2026-12-01, note: Tomorrow's news.}\n"
    )
    assert build_broken(tmp_path, {POST: with_fields(POST_TEXT, extra)}) == [
        f"{POST}: changes[0].date: 2026-12-01 is in the future (today is 2026-11-27)",
        f"{POST}: owner: unknown author key 'nobody-here'",
        f"{POST}: reviewed: 2026-11-28 is in the future (today is 2026-11-27)",
    ]


@pytest.mark.parametrize(
    ("handle", "reason"),
    [
        ("@ada", "'@ada' is not a forge user name such as ada-lane (write it "
         "without the @)"),
        ("ada lane", "'ada lane' is not a forge user name such as ada-lane"),
    ],
)  # fmt: skip
def test_a_forge_handle_is_a_user_name(tmp_path, handle, reason):
    authors = (FIXTURE_SITE / "authors.yaml").read_text(encoding="utf-8")
    authors = authors.replace(
        "  url: https://example.org/ada\n",
        f"  url: https://example.org/ada\n  forge_handle: {handle!r}\n",
    )
    assert build_broken(tmp_path, {"authors.yaml": authors}) == [
        f"authors.yaml: ada-lane.forge_handle: {reason}"
    ]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("LAB_REVIEW_EVERY", {"page": "yearly"}, "LAB_REVIEW_EVERY['page']: 'yearly'"),
        ("LAB_REVIEW_EVERY", {"pages": "1 year"}, "LAB_REVIEW_EVERY: 'pages' is not"),
        ("LAB_REVIEW_OVERDUE", "error", "LAB_REVIEW_OVERDUE: must be 'warn' or"),
        ("LAB_REVIEW_DUE_SOON_DAYS", -1, "LAB_REVIEW_DUE_SOON_DAYS: must be 0"),
    ],
)
def test_a_wrong_review_setting_is_named(setting, value, message):
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        lab_settings({setting: value})


# -- a site with reviews: pages, JSON-LD, report

TODAY_EPOCH = str(int(SAMPLE_TODAY.timestamp()))


def review_site(tmp_path: Path) -> Path:
    """The fixture site with: a post overdue (owner ben-cole, two change
    notes), the about page due soon (owner ada-lane), the challenge due soon
    (no owner, never reviewed), the privacy page fine; on 2026-11-27."""
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    edits = {
        POST: "owner: ben-cole\nreviewed: 2025-09-01\nreview_every: 6 months\n"
        "changes:\n  - {date: 2025-08-01, note: Added the <survey> results.}\n"
        "  - {date: 2025-06-01, note: Corrected the dates.}\n",
        "pages/about.md": "owner: ada-lane\nreviewed: 2025-12-01\n"
        "review_every: 12 months\n",
        "pages/privacy.md": "reviewed: 2026-06-01\nnext_review: 2027-06-01\n",
        "challenges/fixture-challenge.md": "next_review: 2026-12-10\n",
    }
    for name, extra in edits.items():
        path = content / name
        path.write_text(with_fields(path.read_text("utf-8"), extra), "utf-8")
    authors = content / "authors.yaml"
    authors.write_text(
        authors.read_text("utf-8").replace(
            "  url: https://example.org/ada\n",
            "  url: https://example.org/ada\n  forge_handle: ada-on-the-forge\n",
        ),
        "utf-8",
    )
    return content


@pytest.fixture(scope="module")
def reviewed_output(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("reviews-site")
    content = review_site(base)
    build("publishconf.py", base / "output", path=content)
    return base / "output"


def text_of(element) -> str:
    return " ".join("".join(element.itertext()).split())


def page(output: Path, path: str):
    return parse_html(output / path / "index.html")


def by_class(root, name: str) -> list:
    return [
        e
        for e in root.iter()
        if isinstance(e.tag, str) and name in (e.get("class") or "").split()
    ]


def test_a_post_with_change_notes_says_when_it_was_last_updated(reviewed_output):
    root = page(reviewed_output, "updates/2025/a-published-post")
    (dates,) = by_class(root, "lab-article__dates")
    assert text_of(dates).startswith(
        "Published 1 May 2025 Last updated 1 August 2025 See all updates"
    )
    (link,) = list(dates.iter(f"{HTML}a"))
    assert link.get("href") == "#page-history"
    (heading,) = [e for e in root.iter() if e.get("id") == "page-history"]
    assert heading.tag == f"{HTML}h2"
    assert text_of(heading) == "Updates to this page"
    (history,) = by_class(root, "lab-history")
    changes = [
        (next(li.iter(f"{HTML}time")).get("datetime"), text_of(li))
        for li in history.iter(f"{HTML}li")
    ]
    assert changes == [
        ("2025-08-01", "1 August 2025 Added the <survey> results."),
        ("2025-06-01", "1 June 2025 Corrected the dates."),
    ]
    (review,) = by_class(root, "lab-history__review")
    assert text_of(review) == (
        "Page last reviewed: 1 September 2025 Next review due: 1 March 2026"
    )
    assert [t.get("datetime") for t in review.iter(f"{HTML}time")] == [
        "2025-09-01",
        "2026-03-01",
    ]


def test_overdue_changes_nothing_for_readers(reviewed_output):
    # The post's review was due on 1 March 2026; the page says only the facts.
    root = page(reviewed_output, "updates/2025/a-published-post")
    words = text_of(root.find(f".//{HTML}main")).lower()
    assert "overdue" not in words
    assert by_class(root, "lab-notification-banner") == []


def test_a_page_without_notes_shows_its_review_but_no_last_updated(reviewed_output):
    root = page(reviewed_output, "about")
    assert not [d for d in by_class(root, "lab-article__dates") if "Last" in text_of(d)]
    assert [e for e in root.iter() if e.get("id") == "page-history"] == []
    (review,) = by_class(root, "lab-history__review")
    assert text_of(review) == (
        "Page last reviewed: 1 December 2025 Next review due: 1 December 2026"
    )


def test_an_item_with_only_a_next_review_shows_that_alone(reviewed_output):
    root = page(reviewed_output, "challenges/fixture-challenge")
    (review,) = by_class(root, "lab-history__review")
    assert text_of(review) == "Next review due: 10 December 2026"


def test_an_item_with_no_review_and_no_notes_shows_neither(reviewed_output):
    root = page(reviewed_output, "updates/2025/an-ideas-post")
    assert by_class(root, "lab-history") == []
    assert "Last updated" not in text_of(root.find(f".//{HTML}main"))


def json_ld(root) -> list[dict]:
    return [
        json.loads(s.text)
        for s in root.iter(f"{HTML}script")
        if s.get("type") == "application/ld+json"
    ]


def meta_value(root, name: str) -> list[str]:
    return [
        m.get("content") for m in root.iter(f"{HTML}meta") if m.get("property") == name
    ]


def test_json_ld_and_open_graph_carry_the_review_and_the_latest_change(
    reviewed_output,
):
    root = page(reviewed_output, "updates/2025/a-published-post")
    (posting,) = [b for b in json_ld(root) if b["@type"] == "BlogPosting"]
    assert posting["dateModified"] == "2025-08-01T00:00:00+01:00"
    assert posting["datePublished"] == "2025-05-01T10:00:00+01:00"
    web_page = posting["mainEntityOfPage"]
    assert web_page["lastReviewed"] == "2025-09-01"
    assert web_page["reviewedBy"] == {
        "@type": "Person",
        "name": "Ben Cole",
        "url": "https://lab.example.org/authors/ben-cole/",
    }
    assert meta_value(root, "article:modified_time") == ["2025-08-01T00:00:00+01:00"]


def test_a_page_reviewed_by_nobody_named_is_reviewed_by_the_lab(reviewed_output):
    root = page(reviewed_output, "privacy")
    (web_page,) = [b for b in json_ld(root) if b["@type"] == "WebPage"]
    assert web_page["lastReviewed"] == "2026-06-01"
    assert web_page["reviewedBy"]["@type"] == "Organization"
    assert "dateModified" not in web_page  # no change note: no significant change


def test_a_post_without_notes_is_modified_when_published(reviewed_output):
    root = page(reviewed_output, "updates/2025/an-ideas-post")
    (posting,) = [b for b in json_ld(root) if b["@type"] == "BlogPosting"]
    assert posting["dateModified"] == posting["datePublished"]
    assert "lastReviewed" not in posting["mainEntityOfPage"]


# -- feeds: only a change note moves a date

RSS_DATES = ("pubDate", "lastBuildDate")


def feed_dates(output: Path) -> dict[tuple[str, str, str], str]:
    """Every date of every feed: (feed file, item id or "feed", field) ->
    value, for Atom, RSS and JSON Feed alike."""
    dates = {}
    for path in sorted((output / "feeds").rglob("*")):
        name = path.relative_to(output).as_posix()
        if path.suffix == ".json":
            feed = json.loads(path.read_text(encoding="utf-8"))
            for item in feed["items"]:
                for key in ("date_published", "date_modified"):
                    dates[(name, item["id"], key)] = item[key]
        elif path.name.endswith(".atom.xml"):
            root = etree.parse(str(path)).getroot()
            dates[(name, "feed", "updated")] = root.findtext(f"{ATOM}updated")
            for entry in root.iter(f"{ATOM}entry"):
                for key in ("published", "updated"):
                    dates[(name, entry.findtext(f"{ATOM}id"), key)] = entry.findtext(
                        f"{ATOM}{key}"
                    )
        elif path.name.endswith(".rss.xml"):
            channel = etree.parse(str(path)).getroot().find("channel")
            dates[(name, "feed", "lastBuildDate")] = channel.findtext("lastBuildDate")
            for item in channel.iter("item"):
                dates[(name, item.findtext("guid"), "pubDate")] = item.findtext(
                    "pubDate"
                )
    return dates


def feed_site(tmp_path: Path, name: str, extra: str = "", body: str = "") -> Path:
    content = tmp_path / name / "content"
    shutil.copytree(FIXTURE_SITE, content)
    path = content / POST
    text = with_fields(path.read_text("utf-8"), extra) if extra else path.read_text()
    path.write_text(text + body, encoding="utf-8")
    output = tmp_path / name / "output"
    build("pelicanconf.py", output, path=content)
    return output


def post_id(output: Path) -> str:
    feed = json.loads((output / "feeds/all.json").read_text(encoding="utf-8"))
    (item,) = [i for i in feed["items"] if "a-published-post" in i["url"]]
    return item["id"]


def test_a_minor_edit_moves_no_date_in_any_feed(tmp_path):
    before = feed_site(tmp_path, "before")
    after = feed_site(
        tmp_path, "after", "modified: 2026-06-01T10:00:00+01:00\n", "\nA typo fixed."
    )
    dates = feed_dates(before)
    assert len({key[0] for key in dates}) >= 6  # every kind of feed, many of them
    assert feed_dates(after) == dates
    # The text did change: the edit reached the feeds, its dates did not.
    assert "A typo fixed." in (after / "feeds/all.json").read_text(encoding="utf-8")


def test_a_change_note_moves_that_item_and_its_feeds_updated_only(tmp_path):
    before = feed_site(tmp_path, "before")
    after = feed_site(
        tmp_path, "after", "changes:\n  - {date: 2026-06-01, note: New results.}\n"
    )
    old, new = feed_dates(before), feed_dates(after)
    assert new.keys() == old.keys()  # no item came or went: ids never change
    the_post = post_id(before)
    assert post_id(after) == the_post
    moved = {key for key in old if old[key] != new[key]}
    carrying = {name for name, item, _ in old if item == the_post}
    expected = {
        (name, item, field)
        for name, item, field in old
        if (item == the_post and field in ("updated", "date_modified"))
        # This change is the newest date of every feed that carries the post.
        or (item == "feed" and name in carrying and field == "updated")
    }
    # RSS has no item updated date; its channel's lastBuildDate follows the
    # newest change of the feed, as Atom's updated does.
    expected |= {
        (name, "feed", "lastBuildDate")
        for name in carrying
        if name.endswith(".rss.xml")
    }
    assert moved == expected
    assert any(name.endswith(".atom.xml") for name, _, _ in moved)
    assert any(name.endswith(".json") for name, _, _ in moved)
    for name, item, field in moved:
        if field in ("updated", "date_modified"):
            assert new[(name, item, field)].startswith("2026-06-01T00:00:00")


def test_a_feeds_updated_is_its_newest_items(tmp_path):
    output = feed_site(
        tmp_path, "site", "changes:\n  - {date: 2026-06-01, note: New results.}\n"
    )
    for path in sorted((output / "feeds").rglob("*.atom.xml")):
        root = etree.parse(str(path)).getroot()
        items = [
            dt.datetime.fromisoformat(e.findtext(f"{ATOM}updated"))
            for e in root.iter(f"{ATOM}entry")
        ]
        if items:
            assert dt.datetime.fromisoformat(root.findtext(f"{ATOM}updated")) == max(
                items
            ), path


# -- make review-report


@pytest.fixture
def on_review_day(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", TODAY_EPOCH)  # 2026-11-27
    monkeypatch.delenv("SITEURL", raising=False)
    monkeypatch.chdir(ROOT)


EXPECTED_REPORT = """\
Reviews on 2026-11-27: 1 overdue, 2 due within 30 days.

Ada Lane (ada-lane)
  due soon: content/pages/about.md (About): last reviewed 2025-12-01, due 2026-12-01

Ben Cole (ben-cole)
  overdue: content/posts/2025-05-01-published.md (A published post): last reviewed \
2025-09-01, due 2026-03-01

No owner
  due soon: content/challenges/fixture-challenge.md (What would it take for a \
fixture to pass?): never reviewed, due 2026-12-10
"""


def test_the_report_lists_overdue_and_due_soon_items_by_owner(
    tmp_path, on_review_day, capsys
):
    content = review_site(tmp_path)
    json_path = tmp_path / "report.json"
    argv = ["-s", "publishconf.py", "--path", str(content), "--json", str(json_path)]
    assert report.main(argv) == 0
    out = capsys.readouterr().out
    assert out == EXPECTED_REPORT
    assert json.loads(json_path.read_text(encoding="utf-8")) == {
        "today": "2026-11-27",
        "items": [
            {
                "path": "content/pages/about.md",
                "title": "About",
                "url": "https://lab.example.org/about/",
                "owner": "ada-lane",
                "owner_name": "Ada Lane",
                "owner_handle": "ada-on-the-forge",
                "reviewed": "2025-12-01",
                "next_review": "2026-12-01",
                "status": "due-soon",
            },
            {
                "path": "content/posts/2025-05-01-published.md",
                "title": "A published post",
                "url": "https://lab.example.org/updates/2025/a-published-post/",
                "owner": "ben-cole",
                "owner_name": "Ben Cole",
                "owner_handle": None,
                "reviewed": "2025-09-01",
                "next_review": "2026-03-01",
                "status": "overdue",
            },
            {
                "path": "content/challenges/fixture-challenge.md",
                "title": "What would it take for a fixture to pass?",
                "url": "https://lab.example.org/challenges/fixture-challenge/",
                "owner": None,
                "owner_name": None,
                "owner_handle": None,
                "reviewed": None,
                "next_review": "2026-12-10",
                "status": "due-soon",
            },
        ],
    }


def test_fail_on_overdue_exits_1_only_when_something_is_overdue(
    tmp_path, on_review_day, capsys
):
    content = review_site(tmp_path)
    argv = ["-s", "publishconf.py", "--path", str(content)]
    assert report.main([*argv, "--fail-on-overdue"]) == 1
    # Reviewed again today: nothing overdue any more.
    post = content / POST
    post.write_text(
        post.read_text("utf-8").replace("reviewed: 2025-09-01", "reviewed: 2026-11-27"),
        "utf-8",
    )
    assert report.main([*argv, "--fail-on-overdue"]) == 0
    assert "0 overdue, 2 due within 30 days" in capsys.readouterr().out


def test_check_warns_or_fails_as_the_setting_says(tmp_path, on_review_day, capsys):
    content = review_site(tmp_path)
    argv = ["--path", str(content), "--check"]
    assert report.main(["-s", "publishconf.py", *argv]) == 0
    assert "warning: 1 review(s) overdue" in capsys.readouterr().err
    failing = tmp_path / "failconf.py"
    failing.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from publishconf import *  # noqa: F403\nLAB_REVIEW_OVERDUE = 'fail'\n",
        encoding="utf-8",
    )
    assert report.main(["-s", str(failing), *argv]) == 1


def test_nothing_due_is_said_in_one_line(tmp_path, on_review_day, capsys):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    assert report.main(["-s", "publishconf.py", "--path", str(content)]) == 0
    assert capsys.readouterr().out == (
        "Reviews on 2026-11-27: nothing is overdue or due within 30 days.\n"
    )


def test_the_report_runs_as_a_module_and_fails_on_content_errors(tmp_path):
    content = review_site(tmp_path)
    environ = {
        **os.environ,
        "SOURCE_DATE_EPOCH": TODAY_EPOCH,
        "PYTHONPATH": str(ROOT / "plugins"),
    }
    environ.pop("SITEURL", None)
    command = [sys.executable, "-m", "lab_reviews.report", "-s", "publishconf.py"]
    done = subprocess.run(
        [*command, "--path", str(content), "--fail-on-overdue"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, EXPECTED_REPORT)
    (content / "pages/about.md").write_text(
        "---\ntitle: About\nsummary: S.\nowner: nobody\n---\nText.\n", "utf-8"
    )
    done = subprocess.run(
        [*command, "--path", str(content)],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "pages/about.md: owner: unknown author key 'nobody'" in done.stderr
