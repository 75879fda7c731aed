"""cpio archives (the "new ASCII" format, ``cpio -H newc``, with or without CRC), read
as libarchive presents them to ``ostree commit --tree=tar=``: each entry as a
:class:`tarfile.TarInfo` the tar importer takes as it is.

Layout: a 110-byte header (magic ``070701``/``070702``, then 13 eight-digit hex
fields: ino, mode, uid, gid, nlink, mtime, filesize, dev major/minor, rdev
major/minor, namesize, check), the NUL-terminated name, padding to 4 bytes, the
data (a symlink's target), padding to 4 bytes; ``TRAILER!!!`` ends it.

Hardlinks as libarchive's cpio reader reports them (record_hardlink): the first
entry of an (inode, device) with nlink > 1 is plain, each later one names it as
its hardlink target; GNU cpio puts the data on the last one only, which the
importer handles as ostree does (deferred hardlinks).  Reads a stream in one
pass; the data of an entry is read through :meth:`CpioReader.data` before the
next entry is asked for.
"""

from __future__ import annotations

import stat
import tarfile
from typing import IO, Dict, Iterator, Optional, Tuple

from ..errors import TarError

__all__ = ["CPIO_MAGICS", "CpioReader"]

#: the magics of the formats read: new ASCII, and new ASCII with CRC
CPIO_MAGICS = (b"070701", b"070702")
_HEADER = 110
_TRAILER = "TRAILER!!!"
#: the file types a cpio mode can name, as the tar member types the importer reads
_TAR_TYPES = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
              stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}


def _pad4(n: int) -> int:
    return -n % 4


class _Data:
    """An entry's data, a bounded window on the stream."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            n = self.left
        data = self._stream.read(n) if n else b""
        if len(data) != n:
            raise TarError("Truncated cpio archive")
        self.left -= n
        return data


class CpioReader:
    """Entries of a newc cpio stream: ``for member, hardlink in reader`` then
    ``reader.data()`` for the member's data (regular files and symlinks)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._data: Optional[_Data] = None
        self._pad = 0
        # (dev, ino) -> (name, links still to come), as libarchive's links list
        self._links: Dict[Tuple[int, int], Tuple[str, int]] = {}

    def _read(self, n: int) -> bytes:
        data = self._stream.read(n)
        if len(data) != n:
            raise TarError("Truncated cpio archive")
        return data

    def _skip_rest(self) -> None:
        if self._data is not None:
            while self._data.left:
                self._data.read(min(self._data.left, 1 << 20))
            self._data = None
        if self._pad:
            self._read(self._pad)
            self._pad = 0

    def data(self) -> _Data:
        assert self._data is not None
        return self._data

    def __iter__(self) -> Iterator[Tuple[tarfile.TarInfo, Optional[str]]]:
        while True:
            self._skip_rest()
            header = self._read(_HEADER)
            if header[:6] not in CPIO_MAGICS:
                raise TarError(f"Invalid cpio header magic {header[:6]!r}")
            try:
                f = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
            except ValueError:
                raise TarError("Invalid cpio header") from None
            ino, mode, uid, gid, nlink, mtime, size, dmaj, dmin, _rmaj, _rmin, namesize, _check = f
            raw = self._read(namesize)
            self._read(_pad4(_HEADER + namesize))
            name = raw.rstrip(b"\x00").decode("utf-8", "surrogateescape")
            if name == _TRAILER:
                return
            member = tarfile.TarInfo(name)
            member.mode = stat.S_IMODE(mode)
            member.uid, member.gid, member.mtime = uid, gid, mtime
            member.size = size
            fmt = stat.S_IFMT(mode)
            hardlink: Optional[str] = None
            if nlink > 1 and fmt != stat.S_IFDIR:
                key = ((dmaj << 32) | dmin, ino)
                first = self._links.get(key)
                if first is None:
                    self._links[key] = (name, nlink - 1)
                else:
                    hardlink = first[0]
                    if first[1] <= 1:
                        del self._links[key]
                    else:
                        self._links[key] = (first[0], first[1] - 1)
            self._data = _Data(self._stream, size)
            self._pad = _pad4(size)
            tartype = _TAR_TYPES.get(fmt)
            if tartype is None:
                raise TarError(f"Unsupported cpio file type {fmt >> 12:o} for {name}")
            member.type = tartype
            if fmt == stat.S_IFLNK:
                member.linkname = self._data.read().decode("utf-8", "surrogateescape")
            yield member, hardlink
