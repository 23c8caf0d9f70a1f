"""RedirectsGenerator: gathers every item's old addresses once lab_content has
settled the items, refuses clashing ones before anything is written, and
writes the pages and the maps."""

from __future__ import annotations

from pelican.generators import Generator
from pelican.utils import posixize_path

from lab_common import csp
from lab_common.errors import ContentValidationError
from lab_common.output import write_output

from .redirects import (
    Redirect,
    map_entries,
    netlify_redirects,
    nginx_map,
    page_save_as,
    pages,
    problems,
    target_url,
)
from .settings import redirects_settings

# The context entries of the items that are written at their URL (drafts are
# written nowhere: their old addresses wait until they are published).
WRITTEN = (
    "articles",
    "hidden_articles",
    "pages",
    "hidden_pages",
    "challenges",
    "calls",
)


class RedirectsGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = redirects_settings(self.settings)
        self.redirects: list[Redirect] = []

    def generate_context(self):
        # lab_content's generator comes first (it is first in PLUGINS): by
        # now every item's status and URL are settled.
        items = [item for key in WRITTEN for item in self.context.get(key, [])]
        live = {item.save_as: _path(item) for item in items if item.save_as}
        self.redirects = [
            Redirect(old, _path(item), item.url, item.title)
            for item in items
            for old in item.metadata.get("redirect_from", [])
        ]
        found = problems(self.redirects, live)
        if found:
            raise ContentValidationError(found)

    def lab_output_claims(self):
        """What this generator writes, for lab_content's check that no two
        sources write one file (a tag page, a feed, a static file)."""
        for redirect in self.redirects:
            save_as = (
                page_save_as(redirect.old)
                if self.options["LAB_REDIRECTS_PAGES"]
                else None
            )
            if save_as:
                yield save_as, f"{redirect.source} (redirect_from {redirect.old!r})"
        for key in ("LAB_REDIRECTS_MAP_SAVE_AS", "LAB_REDIRECTS_NGINX_SAVE_AS"):
            if self.options[key]:
                yield self.options[key], f"the redirect map ({key})"

    def generate_output(self, writer):
        siteurl = self.settings["SITEURL"]
        if self.options["LAB_REDIRECTS_PAGES"]:
            template = self.get_template(self.options["LAB_REDIRECTS_TEMPLATE"])
            policy = str(csp.policy(self.context))
            for save_as, redirect in pages(self.redirects).items():
                values = {
                    "lang": self.settings["DEFAULT_LANG"],
                    "sitename": self.settings["SITENAME"],
                    "title": redirect.title,
                    "target": target_url(
                        siteurl, redirect.url, save_as, self.settings["RELATIVE_URLS"]
                    ),
                    "canonical": target_url(siteurl, redirect.url, None, False),
                    "policy": policy,
                }
                write_output(
                    writer,
                    save_as,
                    sorted(values.items()),
                    lambda values=values: template.render(redirect=values).encode(),
                )
        entries = map_entries(self.redirects, siteurl)
        status = self.options["LAB_REDIRECTS_MAP_STATUS"]
        for key, produce in (
            ("LAB_REDIRECTS_MAP_SAVE_AS", lambda: netlify_redirects(entries, status)),
            ("LAB_REDIRECTS_NGINX_SAVE_AS", lambda: nginx_map(entries)),
        ):
            if self.options[key]:
                write_output(
                    writer,
                    self.options[key],
                    [key, status, entries],
                    lambda produce=produce: produce().encode(),
                )


def _path(item) -> str:
    return posixize_path(item.relative_source_path)
