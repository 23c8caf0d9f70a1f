"""Chromium visits one page of each type, with the policy in force, and
reports no Content-Security-Policy violation: the bundles, Pagefind's
WebAssembly index on the search page (with a query run), the comment form.
Runs in `make check`."""

from __future__ import annotations

import pytest
from check_site import serve_site_offline
from conftest import SAMPLE_SITEURL_PROD
from pagetypes import PAGE_TYPES, indexed_copy, page_files

pytestmark = pytest.mark.gates

# Every violation the page reports, kept where the test can read it.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"}` +
    ` (${event.sourceFile || ""}:${event.lineNumber || ""})`);
});
"""


@pytest.fixture(scope="module")
def indexed_site(prod_site, tmp_path_factory):
    output, _ = prod_site
    return indexed_copy(output, tmp_path_factory.mktemp("csp") / "site")


def policed_page(browser, site):
    """A page in a new context that records every violation the policy
    reports (window.__violations), with the site served from its files."""
    context = browser.new_context()
    context.add_init_script(LISTEN)
    serve_site_offline(context, site, SAMPLE_SITEURL_PROD)
    return context, context.new_page()


def test_no_page_type_breaks_its_own_policy(browser, indexed_site):
    page_files(indexed_site)
    found = {}
    console = []
    context, page = policed_page(browser, indexed_site)
    try:
        page.on(
            "console",
            lambda m: (
                console.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        for kind, name in PAGE_TYPES.items():
            query = "?q=peer+support" if kind == "search" else ""
            page.goto(f"{SAMPLE_SITEURL_PROD}/{name}{query}")
            if kind == "search":
                # The results come from the WebAssembly index.
                page.wait_for_selector("[data-lab-search-results] li", timeout=20_000)
            page.wait_for_load_state("networkidle")
            found[kind] = page.evaluate("window.__violations")
            assert page.evaluate(
                "document.querySelector('meta[http-equiv]').content"
            ).startswith("default-src 'none'")
    finally:
        context.close()
    assert {kind: v for kind, v in found.items() if v} == {}
    assert console == []
    assert len(found) == len(PAGE_TYPES)


def test_the_policy_does_block_what_it_does_not_allow(browser, indexed_site):
    """The check above can see a violation: a page given a script from
    another host and an inline style reports both."""
    page_path = indexed_site / "about/index.html"
    original = page_path.read_text(encoding="utf-8")
    broken = original.replace(
        "</body>",
        '<script src="https://cdn.example/x.js"></script>'
        '<p style="color: red">x</p></body>',
    )
    page_path.write_text(broken, encoding="utf-8")
    context, page = policed_page(browser, indexed_site)
    try:
        page.goto(f"{SAMPLE_SITEURL_PROD}/about/")
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__violations")
    finally:
        context.close()
        page_path.write_text(original, encoding="utf-8")
    assert any(v.startswith("script-src") and "cdn.example" in v for v in violations)
    assert any(v.startswith("style-src") for v in violations), violations
