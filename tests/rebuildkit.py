"""A small site rebuilt in place, edit after edit, and compared with a fresh
build of the same sources: what tests/test_rebuild_*.py share.

The site is tests/fixtures/rebuild (two posts and one from the future, a
challenge, a call, two pages, one comment; posts gain and lose old addresses
as edits), copied into a folder of the test's
own. Builds run in this process, as `make regenerate` runs them (INPLACEOPTS
in the Makefile): Pelican's content cache kept and loaded, lab_writer leaving
unchanged files alone and removing what the last build wrote that this one
does not.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conftest import FIXTURES, ROOT, SAMPLE_SITEURL_DEV, build
from pelican import signals

SITE = FIXTURES / "rebuild"
# The day the site is first built on: the call is open, the challenge's phase
# under way, the post of 20 December not yet published.
FIRST_DAY = dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.UTC)
# Where the theme's footer is overridden, so that a test can edit a template.
OVERRIDDEN = "partials/footer.html"
# Files no build of ours writes and none compares (the search index).
NOT_COMPARED = ("pagefind/",)
INPLACE = {
    "CACHE_CONTENT": True,
    "LOAD_CONTENT_CACHE": True,
    "GZIP_CACHE": False,
    "LAB_WRITER_SKIP_UNCHANGED": True,
}
COMMENT = """\
id: {id}
post: with-comments
name: Sam Okafor
date: '2025-06-{day:02d}T10:00:00Z'
body: '{body}'
"""


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not path.relative_to(root).as_posix().startswith(NOT_COMPARED)
    }


def compare(fresh: dict[str, bytes], other: dict[str, bytes]) -> dict[str, list[str]]:
    """Both ways: files of the fresh build missing from the other, files the
    other has that the fresh build has not, and files in both that differ."""
    return {
        "missing": sorted(fresh.keys() - other.keys()),
        "extra": sorted(other.keys() - fresh.keys()),
        "different": sorted(
            n for n in fresh.keys() & other.keys() if fresh[n] != other[n]
        ),
    }


SAME = {"missing": [], "extra": [], "different": []}


@dataclass
class Site:
    """A copy of the fixture site, its output folder and the settings of the
    next build (the day, a setting changed, the template overrides)."""

    root: Path
    today: dt.datetime = FIRST_DAY
    settings: dict = field(default_factory=dict)
    counter: int = 0  # for new names
    # An edit to make while the next rebuild runs (after every generator has
    # read its content), as an editor or the comments CLI might.
    during: Callable[[], None] | None = None

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def overrides(self) -> Path:
        return self.root / "templates"

    @classmethod
    def copy(cls, root: Path) -> Site:
        shutil.copytree(SITE, root / "content")
        template = root / "templates" / OVERRIDDEN
        template.parent.mkdir(parents=True)
        shutil.copy2(ROOT / "theme" / "templates" / OVERRIDDEN, template)
        return cls(root)

    def build(self, output: Path, cache: Path, **extra) -> None:
        build(
            "pelicanconf.py",
            output,
            path=self.content,
            SITEURL=SAMPLE_SITEURL_DEV,
            CACHE_PATH=str(cache),
            LAB_TODAY=self.today,
            LAB_SOCIAL_CACHE_PATH=str(ROOT / ".cache" / "lab_social"),
            THEME_TEMPLATES_OVERRIDES=[str(self.overrides)],
            **{
                # Two items a listing page: adding and deleting posts adds
                # and drops listing pages (updates/page/2/...).
                "DEFAULT_PAGINATION": 2,
                "PAGINATED_TEMPLATES": {"index": 2, "tag": 2, "category": 2},
                # Likewise two comments a page: approving and erasing comments
                # adds and drops pages of comments (<post>/comments/2/...).
                "LAB_COMMENTS_PER_PAGE": 2,
                # One process: forking costs more than a site this small.
                "LAB_WRITER_PROCESSES": 1,
                "LAB_READ_PROCESSES": 1,
                **self.settings,
                **extra,
            },
        )

    def rebuild(self) -> None:
        """In place, as `make regenerate` does; with an edit made during it,
        once more, as its watcher (lab_writer.autoreload) does."""
        edit, self.during = self.during, None

        def make_edit(generators) -> None:
            edit()

        if edit is not None:
            signals.all_generators_finalized.connect(make_edit)
        try:
            self.build(self.output, self.root / "cache", **INPLACE)
        finally:
            if edit is not None:
                signals.all_generators_finalized.disconnect(make_edit)
        if edit is not None:
            self.rebuild()

    def fresh(self, name: str = "fresh") -> dict[str, bytes]:
        """A fresh build of the same sources and settings, into a new folder."""
        output = self.root / name
        shutil.rmtree(output, ignore_errors=True)
        shutil.rmtree(self.root / f"{name}-cache", ignore_errors=True)
        self.build(output, self.root / f"{name}-cache")
        files = tree(output)
        shutil.rmtree(output)
        return files

    def differences(self) -> dict[str, list[str]]:
        return compare(self.fresh(), tree(self.output))

    # -- edits, as a Lab makes them

    def posts(self, with_comments: bool = True) -> list[Path]:
        posts = sorted((self.content / "posts").glob("*.md"))
        if not with_comments:  # its comments would lose their post
            posts = [p for p in posts if "with-comments" not in p.name]
        return posts

    def comments(self) -> list[Path]:
        return sorted((self.content / "comments").rglob("*.yaml"))

    def new_name(self) -> int:
        self.counter += 1
        return self.counter

    def add_post(self, n: int) -> None:
        number = self.new_name()
        day = 1 + n % 28
        (self.content / "posts" / f"2025-11-{day:02d}-new-{number}.md").write_text(
            f"---\ntitle: New post {number}\ndate: 2025-11-{day:02d}T09:00:00Z\n"
            f"authors: [ben-cole]\ncategory: Learning\ntags: [new, one]\n"
            f"summary: New {number}.\n---\nWhat we learned, number {number}.\n",
            encoding="utf-8",
        )

    def delete_post(self, n: int) -> None:
        posts = self.posts(with_comments=False)
        if posts:
            posts[n % len(posts)].unlink()

    def rename_post(self, n: int) -> None:
        posts = self.posts(with_comments=False)
        if posts:
            post = posts[n % len(posts)]
            number = self.new_name()
            post.rename(post.with_name(f"{post.name[:11]}renamed-{number}.md"))

    def retitle_post(self, n: int) -> None:
        posts = self.posts()
        post = posts[n % len(posts)]
        lines = post.read_text(encoding="utf-8").split("\n")
        lines[1] = f"title: A new title {self.new_name()}"
        post.write_text("\n".join(lines), encoding="utf-8")

    def set_redirects(self, name: str, paths: list[str] | None) -> None:
        """Give the post `name` these old addresses (None: none), as the last
        line of its front matter; the rest of its file as it is."""
        post = self.content / "posts" / name
        lines = post.read_text(encoding="utf-8").split("\n")
        lines = [line for line in lines if not line.startswith("redirect_from:")]
        if paths is not None:
            lines.insert(lines.index("---", 1), f"redirect_from: [{', '.join(paths)}]")
        post.write_text("\n".join(lines), encoding="utf-8")

    def redirect_post(self, n: int) -> None:
        # Old addresses given, changed or taken out (lab_redirects): each
        # named after its post's file, so that no two posts claim one.
        posts = self.posts()
        post = posts[n % len(posts)]
        paths = [f"/old/{post.stem}-{n % 4}/", f"/?p={post.stem}"]
        self.set_redirects(post.name, paths[: n % 3] if n % 4 else None)

    def delete_challenge(self, n: int) -> None:
        for path in (self.content / "challenges").glob("*.md"):
            path.unlink()

    def delete_call(self, n: int) -> None:
        for path in (self.content / "get-involved").glob("*.md"):
            path.unlink()

    def edit_template(self, n: int) -> None:
        template = self.overrides / OVERRIDDEN
        with open(template, "a", encoding="utf-8") as handle:
            # A line longer each time: the file's size changes with it.
            handle.write(f"<p>{'edited ' * (self.new_name())}</p>\n")

    def change_setting(self, n: int) -> None:
        self.settings["SITENAME"] = f"The Lab {n % 3}"

    def approve_comment(self, n: int) -> None:
        number = self.new_name()
        comment_id = f"202506{10 + n % 18:02d}-10{number % 60:02d}00-{number:06x}"
        (self.content / "comments" / "with-comments").mkdir(exist_ok=True)
        (self.content / "comments" / "with-comments" / f"{comment_id}.yaml").write_text(
            COMMENT.format(id=comment_id, day=10 + n % 18, body=f"Comment {number}."),
            encoding="utf-8",
        )

    def erase_comment(self, n: int) -> None:
        comments = self.comments()
        if comments:
            comments[n % len(comments)].unlink()

    def approve_comment_during_rebuild(self, n: int) -> None:
        self.during = lambda: self.approve_comment(n)

    def next_day(self, n: int) -> None:
        self.today += dt.timedelta(days=1 + n % 20)


EDITS = (
    "add_post",
    "delete_post",
    "rename_post",
    "retitle_post",
    "redirect_post",
    "delete_challenge",
    "delete_call",
    "edit_template",
    "change_setting",
    "approve_comment",
    "approve_comment_during_rebuild",
    "erase_comment",
    "next_day",
)
