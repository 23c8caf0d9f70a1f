"""Zone-aware dates: feeds and structured data need an offset on every date,
and a naive date must mean the site's TIMEZONE, never the build machine's."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any
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


def build_now(
    settings: Mapping[str, Any], environ: Mapping[str, str] = os.environ
) -> dt.datetime:
    """The one "today" every derived status uses, as an aware datetime in the
    site's zone: LAB_TODAY if set, else SOURCE_DATE_EPOCH, else the clock."""
    zone = ZoneInfo(settings.get("TIMEZONE") or "UTC")
    pinned = settings.get("LAB_TODAY")
    if pinned is not None:
        if pinned.tzinfo is None:
            raise ValueError("LAB_TODAY: needs a time zone")
        return pinned.astimezone(zone)
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), tz=zone)
        except ValueError:
            raise ValueError(
                f"SOURCE_DATE_EPOCH: {epoch!r} is not a whole number of seconds"
            ) from None
    return dt.datetime.now(tz=zone)
