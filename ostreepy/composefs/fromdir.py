"""A composefs tree from a directory on disk, as ``mkcomposefs SOURCE IMAGE`` builds it.

Every entry is lstat'ed once (mode, owner, size, device, mtime unless
``use_epoch``); xattrs are read unless skipped. A non-empty regular file gets
its fs-verity digest (computed from its bytes) and the payload naming it by
that digest (``ab/cdef…``); files of at most 64 bytes are also inlined, as
libcomposefs does. Hard links are not detected (mkcomposefs does not either).
With a digest store, each backing file is copied there under its payload path
once, through a temporary name. The I/O layer over :mod:`.tree`.
"""

from __future__ import annotations

import os
import shutil
import stat

from .fsverity import fsverity_digest_of_stream
from .tree import ComposefsError, Node, RECOMMENDED_INLINE_CONTENT_MAX, digest_object_path

__all__ = ["tree_from_directory", "fill_digest_store"]


def _xattrs(path: str, user_only: bool) -> list[tuple[bytes, bytes]]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (95, 61):  # EOPNOTSUPP, ENODATA
            return []
        raise
    out = []
    for name in names:
        if user_only and not name.startswith("user."):
            continue
        out.append((os.fsencode(name), os.getxattr(path, name, follow_symlinks=False)))
    return out


def _load(path: str, use_epoch: bool, skip_xattrs: bool, user_xattrs: bool) -> Node:
    st = os.lstat(path)
    node = Node(st.st_mode)
    node.uid, node.gid, node.rdev, node.size = st.st_uid, st.st_gid, st.st_rdev & 0xFFFFFFFF, st.st_size
    if stat.S_ISREG(st.st_mode) and st.st_size:
        with open(path, "rb") as f:
            node.digest = fsverity_digest_of_stream(f)
            if st.st_size <= RECOMMENDED_INLINE_CONTENT_MAX:
                f.seek(0)
                data = f.read(st.st_size + 1)
                if len(data) != st.st_size:
                    raise ComposefsError(f"{path}: changed while being read")
                node.set_content(data)
        node.set_payload(digest_object_path(node.digest).encode())
    elif stat.S_ISLNK(st.st_mode):
        node.set_symlink_payload(os.fsencode(os.readlink(path)))
    if not use_epoch:
        node.mtime_sec, node.mtime_nsec = st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9
    if not skip_xattrs:
        for k, v in _xattrs(path, user_xattrs):
            node.set_xattr(k, v)
    return node


def tree_from_directory(path: str, *, use_epoch: bool = False, skip_xattrs: bool = False,
                        user_xattrs: bool = False, skip_devices: bool = False) -> Node:
    """The tree of directory ``path``, the way mkcomposefs reads it."""
    if skip_xattrs and user_xattrs:
        raise ComposefsError("--skip-xattrs and --user-xattrs conflict")
    root = _load(path, use_epoch, skip_xattrs, user_xattrs)
    if not root.is_dir():
        return root
    todo = [(path, root)]
    while todo:
        dpath, dnode = todo.pop()
        with os.scandir(dpath) as it:
            entries = list(it)
        for e in entries:
            if skip_devices and not e.is_dir(follow_symlinks=False):
                m = e.stat(follow_symlinks=False).st_mode
                if stat.S_ISBLK(m) or stat.S_ISCHR(m):
                    continue
            child = _load(e.path, use_epoch, skip_xattrs, user_xattrs)
            dnode.add_child(os.fsencode(e.name), child)
            if child.is_dir():
                todo.append((e.path, child))
    return root


def fill_digest_store(root: Node, source: str, store: str) -> None:
    """Copy each backing file of a tree read from ``source`` into ``store`` under its payload path."""
    todo = [(source, root)]
    while todo:
        dpath, node = todo.pop()
        for name, child in node.children.items():
            p = os.path.join(dpath, os.fsdecode(name))
            if child.is_dir():
                todo.append((p, child))
            elif stat.S_ISREG(child.mode) and child.payload and child.size and child.content is None:
                dest = os.path.join(store, os.fsdecode(child.payload))
                if os.path.exists(dest):
                    continue
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                tmp = dest + f".tmp-{os.getpid()}"
                shutil.copyfile(p, tmp)
                os.rename(tmp, dest)
