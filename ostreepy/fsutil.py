"""Small file-descriptor helpers shared by the store, checkout and boot-entry writers."""

from __future__ import annotations

import errno
import os


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a short write is retried, none is dropped)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if not n:
            raise OSError(errno.EIO, "short write")
        view = view[n:]
