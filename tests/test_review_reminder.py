"""The daily reminder of overdue content reviews (.ci/review_reminder.py),
run as CI runs it, against a forge's API served on 127.0.0.1 (issueforgekit): one
issue opened on the first overdue day, the same issue edited on later days,
closed when nothing is overdue; re-runs change nothing; staff text cannot
ping, link or format; failures are one clear line and a non-zero exit; the
token never appears in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import html5lib
import pytest
import yaml
from conftest import ROOT
from issueforgekit import REPO, FakeForge
from markdown_it import MarkdownIt

SCRIPT = ROOT / ".ci" / "review_reminder.py"
TOKEN = "ghs_s3cretT0kenValue"  # noqa: S105 (a test's fake)
LABEL = "content-review"
ZWSP = "\u200b"


def item(path, status, owner="amara", next_review="2026-11-01", **extra) -> dict:
    names = {"amara": ("Amara Okafor", "amara-o"), "tom": ("Tom Reyes", None)}
    name, handle = names.get(owner, (None, None))
    return {
        "path": f"content/{path}.md",
        "title": extra.pop("title", path.split("/")[-1].replace("-", " ").title()),
        "url": f"https://lab.example.org/{path}/",
        "owner": owner,
        "owner_name": name,
        "owner_handle": handle,
        "reviewed": "2025-11-01",
        "next_review": next_review,
        "status": status,
        **extra,
    }


def run(forge, tmp_path, today, items, *args, env=None, timeout=30):
    report = tmp_path / f"review-{today}.json"
    report.write_text(json.dumps({"today": today, "items": items}), encoding="utf-8")
    environ = {
        "PATH": os.environ["PATH"],
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": forge.api if forge else "http://127.0.0.1:9",
        "GITHUB_REPOSITORY": REPO,
        **(env or {}),
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(report), *args],
        capture_output=True, text=True, env=environ, timeout=timeout, check=False,
    )  # fmt: skip
    # Whatever happened, the token is in no output.
    assert TOKEN not in result.stdout + result.stderr
    return result


def rendered(markdown_text: str):
    """The issue's Markdown rendered as CommonMark with GitHub's tables and
    strikethrough, and parsed, as a forge would show it."""
    html = (
        MarkdownIt("commonmark")
        .enable(["table", "strikethrough"])
        .render(markdown_text)
    )
    return html5lib.parse(html, namespaceHTMLElements=False)


def text_of(element) -> str:
    return "".join(element.itertext())


OVERDUE_DAY = [
    item("posts/flu-jabs", "overdue", "amara", "2026-11-20"),
    item("pages/about", "overdue", "tom", "2026-11-25"),
    item("get-involved/panel", "due-soon", "tom", "2026-12-20"),
    item("challenges/falls", "overdue", None, "2026-10-01"),
]


@pytest.fixture
def forge():
    with FakeForge(token=TOKEN) as forge:
        yield forge


def test_the_first_overdue_day_opens_one_issue_by_owner(forge, tmp_path):
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "review-reminder: opened issue #1: 3 overdue\n"
    assert forge.labels[LABEL]["name"] == LABEL  # created, then used
    [issue] = forge.open_issues()
    assert issue["title"] == "Content reviews: 3 pages overdue"
    tree = rendered(issue["body"])
    headings = [text_of(h) for h in tree.iter("h3")]
    # By owner in the report's order; an owner with a forge handle is
    # mentioned, one without is named; pages without an owner last.
    assert headings == [
        "@amara-o (Amara Okafor)",
        "Tom Reyes",
        "No owner (set owner: in the page's front matter)",
    ]
    lists = [[text_of(li) for li in ul.iter("li")] for ul in tree.iter("ul")]
    assert lists == [
        ["Flu Jabs: overdue since 2026-11-20, last reviewed 2025-11-01;"
         " content/posts/flu-jabs.md"],
        ["About: overdue since 2026-11-25, last reviewed 2025-11-01;"
         " content/pages/about.md",
         "Panel: due 2026-12-20, last reviewed 2025-11-01;"
         " content/get-involved/panel.md"],
        ["Falls: overdue since 2026-10-01, last reviewed 2025-11-01;"
         " content/challenges/falls.md"],
    ]  # fmt: skip
    links = [a.get("href") for a in tree.iter("a")]
    assert links == [
        "https://lab.example.org/posts/flu-jabs/",
        "https://lab.example.org/pages/about/",
        "https://lab.example.org/get-involved/panel/",
        "https://lab.example.org/challenges/falls/",
    ]
    # The only mention in the issue is the owner with a handle.
    body_text = text_of(tree)
    assert body_text.count("@") == 1
    assert forge.comments == {}


def test_the_next_day_edits_the_same_issue_and_comments_only_on_news(forge, tmp_path):
    run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    # Next day: "about" was reviewed, the panel page became overdue.
    panel = item("get-involved/panel", "overdue", "tom", "2026-12-06")
    next_day = [OVERDUE_DAY[0], OVERDUE_DAY[3], panel]
    result = run(forge, tmp_path, "2026-12-07", next_day)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("review-reminder: updated issue #1: 3 overdue, 1 newly\n")
    [issue] = forge.open_issues()
    assert issue["number"] == 1 and len(forge.issues) == 1
    assert "On 2026-12-07, 3 page(s) are overdue" in issue["body"]
    assert "content/pages/about.md" not in issue["body"]
    # One comment names the newly overdue page and mentions only its owner
    # (Tom has no handle: named, not mentioned).
    [comment] = forge.comments[1]
    tree = rendered(comment)
    assert [text_of(p) for p in tree.iter("p")] == ["Newly overdue on 2026-12-07:"]
    assert [text_of(li) for li in tree.iter("li")] == ["Tom Reyes: Panel"]
    # A day later, the same pages: the body moves on, nobody is told again.
    result = run(forge, tmp_path, "2026-12-08", next_day)
    assert result.stdout == "review-reminder: updated issue #1: 3 overdue, 0 newly\n"
    assert "On 2026-12-08" in forge.issues[1]["body"]
    assert len(forge.comments[1]) == 1


def test_a_rerun_on_the_same_day_changes_nothing(forge, tmp_path):
    run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    writes = forge.writes()
    body = forge.issues[1]["body"]
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert result.returncode == 0
    assert result.stdout == "review-reminder: issue #1 unchanged: 3 overdue\n"
    assert forge.writes() == writes  # reads only
    assert forge.issues[1]["body"] == body and len(forge.issues) == 1


def test_nothing_overdue_closes_the_issue_and_the_next_overdue_page_opens_another(
    forge, tmp_path
):
    run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    soon_only = [item("get-involved/panel", "due-soon", "tom", "2026-12-20")]
    result = run(forge, tmp_path, "2026-12-07", soon_only)
    assert result.stdout == "review-reminder: closed issue #1: nothing overdue\n"
    issue = forge.issues[1]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    assert issue["title"] == "Content reviews: nothing overdue"
    # The closed issue keeps the last list: what is due soon.
    assert "nothing is overdue for review; 1 page(s) are due" in issue["body"]
    assert "content/get-involved/panel.md" in issue["body"]
    writes = forge.writes()
    # Pages only due soon open no issue; nor does an empty report.
    for day, items in (("2026-12-08", soon_only), ("2026-12-09", [])):
        result = run(forge, tmp_path, day, items)
        assert result.returncode == 0
        assert result.stdout == (
            "review-reminder: nothing overdue; no reminder issue open\n"
        )
    assert forge.writes() == writes
    result = run(forge, tmp_path, "2026-12-21", [
        item("get-involved/panel", "overdue", "tom", "2026-12-20")
    ])  # fmt: skip
    assert result.stdout == "review-reminder: opened issue #2: 1 overdue\n"
    assert [i["number"] for i in forge.open_issues()] == [2]


def test_soon_due_pages_alone_open_no_issue(forge, tmp_path):
    result = run(forge, tmp_path, "2026-12-06", [OVERDUE_DAY[2]])
    assert result.returncode == 0
    assert forge.issues == {} and forge.writes() == []


def test_its_issue_is_found_past_the_first_pages_and_others_are_left_alone(
    tmp_path,
):
    with FakeForge(token=TOKEN, per_page_max=10) as forge:
        run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
        # 25 issues and pull requests people labelled by hand, all newer.
        for n in range(25):
            forge.add_issue(f"Review the menu {n}", "by hand", [LABEL], pull=n % 2)
        result = run(forge, tmp_path, "2026-12-07", OVERDUE_DAY)
        assert result.stdout == (
            "review-reminder: updated issue #1: 3 overdue, 0 newly\n"
        )
        listed = [p for m, p, _ in forge.requests if p.endswith("/issues")]
        assert listed.count(f"/repos/{REPO}/issues") == 1 + 1 + 3  # 3 pages today
        assert all(i["body"] == "by hand" for n, i in forge.issues.items() if n > 1)
        assert len(forge.open_issues()) == 26


def test_an_issue_labelled_by_hand_is_not_taken_over(forge, tmp_path):
    forge.add_issue("Please review the about page", "Thanks!", [LABEL])
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert result.stdout == "review-reminder: opened issue #2: 3 overdue\n"
    assert forge.issues[1]["body"] == "Thanks!"


HOSTILE = [
    "@everyone read this",
    "See #12 and GH-3",
    "[click](https://evil.example/) or https://evil.example/x www.evil.example",
    "<script>alert(1)</script> <img src=x onerror=alert(1)>",
    "**bold** _it_ `code` ~~gone~~ | cell |",
    "# Heading\n- list\n> quote",
    "Back\\slash & &amp; entity",
]


@pytest.mark.parametrize("title", HOSTILE)
def test_staff_text_is_shown_as_written_and_never_pings_or_links(
    forge, tmp_path, title
):
    hostile = item("posts/x", "overdue", "tom", title=title)
    hostile["owner_name"] = "@tom-r <b>Tom</b> #1"
    result = run(forge, tmp_path, "2026-12-06", [hostile])
    assert result.returncode == 0, result.stderr
    tree = rendered(forge.issues[1]["body"])
    [li] = tree.iter("li")
    shown = text_of(li).replace(ZWSP, "")
    assert shown.startswith(" ".join(title.split()) + ": overdue since")
    # One link, ours; nothing formatted, no markup from the title.
    assert [a.get("href") for a in li.iter("a")] == ["https://lab.example.org/posts/x/"]
    assert [e.tag for e in li.iter()] == ["li", "a", "strong", "code"]
    [heading] = tree.iter("h3")
    assert text_of(heading).replace(ZWSP, "") == "@tom-r <b>Tom</b> #1"
    # Every @, # and : in staff text is followed by a zero-width space, and
    # www by one: the forge sees no mention, issue number or address there.
    for text in (text_of(li).split(": overdue")[0], text_of(heading)):
        for mark in ("@", "#", ":", "www"):
            assert all(part.startswith(ZWSP) for part in text.split(mark)[1:])


def test_a_handle_that_is_no_forge_user_name_is_not_mentioned(forge, tmp_path):
    bad = item("posts/x", "overdue", "tom")
    bad["owner_handle"] = "tom reyes](https://evil.example"
    run(forge, tmp_path, "2026-12-06", [bad])
    [heading] = rendered(forge.issues[1]["body"]).iter("h3")
    assert text_of(heading) == "Tom Reyes"


def test_a_server_error_is_one_line_and_a_failure(forge, tmp_path):
    forge.fail = {"GET": 502}
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"review-reminder: error: GET /repos/{REPO}/issues: 502 Server Error\n"
    )
    forge.fail = {}
    run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    forge.fail = {"PATCH": 503}
    result = run(forge, tmp_path, "2026-12-07", OVERDUE_DAY)
    assert (result.returncode, result.stderr) == (
        1, f"review-reminder: error: PATCH /repos/{REPO}/issues/1: 503 Server Error\n"
    )  # fmt: skip


def test_a_forge_that_does_not_answer_times_out(forge, tmp_path):
    forge.delay = 5.0
    start = time.monotonic()
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY, "--timeout", "0.5")
    assert time.monotonic() - start < 4
    assert result.returncode == 1
    assert result.stderr == (
        f"review-reminder: error: GET /repos/{REPO}/issues: no answer in 0.5 s\n"
    )


def test_no_forge_listening_is_a_clear_failure(tmp_path):
    result = run(None, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"review-reminder: error: GET /repos/{REPO}/issues: "
    )
    assert result.stderr.count("\n") == 1


def test_the_token_is_sent_to_the_forge_and_never_shown(forge, tmp_path):
    run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert {auth for _, _, auth in forge.requests} == {f"Bearer {TOKEN}"}
    # A wrong token: the forge's refusal, not the token.
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY, env={
        "GITHUB_TOKEN": "ghs_wrong"
    })  # fmt: skip
    assert result.returncode == 1
    assert "401 Bad credentials" in result.stderr and "ghs_wrong" not in result.stderr
    # A forge that echoes the token in its message: redacted.
    forge.fail, forge.fail_message = {"GET": 500}, f"token {TOKEN} is odd"
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY)
    assert result.stderr.endswith("500 token *** is odd\n")  # and run() checked


@pytest.mark.parametrize(
    ("env", "report", "message"),
    [
        ({"GITHUB_TOKEN": ""}, None, "GITHUB_TOKEN is not set"),
        ({"GITHUB_REPOSITORY": "nope"}, None, "GITHUB_REPOSITORY must be owner/name"),
        ({"GITHUB_API_URL": "file:///etc"}, None, "must be an http(s) address"),
        ({}, {"today": "6 Dec", "items": []}, "today: expected a YYYY-MM-DD date"),
        ({}, {"today": "2026-12-06"}, 'expected {"today": ..., "items": [...]}'),
        (
            {},
            {"today": "2026-12-06", "items": [dict(OVERDUE_DAY[0], status="late")]},
            "items[0].status: expected one of ('overdue', 'due-soon')",
        ),
        (
            {},
            {"today": "2026-12-06", "items": [dict(OVERDUE_DAY[0], title=None)]},
            "items[0].title: expected text, got None",
        ),
    ],
)
def test_a_bad_setting_or_report_is_named(forge, tmp_path, env, report, message):
    if report is not None:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(report), encoding="utf-8")
        environ = {"PATH": os.environ["PATH"], "GITHUB_TOKEN": TOKEN,
                   "GITHUB_API_URL": forge.api, "GITHUB_REPOSITORY": REPO}  # fmt: skip
        result = subprocess.run(
            [sys.executable, str(SCRIPT), str(path)],
            capture_output=True, text=True, env=environ, timeout=30, check=False,
        )  # fmt: skip
    else:
        result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY, env=env)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert forge.requests == []


def test_a_dry_run_prints_the_issue_and_calls_no_forge(forge, tmp_path):
    result = run(forge, tmp_path, "2026-12-06", OVERDUE_DAY, "--dry-run", env={
        "GITHUB_TOKEN": ""
    })  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith("# Content reviews: 3 pages overdue\n\n<!--")
    assert "### @amara-o (Amara Okafor)" in result.stdout
    assert forge.requests == []


# -- the workflow that runs it

WORKFLOW = ROOT / ".github" / "workflows" / "reviews.yml"


def workflows() -> dict[str, dict]:
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    }


def test_the_reminder_runs_daily_with_issues_write_on_its_job_only():
    flows = workflows()
    flow = flows[WORKFLOW.name]
    triggers = flow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]
    assert flow["permissions"] == {}
    [(name, job)] = flow["jobs"].items()
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make review-report JSON=review.json" in runs
    reminder = next(
        s for s in job["steps"] if ".ci/review_reminder.py" in s.get("run", "")
    )
    assert reminder["run"].split()[-1] == "review.json"
    assert runs.index("make review-report JSON=review.json") < job["steps"].index(
        reminder
    )
    # The token reaches the reminder step alone; the checkout keeps none.
    assert reminder["env"] == {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    others = [s for s in job["steps"] if s is not reminder]
    assert not any("secrets." in json.dumps(s) for s in others)
    checkout = next(s for s in job["steps"] if "actions/checkout" in s.get("uses", ""))
    assert checkout["with"]["persist-credentials"] is False
    # No other job anywhere may write issues.
    for file, other in flows.items():
        for job_name, other_job in other["jobs"].items():
            if (file, job_name) != (WORKFLOW.name, name):
                perms = other_job.get("permissions", other.get("permissions", {}))
                assert "issues" not in (perms or {}), (file, job_name)


def test_a_very_long_list_stops_short_of_the_forges_limit(forge, tmp_path):
    many = [
        item(f"posts/page-{n:04}", "overdue", "amara", title="A long title " * 8)
        for n in range(1500)
    ]
    result = run(forge, tmp_path, "2026-12-06", many)
    assert result.returncode == 0, result.stderr
    body = forge.issues[1]["body"]
    assert len(body) <= 65_536
    tree = rendered(body)
    shown = len(list(tree.iter("li")))
    assert 100 < shown < 1500
    assert f"And {1500 - shown} more page(s): make review-report lists them all." in [
        text_of(p) for p in tree.iter("p")
    ]
    # Every overdue page is remembered, listed or not: none is news tomorrow.
    result = run(forge, tmp_path, "2026-12-07", many)
    assert result.stdout == (
        "review-reminder: updated issue #1: 1500 overdue, 0 newly\n"
    )
    # 60 newly overdue pages: one comment naming 50 and counting the rest.
    more = many + [
        item(f"posts/new-{n:02}", "overdue", "tom", "2026-12-07") for n in range(60)
    ]
    run(forge, tmp_path, "2026-12-08", more)
    [comment] = forge.comments[1]
    tree = rendered(comment)
    [owner] = [text_of(li) for li in tree.iter("li")]
    assert owner.count("New ") == 50
    assert text_of(list(tree.iter("p"))[-1]) == "And 10 more: see the list above."
