"""lab_writer: pages rendered by worker processes are the pages Pelican's own
writer renders, and an in-place rebuild that leaves pages alone gives the
site a full build gives, whatever was edited in between."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_SITEURL_DEV, SAMPLE_TODAY, build
from pelican.settings import read_settings
from rebuildkit import SAME, compare, tree

from lab_common import SettingsError
from lab_content.generator import ContentValidationError
from lab_writer.writer import RenderError

# The site's own plugins but lab_writer, read from pelicanconf.py, so that a
# plugin added to the site is in the stock build too (a list written out
# here missed lab_assets, and the theme needs it).
PLUGINS_WITHOUT_WRITER = [
    name
    for name in read_settings(str(ROOT / "pelicanconf.py"))["PLUGINS"]
    if name != "lab_writer"
]


def last_build(cache: Path) -> dict:
    """What the writer's record says the last build into `cache` did."""
    with open(cache / "lab_writer.json", encoding="utf-8") as handle:
        return json.load(handle)["last_build"]


def rendered(cache: Path) -> tuple[list[str], int]:
    """(HTML pages the last build rendered, files it left alone)."""
    record = last_build(cache)
    return [n for n in record["written"] if n.endswith(".html")], record["unchanged"]


def dev_build(output: Path, content: Path, cache: Path, **overrides) -> None:
    build(
        "pelicanconf.py",
        output,
        path=content,
        SITEURL=SAMPLE_SITEURL_DEV,
        CACHE_PATH=str(cache),
        LAB_SOCIAL_CACHE_PATH=str(ROOT / ".cache" / "lab_social"),
        **overrides,
    )


def test_worker_processes_write_what_pelicans_writer_writes(tmp_path, site_copy):
    stock = tmp_path / "stock-writer"
    dev_build(stock, site_copy, tmp_path / "c1", PLUGINS=PLUGINS_WITHOUT_WRITER)
    one = tmp_path / "one-process"
    dev_build(
        one, site_copy, tmp_path / "c2", LAB_WRITER_PROCESSES=1,
        LAB_WRITER_PARALLEL_MIN_PAGES=0, LAB_WRITER_SKIP_UNCHANGED=True,
    )  # fmt: skip
    assert last_build(tmp_path / "c2")["processes"] == 1
    three = tmp_path / "three-processes"
    dev_build(
        three, site_copy, tmp_path / "c3", LAB_WRITER_PROCESSES=3,
        LAB_WRITER_PARALLEL_MIN_PAGES=0, LAB_WRITER_SKIP_UNCHANGED=True,
    )  # fmt: skip
    assert last_build(tmp_path / "c3")["processes"] == 3
    assert len(rendered(tmp_path / "c3")[0]) > 40
    expected = tree(stock)
    assert len([n for n in expected if n.endswith(".html")]) > 40
    assert compare(expected, tree(one)) == SAME
    assert compare(expected, tree(three)) == SAME


def test_production_build_with_workers_matches_one_process(tmp_path, site_copy):
    # A post with a problem is read by a worker too: the build still names it.
    broken = site_copy / "posts" / "2026-11-05-looking-ahead.md"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("title:", "titel:", 1),
        encoding="utf-8",
    )
    problems = []
    for name, settings in (
        ("serial", {"PLUGINS": PLUGINS_WITHOUT_WRITER, "LAB_READ_PROCESSES": 1}),
        ("parallel", {"LAB_READ_PROCESSES": 2, "LAB_READ_PARALLEL_MIN_POSTS": 0,
                      "LAB_WRITER_PROCESSES": 2, "LAB_WRITER_PARALLEL_MIN_PAGES": 0}),
    ):  # fmt: skip
        with pytest.raises(ContentValidationError) as failure:
            build("publishconf.py", tmp_path / name, path=site_copy, **settings)
        problems.append(str(failure.value))
    assert "2026-11-05-looking-ahead.md: title" in problems[0]
    assert problems[0] == problems[1]

    broken.write_text(
        broken.read_text(encoding="utf-8").replace("titel:", "title:", 1),
        encoding="utf-8",
    )
    stock = tmp_path / "stock-writer"
    build(
        "publishconf.py", stock, path=site_copy, PLUGINS=PLUGINS_WITHOUT_WRITER,
        LAB_READ_PROCESSES=1,
    )  # fmt: skip
    ours = tmp_path / "ours"
    build(
        "publishconf.py", ours, path=site_copy, LAB_WRITER_PROCESSES=2,
        LAB_WRITER_PARALLEL_MIN_PAGES=0, LAB_READ_PROCESSES=3,
        LAB_READ_PARALLEL_MIN_POSTS=0,
    )  # fmt: skip
    assert tree(ours) == tree(stock)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


POST = "posts/2025-05-22-what-the-evidence-says.md"
COMMENTS = "comments/first-challenge"
NEW_COMMENT = """\
id: 20250415-101010-abcdef
post: first-challenge
name: Sam Okafor
date: '2025-04-15T10:10:10Z'
body: 'A new comment, approved after the last build.'
"""


def body_edit(content: Path, theme: Path) -> None:
    edit(content / POST, "Lab members sent us", "Lab members kindly sent us")


def title_edit(content: Path, theme: Path) -> None:
    edit(content / POST, "title: What the evidence says", "title: What evidence says")


def tags_edit(content: Path, theme: Path) -> None:
    edit(content / POST, "tags: [research, ", "tags: [reading, research, ")


def new_comment(content: Path, theme: Path) -> None:
    (content / COMMENTS / "20250415-101010-abcdef.yaml").write_text(
        NEW_COMMENT, encoding="utf-8"
    )


def removed_comment(content: Path, theme: Path) -> None:
    first = sorted((content / COMMENTS).glob("*.yaml"))[-1]
    first.unlink()


def edited_comment(content: Path, theme: Path) -> None:
    first = sorted((content / COMMENTS).glob("*.yaml"))[0]
    edit(first, "has to be the starting point", "must be the starting point")


def new_post(content: Path, theme: Path) -> None:
    (content / "posts" / "2026-11-20-a-new-post.md").write_text(
        "---\ntitle: A new post\ndate: 2026-11-20T09:00:00Z\nauthors: [tom-reyes]\n"
        "category: Learning\ntags: [learning]\nsummary: What we learned.\n---\n\n"
        "What we learned this week.\n",
        encoding="utf-8",
    )


def template_edit(content: Path, theme: Path) -> None:
    edit(
        theme / "templates" / "partials" / "footer.html",
        "Comments policy</a>",
        "Our comments policy</a>",
    )


def image_edit(content: Path, theme: Path) -> None:
    image = content / "images" / "workshop.svg"
    image.write_bytes(image.read_bytes() + b"\n")


EDITS = {
    "body": body_edit,
    "title": title_edit,
    "tags": tags_edit,
    "new comment": new_comment,
    "removed comment": removed_comment,
    "edited comment": edited_comment,
    "new post": new_post,
    "template": template_edit,
    "image": image_edit,
}


@pytest.fixture
def workspace(tmp_path, site_copy):
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    return site_copy, theme


@pytest.mark.parametrize("change", sorted(EDITS))
def test_in_place_rebuild_equals_full_build(tmp_path, workspace, change):
    content, theme = workspace
    output, cache = tmp_path / "in-place", tmp_path / "cache"
    options = {"THEME": str(theme), "LAB_WRITER_SKIP_UNCHANGED": True}
    dev_build(output, content, cache, **options)
    total = len(last_build(cache)["written"])
    assert total > 40
    dev_build(output, content, cache, **options)
    assert last_build(cache)["written"] == [], "an unchanged rebuild writes nothing"
    # ... but the files written on every build (no key), and removes nothing.
    assert last_build(cache)["removed"] == []
    assert last_build(cache)["unchanged"] == total

    EDITS[change](content, theme)
    dev_build(output, content, cache, **options)
    fresh = tmp_path / "fresh"
    dev_build(fresh, content, tmp_path / "fresh-cache", **options)
    assert compare(tree(fresh), tree(output)) == SAME

    pages, _ = rendered(cache)
    if change == "body":
        # Only the post's own page shows its body, and the feeds it is in.
        assert pages == ["updates/2025/what-the-evidence-says/index.html"]
        files = set(last_build(cache)["written"])
        assert {"feeds/all.atom.xml", "feeds/all.rss.xml", "feeds/all.json",
                "feeds/tag/research.atom.xml"} <= files  # fmt: skip
        assert "feeds/get-involved.atom.xml" not in files
    elif change == "edited comment":
        # Its count is the same: only the post's own page shows its text.
        assert pages == ["updates/2025/first-challenge/index.html"]
        assert "updates/2025/first-challenge/comments.atom.xml" in set(
            last_build(cache)["written"]
        )
    elif change in ("new comment", "removed comment"):
        # The comment count shows wherever the post is listed.
        assert "updates/2025/first-challenge/index.html" in pages
    else:
        assert pages


def test_a_new_day_rebuilds_what_it_changes(tmp_path, site_copy):
    content = site_copy
    output, cache = tmp_path / "in-place", tmp_path / "cache"
    dev_build(output, content, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    later = SAMPLE_TODAY + dt.timedelta(days=400)
    dev_build(output, content, cache, LAB_WRITER_SKIP_UNCHANGED=True, LAB_TODAY=later)
    fresh = tmp_path / "fresh"
    dev_build(fresh, content, tmp_path / "c2", LAB_TODAY=later)
    assert compare(tree(fresh), tree(output)) == SAME
    assert rendered(cache)[0]


def test_a_page_touched_by_hand_is_rendered_again(tmp_path, site_copy):
    output, cache = tmp_path / "out", tmp_path / "cache"
    dev_build(output, site_copy, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    page = output / "about" / "index.html"
    original = page.read_bytes()
    page.write_bytes(b"<p>edited by hand</p>")
    dev_build(output, site_copy, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    assert rendered(cache)[0] == ["about/index.html"]
    assert page.read_bytes() == original


def test_a_corrupt_record_renders_everything(tmp_path, site_copy):
    output, cache = tmp_path / "out", tmp_path / "cache"
    dev_build(output, site_copy, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    first = last_build(cache)
    (cache / "lab_writer.json").write_text("{not json", encoding="utf-8")
    dev_build(output, site_copy, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    assert last_build(cache) == first
    assert first["unchanged"] == 0


def test_another_output_folder_does_not_reuse_the_record(tmp_path, site_copy):
    cache = tmp_path / "cache"
    dev_build(tmp_path / "a", site_copy, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    dev_build(tmp_path / "b", site_copy, cache, LAB_WRITER_SKIP_UNCHANGED=True)
    assert last_build(cache)["unchanged"] == 0


def test_a_template_error_in_a_worker_fails_the_build_naming_the_page(
    tmp_path, workspace
):
    content, theme = workspace
    edit(
        theme / "templates" / "page.html",
        "{% block content %}",
        "{% block content %}{{ page.no_such_thing.boom }}",
    )
    with pytest.raises(RenderError) as failure:
        dev_build(
            tmp_path / "out", content, tmp_path / "cache", THEME=str(theme),
            LAB_WRITER_PROCESSES=2, LAB_WRITER_PARALLEL_MIN_PAGES=0,
        )  # fmt: skip
    message = str(failure.value)
    assert "index.html" in message
    assert "no_such_thing" in message
    # No worker process is left behind.
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("LAB_WRITER_PROCESSES", 0, "whole number of at least 1"),
        ("LAB_WRITER_PROCESSES", "many", "whole number of at least 1"),
        ("LAB_WRITER_PARALLEL_MIN_PAGES", -1, "whole number"),
        ("LAB_WRITER_SKIP_UNCHANGED", "yes", "True or False"),
    ],
)
def test_bad_settings_are_named(tmp_path, site_copy, setting, value, reason):
    with pytest.raises(SettingsError, match=f"{setting}.*{reason}"):
        dev_build(tmp_path / "out", site_copy, tmp_path / "cache", **{setting: value})


def test_a_worker_that_dies_is_reported_with_how_it_ended():
    import signal

    from lab_common.processes import fork_worker

    def die() -> bytes:
        os.kill(os.getpid(), signal.SIGKILL)
        return b""

    ok, message = fork_worker(die).wait()
    assert not ok
    assert message.decode().endswith(f"ended with signal {int(signal.SIGKILL)}")
    ok, message = fork_worker(lambda: b"result").wait()
    assert (ok, message) == (True, b"result")
