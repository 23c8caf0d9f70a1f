"""Content classes: challenges and involvement calls, and Pelican's posts and
pages with their HTML marked trusted.

Challenges and calls are Pelican pages whose URLs come from LAB_CHALLENGE_*
and LAB_CALL_* settings, so every URL setting of the site stays a LAB_* name.

The theme is autoescaped (JINJA_ENVIRONMENT in pelicanconf.py): every value a
template prints is escaped unless it is Markup. A content object's `content`
and `summary` are HTML our reader made from the site's own Markdown (staff
write it; lab_content's Markdown settings leave out attribute lists), so they
are marked Markup here, where templates read them. `get_content(siteurl)` and
`get_summary(siteurl)`, which plugins call, still return plain str: Markup
escapes what is added to it, which Python code building HTML does not expect.
"""

from __future__ import annotations

from markupsafe import Markup
from pelican import contents
from pelican.contents import Content


class TrustedHTML:
    """`content` and `summary` as Markup (see the module's docstring)."""

    @property
    def content(self):
        html = self.get_content(self.get_siteurl())
        return None if html is None else Markup(html)  # noqa: S704 - the site's own

    @property
    def summary(self):
        html = self.get_summary(self.get_siteurl())
        return None if html is None else Markup(html)  # noqa: S704 - the site's own

    @summary.setter
    def summary(self, value):
        """As Pelican's: the summary is worked out, never set."""


# The names stay Pelican's: a content object's class name is part of how
# Pelican finds its settings and templates.
class Article(TrustedHTML, contents.Article):
    pass


class Page(TrustedHTML, contents.Page):
    pass


# Pelican's generators make these; `trust_content` gives each its class above.
TRUSTED = {contents.Article: Article, contents.Page: Page}


def trust_content(instance) -> None:
    """A `content_object_init` receiver: Pelican's generators choose their
    content classes themselves (Article, Page), so each new object gets the
    subclass of its class that marks its HTML trusted."""
    trusted = TRUSTED.get(type(instance))
    if trusted is not None:
        instance.__class__ = trusted


class Challenge(TrustedHTML, contents.Page):
    default_template = "challenge"

    def _expand_settings(self, key):
        # Skip Page's own choice of PAGE_* or DRAFT_PAGE_* settings.
        return Content._expand_settings(self, key, "LAB_CHALLENGE")


class Call(TrustedHTML, contents.Page):
    default_template = "involvement"

    def _expand_settings(self, key):
        return Content._expand_settings(self, key, "LAB_CALL")
