"""Which of many objects a repository holds, for a walk that asks about a whole tree.

Design: a pull walks every dirtree of the commits it pulls and asks, for each file,
whether the object is here (libostree's scan_dirtree_object does the same, one
``fstatat`` per file). Asked one at a time, that is an ``lstat`` per file, or two
inside a transaction (``objects/``, then the staging directory): a second pull of a
100,000-file tree pays 100,000 of them. Here the questions come grouped by
``objects/xx/`` directory; a directory answers by ``lstat`` until the lookups in it
reach its size in blocks, and is then read whole once (with the transaction's
staging ``xx/``), after which its lookups are set lookups. Reading a directory
costs about what an ``lstat`` per block of it does, so a small pull into a big
repository still goes by ``lstat``, and a whole tree's walk reads each directory once.

What a directory read says is as of that moment: an object added later (by another
writer) is answered absent, which costs a fetch that the store then finds it already
has; nothing is answered present that is not there (objects leave the store only by
prune, which the caller's shared lock keeps out). The objects a walk stages itself are
the walk's to remember. A repository's ``core.parent`` is asked one object at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from .objects import ObjectType, loose_name
from .repo import Repo, RepoMode

_BLOCK = 4096


class _Dir:
    __slots__ = ("cost", "lookups", "names")

    def __init__(self, cost: int) -> None:
        self.cost = cost
        self.lookups = 0
        self.names: set[str] | None = None


def _blocks(path: str | None) -> int:
    if path is None:
        return 0
    try:
        return max(1, os.stat(path).st_size // _BLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return 0


def _names(path: str | None) -> set[str]:
    if path is None:
        return set()
    try:
        return set(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return set()


class ObjectPresence:
    """Answers :meth:`present` for objects of one type in ``repo``; safe to share
    between threads, and meant to live as long as one walk."""

    def __init__(self, repo: Repo, objtype: ObjectType = ObjectType.FILE) -> None:
        self.repo = repo
        self.objtype = objtype
        self._dirs: dict[str, _Dir] = {}
        self._lock = threading.Lock()

    def present(self, checksums: Iterable[str]) -> set[str]:
        """Those of ``checksums`` the repository holds."""
        by_prefix: dict[str, list[str]] = {}
        for c in checksums:
            group = by_prefix.get(c[:2])
            if group is None:
                by_prefix[c[:2]] = [c]
            else:
                group.append(c)
        # an entry of objects/xx is the checksum's rest and this suffix (loose_name's),
        # built here once rather than a whole path per file of a second pull's tree
        suffix = loose_name("00", self.objtype, self.repo.mode is RepoMode.ARCHIVE)[3:]
        parent = self.repo.parent
        out: set[str] = set()
        for prefix, group in by_prefix.items():
            names = self._listing(prefix, len(group))
            if names is None:
                out.update(c for c in group if self.repo.has_object(c, self.objtype))
            elif parent is None:
                out.update(c for c in group if c[2:] + suffix in names)
            else:
                out.update(c for c in group if c[2:] + suffix in names or parent.has_object(c, self.objtype))
        return out

    def listed(self, checksum: str, objtype: ObjectType) -> bool | None:
        """Whether an object of any type is here, from the listing of its ``objects/xx``
        read already for the files (no syscall), or None when that directory has not
        been read: a walk's dirmetas share the directories of its files. As of the
        listing: an object this walk stages later is the walk's to remember."""
        d = self._dirs.get(checksum[:2])
        names = d.names if d is not None else None
        if names is None:
            return None
        if loose_name(checksum, objtype, self.repo.mode is RepoMode.ARCHIVE)[3:] in names:
            return True
        return None if self.repo.parent is not None else False

    def _listing(self, prefix: str, n: int) -> set[str] | None:
        """The names in ``prefix``'s directories once they are worth reading, else None."""
        d = self._dirs.get(prefix)  # one dict read (atomic): no lock once a directory is known
        if d is not None and d.names is not None:
            return d.names
        if d is None:
            # priced by objects/xx alone: the transaction's staging xx/ is small next to it,
            # and a stat of it for every directory was a syscall (a GIL hand-off on a busy
            # pull) for a rounding error of the price
            final, _ = self.repo.object_dirs(prefix)
            d = _Dir(_blocks(final))
            with self._lock:
                d = self._dirs.setdefault(prefix, d)
        if d.names is not None:
            return d.names
        with self._lock:
            d.lookups += n
            due = d.lookups > d.cost
        if not due:
            return None
        final, staged = self.repo.object_dirs(prefix)
        names = _names(final) | _names(staged)
        d.names = names
        return names
