"""The benchmark's synthetic site: the same seed gives the same bytes, and both
copies (ours and stock Pelican's) build cleanly."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from bench.synthetic import generate
from conftest import ROOT, build


def tree(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_same_site(tmp_path):
    one = generate(tmp_path / "one", 12, 2)
    two = generate(tmp_path / "two", 12, 2)
    assert one == two == {"posts": 12, "comments": 24, "challenges": 1}
    files = tree(tmp_path / "one")
    assert files == tree(tmp_path / "two")
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / "one", tmp_path / "two", files, shallow=False
    )
    assert (mismatch, errors) == ([], [])
    words = (tmp_path / "one/ours/content/posts/00003-update.md").read_text().split()
    assert 700 <= len(words) <= 1000


def test_both_copies_build_without_warnings(tmp_path):
    generate(tmp_path / "site", 12, 2)
    log = build(
        "publishconf.py",
        tmp_path / "ours",
        path=tmp_path / "site/ours/content",
        SITEURL="https://lab.example.org",
    )
    assert log.messages() == []
    assert len(list((tmp_path / "ours/updates").glob("20*/*/index.html"))) == 12
    (tmp_path / "stock.py").write_text('PATH = "content"\nSITEURL = "https://x.org"\n')
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "pelican"),
            str(tmp_path / "site/stock/content"),
            "-o",
            str(tmp_path / "stock"),
            "-s",
            str(tmp_path / "stock.py"),
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "stock").glob("*-update.html"))) == 12
