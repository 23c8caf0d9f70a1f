"""Plugins that mind their own business: what two plugins share lives in
lab_common; no plugin imports another's modules; one settings error; the
order of PLUGINS checked when the build starts."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from conftest import ROOT, build

from lab_common import SettingsError
from lab_common.plugin_order import position_problem

PLUGINS_DIR = ROOT / "plugins"
# Commands run by hand that write content for the site (not plugins): they
# may read the shared schemas of the plugins whose files they write.
TOOLS = ("lab_import",)
PACKAGES = sorted(
    p.name
    for p in PLUGINS_DIR.iterdir()
    if p.is_dir() and p.name.startswith("lab_") and p.name not in TOOLS
)
# The modules of lab_comments that the endpoint and the moderation CLI run
# on a host with no site build.
ENDPOINT_SIDE = (
    "schema",
    "names",
    "store",
    "render",
    "endpoint",
    "server",
    "cli",
    "settings",
    "delivery",
    "flags",
    "forge",
    "pulls",
    "fetch",
    "__main__",
    "mail",
    "digest",
)


def imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; relative ones resolved
    to their package)."""
    package = path.parent.name
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.add(package + ("." + node.module if node.module else ""))
            else:
                found.add(node.module)
    return found


def package_imports(package: str) -> dict[str, set[str]]:
    return {
        path.name: imports(path)
        for path in sorted((PLUGINS_DIR / package).glob("*.py"))
    }


def test_the_plugins_are_found():
    assert {"lab_common", "lab_content", "lab_feeds", "lab_social"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_a_plugin_imports_no_other_plugin_only_lab_common(package):
    others = {p for p in PACKAGES if p not in (package, "lab_common")}
    if package == "lab_common":
        others = set(PACKAGES) - {"lab_common"}
    wrong = {
        f"{name} imports {module}"
        for name, modules in package_imports(package).items()
        for module in modules
        if module.split(".")[0] in others
    }
    assert wrong == set(), "move what two plugins share into lab_common"


def test_lab_feeds_and_lab_social_never_import_each_other():
    for one, other in (("lab_feeds", "lab_social"), ("lab_social", "lab_feeds")):
        for name, modules in package_imports(one).items():
            assert not {m for m in modules if m.split(".")[0] == other}, (
                f"{one}/{name} imports {other}"
            )


# What a tool may import of the plugins: the schemas and the store that the
# build itself checks content with, never a plugin's Pelican side.
TOOL_MAY_IMPORT = {
    "lab_common",
    "lab_content.schema",
    "lab_content.authors",
    "lab_content.frontmatter",
    "lab_comments",
    "lab_comments.schema",
    "lab_comments.store",
    "lab_comments.render",
    "lab_comments.settings",
}


@pytest.mark.parametrize("tool", TOOLS)
def test_a_tool_imports_only_the_shared_schemas_and_no_plugin_imports_it(tool):
    wrong = {
        f"{name} imports {module}"
        for name, modules in package_imports(tool).items()
        for module in modules
        if module.split(".")[0] in PACKAGES and module not in TOOL_MAY_IMPORT
    }
    assert wrong == set()
    importers = {
        f"{package}/{name}"
        for package in PACKAGES
        for name, modules in package_imports(package).items()
        if any(m.split(".")[0] == tool for m in modules)
    }
    assert importers == set()


@pytest.mark.parametrize("module", ENDPOINT_SIDE)
def test_the_endpoint_side_of_lab_comments_never_imports_pelican(module):
    modules = imports(PLUGINS_DIR / "lab_comments" / f"{module}.py")
    assert not {m for m in modules if m.split(".")[0] == "pelican"}
    assert "lab_comments.plugin" not in modules


def test_there_is_one_settings_error():
    classes = [
        f"{path.relative_to(PLUGINS_DIR)}: {node.name}"
        for path in sorted(PLUGINS_DIR.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name.endswith("SettingsError")
    ]
    assert classes == ["lab_common/settings.py: SettingsError"]
    from lab_comments import settings as comment_settings

    assert comment_settings.SettingsError is SettingsError


def test_shared_names_are_lab_commons_under_their_old_addresses():
    from lab_comments.plugin import CommentValidationError
    from lab_common.dates import build_now
    from lab_common.errors import ContentValidationError
    from lab_content import generator, model

    assert generator.ContentValidationError is ContentValidationError
    assert model.build_now is build_now
    assert issubclass(CommentValidationError, ContentValidationError)


@pytest.mark.parametrize(
    ("plugins", "name", "where", "expected"),
    [
        (["lab_content", "lab_feeds", "lab_writer"], "lab_content", "first", ""),
        (["lab_content", "lab_feeds", "lab_writer"], "lab_writer", "last", ""),
        (["lab_feeds"], "lab_content", "first", ""),  # not loaded: no rule
        (
            ["lab_feeds", "lab_social", "lab_content"],
            "lab_content",
            "first",
            "PLUGINS: 'lab_content' must be first (why), but it comes after "
            "'lab_feeds', 'lab_social': move 'lab_content' to the start of "
            "PLUGINS (pelicanconf.py)",
        ),
        (
            ["lab_content", "lab_writer", "lab_sitemap"],
            "lab_writer",
            "last",
            "PLUGINS: 'lab_writer' must be last (why), but it comes before "
            "'lab_sitemap': move 'lab_writer' to the end of PLUGINS "
            "(pelicanconf.py)",
        ),
    ],
)
def test_position_problem(plugins, name, where, expected):
    assert position_problem(plugins, name, where, "why") == expected


def test_a_module_in_plugins_is_named_by_its_module_name():
    import lab_feeds

    assert "'lab_feeds'" in position_problem(
        [lab_feeds, "lab_content"], "lab_content", "first", "why"
    )


def test_a_build_with_lab_content_not_first_stops_naming_plugins(tmp_path):
    # Pelican connects each plugin's receivers as it loads them, for the rest
    # of the process: connected in the right order first, they keep it, and
    # the builds of later tests are not run in the wrong order.
    for name in ("lab_content", "lab_feeds", "lab_social", "lab_comments"):
        importlib.import_module(name).register()
    plugins = ["lab_feeds", "lab_content", "lab_social", "lab_comments"]
    with pytest.raises(SettingsError) as failure:
        build("pelicanconf.py", tmp_path / "out", PLUGINS=plugins)
    message = str(failure.value)
    assert message.startswith("PLUGINS: 'lab_content' must be first")
    assert "move 'lab_content' to the start of PLUGINS" in message
    assert not (tmp_path / "out").exists()
