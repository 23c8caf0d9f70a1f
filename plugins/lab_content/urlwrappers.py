"""Pelican's Author, Category and Tag, with their URLs worked out once.

Pelican formats a tag's URL from its settings every time a template asks, and
a site's pages ask tens of thousands of times; names and slugs never change
after reading, so the answer never does either. The class names stay those of
Pelican's, because Pelican finds a wrapper's settings by its class name
(TAG_URL, AUTHOR_SAVE_AS...).
"""

from __future__ import annotations

import functools

from pelican import urlwrappers


class _Once:
    # Pelican's own public properties, asked once: the next class in the
    # method order is Pelican's wrapper.
    @functools.cached_property
    def url(self):
        return super().url

    @functools.cached_property
    def save_as(self):
        return super().save_as

    @functools.cached_property
    def page_name(self):
        return super().page_name


class Author(_Once, urlwrappers.Author):
    pass


class Category(_Once, urlwrappers.Category):
    pass


class Tag(_Once, urlwrappers.Tag):
    pass
