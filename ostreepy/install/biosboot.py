"""BIOS boot on x86_64 GPT disks, placed as ``grub-install --target=i386-pc``
(its ``grub-bios-setup``) leaves it: GRUB's ``core.img`` in the BIOS boot
partition and ``boot.img``'s code in the MBR, both from the image's own
``usr/lib/grub/i386-pc`` so that the two halves come from one GRUB build.

The placement is two patches, done here as pure functions on bytes (the
offsets are those of GRUB's ``boot.S`` and ``diskboot.S``, the same that
osbuild's ``org.osbuild.grub2.inst`` writes):

- ``boot.img``: the LBA of core.img's first sector at 0x5c (``kernel_sector``),
  and the ``jmp`` at 0x66 turned into two ``nop`` s, as grub-bios-setup does
  for a hard disk, so a BIOS that passes a wrong drive number still boots.
  Only its first 440 bytes go to the MBR: the disk signature and the
  protective partition record after them stay the GPT's.
- ``core.img``: its first sector (``diskboot.img``) loads the rest from the
  block list at its end, whose start defaults to sector 2 (the MBR gap);
  in a BIOS boot partition it must name the partition's second sector.

``core.img`` itself is packed by ``grub-mkimage -O i386-pc`` with the same
early configuration as the EFI binary (find /boot by filesystem UUID, load
its ``grub/grub.cfg``), so one grub.cfg serves both firmwares.
"""

from __future__ import annotations

import os
import struct
import tempfile
import subprocess
from pathlib import Path
from typing import Optional

from ..errors import OstreeError
from . import gpt

__all__ = ["BiosBootError", "grub_pc_dir", "boot_code", "patch_core", "make_core_img", "install_bios_boot"]

KERNEL_SECTOR = 0x5C
DRIVE_CHECK = 0x66
MBR_CODE = 440
# diskboot.img's first block list entry: start LBA (u64), sectors (u16), segment (u16)
BLOCKLIST = gpt.SECTOR - 12
CORE_SEGMENT = 0x820
# all_video: the menu entries' ``load_video`` insmods it, and no module directory is
# copied to /boot, so without it GRUB prints "file not found" and then, as after any
# error in an entry, waits 10 s at "Press any key to continue..." before booting
CORE_MODULES = ("biosdisk", "part_gpt", "part_msdos", "ext2", "xfs", "search", "search_fs_uuid", "normal",
                "configfile", "linux", "echo", "test", "gzio", "all_video", "serial", "terminal")


class BiosBootError(OstreeError):
    """GRUB's BIOS images are not what this placement expects, or do not fit."""


def grub_pc_dir(deployment: Path) -> Optional[Path]:
    """The image's ``usr/lib/grub/i386-pc`` when it ships GRUB for BIOS (None: BIOS boot is left out)."""
    d = deployment / "usr/lib/grub/i386-pc"
    if all((d / f).is_file() for f in ("boot.img", "diskboot.img", "kernel.img", "normal.mod")):
        return d
    return None


def boot_code(boot_img: bytes, core_lba: int) -> bytes:
    """The 440 bytes of MBR code: ``boot.img`` told where core.img starts."""
    if len(boot_img) != gpt.SECTOR or boot_img[510:512] != b"\x55\xaa":
        raise BiosBootError(f"boot.img: {len(boot_img)} bytes without the 55 AA signature of a boot sector")
    if boot_img[DRIVE_CHECK] not in (0xEB, 0x90):
        raise BiosBootError(f"boot.img: no drive-check jump at {DRIVE_CHECK:#x} (another GRUB layout?)")
    code = bytearray(boot_img[:MBR_CODE])
    struct.pack_into("<Q", code, KERNEL_SECTOR, core_lba)
    code[DRIVE_CHECK:DRIVE_CHECK + 2] = b"\x90\x90"
    return bytes(code)


def patch_core(core: bytes, core_lba: int, room: int) -> bytes:
    """``core.img`` to be written at ``core_lba``, in ``room`` bytes."""
    if len(core) > room:
        raise BiosBootError(f"core.img is {len(core)} bytes, the BIOS boot partition holds {room}")
    if len(core) < 2 * gpt.SECTOR:
        raise BiosBootError(f"core.img of {len(core)} bytes is too short")
    start, count, segment = struct.unpack_from("<QHH", core, BLOCKLIST)
    if segment != CORE_SEGMENT or count != -(-len(core) // gpt.SECTOR) - 1:
        raise BiosBootError(f"core.img: its block list (start {start}, {count} sectors, segment {segment:#x}) "
                            "is not diskboot.img's")
    out = bytearray(core)
    struct.pack_into("<Q", out, BLOCKLIST, core_lba + 1)
    return bytes(out)


def make_core_img(grub_mkimage: str, pc_dir: Path, boot_id: str, boot_separate: bool) -> bytes:
    """``core.img`` from ``pc_dir``, finding /boot by filesystem UUID ``boot_id``."""
    prefix = "/grub" if boot_separate else "/boot/grub"
    with tempfile.TemporaryDirectory(prefix="grub-pc-") as tmp:
        early = Path(tmp) / "early.cfg"
        early.write_text(f"search --no-floppy --fs-uuid --set=root {boot_id}\nset prefix=($root){prefix}\n"
                         f"configfile ($root){prefix}/grub.cfg\n")
        out = Path(tmp) / "core.img"
        _run(grub_mkimage, "-O", "i386-pc", "-d", str(pc_dir), "-p", prefix, "-c", str(early), "-o", str(out),
             *CORE_MODULES)
        return out.read_bytes()


def install_bios_boot(disk: Path, part: gpt.GptPartition, pc_dir: Path, core: bytes) -> None:
    """Write ``core`` into the BIOS boot partition ``part`` of ``disk`` (a file
    or device that already has its GPT), then the MBR code pointing at it:
    the MBR last, so a failure leaves no MBR pointing at a half core."""
    if part.type_guid != gpt.BIOS_BOOT:
        raise BiosBootError(f"partition {part.name!r} is not a BIOS boot partition")
    code = boot_code((pc_dir / "boot.img").read_bytes(), part.first_lba)
    body = patch_core(core, part.first_lba, part.size)
    fd = os.open(disk, os.O_WRONLY)
    try:
        os.pwrite(fd, body, part.offset)
        os.fsync(fd)
        os.pwrite(fd, code, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def _run(*args: str) -> None:
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise BiosBootError(f"{os.path.basename(args[0])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()}")
