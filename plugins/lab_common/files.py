"""Files written whole or not at all, for every plugin that keeps state
between builds or hands a file to another process (the comment queue, the
endpoint's manifest, the build's records in the cache folder)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Temporary files start with this, so that whoever lists a folder can pass
# them over (and clean up what a crash left).
TEMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that `path` is either as it was or complete:
    temporary file in the same folder, fsync, rename, fsync of the folder."""
    path = Path(path)
    temp = path.parent / f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        # os.write on the descriptor, not a file object: the comments
        # endpoint writes a file per comment, and a buffered file object
        # costs three more system calls (ioctl, lseek, fstat) and its setup.
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
