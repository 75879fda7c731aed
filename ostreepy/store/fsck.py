"""Re-hashing every object reachable from every commit, as ``ostree fsck`` does."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Set, Tuple

import attrs

from ..errors import ObjectNotFoundError, OstreeError
from .objects import ObjectType
from ..progress import FsckStarted, ObjectChecked, ProgressCallback, emit
from .repo import CHUNK, Repo


@attrs.define
class FsckProblem:
    """One bad object: what is wrong, whether it is missing rather than corrupt, and the commits
    that reach it."""

    checksum: str
    objtype: ObjectType
    message: str
    missing: bool
    commits: Tuple[str, ...] = ()


@attrs.define
class FsckResult:
    """What :func:`fsck` found: counts, the problems (``ok`` when none), what it deleted or marked partial."""

    n_commits: int = 0
    n_partial: int = 0
    n_fsck_partial: int = 0
    n_objects: int = 0
    problems: List[FsckProblem] = attrs.field(factory=list)
    deleted: List[Tuple[str, ObjectType]] = attrs.field(factory=list)
    marked_partial: List[str] = attrs.field(factory=list)
    ref_errors: List[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.ref_errors and not self.n_fsck_partial


def fsck_object(repo: Repo, checksum: str, objtype: ObjectType) -> None:
    """Raise unless the object exists, parses, and hashes to its name."""
    if objtype == ObjectType.FILE:
        header, stream = repo.load_file(checksum, want_data=True, verify=True)
        if stream is not None:
            with stream:
                while stream.read(CHUNK):
                    pass
        return
    data = repo.load_metadata(objtype, checksum, verify=True)
    from .objects import parse_metadata_object
    parse_metadata_object(objtype, data)


def fsck(repo: Repo, delete: bool = False, progress: Optional[ProgressCallback] = None) -> FsckResult:
    """Check every commit and everything it reaches; lists every missing or corrupt object."""
    result = FsckResult()
    for refspec, csum in repo.list_refs().items():
        try:
            repo.load_commit(csum)
        except OstreeError as e:
            result.ref_errors.append(f"Loading commit for ref {refspec}: {e}")
    commits = sorted(c for c, _ in repo.list_objects(ObjectType.COMMIT))
    parents: Dict[Tuple[str, ObjectType], List[str]] = {}
    for c in commits:
        reason = repo.commit_partial_reason(c)
        if reason is not None:
            result.n_partial += 1
            if reason == "f":
                result.n_fsck_partial += 1
            continue
        result.n_commits += 1
        try:
            commit = repo.load_commit(c)
        except OstreeError as e:
            result.problems.append(FsckProblem(c, ObjectType.COMMIT, str(e), False))
            continue
        # the commit object is hashed too, and counted, as ostree's traversal includes it
        parents[(c, ObjectType.COMMIT)] = [c]
        parents.setdefault((commit.root_meta, ObjectType.DIR_META), []).append(c)
        stack = [commit.root_tree]
        seen: Set[str] = set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            parents.setdefault((t, ObjectType.DIR_TREE), []).append(c)
            try:
                tree = repo.load_dirtree(t)
            except OstreeError:
                continue  # reported when the dirtree itself is checked
            for _, f in tree.files:
                lst = parents.setdefault((f, ObjectType.FILE), [])
                if not lst or lst[-1] != c:
                    lst.append(c)
            for _, st, sm in tree.dirs:
                lst = parents.setdefault((sm, ObjectType.DIR_META), [])
                if not lst or lst[-1] != c:
                    lst.append(c)
                stack.append(st)
    total = len(parents)
    result.n_objects = total
    emit(progress, FsckStarted(result.n_commits, total))

    def check(key: Tuple[str, ObjectType]) -> Optional[OstreeError]:
        try:
            fsck_object(repo, key[0], key[1])
        except OstreeError as e:
            return e
        return None

    # Decompression and hashing release the GIL: checking objects on a few
    # threads uses the machine's cores as C ostree (single-threaded) cannot.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max(1, min(4, (os.cpu_count() or 1) * 2))) as pool:
        outcomes = pool.map(check, list(parents), chunksize=64)
        errors = []
        for i, ((key, cs), err) in enumerate(zip(parents.items(), outcomes)):
            if progress is not None:
                progress(ObjectChecked(key[0], key[1].name_str, i + 1, total, err is None))
            if err is not None:
                errors.append((key, cs, err))
    for (csum, objtype), cs, err in errors:
        try:
            raise err
        except ObjectNotFoundError:
            result.problems.append(FsckProblem(
                csum, objtype, f"Object missing in commits {', '.join(cs)}: {csum}.{objtype.name_str}", True,
                tuple(cs)))
        except OstreeError as e:
            msg = f"In commits {', '.join(cs)}: {e}"
            result.problems.append(FsckProblem(csum, objtype, msg, False, tuple(cs)))
            if delete:
                repo.delete_object(csum, objtype)
                result.deleted.append((csum, objtype))
    if delete:
        for p in result.problems:
            if p.missing or (p.checksum, p.objtype) in result.deleted:
                for c in p.commits:
                    if p.objtype != ObjectType.COMMIT and c not in result.marked_partial:
                        repo.mark_commit_partial(c, True, fsck=True)
                        result.marked_partial.append(c)
    return result
