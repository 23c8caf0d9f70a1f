"""Words for the type of a value, for messages that tell a writer (or a reader
of an error page) what they gave instead of what was expected."""

from __future__ import annotations

import datetime as dt
from typing import Any


def kind_of(value: Any) -> str:
    """ "a list", "a date", "true/false"...: the kind of a YAML or form value."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.datetime):
        return "a date-time"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__
