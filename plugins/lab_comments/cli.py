"""Moderation from the command line (the make targets wrap it):

    python -m lab_comments.cli serve [--host 127.0.0.1] [--port 8001]
    python -m lab_comments.cli list
    python -m lab_comments.cli show ID
    python -m lab_comments.cli approve ID [--staff]
    python -m lab_comments.cli reject ID
    python -m lab_comments.cli redact ID --text TEXT [--replacement TEXT]
    python -m lab_comments.cli erase ID
    python -m lab_comments.cli purge

Pending comments are in the queue (LAB_COMMENTS_QUEUE); approving one writes
its public fields (never the email address or a hash) to
content/comments/<post>/<id>.yaml (LAB_COMMENTS_CONTENT), to be committed and
published by the next build. Every write is atomic; approve can be run again
after a crash and finishes the job. Exit status: 0 done (or nothing to do),
1 refused, 2 usage. Never imports Pelican.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from . import schema
from .endpoint import REPO_ROOT, ConfigError, config_from_env
from .render import BodyRefused, body_problem, count_links
from .store import Published, Queue, StoreError

CONTENT_VARIABLE = "LAB_COMMENTS_CONTENT"
DEFAULT_CONTENT = REPO_ROOT / "content" / "comments"
MANY_LINKS = 3


class Refused(Exception):
    """The command cannot do what was asked; the message says why."""


def main(argv: Sequence[str] | None = None, environ=os.environ) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_env(environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    content = Path(args.content or environ.get(CONTENT_VARIABLE) or DEFAULT_CONTENT)
    try:
        return args.run(args, config, content)
    except (Refused, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab_comments.cli", description="Moderate the Lab's comments."
    )
    parser.add_argument(
        "--content",
        help=f"folder of published comments (default: ${CONTENT_VARIABLE} or "
        "content/comments)",
    )
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="run the endpoint with waitress")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--threads", type=int, default=8)
    serve.add_argument(
        "--trusted-proxy",
        default=os.environ.get("LAB_COMMENTS_TRUSTED_PROXY", ""),
        help="address of a reverse proxy whose X-Forwarded-For is believed "
        "(default: $LAB_COMMENTS_TRUSTED_PROXY; none)",
    )
    serve.set_defaults(run=serve_command)

    commands.add_parser("list", help="list pending comments").set_defaults(
        run=list_command
    )
    show = commands.add_parser("show", help="show one pending comment in full")
    show.add_argument("id")
    show.set_defaults(run=show_command)

    approve = commands.add_parser("approve", help="publish a pending comment")
    approve.add_argument("id")
    approve.add_argument(
        "--staff", action="store_true", help="mark it as written by Lab staff"
    )
    approve.set_defaults(run=approve_command)

    reject = commands.add_parser("reject", help="delete a pending comment")
    reject.add_argument("id")
    reject.set_defaults(run=reject_command)

    redact = commands.add_parser(
        "redact", help="replace text in a pending (or published) comment"
    )
    redact.add_argument("id")
    redact.add_argument("--text", required=True, help="the exact text to remove")
    redact.add_argument("--replacement", default="[removed by a moderator]")
    redact.set_defaults(run=redact_command)

    erase = commands.add_parser("erase", help="delete a published comment")
    erase.add_argument("id")
    erase.set_defaults(run=erase_command)

    commands.add_parser(
        "purge", help="delete pending comments and sender hashes past their time"
    ).set_defaults(run=purge_command)
    return parser


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _queue(config) -> Queue:
    return Queue(config.queue, config.secret).open()


# -- commands


def serve_command(args, config, content) -> int:
    import waitress

    from .endpoint import CommentsApp

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    app = CommentsApp(config)
    print(
        f"Comments endpoint at http://{args.host}:{args.port}/comments "
        f"(queue: {config.queue}; manifest: {config.manifest}). Ctrl-C stops it.",
        flush=True,
    )
    options = {}
    if args.trusted_proxy:
        options = {
            "trusted_proxy": args.trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for"},
            "clear_untrusted_proxy_headers": True,
        }
    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        ident="lab-comments",
        # Above the endpoint's own 64 KiB, so that it answers with its 413.
        max_request_body_size=1024 * 1024,
        **options,
    )
    return 0


def purge_command(args, config, content) -> int:
    queue = _queue(config)
    pending, senders = queue.purge(_now(), config.pending_days, config.sender_days)
    print(
        f"Deleted {pending} pending comment(s) older than {config.pending_days} days "
        f"and {senders} sender hash(es) not seen for {config.sender_days} days."
    )
    return 0


def list_command(args, config, content) -> int:
    queue = _queue(config)
    # The queue is read once: the purge and every line below work from these
    # entries (a line that read the queue again made listing quadratic).
    entries = list(queue.pending())
    purged = queue.purge(_now(), config.pending_days, config.sender_days, entries)
    if purged[0]:
        print(
            f"(Deleted {purged[0]} pending comment(s) past {config.pending_days} days.)"
        )
        entries = [entry for entry in entries if queue.path(entry[0]).exists()]
    if not entries:
        print("No comments are waiting for moderation.")
        return 0
    print(f"{len(entries)} comment(s) waiting for moderation, oldest first:\n")
    context = ListingContext(queue, entries)
    for comment_id, record, problem in entries:
        if record is None:
            path = queue.path(comment_id)
            print(f"{comment_id}  UNREADABLE ({path}): {_shown(problem)}")
            print("    Skipped. Reject it (make comments-reject ID=...) or mend it.\n")
            continue
        try:
            flags = comment_flags(record, context)
        except BodyRefused as exc:
            path = queue.path(comment_id)
            print(
                f"{comment_id}  CANNOT BE PUBLISHED ({path}): body: {_shown(str(exc))}"
            )
            print("    Skipped. Reject it (make comments-reject ID=...).\n")
            continue
        date = record["date"].strftime("%Y-%m-%d %H:%M UTC")
        print(f"{comment_id}  {date}  on {record['post']}")
        print(f"    from {_shown(record['name'])}")
        if flags:
            print(f"    flags: {', '.join(flags)}")
        excerpt = _shown(" ".join(record["body"].split())[:240])
        for line in _wrap(excerpt, 76):
            print(f"    > {line}")
        print()
    print("Approve: make comments-approve ID=...   Reject: make comments-reject ID=...")
    return 0


class ListingContext:
    """What the flags of one comment need to know of the others, worked out
    once per listing: how many pending comments came from each address, and
    each sender's history (read once per sender)."""

    def __init__(self, queue: Queue, entries: Sequence[tuple[str, dict | None, str]]):
        self.queue = queue
        self.per_client = Counter(
            record["client"] for _, record, _ in entries if record is not None
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
        flags.append(f"website {_shown(record['website'])}")
    if len(record["body"]) > 3000:
        flags.append(f"long ({len(record['body'])} characters)")
    sender = context.sender(record["sender"])
    if int(sender.get("rejected", 0)):
        flags.append(f"sender had {sender['rejected']} rejected")
    if int(sender.get("comments", 0)) > 1:
        flags.append(f"sender sent {sender['comments']} in 12 months")
    same_client = context.per_client[record["client"]]
    if same_client > 1:
        flags.append(f"{same_client} pending from the same address")
    return flags


def show_command(args, config, content) -> int:
    queue = _queue(config)
    try:
        record = queue.read(args.id)
    except StoreError as exc:
        path = queue.path(args.id)
        if not path.exists():
            raise
        raise Refused(
            f"{args.id} cannot be read ({path}): {_shown(str(exc))}. "
            "Reject it (make comments-reject ID=...) or mend it."
        ) from None
    for key in ("id", "post", "reply_to", "name", "email", "website"):
        if record.get(key):
            print(f"{key}: {_shown(record[key])}")
    print(f"date: {schema.format_date(record['date'])}")
    if reason := body_problem(record["body"]):
        print(f"cannot be published: body: {_shown(reason)}")
    print("body:")
    print(textwrap.indent(_shown(record["body"]), "    "))
    return 0


def approve_command(args, config, content) -> int:
    queue = _queue(config)
    published = Published(content).open()
    try:
        record = queue.read(args.id)
    except StoreError:
        if published.find(args.id):
            print(f"{args.id} is already approved: nothing to do.")
            return 0
        raise Refused(f"no pending comment {args.id}") from None
    public = schema.published_record(record, staff=args.staff)
    _, problems = schema.validate_published(public)
    if problems:
        raise Refused("; ".join(f"{field}: {reason}" for field, reason in problems))
    parent = public.get("reply_to")
    if parent and parent not in published.ids(public["post"]):
        raise Refused(
            f"{args.id} replies to {parent}, which is not published: approve "
            f"{parent} first (or reject this one)"
        )
    # Written before the pending file is removed: after a crash in between,
    # running approve again rewrites the same file and finishes.
    path = published.write(public)
    queue.remove(args.id)
    print(
        f"Approved {args.id}: {_relative(path)}. Commit it; the next build "
        "publishes it."
    )
    return 0


def reject_command(args, config, content) -> int:
    queue = _queue(config)
    try:
        record = queue.read(args.id)
    except StoreError:
        if queue.path(args.id).exists():
            # Unreadable: still delete it (it is only in the queue).
            queue.remove(args.id)
            print(f"Rejected {args.id} (it could not be read).")
            return 0
        print(f"No pending comment {args.id}: nothing to do.")
        return 0
    queue.remove(args.id)
    queue.note_sender(record["sender"], _now(), rejected=True)
    print(f"Rejected {args.id}: deleted from the queue.")
    return 0


def redact_command(args, config, content) -> int:
    if not args.text:
        raise Refused("--text must not be empty")
    queue = _queue(config)
    published = Published(content).open()
    if queue.path(args.id).exists():
        record = queue.read(args.id)
        count = _redact(record, args.text, args.replacement)
        queue.write(record)
        where = "pending comment"
    else:
        path = published.find(args.id)
        if path is None:
            raise Refused(f"no pending or published comment {args.id}")
        record = published.read(path)
        count = _redact(record, args.text, args.replacement)
        published.write(record)
        where = f"published comment ({_relative(path)}; commit it)"
    print(f"Redacted {count} occurrence(s) in {where} {args.id}.")
    return 0


def _redact(record: dict, text: str, replacement: str) -> int:
    count = 0
    for key in ("name", "body", "website"):
        value = record.get(key)
        if isinstance(value, str) and text in value:
            count += value.count(text)
            if key == "website":
                del record[key]  # a half-address is no use to anyone
            else:
                record[key] = value.replace(text, replacement)
    if not count:
        raise Refused(f"the text was not found in {record.get('id')}")
    check = schema.validate_pending if "email" in record else schema.validate_published
    _, problems = check(record)
    if problems:
        raise Refused(
            "after redaction: "
            + "; ".join(f"{field}: {reason}" for field, reason in problems)
        )
    return count


def erase_command(args, config, content) -> int:
    published = Published(content).open()
    path = published.find(args.id)
    if path is None:
        print(f"No published comment {args.id}: nothing to do.")
        return 0
    record = published.read(path)
    # Replies to it move up to its parent (or the top level) first, so that
    # the build never meets a reply to a comment that is gone.
    for sibling in sorted(path.parent.glob("*.yaml")):
        if sibling == path or sibling.name.startswith("."):
            continue
        other = published.read(sibling)
        if other.get("reply_to") == args.id:
            if record.get("reply_to"):
                other["reply_to"] = record["reply_to"]
            else:
                other.pop("reply_to")
            published.write(other)
    from .store import remove_file

    remove_file(path)
    print(
        f"Erased {args.id} ({_relative(path)}). Commit the change; the next build "
        "removes it from the site. It stays in the git history until that is "
        "rewritten (see README: Comments and moderation)."
    )
    return 0


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _wrap(text: str, width: int) -> list[str]:
    """Words separated by single spaces, in lines of at most `width`
    characters (a longer word is cut): textwrap's greedy fill, at a tenth of
    its cost, which counts when 10,000 comments are listed."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def _shown(text: str) -> str:
    """Text safe to print in a terminal: escape sequences and other control
    characters are shown as codes, never sent to the terminal."""
    if text.isprintable():
        return text
    return "".join(
        char if char in "\n" or (char.isprintable()) else f"\\u{ord(char):04x}"
        for char in text
    )


if __name__ == "__main__":
    sys.exit(main())
