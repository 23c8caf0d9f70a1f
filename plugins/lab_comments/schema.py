"""The one schema of a comment, shared by the endpoint, the moderation CLI and
the build: which fields exist, their limits, and how each is checked.

Three shapes of the same comment:

* a **submission**: the form a reader sends (`parse_submission`);
* a **pending** record: a submission plus what the server adds (id, date, the
  email address, keyed hashes); private, in the queue (`validate_pending`);
* a **published** record: only what is shown on the site, never an email
  address, a hash of one or an IP address (`validate_published`).

Every check returns reasons instead of raising at the first problem, so that
a reader (or a moderator) sees all that is wrong at once. Pure functions over
plain values: no Pelican, no files, no YAML.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from lab_common.kinds import kind_of
from lab_common.nesting import nesting_problem

from . import names

# -- limits (the form's maxlength attributes come from these too)

NAME_MAX = 80
EMAIL_MAX = 254
WEBSITE_MAX = 500
BODY_MIN = 2
BODY_MAX = 8000
# A whole request body; larger ones are refused before they are read.
REQUEST_MAX = 64 * 1024

# Post slugs as lab_content writes them; comment ids in the same alphabet, so
# that neither can name another folder or file (no dots, no slashes).
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ID_MAX = 64
# One @, a dot in the domain, and none of the characters that make an
# address mean something else to a mail program: a comment in brackets
# ("name(1)@example.org"), a group ("list:name@..."), a domain literal, a
# quoted or routed local part ("a%b@relay", "a!b"). An apostrophe is a
# name's ("o'brien@"), in the local part only. Mail is sent to the
# address as written and it is kept under a hash of the same string, so
# "name(1)@" and "name(2)@" must not both reach "name@" (schema.email).
EMAIL_RE = re.compile(
    r"^[^@\s<>\",;:()\[\]\\%!]+@[^@\s<>\"',;:()\[\]\\%!]+"
    r"\.[^@\s<>\"',;:()\[\]\\%!.]+$"
)

# The form's fields. `HONEYPOT` is hidden from people (and from assistive
# technology); a bot that fills it is answered as if it had succeeded.
# `LOADED` and `SENT` are stamped by the page's script (milliseconds on the
# reader's clock, so clock skew cancels out); both are empty without JavaScript.
HONEYPOT = "subject"
LOADED = "loaded"
SENT = "sent"
# `notify`: the unticked box "Email me when someone replies" ("on" when
# ticked); kept by the endpoint in its private store, never in a record.
FORM_FIELDS = ("post", "reply_to", "name", "email", "website", "body", "notify")
CONTROL_FIELDS = (HONEYPOT, LOADED, SENT)
REQUIRED_FORM_FIELDS = ("post", "name", "email", "body")

# What a reader sees for each field in an error message.
LABELS = {
    "post": "Update",
    "reply_to": "Reply to",
    "name": "Your name",
    "email": "Email address",
    "website": "Your website",
    "body": "Comment",
    "notify": "Email me when someone replies",
    HONEYPOT: "Leave this field empty",
    LOADED: "Page loaded",
    SENT: "Form sent",
}

PUBLISHED_FIELDS = ("id", "post", "name", "website", "date", "body", "reply_to",
                    "staff")  # fmt: skip
PENDING_FIELDS = ("id", "post", "reply_to", "name", "email", "website", "body",
                  "date", "client", "sender", "fingerprint")  # fmt: skip
# Fields that must never be in a published file, with the reason we give.
PRIVATE_FIELDS = ("email", "client", "sender", "fingerprint", "ip")

# Characters that change the direction of the text around them (Trojan
# Source): they can make a name or a link read as something else.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Line and paragraph separators and NEL: line breaks in some parsers only.
ODD_BREAKS = frozenset("\u0085\u2028\u2029")

Problem = tuple[str, str]  # (field, reason)


class Invalid(ValueError):
    """A value is not acceptable; the message is the reason shown."""


# -- converters: each takes a value and returns the clean value or raises


def normalise(value: str) -> str:
    """NFC, with every line break as "\\n"."""
    value = unicodedata.normalize("NFC", value)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for char in ODD_BREAKS:
        value = value.replace(char, "\n")
    return value


def _suspect_pattern(allowed: str) -> re.Pattern[str]:
    """Any character _check_characters could refuse (bidi controls, control
    characters but `allowed`, surrogates, non-characters), as one class."""
    controls = "".join(
        chr(code)
        for code in [*range(0x20), *range(0x7F, 0xA0)]
        if chr(code) not in allowed
    )
    nonchars = "".join(
        chr(plane + last)
        for plane in range(0, 0x110000, 0x10000)
        for last in (0xFFFE, 0xFFFF)
    )
    members = controls + "".join(BIDI_CONTROLS) + nonchars
    return re.compile("[" + re.escape(members) + "\ud800-\udfff\ufdd0-\ufdef]")


# Most text has none of them: one regular-expression scan clears it, and only
# text with a suspect character is walked character by character for the
# reason (which the walk alone decides).
_SUSPECT = {False: _suspect_pattern(""), True: _suspect_pattern("\n\t")}


def _check_characters(value: str, multiline: bool) -> None:
    if _SUSPECT[multiline].search(value) is None:
        return
    for char in value:
        if char in BIDI_CONTROLS:
            raise Invalid(
                "must not contain characters that reverse the direction of text "
                f"(U+{ord(char):04X})"
            )
        if char in "\n\t" and multiline:
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            raise Invalid(f"must not contain control characters (U+{ord(char):04X})")
        if category == "Cs":
            raise Invalid("is not valid Unicode (a lone surrogate)")
        code = ord(char)
        if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
            raise Invalid(f"must not contain non-characters (U+{code:04X})")


def single_line(maximum: int) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"expected text, got {kind_of(value)}")
        value = normalise(value).strip()
        if "\n" in value:
            raise Invalid("must be on one line")
        _check_characters(value, multiline=False)
        if not value:
            raise Invalid("is required")
        if len(value) > maximum:
            raise Invalid(f"must be {maximum} characters or fewer")
        return value

    return check


_one_line_name = single_line(NAME_MAX)


def name(value: Any) -> str:
    """A reader's name as lab_comments.names allows it (nothing invisible),
    normalised (NFKC, single spaces); the same in a form and in a file."""
    value = _one_line_name(value)
    if reason := names.name_problem(value):
        raise Invalid(reason)
    value = names.normalise_name(value)
    if len(value) > NAME_MAX:
        raise Invalid(f"must be {NAME_MAX} characters or fewer")
    return value


def body(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected text, got {kind_of(value)}")
    value = normalise(value).strip()
    _check_characters(value, multiline=True)
    if not value:
        raise Invalid("is required")
    if len(value) < BODY_MIN:
        raise Invalid(f"must be at least {BODY_MIN} characters")
    if len(value) > BODY_MAX:
        raise Invalid(f"must be {BODY_MAX:,} characters or fewer")
    # Cheap and linear, so checked wherever a body is read (the form, the
    # queue, a published file); the rest of the bounds need Markdown
    # (render.BodyRenderer), which the endpoint and the build run.
    if problem := nesting_problem(value):
        raise Invalid(problem)
    return value


def email(value: Any) -> str:
    value = single_line(EMAIL_MAX)(value)
    if not EMAIL_RE.match(value) or parseaddr(value)[1] != value:
        raise Invalid("is not an email address (write it like name@example.org)")
    return value


def website(value: Any) -> str:
    """An http(s) address with a host; no user name or password in it, which
    would let `https://nhs.uk@spam.example` pass for another site."""
    value = single_line(WEBSITE_MAX)(value)
    if any(char.isspace() for char in value):
        raise Invalid("must not contain spaces")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise Invalid("is not a web address") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid("must start with https:// or http://")
    if not parts.hostname or "@" in parts.netloc:
        raise Invalid("must name a website, such as https://example.org")
    return value


def slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value) or len(value) > 200:
        raise Invalid("is not the address of an update on this site")
    return value


def comment_id(value: Any) -> str:
    if not isinstance(value, str) or not ID_RE.match(value) or len(value) > ID_MAX:
        raise Invalid("is not a comment id (lower-case letters, digits, hyphens)")
    return value


def utc_datetime(value: Any) -> dt.datetime:
    """A date-time with a zone (a YAML timestamp or an ISO 8601 string such as
    2025-04-11T08:14:00Z), as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(
                f"{value!r} is not a date-time (write 2025-04-11T08:14:00Z)"
            ) from None
    if not isinstance(value, dt.datetime):
        raise Invalid(f"expected a date-time, got {kind_of(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid("has no time zone (add Z for UTC)")
    return value.astimezone(dt.UTC)


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {kind_of(value)}")
    return value


def checkbox(value: Any) -> bool:
    """A ticked checkbox without a value sends "on"; nothing else is one."""
    if value != "on":
        raise Invalid('must be "on" when ticked')
    return True


def hex_digest(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise Invalid("expected a 64-character hex digest")
    return value


def format_date(value: dt.datetime) -> str:
    """The stored form of a date: UTC, whole seconds, `Z`."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- submissions (the form)


@dataclass(frozen=True)
class Submission:
    post: str
    name: str
    email: str
    body: str
    reply_to: str | None = None
    website: str | None = None
    notify: bool = False


@dataclass(frozen=True)
class Controls:
    """The anti-spam fields: judged by the endpoint's AbuseControl."""

    honeypot: str = ""
    loaded: int | None = None
    sent: int | None = None


_FORM_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "post": slug,
    "reply_to": comment_id,
    "name": name,
    "email": email,
    "website": website,
    "body": body,
    "notify": checkbox,
}


def _single(form: Mapping[str, list[str]], field: str, problems: list[Problem]):
    """The one value sent for `field` ("" when it was not sent); None, with a
    problem noted, when it was sent more than once."""
    items = form.get(field, [])
    if len(items) > 1:
        problems.append((field, "was sent more than once"))
        return None
    return items[0] if items else ""


def parse_controls(form: Mapping[str, list[str]]) -> tuple[Controls, list[Problem]]:
    """The honeypot and the two time stamps, read before anything else."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for field in CONTROL_FIELDS:
        value = _single(form, field, problems)
        if value is None:
            continue
        if field == HONEYPOT:
            values["honeypot"] = value
        elif value.strip():
            if not re.fullmatch(r"\d{1,16}", value.strip()):
                problems.append((field, "must be a whole number of milliseconds"))
            else:
                values[field] = int(value.strip())
    return Controls(**values), problems


def parse_submission(
    form: Mapping[str, list[str]],
) -> tuple[Submission | None, list[Problem]]:
    """Check a decoded form (field -> values, as `urllib.parse.parse_qs` with
    `keep_blank_values` gives it). Unknown fields are refused, not ignored.

    Returns the submission (None if any problem) and every problem found, in
    the order of the form's fields.
    """
    problems: list[Problem] = []
    known = FORM_FIELDS + CONTROL_FIELDS
    for field in form:
        if field not in known:
            problems.append((_printable(field), "is not a field of this form"))
    clean: dict[str, Any] = {}
    for field in FORM_FIELDS:
        value = _single(form, field, problems)
        if value is None:
            continue
        if not value.strip():
            if field in REQUIRED_FORM_FIELDS:
                problems.append((field, "is required"))
            continue
        try:
            clean[field] = _FORM_CONVERTERS[field](value)
        except Invalid as exc:
            problems.append((field, str(exc)))
    if problems:
        return None, problems
    return Submission(**clean), []


# -- records in files


def _validate(
    data: Any,
    converters: Mapping[str, Callable[[Any], Any]],
    required: tuple[str, ...],
    what: str,
) -> tuple[dict[str, Any], list[Problem]]:
    if not isinstance(data, dict):
        return {}, [
            ("file", f"expected a mapping of field: value, got {kind_of(data)}")
        ]
    problems: list[Problem] = []
    for key in data:
        if key not in converters:
            reason = f"unknown field for {what} (known: {', '.join(converters)})"
            if key in PRIVATE_FIELDS:
                reason = (
                    "must never be in a published comment (it holds or is derived "
                    "from an email or IP address)"
                )
            problems.append((_printable(str(key)), reason))
    clean: dict[str, Any] = {}
    for key, convert in converters.items():
        if data.get(key) is None:
            if key in required:
                problems.append((key, "is required"))
            continue
        try:
            clean[key] = convert(data[key])
        except Invalid as exc:
            problems.append((key, str(exc)))
    return clean, problems


_PUBLISHED: dict[str, Callable[[Any], Any]] = {
    "id": comment_id,
    "post": slug,
    "name": name,
    "website": website,
    "date": utc_datetime,
    "body": body,
    "reply_to": comment_id,
    "staff": flag,
}
# A pending record is the submission plus what the server adds.
_PENDING: dict[str, Callable[[Any], Any]] = {
    "id": comment_id,
    **_FORM_CONVERTERS,
    "date": utc_datetime,
    "client": hex_digest,
    "sender": hex_digest,
    "fingerprint": hex_digest,
}


def validate_published(data: Any) -> tuple[dict[str, Any], list[Problem]]:
    """A published comment, as read from content/comments/<post>/<id>.yaml."""
    clean, problems = _validate(
        data, _PUBLISHED, ("id", "post", "name", "date", "body"), "a comment"
    )
    if clean.get("reply_to") and clean.get("reply_to") == clean.get("id"):
        problems.append(("reply_to", "a comment cannot reply to itself"))
    return clean, problems


def validate_pending(data: Any) -> tuple[dict[str, Any], list[Problem]]:
    """A pending comment, as read from the queue."""
    return _validate(
        data,
        _PENDING,
        ("id", "post", "name", "email", "body", "date", "client", "sender",
         "fingerprint"),
        "a pending comment",
    )  # fmt: skip


def published_record(pending: Mapping[str, Any], staff: bool = False) -> dict:
    """What a pending comment becomes when approved: only the public fields,
    in a fixed order, as plain YAML values (the date as a UTC string)."""
    record: dict[str, Any] = {
        "id": pending["id"],
        "post": pending["post"],
        "name": pending["name"],
    }
    if pending.get("website"):
        record["website"] = pending["website"]
    record["date"] = format_date(pending["date"])
    if pending.get("reply_to"):
        record["reply_to"] = pending["reply_to"]
    if staff:
        record["staff"] = True
    record["body"] = pending["body"]
    return record


def _printable(value: str) -> str:
    """A field name fit to show back: odd characters escaped, length capped."""
    shown = value.encode("unicode_escape", "backslashreplace").decode("ascii")
    return shown[:40] + ("…" if len(shown) > 40 else "")
