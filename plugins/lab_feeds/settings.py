"""Settings of the lab_feeds plugin, with their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab_common.settings import merged_settings

DEFAULTS: dict[str, Any] = {
    # At most this many items in each feed, newest first.
    "LAB_FEEDS_MAX_ITEMS": 20,
    # True: items carry the summary only, never the full text.
    "LAB_FEEDS_SUMMARY_ONLY": False,
    # Item ids are tag URIs (RFC 4151): tag:AUTHORITY,YEAR:specific. Keep these
    # once the site is live: changing them makes every item look new.
    "LAB_FEEDS_TAG_AUTHORITY": "lab.example.org",
    "LAB_FEEDS_TAG_YEAR": "2025",
    # Where each feed goes; {slug} is the category, tag, author or challenge.
    "LAB_FEEDS_ALL": "feeds/all",
    "LAB_FEEDS_CALLS": "feeds/get-involved",
    "LAB_FEEDS_CATEGORY": "feeds/category/{slug}",
    "LAB_FEEDS_TAG": "feeds/tag/{slug}",
    "LAB_FEEDS_AUTHOR": "feeds/author/{slug}",
    "LAB_FEEDS_CHALLENGE": "feeds/challenge/{slug}",
    # The page that lists every feed (template feeds.html).
    "LAB_FEEDS_PAGE_URL": "feeds/",
    "LAB_FEEDS_PAGE_SAVE_AS": "feeds/index.html",
}


def feeds_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return merged_settings(DEFAULTS, settings)
