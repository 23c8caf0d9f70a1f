"""iCalendar (RFC 5545) text for a call's closing date, so readers can add it to
their calendar. Written from data, with the RFC's escaping and line folding."""

from __future__ import annotations

import datetime as dt


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Fold at 75 octets, never inside a UTF-8 sequence (RFC 5545, 3.1)."""
    out, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode("utf-8"))
            current = b""
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n ".join(out)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def call_closing_ics(
    *, uid: str, title: str, closes: dt.datetime, url: str, stamp: dt.datetime
) -> str:
    """A one-event calendar: the last hour before the call closes.

    `stamp` (DTSTAMP) comes from the content, not the clock, so that two
    builds of the same content give the same file.
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//The Improvement Lab//Lab site//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_escape(uid)}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(closes - dt.timedelta(hours=1))}",
        f"DTEND:{_utc(closes)}",
        f"SUMMARY:{_escape('Closing: ' + title)}",
        f"DESCRIPTION:{_escape('This call closes at ' + _utc(closes) + '. ' + url)}",
        f"URL:{url}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines)
