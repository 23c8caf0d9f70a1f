"""The error that stops a build over its content, shared by every plugin
that checks content (lab_content, lab_comments): lab_content's log filter
knows it and drops its traceback, since its message is the list itself."""

from __future__ import annotations


class ContentValidationError(Exception):
    """Content does not match its schema. The message lists every problem, one
    `path: field: reason` per line, and the build stops before writing."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the content; nothing was written:\n"
            + "\n".join(problems)
        )
