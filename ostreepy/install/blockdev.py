"""Which disk holds a mounted filesystem, so that ``bootc install
to-filesystem`` can put the bootloader's disk parts (the ESP when it is not
mounted, the BIOS boot partition and the MBR) on the disk of the target's
/boot, as bootc does through bootupd.

The answer comes from sysfs, by the filesystem's device number (``st_dev``),
never from a path's name:

- a partition (``/sys/dev/block/M:m/partition``): its parent disk, at
  ``start`` sectors of 512 bytes;
- a loop device over a file with an offset (how ``to-disk --via-loopback``
  and the tests map one partition of an image file): the backing file, at the
  loop's ``offset``;
- anything else (a whole disk or loop device holding a filesystem without a
  partition table, a network or virtual filesystem): no disk.

Only an exact mount point is asked about: a folder inside another
filesystem (the host's own root, say) must never lead to the host's disk.
The GPT found there is checked to have a partition starting where the
filesystem does, so a stale table cannot send the bootloader elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import attrs

from . import gpt
from .disk import read_gpt

__all__ = ["DiskLocation", "disk_of_mount", "is_mount_point"]

SYS_DEV = Path("/sys/dev/block")


@attrs.frozen
class DiskLocation:
    """A filesystem's place: the whole ``disk`` (a device node or an image
    file), its GPT, and the partition that holds the filesystem."""

    disk: Path
    table: gpt.GptTable
    partition: gpt.GptPartition


def is_mount_point(path: Path) -> bool:
    """``path`` is where a filesystem is mounted (not a folder inside one)."""
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def _read(p: Path) -> Optional[str]:
    try:
        return p.read_text().strip()
    except OSError:
        return None


def _disk_and_offset(dev: int) -> Optional[tuple]:
    node = SYS_DEV / f"{os.major(dev)}:{os.minor(dev)}"
    if not node.exists():
        return None
    real = node.resolve()
    if (real / "partition").exists():
        start = _read(real / "start")
        if start is None or not start.isdigit():
            return None
        return Path("/dev") / real.parent.name, int(start) * 512
    backing = _read(real / "loop/backing_file")
    offset = _read(real / "loop/offset")
    if backing and offset and offset.isdigit() and int(offset) > 0:
        return Path(backing), int(offset)
    return None


def disk_of_mount(mount: Path) -> Optional[DiskLocation]:
    """The disk and partition of the filesystem mounted at ``mount``; None when
    ``mount`` is not a mount point or its filesystem is not a partition of a
    GPT disk."""
    if not is_mount_point(mount):
        return None
    found = _disk_and_offset(os.stat(mount).st_dev)
    if found is None:
        return None
    disk, offset = found
    if not disk.exists():
        return None
    try:
        table = read_gpt(disk)
    except (OSError, gpt.GptError):
        return None
    part = next((p for p in table.partitions if p.offset == offset), None)
    if part is None:
        return None
    return DiskLocation(disk=disk, table=table, partition=part)
