"""lab_social: Open Graph, Twitter card, fediverse and JSON-LD metadata for
every page, and card images for pages that have no picture of their own.

Signals:
  get_generators  adds SocialGenerator, which puts itself in the context as
                  `lab_social`; base.html calls `lab_social.for_page(...)` for
                  each page and renders the result with partials/social_meta.html
Settings: see settings.DEFAULTS and plugins/README.md (LAB_TWITTER_SITE,
  LAB_SOCIAL_*).
Template variables: `lab_social` (`for_page(output_file=..., article=...,
  page=..., challenge=..., call=..., title=..., description=...,
  breadcrumbs=...)` returns `title`, `description`, `canonical`, `image`,
  `tags` (attribute, key, content), `json_ld` (serialised blocks) and
  `structured_data`). Templates set `lab_breadcrumbs`, which the theme shows
  and JSON-LD repeats.
Front matter: `social: {title, description, image: {src, alt}}` overrides what
  a share shows (lab_content checks it).
"""

from __future__ import annotations

from pelican import signals

from .generator import SocialGenerator


def get_generators(pelican):
    return SocialGenerator


def register() -> None:
    signals.get_generators.connect(get_generators)
