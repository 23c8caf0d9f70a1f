"""Reviews and change notes of health content: pure functions over plain values.

Front matter may give an item a `reviewed` date, a review cycle
(`review_every: 12 months`) or a fixed `next_review` date, an `owner`, and
`changes` (dated notes of significant changes, newest first). lab_content
checks the fields and attaches an `ItemReview` to every item; the theme, the
feeds, the social metadata and `make review-report` (lab_reviews) all read
the dates worked out here, so that they never disagree.

A minor edit (a typo fixed, the technical `modified` date bumped) is no
significant change: only a change note moves "Last updated", a feed item's
updated date or JSON-LD's dateModified.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PERIOD_UNITS = ("days", "weeks", "months", "years")
_PERIOD_RE = re.compile(r"^(\d+)\s+(day|week|month|year)s?$")
# An item is "due soon" when its review is due within this many days.
DUE_SOON_DAYS = 30
STATUSES = ("ok", "due-soon", "overdue")


@dataclass(frozen=True)
class Period:
    amount: int
    unit: str  # days | weeks | months | years

    def __str__(self) -> str:
        unit = self.unit.removesuffix("s") if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


def parse_period(text: str) -> Period:
    """ "12 months" -> Period(12, "months"); "1 year" too. Raises ValueError
    with the reason shown to the writer."""
    match = _PERIOD_RE.match(" ".join(str(text).split()).lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"{text!r} is not a period such as '12 months' (a whole number of 1 "
            f"or more, then one of: {', '.join(PERIOD_UNITS)})"
        )
    return Period(int(match.group(1)), match.group(2) + "s")


def add_period(day: dt.date, period: Period) -> dt.date:
    """`day` plus `period`; a month or year that has no such day ends on its
    last day (31 January + 1 month = 28 or 29 February)."""
    if period.unit == "days":
        return day + dt.timedelta(days=period.amount)
    if period.unit == "weeks":
        return day + dt.timedelta(weeks=period.amount)
    months = period.amount * (12 if period.unit == "years" else 1)
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def as_date(value: dt.date | dt.datetime | None) -> dt.date | None:
    """The calendar day of a date or date-time (in the date-time's own zone)."""
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


@dataclass(frozen=True)
class Change:
    date: dt.date
    note: str


@dataclass(frozen=True)
class ItemReview:
    """What an item says of its own history and review, worked out once."""

    changes: tuple[Change, ...]  # newest first
    last_updated: dt.date | None  # the latest significant change, if any
    reviewed: dt.date | None
    next_review: dt.date | None
    owner: str | None
    status: str | None  # ok | due-soon | overdue; None when no review is due

    @property
    def has_review(self) -> bool:
        return self.reviewed is not None or self.next_review is not None


def last_significant_change(
    published: dt.date | None, changes: Iterable[Change]
) -> dt.date | None:
    """The latest change note's date, else the publication date."""
    return max((c.date for c in changes), default=published)


def next_review_due(
    *,
    reviewed: dt.date | None,
    review_every: Period | None,
    next_review: dt.date | None,
    last_change: dt.date | None,
) -> dt.date | None:
    """A fixed `next_review` wins; else `review_every` after the last review,
    or after the last significant change (or publication) of an item never
    reviewed; None when the item has no cycle or nothing to count from."""
    if next_review is not None:
        return next_review
    start = reviewed or last_change
    if review_every is None or start is None:
        return None
    return add_period(start, review_every)


def review_status(
    due: dt.date | None, today: dt.date, soon_days: int = DUE_SOON_DAYS
) -> str | None:
    """overdue after the due day; due-soon from `soon_days` before it to the
    day itself; ok before that; None when no review is due."""
    if due is None:
        return None
    if due < today:
        return "overdue"
    if due <= today + dt.timedelta(days=soon_days):
        return "due-soon"
    return "ok"


def item_review(
    fields: Mapping[str, Any],
    *,
    kind: str,
    published: dt.date | None,
    today: dt.date,
    every_by_kind: Mapping[str, str | None],
    soon_days: int = DUE_SOON_DAYS,
) -> ItemReview:
    """The review of an item from its checked front matter (`changes` as a
    list of {date, note}, `review_every` as text) and the site's default
    cycle for its kind."""
    changes = tuple(Change(c["date"], c["note"]) for c in fields.get("changes", ()))
    every = fields.get("review_every") or every_by_kind.get(kind)
    reviewed = fields.get("reviewed")
    due = next_review_due(
        reviewed=reviewed,
        review_every=parse_period(every) if every else None,
        next_review=fields.get("next_review"),
        last_change=last_significant_change(published, changes),
    )
    return ItemReview(
        changes=changes,
        last_updated=max((c.date for c in changes), default=None),
        reviewed=reviewed,
        next_review=due,
        owner=fields.get("owner"),
        status=review_status(due, today, soon_days),
    )
