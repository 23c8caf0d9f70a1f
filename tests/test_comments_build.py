"""Comments in the built site: threads under their post, the form and its list
of comments to answer, feeds, the manifest, closed posts, broken files; then
the whole loop (a form of a built page, the endpoint, approval, a rebuild, a
reply chosen in the form's list)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from commentkit import (
    SECRET,
    build_fixture,
    built_site_and_endpoint,
    call,
    comment,
    fixture_site,
    form_fields,
    thread_of,
)
from conftest import (
    ROOT,
    SAMPLE_SITEURL_DEV,
    SAMPLE_SITEURL_PROD,
    html_files,
    parse_html,
)
from lxml import etree
from sitecheck import broken_references

from lab_comments import cli
from lab_comments.endpoint import CommentsApp, Config
from lab_comments.loadtest import form_body, running_server
from lab_comments.plugin import CommentValidationError, comments_state
from lab_comments.settings import SettingsError, comment_settings

POST = "updates/2025/a-published-post/index.html"
OTHER = "updates/2025/an-ideas-post/index.html"
ATOM = "{http://www.w3.org/2005/Atom}"

THREAD = [
    comment("c-a", "First, *top level*.", name="Ann", date="2025-05-02T09:00:00Z",
            website="https://ann.example"),
    comment("c-b", "Reply to Ann.", name="Lab Person", date="2025-05-02T10:00:00Z",
            reply_to="c-a", staff=True),
    comment("c-c", "Second top level.", name="Cy", date="2025-05-03T09:00:00Z"),
    comment("c-d", "Reply to the reply.", name="Dee", date="2025-05-04T09:00:00Z",
            reply_to="c-b"),
]  # fmt: skip


@pytest.fixture(scope="module")
def threaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threaded")
    content = fixture_site(folder, THREAD)
    # With the reply-email box on (off by default: see the test below).
    log = build_fixture(content, folder / "output", LAB_COMMENTS_REPLY_EMAILS=True)
    return folder / "output", log


def text_of(node) -> str:
    return " ".join("".join(node.itertext()).split())


def by_id(tree, ident):
    return next(n for n in tree.iter() if n.get("id") == ident)


def test_a_thread_is_built_under_its_post(threaded):
    output, log = threaded
    assert log.messages() == []
    assert thread_of(output / POST) == [
        (0, "c-a", "Ann"),
        (1, "c-b", "Lab Person Lab team"),
        (2, "c-d", "Dee"),
        (0, "c-c", "Cy"),
    ]
    tree = parse_html(output / POST)
    heading = text_of(by_id(tree, "comments-heading"))
    assert heading == "Comments (4)"
    first = by_id(tree, "comment-c-a")
    author = next(
        a for a in first.iter("a") if a.get("class") == "lab-comment__author-link"
    )
    assert author.get("href") == "https://ann.example"
    assert set(author.get("rel").split()) == {"nofollow", "ugc", "noopener"}
    time = next(first.iter("time"))
    assert time.get("datetime") == "2025-05-02T10:00:00+01:00"
    assert text_of(time) == "2 May 2025 at 10am"
    assert [e.tag for e in by_id(tree, "comment-c-a").iter("em")] == ["em"]
    assert broken_references(output, SAMPLE_SITEURL_DEV) == []


def visible_fields(form) -> list:
    return [
        node for node in form.iter()
        if node.tag in ("input", "textarea") and node.get("type") != "hidden"
    ]  # fmt: skip


def test_every_reply_link_leads_to_the_one_form_whose_list_names_it(threaded):
    """One form per page, not one per comment (a page with a long thread
    stays light): its "Replying to" list names every comment on the page in
    thread order after "No one", chosen at first; each "Reply" link leads to
    it. Without JavaScript the reader chooses in the list; with it, the
    link does (the browser test). No page is written per comment."""
    output, _ = threaded
    tree = parse_html(output / POST)
    links = {
        a.get("data-lab-reply"): a.get("href")
        for a in tree.iter("a")
        if a.get("data-lab-reply")
    }
    order = ["c-a", "c-b", "c-d", "c-c"]
    assert links == dict.fromkeys(order, "#comment-form")
    assert [
        f.get("id")
        for f in tree.iter("form")
        if f.get("action", "").endswith("/comments")
    ] == ["comment-form"]
    choice = by_id(tree, "comment-reply-to")
    assert (choice.tag, choice.get("name")) == ("select", "reply_to")
    label = next(x for x in tree.iter("label") if x.get("for") == "comment-reply-to")
    assert text_of(label) == "Replying to"
    hint = by_id(tree, choice.get("aria-describedby"))
    assert "“Reply” link" in text_of(hint)
    options = [(o.get("value"), text_of(o)) for o in choice.iter("option")]
    names = {"c-a": "Ann", "c-b": "Lab Person", "c-c": "Cy", "c-d": "Dee"}
    assert options[0] == ("", "No one: a new comment")
    assert [value for value, _ in options[1:]] == order
    for value, text in options[1:]:
        # The name and the date the comment shows, so that two comments by
        # one person can be told apart.
        shown = text_of(next(by_id(tree, f"comment-{value}").iter("time")))
        assert text.startswith(names[value] + ", "), text
        assert text.split(", ", 1)[1].startswith(shown.split(" at ")[0]), text
    assert not [o for o in choice.iter("option") if o.get("selected") is not None]
    main_action, main_fields = form_fields(output / POST)
    assert main_fields["reply_to"] == ""
    for comment_id in order:
        action, fields = form_fields(output / POST, reply_to=comment_id)
        assert action == main_action
        assert fields == {**main_fields, "reply_to": comment_id}
    heading = by_id(tree, "comment-form-heading")
    assert text_of(heading) == "Leave a comment or a reply"
    assert not [n for n in tree.iter() if (n.get("id") or "").startswith("reply-")]
    assert not (output / "updates/2025/a-published-post/reply").exists()
    assert not list(output.rglob("reply/*/index.html"))


def test_a_post_without_comments_has_no_list_to_answer_from(threaded):
    output, _ = threaded
    tree = parse_html(output / "updates/2025/an-ideas-post/index.html")
    assert by_id(tree, "comment-form") is not None
    assert not list(tree.iter("select"))
    assert text_of(by_id(tree, "comment-form-heading")) == "Leave a comment"
    _, fields = form_fields(output / "updates/2025/an-ideas-post/index.html")
    assert fields["reply_to"] == ""


def test_the_list_of_comments_never_widens_the_page():
    """A long name in the list would make the page scroll sideways at 320 px;
    the accessibility gate checks that in Chromium."""
    css = (ROOT / "theme/css/components/comments.css").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)  # no comments
    rules = {
        selector.strip(): body
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)
        for selector in selectors.split(",")
    }
    # The comment form's list, and the follow form's (partials/follow_form.html).
    assert "max-width: 100%" in rules[".lab-comment-form__select"]
    assert "max-width: 100%" in rules[".lab-follow select"]


def test_the_nesting_cap_keeps_deep_replies_at_the_last_level(tmp_path):
    content = fixture_site(tmp_path, THREAD)
    build_fixture(content, tmp_path / "out", LAB_COMMENTS_MAX_DEPTH=1)
    assert [level for level, _, _ in thread_of(tmp_path / "out" / POST)] == [0, 1, 1, 0]
    tree = parse_html(tmp_path / "out" / POST)
    deep = by_id(tree, "comment-c-d")
    note = next(
        s for s in deep.iter("span") if s.get("class") == "lab-comment__in-reply-to"
    )
    assert text_of(note) == "In reply to Lab Person"
    assert next(note.iter("a")).get("href").endswith("#comment-c-b")


def test_the_reply_email_box_is_shown_only_when_the_site_turns_it_on(tmp_path):
    """Off by default: a box no endpoint acts on promises an email that never
    comes (LAB_COMMENTS_REPLY_EMAILS)."""
    content = fixture_site(tmp_path, THREAD)
    build_fixture(content, tmp_path / "out")
    form = by_id(parse_html(tmp_path / "out" / POST), "comment-form")
    names = {node.get("name") for node in form.iter() if node.get("name")}
    assert "notify" not in names and {"email", "body"} <= names
    assert "Email me" not in " ".join(form.itertext())
    notice = text_of(by_id(parse_html(tmp_path / "out" / POST), "comment-pending"))
    assert "moderation" in notice and "confirm" not in notice


def test_the_form_is_labelled_and_works_without_javascript(threaded):
    output, _ = threaded
    tree = parse_html(output / POST)
    form = by_id(tree, "comment-form")
    assert form.get("method") == "post"
    assert form.get("action") == "http://127.0.0.1:8001/comments"
    labels = {label.get("for"): text_of(label) for label in form.iter("label")}
    visible = [
        node for node in form.iter()
        if node.tag in ("input", "textarea") and node.get("type") != "hidden"
    ]  # fmt: skip
    # A label names its control by `for`, or by holding it (the notify box:
    # an implicit label, which the post page's weight budget can afford).
    held = {
        control
        for label in form.iter("label")
        for control in label.iter()
        if control is not label and text_of(label)
    }
    for node in visible:
        assert labels.get(node.get("id")) or node in held, node.get("name")
    notify = next(node for node in held if node.get("name") == "notify")
    assert notify.get("type") == "checkbox" and notify.get("checked") is None
    names = {node.get("name") for node in form.iter() if node.get("name")}
    assert names == {"post", "reply_to", "name", "email", "website", "body", "notify",
                     "subject", "loaded", "sent"}  # fmt: skip
    email = by_id(form, "comment-email")
    assert email.get("type") == "email" and email.get("autocomplete") == "email"
    hint = by_id(tree, email.get("aria-describedby"))
    assert "Never shown" in text_of(hint)
    assert labels["comment-website"] == "Your website (optional)"
    assert by_id(form, "comment-body").get("maxlength") == "8000"
    assert by_id(form, "comment-name").get("maxlength") == "80"
    # The honeypot: out of sight, out of the accessibility tree, out of the tab order.
    trap = by_id(form, "comment-subject")
    wrapper = next(d for d in form.iter("div") if trap in list(d.iter("input")))
    assert wrapper.get("aria-hidden") == "true"
    assert "lab-u-visually-hidden" in wrapper.get("class").split()
    assert trap.get("tabindex") == "-1" and trap.get("autocomplete") == "off"
    links = {text_of(a): a.get("href") for a in form.iter("a")}
    assert links["comments policy"].endswith("comments-policy/")
    assert links["privacy notice"].endswith("privacy/")
    notice = by_id(tree, "comment-pending")
    assert notice.get("hidden") is not None and "moderation" in text_of(notice)
    # The box is on here: a reader who ticked it learns to look for the link.
    assert "the link we have emailed you to confirm" in text_of(notice)
    buttons = [b for b in form.iter("button") if b.get("type") == "submit"]
    assert [text_of(b) for b in buttons] == ["Send comment for moderation"]


def test_the_script_only_enhances(threaded):
    output, _ = threaded
    tree = parse_html(output / POST)
    # One script, the site's bundle (lab_assets), which holds the comments
    # script; a module, so deferred: it runs after the page is parsed.
    scripts = [s for s in tree.iter("script") if s.get("src")]
    assert len(scripts) == 1 and scripts[0].get("type") == "module"
    bundle = (output / POST).parent / scripts[0].get("src")
    assert bundle.resolve().parent == (output / "theme/js").resolve()
    assert "/* js/comments.js */" in bundle.read_text(encoding="utf-8")
    # No inline script (JSON-LD data blocks are not scripts that run).
    runnable = ("", "text/javascript", "module")
    assert not [
        s
        for s in tree.iter("script")
        if (s.text or "").strip() and s.get("type", "") in runnable
    ]
    assert not [n for n in tree.iter() if any(a.startswith("on") for a in n.attrib)]


def test_a_post_with_comments_has_a_reproducible_atom_feed(threaded, tmp_path):
    output, _ = threaded
    tree = parse_html(output / POST)
    head = next(tree.iter("head"))
    alternates = [
        link for link in head.iter("link")
        if link.get("rel") == "alternate" and "comments" in link.get("href")
    ]  # fmt: skip
    assert len(alternates) == 1
    assert alternates[0].get("type") == "application/atom+xml"
    visible = [a for a in next(tree.iter("main")).iter("a")
               if a.get("href") == alternates[0].get("href")]  # fmt: skip
    assert visible and "Follow the comments" in text_of(visible[0])
    feed_path = output / "updates/2025/a-published-post/comments.atom.xml"
    root = etree.parse(str(feed_path)).getroot()
    assert root.findtext(f"{ATOM}updated") == "2025-05-04T10:00:00+01:00"
    assert len(root.findall(f"{ATOM}entry")) == 4
    for link in root.iter(f"{ATOM}link"):
        assert link.get("href").startswith(SAMPLE_SITEURL_DEV + "/")
    # No comments, no feed.
    assert not (output / "updates/2025/an-ideas-post/comments.atom.xml").exists()
    other = parse_html(output / OTHER)
    assert not [
        link for link in other.iter("link") if "comments" in (link.get("href") or "")
    ]
    # Built again on another day, the feed is the same bytes.
    content = fixture_site(tmp_path, THREAD)
    build_fixture(content, tmp_path / "again",
                  LAB_TODAY=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))  # fmt: skip
    again = tmp_path / "again/updates/2025/a-published-post/comments.atom.xml"
    assert again.read_bytes() == feed_path.read_bytes()


def test_listings_show_comment_counts(threaded):
    output, _ = threaded
    tree = parse_html(output / "updates/index.html")
    cards = {
        text_of(next(card.iter("h2"))): text_of(card)
        for card in tree.iter("div")
        if "lab-card" in card.get("class", "").split()
    }
    assert "4 comments" in cards["A published post"]
    assert "comment" not in cards["An ideas post"]


def test_the_manifest_tells_the_endpoint_what_it_may_accept(threaded):
    output, _ = threaded
    manifest = json.loads((output / "comments-manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["siteurl"] == SAMPLE_SITEURL_DEV
    post = manifest["posts"]["a-published-post"]
    # What the endpoint needs and nothing more (issue 15), and, for a post
    # with replies, what the reply emails say (issue 19): the title and,
    # per published reply, the comment it answers, the name, the text as
    # the page shows it and its address. Never an address or a hash.
    url = SAMPLE_SITEURL_DEV + "/updates/2025/a-published-post/"
    assert post == {
        "url": url,
        "open": True,
        "closes": None,
        "comments": ["c-a", "c-b", "c-c", "c-d"],
        "title": "A published post",
        "replies": {
            "c-b": {
                "to": "c-a",
                "name": "Lab Person",
                "text": "Reply to Ann.",
                "url": url + "#comment-c-b",
            },
            "c-d": {
                "to": "c-b",
                "name": "Dee",
                "text": "Reply to the reply.",
                "url": url + "#comment-c-d",
            },
        },
    }
    # A post without replies keeps no title.
    assert set(manifest["posts"]["an-ideas-post"]) == {
        "url",
        "open",
        "closes",
        "comments",
    }
    # Drafts take no comments (the fixture's "future" post is past by now).
    assert set(manifest["posts"]) == {
        "a-published-post",
        "an-ideas-post",
        "a-post-from-the-future",
    }


def test_comments_close_by_front_matter_or_after_a_number_of_days(tmp_path):
    content = fixture_site(tmp_path, THREAD)
    post = content / "posts/2025-05-01-published.md"
    post.write_text(
        post.read_text().replace("---\nText", "comments: closed\n---\nText")
    )
    build_fixture(
        content,
        tmp_path / "out",
        LAB_COMMENTS_CLOSE_AFTER_DAYS=200,
        LAB_TODAY=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    output = tmp_path / "out"
    tree = parse_html(output / POST)
    section = by_id(tree, "comments")
    assert "Comments are closed on this update." in text_of(section)
    assert not [f for f in tree.iter("form") if f.get("id") == "comment-form"]
    assert not [a for a in tree.iter("a") if a.get("data-lab-reply")]
    assert not [n for n in tree.iter() if (n.get("id") or "").startswith("reply-")]
    assert len(thread_of(output / POST)) == 4  # published comments stay
    manifest = json.loads((output / "comments-manifest.json").read_text())
    assert manifest["posts"]["a-published-post"]["open"] is False
    # The ideas post (15 September 2025) closed 200 days later; the build is in 2026.
    ideas = manifest["posts"]["an-ideas-post"]
    assert ideas["open"] is False and ideas["closes"] == "2026-04-02T23:00:00Z"
    assert "(since 3 April 2026)" in text_of(
        by_id(parse_html(output / OTHER), "comments")
    )


def test_comments_state_is_a_pure_rule():
    date = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    now = dt.datetime(2025, 1, 31, tzinfo=dt.UTC)
    assert comments_state("open", date, now, 0) == (True, "", None)
    assert comments_state("closed", date, now, 0) == (False, "closed", None)
    assert comments_state("open", date, now, 30) == (False, "expired", now)
    assert comments_state("open", date, now, 31)[0] is True


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"LAB_COMMENTS_MAX_DEPTH": -1}, "LAB_COMMENTS_MAX_DEPTH"),
        ({"LAB_COMMENTS_MAX_DEPTH": "3"}, "LAB_COMMENTS_MAX_DEPTH"),
        ({"LAB_COMMENTS_ENDPOINT": "ftp://x"}, "LAB_COMMENTS_ENDPOINT"),
        ({"LAB_COMMENTS_CLOSE_AFTER_DAYS": True}, "LAB_COMMENTS_CLOSE_AFTER_DAYS"),
    ],
)
def test_a_bad_setting_is_named(settings, key):
    with pytest.raises(SettingsError, match=key):
        comment_settings(settings)


def test_a_retired_setting_is_named_in_a_warning(tmp_path):
    content = fixture_site(tmp_path, THREAD)
    log = build_fixture(
        content, tmp_path / "out", LAB_COMMENTS_REPLY_PATH="reply/{id}/"
    )
    (message,) = [m for m in log.messages() if "LAB_COMMENTS_REPLY_PATH" in m]
    assert "no longer has any effect" in message
    assert not (tmp_path / "out/updates/2025/a-published-post/reply").exists()


BROKEN = {
    "a-published-post/c-x.yaml": (
        "id: c-x\npost: a-published-post\nname: N\ndate: 2025-05-02T09:00:00\n"
        "body: Hi there\nemail: n@example.org\n",
        ["comments/a-published-post/c-x.yaml: date: has no time zone (add Z for UTC)",
         "comments/a-published-post/c-x.yaml: email: must never be in a published "
         "comment"],
    ),
    "a-published-post/c-y.yaml": (
        "id: c-other\npost: an-ideas-post\nname: N\ndate: '2025-05-02T09:00:00Z'\n"
        "body: Hi there\nreply_to: c-nobody\n",
        ["comments/a-published-post/c-y.yaml: id: 'c-other' does not match the file "
         "name",
         "comments/a-published-post/c-y.yaml: post: 'an-ideas-post' does not match "
         "the folder 'a-published-post'"],
    ),
    "a-published-post/c-z.yaml": (
        "id: c-z\npost: a-published-post\nname: N\ndate: '2025-05-02T09:00:00Z'\n"
        "body: Hi there\nreply_to: c-nobody\n",
        ["comments/a-published-post/c-z.yaml: reply_to: there is no comment "
         "'c-nobody' on this post"],
    ),
    "no-such-post/c-w.yaml": (
        "id: c-w\npost: no-such-post\nname: N\ndate: '2025-05-02T09:00:00Z'\n"
        "body: Hi\n",
        ["comments/no-such-post: post: 1 comment (c-w.yaml) is on the post with "
         "the slug 'no-such-post', and no post has it; if that post's file was "
         "renamed or its slug changed, give it 'slug: no-such-post' to keep its "
         "address and its comments"],
    ),
    "a-published-post/c-v.yaml": (
        "id: c-v\nname: [unclosed\n",
        ["comments/a-published-post/c-v.yaml: file: invalid YAML"],
    ),
    "a-published-post/c-u.yaml": (
        "- just\n- a list\n",
        ["comments/a-published-post/c-u.yaml: file: expected a mapping of field: "
         "value, got a list"],
    ),
}  # fmt: skip


def test_a_malformed_comment_file_fails_the_build_naming_path_field_reason(tmp_path):
    content = fixture_site(tmp_path, THREAD)
    for name, (text, _) in BROKEN.items():
        path = content / "comments" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    output = tmp_path / "out"
    with pytest.raises(CommentValidationError) as caught:
        build_fixture(content, output)
    message = str(caught.value)
    for _, expected in BROKEN.values():
        for line in expected:
            assert line in message, message
    assert not output.exists() or not any(output.rglob("*.html"))


# -- the sample content


def test_the_sample_post_has_a_guest_comment_a_staff_reply_and_a_third(dev_site):
    output, log = dev_site
    assert log.messages() == []
    page = output / "updates/2025/first-challenge/index.html"
    thread = thread_of(page)
    assert [level for level, _, _ in thread] == [0, 1, 0]
    assert thread[1][2].endswith("Lab team") and not thread[0][2].endswith("Lab team")
    tree = parse_html(page)
    words = text_of(by_id(tree, "comments"))
    assert "lived experience" in words
    home = parse_html(output / "updates/index.html")
    assert "3 comments" in text_of(next(home.iter("main")))
    closed = parse_html(output / "updates/2025/what-is-a-lab/index.html")
    assert not [f for f in closed.iter("form") if f.get("id") == "comment-form"]
    assert "Comments are closed" in text_of(by_id(closed, "comments"))


def test_the_production_form_posts_to_the_production_endpoint(prod_site):
    output, _ = prod_site
    action, _ = form_fields(output / "updates/2025/first-challenge/index.html")
    assert action == "https://comments.lab.example.org/comments"
    manifest = json.loads((output / "comments-manifest.json").read_text())
    assert manifest["siteurl"] == SAMPLE_SITEURL_PROD
    feed = output / "updates/2025/first-challenge/comments.atom.xml"
    for link in etree.parse(str(feed)).getroot().iter(f"{ATOM}link"):
        assert link.get("href").startswith(SAMPLE_SITEURL_PROD + "/")


def test_no_page_has_a_duplicate_id_or_a_stray_comment_form(dev_site):
    """One comment form on a post that takes comments, whose list offers
    exactly the comments its "Reply" links name; nowhere else."""
    output, _ = dev_site
    for page in html_files(output):
        tree = parse_html(page)
        ids = [n.get("id") for n in tree.iter() if n.get("id")]
        assert len(ids) == len(set(ids)), page
        forms = [
            f for f in tree.iter("form") if f.get("action", "").endswith("/comments")
        ]
        if not forms:
            continue
        assert [f.get("id") for f in forms] == ["comment-form"], page
        replies = {
            a.get("data-lab-reply") for a in tree.iter("a") if a.get("data-lab-reply")
        }
        choices = {
            o.get("value") for s in forms[0].iter("select") for o in s.iter("option")
        }
        assert choices == (replies | {""} if replies else set()), page
        for comment_id in replies:
            _, fields = form_fields(page, reply_to=comment_id)
            assert fields["reply_to"] == comment_id, page


# -- the whole loop


def fill(fields: dict[str, str], **values: str) -> dict[str, str]:
    return {**fields, **values}


def test_a_comment_sent_through_a_built_form_appears_after_approval(tmp_path):
    """Build; fill in the form of the built page as a reader would (without
    JavaScript); send it to the endpoint; approve it; rebuild: the comment
    is in the thread. Then reply to it, still without JavaScript: its
    "Reply" link leads to the form, where the reader chooses it in the list."""
    content, output, app = built_site_and_endpoint(tmp_path, THREAD[:1])
    action, fields = form_fields(output / POST)
    assert action.endswith("/comments")
    answer = call(app, body=fill(fields, name="Eve Ng", email="eve@example.net",
                                 body="Through the **real** form."))  # fmt: skip
    assert answer.status == 303
    assert (
        answer.location
        == f"{SAMPLE_SITEURL_DEV}/updates/2025/a-published-post/#comment-pending"
    )
    (pending,) = app.queue.ids()

    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(content / "comments"),
        "LAB_COMMENTS_MANIFEST": str(app.config.manifest),
    }
    assert cli.main(["approve", pending], environ=environ) == 0
    shutil.rmtree(output)
    build_fixture(content, output)
    assert [name for _, _, name in thread_of(output / POST)] == ["Ann", "Eve Ng"]

    tree = parse_html(output / POST)
    (link,) = [a for a in tree.iter("a") if a.get("data-lab-reply") == pending]
    target = link.get("href").removeprefix("#")
    _, fields = form_fields(output / POST, within=target, reply_to=pending)
    assert fields["reply_to"] == pending
    answer = call(app, body=fill(fields, name="Ann", email="ann@example.net",
                                 body="Thanks, Eve."))  # fmt: skip
    assert answer.status == 303
    (reply,) = app.queue.ids()
    assert cli.main(["approve", reply], environ=environ) == 0
    build_fixture(content, output)
    assert thread_of(output / POST) == [
        (0, "c-a", "Ann"),
        (0, pending, "Eve Ng"),
        (1, reply, "Ann"),
    ]


def test_the_built_form_works_against_a_real_server(tmp_path):
    content = fixture_site(tmp_path, [])
    output = tmp_path / "out"
    build_fixture(content, output)
    _, fields = form_fields(output / POST)
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(output / "comments-manifest.json"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
    }
    import http.client

    with running_server(environ, tmp_path / "server.log") as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        body = form_body(fill(fields, name="Flo", email="flo@example.net",
                              body="Over HTTP."))  # fmt: skip
        connection.request(
            "POST", "/comments", body,
            {"Content-Type": "application/x-www-form-urlencoded",
             "Origin": SAMPLE_SITEURL_DEV},
        )  # fmt: skip
        response = connection.getresponse()
        response.read()
        connection.close()
    assert response.status == 303
    assert response.getheader("Location").endswith("/a-published-post/#comment-pending")
    assert len(list((tmp_path / "queue/pending").glob("*.yaml"))) == 1


def test_pelican_is_not_needed_to_read_the_built_manifest(threaded, tmp_path):
    output, _ = threaded
    app = CommentsApp(
        Config(queue=tmp_path / "q", manifest=output / "comments-manifest.json",
               secret=SECRET)
    )  # fmt: skip
    manifest = app.manifest.load()
    assert manifest.posts["a-published-post"].comments == {"c-a", "c-b", "c-c", "c-d"}
    assert isinstance(Path(app.config.manifest), Path)
