"""lab_redirects: old addresses keep working.

Any post, page, challenge or call may list the addresses it used to have in
`redirect_from` (checked by lab_content's schema). For each, this plugin
writes a small page at the old address that sends readers on (meta refresh,
a canonical link to the new address, noindex, a visible link), listed
nowhere (not in the sitemap, the search index or the feeds), and the same
redirects as maps for hosts that read one: `_redirects` (Netlify, Cloudflare
Pages) and nginx `map` blocks.

Signals:
  initialized     checks the LAB_REDIRECTS_* settings
  get_generators  adds RedirectsGenerator: its generate_context refuses an
                  old address that is a live page's or that two items name
                  (`path: redirect_from: reason`); lab_content's check of
                  output files sees its pages (lab_output_claims)
Settings: see settings.DEFAULTS (plugins/README.md).
Template: LAB_REDIRECTS_TEMPLATE ("redirect"), given `redirect` (lang,
sitename, title, target, canonical, policy).
"""

from __future__ import annotations

from pelican import signals

from .generator import RedirectsGenerator
from .settings import redirects_settings


def check_settings(pelican) -> None:
    redirects_settings(pelican.settings)  # a bad value stops the build here


def get_generators(pelican):
    return RedirectsGenerator


def register() -> None:
    signals.initialized.connect(check_settings)
    signals.get_generators.connect(get_generators)
