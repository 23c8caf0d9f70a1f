"""The order rules of PLUGINS, checked when a build starts: a plugin that
others read from must load first, one that renders what all the others asked
for must load last. Each plugin states its own rule from its `initialized`
receiver:

    require_position(pelican.settings, "lab_content", "first", why)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .settings import SettingsError


def plugin_name(plugin: Any) -> str:
    """A PLUGINS entry's name: Pelican takes names and modules alike."""
    name = plugin if isinstance(plugin, str) else getattr(plugin, "__name__", "")
    # A plugin listed as a package path ("plugins.lab_writer") is the same one.
    return name.rsplit(".", 1)[-1]


def position_problem(plugins: Iterable[Any], name: str, where: str, why: str) -> str:
    """ "" when `name` is `where` ("first" or "last") in `plugins` (or not in
    them at all), else the message that says what to move."""
    names = [plugin_name(p) for p in plugins]
    if name not in names:
        return ""
    if where == "first":
        others = names[: names.index(name)]
        edge = "start"
    elif where == "last":
        others = names[names.index(name) + 1 :]
        edge = "end"
    else:
        raise ValueError(f"where: {where!r} is neither 'first' nor 'last'")
    if not others:
        return ""
    side = "after" if where == "first" else "before"
    listed = ", ".join(repr(n) for n in others)
    return (
        f"PLUGINS: {name!r} must be {where} ({why}), but it comes {side} "
        f"{listed}: move {name!r} to the {edge} of PLUGINS (pelicanconf.py)"
    )


def require_position(
    settings: Mapping[str, Any], name: str, where: str, why: str
) -> None:
    """Raise SettingsError when `name` is not `where` in settings' PLUGINS."""
    problem = position_problem(settings.get("PLUGINS") or [], name, where, why)
    if problem:
        raise SettingsError(problem)
