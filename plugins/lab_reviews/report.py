"""`make review-report`: every item whose review is overdue or due within
LAB_REVIEW_DUE_SOON_DAYS days, grouped by owner.

The site is read as the build reads it: Pelican runs in-process with the
same settings and plugins, up to `all_generators_finalized` (every file read
and checked, lab_content's `item.review` worked out with the site's defaults
and "today": LAB_TODAY, else SOURCE_DATE_EPOCH, else the clock); the build is
stopped there, before anything is written. Content with errors fails the
report as it fails the build.

    python -m lab_reviews.report [-s pelicanconf.py] [--path content]
        [--json FILE] [--fail-on-overdue] [--check]

--json writes the same items for the CI reminder:
{"today": "YYYY-MM-DD", "items": [{"path", "title", "url", "owner",
"owner_name", "owner_handle", "reviewed", "next_review", "status"}]},
sorted by owner (items with none last), then due date, then path.
--fail-on-overdue exits 1 when anything is overdue; --check does so only
when LAB_REVIEW_OVERDUE is "fail" (make check), and otherwise warns.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import posixpath
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pelican import Pelican, signals
from pelican.settings import read_settings

from lab_common.dates import build_now
from lab_common.files import atomic_write
from lab_common.urls import absolute_url

REPORTED = ("overdue", "due-soon")
STATUS_WORDS = {"overdue": "overdue", "due-soon": "due soon"}


@dataclass(frozen=True)
class Entry:
    path: str
    title: str
    url: str
    owner: str | None
    owner_name: str | None
    owner_handle: str | None
    reviewed: str | None
    next_review: str
    status: str


class _Read(Exception):
    """Stops the build once every item is read and checked."""


def entries(
    items: Iterable[Any],
    authors: Mapping[str, Mapping[str, Any]],
    *,
    content_folder: str,
    siteurl: str,
) -> list[Entry]:
    """The items (with lab_content's `review`) that are overdue or due soon,
    in the report's order."""
    found = []
    for item in items:
        review = getattr(item, "review", None)
        if review is None or review.status not in REPORTED:
            continue
        profile = authors.get(review.owner) or {}
        found.append(
            Entry(
                path=posixpath.join(
                    content_folder, item.relative_source_path.replace(os.sep, "/")
                ),
                title=" ".join(str(item.title).split()),
                url=absolute_url(siteurl, item.url),
                owner=review.owner,
                owner_name=profile.get("name"),
                owner_handle=profile.get("forge_handle"),
                reviewed=review.reviewed.isoformat() if review.reviewed else None,
                next_review=review.next_review.isoformat(),
                status=review.status,
            )
        )
    found.sort(key=lambda e: (e.owner is None, e.owner or "", e.next_review, e.path))
    return found


def report_text(today: str, found: list[Entry], soon_days: int) -> str:
    """The report for people: a summary line, then the items by owner."""
    overdue = sum(e.status == "overdue" for e in found)
    soon = len(found) - overdue
    if not found:
        return (
            f"Reviews on {today}: nothing is overdue or due within {soon_days} days.\n"
        )
    lines = [
        f"Reviews on {today}: {overdue} overdue, {soon} due within {soon_days} days."
    ]
    owner: object = object()
    for entry in found:
        if entry.owner != owner:
            owner = entry.owner
            lines.append("")
            if entry.owner is None:
                lines.append("No owner")
            else:
                lines.append(f"{entry.owner_name or entry.owner} ({entry.owner})")
        reviewed = (
            f"last reviewed {entry.reviewed}" if entry.reviewed else "never reviewed"
        )
        lines.append(
            f"  {STATUS_WORDS[entry.status]}: {entry.path} ({entry.title}): "
            f"{reviewed}, due {entry.next_review}"
        )
    return "\n".join(lines) + "\n"


def report_json(today: str, found: list[Entry]) -> bytes:
    data = {"today": today, "items": [asdict(e) for e in found]}
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def read_site(settings: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Every published or hidden item of the site (posts, pages, challenges,
    calls) as the build reads them, and the authors' profiles."""
    gathered: dict[str, Any] = {}

    def stop(generators) -> None:
        context = generators[0].context
        gathered["items"] = [
            item
            for item in context["generated_content"].values()
            if getattr(item, "status", None) in ("published", "hidden")
        ]
        gathered["authors"] = context.get("lab_authors") or {}
        raise _Read

    # Connected for this run only (and held strongly until then): the
    # receivers lab_content connects first (the checks of every file) run
    # before it.
    signals.all_generators_finalized.connect(stop, weak=False)
    try:
        Pelican(settings).run()
    except _Read:
        pass
    finally:
        signals.all_generators_finalized.disconnect(stop)
    items = sorted(gathered["items"], key=lambda item: item.relative_source_path)
    return items, gathered["authors"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab_reviews.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("-s", "--settings", default="pelicanconf.py")
    parser.add_argument("--path", help="the content folder (default: PATH)")
    parser.add_argument("--json", help="also write the items as JSON to this file")
    parser.add_argument("--fail-on-overdue", action="store_true")
    parser.add_argument(
        "--check", action="store_true", help="fail as LAB_REVIEW_OVERDUE says"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s: %(message)s", level=logging.WARNING)
    # Nothing is written, and nothing of a site already built is touched:
    # publishconf.py empties its output folder when a build starts.
    override: dict[str, Any] = {"DELETE_OUTPUT_DIRECTORY": False}
    if args.path:
        override["PATH"] = os.path.abspath(args.path)
    with tempfile.TemporaryDirectory(prefix="lab-review-report-") as scratch:
        override["OUTPUT_PATH"] = scratch
        settings = read_settings(args.settings, override=override)
        try:
            items, authors = read_site(settings)
        except Exception as exc:  # a content error: the build's own words
            sys.stderr.write(f"review report: {exc}\n")
            return 2
    today = build_now(settings).date().isoformat()
    found = entries(
        items,
        authors,
        content_folder=os.path.basename(os.path.normpath(settings["PATH"])),
        siteurl=settings["SITEURL"],
    )
    sys.stdout.write(report_text(today, found, settings["LAB_REVIEW_DUE_SOON_DAYS"]))
    if args.json:
        atomic_write(args.json, report_json(today, found), mode=0o644)
    overdue = [e for e in found if e.status == "overdue"]
    failing = args.check and settings["LAB_REVIEW_OVERDUE"] == "fail"
    if overdue and (args.fail_on_overdue or failing):
        return 1
    if overdue and args.check:
        sys.stderr.write(
            f"warning: {len(overdue)} review(s) overdue (LAB_REVIEW_OVERDUE = "
            "'warn'; make review-report lists them)\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
