"""Ref names and refspecs, as ostree-core.c validates them."""

from __future__ import annotations

import re
from typing import Optional, Tuple

from ..errors import InvalidRefError

_FRAGMENT = r"[\w\d][-._\w\d]*"
_REF_RE = re.compile(rf"^(?:{_FRAGMENT}/)*{_FRAGMENT}$", re.ASCII)
_REMOTE_RE = re.compile(rf"^{_FRAGMENT}$", re.ASCII)
_REFSPEC_RE = re.compile(rf"^(?:({_FRAGMENT}):)?((?:{_FRAGMENT}/)*{_FRAGMENT})$", re.ASCII)


def validate_ref(ref: str) -> str:
    """Return ``ref`` if it is a valid ref name, else raise
    :class:`~ostreepy.errors.InvalidRefError`."""
    if not _REF_RE.fullmatch(ref):
        raise InvalidRefError(f"Invalid ref name {ref}")
    return ref


def validate_remote_name(name: str) -> str:
    """Return ``name`` if it is a valid remote name, else raise
    :class:`~ostreepy.errors.InvalidRefError`."""
    if not _REMOTE_RE.fullmatch(name):
        raise InvalidRefError(f"Invalid remote name {name}")
    return name


def parse_refspec(refspec: str) -> Tuple[Optional[str], str]:
    """``remote:ref`` or ``ref`` -> (remote or None, ref)."""
    m = _REFSPEC_RE.fullmatch(refspec)
    if not m:
        raise InvalidRefError(f"Invalid refspec {refspec}")
    return m.group(1), m.group(2)


def format_refspec(remote: Optional[str], ref: str) -> str:
    """``remote:ref``, or just ``ref`` for a local one."""
    return f"{remote}:{ref}" if remote else ref
