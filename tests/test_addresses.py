"""Addresses that do not move, and no silent overwrite.

A post's address comes from its file's name (or `slug:`), so a new title
keeps its page, comments and feed id; a renamed file is an error naming
what pointed at the old address and how to keep it; two sources that would
write one file fail the build, naming both, before anything is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, SAMPLE_SITEURL_DEV, build, html_files, parse_html
from test_feeds import ids_by_link

from lab_content.generator import ContentValidationError

FIXTURE_SITE = FIXTURES / "site"
FIRST = "posts/2025-04-10-first-challenge.md"
FIRST_URL = f"{SAMPLE_SITEURL_DEV}/updates/2025/first-challenge/"
FIRST_COMMENTS = [
    "20250411-081412-3fa9c2",
    "20250411-134005-b71e04",
    "20250414-090247-5c3d8a",
]


def without_slug(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("slug:"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def sample_build(content: Path, output: Path) -> dict:
    log = build("pelicanconf.py", output, path=content, SITEURL=SAMPLE_SITEURL_DEV)
    assert log.messages() == []
    return json.loads((output / "comments-manifest.json").read_text())["posts"]


def refused(content: Path, output: Path, **settings) -> list[str]:
    with pytest.raises(ContentValidationError) as caught:
        build("pelicanconf.py", output, path=content, **settings)
    assert not output.exists() or html_files(output) == []
    return caught.value.problems


def test_a_new_title_keeps_the_address_the_comments_and_the_feed_id(
    site_copy, tmp_path
):
    post = site_copy / FIRST
    # No slug: the address comes from the file's name alone.
    post.write_text(without_slug(post.read_text(encoding="utf-8")), encoding="utf-8")
    before = sample_build(site_copy, tmp_path / "before")
    edit(
        post,
        'title: "Our first challenge: peer support for everyone who wants it"',
        "title: Peer support, our first challenge",
    )
    after = sample_build(site_copy, tmp_path / "after")
    assert before["first-challenge"]["url"] == after["first-challenge"]["url"]
    assert after["first-challenge"]["url"] == FIRST_URL
    assert after["first-challenge"]["comments"] == FIRST_COMMENTS
    assert ids_by_link(tmp_path / "after") == ids_by_link(tmp_path / "before")
    page = parse_html(tmp_path / "after/updates/2025/first-challenge/index.html")
    titles = ["".join(h1.itertext()).strip() for h1 in page.iter("h1")]
    assert titles == ["Peer support, our first challenge"]


def test_a_renamed_file_names_what_pointed_at_it_and_how_to_keep_it(
    site_copy, tmp_path
):
    old = site_copy / FIRST
    new = site_copy / "posts/2025-04-10-peer-support-for-everyone.md"
    new.write_text(without_slug(old.read_text(encoding="utf-8")), encoding="utf-8")
    old.unlink()
    linking = [
        "pages/about.md",
        "posts/2025-05-22-what-the-evidence-says.md",
        "posts/2026-11-05-looking-ahead.md",
    ]
    assert refused(site_copy, tmp_path / "one") == [
        f"{path}: link: {{filename}}/posts/2025-04-10-first-challenge.md names "
        "posts/2025-04-10-first-challenge.md, which does not exist; if it was "
        "renamed, link to its new name, and give the renamed file "
        "'slug: first-challenge' to keep its old address (and 'id:' to keep its "
        "feed id, as the README says)"
        for path in linking
    ]
    # As told: the links follow the file...
    for path in linking:
        edit(
            site_copy / path,
            "{filename}/posts/2025-04-10-first-challenge.md",
            "{filename}/posts/2025-04-10-peer-support-for-everyone.md",
        )
    assert refused(site_copy, tmp_path / "two") == [
        "comments/first-challenge: post: 3 comments ("
        + ", ".join(f"{name}.yaml" for name in FIRST_COMMENTS)
        + ") are on the post with the slug 'first-challenge', and no post has it; "
        "if that post's file was renamed or its slug changed, give it "
        "'slug: first-challenge' to keep its address and its comments"
    ]
    # ...and the address stays: the comments are where they were.
    edit(new, "---\n", "---\nslug: first-challenge\n")
    manifest = sample_build(site_copy, tmp_path / "three")
    assert manifest["first-challenge"]["url"] == FIRST_URL
    assert manifest["first-challenge"]["comments"] == FIRST_COMMENTS


def test_a_post_named_without_its_date_takes_its_whole_name(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    (content / "posts/notes-from-the-road.md").write_text(
        "---\ntitle: T\ndate: 2025-06-01T10:00:00+01:00\nauthors: [ada-lane]\n"
        "category: Research\nsummary: S.\n---\nText\n",
        encoding="utf-8",
    )
    build("pelicanconf.py", tmp_path / "output", path=content)
    assert (tmp_path / "output/updates/2025/notes-from-the-road/index.html").is_file()


PAGE = "---\ntitle: T\nsummary: S.\n{extra}---\nText\n"
SAVE_AS = PAGE.replace("{extra}", "save_as: {save_as}\n")
ADVICE = "; give one of them another address"
COLLISIONS = {
    "a-page-on-the-updates-listing": (
        {"pages/updates.md": PAGE.format(extra="")},
        {},
        [
            "pages/updates.md: output: would write updates/index.html, which the "
            "index page (INDEX_SAVE_AS) also writes" + ADVICE
        ],
    ),
    "a-page-on-the-challenges-listing": (
        {"pages/challenges.md": PAGE.format(extra="")},
        {},
        [
            "a listing (LAB_CHALLENGES_SAVE_AS): output: would write "
            "challenges/index.html, which pages/challenges.md also writes" + ADVICE
        ],
    ),
    "a-page-on-a-challenge": (
        {
            "pages/x.md": SAVE_AS.format(
                save_as="challenges/fixture-challenge/index.html"
            )
        },
        {},
        [
            "challenges/fixture-challenge.md: output: would write "
            "challenges/fixture-challenge/index.html, which pages/x.md also writes"
            + ADVICE
        ],
    ),
    "a-page-on-an-author": (
        {"pages/x.md": SAVE_AS.format(save_as="authors/ada-lane/index.html")},
        {},
        [
            "author 'ada-lane' (AUTHOR_SAVE_AS): output: would write "
            "authors/ada-lane/index.html, which pages/x.md also writes" + ADVICE
        ],
    ),
    "a-page-on-a-feed": (
        {"pages/x.md": SAVE_AS.format(save_as="feeds/all.atom.xml")},
        {},
        [
            "pages/x.md: output: would write feeds/all.atom.xml, which the all "
            "feed also writes" + ADVICE
        ],
    ),
    "a-page-on-a-static-file": (
        {"pages/x.md": SAVE_AS.format(save_as="images/none.svg")},
        {},
        [
            "images/none.svg: output: would write images/none.svg, which "
            "pages/x.md also writes" + ADVICE
        ],
    ),
    "two-posts-one-slug-one-year": (
        {
            "posts/2025-06-01-a-published-post.md": (
                "---\ntitle: T\ndate: 2025-06-01T10:00:00+01:00\n"
                "authors: [ada-lane]\ncategory: Research\nsummary: S.\n---\nText\n"
            )
        },
        {},
        [
            "posts/2025-06-01-a-published-post.md: slug: 'a-published-post' is "
            "also the address of posts/2025-05-01-published.md, and a post's "
            "comments and links find it by its slug; give one of them another slug"
        ],
    ),
    "two-posts-one-slug-two-years": (
        {
            "posts/2024-06-01-a-published-post.md": (
                "---\ntitle: T\ndate: 2024-06-01T10:00:00+01:00\n"
                "authors: [ada-lane]\ncategory: Research\nsummary: S.\n---\nText\n"
            )
        },
        {},
        [
            "posts/2025-05-01-published.md: slug: 'a-published-post' is also the "
            "address of posts/2024-06-01-a-published-post.md, and a post's "
            "comments and links find it by its slug; give one of them another slug"
        ],
    ),
    "a-tag-and-a-category-with-one-slug": (
        {
            "posts/2025-06-01-tagged.md": (
                "---\ntitle: T\ndate: 2025-06-01T10:00:00+01:00\n"
                "authors: [ada-lane]\ncategory: Research\ntags: [research]\n"
                "summary: S.\n---\nText\n"
            )
        },
        {
            "TAG_URL": "topics/{slug}/",
            "TAG_SAVE_AS": "topics/{slug}/index.html",
            "CATEGORY_URL": "topics/{slug}/",
            "CATEGORY_SAVE_AS": "topics/{slug}/index.html",
        },
        [
            "category 'Research' (CATEGORY_SAVE_AS): output: would write "
            "topics/research/index.html, which tag 'research' (TAG_SAVE_AS) also "
            "writes" + ADVICE
        ],
    ),
}


@pytest.mark.parametrize("name", COLLISIONS)
def test_two_sources_on_one_file_fail_naming_both(tmp_path, name):
    files, settings, expected = COLLISIONS[name]
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    for relative, text in files.items():
        (content / relative).write_text(text, encoding="utf-8")
    assert refused(content, tmp_path / "output", **settings) == expected
