"""A directory of blob files written atomically through digest-named partial files.

The download helpers live in :mod:`ociclient.registry` and are imported when a blob is
written: reading a local layout (an image import) must not pay for loading the HTTP stack."""

from __future__ import annotations

import io
import os
import shutil
from typing import IO, BinaryIO, Callable

from .digest import CHUNK, VerifyingReader, parse_digest
from .errors import NotFound
from .manifest import Descriptor

PARTIAL_DIR = ".ociclient-partial"


class _OneShot:
    """``open_at`` for a plain stream: only offset 0 can be served."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def __call__(self, offset: int) -> IO[bytes]:
        assert offset == 0
        return _NoClose(self.stream)  # type: ignore[return-value]


class _NoClose(io.RawIOBase):
    def __init__(self, s: IO[bytes]) -> None:
        super().__init__()
        self._s = s

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        return self._s.read(n)

    def close(self) -> None:
        super().close()


class BlobDir:
    """Blob files under ``root`` named by ``path_for(digest)``; partial downloads in
    ``root/.ociclient-partial/<alg>-<hex>.partial``."""

    def __init__(self, root: str, path_for: Callable[[str], str]) -> None:
        self.root = root
        self._path_for = path_for
        self.partial_dir = os.path.join(root, PARTIAL_DIR)

    def path(self, digest: str) -> str:
        parse_digest(digest)
        return self._path_for(digest)

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        return os.path.getsize(self.path(digest))

    def open_raw(self, digest: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in {self.root}") from None
        if offset:
            f.seek(offset)
        return f  # type: ignore[return-value]

    def open_verified(self, desc: Descriptor, on_read=None) -> BinaryIO:
        return io.BufferedReader(  # type: ignore[return-value]
            VerifyingReader(self.open_raw(desc.digest), desc.digest, desc.size, on_read=on_read),
            buffer_size=CHUNK)

    def write_from(self, open_at: Callable[[int], IO[bytes]], desc: Descriptor, *,
                   on_read=None, on_start=None) -> None:
        """Fetch through ``open_at(offset)`` resuming a partial file; verified, then renamed."""
        from .registry import download_to_file
        dest = self.path(desc.digest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        download_to_file(open_at, desc, dest, partial_dir=self.partial_dir, on_read=on_read,
                         on_start=on_start)

    def write_stream(self, stream: IO[bytes], desc: Descriptor, *, on_read=None) -> None:
        """Write a stream (no resume: any stale partial file is removed first)."""
        from .registry import partial_path
        part = partial_path(self.partial_dir, desc.digest)
        if os.path.exists(part):
            os.unlink(part)
        self.write_from(_OneShot(stream), desc, on_read=on_read)

    def write_bytes(self, data: bytes, desc: Descriptor) -> None:
        self.write_stream(io.BytesIO(data), desc)

    def cleanup(self) -> None:
        """Remove the partial directory if it is empty."""
        try:
            os.rmdir(self.partial_dir)
        except OSError:
            pass

    def discard_partials(self) -> None:
        shutil.rmtree(self.partial_dir, ignore_errors=True)
