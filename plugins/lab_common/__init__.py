"""Helpers that more than one plugin needs: absolute URLs, zone-aware dates,
plain text from HTML. Imports nothing of ours, so any plugin may import it.

Not a Pelican plugin itself: it has no register() and is not in PLUGINS.
"""

from .dates import aware
from .settings import SettingsError, merged_settings
from .text import plain_text, truncate_words
from .urls import absolute_url, absolutise_html, output_url

__all__ = [
    "SettingsError",
    "absolute_url",
    "absolutise_html",
    "aware",
    "merged_settings",
    "output_url",
    "plain_text",
    "truncate_words",
]
