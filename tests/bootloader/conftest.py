"""Fixtures for the bootloader tests: a real sysroot made by ``ostree admin``
and a helper that runs ``bootctl list`` on a boot directory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import attrs
import pytest

KVER = "6.1.0-test"


def run(*args: str, env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(args, check=check, capture_output=True, text=True, env=e)


@attrs.frozen
class Commit:
    """One tiny OS tree committed to the sysroot repo."""

    ref: str
    os_release: str
    kernel: bytes
    initramfs: Optional[bytes]
    devicetree: Optional[bytes]
    version: Optional[str]

    @property
    def bootcsum(self) -> str:
        h = hashlib.sha256(self.kernel)
        if self.initramfs is not None:
            h.update(self.initramfs)
        if self.devicetree is not None:
            h.update(self.devicetree)
        return h.hexdigest()


# Ref names must not look like hex: ostree resolves "b" as a partial commit checksum.
# The deploy steps of the shared sysroot, in order: (osname, commit, ostree admin deploy args)
C1 = Commit("os/one", 'NAME="My OS"\nID=myos\nVERSION_ID=1\nPRETTY_NAME="My OS 1"\n',
            b"K1\n", b"I1\n", b"D1\n", "1.0")
C2 = Commit("os/two", "NAME=\"My OS\"\nID=myos\nPRETTY_NAME=\"Bob's OS 2.0 beta\"\n",
            b"K2\n", None, None, "2.0")
C3 = Commit("os/three", "ID=other\nPRETTY_NAME='Other OS'\n", b"K3\n", b"I3\n", None, None)
DEPLOYS = [
    ("myos", C1, ["--karg=root=UUID=1234", "--karg=rw", '--karg=foo="a b"',
                  "--karg-append=console=tty0", "--karg-append=console=ttyS0,115200",
                  "--karg-append=quiet"]),
    ("myos", C2, ["--karg=root=LABEL=sys", "--karg-append=console=ttyS1",
                  "--karg-delete=console=tty0"]),
    ("other", C3, ["--karg=root=UUID=5678"]),
]


@attrs.frozen
class RealSysroot:
    path: Path

    @property
    def boot(self) -> Path:
        return self.path / "boot"

    def bootversion(self) -> int:
        return int(os.readlink(self.boot / "loader").rsplit(".", 1)[1])

    def entries_dir(self) -> Path:
        return self.boot / "loader" / "entries"


def _write_tree(tree: Path, c: Commit) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    mod = tree / "usr/lib/modules" / KVER
    mod.mkdir(parents=True)
    (tree / "usr/etc").mkdir(parents=True)
    (tree / "usr/etc/hostname").write_text("box\n")
    (mod / "vmlinuz").write_bytes(c.kernel)
    if c.initramfs is not None:
        (mod / "initramfs.img").write_bytes(c.initramfs)
    if c.devicetree is not None:
        (mod / "devicetree").write_bytes(c.devicetree)
    (tree / "usr/lib/os-release").write_text(c.os_release)


def _unimmutable(path: Path) -> None:
    deploy = path / "ostree" / "deploy"
    if deploy.exists():
        dirs = [str(p) for p in deploy.glob("*/deploy/*") if p.is_dir() and not p.is_symlink()]
        if dirs:
            subprocess.run(["chattr", "-i", *dirs], check=False, capture_output=True)


def build_sysroot(root: Path) -> RealSysroot:
    sr = root / "sysroot"
    sr.mkdir()
    repo = sr / "ostree/repo"
    run("ostree", "admin", "init-fs", str(sr))
    for osname in dict.fromkeys(o for o, _, _ in DEPLOYS):
        run("ostree", "admin", f"--sysroot={sr}", "os-init", osname)
    run("ostree", f"--repo={repo}", "config", "set", "sysroot.bootloader", "none")
    tree = root / "tree"
    for osname, c, args in DEPLOYS:
        _write_tree(tree, c)
        meta = [f"--add-metadata-string=version={c.version}"] if c.version else []
        run("ostree", f"--repo={repo}", "commit", "-b", c.ref, *meta, str(tree))
        run("ostree", "admin", f"--sysroot={sr}", "deploy", f"--os={osname}", c.ref, *args)
    return RealSysroot(sr)


@pytest.fixture(scope="session")
def real_sysroot():
    d = Path(tempfile.mkdtemp(prefix="bl-sysroot-"))
    try:
        yield build_sysroot(d)
    finally:
        _unimmutable(d / "sysroot")
        shutil.rmtree(d, ignore_errors=True)


def bootctl_list(boot_dir: Path) -> List[dict]:
    """``bootctl --json=short list`` on ``boot_dir`` (bind-mounted so that it
    is the root of a mount, as bootctl insists)."""
    mnt = Path(tempfile.mkdtemp(prefix="bl-mnt-"))
    run("mount", "--bind", str(boot_dir), str(mnt))
    try:
        p = run("bootctl", "--no-pager", "--json=short", f"--esp-path={mnt}", "list",
                env={"SYSTEMD_RELAX_ESP_CHECKS": "1", "SYSTEMD_RELAX_XBOOTLDR_CHECKS": "1"})
    finally:
        run("umount", str(mnt))
        mnt.rmdir()
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
