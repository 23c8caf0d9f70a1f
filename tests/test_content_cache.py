"""Pelican's content cache with our reader: used while the reader is the
same, dropped when our code or the settings the reader uses change."""

from __future__ import annotations

import pickle

from conftest import SAMPLE_SITEURL_DEV, build, parse_html

POST = "posts/2025-05-22-what-the-evidence-says.md"
PAGE = "updates/2025/what-the-evidence-says/index.html"
MARKER = "Text that only the cache holds."


def cached_build(output, content, cache, **overrides):
    build(
        "pelicanconf.py", output, path=content, SITEURL=SAMPLE_SITEURL_DEV,
        CACHE_PATH=str(cache), CACHE_CONTENT=True, LOAD_CONTENT_CACHE=True,
        GZIP_CACHE=False, **overrides,
    )  # fmt: skip


def plant_in_cache(cache) -> None:
    """Change what the cache says the reader made of POST (its stamp, the
    file's time, stays right, so Pelican trusts it)."""
    path = cache / "ArticlesGenerator-Readers"
    with open(path, "rb") as handle:
        data = pickle.load(handle)  # noqa: S301 - the cache this test just built
    key = next(k for k in data if k.endswith(POST))
    stamp, (_html, metadata) = data[key]
    data[key] = (stamp, (f"<p>{MARKER}</p>", metadata))
    with open(path, "wb") as handle:
        pickle.dump(data, handle)


def page_text(output) -> str:
    return "".join(parse_html(output / PAGE).find(".//main").itertext())


def test_the_cache_is_used_while_the_reader_is_the_same(tmp_path, site_copy):
    output, cache = tmp_path / "out", tmp_path / "cache"
    cached_build(output, site_copy, cache)
    plant_in_cache(cache)
    cached_build(output, site_copy, cache)
    assert MARKER in page_text(output)


def test_a_change_to_what_the_reader_uses_drops_the_cache(tmp_path, site_copy):
    output, cache = tmp_path / "out", tmp_path / "cache"
    cached_build(output, site_copy, cache)
    plant_in_cache(cache)
    cached_build(output, site_copy, cache, LAB_RELATED_LIMIT=2)
    assert MARKER not in page_text(output)
    assert "We are six weeks into research and discovery" in page_text(output)
