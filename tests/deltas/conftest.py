"""A small OS-shaped tree in two versions, committed with the real ``ostree``
into an archive repository: changed, added, removed, renamed and large
modified files, symlinks, an ``.xz`` file (never delta'd), an empty file.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ENV = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", TZ="UTC")
ENV.pop("OSTREE_REPO", None)
OSTREEPY = [str(Path(sys.executable).parent / "ostreepy")]
if not Path(OSTREEPY[0]).exists():
    OSTREEPY = [sys.executable, "-m", "ostreepy"]


def have_ostree() -> bool:
    return shutil.which("ostree") is not None


def run(cmd: List[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def ostree(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(["ostree", *args], check=check)


def ostreepy(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([*OSTREEPY, *args], check=check)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def make_tree(root: Path, version: int) -> None:
    rnd = random.Random(7)
    binary = bytes(rnd.getrandbits(8) for _ in range(120_000))
    text = b"".join(b"line %d of a library of config text\n" % i for i in range(2500))
    if version == 2:
        binary = binary[:40_000] + b"PATCHED" * 30 + binary[40_000:]
        text = text.replace(b"line 1200 ", b"LINE 1200 ")
    _write(root / "usr/bin/tool", binary, 0o755)
    _write(root / "usr/lib/libbig.so", text)
    # bsdiff candidates: rollsum finds too few whole chunks in these
    small = b"".join(b"%04d:" % i + bytes(rnd.getrandbits(8) for _ in range(11)) for i in range(300))
    _write(root / "usr/share/locale/table.dat",
           small if version == 1 else small.replace(b"0150:", b"9150:").replace(b"0290:", b"9290:"))
    _write(root / "usr/share/doc/readme", b"hello v%d\n" % version)
    _write(root / "etc/os-release", b"NAME=test\nVERSION_ID=%d\n" % version)
    _write(root / "usr/lib/empty", b"")
    _write(root / "usr/lib/data.xz", bytes(rnd.getrandbits(8) for _ in range(3000 + version)))
    if version == 1:
        _write(root / "usr/share/old.txt", b"removed later\n")
        _write(root / "usr/lib/libfoo.so.1", b"foo" * 1000)
        os.symlink("libfoo.so.1", root / "usr/lib/libfoo.so")
    else:
        _write(root / "usr/share/new.txt", b"added\n" * 10)
        _write(root / "usr/lib/libfoo.so.2", b"foo" * 1000)  # renamed, same content
        os.symlink("libfoo.so.2", root / "usr/lib/libfoo.so")
    (root / "usr/lib64").mkdir(parents=True, exist_ok=True)
    os.symlink("usr/lib", root / "lib")


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """An archive repo with ``main`` at v2 (parent v1), and ostree's own deltas
    v1->v2 and scratch->v2."""
    if not have_ostree():
        pytest.skip("needs the ostree CLI (Debian: apt-get install ostree)")
    base = tmp_path_factory.mktemp("deltasrc")
    for v in (1, 2):
        make_tree(base / f"tree{v}", v)
    repo = str(base / "src")
    ostree("init", f"--repo={repo}", "--mode=archive")
    for v in (1, 2):
        ostree("commit", f"--repo={repo}", "-b", "main", f"--timestamp=2020-01-0{v}T00:00Z",
               "--owner-uid=0", "--owner-gid=0", "-s", f"v{v}", str(base / f"tree{v}"))
    to = ostree("rev-parse", f"--repo={repo}", "main").stdout.strip()
    frm = ostree("rev-parse", f"--repo={repo}", "main^").stdout.strip()
    theirs = str(base / "theirs")
    shutil.copytree(repo, theirs, symlinks=True)
    log = ostree("static-delta", "generate", f"--repo={theirs}", "--to=main").stderr
    ostree("static-delta", "generate", f"--repo={theirs}", "--empty", "--to=main")
    return {"base": str(base), "repo": repo, "theirs": theirs, "from": frm, "to": to, "log": log}


def fresh_repo(tmp: Path, mode: str, with_commit: str = "", src: str = "") -> str:
    tmp.mkdir(parents=True, exist_ok=True)
    path = str(tmp / f"dst-{mode}")
    ostree("init", f"--repo={path}", f"--mode={mode}")
    if with_commit:
        ostree("pull-local", f"--repo={path}", src, with_commit)
    return path
