"""Each content type's schema: every kind of mistake and its message."""

from __future__ import annotations

import datetime as dt

import pytest

from lab_content.schema import validate

UTC = dt.UTC
POST = {
    "title": "T",
    "date": dt.datetime(2025, 4, 10, 9, 30, tzinfo=UTC),
    "authors": ["amara-okafor"],
    "category": "Research",
    "summary": "S",
}
PHASES = [
    {
        "name": "Research and discovery",
        "summary": "s",
        "starts": dt.date(2025, 4, 14),
        "ends": dt.date(2025, 7, 31),
    },
    {
        "name": "Generating ideas",
        "summary": "s",
        "starts": dt.date(2025, 8, 1),
        "ends": dt.date(2025, 10, 31),
    },
]
CHALLENGE = {
    "title": "Q?",
    "slug": "peer-support",
    "summary": "S",
    "theme": "Peer support",
    "team": ["amara-okafor"],
    "phases": PHASES,
}
CALL = {
    "title": "T",
    "slug": "ten",
    "summary": "S",
    "opens": dt.datetime(2026, 9, 1, 8, tzinfo=UTC),
    "closes": dt.datetime(2027, 1, 29, 17, tzinfo=UTC),
    "commitments": [{"amount": 10, "unit": "minutes", "period": "week"}],
    "audience": "Anyone",
    "respond": {"method": "email", "contact": "lab@example.org"},
}
VALID = {"post": POST, "challenge": CHALLENGE, "call": CALL}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_content_passes_and_keeps_its_structures(kind):
    clean, problems = validate(kind, VALID[kind])
    assert problems == []
    assert set(clean) == set(VALID[kind])


def test_phase_slugs_come_from_names_when_not_given():
    clean, _ = validate("challenge", CHALLENGE)
    assert [p["slug"] for p in clean["phases"]] == [
        "research-and-discovery",
        "generating-ideas",
    ]


def with_(base, **changes):
    data = {**base, **changes}
    return {k: v for k, v in data.items() if v is not ...}


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("post", with_(POST, title=...), ("title", "is required")),
        ("post", with_(POST, colour="red"), ("colour", "unknown field for a post")),
        ("post", with_(POST, title=["a"]), ("title", "expected one value")),
        ("post", with_(POST, date="10 April"), ("date", "is not a date-time")),
        (
            "post",
            with_(POST, date=dt.datetime(2025, 4, 10, 9, 30)),
            ("date", "2025-04-10T09:30:00 has no time zone"),
        ),
        ("post", with_(POST, slug="Not A Slug"), ("slug", "is not a slug")),
        ("post", with_(POST, phase="generating-ideas"), ("phase", "needs a challenge")),
        ("post", with_(POST, status="live"), ("status", "'live' is not one of")),
        ("post", with_(POST, image={"src": "a.png"}), ("image.alt", "is required")),
        (
            "call",
            with_(CALL, closes=dt.datetime(2026, 8, 1, tzinfo=UTC)),
            ("closes", "must be after opens"),
        ),
        (
            "call",
            with_(CALL, opens="2026-09-01T09:00:00"),
            ("opens", "2026-09-01T09:00:00 has no time zone"),
        ),
        (
            "call",
            with_(CALL, commitments=[{"amount": 0, "unit": "days", "period": "year"}]),
            ("commitments[0].amount", "expected a whole number of 1 or more"),
        ),
        (
            "call",
            with_(CALL, commitments=[{"amount": 1, "unit": "years", "period": "year"}]),
            ("commitments[0].unit", "'years' is not one of"),
        ),
        (
            "call",
            with_(CALL, respond={"method": "email", "contact": "nobody"}),
            ("respond.contact", "is not an email address"),
        ),
        (
            "call",
            with_(CALL, respond={"method": "form", "contact": "Lab team"}),
            ("respond.url", "a form needs its link"),
        ),
        (
            "call",
            with_(CALL, respond={"method": "event", "contact": "a@b.org"}),
            ("respond.event", "an event needs its name"),
        ),
        (
            "challenge",
            with_(CHALLENGE, phases=[PHASES[1], PHASES[0]]),
            ("phases[1].starts", "overlaps or comes before the previous phase"),
        ),
        (
            "challenge",
            with_(
                CHALLENGE,
                phases=[PHASES[0], {**PHASES[1], "starts": dt.date(2025, 7, 31)}],
            ),
            ("phases[1].starts", "overlaps or comes before the previous phase"),
        ),
        (
            "challenge",
            with_(CHALLENGE, phases=[{**PHASES[0], "ends": dt.date(2025, 4, 1)}]),
            ("phases[0].ends", "is before its starts date"),
        ),
        (
            "challenge",
            with_(CHALLENGE, phases=[{**PHASES[0], "starts": "soon"}]),
            ("phases[0].starts", "'soon' is not a date"),
        ),
    ],
)
def test_each_mistake_is_reported_with_its_field_and_reason(kind, data, expected):
    _, problems = validate(kind, data)
    field, reason = expected
    assert any(f == field and reason in r for f, r in problems), problems


def test_every_problem_in_a_file_is_reported_at_once():
    _, problems = validate("post", {"colour": "red", "date": "soon"})
    fields = [f for f, _ in problems]
    assert fields == ["colour", "title", "date", "authors", "category", "summary"]
