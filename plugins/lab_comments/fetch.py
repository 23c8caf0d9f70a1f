"""The endpoint fetches the build's manifest (and its answer shell) from the
live site itself, instead of a timer beside it.

With LAB_COMMENTS_MANIFEST_URL set (https://lab.example.org/comments-manifest.json),
`serve` starts a thread (`Fetcher`) that every LAB_COMMENTS_MANIFEST_EVERY
seconds asks the site for the manifest, and for the answer shell
(LAB_COMMENTS_ANSWER_SHELL_URL, by default comments-answer.shell beside the
manifest's URL), with the validators of the last answer (If-None-Match,
If-Modified-Since), so that an unchanged file costs a 304. A new file replaces
the local one (LAB_COMMENTS_MANIFEST, LAB_COMMENTS_ANSWER_SHELL) only when it
is whole and the endpoint can use it: checked by the same readers the
endpoint uses (`endpoint.parse_manifest` and `parse_staff`,
`answer.shell_problem`), no bigger than a cap, received within a deadline,
then written atomically (`lab_common.files.atomic_write`). The endpoint
re-reads a file when its stamp changes, so it takes the new one at its next
request. A failed fetch (no answer, an error status, a malformed, truncated,
oversized or too slow file) leaves the last good file in place and logs one
line, once until a fetch works again.

Standard library only (urllib): the endpoint's requirements stay small.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from lab_common.files import TEMP_PREFIX, atomic_write

from . import answer
from .endpoint import Config, ManifestError, parse_manifest, parse_staff

logger = logging.getLogger(__name__)

# The manifest lists every published post and the id of every approved
# comment (about 30 bytes each): 16 MiB is hundreds of thousands of them.
MANIFEST_MAX_BYTES = 16 * 1024 * 1024
# The shell is one page of the site's layout, without its content.
SHELL_MAX_BYTES = 1024 * 1024
# Seconds for the connection and for each read (urllib's timeout) ...
TIMEOUT = 10.0
# ... and for the whole answer, however steadily it trickles.
DEADLINE = 30.0
USER_AGENT = "lab-comments-endpoint (manifest fetch)"
UNEXPECTED = "unexpected error"


class HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects within http(s) only (urllib's own also follows ftp:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917 (urllib's)
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


OPENER = urllib.request.build_opener(HttpOnlyRedirects)


class FetchRefused(Exception):
    """A fetched file that must not replace the local one; says why."""


def manifest_problem(data: bytes) -> str:
    """Why `data` is no manifest the endpoint can use ("" if it is one)."""
    try:
        parse_manifest(data)
        parse_staff(data)
    except ManifestError as exc:
        return str(exc)
    return ""


def shell_problem(data: bytes) -> str:
    """Why `data` is no answer shell the endpoint can use ("" if it is one)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8"
    return answer.shell_problem(text)


def shell_url(manifest_url: str) -> str:
    """The answer shell's default address: the build writes it beside the
    manifest (LAB_COMMENTS_ANSWER_SAVE_AS's default)."""
    return urljoin(manifest_url, "comments-answer.shell")


@dataclass
class Source:
    """One file fetched: from `url` to `path`, if `problem` finds none."""

    url: str
    path: Path
    problem: Callable[[bytes], str]
    max_bytes: int
    # The last answer's validators, sent back with the next request.
    etag: str = ""
    last_modified: str = ""
    # What the last fetch found wrong ("" when it worked): logged on change.
    trouble: str = field(default="", repr=False)


class Fetcher:
    """Fetches each source now and then every `every` seconds (`start`), or
    once (`fetch_all`); `timeout` and `deadline` as TIMEOUT and DEADLINE."""

    def __init__(
        self,
        sources: list[Source],
        every: float,
        *,
        timeout: float = TIMEOUT,
        deadline: float = DEADLINE,
    ):
        self.sources = sources
        self.every = every
        self.timeout = timeout
        self.deadline = deadline
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        for source in self.sources:
            # What a crash between writing and renaming left behind.
            for leftover in source.path.parent.glob(
                f"{TEMP_PREFIX}{source.path.name}.*"
            ):
                leftover.unlink(missing_ok=True)
        self.thread = threading.Thread(
            target=self.run, name="lab-comments-fetch", daemon=True
        )
        self.thread.start()
        return self.thread

    def run(self) -> None:
        while True:
            self.fetch_all()
            if self.stop.wait(self.every):
                return

    def fetch_all(self) -> list[str]:
        """Fetch every source once; what became of each ("updated",
        "unchanged", or why it was refused)."""
        return [self.fetch(source) for source in self.sources]

    def fetch(self, source: Source) -> str:
        try:
            outcome = self._fetch(source)
        except FetchRefused as exc:
            outcome = str(exc)
            if outcome != source.trouble:
                logger.warning(
                    "comments endpoint: %s not taken (%s); keeping %s as it is",
                    source.url,
                    outcome,
                    source.path,
                )
            source.trouble = outcome
            return outcome
        except Exception:
            # The thread must outlive anything unexpected, or the endpoint
            # would quietly keep an old manifest for ever.
            if source.trouble != UNEXPECTED:
                logger.exception("comments endpoint: fetching %s failed", source.url)
            source.trouble = UNEXPECTED
            return source.trouble
        if source.trouble:
            logger.info("comments endpoint: %s fetched again", source.url)
        source.trouble = ""
        return outcome

    def _fetch(self, source: Source) -> str:
        headers = {"User-Agent": USER_AGENT}
        # Validators only while the file they describe is here.
        if source.path.exists():
            if source.etag:
                headers["If-None-Match"] = source.etag
            if source.last_modified:
                headers["If-Modified-Since"] = source.last_modified
        request = urllib.request.Request(source.url, headers=headers)  # noqa: S310 (http(s) only: config_from_env)
        try:
            with OPENER.open(request, timeout=self.timeout) as response:
                data = self._read(response, source.max_bytes)
                etag = response.headers.get("ETag", "")
                last_modified = response.headers.get("Last-Modified", "")
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 304:
                return "unchanged"
            raise FetchRefused(f"HTTP {exc.code}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # No answer, a refused connection, a timeout, a broken answer.
            cause = getattr(exc, "reason", exc)
            name = type(cause if isinstance(cause, BaseException) else exc).__name__
            raise FetchRefused(f"no usable answer ({name})") from None
        problem = source.problem(data)
        if problem:
            raise FetchRefused(problem)
        source.etag, source.last_modified = etag, last_modified
        try:
            if source.path.read_bytes() == data:
                return "unchanged"
        except OSError:
            pass
        source.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(source.path, data, mode=0o644)
        logger.info(
            "comments endpoint: took a new %s from %s (%d bytes)",
            source.path.name,
            source.url,
            len(data),
        )
        return "updated"

    def _read(self, response, max_bytes: int) -> bytes:
        """The whole body, or FetchRefused: over `max_bytes` (declared or
        sent), or not all of it within the deadline."""
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise FetchRefused(f"over {max_bytes} bytes ({declared} declared)")
        ends = time.monotonic() + self.deadline
        chunks: list[bytes] = []
        size = 0
        while True:
            # read1: at most one read from the socket, so that the deadline
            # is checked however slowly the bytes come.
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchRefused(f"over {max_bytes} bytes")
            chunks.append(chunk)
            if time.monotonic() > ends:
                raise FetchRefused(f"not received within {self.deadline:g} seconds")
        # A connection closed early ends read1 quietly: count what came.
        if declared is not None and declared.isdigit() and size != int(declared):
            raise FetchRefused(f"truncated ({size} of {declared} bytes)")
        return b"".join(chunks)


def fetcher_from_config(config: Config) -> Fetcher | None:
    """The Fetcher the settings ask for (None without a manifest URL)."""
    if not config.manifest_url:
        return None
    sources = [
        Source(
            config.manifest_url, config.manifest, manifest_problem, MANIFEST_MAX_BYTES
        )
    ]
    if config.answer_shell is not None and config.answer_shell_url != "none":
        url = config.answer_shell_url or shell_url(config.manifest_url)
        sources.append(Source(url, config.answer_shell, shell_problem, SHELL_MAX_BYTES))
    return Fetcher(sources, config.manifest_every)
