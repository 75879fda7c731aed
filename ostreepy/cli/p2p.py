"""The peer-to-peer verbs, ``find-remotes`` and ``create-usb``: argument checks with
ostree's words and ostree's output over :mod:`ostreepy.remote.p2p` and
:mod:`ostreepy.remote.usb`.

``find-remotes`` prints each result as ot-builtin-find-remotes.c does (``Result N:
URL``, its finder, keyring, priority, summary time and refs), then ``X/Y refs were
found.`` and the refs found nowhere; with ``--pull`` it pulls and says ``Pulled X/Y refs
successfully.``. The refs of a result are listed in the order they were asked for
(ostree's order is its hash table's).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, List, Set

from .repo import UsageError, _open_repo

if TYPE_CHECKING:
    from ..remote.finder import CollectionRef

__all__ = ["cmd_find_remotes", "cmd_create_usb"]


def _pairs(words: List[str]) -> List["CollectionRef"]:
    from ..remote.finder import CollectionRef
    if not words:
        raise UsageError("At least one COLLECTION-ID REF pair must be specified")
    if len(words) % 2:
        raise UsageError("Only complete COLLECTION-ID REF pairs may be specified")
    return [CollectionRef.checked(words[i], words[i + 1]) for i in range(0, len(words), 2)]


def _iso8601(secs: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))
    except (OverflowError, ValueError, OSError):
        return "invalid"


def cmd_find_remotes(args: argparse.Namespace) -> int:
    from ..remote.p2p import find_remotes, finders_by_name, pull_from_remotes
    refs = _pairs(list(args.pairs))
    if args.mirror and not args.pull:
        raise UsageError("When --mirror is specified, --pull must also be")
    finders = None
    if args.finders is not None:
        finders = finders_by_name(args.finders.split(","), cache_dir=args.cache_dir)
    repo = _open_repo(args)
    try:
        if args.disable_fsync:
            repo.fsync = False
        results = find_remotes(repo, refs, finders, cache_dir=args.cache_dir)
        out = sys.stdout
        found: Set["CollectionRef"] = set()
        for i, r in enumerate(results):
            lines = "".join(f"    - {ref} = {r.ref_to_checksum.get(ref) or '(not found)'}\n" for ref in refs)
            found.update(ref for ref, c in r.ref_to_checksum.items() if c is not None)
            modified = _iso8601(r.summary_last_modified) if r.summary_last_modified > 0 else "unknown"
            out.write(f"Result {i}: {r.remote.url}\n - Finder: {r.finder}\n - Keyring: {r.keyring}\n"
                      f" - Priority: {r.priority}\n - Summary last modified: {modified}\n - Refs:\n{lines}\n")
        if not results:
            out.write("No results.\n")
            return 0
        out.write(f"{len(found)}/{len(refs)} refs were found.\n")
        if len(found) != len(refs):
            out.write("Refs not found in any remote:\n")
            out.write("".join(f" - {ref}\n" for ref in refs if ref not in found))
        if not args.pull:
            return 0
        out.flush()
        pull_from_remotes(repo, results, mirror=args.mirror, cache_dir=args.cache_dir)
        out.write(f"Pulled {len(refs)}/{len(refs)} refs successfully.\n")
    finally:
        repo.close()
    return 0


def cmd_create_usb(args: argparse.Namespace) -> int:
    from ..remote.usb import create_usb
    if args.mount_path is None:
        raise UsageError("A MOUNT-PATH must be specified")
    refs = _pairs(list(args.pairs))
    if args.commit and len(refs) > 1:
        raise UsageError("The --commit option can only be used when a single COLLECTION-ID REF pair is specified")
    repo = _open_repo(args)
    try:
        result = create_usb(repo, args.mount_path, refs, dest_repo=args.destination_repo,
                            commit=args.commit, fsync=not args.disable_fsync)
        src_path = os.path.abspath(repo.path)
    finally:
        repo.close()
    n = len(result.refs)
    sys.stdout.write(f"Copied {n}/{n} refs successfully from ‘{src_path}’ to ‘{result.dest_repo}’ repository"
                     f" in ‘{args.mount_path}’.\n")
    return 0
