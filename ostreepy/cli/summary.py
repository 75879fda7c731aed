"""``ostreepy summary``: make (``-u``) or show (``--view``, ``--raw``) a
repository's summary, and the text ostree prints for a summary, which
``remote summary`` shares.

The text is ``ot-dump.c``'s ``ot_dump_summary_bytes``: refs (main list, then
the collection map), each with its commit size in ``g_format_size`` form,
checksum and metadata, then the repository metadata in file order with
ostree's pretty names; times as local ISO 8601 with ``%:::z``. ``--view``
prints nothing after it, as ostree 2022.7 (2026.4 adds "Summary is unsigned"
or the GPG signatures).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from ..store.gvariant import Variant

from ..errors import OstreeError

__all__ = ["format_summary", "cmd_summary"]

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


def _parse_add_metadata(args: List[str]) -> Dict[str, "Variant"]:
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


def cmd_summary(args: argparse.Namespace) -> int:
    from .repo import _open_repo
    repo = _open_repo(args)
    if args.update:
        from ..remote.publish import regenerate_summary
        from ..store.signing import read_key_file
        keys = list(args.sign or [])
        if args.keys_file:
            keys += read_key_file(args.keys_file)
        regenerate_summary(repo, _parse_add_metadata(args.add_metadata or []), sign_keys=keys,
                           sign_type=args.sign_type or "ed25519", gpg_key_ids=args.gpg_sign or (),
                           gpg_homedir=args.gpg_homedir)
        return 0
    if args.view or args.raw or args.list_metadata_keys or args.print_metadata_key:
        from ..remote.publish import read_summary
        data, _sig = read_summary(repo)
        if args.view or args.raw:
            sys.stdout.write(format_summary(data, raw=args.raw))
        elif args.list_metadata_keys:
            sys.stdout.write("".join(k + "\n" for k in metadata_keys(data)))
        else:
            sys.stdout.write(metadata_value(data, args.print_metadata_key))
        return 0
    raise SummaryUsageError("No option specified; use -u to update summary")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("summary", help="Manage summary metadata")
    p.add_argument("--repo", metavar="PATH", default=argparse.SUPPRESS)
    p.add_argument("-u", "--update", action="store_true", help="Update the summary")
    p.add_argument("-v", "--view", action="store_true", help="View the local summary file")
    p.add_argument("--raw", action="store_true", help="View the raw bytes of the summary file")
    p.add_argument("--list-metadata-keys", action="store_true", help="List the available metadata keys")
    p.add_argument("--print-metadata-key", metavar="KEY", help="Print string value of metadata key")
    p.add_argument("--gpg-sign", action="append", metavar="KEY-ID", help="GPG Key ID to sign the summary with")
    p.add_argument("--gpg-homedir", metavar="HOMEDIR", help="GPG Homedir to use when looking for keyrings")
    p.add_argument("--sign", action="append", metavar="KEY-ID", help="Key ID to sign the summary with")
    p.add_argument("--sign-type", metavar="NAME", help="Signature type to use (defaults to 'ed25519')")
    p.add_argument("--keys-file", metavar="PATH", help="Read secret keys from this file (one base64 key per line)")
    p.add_argument("-m", "--add-metadata", action="append", metavar="KEY=VALUE",
                   help="Additional metadata field to add to the summary")
    p.set_defaults(func=cmd_summary)
