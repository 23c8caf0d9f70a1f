"""The site on a phone (issue 14, "Small screens"): the sample site's
production build in headless Chromium (Debian's, driven by playwright), served
from the built files with every other request refused. Runs in `make check`."""

from __future__ import annotations

import pytest
from check_site import serve_site_offline
from conftest import SAMPLE_SITEURL_PROD

pytestmark = pytest.mark.gates

# One page of each type a reader meets first.
PAGE_TYPES = [
    "",
    "updates/",
    "updates/2025/first-challenge/",
    "challenges/",
    "challenges/peer-support/",
    "get-involved/sharing-event/",
    "updates/archives/",
    "search/",
    "feeds/",
    "404.html",
]
NARROW = {"width": 320, "height": 640}
TALLEST_HEADER = 160  # px at 320 px wide, the phase banner included


@pytest.fixture
def narrow_page(prod_site, browser):
    """A page 320 px wide with JavaScript off (the header needs none); open
    it at an address with `.goto(address)`."""
    output, _ = prod_site
    context = browser.new_context(viewport=NARROW, java_script_enabled=False)
    serve_site_offline(context, output, SAMPLE_SITEURL_PROD)
    page = context.new_page()

    def goto(address: str):
        page.goto(f"{SAMPLE_SITEURL_PROD}/{address}")
        return page

    try:
        yield goto
    finally:
        context.close()


SIDEWAYS = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.mark.parametrize("address", PAGE_TYPES)
def test_the_header_is_short_on_a_phone(narrow_page, address):
    page = narrow_page(address)
    height = page.locator("body > header").bounding_box()["height"]
    assert height <= TALLEST_HEADER, f"/{address}: header {height}px tall at 320px"


def test_the_menu_opens_without_a_script_and_fits(narrow_page):
    """Navigation and search are behind Menu at 320 px: a <details>, so it
    opens with JavaScript off, shows every section and the search box, and
    still fits the width."""
    page = narrow_page("challenges/")
    menu = page.locator(".lab-header__menu")
    nav = menu.get_by_role("navigation", name="Main")
    shown = page.get_by_role("navigation", name="Main")  # what a reader meets
    assert not nav.is_visible() and shown.count() == 0
    button = menu.locator("summary")
    assert button.inner_text() == "Menu"
    assert button.bounding_box()["height"] >= 24
    button.click()
    links = nav.get_by_role("link")
    assert links.all_inner_texts() == ["Updates", "Challenges", "Get involved", "About"]
    assert all(link.is_visible() for link in links.all())
    assert shown.count() == 1  # the wide screens' copy stays hidden
    current = nav.locator("[aria-current=page]")
    assert current.inner_text() == "Challenges"
    assert menu.get_by_role("searchbox", name="Search the site").is_visible()
    assert page.evaluate(SIDEWAYS) <= 0


def test_wide_screens_show_the_navigation_without_a_menu(prod_site, browser):
    output, _ = prod_site
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    serve_site_offline(context, output, SAMPLE_SITEURL_PROD)
    try:
        page = context.new_page()
        page.goto(f"{SAMPLE_SITEURL_PROD}/")
        # No "Menu" button: the disclosure's contents are laid out open.
        assert not page.locator(".lab-header__menu-button").is_visible()
        assert page.get_by_text("Menu", exact=True).count() == 1  # in the markup
        nav = page.get_by_role("navigation", name="Main")
        assert nav.count() == 1 and nav.is_visible()
        assert page.get_by_role("searchbox", name="Search the site").is_visible()
    finally:
        context.close()


# The first character of every line of text in `main`, as laid out: each
# character's box (a Range over it), a line starting where a character sits
# lower than the one before it.
LINE_STARTS = """() => {
  const starts = [];
  const walker = document.createTreeWalker(
    document.querySelector("main"), NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let lastTop = -Infinity;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      if (/\\s/.test(node.data[i])) continue;
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getClientRects()[0];
      if (!box || box.width === 0) continue;
      if (box.top > lastTop + box.height / 2) {
        starts.push(node.data.slice(i, i + 20));
      }
      lastTop = box.top;
    }
  }
  return starts;
}"""


@pytest.mark.parametrize("width", [320, 400, 768])
def test_no_line_of_the_feeds_page_starts_with_punctuation(prod_site, browser, width):
    output, _ = prod_site
    context = browser.new_context(viewport={"width": width, "height": 800})
    serve_site_offline(context, output, SAMPLE_SITEURL_PROD)
    try:
        page = context.new_page()
        page.goto(f"{SAMPLE_SITEURL_PROD}/feeds/")
        starts = page.evaluate(LINE_STARTS)
        assert len(starts) > 20  # every title and format list, and the text
        assert any(s.startswith("RSS") for s in starts)
        stray = [s for s in starts if s[0] in ":,;."]
        assert not stray, f"at {width}px lines start with {stray}"
    finally:
        context.close()
