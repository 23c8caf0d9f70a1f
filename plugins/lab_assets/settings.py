"""Settings of the lab_assets plugin, with their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab_common.settings import SettingsError, merged_settings

DEFAULTS: dict[str, Any] = {
    # Stylesheets: bundle name -> entry file in the theme folder. Each entry's
    # @import rules are followed (in order) and the whole minified into
    # THEME_STATIC_DIR/css/<name>.<hash>.css, named in templates as
    # LAB_ASSETS.css.<name>.
    "LAB_ASSETS_STYLESHEETS": {
        "main": "css/main.css",
        "print": "css/print.css",
        # Linked only by the comments endpoint's answer page (lab_comments).
        "answer": "css/answer.css",
    },
    # Scripts: bundle name -> files in the theme folder, joined in order (each
    # in a block of its own, so that their top-level names cannot clash) into
    # THEME_STATIC_DIR/js/<name>.<hash>.js, loaded as a module: LAB_ASSETS.js.<name>
    # (a page template names the one it needs in `lab_script`; most need none).
    "LAB_ASSETS_SCRIPTS": {
        "post": ["js/comments.js"],
        "search": ["js/search.js"],
    },
    # Browserslist queries Lightning CSS lowers the CSS for (prefixes, newer
    # syntax); None: the CSS is only minified, as written.
    "LAB_ASSETS_BROWSERS": None,
    # Hex digits of the content hash in each file name.
    "LAB_ASSETS_HASH_LENGTH": 10,
}


def assets_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    merged = merged_settings(DEFAULTS, settings)
    for key in ("LAB_ASSETS_STYLESHEETS", "LAB_ASSETS_SCRIPTS"):
        for name, entry in merged[key].items():
            files = [entry] if key == "LAB_ASSETS_STYLESHEETS" else entry
            good_name = isinstance(name, str) and name.isidentifier()
            if not good_name or not isinstance(files, list | tuple) or not files:
                raise SettingsError(
                    f"{key}: {name!r}: expected a name (letters, digits, _) "
                    "and a file or list of files"
                )
            if not all(isinstance(f, str) and f for f in files):
                raise SettingsError(f"{key}: {name!r}: files must be paths")
    browsers = merged["LAB_ASSETS_BROWSERS"]
    if browsers is not None and (
        not isinstance(browsers, list | tuple)
        or not all(isinstance(b, str) for b in browsers)
    ):
        raise SettingsError("LAB_ASSETS_BROWSERS: expected a list of queries or None")
    if not 6 <= merged["LAB_ASSETS_HASH_LENGTH"] <= 64:
        raise SettingsError("LAB_ASSETS_HASH_LENGTH: must be from 6 to 64")
    return merged
