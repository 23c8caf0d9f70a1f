"""Ways from one update to the next: related updates, previous and next within
a challenge, and reading time. Pure functions over plain values."""

from __future__ import annotations

import math
import re
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


def related_updates(post: Any, posts: Sequence[Any], limit: int = 3) -> list[Any]:
    """Other posts for a reader of `post`: those of the same challenge first,
    then those sharing the most tags; newest first within each; at most
    `limit`. A post with nothing in common gets nothing (no filler)."""
    challenge = getattr(post, "challenge", None)
    tags = {tag.slug for tag in getattr(post, "tags", None) or []}
    scored = []
    for other in posts:
        if other is post:
            continue
        same_challenge = (
            challenge is not None and getattr(other, "challenge", None) is challenge
        )
        shared = len(tags & {t.slug for t in getattr(other, "tags", None) or []})
        if same_challenge or shared:
            scored.append((same_challenge, shared, other.date, other.slug, other))
    scored.sort(key=lambda entry: entry[:4], reverse=True)
    return [entry[-1] for entry in scored[:limit]]


def neighbours(post: Any, sequence: Sequence[Any]) -> tuple[Any | None, Any | None]:
    """(previous, next) of `post` in `sequence`, oldest first; None at the ends."""
    for index, item in enumerate(sequence):
        if item is post:
            previous = sequence[index - 1] if index > 0 else None
            following = sequence[index + 1] if index + 1 < len(sequence) else None
            return previous, following
    return None, None
