"""Fixtures for the ostree-encapsulated image tests: commits made by the real ``ostree``
CLI, OCI layouts checked with skopeo, a docker-registry on a free 127.0.0.1 port."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from typing import Dict, Tuple

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ociclient"))

from ocitest_helpers import Registry  # noqa: E402

TIMESTAMP = "2024-01-01 00:00:00 +0000"
LONG = "d" * 90


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), capture_output=True, text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return run("skopeo", "--insecure-policy", *args)


def build_tree(root: str) -> None:
    """Regular files, xattrs (binary values, security.selinux), setuid, symlinks
    (short, long, denormal), a hardlink, usr/etc, an empty file, >300 entries, long
    paths, a file above ostree-ext's 127 KiB inline limit, owners and a dir xattr."""
    def w(rel: str, data: bytes, mode: int = 0o644) -> str:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    hello = w("usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o4755)
    os.setxattr(hello, "user.bin", b"\x00\xff\x10\n=")
    os.setxattr(hello, "trusted.x", b"t")
    os.link(hello, os.path.join(root, "usr/bin/hello2"))
    os.symlink("hello", os.path.join(root, "usr/bin/hl"))
    os.makedirs(os.path.join(root, "usr/lib"), exist_ok=True)
    os.symlink("../..//sbin/chkconfig", os.path.join(root, "usr/lib/denormal"))
    os.makedirs(os.path.join(root, "usr/share"), exist_ok=True)
    os.symlink("../../" + "x" * 120, os.path.join(root, "usr/share/longlink"))
    w(f"usr/share/{LONG}/file", b"deep\n")
    conf = w("usr/etc/foo.conf", b"conf=1\n", 0o600)
    os.chown(conf, 12, 34)
    os.setxattr(conf, "security.selinux", b"system_u:object_r:etc_t:s0\x00")
    w("usr/etc/sub/bar", b"bar\n")
    w("usr/share/empty", b"")
    for i in range(310):
        w(f"usr/share/many/f{i:03d}", f"{i}\n".encode())
    w("usr/share/big", hashlib.sha256(b"seed").digest() * 10000)  # 320 KB
    os.setxattr(os.path.join(root, "usr/share"), "user.dir", b"\x01\x02")
    var = os.path.join(root, "var/lib/app")
    os.makedirs(var)
    os.chmod(var, 0o750)
    os.chown(var, 5, 6)


def build_canonical_tree(root: str) -> None:
    def w(rel: str, data: bytes, mode: int = 0o644) -> None:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)

    w("usr/bin/tool", b"tool\n", 0o755)
    w("usr/etc/x.conf", b"x\n")
    w("usr/share/empty", b"")
    os.symlink("tool", os.path.join(root, "usr/bin/t"))


@pytest.fixture(scope="session")
def source(tmp_path_factory) -> Dict[str, str]:
    """An archive repo with branch ``main`` (the full tree, version, bootable, cmd,
    detached metadata) and ``canon`` (canonical permissions, for bare-user-only)."""
    d = tmp_path_factory.mktemp("src")
    repo, tree, canon = str(d / "repo"), str(d / "tree"), str(d / "canon")
    build_tree(tree)
    build_canonical_tree(canon)
    run("ostree", "init", f"--repo={repo}", "--mode=archive")
    main = run("ostree", "commit", f"--repo={repo}", "-b", "main", f"--tree=dir={tree}", "-s", "Test OS 1.2",
               f"--timestamp={TIMESTAMP}", "--add-metadata-string=version=1.2",
               "--add-metadata=ostree.bootable=true", "--add-metadata=ostree.container-cmd=['/usr/bin/hello']",
               "--add-detached-metadata-string=signed-by=nobody").stdout.strip()
    c = run("ostree", "commit", f"--repo={repo}", "-b", "canon", f"--tree=dir={canon}",
            "--canonical-permissions", f"--timestamp={TIMESTAMP}").stdout.strip()
    return {"repo": repo, "main": main, "canon": c, "tree": tree}


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    r = Registry(str(tmp_path_factory.mktemp("registry"))).start()
    yield r
    r.stop()


Entry = Tuple[str, int, int, int, Tuple[Tuple[str, bytes], ...], str]


def snapshot(root: str) -> Dict[str, Entry]:
    """path -> (type, mode, uid, gid, xattrs, content sha256 or link target)."""
    out: Dict[str, Entry] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in [""] + dirs + files if dirpath == root else dirs + files:
            p = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            xattrs = tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False))
                                  for n in os.listxattr(p, follow_symlinks=False) if n != "user.ostreemeta"))
            if stat.S_ISLNK(st.st_mode):
                kind, what = "l", os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                kind, what = "d", ""
            else:
                with open(p, "rb") as f:
                    kind, what = "-", hashlib.sha256(f.read()).hexdigest()
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, xattrs, what)
    return out
