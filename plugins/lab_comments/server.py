"""Serving the endpoint with waitress, within limits per connection and
per client (`python -m lab_comments.cli serve` runs `serve`).

waitress alone takes 100 connections in all, with no limit per client, then
stops accepting; its channel_timeout counts idle time only, so a client that
sends one header line every few seconds holds a connection for ever: 101 of
those from one address left every other reader waiting. Here:

- a client (an IPv4 address, an IPv6 /64: `client_key`) holds at most
  LAB_COMMENTS_CLIENT_CONNECTIONS connections; one more is closed at once;
- a connection must deliver each request in full (headers and body) within
  LAB_COMMENTS_REQUEST_SECONDS of being opened or of its last answer, however
  steadily it trickles, or it is closed (an idle keep-alive one too);
- with LAB_COMMENTS_MAX_CONNECTIONS open, a new connection takes the place of
  the one that has waited longest without a complete request, instead of
  waiting behind it; only while every connection has a request being answered
  (milliseconds each) does the server stop accepting;
- a request whose declared body is over the endpoint's limit, or whose body is
  chunked (no declared length), is complete at its headers (`CappedParser`):
  the endpoint answers 413 (or 411) without a byte of the body being read, and
  the connection closes.

Behind a reverse proxy (--trusted-proxy) every connection comes from the
proxy, so the limit per client does not apply to the proxy's address: the
proxy counts clients (deploy/nginx/lab-comments.conf), and as it buffers each
request whole, what reaches the endpoint never trickles.

What this relies on in waitress beyond its options (channel_class, the
channel's requests, service and parser_class, the parser's fields, the
server's maintenance and active_channels) is checked by
tests/test_waitress_contract.py.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from . import hooks, schema
from .endpoint import ConfigError
from .limits import client_key

logger = logging.getLogger(__name__)

# The environment variables of the server's limits: (default, meaning).
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "LAB_COMMENTS_MAX_CONNECTIONS": (
        "100",
        "connections open at once, in all; a new one beyond takes the place of "
        "the one that has waited longest without a complete request",
    ),
    "LAB_COMMENTS_CLIENT_CONNECTIONS": (
        "10",
        "connections one client (an IPv4 address, an IPv6 /64) may hold at "
        "once; one more is closed at once (not applied to the trusted proxy)",
    ),
    "LAB_COMMENTS_REQUEST_SECONDS": (
        "10",
        "a connection that has not sent a whole request (headers and body) "
        "this long after it opened or after its last answer is closed",
    ),
}

# What waitress itself reads of a request at most. Never reached by a request
# with a declared length (CappedParser answers at the headers when it is over
# the endpoint's own limit); a backstop only.
BACKSTOP_BODY = 1024 * 1024
# Paths whose requests may be longer than a comment's: the forge's signed
# webhook (a pull request's payload is some 25 KB and quotes the comment).
PATH_BODY = {hooks.HOOK_PATH: hooks.HOOK_BODY_MAX}
# Request line and headers together (waitress's default is 256 KiB); a form's
# are well under 8 KiB.
HEADER_MAX = 32 * 1024
# How often (seconds) the deadlines are checked, and the longest the server's
# loop sleeps; a connection is cut at most this much after its deadline.
CHECK_SECONDS = 1
# How often (seconds) the closed connections are counted in the log, at most.
LOG_SECONDS = 60


@dataclass(frozen=True)
class Limits:
    connections: int
    per_client: int
    request_seconds: int
    # The largest request body the endpoint takes (its own 413 beyond).
    body: int = schema.REQUEST_MAX


def limits_from_env(environ: Mapping[str, str] = os.environ) -> Limits:
    """The server's Limits from environment variables (see ENVIRONMENT);
    ConfigError naming the variable for a wrong one."""

    def number(name: str) -> int:
        value = environ.get(name, "").strip() or ENVIRONMENT[name][0]
        try:
            result = int(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a whole number") from None
        if result < 1:
            raise ConfigError(f"{name}: must be 1 or more")
        return result

    limits = Limits(
        connections=number("LAB_COMMENTS_MAX_CONNECTIONS"),
        per_client=number("LAB_COMMENTS_CLIENT_CONNECTIONS"),
        request_seconds=number("LAB_COMMENTS_REQUEST_SECONDS"),
    )
    if limits.per_client > limits.connections:
        raise ConfigError(
            "LAB_COMMENTS_CLIENT_CONNECTIONS: must not be more than "
            f"LAB_COMMENTS_MAX_CONNECTIONS ({limits.connections})"
        )
    return limits


class CappedParser(HTTPRequestParser):
    """waitress's request parser, except that a request whose declared body
    is over `limit`, or whose body is chunked, is complete at its headers:
    the application answers from the headers alone (413 from the
    Content-Length, 411 without one), no "100 Continue" invites the body, the
    rest of the read is dropped unparsed, and the connection closes after the
    answer (the body that may follow is never read as a request)."""

    def __init__(self, adj, limit: int):
        super().__init__(adj)
        self.limit = limit

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if (
            self.headers_finished
            and not self.completed
            and (
                self.chunked
                or self.content_length > PATH_BODY.get(self.path, self.limit)
            )
        ):
            self.completed = True
            self.expect_continue = False
            self.connection_close = True
            self.headers["CONNECTION"] = "close"
            return len(data)
        return consumed


class GuardedChannel(HTTPChannel):
    """A connection that knows its client and since when it has been waiting
    for a complete request (None while one is being answered)."""

    def __init__(self, server, sock, addr, adj, map=None, *, client: str | None):
        # Set before waitress's __init__, which registers the channel
        # (add_channel below).
        self.client = client
        self.counted = False
        self.waiting_since: float | None = time.monotonic()
        super().__init__(server, sock, addr, adj, map=map)
        self.parser_class = functools.partial(CappedParser, limit=server.limits.body)

    def waiting(self) -> float | None:
        """Since when (time.monotonic()) this connection has waited for a
        complete request, or None if it has one being answered."""
        since = self.waiting_since
        return None if since is None or self.requests else since

    def service(self):
        # Runs in a worker thread. From the request's start to the end of its
        # answer the connection is not waiting; then its next request's time
        # starts.
        self.waiting_since = None
        try:
            super().service()
        finally:
            self.waiting_since = time.monotonic()

    def add_channel(self, map=None):
        super().add_channel(map)
        self.counted = True
        self.server.opened(self)

    def del_channel(self, map=None):
        # Closing can call this twice; the channel is counted out once.
        if self.counted:
            self.counted = False
            self.server.closed(self)
        super().del_channel(map)


class GuardedServer(TcpWSGIServer):
    """waitress's TCP server with the limits of `Limits` (module docstring).
    `adjustments` are waitress's own options."""

    def __init__(self, application, limits: Limits, **adjustments):
        self.limits = limits
        self.per_client: Counter[str] = Counter()
        self.tally: Counter[str] = Counter()
        self.next_log = time.monotonic() + LOG_SECONDS
        # waitress creates every connection as
        # channel_class(server, sock, addr, adj, map=...): ours admits it first.
        self.channel_class = self.admit
        super().__init__(
            application,
            **{
                # waitress's own limit stops accepting; ours (in readable and
                # admit) comes first, so that it never does.
                "connection_limit": limits.connections + 3,
                "cleanup_interval": CHECK_SECONDS,
                "asyncore_loop_timeout": CHECK_SECONDS,
                # poll, not select: no limit on descriptor numbers.
                "asyncore_use_poll": True,
                "max_request_body_size": max(
                    BACKSTOP_BODY, limits.body + 1, *(n + 1 for n in PATH_BODY.values())
                ),
                "max_request_header_size": HEADER_MAX,
                **adjustments,
            },
        )

    def _exempt(self, address: str) -> bool:
        proxy = self.adj.trusted_proxy
        return bool(proxy) and proxy in {"*", address}

    def admit(self, server, sock, addr, adj, map=None) -> GuardedChannel | None:
        """A new connection: closed at once if its client holds its share,
        else a channel, in the place of the longest-waiting connection when
        all are taken."""
        client = None if self._exempt(addr[0]) else client_key(addr[0])
        if client is not None and self.per_client[client] >= self.limits.per_client:
            self.tally["refused (client at its limit)"] += 1
            sock.close()
            return None
        if len(self.active_channels) >= self.limits.connections:
            victim = self.longest_waiting()
            if victim is not None:
                self.tally["closed for a newer one (all taken)"] += 1
                victim.handle_close()
        return GuardedChannel(server, sock, addr, adj, map=map, client=client)

    def opened(self, channel: GuardedChannel) -> None:
        if channel.client is not None:
            self.per_client[channel.client] += 1

    def closed(self, channel: GuardedChannel) -> None:
        if channel.client is not None:
            self.per_client[channel.client] -= 1
            if self.per_client[channel.client] <= 0:
                del self.per_client[channel.client]

    def longest_waiting(self) -> GuardedChannel | None:
        oldest, since = None, None
        for channel in self.active_channels.values():
            waiting = channel.waiting()
            if waiting is not None and (since is None or waiting < since):
                oldest, since = channel, waiting
        return oldest

    def readable(self) -> bool:
        # waitress's readable() runs maintenance() and says whether to accept.
        accepting = super().readable()
        if not accepting:
            return False
        if len(self.active_channels) < self.limits.connections:
            return True
        # All taken: accept only if a waiting connection can make room;
        # else the new one waits in the backlog until an answer is sent.
        return self.longest_waiting() is not None

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        moment = time.monotonic()
        cutoff = moment - self.limits.request_seconds
        for channel in list(self.active_channels.values()):
            waiting = channel.waiting()
            if waiting is not None and waiting < cutoff and not channel.will_close:
                # Closed by the server's loop, as waitress closes idle ones.
                channel.will_close = True
                self.tally["closed at the request deadline"] += 1
        if moment >= self.next_log:
            self.next_log = moment + LOG_SECONDS
            if self.tally:
                logger.warning(
                    "connections in the last %d s: %s",
                    LOG_SECONDS,
                    ", ".join(f"{n} {what}" for what, n in sorted(self.tally.items())),
                )
                self.tally.clear()


class ListenError(ConfigError):
    """The server cannot take connections where it was asked to."""


def serve(
    application,
    limits: Limits,
    *,
    host: str,
    port: int,
    threads: int,
    trusted_proxy: str = "",
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve `application` until interrupted; `ready` is called once the
    server listens."""
    # Without a trusted proxy, waitress would drop forwarding headers before
    # the endpoint sees them; the endpoint ignores them too (it counts
    # REMOTE_ADDR), but warns once that a proxy seems to be in front.
    options: dict = {"clear_untrusted_proxy_headers": False}
    if trusted_proxy:
        options = {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for"},
            "clear_untrusted_proxy_headers": True,
        }
    try:
        server = GuardedServer(
            application,
            limits,
            host=host,
            port=port,
            threads=threads,
            ident="lab-comments",
            **options,
        )
    except OSError as exc:
        # A port in use, an address not of this host: one line, not waitress's
        # traceback.
        raise ListenError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    if ready is not None:
        ready()
    logger.info(
        "serving on http://%s:%s: at most %d connections, %d per client, "
        "%d s for each request",
        server.effective_host,
        server.effective_port,
        limits.connections,
        limits.per_client,
        limits.request_seconds,
    )
    server.run()
