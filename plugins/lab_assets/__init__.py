"""lab_assets: the theme's stylesheets and scripts, bundled into one file each
with a content hash in its name (see plugin.py)."""

from .plugin import register

__all__ = ["register"]
