"""Snapshots of a directory tree, for comparing checkouts with their source.

A snapshot maps each relative path ('' for the root) to an ``Entry``:
(type, mode, uid, gid, xattrs, sha256 of the content, symlink target).
mtimes, sizes of directories, inode numbers and link counts are left out:
ostree does not keep them (hardlinks are checked separately, see ``inode_groups``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Dict, NamedTuple, Optional, Tuple

IGNORED_XATTRS = ("security.selinux",)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Entry(NamedTuple):
    type: str  # 'd', '-', 'l'
    mode: int  # permission bits incl. setuid/setgid/sticky (S_IMODE); 0o777 for symlinks
    uid: Optional[int]
    gid: Optional[int]
    xattrs: Tuple[Tuple[str, bytes], ...]
    sha256: Optional[str]
    target: Optional[str]

    def describe(self) -> str:
        parts = [f"{self.type}{self.mode:05o}", f"uid={self.uid}", f"gid={self.gid}"]
        if self.target is not None:
            parts.append(f"-> {self.target!r}")
        if self.sha256 is not None:
            parts.append(f"sha256={self.sha256[:16]}")
        if self.xattrs:
            parts.append("xattrs={" + ", ".join(f"{k}={v!r}" for k, v in self.xattrs) + "}")
        return " ".join(parts)


Snapshot = Dict[str, Entry]


def _hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _xattrs(path: str) -> Tuple[Tuple[str, bytes], ...]:
    out = []
    for name in os.listxattr(path, follow_symlinks=False):
        if name in IGNORED_XATTRS:
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        if value == b"":
            # libglnx skips zero-length values when reading xattrs: ostree never stores them.
            continue
        out.append((name, value))
    return tuple(sorted(out, key=lambda kv: kv[0].encode()))


def snapshot(root: os.PathLike) -> Snapshot:
    """Reads the whole tree under ``root`` (root itself included as '')."""
    root = os.fspath(root)
    snap: Snapshot = {}

    def visit(rel: str) -> None:
        path = os.path.join(root, rel) if rel else root
        st = os.lstat(path)
        m = st.st_mode
        if stat.S_ISDIR(m):
            snap[rel] = Entry("d", stat.S_IMODE(m), st.st_uid, st.st_gid, _xattrs(path), None, None)
            for name in sorted(os.listdir(path)):
                visit(os.path.join(rel, name) if rel else name)
        elif stat.S_ISLNK(m):
            snap[rel] = Entry("l", 0o777, st.st_uid, st.st_gid, _xattrs(path), None, os.readlink(path))
        elif stat.S_ISREG(m):
            snap[rel] = Entry("-", stat.S_IMODE(m), st.st_uid, st.st_gid, _xattrs(path), _hash_file(path), None)
        else:
            snap[rel] = Entry("?", stat.S_IMODE(m), st.st_uid, st.st_gid, (), None, None)

    visit("")
    return snap


def transform(
    snap: Snapshot,
    *,
    user_mode: bool = False,
    canonical: bool = False,
    owner: Optional[Tuple[int, int]] = None,
    no_xattrs: bool = False,
    ignore_root: bool = False,
    ignore_symlink_owner: bool = False,
    readable: bool = False,
    bare_user_objects: bool = False,
) -> Snapshot:
    """What ostree is expected to make of a source tree.

    user_mode: a ``checkout -U``: owners are not applied (compared as None),
        xattrs are dropped and regular files lose setuid/setgid.
    canonical: a commit with ``--canonical-permissions`` or into a
        ``bare-user-only`` repo: uid/gid 0, no xattrs, file and directory modes masked with 0o755.
    owner: ``--owner-uid/--owner-gid`` given at commit.
    no_xattrs: ``--no-xattrs`` at commit.
    ignore_root: forget the root directory's own metadata (checkout into an existing dir).
    readable: files without S_IRUSR get it (ostree does this for user-mode
        checkouts, and checkouts from bare-user-only repos are always user-mode).
    bare_user_objects: the files are hardlinks of ``bare-user`` objects (a
        ``-U`` checkout of a bare-user repo), whose own mode is
        ``(mode & 0o775) | S_IRUSR``: sticky and world-write bits are lost.
    """
    out: Snapshot = {}
    for path, e in snap.items():
        mode, uid, gid, xattrs = e.mode, e.uid, e.gid, e.xattrs
        if owner is not None:
            uid, gid = owner
        if canonical:
            uid = gid = 0
            xattrs = ()
            if e.type != "l":
                mode &= 0o755
        if no_xattrs:
            xattrs = ()
        if user_mode:
            uid = gid = None
            xattrs = ()
            if e.type == "-":
                mode &= ~(stat.S_ISUID | stat.S_ISGID)
        if (user_mode or readable) and e.type == "-":
            mode |= stat.S_IRUSR
        if bare_user_objects and e.type == "-" and e.sha256 != EMPTY_SHA256:
            mode = (mode & 0o775) | stat.S_IRUSR
        if e.type == "l" and ignore_symlink_owner:
            uid = gid = None
        if ignore_root and path == "":
            mode, uid, gid, xattrs = 0, None, None, ()
        out[path] = Entry(e.type, mode, uid, gid, xattrs, e.sha256, e.target)
    return out


def forget_owners(snap: Snapshot) -> Snapshot:
    return {p: e._replace(uid=None, gid=None) for p, e in snap.items()}


def subtree(snap: Snapshot, prefix: str) -> Snapshot:
    """The part of a snapshot under ``prefix``, re-rooted ('' becomes prefix itself)."""
    prefix = prefix.strip("/")
    out = {}
    for p, e in snap.items():
        if p == prefix:
            out[""] = e
        elif p.startswith(prefix + "/"):
            out[p[len(prefix) + 1 :]] = e
    return out


def diff(expected: Snapshot, actual: Snapshot, limit: int = 40) -> list:
    """Human-readable differences, empty when the snapshots are equal."""
    lines = []
    for p in sorted(set(expected) | set(actual)):
        shown = "/" + p
        if p not in actual:
            lines.append(f"missing   {shown}: expected {expected[p].describe()}")
        elif p not in expected:
            lines.append(f"unexpected {shown}: {actual[p].describe()}")
        elif expected[p] != actual[p]:
            e, a = expected[p], actual[p]
            fields = [f for f in Entry._fields if getattr(e, f) != getattr(a, f)]
            details = []
            for f in fields:
                ev, av = getattr(e, f), getattr(a, f)
                if f == "mode":
                    ev, av = f"{ev:05o}", f"{av:05o}"
                details.append(f"{f}: expected {ev!r}, got {av!r}")
            lines.append(f"differs   {shown}: " + "; ".join(details))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more differences"]
    return lines


def assert_same_tree(expected: Snapshot, actual: Snapshot, what: str = "tree") -> None:
    d = diff(expected, actual)
    assert not d, f"{what} differs from expectation ({len(d)} lines):\n  " + "\n  ".join(d)


def inode_groups(root: os.PathLike) -> Dict[Tuple[int, int], list]:
    """(st_dev, st_ino) -> paths, for every regular file under root."""
    groups: Dict[Tuple[int, int], list] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                groups.setdefault((st.st_dev, st.st_ino), []).append(os.path.relpath(p, root))
    return groups


def object_inodes(repo: os.PathLike) -> Dict[Tuple[int, int], str]:
    """(st_dev, st_ino) -> object file name, for the content objects of a repo."""
    out = {}
    objdir = os.path.join(repo, "objects")
    for sub in os.listdir(objdir):
        for n in os.listdir(os.path.join(objdir, sub)):
            if n.endswith(".file"):
                st = os.lstat(os.path.join(objdir, sub, n))
                out[(st.st_dev, st.st_ino)] = sub + n
    return out
