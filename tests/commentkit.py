"""Helpers for the comments tests: call the endpoint as a WSGI server would
(with wsgiref's PEP 3333 validator in between), build a fixture site with
comments, and read forms and threads back from built pages with html5lib."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import wsgiref.util
import wsgiref.validate
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from conftest import FIXTURES, SAMPLE_SITEURL_DEV, build, parse_html

from lab_comments.endpoint import CommentsApp, Config
from lab_comments.loadtest import write_manifest
from lab_comments.store import Published

SITE = "http://127.0.0.1:8000"
SECRET = b"test-secret-" + b"s" * 40
EXISTING = "20250101-090000-aaaaaa"
GOOD = {
    "post": "a-post",
    "name": "Ada Lane",
    "email": "ada@example.org",
    "body": "A thoughtful comment.",
}
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class Clock:
    """A settable UTC clock and a monotonic one that moves with it."""

    def __init__(self, now: dt.datetime | None = None):
        # Real time by default: the moderation CLI, run beside, reads the clock.
        now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.now = now
        self.start = now

    def __call__(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self.start).total_seconds() + 1000.0

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


def make_app(
    folder: Path,
    posts: Mapping[str, dict] | None = None,
    clock: Clock | None = None,
    **config: Any,
) -> CommentsApp:
    """An endpoint with its own queue and a manifest of `posts` (default: an
    open post with one approved comment, and a closed post)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    if posts is None:
        posts = {"a-post": {"comments": [EXISTING]}, "closed-post": {"open": False}}
    write_manifest(manifest, SITE, posts)
    clock = clock or Clock()
    settings = {"rate_limit": 1000, "post_hourly": 1000, **config}
    return CommentsApp(
        Config(queue=folder / "queue", manifest=manifest, secret=SECRET, **settings),
        clock=clock,
        monotonic=clock.monotonic,
    )


class UnreadableInput(io.BytesIO):
    """A request body that fails the test if the application reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def call(
    app,
    method: str = "POST",
    *,
    path: str = "/comments",
    body: bytes | str | Mapping[str, Any] = b"",
    headers: Mapping[str, str] | None = None,
    remote: str = "203.0.113.7",
    stream: io.BytesIO | None = None,
    content_length: str | None = None,
    validate: bool = True,
) -> Answer:
    """One request through wsgiref's validator, as a real server would make
    it. A mapping body is form-encoded (lists give repeated fields)."""
    if isinstance(body, Mapping):
        body = urlencode(body, doseq=True)
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"Content-Type": FORM_TYPE, "Origin": SITE, **(headers or {})}
    path, _, query = path.partition("?")
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(
        {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "REMOTE_ADDR": remote,
            "QUERY_STRING": query,
            "wsgi.input": stream if stream is not None else io.BytesIO(body),
        }
    )
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    elif method in ("POST", "PUT"):
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        if value is None:
            continue
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    captured: dict[str, Any] = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}
        return lambda data: None

    # wsgiref's validator refuses what a server would never pass on (a negative
    # Content-Length, say); `validate=False` calls the application directly.
    wrapped = wsgiref.validate.validator(app) if validate else app
    result = wrapped(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return Answer(captured["status"], captured["headers"], data)


def pending_files(app: CommentsApp) -> list[Path]:
    return sorted(app.queue.pending_dir.glob("*.yaml"))


def page_text(answer: Answer) -> str:
    tree = parse_html_bytes(answer.body)
    return " ".join("".join(tree.itertext()).split())


def parse_html_bytes(data: bytes):
    import html5lib

    return html5lib.parse(data, treebuilder="etree", namespaceHTMLElements=False)


# -- fixture sites


def fixture_site(tmp_path: Path, comments: list[dict] | None = None) -> Path:
    """A copy of the fixture site with these published comments."""
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "site", content)
    published = Published(content / "comments")
    for record in comments or []:
        published.write(record)
    return content


def build_fixture(content: Path, output: Path, **overrides):
    overrides.setdefault("SITEURL", SAMPLE_SITEURL_DEV)
    overrides.setdefault("LAB_TODAY", dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC))
    return build("pelicanconf.py", output, path=content, **overrides)


def comment(
    comment_id: str,
    body: str = "A comment.",
    *,
    post: str = "a-published-post",
    name: str = "Cara Diaz",
    date: str = "2025-05-02T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    record = {"id": comment_id, "post": post, "name": name, "date": date}
    record.update(extra)
    record["body"] = body
    return record


def built_site_and_endpoint(
    folder: Path, comments: list[dict], **config: Any
) -> tuple[Path, Path, CommentsApp]:
    """The fixture site with `comments`, built into folder/output, and an
    endpoint that reads its manifest and queues into folder/queue."""
    content = fixture_site(folder, comments)
    output = folder / "output"
    build_fixture(content, output)
    app = CommentsApp(
        Config(
            queue=folder / "queue",
            manifest=output / "comments-manifest.json",
            secret=SECRET,
            **config,
        )
    )
    return content, output, app


def form_fields(
    page: Path, within: str = "comment-form", reply_to: str | None = None
) -> tuple[str, dict[str, str]]:
    """A comment form on a built page: its action and the fields a browser
    would send with JavaScript off (hidden fields as they are, the rest empty,
    a list as it is chosen: its first choice, or the comment `reply_to` as a
    reader would choose it, which must be one of its choices). `within` is
    the id of the form, or of the element that holds it."""
    tree = parse_html(page)
    holder = next(n for n in tree.iter() if n.get("id") == within)
    form = holder if holder.tag == "form" else next(holder.iter("form"))
    fields = {}
    for node in form.iter():
        if node.tag in ("input", "textarea") and node.get("name"):
            fields[node.get("name")] = node.get("value") or ""
        elif node.tag == "select" and node.get("name"):
            values = [option.get("value") for option in node.iter("option")]
            if reply_to is None:
                fields[node.get("name")] = values[0]
            else:
                assert reply_to in values, f"{reply_to} is not a choice: {values}"
                fields[node.get("name")] = reply_to
    if reply_to is not None:
        assert "reply_to" in fields, "the form has no list of comments to answer"
    return form.get("action"), fields


def thread_of(page: Path) -> list[tuple[int, str, str]]:
    """(nesting level, comment id, author name) for each comment on a page,
    in reading order: level 0 is a top-level comment."""
    tree = parse_html(page)
    section = next(s for s in tree.iter("section") if s.get("id") == "comments")
    found: list[tuple[int, str, str]] = []

    def walk(node, level):
        for child in node:
            if child.tag == "article" and "lab-comment" in child.get("class", ""):
                heading = next(
                    h for h in child.iter() if h.get("id", "").endswith("-by")
                )
                name = " ".join("".join(heading.itertext()).split())
                found.append((level, child.get("id").removeprefix("comment-"), name))
            elif child.tag == "ol" and "lab-comments__list--replies" in child.get(
                "class", ""
            ):
                walk(child, level + 1)
            else:
                walk(child, level)

    walk(section, 0)
    return found


def comment_page_files(post_page: Path) -> list[Path]:
    """A post's page and the pages of its comments after it (comments/2/,
    comments/3/, ...: LAB_COMMENTS_PER_PAGE), in order."""
    others = (post_page.parent / "comments").glob("*/index.html")
    return [post_page, *sorted(others, key=lambda page: int(page.parent.name))]


def parse_comment_pages(post_page: Path):
    """A post's page and the pages of its comments, each parsed (html5lib),
    under one root element, so that `.iter()` walks every comment of the
    post whichever page shows it."""
    root = ElementTree.Element("pages")
    for page in comment_page_files(post_page):
        root.append(parse_html(page))
    return root
