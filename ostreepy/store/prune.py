"""Deleting objects no ref (or commit) reaches, as ``ostree prune`` does."""

from __future__ import annotations

import os
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, cast

import attrs

from ..errors import OstreeError
from ..progress import ObjectPruned, ProgressCallback
from .lock import EXCLUSIVE
from .objects import ObjectType
from .repo import Repo


@attrs.frozen
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
    current: Optional[str] = checksum
    while current is not None:
        try:
            commit = repo.load_commit(current)
        except OstreeError:
            break
        if commit.timestamp < cutoff:
            break
        repo.traverse_commit(current, reachable, depth=0)
        current = commit.parent


_BATCH = 256
#: the mean seconds an object's lstat and unlink take (the first batch's) beyond which the
#: unlinks are taken to wait on the filesystem: tmpfs ~3 us, ext4 ~40 us
_WAITING_UNLINK = 15e-6


_TYPE_BYTES = {t: bytes((int(t),)) for t in ObjectType}


class _Reachable(Dict[Tuple[str, ObjectType], None]):
    """The reachable set as :meth:`Repo.traverse_commit` fills it, kept compact: a
    33-byte key (type, binary checksum) per object, not a tuple and a 64-character
    string; at 100,000 objects that is ~10 MB instead of ~25 MB.  Only adding and
    ``in`` are used (and so supported)."""

    def __setitem__(self, key: Tuple[str, ObjectType], value: None) -> None:
        super().__setitem__(bytes((key[1],)) + bytes.fromhex(key[0]), value)  # type: ignore[index]

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple):
            return False
        csum, objtype = key
        return super().__contains__(_TYPE_BYTES[objtype] + bytes.fromhex(csum))


def _delete_all(repo: Repo, objects: List[Tuple[str, ObjectType]],
                progress: Optional[ProgressCallback] = None) -> int:
    """Deletes content and tree objects, returning the bytes freed: on two threads where
    an unlink waits on the filesystem, else on this one.

    Where an unlink waits (ext4 freeing blocks, a discard mount) it does so with the GIL
    released, and two at a time overlap that wait (the 5,000-file prune on ext4: 216-270 ms
    against 293-317 on one thread); where it does not (tmpfs: ~3 us an object), the second
    thread only takes turns at the GIL (85-102 ms against 76-96, and a third more CPU). The
    first batch, on this thread, tells which: its mean time per object. delete_object stats
    the object for its size: one lstat per object, not two.  The events are sent from the
    calling thread, after each round, so the callback is never called from two threads."""
    def run(batch: List[Tuple[str, ObjectType]]) -> List[int]:
        return [repo.delete_object(csum, objtype) for csum, objtype in batch]

    batches = [objects[i:i + _BATCH] for i in range(0, len(objects), _BATCH)]
    sizes: List[List[int]] = []
    if batches:
        start = time.perf_counter()
        sizes.append(run(batches[0]))
        waits = (time.perf_counter() - start) / len(batches[0]) > _WAITING_UNLINK
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
        sizes.extend(cast(List[int], job.value) for job in jobs)
    freed = 0
    for batch, batch_sizes in zip(batches, sizes):
        for (csum, objtype), size in zip(batch, batch_sizes):
            freed += size
            if progress is not None:
                progress(ObjectPruned(csum, objtype.name_str, size, True))
    return freed


def prune(repo: Repo, refs_only: bool = False, depth: int = -1, no_prune: bool = False,
          keep_younger_than: Optional[int] = None, commit_only: bool = False,
          progress: Optional[ProgressCallback] = None, retain_branch_depth: Optional[Mapping[str, int]] = None,
          only_branches: Sequence[str] = ()) -> PruneResult:
    """Delete unreachable objects under an exclusive lock (so no writer races the walk);
    ``progress`` receives an :class:`~ostreepy.progress.ObjectPruned` for each.

    As ot-builtin-prune.c, with ``keep_younger_than``, ``retain_branch_depth`` (ref ->
    depth for that ref alone) or ``only_branches`` (the other refs keep their whole
    history) the walk starts from the refs, each to its own depth."""
    with repo.locked(EXCLUSIVE):
        reachable: Dict[Tuple[str, ObjectType], None] = _Reachable()
        if keep_younger_than is not None or retain_branch_depth or only_branches:
            refs_only = True
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
        total = pruned = freed = 0
        doomed: List[Tuple[str, ObjectType]] = []
        # one xx/ directory is listed at a time: deleting from those already listed is safe
        for csum, objtype in repo.list_objects():
            if objtype in (ObjectType.COMMIT_META, ObjectType.TOMBSTONE_COMMIT):
                continue
            if commit_only and objtype != ObjectType.COMMIT:
                continue
            total += 1
            if (csum, objtype) in reachable:
                continue
            if no_prune:
                try:
                    size = os.lstat(repo.object_path(csum, objtype)).st_size
                except FileNotFoundError:
                    continue
                freed += size
                if progress is not None:
                    progress(ObjectPruned(csum, objtype.name_str, size, False))
            elif objtype == ObjectType.COMMIT:
                size = repo.delete_object(csum, objtype)
                freed += size
                if progress is not None:
                    progress(ObjectPruned(csum, objtype.name_str, size, True))
            else:
                doomed.append((csum, objtype))
                if len(doomed) >= _BATCH * 8:
                    freed += _delete_all(repo, doomed, progress)
                    doomed = []
            pruned += 1
        freed += _delete_all(repo, doomed, progress)
        # No syncfs at the end, as in ostree: a deletion lost to a crash only
        # leaves an unreachable object for the next prune, while syncing costs
        # a flush of everything dirty on the filesystem, other writers' included.
        return PruneResult(total, pruned, freed)
