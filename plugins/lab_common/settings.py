"""One way for every plugin to read its LAB_* settings: defaults overlaid with
the site's values, each checked for type, the bad key named."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SettingsError(ValueError):
    """A LAB_* setting has the wrong type; the message names the key."""


def merged_settings(
    defaults: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """`defaults` overlaid with the site's values. A default of None accepts
    anything; otherwise the value must have the default's type."""
    merged = {}
    for key, default in defaults.items():
        value = settings.get(key, default)
        if default is not None and not isinstance(value, type(default)):
            raise SettingsError(
                f"{key}: expected {type(default).__name__}, got {type(value).__name__}"
            )
        merged[key] = value
    return merged
