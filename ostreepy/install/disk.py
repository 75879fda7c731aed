"""The thin I/O layer over :mod:`ostreepy.install.gpt`: a disk is a regular
file (an image) or a block device, addressed by offset with ``pread``/``pwrite``.

Filesystem images made elsewhere (``mkfs.ext4 -d`` into a file, the ESP) are
copied into their partition in chunks, skipping runs of zeros, so a raw image
stays sparse and memory stays flat whatever the size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from ..errors import OstreeError
from . import gpt

__all__ = ["disk_size", "write_gpt", "read_gpt", "copy_into"]

CHUNK = 4 * 1024 * 1024


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


def copy_into(disk: Path, part: gpt.GptPartition, src: Path,
              progress: Optional[Callable[[int], None]] = None) -> None:
    """Copy the filesystem image ``src`` to ``part`` of ``disk``, leaving holes
    where ``src`` has zeros (the disk file was made sparse by truncate)."""
    size = src.stat().st_size
    if size > part.size:
        raise OstreeError(f"{src.name}: {size} bytes do not fit partition {part.name!r} of {part.size}")
    zero = bytes(CHUNK)
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(disk, os.O_WRONLY)
    try:
        off = 0
        while off < size:
            # jump over the holes of a sparse source without reading them
            try:
                data_at = os.lseek(sfd, off, os.SEEK_DATA)
            except OSError:
                break
            off = data_at - data_at % 4096
            chunk = os.pread(sfd, CHUNK, off)
            if not chunk:
                break
            if chunk != zero[:len(chunk)]:
                os.pwrite(dfd, chunk, part.offset + off)
            off += len(chunk)
            if progress:
                progress(min(off, size))
        if progress:
            progress(size)  # the tail was a hole: nothing left to copy
    finally:
        os.close(sfd)
        os.close(dfd)
