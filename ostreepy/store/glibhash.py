"""The iteration order of GLib's ``GHashTable`` with string keys, pure code.

libostree builds some ``a{sv}`` values through ``GVariantDict`` (a
``GHashTable`` keyed with ``g_str_hash``) and serializes them in the table's
bucket order: the summary's metadata and each summary ref's metadata among
them. Bytes equal to libostree's need that order, so it is reproduced here from
GLib 2.74's ``ghash.c`` (unchanged in this respect up to at least 2.84): the
djb2 string hash over *signed* chars, buckets chosen as ``(hash * 11) % mod``
with ``mod`` the largest prime below the power-of-two table size, quadratic
probing within the mask, a resize when the table is 15/16 occupied (to the
shift of ``nnodes * 1.333``), done in place as ``resize_map`` does (entries
that land on a taken bucket evict and re-place its holder).

Only insertions are modelled (``GVariantDict`` as libostree uses it never
removes); a replaced key keeps its bucket, as ``g_hash_table_insert`` does.
Tests compare this with the real ``libglib-2.0`` through ctypes.
"""

from __future__ import annotations

from typing import Dict, Generic, Iterable, Iterator, List, Optional, Tuple, TypeVar

__all__ = ["str_hash", "GHashOrder", "ordered"]

V = TypeVar("V")

_MIN_SHIFT = 3
# prime_mod[] of ghash.c: the largest prime below 2**shift
_PRIME_MOD = (1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
              131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393,
              67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647)


def str_hash(key: str) -> int:
    """``g_str_hash``: h = h * 33 + c over the UTF-8 bytes read as signed chars."""
    h = 5381
    for b in key.encode("utf-8"):
        h = (h * 33 + (b - 256 if b >= 128 else b)) & 0xFFFFFFFF
    return h


def _closest_shift(n: int) -> int:
    i = 0
    while n:
        n >>= 1
        i += 1
    return max(i, _MIN_SHIFT)


class GHashOrder(Generic[V]):
    """A string-keyed table that iterates in ``GHashTable``'s order."""

    def __init__(self, items: Iterable[Tuple[str, V]] = ()) -> None:
        self._set_shift(_MIN_SHIFT)
        self._hashes: List[int] = [0] * self._size
        self._keys: List[Optional[str]] = [None] * self._size
        self._values: Dict[str, V] = {}
        self._noccupied = 0
        for k, v in items:
            self[k] = v

    def _set_shift(self, shift: int) -> None:
        self._size = 1 << shift
        self._mod = _PRIME_MOD[shift]
        self._mask = self._size - 1

    def _index(self, h: int) -> int:
        return ((h * 11) & 0xFFFFFFFF) % self._mod

    def __setitem__(self, key: str, value: V) -> None:
        h = str_hash(key)
        if h <= 1:
            h = 2
        i = self._index(h)
        step = 0
        while self._hashes[i]:
            if self._hashes[i] == h and self._keys[i] == key:
                self._values[key] = value
                return
            step += 1
            i = (i + step) & self._mask
        self._hashes[i] = h
        self._keys[i] = key
        self._values[key] = value
        self._noccupied += 1
        occ = self._noccupied
        if self._size <= occ + occ // 16:
            self._resize()

    def _resize(self) -> None:
        old_size = self._size
        self._set_shift(_closest_shift(int(len(self._values) * 1.333)))
        size = max(self._size, old_size)
        hashes = self._hashes + [0] * (size - old_size)
        keys = self._keys + [None] * (size - old_size)
        placed = [False] * size
        for i in range(old_size):
            h = hashes[i]
            if h <= 1 or placed[i]:
                continue
            hashes[i] = 0
            key = keys[i]
            keys[i] = None
            while True:
                j = self._index(h)
                step = 0
                while placed[j]:
                    step += 1
                    j = (j + step) & self._mask
                placed[j] = True
                replaced_h, replaced_k = hashes[j], keys[j]
                hashes[j], keys[j] = h, key
                if replaced_h <= 1:
                    break
                h, key = replaced_h, replaced_k
        self._hashes = hashes[: self._size]
        self._keys = keys[: self._size]
        self._noccupied = len(self._values)

    def __iter__(self) -> Iterator[str]:
        for h, k in zip(self._hashes, self._keys):
            if h > 1 and k is not None:
                yield k

    def items(self) -> Iterator[Tuple[str, V]]:
        for k in self:
            yield k, self._values[k]

    def __len__(self) -> int:
        return len(self._values)


def ordered(items: Iterable[Tuple[str, V]]) -> Dict[str, V]:
    """The pairs inserted in this order, as a dict in ``GHashTable`` iteration order."""
    return dict(GHashOrder(items).items())
