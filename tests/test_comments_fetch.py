"""The endpoint fetches the manifest and the answer shell from the live site
(lab_comments/fetch.py), against a real HTTP server on 127.0.0.1 that
answers well (200 with an ETag, then 304) or badly (500, garbage, a truncated,
huge or slow body, no answer): the local file changes only when a good new
one comes, and the endpoint served the real way takes it."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest
from commentkit import GOOD, SITE
from deploykit import (
    endless,
    endpoint_process,
    get,
    live_site,
    redirect,
    serve_file,
    silent,
    status,
    trickle,
    truncated,
    wait_for,
)

from lab_comments import answer
from lab_comments.endpoint import ConfigError, config_from_env
from lab_comments.fetch import (
    Fetcher,
    Source,
    fetcher_from_config,
    manifest_problem,
    shell_problem,
)
from lab_comments.loadtest import form_body, manifest_data

MANIFEST = manifest_data(SITE, {"a-post": {}})
NEWER = manifest_data(SITE, {"a-post": {}, "b-post": {}})
SHELL = (
    f"<!doctype html><title>{answer.SHELL_TITLE}</title>"
    f"<main>{answer.SHELL_CONTENT}</main>"
).encode()


def fetcher(path: Path, url: str, max_bytes: int = 1024 * 1024) -> Fetcher:
    """A fetcher of one manifest, with short limits (1 s a read, 2 s whole)."""
    source = Source(url, path, manifest_problem, max_bytes)
    return Fetcher([source], every=1, timeout=1, deadline=2)


def stamp(path: Path) -> tuple[int, int, bytes]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_ino, path.read_bytes()


def test_a_good_manifest_is_taken_then_an_unchanged_one_costs_a_304(tmp_path):
    path = tmp_path / "site" / "comments-manifest.json"
    path.parent.mkdir()
    with live_site() as site:
        site.paths["/m.json"] = serve_file(MANIFEST, etag='"v1"')
        fetch = fetcher(path, site.url("/m.json"))
        assert fetch.fetch_all() == ["updated"]
        assert path.read_bytes() == MANIFEST
        before = stamp(path)
        assert fetch.fetch_all() == ["unchanged"]
        assert site.requests[0][1].get("If-None-Match") is None
        assert site.requests[1][1].get("If-None-Match") == '"v1"'
        assert stamp(path) == before
        # A new build: a new ETag, a new file.
        site.paths["/m.json"] = serve_file(NEWER, etag='"v2"')
        assert fetch.fetch_all() == ["updated"]
        assert path.read_bytes() == NEWER
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_last_modified_is_sent_back_and_a_lost_file_is_fetched_whole(tmp_path):
    path = tmp_path / "comments-manifest.json"
    date = "Sun, 06 Dec 2026 09:00:00 GMT"
    with live_site() as site:
        site.paths["/m.json"] = serve_file(MANIFEST, last_modified=date)
        fetch = fetcher(path, site.url("/m.json"))
        assert fetch.fetch_all() == ["updated"]
        assert fetch.fetch_all() == ["unchanged"]
        assert site.requests[1][1].get("If-Modified-Since") == date
        path.unlink()
        # No validators for a file that is not here: the site answers 200.
        assert fetch.fetch_all() == ["updated"]
        assert "If-Modified-Since" not in site.requests[2][1]
        assert path.read_bytes() == MANIFEST


BAD_ANSWERS = {
    "server error": (status(500), "HTTP 500"),
    "not found": (status(404), "HTTP 404"),
    "garbage": (serve_file(b"<html>not json</html>"), "malformed"),
    "another version": (
        serve_file(MANIFEST.replace(b'"version": 1', b'"version": 2')),
        "unknown version",
    ),
    "no site url": (
        serve_file(MANIFEST.replace(SITE.encode(), b"nowhere")),
        "no site URL",
    ),
    "bad staff": (
        serve_file(MANIFEST.replace(b'"staff": []', b'"staff": [1]')),
        "staff names",
    ),
    "half a file, whole HTTP": (serve_file(NEWER[: len(NEWER) // 2]), "malformed"),
    "truncated": (truncated(NEWER), "truncated"),
    "huge, declared": (endless(declare=2 * 1024 * 1024), "over 1048576 bytes"),
    "huge, undeclared": (endless(), "over 1048576 bytes"),
    "slow": (trickle(NEWER, every=0.2), "not received within 2 seconds"),
    "no answer": (silent(5), "no usable answer (TimeoutError)"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_a_bad_answer_leaves_the_good_manifest_in_place(tmp_path, case, caplog):
    behaviour, reason = BAD_ANSWERS[case]
    path = tmp_path / "comments-manifest.json"
    with live_site() as site:
        site.paths["/m.json"] = serve_file(MANIFEST, etag='"v1"')
        fetch = fetcher(path, site.url("/m.json"))
        assert fetch.fetch_all() == ["updated"]
        before = stamp(path)
        site.paths["/m.json"] = behaviour
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="lab_comments.fetch"):
            outcome = fetch.fetch_all()[0]
            again = fetch.fetch_all()[0]
        took = time.monotonic() - started
        assert reason in outcome
        assert again == outcome
        assert stamp(path) == before
        assert [p.name for p in tmp_path.iterdir()] == [path.name]
        # Bounded: two fetches within their limits (1 s a read, 2 s whole).
        assert took < 8
        # One line, not one per fetch.
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and reason in lines[0], lines
        # It works again: said once, and the new file is taken.
        site.paths["/m.json"] = serve_file(NEWER, etag='"v2"')
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="lab_comments.fetch"):
            assert fetch.fetch_all() == ["updated"]
        assert path.read_bytes() == NEWER
        assert any("fetched again" in r.getMessage() for r in caplog.records)


def test_redirects_are_followed_within_http_only(tmp_path):
    path = tmp_path / "comments-manifest.json"
    with live_site() as site:
        site.paths["/old.json"] = redirect(site.url("/m.json"))
        site.paths["/m.json"] = serve_file(MANIFEST)
        fetch = fetcher(path, site.url("/old.json"))
        assert fetch.fetch_all() == ["updated"]
        site.paths["/old.json"] = redirect("ftp://127.0.0.1/m.json")
        assert fetch.fetch_all() == ["HTTP 302"]
        site.paths["/old.json"] = redirect("file:///etc/passwd")
        assert fetch.fetch_all() == ["HTTP 302"]
    assert path.read_bytes() == MANIFEST


def test_a_bad_first_answer_writes_nothing(tmp_path):
    path = tmp_path / "comments-manifest.json"
    with live_site() as site:
        site.paths["/m.json"] = serve_file(b'{"version": 1}')
        assert "malformed" in fetcher(path, site.url("/m.json")).fetch_all()[0]
    assert list(tmp_path.iterdir()) == []


def test_nobody_listening_is_a_refusal_not_a_crash(tmp_path):
    from lab_comments.loadtest import free_port

    path = tmp_path / "comments-manifest.json"
    url = f"http://127.0.0.1:{free_port()}/m.json"
    assert "ConnectionRefusedError" in fetcher(path, url).fetch_all()[0]
    assert not path.exists()


def test_the_shell_is_fetched_beside_the_manifest_and_checked(tmp_path):
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "site" / "comments-manifest.json"),
    }
    with live_site() as site:
        site.paths["/comments-manifest.json"] = serve_file(MANIFEST, etag='"m"')
        site.paths["/comments-answer.shell"] = serve_file(SHELL, etag='"s"')
        environ["LAB_COMMENTS_MANIFEST_URL"] = site.url("/comments-manifest.json")
        fetch = fetcher_from_config(config_from_env(environ))
        assert fetch is not None and fetch.every == 300
        assert [s.url for s in fetch.sources] == [
            site.url("/comments-manifest.json"),
            site.url("/comments-answer.shell"),
        ]
        fetch.timeout, fetch.deadline = 1, 2
        assert fetch.fetch_all() == ["updated", "updated"]
        shell = tmp_path / "site" / "comments-answer.shell"
        assert shell.read_bytes() == SHELL
        # A shell without its markers is not taken.
        site.paths["/comments-answer.shell"] = serve_file(b"<main></main>")
        outcomes = fetch.fetch_all()
        assert outcomes[0] == "unchanged"
        assert "exactly once" in outcomes[1]
        assert shell.read_bytes() == SHELL


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        (
            {"LAB_COMMENTS_ANSWER_SHELL_URL": "none"},
            ["https://lab.example/comments-manifest.json"],
        ),
        (
            {"LAB_COMMENTS_ANSWER_SHELL_URL": "https://lab.example/x/answer.shell"},
            [
                "https://lab.example/comments-manifest.json",
                "https://lab.example/x/answer.shell",
            ],
        ),
    ],
)
def test_what_is_fetched_follows_the_settings(tmp_path, environ, expected):
    base = {"LAB_COMMENTS_QUEUE": str(tmp_path / "q")}
    if expected is not None:
        base["LAB_COMMENTS_MANIFEST_URL"] = "https://lab.example/comments-manifest.json"
    base["LAB_COMMENTS_MANIFEST_EVERY"] = "60"
    fetch = fetcher_from_config(config_from_env({**base, **environ}))
    if expected is None:
        assert fetch is None
    else:
        assert [s.url for s in fetch.sources] == expected
        assert fetch.every == 60


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LAB_COMMENTS_MANIFEST_URL", "ftp://lab.example/m.json", "http(s) URL"),
        ("LAB_COMMENTS_MANIFEST_URL", "none", "http(s) URL"),
        ("LAB_COMMENTS_ANSWER_SHELL_URL", "lab.example/x", "http(s) URL"),
        ("LAB_COMMENTS_MANIFEST_EVERY", "0", "must be 1 or more"),
        ("LAB_COMMENTS_MANIFEST_EVERY", "soon", "not a whole number"),
    ],
)
def test_a_wrong_fetch_setting_is_named(name, value, message):
    with pytest.raises(ConfigError, match=name) as caught:
        config_from_env({name: value})
    assert message in str(caught.value)


def test_the_checks_are_the_endpoints_readers():
    assert manifest_problem(MANIFEST) == ""
    assert manifest_problem(b"\xff") != ""
    assert shell_problem(SHELL) == ""
    assert shell_problem(b"\xff") == "it is not UTF-8"


def test_the_endpoint_served_takes_each_new_manifest_from_the_site(tmp_path):
    """`python -m lab_comments serve` with LAB_COMMENTS_MANIFEST_URL and no
    local manifest: it fetches one, takes comments on its posts, takes a new
    post once the site has it, and keeps it through a broken fetch."""
    local = tmp_path / "cache" / "comments-manifest.json"
    with live_site() as site:
        site.paths["/comments-manifest.json"] = serve_file(MANIFEST, etag='"1"')
        site.paths["/comments-answer.shell"] = serve_file(SHELL, etag='"s"')
        environ = {
            "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
            "LAB_COMMENTS_MANIFEST": str(local),
            "LAB_COMMENTS_MANIFEST_URL": site.url("/comments-manifest.json"),
            "LAB_COMMENTS_MANIFEST_EVERY": "1",
            "LAB_COMMENTS_SECRET": "fetch-test-" + "s" * 40,
            "LAB_COMMENTS_RATE_LIMIT": "100",
        }
        with endpoint_process(
            sys.executable, environ, tmp_path / "server.log"
        ) as server:
            assert get(server, "/health") == (200, b"ok\n")
            assert local.read_bytes() == MANIFEST
            assert (local.parent / "comments-answer.shell").read_bytes() == SHELL
            b_post = form_body({**GOOD, "post": "b-post"})
            assert post_status(server, b_post) == 400
            site.paths["/comments-manifest.json"] = serve_file(NEWER, etag='"2"')
            assert wait_for(lambda: post_status(server, b_post) == 303, 15)
            site.paths["/comments-manifest.json"] = serve_file(b"garbage")
            count = len(site.requests)
            assert wait_for(lambda: len(site.requests) >= count + 4, 15)
            assert local.read_bytes() == NEWER
            later = form_body({**GOOD, "post": "b-post", "body": "Another one."})
            assert post_status(server, later) == 303
            assert get(server, "/health") == (200, b"ok\n")
        log = (tmp_path / "server.log").read_text()
        assert log.count("not taken (the manifest is malformed") == 1
        conditional = [h for p, h in site.requests if "If-None-Match" in h]
        assert conditional, "the endpoint never sent its ETag back"
    assert len(list((tmp_path / "queue" / "pending").glob("*.yaml"))) == 2


def post_status(server, body: bytes) -> int:
    from deploykit import post_form

    return post_form(server, body, SITE)[0]
