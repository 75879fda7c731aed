"""Fixtures for the sysroot tests: tiny bootable OS trees, folder sysroots
made by ``ostreepy admin`` and by the real ``ostree admin`` (2022.7), and a
comparable dump of a sysroot."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

KVER = "6.1.0-test"
OS_RELEASE = 'NAME="My OS"\nID=myos\nVERSION_ID=1\nPRETTY_NAME="My OS 1"\n'
# ostree 2022.7 always writes ostree-<N>-<os>.conf; we do with this sysroot option
NAMING_1_ENV = {"OSTREE_SYSROOT_OPTS": "bootloader-naming-1"}


def run(*args: str, env: Optional[Dict[str, str]] = None, check: bool = True,
        user: Optional[int] = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("OSTREEPY_FAULT", None)
    if env:
        e.update(env)
    argv = list(args)
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
    p = subprocess.run(argv, capture_output=True, text=True, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ours(*args: str, **kw) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "ostreepy", "admin", *args, **kw)


def real(*args: str, **kw) -> subprocess.CompletedProcess:
    return run("ostree", "admin", *args, **kw)


def tool(name: str):
    return ours if name == "ours" else real


def write_tree(root: Path, *, kernel: bytes = b"FAKEKERNEL\n", initramfs: Optional[bytes] = b"FAKEINITRD\n",
               devicetree: Optional[bytes] = None, etc: Optional[Dict[str, Optional[str]]] = None,
               os_release: str = OS_RELEASE, legacy: bool = False, var: Optional[Dict[str, str]] = None) -> None:
    """A small OS tree: kernel (modules layout, or the legacy
    ``usr/lib/ostree-boot`` one), os-release, ``/usr/etc`` files (value None:
    a directory)."""
    if root.exists():
        shutil.rmtree(root)
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/true").write_text("bin\n")
    (root / "usr/bin/true").chmod(0o755)
    (root / "usr/lib").mkdir(parents=True, exist_ok=True)
    (root / "usr/lib/os-release").write_text(os_release)
    if legacy:
        h = hashlib.sha256(kernel + (initramfs or b"") + (devicetree or b"")).hexdigest()
        b = root / "usr/lib/ostree-boot"
        b.mkdir(parents=True)
        (b / f"vmlinuz-{KVER}-{h}").write_bytes(kernel)
        if initramfs is not None:
            (b / f"initramfs-{KVER}.img-{h}").write_bytes(initramfs)
    else:
        m = root / "usr/lib/modules" / KVER
        m.mkdir(parents=True)
        (m / "vmlinuz").write_bytes(kernel)
        if initramfs is not None:
            (m / "initramfs.img").write_bytes(initramfs)
        if devicetree is not None:
            (m / "devicetree").write_bytes(devicetree)
    e = root / "usr/etc"
    e.mkdir(parents=True)
    (e / "os-release").symlink_to("../usr/lib/os-release")
    for name, content in sorted((etc or {}).items()):
        p = e / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            p.mkdir(exist_ok=True)
        else:
            p.write_text(content)
    if var is not None:
        (root / "var").mkdir()
        for name, content in var.items():
            (root / "var" / name).write_text(content)


def commit(sysroot: Path, ref: str, tree: Path, version: Optional[str], day: int = 1,
           user: Optional[int] = None) -> str:
    args = ["ostree", f"--repo={sysroot}/ostree/repo", "commit", "-b", ref, f"--subject=v{version}",
            f"--timestamp=2024-01-{day:02d} 00:00:00 +0000"]
    if version is not None:
        args.append(f"--add-metadata-string=version={version}")
    return run(*args, str(tree), user=user).stdout.strip()


def make_sysroot(path: Path, which: str, osname: str = "myos") -> Path:
    path.mkdir(parents=True)
    tool(which)("init-fs", str(path))
    tool(which)(f"--sysroot={path}", "os-init", osname)
    run("ostree", f"--repo={path}/ostree/repo", "config", "set", "sysroot.bootloader", "none")
    return path


def unimmutable(path: Path) -> None:
    dep = path / "ostree" / "deploy"
    if dep.exists():
        subprocess.run(["find", str(dep), "-maxdepth", "3", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="sysroot-test-"))
    d.chmod(0o755)
    yield d
    unimmutable(d / "ours")
    unimmutable(d / "real")
    for sub in d.iterdir():
        unimmutable(sub)
    shutil.rmtree(d, ignore_errors=True)


def dump(sysroot: Path, *, with_nlink: bool = True) -> List[str]:
    """Every path but the repo's objects and lock: type, mode, link target or
    content digest (and the link count of files outside the repo)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(sysroot):
        rel = os.path.relpath(dirpath, sysroot)
        if rel == "ostree/repo":
            dirnames[:] = [d for d in dirnames if d != "objects"]
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            r = os.path.normpath(os.path.join(rel, n))
            if r in ("ostree/repo/.lock", "ostree/lock"):
                continue
            if n == ".ostree.cfs" and fnmatch.fnmatch(r, "ostree/deploy/*/deploy/*/.ostree.cfs"):
                # ours is built with composefs and Debian's ostree is not: every deployment of
                # ours has its image (checked against ostree 2026.4 in tests/composefs)
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out.append(f"L {r} -> {os.readlink(p)}")
            elif stat.S_ISDIR(st.st_mode):
                out.append(f"D {oct(st.st_mode & 0o7777)} {r}")
            else:
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()[:16]
                nl = f" n{st.st_nlink}" if with_nlink else ""
                out.append(f"F {oct(st.st_mode & 0o7777)}{nl} {r} {h}")
    return out


def loader_entries(sysroot: Path) -> Dict[str, bytes]:
    d = sysroot / "boot" / "loader" / "entries"
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())} if d.exists() else {}


def bootctl_list(boot_dir: Path) -> List[dict]:
    """``bootctl --json=short list`` (boot_dir bind-mounted: bootctl wants a mount root)."""
    mnt = Path(tempfile.mkdtemp(prefix="sr-bootmnt-"))
    run("mount", "--bind", str(boot_dir), str(mnt))
    try:
        p = run("bootctl", "--no-pager", "--json=short", f"--esp-path={mnt}", "list",
                env={"SYSTEMD_RELAX_ESP_CHECKS": "1", "SYSTEMD_RELAX_XBOOTLDR_CHECKS": "1"})
    finally:
        run("umount", str(mnt))
        mnt.rmdir()
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def check_bootable(sysroot: Path) -> List[str]:
    """The invariant after any crash: every entry of the active loader
    points at an existing kernel, initramfs and a whole deployment. Returns
    the deployment directory names in boot order."""
    names = []
    entries = loader_entries(sysroot)
    assert entries, "no boot entries"
    for name, data in entries.items():
        kv = {}
        for line in data.decode().splitlines():
            k, _, v = line.partition(" ")
            kv[k] = v
        assert (sysroot / "boot" / kv["linux"].lstrip("/")).is_file(), (name, kv["linux"])
        if "initrd" in kv:
            assert (sysroot / "boot" / kv["initrd"].lstrip("/")).is_file(), (name, kv["initrd"])
        arg = [o for o in kv["options"].split() if o.startswith("ostree=")][0][len("ostree="):]
        link = sysroot / arg.lstrip("/")
        dep = Path(os.path.realpath(link))
        assert dep.is_dir(), (name, arg)
        assert (dep / "usr/lib/os-release").is_file()
        assert (dep / "etc").is_dir()
        assert Path(str(dep) + ".origin").is_file()
        names.append((kv["version"], dep.name))
    return [n for _, n in sorted(names, key=lambda x: -int(x[0]))]
