"""Issue 19: the readers' mail queue (subscriptions.ReaderOutbox) under
unsubscribes, a daily limit per recipient, a recipient refused for good
and a server that hangs up in the middle of a session. Requests go through
the real endpoint (in-process WSGI); email goes to real SMTP servers on
127.0.0.1 (aiosmtpd, and a bare one that hangs up at DATA)."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from commentkit import SECRET, Clock, make_app
from followkit import SLUG, mail_settings, request, write_feed
from mailkit import Recorder, held, smtp_server
from test_comments_follow import ADDRESS, START, confirmed
from test_comments_replies import confirm, publish, send

from lab_comments import schema
from lab_comments.endpoint import ConfigError, config_from_env
from lab_comments.follow import FollowSettings
from lab_comments.loadtest import HOST, free_port
from lab_comments.mail import address_forms, wire_address
from lab_comments.replies import erase_address
from lab_comments.subscriptions import DAILY_WINDOW, address_hash

OTHER = "second-reader@example.org"
DEAD = "gone-for-good@example.org"


def app_with(tmp_path: Path, port: int, clock: Clock, **config):
    """An endpoint with reply emails and following on, its feeds read from
    tmp_path/site."""
    feed = str(tmp_path / "site" / "feeds" / "challenge" / "{slug}.atom.xml")
    return make_app(
        tmp_path / "endpoint",
        clock=clock,
        mail=mail_settings(port),
        public_url="https://comments.lab.example.org",
        follow=FollowSettings(feed=feed),
        **config,
    )


def queue_root(tmp_path: Path) -> Path:
    return tmp_path / "endpoint" / "queue"


def files_holding(folder: Path, address: str) -> list[Path]:
    """Every file under `folder` whose bytes hold `address` (any case)."""
    wanted = address.lower().encode()
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and wanted in path.read_bytes().lower()
    ]


def one_click(app, message):
    """What a mail app does with a message's List-Unsubscribe (RFC 8058)."""
    parts = urlsplit(message["List-Unsubscribe"].strip("<>"))
    path = f"{parts.path}?{parts.query}"
    return request(app, "POST", path, "List-Unsubscribe=One-Click")


def items(count: int, prefix: str = "new") -> list[tuple[str, str]]:
    return [(f"tag:x,2025:{prefix}{n}", f"Item {n}") for n in range(count)]


def ids_to(recorder: Recorder, address: str) -> list[str]:
    return [r.message["Message-ID"] for r in recorder.received if address in r.rcpt_tos]


@contextlib.contextmanager
def following(tmp_path: Path, **config) -> Iterator[tuple]:
    """A reader (ADDRESS) who follows SLUG, confirmed, its feed looked at
    once: (app, recorder, clock, site) with the SMTP server running."""
    site = tmp_path / "site"
    write_feed(site, SLUG, items(1, "old"))
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = app_with(tmp_path, port, clock, **config)
        confirmed(app, recorder)
        app.follow.run_once()  # the first look records the feed
        yield app, recorder, clock, site


# -- unsubscribing drops what waits in the queue (review item 4)


def test_a_one_click_unsubscribe_drops_the_follows_queued_email(tmp_path):
    with following(tmp_path) as (app, recorder, clock, site):
        clock.advance(hours=1)
        write_feed(site, SLUG, items(1) + items(1, "old"))
        app.follow.run_once()
        (first,) = [r.message for r in recorder.received[1:]]
        # The server refuses for a while: the next item waits on disk.
        recorder.answer = "451 4.3.0 try later"
        clock.advance(hours=1)
        write_feed(site, SLUG, items(2) + items(1, "old"))
        app.follow.run_once()
        assert recorder.refused == 1
        assert files_holding(queue_root(tmp_path) / "reader-mail", ADDRESS)
        # The reader leaves from the email they have, as a mail app does.
        assert one_click(app, first).status == 200
        assert files_holding(queue_root(tmp_path), ADDRESS) == []
        recorder.answer = ""
        for _ in range(3):
            clock.advance(hours=1)
            app.follow.run_once()
    assert len(recorder.received) == 2  # the confirmation and the first item
    assert recorder.refused == 1


def test_leaving_a_follow_keeps_the_reply_emails_and_leaving_those_drops_all(
    tmp_path,
):
    """An address with reply emails and a follow: unsubscribing from the
    follow drops only the follow's queued email; the reply email still
    goes. Then the reply emails' own link: nothing is left, nothing sent."""
    site = tmp_path / "site"
    write_feed(site, SLUG, items(1, "old"))
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = app_with(tmp_path, port, clock)
        parent = send(app, email=ADDRESS, notify="on")
        app.replies.run_once()
        confirm(app, recorder.received[0])
        clock.advance(days=2)  # a new confirmation may go (one a day)
        confirmed(app, recorder)
        app.follow.run_once()
        clock.advance(hours=1)
        write_feed(site, SLUG, items(1) + items(1, "old"))
        app.follow.run_once()
        follow_email = recorder.received[-1].message
        assert follow_email["Subject"].endswith("Item 0")
        recorder.answer = "451 4.3.0 try later"
        clock.advance(hours=1)
        write_feed(site, SLUG, items(2) + items(1, "old"))
        app.follow.run_once()
        reply = {"20260302-100000-aaaaaa": (parent, "Ben", "Thank you.")}
        publish(tmp_path, app, {"ids": [parent]}, reply)
        app.replies.run_once()
        assert len(app.follow.outbox.queue.entries()) == 2
        assert one_click(app, follow_email).status == 200
        (left,) = app.follow.outbox.queue.entries()
        assert left.meta["kind"] == "replies"
        recorder.answer = ""
        clock.advance(hours=1)
        app.replies.run_once()
        reply_email = recorder.received[-1].message
        assert "replied to your comment" in recorder.received[-1].text
        # Another reply, refused for now; then the reply emails' link.
        recorder.answer = "451 4.3.0 try later"
        reply["20260302-110000-bbbbbb"] = (parent, "Cy", "Me too.")
        publish(tmp_path, app, {"ids": [parent]}, reply)
        app.replies.run_once()
        assert len(app.replies.outbox.queue.entries()) == 1
        sent = len(recorder.received)
        assert one_click(app, reply_email).status == 200
        # (The comment itself waits for a moderator, with its address.)
        for folder in ("reader-mail", "subscribers", "followers"):
            assert files_holding(queue_root(tmp_path) / folder, ADDRESS) == []
        recorder.answer = ""
        clock.advance(hours=1)
        app.replies.run_once()
        app.follow.run_once()
    assert len(recorder.received) == sent


def test_an_unsubscribe_during_a_round_wins(tmp_path, monkeypatch):
    """The worker reads the follow, the reader unsubscribes, the worker
    queues the email with what it read: it is still not sent (the sender
    asks again just before each email) and is removed."""
    with following(tmp_path) as (app, recorder, clock, site):
        link = app.follow.unsubscribe_link(app.follow.store.key(ADDRESS), SLUG, clock())
        path = link[link.index("/unsubscribe") :]
        store_read = app.follow.store.read
        reads: list[int] = []

        def read_then_leave(key):
            found = store_read(key)
            reads.append(1)
            if len(reads) == 2:  # the round's second read, under its lock
                left = request(app, "POST", path, "List-Unsubscribe=One-Click")
                assert left.status == 200
            return found

        monkeypatch.setattr(app.follow.store, "read", read_then_leave)
        clock.advance(hours=1)
        write_feed(site, SLUG, items(1) + items(1, "old"))
        app.follow.run_once()
        assert len(reads) >= 2
        assert app.follow.outbox.queue.entries() == []
    assert len(recorder.received) == 1  # the confirmation only


def test_erase_address_and_unsubscribe_take_one_path(tmp_path):
    """erase-address removes the queued email, and the daily count too."""
    with following(tmp_path) as (app, recorder, _clock, site):
        recorder.answer = "451 4.3.0 try later"
        write_feed(site, SLUG, items(1) + items(1, "old"))
        app.follow.run_once()
    limits = queue_root(tmp_path) / "reader-mail" / "limits"
    assert len(list(limits.iterdir())) == 1  # the confirmation counted
    removed = erase_address(queue_root(tmp_path), SECRET, ADDRESS.upper())
    assert removed == 3  # the store's file, the queued email, the count
    assert list(limits.iterdir()) == []
    assert files_holding(queue_root(tmp_path), ADDRESS) == []


# -- at most LAB_COMMENTS_READER_MAIL_DAILY emails a day to one address


def test_a_daily_limit_per_recipient_holds_the_rest_until_the_window_allows(
    tmp_path,
):
    site = tmp_path / "site"
    write_feed(site, SLUG, items(1, "old"))
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = app_with(tmp_path, port, clock, reader_mail_daily=10)
        confirmed(app, recorder, ADDRESS)
        confirmed(app, recorder, OTHER)
        clock.advance(days=1, hours=1)  # the confirmations are out of the window
        app.follow.run_once()
        write_feed(site, SLUG, items(15) + items(1, "old"))
        app.follow.run_once()
        first_round = clock()
        # Each address has its own count: one's ten leave the other's ten.
        assert len(ids_to(recorder, ADDRESS)) == 1 + 10
        assert len(ids_to(recorder, OTHER)) == 1 + 10
        held = app.follow.outbox.queue.entries()
        assert len(held) == 10
        assert {entry.next_try for entry in held} == {first_round + DAILY_WINDOW}
        assert {entry.attempts for entry in held} == {0}  # held, not failed
        # The limit is kept as send times under a keyed hash: no address.
        limits = queue_root(tmp_path) / "reader-mail" / "limits"
        names = {path.name for path in limits.iterdir()}
        assert len(names) == 2
        assert address_hash(SECRET, ADDRESS) not in names
        assert files_holding(limits, ADDRESS) == files_holding(limits, OTHER) == []
        # A confirmation is never held (at most one a day reaches an address).
        clock.advance(hours=1)
        app.follow.ask(ADDRESS, "second", "each")
        app.follow.run_once(look=False)
        assert len(ids_to(recorder, ADDRESS)) == 1 + 10 + 1
        for _ in range(3):
            clock.advance(hours=6)
            app.follow.run_once(look=False)
        assert len(ids_to(recorder, ADDRESS)) == 12
        clock.advance(hours=5)  # 24 hours after the first round
        app.follow.run_once(look=False)
        assert app.follow.outbox.queue.entries() == []
        clock.advance(days=2)
        app.follow.run_once()  # a look tidies: the counts are past
        assert list(limits.iterdir()) == []
    for address in (ADDRESS, OTHER):
        got = ids_to(recorder, address)
        assert len(got) == len(set(got))  # none twice
    subjects = collections.Counter(
        r.message["Subject"]
        for r in recorder.received
        if "Item" in r.message["Subject"]
    )
    assert len(subjects) == 15 and set(subjects.values()) == {2}


def test_the_daily_limit_is_a_setting(tmp_path):
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "manifest.json"),
    }
    assert config_from_env(environ).reader_mail_daily == 10
    environ["LAB_COMMENTS_READER_MAIL_DAILY"] = "3"
    assert config_from_env(environ).reader_mail_daily == 3
    environ["LAB_COMMENTS_READER_MAIL_DAILY"] = "0"
    with pytest.raises(ConfigError, match="LAB_COMMENTS_READER_MAIL_DAILY"):
        config_from_env(environ)


# -- one recipient refused for good does not stop the round (review item 9)


@dataclasses.dataclass
class Picky(Recorder):
    """Refuses one address: at RCPT (`rcpt`) or at DATA (`data`)."""

    refuse: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    async def handle_RCPT(self, server, session, envelope, address, options):
        step, answer = self.refuse.get(address, ("", ""))
        if step == "rcpt":
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            step, answer = self.refuse.get(address, ("", ""))
            if step == "data":
                return answer
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize(
    ("step", "answer", "given_up"),
    [
        ("rcpt", "550 5.1.1 no such mailbox", True),
        ("data", f"554 5.6.0 message to <{DEAD}> refused", True),
        # Security or policy: the Lab's settings, kept for a retry.
        ("rcpt", "550 5.7.1 relaying denied", False),
        ("data", "451 4.3.0 try later", False),
    ],
)
def test_one_recipient_refused_for_good_does_not_stop_the_round(
    tmp_path, caplog, step, answer, given_up
):
    caplog.set_level(logging.INFO)
    clock = Clock(START)
    recorder = Picky(refuse={DEAD: (step, answer)})
    with smtp_server(recorder) as (recorder, port):
        app = app_with(tmp_path, port, clock)
        # Queued first, so it is the first of the round.
        for address in (DEAD, ADDRESS, OTHER):
            assert app.follow.ask(address, SLUG, "each") is None
            clock.advance(seconds=1)
        app.follow.run_once(look=False)
        received = [r.rcpt_tos for r in recorder.received]
        left = app.follow.outbox.queue.entries()
        if given_up:
            assert received == [[ADDRESS], [OTHER]]
            assert left == []
            ours = [r.getMessage() for r in caplog.records if r.name.startswith("lab")]
            (line,) = [text for text in ours if "given up" in text]
            assert "mail follow-" in line and answer.split()[0] in line
            assert not [text for text in ours if DEAD in text]
        else:
            # As before: kept for a retry with backoff, the round ended.
            assert received == []
            assert [(e.recipients, e.attempts) for e in left] == [
                ((DEAD,), 1),
                ((ADDRESS,), 0),
                ((OTHER,), 0),
            ]
            app.follow.run_once(look=False)
            assert len(recorder.received) == 2
    assert DEAD not in [a for r in recorder.received for a in r.rcpt_tos]


def test_an_address_the_server_cannot_take_is_given_up_at_once(tmp_path, caplog):
    """A non-ASCII address and a server without SMTPUTF8 (aiosmtpd's
    default): it can never be sent, so it is given up in its first round,
    and the others go (not retried for a week, ending each round)."""
    caplog.set_level(logging.INFO)
    clock = Clock(START)
    wide = "v\u00efctim@example.org"
    with smtp_server(utf8=False) as (recorder, port):
        app = app_with(tmp_path, port, clock)
        for address in (wide, ADDRESS):
            assert app.follow.ask(address, SLUG, "each") is None
            clock.advance(seconds=1)
        app.follow.run_once(look=False)
        assert [r.rcpt_tos for r in recorder.received] == [[ADDRESS]]
        assert app.follow.outbox.queue.entries() == []
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("lab")]
    assert [text for text in ours if "given up" in text]


@pytest.mark.parametrize("utf8", [False, True])
def test_a_domain_in_another_script_goes_in_its_ascii_form(tmp_path, utf8):
    """`anna@bücher.example` reaches a server with or without SMTPUTF8 as
    `anna@xn--bcher-kva.example` (IDNA), in the envelope and the To header,
    and its confirmation link works: the follow is kept as typed."""
    typed, wire = "anna@b\u00fccher.example", "anna@xn--bcher-kva.example"
    clock = Clock(START)
    with smtp_server(utf8=utf8) as (recorder, port):
        app = app_with(tmp_path, port, clock)
        message = confirmed(app, recorder, address=typed)
        assert [r.rcpt_tos for r in recorder.received] == [[wire]]
        assert [a.addr_spec for a in message["To"].addresses] == [wire]
        reader = app.follow.store.read(app.follow.store.key(typed))
        assert reader.follows[SLUG]["confirmed"]
        assert app.follow.store.read(app.follow.store.key(wire)) is None


@pytest.mark.parametrize(
    "typed",
    [
        "anna@stra\u00dfe.de",  # IDNA 2003 maps it to strasse.de
        "anna@\uff45xample.com",  # a full-width e
        "anna@exam\u00adple.com",  # a soft hyphen
        "anna@\u2060example.com",  # a word joiner
        "anna@B\u00fccher.example",  # upper case: mapped, but the same domain
    ],
)
def test_an_ascii_form_that_names_another_domain_is_never_used(typed):
    """Python's IDNA codec maps before it encodes: where its ASCII form does
    not decode back to the domain typed, the address goes as typed (to a
    server with SMTPUTF8), never to another domain, and never with many
    typed forms making one mailbox (each with its own confirmation)."""
    wire = wire_address(typed)
    if typed.endswith("cher.example"):
        assert wire == "anna@xn--bcher-kva.example"
        assert address_forms(wire) >= {wire, "anna@b\u00fccher.example"}
    else:
        assert wire == typed
    assert schema.email(typed) == typed


# -- the server hangs up in the middle of a session (must show)


@dataclasses.dataclass
class HangsUp(Recorder):
    """Once `armed`, accepts `after` messages, then drops the connection
    when the next one's data is in, without an answer (the server vanished
    mid-DATA: the client cannot know whether it was taken), once."""

    armed: bool = False
    after: int = 1
    hung_up: int = 0

    async def handle_DATA(self, server, session, envelope):
        if self.armed and not self.hung_up:
            if self.after == 0:
                self.hung_up += 1
                server.transport.abort()
                return "421 4.3.0 gone"  # never reaches the client
            self.after -= 1
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def hangs_up_at_data(port: int) -> Iterator[list[bytes]]:
    """A bare SMTP server on 127.0.0.1 that speaks until DATA, reads part
    of the message and hangs up; what it read is yielded."""
    listener = socket.create_server((HOST, port), reuse_port=False)
    listener.settimeout(0.2)
    read: list[bytes] = []
    stop = threading.Event()

    def session(conn: socket.socket) -> None:
        conn.settimeout(2)
        with conn, conn.makefile("rb") as stream:
            conn.sendall(b"220 bare ESMTP\r\n")
            for line in stream:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 bare\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    read.append(stream.readline())
                    return  # hangs up mid-DATA
                elif verb == b"QUIT":
                    return
                else:
                    conn.sendall(b"250 OK\r\n")

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with contextlib.suppress(OSError):
                session(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield read
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_server_that_hangs_up_mid_session_then_returns_sends_each_once(tmp_path):
    """Five followers' emails: the server takes one and hangs up during the
    second's DATA; then it is gone (refused connections); then a bare one
    hangs up at DATA; then the real one is back. Each email arrives exactly
    once (by Message-ID), within a bounded number of rounds."""
    site = tmp_path / "site"
    write_feed(site, SLUG, items(1, "old"))
    clock = Clock(START)
    port = free_port()
    recorder = HangsUp(after=1)
    readers = [f"reader{n}@example.org" for n in range(5)]
    with smtp_server(recorder, port):
        app = app_with(tmp_path, port, clock)
        for address in readers:
            confirmed(app, recorder, address)
        app.follow.run_once()
        recorder.received.clear()
        recorder.armed = True
        write_feed(site, SLUG, items(1) + items(1, "old"))
        app.follow.run_once()
        assert recorder.hung_up == 1
        assert len(recorder.received) == 1
        assert len(app.follow.outbox.queue.entries()) == 4
    clock.advance(minutes=1)
    with held(port):
        app.follow.run_once(look=False)  # nobody at the port
    with hangs_up_at_data(port) as read:
        clock.advance(minutes=1)
        app.follow.run_once(look=False)
    assert len(read) == 1  # it hung up after part of a message
    assert len(app.follow.outbox.queue.entries()) == 4
    with smtp_server(recorder, port):
        for _ in range(5):
            clock.advance(minutes=5)
            app.follow.run_once(look=False)
            if not app.follow.outbox.queue.entries():
                break
    assert app.follow.outbox.queue.entries() == []
    ids = [r.message["Message-ID"] for r in recorder.received]
    assert len(ids) == len(set(ids)) == 5
    assert sorted(a for r in recorder.received for a in r.rcpt_tos) == readers
