"""The schema of every content type: which front-matter fields exist, which are
required, and how each is checked and converted.

Validation never stops at the first problem: it returns every (field, reason)
so that a writer sees all that is wrong with a file at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from lab_common.kinds import kind_of
from lab_common.reviews import parse_period

from .frontmatter import ImpossibleDate

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COMMITMENT_UNITS = ("minutes", "hours", "days", "weeks")
COMMITMENT_PERIODS = ("day", "week", "month", "year", "once")
RESPOND_METHODS = ("email", "form", "event")


class Invalid(ValueError):
    """A value is not acceptable; the message is the reason shown to the writer."""


Problem = tuple[str, str]  # (field, reason)


# -- converters: each takes a YAML value and returns the clean value or raises


def text(value: Any) -> str:
    if isinstance(value, list):
        raise Invalid(f"expected one value, got a list of {len(value)}")
    if not isinstance(value, str):
        raise Invalid(f"expected text, got {kind_of(value)}{_quote_hint(value)}")
    if not value.strip():
        raise Invalid("must not be empty")
    return value.strip()


def slug(value: Any) -> str:
    value = text(value)
    if not SLUG_RE.match(value):
        raise Invalid(
            f"{value!r} is not a slug (lower-case letters, digits and single hyphens)"
        )
    return value


def http_url(value: Any) -> str:
    value = text(value)
    if not re.match(r"^https?://[^\s/]+", value):
        raise Invalid(f"{value!r} is not an http(s) URL")
    return value


def text_list(value: Any) -> list[str]:
    """A list of texts; a single text is accepted as a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise Invalid(f"expected a list, got {kind_of(value)}")
    return [_item(text, item, index) for index, item in enumerate(value)]


def _quote_hint(value: Any) -> str:
    # YAML reads `title: 2025` as a number and `title: yes` as true/false.
    if isinstance(value, (bool, int, float, dt.date)):
        return " (put text that looks like one in quotes)"
    return ""


def _impossible(value: Any, what: str) -> None:
    if isinstance(value, ImpossibleDate):
        raise Invalid(f"{str(value)!r} is not a real {what}: {value.reason}")


def aware_datetime(value: Any) -> dt.datetime:
    """A date-time with a zone: `2026-09-01T09:00:00+01:00`."""
    _impossible(value, "date-time")
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(
                f"{value!r} is not a date-time (write 2026-09-01T09:00:00+01:00)"
            ) from None
    if not isinstance(value, dt.datetime):
        raise Invalid(
            f"expected a date-time with zone such as 2026-09-01T09:00:00+01:00, "
            f"got {kind_of(value)}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(
            f"{value.isoformat()} has no time zone (add one, e.g. +00:00 or +01:00)"
        )
    return value


def date_or_aware_datetime(value: Any) -> dt.date | dt.datetime:
    """A plain date (midnight in the site's zone) or a date-time with zone."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return plain_date(value)
    if isinstance(value, list):
        raise Invalid(f"expected one date, got a list of {len(value)}")
    return aware_datetime(value)


def plain_date(value: Any) -> dt.date:
    _impossible(value, "date")
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(f"{value!r} is not a date (write 2025-04-14)") from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise Invalid(f"expected a date such as 2025-04-14, got {kind_of(value)}")
    return value


def one_of(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        value = text(value)
        if value not in allowed:
            raise Invalid(f"{value!r} is not one of: {', '.join(allowed)}")
        return value

    return check


def image(value: Any) -> dict[str, str]:
    fields = _mapping(value, required=("src", "alt"), optional=())
    return {"src": text(fields["src"]), "alt": text(fields["alt"])}


RASTER_IMAGE_RE = re.compile(r"\.(png|jpe?g|gif|webp)$", re.IGNORECASE)


def social(value: Any) -> dict[str, Any]:
    """What a link to the page shows on social networks instead of its own
    title, summary and image: any of `title`, `description` and `image`
    (`src` and `alt`; PNG, JPEG, GIF or WebP, since networks do not show SVG)."""
    fields = _mapping(value, required=(), optional=("title", "description", "image"))
    if not fields:
        raise Invalid("give at least one of title, description, image")
    clean: dict[str, Any] = {}
    for key in ("title", "description"):
        if key in fields:
            try:
                clean[key] = text(fields[key])
            except Invalid as exc:
                raise Invalid(f".{key}: {exc}") from None
    if "image" in fields:
        try:
            clean["image"] = image(fields["image"])
        except Invalid as exc:
            reason = str(exc)
            raise Invalid(
                f".image{reason}" if reason.startswith(".") else f".image: {reason}"
            ) from None
        src = clean["image"]["src"]
        if not RASTER_IMAGE_RE.search(src):
            raise Invalid(
                f".image.src: {src!r} is not a PNG, JPEG, GIF or WebP file "
                "(social networks do not show SVG)"
            )
    return clean


def phases(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of one or more phases")
    clean = []
    for index, item in enumerate(value):
        fields = _mapping(
            item,
            required=("name", "summary", "starts", "ends"),
            optional=("slug",),
            where=f"[{index}]",
        )
        phase = {
            "name": _sub(text, fields, "name", index),
            "slug": _sub(slug, fields, "slug", index)
            if "slug" in fields
            else slugify_simple(text(fields["name"])),
            "summary": _sub(text, fields, "summary", index),
            "starts": _sub(plain_date, fields, "starts", index),
            "ends": _sub(plain_date, fields, "ends", index),
        }
        if phase["ends"] < phase["starts"]:
            raise Invalid(f"[{index}].ends: is before its starts date")
        if clean and phase["starts"] <= clean[-1]["ends"]:
            raise Invalid(
                f"[{index}].starts: {phase['starts']} overlaps or comes before the "
                f"previous phase, which ends {clean[-1]['ends']}"
            )
        clean.append(phase)
    slugs = [p["slug"] for p in clean]
    if len(set(slugs)) != len(slugs):
        raise Invalid("two phases have the same slug")
    return clean


def commitments(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of one or more commitment options")
    clean = []
    for index, item in enumerate(value):
        fields = _mapping(
            item, required=("amount", "unit", "period"), optional=(), where=f"[{index}]"
        )
        amount = fields["amount"]
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise Invalid(f"[{index}].amount: expected a whole number of 1 or more")
        clean.append(
            {
                "amount": amount,
                "unit": _sub(one_of(*COMMITMENT_UNITS), fields, "unit", index),
                "period": _sub(one_of(*COMMITMENT_PERIODS), fields, "period", index),
            }
        )
    return clean


def respond(value: Any) -> dict[str, Any]:
    fields = _mapping(value, required=("method", "contact"), optional=("url", "event"))
    method = _field(one_of(*RESPOND_METHODS), fields, "method")
    clean: dict[str, Any] = {
        "method": method,
        "contact": _field(text, fields, "contact"),
    }
    if method == "email" and not EMAIL_RE.match(clean["contact"]):
        raise Invalid(f".contact: {clean['contact']!r} is not an email address")
    if "url" in fields:
        clean["url"] = http_url(fields["url"])
    elif method == "form":
        raise Invalid(".url: a form needs its link")
    if "event" in fields:
        event = _mapping(
            fields["event"],
            required=("name", "starts", "location"),
            optional=(),
            where=".event",
        )
        clean["event"] = {}
        for key, convert in (
            ("name", text),
            ("starts", aware_datetime),
            ("location", text),
        ):
            clean["event"][key] = _field(convert, event, key, ".event")
    elif method == "event":
        raise Invalid(".event: an event needs its name, starts and location")
    return clean


def period(value: Any) -> str:
    """A review cycle such as `12 months`: kept as written, checked here."""
    value = text(value)
    try:
        parse_period(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return " ".join(value.split())


def changes(value: Any) -> list[dict[str, Any]]:
    """Notes of significant changes: `{date, note}` each, newest first, no
    note given twice on one day."""
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of one or more {date, note} entries")
    clean: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        fields = _mapping(
            item, required=("date", "note"), optional=(), where=f"[{index}]"
        )
        change = {
            "date": _sub(plain_date, fields, "date", index),
            "note": " ".join(_sub(text, fields, "note", index).split()),
        }
        if clean and change["date"] > clean[-1]["date"]:
            raise Invalid(
                f"[{index}].date: {change['date']} is newer than the entry before "
                f"it ({clean[-1]['date']}): list changes newest first"
            )
        if change in clean:
            raise Invalid(f"[{index}]: repeats [{clean.index(change)}]")
        clean.append(change)
    return clean


# -- old addresses (redirect_from, read by lab_redirects)

# The one query form kept: WordPress's own `/?p=123` (and `/?page_id=7`).
OLD_QUERY_RE = re.compile(r"^[A-Za-z0-9_]+=[A-Za-z0-9_.-]+$")
# What a path keeps unencoded (RFC 3986 pchar and "/"); everything else,
# non-ASCII letters included, is percent-encoded with upper-case hex, so that
# one address has one spelling however it was written.
PATH_SAFE = "/!$&'()*+,;=:@-._~"
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _control(value: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)


def old_path(value: Any) -> str:
    """An old address of a page, from the site's root: `/2019/03/14/slug/`,
    `/old-page.html`, or `/?p=123`. Returned in one spelling: percent-encoding
    normalised (`/caf%c3%a9/` and `/café/` are both `/caf%C3%A9/`)."""
    if isinstance(value, str) and _control(value):
        raise Invalid(f"{value!r} contains a control character")
    value = text(value)
    if not value.startswith("/") or value.startswith("//"):
        raise Invalid(
            f"{value!r} is not a path from the site's root: start it with one "
            "'/' and leave out the scheme and host"
        )
    if "\\" in value:
        raise Invalid(f"{value!r} contains a backslash")
    if "#" in value:
        raise Invalid(f"{value!r} has a fragment (#...), which never reaches a server")
    path, has_query, query = value.partition("?")
    if has_query:
        if path != "/" or not OLD_QUERY_RE.match(query):
            raise Invalid(
                f"{value!r}: the only address with a query kept is /?key=value, "
                "as WordPress's /?p=123"
            )
        return value
    if _BAD_PERCENT_RE.search(path):
        raise Invalid(f"{value!r} has a '%' that is not followed by two hex digits")
    if re.search(r"%2[Ff]", path):
        raise Invalid(f"{value!r} has an encoded slash (%2F)")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise Invalid(f"{value!r} is percent-encoded, but not as UTF-8") from None
    if _control(decoded):
        raise Invalid(f"{value!r} contains an encoded control character")
    segments = decoded.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        raise Invalid(f"{value!r} has a '.' or '..' part")
    if "" in segments[:-1]:
        raise Invalid(f"{value!r} has an empty part (//)")
    return quote(decoded, safe=PATH_SAFE)


def old_paths(value: Any) -> list[str]:
    """A list of old addresses (a single one is a list of one), each once."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise Invalid(f"expected a list of paths, got {kind_of(value)}")
    clean = [_item(old_path, item, index) for index, item in enumerate(value)]
    for index, path in enumerate(clean):
        first = clean.index(path)
        if first != index:
            raise Invalid(f"[{index}]: {path!r} is the same address as [{first}]")
    return clean


# -- the content types


@dataclass(frozen=True)
class Field:
    convert: Callable[[Any], Any]
    required: bool = False


# Every content type may say when it was last reviewed, when it is due again
# (a cycle or a fixed day, not both), who owns it (an author key, checked
# against authors.yaml by the generator) and what changed significantly.
REVIEW_FIELDS: dict[str, Field] = {
    "reviewed": Field(plain_date),
    "review_every": Field(period),
    "next_review": Field(plain_date),
    "owner": Field(slug),
    "changes": Field(changes),
}

POST_STATUSES = ("published", "draft", "hidden")
COMMENT_STATES = ("open", "closed")

SCHEMAS: dict[str, dict[str, Field]] = {
    "post": {
        "title": Field(text, required=True),
        "date": Field(date_or_aware_datetime, required=True),
        "modified": Field(date_or_aware_datetime),
        "authors": Field(text_list, required=True),
        "category": Field(text, required=True),
        "tags": Field(text_list),
        "summary": Field(text, required=True),
        "challenge": Field(slug),
        "phase": Field(slug),
        "image": Field(image),
        "social": Field(social),
        "slug": Field(slug),
        "status": Field(one_of(*POST_STATUSES)),
        # The feed id, for a post moved to a new file (see README: Feeds).
        "id": Field(text),
        # Read by lab_comments: "closed" keeps a post's comments but drops the form.
        "comments": Field(one_of(*COMMENT_STATES)),
        **REVIEW_FIELDS,
        # Old addresses that lead here (lab_redirects; README: Addresses).
        "redirect_from": Field(old_paths),
    },
    "page": {
        "title": Field(text, required=True),
        "summary": Field(text, required=True),
        "slug": Field(slug),
        "modified": Field(date_or_aware_datetime),
        "image": Field(image),
        "social": Field(social),
        "status": Field(one_of(*POST_STATUSES)),
        # For special pages such as the 404 page, written outside the usual URLs.
        "template": Field(slug),
        "save_as": Field(text),
        **REVIEW_FIELDS,
        # Old addresses that lead here (lab_redirects; README: Addresses).
        "redirect_from": Field(old_paths),
    },
    "challenge": {
        "title": Field(text, required=True),
        "slug": Field(slug),
        "summary": Field(text, required=True),
        "theme": Field(text, required=True),
        "phases": Field(phases, required=True),
        "team": Field(text_list, required=True),
        "image": Field(image),
        "social": Field(social),
        "modified": Field(date_or_aware_datetime),
        "status": Field(one_of(*POST_STATUSES)),
        **REVIEW_FIELDS,
        # Old addresses that lead here (lab_redirects; README: Addresses).
        "redirect_from": Field(old_paths),
    },
    "call": {
        "title": Field(text, required=True),
        "slug": Field(slug),
        "summary": Field(text, required=True),
        "challenge": Field(slug),
        "opens": Field(aware_datetime, required=True),
        "closes": Field(aware_datetime, required=True),
        "commitments": Field(commitments, required=True),
        "audience": Field(text, required=True),
        "respond": Field(respond, required=True),
        "support": Field(text),
        "id": Field(text),
        "image": Field(image),
        "social": Field(social),
        "modified": Field(date_or_aware_datetime),
        "status": Field(one_of(*POST_STATUSES)),
        **REVIEW_FIELDS,
        # Old addresses that lead here (lab_redirects; README: Addresses).
        "redirect_from": Field(old_paths),
    },
}


def validate(
    kind: str, data: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """Check front matter against the schema of `kind`.

    Returns the converted fields that passed and every problem found, as
    (field, reason) pairs in a stable order.
    """
    schema = SCHEMAS[kind]
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    for name in data:
        if not isinstance(name, str) or name not in schema:
            problems.append(
                (str(name), f"unknown field for a {kind} (known: {', '.join(schema)})")
            )
    for name, field in schema.items():
        if name not in data:
            if field.required:
                problems.append((name, "is required"))
            continue
        if data[name] is None:
            # `title:` with nothing after it: a value forgotten, not left out.
            problems.append((name, "is empty: give it a value or remove the line"))
            continue
        try:
            clean[name] = field.convert(data[name])
        except Invalid as exc:
            reason = str(exc)
            # Nested reasons start with their sub-path: `[2].ends: ...`.
            if reason.startswith(("[", ".")):
                sub, _, reason = reason.partition(": ")
                problems.append((name + sub, reason))
            else:
                problems.append((name, reason))
    opens, closes = clean.get("opens"), clean.get("closes")
    if kind == "call" and opens and closes and closes <= opens:
        problems.append(("closes", "must be after opens"))
    if kind == "post" and "phase" in clean and "challenge" not in clean:
        problems.append(("phase", "needs a challenge"))
    problems += review_problems(clean, data)
    return clean, problems


def review_problems(clean: Mapping[str, Any], data: Mapping[str, Any]) -> list[Problem]:
    """The rules between the review fields (and a post's date); those that
    need today or the authors file are the generator's."""
    problems: list[Problem] = []
    if "review_every" in data and "next_review" in data:
        problems.append(("next_review", "give review_every or next_review, not both"))
    reviewed, next_review = clean.get("reviewed"), clean.get("next_review")
    if reviewed and next_review and next_review <= reviewed:
        problems.append(
            ("next_review", f"{next_review} is not after the last review ({reviewed})")
        )
    published = clean.get("date")
    if published is not None:
        day = published.date() if isinstance(published, dt.datetime) else published
        for index, change in enumerate(clean.get("changes", [])):
            if change["date"] < day:
                problems.append(
                    (
                        f"changes[{index}].date",
                        f"{change['date']} is before the post was published ({day})",
                    )
                )
    return problems


def slugify_simple(value: str) -> str:
    """Slug of a phase name: lower case, words joined by single hyphens."""
    return "-".join(re.findall(r"[a-z0-9]+", value.lower()))


def _mapping(
    value: Any, required: tuple[str, ...], optional: tuple[str, ...], where: str = ""
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{where}: expected a mapping, got {kind_of(value)}".lstrip(": "))
    prefix = f"{where}." if where else "."
    for key in value:
        if key not in required and key not in optional:
            raise Invalid(f"{prefix}{key}: unknown field")
    for key in required:
        if key in value and value[key] is None:
            raise Invalid(f"{prefix}{key}: is empty")
        if key not in value:
            raise Invalid(f"{prefix}{key}: is required")
    return value


def _sub(convert: Callable[[Any], Any], fields: dict, key: str, index: int) -> Any:
    try:
        return convert(fields[key])
    except Invalid as exc:
        raise Invalid(f"[{index}].{key}: {exc}") from None


def _field(
    convert: Callable[[Any], Any], fields: dict, key: str, where: str = ""
) -> Any:
    try:
        return convert(fields[key])
    except Invalid as exc:
        raise Invalid(f"{where}.{key}: {exc}") from None


def _item(convert: Callable[[Any], Any], value: Any, index: int) -> Any:
    try:
        return convert(value)
    except Invalid as exc:
        raise Invalid(f"[{index}]: {exc}") from None
