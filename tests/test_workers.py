"""Worker processes (lab_common.processes): they do the work a build takes
from them, they never outlive a build that fails, and they are never forked
from a process that runs other threads.

Every worker a build forks is recorded in `processes.forked`; after a build,
none of them may still be a child of this process (running, or ended and
not reaped).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, SAMPLE_TODAY, build
from pelican import Pelican, signals
from pelican.generators import ArticlesGenerator, PagesGenerator
from pelican.settings import read_settings

from lab_comments.plugin import CommentsGenerator
from lab_common import processes
from lab_common.errors import ContentValidationError

# Every kind of worker on, whatever the size of the site.
WORKERS = {
    "LAB_READ_PROCESSES": 3,
    "LAB_READ_PARALLEL_MIN_POSTS": 0,
    "LAB_COMMENTS_READ_AHEAD_MIN_FILES": 0,
    "LAB_WRITER_PROCESSES": 2,
    "LAB_WRITER_PARALLEL_MIN_PAGES": 0,
}
ONE_PROCESS = {"LAB_READ_PROCESSES": 1, "LAB_WRITER_PROCESSES": 1}


def children() -> set[int]:
    """The pids of this process's children, running or ended but not reaped
    (each is listed in /proc with this process as its parent)."""
    me = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (name) state ppid ...": the name may hold spaces and brackets.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[1] == me:
            found.add(int(entry.name))
    return found


def assert_none_left(first: int) -> list[int]:
    """Every worker forked since `processes.forked[first]` is gone and
    reaped; returns their pids."""
    pids = processes.forked[first:]
    assert processes.live_workers() == []
    assert set(pids) & children() == set(), "worker processes are left"
    for pid in pids:
        with pytest.raises(ChildProcessError):  # reaped: no longer our child
            os.waitpid(pid, os.WNOHANG)
    return pids


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def build_with(tmp_path: Path, name: str, **settings):
    """A build of the sample site; its articles and comments generators."""
    found = {}

    def grab(generators):
        for generator in generators:
            if isinstance(generator, ArticlesGenerator | CommentsGenerator):
                found[type(generator)] = generator

    signals.all_generators_finalized.connect(grab)
    try:
        log = build("pelicanconf.py", tmp_path / name, **settings)
    finally:
        signals.all_generators_finalized.disconnect(grab)
    assert log.messages() == []
    return found[ArticlesGenerator], found[CommentsGenerator]


def assert_workers_did_the_work(articles, comments) -> None:
    """Each worker said how much it did; the build took exactly that, and it
    was not nothing."""
    stats = articles.lab_prefetch_stats
    assert stats["workers"] == 2, stats
    assert stats["read"] > 0, f"the post-reading workers read nothing: {stats}"
    assert stats["taken"] == stats["read"], stats
    figures = comments.stats
    assert figures["read_ahead"] > 0, "the comments worker read nothing"
    assert figures["ahead_taken"] == figures["read_ahead"], figures
    # Nothing the worker read was rendered again in the build.
    assert figures["rendered"] == 0, figures


@pytest.fixture
def no_other_threads():
    # A thread an earlier test joined has ended for Python, but Linux may
    # list it in /proc/self/task a little longer while it is torn down (long
    # enough to see on a loaded machine): wait for that, bounded.
    deadline = time.monotonic() + 10
    while (reason := processes.why_not_fork()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reason is None, f"this test needs a process that may fork: {reason}"


def test_workers_do_the_work_the_build_takes(tmp_path, no_other_threads):
    first = len(processes.forked)
    articles, comments = build_with(tmp_path, "workers", **WORKERS)
    assert_workers_did_the_work(articles, comments)
    # Two readers of posts, one of comments, one renderer of pages.
    assert len(assert_none_left(first)) == 4
    build_with(tmp_path, "serial", **ONE_PROCESS)
    assert tree(tmp_path / "workers") == tree(tmp_path / "serial")


def test_a_worker_that_does_nothing_fails_the_check(
    tmp_path, monkeypatch, no_other_threads
):
    """The check above is what catches a worker that does no work: with
    every reading worker failing, the build still succeeds (it reads all
    itself), the output is the same, and only the check fails."""

    def fail(*args, **kwargs):
        raise OSError("a worker that reads nothing")

    monkeypatch.setattr("lab_content.prefetch._read", fail)
    monkeypatch.setattr("lab_comments.plugin.entries_ahead", fail)
    first = len(processes.forked)
    articles, comments = build_with(tmp_path, "idle", **WORKERS)
    assert_none_left(first)
    with pytest.raises(AssertionError, match="read nothing"):
        assert_workers_did_the_work(articles, comments)
    build_with(tmp_path, "serial", **ONE_PROCESS)
    assert tree(tmp_path / "idle") == tree(tmp_path / "serial")


def _interrupt_in_the_build(*args, **kwargs):
    raise KeyboardInterrupt


def _interrupt_in_the_build_only(parent: int):
    """Ctrl-C in the build's own process while its workers render pages."""
    from lab_writer import writer

    render = writer.render_job

    def render_job(job):
        if os.getpid() == parent:
            raise KeyboardInterrupt
        render(job)

    return render_job


def _broken_theme(tmp_path: Path) -> str:
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    page = theme / "templates" / "base.html"
    page.write_text(
        page.read_text(encoding="utf-8") + "{{ lab_no_such_function() }}",
        encoding="utf-8",
    )
    return str(theme)


@pytest.mark.usefixtures("no_other_threads")
@pytest.mark.parametrize(
    "failure",
    ["content error", "template error", "Ctrl-C reading", "Ctrl-C rendering"],
)
def test_no_worker_outlives_a_failed_build(
    failure, tmp_path, site_copy, monkeypatch, caplog
):
    settings = dict(WORKERS)
    expected: type[BaseException] = Exception
    if failure == "content error":
        post = site_copy / "posts" / "2026-11-05-looking-ahead.md"
        text = post.read_text(encoding="utf-8")
        post.write_text(text.replace("title:", "titel:", 1), encoding="utf-8")
        expected = ContentValidationError
    elif failure == "template error":
        settings["THEME"] = _broken_theme(tmp_path)
    elif failure == "Ctrl-C reading":
        # After the posts are read, while the comments worker still reads.
        monkeypatch.setattr(
            "lab_content.generator.LabContentGenerator.generate_context",
            _interrupt_in_the_build,
        )
        expected = KeyboardInterrupt
    else:
        monkeypatch.setattr(
            "lab_writer.writer.render_job", _interrupt_in_the_build_only(os.getpid())
        )
        expected = KeyboardInterrupt
    first = len(processes.forked)
    caplog.set_level(logging.DEBUG, logger="lab_common.processes")
    # Card images drawn afresh, so that the build runs lab_social's drawing
    # pool beside its rendering.
    settings["LAB_SOCIAL_CACHE_PATH"] = str(tmp_path / "cards")
    with pytest.raises(expected):
        build("pelicanconf.py", tmp_path / "out", path=site_copy, **settings)
    assert processes.forked[first:], "the build forked no worker before failing"
    assert_none_left(first)
    # Nor a thread: the next build may fork its workers.
    assert processes.why_not_fork() is None
    stopped = [r for r in caplog.records if r.getMessage().startswith("stopped")]
    if failure == "template error":
        assert stopped == []  # the writer waited for its workers itself
    else:
        # Workers were running when the build failed, and were stopped.
        assert stopped, caplog.text


def test_a_process_that_runs_another_thread_forks_no_worker(tmp_path, caplog):
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="lab-test-thread")
    thread.start()
    try:
        caplog.set_level(logging.DEBUG, logger="lab_common.processes")
        first = len(processes.forked)
        articles, comments = build_with(tmp_path, "threaded", **WORKERS)
    finally:
        release.set()
        thread.join()
    assert processes.forked[first:] == []
    assert articles.lab_prefetch_stats["workers"] == 0
    assert comments.stats["read_ahead"] == 0
    assert "lab-test-thread" in caplog.text
    build_with(tmp_path, "serial", **ONE_PROCESS)
    assert tree(tmp_path / "threaded") == tree(tmp_path / "serial")


def test_why_not_fork_names_the_threads():
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="lab-named-thread")
    thread.start()
    try:
        assert "lab-named-thread" in processes.why_not_fork()
        assert not processes.can_fork()
    finally:
        release.set()
        thread.join()


@pytest.mark.usefixtures("no_other_threads")
def test_setting_up_the_generators_forks_nothing(tmp_path):
    """Workers start once the build reads (a signal), never in a generator's
    __init__: a build that fails before reading leaves nothing to stop."""
    settings = read_settings(
        str(ROOT / "pelicanconf.py"),
        override={
            "PATH": str(SAMPLE), "OUTPUT_PATH": str(tmp_path / "out"),
            "LAB_TODAY": SAMPLE_TODAY, **WORKERS,
        },
    )  # fmt: skip
    site = Pelican(settings)  # sends initialized: the plugins' settings merged
    classes = [ArticlesGenerator, PagesGenerator]
    classes += [value for _, value in signals.get_generators.send(site)]
    assert CommentsGenerator in classes
    first = len(processes.forked)
    context = settings.copy()
    for generator_class in classes:
        generator_class(
            context=context, settings=settings, path=settings["PATH"],
            theme=settings["THEME"], output_path=settings["OUTPUT_PATH"],
        )  # fmt: skip
    assert processes.forked[first:] == []


def test_a_worker_interrupted_while_its_result_is_read_is_stopped(monkeypatch):
    """Ctrl-C while the build reads a worker's result: the worker (blocked
    writing more than a pipe holds) is stopped and reaped, not waited for."""
    first = len(processes.forked)
    worker = processes.fork_worker(lambda: b"x" * (4 << 20))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    def too_long(*args):
        raise TimeoutError("the build waited for a worker that cannot end")

    monkeypatch.setattr(os, "fdopen", interrupted)
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(30)  # bounded: waiting for the worker would never end
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.wait()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        monkeypatch.undo()
    assert_none_left(first)


def _command_line_build(main, tmp_path: Path, name: str) -> list[int]:
    """A build of the sample through a command-line entry point, in this
    process; the workers it forked."""
    first = len(processes.forked)
    overrides = [f"{key}={value}" for key, value in WORKERS.items()]
    argv = [str(SAMPLE), "-o", str(tmp_path / name), "-s", str(ROOT / "pelicanconf.py"),
            "-q", "-e", *overrides]  # fmt: skip
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        status = main(argv)
    finally:
        os.chdir(cwd)
    assert not status, f"{name}: the build failed"
    return assert_none_left(first)


def test_make_builds_through_an_entry_point_that_lets_workers_fork(
    tmp_path, no_other_threads
):
    """`pelican` draws its spinner from a thread for the whole build, so no
    worker may fork under it; make html and make publish build through
    lab_common.build, which takes the same arguments without the spinner."""
    import pelican

    from lab_common.build import main

    assert _command_line_build(pelican.main, tmp_path, "pelican") == []
    assert len(_command_line_build(main, tmp_path, "ours")) == 4
    assert tree(tmp_path / "ours") == tree(tmp_path / "pelican")
