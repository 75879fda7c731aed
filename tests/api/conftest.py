"""Fixtures for the public-API tests: only ``import ostreepy`` / ``ociclient``
and the peers' command lines (``ostree``, ``skopeo``, ``docker-registry``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bootable-image"
#: 2024-01-01 00:00:00 UTC
TIMESTAMP = 1704067200


def run(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{list(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def unimmutable(path: Path) -> None:
    dep = path / "ostree" / "deploy"
    if dep.exists():
        subprocess.run(["find", str(dep), "-maxdepth", "3", "-type", "d", "-exec", "chattr", "-i", "{}", "+"],
                       capture_output=True)


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="api-test-"))
    yield d
    for sub in [d] + [p for p in d.rglob("sysroot") if p.is_dir()]:
        unimmutable(sub)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def rootfs(work: Path) -> Path:
    """A small tree with the kinds of files a commit holds."""
    t = work / "rootfs"
    (t / "usr/bin").mkdir(parents=True)
    (t / "usr/etc").mkdir(parents=True)
    (t / "usr/bin/hello").write_text("#!/bin/sh\necho hello\n")
    os.chmod(t / "usr/bin/hello", 0o755)
    (t / "usr/etc/os-release").write_text("ID=example\n")
    (t / "usr/lib").mkdir()
    os.symlink("../bin/hello", t / "usr/lib/hello-link")
    (t / "usr/share").mkdir()
    (t / "usr/share/big").write_bytes(os.urandom(200_000))
    return t


def publish(image: Path, tag: str) -> None:
    """Make ``image:latest`` the example's ``tag`` (with the real skopeo)."""
    run("skopeo", "copy", "-q", f"oci:{EXAMPLE}:{tag}", f"oci:{image}:latest")
