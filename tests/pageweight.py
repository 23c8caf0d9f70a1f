"""What each page weighs as a reader's browser first loads it: the HTML, the
stylesheets that block rendering and the scripts, uncompressed; images and
the search index are not counted (issue 14's budgets).

    python tests/pageweight.py [--site output]

prints the heaviest page of each kind in a built site, with its bytes, and
exits 1 if any is over its budget.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import html5lib

# Budgets in bytes: 50 KiB for every kind of page, 80 KiB for a post with
# comments (a thread of 20 must fit).
BUDGET = 50 * 1024
BUDGET_WITH_COMMENTS = 80 * 1024

# Kinds of page by where they are (the site's default addresses), most
# specific first; anything else is a "page".
KINDS = [
    ("post", r"updates/\d{4}/[^/]+/index\.html"),
    ("tag", r"updates/tag/[^/]+/index\.html"),
    ("category", r"updates/category/[^/]+/index\.html"),
    ("archives", r"updates/archives/index\.html"),
    ("updates", r"updates/(page/\d+/)?index\.html"),
    ("challenge", r"challenges/[^/]+/index\.html"),
    ("challenges", r"challenges/index\.html"),
    ("call", r"get-involved/[^/]+/index\.html"),
    ("calls", r"get-involved/index\.html"),
    ("author", r"authors/[^/]+/index\.html"),
    ("search", r"search/index\.html"),
    ("feeds", r"feeds/index\.html"),
    ("home", r"index\.html"),
    ("404", r"404\.html"),
]


@dataclass(frozen=True)
class Weight:
    page: str
    html: int
    css: int
    js: int
    comments: int

    @property
    def total(self) -> int:
        return self.html + self.css + self.js

    @property
    def budget(self) -> int:
        return BUDGET_WITH_COMMENTS if self.comments else BUDGET


def kind_of(name: str) -> str:
    for kind, pattern in KINDS:
        if re.fullmatch(pattern, name):
            return kind
    return "page"


def weigh(site: Path, page: Path) -> Weight:
    """The page's weight; its stylesheets and scripts are found from its own
    markup, wherever their addresses point within the site."""
    with open(page, "rb") as handle:
        tree = html5lib.parse(handle, treebuilder="etree", namespaceHTMLElements=False)
    name = page.relative_to(site).as_posix()
    base = f"http://site.invalid/{name}"

    def size(url: str) -> int:
        path = urlsplit(urljoin(base, url)).path
        target = site / PurePosixPath(path).relative_to("/")
        # An absolute address of the live site: the same file under the root.
        if not target.is_file():
            parts = PurePosixPath(path).parts
            for start in range(1, len(parts)):
                candidate = site.joinpath(*parts[start:])
                if candidate.is_file():
                    return candidate.stat().st_size
            raise FileNotFoundError(f"{name}: {url} is not in the site")
        return target.stat().st_size

    css = sum(
        size(link.get("href"))
        for link in tree.iter("link")
        if "stylesheet" in link.get("rel", "").split()
        and link.get("media", "all") != "print"
    )
    js = sum(size(s.get("src")) for s in tree.iter("script") if s.get("src"))
    comments = sum(
        1
        for element in tree.iter("li")
        if "lab-comments__item" in element.get("class", "").split()
    )
    return Weight(name, page.stat().st_size, css, js, comments)


def heaviest(site: Path) -> dict[str, Weight]:
    """The heaviest page of each kind (posts with comments a kind apart)."""
    found: dict[str, Weight] = {}
    for page in sorted(site.rglob("*.html")):
        if "pagefind" in page.parts:
            continue
        weight = weigh(site, page)
        kind = kind_of(weight.page)
        if kind == "post" and weight.comments:
            kind = "post with comments"
        if kind not in found or weight.total > found[kind].total:
            found[kind] = weight
    return found


def table(weights: dict[str, Weight]) -> str:
    head = ("kind", "HTML", "CSS", "JS", "total", "budget")
    lines = ["{:<20} {:>7} {:>7} {:>6} {:>7} {:>7}  page".format(*head)]
    for kind, w in weights.items():
        flag = "  OVER" if w.total > w.budget else ""
        lines.append(
            f"{kind:<20} {w.html:>7,} {w.css:>7,} {w.js:>6,} {w.total:>7,} "
            f"{w.budget:>7,}  {w.page}{flag}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=Path("output"))
    args = parser.parse_args(argv)
    weights = heaviest(args.site)
    print(table(weights))
    over = [w for w in weights.values() if w.total > w.budget]
    print(f"{len(over)} over budget" if over else "Every kind of page within budget.")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
