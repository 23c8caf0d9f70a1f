"""A Jinja extension that drops the theme's indentation from what it writes.

The templates are indented for the people who edit them; a reader's browser
gets the same page without it (about 1.5 KB less on a post page, where the
page budgets of tests/test_budgets.py are tight). Only the templates' own
text is touched, never a value they insert (a post's body keeps its <pre>
blocks), and a line break stays where there was one, so no two words meet.
A template with a <pre> or <textarea> holding text of its own would lose
that text's indentation: the theme has none (tests/test_dedent.py checks).
"""

from __future__ import annotations

import re

from jinja2.ext import Extension
from jinja2.lexer import Token

INDENT = re.compile(r"\n[ \t]+")


def dedent(text: str) -> str:
    """Text with the spaces and tabs that begin each of its lines removed
    (the first line's too when it follows a line break in the template)."""
    return INDENT.sub("\n", text)


class Dedent(Extension):
    def filter_stream(self, stream):
        for token in stream:
            if token.type == "data":
                yield Token(token.lineno, "data", dedent(token.value))
            else:
                yield token
