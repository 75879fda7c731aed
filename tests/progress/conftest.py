"""Fixtures for the progress event tests: trees committed and read back with the
real ``ostree``, the bundled example image (``examples/bootable-image``), folder
sysroots made by the real ``ostree admin``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bootable-image"
KVER = "6.1.0-test"


def run(*args: str, check: bool = True, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    e = dict(os.environ, LC_ALL="C.UTF-8")
    e.pop("OSTREEPY_FAULT", None)
    if env:
        e.update(env)
    p = subprocess.run(list(args), capture_output=True, text=True, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"{list(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ostree(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ostree", f"--repo={repo}", *args, check=check)


def ls_files(repo: Path, rev: str) -> Dict[str, Tuple[str, int]]:
    """The regular files and symlinks of ``rev`` as the real ``ostree ls -R``
    lists them: path -> (type letter, size)."""
    out: Dict[str, Tuple[str, int]] = {}
    for line in ostree(repo, "ls", "-R", rev).stdout.splitlines():
        fields = line.split(None, 4)
        kind, size, path = fields[0][0], int(fields[3]), fields[4].split(" -> ")[0]
        if kind in "-l":
            out[path] = (kind, size)
    return out


def write_tree(root: Path, *, kernel: bool = False) -> None:
    """Regular files (an empty one, a hardlinked pair, a large one), symlinks,
    nested directories; with ``kernel`` the modules layout and ``/usr/etc`` a
    deployment needs."""
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/true").write_text("bin\n")
    (root / "usr/bin/true").chmod(0o755)
    os.link(root / "usr/bin/true", root / "usr/bin/also-true")
    (root / "usr/bin/sh").symlink_to("true")
    (root / "usr/share/doc/deep/er").mkdir(parents=True)
    (root / "usr/share/doc/deep/er/README").write_text("read me\n" * 100)
    (root / "usr/share/empty").write_bytes(b"")
    (root / "usr/share/big").write_bytes(os.urandom(300_000))
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text('NAME="My OS"\nID=myos\nVERSION_ID=1\n')
    if kernel:
        m = root / "usr/lib/modules" / KVER
        m.mkdir(parents=True)
        (m / "vmlinuz").write_bytes(b"FAKEKERNEL\n")
        (m / "initramfs.img").write_bytes(b"FAKEINITRD\n")
        (root / "usr/etc").mkdir()
        (root / "usr/etc/myconf").write_text("default\n")


def regular_bytes(root: Path) -> Tuple[int, int]:
    """(number of regular files and symlinks, bytes of the regular files), each
    hardlink counted, as a commit sees the tree."""
    n = size = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            st = os.lstat(os.path.join(dirpath, f))
            n += 1
            if not os.path.islink(os.path.join(dirpath, f)):
                size += st.st_size
    return n, size


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="progress-test-"))
    d.chmod(0o755)
    yield d
    dep = d / "sysroot" / "ostree" / "deploy"
    if dep.exists():
        subprocess.run(["find", str(dep), "-maxdepth", "3", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


def kinds(events: List[object]) -> List[str]:
    """The class names of ``events``, consecutive repeats collapsed."""
    out: List[str] = []
    for e in events:
        name = type(e).__name__
        if not out or out[-1] != name:
            out.append(name)
    return out
