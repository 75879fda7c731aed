"""The byte-level progress of the layers one pull (or push) moves, as ostreepy events.

ociclient counts the bytes of each blob and of the whole transfer in its
:class:`~ociclient.progress.ProgressReporter`, which also serialises the calls
made from the fetch threads. :class:`LayerProgress` owns one reporter for one
operation: a blob's stream counts through the reporter's ``blob_callback``, and
each :class:`~ociclient.progress.BlobProgress` reaches the caller inside an
ostreepy :class:`~ostreepy.progress.LayerBytes` (``LayerUploadBytes`` for a
push); :class:`~ostreepy.progress.LayerStarted` and
:class:`~ostreepy.progress.LayerDone` carry ociclient's ``BlobStarted`` and
``BlobDone``. The operation's other events go through :attr:`LayerProgress.send`,
under the same lock, so the caller's callback is never entered twice at once.
Without a callback nothing is counted and ``on_read`` is ``None``: the streams
run without a per-chunk call.
"""

from __future__ import annotations

from typing import Callable, Optional

from ociclient.progress import BlobDone, BlobProgress, BlobStarted, ProgressReporter

from ..progress import LayerBytes, LayerDone, LayerStarted, LayerUploadBytes, ProgressCallback, ProgressEvent


class LayerProgress:
    """Progress of the blobs of one operation; ``overall_total`` is the bytes of
    all the blobs it will move (``BlobProgress.overall_total``)."""

    def __init__(self, callback: Optional[ProgressCallback], overall_total: int = 0, *,
                 upload: bool = False) -> None:
        self.callback = callback
        self.upload = upload
        self.reporter = ProgressReporter(self._forward if callback is not None else None, overall_total)

    def _forward(self, event: object) -> None:
        # runs under the reporter's lock
        assert self.callback is not None
        if isinstance(event, BlobProgress):
            cls = LayerUploadBytes if self.upload else LayerBytes
            self.callback(cls(event.digest, event.done, event.total, event))
        elif isinstance(event, ProgressEvent):
            self.callback(event)

    @property
    def send(self) -> Optional[ProgressCallback]:
        """A callback for the operation's own events (serialised with the byte
        events), or ``None`` without a caller's callback."""
        return self.reporter.emit if self.callback is not None else None

    def started(self, digest: str, size: int, kind: str = "layer") -> None:
        if self.callback is not None:
            self.reporter.emit(LayerStarted(digest, size, kind, BlobStarted(digest, size)))

    def on_read(self, digest: str, size: int) -> Optional[Callable[[int], None]]:
        """The ``on_read`` for the blob's stream: it counts into ``LayerBytes``
        (``LayerUploadBytes`` for an upload)."""
        return self.reporter.blob_callback(digest, size) if self.callback is not None else None

    def done(self, digest: str, size: int) -> None:
        if self.callback is not None:
            self.reporter.emit(LayerDone(digest, size, BlobDone(digest, size)))
