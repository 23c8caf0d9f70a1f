"""Content classes for challenges and involvement calls.

They are Pelican pages whose URLs come from LAB_CHALLENGE_* and LAB_CALL_*
settings, so every URL setting of the site stays a LAB_* name.
"""

from __future__ import annotations

from pelican.contents import Content, Page


class Challenge(Page):
    default_template = "challenge"

    def _expand_settings(self, key):
        # Skip Page's own choice of PAGE_* or DRAFT_PAGE_* settings.
        return Content._expand_settings(self, key, "LAB_CHALLENGE")


class Call(Page):
    default_template = "involvement"

    def _expand_settings(self, key):
        return Content._expand_settings(self, key, "LAB_CALL")
