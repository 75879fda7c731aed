"""``bootc install to-disk``: partition a disk as bootc does on x86_64 (GPT from
:mod:`ostreepy.install.gpt`: BIOS boot 1 MiB, ESP 512 MiB, /boot 1 GiB, root
the rest or ``--root-size``), make the filesystems with the chosen UUIDs
(``--filesystem``: ext4, or xfs with xfsprogs, for /boot and root alike as
bootc does), mount them under a private folder and run
:func:`ostreepy.install.tofs.install_to_filesystem` on them, which finds
this disk from the mounted /boot and puts ``--bootloader`` on it: the ESP
(left unmounted: mtools fills it, as vfat may be missing from the kernel),
and with GRUB the BIOS boot partition and MBR when the image ships i386-pc
modules. bootc's to-disk likewise leaves the bootloader to the same step as
to-filesystem (bootupd on the target's devices), ``--generic-image`` and
the host's firmware choosing which halves and whether a firmware boot entry
is written (:mod:`ostreepy.install.tofs`).

A regular file is a generic image whatever is asked: bootc turns
``--generic-image`` on for ``--via-loopback`` ("Automatically enabling
--generic-image when installing via loopback", ``install.rs``), as a file's
disk boots on other firmware than this host's.

It gets one loop device per partition, by
offset; without root, where loop devices cannot be made, the answer is
``ostreepy image build``, which needs no mounts.

Refusals come first: a device that is mounted (itself or a partition), a disk
that already holds data in its first MiB without ``--wipe``, a size too small.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import List, Optional, Sequence

from ..progress import ProgressCallback
from . import gpt
from .disk import disk_size, write_gpt
from .efivarfs import Firmware
from .image import _run, _which
from .tofs import BOOTLOADERS, InstallError, InstallResult, install_to_filesystem

__all__ = ["install_to_disk"]

MIB = 1024 * 1024
MKFS = {"ext4": "mkfs.ext4", "xfs": "mkfs.xfs"}


def _mounted_sources() -> List[str]:
    with open("/proc/self/mounts") as f:
        return [ln.split()[0] for ln in f]


def _check_unused(dev: Path, wipe: bool) -> None:
    real = os.path.realpath(dev)
    for src in _mounted_sources():
        if src == real or (src.startswith(real) and src[len(real):].lstrip("p").isdigit()):
            raise InstallError(f"{dev} is mounted ({src}): unmount it first")
    with open(dev, "rb") as f:
        head = f.read(MIB)
    if head.strip(b"\0") and not wipe:
        raise InstallError(f"{dev} is not empty (it has a partition table or data): use --wipe")


def install_to_disk(device: Path, source_imgref: str, *, via_loopback: bool = False, wipe: bool = False,
                    filesystem: str = "ext4", root_size: Optional[int] = None, bootloader: str = "grub",
                    size: Optional[int] = None, target_imgref: Optional[str] = None,
                    stateroot: str = "default", kargs: Sequence[str] = (),
                    root_ssh_authorized_keys: Optional[Path] = None,
                    progress: Optional[ProgressCallback] = None, generic_image: bool = False,
                    firmware: Optional[Firmware] = None) -> InstallResult:
    """Install ``source_imgref`` onto ``device`` (a block device, or a regular
    file with ``via_loopback``; ``size`` makes or grows the file)."""
    if filesystem not in MKFS:
        raise InstallError(f"--filesystem={filesystem}: expected ext4 or xfs")
    if bootloader not in BOOTLOADERS:
        raise InstallError(f"--bootloader={bootloader}: expected {', '.join(BOOTLOADERS)}")
    if bootloader == "systemd" and filesystem != "ext4":
        raise InstallError(f"--bootloader=systemd reads /boot through an EFI ext4 driver: use --filesystem=ext4, "
                           f"not {filesystem}")
    mkfs = _which(MKFS[filesystem])
    tools = {t: _which(t) for t in ("mkfs.vfat", "mmd", "mcopy", "grub-mkimage")}  # refused early if missing
    device = Path(device)
    if device.exists() and stat.S_ISREG(os.stat(device).st_mode) or not device.exists():
        if not via_loopback:
            raise InstallError(f"{device} is a regular file: use --via-loopback")
        if not device.exists():
            if size is None:
                raise InstallError(f"{device} does not exist: give its size")
            with open(device, "wb") as f:
                f.truncate(size)
        elif size is not None and device.stat().st_size < size:
            os.truncate(device, size)
    _check_unused(device, wipe)
    if stat.S_ISREG(os.stat(device).st_mode):
        generic_image = True
    if os.geteuid() != 0:
        raise InstallError("to-disk needs root (loop devices, mounts); without root use "
                           "'ostreepy image build', which needs neither")
    total = disk_size(device) // MIB * MIB
    table = gpt.bootc_layout(total, root_size=root_size)
    _bios, esp, boot, root = table.partitions
    boot_uuid, root_uuid = uuid.uuid4(), uuid.uuid4()
    if stat.S_ISREG(os.stat(device).st_mode):
        if total != os.stat(device).st_size:
            os.truncate(device, total)
    # the old table's copies are overwritten together (primary and backup)
    with open(device, "r+b") as f:
        f.write(bytes(MIB))
    write_gpt(device, table)
    loops: List[str] = []
    if stat.S_ISREG(os.stat(device).st_mode):
        # one loop device per partition, by offset: partition nodes of a
        # --partscan loop need udev, which a container or chroot may lack
        for part in (esp, boot, root):
            loops.append(subprocess.run(["losetup", "--find", "--show", f"--offset={part.offset}",
                                         f"--sizelimit={part.size}", str(device)], capture_output=True, text=True,
                                        check=True).stdout.strip())
        parts = [""] + loops
    else:
        dev = str(device)
        subprocess.run(["partx", "-u", dev], capture_output=True)
        sep = "p" if dev[-1].isdigit() else ""
        parts = [f"{dev}{sep}{i}" for i in range(1, 5)]
    mnt = Path(tempfile.mkdtemp(prefix="bootc-install-"))
    mounted: List[Path] = []
    try:
        _run(tools["mkfs.vfat"], "-F", "32", "-n", "EFI-SYSTEM", parts[1])
        for node, fs_uuid, label in ((parts[2], boot_uuid, "boot"), (parts[3], root_uuid, "root")):
            if filesystem == "xfs":
                _run(mkfs, "-q", "-f", "-m", f"uuid={fs_uuid}", "-L", label, node)
            else:
                _run(mkfs, "-q", "-F", "-U", str(fs_uuid), "-L", label, node)
        for node, sub in ((parts[3], ""), (parts[2], "boot")):
            p = mnt / sub
            p.mkdir(exist_ok=True)
            _run("mount", node, str(p))
            mounted.append(p)
        res = install_to_filesystem(mnt, source_imgref, target_imgref=target_imgref, stateroot=stateroot,
                                    kargs=kargs, root_mount_spec=f"UUID={root_uuid}",
                                    boot_mount_spec=f"UUID={boot_uuid}",
                                    root_ssh_authorized_keys=root_ssh_authorized_keys, progress=progress,
                                    bootloader=bootloader, generic_image=generic_image, firmware=firmware)
        if "EFI" in res.components and res.esp is None:
            raise InstallError(f"{device}: the ESP was not found from the mounted /boot")
        return res
    finally:
        for p in reversed(mounted):
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
            subprocess.run(["umount", str(p)], capture_output=True)
        for lo in loops:
            subprocess.run(["losetup", "-d", lo], capture_output=True)
        try:
            mnt.rmdir()
        except OSError:
            pass
