"""Helpers for the webhook tests: payloads shaped like the ones GitHub,
Gitea and Forgejo send for a pull request (the fields the forges document,
with the repository, user and branch objects they nest), signed as each
forge signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

HOOK_SECRET = "hook-secret-" + "h" * 40
REPO = "improvement-lab/site"
FORGES = ("github", "gitea", "forgejo")


def sign(body: bytes, secret: str = HOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(
    forge: str, body: bytes, event: str = "pull_request", secret: str = HOOK_SECRET
) -> dict[str, str]:
    """The headers a forge sends with a signed delivery of `body`. Gitea and
    Forgejo send GitHub's event header beside their own, and Forgejo its
    signature beside Gitea's; each is signed the same way."""
    digest = sign(body, secret)
    common = {"Content-Type": "application/json", "Origin": None}
    if forge == "github":
        return {
            **common,
            "User-Agent": "GitHub-Hookshot/9b97f8a",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "96a80720-f0c2-11ee-9b0a-b980f6ca0037",
            "X-GitHub-Hook-ID": "470162148",
            "X-Hub-Signature-256": f"sha256={digest}",
        }
    if forge == "gitea":
        return {
            **common,
            "User-Agent": "Go-http-client/1.1",
            "X-Gitea-Event": event,
            "X-Gitea-Event-Type": event,
            "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
            "X-GitHub-Event": event,
            "X-Gitea-Signature": digest,
        }
    if forge == "forgejo":
        return {
            **common,
            "User-Agent": "Go-http-client/1.1",
            "X-Forgejo-Event": event,
            "X-Forgejo-Event-Type": event,
            "X-Forgejo-Delivery": "0b3a7c0e-64f7-4e0b-a3a4-5fa1d3c0a2c1",
            "X-Gitea-Event": event,
            "X-Forgejo-Signature": digest,
            "X-Gitea-Signature": digest,
        }
    raise ValueError(forge)


def _user(login: str, forge: str) -> dict[str, Any]:
    user: dict[str, Any] = {"login": login, "id": 5276844}
    if forge == "github":
        user.update(
            node_id="MDQ6VXNlcjUyNzY4NDQ=",
            avatar_url="https://avatars.githubusercontent.com/u/5276844?v=4",
            url=f"https://api.github.com/users/{login}",
            html_url=f"https://github.com/{login}",
            type="User",
            site_admin=False,
        )
    else:
        user.update(
            login_name="",
            full_name="",
            email=f"{login}@noreply.localhost",
            username=login,
            avatar_url=f"https://forge.example.org/avatars/{login}",
        )
    return user


def repository(full_name: str = REPO, repo_id: int = 111815790, forge: str = "github"):
    owner, name = full_name.split("/")
    repo: dict[str, Any] = {
        "id": repo_id,
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": _user(owner, forge),
        "default_branch": "main",
        "fork": False,
    }
    if forge == "github":
        repo.update(
            node_id="R_kgDOGqZ8bg",
            html_url=f"https://github.com/{full_name}",
            url=f"https://api.github.com/repos/{full_name}",
            clone_url=f"https://github.com/{full_name}.git",
            visibility="public",
        )
    else:
        repo.update(
            html_url=f"https://forge.example.org/{full_name}",
            clone_url=f"https://forge.example.org/{full_name}.git",
            ssh_url=f"git@forge.example.org:{full_name}.git",
            empty=False,
            mirror=False,
        )
    return repo


def pull_request(
    action: str = "closed",
    ref: str = "comments/20261206-090000-abcdef",
    merged: bool = True,
    *,
    forge: str = "github",
    base: dict | None = None,
    head: dict | None = None,
    number: int = 7,
) -> dict[str, Any]:
    """A pull_request event: the pull request from `ref` (in the `head`
    repository, the base one unless given) into main."""
    base = base or repository(forge=forge)
    head = head or base
    closed = action == "closed"
    when = "2026-12-06T09:30:00Z"
    sender = _user("daniel-mensah", forge)
    branch = {
        "label": f"{head['owner']['login']}:{ref}",
        "ref": ref,
        "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "repo": head,
    }
    pull: dict[str, Any] = {
        "id": 14945815,
        "number": number,
        "state": "closed" if closed else "open",
        "title": "Comment from Ada Lane on a-post",
        "body": "> A thoughtful comment.\n\nMerge to publish, close to reject.",
        "user": _user("lab-comments-bot", forge),
        "labels": [{"id": 1, "name": "comment", "color": "0e8a16"}],
        "created_at": "2026-12-06T09:00:01Z",
        "updated_at": when,
        "closed_at": when if closed else None,
        "merged_at": when if closed and merged else None,
        "merge_commit_sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6"
        if merged
        else None,
        "head": branch,
        "base": {
            "label": f"{base['owner']['login']}:main",
            "ref": "main",
            "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
            "repo": base,
        },
        "merged": closed and merged,
        "merged_by": sender if closed and merged else None,
        "draft": False,
    }
    if forge == "github":
        pull.update(
            url=f"https://api.github.com/repos/{base['full_name']}/pulls/{number}",
            html_url=f"https://github.com/{base['full_name']}/pull/{number}",
            node_id="MDExOlB1bGxSZXF1ZXN0MTQ5NDU4MTU=",
            locked=False,
            mergeable=None,
            comments=0,
            commits=1,
            additions=6,
            deletions=0,
            changed_files=1,
        )
        payload = {
            "action": action,
            "number": number,
            "pull_request": pull,
            "repository": base,
            "sender": sender,
        }
    else:
        branch["repo_id"] = head["id"]
        pull["base"]["repo_id"] = base["id"]
        pull.update(
            url=f"https://forge.example.org/{base['full_name']}/pulls/{number}",
            html_url=f"https://forge.example.org/{base['full_name']}/pulls/{number}",
            mergeable=True,
            comments=0,
            is_locked=False,
        )
        payload = {
            "action": action,
            "number": number,
            "pull_request": pull,
            "requested_reviewer": None,
            "repository": base,
            "sender": sender,
            "commit_id": "",
            "review": None,
        }
    return payload


def encode(payload: dict) -> bytes:
    return json.dumps(payload, indent=2).encode("utf-8")
