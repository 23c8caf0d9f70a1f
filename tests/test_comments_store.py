"""lab_comments.store: atomic files, YAML that round-trips whatever a reader
types, the pending queue, and what a `kill -9` leaves behind."""

from __future__ import annotations

import datetime as dt
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from lab_comments import schema
from lab_comments.store import (
    TEMP_PREFIX,
    Published,
    Queue,
    StoreError,
    atomic_write,
    clean_temp_files,
    dump_yaml,
    load_yaml,
    read_published_tree,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SECRET = b"k" * 40


def submission(body="Hello there.", **extra) -> schema.Submission:
    fields = {"post": "a-post", "name": "Ada", "email": "ada@example.org"}
    return schema.Submission(**{**fields, "body": body, **extra})


def test_an_atomic_write_leaves_the_file_and_nothing_else(tmp_path):
    target = tmp_path / "x.yaml"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["x.yaml"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_an_atomic_write_finishes_short_writes_and_leaves_no_part_on_failure(
    tmp_path, monkeypatch
):
    target = tmp_path / "x.yaml"
    atomic_write(target, b"old")
    real = os.write
    # A write may take fewer bytes than it was given: the rest follows.
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:3])))
    atomic_write(target, b"0123456789")
    assert target.read_bytes() == b"0123456789"

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"0123456789"
    assert [p.name for p in tmp_path.iterdir()] == ["x.yaml"]


def test_temporary_files_from_a_crash_are_removed_at_start(tmp_path):
    queue = Queue(tmp_path / "q", SECRET).open()
    leftover = queue.pending_dir / f"{TEMP_PREFIX}x.yaml.1234"
    leftover.write_bytes(b"id: half")
    (queue.pending_dir / "kept.yaml").write_bytes(b"id: kept\n")
    assert queue.ids() == ["kept"]
    Queue(tmp_path / "q", SECRET).open()
    assert sorted(p.name for p in queue.pending_dir.iterdir()) == ["kept.yaml"]
    assert clean_temp_files(tmp_path / "missing") == 0


TRICKY = [
    "!!python/object/apply:os.system ['echo pwned']",
    "&anchor [*anchor, *anchor]",
    "key: value\n---\nother: document",
    "<<: *merge",
    "- a list item",
    "? complex key",
    "%YAML 1.1",
    "null",
    "~",
    "yes",
    "0x1F",
    "1e3",
    "2025-01-01",
    "'single' \"double\" `back`",
    "# not a comment",
    "| block\n  indented",
    "tab\tand  spaces   ",
    "emoji 👩🏽‍⚕️ and 中文 and العربية",
    "\u200b zero width \ufeff bom",
    "a\u0085b \u2028 \u2029",
    "trailing newline\n",
    " leading space",
    "x" * 5000,
]


@pytest.mark.parametrize("text", TRICKY)
def test_yaml_gives_back_exactly_the_text_it_was_given(text):
    record = {"id": "x", "name": text, "body": text}
    assert load_yaml(dump_yaml(record)) == record


@pytest.mark.parametrize("text", TRICKY)
def test_the_fast_safe_loader_reads_what_the_python_one_reads(text):
    """load_yaml uses libyaml's parser when PyYAML has it (a build reads
    every comment file); the data must be exactly yaml.safe_load's."""
    from lab_comments import store

    if yaml.__with_libyaml__:
        assert store.SafeLoader is yaml.CSafeLoader
    written = dump_yaml({"id": "x", "name": text, "body": text})
    assert load_yaml(written) == yaml.safe_load(written.decode("utf-8"))


@pytest.mark.parametrize("text", TRICKY)
def test_the_fast_safe_writer_writes_what_the_python_one_writes(text):
    """dump_yaml uses libyaml's emitter behind the safe representer when
    PyYAML has it (most of the endpoint's work on a comment); what it writes
    must read back as yaml.safe_dump's does."""
    from lab_comments import store

    if yaml.__with_libyaml__:
        assert store.SafeDumper is yaml.CSafeDumper
    record = {"id": "x", "name": text, "body": text, "n": 3, "ok": True}
    written = dump_yaml(record).decode("utf-8")
    python = yaml.safe_dump(record, allow_unicode=True, sort_keys=False)
    assert yaml.safe_load(written) == yaml.safe_load(python) == record


def test_yaml_is_read_with_the_safe_loader_only():
    with pytest.raises(StoreError, match="could not determine a constructor"):
        load_yaml("x: !!python/object/apply:os.system ['true']")
    with pytest.raises(StoreError, match="invalid YAML"):
        load_yaml("a: [unclosed")
    with pytest.raises(StoreError, match="not UTF-8"):
        load_yaml(b"\xff\xfe")


def test_a_submission_is_stored_once_with_the_email_and_keyed_hashes(tmp_path):
    queue = Queue(tmp_path / "q", SECRET).open()
    comment_id, new = queue.add(submission(), "198.51.100.4", NOW)
    assert new and schema.ID_RE.match(comment_id)
    record = queue.read(comment_id)
    assert record["email"] == "ada@example.org"
    assert record["date"] == NOW
    assert record["client"] == queue.client_hash("198.51.100.4")
    assert "198.51.100.4" not in queue.path(comment_id).read_text()
    assert record["sender"] == queue.sender_hash("ADA@example.org ")
    # The same comment again (spacing and the address's case aside): nothing new.
    again = submission(body="Hello   there.", email="ADA@example.org")
    assert queue.add(again, "192.0.2.1", NOW) == (comment_id, False)
    assert queue.ids() == [comment_id]
    # Once it has left the queue, it is a new submission.
    queue.remove(comment_id)
    assert queue.add(again, "192.0.2.1", NOW)[1] is True


def test_the_same_comment_sent_at_once_from_many_threads_is_stored_once(tmp_path):
    """The queue writes outside its lock (so that comments arriving together
    are fsynced side by side): a duplicate arriving while the first copy is
    still being written must get that copy's id, not a file of its own."""
    queue = Queue(tmp_path / "q", SECRET).open()
    barrier = threading.Barrier(16)
    answers = {}

    def send(number):
        barrier.wait(timeout=10)
        # Odd threads send one comment between them, even ones each their own.
        body = "The same words." if number % 2 else f"Words of thread {number}."
        answers[number] = queue.add(submission(body=body), "192.0.2.1", NOW)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 16
    shared = {answers[n] for n in range(1, 16, 2)}
    shared_ids = {comment_id for comment_id, _ in shared}
    assert len(shared_ids) == 1 and shared == {
        (*shared_ids, True),
        (*shared_ids, False),
    }
    assert [answers[n][1] for n in range(1, 16, 2)].count(True) == 1
    own = [answers[n] for n in range(0, 16, 2)]
    assert all(new for _, new in own) and len({i for i, _ in own}) == 8
    assert sorted(queue.ids()) == sorted(shared_ids | {i for i, _ in own})
    # Taking a comment writes its file only: a sender's history is written
    # by the moderation commands.
    assert queue.sender(queue.sender_hash("ada@example.org")) == {}
    assert list(queue.senders_dir.iterdir()) == []


def test_a_write_that_fails_leaves_no_file_and_no_false_duplicate(
    tmp_path, monkeypatch
):
    """A full disk while writing: the error reaches the caller, nothing is
    left in the queue, and the same comment sent again is stored (it is not
    taken for a duplicate of the write that failed)."""
    from lab_comments import store

    queue = Queue(tmp_path / "q", SECRET).open()
    real = store.atomic_write

    def full(path, data, mode=0o600):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "atomic_write", full)
    with pytest.raises(OSError, match="No space"):
        queue.add(submission(), "192.0.2.1", NOW)
    assert queue.ids() == []
    assert sorted(p.name for p in queue.pending_dir.iterdir()) == []
    monkeypatch.setattr(store, "atomic_write", real)
    comment_id, new = queue.add(submission(), "192.0.2.1", NOW)
    assert new and queue.ids() == [comment_id]


def test_keyed_hashes_depend_on_the_key_and_on_their_purpose(tmp_path):
    one = Queue(tmp_path / "1", b"a" * 40).open()
    two = Queue(tmp_path / "2", b"b" * 40).open()
    assert one.sender_hash("x@example.org") != two.sender_hash("x@example.org")
    assert one.sender_hash("x@example.org") != one.client_hash("x@example.org")


def test_without_a_configured_key_one_is_made_and_kept_privately(tmp_path):
    first = Queue(tmp_path / "q").open()
    secret = tmp_path / "q" / ".secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert Queue(tmp_path / "q").open().secret == first.secret
    assert (tmp_path / "q").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("bad", ["../secret", "a/b", ".secret", "A", "x.yaml", ""])
def test_an_id_cannot_reach_another_file(tmp_path, bad):
    queue = Queue(tmp_path / "q", SECRET).open()
    with pytest.raises(StoreError):
        queue.path(bad)
    with pytest.raises(StoreError):
        Published(tmp_path / "c").path("a-post", bad)
    with pytest.raises(StoreError):
        Published(tmp_path / "c").path(bad or "..", "a")


def test_purge_keeps_the_promises_of_the_privacy_notice(tmp_path):
    queue = Queue(tmp_path / "q", SECRET).open()
    queue.add(submission("Old one."), "x", NOW - dt.timedelta(days=31))
    fresh, _ = queue.add(submission("New one."), "x", NOW - dt.timedelta(days=29))
    stale = queue.sender_hash("gone@example.org")
    queue.note_sender(stale, NOW - dt.timedelta(days=366))
    assert queue.purge(NOW, pending_days=30, sender_days=365) == (1, 1)
    assert queue.ids() == [fresh]
    assert queue.sender(stale) == {}
    # Comments nobody has moderated leave no sender record.
    assert queue.sender(queue.sender_hash("ada@example.org")) == {}


def test_a_rejection_is_counted_against_the_sender_only(tmp_path):
    queue = Queue(tmp_path / "q", SECRET).open()
    sender = queue.sender_hash("ada@example.org")
    queue.note_sender(sender, NOW)
    entry = queue.note_sender(sender, NOW + dt.timedelta(days=1), rejected=True)
    assert entry == {"last_seen": "2026-03-01T12:00:00Z", "comments": 1, "rejected": 1}


def test_the_published_tree_reports_files_it_cannot_read(tmp_path):
    root = tmp_path / "comments"
    Published(root).write(
        {"id": "a", "post": "p", "name": "N", "date": "2025-01-01T00:00:00Z",
         "body": "Hi."}
    )  # fmt: skip
    (root / "p" / "b.yaml").write_text("a: [unclosed\n")
    (root / "p" / "notes.txt").write_text("x")
    (root / "stray.yaml").write_text("x: 1\n")
    (root / "p" / ".tmp-a.yaml.1").write_text("half")
    items, problems = read_published_tree(root)
    assert [path for path, _ in items] == ["comments/p/a.yaml"]
    assert sorted(problems) == [
        "comments/p/b.yaml: file: invalid YAML: expected ',' or ']', but got "
        "'<stream end>' (line 2)",
        "comments/p/notes.txt: file: is not a .yaml comment file",
        "comments/stray.yaml: file: comments live in a folder named after their "
        "post (comments/<post-slug>/<id>.yaml)",
    ]


# -- kill -9


WRITER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    sys.path.insert(0, sys.argv[2])
    from lab_comments import store
    from lab_comments.schema import Submission
    if sys.argv[4] == "naive":
        # The control: a writer that writes in place, slowly. The checks below
        # must catch what it leaves when killed, or they prove nothing.
        def naive_write(path, data, mode=0o600):
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                time.sleep(0.05)
                handle.write(data[len(data) // 2 :])
        store.atomic_write = naive_write
    queue = store.Queue(sys.argv[1], b"k" * 40).open()
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    n = int(sys.argv[3])
    while True:
        # Long bodies, many bytes each: more time inside each write.
        body = f"Comment {n} " + "é€😀" * 2600
        cid, new = queue.add(
            Submission(post="a-post", name="Ada", email="a@example.org", body=body),
            "127.0.0.1", now)
        print(cid, n, flush=True)
        n += 1
    """
)


def kill_writer_rounds(folder: Path, mode: str, rounds: int = 5) -> list[str]:
    """Start a writer, let it acknowledge a few comments, SIGKILL it at an
    unplanned moment, and check the queue; `rounds` times. Returns every
    problem found: a file that does not parse and validate completely, or an
    acknowledged comment that is missing."""
    acknowledged: dict[str, int] = {}
    start = 0
    problems: list[str] = []
    for round_number in range(rounds):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(ROOT / "plugins"),
             str(start), mode],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            for _ in range(3 + round_number * 2):
                line = writer.stdout.readline()
                assert line, "the writer stopped on its own"
                cid, number = line.split()
                acknowledged[cid] = int(number)
            # A different moment of the write cycle each round.
            time.sleep(0.005 + 0.015 * round_number)
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(timeout=10)
        for line in writer.stdout:  # acknowledged before the kill landed
            cid, number = line.split()
            acknowledged[cid] = int(number)
        writer.stdout.close()
        start = max(acknowledged.values()) + 1000

        pending = sorted((folder / "pending").glob("*.yaml"))
        queue = Queue(folder, SECRET)  # not opened: nothing cleaned up yet
        for path in pending:
            try:
                record = queue.read(path.stem)
                assert record["body"].startswith("Comment ")
            except (StoreError, AssertionError) as exc:
                problems.append(f"round {round_number}: {path.name}: {exc}"[:200])
                path.unlink()  # so the next round judges only its own files
        missing = set(acknowledged) - {p.stem for p in pending}
        problems += [f"round {round_number}: lost {cid}" for cid in sorted(missing)]
        Queue(folder, SECRET).open()
        leftovers = list(folder.rglob(f"{TEMP_PREFIX}*"))
        problems += [f"round {round_number}: left {p.name}" for p in leftovers]
    return problems


def test_a_kill_9_never_leaves_a_partial_file_in_the_queue(tmp_path):
    """A writer is killed with SIGKILL at five different moments; each time
    every file in the queue parses and validates completely, every comment it
    acknowledged is there, and the next start removes its temporary files."""
    assert kill_writer_rounds(tmp_path / "queue", "atomic") == []


def test_the_kill_9_check_catches_a_writer_that_writes_in_place(tmp_path):
    problems = kill_writer_rounds(tmp_path / "queue", "naive")
    # A half-written file: cut inside a character, a string or the mapping.
    assert any(".yaml: " in p for p in problems), problems
