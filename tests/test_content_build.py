"""Small fixture sites built with the real config: what gets published when,
what structured fields look like on the page, and what a broken file does."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import (
    FIXTURES,
    ROOT,
    SAMPLE,
    SAMPLE_SITEURL_DEV,
    build,
    html_files,
    parse_html,
)
from sitecheck import broken_references

from lab_content.generator import ContentValidationError
from lab_content.reader import LabMarkdownReader

FIXTURE_SITE = FIXTURES / "site"
UTC = dt.UTC


def built_titles(output: Path) -> set[str]:
    return {
        " ".join("".join(h1.itertext()).split())
        for page in html_files(output)
        for h1 in parse_html(page).iter("h1")
    }


def test_future_posts_wait_for_their_day_and_drafts_never_come(tmp_path):
    before = build(
        "pelicanconf.py",
        tmp_path / "before",
        path=FIXTURE_SITE,
        LAB_TODAY=dt.datetime(2025, 11, 30, 23, 59, tzinfo=UTC),
    )
    assert before.messages() == []
    titles = built_titles(tmp_path / "before")
    assert "A published post" in titles
    assert "A post from the future" not in titles
    assert "A draft post" not in titles

    build(
        "pelicanconf.py",
        tmp_path / "after",
        path=FIXTURE_SITE,
        LAB_TODAY=dt.datetime(2025, 12, 1, 9, 0, tzinfo=UTC),
    )
    titles = built_titles(tmp_path / "after")
    assert "A post from the future" in titles
    assert "A draft post" not in titles


def test_the_reader_keeps_nested_front_matter_intact():
    settings = read_fixture_settings()
    reader = LabMarkdownReader(settings)
    _, challenge = reader.read(str(FIXTURE_SITE / "challenges/fixture-challenge.md"))
    assert challenge["phases"][1] == {
        "name": "Generating ideas",
        "slug": "ideas",
        "summary": "Making ideas.",
        "starts": dt.date(2025, 8, 1),
        "ends": dt.date(2025, 10, 31),
    }
    assert challenge["team"] == ["ada-lane", "ben-cole", "cara-diaz"]
    assert challenge["image"] == {"src": "images/none.svg", "alt": "A placeholder"}
    _, call = reader.read(str(FIXTURE_SITE / "get-involved/fixture-call.md"))
    assert call["commitments"][1] == {"amount": 10, "unit": "days", "period": "year"}
    assert call["respond"]["event"]["starts"] == dt.datetime(
        2025, 11, 10, 10, tzinfo=UTC
    )
    _, post = reader.read(str(FIXTURE_SITE / "posts/2025-05-01-published.md"))
    assert [a.name for a in post["authors"]] == ["Ada Lane", "Ben Cole"]
    assert [a.slug for a in post["authors"]] == ["ada-lane", "ben-cole"]
    assert "lab_errors" not in post


def read_fixture_settings():
    from pelican.settings import read_settings

    settings = read_settings(
        str(ROOT / "pelicanconf.py"), override={"PATH": str(FIXTURE_SITE)}
    )
    from lab_content.settings import lab_settings

    return {**lab_settings(settings), **settings}


def test_structured_fields_reach_the_page(tmp_path):
    build(
        "pelicanconf.py",
        tmp_path,
        path=FIXTURE_SITE,
        SITEURL=SAMPLE_SITEURL_DEV,
        LAB_TODAY=dt.datetime(2025, 9, 20, tzinfo=UTC),
    )
    challenge = parse_html(tmp_path / "challenges/fixture-challenge/index.html")
    steps = [li for ol in challenge.iter("ol") for li in ol.findall("li")]
    text = [" ".join("".join(li.itertext()).split()) for li in steps]
    assert any("Research and discovery" in t and "14 April 2025" in t for t in text)
    current = [li for li in steps if li.get("aria-current") == "step"]
    assert len(current) == 1 and "Generating ideas" in "".join(current[0].itertext())
    call = parse_html(tmp_path / "get-involved/fixture-call/index.html")
    words = " ".join("".join(call.iter("main").__next__().itertext()).split())
    assert "10 minutes a week or 10 days a year" in words
    assert "Fixture day" in words
    ics = (tmp_path / "get-involved/fixture-call/fixture-call.ics").read_bytes()
    assert b"DTEND:20251031T170000Z\r\n" in ics
    assert ics.startswith(b"BEGIN:VCALENDAR\r\n") and ics.endswith(b"END:VCALENDAR\r\n")
    # Everyone on the team has a page, posts or not, and every link resolves.
    assert (tmp_path / "authors/cara-diaz/index.html").is_file()
    assert broken_references(tmp_path, SAMPLE_SITEURL_DEV) == []


BROKEN = {
    "posts/2025-05-01-published.md": (
        "---\ntitle: Broken\ndate: 2025-05-01T10:00:00\nauthors: [nobody]\n"
        "category: Research\nsummary: S.\nchallenge: no-such\ncolour: red\n---\nText\n",
        [
            "posts/2025-05-01-published.md: date: 2025-05-01T10:00:00 has no time zone",
            "posts/2025-05-01-published.md: authors: unknown author key 'nobody'",
            "posts/2025-05-01-published.md: colour: unknown field for a post",
            "posts/2025-05-01-published.md: challenge: unknown challenge 'no-such'",
        ],
    ),
    "pages/about.md": (
        "---\ntitle: About\ntitle: Again\n---\nText\n",
        [
            "pages/about.md: title: given twice (lines 2 and 3)",
            "pages/about.md: summary: is required",
        ],
    ),
    "challenges/fixture-challenge.md": (
        "---\ntitle: Q?\nslug: fixture-challenge\nsummary: S\ntheme: T\n"
        "team: [ada-lane, nobody]\n"
        "phases:\n  - {name: A, summary: s, starts: 2025-04-14, ends: 2025-07-31}\n"
        "  - {name: B, summary: s, starts: 2025-07-01, ends: 2025-10-31}\n---\nBody\n",
        [
            "challenges/fixture-challenge.md: phases[1].starts: 2025-07-01 overlaps or "
            "comes before the previous phase, which ends 2025-07-31",
            "challenges/fixture-challenge.md: team: unknown author key 'nobody'",
        ],
    ),
    "get-involved/fixture-call.md": (
        "---\ntitle: T\nslug: fixture-call\nsummary: S\nchallenge: fixture-challenge\n"
        "opens: 2025-09-01T09:00:00+01:00\ncloses: 2025-08-01T09:00:00+01:00\n"
        "commitments: [{amount: 10, unit: minutes, period: week}]\naudience: All\n"
        "respond: {method: email, contact: lab@example.org}\n---\nBody\n",
        ["get-involved/fixture-call.md: closes: must be after opens"],
    ),
    # PyYAML raised a bare ValueError for this date: a traceback naming no
    # file, hiding the other mistakes of the file.
    "posts/2025-11-20-impossible.md": (
        "---\ntitle: T\ntitle: U\ndate: 2026-02-30T10:00:00+00:00\n"
        "authors: [ada-lane]\ncategory: Research\nsummary:\n---\nText\n",
        [
            "posts/2025-11-20-impossible.md: title: given twice (lines 2 and 3)",
            "posts/2025-11-20-impossible.md: date: '2026-02-30T10:00:00+00:00' is "
            "not a real date-time: day is out of range for month",
            "posts/2025-11-20-impossible.md: summary: is empty: give it a value or "
            "remove the line",
        ],
    ),
    "authors.yaml": (
        "ada-lane: {name: Ada Lane, role: Lead, bio: B, twitter: Ada Lane}\n"
        "ben-cole: {name: Ben Cole, role: R, bio: B}\n",
        ["authors.yaml: ada-lane.twitter: 'Ada Lane' is not a handle"],
    ),
}


def test_every_broken_file_is_reported_at_once_and_nothing_is_written(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    for name, (text, _) in BROKEN.items():
        (content / name).write_text(text, encoding="utf-8")
    output = tmp_path / "output"
    with pytest.raises(ContentValidationError) as caught:
        build("pelicanconf.py", output, path=content)
    message = str(caught.value)
    for _, expected in BROKEN.values():
        for line in expected:
            assert line in message, message
    assert not output.exists() or not any(output.rglob("*.html"))


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("target", ["html", "publish"])
def test_make_keeps_the_last_good_site_when_a_build_fails(make_repo, target):
    """Through the Makefile, as a writer would, on a copy of the real site: a
    good build, then one broken file of each kind; the second build fails
    naming every problem, and output/ is exactly as the good build left it."""
    repo, make = make_repo(SAMPLE)
    good = make(target)
    assert good.returncode == 0, good.stdout + good.stderr
    before = tree_digest(repo / "output")
    assert (repo / "output/index.html").is_file()

    for name, (text, _) in BROKEN.items():
        path = repo / "content" / name
        if name == "authors.yaml":
            # New, broken entries beside the real ones.
            text = path.read_text(encoding="utf-8") + "\n" + text
        path.write_text(text, encoding="utf-8")
    bad = make(target)
    assert bad.returncode != 0
    assert "Traceback" not in bad.stdout + bad.stderr
    said = " ".join((bad.stdout + bad.stderr).split())
    for _, expected in BROKEN.values():
        for line in expected:
            assert line in said, said
    assert tree_digest(repo / "output") == before
    # Nothing half-built is left behind either.
    assert not (repo / ".build").exists()
