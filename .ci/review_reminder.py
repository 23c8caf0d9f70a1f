#!/usr/bin/env python3
"""Remind page owners of overdue content reviews through one forge issue.

    python3 .ci/review_reminder.py review.json [--label content-review]
    python3 .ci/review_reminder.py review.json --dry-run   # print the issue only

Reads the report `make review-report JSON=review.json` writes ({"today": ...,
"items": [{"path", "title", "url", "owner", "owner_name", "owner_handle",
"reviewed", "next_review", "status": "overdue" | "due-soon"}]}) and, through
GitHub's REST API (Gitea and Forgejo take label ids, not names, on a new
issue: not supported yet):

- something overdue and no reminder issue open: opens one, listing the overdue
  and soon-due pages by owner, mentioning owners who have a forge handle;
- something overdue and the issue open: edits its title and body to today's
  list (no request at all when nothing changed, so a re-run is harmless), and
  comments once when a page has newly become overdue, mentioning only the
  owners of those pages (a mention added by editing a body notifies no one);
- nothing overdue: closes the open issue after writing the final list (pages
  due soon, if any) into it; no issue is opened for pages only due soon
  (`make review-report` lists those any day). The next overdue page opens a
  new issue.

The issue is found by its label (created when missing) among open issues, and
by a marker in its body, so that an issue a person labels by hand is never
taken over. Settings come from the environment GitHub Actions provides:
GITHUB_TOKEN (never printed), GITHUB_API_URL (default https://api.github.com)
and GITHUB_REPOSITORY (owner/name). Exit status: 0 done, 1 the forge failed or
refused (one line on standard error), 2 a bad report or setting.

Standard library only: it needs nothing from the site's venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

LABEL = "content-review"
LABEL_COLOR = "fbca04"
LABEL_DESCRIPTION = "Pages whose review is overdue (opened by the daily workflow)"
# Marks the issues this script writes, and holds the keys of the pages that
# were overdue when it last wrote, to tell which are newly overdue.
MARKER = "<!-- lab-content-review"
MARKER_RE = re.compile(r"<!-- lab-content-review (\{[^<>]*\}) -->")
DEFAULT_API = "https://api.github.com"
TIMEOUT = 20.0
# Pages of 100 open issues read at most while looking for the reminder.
MAX_PAGES = 20
# GitHub's rule for user names; a handle that breaks it is not mentioned.
HANDLE_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
STATUSES = ("overdue", "due-soon")
GUIDE = "docs/reviews.md"
# Under GitHub's 65,536 characters for an issue's body, with room to spare.
BODY_LIMIT = 60_000
# Pages a comment on newly overdue pages names at most (the body lists all).
COMMENT_ITEMS = 50


class ReportError(Exception):
    """The report or a setting is unusable (exit status 2)."""


class ForgeError(Exception):
    """The forge failed, timed out or refused (exit status 1)."""


# -- the report


@dataclass(frozen=True)
class Item:
    path: str
    title: str
    url: str
    owner: str | None
    owner_name: str | None
    owner_handle: str | None
    reviewed: str | None
    next_review: str
    status: str

    @property
    def key(self) -> str:
        """Names this page's current review: a page reviewed and overdue
        again later is newly overdue. A hash, so it never breaks the marker."""
        raw = f"{self.path}\0{self.next_review}".encode()
        return hashlib.sha256(raw).hexdigest()[:12]


@dataclass(frozen=True)
class Report:
    today: str
    items: tuple[Item, ...]

    @property
    def overdue(self) -> list[Item]:
        return [item for item in self.items if item.status == "overdue"]


def _text(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ReportError(f"{where}: expected text, got {value!r}")
    return value


def _date(value: object, where: str, *, optional: bool = False) -> str | None:
    text = _text(value, where, optional=optional)
    if text is not None and not DATE_RE.fullmatch(text):
        raise ReportError(f"{where}: expected a YYYY-MM-DD date, got {value!r}")
    return text


def parse_report(data: object) -> Report:
    """The report as `make review-report JSON=` writes it, checked; the
    ReportError names the first bad field."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ReportError('expected {"today": ..., "items": [...]}')
    items = []
    for number, raw in enumerate(data["items"]):
        where = f"items[{number}]"
        if not isinstance(raw, dict):
            raise ReportError(f"{where}: expected an object")
        status = raw.get("status")
        if status not in STATUSES:
            raise ReportError(f"{where}.status: expected one of {STATUSES}")
        items.append(
            Item(
                path=_text(raw.get("path"), f"{where}.path"),
                title=_text(raw.get("title"), f"{where}.title"),
                url=_text(raw.get("url"), f"{where}.url"),
                owner=_text(raw.get("owner"), f"{where}.owner", optional=True),
                owner_name=_text(
                    raw.get("owner_name"), f"{where}.owner_name", optional=True
                ),
                owner_handle=_text(
                    raw.get("owner_handle"), f"{where}.owner_handle", optional=True
                ),
                reviewed=_date(raw.get("reviewed"), f"{where}.reviewed", optional=True),
                next_review=_date(raw.get("next_review"), f"{where}.next_review"),
                status=status,
            )
        )
    return Report(today=_date(data.get("today"), "today"), items=tuple(items))


def load_report(path: str) -> Report:
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ReportError(f"{path} is not JSON: {error}") from None
    try:
        return parse_report(data)
    except ReportError as error:
        raise ReportError(f"{path}: {error}") from None


# -- the issue's text (Markdown the forge renders: staff text is escaped)

# Every ASCII punctuation character may be backslash-escaped in CommonMark:
# none of them then starts emphasis, a link, a heading, a table cell or HTML.
PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# A zero-width space (as an entity, so the text stays ASCII) after @, # and :
# (and before the dot of www.) stops the forge from turning what follows into
# a mention, an issue link or an address (bots' release notes do the same).
ZWSP = "&#8203;"


def escape(text: str) -> str:
    """Staff text (a title, a name) as Markdown that shows it as written and
    never pings, links or formats: whitespace folded to single spaces."""
    out = []
    for char in " ".join(text.split()):
        if char == "." and "".join(out[-3:]).lower() == "www":
            out.append(ZWSP)  # www.example.org would become a link
        if char in PUNCTUATION:
            out.append("\\" + char)
        else:
            out.append(char)
        if char in "@#:":
            out.append(ZWSP)  # a mention, an issue number, a scheme://
    return "".join(out)


def code(text: str) -> str:
    """A code span that holds any text: fenced with one more backtick than
    the longest run inside (CommonMark), padded when it starts or ends with
    one. Code spans are never mentions or links."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def valid_handle(handle: str | None) -> str | None:
    if handle is None:
        return None
    handle = handle.removeprefix("@")
    return handle if HANDLE_RE.fullmatch(handle) else None


def owner_heading(item: Item) -> str:
    name = escape(item.owner_name or item.owner or "no name")
    handle = valid_handle(item.owner_handle)
    if item.owner is None:
        return "No owner (set `owner:` in the page's front matter)"
    if handle:
        return f"@{handle} ({name})"
    return name


def link_target(url: str) -> str:
    """The address as a CommonMark <destination>: no spaces, angle brackets
    or line breaks inside."""
    unsafe = {" ": "%20", "<": "%3C", ">": "%3E", "\n": "%0A", "\r": "%0D"}
    return "".join(unsafe.get(char, char) for char in url.strip())


def item_line(item: Item) -> str:
    title = escape(item.title)
    if urllib.parse.urlsplit(item.url).scheme in ("http", "https"):
        # The address stays out of the text: only the link's target.
        page = f"[{title}](<{link_target(item.url)}>)"
    else:
        page = f"{title} ({code(item.url)})"
    reviewed = f"last reviewed {item.reviewed}" if item.reviewed else "never reviewed"
    if item.status == "overdue":
        due = f"**overdue** since {item.next_review}"
    else:
        due = f"due {item.next_review}"
    return f"- {page}: {due}, {reviewed}; {code(item.path)}"


def by_owner(items: Iterable[Item]) -> Iterator[tuple[str, list[Item]]]:
    """Groups in the report's order (by owner), pages without an owner last."""
    items = list(items)
    owned = [item for item in items if item.owner is not None]
    for _, group in groupby(owned, key=lambda item: item.owner):
        group = list(group)
        yield owner_heading(group[0]), group
    unowned = [item for item in items if item.owner is None]
    if unowned:
        yield owner_heading(unowned[0]), unowned


def issue_title(report: Report) -> str:
    count = len(report.overdue)
    if not count:
        return "Content reviews: nothing overdue"
    return f"Content reviews: {count} page{'s' if count != 1 else ''} overdue"


def issue_body(report: Report) -> str:
    overdue = report.overdue
    soon = len(report.items) - len(overdue)
    state = json.dumps({"overdue": sorted(item.key for item in overdue)})
    lines = [f"{MARKER} {state} -->", ""]
    if overdue:
        lines.append(
            f"On {report.today}, {len(overdue)} page(s) are overdue for review"
            f" and {soon} due within the next 30 days, by owner."
        )
    else:
        lines.append(
            f"On {report.today}, nothing is overdue for review"
            + (f"; {soon} page(s) are due within the next 30 days." if soon else ".")
        )
    # GitHub refuses bodies over 65,536 characters: a long list stops short,
    # leaving room for the line that says so.
    room = BODY_LIMIT - sum(len(line) + 1 for line in lines) - len(FOOTER) - 200
    shown = 0
    for heading, items in by_owner(report.items):
        head = ["", f"### {heading}", ""]
        cost = sum(len(line) + 1 for line in head)
        listed = []
        for item in items:
            line = item_line(item)
            if cost + len(line) + 1 > room:
                break
            listed.append(line)
            cost += len(line) + 1
        if listed:
            lines += head + listed
            room -= cost
            shown += len(listed)
        if len(listed) < len(items):
            break
    if shown < len(report.items):
        lines += [
            "",
            f"And {len(report.items) - shown} more page(s):"
            " `make review-report` lists them all.",
        ]
    return "\n".join(lines) + FOOTER


def newly_overdue_comment(report: Report, new: list[Item]) -> str:
    lines = [f"Newly overdue on {report.today}:", ""]
    for heading, items in by_owner(new[:COMMENT_ITEMS]):
        lines.append(f"- {heading}: " + "; ".join(escape(i.title) for i in items))
    if len(new) > COMMENT_ITEMS:
        lines += ["", f"And {len(new) - COMMENT_ITEMS} more: see the list above."]
    return "\n".join(lines) + "\n"


FOOTER = "\n".join(
    [
        "",
        "",
        "---",
        "To clear a page: check it, then set `reviewed:` in its front matter to"
        " the day you checked it (and add a change note if you changed a fact,"
        f" a date, advice or a contact: see `{GUIDE}`). The daily"
        " *Content reviews* workflow rewrites this list and closes this issue"
        " when nothing is overdue. `make review-report` shows the same list.",
        "",
    ]
)


def previous_keys(body: str | None) -> set[str] | None:
    """The overdue keys the last run wrote into the body; None if it holds
    no marker this script wrote."""
    match = MARKER_RE.search(body or "")
    if not match:
        return None
    try:
        state = json.loads(match.group(1))
        return {str(key) for key in state.get("overdue", [])}
    except (ValueError, AttributeError):
        return set()


# -- the forge


@dataclass
class Forge:
    """GitHub's REST API (and those shaped like it) for one repository."""

    api: str
    repo: str
    token: str
    timeout: float = TIMEOUT

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        url = self.api.rstrip("/") + path
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    def _same_origin(self, url: str) -> bool:
        ours, theirs = urllib.parse.urlsplit(self.api), urllib.parse.urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    def request(
        self, method: str, url: str, payload: dict | None = None, *, ok=(200, 201)
    ) -> tuple[int, object, str]:
        """(status, JSON answer, Link header); ForgeError on anything else
        than `ok`, naming the method, the path and the forge's message, never
        the token."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "lab-review-reminder")
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = f"{method} {urllib.parse.urlsplit(url).path}"
        try:
            # Redirects are not followed with the token: the handler below
            # refuses them, so a moved API is an error to look at.
            with OPENER.open(request, timeout=self.timeout) as answer:
                status, raw = answer.status, answer.read()
                link = answer.headers.get("Link", "")
        except urllib.error.HTTPError as error:
            status, raw, link = error.code, error.read(), ""
            if status not in ok:
                message = _message(raw, error.reason)
                raise ForgeError(f"{where}: {status} {message}") from None
        except TimeoutError:
            raise ForgeError(f"{where}: no answer in {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise ForgeError(f"{where}: no answer in {self.timeout:g} s") from None
            raise ForgeError(f"{where}: {reason}") from None
        except OSError as error:
            raise ForgeError(f"{where}: {error}") from None
        if status not in ok:
            raise ForgeError(f"{where}: unexpected {status}")
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ForgeError(f"{where}: {status} answer is not JSON") from None
        return status, body, link

    def open_issues(self, label: str) -> Iterator[dict]:
        """Open issues with the label, every page of them (pull requests,
        which GitHub lists as issues too, left out)."""
        url = self._url(
            f"/repos/{self.repo}/issues",
            {"state": "open", "labels": label, "per_page": "100"},
        )
        for _ in range(MAX_PAGES):
            _, page, link = self.request("GET", url)
            if not isinstance(page, list):
                raise ForgeError(f"GET /repos/{self.repo}/issues: not a list")
            yield from (i for i in page if "pull_request" not in i)
            url = next_link(link)
            if url is None:
                return
            if not self._same_origin(url):
                raise ForgeError(f"the next page is on another host: {url}")
        raise ForgeError(f"more than {MAX_PAGES} pages of open {label!r} issues")

    def ensure_label(self, label: str) -> None:
        quoted = urllib.parse.quote(label, safe="")
        status, _, _ = self.request(
            "GET", self._url(f"/repos/{self.repo}/labels/{quoted}"), ok=(200, 404)
        )
        if status == 404:
            self.request(
                "POST",
                self._url(f"/repos/{self.repo}/labels"),
                {
                    "name": label,
                    "color": LABEL_COLOR,
                    "description": LABEL_DESCRIPTION,
                },
            )

    def create_issue(self, title: str, body: str, label: str) -> dict:
        url = self._url(f"/repos/{self.repo}/issues")
        payload = {"title": title, "body": body, "labels": [label]}
        return self.request("POST", url, payload)[1]

    def edit_issue(self, number: int, **fields: str) -> dict:
        url = self._url(f"/repos/{self.repo}/issues/{number}")
        return self.request("PATCH", url, fields)[1]

    def comment(self, number: int, body: str) -> None:
        url = self._url(f"/repos/{self.repo}/issues/{number}/comments")
        self.request("POST", url, {"body": body})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args):  # ours: never follow, with the token
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def _message(raw: bytes, reason: object) -> str:
    """The forge's own message when it sent one (GitHub: {"message": ...}),
    on one line and short."""
    try:
        message = json.loads(raw).get("message")
    except (ValueError, AttributeError):
        message = None
    text = str(message or reason or "")
    return " ".join(text.split())[:200]


def next_link(header: str) -> str | None:
    """The rel="next" address of a Link header (RFC 8288), if any."""
    for part in header.split(","):
        target, _, params = part.partition(";")
        rels = re.findall(r'rel="?([^";]+)"?', params)
        if any("next" in rel.split() for rel in rels):
            return target.strip().strip("<>")
    return None


# -- what to do


def remind(forge: Forge, report: Report, label: str = LABEL) -> str:
    """Opens, edits or closes the reminder issue; returns what it did."""
    ours = [i for i in forge.open_issues(label) if previous_keys(i.get("body"))]
    issue = min(ours, key=lambda i: i["number"], default=None)
    overdue = report.overdue
    title, body = issue_title(report), issue_body(report)
    if issue is None:
        if not overdue:
            return "nothing overdue; no reminder issue open"
        forge.ensure_label(label)
        made = forge.create_issue(title, body, label)
        return f"opened issue #{made['number']}: {len(overdue)} overdue"
    number = issue["number"]
    if not overdue:
        forge.edit_issue(
            number, title=title, body=body, state="closed", state_reason="completed"
        )
        return f"closed issue #{number}: nothing overdue"
    seen = previous_keys(issue.get("body")) or set()
    new = [item for item in overdue if item.key not in seen]
    if issue.get("title") == title and issue.get("body") == body:
        return f"issue #{number} unchanged: {len(overdue)} overdue"
    # The comment first: if the edit then fails, tomorrow's run says it
    # again (once more) rather than never.
    if new:
        forge.comment(number, newly_overdue_comment(report, new))
    forge.edit_issue(number, title=title, body=body)
    return f"updated issue #{number}: {len(overdue)} overdue, {len(new)} newly"


def settings(environ: dict[str, str]) -> tuple[str, str, str]:
    token = environ.get("GITHUB_TOKEN", "")
    if not token.strip():
        raise ReportError("GITHUB_TOKEN is not set")
    api = environ.get("GITHUB_API_URL") or DEFAULT_API
    if urllib.parse.urlsplit(api).scheme not in ("http", "https"):
        raise ReportError("GITHUB_API_URL must be an http(s) address")
    repo = environ.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ReportError("GITHUB_REPOSITORY must be owner/name")
    return api, repo, token.strip()


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", help="the JSON `make review-report JSON=` wrote")
    parser.add_argument("--label", default=LABEL, help="default: %(default)s")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the issue; call no forge"
    )
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    token = ""
    try:
        report = load_report(args.report)
        if args.dry_run:
            sys.stdout.write(f"# {issue_title(report)}\n\n{issue_body(report)}")
            return 0
        api, repo, token = settings(environ)
        forge = Forge(api, repo, token, timeout=args.timeout)
        print(f"review-reminder: {remind(forge, report, args.label)}")
        return 0
    except ReportError as error:
        print(f"review-reminder: error: {redact(str(error), token)}", file=sys.stderr)
        return 2
    except ForgeError as error:
        print(f"review-reminder: error: {redact(str(error), token)}", file=sys.stderr)
        return 1


def redact(text: str, token: str) -> str:
    """The token never reaches a log, even if a forge echoed it back."""
    return text.replace(token, "***") if token else text


if __name__ == "__main__":
    sys.exit(main())
