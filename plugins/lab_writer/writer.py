"""LabWriter: Pelican's writer, with every page rendered at the end of the
build instead of as each generator asks, so that

- the pages can be shared between worker processes (forked: each starts with
  the whole build in memory, nothing is pickled), and
- a page whose inputs (see fingerprints.py) are those it was last written
  from, in a file nobody has touched since, need not be rendered at all.

Pelican's own write_file still works out every page (pagination, local
context, which write wins when two go to one file) and sends content_written
for it; only the rendering and the writing wait.

An in-place rebuild also removes what the last build wrote and this one does
not (a deleted post's page, the comment feed of a post whose last comment was
erased): the record in CACHE_PATH lists every file each build placed in the
output folder (pages, files told through lab_common.output, the files placed
for a page while it was rendered, static and theme files), and only files
that record names are ever removed (never the search index, or a file put
there by hand).
"""

from __future__ import annotations

import fnmatch
import io
import json
import logging
import os
from dataclasses import dataclass

from pelican.utils import sanitised_join
from pelican.writers import FileOverwriteFailedError, Writer

from lab_common.files import atomic_write
from lab_common.fingerprint import digest_plain
from lab_common.output import collect_placed, input_folders
from lab_common.processes import can_fork, fork_worker

from . import fingerprints
from .settings import writer_settings

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 2
_MISSING = object()
# More entries of a page's context than this differing from the last copy of
# the shared context means that the shared context itself has changed.
_MAX_OWN = 48
# The context entry with the files' stats as the build started (file_stats).
FILE_STATS = "lab_writer_file_stats"
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
    # Files placed in the output folder for this page while it was rendered
    # (lab_common.output.placed_output).
    placed: list[str] | None = None

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
        # Every file this build placed in the output folder (or found there as
        # the last build left it), each with the files placed for it.
        self.outputs: dict[str, list[str]] = {}
        self.previous_outputs: dict[str, list[str]] = {}
        self.previous = self._load_manifest() if self.skip_unchanged else {}
        self.pending_keys: dict[str, str] = {}
        self.inputs: _Inputs | bool | None = None
        self.static_digest: str | None = None
        self.skipped = 0
        self.processes = 1
        self.written: list[str] = []  # what this build wrote, for the record
        self.always: list[str] = []  # ... and what it writes on every build
        self.removed: list[str] = []
        self.context: dict | None = None  # the build's, from the first write

    # -- Pelican's entry point

    def write_file(self, name, template, context, *args, **kwargs):
        if self.context is None:
            self.context = context
        if not name or self.flushed:
            # Rendered at once (a generator after RenderGenerator): the files
            # placed while it renders are this page's too.
            with collect_placed() as placed:
                result = super().write_file(name, template, context, *args, **kwargs)
            if name:
                self._output(name, placed)
            return result
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
            self._output(os.path.relpath(filename, self.output_path))
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
            self._output(save_as)
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
        """`save_as` was written by a plugin (from `key`; None: always)."""
        (self.written if key is not None else self.always).append(save_as)
        self._output(save_as)
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
                self._output(job.save_as, self.previous_outputs.get(job.save_as))
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
        try:
            render_jobs(render, processes)
        except BaseException:
            # Pages may be half written: the next build renders every page,
            # and removes what any of these builds wrote that it does not.
            if self.skip_unchanged:
                self.records = {}
                for job in render:
                    self._output(job.save_as, job.placed)
                self._save_manifest(keep_previous=True)
            raise
        self.processes = processes
        for job in render:
            self.written.append(job.save_as)
            self._output(job.save_as, job.placed)
            if job.key is not None:
                self._record(job.save_as, job.key)
        logger.info(
            "lab_writer: %d page(s) rendered, %d unchanged, %d process(es)",
            len(render),
            self.skipped,
            processes,
        )

    def finish(self, statics: list[str]) -> None:
        """After the pages: `statics`, the files Pelican's static generator
        copies after this (static and theme files), are this build's too.
        An in-place rebuild then removes every file the last build placed
        that this one did not, and keeps the record for the next."""
        if not self.skip_unchanged:
            return
        for save_as in statics:
            self._output(save_as)
        self.removed = remove_outputs(
            self.output_path, owned(self.previous_outputs) - owned(self.outputs)
        )
        if self.removed:
            logger.info(
                "lab_writer: %d file(s) the last build wrote removed", len(self.removed)
            )
        self._save_manifest()

    def _output(self, save_as: str, placed: list[str] | None = None) -> None:
        save_as = os.path.normpath(save_as)
        files = self.outputs.setdefault(save_as, [])
        for name in placed or ():
            if name not in files:
                files.append(name)

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
            if self.context is None:  # no page asked for yet: none to compare
                return None
            try:
                self.static_digest = fingerprints.build_digest(
                    self.settings, _files(self.settings, self.context)
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
        self.previous_outputs = _outputs(data.get("outputs"))
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def _save_manifest(self, keep_previous: bool = False) -> None:
        path = self._manifest_path()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        outputs = self.outputs
        if keep_previous:  # a failed build: what either placed may be there
            outputs = {**self.previous_outputs}
            for save_as, placed in self.outputs.items():
                outputs[save_as] = sorted({*outputs.get(save_as, ()), *placed})
        data = {
            "version": MANIFEST_VERSION,
            "output": os.path.abspath(self.output_path),
            "files": self.records,
            "outputs": outputs,
            "summaries": self.summaries,
            # What the last build did, for whoever wonders why a page changed.
            "last_build": {
                "written": sorted(self.written),
                "always": sorted(self.always),
                "unchanged": self.skipped,
                "removed": sorted(self.removed),
                "processes": self.processes,
            },
        }
        text = json.dumps(data, separators=(",", ":"), sort_keys=True)
        atomic_write(path, text.encode("utf-8"), mode=0o644)


def _outputs(value) -> dict[str, list[str]]:
    """A record's outputs, or none when they are not what a build writes."""
    if not isinstance(value, dict) or not all(
        isinstance(name, str)
        and isinstance(placed, list)
        and all(isinstance(p, str) for p in placed)
        for name, placed in value.items()
    ):
        return {}
    return value


def owned(outputs: dict[str, list[str]]) -> set[str]:
    """Every file a record's build placed: its outputs and what was placed
    for each."""
    files = set(outputs)
    for placed in outputs.values():
        files.update(placed)
    return files


def remove_outputs(output_path: str, names: set[str]) -> list[str]:
    """Remove these files (relative to the output folder) where they are
    there, and the folders that leaves empty; the names removed."""
    removed = []
    for name in sorted(names):
        try:
            path = sanitised_join(output_path, name)
        except RuntimeError:  # outside the output folder: never ours
            logger.warning("lab_writer: the record names %s: not removed", name)
            continue
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        except IsADirectoryError:
            continue  # a file a build placed is now a folder: not ours
        removed.append(name)
        folder = os.path.dirname(path)
        root = os.path.abspath(output_path)
        while os.path.abspath(folder) != root:
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or gone)
                break
            folder = os.path.dirname(folder)
    return removed


def static_outputs(settings, theme: str, staticfiles) -> list[str]:
    """The files Pelican's static generator places: the content's static
    files, and the theme's static folders copied as its _copy_paths does
    (into THEME_STATIC_DIR, leaving out IGNORE_FILES)."""
    names = [os.path.normpath(static.save_as) for static in staticfiles]
    ignores = settings.get("IGNORE_FILES", [])

    def ignored(name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in ignores)

    target = settings["THEME_STATIC_DIR"]
    for path in settings["THEME_STATIC_PATHS"]:
        source = os.path.join(theme, path)
        if ignored(os.path.basename(path)):
            continue
        if os.path.isfile(source):
            names.append(os.path.normpath(os.path.join(target, os.path.basename(path))))
            continue
        for folder, dirs, files in os.walk(source, followlinks=True):
            dirs[:] = [d for d in dirs if not ignored(d)]
            here = os.path.relpath(folder, source)
            names.extend(
                os.path.normpath(os.path.join(target, here, name))
                for name in files
                if not ignored(name)
            )
    return names


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


def file_stats(settings) -> list[tuple]:
    """The theme's and the content folder's files as they are now (posts and
    pages are in the item digests): RenderGenerator takes them when the
    build starts, before anything is read, so that a file saved during the
    build counts as changed in the next."""
    return fingerprints.file_stats(
        [settings["THEME"], *settings.get("THEME_TEMPLATES_OVERRIDES", []),
         settings["PATH"]],
        MARKDOWN_SUFFIXES,
    )  # fmt: skip


def _files(settings, context) -> str:
    stats = context.get(FILE_STATS)
    if stats is None:  # a build without RenderGenerator
        stats = file_stats(settings)
    # Files that reach pages through item inputs (comments: see
    # lab_common.output.add_input_folder) are in the item digests.
    return fingerprints.files_digest(stats, input_folders(context))


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
        (share, fork_worker(lambda share=share: _worker_share(share)))
        for share in shares[1:]
        if share
    ]
    failure = None
    try:
        _render_share(shares[0])
    except Exception as exc:
        failure = exc
    for share, worker in workers:
        ok, message = worker.wait()
        if not ok:
            if failure is None:
                failure = RenderError(message.decode("utf-8", "replace"))
            continue
        # What the worker placed for each page, told back in the same order
        # (a page that failed too: its files are there).
        told = json.loads(message)
        for job, placed in zip(share, told["placed"], strict=True):
            job.placed = placed
        if failure is None and told["error"] is not None:
            failure = RenderError(told["error"])
    if failure is not None:
        raise failure


def _worker_share(jobs: list[Job]) -> bytes:
    """A worker's share rendered; what it placed for each page, and the
    error that stopped it, for the build's process."""
    error = None
    try:
        _render_share(jobs)
    except RenderError as exc:
        error = str(exc)
    told = {"placed": [job.placed or [] for job in jobs], "error": error}
    return json.dumps(told).encode("utf-8")


def _render_share(jobs: list[Job]) -> None:
    for job in jobs:
        try:
            with collect_placed() as placed:
                try:
                    render_job(job)
                finally:
                    job.placed = placed
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
