"""Every private Pelican attribute, method or file name our plugins rely on,
each checked against the installed Pelican. A Pelican release that changes
one fails here with a message naming it and the plugin that uses it, rather
than somewhere deep in a build (README: "Upgrading Pelican").

What public signals and settings can do, the plugins do that way; what is
listed here has no public way yet. Keep the list complete: a new use of a
private Pelican name in plugins/ gets its entry here.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pelican
import pytest
from pelican import Pelican
from pelican.contents import Content, Page
from pelican.generators import ArticlesGenerator, Generator, PagesGenerator
from pelican.readers import MarkdownReader, Readers
from pelican.settings import DEFAULT_CONFIG
from pelican.writers import Writer

ROOT = Path(__file__).resolve().parent.parent


def settings(**overrides) -> dict:
    return {**DEFAULT_CONFIG, **overrides}


def check_expand_settings(tmp_path):
    # lab_content.contents: Challenge and Call take their URL settings from
    # LAB_CHALLENGE_* and LAB_CALL_* through Content._expand_settings(key, klass).
    params = list(inspect.signature(Content._expand_settings).parameters)
    assert params == ["self", "key", "klass"], f"parameters are now {params}"
    page = Page(
        "", {"title": "T", "slug": "t"}, settings=settings(LAB_X_URL="x/{slug}/")
    )
    assert Content._expand_settings(page, "url", "LAB_X") == "x/t/"


def check_content_body(tmp_path):
    # lab_writer.fingerprints (a page's key) and lab_content.generator
    # (reading time) read the body as read, before Pelican rewrites its links.
    context = {"localsiteurl": ""}
    page = Page("<p>{filename}/a.md</p>", {"title": "T"}, settings(), context=context)
    assert page._content == "<p>{filename}/a.md</p>"


def check_content_context(tmp_path):
    # lab_writer.fingerprints leaves the build's context out of a content
    # object's digest by this attribute's name.
    context = {"localsiteurl": ""}
    page = Page("", {"title": "T"}, settings(), context=context)
    assert page._context is context


def check_writer_files(tmp_path):
    # lab_writer.writer: LabWriter keeps Pelican's rule for two writes to one
    # file; it reads and updates these two sets as Pelican's _open_w does.
    writer = Writer(str(tmp_path), settings=settings())
    assert writer._written_files == set()
    assert writer._overridden_files == set()


def check_writer_open(tmp_path):
    # lab_writer.writer: LabWriter overrides _open_w(filename, encoding,
    # override) to keep each page instead of writing it; write_file must
    # open its file through it, after rendering the template.
    params = list(inspect.signature(Writer._open_w).parameters)
    assert params == ["self", "filename", "encoding", "override"], params
    opened = []

    class Probe(Writer):
        def _open_w(self, filename, encoding, override=False):
            opened.append(os.path.relpath(filename, tmp_path))
            return super()._open_w(filename, encoding, override)

    class Template:
        def render(self, context):
            return "page"

    Probe(str(tmp_path), settings=settings()).write_file(
        "a/index.html", Template(), {"localsiteurl": ""}
    )
    assert opened == [os.path.join("a", "index.html")]


def check_cache_file_names(tmp_path):
    # lab_content.plugin (drop_stale_reader_cache) removes Pelican's content
    # cache files by name: "<generator class>" and "<name>-Readers".
    config = settings(CACHE_PATH=str(tmp_path), CACHE_CONTENT=True)
    config["CACHE_PATH"] = str(tmp_path)
    readers = Readers(config, "ArticlesGenerator-Readers")
    assert readers._cache_path == str(tmp_path / "ArticlesGenerator-Readers")
    source = inspect.getsource(ArticlesGenerator.__mro__[1].__init__)
    assert '"-Readers"' in source, "the readers' cache is no longer <class>-Readers"
    assert issubclass(ArticlesGenerator, Generator)
    assert issubclass(PagesGenerator, Generator)


def check_readers_cache_name(tmp_path):
    # lab_content.generator: LabContentGenerator gives its readers a cache
    # name ("LabContentGenerator-Readers"), a keyword of Generator.__init__.
    params = inspect.signature(Generator.__init__).parameters
    assert "readers_cache_name" in params, list(params)


def check_readers_instances(tmp_path):
    # lab_content.plugin (prefetch_posts, end_prefetch) finds the Markdown
    # reader instance of a generator in generator.readers.readers["md"].
    readers = Readers(settings())
    assert "md" in readers.readers, sorted(readers.readers)
    # (Ours, once lab_content is registered in this process.)
    assert isinstance(readers.readers["md"], MarkdownReader)


def check_pelican_run(tmp_path):
    # lab_common.processes.guard_build wraps each Pelican instance's run(),
    # the one call around a whole build (the command line and autoreload
    # call it on the instance, as the tests do).
    params = list(inspect.signature(Pelican.run).parameters)
    assert params == ["self"], params
    source = inspect.getsource(pelican)
    assert "pelican.run()" in source, "the command line no longer calls run()"


def check_markdown_reader_names(tmp_path):
    # lab_content.reader: LabMarkdownReader is a MarkdownReader with its own
    # read(source_path); it sets _md and _source_path, the names Pelican's
    # read() uses, and calls nothing of Pelican's that reads them.
    params = list(inspect.signature(MarkdownReader.read).parameters)
    assert params == ["self", "source_path"], params
    reader = MarkdownReader(settings())
    assert reader._source_path is None
    assert not hasattr(reader, "_md") or reader._md is None


def check_no_generator_cache_path(tmp_path):
    # lab_comments.plugin: CommentsGenerator (a Generator) has a method
    # _cache_path of its own; Pelican's cachers have an attribute of that
    # name, which Generator must not get.
    assert not hasattr(Generator, "_cache_path")
    generator_init = inspect.getsource(Generator.__init__)
    assert "_cache_path" not in generator_init


def check_command_line(tmp_path):
    # lab_common.build: the command line's own argument parser, logging set-up
    # and instance maker (module functions, undocumented), and the argument
    # names it reads; one-off builds still run under a spinner thread.
    args = pelican.parse_arguments(["content", "-s", "pelicanconf.py"])
    for name in ("autoreload", "listen", "verbosity", "fatal", "log_handler",
                 "logs_dedup_min_level", "settings"):  # fmt: skip
        assert hasattr(args, name), f"the arguments have no {name!r}"
    assert args.log_handler in pelican.LOG_HANDLERS
    params = list(inspect.signature(pelican.get_instance).parameters)
    assert params == ["args"], params
    assert 'console.status("Generating...")' in inspect.getsource(pelican.main), (
        "pelican no longer runs a spinner: lab_common.build may not be needed"
    )
    # lab_writer.autoreload: serves with listen(server, port, output) and
    # watches with Pelican's filter of ignored files.
    params = list(inspect.signature(pelican.listen).parameters)
    assert params[:3] == ["server", "port", "output"], params
    from pelican.utils import FileChangeFilter

    assert "ignore_file_patterns" in inspect.signature(FileChangeFilter).parameters


CONTRACT = [
    ("Content._expand_settings(key, klass)", "lab_content (contents.py)",
     check_expand_settings),
    ("Content._content", "lab_writer (fingerprints.py), lab_content (generator.py)",
     check_content_body),
    ("Content._context", "lab_writer (fingerprints.py)", check_content_context),
    ("Writer._written_files, Writer._overridden_files", "lab_writer (writer.py)",
     check_writer_files),
    ("Writer._open_w(filename, encoding, override), called by write_file",
     "lab_writer (writer.py)", check_writer_open),
    ("content cache file names (<Generator>, <name>-Readers)",
     "lab_content (plugin.py: drop_stale_reader_cache)", check_cache_file_names),
    ("Generator.__init__(readers_cache_name=...)", "lab_content (generator.py)",
     check_readers_cache_name),
    ("Readers.readers (reader instances by extension)",
     "lab_content (plugin.py: prefetch_posts)", check_readers_instances),
    ("MarkdownReader._md, MarkdownReader._source_path, read(source_path)",
     "lab_content (reader.py)", check_markdown_reader_names),
    ("no Generator._cache_path", "lab_comments (plugin.py)",
     check_no_generator_cache_path),
    ("Pelican.run() called on the instance", "lab_common (processes.py: guard_build)",
     check_pelican_run),
    ("parse_arguments(), LOG_HANDLERS, get_instance(args), main()'s spinner, "
     "listen(), utils.FileChangeFilter",
     "lab_common (build.py: make html, make publish), "
     "lab_writer (autoreload.py: make regenerate, make devserver)",
     check_command_line),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "used_by", "check"), CONTRACT, ids=[c[0] for c in CONTRACT]
)
def test_pelican_still_has(name, used_by, check, tmp_path):
    try:
        check(tmp_path)
    except Exception as exc:  # any way it broke: name it, and who needs it
        pytest.fail(
            f"Pelican {pelican.__version__} changed {name}, which {used_by} "
            f"uses: {type(exc).__name__}: {exc}. See README, 'Upgrading Pelican'.",
            pytrace=False,
        )


def test_every_private_pelican_name_the_plugins_use_is_listed():
    """A new use of a private Pelican name gets an entry above: any `._name`
    in plugins/ that Pelican's own code defines too must be named in
    CONTRACT (the names are matched in Python source, not HTML)."""
    listed = " ".join(name for name, _, _ in CONTRACT)
    pelican_source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in Path(pelican.__file__).parent.glob("*.py")
    )
    ours = "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "plugins").rglob("*.py"))
    )
    used = set(re.findall(r"\.(_[a-z]\w*)\b", ours))
    pelicans = {
        name
        for name in used
        if re.search(rf"(def |self\.){re.escape(name)}\b", pelican_source)
    }
    assert pelicans, "no private name found at all: the search is broken"
    missing = sorted(name for name in pelicans if name not in listed)
    assert missing == [], f"private Pelican names used but not in CONTRACT: {missing}"
