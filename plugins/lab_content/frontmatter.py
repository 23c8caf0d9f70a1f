"""Split a Markdown file into YAML front matter and body, and load the YAML strictly.

Problems that leave the rest of the front matter readable (a key given twice,
an impossible date) are returned with the data, so that a writer sees every
mistake in a file at once; only YAML that cannot be parsed at all stops there.
"""

from __future__ import annotations

import yaml

Problem = tuple[str, str]  # (field, reason)


class FrontMatterError(ValueError):
    """The front matter cannot be read; the message says why and where."""


class ImpossibleDate(str):
    """A YAML timestamp naming a day or time that does not exist
    (`2026-02-30`, `25:00`): kept as its text, with the reason, so that the
    field it belongs to reports it instead of the parser raising mid-file."""

    reason: str = ""


# libyaml's C parser is ten times faster than the pure-Python one; both build
# only plain data (the safe constructor), and PyPI's wheels ship libyaml.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """Safe loader that records duplicate keys (which plain YAML silently
    overwrites) and impossible timestamps (which PyYAML raises a bare
    ValueError for, naming neither file nor field)."""

    line_offset = 0

    def construct_document(self, node):
        self.lab_root = node
        return super().construct_document(node)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep=False):
    first_lines: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1 + loader.line_offset
        try:
            first = first_lines.setdefault(key, None)
        except TypeError:  # a list or mapping as a key: the schema names it
            continue
        if first is None:
            first_lines[key] = line
        else:
            top = node is getattr(loader, "lab_root", None)
            field = str(key) if top else "front matter"
            reason = f"given twice (lines {first} and {line})"
            loader.lab_problems.append(
                (field, reason if top else f"key {key!r} {reason}")
            )
    return loader.construct_mapping(node, deep=deep)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode):
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        value = ImpossibleDate(loader.construct_scalar(node))
        # datetime's own words, but for the zone's (a sentence of timedeltas).
        reason = str(exc)
        value.reason = (
            "its zone is 24 hours or more away" if "offset" in reason else reason
        )
        return value


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def read_yaml(text: str, line_offset: int = 0) -> tuple[object, list[Problem]]:
    """Parse YAML with the safe loader: the data and the problems that did not
    stop the parse (keys given twice: the later value is kept).

    Raises FrontMatterError with the parser's reason and line when the text
    is not YAML; `line_offset` turns a line of `text` into a line of the file
    it came from.
    """
    loader = _StrictLoader(text)
    loader.line_offset = line_offset
    loader.lab_problems = []
    try:
        # _StrictLoader derives from SafeLoader: only plain data is ever built.
        return loader.get_single_data(), loader.lab_problems
    except yaml.YAMLError as exc:
        raise FrontMatterError(_yaml_reason(exc, text, line_offset)) from None
    finally:
        loader.dispose()


def _yaml_reason(exc: yaml.YAMLError, text: str, line_offset: int) -> str:
    tabbed = [
        number + line_offset
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and "\t" in line[: len(line) - len(line.lstrip())]
    ]
    if tabbed:
        lines = ", ".join(str(n) for n in tabbed)
        if len(tabbed) == 1:
            return f"line {lines} is indented with a tab; YAML needs spaces"
        return f"lines {lines} are indented with tabs; YAML needs spaces"
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1 + line_offset})" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"invalid YAML: {problem}{where}"


def load_yaml(text: str, line_offset: int = 0) -> object:
    """Like read_yaml, but any problem raises FrontMatterError."""
    data, problems = read_yaml(text, line_offset)
    if problems:
        field, reason = problems[0]
        raise FrontMatterError(f"{field}: {reason}")
    return data


def read_front_matter(text: str) -> tuple[dict, str, list[Problem]]:
    """(metadata, body, problems) of a document that starts with a `---`
    block; the problems are those that left the rest readable.

    The block ends at the next line that is exactly `---` or `...`. A
    byte-order mark and Windows line ends are read as if absent. Raises
    FrontMatterError when the block cannot be read at all.
    """
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        raise FrontMatterError("is missing: the file must start with a '---' line")
    index = next(
        (
            i
            for i, line in enumerate(lines[1:], start=1)
            if line.rstrip() in ("---", "...")
        ),
        None,
    )
    if index is None:
        raise FrontMatterError("is not closed: no '---' line after the one on line 1")
    data, problems = read_yaml("".join(lines[1:index]), line_offset=1)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError("must be a mapping of field: value lines")
    body = "".join(lines[index + 1 :])
    return data, body, problems


def split_front_matter(text: str) -> tuple[dict, str]:
    """(metadata, body); any problem in the front matter raises
    FrontMatterError."""
    data, body, problems = read_front_matter(text)
    if problems:
        field, reason = problems[0]
        raise FrontMatterError(f"{field}: {reason}")
    return data, body
