"""How deeply a Markdown text nests, measured on the source before Markdown
sees it.

Python-Markdown parses nested blocks (a list in a list, a quote in a list) by
recursing once per level: `"- " * 495 + "x"` exhausts Python's call stack
and raises RecursionError out of the build. Its link pattern scans forward
from every `[` for the matching `]`, so a few thousand nested brackets take
seconds. Both are bounded here by one linear pass over the text, cheap
enough to run on a megabyte before any parser does: comments (lab_comments)
and staff pages (lab_content) refuse a text nested deeper than
MAX_NESTING, with a reason a writer can act on.

The measure is deliberately generous to what people write (it counts what
could nest, even where Markdown would not, such as brackets in a code span)
and strict only far beyond it: no reader's comment or staff post nests
sixteen levels deep.
"""

from __future__ import annotations

import re

# Levels of lists, quotes and indentation on one line, or of brackets open at
# once, that a text may have. Python-Markdown's stack gives out near 490
# levels of lists; sixteen is far more than any writing needs.
MAX_NESTING = 16

# A list item's marker: "-", "*" or "+", or up to nine digits and "." or ")",
# followed by a space or a tab (or the end of the line).
_BULLETS = frozenset("-*+")
_DIGITS = frozenset("0123456789")
_TAB_WIDTH = 4
_BRACKET_CHARS = re.compile(r"[\\\[\]()]")


def block_depth(line: str) -> int:
    """The levels a line opens before its text: every 4 columns of
    indentation, and each quote marker (`>`) and list marker at its start
    (`- > 1. x` opens three)."""
    depth = 0
    column = 0
    position = 0
    length = len(line)
    # Indentation: a level for each tab stop (a nested list or a code block).
    while position < length and line[position] in " \t":
        column += _TAB_WIDTH - column % _TAB_WIDTH if line[position] == "\t" else 1
        position += 1
    depth += column // _TAB_WIDTH
    while position < length:
        char = line[position]
        if char == ">" or (char in _BULLETS and _marker_ends(line, position + 1)):
            position += 1
        elif char in _DIGITS:
            end = position
            while end < length and end - position < 10 and line[end] in _DIGITS:
                end += 1
            if end < length and line[end] in ".)" and _marker_ends(line, end + 1):
                position = end + 1
            else:
                break
        else:
            break
        depth += 1
        while position < length and line[position] in " \t":
            position += 1
    return depth


def _marker_ends(line: str, position: int) -> bool:
    return position >= len(line) or line[position] in " \t"


def bracket_depth(text: str) -> int:
    """The most square brackets, or link addresses (`](`), open at once:
    `[[[a]]]` is 3, and so is `[a]([b]([c](`, whose every `(` Markdown scans
    to the end of the text for its `)`. An escaped character (`\\[`) does
    not count, and a stray `]` or `)` never goes below 0."""
    if "[" not in text:
        return 0
    brackets = deepest = links = 0
    # The parentheses open, each True if it opened a link's address: the
    # `)` that closes an address may come after other parentheses.
    parens: list[bool] = []
    escaped_at = closed_at = -2
    # Only the characters that matter, found by the regex engine: a text is
    # mostly words, and a loop over every character costs ten times more.
    for match in _BRACKET_CHARS.finditer(text):
        at = match.start()
        char = text[at]
        if at == escaped_at:
            continue
        if char == "\\":
            escaped_at = at + 1
        elif char == "[":
            brackets += 1
            deepest = max(deepest, brackets)
        elif char == "]":
            brackets -= brackets > 0
            closed_at = at
        elif char == "(":
            is_link = closed_at == at - 1
            parens.append(is_link)
            links += is_link
            deepest = max(deepest, links)
        elif parens:
            links -= parens.pop()
    return deepest


def nesting_problem(text: str, limit: int = MAX_NESTING) -> str | None:
    """Why `text` nests too deeply for Markdown, or None when it does not.
    Linear in the length of the text; stops at the first line over the
    limit."""
    for number, line in enumerate(text.splitlines(), start=1):
        if block_depth(line) > limit:
            return (
                f"has lists, quotes or indentation nested more than {limit} "
                f"levels deep (line {number} of the text); please write it more simply"
            )
    if bracket_depth(text) > limit:
        return (
            f"has square brackets or links nested more than {limit} levels deep; "
            "please write it more simply"
        )
    return None
