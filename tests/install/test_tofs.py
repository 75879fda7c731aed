"""``bootc install to-filesystem`` on a folder target: the sysroot the real
``ostree admin status`` and our ``bootc status`` read, the origin naming the
target image, the kargs, grub.cfg; and the refusals before any write."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bootable-image"
SPEC = "UUID=11111111-2222-3333-4444-555555555555"


def ours(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "ostreepy", *args], capture_output=True, text=True)
    if check and p.returncode:
        raise AssertionError(f"{args}: {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def target() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="install-tofs-"))
    yield d
    subprocess.run(["chattr", "-R", "-i", str(d)], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


def test_to_filesystem_folder(target: Path) -> None:
    keys = target.parent / f"{target.name}.keys"
    keys.write_text("ssh-ed25519 AAAAk me\n")
    try:
        out = ours("bootc", "install", "to-filesystem", f"--source-imgref=oci:{EXAMPLE}:v1",
                   "--target-imgref=quay.io/example/os:v1", f"--root-mount-spec={SPEC}", "--karg=quiet",
                   f"--root-ssh-authorized-keys={keys}", str(target)).stdout
    finally:
        keys.unlink()
    assert f"root={SPEC} rw quiet ostree=/ostree/boot.1/default/" in out
    status = subprocess.run(["ostree", "admin", "status", f"--sysroot={target}"], capture_output=True, text=True,
                            check=True).stdout
    assert "default " in status
    host = json.loads(ours("bootc", "status", f"--sysroot={target}", "--format=json").stdout)
    assert host["spec"]["image"] == {"image": "quay.io/example/os:v1", "transport": "registry"}
    origin = next((target / "ostree/deploy/default/deploy").glob("*.origin")).read_text()
    assert "container-image-reference=ostree-unverified-registry:quay.io/example/os:v1" in origin
    cfg = (target / "boot/grub/grub.cfg").read_text()
    assert "linux /boot/ostree/default-" in cfg and f"root={SPEC}" in cfg  # /boot on the root filesystem
    assert (target / "ostree/deploy/default/var/roothome/.ssh/authorized_keys").read_text() == "ssh-ed25519 AAAAk me\n"

    # not empty now: refused, unchanged; --replace=wipe installs afresh
    before = sorted(p.name for p in (target / "ostree/deploy/default/deploy").iterdir())
    r = ours("bootc", "install", "to-filesystem", f"--source-imgref=oci:{EXAMPLE}:v2", f"--root-mount-spec={SPEC}",
             str(target), check=False)
    assert r.returncode == 1 and "is not empty" in r.stderr and "--replace=wipe" in r.stderr
    assert sorted(p.name for p in (target / "ostree/deploy/default/deploy").iterdir()) == before
    ours("bootc", "install", "to-filesystem", f"--source-imgref=oci:{EXAMPLE}:v2", f"--root-mount-spec={SPEC}",
         "--replace=wipe", str(target))
    deps = list((target / "ostree/deploy/default/deploy").glob("*.0"))
    assert len(deps) == 1 and deps[0].name not in before


def test_to_filesystem_needs_a_root_spec(target: Path) -> None:
    r = ours("bootc", "install", "to-filesystem", f"--source-imgref=oci:{EXAMPLE}:v1", str(target), check=False)
    assert r.returncode == 1 and "--root-mount-spec" in r.stderr
    assert list(target.iterdir()) == []
