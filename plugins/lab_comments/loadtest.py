"""A bounded load test of the endpoint on 127.0.0.1, and the helpers the tests
use to run a real server.

    python -m lab_comments.loadtest [--submissions 1000] [--clients 50]

Starts `lab_comments.cli serve` (waitress) on a free port with a throw-away
queue and manifest and the rate limit raised, sends `--submissions` distinct
comments from `--clients` concurrent connections, stops the server, then reads
the queue back. Prints throughput and latency percentiles (figures only: they
are not judged), and fails (exit 1) if any acknowledged comment is missing or
any comment is stored twice. Only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from .store import load_yaml

HOST = "127.0.0.1"
PLUGINS_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def write_manifest(
    path: Path, siteurl: str, posts: Mapping[str, dict], staff: Sequence[str] = ()
) -> None:
    """A manifest like the build's, for a server without a site."""
    path.write_bytes(manifest_data(siteurl, posts, staff))


def manifest_data(
    siteurl: str, posts: Mapping[str, dict], staff: Sequence[str] = ()
) -> bytes:
    """The bytes of a manifest like the build's (each post open, no comments,
    unless its entry in `posts` says otherwise)."""
    entries = {
        slug: {
            "url": f"{siteurl}/updates/{slug}/",
            "open": True,
            "closes": None,
            "comments": [],
            **entry,
        }
        for slug, entry in posts.items()
    }
    data = {"version": 1, "siteurl": siteurl, "posts": entries, "staff": list(staff)}
    return json.dumps(data, indent=2).encode("utf-8")


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextlib.contextmanager
def running_server(
    environ: Mapping[str, str],
    log: Path,
    threads: int = 8,
    timeout: float = 30,
    port: int | None = None,
    *,
    python: str = sys.executable,
    module: str = "lab_comments.cli",
) -> Iterator[Server]:
    """`python -m module serve` (`lab_comments.cli serve`) in a child process
    on 127.0.0.1 (a free port unless given), ready when this yields (GET
    /health answered); stopped (and waited for) on exit."""
    port = port or free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PLUGINS_DIR),
        **environ,
    }
    command = [
        *(python, "-m", module, "serve"),
        *("--host", HOST, "--port", str(port), "--threads", str(threads)),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
            command, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(port, process, log)
    try:
        wait_until_up(server, timeout)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_until_up(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                "the endpoint stopped: " + server.log.read_text(errors="replace")
            )
        try:
            connection = http.client.HTTPConnection(HOST, server.port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the endpoint did not start in time")
        time.sleep(0.1)


def form_body(fields: Mapping[str, str]) -> bytes:
    return urlencode(fields).encode("ascii")


@dataclass
class Report:
    submissions: int
    clients: int
    acknowledged: int = 0
    stored: int = 0
    lost: list[int] = field(default_factory=list)
    duplicated: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated and not self.failures

    def lines(self) -> list[str]:
        return [
            f"submissions      {self.submissions} from {self.clients} concurrent "
            "clients",
            f"acknowledged     {self.acknowledged} (303 See Other)",
            f"stored           {self.stored} in the queue",
            f"lost             {len(self.lost)}",
            f"duplicated       {self.duplicated}",
            f"failed requests  {len(self.failures)}",
            f"elapsed          {self.seconds:.2f} s",
            f"throughput       {self.throughput:.1f} submissions/s",
            f"latency p50      {self.percentile(50) * 1000:.1f} ms",
            f"latency p95      {self.percentile(95) * 1000:.1f} ms",
            f"latency max      {max(self.latencies, default=0) * 1000:.1f} ms",
        ]


LOAD_POST = "load-test"
MARKER = "Load test comment number "


def submit_all(server: Server, submissions: int, clients: int, report: Report) -> None:
    """Send the comments from `clients` threads, each on its own keep-alive
    connection; every request has a timeout, so this always ends."""
    counter = iter(range(submissions))
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            body = form_body(
                {
                    "post": LOAD_POST,
                    "name": f"Client {number}",
                    "email": f"client-{number}@example.net",
                    "body": f"{MARKER}{index}: testing, testing.",
                }
            )
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": "http://127.0.0.1",
            }
            started = time.perf_counter()
            try:
                connection.request("POST", "/comments", body, headers)
                response = connection.getresponse()
                response.read()
            except OSError as exc:
                connection.close()
                connection = http.client.HTTPConnection(HOST, server.port, timeout=30)
                with lock:
                    report.failures.append(f"#{index}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            with lock:
                report.latencies.append(elapsed)
                if response.status == 303:
                    report.acknowledged += 1
                else:
                    report.failures.append(f"#{index}: HTTP {response.status}")
        connection.close()

    workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    report.seconds = time.perf_counter() - started


def stored_numbers(queue: Path) -> list[int]:
    """The number in each stored load-test comment (every file must parse)."""
    numbers = []
    for path in sorted((queue / "pending").glob("*.yaml")):
        record = load_yaml(path.read_bytes())
        body = record["body"]
        numbers.append(int(body[len(MARKER) :].split(":")[0]))
    return numbers


def run_load(submissions: int, clients: int, workdir: Path | None = None) -> Report:
    """The whole load test; the queue and manifest live in `workdir` (a new
    temporary folder, removed afterwards, when not given)."""
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="lab-comments-load-")) if own else workdir
    try:
        manifest = folder / "manifest.json"
        write_manifest(manifest, "http://127.0.0.1", {LOAD_POST: {}})
        queue = folder / "queue"
        environ = {
            "LAB_COMMENTS_QUEUE": str(queue),
            "LAB_COMMENTS_MANIFEST": str(manifest),
            "LAB_COMMENTS_RATE_LIMIT": str(submissions * 2 + 10),
            "LAB_COMMENTS_POST_HOURLY": str(submissions * 2 + 10),
            "LAB_COMMENTS_MAX_PENDING": str(submissions * 2 + 10),
            # Every client is on 127.0.0.1: one address, so one client to the
            # endpoint's connection limits (lab_comments.server).
            "LAB_COMMENTS_CLIENT_CONNECTIONS": str(clients),
            "LAB_COMMENTS_MAX_CONNECTIONS": str(max(100, clients)),
            "LAB_COMMENTS_SECRET": "load-test-" + "k" * 40,
        }
        report = Report(submissions, clients)
        with running_server(environ, folder / "server.log", threads=8) as server:
            submit_all(server, submissions, clients, report)
        numbers = stored_numbers(queue)
        report.stored = len(numbers)
        report.duplicated = len(numbers) - len(set(numbers))
        report.lost = sorted(set(range(submissions)) - set(numbers))
        return report
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab_comments.loadtest")
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args(argv)
    report = run_load(args.submissions, args.clients)
    print("\n".join(report.lines()))
    for failure in report.failures[:10]:
        print(f"  {failure}")
    print("OK: nothing lost, nothing duplicated." if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
