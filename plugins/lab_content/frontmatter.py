"""Split a Markdown file into YAML front matter and body, and load the YAML strictly."""

from __future__ import annotations

import yaml


class FrontMatterError(ValueError):
    """The front matter cannot be read; the message says why and where."""


# libyaml's C parser is ten times faster than the pure-Python one; both build
# only plain data (the safe constructor), and PyPI's wheels ship libyaml.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """Safe loader that refuses duplicate keys, which plain YAML silently
    overwrites."""

    line_offset = 0


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise FrontMatterError(
                f"duplicate key {key!r} "
                f"(line {key_node.start_mark.line + 1 + loader.line_offset})"
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_yaml(text: str, line_offset: int = 0) -> object:
    """Parse YAML with the safe loader, refusing duplicate keys.

    Raises FrontMatterError with the parser's reason and line; `line_offset`
    turns a line of `text` into a line of the file it came from.
    """
    loader = _StrictLoader(text)
    loader.line_offset = line_offset
    try:
        # _StrictLoader derives from SafeLoader: only plain data is ever built.
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1 + line_offset})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FrontMatterError(f"invalid YAML: {problem}{where}") from None
    finally:
        loader.dispose()


def split_front_matter(text: str) -> tuple[dict, str]:
    """Return (metadata, body) of a document that starts with a `---` block.

    The block ends at the next line that is exactly `---` or `...`.
    """
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        raise FrontMatterError("no front matter: the file must start with a '---' line")
    index = next(
        (
            i
            for i, line in enumerate(lines[1:], start=1)
            if line.rstrip() in ("---", "...")
        ),
        None,
    )
    if index is None:
        raise FrontMatterError("front matter is not closed by a '---' line")
    data = load_yaml("".join(lines[1:index]), line_offset=1)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError("front matter must be a mapping of field: value")
    body = "".join(lines[index + 1 :])
    return data, body
