"""Ways from one update to the next: related updates, previous and next within
a challenge, and reading time. Pure functions over plain values."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

# Adults read about 238 words a minute on screen (Brysbaert, 2019); round up so
# that "1 minute" is the least a post ever says.
WORDS_PER_MINUTE = 238
_WORD_RE = re.compile(r"\w+(?:['\u2019-]\w+)*")


def reading_minutes(text: str, words_per_minute: int = WORDS_PER_MINUTE) -> int:
    """Minutes to read `text` (plain text, not HTML), at least 1."""
    words = len(_WORD_RE.findall(text))
    return max(1, math.ceil(words / words_per_minute))


class RelatedIndex:
    """Finds related updates without comparing every post with every other:
    posts are indexed by challenge and by tag once, so each post looks only at
    those it has something in common with."""

    def __init__(self, posts: Sequence[Any]):
        self.posts = {id(p): p for p in posts}
        self.tags = {
            id(p): {t.slug for t in getattr(p, "tags", None) or []} for p in posts
        }
        # Newest first, then by slug: the last part of every post's rank.
        self.order = {id(p): (p.date, p.slug) for p in posts}
        self.by_challenge: dict[int, list[int]] = {}
        self.by_tag: dict[str, list[int]] = {}
        for post in posts:
            challenge = getattr(post, "challenge", None)
            if challenge is not None:
                self.by_challenge.setdefault(id(challenge), []).append(id(post))
            for slug in self.tags[id(post)]:
                self.by_tag.setdefault(slug, []).append(id(post))

    def related(self, post: Any, limit: int = 3) -> list[Any]:
        """Other posts for a reader of `post`: those of the same challenge
        first, then those sharing the most tags; newest first within each; at
        most `limit`. A post with nothing in common gets nothing (no filler)."""
        challenge = getattr(post, "challenge", None)
        shared: Counter[int] = Counter()
        for slug in self.tags[id(post)]:
            shared.update(self.by_tag.get(slug, ()))
        same = (
            set(self.by_challenge.get(id(challenge), ()))
            if challenge is not None
            else set()
        )
        candidates = same.union(shared)
        candidates.discard(id(post))
        order = self.order
        best = heapq.nlargest(
            limit,
            candidates,
            key=lambda other: (other in same, shared[other], order[other]),
        )
        return [self.posts[other] for other in best]


def related_updates(post: Any, posts: Sequence[Any], limit: int = 3) -> list[Any]:
    """The related updates of `post` among `posts` (see RelatedIndex.related)."""
    return RelatedIndex(posts).related(post, limit)


def with_neighbours(sequence: Sequence[Any]):
    """(item, previous, next) for every item of `sequence`, oldest first;
    None at the ends."""
    last = len(sequence) - 1
    for index, item in enumerate(sequence):
        previous = sequence[index - 1] if index > 0 else None
        following = sequence[index + 1] if index < last else None
        yield item, previous, following


def neighbours(post: Any, sequence: Sequence[Any]) -> tuple[Any | None, Any | None]:
    """(previous, next) of `post` in `sequence`, oldest first; None at the ends."""
    for item, previous, following in with_neighbours(sequence):
        if item is post:
            return previous, following
    return None, None
