"""Deleting objects no ref (or commit) reaches, as ``ostree prune`` does.

:func:`prune` walks what is reachable (the compact :class:`_Reachable` set: a 33-byte key per
object), then sweeps ``objects/`` one ``xx/`` directory at a time: each entry's name is read
in place (its type by its extension, its checksum by its hex digits, as
:func:`~ostreepy.store.objtype.parse_loose_name` reads it) and an unreachable one is deleted
by that same name, relative to a descriptor of ``objects/`` (one lstat, for the bytes freed,
and one unlink, as ostree's prune does). Commits are deleted one by one through
:meth:`Repo.delete_object` (their detached metadata, partial marker, tombstone); the other
objects in rounds, on two threads where an unlink waits on the filesystem (:func:`_delete_all`).

A prune of a whole OS tree is short (ostree: ~60 ms for 5,000 files on tmpfs) and most of it
is the kernel's unlinks, so the sweep does per object no more than that, and builds no value
on the way: :func:`prune_counts` answers plain numbers (the command line prints them, ostree's
lines, without attrs or the porcelain), and :func:`prune`'s :class:`PruneResult` is an attrs
class built on its first use (:mod:`ostreepy._deferred`).
"""

from __future__ import annotations

import os
import time

from .._deferred import Deferred
from ..errors import OstreeError
from .lock import EXCLUSIVE
from .objtype import ObjectType
from .spill import SpilledKeys

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Tuple

    from ..progress import ProgressCallback
    from .repo import Repo

__all__ = ["PruneResult", "delete_commit", "format_size", "list_objects_ahead", "prune", "prune_counts",
           "walk_commit"]

#: the result type, built on the first use of its name
_DEFERRED = Deferred(globals())

if TYPE_CHECKING:
    from attrs import frozen as _result
else:
    _result = _DEFERRED.register


@_result
class PruneResult:
    """What :func:`prune` counted and deleted (or, with ``no_prune``, would delete)."""

    n_objects_total: int
    n_objects_pruned: int
    freed_bytes: int


def format_size(size: int) -> str:
    """g_format_size(): SI units with one decimal (a no-break space before the
    unit, as GLib prints it), "N bytes" below 1000."""
    if size < 1000:
        return f"{size} byte" if size == 1 else f"{size} bytes"
    for unit, factor in (("kB", 1000), ("MB", 1000 ** 2), ("GB", 1000 ** 3), ("TB", 1000 ** 4),
                         ("PB", 1000 ** 5), ("EB", 1000 ** 6)):
        if size < factor * 1000 or unit == "EB":
            return f"{size / factor:.1f}\u00a0{unit}"
    raise AssertionError  # pragma: no cover


def _traverse_keep_younger_than(repo: Repo, checksum: str, cutoff: int,
                                reachable: Dict[Tuple[str, ObjectType], None]) -> None:
    # the commit a ref points at is always kept; its ancestors while not older than the cutoff
    repo.traverse_commit(checksum, reachable, depth=0)
    from .objects import commit_links
    current: Optional[str] = checksum
    while current is not None:
        try:
            parent, timestamp, _, _ = commit_links(repo.load_metadata(ObjectType.COMMIT, current))
        except OstreeError:
            break
        if timestamp < cutoff:
            break
        repo.traverse_commit(current, reachable, depth=0)
        current = parent


_BATCH = 256
#: the mean seconds an object's lstat and unlink take (the first batch's) beyond which the
#: unlinks are taken to wait on the filesystem: tmpfs ~3 us, ext4 ~40 us
_WAITING_UNLINK = 15e-6

_TYPE_BYTES = {t: bytes((int(t),)) for t in ObjectType}
_FILE = ObjectType.FILE
#: a listed object's key's length: binary checksum, type byte
_KEY = 33
_HEX_DIGITS = "0123456789abcdef"
#: the types the sweep counts, by their extension (``file`` or ``filez`` by the repository's
#: mode); detached metadata and tombstones are neither counted nor pruned, as in ostree
_SWEPT: Dict[str, ObjectType] = {t.name_str: t for t in ObjectType
          if t not in (ObjectType.FILE, ObjectType.COMMIT_META, ObjectType.TOMBSTONE_COMMIT)}


class _Reachable(dict[tuple[str, ObjectType], None]):
    """The reachable set as :meth:`Repo.traverse_commit` fills it, flat in memory: the
    metadata objects (a few a directory) as a 33-byte key each (type byte, binary checksum)
    in the dict, the file objects (nearly all of a tree) as binary checksums in a
    :class:`~ostreepy.store.spill.SpilledKeys`, read back a ``objects/xx/`` directory's
    worth at a time by the sweep (:meth:`files_in`). Only adding and ``in`` of metadata are
    used by the walk (and so supported); the sweep asks :meth:`holds` with the key."""

    def __init__(self) -> None:
        super().__init__()
        self.files = SpilledKeys(32, "reachable objects")

    def __setitem__(self, key: Tuple[str, ObjectType], value: None) -> None:
        if key[1] == _FILE:
            self.files.add(bytes.fromhex(key[0]))
        else:
            super().__setitem__(_TYPE_BYTES[key[1]] + bytes.fromhex(key[0]), value)  # type: ignore[index]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple):
            return False
        csum, objtype = key
        if objtype == _FILE:
            # (the walk asks only of commits and dirtrees, where it stops)
            raise TypeError("the reachable file objects are looked up a directory at a time: files_in")
        return super().__contains__(_TYPE_BYTES[objtype] + bytes.fromhex(csum))

    #: whether the 33-byte key (type byte, binary checksum) of a metadata object is in the set
    holds = dict.__contains__

    def files_in(self, prefix: int) -> set[bytes]:
        """The binary checksums of the reachable file objects whose first byte is ``prefix``."""
        return self.files.bucket_set(prefix)

    def close(self) -> None:
        self.files.close()


def _delete_all(repo: Repo, objfd: int, names: List[str], progress: Optional[ProgressCallback] = None) -> int:
    """Deletes content and tree objects by their names below ``objects/`` (``xx/rest.ext``,
    relative to ``objfd``; -1: through :meth:`Repo.delete_object`), returning the bytes freed:
    on two threads where an unlink waits on the filesystem, else on this one.

    Where an unlink waits (ext4 freeing blocks, a discard mount) it does so with the GIL
    released, and two at a time overlap that wait (the 5,000-file prune on ext4: 216-270 ms
    against 293-317 on one thread); where it does not (tmpfs: ~3 us an object), the second
    thread only takes turns at the GIL (85-102 ms against 76-96, and a third more CPU). The
    first batch, on this thread, tells which: its mean time per object, less the time the
    thread waited for a CPU. One lstat per object for its size, then the unlink. The events
    are sent from the calling thread, after each round, so the callback is never called from
    two threads."""
    lstat, unlink = os.lstat, os.unlink

    def run(batch: List[str]) -> List[int]:
        if objfd < 0:
            return [repo.delete_object(*_parse_name(name)) for name in batch]
        sizes = []
        for name in batch:
            try:
                sizes.append(lstat(name, dir_fd=objfd).st_size)
                unlink(name, dir_fd=objfd)
            except FileNotFoundError:  # gone meanwhile: nothing freed (as delete_object)
                sizes.append(0)
        return sizes

    batches = [names[i:i + _BATCH] for i in range(0, len(names), _BATCH)]
    sizes: List[List[int]] = []
    if batches:
        queued = _queued()
        start = time.perf_counter()
        sizes.append(run(batches[0]))
        took = time.perf_counter() - start
        if queued is not None:
            # less the time this thread waited for a CPU: a loaded machine's preemptions (a
            # tmpfs batch of ~6 us an object took 13-25 us at load 3-4) are not the
            # filesystem's waits, and two threads there took turns at the GIL and waited for
            # each other (the 100,000-file prune: 1.60 s wall for 0.94 s CPU)
            took -= (_queued() or queued) - queued
        waits = took / len(batches[0]) > _WAITING_UNLINK
    if len(batches) <= 1 or not waits:
        sizes.extend(run(b) for b in batches[1:])
    else:
        from ..parallel import Pool
        pool = Pool(2, "ostreepy-prune")
        try:
            jobs = [pool.submit(run, b) for b in batches[1:]]
        finally:
            pool.join()
        for job in jobs:
            if job.error is not None:
                raise job.error
        sizes.extend(job.value for job in jobs)  # type: ignore[misc]
    freed = 0
    for batch_sizes in sizes:
        freed += sum(batch_sizes)
    if progress is not None:
        from ..progress import built_event
        pruned = built_event("ObjectPruned")
        for batch, batch_sizes in zip(batches, sizes):
            for name, size in zip(batch, batch_sizes):
                csum, objtype = _parse_name(name)
                progress(pruned(csum, objtype.name_str, size, True))
    return freed


def _queued() -> Optional[float]:
    """The seconds this thread has spent runnable but waiting for a CPU (the kernel's
    schedstat), None where the kernel does not tell."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _parse_name(name: str) -> Tuple[str, ObjectType]:
    """(checksum, type) of a name the sweep chose (``xx/rest.ext``)."""
    rest, _, ext = name[3:].partition(".")
    return name[:2] + rest, _SWEPT.get(ext, ObjectType.FILE)


def _reachable(repo: Repo, refs_only: bool, depth: int, keep_younger_than: Optional[int],
               retain_branch_depth: Optional[Mapping[str, int]], only_branches: Sequence[str],
               walked: Optional[_Reachable] = None) -> _Reachable:
    """What the walk keeps, as ot-builtin-prune.c walks: from the refs (``refs_only``) or
    from every commit, to ``depth``; with ``keep_younger_than``, ``retain_branch_depth`` or
    ``only_branches``, from the refs, each to its own depth. ``walked`` (see :func:`prune`)
    is where a plain ``refs_only`` walk of depth 0 starts: a ref's walk stops at a commit,
    and a dirtree's at a dirtree, already in it, as at one it walked itself (deeper, the
    commit's parents would go unwalked)."""
    plain = not (keep_younger_than is not None or retain_branch_depth or only_branches)
    reachable = walked if walked is not None and plain and refs_only and depth == 0 else _Reachable()
    if not plain:
        retain = dict(retain_branch_depth or {})
        refs = repo.list_refs(include_mirrors=True)
        if only_branches:
            for ref in only_branches:
                repo.resolve_rev(ref)  # each must exist
            for ref in refs:
                if ref not in only_branches:
                    retain.setdefault(ref, -1)
        for ref, csum in refs.items():
            if ref in retain:
                repo.traverse_commit(csum, reachable, depth=retain[ref])
            elif keep_younger_than is not None:
                _traverse_keep_younger_than(repo, csum, keep_younger_than, reachable)
            else:
                repo.traverse_commit(csum, reachable, depth=depth)
    elif refs_only:
        for csum in repo.list_refs(include_mirrors=True).values():
            repo.traverse_commit(csum, reachable, depth=depth)
    else:
        for csum, _ in repo.list_objects(ObjectType.COMMIT):
            repo.traverse_commit(csum, reachable, depth=depth)
    return reachable


def delete_commit(repo: Repo, rev: str) -> None:
    """``prune --delete-commit``: delete the commit ``rev`` names (its detached metadata and
    partial marker with it), refused where a ref points at it."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    for ref, target in repo.list_refs().items():
        if target == csum:
            raise OstreeError(f"Commit '{rev}' is referenced by ref '{ref}'")
    repo.delete_object(csum, ObjectType.COMMIT)


def walk_commit(repo: Repo, checksum: str) -> Optional[_Reachable]:
    """What a prune's walk reaches from commit ``checksum`` (not its parents), walked ahead of
    the prune by a caller that knows a ref will name the commit when it runs (a deploy, waiting
    for its composefs image, walks its new commit; the deployment refs name it when its cleanup
    prunes): :func:`prune`'s ``walked``. None for a partial commit, whose missing objects a pull
    may yet bring (a walk from the commit must then see them), or a commit that cannot be walked
    (the prune then walks it, and fails, as ever)."""
    try:
        if repo.commit_is_partial(checksum):
            return None
        return repo.traverse_commit(checksum, _Reachable(), depth=0)  # type: ignore[return-value]
    except (OstreeError, OSError):
        return None


def list_objects_ahead(repo: Repo) -> Optional[SpilledKeys]:
    """The objects a prune's sweep counts, listed ahead of the prune by a caller with time to
    spare (a deploy waiting for its composefs image): :func:`prune`'s ``listed``. Only the
    names are read ahead; which to delete is decided as ever, under the prune's exclusive lock,
    from its walk. A 33-byte key each (binary checksum, type byte) in a
    :class:`~ostreepy.store.spill.SpilledKeys`: flat in memory (a string of them was ~3.7 MB at
    112,000 objects, a set ~12 MB)."""
    objdir = os.path.join(repo.path, "objects")
    try:
        prefixes = os.listdir(objdir)
    except FileNotFoundError:
        return None
    types = {ext: _TYPE_BYTES[t] for ext, t in _SWEPT.items()}
    types[repo._file_ext[1:]] = _TYPE_BYTES[_FILE]
    keys = SpilledKeys(_KEY, "objects listed")
    add = keys.add
    for prefix in prefixes:
        if len(prefix) != 2 or prefix.strip(_HEX_DIGITS):
            continue
        try:
            names = os.listdir(f"{objdir}/{prefix}")
        except NotADirectoryError:
            continue
        for name in names:
            rest, _, ext = name.partition(".")
            type_byte = types.get(ext)
            if type_byte is None or len(rest) != 62 or rest.strip(_HEX_DIGITS):
                continue  # not an object of this repository's kind
            add(bytes.fromhex(prefix + rest) + type_byte)
    return keys


def prune(repo: Repo, refs_only: bool = False, depth: int = -1, no_prune: bool = False,
          keep_younger_than: Optional[int] = None, commit_only: bool = False,
          progress: Optional[ProgressCallback] = None, retain_branch_depth: Optional[Mapping[str, int]] = None,
          only_branches: Sequence[str] = (), walked: Optional[_Reachable] = None,
          listed: Optional[SpilledKeys] = None) -> PruneResult:
    """Delete unreachable objects under an exclusive lock (so no writer races the walk);
    ``progress`` receives an :class:`~ostreepy.progress.ObjectPruned` for each.

    As ot-builtin-prune.c, with ``keep_younger_than``, ``retain_branch_depth`` (ref ->
    depth for that ref alone) or ``only_branches`` (the other refs keep their whole
    history) the walk starts from the refs, each to its own depth. ``walked``: a
    :func:`walk_commit` of a commit a ref names (the walk goes on from it; a plain
    ``refs_only`` prune of depth 0 alone takes it, and is then the same, sooner). ``listed``:
    a :func:`list_objects_ahead`, whose objects alone are then counted and, where the walk does
    not reach them, deleted: what a prune at the listing would have deleted less what a ref
    has named since, and nothing made since (a later prune's). Not for ``no_prune`` or
    ``commit_only``, which list as ever."""
    counts = prune_counts(repo, refs_only=refs_only, depth=depth, no_prune=no_prune,
                          keep_younger_than=keep_younger_than, commit_only=commit_only, progress=progress,
                          retain_branch_depth=retain_branch_depth, only_branches=only_branches, walked=walked,
                          listed=listed)
    return _DEFERRED.build("PruneResult")(*counts)  # type: ignore[no-any-return]


def prune_counts(repo: Repo, refs_only: bool = False, depth: int = -1, no_prune: bool = False,
                 keep_younger_than: Optional[int] = None, commit_only: bool = False,
                 progress: Optional[ProgressCallback] = None,
                 retain_branch_depth: Optional[Mapping[str, int]] = None,
                 only_branches: Sequence[str] = (), walked: Optional[_Reachable] = None,
                 listed: Optional[SpilledKeys] = None) -> Tuple[int, int, int]:
    """:func:`prune`'s result as (objects counted, objects pruned, bytes freed), without the
    value (for the command line, which prints the numbers)."""
    reachable = None
    try:
        with repo.locked(EXCLUSIVE):
            reachable = _reachable(repo, refs_only, depth, keep_younger_than, retain_branch_depth, only_branches,
                                   walked)
            if listed is not None and not no_prune and not commit_only:
                return _sweep_listed(repo, reachable, listed, progress)
            return _sweep(repo, reachable, no_prune, commit_only, progress)
    finally:
        for keys in (reachable, walked, listed):
            if keys is not None:
                keys.close()


def _sweep_listed(repo: Repo, reachable: _Reachable, listed: SpilledKeys,
                  progress: Optional[ProgressCallback]) -> Tuple[int, int, int]:
    """:func:`_sweep` of the objects ``listed`` (:func:`list_objects_ahead`), a first byte at a
    time: those not ``reachable`` deleted as it deletes them (one gone meanwhile frees nothing)."""
    objfd = -1
    if repo._staging_dir is None and repo._dfd >= 0:
        objfd = os.open("objects", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=repo._dfd)
    dirtrees = repo._dirtree_cache
    file_ext = repo._file_ext[1:]
    total = pruned = freed = 0
    doomed: List[str] = []
    holds = _Reachable.holds
    try:
        for b in range(256):
            data = listed.bucket(b)
            if not data:
                continue
            total += len(data) // _KEY
            files = reachable.files_in(b)
            for i in range(0, len(data), _KEY):
                binary, type_byte = data[i:i + 32], data[i + 32]
                if type_byte == _FILE:
                    if binary in files:
                        continue
                elif holds(reachable, bytes((type_byte,)) + binary):
                    continue
                objtype = ObjectType(type_byte)
                csum = binary.hex()
                pruned += 1
                if objtype is ObjectType.COMMIT:
                    size = repo.delete_object(csum, objtype)
                    freed += size
                    if progress is not None:
                        from ..progress import built_event
                        progress(built_event("ObjectPruned")(csum, objtype.name_str, size, True))
                    continue
                if dirtrees is not None and objtype is ObjectType.DIR_TREE:
                    dirtrees.pop(csum, None)
                ext = file_ext if objtype is _FILE else objtype.name_str
                doomed.append(f"{csum[:2]}/{csum[2:]}.{ext}")
                if len(doomed) >= _BATCH * 8:
                    freed += _delete_all(repo, objfd, doomed, progress)
                    doomed = []
        freed += _delete_all(repo, objfd, doomed, progress)
    finally:
        if objfd >= 0:
            os.close(objfd)
    return total, pruned, freed


def _sweep(repo: Repo, reachable: _Reachable, no_prune: bool, commit_only: bool,
           progress: Optional[ProgressCallback]) -> Tuple[int, int, int]:
    """Count every object of ``objects/`` and delete (or, ``no_prune``, size) those not
    ``reachable``."""
    objdir = os.path.join(repo.path, "objects")
    try:
        prefixes = sorted(os.listdir(objdir))
    except FileNotFoundError:
        return 0, 0, 0
    types: Dict[str, ObjectType] = dict(_SWEPT)
    types[repo._file_ext[1:]] = ObjectType.FILE
    if commit_only:
        types = {"commit": ObjectType.COMMIT}
    # by name, below a descriptor of objects/; through delete_object while a transaction has
    # staged objects (one may be there too) or the repository is closed
    objfd = -1
    if repo._staging_dir is None and repo._dfd >= 0:
        objfd = os.open("objects", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=repo._dfd)
    dirtrees = repo._dirtree_cache
    holds = _Reachable.holds
    type_bytes = _TYPE_BYTES
    total = pruned = freed = 0
    doomed: List[str] = []
    try:
        # one xx/ directory is listed at a time: deleting from those already listed is safe
        for prefix in prefixes:
            if len(prefix) != 2 or prefix.strip(_HEX_DIGITS):
                continue
            try:
                names = os.listdir(f"{objdir}/{prefix}")
            except NotADirectoryError:
                continue
            files = reachable.files_in(int(prefix, 16))  # (the walk's file objects under this xx/)
            for name in names:
                rest, _, ext = name.partition(".")
                objtype = types.get(ext)
                if objtype is None or len(rest) != 62 or rest.strip(_HEX_DIGITS):
                    continue  # not an object of this repository's kind
                total += 1
                if objtype is _FILE:
                    if bytes.fromhex(prefix + rest) in files:
                        continue
                elif holds(reachable, type_bytes[objtype] + bytes.fromhex(prefix + rest)):
                    continue
                if no_prune:
                    try:
                        if objfd >= 0:
                            size = os.lstat(f"{prefix}/{name}", dir_fd=objfd).st_size
                        else:
                            size = os.lstat(repo.object_path(prefix + rest, objtype)).st_size
                    except FileNotFoundError:
                        continue  # gone meanwhile: counted, not pruned
                    freed += size
                    if progress is not None:
                        from ..progress import built_event
                        progress(built_event("ObjectPruned")(prefix + rest, objtype.name_str, size, False))
                elif objtype is ObjectType.COMMIT:
                    size = repo.delete_object(prefix + rest, objtype)
                    freed += size
                    if progress is not None:
                        from ..progress import built_event
                        progress(built_event("ObjectPruned")(prefix + rest, objtype.name_str, size, True))
                else:
                    if dirtrees is not None and objtype is ObjectType.DIR_TREE:
                        dirtrees.pop(prefix + rest, None)
                    doomed.append(f"{prefix}/{name}")
                    if len(doomed) >= _BATCH * 8:
                        freed += _delete_all(repo, objfd, doomed, progress)
                        doomed = []
                pruned += 1
        freed += _delete_all(repo, objfd, doomed, progress)
    finally:
        if objfd >= 0:
            os.close(objfd)
    # No syncfs at the end, as in ostree: a deletion lost to a crash only
    # leaves an unreachable object for the next prune, while syncing costs
    # a flush of everything dirty on the filesystem, other writers' included.
    return total, pruned, freed


# the result type is built on first use; until then the module holds only its plain class
_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
