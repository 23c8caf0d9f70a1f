"""Issue 16's loop end to end, from a reader's browser: in headless Chromium
(Debian's, driven by playwright) a reader sends a comment from a built
fixture site served on 127.0.0.1 to the real endpoint (`lab_comments serve`,
a child process) in pull-request mode; its worker pushes one branch to a
bare git repository made by the test (served over HTTP by
`git http-backend`, behind the token) and opens a labelled pull
request on the fake forge of tests/forgekit.py; the branch holds exactly
what `comments-approve` writes; the forge's webhook for "merged" settles it
when signed, and is refused with 401 unsigned or wrongly signed.
Runs in `make check` (marked `gates`), never in `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest
from commentkit import build_fixture, fixture_site
from forgekit import (
    REPO,
    TOKEN,
    git,
    remote_branches,
    served_forge,
    served_git,
    site_repository,
)
from hookkit import HOOK_SECRET
from statichost import StaticHost
from test_comments_browser import fill, main_form, open_page
from test_comments_delivery import (
    approved_bytes,
    branch_file,
    endpoint,
    merge_by_signed_webhook,
    opened,
    wait_until,
)

from lab_comments import pulls
from lab_comments.loadtest import free_port
from lab_comments.store import load_yaml

pytestmark = pytest.mark.gates

POST = "a-published-post"
# Non-ASCII in the name and the body, and a link (a flag moderators see).
NAME = "Ada Ní Bhriain"
EMAIL = "ada@example.net"  # what `fill` types for "Ada ..."
BODY = (
    "Très utile — merci ! The guide I mean: "
    "[NHS Wales](https://www.example.org/guide?x=1&y=ü) ✓"
)


def send_from_the_browser(browser, post: str) -> None:
    """A reader, JavaScript on: the post, the form, the "waiting" notice."""
    context, page = open_page(browser, javascript=True)
    try:
        page.goto(post)
        fill(main_form(page), NAME, BODY)
        with page.expect_navigation():
            page.get_by_role("button", name="Send comment for moderation").click()
        assert page.url == post + "#comment-pending"
        assert page.locator("#comment-pending").is_visible()
    finally:
        context.close()


def check_the_branch(bare: Path, queue: Path, tmp_path: Path, comment_id: str):
    """One branch beside main, one commit adding the comment's file, which
    is byte for byte what `comments-approve` writes: no email, no address."""
    branch = f"comments/{comment_id}"
    assert set(remote_branches(bare)) == {"main", branch}
    path = f"content/comments/{POST}/{comment_id}.yaml"
    changed = git(f"--git-dir={bare}", "diff", "--name-only", f"main...{branch}")
    assert changed.split() == [path]
    published = branch_file(bare, branch, path)
    assert published == approved_bytes(queue, tmp_path, comment_id)
    record = load_yaml(published)
    assert (record["post"], record["name"], record["body"]) == (POST, NAME, BODY)
    assert EMAIL.encode() not in published and b"127.0.0.1" not in published


def check_the_pull_request(forge, queue: Path, comment_id: str) -> None:
    """The forge was asked once to open it (title, head, base, body) and
    once to label it, with the token."""
    (opening,) = [
        c for c in forge.calls if (c.method, c.path) == ("POST", f"/repos/{REPO}/pulls")
    ]
    sent = opening.body
    assert (sent["head"], sent["base"]) == (f"comments/{comment_id}", "main")
    assert POST in sent["title"] and NAME in sent["title"]
    assert BODY in sent["body"] and "1 link(s)" in sent["body"]
    assert EMAIL not in sent["title"] + sent["body"]
    number = pulls.read_entry(queue, comment_id)["pull"]
    labels = f"/repos/{REPO}/issues/{number}/labels"
    (labelling,) = [c for c in forge.calls if (c.method, c.path) == ("POST", labels)]
    assert labelling.body == {"labels": ["comment"]}
    assert {c.authorization for c in forge.calls} == {f"token {TOKEN}"}


def test_a_comment_sent_from_the_browser_is_a_pull_request_merged_by_webhook(
    browser, tmp_path
):
    bare = site_repository(tmp_path)
    queue = tmp_path / "queue"
    output = tmp_path / "out"
    port = free_port()
    with (
        StaticHost() as host,
        served_forge() as forge,
        # The site's repository over HTTP (git http-backend), asking for the
        # token as a forge's git service does.
        served_git(tmp_path, "x-access-token", TOKEN) as git_url,
    ):
        build_fixture(
            fixture_site(tmp_path),
            output,
            SITEURL=host.origin,
            LAB_COMMENTS_ENDPOINT=f"http://127.0.0.1:{port}/comments",
        )
        host.serve(output)
        with endpoint(
            tmp_path,
            forge,
            bare,
            port=port,
            LAB_COMMENTS_GIT_REMOTE=f"{git_url}/{bare.name}",
            LAB_COMMENTS_MANIFEST=str(output / "comments-manifest.json"),
            LAB_COMMENTS_HOOK_SECRET=HOOK_SECRET,
            # Only the webhook settles it here, never the periodic check.
            LAB_COMMENTS_PULL_CHECK_SECONDS="3600",
        ) as server:
            send_from_the_browser(browser, f"{host.origin}/updates/2025/{POST}/")
            # The endpoint's worker delivers it, the reader long gone.
            wait_until(lambda: opened(queue), 30, "no pull request was opened")
            (comment_id,) = opened(queue)
            forge.wait_for(lambda f: f.labels)
            check_the_branch(bare, queue, tmp_path, comment_id)
            check_the_pull_request(forge, queue, comment_id)
            # A moderator merges it: only the signed webhook settles it.
            merge_by_signed_webhook(server.port, queue, comment_id)
    assert len(forge.pulls) == 1
