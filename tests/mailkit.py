"""Helpers for the email tests: a real SMTP server (aiosmtpd) on 127.0.0.1
that records what it accepted and can be told to refuse, a server that
accepts connections and never answers, a self-signed certificate made with
the openssl command, and a bounded wait."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from lab_comments.loadtest import HOST, free_port
from lab_comments.mail import MailSettings

USER = "lab-digest"
PASSWORD = "pw-" + "9Zq" * 8  # a canary: no log line may hold it


def local_settings(port: int, sender: str, **changes) -> MailSettings:
    """Mail settings for the test server on 127.0.0.1: no TLS, short
    timeouts and retries (a test waits for them), unless `changes` say."""
    settings = MailSettings(
        host=HOST,
        port=port,
        security="none",
        sender=sender,
        timeout=2,
        retry_seconds=0.2,
    )
    return dataclasses.replace(settings, **changes)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(
            self.data, _class=EmailMessage, policy=email.policy.default
        )

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()


@dataclass
class Recorder:
    """aiosmtpd's handler: keeps each accepted message; while `answer` is
    set (e.g. "451 4.3.0 try later"), answers DATA with it instead."""

    answer: str = ""
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.answer:
                self.refused += 1
                return self.answer
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 2.0.0 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        good = auth_data.login == USER.encode() and auth_data.password == (
            PASSWORD.encode()
        )
        with self.lock:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=good)


@contextlib.contextmanager
def smtp_server(
    recorder: Recorder | None = None,
    port: int | None = None,
    *,
    tls: ssl.SSLContext | None = None,
    starttls: ssl.SSLContext | None = None,
    login: bool = False,
    utf8: bool = True,
) -> Iterator[tuple[Recorder, int]]:
    """aiosmtpd on 127.0.0.1 (a free port unless given): plain, implicit TLS
    (`tls`), or STARTTLS required (`starttls`); a login required when
    `login` (over TLS, or in clear on 127.0.0.1 without either); SMTPUTF8
    offered unless `utf8` is False (a server that takes only ASCII
    addresses)."""
    recorder = recorder or Recorder()
    port = port or free_port()
    options: dict = {"enable_SMTPUTF8": utf8}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if login:
        options.update(
            authenticator=recorder.authenticate,
            auth_required=True,
            auth_require_tls=starttls is not None,
        )
    controller = Controller(
        recorder,
        hostname=HOST,
        port=port,
        ssl_context=tls,
        ready_timeout=10,
        server_hostname="localhost",
        **options,
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that takes connections and never says a word (a hung mail
    server): a client's greeting never comes."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for sock in held:
            sock.close()
        listener.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, made with the
    openssl command (skips the test where there is none)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1"),
            *("-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def held(port: int):
    """`port` bound and not listening (a connection to it is refused), so
    that no other program's connection takes it as its own port before the
    test's server comes back on it."""
    with socket.socket() as sock:
        # Connections the last server closed may wait in TIME_WAIT on it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        yield
