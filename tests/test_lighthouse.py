"""Lighthouse on every page type of the production build: 100 in performance,
accessibility, best practices and SEO, or the gate fails and prints, page by
page, the audits that fell short (id, title, score, displayed value).

Lighthouse 12 (pinned in .ci/check) runs with its defaults: a phone (Moto G
Power screen) and simulated throttling (slow 4G, a CPU four times slower). The
sample fixture site is built with publishconf.py for the address it is served
at (http://127.0.0.1:<port>, so every absolute URL of the production build
points at the server), indexed by Pagefind as `make publish` does, and served
as the Lab's host serves it (tests/statichost.py says how and why: gzip, a
year's cache for the hashed bundles, a real 404 status). Chromium resolves no
host but 127.0.0.1, so nothing else is reached. Runs in `make check`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import lxml.html
import pytest
from check_site import CHROMIUM, CHROMIUM_ARGS, TOOLS
from conftest import build
from pagetypes import PAGE_TYPES, indexed_copy, page_files
from statichost import StaticHost

pytestmark = pytest.mark.gates

HERE = Path(__file__).resolve().parent
LIGHTHOUSE = TOOLS / "lighthouse"
RUNNER = HERE / "lighthouse_run.mjs"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
# The metrics the performance score is made of (lighthouse_run.mjs), CLS last.
METRICS = ("FCP", "LCP", "SI", "TBT", "CLS")
# The search page is measured as readers arrive from the header's search box:
# with a query, which loads Pagefind and its WebAssembly index.
QUERIES = {"search": "?q=peer+support"}
# An address no page has: the host answers it with 404.html and status 404.
MISSING = "no-such-page/"
# A not-found page must answer 404 (answering 200 would be a "soft 404" that
# search engines index), and Lighthouse docks a page for that status twice: SEO's
# "http-status-code" (Page has unsuccessful HTTP status code) and best
# practices' "errors-in-console", where Chromium logs the document's own 404.
# So the 404 page is held to 100 in performance and accessibility, and in best
# practices and SEO to no failing audit but those two, and those only for its
# own status (status_failures). Every other page is held to 100 in all four.
NOT_FOUND_ONLY = ("performance", "accessibility")
# Lighthouse's timings move with the machine's other work (a busy CI runner
# shows blocking time a quiet one does not): a page below 100 in performance is
# measured twice more and judged by the median run, as Lighthouse CI does
# (numberOfRuns: 3). The other categories do not depend on timing.
RUNS = 3


def page_url(origin: str, kind: str, name: str) -> str:
    if kind == "404":
        return f"{origin}/{MISSING}"
    folder = name.removesuffix("index.html")
    return f"{origin}/{folder}{QUERIES.get(kind, '')}"


@pytest.fixture(scope="module")
def served_site(tmp_path_factory):
    """The sample fixture site, built for and served at one 127.0.0.1 port."""
    root = tmp_path_factory.mktemp("lighthouse")
    with StaticHost() as host:
        build("publishconf.py", root / "built", SITEURL=host.origin)
        site = indexed_copy(root / "built", root / "site")
        page_files(site)
        host.serve(site)
        yield host.origin, site


def chromium_port(profile: Path, process: subprocess.Popen, wait: float = 30) -> int:
    """The DevTools port Chromium chose, from the file it writes it to."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if active.is_file() and active.read_text().strip():
            return int(active.read_text().splitlines()[0])
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError("Chromium did not open its DevTools port")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One headless Chromium for every page, reaching only 127.0.0.1."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [CHROMIUM, "--headless=new", *CHROMIUM_ARGS,
         f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield chromium_port(profile, process)
    finally:
        # Debian's chromium is a launcher script: end the group it started.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_lighthouse(port: int, pages: list[dict]) -> list[dict]:
    assert (LIGHTHOUSE / "core" / "index.js").is_file(), (
        "Lighthouse is not installed: make check-tools (npm ci in .ci/check)"
    )
    result = subprocess.run(
        ["node", str(RUNNER), str(LIGHTHOUSE), str(port)],
        input=json.dumps(pages), capture_output=True, text=True,
        timeout=60 * len(pages), check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def metric(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if name == "CLS" else f"{value:.0f}"


def score_table(reports: list[dict]) -> str:
    header = ["page", *CATEGORIES, *(f"{m} ms" for m in METRICS[:-1]), "CLS"]
    rows = [header] + [
        [
            r["name"] + (f" (median of {r['runs']})" if r.get("runs") else ""),
            *(str(r["scores"][c]) for c in CATEGORIES),
            *(metric(r["metrics"][m], m) for m in METRICS),
        ]
        for r in reports
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in rows
    ]
    note = (
        "\n(404: best practices and SEO count against it the status it must"
        " answer; see NOT_FOUND_ONLY)"
        if any(r["name"] == "404" for r in reports)
        else ""
    )
    return "Lighthouse (mobile, simulated throttling):\n" + "\n".join(lines) + note


def status_failures(report: dict, audit: dict) -> bool:
    """Whether an audit of the 404 page fails only because the page answers
    404: the status audit itself, or a console holding just the browser's
    note that this very address answered 404."""
    if audit["id"] == "http-status-code":
        return audit["displayValue"] == "404"
    if audit["id"] == "errors-in-console":
        (item,) = audit["items"] if audit["itemCount"] == 1 else (None,)
        return (
            bool(item)
            and item["url"] == report["url"]
            and "404" in (item["description"])
        )
    return False


def audit_lines(audit: dict) -> list[str]:
    shown = f" ({audit['displayValue']})" if audit["displayValue"] else ""
    # Audits of weight 0 do not move the score, but often say why one that
    # does fell short (a render-blocking file behind a slow first paint).
    unscored = "" if audit["weight"] else " [not scored]"
    lines = [
        f"{audit['id']}: {audit['title']}, score {audit['score']:.2f}{shown}" + unscored
    ]
    for item in audit["items"]:
        found = " ".join(
            part for part in (item["description"], item["url"], item["node"]) if part
        )
        # Items that name no file or element are general advice.
        if item["url"] or item["node"]:
            lines.append(f"    {found}")
    if audit["itemCount"] > len(audit["items"]):
        lines.append(f"    ... {audit['itemCount'] - len(audit['items'])} more")
    return lines


def shortfalls(report: dict) -> list[str]:
    """What keeps a page from 100, as lines to print; empty if nothing does."""
    if report["runtimeError"]:
        return [f"Lighthouse could not measure it: {report['runtimeError']}"]
    problems = []
    for category in CATEGORIES:
        failing = [a for a in report["failing"] if a["category"] == category]
        if report["name"] == "404" and category not in NOT_FOUND_ONLY:
            failing = [a for a in failing if not status_failures(report, a)]
            if not failing:
                continue
        elif report["scores"][category] == 100:
            continue
        problems.append(f"{category} {report['scores'][category]}:")
        # Weighted audits first: they are what the score is made of.
        for audit in sorted(failing, key=lambda a: (-a["weight"], a["score"])):
            problems += [f"  {line}" for line in audit_lines(audit)]
    return problems


def median_of_runs(port: int, pages: list[dict], reports: list[dict]) -> list[dict]:
    """The reports, where a page scored below 100 in performance replaced by
    the median (by that score) of it and RUNS - 1 more runs of that page."""
    slow = [i for i, r in enumerate(reports) if r["scores"]["performance"] != 100]
    if not slow:
        return reports
    runs = {i: [reports[i]] for i in slow}
    for _ in range(RUNS - 1):
        again = run_lighthouse(port, [pages[i] for i in slow])
        for i, report in zip(slow, again, strict=True):
            runs[i].append(report)
    reports = list(reports)
    for i, measured in runs.items():
        ranked = sorted(measured, key=lambda r: r["scores"]["performance"] or 0)
        reports[i] = {**ranked[len(ranked) // 2], "runs": len(ranked)}
    return reports


def test_every_page_type_scores_100(served_site, chromium, capsys):
    origin, _site = served_site
    pages = [
        {"name": kind, "url": page_url(origin, kind, name),
         "status": 404 if kind == "404" else 200}
        for kind, name in PAGE_TYPES.items()
    ]  # fmt: skip
    for page in pages:
        assert status_of(page["url"]) == page["status"], page
    reports = median_of_runs(chromium, pages, run_lighthouse(chromium, pages))
    assert [r["name"] for r in reports] == list(PAGE_TYPES)
    table = score_table(reports)
    with capsys.disabled():
        print("\n" + table)
    problems = {r["name"]: shortfalls(r) for r in reports}
    problems = {name: lines for name, lines in problems.items() if lines}
    report = "\n".join(
        f"{name}:\n" + "\n".join(f"  {line}" for line in lines)
        for name, lines in problems.items()
    )
    assert not problems, f"{table}\n\nBelow 100:\n{report}"
    assert all(r["finalUrl"] == r["url"] for r in reports), [
        (r["url"], r["finalUrl"]) for r in reports if r["finalUrl"] != r["url"]
    ]


def test_the_gate_sees_a_page_below_100(served_site, chromium):
    """The check above can fail: a copy of the about page without its
    description and with an image that has no text alternative falls short
    in SEO and accessibility, and the gate names both audits."""
    origin, site = served_site
    document = lxml.html.document_fromstring(
        (site / "about" / "index.html").read_text(encoding="utf-8")
    )
    (description,) = document.xpath("//meta[@name='description']")
    description.getparent().remove(description)
    (main,) = document.xpath("//main")
    main.append(lxml.html.fragment_fromstring(
        f'<img src="{origin}/theme/images/logo.svg" width="40" height="40">'
    ))  # fmt: skip
    (site / "broken").mkdir()
    (site / "broken" / "index.html").write_bytes(
        lxml.html.tostring(document, doctype="<!DOCTYPE html>", encoding="utf-8")
    )
    (report,) = run_lighthouse(
        chromium, [{"name": "broken", "url": f"{origin}/broken/", "status": 200}]
    )
    assert report["scores"]["seo"] < 100
    assert report["scores"]["accessibility"] < 100
    found = "\n".join(shortfalls(report))
    assert "meta-description: " in found, found
    assert "image-alt: " in found, found


def test_a_slow_page_is_judged_by_the_median_of_three_runs(monkeypatch):
    """Only pages below 100 in performance run again; the median run, not
    the best, stands for them."""
    import test_lighthouse as module

    def report(name, performance):
        return {"name": name, "scores": {"performance": performance}}

    later = iter([[report("slow", 100)], [report("slow", 95)]])
    asked = []

    def fake_run(port, pages):
        asked.append([p["name"] for p in pages])
        return next(later)

    monkeypatch.setattr(module, "run_lighthouse", fake_run)
    pages = [{"name": "fast"}, {"name": "slow"}]
    first = [report("fast", 100), report("slow", 90)]
    reports = module.median_of_runs(0, pages, first)
    assert asked == [["slow"], ["slow"]]
    assert reports[0] == report("fast", 100)
    assert reports[1]["scores"]["performance"] == 95 and reports[1]["runs"] == 3
