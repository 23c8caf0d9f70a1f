"""A bounded load test against a real server on 127.0.0.1: nothing an
acknowledged client sent is lost, nothing is stored twice. (The full run,
1,000 submissions from 50 clients with its figures, is
`make comments-load-test`; times are printed there, never judged.)"""

from __future__ import annotations

from lab_comments.loadtest import run_load


def test_concurrent_submissions_are_neither_lost_nor_duplicated(tmp_path):
    report = run_load(submissions=200, clients=20, workdir=tmp_path)
    assert report.failures == []
    assert report.acknowledged == 200
    assert report.lost == []
    assert report.duplicated == 0
    assert report.stored == 200
    assert len(report.latencies) == 200
    lines = report.lines()
    assert any(line.startswith("throughput") for line in lines)
    assert any(line.startswith("latency p95") for line in lines)
