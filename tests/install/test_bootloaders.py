"""The bootloaders beside GRUB EFI, without a VM: BIOS GRUB placed as
grub-bios-setup places it (checked byte by byte against the host's
grub-pc-bin), systemd-boot on the ESP with its entries on the XBOOTLDR /boot
read by the real ``bootctl list``, and xfs filesystems that ``xfs_repair -n``
accepts. The images are small synthetic ones carrying the host's GRUB i386-pc
modules and systemd-boot; tests/install/test_boot.py boots the real thing."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from ostreepy import porcelain
from ostreepy.install import biosboot, gpt, todisk
from ostreepy.install.biosboot import BiosBootError, boot_code, patch_core
from ostreepy.install.disk import read_gpt
from ostreepy.install.image import build_image
from ostreepy.install.todisk import install_to_disk
from ostreepy.install.tofs import InstallError

from .test_image import extract, run

PC = Path("/usr/lib/grub/i386-pc")
SDBOOT = Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(not (PC / "boot.img").exists() or not SDBOOT.exists()
                                or not shutil.which("bootctl"),
                                reason="needs grub-pc-bin, systemd-boot-efi and systemd-boot: "
                                       "scripts/install-peers.sh")


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="install-bl-"))
    yield d
    subprocess.run(["chattr", "-R", "-i", str(d)], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """An image with a (fake) kernel and initramfs and the host's real GRUB
    i386-pc, systemd-boot and a stand-in for rEFInd's ext4 driver."""
    d = Path(tempfile.mkdtemp(prefix="install-bl-img-"))
    tree = d / "tree"
    (tree / "usr/lib/modules/6.1.0-x").mkdir(parents=True)
    (tree / "usr/lib/modules/6.1.0-x/vmlinuz").write_bytes(b"K")
    (tree / "usr/lib/modules/6.1.0-x/initramfs.img").write_bytes(b"I")
    (tree / "usr/etc").mkdir(parents=True)
    (tree / "usr/etc/os-release").write_text("ID=x\n")
    shutil.copytree(PC, tree / "usr/lib/grub/i386-pc")
    (tree / "usr/lib/systemd/boot/efi").mkdir(parents=True)
    shutil.copy(SDBOOT, tree / "usr/lib/systemd/boot/efi/")
    (tree / "usr/share/refind/refind/drivers_x64").mkdir(parents=True)
    (tree / "usr/share/refind/refind/drivers_x64/ext4_x64.efi").write_bytes(b"MZ ext4 driver stand-in")
    porcelain.init(d / "repo", mode="archive")
    porcelain.commit(d / "repo", tree, branch="x")
    porcelain.encapsulate(d / "repo", "x", f"oci:{d}/img:latest", labels={"containers.bootc": "1"})
    yield f"ostree-unverified-image:oci:{d}/img:latest"
    shutil.rmtree(d, ignore_errors=True)


def test_boot_sector_and_core_patches(work: Path) -> None:
    boot = (PC / "boot.img").read_bytes()
    code = boot_code(boot, 2048)
    assert len(code) == 440 and struct.unpack_from("<Q", code, 0x5C) == (2048,)
    assert code[0x66:0x68] == b"\x90\x90" and boot[0x66] == 0xEB  # the drive-check jump, nop'ed
    same = [i for i in range(440) if code[i] != boot[i]]
    assert all(0x5C <= i < 0x64 or i in (0x66, 0x67) for i in same), same
    early = work / "e.cfg"
    early.write_text("configfile (hd0,gpt3)/grub/grub.cfg\n")
    run("grub-mkimage", "-O", "i386-pc", "-d", str(PC), "-p", "/grub", "-c", str(early), "-o",
        str(work / "core.img"), "biosdisk", "part_gpt", "ext2", "normal", "configfile")
    core = (work / "core.img").read_bytes()
    out = patch_core(core, 2048, MIB)
    assert struct.unpack_from("<QHH", out, 500) == (2049, -(-len(core) // 512) - 1, 0x820)
    assert out[:500] == core[:500] and out[508:] == core[508:]
    with pytest.raises(BiosBootError, match="holds 4096"):
        patch_core(core, 2048, 4096)
    with pytest.raises(BiosBootError, match="block list"):
        patch_core(bytes(len(core)), 2048, MIB)
    with pytest.raises(BiosBootError, match="55 AA"):
        boot_code(boot[:510] + b"\0\0", 2048)


def _check_bios(disk: Path) -> None:
    bios = read_gpt(disk).partitions[0]
    assert bios.type_guid == gpt.BIOS_BOOT and bios.first_lba == 2048
    with open(disk, "rb") as f:
        mbr = f.read(512)
        f.seek(bios.offset)
        diskboot = f.read(512)
    boot = (PC / "boot.img").read_bytes()
    assert mbr[:0x5C] == boot[:0x5C] and struct.unpack_from("<Q", mbr, 0x5C) == (2048,)
    assert mbr[446 + 4] == 0xEE and mbr[510:] == b"\x55\xaa"  # the protective MBR stays
    assert diskboot[:500] == (PC / "diskboot.img").read_bytes()[:500]
    assert struct.unpack_from("<Q", diskboot, 500) == (2049,)
    assert "No problems found" in run("sgdisk", "--verify", str(disk)).stdout


def test_image_build_puts_bios_grub_in_place(image: str, work: Path) -> None:
    res = build_image(image, work / "out")
    assert res.bios and res.bootloader == "grub"
    _check_bios(res.path)


def _esp_tree(disk: Path, work: Path) -> Path:
    esp = extract(disk, read_gpt(disk).partitions[1], work / "esp.img")
    assert run("fsck.vfat", "-n", str(esp)).returncode == 0
    out = work / "esp"
    out.mkdir()
    run("mcopy", "-s", "-i", str(esp), "::/EFI", "::/loader", str(out))
    return out


def test_systemd_boot_entries_read_by_bootctl(image: str, work: Path) -> None:
    res = build_image(image, work / "out", bootloader="systemd")
    assert not res.bios and res.bootloader == "systemd"
    esp = _esp_tree(res.path, work)
    assert (esp / "EFI/BOOT/BOOTX64.EFI").read_bytes() == SDBOOT.read_bytes()
    assert (esp / "EFI/systemd/systemd-bootx64.efi").read_bytes() == SDBOOT.read_bytes()
    assert (esp / "EFI/systemd/drivers/ext4_x64.efi").read_bytes() == b"MZ ext4 driver stand-in"
    assert (esp / "loader/loader.conf").read_text() == "timeout 1\n"
    _, _, boot, _ = read_gpt(res.path).partitions
    assert boot.type_guid == gpt.XBOOTLDR
    boot_img = extract(res.path, boot, work / "boot.img")
    assert "File not found" in run("debugfs", "-R", "stat /grub/grub.cfg", str(boot_img)).stderr
    if os.geteuid() != 0:
        pytest.skip("bootctl list needs mount points (root)")
    emnt, bmnt = work / "emnt", work / "bmnt"
    emnt.mkdir()
    bmnt.mkdir()
    run("mount", "--bind", str(esp), str(emnt))
    try:
        run("mount", "-o", "loop,ro", str(boot_img), str(bmnt))
        try:
            p = subprocess.run(["bootctl", "--no-pager", "--json=short", f"--esp-path={emnt}",
                                f"--boot-path={bmnt}", "list"], capture_output=True, text=True,
                               env={**os.environ, "SYSTEMD_RELAX_ESP_CHECKS": "1",
                                    "SYSTEMD_RELAX_XBOOTLDR_CHECKS": "1"})
        finally:
            run("umount", str(bmnt))
    finally:
        run("umount", str(emnt))
    assert p.returncode == 0, p.stderr
    entries = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    entries = [e for x in entries for e in (x if isinstance(x, list) else [x])]
    assert len(entries) == 1, entries
    e = entries[0]
    assert e["id"] in ("ostree-1-default.conf", "ostree-1.conf"), e
    assert e["linux"].startswith("/ostree/default-") and e["linux"].endswith("/vmlinuz-6.1.0-x")
    assert f"root=UUID={res.root_uuid} rw" in e["options"] and "ostree=/ostree/boot.1/default/" in e["options"]


@pytest.mark.skipif(os.geteuid() != 0, reason="to-disk --via-loopback needs root (loop devices)")
def test_to_disk_xfs_with_bios(image: str, work: Path) -> None:
    if not shutil.which("mkfs.xfs") and not os.path.exists("/usr/sbin/mkfs.xfs"):
        pytest.skip("needs xfsprogs: scripts/install-peers.sh")
    disk = work / "disk.raw"
    res = install_to_disk(disk, image, via_loopback=True, size=3 * 1024 * MIB, filesystem="xfs")
    _check_bios(disk)
    _, _, boot, root = read_gpt(disk).partitions
    for part, name in ((boot, "boot"), (root, "root")):
        img = extract(disk, part, work / name)
        assert run("blkid", "-o", "value", "-s", "TYPE", str(img)).stdout.strip() == "xfs"
        assert run("xfs_repair", "-n", "-f", str(img)).returncode == 0
    root_uuid = run("blkid", "-o", "value", "-s", "UUID", str(work / "root")).stdout.strip()
    assert f"root=UUID={root_uuid} rw" in res.kargs
    assert str(disk) not in run("losetup", "-a").stdout


def test_to_disk_refusals_before_writing(image: str, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = work / "disk.raw"
    with open(disk, "wb") as f:
        f.truncate(3 * 1024 * MIB)
    with pytest.raises(InstallError, match="ext4 driver: use --filesystem=ext4"):
        install_to_disk(disk, image, via_loopback=True, filesystem="xfs", bootloader="systemd")
    with pytest.raises(InstallError, match="expected grub, systemd, none"):
        install_to_disk(disk, image, via_loopback=True, bootloader="lilo")
    monkeypatch.setitem(todisk.MKFS, "xfs", "mkfs.xfs-not-here")
    with pytest.raises(porcelain.OstreeError, match="mkfs.xfs-not-here not found"):
        install_to_disk(disk, image, via_loopback=True, filesystem="xfs")
    assert disk.stat().st_blocks == 0  # nothing written
    assert biosboot.grub_pc_dir(work) is None
