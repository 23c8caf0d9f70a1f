"""The reverse proxies of deploy/ (nginx, Caddy) pass every route of the
endpoint, taken from its own route table (CommentsApp.routes), with each of
its methods and the endpoint's body limit for that path; answer 404 to any
other path; and keep the readers' links, whose address holds a signed token
(?t=), out of their access logs. make test reads the two files; the gates run
nginx and Caddy in front of a stand-in endpoint on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from deploykit import (
    QuietHandler,
    nginx_main,
    nginx_with_own_certificate,
    serving,
    wait_for,
)

from lab_comments.endpoint import CommentsApp
from lab_comments.loadtest import HOST, free_port, stop
from lab_comments.schema import REQUEST_MAX
from lab_comments.server import PATH_BODY

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NGINX = DEPLOY / "nginx" / "lab-comments.conf"
CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
SITE = "comments.lab.example.org"

ROUTES = {path: sorted(methods) for path, methods in CommentsApp.routes.items()}
# The readers' links from their emails: a signed token in the address.
TOKEN_PATHS = sorted(
    path
    for path, methods in CommentsApp.routes.items()
    if CommentsApp.reader_link in methods.values()
)
# Paths near the endpoint's that are none of them. (Not the routes in
# capitals: Caddy's path matcher ignores case, and passes them on to the
# endpoint, which answers 404 itself.)
OTHER_PATHS = sorted(
    {"/", "/index.html", "/.env", "/admin", "/subscriptions", "/comments.php"}
    | {path + suffix for path in ROUTES for suffix in ("/", "/x", "x", ".json")}
)
SIZES = {"k": 1024, "KiB": 1024, "m": 1024 * 1024, "MiB": 1024 * 1024}


def body_limit(path: str) -> int:
    """What the endpoint itself reads of a request's body on `path`."""
    return PATH_BODY.get(path, REQUEST_MAX)


def size(text: str) -> int:
    number = text.rstrip("kKiBmM")
    return int(number) * SIZES[text[len(number) :]]


def test_the_endpoint_has_routes_for_readers():
    """The table the tests below read holds the readers' links (a test of
    nothing would pass on an empty table)."""
    assert len(TOKEN_PATHS) >= 2 and "/comments" in ROUTES
    assert all(path.startswith("/") for path in ROUTES)


# -- nginx, read: a block is (name, arguments, children or None)


def nginx_tree(text: str) -> list:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";{}")
    lexer.whitespace_split = True
    parts = [part for word in lexer for part in _split_punctuation(word)]
    stack: list[list] = [[]]
    words: list[str] = []
    for part in parts:
        if part == ";":
            stack[-1].append((words[0], words[1:], None))
            words = []
        elif part == "{":
            children: list = []
            stack[-1].append((words[0], words[1:], children))
            stack.append(children)
            words = []
        elif part == "}":
            stack.pop()
        else:
            words.append(part)
    assert len(stack) == 1 and not words, "unbalanced nginx configuration"
    return stack[0]


def _split_punctuation(word: str) -> list[str]:
    return list(word) if word and set(word) <= set(";{}") else [word]


def nginx_server() -> list:
    """The HTTPS server block."""
    (server,) = [
        children
        for name, _, children in nginx_tree(NGINX.read_text())
        if name == "server"
        and any(d[:2] == ("listen", ["443", "ssl"]) for d in children)
    ]
    return server


def nginx_location(server: list, path: str) -> list:
    """The location nginx chooses for `path`: an exact match, else the
    longest prefix if it is `^~`, else the first regular expression that
    matches, else the longest prefix."""
    locations = [args for name, args, _ in server if name == "location"]
    blocks = [children for name, _, children in server if name == "location"]
    for args, block in zip(locations, blocks, strict=True):
        if args[0] == "=" and args[1] == path:
            return block
    prefixes = [
        (args[-1], args[0] == "^~", block)
        for args, block in zip(locations, blocks, strict=True)
        if len(args) == 1 or args[0] == "^~"
    ]
    longest = max(
        (p for p in prefixes if path.startswith(p[0])),
        key=lambda p: len(p[0]),
        default=None,
    )
    if longest and longest[1]:
        return longest[2]
    for args, block in zip(locations, blocks, strict=True):
        if args[0] in ("~", "~*"):
            flags = re.IGNORECASE if args[0] == "~*" else 0
            if re.search(args[1], path, flags):
                return block
    assert longest, f"no location for {path}"
    return longest[2]


def nginx_value(server: list, block: list, name: str) -> list[str] | None:
    """A directive's arguments in `block`, else the server's (inherited)."""
    for scope in (block, server):
        for directive, args, _ in scope:
            if directive == name:
                return args
    return None


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_nginx_passes_each_route_of_the_endpoint(path):
    server = nginx_server()
    block = nginx_location(server, path)
    assert ("proxy_pass", ["http://lab_comments"], None) in block, path
    assert nginx_value(server, block, "return") is None, path
    for name, args, children in block:
        if name == "limit_except":
            assert set(ROUTES[path]) <= set(args), (path, args)
            assert children == [("deny", ["all"], None)]
    limit = nginx_value(server, block, "client_max_body_size")
    assert size(limit[0]) == body_limit(path), (path, limit)
    if path != "/health":
        assert ("proxy_request_buffering", ["on"], None) in block, path
        headers = [args for n, args, _ in block if n == "proxy_set_header"]
        assert ["X-Forwarded-For", "$remote_addr"] in headers, path


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_nginx_keeps_readers_links_out_of_its_access_log(path):
    server = nginx_server()
    assert nginx_value(server, nginx_location(server, path), "access_log") == ["off"]


def test_nginx_answers_404_to_every_other_path():
    server = nginx_server()
    for path in OTHER_PATHS:
        block = nginx_location(server, path)
        assert block == [("return", ["404"], None)], path


# -- Caddy, read: a line is (words, children or None)


def caddy_tree(text: str) -> list:
    stack: list[list] = [[]]
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words == ["}"]:
            stack.pop()
        elif words and words[-1] == "{":
            children: list = []
            stack[-1].append((words[:-1], children))
            stack.append(children)
        elif words:
            stack[-1].append((words, None))
    assert len(stack) == 1, "unbalanced Caddyfile"
    return stack[0]


def caddy_handle(path: str, method: str) -> list:
    """What the site does with a request: the first `handle` whose matcher
    takes the path and the method, else the one without a matcher."""
    (site,) = [children for words, children in caddy_tree(CADDYFILE.read_text())
               if words == [SITE]]  # fmt: skip
    matchers: dict[str, dict[str, list[str]]] = {}
    for words, children in site:
        if words[0].startswith("@"):
            lines = [words[1:]] if children is None else [w for w, _ in children]
            matchers[words[0]] = {line[0]: line[1:] for line in lines}
    fallback = None
    for words, children in site:
        if words[0] != "handle":
            continue
        if len(words) == 1:
            fallback = children
            continue
        matcher = matchers[words[1]]
        paths, methods = matcher.get("path", ["*"]), matcher.get("method", [method])
        # Caddy's path matcher ignores case.
        if any(fnmatchcase(path.lower(), p.lower()) for p in paths) and (
            method in methods
        ):
            return children
    assert fallback is not None
    return fallback


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_caddy_passes_each_route_of_the_endpoint(path):
    for method in ROUTES[path]:
        handle = caddy_handle(path, method)
        (limit,) = [w[2] for w, _ in handle if w[:2] == ["import", "to_endpoint"]]
        assert size(limit) == body_limit(path), (path, method, limit)


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_caddy_keeps_readers_links_out_of_an_access_log(path):
    for method in ROUTES[path]:
        assert (["log_skip"], None) in caddy_handle(path, method), (path, method)


def test_caddy_answers_404_to_every_other_path():
    for path in OTHER_PATHS:
        for method in ("GET", "POST"):
            assert caddy_handle(path, method) == [(["respond", "404"], None)], path


# -- the gates: the proxies run in front of a stand-in endpoint


@dataclass
class Upstream:
    """A stand-in endpoint: records (method, path with query, headers,
    body) of each request and answers 200 "endpoint"."""

    port: int = 0
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


@contextlib.contextmanager
def stand_in_endpoint() -> Iterator[Upstream]:
    upstream = Upstream()

    class Handler(QuietHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            record = (self.command, self.path, dict(self.headers.items()), body)
            upstream.requests.append(record)
            # A proxy that refused the body has closed the connection.
            with contextlib.suppress(ConnectionError):
                self.send_response(200)
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"endpoint\n")

        do_GET = do_POST = do_OPTIONS = answer

    with serving(Handler) as port:
        upstream.port = port
        yield upstream


@contextlib.contextmanager
def running(command: list[str], port: int, log: Path, env=None) -> Iterator[None]:
    """`command` in a child process, ready when 127.0.0.1:`port` accepts a
    connection; stopped (and waited for) on exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:

        def accepting() -> bool:
            with contextlib.suppress(OSError):
                http.client.HTTPConnection(HOST, port, timeout=1).connect()
                return True
            return process.poll() is not None

        assert wait_for(accepting, 20) and process.poll() is None, log.read_text()
        yield
    finally:
        stop(process)


def ask(connection, method: str, path: str, body: bytes = b"", headers=None):
    """(status, body) of one request on a new connection."""
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


SIGNED = "0123456789abcdef.1900000000.feedfacefeedfacefeedfacefeedface"
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def check_proxy(
    connect, upstream: Upstream, access_log: Path, whole_first: bool
) -> None:
    """Every route and method of the endpoint reaches it, with the client's
    address; a mail provider's one-click unsubscribe arrives whole; other
    paths do not; an over-long reader's form is refused (413: nginx before
    the endpoint sees it; Caddy passes its headers and buffered part on,
    and the endpoint refuses the declared length itself); the access log
    holds the comments' requests and no reader's token."""
    for path, methods in ROUTES.items():
        for method in methods:
            seen = len(upstream.requests)
            status, body = ask(connect(), method, path, b"x=1", FORM)
            assert (status, body) == (200, b"endpoint\n"), (path, method, status)
            got_method, got_path, headers, _ = upstream.requests[seen]
            assert (got_method, got_path) == (method, path)
            if path != "/health":  # the endpoint's own check: no address
                assert headers["X-Forwarded-For"] == HOST
    seen = len(upstream.requests)
    unsubscribe = f"{TOKEN_PATHS[-1]}?t={SIGNED}"
    assert TOKEN_PATHS[-1] == "/unsubscribe"
    assert ask(connect(), "POST", unsubscribe, ONE_CLICK, FORM)[0] == 200
    method, path, headers, body = upstream.requests[seen]
    assert (method, path, body) == ("POST", unsubscribe, ONE_CLICK)
    for path in TOKEN_PATHS:
        assert ask(connect(), "GET", f"{path}?t={SIGNED}")[0] == 200
    for path in TOKEN_PATHS:
        big = b"t=" + b"x" * REQUEST_MAX
        assert ask(connect(), "POST", path, big, FORM)[0] == 413, path
    if whole_first:
        assert all(len(body) <= REQUEST_MAX for *_, body in upstream.requests)
    for path in OTHER_PATHS:
        assert ask(connect(), "GET", path)[0] == 404, path
    passed = {path for _, path, _, _ in upstream.requests}
    assert not passed & set(OTHER_PATHS), passed
    assert wait_for(lambda: "/comments" in access_log.read_text(), 5)
    assert SIGNED not in access_log.read_text()


@pytest.mark.gates
def test_nginx_passes_the_endpoints_routes_and_no_other(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("make check needs nginx: apt-get install nginx-light")
    port = free_port()
    with stand_in_endpoint() as upstream:
        source = nginx_with_own_certificate(NGINX.read_text(), tmp_path)
        lines = []
        for line in source.splitlines():
            if line.strip() == "listen 443 ssl;":
                line = f"    listen {HOST}:{port} ssl;"
            elif line.strip().startswith("listen "):
                continue  # port 80, and IPv6
            elif line.strip() == "server 127.0.0.1:8001;":
                line = f"    server {HOST}:{upstream.port};"
            # Routes are tested here, not the limits per client.
            line = line.replace("rate=2r/s", "rate=1000r/s")
            line = line.replace("burst=10 ", "burst=1000 ")
            lines.append(line)
        source = "\n".join(lines) + "\n"
        assert f"{HOST}:{upstream.port}" in source and f"{HOST}:{port}" in source
        assert "rate=1000r/s" in source and "burst=1000 " in source
        main = nginx_main(tmp_path, source)
        command = [nginx, "-p", str(tmp_path), "-c", str(main), "-g", "daemon off;"]
        # The self-signed certificate, made for another name.
        context = ssl.create_default_context(cafile=tmp_path / "cert.pem")
        context.check_hostname = False

        def connect():
            return http.client.HTTPSConnection(HOST, port, timeout=10, context=context)

        with running(command, port, tmp_path / "nginx.out"):
            check_proxy(connect, upstream, tmp_path / "access.log", whole_first=True)


def caddy_binary() -> str:
    caddy = Path(sys.executable).parent / "caddy"
    found = str(caddy) if caddy.exists() else shutil.which("caddy")
    if found is None:
        pytest.fail("make check needs caddy: make check-tools installs it")
    return found


@pytest.mark.gates
def test_caddy_passes_the_endpoints_routes_and_no_other(tmp_path):
    """Caddy with an access log added to the site, as an operator might."""
    port = free_port()
    log = tmp_path / "access.log"
    log.write_text("")
    home = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    env = {**os.environ, **home, "XDG_CONFIG_HOME": str(tmp_path)}
    access_log = f"log {{\n\t\toutput file {log}\n\t}}\n"
    with stand_in_endpoint() as upstream:
        source = CADDYFILE.read_text()
        replaced = (
            source.replace("\n{\n", f"\n{{\n\tadmin off\n\tdefault_bind {HOST}\n", 1)
            .replace(f"{SITE} {{\n", f"http://{HOST}:{port} {{\n\t{access_log}", 1)
            .replace("127.0.0.1:8001", f"{HOST}:{upstream.port}")
        )
        assert "admin off" in replaced and str(log) in replaced
        assert f"{HOST}:{upstream.port}" in replaced
        config = tmp_path / "Caddyfile"
        config.write_text(replaced)
        command = [caddy_binary(), "run", "--adapter", "caddyfile"]
        command += ["--config", str(config)]

        def connect():
            return http.client.HTTPConnection(HOST, port, timeout=10)

        with running(command, port, tmp_path / "caddy.out", env=env):
            check_proxy(connect, upstream, log, whole_first=False)
