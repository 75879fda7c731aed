"""Building commits: directories and tar streams into a :class:`MutableTree`, then objects.

This mirrors libostree's commit path (ostree-repo-commit.c and
ostree-repo-libarchive.c) closely enough that the same input and flags give
the same commit checksum as ``ostree commit``.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
import sys
import time
from typing import IO, TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple

import attrs

from . import objects as obj
from ..errors import OstreeError, TarError, UnsupportedFileTypeError
from ..parallel import Job, Pool
from .gvariant import Variant
from .mtree import MutableTree
from .objects import Commit, DirMeta, FileHeader
from ..progress import FileWritten, ProgressCallback, serialized
from .repo import CHUNK, Repo, RepoMode, read_xattrs_fd, read_xattrs
from .sizes import SizeLog

if TYPE_CHECKING:
    # the tar and cpio readers are imported where a tar or cpio is read: tarfile, with
    # shutil, bz2, lzma and urllib.parse, is start-up a directory commit need not pay
    import tarfile

DEFAULT_DIRMODE = 0o755 | stat.S_IFDIR


@attrs.frozen
class FileInfo:
    """What a commit filter sees and may change: the stat fields that get hashed."""

    uid: int
    gid: int
    mode: int


FilterFn = Callable[[str, FileInfo], Optional[FileInfo]]
"""Called with the absolute path in the tree and its info; return None to skip it."""


@attrs.frozen
class CommitModifier:
    """The knobs of ``ostree commit`` that change what gets hashed."""

    owner_uid: Optional[int] = None
    owner_gid: Optional[int] = None
    canonical_permissions: bool = False
    no_xattrs: bool = False
    filter: Optional[FilterFn] = None
    xattr_callback: Optional[Callable[[str, FileInfo], obj.Xattrs]] = None
    #: (device, inode) -> checksum (Repo.scan_hardlinks): a file found there whose
    #: metadata the modifier leaves alone is that object, unread (--link-checkout-speedup)
    devino_cache: Optional[Mapping[Tuple[int, int], str]] = attrs.field(default=None, eq=False)
    #: the source is given up (--consume): bare and bare-user-only repositories take
    #: its files in by renaming them (adopt_and_commit_regfile)
    consume: bool = False
    #: a devino cache hit is taken as its object whatever the modifier would change
    #: (--devino-canonical: the caller breaks the hardlinks of what it modifies)
    devino_canonical: bool = False

    def apply(self, repo: Repo, path: str, info: FileInfo) -> Optional[FileInfo]:
        """_ostree_repo_commit_modifier_apply: the filter first, then canonicalisation."""
        if self.owner_uid is not None or self.owner_gid is not None:
            info = FileInfo(self.owner_uid if self.owner_uid is not None else info.uid,
                            self.owner_gid if self.owner_gid is not None else info.gid, info.mode)
        if self.filter is not None:
            res = self.filter(path, info)
            if res is None:
                return None
            info = res
        if self.canonical_permissions or repo.mode is RepoMode.BARE_USER_ONLY:
            mode = info.mode
            if stat.S_ISREG(mode):
                mode &= stat.S_IFREG | 0o755
            elif stat.S_ISDIR(mode):
                mode &= stat.S_IFDIR | 0o755
            info = FileInfo(0, 0, mode)
        return info

    def skip_xattrs(self, repo: Repo) -> bool:
        return (self.no_xattrs or self.canonical_permissions or repo.mode is RepoMode.BARE_USER_ONLY
                or repo.config.get_bool("core", "disable-xattrs", False))

    def keeps_xattrs(self, repo: Repo) -> bool:
        """The source's xattrs go in unchanged (get_final_xattrs' ``modified`` is false)."""
        return not self.skip_xattrs(repo) and self.xattr_callback is None

    def final_xattrs(self, repo: Repo, path: str, info: FileInfo, source: Callable[[], obj.Xattrs]) -> obj.Xattrs:
        x: obj.Xattrs = () if self.skip_xattrs(repo) else source()
        if self.xattr_callback is not None:
            x = obj.canonical_xattrs(list(x) + list(self.xattr_callback(path, info)))
        return x


# ---------------------------------------------------------------------------- directories


class _Writer:
    """Writes content objects, optionally on a few threads (hashing, zlib and I/O release the GIL).

    Work goes to the threads in batches (up to 64 files), not one job per file:
    a job, its wake-up and the queue hand-off per small file cost Python time and
    memory the file itself does not.  A directory commit hands only its large
    files over (:data:`_INLINE_BELOW`) and writes the rest itself: every syscall
    of a thread hands the GIL over to another that waits for it (about 100
    futex calls per file under strace with four writers), which on a tmpfs cost
    more than the overlap won, while a large file's hashing and copying run on
    the second core beside the walk.  The threads are ``ostreepy.parallel``'s
    (plain threads, no concurrent.futures and the logging it imports), started
    at the first job."""

    def __init__(self, repo: Repo, threads: int) -> None:
        self.repo = repo
        self.threads = threads
        #: work goes to a pool (made at the first job), and finished directories wait for it
        self.threaded = threads > 1
        self._pool: Pool | None = None
        # (tree, name) of each file a job writes, with the job (None: the checksums are
        # already known), in the order the checksums are taken
        self.pending: list[tuple[list[tuple[MutableTree, str]], Job | None, list[str]]] = []
        self.queued = 0
        # bytes each pending job holds in memory (data read ahead of the writers), in step with pending
        self.held: list[int] = []
        self.held_bytes = 0
        # finished directories (children before parents), sealed once their files are in
        self.finished: List[MutableTree] = []
        # runs when the pending checksums are in, before any sealing (tar hardlinks)
        self.before_seal: Optional[Callable[[], None]] = None
        #: a directory commit writes a file smaller than this on its own thread
        self.inline_below = _INLINE_BELOW_ARCHIVE if repo.mode is RepoMode.ARCHIVE else _INLINE_BELOW

    def finish_dir(self, tree: MutableTree) -> None:
        """``tree`` gets no more entries: seal it as soon as its pending files are known."""
        if not self.threaded:
            tree.seal(self.repo)
        else:
            self.finished.append(tree)

    def submit_batch(self, tree: MutableTree, names: List[str], fn: Callable[[], List[str]]) -> None:
        """``fn`` returns the checksums of ``names``, in order."""
        self.submit_items([(tree, name) for name in names], fn)

    def submit_items(self, targets: List[Tuple[MutableTree, str]], fn: Callable[[], List[str]],
                     nbytes: int = 0) -> None:
        """``fn`` returns the checksums of the files named by ``targets``, in order; ``nbytes``:
        the data it holds until it is done."""
        if not self.threaded:
            for (tree, name), csum in zip(targets, fn()):
                tree.replace_file(name, csum)
            return
        if self._pool is None:
            self._pool = Pool(self.threads, "ostreepy-commit")
        self.pending.append((targets, self._pool.submit(fn), []))
        self.held.append(nbytes)
        self.held_bytes += nbytes
        self.queued += len(targets)
        if self.queued > 4096:
            self.drain()

    def add_done(self, tree: MutableTree, name: str, checksum: str) -> None:
        if not self.threaded:
            tree.replace_file(name, checksum)
            return
        self.pending.append(([(tree, name)], None, [checksum]))
        self.held.append(0)

    def _take(self, item: tuple[list[tuple[MutableTree, str]], Job | None, list[str]]) -> None:
        targets, job, csums = item
        if job is not None:
            assert self._pool is not None
            csums = self._pool.wait(job)  # type: ignore[assignment]
        for (tree, name), csum in zip(targets, csums):
            tree.replace_file(name, csum)

    def settle(self, limit: int) -> None:
        """Wait for the oldest jobs until those left hold at most ``limit`` bytes: a window,
        not a full drain, so the threads always have work while the reader goes on."""
        done = 0
        while self.held_bytes > limit and done < len(self.pending):
            self._take(self.pending[done])
            self.held_bytes -= self.held[done]
            done += 1
        # (queued stays: its full drain every 4,096 files is what seals finished directories
        # and keeps the tree in memory small)
        del self.pending[:done]
        del self.held[:done]

    def drain(self) -> None:
        pending, self.pending = self.pending, []
        self.held, self.held_bytes = [], 0
        self.queued = 0
        for item in pending:
            self._take(item)
        if self.before_seal is not None:
            self.before_seal()
        finished, self.finished = self.finished, []
        for tree in finished:
            tree.seal(self.repo)

    def stop(self) -> None:
        """The threads end; work not yet started is dropped (after a failure it is moot)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.join(cancel=True)

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self.stop()


# The tar reader writes every file itself (1), no writer threads beside it (> 1: that
# many, with the small files handed to them in batches).  Every syscall of a writer
# hands the GIL over (futex) to the reader or another writer: 4 writers made twice the
# futex calls of 2 (strace -f -c), and 2 cost more than none.  Side by side, with
# priority over the machine's other load: a 20,000-file tar commit took 1.6 s of CPU
# on one thread against 2.3 s with 2 writers (ostree: 1.6 s), a 1-layer zstd image
# import 2.0 s against 2.6 s, and less wall time too (0.85x and 0.88x)
_TAR_THREADS = 1


def write_directory_to_mtree(repo: Repo, path: str, mtree: MutableTree,
                             modifier: Optional[CommitModifier] = None,
                             progress: Optional[ProgressCallback] = None,
                             threads: Optional[int] = None, seal: bool = True) -> MutableTree:
    """Add the contents of directory ``path`` (and its metadata, for the root) to ``mtree``.

    ``seal``: each subdirectory's dirtree is written as soon as it is finished, so
    memory stays flat whatever the tree's size; pass False when more sources
    will be laid over ``mtree`` (their changes would leave those dirtrees unused)."""
    modifier = modifier or CommitModifier()
    # the walk writes the small files itself: a worker per CPU for the large ones
    writer = _Writer(repo, threads if threads is not None else min(4, os.cpu_count() or 1))
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise OstreeError(f"Not a directory: {path}")
        # the large files are written on the writer's threads, the events with them
        _commit_dir(repo, path, "/", st, mtree, modifier, writer, serialized(progress) if writer.threaded else progress,
                    seal)
        writer.drain()
    finally:
        writer.close()
    return mtree


def _dirmeta_for(repo: Repo, modifier: CommitModifier, relpath: str, fspath: str,
                 st: os.stat_result) -> Optional[str]:
    info = modifier.apply(repo, relpath, FileInfo(st.st_uid, st.st_gid, st.st_mode))
    if info is None:
        return None
    xattrs = modifier.final_xattrs(repo, relpath, info, lambda: read_xattrs(fspath, False))
    return repo.write_dirmeta(DirMeta(info.uid, info.gid, info.mode, xattrs))


def _commit_dir(repo: Repo, fspath: str, relpath: str, st: os.stat_result, mtree: MutableTree,
                modifier: CommitModifier, writer: _Writer, progress: Optional[ProgressCallback],
                seal: bool = False) -> None:
    meta = _dirmeta_for(repo, modifier, relpath, fspath, st)
    if meta is None:
        return
    mtree.meta = meta
    with os.scandir(fspath) as it:
        entries = sorted(it, key=lambda e: e.name)
    batch: List[_FileJob] = []
    for entry in entries:
        name = entry.name
        child_fs = entry.path
        child_rel = relpath.rstrip("/") + "/" + name
        cst = entry.stat(follow_symlinks=False)
        m = cst.st_mode
        if stat.S_ISDIR(m):
            info = modifier.apply(repo, child_rel, FileInfo(cst.st_uid, cst.st_gid, m))
            if info is None:
                continue
            sub = mtree.ensure_dir(name)
            _commit_dir(repo, child_fs, child_rel, cst, sub, modifier, writer, progress, seal)
            if seal:
                writer.finish_dir(sub)
                if not writer.pending or writer.queued > 4096:
                    # nothing to wait for (or it is time to): sealed now, the tree in
                    # memory stays small (the files written here never fill the pool's queue)
                    writer.drain()
            continue
        if not (stat.S_ISREG(m) or stat.S_ISLNK(m)):
            raise UnsupportedFileTypeError(f"Not a regular file or symlink: {name}")
        orig = FileInfo(cst.st_uid, cst.st_gid, m)
        hit = modifier.devino_cache.get((cst.st_dev, cst.st_ino)) if modifier.devino_cache is not None else None
        if hit is not None and modifier.devino_canonical:
            # before the filter, as write_dfd_iter_to_mtree_internal: straight to the checksum
            writer.add_done(mtree, name, hit)
            if repo.write_stats is not None:
                repo.write_stats.devino_hit()
            continue
        source_xattrs: Optional[obj.Xattrs] = None
        if hit is not None and repo.mode is RepoMode.BARE_USER:
            # a bare-user checkout's file has the user's owner, not the object's: the
            # metadata is the object's (as write_dfd_iter_to_mtree_internal reloads it)
            h = repo.load_file_header(hit)
            orig = FileInfo(h.uid, h.gid, h.mode)
            source_xattrs = h.xattrs
        info = modifier.apply(repo, child_rel, orig)
        if info is None:
            continue
        obj.validate_filename(name)
        if hit is not None and info == orig and modifier.keeps_xattrs(repo):
            # a file of a hardlink checkout, as it was checked out: its object, unread
            writer.add_done(mtree, name, hit)
            if repo.write_stats is not None:
                repo.write_stats.devino_hit()
            continue
        if cst.st_size < writer.inline_below and writer.threaded:
            # here, not on the pool: see _Writer
            mtree.replace_file(name, _write_path_object(repo, child_fs, child_rel, cst, info, modifier, progress,
                                                        source_xattrs))
            writer.queued += 1
            continue
        batch.append((name, child_fs, child_rel, cst, info, source_xattrs))
        if len(batch) >= _BATCH:
            _submit_files(repo, mtree, batch, modifier, writer, progress)
            batch = []
    if batch:
        _submit_files(repo, mtree, batch, modifier, writer, progress)


_BATCH = 64
# A directory commit writes a file smaller than this itself, a larger one on the pool
# (see _Writer): in a bare repository a file's bytes (a hash and a copy) cost little
# beside its hand-off, in an archive one its zlib costs more.  Side by side on the
# 5,331-file tree, with priority over the machine's other load, bare: 64 KiB 0.73 s
# of CPU, 1 MiB 0.63 s (wall 0.65x and 0.64x of ostree), 20,000 files 1.58 s against
# 1.28 s; archive: 1 MiB 0.73x of ostree's wall, 64 KiB 0.58x
_INLINE_BELOW = CHUNK
_INLINE_BELOW_ARCHIVE = 1 << 16
# name, fspath, relpath, stat, info, the xattrs to start from (None: the file's own)
_FileJob = Tuple[str, str, str, os.stat_result, FileInfo, Optional[obj.Xattrs]]


def _submit_files(repo: Repo, mtree: MutableTree, batch: List[_FileJob], modifier: CommitModifier,
                  writer: _Writer, progress: Optional[ProgressCallback]) -> None:
    def run() -> List[str]:
        return [_write_path_object(repo, fspath, relpath, st, info, modifier, progress, xattrs)
                for _, fspath, relpath, st, info, xattrs in batch]
    writer.submit_batch(mtree, [job[0] for job in batch], run)


def _write_path_object(repo: Repo, fspath: str, relpath: str, st: os.stat_result, info: FileInfo,
                       modifier: CommitModifier, progress: Optional[ProgressCallback],
                       source_xattrs: Optional[obj.Xattrs] = None) -> str:
    if stat.S_ISLNK(info.mode):
        target = os.readlink(fspath)
        xattrs = modifier.final_xattrs(repo, relpath, info, lambda: read_xattrs(fspath, False)
                                       if source_xattrs is None else source_xattrs)
        header = FileHeader(info.uid, info.gid, info.mode, target, xattrs)
        csum = repo.write_content(header)
        if progress is not None:
            progress(FileWritten(relpath, 0))
        return csum
    if modifier.consume and stat.S_ISREG(st.st_mode) and (
            repo.mode is RepoMode.BARE_USER_ONLY
            or (repo.mode is RepoMode.BARE and info == FileInfo(st.st_uid, st.st_gid, st.st_mode)
                and modifier.keeps_xattrs(repo))):
        # the file already is the object (or, in bare-user-only, is made so by a chmod)
        xattrs = modifier.final_xattrs(repo, relpath, info, lambda: read_xattrs(fspath, False))
        try:
            csum = repo.adopt_regular_file(fspath, FileHeader(info.uid, info.gid, info.mode, "", xattrs))
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
        else:
            if progress is not None:
                progress(FileWritten(relpath, st.st_size))
            return csum
    # O_NONBLOCK: if the entry was swapped for a fifo since it was listed, opening it
    # must not hang; the fstat below then refuses anything but a regular file
    fd = os.open(fspath, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsupportedFileTypeError(f"Not a regular file or symlink: {os.path.basename(fspath)}")
        xattrs = modifier.final_xattrs(repo, relpath, info, lambda: read_xattrs_fd(fd)
                                       if source_xattrs is None else source_xattrs)
        header = FileHeader(info.uid, info.gid, info.mode, "", xattrs)
        csum = repo.write_content(header, _FdReader(fd, st.st_size), st.st_size)  # type: ignore[arg-type]
    finally:
        os.close(fd)
    if progress is not None:
        progress(FileWritten(relpath, st.st_size))
    return csum


# ---------------------------------------------------------------------------- existing trees


def load_commit_to_mtree(repo: Repo, rev: str, mtree: MutableTree,
                         modifier: Optional[CommitModifier] = None) -> MutableTree:
    """Overlay the tree of an existing commit onto ``mtree`` (``--tree=ref=``).

    Without a modifier (or with one that changes nothing) the checksums are
    reused as they are; with one (``--owner-uid``, a filter...) every entry
    goes through it, as libostree does, and objects whose metadata it changes
    are written again."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    commit = repo.load_commit(csum)
    if modifier is None or modifier == CommitModifier():
        _load_dirtree(repo, commit.root_tree, commit.root_meta, mtree)
    else:
        dm = repo.load_dirmeta(commit.root_meta)
        info = modifier.apply(repo, "/", FileInfo(dm.uid, dm.gid, dm.mode))
        if info is not None:
            _modify_dirtree(repo, commit.root_tree, dm, info, "/", mtree, modifier)
    return mtree


def _modify_dirtree(repo: Repo, tree_csum: str, dm: DirMeta, info: FileInfo, relpath: str,
                    mtree: MutableTree, modifier: CommitModifier) -> None:
    xattrs = modifier.final_xattrs(repo, relpath, info, lambda: dm.xattrs)
    mtree.meta = repo.write_dirmeta(DirMeta(info.uid, info.gid, info.mode, xattrs))
    tree = repo.load_dirtree(tree_csum)
    base = relpath.rstrip("/") + "/"
    for name, fcsum in tree.files:
        header, stream = repo.load_file(fcsum, want_data=False)
        finfo = modifier.apply(repo, base + name, FileInfo(header.uid, header.gid, header.mode))
        if finfo is None:
            continue
        fx = modifier.final_xattrs(repo, base + name, finfo, lambda: header.xattrs)
        new = FileHeader(finfo.uid, finfo.gid, finfo.mode, header.symlink_target, fx)
        if new != header:
            if new.is_symlink:
                fcsum = repo.write_content(new)
            else:
                _, data = repo.load_file(fcsum)
                assert data is not None
                with data:
                    fcsum = repo.write_content(new, data)
        mtree.replace_file(name, fcsum)
    for name, t, m in tree.dirs:
        sub_dm = repo.load_dirmeta(m)
        sub_info = modifier.apply(repo, base + name, FileInfo(sub_dm.uid, sub_dm.gid, sub_dm.mode))
        if sub_info is not None:
            _modify_dirtree(repo, t, sub_dm, sub_info, base + name, mtree.ensure_dir(name), modifier)


def record_tree_sizes(repo: Repo, rev: str, log: SizeLog) -> None:
    """Every file and dirmeta of ``rev``'s tree into ``log`` with its stored sizes, as
    ``commit --generate-sizes --tree=ref=`` lists them (the dirtrees are listed when
    the tree is written again)."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    commit = repo.load_commit(csum)
    todo = [(commit.root_tree, commit.root_meta)]
    while todo:
        tree_csum, meta_csum = todo.pop()
        meta_size = len(repo.load_metadata(obj.ObjectType.DIR_META, meta_csum))
        log.record(meta_csum, obj.ObjectType.DIR_META, meta_size, meta_size)
        tree = repo.load_dirtree(tree_csum)
        for _name, fcsum in tree.files:
            header = repo.load_file_header(fcsum)
            unpacked = (len(header.symlink_target.encode("utf-8", "surrogateescape")) if header.is_symlink
                        else repo.content_size(fcsum))
            log.record(fcsum, obj.ObjectType.FILE, os.lstat(repo.object_path(fcsum, obj.ObjectType.FILE)).st_size,
                       unpacked)
        todo.extend((t, m) for _name, t, m in tree.dirs)


def _load_dirtree(repo: Repo, tree_csum: str, meta_csum: str, mtree: MutableTree) -> None:
    mtree.meta = meta_csum
    tree = repo.load_dirtree(tree_csum)
    for name, csum in tree.files:
        mtree.replace_file(name, csum)
    for name, t, m in tree.dirs:
        _load_dirtree(repo, t, m, mtree.ensure_dir(name))


# ---------------------------------------------------------------------------- tar


def tar_path_relative(path: str) -> str:
    """libostree's path_relative(): strip leading '/', './', '/../' and validate."""
    src = path
    while src.startswith("/"):
        src = src[1:]
        if src.startswith("../"):
            src = src[2:]
    while True:
        if src.startswith("./"):
            src = src[2:]
        elif src.startswith("/"):
            src = src[1:]
        else:
            break
    if src == ".":
        src = ""
    while len(src) > 1 and src.endswith("/"):
        src = src[:-1]
    global _last_valid_dir
    parent, _, _name = src.rpartition("/")
    # a tar holds a directory's entries together: its path was checked with the entry before
    comps = split_path(_name if parent and parent == _last_valid_dir else src)
    for comp in comps:
        try:
            obj.validate_filename(comp)
        except OstreeError as e:
            raise TarError(f'While making relative path "{src}": {e}') from None
    _last_valid_dir = parent
    return src


# the parent of the last path tar_path_relative accepted (any value it holds was checked, so
# threads importing layers side by side may overwrite it freely)
_last_valid_dir = ""


def split_path(path: str) -> List[str]:
    """The non-empty components of a ``/``-separated path."""
    return [c for c in path.split("/") if c]


def tar_xattrs(member: tarfile.TarInfo) -> obj.Xattrs:
    """Xattrs carried in PAX records (SCHILY.xattr.* and LIBARCHIVE.xattr.*)."""
    if not member.pax_headers:
        return ()
    pairs = []
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr."):].encode("utf-8", "surrogateescape")
            pairs.append((name, value.encode("utf-8", "surrogateescape")))
        elif key.startswith("LIBARCHIVE.xattr."):
            import urllib.parse
            name = urllib.parse.unquote_to_bytes(key[len("LIBARCHIVE.xattr."):])
            try:
                val = base64.b64decode(value + "=" * (-len(value) % 4))
            except ValueError:
                raise TarError(f"Invalid base64 xattr value for {member.name}") from None
            pairs.append((name, val))
    return obj.canonical_xattrs(pairs)


def tar_member_mode(member: tarfile.TarInfo) -> int:
    """The ``st_mode`` of a tar member: its permission bits with the file type taken from the
    entry type, never from the mode field."""
    perm = member.mode & 0o7777  # the type comes from the entry type, never from mode bits
    if member.isreg() or member.islnk():
        return stat.S_IFREG | perm
    if member.isdir():
        return stat.S_IFDIR | perm
    if member.issym():
        return stat.S_IFLNK | (perm or 0o777)
    if member.ischr():
        return stat.S_IFCHR | perm
    if member.isblk():
        return stat.S_IFBLK | perm
    if member.isfifo():
        return stat.S_IFIFO | perm
    return 0


_SMALL_FILE = 1 << 20
# small files read ahead of the writer threads: 32 MB made peak memory follow the
# tree's file sizes (+17 MB at 100,000 files of 20 KB), 8 MB keeps it flat at no cost in time
_MAX_PENDING = 8 << 20

TranslateFn = Callable[[str, "tarfile.TarInfo", bool], Optional[str]]
"""Maps a tar path (relative, validated) to where it goes, or None to drop it; the bool
says whether the path is a hardlink target rather than an entry."""


def regex_translator(regex: str, replacement: str) -> TranslateFn:
    """``ostree commit --tar-pathname-filter=REGEX,REPLACEMENT``: every match of
    ``regex`` in a tar path (and a hardlink's target) replaced, as g_regex_replace
    does; the replacement's ``\\N``, ``\\g<N>`` and ``\\g<name>`` are the
    match's groups.  Python's ``re`` stands in for PCRE: the common syntax is shared."""
    import re
    try:
        pattern = re.compile(regex)
    except re.error as e:
        raise OstreeError(f"--tar-pathname-filter: {e}") from None
    template = _glib_replacement(replacement)

    def translate(path: str, member: tarfile.TarInfo, hardlink_target: bool) -> Optional[str]:
        # validated again, its trailing slashes squashed (squash_trailing_slashes)
        return tar_path_relative(pattern.sub(lambda m: m.expand(template), path))

    return translate


def _glib_replacement(text: str) -> str:
    """A GRegex replacement string as a Python ``Match.expand`` template."""
    escapes = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "\\": "\\\\"}
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 == len(text):
            out.append(c)
            i += 1
            continue
        n = text[i + 1]
        if n.isdigit():
            out.append(f"\\g<{n}>")
            i += 2
        elif n == "g" and text[i + 2:i + 3] == "<":
            end = text.find(">", i)
            if end < 0:
                raise OstreeError("--tar-pathname-filter: missing '>' in symbolic reference")
            out.append(text[i:end + 1])
            i = end + 1
        elif n in escapes:
            out.append(escapes[n])
            i += 2
        else:
            raise OstreeError(f"--tar-pathname-filter: unsupported escape '\\{n}' in the replacement")
    return "".join(out)


class _TarImporter:
    def __init__(self, repo: Repo, mtree: MutableTree, modifier: CommitModifier, autocreate_parents: bool,
                 progress: Optional[ProgressCallback], translate: Optional[TranslateFn] = None) -> None:
        self.translate = translate
        self.entries = 0
        self.writer: Optional[_Writer] = None
        self.small: List[Tuple[MutableTree, str, FileHeader, bytes | memoryview]] = []
        self.pending_bytes = 0
        # the stream chunk the small files read since the last job hold views of
        self.pinned: object = None
        # imported here: readahead imports tarfile, which start-up need not pay for
        from .readahead import MemberReader, MemberViews
        self.member_reader = MemberReader
        self.member_views = MemberViews
        self.repo = repo
        self.root = mtree
        self.modifier = modifier
        self.autocreate = autocreate_parents
        self.progress = progress
        self.deferred: List[Tuple[str, str, int]] = []  # path, target, size
        # the directory of the last entry: when the stream leaves a directory it is
        # (in any tar written by walking a tree) finished, and gets sealed
        self.seal = True
        self.current: List[str] = []
        # read once: the repo's config is a list scanned on every lookup
        self.skip_xattrs = modifier.skip_xattrs(repo)

    def xattrs(self, path: str, info: FileInfo, member: tarfile.TarInfo) -> obj.Xattrs:
        """CommitModifier.final_xattrs, without its per-entry config lookup when there is no callback."""
        if self.modifier.xattr_callback is None:
            return () if self.skip_xattrs else tar_xattrs(member)
        return self.modifier.final_xattrs(self.repo, "/" + path, info, lambda: tar_xattrs(member))

    def _moved_to(self, comps: List[str]) -> None:
        cur = self.current
        if comps == cur:
            return  # (most entries: the directory of the one before)
        common = 0
        for a, b in zip(cur, comps):
            if a != b:
                break
            common += 1
        if common < len(cur) and self.seal:
            nodes = []
            node: Optional[MutableTree] = self.root
            for c in cur:
                # a lazy node on the way is sealed with all below it: nothing to do
                if node is None or node.contents_checksum is not None:
                    node = None
                    break
                node = node._dirs.get(c)
                nodes.append(node)
            for n in reversed(nodes[common:]):  # children before parents
                if n is None or n.contents_checksum is not None:
                    continue
                if self.writer is not None:
                    self.writer.finish_dir(n)
                else:
                    self.resolve_hardlinks()
                    n.seal(self.repo)
        self.current = comps

    def parent_dir(self, path: str, member: tarfile.TarInfo, comps: Optional[List[str]] = None) -> MutableTree:
        if comps is None:
            comps = split_path(path)
        if not comps:
            return self.root
        try:
            return self.root.walk(comps[:-1])
        except FileNotFoundError as e:
            if not self.autocreate:
                # ostree_mutable_tree_walk's error, naming the first missing component
                raise TarError(str(e)) from None
        # libostree re-sets the metadata of the root and every ancestor here
        info = FileInfo(member.uid, member.gid, DEFAULT_DIRMODE)
        d = self.root
        d.meta = self.repo.write_dirmeta(DirMeta(info.uid, info.gid, info.mode, ()))
        for c in comps[:-1]:
            d = d.ensure_dir(c)
            d.meta = self.repo.write_dirmeta(DirMeta(info.uid, info.gid, info.mode, ()))
        return d

    def entry(self, member: tarfile.TarInfo, fileobj: Optional[IO[bytes]],
              hardlink: Optional[str] = None) -> None:
        """One archive entry; ``hardlink``: the path (in the archive) an entry that is
        not a tar hardlink links to (cpio's, which may carry the data)."""
        if not (0 <= member.uid <= 0xFFFFFFFF and 0 <= member.gid <= 0xFFFFFFFF):
            raise TarError(f"Invalid owner {member.uid}:{member.gid} for {member.name}")
        path = tar_path_relative(member.name)
        if self.translate is not None:
            translated = self.translate(path, member, False)
            if translated is None:
                return
            path = translated
        mode = tar_member_mode(member)
        info = self.modifier.apply(self.repo, "/" + path, FileInfo(member.uid, member.gid, mode))
        if info is None:
            return
        comps = split_path(path)
        self._moved_to(comps[:-1])
        parent = self.parent_dir(path, member, comps)
        name = comps[-1] if path else ""
        if member.isdir():
            xattrs = self.xattrs(path, info, member)
            d = parent if not name else parent.ensure_dir(name)
            d.meta = self.repo.write_dirmeta(DirMeta(info.uid, info.gid, info.mode, xattrs))
            return
        if member.islnk() or hardlink is not None:
            target = tar_path_relative(member.linkname if hardlink is None else hardlink)
            if self.translate is not None:
                t = self.translate(target, member, True)
                if t is None:
                    raise TarError(f'Hardlink "{path}" points at "{target}", which is not imported')
                target = t
            if member.size > 0 and (fileobj is not None or member.issym()):
                self.write_file(parent, name, member, info, fileobj, path)
            self.deferred.append((path, target, member.size))
            return
        if member.isreg() or member.issym():
            self.write_file(parent, name, member, info, fileobj, path)
            return
        raise UnsupportedFileTypeError(f'Unsupported file type for path "{path}"')

    def write_file(self, parent: MutableTree, name: str, member: tarfile.TarInfo, info: FileInfo,
                   fileobj: Optional[IO[bytes]], path: str) -> None:
        xattrs = self.xattrs(path, info, member)
        if member.issym():
            header = FileHeader(info.uid, info.gid, info.mode, member.linkname, xattrs)
            if self.writer is not None:
                # with the small files: written on the pool, it does not stall the tar
                # stream on the existence checks, nor cut the small-file batch short
                self.small.append((parent, name, header, b""))
                if len(self.small) >= _BATCH:
                    self._flush_small()
                if self.progress is not None:
                    self.progress(FileWritten("/" + path, member.size))
                return
            csum = self.repo.write_content(header)
        else:
            header = FileHeader(info.uid, info.gid, stat.S_IFREG | stat.S_IMODE(info.mode), "", xattrs)
            if self.writer is not None and member.size <= _SMALL_FILE:
                # small files are read whole and written on the pool's threads, so the
                # tar stream keeps flowing while the filesystem works
                data: bytes | memoryview
                if isinstance(fileobj, self.member_reader):
                    # a view of the stream's chunk, not a copy; it keeps the whole chunk
                    # alive until written, so the chunk is what counts against _MAX_PENDING
                    # (once a job: each job counts every chunk it holds)
                    data = fileobj.read_rest()
                    chunk = data.obj if isinstance(data, memoryview) else data
                    if chunk is not self.pinned:
                        self.pinned = chunk
                        self.pending_bytes += len(chunk)
                else:
                    data = fileobj.read(member.size + 1) if fileobj is not None else b""  # type: ignore[union-attr]
                    if len(data) != member.size:
                        raise TarError(f"Truncated data for {path}")
                    self.pending_bytes += len(data)
                self.small.append((parent, name, header, data))
                if len(self.small) >= _BATCH:
                    self._flush_small()
                if self.pending_bytes + self.writer.held_bytes > _MAX_PENDING:
                    self._flush_small()
                    self.writer.settle(_MAX_PENDING // 2)
                if self.progress is not None:
                    self.progress(FileWritten("/" + path, member.size))
                return
            if isinstance(fileobj, self.member_reader):
                fileobj = self.member_views(fileobj)  # type: ignore[assignment]  # hashed and written from the chunks
            csum = self.repo.write_content(header, fileobj, member.size)  # type: ignore[arg-type]
        if self.writer is not None:
            # queued behind the pool's pending files, so names written twice keep tar order
            self._flush_small()
            self.writer.add_done(parent, name, csum)
        else:
            parent.replace_file(name, csum)
        if self.progress is not None:
            self.progress(FileWritten("/" + path, member.size))

    def _flush_small(self) -> None:
        """The small files read so far go to the pool as one job: a future per small
        file costs more Python time than the file's own write."""
        if not self.small or self.writer is None:
            return
        batch, self.small = self.small, []
        self.pinned = None
        # (not write_content_bytes: it would copy a view into a BytesIO)
        write: Callable[..., str] = self.repo.write_content

        def run() -> list[str]:
            return [write(h, _OneRead(d), len(d)) if h.is_regular else write(h) for _p, _n, h, d in batch]

        self.writer.submit_items([(parent, name) for parent, name, _h, _d in batch], run, self.pending_bytes)
        self.pending_bytes = 0

    def finish(self) -> None:
        if self.writer is not None:
            self._flush_small()
            self.writer.drain()
        self.resolve_hardlinks()
        if self.autocreate and self.root.meta is None:
            info = self.modifier.apply(self.repo, "/", FileInfo(0, 0, DEFAULT_DIRMODE))
            assert info is not None
            self.root.meta = self.repo.write_dirmeta(DirMeta(info.uid, info.gid, info.mode, ()))

    def resolve_hardlinks(self) -> None:
        """The hardlinks read so far get their targets' checksums; run whenever the writer's
        pending checksums are in and before it seals anything, so that a sealed directory
        is never reopened (and its first dirtree left unused) just for a hardlink.

        As aic_import_deferred_hardlinks_for: a link that carried data (cpio puts it on
        the last link) gives its object to the target first, then every link takes
        the target's."""
        deferred, self.deferred = self.deferred, []
        groups: Dict[str, List[Tuple[str, int]]] = {}
        for path, target, size in deferred:
            groups.setdefault(target, []).append((path, size))
        for target, links in groups.items():
            payload = next((p for p, size in links if size > 0), None)
            if payload is not None:
                pcomps = split_path(payload)
                data_csum, _ = self.root.walk(pcomps[:-1]).lookup(pcomps[-1])
                self._replace(target, data_csum)
            comps = split_path(target)
            try:
                tparent = self.root.walk(comps[:-1])
            except FileNotFoundError:
                raise TarError(f'Hardlink target "{target}" not found') from None
            csum, sub = tparent.lookup(comps[-1]) if comps else (None, None)
            if sub is not None:
                raise TarError(f'Expected hardlink file target at "{target}" but found a directory')
            if csum is None:
                raise TarError(f'Hardlink target "{target}" not found')
            for path, _size in links:
                if path != payload:
                    self._replace(path, csum)

    def _replace(self, path: str, csum: Optional[str]) -> None:
        comps = split_path(path)
        try:
            parent = self.root.walk(comps[:-1])
        except FileNotFoundError:
            raise TarError(f'Hardlink target "{path}" not found') from None
        if csum is None or not comps or parent.lookup(comps[-1])[1] is not None:
            raise TarError(f'Expected hardlink file target at "{path}" but found a directory')
        parent.replace_file(comps[-1], csum)


class _FdReader:
    """An open regular file as the stream write_content reads: os.read on the descriptor,
    without the FileIO (and its fstat) os.fdopen makes for every file.  The first read asks
    for one byte more than the size the file was listed with (when that is under a chunk),
    and a read that returns less than it asked for ends the file, as on a regular file it
    does: a small file is one read of its size, not a 1 MB buffer and an empty read after."""

    __slots__ = ("_eof", "_fd", "_first")

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._first = size + 1 if size < CHUNK else 0
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        if self._eof:
            return b""
        if n < 0:
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        if self._first:
            n, self._first = min(n, self._first), 0
        data = os.read(self._fd, n)
        if len(data) < n:
            self._eof = True
        return data


class _OneRead:
    """A small file's bytes (or a view of them) as the stream write_content reads."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes | memoryview) -> None:
        self._data = data

    def read(self, n: int = -1) -> bytes | memoryview:
        data, self._data = self._data, b""
        return data


def _record_last_block(tf: tarfile.TarFile) -> Tuple[Callable[[], bytes], Callable[[], None]]:
    """(the last block read, undo); undo matters: the patched method and the stream
    refer to each other, and that cycle kept every layer's decompressor and
    buffers (~10 MB) alive until a full garbage collection."""
    import tarfile
    stream = tf.fileobj
    orig = stream.read  # type: ignore[union-attr]
    last = [b""]

    def read(size: int = -1) -> bytes:
        data = orig(size)
        if size == tarfile.BLOCKSIZE:
            last[0] = data
        return data

    def undo() -> None:
        stream.__dict__.pop("read", None)

    stream.read = read  # type: ignore[union-attr,method-assign]
    return lambda: last[0], undo


def write_tar_to_mtree(repo: Repo, fileobj: IO[bytes], mtree: MutableTree,
                       modifier: Optional[CommitModifier] = None, autocreate_parents: bool = False,
                       progress: Optional[ProgressCallback] = None,
                       translate: Optional[TranslateFn] = None, tar_mode: str = "r|*",
                       seal: bool = True, archive_formats: bool = False) -> MutableTree:
    """Import a tar stream (any compression tarfile understands) into ``mtree``, in one pass.

    ``seal``: a directory the stream has left is written as a dirtree and dropped
    from memory (a tar that comes back to it later only costs a reload); pass
    False when more sources will be laid over ``mtree``. ``archive_formats``: a
    cpio archive (plain or gzipped) is taken too, as ostree's libarchive takes it."""
    import tarfile

    from .cpioformat import CpioReader
    imp = _TarImporter(repo, mtree, modifier or CommitModifier(), autocreate_parents, progress, translate)
    imp.seal = seal
    threads = _TAR_THREADS
    imp.writer = _Writer(repo, threads) if threads > 1 else None
    cpio = False
    if archive_formats:
        fileobj, cpio = _sniff_cpio(fileobj)
    if imp.writer is not None and not cpio:
        imp.writer.before_seal = imp.resolve_hardlinks
    if cpio:
        # a cpio link's data may come after the directories holding its other
        # names: nothing is sealed, the links are resolved at the end (as ostree's)
        imp.seal = False
        try:
            reader = CpioReader(fileobj)
            for member, hardlink in reader:
                imp.entries += 1
                imp.entry(member, reader.data() if member.isreg() else None, hardlink)  # type: ignore[arg-type]
            imp.finish()
        finally:
            if imp.writer is not None:
                imp.writer.stop()
        return mtree
    try:
        with _open_tar(fileobj, tar_mode) as tf:
            # tarfile ends the iteration quietly on a corrupt header after the first;
            # remembering the last block it read lets us tell that from a real end
            last_block, undo = _record_last_block(tf)
            try:
                _read_members(tf, imp, last_block)
            finally:
                undo()
        imp.finish()
    except tarfile.TarError as e:
        raise TarError(f"Invalid tar stream: {e}") from None
    finally:
        if imp.writer is not None:
            imp.writer.stop()
    return mtree


# what tarfile's "r|*" takes for compressed (_StreamProxy.getcomptype): gzip, bzip2, lzma, xz
_COMPRESSED_MAGIC = (b"\x1f\x8b\x08", b"BZh91", b"\x5d\x00\x00\x80\x00", b"\xfd7zXZ")


def _open_tar(fileobj: IO[bytes], tar_mode: str) -> tarfile.TarFile:
    """An uncompressed stream ("r|", or "r|*" that finds no compression) is read through a
    :class:`ReadAhead` in tarfile's "r:" mode (1 MB reads instead of 10 KB: see readahead.py);
    anything else as ``tar_mode`` says."""
    import tarfile

    from .readahead import ReadAhead
    from .tarheader import QuickTarInfo
    if tar_mode in ("r|", "r|*"):
        ra = ReadAhead(fileobj)
        if tar_mode == "r|" or not ra.peek(512).startswith(_COMPRESSED_MAGIC):
            return tarfile.open(fileobj=ra, mode="r:", tarinfo=QuickTarInfo)  # type: ignore[call-overload]
        fileobj = ra  # type: ignore[assignment]  # holds the peeked bytes
    return tarfile.open(fileobj=fileobj, mode=tar_mode, tarinfo=QuickTarInfo)  # type: ignore[call-overload]


def _member_data(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes] | None:
    import tarfile

    from .readahead import MemberReader, ReadAhead
    stream = tf.fileobj
    if isinstance(stream, ReadAhead):
        if member.isreg() and member.sparse is None:
            return MemberReader(stream, member.offset_data, member.size)  # type: ignore[return-value]
        if member.islnk() and member.size:
            # what tarfile's stream mode answers (its "r:" mode would look the target up)
            raise tarfile.StreamError("cannot extract (sym)link as file object")
    if member.isreg() or (member.islnk() and member.size):
        return tf.extractfile(member)
    return None


def _member_data_fn(tf: tarfile.TarFile) -> Callable[[tarfile.TarInfo], IO[bytes] | None]:
    """_member_data for the members of ``tf``, with its imports and stream test done once
    (a relative import per member cost more than the member's own reader)."""
    from .readahead import MemberReader, ReadAhead
    stream = tf.fileobj
    if not isinstance(stream, ReadAhead):
        return lambda member: _member_data(tf, member)

    def data(member: tarfile.TarInfo) -> IO[bytes] | None:
        if member.isreg() and member.sparse is None:
            return MemberReader(stream, member.offset_data, member.size)  # type: ignore[return-value]
        return _member_data(tf, member)

    return data


class _Prefixed:
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(n)
        if n < 0:
            data, self._head = self._head + self._rest.read(), b""
            return data
        data, self._head = self._head[:n], self._head[n:]
        return data + self._rest.read(n - len(data)) if len(data) < n else data


def _read_upto(stream: IO[bytes], n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = stream.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _sniff_cpio(fileobj: IO[bytes]) -> Tuple[IO[bytes], bool]:
    """(the stream to read, is it cpio): plain or gzip-compressed cpio is told by its
    magic; anything else goes on to tarfile, which detects compression itself."""
    from .cpioformat import CPIO_MAGICS
    head = _read_upto(fileobj, 6)
    stream: IO[bytes] = _Prefixed(head, fileobj)  # type: ignore[assignment]
    if head[:2] == b"\x1f\x8b":
        import gzip
        inner = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[arg-type]
        try:
            head = _read_upto(inner, 6)  # type: ignore[arg-type]
        except (OSError, EOFError) as e:
            raise TarError(f"Invalid tar stream: {e}") from None
        stream = _Prefixed(head, inner)  # type: ignore[arg-type,assignment]
    return stream, head in CPIO_MAGICS


def _read_members(tf: tarfile.TarFile, imp: _TarImporter, last_block: Callable[[], bytes]) -> None:
    import tarfile
    member_data = _member_data_fn(tf)
    while True:
        try:
            member = tf.next()
        except tarfile.ReadError as e:
            # Raised here (not while reading a member's data, whose size
            # write_content checks) only when the last member's padding and
            # the end-of-archive blocks are missing: umoci 0.4.7 writes layers
            # like that.  Every member arrived whole, so take it as the end.
            if str(e) == "unexpected end of data" and imp.entries:
                break
            raise
        except tarfile.StreamError:
            # Python < 3.11 trips over an archive with no members in stream mode
            if imp.entries == 0 and sys.version_info < (3, 11):
                break
            raise
        if member is None:
            block = last_block()
            if len(block) == 512 and block.strip(b"\x00"):
                raise TarError(f"Invalid tar header after {imp.entries} entries")
            break
        imp.entries += 1
        tf.members.clear()  # type: ignore[attr-defined]  # stream mode needs no index; keeps memory flat
        if member.size < 0:
            raise TarError(f"Invalid negative size for {member.name}")
        imp.entry(member, member_data(member))


# ---------------------------------------------------------------------------- writing trees and commits


def write_mtree(repo: Repo, mtree: MutableTree) -> Tuple[str, str]:
    """Write dirtree objects bottom-up; returns (root dirtree checksum, root dirmeta checksum)."""
    if mtree.meta is None:
        raise OstreeError("Can't commit an empty tree")
    return mtree.seal(repo), mtree.meta


def parse_source_date_epoch(value: str) -> int:
    """``SOURCE_DATE_EPOCH`` as ostree_repo_write_commit reads it (g_ascii_strtoll):
    leading ASCII whitespace and a sign, then decimal digits; what follows them is
    ignored; no digits, or a value outside int64, is an error.  A negative value
    wraps into the commit's unsigned field, as in C."""
    s = value.lstrip(" \t\n\v\f\r")
    sign = ""
    if s[:1] in ("+", "-"):
        sign, s = s[:1], s[1:]
    digits = s[: len(s) - len(s.lstrip("0123456789"))]
    if not digits:
        raise OstreeError("Failed to convert SOURCE_DATE_EPOCH")
    n = int(sign + digits)
    if not -(1 << 63) <= n < (1 << 63):
        raise OstreeError("Parsing SOURCE_DATE_EPOCH: Numerical result out of range")
    return n & ((1 << 64) - 1)


def create_commit(repo: Repo, root_tree: str, root_meta: str, *, subject: str = "", body: str = "",
                  parent: Optional[str] = None, metadata: Optional[Mapping[str, Variant]] = None,
                  timestamp: Optional[int] = None) -> str:
    """Write a commit object (the checksum of the result is what ``ostree commit`` prints)."""
    if timestamp is None:
        sde = os.environ.get("SOURCE_DATE_EPOCH")
        timestamp = int(time.time()) if sde is None else parse_source_date_epoch(sde)
    commit = Commit(root_tree=root_tree, root_meta=root_meta, subject=subject, body=body,
                    timestamp=timestamp, parent=parent, metadata=dict(metadata or {}))
    return repo.write_commit(commit)
