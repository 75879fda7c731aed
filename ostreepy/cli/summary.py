"""The text ostree prints for a summary (``summary --view``/``--raw``,
``remote summary``), and the parsing of ``summary -u``'s ``--add-metadata``.

The text is ``ot-dump.c``'s ``ot_dump_summary_bytes``: refs (main list, then
the collection map), each with its commit size in ``g_format_size`` form,
checksum and metadata, then the repository metadata in file order with
ostree's pretty names; times as local ISO 8601 with ``%:::z``. ``--view``
prints nothing after it, as ostree 2022.7 (2026.4 adds "Summary is unsigned"
or the GPG signatures).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from ..store.gvariant import Variant

from ..errors import OstreeError

__all__ = ["format_summary", "metadata_keys", "metadata_value", "parse_add_metadata"]

_MODES = ("bare", "bare-user", "bare-user-only", "bare-split-xattrs", "archive", "archive-z2")


class SummaryUsageError(OstreeError):
    pass


def iso8601_local(secs: int) -> str:
    """``g_date_time_format (local, "%FT%T%:::z")``; "invalid" past year 9999."""
    try:
        if secs > 253402300799:
            raise ValueError
        tm = time.localtime(secs)
    except (OverflowError, ValueError, OSError):
        return "invalid"
    off = tm.tm_gmtoff or 0
    sign = "-" if off < 0 else "+"
    off = abs(off)
    zone = f"{sign}{off // 3600:02d}"
    if off % 3600:
        zone += f":{off % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + zone


def _ref_lines(cid: Optional[str], name: str, size: int, csum: bytes, meta: Mapping[str, "Variant"],
               out: List[str]) -> None:
    from ..store.gvariant import bswap64, print_value
    from ..store.prune import format_size
    out.append(f"* {name}" if cid is None else f"* ({cid}, {name})")
    out.append(f"    Latest Commit ({format_size(size)}):")
    if len(csum) == 32:
        out.append(f"      {csum.hex()}")
    else:
        out.append(f"      Invalid checksum of length {len(csum)} expected 32")
    for key, v in meta.items():
        if key == "ostree.commit.timestamp" and v.type == "t":
            out.append(f"    Timestamp ({key}): {iso8601_local(bswap64(v.value))}")
        elif key == "ostree.commit.version" and v.type == "s":
            out.append(f"    Version ({key}): {v.value}")
        else:
            out.append(f"    {key}: {print_value(v.type, v.value, annotate=False)}")
    out.append("")


def format_summary(data: bytes, raw: bool = False) -> str:
    """ostree's text for summary bytes (``--raw``: the whole variant, byteswapped
    to big-endian as ``ot_dump_variant`` prints it on a little-endian host)."""
    from ..store import gvariant
    from ..remote.summary import SUMMARY_TYPE, parse_summary
    parse_summary(data)  # refuses what is not a summary before anything is printed
    refs, meta = gvariant.deserialize(SUMMARY_TYPE, data)
    if raw:
        return gvariant.print_value(SUMMARY_TYPE, gvariant.byteswap(SUMMARY_TYPE, (refs, meta))) + "\n"
    out: List[str] = []
    main = meta.get("ostree.summary.collection-id")
    main_cid = main.value if main is not None and main.type == "s" else None
    for name, (size, csum, rmeta) in refs:
        _ref_lines(main_cid, name, size, csum, rmeta, out)
    cmap = meta.get("ostree.summary.collection-map")
    if cmap is not None and cmap.type == "a{sa(s(taya{sv}))}":
        for cid, crefs in cmap.value.items():
            for name, (size, csum, rmeta) in crefs:
                _ref_lines(cid, name, size, csum, rmeta, out)
    pretty = {"ostree.static-deltas": "Static Deltas", "ostree.summary.last-modified": "Last-Modified",
              "ostree.summary.expires": "Expires", "ostree.summary.collection-id": "Collection ID",
              "ostree.summary.collection-map": "Collection Map", "ostree.summary.mode": "Repository Mode",
              "ostree.summary.tombstone-commits": "Has Tombstone Commits"}
    for key, v in meta.items():
        if key in ("ostree.summary.last-modified", "ostree.summary.expires") and v.type == "t":
            text = iso8601_local(gvariant.bswap64(v.value))
        elif key == "ostree.summary.collection-id" and v.type == "s":
            text = v.value
        elif key == "ostree.summary.collection-map":
            text = "(printed above)"
        elif key == "ostree.summary.mode" and v.type == "s":
            text = v.value if v.value in _MODES else f"Invalid (‘{v.value}’)"
        elif key == "ostree.summary.tombstone-commits" and v.type == "b":
            text = "Yes" if v.value else "No"
        else:
            text = gvariant.print_value(v.type, v.value, annotate=False)
        out.append(f"{pretty[key]} ({key}): {text}" if key in pretty else f"{key}: {text}")
    return "".join(line + "\n" for line in out)


def metadata_keys(data: bytes) -> List[str]:
    from ..remote.summary import parse_summary
    return sorted(parse_summary(data).metadata, key=lambda k: k.encode())


def metadata_value(data: bytes, key: str) -> str:
    from ..store import gvariant
    from ..remote.summary import parse_summary
    v = parse_summary(data).metadata.get(key)
    if v is None:
        raise SummaryUsageError(f"No such metadata key '{key}'")
    return gvariant.print_value(v.type, gvariant.byteswap(v.type, v.value)) + "\n"


def parse_add_metadata(args: List[str]) -> Dict[str, "Variant"]:
    from ..store.gvariant_text import parse_text
    out: Dict[str, "Variant"] = {}
    for a in args:
        key, eq, text = a.partition("=")
        if not eq:
            raise SummaryUsageError(f"Missing '=' in KEY=VALUE metadata '{a}'")
        try:
            out[key] = parse_text(text)
        except OstreeError as e:
            raise SummaryUsageError(f"Error parsing variant ‘{text}’: {e}") from None
    return out
