"""Generating static deltas, with the decisions libostree's
``ostree-repo-static-delta-compilation.c`` (and ``-analysis.c``) makes:

* the new objects are those reachable from TO and not from FROM; the
  to-commit itself rides in the superblock, not in a part;
* a new regular file is "modified" when FROM has a regular file with a common
  basename (then, fuzzily, a common part before the first ``.``) whose size
  is within 30%; neither may be empty or named ``*.xz``/``*.bz2``, and the old
  one must be world-readable;
* a modified file whose rollsum chunks match at least half of the old one's
  is written as ``open``/``write``/``set-read-source`` runs; otherwise, with
  bsdiff enabled and both sizes together under ``max-bsdiff-size``, as a
  bsdiff patch; otherwise whole;
* regular files over ``min-fallback-size`` (not rollsum'd or bsdiff'd) are
  left as fallbacks to fetch on their own;
* order: metadata, rollsum'd, bsdiff'd, whole regular files, symlinks; a new
  part starts when the next object would pass ``max-chunk-size``;
* parts are xz (preset 8, CRC64) ``(yay)`` files; the superblock metadata
  holds ``ostree.endianness`` (``l``), inline parts under their relative
  paths, and the to-commit's detached metadata under ``.../commitmeta``.

Sizes are decimal megabytes as in libostree (``--min-fallback-size=4`` is
4,000,000 bytes).  The bsdiff patches come from :mod:`.bsdiff`'s anchor
matcher (libostree's qsufsort matcher gives other, equally valid patches),
which is fast enough to take everything up to ``max-bsdiff-size``, as
libostree does.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import stat
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import attrs

from ...fsutil import write_file_atomic
from ...progress import Message, ProgressCallback
from ...store.gvariant import Variant
from ...store.objects import FileHeader, ObjectType
from ...store.repo import Repo
from ...store.sizes import write_varuint64
from . import format as fmt
from .bsdiff import bsdiff
from .format import Fallback, PartHeader
from .rollsum import compute_matches

SIMILARITY_PERCENT = 30
MB = 1000 * 1000


@attrs.frozen
class GenerateOptions:
    """The options of ``static-delta generate``; sizes in decimal MB as libostree's."""
    min_fallback_size: int = 4
    max_bsdiff_size: int = 128
    max_chunk_size: int = 32
    bsdiff: bool = True
    inline: bool = False
    filename: Optional[str] = None
    #: (sign type, secret keys): each key adds one signature
    sign: Optional[Tuple[str, Sequence[str]]] = None
    metadata: Mapping[str, Variant] = attrs.field(factory=dict)
    #: write the sizes big-endian (ostree's ``--set-endianness=B``/``--swap-endianness``)
    big_endian: bool = False
    timestamp: Optional[int] = None


@attrs.frozen
class GenerateResult:
    """What was generated, with the counters libostree prints."""
    from_checksum: Optional[str]
    to_checksum: str
    superblock_path: str
    n_parts: int
    n_fallback: int
    n_rollsum: int
    n_bsdiff: int
    n_modified: int
    rollsum_size: int
    compressed_size: int
    uncompressed_size: int
    loose_compressed_size: int
    new_metadata: int
    new_regular: int
    new_symlinks: int
    #: the lines libostree prints to stderr while generating (it always runs verbose from the CLI)
    log: Tuple[str, ...] = ()


class _Part:
    def __init__(self) -> None:
        self.objects: List[Tuple[ObjectType, str]] = []
        self.payload = bytearray()
        self.ops = bytearray()
        self.modes: Dict[Tuple[int, int, int], int] = {}
        self.xattrs: Dict[Tuple[Tuple[bytes, bytes], ...], int] = {}
        self.tables_size = 0
        self.uncompressed_size = 0
        self.file: Optional[bytes] = None
        self.header: Optional[PartHeader] = None

    def size_estimate(self) -> int:
        return len(self.payload) + len(self.ops) + self.tables_size

    def op(self, code: int, *args: int) -> None:
        self.ops.append(code)
        for a in args:
            self.ops += write_varuint64(a)

    def mode_xattr(self, header: FileHeader) -> Tuple[int, int]:
        key = (header.uid, header.gid, header.mode)
        m = self.modes.get(key)
        if m is None:
            m = self.modes[key] = len(self.modes)
            self.tables_size += 12
        x = self.xattrs.get(header.xattrs)
        if x is None:
            x = self.xattrs[header.xattrs] = len(self.xattrs)
            self.tables_size += sum(len(n) + len(v) + 2 for n, v in header.xattrs)
        return m, x


def _content(repo: Repo, checksum: str) -> Tuple[FileHeader, bytes]:
    header, stream = repo.load_file(checksum)
    if stream is None:
        return header, header.symlink_target.encode("utf-8", "surrogateescape")
    with stream:
        return header, stream.read()


def _walk_names(repo: Repo, root_tree: str, out: Dict[str, List[str]],
                only: Optional[Set[str]] = None) -> None:
    stack = [root_tree]
    seen = set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        tree = repo.load_dirtree(t)
        for name, csum in tree.files:
            if only is not None and csum not in only:
                continue
            out.setdefault(csum, []).append(name)
        for _name, sub, _meta in tree.dirs:
            stack.append(sub)


class _Files:
    """Each content object's header and size, read once per delta: the similarity pass,
    the choice between rollsum, bsdiff and whole, and the fallback test all ask."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._info: Dict[str, Tuple[FileHeader, int]] = {}

    def info(self, checksum: str) -> Tuple[FileHeader, int]:
        got = self._info.get(checksum)
        if got is None:
            got = self._info[checksum] = self.repo.load_file_header_size(checksum)
        return got


def _sizenames(files: _Files, names: Dict[str, List[str]]) -> List[Tuple[int, str, List[str]]]:
    out = []
    for csum, basenames in names.items():
        header, size = files.info(csum)
        if not header.is_regular:
            continue
        out.append((size, csum, basenames))
    out.sort(key=lambda e: e[0])
    return out


def _name_filter(to_names: Dict[str, List[str]]) -> Callable[[List[str]], bool]:
    """Whether a from-file shares a basename with a new file, or (the fuzzy pass) the part
    before the first dot: no other from-file can be chosen, whatever its size."""
    exact: Set[str] = set()
    keys: Set[str] = set()
    for names in to_names.values():
        for y in names:
            exact.add(y)
            dot = y.find(".")
            if dot > 0:
                keys.add(y[:dot])

    def could_match(names: List[str]) -> bool:
        for x in names:
            if x in exact:
                return True
            dot = x.find(".")
            if dot > 0 and x[:dot] in keys:
                return True
        return False

    return could_match


def _intersect(a: List[str], b: List[str], fuzzy: bool) -> bool:
    for x in a:
        xd = x.find(".")
        for y in b:
            yd = y.find(".")
            if fuzzy and xd >= 0 and yd > 0 and xd == yd:
                if x[:xd] == y[:yd]:
                    return True
            elif x == y:
                return True
    return False


def _candidate(size: int, basenames: List[str]) -> bool:
    if size == 0:
        return False
    for name in basenames:
        dot = name.rfind(".")
        if dot >= 0 and name[dot + 1:] in ("xz", "bz2"):
            return False
    return True


def similar_objects(repo: Repo, from_tree: str, to_tree: str, new_regular: Set[str],
                    files: Optional[_Files] = None) -> Dict[str, str]:
    """to-checksum -> from-checksum of modified files (``_ostree_delta_compute_similar_objects``).

    libostree reads the size of every file of FROM; a file whose names no new file shares
    is never chosen (the choice for each new file is the first from-file, by size, in the
    size window with a name in common: the ``lower`` bound only saves rescanning), so only
    the sizes of those that share one are read."""
    files = files if files is not None else _Files(repo)
    to_names: Dict[str, List[str]] = {}
    _walk_names(repo, to_tree, to_names, new_regular)
    from_names: Dict[str, List[str]] = {}
    _walk_names(repo, from_tree, from_names)
    could_match = _name_filter(to_names)
    from_sizes = _sizenames(files, {c: n for c, n in from_names.items() if could_match(n)})
    to_sizes = _sizenames(files, to_names)
    out: Dict[str, str] = {}
    lower = 0
    upper = len(from_sizes)
    for size, csum, names in to_sizes:
        min_t = int(size * (1.0 - SIMILARITY_PERCENT / 100.0))
        max_t = int(size * (1.0 + SIMILARITY_PERCENT / 100.0))
        if not _candidate(size, names):
            continue
        found = False
        for fuzzy in (False, True):
            if found:
                break
            j = lower
            while j < upper:
                fsize, fcsum, fnames = from_sizes[j]
                j += 1
                if not _candidate(fsize, fnames):
                    continue
                if fsize < min_t:
                    lower += 1
                    continue
                if fsize > max_t:
                    break
                if not _intersect(fnames, names, fuzzy):
                    continue
                out[csum] = fcsum
                found = True
                break
    return out


def _storage_size(repo: Repo, checksum: str, objtype: ObjectType) -> int:
    try:
        return os.lstat(repo.object_path(checksum, objtype)).st_size
    except FileNotFoundError:
        return 0


def generate(repo: Repo, from_checksum: Optional[str], to_checksum: str,
             options: GenerateOptions = GenerateOptions(),
             progress: Optional[ProgressCallback] = None) -> GenerateResult:
    """Write the delta FROM -> TO (None: from scratch) into the repository
    (or beside ``options.filename``)."""
    # both trees are walked twice (reachability, then names for the similarity pass)
    with repo.dirtree_cache():
        return _generate(repo, from_checksum, to_checksum, options, progress)


def _generate(repo: Repo, from_checksum: Optional[str], to_checksum: str, options: GenerateOptions,
              progress: Optional[ProgressCallback]) -> GenerateResult:
    lines: List[str] = []
    files = _Files(repo)

    def say(line: str) -> None:
        lines.append(line)
        if progress is not None:
            progress(Message(line))

    to_commit = repo.load_commit(to_checksum)
    to_bytes = repo.load_metadata(ObjectType.COMMIT, to_checksum)
    to_reach = repo.traverse_commit(to_checksum)
    from_reach: Dict[Tuple[str, ObjectType], None] = {}
    from_commit = None
    if from_checksum is not None:
        from_commit = repo.load_commit(from_checksum)
        from_reach = repo.traverse_commit(from_checksum)

    new_meta: List[Tuple[ObjectType, str]] = []
    new_regular: List[str] = []
    new_symlinks: List[str] = []
    for (csum, objtype) in to_reach:
        if (csum, objtype) in from_reach:
            continue
        if objtype.is_meta:
            if objtype in (ObjectType.COMMIT_META, ObjectType.TOMBSTONE_COMMIT):
                continue
            if objtype == ObjectType.COMMIT and csum == to_checksum:
                continue  # the to-commit rides in the superblock
            new_meta.append((objtype, csum))
        else:
            if files.info(csum)[0].is_regular:
                new_regular.append(csum)
            else:
                new_symlinks.append(csum)

    modified: Dict[str, str] = {}
    if from_commit is not None:
        modified = similar_objects(repo, from_commit.root_tree, to_commit.root_tree, set(new_regular), files)
    say(f"modified: {len(modified)}")
    say(f"new reachable: metadata={len(new_meta) + 1} content regular={len(new_regular)} "
        f"symlink={len(new_symlinks)}")

    rollsums: Dict[str, Tuple[str, Tuple[Tuple[int, int, int], ...]]] = {}
    bsdiffs: Dict[str, str] = {}
    rollsum_size = 0
    for to_c, from_c in modified.items():
        if not files.info(from_c)[0].mode & stat.S_IROTH:
            continue
        _, old = _content(repo, from_c)
        _, new = _content(repo, to_c)
        rs = compute_matches(old, new)
        if rs.total and (rs.bufmatches * 100) // rs.total >= 50:
            say(f"rollsum for {from_c} -> {to_c}; crcs={rs.crcmatches} bufs={rs.bufmatches} "
                f"total={rs.total} matchsize={rs.match_size}")
            rollsums[to_c] = (from_c, rs.matches)
            rollsum_size += rs.match_size
            continue
        if options.bsdiff and len(old) + len(new) <= options.max_bsdiff_size * MB:
            bsdiffs[to_c] = from_c
    say(f"rollsum for {len(rollsums)}/{len(modified)} modified")

    parts: List[_Part] = [_Part()]
    max_chunk = options.max_chunk_size * MB
    loose_compressed = 0

    def current(extra: int) -> _Part:
        p = parts[-1]
        if p.objects and p.size_estimate() + extra > max_chunk:
            p = _Part()
            parts.append(p)
        return p

    for objtype, csum in new_meta:
        data = repo.load_metadata(objtype, csum)
        p = current(len(data))
        loose_compressed += _storage_size(repo, csum, objtype)
        p.uncompressed_size += len(data)
        p.objects.append((objtype, csum))
        start = len(p.payload)
        p.payload += data
        p.op(fmt.OP_OPEN_SPLICE_AND_CLOSE, len(data), start)

    for to_c, (from_c, matches) in rollsums.items():
        p = current(0)
        header, new = _content(repo, to_c)
        p.uncompressed_size += len(new)
        p.objects.append((ObjectType.FILE, to_c))
        m, x = p.mode_xattr(header)
        src_off = len(p.payload)
        p.payload += bytes.fromhex(from_c)
        p.op(fmt.OP_OPEN, m, x, len(new))
        writing = 0
        reading_payload = True
        for length, to_start, from_start in matches:
            prefix = to_start - writing
            if prefix > 0:
                if not reading_payload:
                    p.op(fmt.OP_UNSET_READ_SOURCE)
                    reading_payload = True
                start = len(p.payload)
                p.payload += new[writing:writing + prefix]
                p.op(fmt.OP_WRITE, prefix, start)
                writing += prefix
            if reading_payload:
                p.op(fmt.OP_SET_READ_SOURCE, src_off)
                reading_payload = False
            p.op(fmt.OP_WRITE, length, from_start)
            writing += length
        if not reading_payload:
            p.op(fmt.OP_UNSET_READ_SOURCE)
        rest = len(new) - writing
        if rest > 0:
            start = len(p.payload)
            p.payload += new[writing:]
            p.op(fmt.OP_WRITE, rest, start)
        p.op(fmt.OP_CLOSE)

    for i, (to_c, from_c) in enumerate(bsdiffs.items()):
        mod = len(bsdiffs) // 10
        if mod == 0 or i % mod == 0:
            say(f"processing bsdiff: [{i}/{len(bsdiffs)}]")
        p = current(0)
        _, old = _content(repo, from_c)
        header, new = _content(repo, to_c)
        p.uncompressed_size += len(new)
        p.objects.append((ObjectType.FILE, to_c))
        m, x = p.mode_xattr(header)
        p.op(fmt.OP_SET_READ_SOURCE, len(p.payload))
        p.payload += bytes.fromhex(from_c)
        p.op(fmt.OP_OPEN, m, x, len(new))
        start = len(p.payload)
        bsdiff(old, new, p.payload.extend)
        p.op(fmt.OP_BSPATCH, start, len(p.payload) - start)
        p.op(fmt.OP_CLOSE)
        p.op(fmt.OP_UNSET_READ_SOURCE)

    fallbacks: List[Fallback] = []
    whole: List[str] = []
    for csum in new_regular:
        if csum in rollsums or csum in bsdiffs:
            continue
        header, size = files.info(csum)
        stream_size = len(header.checksum_prefix()) + size
        if options.min_fallback_size > 0 and stream_size > options.min_fallback_size * MB:
            say(f"fallback for {csum} ({_gsize(stream_size)})")
            fallbacks.append(Fallback(ObjectType.FILE, csum, _storage_size(repo, csum, ObjectType.FILE), size))
            continue
        whole.append(csum)

    for csum in whole + new_symlinks:
        header, data = _content(repo, csum)
        p = current(len(data))
        loose_compressed += _storage_size(repo, csum, ObjectType.FILE)
        p.uncompressed_size += len(data) if header.is_regular else 0
        p.objects.append((ObjectType.FILE, csum))
        m, x = p.mode_xattr(header)
        start = len(p.payload)
        p.payload += data
        p.op(fmt.OP_OPEN_SPLICE_AND_CLOSE, m, x, len(data), start)

    for i, p in enumerate(parts):
        _finish(p)
        assert p.header is not None and p.file is not None
        say(f"part {i + 1} n:{len(p.objects)} compressed:{len(p.file)} uncompressed:{p.uncompressed_size}")

    # ---- the superblock
    if options.filename:
        outdir = os.path.dirname(os.path.abspath(options.filename))
        sbname = os.path.basename(options.filename)
    else:
        outdir = os.path.join(repo.path, fmt.delta_dir(from_checksum, to_checksum))
        sbname = "superblock"
        os.makedirs(outdir, mode=0o775, exist_ok=True)
    metadata: Dict[str, Variant] = dict(options.metadata)
    metadata["ostree.endianness"] = Variant("y", ord("B" if options.big_endian else "l"))
    for i, p in enumerate(parts):
        assert p.file is not None
        if options.inline:
            metadata[fmt.part_path(from_checksum, to_checksum, i)] = Variant("(yay)", (p.file[0], p.file[1:]))
        else:
            write_file_atomic(os.path.join(outdir, str(i)), p.file, fsync=False)
    detached = repo.read_commit_detached_metadata(to_checksum)
    if detached:
        metadata[fmt.delta_path(from_checksum, to_checksum, "commitmeta")] = Variant("a{sv}", dict(detached))
    ts = options.timestamp if options.timestamp is not None else int(time.time())
    sb = fmt.serialize_superblock(metadata, ts, from_checksum, to_checksum, to_bytes,
                                  [p.header for p in parts if p.header is not None], fallbacks,
                                  big_endian=options.big_endian)
    compressed = sum(len(p.file or b"") for p in parts)
    uncompressed = sum(p.uncompressed_size for p in parts)
    say(f"uncompressed={uncompressed} compressed={compressed} loose={loose_compressed}")
    say(f"rollsum={len(rollsums)} objects, {rollsum_size} bytes")
    say(f"bsdiff={len(bsdiffs)} objects")
    if options.sign is not None:
        sb = sign_superblock(sb, options.sign[0], options.sign[1])
    sbpath = os.path.join(outdir, sbname)
    write_file_atomic(sbpath, sb, fsync=False)
    return GenerateResult(from_checksum, to_checksum, sbpath, len(parts), len(fallbacks), len(rollsums),
                          len(bsdiffs), len(modified), rollsum_size, compressed, uncompressed, loose_compressed,
                          len(new_meta) + 1, len(new_regular), len(new_symlinks), tuple(lines))


def sign_superblock(superblock: bytes, sign_type: str, secret_keys: Sequence[str]) -> bytes:
    """Wrap a plain superblock in the signed ``(taya{sv})`` form, one signature per key."""
    from ...store.signing import Signer
    sigs = [Signer(sign_type, secret=k).sign(superblock) for k in secret_keys]
    key = f"ostree.sign.{sign_type}"
    return fmt.serialize_signed(superblock, {key: Variant("aay", sigs)})


def _finish(p: _Part) -> None:
    modes = sorted(p.modes, key=p.modes.__getitem__)
    xattrs = sorted(p.xattrs, key=p.xattrs.__getitem__)
    payload = fmt.serialize_part_payload(modes, xattrs, bytes(p.payload), bytes(p.ops))
    comp = lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=8)
    p.file = bytes((fmt.COMPRESSION_XZ,)) + comp
    p.header = PartHeader(fmt.DELTAPART_VERSION, hashlib.sha256(p.file).hexdigest(), len(p.file),
                          p.uncompressed_size, fmt.pack_objects(p.objects))
    p.payload = bytearray()


def _gsize(n: int) -> str:
    from .store import format_size
    return format_size(n)


