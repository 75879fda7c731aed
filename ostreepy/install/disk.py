"""The thin I/O layer over :mod:`ostreepy.install.gpt`: a disk is a regular
file (an image) or a block device, addressed by offset with ``pread``/``pwrite``.

The filesystems themselves are made in place, in their partitions of the
disk file, by ``mkfs.ext4 -E offset=`` and ``mkfs.vfat --offset``
(:mod:`ostreepy.install.image`), so nothing is copied here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from . import gpt

__all__ = ["disk_size", "write_gpt", "read_gpt"]


def disk_size(path: Path) -> int:
    """Bytes of a file or a block device (``st_size`` is 0 for devices)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def write_gpt(path: Path, table: gpt.GptTable, mbr: Optional[bytes] = None) -> None:
    """Write both copies of ``table``; the backup goes first, so a crash between
    the two leaves the old primary in place rather than a half table."""
    size = disk_size(path)
    if size != table.disk_size:
        raise gpt.GptError(f"{path}: {size} bytes, the table is for {table.disk_size}")
    b = gpt.encode(table, mbr)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b.tail, b.tail_offset)
        os.pwrite(fd, b.head, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_gpt(path: Path) -> gpt.GptTable:
    """The GPT of a disk file or device, both copies checked (:func:`gpt.decode`)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        return gpt.decode(lambda off, n: os.pread(fd, n, off), size)
    finally:
        os.close(fd)
