"""Issue 9 on the built sample site: reading time, related updates, previous and
next within a challenge, archives with counts, and a header search box that
leads to the search page, which without JavaScript says where to browse
instead (issue 14). Read with html5lib."""

from __future__ import annotations

from urllib.parse import urljoin

from conftest import SAMPLE, SAMPLE_SITEURL_DEV, html_files, parse_html

from lab_content.frontmatter import split_front_matter
from lab_content.navigation import reading_minutes


def text_of(node) -> str:
    return " ".join("".join(node.itertext()).split())


def main_of(output, page):
    return next(parse_html(output / page).iter("main"))


def labelled_links(nav) -> dict[str, str]:
    """{label text: href} of the previous/next items of the related nav."""
    found = {}
    for item in nav.iter("li"):
        labels = [
            s
            for s in item.iter("span")
            if "lab-related__label" in (s.get("class") or "")
        ]
        links = list(item.iter("a"))
        if labels and links:
            found[text_of(labels[0])] = links[0].get("href")
    return found


def related_nav(output, page):
    return next(
        n
        for n in main_of(output, page).iter("nav")
        if n.get("aria-label") == "More updates"
    )


def challenge_posts_oldest_first() -> list[str]:
    posts = []
    for path in sorted((SAMPLE / "posts").glob("*.md")):
        data, _ = split_front_matter(path.read_text(encoding="utf-8"))
        if data.get("challenge") == "peer-support" and data.get("status") != "draft":
            posts.append((str(data["date"]), data["slug"], path.name[:4]))
    return [(slug, year) for _, slug, year in sorted(posts)]


def test_previous_and_next_within_the_challenge_stop_at_its_ends(dev_site):
    output, _ = dev_site
    posts = challenge_posts_oldest_first()
    assert len(posts) >= 3
    (first, first_year), (second, second_year) = posts[0], posts[1]
    (last, last_year), (before_last, before_year) = posts[-1], posts[-2]
    links = labelled_links(
        related_nav(output, f"updates/{first_year}/{first}/index.html")
    )
    assert "Previous in this challenge" not in links
    assert links["Next in this challenge"].endswith(f"updates/{second_year}/{second}/")
    links = labelled_links(
        related_nav(output, f"updates/{last_year}/{last}/index.html")
    )
    assert "Next in this challenge" not in links
    assert links["Previous in this challenge"].endswith(
        f"updates/{before_year}/{before_last}/"
    )


def test_related_updates_lead_with_the_same_challenge(dev_site):
    output, _ = dev_site
    main = main_of(output, "updates/2025/what-the-evidence-says/index.html")
    section = next(
        s for s in main.iter("section") if s.get("aria-labelledby") == "related-updates"
    )
    items = [text_of(li) for li in section.iter("li")]
    assert 1 <= len(items) <= 3
    assert all("same challenge" in item for item in items)


def test_every_post_says_how_long_it_takes_to_read(dev_site):
    output, _ = dev_site
    for page in sorted((output / "updates").glob("20*/*/index.html")):
        main = main_of(output, page.relative_to(output))
        article = next(main.iter("article"))
        prose = next(
            d for d in article.iter("div") if "lab-prose" in (d.get("class") or "")
        )
        minutes = reading_minutes(" ".join(prose.itertext()))
        expected = f"{minutes} minute{'' if minutes == 1 else 's'} to read"
        assert expected in text_of(main), page


def test_archives_list_each_year_with_its_count(dev_site):
    output, _ = dev_site
    main = main_of(output, "updates/archives/index.html")
    headings = {text_of(h) for h in main.iter("h2")}
    assert "2025 (7 updates)" in headings and "2026 (4 updates)" in headings
    assert (output / "updates/2025/index.html").is_file()


def test_the_header_search_box_leads_to_the_search_page(dev_site):
    """The header's search box (in the bar, or behind Menu on narrow screens:
    one box either way) sends its words to the search page, with or without
    JavaScript: without it, that page says search needs it and where to
    browse instead. The search page's own form still leads to the archives."""
    output, _ = dev_site
    search_page = f"{SAMPLE_SITEURL_DEV}/search/"
    for page in ("index.html", "about/index.html", "search/index.html"):
        tree = parse_html(output / page)
        url = f"{SAMPLE_SITEURL_DEV}/{page}"
        header = next(tree.iter("header"))
        forms = [f for f in tree.iter("form") if f.get("role") == "search"]
        in_header = [f for f in header.iter("form") if f.get("role") == "search"]
        assert len(in_header) == 1, page
        for form in forms:
            if form in in_header:
                assert urljoin(url, form.get("action")) == search_page, page
            else:
                assert form.get("action").endswith("updates/archives/"), page
            field = next(form.iter("input"))
            assert field.get("name") == "q", page
            label = [
                lab for lab in form.iter("label") if lab.get("for") == field.get("id")
            ]
            assert label and text_of(label[0]), page
    search = parse_html(output / "search/index.html")
    noscript = next(search.iter("noscript"))
    assert text_of(noscript).startswith("Search needs JavaScript")
    url = f"{SAMPLE_SITEURL_DEV}/search/index.html"
    hrefs = [urljoin(url, a.get("href")) for a in noscript.iter("a")]
    for path in ("updates/archives/", "updates/tags/", "challenges/"):
        assert f"{SAMPLE_SITEURL_DEV}/{path}" in hrefs
        assert (output / path / "index.html").is_file()


def test_only_content_pages_are_indexed_for_search(dev_site):
    output, _ = dev_site
    indexed, listings = set(), set()
    for page in html_files(output):
        name = page.relative_to(output).as_posix()
        main = next(parse_html(page).iter("main"))
        if main.get("data-pagefind-body") is not None:
            indexed.add(name)
        else:
            listings.add(name)
    assert "updates/2025/first-challenge/index.html" in indexed
    assert "challenges/peer-support/index.html" in indexed
    assert "get-involved/ten-minutes-or-ten-days/index.html" in indexed
    assert "about/index.html" in indexed
    assert {"index.html", "updates/index.html", "updates/tags/index.html"} <= listings
    # Navigation inside content pages stays out of the index.
    main = main_of(output, "updates/2025/first-challenge/index.html")
    navs = list(main.iter("nav"))
    assert navs and all(n.get("data-pagefind-ignore") is not None for n in navs)
