"""Builds the edge-case tree the compatibility tests commit with both tools.

Everything is deterministic (fixed contents, a seeded PRNG for the large file),
so two calls give trees with identical ostree checksums.  Must run as root:
it chowns files to other users and sets setuid bits.

The same tree can be written as a tar file (``build_tar``), the way
``ostree commit --tree=tar=`` reads it: PAX headers carrying the xattrs as
``SCHILY.xattr.user.*``, numeric owners, hardlinks as tar link entries.
"""

from __future__ import annotations

import io
import os
import random
import stat
import tarfile
from pathlib import Path

LARGE_SIZE = 4 * 1024 * 1024 + 12345  # several MiB, not a multiple of any block size
MANY_ENTRIES = 320  # > 255 entries: the dirtree needs two-byte framing offsets
DEEP_LEVELS = 40

# Names chosen to exercise UTF-8 ordering (strcmp on bytes) and odd characters.
UNICODE_DIR = "ünïcødé"
UNICODE_FILES = ["日本語.txt", "emoji-🙂", "ñ name with spaces", "Zebra", "zebra", "ä"]
LONG_NAME = "L" * 200 + ".txt"

XATTRS_FILE = {
    "user.a": b"1",
    "user.bin": b"\x00\x01\x02\xff\x00binary\x00",
    "user.zz-last": b"last value",
    "user.Upper": b"\xff" * 300,  # > 255 bytes: wide framing inside the header
}
XATTRS_DIR = {"user.dir": b"\x00dir\x00", "user.other": b"x"}
XATTRS_ROOT = {"user.rootattr": b"r\x00oot"}
# A zero-length xattr value: ostree (libglnx) skips it when reading the source.
XATTRS_WITH_EMPTY = {"user.nonempty": b"v", "user.emptyval": b""}


def large_content() -> bytes:
    return random.Random(20240101).randbytes(LARGE_SIZE)


def _entries():
    """Yields the tree as a list of entry dicts, parents before children.

    kind: 'dir' | 'file' | 'symlink' | 'hardlink' (target = earlier file path)
    """
    E = []

    def d(path, mode=0o755, uid=0, gid=0, xattrs=None):
        E.append(dict(kind="dir", path=path, mode=mode, uid=uid, gid=gid, xattrs=xattrs or {}))

    def f(path, data, mode=0o644, uid=0, gid=0, xattrs=None):
        E.append(dict(kind="file", path=path, data=data, mode=mode, uid=uid, gid=gid, xattrs=xattrs or {}))

    def s(path, target, uid=0, gid=0):
        E.append(dict(kind="symlink", path=path, target=target, uid=uid, gid=gid, mode=0o777, xattrs={}))

    def h(path, target):
        E.append(dict(kind="hardlink", path=path, target=target))

    d("", 0o755, xattrs=XATTRS_ROOT)
    f("empty", b"")
    f("large.bin", large_content())
    f("hello.txt", b"hello\n")
    f(".dotfile", b"dot\n")
    f("exec.sh", b"#!/bin/sh\necho hi\n", 0o755)
    f("groupw.txt", b"group writable\n", 0o664)
    f("worldw.txt", b"world writable\n", 0o666)
    f("readonly", b"read only\n", 0o444)
    f("setuid", b"setuid binary\n", 0o4755)
    f("setgid", b"setgid binary\n", 0o2755)
    f("setuidgid", b"both\n", 0o6750)
    f("sticky", b"sticky file\n", 0o1644)
    f("mode0000", b"nobody may read\n", 0o000)
    f("xattrs.txt", b"with xattrs\n", 0o644, xattrs=XATTRS_FILE)
    f("xattr-empty-value", b"empty xattr value\n", 0o644, xattrs=XATTRS_WITH_EMPTY)
    f("owned-1000", b"owned by 1000\n", 0o640, uid=1000, gid=1000)
    f("owned-gid", b"group 4321\n", 0o644, uid=0, gid=4321)
    f("owned-big", b"big ids\n", 0o600, uid=65534, gid=100000)
    f("suid-other", b"setuid other\n", 0o4711, uid=1001, gid=1002)
    f(LONG_NAME, b"long name\n")
    f("hardlink-a", b"hardlinked content\n", 0o644, xattrs={"user.hl": b"shared"})
    h("hardlink-c", "hardlink-a")
    d("links")
    s("links/rel", "../hello.txt")
    s("links/abs", "/etc/passwd")
    s("links/dangling", "does/not/exist")
    s("links/dirlink", "../many")
    s("links/dot", ".")
    s("links/owned", "../hello.txt", uid=1000, gid=1000)
    s("links/unicode", f"../{UNICODE_DIR}/日本語.txt")
    s("links/long", "x" * 1000)
    d("many")
    for i in range(MANY_ENTRIES):
        # every 16th file has the same content: deduplicated objects
        data = b"same\n" if i % 16 == 0 else f"file number {i}\n".encode()
        f(f"many/f{i:03d}", data)
    d("many/subdir")
    f("many/subdir/inner", b"inner\n")
    h("many/hardlink-b", "hardlink-a")
    p = "deep"
    d(p)
    for i in range(DEEP_LEVELS):
        p += f"/d{i:02d}"
        d(p, 0o750 if i % 2 else 0o755)
    f(p + "/leaf.txt", b"at the bottom\n")
    d("xattrdir", 0o750, xattrs=XATTRS_DIR)
    f("xattrdir/inside", b"inside xattrdir\n", xattrs={"user.inner": b"\x00"})
    d("stickydir", 0o1777)
    f("stickydir/tmpfile", b"tmp\n", 0o600, uid=1000, gid=1000)
    d("setgiddir", 0o2775, uid=7, gid=8)
    f("setgiddir/file", b"in setgid dir\n", 0o664, uid=7, gid=8)
    d("otherdir", 0o700, uid=1234, gid=5678)
    f("otherdir/private", b"private\n", 0o600, uid=1234, gid=5678)
    d("emptydir")
    d("mode0dir", 0o000)  # empty directory with mode 0000
    d(UNICODE_DIR)
    for name in UNICODE_FILES:
        f(f"{UNICODE_DIR}/{name}", f"{name}\n".encode())
    d("usr")
    d("usr/etc")
    f("usr/etc/os-release", b'NAME="Edge"\nPRETTY_NAME="Edge tree"\n')
    # whiteout-looking files (only meaningful for checkout --whiteouts)
    d("wh")
    f("wh/.wh.victim", b"")
    f("wh/keep", b"keep\n")
    return E


ENTRIES = _entries()


def _set_xattrs(path: str, xattrs: dict, follow: bool = True) -> None:
    for k, v in xattrs.items():
        os.setxattr(path, k, v, follow_symlinks=follow)


def build_tree(dest: os.PathLike) -> Path:
    """Creates the edge-case tree at ``dest`` (which must not exist)."""
    dest = Path(dest)
    os.mkdir(dest)
    dirs = []
    for e in ENTRIES:
        p = os.path.join(dest, e["path"]) if e["path"] else str(dest)
        if e["kind"] == "dir":
            if e["path"]:
                os.mkdir(p)
            dirs.append((p, e))
        elif e["kind"] == "file":
            with open(p, "wb") as fh:
                fh.write(e["data"])
            os.chown(p, e["uid"], e["gid"])
            _set_xattrs(p, e["xattrs"])
            os.chmod(p, e["mode"])  # after chown: chown clears setuid
        elif e["kind"] == "symlink":
            os.symlink(e["target"], p)
            os.lchown(p, e["uid"], e["gid"])
        elif e["kind"] == "hardlink":
            os.link(os.path.join(dest, e["target"]), p)
    # Directory metadata last (mode 0000 dirs and such must not block creation).
    for p, e in reversed(dirs):
        os.chown(p, e["uid"], e["gid"])
        _set_xattrs(p, e["xattrs"])
        os.chmod(p, e["mode"])
    return dest


def _tarinfo(e: dict, name: str, ostree_order: bool) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime = 1700000000
    ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
    ti.uname = ti.gname = ""
    ti.mode = e.get("mode", 0o644)
    xattrs = [(k, v) for k, v in e.get("xattrs", {}).items() if v]
    if ostree_order:
        xattrs.sort(key=lambda kv: kv[0].encode(), reverse=True)
    if xattrs:
        # tarfile encodes str PAX values as UTF-8; binary values need the
        # surrogateescape round trip so raw bytes land in the header unchanged.
        ti.pax_headers = {
            "SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape") for k, v in xattrs
        }
    return ti


def build_tar(dest: os.PathLike, prefix: str = "", ostree_order: bool = True) -> Path:
    """Writes the edge-case tree as a PAX tar file at ``dest``.

    Entries are named ``prefix + path`` (the root directory as ``prefix`` or
    ``./``), parents before children, with numeric owners only.

    ostree's tar import (2022.7) keeps xattrs in *reverse archive order*
    without sorting them, and hashes them that way.  ``ostree_order=True``
    writes each entry's xattr records in reverse strcmp order, so that ostree
    ends up with canonical (sorted) xattrs and the same objects as a commit of
    the directory.  ``ostree_order=False`` writes them in the tree's own
    (unsorted) order, for the test of that quirk.  Zero-length values are left
    out (libarchive would keep them, the directory reader would not).
    """
    dest = Path(dest)
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape") as tf:
        for e in ENTRIES:
            name = (prefix + e["path"]) if e["path"] else (prefix or "./")
            if e["kind"] == "dir":
                ti = _tarinfo(e, name, ostree_order)
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif e["kind"] == "file":
                ti = _tarinfo(e, name, ostree_order)
                ti.type = tarfile.REGTYPE
                ti.size = len(e["data"])
                tf.addfile(ti, io.BytesIO(e["data"]))
            elif e["kind"] == "symlink":
                ti = _tarinfo(e, name, ostree_order)
                ti.type = tarfile.SYMTYPE
                ti.linkname = e["target"]
                tf.addfile(ti)
            elif e["kind"] == "hardlink":
                target = next(x for x in ENTRIES if x["path"] == e["target"])
                ti = _tarinfo(target, name, ostree_order)
                ti.type = tarfile.LNKTYPE
                ti.linkname = prefix + e["target"]
                tf.addfile(ti)
    return dest


def build_small_tree(dest: os.PathLike, variant: int = 0) -> Path:
    """A small tree (a handful of files) for tests that need several commits.

    Different ``variant`` values give different trees sharing most objects.
    """
    dest = Path(dest)
    os.makedirs(dest / "sub" / "deeper")
    (dest / "a.txt").write_bytes(b"alpha\n")
    (dest / "sub" / "b.txt").write_bytes(b"beta\n")
    (dest / "sub" / "deeper" / "c.txt").write_bytes(f"gamma {variant}\n".encode())
    (dest / f"only-in-{variant}").write_bytes(f"variant {variant}\n".encode())
    os.symlink("a.txt", dest / "link")
    os.chmod(dest, 0o755)
    for p in (dest / "sub", dest / "sub" / "deeper"):
        os.chmod(p, 0o755)
    return dest


def count_entries(root: os.PathLike) -> dict:
    """Counts of entry types under ``root`` (for sanity checks of the builder)."""
    counts = {"dir": 0, "file": 0, "symlink": 0}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISDIR(st.st_mode):
                counts["dir"] += 1
            elif stat.S_ISLNK(st.st_mode):
                counts["symlink"] += 1
            else:
                counts["file"] += 1
    return counts
