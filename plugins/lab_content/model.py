"""What the build works out from content: "today", phase states, call status,
the words of a commitment, listing order. Pure functions over plain values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lab_common.dates import build_now  # noqa: F401 - re-exported

CALL_STATUS_LABELS = {
    "open": "Open",
    "closing-soon": "Closing soon",
    "upcoming": "Upcoming",
    "closed": "Closed",
}
# Listings lead with what a reader can act on now; "closing soon" is still open.
CALL_STATUS_RANK = {"open": 0, "closing-soon": 0, "upcoming": 1, "closed": 2}


@dataclass(frozen=True)
class Phase:
    name: str
    slug: str
    summary: str
    starts: dt.date
    ends: dt.date
    state: str  # "done" | "current" | "upcoming"


def phase_states(phases: Iterable[Mapping[str, Any]], today: dt.date) -> list[Phase]:
    """Each phase with its state on `today`; its first and last days are inside it."""
    result = []
    for phase in phases:
        if today > phase["ends"]:
            state = "done"
        elif today >= phase["starts"]:
            state = "current"
        else:
            state = "upcoming"
        result.append(Phase(state=state, **phase))
    return result


def current_phase(phases: Iterable[Phase]) -> Phase | None:
    return next((p for p in phases if p.state == "current"), None)


def call_status(
    opens: dt.datetime, closes: dt.datetime, now: dt.datetime, closing_soon_days: int
) -> str:
    """upcoming before `opens`; open from the instant it opens; closing soon when
    `closing_soon_days` days or fewer are left; closed from the instant it closes."""
    if now < opens:
        return "upcoming"
    if now >= closes:
        return "closed"
    if closes - now <= dt.timedelta(days=closing_soon_days):
        return "closing-soon"
    return "open"


def commitment_text(options: Iterable[Mapping[str, Any]]) -> str:
    """[{10, minutes, week}, {10, days, year}]
    -> "10 minutes a week or 10 days a year"."""
    parts = []
    for option in options:
        amount, unit, period = option["amount"], option["unit"], option["period"]
        if amount == 1:
            unit = unit.removesuffix("s")
        if period == "once":
            parts.append(f"{amount} {unit} in all")
        else:
            parts.append(f"{amount} {unit} a {period}")
    return " or ".join(parts)


def call_sort_key(status: str, opens: dt.datetime, closes: dt.datetime) -> tuple:
    """Open calls first (the soonest to close first), then upcoming (the soonest
    to open first), then closed (the most recently closed first)."""
    rank = CALL_STATUS_RANK[status]
    if status == "closed":
        return (rank, -closes.timestamp())
    if status == "upcoming":
        return (rank, opens.timestamp())
    return (rank, closes.timestamp())
