"""Small file helpers shared by the store, checkout, transport and boot-entry writers.

``write_file_atomic`` is the one way ostreepy writes a small whole file (config, refs' neighbours,
summaries, delta superblocks, boot entries): a fresh, unguessable temporary name opened
``O_EXCL|O_NOFOLLOW`` beside the target (or in a given tmp directory), written, given its mode,
optionally fsynced, then renamed over the target, so a reader sees the old bytes or the new ones and
never half of them. ``ociclient`` keeps its own copy: it is a package of its own and does not import
ostreepy."""

from __future__ import annotations

import errno
import os
from typing import Callable, Optional


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a short write is retried, none is dropped)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if not n:
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def write_file_atomic(path: str, data: bytes, mode: int = 0o644, *, tmpdir: Optional[str] = None,
                      fsync: bool = True, rename: bool = True,
                      before_rename: Optional[Callable[[int], None]] = None) -> None:
    """Write ``data`` to a temporary file beside ``path`` (or in ``tmpdir``, which must be on the
    same filesystem), give it ``mode``, fsync it when ``fsync``, call ``before_rename(fd)`` (to set
    xattrs or times on the finished file), then rename it over ``path``.

    With ``rename=False`` the file is created at ``path`` itself with ``O_EXCL`` (for a path that is
    already private, such as a staging directory)."""
    if not rename:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        return
    d = tmpdir or os.path.dirname(os.path.abspath(path))
    # a fresh, unguessable name opened O_EXCL|O_NOFOLLOW: nothing planted in a shared
    # tmp/ can redirect the write
    tmp = os.path.join(d, f".tmp-{os.path.basename(path)}-{os.getpid()}-{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        write_all(fd, data)
        os.fchmod(fd, mode)
        if before_rename is not None:
            before_rename(fd)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
