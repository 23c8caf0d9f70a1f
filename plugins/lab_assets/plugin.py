"""lab_assets: the theme's stylesheets and scripts, each bundled into one file
whose name carries a hash of its content (so that a server can let browsers
keep it for a year: a change gives a new name).

The sources stay as layered files in the theme (theme/css/, theme/js/), outside
its static/ folder, so that Pelican copies none of them: pages load the bundles
only. Stylesheets are bundled and minified by Lightning CSS, which follows
@import in order; scripts are joined in order.

Signals: get_generators (adds LabAssetsGenerator, whose generate_context puts
LAB_ASSETS in the template context before any page is written).
Settings: see settings.DEFAULTS and plugins/README.md.
Template variables: LAB_ASSETS.css.<name>, LAB_ASSETS.js.<name> (paths from
the site's root: `{{ SITEURL }}/{{ LAB_ASSETS.css.main }}`).
"""

from __future__ import annotations

from pathlib import Path

from pelican import signals
from pelican.generators import Generator

from lab_common import csp
from lab_common.errors import ContentValidationError
from lab_common.output import write_output

from .bundle import AssetError, make_bundles, template_names
from .settings import assets_settings


class LabAssetsGenerator(Generator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = assets_settings(self.settings)
        self.bundles = []

    def generate_context(self):
        try:
            self.bundles = make_bundles(
                Path(self.theme), self.settings["THEME_STATIC_DIR"], self.options
            )
        except AssetError as exc:
            # One line naming the file, and no traceback, like a fault in a post.
            raise ContentValidationError([f"{exc}"]) from None
        self.context["LAB_ASSETS"] = template_names(self.bundles)
        # The policy's text is read when pages render, after every plugin
        # has added its sources.
        csp.policy(self.context)

    def lab_output_claims(self) -> list[tuple[str, str]]:
        return [
            (b.save_as, f"the theme's {b.name} {b.kind} bundle") for b in self.bundles
        ]

    def generate_output(self, writer):
        for bundle in self.bundles:
            # The name is the content's hash: the same name, the same bytes.
            write_output(
                writer,
                bundle.save_as,
                ("lab_assets", bundle.save_as),
                lambda data=bundle.data: data,
            )


def get_generators(pelican):
    return LabAssetsGenerator


def register() -> None:
    signals.get_generators.connect(get_generators)
