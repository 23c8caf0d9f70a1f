"""The rules any valid site meets (tests/siterules.py), proven on the Lab's own
content/ and on other sites, so that they are rules and not facts about one.

content/ is the Lab's: it is built with both configs on the real day, and only
these rules judge it (the only tests that may read it: see ContentGuard in
conftest.py). The same rules are run on the sample story, the small fixture
site, a copy of the sample edited as a Lab would edit it (posts added today and
tomorrow, a call added, sample posts deleted, a reply approved, titles
changed) and a different Lab altogether (tests/fixtures/other-lab). The edited
copy and the other Lab are also built with `make html`, as a Lab would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import (
    FIXTURES,
    GUARD,
    LAB_CONTENT,
    LAB_OUTPUT,
    ROOT,
    SAMPLE,
    SAMPLE_SITEURL_DEV,
    SAMPLE_SITEURL_PROD,
    SAMPLE_TODAY,
    build,
    parse_html,
)
from lxml import etree
from redirectkit import redirect_content
from siterules import RULES, Built, all_problems

OTHER_LAB = FIXTURES / "other-lab"
# The other Lab is judged on a day within its challenge's first phase, with
# its call open and one post still to come.
OTHER_TODAY = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
OTHER_SITEURL_PROD = "https://labordy.example.org"
ZONE = ZoneInfo("Europe/London")
CONFIGS = {
    "dev": ("pelicanconf.py", SAMPLE_SITEURL_DEV),
    "prod": ("publishconf.py", SAMPLE_SITEURL_PROD),
}


# -- a copy of the sample, edited as a Lab edits it


def write_item(path: Path, front: dict, body: str) -> None:
    path.write_text(
        "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n"
        f"\n{body}\n",
        encoding="utf-8",
    )


def set_title(path: Path, title: str) -> None:
    """Change the title in a file's front matter, the rest as the Lab wrote it."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("title:"))
    lines[index] = f"title: {yaml.safe_dump(title, width=1000).splitlines()[0]}\n"
    path.write_text("".join(lines), encoding="utf-8")


def lab_edit(content: Path, now: dt.datetime) -> dict[str, str]:
    """Edit a copy of the sample story as a Lab does in its first weeks, on
    the day `now`. Returns what the tests look for: the addresses of the new
    and deleted posts and the new titles."""
    local = now.astimezone(ZONE).replace(second=0, microsecond=0)
    today = local - dt.timedelta(minutes=5)
    tomorrow = local + dt.timedelta(days=1)
    posts = content / "posts"
    # A post dated today, without a slug (its address comes from the title or,
    # once item 3 of issue 13 lands, from its file name: both are checked by
    # address below), and one dated tomorrow, not published yet.
    write_item(
        posts / f"{today:%Y-%m-%d}-our-first-real-post.md",
        {"title": "Our first real post", "date": today.isoformat(),
         "authors": ["amara-okafor"], "category": "Announcements",
         "tags": ["news"], "summary": "The Lab's own first post, dated today."},
        "We have replaced the sample story with our own. Diolch i bawb.",
    )  # fmt: skip
    write_item(
        posts / f"{tomorrow:%Y-%m-%d}-tomorrow.md",
        {"title": "Written today for tomorrow", "date": tomorrow.isoformat(),
         "authors": ["tom-reyes"], "category": "Research",
         "summary": "Not published until its day comes."},
        "Scheduled.",
    )  # fmt: skip
    # A call, open from today for a month.
    write_item(
        content / "get-involved/tell-us-about-your-group.md",
        {"title": "Tell us about your peer support group",
         "slug": "tell-us-about-your-group",
         "summary": "Five questions about your group, for our map of support.",
         "challenge": "peer-support", "opens": today.isoformat(),
         "closes": (today + dt.timedelta(days=30)).isoformat(),
         "commitments": [{"amount": 15, "unit": "minutes", "period": "once"}],
         "audience": "People who run a peer support group.",
         "respond": {"method": "email", "contact": "lab@example.org"}},
        "Answer five questions by email.",
    )  # fmt: skip
    # Two sample posts deleted; another post linked to the first, and the Lab
    # takes that link out as the build's link check would ask it to.
    (posts / "2025-08-28-ideas-workshop.md").unlink()
    (posts / "2026-10-01-notes-from-regional-visits.md").unlink()
    linking = posts / "2025-10-16-three-ideas-to-test.md"
    text = linking.read_text(encoding="utf-8")
    link = "[ideas workshop]({filename}/posts/2025-08-28-ideas-workshop.md)"
    assert link in text
    linking.write_text(text.replace(link, "ideas workshop"), encoding="utf-8")
    # A reply approved on the sample thread (what `make comments-approve` writes).
    thread = content / "comments/first-challenge"
    first = sorted(thread.glob("*.yaml"))[0]
    reply = {
        "id": f"{today:%Y%m%d-%H%M%S}-0a1b2c",
        "post": "first-challenge",
        "name": "Eleri Wyn",
        "date": today.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reply_to": yaml.safe_load(first.read_text(encoding="utf-8"))["id"],
        "body": "Yes: paying people for their time made the difference for us.",
    }
    (thread / f"{reply['id']}.yaml").write_text(
        yaml.safe_dump(reply, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    # Titles changed: a post (its slug keeps its address), a challenge, a page.
    titles = {
        "post": "Testing with a commissioner: what we learned",
        "challenge": "Peer support for everyone who wants it",
        "page": "About us",
    }
    set_title(posts / "2026-03-12-testing-with-a-commissioner.md", titles["post"])
    set_title(content / "challenges/peer-support.md", titles["challenge"])
    set_title(content / "pages/about.md", titles["page"])
    return {
        "today_year": f"{today:%Y}",
        "reply": reply["id"],
        **{f"title_{k}": v for k, v in titles.items()},
    }


# -- the sites, each built once per config


@pytest.fixture(scope="session")
def lab_edited(tmp_path_factory) -> tuple[Path, dict[str, str], dt.datetime]:
    content = tmp_path_factory.mktemp("lab-edited") / "content"
    shutil.copytree(SAMPLE, content)
    now = dt.datetime.now(tz=dt.UTC)
    return content, lab_edit(content, now), now


@pytest.fixture(scope="session")
def clean_slate(tmp_path_factory) -> Path:
    """A Lab's first day after deleting the sample: its pages and authors, no
    post, challenge, call or comment (README: "Replacing the sample")."""
    content = tmp_path_factory.mktemp("clean-slate") / "content"
    content.mkdir()
    shutil.copytree(OTHER_LAB / "pages", content / "pages")
    shutil.copy2(OTHER_LAB / "authors.yaml", content)
    return content


@pytest.fixture(scope="session")
def redirects_content(tmp_path_factory) -> Path:
    """The small fixture site with pages at old addresses (lab_redirects)."""
    return redirect_content(tmp_path_factory.mktemp("redirects") / "content")


def lab_edited_site(request) -> tuple[Path, dt.datetime]:
    content, _, now = request.getfixturevalue("lab_edited")
    return content, now


# name: (what gives its content folder and its day, its production SITEURL).
# A day of None is the build's own (the real one), as for the Lab's content.
Where = Callable[[pytest.FixtureRequest], tuple[Path, dt.datetime | None]]
SITES: dict[str, tuple[Where, str]] = {
    "content": (lambda request: (LAB_CONTENT, None), SAMPLE_SITEURL_PROD),
    "sample": (lambda request: (SAMPLE, SAMPLE_TODAY), SAMPLE_SITEURL_PROD),
    "fixture-site": (lambda request: (FIXTURES / "site", SAMPLE_TODAY),
                     SAMPLE_SITEURL_PROD),
    "lab-edited": (lab_edited_site, SAMPLE_SITEURL_PROD),
    "redirects": (lambda request: (request.getfixturevalue("redirects_content"),
                                   SAMPLE_TODAY), SAMPLE_SITEURL_PROD),
    "other-lab": (lambda request: (OTHER_LAB, OTHER_TODAY), OTHER_SITEURL_PROD),
    "clean-slate": (lambda request: (request.getfixturevalue("clean_slate"), None),
                    OTHER_SITEURL_PROD),
}  # fmt: skip


@pytest.fixture(scope="session")
def built_sites(request, tmp_path_factory) -> Callable[[str, str], Built]:
    """Builds each (site, config) the first time a test asks, then keeps it.
    The sample's builds are conftest's dev_site and prod_site."""
    cache: dict[tuple[str, str], Built] = {}

    def get(name: str, config: str) -> Built:
        if (name, config) not in cache:
            where, prod_url = SITES[name]
            content, today = where(request)
            conffile, siteurl = CONFIGS[config]
            siteurl = prod_url if config == "prod" else siteurl
            if name == "sample":
                output, log = request.getfixturevalue(f"{config}_site")
            else:
                output = tmp_path_factory.mktemp(f"{name}-{config}")
                log = build(conffile, output, path=content, today=today,
                            SITEURL=siteurl)  # fmt: skip
            cache[name, config] = Built(output, siteurl, content, tuple(log.messages()))
        return cache[name, config]

    return get


def site_params():
    for name in SITES:
        marks = [pytest.mark.lab_content] if name == "content" else []
        for config in CONFIGS:
            yield pytest.param(name, config, id=f"{name}-{config}", marks=marks)


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize(("name", "config"), list(site_params()))
def test_every_site_keeps_every_rule(built_sites, name, config, rule):
    site = built_sites(name, config)
    assert RULES[rule](site) == []


# -- what the Lab's edits did, on the edited copy


def text_of(node) -> str:
    return " ".join("".join(node.itertext()).split())


def post_page(output: Path, year: str, title: str) -> Path | None:
    """The page of the post in `year` whose <h1> is `title`."""
    for page in sorted((output / "updates" / year).glob("*/index.html")):
        if [text_of(h1) for h1 in parse_html(page).iter("h1")] == [title]:
            return page
    return None


def test_the_lab_edits_show_on_the_edited_copy(built_sites, lab_edited):
    _, facts, _ = lab_edited
    site = built_sites("lab-edited", "prod")
    output = site.output
    assert post_page(output, facts["today_year"], "Our first real post")
    assert post_page(output, facts["today_year"], "Written today for tomorrow") is None
    assert (output / "get-involved/tell-us-about-your-group/index.html").is_file()
    for gone in ("ideas-workshop", "notes-from-regional-visits"):
        assert not list(output.glob(f"updates/*/{gone}")), gone
    thread = parse_html(output / "updates/2025/first-challenge/index.html")
    assert f"comment-{facts['reply']}" in {n.get("id") for n in thread.iter()}
    retitled = output / "updates/2026/testing-with-a-commissioner/index.html"
    assert text_of(next(parse_html(retitled).iter("h1"))) == facts["title_post"]


def test_a_deleted_post_still_linked_to_is_named(tmp_path):
    """The edit the Lab-edited copy makes by hand: without it, the build
    refuses, naming the file that links to the deleted post and the post, and
    writes nothing."""
    from lab_content.generator import ContentValidationError

    content = tmp_path / "content"
    shutil.copytree(SAMPLE, content)
    (content / "posts/2025-08-28-ideas-workshop.md").unlink()
    with pytest.raises(ContentValidationError) as failure:
        build("pelicanconf.py", tmp_path / "out", path=content)
    assert [p for p in failure.value.problems if "ideas-workshop" in p] == [
        "posts/2025-10-16-three-ideas-to-test.md: link: "
        "{filename}/posts/2025-08-28-ideas-workshop.md names "
        "posts/2025-08-28-ideas-workshop.md, which does not exist; if it was "
        "renamed, link to its new name, and give the renamed file "
        "'slug: ideas-workshop' to keep its old address (and 'id:' to keep its "
        "feed id, as the README says)"
    ]
    assert not list((tmp_path / "out").rglob("*.html"))


# -- the rules fail when they should (on a copy of one built site)


def break_sitemap(output: Path) -> str:
    sitemap = output / "sitemap.xml"
    tree = etree.parse(str(sitemap))
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    url = tree.xpath("//s:url[s:loc[contains(., '/updates/archives/')]]", namespaces=ns)
    url[0].getparent().remove(url[0])
    tree.write(str(sitemap), xml_declaration=True, encoding="utf-8")
    return "updates/archives/index.html is not listed"


def break_comments(output: Path) -> str:
    manifest = output / "comments-manifest.json"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('"20260204-120000-d4e5f6"', '"x"'), "utf-8")
    return "20260204-120000-d4e5f6.yaml: not listed under its post"


def break_calendar(output: Path) -> str:
    (output / "get-involved/ride-along/ride-along.ics").unlink()
    return "get-involved/ride-along/index.html: no ride-along.ics"


def add_to_main(output: Path, name: str, html: str) -> None:
    # Breaking a built copy on purpose, not reading HTML: a plain replacement.
    page = output / name
    text = page.read_text(encoding="utf-8")
    page.write_text(text.replace("</main>", html + "</main>", 1), "utf-8")


def break_structure(output: Path) -> str:
    add_to_main(output, "about/index.html", "<h1>Two</h1>")
    return "about/index.html: 2 h1 elements"


def break_ids(output: Path) -> str:
    add_to_main(output, "privacy/index.html", '<p id="main-content"></p>')
    return "privacy/index.html: id 'main-content' appears 2 times"


def break_parsing(output: Path) -> str:
    add_to_main(output, "privacy/index.html", "<p>a</b>")
    return "privacy/index.html: line"


def break_link(output: Path) -> str:
    add_to_main(output, "about/index.html", '<a href="../no-such-page/">Gone</a>')
    return "about/index.html: <a href='../no-such-page/'>: no file no-such-page"


def load_from_elsewhere(output: Path) -> str:
    add_to_main(output, "about/index.html", '<img src="https://cdn.example/x.png">')
    return "about/index.html: <img> https://cdn.example/x.png"


def break_expected(output: Path) -> str:
    shutil.rmtree(output / "accessibility")
    return "no accessibility/index.html"


def break_items(output: Path) -> str:
    shutil.rmtree(output / "challenges/getting-to-appointments")
    return (
        "challenges/getting-to-appointments.md: no challenges/getting-to-appointments"
    )


def break_statement(output: Path) -> str:
    # The other Lab's statement loses its enforcement procedure's heading.
    page = output / "accessibility/index.html"
    text = page.read_text(encoding="utf-8")
    assert text.count("enforcement procedure</h2>") == 1
    page.write_text(
        text.replace("enforcement procedure</h2>", "what then</h2>"), "utf-8"
    )
    return "accessibility/index.html: no part 'enforcement procedure'"


BREAKAGES = {
    "sitemap": ("sitemap", break_sitemap),
    "comments": ("comments-published", break_comments),
    "calendar": ("calls-have-calendars", break_calendar),
    "two-h1": ("page-structure", break_structure),
    "duplicate-id": ("page-structure", break_ids),
    "parse-error": ("html-parses", break_parsing),
    "broken-link": ("links-resolve", break_link),
    "foreign-load": ("nothing-from-other-hosts", load_from_elsewhere),
    "missing-page": ("expected-files", break_expected),
    "missing-challenge": ("items-have-pages", break_items),
    "statement-part": ("accessibility-statement", break_statement),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_rule_names_what_breaks_it(built_sites, tmp_path, breakage):
    site = built_sites("other-lab", "prod")
    copy = tmp_path / "site"
    shutil.copytree(site.output, copy)
    rule, breaking = BREAKAGES[breakage]
    expected = breaking(copy)
    problems = RULES[rule](Built(copy, site.siteurl, site.content, ()))
    assert any(expected in problem for problem in problems), problems


# -- make html, as a Lab runs it, on the edited copy and on the other Lab


@pytest.mark.parametrize("name", ["lab-edited", "other-lab"])
def test_make_html_builds_the_site_and_it_keeps_every_rule(request, make_repo, name):
    if name == "lab-edited":
        content, _, _ = request.getfixturevalue("lab_edited")
        epoch = ""  # the real day, as the Lab's own builds have it
    else:
        content = OTHER_LAB
        epoch = str(int(OTHER_TODAY.timestamp()))
    repo, make = make_repo(content)
    result = make("html", env={"SOURCE_DATE_EPOCH": epoch}, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    logged = tuple(
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith(("WARNING", "ERROR", "CRITICAL"))
    )
    site = Built(repo / "output", SAMPLE_SITEURL_DEV, repo / "content", logged)
    assert all_problems(site) == []
    # The search index `make html` adds is there too.
    assert (repo / "output/pagefind/pagefind.js").is_file()


# -- no other test reads content/


@pytest.mark.lab_content
def test_the_guard_sees_every_way_of_reading_content():
    """ContentGuard (conftest.py) fails any test not marked lab_content that
    opens or lists anything under content/, however it names the path, and
    any test but the gates that reads the repository's output/ (even a file
    that is not there)."""
    GUARD.allow()
    try:
        os.close(os.open(LAB_CONTENT, os.O_RDONLY))
        os.listdir(ROOT / "tests" / ".." / "content")
        list(os.scandir(os.path.relpath(LAB_CONTENT)))
        sorted(LAB_CONTENT.glob("*"))
        seen = GUARD.take()
        with contextlib.suppress(FileNotFoundError):
            (LAB_OUTPUT / "comments-manifest-of-no-build.json").read_bytes()
        seen_output = GUARD.take()
        os.listdir(ROOT / "tests")
        unseen = GUARD.take()
    finally:
        GUARD.allow(LAB_CONTENT, LAB_OUTPUT)
    assert [line.split()[0] for line in seen] == [
        "open",
        "os.listdir",
        "os.scandir",
        "os.scandir",
    ], seen
    assert [line.split()[0] for line in seen_output] == ["open"], seen_output
    assert unseen == []
