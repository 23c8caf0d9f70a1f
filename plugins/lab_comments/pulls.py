"""Delivery by pull request (LAB_COMMENTS_DELIVERY=pull-request): each new
comment's public record goes to the site's repository on a branch of its own,
and a pull request asks the moderators to merge (publish) or close (reject).

At intake the endpoint only writes the comment's outbox file
(`delivery.outbox_path`: state "to-deliver"), so the reader's answer never
waits for, or depends on, the git remote or the forge. A worker thread
(`Worker`, started by `serve`) then delivers each entry (`Deliverer.deliver`):

1. the public record is built as `comments-approve` builds it and checked
   the same way (schema, then the body rendered as the build renders it); a
   record that fails is not delivered: its entry says "held" and why, and
   the command line deals with it;
2. git, in a private bare repository `<queue>/repo.git`: the base branch is
   fetched, one commit on top of it adds `<content>/<post>/<id>.yaml` with
   exactly the bytes approval writes (store.dump_yaml), and only
   `refs/heads/<prefix><id>` is pushed, never with force, never the base;
3. the forge (lab_comments.forge): the pull request is looked up by its
   head branch first, opened only if there is none, then labelled.

Each step is recorded in the outbox file as it is done (state "pushed";
"opened" with `pull` and `url`), and each is repeatable: a remote branch
that exists is not pushed again, a pull request that exists is found, not
opened again. So a crash anywhere (kill -9 between the push and the pull
request, or while the forge's answer to "open" was on its way) ends, after a
restart, with each comment delivered exactly once. A failed step keeps the
entry with `attempts`, `last_error` (no secret in it) and `next_try`:
exponential backoff with jitter, capped, and never sooner than a 429 or
503's Retry-After.

The periodic check (`Deliverer.check`, the webhook's fallback) asks the
forge about each opened pull request and settles the merged and the closed
ones (delivery.settle: what approve or reject does to the queue).

Outbox fields other parts read: state, branch, pull, url, attempts,
next_try, last_error (and since: when the comment arrived).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lab_common.files import atomic_write

from . import delivery, schema
from .flags import ListingContext, comment_flags, staff_lookalike
from .forge import Forge, ForgeError
from .moderation import moderation_lock
from .render import BodyRefused, body_problem
from .store import Queue, StoreError, dump_yaml, load_yaml, make_dir, remove_file

logger = logging.getLogger(__name__)

TO_DELIVER = "to-deliver"
PUSHED = "pushed"
OPENED = "opened"
HELD = "held"
STATES = (TO_DELIVER, PUSHED, OPENED, HELD)
REPO_DIR = "repo.git"
# Retry-After beyond this is taken as this (a forge's mistake must not park
# a comment for days).
RETRY_AFTER_MAX = 24 * 3600.0
# The longest the worker sleeps between looks at the outbox.
POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Settings:
    """Where and how comments are delivered (endpoint.ENVIRONMENT names the
    variables)."""

    remote: str
    forge_api: str
    forge_repo: str
    token: str = field(repr=False)
    base: str = "main"
    prefix: str = delivery.DEFAULT_BRANCH_PREFIX
    label: str = "comment"
    content: str = "content/comments"
    committer_name: str = "Lab comments"
    committer_email: str = "comments@lab.invalid"
    git_user: str = "x-access-token"
    forge_timeout: float = 10.0
    git_timeout: float = 120.0
    retry_seconds: float = 30.0
    retry_max: float = 3600.0
    check_seconds: float = 600.0
    late_seconds: float = 3600.0


def settings_problem(settings: Settings) -> str:
    """What is wrong with `settings` (one line naming the variable), or ""."""
    if not settings.remote:
        return "LAB_COMMENTS_GIT_REMOTE: pull-request delivery needs the git remote"
    remote = urlsplit(settings.remote)
    if remote.scheme in ("http", "https") and "@" in remote.netloc:
        return (
            "LAB_COMMENTS_GIT_REMOTE: put no credentials in the URL (they "
            "would show in the process list); LAB_COMMENTS_FORGE_TOKEN is used"
        )
    if not settings.forge_api.startswith(("https://", "http://")):
        return "LAB_COMMENTS_FORGE_API: pull-request delivery needs the API's URL"
    owner, _, name = settings.forge_repo.partition("/")
    if not owner or not name or "/" in name:
        return "LAB_COMMENTS_FORGE_REPO: pull-request delivery needs owner/name"
    if not settings.token:
        return (
            "LAB_COMMENTS_FORGE_TOKEN: pull-request delivery needs a token "
            "(or LAB_COMMENTS_FORGE_TOKEN_FILE)"
        )
    if not _branch_name(settings.base):
        return "LAB_COMMENTS_GIT_BASE: not a branch name"
    if not settings.prefix or not _branch_name(settings.prefix + "x"):
        return "LAB_COMMENTS_BRANCH_PREFIX: must be a non-empty branch name prefix"
    # A prefix the base starts with could name the base, or a branch under
    # it, as a comment's: the endpoint pushes under its own prefix only.
    if settings.base.startswith(settings.prefix) or settings.prefix.startswith(
        settings.base + "/"
    ):
        return "LAB_COMMENTS_BRANCH_PREFIX: must not match the base branch"
    parts = settings.content.split("/")
    if not settings.content or any(p in ("", ".", "..") for p in parts):
        return "LAB_COMMENTS_GIT_CONTENT: a relative folder of the repository"
    return ""


def _branch_name(name: str) -> bool:
    bad = (" ", "~", "^", ":", "?", "*", "[", "\\", "..", "@{", "//")
    return (
        bool(name)
        and name.isprintable()
        and not name.startswith(("-", "/", "."))
        and not name.endswith(("/", ".", ".lock"))
        and not any(b in name for b in bad)
    )


# -- the outbox


def read_entry(queue_root: Path, comment_id: str) -> dict[str, Any] | None:
    """A comment's outbox entry, or None if it has none (or it is unreadable)."""
    try:
        data = load_yaml(delivery.outbox_path(queue_root, comment_id).read_bytes())
    except (OSError, StoreError):
        return None
    return data if isinstance(data, dict) and data.get("state") in STATES else None


def outbox_ids(queue_root: Path) -> list[str]:
    folder = Path(queue_root) / delivery.OUTBOX_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.yaml"):
        try:
            found.append(schema.comment_id(path.stem))
        except schema.Invalid:
            continue  # a temporary file, or not ours
    return sorted(found)


def new_entry(comment_id: str, prefix: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "state": TO_DELIVER,
        "branch": delivery.branch_for(prefix, comment_id),
        "pull": None,
        "url": "",
        "attempts": 0,
        "next_try": _stamp(now),
        "last_error": "",
        "since": _stamp(now),
    }


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _moment(value: Any, default: dt.datetime) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return default
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def backoff(
    attempts: int,
    settings: Settings,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before attempt `attempts + 1`: doubling from retry_seconds up
    to retry_max, with equal jitter (half fixed, half random, so that entries
    that failed together do not all come back together), and never sooner
    than the forge asked."""
    ceiling = min(
        settings.retry_max, settings.retry_seconds * 2 ** max(0, attempts - 1)
    )
    delay = ceiling / 2 + rand() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return delay


# -- git


class GitError(Exception):
    """A git command failed; the message is safe to log (no secret)."""


class Git:
    """The endpoint's private bare repository and the few commands it runs
    there: argument lists, no shell, a timeout each, never a prompt."""

    def __init__(self, settings: Settings, folder: Path):
        self.settings = settings
        self.folder = Path(folder)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        env.pop("GIT_DIR", None)
        env.pop("GIT_INDEX_FILE", None)
        scheme = urlsplit(self.settings.remote).scheme
        if scheme in ("http", "https"):
            # The token goes in a header set through the environment (seen
            # only by this user), never in a URL or an argument (seen by all
            # in the process list), and only to this remote. Added after
            # any configuration the host passes the same way.
            pair = f"{self.settings.git_user}:{self.settings.token}".encode()
            try:
                count = int(env.get("GIT_CONFIG_COUNT", "0"))
            except ValueError:
                count = 0
            env["GIT_CONFIG_COUNT"] = str(count + 1)
            env[f"GIT_CONFIG_KEY_{count}"] = f"http.{self.settings.remote}.extraHeader"
            env[f"GIT_CONFIG_VALUE_{count}"] = (
                "Authorization: Basic " + base64.b64encode(pair).decode("ascii")
            )
        return {**env, **(extra or {})}

    def scrub(self, text: str) -> str:
        token = self.settings.token
        if not token:
            return text
        pair = f"{self.settings.git_user}:{token}".encode()
        for secret in (token, base64.b64encode(pair).decode("ascii")):
            text = text.replace(secret, "***")
        return text

    def run(
        self,
        *args: str,
        data: bytes | None = None,
        extra: dict[str, str] | None = None,
        bare: bool = True,
    ) -> str:
        command = ["git", *([f"--git-dir={self.folder}"] if bare else []), *args]
        try:
            done = subprocess.run(  # noqa: S603 (an argument list, no shell)
                command,
                input=data,
                capture_output=True,
                timeout=self.settings.git_timeout,
                env=self.env(extra),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(
                f"git {args[0]}: no answer within {self.settings.git_timeout:g} s"
            ) from None
        except OSError as exc:
            raise GitError(f"git {args[0]}: cannot run ({exc.strerror})") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            # The lines that say why (the remote's hook, git's own reason),
            # not the progress and the "To <url>" of a push.
            why = [
                line.strip()
                for line in lines
                if line.strip().startswith(("remote:", "!", "fatal:", "error:"))
            ] or lines[-3:]
            detail = " / ".join(why)[:400]
            raise GitError(self.scrub(f"git {args[0]} failed: {detail}"))
        return done.stdout.decode("utf-8", "replace").strip()

    def ensure(self) -> None:
        if not (self.folder / "HEAD").is_file():
            make_dir(self.folder.parent)
            self.run("init", "--bare", "--quiet", str(self.folder), bare=False)

    def remote_branch(self, branch: str) -> str | None:
        """The commit of `branch` on the remote, or None if it has none."""
        out = self.run(
            "ls-remote", "--heads", self.settings.remote, f"refs/heads/{branch}"
        )
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    def fetch_base(self) -> str:
        base = self.settings.base
        self.run(
            "fetch",
            "--no-tags",
            "--quiet",
            self.settings.remote,
            f"+refs/heads/{base}:refs/remotes/site/{base}",
        )
        return self.run("rev-parse", "--verify", f"refs/remotes/site/{base}^{{commit}}")

    def commit_file(self, parent: str, path: str, data: bytes, message: str) -> str:
        """A commit on `parent` whose tree is parent's with `path` set to
        `data`; no working tree is touched (a temporary index of its own)."""
        blob = self.run("hash-object", "-w", "--stdin", data=data)
        index = self.folder / f"lab-index-{os.getpid()}-{threading.get_ident()}"
        extra = {"GIT_INDEX_FILE": str(index)}
        try:
            self.run("read-tree", parent, extra=extra)
            self.run(
                "update-index",
                "--add",
                "--cacheinfo",
                f"100644,{blob},{path}",
                extra=extra,
            )
            tree = self.run("write-tree", extra=extra)
        finally:
            index.unlink(missing_ok=True)
        who = {
            "GIT_AUTHOR_NAME": self.settings.committer_name,
            "GIT_AUTHOR_EMAIL": self.settings.committer_email,
            "GIT_COMMITTER_NAME": self.settings.committer_name,
            "GIT_COMMITTER_EMAIL": self.settings.committer_email,
        }
        return self.run("commit-tree", tree, "-p", parent, "-m", message, extra=who)

    def push(self, branch: str, commit: str) -> None:
        """Push `commit` as `branch`, and nothing else: one explicit refspec,
        no force, never the base branch."""
        prefix = self.settings.prefix
        if (
            delivery.id_from_branch(prefix, branch) is None
            or branch == self.settings.base
        ):
            raise GitError(f"refused to push {branch!r}: not a branch of ours")
        ref = f"refs/heads/{branch}"
        self.run("update-ref", ref, commit)
        self.run("push", "--quiet", "--no-verify", self.settings.remote, f"{ref}:{ref}")


# -- what the pull request says


def code_span(text: str) -> str:
    """`text` as a Markdown code span: shown as typed, so no @mention, #ref,
    link or emphasis in a stranger's text does anything."""
    text = " ".join(str(text).split())
    fence = "`" * (_longest_run(text, "`") + 1)
    pad = " " if not text or text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str) -> str:
    """`text` as a fenced Markdown block whose fence is longer than any run
    of backticks in it, so that nothing in it can close the block."""
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    return f"{fence}text\n{text}\n{fence}"


def _longest_run(text: str, char: str) -> int:
    longest = run = 0
    for c in text:
        run = run + 1 if c == char else 0
        longest = max(longest, run)
    return longest


def pull_title(record: dict[str, Any]) -> str:
    return f"Comment on {record['post']} by {code_span(record['name'])}"


def pull_body(
    record: dict[str, Any],
    flags: Sequence[str],
    staff: str | None,
    path: str,
    base: str,
) -> str:
    """The pull request's description: who and what, the flags `comments-list`
    shows, the comment quoted, and what merge and close do. Every piece of
    the reader's text is in a code span or block."""
    sent = record["date"]
    if isinstance(sent, dt.datetime):
        sent = sent.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"A reader's comment on the update {code_span(record['post'])}, waiting "
        "for moderation.",
        "",
        f"- **From:** {code_span(record['name'])}",
    ]
    if record.get("website"):
        lines.append(f"- **Website:** {code_span(record['website'])}")
    lines.append(f"- **Sent:** {sent}")
    if record.get("reply_to"):
        lines.append(f"- **In reply to:** comment {code_span(record['reply_to'])}")
    lines.append(f"- **Comment id:** {code_span(record['id'])}")
    lines += ["", "**Look twice at:**"]
    if staff:
        lines.append(
            f"- **The name looks like a staff member's ({code_span(staff)}): "
            "merge only if it really is theirs.**"
        )
    lines += [f"- {code_span(flag)}" for flag in flags] or ["- nothing"]
    lines += [
        "",
        "**The comment** (Markdown, as it will be published):",
        "",
        code_block(record["body"]),
        "",
        f"**Merge** publishes it: `{path}` goes into `{base}`, the next build "
        "shows the comment, and the endpoint deletes its private copy (with the "
        "email address).",
        "",
        "**Close** without merging rejects it: nothing is published, and the "
        "private copy is deleted.",
        "",
        "To publish it with a change (a redaction), edit the file on this "
        "branch before merging. The email address is never in this repository.",
    ]
    return "\n".join(lines) + "\n"


# -- the deliverer


class Deliverer:
    """Delivers outbox entries (one step at a time: `step`, `deliver`) and
    checks opened pull requests (`check`). Used by one worker thread;
    `enqueue` is called by the endpoint's request threads."""

    def __init__(
        self,
        settings: Settings,
        queue: Queue,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        staff_names: Callable[[], Sequence[str]] = tuple,
        rand: Callable[[], float] = random.random,
    ):
        self.settings = settings
        self.queue = queue
        self.clock = clock
        self.staff_names = staff_names
        self.rand = rand
        self.forge = Forge(
            settings.forge_api,
            settings.forge_repo,
            settings.token,
            settings.forge_timeout,
        )
        self.git = Git(settings, queue.root / REPO_DIR)
        # Set by enqueue: the worker wakes at once for a new comment.
        self.wake = threading.Event()
        self._checked: float | None = None
        self._context: ListingContext | None = None

    # -- intake

    def enqueue(self, comment_id: str, now: dt.datetime) -> None:
        """Write a new comment's outbox entry (to be delivered now). Cheap:
        one small file, written atomically; nothing else."""
        path = delivery.outbox_path(self.queue.root, comment_id)
        if not path.parent.is_dir():
            make_dir(path.parent)
        entry = new_entry(comment_id, self.settings.prefix, now)
        atomic_write(path, dump_yaml(entry))
        self.wake.set()

    def adopt(self, now: dt.datetime, settled_seconds: float = 0.0) -> int:
        """Give an outbox entry to each pending comment that has none (one
        taken just before a crash, or whose entry could not be written, or
        queued before this mode was set); return how many. Comments written
        less than `settled_seconds` ago are left to the intake that is
        writing their entry (a second entry would be harmless, as every
        step is repeatable, but is not needed)."""
        have = set(outbox_ids(self.queue.root))
        count = 0
        for comment_id in self.queue.ids():
            if comment_id in have:
                continue
            if settled_seconds:
                try:
                    written = self.queue.path(comment_id).stat().st_mtime
                except OSError:
                    continue
                if time.time() - written < settled_seconds:
                    continue
            self.enqueue(comment_id, now)
            count += 1
        return count

    def _save(self, comment_id: str, entry: dict[str, Any]) -> bool:
        """Write an entry, unless the comment was settled meanwhile (a
        webhook, a moderator's command): then its entry goes, and False."""
        path = delivery.outbox_path(self.queue.root, comment_id)
        with moderation_lock(self.queue.root):
            if not self.queue.path(comment_id).exists():
                remove_file(path)
                return False
            atomic_write(path, dump_yaml(entry))
            return True

    # -- delivering

    def due(self, now: dt.datetime) -> list[str]:
        found = []
        for comment_id in outbox_ids(self.queue.root):
            entry = read_entry(self.queue.root, comment_id)
            if entry is None or entry["state"] not in (TO_DELIVER, PUSHED):
                continue
            if _moment(entry.get("next_try"), now) <= now:
                found.append(comment_id)
        return found

    def step(self) -> int:
        """Deliver every entry that is due (oldest first); return how many
        were tried."""
        ids = self.due(self.clock())
        # The flags count the whole queue: read once for all of this step's
        # pull requests, not once for each.
        self._context = None
        try:
            for comment_id in ids:
                self.deliver(comment_id)
        finally:
            self._context = None
        return len(ids)

    def context(self) -> ListingContext:
        if self._context is None:
            self._context = ListingContext(self.queue, list(self.queue.pending()))
        return self._context

    def deliver(self, comment_id: str) -> str:
        """Take one comment as far as it goes now; its state afterwards
        ("" when it is no longer pending)."""
        now = self.clock()
        entry = read_entry(self.queue.root, comment_id) or new_entry(
            comment_id, self.settings.prefix, now
        )
        try:
            record = self.queue.read(comment_id)
        except StoreError as exc:
            if not self.queue.path(comment_id).exists():
                self._save(comment_id, entry)  # removes the entry
                return ""
            return self._hold(
                comment_id, entry, f"the queued file is unreadable: {exc}"
            )
        public = schema.published_record(record)
        _, problems = schema.validate_published(public)
        reason = "; ".join(f"{f}: {r}" for f, r in problems) or body_problem(
            public["body"]
        )
        if reason:
            return self._hold(comment_id, entry, f"cannot be published: {reason}")
        branch = delivery.branch_for(self.settings.prefix, comment_id)
        entry["branch"] = branch
        try:
            if entry["state"] == TO_DELIVER:
                self._push(branch, public)
                entry["state"] = PUSHED
                if not self._save(comment_id, entry):
                    return ""
            if not entry.get("pull"):
                pull = self._open(branch, record, public)
                entry.update(pull=pull.number, url=pull.url)
                if not self._save(comment_id, entry):
                    return ""
            if self.settings.label:
                self.forge.add_labels(entry["pull"], [self.settings.label])
        except (GitError, ForgeError) as exc:
            if (
                isinstance(exc, ForgeError)
                and exc.status == 422
                and entry["state"] == PUSHED
                and not entry.get("pull")
            ):
                # Refused, and no pull request has this head: the branch may
                # be gone from the remote (deleted by hand). The next try
                # pushes it again if so.
                entry["state"] = TO_DELIVER
            return self._failed(comment_id, entry, exc, now)
        entry.update(state=OPENED, next_try=None, last_error="")
        if not self._save(comment_id, entry):
            return ""
        logger.info("comment %s: pull request %s", comment_id, entry["url"])
        return OPENED

    def _push(self, branch: str, public: dict[str, Any]) -> None:
        git = self.git
        git.ensure()
        if git.remote_branch(branch) is not None:
            return  # pushed before a crash: the same record, already there
        parent = git.fetch_base()
        path = self.path_of(public)
        message = f"Comment {public['id']} on {public['post']}"
        commit = git.commit_file(parent, path, dump_yaml(public), message)
        git.push(branch, commit)

    def path_of(self, public: dict[str, Any]) -> str:
        return f"{self.settings.content}/{public['post']}/{public['id']}.yaml"

    def _open(self, branch: str, record: dict[str, Any], public: dict[str, Any]):
        """The pull request of `branch`: found if it exists (opened before a
        crash, or before its answer was lost), else opened."""
        pull = self.forge.find_pull(branch)
        if pull is not None:
            return pull
        try:
            flags = comment_flags(record, self.context())
        except BodyRefused:
            flags = []  # not reached: the body was checked before
        staff = staff_lookalike(record["name"], self.staff_names())
        title = pull_title(record)
        body = pull_body(record, flags, staff, self.path_of(public), self.settings.base)
        try:
            return self.forge.open_pull(title, branch, self.settings.base, body)
        except ForgeError as exc:
            if exc.status != 422:
                raise
            # "A pull request already exists": the lookup finds it (on
            # Forgejo and Gitea, whose list ignores the head, their own).
            pull = self.forge.find_pull(branch) or self.forge.pull_of(
                self.settings.base, branch
            )
            if pull is None:
                raise
            return pull

    def _failed(
        self, comment_id: str, entry: dict[str, Any], exc: Exception, now: dt.datetime
    ) -> str:
        attempts = int(entry.get("attempts") or 0) + 1
        delay = backoff(
            attempts, self.settings, getattr(exc, "retry_after", None), self.rand
        )
        message = self.forge.scrub(self.git.scrub(str(exc)))
        entry.update(
            attempts=attempts,
            next_try=_stamp(now + dt.timedelta(seconds=delay)),
            last_error=message,
        )
        logger.warning(
            "comment %s not delivered yet (attempt %d; next in %.0f s): %s",
            comment_id,
            attempts,
            delay,
            message,
        )
        self._save(comment_id, entry)
        return entry["state"]

    def _hold(self, comment_id: str, entry: dict[str, Any], reason: str) -> str:
        entry.update(state=HELD, next_try=None, last_error=reason[:300])
        logger.warning(
            "comment %s is not delivered (%s): moderate it with the commands",
            comment_id,
            reason,
        )
        self._save(comment_id, entry)
        return HELD

    # -- the periodic check

    def check(self, monotonic: float | None = None, force: bool = False) -> int:
        """Settle the opened pull requests that were merged or closed (at
        most once per check_seconds unless `force`); return how many."""
        moment = time.monotonic() if monotonic is None else monotonic
        if (
            not force
            and self._checked is not None
            and moment - self._checked < self.settings.check_seconds
        ):
            return 0
        self._checked = moment
        if adopted := self.adopt(self.clock(), settled_seconds=60.0):
            logger.warning("delivery: %d comment(s) had no outbox entry", adopted)
        settled = 0
        for comment_id in outbox_ids(self.queue.root):
            if not self.queue.path(comment_id).exists():
                # Decided with the commands (approve, reject, erase): the
                # entry has nothing left to deliver or to wait for.
                delivery.settle(self.queue, comment_id, False, self.clock())
                continue
            entry = read_entry(self.queue.root, comment_id)
            if entry is None or entry["state"] != OPENED or not entry.get("pull"):
                continue
            try:
                pull = self.forge.get_pull(entry["pull"])
            except ForgeError as exc:
                logger.warning(
                    "checking comment %s's pull request: %s", comment_id, exc
                )
                continue
            if pull.merged or pull.state == "closed":
                decision = delivery.settle(
                    self.queue, comment_id, pull.merged, self.clock()
                )
                if decision:
                    settled += 1
                    logger.info("comment %s %s (%s)", comment_id, decision, pull.url)
        return settled

    def check_wait(self, monotonic: float) -> float:
        """Seconds until the next periodic check."""
        if self._checked is None:
            return 0.0
        return max(0.0, self._checked + self.settings.check_seconds - monotonic)

    # -- what /health and comments-list say

    def backlog(self, now: dt.datetime) -> tuple[int, float, int]:
        """(comments to deliver, the oldest one's age in seconds, comments
        held for the command line)."""
        count, oldest, held = 0, 0.0, 0
        for comment_id in outbox_ids(self.queue.root):
            entry = read_entry(self.queue.root, comment_id)
            if entry is None:
                continue
            if entry["state"] == HELD:
                held += 1
            elif entry["state"] in (TO_DELIVER, PUSHED):
                count += 1
                age = (now - _moment(entry.get("since"), now)).total_seconds()
                oldest = max(oldest, age)
        return count, oldest, held

    def next_wait(self, now: dt.datetime) -> float:
        """Seconds until the next entry is due (at most POLL_SECONDS)."""
        wait = POLL_SECONDS
        for comment_id in outbox_ids(self.queue.root):
            entry = read_entry(self.queue.root, comment_id)
            if entry is None or entry["state"] not in (TO_DELIVER, PUSHED):
                continue
            due = (_moment(entry.get("next_try"), now) - now).total_seconds()
            wait = min(wait, max(0.0, due))
        return wait


def describe(entry: dict[str, Any] | None) -> str:
    """One line on a comment's delivery, for comments-list."""
    if entry is None:
        return "delivery: not started"
    state = entry.get("state")
    if state == OPENED:
        return f"delivery: pull request {entry.get('url') or entry.get('pull')}"
    if state == HELD:
        return f"delivery: held, not delivered ({entry.get('last_error')})"
    text = "delivery: " + (
        "pushed, no pull request yet" if state == PUSHED else "to deliver"
    )
    if entry.get("attempts"):
        text += (
            f" (attempt {entry['attempts']} failed: {entry.get('last_error')}; "
            f"next try {entry.get('next_try')})"
        )
    return text


class Worker:
    """The thread that runs a Deliverer: delivers what is due, checks the
    opened pull requests now and then, sleeps until the next entry is due
    or a new comment arrives. `stop` ends it."""

    def __init__(self, deliverer: Deliverer):
        self.deliverer = deliverer
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.run, name="lab-comments-delivery", daemon=True
        )

    def start(self) -> Worker:
        try:
            self.deliverer.adopt(self.deliverer.clock())
        except (OSError, StoreError) as exc:
            logger.error("delivery: cannot read the queue: %s", exc)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.deliverer.wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run(self) -> None:
        deliverer = self.deliverer
        while not self._stop.is_set():
            deliverer.wake.clear()
            try:
                deliverer.step()
                deliverer.check()
                wait = min(
                    deliverer.next_wait(deliverer.clock()),
                    deliverer.check_wait(time.monotonic()),
                )
            except Exception:
                # Never a token in it: our errors are scrubbed, and urllib's
                # and subprocess's carry no header or environment.
                logger.exception("delivery: unexpected error")
                wait = POLL_SECONDS
            deliverer.wake.wait(max(0.01, wait))
