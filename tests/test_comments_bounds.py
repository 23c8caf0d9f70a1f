"""Every stored record is safe to list, show, approve and build (issue 15):
a body is rendered within bounds at intake (render.py, the one renderer),
listing reads the queue once, and a record that cannot be read or rendered
is named by id and path, never a traceback. Staff Markdown gets the same
nesting guard (lab_content's reader)."""

from __future__ import annotations

import shutil
import time

import pytest
from commentkit import (
    GOOD,
    SECRET,
    build_fixture,
    call,
    comment,
    fixture_site,
    make_app,
    page_text,
)
from conftest import FIXTURES, build

from lab_comments import cli, render, schema
from lab_comments.plugin import CommentValidationError
from lab_comments.render import BodyRefused, BodyRenderer, body_problem
from lab_comments.store import Queue, StoreError, dump_yaml, load_yaml
from lab_common.errors import ContentValidationError
from lab_common.nesting import MAX_NESTING, bracket_depth, nesting_problem

# The bodies of the report: accepted with 303, then every list and build died.
DEEP_LIST = "- " * 495 + "x"
DEEP_ORDERED = "1. " * 495
DEEP_QUOTE_LIST = "> - " * 300 + "x"


# -- the measure on the source


@pytest.mark.parametrize(
    "text",
    [
        "- " * (MAX_NESTING + 1) + "x",
        "* " * (MAX_NESTING + 1) + "x",
        "+ " * (MAX_NESTING + 1) + "x",
        "1. " * (MAX_NESTING + 1) + "x",
        "1) " * (MAX_NESTING + 1) + "x",
        "> " * (MAX_NESTING + 1) + "x",
        ">" * (MAX_NESTING + 1) + "x",
        "- > 1. " * 6 + "x",
        "intro\n\n" + "\t" * (MAX_NESTING + 1) + "- x",
        "    " * (MAX_NESTING + 1) + "x",
        "[" * (MAX_NESTING + 1) + "x" + "]" * (MAX_NESTING + 1),
        "[a](" * (MAX_NESTING + 1),
        "[a]([b](" * MAX_NESTING + ")" * 2 * MAX_NESTING,
    ],
)
def test_nesting_beyond_the_limit_is_refused_with_a_reason(text):
    reason = nesting_problem(text)
    assert reason and "please write it more simply" in reason
    assert f"more than {MAX_NESTING} levels" in reason


@pytest.mark.parametrize(
    "text",
    [
        "- " * MAX_NESTING + "x",
        "> " * MAX_NESTING + "x",
        "[" * MAX_NESTING + "x" + "]" * MAX_NESTING,
        "\\[" * 500 + "escaped brackets never open",
        "]" * 500 + "[a] stray closers",
        "sad :( " * 200 + "[a link](https://example.org) :)",
        "- 1.5 million\n- 2. not a list\n-not a marker",
        "A plain paragraph.\n\nAnother one.",
    ],
)
def test_ordinary_and_shallow_texts_pass(text):
    assert nesting_problem(text) is None


def test_the_bracket_depth_counts_link_addresses_left_open():
    assert bracket_depth("[a](b) [c](d)") == 1
    assert bracket_depth("[a](" * 5) == 5
    assert bracket_depth("(((" + "[a](x)") == 1


def test_the_source_check_is_linear_on_a_megabyte():
    """Measured, not asserted as a time: a megabyte of each shape is measured
    in one pass (printed with -s)."""
    for text in ("- " * 500_000, "[a] " * 250_000, "a\n" * 500_000):
        start = time.perf_counter()
        nesting_problem(text)
        print(f"nesting check of {len(text):,} characters: "
              f"{time.perf_counter() - start:.3f} s")  # fmt: skip


# -- the renderer's bounds


@pytest.mark.parametrize("text", [DEEP_LIST, DEEP_ORDERED, DEEP_QUOTE_LIST])
def test_the_reported_bodies_are_refused_not_a_recursion_error(text):
    with pytest.raises(BodyRefused, match="nested more than"):
        render.render_body(text)
    assert body_problem(text)


def test_a_recursion_error_is_the_last_resort(monkeypatch):
    """Were the source check to miss a shape, the stack's exhaustion is still
    a reason, and the renderer still works for the next body."""
    monkeypatch.setattr(render, "nesting_problem", lambda text: None)
    renderer = BodyRenderer()
    with pytest.raises(BodyRefused, match="nested too deeply"):
        renderer(DEEP_LIST)
    assert renderer("*still* fine") == "<p><em>still</em> fine</p>"


def test_too_many_elements_too_deep_or_too_large_is_refused():
    with pytest.raises(BodyRefused, match="more than 5 separate parts"):
        BodyRenderer(max_elements=5)("a\n" * 10)
    with pytest.raises(BodyRefused, match="nested more than 3 levels"):
        BodyRenderer(max_depth=3)("- - - x")
    with pytest.raises(BodyRefused, match="more than 1 KB"):
        BodyRenderer(max_html_bytes=1024)("<" * 400)
    # The defaults: lines and emphasis a reader could send within 8,000
    # characters, and the email addresses Markdown writes as entities.
    for text in ("a\n" * 2500, "*a " * 200 + "b" + " c*" * 200, "<a@b.c>" * 1100):
        assert body_problem(schema.body(text)) is not None
    assert body_problem("A reasonable comment with *one* [link](https://a.org).") is (
        None
    )


def test_the_schema_refuses_deep_nesting_wherever_a_body_is_read():
    for text in (DEEP_LIST, DEEP_ORDERED):
        with pytest.raises(schema.Invalid, match="nested more than"):
            schema.body(text)


def test_yaml_nested_too_deeply_is_a_store_error_not_a_recursion_error():
    with pytest.raises(StoreError, match="nested too deeply"):
        load_yaml(b"[" * 5000 + b"]" * 5000)


# -- the endpoint


@pytest.mark.parametrize("text", [DEEP_LIST, DEEP_ORDERED, "a\n" * 2500])
def test_the_endpoint_refuses_what_cannot_be_rendered_with_a_reason(tmp_path, text):
    app = make_app(tmp_path)
    answer = call(app, body={**GOOD, "body": text})
    assert answer.status == 400
    words = page_text(answer)
    # In the form's words (issue 14), not "Comment (body):".
    assert "Your comment has" in words and "(body)" not in words
    assert "please write it more simply" in words
    assert "Traceback" not in words and str(tmp_path) not in words
    assert app.queue.ids() == []


# -- the moderation commands


@pytest.fixture
def desk(tmp_path):
    app = make_app(tmp_path)
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_SECRET": SECRET.decode(),
        "LAB_COMMENTS_CONTENT": str(tmp_path / "content" / "comments"),
        "LAB_COMMENTS_MANIFEST": str(app.config.manifest),
    }
    return app, lambda *args: cli.main(list(args), environ=environ)


def queue_record(app, body: str, suffix: str) -> str:
    """A pending record written as a queue from before the endpoint checked
    bodies would hold it (the endpoint now refuses it)."""
    before = set(app.queue.ids())
    assert call(app, body={**GOOD, "body": f"Placeholder {suffix}."}).status == 303
    (comment_id,) = set(app.queue.ids()) - before
    path = app.queue.path(comment_id)
    record = load_yaml(path.read_bytes())
    record["body"] = body
    path.write_bytes(dump_yaml(record))
    return comment_id


def test_list_and_show_name_a_record_they_cannot_read_or_render(desk, capsys):
    app, run = desk
    deep = queue_record(app, DEEP_LIST, "deep")
    broad = queue_record(app, "a\n" * 2500, "broad")
    assert call(app, body={**GOOD, "body": "A fine comment."}).status == 303
    broken = queue_record(app, "x", "broken")
    app.queue.path(broken).write_bytes(b"[" * 5000)
    capsys.readouterr()
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert f"{deep}  UNREADABLE ({app.queue.path(deep)}): " in out
    assert "nested more than 16 levels" in out
    assert f"{broad}  CANNOT BE PUBLISHED ({app.queue.path(broad)}): body: " in out
    assert f"{broken}  UNREADABLE ({app.queue.path(broken)}): " in out
    assert "A fine comment." in out
    assert out.count("Skipped.") == 3

    assert run("show", deep) == 1
    err = capsys.readouterr().err
    assert f"{deep} cannot be read ({app.queue.path(deep)})" in err
    assert "Traceback" not in err
    assert run("show", broad) == 0
    assert "cannot be published: body: has more than 2,000" in capsys.readouterr().out


def test_approving_a_record_nested_too_deeply_is_refused_not_a_crash(desk, capsys):
    app, run = desk
    deep = queue_record(app, DEEP_ORDERED, "deep")
    capsys.readouterr()
    assert run("approve", deep) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert app.queue.path(deep).exists()


def test_approving_a_record_only_markdown_finds_too_big_is_refused(
    desk, capsys, tmp_path
):
    """A record queued before the endpoint checked bodies, within the nesting
    bound but beyond the rendered ones: approve renders it as the build will
    and refuses, so it never reaches content/ to stop a build."""
    app, run = desk
    broad = queue_record(app, "a\n" * 2500, "broad")
    capsys.readouterr()
    assert run("approve", broad) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broad} cannot be published: body: has more than")
    assert app.queue.path(broad).exists()
    assert not list((tmp_path / "content").rglob("*.yaml"))


def test_listing_reads_the_queue_once(desk, capsys, monkeypatch):
    """Each line used to read the whole queue again (1,023 entries took two
    minutes). The reads are counted: a fixed number per pending comment."""
    app, run = desk
    for number in range(40):
        body = {**GOOD, "body": f"Comment number {number}."}
        assert call(app, body=body, remote=f"198.51.100.{number % 3}").status == 303
    reads = []
    original = Queue.read

    def counted(self, comment_id):
        reads.append(comment_id)
        return original(self, comment_id)

    monkeypatch.setattr(Queue, "read", counted)
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "40 comment(s) waiting" in out
    assert "14 pending from the same internet address" in out
    # One read of each comment, shared by the purge and the listing.
    assert sorted(reads) == sorted(app.queue.ids())


# -- the build


def test_the_build_names_a_comment_file_it_cannot_render(tmp_path):
    content = fixture_site(
        tmp_path,
        [
            comment("c-fine", "Fine."),
            comment("c-deep", "Placeholder."),
            comment("c-broad", "Placeholder."),
        ],
    )
    folder = content / "comments" / "a-published-post"
    for name, body in (("c-deep", DEEP_LIST), ("c-broad", "a\n" * 2500)):
        path = folder / f"{name}.yaml"
        record = load_yaml(path.read_bytes())
        record["body"] = body
        path.write_bytes(dump_yaml(record))
    with pytest.raises(CommentValidationError) as caught:
        build_fixture(content, tmp_path / "out")
    problems = caught.value.problems
    assert len(problems) == 2
    broad, deep = sorted(problems)
    assert broad.startswith("comments/a-published-post/c-broad.yaml: body: has more")
    assert deep.startswith("comments/a-published-post/c-deep.yaml: body: has lists")
    assert "Traceback" not in str(caught.value)


def test_staff_markdown_nested_too_deeply_is_named_with_its_path(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "site", content)
    post, other = sorted((content / "posts").glob("*.md"))[:2]
    text = post.read_text(encoding="utf-8")
    post.write_text(text + "\n\n" + DEEP_LIST + "\n", encoding="utf-8")
    # A summary in front matter is Markdown too.
    text = other.read_text(encoding="utf-8")
    front, body = text.split("\n---\n", 1)
    front = "\n".join(
        line for line in front.splitlines() if not line.startswith("summary:")
    )
    other.write_text(
        f"{front}\nsummary: '{DEEP_ORDERED}'\n---\n{body}", encoding="utf-8"
    )
    with pytest.raises(ContentValidationError) as caught:
        build("pelicanconf.py", tmp_path / "out", path=content)
    for path, field in ((post, "body"), (other, "summary")):
        relative = path.relative_to(content).as_posix()
        (line,) = [p for p in caught.value.problems if p.startswith(relative)]
        assert line.startswith(f"{relative}: {field}: has lists, quotes or ind")
