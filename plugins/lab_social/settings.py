"""Settings of the lab_social plugin: the defaults in one place, checked once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lab_common.settings import SettingsError, merged_settings

from .cards import contrast_ratio, hex_rgb

DEFAULTS: dict[str, Any] = {
    # The site's own X/Twitter account for twitter:site, "@handle"; "" for none.
    "LAB_TWITTER_SITE": "",
    # Descriptions (meta, Open Graph, Twitter, JSON-LD) are cut at a word
    # boundary to at most this many characters.
    "LAB_SOCIAL_DESCRIPTION_LENGTH": 200,
    # og:locale, such as "en_GB"; "" derives it from DEFAULT_LANG ("en-GB").
    "LAB_SOCIAL_LOCALE": "",
    # Card image colours: background, text and mark, label and accent bar.
    # White on the brand teal is 8.2:1; the accent on it 6.1:1.
    "LAB_SOCIAL_CARD_BACKGROUND": "#00585e",
    "LAB_SOCIAL_CARD_FOREGROUND": "#ffffff",
    "LAB_SOCIAL_CARD_ACCENT": "#ffdd00",
    # Where card images and the publisher logo go in the output.
    "LAB_SOCIAL_CARDS_PATH": "images/social",
    # Where drawn images are kept between builds (outside the output, which a
    # build may empty); relative to the working directory, like Pelican's cache.
    "LAB_SOCIAL_CACHE_PATH": ".cache/lab_social",
}

# WCAG 2.2 AA for text: the card's text must reach it on the card's background.
MIN_CONTRAST = 4.5
HANDLE_RE = re.compile(r"^@[A-Za-z0-9_]{1,15}$")
LOCALE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")


def social_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULTS overlaid with the site's values, each checked; a bad value
    raises SettingsError naming its key."""
    merged = merged_settings(DEFAULTS, settings)
    handle = merged["LAB_TWITTER_SITE"]
    if handle and not HANDLE_RE.match(handle):
        raise SettingsError(
            f"LAB_TWITTER_SITE: {handle!r} is not a handle such as @improvementlab"
        )
    if merged["LAB_SOCIAL_DESCRIPTION_LENGTH"] < 50:
        raise SettingsError("LAB_SOCIAL_DESCRIPTION_LENGTH: must be 50 or more")
    if not merged["LAB_SOCIAL_LOCALE"]:
        merged["LAB_SOCIAL_LOCALE"] = og_locale(settings.get("DEFAULT_LANG") or "en")
    if not LOCALE_RE.match(merged["LAB_SOCIAL_LOCALE"]):
        raise SettingsError(
            f"LAB_SOCIAL_LOCALE: {merged['LAB_SOCIAL_LOCALE']!r} is not a locale "
            "such as en_GB"
        )
    for key in ("BACKGROUND", "FOREGROUND", "ACCENT"):
        name = f"LAB_SOCIAL_CARD_{key}"
        try:
            hex_rgb(merged[name])
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
    for key in ("FOREGROUND", "ACCENT"):
        name = f"LAB_SOCIAL_CARD_{key}"
        ratio = contrast_ratio(merged[name], merged["LAB_SOCIAL_CARD_BACKGROUND"])
        if ratio < MIN_CONTRAST:
            raise SettingsError(
                f"{name}: contrast with LAB_SOCIAL_CARD_BACKGROUND is {ratio:.2f}:1; "
                f"card text needs {MIN_CONTRAST}:1 or more"
            )
    for key in ("LAB_SOCIAL_CARDS_PATH", "LAB_SOCIAL_CACHE_PATH"):
        if not merged[key].strip("/"):
            raise SettingsError(f"{key}: must name a folder")
    return merged


def og_locale(language: str) -> str:
    """A BCP 47 language tag as Open Graph writes it: "en-GB" -> "en_GB"."""
    parts = language.replace("_", "-").split("-")
    if len(parts) >= 2 and len(parts[1]) == 2:
        return f"{parts[0].lower()}_{parts[1].upper()}"
    return parts[0].lower()
