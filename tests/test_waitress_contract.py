"""Everything of waitress beyond its documented options that
lab_comments.server relies on, each checked against the installed waitress
(requirements.txt pins it). A waitress release that changes one fails here
with a message naming it and what in server.py uses it, rather than as a
server that quietly stops limiting connections.

The checks drive waitress's own classes over real sockets on 127.0.0.1 (no
request loop runs: each method is called as the loop would call it).
"""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, TcpWSGIServer
from waitress.task import WSGITask

from lab_comments import server as ours


def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@contextmanager
def tcp_server(**adjustments) -> Iterator[TcpWSGIServer]:
    server = TcpWSGIServer(app, host="127.0.0.1", port=0, threads=1, **adjustments)
    try:
        yield server
    finally:
        server.task_dispatcher.shutdown()
        server.close()


@contextmanager
def channel_on(server: TcpWSGIServer) -> Iterator[tuple[HTTPChannel, socket.socket]]:
    """A waitress channel for one real connection, and the client's socket."""
    client = socket.create_connection(
        ("127.0.0.1", int(server.effective_port)), timeout=2
    )
    server.socket.setblocking(True)
    conn, addr = server.socket.accept()
    channel = HTTPChannel(server, conn, addr, server.adj, map=server._map)
    try:
        yield channel, client
    finally:
        channel.handle_close()
        client.close()


def check_channel_class(tmp_path):
    # GuardedServer.admit: waitress makes each accepted connection's channel
    # as self.channel_class(server, conn, addr, adj, map=...), so that an
    # instance attribute can refuse it or build our channel.
    calls = []
    with tcp_server() as server:
        server.channel_class = lambda *args, **kw: calls.append((args, kw))
        client = socket.create_connection(
            ("127.0.0.1", int(server.effective_port)), timeout=2
        )
        server.socket.setblocking(True)
        server.handle_accept()
        client.close()
        ((args, kw),) = calls
        assert args[0] is server and args[3] is server.adj, args
        assert isinstance(args[1], socket.socket) and args[2][0] == "127.0.0.1"
        assert set(kw) == {"map"}, kw
        args[1].close()


def check_readable_and_maintenance(tmp_path):
    # GuardedServer.readable and maintenance: the server's readable() runs
    # maintenance(now) once cleanup_interval has passed and says whether to
    # accept (True below connection_limit).
    with tcp_server(cleanup_interval=1) as server:
        seen = []
        server.maintenance = seen.append
        server.next_channel_cleanup = 0
        assert server.readable() is True
        assert len(seen) == 1 and abs(seen[0] - time.time()) < 5, seen
    params = list(inspect.signature(BaseWSGIServer.maintenance).parameters)
    assert params == ["self", "now"], params


def check_active_channels(tmp_path):
    # GuardedServer (longest_waiting, maintenance) finds the open connections
    # in server.active_channels, which HTTPChannel.add_channel and
    # del_channel keep (GuardedChannel counts clients in the same two).
    with tcp_server() as server, channel_on(server) as (channel, _):
        assert list(server.active_channels.values()) == [channel]
        channel.handle_close()
        assert server.active_channels == {}
    for name in ("add_channel", "del_channel"):
        assert name in vars(HTTPChannel), f"HTTPChannel.{name} is gone"


def check_channel_requests_and_parser_class(tmp_path):
    # GuardedChannel: received() makes each request's parser as
    # self.parser_class(adj), puts a complete request in self.requests and
    # hands the channel to server.add_task; service() (no arguments, in a
    # worker thread) answers it and empties requests.
    with tcp_server() as server, channel_on(server) as (channel, client):
        made, tasks = [], []

        def parser(adj):
            made.append(adj)
            return HTTPRequestParser(adj)

        channel.parser_class = parser
        server.add_task = tasks.append
        channel.received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert made == [server.adj] and tasks == [channel]
        assert len(channel.requests) == 1 and channel.requests[0].completed
        assert list(inspect.signature(channel.service).parameters) == []
        channel.service()
        assert channel.requests == []
        assert client.recv(100).startswith(b"HTTP/1.1 200 OK")


def check_will_close(tmp_path):
    # GuardedServer.maintenance closes an overdue connection as waitress's own
    # maintenance closes an idle one: will_close makes it writable, and
    # handle_write() closes it.
    with tcp_server() as server, channel_on(server) as (channel, client):
        channel.will_close = True
        assert channel.writable()
        channel.handle_write()
        assert server.active_channels == {}
        assert client.recv(1) == b""


def check_parser_fields(tmp_path):
    # CappedParser: after received() sees the end of the headers of a request
    # with a body, headers_finished is True and completed False, with
    # content_length (or chunked), expect_continue and headers (upper case,
    # "CONNECTION") set; received() returns the bytes it consumed.
    adj = Adjustments()
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    parser = HTTPRequestParser(adj)
    assert parser.received(head + b"abc") == len(head)
    assert parser.headers_finished and not parser.completed
    assert (parser.content_length, parser.chunked) == (10, False)
    # ... and path, the request's path (the webhook's bodies may be longer).
    assert parser.path == "/"
    assert parser.expect_continue is True
    assert parser.headers["CONTENT_LENGTH"] == "10"
    chunked = HTTPRequestParser(adj)
    chunked.received(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert chunked.chunked and chunked.headers_finished and not chunked.completed
    # A request whose CONNECTION header says close is answered with
    # "Connection: close" and closes the connection after its answer.
    parser = HTTPRequestParser(adj)
    parser.received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    parser.headers["CONNECTION"] = "close"
    with tcp_server() as server, channel_on(server) as (channel, _):
        task = WSGITask(channel, parser)
        task.response_headers = [("Content-Length", "2")]
        task.build_response_header()
        assert task.close_on_finish
        assert ("Connection", "close") in task.response_headers


def check_channel_continue(tmp_path):
    # CappedParser clears expect_continue: the channel sends "100 Continue"
    # only when the request's expect_continue is set after received().
    with tcp_server() as server, channel_on(server) as (channel, client):
        server.add_task = lambda task: None
        channel.received(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"


def check_options(tmp_path):
    # GuardedServer passes these options; Adjustments refuses an unknown one.
    names = {
        "connection_limit",
        "cleanup_interval",
        "asyncore_loop_timeout",
        "asyncore_use_poll",
        "max_request_body_size",
        "max_request_header_size",
        "trusted_proxy",
    }
    known = {name for name, _ in Adjustments._params}
    assert names <= known, sorted(names - known)


CONTRACT = [
    ("BaseWSGIServer.handle_accept calls channel_class(server, conn, addr, adj, "
     "map=)", "GuardedServer.admit", check_channel_class),
    ("BaseWSGIServer.readable() runs maintenance(now)",
     "GuardedServer.readable and maintenance", check_readable_and_maintenance),
    ("server.active_channels, HTTPChannel.add_channel and del_channel",
     "GuardedServer.longest_waiting, GuardedChannel counting", check_active_channels),
    ("HTTPChannel.received, requests, parser_class(adj), service()",
     "GuardedChannel (waiting, parser_class)", check_channel_requests_and_parser_class),
    ("HTTPChannel.will_close", "GuardedServer.maintenance", check_will_close),
    ("HTTPRequestParser headers_finished, completed, content_length, chunked, "
     "path, expect_continue, headers['CONNECTION']", "CappedParser",
     check_parser_fields),
    ("HTTPChannel sends 100 Continue from request.expect_continue",
     "CappedParser", check_channel_continue),
    ("Adjustments options", "GuardedServer.__init__", check_options),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "used_by", "check"), CONTRACT, ids=[c[0] for c in CONTRACT]
)
def test_waitress_still_has(name, used_by, check, tmp_path):
    try:
        check(tmp_path)
    except Exception as exc:  # any way it broke: name it, and who needs it
        pytest.fail(
            f"waitress {waitress_version()} changed {name}, which "
            f"lab_comments.server ({used_by}) uses: {type(exc).__name__}: {exc}",
            pytrace=False,
        )


def waitress_version() -> str:
    from importlib.metadata import version

    return version("waitress")


def test_the_server_subclasses_what_the_contract_checks():
    assert issubclass(ours.GuardedServer, TcpWSGIServer)
    assert issubclass(ours.GuardedChannel, HTTPChannel)
    assert issubclass(ours.CappedParser, HTTPRequestParser)
