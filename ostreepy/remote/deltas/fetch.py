"""Static deltas in a pull: choosing one, fetching its superblock and parts,
and running them into the repository, as libostree's ``ostree-repo-pull.c``
(``initiate_request``, ``get_best_static_delta_start_for``,
``on_superblock_fetched``, ``process_one_static_delta``).

Design:

* The choice is pure: :func:`summary_deltas` reads the offered deltas (name ->
  superblock sha256) from a summary's or a ``delta-indexes/`` file's
  metadata, :func:`best_delta_start` picks, as ostree does, the newest
  complete commit of ours a delta starts from, else a from-scratch delta.
  :class:`DeltaPuller` does the I/O over a
  :class:`~ostreepy.remote.fetcher.Fetcher`; it knows nothing of the object
  walk, which the pull engine runs afterwards.
* A superblock is checked against the digest its summary or index lists
  before it is parsed, and a signed one against the remote's keys (the
  caller's ``verify_superblock``); its to-commit is checked by the caller's
  ``verify_commit`` (signatures, bindings, timestamps) before it is written,
  marked partial first, so a pull that dies later leaves a partial commit that
  the next pull completes, and no ref moves.
* Parts already fully present are skipped. Others are fetched to an unnamed
  temporary file (the fetcher streams; memory stays flat in the part size)
  and run by :func:`~ostreepy.remote.deltas.apply.execute_part`, which hashes
  the part against the superblock before running any opcode and each object
  before it lands. A part whose hash does not match is fetched once more (the
  fetcher's own retries are for the transport), then the pull fails; nothing
  of a refused part has been written.  A part is inflated no further than its header
  allows (:func:`~ostreepy.remote.deltas.format.payload_limit`), and, as libostree, the
  uncompressed sizes the superblocks declare must fit in the repository's free space.
* Fallback objects are not fetched here but listed (:attr:`DeltaPuller.fallbacks`,
  those missing when the superblock was read) for the pull engine, which fetches
  them as loose content objects, verified as its walk's are, in the same
  transaction. As libostree (``static_delta_targets``), the engine then does not
  walk a delta's to-commit (:attr:`DeltaPuller.targets`): the parts and the
  fallbacks are the whole of its tree, and a walk of 20,000 files to find nothing
  missing was most of what a delta pull cost over the peer.
"""

from __future__ import annotations

import enum
import os
import hashlib
import threading

from ..._deferred import Deferred
from ...errors import OstreeError
from ...fsutil import unnamed_file
from ...parallel import run_all
from ...store import gvariant
from ...store.objects import MAX_METADATA_SIZE, ObjectType, bswap64
from ...store.repo import Repo
from ..fetcher import Fetcher, NotFound
from . import format as fmt
from .format import DeltaError
from .naming import INDEXED_DELTAS
from .partread import RawPart, read_part

# DeltaTotals is built (attrs) when a caller asks for one (ostreepy._deferred)
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time (a pull's start-up)
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Dict, List, Mapping, Optional, Tuple, Union

    from attrs import frozen as _result

    from ...progress import ProgressCallback
    from ...store.gvariant import LightVariant, Variant
    from .format import PartInfo, SuperblockInfo

    #: metadata values as a summary is read (a pull's, LightVariant) or parsed (Variant)
    AnyVariant = Union[Variant, LightVariant]
else:
    _result = _DEFERRED.register

__all__ = ["DeltaSearch", "DeltaTotals", "DeltaCounts", "DeltaPuller", "StaticDeltasRequiredError", "summary_deltas",
           "best_delta_start", "INDEXED_DELTAS"]

#: parts in flight at once (_OSTREE_MAX_OUTSTANDING_DELTAPART_REQUESTS)
MAX_PART_FETCHES = 2
#: a fetched part may be this much bigger than its header says before it is cut off
_PART_SLACK = 1 << 16


class StaticDeltasRequiredError(OstreeError):
    """``--require-static-deltas`` and no delta fits."""


class DeltaSearch(enum.Enum):
    """get_best_static_delta_start_for's answers."""

    UNCHANGED = "unchanged"  # the commit is here, complete
    NO_MATCH = "no-match"
    FROM = "from"  # a delta from a commit we have
    SCRATCH = "scratch"  # only a from-scratch delta


@_result
class DeltaTotals:
    """What the deltas of a pull came to, in ostree's progress keys
    (fetched-delta-parts, total-delta-parts, fetched-delta-part-size, ...):
    parts and fallbacks already present count as fetched."""

    parts: int = 0
    fetched_parts: int = 0
    fallbacks: int = 0
    fetched_fallbacks: int = 0
    size: int = 0
    fetched_size: int = 0
    usize: int = 0
    superblocks: int = 0
    #: delta-indexes/ requests, found or not: ostree counts each as metadata fetched
    #: (on_delta_index_fetched clears a 404 before it counts)
    indexes: int = 0
    objects_written: int = 0

    def dry_run_line(self) -> str:
        """The line ``ostree pull --dry-run`` prints (parts and fallbacks folded together)."""
        return _dry_run_line(self)


def _dry_run_line(t: Union[DeltaTotals, DeltaCounts]) -> str:
    from ...store.prune import format_size
    return (f"Delta update: {t.fetched_parts + t.fetched_fallbacks}/{t.parts + t.fallbacks} parts,"
            f" {format_size(t.fetched_size)}/{format_size(t.size)},"
            f" {format_size(t.usize)} total uncompressed")


#: DeltaTotals' fields, in order (what DeltaPuller counts)
_TOTALS = ("parts", "fetched_parts", "fallbacks", "fetched_fallbacks", "size", "fetched_size", "usize",
           "superblocks", "indexes", "objects_written")


class DeltaCounts:
    """:class:`DeltaTotals`' fields in a plain class: what a pull's outcome holds and the
    command line prints from (a pull builds no attrs value); :meth:`value` is the DeltaTotals."""

    __slots__ = _TOTALS
    parts: int
    fetched_parts: int
    fallbacks: int
    fetched_fallbacks: int
    size: int
    fetched_size: int
    usize: int
    superblocks: int
    indexes: int
    objects_written: int

    def __init__(self, counts: Mapping[str, int]) -> None:
        for k in _TOTALS:
            setattr(self, k, counts[k])

    def dry_run_line(self) -> str:
        """:meth:`DeltaTotals.dry_run_line`."""
        return _dry_run_line(self)

    def value(self) -> DeltaTotals:
        return _DEFERRED.build("DeltaTotals")(**{k: getattr(self, k) for k in _TOTALS})  # type: ignore[no-any-return]


def summary_deltas(metadata: Mapping[str, AnyVariant]) -> Dict[str, bytes]:
    """``ostree.static-deltas`` of summary or delta-index metadata: delta name
    (``FROM-TO`` or ``TO``, hex) -> sha256 of its superblock file."""
    v = metadata.get(fmt.SUMMARY_STATIC_DELTAS)
    if v is None or v.type != "a{sv}":
        return {}
    out: Dict[str, bytes] = {}
    for name, csum in v.value.items():
        # (a v, read as a Variant or as a plain (type, value): gvariant's readers give either)
        if getattr(csum, "type", None) != "ay" or not hasattr(csum, "value"):
            raise DeltaError(f"Invalid checksum variant of type '{getattr(csum, 'type', '?')}', expected 'ay'")
        raw = bytes(csum.value)
        if len(raw) != 32:
            raise DeltaError(f"Invalid checksum of length {len(raw)} expected 32")
        out[name] = raw
    return out


def _commit_complete(repo: Repo, checksum: str) -> bool:
    return repo.has_object(checksum, ObjectType.COMMIT) and not repo.commit_is_partial(checksum)


def best_delta_start(repo: Repo, deltas: Mapping[str, bytes], to_checksum: str) -> Tuple[DeltaSearch, Optional[str]]:
    """get_best_static_delta_start_for: of the deltas to ``to_checksum``, the one
    from our newest complete commit; else a from-scratch one."""
    if _commit_complete(repo, to_checksum):
        return DeltaSearch.UNCHANGED, None
    result = DeltaSearch.NO_MATCH
    best: Optional[str] = None
    best_ts = 0
    for name in deltas:
        frm, to = fmt.parse_delta_name(name)
        if to != to_checksum:
            continue
        if frm is None:
            result = DeltaSearch.SCRATCH
            continue
        if not _commit_complete(repo, frm):
            continue
        ts = _commit_timestamp(repo, frm)
        if best is None or ts > best_ts:
            best, best_ts = frm, ts
    if best is not None:
        return DeltaSearch.FROM, best
    return result, None


def _commit_timestamp(repo: Repo, checksum: str) -> int:
    """``repo.load_commit(checksum).timestamp``, the commit checked as Commit.parse checks it
    (:func:`.format.check_commit`) but not built."""
    data = repo.load_metadata(ObjectType.COMMIT, checksum)
    fmt.check_commit(data)
    return bswap64(gvariant.deserialize("t", bytes(gvariant.tuple_members(fmt.COMMIT_TYPE, data)[5])))


def required_error(ref: str, to_checksum: str) -> StaticDeltasRequiredError:
    return StaticDeltasRequiredError(f"Static deltas required, but none found for {ref} to {to_checksum}")


if TYPE_CHECKING:
    #: (to-commit checksum, its bytes, its detached metadata) -> None, or raises
    CommitVerifier = Callable[[str, bytes, Optional[Mapping[str, Variant]]], None]
    #: (plain superblock bytes, its signatures) -> None, or raises
    SuperblockVerifier = Callable[[bytes, Mapping[str, Variant]], None]


class DeltaPuller:
    """The delta half of one pull: :meth:`pull_target` per requested commit,
    before the engine's object walk."""

    def __init__(self, repo: Repo, fetcher: Fetcher, *, require: bool, dry_run: bool,
                 summary_metadata: Optional[Mapping[str, AnyVariant]], verify_commit: CommitVerifier,
                 verify_superblock: Optional[SuperblockVerifier] = None,
                 progress: Optional[ProgressCallback] = None,
                 count_bytes: Optional[Callable[[int], None]] = None) -> None:
        self.repo = repo
        self.fetcher = fetcher
        self.require = require
        self.dry_run = dry_run
        self.verify_commit = verify_commit
        self.verify_superblock = verify_superblock
        self.progress = progress
        self.count_bytes = count_bytes
        self._t: Dict[str, int] = dict.fromkeys(_TOTALS, 0)
        #: to-commits a delta brought in (written, partial): their trees are not walked
        self.targets: list[str] = []
        #: content objects the deltas left as fallbacks and that were missing, to be fetched loose
        self.fallbacks: dict[str, None] = {}
        self._lock = threading.Lock()
        meta = summary_metadata or {}
        iv = meta.get(INDEXED_DELTAS)
        self.indexed = iv is not None and iv.type == "b" and bool(iv.value)
        self.deltas = summary_deltas(meta)
        if require and not self.indexed and not self.deltas:
            raise StaticDeltasRequiredError("Fetch configured to require static deltas, but no summary deltas or"
                                            " delta index found")

    @property
    def totals(self) -> DeltaTotals:
        return _DEFERRED.build("DeltaTotals")(**self.counts())  # type: ignore[no-any-return]

    @property
    def plain_totals(self) -> DeltaCounts:
        """:attr:`totals` in a plain class (no value built)."""
        return DeltaCounts(self.counts())

    def counts(self) -> Dict[str, int]:
        """:attr:`totals` as a dictionary of its fields (no value built)."""
        with self._lock:
            return dict(self._t)

    def _add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                self._t[k] += v

    def _count(self, n: int) -> None:
        if self.count_bytes is not None:
            self.count_bytes(n)

    # ------------------------------------------------------------ choosing

    def pull_target(self, ref: Optional[str], to_checksum: str, current: Optional[str]) -> bool:
        """initiate_request for one commit (``ref`` None for a bare checksum;
        ``current`` the commit our ref points at now). True when a delta
        brought the commit in (it is then written, still partial)."""
        deltas: Mapping[str, bytes]
        if self.indexed:
            deltas = self._index_deltas(to_checksum)
        elif self.deltas:
            deltas = self.deltas
        else:
            return self._without_listing(ref, to_checksum, current)
        search, frm = best_delta_start(self.repo, deltas, to_checksum)
        if search is DeltaSearch.NO_MATCH:
            if self.require:
                raise required_error(ref or "", to_checksum)
            return False
        if search is DeltaSearch.UNCHANGED:
            return False
        if search is DeltaSearch.SCRATCH and current is not None:
            # a few commits behind: loose objects are likely smaller than everything
            return False
        return self._superblock(frm, to_checksum, deltas.get(fmt.delta_name(frm, to_checksum)), ref)

    def _without_listing(self, ref: Optional[str], to_checksum: str, current: Optional[str]) -> bool:
        # no summary deltas and no index: try the ref's own commit as the start,
        # or a from-scratch delta, by asking for its superblock
        if _commit_complete(self.repo, to_checksum):
            return False
        frm = current if current is not None and _commit_complete(self.repo, current) else None
        return self._superblock(frm, to_checksum, None, ref)

    def _index_deltas(self, to_checksum: str) -> Dict[str, bytes]:
        try:
            data = self.fetcher.fetch_bytes(fmt.index_path(to_checksum), MAX_METADATA_SIZE)
        except NotFound:
            self._add(indexes=1)
            return {}
        self._add(indexes=1)
        self._count(len(data))
        try:
            index = gvariant.deserialize_light("a{sv}", data)
        except OstreeError as e:
            raise DeltaError(f"Invalid delta index for {to_checksum}: {e}") from None
        return summary_deltas(index)

    # ------------------------------------------------------------ one delta

    def _superblock(self, frm: Optional[str], to: str, digest: Optional[bytes], ref: Optional[str]) -> bool:
        name = fmt.delta_name(frm, to)
        try:
            # OSTREE_MAX_METADATA_SIZE, as start_fetch_delta_superblock (apply-offline reads up to
            # apply.MAX_SUPERBLOCK_SIZE of a local file)
            data = self.fetcher.fetch_bytes(fmt.delta_path(frm, to), MAX_METADATA_SIZE)
        except NotFound:
            if self.require:
                raise required_error(frm or "", to) from None
            return False
        self._count(len(data))
        if digest is not None and hashlib.sha256(data).digest() != digest:
            raise DeltaError(f"Invalid checksum for static delta {name}")
        sb = fmt.read_superblock(data)
        if sb.signatures is not None and self.verify_superblock is not None:
            self.verify_superblock(sb.raw, sb.signatures)
        if sb.to_checksum != to or sb.from_checksum != frm:
            raise DeltaError(f"Static delta {name}: its superblock is for {sb.name}")
        if hashlib.sha256(sb.commit).hexdigest() != to:
            raise DeltaError(f"Static delta {name}: the commit does not match {to}")
        self._add(superblocks=1)
        self._process(sb)
        return not self.dry_run

    def _process(self, sb: SuperblockInfo) -> None:
        from .apply import part_have_all_objects, write_commit
        repo = self.repo
        missing: list[str] = []
        for fb in sb.fallbacks:
            self._add(fallbacks=1, size=fb.size, usize=fb.usize)
            if repo.has_object(fb.checksum, fb.objtype):
                self._add(fetched_size=fb.size, fetched_fallbacks=1)
            elif fb.objtype.is_meta:
                raise DeltaError(f"Found metadata object as fallback: {fb.checksum}.{fb.objtype.name_str}")
            else:
                missing.append(fb.checksum)
        todo: List[Tuple[int, PartInfo]] = []
        for i, header in enumerate(sb.parts):
            if header.version > fmt.DELTAPART_VERSION:
                raise DeltaError(f"Delta part has too new version {header.version}")
            self._add(parts=1, size=header.size, usize=header.usize)
            if part_have_all_objects(repo, header):
                self._add(fetched_parts=1, fetched_size=header.size)
                if not self.dry_run and self.progress is not None:
                    from ...progress import built_event
                    self.progress(built_event("DeltaPartApplied")(i, len(sb.parts), 0, True))
                continue
            todo.append((i, header))
        self._check_free_space()
        if self.dry_run:
            return
        self.fallbacks.update(dict.fromkeys(missing))
        if not repo.has_object(sb.to_checksum, ObjectType.COMMIT):
            detached = sb.detached_metadata()
            self.verify_commit(sb.to_checksum, sb.commit, detached)
            repo.mark_commit_partial(sb.to_checksum, True)
            if detached is not None:
                repo.write_commit_detached_metadata(sb.to_checksum, detached)
            write_commit(repo, sb.commit, sb.to_checksum)
        # as on_superblock_fetched, before the parts run: a delta that fails fails the pull
        self.targets.append(sb.to_checksum)
        if not todo:
            return
        run_all(lambda job: self._part(sb, *job), todo, MAX_PART_FETCHES, "ostreepy-delta")

    def _check_free_space(self) -> None:
        # as process_one_static_delta: the uncompressed sizes of every delta of the pull so far
        # (parts present or not, fallbacks) against the repository's free blocks; it also bounds
        # what a hostile superblock can declare (each part's payload is held to its usize)
        st = os.statvfs(self.repo.path)
        with self._lock:
            usize = self._t["usize"]
        if st.f_bsize and usize // st.f_bsize > st.f_bfree:
            from ...store.prune import format_size
            raise DeltaError(f"Delta requires {format_size(usize)} free space, but only "
                             f"{format_size(st.f_bsize * st.f_bfree)} available")

    def _part(self, sb: SuperblockInfo, index: int, header: PartInfo) -> None:
        inline = sb.inline_part(index)
        try:
            if inline is not None:
                from .apply import execute_part
                # covered by the superblock's digest and the commit's signature
                written = execute_part(self.repo, header, inline, trusted=True)
            else:
                written = self._fetch_and_run(sb, index, header)
        except DeltaError as e:
            raise DeltaError(f"Static delta {sb.name} part {index}: {e}") from None
        self._add(fetched_parts=1, fetched_size=header.size, objects_written=written)
        if self.progress is not None:
            from ...progress import built_event
            self.progress(built_event("DeltaPartApplied")(index, len(sb.parts), written, False))

    def _fetch_and_run(self, sb: SuperblockInfo, index: int, header: PartInfo) -> int:
        path = fmt.part_path(sb.from_checksum, sb.to_checksum, index)
        for attempt in (1, 2):
            with unnamed_file(self.repo.tmp_dir) as f:
                n = self.fetcher.fetch_to(path, f, header.size + _PART_SLACK)
                self._count(n)
                if n != header.size and attempt == 1:
                    continue  # cut or padded: one more fetch
                f.seek(0)
                try:
                    return self._run_fetched(header, f)
                except DeltaError as e:
                    # only a part that is not what the superblock says is fetched again;
                    # a part that matches but will not run would fail the same way twice
                    if attempt == 2 or not str(e).startswith("Checksum mismatch"):
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_fetched(self, header: PartInfo, f: BinaryIO) -> int:
        """The fetched part ``f`` run by :func:`~ostreepy.remote.deltas.apply.execute_part`:
        read (hashed and inflated: lzma and sha256 leave the GIL) on a thread of its own while
        this one asks which of its objects are missing (:func:`~ostreepy.remote.deltas.apply.
        missing_objects`, ~450 of them in the realistic tree's delta, beside its xz stream's
        ~50 ms), then judged and run as execute_part judges and runs a part it reads itself."""
        if not header.objects:  # (execute_part reads no part without objects)
            from .apply import execute_part
            return execute_part(self.repo, header, f)
        limit = fmt.payload_limit(header)
        got: List[Union[RawPart, BaseException]] = []

        def read() -> None:
            try:
                got.append(read_part(f, limit))
            except BaseException as e:  # raised on the caller's thread below
                got.append(e)

        reader = threading.Thread(target=read, name="ostreepy-delta-read", daemon=True)
        reader.start()
        objects = header.objects
        try:
            from .apply import _read_payload, _run_payload, missing_objects
            missing = missing_objects(self.repo, objects)  # (on this thread meanwhile too)
            if self.repo.fsync:
                # the transaction's syncfs made ready while the part inflates, not at its end
                from ...store.repo import preload_syncfs
                preload_syncfs()
        finally:
            reader.join()
        raw = got[0]
        if isinstance(raw, BaseException):
            raise raw
        if header.version > fmt.DELTAPART_VERSION:  # (as execute_part)
            raise DeltaError(f"Delta part has too new version {header.version}")
        return _run_payload(self.repo, objects, _read_payload(raw, header.checksum, limit), missing)


# DeltaTotals is built on first use; until then the module holds its plain class only
_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)


def __dir__() -> list:
    # (the deferred classes too: what autodoc and a reader's dir() list)
    return sorted(set(globals()) | set(("DeltaTotals",)))
