"""Settings of the lab_content plugin: the defaults in one place, checked once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab_common.reviews import parse_period
from lab_common.settings import SettingsError, merged_settings

KINDS = ("post", "page", "challenge", "call")

DEFAULTS: dict[str, Any] = {
    # Folders under PATH that hold each content type; one type per folder, so a
    # file's type never depends on what its front matter claims.
    "LAB_POST_PATHS": ["posts"],
    "LAB_PAGE_PATHS": ["pages"],
    "LAB_CHALLENGE_PATHS": ["challenges"],
    "LAB_CALL_PATHS": ["get-involved"],
    # The authors file, relative to PATH.
    "LAB_AUTHORS_FILE": "authors.yaml",
    # Where challenge and call pages and their listings are written.
    "LAB_CHALLENGE_URL": "challenges/{slug}/",
    "LAB_CHALLENGE_SAVE_AS": "challenges/{slug}/index.html",
    "LAB_CHALLENGES_URL": "challenges/",
    "LAB_CHALLENGES_SAVE_AS": "challenges/index.html",
    "LAB_CALL_URL": "get-involved/{slug}/",
    "LAB_CALL_SAVE_AS": "get-involved/{slug}/index.html",
    "LAB_CALLS_URL": "get-involved/",
    "LAB_CALLS_SAVE_AS": "get-involved/index.html",
    # A call is "closing soon" when this many days or fewer are left.
    "LAB_CLOSING_SOON_DAYS": 7,
    # Categories a post may name; empty means any.
    "LAB_CATEGORIES": [],
    # How many of a challenge's newest updates its page shows as cards (with
    # their summaries); the older ones follow as a list of titles and dates,
    # so that the page stays light however long the challenge runs.
    "LAB_CHALLENGE_UPDATE_CARDS": 2,
    # How many related updates a post lists.
    "LAB_RELATED_LIMIT": 3,
    # Pin "today" for every derived status (an aware datetime); None means the
    # build time, or SOURCE_DATE_EPOCH when that is set.
    "LAB_TODAY": None,
    # Processes that read posts in a full build (no content cache): 1 reads
    # them all in the build's own process; 0 means one per CPU, at most 4.
    "LAB_READ_PROCESSES": 0,
    # Fewer posts than this are read in the build's own process.
    "LAB_READ_PARALLEL_MIN_POSTS": 64,
    # A folder for compiled templates, kept between builds; "" compiles the
    # theme afresh in every build.
    "LAB_TEMPLATE_CACHE_PATH": "",
    # Reviews (README: front matter reference): the review cycle of each
    # content type ("12 months", "6 weeks"...; None: no cycle) for items whose
    # front matter gives neither review_every nor next_review.
    "LAB_REVIEW_EVERY": {},
    # A review is "due soon" this many days or fewer before its day.
    "LAB_REVIEW_DUE_SOON_DAYS": 30,
    # What an overdue review does to `make check` (lab_reviews.report
    # --check): "warn" prints it, "fail" fails the check. Builds never fail
    # on it, and readers see no difference.
    "LAB_REVIEW_OVERDUE": "warn",
}


def lab_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULTS overlaid with the site's values, each checked for type."""
    merged = merged_settings(DEFAULTS, settings)
    if merged["LAB_CHALLENGE_UPDATE_CARDS"] < 0:
        raise SettingsError("LAB_CHALLENGE_UPDATE_CARDS: must be 0 or more")
    if merged["LAB_REVIEW_DUE_SOON_DAYS"] < 0:
        raise SettingsError("LAB_REVIEW_DUE_SOON_DAYS: must be 0 or more")
    if merged["LAB_REVIEW_OVERDUE"] not in ("warn", "fail"):
        raise SettingsError("LAB_REVIEW_OVERDUE: must be 'warn' or 'fail'")
    for kind, every in merged["LAB_REVIEW_EVERY"].items():
        if kind not in KINDS:
            raise SettingsError(
                f"LAB_REVIEW_EVERY: {kind!r} is not one of: {', '.join(KINDS)}"
            )
        if every is not None:
            try:
                parse_period(every)
            except ValueError as exc:
                raise SettingsError(f"LAB_REVIEW_EVERY[{kind!r}]: {exc}") from None
    return merged
