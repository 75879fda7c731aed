"""The summary file of a repository: its refs, their commits' sizes and a few
of their metadata, plus repository-wide metadata; pure format code.

GVariant type ``(a(s(taya{sv}))a{sv})``: refs sorted by name, each with the
commit object's size (native, i.e. little-endian ``t``), its checksum as 32
bytes, and per-ref metadata (``ostree.commit.timestamp``, big-endian ``t``;
``ostree.commit.version``). The second member holds repository metadata such as
``ostree.summary.last-modified`` (big-endian), ``ostree.summary.mode``,
``ostree.static-deltas`` and collection refs under
``ostree.summary.collection-map``.

CONTRACT (session 2026-12-04): :class:`Summary`, :class:`SummaryRef`,
:func:`parse_summary` and :meth:`Summary.serialize` are what the pull engine
and ``summary -u`` build on; keep their names and fields.
"""

from __future__ import annotations

from .._deferred import Deferred, Field
from ..errors import GVariantError, InvalidObjectError
from ..store import gvariant

# Summary and SummaryRef are attrs classes built on first use (ostreepy._deferred): a pull
# reads its summary with parse_summary_light, and builds neither (nor imports attrs)
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Callable, Dict, Mapping, Optional, Tuple, TypeVar, Union

    from attrs import frozen as _value

    from ..store.gvariant import LightVariant, Variant

    R = TypeVar("R")  # a ref as a reader makes it
    V = TypeVar("V", Variant, LightVariant)  # a metadata value as a reader reads it
else:
    _value = _DEFERRED.register

SUMMARY_TYPE = "(a(s(taya{sv}))a{sv})"
#: summaries are small; a bigger one is refused before it is parsed
MAX_SUMMARY_SIZE = 64 * 1024 * 1024


class InvalidSummaryError(InvalidObjectError):
    """Summary bytes that do not parse, or break the format's rules."""


@_value
class SummaryRef:
    """One ref of a summary: its commit, the commit object's size, and the
    per-ref metadata (``ostree.commit.timestamp``, ``ostree.commit.version``)."""

    checksum: str
    size: int
    metadata: Mapping[str, Variant] = Field(factory=dict)

    @property
    def timestamp(self) -> Optional[int]:
        v = self.metadata.get("ostree.commit.timestamp")
        return gvariant.bswap64(v.value) if v is not None and v.type == "t" else None

    @property
    def version(self) -> Optional[str]:
        v = self.metadata.get("ostree.commit.version")
        return v.value if v is not None and v.type == "s" else None


@_value
class Summary:
    """A parsed summary: refs by name (in the file's order) and repository metadata."""

    refs: Mapping[str, SummaryRef] = Field(factory=dict)
    metadata: Mapping[str, Variant] = Field(factory=dict)

    def serialize(self) -> bytes:
        refs = [(name, (r.size, bytes.fromhex(r.checksum), dict(r.metadata)))
                for name, r in sorted(self.refs.items())]
        return gvariant.serialize(SUMMARY_TYPE, (refs, dict(self.metadata)))

    def collection_refs(self) -> Dict[Tuple[str, str], SummaryRef]:
        """Refs of other collections listed under ``ostree.summary.collection-map``."""
        return _collection_refs(self.metadata, _summary_ref)


def _summary_ref(checksum: str, size: int, metadata: Mapping[str, Variant]) -> SummaryRef:
    return _DEFERRED.build("SummaryRef")(  # type: ignore[no-any-return]
        checksum=checksum, size=size, metadata=metadata)


def _parse_refs(raw: list, make: Callable[[str, int, Mapping[str, V]], R]) -> Dict[str, R]:
    """A summary's ``a(s(taya{sv}))`` refs, each made by ``make(checksum, size, metadata)``."""
    refs: Dict[str, R] = {}
    for name, (size, csum, meta) in raw:
        if len(csum) != 32:
            raise InvalidSummaryError(f"Invalid checksum of {len(csum)} bytes for ref {name!r} in summary")
        refs[name] = make(csum.hex(), size, meta)
    return refs


def _collection_refs(metadata: Mapping[str, V], make: Callable[[str, int, Mapping[str, V]], R]
                     ) -> Dict[Tuple[str, str], R]:
    """The refs of ``ostree.summary.collection-map`` by (collection ID, ref), made by ``make``."""
    out: Dict[Tuple[str, str], R] = {}
    cmap = metadata.get("ostree.summary.collection-map")
    if cmap is None or cmap.type != "a{sa(s(taya{sv}))}":
        return out
    for cid, refs in cmap.value.items():
        for name, ref in _parse_refs(refs, make).items():
            out[(cid, name)] = ref
    return out


def _read(data: bytes, deserialize: Callable[[str, bytes], Tuple[list, dict]]) -> Tuple[list, dict]:
    """The summary's (refs, metadata) as ``deserialize`` reads them, its size bounded first."""
    if len(data) > MAX_SUMMARY_SIZE:
        raise InvalidSummaryError(f"Summary of {len(data)} bytes is larger than {MAX_SUMMARY_SIZE}")
    try:
        return deserialize(SUMMARY_TYPE, data)
    except GVariantError as e:
        raise InvalidSummaryError(f"Invalid summary: {e}") from None


def parse_summary(data: bytes) -> Summary:
    """Parse summary bytes; :class:`InvalidSummaryError` on anything malformed."""
    raw_refs, meta = _read(data, gvariant.deserialize)
    return _DEFERRED.build("Summary")(  # type: ignore[no-any-return]
        refs=_parse_refs(raw_refs, _summary_ref), metadata=meta)


class LightSummaryRef:
    """A ref of a :class:`LightSummary`: :class:`SummaryRef`'s fields in a plain class."""

    __slots__ = ("checksum", "size", "metadata")

    def __init__(self, checksum: str, size: int, metadata: Mapping[str, LightVariant]) -> None:
        self.checksum = checksum
        self.size = size
        self.metadata = metadata


class LightSummary:
    """A summary as :func:`parse_summary_light` reads it: :class:`Summary`'s refs and metadata
    (its ``v`` values :class:`~ostreepy.store.gvariant.LightVariant`) in a plain class, for a
    pull that resolves refs and keeps no value."""

    __slots__ = ("refs", "metadata")

    def __init__(self, refs: Mapping[str, LightSummaryRef], metadata: Mapping[str, LightVariant]) -> None:
        self.refs = refs
        self.metadata = metadata

    def collection_refs(self) -> Dict[Tuple[str, str], LightSummaryRef]:
        """:meth:`Summary.collection_refs`."""
        return _collection_refs(self.metadata, LightSummaryRef)


if TYPE_CHECKING:
    #: a summary, as a value or as a pull reads it
    AnySummary = Union[Summary, LightSummary]


def parse_summary_light(data: bytes) -> LightSummary:
    """:func:`parse_summary`, refusing what it refuses, as a :class:`LightSummary`: no attrs
    value built."""
    raw_refs, meta = _read(data, gvariant.deserialize_light)
    return LightSummary(_parse_refs(raw_refs, LightSummaryRef), meta)


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)


def __dir__() -> list:
    # the deferred classes too (not in the namespace until built): for dir() and autodoc
    return sorted(set(globals()) | {"Summary", "SummaryRef"})
