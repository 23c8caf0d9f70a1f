"""The forge's webhook: a pull request of ours merged or closed settles its
comment (lab_comments.delivery.settle), so that the private record goes as
soon as a moderator decides, not at the next periodic check.

    POST /forge-hook   application/json, as GitHub, Gitea and Forgejo send
                       it; answered 200 with a JSON object that says what
                       was done ({"done": "approved", "comment": id}, or
                       {"done": "nothing", "why": ...}); 401 without a good
                       signature, 413 over HOOK_BODY_MAX, 400 for a body that
                       is not a JSON object; 404 when no secret is set (off)

Order of the checks, each before the next: a secret is set (else 404, as
for any unknown address); the declared length (411, 413: the body is not
read); the body, read whole (it is what is signed); the signature, an
HMAC-SHA256 of the raw body with the secret, compared in constant time
(hmac.compare_digest), from `X-Hub-Signature-256: sha256=<hex>` (GitHub, and
Gitea and Forgejo beside their own) or `X-Gitea-Signature` /
`X-Forgejo-Signature: <hex>`; every one of these a request carries must be
right, and at least one must be there (else 401, and nothing is parsed).
Only then is the body parsed as JSON.

What settles a comment: the event `pull_request` (X-GitHub-Event,
X-Gitea-Event or X-Forgejo-Event), action `closed`, the pull request's base
repository the configured one (LAB_COMMENTS_FORGE_REPO, when set), its head
branch in that same repository (a fork's branch that happens to be named
like ours settles nothing) and named `<LAB_COMMENTS_BRANCH_PREFIX><id>`,
and the comment delivered by pull request (its outbox file is there: a
comment kept for the command-line way is never settled by a forge).
`merged: true` publishes it (approved), otherwise it is rejected. Any other
event or action (ping, opened, synchronize, labeled, ...) is answered 200
with nothing done. A delivery sent again (forges redeliver) finds nothing
left to do: settle does its work once.

Pure: `verify` and `decide` take plain values and return plain values;
endpoint.CommentsApp.forge_hook is the thin adapter. Never logs the secret,
the signature or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import delivery

HOOK_PATH = "/forge-hook"
# A pull request's payload from GitHub is about 25 KB, plus the pull
# request's body (which quotes the comment): 1 MiB leaves room for any of
# ours and bounds what an unsigned request makes the endpoint read and hash.
HOOK_BODY_MAX = 1024 * 1024
SECRET_MIN = 32

# WSGI names of the headers that carry a signature, and how each is written.
SIGNATURE_HEADERS: tuple[tuple[str, str], ...] = (
    ("HTTP_X_HUB_SIGNATURE_256", "sha256="),
    ("HTTP_X_GITEA_SIGNATURE", ""),
    ("HTTP_X_FORGEJO_SIGNATURE", ""),
)
EVENT_HEADERS = ("HTTP_X_GITHUB_EVENT", "HTTP_X_GITEA_EVENT", "HTTP_X_FORGEJO_EVENT")


def verify(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the request is signed with the secret: at least one signature
    header, and every one given the HMAC-SHA256 of `body` (WSGI environ
    names). The expected digest is computed whatever the request carries,
    and each comparison takes the same time however much of it matches."""
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    given = 0
    good = True
    for name, prefix in SIGNATURE_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        given += 1
        # WSGI header values are latin-1 strings: bytes of any value compare.
        raw = value.strip().encode("latin-1", "replace")
        if prefix:
            if raw[: len(prefix)].lower() != prefix.encode("ascii"):
                good = False
                continue
            raw = raw[len(prefix) :]
        good = hmac.compare_digest(raw.lower(), expected) and good
    return given > 0 and good


@dataclass(frozen=True)
class Decision:
    """What a delivery asks for: settle `comment_id` (merged or not), or,
    with no comment, nothing, for the reason `why`."""

    comment_id: str | None
    merged: bool = False
    why: str = ""


class BadPayload(ValueError):
    """The body is not a JSON object (a signed one: the forge's mistake)."""


def parse(body: bytes) -> dict[str, Any]:
    """A JSON object from the body; BadPayload for anything else (invalid
    UTF-8 or JSON, nesting deep enough to exhaust the parser, another type)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadPayload("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadPayload("the body is not a JSON object")
    return data


def event_of(headers: Mapping[str, str]) -> str:
    for name in EVENT_HEADERS:
        if headers.get(name):
            return headers[name].strip()
    return ""


def _at(data: Any, *keys: str) -> Any:
    """data[k1][k2]...; None where any step is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _same_repo(a: Any, b: Any) -> bool:
    """Two repository objects of a payload name the same repository: the
    same full name (forges compare names without case), and the same id
    where both have one."""
    name_a, name_b = _at(a, "full_name"), _at(b, "full_name")
    if not (isinstance(name_a, str) and isinstance(name_b, str)):
        return False
    if name_a.lower() != name_b.lower():
        return False
    id_a, id_b = _at(a, "id"), _at(b, "id")
    return id_a is None or id_b is None or id_a == id_b


def decide(
    event: str, payload: Mapping[str, Any], prefix: str, repo: str = ""
) -> Decision:
    """What a verified delivery asks for (see the module docstring)."""
    if event != "pull_request":
        return Decision(None, why=f"event {event or '(none)'!r} is not ours")
    action = payload.get("action")
    if action != "closed":
        return Decision(None, why=f"action {action!r} settles nothing")
    pull = payload.get("pull_request")
    base_repo = _at(pull, "base", "repo")
    head_repo = _at(pull, "head", "repo")
    base_name = _at(base_repo, "full_name")
    if not isinstance(base_name, str):
        return Decision(None, why="the pull request names no base repository")
    if repo and base_name.lower() != repo.lower():
        return Decision(None, why="the pull request is on another repository")
    if not _same_repo(base_repo, head_repo):
        return Decision(None, why="the pull request comes from another repository")
    ref = _at(pull, "head", "ref")
    comment_id = delivery.id_from_branch(prefix, ref) if isinstance(ref, str) else None
    if comment_id is None:
        return Decision(None, why="the branch is not a comment's")
    return Decision(comment_id, merged=_at(pull, "merged") is True)


def delivered(queue_root: Path, comment_id: str) -> bool:
    """Whether the comment went out as a pull request (its outbox file is
    there until it is settled)."""
    return delivery.outbox_path(queue_root, comment_id).exists()


def read_secret(value: str, file_name: str) -> bytes | None:
    """The webhook's secret from LAB_COMMENTS_HOOK_SECRET or the file named
    by LAB_COMMENTS_HOOK_SECRET_FILE (its one line; surrounding white space
    dropped); None when neither is set (the webhook is off). ValueError,
    naming the variable and never the secret, for both set, a file that
    cannot be read, or a secret under SECRET_MIN characters."""
    if value and file_name:
        raise ValueError(
            "LAB_COMMENTS_HOOK_SECRET and LAB_COMMENTS_HOOK_SECRET_FILE: set one"
        )
    name = "LAB_COMMENTS_HOOK_SECRET"
    if file_name:
        name = "LAB_COMMENTS_HOOK_SECRET_FILE"
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ValueError(f"{name}: {file_name} cannot be read: {reason}") from None
    if not value:
        if file_name:
            raise ValueError(f"{name}: {file_name} is empty")
        return None
    if len(value) < SECRET_MIN:
        raise ValueError(f"{name}: use at least {SECRET_MIN} characters")
    return value.encode("utf-8")


def check_repo(value: str) -> str:
    """LAB_COMMENTS_FORGE_REPO: "" or "owner/name"; ValueError otherwise."""
    if not value:
        return ""
    owner, slash, name = value.partition("/")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not (slash and owner and name and set(owner + name) <= allowed):
        raise ValueError("LAB_COMMENTS_FORGE_REPO: must be owner/name")
    return value


def check_prefix(value: str) -> str:
    """LAB_COMMENTS_BRANCH_PREFIX: a start of a branch name that cannot be
    the main branch's or climb out of refs/heads."""
    bad = (
        not value
        or value.startswith(("/", "-", "."))
        or ".." in value
        or any(c.isspace() or c in "~^:?*[\\" for c in value)
    )
    if bad:
        raise ValueError(
            "LAB_COMMENTS_BRANCH_PREFIX: must be the start of a branch name, "
            "such as comments/"
        )
    return value
