"""Helpers for the follow-a-challenge tests: a challenge's Atom feed written
as the build writes it (feeds/challenge/<slug>.atom.xml), an endpoint with
following on and its email going to a test's SMTP server, and requests to
links that carry a query (the confirm and unsubscribe links)."""

from __future__ import annotations

import email.policy
import io
import wsgiref.util
import wsgiref.validate
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from commentkit import SITE, Answer, Clock, make_app
from mailkit import local_settings

from lab_comments.follow import FollowSettings
from lab_comments.mail import MailSettings

ATOM = "http://www.w3.org/2005/Atom"
FROM = "Lab updates <updates@lab.example.org>"
SLUG = "falls-at-home"
# The endpoint's public address: every link of the emails starts with it.
PUBLIC = "https://comments.lab.example.org"


def mail_settings(port: int) -> MailSettings:
    return local_settings(port, FROM)


def write_feed(folder: Path, slug: str, items: list[tuple[str, str]]) -> Path:
    """An Atom feed of (id, title) items, newest first, at the build's path."""
    feed = ElementTree.Element(f"{{{ATOM}}}feed")
    ElementTree.SubElement(feed, f"{{{ATOM}}}title").text = f"Lab: {slug}"
    ElementTree.SubElement(feed, f"{{{ATOM}}}id").text = f"{SITE}/challenges/{slug}/"
    for ident, title in items:
        entry = ElementTree.SubElement(feed, f"{{{ATOM}}}entry")
        ElementTree.SubElement(entry, f"{{{ATOM}}}id").text = ident
        ElementTree.SubElement(entry, f"{{{ATOM}}}title").text = title
        ElementTree.SubElement(
            entry, f"{{{ATOM}}}link", href=f"{SITE}/{ident.rsplit(':', 1)[-1]}/"
        )
    path = folder / "feeds" / "challenge" / f"{slug}.atom.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ElementTree.tostring(feed, xml_declaration=True))
    return path


def follow_app(tmp_path: Path, port: int, clock: Clock, **settings: Any):
    """An endpoint with following on, reading feeds from tmp_path/site
    unless `feed` says where."""
    local = str(tmp_path / "site" / "feeds" / "challenge" / "{slug}.atom.xml")
    settings.setdefault("feed", local)
    return make_app(
        tmp_path / "endpoint",
        clock=clock,
        mail=mail_settings(port),
        follow=FollowSettings(**settings),
        public_url=PUBLIC,
    )


def request(  # noqa: PLR0917 (a request's parts, in order)
    app,
    method: str,
    url: str,
    body: dict | str = "",
    remote: str = "203.0.113.9",
    host: str = "",
) -> Answer:
    """One request to a full link (path and query) of the endpoint, with
    the Host header `host` when given."""
    parts = urlsplit(url)
    data = (urlencode(body) if isinstance(body, dict) else body).encode()
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=parts.path,
        QUERY_STRING=parts.query,
        REMOTE_ADDR=remote,
        CONTENT_TYPE="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(len(data)),
        **{"wsgi.input": io.BytesIO(data)},
    )
    if host:
        environ["HTTP_HOST"] = host
    if method == "GET":
        del environ["CONTENT_LENGTH"]
    captured: dict[str, Any] = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in headers}
        return lambda data: None

    result = wsgiref.validate.validator(app)(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()
    return Answer(captured["status"], captured["headers"], content)


def ask(app, address: str, mode: str = "each", slug: str = SLUG, remote=None):
    body = {"address": address, "challenge": slug, "mode": mode}
    return request(app, "POST", "/follow", body, remote=remote or "203.0.113.9")


def link_in(message, path: str) -> str:
    """The endpoint link to `path` in a message's plain text."""
    text = message.get_body(("plain",)).get_content()
    for word in text.split():
        if urlsplit(word).path == path:
            return word
    raise AssertionError(f"no {path} link in {text!r}")


def parsed(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)
