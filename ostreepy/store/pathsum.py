"""Checksums of paths on disk as objects they would become (``ostree checksum``, ``ostree diff``).

libostree's ostree_checksum_file: a regular file or symlink is hashed as a content
object (its header from lstat, its xattrs unless ignored, then its bytes, read in
chunks); a directory as the dirmeta object of its owner, mode and xattrs. Nothing is
written. Owner overrides are ``ostree diff --owner-uid/--owner-gid``'s.
"""

from __future__ import annotations

import os
import stat
from typing import Optional

from ..errors import OstreeError
from .objects import DirMeta, FileHeader
from .repo import CHUNK, read_xattrs

__all__ = ["checksum_path"]


def checksum_path(path: str, ignore_xattrs: bool = False, st: Optional[os.stat_result] = None,
                  uid: Optional[int] = None, gid: Optional[int] = None) -> str:
    """The checksum ``path`` would have as an object (content, or dirmeta for a directory)."""
    if st is None:
        st = os.lstat(path)
    owner_uid = st.st_uid if uid is None else uid
    owner_gid = st.st_gid if gid is None else gid
    xattrs = () if ignore_xattrs else read_xattrs(path)
    if stat.S_ISDIR(st.st_mode):
        return DirMeta(owner_uid, owner_gid, st.st_mode, xattrs).checksum()
    if stat.S_ISLNK(st.st_mode):
        header = FileHeader(owner_uid, owner_gid, st.st_mode, os.readlink(path), xattrs)
        return header.new_hasher().hexdigest()
    if not stat.S_ISREG(st.st_mode):
        raise OstreeError(f"Unsupported file type for checksum: {path}")
    h = FileHeader(owner_uid, owner_gid, st.st_mode, "", xattrs).new_hasher()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()
