"""Delivery by pull request (lab_comments.pulls, lab_comments.forge): a
comment taken by the endpoint ends as a branch of a real git repository made
by the test, holding exactly what `comments-approve` writes, and a labelled
pull request on a fake forge served on 127.0.0.1; faults of the forge (500,
429 with Retry-After, no answer, 401, 422) and of the remote (a refused
push) leave the comment to deliver and retried; a kill -9 of the endpoint
between the push and the pull request, or while the forge's answer is on its
way, still ends with each comment delivered exactly once; merged and closed
pull requests are settled by the periodic check; the token is nowhere."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import os
import shutil
import signal
import time
from pathlib import Path

import hookkit
import html5lib
import markdown
import pytest
from commentkit import GOOD, SECRET, SITE, Clock, call, make_app
from forgekit import (
    REPO,
    TOKEN,
    FakeForge,
    Fault,
    delivery_environment,
    git,
    git_argv_logger,
    refuse_pushes,
    remote_branches,
    served_forge,
    served_git,
    site_repository,
)

from lab_comments import cli, delivery, pulls
from lab_comments.endpoint import ConfigError, config_from_env, delivery_from_env
from lab_comments.loadtest import HOST, form_body, running_server
from lab_comments.loadtest import write_manifest as write_test_manifest
from lab_comments.moderation import Decisions
from lab_comments.store import dump_yaml, load_yaml

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE}


class Desk:
    """An endpoint in pull-request mode (in-process, with a settable clock),
    the site's bare repository and the fake forge."""

    def __init__(self, tmp_path: Path, forge, **more: str):
        self.tmp = tmp_path
        self.forge = forge
        self.bare = site_repository(tmp_path)
        self.clock = Clock()
        self.settings = delivery_from_env(
            delivery_environment(self.bare, forge, **more)
        )
        self.app = make_app(
            tmp_path / "endpoint", clock=self.clock, pull_delivery=self.settings
        )
        self.deliverer = self.app.deliverer

    def post(self, **fields) -> str:
        answer = call(self.app, body={**GOOD, **fields})
        assert answer.status == 303, answer.text
        ids = self.app.queue.ids()
        return max(ids, key=lambda i: self.app.queue.path(i).stat().st_mtime_ns)

    def entry(self, comment_id: str) -> dict:
        return pulls.read_entry(self.app.queue.root, comment_id)

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)


@pytest.fixture
def desk(tmp_path):
    with served_forge() as forge:
        yield Desk(tmp_path, forge)


def approved_bytes(queue_root: Path, tmp_path: Path, comment_id: str) -> bytes:
    """What `comments-approve` writes for the comment, run on a copy of the
    queue (the endpoint's own stays as it is)."""
    copy = tmp_path / "approve-queue"
    shutil.copytree(queue_root, copy, ignore=shutil.ignore_patterns("repo.git"))
    content = tmp_path / "approved"
    environ = {
        "LAB_COMMENTS_QUEUE": str(copy),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "none.json"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
    }
    assert cli.main(["--content", str(content), "approve", comment_id], environ) == 0
    return next(content.glob(f"*/{comment_id}.yaml")).read_bytes()


def branch_file(bare: Path, branch: str, path: str) -> bytes:
    import subprocess

    return subprocess.run(
        ["git", f"--git-dir={bare}", "show", f"{branch}:{path}"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout


# -- settings


def test_queue_mode_is_the_default_and_has_no_deliverer(tmp_path):
    config = config_from_env({"LAB_COMMENTS_QUEUE": str(tmp_path / "q")})
    assert config.pull_delivery is None


# The least a pull-request setup names (no forge is reached with it).
MINIMAL_PULL_REQUEST = {
    "LAB_COMMENTS_DELIVERY": "pull-request",
    "LAB_COMMENTS_GIT_REMOTE": "https://git.example.org/lab/site.git",
    "LAB_COMMENTS_FORGE_API": "https://api.example.org",
    "LAB_COMMENTS_FORGE_REPO": REPO,
    "LAB_COMMENTS_FORGE_TOKEN": TOKEN,
}


def without(environ: dict, name: str) -> dict:
    return {k: v for k, v in environ.items() if k != name}


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("LAB_COMMENTS_GIT_REMOTE", "LAB_COMMENTS_GIT_REMOTE"),
        ("LAB_COMMENTS_FORGE_API", "LAB_COMMENTS_FORGE_API"),
        ("LAB_COMMENTS_FORGE_REPO", "LAB_COMMENTS_FORGE_REPO"),
        ("LAB_COMMENTS_FORGE_TOKEN", "LAB_COMMENTS_FORGE_TOKEN"),
    ],
)
def test_an_incomplete_pull_request_setting_is_one_line(tmp_path, missing, named):
    environ = dict(MINIMAL_PULL_REQUEST)
    del environ[missing]
    with pytest.raises(ConfigError) as caught:
        delivery_from_env(environ)
    message = str(caught.value)
    assert message.startswith(named) and "\n" not in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("LAB_COMMENTS_DELIVERY", "email", "LAB_COMMENTS_DELIVERY"),
        ("LAB_COMMENTS_BRANCH_PREFIX", "ma", "LAB_COMMENTS_BRANCH_PREFIX"),
        ("LAB_COMMENTS_BRANCH_PREFIX", "main/", "LAB_COMMENTS_BRANCH_PREFIX"),
        ("LAB_COMMENTS_BRANCH_PREFIX", "a b/", "LAB_COMMENTS_BRANCH_PREFIX"),
        ("LAB_COMMENTS_GIT_CONTENT", "../x", "LAB_COMMENTS_GIT_CONTENT"),
        ("LAB_COMMENTS_RETRY_SECONDS", "0", "LAB_COMMENTS_RETRY_SECONDS"),
        (
            "LAB_COMMENTS_GIT_REMOTE",
            f"https://bot:{TOKEN}@git.example.org/lab/site.git",
            "LAB_COMMENTS_GIT_REMOTE",
        ),
        ("LAB_COMMENTS_FORGE_TOKEN_FILE", "/nonexistent/token", "LAB_COMMENTS_FORGE"),
    ],
)
def test_a_bad_delivery_setting_is_refused_at_start(setting, value, named):
    environ = {**MINIMAL_PULL_REQUEST, setting: value}
    with pytest.raises(ConfigError) as caught:
        delivery_from_env(environ)
    assert str(caught.value).startswith(named)
    assert TOKEN not in str(caught.value)


def test_the_token_can_come_from_a_file_and_is_never_shown(tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    settings = delivery_from_env(
        {
            **without(MINIMAL_PULL_REQUEST, "LAB_COMMENTS_FORGE_TOKEN"),
            "LAB_COMMENTS_FORGE_TOKEN_FILE": str(token_file),
        }
    )
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings)
    # Sent to an https remote in a header set through the environment,
    # never in an argument.
    git_env = pulls.Git(settings, tmp_path / "repo.git").env()
    assert git_env["GIT_CONFIG_KEY_0"] == (
        "http.https://git.example.org/lab/site.git.extraHeader"
    )
    assert git_env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    # After what the host passes the same way (a proxy, a CA bundle).
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    git_env = pulls.Git(settings, tmp_path / "repo.git").env()
    assert git_env["GIT_CONFIG_COUNT"] == "2"
    assert git_env["GIT_CONFIG_KEY_1"].endswith(".extraHeader")
    assert git_env["GIT_TERMINAL_PROMPT"] == "0"


# -- delivery, step by step


def test_intake_writes_only_the_outbox_entry(desk):
    comment_id = desk.post()
    entry = desk.entry(comment_id)
    assert entry["state"] == "to-deliver" and entry["attempts"] == 0
    assert entry["branch"] == f"comments/{comment_id}"
    assert desk.forge.calls == []
    assert set(remote_branches(desk.bare)) == {"main"}


def test_a_comment_becomes_a_branch_and_a_labelled_pull_request(desk, tmp_path):
    comment_id = desk.post(
        website="https://ada.example.org", body="A thoughtful comment.\n\nTwo lines."
    )
    assert desk.deliverer.step() == 1
    entry = desk.entry(comment_id)
    assert entry["state"] == "opened" and entry["pull"] == 1
    assert entry["url"] == f"{desk.forge.origin}/{REPO}/pull/1"

    branch = f"comments/{comment_id}"
    branches = remote_branches(desk.bare)
    assert set(branches) == {"main", branch}
    path = f"content/comments/a-post/{comment_id}.yaml"
    assert branch_file(desk.bare, branch, path) == approved_bytes(
        desk.app.queue.root, tmp_path, comment_id
    )
    # One commit on main, adding that file and nothing else.
    changed = git(
        f"--git-dir={desk.bare}", "diff", "--name-only", f"main...{branch}"
    ).split()
    assert changed == [path]
    assert git(f"--git-dir={desk.bare}", "rev-parse", f"{branch}^") == branches["main"]

    pull = desk.forge.pulls[1]
    assert pull["head"]["ref"] == branch and pull["base"]["ref"] == "main"
    assert "a-post" in pull["title"] and "Ada Lane" in pull["title"]
    assert "A thoughtful comment." in pull["body"]
    assert "first comment from this sender" in pull["body"]
    assert "Merge" in pull["body"] and "Close" in pull["body"]
    assert GOOD["email"] not in pull["body"] + pull["title"]
    assert desk.forge.labels == {1: ["comment"]}
    assert all(c.authorization == f"token {TOKEN}" for c in desk.forge.calls)
    # Still pending: the private part stays until the pull request is decided.
    assert desk.app.queue.path(comment_id).exists()


def test_the_pull_request_shows_the_flags_and_a_staff_lookalike(tmp_path):
    with served_forge() as forge:
        desk = Desk(tmp_path, forge)
        write_test_manifest(
            desk.app.config.manifest,
            SITE,
            {"a-post": {"comments": ["20250101-090000-aaaaaa"]}},
            staff=["Daniel Mensah"],
        )
        desk.post(
            name="Daniel Mensah",
            body="See [one](https://a.example) and [two](https://b.example).",
            reply_to="20250101-090000-aaaaaa",
        )
        desk.deliverer.step()
        body = forge.pulls[1]["body"]
    assert "looks like a staff member's" in body
    assert "reply to 20250101-090000-aaaaaa" in body
    assert "2 link(s)" in body


HOSTILE_NAME = "@everyone #1 [click](https://evil.example) **loud**"
HOSTILE_BODY = (
    "Hi @lab-team, see #12 and lab/site#3.\n\n````\n```\nescape?\n````\n"
    "[a link](https://evil.example) <img src=x onerror=alert(1)> @someone\n"
)


def test_a_strangers_text_cannot_ping_link_or_format_in_the_pull_request():
    record = {
        "id": "20261206-090000-abcdef",
        "post": "a-post",
        "name": HOSTILE_NAME,
        "website": "https://evil.example/@x",
        "date": dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC),
        "body": HOSTILE_BODY,
    }
    text = (
        pulls.pull_title(record)
        + "\n\n"
        + pulls.pull_body(
            record, ["website https://evil.example/@x"], None, "content/x.yaml", "main"
        )
    )
    html = markdown.markdown(text, extensions=["fenced_code"])
    tree = html5lib.parse(html, namespaceHTMLElements=False)
    assert tree.findall(".//a") == [] and tree.findall(".//img") == []

    def outside_code(node) -> str:
        if node.tag == "code":
            return node.tail or ""
        inner = "".join(outside_code(child) for child in node)
        return (node.text or "") + inner + (node.tail or "")

    loose = outside_code(tree)
    for needle in ("@", "#1", "#12", "evil.example", "onerror", "**"):
        assert needle not in loose, needle
    # The body is quoted whole, in one block, as written.
    blocks = [c for c in tree.iter("code") if "escape?" in (c.text or "")]
    assert len(blocks) == 1 and blocks[0].text.strip() == HOSTILE_BODY.strip()


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after():
    settings = pulls.Settings(
        "r", "https://x", "a/b", "t", retry_seconds=10, retry_max=100
    )
    assert [pulls.backoff(n, settings, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [
        10,
        20,
        40,
        80,
        100,
    ]
    assert pulls.backoff(3, settings, rand=lambda: 0.0) == 20
    assert pulls.backoff(1, settings, retry_after=300, rand=lambda: 1.0) == 300


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault("POST", "/pulls", status=500), "500"),
        (
            Fault("POST", "/pulls", status=401, body={"message": "Bad credentials"}),
            "401",
        ),
        (Fault("POST", "/pulls", status=403), "403"),
        (Fault("GET", "/pulls", hang=10), "no answer within 5 s"),
        (Fault("POST", "/issues/", status=502), "502"),
        (Fault("POST", "/pulls", cut=True), "cut short"),
    ],
)
def test_a_forge_fault_keeps_the_comment_to_deliver_and_a_retry_delivers_it_once(
    tmp_path, fault, expected
):
    with served_forge() as forge:
        # 5 s for each call: the calls before the fault answer in time on
        # a loaded machine (at 1 s, a slow GET read as the fault). The hang
        # of 10 s still outlasts it.
        desk = Desk(tmp_path, forge, LAB_COMMENTS_FORGE_TIMEOUT="5")
        comment_id = desk.post()
        forge.fault(fault)
        started = time.monotonic()
        desk.deliverer.step()
        assert time.monotonic() - started < 20
        entry = desk.entry(comment_id)
        assert entry["state"] in ("pushed", "to-deliver")
        assert entry["attempts"] == 1 and expected in entry["last_error"]
        assert TOKEN not in entry["last_error"]
        assert desk.deliverer.step() == 0, "retried before its time"
        desk.later(5)
        assert desk.deliverer.step() == 1
        assert desk.entry(comment_id)["state"] == "opened"
        assert len(forge.pulls) == 1 and forge.labels == {1: ["comment"]}
        assert set(remote_branches(desk.bare)) == {"main", f"comments/{comment_id}"}


def test_429_waits_as_long_as_retry_after_says(desk):
    comment_id = desk.post()
    desk.forge.fault(
        Fault("GET", "/pulls", status=429, headers=[("Retry-After", "120")])
    )
    desk.deliverer.step()
    entry = desk.entry(comment_id)
    assert entry["attempts"] == 1 and "429" in entry["last_error"]
    next_try = dt.datetime.fromisoformat(entry["next_try"])
    assert next_try - desk.clock() >= dt.timedelta(seconds=120)
    desk.later(60)
    assert desk.deliverer.step() == 0
    desk.later(61)
    assert desk.deliverer.step() == 1
    assert desk.entry(comment_id)["state"] == "opened"


def test_422_already_exists_is_found_by_the_lookup(desk):
    """The lookup missed a pull request that exists (a forge whose list lags);
    opening it again answers 422, and the lookup after finds it."""
    comment_id = desk.post()
    desk.deliverer.step()
    assert desk.entry(comment_id)["state"] == "opened"
    # The same comment taken again from "to-deliver" (as after a lost write).
    entry = desk.entry(comment_id)
    entry.update(state="to-deliver", pull=None, url="")
    desk.deliverer._save(comment_id, entry)
    desk.forge.fault(Fault("GET", "/pulls", status=200, body=[]))
    assert desk.deliverer.deliver(comment_id) == "opened"
    assert desk.entry(comment_id)["pull"] == 1
    assert len(desk.forge.pulls) == 1
    assert desk.forge.count("POST", f"/repos/{REPO}/pulls") == 2


def test_a_branch_deleted_before_its_pull_request_is_pushed_again(desk):
    comment_id = desk.post()
    branch = f"comments/{comment_id}"
    # The forge refuses the head (it was deleted on the remote by hand).
    desk.forge.fault(
        Fault("POST", "/pulls", status=422, body={"message": "Validation Failed"})
    )
    desk.deliverer.step()
    entry = desk.entry(comment_id)
    assert entry["state"] == "to-deliver" and "422" in entry["last_error"]
    git(f"--git-dir={desk.bare}", "branch", "-D", branch)
    desk.later(5)
    desk.deliverer.step()
    assert desk.entry(comment_id)["state"] == "opened"
    assert branch in remote_branches(desk.bare) and len(desk.forge.pulls) == 1


def test_on_a_gitea_shaped_forge_a_lost_answer_still_gives_one_pull_request(
    tmp_path,
):
    """Forgejo's and Gitea's list ignores `head`: the lookup misses the pull
    request opened before a crash, opening it again answers 422, and their
    own lookup (GET /pulls/{base}/{head}) finds it."""
    with served_forge(FakeForge(gitea=True)) as forge:
        desk = Desk(tmp_path, forge)
        comment_id = desk.post()
        forge.fault(Fault("POST", "/pulls", status=502, after=True))
        desk.deliverer.step()
        assert len(forge.pulls) == 1 and desk.entry(comment_id)["pull"] is None
        desk.later(5)
        assert desk.deliverer.step() == 1
        assert desk.entry(comment_id)["state"] == "opened"
        assert desk.entry(comment_id)["pull"] == 1 and len(forge.pulls) == 1
        assert forge.count("GET", f"/repos/{REPO}/pulls/main/comments/{comment_id}")


def test_a_refused_push_is_retried_until_the_remote_takes_it(desk):
    comment_id = desk.post()
    refuse_pushes(desk.bare)
    desk.deliverer.step()
    entry = desk.entry(comment_id)
    assert entry["state"] == "to-deliver" and entry["attempts"] == 1
    assert "git push failed" in entry["last_error"]
    assert "pushes are closed today" in entry["last_error"]
    assert desk.forge.calls == [] and set(remote_branches(desk.bare)) == {"main"}
    refuse_pushes(desk.bare, refuse=False)
    desk.later(5)
    desk.deliverer.step()
    assert desk.entry(comment_id)["state"] == "opened"
    assert len(desk.forge.pulls) == 1


def test_the_endpoint_pushes_only_its_own_branch(desk):
    with pytest.raises(pulls.GitError):
        desk.deliverer.git.push("main", "0" * 40)
    with pytest.raises(pulls.GitError):
        desk.deliverer.git.push("other/20261206-090000-abcdef", "0" * 40)


def test_a_record_that_cannot_be_published_is_held_for_the_commands(desk):
    comment_id = desk.post()
    path = desk.app.queue.path(comment_id)
    record = load_yaml(path.read_bytes())
    # Within the schema, beyond what the build renders (queued before the
    # endpoint checked bodies, say).
    record["body"] = "*a*\n" * 1999
    path.write_bytes(dump_yaml(record))
    assert desk.deliverer.deliver(comment_id) == "held"
    entry = desk.entry(comment_id)
    assert entry["state"] == "held" and "cannot be published" in entry["last_error"]
    assert desk.forge.calls == [] and set(remote_branches(desk.bare)) == {"main"}
    assert desk.deliverer.step() == 0  # not retried
    assert desk.app.queue.path(comment_id).exists()


def test_a_comment_decided_meanwhile_is_not_delivered(desk):
    comment_id = desk.post()
    delivery.settle(desk.app.queue, comment_id, False, desk.clock())
    assert desk.deliverer.step() == 0
    assert desk.forge.calls == []


def test_the_periodic_check_settles_merged_and_closed_pull_requests(desk):
    merged = desk.post(body="Merge me.")
    closed = desk.post(body="Close me.", email="other@example.org")
    open_ = desk.post(body="Leave me.", email="third@example.org")
    assert desk.deliverer.step() == 3
    numbers = {desk.entry(i)["pull"]: i for i in (merged, closed, open_)}
    by_id = {i: n for n, i in numbers.items()}
    desk.forge.close(by_id[merged], merged=True)
    desk.forge.close(by_id[closed], merged=False)
    assert desk.deliverer.check(force=True) == 2
    decisions = Decisions(desk.app.queue.root)
    assert decisions.get(merged)[0] == "approved"
    assert decisions.get(closed)[0] == "rejected"
    assert desk.app.queue.ids() == [open_]
    assert pulls.outbox_ids(desk.app.queue.root) == [open_]
    # Not again before its interval.
    desk.forge.close(by_id[open_], merged=True)
    assert desk.deliverer.check() == 0
    assert desk.app.queue.ids() == [open_]
    # A comment decided with the commands meanwhile: its entry goes.
    desk.app.queue.remove(open_)
    assert desk.deliverer.check(force=True) == 0
    assert pulls.outbox_ids(desk.app.queue.root) == []


def test_health_reports_the_backlog_and_says_late(tmp_path):
    with served_forge() as forge:
        desk = Desk(tmp_path, forge, LAB_COMMENTS_DELIVERY_LATE_SECONDS="600")
        answer = call(desk.app, "GET", path="/health")
        assert answer.status == 200
        assert answer.text == "ok\ndelivery: 0 to deliver\n"
        desk.post()
        refuse_pushes(desk.bare)
        desk.deliverer.step()
        desk.later(700)
        answer = call(desk.app, "GET", path="/health")
        assert answer.status == 200
        lines = answer.text.splitlines()
        assert lines[0] == "ok" and lines[1].startswith("delivery: 1 to deliver")
        assert "late" in lines[1] and TOKEN not in answer.text


def test_comments_list_shows_each_comments_delivery(desk, capsys, tmp_path):
    first = desk.post()
    desk.deliverer.step()
    desk.later(2)  # ids sort by the second they arrived in
    second = desk.post(email="other@example.org", body="Second.")
    environ = {
        **delivery_environment(desk.bare, desk.forge),
        "LAB_COMMENTS_QUEUE": str(desk.app.queue.root),
        "LAB_COMMENTS_MANIFEST": str(desk.app.config.manifest),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
    }
    assert cli.main(["list"], environ) == 0
    out = capsys.readouterr().out
    assert f"delivery: pull request {desk.entry(first)['url']}" in out
    assert "delivery: to deliver" in out
    assert out.index(first) < out.index(desk.entry(first)["url"]) < out.index(second)


def test_a_comment_whose_entry_was_lost_is_adopted(desk):
    comment_id = desk.post()
    delivery.outbox_path(desk.app.queue.root, comment_id).unlink()
    assert desk.deliverer.adopt(desk.clock()) == 1
    assert desk.deliverer.step() == 1
    assert desk.entry(comment_id)["state"] == "opened"


# -- through the real server (waitress, a child process)


def post_over_http(port: int, **fields) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(
            "POST", "/comments", form_body({**GOOD, **fields}), FORM_HEADERS
        )
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def get_health(port: int) -> str:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


@contextlib.contextmanager
def endpoint(
    tmp_path: Path,
    forge,
    bare: Path,
    log: str = "server.log",
    port: int | None = None,
    **more,
):
    manifest = tmp_path / "manifest.json"
    if not manifest.exists():
        write_test_manifest(manifest, SITE, {"a-post": {}})
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "delivery-" + "s" * 40,
        "LAB_COMMENTS_RATE_LIMIT": "1000",
        "LAB_COMMENTS_POST_HOURLY": "1000",
        "LAB_COMMENTS_MIN_SECONDS": "0",
        **delivery_environment(bare, forge),
        **more,
    }
    with running_server(environ, tmp_path / log, port=port) as server:
        yield server


def wait_until(test, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def opened(queue: Path) -> set[str]:
    return {
        i
        for i in pulls.outbox_ids(queue)
        if (pulls.read_entry(queue, i) or {}).get("state") == "opened"
    }


def test_a_comment_posted_to_the_served_endpoint_becomes_a_pull_request(tmp_path):
    bare = site_repository(tmp_path)
    with served_forge() as forge:
        # The forge does not answer until released.
        forge.fault(Fault("GET", "/pulls", hang=60))
        with endpoint(
            tmp_path, forge, bare, LAB_COMMENTS_PULL_CHECK_SECONDS="0.5"
        ) as server:
            assert post_over_http(server.port) == 303
            forge.wait_for(lambda f: f.calls)
            # The worker waits for the forge; readers do not.
            started = time.monotonic()
            assert post_over_http(server.port, body="Another.", email="b@x.org") == 303
            assert time.monotonic() - started < 5
            assert "delivery: 2 to deliver" in get_health(server.port)
            forge.release.set()
            forge.wait_for(lambda f: len(f.labels) == 2)
            queue = tmp_path / "queue"
            wait_until(lambda: len(opened(queue)) == 2, what="not opened")
            assert "delivery: 0 to deliver" in get_health(server.port)
            comment_id = delivery.id_from_branch(
                "comments/", forge.pulls[1]["head"]["ref"]
            )
            branch = f"comments/{comment_id}"
            assert branch in remote_branches(bare) and len(remote_branches(bare)) == 3
            path = f"content/comments/a-post/{comment_id}.yaml"
            expected = approved_bytes(queue, tmp_path, comment_id)
            assert branch_file(bare, branch, path) == expected
            pull = forge.pulls[1]
            assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main")
            assert pull["title"] and "A thoughtful comment." in pull["body"]
            # Merged on the forge: the periodic check settles it.
            forge.close(1, merged=True)
            wait_until(lambda: Decisions(queue).get(comment_id) is not None)
            assert Decisions(queue).get(comment_id)[0] == "approved"
            assert not (queue / "pending" / f"{comment_id}.yaml").exists()
        log = (tmp_path / "server.log").read_text()
    for file in queue.rglob("*"):
        if file.is_file() and "repo.git" not in file.parts:
            assert TOKEN.encode() not in file.read_bytes(), file
    assert TOKEN not in log


@pytest.mark.parametrize(
    "moment",
    [
        # Pushed, nothing asked of the forge yet: the lookup hangs.
        Fault("GET", "/pulls", hang=60),
        # The forge opened the pull request; its answer never arrives.
        Fault("POST", "/pulls", hang=60, after=True),
    ],
    ids=["between-push-and-pull-request", "pull-request-answer-lost"],
)
def test_kill_9_between_push_and_pull_request_delivers_each_comment_once(
    tmp_path, moment
):
    bare = site_repository(tmp_path)
    queue = tmp_path / "queue"
    with served_forge() as forge:
        forge.fault(moment)
        with endpoint(
            tmp_path, forge, bare, LAB_COMMENTS_FORGE_TIMEOUT="120"
        ) as server:
            for n in range(3):
                assert (
                    post_over_http(
                        server.port, body=f"Comment {n}.", email=f"{n}@x.org"
                    )
                    == 303
                )
            forge.wait_for(
                lambda f: (
                    f.pulls
                    if moment.after
                    else any(c.method == moment.method for c in f.calls)
                )
            )
            branches_then = set(remote_branches(bare)) - {"main"}
            assert len(branches_then) >= 1
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
        with endpoint(tmp_path, forge, bare, log="server2.log") as server:
            wait_until(lambda: len(opened(queue)) == 3, 60, "not all delivered")
    heads = [p["head"]["ref"] for p in forge.pulls.values()]
    assert len(heads) == 3 and len(set(heads)) == 3
    assert set(heads) == set(remote_branches(bare)) - {"main"}
    assert {f"comments/{i}" for i in opened(queue)} == set(heads)
    assert all(forge.labels[n] == ["comment"] for n in forge.pulls)
    assert forge.count("POST", f"/repos/{REPO}/pulls") == 3


def test_over_https_style_http_the_token_goes_in_a_header_never_an_argument(
    tmp_path, monkeypatch
):
    """The remote served by `git http-backend` behind basic authentication:
    the endpoint fetches and pushes with the token, and no git command it
    runs has the token (or its header) among its arguments."""
    bare = site_repository(tmp_path)
    bin_dir, argv_log = git_argv_logger(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with served_forge() as forge, served_git(tmp_path, "x-access-token", TOKEN) as url:
        desk = Desk(tmp_path / "desk", forge)
        settings = delivery_from_env(
            delivery_environment(bare, forge, LAB_COMMENTS_GIT_REMOTE=f"{url}/site.git")
        )
        deliverer = pulls.Deliverer(settings, desk.app.queue, desk.clock)
        comment_id = desk.post()
        assert deliverer.deliver(comment_id) == "opened"
        # Without the token the same remote refuses.
        wrong = pulls.Git(
            pulls.Settings(**{**settings.__dict__, "token": "wrong-token"}),
            tmp_path / "other.git",
        )
        with pytest.raises(pulls.GitError) as refused:
            wrong.remote_branch("main")
        assert "wrong-token" not in str(refused.value)
    assert f"comments/{comment_id}" in remote_branches(bare)
    argv = argv_log.read_text()
    assert "push" in argv and "fetch" in argv
    secret_header = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert TOKEN not in argv and secret_header not in argv


def send_hook(port: int, body: bytes, headers: dict) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        sent = {k: v for k, v in headers.items() if v is not None}
        connection.request("POST", "/forge-hook", body, sent)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def merge_by_signed_webhook(
    port: int, queue: Path, comment_id: str, kind: str = "github"
) -> None:
    """The forge's webhook for the comment's pull request, merged, sent to
    the endpoint on `port` (run with LAB_COMMENTS_HOOK_SECRET=HOOK_SECRET):
    unsigned or wrongly signed it is refused with 401 and changes nothing;
    signed, it deletes the private record and the outbox entry and records
    the comment as approved."""
    entry = pulls.read_entry(queue, comment_id)
    payload = hookkit.pull_request(
        "closed",
        entry["branch"],
        merged=True,
        forge=kind,
        base=hookkit.repository(REPO, forge=kind),
        number=entry["pull"],
    )
    body = hookkit.encode(payload)
    unsigned = {
        k: v for k, v in hookkit.headers(kind, body).items() if "Signature" not in k
    }
    forged = hookkit.headers(kind, body, secret="x" * 40)
    assert send_hook(port, body, unsigned) == 401
    assert send_hook(port, body, forged) == 401
    assert (queue / "pending" / f"{comment_id}.yaml").exists()
    assert pulls.read_entry(queue, comment_id) == entry
    assert Decisions(queue).get(comment_id) is None
    assert send_hook(port, body, hookkit.headers(kind, body)) == 200
    assert not (queue / "pending" / f"{comment_id}.yaml").exists()
    assert pulls.read_entry(queue, comment_id) is None
    assert Decisions(queue).get(comment_id)[0] == "approved"


@pytest.mark.parametrize("kind", ["github", "forgejo"])
def test_posted_delivered_then_merged_through_the_signed_webhook(tmp_path, kind):
    """The issue's whole loop through the served endpoint: a comment posted,
    delivered as a branch and a pull request, and the forge's signed
    webhook for "merged" deleting the private record; an unsigned or wrongly
    signed one is refused with 401 and changes nothing."""
    bare = site_repository(tmp_path)
    queue = tmp_path / "queue"
    with (
        served_forge() as forge,
        endpoint(
            tmp_path,
            forge,
            bare,
            LAB_COMMENTS_HOOK_SECRET=hookkit.HOOK_SECRET,
            # Only the webhook settles it here.
            LAB_COMMENTS_PULL_CHECK_SECONDS="3600",
        ) as server,
    ):
        assert post_over_http(server.port) == 303
        wait_until(lambda: opened(queue), what="the entry was never opened")
        (comment_id,) = opened(queue)
        merge_by_signed_webhook(server.port, queue, comment_id, kind)
    # Delivered once, and settled by the webhook (the check never asked).
    assert len(forge.pulls) == 1 and forge.count("GET", f"/repos/{REPO}/pulls/1") == 0
