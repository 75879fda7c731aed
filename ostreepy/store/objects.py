"""OSTree objects as values, their serialized forms and checksums.

Pure format code: nothing here opens a file.  The byte layouts follow
libostree's ostree-core.c; the fields OSTree stores big-endian (uid, gid, mode,
commit timestamp, archive size) are swapped here so callers deal in plain ints.
"""

from __future__ import annotations

import hashlib
import stat
import struct
import sys
import zlib

from . import gvariant
from .._deferred import Deferred, Field
from ..errors import (
    ChecksumMismatchError,
    CorruptObjectError,
    GVariantError,
    InvalidFilenameError,
    InvalidObjectError,
)
from .gvariant import bswap32, bswap64

# FileHeader, DirMeta, DirTree and Commit are attrs classes built when first used, and attrs
# is imported then (ostreepy._deferred): built at import they were ~1 ms, and attrs ~18 ms, of
# every command that imports this module for a function
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

    from attrs import frozen as _value

    from .gvariant import LightVariant, Variant

    #: a content object's header, as a value or as a walk reads it
    AnyHeader = Union["FileHeader", "LightHeader"]
else:
    _value = _DEFERRED.register

# the object types, checksums and loose names live in objtype, which the store's paths
# that parse no object import alone; they are this module's names too
from .objtype import MAX_METADATA_SIZE as MAX_METADATA_SIZE
from .objtype import ObjectType as ObjectType
from .objtype import checksum_from_bytes as checksum_from_bytes
from .objtype import checksum_to_bytes as checksum_to_bytes
from .objtype import is_checksum as is_checksum
from .objtype import loose_name as loose_name
from .objtype import loose_path as loose_path
from .objtype import parse_loose_name as parse_loose_name
from .objtype import validate_checksum as validate_checksum

if TYPE_CHECKING:
    Xattrs = Tuple[Tuple[bytes, bytes], ...]
else:
    Xattrs = tuple  # (what annotations evaluated at run time see; typing is not imported)
"""Extended attributes as stored: (name including its trailing NUL, value), strcmp-sorted."""

DIRTREE_TYPE = "(a(say)a(sayay))"
DIRMETA_TYPE = "(uuua(ayay))"
COMMIT_TYPE = "(a{sv}aya(say)sstayay)"
FILE_HEADER_TYPE = "(uuuusa(ayay))"
ZLIB_FILE_HEADER_TYPE = "(tuuuusa(ayay))"
COMMITMETA_TYPE = "a{sv}"
XATTRS_TYPE = "a(ayay)"

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def validate_filename(name: str) -> str:
    """ot_util_filename_validate: names from objects must not escape their directory,
    and must be UTF-8 (an ``s`` in the dirtree)."""
    if not name:
        raise InvalidFilenameError("Invalid empty filename")
    if name in (".", ".."):
        raise InvalidFilenameError(f"Invalid special element '{name}' in filename")
    if "/" in name:
        raise InvalidFilenameError(f"Invalid / in filename {name}")
    if "\x00" in name:
        raise InvalidFilenameError("Invalid NUL in filename")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFilenameError(
            f"Invalid UTF-8 in filename {name.encode('utf-8', 'surrogateescape')!r}") from None
    return name


def canonical_xattrs(pairs: Iterable[Tuple[Any, bytes]]) -> Xattrs:
    """Xattrs as libglnx reads them: sorted by name, empty values dropped, names NUL-terminated."""
    out: Dict[bytes, bytes] = {}
    for name, value in pairs:
        if isinstance(name, str):
            name = name.encode("utf-8", "surrogateescape")
        name = bytes(name)
        if name.endswith(b"\x00"):
            name = name[:-1]
        if not name or not value:
            continue
        out[name + b"\x00"] = bytes(value)
    return tuple(sorted(out.items()))


def xattr_name(stored: bytes) -> bytes:
    """The name of a stored xattr without its trailing NUL."""
    return stored[:-1] if stored.endswith(b"\x00") else stored


def validate_xattrs(xattrs: Sequence[Tuple[bytes, bytes]]) -> None:
    """Refuse xattrs with an empty name or not in strictly ascending order of names."""
    prev = None
    for name, _ in xattrs:
        if not name or name == b"\x00":
            raise InvalidObjectError("Invalid xattr name (empty)")
        if prev is not None and name <= prev:
            raise InvalidObjectError("Invalid xattr name (out of order)")
        prev = name


def _validate_owner(uid: int, gid: int) -> None:
    if not (0 <= uid <= 0xFFFFFFFF and 0 <= gid <= 0xFFFFFFFF):
        raise InvalidObjectError(f"Invalid owner {uid}:{gid}; uid and gid are 32-bit")


def _validate_mode(mode: int) -> None:
    if mode & ~(stat.S_IFMT(mode) | 0o7777):
        raise InvalidObjectError(f"Invalid mode 0{mode:o}; invalid bits in mode")


# ------------------------------------------------------------------ content


_HEADER_FIXED = struct.Struct(">IIII")
#: an archive header's size, uid, gid, mode, rdev (big-endian inside the little-endian variant)
_ZHEADER_FIXED = struct.Struct(">QIIII")


class _HeaderFields:
    """The functions of a content header's fields (uid, gid, mode, symlink_target, xattrs,
    rdev) that :class:`FileHeader` (the value) and :class:`LightHeader` (a walk's plain
    reading) share: the store's writers read either through them."""

    __slots__ = ()
    if TYPE_CHECKING:
        uid: int
        gid: int
        mode: int
        symlink_target: str
        xattrs: Xattrs
        rdev: int

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def is_regular(self) -> bool:
        return stat.S_ISREG(self.mode)

    def validate(self) -> None:
        validate_file_header(self.uid, self.gid, self.mode, self.symlink_target, self.xattrs)

    def serialize(self) -> bytes:
        """The ``(uuuusa(ayay))`` header the checksum covers."""
        return serialize_file_header(self.uid, self.gid, self.mode, self.symlink_target, self.xattrs, self.rdev)

    def serialize_zlib(self, size: int) -> bytes:
        """The ``(tuuuusa(ayay))`` header of an archive ``.filez`` object."""
        return gvariant.serialize(
            ZLIB_FILE_HEADER_TYPE,
            (bswap64(size), bswap32(self.uid), bswap32(self.gid), bswap32(self.mode),
             bswap32(self.rdev), self.symlink_target, list(self.xattrs)),
        )

    def checksum_prefix(self) -> bytes:
        """What the content checksum hashes before the file data."""
        return lenprefix(self.serialize())

    def new_hasher(self) -> "hashlib._Hash":
        h = hashlib.sha256()
        h.update(self.checksum_prefix())
        return h


@_value
class FileHeader(_HeaderFields):
    """The metadata part of a content object: what the checksum covers besides the data."""

    uid: int
    gid: int
    mode: int
    symlink_target: str = ""
    xattrs: Xattrs = ()
    rdev: int = 0

    @classmethod
    def parse(cls, data: bytes) -> "FileHeader":
        try:
            uid, gid, mode, rdev, target, xattrs = gvariant.deserialize(FILE_HEADER_TYPE, data)
        except GVariantError as e:
            raise CorruptObjectError(f"Corrupted file header: {e}") from None
        # rdev is big-endian like the other fields (the fast serializer packs it so)
        h = cls(bswap32(uid), bswap32(gid), bswap32(mode), target, tuple(xattrs), bswap32(rdev))
        h.validate()
        return h

    @classmethod
    def parse_zlib(cls, data: bytes) -> Tuple["FileHeader", int]:
        light, size = parse_zlib_header_light(data)
        return light.value(), size


class LightHeader(_HeaderFields):
    """A content object's header with :class:`FileHeader`'s fields and methods in a plain
    class: what a pull's walk reads from the ``.filez`` it fetches (:func:`inflate_filez_light`)
    and hands to :meth:`~ostreepy.store.repo.Repo.write_content`, checked as
    :meth:`FileHeader.parse_zlib` checks it, without building the attrs class (and importing
    attrs) for a value no caller keeps."""

    __slots__ = ("uid", "gid", "mode", "symlink_target", "xattrs", "rdev")

    def __init__(self, uid: int, gid: int, mode: int, symlink_target: str = "", xattrs: Xattrs = (),
                 rdev: int = 0) -> None:
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.symlink_target = symlink_target
        self.xattrs = xattrs
        self.rdev = rdev

    def value(self) -> FileHeader:
        """The :class:`FileHeader` of these fields."""
        return _DEFERRED.build("FileHeader")(  # type: ignore[no-any-return]
            self.uid, self.gid, self.mode, self.symlink_target, self.xattrs, self.rdev)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LightHeader) and all(getattr(self, k) == getattr(other, k) for k in _LIGHT_FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "LightHeader(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in _LIGHT_FIELDS) + ")"


_LIGHT_FIELDS = LightHeader.__slots__  # (a subclass's __slots__ are its own additions)


def parse_zlib_header_light(data: bytes) -> Tuple[LightHeader, int]:
    """:meth:`FileHeader.parse_zlib` (refusing what it refuses) as a :class:`LightHeader`:
    the archive header's (size, uid, gid, mode, rdev, target, xattrs), checked."""
    n = len(data)
    if 26 <= n <= 0xFF and data[n - 1] == n - 1:
        # the common case without the generic codec: no xattrs, so the string's end
        # (its one framing offset) is the last byte and the array after it is empty
        size, uid, gid, mode, rdev = _ZHEADER_FIXED.unpack_from(data)
        try:
            target = gvariant.decode_string(data[24:n - 1])
        except GVariantError as e:
            raise CorruptObjectError(f"Corrupted archive file header: {e}") from None
        h = LightHeader(uid, gid, mode, target, (), rdev)
        h.validate()
        return h, size
    try:
        size, uid, gid, mode, rdev, target, xattrs = gvariant.deserialize(ZLIB_FILE_HEADER_TYPE, data)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted archive file header: {e}") from None
    h = LightHeader(bswap32(uid), bswap32(gid), bswap32(mode), target, tuple(xattrs), bswap32(rdev))
    h.validate()
    return h, bswap64(size)


def serialize_file_header(uid: int, gid: int, mode: int, symlink_target: str = "", xattrs: Xattrs = (),
                          rdev: int = 0) -> bytes:
    """:meth:`FileHeader.serialize` from the fields, for a caller that holds them and builds no
    FileHeader (a checkout's empty files: the command line builds no value)."""
    _validate_owner(uid, gid)
    if not xattrs:
        # Fast path (the common case): fixed part, target string, empty array
        # and a one- or two-byte framing offset for the string's end.
        target = symlink_target.encode("utf-8", "surrogateescape") + b"\x00"
        body = _HEADER_FIXED.pack(uid, gid, mode, rdev) + target
        end = len(body)
        if end + 1 <= 0xFF:
            return body + bytes((end,))
    return gvariant.serialize(
        FILE_HEADER_TYPE,
        (bswap32(uid), bswap32(gid), bswap32(mode), bswap32(rdev), symlink_target, list(xattrs)),
    )


def validate_file_header(uid: int, gid: int, mode: int, symlink_target: str = "", xattrs: Xattrs = ()) -> None:
    """:meth:`FileHeader.validate` of the fields (see :func:`serialize_file_header`)."""
    _validate_owner(uid, gid)
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise InvalidObjectError(f"Corrupted file object; invalid mode 0{mode:o}")
    _validate_mode(mode)
    if stat.S_ISLNK(mode) and not symlink_target:
        raise InvalidObjectError("Corrupted file object; empty symlink target")
    try:
        symlink_target.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidObjectError("Invalid UTF-8 in symlink target") from None
    if stat.S_ISREG(mode) and symlink_target:
        raise InvalidObjectError("Corrupted file object; regular file with symlink target")
    validate_xattrs(xattrs)


def dataless_checksum(uid: int, gid: int, mode: int, symlink_target: str = "", xattrs: Xattrs = ()) -> str:
    """The checksum of a content object without data, an empty regular file or a symlink, from
    its header's fields (:func:`content_checksum` of their FileHeader)."""
    return hashlib.sha256(lenprefix(serialize_file_header(uid, gid, mode, symlink_target, xattrs))).hexdigest()


def read_filez_header(data: bytes, checksum: str) -> tuple[FileHeader, int, int]:
    """The header of an archive ``.filez`` held in ``data`` (at least its header):
    (header, uncompressed size, where the compressed data starts)."""
    light, size, start = read_filez_header_light(data, checksum)
    return light.value(), size, start


def inflate_filez(data: bytes, checksum: str, max_size: int) -> tuple[FileHeader, int, bytes] | None:
    """A whole archive ``.filez`` in memory: its header, size and inflated data, refused
    as a streamed one is (:class:`~ostreepy.store.repo.VerifyingReader`; the checksum is
    left to the caller); None for one that inflates to more than ``max_size``."""
    return _inflate_filez(read_filez_header(data, checksum), data, checksum, max_size)  # type: ignore[return-value]


def read_filez_header_light(data: bytes, checksum: str) -> tuple[LightHeader, int, int]:
    """The header of an archive ``.filez`` held in ``data`` (at least its header), as a
    :class:`LightHeader` (:func:`read_filez_header` gives its FileHeader): (header,
    uncompressed size, where the compressed data starts)."""
    if len(data) < 8:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: truncated header", checksum)
    hlen = int.from_bytes(data[:4], "big")
    if hlen > MAX_METADATA_SIZE:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: header too large", checksum)
    if len(data) < 8 + hlen:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: truncated header", checksum)
    try:
        header, size = parse_zlib_header_light(data[8:8 + hlen])
    except InvalidObjectError as e:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: {e}", checksum) from None
    return header, size, 8 + hlen


def inflate_filez_light(data: bytes, checksum: str, max_size: int) -> tuple[LightHeader, int, bytes] | None:
    """:func:`inflate_filez`, the header a :class:`LightHeader` (a pull's walk)."""
    return _inflate_filez(read_filez_header_light(data, checksum), data, checksum,  # type: ignore[return-value]
                          max_size)


def _inflate_filez(read: tuple[AnyHeader, int, int], data: bytes, checksum: str,
                   max_size: int) -> tuple[AnyHeader, int, bytes] | None:
    header, size, start = read
    if size > max_size:
        return None
    if header.is_symlink:
        actual = content_checksum(header)
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, "file object")
        return header, size, b""
    z = zlib.decompressobj(-15)
    try:
        out = z.decompress(memoryview(data)[start:], size + 1)
        if len(out) <= size and not z.eof:
            out += z.flush()
    except zlib.error as e:
        raise CorruptObjectError(f"Corrupted file object {checksum}: {e}", checksum) from None
    if len(out) > size:
        raise CorruptObjectError(f"Corrupted file object {checksum}: too long", checksum)
    if z.unused_data:
        raise CorruptObjectError(f"Corrupted file object {checksum}: trailing data", checksum)
    if not z.eof and out:
        raise CorruptObjectError(f"Corrupted file object {checksum}: truncated compressed data", checksum)
    if len(out) != size:
        raise CorruptObjectError(f"Corrupted file object {checksum}: size {len(out)} != {size}", checksum)
    return header, size, out


def lenprefix(header: bytes) -> bytes:
    """BE32 length, four zero bytes, then the header (variant_to_lenprefixed_buffer)."""
    return struct.pack(">I", len(header)) + b"\x00\x00\x00\x00" + header


def content_checksum(header: AnyHeader, data: bytes = b"") -> str:
    """The checksum of a file object: its header and its ``data``."""
    h = header.new_hasher()
    h.update(data)
    return h.hexdigest()


# ------------------------------------------------------------------ metadata


def serialize_dirmeta(uid: int, gid: int, mode: int, xattrs: Xattrs) -> bytes:
    """A dirmeta object's ``(uuua(ayay))`` bytes (:meth:`DirMeta.serialize`, and a bare-user
    file's ``user.ostreemeta``), without the class."""
    _validate_owner(uid, gid)
    if not xattrs:
        return _HEADER_FIXED.pack(uid, gid, mode, 0)[:12]
    return gvariant.serialize(DIRMETA_TYPE, (bswap32(uid), bswap32(gid), bswap32(mode), list(xattrs)))


@_value
class DirMeta:
    """A dirmeta object: a directory's owner, mode and extended attributes."""

    uid: int
    gid: int
    mode: int
    xattrs: Xattrs = ()

    def serialize(self) -> bytes:
        return serialize_dirmeta(self.uid, self.gid, self.mode, self.xattrs)

    def checksum(self) -> str:
        return hashlib.sha256(self.serialize()).hexdigest()

    @classmethod
    def parse(cls, data: bytes) -> "DirMeta":
        return cls(*parse_dirmeta(data))


def parse_dirmeta(data: bytes) -> Tuple[int, int, int, Xattrs]:
    """A dirmeta object's (uid, gid, mode, xattrs), checked as :meth:`DirMeta.parse` (which
    is this and the class) checks them: for a walk that needs the fields, not the value."""
    try:
        if len(data) == 12:
            uid, gid, mode = struct.unpack("<III", data)
            xattrs: Xattrs = ()
        else:
            uid, gid, mode, raw = gvariant.deserialize(DIRMETA_TYPE, data)
            xattrs = tuple(raw)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted dirmeta object: {e}") from None
    uid, gid, mode = bswap32(uid), bswap32(gid), bswap32(mode)
    if not stat.S_ISDIR(mode):
        raise CorruptObjectError(f"Corrupted dirmeta object; invalid mode 0{mode:o}")
    _validate_mode(mode)
    validate_xattrs(xattrs)
    return uid, gid, mode, xattrs


DEFAULT_DIRMETA_CHECKSUM = "446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488"


@_value
class DirTree:
    """Files (name, content checksum) and subdirectories (name, dirtree, dirmeta)."""

    files: Tuple[Tuple[str, str], ...] = ()
    dirs: Tuple[Tuple[str, str, str], ...] = ()

    def serialize(self) -> bytes:
        files = sorted(self.files, key=lambda f: f[0].encode("utf-8", "surrogateescape"))
        dirs = sorted(self.dirs, key=lambda d: d[0].encode("utf-8", "surrogateescape"))
        fast = _fused_serialize_dirtree(files, dirs)
        if fast is not None:
            return fast
        return gvariant.serialize(
            DIRTREE_TYPE,
            (
                [(n, bytes.fromhex(c)) for n, c in files],
                [(n, bytes.fromhex(t), bytes.fromhex(m)) for n, t, m in dirs],
            ),
        )

    def checksum(self) -> str:
        return hashlib.sha256(self.serialize()).hexdigest()

    @classmethod
    def parse(cls, data: bytes) -> "DirTree":
        return cls(*parse_dirtree(data))


def parse_dirtree(data: bytes) -> Tuple[Tuple[Tuple[str, str], ...], Tuple[Tuple[str, str, str], ...]]:
    """A dirtree object's files ((name, content checksum), ...) and subdirectories ((name,
    dirtree, dirmeta), ...), checked as :meth:`DirTree.parse` (which is this and the class)
    checks them: for a walk over many dirtrees that needs their entries, not the values."""
    data = bytes(data)
    fast = _fused_parse_dirtree(data)
    if fast is not None:
        return fast
    try:
        files, dirs = _fast_parse_dirtree(data)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted dirtree object: {e}") from None
    try:
        out_files = tuple((validate_filename(n), checksum_from_bytes(c)) for n, c in files)
        out_dirs = tuple(
            (validate_filename(n), checksum_from_bytes(t), checksum_from_bytes(m)) for n, t, m in dirs
        )
    except (InvalidFilenameError, InvalidObjectError) as e:
        raise CorruptObjectError(f"Corrupted dirtree object: {e}") from None
    return out_files, out_dirs


@_value
class Commit:
    """A commit object: its root dirtree and dirmeta, subject and body, timestamp, parent,
    metadata and related objects."""

    root_tree: str
    root_meta: str
    subject: str = ""
    body: str = ""
    timestamp: int = 0
    parent: Optional[str] = None
    metadata: Mapping[str, Variant] = Field(factory=dict)
    related: Tuple[Tuple[str, str], ...] = ()

    def serialize(self) -> bytes:
        return gvariant.serialize(
            COMMIT_TYPE,
            (
                dict(self.metadata),
                bytes.fromhex(self.parent) if self.parent else b"",
                [(n, bytes.fromhex(c)) for n, c in self.related],
                self.subject,
                self.body,
                bswap64(self.timestamp),
                bytes.fromhex(self.root_tree),
                bytes.fromhex(self.root_meta),
            ),
        )

    def checksum(self) -> str:
        return hashlib.sha256(self.serialize()).hexdigest()

    @property
    def content_checksum(self) -> str:
        """ostree_commit_get_content_checksum: a hash of the root tree and meta only."""
        return hashlib.sha256(bytes.fromhex(self.root_tree) + bytes.fromhex(self.root_meta)).hexdigest()

    @property
    def version(self) -> Optional[str]:
        v = self.metadata.get("version")
        return v.value if v is not None and v.type == "s" else None

    @classmethod
    def parse(cls, data: bytes) -> "Commit":
        """:func:`parse_commit_light`'s reading (its checks and words), the metadata's values
        boxed into Variants."""
        meta, parent, related, subject, body, ts, tree, dmeta = parse_commit_light(data)
        return cls(root_tree=tree, root_meta=dmeta, subject=subject, body=body, timestamp=ts, parent=parent,
                   metadata=gvariant.boxed(meta), related=related)


def _offsize(n: int) -> int:
    return 1 if n <= 0xFF else 2 if n <= 0xFFFF else 4 if n <= 0xFFFFFFFF else 8


def _rd(data: bytes, pos: int, w: int) -> int:
    return data[pos] if w == 1 else int.from_bytes(data[pos:pos + w], "little")


def _elements(data: bytes, start: int, end: int) -> List[Tuple[int, int]]:
    """(start, end) of each element of a variable-size array of alignment 1."""
    n = end - start
    if n == 0:
        return []
    w = _offsize(n)
    if n < w:
        raise GVariantError("truncated framing offset")
    table = start + _rd(data, end - w, w)
    if table > end or (end - table) % w or table == end:
        raise GVariantError("invalid framing offset table")
    out = []
    pos = start
    for i in range((end - table) // w):
        e = start + _rd(data, table + i * w, w)
        if e < pos or e > table:
            raise GVariantError("framing offset out of range")
        out.append((pos, e))
        pos = e
    return out


def _str_at(data: bytes, start: int, end: int) -> str:
    return gvariant.decode_string(data[start:end] if end > start else b"")


def _fast_parse_dirtree(data: bytes) -> Tuple[List[Tuple[str, bytes]], List[Tuple[str, bytes, bytes]]]:
    """``(a(say)a(sayay))`` without the generic codec: dirtrees are the hottest object type.
    Every member has alignment 1, so no padding is involved."""
    n = len(data)
    if n == 0:
        raise GVariantError("empty dirtree")
    w = _offsize(n)
    end1 = _rd(data, n - w, w)
    if end1 > n - w:
        raise GVariantError("member 0 out of range")
    files = []
    for s, e in _elements(data, 0, end1):
        m = e - s
        w2 = _offsize(m)
        if m < w2:
            raise GVariantError("truncated element")
        send = s + _rd(data, e - w2, w2)
        if send < s or send > e - w2:
            raise GVariantError("member out of range")
        files.append((_str_at(data, s, send), data[send:e - w2]))
    dirs = []
    for s, e in _elements(data, end1, n - w):
        m = e - s
        w2 = _offsize(m)
        if m < 2 * w2:
            raise GVariantError("truncated element")
        send = s + _rd(data, e - w2, w2)
        a1end = s + _rd(data, e - 2 * w2, w2)
        if not (s <= send <= a1end <= e - 2 * w2):
            raise GVariantError("member out of range")
        dirs.append((_str_at(data, s, send), data[send:a1end], data[a1end:e - 2 * w2]))
    return files, dirs


def _dirtree_array(entries: Sequence[tuple[str, ...]]) -> bytes | None:
    """``a(say)`` (files) or ``a(sayay)`` (dirs) in normal form, as gvariant.serialize writes it
    for plain entries; None for anything else (a name that is not UTF-8 or holds a NUL, a
    checksum that is not 32 bytes), which the generic path then serializes or refuses."""
    if not entries:
        return b""
    body = bytearray()
    ends: list[int] = []
    fromhex = bytes.fromhex
    for entry in entries:
        name = entry[0].encode("utf-8")
        if b"\x00" in name:
            return None
        start = len(body)
        body += name
        body += b"\x00"
        send = len(name) + 1
        for c in entry[1:]:
            raw = fromhex(c)
            if len(raw) != 32:
                return None
            body += raw
        # the member's framing offsets (end of the name, then of the first checksum for a
        # dir), stored last first, their width from the member's size with them
        n = len(body) - start
        if len(entry) == 2:
            w = _width(n, 1)
            body += send.to_bytes(w, "little")
        else:
            w = _width(n, 2)
            body += (send + 32).to_bytes(w, "little") + send.to_bytes(w, "little")
        ends.append(len(body))
    w = _width(len(body), len(ends))
    if w == 1:
        body += bytes(ends)
    else:
        for e in ends:
            body += e.to_bytes(w, "little")
    return bytes(body)


def _fused_serialize_dirtree(files: Sequence[tuple[str, str]],
                             dirs: Sequence[tuple[str, str, str]]) -> bytes | None:
    """DirTree.serialize's ``(a(say)a(sayay))`` without the generic serializer's per-member
    dispatch (a 100,000-file commit writes a dirtree entry per file); byte-identical to
    it, or None to leave an unusual tree to it."""
    try:
        f = _dirtree_array(files)
        d = _dirtree_array(dirs)
    except (UnicodeEncodeError, ValueError):
        return None
    if f is None or d is None:
        return None
    return f + d + len(f).to_bytes(_width(len(f) + len(d), 1), "little")


def _width(body: int, n: int) -> int:
    """The framing offsets' width for ``n`` of them after ``body`` bytes (gvariant's rule)."""
    return 1 if body + n <= 0xFF else 2 if body + 2 * n <= 0xFFFF else 4 if body + 4 * n <= 0xFFFFFFFF else 8


def _name_ok(raw: bytes) -> Optional[str]:
    """A dirtree entry's name when it is plainly valid (NUL-terminated UTF-8 with no other
    NUL, not empty, ``.``, ``..`` and no ``/``); None sends the caller to the slow path."""
    if not raw or raw[-1] != 0:
        return None
    body = raw[:-1]
    if not body or b"\x00" in body or b"/" in body or body in (b".", b".."):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


_OFFSET_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
#: framing offsets are little-endian: read as a table of native integers only where that is the order
_NATIVE_LE = sys.byteorder == "little"


def _fused_parse_dirtree(data: bytes, build: bool = True) -> Optional[Tuple[Tuple[Tuple[str, str], ...],
                                                                          Tuple[Tuple[str, str, str], ...]]]:
    """DirTree.parse's common case in one pass (framing, names, checksums), as the checks
    of :func:`_fast_parse_dirtree` and :func:`validate_filename` would pass them; None on
    anything unusual, which the slow path then refuses with its own message.  A delta's or
    pull's dirtrees each cost a parse before they land (libostree validates them too).

    Per entry only the framing is walked in Python (the offset table read in one go); the
    names are checked all at once: joined by ``/`` (which no valid name holds, so the
    count of ``/`` tells one that does), searched for NUL, decoded as one UTF-8 string
    (valid exactly when every name is) and split again (~2 us an entry -> ~1 us). Not
    ``build``: the same checks, building no value (no checksum's hex, no tuple: ~40% of the
    parse), and ``((), ())`` where it would give one (:func:`check_dirtree`)."""
    n = len(data)
    if n == 0:
        return None
    w = 1 if n <= 0xFF else 2 if n <= 0xFFFF else 4 if n <= 0xFFFFFFFF else 8
    frb = int.from_bytes
    end1 = frb(data[n - w:n], "little")
    if end1 > n - w:
        return None
    names: List[bytes] = []
    files_c: List[str] = []
    dirs_c: List[Tuple[str, str]] = []
    nfiles = 0
    for lo, hi, ndirs in ((0, end1, False), (end1, n - w, True)):
        m = hi - lo
        if m == 0:
            continue
        wa = 1 if m <= 0xFF else 2 if m <= 0xFFFF else 4 if m <= 0xFFFFFFFF else 8
        if m < wa:
            return None
        table = lo + frb(data[hi - wa:hi], "little")
        if table > hi or (hi - table) % wa or table == hi:
            return None
        if _NATIVE_LE:
            ends = memoryview(data)[table:hi].cast(_OFFSET_CODES[wa]).tolist()  # type: ignore[call-overload]
        else:  # pragma: no cover - big-endian hosts
            ends = [frb(data[t:t + wa], "little") for t in range(table, hi, wa)]
        pos = lo
        for e in ends:
            e += lo
            if e < pos or e > table:
                return None
            s = pos
            pos = e
            me = e - s
            # (an entry holds at least a one-byte name, its NUL, its checksums and offsets)
            if me <= 0xFF:
                if me < (68 if ndirs else 35):
                    return None
                w2 = 1
                send = s + data[e - 1]
            else:
                w2 = 2 if me <= 0xFFFF else 4 if me <= 0xFFFFFFFF else 8
                send = s + frb(data[e - w2:e], "little")
            if ndirs:
                a1end = s + (data[e - 2] if w2 == 1 else frb(data[e - 2 * w2:e - w2], "little"))
                if not (a1end - send == 32 and e - 2 * w2 - a1end == 32):
                    return None
                if build:
                    dirs_c.append((data[send:a1end].hex(), data[a1end:e - 2 * w2].hex()))
            else:
                if e - w2 - send != 32:
                    return None
                if build:
                    files_c.append(data[send:e - w2].hex())
            # the name: at least one byte, then its NUL (send is inside the entry now)
            if not (s < send - 1 and data[send - 1] == 0):
                return None
            names.append(data[s:send - 1])
        if not ndirs:
            nfiles = len(names)
    if not names:
        return (), ()
    joined = b"/".join(names)
    if b"\x00" in joined or joined.count(b"/") != len(names) - 1:
        return None
    try:
        text = joined.decode("utf-8").split("/")
    except UnicodeDecodeError:
        return None
    if "." in text or ".." in text:
        return None
    if not build:
        return (), ()
    return (tuple(zip(text[:nfiles], files_c)),
            tuple((name, t, m) for name, (t, m) in zip(text[nfiles:], dirs_c)))


def check_dirtree(data: bytes) -> None:
    """Refuse (CorruptObjectError, with its words) a dirtree's bytes that :func:`parse_dirtree`
    refuses, building nothing: for a writer that stores the bytes (a delta's dirtrees, ~4,800
    entries in the realistic tree's: ~40% of the parse was the checksums' hex and the tuples).
    The common case is :func:`_fused_parse_dirtree`'s walk without its values; anything it
    would send to the slow path is judged there, by parse_dirtree itself."""
    data = bytes(data)
    if not _fused_check_dirtree(data):
        parse_dirtree(data)


def _fused_check_dirtree(data: bytes) -> bool:
    """:func:`_fused_parse_dirtree`'s checks with no value built (no checksum's hex, no
    tuple): True where it gives a value, False where it gives None."""
    return _fused_parse_dirtree(data, False) is not None


def commit_root(data: bytes) -> Tuple[str, str]:
    """A commit's root dirtree and dirmeta checksums, from the commit's framing alone: its
    metadata, subject and the rest are framed but not read into values (a checkout needs the
    root, and libostree's reads the same two members of the commit it loads). Refused as
    :meth:`Commit.parse` refuses a commit framed wrongly or with checksums of a wrong length."""
    members = _commit_members(data)
    return checksum_from_bytes(bytes(members[6])), checksum_from_bytes(bytes(members[7]))


def commit_links(data: bytes) -> Tuple[Optional[str], int, str, str]:
    """A commit's parent (None: none), timestamp, root dirtree and root dirmeta, from its
    framing alone (as :func:`commit_root`; refused in :meth:`Commit.parse`'s words): what a
    walk over commits reads of each, as libostree's traversal reads those members and not the
    metadata (whose values are attrs values)."""
    members = _commit_members(data)
    try:
        return (bytes(members[1]).hex() if members[1] else None, int.from_bytes(members[5], "big"),
                checksum_from_bytes(bytes(members[6])), checksum_from_bytes(bytes(members[7])))
    except InvalidObjectError as e:
        raise CorruptObjectError(f"Corrupted commit object: {e}") from None


def _commit_members(data: bytes) -> List[memoryview]:
    try:
        members = gvariant.tuple_members(COMMIT_TYPE, data)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted commit object: {e}") from None
    if len(members[1]) not in (0, 32):
        raise CorruptObjectError(f"Corrupted commit object; invalid parent length {len(members[1])}")
    return members


def parse_commit_light(data: bytes) -> Tuple[Dict[str, LightVariant], Optional[str], Tuple[Tuple[str, str], ...],
                                              str, str, int, str, str]:
    """A commit's (metadata, parent, related, subject, body, timestamp, root dirtree, root
    dirmeta), checked as ``ostree_validate_structureof_commit`` checks it (framing, the parent's
    length, an empty metadata key, the checksums' lengths), the metadata's values
    :class:`~ostreepy.store.gvariant.LightVariant`: :meth:`Commit.parse` (which boxes them) and
    a walk that checks commits (their parents, bindings, timestamps) and builds no Commit."""
    try:
        meta, parent, related, subject, body, ts, tree, dmeta = gvariant.deserialize_light(COMMIT_TYPE, data)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted commit object: {e}") from None
    if len(parent) not in (0, 32):
        raise CorruptObjectError(f"Corrupted commit object; invalid parent length {len(parent)}")
    if any(not k for k in meta):
        raise CorruptObjectError("Empty metadata key")  # ostree_validate_structureof_commit's words
    try:
        return (meta, parent.hex() if parent else None, tuple((n, checksum_from_bytes(c)) for n, c in related),
                subject, body, bswap64(ts), checksum_from_bytes(tree), checksum_from_bytes(dmeta))
    except InvalidObjectError as e:
        raise CorruptObjectError(f"Corrupted commit object: {e}") from None


def parse_commitmeta(data: bytes) -> Dict[str, Variant]:
    """Parse a commitmeta object (detached metadata, ``a{sv}``)."""
    try:
        return gvariant.deserialize(COMMITMETA_TYPE, data)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted commitmeta object: {e}") from None


def serialize_commitmeta(meta: Mapping[str, Variant]) -> bytes:
    """Serialize detached commit metadata (``a{sv}``)."""
    return gvariant.serialize(COMMITMETA_TYPE, dict(meta))


def parse_metadata_object(objtype: ObjectType, data: bytes) -> Any:
    """Parse a commit, dirtree, dirmeta or commitmeta object's bytes into its value."""
    if objtype == ObjectType.COMMIT:
        return _DEFERRED.build("Commit").parse(data)  # type: ignore[attr-defined, no-any-return]
    if objtype == ObjectType.DIR_TREE:
        return _DEFERRED.build("DirTree").parse(data)  # type: ignore[attr-defined, no-any-return]
    if objtype == ObjectType.DIR_META:
        return _DEFERRED.build("DirMeta").parse(data)  # type: ignore[attr-defined, no-any-return]
    if objtype in (ObjectType.COMMIT_META, ObjectType.TOMBSTONE_COMMIT):
        return parse_commitmeta(data)
    raise InvalidObjectError(f"{objtype.name_str} is not a metadata object type")


# bare-user stores the real ownership and mode in this xattr
BAREUSER_XATTR = b"user.ostreemeta"


def bareuser_meta_serialize(uid: int, gid: int, mode: int, xattrs: Xattrs) -> bytes:
    """The ``user.ostreemeta`` xattr a ``bare-user`` repository stores a file's real owner, mode
    and xattrs in."""
    return serialize_dirmeta(uid, gid, mode, xattrs)


_BE3 = struct.Struct(">III")


def bareuser_meta_parse(data: bytes) -> Tuple[int, int, int, Xattrs]:
    """Parse the ``user.ostreemeta`` xattr of a ``bare-user`` file: uid, gid, mode and xattrs."""
    if len(data) == 12:  # no xattrs: the common case
        uid, gid, mode = _BE3.unpack(data)
        return uid, gid, mode, ()
    try:
        uid, gid, mode, xattrs = gvariant.deserialize(DIRMETA_TYPE, data)
    except GVariantError as e:
        raise CorruptObjectError(f"Corrupted user.ostreemeta: {e}") from None
    return bswap32(uid), bswap32(gid), bswap32(mode), tuple(xattrs)


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
