"""lab_assets: one minified stylesheet and at most one script per page, with hashed
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
from conftest import ROOT, build, parse_html, site_pages
from lab_assets.bundle import (
    AssetError,
    bundle_script,
    bundle_stylesheet,
    hashed_name,
    rename_custom_properties,
    shorten_custom_properties,
    without_leading_comments,
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


def test_every_page_loads_one_stylesheet_and_at_most_one_script_by_hashed_names(
    site,
):
    # Pages at old addresses (lab_redirects) load nothing at all
    # (sitecheck.redirect_page_problems checks it).
    pages = site_pages(site)
    assert len(pages) > 40
    with_script = 0
    for page in pages:
        sheets, scripts = loaded(page)
        blocking = [s for s in sheets if s.get("media", "all") != "print"]
        where = page.relative_to(site)
        assert len(blocking) == 1, where
        assert len(scripts) <= 1, where
        with_script += len(scripts)
        # A module script is deferred: nothing but the stylesheet blocks.
        assert all(s.get("type") == "module" for s in scripts), where
        loads = [*((s, "href") for s in sheets), *((s, "src") for s in scripts)]
        for element, attribute in loads:
            path = local(site, element.get(attribute))
            match = HASHED.match(path.name)
            assert match, path.name
            # The name carries the hash of the bytes it serves.
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            assert match["digest"] == digest, path
    assert 0 < with_script < len(pages)


def test_only_bundles_are_published_and_they_import_nothing(site):
    css = sorted(p.name for p in (site / "theme").rglob("*.css"))
    js = sorted(p.name for p in (site / "theme").rglob("*.js"))
    # answer: the comments endpoint's answer page alone links it.
    assert [HASHED.match(n)["name"] for n in css] == ["answer", "main", "print"]
    assert [HASHED.match(n)["name"] for n in js] == ["post", "search"]
    for sheet in (site / "theme").rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        assert "@import" not in text and "\n" not in text.strip()
    # Every layered source is in the bundle: the custom properties of the
    # first layer and a rule of the last.
    main = next((site / "theme/css").glob("main.*.css")).read_text()
    assert main.startswith(":root{--") and "#00585e" in main
    assert ".lab-u-visually-hidden" in main


def script_of(page: Path) -> str | None:
    _, scripts = loaded(page)
    if not scripts:
        return None
    return HASHED.match(Path(scripts[0].get("src")).name)["name"]


def test_each_page_loads_the_script_bundle_it_needs(site):
    """The search page the search; a post that takes or shows comments the
    comment form's script; every other page none."""
    assert script_of(site / "search/index.html") == "search"
    assert script_of(site / "index.html") is None
    assert script_of(site / "updates/2025/first-challenge/index.html") == "post"
    assert script_of(site / "about/index.html") is None
    closed = site / "updates/2025/what-is-a-lab/index.html"
    assert parse_html(closed).find(".//form[@id='comment-form']") is None
    assert script_of(closed) is None


def test_short_custom_property_names_change_nothing_else():
    css = (
        ":root{--lab-colour:#000;--lab-gap:1rem;--lab-x_y:2}"
        ".lab-button--secondary{color:var(--lab-colour);margin:var(--lab-gap)}"
        ".a{padding:calc(var(--lab-gap)*-1) var(--lab-gap,var(--lab-colour))}"
        '.b:after{content:"--lab-colour var(--lab-gap)";'
        "background:url(a--lab-gap.svg);quotes:'\\'--lab-gap'}"
        ".c{z-index:var(--lab-x_y)}"
    )
    short, names = shorten_custom_properties(css)
    # Most used first: --lab-gap (5 times), --lab-colour (3), --lab-x_y (2).
    assert names == {"--lab-gap": "--a", "--lab-colour": "--b", "--lab-x_y": "--c"}
    assert short == (
        ":root{--b:#000;--a:1rem;--c:2}"
        ".lab-button--secondary{color:var(--b);margin:var(--a)}"
        ".a{padding:calc(var(--a)*-1) var(--a,var(--b))}"
        '.b:after{content:"--lab-colour var(--lab-gap)";'
        "background:url(a--lab-gap.svg);quotes:'\\'--lab-gap'}"
        ".c{z-index:var(--c)}"
    )
    # Renaming back gives the text it was made from, for the theme's bundle
    # too: names are only ever swapped, one for one.
    for text in (css, bundle_stylesheet(ROOT / "theme/css/main.css").decode()):
        short, names = shorten_custom_properties(text)
        back = {new: old for old, new in names.items()}
        assert len(back) == len(names)
        assert rename_custom_properties(short, back) == text


def test_every_custom_property_the_bundle_uses_is_defined():
    css = bundle_stylesheet(ROOT / "theme/css/main.css").decode()
    assert "--lab-" not in css
    used = set(re.findall(r"var\((--[a-z]+)", css))
    defined = set(re.findall(r"[{;](--[a-z]+):", css))
    assert used and used <= defined


def test_the_bundle_is_what_lightning_css_bundles_itself(tmp_path):
    """We follow @import ourselves (Lightning CSS's bundler leaves threads
    behind, and lab_writer forks only from one thread); the result must be
    byte for byte its bundler's (run here in a child process), once the
    custom properties have their short names."""
    script = (
        "import lightningcss, sys; "
        "sys.stdout.write(lightningcss.bundle_css(sys.argv[1], minify=True))"
    )
    entry = ROOT / "theme/css/main.css"
    theirs = subprocess.run(
        [sys.executable, "-c", script, str(entry)],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert (
        bundle_stylesheet(entry).decode()
        == shorten_custom_properties(theirs.decode())[0]
    )
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
    one = write(
        tmp_path / "js/one.js",
        "// Notes for people.\n/* More notes,\n over lines. */\n"
        "const name = 1;\nfunction f() {} // kept: after the first statement\n",
    )
    two = write(tmp_path / "js/two.js", "const name = 2;\n")
    data = bundle_script([one, two], tmp_path).decode()
    assert data == (
        "/* js/one.js */\n{\nconst name = 1;\n"
        "function f() {} // kept: after the first statement\n}\n"
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


@pytest.mark.parametrize(
    ("script", "left"),
    [
        ("// a\n// b\nx();", "x();"),
        ("/* a */ /* b */\n  x(); // c", "x(); // c"),
        ("x(); /* a */", "x(); /* a */"),
        ("/* never closed\nx();", "/* never closed\nx();"),
        ("// only a comment", ""),
        ('"/* a string */";', '"/* a string */";'),
    ],
)
def test_only_the_comments_before_the_first_statement_go(script, left):
    assert without_leading_comments(script) == left


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
    # print.css and answer.css (the endpoint's answer page) are unchanged.
    assert len(before) == len(after) == 3 and len(before & after) == 2
    assert site.differences() == {"missing": [], "extra": [], "different": []}
    assert len(list((site.output / "theme/js").iterdir())) == 2
