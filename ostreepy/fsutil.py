"""Small file helpers shared by the store, checkout, transport and boot-entry writers.

``write_file_atomic`` is the one way ostreepy writes a small whole file (config, refs' neighbours,
summaries, delta superblocks, boot entries): a fresh, unguessable temporary name opened
``O_EXCL|O_NOFOLLOW`` beside the target (or in a given tmp directory), written, given its mode,
optionally fsynced, then renamed over the target, so a reader sees the old bytes or the new ones and
never half of them. ``ociclient`` keeps its own copy: it is a package of its own and does not import
ostreepy.

``unnamed_file`` is a scratch file that has no name (as ``tempfile.TemporaryFile``, without
importing tempfile, with shutil and random: ~3 ms of a short command's start-up).

``alter_immutable_flag`` is the one place the immutable attribute (``chattr +i``) is read and
changed: deployment roots (as ostree's ``_ostree_linuxfs_fd_alter_immutable_flag``) and efivarfs
variable files."""

from __future__ import annotations

import array
import errno
import fcntl
import os

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, List, Optional

# FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (the long-sized ioctl numbers; the kernel reads an int)
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_IMMUTABLE_FL = 0x00000010
#: what a filesystem without inode flags answers (tmpfs: ENOTTY)
NO_INODE_FLAGS = (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL)


def alter_immutable_flag(fd: int, immutable: bool) -> None:
    """Set or clear the immutable flag of the open file ``fd``, when it is not already so;
    an :class:`OSError` from the ioctl goes to the caller (its errno in :data:`NO_INODE_FLAGS`
    when the filesystem has no such flags), who decides what may be ignored."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf, True)
    flags = buf[0]
    if bool(flags & _FS_IMMUTABLE_FL) == immutable:
        return
    buf[0] = (flags | _FS_IMMUTABLE_FL) if immutable else (flags & ~_FS_IMMUTABLE_FL)
    fcntl.ioctl(fd, _FS_IOC_SETFLAGS, buf, True)



def unnamed_file(directory: str) -> BinaryIO:
    """An unnamed read-write file in ``directory`` (O_TMPFILE: nothing is left if the process
    dies), or tempfile's where the filesystem has none."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise
        import tempfile
        return tempfile.TemporaryFile(dir=directory)
    return os.fdopen(fd, "w+b")

def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a short write is retried, none is dropped)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if not n:
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def read_all(fd: int) -> bytes:
    """os.read until the end of the file (or of the pipe: every writer gone)."""
    chunks: List[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


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
