"""lab_writer: pages rendered by several processes, and in-place rebuilds
that leave unchanged pages alone.

Signals:
  initialized     merges the LAB_WRITER_* defaults into the settings
  get_writer      LabWriter (writer.py): notes each page Pelican asks for
  get_generators  RenderGenerator, which renders the noted pages once every
                  other plugin's generator has asked for its pages (so list
                  lab_writer last in PLUGINS)
Settings: see settings.DEFAULTS (plugins/README.md).
"""

from __future__ import annotations

from pelican import signals
from pelican.generators import Generator

from .settings import DEFAULTS, writer_settings
from .writer import LabWriter


class RenderGenerator(Generator):
    """Reads nothing; when its turn to write comes, every page generator
    before it has asked for its pages, and the writer renders them."""

    def generate_output(self, writer):
        flush = getattr(writer, "flush", None)
        if flush is not None:
            flush()


def merge_settings(pelican) -> None:
    writer_settings(pelican.settings)  # a bad value stops the build here
    for key, value in DEFAULTS.items():
        pelican.settings.setdefault(key, value)


def get_writer(pelican):
    return LabWriter


def get_generators(pelican):
    return RenderGenerator


def register() -> None:
    signals.initialized.connect(merge_settings)
    signals.get_writer.connect(get_writer)
    signals.get_generators.connect(get_generators)
