"""In-place rebuilds equal fresh builds, after any sequence of edits.

Hypothesis draws sequences of edits a Lab makes (posts added, deleted,
renamed, retitled; the challenge and the call deleted; a template edited; a
setting changed; comments approved and erased, or approved while a rebuild
runs; the day moving on). Each step is applied and the site rebuilt in
place, as `make regenerate` does (once more after an edit made during a
rebuild, as its watcher does); after the sequence the output folder must
hold exactly the files of a fresh build of the same sources, byte for byte:
none missing, none extra, none different.
A third of the sequences are also compared after their first step.

Every sequence starts from one built copy of tests/fixtures/rebuild, copied
to the same folder each time (the writer's record names its output folder),
so that a sequence costs only its own rebuilds and one fresh build. The draws
are derandomised: CI runs the same 200 sequences every time.
"""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rebuildkit import EDITS, SAME, Site, compare, tree

STEPS = st.lists(
    st.tuples(st.sampled_from(EDITS), st.integers(min_value=0, max_value=50)),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the fixture site built in place once, and a folder to copy
    it to for each sequence."""
    root = tmp_path_factory.mktemp("rebuild-property")
    template = root / "template"
    work = root / "work"
    work.mkdir()
    site = Site.copy(work)
    site.rebuild()
    shutil.copytree(work, template)
    shutil.rmtree(work)
    return template, work


def start(built) -> Site:
    template, work = built
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(template, work)
    return Site(work)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, spot_check=st.integers(min_value=0, max_value=2))
def test_in_place_rebuilds_equal_fresh_builds(built, steps, spot_check):
    site = start(built)
    for number, (edit, argument) in enumerate(steps):
        getattr(site, edit)(argument)
        site.rebuild()
        if number == 0 and spot_check == 0 and len(steps) > 1:
            assert site.differences() == SAME, f"after {steps[:1]}"
    assert site.differences() == SAME, f"after {steps}"


def test_the_comparison_sees_files_missing_extra_and_different(tmp_path):
    # The comparison itself: each way a build can differ is reported.
    fresh = {"a": b"1", "b": b"2", "c": b"3"}
    other = {"b": b"2", "c": b"changed", "d": b"4"}
    assert compare(fresh, other) == {
        "missing": ["a"],
        "extra": ["d"],
        "different": ["c"],
    }
    (tmp_path / "pagefind").mkdir()
    (tmp_path / "pagefind" / "index.json").write_bytes(b"{}")
    (tmp_path / "page.html").write_bytes(b"<p>")
    assert tree(tmp_path) == {"page.html": b"<p>"}
