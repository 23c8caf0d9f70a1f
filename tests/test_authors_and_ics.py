"""The authors file and the calendar file of a call."""

from __future__ import annotations

import datetime as dt

from lab_content.authors import parse_authors
from lab_content.ics import call_closing_ics


def test_authors_parse_with_derived_mastodon_url():
    profiles, problems = parse_authors(
        "amara-okafor:\n  name: Amara Okafor\n  role: Head\n  bio: Leads.\n"
        "  twitter: '@amara_lab'\n  mastodon: '@amara@social.example'\n"
    )
    assert problems == []
    assert profiles["amara-okafor"]["mastodon_url"] == "https://social.example/@amara"
    assert profiles["amara-okafor"]["url"] is None


def test_author_problems_name_the_key_and_field():
    _, problems = parse_authors(
        "Bad Key:\n  name: X\n  role: R\n  bio: B\n"
        "ok-key:\n  name: Y\n  bio: B\n  twitter: Amara\n  shoe: 9\n"
    )
    assert ("Bad Key", "key: 'Bad Key' is not a slug (lower-case letters, digits "
            "and single hyphens)") in problems  # fmt: skip
    assert ("ok-key.role", "is required") in problems
    assert ("ok-key.shoe", "unknown field") in problems
    assert any(f == "ok-key.twitter" and "not a handle" in r for f, r in problems)


def test_calendar_file_is_rfc5545_shaped():
    closes = dt.datetime(2027, 1, 29, 17, 0, tzinfo=dt.UTC)
    text = call_closing_ics(
        uid="ten@lab.example.org",
        title="Give 10 minutes a week, or 10 days a year; " + "long " * 20,
        closes=closes,
        url="https://lab.example.org/get-involved/ten/",
        stamp=dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC),
    )
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert lines[-1] == ""
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert "DTEND:20270129T170000Z" in unfolded
    assert (
        "SUMMARY:Closing: Give 10 minutes a week\\, or 10 days a year\\; long"
        in unfolded
    )
