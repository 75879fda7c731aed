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
        #: once read: the names in it that are not objects of the presence's type (the
        #: others are in ObjectPresence._known, as checksums)
        self.names: set[str] | None = None


def _blocks(path: str | None) -> int:
    if path is None:
        return 0
    try:
        return max(1, os.stat(path).st_size // _BLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return 0


def _names(path: str | None) -> list[str]:
    if path is None:
        return []
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


class ObjectPresence:
    """Answers :meth:`present` for objects of one type in ``repo``; safe to share
    between threads, and meant to live as long as one walk."""

    def __init__(self, repo: Repo, objtype: ObjectType = ObjectType.FILE) -> None:
        self.repo = repo
        self.objtype = objtype
        self._dirs: dict[str, _Dir] = {}
        self._lock = threading.Lock()
        # an entry of objects/xx is the checksum's rest and this suffix (loose_name's)
        self._suffix = loose_name("00", objtype, repo.mode is RepoMode.ARCHIVE)[3:]
        #: the objects of the type in the directories read whole, by checksum: a whole tree's
        #: files are then answered by one set intersection, not a lookup each (a second pull
        #: asks about every file of the tree: ~1.5 us a file in Python, 8 ms of 6,000)
        self._known: set[str] = set()
        #: the prefixes of those directories (added once their objects are in _known)
        self._read: set[str] = set()

    def present(self, checksums: Iterable[str]) -> set[str]:
        """Those of ``checksums`` the repository holds."""
        asked = set(checksums)
        known = self._known
        out = asked & known  # (the directories read: what is left is absent there or unread)
        read = self._read
        parent = self.repo.parent
        by_prefix: dict[str, list[str]] = {}
        for c in (asked - out) if out else asked:
            prefix = c[:2]
            if prefix in read:
                # read after the intersection, perhaps (another thread): asked of it again
                if c in known or (parent is not None and parent.has_object(c, self.objtype)):
                    out.add(c)
                continue
            group = by_prefix.get(prefix)
            if group is None:
                by_prefix[prefix] = [c]
            else:
                group.append(c)
        for prefix, group in by_prefix.items():
            if not self._listing(prefix, len(group)):
                out.update(c for c in group if self.repo.has_object(c, self.objtype))
            elif parent is None:
                out.update(c for c in group if c in known)
            else:
                out.update(c for c in group if c in known or parent.has_object(c, self.objtype))
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
        if objtype is self.objtype:
            if checksum in self._known:
                return True
        elif loose_name(checksum, objtype, self.repo.mode is RepoMode.ARCHIVE)[3:] in names:
            return True
        return None if self.repo.parent is not None else False

    def _listing(self, prefix: str, n: int) -> bool:
        """Whether ``prefix``'s directories are read (now, if they are worth reading: their
        objects of the type are then in ``_known``)."""
        d = self._dirs.get(prefix)  # one dict read (atomic): no lock once a directory is known
        if d is not None and d.names is not None:
            return True
        if d is None:
            # priced by objects/xx alone: the transaction's staging xx/ is small next to it,
            # and a stat of it for every directory was a syscall (a GIL hand-off on a busy
            # pull) for a rounding error of the price
            final, _ = self.repo.object_dirs(prefix)
            d = _Dir(_blocks(final))
            with self._lock:
                d = self._dirs.setdefault(prefix, d)
        if d.names is not None:
            return True
        with self._lock:
            d.lookups += n
            due = d.lookups > d.cost
        if not due:
            return False
        final, staged = self.repo.object_dirs(prefix)
        suffix = self._suffix
        cut = -len(suffix)
        size = 62 - cut
        mine: set[str] = set()
        others: set[str] = set()
        for name in _names(final) + _names(staged):
            if len(name) == size and name.endswith(suffix):
                mine.add(prefix + name[:cut])
            else:
                others.add(name)
        with self._lock:
            self._known.update(mine)
            self._read.add(prefix)
            d.names = others
        return True
