"""What a moderator should look at twice in a pending comment: the flags
`comments-list` prints and a pull request's description shows (delivery by
pull request, lab_comments.pulls). Shared by both so that the two ways of
moderating never see different warnings; no import of the endpoint or the
CLI here, so that either can use it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from . import names
from .render import count_links
from .store import Queue

MANY_LINKS = 3
LONG_BODY = 3000


class ListingContext:
    """What the flags of one comment need to know of the others, worked out
    once per listing: how many pending comments came from each address and
    from each sender, and each sender's history of moderated comments (read
    once per sender)."""

    def __init__(self, queue: Queue, entries: Sequence[tuple[str, dict | None, str]]):
        self.queue = queue
        self.per_client = Counter(
            record["client"] for _, record, _ in entries if record is not None
        )
        self.per_sender = Counter(
            record["sender"] for _, record, _ in entries if record is not None
        )
        self._senders: dict[str, dict] = {}

    def sender(self, sender: str) -> dict:
        if sender not in self._senders:
            self._senders[sender] = self.queue.sender(sender)
        return self._senders[sender]


def comment_flags(record: dict, context: ListingContext) -> list[str]:
    """What a moderator should look at twice. BodyRefused if the body cannot
    be published (rendered as the build renders it)."""
    flags = []
    if record.get("reply_to"):
        flags.append(f"reply to {record['reply_to']}")
    links = count_links(record["body"])
    if links >= MANY_LINKS:
        flags.append(f"many links ({links})")
    elif links:
        flags.append(f"{links} link(s)")
    if record.get("website"):
        flags.append(f"website {shown(record['website'])}")
    if len(record["body"]) > LONG_BODY:
        flags.append(f"long ({len(record['body'])} characters)")
    sender = context.sender(record["sender"])
    if int(sender.get("rejected", 0)):
        flags.append(f"sender had {sender['rejected']} rejected")
    # Approved and rejected ones (the sender's record) and those waiting.
    sent = (
        int(sender.get("comments", 0))
        + int(sender.get("rejected", 0))
        + context.per_sender[record["sender"]]
    )
    if sent > 1:
        flags.append(f"sender sent {sent} in 12 months")
    else:
        flags.append("first comment from this sender")
    same_client = context.per_client[record["client"]]
    if same_client > 1:
        # The internet (IP) address, not the email address: a moderator
        # reading "address" beside an email took it for that.
        flags.append(f"{same_client} pending from the same internet address")
    return flags


def staff_lookalike(name: str, staff_names: Sequence[str]) -> str | None:
    """The staff name a reader's name would pass for, or None."""
    return names.impersonates(name, tuple(staff_names))


def shown(text: str) -> str:
    """Text safe to print in a terminal: escape sequences and other control
    characters are shown as codes, never sent to the terminal."""
    if text.isprintable():
        return text
    return "".join(
        char if char in "\n" or (char.isprintable()) else f"\\u{ord(char):04x}"
        for char in text
    )
