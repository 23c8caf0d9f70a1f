"""A bounded load test of the endpoint on 127.0.0.1, and the helpers the tests
use to run a real server.

    python -m lab_comments.loadtest [--submissions 1000] [--clients 50] [--runs 1]

Starts `lab_comments.cli serve` (waitress) on a free port with a throw-away
queue and manifest and the rate limit raised, sends `--submissions` distinct
comments from `--clients` concurrent keep-alive connections (LoadGenerator:
one thread, requests encoded beforehand), stops the server, then reads the
queue back. Prints throughput, latency percentiles, the server process's CPU
time per accepted comment (from /proc) and the generator's, and whether
issue 15's target was met (figures only: they never decide the exit status).
Fails (exit 1) if an answer is not the 303 back to the post, or a comment so
answered is missing or any comment is stored twice. With `--runs`, runs
again and shows the run of median throughput in full. Only ever connects to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
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
    path: Path,
    siteurl: str,
    posts: Mapping[str, dict],
    staff: Sequence[str] = (),
    challenges: Sequence[str] | None = None,
) -> None:
    """A manifest like the build's, for a server without a site."""
    path.write_bytes(manifest_data(siteurl, posts, staff, challenges))


def manifest_data(
    siteurl: str,
    posts: Mapping[str, dict],
    staff: Sequence[str] = (),
    challenges: Sequence[str] | None = None,
) -> bytes:
    """The bytes of a manifest like the build's (each post open, no comments,
    unless its entry in `posts` says otherwise; challenges listed only when
    given, as in a manifest from before they were)."""
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
    if challenges is not None:
        data["challenges"] = sorted(challenges)
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
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Terminate a child process and wait for it; killed if it lingers."""
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


# The target for `make comments-load-test` (issue 15): accepted
# comments a second at TARGET_CLIENTS clients, with the 95th percentile of
# the answers' times under TARGET_P95 seconds.
TARGET_THROUGHPUT = 500
TARGET_CLIENTS = 50
TARGET_P95 = 0.2


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
    # The numbers of the comments answered with the 303 of a stored one.
    accepted: list[int] = field(default_factory=list)
    # Processor time (user, system) in seconds while the comments were sent:
    # the server's process (None where /proc cannot say) and this one's.
    server_cpu: tuple[float, float] | None = None
    client_cpu: float = 0.0

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

    def per_comment_ms(self, seconds: float) -> float:
        return seconds / self.acknowledged * 1000 if self.acknowledged else 0.0

    def target(self) -> str:
        """Whether the issue's target was met by this run (a figure of this
        machine at this minute, not a judgement of the code)."""
        if self.clients != TARGET_CLIENTS:
            return f"not judged (the target is for {TARGET_CLIENTS} clients)"
        met = (
            self.ok
            and self.throughput >= TARGET_THROUGHPUT
            and self.percentile(95) < TARGET_P95
        )
        return (
            f"{TARGET_THROUGHPUT} comments/s, p95 under "
            f"{TARGET_P95 * 1000:.0f} ms: {'met' if met else 'NOT met'}"
        )

    def lines(self) -> list[str]:
        if self.server_cpu is None:
            server = "not measured (no /proc on this system)"
        else:
            user, system = self.server_cpu
            server = (
                f"{self.per_comment_ms(user + system):.3f} ms per accepted comment "
                f"(user {self.per_comment_ms(user):.3f}, system "
                f"{self.per_comment_ms(system):.3f})"
            )
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
            f"server CPU       {server}",
            f"client CPU       {self.per_comment_ms(self.client_cpu):.3f} ms per "
            "accepted comment (this process: the load generator)",
            f"target           {self.target()}",
        ]


LOAD_POST = "load-test"
MARKER = "Load test comment number "
# Where every accepted comment is sent back to (the manifest's post URL).
LOAD_LOCATION = f"http://{HOST}/updates/{LOAD_POST}/#comment-pending"
# The longest a request may wait for its answer before it counts as failed.
REQUEST_TIMEOUT = 30.0


def process_cpu(pid: int) -> tuple[float, float] | None:
    """(user, system) processor seconds of a process so far, from
    /proc/<pid>/stat; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    # utime and stime: fields 14 and 15 of proc(5), 12 and 13 after the name.
    return int(fields[11]) / tick, int(fields[12]) / tick


def load_requests(port: int, submissions: int, clients: int) -> list[bytes]:
    """Every request, whole and encoded before the clock starts, so that the
    load generator spends its time on the sockets alone."""
    requests = []
    for index in range(submissions):
        number = index % clients
        body = form_body(
            {
                "post": LOAD_POST,
                "name": f"Client {number}",
                "email": f"client-{number}@example.net",
                "body": f"{MARKER}{index}: testing, testing.",
            }
        )
        head = (
            "POST /comments HTTP/1.1\r\n"
            f"Host: {HOST}:{port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Origin: http://{HOST}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode("ascii") + body)
    return requests


@dataclass
class _Client:
    """One keep-alive connection of the load generator and its request in
    flight."""

    sock: socket.socket | None = None
    index: int | None = None
    out: bytes = b""
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    started: float = 0.0


def parse_answer(data: bytes | bytearray) -> tuple[int, dict[str, str], int] | None:
    """(status, headers with lower-case names, length of the whole answer)
    once `data` holds a whole answer (headers and the Content-Length body),
    else None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(data[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    total = end + 4 + int(headers.get("content-length", "0"))
    return (status, headers, total) if len(data) >= total else None


class LoadGenerator:
    """Sends the comments over `clients` keep-alive connections at once, from
    one thread of this process: a selector loop over requests encoded
    beforehand, since the generator shares the machine's processors with the
    server and should take as little of them as it can. Every answer is
    checked: a 303 to the post's address, or it is a failure. Every request
    has a deadline, so a run always ends."""

    def __init__(self, server: Server, submissions: int, clients: int, report: Report):
        self.server = server
        self.report = report
        self.requests = load_requests(server.port, submissions, clients)
        self.waiting = iter(range(submissions))
        self.outstanding = submissions
        self.selector = selectors.DefaultSelector()
        self.clients = [_Client() for _ in range(min(clients, submissions))]

    def run(self) -> None:
        report = self.report
        before = process_cpu(self.server.process.pid)
        cpu_before = time.process_time()
        started = time.perf_counter()
        try:
            for client in self.clients:
                self.connect(client)
                self.start_next(client)
            next_check = started + 1.0
            while self.outstanding > 0:
                now = time.perf_counter()
                if now >= next_check:
                    next_check = now + 1.0
                    self.check_deadlines(now)
                for key, _ in self.selector.select(timeout=1.0):
                    self.ready(key.data)
        finally:
            report.seconds = time.perf_counter() - started
            report.client_cpu = time.process_time() - cpu_before
            after = process_cpu(self.server.process.pid)
            if before is not None and after is not None:
                report.server_cpu = (after[0] - before[0], after[1] - before[1])
            for client in self.clients:
                if client.sock is not None:
                    client.sock.close()
            self.selector.close()

    def connect(self, client: _Client) -> None:
        sock = socket.create_connection(
            (HOST, self.server.port), timeout=REQUEST_TIMEOUT
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        client.sock = sock
        self.selector.register(sock, selectors.EVENT_WRITE, client)

    def disconnect(self, client: _Client) -> None:
        self.selector.unregister(client.sock)
        client.sock.close()
        client.sock = None

    def start_next(self, client: _Client) -> None:
        client.index = next(self.waiting, None)
        client.received.clear()
        if client.index is None:
            self.disconnect(client)
            return
        client.out, client.sent = self.requests[client.index], 0
        client.started = time.perf_counter()
        self.selector.modify(client.sock, selectors.EVENT_WRITE, client)

    def ready(self, client: _Client) -> None:
        """A connection can be written to (the request's rest) or read."""
        try:
            if client.sent < len(client.out):
                client.sent += client.sock.send(client.out[client.sent :])
                if client.sent == len(client.out):
                    self.selector.modify(client.sock, selectors.EVENT_READ, client)
                return
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(client, str(exc))
            return
        if not data:
            self.fail(client, "the server closed the connection")
            return
        client.received += data
        whole = parse_answer(client.received)
        if whole is not None:
            self.answered(client, *whole[:2])

    def check_deadlines(self, now: float) -> None:
        for client in self.clients:
            if client.sock is not None and now - client.started > REQUEST_TIMEOUT:
                self.fail(client, "no answer in time")

    def fail(self, client: _Client, reason: str) -> None:
        self.outstanding -= 1
        self.report.failures.append(f"#{client.index}: {reason}")
        self.disconnect(client)
        self.connect(client)
        self.start_next(client)

    def answered(self, client: _Client, status: int, headers: dict[str, str]) -> None:
        report = self.report
        self.outstanding -= 1
        report.latencies.append(time.perf_counter() - client.started)
        location = headers.get("location")
        if status == 303 and location == LOAD_LOCATION:
            report.acknowledged += 1
            report.accepted.append(client.index)
        else:
            report.failures.append(
                f"#{client.index}: HTTP {status} to {location or 'nowhere'}"
            )
        if headers.get("connection", "").lower() == "close":
            self.disconnect(client)
            self.connect(client)
        self.start_next(client)


def submit_all(server: Server, submissions: int, clients: int, report: Report) -> None:
    """Send the comments (LoadGenerator) and note the figures in `report`."""
    LoadGenerator(server, submissions, clients, report).run()


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
        # Every comment answered as stored must be there, once.
        report.lost = sorted(set(report.accepted) - set(numbers))
        return report
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def run_loads(submissions: int, clients: int, runs: int) -> list[Report]:
    """`runs` load tests one after the other. Their queues are all removed at
    the end, not after each: a file system may make the files created just
    after many deletions slower to create (ext4 without a journal steps over
    recently freed inodes), which would slow each run after the first."""
    folder = Path(tempfile.mkdtemp(prefix="lab-comments-load-"))
    try:
        reports = []
        for number in range(runs):
            workdir = folder / f"run-{number + 1}"
            workdir.mkdir()
            reports.append(run_load(submissions, clients, workdir))
        return reports
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab_comments.loadtest")
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="runs one after the other; the run of median throughput is shown",
    )
    args = parser.parse_args(argv)
    reports = run_loads(args.submissions, args.clients, max(1, args.runs))
    if len(reports) > 1:
        for number, run in enumerate(reports, start=1):
            cpu = sum(run.server_cpu) if run.server_cpu else None
            server = (
                "" if cpu is None else f", server CPU {run.per_comment_ms(cpu):.3f} ms"
            )
            print(
                f"run {number}: {run.throughput:.1f} submissions/s, p95 "
                f"{run.percentile(95) * 1000:.1f} ms{server}"
            )
        print("The run of median throughput:")
    report = sorted(reports, key=lambda r: r.throughput)[len(reports) // 2]
    print("\n".join(report.lines()))
    for failure in [f for run in reports for f in run.failures][:10]:
        print(f"  {failure}")
    ok = all(run.ok for run in reports)
    print("OK: nothing lost, nothing duplicated." if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
