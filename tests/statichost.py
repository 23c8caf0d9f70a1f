"""A built site served over HTTP on 127.0.0.1 the way the Lab's host serves it,
for the gates that measure pages as a reader's browser loads them (Lighthouse).

What it does, and why (README, "Quality gates"):

- The Lab publishes to GitHub Pages, which compresses text with gzip and
  answers an unknown address with the site's 404.html and status 404; so does
  this server (gzip only when the browser asks for it; images and the search
  index's binary files as they are, since compressing them gains nothing).
- Cache lifetimes are the ones README asks of a host: a year, immutable, for
  /theme/css/ and /theme/js/ (their names carry a hash of their content) and
  ten minutes, GitHub Pages' default, for everything else.
- It sends the two headers README asks a host that can send headers to add
  (`X-Content-Type-Options: nosniff`, `frame-ancestors 'none'`); the pages'
  own policy is their meta element, as on GitHub Pages.
- A folder's address without its slash is redirected to the slash (301), as
  GitHub Pages does; HTTP/1.1 with keep-alive, not HTTP/2 (no host the Lab
  would use is slower than that, so a page fast here is fast there).
"""

from __future__ import annotations

import gzip
import mimetypes
import socket
import threading
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "max-age=600"
HASHED_FOLDERS = ("/theme/css/", "/theme/js/")
# Types worth compressing: text of every kind, and WebAssembly.
COMPRESSIBLE = (
    "text/", "application/javascript", "application/json", "application/xml",
    "application/atom+xml", "application/rss+xml", "application/feed+json",
    "image/svg+xml", "application/wasm",
)  # fmt: skip
TYPES = {
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".atom": "application/atom+xml",
    ".ics": "text/calendar",
    ".webmanifest": "application/manifest+json",
}


def content_type(path: Path) -> str:
    kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    if path.name.endswith(".atom.xml"):
        kind = "application/atom+xml"
    elif path.name.endswith(".rss.xml"):
        kind = "application/rss+xml"
    kind = kind or "application/octet-stream"
    if kind.startswith("text/") or kind in TYPES.values() or kind.endswith("+xml"):
        kind += "; charset=utf-8"
    return kind


def cache_control(url_path: str) -> str:
    return IMMUTABLE if url_path.startswith(HASHED_FOLDERS) else SHORT


@lru_cache(maxsize=512)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    # mtime_ns keys the cache, so a file rewritten is compressed again.
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


class SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: Path  # set on the subclass StaticHost makes

    def log_message(self, format, *args):
        pass

    def do_HEAD(self):
        self.respond(body=False)

    def do_GET(self):
        self.respond(body=True)

    def locate(self, url_path: str) -> tuple[int, Path | None]:
        """The status and the file for an address; (301, None) for a folder
        named without its slash."""
        relative = unquote(url_path).lstrip("/")
        target = (self.site / relative).resolve()
        if not target.is_relative_to(self.site):
            return 404, None
        if target.is_dir():
            if not url_path.endswith("/"):
                return 301, None
            target = target / "index.html"
        return (200, target) if target.is_file() else (404, None)

    def respond(self, *, body: bool):
        url_path = urlsplit(self.path).path
        status, target = self.locate(url_path)
        if status == 301:
            self.send_response(301)
            self.send_header("Location", url_path + "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if target is None:
            target = self.site / "404.html"
        kind = content_type(target)
        stat = target.stat()
        accepts = self.headers.get("Accept-Encoding", "")
        compress = "gzip" in accepts and kind.startswith(COMPRESSIBLE)
        data = _gzipped(target, stat.st_mtime_ns) if compress else None
        if data is None:
            data = target.read_bytes()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache_control(url_path))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
        if compress:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        if body:
            self.wfile.write(data)


class StaticHost:
    """Serves a folder on 127.0.0.1 from a thread. The port is taken when the
    host is made, so that a site can be built for its address (`origin`)
    before `serve(site)` starts answering."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.server: ThreadingHTTPServer | None = None

    def serve(self, site: Path) -> StaticHost:
        handler = type("Handler", (SiteHandler,), {"site": site.resolve()})
        server = ThreadingHTTPServer(
            ("127.0.0.1", self.port), handler, bind_and_activate=False
        )
        server.socket.close()
        server.socket = self.socket
        server.daemon_threads = True
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def close(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        else:
            self.socket.close()

    def __enter__(self) -> StaticHost:
        return self

    def __exit__(self, *exc):
        self.close()
