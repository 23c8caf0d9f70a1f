"""The quality gates of `make check`, run on a built site (normally the
production build in output/). One line per gate with its count, then a summary;
exit status 1 if any gate fails.

    python tests/check_site.py [--site output] [--only html,links,...]

Gates: html (Nu HTML Checker), links (internal links, images, anchors,
stylesheet imports), feeds (structure of every feed), accessibility (axe-core
in headless Chromium, WCAG 2.2 AA, and reflow at 320 px), social (the metadata
of the social issue on every page), workflows (actionlint).

Needs Java 17, Node 20 with the packages of .ci/check (npm ci --ignore-scripts),
Debian's chromium, and playwright from .ci/requirements-check.txt: `make check`
installs the Python and npm parts and says how to get the rest.
"""

from __future__ import annotations

import argparse
import glob
import json
import mimetypes
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "plugins")]

from feedcheck import check_feed, feed_files  # noqa: E402
from sitecheck import (  # noqa: E402
    broken_css_references,
    broken_references,
    is_moved_page,
)

TOOLS = ROOT / ".ci" / "check" / "node_modules"
VNU_JAR = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_JS = TOOLS / "axe-core" / "axe.min.js"
ACTIONLINT = TOOLS / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Each violation as [rule, help text, up to three of the elements it found].
AXE_RUN = """tags => axe.run(document, {runOnly: {type: "tag", values: tags}})
  .then(r => r.violations.map(v => [v.id, v.help,
    v.nodes.map(n => n.target.join(" ")).slice(0, 3)]))"""
# The pages the accessibility gate opens: one of each kind readers meet, found
# in whatever site was built (the Lab's content is its own: see a11y_pages).
A11Y_LISTINGS = ["index.html", "updates/index.html", "get-involved/index.html"]
A11Y_KINDS = [
    "updates/[0-9][0-9][0-9][0-9]/*/index.html",  # a post, one with comments first
    "challenges/*/index.html",
    "get-involved/*/index.html",
]


@dataclass
class GateResult:
    name: str
    counted: str  # "62 pages", what the gate looked at
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def site_url_of(site: Path) -> str:
    """The SITEURL the site was built with, read from its robots.txt."""
    for line in (site / "robots.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("Sitemap:"):
            return line.split(":", 1)[1].strip().rsplit("/", 1)[0]
    raise SystemExit(f"{site}/robots.txt names no sitemap: is this a built site?")


def a11y_pages(site: Path) -> list[str]:
    """The listings, then the first page of each kind; for posts, the first
    with a comment thread (its form and replies are the most complex page)."""
    pages = [name for name in A11Y_LISTINGS if (site / name).is_file()]
    for pattern in A11Y_KINDS:
        found = sorted(site.glob(pattern))
        if pattern.startswith("updates/"):
            found.sort(key=lambda p: not (p.parent / "comments.atom.xml").is_file())
        # Not a page at an old address (lab_redirects): the browser leaves it.
        first = next((p for p in found if not is_moved_page(p)), None)
        if first is not None:
            pages.append(first.relative_to(site).as_posix())
    return pages


def gate_html(site: Path, _siteurl: str) -> GateResult:
    pages = sorted(site.rglob("*.html"))
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "json",
         "--skip-non-html", str(site)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    try:
        messages = json.loads(result.stderr or result.stdout)["messages"]
    except (ValueError, KeyError):
        return GateResult("html", f"{len(pages)} pages", [result.stderr[-2000:]])
    problems = [
        f"{Path(urlsplit(m.get('url', '')).path).relative_to(site.resolve())}"
        f":{m.get('lastLine', '?')}: {m.get('message')}"
        for m in messages
        if m.get("type") == "error"
    ]
    return GateResult("html", f"{len(pages)} pages", problems)


def gate_links(site: Path, siteurl: str) -> GateResult:
    pages = sorted(site.rglob("*.html"))
    problems = broken_references(site, siteurl) + broken_css_references(site)
    return GateResult("links", f"{len(pages)} pages", problems)


def gate_feeds(site: Path, _siteurl: str) -> GateResult:
    feeds = feed_files(site)
    problems = [p for feed in feeds for p in check_feed(feed)]
    if not feeds:
        problems.append("no feeds found under feeds/")
    return GateResult("feeds", f"{len(feeds)} feeds", problems)


def gate_social(
    site: Path, siteurl: str, content: Path = ROOT / "content"
) -> GateResult:
    """`content` is the folder the site was built from: a post's creator tags
    must be its authors' handles in content's authors.yaml."""
    from socialcheck import check_site_social, load_profiles

    pages = sorted(site.rglob("*.html"))
    problems = check_site_social(site, siteurl, load_profiles(content))
    return GateResult("social", f"{len(pages)} pages", problems)


def gate_workflows(_site: Path, _siteurl: str, root: Path = ROOT) -> GateResult:
    files = sorted(glob.glob(str(root / ".github" / "workflows" / "*.y*ml")))
    if not files:
        return GateResult("workflows", "0 workflows", ["no workflow files found"])
    result = subprocess.run(
        ["node", str(ACTIONLINT), str(root / ".github" / "workflows" / "*.y*ml")],
        capture_output=True, text=True, timeout=300, check=False, cwd=root,
    )  # fmt: skip
    problems = []
    if result.returncode != 0:
        problems = [
            line for line in (result.stdout + result.stderr).splitlines()
            if line.strip() and not line.startswith("Checking ")
        ] or [f"actionlint exited {result.returncode}"]  # fmt: skip
    return GateResult("workflows", f"{len(files)} workflows", problems)


def gate_accessibility(site: Path, siteurl: str, pages=None) -> GateResult:
    from playwright.sync_api import sync_playwright

    pages = pages or a11y_pages(site)
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            for width in (1280, 320):
                # axe goes in as an inline script, which the pages' policy
                # refuses; tests/test_csp_browser.py checks the policy itself.
                context = browser.new_context(
                    viewport={"width": width, "height": 900}, bypass_csp=True
                )
                serve_site_offline(context, site, siteurl)
                page = context.new_page()
                for name in pages:
                    page.goto(f"{siteurl}/{name}")
                    page.add_script_tag(path=str(AXE_JS))
                    found = page.evaluate(AXE_RUN, WCAG_TAGS)
                    problems += [
                        f"{name} at {width}px: {rule}: {text} ({', '.join(targets)})"
                        for rule, text, targets in found
                    ]
                    if width == 320:
                        overflow = page.evaluate(
                            "document.documentElement.scrollWidth - window.innerWidth"
                        )
                        if overflow > 0:
                            problems.append(
                                f"{name} at 320px: scrolls sideways by {overflow}px "
                                "(WCAG 1.4.10 reflow)"
                            )
                context.close()
        finally:
            browser.close()
    return GateResult(
        "accessibility", f"{len(pages)} pages at 1280 and 320 px", problems
    )


def serve_site_offline(context, site: Path, siteurl: str) -> None:
    """Answer the site's own URLs from the built files and refuse every other
    request, so the browser needs no server and no network."""
    prefix = siteurl.rstrip("/") + "/"

    def handle(route):
        url = route.request.url
        if not url.startswith(prefix):
            route.abort()
            return
        # Decoded, as a host finds files: a page at /caf%C3%A9/ is café/.
        path = unquote(urlsplit(url).path[len(urlsplit(prefix).path) :])
        target = site / path
        if path == "" or path.endswith("/") or target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            route.fulfill(status=404, body="Not found")
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        route.fulfill(status=200, path=str(target), content_type=kind)

    context.route("**/*", handle)


GATES: dict[str, Callable[[Path, str], GateResult]] = {
    "html": gate_html,
    "links": gate_links,
    "feeds": gate_feeds,
    "accessibility": gate_accessibility,
    "social": gate_social,
    "workflows": gate_workflows,
}


def missing_tools(names: list[str]) -> list[str]:
    needs = []
    if "html" in names and (not shutil.which("java") or not VNU_JAR.is_file()):
        needs.append("Java 17 and the npm packages of .ci/check (make check-tools)")
    if "accessibility" in names and (
        not Path(CHROMIUM).exists() or not AXE_JS.is_file()
    ):
        needs.append(
            "Debian's chromium (apt-get install -y --no-install-recommends chromium"
            " fonts-dejavu-core) and the npm packages of .ci/check"
        )
    if "workflows" in names and (not shutil.which("node") or not ACTIONLINT.is_file()):
        needs.append("Node 20 and the npm packages of .ci/check")
    return needs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "output")
    parser.add_argument(
        "--only", default=",".join(GATES), help="gates, comma-separated"
    )
    parser.add_argument(
        "--content",
        type=Path,
        default=ROOT / "content",
        help="the content folder the site was built from (its authors.yaml)",
    )
    parser.add_argument(
        "--workflows",
        type=Path,
        default=ROOT,
        help="the repository whose workflows to lint",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in GATES]
    if unknown:
        parser.error(
            f"unknown gate(s): {', '.join(unknown)}; known: {', '.join(GATES)}"
        )
    needs = missing_tools(names)
    if needs:
        print("make check needs: " + "; ".join(needs), file=sys.stderr)
        return 2
    siteurl = site_url_of(args.site)
    print(f"Checking {args.site} (built for {siteurl})")
    results = []
    for name in names:
        if name == "workflows":
            result = gate_workflows(args.site, siteurl, root=args.workflows)
        elif name == "social":
            result = gate_social(args.site, siteurl, content=args.content)
        else:
            result = GATES[name](args.site, siteurl)
        results.append(result)
        status = "PASS" if result.passed else "FAIL"
        print(f"{status}  {name:<14} {result.counted}, {len(result.problems)} problems")
        for problem in result.problems[:25]:
            print(f"      {problem}")
        if len(result.problems) > 25:
            print(f"      ... and {len(result.problems) - 25} more")
        sys.stdout.flush()
    failed = [r.name for r in results if not r.passed]
    passed = len(results) - len(failed)
    summary = f"Summary: {passed} of {len(results)} gates passed"
    print(summary + (f"; failed: {', '.join(failed)}." if failed else "."))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
