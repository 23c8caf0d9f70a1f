"""Issue 19, the site's side of following a challenge by email: with
LAB_COMMENTS_FOLLOW, a page of its own holds a form that works without a
script (labelled controls, POST to the endpoint's /follow), and each
challenge page and the feeds page a one-line link to it, so every page keeps
its budget; no follower's address, its keyed hash or a token ever reaches
output/ (canaries subscribed through the real endpoint, then a fixture
build)."""

from __future__ import annotations

import shutil

from commentkit import Clock, parse_html_bytes
from conftest import SAMPLE, SAMPLE_SITEURL_PROD, build
from followkit import SLUG, ask, follow_app, link_in, request, write_feed
from mailkit import smtp_server
from pageweight import heaviest, table

ENDPOINT = "https://comments.lab.example.org/api/comments"
CANARY = "canary-follower-7q2x@example.org"


def built(tmp_path, **overrides):
    output = tmp_path / "out"
    build(
        "publishconf.py",
        output,
        SITEURL=SAMPLE_SITEURL_PROD,
        LAB_COMMENTS_ENDPOINT=ENDPOINT,
        **overrides,
    )
    return output


def test_a_follow_page_has_the_form_and_challenges_and_feeds_link_to_it(tmp_path):
    output = built(tmp_path, LAB_COMMENTS_FOLLOW=True)
    page = parse_html_bytes((output / "follow/index.html").read_bytes())
    (form,) = [
        f
        for f in page.findall(".//{*}form")
        if f.get("action") == "https://comments.lab.example.org/api/follow"
    ]
    assert form.get("method") == "post"
    controls = form.findall(".//{*}input") + form.findall(".//{*}select")
    labels = {label.get("for") for label in form.findall(".//{*}label")}
    assert {c.get("name") for c in controls} == {"address", "challenge", "mode"}
    assert all(c.get("id") in labels for c in controls)
    options = [o.get("value") for o in form.findall(".//{*}option")]
    challenges = sorted(p.stem for p in (SAMPLE / "challenges").glob("*.md"))
    assert sorted(options) == challenges
    assert form.find(".//{*}button[@type='submit']") is not None
    for slug in challenges:
        challenge = output / "challenges" / slug / "index.html"
        links = parse_html_bytes(challenge.read_bytes()).findall(".//{*}a")
        follow = [a for a in links if "".join(a.itertext()).startswith("Follow this")]
        assert [a.get("href") for a in follow] == [f"{SAMPLE_SITEURL_PROD}/follow/"]
    feeds = parse_html_bytes((output / "feeds/index.html").read_bytes())
    hrefs = [a.get("href") for a in feeds.findall(".//{*}a")]
    assert f"{SAMPLE_SITEURL_PROD}/follow/" in hrefs
    # The link, not the form, on challenge pages: every page keeps its budget.
    weights = heaviest(output)
    over = {kind: w for kind, w in weights.items() if w.total > w.budget}
    assert not over, "\n" + table(weights)


def test_without_the_setting_there_is_no_page_nor_link(tmp_path):
    output = built(tmp_path)
    assert not (output / "follow").exists()
    feeds = (output / "feeds/index.html").read_bytes()
    assert b"by email" not in feeds
    for challenge in (output / "challenges").glob("*/index.html"):
        assert b"Follow this challenge by email" not in challenge.read_bytes()


def test_no_follower_address_hash_or_token_reaches_the_output(tmp_path):
    """A canary follows, confirms and gets an item through the endpoint,
    whose queue sits beside the content as on a server; the build then
    writes nothing of it."""
    content = tmp_path / "content"
    shutil.copytree(SAMPLE, content)
    write_feed(tmp_path / "site", SLUG, [("tag:x,2025:a", "A")])
    with smtp_server() as (recorder, port):
        app = follow_app(tmp_path, port, Clock())
        assert ask(app, CANARY).status == 200
        app.follow.run_once()
        link = link_in(recorder.received[0].message, "/subscriptions/confirm")
        token = link.split("t=", 1)[1]
        answer = request(app, "POST", "/subscriptions/confirm", {"t": token})
        assert answer.status == 200
        app.follow.run_once()
        write_feed(tmp_path / "site", SLUG, [("tag:x,2025:b", "B")])
        app.follow.run_once()
        assert len(recorder.received) == 2
    key = app.follow.store.key(CANARY)
    output = tmp_path / "out"
    build("publishconf.py", output, path=content, LAB_COMMENTS_FOLLOW=True)
    canaries = [CANARY.encode(), key.encode(), token.encode()]
    for path in output.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [c for c in canaries if c in data], path
    for path in content.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
