"""``bootc install to-filesystem --bootloader=grub|systemd|none`` on a real
disk, and shim, without a VM.

The disk is what a user hands to-filesystem: an image file with bootc's GPT,
its partitions made into filesystems by mkfs.vfat/mkfs.ext4 on loop devices
and the root and /boot mounted. to-filesystem must find that disk from the
mounted /boot and put the bootloader on it as bootupd does: GRUB's core.img
in the BIOS boot partition and boot.img's code in the MBR (checked against
grub-pc-bin byte by byte), the ESP filled without mounting (fsck.vfat and
mtools read it), or the mounted ``boot/efi`` when there is one; ``none``
touches neither. The shim layout uses Debian's real signed binaries
(shim-signed, shim-helpers-amd64-signed, grub-efi-amd64-signed) carried by a
small synthetic image; tests/install/test_boot.py boots it under Secure Boot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest

from .conftest import bootc_disk_file, ours, scratch

from ostreepy import porcelain
from ostreepy.install import gpt
from ostreepy.install.biosboot import make_core_img, patch_core
from ostreepy.install.disk import read_gpt
from ostreepy.install.esp import (FALLBACK, FALLBACK_CSV, MOKMANAGER, SHIM, SIGNED_GRUB, efi_vendor,
                                  grub_esp_files)
from ostreepy.install.image import build_image
from ostreepy.install.tofs import InstallError, install_config_bootloader

from .test_bootloaders import PC, _check_bios
from .test_image import extract, run

MIB = 1024 * 1024
HOST = Path("/")
needs_shim = pytest.mark.skipif(not all((HOST / p).is_file() for p in (SHIM, MOKMANAGER, SIGNED_GRUB)),
                                reason="needs Debian's shim-signed and grub-efi-amd64-signed: scripts/install-peers.sh")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting the target's filesystems needs root")
pytestmark = pytest.mark.skipif(not (PC / "boot.img").exists(), reason="needs grub-pc-bin: scripts/install-peers.sh")


@pytest.fixture
def work() -> Iterator[Path]:
    with scratch("install-tofsbl-") as d:
        yield d


def _tree(d: Path, shim: bool) -> Path:
    tree = d / "tree"
    (tree / "usr/lib/modules/6.1.0-x").mkdir(parents=True)
    (tree / "usr/lib/modules/6.1.0-x/vmlinuz").write_bytes(b"K")
    (tree / "usr/lib/modules/6.1.0-x/initramfs.img").write_bytes(b"I")
    (tree / "usr/lib").mkdir(parents=True, exist_ok=True)
    (tree / "usr/lib/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12"\nNAME="Debian GNU/Linux"\nID=debian\n')
    (tree / "usr/etc").mkdir(parents=True)
    shutil.copytree(PC, tree / "usr/lib/grub/i386-pc")
    sd = Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
    if sd.exists():
        (tree / "usr/lib/systemd/boot/efi").mkdir(parents=True)
        shutil.copy(sd, tree / "usr/lib/systemd/boot/efi/")
        (tree / "usr/share/refind/refind/drivers_x64").mkdir(parents=True)
        (tree / "usr/share/refind/refind/drivers_x64/ext4_x64.efi").write_bytes(b"MZ ext4 driver stand-in")
    if shim:
        for rel in (SHIM, MOKMANAGER, SIGNED_GRUB, FALLBACK, FALLBACK_CSV):
            if rel in (FALLBACK, FALLBACK_CSV) and not (HOST / rel).is_file():
                continue
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(HOST / rel, tree / rel)
    return tree


def _image(d: Path, shim: bool) -> str:
    tree = _tree(d, shim)
    porcelain.init(d / "repo", mode="archive")
    porcelain.commit(d / "repo", tree, branch="x")
    porcelain.encapsulate(d / "repo", "x", f"oci:{d}/img:latest", labels={"containers.bootc": "1"})
    return f"oci:{d}/img:latest"


@pytest.fixture(scope="module")
def plain() -> Iterator[str]:
    d = Path(tempfile.mkdtemp(prefix="install-tofsbl-img-"))
    yield _image(d, shim=False)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def shimmed() -> Iterator[str]:
    d = Path(tempfile.mkdtemp(prefix="install-tofsbl-shim-"))
    yield _image(d, shim=True)
    shutil.rmtree(d, ignore_errors=True)


class Disk:
    """An image file with bootc's GPT, its filesystems made on loop devices by
    offset, the root mounted at ``target`` and /boot at ``target/boot``."""

    def __init__(self, work: Path) -> None:
        self.path = work / "disk.raw"
        self.table = bootc_disk_file(self.path)
        _, self.esp, self.boot, self.root = self.table.partitions
        self.loops: List[str] = []
        self.mounts: List[Path] = []
        self.target = work / "target"
        esp, boot, root = (self._loop(p) for p in (self.esp, self.boot, self.root))
        run("mkfs.vfat", "-F", "32", "-n", "EFI-SYSTEM", esp)
        run("mkfs.ext4", "-q", "-F", "-L", "boot", boot)
        run("mkfs.ext4", "-q", "-F", "-L", "root", root)
        self.boot_uuid = run("blkid", "-o", "value", "-s", "UUID", boot).stdout.strip()
        self.target.mkdir()
        self._mount(root, self.target)
        (self.target / "boot").mkdir()
        self._mount(boot, self.target / "boot")

    def _loop(self, part: gpt.GptPartition) -> str:
        dev = run("losetup", "--find", "--show", f"--offset={part.offset}", f"--sizelimit={part.size}",
                  str(self.path)).stdout.strip()
        self.loops.append(dev)
        return dev

    def _mount(self, src: str, at: Path, *opts: str) -> None:
        run("mount", *opts, src, str(at))
        self.mounts.append(at)

    def esp_files(self, work: Path) -> str:
        img = extract(self.path, self.esp, work / "esp.img")
        assert run("fsck.vfat", "-n", str(img)).returncode == 0
        return run("mdir", "-/", "-b", "-i", str(img), "::/", check=False).stdout

    def esp_file(self, work: Path, path: str) -> bytes:
        img = work / "esp.img"
        out = work / "esp-file"
        run("mcopy", "-o", "-i", str(img), f"::/{path}", str(out))
        return out.read_bytes()

    def close(self) -> None:
        subprocess.run(["chattr", "-R", "-i", str(self.target)], capture_output=True)
        for m in reversed(self.mounts):
            subprocess.run(["umount", str(m)], capture_output=True)
        for lo in self.loops:
            subprocess.run(["losetup", "-d", lo], capture_output=True)


@pytest.fixture
def disk(work: Path) -> Iterator[Disk]:
    d = Disk(work)
    try:
        yield d
    finally:
        d.close()


def test_shim_layout_of_grub_esp_files(work: Path) -> None:
    dep = work / "dep"
    (dep / "usr/lib").mkdir(parents=True)
    (dep / "usr/lib/os-release").write_text("NAME=x\nID='debian'\n")
    for rel in (SHIM, MOKMANAGER, SIGNED_GRUB):
        (dep / rel).parent.mkdir(parents=True, exist_ok=True)
        (dep / rel).write_bytes(rel.encode())
    files = dict(grub_esp_files(dep, work, "1234-ABCD", True))
    assert sorted(files) == ["EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grub.cfg", "EFI/BOOT/grubx64.efi",
                             "EFI/BOOT/mmx64.efi", "EFI/debian/grub.cfg", "EFI/debian/grubx64.efi",
                             "EFI/debian/mmx64.efi", "EFI/debian/shimx64.efi"]
    assert files["EFI/BOOT/BOOTX64.EFI"] == files["EFI/debian/shimx64.efi"] == dep / SHIM
    assert files["EFI/BOOT/grubx64.efi"] == dep / SIGNED_GRUB and files["EFI/BOOT/mmx64.efi"] == dep / MOKMANAGER
    assert files["EFI/debian/grub.cfg"].read_text() == ("search --no-floppy --fs-uuid --set=root 1234-ABCD\n"
                                                        "set prefix=($root)/grub\nconfigfile ($root)/grub/grub.cfg\n")
    (dep / FALLBACK).write_bytes(b"fb")
    files = dict(grub_esp_files(dep, work, "1234-ABCD", True))
    assert files["EFI/BOOT/fbx64.efi"] == dep / FALLBACK
    assert files["EFI/debian/BOOTX64.CSV"].read_bytes() == "shimx64.efi,debian,,This is the boot entry for debian\n".encode(
        "utf-16-le")
    (dep / "usr/lib/os-release").write_text("ID=../x\n")
    assert efi_vendor(dep) is None
    assert not {"EFI/debian/grub.cfg", "EFI/BOOT/fbx64.efi"} & set(dict(grub_esp_files(dep, work, "1234-ABCD", True)))
    inst = dep / "usr/lib/bootc/install"
    inst.mkdir(parents=True)
    assert install_config_bootloader(dep) is None
    (inst / "00-base.toml").write_text('[install]\nbootloader = "grub"\n')
    (inst / "10-mine.toml").write_text('[install]\nbootloader = "none"\nkargs = ["x"]\n')
    assert install_config_bootloader(dep) == "none"
    (inst / "20-bad.toml").write_text('[install]\nbootloader = "lilo"\n')
    with pytest.raises(InstallError, match="20-bad.toml: install.bootloader='lilo'"):
        install_config_bootloader(dep)


@needs_root
@needs_shim
def test_to_filesystem_puts_shim_and_bios_grub_on_the_disk_of_boot(shimmed: str, disk: Disk, work: Path) -> None:
    out = ours("bootc", "install", "to-filesystem", "--generic-image", f"--source-imgref={shimmed}",
               str(disk.target)).stdout
    assert "Bootloader: grub" in out and "Bootloader components: EFI, BIOS (generic image)" in out
    assert "Firmware boot entry" not in out
    _check_bios(disk.path)
    listing = disk.esp_files(work)
    for name in ("EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "EFI/BOOT/mmx64.efi", "EFI/BOOT/grub.cfg",
                 "EFI/debian/shimx64.efi", "EFI/debian/grubx64.efi", "EFI/debian/mmx64.efi", "EFI/debian/grub.cfg"):
        assert f"::/{name}" in listing, listing
    if (HOST / FALLBACK).is_file():
        # shim's fallback, as Debian's grub-install --force-extra-removable places it
        assert disk.esp_file(work, "EFI/BOOT/fbx64.efi") == (HOST / FALLBACK).read_bytes()
        assert disk.esp_file(work, "EFI/debian/BOOTX64.CSV") == (HOST / FALLBACK_CSV).read_bytes()
    assert disk.esp_file(work, "EFI/BOOT/BOOTX64.EFI") == (HOST / SHIM).read_bytes()
    assert disk.esp_file(work, "EFI/BOOT/grubx64.efi") == (HOST / SIGNED_GRUB).read_bytes()
    assert disk.esp_file(work, "EFI/BOOT/mmx64.efi") == (HOST / MOKMANAGER).read_bytes()
    stub = disk.esp_file(work, "EFI/debian/grub.cfg").decode()
    assert f"search --no-floppy --fs-uuid --set=root {disk.boot_uuid}\n" in stub
    assert "configfile ($root)/grub/grub.cfg" in stub
    cfg = (disk.target / "boot/grub/grub.cfg").read_text()
    assert "linux /ostree/default-" in cfg  # /boot is its own filesystem: no /boot prefix
    assert subprocess.run(["grub-script-check", str(disk.target / "boot/grub/grub.cfg")]).returncode == 0
    # the BIOS core.img (compressed) is grub-mkimage's for that /boot's UUID
    bios = read_gpt(disk.path).partitions[0]
    want = patch_core(make_core_img(shutil.which("grub-mkimage") or "grub-mkimage", PC, disk.boot_uuid, True),
                      bios.first_lba, bios.size)
    with open(disk.path, "rb") as f:
        f.seek(bios.offset)
        assert f.read(len(want)) == want


@needs_root
def test_to_filesystem_bootloader_none_then_systemd_on_a_mounted_esp(plain: str, disk: Disk, work: Path) -> None:
    if not Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi").exists():
        pytest.skip("needs systemd-boot-efi: scripts/install-peers.sh")
    out = ours("bootc", "install", "to-filesystem", f"--source-imgref={plain}", "--bootloader=none",
               str(disk.target)).stdout
    assert "Bootloader: none" in out
    with open(disk.path, "rb") as f:
        assert f.read(440) == bytes(440)  # no boot code in the MBR
        f.seek(disk.table.partitions[0].offset)
        assert f.read(512) == bytes(512)  # nor a core.img
    assert "::/EFI" not in disk.esp_files(work)
    assert not (disk.target / "boot/grub/grub.cfg").exists()
    assert list((disk.target / "boot/loader/entries").glob("ostree-*.conf"))  # the entries are written

    # the ESP mounted at boot/efi (a folder bind-mounted here: no vfat needed) gets the files instead
    esp_dir = work / "esp-dir"
    esp_dir.mkdir()
    (disk.target / "boot/efi").mkdir()
    disk._mount(str(esp_dir), disk.target / "boot/efi", "--bind")
    out = ours("bootc", "install", "to-filesystem", f"--source-imgref={plain}", "--bootloader=systemd",
               "--replace=wipe", str(disk.target)).stdout
    assert "Bootloader: systemd" in out
    sd = Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi").read_bytes()
    assert (esp_dir / "EFI/BOOT/BOOTX64.EFI").read_bytes() == sd
    assert (esp_dir / "EFI/systemd/systemd-bootx64.efi").read_bytes() == sd
    assert (esp_dir / "loader/loader.conf").read_text() == "timeout 1\n"
    assert not list(esp_dir.rglob("*.tmp")) and not list(esp_dir.rglob(".*"))
    assert "::/EFI" not in disk.esp_files(work)  # the unmounted ESP partition stays untouched
    assert not (disk.target / "boot/grub/grub.cfg").exists()
    with open(disk.path, "rb") as f:
        assert f.read(440) == bytes(440)


def test_to_filesystem_refuses_an_unknown_bootloader(plain: str, work: Path) -> None:
    r = ours("bootc", "install", "to-filesystem", f"--source-imgref={plain}", "--bootloader=lilo",
             "--root-mount-spec=UUID=11111111-2222-3333-4444-555555555555", str(work), check=False)
    assert r.returncode == 2 and "invalid choice: 'lilo'" in r.stderr
    assert list(work.iterdir()) == []


@needs_shim
def test_image_build_with_shim(shimmed: str, work: Path) -> None:
    res = build_image(f"ostree-unverified-image:{shimmed}", work / "out")
    esp = extract(res.path, res.table.partitions[1], work / "esp.img")
    assert run("fsck.vfat", "-n", str(esp)).returncode == 0
    out = work / "shim.efi"
    run("mcopy", "-i", str(esp), "::/EFI/BOOT/BOOTX64.EFI", str(out))
    assert out.read_bytes() == (HOST / SHIM).read_bytes()
    run("mcopy", "-i", str(esp), "::/EFI/debian/grub.cfg", str(work / "stub.cfg"))
    assert f"--set=root {res.boot_uuid}\n" in (work / "stub.cfg").read_text()
    assert res.bios
