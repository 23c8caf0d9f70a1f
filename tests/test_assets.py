"""lab_assets: one minified stylesheet and one script per page, with hashed
names; the sources stay layered in theme/css and theme/js; a fault in them
stops the build naming the file; an in-place rebuild after a change to them
gives what a fresh build gives."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, build, html_files, parse_html
from lab_assets.bundle import (
    AssetError,
    bundle_script,
    bundle_stylesheet,
    hashed_name,
)
from lab_assets.settings import assets_settings
from rebuildkit import Site

from lab_common import SettingsError
from lab_common.errors import ContentValidationError

HASHED = re.compile(r"^(?P<name>[a-z]+)\.(?P<digest>[0-9a-f]{10})\.(?P<ext>css|js)$")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("assets") / "out"
    build("publishconf.py", output, SITEURL="https://lab.example.org")
    return output


def loaded(page: Path) -> tuple[list, list]:
    tree = parse_html(page)
    sheets = [
        link
        for link in tree.iter("link")
        if "stylesheet" in link.get("rel", "").split()
    ]
    scripts = [script for script in tree.iter("script") if script.get("src")]
    return sheets, scripts


def local(output: Path, url: str) -> Path:
    assert url.startswith("https://lab.example.org/"), url
    return output / url.removeprefix("https://lab.example.org/")


def test_every_page_loads_one_stylesheet_and_one_script_by_hashed_names(site):
    pages = html_files(site)
    assert len(pages) > 40
    for page in pages:
        sheets, scripts = loaded(page)
        blocking = [s for s in sheets if s.get("media", "all") != "print"]
        where = page.relative_to(site)
        assert len(blocking) == 1, where
        assert len(scripts) == 1, where
        # A module script is deferred: nothing but the stylesheet blocks.
        assert scripts[0].get("type") == "module", where
        for element, attribute in [*((s, "href") for s in sheets), (scripts[0], "src")]:
            path = local(site, element.get(attribute))
            match = HASHED.match(path.name)
            assert match, path.name
            # The name carries the hash of the bytes it serves.
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            assert match["digest"] == digest, path


def test_only_bundles_are_published_and_they_import_nothing(site):
    css = sorted(p.name for p in (site / "theme").rglob("*.css"))
    js = sorted(p.name for p in (site / "theme").rglob("*.js"))
    assert [HASHED.match(n)["name"] for n in css] == ["main", "print"]
    assert [HASHED.match(n)["name"] for n in js] == ["search", "site"]
    for sheet in (site / "theme").rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        assert "@import" not in text and "\n" not in text.strip()
    # Every layered source is in the bundle: the custom properties of the
    # first layer and a rule of the last.
    main = next((site / "theme/css").glob("main.*.css")).read_text()
    assert main.startswith(":root{--lab-colour-brand:")
    assert ".lab-u-visually-hidden" in main


def test_the_search_page_loads_the_search_bundle_and_others_the_site_bundle(site):
    _, scripts = loaded(site / "search/index.html")
    assert HASHED.match(Path(scripts[0].get("src")).name)["name"] == "search"
    _, scripts = loaded(site / "index.html")
    assert HASHED.match(Path(scripts[0].get("src")).name)["name"] == "site"


def test_the_bundle_is_what_lightning_css_bundles_itself(tmp_path):
    """We follow @import ourselves (Lightning CSS's bundler leaves threads
    behind, and lab_writer forks only from one thread); the result must be
    byte for byte its bundler's, run here in a child process."""
    script = (
        "import lightningcss, sys; "
        "sys.stdout.write(lightningcss.bundle_css(sys.argv[1], minify=True))"
    )
    entry = ROOT / "theme/css/main.css"
    theirs = subprocess.run(
        [sys.executable, "-c", script, str(entry)],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert bundle_stylesheet(entry) == theirs
    assert len(theirs) > 10_000


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


PLAIN = r"a\.css: stylesheet: only plain imports"
FAULTS = [
    ({"a.css": "a b > {c: d}"}, r"a\.css: stylesheet: .*dangling combinator"),
    ({"a.css": "}}a{b:c}"}, r"a\.css: stylesheet: .*Invalid empty selector"),
    (
        {"a.css": '@import url("gone.css");'},
        r"gone\.css: stylesheet: no such file \(imported by .*a\.css\)",
    ),
    (
        {"a.css": '@import url("b.css");', "b.css": '@import url("a.css");'},
        r"a\.css: stylesheet: imports itself \(.*a\.css -> .*b\.css -> .*a\.css\)",
    ),
    (
        {"a.css": '@import url("https://cdn.example/x.css");'},
        r"imports https://cdn\.example/x\.css, which is not a file of the theme",
    ),
    ({"a.css": '@import url("b.css") screen;', "b.css": "b{c:d}"}, PLAIN),
    ({"a.css": '@import url("b.css") layer(x);', "b.css": "b{c:d}"}, PLAIN),
]


@pytest.mark.parametrize(("files", "message"), FAULTS)
def test_a_fault_in_a_stylesheet_names_the_file(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(AssetError, match=message):
        bundle_stylesheet(tmp_path / "a.css")


def test_imports_are_inlined_in_order_and_once_each_branch(tmp_path):
    write(tmp_path / "a.css", '@import url("x/b.css");\n@import "c.css";\na{order:3}')
    write(tmp_path / "x/b.css", '@import url("d.css");b{order:1}')
    write(tmp_path / "x/d.css", "d{order:0}")
    write(tmp_path / "c.css", "/* @import url('nope.css'); */ c{order:2}")
    assert bundle_stylesheet(tmp_path / "a.css") == (
        b"d{order:0}b{order:1}c{order:2}a{order:3}"
    )


def test_scripts_are_joined_in_blocks_so_top_level_names_stay_apart(tmp_path):
    one = write(tmp_path / "js/one.js", "const name = 1;\nfunction f() {}\n")
    two = write(tmp_path / "js/two.js", "const name = 2;\n")
    data = bundle_script([one, two], tmp_path).decode()
    assert data == (
        "/* js/one.js */\n{\nconst name = 1;\nfunction f() {}\n}\n"
        "/* js/two.js */\n{\nconst name = 2;\n}\n"
    )
    if shutil.which("node"):
        # Without the blocks, two `const name` would be a SyntaxError.
        check = subprocess.run(
            ["node", "--input-type=module", "-e", data],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
    with pytest.raises(AssetError, match=r"gone\.js: script: cannot be read"):
        bundle_script([tmp_path / "js/gone.js"], tmp_path)


def test_a_hashed_name_changes_with_every_byte():
    one = hashed_name("theme/css", "main", "css", b"a{b:c}", 10)
    assert re.fullmatch(r"theme/css/main\.[0-9a-f]{10}\.css", one)
    assert hashed_name("theme/css", "main", "css", b"a{b:d}", 10) != one


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"LAB_ASSETS_STYLESHEETS": {"main-sheet": "css/main.css"}}, "'main-sheet'"),
        ({"LAB_ASSETS_SCRIPTS": {"site": []}}, "'site'"),
        ({"LAB_ASSETS_SCRIPTS": {"site": [""]}}, "files must be paths"),
        ({"LAB_ASSETS_BROWSERS": "defaults"}, "LAB_ASSETS_BROWSERS"),
        ({"LAB_ASSETS_HASH_LENGTH": 3}, "LAB_ASSETS_HASH_LENGTH"),
        ({"LAB_ASSETS_STYLESHEETS": ["css/main.css"]}, "expected dict"),
    ],
)
def test_settings_are_checked(settings, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        assets_settings(settings)


def test_a_broken_theme_stylesheet_fails_the_build_with_one_line(tmp_path):
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    with open(theme / "css/components/card.css", "a", encoding="utf-8") as handle:
        handle.write("\n.lab-card > { color: red; }\n")
    output = tmp_path / "out"
    with pytest.raises(ContentValidationError) as failure:
        build("pelicanconf.py", output, THEME=str(theme))
    [problem] = failure.value.problems
    assert "card.css: stylesheet: " in problem and "\n" not in problem
    assert not output.exists() or not list(output.rglob("*.html"))


def test_an_in_place_rebuild_after_a_css_edit_matches_a_fresh_build(tmp_path):
    """The old bundle goes (an extra file), the new one comes (a missing
    one): both directions of the differential check."""
    site = Site.copy(tmp_path)
    theme = tmp_path / "theme"
    shutil.copytree(ROOT / "theme", theme)
    site.settings["THEME"] = str(theme)
    site.rebuild()
    before = {p.name for p in (site.output / "theme/css").iterdir()}
    with open(theme / "css/components/card.css", "a", encoding="utf-8") as handle:
        handle.write("\n.lab-card--edited { color: #0b0c0c; }\n")
    with open(theme / "js/comments.js", "a", encoding="utf-8") as handle:
        handle.write("// edited\n")
    site.rebuild()
    after = {p.name for p in (site.output / "theme/css").iterdir()}
    assert len(before) == len(after) == 2 and len(before & after) == 1  # print.css
    assert site.differences() == {"missing": [], "extra": [], "different": []}
    assert len(list((site.output / "theme/js").iterdir())) == 2
