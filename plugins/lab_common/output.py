"""Files a plugin writes itself (feeds, calendars), through the build's
writer, so that lab_writer can leave a file alone when the inputs it was made
from have not changed since the last build into the same folder.

    write_output(writer, "feeds/all.atom.xml", key, lambda: feed_bytes())

`key` is everything the file is made from, as values `fingerprint.digest`
takes (the site's settings, theme and code are added by the writer); None
writes the file every time. With Pelican's own writer, or on a first build,
the file is always written.
`site_key` and `item_key` give digests of what lab_writer knows of the whole
site and of one content object, for keys of files made from them; both are
None when the writer does not compare (write the file then).
"""

from __future__ import annotations

import os
from collections.abc import Callable


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
    written = getattr(writer, "lab_written", None)
    if key is not None and written is not None:
        written(save_as, key)
    return True


def site_key(writer) -> str | None:
    method = getattr(writer, "lab_site_key", None)
    return method() if method is not None else None


def item_key(writer, item) -> str | None:
    method = getattr(writer, "lab_item_key", None)
    return method(item) if method is not None else None
