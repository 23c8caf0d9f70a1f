"""lab_content: the Lab's content model.

Signals:
  initialized               merges the LAB_* defaults into the site's settings;
                            drops Pelican's content cache if our reader changed
  readers_init              reads .md files with YAML front matter (LabMarkdownReader)
  article_generator_context keeps posts dated after "today" unpublished
  get_generators            adds LabContentGenerator (challenges and calls)
  article_generator_preread starts workers that read posts ahead (prefetch.py)
  generator_init            one Jinja environment for every generator
  all_generators_finalized  refuses the build, before anything is written,
                            when two sources would write one file
  content_object_init       posts and pages get the subclass of their class
                            whose `content` and `summary` are Markup
                            (contents.trust_content)

Settings: see settings.DEFAULTS.
Template variables: lab_authors, lab_today, challenges, calls, open_calls; on
each post `challenge` and `phase`; challenge and call pages get `challenge`
and `call`; every post, page, challenge and call has `review` (its change
notes and review dates: lab_common.reviews.ItemReview). See plugins/README.md.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os

import jinja2
from jinja2 import FileSystemBytecodeCache
from pelican import signals

from lab_common.dates import build_now
from lab_common.errors import ContentValidationError
from lab_common.files import atomic_write
from lab_common.fingerprint import digest, loaded_code_digest
from lab_common.plugin_order import require_position
from lab_common.processes import default_workers, guard_build

from .contents import trust_content
from .generator import LabContentGenerator
from .prefetch import Prefetch
from .reader import LabMarkdownReader, to_datetime
from .settings import lab_settings


def check_plugin_order(pelican) -> None:
    require_position(
        pelican.settings,
        "lab_content",
        "first",
        "the other plugins read the challenges, calls and authors it derives",
    )


def merge_settings(pelican) -> None:
    for key, value in lab_settings(pelican.settings).items():
        pelican.settings.setdefault(key, value)
    # Pelican logs any exception that ends a build with its traceback; for
    # content problems the list of `path: field: reason` lines is the message.
    pelican_logger = logging.getLogger("pelican")
    if drop_content_traceback not in pelican_logger.filters:
        pelican_logger.addFilter(drop_content_traceback)


def drop_stale_reader_cache(pelican) -> None:
    """Pelican's content cache keeps what the reader made of each file, and
    checks only the file's time: after a change to our reader (or to what it
    reads with), an unchanged post would keep what the old code made of it.
    So the cache carries a stamp of that code, and one made by other code is
    dropped before Pelican loads it."""
    settings = pelican.settings
    if not settings.get("LOAD_CONTENT_CACHE"):
        return
    folder = settings["CACHE_PATH"]
    stamp_path = os.path.join(folder, "lab_content.reader-stamp")
    stamp = reader_stamp(settings)
    try:
        with open(stamp_path, encoding="utf-8") as handle:
            if handle.read() == stamp:
                return
    except OSError:
        pass
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.endswith(("-Readers", "Generator")):
                os.remove(os.path.join(folder, name))
    os.makedirs(folder, exist_ok=True)
    atomic_write(stamp_path, stamp.encode("utf-8"), mode=0o644)


def reader_stamp(settings) -> str:
    """Our code (lab_content and lab_common, as loaded: a file edited while a
    server runs is not the code it runs), the libraries the reader uses, and
    the settings."""
    sources = loaded_code_digest(("lab_content", "lab_common"))
    versions = [
        (name, importlib.metadata.version(name))
        for name in ("pelican", "markdown", "pyyaml", "pygments")
    ]
    # Every setting, not only those the reader reads: the tags, categories and
    # authors it makes keep the settings (their URLs come from them).
    read = [(key, repr(value)) for key, value in sorted(settings.items())]
    return digest(sources, versions, read)


def drop_content_traceback(record: logging.LogRecord) -> bool:
    if record.exc_info and isinstance(record.exc_info[1], ContentValidationError):
        record.exc_info = None
    return True


def add_reader(readers) -> None:
    for extension in LabMarkdownReader.file_extensions:
        readers.reader_classes[extension] = LabMarkdownReader


def hold_future_posts(generator, metadata) -> None:
    # Pelican's own WITH_FUTURE_DATES check reads the wall clock; this one reads
    # the build's "today" (SOURCE_DATE_EPOCH or LAB_TODAY) so builds reproduce.
    if "date" not in metadata:
        return
    if not hasattr(generator, "lab_now"):
        generator.lab_now = build_now(generator.settings)
    date = metadata["date"]
    if date.tzinfo is None:
        date = to_datetime(date).replace(tzinfo=generator.lab_now.tzinfo)
    if date > generator.lab_now:
        metadata["status"] = "draft"


def prefetch_posts(generator) -> None:
    # Sent before each post is read; the first one starts the workers.
    if getattr(generator, "lab_prefetch_done", False):
        return
    generator.lab_prefetch_done = True
    settings = generator.settings
    if settings.get("LOAD_CONTENT_CACHE"):
        return  # a cached build reads only the posts that changed
    processes = settings["LAB_READ_PROCESSES"] or default_workers()
    reader = generator.readers.readers.get("md")
    if not isinstance(reader, LabMarkdownReader) or processes < 2:
        return
    paths = [
        os.path.abspath(os.path.join(generator.path, name))
        for name in generator.get_files(
            settings["ARTICLE_PATHS"], exclude=settings["ARTICLE_EXCLUDES"]
        )
        if name.endswith(".md")  # the files this reader instance reads
    ]
    if len(paths) >= settings["LAB_READ_PARALLEL_MIN_POSTS"]:
        reader.prefetch = Prefetch(reader, paths, processes)


def end_prefetch(generator) -> None:
    reader = generator.readers.readers.get("md")
    if getattr(reader, "prefetch", None) is not None:
        reader.prefetch.close()
        # What the workers did, for the tests: none may read for nothing.
        generator.lab_prefetch_stats = reader.prefetch.stats()
        reader.prefetch = None


def share_template_environment(generator) -> None:
    # Every generator builds its own Jinja environment, and so compiles each
    # template it renders once more (base.html and its partials up to six
    # times a build). They are built from the same settings and theme, so the
    # first one can serve them all; the build's context holds it.
    shared = generator.context.setdefault("_lab_jinja_environment", generator.env)
    cache = generator.settings.get("LAB_TEMPLATE_CACHE_PATH")
    if shared is generator.env and cache:
        # Compiled templates kept between builds (Jinja checks each against
        # its source): compiling the theme is a fixed cost of every build.
        # The code Jinja compiles also depends on the environment's options
        # (autoescape above all), which its check does not see: each set of
        # options keeps its own folder.
        options = digest(
            sorted(
                (k, repr(v)) for k, v in generator.settings["JINJA_ENVIRONMENT"].items()
            ),
            jinja2.__version__,
        )
        folder = os.path.join(cache, options[:16])
        os.makedirs(folder, exist_ok=True)
        shared.bytecode_cache = FileSystemBytecodeCache(folder)
    generator.env = shared


def get_generators(pelican):
    return LabContentGenerator


def check_outputs(generators) -> None:
    for generator in generators:
        if isinstance(generator, LabContentGenerator):
            generator.check_outputs(generators)


def register() -> None:
    signals.initialized.connect(check_plugin_order)
    signals.initialized.connect(merge_settings)
    # Worker processes (ours, lab_comments', lab_writer's) never outlive a
    # build that fails: lab_content is the first plugin, so it sets this up.
    signals.initialized.connect(guard_build)
    signals.initialized.connect(drop_stale_reader_cache)
    signals.readers_init.connect(add_reader)
    signals.article_generator_context.connect(hold_future_posts)
    signals.article_generator_preread.connect(prefetch_posts)
    signals.article_generator_pretaxonomy.connect(end_prefetch)
    signals.get_generators.connect(get_generators)
    signals.generator_init.connect(share_template_environment)
    signals.all_generators_finalized.connect(check_outputs)
    signals.content_object_init.connect(trust_content)
