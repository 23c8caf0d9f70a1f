"""Helpers for the deployment tests: a live site on 127.0.0.1 that serves the
manifest the way a test tells it to (well, with an ETag and 304s, or badly),
and the endpoint started the way a server starts it (`python -m lab_comments
serve`, from any Python)."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lab_comments.loadtest import HOST, Server, running_server

# What the site does with a request: (handler) -> None; it writes the answer.
Behaviour = Callable[[http.server.BaseHTTPRequestHandler], None]


def serve_file(body: bytes, etag: str = "", last_modified: str = "") -> Behaviour:
    """200 with the body and its validators; 304 when the request's
    If-None-Match is the ETag (or If-Modified-Since is Last-Modified)."""

    def behave(handler) -> None:
        if (etag and handler.headers.get("If-None-Match") == etag) or (
            last_modified and handler.headers.get("If-Modified-Since") == last_modified
        ):
            handler.send_response(304)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if etag:
            handler.send_header("ETag", etag)
        if last_modified:
            handler.send_header("Last-Modified", last_modified)
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def status(code: int) -> Behaviour:
    def behave(handler) -> None:
        body = b"error"
        handler.send_response(code)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def redirect(location: str) -> Behaviour:
    def behave(handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behave


def truncated(body: bytes) -> Behaviour:
    """Declares the whole body, sends half of it, closes the connection."""

    def behave(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    return behave


def endless(declare: int | None = None, seconds: float = 20) -> Behaviour:
    """A body that never ends (until the client leaves or `seconds` pass),
    declared `declare` bytes long, or not declared at all."""

    def behave(handler) -> None:
        handler.send_response(200)
        if declare is not None:
            handler.send_header("Content-Length", str(declare))
        handler.end_headers()
        handler.close_connection = True
        chunk = b" " * 65536
        ends = time.monotonic() + seconds
        with contextlib.suppress(OSError):
            while time.monotonic() < ends:
                handler.wfile.write(chunk)

    return behave


def trickle(body: bytes, every: float = 0.2) -> Behaviour:
    """The whole body declared, then one byte every `every` seconds."""

    def behave(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.close_connection = True
        with contextlib.suppress(OSError):
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every)

    return behave


def silent(seconds: float = 20) -> Behaviour:
    """Reads the request and answers nothing for `seconds`."""

    def behave(handler) -> None:
        handler.close_connection = True
        time.sleep(seconds)

    return behave


@dataclass
class Site:
    """The live site: `paths` maps a path to what it does; `requests` records
    (path, headers) of every request."""

    port: int
    paths: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 (connections kept open), and no line on stderr a request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def live_site() -> Iterator[Site]:
    """A threaded HTTP server on 127.0.0.1 (a free port), stopped on exit."""
    site = Site(0)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            site.requests.append((self.path, dict(self.headers.items())))
            behave = site.paths.get(self.path, status(404))
            behave(self)

    with serving(Handler) as port:
        site.port = port
        yield site


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server of `handler` on 127.0.0.1; its port, stopped
    on exit."""
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def endpoint_process(python: str, environ: Mapping[str, str], log: Path):
    """`python -m lab_comments serve` (the deployed command) on 127.0.0.1 and
    a free port, run by `python` (another virtual environment's, say) with
    only PATH, PYTHONPATH=plugins and `environ`; up (GET /health answered)
    when entered, stopped on exit."""
    return running_server(environ, log, python=python, module="lab_comments")


def exchange(
    server: Server,
    method: str,
    target: str,
    body: bytes | str = b"",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes, http.client.HTTPMessage]:
    """One request to a served endpoint on its own connection: (status,
    body, headers)."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request(method, target, body, dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


def get(server: Server, path: str) -> tuple[int, bytes]:
    status, body, _ = exchange(server, "GET", path)
    return status, body


def post_form(server: Server, body: bytes, origin: str) -> tuple[int, str]:
    """POST /comments; (status, Location)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin}
    status, _, head = exchange(server, "POST", "/comments", body, headers)
    return status, head.get("Location", "")


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# -- the reverse proxies of deploy/ (nginx, Caddy), run for a test


def nginx_with_own_certificate(source: str, folder: Path) -> str:
    """deploy/nginx/lab-comments.conf's text with its certificate paths
    pointed at a self-signed pair made in `folder`."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=comments.lab.example.org",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    lines = []
    for line in source.splitlines():
        if line.strip().startswith("ssl_certificate_key "):
            line = f"    ssl_certificate_key {key};"
        elif line.strip().startswith("ssl_certificate "):
            line = f"    ssl_certificate {cert};"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    assert str(cert) in text and str(key) in text
    return text


def nginx_main(folder: Path, source: str) -> Path:
    """An nginx.conf in `folder` that includes `source` (written beside it)
    in its http block, as conf.d/ would, with its logs in `folder`
    (access.log, error.log)."""
    (folder / "lab-comments.conf").write_text(source)
    main = folder / "nginx.conf"
    main.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events {}\n"
        f"http {{\n    access_log {folder}/access.log;\n"
        f"    include {folder}/lab-comments.conf;\n}}\n"
    )
    return main
