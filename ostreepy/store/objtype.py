"""The object types, checksums and where an object lies: what the store needs to
find, list and name objects without parsing one.

Kept apart from :mod:`ostreepy.store.objects` (which re-exports every name here)
because that module's value classes are attrs classes, whose import and creation
are most of a short command's start-up: ``refs``, ``rev-parse`` or ``config``
open a repository and read refs, and load none of it.
"""

from __future__ import annotations

import enum

from ..errors import InvalidChecksumError, InvalidObjectError

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional, Tuple

__all__ = ["MAX_METADATA_SIZE", "ObjectType", "checksum_from_bytes", "checksum_to_bytes", "is_checksum",
           "loose_name", "loose_path", "parse_loose_name", "validate_checksum"]

MAX_METADATA_SIZE = 10 * 1024 * 1024  # OSTREE_MAX_METADATA_SIZE


class ObjectType(enum.IntEnum):
    """The object types, numbered as libostree's ``OstreeObjectType``."""

    FILE = 1
    DIR_TREE = 2
    DIR_META = 3
    COMMIT = 4
    TOMBSTONE_COMMIT = 5
    COMMIT_META = 6
    PAYLOAD_LINK = 7
    FILE_XATTRS = 8
    FILE_XATTRS_LINK = 9

    @property
    def name_str(self) -> str:
        return _OBJTYPE_NAMES[self]

    @property
    def is_meta(self) -> bool:
        return self in (ObjectType.DIR_TREE, ObjectType.DIR_META, ObjectType.COMMIT,
                        ObjectType.TOMBSTONE_COMMIT, ObjectType.COMMIT_META)

    @classmethod
    def from_name(cls, name: str) -> "ObjectType":
        try:
            return _OBJTYPE_BY_NAME[name]
        except KeyError:
            raise InvalidObjectError(f"Invalid object type '{name}'") from None


_OBJTYPE_NAMES = {
    ObjectType.FILE: "file",
    ObjectType.DIR_TREE: "dirtree",
    ObjectType.DIR_META: "dirmeta",
    ObjectType.COMMIT: "commit",
    ObjectType.TOMBSTONE_COMMIT: "tombstone-commit",
    ObjectType.COMMIT_META: "commitmeta",
    ObjectType.PAYLOAD_LINK: "payload-link",
    ObjectType.FILE_XATTRS: "file-xattrs",
    ObjectType.FILE_XATTRS_LINK: "file-xattrs-link",
}
_OBJTYPE_BY_NAME = {v: k for k, v in _OBJTYPE_NAMES.items()}

_HEX_DIGITS = "0123456789abcdef"


def validate_checksum(csum: str) -> str:
    """Return ``csum`` if it is a valid checksum, else raise
    :class:`~ostreepy.errors.InvalidChecksumError`."""
    if not isinstance(csum, str) or len(csum) != 64 or csum.strip(_HEX_DIGITS):
        raise InvalidChecksumError(f"Invalid checksum '{csum}'")
    return csum


def is_checksum(s: str) -> bool:
    """Whether ``s`` is a SHA-256 checksum: 64 lowercase hex digits (nothing is left when they
    are stripped: a regular expression's match took twice as long, per object of a prune)."""
    return len(s) == 64 and not s.strip(_HEX_DIGITS)


def checksum_to_bytes(csum: str) -> bytes:
    """The 32 bytes of a hex checksum (validated)."""
    return bytes.fromhex(validate_checksum(csum))


def checksum_from_bytes(raw: bytes) -> str:
    """The hex form of a 32-byte binary checksum."""
    if len(raw) != 32:
        raise InvalidObjectError(f"Invalid checksum of length {len(raw)} expected 32")
    return bytes(raw).hex()



def loose_name(checksum: str, objtype: ObjectType, archive: bool) -> str:
    """``<xx>/<rest>.<ext>``: where an object lies below ``objects/`` (or below a
    staging directory, laid out the same way); file objects of archive
    repositories are ``.filez``."""
    ext = "filez" if objtype == ObjectType.FILE and archive else objtype.name_str
    return f"{checksum[:2]}/{checksum[2:]}.{ext}"


def loose_path(checksum: str, objtype: ObjectType, archive: bool) -> str:
    """objects/<xx>/<rest>.<ext>, relative to the repository."""
    return "objects/" + loose_name(checksum, objtype, archive)


def parse_loose_name(prefix: str, name: str, archive: bool) -> Optional[Tuple[str, ObjectType]]:
    """The inverse of :func:`loose_name` for the entry ``name`` of directory
    ``prefix``: (checksum, type), or None for anything that is not an object of a
    repository of this kind (``.file`` in archive mode, ``.filez`` elsewhere)."""
    rest, dot, ext = name.partition(".")
    if not dot or len(prefix) != 2 or not is_checksum(prefix + rest):
        return None
    if ext in ("file", "filez"):
        if (ext == "filez") != archive:
            return None
        return prefix + rest, ObjectType.FILE
    try:
        return prefix + rest, ObjectType.from_name(ext)
    except InvalidObjectError:
        return None
