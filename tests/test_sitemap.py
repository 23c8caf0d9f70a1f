"""sitemap.xml and robots.txt as pure functions."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from lab_sitemap.sitemap import robots_txt, sitemap_xml

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def test_sitemap_is_valid_sorted_and_escaped():
    when = dt.datetime(2025, 4, 10, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    data = sitemap_xml(
        [
            ("https://lab.example.org/b/?q=1&r=2", None),
            ("https://lab.example.org/a/", when),
            ("https://lab.example.org/a/", when),
        ]
    )
    tree = etree.fromstring(data)
    assert tree.xpath("//s:loc/text()", namespaces=NS) == [
        "https://lab.example.org/a/",
        "https://lab.example.org/b/?q=1&r=2",
    ]
    assert tree.xpath("//s:lastmod/text()", namespaces=NS) == [
        "2025-04-10T09:30:00+01:00"
    ]
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_robots_names_the_sitemap():
    assert robots_txt("https://lab.example.org/sitemap.xml").splitlines() == [
        "User-agent: *",
        "Disallow:",
        "",
        "Sitemap: https://lab.example.org/sitemap.xml",
    ]
    assert "Disallow: /drafts/" in robots_txt("x", ["/drafts/"])
