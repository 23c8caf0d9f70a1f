"""Comments as a reader meets them, in headless Chromium (Debian's, driven by
playwright): with JavaScript off the form goes to a real endpoint on
127.0.0.1 and the reader comes back to the "waiting for moderation" notice,
and a comment's "Reply" link leads to the page's one form, where the reader
chooses whom they answer in its "Replying to" list; with JavaScript on, the
script stamps the form, and "Reply" chooses the comment in the list for the
reader and names it in the form's heading.
The site itself is answered from the built files; nothing else is reached.
Runs in `make check`."""

from __future__ import annotations

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from check_site import AXE_JS, AXE_RUN, WCAG_TAGS
from commentkit import SECRET, build_fixture, comment, fixture_site

from lab_comments.loadtest import running_server
from lab_comments.store import Queue

pytestmark = pytest.mark.gates

# A comment's date as the page writes it: "14 April 2025 at 2pm".
DATE = r"\d{1,2} [A-Z][a-z]+ \d{4} at \d{1,2}(:\d\d)?[ap]m"


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
        # Every test here sends from 127.0.0.1: more than the default 5.
        "LAB_COMMENTS_RATE_LIMIT": "50",
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


def open_page(browser, javascript: bool, bypass_csp: bool = False):
    context = browser.new_context(java_script_enabled=javascript, bypass_csp=bypass_csp)

    # Only 127.0.0.1 (the site and the endpoint) is ever reached.
    def local_only(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    context.route("**/*", local_only)
    return context, context.new_page()


def fill(form, name: str, body: str) -> None:
    """Fill in a comment form: the page's main form, or a reply form."""
    form.get_by_label("Your name").fill(name)
    first = name.split(maxsplit=1)[0].lower()
    form.get_by_label("Email address").fill(f"{first}@example.net")
    form.locator("textarea[name=body]").fill(body)


def replying_to_ann(page) -> str:
    """The list's words for Ann's comment: her name and its date."""
    return page.locator("#comment-reply-to option[value=c-a]").inner_text()


def main_form(page):
    return page.locator("#comment-form")


def replying_to(page) -> str:
    """What the form's "Replying to" list says now."""
    return page.get_by_label("Replying to").evaluate(
        "select => select.options[select.selectedIndex].text"
    )


def test_without_javascript_a_comment_is_sent_and_the_reader_told(browser, endpoint):
    post, _, queue = endpoint
    context, page = open_page(browser, javascript=False)
    try:
        page.goto(post)
        fill(main_form(page), "Nora Script-free", "Sent with JavaScript off.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        notice = page.locator("#comment-pending")
        assert notice.is_visible()
        assert "waiting for moderation" in notice.inner_text()
        bodies = [queue.read(cid)["body"] for cid in queue.ids()]
        assert "Sent with JavaScript off." in bodies
        # "Reply" leads to the form; without the script the reader chooses
        # the comment in its list, which answers that comment.
        page.goto(post)
        assert page.locator("form").count() == 2  # the header's search, and this
        assert replying_to(page) == "No one: a new comment"
        page.get_by_role("link", name="Reply to Ann").click()
        assert page.url == post + "#comment-form"
        choice = page.get_by_label("Replying to")
        assert choice.is_visible()
        choice.select_option(label=replying_to_ann(page))
        fill(main_form(page), "Omar Reply", "A reply, no script.")
        before = set(queue.ids())
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        (sent,) = [queue.read(cid) for cid in set(queue.ids()) - before]
        assert sent["reply_to"] == "c-a" and sent["body"] == "A reply, no script."
    finally:
        context.close()


def test_with_javascript_the_forms_are_stamped_and_replies_work_the_same(
    browser, endpoint
):
    post, _, queue = endpoint
    context, page = open_page(browser, javascript=True)
    try:
        page.clock.install()
        page.goto(post)
        stamps = page.locator("[data-lab-loaded]")
        assert stamps.count() == 1  # one form
        assert all(value.isdigit() for value in stamps.evaluate_all(
            "nodes => nodes.map(n => n.value)"))  # fmt: skip
        # Dates stay dates ("14 April 2025 at 2pm"), never a rough "… ago".
        dates = page.locator(".lab-comment__meta time").all_inner_texts()
        assert dates and all(re.fullmatch(DATE, d) for d in dates), dates
        assert "ago" not in page.locator("#comments").inner_text()
        # "Reply" chooses Ann's comment in the list, names it in the form's
        # heading and takes focus there; choosing "No one" undoes it.
        heading = page.locator("#comment-form-heading")
        page.get_by_role("link", name="Reply to Ann").click()
        assert replying_to(page) == replying_to_ann(page)
        assert heading.inner_text() == f"Your reply to {replying_to_ann(page)}"
        assert page.evaluate("document.activeElement.id") == "comment-reply-to"
        page.get_by_label("Replying to").select_option(value="")
        assert heading.inner_text() == "Leave a comment or a reply"
        page.get_by_role("link", name="Reply to Ann").click()
        page.clock.fast_forward(5000)
        fill(main_form(page), "Rhys Script", "A reply, with the script.")
        before = set(queue.ids())
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        (sent,) = [queue.read(cid) for cid in set(queue.ids()) - before]
        assert sent["reply_to"] == "c-a"
        # Sent within 3 seconds of loading: answered like a success, not kept.
        page.goto(post)
        before = set(queue.ids())
        fill(main_form(page), "Quick Bot", "Too fast to be a person.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert set(queue.ids()) == before
        # A person takes longer.
        page.goto(post)
        page.clock.fast_forward(5000)
        fill(main_form(page), "Slow Person", "Taking my time.")
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        new = [queue.read(cid) for cid in set(queue.ids()) - before]
        assert [r["body"] for r in new] == ["Taking my time."]
    finally:
        context.close()


@pytest.mark.parametrize("address", ["", "#comment-pending", "#comment-form"])
def test_the_comment_pages_pass_axe(browser, endpoint, address):
    post, _, _ = endpoint
    # axe is added to the page as an inline script, which the page's policy
    # refuses (as it should); tests/test_csp_browser.py checks the policy.
    context, page = open_page(browser, javascript=True, bypass_csp=True)
    try:
        page.goto(post + address)
        page.add_script_tag(path=str(AXE_JS))
        assert page.evaluate(AXE_RUN, WCAG_TAGS) == []
    finally:
        context.close()


def test_a_refused_comment_comes_back_styled_with_the_text_kept_and_can_be_resent(
    browser, endpoint
):
    """Issue 14: with JavaScript off, a comment the endpoint refuses (an
    address the browser takes but the endpoint does not) comes back as a
    page of the site, its stylesheet loaded under the page's policy, with
    the reader's words in the form; corrected there, it is sent."""
    post, server, queue = endpoint
    context, page = open_page(browser, javascript=False)
    violations = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security" in m.text else None,
    )
    body = "Kept for me.\n</textarea><script>document.title='x'</script> & more"
    try:
        page.goto(post)
        form = main_form(page)
        form.get_by_label("Your name").fill("Wyn Typo")
        form.get_by_label("Email address").fill("wyn@example")
        form.locator("textarea[name=body]").fill(body)
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Send comment for moderation").click()
        assert navigation.value.status == 400
        assert page.url.startswith(server.origin)
        assert page.locator("h1").count() == 1
        summary = page.get_by_role("alert")
        assert "Enter an email address like name@example.org" in summary.inner_text()
        # Styled: the site's stylesheet and the answer's own were allowed.
        colour = summary.evaluate("n => getComputedStyle(n).borderTopColor")
        assert colour == "rgb(212, 53, 28)"
        skip = page.locator(".lab-skip-link")
        assert skip.evaluate("n => getComputedStyle(n).position") == "absolute"
        assert violations == []
        # The summary's link leads to the field; the reader's words are kept.
        summary.get_by_role("link").click()
        assert page.evaluate("document.activeElement.id") == "comment-email"
        assert page.get_by_label("Your comment", exact=True).input_value() == body
        assert page.get_by_label("Your name").input_value() == "Wyn Typo"
        assert page.get_by_role("link", name="Go back to the update").is_visible()
        page.get_by_label("Email address").fill("wyn@example.org")
        before = set(queue.ids())
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        (sent,) = [queue.read(cid) for cid in set(queue.ids()) - before]
        assert sent["body"] == body and sent["name"] == "Wyn Typo"
        assert sent["email"] == "wyn@example.org"
    finally:
        context.close()


def test_the_answer_to_a_refused_comment_passes_axe(browser, endpoint):
    post, _, _ = endpoint
    context, page = open_page(browser, javascript=True, bypass_csp=True)
    try:
        page.clock.install()
        page.goto(post)
        page.clock.fast_forward(5000)
        fill(main_form(page), "Axe Reader", "Checked by axe.")
        # An address the browser takes and the endpoint refuses.
        main_form(page).get_by_label("Email address").fill("axe@example")
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Send comment for moderation").click()
        assert navigation.value.status == 400
        page.add_script_tag(path=str(AXE_JS))
        assert page.evaluate(AXE_RUN, WCAG_TAGS) == []
    finally:
        context.close()
