"""Issue 19: follow a challenge by email. Requests go through the real
endpoint (in-process WSGI); email goes to a real SMTP server started here
(aiosmtpd on 127.0.0.1); the challenge's feed is an Atom file as the build
writes it; the clock is settable, so a week passes in a line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from urllib.parse import urlencode, urlsplit

import pytest
from commentkit import GOOD, SITE, Clock, call, make_app, parse_html_bytes
from deploykit import exchange, live_site, serve_file
from followkit import (
    PUBLIC,
    SLUG,
    ask,
    follow_app,
    link_in,
    mail_settings,
    request,
    write_feed,
)
from mailkit import Recorder, smtp_server, wait_for

from lab_comments.endpoint import ConfigError, config_from_env
from lab_comments.follow import (
    UNCONFIRMED_DAYS,
    FollowSettings,
    make_token,
    parse_feed,
)
from lab_comments.loadtest import HOST, free_port, running_server, write_manifest
from lab_comments.replies import erase_address
from lab_comments.subscriptions import ident_of, target, verify

ADDRESS = "reader@example.org"
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
KEY = b"k" * 40


def messages(recorder: Recorder):
    return [received.message for received in recorder.received]


# -- pure parts


def test_a_token_is_bound_to_its_purpose_id_and_expiry():
    """A follow's tokens are the readers' tokens (subscriptions.sign), naming
    one subscription of the address."""
    follow_ident = ident_of("a" * 64, "follow", "x")
    token = make_token(KEY, "confirm", follow_ident, START, 7)
    assert verify(KEY, "confirm", token, START) == follow_ident
    assert target(follow_ident) == ("a" * 64, "follow", "x")
    assert verify(KEY, "unsubscribe", token, START) is None
    assert verify(b"j" * 40, "confirm", token, START) is None
    assert verify(KEY, "confirm", token, START + dt.timedelta(days=8)) is None
    ident, expiry, mac = token.split(".")
    other = ident_of("a" * 64, "follow", "y")
    assert verify(KEY, "confirm", f"{other}.{expiry}.{mac}", START) is None
    assert verify(KEY, "confirm", f"{ident}.{int(expiry) + 1}.{mac}", START) is None


def test_a_feed_with_a_document_type_is_refused(tmp_path):
    path = write_feed(tmp_path, SLUG, [("tag:x,2025:a", "A")])
    title, items = parse_feed(path.read_bytes())
    assert title == f"Lab: {SLUG}"
    assert [item.id for item in items] == ["tag:x,2025:a"]
    bomb = b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><f>&a;</f>'
    with pytest.raises(ValueError, match="document type"):
        parse_feed(bomb)


# -- through the endpoint


def confirmed(app, recorder: Recorder, address=ADDRESS, mode="each"):
    """Ask, receive the confirmation, open its link, press the button."""
    before = len(recorder.received)
    assert ask(app, address, mode).status == 200
    app.follow.run_once(look=False)
    (message,) = messages(recorder)[before:]
    link = link_in(message, "/subscriptions/confirm")
    page = request(app, "GET", link)
    assert page.status == 200
    # The page holds a button; the GET alone confirmed nothing.
    forms = parse_html_bytes(page.body).findall(".//{*}form")
    assert [form.get("method") for form in forms] == ["post"]
    assert not any(f.get("confirmed") for f in follows(app, address).values())
    token = forms[0].find(".//{*}input[@name='t']").get("value")
    assert request(app, "POST", "/subscriptions/confirm", {"t": token}).status == 200
    return message


def follows(app, address=ADDRESS) -> dict:
    reader = app.follow.store.read(app.follow.store.key(address))
    return reader.follows if reader else {}


def test_confirm_then_one_email_per_new_item_and_never_twice(tmp_path):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:old", "An old update")])
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock)
        confirmation = confirmed(app, recorder)
        # A confirmation's own link to leave names that follow alone.
        leave = confirmation["List-Unsubscribe"]
        assert leave.startswith(f"<{PUBLIC}/unsubscribe?t=") and "~follow~" in leave
        assert follows(app)[SLUG]["confirmed"]
        app.follow.run_once()  # the first look: what the feed holds is old
        assert len(recorder.received) == 1
        clock.advance(hours=1)
        write_feed(
            site, SLUG, [("tag:x,2025:new", "Phase 2 starts"), ("tag:x,2025:old", "")]
        )
        app.follow.run_once()
        assert len(recorder.received) == 2
        message = recorder.received[-1].message
        assert recorder.received[-1].rcpt_tos == [ADDRESS]
        assert "Phase 2 starts" in message["Subject"]
        assert message.get_body(("plain",)) is not None
        html = message.get_body(("html",)).get_content()
        links = [
            a.get("href") for a in parse_html_bytes(html.encode()).findall(".//{*}a")
        ]
        assert "http://127.0.0.1:8000/new/" in links
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith(f"<{PUBLIC}/unsubscribe?t=")
        # The same feed again, and again later: nothing more.
        app.follow.run_once()
        clock.advance(days=1)
        app.follow.run_once()
        assert len(recorder.received) == 2


def test_nothing_but_one_confirmation_a_day_to_an_unconfirmed_address(tmp_path):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:old", "Old")])
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock, rate=100)
        answers = [ask(app, ADDRESS, remote=f"198.51.100.{n}") for n in range(3)]
        assert [answer.status for answer in answers] == [200] * 3
        # One page whatever was sent (nobody learns whether an address was
        # asked for), and it says the daily limit, so that the address's
        # owner looks for the email that was sent.
        assert len({answer.body for answer in answers}) == 1
        said = " ".join(parse_html_bytes(answers[0].body).find(".//{*}main").itertext())
        assert "at most one such email a day" in " ".join(said.split())
        app.follow.run_once()
        write_feed(site, SLUG, [("tag:x,2025:new", "New"), ("tag:x,2025:old", "")])
        app.follow.run_once()
        subjects = [m["Subject"] for m in messages(recorder)]
        assert len(subjects) == 1
        assert subjects[0].startswith("Confirm")
        clock.advance(days=1, minutes=1)
        assert ask(app, ADDRESS).status == 200
        app.follow.run_once()
        assert len(recorder.received) == 2
        # Never confirmed: gone after UNCONFIRMED_DAYS, file and all.
        clock.advance(days=UNCONFIRMED_DAYS, minutes=1)
        app.follow.run_once()
        assert follows(app) == {}
        assert app.follow.store.subscribers.idents() == []


def test_changing_a_confirmed_follow_s_mode_needs_a_confirmation(tmp_path):
    """Anyone can post the form with a confirmed reader's address: the mode
    changes only when the address confirms the change."""
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock)
        confirmed(app, recorder, mode="weekly")
        assert ask(app, ADDRESS, "weekly").status == 200  # as it is: nothing
        assert ask(app, ADDRESS, "each").status == 200  # within the day
        app.follow.run_once(look=False)
        assert len(recorder.received) == 1
        assert follows(app)[SLUG]["mode"] == "weekly"
        clock.advance(days=1)
        assert ask(app, ADDRESS, "each").status == 200
        app.follow.run_once(look=False)
        message = recorder.received[-1].message
        assert len(recorder.received) == 2 and "change" in message["Subject"]
        link = link_in(message, "/subscriptions/confirm")
        assert request(app, "GET", link).status == 200
        assert follows(app)[SLUG]["mode"] == "weekly"  # a GET changes nothing
        assert request(app, "POST", link, "").status == 200
        assert follows(app)[SLUG]["mode"] == "each"
        # A request alone changes nothing kept about a confirmed follow.
        clock.advance(days=1)
        before = dict(follows(app)[SLUG])
        assert ask(app, ADDRESS, "weekly").status == 200
        assert follows(app)[SLUG] == before


def test_a_confirmation_confirms_the_mode_its_email_named(tmp_path):
    """The reader asks for a weekly email; a stranger then asks for one per
    item with the same address: the reader's click confirms weekly, and the
    stranger's confirmation (a day later) changes it only if pressed."""
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock)
        assert ask(app, ADDRESS, "weekly").status == 200
        app.follow.run_once(look=False)
        (mine,) = messages(recorder)
        clock.advance(days=1, minutes=1)
        assert ask(app, ADDRESS, "each", remote="192.0.2.66").status == 200
        app.follow.run_once(look=False)
        assert len(recorder.received) == 2
        assert (
            request(app, "POST", link_in(mine, "/subscriptions/confirm")).status == 200
        )
        assert follows(app)[SLUG]["mode"] == "weekly"
        assert follows(app)[SLUG]["confirmed"]


def test_links_start_with_the_public_address_whatever_the_host_says(tmp_path):
    """A request's Host (and its scheme) is the sender's to choose: no link
    of any email, nor anything kept, comes from it."""
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock)
        confirmed(app, recorder, mode="weekly")
        for mode in ("each", "weekly", "each"):
            body = {"address": ADDRESS, "challenge": SLUG, "mode": mode}
            answer = request(app, "POST", "/follow", body, host="evil.example")
            assert answer.status == 200
            clock.advance(days=1, minutes=1)
        app.follow.run_once(look=False)
        assert ask(app, "new@example.org").status == 200
        app.follow.run_once(look=False)
    assert len(recorder.received) >= 3
    for received in recorder.received:
        links = [w for w in received.text.split() if "://" in w]
        assert links and all(w.startswith(PUBLIC) for w in links), links
        assert received.message["List-Unsubscribe"].startswith(f"<{PUBLIC}/")
    stored = b"".join(
        p.read_bytes() for p in (tmp_path / "endpoint").rglob("*") if p.is_file()
    )
    assert b"evil.example" not in stored


def test_follows_and_reply_emails_share_one_store_limit_and_routes(tmp_path):
    """One address, one file: a follow and a reply subscription side by side;
    one confirmation a day to the address, whichever asked; a follow's
    unsubscribe link ends that follow only; erasing the address erases
    both."""
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = make_app(
            tmp_path / "endpoint",
            clock=clock,
            mail=mail_settings(port),
            follow=FollowSettings(feed=str(tmp_path / "{slug}.atom.xml")),
            public_url="https://comments.lab.example.org",
        )
        confirmed(app, recorder)
        answer = call(app, body={**GOOD, "email": ADDRESS, "notify": "on"})
        assert answer.status == 303, answer.text
        key = app.follow.store.key(ADDRESS)
        assert app.replies.subscribers.idents() == [key]
        app.replies.run_once()
        assert len(recorder.received) == 1  # asked today already
        record = app.replies.subscribers.read(key)
        kinds = sorted(sub["kind"] for sub in record["subscriptions"])
        assert kinds == ["follow", "replies"]
        link = app.follow.unsubscribe_link(key, SLUG, clock())
        assert urlsplit(link).path == "/unsubscribe"
        assert request(app, "POST", link, "List-Unsubscribe=One-Click").status == 200
        record = app.replies.subscribers.read(key)
        assert [sub["kind"] for sub in record["subscriptions"]] == ["replies"]
        assert follows(app) == {}
        assert erase_address(tmp_path / "endpoint" / "queue", app.queue.secret, ADDRESS)
        assert app.replies.subscribers.idents() == []


def test_too_many_requests_from_one_client_are_refused(tmp_path):
    clock = Clock(START)
    with smtp_server() as (_, port):
        app = follow_app(tmp_path, port, clock, rate=2)
        statuses = [ask(app, f"r{n}@example.org").status for n in range(3)]
        assert statuses == [200, 200, 429]
        assert ask(app, "other@example.org", remote="192.0.2.1").status == 200


def test_a_bad_address_or_a_changed_form_is_refused(tmp_path):
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock(START))
        assert ask(app, "not an address").status == 400
        assert ask(app, ADDRESS, slug="../etc").status == 400
        assert ask(app, ADDRESS, mode="hourly").status == 400
        app.follow.run_once()
        assert recorder.received == []


@pytest.mark.parametrize("how", ["button", "one-click"])
def test_unsubscribe_removes_the_address_at_once(tmp_path, how):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:a", "A")])
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock)
        confirmed(app, recorder)
        app.follow.run_once()
        write_feed(site, SLUG, [("tag:x,2025:b", "B"), ("tag:x,2025:a", "A")])
        app.follow.run_once()
        message = recorder.received[-1].message
        link = message["List-Unsubscribe"].strip("<>")
        assert link == link_in(message, "/unsubscribe")
        if how == "button":
            page = request(app, "GET", link)
            assert follows(app)  # a GET changes nothing
            form = parse_html_bytes(page.body).find(".//{*}form")
            token = form.find(".//{*}input[@name='t']").get("value")
            answer = request(app, "POST", "/unsubscribe", {"t": token})
        else:
            body = "List-Unsubscribe=One-Click"
            answer = request(app, "POST", link, body)
        assert answer.status == 200
        assert follows(app) == {}
        assert app.follow.store.subscribers.idents() == []
        write_feed(site, SLUG, [("tag:x,2025:c", "C"), ("tag:x,2025:b", "B")])
        app.follow.run_once()
        assert len(recorder.received) == 2
        # A confirm token cannot unsubscribe, nor a forged one.
        assert request(app, "POST", "/unsubscribe", {"t": "x.1.y"}).status == 400


def test_weekly_digest_holds_the_week_s_items_in_one_email(tmp_path):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:old", "Old")])
    clock = Clock(START)
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, clock)
        confirmed(app, recorder, mode="weekly")
        app.follow.run_once()
        items = [("tag:x,2025:old", "Old")]
        for day, title in ((1, "Call opens"), (3, "Phase 2 starts")):
            clock.now = START + dt.timedelta(days=day)
            items.insert(0, (f"tag:x,2025:{day}", title))
            write_feed(site, SLUG, items)
            app.follow.run_once()
        assert len(recorder.received) == 1  # the confirmation only
        clock.now = START + dt.timedelta(days=7, minutes=1)
        app.follow.run_once()
        app.follow.run_once()
        assert len(recorder.received) == 2
        text = recorder.received[-1].message.get_body(("plain",)).get_content()
        assert "Call opens" in text
        assert "Phase 2 starts" in text
        assert "Old" not in text
        assert recorder.received[-1].message["List-Unsubscribe"]
        # A week with nothing new: no email.
        clock.advance(days=7, minutes=1)
        app.follow.run_once()
        assert len(recorder.received) == 2


def test_a_mail_server_refusing_then_vanishing_loses_nothing_and_sends_once(
    tmp_path,
):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:old", "Old")])
    clock = Clock(START)
    port = free_port()
    recorder = Recorder()
    with smtp_server(recorder, port):
        app = follow_app(tmp_path, port, clock)
        confirmed(app, recorder)
        app.follow.run_once()
        recorder.answer = "451 4.3.0 try later"
        items = [("tag:x,2025:old", "Old")]
        for number in range(3):
            items.insert(0, (f"tag:x,2025:n{number}", f"Item {number}"))
        write_feed(site, SLUG, items)
        app.follow.run_once()
        assert recorder.refused == 1
    # The server is gone altogether now.
    clock.advance(seconds=5)
    assert app.follow.run_once(look=False) == (0, 1)
    with smtp_server(recorder, port):
        recorder.answer = ""
        clock.advance(minutes=5)
        deadline = time.monotonic() + 10
        while len(app.follow.outbox.queue.entries()) and time.monotonic() < deadline:
            clock.advance(minutes=5)
            app.follow.run_once()
        app.follow.run_once()
    subjects = sorted(m["Subject"] for m in messages(recorder)[1:])
    assert subjects == [f"Lab: {SLUG}: Item {n}" for n in range(3)]


def test_the_worker_thread_sends_without_being_stepped(tmp_path):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:a", "A")])
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock(START), every=0.2)
        app.follow.start()
        try:
            assert ask(app, ADDRESS).status == 200
            wait_for(lambda: recorder.received, 10, "the confirmation")
        finally:
            app.follow.stop()


def test_following_is_off_without_its_setting(tmp_path, caplog):
    """A site built with the form and an endpoint without following: the
    reader is told plainly, and whoever runs the server, once."""
    app = make_app(tmp_path)
    assert app.follow is None
    with caplog.at_level(logging.WARNING, logger="lab_comments.endpoint"):
        answers = [ask(app, ADDRESS), ask(app, "other@example.org")]
    assert [answer.status for answer in answers] == [404, 404]
    page = parse_html_bytes(answers[0].body)
    title = " ".join(page.find(".//{*}title").itertext())
    assert title.startswith("Following by email is not available")
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "LAB_COMMENTS_FOLLOW=on" in warned[0]
    assert ADDRESS not in warned[0]


# -- served by `python -m lab_comments serve` (waitress) on 127.0.0.1


def http(server, method: str, url: str, body: str = "") -> tuple[int, bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, answer, _ = exchange(server, method, target, body.encode(), headers)
    return status, answer


def test_served_follow_confirm_item_and_one_click_unsubscribe(tmp_path):
    site = tmp_path / "site"
    write_feed(site, SLUG, [("tag:x,2025:old", "Old")])
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, SITE, {"a-post": {}})
    with smtp_server() as (recorder, smtp_port):
        environ = {
            "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
            "LAB_COMMENTS_MANIFEST": str(manifest),
            "LAB_COMMENTS_SECRET": "follow-" + "s" * 40,
            "LAB_COMMENTS_SMTP_HOST": HOST,
            "LAB_COMMENTS_SMTP_PORT": str(smtp_port),
            "LAB_COMMENTS_SMTP_SECURITY": "none",
            "LAB_COMMENTS_MAIL_FROM": "Lab <updates@lab.example.org>",
            "LAB_COMMENTS_MODERATORS": "mod@lab.example.org",
            "LAB_COMMENTS_FOLLOW": "on",
            "LAB_COMMENTS_PUBLIC_URL": PUBLIC,
            "LAB_COMMENTS_FOLLOW_FEED": str(site / "feeds/challenge/{slug}.atom.xml"),
            "LAB_COMMENTS_FOLLOW_EVERY": "0.3",
        }
        log = tmp_path / "serve.log"
        with running_server(environ, log) as server:
            body = urlencode({"address": ADDRESS, "challenge": SLUG, "mode": "each"})
            assert http(server, "POST", "/follow", body)[0] == 200
            wait_for(lambda: recorder.received, 20, "the confirmation")
            link = link_in(recorder.received[0].message, "/subscriptions/confirm")
            assert link.startswith(f"{PUBLIC}/subscriptions/confirm?t=")
            status, page = http(server, "GET", link)
            assert status == 200
            form = parse_html_bytes(page).find(".//{*}form")
            token = form.find(".//{*}input[@name='t']").get("value")
            confirm = urlencode({"t": token})
            assert http(server, "POST", "/subscriptions/confirm", confirm)[0] == 200
            seen = tmp_path / "queue" / "followers" / "challenges" / f"{SLUG}.yaml"
            wait_for(seen.exists, 20, "the first look at the feed")
            write_feed(site, SLUG, [("tag:x,2025:new", "New"), ("tag:x,2025:old", "")])
            wait_for(lambda: len(recorder.received) == 2, 20, "the item's email")
            message = recorder.received[1].message
            unsubscribe = message["List-Unsubscribe"].strip("<>")
            one_click = "List-Unsubscribe=One-Click"
            assert http(server, "POST", unsubscribe, one_click)[0] == 200
            readers = tmp_path / "queue" / "subscribers"
            assert not list(readers.glob("*.yaml"))
            time.sleep(1)
    assert len(recorder.received) == 2
    logged = log.read_text()
    assert ADDRESS not in logged
    assert f"following: on, feeds from {environ['LAB_COMMENTS_FOLLOW_FEED']}" in logged
    assert "reply emails: on" in logged  # the public address turns them on


def test_a_feed_from_the_live_site_is_fetched_with_its_etag(tmp_path):
    """The default reader fetches over HTTP (fetch.Fetcher): an unchanged
    feed costs a 304 and sends nothing; a new build's feed one email; a
    broken answer keeps the last good copy and sends nothing."""
    folder = tmp_path / "built"
    path = "/feeds/challenge/" + SLUG + ".atom.xml"
    one = write_feed(folder, SLUG, [("tag:x,2025:a", "A")]).read_bytes()
    two = write_feed(folder, SLUG, [("tag:x,2025:b", "B"), ("tag:x,2025:a", "A")])
    clock = Clock(START)
    with smtp_server() as (recorder, port), live_site() as site:
        site.paths[path] = serve_file(one, etag='"v1"')
        pattern = site.url("/feeds/challenge/{slug}.atom.xml")
        app = follow_app(tmp_path, port, clock, feed=pattern)
        confirmed(app, recorder)
        app.follow.run_once()
        app.follow.run_once()
        assert site.requests[-1][1].get("If-None-Match") == '"v1"'
        assert len(recorder.received) == 1
        site.paths[path] = serve_file(two.read_bytes(), etag='"v2"')
        app.follow.run_once()
        site.paths[path] = serve_file(b"<html>not a feed</html>", etag='"v3"')
        app.follow.run_once()
        app.follow.run_once()
    assert [m["Subject"] for m in messages(recorder)[1:]] == [f"Lab: {SLUG}: B"]


def test_the_feed_defaults_to_the_site_the_manifest_names(tmp_path):
    with smtp_server() as (_, port):
        app = make_app(
            tmp_path,
            mail=mail_settings(port),
            follow=FollowSettings(feed=""),
            public_url=PUBLIC,
        )
        assert app.follow.feed_location(SLUG) == (
            f"{SITE}/feeds/challenge/{SLUG}.atom.xml"
        )


def test_following_needs_the_endpoints_public_address(tmp_path):
    """Without it the links would have to come from the request."""
    with smtp_server() as (_, port), pytest.raises(ConfigError, match="PUBLIC_URL"):
        make_app(tmp_path, mail=mail_settings(port), follow=FollowSettings(feed=""))
    environ = {
        "LAB_COMMENTS_FOLLOW": "on",
        "LAB_COMMENTS_SMTP_HOST": "127.0.0.1",
        "LAB_COMMENTS_MAIL_FROM": "lab@example.org",
        "LAB_COMMENTS_MODERATORS": "mod@example.org",
    }
    with pytest.raises(ConfigError, match="LAB_COMMENTS_PUBLIC_URL"):
        config_from_env(environ)


def test_only_a_challenge_of_the_site_can_be_followed(tmp_path):
    """The manifest lists the challenges: a made-up one is refused at once,
    and nothing is kept or sent for it."""
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock(START))
        write_manifest(app.manifest.path, SITE, {"a-post": {}}, challenges=[SLUG])
        assert ask(app, ADDRESS, slug="made-up").status == 400
        assert ask(app, ADDRESS).status == 200
        app.follow.run_once(look=False)
    assert len(recorder.received) == 1
    assert list(follows(app)) == [SLUG]


@pytest.mark.parametrize(
    "address",
    [".@[:!", "#@[ ", "x@[", "victim@[127.0.0.1]", "a(1)@example.org", "a:b@x.org"],
)
def test_an_address_a_mail_program_reads_otherwise_is_refused_plainly(
    tmp_path, address
):
    """The comments' rule (schema.email): a 400 naming the field, never a
    500, and nothing kept or sent."""
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock(START))
        answer = ask(app, address)
        app.follow.run_once(look=False)
    assert answer.status == 400, answer.body
    assert b"Enter an email address" in answer.body
    assert recorder.received == []
    assert app.follow.store.subscribers.idents() == []


def test_a_long_challenge_slug_can_be_followed_and_bad_lists_are_ignored(tmp_path):
    """A challenge's slug as long as a post's may be is followed; a manifest
    whose list of challenges is malformed still takes comments (any slug
    of the right form may then be followed)."""
    slug = "a" + "-b" * 90  # 181 characters
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock(START))
        write_manifest(app.manifest.path, SITE, {"a-post": {}}, challenges=[slug])
        assert ask(app, ADDRESS, slug=slug).status == 200
        app.follow.run_once(look=False)
        assert len(recorder.received) == 1
        data = json.loads(app.manifest.path.read_bytes())
        data["challenges"] = "abc"
        app.manifest.path.write_text(json.dumps(data))
        assert call(app, body=GOOD).status == 303
        assert ask(app, "other@example.org", slug="c").status == 200


def test_a_request_from_another_site_is_refused(tmp_path):
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock(START))
        body = {"address": ADDRESS, "challenge": SLUG, "mode": "each"}
        foreign = {"Origin": "https://elsewhere.example"}
        answer = call(app, path="/follow", body=body, headers=foreign)
        assert answer.status == 403
        assert call(app, path="/follow", body=body).status == 200  # the site's
        app.follow.run_once()
        assert len(recorder.received) == 1
