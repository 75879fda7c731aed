"""Fixtures for the container import tests: an image built with umoci from layer tars
the tests write, a registry on 127.0.0.1 (docker-registry, stopped by PID), and
tree snapshots for comparing with ``umoci unpack``."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ociclient"))
from ocitest_helpers import Registry  # noqa: E402

PY = sys.executable


def run(*argv, check=True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{argv} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def ostreepy(*argv, check=True) -> subprocess.CompletedProcess:
    return run(PY, "-m", "ostreepy", *argv, check=check)


# ------------------------------------------------------------------ layer tars


class Layer:
    """Builds one layer tar in memory, entry by entry, in the order given."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> "Layer":
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, mode, uid, gid, 1700000000
        self.tf.addfile(ti)
        return self

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0,
             xattrs: Optional[Dict[str, bytes]] = None) -> "Layer":
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, 1700000000
        if xattrs:
            ti.pax_headers = {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
        self.tf.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> "Layer":
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, 1700000000
        self.tf.addfile(ti)
        return self

    def hardlink(self, name: str, target: str) -> "Layer":
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.LNKTYPE, target, 0o644, 1700000000
        self.tf.addfile(ti)
        return self

    def raw(self, ti: tarfile.TarInfo, data: Optional[bytes] = None) -> "Layer":
        self.tf.addfile(ti, io.BytesIO(data) if data is not None else None)
        return self

    def bytes(self) -> bytes:
        self.tf.close()
        return self.buf.getvalue()


BINARY = b"\x00\x01\xfe\xffbin"


def standard_layers() -> List[bytes]:
    """Three layers exercising replacement, whiteouts, opaque dirs, hardlinks, setuid, xattrs."""
    l1 = (Layer().dir("usr").dir("usr/bin").dir("usr/lib").dir("usr/share").dir("usr/share/opq")
          .dir("etc").dir("var").dir("var/lib").dir("opt").dir("run").dir("run/lock")
          .file("usr/bin/tool", b"#!/bin/sh\necho tool\n", mode=0o4755)
          .hardlink("usr/bin/tool-link", "usr/bin/tool")
          .symlink("usr/bin/sh-link", "tool")
          .file("usr/lib/os-release", b'NAME="Test"\nPRETTY_NAME="Test OS 1"\n')
          .file("usr/share/opq/a", b"a\n").file("usr/share/opq/b", b"b\n")
          .file("etc/app.conf", b"v1\n").file("etc/removed.conf", b"gone\n")
          .file("etc/hostname", b"")
          .file("var/lib/data", b"state\n", uid=1000, gid=1000)
          .file("opt/thing", b"opt\n")
          .file("run/lock/stale", b"x")
          .file("usr/lib/xattr-file", b"x", xattrs={"user.one": b"1", "user.bin": BINARY})
          .bytes())
    l2 = (Layer().dir("usr").dir("usr/bin").dir("usr/share").dir("usr/share/opq").dir("etc")
          .file("etc/app.conf", b"v2\n")
          .file("etc/.wh.removed.conf", b"")
          .file("usr/share/opq/.wh..wh..opq", b"")
          .file("usr/share/opq/c", b"c\n")
          .file("usr/bin/new", b"new\n", mode=0o755)
          .bytes())
    l3 = (Layer().dir("usr").dir("usr/lib")
          .file("usr/lib/libA.so", b"\x7fELF" + b"A" * 5000, mode=0o755)
          .hardlink("usr/lib/libB.so", "usr/lib/libA.so")
          .file("usr/lib/xattr-file", b"y", xattrs={"user.two": b"2"})
          .bytes())
    return [l1, l2, l3]


def build_image(layout: Path, tag: str, layers: List[bytes], workdir: Path, labels: Dict[str, str] = None) -> None:
    if not layout.exists():
        run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:{tag}")
    for i, data in enumerate(layers):
        p = workdir / f"{tag}-layer{i}.tar"
        p.write_bytes(data)
        run("umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", p)
    args = []
    for k, v in (labels or {}).items():
        args += ["--config.label", f"{k}={v}"]
    run("umoci", "config", "--image", f"{layout}:{tag}", "--architecture", "amd64", "--os", "linux",
        "--created", "2024-01-02T03:04:05Z", *args)


# ------------------------------------------------------------------ trees


def snapshot(root: Path, skip_root: bool = True) -> Dict[str, Tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = "/" + str(p.relative_to(root))
            st = os.lstat(p)
            x = tuple(sorted((n, os.getxattr(p, n, follow_symlinks=False))
                             for n in os.listxattr(p, follow_symlinks=False) if n != "security.selinux"))
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                content = None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, x, content)
    return out


def apply_path_rules(rootfs: Path) -> None:
    """ostree-ext's rules, on an unpacked rootfs: etc -> usr/etc, children of run/tmp/proc/sys/dev
    dropped, empty usr/etc/hostname and resolv.conf removed (var and other top-levels kept)."""
    etc = rootfs / "etc"
    if etc.exists():
        (rootfs / "usr").mkdir(exist_ok=True)
        etc.rename(rootfs / "usr" / "etc")
    for d in ("run", "tmp", "proc", "sys", "dev"):
        p = rootfs / d
        if p.is_dir():
            for child in p.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    for name in ("hostname", "resolv.conf"):
        p = rootfs / "usr" / "etc" / name
        if p.is_file() and not p.is_symlink() and p.stat().st_size == 0:
            p.unlink()


def umoci_unpack(layout: Path, tag: str, dest: Path) -> Path:
    run("umoci", "unpack", "--image", f"{layout}:{tag}", dest)
    return dest / "rootfs"


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    r = Registry(str(tmp_path_factory.mktemp("container-reg"))).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def image_layout(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("image")
    layout = work / "oci"
    build_image(layout, "v1", standard_layers(), work, {"containers.bootc": "1",
                                                         "org.opencontainers.image.version": "1.0"})
    return layout


@pytest.fixture(scope="session")
def pushed(registry, image_layout, tmp_path_factory) -> Dict[str, str]:
    """The image in the registry twice: as built (gzip) and recompressed with zstd."""
    work = tmp_path_factory.mktemp("zstd")
    zlayout = work / "oci-zstd"
    run("skopeo", "copy", "--dest-compress", "--dest-compress-format", "zstd",
        f"oci:{image_layout}:v1", f"oci:{zlayout}:v1")
    host = registry.host
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{image_layout}:v1", f"docker://{host}/test/img:v1")
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{zlayout}:v1", f"docker://{host}/test/img-zstd:v1")
    return {"gzip": f"{host}/test/img:v1", "zstd": f"{host}/test/img-zstd:v1", "zlayout": str(zlayout)}


def chattr_free_rmtree(path: Path) -> None:
    if path.exists():
        subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)
