"""A deterministic synthetic site of N posts, written twice: with YAML front
matter for our build, and with Pelican's own metadata lines for stock Pelican.

Posts are about 800 words with headings, lists, links to other posts, an
image, and code in one post of four; they are spread over challenges, calls,
categories, tags and authors, with C comments each. Same seed, same bytes.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
import zlib
from pathlib import Path

CATEGORIES = ["Announcements", "Research", "Ideas", "Testing", "Learning"]
# A paragraph of words reads better than a long list of strings.
WORDS = (
    "peer support people health care service group community member lab "
    "challenge evidence idea test learning commissioner volunteer experience "
    "condition wellbeing partnership toolkit workshop research question answer "
    "design prototype simulation area practice time week year together local "
    "voluntary organisation money case story change improve listen share trust"
).split()
TAGS = [f"{a} {b}" for a in ("peer", "local", "lived", "shared", "early", "open",
        "joint", "small") for b in ("support", "design", "evidence", "practice",
        "learning")]  # fmt: skip
PHASES = ["Research and discovery", "Generating ideas", "Simulating and testing",
          "Sharing the learning"]  # fmt: skip
START = dt.datetime(2019, 1, 7, 9, 0, tzinfo=dt.UTC)


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _paragraph(rng: random.Random, words: int) -> str:
    out, left = [], words
    while left > 0:
        n = min(left, rng.randint(8, 18))
        out.append(_sentence(rng, n))
        left -= n
    return " ".join(out)


def post_body(
    rng: random.Random, index: int, others: list[str], image: bool = True
) -> str:
    """About 800 words of Markdown."""
    parts = [_paragraph(rng, 90)]
    for section in range(4):
        parts.append(f"## {_sentence(rng, 4)[:-1]}")
        parts.append(_paragraph(rng, 110))
        if section == 1:
            parts.append("\n".join(f"- {_sentence(rng, 7)}" for _ in range(5)))
        if section == 2 and others:
            links = rng.sample(others, min(2, len(others)))
            parts.append(
                "Read more in "
                + " and ".join(f"[this update]({{filename}}/posts/{o})" for o in links)
                + "."
            )
        parts.append(_paragraph(rng, 60))
    if image:
        parts.append("![A chart of the week's numbers]({static}/images/figure.png)")
    if index % 4 == 0:
        parts.append(
            "```python\ndef reach(groups):\n    return sum(g.size for g in groups)\n```"
        )
    return "\n\n".join(parts) + "\n"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG, made without any imaging library."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip


def _yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def generate(
    root: Path,
    posts: int,
    comments_per_post: int,
    seed: int = 2025,
    images: bool = True,
) -> dict:
    """Write `root/ours/content` and `root/stock/content`; return counts."""
    rng = random.Random(seed)
    ours, stock = root / "ours" / "content", root / "stock" / "content"
    for base in (ours, stock):
        (base / "posts").mkdir(parents=True, exist_ok=True)
        (base / "pages").mkdir(parents=True, exist_ok=True)
        (base / "images").mkdir(parents=True, exist_ok=True)
        (base / "images" / "figure.png").write_bytes(_png(64, 32, (0, 88, 94)))
    for folder in ("challenges", "get-involved", "comments"):
        (ours / folder).mkdir(parents=True, exist_ok=True)

    authors = [f"author-{i:02d}" for i in range(12)]
    (ours / "authors.yaml").write_text(
        "".join(
            f"{key}:\n  name: Author {i:02d}\n  role: Writer\n  bio: Writes here.\n"
            + (f"  twitter: '@author{i:02d}'\n" if i % 2 else "")
            for i, key in enumerate(authors)
        ),
        encoding="utf-8",
    )
    for slug in ("about", "comments-policy", "privacy", "accessibility"):
        page = f"title: {slug.replace('-', ' ').title()}\nslug: {slug}\n"
        (ours / "pages" / f"{slug}.md").write_text(
            f"---\n{page}summary: The {slug} page.\n---\n{_paragraph(rng, 120)}\n",
            encoding="utf-8",
        )
        (stock / "pages" / f"{slug}.md").write_text(
            f"Title: {slug}\nSlug: {slug}\n\n{_paragraph(rng, 120)}\n", encoding="utf-8"
        )

    challenges = [f"challenge-{i:02d}" for i in range(max(1, posts // 100))]
    for number, slug in enumerate(challenges):
        starts = dt.date(2019, 1, 7) + dt.timedelta(days=120 * number)
        phases = []
        for p, name in enumerate(PHASES):
            begin = starts + dt.timedelta(days=300 * p)
            phases.append(
                f"  - {{name: {name}, summary: {_sentence(rng, 6)}, "
                f"starts: {begin}, ends: {begin + dt.timedelta(days=299)}}}"
            )
        (ours / "challenges" / f"{slug}.md").write_text(
            f"---\ntitle: What would it take, number {number}?\nslug: {slug}\n"
            f"summary: {_sentence(rng, 12)}\ntheme: Theme {number}\n"
            f"team: {_yaml_list(authors[:3])}\nphases:\n"
            + "\n".join(phases)
            + f"\n---\n{_paragraph(rng, 300)}\n",
            encoding="utf-8",
        )
    for number in range(max(1, posts // 50)):
        opens = START + dt.timedelta(days=45 * number)
        (ours / "get-involved" / f"call-{number:03d}.md").write_text(
            f"---\ntitle: Call number {number}\nslug: call-{number:03d}\n"
            f"summary: {_sentence(rng, 10)}\n"
            f"challenge: {challenges[number % len(challenges)]}\n"
            f"opens: {opens.isoformat()}\n"
            f"closes: {(opens + dt.timedelta(days=60)).isoformat()}\n"
            "commitments:\n  - {amount: 10, unit: minutes, period: week}\n"
            "audience: Anyone.\nrespond: {method: email, contact: lab@example.org}\n"
            f"---\n{_paragraph(rng, 150)}\n",
            encoding="utf-8",
        )

    names = [f"{i:05d}-update" for i in range(posts)]
    files = [f"{name}.md" for name in names]
    comment_count = 0
    for index, name in enumerate(names):
        date = START + dt.timedelta(hours=13 * index)
        post_authors = rng.sample(authors, rng.choice((1, 1, 2)))
        tags = rng.sample(TAGS, rng.randint(2, 4))
        category = CATEGORIES[index % len(CATEGORIES)]
        title = f"Update {index}: {_sentence(rng, 5)[:-1]}"
        summary = _sentence(rng, 25)
        body = post_body(rng, index, files[max(0, index - 30) : index], images)
        challenge = challenges[index % len(challenges)]
        (ours / "posts" / files[index]).write_text(
            f'---\ntitle: "{title}"\ndate: {date.isoformat()}\n'
            f"authors: {_yaml_list(post_authors)}\ncategory: {category}\n"
            f"tags: {_yaml_list(tags)}\nsummary: {summary}\nslug: {name}\n"
            f"challenge: {challenge}\n---\n{body}",
            encoding="utf-8",
        )
        stock_names = [a.replace("author-", "Author ") for a in post_authors]
        (stock / "posts" / files[index]).write_text(
            f"Title: {title}\nDate: {date:%Y-%m-%d %H:%M}\n"
            f"Authors: {', '.join(stock_names)}\n"
            f"Category: {category}\nTags: {', '.join(tags)}\nSummary: {summary}\n"
            f"Slug: {name}\n\n{body}",
            encoding="utf-8",
        )
        comment_count += write_comments(ours / "comments" / name, name, date,
                                        comments_per_post, rng)  # fmt: skip
    return {"posts": posts, "comments": comment_count, "challenges": len(challenges)}


def write_comments(folder: Path, post: str, date: dt.datetime, count: int, rng) -> int:
    """Approved comment files as lab_comments publishes them."""
    if count <= 0:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    previous = None
    for number in range(count):
        when = date + dt.timedelta(hours=3 * (number + 1))
        comment_id = f"{when:%Y%m%d-%H%M%S}-{number:06x}"
        reply = f"reply_to: {previous}\n" if number % 3 == 2 else ""
        (folder / f"{comment_id}.yaml").write_text(
            f"id: {comment_id}\npost: {post}\nname: Reader {number}\n"
            f"date: '{when.strftime('%Y-%m-%dT%H:%M:%SZ')}'\n{reply}"
            f"body: |\n  {_paragraph(rng, 40)}\n",
            encoding="utf-8",
        )
        previous = comment_id
    return count
