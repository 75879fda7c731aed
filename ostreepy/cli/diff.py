"""``ostree diff`` and ``ostree checksum``: comparing commits and directories on disk.

The walk is libostree's ostree_diff_dirs (ostree-diff.c): the entries of A, each
missing from B (removed), of another type (modified) or with another checksum
(modified; directories by their dirmeta, then walked), then those of B missing
from A (added, with everything under them). Two committed directories with the same
dirtree are skipped whole. Local paths (``/...`` or ``./...``) are hashed as objects
(:mod:`ostreepy.store.pathsum`); ``--owner-uid/--owner-gid`` apply to B's entries.
Lines are ``M    PATH``: committed paths absolute, local ones relative to their root.
"""

from __future__ import annotations

import argparse
import os
import stat
from typing import TYPE_CHECKING, List, Optional, Tuple

from ..errors import OstreeError

if TYPE_CHECKING:
    from ..store.repo import Repo


class _Node:
    """An entry of either side: ``kind`` is 'dir', 'reg', 'lnk' or 'other'."""

    kind = ""
    local = False

    def children(self) -> List[Tuple[str, "_Node"]]:
        raise NotImplementedError

    def child(self, name: str) -> "Optional[_Node]":
        raise NotImplementedError

    def checksum(self, ignore_xattrs: bool, uid: Optional[int], gid: Optional[int]) -> str:
        raise NotImplementedError

    def display(self) -> str:
        raise NotImplementedError


class _RepoNode(_Node):
    def __init__(self, repo: "Repo", path: str, csum: str, tree: Optional[str] = None) -> None:
        self.repo, self.path, self.csum, self.tree = repo, path, csum, tree
        if tree is not None:
            self.kind = "dir"
        else:
            mode = repo.load_file_header(csum).mode
            self.kind = "lnk" if stat.S_ISLNK(mode) else "reg"

    def _join(self, name: str) -> str:
        return self.path.rstrip("/") + "/" + name

    def children(self) -> List[Tuple[str, _Node]]:
        assert self.tree is not None
        dt = self.repo.load_dirtree(self.tree)
        out: List[Tuple[str, _Node]] = [(n, _RepoNode(self.repo, self._join(n), c)) for n, c in dt.files]
        out += [(n, _RepoNode(self.repo, self._join(n), m, t)) for n, t, m in dt.dirs]
        return out

    def child(self, name: str) -> Optional[_Node]:
        assert self.tree is not None
        dt = self.repo.load_dirtree(self.tree)
        for n, c in dt.files:
            if n == name:
                return _RepoNode(self.repo, self._join(n), c)
        for n, t, m in dt.dirs:
            if n == name:
                return _RepoNode(self.repo, self._join(n), m, t)
        return None

    def checksum(self, ignore_xattrs: bool, uid: Optional[int], gid: Optional[int]) -> str:
        return self.csum

    def display(self) -> str:
        return self.path


class _LocalNode(_Node):
    local = True

    def __init__(self, root: str, rel: str, st: os.stat_result) -> None:
        self.root, self.rel, self.st = root, rel, st
        mode = st.st_mode
        self.kind = ("dir" if stat.S_ISDIR(mode) else "reg" if stat.S_ISREG(mode)
                     else "lnk" if stat.S_ISLNK(mode) else "other")

    @property
    def path(self) -> str:
        return os.path.join(self.root, self.rel) if self.rel else self.root

    def children(self) -> List[Tuple[str, _Node]]:
        out: List[Tuple[str, _Node]] = []
        for name in sorted(os.listdir(self.path)):
            node = self.child(name)
            if node is not None:
                out.append((name, node))
        return out

    def child(self, name: str) -> Optional[_Node]:
        rel = os.path.join(self.rel, name) if self.rel else name
        try:
            st = os.lstat(os.path.join(self.root, rel))
        except FileNotFoundError:
            return None
        return _LocalNode(self.root, rel, st)

    def checksum(self, ignore_xattrs: bool, uid: Optional[int], gid: Optional[int]) -> str:
        from ..store.pathsum import checksum_path
        return checksum_path(self.path, ignore_xattrs, self.st, uid, gid)

    def display(self) -> str:
        return self.rel


class _Diff:
    def __init__(self, ignore_xattrs: bool, uid: Optional[int], gid: Optional[int]) -> None:
        self.ignore_xattrs, self.uid, self.gid = ignore_xattrs, uid, gid
        self.modified: List[_Node] = []
        self.removed: List[_Node] = []
        self.added: List[_Node] = []

    def _sum(self, node: _Node, is_b: bool) -> str:
        return node.checksum(self.ignore_xattrs, self.uid if is_b else None, self.gid if is_b else None)

    def dirs(self, a: _Node, b: _Node) -> None:
        if isinstance(a, _RepoNode) and isinstance(b, _RepoNode) and a.tree == b.tree:
            return
        for name, ca in a.children():
            cb = b.child(name)
            if cb is None:
                self.removed.append(ca)
            elif ca.kind != cb.kind:
                self.modified.append(ca)
            else:
                if self._sum(ca, False) != self._sum(cb, True):
                    self.modified.append(ca)
                if ca.kind == "dir":
                    self.dirs(ca, cb)
        for name, cb in b.children():
            if a.child(name) is None:
                self.added.append(cb)
                if cb.kind == "dir":
                    self.add_all(cb)

    def add_all(self, d: _Node) -> None:
        for _name, c in d.children():
            self.added.append(c)
            if c.kind == "dir":
                self.add_all(c)


def _root(repo: "Repo", arg: str) -> _Node:
    if arg.startswith("/") or arg.startswith("./"):
        return _LocalNode(arg, "", os.lstat(arg))
    csum = repo.resolve_rev(arg)
    assert csum is not None
    c = repo.load_commit(csum)
    return _RepoNode(repo, "/", c.root_meta, c.root_tree)


def format_size(n: int) -> str:
    """g_format_size_full(n, 0): SI units, one decimal."""
    if n < 1000:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB", "EB"):
        value /= 1000.0
        if value < 1000 or unit == "EB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def cmd_diff(args: argparse.Namespace) -> int:
    from ..store.objects import ObjectType
    from ..store.repo import RepoMode
    from .repo import UsageError, _open_repo, _print
    if not args.revs:
        raise UsageError("REV must be specified")
    if len(args.revs) == 1:
        src, target = args.revs[0] + "^", args.revs[0]
    else:
        src, target = args.revs[0], args.revs[1]
    repo = _open_repo(args)
    fs_diff = args.fs_diff or not args.stats
    if fs_diff:
        a, b = _root(repo, src), _root(repo, target)
        ignore = (args.no_xattrs or repo.config.get_bool("core", "disable-xattrs", False)
                  or repo.mode is RepoMode.BARE_USER_ONLY)
        d = _Diff(ignore, args.owner_uid, args.owner_gid)
        d.dirs(a, b)
        for prefix, nodes in (("M", d.modified), ("D", d.removed), ("A", d.added)):
            for node in nodes:
                _print(f"{prefix}    {node.display()}")
    if args.stats:
        ra = repo.traverse_commit(repo.resolve_rev(src) or "")
        rb = repo.traverse_commit(repo.resolve_rev(target) or "")
        common = [k for k in ra if k in rb]
        _print(f"[A] Object Count: {len(ra)}")
        _print(f"[B] Object Count: {len(rb)}")
        _print(f"Common Object Count: {len(common)}")
        total = 0
        for csum, objtype in common:
            try:
                total += os.lstat(repo.object_path(csum, objtype)).st_size
            except FileNotFoundError:
                if objtype is not ObjectType.COMMIT:
                    raise
        _print(f"Common Object Size: {format_size(total)}")
    return 0


def cmd_checksum(args: argparse.Namespace) -> int:
    from ..store.pathsum import checksum_path
    from .repo import _print
    if not args.paths:
        raise OstreeError("A filename must be given")
    _print(checksum_path(args.paths[0], args.ignore_xattrs))
    return 0
