"""make check's gate for the WordPress importer: Pelican's own test export
(as installed with Pelican, never copied here) imported into a copy of the
sample site, built for production, then put through the site's quality gates
(HTML, links, feeds, accessibility, social metadata). Needs Java, Node and
Chromium, so it runs in `make check`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pelican
import pytest
from conftest import ROOT, SAMPLE, SAMPLE_SITEURL_PROD, build
from pelican.settings import read_settings

from lab_import.wordpress import Options, Site, import_wordpress

pytestmark = pytest.mark.gates
PELICAN_EXPORT = Path(pelican.__file__).parent / "tests/content/wordpressexport.xml"


def test_pelicans_test_export_imported_passes_every_gate(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(SAMPLE, content)
    site = Site.from_settings(read_settings(str(ROOT / "pelicanconf.py")))
    report = import_wordpress(
        Options(PELICAN_EXPORT, content, None, None, "Learning"), site
    )
    assert report.counts()["post written"] == 11
    output = tmp_path / "output"
    handler = build("publishconf.py", output, path=content, SITEURL=SAMPLE_SITEURL_PROD)
    assert handler.messages() == []
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "check_site.py"), "--site", str(output),
         "--content", str(content), "--only",
         "html,links,feeds,accessibility,social"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
