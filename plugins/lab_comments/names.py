"""Readers' names: what a name may hold, and whether it passes for staff.

Pure functions over plain strings, shared by the endpoint (through
schema.name), the moderation CLI (the list's flag, approve's check) and the
build (schema.validate_published):

* `normalise_name`: NFKC (full-width letters, ligatures and styled
  mathematical letters become plain ones) and one space between words;
* `name_problem`: why a name cannot be taken (an invisible or format
  character anywhere, or nothing visible at all), or None;
* `skeleton`: the Unicode TR39 skeleton (section 4), from the confusables
  data in confusables.txt beside this file (Unicode 13.0.0; its header gives
  the source and the licence);
* `impersonates`: the staff name a reader's name would pass for, or None.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from pathlib import Path

# Named staff that every site has, whoever its authors are: the name the
# Lab's own replies are signed with.
ALWAYS_STAFF = ("Lab team",)

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): drawn as
# nothing at all. Python's unicodedata does not expose the property.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, (non-)joiner, direction marks
    (0x202A, 0x202E),  # direction embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, direction isolates
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # half-width Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned specials
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)
# Drawn as an empty space though not ignorable: a blank Braille cell.
BLANK = frozenset({0x2800})
# Categories that are never part of a name: format, control, private use,
# surrogate, unassigned, line and paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp"})
# The joiners that Persian, Urdu and Indic names need between two letters.
JOINERS = frozenset({0x200C, 0x200D})


def is_default_ignorable(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE)


def normalise_name(value: str) -> str:
    """NFKC, and every run of white space as one space, none at the ends."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def _invisible(text: str, index: int) -> bool:
    char = text[index]
    code = ord(char)
    if code in JOINERS:
        # Between two letters of a script that joins (not ASCII): part of
        # how the name is written.
        around = text[index - 1 : index] + text[index + 1 : index + 2]
        return not (
            index > 0
            and len(around) == 2
            and all(unicodedata.category(c)[0] in "LM" and c > "\x7f" for c in around)
        )
    return (
        code in BLANK
        or is_default_ignorable(char)
        or unicodedata.category(char) in REFUSED_CATEGORIES
    )


def _describe(char: str) -> str:
    name = unicodedata.name(char, "") or f"a {unicodedata.category(char)} character"
    return f"U+{ord(char):04X} {name}"


def name_problem(value: str) -> str | None:
    """Why `value` cannot be a reader's name (a reason to show them), or None.
    The name is checked as normalise_name leaves it."""
    if value.isascii() and value.isprintable():
        # Every printable ASCII character can be seen (none is a joiner, a
        # blank, default ignorable or of a refused category: a test checks
        # each), and NFKC leaves ASCII as it is: the check below, which the
        # endpoint runs on every comment, would find nothing.
        return None if value.strip() else "is required"
    return _name_problem(value)


def _name_problem(value: str) -> str | None:
    text = normalise_name(value)
    # The character as typed, where NFKC changes it (U+3164 becomes U+1160).
    invisible = [
        char
        for form in (value, text)
        for i, char in enumerate(form)
        if _invisible(form, i)
    ]
    if invisible and all(_invisible(text, i) or c == " " for i, c in enumerate(text)):
        return (
            f"is made only of characters that cannot be seen "
            f"({_describe(invisible[0])}): write a name people can read"
        )
    if invisible:
        return (
            f"must not contain characters that cannot be seen "
            f"({_describe(invisible[0])}): write your name with visible letters only"
        )
    if not text:
        return "is required"
    return None


@functools.cache
def _prototypes() -> dict[str, str]:
    """source character -> its prototype (one or more characters)."""
    table = {}
    path = Path(__file__).with_name("confusables.txt")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        source, prototype = line.split(";")
        table[chr(int(source, 16))] = "".join(
            chr(int(code, 16)) for code in prototype.split()
        )
    return table


def skeleton(text: str) -> str:
    """TR39 skeleton(X): NFD, default-ignorable code points removed, each
    character replaced by its prototype, NFD again. Two strings are
    confusable when their skeletons are equal."""
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(
        table.get(char, char) for char in decomposed if not is_default_ignorable(char)
    )
    return unicodedata.normalize("NFD", mapped)


# After case folding: letters whose capitals TR39 maps to other letters
# (I is a prototype l, 0 a prototype O), so that "DANIEL" and "Daniel" meet.
_FOLD_AFTER_CASE = str.maketrans({"i": "l", "1": "l", "0": "o"})


def _words(name: str) -> tuple[str, ...]:
    """The name's words as compared: beyond TR39's skeleton (which keeps
    case and accents), case is folded, combining marks are dropped ("Dániel"
    passes for "Daniel"), and punctuation and spaces only separate words."""
    key = skeleton(skeleton(normalise_name(name)).casefold()).translate(
        _FOLD_AFTER_CASE
    )
    words, word = [], []
    for char in key:
        kind = unicodedata.category(char)[0]
        if kind == "M":
            continue
        if kind in "LN":
            word.append(char)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    return tuple(words)


def impersonates(name: str, staff_names: Iterable[str]) -> str | None:
    """The staff name (or ALWAYS_STAFF name) that `name` would pass for, or
    None: their skeletons' words are equal, or the staff name's words are a
    run within it ("Daniel Mensah (Lab)"), or equal once the spaces are
    gone ("DanielMensah")."""
    words = _words(name)
    joined = "".join(words)
    for staff in [*staff_names, *ALWAYS_STAFF]:
        target = _words(staff)
        if not target:
            continue
        size = len(target)
        runs = (words[i : i + size] for i in range(len(words) - size + 1))
        if joined == "".join(target) or target in runs:
            return staff
    return None
