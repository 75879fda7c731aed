"""A multiset of fixed-width byte keys that holds about a megabyte in memory whatever the
number added: what a walk of a whole tree (fsck's, prune's, a composefs image's) keeps of
its files, where a set of them would cost ~100 bytes a file.

Design. Keys go to 256 buckets by their first byte; a bucket's full page (4 KiB, rounded
to whole keys) is written to one anonymous temporary file in TMPDIR (made at the first
page) and only its last, partial page stays in memory. A bucket is read back whole, a
256th of the keys at a time: :meth:`SpilledKeys.bucket`, and from it :meth:`unique`
(sorted, without repeats: for keys that are binary checksums, the order of ``objects/``)
and :meth:`repeated`. Where no temporary file is to be had (an unwritable or full TMPDIR)
the keys not yet written stay in memory: a check or a prune is not refused for want of a
scratch file. A file that cannot be read back is an :class:`~ostreepy.errors.OstreeError`
naming ``what`` the keys are.
"""

from __future__ import annotations

import os
from array import array

from ..errors import OstreeError
from ..fsutil import unnamed_file

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Iterator

__all__ = ["SpilledKeys", "scratch_file"]

_PAGE = 4096


def scratch_file() -> int | None:
    """An unnamed scratch file in TMPDIR (``/tmp`` by default) as a descriptor, gone with it
    (:func:`ostreepy.fsutil.unnamed_file`); None where there is none to be had."""
    try:
        f = unnamed_file(os.environ.get("TMPDIR") or "/tmp")
    except OSError:
        return None
    with f:
        return os.dup(f.fileno())


class SpilledKeys:
    """Keys of ``width`` bytes, bucketed by first byte, spilled a page at a time (see the
    module's text); ``what`` names them in an error."""

    def __init__(self, width: int, what: str = "keys") -> None:
        self.width = width
        self.what = what
        self._page = -(-_PAGE // width) * width
        self._tails = [bytearray() for _ in range(256)]
        self._pages: list[array[int]] = [array("Q") for _ in range(256)]  # their offsets in the file
        self._file: int | None = None
        self._end = 0
        self._in_memory = False
        self._count = 0

    def __len__(self) -> int:
        """The keys added (repeats too)."""
        return self._count

    def add(self, key: bytes) -> None:
        self._count += 1
        tail = self._tails[key[0]]
        tail += key
        if len(tail) >= self._page and not self._in_memory:
            self._spill(key[0], tail)

    def _spill(self, bucket: int, tail: bytearray) -> None:
        try:
            if self._file is None:
                self._file = scratch_file()
                if self._file is None:
                    raise OSError("no scratch file")
            if os.pwrite(self._file, tail, self._end) != len(tail):
                raise OSError("short write")
        except OSError:
            self._in_memory = True  # what was written is read back, the rest stays here
            return
        self._pages[bucket].append(self._end)
        self._end += len(tail)
        del tail[:]

    def bucket(self, b: int) -> bytes:
        """Every key added whose first byte is ``b``, as added (repeats too)."""
        pages = self._pages[b]
        data = b""
        if pages:
            assert self._file is not None
            try:
                data = b"".join([os.pread(self._file, self._page, off) for off in pages])
            except OSError as e:
                raise OstreeError(f"reading back the temporary list of {self.what}: {e}") from None
        return data + self._tails[b]

    def bucket_set(self, b: int) -> set[bytes]:
        """The distinct keys of bucket ``b``."""
        data, w = self.bucket(b), self.width
        return {data[i:i + w] for i in range(0, len(data), w)}

    def unique(self) -> Iterator[bytes]:
        """Every distinct key, bucket by bucket, in binary order."""
        for b in range(256):
            yield from sorted(self.bucket_set(b))

    def repeated(self) -> set[bytes]:
        """The keys added more than once."""
        out: set[bytes] = set()
        w = self.width
        for b in range(256):
            data = self.bucket(b)
            seen: set[bytes] = set()
            for i in range(0, len(data), w):
                k = data[i:i + w]
                if k in seen:
                    out.add(k)
                else:
                    seen.add(k)
        return out

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def __del__(self) -> None:
        # (a walk abandoned by an error: its scratch file goes with it)
        if self._file is not None:
            try:
                os.close(self._file)
            except Exception:
                pass

    def __enter__(self) -> SpilledKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
