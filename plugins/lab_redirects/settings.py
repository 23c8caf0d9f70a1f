"""Settings of the lab_redirects plugin, with their defaults (the one place
they are set)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab_common.settings import SettingsError, merged_settings

DEFAULTS: dict[str, Any] = {
    # Write a small page at each old address (a path without a query) that
    # sends the reader on to the new one: it works on any static host.
    "LAB_REDIRECTS_PAGES": True,
    # The redirect map for hosts that read one (Netlify, Cloudflare Pages),
    # relative to the output folder; "" writes none.
    "LAB_REDIRECTS_MAP_SAVE_AS": "_redirects",
    # The status each line of that map ends with. On Netlify a file at the old
    # address (the page above) wins over a rule unless the rule is forced:
    # "301!" makes Netlify answer 301 even so (Cloudflare has no "!").
    "LAB_REDIRECTS_MAP_STATUS": "301",
    # The same redirects as nginx `map` blocks, to include in nginx's http {}
    # block (README: Addresses); "" writes none.
    "LAB_REDIRECTS_NGINX_SAVE_AS": "_redirects.nginx",
    # The page at each old address (theme/templates/).
    "LAB_REDIRECTS_TEMPLATE": "redirect",
}
MAP_STATUSES = ("301", "301!", "302", "302!", "308", "308!")


def redirects_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """DEFAULTS overlaid with the site's values, each checked."""
    merged = merged_settings(DEFAULTS, settings)
    if merged["LAB_REDIRECTS_MAP_STATUS"] not in MAP_STATUSES:
        raise SettingsError(
            f"LAB_REDIRECTS_MAP_STATUS: {merged['LAB_REDIRECTS_MAP_STATUS']!r} is "
            f"not one of: {', '.join(MAP_STATUSES)}"
        )
    for key in ("LAB_REDIRECTS_MAP_SAVE_AS", "LAB_REDIRECTS_NGINX_SAVE_AS"):
        value = merged[key]
        if value.startswith("/") or ".." in value.split("/"):
            raise SettingsError(f"{key}: {value!r} is not a path in the output folder")
    return merged
