"""LabWriter: Pelican's writer, with every page rendered at the end of the
build instead of as each generator asks, so that

- the pages can be shared between worker processes (forked: each starts with
  the whole build in memory, nothing is pickled), and
- a page whose inputs (see fingerprints.py) are those it was last written
  from, in a file nobody has touched since, need not be rendered at all.

Pelican's own write_file still works out every page (pagination, local
context, which write wins when two go to one file) and sends content_written
for it; only the rendering and the writing wait.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from dataclasses import dataclass

from pelican.utils import sanitised_join
from pelican.writers import FileOverwriteFailedError, Writer

from lab_common.files import atomic_write
from lab_common.fingerprint import digest_plain
from lab_common.processes import can_fork, fork_worker

from . import fingerprints
from .settings import writer_settings

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
_MISSING = object()
# More entries of a page's context than this differing from the last copy of
# the shared context means that the shared context itself has changed.
_MAX_OWN = 48
# Sources whose text is in the item digests rather than the file digest.
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mkd", ".mdown")


class RenderError(RuntimeError):
    """A page could not be rendered (in this process or a worker)."""


@dataclass
class Job:
    template: object
    # The page's context is `base` (a copy of the shared context that many
    # pages share) updated with `own` (what differs for this page): a site
    # of 5,000 posts would otherwise hold 5,000 copies of the whole context
    # until the pages are rendered.
    base: dict
    own: dict
    context: dict  # the generator's shared context (Pelican sets localsiteurl on it)
    key: str | None  # what the write was made from; None: always render
    path: str = ""
    save_as: str = ""  # path, relative to the output folder
    fresh: bool = False  # made from what its file was last made from

    def localcontext(self) -> dict:
        page = dict(self.base)
        page.update(self.own)
        return page


class Deferred:
    """Stands in for a template in Pelican's write_file: `render` notes the
    page instead of rendering it."""

    def __init__(self, writer: LabWriter, template, context, key: str | None):
        self.writer, self.template, self.context, self.key = (
            writer,
            template,
            context,
            key,
        )

    @property
    def name(self):
        return self.template.name

    def render(self, localcontext):
        writer = self.writer
        job = Job(self.template, {}, {}, self.context, self.key)
        job.save_as = os.path.normpath(localcontext["output_file"])
        job.fresh = writer._fresh(job)
        if not job.fresh:  # a page left alone needs no context kept
            job.base, job.own = writer._compact(localcontext, self.context)
        writer._capture(job)
        return ""


class LabWriter(Writer):
    def __init__(self, output_path, settings=None):
        super().__init__(output_path, settings=settings)
        self.options = writer_settings(self.settings)
        self.skip_unchanged = self.options["LAB_WRITER_SKIP_UNCHANGED"]
        self.jobs: list[Job] = []
        self.captured: Job | None = None
        self.base: dict | None = None
        self.flushed = False
        # What this build wrote (or left alone), for the next one.
        self.records: dict[str, list] = {}
        self.summaries: dict[str, str] = {}
        self.previous_summaries: dict[str, str] = {}
        self.previous = self._load_manifest() if self.skip_unchanged else {}
        self.pending_keys: dict[str, str] = {}
        self.inputs: _Inputs | bool | None = None
        self.static_digest: str | None = None
        self.skipped = 0
        self.processes = 1
        self.written: list[str] = []  # what this build wrote, for the record

    # -- Pelican's entry point

    def write_file(self, name, template, context, *args, **kwargs):
        if not name or self.flushed:
            return super().write_file(name, template, context, *args, **kwargs)
        key = self._call_key(name, template, context, args, kwargs)
        return super().write_file(
            name, Deferred(self, template, context, key), context, *args, **kwargs
        )

    def _capture(self, job: Job) -> None:
        self.captured = job

    def _fresh(self, job: Job) -> bool:
        """Whether the page's file is there as the last build wrote it from
        the same key (which becomes the page's own: call key and file)."""
        if job.key is None:
            return False
        job.key = digest_plain(job.key, job.save_as)
        return self._as_recorded(job.save_as, job.key)

    def _as_recorded(self, save_as: str, key: str) -> bool:
        """The last build recorded `save_as` as made from `key`, and the file
        is there as it left it."""
        record = self.previous.get(save_as)
        path = sanitised_join(self.output_path, save_as)
        return record is not None and record[0] == key and _same_file(path, record)

    def _compact(self, localcontext: dict, context: dict) -> tuple[dict, dict]:
        """(base, own) for a page's context (see Job)."""
        if self.base is None or not self.base.keys() <= localcontext.keys():
            self.base = dict(context)
        own = _differences(localcontext, self.base)
        if len(own) > _MAX_OWN:  # the shared context has changed: a new base
            self.base = dict(context)
            own = _differences(localcontext, self.base)
        return self.base, own

    def _open_w(self, filename, encoding, override=False):
        job, self.captured = self.captured, None
        if job is None:
            return super()._open_w(filename, encoding, override)
        # Pelican's rule for two writes to one file, without opening it yet.
        if filename in self._overridden_files:
            if override:
                raise FileOverwriteFailedError(
                    f'Failed to overwrite "{filename}" a second time '
                    "(was previously overwritten)"
                )
            filename = os.devnull
        elif filename in self._written_files and not override:
            raise FileOverwriteFailedError(
                f'Failed to overwrite "{filename}" as Pelican has already '
                "written to it previously (set `override=True` if intended)"
            )
        if override:
            self._overridden_files.add(filename)
        self._written_files.add(filename)
        if filename != os.devnull:
            job.path = filename
            self.jobs.append(job)
        return io.StringIO()

    # -- files plugins write themselves (lab_common.output.write_output)

    def lab_unchanged(self, save_as: str, key) -> bool:
        """True when `save_as` was written from `key` (with this build's
        settings, theme and code) and is untouched since."""
        if not self.skip_unchanged:
            return False
        static = self._static()
        if static is None:
            return False
        try:
            full_key = digest_plain(static, fingerprints.plain(key), save_as)
        except (fingerprints.Unfingerprintable, TypeError):
            return False
        if self._as_recorded(save_as, full_key):
            self.records[save_as] = self.previous[save_as]
            self.skipped += 1
            return True
        self.pending_keys[save_as] = full_key
        return False

    def lab_site_key(self) -> str | None:
        """What every page may show of every item (and the build's day), for
        a plugin's key: None when pages are not being compared."""
        inputs = self._inputs_or_none()
        return digest_plain(inputs.build, inputs.site) if inputs else None

    def lab_item_key(self, item) -> str | None:
        """Everything about one content object (body and comments too)."""
        inputs = self._inputs_or_none()
        return inputs.item(item) if inputs else None

    def lab_written(self, save_as: str, key) -> None:
        self.written.append(save_as)
        full_key = self.pending_keys.pop(save_as, None)
        if full_key is not None:
            self._record(save_as, full_key)

    # -- rendering

    def flush(self) -> None:
        """Render every page noted so far (called once every generator has
        asked for its pages); later writes are rendered at once."""
        if self.flushed:
            return
        self.flushed = True
        last = {job.path: job for job in self.jobs}  # the write that wins
        render = []
        for job in last.values():
            if job.fresh:
                self.records[job.save_as] = self.previous[job.save_as]
                self.skipped += 1
            else:
                render.append(job)
        self.jobs = []
        processes = self.options["LAB_WRITER_PROCESSES"]
        if len(render) < self.options["LAB_WRITER_PARALLEL_MIN_PAGES"]:
            processes = 1
        elif processes > 1 and not can_fork():
            # Forking a process that runs other threads can leave a lock held
            # forever in the child; render here instead.
            logger.debug("lab_writer: other threads running, rendering in-process")
            processes = 1
        render_jobs(render, processes)
        self.processes = processes
        for job in render:
            self.written.append(job.save_as)
            if job.key is not None:
                self._record(job.save_as, job.key)
        if self.skip_unchanged:
            self._save_manifest()
        logger.info(
            "lab_writer: %d page(s) rendered, %d unchanged, %d process(es)",
            len(render),
            self.skipped,
            processes,
        )

    def _record(self, save_as: str, key: str) -> None:
        stat = os.stat(sanitised_join(self.output_path, save_as))
        self.records[save_as] = [key, stat.st_size, stat.st_mtime_ns]

    # -- what a write is made from

    def _call_key(self, name, template, context, args, kwargs) -> str | None:
        if not self.skip_unchanged:
            return None
        inputs = self._inputs(context)
        if inputs is None:
            return None
        try:
            values = [
                fingerprints.plain(arg) for arg in args
            ] + [  # relative_urls, paginated... when passed by position
                (key, inputs.view(value)) for key, value in sorted(kwargs.items())
            ]
        except fingerprints.Unfingerprintable as exc:
            logger.debug("lab_writer: %s is always rendered: %s", name, exc)
            return None
        return digest_plain(inputs.build, inputs.site, name, template.name, values)

    def _inputs(self, context) -> _Inputs | None:
        if self.inputs is None:
            try:
                self.inputs = _Inputs(self, context)
            except fingerprints.Unfingerprintable as exc:
                logger.info("lab_writer: every page is rendered: %s", exc)
                self.inputs = False
        return self.inputs or None

    def _inputs_or_none(self) -> _Inputs | None:
        return self.inputs or None

    def _static(self) -> str | None:
        """Settings, package versions, theme, code and the content folder's
        other files: what every output file is made from."""
        if self.static_digest is None:
            try:
                self.static_digest = fingerprints.build_digest(
                    self.settings, _files(self.settings)
                )
            except fingerprints.Unfingerprintable as exc:
                logger.info("lab_writer: every file is written: %s", exc)
                self.static_digest = ""
        return self.static_digest or None

    # -- the record of the last build

    def _manifest_path(self) -> str:
        return os.path.join(self.settings.get("CACHE_PATH", "cache"), "lab_writer.json")

    def _load_manifest(self) -> dict:
        try:
            with open(self._manifest_path(), encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            return {}
        if data.get("output") != os.path.abspath(self.output_path):
            return {}
        self.previous_summaries = data.get("summaries") or {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def _save_manifest(self) -> None:
        path = self._manifest_path()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        data = {
            "version": MANIFEST_VERSION,
            "output": os.path.abspath(self.output_path),
            "files": self.records,
            "summaries": self.summaries,
            # What the last build did, for whoever wonders why a page changed.
            "last_build": {
                "written": sorted(self.written),
                "unchanged": self.skipped,
                "processes": self.processes,
            },
        }
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        atomic_write(path, text.encode("utf-8"), mode=0o644)


def _differences(page: dict, base: dict) -> dict:
    return {k: v for k, v in page.items() if base.get(k, _MISSING) is not v}


def _same_file(path: str, record) -> bool:
    """The file is there as this writer left it (a build into another folder
    moved here, or an edit by hand, shows as a different size or time)."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return [stat.st_size, stat.st_mtime_ns] == list(record[1:3])


class _Inputs:
    """The digests every page's key is made from, worked out once per build
    when the first page is asked for (every generator has read its content
    by then)."""

    def __init__(self, writer: LabWriter, context: dict):
        previous = writer.previous_summaries
        self.listing: dict[int, str] = {}
        self.full: dict[int, str] = {}
        self.lists: dict[tuple[int, int], tuple[str, str]] = {}
        items = []
        seen = set()
        for key in ("articles", "hidden_articles", "pages", "hidden_pages",
                    "challenges", "calls"):  # fmt: skip
            for item in context.get(key, []):
                if id(item) not in seen:
                    seen.add(id(item))
                    items.append(item)
        listings = []
        for item in items:
            summary_key = fingerprints.summary_key(item)
            summary = previous.get(summary_key) or fingerprints.summary_digest(item)
            writer.summaries[summary_key] = summary
            listing = fingerprints.listing_view(item, summary)
            self.listing[id(item)] = listing
            listings.append((item.source_path, listing))
        self.site = digest_plain(sorted(listings))
        static = writer._static()
        if static is None:
            raise fingerprints.Unfingerprintable("the settings")
        self.build = digest_plain(static, _day(context.get("lab_today")))

    def view(self, value):
        """A write's argument as plain data: the item a page is about by its
        full view, a list of items by their source paths (what a page shows
        of each is in the site digest), anything else as fingerprints.plain."""
        if isinstance(value, fingerprints.Content):
            return self.item(value)
        if isinstance(value, list | tuple) and len(value) > 8:
            # Every post's page gets the list of all posts: one digest each
            # build, not one per page (the lists are not changed while pages
            # are written).
            memo = (id(value), len(value))
            if memo not in self.lists:
                self.lists[memo] = ("list", digest_plain(fingerprints.plain(value)))
            return self.lists[memo]
        return fingerprints.plain(value)

    def item(self, value) -> str:
        """The full view of a content object (see fingerprints.full_view)."""
        if id(value) not in self.full:
            listing = self.listing.get(id(value))
            if listing is None:  # an item no listing shows (a hidden challenge)
                summary = fingerprints.summary_digest(value)
                listing = fingerprints.listing_view(value, summary)
            self.full[id(value)] = fingerprints.full_view(value, listing)
        return self.full[id(value)]


def _files(settings) -> str:
    content = os.path.abspath(settings["PATH"])
    comments = os.path.join(content, settings.get("LAB_COMMENTS_PATH", "comments"))
    code = {
        os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
        for name, module in sys.modules.items()
        if name.startswith("lab_") and getattr(module, "__file__", None)
    }

    def skip(path: str) -> bool:
        # Posts, pages and comments are in the item digests.
        return path == comments or path.endswith(MARKDOWN_SUFFIXES)

    return fingerprints.files_digest(
        [settings["THEME"], *settings.get("THEME_TEMPLATES_OVERRIDES", []),
         *sorted(code), content],
        skip=skip,
    )  # fmt: skip


def _day(today):
    # The build's "today" matters to pages by its date: what changes within a
    # day (a post due at noon, comments closing) is in the items' own data.
    return today.date() if hasattr(today, "date") else today


def render_jobs(jobs: list[Job], processes: int) -> None:
    """Render and write the pages, sharing them between `processes` processes
    (this one and forked workers). Raises RenderError naming a page that
    failed, after every worker has ended."""
    shares = [jobs[i::processes] for i in range(processes)]
    workers = [
        fork_worker(lambda share=share: _render_share(share) or b"")
        for share in shares[1:]
        if share
    ]
    failure = None
    try:
        _render_share(shares[0])
    except Exception as exc:
        failure = exc
    for worker in workers:
        ok, message = worker.wait()
        if failure is None and not ok:
            failure = RenderError(message.decode("utf-8", "replace"))
    if failure is not None:
        raise failure


def _render_share(jobs: list[Job]) -> None:
    for job in jobs:
        try:
            render_job(job)
        except Exception as exc:
            raise RenderError(f"{job.path}: {type(exc).__name__}: {exc}") from exc
    # Work a page started in the background (lab_social drawing a card) must
    # end before this process does.
    finished = set()
    for job in jobs[:1]:
        for value in job.context.values():
            hook = getattr(value, "finish_rendering", None)
            if callable(hook) and id(value) not in finished:
                finished.add(id(value))
                hook()


def render_job(job: Job) -> None:
    localcontext = job.localcontext()
    # As Pelican's writer does: a page with relative URLs tells the content
    # objects which folder their links are relative to.
    if localcontext.get("localsiteurl"):
        job.context["localsiteurl"] = localcontext["localsiteurl"]
    output = job.template.render(localcontext)
    with open(job.path, "w", encoding="utf-8") as handle:
        handle.write(output)
