"""Firmware boot entries and the choice of firmware halves (issue 11).

The bytes of ``Boot####``/``BootOrder`` are checked against efibootmgr 17
(Debian 12) run on a fake efivarfs folder (libefivar's ``LIBEFIVAR_OPS=
efivarfs`` with ``EFIVARFS_PATH``) and a loop device of a small GPT disk,
and the device path against libefivar's own builder and formatter; a fixed
vector keeps what efibootmgr wrote for when it is missing. This host has no
``/sys/firmware/efi``: the real efivarfs is never written by the tests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import attrs
import pytest

from ostreepy.install import gpt
from ostreepy.install.disk import read_gpt, write_gpt
from ostreepy.install.efiboot import (EfiFormatError, FilePath, HardDrive, LoadOption, OtherNode,
                                      decode_boot_order, encode_boot_order, encode_device_path, fallback_csv,
                                      format_device_path)
from ostreepy.install.efivarfs import EfiVarStore, Firmware, add_boot_entry
from ostreepy.install.tofs import boot_components, firmware_loader, install_to_filesystem, product_name

from .conftest import bootc_disk_file, scratch
from .test_image import run
from .test_tofs_bootloaders import _image, needs_shim

MIB = 1024 * 1024
GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
# efibootmgr 17 --create --disk /dev/loop0 --part 2 --loader '\EFI\debian\shimx64.efi' --label 'Debian GNU/Linux'
# on bootc's layout (ESP at LBA 0x1000, 0x100000 sectors): the Boot0000 file it wrote (xxd rows)
BOOT0000 = bytes.fromhex(
    "0700000001000000620044006500620069006100" "6e00200047004e0055002f00" "4c0069006e0075007800000004012a00"
    "02000000001000000000000000001000" "000000002dc08f3d631ec042bdb07868" "4a999e920202040434005c0045004600"
    "49005c00640065006200690061006e00" "5c007300680069006d00780036003400" "2e006500660069000000" "7fff0400")
ESP_GUID = uuid.UUID("3d8fc02d-1e63-42c0-bdb0-78684a999e92")
SHIM_LOADER = "\\EFI\\debian\\shimx64.efi"


@pytest.fixture
def work() -> Iterator[Path]:
    with scratch("install-fw-") as d:
        yield d


def test_load_option_is_efibootmgrs_bytes() -> None:
    opt = LoadOption("Debian GNU/Linux", (HardDrive(2, 0x1000, 0x100000, ESP_GUID), FilePath(SHIM_LOADER)))
    assert b"\x07\0\0\0" + opt.encode() == BOOT0000
    back = LoadOption.decode(BOOT0000[4:])
    assert back == opt
    assert back.describe(0) == ("Boot0000* Debian GNU/Linux\t"
                                f"HD(2,GPT,{ESP_GUID},0x1000,0x100000)/File(\\EFI\\debian\\shimx64.efi)")
    # nodes it does not know (a firmware's own entries) survive a round trip
    other = LoadOption("UEFI Shell", (OtherNode(1, 1, b"\x01\x02"), FilePath("\\Shell.efi")), attributes=0,
                       optional_data=b"opt")
    assert LoadOption.decode(other.encode()) == other
    assert other.describe(0x1A).startswith("Boot001A  UEFI Shell\tPath(1,1,0102)/")
    assert encode_boot_order([3, 0, 0x1A]) == b"\x03\0\0\0\x1a\0" and decode_boot_order(b"\x03\0\0\0") == (3, 0)
    for bad in (b"\1\0\0\0\x10\0D\0", BOOT0000[4:-2], b"\1\0"):
        with pytest.raises(EfiFormatError):
            LoadOption.decode(bad)


def test_device_path_is_libefivars() -> None:
    name = ctypes.util.find_library("efivar")
    if name is None:
        pytest.skip("needs libefivar1 (efibootmgr's library)")
    lib = ctypes.CDLL(name)
    lib.efidp_make_hd.argtypes = [ctypes.c_char_p, ctypes.c_ssize_t, ctypes.c_uint32, ctypes.c_uint64,
                                  ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint8, ctypes.c_uint8]
    lib.efidp_make_file.argtypes = [ctypes.c_char_p, ctypes.c_ssize_t, ctypes.c_char_p]
    lib.efidp_make_generic.argtypes = [ctypes.c_char_p, ctypes.c_ssize_t, ctypes.c_uint8, ctypes.c_uint8,
                                       ctypes.c_ssize_t]
    lib.efidp_format_device_path.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_ssize_t]
    for number, start, size, guid, path in ((1, 2048, 2048, uuid.UUID(int=1), "\\EFI\\BOOT\\BOOTX64.EFI"),
                                            (12, 0x1234567, 0xFFFFFFFF1, uuid.uuid4(), "\\EFI\\systemd\\x y.efi")):
        buf = ctypes.create_string_buffer(512)
        n = lib.efidp_make_hd(buf, 512, number, start, size, guid.bytes_le, 2, 2)
        n += lib.efidp_make_file(ctypes.cast(ctypes.byref(buf, n), ctypes.c_char_p), 512 - n, path.encode())
        n += lib.efidp_make_generic(ctypes.cast(ctypes.byref(buf, n), ctypes.c_char_p), 512 - n, 0x7F, 0xFF, 4)
        nodes = (HardDrive(number, start, size, guid), FilePath(path))
        assert encode_device_path(nodes) == buf.raw[:n]
        text = ctypes.create_string_buffer(512)
        lib.efidp_format_device_path(text, 512, buf.raw[:n], n)
        assert format_device_path(nodes) == text.value.decode()


def test_fallback_csv_is_debians() -> None:
    csv = fallback_csv("shimx64.efi", "debian", "This is the boot entry for debian")
    host = Path("/usr/lib/shim/BOOTX64.CSV")  # shim-unsigned's
    if host.is_file():
        assert csv == host.read_bytes()
    assert csv.decode("utf-16-le") == "shimx64.efi,debian,,This is the boot entry for debian\n"
    with pytest.raises(EfiFormatError):
        fallback_csv("a,b", "x")


def test_components_follow_bootupd_auto(work: Path) -> None:
    uefi, bios = Firmware(efi_booted=True), Firmware(efi_booted=False)
    assert boot_components("grub", True, uefi) == boot_components("grub", True, bios) == (True, True)
    assert boot_components("grub", False, uefi) == (True, False)
    assert boot_components("grub", False, bios) == (False, True)
    assert boot_components("systemd", False, bios) == (True, False)
    assert boot_components("none", True, uefi) == (False, False)
    (work / "usr/lib").mkdir(parents=True)
    assert product_name(work) is None
    (work / "usr/lib/os-release").write_text('ID=debian\nNAME="Debian GNU/Linux"\n')
    assert product_name(work) == "Debian GNU/Linux"
    assert firmware_loader(work, "grub", ["EFI/BOOT/BOOTX64.EFI"]) == ("\\EFI\\BOOT\\BOOTX64.EFI",
                                                                       "Debian GNU/Linux")
    (work / "usr/lib/shim").mkdir()
    (work / "usr/lib/shim/shimx64.efi.signed").write_bytes(b"shim")
    assert firmware_loader(work, "grub", ["EFI/debian/shimx64.efi"])[0] == SHIM_LOADER
    assert firmware_loader(work, "systemd", []) == ("\\EFI\\systemd\\systemd-bootx64.efi", "Linux Boot Manager")
    (work / "etc").mkdir()
    (work / "etc/system-release").write_text("Fedora release 42 (Adams)\n")
    assert product_name(work) == "Fedora"  # bootupd's regex " *release.*"


def _store(d: Path, files: Dict[str, bytes]) -> Path:
    d.mkdir()
    for name, data in files.items():
        (d / f"{name}-{GLOBAL}").write_bytes(data)
    return d


def test_store_replaces_whole_and_clears_immutable(work: Path) -> None:
    d = _store(work / "vars", {"BootOrder": b"\7\0\0\0\1\0\2\0\3\0"})
    store = EfiVarStore(d)
    assert not store.efivarfs
    if subprocess.run(["chattr", "+i", str(d / f"BootOrder-{GLOBAL}")], capture_output=True).returncode:
        pytest.skip("no immutable flag on this filesystem")
    store.set_boot_order([5])
    assert (d / f"BootOrder-{GLOBAL}").read_bytes() == b"\7\0\0\0\5\0"
    assert store.boot_order() == [5] and store.read("Boot0005") is None
    subprocess.run(["chattr", "+i", str(d / f"BootOrder-{GLOBAL}")], check=True)
    store.set_boot_order([])
    assert os.listdir(d) == []


def _disk(work: Path) -> gpt.GptTable:
    """A sparse 64 MiB disk: a 16 MiB ESP (partition 2) after a 1 MiB one."""
    table = gpt.layout(64 * MIB, [gpt.PartitionSpec("BIOS", gpt.BIOS_BOOT, MIB),
                                  gpt.PartitionSpec("EFI-SYSTEM", gpt.ESP, 16 * MIB),
                                  gpt.PartitionSpec("root", gpt.LINUX_DATA, None)])
    with open(work / "disk.raw", "wb") as f:
        f.truncate(64 * MIB)
    write_gpt(work / "disk.raw", table)
    return table


def _efibootmgr(efivars: Path, *args: str) -> str:
    env = dict(os.environ, LIBEFIVAR_OPS="efivarfs", EFIVARFS_PATH=f"{efivars}/")
    return subprocess.run(["efibootmgr", *args], env=env, capture_output=True, text=True, check=True).stdout


needs_efibootmgr = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("efibootmgr"),
                                      reason="needs root (a loop device) and efibootmgr: scripts/install-peers.sh")


@needs_efibootmgr
def test_add_boot_entry_is_bootupds_efibootmgr_run(work: Path) -> None:
    """bootupd's update_firmware on a disk that already has an entry of that
    label: ``efibootmgr -b 0000 -B`` then ``efibootmgr --create``, against
    :func:`add_boot_entry` on a copy of the same variables."""
    table = _disk(work)
    esp = table.partitions[1]
    shell = LoadOption("UEFI Shell", (OtherNode(1, 1, b"\x01\x02"), FilePath("\\Shell.efi")))
    old = LoadOption("debian gnu/linux", (HardDrive(2, 1, 2, uuid.UUID(int=7)), FilePath("\\old.efi")))
    start = {"Boot0000": b"\7\0\0\0" + old.encode(), "Boot0001": b"\7\0\0\0" + shell.encode(),
             "Boot0003": b"\7\0\0\0" + shell.encode(), "BootOrder": b"\7\0\0\0\1\0\0\0\3\0"}
    peer, mine = _store(work / "peer", start), _store(work / "mine", start)
    lo = subprocess.run(["losetup", "--find", "--show", str(work / "disk.raw")], capture_output=True, text=True,
                        check=True).stdout.strip()
    try:
        _efibootmgr(peer, "-b", "0000", "-B")
        # libefivar rewrites BootOrder with open(O_WRONLY) and one write of 8 bytes
        # ([1, 3]): efivarfs replaces the variable whole, a plain folder keeps the old tail
        os.truncate(peer / f"BootOrder-{GLOBAL}", 8)
        listing = _efibootmgr(peer, "-v", "--create", "--disk", lo, "--part", "2", "--loader", SHIM_LOADER,
                              "--label", "Debian GNU/Linux")
    finally:
        subprocess.run(["losetup", "-d", lo], capture_output=True)
    entry = add_boot_entry(EfiVarStore(mine), table, esp, SHIM_LOADER, "Debian GNU/Linux")
    assert (entry.number, entry.replaced) == (0, (0,))
    assert sorted(os.listdir(mine)) == sorted(os.listdir(peer))
    for name in os.listdir(peer):
        assert (mine / name).read_bytes() == (peer / name).read_bytes(), name
    opt = EfiVarStore(mine).boot_options()[0]
    assert "BootOrder: 0000,0001,0003" in listing and opt.describe(0) in listing


class BlockDisk:
    """bootc's layout on a loop device of the whole image file, its partitions
    as the kernel's own (``partx -a``): a disk as to-filesystem sees a real
    one, a block device, unlike the per-partition loops of test_tofs_bootloaders."""

    def __init__(self, work: Path) -> None:
        self.path = work / "disk.raw"
        self.table = bootc_disk_file(self.path)
        self.mounts: List[Path] = []
        self.dev = run("losetup", "--find", "--show", "--partscan", str(self.path)).stdout.strip()
        subprocess.run(["partx", "-a", self.dev], capture_output=True)
        self.parts = [f"{self.dev}p{i}" for i in range(1, 5)]
        for _ in range(50):
            if all(os.path.exists(p) for p in self.parts):
                break
            time.sleep(0.1)
        else:
            self.close()
            pytest.skip("the loop device's partitions got no device nodes here")
        run("mkfs.vfat", "-F", "32", "-n", "EFI-SYSTEM", self.parts[1])
        run("mkfs.ext4", "-q", "-F", "-L", "boot", self.parts[2])
        run("mkfs.ext4", "-q", "-F", "-L", "root", self.parts[3])
        self.target = work / "target"
        self.target.mkdir()
        for node, at in ((self.parts[3], self.target), (self.parts[2], self.target / "boot")):
            at.mkdir(exist_ok=True)
            run("mount", node, str(at))
            self.mounts.append(at)

    def esp_listing(self) -> str:
        # through the whole disk, as to-filesystem writes it: the partition's node
        # has a page cache of its own that would still hold what mkfs left
        return run("mdir", "-/", "-b", "-i", f"{self.dev}@@{self.table.partitions[1].offset}", "::/",
                   check=False).stdout

    def close(self) -> None:
        subprocess.run(["chattr", "-R", "-i", str(self.path.parent / "target")], capture_output=True)
        for m in reversed(self.mounts):
            subprocess.run(["umount", str(m)], capture_output=True)
        subprocess.run(["partx", "-d", self.dev], capture_output=True)
        subprocess.run(["losetup", "-d", self.dev], capture_output=True)


@needs_efibootmgr
@needs_shim
def test_to_filesystem_without_generic_image_installs_for_the_running_firmware(work: Path) -> None:
    """A BIOS host gets BIOS alone; a UEFI host the ESP alone and a Boot####
    for the vendor shim first in BootOrder, the bytes efibootmgr writes."""
    imgref = "ostree-unverified-image:" + _image(work / "img", shim=True)
    disk = BlockDisk(work)
    try:
        res = install_to_filesystem(disk.target, imgref, firmware=Firmware(efi_booted=False))
        assert (res.components, res.esp, res.bios_disk, res.boot_entry) == (("BIOS",), None, Path(disk.dev), None)
        assert "::/EFI" not in disk.esp_listing()

        start = {"Boot0001": b"\7\0\0\0" + LoadOption("UEFI Shell", (FilePath("\\Shell.efi"),)).encode(),
                 "BootOrder": b"\7\0\0\0\1\0"}
        mine, peer = _store(work / "mine", start), _store(work / "peer", start)
        res = install_to_filesystem(disk.target, imgref, replace="wipe", firmware=Firmware(True, mine))
        assert (res.components, res.bios_disk) == (("EFI",), None)
        listing = disk.esp_listing()
        for name in ("EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/fbx64.efi", "EFI/debian/shimx64.efi", "EFI/debian/BOOTX64.CSV"):
            assert f"::/{name}" in listing, listing
        assert str(res.boot_entry) == "Boot0000 Debian GNU/Linux (\\EFI\\debian\\shimx64.efi)"
        _efibootmgr(peer, "--create", "--disk", disk.dev, "--part", "2", "--loader", SHIM_LOADER,
                    "--label", "Debian GNU/Linux")
        assert sorted(os.listdir(mine)) == sorted(os.listdir(peer))
        for name in os.listdir(peer):
            assert (mine / name).read_bytes() == (peer / name).read_bytes(), name

        # a generic image leaves the variables alone
        before = {n: (mine / n).read_bytes() for n in os.listdir(mine)}
        res = install_to_filesystem(disk.target, imgref, replace="wipe", generic_image=True,
                                    firmware=Firmware(True, mine))
        assert (res.components, res.boot_entry) == (("EFI", "BIOS"), None)
        assert {n: (mine / n).read_bytes() for n in os.listdir(mine)} == before
    finally:
        disk.close()


@pytest.mark.skipif(not shutil.which("sgdisk"), reason="needs gdisk: scripts/install-peers.sh")
def test_entry_names_the_partition_by_its_slot(work: Path) -> None:
    """An ESP in slot 3 after two empty ones is HD(3,...): firmware matches the
    number too, so it is the slot read from the disk, not the place in the list."""
    img = work / "gap.img"
    with open(img, "wb") as f:
        f.truncate(8 * MIB)
    subprocess.run(["sgdisk", "-n", "3:2048:+2M", "-t", "3:EF00", str(img)], check=True, capture_output=True)
    table = read_gpt(img)
    (esp,) = table.partitions
    assert esp.number == 3 and esp == attrs.evolve(esp, number=0)
    store = EfiVarStore(_store(work / "vars", {}))
    entry = add_boot_entry(store, table, esp, "\\EFI\\BOOT\\BOOTX64.EFI", "x")
    assert (entry.number, store.boot_order()) == (0, [0])
    assert store.boot_options()[0].device_path[0] == HardDrive(3, 2048, 4096, esp.unique_guid)
