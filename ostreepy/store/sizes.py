"""``ostree.sizes``: the per-object size index ``ostree commit --generate-sizes`` puts in a
commit's metadata, so that a client can tell how much a pull will fetch before it starts.

The format (``add_size_index_to_metadata`` and ``read_sizes_entry`` in libostree):
an ``aay``, one ``ay`` per object, sorted by hex checksum: the 32-byte checksum,
the archived (compressed, on-disk ``.filez``) size and the unpacked size as
unsigned LEB128 varints, then one byte of object type (older commits lack it,
and mean a file).  Only file, dirtree and dirmeta objects are listed, each once.

This module is the pure format plus :class:`SizeLog`, the thread-safe record a
repository keeps of what it was asked to write while a commit is built
(:meth:`ostreepy.store.repo.Repo.size_log`); it knows nothing of files.
"""

from __future__ import annotations

import threading
from typing import Dict, Iterable, List, Tuple

import attrs

from ..errors import OstreeError
from .gvariant import Variant
from .objects import ObjectType

__all__ = ["SIZES_KEY", "SizeEntry", "SizeLog", "decode_sizes", "encode_sizes", "read_varuint64",
           "write_varuint64"]

#: the commit metadata key of the size index
SIZES_KEY = "ostree.sizes"
_LISTED = (ObjectType.FILE, ObjectType.DIR_TREE, ObjectType.DIR_META)


@attrs.frozen
class SizeEntry:
    """One object of a commit's size index."""

    checksum: str
    objtype: ObjectType
    archived: int
    unpacked: int


def write_varuint64(value: int) -> bytes:
    """Protobuf's unsigned varint, as ostree-varint.c writes it."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varuint64(data: bytes, pos: int) -> Tuple[int, int]:
    """(value, next position); at most 10 bytes, as _ostree_read_varuint64."""
    value = shift = 0
    for i in range(pos, min(len(data), pos + 10)):
        b = data[i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, i + 1
        shift += 7
    raise OstreeError("Unexpected EOF reading ostree.sizes varint")


def encode_sizes(entries: Iterable[SizeEntry]) -> Variant:
    """The ``aay`` value of ``ostree.sizes``, entries sorted by checksum as ostree sorts them."""
    items: List[bytes] = []
    for e in sorted(entries, key=lambda e: e.checksum):
        items.append(bytes.fromhex(e.checksum) + write_varuint64(e.archived) + write_varuint64(e.unpacked)
                     + bytes([int(e.objtype)]))
    return Variant("aay", items)


def decode_sizes(value: Variant) -> List[SizeEntry]:
    """The entries of an ``ostree.sizes`` value, in stored order."""
    if value.type != "aay":
        raise OstreeError(f"ostree.sizes has type {value.type}, expected aay")
    out = []
    for raw in value.value:  # type: ignore[union-attr]
        data = bytes(raw)
        if len(data) < 34:
            raise OstreeError("Could not read ostree.sizes metadata entry")
        archived, pos = read_varuint64(data, 32)
        unpacked, pos = read_varuint64(data, pos)
        objtype = ObjectType.FILE
        if pos < len(data):
            try:
                objtype = ObjectType(data[pos])
            except ValueError:
                raise OstreeError(f"Unexpected ostree.sizes object type {data[pos]}") from None
        out.append(SizeEntry(data[:32].hex(), objtype, archived, unpacked))
    return out


class SizeLog:
    """The objects written while it is open, each with the sizes of its first write
    (repo_store_size_entry keeps the first); safe to feed from writer threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: Dict[str, SizeEntry] = {}

    def record(self, checksum: str, objtype: ObjectType, archived: int, unpacked: int) -> None:
        if objtype not in _LISTED:
            return
        with self._lock:
            # keyed by checksum alone, as ostree's table is
            self._entries.setdefault(checksum, SizeEntry(checksum, objtype, archived, unpacked))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> List[SizeEntry]:
        with self._lock:
            return list(self._entries.values())
