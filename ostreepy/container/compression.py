"""Streaming decompression of layer blobs, with a bound on how much they may expand."""

from __future__ import annotations

import hashlib
import io
import zlib
from typing import BinaryIO, Callable

from ..errors import TarError

CHUNK = 1 << 20

GZIP_TYPES = ("gzip", "tar+gzip", "tar.gzip")
ZSTD_TYPES = ("zstd", "tar+zstd")


def compression_of(media_type: str) -> str:
    """'gzip', 'zstd' or 'none' for a layer media type (OCI or Docker)."""
    mt = media_type.lower()
    if mt.endswith("+gzip") or mt.endswith(".tar.gzip") or mt.endswith("diff.tar.gzip"):
        return "gzip"
    if mt.endswith("+zstd"):
        return "zstd"
    if mt.endswith(".tar") or mt.endswith("layer.v1.tar") or mt == "application/octet-stream":
        return "none"
    raise TarError(f"Unsupported layer media type {media_type}")


class _GzipReader(io.RawIOBase):
    """gzip, multi-member, as RFC 1952 allows."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._buf = b""
        self._eof = False
        self._started = False

    def readable(self) -> bool:
        return True

    def next_chunk(self) -> bytes:
        """The next piece of the decompressed stream (about ``CHUNK`` bytes at most; b"" at its end)."""
        while not self._eof:
            data = self._z.unconsumed_tail or self._raw.read(CHUNK)
            if not data:
                if self._started and not self._z.eof:
                    raise TarError("Truncated gzip stream")
                self._eof = True
                break
            self._started = True
            try:
                out = self._z.decompress(data, CHUNK)
            except zlib.error as e:
                raise TarError(f"Invalid gzip stream: {e}") from None
            if self._z.eof:
                rest = self._z.unused_data
                self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
                self._started = False
                if rest:
                    # another member follows (or trailing zero padding, which gzip tolerates)
                    if rest.strip(b"\x00"):
                        try:
                            out += self._z.decompress(rest, CHUNK)
                            self._started = True
                        except zlib.error as e:
                            raise TarError(f"Invalid gzip stream: {e}") from None
            if out:
                return out
        return b""

    def readinto(self, b) -> int:  # type: ignore[override]
        if not self._buf:
            self._buf = self.next_chunk()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _ZstdReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._zstd_error = zstandard.ZstdError
        # the blob read a chunk at a time, not zstd's 128 KB: each read goes through the
        # digest check and a buffer (a copy of every byte, and a GIL hand-off a read)
        self._r = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK, read_across_frames=True,
                                                             closefd=False)

    def readable(self) -> bool:
        return True

    def read_chunk(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes (b"" at the end)."""
        try:
            return self._r.read(n)
        except self._zstd_error as e:
            raise TarError(f"Invalid zstd stream: {e}") from None

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read_chunk(len(b))
        n = len(data)
        b[:n] = data
        return n


class HashingReader(io.RawIOBase):
    """Hashes (sha256) everything read through it (a layer's diffID as it is encapsulated;
    the import bounds and hashes its layers in ``layers._LayerReader``)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        if n:
            self.hasher.update(memoryview(b)[:n])
        return n or 0

    @property
    def digest(self) -> str:
        return "sha256:" + self.hasher.hexdigest()


def chunk_source(raw: BinaryIO, compression: str) -> Callable[[], bytes]:
    """The decompressed bytes of ``raw`` a piece at a time (about ``CHUNK`` bytes at most a call,
    b"" at the end): what :func:`decompressing_reader` gives, without its buffer's copies."""
    if compression == "gzip":
        return _GzipReader(raw).next_chunk
    if compression == "zstd":
        read = _ZstdReader(raw).read_chunk
        return lambda: read(CHUNK)
    if compression == "none":
        return lambda: raw.read(CHUNK)
    raise TarError(f"Unsupported compression {compression}")


def decompressing_reader(raw: BinaryIO, compression: str) -> BinaryIO:
    """A buffered reader of the decompressed bytes of ``raw`` (``gzip``, ``zstd`` or ``none``),
    bounded against decompression bombs."""
    if compression == "gzip":
        return io.BufferedReader(_GzipReader(raw), CHUNK)  # type: ignore[return-value]
    if compression == "zstd":
        return io.BufferedReader(_ZstdReader(raw), CHUNK)  # type: ignore[return-value]
    if compression == "none":
        return raw
    raise TarError(f"Unsupported compression {compression}")
