"""The few calls of a forge's REST API that delivery by pull request makes
(the GitHub shape; Forgejo and Gitea take the same under /api/v1), over
urllib with a timeout on every call.

Every failure is a ForgeError whose message is safe to log and to keep in an
outbox file: the status and the forge's own short message, never a header,
never the token (scrubbed from anything the forge echoes back, too).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

USER_AGENT = "lab-comments-endpoint"
# What of a forge's error message is kept (the rest is noise in a log line).
MESSAGE_MAX = 200


class ForgeError(Exception):
    """A call failed. `status` is the HTTP status (0: no answer at all);
    `retry_after` the seconds the forge asked to wait (429, 503), if any."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Pull:
    number: int
    url: str
    state: str  # "open" or "closed"
    merged: bool
    head: str


@dataclass(frozen=True)
class Forge:
    """One repository on a forge: `api` is the API's base URL
    (https://api.github.com, https://codeberg.org/api/v1), `repo` owner/name."""

    api: str
    repo: str
    token: str = field(repr=False)
    timeout: float = 10.0

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        owner, name = self.repo.split("/", 1)
        base = f"{self.api.rstrip('/')}/repos/{quote(owner)}/{quote(name)}"
        return base + path + (f"?{urlencode(query)}" if query else "")

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the API's own https URL)
            self._url(path, query), data=data, method=method
        )
        request.add_header("Authorization", f"token {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        what = f"{method} {path}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise ForgeError(
                exc.code,
                self.scrub(f"{what}: {exc.code} {_message(exc)}"),
                retry_after(exc.headers.get("Retry-After")),
            ) from None
        except http.client.HTTPException as exc:
            # A connection cut in the middle of an answer, a garbled one.
            name = type(exc).__name__
            raise ForgeError(0, f"{what}: the answer was cut short ({name})") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                late = f"{what}: no answer within {self.timeout:g} s"
                raise ForgeError(0, late) from None
            reason = getattr(reason, "strerror", None) or str(reason)
            raise ForgeError(0, self.scrub(f"{what}: no answer ({reason})")) from None
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ForgeError(0, f"{what}: the answer is not JSON") from None

    def scrub(self, text: str) -> str:
        """`text` with the token, if it is in it, blotted out."""
        return text.replace(self.token, "***") if self.token else text

    # -- the calls

    def find_pull(self, branch: str) -> Pull | None:
        """The pull request (open or closed) whose head is `branch` of this
        repository, if there is one. The answer is filtered again by the
        head's name, for a forge that ignores the `head` parameter."""
        query = {"head": f"{self.owner}:{branch}", "state": "all", "per_page": "100"}
        found = self.call("GET", "/pulls", query=query) or []
        for item in found if isinstance(found, list) else []:
            pull = _pull(item)
            if pull is not None and pull.head == branch:
                return pull
        return None

    def pull_of(self, base: str, head: str) -> Pull | None:
        """Forgejo's and Gitea's own lookup of the pull request from `head`
        into `base` (their list ignores `head`); None where there is none,
        or on a forge without it (GitHub answers 404)."""
        try:
            pull = _pull(self.call("GET", f"/pulls/{quote(base)}/{quote(head)}"))
        except ForgeError as exc:
            if exc.status == 404:
                return None
            raise
        return pull if pull is not None and pull.head == head else None

    def open_pull(self, title: str, head: str, base: str, body: str) -> Pull:
        answer = self.call(
            "POST", "/pulls", {"title": title, "head": head, "base": base, "body": body}
        )
        pull = _pull(answer)
        if pull is None:
            raise ForgeError(0, "POST /pulls: the answer names no pull request")
        return pull

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.call("POST", f"/issues/{int(number)}/labels", {"labels": labels})

    def get_pull(self, number: int) -> Pull:
        pull = _pull(self.call("GET", f"/pulls/{int(number)}"))
        if pull is None:
            raise ForgeError(
                0, f"GET /pulls/{number}: the answer is not a pull request"
            )
        return pull


def _pull(item: Any) -> Pull | None:
    if not isinstance(item, dict) or not isinstance(item.get("number"), int):
        return None
    head = item.get("head")
    return Pull(
        number=item["number"],
        url=str(item.get("html_url") or ""),
        state=str(item.get("state") or ""),
        merged=bool(item.get("merged") or item.get("merged_at")),
        head=str(head.get("ref", "")) if isinstance(head, dict) else "",
    )


def _message(exc: urllib.error.HTTPError) -> str:
    """The forge's short message ("Bad credentials", "Validation Failed: A
    pull request already exists"), else the reason phrase."""
    try:
        data = json.loads(exc.read(64 * 1024) or b"null")
    except (ValueError, OSError):
        data = None
    parts = []
    if isinstance(data, dict):
        parts.append(str(data.get("message") or ""))
        for error in data.get("errors") or []:
            if isinstance(error, dict) and error.get("message"):
                parts.append(str(error["message"]))
    text = ": ".join(p for p in parts if p) or str(exc.reason or "")
    text = " ".join(text.split())
    return text[:MESSAGE_MAX]


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait (seconds, or an HTTP date);
    None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
