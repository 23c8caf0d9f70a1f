"""Issue 16: moderators are told. Comments sent through the real endpoint
(in-process, and on waitress on 127.0.0.1) make one email digest per
window, sent through a real SMTP server started here (aiosmtpd): plain to
127.0.0.1, STARTTLS and implicit TLS with a self-signed certificate, with a
login. A server that refuses (451, 554), is not there, or never answers
loses no comment: the digest waits on disk and goes once it is back, once.
Every wait is bounded; windows and retries are fractions of a second."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import logging
import re
import time
from pathlib import Path

import pytest
from commentkit import GOOD, SITE, Clock, call, make_app, parse_html_bytes
from mailkit import (
    PASSWORD,
    USER,
    Recorder,
    held,
    local_settings,
    self_signed,
    server_context,
    silent_server,
    smtp_server,
    wait_for,
)

from lab_comments import cli, schema
from lab_comments.delivery import outbox_path
from lab_comments.digest import (
    PULL_OPENING,
    Item,
    Notifier,
    digest_html,
    digest_key,
    digest_text,
    quote,
)
from lab_comments.endpoint import ConfigError, config_from_env
from lab_comments.loadtest import (
    HOST,
    form_body,
    free_port,
    running_server,
    write_manifest,
)
from lab_comments.mail import (
    MailError,
    MailQueue,
    MailSettings,
    new_message,
    smtp_session,
)
from lab_comments.store import atomic_write, dump_yaml

# aiosmtpd warns of a login in clear: only ever on 127.0.0.1, here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"
)

FROM = "Lab comments <comments@lab.example.org>"
MODERATORS = ("mod-one@lab.example.org", "mod-two@lab.example.org")
# A window of 0.6 s: the tests' comments arrive well within it.
WINDOW_MINUTES = 0.01


def plain(port: int, **changes) -> MailSettings:
    return local_settings(port, FROM, **changes)


def endpoint(tmp_path: Path, mail: MailSettings, minutes: float = WINDOW_MINUTES):
    return make_app(
        tmp_path,
        mail=mail,
        moderators=MODERATORS,
        digest_minutes=minutes,
    )


def post(app, number: int, **fields) -> str:
    """One comment through the endpoint; its id."""
    before = set(app.queue.ids())
    body = {**GOOD, "body": f"Comment number {number}.", **fields}
    answer = call(app, body=body, remote=f"203.0.113.{number}")
    assert answer.status == 303, answer.text
    (new,) = set(app.queue.ids()) - before
    return new


@pytest.fixture
def running():
    """Starts notifiers, and stops them all at the end of the test."""
    started: list[Notifier] = []

    def start(notifier: Notifier) -> Notifier:
        notifier.start()
        started.append(notifier)
        return notifier

    yield start
    for notifier in started:
        notifier.stop()


def listed_ids(text: str) -> list[str]:
    return re.findall(r"\(id ([0-9a-z-]+)\)", text)


# -- what a digest says


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ada Lane", "Ada Lane"),
        ("Line one\r\nBcc: x@example.org", "Line one Bcc: x@example.org"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # a bidi override, taken out
        ("zero\u200bwidth", "zerowidth"),
        ("tab\there\x00", "tab here"),
        ("x" * 200, "x" * 39 + "…"),
    ],
)
def test_a_strangers_text_is_one_shortened_line(text, expected):
    assert quote(text, 40) == expected


def test_the_digest_lists_each_comment_and_how_to_moderate_it():
    items = [
        Item("20260101-090000-aaaaaa", "a-post", f"{SITE}/updates/a-post/",
             "Ada", "Hello there", "https://forge.example/lab/site/pull/7"),
        Item("20260101-090001-bbbbbb", "a-post", "", "Bo", "Hi", PULL_OPENING),
        Item("20260101-090002-cccccc", "b-post", "", "Cy", "Hey", ""),
    ]  # fmt: skip
    text = digest_text(items, 15)
    assert listed_ids(text) == [item.id for item in items]
    assert "Pull request: https://forge.example/lab/site/pull/7" in text
    assert "Pull request: being opened" in text
    assert "merge it to publish" in text
    assert "make comments-list" in text and "lab_comments.cli list" in text
    assert "at most once every 15 minutes" in text
    # Queue mode only: no word of pull requests.
    assert "pull request" not in digest_text(items[2:], 15).lower()


def test_the_html_part_holds_readers_words_as_text_only():
    hostile = '<script>alert(1)</script><a href="https://evil.example/">win</a>'
    items = [
        Item("20260101-090000-aaaaaa", "a-post", f"{SITE}/updates/a-post/",
             hostile, hostile, "https://forge.example/lab/site/pull/7"),
        Item("20260101-090001-bbbbbb", "a-post", "", "Bo", "Hi", ""),
    ]  # fmt: skip
    tree = parse_html_bytes(digest_html(items, 15).encode())
    assert tree.find(".//script") is None
    links = [a.get("href") for a in tree.iter("a")]
    assert links == [f"{SITE}/updates/a-post/", "https://forge.example/lab/site/pull/7"]
    quoted = [" ".join(q.itertext()) for q in tree.iter("blockquote")]
    assert quoted[:2] == [quote(hostile, 80), quote(hostile, 100)]
    assert tree.find(".//code").text == "make comments-list"


def test_a_digest_key_is_fixed_by_its_comments():
    assert digest_key(["b", "a"]) == digest_key(["a", "b"]) != digest_key(["a"])


# -- settings


SMTP = {
    "LAB_COMMENTS_SMTP_HOST": "mail.example.org",
    "LAB_COMMENTS_MAIL_FROM": FROM,
    "LAB_COMMENTS_MODERATORS": "a@lab.example.org, Bo <b@lab.example.org>",
    "LAB_COMMENTS_SMTP_USER": USER,
}


def test_email_settings_come_from_the_environment(tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    config = config_from_env({**SMTP, "LAB_COMMENTS_SMTP_PASSWORD_FILE": str(secret)})
    assert config.mail.host == "mail.example.org"
    assert config.mail.security == "starttls" and config.mail.effective_port == 587
    assert config.mail.password == PASSWORD
    assert config.moderators == ("a@lab.example.org", "b@lab.example.org")
    assert config.digest_minutes == 15
    assert PASSWORD not in repr(config)
    tls = config_from_env({**SMTP, "LAB_COMMENTS_SMTP_SECURITY": "TLS"})
    assert tls.mail.effective_port == 465
    # No host, no email.
    assert config_from_env({}).mail is None and config_from_env({}).moderators == ()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"LAB_COMMENTS_SMTP_SECURITY": "none"}, "LAB_COMMENTS_SMTP_SECURITY"),
        ({"LAB_COMMENTS_SMTP_SECURITY": "ssl3"}, "LAB_COMMENTS_SMTP_SECURITY"),
        ({"LAB_COMMENTS_SMTP_PORT": "smtp"}, "LAB_COMMENTS_SMTP_PORT"),
        ({"LAB_COMMENTS_MAIL_FROM": ""}, "LAB_COMMENTS_MAIL_FROM"),
        ({"LAB_COMMENTS_MAIL_FROM": "not an address"}, "LAB_COMMENTS_MAIL_FROM"),
        ({"LAB_COMMENTS_MODERATORS": "a@b.org, nobody"}, "LAB_COMMENTS_MODERATORS"),
        ({"LAB_COMMENTS_MODERATORS": "a@b.org\r\nBcc: c@d.org"},
         "LAB_COMMENTS_MODERATORS"),
        ({"LAB_COMMENTS_SMTP_HOST": ""}, "LAB_COMMENTS_SMTP_HOST"),
        ({"LAB_COMMENTS_SMTP_PASSWORD": PASSWORD,
          "LAB_COMMENTS_SMTP_PASSWORD_FILE": "/x"}, "LAB_COMMENTS_SMTP_PASSWORD_FILE"),
        ({"LAB_COMMENTS_SMTP_PASSWORD_FILE": "/nonexistent/pw"},
         "LAB_COMMENTS_SMTP_PASSWORD_FILE"),
        ({"LAB_COMMENTS_DIGEST_MINUTES": "0"}, "LAB_COMMENTS_DIGEST_MINUTES"),
        ({"LAB_COMMENTS_SMTP_TIMEOUT": "soon"}, "LAB_COMMENTS_SMTP_TIMEOUT"),
        # Said with why: readers' email needs it too.
        ({"LAB_COMMENTS_MODERATORS": " , "},
         "LAB_COMMENTS_MODERATORS: needed with .*same email settings as readers"),
    ],
)  # fmt: skip
def test_a_wrong_email_setting_is_named(changes, named):
    with pytest.raises(ConfigError, match=named) as caught:
        config_from_env({**SMTP, "LAB_COMMENTS_SMTP_PASSWORD": PASSWORD, **changes})
    assert PASSWORD not in str(caught.value)


def test_no_tls_is_allowed_to_this_machine_only():
    for host in ("127.0.0.1", "::1", "localhost"):
        assert MailSettings(host=host, sender=FROM, security="none").port == 0
    with pytest.raises(ValueError, match="only allowed to a server on this machine"):
        MailSettings(host="127.0.0.2.example.org", sender=FROM, security="none")


# -- headers


def test_a_header_cannot_be_injected():
    settings = plain(25)
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        new_message(settings, MODERATORS, "3 new\r\nBcc: x@example.org", "text")


def test_a_hostile_name_reaches_the_body_only(tmp_path, running):
    """Header lines in a name or a body stay in the body, quoted on one
    line; a record with what the form never lets through (CR, LF, a bidi
    override: written past the endpoint) is listed as unreadable, without a
    word of it. The headers and the recipients are the digest's own."""
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, plain(port))
        refused = call(app, body={**GOOD, "name": "Eve\r\nBcc: victim@example.org"})
        assert refused.status == 400
        posted = post(
            app,
            1,
            name="Mallory Bcc: victim@example.org Subject: You won",
            body="First line\nTo: victim@example.org\nSubject: pay now",
        )
        submission = schema.Submission(
            post="a-post",
            name="Eve\r\nBcc: victim@example.org",
            email="m@example.org",
            body="\u202eSecret words\r\nTo: victim@example.org",
        )
        forged, _ = app.queue.add(submission, "203.0.113.9", app.clock())
        running(app.digest)
        wait_for(lambda: recorder.received, 10, "the digest")
    (received,) = recorder.received
    message = received.message
    assert received.rcpt_tos == list(MODERATORS)
    assert message["Subject"] == "2 new comments to moderate"
    assert message.get_all("To") == [", ".join(MODERATORS)]
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
         "MIME-Version", "Content-Type"]
    )  # fmt: skip
    assert message.get_content_type() == "multipart/alternative"
    text = received.text
    assert sorted(listed_ids(text)) == sorted([posted, forged])
    assert "Name:  > Mallory Bcc: victim@example.org Subject: You won" in text
    assert "Text:  > First line\r\n" in text
    assert "It cannot be read" in text
    assert "Eve" not in text and "Secret words" not in text


# -- the digest through the endpoint and a real SMTP server


def test_three_comments_in_one_window_send_one_digest(tmp_path, running):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, plain(port), minutes=0.02)  # 1.2 s
        # All three wait before the worker starts: posted while it ran, a
        # loaded machine could spread them over two windows (the window is
        # shown on a stepped clock below).
        ids = sorted(post(app, n) for n in (1, 2, 3))
        running(app.digest)
        wait_for(lambda: recorder.received, 10, "the digest")
        outbox = MailQueue(tmp_path / "queue" / "mail")
        wait_for(lambda: not outbox.entries(), 10, "the sent digest leaves the queue")
        time.sleep(2.5)  # two windows more: nothing else is sent
    assert len(recorder.received) == 1
    (received,) = recorder.received
    message = received.message
    assert message["Subject"] == "3 new comments to moderate"
    assert message["From"] == FROM
    assert received.mail_from == "comments@lab.example.org"
    assert received.rcpt_tos == list(MODERATORS)
    assert message["Message-ID"] == f"<{digest_key(ids)}@lab.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    text = received.text
    assert listed_ids(text) == ids
    assert text.count("> Ada Lane") == 3
    for n in (1, 2, 3):
        assert f"> Comment number {n}." in text
    assert f"On {SITE}/updates/a-post/" in text
    assert "make comments-list" in text
    html = parse_html_bytes(message.get_body(("html",)).get_content().encode())
    quoted = [" ".join(q.itertext()) for q in html.iter("blockquote")]
    assert sorted(quoted) == sorted(
        [*(f"Comment number {n}." for n in (1, 2, 3)), *["Ada Lane"] * 3]
    )
    # The comments stay pending; nothing waits in the mail queue.
    assert app.queue.ids() == ids
    assert MailQueue(tmp_path / "queue" / "mail").entries() == []


def test_at_most_one_digest_every_fifteen_minutes(tmp_path):
    """The default window, on a stepped clock: three comments in one minute
    make one digest fifteen minutes after the first; a fourth comment a
    minute later waits its own fifteen minutes."""
    clock = Clock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    with smtp_server() as (recorder, port):
        app = make_app(tmp_path, clock=clock, mail=plain(port), moderators=MODERATORS)
        assert app.config.digest_minutes == 15
        app.digest.clock = clock
        ids = []
        for number in (1, 2, 3):
            ids.append(post(app, number))
            app.digest.run_once()
            clock.advance(seconds=20)
        clock.advance(minutes=13, seconds=59)  # 14:59 after the first comment
        app.digest.run_once()
        assert recorder.received == []
        clock.advance(seconds=1)
        app.digest.run_once()
        assert [listed_ids(r.text) for r in recorder.received] == [sorted(ids)]
        clock.advance(minutes=1)
        fourth = post(app, 4)
        for minutes in (1, 13):
            app.digest.run_once()
            clock.advance(minutes=minutes)
        app.digest.run_once()
        assert len(recorder.received) == 1  # 14 minutes: not yet
        clock.advance(minutes=1)
        app.digest.run_once()
        clock.advance(minutes=30)
        app.digest.run_once()  # nothing new: nothing sent
    assert [listed_ids(r.text) for r in recorder.received] == [sorted(ids), [fourth]]
    dates = [r.message["Date"].datetime for r in recorder.received]
    assert dates[1] - dates[0] >= dt.timedelta(minutes=15)


def test_pull_requests_are_linked_when_delivery_opened_them(tmp_path, running):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, plain(port))
        opened, waiting = post(app, 1), post(app, 2)
        outbox = outbox_path(app.queue.root, opened)
        outbox.parent.mkdir(exist_ok=True)
        url = "https://forge.example/lab/site/pull/42"
        for comment_id, record in (
            (opened, {"state": "opened", "branch": "comments/x", "pull": 42,
                      "url": url}),
            (waiting, {"state": "to deliver", "branch": "comments/y"}),
        ):  # fmt: skip
            atomic_write(outbox_path(app.queue.root, comment_id), dump_yaml(record))
        running(app.digest)
        wait_for(lambda: recorder.received, 10, "the digest")
    text = recorder.received[0].text
    assert f"Pull request: {url}" in text
    assert "Pull request: being opened" in text
    assert "make comments-list" not in text


@pytest.mark.parametrize(
    "failure", ["451", "554", "nothing listening", "never answers"]
)
def test_a_failing_server_loses_no_comment(tmp_path, running, failure):
    port = free_port()
    recorder = Recorder()
    app = endpoint(tmp_path, plain(port, timeout=0.5))
    outgoing = tmp_path / "queue" / "mail" / "outgoing"

    def attempts() -> int:
        entries = MailQueue(tmp_path / "queue" / "mail").entries()
        return entries[0].attempts if entries else 0

    with contextlib.ExitStack() as down:
        if failure in ("451", "554"):
            recorder.answer = f"{failure} {failure[0]}.3.0 Not now"
            down.enter_context(smtp_server(recorder, port))
        else:
            down.enter_context(held(port))
            if failure == "never answers":
                silent = down.enter_context(silent_server())
                app.digest.mail = plain(silent, timeout=0.5)
        first = sorted(post(app, n) for n in (1, 2))
        running(app.digest)
        wait_for(lambda: attempts() >= 2, 20, "two failed attempts")
        # Meanwhile: the comments are pending, the digest waits on disk, and
        # a comment that arrives after its window makes no second digest.
        later = post(app, 3)
        time.sleep(0.5)
        assert len(list(outgoing.glob("*.yaml"))) == 1
        assert set(app.queue.ids()) == {*first, later}
    assert recorder.received == []
    # The server is back (the same port, answering).
    recorder.answer = ""
    with smtp_server(recorder, port):
        app.digest.mail = plain(port)
        wait_for(lambda: len(recorder.received) >= 2, 20, "both digests")
        # A digest is received before its queue file is removed.
        wait_for(lambda: not list(outgoing.glob("*.yaml")), 10, "an empty queue")
        time.sleep(1.5)  # nothing more is sent
    assert [listed_ids(r.text) for r in recorder.received] == [first, [later]]
    assert list(outgoing.glob("*.yaml")) == []


def test_a_restart_neither_resends_nor_forgets(tmp_path, running):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, plain(port))
        one = post(app, 1)
        running(app.digest)
        wait_for(lambda: recorder.received, 10, "the first digest")
        app.digest.stop()
        # Taken while nothing sends digests (the endpoint down, say).
        two = post(app, 2)
        again = endpoint(tmp_path, plain(port))
        running(again.digest)
        wait_for(lambda: len(recorder.received) >= 2, 10, "the second digest")
        time.sleep(1.5)  # nothing more is sent
    assert [listed_ids(r.text) for r in recorder.received] == [[one], [two]]


def test_a_crash_after_queueing_a_digest_sends_it_once(tmp_path, monkeypatch):
    """The digest is on disk before the state says its comments were told:
    a crash between the two is mended from the queued digest's ids."""
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, plain(port), minutes=0.0001)
        ids = sorted(post(app, n) for n in (1, 2))
        crashed = app.digest
        crashed.run_once()  # opens the window
        time.sleep(0.1)  # the window is over

        def crash(state):
            raise SystemExit("killed")

        monkeypatch.setattr(crashed, "write_state", crash)
        with pytest.raises(SystemExit):
            crashed.run_once()
        assert len(crashed.outbox.entries()) == 1 and not recorder.received
        restarted = endpoint(tmp_path, plain(port), minutes=0.0001).digest
        for _ in range(3):
            restarted.run_once()
    assert [listed_ids(r.text) for r in recorder.received] == [ids]


def test_a_sent_message_is_never_queued_or_sent_again(tmp_path):
    settings = plain(25)
    outbox = MailQueue(tmp_path / "mail").open()
    now = dt.datetime.now(dt.UTC)
    message = new_message(settings, MODERATORS, "1 new comment to moderate", "x")
    sent: list[str] = []

    class Session:
        def send(self, message, recipients):
            sent.append(message["Message-ID"])

    @contextlib.contextmanager
    def connect(settings):
        yield Session()

    assert outbox.add("digest-one", message, MODERATORS, now)
    assert not outbox.add("digest-one", message, MODERATORS, now)  # queued
    assert outbox.deliver(settings, now, connect) == (1, 0)
    assert not outbox.add("digest-one", message, MODERATORS, now)  # sent
    # Accepted, marked sent, then killed before the file went: the next
    # round removes it without sending.
    assert outbox.add("digest-two", message, MODERATORS, now)
    atomic_write(outbox.sent_dir / "digest-two", b"x")
    assert outbox.deliver(settings, now, connect) == (0, 0)
    assert len(sent) == 1 and outbox.entries() == []


def test_a_digest_refused_for_the_pending_days_is_given_up(tmp_path, caplog):
    outbox = MailQueue(tmp_path / "mail").open()
    now = dt.datetime.now(dt.UTC)
    message = new_message(plain(25), MODERATORS, "1 new comment", "x")
    outbox.add("digest-old", message, MODERATORS, now - dt.timedelta(days=31))
    outbox.add("digest-new", message, MODERATORS, now - dt.timedelta(days=29))
    assert outbox.expire(now, 30) == 1
    assert [entry.key for entry in outbox.entries()] == ["digest-new"]
    assert "digest-old given up" in caplog.text


def test_mail_test_sends_one_email_now_or_says_why_not(tmp_path, capsys):
    with smtp_server(login=True) as (recorder, port):
        environ = {
            "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
            "LAB_COMMENTS_SMTP_HOST": HOST,
            "LAB_COMMENTS_SMTP_PORT": str(port),
            "LAB_COMMENTS_SMTP_SECURITY": "none",
            "LAB_COMMENTS_SMTP_USER": USER,
            "LAB_COMMENTS_SMTP_PASSWORD": PASSWORD,
            "LAB_COMMENTS_SMTP_TIMEOUT": "2",
            "LAB_COMMENTS_MAIL_FROM": FROM,
            "LAB_COMMENTS_MODERATORS": ", ".join(MODERATORS),
        }
        assert cli.main(["mail-test"], environ) == 0
        wrong = {**environ, "LAB_COMMENTS_SMTP_PASSWORD": "wrong-" + PASSWORD}
        assert cli.main(["mail-test"], wrong) == 1
    assert cli.main(["mail-test"], environ) == 1  # the server is gone
    assert cli.main(["mail-test"], {"LAB_COMMENTS_QUEUE": environ[
        "LAB_COMMENTS_QUEUE"]}) == 1  # fmt: skip
    (received,) = recorder.received
    assert received.rcpt_tos == list(MODERATORS)
    assert received.message["Subject"] == "Test email from the comments endpoint"
    out = capsys.readouterr()
    assert "Sent a test email" in out.out
    assert out.err.count("the test email was not sent") == 2
    assert "no email is set up" in out.err
    assert PASSWORD not in out.out + out.err


# -- TLS and login


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_a_login(tmp_path, running, security, caplog):
    cert, key = self_signed(tmp_path)
    context = server_context(cert, key)
    tls = {"tls": context} if security == "tls" else {"starttls": context}
    caplog.set_level(logging.DEBUG)
    with smtp_server(login=True, **tls) as (recorder, port):
        settings = plain(
            port, security=security, ca_file=cert,
            user=USER, password=PASSWORD,
        )  # fmt: skip
        app = endpoint(tmp_path, settings)
        comment_id = post(app, 1)
        running(app.digest)
        wait_for(lambda: recorder.received, 10, "the digest")
    assert recorder.logins == [USER]
    assert listed_ids(recorder.received[0].text) == [comment_id]
    assert PASSWORD not in caplog.text


def test_an_untrusted_certificate_or_a_server_without_starttls_is_refused(tmp_path):
    cert, key = self_signed(tmp_path)
    outbox = MailQueue(tmp_path / "mail").open()
    now = dt.datetime.now(dt.UTC)
    with smtp_server(starttls=server_context(cert, key)) as (recorder, port):
        # The system's authorities do not know a self-signed certificate.
        settings = plain(port, security="starttls")
        message = new_message(settings, MODERATORS, "1 new comment", "x")
        outbox.add("digest-a", message, MODERATORS, now)
        assert outbox.deliver(settings, now) == (0, 1)
    with smtp_server() as (recorder, port):
        # No STARTTLS offered: never sent in clear instead.
        settings = plain(port, security="starttls", ca_file=cert)
        with pytest.raises(MailError, match="STARTTLS"), smtp_session(settings):
            pass
        assert outbox.deliver(settings, now + dt.timedelta(hours=2)) == (0, 1)
    assert recorder.received == [] and len(outbox.entries()) == 1


def test_a_wrong_password_is_retried_and_never_logged(tmp_path, running, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + PASSWORD
    with smtp_server(login=True) as (recorder, port):
        app = endpoint(tmp_path, plain(port, user=USER, password=wrong, timeout=1))
        post(app, 1)
        running(app.digest)
        # The queue file is rewritten before the line is logged, so the
        # wait is on the line itself: waiting on the file raced the log.
        wait_for(
            lambda: "not sent (attempt 2" in caplog.text, 20, "two failed attempts"
        )
        assert all(e.attempts >= 2 for e in app.digest.outbox.entries())
        assert recorder.received == [] and recorder.logins
    assert wrong not in caplog.text and PASSWORD not in caplog.text


# -- on a real server


def served_environ(tmp_path: Path, smtp_port: int, **changes: str) -> dict:
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}})
    return {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "digest-" + "s" * 40,
        "LAB_COMMENTS_RATE_LIMIT": "100",
        "LAB_COMMENTS_SMTP_HOST": HOST,
        "LAB_COMMENTS_SMTP_PORT": str(smtp_port),
        "LAB_COMMENTS_SMTP_SECURITY": "none",
        "LAB_COMMENTS_SMTP_USER": USER,
        "LAB_COMMENTS_SMTP_PASSWORD": PASSWORD,
        "LAB_COMMENTS_MAIL_FROM": FROM,
        "LAB_COMMENTS_MODERATORS": ", ".join(MODERATORS),
        # 6 s: the test's posts, over HTTP to a busy server, fall in one.
        "LAB_COMMENTS_DIGEST_MINUTES": "0.1",
        **changes,
    }


def post_served(server, text: str) -> None:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/comments",
            form_body({**GOOD, "body": text}),
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE},
        )
        assert connection.getresponse().status == 303
    finally:
        connection.close()


def test_the_served_endpoint_sends_one_digest(tmp_path):
    with smtp_server(login=True) as (recorder, smtp_port):
        log = tmp_path / "server.log"
        with running_server(served_environ(tmp_path, smtp_port), log) as server:
            for n in (1, 2, 3):
                post_served(server, f"Served comment {n}.")
            wait_for(lambda: recorder.received, 20, "the digest")
            time.sleep(2)  # nothing more is sent
    assert len(recorder.received) == 1
    text = recorder.received[0].text
    assert len(listed_ids(text)) == 3
    for n in (1, 2, 3):
        assert f"> Served comment {n}." in text
    logged = log.read_text()
    assert "moderators' digest" in logged and PASSWORD not in logged


def test_a_killed_endpoint_sends_its_waiting_digest_once(tmp_path):
    """kill -9 of the served endpoint while its digest waits for a refusing
    server: the next process sends it, once, and tells the next comment in
    a digest of its own."""
    outgoing = tmp_path / "queue" / "mail" / "outgoing"
    recorder = Recorder(answer="451 4.3.0 Not now")
    with smtp_server(recorder, login=True) as (recorder, smtp_port):
        environ = served_environ(
            tmp_path, smtp_port, LAB_COMMENTS_MAIL_RETRY_SECONDS="0.3"
        )
        with running_server(environ, tmp_path / "one.log") as server:
            for n in (1, 2):
                post_served(server, f"Before the kill {n}.")
            wait_for(lambda: recorder.refused >= 1, 20, "a refused attempt")
            server.process.kill()
            server.process.wait(timeout=10)
        assert len(list(outgoing.glob("*.yaml"))) == 1
        recorder.answer = ""
        with running_server(environ, tmp_path / "two.log") as server:
            wait_for(lambda: recorder.received, 20, "the waiting digest")
            post_served(server, "After the restart.")
            wait_for(lambda: len(recorder.received) >= 2, 20, "the next digest")
            wait_for(lambda: not list(outgoing.glob("*.yaml")), 10, "no queue")
            time.sleep(2)  # nothing more is sent
    texts = [received.text for received in recorder.received]
    assert len(texts) == 2
    assert "> Before the kill 1." in texts[0] and "> Before the kill 2." in texts[0]
    assert len(listed_ids(texts[0])) == 2
    assert len(listed_ids(texts[1])) == 1 and "> After the restart." in texts[1]
    assert list(outgoing.glob("*.yaml")) == []
