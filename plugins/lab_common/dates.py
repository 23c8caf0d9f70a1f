"""Zone-aware dates: feeds and structured data need an offset on every date,
and a naive date must mean the site's TIMEZONE, never the build machine's."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def aware(value: dt.date | dt.datetime, timezone: str) -> dt.datetime:
    """`value` as an aware datetime: a naive one (or a plain date, at midnight)
    is taken to be in `timezone`; an aware one keeps its instant and offset."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None or value.utcoffset() is None:
        zone = ZoneInfo(timezone)
        # Rebuild as a plain datetime: Pelican's SafeDatetime subclass would
        # otherwise leak into libraries that check exact types.
        return dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute,
            value.second, value.microsecond, tzinfo=zone,
        )  # fmt: skip
    return dt.datetime(
        value.year, value.month, value.day, value.hour, value.minute,
        value.second, value.microsecond, tzinfo=value.tzinfo,
    )  # fmt: skip
