"""lab_sitemap: writes sitemap.xml (published pages only) and robots.txt naming it.

Signals:
  get_generators   adds SitemapGenerator, which records every page the writer
                   writes (content_written) and writes the two files last
Settings:
  LAB_SITEMAP_SAVE_AS  where the sitemap goes (default "sitemap.xml")
  LAB_ROBOTS_SAVE_AS   where robots.txt goes (default "robots.txt"; "" for none)
  LAB_ROBOTS_DISALLOW  paths robots.txt asks crawlers to skip (default [])
The URLs are absolute, from SITEURL, even when pages use relative links.
"""

from __future__ import annotations

import os

from pelican import signals
from pelican.generators import Generator

from lab_common import output_url
from lab_common.output import write_output

from .sitemap import robots_txt, sitemap_xml

DEFAULTS = {
    # Relative to the output folder.
    "LAB_SITEMAP_SAVE_AS": "sitemap.xml",
    # robots.txt naming the sitemap; "" writes none.
    "LAB_ROBOTS_SAVE_AS": "robots.txt",
    # Paths that crawlers are asked to skip.
    "LAB_ROBOTS_DISALLOW": [],
}
# Content objects a page can be written for; one that is not published (a
# hidden page such as the 404 page) stays out of the sitemap.
_CONTENT_KEYS = ("article", "page", "challenge", "call")


class SitemapGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = {key: self.settings.get(key, v) for key, v in DEFAULTS.items()}
        self.entries: list[tuple[str, object]] = []
        # The writer's signal carries the page context, not the generator: a
        # reference in the shared context leads it back to this build's list.
        self.context["lab_sitemap"] = self

    def record(self, path: str, context: dict) -> None:
        if not path.endswith(".html"):
            return
        item = next((context[k] for k in _CONTENT_KEYS if k in context), None)
        if item is not None and getattr(item, "status", "published") != "published":
            return
        if item is None and os.path.basename(path) == "404.html":
            return
        save_as = os.path.relpath(path, self.output_path)
        lastmod = None
        if item is not None:
            lastmod = getattr(item, "modified", None) or getattr(item, "date", None)
        self.entries.append((output_url(self.settings["SITEURL"], save_as), lastmod))

    def generate_output(self, writer):
        # Runs after the page generators, which come first in the build.
        siteurl = self.settings["SITEURL"].rstrip("/")
        sitemap = self.options["LAB_SITEMAP_SAVE_AS"]
        write_output(writer, sitemap, None, lambda: sitemap_xml(self.entries))
        if self.options["LAB_ROBOTS_SAVE_AS"]:
            text = robots_txt(
                f"{siteurl}/{sitemap}", self.options["LAB_ROBOTS_DISALLOW"]
            )
            write_output(writer, self.options["LAB_ROBOTS_SAVE_AS"], None, text.encode)


def record_page(path, context) -> None:
    generator = context.get("lab_sitemap")
    if generator is not None:
        generator.record(path, context)


def get_generators(pelican):
    return SitemapGenerator


def register() -> None:
    signals.get_generators.connect(get_generators)
    signals.content_written.connect(record_page)
