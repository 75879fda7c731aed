"""What a repository wrote while a caller watched: the counters of libostree's
``OstreeRepoTransactionStats``, which ``ostree commit --table-output`` prints.

A :class:`WriteStats` is handed to :attr:`ostreepy.store.repo.Repo.write_stats`
for the length of an operation; the writers (on any thread) count into it: every
object asked for (``*_total``), those that were new (``*_written``), the bytes of
new regular files, and the files a devino cache answered without reading them.
"""

from __future__ import annotations

import threading

import attrs

__all__ = ["WriteStats"]


@attrs.define
class WriteStats:
    """Counters, safe to bump from writer threads."""

    metadata_total: int = 0
    metadata_written: int = 0
    content_total: int = 0
    content_written: int = 0
    devino_cache_hits: int = 0
    content_bytes_written: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, eq=False, repr=False)

    def metadata(self, written: bool) -> None:
        with self._lock:
            self.metadata_total += 1
            self.metadata_written += written

    def content(self, written: bool, size: int = 0) -> None:
        with self._lock:
            self.content_total += 1
            if written:
                self.content_written += 1
                self.content_bytes_written += size

    def devino_hit(self) -> None:
        with self._lock:
            self.devino_cache_hits += 1
