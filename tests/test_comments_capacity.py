"""The endpoint's capacity: a cap on pending comments (count and bytes), a
full or read-only queue, /health in each state, and start-up errors of one
line. In-process (wsgiref's validator), through a real waitress server on
127.0.0.1, and through `python -m lab_comments.cli serve` and
`make comments-serve`."""

from __future__ import annotations

import errno
import http.client
import logging
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from commentkit import (
    GOOD,
    SECRET,
    SITE,
    Clock,
    call,
    make_app,
    page_text,
    pending_files,
)
from conftest import ROOT

from lab_comments.endpoint import PAUSED_RETRY_AFTER, config_from_env
from lab_comments.loadtest import form_body, free_port, running_server, write_manifest
from lab_comments.store import Queue

PAUSED_TITLE = "Comments are paused for the moment"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE}


def comment_number(n: int) -> dict[str, str]:
    return {**GOOD, "body": f"Comment number {n}."}


def assert_paused(answer) -> None:
    """The page a reader gets while comments are paused."""
    assert answer.status == 503
    assert int(answer.headers["retry-after"]) == PAUSED_RETRY_AFTER
    text = page_text(answer)
    assert PAUSED_TITLE in text and "Back button" in text
    assert "Traceback" not in text and ".yaml" not in text


def health(app) -> tuple[int, str]:
    answer = call(app, "GET", path="/health")
    return answer.status, answer.text


@pytest.fixture
def endpoint_log(caplog, monkeypatch):
    """caplog, with every record of the endpoint's logger: Pelican (which
    other tests in this process ran) hangs a filter on each logger that
    drops a message it has seen before, which would hide a message logged
    on every request rather than once."""
    monkeypatch.setattr(logging.getLogger("lab_comments.endpoint"), "filters", [])
    return caplog


# -- the cap


def test_a_full_queue_pauses_comments_until_a_moderator_rejects_one(tmp_path):
    """Through a real server: the cap's 503 with Retry-After and the page,
    /health 503; a moderator's reject from the CLI (another process) makes
    room, and the next comment is taken."""
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}})
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_RATE_LIMIT": "100",
        "LAB_COMMENTS_MAX_PENDING": "3",
    }
    with running_server(environ, tmp_path / "server.log") as server:

        def request(method, path, body=b""):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, 10)
            try:
                connection.request(method, path, body, FORM_HEADERS)
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            finally:
                connection.close()

        for n in range(3):
            status, _, _ = request("POST", "/comments", form_body(comment_number(n)))
            assert status == 303
        status, headers, body = request(
            "POST", "/comments", form_body(comment_number(3))
        )
        assert status == 503 and int(headers["Retry-After"]) == PAUSED_RETRY_AFTER
        assert PAUSED_TITLE.encode() in body and b"Back button" in body
        status, _, body = request("GET", "/health")
        assert status == 503 and b"full" in body
        pending = sorted((tmp_path / "queue" / "pending").glob("*.yaml"))
        assert len(pending) == 3
        rejected = subprocess.run(
            [sys.executable, "-m", "lab_comments.cli", "reject", pending[0].stem],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": str(ROOT / "plugins"),
                **environ,
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert rejected.returncode == 0, rejected.stderr
        # The endpoint sees a moderator's change within its settle time (a
        # second: PendingCount), and comments open again.
        deadline = time.monotonic() + 5
        while True:
            status, _, body = request("GET", "/health")
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (status, body) == (200, b"ok\n")
        status, _, _ = request("POST", "/comments", form_body(comment_number(4)))
        assert status == 303
        status, _, _ = request("POST", "/comments", form_body(comment_number(5)))
        assert status == 503
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_the_cap_counts_bytes_too(tmp_path):
    app = make_app(tmp_path, max_pending_bytes=1)
    assert call(app, body=comment_number(0)).status == 303
    assert_paused(call(app, body=comment_number(1)))
    assert len(pending_files(app)) == 1


def test_the_count_is_kept_in_memory_and_recounted_when_the_folder_changes(
    tmp_path, monkeypatch
):
    """O(1) a request: the endpoint's own comments are counted as they are
    written; the folder is counted again only when someone else changes it,
    and at most once a second (the settle time)."""
    clock = Clock()
    app = make_app(tmp_path, clock=clock)
    recounts = []
    recount = app.pending._recount
    monkeypatch.setattr(
        app.pending, "_recount", lambda *a: (recounts.append(1), recount(*a))
    )
    for n in range(20):
        assert call(app, body=comment_number(n)).status == 303
    assert len(recounts) == 1  # the first request's
    files = pending_files(app)
    assert app.pending.usage() == (20, sum(p.stat().st_size for p in files))
    # A moderator (any other process) removes two.
    time.sleep(0.05)  # past the file system's clock tick
    queue = Queue(app.queue.root, SECRET).open(clean=False)
    for path in files[:2]:
        assert queue.remove(path.stem)
    clock.advance(seconds=2)  # past the settle time
    assert app.pending.usage()[0] == 18
    assert len(recounts) == 2


def test_comments_arriving_together_do_not_count_the_folder_each_time(
    tmp_path, monkeypatch
):
    """Eight threads writing side by side move the folder's time with nearly
    every request; within the settle time the count is the endpoint's own,
    so 200 comments cost one scan of the folder, not one each."""
    clock = Clock()  # stands still: every request within one settle time
    app = make_app(tmp_path, clock=clock)
    recounts = []
    recount = app.pending._recount
    monkeypatch.setattr(
        app.pending, "_recount", lambda *a: (recounts.append(1), recount(*a))
    )

    def send(first: int) -> list[int]:
        return [
            call(app, body=comment_number(n), remote=f"192.0.2.{first}").status
            for n in range(first * 25, first * 25 + 25)
        ]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(send, range(8)) for s in batch]
    assert statuses == [303] * 200
    assert len(recounts) == 1
    assert app.pending.usage()[0] == 200 == len(pending_files(app))


def test_settings_of_the_cap(tmp_path):
    config = config_from_env({})
    assert (config.max_pending, config.max_pending_bytes) == (5000, 50 * 1024 * 1024)
    config = config_from_env(
        {"LAB_COMMENTS_MAX_PENDING": "10", "LAB_COMMENTS_MAX_PENDING_BYTES": "2000000"}
    )
    assert (config.max_pending, config.max_pending_bytes) == (10, 2_000_000)


# -- a queue that cannot be written


@pytest.mark.parametrize(
    "code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM]
)
def test_a_full_or_read_only_queue_pauses_and_leaves_nothing_half_written(
    tmp_path, monkeypatch, endpoint_log, code
):
    """Every write to the queue fails as a full disk (or a read-only one)
    fails: the reader gets the paused page, not a 500; no file, whole or
    partial, is left; the log says so once; /health is 503 until writing
    works again."""
    app = make_app(tmp_path)
    real_fsync = os.fsync

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    caplog = endpoint_log
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with caplog.at_level(logging.INFO, logger="lab_comments.endpoint"):
        for n in range(3):
            assert_paused(call(app, body=comment_number(n)))
        # A dropped form is answered as a stored one would be.
        assert_paused(call(app, body={**GOOD, "subject": "Buy now"}))
        status, text = health(app)
        assert status == 503 and "cannot be written" in text
        assert list(app.queue.pending_dir.iterdir()) == []
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and os.strerror(code) in errors[0].getMessage()
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert health(app) == (200, "ok\n")
        assert call(app, body=comment_number(9)).status == 303
    assert len(pending_files(app)) == 1
    assert any("written again" in r.getMessage() for r in caplog.records)


def test_a_queue_folder_gone_while_serving_pauses_comments(tmp_path):
    """Root ignores file modes, so a folder replaced by a file stands for a
    queue the endpoint may no longer write to (it works as root too)."""
    app = make_app(tmp_path)
    pending = app.queue.pending_dir
    pending.rename(tmp_path / "moved")
    pending.write_text("not a folder")
    assert_paused(call(app, body=GOOD))
    status, text = health(app)
    assert status == 503 and "cannot be written" in text


def test_an_unexpected_error_still_answers_500(tmp_path, monkeypatch):
    """Only the errors that mean "the queue cannot take it" pause comments."""
    app = make_app(tmp_path)

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(app.queue, "add", broken)
    assert call(app, body=GOOD).status == 500


# -- /health


def test_health_reports_each_state(tmp_path, monkeypatch):
    app = make_app(tmp_path, max_pending=2)
    manifest = tmp_path / "manifest.json"
    good = manifest.read_bytes()
    assert health(app) == (200, "ok\n")

    def rewrite(data: bytes) -> None:
        manifest.write_bytes(data)
        later = time.time_ns() + 10**9 * (rewrite.n + 1)
        rewrite.n += 1
        os.utime(manifest, ns=(later, later))

    rewrite.n = 0
    rewrite(b'{"version": 1, "posts": {"a-po')
    status, text = health(app)
    assert status == 503 and "malformed" in text
    rewrite(good)
    assert health(app) == (200, "ok\n")
    manifest.unlink()
    status, text = health(app)
    assert status == 503 and "missing" in text
    rewrite(good)
    for n in range(2):
        assert call(app, body=comment_number(n)).status == 303
    status, text = health(app)
    assert status == 503 and "full" in text
    assert str(tmp_path) not in text


# -- start-up errors: one line, no traceback, non-zero exit


def _file_for_folder(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "queue"
    path.write_text("a file where the queue folder should be")
    return {"LAB_COMMENTS_QUEUE": str(path)}


def _pending_is_a_file(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "queue").mkdir()
    (tmp_path / "queue" / "pending").write_text("not a folder")
    return {"LAB_COMMENTS_QUEUE": str(tmp_path / "queue")}


def _not_permitted(tmp_path: Path) -> dict[str, str]:
    # sysfs refuses new files and folders to root too (EPERM).
    return {"LAB_COMMENTS_QUEUE": "/sys/lab-comments-queue-test"}


def _read_only_mode(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "queue"
    Queue(folder, SECRET).open()
    for path in (folder, folder / "pending", folder / "senders"):
        path.chmod(0o500)
    return {"LAB_COMMENTS_QUEUE": str(folder)}


def _secret_is_a_folder(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "queue" / ".secret").mkdir(parents=True)
    return {"LAB_COMMENTS_QUEUE": str(tmp_path / "queue"), "LAB_COMMENTS_SECRET": ""}


def _secret_not_text(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "queue").mkdir()
    (tmp_path / "queue" / ".secret").write_bytes(b"\xff\xfe" * 40)
    return {"LAB_COMMENTS_QUEUE": str(tmp_path / "queue"), "LAB_COMMENTS_SECRET": ""}


STARTUP_CASES = {
    "a file where the queue folder should be": (_file_for_folder, "queue"),
    "a file where the pending folder should be": (_pending_is_a_file, "queue"),
    "a folder where nothing may be created": (_not_permitted, "queue"),
    "a read-only queue folder (file modes)": (_read_only_mode, "queue"),
    "a key file that is a folder": (_secret_is_a_folder, "key"),
    "a key file that is not text": (_secret_not_text, "key"),
    "a bad number": (
        lambda _: {"LAB_COMMENTS_MAX_PENDING": "lots"},
        "LAB_COMMENTS_MAX_PENDING",
    ),
    "a bad proxy": (
        lambda _: {"LAB_COMMENTS_TRUSTED_PROXY": "proxy.example"},
        "LAB_COMMENTS_TRUSTED_PROXY",
    ),
    "a short secret": (lambda _: {"LAB_COMMENTS_SECRET": "short"}, "SECRET"),
}


def startup_environ(tmp_path: Path, case: str) -> tuple[dict[str, str], str]:
    setup, named = STARTUP_CASES[case]
    if case == "a read-only queue folder (file modes)" and os.geteuid() == 0:
        pytest.skip("root ignores file modes (the other cases stand for it)")
    if case == "a folder where nothing may be created":
        try:
            os.mkdir("/sys/lab-comments-queue-test")
        except OSError:
            pass
        else:
            os.rmdir("/sys/lab-comments-queue-test")
            pytest.skip("/sys takes new folders here")
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}})
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
    }
    environ.update(setup(tmp_path))
    return environ, named


def assert_one_line(result: subprocess.CompletedProcess, named: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    ours = [line for line in lines if not line.startswith("make")]
    assert len(ours) == 1, result.stderr
    assert ours[0].startswith("error: ") and named in ours[0], ours[0]


@pytest.mark.parametrize("case", list(STARTUP_CASES))
def test_a_start_up_error_is_one_line(tmp_path, case):
    environ, named = startup_environ(tmp_path, case)
    result = subprocess.run(
        [sys.executable, "-m", "lab_comments.cli", "serve", "--port", str(free_port())],
        env={**environ, "PYTHONPATH": str(ROOT / "plugins")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_one_line(result, named)


def test_a_port_in_use_is_one_line_and_says_nothing_of_serving(tmp_path):
    environ, _ = startup_environ(tmp_path, "a bad number")
    del environ["LAB_COMMENTS_MAX_PENDING"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lab_comments.cli", "serve", "--port", str(port)],
            env={**environ, "PYTHONPATH": str(ROOT / "plugins")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert_one_line(result, f"cannot listen on 127.0.0.1:{port}")
    assert "Comments endpoint at" not in result.stdout


@pytest.mark.parametrize(
    "case", ["a file where the queue folder should be", "a bad number"]
)
def test_make_comments_serve_says_a_start_up_error_in_one_line(tmp_path, case):
    environ, named = startup_environ(tmp_path, case)
    result = subprocess.run(
        [
            *("make", "-s", "-C", str(ROOT), "comments-serve"),
            f"PORT={free_port()}",
            f"BIN={Path(sys.executable).parent}",
            *("-o", ".venv/.installed-from-requirements"),
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_one_line(result, named)
