"""Delivery by pull request: the names the parts share.

With LAB_COMMENTS_DELIVERY=pull-request the endpoint keeps each comment's
private part in the queue as in the other mode, and delivers its public
record (what approval writes) as a pull request on the site's repository:
one branch per comment, `<LAB_COMMENTS_BRANCH_PREFIX><id>`, so that a branch
name says which comment it carries and nothing else is needed to find it
again after a restart.

What is left to do for a comment is kept beside the queue, one small file
per comment in `<queue>/outbox/<id>.yaml`, written atomically; the comment's
private record is never rewritten for it.

When the pull request is merged (published) or closed unmerged (rejected),
`settle` does what `comments-approve` or `comments-reject` does to the
queue, under the same moderation lock: the private record goes, the
decision is kept, the sender's counts move. The webhook and the periodic
check through the forge's API both call it; the second of two calls for one
comment finds nothing left to do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from . import schema
from .moderation import Decisions, moderation_lock
from .store import Queue, StoreError, remove_file

OUTBOX_DIR = "outbox"
DEFAULT_BRANCH_PREFIX = "comments/"


def branch_for(prefix: str, comment_id: str) -> str:
    """The branch that carries one comment's pull request."""
    return f"{prefix}{schema.comment_id(comment_id)}"


def id_from_branch(prefix: str, branch: str) -> str | None:
    """The comment id a branch of ours carries; None for any other branch
    (the main branch, a person's branch, a name with anything after the id)."""
    if not prefix or not branch.startswith(prefix):
        return None
    try:
        return schema.comment_id(branch[len(prefix) :])
    except schema.Invalid:
        return None


def outbox_path(queue_root: Path | str, comment_id: str) -> Path:
    return Path(queue_root) / OUTBOX_DIR / f"{schema.comment_id(comment_id)}.yaml"


def settle(queue: Queue, comment_id: str, merged: bool, now: dt.datetime) -> str:
    """Finish a comment whose pull request was merged or closed: what became
    of it ("approved", "rejected"), or "" when there was nothing left to do
    (settled before, or never ours)."""
    with moderation_lock(queue.root):
        outbox = outbox_path(queue.root, comment_id)
        path = queue.path(comment_id)
        if not path.exists():
            remove_file(outbox)
            return ""
        try:
            record = queue.read(comment_id)
        except StoreError:
            record = None  # unreadable: still removed; the forge decided
        decision = "approved" if merged else "rejected"
        queue.remove(comment_id)
        remove_file(outbox)
        Decisions(queue.root).record(comment_id, decision, now)
        if record is not None:
            queue.note_sender(record["sender"], now, rejected=not merged)
        return decision
