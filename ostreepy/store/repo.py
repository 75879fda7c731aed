"""An OSTree repository on disk: objects, refs, config, lock.

This is the storage layer over the pure format code in :mod:`objects`.  Every
object goes to ``tmp/`` first and is renamed into ``objects/`` only after its
checksum was computed from the bytes actually written (and compared with the
expected one, when the caller gave one), so a reader never sees a half-written
or mislabelled object.  A transaction ends as libostree's does: one ``syncfs()``
(not one fsync per object), the renames into ``objects/``, an fsync of the
object directories, then the refs (each fsynced, and their directories).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import io
import os
import stat
import threading
import time
import zlib

from ..errors import (
    ChecksumMismatchError,
    CorruptObjectError,
    InvalidObjectError,
    InvalidRefError,
    ObjectNotFoundError,
    OstreeError,
    PathNotFoundError,
    RefNotFoundError,
    AmbiguousRefError,
    RepoError,
    UnsupportedFileTypeError,
)
from .keyfile import KeyFile
from .lock import SHARED, RepoLock
from ..fsutil import write_all, write_file_atomic
from .objtype import (MAX_METADATA_SIZE, ObjectType, is_checksum, loose_name, loose_path, parse_loose_name,
                      validate_checksum)
from .refs import parse_refspec, validate_collection_id, validate_ref, validate_remote_name
from . import staging as stg
from .hooks import REFS_CHANGED_HOOKS, on_refs_changed as on_refs_changed  # re-exported: the API's name

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Set, Tuple

    import hashlib

    from . import objects as obj
    from .gvariant import Variant
    from .objects import AnyHeader, Commit, DirMeta, DirTree, FileHeader
    from .sizes import SizeLog
    from .writestats import WriteStats
else:
    class _Objects:
        """ostreepy.store.objects, imported on first use: its value classes are attrs
        classes, whose import and creation cost more than opening a repository and
        listing its refs, which use none of them."""

        def __getattr__(self, name: str) -> object:
            from . import objects
            globals()["obj"] = objects
            return getattr(objects, name)

    obj = _Objects()

CHUNK = 1 << 20
#: a transaction's end renames, fsyncs and removes directories on one thread while each
#: step takes less than this (seconds; per object for the renames), then hands the rest to
#: a few threads (see :func:`_serially_unless_slow`)
_SLOW_RENAME = 0.0005
_SLOW_DIR_OP = 0.001
_SLOW_CALLS = 3


class RepoMode(enum.Enum):
    """The repository modes: ``bare``, ``bare-user``, ``bare-user-only`` and ``archive``
    (``archive-z2`` is read as ``archive``)."""

    BARE = "bare"
    BARE_USER = "bare-user"
    BARE_USER_ONLY = "bare-user-only"
    ARCHIVE = "archive"

    @classmethod
    def from_string(cls, s: str) -> "RepoMode":
        if s in ("archive", "archive-z2"):
            return cls.ARCHIVE
        for m in cls:
            if m.value == s:
                return m
        if s == "bare-split-xattrs":
            raise RepoError("Repository mode bare-split-xattrs is not supported")
        raise RepoError(f"Invalid mode '{s}' in repository configuration")

    @property
    def config_string(self) -> str:
        return "archive-z2" if self is RepoMode.ARCHIVE else self.value

    @property
    def is_bare(self) -> bool:
        return self is not RepoMode.ARCHIVE


_syncfs_call = None


def _syncfs(fd: int) -> None:
    # The C library's syncfs through _ctypes, ctypes's C part: what ctypes.CDLL(None,
    # use_errno=True).syncfs is, without ctypes/__init__.py and its type classes (~1.5 ms of
    # every pull, whose transaction ends here). The C library is the one this process already
    # has (dlopen(NULL)), not a search: ctypes.util.find_library runs `ldconfig -p` in a
    # subprocess (~30 ms and a fork).
    import _ctypes
    global _syncfs_call
    if _syncfs_call is None:
        _syncfs_call = _syncfs_function(_ctypes)
    if _syncfs_call(fd) != 0:  # pragma: no cover - syncfs failing is an I/O error
        e = _ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def preload_syncfs() -> None:
    """Make :func:`_syncfs`'s function now (_ctypes loaded, ~0.3 ms), for a caller that waits
    on something else meanwhile (a delta's applier, while its part inflates) rather than at
    the end of its transaction."""
    global _syncfs_call
    if _syncfs_call is None:
        import _ctypes
        _syncfs_call = _syncfs_function(_ctypes)


def _syncfs_function(_ctypes: Any) -> Any:
    class CInt(_ctypes._SimpleCData):  # ctypes.c_int
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):  # CDLL's _FuncPtr with use_errno
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = CInt

    class Library:  # what CFuncPtr reads of a CDLL: its handle
        _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)

    return Function(("syncfs", Library))


def _read_metadata_fd(fd: int, checksum: str, objtype: ObjectType, verify: bool) -> bytes:
    """A metadata object's bytes from ``fd`` (closed here), checked against its name."""
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:
            rest = [data]
            while True:
                more = os.read(fd, 1 << 20)
                if not more:
                    break
                rest.append(more)
                if sum(map(len, rest)) > MAX_METADATA_SIZE:
                    break
            data = b"".join(rest)
    finally:
        os.close(fd)
    if len(data) > MAX_METADATA_SIZE:
        raise CorruptObjectError(f"Metadata object {checksum}.{objtype.name_str} is larger than the maximum",
                                 checksum)
    if verify and objtype in (ObjectType.COMMIT, ObjectType.DIR_TREE, ObjectType.DIR_META):
        import hashlib  # not at start-up: it loads OpenSSL, which listing refs does not need
        actual = hashlib.sha256(data).hexdigest()
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, f"{objtype.name_str} object")
    return data


class VerifyingReader(io.RawIOBase):
    """Reads a content object's data and checks its checksum when the end is reached.

    A consumer that streams the data out sees a :class:`ChecksumMismatchError`
    at EOF rather than silently passing on corrupt bytes; callers that write
    the data somewhere must delete what they wrote when that happens.
    ``hasher`` None checks only the size and the compressed stream: for a
    consumer that hashes the data itself (:meth:`Repo.write_content` with
    ``expected``), so that the data is not hashed twice.
    """

    def __init__(self, raw: BinaryIO, hasher: "Optional[hashlib._Hash]", expected: str,
                 size: Optional[int] = None, decompress: bool = False) -> None:
        self._raw = raw
        self._hasher = hasher
        self._expected = expected
        self._size = size
        self._seen = 0
        self._z = zlib.decompressobj(-15) if decompress else None
        self._buf = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._z is not None:
            tail = self._z.flush()
            if tail:
                self._account(tail)
                self._buf += tail
            if not self._z.eof and self._seen:
                raise CorruptObjectError(f"Corrupted file object {self._expected}: truncated compressed data",
                                         self._expected)
        if self._size is not None and self._seen != self._size:
            raise CorruptObjectError(
                f"Corrupted file object {self._expected}: size {self._seen} != {self._size}", self._expected)
        if self._hasher is None:
            return
        actual = self._hasher.hexdigest()
        if actual != self._expected:
            raise ChecksumMismatchError(self._expected, actual, "file object")

    def _account(self, data: bytes) -> None:
        self._seen += len(data)
        if self._hasher is not None:
            self._hasher.update(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks: List[bytes] = []
            while True:
                c = self.read(CHUNK)
                if not c:
                    return b"".join(chunks)
                chunks.append(c)
        while not self._buf and not self._done:
            if self._z is not None and self._z.unconsumed_tail:
                raw = self._z.unconsumed_tail
            else:
                raw = self._raw.read(CHUNK if self._z is not None else max(size, 1))
                if not raw:
                    self._finish()
                    break
            if self._z is not None:
                try:
                    # bounded output: a small object that inflates hugely is expanded
                    # a chunk at a time, its size checked on the way
                    data = self._z.decompress(raw, CHUNK)
                except zlib.error as e:
                    raise CorruptObjectError(f"Corrupted file object {self._expected}: {e}",
                                             self._expected) from None
                if self._z.unused_data:
                    raise CorruptObjectError(f"Corrupted file object {self._expected}: trailing data",
                                             self._expected)
            else:
                data = raw
            if self._size is not None and self._seen + len(data) > self._size:
                raise CorruptObjectError(f"Corrupted file object {self._expected}: too long", self._expected)
            self._account(data)
            self._buf = data
        out, self._buf = self._buf[:size], self._buf[size:]
        return out

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def check_min_free_space(config: KeyFile) -> None:
    """reload_core_config's refusals of ``core.min-free-space-size`` and
    ``-percent`` (ostree refuses to open such a repository, and since 2025.3 ``config
    set`` refuses to write one); ostreepy does not enforce the minimum itself."""
    size = config.get("core", "min-free-space-size")
    if size is not None:
        import re
        m = re.fullmatch(r"([0-9]+)(G|M|T)B", size)
        if m is None:
            raise RepoError(f"Invalid min-free-space-size '{size}': "
                            "It should be of the format '123MB', '123GB' or '123TB'")
        shifts = {"M": 0, "G": 10, "T": 20}[m.group(2)]
        # g_ascii_strtoull saturates; a value whose top `shifts` bits are used overflows
        if shifts and min(int(m.group(1)), 2**64 - 1) >> (64 - shifts) != 0:
            raise RepoError(f"Invalid min-free-space-size '{size}': Value was too high")
    percent = config.get("core", "min-free-space-percent")
    if percent is not None:
        if not all(c in "0123456789" for c in percent):
            raise RepoError(f"Invalid min-free-space-percent '{percent}': must be a number")
        if percent and int(percent) > 99:
            raise RepoError(f"Invalid min-free-space-percent '{percent}'")


class Repo:
    """An open repository.  Use :meth:`init` or :meth:`open`."""

    def __init__(self, path: str, config: KeyFile, dfd: int,
                 _children: FrozenSet[Tuple[int, int]] = frozenset()) -> None:
        self.path = os.path.abspath(path)
        self.config = config
        self._dfd = dfd
        mode = config.get("core", "mode", "bare") or "bare"
        self.mode = RepoMode.from_string(mode)
        if config.get("core", "repo_version", "1") != "1":
            raise RepoError(f"Invalid repository version '{config.get('core', 'repo_version')}'")
        if config.get("core", "archive") is not None:
            raise RepoError("This version of OSTree no longer supports \"archive\" repositories; use archive-z2 instead")
        self.fsync = config.get_bool("core", "fsync", True)
        self._objects_prefix = os.path.join(self.path, "objects") + "/"
        self._file_ext = ".filez" if self.mode is RepoMode.ARCHIVE else ".file"
        try:
            self.zlib_level = int(config.get("archive", "zlib-level", "6") or "6")
            lock_timeout = float(config.get("core", "lock-timeout-secs", "300") or "300")
        except ValueError as e:
            raise RepoError(f"Invalid number in repository config: {e}") from None
        if not 0 <= self.zlib_level <= 9:
            raise RepoError(f"Invalid zlib-level {self.zlib_level} in repository config")
        check_min_free_space(config)
        self.lock = RepoLock(dfd, lock_timeout)
        self._objdirs: Set[str] = set()
        #: whether an open file can be linked by its descriptor (/proc/self/fd)
        self.has_proc_fd = os.path.isdir("/proc/self/fd")
        self._use_o_tmpfile = hasattr(os, "O_TMPFILE") and self.has_proc_fd
        self._objdir_lock = threading.Lock()
        self._txn_depth = 0
        self._dirtree_cache: Optional[Dict[str, DirTree]] = None
        # set while `commit --generate-sizes` builds a tree: every file, dirtree and
        # dirmeta it is asked to write (already there or not) with its sizes
        self.size_log: Optional[SizeLog] = None
        # set while `commit --table-output` runs: what was asked for and what was new
        self.write_stats: Optional[WriteStats] = None
        #: what renames a transaction's staged objects in at its end, in place of
        #: :meth:`move_staged` (same arguments and result): a caller that has a second
        #: process at hand to share them (a delta's applier, ``deltas.split``)
        self.staged_mover: Optional[Callable[[str, List[str], Set[str]], List[int]]] = None
        self._txn_lock = threading.Lock()
        # what is staged is known from the staging directory itself, as in libostree:
        # any set of the transaction's objects grows with the commit (~10 MB at 100,000)
        self._staging_dir: Optional[str] = None
        self._staging_lock: Optional[stg.StagingLock] = None
        self._tmp_dfd = -1
        # as g_ascii_strtoull reads it: leading digits, else 0
        expiry = (config.get("core", "tmp-expiry-secs", "") or "").strip()
        digits = expiry[: len(expiry) - len(expiry.lstrip("0123456789"))]
        self.tmp_expiry_secs = int(digits) if expiry else stg.DEFAULT_EXPIRY_SECS
        if expiry and not digits:
            self.tmp_expiry_secs = 0
        self._pending_refs: Dict[int, Dict[str, Optional[str]]] = {}
        self._ready_refs: Dict[str, Optional[str]] = {}
        self.parent: Optional[Repo] = None
        parent_path = config.get("core", "parent")
        if parent_path:
            # a chain of parents that comes back to a repository already in it
            # would open repositories without end
            st = os.fstat(dfd)
            me = (st.st_dev, st.st_ino)
            if me in _children:
                raise RepoError(f"core.parent of a repository leads back to {self.path}: a cycle of parents")
            self.parent = Repo.open(parent_path, _children=_children | {me})

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def init(cls, path: str, mode: RepoMode | str = RepoMode.BARE,
             collection_id: Optional[str] = None) -> "Repo":
        """Create a repository as ``ostree init`` does (idempotent on an existing one)."""
        if isinstance(mode, str):
            mode = RepoMode.from_string(mode)
        os.makedirs(path, exist_ok=True)
        cfg_path = os.path.join(path, "config")
        if os.path.exists(cfg_path):
            existing = cls.open(path)
            if existing.mode != mode:
                existing.close()
                raise RepoError(f"Repository at {path} exists with mode {existing.mode.value}")
            return existing
        text = f"[core]\nrepo_version=1\nmode={mode.config_string}\n"
        if collection_id:
            text += f"collection-id={collection_id}\n"
        write_file_atomic(cfg_path, text.encode(), 0o644)
        for d in ("tmp", "tmp/cache", "extensions", "state", "refs", "refs/heads", "refs/mirrors", "refs/remotes",
                  "objects"):
            os.makedirs(os.path.join(path, d), mode=0o775, exist_ok=True)
        return cls.open(path)

    @classmethod
    def open(cls, path: str, *, _children: FrozenSet[Tuple[int, int]] = frozenset()) -> "Repo":
        if _children:
            # a parent is a directory on disk: compare it by identity, not by name
            try:
                st = os.stat(path)
            except OSError:
                pass
            else:
                if (st.st_dev, st.st_ino) in _children:
                    raise RepoError(f"core.parent {path} is the repository itself or one of its children:"
                                    " a cycle of parents")
        cfg_path = os.path.join(path, "config")
        try:
            with open(cfg_path, "r", encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise RepoError(f"opening repo: opendir({path}): No such file or directory"
                            if not os.path.isdir(path) else
                            f"Couldn't find repository config at {cfg_path}") from None
        except NotADirectoryError:
            raise RepoError(f"opening repo: opendir({path}): Not a directory") from None
        except IsADirectoryError:
            raise RepoError(f"Couldn't read repository config at {cfg_path}: Is a directory") from None
        except UnicodeDecodeError:
            raise RepoError(f"Repository config {cfg_path} is not valid UTF-8") from None
        try:
            config = KeyFile.parse(text)
        except OstreeError as e:
            raise RepoError(f"Couldn't parse config file: {e}") from None
        if not config.has_group("core"):
            raise RepoError("Repository config has no [core] group")
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if os.access(path, os.W_OK):
            # as libostree: tmp/ (and tmp/cache) are made again if someone removed them
            for d in ("tmp", "tmp/cache"):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(d, 0o775, dir_fd=dfd)
        try:
            return cls(path, config, dfd, _children)
        except BaseException:
            os.close(dfd)
            raise

    def close(self) -> None:
        self.lock.close()
        if self._tmp_dfd >= 0:
            os.close(self._tmp_dfd)
            self._tmp_dfd = -1
        if self._dfd >= 0:
            os.close(self._dfd)
            self._dfd = -1
        if self.parent is not None:
            self.parent.close()

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repo({self.path!r}, mode={self.mode.value})"

    def write_config(self) -> None:
        write_file_atomic(os.path.join(self.path, "config"), self.config.to_text().encode(), 0o644)

    def _join(self, rel: str) -> str:
        return os.path.join(self.path, rel)

    @property
    def tmp_dir(self) -> str:
        return self._objects_prefix[:-8] + "tmp"  # path/objects/ -> path/tmp, without os.path.join a file

    def _tmp_fd(self) -> int:
        if self._tmp_dfd < 0:
            self._tmp_dfd = os.open(self.tmp_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._tmp_dfd

    # ------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def locked(self, state: str = SHARED) -> Iterator[None]:
        self.lock.push(state)
        try:
            yield
        finally:
            self.lock.pop(state)

    def _refs_changed(self) -> None:
        """libostree's _ostree_repo_maybe_regenerate_summary: with ``core.auto-update-summary``
        (or its deprecated alias ``core.commit-update-summary``) the summary is regenerated
        after a ref changed outside a transaction, or once when a transaction that changed
        refs ends. Building a summary is the remote room's work: it registers itself
        through :func:`on_refs_changed`."""
        cfg = self.config
        if not (cfg.get_bool("core", "auto-update-summary", False)
                or cfg.get_bool("core", "commit-update-summary", False)):
            return
        for hook in list(REFS_CHANGED_HOOKS):
            hook(self)

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Repo"]:
        """Group writes: a shared lock held throughout, one sync at the end.

        As in libostree, new objects wait in a staging directory under ``tmp/``
        and refs set inside the transaction are held back; when the last open
        transaction ends: one ``syncfs``, then the objects are renamed into
        ``objects/`` and their directories fsynced, then the refs are written
        (each fsynced before its rename, and its directory after).  A crash at any point leaves no
        ref pointing at an object whose data did not reach the disk, and no
        unsynced object in ``objects/`` for a later write to trust.  The refs
        of a transaction that fails are dropped; its objects, all verified,
        still go in.
        """
        me = threading.get_ident()
        changed = False
        with self.locked(SHARED):
            with self._txn_lock:
                self._txn_depth += 1
            ok = False
            try:
                yield self
                ok = True
            finally:
                with self._txn_lock:
                    self._txn_depth -= 1
                    last = self._txn_depth == 0
                    mine = self._pending_refs.pop(me, {})
                    if ok:
                        self._ready_refs.update(mine)
                if last:
                    if ok:
                        # ostree_repo_prepare_transaction takes its staging directory
                        # (resuming a dead one of this boot) before any write, so even a
                        # transaction that wrote nothing (a deploy's refs) leaves one when
                        # it fails, and takes a dead one over when it succeeds
                        # (test-admin-deploy-bootid-gc); ours is taken at the first
                        # object or here, so that what a dead transaction left is not
                        # seen before the pull has verified the commit
                        with self._txn_lock, contextlib.suppress(OSError):
                            if self._staging_dir is None:
                                self._allocate_staging()
                    if ok and test_error("pre-commit"):
                        self._abandon_staged()
                        raise RepoError("OSTREE_REPO_TEST_ERROR_PRE_COMMIT specified")
                    changed = self._commit_staged()
        if changed:
            self._refs_changed()

    def _abandon_staged(self) -> None:
        """Drop the transaction but leave its staging directory (unlocked) in tmp/, as a
        transaction that died does: what ``OSTREE_REPO_TEST_ERROR=pre-commit`` asks for."""
        with self._txn_lock:
            self._ready_refs, self._staging_dir = {}, None
            staging_lock, self._staging_lock = self._staging_lock, None
        if staging_lock is not None:
            staging_lock.release()

    def _commit_staged(self) -> bool:
        """Objects in, then refs; True when refs were written."""
        with self._txn_lock:
            refs, self._ready_refs = self._ready_refs, {}
            staging, self._staging_dir = self._staging_dir, None
            staging_lock, self._staging_lock = self._staging_lock, None
            made: set[str] = self._staging_made if staging is not None else set()
        self.sync()

        # one xx/ directory listed at a time, never a list of every staged object
        # (110,000 paths held 40 MB at the end of a 100,000-file import)
        subs: List[str] = []
        if staging is not None:
            with contextlib.suppress(FileNotFoundError):
                subs = sorted(n for n in os.listdir(staging) if len(n) == 2)

        # renames into different objects/xx/ directories do not queue on one directory's
        # lock, so a few threads keep the file system busy while one waits for a directory
        # block to be read; with the directories cached (the common case: a repository just
        # read) a rename is ~15 us and threads only add hand-offs (1,400 renames: 12 ms on
        # one thread, 15-25 ms on four; 20,000: 0.2 s against 0.23 s on tmpfs, 0.56 s
        # against 0.75 s on ext4)
        mover = self.staged_mover or self.move_staged
        moved = dict(zip(subs, mover(staging, subs, made))) if staging is not None and subs else {}
        staged = sorted(sub for sub, n in moved.items() if n)
        if staged and self.fsync:
            # after all the renames, as libostree's fsync_object_dirs: the first fsync commits
            # the journal with every rename in it, the others find nothing left to do (an
            # fsync in each mover, between renames, would commit the journal again and again)
            dirs = [self._join("objects/" + sub) for sub in staged]
            dirs.append(self._join("objects"))  # the xx/ directories made just now
            _fsync_dir(dirs[0])
            # each of the others still ends in a flush of the disk's cache (ext4 sends one
            # even when the journal has nothing left to commit): issued together from a few
            # threads, the block layer merges them; one after another, 256 of them cost a few
            # milliseconds each on a busy disk (0.3-0.7 s against 30-80 ms).  Where an fsync
            # costs microseconds (tmpfs) threads cost more than they save (256: 1 ms on one
            # thread, 8-17 ms on four): the first slow ones start them
            _serially_unless_slow(_fsync_dir, dirs[1:], _SLOW_DIR_OP)
        if staging is not None:
            _remove_emptied(staging)
        if staging_lock is not None:
            staging_lock.release()
        # as libostree at the end of every transaction; a failure to tidy up
        # must not fail a transaction whose objects are already in
        with contextlib.suppress(OSError):
            self.cleanup_tmp()
        for refspec, target in refs.items():
            self._write_ref(refspec, target)
        if refs and self.fsync:
            # as libostree (commit_transaction: syncfs, renames, fsync_object_dirs, refs
            # written with fdatasync), no second syncfs: that flushes the whole filesystem,
            # everyone's writes.  The objects' directories were fsynced above and each ref's
            # data before its rename; the refs' directories (and those made for them) are
            # fsynced here, which libostree leaves out, so that a ref set is also a ref kept.
            self._fsync_ref_dirs(list(refs))
        return bool(refs)

    def move_staged(self, staging: str, subs: List[str], made: Set[str]) -> List[int]:
        """The objects of the staging directory's ``subs`` renamed into ``objects/``
        (``made``: the subdirectories this transaction made), after the transaction's sync:
        how many renames each took. What a transaction's end does, or its
        :attr:`staged_mover` shares out."""
        return _serially_unless_slow(lambda sub: self._move_staged(staging, sub, sub in made), subs, _SLOW_RENAME)

    def _move_staged(self, staging: str, sub: str, made: bool) -> int:
        """The objects of the staging directory's ``sub``/ renamed into ``objects/``, ``made``
        when this transaction made that directory; how many renames that took."""
        # A rename over an object another writer added meanwhile replaces it with
        # identical content, so no existence check is needed.
        if made:
            # a directory this transaction made holds only its objects: where objects/xx
            # is absent (or empty: a fresh repository) it goes there whole, one rename
            # instead of one per object (20,000 on a 20,000-file commit)
            try:
                os.rename(f"{staging}/{sub}", self._objects_prefix + sub)
            except OSError as e:
                # (ENOENT: moved already, by a mover whose own end is not known: what it
                # left, if anything, is listed below)
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise
            else:
                with self._objdir_lock:
                    self._objdirs.add(sub)
                return 1
        src = f"{staging}/{sub}/"
        dest = f"{self._objects_prefix}{sub}/"
        archive = self.mode is RepoMode.ARCHIVE
        try:
            names = os.listdir(src)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        n = 0
        known = sub in self._objdirs
        for name in names:
            # staged as it lies in objects/ (_staged_path): renamed under the same name, an
            # object's name checked as the staging directory's listing checks it
            if parse_loose_name(sub, name, archive) is None:
                continue
            if known:
                os.rename(src + name, dest + name)
            else:
                # objects/xx is there (init makes all 256): renamed into at once, and made
                # only when the rename says it is not (a mkdir and a stat per directory
                # were ~400 syscalls of a 455-object pull's transaction end)
                try:
                    os.rename(src + name, dest + name)
                except FileNotFoundError:
                    self._ensure_objdir(sub)
                    os.rename(src + name, dest + name)
                with self._objdir_lock:
                    self._objdirs.add(sub)
                known = True
            n += 1
        return n

    def _fsync_ref_dirs(self, refspecs: list[str]) -> None:
        done: set[str] = set()
        top = self._join("refs")
        for refspec in refspecs:
            d = os.path.dirname(self._ref_path(*parse_refspec(refspec)))
            while d not in done and len(d) >= len(top):
                done.add(d)
                with contextlib.suppress(FileNotFoundError):  # a deleted ref's directory may be gone
                    _fsync_dir(d)
                d = os.path.dirname(d)

    def sync(self) -> None:
        if self.fsync:
            _syncfs(self._dfd)

    # ------------------------------------------------------------ objects: paths and listing

    def object_path(self, checksum: str, objtype: ObjectType) -> str:
        """Where an object is: its loose path, or its staging path while a transaction
        that wrote it is still open."""
        staging = self._staging_dir
        if staging is not None:
            p = _staged_path(staging, checksum, objtype, self.mode is RepoMode.ARCHIVE)
            if os.path.lexists(p):
                return p
        return self._final_object_path(checksum, objtype)

    def _final_object_path(self, checksum: str, objtype: ObjectType) -> str:
        if objtype is ObjectType.FILE:
            return f"{self._objects_prefix}{checksum[:2]}/{checksum[2:]}{self._file_ext}"
        return self._join(loose_path(checksum, objtype, self.mode is RepoMode.ARCHIVE))

    def _allocate_staging(self) -> None:
        """``_ostree_repo_allocate_tmpdir`` (under ``_txn_lock``): this boot's free
        staging directory, or a new one. (Reused: what a transaction that died left
        there was verified before it was staged, and goes in with ours: libostree's
        transaction resume.)"""
        name, lock, _reused = stg.allocate(self._tmp_fd(), stg.stagedir_prefix())
        self._staging_dir = os.path.join(self.tmp_dir, name)
        self._staging_lock = lock
        self._staging_subdirs: Set[str] = set()
        # those made by this transaction (not found in a staging directory it took over)
        self._staging_made: set[str] = set()

    def _staging_target(self, checksum: str, objtype: ObjectType) -> Optional[str]:
        """Inside a transaction with fsync on: the staging path a new object goes to."""
        if not (self._txn_depth and self.fsync):
            return None
        staging = self._staging_subdir(checksum[:2])
        return _staged_path(staging, checksum, objtype, self.mode is RepoMode.ARCHIVE)

    def prepare_staging(self, checksums: Iterable[str]) -> None:
        """Inside a transaction with fsync on: make the staging directories that new objects
        with these checksums go to, as their writes would, for a caller that knows what it
        will write and waits for something else meanwhile (a delta's applier, while the
        part's payload is inflated on another thread)."""
        if not (self._txn_depth and self.fsync):
            return
        for prefix in sorted({c[:2] for c in checksums}):
            self._staging_subdir(prefix)

    def _staging_subdir(self, prefix: str) -> str:
        """The transaction's staging directory, with its ``prefix``/ made (under ``_txn_lock``)."""
        with self._txn_lock:
            if self._staging_dir is None:
                self._allocate_staging()
            assert self._staging_dir is not None
            # laid out like objects/ (xx/ subdirectories), so writers on several
            # threads do not all queue on one directory's lock
            sub = f"{self._staging_dir}/{prefix}"
            if prefix not in self._staging_subdirs:
                # objects/xx's mode: the whole directory may be renamed there (_commit_staged)
                try:
                    os.mkdir(sub, 0o775)
                    self._staging_made.add(prefix)
                except FileExistsError:
                    pass
                self._staging_subdirs.add(prefix)
            return self._staging_dir

    def object_dirs(self, prefix: str) -> Tuple[str, Optional[str]]:
        """The directories where a loose object whose checksum begins with ``prefix``
        (two hex digits) can be: ``objects/xx`` and, while a transaction has staged
        objects, its staging ``xx/`` (None otherwise)."""
        staging = self._staging_dir
        return self._objects_prefix + prefix, (f"{staging}/{prefix}" if staging is not None else None)

    def has_object(self, checksum: str, objtype: ObjectType) -> bool:
        # objects/ first, by a path relative to the repository's descriptor: most lookups
        # (a pull's walk over what it has) find the object there with one short lstat,
        # where the staging directory first would cost two
        name = loose_name(checksum, objtype, self.mode is RepoMode.ARCHIVE)
        try:
            if self._dfd >= 0:
                os.lstat("objects/" + name, dir_fd=self._dfd)
            else:  # closed: by its path, as before
                os.lstat(self._objects_prefix + name)
            return True
        except FileNotFoundError:
            pass
        staging = self._staging_dir
        if staging is not None:
            try:
                os.lstat(f"{staging}/{name}")
                return True
            except FileNotFoundError:
                pass
        return self.parent.has_object(checksum, objtype) if self.parent else False

    def has_static_deltas(self) -> bool:
        """Whether ``deltas/`` holds anything: a caller that would only prune or list them
        need not import the delta modules (~6 ms) for a repository without any."""
        try:
            return bool(os.listdir(self._join("deltas")))
        except (FileNotFoundError, NotADirectoryError):
            return False

    def list_objects(self, objtype: Optional[ObjectType] = None) -> Iterator[Tuple[str, ObjectType]]:
        """Every loose object: (checksum, type), in directory order."""
        objdir = self._join("objects")
        try:
            prefixes = sorted(os.listdir(objdir))
        except FileNotFoundError:
            return
        archive = self.mode is RepoMode.ARCHIVE
        for prefix in prefixes:
            if len(prefix) != 2:
                continue
            try:
                names = os.listdir(os.path.join(objdir, prefix))
            except NotADirectoryError:
                continue
            for name in names:
                parsed = parse_loose_name(prefix, name, archive)
                if parsed is not None and (objtype is None or parsed[1] == objtype):
                    yield parsed

    def _ensure_objdir(self, checksum: str) -> str:
        prefix = checksum[:2]
        d = self._objects_prefix + prefix  # (once an object: no os.path.join)
        if prefix not in self._objdirs:
            os.makedirs(d, mode=0o775, exist_ok=True)
            with self._objdir_lock:
                self._objdirs.add(prefix)
        return d

    def _tmp_name(self, suffix: str = "") -> str:
        return os.path.join(self.tmp_dir, f"tmpobj-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}{suffix}")

    def _rename_in(self, tmp: str, checksum: str, objtype: ObjectType) -> bool:
        """Move a verified temp file into objects/ (or staging); False if the object already existed."""
        if self.has_object(checksum, objtype):
            os.unlink(tmp)
            return False
        staged = self._staging_target(checksum, objtype)
        if staged is not None:
            os.rename(tmp, staged)
            return True
        dest = self._final_object_path(checksum, objtype)
        self._ensure_objdir(checksum)
        if os.path.lexists(dest):
            os.unlink(tmp)
            return False
        os.rename(tmp, dest)
        return True

    def new_tmp_path(self, suffix: str = "") -> str:
        """A fresh name under ``tmp/`` (nothing created): where a caller puts a file
        it will hand to :meth:`adopt_object_file`."""
        return self._tmp_name(suffix)

    def adopt_object_file(self, path: str, checksum: str, objtype: ObjectType, *, linked: bool = False) -> bool:
        """Take a file under ``tmp/`` that the caller has verified to be object
        ``checksum`` in this repository's own on-disk form (a ``.filez`` for an
        archive repository, say) into the store, as :meth:`write_content` would
        have written it; False (and the file gone) when the object was already here.
        Used by pulls, which fetch archive objects and need not inflate and
        recompress them. ``linked``: the file is a hard link to another repository's
        object, whose mode is left alone (a chmod would change that repository's file)."""
        validate_checksum(checksum)
        if self.mode is RepoMode.ARCHIVE and objtype is ObjectType.FILE and not linked:
            os.chmod(path, 0o644)
        if self._txn_depth == 0 and self.fsync:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return self._rename_in(path, checksum, objtype)

    def link_object_in(self, src_path: str, checksum: str, objtype: ObjectType, *,
                       fd: int | None = None) -> bool | None:
        """Hard-link ``src_path`` (another repository's object, trusted to be object
        ``checksum`` in this repository's on-disk form) straight to where a new object
        goes: True, or False when it was there already. Only inside a transaction (or
        with fsync off), whose sync covers it; None elsewhere, where the caller goes
        through :meth:`adopt_object_file` (which syncs). OSError from ``link()`` (another
        filesystem, too many links) is the caller's. ``fd``: link the file open
        there instead (the inode the caller has checked, whatever ``src_path`` names now)."""
        validate_checksum(checksum)
        dest = self._staging_target(checksum, objtype)
        if dest is None:
            if self.fsync:
                return None
            self._ensure_objdir(checksum)
            dest = self._final_object_path(checksum, objtype)
        try:
            if fd is not None:
                # a dir fd makes CPython call linkat(AT_SYMLINK_FOLLOW), which links the
                # file behind the /proc symlink rather than the symlink itself
                os.link(f"/proc/self/fd/{fd}", dest, src_dir_fd=self._dfd, follow_symlinks=True)
            else:
                os.link(src_path, dest, follow_symlinks=False)
        except FileExistsError:
            return False
        return True

    # ------------------------------------------------------------ metadata objects

    def load_metadata(self, objtype: ObjectType, checksum: str, verify: bool = True) -> bytes:
        """The raw bytes of a metadata object, checked against its name."""
        validate_checksum(checksum)
        path = self.object_path(checksum, objtype)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if self.parent is not None:
                return self.parent.load_metadata(objtype, checksum, verify)
            raise ObjectNotFoundError(checksum, objtype.name_str) from None
        return _read_metadata_fd(fd, checksum, objtype, verify)

    def load_commit(self, checksum: str) -> Commit:
        return obj.Commit.parse(self.load_metadata(ObjectType.COMMIT, checksum))

    def load_dirtree(self, checksum: str) -> DirTree:
        cache = self._dirtree_cache
        if cache is not None:
            tree = cache.get(checksum)
            if tree is None:
                tree = cache[checksum] = obj.DirTree.parse(self.load_metadata(ObjectType.DIR_TREE, checksum))
            return tree
        return obj.DirTree.parse(self.load_metadata(ObjectType.DIR_TREE, checksum))

    def load_loose_dirtree(self, checksum: str) -> DirTree | None:
        """The dirtree if ``objects/`` holds it, else None (it may still be in the open
        transaction's staging directory or in ``core.parent``, where :meth:`has_object`
        and :meth:`load_dirtree` look). One ``openat`` by the repository's descriptor and
        a read, as libostree scans a dirtree it has: a second pull's walk reads most of
        the tree's dirtrees, and :meth:`has_object` then :meth:`load_metadata` (which
        looks in the staging directory before ``objects/``) cost two more lookups each,
        syscalls that hand the GIL to the pull's busy workers."""
        cache = self._dirtree_cache
        if cache is not None:
            tree = cache.get(checksum)
            if tree is not None:
                return tree
        data = self._loose_dirtree_data(checksum)
        if data is None:
            return None
        tree = obj.DirTree.parse(data)
        if cache is not None:
            cache[checksum] = tree
        return tree

    def load_loose_dirtree_entries(self, checksum: str) -> Optional[Tuple[Tuple[Tuple[str, str], ...],
                                                                         Tuple[Tuple[str, str, str], ...]]]:
        """:meth:`load_loose_dirtree` as :meth:`load_dirtree_entries` gives a dirtree: its files
        and subdirectories, without the DirTree value (a pull's walk); None when ``objects/``
        does not hold it."""
        cache = self._dirtree_cache
        if cache is not None:
            tree = cache.get(checksum)
            if tree is not None:
                return tree.files, tree.dirs
        data = self._loose_dirtree_data(checksum)
        return obj.parse_dirtree(data) if data is not None else None

    def _loose_dirtree_data(self, checksum: str) -> Optional[bytes]:
        if self._dfd < 0:
            return None
        validate_checksum(checksum)
        try:
            fd = os.open("objects/" + loose_name(checksum, ObjectType.DIR_TREE, False), os.O_RDONLY | os.O_CLOEXEC,
                         dir_fd=self._dfd)
        except FileNotFoundError:
            return None
        return _read_metadata_fd(fd, checksum, ObjectType.DIR_TREE, True)

    def load_dirtree_entries(self, checksum: str) -> Tuple[Tuple[Tuple[str, str], ...],
                                                           Tuple[Tuple[str, str, str], ...]]:
        """A dirtree's files ((name, checksum), ...) and subdirectories ((name, dirtree, dirmeta),
        ...) as :func:`~ostreepy.store.objects.parse_dirtree` gives them, checked as
        :meth:`load_dirtree` checks them but without the DirTree value, whose class (and attrs'
        import, ~20 ms) a command that builds no value need not pay: a checkout. Loose objects
        first, by the repository's descriptor (:meth:`load_loose_dirtree`)."""
        if self._dirtree_cache is not None:
            tree = self.load_loose_dirtree(checksum) or self.load_dirtree(checksum)
            return tree.files, tree.dirs
        data = self._loose_dirtree_data(checksum)
        if data is None:
            data = self.load_metadata(ObjectType.DIR_TREE, checksum)
        return obj.parse_dirtree(data)

    @contextlib.contextmanager
    def dirtree_cache(self) -> Iterator[None]:
        """Keep parsed dirtrees for the length of the block.

        For a command that reads every dirtree of a commit several times (a
        delta's compilation). Not a deploy's, which reads them four times (space
        check, checkout, composefs image, the prune's walk) but must stay flat in
        memory: ~200 bytes a file. Scoped, not always on: a dirtree is
        immutable but its file may be deleted, and outside a block a missing
        object must still be reported as missing. The cost is the parsed trees
        in memory (a few MB per 10,000 files) until the block ends."""
        if self._dirtree_cache is not None:
            yield
            return
        self._dirtree_cache = {}
        try:
            yield
        finally:
            self._dirtree_cache = None

    def load_dirmeta(self, checksum: str) -> DirMeta:
        return obj.DirMeta.parse(self.load_metadata(ObjectType.DIR_META, checksum))

    def load_dirmeta_fields(self, checksum: str) -> Tuple[int, int, int, Tuple[Tuple[bytes, bytes], ...]]:
        """A dirmeta's uid, gid, mode and xattrs, as :meth:`load_dirmeta` reads them but without
        the DirMeta value (see :meth:`load_dirtree_entries`)."""
        return obj.parse_dirmeta(self.load_metadata(ObjectType.DIR_META, checksum))

    def write_metadata(self, objtype: ObjectType, data: bytes, expected: Optional[str] = None,
                       known_absent: bool = False, parsed: object = None) -> str:
        """Store a metadata object; its structure is validated before it lands.
        ``known_absent``: as for :meth:`write_content` (no second look for the object).
        ``parsed``: what ``data`` parses to, from a caller that has parsed it and hashed it to
        ``expected`` already (a pull checks each object before it writes it), so neither is
        done twice."""
        if not objtype.is_meta or objtype in (ObjectType.COMMIT_META, ObjectType.TOMBSTONE_COMMIT):
            raise InvalidObjectError(f"write_metadata cannot write {objtype.name_str}")
        if len(data) > MAX_METADATA_SIZE:
            raise InvalidObjectError("Metadata object is larger than the maximum")
        if parsed is not None and expected is not None:
            checksum = expected
        else:
            import hashlib
            checksum = hashlib.sha256(data).hexdigest()
            if expected is not None and expected != checksum:
                raise ChecksumMismatchError(expected, checksum, f"{objtype.name_str} object")
            parsed = obj.parse_metadata_object(objtype, data)  # refuse malformed objects
        if self._dirtree_cache is not None and isinstance(parsed, obj.DirTree):
            # parsed already: a walk of the tree just written (inside a dirtree_cache
            # block) reads it from here rather than reading and parsing the file again
            self._dirtree_cache[checksum] = parsed
        if self.size_log is not None:
            self.size_log.record(checksum, objtype, len(data), len(data))
        if not known_absent and os.path.exists(self.object_path(checksum, objtype)):
            if self.write_stats is not None:
                self.write_stats.metadata(False)
            return checksum
        # anonymous where the filesystem allows: a named temp file would show up (and
        # vanish) in a tree being committed that holds the repository itself
        fd, tmp = self._open_tmpfile()
        try:
            write_all(fd, data)
            os.fchmod(fd, 0o644)
            if self._txn_depth == 0 and self.fsync:
                os.fsync(fd)
            if tmp is None:
                self._link_tmpfile_in(fd, checksum, objtype)
        except BaseException:
            os.close(fd)
            if tmp is not None:
                os.unlink(tmp)
            raise
        os.close(fd)
        if tmp is not None:
            self._rename_in(tmp, checksum, objtype)
        if self.write_stats is not None:
            self.write_stats.metadata(True)
        if objtype == ObjectType.COMMIT:
            # writing a commit again removes its tombstone
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.object_path(checksum, ObjectType.TOMBSTONE_COMMIT))
        return checksum

    def write_commit(self, commit: Commit) -> str:
        return self.write_metadata(ObjectType.COMMIT, commit.serialize())

    def write_dirtree(self, tree: DirTree) -> str:
        return self.write_metadata(ObjectType.DIR_TREE, tree.serialize())

    def write_dirmeta(self, meta: DirMeta) -> str:
        return self.write_metadata(ObjectType.DIR_META, meta.serialize())

    def read_commit_detached_metadata(self, checksum: str) -> Optional[Dict[str, Variant]]:
        path = self.object_path(checksum, ObjectType.COMMIT_META)
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_METADATA_SIZE + 1)
        except FileNotFoundError:
            return None
        return obj.parse_commitmeta(data)

    def write_commit_detached_metadata(self, checksum: str, metadata: Optional[Mapping[str, Variant]]) -> None:
        path = self.object_path(checksum, ObjectType.COMMIT_META)
        if metadata is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        self.write_commit_detached_metadata_bytes(checksum, obj.serialize_commitmeta(metadata))

    def write_commit_detached_metadata_bytes(self, checksum: str, data: bytes) -> None:
        """The ``.commitmeta`` as given: a pull stores the normal form of what it fetched,
        byte for byte as libostree (a dictionary would merge repeated keys)."""
        path = self.object_path(checksum, ObjectType.COMMIT_META)
        self._ensure_objdir(checksum)
        write_file_atomic(path, data, 0o644, tmpdir=self.tmp_dir, fsync=self.fsync)

    def commit_is_partial(self, checksum: str) -> bool:
        return os.path.exists(self._join(f"state/{checksum}.commitpartial"))

    def commit_partial_reason(self, checksum: str) -> Optional[str]:
        """None when complete; "" when partial, "f" when fsck found it incomplete."""
        try:
            with open(self._join(f"state/{checksum}.commitpartial"), "rb") as f:
                return f.read(1).decode("ascii", "replace")
        except FileNotFoundError:
            return None

    def mark_commit_partial(self, checksum: str, partial: bool, fsck: bool = False) -> None:
        path = self._join(f"state/{checksum}.commitpartial")
        if partial:
            os.makedirs(self._join("state"), exist_ok=True)
            try:
                fd = os.open(path, os.O_EXCL | os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                return
            try:
                if fsck:
                    os.write(fd, b"f")
            finally:
                os.close(fd)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # ------------------------------------------------------------ content objects: reading

    def load_file_header(self, checksum: str) -> FileHeader:
        header, stream = self.load_file(checksum, want_data=False)
        return header

    def load_file(self, checksum: str, want_data: bool = True,
                  verify: bool = True) -> Tuple[FileHeader, Optional[BinaryIO]]:
        """The header of a content object and, for regular files, a stream of its data.

        The stream checks the object's checksum as it reaches EOF (``verify``).
        """
        validate_checksum(checksum)
        try:
            return self.load_file_at(self.object_path(checksum, ObjectType.FILE), checksum, want_data, verify)
        except FileNotFoundError:
            if self.parent is not None:
                return self.parent.load_file(checksum, want_data, verify)
            raise ObjectNotFoundError(checksum, "file") from None

    def load_file_and_size(self, checksum: str) -> tuple[FileHeader, int]:
        """The header of a content object and its content size (0 for a symlink) from one
        ``lstat`` (bare modes) or one header read (archive): for what needs both but no data."""
        validate_checksum(checksum)
        try:
            header, _, size = self._load_file_at(self.object_path(checksum, ObjectType.FILE), checksum, False, True)
        except FileNotFoundError:
            if self.parent is not None:
                return self.parent.load_file_and_size(checksum)
            raise ObjectNotFoundError(checksum, "file") from None
        return header, size

    def load_file_at(self, path: str, checksum: str, want_data: bool = True,
                     verify: bool = True) -> tuple[FileHeader, BinaryIO | None]:
        """:meth:`load_file` of the file at ``path``, read as a content object stored in
        this repository's mode: how an import checks an object it has hard-linked into
        its own ``tmp/`` before taking it in. FileNotFoundError if there is none."""
        header, stream, _ = self._load_file_at(path, checksum, want_data, verify)
        return header, stream

    def _load_file_at(self, path: str, checksum: str, want_data: bool,
                      verify: bool) -> tuple[FileHeader, BinaryIO | None, int]:
        mode = self.mode
        if mode is RepoMode.ARCHIVE:
            return self._load_archive_file(path, checksum, want_data, verify)
        st = os.lstat(path)
        if mode is RepoMode.BARE_USER:
            try:
                raw = os.getxattr(path, obj.BAREUSER_XATTR, follow_symlinks=False)
            except OSError as e:
                raise CorruptObjectError(f"Corrupted file object {checksum}: reading user.ostreemeta: {e}",
                                         checksum) from None
            uid, gid, fmode, xattrs = obj.bareuser_meta_parse(raw)
            if stat.S_ISLNK(fmode):
                return _checked_symlink(bareuser_symlink_header(path, uid, gid, fmode, xattrs), checksum,
                                        verify), None, 0
            if not stat.S_ISREG(st.st_mode):
                raise CorruptObjectError(f"Corrupted file object {checksum}: not a regular file", checksum)
            header = obj.FileHeader(uid, gid, fmode, "", xattrs)
        else:
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                if mode is RepoMode.BARE_USER_ONLY:
                    header = obj.FileHeader(0, 0, st.st_mode, target)
                else:
                    header = obj.FileHeader(st.st_uid, st.st_gid, st.st_mode, target, _read_xattrs(path, False))
                return _checked_symlink(header, checksum, verify), None, 0
            if not stat.S_ISREG(st.st_mode):
                raise CorruptObjectError(f"Corrupted file object {checksum}: not a regular file", checksum)
            if mode is RepoMode.BARE_USER_ONLY:
                header = obj.FileHeader(0, 0, st.st_mode, "")
            else:
                header = obj.FileHeader(st.st_uid, st.st_gid, st.st_mode, "", _read_xattrs(path, False))
        header.validate()
        if not want_data:
            return header, None, st.st_size
        f = open(path, "rb")
        if not verify:
            return header, f, st.st_size  # type: ignore[return-value]
        return (header, VerifyingReader(f, header.new_hasher(), checksum, st.st_size),  # type: ignore[return-value]
                st.st_size)

    def file_object_stat(self, checksum: str) -> Tuple[int, int, str]:
        """(mode, size, path) of a bare-mode content object, cheaply: what a hardlink
        checkout needs to decide, without reading xattrs or data.  Not for archive repos."""
        path = self.object_path(checksum, ObjectType.FILE)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if self.parent is not None:
                return self.parent.file_object_stat(checksum)
            raise ObjectNotFoundError(checksum, "file") from None
        mode = st.st_mode
        if self.mode is RepoMode.BARE_USER:
            try:
                raw = os.getxattr(path, obj.BAREUSER_XATTR, follow_symlinks=False)
            except OSError as e:
                raise CorruptObjectError(f"Corrupted file object {checksum}: reading user.ostreemeta: {e}",
                                         checksum) from None
            mode = obj.bareuser_meta_parse(raw)[2]
            if stat.S_ISLNK(mode):
                return mode, 0, path
        return mode, (0 if stat.S_ISLNK(mode) else st.st_size), path

    def load_file_header_size(self, checksum: str) -> Tuple[FileHeader, int]:
        """:meth:`load_file_header` and :meth:`content_size` together, from one read of an
        archive repository's ``.filez``: what a pass over every file of a tree asks."""
        if self.mode is not RepoMode.ARCHIVE:
            return self.load_file_header(checksum), self.content_size(checksum)
        validate_checksum(checksum)
        try:
            f = open(self.object_path(checksum, ObjectType.FILE), "rb")
        except FileNotFoundError:
            if self.parent is not None:
                return self.parent.load_file_header_size(checksum)
            raise ObjectNotFoundError(checksum, "file") from None
        with f:
            header, size = _archive_header(f, checksum)
        if header.is_symlink:
            return _checked_symlink(header, checksum, True), 0
        return header, size

    def content_size(self, checksum: str) -> int:
        """The uncompressed size of a regular file object (0 for symlinks)."""
        path = self.object_path(checksum, ObjectType.FILE)
        if self.mode is RepoMode.ARCHIVE:
            try:
                with open(path, "rb") as f:
                    hlen = int.from_bytes(f.read(4), "big")
                    f.read(4)
                    header, size = obj.FileHeader.parse_zlib(f.read(min(hlen, MAX_METADATA_SIZE)))
            except FileNotFoundError:
                if self.parent is not None:
                    return self.parent.content_size(checksum)
                raise ObjectNotFoundError(checksum, "file") from None
            return 0 if header.is_symlink else size
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if self.parent is not None:
                return self.parent.content_size(checksum)
            raise ObjectNotFoundError(checksum, "file") from None
        if stat.S_ISLNK(st.st_mode):
            return 0
        if self.mode is RepoMode.BARE_USER and self.load_file_header(checksum).is_symlink:
            return 0
        return st.st_size

    def _load_archive_file(self, path: str, checksum: str, want_data: bool,
                           verify: bool) -> tuple[FileHeader, BinaryIO | None, int]:
        f = open(path, "rb")
        try:
            header, size = _archive_header(f, checksum)
            if header.is_symlink or not want_data:
                if header.is_symlink and verify:
                    actual = obj.content_checksum(header)
                    if actual != checksum:
                        raise ChecksumMismatchError(checksum, actual, "file object")
                f.close()
                return header, None, 0 if header.is_symlink else size
            import hashlib
            reader = VerifyingReader(f, header.new_hasher() if verify else hashlib.sha256(), checksum,
                                     size, decompress=True)
            if not verify:
                reader._expected = None  # type: ignore[assignment]
                reader._finish = lambda: None  # type: ignore[method-assign]
            return header, reader, size  # type: ignore[return-value]
        except BaseException:
            f.close()
            raise

    # ------------------------------------------------------------ content objects: writing

    def write_content(self, header: AnyHeader, stream: Optional[BinaryIO] = None,
                      size: Optional[int] = None, expected: Optional[str] = None,
                      trusted: bool = False, known_absent: bool = False) -> str:
        """Store a content object, returning its checksum.

        ``stream`` supplies a regular file's data (``size`` bytes, when known).
        The object is hashed as it is written and renamed into place only when
        the hash matches ``expected`` (when given). ``trusted`` (with ``expected``)
        stores it as ``expected`` whatever the hash, as ostree's trusted imports
        (``ostree_repo_write_content_trusted``, pull-local) do: the caller vouches.
        ``known_absent``: the caller has just found no such object (a delta's ``open``),
        so the look for one after hashing (two lstats in a transaction) is skipped, as
        libostree looks only before; were it there after all, the link finds it.
        """
        mode = self.mode
        if stat.S_ISLNK(header.mode):
            return self._write_symlink(header, expected)
        if not stat.S_ISREG(header.mode):
            raise UnsupportedFileTypeError(f"Unsupported file type {stat.S_IFMT(header.mode) >> 12}")
        if mode is RepoMode.BARE_USER_ONLY:
            header = _bare_user_only_header(header, expected is not None, expected)
        if stream is None and expected is not None and self.has_object(expected, ObjectType.FILE):
            return expected
        hasher = header.new_hasher()
        fd, tmp = self._open_tmpfile()
        try:
            written = 0
            comp = None
            if mode is RepoMode.ARCHIVE:
                if size is None:
                    raise InvalidObjectError("archive repositories need the file size up front")
                write_all(fd, obj.lenprefix(header.serialize_zlib(size)))
                comp = zlib.compressobj(self.zlib_level, zlib.DEFLATED, -15)
            while stream is not None:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
                written += len(chunk)
                data = comp.compress(chunk) if comp is not None else chunk
                if data:
                    write_all(fd, data)
            if comp is not None:
                write_all(fd, comp.flush())
            if size is not None and written != size:
                raise CorruptObjectError(f"Corrupted file object: expected {size} bytes, got {written}")
            checksum = hasher.hexdigest()
            if expected is not None and expected != checksum:
                if not trusted:
                    raise ChecksumMismatchError(expected, checksum, "file object")
                checksum = expected
            if self.size_log is not None and mode is RepoMode.ARCHIVE:
                # the .filez as written: header and deflate stream (write_content_object's fstat)
                self.size_log.record(checksum, ObjectType.FILE, os.lseek(fd, 0, os.SEEK_END), written)
            if not known_absent and self.has_object(checksum, ObjectType.FILE):
                os.close(fd)
                fd = -1
                if tmp is not None:
                    os.unlink(tmp)
                if self.write_stats is not None:
                    self.write_stats.content(False)
                return checksum
            self._apply_regfile_meta(fd, header)
            if self._txn_depth == 0 and self.fsync:
                os.fsync(fd)
            if tmp is None:
                self._link_tmpfile_in(fd, checksum)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        os.close(fd)
        if tmp is not None:
            self._rename_in(tmp, checksum, ObjectType.FILE)
        if self.write_stats is not None:
            self.write_stats.content(True, written)
        return checksum

    def _open_tmpfile(self) -> Tuple[int, Optional[str]]:
        """An anonymous O_TMPFILE in tmp/ (path None), or a named temp file where the
        filesystem has none.  An anonymous file costs one directory operation (the
        final link) instead of two, and leaves nothing behind if we die."""
        if self._use_o_tmpfile:
            try:
                return os.open(self.tmp_dir, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600), None
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                    raise
                self._use_o_tmpfile = False
        tmp = self._tmp_name()
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp

    def _link_tmpfile_in(self, fd: int, checksum: str, objtype: ObjectType = ObjectType.FILE) -> None:
        staged = self._staging_target(checksum, objtype)
        if staged is not None:
            try:
                os.link(f"/proc/self/fd/{fd}", staged, src_dir_fd=self._dfd, follow_symlinks=True)
            except FileExistsError:
                return
            return
        dest = self._final_object_path(checksum, objtype)
        self._ensure_objdir(checksum)
        try:
            # a dir fd makes CPython call linkat(AT_SYMLINK_FOLLOW) rather than link(),
            # which would try to hardlink the /proc symlink itself (EXDEV)
            os.link(f"/proc/self/fd/{fd}", dest, src_dir_fd=self._dfd, follow_symlinks=True)
        except FileExistsError:
            pass

    def adopt_regular_file(self, path: str, header: AnyHeader) -> str:
        """``commit --consume``'s adoption (adopt_and_commit_regfile): a regular file whose
        own metadata already is the object's (bare) or is made so (bare-user-only: mode
        & 0755) is hashed and renamed into the store rather than copied; the file is
        gone afterwards.  Only within one filesystem (``EXDEV`` is raised otherwise)."""
        mode = self.mode
        if mode not in (RepoMode.BARE, RepoMode.BARE_USER_ONLY) or not header.is_regular:
            raise InvalidObjectError("only regular files are adopted, into bare and bare-user-only repositories")
        if mode is RepoMode.BARE_USER_ONLY:
            header = _bare_user_only_header(header, False)
        hasher = header.new_hasher()
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while True:
                chunk = os.read(fd, CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
            checksum = hasher.hexdigest()
            if not self.has_object(checksum, ObjectType.FILE):
                if mode is RepoMode.BARE_USER_ONLY:
                    os.fchmod(fd, stat.S_IMODE(header.mode) & 0o755)
                os.utime(fd, ns=(time.time_ns(), 0))
        finally:
            os.close(fd)
        # (no write_stats: libostree counts no adopted file either)
        if self.has_object(checksum, ObjectType.FILE):
            # already stored (perhaps this very inode, from a hardlink checkout): the file goes
            os.unlink(path)
            return checksum
        target = self._staging_target(checksum, ObjectType.FILE)
        if target is None:
            self._ensure_objdir(checksum)
            target = self._final_object_path(checksum, ObjectType.FILE)
        os.rename(path, target)
        return checksum

    def scan_hardlinks(self) -> Dict[Tuple[int, int], str]:
        """(device, inode) -> checksum of every loose content object
        (ostree_repo_scan_hardlinks): what ``commit --link-checkout-speedup`` looks a
        hardlinked checkout's files up in, instead of reading them."""
        out: Dict[Tuple[int, int], str] = {}
        if self.mode is RepoMode.ARCHIVE:
            return out  # a checkout never shares an inode with a .filez
        for checksum, _ in self.list_objects(ObjectType.FILE):
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(self.object_path(checksum, ObjectType.FILE))
                out[(st.st_dev, st.st_ino)] = checksum
        return out

    def write_content_bytes(self, header: FileHeader, data: bytes = b"", expected: Optional[str] = None) -> str:
        return self.write_content(header, io.BytesIO(data) if header.is_regular else None,
                                  len(data) if header.is_regular else 0, expected)

    def _apply_regfile_meta(self, fd: int, header: AnyHeader) -> None:
        mode = self.mode
        if mode is RepoMode.BARE:
            os.fchown(fd, header.uid, header.gid)
            os.fchmod(fd, stat.S_IMODE(header.mode))
            for name, value in header.xattrs:
                os.setxattr(fd, obj.xattr_name(name), value)
        elif mode is RepoMode.BARE_USER:
            os.setxattr(fd, obj.BAREUSER_XATTR,
                        obj.bareuser_meta_serialize(header.uid, header.gid, header.mode, header.xattrs))
            os.fchmod(fd, stat.S_IMODE((header.mode & (stat.S_IFREG | 0o775)) | stat.S_IRUSR))
        elif mode is RepoMode.BARE_USER_ONLY:
            os.fchmod(fd, stat.S_IMODE(header.mode))
        else:
            os.fchmod(fd, 0o644)
        if mode.is_bare:
            os.utime(fd, ns=(time.time_ns(), 0))

    def _write_symlink(self, header: AnyHeader, expected: Optional[str]) -> str:
        mode = self.mode
        if mode is RepoMode.BARE_USER_ONLY:
            header = _bare_user_only_header(header, expected is not None)
        header.validate()
        checksum = obj.content_checksum(header)
        if expected is not None and expected != checksum:
            raise ChecksumMismatchError(expected, checksum, "file object")
        if self.size_log is not None and mode is RepoMode.ARCHIVE:
            # for a symlink the unpacked size is the target's length, the archived one its header's
            self.size_log.record(checksum, ObjectType.FILE, len(obj.lenprefix(header.serialize_zlib(0))),
                                 len(header.symlink_target.encode("utf-8", "surrogateescape")))
        if self.has_object(checksum, ObjectType.FILE):
            if self.write_stats is not None:
                self.write_stats.content(False)
            return checksum
        tmp = self._tmp_name()
        target = header.symlink_target
        try:
            if mode is RepoMode.ARCHIVE:
                write_file_atomic(tmp, obj.lenprefix(header.serialize_zlib(0)), 0o644, rename=False)
            elif mode is RepoMode.BARE_USER:
                data = target.encode("utf-8", "surrogateescape") + b"\x00"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                try:
                    os.write(fd, data)
                    os.setxattr(fd, obj.BAREUSER_XATTR,
                                obj.bareuser_meta_serialize(header.uid, header.gid, header.mode, header.xattrs))
                    os.utime(fd, ns=(time.time_ns(), 0))
                finally:
                    os.close(fd)
            else:
                os.symlink(target, tmp)
                if mode is RepoMode.BARE:
                    os.lchown(tmp, header.uid, header.gid)
                    for name, value in header.xattrs:
                        os.setxattr(tmp, obj.xattr_name(name), value, follow_symlinks=False)
                os.utime(tmp, ns=(time.time_ns(), 0), follow_symlinks=False)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._rename_in(tmp, checksum, ObjectType.FILE)
        if self.write_stats is not None:
            self.write_stats.content(True)
        return checksum

    def delete_object(self, checksum: str, objtype: ObjectType) -> int:
        """Remove one loose object, returning the bytes freed (0 if absent)."""
        try:
            if self._staging_dir is None and self._dfd >= 0:
                # by the repository's descriptor: three path components to walk, not the
                # repository's path too (a prune deletes objects by the hundred thousand)
                rel = "objects/" + loose_name(checksum, objtype, self.mode is RepoMode.ARCHIVE)
                st = os.lstat(rel, dir_fd=self._dfd)
                os.unlink(rel, dir_fd=self._dfd)
            else:
                path = self.object_path(checksum, objtype)
                st = os.lstat(path)
                os.unlink(path)
        except FileNotFoundError:
            return 0
        if objtype == ObjectType.DIR_TREE and self._dirtree_cache is not None:
            self._dirtree_cache.pop(checksum, None)
        if objtype == ObjectType.COMMIT:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.object_path(checksum, ObjectType.COMMIT_META))
            self.mark_commit_partial(checksum, False)
            if self.config.get_bool("core", "tombstone-commits", False):
                from .gvariant import Variant
                data = obj.serialize_commitmeta({"commit": Variant("ay", checksum.encode() + b"\x00")})
                write_file_atomic(self.object_path(checksum, ObjectType.TOMBSTONE_COMMIT), data, 0o644,
                                   tmpdir=self.tmp_dir, fsync=False)
        return st.st_size

    # ------------------------------------------------------------ refs

    def _ref_path(self, remote: Optional[str], ref: str) -> str:
        if remote:
            return self._join(f"refs/remotes/{remote}/{ref}")
        return self._join(f"refs/heads/{ref}")

    def list_refs(self, prefix: Optional[str] = None, cut_prefix: bool = False,
                  include_remotes: bool = True, include_mirrors: bool = False) -> Dict[str, str]:
        """refspec -> checksum, sorted; remote refs as ``remote:ref``.

        ``prefix`` names a ref or a directory of refs (``os/x86_64``, ``remote:``),
        as ostree_repo_list_refs() takes it; with ``cut_prefix`` the names are given
        relative to that directory, as ``ostree refs PREFIX`` prints them.
        """
        out: Dict[str, str] = {}
        if prefix is not None:
            given = prefix
            if not prefix.endswith(":"):
                prefix = prefix.rstrip("/")
            if not prefix:
                # "" and "/" would select every ref: a caller deleting by prefix
                # would lose them all (ostree: "Invalid refspec")
                raise InvalidRefError(f"Listing refs: Invalid refspec {given}")
        if prefix is not None:
            remote: Optional[str] = None
            if prefix.endswith(":") or prefix.endswith(":."):
                remote, ref_prefix = prefix[: prefix.rindex(":")], "."
            else:
                remote, ref_prefix = parse_refspec(prefix)
            base = self._join(f"refs/remotes/{remote}") if remote else self._join("refs/heads")
            path = os.path.normpath(os.path.join(base, ref_prefix))
            if not (path == base or path.startswith(base + "/")):
                return {}
            rp = "" if ref_prefix == "." else ref_prefix.strip("/")
            if os.path.isdir(path):
                for name, csum in _walk_refs(path):
                    full = name if cut_prefix or not rp else f"{rp}/{name}"
                    out[f"{remote}:{full}" if remote else full] = csum
            elif os.path.isfile(path):
                value = self.read_ref(prefix)
                if value:
                    out[prefix] = value
            return dict(sorted(out.items()))
        for name, csum in _walk_refs(self._join("refs/heads")):
            out[name] = csum
        groups = []
        if include_remotes:
            groups.append(("refs/remotes", "{0}:{1}"))
        if include_mirrors:
            groups.append(("refs/mirrors", "({0}, {1})"))
        for base, fmt in groups:
            d = self._join(base)
            for owner in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                for name, csum in _walk_refs(os.path.join(d, owner)):
                    out[fmt.format(owner, name)] = csum
        return dict(sorted(out.items()))

    def read_ref(self, refspec: str) -> Optional[str]:
        if self._pending_refs or self._ready_refs:
            with self._txn_lock:
                pending = self._pending_refs.get(threading.get_ident(), {})
                for table in (pending, self._ready_refs):
                    if refspec in table:
                        return table[refspec]
        remote, ref = parse_refspec(refspec)
        _check_name_lengths(refspec)
        path = self._ref_path(remote, ref)
        try:
            with open(path, "r", encoding="ascii") as f:
                value = f.read().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            if self.parent is not None:
                return self.parent.read_ref(refspec)
            return None
        except UnicodeDecodeError:
            raise RepoError(f"Invalid ref file for {refspec}") from None
        except OSError as e:
            # ENAMETOOLONG, EACCES, ELOOP...: still a ref that cannot be read
            raise RepoError(f"Reading ref {refspec}: {e.strerror}") from None
        if not is_checksum(value):
            raise RepoError(f"Invalid checksum in ref {refspec}: '{value}'")
        return value

    def set_ref(self, refspec: str, checksum: Optional[str]) -> None:
        """Point a ref at a commit (atomically), or delete it when ``checksum`` is None."""
        remote, ref = parse_refspec(refspec)
        validate_ref(ref)
        if remote:
            validate_remote_name(remote)
        _check_name_lengths(refspec)
        if checksum is not None:
            validate_checksum(checksum)
        if self._txn_depth:
            # written once the objects it may point at are on disk (see transaction())
            with self._txn_lock:
                self._pending_refs.setdefault(threading.get_ident(), {})[refspec] = checksum
            return
        self._write_ref(refspec, checksum)
        self._refs_changed()

    def _write_ref(self, refspec: str, checksum: Optional[str]) -> None:
        remote, ref = parse_refspec(refspec)
        self._write_ref_path(refspec, self._ref_path(remote, ref), checksum)

    def _write_ref_path(self, refspec: str, path: str, checksum: Optional[str]) -> None:
        try:
            if checksum is None:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except IsADirectoryError:
                    raise RefNotFoundError(f"Refspec '{refspec}' not found") from None
                return
            validate_checksum(checksum)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            data = (checksum + "\n").encode()
            try:
                write_file_atomic(path, data, 0o644, tmpdir=self.tmp_dir, fsync=self.fsync)
            except IsADirectoryError:
                # as libostree's write_checksum_file_at: a directory in the way (left by
                # deleting the refs under it) goes, unless it still holds refs
                for name, _ in _walk_refs(path):
                    raise RepoError(f"Conflict: {refspec}/{name} exists under {refspec} when attempting write")
                import shutil
                shutil.rmtree(path)
                write_file_atomic(path, data, 0o644, tmpdir=self.tmp_dir, fsync=self.fsync)
        except OstreeError:
            raise
        except OSError as e:
            raise RepoError(f"Writing ref {refspec}: {e.strerror}: {e.filename or path}") from None

    # ------------------------------------------------------------ collection refs

    @property
    def collection_id(self) -> Optional[str]:
        return self.config.get("core", "collection-id") or None

    def list_collection_refs(self, collection_id: Optional[str] = None, *,
                             include_remotes: bool = True) -> Dict[Tuple[str, str], str]:
        """(collection ID, ref) -> checksum, as ostree_repo_list_collection_refs:
        ``refs/heads`` under the repository's own collection ID, ``refs/mirrors/<ID>``,
        and (unless not ``include_remotes``: OSTREE_REPO_LIST_REFS_EXT_EXCLUDE_REMOTES)
        ``refs/remotes/<remote>`` of remotes configured with a collection ID."""
        if collection_id is not None:
            try:
                validate_collection_id(collection_id)
            except InvalidRefError as e:
                raise InvalidRefError(f"Listing refs: {e}") from None
        out: Dict[Tuple[str, str], str] = {}
        main = self.collection_id
        if main is not None and collection_id in (None, main):
            for name, csum in _walk_refs(self._join("refs/heads")):
                out[(main, name)] = csum
        mirrors = self._join("refs/mirrors")
        for cid in sorted(os.listdir(mirrors)) if os.path.isdir(mirrors) else []:
            if collection_id in (None, cid) and os.path.isdir(os.path.join(mirrors, cid)):
                for name, csum in _walk_refs(os.path.join(mirrors, cid)):
                    out.setdefault((cid, name), csum)
        remotes = self._join("refs/remotes")
        for remote in sorted(os.listdir(remotes)) if include_remotes and os.path.isdir(remotes) else []:
            remote_cid = self.config.get(f'remote "{remote}"', "collection-id") or ""
            try:
                validate_collection_id(remote_cid)
            except InvalidRefError:
                continue  # a remote without a valid collection ID is not listed
            if collection_id in (None, remote_cid):
                for name, csum in _walk_refs(os.path.join(remotes, remote)):
                    out.setdefault((remote_cid, name), csum)
        return dict(sorted(out.items()))

    def set_collection_ref(self, collection_id: str, ref: str, checksum: Optional[str]) -> None:
        """Point (or, with None, delete) a collection ref now: under ``refs/heads``
        when it is the repository's own collection ID, else ``refs/mirrors/<ID>``."""
        validate_collection_id(collection_id)
        validate_ref(ref)
        _check_name_lengths(ref)
        if checksum is not None:
            validate_checksum(checksum)
        if collection_id == self.collection_id:
            path = self._join(f"refs/heads/{ref}")
        else:
            path = self._join(f"refs/mirrors/{collection_id}/{ref}")
        self._write_ref_path(f"({collection_id}, {ref})", path, checksum)
        if not self._txn_depth:
            self._refs_changed()

    def resolve_rev(self, rev: str, allow_noent: bool = False) -> Optional[str]:
        """Resolve as ostree_repo_resolve_rev: a checksum, then a unique checksum
        prefix (any hex string), then ``REV^``, then a ref (local, then
        ``refs/remotes/REF``, then any remote holding that ref)."""
        if not rev:
            raise RefNotFoundError("Invalid empty refspec")
        if is_checksum(rev):
            return rev
        if len(rev) <= 64 and all(c in "0123456789abcdef" for c in rev):
            found = sorted({c for c, _ in self._list_prefix(rev)})
            if len(found) > 1:
                raise AmbiguousRefError(f"Refspec {rev} not unique")
            if found:
                return found[0]
        if rev.endswith("^"):
            base = self.resolve_rev(rev[:-1], allow_noent)
            if base is None:
                return None
            parent = self.load_commit(base).parent
            if parent is None:
                raise RefNotFoundError(f"Commit {base} has no parent")
            return parent
        remote, ref = parse_refspec(rev)
        value = self.read_ref(rev)
        if value is None and remote is None:
            with contextlib.suppress(OstreeError):
                value = self.read_ref_path(f"refs/remotes/{ref}")
            if value is None:
                for r in sorted(os.listdir(self._join("refs/remotes"))) if os.path.isdir(
                        self._join("refs/remotes")) else []:
                    value = self.read_ref_path(f"refs/remotes/{r}/{ref}")
                    if value is not None:
                        break
        if value is not None:
            return value
        if allow_noent:
            return None
        raise RefNotFoundError(f"Refspec '{rev}' not found")

    def read_ref_path(self, relpath: str) -> Optional[str]:
        try:
            with open(self._join(relpath), "r", encoding="ascii") as f:
                value = f.read().strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
            return None
        return value if is_checksum(value) else None

    def _list_prefix(self, prefix: str) -> Iterator[Tuple[str, ObjectType]]:
        if len(prefix) < 2:
            for sub in "0123456789abcdef":
                yield from self._list_prefix(prefix + sub)
            return
        d = self._join("objects/" + prefix[:2])
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return
        for name in names:
            rest, _, ext = name.partition(".")
            csum = prefix[:2] + rest
            if csum.startswith(prefix) and ext == "commit" and len(csum) == 64:
                yield csum, ObjectType.COMMIT

    def resolve_path(self, commit: str, path: str) -> Tuple[str, Tuple[str, ...]]:
        """Where ``path`` is in a commit's tree: ``("dir", (dirtree, dirmeta))`` or
        ``("file", (content checksum,))``; PathNotFoundError when it is not there."""
        tree, meta = obj.commit_root(self.load_metadata(ObjectType.COMMIT, commit))
        comps = [p for p in path.split("/") if p and p != "."]
        for i, name in enumerate(comps):
            files, dirs = self.load_dirtree_entries(tree)
            sub = next(((t, m) for n, t, m in dirs if n == name), None)
            if sub is not None:
                tree, meta = sub
                continue
            found = next((fc for n, fc in files if n == name), None)
            if found is not None and i == len(comps) - 1:
                return "file", (found,)
            if found is not None:
                # a file where the path goes on (ostree_repo_file's G_IO_ERROR_NOT_DIRECTORY)
                raise PathNotFoundError("Not a directory")
            raise PathNotFoundError(f"No such file or directory: {path}")
        return "dir", (tree, meta)

    # ------------------------------------------------------------ traversal

    def traverse_commit(self, checksum: str, reachable: Optional[Dict[Tuple[str, ObjectType], None]] = None,
                        depth: int = 0, ignore_missing_parent: bool = True,
                        allow_partial: bool = True) -> Dict[Tuple[str, ObjectType], None]:
        """Every object reachable from a commit (and ``depth`` parents; -1 for all)."""
        if reachable is None:
            reachable = {}
        current: Optional[str] = checksum
        while current is not None:
            key = (current, ObjectType.COMMIT)
            if key in reachable:
                break
            try:
                # the links alone, as libostree's traversal reads a commit: no metadata values
                parent, _, root_tree, root_meta = obj.commit_links(self.load_metadata(ObjectType.COMMIT, current))
            except ObjectNotFoundError:
                # libostree's traversal skips missing commits (pulled with a depth,
                # or deleted) rather than failing the whole walk
                if ignore_missing_parent:
                    break
                raise
            reachable[key] = None
            if self.has_object(current, ObjectType.COMMIT_META):
                reachable[(current, ObjectType.COMMIT_META)] = None
            reachable[(root_meta, ObjectType.DIR_META)] = None
            try:
                self._traverse_dirtree(root_tree, reachable)
            except ObjectNotFoundError:
                # a partial commit is allowed to lack parts of its tree
                if not (allow_partial and self.commit_is_partial(current)):
                    raise
            if depth == 0:
                break
            if depth > 0:
                depth -= 1
            current = parent
        return reachable

    def _traverse_dirtree(self, checksum: str, reachable: Dict[Tuple[str, ObjectType], None]) -> None:
        stack = [checksum]
        while stack:
            csum = stack.pop()
            key = (csum, ObjectType.DIR_TREE)
            if key in reachable:
                continue
            reachable[key] = None
            files, dirs = self.load_dirtree_entries(csum)
            for _, fcsum in files:
                reachable[(fcsum, ObjectType.FILE)] = None
            for _, tcsum, mcsum in dirs:
                reachable[(mcsum, ObjectType.DIR_META)] = None
                stack.append(tcsum)

    def cleanup_tmp(self, max_age: Optional[float] = None, keep_current_boot: bool = True) -> None:
        """Reclaim ``tmp/`` as libostree does after each transaction: staging
        directories no live transaction holds (of other boots; of this one too
        unless ``keep_current_boot``), and anything else older than ``max_age``
        seconds (default ``core.tmp-expiry-secs``, a day)."""
        try:
            tmp_dfd = self._tmp_fd()
        except FileNotFoundError:
            return
        expiry = self.tmp_expiry_secs if max_age is None else max_age
        skip = os.path.basename(self._staging_dir) if self._staging_dir else None
        stg.cleanup(tmp_dfd, stg.stagedir_prefix(), expiry, keep_current_boot, skip=skip)


def _remove_emptied(staging: str) -> None:
    """Remove a committed staging directory: its ``xx/`` subdirectories, emptied by the
    renames, then itself. Each rmdir frees the directory's block, which on a file system
    mounted with ``discard`` and no journal is a synchronous discard of a few milliseconds;
    issued from a few threads at once they overlap, as the renames do."""
    try:
        subs = [os.path.join(staging, name) for name in os.listdir(staging)]
    except FileNotFoundError:
        return

    def remove(path: str) -> int:
        try:
            os.rmdir(path)
        except OSError:
            import shutil
            shutil.rmtree(path, ignore_errors=True)  # not an emptied xx/ directory
        return 1

    # on tmpfs 256 rmdirs take 1 ms on one thread and 4-12 ms on four
    _serially_unless_slow(remove, subs, _SLOW_DIR_OP)
    remove(staging)


def _serially_unless_slow(fn: Callable[[str], object], items: list[str], limit: float) -> list[int]:
    """``fn`` over ``items`` in order, on this thread while each call takes less than
    ``limit`` seconds (times what it returns: the operations it did), the rest on four
    threads once a few (and most so far) have not; what each call returned (1 where not a count), in order.

    Whether directory operations wait for the disk (a flush, a discard, a block read)
    or not (tmpfs, cached blocks) is seen from the first that does: the same calls as
    ever, only when they overlap differs.  An exception propagates as from a loop (the
    pool starts no more calls and raises the first, in order, once the started ones end)."""
    out: list[int] = []
    slow = 0
    for i, item in enumerate(items):
        t = time.perf_counter()
        n = fn(item)
        out.append(n if isinstance(n, int) else 1)
        if time.perf_counter() - t > limit * max(out[-1], 1):
            slow += 1
        # a few slow calls and most of them, not one: on a busy machine any call may lose
        # the CPU for a while (at a load of 11 on 2 cores, one run in three had three)
        if slow >= _SLOW_CALLS and 2 * slow > i + 1 and len(items) - i > 2:
            # the project's small pool, not concurrent.futures (which imports logging)
            from ..parallel import run_all
            rest = list(enumerate(items[i + 1:], len(out)))
            out.extend([1] * len(rest))

            def call(job: tuple[int, str]) -> None:
                n = fn(job[1])
                if isinstance(n, int):
                    out[job[0]] = n

            run_all(call, rest, 4, "ostreepy-objdirs")
            break
    return out


def _bare_user_only_header(header: AnyHeader, strict: bool = True, checksum: Optional[str] = None) -> AnyHeader:
    """bare-user-only has no place for ownership or xattrs and refuses modes a user
    could not have set; anything it would silently lose is refused instead, so the
    object's checksum always matches what is read back."""
    bits = stat.S_IMODE(header.mode) & ~0o775
    if header.is_regular and bits:
        # _ostree_validate_bareuseronly_mode's words, which scripts grep
        raise InvalidObjectError(
            f"Content object{' ' + checksum if checksum else ''}: invalid mode 0{header.mode:04o} with bits "
            f"0{bits:04o} (bare-user-only repositories need canonical permissions)")
    if header.uid or header.gid or header.xattrs:
        raise InvalidObjectError(
            "bare-user-only repositories cannot store file ownership or xattrs (use canonical permissions)")
    return header


def bareuser_symlink_header(path: str, uid: int, gid: int, mode: int, xattrs: obj.Xattrs) -> FileHeader:
    """The header of the bare-user symlink object at ``path`` (a regular file holding the
    target, its ``user.ostreemeta`` parsed to the other fields), validated; OSError where it
    cannot be read."""
    header = obj.FileHeader(uid, gid, mode, bareuser_symlink_target(path), xattrs)
    header.validate()
    return header


def bareuser_symlink_target(path: str) -> str:
    """The target held by the bare-user symlink object at ``path`` (not validated)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        content = os.read(fd, 4097)  # a target is at most 4,096 bytes (FileHeader.validate)
    finally:
        os.close(fd)
    return content.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def _checked_symlink(header: FileHeader, checksum: str, verify: bool) -> FileHeader:
    """A symlink object has no data stream to check at EOF: its whole content is the
    header, so it is checked here (a rewritten target must not reach a checkout)."""
    if verify:
        actual = obj.content_checksum(header)
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, "file object")
    return header


def _check_name_lengths(refspec: str) -> None:
    # a name the filesystem cannot hold is a bad name, not an I/O error later
    for part in refspec.replace(":", "/").split("/"):
        if len(part.encode()) > 255:
            raise InvalidRefError(f"Invalid ref name {refspec}: a component is longer than 255 bytes")


def _walk_refs(base: str) -> Iterator[Tuple[str, str]]:
    for root, dirs, files in os.walk(base):
        dirs.sort()
        rel = os.path.relpath(root, base)
        for name in sorted(files):
            ref = name if rel == "." else f"{rel}/{name}"
            try:
                with open(os.path.join(root, name), "r", encoding="ascii") as f:
                    value = f.read().strip()
            except (OSError, UnicodeDecodeError):
                continue
            if is_checksum(value):
                yield ref, value


def _read_xattrs(path: str, follow: bool) -> obj.Xattrs:
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return ()
        raise
    pairs = []
    for n in names:
        try:
            pairs.append((n, os.getxattr(path, n, follow_symlinks=follow)))
        except OSError as e:
            if e.errno == errno.ENODATA:
                continue
            raise
    return obj.canonical_xattrs(pairs)


def test_error(flag: str) -> bool:
    """libostree's fault injection for its own tests: ``OSTREE_REPO_TEST_ERROR`` holds
    flags (``pre-commit``, ``invalid-cache``) parsed as g_parse_debug_string does."""
    value = os.environ.get("OSTREE_REPO_TEST_ERROR")
    if not value:
        return False
    words = value.replace(";", ":").replace(",", ":").replace(" ", ":").replace("\t", ":").split(":")
    return any(w.lower().replace("_", "-") in (flag, "all") for w in words)


def read_xattrs(path: str, follow_symlinks: bool = False) -> obj.Xattrs:
    """Xattrs of a path as libglnx reads them (sorted, empty values dropped)."""
    return _read_xattrs(path, follow_symlinks)


def read_xattrs_fd(fd: int) -> obj.Xattrs:
    """The extended attributes of an open file, in canonical (sorted) order; none where the
    filesystem has no xattrs."""
    try:
        names = os.listxattr(fd)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return ()
        raise
    return obj.canonical_xattrs((n, os.getxattr(fd, n)) for n in names)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _archive_header(f: BinaryIO, checksum: str) -> Tuple[FileHeader, int]:
    """The header of the ``.filez`` open as ``f`` and its data's size; ``f`` is left at the data."""
    prefix = f.read(8)
    if len(prefix) != 8:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: truncated header", checksum)
    hlen = int.from_bytes(prefix[:4], "big")
    if hlen > MAX_METADATA_SIZE:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: header too large", checksum)
    hdata = f.read(hlen)
    if len(hdata) != hlen:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: truncated header", checksum)
    return obj.FileHeader.parse_zlib(hdata)


def _staged_path(staging: str, checksum: str, objtype: ObjectType, archive: bool) -> str:
    # laid out and named as in objects/, so that libostree reusing a staging
    # directory a dead transaction left moves its objects right
    return f"{staging}/{loose_name(checksum, objtype, archive)}"
