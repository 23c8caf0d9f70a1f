"""Measure `comments-list` on a large queue (issue 15: 10,000 pending in
under 2 s; 1,023 took two minutes when each line read the queue again).

    PYTHONPATH=tests:plugins .venv/bin/python -m bench.comments_list \
        [--counts 1000,10000] [--runs 3] [--workdir .bench/comments-list]

For each count it fills a queue with that many pending comments (from 200
addresses, some with links, a few that cannot be read or rendered), then runs
`python -m lab_comments.cli list` in its own process, as the make target
does, `--runs` times, and prints the median wall time and CPU time (user +
system) of the process: on a machine shared with other work the CPU time is
what the listing itself costs. A benchmark, printed:
no test asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lab_comments import schema
from lab_comments.store import Queue, dump_yaml, fingerprint, keyed_hash

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-" + "s" * 40

BODIES = (
    "Thank you for this update. I care for my father and this matters to us.",
    "See [the report](https://example.org/report) and https://example.org/more.",
    "- one point\n- another point\n\n> a quote\n\n*emphasis* and `code`.",
)


def fill(queue_dir: Path, count: int) -> None:
    """`count` pending files, written directly (no fsync: the benchmark
    measures listing, not writing)."""
    if queue_dir.exists():
        shutil.rmtree(queue_dir)
    queue = Queue(queue_dir, SECRET.encode()).open()
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for number in range(count):
        now = start + dt.timedelta(seconds=number)
        body = BODIES[number % len(BODIES)] + f" ({number})"
        if number % 1000 == 999:
            body = "- " * 495 + "x"  # queued before the endpoint checked
        submission = schema.Submission(
            post="a-post",
            name=f"Reader {number}",
            email=f"reader{number % 500}@example.org",
            body=body,
        )
        comment_id = f"{now:%Y%m%d-%H%M%S}-{number:06x}"
        record = {
            "id": comment_id,
            "post": submission.post,
            "name": submission.name,
            "email": submission.email,
            "body": submission.body,
            "date": schema.format_date(now),
            "client": queue.client_hash(f"198.51.100.{number % 200}"),
            "sender": queue.sender_hash(submission.email),
            "fingerprint": fingerprint(queue.secret, submission),
        }
        queue.path(comment_id).write_bytes(dump_yaml(record))
    for number in range(500):
        sender = keyed_hash(queue.secret, "sender", f"reader{number}@example.org")
        path = queue.senders_dir / f"{sender}.yaml"
        entry = {"last_seen": "2026-12-01T00:00:00Z", "comments": 3}
        path.write_bytes(dump_yaml({**entry, "rejected": int(number % 7 == 0)}))


def measure(queue_dir: Path, count: int) -> tuple[float, int]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "plugins"),
        "LAB_COMMENTS_QUEUE": str(queue_dir),
        "LAB_COMMENTS_SECRET": SECRET,
        # Long enough that the purge keeps every benchmark comment.
        "LAB_COMMENTS_PENDING_DAYS": "36500",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "lab_comments.cli", "list"],
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert f"{count} comment(s) waiting" in result.stdout, result.stdout[:500]
    return wall, cpu, result.stdout.count("\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench.comments_list")
    parser.add_argument("--counts", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=str(ROOT / ".bench" / "comments-list"))
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    for count in (int(c) for c in args.counts.split(",")):
        queue_dir = workdir / f"queue-{count}"
        fill(queue_dir, count)
        runs = [measure(queue_dir, count) for _ in range(args.runs)]
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[1] for run in runs)
        print(
            f"comments-list, {count:>6,} pending: median of {args.runs} runs "
            f"{wall:5.2f} s wall, {cpu:5.2f} s CPU ({runs[0][2]:,} lines, "
            f"{cpu / count * 1e6:,.0f} µs CPU a comment)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
