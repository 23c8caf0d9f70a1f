"""Sending email: the SMTP settings, a session that sends, and a queue of
outgoing messages on disk, so that a mail server that is down, refusing or
slow loses nothing.

Used by the moderators' digest (digest.py); kept free of what a digest says,
so that other email (issue 19's to readers) can go the same way.

**Security.** "starttls" (the default, port 587) or "tls" (implicit TLS,
port 465) with the system's certificate authorities (or LAB_COMMENTS_SMTP_CA_FILE)
and the host name checked; "none" only to this machine (127.0.0.1, ::1,
localhost: a local relay, or a test's server). A login when a user is set;
the password is never logged, never in a repr, never in a message of ours.
Every step (connect, greeting, each command, the data) has a timeout.

**Headers.** Messages are `EmailMessage`s with the SMTP policy (and 7-bit
transfer encodings, so that a queued message is ASCII text), which refuses
a header value holding CR or LF: what strangers wrote belongs in the body.

**The queue.** `<folder>/outgoing/<key>.yaml` holds one message, its
recipients, its attempts and when to try next, written atomically before any
attempt to send it. After the server accepts it, `<folder>/sent/<key>` is
written, then the outgoing file removed; a key already queued or sent is
not queued again (so a caller that names its messages by what they are
about never queues one twice). A failed attempt (refused, 4xx or 5xx, no
answer, a timeout, TLS or login failure: for the Lab's own relay a 5xx is
a setting to fix, not a reason to drop the message) is retried after
`retry_seconds`, doubling each time up to an hour, and ends the round.
Readers' email is sent through a `Gate` (subscriptions.ReaderOutbox): there
a message whose recipient or data the server refuses for good (a 5xx that
is not about security or policy) is given up and the round goes on, since
one reader's dead address must not hold up everyone else's email.

The one window where a message can go out twice: the server has accepted
it and the process dies (kill -9, power) before `sent/<key>` is on disk.
SMTP has no way to ask a server whether it took a message, so that window
cannot be closed; it is kept to one small file write, and every message has
a fixed Message-ID, so a duplicate is recognisable (and mail systems often
drop it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.policy
import logging
import re
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

from . import schema
from .store import (
    TEMP_PREFIX,
    StoreError,
    atomic_write,
    clean_temp_files,
    dump_yaml,
    load_yaml,
    make_dir,
    remove_file,
)

logger = logging.getLogger(__name__)

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
# "none" (no TLS) only to a server on this machine: a password or a
# message sent in clear never crosses a network.
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Quoted-printable or base64 for anything not ASCII: the queued text is ASCII
# and any server takes it, with or without 8BITMIME.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
# The longest wait between two attempts to send one message.
MAX_BACKOFF = 3600.0
# Markers of sent messages are kept this long (a key sent within it is not
# queued again).
SENT_DAYS = 30
KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")


class MailError(Exception):
    """A message could not be sent now; the text says why (never a secret).
    `permanent`: the server refused this message or its recipient for good
    (see `_permanent`); the connection is still usable for the next one."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class MailSettings:
    """How to reach the mail server. ValueError on creation names the
    environment variable that is wrong."""

    host: str
    sender: str  # the From: "Lab comments <comments@lab.example.org>"
    security: str = "starttls"
    port: int = 0  # 0: the usual port for `security`
    user: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    timeout: float = 30.0  # seconds, for each step
    retry_seconds: float = 60.0  # the first wait after a failed attempt

    def __post_init__(self):
        if self.security not in SECURITY:
            raise ValueError(
                f"LAB_COMMENTS_SMTP_SECURITY: {self.security!r} is not one of "
                + ", ".join(SECURITY)
            )
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError("LAB_COMMENTS_SMTP_HOST: a host name or address")
        if self.security == "none" and self.host.lower() not in LOCAL_HOSTS:
            raise ValueError(
                "LAB_COMMENTS_SMTP_SECURITY: none is only allowed to a server on "
                "this machine (127.0.0.1, ::1, localhost); use starttls or tls"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError("LAB_COMMENTS_SMTP_PORT: a port number")
        if self.password and not self.user:
            raise ValueError("LAB_COMMENTS_SMTP_USER: needed with a password")
        if self.timeout <= 0 or self.retry_seconds <= 0:
            raise ValueError(
                "LAB_COMMENTS_SMTP_TIMEOUT, LAB_COMMENTS_MAIL_RETRY_SECONDS: "
                "must be more than 0"
            )
        parse_address(self.sender, "LAB_COMMENTS_MAIL_FROM")

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def envelope_sender(self) -> str:
        return parse_address(self.sender, "LAB_COMMENTS_MAIL_FROM").addr_spec


def parse_address(value: str, setting: str) -> Address:
    """One address, bare or with a display name ("Lab <a@b.org>"), through
    the email package's own parser; ValueError naming `setting` otherwise."""
    message = EmailMessage(policy=POLICY)
    try:
        message["To"] = value
        addresses = message["To"].addresses
    except (ValueError, IndexError, TypeError):
        addresses = ()
    if len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise ValueError(f"{setting}: {value!r} is not one email address")
    return addresses[0]


def parse_addresses(value: str, setting: str) -> tuple[str, ...]:
    """Comma-separated addresses (each with or without a display name),
    as bare addresses; ValueError naming `setting` when one is not."""
    found = tuple(
        parse_address(part.strip(), setting).addr_spec
        for part in value.split(",")
        if part.strip()
    )
    if not found:
        raise ValueError(f"{setting}: at least one email address")
    return found


def new_message(
    settings: MailSettings,
    to: Sequence[str],
    subject: str,
    text: str,
    *,
    html: str | None = None,
    message_id: str | None = None,
    now: dt.datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A message from the configured sender: a plain text part, and an HTML
    alternative when given. A header value with CR or LF (a stranger's text
    where it does not belong) raises ValueError."""
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.sender
    message["To"] = ", ".join(wire_address(address) for address in to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    message["Message-ID"] = message_id or make_msgid(domain=sender_domain(settings))
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def wire_address(address: str) -> str:
    """`address` as it goes to the mail server: a domain in another script
    (`anna@bücher.example`) in its ASCII form (IDNA, `xn--`), which every
    server takes, where the form as typed needs one that offers SMTPUTF8.
    A local part in another script still needs SMTPUTF8: only the domain
    has an ASCII form. Only the wire has it: the subscription, its hash
    and the daily limit keep the address as the reader typed it."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        back = ascii_domain.encode("ascii").decode("idna")
    except UnicodeError:
        # No ASCII form (a label too long, a character IDNA forbids): as
        # typed, for a server with SMTPUTF8.
        return address
    if back != domain.lower():
        # Python's codec is IDNA 2003, which maps before it encodes (ß to
        # ss, full-width letters to ASCII, soft hyphens and joiners out):
        # the ASCII form would be another domain, and many typed forms one
        # mailbox, each with its own daily confirmation. As typed instead.
        return address
    return f"{local}@{ascii_domain}"


def address_forms(address: str) -> set[str]:
    """The forms one reader's address may be given in: as typed, its ASCII
    form (`wire_address`, what their emails show) and, from an ASCII form,
    the domain in its own script (for erasing what either form keeps)."""
    forms = {address, wire_address(address)}
    local, at, domain = address.rpartition("@")
    if at and "xn--" in domain.lower():
        with contextlib.suppress(UnicodeError):
            forms.add(f"{local}@{domain.encode('ascii').decode('idna')}")
    return forms


def sender_domain(settings: MailSettings) -> str:
    return parse_address(settings.sender, "LAB_COMMENTS_MAIL_FROM").domain


# -- sending


class Session(Protocol):
    def send(self, message: EmailMessage, recipients: Sequence[str]) -> None: ...


class SmtpSession:
    """One connection to the server, logged in; `send` may be called for
    several messages. MailError for anything that goes wrong."""

    def __init__(self, smtp: smtplib.SMTP, settings: MailSettings):
        self.smtp = smtp
        self.settings = settings

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> None:
        try:
            refused = self.smtp.send_message(
                message,
                from_addr=self.settings.envelope_sender,
                to_addrs=[wire_address(address) for address in recipients],
            )
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(_reason(exc), _permanent(exc)) from None
        if refused:
            # The others have it: sending again would give them a second
            # copy, so the refused ones are only logged.
            logger.warning(
                "mail %s: the server refused %d of %d recipients (%s)",
                message["Message-ID"],
                len(refused),
                len(recipients),
                "; ".join(f"{code}" for code, _ in refused.values()),
            )


@contextlib.contextmanager
def smtp_session(
    settings: MailSettings, context: ssl.SSLContext | None = None
) -> Iterator[SmtpSession]:
    """A connection to the server as `settings` say (TLS, login), closed on
    exit; MailError when it cannot be made."""
    if context is None and settings.security != "none":
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
    host, port, timeout = settings.host, settings.effective_port, settings.timeout
    try:
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"cannot connect to {host}:{port}: {_reason(exc)}") from None
    try:
        try:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.user:
                smtp.login(settings.user, settings.password)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"{host}:{port}: {_reason(exc)}") from None
        yield SmtpSession(smtp, settings)
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _permanent(exc: BaseException) -> bool:
    """Whether the server refused this message for good: a 5xx to every
    recipient (RCPT; smtplib resets the session, so it goes on) or to its
    DATA. Not a 5.7.x (security or policy: relaying denied, a login needed)
    nor 530/535: those are the Lab's settings to fix, and giving up would
    drop every message of the queue while they are wrong."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # An address with non-ASCII characters, and a server without
        # SMTPUTF8: it can never take it.
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPDataError):
        answers = [(exc.smtp_code, exc.smtp_error)]
    else:
        return False
    return bool(answers) and all(_final(code, words) for code, words in answers)


def _final(code: int, words: bytes | str) -> bool:
    if isinstance(words, bytes):
        words = words.decode("utf-8", "replace")
    policy = str(words).lstrip().startswith("5.7.")
    return 500 <= code < 600 and code not in (530, 535) and not policy


def _unnamed(reason: str, recipients: Sequence[str]) -> str:
    """`reason` with the recipients' addresses taken out."""
    for address in {*recipients, *map(wire_address, recipients)}:
        reason = re.sub(re.escape(address), "(the address)", reason, flags=re.I)
    return reason


def _reason(exc: BaseException) -> str:
    """What went wrong, in a line: the server's code and words, or the kind
    of network error. smtplib's messages never hold the password (its login
    sends it encoded and reports only the server's answer)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        words = exc.smtp_error
        if isinstance(words, bytes):
            words = words.decode("utf-8", "replace")
        return f"{exc.smtp_code} {' '.join(str(words).split())[:200]}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # The codes only: the keys are the addresses.
        codes = ", ".join(str(code) for code, _ in exc.recipients.values())
        return f"every recipient was refused ({codes})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


# -- the queue on disk


class Gate(Protocol):
    """What a queue's sender asks before and after each message (readers'
    email: subscriptions.ReaderOutbox)."""

    def wanted(self, entry: Outgoing) -> bool: ...

    def held_until(self, entry: Outgoing, now: dt.datetime) -> dt.datetime | None: ...

    def sent(self, entry: Outgoing, now: dt.datetime) -> None: ...


@dataclass(frozen=True)
class Outgoing:
    """A queued message, as its file holds it."""

    key: str
    recipients: tuple[str, ...]
    message: str
    queued: dt.datetime
    next_try: dt.datetime
    attempts: int = 0
    last_error: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "recipients": list(self.recipients),
            "queued": stamp(self.queued),
            "next_try": stamp(self.next_try),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "meta": dict(self.meta),
            "message": self.message,
        }


def stamp(moment: dt.datetime) -> str:
    """A time as the queue's files hold it: UTC, to the microsecond (the
    comments' own dates keep whole seconds; a retry can come sooner)."""
    return moment.astimezone(dt.UTC).isoformat()


def check_key(key: str) -> str:
    if not KEY.fullmatch(key):
        raise StoreError(f"{key!r} is not a mail key (a-z, 0-9, -)")
    return key


def backoff(settings: MailSettings, attempts: int) -> float:
    """Seconds to wait after the `attempts`th failed attempt."""
    return min(MAX_BACKOFF, settings.retry_seconds * 2 ** max(0, attempts - 1))


class MailQueue:
    """Outgoing messages in `root` (see the module docstring). One process
    delivers at a time (the caller holds a lock: digest.Notifier)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.outgoing_dir = self.root / "outgoing"
        self.sent_dir = self.root / "sent"

    def open(self) -> MailQueue:
        for folder in (self.root, self.outgoing_dir, self.sent_dir):
            make_dir(folder)
            clean_temp_files(folder)
        return self

    def path(self, key: str) -> Path:
        return self.outgoing_dir / f"{check_key(key)}.yaml"

    def was_sent(self, key: str) -> bool:
        return (self.sent_dir / check_key(key)).exists()

    def add(
        self,
        key: str,
        message: EmailMessage,
        recipients: Sequence[str],
        now: dt.datetime,
        meta: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a message under `key`, on disk when this returns; False
        (nothing done) when that key is queued or was sent already."""
        path = self.path(key)
        if path.exists() or self.was_sent(key):
            return False
        entry = Outgoing(
            key=key,
            recipients=tuple(recipients),
            message=message.as_string(),
            queued=now,
            next_try=now,
            meta=dict(meta or {}),
        )
        atomic_write(path, dump_yaml(entry.record()))
        return True

    def entries(self) -> list[Outgoing]:
        """Every queued message, oldest first; an unreadable file is logged
        and left for a person to look at (never sent half-understood)."""
        found = []
        for path in sorted(self.outgoing_dir.glob("*.yaml")):
            if path.name.startswith(TEMP_PREFIX):
                continue
            try:
                found.append(_outgoing(load_yaml(path.read_bytes())))
            except (OSError, StoreError, KeyError, TypeError, ValueError):
                logger.error("mail queue: %s cannot be read; it is left as it is", path)
        return sorted(found, key=lambda entry: (entry.queued, entry.key))

    def deliver(
        self,
        settings: MailSettings,
        now: dt.datetime,
        connect=smtp_session,
        gate: Gate | None = None,
    ) -> tuple[int, int]:
        """Send what is due, over one connection; (sent, failed). A failure
        of the server (no connection, a 4xx, a timeout) ends the round (it
        is likely down for the rest too); each failed message waits its own
        backoff. With a `gate` (readers' email), a message the server
        refuses for good (MailError.permanent) is given up and the round
        goes on, a message the gate no longer wants is removed unsent, and
        one it holds waits until then, with no attempt counted."""
        due = [entry for entry in self.entries() if entry.next_try <= now]
        sent = failed = 0
        if not due:
            return sent, failed
        with contextlib.ExitStack() as stack:
            session = None
            for entry in due:
                if self.was_sent(entry.key):
                    # Sent, and the process stopped before the file went.
                    remove_file(self.path(entry.key))
                    continue
                if not self.path(entry.key).exists():
                    continue  # removed during the round (an unsubscribe)
                if gate is not None and self._gated(gate, entry, now):
                    continue
                try:
                    if session is None:
                        session = stack.enter_context(connect(settings))
                    session.send(_parsed(entry.message), entry.recipients)
                except MailError as exc:
                    failed += 1
                    # A server's words may quote the address: logged as a key.
                    reason = _unnamed(str(exc), entry.recipients)
                    if gate is not None and exc.permanent:
                        self._given_up(entry, reason)
                        continue
                    self._failed(settings, entry, reason, now)
                    break
                self._sent(entry.key, now)
                if gate is not None:
                    gate.sent(entry, now)
                sent += 1
        return sent, failed

    def _gated(self, gate: Gate, entry: Outgoing, now: dt.datetime) -> bool:
        """Whether `gate` keeps `entry` from being sent in this round."""
        if not gate.wanted(entry):
            remove_file(self.path(entry.key))
            logger.info("mail %s removed unsent: its subscription ended", entry.key)
            return True
        until = gate.held_until(entry, now)
        if until is None:
            return False
        held = dataclasses.replace(entry, next_try=until)
        atomic_write(self.path(entry.key), dump_yaml(held.record()))
        logger.info("mail %s held by its recipient's limit until %s", entry.key, until)
        return True

    def _given_up(self, entry: Outgoing, reason: str) -> None:
        # Logged by key: the address stays out of the logs.
        remove_file(self.path(entry.key))
        logger.error("mail %s given up: refused for good (%s)", entry.key, reason)

    def _sent(self, key: str, now: dt.datetime) -> None:
        # The marker first: a crash between the two leaves the marker, and
        # the next round removes the file without sending again.
        atomic_write(self.sent_dir / key, stamp(now).encode())
        remove_file(self.path(key))
        logger.info("mail %s sent", key)

    def _failed(
        self, settings: MailSettings, entry: Outgoing, reason: str, now: dt.datetime
    ) -> None:
        attempts = entry.attempts + 1
        wait = backoff(settings, attempts)
        updated = Outgoing(
            key=entry.key,
            recipients=entry.recipients,
            message=entry.message,
            queued=entry.queued,
            next_try=now + dt.timedelta(seconds=wait),
            attempts=attempts,
            last_error=reason,
            meta=entry.meta,
        )
        atomic_write(self.path(entry.key), dump_yaml(updated.record()))
        log = logger.warning if attempts < 5 else logger.error
        log(
            "mail %s not sent (attempt %d: %s); kept, next attempt in %.1f s",
            entry.key,
            attempts,
            reason,
            wait,
        )

    def next_due(self) -> dt.datetime | None:
        entries = self.entries()
        return min((entry.next_try for entry in entries), default=None)

    def expire(self, now: dt.datetime, days: float) -> int:
        """Give up messages queued more than `days` ago (the server has
        refused them all that time: logged as an error each); what they
        hold about readers is then kept no longer than the comments are."""
        limit = now - dt.timedelta(days=days)
        removed = 0
        for entry in self.entries():
            if entry.queued < limit and remove_file(self.path(entry.key)):
                removed += 1
                if not entry.attempts:
                    # Never tried: held all that time (a reader's daily limit).
                    logger.error(
                        "mail %s given up unsent after %g days, held back",
                        entry.key,
                        days,
                    )
                    continue
                logger.error(
                    "mail %s given up after %d attempts over %g days (last: %s)",
                    entry.key,
                    entry.attempts,
                    days,
                    entry.last_error,
                )
        return removed

    def purge_sent(self, now: dt.datetime, days: int = SENT_DAYS) -> int:
        limit = (now - dt.timedelta(days=days)).timestamp()
        removed = 0
        for path in self.sent_dir.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                continue
            try:
                old = path.stat().st_mtime < limit
            except FileNotFoundError:
                continue
            if old and remove_file(path):
                removed += 1
        return removed


def _outgoing(data: Any) -> Outgoing:
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    recipients = data["recipients"]
    if not isinstance(recipients, list) or not recipients:
        raise ValueError("no recipients")
    message = data["message"]
    if not isinstance(message, str):
        raise ValueError("no message")
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError("meta")
    return Outgoing(
        key=check_key(str(data["key"])),
        recipients=tuple(str(r) for r in recipients),
        message=message,
        queued=schema.utc_datetime(data["queued"]),
        next_try=schema.utc_datetime(data["next_try"]),
        attempts=int(data.get("attempts", 0)),
        last_error=str(data.get("last_error", "")),
        meta=meta,
    )


def _parsed(text: str) -> EmailMessage:
    return email.message_from_string(text, _class=EmailMessage, policy=POLICY)
