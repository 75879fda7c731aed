"""bootc's progress: the ``progress-v0`` JSON Lines events (``--progress-fd``),
built from ostreepy's pull events by :class:`PullProgressMapper`, the writer
that sends them, the terminal bar, and the :class:`Console` that carries a
verb's messages to whichever of those the caller asked for.
"""

from __future__ import annotations

import os
import sys
import time
from typing import (Any, Callable, Dict, List, Mapping, Optional, TextIO, Tuple)

import attrs

from ..progress import ImportDone, ImportStarted, LayerBytes, LayerDone, LayerStarted, ProgressEvent
from ..errors import BootcError
from .render import human_bytes, to_canonical_json
from .schema import PROGRESS_API_VERSION


# =============================================================================== pure: progress-v0


def start_event() -> Dict[str, Any]:
    """The ``Start`` event that opens a progress-v0 stream, with the API version."""
    return {"type": "Start", "version": PROGRESS_API_VERSION}


def _steps(task: str, description: str, ident: str, steps: int, total: int,
           subtasks: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"type": "ProgressSteps", "task": task, "description": description, "id": ident,
            "stepsCached": 0, "steps": steps, "stepsTotal": total, "subtasks": subtasks}


def importing_event(digest: str, done: bool) -> Dict[str, Any]:
    """bootc's ``ProgressSteps`` event for the ``importing`` step of the image ``digest``,
    before or after it is ``done``."""
    return _steps("importing", "Importing Image", digest, 1 if done else 0, 1,
                  [{"subtask": "importing", "description": "Importing Image", "id": "importing",
                    "completed": done}])


_STAGE_SUBTASKS = (("merging", "Merging Image", "fetching"), ("deploying", "Deploying Image", "deploying"),
                   ("bound_images", "Pulling Bound Images", "bound_images"),
                   ("cleanup", "Removing old images", "cleanup"))
_STAGE_STEPS = (0, 1, 1, 2, 3)


def stage_event(digest: str, phase: int) -> Dict[str, Any]:
    """The ``staging`` event bootc's ``deploy::stage`` sends at ``phase``
    0..4: done subtasks then the current one; the last one lists ``cleanup``
    twice, as bootc does."""
    subs = []
    for i, (name, desc, ident) in enumerate(_STAGE_SUBTASKS[:min(phase, 3) + 1]):
        subs.append({"subtask": name, "description": desc, "id": ident, "completed": i < phase})
    if phase == 4:
        name, desc, ident = _STAGE_SUBTASKS[3]
        subs.append({"subtask": name, "description": desc, "id": ident, "completed": True})
    return _steps("staging", "Deploying Image", digest, _STAGE_STEPS[phase], 3, subs)


def _hex_of(digest: str) -> str:
    return digest.split(":", 1)[-1]


class PullProgressMapper:
    """Turns the pull's :class:`ProgressEvent` s into bootc's ``pulling``
    and ``importing`` events (``handle_layer_progress_print``). ``feed``
    returns ``(event, lossy)`` pairs to send."""

    def __init__(self, digest: str, *, layers_total: int, layers_to_fetch: int, bytes_total: int,
                 bytes_to_fetch: int) -> None:
        self.digest = digest
        self.layers_total, self.layers_to_fetch = layers_total, layers_to_fetch
        self.bytes_total, self.bytes_to_fetch = bytes_total, bytes_to_fetch
        self.total_read = 0
        self.steps = 0
        self.done: List[Dict[str, Any]] = []
        # layers being fetched, by digest (the store fetches a few at once)
        self.current: Dict[str, Dict[str, Any]] = {}
        self.import_started = False
        self.import_done = False

    def _bytes_event(self, current_bytes: int, subtasks: List[Dict[str, Any]]) -> Dict[str, Any]:
        return {"type": "ProgressBytes", "task": "pulling", "description": f"Pulling Image: {self.digest}",
                "id": self.digest, "bytesCached": self.bytes_total - self.bytes_to_fetch,
                "bytes": self.total_read + current_bytes, "bytesTotal": self.bytes_to_fetch,
                "stepsCached": self.layers_total - self.layers_to_fetch, "steps": self.steps,
                "stepsTotal": self.layers_to_fetch, "subtasks": subtasks}

    def _in_flight(self) -> Tuple[int, List[Dict[str, Any]]]:
        cur = list(self.current.values())
        return sum(c["bytes"] for c in cur), [dict(c) for c in cur]

    def feed(self, ev: ProgressEvent) -> List[Tuple[Dict[str, Any], bool]]:
        if isinstance(ev, LayerStarted):
            kind = ev.kind or "layer"
            short = _hex_of(ev.digest)[:21]
            self.current[ev.digest] = {"subtask": kind, "description": f"{kind}: {short}", "id": short,
                                       "bytesCached": 0, "bytes": 0, "bytesTotal": ev.size}
            return []
        if isinstance(ev, LayerBytes) and ev.digest in self.current:
            cur = self.current[ev.digest]
            cur["bytesTotal"] = ev.total
            cur["bytes"] = ev.done
            n, subs = self._in_flight()
            return [(self._bytes_event(n, self.done + subs), True)]
        if isinstance(ev, LayerDone) and ev.digest in self.current:
            cur = self.current.pop(ev.digest)
            cur["bytes"] = cur["bytesTotal"]  # bytes == total signals completion
            self.steps += 1
            self.total_read += cur["bytesTotal"]
            self.done.append(cur)
            n, subs = self._in_flight()
            return [(self._bytes_event(n, self.done + subs), False)]
        if isinstance(ev, ImportStarted):
            return self.start_import()
        if isinstance(ev, ImportDone):
            return self.finish_import()
        return []

    def start_import(self) -> List[Tuple[Dict[str, Any], bool]]:
        if self.import_started:
            return []
        self.import_started = True
        return [(importing_event(self.digest, False), False)]

    def finish_import(self) -> List[Tuple[Dict[str, Any], bool]]:
        out = self.start_import()
        if not self.import_done:
            self.import_done = True
            out.append((importing_event(self.digest, True), False))
        return out


# =============================================================================== I/O: output


class JsonlWriter:
    """``--progress-fd``: one canonical JSON document per line, flushed,
    ``Start`` first; lossy events within 200 ms of the last write dropped;
    a write error disables the writer (as bootc's ``ProgressWriter``)."""

    REFRESH = 0.2

    def __init__(self, fd: int) -> None:
        if fd in (0, 1, 2):
            raise BootcError(f"Cannot use fd {fd} for progress JSON")
        try:
            self._f: Optional[Any] = os.fdopen(fd, "wb", buffering=0, closefd=True)
        except OSError as e:
            raise BootcError(f"Opening progress fd {fd}: {e.strerror}") from None
        self._started = False
        self._last: Optional[float] = None

    def send(self, event: Mapping[str, Any], lossy: bool = False) -> None:
        if self._f is None:
            return
        try:
            if not self._started:
                self._started = True
                self._f.write(to_canonical_json(start_event()).encode() + b"\n")
            now = time.monotonic()
            if lossy and self._last is not None and now - self._last < self.REFRESH:
                return
            self._f.write(to_canonical_json(event).encode() + b"\n")
            self._last = now
        except OSError as e:
            sys.stderr.write(f"Failed to write to jsonl: {e}\n")
            self._f = None

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None


class TtyBar:
    """A one-line layer progress bar on a terminal (stderr): the layer that last
    read bytes, under its own name (a few are fetched at once)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self.label = ""
        self._labels: Dict[str, str] = {}

    def __call__(self, ev: ProgressEvent) -> None:
        if isinstance(ev, LayerStarted):
            self.label = self._labels[ev.digest] = f"Fetching {ev.kind or 'layer'} {_hex_of(ev.digest)[:19]}"
            self._draw(0, ev.size)
        elif isinstance(ev, LayerBytes):
            self.label = self._labels.get(ev.digest, self.label)
            self._draw(ev.done, ev.total)
        elif isinstance(ev, LayerDone):
            self._labels.pop(ev.digest, None)
        elif isinstance(ev, ImportStarted):
            self.clear()

    def _draw(self, done: int, total: int) -> None:
        width = 24
        fill = int(width * done / total) if total else 0
        self.stream.write(f"\r\x1b[K{self.label} [{'#' * fill}{' ' * (width - fill)}] "
                          f"{human_bytes(done)}/{human_bytes(total)}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@attrs.define
class Console:
    """Where an operation's output goes: stdout lines, stderr lines, the
    progress-v0 writer, and whether stderr is a terminal (progress bar)."""

    out: Callable[[str], None] = attrs.field(factory=lambda: _writer(sys.stdout))
    err: Callable[[str], None] = attrs.field(factory=lambda: _writer(sys.stderr))
    jsonl: Optional[JsonlWriter] = None
    tty: bool = False
    quiet: bool = False

    def send(self, event: Mapping[str, Any], lossy: bool = False) -> None:
        if self.jsonl is not None:
            self.jsonl.send(event, lossy)


def _writer(stream: TextIO) -> Callable[[str], None]:
    def w(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()
    return w
