"""Measure our build against stock Pelican 4.12 on the same synthetic posts.

    python -m bench [--sizes 100,1000,5000] [--runs 3] [--comments 5]
                    [--workdir .bench] [--profile N]

For each size it builds, alternating, our site (publishconf.py, every plugin)
and stock Pelican (its default theme and feeds, none of our plugins), each in
its own process, and prints median wall and CPU seconds, peak memory, pages
written, ms per page and the ratio ours / stock; then cached rebuilds (no
change, one post edited) and the cost of drawing social card images.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
PELICAN = str(Path(sys.executable).parent / "pelican")
# "Today" for every status the build works out: the same on every run.
EPOCH = "1764244800"
SITEURL = "https://lab.example.org"
STOCK_CONFIG = """\
# Stock Pelican: its default theme and feeds, none of our plugins.
PATH = "content"
SITENAME = "Stock"
SITEURL = "https://lab.example.org"
TIMEZONE = "Europe/London"
DEFAULT_LANG = "en"
"""


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mib: float
    pages: int


def build(command: list[str], cwd: Path, output: Path, env_extra=None) -> Run:
    """One build in its own process: wall clock, CPU and peak memory of that
    process alone (os.wait4), and how many pages it wrote."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "SITEURL": SITEURL,
           "PYTHONPATH": str(ROOT / "plugins"), **(env_extra or {})}  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    error = process.stderr.read().decode()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed: {' '.join(command)}\n{error[-3000:]}")
    pages = sum(1 for _ in output.rglob("*.html")) if output.exists() else 0
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, pages)


def ours(
    site: Path, output: Path, *extra: str, config: str = "publishconf.py"
) -> list[str]:
    # As make html and make publish build (lab_common.build: no spinner thread).
    return [sys.executable, "-m", "lab_common.build",
            str(site / "ours" / "content"), "-o", str(output), "-s",
            str(ROOT / config), "--log-handler", "plain", "-q", *extra]  # fmt: skip


def stock(site: Path, output: Path, *extra: str) -> list[str]:
    return [PELICAN, str(site / "stock" / "content"), "-o", str(output), "-s",
            str(site / "stock" / "pelicanconf.py"), "-q", *extra]  # fmt: skip


def settings_override(**values) -> list[str]:
    import json

    return ["-e", *(f"{key}={json.dumps(value)}" for key, value in values.items())]


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def measure_size(workdir: Path, posts: int, comments: int, runs: int) -> None:
    site = workdir / f"site-{posts}"
    if site.exists():
        shutil.rmtree(site)
    counts = generate(site, posts, comments)
    (site / "stock" / "pelicanconf.py").write_text(STOCK_CONFIG, encoding="utf-8")
    cards = site / "cards-cache"
    card_setting = settings_override(LAB_SOCIAL_CACHE_PATH=str(cards))
    out_ours, out_stock = site / "out-ours", site / "out-stock"
    print(f"\n== {posts} posts, {counts['comments']} comments, "
          f"{counts['challenges']} challenges")  # fmt: skip

    # Card images: on a copy of the posts without pictures every post needs a
    # card; a cold cache draws them all, a second build draws none.
    bare = workdir / f"cards-{posts}"
    if bare.exists():
        shutil.rmtree(bare)
    generate(bare, posts, 0, images=False)
    bare_cards = settings_override(LAB_SOCIAL_CACHE_PATH=str(bare / "cards"))
    bare_out = bare / "out"
    cold = build(ours(bare, bare_out, "-d", *bare_cards), ROOT, bare_out)
    drawn = sum(1 for _ in (bare / "cards").rglob("*.png"))
    warm = build(ours(bare, bare_out, "-d", *bare_cards), ROOT, bare_out)
    redrawn = sum(1 for _ in (bare / "cards").rglob("*.png")) - drawn
    print(
        f"card images: {drawn} drawn by a cold build ({cold.wall:.2f} s), "
        f"{redrawn} by the next ({warm.wall:.2f} s): drawing costs "
        f"{cold.wall - warm.wall:.2f} s"
    )
    build(ours(site, out_ours, "-d", *card_setting), ROOT, out_ours)  # warm cards

    mine, theirs = [], []
    for _ in range(runs):
        mine.append(build(ours(site, out_ours, "-d", *card_setting), ROOT, out_ours))
        theirs.append(build(stock(site, out_stock, "-d"), site / "stock", out_stock))
    header = ("full build", "wall s", "CPU s", "peak MiB", "pages", "ms/page")
    print("{:<22}{:>8}{:>8}{:>10}{:>7}{:>9}".format(*header))
    for name, group in (("ours", mine), ("stock Pelican", theirs)):
        wall, cpu, peak = (median(group, f) for f in ("wall", "cpu", "peak_mib"))
        pages = group[0].pages
        print(
            f"{name:<22}{wall:>8.2f}{cpu:>8.2f}{peak:>10.0f}{pages:>7}"
            f"{1000 * wall / pages:>9.2f}"
        )
    ratios = [median(mine, f) / median(theirs, f) for f in ("wall", "cpu", "peak_mib")]
    print("{:<22}{:>8.2f}{:>8.2f}{:>10.2f}".format("ratio ours / stock", *ratios))

    # The writer's loop: content cache on, output kept, one post edited.
    # Ours as `make regenerate` and `make devserver` build (INPLACEOPTS in the
    # Makefile); stock Pelican with the same content cache settings.
    cache = settings_override(CACHE_CONTENT=True, LOAD_CONTENT_CACHE=True,
                              GZIP_CACHE=False, LAB_WRITER_SKIP_UNCHANGED=True,
                              CACHE_PATH=str(site / "cache-ours"),
                              LAB_SOCIAL_CACHE_PATH=str(cards))  # fmt: skip
    stock_cache = settings_override(CACHE_CONTENT=True, LOAD_CONTENT_CACHE=True,
                                    GZIP_CACHE=False,
                                    CACHE_PATH=str(site / "cache-stock"))  # fmt: skip
    dev = {"SITEURL": "http://127.0.0.1:8000"}
    rows = []
    for name, command, cwd, output, env in (
        ("ours", ours(site, out_ours, *cache, config="pelicanconf.py"), ROOT,
         out_ours, dev),
        ("stock Pelican", stock(site, out_stock, *stock_cache), site / "stock",
         out_stock, {}),
    ):  # fmt: skip
        build(command, cwd, output, env)  # fills the cache
        unchanged = [build(command, cwd, output, env) for _ in range(runs)]
        edited = []
        for run in range(runs):
            for kind in ("ours", "stock"):
                post = site / kind / "content" / "posts" / f"{posts // 2:05d}-update.md"
                with open(post, "a", encoding="utf-8") as handle:
                    handle.write(f"\nAn edit, number {run}.\n")
            edited.append(build(command, cwd, output, env))
        rows.append((name, median(unchanged, "wall"), median(edited, "wall")))
    print(f"{'cached rebuild':<22}{'no change s':>12}{'one post edited s':>19}")
    for name, unchanged, edited in rows:
        print(f"{name:<22}{unchanged:>12.2f}{edited:>19.2f}")


def profile(workdir: Path, posts: int, comments: int) -> None:
    """Where our build spends its time: cProfile of one in-process build."""
    from pelican import Pelican
    from pelican.settings import read_settings

    site = workdir / f"profile-{posts}"
    if site.exists():
        shutil.rmtree(site)
    generate(site, posts, comments)
    os.environ.update(SOURCE_DATE_EPOCH=EPOCH, SITEURL=SITEURL)
    os.chdir(ROOT)
    settings = read_settings(str(ROOT / "publishconf.py"), override={
        "PATH": str(site / "ours" / "content"), "OUTPUT_PATH": str(site / "out"),
        "LAB_SOCIAL_CACHE_PATH": str(site / "cards"),
        # All the work in this process, where the profiler sees it.
        "LAB_READ_PROCESSES": 1, "LAB_WRITER_PROCESSES": 1})  # fmt: skip
    Pelican(settings).run()  # draw the cards first: the profile is of a warm build
    profiler = cProfile.Profile()
    profiler.enable()
    Pelican(settings).run()
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    print(f"\n== profile of our build of {posts} posts (cards already drawn)")
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--comments", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--profile", type=int, default=0, help="profile N posts")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile(args.workdir.resolve(), args.profile, args.comments)
        return
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians of "
          f"{args.runs} runs; every build in its own process")  # fmt: skip
    print("Ours reads and renders with worker processes (LAB_READ_PROCESSES, "
          "LAB_WRITER_PROCESSES): CPU s counts them all; peak MiB is the largest "
          "process (workers are forked and share the build's memory until they "
          "change it)")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        measure_size(args.workdir.resolve(), size, args.comments, args.runs)


if __name__ == "__main__":
    main()
