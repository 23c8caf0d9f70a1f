"""Every front-matter mistake named once, as `path: field: reason`.

A corpus of broken files, each with the exact lines a writer sees. Most are
read by the reader alone (what one file says of itself); those whose problem
needs the rest of the site (authors, challenges, links) build a small fixture
site and compare the build's whole list of problems.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, build, html_files
from pelican.settings import read_settings

from lab_content.generator import ContentValidationError
from lab_content.reader import LabMarkdownReader
from lab_content.settings import lab_settings

FIXTURE_SITE = FIXTURES / "site"
POST = "posts/2025-05-01-case.md"
POST_FIELDS = (
    "title: T\n"
    "date: 2025-05-01T10:00:00+01:00\n"
    "authors: [ada-lane]\n"
    "category: Research\n"
    "summary: S.\n"
)
KNOWN_POST_FIELDS = (
    "title, date, modified, authors, category, tags, summary, challenge, phase, "
    "image, social, slug, status, id, comments, reviewed, review_every, "
    "next_review, owner, changes, redirect_from"
)
CHALLENGE = "challenges/case.md"
CALL = "get-involved/case.md"


def post(extra: str = "", drop: tuple[str, ...] = ()) -> str:
    """A valid post, less the fields in `drop`, plus the lines in `extra`."""
    kept = [
        line
        for line in POST_FIELDS.splitlines(keepends=True)
        if line.split(":")[0] not in drop
    ]
    return "---\n" + "".join(kept) + extra + "---\nText.\n"


def challenge(phases: str) -> str:
    return (
        "---\ntitle: T\nsummary: S\ntheme: X\nteam: [ada-lane]\nphases:\n"
        + phases
        + "---\nBody\n"
    )


def call(opens: str, commitments: str, respond: str) -> str:
    return (
        f"---\ntitle: T\nsummary: S\nopens: {opens}\n"
        "closes: 2026-03-01T09:00:00+00:00\n"
        f"commitments: {commitments}\naudience: All\nrespond: {respond}\n"
        "---\nBody\n"
    )


WEEKLY = "[{amount: 1, unit: minutes, period: week}]"
EMAIL = "{method: email, contact: lab@example.org}"

# (path under content/, text, every line the reader reports for it)
CASES = [
    # -- impossible dates and times: PyYAML raised a bare ValueError for these
    pytest.param(
        POST,
        post("date: 2026-02-30T10:00:00+00:00\n", drop=("date",)),
        [
            "date: '2026-02-30T10:00:00+00:00' is not a real date-time: "
            "day is out of range for month"
        ],
        id="date-30-february",
    ),
    pytest.param(
        POST,
        post("modified: 2026-12-32\n"),
        ["modified: '2026-12-32' is not a real date: day is out of range for month"],
        id="date-32-december",
    ),
    pytest.param(
        POST,
        post("modified: 2026-01-01T25:00:00+00:00\n"),
        [
            "modified: '2026-01-01T25:00:00+00:00' is not a real date-time: "
            "hour must be in 0..23"
        ],
        id="hour-25",
    ),
    pytest.param(
        POST,
        post("modified: 2026-01-01T10:61:00+00:00\n"),
        [
            "modified: '2026-01-01T10:61:00+00:00' is not a real date-time: "
            "minute must be in 0..59"
        ],
        id="minute-61",
    ),
    pytest.param(
        POST,
        post("modified: 2026-13-01\n"),
        ["modified: '2026-13-01' is not a real date: month must be in 1..12"],
        id="month-13",
    ),
    pytest.param(
        POST,
        post("modified: 2026-02-29\n"),
        ["modified: '2026-02-29' is not a real date: day is out of range for month"],
        id="29-february-not-a-leap-year",
    ),
    pytest.param(
        POST,
        post("modified: 2026-01-01T10:00:00+27:00\n"),
        [
            "modified: '2026-01-01T10:00:00+27:00' is not a real date-time: "
            "its zone is 24 hours or more away"
        ],
        id="zone-27-hours",
    ),
    pytest.param(
        POST,
        post("date: 2025-05-01T10:00:00\n", drop=("date",)),
        ["date: 2025-05-01T10:00:00 has no time zone (add one, e.g. +00:00 or +01:00)"],
        id="date-time-without-zone",
    ),
    pytest.param(
        POST,
        post("modified: 10 April 2025\n"),
        [
            "modified: '10 April 2025' is not a date-time (write "
            "2026-09-01T09:00:00+01:00)"
        ],
        id="date-in-words",
    ),
    pytest.param(
        CHALLENGE,
        challenge("  - {name: A, summary: s, starts: 2025-04-14, ends: 2025-06-31}\n"),
        [
            "phases[0].ends: '2025-06-31' is not a real date: "
            "day is out of range for month"
        ],
        id="phase-ends-31-june",
    ),
    pytest.param(
        CALL,
        call("2026-02-30T09:00:00+00:00", WEEKLY, EMAIL),
        [
            "opens: '2026-02-30T09:00:00+00:00' is not a real date-time: "
            "day is out of range for month"
        ],
        id="call-opens-30-february",
    ),
    pytest.param(
        CALL,
        call(
            "2026-02-01T09:00:00+00:00",
            WEEKLY,
            "{method: event, contact: Ada, event: {name: D, "
            "starts: 2026-02-30T10:00:00+00:00, location: Here}}",
        ),
        [
            "respond.event.starts: '2026-02-30T10:00:00+00:00' is not a real "
            "date-time: day is out of range for month"
        ],
        id="call-event-30-february",
    ),
    # -- wrong types
    pytest.param(
        POST,
        post("title: 2024\n", drop=("title",)),
        ["title: expected text, got a number (put text that looks like one in quotes)"],
        id="title-a-number",
    ),
    pytest.param(
        POST,
        post("title: yes\n", drop=("title",)),
        [
            "title: expected text, got true/false (put text that looks like one in "
            "quotes)"
        ],
        id="title-yes",
    ),
    pytest.param(
        POST,
        post("summary: {a: b}\n", drop=("summary",)),
        ["summary: expected text, got a mapping"],
        id="summary-a-mapping",
    ),
    pytest.param(
        POST,
        post("authors: 5\n", drop=("authors",)),
        ["authors: expected a list, got a number"],
        id="authors-a-number",
    ),
    pytest.param(
        POST,
        post("tags: {a: 1}\n"),
        ["tags: expected a list, got a mapping"],
        id="tags-a-mapping",
    ),
    pytest.param(
        POST,
        post("image: images/x.png\n"),
        ["image: expected a mapping, got text"],
        id="image-just-a-path",
    ),
    pytest.param(
        POST,
        post("status: live\n"),
        ["status: 'live' is not one of: published, draft, hidden"],
        id="status-unknown",
    ),
    pytest.param(
        POST,
        post("comments: maybe\n"),
        ["comments: 'maybe' is not one of: open, closed"],
        id="comments-unknown",
    ),
    pytest.param(
        CALL,
        call(
            "2026-02-01T09:00:00+00:00",
            "[{amount: ten, unit: minutes, period: week}]",
            "{method: email, contact: lab}",
        ),
        [
            "commitments[0].amount: expected a whole number of 1 or more",
            "respond.contact: 'lab' is not an email address",
        ],
        id="call-amount-in-words-and-no-email",
    ),
    # -- empty values
    pytest.param(
        POST,
        post("title:\n", drop=("title",)),
        ["title: is empty: give it a value or remove the line"],
        id="title-empty",
    ),
    pytest.param(
        POST,
        post("slug: ''\n"),
        ["slug: must not be empty"],
        id="slug-empty-text",
    ),
    pytest.param(
        POST,
        post("summary: '   '\n", drop=("summary",)),
        ["summary: must not be empty"],
        id="summary-only-spaces",
    ),
    pytest.param(
        POST,
        post("modified:\n"),
        ["modified: is empty: give it a value or remove the line"],
        id="optional-field-empty",
    ),
    pytest.param(
        CHALLENGE,
        challenge(
            "  - name:\n    summary: s\n    starts: 2025-04-14\n    ends: 2025-06-30\n"
        ),
        ["phases[0].name: is empty"],
        id="phase-name-empty",
    ),
    # -- a list where one value is expected
    pytest.param(
        POST,
        post("category: [Research, Ideas]\n", drop=("category",)),
        ["category: expected one value, got a list of 2"],
        id="two-categories",
    ),
    pytest.param(
        POST,
        post("slug: [a, b]\n"),
        ["slug: expected one value, got a list of 2"],
        id="two-slugs",
    ),
    pytest.param(
        POST,
        post("modified: [2025-05-01, 2025-05-02]\n"),
        ["modified: expected one date, got a list of 2"],
        id="two-dates",
    ),
    pytest.param(
        POST,
        post("tags: [a, [b]]\n"),
        ["tags[1]: expected one value, got a list of 1"],
        id="a-tag-that-is-a-list",
    ),
    # -- the shape of the front matter
    pytest.param(
        POST,
        "---\ntitle: T\nsummary: S.\n",
        ["front matter: is not closed: no '---' line after the one on line 1"],
        id="no-closing-line",
    ),
    pytest.param(
        POST,
        "title: T\n\nText\n",
        ["front matter: is missing: the file must start with a '---' line"],
        id="no-front-matter",
    ),
    pytest.param(
        POST,
        "---\ntitle: T\nsummary:\n\t- S.\n---\nText\n",
        ["front matter: line 4 is indented with a tab; YAML needs spaces"],
        id="tab-indent",
    ),
    pytest.param(
        POST,
        "---\ntitle: T\ntags:\n\t- a\n\t- b\n---\nText\n",
        ["front matter: lines 4, 5 are indented with tabs; YAML needs spaces"],
        id="tab-indents",
    ),
    pytest.param(
        POST,
        post("title: U\n"),
        ["title: given twice (lines 2 and 7)"],
        id="duplicate-key",
    ),
    pytest.param(
        CHALLENGE,
        challenge(
            "  - name: A\n    name: B\n    summary: s\n"
            "    starts: 2025-04-14\n    ends: 2025-06-30\n"
        ),
        ["front matter: key 'name' given twice (lines 7 and 8)"],
        id="duplicate-key-in-a-phase",
    ),
    pytest.param(
        POST,
        post("tags: [a\n"),
        ["front matter: invalid YAML: did not find expected ',' or ']' (line 8)"],
        id="unclosed-bracket",
    ),
    pytest.param(
        POST,
        "---\n- a\n- b\n---\nText\n",
        ["front matter: must be a mapping of field: value lines"],
        id="a-list-not-a-mapping",
    ),
    pytest.param(
        POST,
        post("x: !!python/object/apply:os.system [echo]\n"),
        [
            "front matter: invalid YAML: could not determine a constructor for the "
            "tag 'tag:yaml.org,2002:python/object/apply:os.system' (line 7)"
        ],
        id="python-tag",
    ),
    # -- fields the type does not have, or lacks
    pytest.param(
        POST,
        post("colour: red\n"),
        [f"colour: unknown field for a post (known: {KNOWN_POST_FIELDS})"],
        id="unknown-field",
    ),
    pytest.param(
        POST,
        post("", drop=("summary",)),
        ["summary: is required"],
        id="summary-missing",
    ),
    pytest.param(
        "pages/case.md",
        "---\ntitle: T\nsummary: S.\ndate: 2025-01-01\n---\nText\n",
        [
            "date: unknown field for a page (known: title, summary, slug, modified, "
            "image, social, status, template, save_as, reviewed, review_every, "
            "next_review, owner, changes, redirect_from)"
        ],
        id="page-with-a-date",
    ),
    # -- values that are the right type but wrong
    pytest.param(
        "posts/2025-05-01-My Post.md",
        post(),
        [
            "file name: 'My Post' cannot be an address (lower-case letters, digits "
            "and single hyphens): name the file YYYY-MM-DD-short-name.md, or give "
            "the address in slug:"
        ],
        id="file-name-not-an-address",
    ),
    pytest.param(
        POST,
        post("slug: Not A Slug\n"),
        [
            "slug: 'Not A Slug' is not a slug (lower-case letters, digits and "
            "single hyphens)"
        ],
        id="slug-not-a-slug",
    ),
    pytest.param(
        POST,
        post("category: Gossip\n", drop=("category",)),
        [
            "category: 'Gossip' is not one of: Announcements, Research, Ideas, "
            "Testing, Learning"
        ],
        id="category-not-listed",
    ),
    pytest.param(
        POST,
        post("phase: ideas\n"),
        ["phase: needs a challenge"],
        id="phase-without-challenge",
    ),
    pytest.param(
        POST,
        post("social: {image: {src: images/x.svg, alt: A}}\n"),
        [
            "social.image.src: 'images/x.svg' is not a PNG, JPEG, GIF or WebP file "
            "(social networks do not show SVG)"
        ],
        id="social-image-svg",
    ),
    # -- several mistakes in one file: all of them, at once
    pytest.param(
        POST,
        "---\ndate: 2026-02-30T10:00:00+00:00\ntitle: T\ntitle: U\n"
        "authors: ada-lane\ncategory: [Research]\nsummary:\ncolour: red\n"
        "---\nText\n",
        [
            "title: given twice (lines 3 and 4)",
            f"colour: unknown field for a post (known: {KNOWN_POST_FIELDS})",
            "date: '2026-02-30T10:00:00+00:00' is not a real date-time: "
            "day is out of range for month",
            "category: expected one value, got a list of 1",
            "summary: is empty: give it a value or remove the line",
        ],
        id="five-mistakes-in-one-file",
    ),
]


@pytest.fixture(scope="module")
def reader_site(tmp_path_factory) -> tuple[Path, LabMarkdownReader]:
    site = tmp_path_factory.mktemp("reader") / "content"
    shutil.copytree(FIXTURE_SITE, site)
    settings = read_settings(str(ROOT / "pelicanconf.py"), override={"PATH": str(site)})
    return site, LabMarkdownReader({**lab_settings(settings), **settings})


def read(reader_site, relative: str, data: str | bytes) -> dict:
    site, reader = reader_site
    path = site / relative
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    try:
        return reader.read(str(path))[1]
    finally:
        path.unlink()


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize(("relative", "text", "reasons"), CASES)
def test_each_broken_file_is_named_with_its_field_and_reason(
    reader_site, relative, text, reasons
):
    metadata = read(reader_site, relative, text)
    assert sorted(metadata.get("lab_errors", [])) == sorted(
        f"{relative}: {reason}" for reason in reasons
    )
    # Kept, never published, so the build can list it.
    assert metadata["status"] == "draft"


def test_a_byte_order_mark_and_windows_line_ends_are_read_as_if_absent(
    reader_site,
):
    data = b"\xef\xbb\xbf" + post("tags: [a, b]\n").replace("\n", "\r\n").encode()
    metadata = read(reader_site, POST, data)
    assert "lab_errors" not in metadata
    assert metadata["title"] == "T"
    assert [tag.name for tag in metadata["tags"]] == ["a", "b"]
    assert metadata["date"] == dt.datetime(
        2025, 5, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert metadata["slug"] == "case"


# -- problems that need the rest of the site: the build's whole list

PHASE = "  - {name: A, summary: s, starts: 2025-04-14, ends: 2025-07-31}\n"
SITE_CASES = {
    "unknown-author": (
        {POST: post("authors: [ada-lane, nobody]\n", drop=("authors",))},
        [f"{POST}: authors: unknown author key 'nobody'"],
    ),
    "unknown-challenge": (
        {POST: post("challenge: no-such\n")},
        [f"{POST}: challenge: unknown challenge 'no-such' (known: fixture-challenge)"],
    ),
    "unknown-phase": (
        {POST: post("challenge: fixture-challenge\nphase: nope\n")},
        [
            f"{POST}: phase: unknown phase 'nope' of challenge 'fixture-challenge' "
            "(known: research-and-discovery, ideas)"
        ],
    ),
    # One wrong phase in a challenge: the real problem, and one line for the
    # two posts that name its phases (not one "unknown phase" each).
    "a-challenge-with-a-wrong-phase": (
        {
            "challenges/fixture-challenge.md": (
                "---\ntitle: Q?\nslug: fixture-challenge\nsummary: S\ntheme: T\n"
                "team: [ada-lane]\nphases:\n"
                + PHASE
                + "  - {name: B, summary: s, starts: 2025-07-01, ends: 2025-10-31}\n"
                "---\nBody\n"
            ),
        },
        [
            "challenges/fixture-challenge.md: phases[1].starts: 2025-07-01 overlaps "
            "or comes before the previous phase, which ends 2025-07-31",
            "posts/2025-05-01-published.md: phase: not checked until "
            "challenges/fixture-challenge.md is fixed; nor is 1 more that name it",
        ],
    ),
    # An unreadable authors file: said once, and one line for all who name
    # an author, not "unknown author key" for each.
    "authors-file-with-a-tab": (
        {"authors.yaml": "ada-lane:\n\tname: Ada\n"},
        [
            "authors.yaml: file: line 2 is indented with a tab; YAML needs spaces",
            "challenges/fixture-challenge.md: team: not checked until authors.yaml "
            "is fixed; nor are 4 more that name it",
        ],
    ),
    "authors-file-with-a-key-twice": (
        {
            "authors.yaml": (FIXTURE_SITE / "authors.yaml").read_text(encoding="utf-8")
            + "ada-lane: {name: Ada Again, role: R, bio: B}\n"
        },
        None,  # the line names the lines: worked out in the test
    ),
    "authors-entry-not-a-mapping": (
        {
            "authors.yaml": "ada-lane: Ada Lane\nben-cole: {name: B, role: R, bio: B}\n"
            "cara-diaz: {name: C, role: R, bio: B}\n"
        },
        ["authors.yaml: ada-lane: expected a mapping with name, role and bio"],
    ),
    "a-link-to-a-file-that-is-not-there": (
        {POST: post() + "See [the old post]({filename}/posts/2025-01-01-old.md).\n"},
        [
            f"{POST}: link: {{filename}}/posts/2025-01-01-old.md names "
            "posts/2025-01-01-old.md, which does not exist; if it was renamed, link "
            "to its new name, and give the renamed file 'slug: old' to keep its old "
            "address (and 'id:' to keep its feed id, as the README says)"
        ],
    ),
    "a-relative-link-and-a-missing-image": (
        {POST: post() + "[A]({filename}../pages/gone.md) ![B]({static}/images/no.png)"},
        [
            f"{POST}: link: {{filename}}../pages/gone.md names pages/gone.md, which "
            "does not exist; if it was renamed, link to its new name, and give the "
            "renamed file 'slug: gone' to keep its old address (and 'id:' to keep "
            "its feed id, as the README says)",
            f"{POST}: link: {{static}}/images/no.png names images/no.png, which does "
            "not exist",
        ],
    ),
}


def build_broken(tmp_path: Path, files: dict[str, str]):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    for name, text in files.items():
        (content / name).write_text(text, encoding="utf-8")
    output = tmp_path / "output"
    with pytest.raises(ContentValidationError) as caught:
        build("pelicanconf.py", output, path=content)
    assert not output.exists() or html_files(output) == []
    return caught.value


@pytest.mark.parametrize("name", SITE_CASES)
def test_each_problem_that_needs_the_site_is_named_once(tmp_path, name):
    files, expected = SITE_CASES[name]
    if expected is None:
        lines = files["authors.yaml"].splitlines()
        first = next(i for i, line in enumerate(lines, 1) if line.startswith("ada"))
        expected = [
            f"authors.yaml: ada-lane: given twice (lines {first} and {len(lines)})"
        ]
    assert build_broken(tmp_path, files).problems == sorted(expected)


def test_links_that_resolve_are_not_problems(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    (content / POST).write_text(
        post()
        + "[a]({filename}/posts/2025-09-15-ideas.md) [b]({filename}../pages/about.md)"
        " ![c]({static}/images/none.svg) [d]({filename}2025-09-15-ideas.md#part)\n",
        encoding="utf-8",
    )
    assert build("pelicanconf.py", tmp_path / "output", path=content).messages() == []


def test_a_site_saved_with_byte_order_marks_and_windows_line_ends_builds(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(FIXTURE_SITE, content)
    for name in ("authors.yaml", "posts/2025-05-01-published.md"):
        path = content / name
        text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    output = tmp_path / "output"
    assert build("pelicanconf.py", output, path=content).messages() == []
    assert (output / "updates/2025/a-published-post/index.html").is_file()
