"""The parts every UK public-sector accessibility statement must have, found
by its headings in a built page (parsed with html5lib).

The parts are those of the Public Sector Bodies (Websites and Mobile
Applications) (No. 2) Accessibility Regulations 2018, regulation 7(4) (what is
not accessible and why, alternatives, how to report a problem, the
enforcement procedure), in the shape of GOV.UK's model statement, which the
regulations require the statement to follow: compliance status, non-accessible
content with disproportionate burden and what is out of scope, technical
information, how it was tested, when it was prepared and last reviewed.

Each part is a heading whose text holds one of a few phrases (any case, in
any language beside them: "Statws cydymffurfio / Compliance status" is fine),
and some parts must say something in their own text: the enforcement
procedure names the Equality Advisory and Support Service or the Equality
Commission for Northern Ireland, with a link; the preparation part dates when
the statement was prepared and last reviewed. The statement is the page every
site has at accessibility/index.html (siterules.EXPECTED_FILES), which the
footer of every page links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATEMENT_PAGE = "accessibility/index.html"
HEADINGS = frozenset({"h2", "h3", "h4", "h5", "h6"})
DAY = r"\d{1,2} [A-Za-z]+ \d{4}"


@dataclass(frozen=True)
class Part:
    name: str
    headings: tuple[str, ...]  # phrases, one of which its heading holds
    says: tuple[str, ...] = ()  # patterns its own text must each match
    link: bool = False  # its own text links somewhere

    def problems(self, section: Section | None) -> list[str]:
        if section is None:
            wanted = " or ".join(repr(phrase) for phrase in self.headings)
            return [f"no part '{self.name}' (a heading with {wanted})"]
        problems = [
            f"'{section.heading}' does not say {pattern!r}"
            for pattern in self.says
            if not re.search(pattern, section.text, re.IGNORECASE)
        ]
        if self.link and not section.links:
            problems.append(f"'{section.heading}' links nowhere")
        return problems


PARTS: tuple[Part, ...] = (
    Part("how accessible the website is", ("how accessible",)),
    Part(
        "feedback and contact information (alternative formats)",
        ("feedback and contact", "different format", "alternative format"),
    ),
    Part(
        "reporting accessibility problems",
        ("reporting accessibility problems", "report an accessibility problem"),
    ),
    Part(
        "enforcement procedure",
        ("enforcement procedure",),
        says=(
            "Equality Advisory and Support Service"
            "|Equality Commission for Northern Ireland",
        ),
        link=True,
    ),
    Part(
        "technical information",
        ("technical information",),
        says=("Accessibility Regulations 2018",),
    ),
    Part(
        "compliance status",
        ("compliance status",),
        says=(r"Web Content Accessibility Guidelines|\bWCAG\b",),
    ),
    Part("non-accessible content", ("non-accessible content",)),
    Part("disproportionate burden", ("disproportionate burden",)),
    Part(
        "content not within the scope of the regulations",
        ("not within the scope", "outside the scope", "out of scope"),
    ),
    Part("how it was tested", ("how we tested",)),
    Part(
        "preparation of this statement",
        ("preparation of this accessibility statement",),
        says=(rf"prepared on {DAY}", rf"last reviewed on {DAY}"),
    ),
)


@dataclass
class Section:
    """A heading and the text and links up to the next heading."""

    heading: str
    text: str = ""
    links: list[str] = field(default_factory=list)


def _words(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split())


def sections(main) -> list[Section]:
    """The main element's headings in order, each with its own text."""
    found = [Section("")]

    def walk(element) -> None:
        if element.tag in HEADINGS:
            found.append(Section(_words("".join(element.itertext()))))
        else:
            found[-1].text += " " + (element.text or "")
            if element.tag == "a" and element.get("href"):
                found[-1].links.append(element.get("href"))
            for child in element:
                walk(child)
        found[-1].text += " " + (element.tail or "")

    for child in main:
        walk(child)
    for section in found:
        section.text = _words(section.text)
    return found


def statement_problems(tree) -> list[str]:
    """What the statement in this parsed page lacks, one line a part."""
    mains = list(tree.iter("main"))
    if len(mains) != 1:
        return [f"{len(mains)} <main> elements"]
    found = sections(mains[0])
    problems = []
    for part in PARTS:
        section = next(
            (
                s
                for s in found
                if any(phrase in s.heading.lower() for phrase in part.headings)
            ),
            None,
        )
        problems += part.problems(section)
    return problems
