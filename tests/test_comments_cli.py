"""Moderation: list, show, approve (crash-safe, idempotent), reject, redact,
erase, purge; in-process through `main()` and through the make targets."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from commentkit import EXISTING, GOOD, SECRET, call, make_app, pending_files
from conftest import SAMPLE

from lab_comments import cli, schema
from lab_comments.store import Published, Queue, load_yaml


@pytest.fixture
def desk(tmp_path):
    """An endpoint with a queue, the content folder, and a function that runs
    the CLI against them and returns (exit status, output)."""
    app = make_app(tmp_path)
    content = tmp_path / "content" / "comments"
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(content),
        "LAB_COMMENTS_MANIFEST": str(app.config.manifest),
    }

    def run(*args):
        return cli.main(list(args), environ=environ)

    return app, content, run


def submit(app, **fields) -> str:
    before = {p.stem for p in pending_files(app)}
    assert call(app, body={**GOOD, **fields}).status == 303
    (new,) = {p.stem for p in pending_files(app)} - before
    return new


def test_approving_writes_only_the_public_fields_and_empties_the_queue(desk, capsys):
    app, content, run = desk
    comment_id = submit(app, website="https://ada.example", body="Hello *there*.")
    assert run("approve", comment_id) == 0
    assert "Approved" in capsys.readouterr().out
    path = content / "a-post" / f"{comment_id}.yaml"
    record = load_yaml(path.read_bytes())
    assert record == {
        "id": comment_id,
        "post": "a-post",
        "name": "Ada Lane",
        "website": "https://ada.example",
        "date": record["date"],
        "body": "Hello *there*.",
    }
    assert schema.validate_published(record)[1] == []
    assert pending_files(app) == []
    text = path.read_text()
    assert "ada@example.org" not in text and "client" not in text


def test_approving_again_says_so_and_changes_nothing(desk, capsys):
    # Exit 1 since the moderation lock (issue 15): of two commands on one
    # comment, only the one that did something succeeds.
    app, content, run = desk
    comment_id = submit(app)
    assert run("approve", comment_id) == 0
    before = (content / "a-post" / f"{comment_id}.yaml").read_bytes()
    capsys.readouterr()
    assert run("approve", comment_id) == 1
    assert "already approved" in capsys.readouterr().err
    assert (content / "a-post" / f"{comment_id}.yaml").read_bytes() == before
    assert run("approve", "20990101-000000-abcdef") == 1
    assert "no pending comment" in capsys.readouterr().err


def test_an_approval_cut_short_finishes_when_run_again(desk, monkeypatch):
    """A crash after the public file is written and before the pending one is
    removed: the next run rewrites the same file and removes the pending one."""
    app, content, run = desk
    comment_id = submit(app)

    def crash(self, cid):
        raise KeyboardInterrupt  # as if the power went

    monkeypatch.setattr(Queue, "remove", crash)
    with pytest.raises(KeyboardInterrupt):
        run("approve", comment_id)
    assert (content / "a-post" / f"{comment_id}.yaml").is_file()
    assert len(pending_files(app)) == 1
    monkeypatch.undo()
    assert run("approve", comment_id) == 0
    assert pending_files(app) == []
    assert [p.name for p in (content / "a-post").iterdir()] == [f"{comment_id}.yaml"]


AUTHORS = "daniel-mensah:\n  name: Daniel Mensah\n  role: Community manager\n"


def test_replies_wait_for_their_parent(desk, capsys):
    app, content, run = desk
    parent = submit(app, body="A question?")
    reply = submit(app, name="Daniel Mensah", body="An answer.", reply_to=EXISTING)
    Published(content).write(
        {"id": EXISTING, "post": "a-post", "name": "X", "date": "2025-01-01T09:00:00Z",
         "body": "Earlier."}
    )  # fmt: skip
    assert run("approve", reply) == 0
    record = load_yaml((content / "a-post" / f"{reply}.yaml").read_bytes())
    assert record["reply_to"] == EXISTING
    # A reader who calls themselves staff is not staff: approving never marks.
    assert "staff" not in record
    # A reply whose parent is not published cannot be approved before it.
    (content / "a-post" / f"{EXISTING}.yaml").unlink()
    orphan = submit(app, body="To the removed one.", reply_to=EXISTING)
    assert run("approve", orphan) == 1
    assert "approve 20250101-090000-aaaaaa first" in capsys.readouterr().err
    assert run("approve", parent) == 0


def test_approve_has_no_staff_flag(desk, capsys):
    app, _, run = desk
    comment_id = submit(app, name="Daniel Mensah")
    with pytest.raises(SystemExit) as usage:
        run("approve", comment_id, "--staff")
    assert usage.value.code == 2
    assert "--staff" in capsys.readouterr().err
    assert app.queue.read(comment_id)  # still waiting, untouched


def published_parent(app, content, run) -> str:
    """A published comment to reply to, and an authors.yaml beside it."""
    content.mkdir(parents=True, exist_ok=True)
    (content.parent / "authors.yaml").write_text(AUTHORS, encoding="utf-8")
    parent = submit(app, body="A question?")
    assert run("approve", parent) == 0
    return parent


def test_a_staff_reply_is_written_as_staff_by_an_author(desk, capsys, tmp_path):
    app, content, run = desk
    parent = published_parent(app, content, run)
    body = tmp_path / "reply.md"
    body.write_text("Thank you: *see* the call.\n", encoding="utf-8")
    capsys.readouterr()
    assert run("reply", parent, "--author", "daniel-mensah", "--body-file",
               str(body)) == 0  # fmt: skip
    assert "as Daniel Mensah" in capsys.readouterr().out
    (path,) = [p for p in (content / "a-post").glob("*.yaml") if p.stem != parent]
    record = load_yaml(path.read_bytes())
    assert record == {
        "id": path.stem,
        "post": "a-post",
        "name": "Daniel Mensah",
        "date": record["date"],
        "reply_to": parent,
        "staff": True,
        "body": "Thank you: *see* the call.",
    }
    assert schema.validate_published(record)[1] == []
    assert path.stem != parent and schema.comment_id(path.stem)
    assert pending_files(app) == []  # nothing went through the queue


@pytest.mark.parametrize(
    "case",
    [
        ("nobody", "published", "AUTHOR=<key>): daniel-mensah"),
        ("", "published", "who writes the reply?"),
        ("daniel-mensah", "pending", "approve it first"),
        ("daniel-mensah", "rejected", "already rejected"),
        ("daniel-mensah", "missing", "is not published"),
    ],
)
def test_a_staff_reply_is_refused_without_an_author_or_a_published_parent(
    desk, capsys, tmp_path, case
):
    author, parent_state, error = case
    app, content, run = desk
    content.mkdir(parents=True, exist_ok=True)
    (content.parent / "authors.yaml").write_text(AUTHORS, encoding="utf-8")
    parent = submit(app, body="A question?")
    if parent_state == "published":
        assert run("approve", parent) == 0
    elif parent_state == "rejected":
        assert run("reject", parent) == 0
    elif parent_state == "missing":
        parent = "20990101-000000-abcdef"
    body = tmp_path / "reply.md"
    body.write_text("An answer.", encoding="utf-8")
    capsys.readouterr()
    assert run("reply", parent, "--author", author, "--body-file", str(body)) == 1
    assert error in capsys.readouterr().err
    files = list(content.rglob("*.yaml")) if content.is_dir() else []
    assert all("staff" not in load_yaml(p.read_bytes()) for p in files)


def test_rejecting_deletes_and_counts_against_the_sender(desk, capsys):
    app, _, run = desk
    comment_id = submit(app)
    sender = app.queue.read(comment_id)["sender"]
    assert run("reject", comment_id) == 0
    assert pending_files(app) == []
    assert app.queue.sender(sender)["rejected"] == 1
    capsys.readouterr()
    assert run("reject", comment_id) == 1
    assert "already rejected" in capsys.readouterr().err
    submit(app, body="Another go.")
    assert run("list") == 0
    assert "sender had 1 rejected" in capsys.readouterr().out


def test_the_list_shows_post_name_date_and_flags(desk, capsys):
    app, _, run = desk
    submit(app, body="Cheap: https://a.example https://b.example www.c.example")
    submit(app, body="A reply.", reply_to=EXISTING)
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "2 comment(s) waiting" in out and "on a-post" in out
    assert "from Ada Lane" in out and " UTC" in out
    assert "many links (3)" in out and f"reply to {EXISTING}" in out
    assert "2 pending from the same internet address" in out


def test_terminal_control_codes_are_never_printed():
    # The schema keeps them out of the queue; a hand-edited file could still
    # hold one, and the moderator's terminal must not obey it.
    assert cli._shown("Bot\x1b[31m\u202e\nok") == "Bot\\u001b[31m\\u202e\nok"


def test_redacting_before_approving(desk, capsys):
    app, content, run = desk
    comment_id = submit(app, body="Call me on 07700 900123 any time.")
    assert run("redact", comment_id, "--text", "07700 900123") == 0
    assert run("approve", comment_id) == 0
    record = load_yaml((content / "a-post" / f"{comment_id}.yaml").read_bytes())
    assert record["body"] == "Call me on [removed by a moderator] any time."
    assert run("redact", comment_id, "--text", "nowhere") == 1
    assert "not found" in capsys.readouterr().err


def test_redacting_cannot_leave_an_invalid_comment(desk, capsys):
    app, _, run = desk
    comment_id = submit(app, body="Hi")
    assert run("redact", comment_id, "--text", "Hi", "--replacement", "") == 1
    assert "after redaction: body" in capsys.readouterr().err
    assert app.queue.read(comment_id)["body"] == "Hi"


def test_erasing_a_published_comment_keeps_its_replies_in_the_thread(desk, capsys):
    _, content, run = desk
    published = Published(content)
    base = {"post": "a-post", "name": "N", "body": "Text."}
    published.write({**base, "id": "a", "date": "2025-01-01T00:00:00Z"})
    published.write({**base, "id": "b", "date": "2025-01-02T00:00:00Z",
                     "reply_to": "a"})  # fmt: skip
    published.write({**base, "id": "c", "date": "2025-01-03T00:00:00Z",
                     "reply_to": "b"})  # fmt: skip
    assert run("erase", "b") == 0
    assert "git history" in capsys.readouterr().out
    assert sorted(p.stem for p in (content / "a-post").glob("*.yaml")) == ["a", "c"]
    assert load_yaml((content / "a-post" / "c.yaml").read_bytes())["reply_to"] == "a"
    assert run("erase", "a") == 0
    assert "reply_to" not in load_yaml((content / "a-post" / "c.yaml").read_bytes())
    capsys.readouterr()
    assert run("erase", "a") == 1
    assert "erased" in capsys.readouterr().err
    assert run("erase", "../../etc") == 1


def test_purge_and_list_delete_what_is_past_its_time(desk, capsys, monkeypatch):
    """A pending comment goes after 30 days; the keyed hash of a sender whose
    comment a moderator decided goes 12 months after that decision; a comment
    nobody moderated leaves no hash behind."""
    app, _, run = desk
    rejected = submit(app, body="Rejected at once.")
    assert run("reject", rejected) == 0
    comment_id = submit(app)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    monkeypatch.setattr(cli, "_now", lambda: later)
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "Deleted 1 pending" in out and "No comments are waiting" in out
    assert not app.queue.path(comment_id).exists()
    monkeypatch.setattr(cli, "_now", lambda: later + dt.timedelta(days=400))
    assert run("purge") == 0
    assert "1 sender hash(es)" in capsys.readouterr().out


def test_show_prints_the_whole_comment_for_the_moderator(desk, capsys):
    app, _, run = desk
    comment_id = submit(app, body="Line one\nLine two")
    assert run("show", comment_id) == 0
    out = capsys.readouterr().out
    assert "email: ada@example.org" in out and "    Line two" in out
    assert run("show", "../x") == 1


def test_the_make_targets_run_the_moderation_commands(make_repo, tmp_path):
    """Through the Makefile, as staff would: list, approve, reply, reject;
    STAFF=1 on approve is refused (a reader's comment is never staff)."""
    repo, make = make_repo(SAMPLE)
    queue = repo / "comments-queue"
    app = make_app(tmp_path / "endpoint")
    app.queue = Queue(queue).open()  # the repository's own queue and key
    keep = submit(app, body="Keep me.")
    drop = submit(app, body="Drop me.")
    listed = make("comments-list")
    assert listed.returncode == 0, listed.stderr
    assert keep in listed.stdout and drop in listed.stdout
    staff = make("comments-approve", f"ID={keep}", "STAFF=1")
    assert staff.returncode != 0 and "comments-reply" in staff.stderr
    assert (queue / "pending" / f"{keep}.yaml").is_file()
    approved = make("comments-approve", f"ID={keep}")
    assert approved.returncode == 0, approved.stderr
    record = load_yaml((repo / "content/comments/a-post" / f"{keep}.yaml").read_bytes())
    assert "staff" not in record
    reply_file = tmp_path / "reply.md"
    reply_file.write_text("Thank you, from the Lab.\n", encoding="utf-8")
    replied = make(
        "comments-reply", f"ID={keep}", "AUTHOR=daniel-mensah",
        f"BODY_FILE={reply_file}",
    )  # fmt: skip
    assert replied.returncode == 0, replied.stderr
    (reply,) = [
        load_yaml(p.read_bytes())
        for p in (repo / "content/comments/a-post").glob("*.yaml")
        if p.stem != keep
    ]
    assert reply["staff"] is True and reply["reply_to"] == keep
    assert reply["name"] == "Daniel Mensah"
    assert reply["body"] == "Thank you, from the Lab."
    assert make("comments-reject", f"ID={drop}").returncode == 0
    assert not any((queue / "pending").glob("*.yaml"))
    missing = make("comments-approve", "ID=20990101-000000-abcdef")
    assert missing.returncode != 0 and "no pending comment" in missing.stderr


def test_make_devserver_runs_the_whole_loop(make_repo):
    """`make devserver` serves the site and the endpoint: a comment sent from
    the served page, approved with make, appears after the automatic rebuild."""
    import http.client
    import os
    import signal
    import subprocess
    import threading
    import time

    from commentkit import parse_html_bytes
    from test_make import free_port, get

    from lab_comments.loadtest import form_body

    repo, make = make_repo(SAMPLE)
    site_port, comments_port = free_port(), free_port()
    server = make(
        "devserver", f"PORT={site_port}", f"COMMENTS_PORT={comments_port}",
        background=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    page_url = f"http://127.0.0.1:{site_port}/updates/2025/first-challenge/"
    # make devserver builds the site (make html), then Pelican's watcher builds
    # it again before it watches: a change made before that could go unseen.
    said: list[str] = []
    reader = threading.Thread(
        target=lambda: said.extend(line.decode() for line in server.stdout), daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + 120
        get(f"http://127.0.0.1:{comments_port}/health", deadline)
        while sum("Done: Processed" in line for line in said) < 2:
            assert time.monotonic() < deadline, "the watcher's first build never ended"
            time.sleep(0.2)
        _, page = get(page_url, deadline)
        form = next(
            f
            for f in parse_html_bytes(page).iter("form")
            if f.get("id") == "comment-form"
        )
        fields = {n.get("name"): n.get("value") or "" for n in form.iter("input")}
        fields.update(name="Devi Loop", email="devi@example.net", body="Hello, loop.")
        connection = http.client.HTTPConnection("127.0.0.1", comments_port, timeout=10)
        connection.request(
            "POST", "/comments", form_body(fields),
            {"Content-Type": "application/x-www-form-urlencoded",
             "Origin": f"http://127.0.0.1:{site_port}"},
        )  # fmt: skip
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 303
        assert response.getheader("Location") == page_url + "#comment-pending"
        (pending,) = [p.stem for p in (repo / "comments-queue/pending").glob("*.yaml")]
        approved = make("comments-approve", f"ID={pending}")
        assert approved.returncode == 0, approved.stderr
        # The watcher notices the new .yaml file and rebuilds (bounded wait).
        while b"Devi Loop" not in get(page_url, deadline)[1]:
            assert time.monotonic() < deadline, "the comment never appeared"
            time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def test_a_staff_reply_can_be_typed_on_standard_input(desk, capsys, monkeypatch):
    app, content, run = desk
    parent = published_parent(app, content, run)
    monkeypatch.setattr("sys.stdin", io.StringIO("Typed here.\n"))
    assert run("reply", parent, "--author", "daniel-mensah") == 0
    (path,) = [p for p in (content / "a-post").glob("*.yaml") if p.stem != parent]
    assert load_yaml(path.read_bytes())["body"] == "Typed here."


def test_a_senders_history_is_written_when_a_moderator_decides(desk, capsys):
    """Taking a comment writes no sender record; approving and rejecting
    do, and the listing counts those with the sender's waiting comments."""
    app, _, run = desk
    sender = app.queue.sender_hash(GOOD["email"])
    first = submit(app, body="The first one.")
    assert app.queue.sender(sender) == {}
    assert run("approve", first) == 0
    second = submit(app, body="The second one.")
    assert run("reject", second) == 0
    record = app.queue.sender(sender)
    assert (record["comments"], record["rejected"]) == (1, 1) and record["last_seen"]
    submit(app, body="The third one.")
    capsys.readouterr()
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "sender sent 3 in 12 months" in out and "sender had 1 rejected" in out
