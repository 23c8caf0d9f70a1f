"""Issue 19, the site's side of following a challenge by email: with
LAB_COMMENTS_FOLLOW, each challenge page (for that challenge), the feeds
page and a page of its own (a challenge to pick) hold a form that works
without a script (labelled controls, POST to the endpoint's /follow), and
every page keeps its budget; the manifest lists the challenges the endpoint
lets readers follow; no follower's address, its keyed hash or a token ever
reaches content/, output/ or the git history (canaries subscribed through
the real endpoint, then a fixture build and a commit)."""

from __future__ import annotations

import json
import shutil
import subprocess

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


def follow_forms(page) -> list:
    tree = parse_html_bytes(page.read_bytes())
    return [
        form
        for form in tree.findall(".//{*}form")
        if form.get("action") == "https://comments.lab.example.org/api/follow"
    ]


def check_form(form, tree) -> dict[str, str]:
    """A form a reader can use without a script: posted, every control it
    shows labelled, a mode to choose, a button; the fields it sends."""
    assert form.get("method") == "post"
    shown = [
        c
        for c in form.findall(".//{*}input") + form.findall(".//{*}select")
        if c.get("type") != "hidden"
    ]
    labels = {label.get("for") for label in form.findall(".//{*}label")}
    assert shown and all(c.get("id") in labels for c in shown)
    modes = [o.get("value") for o in form.find(".//{*}select[@name='mode']")]
    assert modes == ["each", "weekly"]
    address = form.find(".//{*}input[@name='address']")
    assert address.get("type") == "email" and address.get("autocomplete") == "email"
    assert form.find(".//{*}button[@type='submit']") is not None
    heading = tree.find(f".//*[@id='{form.get('aria-labelledby')}']")
    assert heading is not None and heading.tag.endswith(("h1", "h2", "h3"))
    return {
        c.get("name"): c.get("value")
        for c in form.findall(".//{*}input")
        if c.get("type") == "hidden"
    }


def test_challenge_pages_the_feeds_page_and_a_page_of_its_own_have_the_form(
    tmp_path,
):
    output = built(tmp_path, LAB_COMMENTS_FOLLOW=True)
    challenges = sorted(p.stem for p in (SAMPLE / "challenges").glob("*.md"))
    for slug in challenges:
        page = output / "challenges" / slug / "index.html"
        (form,) = follow_forms(page)
        tree = parse_html_bytes(page.read_bytes())
        assert check_form(form, tree) == {"challenge": slug}
    for page in (output / "follow/index.html", output / "feeds/index.html"):
        (form,) = follow_forms(page)
        assert check_form(form, parse_html_bytes(page.read_bytes())) == {}
        options = [o.get("value") for o in form.find(".//{*}select[@name='challenge']")]
        assert sorted(options) == challenges
    manifest = json.loads((output / "comments-manifest.json").read_bytes())
    assert manifest["challenges"] == challenges
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
        assert follow_forms(challenge) == []


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
    leave = link_in(recorder.received[-1].message, "/unsubscribe").split("t=", 1)[1]
    output = tmp_path / "out"
    build("publishconf.py", output, path=content, LAB_COMMENTS_FOLLOW=True)
    git(content, "init", "-q")
    git(content, "add", "-A")
    git(content, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    canaries = [CANARY, key, token, token.rsplit(".", 1)[1], leave]
    assert all(canaries)
    for folder in (output, content):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not [c for c in canaries if c.encode() in data], path
    history = git(content, "log", "-p", "--all")
    assert "Improvement" in history  # the history holds the content
    assert not [c for c in canaries if c in history]


def git(folder, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout
