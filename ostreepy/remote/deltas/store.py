"""The static deltas of a repository on disk: ``deltas/`` (listing, showing,
deleting) and ``delta-indexes/`` (listing, reindexing), and what the summary
writer lists (:func:`list_deltas`, :func:`delta_index_entries`).

Layouts read: the current one (``deltas/<b64 from[:2]>/<rest>-<b64 to>/`` or
``deltas/<b64 to[:2]>/<rest>/``, ostree since 2015) and the first one
(``deltas/<hex from>-<hex to>/``, ostree 2013-2015), which is shown and
applied by name but, as in libostree, never listed nor written.

This is the one implementation of the layout: ``summary -u``
(:mod:`ostreepy.remote.publish`) lists and reindexes through it. Dictionaries
come out in ``GVariantDict`` order (:mod:`ostreepy.store.glibhash`) so that
summaries and index files equal libostree's byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from ...store import gvariant
from ...store.glibhash import ordered
from ...store.gvariant import Variant
from ...store.keyfile import KeyFile
from ...fsutil import write_file_atomic
from ...store.repo import Repo
from ...store.prune import format_size
from . import format as fmt
from .apply import open_part, read_superblock_file
from .format import DeltaError, Superblock


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _two_levels(base: str) -> Iterator[Tuple[str, str, str]]:
    """(outer name, inner name, inner path) of both trees' two directory levels,
    in directory order, outer entries real directories; nothing without ``base``."""
    try:
        outer = os.listdir(base)
    except FileNotFoundError:
        return
    for d1 in outer:
        p1 = os.path.join(base, d1)
        if _is_dir(p1):
            for d2 in os.listdir(p1):
                yield d1, d2, os.path.join(p1, d2)


def list_deltas(repo: Repo) -> List[str]:
    """Delta names (``FROM-TO`` or ``TO``) with a superblock, as
    ``ostree_repo_list_static_delta_names`` (directory order, current layout
    only: libostree lists no first-layout delta, so neither do summaries,
    indexes or ``static-delta list``)."""
    out: List[str] = []
    for d1, d2, path in _two_levels(os.path.join(repo.path, "deltas")):
        if _is_dir(path) and os.path.exists(os.path.join(path, "superblock")):
            name = fmt.name_from_dir_entries(d1, d2)
            if name is not None:
                out.append(name)
    return out


def delta_dir_for(repo: Repo, name: str) -> str:
    """The directory holding delta ``name`` (current layout, or the first one if only that exists)."""
    frm, to = fmt.parse_delta_name(name)
    current = os.path.join(repo.path, fmt.delta_dir(frm, to))
    if os.path.exists(current):
        return current
    old = os.path.join(repo.path, "deltas", name)
    if os.path.exists(os.path.join(old, "superblock")):
        return old
    return current


def load_superblock(repo: Repo, name_or_path: str) -> Tuple[Superblock, str]:
    """(superblock, its directory) for a delta name, or a path containing ``/``."""
    if "/" in name_or_path:
        path = name_or_path
    else:
        path = os.path.join(delta_dir_for(repo, name_or_path), "superblock")
    try:
        data = read_superblock_file(path)
    except FileNotFoundError:
        raise DeltaError(f"opening {path}: No such file or directory") from None
    return fmt.parse_superblock(data), os.path.dirname(path)


def superblock_digest(repo: Repo, from_checksum: Optional[str], to_checksum: str) -> bytes:
    """The sha256 of a delta's superblock file (what summaries and indexes list)."""
    path = os.path.join(delta_dir_for(repo, fmt.delta_name(from_checksum, to_checksum)), "superblock")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def delta_index_entries(repo: Repo) -> Dict[str, Variant]:
    """A summary's ``ostree.static-deltas``: delta name -> ``ay`` sha256 of its
    superblock, inserted in listing order into a ``GVariantDict`` as
    ``regenerate_metadata`` does, so in that table's order (empty when there
    are no deltas)."""
    return ordered((name, Variant("ay", superblock_digest(repo, *fmt.parse_delta_name(name))))
                   for name in list_deltas(repo))


def list_indexes(repo: Repo) -> List[str]:
    """To-checksums with an index under ``delta-indexes/``."""
    out: List[str] = []
    for d1, f, path in _two_levels(os.path.join(repo.path, "delta-indexes")):
        # the base64 name is 43 characters, 2 of them the directory's
        if len(d1) != 2 or len(f) != 41 + len(".index") or not f.endswith(".index") or not os.path.isfile(path):
            continue
        try:
            out.append(fmt.checksum_from_mbase64(d1 + f[:41]))
        except DeltaError:
            continue
    return out


def serialize_index(entries: Mapping[str, Variant]) -> bytes:
    """A ``delta-indexes/`` file: ``{ostree.static-deltas: {name: digest}}``, both
    dictionaries in ``GVariantDict`` order as libostree writes them."""
    return gvariant.serialize("a{sv}", ordered([(fmt.SUMMARY_STATIC_DELTAS,
                                                 Variant("a{sv}", ordered(entries.items())))]))


def _set_indexed_deltas(repo: Repo) -> None:
    # on a copy: a config that cannot be written leaves the repository's in-memory one as it was
    new = KeyFile.parse(repo.config.to_text())
    new.set_bool("core", "indexed-deltas", True)
    old, repo.config = repo.config, new
    try:
        repo.write_config()
    except BaseException:
        repo.config = old
        raise


def reindex(repo: Repo, to_checksum: Optional[str] = None) -> None:
    """``ostree_repo_static_delta_reindex`` (``static-delta reindex``, and each
    ``summary -u``): rewrite ``delta-indexes/`` from ``deltas/``, stale indexes
    removed, and set ``core.indexed-deltas=true`` so clients look there."""
    with repo.locked():
        if not repo.config.get_bool("core", "indexed-deltas", False):
            _set_indexed_deltas(repo)
        by_to: Dict[str, Optional[List[Optional[str]]]] = {}
        if to_checksum is None:
            for old in list_indexes(repo):
                by_to[old] = None
        else:
            by_to[to_checksum] = None
        for name in list_deltas(repo):
            frm, to = fmt.parse_delta_name(name)
            if to_checksum is not None and to != to_checksum:
                continue
            froms = by_to.get(to)
            if froms is None:
                froms = by_to[to] = []
            froms.append(frm)
        for to, froms in by_to.items():
            path = os.path.join(repo.path, fmt.index_path(to))
            if froms is None:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                continue
            # g_strcmp0 order (the scratch delta first) keeps the file reproducible
            froms.sort(key=lambda f: (f is not None, f or ""))
            data = serialize_index({fmt.delta_name(frm, to): Variant("ay", superblock_digest(repo, frm, to))
                                    for frm in froms})
            try:
                with open(path, "rb") as existing:
                    if existing.read() == data:
                        continue
            except FileNotFoundError:
                pass
            os.makedirs(os.path.dirname(path), mode=0o775, exist_ok=True)
            write_file_atomic(path, data, 0o644, fsync=repo.fsync)


def delete_delta(repo: Repo, name: str) -> None:
    """``ostree static-delta delete``: remove the delta's directory."""
    path = delta_dir_for(repo, name)
    if not os.path.lexists(path):
        raise DeltaError(f"Can't find delta {name}")
    shutil.rmtree(path)


def prune_static_deltas(repo: Repo, commit: Optional[str]) -> None:
    """ostree_repo_prune_static_deltas: the deltas to ``commit`` (matched as given), or (None)
    those to a commit the repository does not have, deleted under the exclusive lock."""
    from ...store.lock import EXCLUSIVE
    from ...store.objtype import ObjectType
    with repo.locked(EXCLUSIVE):
        for name in list_deltas(repo):
            to = fmt.parse_delta_name(name)[1]
            if to != commit if commit is not None else repo.has_object(to, ObjectType.COMMIT):
                continue
            delete_delta(repo, name)


def query_exists(repo: Repo, name: str) -> bool:
    """True when the delta named ``name`` has a superblock."""
    return os.path.exists(os.path.join(delta_dir_for(repo, name), "superblock"))


# ------------------------------------------------------------------ show

def show_lines(repo: Repo, name_or_path: str) -> List[str]:
    """What ``ostree static-delta show`` prints, line by line."""
    sb, dirpath = load_superblock(repo, name_or_path)
    lines = [f"Delta: {name_or_path}", f"Signed: {'yes' if sb.signed else 'no'}"]
    lines.append(f"From: {sb.from_checksum}" if sb.from_checksum else "From <scratch>")
    lines.append(f"To: {sb.to_checksum}")
    desc = {"little": "little", "big": "big", "invalid": "invalid"}[sb.endianness]
    if sb.endianness != "invalid" and sb.endianness_heuristic:
        desc += " (heuristic)"
    lines.append(f"Endianness: {desc}")
    lines.append(f"Timestamp: {sb.timestamp}")
    lines.append(f"Number of parents: {len(sb.dependencies) // 64}")
    lines.append(f"Number of fallback entries: {len(sb.fallbacks)}")
    fsize = sum(fb.size for fb in sb.fallbacks)
    fusize = sum(fb.usize for fb in sb.fallbacks)
    for fb in sb.fallbacks:
        lines.append(f"  {fb.checksum}")
    lines.append(f"Total Fallback Size: {fsize} ({format_size(fsize)})")
    lines.append(f"Total Fallback Uncompressed Size: {fusize} ({format_size(fusize)})")
    lines.append(f"Number of parts: {len(sb.parts)}")
    total = utotal = 0
    for i, p in enumerate(sb.parts):
        total += p.size
        utotal += p.usize
        lines.append(f"PartMeta{i}: nobjects={p.n_objects} size={p.size} usize={p.usize}")
        # show reads parts from the repository's delta directory, never inline
        part_file = os.path.join(dirpath, str(i))
        try:
            f = open(part_file, "rb")
        except FileNotFoundError:
            raise DeltaError(f"openat({fmt.part_path(sb.from_checksum, sb.to_checksum, i)}): "
                             "No such file or directory") from None
        with f:
            payload = open_part(f, None, fmt.payload_limit(p))  # (a hostile part: bounded here too)
        counts = fmt.count_ops(fmt.decode_ops(payload.ops, p.objects)) if p.n_objects else (0,) * 7
        lines.append(f"PartPayload{i}: nmodes={len(payload.modes)} nxattrs={len(payload.xattrs)} "
                     f"blobsize={len(payload.payload)} opsize={len(payload.ops)}")
        lines.append(f"PartPayloadOps{i}: openspliceclose={counts[0]} open={counts[1]} write={counts[2]} "
                     f"setread={counts[3]} unsetread={counts[4]} close={counts[5]} bspatch={counts[6]}")
    lines.append(f"Total Part Size: {total} ({format_size(total)})")
    lines.append(f"Total Part Uncompressed Size: {utotal} ({format_size(utotal)})")
    lines.append(f"Total Size: {total + fsize} ({format_size(total + fsize)})")
    lines.append(f"Total Uncompressed Size: {utotal + fusize} ({format_size(utotal + fusize)})")
    return lines
