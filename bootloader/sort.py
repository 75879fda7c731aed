"""Ordering of boot entries.

* :func:`sort_entries` orders ``(file name, entry)`` pairs as the Boot
  Loader Specification says (best first): "bad" entries (no boot tries
  left) last; entries that both have ``sort-key`` by ``sort-key``, then
  ``machine-id`` (ascending), then ``version`` (descending, UAPI order); an
  entry with ``sort-key`` before one without; finally by file name without
  the boot counter and suffix, descending in UAPI version order.
  ``systemd_ids=True`` compares the names with their ``.conf`` suffix, as
  systemd (``bootctl``, sd-boot) does with its entry ids.
* :func:`ostree_sort_entries` is ostree's own order of the entries it reads
  back (``compare_boot_loader_configs``): ``version`` descending with
  ``strverscmp``, entries without a version last; ties keep their order.
"""

from __future__ import annotations

import functools
from typing import List, Optional, Sequence, Tuple, TypeVar

from .bls import BLSEntry, parse_entry_filename
from .version import strverscmp, vercmp

__all__ = ["compare_entries", "sort_entries", "ostree_sort_entries"]

_Named = Tuple[str, BLSEntry]
T = TypeVar("T")


def _cmp(a: object, b: object) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


def _strcmp(a: str, b: str) -> int:
    return _cmp(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def _strcmp_ptr(a: Optional[str], b: Optional[str]) -> int:
    if a is None or b is None:
        return _cmp(a is not None, b is not None)
    return _strcmp(a, b)


def compare_entries(a: _Named, b: _Named, *, systemd_ids: bool = False) -> int:
    """Negative if ``a`` sorts before ``b`` in the BLS order, as ``cmp``."""
    fa, ea = a
    fb, eb = b
    na, nb = parse_entry_filename(fa), parse_entry_filename(fb)
    r = _cmp(na.bad, nb.bad)
    if r:
        return r
    ka, kb = ea.sort_key, eb.sort_key
    r = _cmp(ka is None, kb is None)
    if r:
        return r
    if ka is not None and kb is not None:
        r = _strcmp(ka, kb)
        if r:
            return r
        r = _strcmp_ptr(ea.machine_id, eb.machine_id)
        if r:
            return r
        va, vb = ea.version, eb.version
        r = -vercmp(va or "", vb or "") if (va is not None or vb is not None) else 0
        if r:
            return r
    ida = na.id if systemd_ids else na.stem
    idb = nb.id if systemd_ids else nb.stem
    return -vercmp(ida, idb)


def sort_entries(entries: Sequence[_Named], *, systemd_ids: bool = False) -> List[_Named]:
    """``entries`` in Boot Loader Specification order, best first."""
    return sorted(
        entries,
        key=functools.cmp_to_key(functools.partial(compare_entries, systemd_ids=systemd_ids)),
    )


def _ostree_cmp(a: BLSEntry, b: BLSEntry) -> int:
    va, vb = a.version, b.version
    if va is not None and vb is not None:
        return -strverscmp(va, vb)
    return _cmp(va is None, vb is None)


def ostree_sort_entries(entries: Sequence[T]) -> List[T]:
    """Sort entries (``BLSEntry`` or ``(name, BLSEntry)`` pairs) in ostree's
    deployment order: highest ``version`` (strverscmp) first."""

    def entry_of(x: object) -> BLSEntry:
        return x[1] if isinstance(x, tuple) else x  # type: ignore[return-value]

    return sorted(entries, key=functools.cmp_to_key(lambda a, b: _ostree_cmp(entry_of(a), entry_of(b))))
