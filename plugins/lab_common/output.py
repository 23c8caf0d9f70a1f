"""Files a plugin writes itself (feeds, calendars), through the build's
writer, so that lab_writer can leave a file alone when the inputs it was made
from have not changed since the last build into the same folder.

    write_output(writer, "feeds/all.atom.xml", key, lambda: feed_bytes())

`key` is everything the file is made from, as values `fingerprint.digest`
takes (the site's settings, theme and code are added by the writer). With
Pelican's own writer, or on a first build, the file is always written.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def write_output(writer, save_as: str, key, produce: Callable[[], bytes]) -> bool:
    """Write `produce()` to `save_as` under the output folder; False when the
    writer knows the file there was made from the same key."""
    unchanged = getattr(writer, "lab_unchanged", None)
    if unchanged is not None and unchanged(save_as, key):
        return False
    data = produce()
    path = os.path.join(writer.output_path, save_as)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    written = getattr(writer, "lab_written", None)
    if written is not None:
        written(save_as, key)
    return True
