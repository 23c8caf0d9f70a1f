"""The README's first command, as a newcomer runs it: `make serve` builds the
sample site and answers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import html5lib
from conftest import SAMPLE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, deadline: float) -> tuple[int, bytes]:
    """GET `url`, retrying while the server starts, until `deadline`."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_make_serve_builds_and_serves_the_sample_site(make_repo):
    repo, make = make_repo(SAMPLE)
    port = free_port()
    server = make(
        "serve",
        f"PORT={port}",
        background=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Bounded: at most 60 s of polling, one request every 0.2 s.
        status, body = get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
        assert status == 200
        tree = html5lib.parse(body, treebuilder="etree", namespaceHTMLElements=False)
        main = next(tree.iter("main"))
        links = [a.get("href") for a in main.iter("a")]
        assert any("challenges/peer-support/" in href for href in links)
        assert sum("updates/20" in href for href in links) >= 3
        status, _ = get(
            f"http://127.0.0.1:{port}/challenges/peer-support/", time.monotonic() + 5
        )
        assert status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    assert (repo / "output" / "index.html").is_file()


def test_the_comment_form_posts_where_make_runs_the_endpoint(make_repo):
    """COMMENTS_PORT moves the endpoint devserver starts and, with it, where
    the pages' comment form posts (it used to stay on 8001)."""
    repo, make = make_repo(SAMPLE)
    built = make("html", "COMMENTS_PORT=9001")
    assert built.returncode == 0, built.stdout + built.stderr
    page = repo / "output" / "updates" / "2025" / "first-challenge" / "index.html"
    tree = html5lib.parse(
        page.read_bytes(), treebuilder="etree", namespaceHTMLElements=False
    )
    actions = {f.get("action") for f in tree.iter("form") if f.get("method") == "post"}
    assert actions == {"http://127.0.0.1:9001/comments"}
    policy = next(m for m in tree.iter("meta") if m.get("http-equiv"))
    assert "http://127.0.0.1:9001" in policy.get("content")
