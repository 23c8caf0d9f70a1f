"""A corpus of hostile Markdown (issue 15), beyond test_comments_hostile.py's:
deep nesting of every construct, huge tables, thousands of links, entity
floods, very long lines, NULs and control characters, and mixes of them.
Each body goes through the endpoint (in-process, then once through a real
server on 127.0.0.1), `comments-list`, approve and a real build parsed with
html5lib: nothing crashes, nothing prints a traceback, and every refusal
comes with its status and its reason.

Each case says what must happen to it: accepted (OK), or refused with a
fragment of the reason the reader reads."""

from __future__ import annotations

import http.client
import io
import shutil
from contextlib import redirect_stderr, redirect_stdout

import pytest
from commentkit import (
    SECRET,
    build_fixture,
    built_site_and_endpoint,
    call,
    comment,
    form_fields,
    page_text,
    parse_comment_pages,
    parse_html_bytes,
)

from lab_comments import cli
from lab_comments.loadtest import form_body, running_server
from lab_comments.plugin import CommentValidationError
from lab_comments.render import ALLOWED_TAGS
from lab_comments.store import Published, Queue, dump_yaml

POST = "updates/2025/a-published-post/index.html"
SLUG = "a-published-post"

OK = None
NESTED = "lists, quotes or indentation nested more than 16 levels"
BRACKETS = "square brackets or links nested more than 16 levels"
PARTS = "more than 2,000 separate parts"
TREE = "parts nested more than 64 levels deep"
SIZE = "more than 64 KB of the page"
LONG = "must be 8,000 characters or fewer"
CONTROL = "must not contain control characters"

# (label, body, None when accepted or a fragment of the reason refused)
CASES: list[tuple[str, str, str | None]] = [
    # Deep nesting of every block construct
    ("bullets -", "- " * 495 + "x", NESTED),
    ("ordered 1.", "1. " * 495, NESTED),
    ("bullets *", "* " * 400 + "x", NESTED),
    ("bullets +", "+ " * 400 + "x", NESTED),
    ("ordered 1)", "1) " * 400 + "x", NESTED),
    ("quotes spaced", "> " * 1000 + "x", NESTED),
    ("quotes packed", ">" * 4000 + "x", NESTED),
    ("quote list ordered", "> - 1. " * 200 + "x", NESTED),
    ("list quote just over", "- > " * 9 + "x", NESTED),
    ("bullets just over", "- " * 17 + "x", NESTED),
    ("indented lines", "".join("    " * i + "- level\n" for i in range(20)), NESTED),
    ("tabs", "- a\n" + "\t" * 40 + "- b", NESTED),
    ("headings in lists", "- " * 300 + "# heading", NESTED),
    ("headings in quotes", "> " * 300 + "## heading", NESTED),
    ("code in lists", "- " * 100 + "    code", NESTED),
    ("fence around a deep list", "```\n" + "- " * 495 + "x\n```", NESTED),
    ("indented deep list", "    " + "- " * 495, NESTED),
    ("quotes then lists", "> " * 10 + "- " * 7 + "x", NESTED),
    ("mixed with links", "- > 1. [a](" * 100, BRACKETS),
    # Deep nesting of brackets and links
    ("nested brackets", "[" * 3000 + "x" + "]" * 3000, BRACKETS),
    ("links in links", "[" * 300 + "a" + "](https://example.org)" * 300, BRACKETS),
    ("link addresses left open", "[a](" * 1900, BRACKETS),
    ("links in addresses", "[a]([b](" * 700 + ")" * 1400, BRACKETS),
    ("images in links", "[![" * 1000 + "x", BRACKETS),
    ("reference in brackets",
     "[" * 100 + "x" + "][r]" * 100 + "\n\n[r]: https://example.org", BRACKETS),
    ("image openers", "![" * 4000, BRACKETS),
    # As deep as a body may nest: accepted
    ("bullets at the limit", "- " * 16 + "x", OK),
    ("quotes at the limit", "> " * 16 + "x", OK),
    ("ordered at the limit", "1. " * 16 + "x", OK),
    ("brackets at the limit", "[" * 16 + "x" + "]" * 16, OK),
    ("links in links at the limit",
     "[" * 16 + "a" + "](https://x.example)" * 16, OK),
    ("indented lines at the limit",
     "".join("    " * i + "- level\n" for i in range(16)), OK),
    ("quotes, lists and inline at the limit",
     "> " * 8 + "- " * 8 + "*a* [b](https://c.example) `d`", OK),
    # Emphasis and code spans
    ("emphasis nested", "*a " * 100 + "b" + " c*" * 100, TREE),
    ("strong nested", "**a " * 100 + "b" + " c**" * 100, TREE),
    ("underscores nested", "_a " * 100 + "b" + " c_" * 100, TREE),
    ("stars and underscores", "*_" * 1000 + "x" + "_*" * 1000, OK),
    ("triple stars", "***" * 1000 + "x" + "***" * 1000, TREE),
    ("backticks only", "`" * 4000, OK),
    ("double code spans", "``a`` " * 1300, OK),
    ("code spans over the parts", "`a` " * 2000, PARTS),
    ("stars only", "*" * 8000, OK),
    ("underscores only", "_" * 8000, OK),
    ("backslashes only", "\\" * 8000, OK),
    # Huge tables (tables are not Markdown in comments: text)
    ("table of 700 rows", "| a | b |\n|---|---|\n" + "| x | y |\n" * 700, OK),
    ("pipes only", "|" * 8000, OK),
    ("table of 1,900 columns", "|" + "a|" * 1900 + "\n|" + "-|" * 1900, OK),
    # Thousands of links
    ("390 autolinks", "<https://a.example/>" * 390, OK),
    ("340 inline links", "[a](https://b.example) " * 340, OK),
    ("440 bare addresses", "https://a.example " * 440, OK),
    ("1,100 email autolinks", "<a@b.c>" * 1100, SIZE),
    ("550 mailto autolinks", "<mailto:a@b.c>" * 550, OK),
    ("1,000 reference links", "[x][1] " * 1000 + "\n\n[1]: https://a.example", OK),
    ("500 www addresses", "www.example.org " * 500, OK),
    ("thousands of links, too long", "<http://a.b>" * 2000, LONG),
    # Entity floods
    ("&amp; flood", "&amp;" * 1600, OK),
    ("non-character entities", "&#x10FFFF;" * 800, OK),
    ("NUL entities", "&#0;" * 2000, OK),
    ("ampersands", "&" * 8000, OK),
    ("less-than signs", "<" * 8000, OK),
    ("&lt; flood", "&lt;" * 2000, OK),
    ("escaped script entities", "&#x3C;script&#x3E;" * 400, OK),
    ("quotation marks", '"' * 8000, OK),
    # Very long lines and many lines
    ("one long word", "a" * 8000, OK),
    ("one word too long", "a" * 8001, LONG),
    ("one long line of words", "word " * 1600, OK),
    ("4,000 lines", "a\n" * 4000, PARTS),
    ("1,500 hard breaks", "a  \n" * 1500, OK),
    ("paragraphs far apart", "a" + "\n\n" * 3999 + "b", OK),
    ("1,000 ordered items", "1. a\n" * 1000, OK),
    ("2,000 bullets", "- a\n" * 2000, PARTS),
    ("2,000 rules, as many parts as allowed", "---\n" * 2000, OK),
    # NULs and control characters
    ("NUL", "a\x00b", CONTROL),
    ("terminal escapes", "\x1b[31mred\x1b[0m", CONTROL),
    ("DEL", "a\x7fb", CONTROL),
    ("bell", "ring\x07", CONTROL),
    ("vertical tab", "a\x0bb", CONTROL),
    ("form feed", "a\x0cb", CONTROL),
    ("NULs in a deep list", "- " * 400 + "\x00", CONTROL),
    ("line and paragraph separators", "a\u2028b\u2029c", OK),
    ("zero-width spaces", "a\u200bb" * 1000, OK),
]  # fmt: skip


def test_the_corpus_is_large_and_new():
    assert len(CASES) >= 60
    assert len({label for label, _, _ in CASES}) == len(CASES)
    assert len({body for _, body, _ in CASES}) == len(CASES)
    refused = [case for case in CASES if case[2]]
    assert len(refused) >= 30 and len(CASES) - len(refused) >= 30


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    """The fixture site built, every case sent to its endpoint in-process,
    and the answers."""
    folder = tmp_path_factory.mktemp("hostile-markdown")
    content, output, app = built_site_and_endpoint(
        folder,
        [comment("c-parent", "A parent.", name="Parent")],
        rate_limit=10_000,
        post_hourly=10_000,
    )
    _, fields = form_fields(output / POST)
    answers = []
    for number, (_, body, _) in enumerate(CASES):
        form = {**fields, "name": f"Writer {number}", "email": "w@example.net",
                "body": body}  # fmt: skip
        before = set(app.queue.ids())
        answer = call(app, body=form)
        stored = set(app.queue.ids()) - before
        answers.append((answer, stored))
    return {"folder": folder, "content": content, "output": output, "app": app,
            "fields": fields, "answers": answers}  # fmt: skip


@pytest.mark.parametrize(
    ("index", "case"), list(enumerate(CASES)), ids=[label for label, _, _ in CASES]
)
def test_the_endpoint_accepts_or_refuses_each_with_its_reason(sent, index, case):
    _, _, expected = case
    answer, stored = sent["answers"][index]
    text = page_text(answer)
    assert "Traceback" not in text and str(sent["folder"]) not in text
    if expected is None:
        assert answer.status == 303, text
        assert len(stored) == 1
    else:
        assert answer.status == 400
        # In the form's words (issue 14), not "Comment (body):".
        assert "Your comment " in text and expected in text, text
        assert "(body)" not in text
        assert stored == set()


def test_a_real_server_answers_every_case_as_in_process(sent, tmp_path):
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(sent["output"] / "comments-manifest.json"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_RATE_LIMIT": "100000",
        "LAB_COMMENTS_POST_HOURLY": "100000",
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Origin": "http://127.0.0.1:8000"}  # fmt: skip
    with running_server(environ, tmp_path / "server.log") as server:
        for number, (label, body, expected) in enumerate(CASES):
            form = {**sent["fields"], "name": f"Served {number}",
                    "email": "s@example.net", "body": body}  # fmt: skip
            connection = http.client.HTTPConnection("127.0.0.1", server.port,
                                                    timeout=10)  # fmt: skip
            try:
                connection.request("POST", "/comments", form_body(form), headers)
                response = connection.getresponse()
                status, data = response.status, response.read()
            finally:
                connection.close()
            assert status == (303 if expected is None else 400), label
            if expected is not None:
                words = " ".join("".join(parse_html_bytes(data).itertext()).split())
                assert expected in words, (label, words)
            assert b"Traceback" not in data
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log
    accepted = sum(1 for case in CASES if case[2] is None)
    assert len(list((tmp_path / "queue" / "pending").glob("*.yaml"))) == accepted


def run_cli(environ, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main(list(args), environ=environ)
    return status, out.getvalue(), err.getvalue()


def test_a_queue_from_before_the_checks_is_listed_approved_and_built(sent, tmp_path):
    """Every case written straight into a queue, as an endpoint that did not
    render bodies would have queued them: the listing names each refused
    case by id and path and lists the rest; approving refuses or publishes
    without a traceback; the build names every refused case that reached it."""
    queue = Queue(tmp_path / "queue", SECRET).open()
    template_app = sent["app"]
    (first,) = sorted(template_app.queue.ids())[:1]
    template = template_app.queue.read(first)
    ids = []
    for number, (_, body, _) in enumerate(CASES):
        comment_id = f"20251201-000000-{number:06x}"
        record = {**template, "id": comment_id, "body": body,
                  "date": "2025-12-01T00:00:00Z",
                  "fingerprint": f"{number:064x}"}  # fmt: skip
        record.pop("reply_to", None)
        queue.path(comment_id).write_bytes(dump_yaml(record))
        ids.append(comment_id)
    content = tmp_path / "content"
    shutil.copytree(sent["content"], content)
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue.root),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(content / "comments"),
        "LAB_COMMENTS_MANIFEST": str(template_app.config.manifest),
        "LAB_COMMENTS_PENDING_DAYS": "36500",
    }
    status, out, err = run_cli(environ, "list")
    assert status == 0 and "Traceback" not in out + err
    assert f"{len(CASES)} comment(s) waiting" in out
    for comment_id, (label, _, expected) in zip(ids, CASES, strict=True):
        path = queue.path(comment_id)
        skipped = (f"{comment_id}  UNREADABLE ({path}): ",
                   f"{comment_id}  CANNOT BE PUBLISHED ({path}): body: ")  # fmt: skip
        reported = any(line.startswith(skipped) for line in out.splitlines())
        assert reported == (expected is not None), label
        if expected is None:
            assert f"\n{comment_id}  2025-12-01 00:00 UTC  on {SLUG}\n" in out
    for comment_id, (label, _, expected) in zip(ids, CASES, strict=True):
        status, out, err = run_cli(environ, "approve", comment_id)
        assert "Traceback" not in out + err, label
        if expected is None:
            assert status == 0, (label, err)
        else:
            # Approve renders as the build will: nothing refused is published.
            assert status == 1 and err.startswith("error: "), label
            assert expected in err or "cannot be read" in err, (label, err)
            assert queue.path(comment_id).exists(), label
    # So the build takes every approved case, and each reads back.
    output = tmp_path / "out"
    build_fixture(content, output)
    page = parse_comment_pages(output / POST)
    shown = {a.get("id") for a in page.iter("article")}
    for comment_id, (label, _, expected) in zip(ids, CASES, strict=True):
        assert (f"comment-{comment_id}" in shown) == (expected is None), label


def test_every_refused_case_in_a_published_file_is_named_by_the_build(sent, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(sent["content"], content)
    published = Published(content / "comments")
    names = {}
    for number, (label, body, expected) in enumerate(CASES):
        if expected is not None:
            comment_id = f"c-refused-{number}"
            published.write(comment(comment_id, body))
            names[comment_id] = (label, expected)
    with pytest.raises(CommentValidationError) as caught:
        build_fixture(content, tmp_path / "out")
    problems = caught.value.problems
    assert len(problems) == len(names)
    for comment_id, (label, expected) in names.items():
        (line,) = [p for p in problems if f"/{comment_id}.yaml" in p]
        assert line.startswith(f"comments/{SLUG}/{comment_id}.yaml: body: "), label
        assert expected in line, (label, line)


@pytest.fixture(scope="module")
def approved(sent):
    """Every accepted case approved with the CLI and the site built again."""
    app, content = sent["app"], sent["content"]
    environ = {
        "LAB_COMMENTS_QUEUE": str(app.queue.root),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(content / "comments"),
        "LAB_COMMENTS_MANIFEST": str(app.config.manifest),
    }
    status, out, err = run_cli(environ, "list")
    assert status == 0 and "Skipped." not in out and "Traceback" not in out + err
    for comment_id in app.queue.ids():
        status, out, err = run_cli(environ, "approve", comment_id)
        assert status == 0, err
    output = sent["folder"] / "rebuilt"
    log = build_fixture(content, output)
    return output, log


def test_the_accepted_cases_build_and_hold_only_allowed_markup(approved):
    output, log = approved
    assert log.messages() == []
    tree = parse_comment_pages(output / POST)
    bodies = [
        node
        for node in tree.iter("div")
        if "lab-comment__body" in (node.get("class") or "").split()
    ]
    accepted = sum(1 for case in CASES if case[2] is None)
    assert len(bodies) == accepted + 1  # and the parent
    for body in bodies:
        for node in list(body.iter())[1:]:
            assert node.tag in ALLOWED_TAGS, node.tag
            if node.tag == "a":
                assert node.get("rel") == "nofollow ugc noopener"
                assert node.get("href", "https://").startswith(
                    ("https://", "http://", "mailto:")
                )
            else:
                assert not node.attrib, (node.tag, node.attrib)
