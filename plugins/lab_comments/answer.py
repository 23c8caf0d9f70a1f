"""The endpoint's answer to a refused comment, as a page of the site.

The build writes a "shell" (LAB_COMMENTS_ANSWER_SAVE_AS): a page in the site's
own layout, its links and stylesheet absolute, with two markers where the
endpoint puts its words: SHELL_TITLE in the <title> and SHELL_CONTENT in the
<main>. The endpoint fills only those (`fill_shell`) with HTML made here from
escaped values: an error summary that links to each field with a problem
(GOV.UK's error summary pattern), the page's one h1, and the form again with
what the reader sent, so that they can correct it and send it again. Without
a usable shell the same content goes into a plain page (`plain_page`).

Shared by nobody but the endpoint, and the build for the two markers: no
Pelican, no files but the shell (`Shell`), which is re-read when it changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path

from . import schema

logger = logging.getLogger(__name__)

# The shell's two places for the endpoint's words (each exactly once).
SHELL_TITLE = "%%lab-comments-answer-title%%"
SHELL_CONTENT = "%%lab-comments-answer-content%%"


@dataclass(frozen=True)
class Field:
    """A field of the comment form as the reader sees it (the same id, label
    and hint as theme/templates/partials/comments.html)."""

    id: str
    label: str
    # How a message names the field ("Your name must be ...").
    subject: str
    # The message when it was left empty ("" when it may be).
    required: str
    hint: str


FIELDS: dict[str, Field] = {
    "name": Field(
        "comment-name", "Your name", "Your name", "Enter your name",
        "Shown with your comment.",
    ),
    "email": Field(
        "comment-email", "Email address", "Your email address",
        "Enter your email address",
        "Never shown: we use it only about your comment.",
    ),
    "website": Field(
        "comment-website", "Your website (optional)", "Your website address", "",
        "Your name will link to it. Start it with https:// or http://.",
    ),
    "body": Field(
        "comment-body", "Your comment", "Your comment", "Enter your comment",
        f"Up to {schema.BODY_MAX:,} characters. You can use Markdown: *italics*, "
        "**bold**, and links written as [words](https://example.org). Images "
        "are not shown.",
    ),
    "reply_to": Field(
        "comment-reply-to", "Replying to", "The comment you reply to", "", "",
    ),
}  # fmt: skip

EMAIL_MESSAGE = "Enter an email address like name@example.org"
WEBSITE_MESSAGE = "Enter your website's address like https://example.org"
REPLY_MESSAGE = (
    "The comment you chose to reply to is not on this update (it may have been "
    "removed): choose “No one” to send a new comment"
)
CHANGED_MESSAGE = (
    "The form was changed before it was sent. Please send it again from the "
    "update's page"
)


def reader_message(field: str, reason: str) -> tuple[str, str]:
    """(the form field it is about, or ""; the message a reader sees) for a
    problem the schema found: GOV.UK's error message style ("Enter your
    name"), in the form's words, never a field's internal name."""
    if field in FIELDS:
        about = FIELDS[field]
        if reason == "is required" and about.required:
            return field, about.required
        if field == "email" and reason.startswith("is not an email address"):
            return field, EMAIL_MESSAGE
        if field == "website" and reason in (
            "is not a web address",
            "must name a website, such as https://example.org",
        ):
            return field, WEBSITE_MESSAGE
        if field == "reply_to":
            return field, REPLY_MESSAGE
        return field, f"{about.subject} {reason}"
    if field == "post":
        if "closed" in reason:
            return "", "Comments on this update are closed"
        return "", (
            "The update you are commenting on is not on the site. Please send "
            "your comment from the update's page"
        )
    if field:  # the timing fields, or a field the form does not have
        return "", CHANGED_MESSAGE
    return "", reason


@dataclass(frozen=True)
class Answer:
    """What the endpoint puts in the shell: the <title> text and <main>'s HTML."""

    title: str
    content: str


def answer(
    status: int,
    title: str,
    problems: list[schema.Problem],
    back: str,
    form: Mapping[str, list[str]] | None,
    *,
    notify: bool = False,
) -> Answer:
    """The page for a refusal: problems as an error summary (each field's one
    a link to that field below), the h1, and, when the post is known and the
    form was read, the form again with what the reader sent (never the
    honeypot; the timing fields empty, as a page without its script sends
    them)."""
    by_field: dict[str, str] = {}
    general: list[str] = []
    for field, reason in problems:
        target, message = reader_message(field, reason)
        if target and target not in by_field:
            by_field[target] = message
        elif not target and message not in general:
            general.append(message)
    show_form = bool(back and form is not None and status != 403)
    if not show_form:
        # Without the form there is nothing to link to: say it in words.
        general += list(by_field.values())
        by_field = {}
    items = [
        f'<li><a href="#{FIELDS[f].id}">{escape(m)}</a></li>'
        for f, m in by_field.items()
    ] + [f"<li>{escape(m)}</li>" for m in general]
    parts = [
        '<div class="lab-error-summary" role="alert" tabindex="-1" autofocus '
        'aria-labelledby="error-summary-title">',
        '<h2 class="lab-error-summary__title" id="error-summary-title">There is a '
        "problem</h2>",
        '<ul class="lab-list lab-error-summary__list">',
        *items,
        "</ul>",
        "</div>",
        f'<h1 class="lab-heading-xl">{escape(title)}</h1>',
    ]
    if show_form:
        parts.append(
            '<p class="lab-body">Your comment has not been sent. Check what you '
            "wrote below, correct it and send it again.</p>"
        )
        parts.append(form_html(form or {}, by_field, notify=notify))
    if back:
        parts.append(
            f'<p class="lab-body"><a href="{escape(back + "#comments")}">Go back '
            "to the update</a></p>"
        )
    return Answer(("Error: " if by_field else "") + title, "\n".join(parts))


def _value(form: Mapping[str, list[str]], field: str) -> str:
    values = form.get(field) or [""]
    return values[0]


def form_html(
    form: Mapping[str, list[str]], errors: Mapping[str, str], *, notify: bool = False
) -> str:
    """The comment form with the reader's values, each escaped, and each
    field's error above it. It has no action: it posts back to the address
    that answered, the endpoint. The box "Email me when someone replies"
    only when `notify` (the endpoint sends readers' email)."""
    reply_to = _value(form, "reply_to")
    parts = [
        '<form class="lab-comment-form" id="comment-form" method="post" '
        'accept-charset="utf-8" aria-labelledby="comment-form-heading">',
        '<h2 class="lab-comment-form__heading" id="comment-form-heading">Send '
        "your comment again</h2>",
        f'<input type="hidden" name="post" value="{escape(_value(form, "post"))}">',
    ]
    if "reply_to" in errors:
        described, _ = _state("reply_to", errors)
        parts.append(
            _group(
                "reply_to",
                errors,
                '<select class="lab-comment-form__select" id="comment-reply-to" '
                f'name="reply_to"{described}><option value="">No one: a new '
                "comment</option></select>",
            )
        )
    else:
        parts.append(
            f'<input type="hidden" name="reply_to" value="{escape(reply_to)}">'
        )
        if reply_to:
            parts.append(
                '<p class="lab-body">You are replying to a comment on the update.</p>'
            )
    # The honeypot as the post's page has it, and as empty.
    parts += [
        '<div class="lab-comment-form__trap lab-u-visually-hidden" aria-hidden="true">',
        f'<label for="comment-{schema.HONEYPOT}">Leave this field empty</label>',
        f'<input id="comment-{schema.HONEYPOT}" name="{schema.HONEYPOT}" type="text" '
        'value="" tabindex="-1" autocomplete="off">',
        "</div>",
        f'<input type="hidden" name="{schema.LOADED}" value="">',
        f'<input type="hidden" name="{schema.SENT}" value="">',
    ]
    inputs = {
        "name": ("text", "name", schema.NAME_MAX, " required"),
        "email": ("email", "email", schema.EMAIL_MAX, " required"),
        "website": ("url", "url", schema.WEBSITE_MAX, ""),
    }
    for field, (kind, complete, maximum, required) in inputs.items():
        described, error_class = _state(field, errors)
        value = escape(_value(form, field))
        control = (
            f'<input class="lab-comment-form__input{error_class}" '
            f'id="{FIELDS[field].id}" name="{field}" type="{kind}" '
            f'autocomplete="{complete}" spellcheck="false" '
            f'maxlength="{maximum}"{required}{described} value="{value}">'
        )
        parts.append(_group(field, errors, control))
    described, error_class = _state("body", errors)
    body = escape(_value(form, "body"))
    control = (
        f'<textarea class="lab-comment-form__textarea{error_class}" '
        f'id="comment-body" name="body" rows="8" minlength="{schema.BODY_MIN}" '
        f'maxlength="{schema.BODY_MAX}" required{described}>\n{body}</textarea>'
    )
    parts.append(_group("body", errors, control))
    if notify:
        # The reader's choice, kept (theme/templates/partials/comments.html).
        checked = " checked" if _value(form, "notify") == "on" else ""
        parts.append(
            f'<p><label><input name="notify" type="checkbox"{checked}> '
            "Email me when someone replies</label></p>"
        )
    parts += [
        '<button type="submit" class="lab-button">Send comment for moderation</button>',
        "</form>",
    ]
    return "\n".join(parts)


def _state(field: str, errors: Mapping[str, str]) -> tuple[str, str]:
    """A control's aria-describedby attribute (its hint and error) and the
    class it adds when it has an error."""
    about = FIELDS[field]
    ids = [f"{about.id}-hint"] if about.hint else []
    if field in errors:
        ids.append(f"{about.id}-error")
    described = f' aria-describedby="{" ".join(ids)}"' if ids else ""
    error_class = " lab-comment-form__input--error" if field in errors else ""
    return described, error_class


def _group(field: str, errors: Mapping[str, str], control: str) -> str:
    """One field: label, hint, its error message (if any), then the control."""
    about = FIELDS[field]
    parts = [
        '<div class="lab-comment-form__group'
        + (' lab-comment-form__group--error">' if field in errors else '">'),
        f'<label class="lab-comment-form__label" for="{about.id}">'
        f"{about.label}</label>",
    ]
    if about.hint:
        parts.append(
            f'<p class="lab-comment-form__hint" id="{about.id}-hint">'
            f"{escape(about.hint)}</p>"
        )
    if field in errors:
        parts.append(
            f'<p class="lab-error-message" id="{about.id}-error"><span '
            f'class="lab-u-visually-hidden">Error:</span> {escape(errors[field])}</p>'
        )
    return "\n".join([*parts, control, "</div>"])


def fill_shell(shell: str, page: Answer) -> bytes:
    """The shell with its two markers replaced (and nothing else touched)."""
    text = shell.replace(SHELL_TITLE, escape(page.title), 1)
    return text.replace(SHELL_CONTENT, page.content, 1).encode("utf-8")


def plain_page(page: Answer) -> bytes:
    """The same content in a page of its own, when there is no shell."""
    return (
        '<!DOCTYPE html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(page.title)}</title>\n</head>\n<body>\n<main>\n"
        f"{page.content}\n</main>\n</body>\n</html>\n"
    ).encode()


def shell_problem(text: str) -> str:
    """Why a shell cannot be used ("" if it can)."""
    for marker in (SHELL_TITLE, SHELL_CONTENT):
        if text.count(marker) != 1:
            return f"it does not hold {marker!r} exactly once"
    return ""


class Shell:
    """The build's shell page, re-read whenever the file changes (a
    rebuild); `text()` is None while it is missing or unusable, which is
    logged once until it is usable again."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._text: str | None = None
        self._warned = False

    def text(self) -> str | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return self._text
            text = self.path.read_text(encoding="utf-8")
            problem = shell_problem(text)
        except (OSError, UnicodeDecodeError) as exc:
            problem, stamp, text = f"it cannot be read ({type(exc).__name__})", None, ""
        with self._lock:
            self._stamp = stamp
            self._text = None if problem else text
            if problem and not self._warned:
                self._warned = True
                logger.warning(
                    "comments endpoint: the answer page's shell %s cannot be "
                    "used: %s; answering with plain pages until it can",
                    self.path,
                    problem,
                )
            elif not problem:
                self._warned = False
        return self._text
