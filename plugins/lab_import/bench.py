"""Benchmark of the WordPress importer: a synthetic export (10,000 posts with
50,000 comments by default) imported into an empty site; prints the time and
the importer's peak memory (`make bench-import`; not a test).

The export is written with lxml's incremental writer, so making it needs
little memory; the import runs in a child process, whose peak resident size
the kernel reports when it ends.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

WP = "http://wordpress.org/export/1.2/"
NSMAP = {
    "excerpt": "http://wordpress.org/export/1.2/excerpt/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "wp": WP,
}
WORDS = (
    "care", "health", "people", "support", "peer", "service", "lab", "test",
    "idea", "learning", "community", "nurse", "visit", "group", "change",
    "evidence", "workshop",
)  # fmt: skip


def _leaf(xf, tag: str, text: str) -> None:
    element = etree.Element(tag)
    element.text = text
    xf.write(element)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def write_export(path: Path, posts: int, comments: int, seed: int = 1) -> None:
    """A WXR 1.2 file of `posts` posts and `comments` comments spread over
    them, some threaded; each post a few paragraphs of HTML."""
    rng = random.Random(seed)  # noqa: S311 (synthetic text, not a secret)
    per_post, extra = divmod(comments, posts)
    base = "https://old.example.org"
    with etree.xmlfile(str(path), encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("rss", nsmap=NSMAP, version="2.0"), xf.element("channel"):
            _leaf(xf, "title", "A synthetic Lab")
            _leaf(xf, "link", base)
            _leaf(xf, f"{{{WP}}}wxr_version", "1.2")
            _leaf(xf, f"{{{WP}}}base_site_url", base)
            for number in range(1, posts + 1):
                year, month, day_of = 10 + number % 15, 1 + number % 12, 1 + number % 28
                day = f"20{year:02d}-{month:02d}-{day_of:02d}"
                item = etree.Element("item")
                fields = {
                    "title": f"Post {number}: {_sentence(rng, 5)}",
                    "link": f"{base}/{day[:4]}/{day[5:7]}/post-{number}/",
                    "guid": f"{base}/?p={number}",
                    f"{{{NSMAP['dc']}}}creator": f"writer{number % 7}",
                    f"{{{NSMAP['content']}}}encoded": "\n\n".join(
                        f"<strong>{_sentence(rng, 6)}</strong> "
                        + " ".join(_sentence(rng, 12) for _ in range(4))
                        for _ in range(4)
                    ),
                    f"{{{NSMAP['excerpt']}}}encoded": "",
                    f"{{{WP}}}post_id": str(number),
                    f"{{{WP}}}post_date": f"{day} 09:00:00",
                    f"{{{WP}}}post_date_gmt": f"{day} 09:00:00",
                    f"{{{WP}}}post_name": f"post-{number}",
                    f"{{{WP}}}status": "publish",
                    f"{{{WP}}}post_type": "post",
                }
                for tag, text in fields.items():
                    etree.SubElement(item, tag).text = text
                term = etree.SubElement(item, "category", domain="category")
                term.set("nicename", "news")
                term.text = "News"
                count = per_post + (1 if number <= extra else 0)
                for index in range(count):
                    comment_id = number * 100 + index
                    parent = comment_id - 1 if index % 3 else 0
                    element = etree.SubElement(item, f"{{{WP}}}comment")
                    values = {
                        "comment_id": str(comment_id),
                        "comment_author": f"Reader {comment_id}",
                        "comment_author_email": "reader@mail.example",
                        "comment_date_gmt": f"{day} 10:{index % 60:02d}:00",
                        "comment_content": _sentence(rng, 25),
                        "comment_approved": "1",
                        "comment_type": "comment",
                        "comment_parent": str(parent),
                    }
                    for key, text in values.items():
                        etree.SubElement(element, f"{{{WP}}}{key}").text = text
                xf.write(item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--comments", type=int, default=50_000)
    parser.add_argument("--settings", type=Path, default=Path("pelicanconf.py"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        root = Path(folder)
        export = root / "export.xml"
        started = time.perf_counter()
        write_export(export, args.posts, args.comments)
        size = export.stat().st_size / 1e6
        took = time.perf_counter() - started
        print(f"Export: {args.posts:,} posts, {args.comments:,} comments, "
              f"{size:.1f} MB, written in {took:.1f} s")  # fmt: skip
        content = root / "content"
        for name in ("posts", "pages", "challenges"):  # an empty site
            (content / name).mkdir(parents=True)
        started = time.perf_counter()
        result = subprocess.run(  # noqa: S603 (our own module, fixed arguments)
            [sys.executable, "-m", "lab_import.wordpress", str(export),
             "--settings", str(args.settings), "--content", str(content),
             "--default-category", "Learning", "--report", str(root / "report.txt")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = usage.ru_maxrss / 1024
        # CPU time too: on a shared machine the wall time says more about the
        # other processes than about the importer.
        cpu = usage.ru_utime + usage.ru_stime
        if result.returncode != 0:
            print(result.stdout[-2000:], result.stderr[-4000:])
            return 1
        files = sum(1 for p in content.rglob("*") if p.is_file())
        print(
            f"Import: {files:,} files in {seconds:.1f} s (CPU {cpu:.1f} s; "
            "target < 60 s),"
        )
        print(f"peak memory {peak:.0f} MB (target < 300 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
