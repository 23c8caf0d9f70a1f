"""Front matter: split from the body and loaded strictly, structures intact."""

from __future__ import annotations

import datetime as dt

import pytest

from lab_content.frontmatter import FrontMatterError, split_front_matter


def test_lists_and_mappings_survive_with_their_types():
    data, body = split_front_matter(
        "---\n"
        "title: A challenge\n"
        "phases:\n"
        "  - name: Research\n"
        "    starts: 2025-04-14\n"
        "    ends: 2025-07-31\n"
        "respond: {method: event,\n"
        "          event: {name: Day, starts: 2027-02-18T13:00:00+00:00}}\n"
        "tags: [a, b]\n"
        "---\n"
        "Body text\n"
    )
    assert data["phases"] == [
        {
            "name": "Research",
            "starts": dt.date(2025, 4, 14),
            "ends": dt.date(2025, 7, 31),
        }
    ]
    starts = data["respond"]["event"]["starts"]
    assert starts == dt.datetime(2027, 2, 18, 13, tzinfo=dt.UTC)
    assert starts.utcoffset() == dt.timedelta(0)
    assert data["tags"] == ["a", "b"]
    assert body == "Body text\n"


def test_a_body_that_looks_like_metadata_stays_body():
    data, body = split_front_matter("---\ntitle: T\n---\nNote: this is body.\n")
    assert data == {"title": "T"}
    assert body == "Note: this is body.\n"


def test_three_dots_also_close_the_front_matter():
    assert split_front_matter("---\ntitle: T\n...\nBody")[1] == "Body"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("title: T\n", "is missing: the file must start with a '---' line"),
        ("---\ntitle: T\n", "is not closed"),
        ("---\ntitle: T\ntitle: U\n---\n", "title: given twice (lines 2 and 3)"),
        ("---\ntitle: [unclosed\n---\n", "invalid YAML"),
        ("---\n- a list\n---\n", "must be a mapping"),
        ("---\n!!python/object/apply:os.system [echo]\n---\n", "invalid YAML"),
    ],
)
def test_malformed_front_matter_is_refused_with_a_reason(text, reason):
    with pytest.raises(FrontMatterError, match=None) as caught:
        split_front_matter(text)
    assert reason in str(caught.value)
