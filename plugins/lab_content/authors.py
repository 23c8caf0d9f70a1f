"""The authors file: who writes here, keyed by a short slug used in front matter."""

from __future__ import annotations

import re
from typing import Any

from .frontmatter import FrontMatterError, read_yaml
from .schema import Invalid, http_url, slug, text

Problem = tuple[str, str]

HANDLE_RE = re.compile(r"^@[A-Za-z0-9_]{1,15}$")
MASTODON_RE = re.compile(r"^@([A-Za-z0-9_.]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")
# A user name on the forge that hosts the site's repository (no @): the
# review reminder issue mentions the owner of an overdue page by it.
FORGE_HANDLE_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,38})$")
FIELDS = ("name", "role", "bio", "twitter", "mastodon", "url", "forge_handle")
REQUIRED = ("name", "role", "bio")
# The field of a problem that leaves no profile readable.
UNREADABLE = "file"


def parse_authors(source: str) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Parse the authors YAML into {key: profile}, with every problem found.

    A profile has name, role, bio and optionally twitter ("@handle"),
    mastodon ("@user@server"), url and forge_handle (a forge user name);
    mastodon_url is derived.
    """
    try:
        data, problems = read_yaml(source)
    except FrontMatterError as exc:
        return {}, [(UNREADABLE, str(exc))]
    if not isinstance(data, dict):
        return {}, [(UNREADABLE, "must be a mapping of author key: profile")]
    profiles: dict[str, dict[str, Any]] = {}
    for key, entry in data.items():
        try:
            key = slug(key)
        except Invalid as exc:
            problems.append((str(key), f"key: {exc}"))
            continue
        profile: dict[str, Any] = {"key": key}
        shaped = isinstance(entry, dict)
        if not shaped:
            problems.append((key, "expected a mapping with name, role and bio"))
            # Still an author, said once: posts that name them are not wrong.
            entry = {}
        for name in entry:
            if name not in FIELDS:
                problems.append((f"{key}.{name}", "unknown field"))
        for name in FIELDS:
            value = entry.get(name)
            if value is None:
                if name in REQUIRED and shaped:
                    problems.append((f"{key}.{name}", "is required"))
                profile[name] = None
                continue
            try:
                profile[name] = _convert(name, value)
            except Invalid as exc:
                problems.append((f"{key}.{name}", str(exc)))
                profile[name] = None
        profile["mastodon_url"] = mastodon_url(profile["mastodon"])
        profiles[key] = profile
    return profiles, problems


def mastodon_url(handle: str | None) -> str | None:
    """ "@user@server" -> "https://server/@user"."""
    if not handle:
        return None
    user, server = MASTODON_RE.match(handle).groups()
    return f"https://{server}/@{user}"


def _convert(name: str, value: Any) -> str:
    if name == "url":
        return http_url(value)
    value = text(value)
    if name == "twitter" and not HANDLE_RE.match(value):
        raise Invalid(f"{value!r} is not a handle such as @improvementlab")
    if name == "forge_handle" and not FORGE_HANDLE_RE.match(value):
        hint = " (write it without the @)" if value.startswith("@") else ""
        raise Invalid(f"{value!r} is not a forge user name such as ada-lane{hint}")
    if name == "mastodon" and not MASTODON_RE.match(value):
        raise Invalid(f"{value!r} is not a handle such as @lab@social.example")
    return value
