"""GVariant serialization, as GLib's gvariant-serialiser.c defines it.

Only the pieces OSTree needs: basic types, arrays, tuples, dict entries,
maybes and variants.  Writing always yields normal form; reading is strict and
raises :class:`GVariantError` for anything malformed instead of returning a
default value as GLib does, because every byte we read from a repository may
come from an attacker.  Where libostree stores what GLib made of untrusted
bytes (a fetched ``.commitmeta`` is written as ``g_variant_get_normal_form``
of it), :func:`normal_form` computes those bytes, bytes to bytes, without
building values: whatever GLib reads as a default value is written as one.

Python values:

* ``y n q i u x t h`` -> ``int``; ``b`` -> ``bool``; ``d`` -> ``float``
* ``s o g`` -> ``str``
* ``ay`` -> ``bytes`` (any other array -> ``list``)
* ``a{KV}`` -> ``dict`` (insertion order is kept, as GVariantBuilder does)
* tuples and dict entries -> ``tuple``
* ``mT`` -> ``None`` or the value
* ``v`` -> :class:`Variant`

Integers are written little-endian (the byte order of every host OSTree runs
on); fields OSTree stores big-endian are swapped by the caller.
"""

from __future__ import annotations

import math
import struct

from .._deferred import Deferred
from ..errors import GVariantError

__all__ = [
    "Variant",
    "VariantType",
    "parse_type",
    "serialize",
    "deserialize",
    "deserialize_light",
    "LightVariant",
    "tuple_members",
    "normal_form",
    "print_value",
    "bswap16",
    "bswap32",
    "bswap64",
    "byteswap",
]


def bswap16(v: int) -> int:
    """Swap the byte order of a 16-bit integer."""
    return int.from_bytes(v.to_bytes(2, "little"), "big")


def bswap32(v: int) -> int:
    """Swap the byte order of a 32-bit integer (ostree stores uid, gid and mode big-endian)."""
    return int.from_bytes(v.to_bytes(4, "little"), "big")


def bswap64(v: int) -> int:
    """Swap the byte order of a 64-bit integer (commit timestamps are big-endian)."""
    return int.from_bytes(v.to_bytes(8, "little"), "big")


#: Variant, an attrs class built when first used (by a ``v`` read or written, or its name):
#: the store's value classes, built at import, made attrs's import (~18 ms) part of every
#: command that reads an object, where a checkout or ``ls`` needs none of them
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Dict, List, Optional, Sequence, Tuple

    from attrs import frozen as _value
else:
    _value = _DEFERRED.register


@_value
class Variant:
    """A value boxed with its type, the Python side of ``v``."""

    type: str
    value: Any


def _variant() -> type[Variant]:
    """Variant, built on its first use."""
    return _DEFERRED.build("Variant")  # type: ignore[return-value]


_BASIC_FIXED = {
    "y": (1, 1, "<B"),
    "b": (1, 1, "<B"),
    "n": (2, 2, "<h"),
    "q": (2, 2, "<H"),
    "i": (4, 4, "<i"),
    "u": (4, 4, "<I"),
    "h": (4, 4, "<i"),
    "x": (8, 8, "<q"),
    "t": (8, 8, "<Q"),
    "d": (8, 8, "<d"),
}


class VariantType:
    """A parsed type string with its alignment and fixed size (None if variable)."""

    __slots__ = ("string", "kind", "children", "alignment", "fixed_size", "_struct")

    alignment: int
    fixed_size: Optional[int]

    def __init__(self, string: str, kind: str, children: Tuple["VariantType", ...] = ()):
        self.string = string
        self.kind = kind
        self.children = children
        self._struct: Optional[struct.Struct] = None
        if kind in _BASIC_FIXED:
            size, align, fmt = _BASIC_FIXED[kind]
            self.alignment, self.fixed_size = align, size
            self._struct = struct.Struct(fmt)
        elif kind in ("s", "o", "g"):
            self.alignment, self.fixed_size = 1, None
        elif kind == "v":
            self.alignment, self.fixed_size = 8, None
        elif kind in ("a", "m"):
            self.alignment, self.fixed_size = children[0].alignment, None
        elif kind in ("(", "{"):
            self.alignment = max((c.alignment for c in children), default=1)
            if all(c.fixed_size is not None for c in children):
                size = 0
                for c in children:
                    size = _align(size, c.alignment) + c.fixed_size  # type: ignore[operator]
                size = _align(size, self.alignment)
                self.fixed_size = size if children else 1
            else:
                self.fixed_size = None
        else:  # pragma: no cover - parse_type never builds others
            raise GVariantError(f"unsupported type {string!r}")

    def __repr__(self) -> str:
        return f"VariantType({self.string!r})"


def _align(offset: int, alignment: int) -> int:
    return (offset + alignment - 1) & ~(alignment - 1)


_type_cache: Dict[str, VariantType] = {}


def parse_type(type_string: str) -> VariantType:
    """Parse one complete GVariant type string."""
    cached = _type_cache.get(type_string)
    if cached is not None:
        return cached
    if len(type_string) > 4096:
        raise GVariantError("type string too long")
    t, end = _parse_type_at(type_string, 0)
    if end != len(type_string):
        raise GVariantError(f"trailing characters in type string {type_string!r}")
    if len(_type_cache) < 4096:
        _type_cache[type_string] = t
    return t


_MAX_TYPE_DEPTH = 128  # G_VARIANT_MAX_RECURSION_DEPTH


def _parse_type_at(s: str, pos: int, depth: int = 0) -> Tuple[VariantType, int]:
    if depth > _MAX_TYPE_DEPTH:
        raise GVariantError("type string nested too deeply")
    if pos >= len(s):
        raise GVariantError(f"truncated type string {s!r}")
    c = s[pos]
    if c in _BASIC_FIXED or c in "sogv":
        return _cached_type(c, c, ()), pos + 1
    if c in "am":
        child, end = _parse_type_at(s, pos + 1, depth + 1)
        return _cached_type(s[pos:end], c, (child,)), end
    if c == "(":
        children = []
        p = pos + 1
        while True:
            if p >= len(s):
                raise GVariantError(f"unterminated tuple in type string {s!r}")
            if s[p] == ")":
                break
            child, p = _parse_type_at(s, p, depth + 1)
            children.append(child)
        return _cached_type(s[pos : p + 1], "(", tuple(children)), p + 1
    if c == "{":
        key, p = _parse_type_at(s, pos + 1, depth + 1)
        if key.kind not in _BASIC_FIXED and key.kind not in "sog":
            raise GVariantError(f"dict entry key must be a basic type in {s!r}")
        value, p = _parse_type_at(s, p, depth + 1)
        if p >= len(s) or s[p] != "}":
            raise GVariantError(f"unterminated dict entry in type string {s!r}")
        return _cached_type(s[pos : p + 1], "{", (key, value)), p + 1
    raise GVariantError(f"invalid character {c!r} in type string {s!r}")


def _cached_type(string: str, kind: str, children: Tuple[VariantType, ...]) -> VariantType:
    t = _type_cache.get(string)
    if t is None:
        t = VariantType(string, kind, children)
        _type_cache[string] = t
    return t


def _offset_size(body_len: int, n_offsets: int) -> int:
    if n_offsets == 0:
        return 0
    for w in (1, 2, 4, 8):
        if body_len + n_offsets * w <= (1 << (8 * w)) - 1:
            return w
    raise GVariantError("container too large")  # pragma: no cover


def _container_offset_size(total_len: int) -> int:
    """The offset width a reader derives from a container's total size."""
    if total_len <= 0xFF:
        return 1
    if total_len <= 0xFFFF:
        return 2
    if total_len <= 0xFFFFFFFF:
        return 4
    return 8


def _pack_offsets(offsets: Sequence[int], width: int) -> bytes:
    if width == 1:
        return bytes(offsets)
    return b"".join(o.to_bytes(width, "little") for o in offsets)


# ---------------------------------------------------------------- writing


def serialize(type_string: str, value: Any) -> bytes:
    """Serialize ``value`` as ``type_string`` in normal form."""
    return _ser(parse_type(type_string), value)


def _ser(t: VariantType, v: Any) -> bytes:
    k = t.kind
    st = t._struct
    if st is not None:
        try:
            if k == "b":
                return b"\x01" if v else b"\x00"
            return st.pack(v)
        except (struct.error, TypeError) as e:
            raise GVariantError(f"cannot serialize {v!r} as {t.string}: {e}") from None
    if k in ("s", "o", "g"):
        if not isinstance(v, str):
            raise GVariantError(f"expected str for {k}, got {type(v).__name__}")
        b = v.encode("utf-8")
        if b"\x00" in b:
            raise GVariantError("string contains a NUL byte")
        return b + b"\x00"
    if k == "v":
        if not isinstance(v, _variant()):
            raise GVariantError(f"expected Variant for v, got {type(v).__name__}")
        inner = parse_type(v.type)
        return _ser(inner, v.value) + b"\x00" + v.type.encode("ascii")
    if k == "a":
        return _ser_array(t, v)
    if k == "m":
        if v is None:
            return b""
        child = t.children[0]
        data = _ser(child, v)
        return data if child.fixed_size is not None else data + b"\x00"
    if k in ("(", "{"):
        if k == "{" or not isinstance(v, (tuple, list)):
            if not isinstance(v, (tuple, list)):
                raise GVariantError(f"expected tuple for {t.string}, got {type(v).__name__}")
        return _ser_tuple(t, v)
    raise GVariantError(f"unsupported type {t.string}")  # pragma: no cover


def _ser_array(t: VariantType, v: Any) -> bytes:
    child = t.children[0]
    if child.kind == "y":
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        try:
            return bytes(v)
        except (TypeError, ValueError) as e:
            raise GVariantError(f"cannot serialize {v!r} as ay: {e}") from None
    if child.kind == "{":
        if isinstance(v, dict):
            items: Sequence[Any] = list(v.items())
        else:
            items = list(v)
    else:
        if isinstance(v, (str, bytes, dict)):
            raise GVariantError(f"expected a sequence for {t.string}, got {type(v).__name__}")
        items = list(v)
    if not items:
        return b""
    if child.fixed_size is not None:
        return b"".join(_ser(child, item) for item in items)
    body = bytearray()
    ends: List[int] = []
    align = child.alignment
    for item in items:
        pad = _align(len(body), align) - len(body)
        if pad:
            body += b"\x00" * pad
        body += _ser(child, item)
        ends.append(len(body))
    w = _offset_size(len(body), len(ends))
    body += _pack_offsets(ends, w)
    return bytes(body)


def _ser_tuple(t: VariantType, v: Sequence[Any]) -> bytes:
    children = t.children
    if len(v) != len(children):
        raise GVariantError(f"{t.string} needs {len(children)} members, got {len(v)}")
    if not children:
        return b"\x00"
    body = bytearray()
    ends: List[int] = []
    last = len(children) - 1
    for i, (child, item) in enumerate(zip(children, v)):
        pad = _align(len(body), child.alignment) - len(body)
        if pad:
            body += b"\x00" * pad
        body += _ser(child, item)
        if child.fixed_size is None and i != last:
            ends.append(len(body))
    if t.fixed_size is not None:
        pad = t.fixed_size - len(body)
        if pad:
            body += b"\x00" * pad
        return bytes(body)
    w = _offset_size(len(body), len(ends))
    body += _pack_offsets(ends[::-1], w)
    return bytes(body)


# ---------------------------------------------------------------- reading


def deserialize(type_string: str, data: bytes | memoryview) -> Any:
    """Deserialize ``data`` as ``type_string``; raises GVariantError when malformed."""
    t = parse_type(type_string)
    return _de(t, memoryview(data).cast("B") if not isinstance(data, memoryview) else data, 0)


_MAX_DEPTH = 64


def _de(t: VariantType, data: memoryview, depth: int, light: bool = False) -> Any:
    """``data`` read as ``t``; each ``v`` a :class:`Variant`, or a :class:`LightVariant`
    where ``light`` (:func:`deserialize_light`)."""
    if depth > _MAX_DEPTH:
        raise GVariantError("nesting too deep")
    k = t.kind
    n = len(data)
    if t.fixed_size is not None and n != t.fixed_size:
        raise GVariantError(f"{t.string}: expected {t.fixed_size} bytes, got {n}")
    st = t._struct
    if st is not None:
        (val,) = st.unpack(data)
        if k == "b":
            if val > 1:
                raise GVariantError(f"invalid boolean value {val}")
            return bool(val)
        return val
    if k in ("s", "o", "g"):
        return decode_string(bytes(data))
    if k == "v":
        raw = bytes(data)
        sep = raw.rfind(b"\x00")
        if sep < 0:
            raise GVariantError("variant has no type separator")
        try:
            tstr = raw[sep + 1 :].decode("ascii")
        except UnicodeDecodeError:
            raise GVariantError("variant type is not ASCII") from None
        inner = parse_type(tstr)
        return (LightVariant if light else _variant())(tstr, _de(inner, data[:sep], depth + 1, light))
    if k == "a":
        return _de_array(t, data, depth, light)
    if k == "m":
        if n == 0:
            return None
        child = t.children[0]
        if child.fixed_size is not None:
            return _de(child, data, depth + 1, light)
        if data[n - 1] != 0:
            raise GVariantError("maybe value is missing its trailing NUL")
        return _de(child, data[: n - 1], depth + 1, light)
    if k in ("(", "{"):
        return _de_tuple(t, data, depth, light)
    raise GVariantError(f"unsupported type {t.string}")  # pragma: no cover


def decode_string(raw: bytes) -> str:
    """A serialized ``s``/``o``/``g``: UTF-8, one terminating NUL and no other."""
    n = len(raw)
    if n == 0 or raw[n - 1] != 0:
        raise GVariantError("string is not NUL-terminated")
    body = raw[: n - 1]
    if b"\x00" in body:
        raise GVariantError("string contains an embedded NUL")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise GVariantError("string is not valid UTF-8") from None


def _read_offset(data: memoryview, pos: int, width: int) -> int:
    if width == 1:
        return data[pos]
    return int.from_bytes(data[pos : pos + width], "little")


def _de_array(t: VariantType, data: memoryview, depth: int, light: bool = False) -> Any:
    child = t.children[0]
    n = len(data)
    if child.kind == "y":
        return bytes(data)
    is_dict = child.kind == "{"
    items: List[Any] = []
    if n == 0:
        return {} if is_dict else items
    if child.fixed_size is not None:
        size = child.fixed_size
        if n % size:
            raise GVariantError(f"{t.string}: {n} bytes is not a multiple of {size}")
        for i in range(0, n, size):
            items.append(_de(child, data[i : i + size], depth + 1, light))
    else:
        for element in _array_frames(t, data):
            items.append(_de(child, element, depth + 1, light))
    if is_dict:
        return dict(items)
    return items


def _de_tuple(t: VariantType, data: memoryview, depth: int, light: bool = False) -> Tuple[Any, ...]:
    return tuple(_de(child, member, depth + 1, light) for child, member in zip(t.children, _tuple_frames(t, data)))


class LightVariant:
    """A ``v`` read by :func:`deserialize_light`: its ``type`` and ``value``, as :class:`Variant`
    holds them, in a plain class. It reads as a Variant reads (``.type``, ``.value``) but is
    not one: it is never serialized (``serialize`` refuses it) nor handed out in a value
    that callers keep; it is what an internal reader (a pull's walk of commits and
    summaries) takes from metadata without building the attrs class (and importing attrs)."""

    __slots__ = ("type", "value")

    def __init__(self, type: str, value: Any) -> None:
        self.type = type
        self.value = value

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LightVariant) and self.type == other.type
                and self.value == other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LightVariant(type={self.type!r}, value={self.value!r})"


def boxed(value: Any) -> Any:
    """``value`` (read by :func:`deserialize_light`) as :func:`deserialize` reads it: each
    :class:`LightVariant` in it, at any depth, a :class:`Variant` (for a reader that takes
    Variants: a static delta's side of a pull)."""
    if isinstance(value, LightVariant):
        # (a value whose type holds no v holds no LightVariant: kept as read)
        return _variant()(value.type, boxed(value.value) if "v" in value.type else value.value)
    if isinstance(value, dict):
        return {k: boxed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [boxed(v) for v in value]
    if isinstance(value, tuple):
        return tuple(boxed(v) for v in value)
    return value


def deserialize_light(type_string: str, data: bytes | memoryview) -> Any:
    """:func:`deserialize`, refusing exactly what it refuses (its own code), with each ``v``
    read as a :class:`LightVariant` (no Variant built)."""
    t = parse_type(type_string)
    return _de(t, memoryview(data).cast("B") if not isinstance(data, memoryview) else data, 0, True)


def tuple_members(type_string: str, data: bytes) -> List[memoryview]:
    """The bytes of each member of a tuple of ``type_string``, framed (and refused: GVariantError)
    as :func:`deserialize` frames them, none read into a value: for a reader that needs one
    member of a large tuple (a checkout needs a commit's root, not its metadata)."""
    t = parse_type(type_string)
    if t.kind != "(":
        raise GVariantError(f"{type_string}: not a tuple type")
    return _tuple_frames(t, memoryview(data).cast("B") if not isinstance(data, memoryview) else data)


def _tuple_frames(t: VariantType, data: memoryview) -> List[memoryview]:
    children = t.children
    n = len(data)
    if not children:
        if n != 1:
            raise GVariantError("unit tuple must be one byte")
        return []
    w = _container_offset_size(n)
    offsets_end = n  # the framing offsets are read from the end backwards
    pos = 0
    members = []
    last = len(children) - 1
    for i, child in enumerate(children):
        pos = _align(pos, child.alignment)
        if child.fixed_size is not None:
            end = pos + child.fixed_size
        elif i == last:
            end = offsets_end
        else:
            offsets_end -= w
            if offsets_end < 0:
                raise GVariantError(f"{t.string}: truncated framing offsets")
            end = _read_offset(data, offsets_end, w)
        if pos > end or end > offsets_end:
            raise GVariantError(f"{t.string}: member {i} out of range")
        members.append(data[pos:end])
        pos = end
    if t.fixed_size is None and children[last].fixed_size is not None:
        # trailing data is only allowed as the offset table itself
        if pos != offsets_end:
            raise GVariantError(f"{t.string}: unexpected trailing bytes")
    return members


def array_members(type_string: str, data: bytes | memoryview) -> Iterator[memoryview]:
    """The bytes of each element of an array of ``type_string`` whose elements are of variable
    size, framed (and refused: GVariantError) as :func:`deserialize` frames them, none read
    into a value: :func:`tuple_members`' counterpart, for a reader that reads an ``a{sv}``'s
    entries itself (a delta's superblock: its ``v`` values without the Variant class). Each is
    framed as it is asked for, as deserialize frames an element just before it reads it, so a
    reader of each in turn refuses what deserialize refuses, with its error."""
    t = parse_type(type_string)
    if t.kind != "a" or t.children[0].fixed_size is not None:
        raise GVariantError(f"{type_string}: not an array of variable-size elements")
    d = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    if len(d):
        yield from _array_frames(t, d)


def _array_frames(t: VariantType, data: memoryview) -> Iterator[memoryview]:
    """The elements of a non-empty array ``t`` of variable-size elements, each framed (and
    refused) as it is asked for: an element's framing offset is checked just before it is read."""
    n = len(data)
    w = _container_offset_size(n)
    if n < w:
        raise GVariantError(f"{t.string}: truncated framing offset")
    table_start = _read_offset(data, n - w, w)
    if table_start > n or (n - table_start) % w or table_start == n:
        raise GVariantError(f"{t.string}: invalid framing offset table")
    alignment = t.children[0].alignment
    start = 0
    for i in range((n - table_start) // w):
        end = _read_offset(data, table_start + i * w, w)
        start = _align(start, alignment)
        if end < start or end > table_start:
            raise GVariantError(f"{t.string}: framing offset out of range")
        yield data[start:end]
        start = end


# ---------------------------------------------------------------- GLib's reading of untrusted bytes


def normal_form(type_string: str, data: bytes) -> bytes:
    """``g_variant_get_normal_form`` of ``data`` loaded as an untrusted ``type_string``
    (gvariant-serialiser.c): a part whose size or framing does not hold up reads as the
    type's default value (zeros, an empty string or container, Nothing, ``<()>``), as do
    an array's or tuple's members from the first offset that goes backwards (GLib 2.74.6's
    ordered-offsets rule); booleans become 0/1, invalid strings ``""`` (``"/"`` for
    ``o``). Normal-form input comes back unchanged."""
    return _nf(parse_type(type_string), memoryview(bytes(data)), 0)


def _default(t: VariantType) -> bytes:
    if t.fixed_size is not None:
        return b"\x00" * t.fixed_size
    return _nf(t, memoryview(b""), 0)


def _valid_string(kind: str, raw: bytes) -> bool:
    if not raw or raw[-1] != 0 or b"\x00" in raw[:-1]:
        return False
    body = raw[:-1]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if kind == "o":
        return text == "/" or (text.startswith("/") and all(
            seg and all(c.isascii() and (c.isalnum() or c == "_") for c in seg) for seg in text[1:].split("/")))
    if kind == "g":
        pos = 0
        try:
            while pos < len(text):
                _, pos = _parse_type_at(text, pos)
        except GVariantError:
            return False
    return True


def _nf(t: VariantType, d: memoryview, depth: int) -> bytes:
    k = t.kind
    n = len(d)
    if t.fixed_size is not None and n != t.fixed_size:
        return b"\x00" * t.fixed_size
    if t._struct is not None:
        return (b"\x01" if d[0] else b"\x00") if k == "b" else bytes(d)
    if k in ("s", "o", "g"):
        raw = bytes(d)
        return raw if _valid_string(k, raw) else (b"/\x00" if k == "o" else b"\x00")
    if k == "v":
        raw = bytes(d)
        sep = raw.rfind(b"\x00")
        if sep >= 0 and depth < _MAX_DEPTH:
            tstr = raw[sep + 1 :]
            try:
                inner = parse_type(tstr.decode("ascii"))
            except (UnicodeDecodeError, GVariantError):
                inner = None
            if inner is not None:
                return _nf(inner, d[:sep], depth + 1) + b"\x00" + tstr
        return b"\x00\x00()"
    if k == "m":
        child = t.children[0]
        if child.fixed_size is not None:
            return _nf(child, d, depth + 1) if n == child.fixed_size else b""
        return _nf(child, d[: n - 1], depth + 1) + b"\x00" if n else b""
    if k == "a":
        child = t.children[0]
        if child.fixed_size is not None:
            size = child.fixed_size
            if n % size:
                return b""
            if child.kind == "y":
                return bytes(d)
            return b"".join(_nf(child, d[i : i + size], depth + 1) for i in range(0, n, size))
        return _pack_variable(child, [_nf(child, part, depth + 1) for part in _array_members(child, d)])
    if k in ("(", "{"):
        if not t.children:
            return b"\x00"
        return _pack_tuple(t, [_nf(c, part, depth + 1) for c, part in zip(t.children, _tuple_members(t, d))])
    raise GVariantError(f"unsupported type {t.string}")  # pragma: no cover


def _array_members(child: VariantType, d: memoryview) -> List[memoryview]:
    n = len(d)
    if n == 0:
        return []
    w = _container_offset_size(n)
    last_end = _read_offset(d, n - w, w)
    if last_end > n or (n - last_end) % w:
        return []
    empty = d[0:0]
    out: List[memoryview] = []
    start, ordered = 0, True
    for i in range((n - last_end) // w):
        end = _read_offset(d, last_end + i * w, w)
        start = _align(start, child.alignment)
        ordered = ordered and start <= end <= last_end
        out.append(d[start:end] if ordered else empty)
        if ordered:
            start = end
    return out


def _tuple_members(t: VariantType, d: memoryview) -> List[memoryview]:
    # each member's start is the last variable-size member's framing offset (0 before
    # any) plus the aligned fixed-size members since, as the type info's (i, a, b, c)
    n = len(d)
    w = _container_offset_size(n)
    empty = d[0:0]
    out: List[memoryview] = []
    base, slot, ordered = 0, 0, True
    last = len(t.children) - 1
    prev_end = 0
    for i, child in enumerate(t.children):
        start = _align(base, child.alignment)
        if child.fixed_size is not None:
            end = start + child.fixed_size
            base = end
        elif i == last:
            end = n - w * slot
        else:
            slot += 1
            end = _read_offset(d, n - w * slot, w) if w * slot <= n else n + 1
            base = end
        frame_end = n - w * slot
        ordered = ordered and prev_end <= start <= end <= frame_end
        out.append(d[start:end] if ordered else empty)
        if ordered:
            prev_end = end
    return out


def _pack_variable(child: VariantType, parts: Sequence[bytes]) -> bytes:
    if not parts:
        return b""
    body = bytearray()
    ends: List[int] = []
    for part in parts:
        body += b"\x00" * (_align(len(body), child.alignment) - len(body))
        body += part
        ends.append(len(body))
    return bytes(body) + _pack_offsets(ends, _offset_size(len(body), len(ends)))


def _pack_tuple(t: VariantType, parts: Sequence[bytes]) -> bytes:
    body = bytearray()
    ends: List[int] = []
    last = len(t.children) - 1
    for i, (child, part) in enumerate(zip(t.children, parts)):
        body += b"\x00" * (_align(len(body), child.alignment) - len(body))
        body += part
        if child.fixed_size is None and i != last:
            ends.append(len(body))
    if t.fixed_size is not None:
        return bytes(body) + b"\x00" * (t.fixed_size - len(body))
    return bytes(body) + _pack_offsets(ends[::-1], _offset_size(len(body), len(ends)))


# ---------------------------------------------------------------- text form


def print_value(type_string: str, value: Any, annotate: bool = True) -> str:
    """Render ``value`` in GVariant text format as g_variant_print() does."""
    return _print(parse_type(type_string), value, annotate)


_C_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a", "\b": "\\b", "\f": "\\f",
              "\v": "\\v"}


def _quote_string(s: str) -> str:
    """g_variant_print's string form: single quotes unless the string holds one."""
    quote = "'" if "'" not in s or '"' in s else '"'
    out = [quote]
    for ch in s:
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
        elif ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append(quote)
    return "".join(out)


def _strescape(b: bytes) -> str:
    """g_strescape(): C escapes, octal for other control and non-ASCII bytes."""
    out = []
    for c in b:
        ch = chr(c)
        if ch in "\b\f\n\r\t\v":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif c < 0x20 or c >= 0x7F:
            out.append("\\%03o" % c)
        else:
            out.append(ch)
    return "".join(out)


def byteswap(type_string: str, value: Any) -> Any:
    """g_variant_byteswap(): every integer of the value with its bytes reversed."""
    return _bswap(parse_type(type_string), value)


def _bswap(t: VariantType, v: Any) -> Any:
    k = t.kind
    if k in "nq":
        return int.from_bytes(t._struct.pack(v), "big", signed=(k == "n"))  # type: ignore[union-attr]
    if k in "iuhxt":
        return int.from_bytes(t._struct.pack(v), "big", signed=k in "ihx")  # type: ignore[union-attr]
    if k == "d":
        return struct.unpack(">d", struct.pack("<d", v))[0]
    if k == "v":
        return _variant()(v.type, byteswap(v.type, v.value))
    if k == "m":
        return None if v is None else _bswap(t.children[0], v)
    if k == "a":
        child = t.children[0]
        if child.kind == "y":
            return v
        if child.kind == "{":
            items = v.items() if isinstance(v, dict) else v
            return {_bswap(child.children[0], a): _bswap(child.children[1], b) for a, b in items}
        return [_bswap(child, x) for x in v]
    if k in "({":
        return tuple(_bswap(c, x) for c, x in zip(t.children, v))
    return v


def _print_double(d: float) -> str:
    if math.isnan(d) or math.isinf(d):
        return repr(d)
    r = "%.17g" % d
    if "." not in r and "e" not in r and "inf" not in r and "nan" not in r:
        r += ".0"
    return r


def _print(t: VariantType, v: Any, annotate: bool) -> str:
    k = t.kind
    if k == "b":
        return "true" if v else "false"
    if k == "y":
        return ("byte " if annotate else "") + "0x%02x" % v
    if k in "nqiuxth":
        prefix = {"n": "int16 ", "q": "uint16 ", "i": "", "u": "uint32 ", "x": "int64 ",
                  "t": "uint64 ", "h": "handle "}[k]
        return (prefix if annotate else "") + str(v)
    if k == "d":
        return _print_double(v)
    if k == "s":
        return _quote_string(v)
    if k == "o":
        return ("objectpath " if annotate else "") + _quote_string(v)
    if k == "g":
        return ("signature " if annotate else "") + _quote_string(v)
    if k == "v":
        return "<" + _print(parse_type(v.type), v.value, True) + ">"
    if k == "m":
        if v is None:
            return ("@" + t.string + " " if annotate else "") + "nothing"
        inner = _print(t.children[0], v, annotate)
        return "just " + inner if t.children[0].kind == "m" else inner
    if k == "a":
        child = t.children[0]
        if child.kind == "y":
            if len(v) == 0:
                return ("@ay " if annotate else "") + "[]"
            if v[-1:] == b"\x00" and b"\x00" not in v[:-1]:
                esc = _strescape(bytes(v[:-1]))
                return "b\"" + esc + "\"" if b"'" in v else "b'" + esc + "'"
            return "[" + ", ".join(("byte " if annotate and i == 0 else "") + "0x%02x" % c
                                   for i, c in enumerate(v)) + "]"
        if child.kind == "{":
            items = list(v.items()) if isinstance(v, dict) else list(v)
            if not items:
                return ("@" + t.string + " " if annotate else "") + "{}"
            parts = []
            for i, (key, val) in enumerate(items):
                a = annotate and i == 0
                parts.append(_print(child.children[0], key, a) + ": "
                             + _print(child.children[1], val, a))
            return "{" + ", ".join(parts) + "}"
        items = list(v)
        if not items:
            return ("@" + t.string + " " if annotate else "") + "[]"
        return "[" + ", ".join(_print(child, x, annotate and i == 0)
                               for i, x in enumerate(items)) + "]"
    if k == "(":
        parts = [_print(c, x, annotate) for c, x in zip(t.children, v)]
        if len(parts) == 1:
            return "(" + parts[0] + ",)"
        return "(" + ", ".join(parts) + ")"
    if k == "{":
        return "{" + _print(t.children[0], v[0], annotate) + ", " + _print(t.children[1], v[1], annotate) + "}"
    raise GVariantError(f"cannot print {t.string}")  # pragma: no cover


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
