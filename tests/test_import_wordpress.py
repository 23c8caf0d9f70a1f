"""The WordPress importer (plugins/lab_import): exports written for these tests
(tests/wxrkit.py) imported into a copy of the fixture site, checked item by
item, then built with the site's real build with no warning."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pelican
import pytest
import wxrkit
import yaml
from conftest import FIXTURES, ROOT, build, parse_html
from lxml import etree
from pelican.settings import read_settings
from siterules import Built, all_problems
from wxrkit import BASE, attachment, comment, post

from lab_content.frontmatter import read_front_matter
from lab_content.schema import SCHEMAS
from lab_import.wordpress import (
    RECORD_FILE,
    REDIRECT_FIELD,
    ImportStopped,
    Options,
    Site,
    Stage,
    import_wordpress,
    make_slug,
    old_addresses,
)
from lab_import.wxr import read_export

SITE = Site.from_settings(read_settings(str(ROOT / "pelicanconf.py")))
MAP = """\
categories:
  News: Announcements
  Études: {category: Research, challenge: fixture-challenge}
"""
# Pelican's own test export, as installed with Pelican (never copied here).
PELICAN_EXPORT = Path(pelican.__file__).parent / "tests/content/wordpressexport.xml"


def copy_site(root: Path) -> Path:
    content = root / "content"
    shutil.copytree(FIXTURES / "site", content)
    return content


def run(root: Path, items, *, uploads=None, default=None, force=False, **export):
    content = root / "content"
    if not content.exists():
        copy_site(root)
    path = wxrkit.write(root / "export.xml", items, **export)
    map_file = root / "import-map.yaml"
    map_file.write_text(MAP, encoding="utf-8")
    options = Options(path, content, map_file, uploads, default, force)
    return import_wordpress(options, SITE)


def front(path: Path) -> tuple[dict, str]:
    data, body, problems = read_front_matter(path.read_text(encoding="utf-8"))
    assert not problems
    return data, body


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def comments_of(content: Path, slug: str) -> dict[str, dict]:
    folder = content / "comments" / slug
    return {
        p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted(folder.glob("*.yaml"))
    }


def built_without_warnings(
    content: Path, output: Path, problems: tuple[str, ...] = ()
) -> None:
    """Built with no warning, and keeping every rule the Lab's own content is
    held to in `make test` (tests/test_lab_content.py), but for `problems`:
    an import that passes here leaves a repository whose tests pass."""
    handler = build("publishconf.py", output, path=content, SITEURL=wxrkit.BASE)
    assert handler.messages() == []
    site = Built(output, wxrkit.BASE, content, tuple(handler.messages()))
    assert all_problems(site) == list(problems)


# -- statuses and types


STATUS_ITEMS = [
    post(1, status="publish"),
    post(2, status="future", post_date_gmt="2030-01-02 09:00:00"),
    post(3, status="draft"),
    post(4, status="pending"),
    post(5, status="private"),
    post(6, status="trash"),
    post(7, status="auto-draft"),
    post(8, status="publish", post_type="page", post_name="old-page"),
    post(9, status="draft", post_type="page", post_name="draft-page"),
    post(10, post_type="nav_menu_item"),
    post(11, post_type="product"),
    post(12, post_type="revision", status="inherit"),
    attachment(13, "2019/03/photo.jpg"),
    post(14, post_password="secret"),  # noqa: S106 (a test export's)
    post(15, comment_status="closed"),
]


def test_every_status_and_type_is_written_or_skipped_with_its_reason(tmp_path):
    report = run(tmp_path, STATUS_ITEMS)
    outcome = {i.post_id: (i.outcome, i.reason, i.status) for i in report.items}
    assert outcome == {
        "1": ("written", "", "published"),
        "2": ("written", "", "published"),
        "3": ("written", "", "draft"),
        "4": ("written", "", "draft"),
        "5": ("written", "", "draft"),
        "6": ("skipped", "in the bin", ""),
        "7": ("skipped", "an automatic draft", ""),
        "8": ("written", "", "published"),
        "9": ("written", "", "draft"),
        "10": ("skipped", "a menu item", ""),
        "11": ("skipped", "post type 'product' is not imported", ""),
        "12": ("skipped", "post type 'revision' is not imported", ""),
        "13": ("skipped", "an attachment: its picture is copied where used", ""),
        "14": ("written", "", "draft"),
        "15": ("written", "", "published"),
    }
    content = tmp_path / "content"
    data, _ = front(content / "posts/2019-03-04-post-1.md")
    assert "status" not in data
    scheduled, _ = front(content / "posts/2030-01-02-post-2.md")
    assert dt.datetime.fromisoformat(scheduled["date"]) == dt.datetime(
        2030, 1, 2, 9, 0, tzinfo=dt.UTC
    )
    assert "status" not in scheduled
    assert "scheduled: published on its date" in report.item("2").notes
    for number in (3, 4, 5):
        assert front(content / f"posts/2019-03-04-post-{number}.md")[0]["status"] == (
            "draft"
        )
    assert not list(content.glob("posts/*post-6.md"))
    assert not list(content.glob("posts/*post-7.md"))
    protected, _ = front(content / "posts/2019-03-04-post-14.md")
    assert protected["status"] == "draft"
    assert "secret" not in str(protected)
    assert "protected by a password: written as a draft" in report.item("14").notes
    assert front(content / "posts/2019-03-04-post-15.md")[0]["comments"] == "closed"
    assert "comments" not in data
    page, _ = front(content / "pages/old-page.md")
    assert set(page) <= set(SCHEMAS["page"])
    assert front(content / "pages/draft-page.md")[0]["status"] == "draft"


def test_dates_are_in_the_site_zone_and_modified_is_kept(tmp_path):
    items = [
        # Summer: 10:00 GMT is 11:00 in London.
        post(
            1,
            post_date_gmt="2019-07-01 10:00:00",
            post_modified_gmt="2019-07-02 08:30:00",
        ),
        # No GMT date (a draft's zero date): the local date, in the site's zone.
        post(
            2,
            post_date_gmt="0000-00-00 00:00:00",
            post_date="2019-07-01 09:15:00",
            post_modified_gmt="0000-00-00 00:00:00",
            post_modified="",
        ),
    ]
    run(tmp_path, items)
    content = tmp_path / "content"
    first, _ = front(content / "posts/2019-07-01-post-1.md")
    assert first["date"] == "2019-07-01T11:00:00+01:00"
    assert first["modified"] == "2019-07-02T09:30:00+01:00"
    second, _ = front(content / "posts/2019-07-01-post-2.md")
    assert second["date"] == "2019-07-01T09:15:00+01:00"
    assert "modified" not in second


# -- feed ids and old addresses


def test_feed_ids_are_the_guids_and_old_addresses_are_listed(tmp_path):
    items = [
        post(21, post_name="new-name", meta={"_wp_old_slug": ["old-name", "older"]}),
        post(22, link=f"{BASE}/?p=22"),
        # The same guid and link again: the first keeps them.
        post(23, guid=f"{BASE}/?p=21", link=f"{BASE}/2019/03/new-name/"),
        post(24, status="draft"),
        post(25, post_type="page", post_name="about-us", link=f"{BASE}/about-us/"),
    ]
    report = run(tmp_path, items)
    content = tmp_path / "content"
    assert report.item("21").feed_id == f"{BASE}/?p=21"
    assert report.item("21").redirects == [
        "/2019/03/new-name/",
        "/?p=21",
        "/2019/03/old-name/",
        "/2019/03/older/",
    ]
    assert report.item("22").redirects == ["/?p=22"]
    assert report.item("23").feed_id == ""
    assert report.item("23").redirects == ["/?p=23"]
    assert f"feed id {BASE}/?p=21 is another item's too: not kept" in (
        report.item("23").notes
    )
    # A draft has no public address to lead to.
    assert report.item("24").redirects == []
    # The page keeps its address (/about-us/ here too): only the other forms.
    assert report.item("25").redirects == ["/?p=25", "/?page_id=25"]
    data, _ = front(content / "posts/2019-03-04-new-name.md")
    assert data["id"] == f"{BASE}/?p=21"
    assert "id" not in front(content / "posts/2019-03-04-post-23.md")[0]
    if REDIRECT_FIELD in SCHEMAS["post"]:
        assert data[REDIRECT_FIELD] == report.item("21").redirects
    else:
        assert REDIRECT_FIELD not in data


def test_an_old_slug_without_a_slug_in_the_permalink_is_reported():
    item = read_one(post(31, link=f"{BASE}/?p=31", meta={"_wp_old_slug": "gone"}))
    paths, notes = old_addresses(item, "post")
    assert paths == ["/?p=31"]
    assert notes and "gone" in notes[0]


def read_one(values):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = wxrkit.write(Path(folder) / "one.xml", [values])
        return next(r for r in read_export(path) if hasattr(r, "post_type"))


# -- comments


def test_every_comment_state_and_type_is_counted_and_only_approved_published(
    tmp_path,
):
    comments = [
        comment(1),
        comment(2, comment_approved="0"),
        comment(3, comment_approved="spam"),
        comment(4, comment_approved="trash"),
        comment(5, comment_approved="post-trashed"),
        comment(6, comment_type="pingback"),
        comment(7, comment_type="trackback"),
        comment(8, comment_type=""),  # WordPress before 5.5: a comment
        comment(9, comment_type="review"),
        comment(10, comment_author_url="https://reader.example/me"),
        comment(11, comment_author_url="javascript:alert(1)"),
    ]
    report = run(tmp_path, [post(41, comments=comments)])
    assert dict(report.comments) == {
        "published": 4,
        "not published: pending": 1,
        "not published: spam": 1,
        "not published: trash": 2,
        "not published: pingback (approved)": 1,
        "not published: trackback (approved)": 1,
        "not published: type 'review'": 1,
        "website left out (not an http(s) address)": 1,
    }
    content = tmp_path / "content"
    written = comments_of(content, "post-41")
    assert sorted(written) == [
        "20190306-120100-wp1",
        "20190306-120800-wp8",
        "20190306-121000-wp10",
        "20190306-121100-wp11",
    ]
    assert written["20190306-121000-wp10"]["website"] == "https://reader.example/me"
    assert "website" not in written["20190306-121100-wp11"]
    text = "".join(
        p.read_text(encoding="utf-8")
        for p in (content / "comments").rglob("*")
        if p.is_file()
    )
    for private in ("@mail.example", "203.0.113.9", "Secret Agent", "secret-meta"):
        assert private not in text
    assert set(report.item("41").comments) == set(written)


def test_a_thread_ten_deep_is_capped_at_the_sites_depth(tmp_path):
    chain = [comment(1)] + [comment(n, comment_parent=str(n - 1)) for n in range(2, 11)]
    run(tmp_path, [post(51, comments=chain)])
    content = tmp_path / "content"
    written = comments_of(content, "post-51")
    by_number = {int(k.rsplit("wp", 1)[1]): v for k, v in written.items()}
    parent_of = {
        n: int(v["reply_to"].rsplit("wp", 1)[1]) if "reply_to" in v else None
        for n, v in by_number.items()
    }
    assert SITE.max_depth == 3
    # 1 is at the top; 2, 3 and 4 one level deeper each; every deeper reply
    # answers 3, the deepest comment a reply may answer (depth 2), so that
    # it sits at the last level allowed.
    assert parent_of == {1: None, 2: 1, 3: 2, 4: 3, 5: 3, 6: 3, 7: 3, 8: 3, 9: 3, 10: 3}
    output = tmp_path / "output"
    built_without_warnings(content, output)
    page = parse_html(next(output.glob("updates/2019/post-51/index.html")))
    texts = " ".join(" ".join(e.itertext()) for e in page.iter("article"))
    for number in range(1, 11):
        assert f"Comment number {number}." in texts


def test_a_comment_failing_the_checks_is_reported_and_its_replies_move_up(tmp_path):
    comments = [
        comment(1),
        comment(2, comment_parent="1", comment_content="x\u202eevil"),
        comment(3, comment_parent="2"),
        comment(4, comment_approved="spam"),
        comment(5, comment_parent="4"),
    ]
    report = run(tmp_path, [post(61, comments=comments)])
    written = comments_of(tmp_path / "content", "post-61")
    assert sorted(written) == [
        "20190306-120100-wp1",
        "20190306-120300-wp3",
        "20190306-120500-wp5",
    ]
    assert written["20190306-120300-wp3"]["reply_to"] == "20190306-120100-wp1"
    assert "reply_to" not in written["20190306-120500-wp5"]
    assert report.comments["not published: refused by the comment checks"] == 1
    assert "comment 2 on post-61" in report.comment_problems[0]
    assert "reverse the direction" in report.comment_problems[0]


# -- bodies


def test_shortcodes_and_block_comments_become_markdown(tmp_path):
    body = (
        "<!-- wp:paragraph -->\nFirst paragraph\nstill first.\n\nSecond paragraph."
        "\n<!-- /wp:paragraph -->\n"
        '[caption id="a1" caption="A caption"]<img src="https://elsewhere.example/'
        'a.png" alt="A thing">[/caption]\n\n'
        '[gallery ids="71,72,99"]\n\n'
        "[embed]https://video.example/watch?v=1[/embed]\n\n"
        '[audio mp3="https://media.example/talk.mp3"]\n\n'
        '[video src="https://media.example/film.mp4"][/video]\n\n'
        '[contact-form to="x"]\n\n'
        "<script>alert(1)</script>&lt;b&gt;not bold&lt;/b&gt;"
    )
    items = [
        post(70, content=body),
        attachment(71, "2019/03/one.jpg", alt="One"),
        attachment(72, "2019/03/two.jpg", alt="Two"),
    ]
    report = run(tmp_path, items)
    _, text = front(tmp_path / "content/posts/2019-03-04-post-70.md")
    assert "wp:paragraph" not in text
    assert "First paragraph\nstill first.\n\nSecond paragraph." in text
    assert "[A thing](https://elsewhere.example/a.png)\n\n*A caption*" in text
    assert "[One](https://old.example.org/wp-content/uploads/2019/03/one.jpg)" in text
    assert "](https://video.example/watch?v=1)" in text
    assert "[Listen](https://media.example/talk.mp3)" in text
    assert "[Watch](https://media.example/film.mp4)" in text
    assert "alert" not in text
    assert "\\<b\\>not bold\\</b\\>" in text
    notes = report.item("70").notes
    assert "shortcode [caption]: a picture with its caption" in notes
    assert any("[gallery]: 1 of 3 pictures not in the export" in n for n in notes)
    assert "shortcode [contact-form]: unknown, left as text" in notes


def png(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), (200, 30, 30)).save(path)


def test_pictures_are_copied_relinked_and_the_featured_image_has_its_alt(tmp_path):
    uploads = tmp_path / "uploads"
    png(uploads / "2019/03/Photo Été.png")
    png(uploads / "2019/03/inline.png")
    body = (
        f'<p><img src="{BASE}/wp-content/uploads/2019/03/inline-300x200.png" '
        'alt="Inline"></p>'
        '<p><img src="/wp-content/uploads/2019/03/missing.png" alt="Gone"></p>'
        f'<p><img src="{BASE}/wp-content/uploads/../../secret.png" alt="x"></p>'
    )
    items = [
        attachment(80, "2019/03/Photo Été.png", alt="A red square"),
        post(81, content=body, meta={"_thumbnail_id": "80"}),
        post(82, meta={"_thumbnail_id": "999"}),
    ]
    report = run(tmp_path, items, uploads=uploads)
    content = tmp_path / "content"
    data, text = front(content / "posts/2019-03-04-post-81.md")
    assert data["image"] == {
        "src": "images/wordpress/2019/03/photo-ete.png",
        "alt": "A red square",
    }
    assert (content / "images/wordpress/2019/03/photo-ete.png").read_bytes() == (
        (uploads / "2019/03/Photo Été.png").read_bytes()
    )
    assert "![Inline]({static}/images/wordpress/2019/03/inline.png)" in text
    assert f"[Gone]({BASE}/wp-content/uploads/2019/03/missing.png)" in text
    assert report.missing_pictures == [
        f"{BASE}/wp-content/uploads/2019/03/missing.png",
        f"{BASE}/wp-content/uploads/../../secret.png",
    ]
    assert report.pictures_copied == 2
    assert "featured image 999 is not in the export" in report.item("82").notes
    # A picture not found stays a link to its old address, which the site's
    # link check names (here the site keeps the old one's address, as a Lab
    # that moves its domain over does) until the picture is brought in.
    page = "links-resolve: updates/2019/post-81/index.html"
    built_without_warnings(
        content,
        tmp_path / "output",
        problems=(
            f"{page}: <a href='{BASE}/wp-content/uploads/2019/03/missing.png'>: "
            "no file wp-content/uploads/2019/03/missing.png",
            f"{page}: <a href='{BASE}/wp-content/uploads/../../secret.png'>: "
            "no file wp-content/uploads/../../secret.png",
        ),
    )


# -- namespaces, people, categories, text


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_every_wxr_version_over_http_and_https(tmp_path, version, scheme):
    report = run(
        tmp_path,
        [post(91, comments=[comment(1)]), post(92, post_type="page")],
        version=version,
        scheme=scheme,
    )
    assert [(i.post_id, i.outcome) for i in report.items] == [
        ("91", "written"),
        ("92", "written"),
    ]
    assert report.comments["published"] == 1
    data, _ = front(tmp_path / "content/posts/2019-03-04-post-91.md")
    assert data["authors"] == ["jbloggs"]


def test_non_ascii_in_every_field(tmp_path):
    items = [
        post(
            101,
            title="Café & crème: 日本語のタイトル",
            post_name="%e6%97%a5%e6%9c%ac%e8%aa%9e-caf%c3%a9",
            link=f"{BASE}/2019/03/%e6%97%a5%e6%9c%ac%e8%aa%9e-caf%c3%a9/",
            creator="zoë",
            content="<p>Ünïcödé body — «quoted» 日本語.</p>",
            excerpt="Résumé en français.",
            terms=[("category", "etudes", "Études"), ("post_tag", "sante", "Santé")],
            meta={"_wp_old_slug": "%c3%a9t%c3%a9"},
            comments=[
                comment(
                    1, comment_author="Zoë Ødegård", comment_content="Très bien — 好的"
                )
            ],
        )
    ]
    report = run(tmp_path, items, authors=[("zoë", "Zoë Ødegård")])
    content = tmp_path / "content"
    entry = report.item("101")
    assert entry.slug == "ri-ben-yu-cafe"
    data, body = front(content / f"posts/2019-03-04-{entry.slug}.md")
    assert data["title"] == "Café & crème: 日本語のタイトル"
    assert data["summary"] == "Résumé en français."
    assert data["category"] == "Research"
    assert data["challenge"] == "fixture-challenge"
    assert data["tags"] == ["Santé"]
    assert data["authors"] == ["zoe"]
    assert "Ünïcödé body — «quoted» 日本語." in body
    assert "/2019/03/%C3%A9t%C3%A9/" in entry.redirects
    authors = yaml.safe_load((content / "authors.yaml").read_text(encoding="utf-8"))
    assert authors["zoe"]["name"] == "Zoë Ødegård"
    assert "email" not in authors["zoe"]
    (written,) = comments_of(content, entry.slug).values()
    assert written["name"] == "Zoë Ødegård"
    assert written["body"] == "Très bien — 好的"
    built_without_warnings(content, tmp_path / "output")


def test_authors_are_added_without_touching_the_existing_ones(tmp_path):
    content = copy_site(tmp_path)
    before = (content / "authors.yaml").read_text(encoding="utf-8")
    existing = next(iter(yaml.safe_load(before)))
    items = [post(111, creator=existing), post(112, creator="NewPerson")]
    report = run(
        tmp_path,
        items,
        authors=[(existing, "Someone Else"), ("NewPerson", "New Person")],
    )
    after = (content / "authors.yaml").read_text(encoding="utf-8")
    assert after.startswith(before)
    assert yaml.safe_load(after)[existing] == yaml.safe_load(before)[existing]
    assert yaml.safe_load(after)["newperson"]["name"] == "New Person"
    assert report.authors_added == ["newperson"]
    assert report.authors_existing == [existing]


def test_an_unmapped_category_stops_the_import_with_a_list(tmp_path):
    content = copy_site(tmp_path)
    before = snapshot(tmp_path)
    items = [
        post(121, terms=[("category", "misc", "Misc")]),
        post(122, terms=[("category", "misc", "Misc"), ("category", "x", "Other")]),
        post(123, status="trash", terms=[("category", "bin", "Binned")]),
    ]
    with pytest.raises(ImportStopped) as stopped:
        run(tmp_path, items)
    assert stopped.value.lines[1:] == ["  Misc (2 posts)", "  Other (1 posts)"]
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k.startswith("content/")} == {
        k: v for k, v in before.items() if k.startswith("content/")
    }
    report = run(tmp_path, items, default="Learning")
    assert front(content / "posts/2019-03-04-post-121.md")[0]["category"] == "Learning"
    assert report.item("123").outcome == "skipped"


# -- safety


def test_a_malformed_file_is_reported_with_its_line_and_nothing_is_written(
    tmp_path,
):
    content = copy_site(tmp_path)
    before = snapshot(content)
    export = wxrkit.export([post(131), post(132)]).decode()
    broken = export.replace("<title>Post 132</title>", "<title>Post 132</titel>")
    line = next(n for n, t in enumerate(broken.splitlines(), 1) if "</titel>" in t)
    (tmp_path / "bad.xml").write_text(broken, encoding="utf-8")
    options = Options(tmp_path / "bad.xml", content, None, None, "Learning")
    with pytest.raises(ImportStopped) as stopped:
        import_wordpress(options, SITE)
    assert f"line {line}:" in str(stopped.value)
    assert "not well-formed" in str(stopped.value)
    assert snapshot(content) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xml", "content"]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
{levels}
 <!ENTITY x SYSTEM "file:///etc/passwd">
]>
<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel>
<item><title>&e9;&x;</title><wp:post_type>post</wp:post_type></item>
</channel></rss>
"""


def test_a_billion_laughs_file_is_refused_in_bounded_time(tmp_path):
    levels = "\n".join(
        f' <!ENTITY e{n} "' + f"&{'a' if n == 1 else f'e{n - 1}'};" * 10 + '">'
        for n in range(1, 10)
    )
    path = tmp_path / "laughs.xml"
    path.write_text(BILLION_LAUGHS.format(levels=levels), encoding="utf-8")
    content = copy_site(tmp_path)
    before = snapshot(content)
    started = time.monotonic()
    with pytest.raises(ImportStopped) as stopped:
        import_wordpress(Options(path, content, None, None, "Learning"), SITE)
    assert time.monotonic() - started < 5
    assert "declares a DTD" in str(stopped.value)
    assert snapshot(content) == before


def test_a_file_that_is_not_a_wordpress_export_is_refused(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text("<rss><channel><item><title>x</title></item></channel></rss>")
    with pytest.raises(ImportStopped, match="not a WordPress export"):
        import_wordpress(
            Options(path, copy_site(tmp_path), None, None, "Learning"), SITE
        )


def test_running_twice_changes_nothing_and_edits_are_kept_unless_forced(tmp_path):
    items = [post(141, comments=[comment(1)]), post(142)]
    first = run(tmp_path, items)
    content = tmp_path / "content"
    assert first.files["written"] == 3
    after_first = snapshot(content)
    second = run(tmp_path, items)
    assert dict(second.files) == {"unchanged": 3}
    assert snapshot(content) == after_first
    edited = content / "posts/2019-03-04-post-141.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nAn edit.\n")
    changed = [
        post(141, title="Changed title", comments=[comment(1)]),
        post(142, title="Also changed"),
    ]
    third = run(tmp_path, changed)
    assert third.kept_files == ["posts/2019-03-04-post-141.md"]
    assert edited.read_text(encoding="utf-8").endswith("An edit.\n")
    # Not edited since the import: the export's change is taken.
    assert front(content / "posts/2019-03-04-post-142.md")[0]["title"] == (
        "Also changed"
    )
    # Still edited: still kept on the next run.
    assert run(tmp_path, changed).kept_files == ["posts/2019-03-04-post-141.md"]
    forced = run(tmp_path, changed, force=True)
    assert forced.files["replaced"] == 1
    assert front(edited)[0]["title"] == "Changed title"
    record = yaml.safe_load((content / RECORD_FILE).read_text(encoding="utf-8"))
    assert set(record["files"]) == {
        "posts/2019-03-04-post-141.md",
        "posts/2019-03-04-post-142.md",
        "comments/post-141/20190306-120100-wp1.yaml",
    }


def test_slugs_are_unique_against_the_site_and_each_other(tmp_path):
    content = copy_site(tmp_path)
    taken = (
        front(next((content / "posts").glob("*.md")))[0].get("slug")
        or (next((content / "posts").glob("*.md")).stem[11:])
    )
    items = [
        post(151, post_name=taken),
        post(152, post_name=taken),
        post(153, post_type="page", post_name="about"),
        post(154, post_type="page", post_name="updates"),
    ]
    report = run(tmp_path, items)
    assert report.item("151").slug == f"{taken}-2"
    assert report.item("152").slug == f"{taken}-3"
    assert report.item("153").slug == "about-2"
    assert report.item("154").slug == "updates-2"


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("%e6%97%a5%e6%9c%ac", "ri-ben"),
        ("Ça va? Oui!", "ca-va-oui"),
        ("---", ""),
        ("a" * 100, "a" * 80),
    ],
)
def test_make_slug(text, slug):
    assert make_slug(text) == slug


# -- a whole site


def test_a_rich_export_imports_and_builds_with_no_warning(tmp_path):
    uploads = tmp_path / "uploads"
    png(uploads / "2019/03/feature.png")
    items = [
        attachment(160, "2019/03/feature.png", alt="Feature"),
        post(
            161,
            meta={"_thumbnail_id": "160"},
            excerpt="<p>Short <b>one</b>.</p>",
            terms=[("category", "news", "News"), ("post_tag", "t", "A tag")],
            comments=[comment(1), comment(2, comment_parent="1")],
        ),
        post(162, status="draft", comments=[comment(3)]),
        post(163, post_type="page", post_name="history", content="<h2>Then</h2>"),
        post(164, status="future", post_date_gmt="2031-05-01 08:00:00"),
    ]
    run(tmp_path, items, uploads=uploads)
    content = tmp_path / "content"
    output = tmp_path / "output"
    built_without_warnings(content, output)
    assert (output / "history/index.html").exists()
    assert not list(output.glob("updates/2031/*"))
    atom = "{http://www.w3.org/2005/Atom}"
    feed = etree.parse(str(output / "feeds/all.atom.xml"))
    ids = {
        entry.find(f"{atom}link").get("href"): entry.findtext(f"{atom}id")
        for entry in feed.iter(f"{atom}entry")
    }
    assert ids[f"{BASE}/updates/2019/post-161/"] == f"{BASE}/?p=161"


def test_pelicans_own_test_export_imports_and_builds_with_no_warning(tmp_path):
    content = copy_site(tmp_path)
    options = Options(PELICAN_EXPORT, content, None, None, "Learning")
    report = import_wordpress(options, SITE)
    assert report.counts()["post written"] == 11
    assert report.comments["published"] == 3
    built_without_warnings(content, tmp_path / "output")


def test_the_command_takes_its_values_from_the_environment(tmp_path):
    """As make import-wordpress runs it: FILE= and DEFAULT_CATEGORY= arrive
    as LAB_IMPORT_* variables, never on a command line."""
    content = copy_site(tmp_path)
    export = wxrkit.write(tmp_path / "export.xml", [post(171)])
    command = [sys.executable, "-m", "lab_import.wordpress", "--settings",
               str(ROOT / "pelicanconf.py"), "--content", str(content)]  # fmt: skip
    results = []
    for category in ("Ideas", "Not a category"):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "plugins"),
            "LAB_IMPORT_FILE": str(export),
            "LAB_IMPORT_DEFAULT_CATEGORY": category,
        }
        results.append(
            subprocess.run(
                command,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        )
    good, bad = results
    assert good.returncode == 0, good.stderr
    assert "[171] post 'Post 171': written" in good.stdout
    assert front(content / "posts/2019-03-04-post-171.md")[0]["category"] == "Ideas"
    assert bad.returncode == 1
    assert "nothing was written" in bad.stderr
    assert "'Not a category' is not a category of this site" in bad.stderr
    report = (tmp_path / "wordpress-import-report.txt").read_text(encoding="utf-8")
    assert report in bad.stderr


def test_staged_files_move_into_place_whole_folders_or_one_by_one(tmp_path):
    content = copy_site(tmp_path)
    stage = Stage(content)
    files = {
        "a/0.md": b"zero",
        "a/b/c/1.md": b"one",
        "comments/new-post/1.yaml": b"new",
        "posts/2019-01-01-x.md": b"x",
    }
    for relative, data in files.items():
        stage.write(relative, data)
    stage.move(sorted(files), content)
    stage.discard()
    for relative, data in files.items():
        assert (content / relative).read_bytes() == data
    assert not stage.root.exists()


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title><link>https://lab.example.org/</link>
<description>d</description><item><title>a</title>
<link>https://lab.example.org/updates/2019/a/</link>{guid}
<pubDate>Mon, 04 Mar 2019 10:00:00 +0000</pubDate><description>x</description>
</item></channel></rss>"""


@pytest.mark.parametrize(
    ("guid", "problem"),
    [
        # WordPress's guid kept as the feed id: an address, not a permalink.
        ('<guid isPermaLink="false">https://old.example.org/?p=1</guid>', False),
        ("<guid>https://lab.example.org/updates/2019/a/</guid>", False),
        ('<guid isPermaLink="false">tag:lab.example.org,2025:a</guid>', False),
        ("<guid>tag:lab.example.org,2025:a</guid>", True),
        (
            '<guid isPermaLink="false">https://lab.example.org/updates/2019/a/</guid>',
            True,
        ),
    ],
)
def test_the_feed_check_takes_an_imported_guid(tmp_path, guid, problem):
    from feedcheck import check_rss

    path = tmp_path / "feed.rss.xml"
    path.write_text(RSS.format(guid=guid), encoding="utf-8")
    problems = [p for p in check_rss(path) if "guid" in p]
    assert bool(problems) is problem, problems


def test_make_import_wordpress_never_lets_the_shell_read_its_values(
    tmp_path, make_repo
):
    # Each would create `marker` in the folder make runs in, if a shell or
    # make read it.
    folder = tmp_path / "x'$(touch marker)'`touch marker`"
    folder.mkdir()
    export = wxrkit.write(folder / "export.xml", [post(181)])
    repo, make = make_repo(FIXTURES / "site")
    done = make(
        "import-wordpress", f"FILE={export}", "DEFAULT_CATEGORY=$(shell touch marker)"
    )
    assert done.returncode == 2, done.stdout + done.stderr  # make's own code
    assert "'$(shell touch marker)' is not a category of this site" in done.stderr
    assert not (repo / "marker").exists()
    done = make("import-wordpress", f"FILE={export}", "DEFAULT_CATEGORY=Ideas")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "content/posts/2019-03-04-post-181.md").exists()
    assert (repo / "wordpress-import-report.txt").exists()
    assert not (repo / "marker").exists()


@pytest.mark.parametrize(
    "body", ["[video src=x] " * 5000, "[caption] " * 5000, "[x] [/y] " * 5000]
)
def test_shortcodes_take_linear_time(body):
    from lab_import.convert import html_to_markdown

    started = time.monotonic()
    html_to_markdown(body)
    assert time.monotonic() - started < 5


def test_a_body_with_an_h1_has_its_headings_moved_down_a_level():
    """The page's title is its one h1: a body that has an h1 of its own
    (WordPress's classic editor allows one) has every heading moved down,
    and the report says so; a body without an h1 keeps its headings."""
    from lab_import.convert import html_to_markdown

    notes: list[str] = []
    body = "<h1>Big</h1><p>Text.</p><h2>Part</h2><h6>Small</h6>"
    markdown = html_to_markdown(body, notes=notes)
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == ["## Big", "### Part", "###### Small"]
    assert any(note.startswith("headings: moved down") for note in notes)
    notes.clear()
    markdown = html_to_markdown("<h2>Part</h2><p>Text.</p>", notes=notes)
    assert [line for line in markdown.splitlines() if line.startswith("#")] == [
        "## Part"
    ]
    assert notes == []
