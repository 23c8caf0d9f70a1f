"""The comments endpoint, in-process (a WSGI call through wsgiref's validator)
and as a real waitress server on 127.0.0.1: every refusal with its status and
message, the silent drops, and what a `kill -9` of the server leaves."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from commentkit import (
    EXISTING,
    GOOD,
    SITE,
    Clock,
    UnreadableInput,
    call,
    make_app,
    page_text,
    parse_html_bytes,
    pending_files,
)
from conftest import ROOT

from lab_comments.endpoint import (
    ConfigError,
    Manifest,
    ManifestError,
    config_from_env,
    origin_of,
)
from lab_comments.loadtest import form_body, running_server, write_manifest
from lab_comments.store import TEMP_PREFIX, Queue, load_yaml

POST_URL = f"{SITE}/updates/a-post/"


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def test_a_comment_is_queued_and_the_reader_sent_back_to_the_post(app):
    answer = call(app, body={**GOOD, "website": "https://ada.example"})
    assert answer.status == 303
    assert answer.location == POST_URL + "#comment-pending"
    assert answer.headers["access-control-allow-origin"] == SITE
    (path,) = pending_files(app)
    record = load_yaml(path.read_bytes())
    assert record["email"] == "ada@example.org"
    assert record["website"] == "https://ada.example"
    assert record["client"] == app.queue.client_hash("203.0.113.7")
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_reply_to_an_approved_comment_is_queued(app):
    assert call(app, body={**GOOD, "reply_to": EXISTING}).status == 303
    (path,) = pending_files(app)
    assert load_yaml(path.read_bytes())["reply_to"] == EXISTING


# Each refusal: (form changes or request options, status, the words the page
# says in the form's own terms, the field its error summary links to or None).
FIELD_REFUSALS = [
    ({"colour": "red"}, 400, "The form was changed before it was sent", None),
    ({"name": ["Ada", "Eve"]}, 400, "Your name was sent more than once", "name"),
    ({"name": ""}, 400, "Enter your name", "name"),
    ({"email": None}, 400, "Enter your email address", "email"),
    ({"email": "ada@example"}, 400,
     "Enter an email address like name@example.org", "email"),
    ({"body": None}, 400, "Enter your comment", "body"),
    ({"name": "n" * 81}, 400, "Your name must be 80 characters or fewer", "name"),
    ({"email": "a" * 250 + "@x.org"}, 400,
     "Your email address must be 254 characters or fewer", "email"),
    ({"website": "https://x.org/" + "p" * 490}, 400,
     "Your website address must be 500 characters or fewer", "website"),
    ({"body": "b" * 8001}, 400, "Your comment must be 8,000 characters or fewer",
     "body"),
    ({"body": "b"}, 400, "Your comment must be at least 2 characters", "body"),
    ({"website": "javascript:alert(1)"}, 400,
     "Your website address must start with https://", "website"),
    ({"post": "no-such-post"}, 400, "The update you are commenting on is not on",
     None),
    ({"post": "../../etc/passwd"}, 400, "The update you are commenting on is not on",
     None),
    ({"reply_to": "20990101-000000-ffffff"}, 400,
     "The comment you chose to reply to is not on this update", "reply_to"),
    ({"reply_to": "../pending/x"}, 400,
     "The comment you chose to reply to is not on this update", "reply_to"),
    ({"post": "closed-post"}, 403, "Comments on this update are closed", None),
    ({"loaded": "soon"}, 400, "The form was changed before it was sent", None),
]  # fmt: skip


@pytest.mark.parametrize(("change", "status", "words", "field"), FIELD_REFUSALS)
def test_each_bad_field_is_refused_with_its_status_in_the_readers_words(
    app, change, status, words, field
):
    """Issue 14: the page names each field as the form labels it, never by
    its internal name (it once said "Email address (`email`): ...")."""
    form = {**GOOD, **{k: v for k, v in change.items() if v is not None}}
    for key in [k for k, v in change.items() if v is None]:
        form.pop(key)
    answer = call(app, body=form)
    assert answer.status == status
    text = page_text(answer)
    assert words in text, text
    for name in (*change, "reply_to", "loaded", "sent", "subject"):
        assert f"({name})" not in text and f"`{name}`" not in text
    assert "colour" not in text and "<code>" not in answer.text
    summary = next(
        n for n in parse_html_bytes(answer.body).iter() if n.get("role") == "alert"
    )
    links = [a.get("href") for a in summary.iter("a")]
    assert links == ([f"#comment-{field.replace('_', '-')}"] if field else [])
    assert pending_files(app) == []
    assert answer.headers["content-type"] == "text/html; charset=utf-8"


def test_an_error_page_links_to_the_field_and_back_to_the_post(app):
    answer = call(app, body={**GOOD, "name": "n" * 81})
    tree = parse_html_bytes(answer.body)
    hrefs = [a.get("href") for a in tree.iter("a")]
    assert "#comment-name" in hrefs
    assert f"{POST_URL}#comments" in hrefs
    ids = {n.get("id") for n in tree.iter()}
    assert "comment-name" in ids


def test_comments_close_on_the_date_the_build_set(tmp_path):
    clock = Clock()
    closes = clock.now.replace(microsecond=0).isoformat()
    app = make_app(tmp_path, {"a-post": {"closes": closes}}, clock=clock)
    clock.advance(seconds=-1)
    assert call(app, body=GOOD).status == 303
    clock.advance(seconds=1)
    answer = call(app, body={**GOOD, "body": "Later."})
    assert answer.status == 403 and "closed" in page_text(answer)


def test_a_body_over_64_kib_is_refused_without_being_read(app):
    answer = call(app, content_length=str(64 * 1024 + 1), stream=UnreadableInput())
    assert answer.status == 413
    assert "under 64 KiB" in page_text(answer)


def test_a_request_without_a_length_or_with_a_bad_one_is_refused(app):
    assert call(app, content_length="", stream=UnreadableInput()).status == 411
    for value in ("-5", "12abc"):
        bad = call(app, content_length=value, stream=UnreadableInput(), validate=False)
        assert bad.status == 400 and "Content-Length" in page_text(bad)
    short = call(app, body=b"name=a", content_length="100")
    assert short.status == 400 and "incomplete" in page_text(short)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "application/json", "text/plain", "",
     "application/x-www-form-urlencoded; charset=latin-1"],
)  # fmt: skip
def test_another_content_type_is_refused(app, content_type):
    answer = call(app, body=GOOD, headers={"Content-Type": content_type})
    assert answer.status == 415
    assert "application/x-www-form-urlencoded" in page_text(answer)


def test_the_form_type_with_utf8_named_is_accepted(app):
    answer = call(
        app,
        body=GOOD,
        headers={"Content-Type": "Application/X-WWW-Form-URLencoded; charset=UTF-8"},
    )
    assert answer.status == 303


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD"])
def test_another_method_is_refused_with_allow(app, method):
    answer = call(app, method=method)
    assert answer.status == 405
    assert answer.headers["allow"] == "OPTIONS, POST"


def test_an_unknown_address_is_not_found(app):
    assert call(app, path="/comments/../etc").status == 404
    assert call(app, method="GET", path="/health").status == 200


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1:8001", "https://127.0.0.1:8000",
     "null", "http://127.0.0.1:8000.evil.example"],
)  # fmt: skip
def test_a_foreign_origin_is_refused_and_gets_no_cors(app, origin):
    answer = call(app, body=GOOD, headers={"Origin": origin})
    assert answer.status == 403
    assert "only be sent from this site" in page_text(answer)
    assert "access-control-allow-origin" not in answer.headers
    preflight = call(app, method="OPTIONS", headers={"Origin": origin})
    assert preflight.status == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert pending_files(app) == []


def test_cors_allows_the_site_alone(app):
    preflight = call(app, method="OPTIONS")
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    assert preflight.headers["access-control-allow-methods"] == "POST"
    # A form sent without an Origin (an old browser, curl) is judged on its fields.
    assert call(app, body=GOOD, headers={"Origin": None}).status == 303


def test_allowed_origins_can_be_set(tmp_path):
    app = make_app(tmp_path, allowed_origins=("https://lab.example.org",))
    headers = {"Origin": "https://lab.example.org"}
    assert call(app, body=GOOD, headers=headers).status == 303
    assert call(app, body={**GOOD, "body": "Again."}).status == 403


def test_too_many_submissions_from_one_client_wait_with_retry_after(tmp_path):
    clock = Clock()
    app = make_app(tmp_path, clock=clock, rate_limit=5, rate_window=600)
    for n in range(5):
        assert call(app, body={**GOOD, "body": f"Comment {n}."}).status == 303
    answer = call(app, body={**GOOD, "body": "One more."})
    assert answer.status == 429
    assert answer.headers["retry-after"] == "600"
    assert "Please wait 10 minutes" in page_text(answer)
    # Another client is not held up, and mistakes do not count.
    other = {"remote": "198.51.100.9"}
    assert call(app, body={**GOOD, "name": ""}, **other).status == 400
    assert call(app, body={**GOOD, "body": "Other client."}, **other).status == 303
    clock.advance(seconds=601)
    assert call(app, body={**GOOD, "body": "Later."}).status == 303
    assert len(pending_files(app)) == 7


def test_the_default_limit_is_five_in_ten_minutes():
    config = config_from_env({})
    assert (config.rate_limit, config.rate_window) == (5, 600)
    assert config.min_seconds == 3 and config.pending_days == 30


def test_a_filled_honeypot_looks_like_success_and_stores_nothing(app):
    answer = call(app, body={**GOOD, "subject": "Buy now"})
    assert answer.status == 303 and answer.location == POST_URL
    # Even with other fields wrong: a bot learns nothing.
    answer = call(app, body={**GOOD, "subject": "x", "colour": "red"})
    assert answer.status == 303
    assert pending_files(app) == []


def test_a_form_sent_within_three_seconds_of_loading_is_dropped(app):
    fast = call(app, body={**GOOD, "loaded": "1000000", "sent": "1002999"})
    assert fast.status == 303 and pending_files(app) == []
    backwards = call(app, body={**GOOD, "loaded": "1000000", "sent": "999000"})
    assert backwards.status == 303 and pending_files(app) == []
    slow = call(app, body={**GOOD, "loaded": "1000000", "sent": "1003000"})
    assert slow.status == 303 and len(pending_files(app)) == 1
    # Without JavaScript the stamps are empty: the form still goes through.
    plain = call(app, body={**GOOD, "body": "No script.", "loaded": "", "sent": ""})
    assert plain.status == 303 and len(pending_files(app)) == 2


def test_a_duplicate_of_a_pending_comment_stores_nothing_new(app):
    assert call(app, body=GOOD).status == 303
    again = call(app, body={**GOOD, "email": "ADA@example.org", "body": GOOD["body"]})
    assert again.status == 303 and again.location == POST_URL + "#comment-pending"
    assert len(pending_files(app)) == 1


@pytest.mark.parametrize(
    "raw",
    [b"name=%FF%FE", b"\xff\xfe=1", b"a=" + b"&a=" * 50, b"name=%C3%28"],
)
def test_malformed_form_encoding_is_refused(app, raw):
    answer = call(app, body=raw)
    assert answer.status == 400
    assert "Traceback" not in answer.text


def test_no_answer_carries_a_trace_or_a_file_path(tmp_path, monkeypatch):
    app = make_app(tmp_path)

    def broken(*args, **kwargs):
        raise OSError(f"disk full at {tmp_path}/queue/pending/x.yaml")

    monkeypatch.setattr(app.queue, "add", broken)
    answer = call(app, body=GOOD)
    assert answer.status == 500
    assert "Traceback" not in answer.text and str(tmp_path) not in answer.text
    assert ".yaml" not in answer.text and ".py" not in answer.text
    # A missing manifest: comments are unavailable, and the page says no more.
    (tmp_path / "manifest.json").unlink()
    answer = call(app, body=GOOD)
    assert answer.status == 503 and answer.headers["retry-after"] == "300"
    assert str(tmp_path) not in answer.text and "manifest" not in answer.text


def test_the_manifest_is_reread_after_a_rebuild(tmp_path, app):
    assert call(app, body={**GOOD, "post": "new-post"}).status == 400
    path = tmp_path / "manifest.json"
    write_manifest(path, SITE, {"a-post": {}, "new-post": {}})
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert call(app, body={**GOOD, "post": "new-post"}).status == 303
    # A manifest caught half-written keeps the last good one in use.
    path.write_text('{"version": 1, "posts": {"a-po')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    answer = call(app, body={**GOOD, "post": "new-post", "body": "Still open."})
    assert answer.status == 303


def test_a_malformed_manifest_is_refused(tmp_path):
    path = tmp_path / "m.json"
    for text in ("{", '{"version": 2}', '{"version": 1, "siteurl": "x", "posts": {}}',
                 json.dumps({"version": 1, "siteurl": SITE,
                             "posts": {"../x": {"url": SITE, "open": True,
                                                "comments": []}}})):  # fmt: skip
        path.write_text(text)
        with pytest.raises(ManifestError):
            Manifest(path).load()


def test_settings_come_from_named_environment_variables():
    config = config_from_env(
        {
            "LAB_COMMENTS_QUEUE": "/srv/queue",
            "LAB_COMMENTS_RATE_LIMIT": "50",
            "LAB_COMMENTS_ALLOWED_ORIGINS": "https://lab.example.org/, http://x:80",
        }
    )
    assert str(config.queue) == "/srv/queue" and config.rate_limit == 50
    assert config.allowed_origins == ("https://lab.example.org", "http://x")
    for name, value in (
        ("LAB_COMMENTS_RATE_LIMIT", "lots"),
        ("LAB_COMMENTS_RATE_WINDOW", "0"),
        ("LAB_COMMENTS_SECRET", "short"),
        ("LAB_COMMENTS_ALLOWED_ORIGINS", "ftp://x"),
    ):
        with pytest.raises(ConfigError, match=name):
            config_from_env({name: value})
    assert origin_of("https://[::1]:8443/x") == "https://[::1]:8443"


def test_the_endpoint_and_the_cli_never_import_pelican():
    code = (
        "import sys\n"
        "import lab_comments.endpoint, lab_comments.cli, lab_comments.loadtest\n"
        "from lab_comments.cli import main\n"
        "main(['--help']) if False else None\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'pelican'"
        " or m in ('lab_comments.plugin', 'lab_content'))\n"
        "print(bad)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "plugins"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# -- a real server on 127.0.0.1


@pytest.fixture
def served(tmp_path):
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}})
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "served-" + "s" * 40,
        "LAB_COMMENTS_RATE_LIMIT": "3",
    }
    with running_server(environ, tmp_path / "server.log") as server:
        yield server, tmp_path


def request(server, method, path, body=b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE}


def test_a_real_server_takes_comments_and_refuses_the_rest(served):
    server, folder = served
    status, headers, _ = request(server, "POST", "/comments", form_body(GOOD),
                                 FORM_HEADERS)  # fmt: skip
    assert status == 303 and headers["Location"] == POST_URL + "#comment-pending"
    status, headers, _ = request(server, "GET", "/comments")
    assert status == 405 and headers["Allow"] == "OPTIONS, POST"
    status, _, body = request(server, "POST", "/comments", b"x" * (64 * 1024 + 10),
                              FORM_HEADERS)  # fmt: skip
    assert status == 413 and b"64 KiB" in body
    status, _, _ = request(server, "POST", "/comments", form_body(GOOD),
                           {**FORM_HEADERS, "Content-Type": "text/plain"})  # fmt: skip
    assert status == 415
    foreign = {**FORM_HEADERS, "Origin": "https://evil.example"}
    status, _, _ = request(server, "POST", "/comments", form_body(GOOD), foreign)
    assert status == 403
    for n in range(2):
        body = form_body({**GOOD, "body": f"Number {n}."})
        assert request(server, "POST", "/comments", body, FORM_HEADERS)[0] == 303
    status, headers, _ = request(server, "POST", "/comments",
                                 form_body({**GOOD, "body": "Too many."}),
                                 FORM_HEADERS)  # fmt: skip
    assert status == 429 and int(headers["Retry-After"]) > 500
    assert len(list((folder / "queue" / "pending").glob("*.yaml"))) == 3
    for _, _, raw in [request(server, "POST", "/comments", b"%", FORM_HEADERS)]:
        assert b"Traceback" not in raw


def test_a_kill_9_of_the_server_loses_no_acknowledged_comment(tmp_path):
    """Eight clients send comments; the server is killed with SIGKILL while
    they do. Every comment answered with 303 is in the queue, every file in
    the queue is complete, and the next start cleans temporary files."""
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}})
    queue_dir = tmp_path / "queue"
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue_dir),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "killed-" + "s" * 40,
        "LAB_COMMENTS_RATE_LIMIT": "100000",
        "LAB_COMMENTS_POST_HOURLY": "100000",
    }
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    with running_server(environ, tmp_path / "server.log") as server:

        def client(number: int) -> None:
            for n in range(400):  # bounded
                if stop.is_set():
                    return
                text = f"Client {number} comment {n}."
                try:
                    status, _, _ = request(server, "POST", "/comments",
                                           form_body({**GOOD, "body": text}),
                                           FORM_HEADERS)  # fmt: skip
                except (OSError, http.client.HTTPException):
                    # The server is gone, perhaps in the middle of an answer:
                    # that comment was never acknowledged, so it may be lost.
                    return
                if status == 303:
                    with lock:
                        acknowledged.add(text)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert len(acknowledged) >= 60
    queue = Queue(queue_dir, b"killed-" + b"s" * 40)
    stored = set()
    for path in sorted((queue_dir / "pending").glob("*.yaml")):
        stored.add(queue.read(path.stem)["body"])  # complete and valid, or raises
    assert acknowledged <= stored
    Queue(queue_dir, b"killed-" + b"s" * 40).open()
    assert list(queue_dir.rglob(f"{TEMP_PREFIX}*")) == []
