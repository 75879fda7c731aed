"""Writing a commit as a tar stream, as ``ostree export`` does.

Paths are as libostree's file_to_pathstr makes them: relative, without ``./``
(the root is ``.``, or the prefix), owners numeric, every mtime the commit's timestamp.
Unlike libostree's gnutar output, xattrs are kept, as PAX ``SCHILY.xattr``
records, so ``commit --tree=tar=`` of the result gives back the same tree.
A regular file whose content object was already written is a hard link to the
first path written with it, as ostree 2023.7+ exports (write_directory_to_libarchive_recurse's
seen_checksums): a tree imported from a tar with hard links keeps them.
"""

from __future__ import annotations

import stat
import tarfile
from typing import BinaryIO, Optional

from ..errors import OstreeError
from .objects import xattr_name
from .repo import Repo


def _xattr_pax(xattrs) -> dict:
    # Descending order on purpose: libarchive hands PAX xattrs to libostree in
    # reverse, and ostree before 2023 hashed them in that order, so this way
    # old and new ostree both re-import our tars to the same checksums.
    xattrs = sorted(xattrs, reverse=True)
    return {"SCHILY.xattr." + xattr_name(n).decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
            for n, v in xattrs}


def export_commit(repo: Repo, rev: str, out: BinaryIO, subpath: Optional[str] = None,
                  prefix: Optional[str] = None, xattrs: bool = True) -> None:
    """Write the tree of commit ``rev`` (or its ``subpath``) to ``out`` as a PAX tar stream, as
    ``ostree export`` does, with xattrs unless told not to."""
    csum = repo.resolve_rev(rev)
    assert csum is not None
    ts = repo.load_commit(csum).timestamp
    kind, found = repo.resolve_path(csum, subpath or "/")
    if kind != "dir":
        raise OstreeError(f"No such directory in commit: {subpath}")
    tree, meta = found
    base = prefix.strip("/") + "/" if prefix and prefix.strip("/") else ""
    seen: dict[str, str] = {}  # content checksum -> first path written with it
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:

        def add_dir(path: str, tree_csum: str, meta_csum: str) -> None:
            dm = repo.load_dirmeta(meta_csum)
            ti = tarfile.TarInfo(path if path else ".")
            ti.type = tarfile.DIRTYPE
            ti.mode = stat.S_IMODE(dm.mode)
            ti.uid, ti.gid, ti.mtime = dm.uid, dm.gid, ts
            ti.uname = ti.gname = ""
            if xattrs and dm.xattrs:
                ti.pax_headers = _xattr_pax(dm.xattrs)
            tf.addfile(ti)
            dt = repo.load_dirtree(tree_csum)
            for name, fcsum in dt.files:
                header, stream = repo.load_file(fcsum)
                fi = tarfile.TarInfo(path + name)
                fi.mode = stat.S_IMODE(header.mode)
                fi.uid, fi.gid, fi.mtime = header.uid, header.gid, ts
                fi.uname = fi.gname = ""
                if xattrs and header.xattrs:
                    fi.pax_headers = _xattr_pax(header.xattrs)
                if header.is_symlink:
                    fi.type = tarfile.SYMTYPE
                    fi.linkname = header.symlink_target
                    tf.addfile(fi)
                elif fcsum in seen:
                    if stream is not None:
                        stream.close()
                    fi.type = tarfile.LNKTYPE
                    fi.linkname = seen[fcsum]
                    tf.addfile(fi)
                else:
                    seen[fcsum] = path + name
                    fi.size = repo.content_size(fcsum)
                    assert stream is not None
                    with stream:
                        tf.addfile(fi, stream)
            for name, t, m in dt.dirs:
                add_dir(path + name + "/", t, m)

        add_dir(base, tree, meta)
