"""The repository lock, interoperable with libostree's.

libostree takes open-file-description locks (F_OFD_SETLK) on ``REPO/.lock``,
whole file, read lock for shared and write lock for exclusive, falling back to
flock() where OFD locks do not exist.  Using the same calls means an ostreepy
prune waits for an ``ostree commit`` in the same repo, and the other way round.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import threading
import time

from ..errors import RepoLockedError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional

F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)
F_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", 38)

SHARED = "shared"
EXCLUSIVE = "exclusive"


def _flock_struct(l_type: int) -> bytes:
    # struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start,
    # off_t l_len, pid_t l_pid (l_pid must be 0 for OFD locks).
    return struct.pack("hhxxxxqqixxxx", l_type, os.SEEK_SET, 0, 0, 0)


class RepoLock:
    """A re-entrant shared/exclusive lock on one repository's ``.lock`` file."""

    def __init__(self, repo_dir_fd: int, timeout: float = 300.0) -> None:
        self._dfd = repo_dir_fd
        self._fd: Optional[int] = None
        self._shared = 0
        self._exclusive = 0
        self.timeout = timeout
        # one lock per open repo, shared by its threads (parallel layer imports)
        self._mutex = threading.RLock()

    def _ensure_fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(".lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o660, dir_fd=self._dfd)
        return self._fd

    def _set(self, state: str, blocking: bool) -> None:
        fd = self._ensure_fd()
        l_type = fcntl.F_WRLCK if state == EXCLUSIVE else fcntl.F_RDLCK
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.fcntl(fd, F_OFD_SETLK, _flock_struct(l_type))
                return
            except OSError as e:
                if e.errno == errno.EINVAL:
                    # no OFD locks on this kernel/filesystem
                    op = fcntl.LOCK_EX if state == EXCLUSIVE else fcntl.LOCK_SH
                    try:
                        fcntl.flock(fd, op | fcntl.LOCK_NB)
                        return
                    except OSError as e2:
                        if e2.errno not in (errno.EAGAIN, errno.EACCES):
                            raise
                elif e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not blocking or time.monotonic() >= deadline:
                raise RepoLockedError(
                    f"Locking repo {state} failed: the repository is locked by another process"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _unlock(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.fcntl(self._fd, F_OFD_SETLK, _flock_struct(fcntl.F_UNLCK))
        except OSError:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def push(self, state: str, blocking: bool = True) -> None:
        with self._mutex:
            self._push(state, blocking)

    def pop(self, state: str) -> None:
        with self._mutex:
            self._pop(state)

    def _push(self, state: str, blocking: bool) -> None:
        if state == EXCLUSIVE:
            if self._exclusive == 0:
                self._set(EXCLUSIVE, blocking)
            self._exclusive += 1
        else:
            if self._exclusive == 0 and self._shared == 0:
                self._set(SHARED, blocking)
            self._shared += 1

    def _pop(self, state: str) -> None:
        if state == EXCLUSIVE:
            self._exclusive -= 1
            if self._exclusive == 0:
                if self._shared:
                    self._set(SHARED, True)
                else:
                    self._unlock()
        else:
            self._shared -= 1
            if self._shared == 0 and self._exclusive == 0:
                self._unlock()

    def close(self) -> None:
        with self._mutex:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._shared = self._exclusive = 0
