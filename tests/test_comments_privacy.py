"""The promise of the comments policy and privacy notice: an email address is
never shown. After comments are sent, approved and built, no email address,
no hash of one and no client address (nor its hash) is anywhere in content/
or output/; the queue holds them, and only until they are due to go."""

from __future__ import annotations

import hashlib
import shutil
from urllib.parse import quote

from commentkit import (
    SECRET,
    build_fixture,
    built_site_and_endpoint,
    call,
    form_fields,
)

from lab_comments import cli, schema
from lab_comments.store import load_yaml

POST = "updates/2025/a-published-post/index.html"


def hashes_of(value: str) -> set[str]:
    """Every unkeyed hash someone might publish (Gravatar uses MD5 of the
    trimmed, lower-case address), in hex."""
    found = set()
    for variant in {value, value.strip().lower()}:
        data = variant.encode()
        for name in ("md5", "sha1", "sha256", "sha512"):
            found.add(hashlib.new(name, data).hexdigest())
    return found


def test_no_email_address_or_hash_of_one_is_published(tmp_path):
    content, output, app = built_site_and_endpoint(tmp_path, [])
    _, fields = form_fields(output / POST)
    emails = [f"Private.Person{n}@Mail-{n}.example" for n in range(6)]
    addresses = [f"198.51.100.{n + 10}" for n in range(6)]
    for n, (email, address) in enumerate(zip(emails, addresses, strict=True)):
        form = {
            **fields,
            "name": f"Person {n}",
            "email": email,
            "body": f"Comment number {n}.",
            "website": f"https://p{n}.example",
        }
        assert call(app, body=form, remote=address).status == 303

    secrets = set()
    for comment_id in app.queue.ids():
        record = app.queue.read(comment_id)
        assert record["email"] in emails  # the queue does hold it, privately
        secrets |= {record["client"], record["sender"], record["fingerprint"]}
    assert len(secrets) == 18
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(content / "comments"),
        "LAB_COMMENTS_MANIFEST": str(app.config.manifest),
    }
    for comment_id in app.queue.ids():
        assert cli.main(["approve", comment_id], environ=environ) == 0
    assert app.queue.ids() == []
    shutil.rmtree(output)
    assert build_fixture(content, output).messages() == []

    needles = set(secrets) | set(addresses)
    for email in emails:
        needles |= {email, email.lower(), quote(email), quote(email.lower()),
                    email.split("@")[0].lower()}  # fmt: skip
        needles |= hashes_of(email)
    files = [p for p in [*content.rglob("*"), *output.rglob("*")] if p.is_file()]
    assert len(files) > 50
    published = list((content / "comments").rglob("*.yaml"))
    assert len(published) == 6
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace").lower()
        for needle in needles:
            assert needle.lower() not in text, f"{needle} in {path}"
    for path in published:
        assert set(load_yaml(path.read_bytes())) <= set(schema.PUBLISHED_FIELDS)
    # What the page does show: the names and the websites people chose to give.
    page = (output / POST).read_text()
    assert "Person 3" in page and "https://p3.example" in page
