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


# -- The search page on any screen, its excerpts, and the header's search box
# without JavaScript (issue 14)


def open_page(browser, site: Path, address: str, **options):
    """A new page of a new browser context (closed with the page) at `address`."""
    context = browser.new_context(**options)
    serve_site_offline(context, site, SAMPLE_SITEURL_PROD)
    page = context.new_page()
    page.on("close", lambda _: context.close())
    page.goto(f"{SAMPLE_SITEURL_PROD}/{address}")
    return page


def wait_for_results(page) -> None:
    # A locator, not wait_for_function: the page's security policy refuses
    # the eval that a predicate given as text needs.
    page.locator("[data-lab-search-status]", has_text="result").wait_for(timeout=15_000)


SIDEWAYS = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.mark.parametrize("width", [320, 768, 1280])
def test_the_search_page_never_scrolls_sideways(indexed_site, browser, width):
    """Results shown and the longest challenge chosen in the filter: the page is
    no wider than the window, and the control shows the long question cut short
    while its option keeps it whole."""
    page = open_page(
        browser, indexed_site, "search/?q=peer",
        viewport={"width": width, "height": 800},
    )  # fmt: skip
    try:
        wait_for_results(page)
        assert page.locator(".lab-search__result").count() > 0
        assert page.evaluate(SIDEWAYS) <= 0, f"scrolls sideways at {width}px"
        select = page.locator("#search-challenge")
        options = select.locator("option").all_text_contents()
        longest = max(options, key=len)
        assert longest.endswith("?") and len(longest) > 100  # the whole question
        select.select_option(label=longest)
        page.wait_for_url("**challenge=*", timeout=15_000)
        wait_for_results(page)
        assert page.evaluate(SIDEWAYS) <= 0, f"scrolls sideways at {width}px"
        # The closed control is narrower than its label would need: cut short.
        needed = select.evaluate(
            """s => {
              const c = document.createElement("canvas").getContext("2d");
              c.font = getComputedStyle(s).font;
              return c.measureText(s.selectedOptions[0].text).width;
            }"""
        )
        box = select.bounding_box()
        assert box["x"] + box["width"] <= width and box["width"] < needed
    finally:
        page.close()


WORDS = re.compile(r"\w+")


def is_run_of(part: list[str], whole: list[str]) -> bool:
    """Whether `part` appears in `whole` as consecutive items."""
    return any(
        whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1)
    )


def test_is_run_of():
    assert is_run_of(["b", "c"], ["a", "b", "c"])
    assert not is_run_of(["a", "c"], ["a", "b", "c"])
    assert not is_run_of(["peersupport"], ["peer", "support"])


# The text a reader sees in the part of a page that the search indexes:
# what the page leaves out of the index is hidden first.
PAGE_TEXT = """() => {
  for (const e of document.querySelectorAll("[data-pagefind-ignore]")) {
    e.style.display = "none";
  }
  return document.querySelector("[data-pagefind-body]").innerText;
}"""


@pytest.mark.parametrize("query", ["peer support", "published", "research"])
def test_an_excerpt_is_the_page_text_around_the_match(indexed_site, browser, query):
    """Every result's excerpt, as shown, is a run of the words its page shows,
    spaces and all: two words run together ("Peersupportfor", "2025Last") are
    in no page."""
    page = open_page(browser, indexed_site, f"search/?q={quote(query)}")
    try:
        wait_for_results(page)
        results = page.eval_on_selector_all(
            ".lab-search__result",
            """items => items.map(li => [
              li.querySelector(".lab-search__result-link").href,
              li.querySelector(".lab-search__result-excerpt").textContent])""",
        )
        assert results
        for href, excerpt in results:
            page.goto(href)
            shown = WORDS.findall(page.evaluate(PAGE_TEXT))
            words = WORDS.findall(excerpt)
            assert len(words) > 5, (href, excerpt)
            assert is_run_of(words, shown), (href, excerpt)
    finally:
        page.close()


def test_the_header_search_box_runs_its_query_on_the_search_page(indexed_site, browser):
    page = open_page(browser, indexed_site, "updates/2025/first-challenge/")
    try:
        page.fill("#header-search", "peer")
        page.press("#header-search", "Enter")
        page.wait_for_url("**/search/?q=peer")
        wait_for_results(page)
        assert page.input_value("#search-query") == "peer"
        assert page.locator(".lab-search__result").count() > 0
    finally:
        page.close()


@pytest.mark.parametrize("width", [320, 1280])
def test_without_javascript_the_header_search_says_search_needs_it(
    indexed_site, browser, width
):
    """The query goes to the search page, which says that search needs
    JavaScript and links to the archives, the topics and the challenges; on a
    narrow screen the search box is behind Menu, which opens without a script."""
    page = open_page(
        browser, indexed_site, "updates/2025/first-challenge/",
        java_script_enabled=False, viewport={"width": width, "height": 800},
    )  # fmt: skip
    try:
        field = "#header-search"
        if width < 641:
            assert not page.is_visible(field)
            page.get_by_text("Menu", exact=True).click()
        page.fill(field, "peer")
        page.press(field, "Enter")
        page.wait_for_url("**/search/?q=peer")
        # Playwright's text locators skip <noscript>: found by its markup.
        (explanation,) = page.locator("main .lab-inset-text__text").all()
        assert explanation.is_visible()
        assert explanation.inner_text().startswith("Search needs JavaScript")
        links = explanation.locator("a")
        hrefs = links.evaluate_all("links => links.map(a => a.href)")
        assert links.count() >= 3 and all(link.is_visible() for link in links.all())
        for part in ("/updates/archives/", "/updates/tags/", "/challenges/"):
            assert f"{SAMPLE_SITEURL_PROD}{part}" in hrefs
        for href in hrefs:
            path = href.removeprefix(SAMPLE_SITEURL_PROD + "/")
            assert (indexed_site / path / "index.html").is_file(), href
    finally:
        page.close()
