"""The server the Lighthouse gate measures pages through (tests/statichost.py)
answers as the Lab's host does: the statuses, types, compression and cache
lifetimes that README documents for it."""

from __future__ import annotations

import gzip
import http.client

import pytest
from statichost import IMMUTABLE, SHORT, StaticHost

PAGE = "<!doctype html><title>Home</title>" + "<p>words " * 200
MISSING = "<!doctype html><title>Not found</title>"


@pytest.fixture
def host(tmp_path):
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "404.html").write_text(MISSING, encoding="utf-8")
    (tmp_path / "updates").mkdir()
    (tmp_path / "updates" / "index.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "theme" / "css").mkdir(parents=True)
    (tmp_path / "theme" / "css" / "main.0123456789.css").write_text("p{}" * 100)
    (tmp_path / "theme" / "images").mkdir()
    (tmp_path / "theme" / "images" / "logo.png").write_bytes(b"\x89PNG" * 100)
    (tmp_path / "pagefind").mkdir()
    (tmp_path / "pagefind" / "wasm.en.pagefind").write_bytes(b"\0" * 300)
    (tmp_path.parent / "secret.txt").write_text("outside the site")
    with StaticHost() as served:
        served.serve(tmp_path / ".." / tmp_path.name)
        yield served


def get(host, path, gzip_ok=True):
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    headers = {"Accept-Encoding": "gzip, deflate"} if gzip_ok else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return response, body


def test_pages_are_html_compressed_and_cached_briefly(host):
    response, body = get(host, "/")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert response.getheader("Content-Encoding") == "gzip"
    assert int(response.getheader("Content-Length")) < len(PAGE) / 5
    assert response.getheader("Cache-Control") == SHORT
    assert body.decode() == PAGE
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_without_gzip_in_the_request_the_body_is_plain(host):
    response, body = get(host, "/updates/", gzip_ok=False)
    assert response.getheader("Content-Encoding") is None
    assert int(response.getheader("Content-Length")) == len(PAGE.encode())
    assert body.decode() == PAGE


def test_hashed_bundles_are_cached_for_a_year(host):
    response, body = get(host, "/theme/css/main.0123456789.css")
    assert response.getheader("Content-Type") == "text/css; charset=utf-8"
    assert (
        response.getheader("Cache-Control")
        == IMMUTABLE
        == ("public, max-age=31536000, immutable")
    )
    assert body == b"p{}" * 100


def test_images_and_binary_index_files_are_not_compressed(host):
    image, _ = get(host, "/theme/images/logo.png")
    assert image.getheader("Content-Type") == "image/png"
    assert image.getheader("Content-Encoding") is None
    assert image.getheader("Cache-Control") == SHORT
    index, body = get(host, "/pagefind/wasm.en.pagefind")
    assert index.getheader("Content-Type") == "application/octet-stream"
    assert index.getheader("Content-Encoding") is None
    assert body == b"\0" * 300


def test_unknown_addresses_get_the_404_page_with_status_404(host):
    for path in ("/no-such-page/", "/theme/css/old.css", "/../secret.txt"):
        response, body = get(host, path)
        assert response.status == 404, path
        assert body.decode() == MISSING


def test_a_folder_without_its_slash_is_redirected(host):
    response, _ = get(host, "/updates")
    assert response.status == 301
    assert response.getheader("Location") == "/updates/"
