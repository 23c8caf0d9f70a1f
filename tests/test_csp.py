"""The pages' Content-Security-Policy (lab_common.csp) and referrer policy,
read from every page of a production build of the sample fixture site."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from conftest import SAMPLE_SITEURL_PROD, html_files, parse_html

from lab_common import csp

SITE_ORIGIN = SAMPLE_SITEURL_PROD


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} twice"
        parsed[name] = sources
    return parsed


def head_elements(tree):
    return list(tree.find("head"))


def test_every_page_carries_the_policy_first_and_a_referrer_policy(prod_site):
    output, _ = prod_site
    pages = html_files(output)
    assert len(pages) > 40
    for page in pages:
        head = head_elements(parse_html(page))
        where = page.relative_to(output)
        # charset, then the policy, before any element that loads anything.
        assert head[0].get("charset") == "utf-8", where
        assert head[1].get("http-equiv") == "Content-Security-Policy", where
        policy = directives(head[1].get("content"))
        assert policy["default-src"] == ["'none'"], where
        assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"], where
        assert policy["base-uri"] == ["'none'"] == policy["object-src"], where
        referrer = [e for e in head if e.get("name") == "referrer"]
        assert [e.get("content") for e in referrer] == [
            "strict-origin-when-cross-origin"
        ], where


def allowed(source_list: list[str], url: str, page_url: str) -> bool:
    absolute = urljoin(page_url, url)
    parts = urlsplit(absolute)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin == SITE_ORIGIN and "'self'" in source_list:
        return True
    return origin in source_list


def test_everything_a_page_loads_or_posts_to_is_allowed(prod_site):
    """Read from the markup: every script, stylesheet, image and form action
    of every page falls within the policy (the browser gate shows that
    Chromium reports no violation on each page type)."""
    output, _ = prod_site
    checked = 0
    for page in html_files(output):
        tree = parse_html(page)
        head = head_elements(tree)
        policy = directives(head[1].get("content"))
        name = page.relative_to(output).as_posix()
        page_url = f"{SITE_ORIGIN}/{name}"
        loads = [
            *(
                ("script-src", s.get("src"))
                for s in tree.iter("script")
                if s.get("src")
            ),
            *(("img-src", i.get("src")) for i in tree.iter("img")),
            *(
                ("style-src", link.get("href"))
                for link in tree.iter("link")
                if "stylesheet" in link.get("rel", "").split()
            ),
            *(("form-action", f.get("action")) for f in tree.iter("form")),
        ]
        for directive, url in loads:
            assert allowed(policy[directive], url, page_url), (name, directive, url)
            checked += 1
        # Nothing inline that the policy would block: no style attributes,
        # no script that runs (JSON-LD is data, which the policy leaves alone).
        assert not [e for e in tree.iter() if e.get("style") is not None], name
        assert not [
            s
            for s in tree.iter("script")
            if (s.text or "").strip()
            and s.get("type", "") not in ("application/ld+json",)
        ], name
    assert checked > 200


def test_the_comment_endpoint_is_the_only_other_form_action(prod_site):
    output, _ = prod_site
    tree = parse_html(output / "updates/2025/first-challenge/index.html")
    policy = directives(head_elements(tree)[1].get("content"))
    actions = {f.get("action") for f in tree.iter("form")}
    endpoint = [a for a in actions if a.startswith("https://comments.")] or [
        a for a in actions if "/comments" in a
    ]
    assert endpoint, actions
    assert policy["form-action"] == ["'self'", csp.origin(endpoint[0])]


def test_a_policy_collects_sources_once_each_in_order():
    context: dict = {}
    csp.allow(context, "form-action", "https://Comments.Example.org/comments")
    csp.allow(context, "form-action", "https://comments.example.org/other")
    text = str(csp.policy(context))
    assert "form-action 'self' https://comments.example.org;" in text
    assert text.startswith("default-src 'none'; script-src 'self' ")
    with pytest.raises(ValueError, match="frame-ancestors"):
        csp.policy(context).allow("frame-ancestors", "'none'")
    with pytest.raises(ValueError, match="not an http"):
        csp.allow(context, "img-src", "javascript:alert(1)")
