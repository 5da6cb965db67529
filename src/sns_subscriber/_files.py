"""Files that hold messages or keys are created readable by their owner only (0600).

A stored message body carries its UnsubscribeURL (whoever visits it removes the
subscription); a signing key is a key. The mode is given to ``open(2)`` itself, so there is
no moment in which the file exists with wider permissions (as there is with write, then chmod).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRIVATE_MODE", "create_private_file", "write_new_private_file"]

PRIVATE_MODE = 0o600


def create_private_file(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty and 0600 unless it exists; True if this call created it."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def write_new_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a new 0600 file; FileExistsError if ``path`` exists (even as a
    symlink: ``O_EXCL`` never follows one, so nobody can redirect the write elsewhere)."""
    target = Path(path)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
