"""Static-delta formats, pure: names and paths, superblocks (plain and signed),
part files and the varints of the part bytecode.

Byte layouts are libostree's (``ostree-repo-static-delta-private.h``):

* superblock ``(a{sv}tayay(commit)aya(uayttay)a(yaytt))``: metadata, timestamp
  (big-endian), from (empty for a from-scratch delta), to, the to-commit
  object, dependencies (always empty), part headers, fallback objects;
* a part header ``(uayttay)``: version, sha256 of the part file, the part
  file's size, the uncompressed size of the objects it writes, and the packed
  objects it writes (one byte of object type, 32 bytes of checksum each);
* a part file: one byte of compression (``\\0`` none, ``x`` xz) then the
  payload ``(a(uuu)aa(ayay)ayay)``: modes, xattrs, raw data, opcodes;
* a signed superblock ``(taya{sv})``: the magic ``OSTSGNDT`` (big-endian
  ``t``), the plain superblock bytes, and ``ostree.sign.<type>`` signatures.

The sizes in part headers and fallbacks are in the writer's byte order (a
historical mistake upstream): ``ostree.endianness`` in the metadata says which,
and without it the same heuristic as ``_ostree_delta_get_endianness`` decides.

Nothing here opens a file; :mod:`.apply` and :mod:`.compile` do the I/O.

Two readings of a superblock and a part: :func:`parse_superblock` and :func:`parse_part_payload`
give the attrs values (:class:`Superblock`, :class:`PartHeader`, :class:`Fallback`,
:class:`PartPayload`, built on first use: ostreepy._deferred) for callers who keep them;
:func:`read_superblock` and :func:`read_part_payload` give the same fields as plain data
(:class:`SuperblockInfo`, :class:`PartInfo`, :class:`FallbackInfo`, tuples), refusing exactly
what the parses refuse, for the appliers (apply-offline, a pull's parts), which neither import
attrs (~20 ms with what it brings) nor build its classes. A metadata ``v`` is read there as
:func:`ostreepy.store.gvariant.deserialize_light` reads one (a
:class:`~ostreepy.store.gvariant.LightVariant`, as a pull reads its summaries and commits); only
the to-commit's detached metadata, handed on to be verified and written, is made Variants.
"""

from __future__ import annotations

import struct

from ..._deferred import Deferred
from ...errors import GVariantError, InvalidObjectError, OstreeError
from ...store import gvariant
from ...store.objects import (COMMIT_TYPE, ObjectType, checksum_from_bytes, checksum_to_bytes, parse_commit_light,
                              validate_checksum)
from .naming import SUMMARY_STATIC_DELTAS, mbase64_from_checksum, path_base  # noqa: F401  (the format's names too)

_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time (an apply's start-up)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

    from attrs import frozen as _record

    from ...store.gvariant import LightVariant, Variant

    #: one decoded instruction of a part: opcode, operands, and the index of the object it
    #: works on (for the opening opcodes); a plain tuple (a part has an instruction or four per
    #: object, ~5,700 in the 20k tree's delta: a tuple is made at C speed)
    Op = Tuple[int, Tuple[int, ...], int]
    #: a decompressed part as read (:func:`read_part_payload`): modes, xattrs, raw data, opcodes
    PayloadFields = Tuple[Tuple[Tuple[int, int, int], ...], Tuple[Tuple[Tuple[bytes, bytes], ...], ...],
                          Union[bytes, memoryview], bytes]
else:
    _record = _DEFERRED.register

SUPERBLOCK_TYPE = "(a{sv}tayay" + COMMIT_TYPE + "aya(uayttay)a(yaytt))"
SIGNED_TYPE = "(taya{sv})"
PART_PAYLOAD_TYPE = "(a(uuu)aa(ayay)ayay)"
SIGNED_MAGIC = 0x4F535453474E4454  # "OSTSGNDT" read as a big-endian u64
DELTAPART_VERSION = 0
OBJTYPE_CSUM_LEN = 33

OP_OPEN_SPLICE_AND_CLOSE = ord("S")
OP_OPEN = ord("o")
OP_WRITE = ord("w")
OP_SET_READ_SOURCE = ord("r")
OP_UNSET_READ_SOURCE = ord("R")
OP_CLOSE = ord("c")
OP_BSPATCH = ord("B")
#: in the order ``static-delta show`` counts them
OPCODES = (OP_OPEN_SPLICE_AND_CLOSE, OP_OPEN, OP_WRITE, OP_SET_READ_SOURCE, OP_UNSET_READ_SOURCE,
           OP_CLOSE, OP_BSPATCH)

COMPRESSION_NONE = 0
COMPRESSION_XZ = ord("x")


class DeltaError(OstreeError):
    """A static delta that is malformed, incomplete or does not apply."""


# ------------------------------------------------------------------ names and paths

def checksum_from_mbase64(text: str) -> str:
    """The hex checksum a modified-base64 name encodes (DeltaError if it encodes none)."""
    import base64  # (with binascii: not for an apply, which reads no name)
    try:
        raw = base64.b64decode(text.replace("_", "/") + "=", validate=True)
    except ValueError:
        raise DeltaError(f"Invalid modified base64 checksum {text!r}") from None
    if len(raw) != 32:
        raise DeltaError(f"Invalid modified base64 checksum {text!r}")
    return raw.hex()


def delta_dir(from_checksum: Optional[str], to_checksum: str) -> str:
    """``deltas/xx/rest[-to]`` relative to the repository."""
    return path_base("deltas/", from_checksum, to_checksum)


def delta_path(from_checksum: Optional[str], to_checksum: str, target: str = "superblock") -> str:
    """A file of a delta relative to the repository: ``superblock``, a part number, ``meta``."""
    return f"{delta_dir(from_checksum, to_checksum)}/{target}"


def part_path(from_checksum: Optional[str], to_checksum: str, index: int) -> str:
    """Part ``index`` of a delta, relative to the repository (also the key of an inline part)."""
    return delta_path(from_checksum, to_checksum, str(index))


def index_path(to_checksum: str) -> str:
    """``delta-indexes/xx/rest.index``."""
    return path_base("delta-indexes/", None, to_checksum) + ".index"


def delta_name(from_checksum: Optional[str], to_checksum: str) -> str:
    """``FROM-TO``, or ``TO`` for a from-scratch delta: how ostree names a delta."""
    return f"{from_checksum}-{to_checksum}" if from_checksum else to_checksum


def parse_delta_name(name: str) -> Tuple[Optional[str], str]:
    """``FROM-TO`` or ``TO`` -> (from or None, to), as ``_ostree_parse_delta_name``."""
    parts = name.split("-")
    try:
        if len(parts) == 1:
            return None, validate_checksum(parts[0])
        if len(parts) == 2:
            return validate_checksum(parts[0]), validate_checksum(parts[1])
    except OstreeError:
        pass
    raise DeltaError(f"Invalid delta name {name!r}")


def name_from_dir_entries(outer: str, inner: str) -> Optional[str]:
    """The delta name a ``deltas/OUTER/INNER/`` directory holds (None if it names none)."""
    text = outer + inner
    if "-" in text:
        a, _, b = text.partition("-")
        try:
            return f"{checksum_from_mbase64(a)}-{checksum_from_mbase64(b)}"
        except DeltaError:
            return None
    try:
        return checksum_from_mbase64(text)
    except DeltaError:
        return None


# ------------------------------------------------------------------ varints

def write_varuint64(value: int) -> bytes:
    """ostree-varint.c's writer, shared with ostree.sizes (:mod:`ostreepy.store.sizes`, imported
    here by the generator's first varint: an apply, which only reads them, does not load it)."""
    from ...store.sizes import write_varuint64 as write
    return write(value)


# the reader below is the delta's own: an overlong varint is refused, not masked


def read_varuint64(data: bytes, pos: int) -> Tuple[int, int]:
    """(value, new position); DeltaError on a truncated or overlong varint."""
    result = 0
    shift = 0
    n = len(data)
    while pos < n and shift < 70:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if result >= 1 << 64:
                break
            return result, pos
        shift += 7
    raise DeltaError("Unexpected EOF reading varint")


# ------------------------------------------------------------------ superblock

class _PartReads:
    """What a part header's readers ask of it, read or parsed (:class:`PartInfo`, :class:`PartHeader`)."""

    __slots__ = ()
    objects_raw: bytes

    @property
    def objects(self) -> List[Tuple[ObjectType, str]]:
        return unpack_objects(self.objects_raw)

    @property
    def n_objects(self) -> int:
        return len(self.objects_raw) // OBJTYPE_CSUM_LEN


@_record
class PartHeader(_PartReads):
    """One entry of the superblock's part array."""

    version: int
    checksum: str
    size: int
    usize: int
    #: the packed (objtype, checksum) entries, 33 bytes each, as stored
    objects_raw: bytes


class PartInfo(_PartReads):
    """:class:`PartHeader`'s fields as :func:`read_superblock` reads them, in a plain class."""

    __slots__ = ("version", "checksum", "size", "usize", "objects_raw")

    def __init__(self, version: int, checksum: str, size: int, usize: int, objects_raw: bytes) -> None:
        self.version = version
        self.checksum = checksum
        self.size = size
        self.usize = usize
        self.objects_raw = objects_raw


@_record
class Fallback:
    """An object the delta leaves to be fetched on its own."""

    objtype: ObjectType
    checksum: str
    size: int
    usize: int


class FallbackInfo:
    """:class:`Fallback`'s fields as :func:`read_superblock` reads them, in a plain class."""

    __slots__ = ("objtype", "checksum", "size", "usize")

    def __init__(self, objtype: ObjectType, checksum: str, size: int, usize: int) -> None:
        self.objtype = objtype
        self.checksum = checksum
        self.size = size
        self.usize = usize


class _SuperblockReads:
    """What a superblock's readers ask of it, read or parsed (:class:`SuperblockInfo`,
    :class:`Superblock`): the same code for both, as their metadata values read alike."""

    __slots__ = ()
    metadata: Mapping[str, Any]
    from_checksum: Optional[str]
    to_checksum: str
    signatures: Optional[Mapping[str, Variant]]

    @property
    def name(self) -> str:
        return delta_name(self.from_checksum, self.to_checksum)

    @property
    def signed(self) -> bool:
        return self.signatures is not None and any(k.startswith("ostree.sign.") for k in self.signatures)

    def inline_part(self, index: int) -> Optional[bytes]:
        """The bytes of part ``index`` when the superblock carries it inline."""
        v = self.metadata.get(part_path(self.from_checksum, self.to_checksum, index))
        if v is None or v.type != "(yay)":
            return None
        comp, payload = v.value
        return bytes((comp,)) + bytes(payload)

    def detached_metadata(self) -> Optional[Dict[str, Variant]]:
        """The to-commit's detached metadata, when the superblock carries it."""
        v = self.metadata.get(delta_path(self.from_checksum, self.to_checksum, "commitmeta"))
        if v is None or v.type != "a{sv}":
            return None
        # (Variants: a read superblock's values are LightVariants, a parsed one's Variants)
        return dict(gvariant.boxed(v.value))


@_record
class Superblock(_SuperblockReads):
    """A parsed superblock (the signed wrapper, if any, already taken off)."""

    metadata: Mapping[str, Variant]
    timestamp: int
    from_checksum: Optional[str]
    to_checksum: str
    commit: bytes
    dependencies: bytes
    parts: Tuple[PartHeader, ...]
    fallbacks: Tuple[Fallback, ...]
    #: True when the sizes were stored in the other byte order than little-endian
    big_endian: bool = False
    endianness_heuristic: bool = False
    endianness: str = "invalid"
    #: for a signed superblock: its ``ostree.sign.*`` entries
    signatures: Optional[Mapping[str, Variant]] = None
    #: the plain superblock bytes (what a signature covers)
    raw: bytes = b""


class SuperblockInfo(_SuperblockReads):
    """:class:`Superblock`'s fields as :func:`read_superblock` reads them, in a plain class:
    metadata values are :class:`~ostreepy.store.gvariant.LightVariant`, parts :class:`PartInfo`, fallbacks
    :class:`FallbackInfo` (the signatures of a signed superblock are Variants)."""

    __slots__ = ("metadata", "timestamp", "from_checksum", "to_checksum", "commit", "dependencies", "parts",
                 "fallbacks", "big_endian", "endianness_heuristic", "endianness", "signatures", "raw")

    def __init__(self, metadata: Dict[str, LightVariant], timestamp: int, from_checksum: Optional[str],
                 to_checksum: str, commit: bytes, dependencies: bytes, parts: Tuple[PartInfo, ...],
                 fallbacks: Tuple[FallbackInfo, ...], big_endian: bool, endianness_heuristic: bool,
                 endianness: str, signatures: Optional[Mapping[str, Variant]], raw: bytes) -> None:
        self.metadata = metadata
        self.timestamp = timestamp
        self.from_checksum = from_checksum
        self.to_checksum = to_checksum
        self.commit = commit
        self.dependencies = dependencies
        self.parts = parts
        self.fallbacks = fallbacks
        self.big_endian = big_endian
        self.endianness_heuristic = endianness_heuristic
        self.endianness = endianness
        self.signatures = signatures
        self.raw = raw


#: what a part's payload may hold besides the objects its header's usize counts, per
#: object: its opcodes (an ``S`` is at most 41 bytes, an ``o``/``r``/``B``/``c`` run 65),
#: a mode (12 bytes) and xattrs (each distinct set once: an IMA or SELinux label is a few
#: hundred bytes), a symlink's target (libostree's writer counts no size for it)
PAYLOAD_PER_OBJECT = 8 << 10
#: and per part: framing and the tables' offsets
PAYLOAD_PER_PART = 1 << 20


def payload_limit(header: Union[PartHeader, PartInfo]) -> int:
    """The most a part's decompressed payload may come to against its header.

    libostree reads the payload whole (into an anonymous temporary file) whatever the
    header says, so a part that inflates to gigabytes fills the disk; held in memory it
    would fill that.  usize counts the objects a part writes, and the payload holds them
    spliced, or less (rollsum and bsdiff against the old commit), except that a bsdiff
    patch may be somewhat larger than the object it makes (24 bytes of control per
    triple, one a few hundred bytes for libostree's patches); twice usize and a margin
    per object (:data:`PAYLOAD_PER_OBJECT`) holds any part libostree writes."""
    return 2 * header.usize + header.n_objects * PAYLOAD_PER_OBJECT + PAYLOAD_PER_PART


def unpack_objects(raw: bytes) -> List[Tuple[ObjectType, str]]:
    """The (type, checksum) entries of a part header's packed object array."""
    if len(raw) % OBJTYPE_CSUM_LEN:
        raise DeltaError(f"Invalid checksum array length {len(raw)}")
    out = []
    for i in range(0, len(raw), OBJTYPE_CSUM_LEN):
        try:
            t = ObjectType(raw[i])
        except ValueError:
            raise DeltaError(f"Invalid object type '{raw[i]}'") from None
        out.append((t, raw[i + 1:i + OBJTYPE_CSUM_LEN].hex()))
    return out


def pack_objects(objects: Sequence[Tuple[ObjectType, str]]) -> bytes:
    """The packed object array (type byte, 32 checksum bytes each) of a part header."""
    return b"".join(bytes((int(t),)) + checksum_to_bytes(c) for t, c in objects)


def _swap64(v: int) -> int:
    return int.from_bytes(v.to_bytes(8, "little"), "big")


def _endianness(metadata: Mapping[str, Any], parts: Sequence[Tuple[int, bytes, int, int, bytes]]
                ) -> Tuple[str, bool]:
    """("little"|"big"|"invalid", was_heuristic), as ``_ostree_delta_get_endianness``."""
    v = metadata.get("ostree.endianness")
    if v is not None and v.type == "y":
        return {ord("l"): "little", ord("B"): "big"}.get(v.value, "invalid"), False
    total_size = 0
    total_objects = 0
    swapped = False
    for _version, _csum, size, usize, objects in parts:
        total_objects += len(objects) // OBJTYPE_CSUM_LEN
        total_size += size
        if size > usize and (usize == 0 or size / usize > 1.2):
            swapped = True
            break
    if not swapped and total_objects and total_size // total_objects > 0xFFFFFFFF:
        swapped = True
    # read on a little-endian host: a swapped delta is a big-endian one
    return ("big" if swapped else "invalid"), True


#: the superblock's members, as SUPERBLOCK_TYPE lists them
_SUPERBLOCK_MEMBERS = ("a{sv}", "t", "ay", "ay", COMMIT_TYPE, "ay", "a(uayttay)", "a(yaytt)")


def check_commit(data: bytes) -> None:
    """Refuse (CorruptObjectError, with its words) a commit's bytes that
    :meth:`ostreepy.store.objects.Commit.parse` refuses (what ``write_metadata`` of a commit
    parses it for), building no Commit: :func:`~ostreepy.store.objects.parse_commit_light`,
    its reading discarded."""
    parse_commit_light(data)


def _read_plain(data: bytes, signatures: Optional[Mapping[str, Variant]]) -> SuperblockInfo:
    try:
        members = gvariant.tuple_members(SUPERBLOCK_TYPE, data)
        # each member read by deserialize's own code, each v a LightVariant (the commit's value
        # is dropped: it is stored as its bytes, checked as a commit before it is)
        meta, ts, frm, to, _commit, deps, parts, fallbacks = (
            gvariant.deserialize_light(t, m) for t, m in zip(_SUPERBLOCK_MEMBERS, members))
    except GVariantError as e:
        raise DeltaError(f"Invalid static delta superblock: {e}") from None
    endian, heuristic = _endianness(meta, parts)
    swap = endian == "big"
    try:
        to_checksum = checksum_from_bytes(to)
        from_checksum = checksum_from_bytes(frm) if len(frm) else None
    except InvalidObjectError as e:
        raise DeltaError(str(e)) from None
    headers = []
    for version, csum, size, usize, objects in parts:
        if len(csum) != 32:
            raise DeltaError(f"Invalid checksum of length {len(csum)} expected 32")
        if len(objects) % OBJTYPE_CSUM_LEN:
            raise DeltaError(f"Invalid checksum array length {len(objects)}")
        headers.append(PartInfo(version, bytes(csum).hex(), _swap64(size) if swap else size,
                                _swap64(usize) if swap else usize, bytes(objects)))
    fbs = []
    for objtype, csum, size, usize in fallbacks:
        try:
            fbs.append(FallbackInfo(ObjectType(objtype), checksum_from_bytes(csum),
                                    _swap64(size) if swap else size, _swap64(usize) if swap else usize))
        except (ValueError, InvalidObjectError):
            raise DeltaError("Invalid fallback entry in static delta superblock") from None
    # the commit as libostree writes it, the normal form of the member's bytes (what the strict
    # read above accepts is its own normal form but for its padding, and a dictionary's repeated
    # keys, which GLib keeps where a parse and serialization of the value dropped them)
    commit_bytes = gvariant.normal_form(COMMIT_TYPE, bytes(members[4]))
    return SuperblockInfo(meta, _swap64(ts), from_checksum, to_checksum, commit_bytes, bytes(deps),
                          tuple(headers), tuple(fbs), swap, heuristic, endian, signatures, bytes(data))


def read_superblock(data: bytes) -> SuperblockInfo:
    """A superblock file's bytes, signed or not, read into plain data (see the module's
    docstring) and refused where :func:`parse_superblock` refuses them: DeltaError if malformed."""
    data = bytes(data)
    signatures = None
    if len(data) >= 8 and struct.unpack(">Q", data[:8])[0] == SIGNED_MAGIC:
        try:
            _magic, inner, sigs = gvariant.deserialize(SIGNED_TYPE, data)
        except GVariantError as e:
            raise DeltaError(f"Invalid signed static delta superblock: {e}") from None
        signatures = dict(sigs)
        data = bytes(inner)
    return _read_plain(data, signatures)


def parse_superblock(data: bytes) -> Superblock:
    """A superblock file's bytes, signed or not, parsed.  DeltaError if malformed."""
    info = read_superblock(data)
    variant = gvariant.Variant
    part, fallback = _DEFERRED.build("PartHeader"), _DEFERRED.build("Fallback")
    return _DEFERRED.build("Superblock")(  # type: ignore[no-any-return]
        metadata={k: variant(v.type, v.value) for k, v in info.metadata.items()}, timestamp=info.timestamp,
        from_checksum=info.from_checksum, to_checksum=info.to_checksum, commit=info.commit,
        dependencies=info.dependencies,
        parts=tuple(part(p.version, p.checksum, p.size, p.usize, p.objects_raw) for p in info.parts),
        fallbacks=tuple(fallback(f.objtype, f.checksum, f.size, f.usize) for f in info.fallbacks),
        big_endian=info.big_endian, endianness_heuristic=info.endianness_heuristic, endianness=info.endianness,
        signatures=info.signatures, raw=info.raw)


def serialize_superblock(metadata: Mapping[str, Variant], timestamp: int, from_checksum: Optional[str],
                         to_checksum: str, commit: bytes, parts: Sequence[PartHeader],
                         fallbacks: Sequence[Fallback], big_endian: bool = False) -> bytes:
    """Superblock bytes; the sizes of parts and fallbacks little-endian, or big-endian
    with ``big_endian`` (``--swap-endianness``).  The caller puts the matching
    ``ostree.endianness`` in ``metadata``."""
    commit_value = gvariant.deserialize(COMMIT_TYPE, commit)
    s64 = _swap64 if big_endian else (lambda v: v)
    s32 = gvariant.bswap32 if big_endian else (lambda v: v)
    value = (
        dict(metadata), _swap64(timestamp),
        checksum_to_bytes(from_checksum) if from_checksum else b"",
        checksum_to_bytes(to_checksum), commit_value, b"",
        [(s32(p.version), checksum_to_bytes(p.checksum), s64(p.size), s64(p.usize), p.objects_raw) for p in parts],
        [(int(f.objtype), checksum_to_bytes(f.checksum), s64(f.size), s64(f.usize)) for f in fallbacks],
    )
    out = gvariant.serialize(SUPERBLOCK_TYPE, value)
    return out


def serialize_signed(superblock: bytes, signatures: Mapping[str, Variant]) -> bytes:
    """The signed superblock ``(taya{sv})`` around plain superblock bytes."""
    return gvariant.serialize(SIGNED_TYPE, (_swap64(SIGNED_MAGIC), superblock, dict(signatures)))


# ------------------------------------------------------------------ parts

@_record
class PartPayload:
    """A decompressed part: what its opcodes read from."""

    modes: Tuple[Tuple[int, int, int], ...]
    xattrs: Tuple[Tuple[Tuple[bytes, bytes], ...], ...]
    payload: bytes
    ops: bytes


def read_part_payload(data: bytes, view: bool = False) -> PayloadFields:
    """A decompressed part's ``(a(uuu)aa(ayay)ayay)`` as plain data: (modes, xattrs, payload,
    ops), :class:`PartPayload`'s fields; uid, gid and mode come back host-order. ``view``: the
    payload as a view of ``data`` rather than a copy (an applier that holds ``data`` anyway:
    a copy of the realistic tree's 3 MB, with the pages it takes, was ~1.5 ms after the xz
    stream); framed and refused as a whole deserialize frames and refuses it."""
    try:
        if view:
            # the tuple framed, then each member read as deserialize reads it (the same checks)
            members = gvariant.tuple_members(PART_PAYLOAD_TYPE, data)
            modes = gvariant.deserialize("a(uuu)", members[0])
            xattrs = gvariant.deserialize("aa(ayay)", members[1])
            payload: Union[bytes, memoryview] = members[2]
            ops = members[3]
        else:
            modes, xattrs, payload, ops = gvariant.deserialize(PART_PAYLOAD_TYPE, data)
            payload = bytes(payload)
    except GVariantError as e:
        raise DeltaError(f"Invalid static delta part: {e}") from None
    bswap32 = gvariant.bswap32
    return (tuple((bswap32(u), bswap32(g), bswap32(m)) for u, g, m in modes),
            tuple(tuple((bytes(n), bytes(v)) for n, v in x) for x in xattrs), payload, bytes(ops))


def parse_part_payload(data: bytes) -> PartPayload:
    """A decompressed part's ``(a(uuu)aa(ayay)ayay)``; uid, gid and mode come back host-order."""
    return _DEFERRED.build("PartPayload")(*read_part_payload(data))  # type: ignore[no-any-return]


def serialize_part_payload(modes: Sequence[Tuple[int, int, int]],
                           xattrs: Sequence[Sequence[Tuple[bytes, bytes]]],
                           payload: bytes, ops: bytes) -> bytes:
    """The ``(a(uuu)aa(ayay)ayay)`` bytes of a part (before compression)."""
    return gvariant.serialize(PART_PAYLOAD_TYPE, (
        [(gvariant.bswap32(u), gvariant.bswap32(g), gvariant.bswap32(m)) for u, g, m in modes],
        [list(x) for x in xattrs], payload, ops))


#: operands of each opcode but ``S`` (whose count depends on the object's type)
_NARGS = {OP_OPEN: 3, OP_WRITE: 2, OP_BSPATCH: 2, OP_SET_READ_SOURCE: 1, OP_UNSET_READ_SOURCE: 0, OP_CLOSE: 0}


def decode_ops(ops: bytes, objects: Sequence[Tuple[ObjectType, str]]) -> List[Op]:
    """Every instruction of a part, checking operands as far as they can be
    checked without the repository (unknown opcodes, truncated varints, more
    objects opened than the part header lists)."""
    out: List[Op] = []
    pos = 0
    n = len(ops)
    index = 0
    opened = False
    nobjects = len(objects)
    nargs_of = _NARGS.get
    while pos < n:
        code = ops[pos]
        pos += 1
        if code == OP_OPEN_SPLICE_AND_CLOSE or code == OP_OPEN:
            if opened:
                raise DeltaError(f"Opcode {chr(code)} while an object is open")
            if index >= nobjects:
                raise DeltaError("Delta part opens more objects than it lists")
            if code == OP_OPEN_SPLICE_AND_CLOSE:
                nargs = 2 if objects[index][0].is_meta else 4
            else:
                nargs = 3
        else:
            nargs = nargs_of(code, -1)
            if nargs < 0:
                raise DeltaError(f"Unknown opcode {code} at offset {len(out)}")
        args = []
        for _ in range(nargs):
            # varints of one to three bytes read here (sizes and offsets in a part of a few
            # MB: nearly every operand), longer ones and truncated ones by read_varuint64
            if pos + 2 < n:
                b = ops[pos]
                if b < 0x80:
                    args.append(b)
                    pos += 1
                    continue
                b1 = ops[pos + 1]
                if b1 < 0x80:
                    args.append((b & 0x7F) | b1 << 7)
                    pos += 2
                    continue
                b2 = ops[pos + 2]
                if b2 < 0x80:
                    args.append((b & 0x7F) | (b1 & 0x7F) << 7 | b2 << 14)
                    pos += 3
                    continue
            v, pos = read_varuint64(ops, pos)
            args.append(v)
        out.append((code, tuple(args), index))
        if code == OP_OPEN:
            opened = True
        elif code == OP_OPEN_SPLICE_AND_CLOSE:
            index += 1
        elif code == OP_CLOSE:
            # as dispatch_close: every close moves to the next object
            index += 1
            opened = False
    return out


def count_ops(decoded: Sequence[Op]) -> Tuple[int, ...]:
    """How many of each opcode, in :data:`OPCODES` order (``static-delta show``)."""
    counts = dict.fromkeys(OPCODES, 0)
    for op in decoded:
        counts[op[0]] += 1
    return tuple(counts[o] for o in OPCODES)


# the attrs values are built on first use; until then the module holds their plain classes only
_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)


def __dir__() -> list:
    # (the deferred classes too: what autodoc and a reader's dir() list)
    return sorted(set(globals()) | set(("PartHeader", "Fallback", "Superblock", "PartPayload")))
