"""Each way an in-place rebuild once went stale, as its own test: after it,
the output folder holds exactly what a fresh build writes (both ways)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from commentkit import comment_page_files
from conftest import ROOT
from pelican import signals
from rebuildkit import COMMENT, SAME, Site, tree

from lab_common import SettingsError
from lab_common.plugin_order import require_position
from lab_writer.autoreload import Watcher, rebuild_forever, watch_paths
from lab_writer.writer import RenderError

POST_PAGE = "updates/2025/with-comments/index.html"
POST_FEED = "updates/2025/with-comments/comments.atom.xml"


@pytest.fixture
def site(tmp_path) -> Site:
    site = Site.copy(tmp_path)
    site.rebuild()
    return site


def record(site: Site) -> dict:
    with open(site.root / "cache" / "lab_writer.json", encoding="utf-8") as handle:
        return json.load(handle)


def write_comment(site: Site, comment_id: str, body: str) -> None:
    folder = site.content / "comments" / "with-comments"
    (folder / f"{comment_id}.yaml").write_text(
        COMMENT.format(id=comment_id, day=int(comment_id[6:8]), body=body),
        encoding="utf-8",
    )


def test_erasing_a_posts_only_comment_removes_its_comment_feed(site):
    # (a) The feed of the post's one comment stayed, holding the erased text.
    feed = site.output / POST_FEED
    assert b"The first comment" in feed.read_bytes()
    (site.comments()[0]).unlink()
    site.rebuild()
    assert not feed.exists()
    assert POST_FEED in record(site)["last_build"]["removed"]
    assert site.differences() == SAME


def test_a_deleted_post_takes_its_page_and_card_images_with_it(site):
    # Cards are placed while pages render (here in worker processes, which
    # tell the writer what they placed).
    workers = {"LAB_WRITER_PROCESSES": 2, "LAB_WRITER_PARALLEL_MIN_PAGES": 0}
    site.settings.update(workers)
    site.rebuild()
    page = "updates/2025/first/index.html"
    social = "images/social/"
    cards = [
        n for n in record(site)["outputs"][page] if n.startswith(social + "first-")
    ]
    assert cards and all((site.output / n).is_file() for n in cards)
    (site.content / "posts" / "2025-03-01-first.md").unlink()
    site.rebuild()
    removed = record(site)["last_build"]["removed"]
    assert page in removed and set(cards) <= set(removed)
    assert not (site.output / "updates/2025/first").exists()
    assert site.differences() == SAME


def test_the_record_names_every_file_a_build_writes(site):
    # Pages, plugin files, cards, static and theme files: a file missing from
    # the record could never be removed when it is no longer written.
    outputs = record(site)["outputs"]
    named = set(outputs) | {name for placed in outputs.values() for name in placed}
    written = set(tree(site.output))
    assert {n for n in written if n.startswith("theme/")}, "theme files are copied"
    assert named == written


@pytest.mark.parametrize("processes", [1, 2])
def test_after_a_failed_rebuild_the_next_equals_a_fresh_build(site, processes):
    # A page that fails to render stops the build with pages half written;
    # the record then keeps what either build placed (worker processes tell
    # what they placed before failing), and the next renders everything.
    site.settings.update(
        LAB_WRITER_PROCESSES=processes, LAB_WRITER_PARALLEL_MIN_PAGES=0
    )
    footer = site.overrides / "partials" / "footer.html"
    good = footer.read_text(encoding="utf-8")
    footer.write_text(good + "{{ no_such_thing.boom }}", encoding="utf-8")
    site.delete_post(0)
    site.add_post(3)
    with pytest.raises(RenderError):
        site.rebuild()
    # The new post's tag feed was written before the pages failed.
    assert (site.output / "feeds" / "tag" / "new.atom.xml").is_file()
    (new_post,) = (site.content / "posts").glob("*-new-*.md")
    new_post.unlink()
    footer.write_text(good + "<p>mended</p>", encoding="utf-8")
    site.rebuild()
    assert site.differences() == SAME


def test_files_no_build_wrote_are_left_alone(site):
    # The search index and a file put there by hand are not in any record.
    (site.output / "pagefind").mkdir()
    (site.output / "pagefind" / "pagefind.js").write_text("index", encoding="utf-8")
    (site.output / "by-hand.txt").write_text("mine", encoding="utf-8")
    site.delete_call(0)
    site.rebuild()
    assert (site.output / "pagefind" / "pagefind.js").read_text() == "index"
    assert (site.output / "by-hand.txt").read_text() == "mine"
    assert not (site.output / "get-involved" / "fixture-call").exists()


def test_a_file_written_during_a_rebuild_is_in_the_next(site):
    # (c) A comment approved while the rebuild that the first started runs:
    # written here after every generator has read its content.
    written = []

    def approve_second(generators):
        if not written:
            written.append(True)
            write_comment(site, "20250611-100000-cccccc", "The second comment.")

    watcher = Watcher(watch_paths({"PATH": str(site.content)}, None), [".*"])
    builds = []

    def build():
        builds.append(len(builds))
        if len(builds) == 1:
            signals.all_generators_finalized.connect(approve_second)
        try:
            site.rebuild()
        finally:
            signals.all_generators_finalized.disconnect(approve_second)

    write_comment(site, "20250610-100000-bbbbbb", "The first comment of two.")
    try:
        # The first change starts a rebuild; the second comment is written
        # during it; the watcher still has it when that rebuild ends.
        rebuild_forever(build, lambda: None if len(builds) > 1 else watcher.changes(10))
    finally:
        watcher.close()
    assert len(builds) == 2
    # On the post's page or the next page of its comments (rebuildkit's
    # LAB_COMMENTS_PER_PAGE = 2: the fixture's comment and these two).
    pages = [path.read_bytes() for path in comment_page_files(site.output / POST_PAGE)]
    assert len(pages) == 2
    assert b"The first comment of two." in pages[0]
    assert b"The second comment." in pages[1]
    assert site.differences() == SAME


def test_a_watcher_started_after_the_build_misses_what_it_wrote(tmp_path):
    # Why (c) went stale: Pelican's autoreload starts a new watcher after each
    # build, which cannot see a file written before it started.
    (tmp_path / "early.yaml").write_text("x", encoding="utf-8")
    late = Watcher([str(tmp_path)], [])
    try:
        assert late.changes(1.5) is None
        (tmp_path / "later.yaml").write_text("y", encoding="utf-8")
        assert late.changes(10) == {str(tmp_path / "later.yaml")}
    finally:
        late.close()


# (b) Plugin code edited while the server runs, then the server restarted.
SERVER = textwrap.dedent(
    """
    import datetime as dt, pathlib, sys
    from pelican import Pelican
    from pelican.settings import read_settings

    def build(output, cache, in_place):
        override = {
            "PATH": "content", "OUTPUT_PATH": output, "CACHE_PATH": cache,
            "THEME": sys.argv[2], "SITEURL": "http://127.0.0.1:8000",
            "LAB_TODAY": dt.datetime(2025, 12, 1, 12, tzinfo=dt.UTC),
            "LAB_SOCIAL_CACHE_PATH": sys.argv[3], "LAB_WRITER_PROCESSES": 1,
        }
        if in_place:
            override.update(CACHE_CONTENT=True, LOAD_CONTENT_CACHE=True,
                            GZIP_CACHE=False, LAB_WRITER_SKIP_UNCHANGED=True)
        Pelican(read_settings("pelicanconf.py", override=override)).run()

    if sys.argv[1] == "serve":
        build("output", "cache", True)
        code = pathlib.Path("plugins/lab_writer/writer.py")
        text = code.read_text()
        old = "handle.write(output)"
        assert old in text
        code.write_text(text.replace(old, "handle.write(output + '<!-- new -->')"))
        build("output", "cache", True)  # the server runs the code it loaded
    elif sys.argv[1] == "restart":
        build("output", "cache", True)
    else:
        build("fresh", "fresh-cache", False)
    """
)


def test_plugin_code_edited_under_a_running_server_renders_after_a_restart(tmp_path):
    site = Site.copy(tmp_path)
    shutil.copy2(ROOT / "pelicanconf.py", tmp_path)
    shutil.copytree(
        ROOT / "plugins",
        tmp_path / "plugins",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / "server.py").write_text(SERVER, encoding="utf-8")

    def run(mode: str) -> None:
        subprocess.run(
            [sys.executable, "server.py", mode, str(ROOT / "theme"),
             str(ROOT / ".cache" / "lab_social")],
            cwd=tmp_path, check=True, timeout=120, capture_output=True,
        )  # fmt: skip

    run("serve")
    # The running server's pages were made by the code it loaded.
    assert b"<!-- new -->" not in (site.output / "about" / "index.html").read_bytes()
    run("restart")
    with open(tmp_path / "cache" / "lab_writer.json", encoding="utf-8") as handle:
        rendered = json.load(handle)["last_build"]["written"]
    assert "about/index.html" in rendered
    assert (site.output / "about" / "index.html").read_bytes().endswith(b"<!-- new -->")
    run("fresh")
    assert tree(tmp_path / "fresh") == tree(site.output)


def check_order(plugins):
    # The rule lab_writer states when a build starts (lab_writer.plugin).
    require_position({"PLUGINS": plugins}, "lab_writer", "last", "renders")


@pytest.mark.parametrize(
    "plugins",
    [
        ["lab_content", "lab_writer", "lab_sitemap"],
        ["lab_content", "plugins.lab_writer", "lab_feeds"],
    ],
)
def test_lab_writer_must_be_listed_last(plugins):
    with pytest.raises(SettingsError, match=r"PLUGINS: 'lab_writer' must be last"):
        check_order(plugins)


def test_a_build_with_lab_writer_not_last_stops_naming_the_setting(tmp_path):
    site = Site.copy(tmp_path)
    site.settings["PLUGINS"] = ["lab_content", "lab_writer", "lab_comments"]
    with pytest.raises(SettingsError, match="PLUGINS: 'lab_writer' must be last"):
        site.rebuild()
    assert not site.output.exists()


def test_lab_writer_listed_last_passes():
    check_order(["lab_content", "lab_feeds", "lab_writer"])
    check_order(["lab_content", "lab_feeds"])  # a build without it


def test_lab_writer_knows_no_other_plugin():
    # What other plugins tell it comes through lab_common.output (item 9).
    import ast

    for path in sorted((ROOT / "plugins" / "lab_writer").glob("*.py")):
        tree_ = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree_):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("lab_") or name.startswith("lab_common"), (
                    f"{path.name} imports {name}"
                )
        text = path.read_text(encoding="utf-8")
        assert "LAB_COMMENTS" not in text and "comments_key" not in text, path.name


def test_a_record_naming_files_outside_the_output_folder_removes_none(site):
    outside = site.root / "outside.txt"
    outside.write_text("keep", encoding="utf-8")
    path = site.root / "cache" / "lab_writer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["outputs"]["../outside.txt"] = []
    data["outputs"]["about/index.html"] = ["../outside.txt"]
    path.write_text(json.dumps(data), encoding="utf-8")
    site.rebuild()
    assert outside.read_text(encoding="utf-8") == "keep"
    assert site.differences() == SAME
