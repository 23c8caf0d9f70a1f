"""What goes into the output folder, told to the build's writer, so that an
in-place rebuild (lab_writer with LAB_WRITER_SKIP_UNCHANGED) can leave a file
alone when the inputs it was made from have not changed, and can remove the
files the last build wrote that this one does not.

Files a plugin writes itself (feeds, calendars):

    write_output(writer, "feeds/all.atom.xml", key, lambda: feed_bytes())

`key` is everything the file is made from, as values `fingerprint.digest`
takes (the site's settings, theme and code are added by the writer); None
writes the file every time. With Pelican's own writer, or on a first build,
the file is always written. A file written some other way (a manifest
replaced atomically for a running server) is told with `note_output`.
`site_key` and `item_key` give digests of what lab_writer knows of the whole
site and of one content object, for keys of files made from them; both are
None when the writer does not compare (write the file then).

A file a template call places while a page is being rendered (lab_social's
card images) is told with `placed_output`: the writer counts it as made for
that page, so a page left alone keeps it and a page gone takes it away.

What a page is made from beyond the content objects' own attributes comes in
two documented ways any plugin may use, so that the writer needs to know no
plugin's settings or attributes:
- `set_item_input(item, attribute, key)`: the attribute (a post's comment
  thread, say) stands for what `key` is a digest of; pages are keyed on the
  key instead of the attribute's value, and only the item's own page (and
  files made from the item in full) depend on it. Values that listings show
  (a comment count) stay plain attributes of their own.
- `add_input_folder(context, folder)`: the files under `folder` (inside the
  content folder) reach pages only through item inputs, so a change there
  does not count as a change of the whole site.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

# The attribute of a content object that maps attributes to their keys.
ITEM_INPUTS = "lab_inputs"
# The context entry with the folders whose files are item inputs.
INPUT_FOLDERS = "lab_input_folders"

# The files placed for the page being rendered in this thread (None: no page
# is being rendered by a writer that wants to know).
_placed: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "lab_placed_outputs", default=None
)


def write_output(writer, save_as: str, key, produce: Callable[[], bytes]) -> bool:
    """Write `produce()` to `save_as` under the output folder; False when the
    writer knows the file there was made from the same key."""
    unchanged = getattr(writer, "lab_unchanged", None)
    if key is not None and unchanged is not None and unchanged(save_as, key):
        return False
    data = produce()
    path = os.path.join(writer.output_path, save_as)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    _tell_written(writer, save_as, key)
    return True


def note_output(writer, save_as: str) -> None:
    """Tell the writer that this build wrote `save_as` itself."""
    _tell_written(writer, save_as, None)


def _tell_written(writer, save_as: str, key) -> None:
    written = getattr(writer, "lab_written", None)
    if written is not None:
        written(save_as, key)


def site_key(writer) -> str | None:
    method = getattr(writer, "lab_site_key", None)
    return method() if method is not None else None


def item_key(writer, item) -> str | None:
    method = getattr(writer, "lab_item_key", None)
    return method(item) if method is not None else None


# -- files placed while a page is rendered


def placed_output(save_as: str) -> None:
    """Say that the page being rendered needs `save_as` (relative to the
    output folder), which the caller placed there."""
    placed = _placed.get()
    if placed is not None:
        placed.append(save_as)


@contextmanager
def collect_placed() -> Iterator[list[str]]:
    """For the writer, around one page's rendering: the files placed for it."""
    placed: list[str] = []
    token = _placed.set(placed)
    try:
        yield placed
    finally:
        _placed.reset(token)


# -- what pages are made from


def set_item_input(item, attribute: str, key: str) -> None:
    """`item.<attribute>` is made from what `key` (a digest) stands for."""
    inputs = item.__dict__.get(ITEM_INPUTS)
    if not isinstance(inputs, dict):
        inputs = {}
        setattr(item, ITEM_INPUTS, inputs)
    inputs[attribute] = key


def item_inputs(item) -> Mapping[str, str]:
    inputs = getattr(item, ITEM_INPUTS, None)
    return inputs if isinstance(inputs, dict) else {}


def add_input_folder(context, folder) -> None:
    context.setdefault(INPUT_FOLDERS, set()).add(os.path.abspath(folder))


def input_folders(context) -> frozenset[str]:
    return frozenset(context.get(INPUT_FOLDERS, ()))
