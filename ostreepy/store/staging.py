"""Transaction staging directories under ``REPO/tmp``, shared with libostree.

libostree stages a transaction's objects in ``tmp/staging-<boot id>-<XXXXXX>``
and holds an exclusive lock on the file ``tmp/staging-...-lock`` beside it
(outside, so the lock outlives the directory's removal) for as long as the
transaction runs.  We do exactly the same, with the same calls (an
open-file-description write lock, taken without waiting, as libglnx's
``glnx_make_lock_file``), so that:

* a directory whose lock is held belongs to a live transaction, of either
  tool, and is never touched;
* a directory of *this* boot whose lock is free was left by a transaction
  that died (its objects were verified and, the kernel not having restarted,
  are as good as synced): the next transaction reuses it and moves its
  objects in with its own, as ``_ostree_repo_allocate_tmpdir`` does;
* a directory of another boot whose lock is free may hold data that never
  reached the disk: it is removed, as ``cleanup_txn_dir`` does;
* anything else in ``tmp/`` (but ``cache``) is removed once older than
  ``core.tmp-expiry-secs`` (a day by default), as ``cleanup_tmpdir`` does.

The boot id is ``OSTREE_BOOTID`` when set (as libostree reads it), else the
kernel's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time

from .lock import F_OFD_SETLK, _flock_struct
from .objtype import ObjectType, parse_loose_name

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Iterator, Optional, Tuple

STAGING_PREFIX = "staging-"
DEFAULT_EXPIRY_SECS = 86400
_MKDTEMP_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


_KERNEL_BOOT_ID: Optional[str] = None


def boot_id() -> str:
    """This boot's id, which names staging directories: ``$OSTREE_BOOTID`` if set (as
    libostree reads it), else the kernel's ``/proc/sys/kernel/random/boot_id``."""
    env = os.environ.get("OSTREE_BOOTID")
    if env is not None:
        return env
    global _KERNEL_BOOT_ID
    if _KERNEL_BOOT_ID is None:  # it cannot change while we run
        with open("/proc/sys/kernel/random/boot_id", "r", encoding="ascii") as f:
            _KERNEL_BOOT_ID = f.read().split("\n", 1)[0]
    return _KERNEL_BOOT_ID


def stagedir_prefix() -> str:
    """``staging-<boot id>-``: the names of this boot's staging directories."""
    return f"{STAGING_PREFIX}{boot_id()}-"


class StagingLock:
    """An exclusive lock on ``<dir>-lock``; released by deleting the file, then closing it."""

    def __init__(self, tmp_dfd: int, name: str, fd: int) -> None:
        self._tmp_dfd = tmp_dfd
        self.name = name
        self._fd: Optional[int] = fd

    @classmethod
    def try_lock(cls, tmp_dfd: int, dirname: str) -> Optional["StagingLock"]:
        """The lock of staging directory ``dirname``, or None when another transaction
        holds it or the directory is gone (``_ostree_repo_try_lock_tmpdir``)."""
        name = dirname + "-lock"
        while True:
            fd = os.open(name, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY, 0o600,
                         dir_fd=tmp_dfd)
            try:
                if not _lock_fd(fd):
                    os.close(fd)
                    return None
                # the previous owner may have deleted the file between our open and
                # our lock: a lock on an unlinked file protects nothing, so start over
                if os.fstat(fd).st_nlink == 0:
                    os.close(fd)
                    continue
            except BaseException:
                os.close(fd)
                raise
            break
        lock = cls(tmp_dfd, name, fd)
        try:
            st = os.stat(dirname, dir_fd=tmp_dfd, follow_symlinks=False)
        except FileNotFoundError:
            lock.release()
            return None
        if not stat.S_ISDIR(st.st_mode):
            lock.release()
            return None
        return lock

    def release(self) -> None:
        if self._fd is None:
            return
        # we are the exclusive owner, so the file can go (glnx_release_lock_file)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.name, dir_fd=self._tmp_dfd)
        os.close(self._fd)
        self._fd = None


def _lock_fd(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _flock_struct(fcntl.F_WRLCK))
        return True
    except OSError as e:
        if e.errno == errno.EINVAL:  # no OFD locks here: libglnx falls back to flock()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as e2:
                if e2.errno in (errno.EAGAIN, errno.EACCES):
                    return False
                raise
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def allocate(tmp_dfd: int, prefix: str) -> Tuple[str, StagingLock, bool]:
    """A locked staging directory: (name, lock, reused).  A free one of this boot
    is reused (and touched, so that age-based cleanup spares it); otherwise a new
    ``<prefix>XXXXXX`` is made."""
    for entry in _scandir(tmp_dfd):
        if not entry.name.startswith(prefix) or entry.name.endswith("-lock"):
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        lock = StagingLock.try_lock(tmp_dfd, entry.name)
        if lock is None:
            continue
        with contextlib.suppress(OSError):
            os.utime(entry.name, dir_fd=tmp_dfd, follow_symlinks=False)
        return entry.name, lock, True
    while True:
        # glnx_mkdtemp's six random characters, from os.urandom: secrets (with random, hmac and
        # base64) was a millisecond of every writing command's start-up; a name only has to be
        # unlikely to be taken, and a taken one is drawn again
        name = prefix + "".join(_MKDTEMP_CHARS[b % len(_MKDTEMP_CHARS)] for b in os.urandom(6))
        try:
            os.mkdir(name, 0o775, dir_fd=tmp_dfd)
        except FileExistsError:
            continue
        lock = StagingLock.try_lock(tmp_dfd, name)
        if lock is not None:
            return name, lock, False
        # another transaction picked up our new directory before we locked it:
        # it is theirs now, make another


def staged_objects(path: str, archive: bool, only: Optional[str] = None) -> Iterator[Tuple[str, ObjectType, str]]:
    """The objects a staging directory holds: (checksum, type, path), laid out as
    ``objects/`` is; ``only``: those of that one ``xx/`` subdirectory."""
    try:
        subdirs = [only] if only is not None else os.listdir(path)
    except FileNotFoundError:
        return
    for sub in subdirs:
        if len(sub) != 2:
            continue
        d = os.path.join(path, sub)
        try:
            names = os.listdir(d)
        except NotADirectoryError:
            continue
        for name in names:
            parsed = parse_loose_name(sub, name, archive)
            if parsed is not None:
                yield parsed[0], parsed[1], f"{d}/{name}"


def cleanup(tmp_dfd: int, prefix: str, expiry_secs: float, keep_current_boot: bool = True,
            skip: Optional[str] = None) -> None:
    """Reclaim ``tmp/`` as libostree's ``cleanup_tmpdir`` does (see the module's
    docstring); ``keep_current_boot=False`` also removes this boot's free
    staging directories (libostree does so when short of space)."""
    now = time.time()
    for entry in _scandir(tmp_dfd):
        name = entry.name
        if name == "cache" or name == skip:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # another cleanup won
        if name.startswith(STAGING_PREFIX) and stat.S_ISDIR(st.st_mode):
            lock = StagingLock.try_lock(tmp_dfd, name)
            if lock is None:
                continue  # a live transaction, ours or a peer's
            try:
                if keep_current_boot and name.startswith(prefix):
                    continue
                _rm_rf(tmp_dfd, name)
            finally:
                lock.release()
            continue
        if st.st_mtime > now:
            continue  # from the future: leave it
        if now - st.st_mtime > expiry_secs:
            if name.startswith(STAGING_PREFIX) and name.endswith("-lock") and not _lock_is_free(tmp_dfd, name):
                continue  # an old, still-running transaction's lock
            _rm_rf(tmp_dfd, name)


def _lock_is_free(tmp_dfd: int, lockname: str) -> bool:
    try:
        fd = os.open(lockname, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=tmp_dfd)
    except OSError:
        return True
    try:
        return _lock_fd(fd)
    finally:
        os.close(fd)


def _scandir(dfd: int) -> Iterator["os.DirEntry[str]"]:
    # os.scandir(fd) works on its own dup, so the caller's fd stays open
    with os.scandir(dfd) as it:
        for entry in it:
            yield entry


def _rm_rf(dfd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        # rmtree with dir_fd does not follow symlinks planted inside
        import shutil
        shutil.rmtree(name, dir_fd=dfd, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dfd)
