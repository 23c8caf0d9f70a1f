"""One way for every plugin to read its LAB_* settings: defaults overlaid with
the site's values, each checked for type, the bad key named."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SettingsError(ValueError):
    """A setting is wrong (a LAB_* value of the wrong type or out of range, a
    Pelican setting at odds with a plugin, PLUGINS in the wrong order); the
    message names the setting. The one settings error of every plugin."""


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
