"""Where comments are kept, and how they are written so that none is ever lost
or half-written.

* The **queue** (private, outside content/, ignored by git): one YAML file per
  pending comment in `pending/`, holding the email address; `senders/` holds,
  per keyed hash of an email address, the history of its moderated comments:
  when one was last approved or rejected, and how many of each (abuse control
  only; written by the moderation commands, never at intake, so that taking a
  comment costs one file's writes and an unmoderated sender leaves no record
  once their comment is purged); `.secret` holds the key of those hashes when
  LAB_COMMENTS_SECRET does not.
* The **published** comments: `content/comments/<post-slug>/<id>.yaml`, public
  fields only.

Every file is written atomically: a temporary file in the same folder, fsync,
`os.replace`, fsync of the folder. A crash (even `kill -9`) at any moment
leaves either the old file or the new one, never part of one; temporary
files left by a crash start with `.tmp-` and are removed when a store opens.

YAML is read only with the safe loader (`yaml.safe_load`'s, through
libyaml's parser when PyYAML has it) and written only with `yaml.safe_dump`.
No Pelican here: the endpoint and the CLI use this module on hosts without a
site build.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from lab_common.files import TEMP_PREFIX, atomic_write, fsync_dir

from . import schema

# The safe loader: SafeConstructor builds plain data only, whichever parser
# reads the text. libyaml's (CSafeLoader) reads a comment file about ten times
# faster than the pure-Python one, which matters to a build that reads every
# published comment; both give the same data (only their error wording
# differs), and the round trip in dump_yaml checks with this same loader.
try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader
# Likewise for writing: CSafeDumper is the safe representer (plain data only)
# with libyaml's emitter, six times faster than the pure-Python one, which is
# most of what the endpoint spends on a comment; the round trip in dump_yaml
# holds either way.
try:
    from yaml import CSafeDumper as SafeDumper
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeDumper

SECRET_FILE = ".secret"  # noqa: S105 (a file name, not a secret)


class StoreError(Exception):
    """A file of the queue or of the published comments cannot be used; the
    message is meant for a moderator (it may name files: never send it to a
    reader)."""


# -- files


def remove_file(path: Path) -> bool:
    """Delete `path` durably; False if it was not there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def clean_temp_files(folder: Path) -> int:
    """Remove the temporary files a crashed writer left in `folder` (not in
    sub-folders); return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        if entry.name.startswith(TEMP_PREFIX) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    if removed:
        fsync_dir(folder)
    return removed


def make_dir(folder: Path, mode: int = 0o700) -> None:
    """Create `folder` (and its parents) durably."""
    missing = []
    current = Path(folder)
    while not current.exists():
        missing.append(current)
        current = current.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=mode)
        except FileExistsError:
            continue
        fsync_dir(item.parent)


# -- YAML


def dump_yaml(record: Mapping[str, Any]) -> bytes:
    """A record as YAML (safe_dump: plain data only, every string quoted as
    YAML needs, so that no value can become a tag, an anchor or a new key)."""
    data = dict(record)
    for allow_unicode in (True, False):
        text = yaml.dump(
            data,
            Dumper=SafeDumper,
            allow_unicode=allow_unicode,
            sort_keys=False,
            default_flow_style=False,
        )
        # Readable UTF-8 first; a few characters (NEL, the line and paragraph
        # separators) only survive as escapes, so check the round trip.
        if yaml.load(text, Loader=SafeLoader) == data:
            return text.encode("utf-8")
    raise StoreError("the record cannot be written as YAML and read back the same")


def load_yaml(data: bytes | str) -> Any:
    """Plain data from YAML, with the safe loader; StoreError if unreadable."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return yaml.load(data, Loader=SafeLoader)
    except UnicodeDecodeError:
        raise StoreError("is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        try:
            problem = _yaml_problem(data, exc)
        except RecursionError:
            problem = _TOO_DEEP
        raise StoreError(f"invalid YAML: {problem}") from None
    except RecursionError:
        raise StoreError(f"invalid YAML: {_TOO_DEEP}") from None


# PyYAML's pure-Python parser composes nested collections by recursion, so
# `[` * 5000 exhausts the stack (libyaml stops at its own limit).
_TOO_DEEP = "nested too deeply to read"


def _yaml_problem(text: str, exc: yaml.YAMLError) -> str:
    """What is wrong with unreadable YAML, and where, in the pure-Python
    parser's words: the same on every host, with or without libyaml (whose
    wording differs). Only for files that fail, so reading again costs
    nothing that matters."""
    if SafeLoader is not yaml.SafeLoader:
        try:
            yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as slow:
            exc = slow
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark else ""
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    return f"{problem}{where}"


# -- ids and keyed hashes


def new_id(now: dt.datetime) -> str:
    """A new comment id: the UTC time it arrived (so ids sort by age) and six
    random hex digits. Never derived from the email or the content."""
    return f"{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def keyed_hash(secret: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value`, separated by `purpose` so that the hash of an
    address used for one thing never matches the same address used for
    another. Without the secret it cannot be reversed or recomputed."""
    message = f"{purpose}\0{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def fingerprint(secret: bytes, submission: schema.Submission) -> str:
    """Equal for two submissions a reader would call the same comment (same
    post, parent, name, address and words, ignoring case of the address and
    spacing of the words)."""
    words = " ".join(submission.body.split())
    parts = [
        submission.post,
        submission.reply_to or "",
        submission.name,
        submission.email.lower(),
        words,
    ]
    return keyed_hash(secret, "duplicate", "\0".join(parts))


# -- the pending queue


class Queue:
    """The private queue of comments waiting for moderation.

    Safe for the threads of one process (the endpoint under waitress): adding
    checks for a duplicate and writes under one lock.
    """

    def __init__(self, root: Path | str, secret: bytes | None = None):
        self.root = Path(root)
        self.pending_dir = self.root / "pending"
        self.senders_dir = self.root / "senders"
        self._secret = secret
        self._lock = threading.Lock()
        # One lock per sender would grow without bound; a fixed set, chosen
        # by the sender's hash, serialises each sender's read-and-write and
        # lets different senders' writes run side by side.
        self._sender_locks = tuple(threading.Lock() for _ in range(64))
        self._writing: set[str] = set()
        self._index: dict[str, str] | None = None

    def open(self, clean: bool = True) -> Queue:
        """Create the folders (private to their owner), remove temporary files
        a crash left behind, and load or create the key of the hashes.

        `clean=False` for a moderator's command: the endpoint may be writing
        a comment at that moment, and a temporary file in the queue may be
        its write in progress (the endpoint cleans up when it starts)."""
        for folder in (self.root, self.pending_dir, self.senders_dir):
            make_dir(folder)
            if clean:
                clean_temp_files(folder)
        if self._secret is None:
            self._secret = self._load_secret()
        return self

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise StoreError("the queue is not open")
        return self._secret

    def _load_secret(self) -> bytes:
        path = self.root / SECRET_FILE
        if not path.exists():
            try:
                # O_EXCL: of two processes creating it at once, one wins and
                # the other reads the winner's key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                fsync_dir(self.root)
        try:
            key = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not ASCII text"
            raise StoreError(f"{path}: the key cannot be read ({reason})") from None
        if len(key) < 32:
            raise StoreError(f"{path}: the key is too short (delete it to renew)")
        return key.encode("ascii")

    # -- hashes

    def client_hash(self, address: str) -> str:
        return keyed_hash(self.secret, "client", address)

    def sender_hash(self, address: str) -> str:
        return keyed_hash(self.secret, "sender", address.strip().lower())

    # -- pending comments

    def path(self, comment_id: str) -> Path:
        """The file of a pending comment; StoreError for an id that could
        name anything else (dots, slashes)."""
        try:
            schema.comment_id(comment_id)
        except schema.Invalid:
            raise StoreError(f"{comment_id!r} is not a comment id") from None
        return self.pending_dir / f"{comment_id}.yaml"

    def ids(self) -> list[str]:
        """Pending ids, oldest first."""
        if not self.pending_dir.is_dir():
            return []
        return sorted(
            p.stem
            for p in self.pending_dir.glob("*.yaml")
            if not p.name.startswith(TEMP_PREFIX)
        )

    def read(self, comment_id: str) -> dict[str, Any]:
        """A pending comment, checked against the schema."""
        path = self.path(comment_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no pending comment {comment_id}") from None
        try:
            data = load_yaml(raw)
        except StoreError as exc:
            raise StoreError(f"{path.name}: {exc}") from None
        clean, problems = schema.validate_pending(data)
        if problems:
            lines = "; ".join(f"{field}: {reason}" for field, reason in problems)
            raise StoreError(f"{path.name}: {lines}")
        if clean["id"] != comment_id:
            raise StoreError(f"{path.name}: id: does not match the file name")
        return clean

    def write(self, record: Mapping[str, Any]) -> None:
        """Replace a pending comment (after a moderator redacted it)."""
        data = dict(record)
        data["date"] = schema.format_date(data["date"])
        atomic_write(self.path(data["id"]), dump_yaml(data))

    def add(
        self, submission: schema.Submission, client_address: str, now: dt.datetime
    ) -> tuple[str, bool]:
        """Store a submission; return (its id, whether it was new). A duplicate
        of a comment still pending is not stored again: its id comes back
        with False. The file is complete on disk when this returns."""
        mark = fingerprint(self.secret, submission)
        sender = self.sender_hash(submission.email)
        # The lock covers only the check for a duplicate and the choice of an
        # id, both in memory; the writes (each fsynced) run outside it, so
        # that comments arriving together are written side by side. A
        # comment being written is in the index already: its duplicate,
        # arriving meanwhile, gets its id.
        with self._lock:
            index = self._load_index()
            existing = index.get(mark)
            if existing and (existing in self._writing or self.path(existing).exists()):
                return existing, False
            comment_id = new_id(now)
            while comment_id in self._writing or self.path(comment_id).exists():
                comment_id = new_id(now)
            index[mark] = comment_id
            self._writing.add(comment_id)
        record = {
            "id": comment_id,
            "post": submission.post,
            "reply_to": submission.reply_to,
            "name": submission.name,
            "email": submission.email,
            "website": submission.website,
            "body": submission.body,
            "date": schema.format_date(now),
            "client": self.client_hash(client_address),
            "sender": sender,
            "fingerprint": mark,
        }
        record = {k: v for k, v in record.items() if v is not None}
        try:
            atomic_write(self.path(comment_id), dump_yaml(record))
        except BaseException:
            with self._lock:
                if index.get(mark) == comment_id:
                    del index[mark]
            raise
        finally:
            with self._lock:
                self._writing.discard(comment_id)
        return comment_id, True

    def _load_index(self) -> dict[str, str]:
        if self._index is None:
            index = {}
            for comment_id in self.ids():
                try:
                    index[self.read(comment_id)["fingerprint"]] = comment_id
                except StoreError:
                    continue  # shown by `comments-list`; not a duplicate of anything
            self._index = index
        return self._index

    def remove(self, comment_id: str) -> bool:
        return remove_file(self.path(comment_id))

    def pending(self) -> Iterator[tuple[str, dict[str, Any] | None, str]]:
        """(id, record or None, problem) for each pending file, oldest first."""
        for comment_id in self.ids():
            try:
                yield comment_id, self.read(comment_id), ""
            except StoreError as exc:
                yield comment_id, None, str(exc)

    # -- senders (abuse control: keyed hashes of email addresses)

    def sender(self, sender: str) -> dict[str, Any]:
        path = self.senders_dir / f"{schema.hex_digest(sender)}.yaml"
        try:
            data = load_yaml(path.read_bytes())
        except (FileNotFoundError, StoreError):
            return {}
        return data if isinstance(data, dict) else {}

    def note_sender(
        self, sender: str, now: dt.datetime, rejected: bool = False
    ) -> dict[str, Any]:
        """Count an approved comment (or a rejected one) of a sender, when a
        moderator decides it; keeps the date, from which the 12 months of
        keeping the record run."""
        with self._sender_locks[int(schema.hex_digest(sender)[:8], 16) % 64]:
            entry = self.sender(sender)
            entry = {
                "last_seen": entry.get("last_seen", schema.format_date(now)),
                "comments": int(entry.get("comments", 0)),
                "rejected": int(entry.get("rejected", 0)),
            }
            if rejected:
                entry["rejected"] += 1
            else:
                entry["comments"] += 1
                entry["last_seen"] = schema.format_date(now)
            path = self.senders_dir / f"{schema.hex_digest(sender)}.yaml"
            atomic_write(path, dump_yaml(entry))
            return entry

    # -- keeping only what the privacy notice allows

    def purge(
        self,
        now: dt.datetime,
        pending_days: int,
        sender_days: int,
        entries: Iterable[tuple[str, dict[str, Any] | None, str]] | None = None,
    ) -> tuple[int, int]:
        """Delete pending comments older than `pending_days` and sender
        entries not seen for `sender_days`; return how many of each.
        `entries`, from `pending()`, spares reading each comment again (the
        listing has read them all)."""
        pending_removed = 0
        pending_limit = now - dt.timedelta(days=pending_days)
        if entries is None:
            entries = ((i, None, "") for i in self.ids())
        for comment_id, record, _ in entries:
            try:
                date = (record or self.read(comment_id))["date"]
            except StoreError:
                # Unreadable: judge by the time it was written.
                stat = self.path(comment_id).stat()
                date = dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC)
            if date < pending_limit and self.remove(comment_id):
                pending_removed += 1
        senders_removed = 0
        sender_limit = now - dt.timedelta(days=sender_days)
        for path in sorted(self.senders_dir.glob("*.yaml")):
            try:
                seen = schema.utc_datetime(self.sender(path.stem).get("last_seen"))
            except (schema.Invalid, ValueError):
                seen = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
            if seen < sender_limit and remove_file(path):
                senders_removed += 1
        return pending_removed, senders_removed


# -- published comments


class Published:
    """The approved comments under content/comments/, one file each."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def open(self) -> Published:
        make_dir(self.root, mode=0o755)
        clean_temp_files(self.root)
        for folder in self.root.iterdir():
            if folder.is_dir():
                clean_temp_files(folder)
        return self

    def path(self, post: str, comment_id: str) -> Path:
        try:
            schema.slug(post)
            schema.comment_id(comment_id)
        except schema.Invalid as exc:
            raise StoreError(f"{post}/{comment_id}: {exc}") from None
        return self.root / post / f"{comment_id}.yaml"

    def find(self, comment_id: str) -> Path | None:
        """The file of a published comment, whichever post it is on."""
        try:
            schema.comment_id(comment_id)
        except schema.Invalid:
            raise StoreError(f"{comment_id!r} is not a comment id") from None
        if not self.root.is_dir():
            return None
        found = sorted(self.root.glob(f"*/{comment_id}.yaml"))
        return found[0] if found else None

    def read(self, path: Path) -> dict[str, Any]:
        data = load_yaml(path.read_bytes())
        if not isinstance(data, dict):
            raise StoreError(f"{path.name}: expected a mapping")
        return data

    def write(self, record: Mapping[str, Any]) -> Path:
        path = self.path(record["post"], record["id"])
        make_dir(path.parent, mode=0o755)
        atomic_write(path, dump_yaml(record), mode=0o644)
        return path

    def ids(self, post: str) -> set[str]:
        folder = self.root / post
        if not folder.is_dir():
            return set()
        return {
            p.stem for p in folder.glob("*.yaml") if not p.name.startswith(TEMP_PREFIX)
        }


class PublishedFile(NamedTuple):
    """A published comment file found by `published_files`."""

    relative: str  # `comments/<post>/<id>.yaml`: relative to the root's parent
    path: str
    size: int
    mtime_ns: int


def published_files(root: Path) -> tuple[list[PublishedFile], list[str]]:
    """Every published comment file under `root`, sorted, with the size and
    modification time of its stat, and the problems of what is there but is
    not a comment file, as `relative/path: file: reason` lines (relative to
    root's parent, so that they read like content paths).

    os.scandir, not Path.iterdir: a build with thousands of comments lists
    them on every run, and a directory entry knows whether it is a folder
    without a stat of its own."""
    files: list[PublishedFile] = []
    problems: list[str] = []
    if not root.is_dir():
        return files, problems
    top = root.name
    for folder in _entries(root):
        relative = f"{top}/{folder.name}"
        if folder.name.startswith("."):
            continue
        if not folder.is_dir():
            problems.append(
                f"{relative}: file: comments live in a folder named after their "
                "post (comments/<post-slug>/<id>.yaml)"
            )
            continue
        for entry in _entries(folder.path):
            relative = f"{top}/{folder.name}/{entry.name}"
            if entry.name.startswith("."):
                continue
            if not entry.name.endswith(".yaml") or not entry.is_file():
                problems.append(f"{relative}: file: is not a .yaml comment file")
                continue
            try:
                stat = entry.stat()
            except OSError as exc:
                problems.append(f"{relative}: file: cannot be read ({exc.strerror})")
                continue
            files.append(
                PublishedFile(relative, entry.path, stat.st_size, stat.st_mtime_ns)
            )
    return files, problems


def _entries(folder) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def read_published_file(file: PublishedFile) -> Any:
    """The YAML data of a published comment file; StoreError if it cannot be
    read or parsed."""
    try:
        with open(file.path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise StoreError(f"cannot be read ({exc.strerror})") from None
    return load_yaml(data)


def read_published_tree(root: Path) -> tuple[list[tuple[str, Any]], list[str]]:
    """Every published comment file under `root` as (relative path, data),
    sorted, and the problems of files that cannot even be read, as
    `relative/path: field: reason` lines (see `published_files`)."""
    files, problems = published_files(root)
    items: list[tuple[str, Any]] = []
    for file in files:
        try:
            items.append((file.relative, read_published_file(file)))
        except StoreError as exc:
            problems.append(f"{file.relative}: file: {exc}")
    return items, problems
