"""Comments as a reader meets them, in headless Chromium (Debian's, driven by
playwright): with JavaScript off the form goes to a real endpoint on
127.0.0.1 and the reader comes back to the "waiting for moderation" notice;
with it on, the script stamps the form, adds "… ago" and keeps replies on the
page. The site itself is answered from the built files; nothing else is
reached. Runs in `make check`."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from check_site import AXE_JS, AXE_RUN, CHROMIUM, CHROMIUM_ARGS, WCAG_TAGS
from commentkit import SECRET, build_fixture, comment, fixture_site

from lab_comments.loadtest import running_server
from lab_comments.store import Queue

pytestmark = pytest.mark.gates


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A built fixture site served from 127.0.0.1 whose form posts to a real
    endpoint on 127.0.0.1. Yields (post URL, server, queue)."""
    from lab_comments.loadtest import free_port

    folder = tmp_path_factory.mktemp("browser")
    site_port, port = free_port(), free_port()
    site = f"http://127.0.0.1:{site_port}"
    content = fixture_site(folder, [comment("c-a", "A first comment.", name="Ann")])
    output = folder / "out"
    build_fixture(
        content,
        output,
        SITEURL=site,
        LAB_COMMENTS_ENDPOINT=f"http://127.0.0.1:{port}/comments",
    )
    environ = {
        "LAB_COMMENTS_QUEUE": str(folder / "queue"),
        "LAB_COMMENTS_MANIFEST": str(output / "comments-manifest.json"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
    }
    handler = functools.partial(QuietHandler, directory=str(output))
    files = ThreadingHTTPServer(("127.0.0.1", site_port), handler)
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    try:
        with running_server(environ, folder / "server.log", port=port) as server:
            yield (
                f"{site}/updates/2025/a-published-post/",
                server,
                Queue(folder / "queue", SECRET),
            )
    finally:
        files.shutdown()
        files.server_close()
        thread.join(timeout=10)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def open_page(browser, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript)

    # Only 127.0.0.1 (the site and the endpoint) is ever reached.
    def local_only(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    return context, context.new_page()


def fill(page, name: str, body: str) -> None:
    page.get_by_label("Your name").fill(name)
    first = name.split(maxsplit=1)[0].lower()
    page.get_by_label("Email address").fill(f"{first}@example.net")
    page.locator("#comment-body").fill(body)


def test_without_javascript_a_comment_is_sent_and_the_reader_told(browser, endpoint):
    post, _, queue = endpoint
    context, page = open_page(browser, javascript=False)
    try:
        page.goto(post)
        fill(page, "Nora Script-free", "Sent with JavaScript off.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        notice = page.locator("#comment-pending")
        assert notice.is_visible()
        assert "waiting for moderation" in notice.inner_text()
        bodies = [queue.read(cid)["body"] for cid in queue.ids()]
        assert "Sent with JavaScript off." in bodies
        # The reply link leads to a page whose form answers that comment.
        page.goto(post)
        page.get_by_role("link", name="Reply to Ann").click()
        fill(page, "Omar Reply", "A reply, no script.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send reply for moderation").click()
        replies = [queue.read(cid) for cid in queue.ids()]
        assert any(r.get("reply_to") == "c-a" for r in replies)
    finally:
        context.close()


def test_with_javascript_the_form_is_stamped_and_replies_stay_on_the_page(
    browser, endpoint
):
    post, _, queue = endpoint
    context, page = open_page(browser, javascript=True)
    try:
        page.clock.install()
        page.goto(post)
        assert page.locator("[data-lab-loaded]").input_value().isdigit()
        ago = page.locator(".lab-comment__ago")
        assert ago.count() == 1 and "ago" in ago.inner_text()
        # Reply without leaving the page: the form learns whom it answers.
        page.get_by_role("link", name="Reply to Ann").click()
        assert page.url == post
        assert page.locator("[data-lab-reply-field]").input_value() == "c-a"
        assert page.locator("[data-lab-replying]").is_visible()
        assert page.evaluate("document.activeElement.id") == "comment-body"
        page.get_by_role("button", name="Cancel reply").click()
        assert page.locator("[data-lab-reply-field]").input_value() == ""
        # Sent within 3 seconds of loading: answered like a success, not kept.
        before = set(queue.ids())
        fill(page, "Quick Bot", "Too fast to be a person.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert set(queue.ids()) == before
        # A person takes longer.
        page.goto(post)
        page.clock.fast_forward(5000)
        fill(page, "Slow Person", "Taking my time.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        new = [queue.read(cid) for cid in set(queue.ids()) - before]
        assert [r["body"] for r in new] == ["Taking my time."]
    finally:
        context.close()


@pytest.mark.parametrize("address", ["", "#comment-pending", "reply/c-a/"])
def test_the_comment_pages_pass_axe(browser, endpoint, address):
    post, _, _ = endpoint
    context, page = open_page(browser, javascript=True)
    try:
        page.goto(post + address)
        page.add_script_tag(path=str(AXE_JS))
        assert page.evaluate(AXE_RUN, WCAG_TAGS) == []
    finally:
        context.close()
