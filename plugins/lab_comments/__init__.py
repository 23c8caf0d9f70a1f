"""lab_comments: a plain comment form, a small endpoint, moderation in git.

`register()` imports the Pelican side only when Pelican calls it, so that the
endpoint and the moderation CLI (`python -m lab_comments.cli`), which import
this package, never import Pelican.
"""


def register() -> None:
    from .plugin import register as register_plugin

    register_plugin()


__all__ = ["register"]
