"""The names delivery by pull request shares (lab_comments.delivery), and
settle: merged counts as approved, closed as rejected, the second call for
one comment does nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from commentkit import GOOD, SECRET

from lab_comments import delivery, schema
from lab_comments.moderation import Decisions
from lab_comments.store import Queue

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def test_branch_names_round_trip():
    branch = delivery.branch_for("comments/", "20261206-090000-abcdef")
    assert branch == "comments/20261206-090000-abcdef"
    assert delivery.id_from_branch("comments/", branch) == "20261206-090000-abcdef"


@pytest.mark.parametrize(
    "branch",
    [
        "main",
        "comments/",
        "comments/../main",
        "other/20261206-090000-abcdef",
        "comments/20261206-090000-abcdef/x",
        "comments/A B",
    ],
)
def test_other_branches_carry_no_comment(branch):
    assert delivery.id_from_branch("comments/", branch) is None


def test_branch_for_refuses_what_is_not_an_id():
    with pytest.raises(schema.Invalid):
        delivery.branch_for("comments/", "../main")


@pytest.mark.parametrize(
    ("merged", "decision"), [(True, "approved"), (False, "rejected")]
)
def test_settle_decides_once(tmp_path, merged, decision):
    queue = Queue(tmp_path / "queue", SECRET).open()
    submission, problems = schema.parse_submission({k: [v] for k, v in GOOD.items()})
    assert not problems
    comment_id, _ = queue.add(submission, "192.0.2.1", NOW)
    outbox = delivery.outbox_path(queue.root, comment_id)
    outbox.parent.mkdir()
    outbox.write_text("state: opened\n")
    sender = queue.read(comment_id)["sender"]

    assert delivery.settle(queue, comment_id, merged, NOW) == decision
    assert not queue.path(comment_id).exists() and not outbox.exists()
    assert Decisions(queue.root).get(comment_id)[0] == decision
    counts = queue.sender(sender)
    assert (counts["comments"], counts["rejected"]) == ((1, 0) if merged else (0, 1))

    assert delivery.settle(queue, comment_id, not merged, NOW) == ""
    assert Decisions(queue.root).get(comment_id)[0] == decision
    assert queue.sender(sender) == counts
