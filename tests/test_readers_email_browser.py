"""Issue 19 from a reader's browser: in headless Chromium (Debian's, driven
by playwright) a reader follows a challenge from its page with JavaScript
off, gets the confirmation email from the real endpoint (`lab_comments
serve`, a child process) through a real SMTP server (aiosmtpd), opens its
link, presses the button, and later leaves by the email's unsubscribe link;
another ticks "Email me when someone replies" under an update and gets one
confirmation that names that update. The site is the sample fixture built
with both features on and served on 127.0.0.1. Runs in `make check` (marked
`gates`), never in `make test`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import build
from followkit import link_in
from mailkit import Recorder, smtp_server, wait_for
from statichost import StaticHost
from test_comments_browser import main_form, open_page

from lab_comments.loadtest import HOST, free_port, running_server
from lab_comments.subscriptions import Subscribers

pytestmark = pytest.mark.gates

SECRET = "readers-email-" + "s" * 40
CHALLENGE = "peer-support"
POST = "updates/2025/first-challenge/"
READER = "reader-browser@example.org"


def build_site(output: Path, origin: str, port: int) -> None:
    build(
        "publishconf.py",
        output,
        SITEURL=origin,
        LAB_COMMENTS_ENDPOINT=f"http://{HOST}:{port}/comments",
        LAB_COMMENTS_FOLLOW=True,
        LAB_COMMENTS_REPLY_EMAILS=True,
    )


def environment(tmp_path: Path, output: Path, smtp_port: int, port: int) -> dict:
    return {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(output / "comments-manifest.json"),
        "LAB_COMMENTS_SECRET": SECRET,
        "LAB_COMMENTS_MIN_SECONDS": "0",
        "LAB_COMMENTS_SMTP_HOST": HOST,
        "LAB_COMMENTS_SMTP_PORT": str(smtp_port),
        "LAB_COMMENTS_SMTP_SECURITY": "none",
        "LAB_COMMENTS_MAIL_FROM": "The Lab <updates@lab.example.org>",
        "LAB_COMMENTS_MODERATORS": "mod@lab.example.org",
        "LAB_COMMENTS_PUBLIC_URL": f"http://{HOST}:{port}",
        "LAB_COMMENTS_FOLLOW": "on",
        "LAB_COMMENTS_FOLLOW_FEED": str(output / "feeds/challenge/{slug}.atom.xml"),
        "LAB_COMMENTS_FOLLOW_EVERY": "0.3",
    }


def press(browser, link: str, button: str, heading: str) -> None:
    """Open an email's link (a GET shows a button and changes nothing), then
    press the button, JavaScript off."""
    context, page = open_page(browser, javascript=False)
    try:
        page.goto(link)
        with page.expect_navigation():
            page.get_by_role("button", name=button).click()
        assert page.get_by_role("heading", level=1).inner_text() == heading
    finally:
        context.close()


def follows(tmp_path: Path) -> dict:
    store = Subscribers(tmp_path / "queue", SECRET.encode())
    record = store.read(store.hash(READER)) or {}
    return {
        s["id"]: s for s in record.get("subscriptions", []) if s["kind"] == "follow"
    }


@contextlib.contextmanager
def served(tmp_path: Path) -> Iterator[tuple[str, Recorder]]:
    """The site served on 127.0.0.1, built for the endpoint running beside
    it, whose email goes to aiosmtpd: (the site's origin, what it got)."""
    output = tmp_path / "out"
    port = free_port()
    with StaticHost() as host, smtp_server() as (recorder, smtp_port):
        build_site(output, host.origin, port)
        host.serve(output)
        environ = environment(tmp_path, output, smtp_port, port)
        with running_server(environ, tmp_path / "server.log", port=port):
            yield host.origin, recorder


def test_a_reader_follows_a_challenge_confirms_and_leaves(browser, tmp_path):
    with served(tmp_path) as (origin, recorder):
        context, page = open_page(browser, javascript=False)
        try:
            page.goto(f"{origin}/challenges/{CHALLENGE}/")
            form = page.locator("form.lab-follow")
            form.get_by_label("Email address").fill(READER)
            form.get_by_label("How often").select_option("weekly")
            with page.expect_navigation():
                form.get_by_role("button", name="Follow by email").click()
            assert page.get_by_role("heading", level=1).inner_text() == (
                "Check your email"
            )
        finally:
            context.close()
        wait_for(lambda: recorder.received, 20, "the confirmation")
        (confirmation,) = recorder.received
        assert confirmation.rcpt_tos == [READER]
        assert follows(tmp_path)[CHALLENGE]["confirmed"] is None
        confirm = link_in(confirmation.message, "/subscriptions/confirm")
        press(browser, confirm, "Confirm", "Thank you: your address is confirmed")
        follow = follows(tmp_path)[CHALLENGE]
        assert follow["confirmed"] and follow["mode"] == "weekly"
        leave = link_in(confirmation.message, "/unsubscribe")
        press(browser, leave, "Unsubscribe", "You are unsubscribed")
        assert follows(tmp_path) == {}
    assert len(recorder.received) == 1


def test_a_reader_ticks_the_reply_box_and_is_asked_once(browser, tmp_path):
    with served(tmp_path) as (origin, recorder):
        context, page = open_page(browser, javascript=True)
        try:
            page.goto(f"{origin}/{POST}")
            form = main_form(page)
            form.get_by_label("Your name").fill("Rae Browser")
            form.get_by_label("Email address").fill(READER)
            form.locator("textarea[name=body]").fill("Thank you, this helps.")
            form.get_by_label("Email me when someone replies").check()
            with page.expect_navigation():
                page.get_by_role("button", name="Send comment for moderation").click()
            assert page.url.endswith("#comment-pending")
        finally:
            context.close()
        wait_for(lambda: recorder.received, 20, "the confirmation")
    (confirmation,) = recorder.received
    assert confirmation.rcpt_tos == [READER]
    text = confirmation.message.get_body(("plain",)).get_content()
    assert f"{origin}/{POST}" in text
    assert "/subscriptions/confirm?t=" in text
