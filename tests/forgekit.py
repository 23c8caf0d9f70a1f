"""Helpers for the delivery-by-pull-request tests: a real bare git
repository made by the test (the site's repository, reached by file://), and
a fake forge API: a small WSGI app served by a real threaded server on
127.0.0.1 that keeps pull requests and labels, records every call, and can
be told to answer a call with a fault (a status, a Retry-After, a hang past
the client's timeout, an empty list, or the right answer lost after the
work was done)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

TOKEN = "forge-token-" + "t" * 28
OWNER, NAME = "lab", "site"
REPO = f"{OWNER}/{NAME}"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        timeout=30,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return done.stdout.decode("utf-8", "replace").strip()


def site_repository(folder: Path) -> Path:
    """A bare repository with a main branch of one commit (a README and the
    comments folder), as the Lab's site repository would have."""
    bare = folder / "site.git"
    work = folder / "site-work"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git("init", "--quiet", "--initial-branch=main", str(work))
    (work / "README.md").write_text("The site.\n")
    (work / "content" / "comments").mkdir(parents=True)
    (work / "content" / "comments" / ".keep").write_text("")
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "The site", cwd=work)
    git("push", "--quiet", str(bare), "main", cwd=work)
    return bare


def remote_branches(bare: Path) -> dict[str, str]:
    out = git(f"--git-dir={bare}", "for-each-ref", "--format=%(refname) %(objectname)")
    return {
        ref.removeprefix("refs/heads/"): sha
        for ref, sha in (line.split(" ") for line in out.splitlines())
    }


def refuse_pushes(bare: Path, refuse: bool = True) -> None:
    """A pre-receive hook that refuses every push (or none)."""
    hook = bare / "hooks" / "pre-receive"
    if refuse:
        hook.write_text("#!/bin/sh\necho 'pushes are closed today' >&2\nexit 1\n")
        hook.chmod(0o755)
    else:
        hook.unlink(missing_ok=True)


@dataclass
class Fault:
    """How to answer the next call that matches `method` and `path` (a
    path's start, after /repos/owner/name): with `status` (and `headers`),
    after `hang` seconds (or until released), or, with `after`, do the work
    first and then hang or fail (the answer is lost)."""

    method: str
    path: str
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    hang: float = 0.0
    after: bool = False
    body: Any = None
    times: int = 1
    # Declare a longer answer than is sent, then close (a cut connection).
    cut: bool = False


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str


class FakeForge:
    """The GitHub-shaped calls delivery makes: list pulls (by head), open a
    pull, label an issue, get a pull."""

    def __init__(self, token: str = TOKEN, gitea: bool = False):
        self.token = token
        # Gitea's and Forgejo's shape: the list ignores `head` (and here
        # shows nothing, as if the pull request were on a later page), and
        # GET /pulls/{base}/{head} finds one.
        self.gitea = gitea
        self.pulls: dict[int, dict[str, Any]] = {}
        self.labels: dict[int, list[str]] = {}
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.called = threading.Condition(self.lock)
        self.release = threading.Event()
        self.origin = ""

    # -- what the tests look at

    def fault(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def wait_for(self, test: Callable[[FakeForge], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self.called:
            while not test(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the forge did not see it: {self.calls}")
                self.called.wait(min(left, 0.05))

    def count(self, method: str, path: str) -> int:
        return sum(1 for c in self.calls if c.method == method and c.path == path)

    # -- the WSGI app

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = json.loads(raw) if raw else None
        call = Call(method, path, query, body, environ.get("HTTP_AUTHORIZATION", ""))
        prefix = f"/repos/{OWNER}/{NAME}"
        with self.called:
            self.calls.append(call)
            self.called.notify_all()
            fault = None
            for candidate in self.faults:
                if candidate.method == method and path.startswith(
                    prefix + candidate.path
                ):
                    fault = candidate
                    candidate.times -= 1
                    if candidate.times <= 0:
                        self.faults.remove(candidate)
                    break
        if fault and not fault.after:
            self._hang(fault)
            if fault.cut:
                start_response(
                    "200 OK",
                    [("Content-Type", "application/json"), ("Content-Length", "999")],
                )
                return [b'{"number": ']
            if fault.status:
                return self._answer(
                    start_response, fault.status, fault.body, fault.headers
                )
        if call.authorization != f"token {self.token}":
            return self._answer(start_response, 401, {"message": "Bad credentials"})
        if not path.startswith(prefix):
            return self._answer(start_response, 404, {"message": "Not Found"})
        status, answer = self.route(method, path[len(prefix) :], query, body)
        if fault and fault.after:
            self._hang(fault)
            if fault.status:
                return self._answer(
                    start_response, fault.status, fault.body, fault.headers
                )
        return self._answer(start_response, status, answer)

    def _hang(self, fault: Fault) -> None:
        if fault.hang:
            self.release.wait(fault.hang)

    def route(self, method, path, query, body) -> tuple[int, Any]:
        with self.lock:
            if method == "GET" and path == "/pulls" and self.gitea:
                return 200, []
            if method == "GET" and path == "/pulls":
                head = query.get("head", [""])[0]
                found = [
                    p
                    for p in self.pulls.values()
                    if f"{OWNER}:{p['head']['ref']}" == head or not head
                ]
                return 200, found
            if method == "POST" and path == "/pulls":
                if any(
                    p["head"]["ref"] == body["head"] and p["state"] == "open"
                    for p in self.pulls.values()
                ):
                    return 422, {
                        "message": "Validation Failed",
                        "errors": [{"message": "A pull request already exists"}],
                    }
                number = len(self.pulls) + 1
                pull = {
                    "number": number,
                    "html_url": f"{self.origin}/{REPO}/pull/{number}",
                    "state": "open",
                    "merged": False,
                    "title": body["title"],
                    "body": body["body"],
                    "head": {"ref": body["head"]},
                    "base": {"ref": body["base"]},
                }
                self.pulls[number] = pull
                return 201, pull
            if method == "POST" and path.startswith("/issues/"):
                number = int(path.split("/")[2])
                if number not in self.pulls:
                    return 404, {"message": "Not Found"}
                self.labels.setdefault(number, [])
                self.labels[number] += [
                    x for x in body["labels"] if x not in self.labels[number]
                ]
                return 200, [{"name": x} for x in self.labels[number]]
            if method == "GET" and path.startswith("/pulls/"):
                parts = path.split("/", 3)  # "", "pulls", base or number, head
                base, head = parts[2], parts[3] if len(parts) == 4 else ""
                if head:
                    if not self.gitea:
                        return 404, {"message": "Not Found"}
                    for p in self.pulls.values():
                        if (p["base"]["ref"], p["head"]["ref"]) == (base, head):
                            return 200, p
                    return 404, {"message": "Not Found"}
                number = int(path.split("/")[2])
                if number not in self.pulls:
                    return 404, {"message": "Not Found"}
                return 200, self.pulls[number]
        return 404, {"message": "Not Found"}

    def close(self, number: int, merged: bool) -> None:
        with self.lock:
            self.pulls[number].update(state="closed", merged=merged)

    @staticmethod
    def _answer(start_response, status, body, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        start_response(
            f"{status} Status",
            [("Content-Type", "application/json"), *headers],
        )
        return [data]


class _ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def served_forge(forge: FakeForge | None = None) -> Iterator[FakeForge]:
    """The fake forge on 127.0.0.1 (a free port); `forge.origin` is its URL."""
    forge = forge or FakeForge()
    server = make_server(
        "127.0.0.1", 0, forge, server_class=_ThreadedServer, handler_class=_Quiet
    )
    forge.origin = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield forge
    finally:
        forge.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def delivery_environment(bare: Path, forge: FakeForge, **more: str) -> dict[str, str]:
    """The endpoint's environment for pull-request delivery to `bare` and
    `forge`, with short waits (tests are bounded in time)."""
    return {
        "LAB_COMMENTS_DELIVERY": "pull-request",
        "LAB_COMMENTS_GIT_REMOTE": f"file://{bare}",
        "LAB_COMMENTS_FORGE_API": forge.origin,
        "LAB_COMMENTS_FORGE_REPO": REPO,
        "LAB_COMMENTS_FORGE_TOKEN": forge.token,
        "LAB_COMMENTS_RETRY_SECONDS": "0.2",
        "LAB_COMMENTS_RETRY_MAX_SECONDS": "1",
        "LAB_COMMENTS_FORGE_TIMEOUT": "5",
        "LAB_COMMENTS_GIT_TIMEOUT": "30",
        **more,
    }


class GitOverHttp:
    """`git http-backend` (CGI) behind a WSGI app that asks for the token
    as HTTP basic authentication, as a forge's git service does: the smart
    HTTP protocol, for fetch and push, on 127.0.0.1."""

    def __init__(self, root: Path, user: str, token: str):
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode(
            "ascii"
        )
        self.refused = 0

    def __call__(self, environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != self.expected:
            self.refused += 1
            start_response(
                "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')]
            )
            return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length) if length else b""
        cgi = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "endpoint",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", ""),
            "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"],
            input=data,
            capture_output=True,
            env=cgi,
            timeout=30,
            check=False,
        )
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, body = done.stdout.partition(b"\n\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start_response(status, headers)
        return [body]


@contextlib.contextmanager
def served_git(root: Path, user: str, token: str) -> Iterator[str]:
    """GitOverHttp on 127.0.0.1; yields its base URL."""
    app = GitOverHttp(root, user, token)
    server = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadedServer, handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def git_argv_logger(folder: Path) -> tuple[Path, Path]:
    """A `git` that logs its arguments and runs the real one: (the folder
    to put first on PATH, the log)."""
    real = shutil.which("git")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "argv.log"
    wrapper = folder / "git"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return folder, log
