"""lab_writer: pages rendered by several processes, and in-place rebuilds
that leave unchanged pages alone.

Signals:
  initialized     checks that lab_writer is listed last in PLUGINS; merges
                  the LAB_WRITER_* defaults into the settings
  get_writer      LabWriter (writer.py): notes each page Pelican asks for
  get_generators  RenderGenerator, which renders the noted pages once every
                  other plugin's generator has asked for its pages (so list
                  lab_writer last in PLUGINS), then (in-place rebuilds)
                  removes the files the last build wrote and this one does not
Settings: see settings.DEFAULTS (plugins/README.md).
What other plugins tell the writer comes through lab_common.output; the
writer imports no other plugin.
"""

from __future__ import annotations

from pelican import signals
from pelican.generators import Generator

from lab_common.fingerprint import loaded_code_digest
from lab_common.plugin_order import require_position

from .settings import DEFAULTS, writer_settings
from .writer import FILE_STATS, LabWriter, file_stats, static_outputs

NAME = "lab_writer"


class RenderGenerator(Generator):
    """Reads nothing; when its turn to write comes, every page generator
    before it has asked for its pages, and the writer renders them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.settings.get("LAB_WRITER_SKIP_UNCHANGED"):
            # Generators are made before any reads: what the theme and the
            # content folder's files are now is what this build uses.
            self.context[FILE_STATS] = file_stats(self.settings)

    def generate_output(self, writer):
        if not isinstance(writer, LabWriter):
            return
        writer.flush()
        # Pelican's static generator copies these after this generator.
        statics = self.context.get("staticfiles", [])
        writer.finish(static_outputs(self.settings, self.theme, statics))


def merge_settings(pelican) -> None:
    # Listed anywhere but last, the pages of the plugins after it are never
    # noted, and the files they write are missing from the record.
    require_position(
        pelican.settings,
        NAME,
        "last",
        "it renders the pages the plugins before it ask for",
    )
    writer_settings(pelican.settings)  # a bad value stops the build here
    for key, value in DEFAULTS.items():
        pelican.settings.setdefault(key, value)


def get_writer(pelican):
    return LabWriter


def get_generators(pelican):
    return RenderGenerator


def register() -> None:
    # Pelican has imported every plugin by now: take the digest of our code
    # as it was loaded (lab_common.fingerprint.module_digest), before anyone
    # can edit a file under a running server.
    loaded_code_digest()
    signals.initialized.connect(merge_settings)
    signals.get_writer.connect(get_writer)
    signals.get_generators.connect(get_generators)
