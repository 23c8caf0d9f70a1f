"""statementcheck: the parts of a UK accessibility statement, found by their
headings, on statements rendered from Markdown as the build renders pages
(the rule that runs it on every built site is siterules'
accessibility-statement, proven in test_lab_content.py). Each part taken out
of a complete statement is named; so are an enforcement procedure that names
no body or links nowhere, and a preparation part without its dates."""

from __future__ import annotations

import html5lib
import markdown
import pytest
from conftest import FIXTURES
from statementcheck import PARTS, statement_problems

COMPLETE = FIXTURES / "sample" / "pages" / "accessibility.md"
BILINGUAL = FIXTURES / "other-lab" / "pages" / "accessibility.md"


def body_of(path) -> str:
    text = path.read_text(encoding="utf-8")
    return text.split("---\n", 2)[2]  # after the front matter


def problems(body: str, main: str = "<main>{}</main>") -> list[str]:
    html = markdown.markdown(body, extensions=["markdown.extensions.toc"])
    page = f"<!doctype html><title>t</title>{main.format(html)}"
    return statement_problems(html5lib.parse(page, namespaceHTMLElements=False))


def without_heading(body: str, phrase: str) -> str:
    lines = body.splitlines()
    kept = [
        line for line in lines if not (line.startswith("#") and phrase in line.lower())
    ]
    assert len(kept) == len(lines) - 1, phrase  # the fixture has it once
    return "\n".join(kept)


@pytest.mark.parametrize("path", [COMPLETE, BILINGUAL], ids=["english", "welsh"])
def test_a_complete_statement_has_no_problem(path):
    assert problems(body_of(path)) == []


@pytest.mark.parametrize("part", PARTS, ids=[part.name for part in PARTS])
def test_each_part_taken_out_is_named(part):
    body = without_heading(body_of(COMPLETE), part.headings[0])
    found = problems(body)
    assert [p for p in found if p.startswith("no part")] == [
        f"no part '{part.name}' (a heading with "
        + " or ".join(repr(h) for h in part.headings)
        + ")"
    ]


def test_an_enforcement_procedure_that_names_no_body_or_links_nowhere():
    body = body_of(COMPLETE)
    start = body.index("## Enforcement procedure")
    end = body.index("## Technical information")
    weak = body[:start] + "## Enforcement procedure\n\nComplain.\n\n" + body[end:]
    assert problems(weak) == [
        "'Enforcement procedure' does not say 'Equality Advisory and Support "
        "Service|Equality Commission for Northern Ireland'",
        "'Enforcement procedure' links nowhere",
    ]


def test_a_statement_that_does_not_say_when_it_was_prepared_and_reviewed():
    body = (
        body_of(COMPLETE)
        .replace("prepared on", "written in")
        .replace("last reviewed on", "looked at on")
    )
    found = problems(body)
    assert found == [
        f"'Preparation of this accessibility statement' does not say {pattern!r}"
        for pattern in PARTS[-1].says
    ]


def test_a_page_without_one_main_is_refused():
    body = body_of(COMPLETE)
    assert problems(body, "<div>{}</div>") == ["0 <main> elements"]
    assert problems(body, "<main>{}</main><main></main>") == ["2 <main> elements"]
