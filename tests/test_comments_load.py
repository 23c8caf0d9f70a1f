"""A bounded load test against a real server on 127.0.0.1: nothing an
acknowledged client sent is lost, nothing is stored twice. (The full run,
1,000 submissions from 50 clients with its figures, is
`make comments-load-test`; times are printed there, never judged.)"""

from __future__ import annotations

from lab_comments.loadtest import (
    Report,
    main,
    parse_answer,
    run_load,
    running_server,
    submit_all,
    write_manifest,
)


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
    assert any(line.startswith("server CPU") for line in lines)
    assert any(line.startswith("target") for line in lines)


def test_an_answer_is_whole_only_with_its_headers_and_body():
    answer = (
        b"HTTP/1.1 303 See Other\r\nLocation: http://127.0.0.1/x/\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    assert parse_answer(answer[:20]) is None
    assert parse_answer(answer[:-1]) is None
    status, headers, length = parse_answer(answer + b"HTTP/1.1 ...")
    assert (status, headers["location"], length) == (
        303,
        "http://127.0.0.1/x/",
        len(answer),
    )


def test_an_answer_that_is_not_the_303_to_the_post_is_a_failure(tmp_path):
    # The manifest has no "load-test" post: every comment is refused (400),
    # and the generator counts each as failed, none as acknowledged.
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, "http://127.0.0.1", {"another-post": {}})
    environ = {
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_RATE_LIMIT": "100",
        "LAB_COMMENTS_CLIENT_CONNECTIONS": "5",
    }
    report = Report(20, 5)
    with running_server(environ, tmp_path / "server.log") as server:
        submit_all(server, 20, 5, report)
    assert report.acknowledged == 0
    assert len(report.failures) == 20
    assert all("HTTP 400" in failure for failure in report.failures)
    assert report.target() == "not judged (the target is for 50 clients)"


def test_several_runs_print_each_and_the_median_run_in_full(capsys):
    assert main(["--submissions", "40", "--clients", "5", "--runs", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:3]] == ["run 1", "run 2", "run 3"]
    assert "The run of median throughput:" in out
    assert any(line.startswith("server CPU") for line in out)
    assert out[-1] == "OK: nothing lost, nothing duplicated."
