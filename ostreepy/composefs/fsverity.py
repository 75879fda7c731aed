"""fs-verity file digests as the kernel computes them (SHA-256, 4 KiB blocks,
no salt), streaming in flat memory.

The kernel hashes each 4 KiB data block (the last one zero-padded), then hashes
the concatenated digests block by block, level after level, until one block is
left; its hash is the root. The file digest is the SHA-256 of the 256-byte
``fsverity_descriptor`` holding that root and the data size. An empty file has
an all-zero root (the kernel's rule; libcomposefs never asks for it).

:class:`FsVerityHasher` hashes a full block as soon as it is complete, so each
level holds at most one partial block: memory stays at a few KiB plus the
caller's chunk, whatever the file size. Counting the blocks of each level lets
:meth:`FsVerityHasher.digest` tell which level is the root without the lazy
flushing libcomposefs uses. Pure code: bytes in, bytes out.
"""

from __future__ import annotations

import os
import struct
from hashlib import sha256
from typing import BinaryIO

__all__ = ["BLOCK_SIZE", "DIGEST_SIZE", "FsVerityHasher", "fsverity_digest", "fsverity_digest_of_stream",
           "fsverity_digest_of_fd"]

#: Merkle tree block size (and data block size).
BLOCK_SIZE = 4096
#: Size of a SHA-256 digest.
DIGEST_SIZE = 32
_ZERO_BLOCK = bytes(BLOCK_SIZE)
_READ_SIZE = 1 << 20


class FsVerityHasher:
    """Incremental fs-verity SHA-256 digest: ``update()`` any number of times, then ``digest()``."""

    def __init__(self) -> None:
        # _levels[i]: the pending (not yet full) block of level i; level 0 holds data.
        self._levels: list[bytearray] = [bytearray()]
        self._counts: list[int] = [0]  # full blocks hashed so far, per level
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def _push(self, level: int, digests: bytes) -> None:
        """Append block digests of ``level - 1`` to ``level``, hashing full blocks on."""
        if level == len(self._levels):
            self._levels.append(bytearray())
            self._counts.append(0)
        buf = self._levels[level]
        buf += digests
        if len(buf) >= BLOCK_SIZE:
            n_full = len(buf) // BLOCK_SIZE
            mv = memoryview(buf)
            out = b"".join([sha256(mv[i:i + BLOCK_SIZE]).digest()
                            for i in range(0, n_full * BLOCK_SIZE, BLOCK_SIZE)])
            mv.release()
            del buf[:n_full * BLOCK_SIZE]
            self._counts[level] += n_full
            self._push(level + 1, out)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the next bytes of the file."""
        mv = memoryview(data).cast("B")
        n = len(mv)
        if not n:
            return
        self._size += n
        head = self._levels[0]
        pos = 0
        if head:
            take = min(BLOCK_SIZE - len(head), n)
            head += mv[:take]
            pos = take
            if len(head) < BLOCK_SIZE:
                return
            self._counts[0] += 1
            full = sha256(head).digest()
            head.clear()
            self._push(1, full)
        n_full = (n - pos) // BLOCK_SIZE
        if n_full:
            end = pos + n_full * BLOCK_SIZE
            out = b"".join([sha256(mv[i:i + BLOCK_SIZE]).digest() for i in range(pos, end, BLOCK_SIZE)])
            self._counts[0] += n_full
            self._push(1, out)
            pos = end
        if pos < n:
            head += mv[pos:]

    def root_hash(self) -> bytes:
        """The Merkle tree root (all zeros for an empty file); the hasher stays usable."""
        if self._size == 0:
            return bytes(DIGEST_SIZE)
        counts = list(self._counts)
        pending = [bytes(b) for b in self._levels]
        level = 0
        while True:
            if pending[level]:
                block = pending[level] + _ZERO_BLOCK[len(pending[level]):]
                pending[level] = b""
                counts[level] += 1
                if level + 1 == len(pending):
                    pending.append(b"")
                    counts.append(0)
                pending[level + 1] += sha256(block).digest()
            if counts[level] == 1:
                # One block at this level: its digest, the only one above, is the root.
                return pending[level + 1][:DIGEST_SIZE]
            level += 1

    def digest(self) -> bytes:
        """The 32-byte fs-verity file digest (what ``FS_IOC_MEASURE_VERITY`` reports)."""
        return _descriptor_digest(self._size, self.root_hash())

    def hexdigest(self) -> str:
        return self.digest().hex()


def fsverity_digest(data: bytes | bytearray | memoryview) -> bytes:
    """fs-verity digest of ``data``."""
    n = len(memoryview(data).cast("B"))
    return _descriptor_digest(n, _merkle_root(data) if n else bytes(DIGEST_SIZE))


def fsverity_digest_of_stream(stream: BinaryIO, chunk_size: int = _READ_SIZE) -> bytes:
    """fs-verity digest of everything left in ``stream``, read in ``chunk_size`` pieces."""
    h = FsVerityHasher()
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        while True:
            chunk = stream.read(chunk_size)
            if not chunk:
                break
            h.update(chunk)
        return h.digest()
    buf = bytearray(chunk_size)
    mv = memoryview(buf)
    while True:
        n = readinto(buf)
        if not n:
            break
        h.update(mv[:n])
    return h.digest()


def _merkle_root(data: bytes | bytearray | memoryview) -> bytes:
    """Root hash of a non-empty file held whole in memory: each level hashed in one pass."""
    mv = memoryview(data).cast("B")
    n = len(mv)
    full = n - n % BLOCK_SIZE
    parts = [sha256(mv[i:i + BLOCK_SIZE]).digest() for i in range(0, full, BLOCK_SIZE)]
    if full < n:
        parts.append(sha256(bytes(mv[full:]) + _ZERO_BLOCK[n - full:]).digest())
    mv.release()
    level = b"".join(parts)
    while len(level) > DIGEST_SIZE:
        parts = [sha256(level[i:i + BLOCK_SIZE].ljust(BLOCK_SIZE, b"\0")).digest()
                 for i in range(0, len(level), BLOCK_SIZE)]
        level = b"".join(parts)
    return level


_DESCRIPTOR_TAIL = bytes(32 + 144)


def _descriptor_digest(size: int, root: bytes) -> bytes:
    return sha256(struct.pack("<BBBBIQ", 1, 1, 12, 0, 0, size) + root.ljust(64, b"\0") + _DESCRIPTOR_TAIL).digest()


def fsverity_digest_of_fd(fd: int, size: int | None = None) -> bytes:
    """fs-verity digest of an open file from offset 0, without moving its offset (pread);
    ``size``: its size where the caller has just looked (a guess: the file is read to its end)."""
    if size is None:
        size = os.fstat(fd).st_size
    if size <= _READ_SIZE:
        # most of an OS tree: one read, each Merkle level hashed in one go
        data = os.pread(fd, size + 1, 0)
        if len(data) == size:
            return _descriptor_digest(size, _merkle_root(data) if size else bytes(DIGEST_SIZE))
    h = FsVerityHasher()
    off = 0
    while True:
        data = os.pread(fd, _READ_SIZE, off)
        if not data:
            break
        h.update(data)
        off += len(data)
    return h.digest()
