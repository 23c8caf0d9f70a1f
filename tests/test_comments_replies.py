"""Email when someone replies (lab_comments.replies, subscriptions): through
the real endpoint in-process with a real SMTP server (aiosmtpd on
127.0.0.1), replies published through the manifest (written as the build
writes it, and once by a real build of a fixture site), and once on a real
waitress server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from commentkit import (
    EXISTING,
    GOOD,
    SECRET,
    SITE,
    Clock,
    build_fixture,
    call,
    comment,
    fixture_site,
    make_app,
    page_text,
    parse_html_bytes,
)
from deploykit import exchange
from followkit import mail_settings
from mailkit import Recorder, smtp_server, wait_for

from lab_comments import cli, schema
from lab_comments.endpoint import CommentsApp, Config
from lab_comments.loadtest import HOST, running_server, write_manifest
from lab_comments.mail import MailSettings
from lab_comments.replies import UNSUBSCRIBE_DAYS, reply_email
from lab_comments.store import Published
from lab_comments.subscriptions import (
    CONFIRM,
    UNSUBSCRIBE,
    Subscribers,
    address_hash,
    find,
    sign,
    verify,
)

FROM = "Lab comments <comments@lab.example.org>"
PUBLIC = "https://comments.lab.example.org"
REPLY_TO = "team@lab.example.org"
# Canary addresses: none may appear anywhere public.
READER = "canary-reader-7f3q@example.org"
REPLIER = "canary-replier-9k2w@example.org"


def plain(port: int) -> MailSettings:
    return dataclasses.replace(mail_settings(port), sender=FROM)


def endpoint(folder: Path, port: int, clock: Clock, posts=None) -> CommentsApp:
    return make_app(
        folder,
        posts,
        clock,
        mail=plain(port),
        moderators=("mod@lab.example.org",),
        public_url=PUBLIC,
        reply_to=REPLY_TO,
    )


def send(app, remote: str = "203.0.113.7", **fields) -> str:
    """One comment through the endpoint; its id."""
    before = set(app.queue.ids())
    answer = call(app, body={**GOOD, **fields}, remote=remote)
    assert answer.status == 303, answer.text
    (new,) = set(app.queue.ids()) - before
    return new


def publish(folder: Path, app, posts: dict, replies: dict) -> None:
    """A manifest as the build writes it, with these replies on a-post
    (each: id -> (to, name, text)); moved to a new stamp."""
    entry = {
        "comments": sorted({EXISTING, *posts.get("ids", []), *replies}),
        "title": "Our first update",
    }
    if replies:
        entry["replies"] = {
            reply_id: {
                "to": to,
                "name": name,
                "text": text,
                "url": f"{SITE}/updates/a-post/#comment-{reply_id}",
            }
            for reply_id, (to, name, text) in replies.items()
        }
    path = app.manifest.path
    write_manifest(path, SITE, {"a-post": entry})
    # A new stamp even within the file system's time resolution.
    later = time.time_ns() + 5_000_000_000
    os.utime(path, ns=(later, later))


def link_in(text: str, path: str) -> str:
    (found,) = set(re.findall(rf"{re.escape(PUBLIC)}{path}\?t=[0-9a-z.~-]+", text))
    return found[len(PUBLIC) :]


def confirm(app, received) -> None:
    target = link_in(received.text, "/subscriptions/confirm")
    shown = call(app, "GET", path=target, headers={"Origin": None})
    assert shown.status == 200
    assert "Confirm" in page_text(shown)
    # A GET (a mail scanner following the link) confirms nothing.
    key, kind, comment_id = target.split("t=")[1].split(".")[0].split("~")
    record = app.replies.subscribers.read(key)
    assert kind == "replies"
    assert find(record, kind, comment_id)["confirmed"] is None
    answer = call(app, path=target, body={"List-Unsubscribe": "One-Click"})
    assert answer.status == 200, answer.text


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC))


def to(recorder: Recorder, address: str) -> list:
    return [r for r in recorder.received if address in r.rcpt_tos]


# -- the whole path, in-process


def test_a_confirmed_reader_gets_exactly_one_email_per_published_reply(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        parent = send(app, email=READER, notify="on", reply_to=EXISTING)
        app.replies.run_once()
        (confirmation,) = to(recorder, READER)
        assert "/subscriptions/confirm?t=" in confirmation.text
        # Before confirming: a published reply tells nobody.
        reply = send(
            app,
            email=REPLIER,
            name="Ben Ode",
            body="Thanks, I agree.",
            remote="9.9.9.9",
        )
        publish(tmp_path, app, {"ids": [parent]}, {reply: (parent, "Ben Ode", "x")})
        app.replies.run_once()
        assert len(to(recorder, READER)) == 1
        # Confirmed: replies published from now on are told, once each.
        confirm(app, confirmation)
        app.replies.run_once()
        assert len(to(recorder, READER)) == 2  # the one published before
        pending = send(app, email=REPLIER, reply_to=parent, body="Still pending.")
        rejected = send(app, email=REPLIER, reply_to=parent, body="Will be rejected.")
        app.queue.remove(rejected)
        second = "20260302-100000-bbbbbb"
        replies = {
            reply: (parent, "Ben Ode", "x"),
            second: (parent, "Cara Diaz", "Here is what we found.\nMore."),
        }
        publish(tmp_path, app, {"ids": [parent]}, replies)
        for _ in range(3):  # the same manifest, seen again and again
            app.replies.run_once()
            clock.advance(minutes=1)
        publish(tmp_path, app, {"ids": [parent]}, replies)
        app.replies.run_once()
    emails = to(recorder, READER)
    assert len(emails) == 3
    assert pending in app.queue.ids()
    latest = emails[-1].message
    text = emails[-1].text
    assert "Cara Diaz replied to your comment on Our first update" in text
    assert "> Here is what we found. More." in text
    assert f"{SITE}/updates/a-post/#comment-{second}" in text
    assert latest["Reply-To"] == REPLY_TO
    assert latest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert latest["List-Unsubscribe"].startswith(f"<{PUBLIC}/unsubscribe?t=")
    html = latest.get_body(("html",)).get_content()
    tree = parse_html_bytes(html.encode())
    assert "Cara Diaz" in "".join(tree.itertext())
    # Nobody else was written to: not the replier, not a stranger.
    assert {a for r in recorder.received for a in r.rcpt_tos} == {READER}


def test_nothing_but_one_confirmation_reaches_an_unconfirmed_address(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        ids = [
            send(app, email=READER, notify="on", body=f"Comment {n}.", remote="1.2.3.4")
            for n in range(3)
        ]
        reply = "20260302-100000-cccccc"
        publish(tmp_path, app, {"ids": ids}, {reply: (ids[0], "Ben", "A reply.")})
        app.replies.run_once()
        assert len(to(recorder, READER)) == 1
        clock.advance(hours=23)
        send(app, email=READER, notify="on", body="Later.", remote="1.2.3.5")
        app.replies.run_once()
        assert len(to(recorder, READER)) == 1  # one a day at most
        clock.advance(hours=2)
        send(app, email=READER, notify="on", body="Next day.", remote="1.2.3.6")
        app.replies.run_once()
        assert len(to(recorder, READER)) == 2
        assert all("/subscriptions/confirm" in r.text for r in recorder.received)
        # Never confirmed: deleted after 7 days.
        store = Subscribers(tmp_path / "queue", SECRET)
        assert store.idents() == [address_hash(SECRET, READER)]
        clock.advance(days=8)
        app.replies._purged = None
        app.replies.run_once()
        assert store.idents() == []


def test_each_comment_is_confirmed_on_its_own(tmp_path, clock):
    """A stranger's comment with a confirmed reader's address (and the box
    ticked) does not subscribe that reader: its replies are told only once
    the reader confirms that comment too. A reader with two comments waiting
    is asked about the second when they confirm the first."""
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        mine = send(app, email=READER, notify="on", body="Mine.")
        second = send(app, email=READER, notify="on", body="Also mine.")
        app.replies.run_once()
        (first_ask,) = to(recorder, READER)  # one a day
        confirm(app, first_ask)
        app.replies.run_once()
        assert len(to(recorder, READER)) == 2  # now the second is asked about
        second_ask = to(recorder, READER)[-1]
        assert link_in(second_ask.text, "/subscriptions/confirm") != link_in(
            first_ask.text, "/subscriptions/confirm"
        )
        clock.advance(days=1, minutes=1)
        strangers = send(
            app, email=READER, notify="on", body="Not theirs.", remote="192.0.2.66"
        )
        app.replies.run_once()
        assert len(to(recorder, READER)) == 3  # its confirmation, not pressed
        replies = {
            "20260303-100000-aaaaa1": (mine, "Ben", "To yours."),
            "20260303-100000-aaaaa2": (strangers, "Ben", "To the stranger's."),
            "20260303-100000-aaaaa3": (second, "Ben", "To your second."),
        }
        publish(tmp_path, app, {"ids": [mine, second, strangers]}, replies)
        app.replies.run_once()
    told = [r.text for r in to(recorder, READER)[3:]]
    assert len(told) == 1 and "To yours." in told[0], told


def test_a_confirmation_pressed_again_sends_nothing_more(tmp_path, clock):
    """Pressing one link again and again (a double click, a shared address)
    confirms once: it neither starts the day's limit again nor asks about
    other comments again; each comment is asked about once, and its email
    names the update it is on."""
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=READER, notify="on", body="Mine.")
        for n in range(3):  # a stranger's, with the reader's address
            send(app, email=READER, notify="on", body=f"Not {n}.", remote="192.0.2.9")
        app.replies.run_once()
        (first,) = to(recorder, READER)
        assert f"{SITE}/updates/a-post/" in first.text
        target = link_in(first.text, "/subscriptions/confirm")
        for _ in range(6):
            assert call(app, path=target, body="").status == 200
            app.replies.run_once()
        assert len(to(recorder, READER)) == 2  # the first, and one more asked
    second = to(recorder, READER)[1]
    assert link_in(second.text, "/subscriptions/confirm") != target


@pytest.mark.parametrize(
    "extra",
    [
        "&utm_source=newsletter&utm_medium=email&utm_campaign=x&a=1&b=2&c=3",
        "&" + "&".join(f"f{n}=1" for n in range(200)),
    ],
)
def test_a_link_with_fields_added_by_a_mail_service_still_works(tmp_path, clock, extra):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=READER, notify="on")
        app.replies.run_once()
        target = link_in(recorder.received[0].text, "/subscriptions/confirm")
        shown = call(app, "GET", path=target + extra, headers={"Origin": None})
        assert shown.status == 200, shown.text
        token = target.split("t=", 1)[1]
        pressed = call(app, path="/subscriptions/confirm", body=f"t={token}{extra}")
        assert pressed.status == 200, pressed.text
        assert "confirmed" in page_text(pressed)


def test_a_link_too_long_to_be_ours_is_refused_plainly(tmp_path, clock):
    with smtp_server() as (_, port):
        app = endpoint(tmp_path, port, clock)
        long_query = "/unsubscribe?t=" + "a" * 5000
        answer = call(app, "GET", path=long_query, headers={"Origin": None})
    assert answer.status == 400
    assert "does not work" in page_text(answer)


def test_a_ticked_box_on_an_endpoint_without_reply_emails_is_said_once(
    tmp_path, caplog
):
    """The site built with the box, the endpoint without its public address:
    comments are taken as ever, nothing is kept of the box, and whoever runs
    the server is told once which setting is missing."""
    app = make_app(tmp_path)
    assert app.replies is None
    with caplog.at_level(logging.WARNING, logger="lab_comments.endpoint"):
        for n in range(2):
            send(app, email=READER, notify="on", body=f"Comment {n}.")
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "LAB_COMMENTS_PUBLIC_URL" in warned[0]
    assert READER not in warned[0]
    assert not (tmp_path / "queue" / "subscribers").exists()


def test_confirmations_are_limited_per_client(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        app.confirmations.limit = 2
        for n in range(4):
            send(app, email=f"stranger{n}@example.org", notify="on", remote="5.5.5.5")
        app.replies.run_once()
    assert len(recorder.received) == 2


def test_no_email_about_your_own_reply(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        parent = send(app, email=READER, notify="on")
        app.replies.run_once()
        confirm(app, recorder.received[0])
        own = send(app, email=READER.upper(), reply_to=EXISTING, body="My own.")
        publish(tmp_path, app, {"ids": [parent]}, {own: (parent, "Ada Lane", "Me.")})
        app.replies.run_once()
    assert len(to(recorder, READER)) == 1  # the confirmation only


def test_unticked_box_keeps_nothing(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=READER)
        app.replies.run_once()
    assert recorder.received == []
    assert Subscribers(tmp_path / "queue", SECRET).idents() == []


def notify_boxes(answer) -> list:
    tree = parse_html_bytes(answer.body)
    return [n for n in tree.iter() if n.get("name") == "notify"]


def test_the_form_sent_back_has_the_box_only_when_the_endpoint_mails(tmp_path, clock):
    """A refused comment's page shows the form again: with the reader's box
    (still ticked) when this endpoint sends reply emails, without it when it
    does not, as the build shows it only with LAB_COMMENTS_REPLY_EMAILS."""
    bad = {**GOOD, "name": "", "notify": "on"}
    with smtp_server() as (_, port):
        mailing = call(endpoint(tmp_path / "on", port, clock), body=bad)
    silent = call(make_app(tmp_path / "off"), body=bad)
    assert mailing.status == silent.status == 400, silent.text
    (box,) = notify_boxes(mailing)
    assert box.get("checked") is not None
    assert notify_boxes(silent) == [] and "comment-body" in silent.text


def test_a_checkbox_sends_on_or_nothing():
    form = {k: [v] for k, v in GOOD.items()}
    submission, problems = schema.parse_submission({**form, "notify": ["on"]})
    assert problems == [] and submission.notify
    assert schema.parse_submission(form)[0].notify is False
    _, problems = schema.parse_submission({**form, "notify": ["yes"]})
    assert [field for field, _ in problems] == ["notify"]


# -- leaving


@pytest.mark.parametrize("how", ["link", "one-click"])
def test_unsubscribe_removes_the_address_at_once(tmp_path, clock, how):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        parent = send(app, email=READER, notify="on")
        app.replies.run_once()
        confirm(app, recorder.received[0])
        store = Subscribers(tmp_path / "queue", SECRET)
        assert store.idents()
        header = recorder.received[0].message["List-Unsubscribe"]
        target = urlsplit(header.strip("<>"))
        target = f"{target.path}?{target.query}"
        if how == "link":
            shown = call(app, "GET", path=target, headers={"Origin": None})
            assert shown.status == 200 and "Unsubscribe" in page_text(shown)
            assert store.idents(), "a GET alone changes nothing"
            tree = parse_html_bytes(shown.body)
            assert tree.find(".//form[@method='post']//button") is not None
        # What a mail app sends (RFC 8058): no Origin, no cookie, no login.
        answer = call(
            app,
            path=target,
            body="List-Unsubscribe=One-Click",
            headers={"Origin": None},
        )
        assert answer.status == 200
        assert store.idents() == []
        publish(tmp_path, app, {"ids": [parent]}, {"20260302-100000-dddddd": (
            parent, "Ben", "Too late.")})  # fmt: skip
        app.replies.run_once()
    assert len(recorder.received) == 1


def test_tokens_are_bound_to_purpose_and_time():
    now = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    ident = address_hash(SECRET, READER)
    token = sign(SECRET, CONFIRM, ident, now + dt.timedelta(days=7))
    assert verify(SECRET, CONFIRM, token, now) == ident
    assert verify(SECRET, UNSUBSCRIBE, token, now) is None
    assert verify(b"another-key-" * 4, CONFIRM, token, now) is None
    assert verify(SECRET, CONFIRM, token, now + dt.timedelta(days=8)) is None
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert verify(SECRET, CONFIRM, forged, now) is None


def test_a_bad_link_is_refused_and_changes_nothing(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=READER, notify="on")
        app.replies.run_once()
        confirmation = link_in(recorder.received[0].text, "/subscriptions/confirm")
        as_unsubscribe = confirmation.replace("/subscriptions/confirm", "/unsubscribe")
        answer = call(app, path=as_unsubscribe, body="List-Unsubscribe=One-Click")
        assert answer.status == 400
        assert Subscribers(tmp_path / "queue", SECRET).idents()
        clock.advance(days=UNSUBSCRIBE_DAYS)
        assert call(app, path=confirmation, body="x=1").status == 400


def test_the_routes_are_absent_without_reader_email(tmp_path):
    app = make_app(tmp_path)
    assert call(app, "GET", path="/unsubscribe?t=x").status == 404


# -- faults


def test_a_server_that_refuses_or_vanishes_loses_and_repeats_nothing(tmp_path, clock):
    recorder = Recorder()
    with smtp_server(recorder) as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        parents = []
        for n in range(3):
            address = f"reader{n}@example.org"
            parents.append(send(app, email=address, notify="on", body=f"C{n}."))
        app.replies.run_once()
        for received in list(recorder.received):
            confirm(app, received)
        recorder.answer = "451 4.3.0 Try later"
        replies = {
            f"20260302-10000{n}-eeeeee": (parent, "Ben", f"Reply {n}.")
            for n, parent in enumerate(parents)
        }
        publish(tmp_path, app, {"ids": parents}, replies)
        app.replies.run_once()
        assert recorder.refused == 1
    # The server is gone altogether.
    clock.advance(seconds=5)
    app.replies.run_once()
    recorder.answer = ""
    with smtp_server(recorder, port):
        for _ in range(5):
            clock.advance(minutes=5)
            app.replies.run_once()
    told = [r for r in recorder.received if "replied to your comment" in r.text]
    assert sorted(a for r in told for a in r.rcpt_tos) == [
        f"reader{n}@example.org" for n in range(3)
    ]
    assert list((tmp_path / "queue" / "reader-mail" / "outgoing").iterdir()) == []


def test_a_hostile_name_stays_text(tmp_path):
    email = reply_email(
        "Title",
        {
            "name": "Eve <script>x</script>\nBcc: all@example.org",
            "text": "<b>hi</b>",
            "url": f"{SITE}/updates/a-post/#comment-x",
        },
        f"{PUBLIC}/unsubscribe?t=x",
    )
    tree = parse_html_bytes(email.html.encode())
    assert tree.find(".//script") is None and tree.find(".//b") is None
    assert "\n" not in email.subject and "Bcc:" not in email.text.splitlines()[0][:4]


# -- erasure


def test_erase_address_forgets_everything(tmp_path, clock, capsys):
    with smtp_server(Recorder(answer="451 4.3.0 later")) as (_, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=READER, notify="on")
        app.replies.run_once()
    queue = tmp_path / "queue"
    assert list((queue / "reader-mail" / "outgoing").iterdir())
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_MANIFEST": str(app.manifest.path),
        "LAB_COMMENTS_ADDRESS": READER,
    }
    assert cli.main(["erase-address"], environ) == 0
    said = capsys.readouterr().out
    assert "Erased 2 file(s)" in said and "Pending comment" in said
    assert Subscribers(queue, SECRET).idents() == []
    assert list((queue / "reader-mail" / "outgoing").iterdir()) == []


def test_erase_address_run_without_the_endpoints_key_or_queue_says_so(
    tmp_path, clock, capsys
):
    """As a tired moderator on the server might: without the key file, with
    another key, on another queue, with a mistyped address. Each is said,
    exits 1 (or notes it), and leaves the reader's file and no new key."""
    with smtp_server() as (_, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=READER, notify="on")
    queue = tmp_path / "queue"
    (queue / ".secret").unlink(missing_ok=True)  # the key is the variable
    kept = Subscribers(queue, SECRET).idents()
    assert kept
    base = {"LAB_COMMENTS_QUEUE": str(queue), "LAB_COMMENTS_ADDRESS": READER}

    def run(**environ) -> tuple[int, str]:
        code = cli.main(["erase-address"], {**base, **environ})
        said = capsys.readouterr()
        return code, said.out + said.err

    code, said = run()
    assert code == 1 and "has no key" in said and "LAB_COMMENTS_SECRET_FILE" in said
    assert not (queue / ".secret").exists()
    code, said = run(LAB_COMMENTS_SECRET="another-" + "k" * 40)
    assert code == 1 and "another key" in said
    code, said = run(LAB_COMMENTS_SECRET=SECRET.decode(), LAB_COMMENTS_ADDRESS="x@")
    assert code == 1 and "'x@' is not an email address" in said
    assert Subscribers(queue, SECRET).idents() == kept
    elsewhere = tmp_path / "elsewhere"
    for folder in (elsewhere, tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        code, said = run(LAB_COMMENTS_QUEUE=str(folder), LAB_COMMENTS_SECRET="k" * 40)
        assert code == 1 and "no endpoint's queue there" in said
    assert not elsewhere.exists() and list((tmp_path / "empty").iterdir()) == []
    # A queue of the endpoint's that never had reader email: noted.
    bare = tmp_path / "bare"
    for folder in ("pending", "senders"):
        (bare / folder).mkdir(parents=True)
    made = set(bare.rglob("*"))
    code, said = run(LAB_COMMENTS_QUEUE=str(bare), LAB_COMMENTS_SECRET=SECRET.decode())
    assert code == 0 and "has no reader email store" in said
    assert "Erased 0 file(s)" in said and set(bare.rglob("*")) == made
    # With the endpoint's key: erased (the store's file and the unsent
    # confirmation), and nothing made (staff may run it as root).
    before = set(queue.rglob("*"))
    code, said = run(LAB_COMMENTS_SECRET=SECRET.decode())
    assert code == 0 and "Erased 2 file(s)" in said
    assert Subscribers(queue, SECRET).idents() == []
    assert set(queue.rglob("*")) < before
    # Again, once nothing is left: still nothing made.
    before = set(queue.rglob("*"))
    assert run(LAB_COMMENTS_SECRET=SECRET.decode())[0] == 0
    assert set(queue.rglob("*")) == before


def test_erase_address_takes_either_form_of_a_domain_in_another_script(
    tmp_path, clock, capsys
):
    """A reader's emails show `anna@xn--bcher-kva.example`; they may ask in
    that form or as they typed it: either erases what the other keeps."""
    typed, wire = "anna@b\u00fccher.example", "anna@xn--bcher-kva.example"
    with smtp_server() as (_, port):
        app = endpoint(tmp_path, port, clock)
        send(app, email=typed, notify="on", remote="203.0.113.8")
        send(app, email=wire, notify="on", remote="203.0.113.9")
    queue = tmp_path / "queue"
    assert len(Subscribers(queue, SECRET).idents()) == 2
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_ADDRESS": wire,
    }
    assert cli.main(["erase-address"], environ) == 0
    said = capsys.readouterr().out
    assert Subscribers(queue, SECRET).idents() == []
    assert said.count("Pending comment") == 2


def test_a_new_key_is_the_one_staff_commands_must_use(tmp_path, clock, caplog):
    """The endpoint restarted with another key: it says so once, its key
    check follows the new key, and erase-address with that key works."""
    with smtp_server() as (_, port):
        endpoint(tmp_path, port, clock)
    queue = tmp_path / "queue"
    new_key = b"renewed-" + b"n" * 40
    with caplog.at_level(logging.WARNING, logger="lab_comments.subscriptions"):
        store = Subscribers(queue, new_key).open()
    assert any("another key" in r.getMessage() for r in caplog.records)
    assert store.key_matches() is True
    assert Subscribers(queue, SECRET).key_matches() is False
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue),
        "LAB_COMMENTS_SECRET": new_key.decode(),
        "LAB_COMMENTS_ADDRESS": READER,
    }
    assert cli.main(["erase-address"], environ) == 0


# -- nothing public: a real build and a git history


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_canaries_stay_out_of_content_output_and_history(tmp_path):
    """A reader subscribes and a reply is published through a real build;
    the addresses, their hashes and the tokens appear in no file of
    content/ or output/, nor in the content's git history."""
    parent_id = "20250502-100000-aaaaaa"
    content = fixture_site(tmp_path, [comment(parent_id)])
    output = tmp_path / "output"
    build_fixture(content, output)
    git(content, "init", "-q")
    git(content, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(content, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    clock = Clock(dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC))
    with smtp_server() as (recorder, port):
        app = CommentsApp(
            Config(
                queue=tmp_path / "queue",
                manifest=output / "comments-manifest.json",
                secret=SECRET,
                mail=plain(port),
                moderators=("mod@lab.example.org",),
                public_url=PUBLIC,
            ),
            clock=clock,
            monotonic=clock.monotonic,
        )
        form = {**GOOD, "post": "a-published-post", "email": READER, "notify": "on"}
        assert call(app, body={**form, "reply_to": parent_id}).status == 303
        (mine,) = app.queue.ids()
        app.replies.run_once()
        confirm(app, recorder.received[0])
        published = Published(content / "comments").open()
        published.write(schema.published_record(app.queue.read(mine)))
        app.queue.remove(mine)
        build_fixture(content, output)
        reply_form = {**form, "email": REPLIER, "name": "Ben Ode", "notify": "on"}
        reply_form["body"] = "A published reply."
        answer = call(app, body={**reply_form, "reply_to": mine}, remote="8.8.8.8")
        assert answer.status == 303, answer.text
        (reply,) = app.queue.ids()
        published.write(schema.published_record(app.queue.read(reply)))
        app.queue.remove(reply)
        # Two more replies: one still waiting, one rejected (as comments-
        # reject does: gone from the queue, never in content/).
        for words, remote in (("Still waiting.", "8.8.4.4"), ("Rejected.", "1.1.1.1")):
            form = {**reply_form, "body": words, "reply_to": mine, "notify": ""}
            assert call(app, body=form, remote=remote).status == 303
        waiting, rejected = sorted(app.queue.ids())
        app.queue.remove(rejected)
        build_fixture(content, output)
        git(content, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
        git(content, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "b")
        app.replies.run_once()
        app.replies.run_once()
        build_fixture(content, output)  # a second build, the same manifest
        app.replies.run_once()
        assert app.queue.ids() == [waiting]
    emails = to(recorder, READER)
    assert len(emails) == 2  # the confirmation, and the reply
    assert "Ben Ode replied" in emails[1].text
    assert "> A published reply." in emails[1].text
    assert len(to(recorder, REPLIER)) == 1  # its own confirmation only
    secrets = {READER, REPLIER}
    secrets |= {address_hash(SECRET, a) for a in (READER, REPLIER)}
    for received in recorder.received:
        for found in re.findall(r"\?t=([0-9a-z.~-]+)", received.text):
            secrets |= {found, found.split(".")[-1]}
    history = git(content, "log", "-p", "--all")
    for folder in (content, output):
        for path in folder.rglob("*"):
            if path.is_file() and ".git" not in path.parts:
                data = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in data, (path, secret)
    for secret in secrets:
        assert secret not in history


# -- on a real waitress server


def test_the_served_endpoint_confirms_and_tells_a_reply(tmp_path):
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {"comments": [EXISTING]}})
    with smtp_server() as (recorder, smtp_port):
        environ = {
            "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
            "LAB_COMMENTS_MANIFEST": str(manifest),
            "LAB_COMMENTS_SECRET": SECRET.decode(),
            "LAB_COMMENTS_SMTP_HOST": HOST,
            "LAB_COMMENTS_SMTP_PORT": str(smtp_port),
            "LAB_COMMENTS_SMTP_SECURITY": "none",
            "LAB_COMMENTS_MAIL_FROM": FROM,
            "LAB_COMMENTS_MODERATORS": "mod@lab.example.org",
            "LAB_COMMENTS_PUBLIC_URL": PUBLIC,
            "LAB_COMMENTS_MAIL_RETRY_SECONDS": "0.3",
        }
        with running_server(environ, tmp_path / "server.log") as server:

            def request(method: str, target: str, body: str = "", **headers):
                return exchange(server, method, target, body, headers)[:2]

            form = {**GOOD, "email": READER, "notify": "on"}
            status, _ = request(
                "POST",
                "/comments",
                urlencode(form),
                **{"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE},
            )
            assert status == 303
            wait_for(lambda: to(recorder, READER), 20, "the confirmation")
            target = link_in(recorder.received[0].text, "/subscriptions/confirm")
            assert request("GET", target)[0] == 200
            kind = {"Content-Type": "application/x-www-form-urlencoded"}
            answer = request("POST", target, "List-Unsubscribe=One-Click", **kind)
            assert answer[0] == 200
            parent = next(
                p.stem for p in (tmp_path / "queue" / "pending").glob("*.yaml")
            )
            reply = "20260302-100000-ffffff"
            entry = {
                "comments": [EXISTING, parent, reply],
                "title": "Served update",
                "replies": {
                    reply: {
                        "to": parent,
                        "name": "Ben Ode",
                        "text": "Served reply.",
                        "url": f"{SITE}/updates/a-post/#comment-{reply}",
                    }
                },
            }
            write_manifest(manifest, SITE, {"a-post": entry})
            wait_for(lambda: len(to(recorder, READER)) >= 2, 20, "the reply email")
            time.sleep(3)  # nothing more is sent
    emails = to(recorder, READER)
    assert len(emails) == 2 and "Ben Ode replied" in emails[1].text
    # Whoever runs the server sees that it is on; never an address.
    logged = (tmp_path / "server.log").read_text()
    assert f"reply emails: on, links from {PUBLIC}" in logged
    assert READER not in logged


def test_reader_email_settings_come_from_the_environment(tmp_path):
    from lab_comments.endpoint import ConfigError, config_from_env

    base = {
        "LAB_COMMENTS_SMTP_HOST": HOST,
        "LAB_COMMENTS_SMTP_SECURITY": "none",
        "LAB_COMMENTS_MAIL_FROM": FROM,
        "LAB_COMMENTS_MODERATORS": "mod@lab.example.org",
    }
    public = {"LAB_COMMENTS_PUBLIC_URL": PUBLIC + "/"}
    config = config_from_env({**base, **public, "LAB_COMMENTS_REPLY_TO": REPLY_TO})
    assert config.public_url == PUBLIC and config.reply_to == REPLY_TO
    with pytest.raises(ConfigError, match="LAB_COMMENTS_PUBLIC_URL"):
        config_from_env({**base, "LAB_COMMENTS_PUBLIC_URL": "ftp://x"})
    with pytest.raises(ConfigError, match="LAB_COMMENTS_SMTP_HOST"):
        config_from_env({"LAB_COMMENTS_PUBLIC_URL": PUBLIC})
    with pytest.raises(ConfigError, match="LAB_COMMENTS_REPLY_TO"):
        config_from_env({**base, "LAB_COMMENTS_REPLY_TO": "not an address"})
    assert dataclasses.fields(config)


def test_a_subscription_to_a_rejected_comment_goes_in_time(tmp_path, clock):
    with smtp_server() as (recorder, port):
        app = endpoint(tmp_path, port, clock)
        rejected = send(app, email=READER, notify="on", body="Rejected one.")
        published = send(app, email=REPLIER, notify="on", body="Kept one.")
        app.replies.run_once()
        for received in recorder.received:
            confirm(app, received)
    app.queue.remove(rejected)
    app.queue.remove(published)  # approved: in the manifest from now on
    publish(tmp_path, app, {"ids": [published]}, {})
    store = Subscribers(tmp_path / "queue", SECRET)
    clock.advance(days=44)
    app.replies._purged = None
    app.replies.run_once()
    assert len(store.idents()) == 2
    clock.advance(days=2)
    app.replies._purged = None
    app.replies.run_once()
    assert store.idents() == [address_hash(SECRET, REPLIER)]
