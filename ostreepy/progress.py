"""Progress reporting: long operations call a caller-supplied function with typed events."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import attrs


@attrs.frozen
class ProgressEvent:
    """One step of a long operation.

    ``kind`` names the step (``file``, ``object``, ``layer``, ...); ``fields``
    holds its numbers (``size``, ``done``, ``total``, ``path``...).
    """

    kind: str
    fields: Dict[str, Any] = attrs.field(factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


#: what a ``progress=`` argument takes: a function called with each event
ProgressCallback = Callable[[ProgressEvent], None]


def emit(callback: Optional[ProgressCallback], kind: str, /, **fields: Any) -> None:
    if callback is not None:
        callback(ProgressEvent(kind, fields))
