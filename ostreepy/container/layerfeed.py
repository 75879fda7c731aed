"""A layer's uncompressed bytes, produced a few chunks ahead on a thread of their own.

Why: reading a layer is a chain of native calls that release the GIL (the blob's
read and sha256, zstd or zlib, the diffID's sha256); run on the thread that parses
the tar and hands files to the writers, they add up with it, one after the other.
On a thread of their own they overlap with the parse and the writes, and only the
chunks (1 MB each, a few hundred for a 200 MB layer) cross between the threads:
no per-file hand-off.

Design: ``produce()`` (the caller's: read, hash, decompress) is called on the
thread until it returns ``b""``; its chunks wait in a queue of ``depth`` entries,
so memory stays at a few MB whatever the layer's size.  An exception it raises
is queued after the chunks before it, so the reader meets it at the same place
in the stream as a reader on one thread would.  :meth:`LayerFeed.close` stops the
thread (the reader may give up half way, on a bad tar) and waits for it, so
nothing reads the blob after its owner has closed it.
"""

from __future__ import annotations

import io
import queue
import threading
from typing import Callable, Union

_Item = Union[bytes, BaseException]


class LayerFeed(io.RawIOBase):
    """``read`` over the chunks ``produce`` returns, produced ahead on a thread of its own."""

    def __init__(self, produce: Callable[[], bytes], depth: int = 4, name: str = "ostreepy-layer-read") -> None:
        super().__init__()
        self._produce = produce
        self._queue: queue.Queue[_Item] = queue.Queue(depth)
        self._stop = False
        self._buf = b""
        self._off = 0
        self._eof = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        put = self._queue.put
        try:
            while not self._stop:
                data = self._produce()
                put(data)
                if not data:
                    return
        except BaseException as e:  # noqa: BLE001  (handed to the reader, raised there)
            put(e)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        """Up to ``n`` bytes (at most the rest of one chunk; all that is left for -1)."""
        if n < 0:
            parts: list[bytes] = []
            while True:
                data = self.read(1 << 30)
                if not data:
                    return b"".join(parts)
                parts.append(data)
        if self._off >= len(self._buf):
            if self._error is not None:
                raise self._error
            if self._eof or n == 0:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._error = item
                raise item
            if not item:
                self._eof = True
                return b""
            self._buf, self._off = item, 0
        off = self._off
        if off == 0 and n >= len(self._buf):
            self._off = len(self._buf)
            return self._buf
        self._off = off + n
        return self._buf[off:off + n]

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end (raising what the producer raised on the way)."""
        while self.read(1 << 30):
            pass

    def close(self) -> None:
        """Stop the producer and wait for it (whatever it was in the middle of)."""
        self._stop = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)  # makes room for a put it is blocked in
            except queue.Empty:
                pass
        self._thread.join()
        self._buf = b""
        super().close()
