"""A composefs mount of our image (EROFS metadata + overlayfs over the repository's objects)
is the same tree as an ``ostree checkout`` of the commit, where the kernel allows the mounts."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from ostreepy import porcelain
from ostreepy.store.repo import Repo

from .test_ostree import TIMESTAMP, make_tree


def _walk(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = None
            out[rel] = (stat.S_IFMT(st.st_mode), st.st_mode & 0o7777, st.st_uid, st.st_gid, what)
    return out


def test_mounted_image_is_the_checkout(tmp_path) -> None:
    tree = tmp_path / "tree"
    make_tree(tree)
    repo = tmp_path / "repo"
    Repo.init(str(repo), "bare-user").close()
    porcelain.commit(str(repo), str(tree), branch="main", timestamp=TIMESTAMP, owner_uid=0, owner_gid=0,
                     no_xattrs=True, generate_composefs_metadata=True)
    porcelain.checkout_composefs(str(repo), "main", tmp_path / "img.cfs")
    porcelain.checkout(str(repo), "main", tmp_path / "co")
    meta = Path(tempfile.mkdtemp(prefix="cfs-meta-"))
    root = Path(tempfile.mkdtemp(prefix="cfs-root-"))
    mounted = []
    try:
        p = subprocess.run(["mount", "-t", "erofs", "-o", "loop,ro", str(tmp_path / "img.cfs"), str(meta)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount an EROFS image here (root, loop devices and erofs needed): {p.stderr}")
        mounted.append(meta)
        p = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"ro,lowerdir={meta}::{repo}/objects,redirect_dir=on,metacopy=on", str(root)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount overlayfs with a data-only layer here (Linux >= 6.5): {p.stderr}")
        mounted.append(root)
        got = _walk(root)
        want = _walk(tmp_path / "co")
        # ostree adds these mount points to the image only
        extra = {k: v for k, v in got.items() if k not in want}
        assert sorted(extra) == ["boot", "sysroot", "var"]
        assert {k: v for k, v in got.items() if k in want} == want
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", str(m)], capture_output=True)
        os.rmdir(root)
        os.rmdir(meta)
