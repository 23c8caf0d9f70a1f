"""The forge's webhook (lab_comments.hooks, POST /forge-hook): a signed
"closed" pull_request of ours settles its comment (merged: approved, closed:
rejected); anything unsigned, wrongly signed, oversized, about another
repository, a fork, another branch or a comment not sent as a pull request
changes nothing. In-process (wsgiref's validator) and through the real
server (`lab_comments.cli serve`, waitress) on 127.0.0.1."""

from __future__ import annotations

import http.client
import io
import json
import time
from pathlib import Path

import pytest
from commentkit import GOOD, UnreadableInput, call, make_app, pending_files
from hookkit import FORGES, HOOK_SECRET, REPO, encode, headers, pull_request, repository

from lab_comments import delivery, hooks
from lab_comments.endpoint import ConfigError, config_from_env
from lab_comments.loadtest import HOST, form_body, running_server, write_manifest
from lab_comments.moderation import Decisions
from lab_comments.store import Queue

PATH = "/forge-hook"


def hook_app(folder: Path, **config):
    settings = {"hook_secret": HOOK_SECRET.encode(), "forge_repo": REPO, **config}
    return make_app(folder, **settings)


def pending_comment(app, delivered: bool = True) -> str:
    """A comment taken by the endpoint; with `delivered`, marked as sent as
    a pull request (its outbox file, as the delivery worker leaves it)."""
    assert call(app, body=GOOD).status == 303
    (path,) = pending_files(app)
    comment_id = path.stem
    if delivered:
        outbox = delivery.outbox_path(app.queue.root, comment_id)
        outbox.parent.mkdir(exist_ok=True)
        outbox.write_text("state: opened\n")
    return comment_id


def state(app, comment_id: str):
    """Everything a settle changes: the private record, the outbox file,
    the decision, the senders' records (bytes)."""
    queue = app.queue
    return (
        queue.path(comment_id).exists(),
        delivery.outbox_path(queue.root, comment_id).exists(),
        Decisions(queue.root).get(comment_id),
        {p.name: p.read_bytes() for p in sorted(queue.senders_dir.glob("*"))},
    )


def deliver(app, payload: dict, forge: str = "github", **options):
    body = encode(payload)
    return call(app, path=PATH, body=body, headers=headers(forge, body), **options)


def branch(comment_id: str) -> str:
    return delivery.branch_for(delivery.DEFAULT_BRANCH_PREFIX, comment_id)


# -- settling


@pytest.mark.parametrize("forge", FORGES)
def test_signed_merge_publishes(tmp_path, forge):
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    sender = app.queue.read(comment_id)["sender"]
    payload = pull_request("closed", branch(comment_id), merged=True, forge=forge)

    answer = deliver(app, payload, forge)

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == {"done": "approved", "comment": comment_id}
    assert not app.queue.path(comment_id).exists()
    assert not delivery.outbox_path(app.queue.root, comment_id).exists()
    assert Decisions(app.queue.root).get(comment_id)[0] == "approved"
    counts = app.queue.sender(sender)
    assert (counts["comments"], counts["rejected"]) == (1, 0)


@pytest.mark.parametrize("forge", FORGES)
def test_signed_close_rejects(tmp_path, forge):
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    sender = app.queue.read(comment_id)["sender"]
    payload = pull_request("closed", branch(comment_id), merged=False, forge=forge)

    answer = deliver(app, payload, forge)

    assert json.loads(answer.body) == {"done": "rejected", "comment": comment_id}
    assert not app.queue.path(comment_id).exists()
    assert Decisions(app.queue.root).get(comment_id)[0] == "rejected"
    counts = app.queue.sender(sender)
    assert (counts["comments"], counts["rejected"]) == (0, 1)


@pytest.mark.parametrize("first_merged", [True, False])
def test_replays_change_nothing(tmp_path, first_merged):
    """Forges redeliver; a close after a merge (or the other way) arrives
    late: only the first settles."""
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    first = pull_request("closed", branch(comment_id), merged=first_merged)
    assert deliver(app, first).status == 200
    after = state(app, comment_id)

    for payload in (
        first,
        first,
        pull_request("closed", branch(comment_id), not first_merged),
    ):
        answer = deliver(app, payload)
        assert answer.status == 200
        assert json.loads(answer.body)["done"] == "nothing"
        assert state(app, comment_id) == after


# -- refused: nothing read beyond what is needed, nothing parsed, nothing changed


def forged(body: bytes) -> list[dict[str, str]]:
    """Headers of deliveries that are not signed with the secret over this
    body."""
    good = headers("github", body)
    other = encode({"action": "opened"})
    base = {k: v for k, v in good.items() if k != "X-Hub-Signature-256"}
    return [
        base,  # no signature at all
        {**base, "X-Hub-Signature-256": ""},
        {**base, "X-Hub-Signature-256": "sha256="},
        {**base, "X-Hub-Signature-256": "sha256=" + "0" * 64},
        # a signature of another body
        {
            **base,
            "X-Hub-Signature-256": headers("github", other)["X-Hub-Signature-256"],
        },
        # the right digest under the wrong scheme, or without its prefix
        {
            **base,
            "X-Hub-Signature-256": "sha1="
            + headers("gitea", body)["X-Gitea-Signature"],
        },
        {**base, "X-Hub-Signature-256": headers("gitea", body)["X-Gitea-Signature"]},
        # signed with another secret
        headers("github", body, secret="another-secret-" + "x" * 40),
        headers("gitea", body, secret="another-secret-" + "x" * 40),
        # the right one beside a wrong one: every signature given must be right
        {**good, "X-Gitea-Signature": "0" * 64},
        # a digest one character short, and one with a character past ASCII
        {**base, "X-Gitea-Signature": headers("gitea", body)["X-Gitea-Signature"][:-1]},
        {**base, "X-Gitea-Signature": "\xe9" * 64},
    ]


def test_unsigned_or_wrongly_signed_is_refused(tmp_path, monkeypatch):
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    before = state(app, comment_id)

    def never(body):
        raise AssertionError("an unverified body was parsed")

    monkeypatch.setattr(hooks, "parse", never)
    body = encode(pull_request("closed", branch(comment_id), merged=True))
    for forged_headers in forged(body):
        answer = call(app, path=PATH, body=body, headers=forged_headers)
        assert answer.status == 401, forged_headers
        assert answer.text == "signature missing or wrong\n"
        assert HOOK_SECRET not in answer.text
        assert state(app, comment_id) == before


def test_oversized_body_is_refused_unread(tmp_path):
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    before = state(app, comment_id)
    answer = call(
        app,
        path=PATH,
        headers=headers("github", b"{}"),
        stream=UnreadableInput(),
        content_length=str(hooks.HOOK_BODY_MAX + 1),
    )
    assert answer.status == 413
    assert state(app, comment_id) == before


def test_body_that_stops_short_is_refused(tmp_path):
    app = hook_app(tmp_path)
    body = encode(pull_request())
    answer = call(
        app,
        path=PATH,
        headers=headers("github", body),
        stream=io.BytesIO(body[:100]),
        content_length=str(len(body)),
        validate=False,
    )
    assert answer.status == 400


@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
def test_off_without_a_secret(tmp_path, method):
    """No secret: the address does not exist, for every method (a 405 would
    say it does)."""
    app = make_app(tmp_path)
    body = encode(pull_request())
    answer = call(app, method, path=PATH, body=body, headers=headers("github", body))
    assert answer.status == 404


def test_only_post(tmp_path):
    answer = call(hook_app(tmp_path), "GET", path=PATH)
    assert (answer.status, answer.headers["allow"]) == (405, "POST")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe{}",
        b"[1, 2]",
        b'"closed"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"action": "closed", "pull_request": ' * 20_000 + b"{}" + b"}" * 20_000,
    ],
    ids=["text", "not-utf8", "array", "string", "deep-array", "deep-object"],
)
def test_signed_but_not_a_json_object(tmp_path, body):
    app = hook_app(tmp_path)
    answer = call(app, path=PATH, body=body, headers=headers("github", body))
    assert answer.status == 400
    assert pending_files(app) == []


# -- signed, but not about a comment of ours


def not_ours(comment_id: str) -> dict[str, dict]:
    fork = repository("someone/site", repo_id=999, forge="github")
    renamed_fork = repository(REPO, repo_id=999, forge="github")
    return {
        "ping": {"zen": "Design for failure.", "hook_id": 470162148},
        "opened": pull_request("opened", branch(comment_id)),
        "synchronize": pull_request("synchronize", branch(comment_id)),
        "labeled": pull_request("labeled", branch(comment_id)),
        "another repository": pull_request(
            "closed", branch(comment_id), base=repository("someone/other")
        ),
        "a fork": pull_request("closed", branch(comment_id), head=fork),
        "a fork of the same name": pull_request(
            "closed", branch(comment_id), head=renamed_fork
        ),
        "a deleted fork": deleted_fork(comment_id),
        "another branch": pull_request("closed", "main"),
        "another prefix": pull_request("closed", f"other/{comment_id}"),
        "a climbing branch": pull_request("closed", f"comments/../{comment_id}"),
        "a longer branch": pull_request("closed", f"{branch(comment_id)}/x"),
        "no pull request": {"action": "closed"},
        "a pull request of the wrong type": {"action": "closed", "pull_request": []},
    }


def deleted_fork(comment_id: str) -> dict:
    """A fork's pull request after the fork was deleted: GitHub sends its
    head repository as null."""
    payload = pull_request("closed", branch(comment_id))
    payload["pull_request"]["head"]["repo"] = None
    return payload


@pytest.mark.parametrize("case", list(not_ours("20261206-090000-abcdef")))
def test_signed_but_not_ours_changes_nothing(tmp_path, case):
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    before = state(app, comment_id)
    payload = not_ours(comment_id)[case]
    event = "ping" if case == "ping" else "pull_request"
    body = encode(payload)
    answer = call(app, path=PATH, body=body, headers=headers("github", body, event))
    assert answer.status == 200
    assert json.loads(answer.body)["done"] == "nothing"
    assert state(app, comment_id) == before


def test_other_events_change_nothing(tmp_path):
    app = hook_app(tmp_path)
    comment_id = pending_comment(app)
    before = state(app, comment_id)
    payload = pull_request("closed", branch(comment_id))
    for event in ("push", "issues", "pull_request_review", ""):
        body = encode(payload)
        answer = call(app, path=PATH, body=body, headers=headers("github", body, event))
        assert json.loads(answer.body)["done"] == "nothing"
    assert state(app, comment_id) == before


def test_comment_not_sent_as_a_pull_request_is_left(tmp_path):
    """A pending comment without an outbox file is moderated the other way
    (the queue and the commands): a pull request whose branch happens to
    name it settles nothing."""
    app = hook_app(tmp_path)
    comment_id = pending_comment(app, delivered=False)
    before = state(app, comment_id)
    answer = deliver(app, pull_request("closed", branch(comment_id), merged=False))
    assert json.loads(answer.body)["done"] == "nothing"
    assert state(app, comment_id) == before


def test_without_a_configured_repository_forks_are_still_refused(tmp_path):
    app = hook_app(tmp_path, forge_repo="")
    comment_id = pending_comment(app)
    before = state(app, comment_id)
    fork = repository("someone/site", repo_id=999)
    answer = deliver(app, pull_request("closed", branch(comment_id), head=fork))
    assert json.loads(answer.body)["done"] == "nothing"
    assert state(app, comment_id) == before
    other = repository("someone/other", repo_id=5)
    answer = deliver(app, pull_request("closed", branch(comment_id), base=other))
    assert json.loads(answer.body) == {"done": "approved", "comment": comment_id}


def test_branch_prefix_setting(tmp_path):
    app = hook_app(tmp_path, branch_prefix="lab-comment-")
    comment_id = pending_comment(app)
    answer = deliver(app, pull_request("closed", branch(comment_id)))
    assert json.loads(answer.body)["done"] == "nothing"
    answer = deliver(app, pull_request("closed", f"lab-comment-{comment_id}"))
    assert json.loads(answer.body)["done"] == "approved"


# -- settings


def environment(tmp_path, **extra: str) -> dict[str, str]:
    return {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "manifest.json"),
        **extra,
    }


def test_settings_from_the_environment(tmp_path):
    config = config_from_env(environment(tmp_path))
    assert config.hook_secret is None
    assert (config.branch_prefix, config.forge_repo) == ("comments/", "")
    secret_file = tmp_path / "hook-secret"
    secret_file.write_text(HOOK_SECRET + "\n")
    config = config_from_env(
        environment(
            tmp_path,
            LAB_COMMENTS_HOOK_SECRET_FILE=str(secret_file),
            LAB_COMMENTS_FORGE_REPO=REPO,
            LAB_COMMENTS_BRANCH_PREFIX="lab/",
        )
    )
    assert config.hook_secret == HOOK_SECRET.encode()
    assert (config.branch_prefix, config.forge_repo) == ("lab/", REPO)
    assert HOOK_SECRET not in repr(config)
    config = config_from_env(
        environment(tmp_path, LAB_COMMENTS_HOOK_SECRET=HOOK_SECRET)
    )
    assert config.hook_secret == HOOK_SECRET.encode()


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"LAB_COMMENTS_HOOK_SECRET": "short-secret"}, "LAB_COMMENTS_HOOK_SECRET"),
        (
            {
                "LAB_COMMENTS_HOOK_SECRET": HOOK_SECRET,
                "LAB_COMMENTS_HOOK_SECRET_FILE": "f",
            },
            "set one",
        ),
        ({"LAB_COMMENTS_HOOK_SECRET_FILE": "/nonexistent/secret"}, "cannot be read"),
        ({"LAB_COMMENTS_FORGE_REPO": "site"}, "LAB_COMMENTS_FORGE_REPO"),
        ({"LAB_COMMENTS_FORGE_REPO": "a/b/c"}, "LAB_COMMENTS_FORGE_REPO"),
        ({"LAB_COMMENTS_BRANCH_PREFIX": "../"}, "LAB_COMMENTS_BRANCH_PREFIX"),
        ({"LAB_COMMENTS_BRANCH_PREFIX": "a b/"}, "LAB_COMMENTS_BRANCH_PREFIX"),
    ],
)
def test_bad_settings_are_named(tmp_path, settings, named):
    with pytest.raises(ConfigError, match=named) as caught:
        config_from_env(environment(tmp_path, **settings))
    assert "short-secret" not in str(caught.value)
    assert HOOK_SECRET not in str(caught.value)


# -- through the real server


def request(port: int, method: str, path: str, body: bytes, head: dict):
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(
            method, path, body=body, headers={k: v for k, v in head.items() if v}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_through_the_real_server(tmp_path):
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, "http://127.0.0.1:8000", {"a-post": {}})
    secret = "served-" + "s" * 40
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": secret,
        "LAB_COMMENTS_HOOK_SECRET": HOOK_SECRET,
        "LAB_COMMENTS_FORGE_REPO": REPO,
    }
    with running_server(environ, tmp_path / "server.log") as server:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        form["Origin"] = "http://127.0.0.1:8000"
        for _ in range(2):
            status, _ = request(
                server.port,
                "POST",
                "/comments",
                form_body({**GOOD, "body": f"A comment {time.monotonic_ns()}."}),
                form,
            )
            assert status == 303
        queue = Queue(tmp_path / "queue", secret.encode()).open(clean=False)
        ids = sorted(p.stem for p in queue.pending_dir.glob("*.yaml"))
        for comment_id in ids:
            outbox = delivery.outbox_path(queue.root, comment_id)
            outbox.parent.mkdir(exist_ok=True)
            outbox.write_text("state: opened\n")
        merged_id, closed_id = ids

        # Unsigned, and signed over another body: refused, nothing changed.
        body = encode(pull_request("closed", branch(merged_id), merged=True))
        unsigned = {
            k: v
            for k, v in headers("github", body).items()
            if k != "X-Hub-Signature-256"
        }
        assert request(server.port, "POST", PATH, body, unsigned)[0] == 401
        wrong = headers("github", body + b" ")
        assert request(server.port, "POST", PATH, body, wrong)[0] == 401
        assert queue.path(merged_id).exists()

        # Over the cap: answered from the headers.
        started = time.monotonic()
        connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
        connection.putrequest("POST", PATH)
        for name, value in headers("github", b"").items():
            if value:
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(hooks.HOOK_BODY_MAX + 1))
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()
        assert time.monotonic() - started < 5

        # A payload over a comment's 64 KiB is still taken on this path.
        big = pull_request("closed", branch(merged_id), merged=True)
        big["pull_request"]["body"] = "x" * 100_000
        big_body = encode(big)
        status, answer = request(
            server.port, "POST", PATH, big_body, headers("github", big_body)
        )
        assert status == 200, answer
        assert json.loads(answer) == {"done": "approved", "comment": merged_id}
        assert not queue.path(merged_id).exists()

        body = encode(pull_request("closed", branch(closed_id), False, forge="gitea"))
        status, answer = request(
            server.port, "POST", PATH, body, headers("gitea", body)
        )
        assert json.loads(answer) == {"done": "rejected", "comment": closed_id}
        # The same delivery again.
        status, answer = request(
            server.port, "POST", PATH, body, headers("gitea", body)
        )
        assert (status, json.loads(answer)["done"]) == (200, "nothing")
    decisions = Decisions(tmp_path / "queue")
    assert decisions.get(merged_id)[0] == "approved"
    assert decisions.get(closed_id)[0] == "rejected"
    assert HOOK_SECRET not in (tmp_path / "server.log").read_text()
