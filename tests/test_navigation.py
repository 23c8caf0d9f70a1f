"""Related updates, previous and next within a challenge, reading time."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from lab_content.navigation import neighbours, reading_minutes, related_updates

PEER, OTHER = object(), object()


def tag(slug):
    return SimpleNamespace(slug=slug)


def post(slug, day, challenge=None, tags=()):
    return SimpleNamespace(
        slug=slug,
        date=dt.datetime(2025, 1, day, tzinfo=dt.UTC),
        challenge=challenge,
        tags=[tag(t) for t in tags],
    )


def test_related_updates_same_challenge_first_then_most_shared_tags():
    me = post("me", 10, PEER, ["a", "b", "c"])
    posts = [
        me,
        post("same-challenge-old", 1, PEER),
        post("same-challenge-new-shares-a", 2, PEER, ["a"]),
        post("other-shares-three", 20, OTHER, ["a", "b", "c"]),
        post("no-challenge-shares-one", 21, None, ["c"]),
        post("nothing-in-common", 22, OTHER, ["z"]),
    ]
    related = related_updates(me, posts, limit=10)
    assert [p.slug for p in related] == [
        "same-challenge-new-shares-a",
        "same-challenge-old",
        "other-shares-three",
        "no-challenge-shares-one",
    ]
    assert [p.slug for p in related_updates(me, posts, limit=2)] == [
        "same-challenge-new-shares-a",
        "same-challenge-old",
    ]


def test_related_updates_without_anything_in_common_is_empty():
    me = post("me", 1)
    assert related_updates(me, [me, post("x", 2, OTHER, ["z"])]) == []


def test_neighbours_at_the_ends_and_in_the_middle():
    first, middle, last = post("a", 1), post("b", 2), post("c", 3)
    sequence = [first, middle, last]
    assert neighbours(first, sequence) == (None, middle)
    assert neighbours(middle, sequence) == (first, last)
    assert neighbours(last, sequence) == (middle, None)
    assert neighbours(post("alone", 4), sequence) == (None, None)


@pytest.mark.parametrize(
    ("words", "minutes"),
    [(0, 1), (1, 1), (238, 1), (239, 2), (476, 2), (477, 3), (2380, 10)],
)
def test_reading_minutes(words, minutes):
    assert reading_minutes(" ".join(["word"] * words)) == minutes


def test_reading_minutes_counts_words_not_punctuation():
    assert reading_minutes("It's a well-known fact — isn't it? " * 50) == 2  # 250 words


def test_related_updates_match_ranking_every_post_by_hand():
    # A seeded site of 300 posts: the index gives, for every post, what ranking
    # all the others by the rule itself gives.
    import random

    rng = random.Random(8)  # noqa: S311 - a seeded test site, not a secret
    challenges = [object() for _ in range(4)] + [None]
    posts = [
        post(
            f"post-{n:03d}",
            1 + n % 28,
            rng.choice(challenges),
            rng.sample("abcdefghij", rng.randint(0, 3)),
        )
        for n in range(300)
    ]

    def by_hand(me):
        mine = {t.slug for t in me.tags}
        scored = []
        for other in posts:
            if other is me:
                continue
            same = me.challenge is not None and other.challenge is me.challenge
            shared = len(mine & {t.slug for t in other.tags})
            if same or shared:
                scored.append(((same, shared, other.date, other.slug), other))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [other for _, other in scored[:3]]

    for me in posts:
        assert related_updates(me, posts) == by_hand(me)
