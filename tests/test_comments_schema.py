"""lab_comments.schema: the one set of fields and limits that the endpoint, the
moderation CLI and the build share."""

from __future__ import annotations

import datetime as dt
import smtplib
from email.utils import parseaddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab_comments import schema

GOOD = {
    "post": ["first-challenge"],
    "name": ["Ada Lane"],
    "email": ["ada@example.org"],
    "body": ["A comment."],
}


def parse(**fields):
    form = dict(GOOD)
    for key, value in fields.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value if isinstance(value, list) else [value]
    return schema.parse_submission(form)


def test_a_good_form_becomes_a_submission():
    submission, problems = parse(website="https://example.org/me", reply_to="")
    assert problems == []
    assert submission == schema.Submission(
        post="first-challenge",
        name="Ada Lane",
        email="ada@example.org",
        body="A comment.",
        website="https://example.org/me",
    )


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("name", "n" * 80, True),
        ("name", "n" * 81, False),
        ("email", "a" * 64 + "@" + "b" * 185 + ".org", True),  # 254
        ("email", "a" * 64 + "@" + "b" * 186 + ".org", False),  # 255
        ("website", "https://example.org/" + "p" * 480, True),  # 500
        ("website", "https://example.org/" + "p" * 481, False),  # 501
        ("body", "ab", True),
        ("body", "a", False),
        ("body", "b" * 8000, True),
        ("body", "b" * 8001, False),
    ],
)
def test_each_limit_holds_to_the_character(field, value, ok):
    _, problems = parse(**{field: value})
    assert (problems == []) is ok, problems
    if not ok:
        assert [f for f, _ in problems] == [field]


def test_the_body_is_measured_after_unicode_normalisation():
    decomposed = "e\u0301" * 8000  # 16,000 code points, 8,000 once composed (NFC)
    submission, problems = parse(body=decomposed)
    assert problems == []
    assert submission.body == "\u00e9" * 8000
    assert parse(body="e\u0301" * 8001)[1] == [
        ("body", "must be 8,000 characters or fewer")
    ]


def test_line_breaks_are_normalised_and_surrounding_space_trimmed():
    submission, _ = parse(body="  one\r\ntwo\rthree\u2028four  ", name="  Ada  ")
    assert submission.body == "one\ntwo\nthree\nfour"
    assert submission.name == "Ada"


@pytest.mark.parametrize("field", ["post", "name", "email", "body"])
def test_required_fields_are_required(field):
    assert parse(**{field: None})[1] == [(field, "is required")]
    assert parse(**{field: "   "})[1] == [(field, "is required")]


def test_unknown_and_repeated_fields_are_refused_not_ignored():
    _, problems = parse(colour="red", name=["Ada", "Eve"])
    assert ("colour", "is not a field of this form") in problems
    assert ("name", "was sent more than once") in problems
    _, problems = schema.parse_controls({"subject": ["a", "b"], "loaded": ["soon"]})
    assert problems == [
        ("subject", "was sent more than once"),
        ("loaded", "must be a whole number of milliseconds"),
    ]


@pytest.mark.parametrize(
    "website",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "ftp://example.org/",
        "//example.org/",
        "https://",
        "https://nhs.example@spam.example/",
        "https://example.org/a b",
        "https://example.org:99999/",
        "example.org",
    ],
)
def test_a_website_must_be_a_plain_http_address(website):
    _, problems = parse(website=website)
    assert [f for f, _ in problems] == ["website"]


@pytest.mark.parametrize(
    "email", ["ada", "ada@", "@example.org", "ada@example", "a b@example.org",
              "<ada@example.org>", "ada@example.org,eve@example.org"]
)  # fmt: skip
def test_an_email_must_look_like_one(email):
    assert [f for f, _ in parse(email=email)[1]] == ["email"]


# Each names, to a mail program, another mailbox than the string says (a
# comment, a group, a domain literal, a route): two of them could reach one
# mailbox under two hashes, each with its own one-a-day confirmation.
@pytest.mark.parametrize(
    "email",
    [
        "victim(1)@example.org",
        "victim@example.org(3)",
        "(c)victim@example.org",
        "a:victim@example.org",
        "group:victim@example.org;",
        "victim@example.org]x.org",
        "a@[127.0.0.1]x.org",
        "a)b@x.org",
        "victim%example.org@relay.example",
        "relay!victim@example.org",
        '"victim"@example.org',
        "victim\\@example.org",
    ],
)
def test_an_email_a_mail_program_reads_otherwise_is_refused(email):
    assert [f for f, _ in parse(email=email)[1]] == ["email"]


@pytest.mark.parametrize(
    "email", ["o'brien@example.org", "ada+lab@example.org", "Ada.Lovelace@nhs.net"]
)
def test_an_email_that_means_what_it_says_is_kept_as_written(email):
    assert parse(email=email)[1] == []
    assert schema.email(email) == email


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="ascii", exclude_characters="\n\r"), max_size=30
    )
)
def test_every_email_accepted_is_the_address_a_mail_program_reads(local):
    """What the schema accepts, smtplib and the email package read as the
    same string: so it is hashed, limited and sent as one address."""
    address = f"{local}@example.org"
    try:
        kept = schema.email(address)
    except schema.Invalid:
        return
    assert parseaddr(kept) == ("", kept)
    assert smtplib.quoteaddr(kept) == f"<{kept}>"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Ada\u202eevil", "reverse the direction"),
        ("Ada\u2067x", "reverse the direction"),
        ("Ada\x00", "control characters"),
        ("Ada\x1b[31m", "control characters"),
        ("Ada\ud800", "lone surrogate"),
        ("Ada\ufffe", "non-characters"),
        ("Ada\U0010ffff", "non-characters"),
        ("Ada\nLane", "one line"),
    ],
)
def test_names_refuse_invisible_tricks(value, why):
    _, problems = parse(name=value)
    assert len(problems) == 1 and why in problems[0][1], problems


def test_a_body_keeps_new_lines_and_tabs_but_not_other_controls():
    assert parse(body="one\n\ttwo")[1] == []
    assert [f for f, _ in parse(body="bell\x07")[1]] == ["body"]
    assert [f for f, _ in parse(body="flip \u202e text")[1]] == ["body"]


@pytest.mark.parametrize(
    "value",
    ["../etc", "first-challenge/../x", "First", "a_b", "a.b", "-a", "a-", "", "a--b"],
)
def test_post_and_reply_ids_cannot_name_anything_but_themselves(value):
    _, problems = parse(post=value or " ")
    assert [f for f, _ in problems] == ["post"]
    if value:
        _, problems = parse(reply_to=value)
        assert [f for f, _ in problems] == ["reply_to"]


PUBLISHED = {
    "id": "20250411-081412-3fa9c2",
    "post": "first-challenge",
    "name": "Ruth",
    "date": "2025-04-11T08:14:12Z",
    "body": "Hello.",
}


def test_a_published_record_is_checked_like_a_submission():
    clean, problems = schema.validate_published(
        {**PUBLISHED, "staff": True, "website": "https://example.org"}
    )
    assert problems == []
    assert clean["date"] == dt.datetime(2025, 4, 11, 8, 14, 12, tzinfo=dt.UTC)
    _, problems = schema.validate_published({**PUBLISHED, "name": "x" * 81})
    assert problems == [("name", "must be 80 characters or fewer")]


@pytest.mark.parametrize("field", ["email", "client", "sender", "fingerprint", "ip"])
def test_a_published_record_never_holds_an_address_or_a_hash(field):
    _, problems = schema.validate_published({**PUBLISHED, field: "x"})
    assert problems == [
        (
            field,
            "must never be in a published comment (it holds or is derived from an "
            "email or IP address)",
        )
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"date": "2025-04-11T08:14:12"}, ("date", "has no time zone (add Z for UTC)")),
        ({"date": "yesterday"}, "date"),
        ({"staff": "yes"}, ("staff", "expected true or false, got text")),
        (
            {"reply_to": PUBLISHED["id"]},
            ("reply_to", "a comment cannot reply to itself"),
        ),
        ({"colour": "red"}, "colour"),
        ({"id": 12}, "id"),
        ({"body": None}, ("body", "is required")),
    ],
)
def test_published_records_name_each_problem(change, expected):
    _, problems = schema.validate_published({**PUBLISHED, **change})
    if isinstance(expected, tuple):
        assert expected in problems, problems
    else:
        assert [f for f, _ in problems] == [expected], problems


def test_approving_keeps_only_the_public_fields():
    pending = {
        **PUBLISHED,
        "date": dt.datetime(2025, 4, 11, 8, 14, 12, tzinfo=dt.UTC),
        "email": "ruth@example.org",
        "client": "a" * 64,
        "sender": "b" * 64,
        "fingerprint": "c" * 64,
        "reply_to": "20250410-000000-aaaaaa",
    }
    record = schema.published_record(pending, staff=True)
    assert list(record) == ["id", "post", "name", "date", "reply_to", "staff", "body"]
    assert record["date"] == "2025-04-11T08:14:12Z"
    assert schema.validate_published(record)[1] == []


@pytest.mark.parametrize("multiline", [False, True])
def test_the_quick_character_scan_misses_nothing_the_full_check_refuses(multiline):
    """Text is scanned with one regular expression first and walked character
    by character only when it holds a suspect; every code point the full
    rule refuses must be a suspect."""
    import unicodedata

    def refused(char: str) -> bool:
        code = ord(char)
        if multiline and char in "\n\t":
            return False
        return (
            char in schema.BIDI_CONTROLS
            or unicodedata.category(char) in ("Cc", "Cs")
            or 0xFDD0 <= code <= 0xFDEF
            or (code & 0xFFFE) == 0xFFFE
        )

    for code in range(0x110000):
        char = chr(code)
        try:
            schema._check_characters(f"ok {char} ok", multiline)
        except schema.Invalid:
            assert refused(char), hex(code)
        else:
            assert not refused(char), hex(code)
