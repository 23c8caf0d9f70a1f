"""Search as a reader uses it: the sample site with its Pagefind index, in
headless Chromium (Debian's, driven by playwright), served from the built files
with every other request refused. Runs in `make check`."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from check_site import CHROMIUM, CHROMIUM_ARGS, serve_site_offline
from conftest import SAMPLE, SAMPLE_SITEURL_PROD, html_files, parse_html
from pagetypes import indexed_copy

pytestmark = pytest.mark.gates


@pytest.fixture(scope="module")
def indexed_site(prod_site, tmp_path_factory) -> Path:
    output, _ = prod_site
    return indexed_copy(output, tmp_path_factory.mktemp("search") / "site")


def words(text: str, shortest: int = 7) -> set[str]:
    return {w.lower() for w in re.findall(rf"[A-Za-z]{{{shortest},}}", text)}


def stems(text: str) -> set[str]:
    """Rough stems of every word of four letters or more: their first five."""
    return {w[:5] for w in words(text, shortest=4)}


def indexed_pages(site: Path) -> dict[Path, str]:
    """The text of every page Pagefind indexes (those with data-pagefind-body)."""
    pages = {}
    for page in html_files(site):
        tree = parse_html(page)
        for node in tree.iter():
            if node.get("data-pagefind-body") is not None:
                pages[page] = " ".join(node.itertext())
    return pages


def unique_word(target: str, pages: dict[Path, str]) -> str:
    """A word of `target` that no other indexed page has, even as another form
    of the same word: the search stems words, so "researchers" finds "research".
    Two words sharing their first five letters count as forms of one word."""
    counts = Counter(stem for text in pages.values() for stem in stems(text))
    candidates = sorted(w for w in words(target) if counts[w[:5]] == 1)
    assert candidates, "no word of this text is unique to its page"
    return candidates[0]


def search(site: Path, query: str = "", address: str = "search/") -> dict:
    """Open the search page in Chromium, type `query` (if any) as a reader
    would, at once, even before the index has loaded, and return the result
    links and their type-and-date lines once the status reports results."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context()
            serve_site_offline(context, site, SAMPLE_SITEURL_PROD)
            page = context.new_page()
            page.goto(f"{SAMPLE_SITEURL_PROD}/{address}")
            if query:
                page.fill("#search-query", query)
                page.press("#search-query", "Enter")
            # A locator, not wait_for_function: the page's security policy
            # refuses the eval that a predicate given as text needs.
            page.locator("[data-lab-search-status]", has_text="result").wait_for(
                timeout=15_000
            )
            return {
                "links": page.eval_on_selector_all(
                    ".lab-search__result-link", "links => links.map(a => a.href)"
                ),
                "metas": page.eval_on_selector_all(
                    ".lab-search__result-meta", "items => items.map(p => p.textContent)"
                ),
            }
        finally:
            browser.close()


def test_a_word_from_one_post_finds_that_post_first(indexed_site):
    pages = indexed_pages(indexed_site)
    post = indexed_site / "updates/2025/what-the-evidence-says/index.html"
    word = unique_word(pages[post], pages)
    links = search(indexed_site, word)["links"]
    assert links, word
    assert links[0] == f"{SAMPLE_SITEURL_PROD}/updates/2025/what-the-evidence-says/"


def test_a_word_from_a_comment_finds_its_post(indexed_site):
    pages = indexed_pages(indexed_site)
    comments = [
        yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted((SAMPLE / "comments").rglob("*.yaml"))
    ]
    assert comments
    post_page = indexed_site / "updates/2025/first-challenge/index.html"
    others = {page: text for page, text in pages.items() if page != post_page}
    other_stems = set().union(*(stems(text) for text in others.values()))
    post_text = pages[post_page]
    only_in_comments = sorted(
        w
        for c in comments
        for w in words(c["body"])
        if w[:5] not in other_stems and w in words(post_text)
    )
    assert only_in_comments, "a comment word should be indexed with its post"
    links = search(indexed_site, only_in_comments[0])["links"]
    assert links[0] == f"{SAMPLE_SITEURL_PROD}/updates/2025/first-challenge/"


def test_filters_narrow_results_by_type(indexed_site):
    kind = quote("Call for involvement")
    found = search(indexed_site, address=f"search/?q=peer&type={kind}")
    assert found["links"]
    assert all("/get-involved/" in link for link in found["links"])
    assert all(m.startswith("Call for involvement") for m in found["metas"])


def test_the_challenge_filter_leaves_out_what_is_not_part_of_it(indexed_site):
    everything = search(indexed_site, address="search/?q=peer")["links"]
    assert any(link.endswith("/about/") for link in everything)
    challenge = quote(
        "What would it take for peer support to be available to everyone who "
        "wants it to help manage their long-term health and wellbeing needs?"
    )
    narrowed = search(indexed_site, address=f"search/?q=peer&challenge={challenge}")
    links = narrowed["links"]
    assert links and len(links) < len(everything)
    assert not any(link.endswith(("/about/", "/privacy/")) for link in links)
    assert all("/updates/" in link or "/get-involved/" in link for link in links)
