"""lab_feeds: every feed of the site, written with feedgen.

RSS 2.0 and Atom for all posts, each category, tag, author and challenge (its
updates and events), and the open calls; JSON Feed 1.1 for all posts; and a
page listing every feed. Pelican's own feed settings must all be off.

Signals: get_generators (adds LabFeedsGenerator; list lab_feeds after
lab_content in PLUGINS, since it reads challenges and calls).
Settings: see settings.DEFAULTS and plugins/README.md.
Template variables: `lab_feeds` (a FeedIndex: `for_page(article=..., tag=...)`,
`of_kind(kind)`, `get(key)`), LAB_FEEDS_PAGE_URL; template feeds.html.
"""

from __future__ import annotations

from pelican import signals

from lab_common import SettingsError

from .generator import LabFeedsGenerator

PELICAN_FEED_SETTINGS = (
    "FEED_ATOM", "FEED_RSS", "FEED_ALL_ATOM", "FEED_ALL_RSS", "CATEGORY_FEED_ATOM",
    "CATEGORY_FEED_RSS", "AUTHOR_FEED_ATOM", "AUTHOR_FEED_RSS", "TAG_FEED_ATOM",
    "TAG_FEED_RSS", "TRANSLATION_FEED_ATOM", "TRANSLATION_FEED_RSS",
)  # fmt: skip


def check_pelican_feeds_off(pelican) -> None:
    # Two writers of feeds would give subscribers two sets of ids for the same
    # posts; ours is the one that keeps them stable.
    on = [key for key in PELICAN_FEED_SETTINGS if pelican.settings.get(key)]
    if on:
        raise SettingsError(
            "lab_feeds writes every feed; set these to None: " + ", ".join(on)
        )


def get_generators(pelican):
    return LabFeedsGenerator


def register() -> None:
    signals.initialized.connect(check_pelican_feeds_off)
    signals.get_generators.connect(get_generators)
