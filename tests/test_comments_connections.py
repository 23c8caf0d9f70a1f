"""Issue 15's connections: the endpoint served the real way
(`lab_comments.cli serve`, waitress, on 127.0.0.1) under slow and greedy
clients. Attackers bind their sockets to other loopback addresses
(127.0.0.2, 127.0.0.10, ...: Linux routes all of 127/8 to loopback), so the
reader on 127.0.0.1 is another client. Every socket has a timeout and every
attack a time limit; each test asserts what a reader gets (status, time per
request) and what the server did to the attacker's sockets."""

from __future__ import annotations

import contextlib
import http.client
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from commentkit import GOOD, SITE
from deploykit import nginx_main, nginx_with_own_certificate

from lab_comments import cli
from lab_comments.endpoint import ConfigError
from lab_comments.loadtest import HOST, Server, form_body, running_server
from lab_comments.loadtest import write_manifest as write_test_manifest
from lab_comments.server import ENVIRONMENT, Limits, client_key, limits_from_env
from lab_comments.store import load_yaml

ROOT = Path(__file__).resolve().parent.parent
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE}


@contextlib.contextmanager
def served(tmp_path: Path, **settings: str) -> Iterator[Server]:
    """The endpoint on 127.0.0.1 with a fresh queue, the rate limit raised
    (the reader sends many comments), and `settings` in its environment."""
    manifest = tmp_path / "manifest.json"
    write_test_manifest(manifest, SITE, {"a-post": {}})
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "connections-" + "s" * 40,
        "LAB_COMMENTS_RATE_LIMIT": "1000",
        "LAB_COMMENTS_POST_HOURLY": "1000",
        **settings,
    }
    with running_server(environ, tmp_path / "server.log") as server:
        yield server


class Trickler(threading.Thread):
    """Keeps `count` connections open to the server, spread over the source
    addresses `sources`, each sending one header line of a request that never
    ends every `every` seconds; a connection the server closes is opened again
    on the next round (when `reopen`). Stops when told or after `seconds`.
    Records, for each connection the server closed, how long it had been
    open, and counts those closed quickly: within 2 s, or by their first
    look (the round after they opened, which a slow opening of all 300
    delays for the first ones)."""

    def __init__(
        self,
        port: int,
        sources: Sequence[str],
        count: int,
        *,
        every: float = 0.5,
        reopen: bool = True,
        seconds: float = 40,
    ):
        super().__init__(daemon=True)
        self.port = port
        self.sources = list(sources)
        self.count = count
        self.every = every
        self.reopen = reopen
        self.seconds = seconds
        self.stop = threading.Event()
        self.ready = threading.Event()
        # Each open connection: when it opened, and in which round.
        self.open: dict[socket.socket, tuple[float, int]] = {}
        self.lifetimes: list[float] = []
        self.rounds = 0
        self.closed_quickly = 0
        self.failed_connects = 0
        self.opened = 0

    def connect(self, number: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2)
        try:
            sock.bind((self.sources[number % len(self.sources)], 0))
            sock.connect((HOST, self.port))
            sock.sendall(b"POST /comments HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        except OSError:
            sock.close()
            self.failed_connects += 1
            return
        self.opened += 1
        self.open[sock] = (time.monotonic(), self.rounds)

    def closed_by_server(self, sock: socket.socket) -> bool:
        readable, _, _ = select.select([sock], [], [], 0)
        try:
            if readable and sock.recv(4096) == b"":
                return True
            sock.sendall(b"X-Trickle: 1\r\n")
        except OSError:
            return True
        return False

    def sweep(self) -> None:
        for sock in list(self.open):
            if self.closed_by_server(sock):
                opened, round_opened = self.open.pop(sock)
                lifetime = time.monotonic() - opened
                self.lifetimes.append(lifetime)
                if round_opened == self.rounds or lifetime < 2:
                    self.closed_quickly += 1
                sock.close()
        self.rounds += 1

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        try:
            for number in range(self.count):
                self.connect(number)
            self.ready.set()
            while not self.stop.wait(self.every) and time.monotonic() < end:
                self.sweep()
                if self.reopen:
                    for number in range(self.count - len(self.open)):
                        self.connect(number)
            # What the server closed since the last round counts too.
            time.sleep(0.2)
            self.sweep()
        finally:
            self.ready.set()
            for sock in self.open:
                sock.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[Trickler]:
        self.start()
        try:
            assert self.ready.wait(30), "the attacker could not open its connections"
            yield self
        finally:
            self.stop.set()
            self.join(timeout=10)


def post_comments(
    server: Server, count: int, prefix: str, pause: float = 0.0
) -> list[tuple[int | str, float]]:
    """`count` comments from 127.0.0.1, each on a new connection as a reader's
    form would be, `pause` seconds apart: (status, seconds) for each. Stops at
    the first that gets no answer within 3 s (a reader who gave up), so a
    failure stays short."""
    results = []
    for n in range(count):
        time.sleep(pause if n else 0)
        body = form_body({**GOOD, "body": f"{prefix} {n}."})
        started = time.perf_counter()
        connection = http.client.HTTPConnection(HOST, server.port, timeout=3)
        try:
            connection.request("POST", "/comments", body, FORM_HEADERS)
            response = connection.getresponse()
            response.read()
            status: int | str = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        results.append((status, time.perf_counter() - started))
        if not isinstance(status, int):
            break
    return results


def stored_bodies(queue: Path) -> list[str]:
    return sorted(
        load_yaml(path.read_bytes())["body"]
        for path in (queue / "pending").glob("*.yaml")
    )


def expected_bodies(count: int, prefix: str) -> list[str]:
    return sorted(f"{prefix} {n}." for n in range(count))


def test_300_trickling_connections_from_one_address_leave_a_reader_answered(
    tmp_path,
):
    """Issue 15's must-show: 300 connections from one address, each sending
    a header line every half second (and opened again when closed), while a
    reader posts 50 comments: every comment is answered with 303 in under a
    second, and the queue holds exactly the 50. The attacker keeps at most its
    10 connections: the rest are closed as they open. (Before: waitress took
    100 connections, then no more, and the reader waited for ever.)"""
    with (
        served(tmp_path) as server,
        Trickler(server.port, ["127.0.0.2"], 300).running() as attacker,
    ):
        # The attacker's first 10 took their places before the reader came.
        results = post_comments(server, 50, "Reader comment")
        assert attacker.is_alive(), "the attack must last the whole test"
    statuses = [status for status, _ in results]
    assert statuses == [303] * 50, statuses
    slowest = max(seconds for _, seconds in results)
    assert slowest < 1.0, f"slowest answer {slowest:.3f} s"
    assert stored_bodies(tmp_path / "queue") == expected_bodies(50, "Reader comment")
    # 290 of the first 300 were refused at once (the attacker saw them
    # closed within its first round), and every round's reopened ones too.
    quick = attacker.closed_quickly
    assert quick >= 290, (quick, attacker.opened)


def test_many_addresses_filling_every_place_do_not_keep_a_reader_out(tmp_path):
    """Twenty addresses with their four connections each (80) against 40
    places: each new connection takes the place of the one that has waited
    longest without a request, so the reader's connection is always taken
    and answered; the attackers' connections are the ones closed."""
    sources = [f"127.0.0.{10 + n}" for n in range(20)]
    with (
        served(
            tmp_path,
            LAB_COMMENTS_MAX_CONNECTIONS="40",
            LAB_COMMENTS_CLIENT_CONNECTIONS="4",
        ) as server,
        Trickler(server.port, sources, 80, every=0.1).running() as attacker,
    ):
        # The attackers open again what was closed every 0.1 s, so that the
        # reader finds every place taken each time.
        results = post_comments(server, 20, "Crowded comment", pause=0.2)
    statuses = [status for status, _ in results]
    assert statuses == [303] * 20, statuses
    slowest = max(seconds for _, seconds in results)
    assert slowest < 1.0, f"slowest answer {slowest:.3f} s"
    assert stored_bodies(tmp_path / "queue") == expected_bodies(20, "Crowded comment")
    # The 40 over the places were closed, and more for the reader's
    # connections (one each time it found every place taken: most times).
    assert len(attacker.lifetimes) >= 40 + 10, len(attacker.lifetimes)


def test_a_trickling_or_silent_connection_is_closed_at_the_deadline(tmp_path):
    """LAB_COMMENTS_REQUEST_SECONDS=2: a connection sending a header line
    every quarter second (never idle) and one that sends nothing are both
    closed 2 s after they opened, within the server's 1 s check and a
    little; a keep-alive connection whose requests each come within the
    deadline is served for longer than it."""
    with served(tmp_path, LAB_COMMENTS_REQUEST_SECONDS="2") as server:
        trickler = Trickler(server.port, ["127.0.0.5"], 1, every=0.25, reopen=False)
        silent = socket.create_connection(
            (HOST, server.port), timeout=6, source_address=("127.0.0.6", 0)
        )
        opened = time.monotonic()
        with trickler.running():
            assert silent.recv(1) == b""
            silent_lifetime = time.monotonic() - opened
            deadline = time.monotonic() + 6
            while not trickler.lifetimes and time.monotonic() < deadline:
                time.sleep(0.05)
        silent.close()
        assert trickler.lifetimes, "the trickling connection was never closed"
        for lifetime in (silent_lifetime, trickler.lifetimes[0]):
            assert 1.9 <= lifetime <= 4.5, lifetime
        connection = http.client.HTTPConnection(HOST, server.port, timeout=5)
        connection.connect()
        first = connection.sock
        for _ in range(3):
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"ok\n")
            time.sleep(1.2)
        assert connection.sock is first, "the keep-alive connection was replaced"
        connection.close()


def test_a_connection_beyond_a_clients_share_is_closed_at_once(tmp_path):
    """LAB_COMMENTS_CLIENT_CONNECTIONS=3: a fourth connection from the same
    address is closed as soon as it opens, while its three are served, and
    another address is not counted with them; once one of the three closes,
    the client may open another."""
    with served(tmp_path, LAB_COMMENTS_CLIENT_CONNECTIONS="3") as server:

        def connect(source: str) -> socket.socket:
            return socket.create_connection(
                (HOST, server.port), timeout=3, source_address=(source, 0)
            )

        three = [connect("127.0.0.3") for _ in range(3)]
        time.sleep(0.2)  # all three accepted
        started = time.monotonic()
        fourth = connect("127.0.0.3")
        with contextlib.suppress(ConnectionResetError):  # closed, either way
            assert fourth.recv(1) == b""
        # At once: well within the request deadline (10 s) it would
        # otherwise have had, with room for a loaded machine.
        assert time.monotonic() - started < 2
        fourth.close()
        for sock in [*three, connect("127.0.0.4")]:
            assert health(sock) == 200
        three.pop().close()
        again = admitted_after_a_close(connect, "127.0.0.3")
        for sock in [*three, again]:
            sock.close()


def test_the_trusted_proxy_is_not_limited_as_one_client(tmp_path):
    """Behind a proxy every connection comes from it: with
    LAB_COMMENTS_TRUSTED_PROXY=127.0.0.1 and two connections per client,
    five connections from 127.0.0.1 are all served, while another address
    still gets no third."""
    with served(
        tmp_path,
        LAB_COMMENTS_CLIENT_CONNECTIONS="2",
        LAB_COMMENTS_TRUSTED_PROXY="127.0.0.1",
    ) as server:
        proxy = [
            socket.create_connection((HOST, server.port), timeout=3) for _ in range(5)
        ]
        other = [
            socket.create_connection(
                (HOST, server.port), timeout=3, source_address=("127.0.0.7", 0)
            )
            for _ in range(3)
        ]
        time.sleep(0.2)
        assert [health(sock) for sock in [*proxy, *other[:2]]] == [200] * 7
        with contextlib.suppress(ConnectionResetError):  # closed, either way
            assert other[2].recv(1) == b""
        for sock in [*proxy, *other]:
            sock.close()


def admitted_after_a_close(connect, source: str, within: float = 5) -> socket.socket:
    """A connection from `source` that is served, tried until the server has
    seen the client's closed one (a loaded server may take the new one in
    the same round, before it sees the close); AssertionError if it is
    still refused after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        sock = connect(source)
        try:
            if health(sock) == 200:
                return sock
        except (http.client.RemoteDisconnected, ConnectionError):
            pass
        sock.close()
        assert time.monotonic() < deadline, "no place for the client after a close"
        time.sleep(0.1)


def health(sock: socket.socket) -> int:
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response.status


def send_headers(server: Server, headers: str) -> tuple[int, dict[str, str], bytes]:
    """Sends the request line and headers only, never a body; the answer and
    whether the server then closed the connection."""
    sock = socket.create_connection((HOST, server.port), timeout=3)
    try:
        head = f"POST /comments HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"
        sock.sendall(head.encode("ascii"))
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        fields = {name.lower(): value for name, value in response.getheaders()}
        return response.status, fields, body
    finally:
        sock.close()


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(tmp_path):
    """The headers of a 1 MB form, and no body: the endpoint's own 413 page
    comes at once, no "100 Continue" invites the body, and the connection
    closes. (Before: waitress waited for the megabyte, read it, then the
    endpoint answered 413.) A chunked body (no declared length) gets 411 the
    same way."""
    over = (
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Origin: {SITE}\r\nContent-Length: 1000000\r\n"
    )
    with served(tmp_path) as server:
        for extra in ("", "Expect: 100-continue\r\n"):
            started = time.monotonic()
            status, headers, body = send_headers(server, over + extra)
            assert status == 413
            assert b"64 KiB" in body
            assert headers["connection"] == "close"
            assert time.monotonic() - started < 1
        chunked = (
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Origin: {SITE}\r\nTransfer-Encoding: chunked\r\n"
        )
        status, headers, _ = send_headers(server, chunked)
        assert (status, headers["connection"]) == (411, "close")
        # A form within the limit is still read and stored.
        connection = http.client.HTTPConnection(HOST, server.port, timeout=3)
        connection.request("POST", "/comments", form_body(GOOD), FORM_HEADERS)
        assert connection.getresponse().status == 303
        connection.close()
    assert len(pending_files_in(tmp_path / "queue")) == 1


def pending_files_in(queue: Path) -> list[Path]:
    return sorted((queue / "pending").glob("*.yaml"))


# -- the pure parts


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("192.0.2.8", "192.0.2.8"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("::1", "::/64"),
        ("localhost", "localhost"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address, key):
    assert client_key(address) == key


def test_the_limits_default_from_one_table_and_name_a_wrong_variable():
    limits = limits_from_env({})
    assert limits == Limits(
        connections=int(ENVIRONMENT["LAB_COMMENTS_MAX_CONNECTIONS"][0]),
        per_client=int(ENVIRONMENT["LAB_COMMENTS_CLIENT_CONNECTIONS"][0]),
        request_seconds=int(ENVIRONMENT["LAB_COMMENTS_REQUEST_SECONDS"][0]),
    )
    assert (limits.connections, limits.per_client, limits.request_seconds) == (
        100,
        10,
        10,
    )
    for name, value, message in [
        ("LAB_COMMENTS_MAX_CONNECTIONS", "many", "is not a whole number"),
        ("LAB_COMMENTS_REQUEST_SECONDS", "0", "must be 1 or more"),
        ("LAB_COMMENTS_CLIENT_CONNECTIONS", "101", "must not be more than"),
    ]:
        with pytest.raises(ConfigError, match=f"^{name}: .*{message}"):
            limits_from_env({name: value})


def test_serve_with_a_wrong_limit_says_so_in_one_line(tmp_path, capsys):
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_CLIENT_CONNECTIONS": "-1",
    }
    assert cli.main(["serve", "--port", "1"], environ=environ) == 1
    error = capsys.readouterr().err
    assert error == "error: LAB_COMMENTS_CLIENT_CONNECTIONS: must be 1 or more\n"
    assert not (tmp_path / "queue").exists()


# -- the reverse proxy's configuration


@pytest.mark.gates
def test_the_shipped_nginx_configuration_is_valid(tmp_path):
    """deploy/nginx/lab-comments.conf, included in an http block as
    conf.d/ would, passes `nginx -t` (the certificate paths pointed at a
    self-signed pair made here)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("make check needs nginx: apt-get install nginx-light")
    source = (ROOT / "deploy" / "nginx" / "lab-comments.conf").read_text()
    main = nginx_main(tmp_path, nginx_with_own_certificate(source, tmp_path))
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
