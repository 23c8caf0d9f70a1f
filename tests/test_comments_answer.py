"""A refused comment is answered in the site's own layout (issue 14): the
build writes a shell page (comments-answer.shell) and the endpoint fills it
with an error summary in the form's words, the page's one h1 and the form
again with what the reader sent, in-process and through a real waitress
server on 127.0.0.1. Without a shell: a plain page with the same words."""

from __future__ import annotations

import http.client
import json
import logging
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from commentkit import (
    SECRET,
    SITE,
    build_fixture,
    call,
    comment,
    fixture_site,
    page_text,
    parse_html_bytes,
    pending_files,
)
from conftest import parse_html

from lab_comments import answer
from lab_comments.endpoint import CommentsApp, Config
from lab_comments.loadtest import form_body, running_server

SLUG = "a-published-post"
HONEYPOT_VALUE = "filled-by-a-bot-7f3a"
HOSTILE = "Fine point.</textarea><script>alert('x')</script><b>bold</b>"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The fixture site built once: (output folder, manifest dict)."""
    folder = tmp_path_factory.mktemp("answer")
    content = fixture_site(folder, [comment("c-a", "A first comment.")])
    output = folder / "output"
    build_fixture(content, output)
    manifest = json.loads((output / "comments-manifest.json").read_text("utf-8"))
    return output, manifest


def make(output: Path, queue: Path, **config) -> CommentsApp:
    return CommentsApp(
        Config(
            queue=queue,
            manifest=output / "comments-manifest.json",
            secret=SECRET,
            answer_shell=output / "comments-answer.shell",
            **config,
        )
    )


def reader_form(**change) -> dict[str, str]:
    form = {
        "post": SLUG,
        "reply_to": "",
        "name": "Ada Lane",
        "email": "ada@example.org",
        "website": "",
        "body": "A thoughtful comment.",
        "subject": "",
        "loaded": "",
        "sent": "",
    }
    form.update(change)
    return form


def stylesheet(output: Path) -> str:
    """The hashed main stylesheet as the site's home page links it (relative
    there: this is its absolute address)."""
    tree = parse_html(output / "index.html")
    hrefs = [
        link.get("href")
        for link in tree.iter("link")
        if link.get("rel") == "stylesheet" and not link.get("media")
    ]
    assert len(hrefs) == 1 and "/theme/css/main." in hrefs[0], hrefs
    return urljoin(SITE + "/", hrefs[0])


def check_page(data: bytes, output: Path, manifest: dict, sent: dict) -> dict:
    """What every answer page must be: the site's stylesheet, header and one
    h1, a link back to the post, an error summary whose links lead to fields
    on this page, each field under its label with no internal name, what the
    reader sent kept (escaped), never the honeypot. Returns the form's
    fields by name."""
    tree = parse_html_bytes(data)
    text = " ".join("".join(tree.itertext()).split())
    links = [n.get("href") for n in tree.iter("link") if n.get("rel") == "stylesheet"]
    assert stylesheet(output) in links
    assert len(list(tree.iter("h1"))) == 1
    assert len(list(tree.iter("header"))) == 1
    post_url = manifest["posts"][SLUG]["url"]
    hrefs = [a.get("href") for a in tree.iter("a")]
    assert any(h.startswith(post_url) for h in hrefs), hrefs
    (summary,) = [n for n in tree.iter() if n.get("role") == "alert"]
    ids = {n.get("id") for n in tree.iter() if n.get("id")}
    for link in summary.iter("a"):
        assert link.get("href").startswith("#") and link.get("href")[1:] in ids
    for internal in ("(`", "(email)", "(name)", "(body)", "<code>", "reply_to"):
        assert internal not in text, internal
    assert answer.SHELL_TITLE not in data.decode()
    assert answer.SHELL_CONTENT not in data.decode()
    (form,) = [f for f in tree.iter("form") if f.get("id") == "comment-form"]
    fields = {}
    for node in form.iter():
        if node.tag == "input" and node.get("name"):
            fields[node.get("name")] = node.get("value") or ""
        elif node.tag == "textarea":
            fields[node.get("name")] = node.text or ""
    labels = {n.get("for"): "".join(n.itertext()) for n in form.iter("label")}
    words = {"name": "Your name", "email": "Email address", "body": "Your comment"}
    for name, label in words.items():
        assert labels[f"comment-{name}"] == label
    for name in ("post", "reply_to", "name", "email", "website"):
        assert fields[name] == sent.get(name, ""), name
    # A browser drops the newline that follows <textarea>.
    assert fields["body"].removeprefix("\n") == sent["body"]
    assert fields["subject"] == fields["loaded"] == fields["sent"] == ""
    assert HONEYPOT_VALUE not in data.decode()
    assert not list(form.iter("script")) and not list(tree.iter("script"))
    return fields


REFUSALS = [
    ({"email": "ada@example"}, "email",
     "Enter an email address like name@example.org"),
    ({"body": "b" * 8001}, "body", "Your comment must be 8,000 characters or fewer"),
    ({"name": ""}, "name", "Enter your name"),
    ({"email": "nope", "body": HOSTILE}, "email",
     "Enter an email address like name@example.org"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "message"), REFUSALS)
def test_a_refused_comment_is_answered_in_the_sites_layout_with_the_form_kept(
    site, tmp_path, change, field, message
):
    output, manifest = site
    app = make(output, tmp_path / "queue")
    sent = reader_form(**change)
    got = call(app, body=sent, headers={"Origin": manifest["siteurl"]})
    assert got.status == 400
    check_page(got.body, output, manifest, sent)
    tree = parse_html_bytes(got.body)
    (summary,) = [n for n in tree.iter() if n.get("role") == "alert"]
    assert summary.get("tabindex") == "-1"
    links = {a.get("href"): "".join(a.itertext()) for a in summary.iter("a")}
    target = answer.FIELDS[field].id
    assert links == {f"#{target}": message}
    # The field's error is shown above it, and the field points to it.
    (control,) = [n for n in tree.iter() if n.get("id") == target]
    assert f"{target}-error" in control.get("aria-describedby").split()
    error = next(n for n in tree.iter() if n.get("id") == f"{target}-error")
    assert message in "".join(error.itertext())
    assert next(tree.iter("title")).text.startswith("Error: ")
    policy = got.headers["content-security-policy"]
    assert f"style-src {manifest['siteurl']}" in policy
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert pending_files(app) == []


def test_a_hostile_body_comes_back_inert(site, tmp_path):
    output, manifest = site
    app = make(output, tmp_path / "queue")
    sent = reader_form(email="nope", body=HOSTILE)
    got = call(app, body=sent, headers={"Origin": manifest["siteurl"]})
    tree = parse_html_bytes(got.body)
    assert not list(tree.iter("script")) and not list(tree.iter("b"))
    (area,) = tree.iter("textarea")
    assert area.text.removeprefix("\n") == HOSTILE


def test_a_rate_limited_reader_keeps_their_text(site, tmp_path):
    output, manifest = site
    app = make(output, tmp_path / "queue", rate_limit=1)
    headers = {"Origin": manifest["siteurl"]}
    assert call(app, body=reader_form(), headers=headers).status == 303
    sent = reader_form(body="My second thought.", subject=HONEYPOT_VALUE)
    got = call(app, body=sent, headers=headers)
    assert got.status == 429 and int(got.headers["retry-after"]) > 0
    check_page(got.body, output, manifest, {**sent, "subject": ""})
    assert "Please wait" in page_text(got)


def test_a_paused_page_keeps_the_readers_text(site, tmp_path):
    output, manifest = site
    app = make(output, tmp_path / "queue", max_pending=1)
    headers = {"Origin": manifest["siteurl"]}
    assert call(app, body=reader_form(), headers=headers).status == 303
    sent = reader_form(body="Another comment.", subject=HONEYPOT_VALUE)
    got = call(app, body=sent, headers=headers)
    assert got.status == 503 and got.headers["retry-after"] == "900"
    check_page(got.body, output, manifest, {**sent, "subject": ""})
    assert "Comments are paused" in page_text(got)


def test_the_form_can_be_sent_again_from_the_endpoints_own_page(site, tmp_path):
    """A browser posts the answer page's form with the endpoint's own origin."""
    output, manifest = site
    app = make(output, tmp_path / "queue")
    got = call(app, body=reader_form(email="ada@example"))
    assert got.status == 400
    fields = check_page(got.body, output, manifest, reader_form(email="ada@example"))
    fixed = {**fields, "email": "ada@example.org"}
    again = call(app, body=fixed, headers={"Origin": "http://127.0.0.1"})
    assert again.status == 303
    assert again.location == manifest["posts"][SLUG]["url"] + "#comment-pending"
    # Another origin still cannot post.
    other = call(app, body=fixed, headers={"Origin": "http://127.0.0.1:9"})
    assert other.status == 403


def test_without_a_shell_the_answer_is_a_plain_page_with_the_same_words(
    site, tmp_path, caplog
):
    output, manifest = site
    copy = tmp_path / "site"
    copy.mkdir()
    (copy / "comments-manifest.json").write_bytes(
        (output / "comments-manifest.json").read_bytes()
    )
    app = make(copy, tmp_path / "queue")
    sent = reader_form(email="ada@example")
    with caplog.at_level(logging.WARNING, logger="lab_comments.answer"):
        first = call(app, body=sent)
        second = call(app, body=sent)
    assert first.status == second.status == 400
    assert [r.getMessage() for r in caplog.records].count(
        caplog.records[0].getMessage()
    ) == 1 and "shell" in caplog.records[0].getMessage()
    tree = parse_html_bytes(first.body)
    assert not [n for n in tree.iter("link") if n.get("rel") == "stylesheet"]
    assert "Enter an email address like name@example.org" in page_text(first)
    assert first.headers["content-security-policy"].startswith("default-src 'none'")
    # The shell arrives with the next build: used from the next answer on.
    (copy / "comments-answer.shell").write_bytes(
        (output / "comments-answer.shell").read_bytes()
    )
    later = call(app, body=sent)
    check_page(later.body, output, manifest, sent)


def test_the_shell_is_marked_once_and_kept_from_search_and_the_sitemap(site):
    output, _ = site
    shell = (output / "comments-answer.shell").read_text("utf-8")
    assert answer.shell_problem(shell) == ""
    tree = parse_html(output / "comments-answer.shell")
    assert not list(output.rglob("comments-answer*.html"))
    robots = [m.get("content") for m in tree.iter("meta") if m.get("name") == "robots"]
    assert robots == ["noindex"]
    (main,) = tree.iter("main")
    assert main.get("data-pagefind-ignore") == "all"
    assert "comments-answer" not in (output / "sitemap.xml").read_text("utf-8")
    answer_css = [
        n.get("href") for n in tree.iter("link") if "/css/answer." in n.get("href")
    ]
    assert len(answer_css) == 1 and answer_css[0].startswith(SITE + "/")
    # Every link and the stylesheet are absolute: the endpoint serves it.
    assert stylesheet(output) in [n.get("href") for n in tree.iter("link")]
    for node in tree.iter():
        for attribute in ("href", "src"):
            value = node.get(attribute)
            if value and not value.startswith("#"):
                assert urlsplit(value).scheme in ("http", "https", "mailto"), value
    (policy,) = [
        m.get("content")
        for m in tree.iter("meta")
        if m.get("http-equiv") == "Content-Security-Policy"
    ]
    assert f"style-src 'self' {SITE}" in policy


def request(port: int, body: bytes, origin: str) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
        }
        connection.request("POST", "/comments", body, headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_through_a_real_server_the_answer_is_the_sites_page(site, tmp_path):
    output, manifest = site
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        # The shell is found beside the manifest.
        "LAB_COMMENTS_MANIFEST": str(output / "comments-manifest.json"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_RATE_LIMIT": "1",
    }
    site_origin = manifest["siteurl"]
    with running_server(environ, tmp_path / "server.log") as server:
        # Refusals of the form cost the reader nothing of their rate limit.
        cases = [
            (reader_form(email="ada@example"), 400),
            (reader_form(name="", body=HOSTILE), 400),
            (reader_form(), 303),
            (reader_form(body="Third."), 429),
        ]
        for sent, status in cases:
            got, headers, data = request(server.port, form_body(sent), site_origin)
            assert got == status
            if status == 303:
                continue
            check_page(data, output, manifest, sent)
            assert f"style-src {SITE}" in headers["Content-Security-Policy"]
        assert "Retry-After" in headers
