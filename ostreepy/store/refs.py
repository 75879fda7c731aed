"""Ref names and refspecs, as ostree-core.c validates them.

Its regular expressions (a fragment ``[\\w\\d][-._\\w\\d]*`` in ASCII, fragments joined by
``/``; a remote ``FRAGMENT:`` before a refspec's ref) are told by string methods: a name is
split at its ``/`` and each fragment's characters stripped off (what is left is what the
expression refuses), so this module does not import re (~1.5 ms of the start-up of every
command that reads no ref: an apply-offline, a checkout of a checksum).
"""

from __future__ import annotations

from ..errors import InvalidRefError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional, Tuple

#: ``\w`` in ASCII (``\d`` is in it): a fragment's first character
_WORD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
#: the rest of a fragment's characters
_FRAGMENT_REST = _WORD + "-."


def _fragment(text: str) -> bool:
    """``text`` is one whole ``[\\w\\d][-._\\w\\d]*`` (ASCII)."""
    return text != "" and text[0] in _WORD and not text.strip(_FRAGMENT_REST)


def _ref_name(text: str) -> bool:
    return all(_fragment(f) for f in text.split("/"))


def validate_ref(ref: str) -> str:
    """Return ``ref`` if it is a valid ref name, else raise
    :class:`~ostreepy.errors.InvalidRefError`."""
    if not _ref_name(ref):
        raise InvalidRefError(f"Invalid ref name {ref}")
    return ref


def validate_remote_name(name: str) -> str:
    """Return ``name`` if it is a valid remote name, else raise
    :class:`~ostreepy.errors.InvalidRefError`."""
    if not _fragment(name):
        raise InvalidRefError(f"Invalid remote name {name}")
    return name


#: a collection ID's element: ``[A-Za-z_][A-Za-z0-9_]*``
_ELEMENT_FIRST = _WORD[:52] + "_"


def _collection_element(text: str) -> bool:
    return text != "" and text[0] in _ELEMENT_FIRST and not text.strip(_WORD)


def validate_collection_id(collection_id: str) -> str:
    """As ostree_validate_collection_id (a D-Bus interface name): at least two
    dot-separated elements of ``[A-Za-z0-9_]``, none starting with a digit, at most
    255 characters."""
    parts = collection_id.split(".")
    if (len(collection_id) > 255 or len(parts) < 2
            or not all(_collection_element(p) for p in parts)):
        raise InvalidRefError(f"Invalid collection ID {collection_id}")
    return collection_id


def parse_refspec(refspec: str) -> Tuple[Optional[str], str]:
    """``remote:ref`` or ``ref`` -> (remote or None, ref)."""
    remote, colon, ref = refspec.partition(":")
    if not colon:
        remote, ref = "", refspec
    if (colon and not _fragment(remote)) or not _ref_name(ref):
        raise InvalidRefError(f"Invalid refspec {refspec}")
    return remote or None, ref


def format_refspec(remote: Optional[str], ref: str) -> str:
    """``remote:ref``, or just ``ref`` for a local one."""
    return f"{remote}:{ref}" if remote else ref
