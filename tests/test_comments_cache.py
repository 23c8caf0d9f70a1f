"""The comments' cache between builds (lab_comments.cache), through real
Pelican builds of the fixture site: a cached rebuild makes the same bytes as
a full build, reads and renders only what changed, still refuses a broken
file, and never fails on a cache it cannot use. Then the comment feeds
through the writer's skip protocol."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import markdown
import pytest
from commentkit import build_fixture, comment, fixture_site, thread_of
from conftest import parse_html
from lxml import etree
from pelican import signals

from lab_comments import cache
from lab_comments.plugin import CommentsGenerator, CommentValidationError

POST = "updates/2025/a-published-post/index.html"
FEED = "updates/2025/a-published-post/comments.atom.xml"
OTHER_FEED = "updates/2025/an-ideas-post/comments.atom.xml"
ATOM = "{http://www.w3.org/2005/Atom}"

COMMENTS = [
    comment("c-a", "First, *top level*, with [a link](https://example.org/a?b=1&c=2).",
            name="Ann & <Co>", date="2025-05-02T09:00:00Z",
            website="https://ann.example"),
    comment("c-b", "Reply to Ann.\nOn two lines.", name="Lab Person",
            date="2025-05-02T10:00:00Z", reply_to="c-a", staff=True),
    comment("c-c", "Second top level.", name="Cy", date="2025-05-03T09:00:00Z"),
    comment("c-d", "A reply to the reply.", name="Dee", date="2025-05-04T09:00:00Z",
            reply_to="c-b"),
    comment("c-e", "On the ideas post.", post="an-ideas-post", name="Eve",
            date="2025-09-20T09:00:00Z"),
]  # fmt: skip


def site(tmp_path: Path, comments=COMMENTS) -> Path:
    """The fixture site with `comments`, its comment files an hour old (as
    files in a checkout are: see test_a_file_changed_just_before_a_build_...)."""
    content = fixture_site(tmp_path, comments)
    for path in (content / "comments").rglob("*.yaml"):
        age(path)
    return content


def age(path: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def cached(tmp_path: Path, **extra) -> dict:
    """Settings of a build with Pelican's content cache kept and loaded."""
    return {
        "CACHE_CONTENT": True,
        "LOAD_CONTENT_CACHE": True,
        "CACHE_PATH": str(tmp_path / "cache"),
        **extra,
    }


def build(content: Path, output: Path, **overrides) -> CommentsGenerator:
    """A real build; the CommentsGenerator it ran, with its figures."""
    found: list[CommentsGenerator] = []

    def grab(generators):
        found.extend(g for g in generators if isinstance(g, CommentsGenerator))

    signals.all_generators_finalized.connect(grab)
    try:
        log = build_fixture(content, output, **overrides)
    finally:
        signals.all_generators_finalized.disconnect(grab)
    assert log.messages() == []
    (generator,) = found
    return generator


def files(output: Path) -> dict[str, bytes]:
    return {
        path.relative_to(output).as_posix(): path.read_bytes()
        for path in sorted(output.rglob("*"))
        if path.is_file()
    }


def differences(one: Path, other: Path) -> list[str]:
    """Files that are not byte for byte the same in two built sites."""
    first, second = files(one), files(other)
    return sorted(
        name
        for name in first.keys() | second.keys()
        if first.get(name) != second.get(name)
    )


def write(content: Path, record: dict) -> Path:
    """Write a comment file as the moderation CLI does."""
    from lab_comments.store import Published

    return Published(content / "comments").write(record)


def figures(generator: CommentsGenerator) -> tuple[int, int, int]:
    stats = generator.stats
    return stats["cached"], stats["read"], stats["rendered"]


# -- the same bytes


def test_a_cached_rebuild_makes_the_same_bytes_as_a_full_build(tmp_path):
    content = site(tmp_path)
    full = build(content, tmp_path / "full")
    assert full.stats["cache"] == "off" and figures(full) == (0, 5, 5)
    assert not (tmp_path / "cache" / cache.CACHE_NAME).exists()

    first = build(content, tmp_path / "first", **cached(tmp_path))
    assert first.stats["cache"] == "none yet" and first.stats["cache_written"]
    assert figures(first) == (0, 5, 5)
    second = build(content, tmp_path / "second", **cached(tmp_path))
    assert second.stats["cache"] == "loaded" and figures(second) == (5, 0, 0)
    assert not second.stats["cache_written"]  # nothing changed: not rewritten

    assert differences(tmp_path / "full", tmp_path / "first") == []
    assert differences(tmp_path / "full", tmp_path / "second") == []
    # And they are what the comments say (the full build is checked at length
    # in test_comments_build).
    assert [cid for _, cid, _ in thread_of(tmp_path / "second" / POST)] == [
        "c-a", "c-b", "c-d", "c-c",
    ]  # fmt: skip
    feed = etree.parse(str(tmp_path / "second" / FEED)).getroot()
    assert len(feed.findall(f"{ATOM}entry")) == 4


def test_unchanged_comments_are_neither_read_nor_rendered_again(tmp_path):
    content = site(tmp_path)
    settings = cached(tmp_path)
    assert figures(build(content, tmp_path / "out", **settings)) == (0, 5, 5)
    assert figures(build(content, tmp_path / "out", **settings)) == (5, 0, 0)
    # One file edited: only it is read and rendered.
    write(content, {**COMMENTS[2], "body": "Second top level, edited."})
    again = build(content, tmp_path / "out", **settings)
    assert figures(again) == (4, 1, 1) and again.stats["cache_written"]
    tree = parse_html(tmp_path / "out" / POST)
    bodies = {
        node.get("id"): " ".join("".join(node.itertext()).split())
        for node in tree.iter("article")
        if node.get("id", "").startswith("comment-")
    }
    assert "Second top level, edited." in bodies["comment-c-c"]


def test_added_edited_and_deleted_comments_show_in_the_next_cached_build(tmp_path):
    content = site(tmp_path)
    settings = cached(tmp_path)
    build(content, tmp_path / "first", **settings)

    new = comment(
        "c-f", "A new comment.", name="Flo", date="2025-05-05T09:00:00Z", reply_to="c-c"
    )
    added = write(content, new)
    edited = write(
        content, {**COMMENTS[0], "name": "Ann Lee", "body": "Edited: **bold**."}
    )
    # Older than RACY_NS, so that this build keeps them (see below).
    age(added, 60)
    age(edited, 60)
    (content / "comments/a-published-post/c-d.yaml").unlink()
    (content / "comments/an-ideas-post/c-e.yaml").unlink()
    generator = build(content, tmp_path / "second", **settings)
    # c-b and c-c from the cache; c-a (edited) and c-f (new) read.
    assert figures(generator) == (2, 2, 2)

    assert thread_of(tmp_path / "second" / POST) == [
        (0, "c-a", "Ann Lee"),
        (1, "c-b", "Lab Person Lab team"),
        (0, "c-c", "Cy"),
        (1, "c-f", "Flo"),
    ]
    first = parse_html(tmp_path / "second" / POST)
    (edited,) = [n for n in first.iter("article") if n.get("id") == "comment-c-a"]
    assert [node.text for node in edited.iter("strong")] == ["bold"]
    entries = etree.parse(str(tmp_path / "second" / FEED)).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id").rsplit("-", 1)[1] for e in entries] == [
        "f", "c", "b", "a",
    ]  # fmt: skip
    # The ideas post lost its only comment: no feed, none in the manifest.
    assert not (tmp_path / "second" / OTHER_FEED).exists()
    manifest = json.loads((tmp_path / "second/comments-manifest.json").read_text())
    assert manifest["posts"]["an-ideas-post"]["comments"] == []
    assert manifest["posts"]["a-published-post"]["comments"] == [
        "c-a", "c-b", "c-c", "c-f",
    ]  # fmt: skip

    # Exactly what a full build of the same files makes.
    build(content, tmp_path / "full")
    assert differences(tmp_path / "full", tmp_path / "second") == []
    # And the cache now holds the new state: nothing to read next time.
    assert figures(build(content, tmp_path / "third", **settings)) == (4, 0, 0)


# -- broken files still break the build


def break_schema(content: Path) -> list[str]:
    path = content / "comments/a-published-post/c-c.yaml"
    path.write_text(
        "id: c-c\npost: a-published-post\nname: Cy\ndate: 2025-05-03T09:00:00\n"
        "body: Second top level.\nemail: cy@example.org\n",
        encoding="utf-8",
    )
    return [
        "comments/a-published-post/c-c.yaml: date: has no time zone (add Z for UTC)",
        "comments/a-published-post/c-c.yaml: email: must never be in a published "
        "comment (it holds or is derived from an email or IP address)",
    ]


def break_yaml(content: Path) -> list[str]:
    (content / "comments/a-published-post/c-c.yaml").write_text("id: [c-c\n")
    return [
        "comments/a-published-post/c-c.yaml: file: invalid YAML: expected ',' or "
        "']', but got '<stream end>' (line 2)"
    ]


def delete_parent(content: Path) -> list[str]:
    # c-d, from the cache, answers c-b, which is gone.
    (content / "comments/a-published-post/c-b.yaml").unlink()
    return [
        "comments/a-published-post/c-d.yaml: reply_to: there is no comment 'c-b' "
        "on this post"
    ]


def delete_post(content: Path) -> list[str]:
    # c-e, from the cache, is on a post that is gone.
    (content / "posts/2025-09-15-ideas.md").unlink()
    return [
        "comments/an-ideas-post: post: 1 comment (c-e.yaml) is on the post with "
        "the slug 'an-ideas-post', and no post has it; if that post's file was "
        "renamed or its slug changed, give it 'slug: an-ideas-post' to keep its "
        "address and its comments"
    ]


def rename_file(content: Path) -> list[str]:
    # The same file under another name: its id no longer matches.
    folder = content / "comments/a-published-post"
    (folder / "c-c.yaml").rename(folder / "c-z.yaml")
    return [
        "comments/a-published-post/c-z.yaml: id: 'c-c' does not match the file name"
    ]


@pytest.mark.parametrize(
    "breaking", [break_schema, break_yaml, delete_parent, delete_post, rename_file]
)
def test_a_comment_broken_between_cached_builds_fails_naming_path_field_reason(
    tmp_path, breaking
):
    content = site(tmp_path)
    settings = cached(tmp_path)
    build(content, tmp_path / "out", **settings)
    kept = (tmp_path / "cache" / cache.CACHE_NAME).read_bytes()

    expected = breaking(content)
    with pytest.raises(CommentValidationError) as caught:
        build(content, tmp_path / "broken", **settings)
    assert caught.value.problems == expected
    # The same message as a build without the cache.
    with pytest.raises(CommentValidationError) as uncached:
        build_fixture(content, tmp_path / "broken-full")
    assert str(uncached.value) == str(caught.value)
    # A failed build leaves the cache as it was.
    assert (tmp_path / "cache" / cache.CACHE_NAME).read_bytes() == kept


# -- a cache that cannot be used is ignored


def garbage(path: Path) -> None:
    path.write_bytes(b"\x80\x03not json at all")


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def older_format(path: Path) -> None:
    data = json.loads(path.read_bytes())
    path.write_text(json.dumps({**data, "format": cache.CACHE_FORMAT - 1}))


def wrong_shape(path: Path) -> None:
    data = json.loads(path.read_bytes())
    entry = data["files"]["comments/a-published-post/c-a.yaml"]
    entry[2]["body_html"] = 42
    path.write_text(json.dumps(data))


def naive_date(path: Path) -> None:
    data = json.loads(path.read_bytes())
    entry = data["files"]["comments/a-published-post/c-a.yaml"]
    entry[2]["date"] = "2025-05-02T09:00:00"
    path.write_text(json.dumps(data))


def another_field(path: Path) -> None:
    data = json.loads(path.read_bytes())
    entry = data["files"]["comments/a-published-post/c-a.yaml"]
    entry[2]["email"] = "ann@example.org"
    path.write_text(json.dumps(data))


def short_entry(path: Path) -> None:
    data = json.loads(path.read_bytes())
    data["files"]["comments/a-published-post/c-a.yaml"] = [1, 2]
    path.write_text(json.dumps(data))


def a_list(path: Path) -> None:
    path.write_text("[]")


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (garbage, "ignored: corrupt"),
        (truncated, "ignored: corrupt"),
        (older_format, "ignored: of another format"),
        (wrong_shape, "ignored: corrupt"),
        (naive_date, "ignored: corrupt"),
        (another_field, "ignored: corrupt"),
        (short_entry, "ignored: corrupt"),
        (a_list, "ignored: of another format"),
    ],
)
def test_a_corrupt_or_older_cache_file_is_ignored_and_rebuilt(tmp_path, spoil, why):
    content = site(tmp_path)
    settings = cached(tmp_path)
    build(content, tmp_path / "first", **settings)
    spoil(tmp_path / "cache" / cache.CACHE_NAME)

    generator = build(content, tmp_path / "second", **settings)
    assert generator.stats["cache"].startswith(why), generator.stats["cache"]
    assert figures(generator) == (0, 5, 5) and generator.stats["cache_written"]
    assert differences(tmp_path / "first", tmp_path / "second") == []
    # Rebuilt: the next build has every comment from it.
    assert figures(build(content, tmp_path / "third", **settings)) == (5, 0, 0)


def test_an_unreadable_cache_is_ignored_and_one_that_cannot_be_written_is_no_error(
    tmp_path,
):
    content = site(tmp_path)
    settings = cached(tmp_path)
    build(content, tmp_path / "first", **settings)
    path = tmp_path / "cache" / cache.CACHE_NAME
    path.unlink()
    path.mkdir()  # read_bytes fails, and so does replacing it
    found: list[CommentsGenerator] = []

    def grab(generators):
        found.extend(g for g in generators if isinstance(g, CommentsGenerator))

    signals.all_generators_finalized.connect(grab)
    try:
        log = build_fixture(content, tmp_path / "second", **settings)
    finally:
        signals.all_generators_finalized.disconnect(grab)
    (generator,) = found
    assert generator.stats["cache"].startswith("ignored: cannot be read")
    assert figures(generator) == (0, 5, 5) and not generator.stats["cache_written"]
    (warning,) = log.messages()
    assert warning.startswith("WARNING lab_comments.plugin: lab_comments: cannot "
                              f"write the cache {path}")  # fmt: skip
    assert differences(tmp_path / "first", tmp_path / "second") == []
    assert path.is_dir() and not list(path.iterdir())
    # No temporary file left behind by the write that failed.
    assert sorted(
        p.name for p in path.parent.iterdir() if "lab_comments" in p.name
    ) == [cache.CACHE_NAME]


# -- what the cache depends on


def test_the_cache_is_ignored_when_the_code_that_made_it_changes(tmp_path, monkeypatch):
    content = site(tmp_path)
    settings = cached(tmp_path)
    build(content, tmp_path / "first", **settings)
    # Another Markdown could render the same body differently.
    monkeypatch.setattr(markdown, "__version__", markdown.__version__ + ".post1")
    generator = build(content, tmp_path / "second", **settings)
    assert generator.stats["cache"] == (
        "ignored: made by other code or for another folder"
    )
    assert figures(generator) == (0, 5, 5)


def test_the_cache_is_ignored_for_another_content_folder(tmp_path):
    one = site(tmp_path / "one")
    two = site(tmp_path / "two")
    settings = cached(tmp_path)
    build(one, tmp_path / "out-one", **settings)
    # The same paths, sizes and times, but another folder: nothing is trusted.
    for path in (one / "comments").rglob("*.yaml"):
        twin = two / path.relative_to(one)
        stat = path.stat()
        os.utime(twin, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    generator = build(two, tmp_path / "out-two", **settings)
    assert figures(generator) == (0, 5, 5)


def test_a_new_time_zone_needs_no_new_cache(tmp_path):
    """Records are kept with UTC dates; each build puts them in TIMEZONE."""
    content = site(tmp_path)
    build(content, tmp_path / "first", **cached(tmp_path))
    zone = {"TIMEZONE": "America/New_York"}
    generator = build(content, tmp_path / "second", **cached(tmp_path, **zone))
    assert figures(generator) == (5, 0, 0)
    build(content, tmp_path / "full", **zone)
    assert differences(tmp_path / "full", tmp_path / "second") == []
    feed = etree.parse(str(tmp_path / "second" / FEED)).getroot()
    assert feed.findtext(f"{ATOM}updated") == "2025-05-04T05:00:00-04:00"


def test_the_cache_follows_pelicans_content_cache_settings(tmp_path):
    content = site(tmp_path)
    path = tmp_path / "cache" / cache.CACHE_NAME
    # Kept but not loaded (pelican --ignore-cache): every file read, the
    # cache written afresh.
    settings = cached(tmp_path, LOAD_CONTENT_CACHE=False)
    for _ in range(2):
        generator = build(content, tmp_path / "out", **settings)
        assert figures(generator) == (0, 5, 5) and generator.stats["cache_written"]
    assert path.exists()
    # Not kept: not read either.
    not_kept = cached(tmp_path, CACHE_CONTENT=False)
    generator = build(content, tmp_path / "out", **not_kept)
    assert generator.stats["cache"] == "off" and figures(generator) == (0, 5, 5)


def test_a_file_changed_just_before_a_build_is_read_again_by_the_next(tmp_path):
    """A file's size and mtime stand for its content only once the file
    system's clock has moved on: an edit in the same tick as the build that
    read it would keep both. So files changed within RACY_NS of the build
    are not kept, and the next build reads them again."""
    content = site(tmp_path)
    fresh = content / "comments/a-published-post/c-c.yaml"
    age(fresh, seconds=0.5)
    settings = cached(tmp_path)
    build(content, tmp_path / "out", **settings)
    assert figures(build(content, tmp_path / "out", **settings)) == (4, 1, 1)
    age(fresh)
    build(content, tmp_path / "out", **settings)  # read: its mtime moved
    assert figures(build(content, tmp_path / "out", **settings)) == (5, 0, 0)


def test_save_cache_leaves_out_recent_files_and_load_cache_reads_the_rest(tmp_path):
    looked = time.time_ns()
    record = {
        "id": "c-a", "post": "p", "name": "Ann", "body_html": "<p>Hi.</p>",
        "date": dt.datetime(2025, 5, 2, 9, tzinfo=dt.UTC),
    }  # fmt: skip
    files = {
        "comments/p/old.yaml": cache.CachedFile(10, looked - cache.RACY_NS - 1, record),
        "comments/p/new.yaml": cache.CachedFile(10, looked - cache.RACY_NS, record),
    }
    path = tmp_path / "sub" / cache.CACHE_NAME
    assert cache.save_cache(path, "id-1", files, looked) == 1
    loaded, state = cache.load_cache(path, "id-1")
    assert state == "loaded"
    assert loaded == {"comments/p/old.yaml": files["comments/p/old.yaml"]}
    assert cache.load_cache(path, "id-2") == (
        {},
        "ignored: made by other code or for another folder",
    )
    assert cache.load_cache(tmp_path / "missing.json", "id-1") == ({}, "none yet")
    # Written in one step: nothing but the file is left in the folder.
    assert [p.name for p in path.parent.iterdir()] == [cache.CACHE_NAME]


def test_the_cache_holds_rendered_html_not_the_markdown(tmp_path):
    content = site(tmp_path)
    build(content, tmp_path / "out", **cached(tmp_path))
    data = json.loads((tmp_path / "cache" / cache.CACHE_NAME).read_text())
    record = data["files"]["comments/a-published-post/c-a.yaml"][2]
    assert "body" not in record
    assert record["body_html"].startswith("<p>First, <em>top level</em>")
    assert 'rel="nofollow ugc noopener"' in record["body_html"]
    assert record["date"] == "2025-05-02T09:00:00+00:00"
    assert "email" not in json.dumps(data)


# -- comment feeds and the writer


def test_a_writer_that_has_a_feed_from_the_same_comments_skips_it(tmp_path):
    """lab_writer (LAB_WRITER_SKIP_UNCHANGED) leaves a feed alone when its
    key, everything the feed is made from, is the one it was written from."""
    content = site(tmp_path)
    settings = cached(tmp_path, LAB_WRITER_SKIP_UNCHANGED=True)
    output = tmp_path / "out"
    first = build(content, output, **settings)
    assert (first.stats["feeds_written"], first.stats["feeds_skipped"]) == (2, 0)
    second = build(content, output, **settings)
    assert (second.stats["feeds_written"], second.stats["feeds_skipped"]) == (0, 2)

    write(content, {**COMMENTS[4], "body": "On the ideas post, edited."})
    third = build(content, output, **settings)
    assert (third.stats["feeds_written"], third.stats["feeds_skipped"]) == (1, 1)
    entry = etree.parse(str(output / OTHER_FEED)).find(f"{ATOM}entry")
    assert "edited" in entry.findtext(f"{ATOM}content")
    build(content, tmp_path / "full")
    assert files(tmp_path / "full")[OTHER_FEED] == files(output)[OTHER_FEED]
    assert files(tmp_path / "full")[FEED] == files(output)[FEED]


# -- read ahead by a worker in full builds


def test_a_worker_reads_the_comments_of_a_full_build_ahead(tmp_path):
    content = site(tmp_path)
    serial = build(content, tmp_path / "serial", LAB_READ_PROCESSES=1)
    assert serial.stats["read_ahead"] == 0 and figures(serial) == (0, 5, 5)
    ahead = build(
        content, tmp_path / "ahead", LAB_READ_PROCESSES=2,
        LAB_COMMENTS_READ_AHEAD_MIN_FILES=0,
    )  # fmt: skip
    # Every file came from the worker: none rendered in the build itself.
    assert ahead.stats["read_ahead"] == 5
    assert figures(ahead) == (0, 5, 0)
    assert differences(tmp_path / "serial", tmp_path / "ahead") == []


def test_a_malformed_comment_read_ahead_still_fails_the_build(tmp_path):
    content = site(tmp_path)
    bad = next((content / "comments").rglob("*.yaml"))
    bad.write_text(bad.read_text(encoding="utf-8") + "staff: maybe\n", "utf-8")
    messages = []
    for processes in (1, 2):
        with pytest.raises(CommentValidationError) as failure:
            build(
                content, tmp_path / f"out-{processes}", LAB_READ_PROCESSES=processes,
                LAB_COMMENTS_READ_AHEAD_MIN_FILES=0,
            )  # fmt: skip
        messages.append(str(failure.value))
    assert "staff" in messages[0]
    assert messages[0] == messages[1]
