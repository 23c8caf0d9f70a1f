"""Derived statuses at their boundaries, with "today" pinned."""

from __future__ import annotations

import datetime as dt

import pytest

from lab_content.model import (
    build_now,
    call_sort_key,
    call_status,
    commitment_text,
    current_phase,
    phase_states,
)

UTC = dt.UTC
OPENS = dt.datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
CLOSES = dt.datetime(2027, 1, 29, 17, 0, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (OPENS - SECOND, "upcoming"),
        (OPENS, "open"),
        (CLOSES - dt.timedelta(days=7) - SECOND, "open"),
        (CLOSES - dt.timedelta(days=7), "closing-soon"),
        (CLOSES - SECOND, "closing-soon"),
        (CLOSES, "closed"),
        (CLOSES + dt.timedelta(days=400), "closed"),
    ],
)
def test_call_status_at_its_boundaries(now, status):
    assert call_status(OPENS, CLOSES, now, closing_soon_days=7) == status


def test_call_status_compares_instants_across_zones():
    london_summer = dt.timezone(dt.timedelta(hours=1))
    opens = dt.datetime(2026, 9, 1, 9, 0, tzinfo=london_summer)  # 08:00 UTC
    assert call_status(opens, CLOSES, OPENS, 7) == "open"
    assert call_status(opens, CLOSES, OPENS - SECOND, 7) == "upcoming"


PHASES = [
    {
        "name": "A",
        "slug": "a",
        "summary": "",
        "starts": dt.date(2025, 4, 14),
        "ends": dt.date(2025, 7, 31),
    },
    {
        "name": "B",
        "slug": "b",
        "summary": "",
        "starts": dt.date(2025, 8, 1),
        "ends": dt.date(2025, 10, 31),
    },
]


@pytest.mark.parametrize(
    ("today", "states"),
    [
        (dt.date(2025, 4, 13), ["upcoming", "upcoming"]),
        (dt.date(2025, 4, 14), ["current", "upcoming"]),
        (dt.date(2025, 7, 31), ["current", "upcoming"]),
        (dt.date(2025, 8, 1), ["done", "current"]),
        (dt.date(2025, 10, 31), ["done", "current"]),
        (dt.date(2025, 11, 1), ["done", "done"]),
    ],
)
def test_phase_states_on_first_and_last_days(today, states):
    phases = phase_states(PHASES, today)
    assert [p.state for p in phases] == states
    current = current_phase(phases)
    assert (current.slug if current else None) == (
        PHASES[states.index("current")]["slug"] if "current" in states else None
    )


@pytest.mark.parametrize(
    ("options", "text"),
    [
        (
            [
                {"amount": 10, "unit": "minutes", "period": "week"},
                {"amount": 10, "unit": "days", "period": "year"},
            ],
            "10 minutes a week or 10 days a year",
        ),
        ([{"amount": 1, "unit": "hours", "period": "month"}], "1 hour a month"),
        ([{"amount": 4, "unit": "hours", "period": "once"}], "4 hours in all"),
    ],
)
def test_commitment_text(options, text):
    assert commitment_text(options) == text


def test_listing_order_open_then_upcoming_then_closed():
    now = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)
    calls = {
        "closed-long-ago": (
            dt.datetime(2025, 1, 1, tzinfo=UTC),
            dt.datetime(2025, 2, 1, tzinfo=UTC),
        ),
        "closed-lately": (
            dt.datetime(2026, 1, 1, tzinfo=UTC),
            dt.datetime(2026, 11, 1, tzinfo=UTC),
        ),
        "open-late": (OPENS, CLOSES),
        "closing-soon": (OPENS, dt.datetime(2026, 12, 1, tzinfo=UTC)),
        "upcoming-later": (
            dt.datetime(2027, 3, 1, tzinfo=UTC),
            dt.datetime(2027, 4, 1, tzinfo=UTC),
        ),
        "upcoming-sooner": (
            dt.datetime(2027, 1, 1, tzinfo=UTC),
            dt.datetime(2027, 5, 1, tzinfo=UTC),
        ),
    }
    order = sorted(
        calls,
        key=lambda name: call_sort_key(call_status(*calls[name], now, 7), *calls[name]),
    )
    assert order == [
        "closing-soon",
        "open-late",
        "upcoming-sooner",
        "upcoming-later",
        "closed-lately",
        "closed-long-ago",
    ]


def test_today_comes_from_one_place():
    settings = {"TIMEZONE": "Europe/London"}
    pinned = build_now(settings, environ={"SOURCE_DATE_EPOCH": "1764244800"})
    assert pinned == dt.datetime(2025, 11, 27, 12, tzinfo=UTC)
    assert pinned.tzinfo.key == "Europe/London"
    chosen = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        build_now({**settings, "LAB_TODAY": chosen}, environ={"SOURCE_DATE_EPOCH": "0"})
        == chosen
    )
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
        build_now(settings, environ={"SOURCE_DATE_EPOCH": "yesterday"})
    clock = build_now(settings, environ={})
    assert abs(clock - dt.datetime.now(tz=UTC)) < dt.timedelta(minutes=5)
