"""``bootc install to-filesystem`` on a folder target: the sysroot the real
``ostree admin status`` and our ``bootc status`` read, the origin naming the
target image, the kargs, grub.cfg; and the refusals before any write."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from .conftest import ours, scratch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bootable-image"
SPEC = "UUID=11111111-2222-3333-4444-555555555555"


@pytest.fixture
def target() -> Iterator[Path]:
    with scratch("install-tofs-") as d:
        yield d


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


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="to-disk --via-loopback needs root (loop devices)")
def test_to_disk_via_loopback(target: Path) -> None:
    from ostreepy.install.disk import read_gpt
    from .test_image import extract, run
    disk = target / "disk.raw"
    out = ours("bootc", "install", "to-disk", "--via-loopback", "--size=4G", f"--source-imgref=oci:{EXAMPLE}:v1",
               "--target-imgref=quay.io/example/os:v1", str(disk)).stdout
    assert "No problems found" in run("sgdisk", "--verify", str(disk)).stdout
    _, esp, boot, root = read_gpt(disk).partitions
    assert run("fsck.vfat", "-n", str(extract(disk, esp, target / "esp"))).returncode == 0
    assert "BOOTX64  EFI" in run("mdir", "-i", str(target / "esp"), "::/EFI/BOOT").stdout
    for part, name in ((boot, "boot"), (root, "root")):
        assert run("e2fsck", "-fn", str(extract(disk, part, target / name))).returncode == 0
    root_uuid = run("blkid", "-o", "value", "-s", "UUID", str(target / "root")).stdout.strip()
    assert f"root=UUID={root_uuid} rw" in out
    cfg = run("debugfs", "-R", "cat /grub/grub.cfg", str(target / "boot")).stdout
    assert "linux /ostree/default-" in cfg  # /boot is its own filesystem: no prefix
    # a second run refuses before writing anything
    def head() -> bytes:
        with open(disk, "rb") as f:
            return f.read(34 * 512)
    before = head()
    r = ours("bootc", "install", "to-disk", "--via-loopback", f"--source-imgref=oci:{EXAMPLE}:v1", str(disk),
             check=False)
    assert r.returncode == 1 and "--wipe" in r.stderr
    assert head() == before
    assert str(disk) not in run("losetup", "-a").stdout
