"""Moderation from the command line (the make targets wrap it; `python -m
lab_comments` is the same, with `serve` when no command is given):

    python -m lab_comments.cli serve [--host 127.0.0.1] [--port 8001]
    python -m lab_comments.cli list
    python -m lab_comments.cli mail-test
    python -m lab_comments.cli show ID
    python -m lab_comments.cli approve ID [--override-name]
    python -m lab_comments.cli reject ID
    python -m lab_comments.cli redact ID (--text TEXT | --text-file PATH)
                                  [--replacement TEXT]
    python -m lab_comments.cli erase ID
    python -m lab_comments.cli reply ID --author KEY [--body-file PATH]
                                  [--to-pull [--remote NAME]]
    python -m lab_comments.cli purge

Pending comments are in the queue (LAB_COMMENTS_QUEUE); approving one writes
its public fields (never the email address or a hash) to
content/comments/<post>/<id>.yaml (LAB_COMMENTS_CONTENT), to be committed and
published by the next build. Approving never marks a comment as staff: a
staff reply is written by `reply`, as an author of content/authors.yaml.
With delivery by pull request, `reply --to-pull` answers a comment whose
pull request is still open: it commits the reply's file to that pull
request's branch (`<LAB_COMMENTS_BRANCH_PREFIX><id>`, fetched from and pushed
to the remote, without touching the working tree), so that the comment and
the reply are published together when it is merged.

Approve, reject, redact, erase and reply each run under the queue's
moderation lock (lab_comments.moderation), so that two of them on the same
comment happen one after the other; the second says what the first did
("already approved", "already rejected", "erased") and exits with 1. Every
write is atomic; approve can be run again after a crash and finishes the job.

The make targets pass what a moderator copies from a reader's comment (the
id, the text to redact) in the environment, never on a shell command line:
when ID, the text or the file is not given as an argument it is read from
LAB_COMMENTS_ID, LAB_COMMENTS_TEXT / LAB_COMMENTS_TEXT_FILE,
LAB_COMMENTS_AUTHOR and LAB_COMMENTS_BODY_FILE.

`mail-test` sends one email to LAB_COMMENTS_MODERATORS at once, through the
email settings of the moderators' digest (lab_comments.mail, digest), or
says what the mail server answered.

`serve` runs the endpoint with waitress within the limits of
lab_comments.server (connections per client and in all, a deadline for each
request: LAB_COMMENTS_CLIENT_CONNECTIONS, LAB_COMMENTS_MAX_CONNECTIONS,
LAB_COMMENTS_REQUEST_SECONDS), and, when email is set up, the thread that
sends the moderators' digest (lab_comments.digest).

With LAB_COMMENTS_DELIVERY=pull-request, `serve` also runs the delivery
worker (lab_comments.pulls) and `list` shows each comment's delivery: its
pull request's address, or what is left to do and the last error.

Exit status: 0 done, 1 refused (or already done by another command), 2
usage. Never imports Pelican.

A reader's name that would pass for a staff name (lab_comments.names; the
staff names are in the manifest the build writes) is flagged in `list`, and
`approve` refuses it unless told `--override-name`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import delivery, names, pulls, schema
from .endpoint import (
    REPO_ROOT,
    ConfigError,
    ManifestError,
    config_from_env,
    parse_staff,
)
from .flags import ListingContext, comment_flags
from .flags import shown as _shown
from .moderation import Decisions, moderation_lock
from .render import BodyRefused, body_problem
from .store import (
    SECRET_FILE,
    Published,
    Queue,
    StoreError,
    dump_yaml,
    load_yaml,
    new_id,
    remove_file,
)

CONTENT_VARIABLE = "LAB_COMMENTS_CONTENT"
DEFAULT_CONTENT = REPO_ROOT / "content" / "comments"
# What the make targets pass in the environment (see the module docstring).
ID_VARIABLE = "LAB_COMMENTS_ID"
TEXT_VARIABLE = "LAB_COMMENTS_TEXT"
TEXT_FILE_VARIABLE = "LAB_COMMENTS_TEXT_FILE"
AUTHOR_VARIABLE = "LAB_COMMENTS_AUTHOR"
BODY_FILE_VARIABLE = "LAB_COMMENTS_BODY_FILE"
AUTHORS_VARIABLE = "LAB_COMMENTS_AUTHORS"
TO_PULL_VARIABLE = "LAB_COMMENTS_TO_PULL"
ADDRESS_VARIABLE = "LAB_COMMENTS_ADDRESS"
REDACTED = "[removed by a moderator]"


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
    args.environ = environ
    try:
        if hasattr(args, "id"):
            args.id = _comment_id(args.id, environ)
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
        default="",
        help="address of a reverse proxy whose X-Forwarded-For is believed "
        "(default: $LAB_COMMENTS_TRUSTED_PROXY; none)",
    )
    serve.set_defaults(run=serve_command)

    commands.add_parser("list", help="list pending comments").set_defaults(
        run=list_command
    )
    commands.add_parser(
        "mail-test", help="send a test email to the moderators now"
    ).set_defaults(run=mail_test_command)
    show = commands.add_parser("show", help="show one pending comment in full")
    _id_argument(show)
    show.set_defaults(run=show_command)

    approve = commands.add_parser("approve", help="publish a pending comment")
    _id_argument(approve)
    approve.add_argument(
        "--override-name",
        action="store_true",
        help="approve it although its name looks like a staff name",
    )
    approve.set_defaults(run=approve_command)

    reject = commands.add_parser("reject", help="delete a pending comment")
    _id_argument(reject)
    reject.set_defaults(run=reject_command)

    redact = commands.add_parser(
        "redact", help="replace text in a pending (or published) comment"
    )
    _id_argument(redact)
    text = redact.add_mutually_exclusive_group()
    text.add_argument(
        "--text", help=f"the exact text to remove (default: ${TEXT_VARIABLE})"
    )
    text.add_argument(
        "--text-file",
        help="a UTF-8 file holding the exact text to remove (one final line "
        f"break is ignored; default: ${TEXT_FILE_VARIABLE})",
    )
    redact.add_argument("--replacement", default=REDACTED)
    redact.set_defaults(run=redact_command)

    erase = commands.add_parser("erase", help="delete a published comment")
    _id_argument(erase)
    erase.set_defaults(run=erase_command)

    reply = commands.add_parser(
        "reply", help="publish a staff reply to a published comment"
    )
    _id_argument(reply, "the comment answered")
    reply.add_argument(
        "--author",
        help=f"who writes it: a key of authors.yaml (default: ${AUTHOR_VARIABLE})",
    )
    reply.add_argument(
        "--body-file",
        help="a UTF-8 file holding the reply, in Markdown (default: "
        f"${BODY_FILE_VARIABLE}, else standard input)",
    )
    reply.add_argument(
        "--authors",
        help=f"the authors file (default: ${AUTHORS_VARIABLE} or authors.yaml "
        "beside the comments folder)",
    )
    reply.add_argument(
        "--to-pull",
        action="store_true",
        help="the comment is in an open pull request (delivery by pull "
        "request): commit the reply to its branch and push it "
        f"(default: ${TO_PULL_VARIABLE})",
    )
    reply.add_argument(
        "--remote",
        default="origin",
        help="with --to-pull: the git remote holding the pull request's branch "
        '(default: origin; "" for a branch of this clone)',
    )
    reply.set_defaults(run=reply_command)

    erase_address = commands.add_parser(
        "erase-address",
        help="erase everything kept about an email address (reader email, "
        "sender history)",
    )
    erase_address.add_argument(
        "address", nargs="?", help=f"the address (default: ${ADDRESS_VARIABLE})"
    )
    erase_address.set_defaults(run=erase_address_command)

    commands.add_parser(
        "purge", help="delete pending comments and sender hashes past their time"
    ).set_defaults(run=purge_command)
    return parser


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _queue(config) -> Queue:
    # Not cleaned: the endpoint may be writing into the queue right now.
    return Queue(config.queue, config.secret).open(clean=False)


def _id_argument(parser: argparse.ArgumentParser, what: str = "the comment") -> None:
    parser.add_argument("id", nargs="?", help=f"{what}'s id (default: ${ID_VARIABLE})")


def _comment_id(given: str | None, environ) -> str:
    """The id from the command line, else from the environment (where the
    make targets put it); Refused unless it has the shape of an id."""
    value = given if given is not None else environ.get(ID_VARIABLE, "")
    if not value:
        raise Refused("which comment? Give its id (make: ID=<id>)")
    try:
        return schema.comment_id(value)
    except schema.Invalid:
        raise Refused(
            f"{_shown(value[:80])!r} is not a comment id (ids look like "
            "20250411-081412-3fa9c2; `make comments-list` shows them)"
        ) from None


@contextmanager
def _desk(config, content: Path) -> Iterator[tuple[Queue, Published, Decisions]]:
    """The stores, opened under the moderation lock and held for one command:
    two commands on one comment happen one after the other, never
    interleaved (and one opening never removes the other's temporary file)."""
    with moderation_lock(config.queue):
        yield _queue(config), Published(content).open(), Decisions(config.queue)


def _gone(
    comment_id: str,
    published: Published,
    decisions: Decisions,
    unknown: str,
    then: str = "nothing done",
) -> Refused:
    """The refusal for a command that finds its comment gone: what became of
    it, if known (another command got there first), else `unknown`."""
    known = _what_became_of(comment_id, published, decisions)
    return Refused(f"{known}: {then}" if known else unknown)


def _what_became_of(
    comment_id: str, published: Published, decisions: Decisions
) -> str | None:
    """Why a comment is no longer pending, for the command that finds it
    gone; None if nothing is known of it."""
    path = published.find(comment_id)
    if path is not None:
        return f"{comment_id} is already approved ({_relative(path)})"
    decided = decisions.get(comment_id)
    if decided is None:
        return None
    decision, date = decided
    if decision == "rejected":
        return f"{comment_id} was already rejected ({date})"
    if decision == "erased":
        return f"{comment_id} was not found: it was erased ({date})"
    return f"{comment_id} was approved ({date}) but its file is gone"


# -- commands


def serve_command(args, config, content) -> int:
    from .endpoint import CommentsApp
    from .fetch import fetcher_from_config
    from .server import ListenError, limits_from_env, serve

    try:
        limits = limits_from_env(args.environ)
    except ConfigError as exc:
        raise Refused(str(exc)) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    if args.trusted_proxy:
        config = dataclasses.replace(config, trusted_proxy=args.trusted_proxy)
    app = CommentsApp(config)
    # The manifest and shell from the live site, when LAB_COMMENTS_MANIFEST_URL
    # says where (a daemon thread: it ends with the server).
    fetcher = fetcher_from_config(config)
    if fetcher is not None:
        fetcher.start()
    if app.digest is not None:
        app.digest.start()
    if app.replies is not None:
        app.replies.start()
    if app.follow is not None:
        app.follow.start()

    def ready() -> None:
        print(
            f"Comments endpoint at http://{args.host}:{args.port}/comments "
            f"(queue: {config.queue}; manifest: {config.manifest}). "
            "Ctrl-C stops it.",
            flush=True,
        )

    # Delivery by pull request runs beside the server, in this process.
    worker = app.start_delivery()
    try:
        serve(
            app,
            limits,
            host=args.host,
            port=args.port,
            threads=args.threads,
            trusted_proxy=config.trusted_proxy,
            ready=ready,
        )
    except ListenError as exc:
        raise Refused(str(exc)) from None
    finally:
        if worker is not None:
            worker.stop()
    return 0


def mail_test_command(args, config, content) -> int:
    """One short email to LAB_COMMENTS_MODERATORS, now (not through the
    queue): the settings checked end to end, or the server's reason."""
    from .mail import MailError, new_message, smtp_session

    if config.mail is None:
        raise Refused(
            "no email is set up: set LAB_COMMENTS_SMTP_HOST, LAB_COMMENTS_MAIL_FROM "
            "and LAB_COMMENTS_MODERATORS (docs/deploy.md, Email)"
        )
    message = new_message(
        config.mail,
        config.moderators,
        "Test email from the comments endpoint",
        "This is a test of the comments endpoint's email settings. When "
        "comments arrive, moderators get a digest like this, at most once "
        f"every {config.digest_minutes:g} minutes.\n",
    )
    where = f"{config.mail.host}:{config.mail.effective_port} ({config.mail.security})"
    try:
        with smtp_session(config.mail) as session:
            session.send(message, config.moderators)
    except MailError as exc:
        raise Refused(f"the test email was not sent through {where}: {exc}") from None
    print(f"Sent a test email to {', '.join(config.moderators)} through {where}.")
    return 0


def erase_address_command(args, config, content) -> int:
    """A reader's request to be forgotten: their subscriptions, their
    queued emails and their sender history go, in every form of the address
    (as typed, and a domain in another script in its ASCII form, as their
    emails showed it); pending comments that hold the address are named,
    for the moderator to reject or approve."""
    from .mail import address_forms
    from .replies import erase_address
    from .subscriptions import Subscribers

    given = (args.address or args.environ.get(ADDRESS_VARIABLE, "")).strip()
    if not given:
        raise Refused("which address? Give it (make: ADDR=name@example.org)")
    try:
        address = schema.email(given)
    except schema.Invalid as exc:
        raise Refused(f"the address {given!r} {exc}") from None
    where = (
        "Run it with the endpoint's LAB_COMMENTS_QUEUE and LAB_COMMENTS_SECRET_FILE"
        " (docs/moderation.md, 'Erasing an address')."
    )
    # Opening a queue creates what it lacks (its folders, a key): here that
    # would be files of root's, a key nothing was written with, and "erased
    # 0 files" a false comfort. The command only removes files.
    queue = Queue(config.queue, config.secret)
    if not queue.pending_dir.is_dir():
        raise Refused(f"{config.queue}: no endpoint's queue there. {where}")
    if config.secret is None and not (config.queue / SECRET_FILE).exists():
        raise Refused(
            f"{config.queue} has no key ({SECRET_FILE}) and LAB_COMMENTS_SECRET "
            f"is not set: it is not the queue of an endpoint that ran. {where}"
        )
    # As every moderation command opens it (`_queue`): the folders exist, so
    # nothing is made, and the key is read.
    queue.open(clean=False)
    store = Subscribers(config.queue, queue.secret)
    if store.key_matches() is False:
        raise Refused(
            f"{store.folder} was written with another key than this one. {where}"
        )
    if not store.folder.is_dir():
        print(
            f"Note: {config.queue} has no reader email store (subscribers/), so "
            "the key could not be checked: if the endpoint keeps its queue "
            "elsewhere or uses another key, nothing was erased. " + where
        )
    forms = address_forms(address)
    removed = 0
    for form in sorted(forms):
        removed += erase_address(config.queue, queue.secret, form)
        sender = queue.senders_dir / f"{queue.sender_hash(form)}.yaml"
        removed += int(remove_file(sender))
    folded = {form.lower() for form in forms}
    waiting = [
        comment_id
        for comment_id, record, _ in queue.pending()
        if record and str(record.get("email", "")).strip().lower() in folded
    ]
    print(f"Erased {removed} file(s) about that address.")
    for comment_id in waiting:
        print(
            f"Pending comment {comment_id} holds it: approve or reject it "
            "(either removes the address)."
        )
    return 0


def purge_command(args, config, content) -> int:
    queue = _queue(config)
    pending, senders = queue.purge(_now(), config.pending_days, config.sender_days)
    # What became of each comment is kept as long as a pending one would be.
    Decisions(config.queue).purge(_now(), config.pending_days)
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
    staff_names = _staff_names(config)
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
        if staff := names.impersonates(record["name"], staff_names):
            print(f"    NAME LOOKS LIKE STAFF: {staff!r} (approve needs OVERRIDE=1)")
        if flags:
            print(f"    flags: {', '.join(flags)}")
        excerpt = _shown(" ".join(record["body"].split())[:240])
        for line in _wrap(excerpt, 76):
            print(f"    > {line}")
        if config.pull_delivery is not None:
            entry = pulls.read_entry(config.queue, comment_id)
            print(f"    {_shown(pulls.describe(entry))}")
        print()
    print("Approve: make comments-approve ID=...   Reject: make comments-reject ID=...")
    return 0


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
    with _desk(config, content) as (queue, published, decisions):
        try:
            record = queue.read(args.id)
        except StoreError:
            if not queue.path(args.id).exists():
                raise _gone(
                    args.id, published, decisions, f"no pending comment {args.id}"
                ) from None
            raise
        staff = names.impersonates(record["name"], _staff_names(config))
        if staff and not args.override_name:
            raise Refused(
                f"{args.id}: the name {_shown(record['name'])!r} looks like "
                f"{staff!r}, a staff name; approve it only if it is really theirs, "
                "with --override-name (make: OVERRIDE=1)"
            )
        public = schema.published_record(record)
        _, problems = schema.validate_published(public)
        if problems:
            raise Refused("; ".join(f"{field}: {reason}" for field, reason in problems))
        # Rendered as the build will: a body queued before the endpoint
        # checked bodies could otherwise stop every build once approved.
        if reason := body_problem(public["body"]):
            raise Refused(f"{args.id} cannot be published: body: {reason}")
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
        decisions.record(args.id, "approved", _now())
        queue.note_sender(record["sender"], _now())
    print(
        f"Approved {args.id}: {_relative(path)}. Commit it; the next build "
        "publishes it."
    )
    return 0


def reject_command(args, config, content) -> int:
    with _desk(config, content) as (queue, published, decisions):
        if not queue.path(args.id).exists():
            then = "nothing done"
            if published.find(args.id):
                then += " (to take it down, use comments-erase)"
            raise _gone(
                args.id, published, decisions, f"no pending comment {args.id}", then
            )
        if published.find(args.id):
            # An approval that was cut short: the comment is public already.
            raise Refused(
                f"{args.id} is already published ({_relative(published.find(args.id))}"
                "): run comments-approve again to finish it, then comments-erase"
            )
        try:
            record = queue.read(args.id)
        except StoreError:
            record = None  # unreadable: still deleted (it is only in the queue)
        queue.remove(args.id)
        decisions.record(args.id, "rejected", _now())
        if record is not None:
            queue.note_sender(record["sender"], _now(), rejected=True)
    if record is None:
        print(f"Rejected {args.id} (it could not be read).")
    else:
        print(f"Rejected {args.id}: deleted from the queue.")
    return 0


def redact_command(args, config, content) -> int:
    text = _redaction_text(args)
    with _desk(config, content) as (queue, published, decisions):
        # Every copy that exists: the pending one, and the published one that
        # an approval cut short may have left beside it.
        copies = []
        if queue.path(args.id).exists():
            copies.append(("pending comment", queue.read(args.id), queue.write))
        path = published.find(args.id)
        if path is not None:
            where = f"published comment ({_relative(path)}; commit it)"
            copies.append((where, published.read(path), published.write))
        if not copies:
            unknown = f"no pending or published comment {args.id}"
            raise _gone(args.id, published, decisions, unknown, "nothing to redact")
        counts = [_redact(record, text, args.replacement) for _, record, _ in copies]
        if not any(counts):
            raise Refused(f"the text was not found in {args.id}")
        for (_, record, write), count in zip(copies, counts, strict=True):
            if count:
                write(record)
    where = " and ".join(where for where, _, _ in copies)
    print(f"Redacted {max(counts)} occurrence(s) in {where} {args.id}.")
    return 0


def _redaction_text(args) -> str:
    """The exact text to remove: --text, --text-file, else the environment."""
    environ = args.environ
    text, text_file = args.text, args.text_file
    if text is None and text_file is None:
        text = environ.get(TEXT_VARIABLE) or None
        text_file = environ.get(TEXT_FILE_VARIABLE) or None
        if text is not None and text_file is not None:
            raise Refused("give the text (TEXT=) or a file (TEXT_FILE=), not both")
    if text_file is not None:
        text = _read_text_file(text_file, "text")
        if text.endswith("\n"):
            text = text[:-1]  # the line break an editor adds at the end
    if not text:
        raise Refused(
            "which text? Give the exact text to remove (make: TEXT='...' or "
            "TEXT_FILE=<file>)"
        )
    return text


def _read_text_file(name: str, what: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise Refused(f"the {what} file {name} cannot be read: {reason}") from None


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
        return 0
    check = schema.validate_pending if "email" in record else schema.validate_published
    _, problems = check(record)
    if problems:
        raise Refused(
            "after redaction: "
            + "; ".join(f"{field}: {reason}" for field, reason in problems)
        )
    return count


def erase_command(args, config, content) -> int:
    with _desk(config, content) as (queue, published, decisions):
        path = published.find(args.id)
        if path is None:
            if queue.path(args.id).exists():
                raise Refused(
                    f"{args.id} is not published, it is waiting for moderation: "
                    "use comments-reject"
                )
            unknown = f"no published comment {args.id}"
            raise _gone(args.id, published, decisions, unknown)
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
        remove_file(path)
        # An approval cut short leaves the pending copy: it goes too.
        queue.remove(args.id)
        decisions.record(args.id, "erased", _now())
    print(
        f"Erased {args.id} ({_relative(path)}). Commit the change; the next build "
        "removes it from the site. It stays in the git history until that is "
        "rewritten (see docs/moderation.md)."
    )
    return 0


def reply_command(args, config, content) -> int:
    """A staff reply: written here as an approved comment by an author of
    authors.yaml, never taken from the queue (a reader cannot make one)."""
    author_key = args.author or args.environ.get(AUTHOR_VARIABLE, "")
    authors_path = Path(
        args.authors
        or args.environ.get(AUTHORS_VARIABLE)
        or content.parent / "authors.yaml"
    )
    name = _author_name(author_key, authors_path)
    # Read before the lock is taken: typing a reply can take minutes.
    body_file = args.body_file or args.environ.get(BODY_FILE_VARIABLE)
    if body_file:
        body = _read_text_file(body_file, "reply")
    else:
        if sys.stdin.isatty():
            print(
                f"Type the reply to {args.id} as {name} (Markdown); end with "
                "Ctrl-D on a line of its own.",
                file=sys.stderr,
            )
        body = sys.stdin.read()
    now = _now()
    to_pull = args.to_pull or args.environ.get(TO_PULL_VARIABLE, "") in TRUE
    if to_pull:
        return _reply_to_pull(args, config, content, name=name, body=body, now=now)
    with _desk(config, content) as (_, published, decisions):
        parent = published.find(args.id)
        if parent is None:
            unknown = (
                f"{args.id} is not published: approve it first, then reply (or, "
                "if it is in an open pull request, reply with --to-pull; make: "
                "PULL=1)"
            )
            raise _gone(args.id, published, decisions, unknown, "cannot reply")
        post = published.read(parent).get("post") or parent.parent.name
        comment_id = new_id(now)
        while published.find(comment_id):
            comment_id = new_id(now)
        record = _staff_reply(
            comment_id, post, name=name, parent=args.id, body=body, now=now
        )
        path = published.write(record)
    print(
        f"Replied to {args.id} as {name} (Lab team): {_relative(path)}. Commit "
        "it; the next build publishes it."
    )
    return 0


TRUE = ("1", "yes", "true")


def _staff_reply(
    comment_id: str, post: str, *, name: str, parent: str, body: str, now: dt.datetime
) -> dict:
    """A staff reply's published record, checked as the build checks it."""
    record = {
        "id": comment_id,
        "post": post,
        "name": name,
        "date": schema.format_date(now),
        "reply_to": parent,
        "staff": True,
        "body": body,
    }
    clean, problems = schema.validate_published(record)
    if problems:
        raise Refused("; ".join(f"{field}: {reason}" for field, reason in problems))
    if reason := body_problem(clean["body"]):
        raise Refused(f"the reply cannot be published: body: {reason}")
    record["body"] = clean["body"]
    return record


def _reply_to_pull(
    args, config, content: Path, *, name: str, body: str, now: dt.datetime
) -> int:
    """The staff reply committed to the branch of the comment's pull request
    (fetched from `args.remote` and pushed back, or a branch of this clone
    with no remote), through a scratch index: the working tree, the index
    and the checked-out branch are left as they are. The push is a fast
    forward: if the branch moved meanwhile it is refused, and running the
    command again replies on top of the new tip."""
    branch = delivery.branch_for(config.branch_prefix, args.id)
    git = Git(content)
    folder = git.relative(content)
    remote = args.remote
    if remote:
        git.run("fetch", "--quiet", remote, f"refs/heads/{branch}", what=branch)
        tip = git.run("rev-parse", "--verify", "FETCH_HEAD^{commit}")
    else:
        tip = git.run("rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}")
    files = git.run("ls-tree", "-r", "--name-only", tip, "--", folder).splitlines()
    parents = [f for f in files if f.endswith(f"/{args.id}.yaml")]
    if len(parents) != 1:
        raise Refused(
            f"the branch {branch} holds no comment file {args.id}.yaml under "
            f"{folder}/: is it the branch of that comment's pull request?"
        )
    try:
        parent = load_yaml(git.run("show", f"{tip}:{parents[0]}", strip=False).encode())
        post = schema.slug(parent["post"])
    except (StoreError, schema.Invalid, TypeError, KeyError):
        raise Refused(f"{parents[0]} on {branch} is not a comment file") from None
    taken = {Path(f).stem for f in files}
    comment_id = new_id(now)
    while comment_id in taken:
        comment_id = new_id(now)
    record = _staff_reply(
        comment_id, post, name=name, parent=args.id, body=body, now=now
    )
    path = f"{folder}/{post}/{comment_id}.yaml"
    blob = git.run("hash-object", "-w", "--stdin", input=dump_yaml(record))
    with tempfile.TemporaryDirectory() as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run("read-tree", tip, env=index)
        git.run(
            "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index
        )
        tree = git.run("write-tree", env=index)
    message = f"Lab team reply to comment {args.id}, by {name}"
    commit = git.run("commit-tree", tree, "-p", tip, "-m", message)
    if remote:
        git.run("push", "--quiet", remote, f"{commit}:refs/heads/{branch}", what=branch)
    else:
        git.run("update-ref", f"refs/heads/{branch}", commit, tip)
    where = f"{remote}'s branch {branch}" if remote else f"the branch {branch}"
    print(
        f"Replied to {args.id} as {name} (Lab team): {path}, committed to "
        f"{where}. Merging its pull request publishes the comment and the reply."
    )
    return 0


class Git:
    """git in the repository that holds `folder`; each failure a Refused
    with git's own words."""

    def __init__(self, folder: Path):
        self.cwd = folder if folder.is_dir() else folder.parent
        self.top = Path(self.run("rev-parse", "--show-toplevel"))

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.top.resolve()).as_posix()
        except ValueError:
            raise Refused(f"{path} is not in the git repository {self.top}") from None

    def run(
        self,
        *arguments: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        what: str = "",
        strip: bool = True,
    ) -> str:
        try:
            done = subprocess.run(  # noqa: S603 (git, arguments we made)
                ["git", *arguments],  # noqa: S607 (git from PATH, as a user runs it)
                cwd=getattr(self, "top", self.cwd),
                input=input,
                env={**os.environ, **(env or {})},
                capture_output=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Refused(f"git {arguments[0]}: {exc}") from None
        if done.returncode:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = said[-1] if said else f"exit status {done.returncode}"
            raise Refused(
                f"git {arguments[0]} {what}: {_shown(reason)}".replace("  ", " ")
            )
        out = done.stdout.decode("utf-8")
        return out.strip() if strip else out


def _author_name(key: str, authors_path: Path) -> str:
    """The name of the author `key` in authors.yaml; Refused, listing the
    keys, for any other."""
    try:
        authors = load_yaml(authors_path.read_bytes())
    except (OSError, StoreError) as exc:
        raise Refused(f"{authors_path}: cannot be read ({exc})") from None
    if not isinstance(authors, dict):
        raise Refused(f"{authors_path}: expected a mapping of author keys")
    entry = authors.get(key) if key else None
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        keys = ", ".join(sorted(str(k) for k in authors))
        raise Refused(
            f"who writes the reply? Give an author key of {authors_path.name} "
            f"(make: AUTHOR=<key>): {keys}"
        )
    try:
        return schema.name(entry["name"])
    except schema.Invalid as exc:
        raise Refused(f"{authors_path}: {key}: name {exc}") from None


def _staff_names(config) -> tuple[str, ...]:
    """The staff names in the manifest the build wrote (none without one:
    names.ALWAYS_STAFF are still compared)."""
    try:
        return parse_staff(config.manifest.read_bytes())
    except (OSError, ManifestError):
        return ()


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


if __name__ == "__main__":
    sys.exit(main())
