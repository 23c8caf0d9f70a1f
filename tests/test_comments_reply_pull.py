"""A Lab team reply to a comment whose pull request is still open
(`lab_comments.cli reply ID --to-pull`, make comments-reply PULL=1): the
reply's file, as `comments-reply` writes it, is committed to the comment's
branch and pushed to a real git repository made by the test; the branch,
checked out as a merge would leave main, builds with the comment and the
reply threaded under it. The moderator's clone is left as it was."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from commentkit import build_fixture, comment, fixture_site, thread_of

from lab_comments import cli, delivery
from lab_comments.store import Published, dump_yaml, load_yaml

COMMENT = "20261206-090000-abcdef"
POST = "a-published-post"
PAGE = "updates/2025/a-published-post/index.html"
BRANCH = delivery.branch_for(delivery.DEFAULT_BRANCH_PREFIX, COMMENT)
IDENTITY = {
    "GIT_AUTHOR_NAME": "Lab moderator",
    "GIT_AUTHOR_EMAIL": "moderator@example.org",
    "GIT_COMMITTER_NAME": "Lab moderator",
    "GIT_COMMITTER_EMAIL": "moderator@example.org",
}


def git(cwd: Path, *arguments: str) -> str:
    done = subprocess.run(
        ["git", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, **IDENTITY, "GIT_CONFIG_NOSYSTEM": "1"},
    )
    return done.stdout.strip()


@pytest.fixture
def forge(tmp_path, monkeypatch):
    """The site's repository (a bare one, the "forge"), with main holding the
    fixture site and the comment's branch adding its public record, as the
    endpoint pushes it; and a moderator's clone of main."""
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    endpoint = tmp_path / "endpoint-clone"
    git(tmp_path, "clone", "--quiet", str(origin), str(endpoint))
    fixture_site(endpoint)
    git(endpoint, "add", "content")
    git(endpoint, "commit", "--quiet", "-m", "The site")
    git(endpoint, "push", "--quiet", "origin", "HEAD:refs/heads/main")
    git(endpoint, "switch", "--quiet", "-c", BRANCH)
    reader = comment(COMMENT, "Who will run the pilot?", post=POST, name="Eve Park")
    Published(endpoint / "content" / "comments").write(reader)
    git(endpoint, "add", "content/comments")
    git(endpoint, "commit", "--quiet", "-m", f"Comment {COMMENT}")
    git(endpoint, "push", "--quiet", "origin", BRANCH)
    moderator = tmp_path / "moderator"
    git(tmp_path, "clone", "--quiet", str(origin), str(moderator))
    return origin, moderator


def reply(
    moderator: Path,
    tmp_path: Path,
    *extra: str,
    comment_id: str = COMMENT,
    **variables: str,
):
    body = tmp_path / "reply.md"
    body.write_text("Thank you: **we** will, from March.\n", encoding="utf-8")
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "no-queue-here"),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "no-manifest.json"),
        **variables,
    }
    arguments = [
        *("--content", str(moderator / "content" / "comments")),
        *("reply", comment_id, "--author", "ada-lane", "--body-file", str(body)),
        *extra,
    ]
    return cli.main(arguments, environ=environ)


def test_a_reply_joins_the_pull_request_and_builds_with_its_comment(
    forge, tmp_path, capsys
):
    origin, moderator = forge
    tip = git(origin, "rev-parse", BRANCH)

    assert reply(moderator, tmp_path, "--to-pull") == 0

    # One commit on top of the branch, adding one file: the reply.
    assert git(origin, "rev-parse", f"{BRANCH}^") == tip
    added = git(origin, "diff", "--name-status", tip, BRANCH).splitlines()
    assert len(added) == 1 and added[0].startswith("A\t")
    path = added[0].split("\t")[1]
    assert path.startswith(f"content/comments/{POST}/") and path.endswith(".yaml")
    data = git(origin, "show", f"{BRANCH}:{path}").encode() + b"\n"
    record = load_yaml(data)
    assert path == f"content/comments/{POST}/{record['id']}.yaml"
    assert record["reply_to"] == COMMENT and record["staff"] is True
    assert record["name"] == "Ada Lane"
    assert record["body"] == "Thank you: **we** will, from March."
    # Exactly the bytes comments-reply writes for this record.
    assert data == dump_yaml(record)
    assert path in capsys.readouterr().out

    # The moderator's clone is as it was: on main, clean, no reply file.
    assert git(moderator, "branch", "--show-current") == "main"
    assert git(moderator, "status", "--porcelain") == ""
    assert not (moderator / "content" / "comments").exists()

    # Merged (the branch checked out, as main is after the merge): it builds,
    # the reply threaded under the comment and marked as the Lab team's.
    merged = tmp_path / "merged"
    git(tmp_path, "clone", "--quiet", "--branch", BRANCH, str(origin), str(merged))
    build_fixture(merged / "content", tmp_path / "output")
    assert thread_of(tmp_path / "output" / PAGE) == [
        (0, COMMENT, "Eve Park"),
        (1, record["id"], "Ada Lane Lab team"),
    ]


def test_a_second_reply_goes_on_top_of_the_first(forge, tmp_path):
    """(The second as `make comments-reply PULL=1` runs it.)"""
    origin, moderator = forge
    assert reply(moderator, tmp_path, "--to-pull") == 0
    assert reply(moderator, tmp_path, LAB_COMMENTS_TO_PULL="1") == 0
    added = git(origin, "diff", "--name-only", f"{BRANCH}~2", BRANCH).splitlines()
    assert len(added) == 2


def test_a_branch_of_this_clone(forge, tmp_path):
    """--remote "": the branch is one of the clone's own (fetched by hand)."""
    origin, moderator = forge
    git(moderator, "fetch", "--quiet", "origin", f"{BRANCH}:{BRANCH}")
    tip = git(moderator, "rev-parse", BRANCH)
    assert reply(moderator, tmp_path, "--to-pull", "--remote", "") == 0
    assert git(moderator, "rev-parse", f"{BRANCH}^") == tip
    assert git(origin, "rev-parse", BRANCH) == tip  # nothing pushed
    assert git(moderator, "status", "--porcelain") == ""


def test_refused_without_the_comments_branch(forge, tmp_path, capsys):
    origin, moderator = forge
    before = git(origin, "for-each-ref")
    missing = "20261206-090000-000000"
    assert reply(moderator, tmp_path, "--to-pull", comment_id=missing) == 1
    assert "git fetch comments/20261206-090000-000000:" in capsys.readouterr().err
    assert git(origin, "for-each-ref") == before


def test_refused_when_the_branch_holds_another_comment(forge, tmp_path, capsys):
    origin, moderator = forge
    other = "20261206-090000-000000"
    git(origin, "branch", delivery.branch_for("comments/", other), BRANCH)
    before = git(origin, "for-each-ref")
    assert reply(moderator, tmp_path, "--to-pull", comment_id=other) == 1
    assert "holds no comment file" in capsys.readouterr().err
    assert git(origin, "for-each-ref") == before


def test_without_to_pull_a_pending_parent_is_refused_with_the_way(
    forge, tmp_path, capsys
):
    _, moderator = forge
    assert reply(moderator, tmp_path) == 1
    assert "--to-pull" in capsys.readouterr().err
