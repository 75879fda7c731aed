"""Typed progress events for transfers.

A caller passes ``progress=callback``; the callback receives these frozen attrs objects. It
may be called from worker threads (parallel layer transfers) but never concurrently: the
:class:`ProgressReporter` serialises the calls.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import attrs


@attrs.frozen
class BlobStarted:
    """A blob transfer began; ``resumed_from`` is the byte offset a resumed download continues
    at."""

    digest: str
    total: int
    resumed_from: int = 0


@attrs.frozen
class BlobProgress:
    """Bytes done of one blob, and of the whole operation."""

    digest: str
    done: int
    total: int
    overall_done: int
    overall_total: int


@attrs.frozen
class BlobSkipped:
    """The destination already had the blob (or it was mounted)."""

    digest: str
    total: int
    reason: str = "exists"


@attrs.frozen
class BlobDone:
    """A blob finished: all ``total`` bytes are at the destination, verified."""

    digest: str
    total: int


@attrs.frozen
class ManifestWritten:
    """A manifest (or index) was written to the destination under ``digest``."""

    digest: str
    media_type: str


@attrs.frozen
class TransferDone:
    """The whole copy finished; the last event of an operation."""

    overall_done: int
    overall_total: int


ProgressEvent = object
ProgressCallback = Callable[[object], None]


class ProgressReporter:
    """Keeps overall counters and forwards events to a callback under a lock."""

    def __init__(self, callback: Optional[ProgressCallback], overall_total: int = 0) -> None:
        self.callback = callback
        self.overall_total = overall_total
        self.overall_done = 0
        self._lock = threading.Lock()

    def add_total(self, n: int) -> None:
        with self._lock:
            self.overall_total += n

    def emit(self, event: object) -> None:
        if self.callback is None:
            return
        with self._lock:
            self.callback(event)

    def started(self, digest: str, total: int, resumed_from: int = 0) -> None:
        self.emit(BlobStarted(digest, total, resumed_from))
        if resumed_from:
            self.advance(digest, resumed_from, resumed_from, total)

    def advance(self, digest: str, n: int, done: int, total: int) -> None:
        with self._lock:
            self.overall_done += n
            ev = BlobProgress(digest, done, total, self.overall_done, self.overall_total)
            if self.callback is not None:
                self.callback(ev)

    def skipped(self, digest: str, total: int, reason: str = "exists") -> None:
        with self._lock:
            self.overall_done += total
        self.emit(BlobSkipped(digest, total, reason))

    def done(self, digest: str, total: int) -> None:
        self.emit(BlobDone(digest, total))

    def finished(self) -> None:
        self.emit(TransferDone(self.overall_done, self.overall_total))

    def blob_callback(self, digest: str, total: int) -> Callable[[int], None]:
        """A ``f(nbytes)`` for streams, counting bytes of one blob."""
        state = {"done": 0}

        def cb(n: int) -> None:
            state["done"] += n
            self.advance(digest, n, state["done"], total)

        return cb
