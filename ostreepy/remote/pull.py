"""The pull engine: copy commits, with their trees, from a remote repository
(``ostree pull``) or a local one (``ostree pull-local``) into a repository of
any mode, as libostree's ``ostree-repo-pull.c`` does.

Design:

* Refs are resolved first (from the remote's ``summary`` when it has one,
  else from ``refs/heads/REF``), so a pull either knows every commit it will
  fetch or fails before writing anything.
* A commit object is fetched, checked against its checksum, parsed, and its
  signatures checked (:func:`~ostreepy.remote.trust.verify_commit`) before any
  of it is written; then it is marked *partial* (``state/C.commitpartial``)
  before the commit object goes in, so a pull killed at any point leaves the
  commit partial, and the next pull walks its tree again. Its ``.commitmeta`` is
  taken in as libostree takes it: GLib's normal form of the fetched bytes
  (:func:`~ostreepy.store.gvariant.normal_form`), so a malformed one reads as
  holding nothing rather than failing a pull that verifies no signatures.
* The tree walk drives a thread pool: the main thread holds the queues (all
  metadata before content, so the walk runs ahead and keeps the pool full),
  workers fetch, verify and store one object each and hand back the parsed
  dirtree, whose children the main thread queues. Nothing serialises on one
  directory at a time. A dirtree or dirmeta already here is read on the main
  thread, as libostree scans it: a second pull's walk is mostly such reads, and
  a hand-off to a worker and back per directory cost more in GIL and lock
  traffic than the read. So is a commit that is the walk's only task (the first,
  or the next parent), over the connection that fetched the summary: a pull with
  nothing new starts no thread. Objects already in the repository are not fetched, which
  is what makes a killed pull resume where it stopped; which files are here is asked a
  directory of ``objects/`` at a time (:class:`~ostreepy.store.presence.ObjectPresence`),
  as a second pull asks it of every file of the tree, and for the files of many dirtrees
  at once (hundreds of files; thousands once most are found here). Over plain http the
  dirtrees and dirmetas found missing are not handed to the pool either: the main thread
  sends their GETs ahead on a connection of its own
  (:meth:`~ostreepy.remote.http.HttpFetcher.get_ahead`), goes on reading
  what is here, and takes their answers in, in order, as libostree's one main loop
  keeps its requests in flight; the content waits for the walk's end (the workers would
  only take turns at the GIL with it) and then goes to the pool in batches. An answer
  that is not plain sends what is outstanding to the pool, where redirects, errors and
  retries are dealt with as for any fetch.
* Every object is verified before it is renamed into the store (the
  repository's own transaction puts it in staging first): metadata by its
  SHA-256 and structure (a dirtree naming ``..``, ``a/b`` or an empty name, a
  dirmeta that is not a directory, a content header of a device, are refused),
  content (an archive ``.filez``) by inflating and hashing it; into an archive
  repository the verified ``.filez`` is stored as fetched.
* Static deltas (:mod:`ostreepy.remote.deltas.fetch`) run first, when the
  remote offers one that fits: they write the commit (partial) and the
  objects of their parts; the walk then fetches the deltas' fallbacks as
  loose objects, checks their commits and walks their parents (``--depth``),
  but not their trees, as libostree's ``static_delta_targets``: a delta's
  parts and fallbacks are its whole tree. Where the summary lists no delta,
  the one file that says whether there is one for a commit (its
  ``delta-indexes/`` file, or the superblock of a delta from the ref's commit
  or from scratch) is asked first (:class:`_Deltas`), and the deltas' modules
  (~5 ms of start-up) are imported only when it is there: most pulls find none.
* The refs are set in the transaction that brought the objects, once every
  object of every commit is present, and so written at its end, after its one
  ``syncfs`` and its renames (as libostree's ``transaction_set_ref`` before
  ``commit_transaction``; collection refs, written as they are set, in a
  transaction of their own after it); then the commits are marked complete,
  as libostree deletes its ``.commitpartial`` files after the transaction. A
  failed pull moves no ref.

* Values: the walk builds none. Commits, dirtrees, dirmetas, ``.filez`` headers, the summary
  and the remote are read into plain classes and tuples (``_Commit``,
  :func:`~ostreepy.store.objects.parse_dirtree`, :class:`~ostreepy.store.objects.LightHeader`,
  :class:`~ostreepy.remote.summary.LightSummary`, :class:`~ostreepy.remote.config.RemoteFields`),
  each refused where its attrs class's parse refuses it, and the engine's outcome is a
  :class:`PullOutcome`; :func:`pull_remote` and :func:`pull_local` return it as the
  :class:`RepoPullResult` callers take. The command line prints from the outcome
  (:func:`pull_remote_outcome`), so a plain pull imports neither attrs (~20 ms) nor typing:
  at ostree's CPU, start-up was most of what a second pull had more than ostree's (issue 8).

Sources: a :class:`~ostreepy.remote.fetcher.Fetcher` (``file://``, HTTP), or a
local :class:`Repo` (pull-local, ``--localcache-repo``), whose objects are
copied rather than fetched: hard-linked between repositories of the same mode
(:mod:`ostreepy.store.objimport`, as libostree), and, from an untrusted source,
checked after linking and before they go in. A ``file://`` remote's ``.filez``
are linked into an archive repository the same way, and always checked.
Content objects go to the workers in batches (a task per object costs more in
thread hand-offs than a link or a small fetch does); a fetcher that can
(HTTP's ``fetch_each``) asks a batch's objects as pipelined requests on its
connection, and each is verified and stored as its answer comes in.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import os
import threading
import time

# queue.SimpleQueue and queue.Empty are _queue's: queue.py itself (its Queue classes, heapq)
# is start-up a pull does not need
from _queue import Empty as QueueEmpty
from _queue import SimpleQueue

from .._deferred import Deferred
from ..errors import FetchAheadBroken as AheadBroken
from ..errors import (ChecksumMismatchError, CorruptObjectError, InvalidObjectError, ObjectNotFoundError, OstreeError,
                      SignatureError)
from ..store import gvariant
from ..store import objects as obj
from ..store.keyfile import KeyFile
from ..store.objects import ObjectType
from ..store.presence import ObjectPresence
from ..store.refs import parse_refspec, validate_collection_id, validate_ref
from ..store.repo import CHUNK, Repo, RepoMode, VerifyingReader
from ..store.timestamps import downgrade_message
from . import trust
from .config import RemoteFields, jar_path, load_remote_fields
from .deltas.naming import INDEXED_DELTAS, SUMMARY_STATIC_DELTAS, path_base
from .fetcher import FetchError, Fetcher, FileFetcher, NotFound, fetcher_for_remote
from .summary import MAX_SUMMARY_SIZE, parse_summary_light
from .summary_cache import Conditional, SummaryCache, fetch_summary_pair
from .urls import quote_path as quote
from .urls import split as urlsplit
from .urls import unquote

# RefUpdate and RepoPullResult, the values a pull returns, are attrs classes built when a
# caller asks for them (ostreepy._deferred): the command line prints from the plain outcome
# (PullOutcome) and builds neither, nor any other attrs value (the walk reads commits, dirtrees,
# dirmetas, file headers and the summary into plain classes and tuples), so that it imports
# neither attrs (~20 ms) nor typing (~6 ms)
_DEFERRED = Deferred(globals())

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

    from attrs import frozen as _value

    from ..progress import ProgressCallback
    from ..store.gvariant import LightVariant, Variant
    from ..store.objects import AnyHeader, Commit
    from .config import Remote, RemoteOptions
    from .deltas.fetch import DeltaCounts, DeltaPuller, DeltaTotals
    from .http import GetAhead
    from .summary import AnySummary as Summary

    #: a commit as a value or as the walk reads it
    AnyCommit = Union[Commit, "_Commit"]
    #: a dirtree's files and subdirectories (objects.parse_dirtree)
    Entries = Tuple[Tuple[Tuple[str, str], ...], Tuple[Tuple[str, str, str], ...]]
else:
    _value = _DEFERRED.register

__all__ = ["PullError", "PullOutcome", "RefUpdate", "RepoPullResult", "pull_remote", "pull_remote_outcome",
           "pull_local"]

#: fetches in flight at once (ostree's max-outstanding-fetcher-requests default)
MAX_FETCHES = 8
#: content objects handed to a worker at once, at most
MAX_BATCH = 16
#: batches of content in flight at once over a fetcher that pipelines them (each keeps its
#: connection busy; more threads would only take turns at the GIL)
MAX_PIPELINES = 3
#: content objects queued while the walk takes its dirtrees in itself (GetAhead) wait for its
#: end, unless there are this many: then a few full batches run beside it
HELD_CONTENT = 8 * MAX_BATCH * MAX_PIPELINES
#: a walk task: kind ("commit", "dirtree", "dirmeta", "file"), checksum, argument
_Item = tuple[str, str, object]
#: a content object has no size limit in ostree; this only bounds a hostile stream
MAX_CONTENT_SIZE = 1 << 40
#: a fetched object bound for a bare repository stays in memory up to this size
SPOOL_SIZE = 1 << 20


class PullError(OstreeError):
    """A pull that cannot be done: a ref the remote does not have, a remote of
    the wrong mode, an option that is not supported, a downgrade refused."""


@_value
class RefUpdate:
    """One ref a pull wrote: ``refspec`` as ``ostree refs`` lists it
    (``origin:main``, or ``main`` for a mirror or pull-local; a mirror's ref of
    another collection as ``refs --collections`` lists it, ``(ID, main)``), its
    old commit (None if it is new) and its new one."""

    refspec: str
    old: Optional[str]
    new: str


@_value
class RepoPullResult:
    """What a pull did. ``commits`` maps each ref asked for (or a checksum asked
    for, to itself) to its commit; ``refs`` lists only the refs that changed.
    Objects are counted as fetched (over the fetcher) or local (copied from a
    local repository); ``bytes_transferred`` is what the fetcher delivered."""

    remote: str
    commits: Mapping[str, str]
    refs: Tuple[RefUpdate, ...]
    metadata_fetched: int = 0
    content_fetched: int = 0
    metadata_local: int = 0
    content_local: int = 0
    bytes_transferred: int = 0
    content_bytes_written: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    local_source: bool = False
    #: what static deltas did (None when none was looked for, or none was there: a summary
    #: that lists none and no superblock or delta index for the commits)
    deltas: Optional[DeltaTotals] = None
    #: detached metadata (``.commitmeta``) found over the fetcher: ostree's status line counts
    #: it as metadata fetched; a missing one counts for nothing since ostree 2023.9
    #: (c8ed1c7a "lib/pull: Fix miscounting of missing metadata"; 2022.7 counted it)
    detached_metadata_fetched: int = 0
    #: a commit's ``delta-indexes/`` file or a delta's superblock, asked for and not there
    #: (where no delta was found, ``deltas`` is None): ostree counts each such request as
    #: metadata fetched (on_delta_index_fetched, on_superblock_fetched clear the 404 first)
    delta_files_missing: int = 0

    @property
    def delta_parts_fetched(self) -> int:
        return self.deltas.fetched_parts if self.deltas is not None else 0

    @property
    def status(self) -> str:
        """The line ``ostree pull`` / ``pull-local`` prints when done."""
        return _status(self)


class PullOutcome:
    """What a pull did, as :class:`RepoPullResult` holds it, in a plain class: what the
    engine returns; :func:`pull_remote` and :func:`pull_local` make the RepoPullResult of it
    (:meth:`value`), the command line prints from it."""

    __slots__ = ("remote", "commits", "refs", "metadata_fetched", "content_fetched", "metadata_local",
                 "content_local", "bytes_transferred", "content_bytes_written", "seconds", "dry_run",
                 "local_source", "deltas", "detached_metadata_fetched", "delta_files_missing")

    def __init__(self, remote: str, commits: Mapping[str, str], refs: Tuple[Tuple[str, Optional[str], str], ...],
                 metadata_fetched: int, content_fetched: int, metadata_local: int, content_local: int,
                 bytes_transferred: int, content_bytes_written: int, seconds: float, dry_run: bool,
                 local_source: bool, deltas: Optional[DeltaCounts], detached_metadata_fetched: int,
                 delta_files_missing: int) -> None:
        self.remote = remote
        self.commits = commits
        #: (refspec, old, new) of each ref written
        self.refs = refs
        self.metadata_fetched = metadata_fetched
        self.content_fetched = content_fetched
        self.metadata_local = metadata_local
        self.content_local = content_local
        self.bytes_transferred = bytes_transferred
        self.content_bytes_written = content_bytes_written
        self.seconds = seconds
        self.dry_run = dry_run
        self.local_source = local_source
        self.deltas = deltas
        self.detached_metadata_fetched = detached_metadata_fetched
        self.delta_files_missing = delta_files_missing

    @property
    def delta_parts_fetched(self) -> int:
        return self.deltas.fetched_parts if self.deltas is not None else 0

    @property
    def status(self) -> str:
        return _status(self)

    def value(self) -> RepoPullResult:
        ref_update = _DEFERRED.build("RefUpdate")
        return _DEFERRED.build("RepoPullResult")(  # type: ignore[no-any-return]
            remote=self.remote, commits=self.commits, refs=tuple(ref_update(*u) for u in self.refs),
            metadata_fetched=self.metadata_fetched, content_fetched=self.content_fetched,
            metadata_local=self.metadata_local, content_local=self.content_local,
            bytes_transferred=self.bytes_transferred, content_bytes_written=self.content_bytes_written,
            seconds=self.seconds, dry_run=self.dry_run, local_source=self.local_source,
            deltas=self.deltas.value() if self.deltas is not None else None,
            detached_metadata_fetched=self.detached_metadata_fetched, delta_files_missing=self.delta_files_missing)


def _status(r: Union[RepoPullResult, PullOutcome]) -> str:
    """:attr:`RepoPullResult.status` of a result or an outcome."""
    # n_fetched_metadata: objects, found .commitmeta, superblocks and delta-index requests
    meta = r.metadata_fetched + r.detached_metadata_fetched + r.delta_files_missing
    if r.deltas is not None:
        meta += r.deltas.superblocks + r.deltas.indexes
    if r.local_source:
        s = f"{r.metadata_local} metadata, {r.content_local} content objects imported"
    elif r.delta_parts_fetched > 0:
        s = f"{r.delta_parts_fetched} delta parts, {meta + r.content_fetched} loose fetched"
        if r.metadata_local or r.content_local:
            s += f" ({r.metadata_local} meta, {r.content_local} content local)"
    else:
        s = f"{meta} metadata, {r.content_fetched} content objects fetched"
        if r.metadata_local or r.content_local:
            s += f" ({r.metadata_local} meta, {r.content_local} content local)"
    if r.bytes_transferred > 0:
        if r.bytes_transferred < 1024:
            s += f"; {r.bytes_transferred} B"
        else:
            s += f"; {r.bytes_transferred // 1024} KiB"
        s += f" transferred in {int(r.seconds)} seconds"
    return s + f"; {_format_size(r.content_bytes_written)} content written"


def _format_size(n: int) -> str:
    # g_format_size: SI units, one decimal, "bytes" below 1 kB
    if n < 1000:
        return f"{n} bytes"
    for unit, scale in (("kB", 1000), ("MB", 1000 ** 2), ("GB", 1000 ** 3), ("TB", 1000 ** 4)):
        if n < scale * 1000 or unit == "TB":
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"  # pragma: no cover


# ============================================================================ sources


class _Source:
    """Where objects come from: a fetcher over a remote's files, or a local repository."""

    def __init__(self, fetcher: Optional[Fetcher] = None, local: Optional[Repo] = None,
                 trusted: bool = False, content_fetcher: Optional[Fetcher] = None) -> None:
        self.fetcher = fetcher
        # a remote's ``contenturl``: file objects and deltas come from there
        self.content_fetcher = content_fetcher or fetcher
        self.local = local
        self.trusted = trusted
        self.bytes = 0
        self._lock = threading.Lock()

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes += n

    def fetch_bytes(self, path: str, max_size: int, content: bool = False) -> bytes:
        assert self.fetcher is not None and self.content_fetcher is not None
        data = (self.content_fetcher if content else self.fetcher).fetch_bytes(path, max_size)
        self._count(len(data))
        return data

    def fetch_optional(self, path: str, max_size: int) -> Optional[bytes]:
        try:
            return self.fetch_bytes(path, max_size)
        except NotFound:
            return None


def _commitmeta_normal_form(raw: Optional[bytes]) -> Optional[bytes]:
    """A ``.commitmeta`` as libostree takes one in: GLib reads the untrusted bytes (a
    malformed part reads as a default value) and the normal form of that is stored
    (meta_fetch_on_complete), so a corrupt one is not an error of the pull; whether its
    signatures are enough is the remote's policy's question (test-commit-sign)."""
    return gvariant.normal_form(obj.COMMITMETA_TYPE, raw) if raw is not None else None


def _meta_path(checksum: str, objtype: ObjectType) -> str:
    return obj.loose_path(checksum, objtype, True)


# ============================================================================ the engine


class _Stats:
    """The puller's counters (its own state, never handed out: a plain class, as building an
    attrs class is a fraction of a millisecond of every pull's start-up)."""

    __slots__ = ("content_bytes_written", "content_fetched", "content_local", "detached_fetched", "fetched",
                 "metadata_fetched", "metadata_local", "requested")

    def __init__(self) -> None:
        self.metadata_fetched = self.content_fetched = self.metadata_local = self.content_local = 0
        self.content_bytes_written = self.requested = self.fetched = self.detached_fetched = 0


class _Commit:
    """A commit as the walk reads it (:func:`~ostreepy.store.objects.parse_commit_light`,
    refused where Commit.parse refuses): what it checks and follows, in a plain class."""

    __slots__ = ("metadata", "parent", "timestamp", "root_tree", "root_meta")

    def __init__(self, data: bytes) -> None:
        meta, parent, _related, _subject, _body, timestamp, root_tree, root_meta = obj.parse_commit_light(data)
        self.metadata: Mapping[str, LightVariant] = meta
        self.parent = parent
        self.timestamp = timestamp
        self.root_tree = root_tree
        self.root_meta = root_meta


class _Puller:
    def __init__(self, repo: Repo, source: _Source, remote: Optional[RemoteOptions], *,
                 localcache: Sequence[Repo] = (), commit_only: bool = False, subpaths: Sequence[str] = (),
                 depth: int = 0, dry_run: bool = False, progress: Optional[ProgressCallback] = None) -> None:
        self.repo = repo
        self.source = source
        self.remote = remote
        self.localcache = list(localcache)
        self.commit_only = commit_only
        self.subpaths = [_normpath(p) for p in subpaths]
        self.depth = depth
        self.dry_run = dry_run
        if progress is not None:
            # (the events' module, ~0.4 ms, is imported by a pull that sends them)
            from ..progress import serialized
            progress = serialized(progress)
        self.progress = progress
        self.stats = _Stats()
        self.commit_sizes: Dict[str, int] = {}
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._last_progress = 0.0
        #: commits whose whole tree this pull walked or a delta brought (to be marked complete)
        self.walked: List[str] = []
        #: to-commits of the static deltas this pull ran: complete without a walk of their tree
        self.delta_targets: set[str] = set()
        #: commit -> (rev, timestamp) it must not be older than (--timestamp-check)
        self.ts_floor: Dict[str, Tuple[str, int]] = {}
        #: the remote's signapi keys, loaded once as the pull starts
        self.sign_keys: Optional[trust.SignKeys] = None
        #: requested commit -> the refs it was asked for by (their bindings are checked)
        self.refs_of: Dict[str, List[str]] = {}
        self.verify_bindings = True
        #: the source's collection ID (its summary's, or the local repository's)
        self.collection_id: Optional[str] = None
        #: commit -> the collection ID of the collection–ref it was asked for under
        #: (a pull of collection–refs: find-remotes --pull, create-usb)
        self.collection_of: Dict[str, str] = {}
        #: who owns the repository (a file:// remote's objects of another owner are copied)
        self._owner: Optional[int] = None
        #: --bareuseronly-files: refuse content a bare-user-only repository could not hold
        self.verify_bareuseronly = False
        #: --http-trusted mirroring into an archive repository: .filez stored as fetched,
        #: unchecked (ostree's trusted_http_direct)
        self.trusted_direct = False

    # ------------------------------------------------------------ counters and events

    def _stored(self, checksum: str, objtype: ObjectType, size: int, local: bool) -> None:
        with self._lock:
            st = self.stats
            if objtype is ObjectType.FILE:
                if local:
                    st.content_local += 1
                else:
                    st.content_fetched += 1
            elif local:
                st.metadata_local += 1
            else:
                st.metadata_fetched += 1
            st.fetched += 1
        if self.progress is not None:
            from ..progress import ObjectFetched
            self.progress(ObjectFetched(checksum, objtype.name_str, size, local))

    def _report(self, phase: str, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < 0.2:
            return
        self._last_progress = now
        st = self.stats
        from ..progress import PullProgress
        self.progress(PullProgress(phase, st.fetched, st.requested, self.source.bytes,
                                   st.metadata_fetched + st.metadata_local))

    # ------------------------------------------------------------ metadata objects

    def _metadata_bytes(self, checksum: str, objtype: ObjectType, max_size: int = obj.MAX_METADATA_SIZE,
                        optional: bool = False) -> Tuple[Optional[bytes], bool]:
        """(bytes checked against the checksum, came from a local repository)."""
        for cache in ([self.source.local] if self.source.local is not None else []) + self.localcache:
            if cache.has_object(checksum, objtype):
                return cache.load_metadata(objtype, checksum, verify=True), True
        if self.source.fetcher is None:
            if optional:
                return None, True
            raise ObjectNotFoundError(checksum, objtype.name_str)
        try:
            # as libostree: detached metadata from the URL, the objects from contenturl
            data = self.source.fetch_bytes(_meta_path(checksum, objtype), max_size,
                                           content=objtype is not ObjectType.COMMIT_META)
        except NotFound:
            if optional:
                return None, False
            raise
        if objtype is ObjectType.COMMIT_META:
            # detached metadata is named after its commit, not its own hash: what
            # vouches for it is the signature it carries (checked by the trust policy)
            return data, False
        actual = hashlib.sha256(data).hexdigest()
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, "metadata object")
        return data, False

    def do_commit(self, checksum: str, is_parent: bool) -> Tuple[Optional[_Commit], bool]:
        """(the commit, whether its tree must be walked); (None, False) for a
        parent the source does not have."""
        repo = self.repo
        if repo.has_object(checksum, ObjectType.COMMIT):
            commit = _Commit(repo.load_metadata(ObjectType.COMMIT, checksum))
            # as scan_commit_object: a commit already here is held to the same rules,
            # signatures first, then bindings and timestamps
            self._recheck_stored(checksum)
            if self.verify_bindings:
                self._check_bindings(checksum, commit, is_parent)
            self._check_timestamp(checksum, commit)
            partial = repo.commit_is_partial(checksum)
            return commit, partial and not self.commit_only and not self.dry_run
        try:
            data, local = self._metadata_bytes(checksum, ObjectType.COMMIT,
                                               self.commit_sizes.get(checksum, obj.MAX_METADATA_SIZE))
        except (NotFound, ObjectNotFoundError):
            if is_parent:
                return None, False  # a source pulled with a depth ends in a dangling parent
            raise
        assert data is not None
        commit = _Commit(data)
        if self.source.local is not None and local:
            detached = self.source.local.read_commit_detached_metadata(checksum)
        else:
            raw, meta_local = self._metadata_bytes(checksum, ObjectType.COMMIT_META, optional=True)
            raw = _commitmeta_normal_form(raw)
            detached = obj.parse_commitmeta(raw) if raw is not None else None
            if raw is not None and not meta_local and not self.dry_run:
                # meta_fetch_on_complete counts a found .commitmeta as a metadata fetch
                # (scripts match the status line), a 404 not (was_enoent, ostree >= 2023.9)
                with self._lock:
                    self.stats.detached_fetched += 1
        if self.remote is not None:
            trust.verify_commit(self.remote, checksum, data, detached, repo=repo, keys=self.sign_keys)
        if self.verify_bindings:
            self._check_bindings(checksum, commit, is_parent)
        self._check_timestamp(checksum, commit)
        if self.dry_run:
            return commit, False
        repo.mark_commit_partial(checksum, True)
        if detached is not None:
            if self.source.local is not None and local:
                repo.write_commit_detached_metadata(checksum, detached)
            else:
                assert raw is not None
                repo.write_commit_detached_metadata_bytes(checksum, raw)
        self._write_meta(checksum, ObjectType.COMMIT, data, local, commit)
        self._stored(checksum, ObjectType.COMMIT, 0 if local else len(data), local)
        return commit, not self.commit_only

    def _recheck_stored(self, checksum: str) -> None:
        """A commit already here: over a fetcher its detached metadata is fetched again, as
        libostree always does (scan_one_metadata_object: new signatures may have appeared),
        and kept when it changed; then the remote's signature policy is applied to the stored
        commit with it (scan_commit_object), so a commit pulled through one remote does not
        pass for another remote's keys.  From a local source the stored .commitmeta is checked."""
        stored = self.repo.read_commit_detached_metadata(checksum)
        detached = stored
        raw: Optional[bytes] = None
        refetch = self.source.fetcher is not None and self.source.local is None and not self.dry_run
        if refetch:
            raw, meta_local = self._metadata_bytes(checksum, ObjectType.COMMIT_META, optional=True)
            raw = _commitmeta_normal_form(raw)
            if raw is not None and not meta_local:
                with self._lock:
                    self.stats.detached_fetched += 1
            if raw is not None:
                detached = obj.parse_commitmeta(raw)
        if self.remote is not None:
            trust.verify_commit(self.remote, checksum, self.repo.load_metadata(ObjectType.COMMIT, checksum),
                                detached, repo=self.repo, keys=self.sign_keys)
        if refetch and raw is not None and detached != stored:
            self.repo.write_commit_detached_metadata_bytes(checksum, raw)

    def _check_bindings(self, checksum: str, commit: AnyCommit, is_parent: bool) -> None:
        """_ostree_repo_verify_bindings: a commit that names the refs it was made
        for (``ostree.ref-binding``) is refused under any other ref, so that a
        source cannot serve an old or unrelated commit under a ref's name."""
        meta = commit.metadata
        binding = meta.get("ostree.ref-binding")
        if binding is None or binding.type != "as":
            if (self.collection_id if is_parent else self.collection_of.get(checksum, self.collection_id)) is None:
                return
            raise PullError(f"Commit {checksum}: Expected commit metadata to have ref binding information,"
                            " found none")
        bound = list(binding.value)
        for ref in ([] if is_parent else self.refs_of.get(checksum, [])):
            if ref not in bound:
                names = ", ".join(f"‘{r}’" for r in bound) or "no refs"
                raise PullError(f"Commit {checksum}: Commit has no requested ref ‘{ref}’ in ref binding"
                                f" metadata ({names})")
        expected = self.collection_id if is_parent else self.collection_of.get(checksum, self.collection_id)
        if expected is not None:
            cb = meta.get("ostree.collection-binding")
            if cb is None or cb.type != "s":
                raise PullError(f"Commit {checksum}: Expected commit metadata to have collection ID binding"
                                " information, found none")
            if cb.value != expected:
                raise PullError(f"Commit {checksum}: Commit has collection ID ‘{cb.value}’ in collection"
                                f" binding metadata, while the remote it came from has collection ID"
                                f" ‘{expected}’")

    def _check_timestamp(self, checksum: str, commit: AnyCommit) -> None:
        floor = self.ts_floor.get(checksum)
        if floor is None:
            return
        rev, ts = floor
        message = downgrade_message(rev, ts, checksum, commit.timestamp)
        if message is not None:
            raise PullError(message)

    def do_meta(self, checksum: str, objtype: ObjectType) -> Optional[Entries]:
        """Fetch (or copy), check and store a dirtree or dirmeta the walk found missing (it
        asked just before handing it over: not asked again here, two lstats each); one that
        another writer stored meanwhile is fetched all the same, and the store keeps its own."""
        data, local = self._metadata_bytes(checksum, objtype)
        assert data is not None
        return self._take_meta(checksum, objtype, data, local)

    def take_fetched_meta(self, checksum: str, objtype: ObjectType, data: bytes) -> Optional[Entries]:
        """:meth:`do_meta` of a dirtree or dirmeta whose bytes the walk fetched itself (sent
        ahead, :class:`~ostreepy.remote.http.GetAhead`): checked as one fetched here."""
        self.source._count(len(data))
        actual = hashlib.sha256(data).hexdigest()
        if actual != checksum:
            raise ChecksumMismatchError(checksum, actual, "metadata object")
        return self._take_meta(checksum, objtype, data, False)

    def _take_meta(self, checksum: str, objtype: ObjectType, data: bytes, local: bool) -> Optional[Entries]:
        # read as DirTree.parse and DirMeta.parse read them (and refused where they refuse),
        # into the tuples the walk needs: no value built
        tree: Optional[Entries] = None
        if objtype is ObjectType.DIR_TREE:
            try:
                tree = obj.parse_dirtree(data)
            except CorruptObjectError as e:
                # named as ostree names it (CHECKSUM.dirtree: why), which scripts match
                why = str(e).removeprefix("Corrupted dirtree object: ")
                raise CorruptObjectError(f"Corrupted dirtree object {checksum}.dirtree: {why}", checksum) from None
            names = [n for n, _ in tree[0]] + [n for n, _, _ in tree[1]]
            if len(set(names)) != len(names):
                raise CorruptObjectError(f"Corrupted dirtree object {checksum}: a name appears twice", checksum)
            parsed: object = tree
        else:
            parsed = obj.parse_dirmeta(data)
        self._write_meta(checksum, objtype, data, local, parsed)
        self._stored(checksum, objtype, 0 if local else len(data), local)
        return tree

    def _write_meta(self, checksum: str, objtype: ObjectType, data: bytes, local: bool,
                    parsed: object = None) -> None:
        """A metadata object from a trusted local source is hard-linked, as libostree's
        import links it (metadata is the same file in every mode; test-basic checks the
        commit's inode); anything else, or a link refused, is written from ``data``
        (``parsed``: its value, which it was checked against its checksum for: not again)."""
        src = self.source.local
        if local and self.source.trusted and src is not None and src.has_object(checksum, objtype):
            try:
                if self.repo.link_object_in(src.object_path(checksum, objtype), checksum, objtype) is not None:
                    return
            except OSError:
                pass  # another filesystem, or too many links: written below
        # (do_commit and do_meta looked for it just before)
        self.repo.write_metadata(objtype, data, expected=checksum, known_absent=True, parsed=parsed)

    # ------------------------------------------------------------ content objects

    def do_file(self, checksum: str) -> None:
        # (whether it is here already the walk asked, with the dirtree that names it)
        local = self.source.local
        if local is not None and not self.localcache:
            # the only source: a missing object is its error, not worth a lookup first
            self._import_file(local, checksum, self.source.trusted)
            self._stored(checksum, ObjectType.FILE, 0, True)
            return
        sources = ([local] if local is not None else []) + self.localcache
        for src in sources:
            if src.has_object(checksum, ObjectType.FILE):
                trusted = self.source.trusted and src is self.source.local
                self._import_file(src, checksum, trusted)
                self._stored(checksum, ObjectType.FILE, 0, True)
                return
        if self.source.fetcher is None:
            raise ObjectNotFoundError(checksum, "file")
        size = self._fetch_file(checksum)
        self._stored(checksum, ObjectType.FILE, size, False)

    def _written(self, n: int) -> None:
        with self._lock:
            self.stats.content_bytes_written += n

    def _import_file(self, src: Repo, checksum: str, trusted: bool) -> None:
        # objimport (copies between repositories) is imported by the pulls that copy: not
        # start-up for a pull over HTTP
        from ..store.objimport import import_content
        if self.verify_bareuseronly:
            self._check_bareuseronly(checksum, src.load_file_header(checksum))
        res = import_content(self.repo, src, checksum, trusted=trusted, known_absent=True)
        if res.written:
            self._written(res.written)

    def _link_file(self, checksum: str, tmp: str) -> Optional[int]:
        """A ``file://`` remote's ``.filez`` hard-linked as ``tmp``, checked and taken in,
        as libostree imports from a local repository: no copy of the data is written.
        Its size; None when it cannot be linked (to be fetched)."""
        cf = self.source.content_fetcher
        if not isinstance(cf, FileFetcher):
            return None
        from ..store.objimport import check_filez, link_checked_filez
        if self._owner is None:
            self._owner = os.stat(self.repo.path).st_uid
        path = _meta_path(checksum, ObjectType.FILE)
        f = cf.open_owned(path, self._owner)
        if f is not None:
            # checked through the open file, and that inode linked into the transaction
            with f:
                done = link_checked_filez(self.repo, f, checksum)
                n = os.fstat(f.fileno()).st_size
            if done is not None:
                header, size = done
                self.source._count(n)
                self._written(size if header.is_regular else 0)
                return n
        n = cf.link_to(path, tmp, self._owner)
        if n < 0:
            return None
        try:
            header, size = check_filez(tmp, checksum)
            self.repo.adopt_object_file(tmp, checksum, ObjectType.FILE, linked=True)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self.source._count(n)
        self._written(size if header.is_regular else 0)
        return n

    def _check_bareuseronly(self, checksum: str, header: AnyHeader) -> None:
        """_ostree_validate_bareuseronly_mode: a regular file with bits beyond 0775
        (setuid, setgid, sticky, world-writable) is refused."""
        if self.verify_bareuseronly and header.is_regular:
            bad = (header.mode & 0o7777) & ~0o775
            if bad:
                raise PullError(f"Content object {checksum}: invalid mode 0{header.mode:04o} with bits 0{bad:04o}")

    def _fetch_file(self, checksum: str) -> int:
        assert self.source.content_fetcher is not None
        sink = self._file_sink(checksum)
        if isinstance(sink, int):
            return sink
        try:
            n = self.source.content_fetcher.fetch_to(_meta_path(checksum, ObjectType.FILE), sink.f, MAX_CONTENT_SIZE)
            return self._file_fetched(checksum, sink, n)
        finally:
            sink.close()

    def _fetch_files(self, batch: Sequence[str]) -> None:
        """A batch of content objects through the fetcher's ``fetch_each`` (pipelined over
        plain http), each verified and stored as it arrives, as :meth:`_fetch_file` does."""
        fetch_each = self.source.content_fetcher.fetch_each  # type: ignore[union-attr]
        sinks: dict[int, _FileSink] = {}

        def sink_for(i: int) -> BinaryIO:
            s = sinks.get(i)
            if s is None:
                made = self._file_sink(batch[i], link=False)
                assert not isinstance(made, int)
                sinks[i] = s = made
            return s.f

        def done(i: int, f: BinaryIO, n: int) -> None:
            s = sinks.pop(i)
            try:
                size = self._file_fetched(batch[i], s, n)
            finally:
                s.close()
            self._stored(batch[i], ObjectType.FILE, size, False)
            if self._abort.is_set():
                raise _Aborted()

        try:
            fetch_each([_meta_path(c, ObjectType.FILE) for c in batch], sink_for, done, MAX_CONTENT_SIZE)
        except _Aborted:
            pass
        finally:
            for s in sinks.values():
                s.close()

    def _file_sink(self, checksum: str, link: bool = True) -> _FileSink | int:
        """Where a fetched ``.filez`` goes; into an archive repository from a ``file://``
        remote (``link``), the object linked in already (its size)."""
        repo = self.repo
        if repo.mode is RepoMode.ARCHIVE:
            # the fetched .filez itself becomes the object, once verified
            tmp = repo.new_tmp_path(".filez")
            if link:
                linked = self._link_file(checksum, tmp)
                if linked is not None:
                    return linked
            return _FileSink(open(tmp, "w+b"), tmp)
        # inflated into a new object: a small one never touches the disk as .filez
        return _FileSink(_Spool(repo.tmp_dir), None)  # type: ignore[arg-type]

    def _file_fetched(self, checksum: str, sink: _FileSink, n: int) -> int:
        """A fetched ``.filez`` (``n`` bytes in ``sink``) verified and stored."""
        repo = self.repo
        f, tmp = sink.f, sink.tmp
        self.source._count(n)
        small = _inflate_filez(f.mem.getvalue(), checksum) if isinstance(f, _Spool) and f.file is None else None
        if small is not None:
            # the common case, a small object all in memory: inflated in one call,
            # without the streaming layers a large one needs
            header, size, data = small
            self._check_bareuseronly(checksum, header)
            # the walk found it absent (a concurrent writer's copy is met by the link)
            repo.write_content(header, io.BytesIO(data) if header.is_regular else None,
                               size if header.is_regular else None, expected=checksum, known_absent=True)
            self._written(size if header.is_regular else 0)
            return n
        f.flush()
        if tmp is not None and self.trusted_direct:
            f.close()
            repo.adopt_object_file(tmp, checksum, ObjectType.FILE)
            sink.tmp = None
            return n
        f.seek(0)
        header, size = _read_filez_header(f, checksum)
        self._check_bareuseronly(checksum, header)
        if header.is_symlink:
            actual = obj.content_checksum(header)
            if actual != checksum:
                raise ChecksumMismatchError(checksum, actual, "file object")
            reader = None
        else:
            # into an archive repository the .filez is kept as fetched, so it is hashed
            # here; into a bare one write_content hashes what it writes against the checksum
            reader = VerifyingReader(f, header.new_hasher() if tmp is not None else None, checksum, size,
                                     decompress=True)
        if tmp is not None and reader is not None:
            while reader.read(CHUNK):
                pass
            f.close()
            repo.adopt_object_file(tmp, checksum, ObjectType.FILE)
            sink.tmp = None
        else:
            repo.write_content(header, reader, size if reader is not None else None,  # type: ignore[arg-type]
                               expected=checksum, known_absent=True)
        self._written(size if header.is_regular else 0)
        return n

    # ------------------------------------------------------------ the walk

    def _wanted(self, path: str, is_dir: bool) -> bool:
        if not self.subpaths:
            return True
        for s in self.subpaths:
            if s == "/" or path == s or path.startswith(s + "/"):
                return True
            if is_dir and s.startswith(path + "/"):
                return True
        return False

    def walk(self, commits: Sequence[str], files: Sequence[str] = ()) -> None:
        """Fetch ``commits`` and what they need (see the module's docstring); ``files``,
        content objects known to be missing (a delta's fallbacks), are fetched with them."""
        meta_q: Deque[_Item] = collections.deque()
        content_q: Deque[str] = collections.deque(files)
        seen_commits: Set[str] = set()
        seen_trees: Set[object] = set()
        seen_meta: Set[str] = set()
        seen_files: Set[str] = set(files)
        self.stats.requested += len(files)
        parents_of: Dict[str, int] = {}
        #: commit -> the requested commit whose parent chain reached it
        chain_of: Dict[str, str] = {}

        def add_commit(csum: str, depth: int, is_parent: bool, chain: str) -> None:
            if csum in seen_commits:
                if is_parent and chain_of.get(csum) == chain:
                    # impossible with honest checksums; a hostile source must not walk us forever
                    raise CorruptObjectError(f"Commit {csum} is its own ancestor: a loop of parents", csum)
                return
            seen_commits.add(csum)
            chain_of[csum] = chain
            parents_of[csum] = depth
            meta_q.append(("commit", csum, is_parent))
            self.stats.requested += 1

        def add_tree(tree: str, meta: str, path: str) -> None:
            key: object = (tree, path) if self.subpaths else tree
            if key not in seen_trees:
                seen_trees.add(key)
                meta_q.append(("dirtree", tree, path))
                self.stats.requested += 1
            if meta not in seen_meta:
                seen_meta.add(meta)
                meta_q.append(("dirmeta", meta, None))
                self.stats.requested += 1

        for c in commits:
            add_commit(c, self.depth, False, c)
        # a whole tree's worth of "is this file here?", answered a directory of objects/ at a time
        presence = ObjectPresence(self.repo)
        repo = self.repo
        wanted = self._wanted if self.subpaths else None
        # content only from the fetcher, which can take a batch at once (HTTP)
        pipelined = (self.source.local is None and not self.localcache
                     and hasattr(self.source.content_fetcher, "fetch_each"))

        def run(item: _Item) -> object:
            if self._abort.is_set():
                return None
            kind, csum, arg = item
            if kind == "commit":
                return self.do_commit(csum, bool(arg))
            if kind == "dirtree":
                tree = self.do_meta(csum, ObjectType.DIR_TREE)
                assert tree is not None
                # which of its files are here already is asked here, on the worker: a
                # second pull then queues only what changed, not a task per file
                return tree, presence.present(f for _, f in tree[0])
            if kind == "dirmeta":
                return self.do_meta(csum, ObjectType.DIR_META)
            batch: Tuple[str, ...] = arg  # type: ignore[assignment]
            if pipelined and len(batch) > 1:
                self._fetch_files(batch)
                return None
            for c in batch:
                if self._abort.is_set():
                    break
                self.do_file(c)
            return None

        def handle(item: _Item, result: object) -> None:
            kind, csum, arg = item
            if kind == "commit":
                got: Tuple[Optional[_Commit], bool] = result  # type: ignore[assignment]
                commit, walk_tree = got
                if commit is None:
                    return
                if walk_tree:
                    self.walked.append(csum)
                    # as scan_commit_object: a delta's to-commit is whole once its parts
                    # have run and its fallbacks (queued with the walk) are in
                    if csum not in self.delta_targets:
                        add_tree(commit.root_tree, commit.root_meta, "/")
                depth = parents_of[csum]
                if commit.parent is not None and depth != 0:
                    add_commit(commit.parent, depth - 1 if depth > 0 else -1, True, chain_of[csum])
            elif kind == "dirtree":
                read: Tuple[Entries, Optional[Set[str]]] = result  # type: ignore[assignment]
                (files, dirs), present = read
                path = str(arg)
                requested = 0
                for name, fcsum in files:
                    if fcsum in seen_files or (wanted is not None and not wanted(path + name, False)):
                        continue
                    seen_files.add(fcsum)
                    if present is None:
                        unsure.append(fcsum)
                    elif fcsum not in present:
                        content_q.append(fcsum)
                    requested += 1
                self.stats.requested += requested
                for name, tcsum, mcsum in dirs:
                    if wanted is None or wanted(path + name, True):
                        add_tree(tcsum, mcsum, path + name + "/")

        # the files of the dirtrees this thread takes in, whether they are here asked many
        # at a time (settle): asked a dirtree at a time, a second pull's tree of 6,000 files
        # in 700 dirtrees was ~5,000 lookups of an objects/xx listing, ~10 ms of the walk
        unsure: List[str] = []
        settle_at = HELD_CONTENT

        def settle() -> None:
            nonlocal settle_at
            present = presence.present(unsure)
            content_q.extend(c for c in unsure if c not in present)
            # most of them missing (a first pull): content is asked for as soon as the walk
            # finds enough of it (HELD_CONTENT); most here (a later pull): in bigger batches
            settle_at = HELD_CONTENT if len(present) * 2 < len(unsure) else 4 * HELD_CONTENT
            unsure.clear()

        inflight = 0
        meta_inflight = 0
        # a pool of its own, two queues and threads started as work arrives: no Future per
        # task, no concurrent.futures (and the logging it imports) at start-up, and a small
        # pull starts only the workers it keeps busy. A worker leaves on None.
        tasks: "SimpleQueue[Optional[_Item]]" = SimpleQueue()
        finished: "SimpleQueue[Tuple[_Item, object, Optional[BaseException]]]" = SimpleQueue()
        workers: List[threading.Thread] = []
        # the dirtrees and dirmetas found missing are sent ahead on a connection of this
        # thread's (plain http), and their answers taken in here, in order, between the reads
        # of those that are here: no hand-off to a worker and back per directory. What that
        # connection does not answer plainly goes to the workers (see GetAhead)
        get_ahead = (getattr(self.source.content_fetcher, "get_ahead", None)
                     if self.source.local is None and not self.localcache else None)
        ahead: Optional[GetAhead] = None  # (HttpFetcher's)
        sent: Deque[_Item] = collections.deque()

        def work() -> None:
            while True:
                item = tasks.get()
                if item is None:
                    return
                try:
                    finished.put((item, run(item), None))
                except BaseException as e:  # handed to the walking thread, which raises it
                    finished.put((item, None, e))

        def dispatch(item: _Item) -> None:
            nonlocal inflight
            tasks.put(item)
            inflight += 1
            if len(workers) < min(MAX_FETCHES, inflight):
                t = threading.Thread(target=work, name=f"ostreepy-pull_{len(workers)}", daemon=True)
                t.start()
                workers.append(t)

        def give_back_sent() -> None:
            # the connection sent ahead on broke: every one outstanding there is asked again
            # by the workers, where errors, redirects and retries are dealt with; nothing more
            # is sent ahead
            nonlocal ahead, get_ahead, meta_inflight
            ahead, get_ahead = None, None
            for it in sent:
                meta_inflight += 1
                dispatch(it)
            sent.clear()

        def take(done: List[Tuple[_Item, object, Optional[BaseException]]]) -> None:
            nonlocal inflight, meta_inflight
            for item, result, exc in done:
                inflight -= 1
                if item[0] != "file":
                    meta_inflight -= 1
                if exc is not None:
                    raise exc
                handle(item, result)

        try:
            while meta_q or content_q or inflight or sent or unsure:
                if unsure and (len(unsure) >= settle_at or not (meta_q or sent)):
                    settle()
                # twice the pool: a worker finishing finds the next item already queued
                while inflight < 2 * MAX_FETCHES and (meta_q or content_q):
                    if not meta_q and pipelined and not (meta_inflight or sent) and inflight >= MAX_PIPELINES:
                        break  # each batch keeps its connection busy: a few are enough
                    if meta_q:
                        item = meta_q.popleft()
                        kind, csum = item[0], item[1]
                        # here already (most of a second pull's tree): read on this thread,
                        # as libostree scans it, not a hand-off to a worker and back per
                        # directory, which cost more in lock traffic than the read itself.
                        # Each syscall here lets a busy worker take the GIL, so whether it is
                        # here is answered from the files' directory listings when they have
                        # been read, and a dirtree in objects/ by opening it
                        if kind == "dirtree":
                            listed = presence.listed(csum, ObjectType.DIR_TREE)
                            entries = repo.load_loose_dirtree_entries(csum) if listed is not False else None
                            if (entries is None and listed is not False
                                    and repo.has_object(csum, ObjectType.DIR_TREE)):
                                entries = repo.load_dirtree_entries(csum)  # staged (a delta's) or in core.parent
                            if entries is not None:
                                handle(item, (entries, None))
                                continue
                        elif kind == "dirmeta":
                            listed = presence.listed(csum, ObjectType.DIR_META)
                            if listed or (listed is None and repo.has_object(csum, ObjectType.DIR_META)):
                                continue
                        elif not (inflight or meta_q or content_q or sent):
                            # the walk's only task (a commit: the first, or the next parent) is
                            # done on this thread, over the connection that fetched the summary,
                            # as there is nothing to overlap it with: no thread started and no
                            # second connection opened for it (a pull with nothing new starts none)
                            handle(item, run(item))
                            continue
                        if kind != "commit" and get_ahead is not None:
                            if ahead is None:
                                ahead = get_ahead()
                                if ahead is None:
                                    get_ahead = None
                            if ahead is not None:
                                if not ahead.room():
                                    meta_q.appendleft(item)  # once answers have made room
                                    break
                                try:
                                    ahead.send(_meta_path(csum, _META_TYPES[kind]))
                                    sent.append(item)
                                    continue
                                except AheadBroken:
                                    give_back_sent()
                        meta_inflight += 1
                    elif sent and (len(content_q) < HELD_CONTENT or inflight >= MAX_PIPELINES):
                        # the walk's answers come in on this thread: content waits for the
                        # walk's end, where workers would take turns at the GIL with it,
                        # unless there is so much of it (a first pull) that a few full
                        # batches are worth running beside the walk
                        break
                    elif sent:
                        item = ("file", content_q[0], tuple(content_q.popleft() for _ in range(MAX_BATCH)))
                    else:
                        # content goes in batches once the walk has found every dirtree: a
                        # task per object costs more in thread hand-offs than a link or a
                        # small fetch does. Not before: a dirtree queued behind batches
                        # would wait for them, and the walk (which feeds the pool) with it.
                        # The batch shrinks as the queue drains, so the last ones still
                        # spread over the pool.
                        spread = 2 * (MAX_PIPELINES if pipelined else MAX_FETCHES)
                        n = 1 if (meta_inflight or sent) else min(MAX_BATCH, max(1, len(content_q) // spread))
                        batch = tuple(content_q.popleft() for _ in range(n))
                        item = ("file", batch[0], batch)
                    dispatch(item)
                if sent:
                    assert ahead is not None
                    item = sent[0]
                    try:
                        data = ahead.receive(obj.MAX_METADATA_SIZE)
                    except AheadBroken:
                        give_back_sent()
                        continue
                    sent.popleft()
                    kind, csum, arg = item
                    got = self.take_fetched_meta(csum, _META_TYPES[kind], data)
                    if got is not None:
                        handle(item, (got, None))
                    done: List[Tuple[_Item, object, Optional[BaseException]]] = []
                    with contextlib.suppress(QueueEmpty):
                        while True:
                            done.append(finished.get_nowait())
                    take(done)
                    self._report("metadata")
                    continue
                if not inflight:
                    continue  # all of it was here: read inline, nothing to wait for
                done = [finished.get()]
                with contextlib.suppress(QueueEmpty):
                    while True:
                        done.append(finished.get_nowait())
                take(done)
                self._report("metadata" if (meta_q or meta_inflight) else "content")
        except BaseException:
            self._abort.set()
            raise
        finally:
            if ahead is not None:
                ahead.close()
            # with the abort set, what is still queued returns at once
            for _ in workers:
                tasks.put(None)
            for t in workers:
                t.join()


#: a walk task's kind -> the object type it fetches
_META_TYPES = {"dirtree": ObjectType.DIR_TREE, "dirmeta": ObjectType.DIR_META}


def _normpath(p: str) -> str:
    parts = [x for x in p.split("/") if x and x != "."]
    if ".." in parts:
        raise PullError(f"Invalid subpath {p!r}")
    return "/" + "/".join(parts) if parts else "/"


class _Spool:
    """A fetch's sink: in memory up to :data:`SPOOL_SIZE`, then an anonymous file under
    ``tmp/`` (what ``tempfile.SpooledTemporaryFile`` does, with the memory part at hand)."""

    def __init__(self, tmp_dir: str) -> None:
        self.mem = io.BytesIO()
        self.file: Optional[BinaryIO] = None
        self._dir = tmp_dir

    def write(self, data: bytes) -> int:
        if self.file is None:
            if self.mem.tell() + len(data) <= SPOOL_SIZE:
                return self.mem.write(data)
            import tempfile  # (and shutil, random with it) only for a large object: start-up time
            self.file = tempfile.TemporaryFile(dir=self._dir)
            self.file.write(self.mem.getvalue())
            self.mem = io.BytesIO()
        return self.file.write(data)

    def _f(self) -> BinaryIO:
        return self.file if self.file is not None else self.mem

    def read(self, n: int = -1) -> bytes:
        return self._f().read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f().seek(pos, whence)

    def tell(self) -> int:
        return self._f().tell()

    def truncate(self, size: Optional[int] = None) -> int:
        return self._f().truncate(size)

    def flush(self) -> None:
        self._f().flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _FileSink:
    """A fetched content object's sink: the file and, into an archive repository, the
    temporary path that becomes the object (None once adopted)."""

    __slots__ = ("f", "tmp")

    def __init__(self, f: BinaryIO, tmp: Optional[str]) -> None:
        self.f = f
        self.tmp = tmp

    def close(self) -> None:
        self.f.close()
        if self.tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)
            self.tmp = None


class _Aborted(Exception):
    """The pull is being aborted: a worker's batch stops (internal)."""


def _inflate_filez(data: bytes, checksum: str) -> tuple[obj.LightHeader, int, bytes] | None:
    return obj.inflate_filez_light(data, checksum, SPOOL_SIZE)


def _read_filez_header(f: object, checksum: str) -> Tuple[obj.LightHeader, int]:
    read = f.read  # type: ignore[attr-defined]
    prefix = read(8)
    if len(prefix) != 8:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: truncated header", checksum)
    hlen = int.from_bytes(prefix[:4], "big")
    if hlen > obj.MAX_METADATA_SIZE:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: header too large", checksum)
    hdata = read(hlen)
    if len(hdata) != hlen:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: truncated header", checksum)
    try:
        return obj.parse_zlib_header_light(hdata)
    except InvalidObjectError as e:
        raise CorruptObjectError(f"Corrupted archive file object {checksum}: {e}", checksum) from None


# ============================================================================ resolving refs


class _Counted:
    """The source's fetcher, counting what the summary fetches bring (a 304 brings nothing)."""

    def __init__(self, source: _Source) -> None:
        assert source.fetcher is not None
        self.f = source.fetcher
        self.source = source

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        return self.source.fetch_bytes(path, max_size)

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        n = self.f.fetch_to(path, sink, max_size)
        self.source._count(n)
        return n

    def fetch_conditional(self, path: str, max_size: int, etag: Optional[str], since: int) -> Conditional:
        cond = getattr(self.f, "fetch_conditional", None)
        if cond is None:
            return Conditional(self.fetch_bytes(path, max_size), False, None, 0)
        got: Conditional = cond(path, max_size, etag, since)
        self.source._count(len(got.data or b""))
        return got


def _fetch_summary(source: _Source, remote: Optional[RemoteOptions], repo: Optional[Repo] = None,
                   cache_dir: Optional[str] = None,
                   keys: Optional[trust.SignKeys] = None) -> Tuple[Optional[bytes], Optional[bytes]]:
    """summary and summary.sig (None where the remote has none), verified by the remote's
    policy, through the repository's summary cache (or ``cache_dir``'s) for a configured remote."""
    cache: Optional[SummaryCache] = None
    if (remote is not None and repo is not None and not remote.name.startswith("file://")
            and urlsplit(remote.url).scheme != "file" and SummaryCache.enabled(repo.path, cache_dir)):
        cache = SummaryCache(repo.path, remote.name, cache_dir)

    def verify(data: Optional[bytes], sig: Optional[bytes]) -> None:
        if remote is None:
            return
        if data is None:
            if remote.gpg_verify_summary:
                raise SignatureError("GPG verification enabled, but no summary found (use gpg-verify-summary=false"
                                     " in remote config to disable)")
            if remote.sign_verify_summary:
                # ostree's pull says it this way round: the summary.sig is what it looks for
                # (ostree-repo-pull.c, after the GPG checks); a .sig without its summary is
                # refused too, where ostree would go on with refs/heads unchecked
                if sig is None:
                    raise SignatureError("Signatures verification enabled, but no summary.sig found (use "
                                         "sign-verify-summary=false in remote config to disable)")
                raise SignatureError("Signature verification enabled, but no summary found (check that the"
                                     " configured URL in remote config is correct)")
        else:
            trust.verify_summary(remote, data, sig, repo=repo, keys=keys)

    try:
        return fetch_summary_pair(_Counted(source), cache, MAX_SUMMARY_SIZE, obj.MAX_METADATA_SIZE, verify)
    except FetchError as e:
        raise PullError(f"Fetching summary: {e}") from None


def _check_remote_mode(source: _Source) -> Optional[KeyFile]:
    """The remote's ``config``, refused unless it is an archive repository's; None when
    the server publishes none."""
    try:
        raw = source.fetch_bytes("config", obj.MAX_METADATA_SIZE)
    except NotFound:
        return None  # some servers publish no config; the objects are checked anyway
    try:
        cfg = KeyFile.parse(raw.decode("utf-8"))
    except (OstreeError, UnicodeDecodeError) as e:
        raise PullError(f"Parsing config: {e}") from None
    mode = cfg.get("core", "mode", "bare") or "bare"
    if mode not in ("archive", "archive-z2"):
        raise PullError(f'Can\'t pull from archives with mode "{mode}"')
    return cfg


def _resolve_refs(source: _Source, summary: Optional[Summary], wanted: Sequence[str],
                  puller: _Puller, collections: Mapping[str, str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for ref in wanted:
        if obj.is_checksum(ref):
            out[ref] = ref
            continue
        if "@" in ref:
            # REF@CHECKSUM (ostree pull's override-commit-ids): that commit, under that ref
            ref, _, override = ref.rpartition("@")
            validate_ref(ref)
            obj.validate_checksum(override)
            out[ref] = override
            continue
        validate_ref(ref)
        cid = collections.get(ref)
        if cid is not None:
            out[ref] = _resolve_collection_ref(source, summary, cid, ref, puller)
            continue
        if summary is not None:
            sref = summary.refs.get(ref)
            if sref is None:
                raise PullError(f"No such branch '{ref}' in repository summary")
            out[ref] = sref.checksum
            puller.commit_sizes[sref.checksum] = sref.size
            continue
        if source.local is not None:
            value = source.local.read_ref(ref)
            if value is None:
                raise PullError(f"Refspec '{ref}' not found")
            out[ref] = value
            continue
        try:
            text = source.fetch_bytes(f"refs/heads/{ref}", 4096)
        except NotFound as e:
            raise PullError(f"{e} (the remote has no summary, so its refs/heads/{ref} was asked for)") from None
        value = text.decode("utf-8", "replace").rstrip()  # g_strchomp
        if not obj.is_checksum(value):
            raise PullError(f"Fetching checksum for ref ((empty), {ref}): {_invalid_rev(value)}")
        out[ref] = value
    return out


def _summary_collection_id(summary: Optional[Summary]) -> Optional[str]:
    cid = summary.metadata.get("ostree.summary.collection-id") if summary is not None else None
    return cid.value if cid is not None and cid.type == "s" else None


def _resolve_collection_ref(source: _Source, summary: Optional[Summary], cid: str, ref: str,
                            puller: _Puller) -> str:
    """A collection–ref's commit, as lookup_commit_checksum_and_collection_from_summary:
    the summary's main refs when they are that collection's, else its collection map;
    without a summary, the source repository's collection–refs (its mirrors, its own
    refs under its ID, its remotes' refs under theirs)."""
    if summary is not None:
        sref = (summary.refs.get(ref) if _summary_collection_id(summary) == cid
                else summary.collection_refs().get((cid, ref)))
        if sref is None:
            raise PullError(f"No such branch ({cid}, {ref}) in repository summary")
        puller.commit_sizes[sref.checksum] = sref.size
        return sref.checksum
    if source.local is not None:
        value = source.local.list_collection_refs(cid).get((cid, ref))
        if value is None:
            raise PullError(f"Refspec ({cid}, {ref}) not found")
        return value
    try:
        text = source.fetch_bytes(f"refs/mirrors/{cid}/{ref}", 4096)
    except NotFound as e:
        raise PullError(f"{e} (the remote has no summary, so its refs/mirrors/{cid}/{ref} was asked for)") from None
    value = text.decode("utf-8", "replace").rstrip()
    if not obj.is_checksum(value):
        raise PullError(f"Fetching checksum for ref ({cid}, {ref}): {_invalid_rev(value)}")
    return value


def _invalid_rev(value: str) -> str:
    """ostree_validate_structureof_checksum_string's message: an HTML page served for a
    ref is cut to a checksum's length, its newlines made spaces."""
    if len(value) != 64:
        return "Invalid rev " + value[:64].replace("\n", " ")
    bad = next(c for c in value if c not in "0123456789abcdef")
    return f"Invalid character '{ord(bad)}' in rev '{value}'"


# ============================================================================ entry points


def _run(repo: Repo, source: _Source, remote: Optional[RemoteOptions], label: str, refs: Sequence[str], *,
         ref_prefix: Optional[str], mirror: bool, depth: int, commit_metadata_only: bool, subpaths: Sequence[str],
         localcache_repos: Sequence[Repo], timestamp_check: bool, dry_run: bool,
         progress: Optional[ProgressCallback], verify_bindings: bool = True,
         timestamp_check_from_rev: Optional[str] = None, disable_static_deltas: bool = False,
         require_static_deltas: bool = False, bareuseronly_files: bool = False,
         http_trusted: bool = False, summary_override: Optional[bytes] = None,
         cache_dir: Optional[str] = None, collections: Optional[Mapping[str, str]] = None) -> PullOutcome:
    collections = collections or {}
    start = time.monotonic()
    sign_keys = trust.remote_keys(remote) if remote is not None else None
    if timestamp_check and depth != 0:
        raise PullError("--timestamp-check cannot be used with --depth")
    puller = _Puller(repo, source, remote, localcache=localcache_repos, commit_only=commit_metadata_only,
                     subpaths=subpaths, depth=depth, dry_run=dry_run, progress=progress)
    puller.sign_keys = sign_keys
    summary_data: Optional[bytes] = None
    summary_sig: Optional[bytes] = None
    summary: Optional[Summary] = None
    indexed_deltas = False
    puller.verify_bareuseronly = bareuseronly_files
    puller.trusted_direct = (http_trusted and mirror and repo.mode is RepoMode.ARCHIVE
                             and not bareuseronly_files and source.fetcher is not None)
    if source.fetcher is not None:
        # as ostree: the summary is left alone when every ref asked for names its commit
        # and no static delta can be looked for except through the summary
        need_summary = not refs or not all(obj.is_checksum(r) or "@" in r for r in refs)
        deltas_off = (disable_static_deltas or repo.mode is RepoMode.ARCHIVE or commit_metadata_only
                      or (remote is not None and urlsplit(remote.url).scheme == "file" and not require_static_deltas))
        # a file:// remote is read as a repository of any mode (ostree's remote_repo_local)
        checked = source.local is not None
        if not need_summary and not deltas_off and not checked:
            config = _check_remote_mode(source)
            checked = True
            need_summary = config is None or not config.get_bool("core", "indexed-deltas", False)
            indexed_deltas = not need_summary
        if summary_override is not None:
            # from a metalink, which vouched for it by size and hash; ostree fetches no
            # summary.sig then, so a policy asking for one refuses it
            summary_data = summary_override
            if remote is not None:
                trust.verify_summary(remote, summary_data, None, repo=repo, keys=sign_keys)
        elif need_summary:
            # in ostree's order: summary.sig, summary, config
            summary_data, summary_sig = _fetch_summary(source, remote, repo, cache_dir, sign_keys)
        if not checked:
            _check_remote_mode(source)
        if summary_data is not None:
            summary = parse_summary_light(summary_data)
    wanted = list(refs)
    write_summary = False
    if not wanted:
        if source.local is not None and source.fetcher is None:
            # remote refs too, as ostree lists them: they fail as refs ("Invalid ref name
            # origin:main"), so a repository holding them is not copied half
            wanted = sorted(source.local.list_refs())
        elif mirror:
            if summary is None:
                raise PullError("Fetching all refs was requested in mirror mode, but remote repository does not"
                                " have a summary")
            wanted = sorted(summary.refs)
            write_summary = True
        elif remote is not None and remote.branches:
            wanted = list(remote.branches)
        else:
            raise PullError(f"No configured branches for remote {label}")
    commits = _resolve_refs(source, summary, wanted, puller, collections)
    puller.verify_bindings = verify_bindings
    for ref, csum in commits.items():
        if not obj.is_checksum(ref):
            puller.refs_of.setdefault(csum, []).append(ref)
            if ref in collections:
                puller.collection_of[csum] = collections[ref]
    if source.local is not None:
        puller.collection_id = source.local.collection_id
    elif summary is not None:
        cid = summary.metadata.get("ostree.summary.collection-id")
        puller.collection_id = cid.value if cid is not None and cid.type == "s" else None

    def refspec(ref: str) -> str:
        return f"{ref_prefix}:{ref}" if ref_prefix else ref

    # a mirror writes each ref as the collection–ref it is (ostree_repo_transaction_set_collection_ref):
    # refs/mirrors/ID/REF, or refs/heads when ID is none or this repository's own
    main_cid = _summary_collection_id(summary)
    mirror_cid: Dict[str, str] = {}
    if mirror:
        for ref in commits:
            ref_cid = collections.get(ref) or main_cid
            if not obj.is_checksum(ref) and ref_cid is not None and ref_cid != repo.collection_id:
                mirror_cid[ref] = ref_cid

    def read_target(ref: str) -> Optional[str]:
        if ref in mirror_cid:
            return repo.list_collection_refs(mirror_cid[ref]).get((mirror_cid[ref], ref))
        return repo.read_ref(refspec(ref))

    if timestamp_check:
        for ref, csum in commits.items():
            if obj.is_checksum(ref):
                continue
            old = repo.read_ref(refspec(ref)) or repo.resolve_rev(ref, allow_noent=True)
            if old is not None:
                puller.ts_floor[csum] = (old, repo.load_commit(old).timestamp)
    if timestamp_check_from_rev is not None:
        # libostree's timestamp-check-from-rev (what `admin upgrade` asks): every
        # commit pulled by ref must not be older than that local commit
        floor = repo.resolve_rev(timestamp_check_from_rev)
        assert floor is not None
        floor_ts = repo.load_commit(floor).timestamp
        for ref, csum in commits.items():
            puller.ts_floor.setdefault(csum, (floor, floor_ts))
    deltas = _delta_puller(repo, source, remote, summary, puller, disable=disable_static_deltas,
                           require=require_static_deltas, indexed=indexed_deltas)
    if puller.progress is not None:
        from ..progress import PullStarted
        puller.progress(PullStarted(label, tuple(commits.items())))

    with repo.locked():
        updates: List[Tuple[str, Optional[str], str]] = []  # (refspec, old, new)
        targets: List[str] = []
        with repo.transaction():
            fallbacks: list[str] = []
            if deltas is not None:
                for ref, csum in commits.items():
                    name = None if obj.is_checksum(ref) else ref
                    # initiate_request: the ref under the remote's name, or the local one
                    # of a pull without a remote name (pull-local)
                    current: Optional[str] = None
                    if name is not None:
                        current = repo.read_ref(f"{ref_prefix or label}:{name}" if ref_prefix or mirror
                                                else name)
                    deltas.pull_target(name, csum, current)
                puller.delta_targets.update(deltas.targets)
                # still missing once every delta has run (one delta's part may hold another's fallback)
                fallbacks = [c for c in deltas.fallbacks if not repo.has_object(c, ObjectType.FILE)]
            if not (dry_run and deltas is not None):
                # after the deltas: the walk checks their commits (partial), fetches their
                # fallbacks as loose objects and walks their parents, not their trees
                puller.walk(list(dict.fromkeys(commits.values())), fallbacks)
            for ref, csum in commits.items():
                if obj.is_checksum(ref):
                    continue
                old = read_target(ref)
                if old != csum:
                    updates.append((f"({mirror_cid[ref]}, {ref})" if ref in mirror_cid else refspec(ref),
                                    old, csum))
                    targets.append(ref)
            # a collection ref is written as it is set, not held back: those wait for the objects
            late = any(ref in mirror_cid for ref in targets)
            if not dry_run:
                puller._report("writing-refs", force=True)
                if not late:
                    # as libostree's pull (transaction_set_ref, then commit_transaction): the
                    # refs are held back to the end of the transaction that brought their
                    # objects, and written after its one syncfs and its renames; a second
                    # transaction for them would flush the whole file system again
                    for (spec, _, new), ref in zip(updates, targets):
                        repo.set_ref(spec, new)
        if not dry_run:
            if late:
                with repo.transaction():
                    for (spec, _, new), ref in zip(updates, targets):
                        if ref in mirror_cid:
                            repo.set_collection_ref(mirror_cid[ref], ref, new)
                        else:
                            repo.set_ref(spec, new)
            # after the refs, as libostree deletes the .commitpartial files after its
            # transaction: a pull stopped in between leaves a ref at a commit the next
            # pull walks again
            if not commit_metadata_only and not puller.subpaths:
                for c in puller.walked:
                    repo.mark_commit_partial(c, False)
            if write_summary and summary_data is not None:
                _replace_file(repo, "summary", summary_data)
                if summary_sig is not None:
                    _replace_file(repo, "summary.sig", summary_sig)
    st = puller.stats
    result = PullOutcome(
        remote=label, commits=commits, refs=tuple(updates), metadata_fetched=st.metadata_fetched,
        content_fetched=st.content_fetched, metadata_local=st.metadata_local, content_local=st.content_local,
        bytes_transferred=source.bytes, content_bytes_written=st.content_bytes_written,
        seconds=time.monotonic() - start, dry_run=dry_run, local_source=source.local is not None,
        deltas=deltas.totals if deltas is not None else None, detached_metadata_fetched=st.detached_fetched,
        delta_files_missing=deltas.missing if deltas is not None else 0)
    if puller.progress is not None:
        from ..progress import PullDone
        puller.progress(PullDone(result.status))
    return result


def _delta_puller(repo: Repo, source: _Source, remote: Optional[RemoteOptions], summary: Optional[Summary],
                  puller: _Puller, *, disable: bool, require: bool, indexed: bool = False) -> Optional[_Deltas]:
    """The static-delta side of a pull, or None when deltas are off: as libostree,
    for pull-local, a ``file://`` remote (objects are copied as they are), an
    archive repository and a commit-metadata-only pull, unless required."""
    if disable and require:
        raise PullError("--disable-static-deltas and --require-static-deltas are mutually exclusive")
    if source.fetcher is None or remote is None:
        return None
    if repo.mode is RepoMode.ARCHIVE:
        if require:
            raise PullError("Can't use static deltas in an archive repo")
        return None
    if disable or puller.commit_only or (urlsplit(remote.url).scheme == "file" and not require):
        return None

    def verify(checksum: str, data: bytes, detached: Optional[Mapping[str, Variant]]) -> None:
        # _verify_unwritten_commit: the commit a superblock carries is held to the same rules
        # (read as the walk reads one: no Commit built, attrs not imported)
        commit = _Commit(data)
        trust.verify_commit(remote, checksum, data, detached, repo=repo, keys=puller.sign_keys)
        if puller.verify_bindings:
            puller._check_bindings(checksum, commit, False)
        puller._check_timestamp(checksum, commit)

    def verify_superblock(data: bytes, signatures: Mapping[str, Variant]) -> None:
        trust.verify_static_delta(remote, data, signatures, keys=puller.sign_keys)

    metadata: Optional[Mapping[str, Union[Variant, LightVariant]]] = (
        summary.metadata if summary is not None
        # the summary was left alone: the remote's config said its deltas are indexed (delta-indexes/)
        else {INDEXED_DELTAS: gvariant.LightVariant("b", True)} if indexed else None)

    def make(fetcher: Fetcher) -> DeltaPuller:
        from .deltas.fetch import DeltaPuller
        # (the summary as the pull read it, its values LightVariants: read as Variants are)
        return DeltaPuller(repo, fetcher, require=require, dry_run=puller.dry_run,
                           summary_metadata=metadata,
                           verify_commit=verify, verify_superblock=verify_superblock, progress=puller.progress,
                           count_bytes=source._count)

    assert source.content_fetcher is not None
    return _Deltas(repo, source.content_fetcher, make, metadata, eager=require or puller.dry_run)


class _Answered:
    """A fetcher that answers one path with bytes already fetched (once), and asks its
    fetcher for everything else: what the probe of :class:`_Deltas` found is not fetched twice."""

    def __init__(self, fetcher: Fetcher, path: str, data: bytes) -> None:
        self._fetcher = fetcher
        self._answer: Optional[Tuple[str, bytes]] = (path, data)

    def fetch_bytes(self, path: str, max_size: int) -> bytes:
        answer = self._answer
        if answer is not None and answer[0] == path and len(answer[1]) <= max_size:
            self._answer = None
            return answer[1]
        return self._fetcher.fetch_bytes(path, max_size)

    def fetch_to(self, path: str, sink: BinaryIO, max_size: int) -> int:
        return self._fetcher.fetch_to(path, sink, max_size)

    def close(self) -> None:
        pass  # the pull's fetcher, closed by the pull


class _Deltas:
    """The pull's :class:`~ostreepy.remote.deltas.fetch.DeltaPuller`, made by ``make`` when
    a delta may be there. A summary that lists deltas, or a pull that requires them (or a dry
    run of them), makes it at once. Otherwise the first request it would make for a commit is
    made here (libostree's initiate_request: the commit's ``delta-indexes/`` file where the
    deltas are indexed; else, unless the commit is here complete, the superblock of a delta
    from the ref's commit when that is complete, or from scratch): not there, the pull goes
    on without a delta and without importing the deltas' modules; there, the DeltaPuller is
    made and runs from that answer on, as it would have."""

    def __init__(self, repo: Repo, fetcher: Fetcher, make: Callable[[Fetcher], DeltaPuller],
                 metadata: Optional[Mapping[str, Union[Variant, LightVariant]]], *, eager: bool) -> None:
        self._repo = repo
        self._fetcher = fetcher
        self._make = make
        iv = (metadata or {}).get(INDEXED_DELTAS)
        self._indexed = iv is not None and iv.type == "b" and bool(iv.value)
        self.puller: Optional[DeltaPuller] = None
        if eager or SUMMARY_STATIC_DELTAS in (metadata or {}):
            self.puller = make(fetcher)
        #: delta-indexes/ files and superblocks asked for here and not found
        self.missing = 0

    def _complete(self, checksum: str) -> bool:
        return self._repo.has_object(checksum, ObjectType.COMMIT) and not self._repo.commit_is_partial(checksum)

    def pull_target(self, ref: Optional[str], to_checksum: str, current: Optional[str]) -> None:
        """DeltaPuller.pull_target (``current``: the commit the ref is at here)."""
        if self.puller is None:
            if self._indexed:
                path, max_size = path_base("delta-indexes/", None, to_checksum) + ".index", obj.MAX_METADATA_SIZE
            elif self._complete(to_checksum):
                return
            else:
                frm = current if current is not None and self._complete(current) else None
                # OSTREE_MAX_METADATA_SIZE, as DeltaPuller (start_fetch_delta_superblock)
                path, max_size = path_base("deltas/", frm, to_checksum) + "/superblock", obj.MAX_METADATA_SIZE
            try:
                data = self._fetcher.fetch_bytes(path, max_size)
            except NotFound:
                self.missing += 1
                return
            self.puller = self._make(_Answered(self._fetcher, path, data))
        self.puller.pull_target(ref, to_checksum, current)

    @property
    def targets(self) -> List[str]:
        return self.puller.targets if self.puller is not None else []

    @property
    def fallbacks(self) -> Sequence[str]:
        return list(self.puller.fallbacks) if self.puller is not None else []

    @property
    def totals(self) -> Optional[DeltaCounts]:
        return self.puller.plain_totals if self.puller is not None else None


def _replace_file(repo: Repo, name: str, data: bytes) -> None:
    tmp = repo.new_tmp_path()
    with open(tmp, "wb") as f:
        f.write(data)
        if repo.fsync:
            f.flush()
            os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.rename(tmp, os.path.join(repo.path, name))


def pull_remote(repo: Repo, remote: Union[str, Remote], refs_or_checksums: Sequence[str] = (), *,
                mirror: bool = False, depth: int = 0, commit_metadata_only: bool = False,
                subpaths: Sequence[str] = (), localcache_repos: Sequence[Union[str, Repo]] = (),
                timestamp_check: bool = False, dry_run: bool = False, disable_static_deltas: bool = False,
                require_static_deltas: bool = False, progress: Optional[ProgressCallback] = None,
                fetcher: Optional[Fetcher] = None, disable_verify_bindings: bool = False,
                timestamp_check_from_rev: Optional[str] = None,
                http_headers: Sequence[Tuple[str, str]] = (),
                append_user_agent: Optional[str] = None, url_override: Optional[str] = None,
                bareuseronly_files: bool = False, http_trusted: bool = False,
                n_network_retries: Optional[int] = None, untrusted: bool = False,
                cache_dir: Optional[str] = None,
                collection_refs: Sequence[Tuple[str, str, str]] = ()) -> RepoPullResult:
    """Pull ``refs_or_checksums`` (refs of the remote, commit checksums, or
    ``REF@CHECKSUM`` for that commit under that ref) from
    ``remote`` (a name configured in ``repo``, or a :class:`Remote`) into
    ``repo``, as ``ostree pull``: refs land in ``refs/remotes/REMOTE/REF``, or
    ``refs/heads/REF`` with ``mirror`` (which with no refs pulls every ref of the
    summary and copies the summary). ``depth`` parents are pulled too (-1: all).
    ``fetcher`` replaces the one the remote's URL would get (tests, proxies).
    A commit bound to other refs (``ostree.ref-binding``) is refused unless
    ``disable_verify_bindings``. ``timestamp_check_from_rev`` (a local commit)
    refuses any pulled commit older than it, as ``ostree admin upgrade`` asks. A static delta
    the remote offers (in its summary or ``delta-indexes/``) is used when one fits, from the
    commit the ref has here or from scratch (see :mod:`ostreepy.remote.deltas.fetch`), unless
    ``disable_static_deltas``; ``require_static_deltas`` makes a missing delta an error, and
    ``dry_run`` (only with it) fetches the superblocks and reports their sizes in
    ``RepoPullResult.deltas``. ``http_headers`` go with every HTTP request and
    ``append_user_agent`` after the User-Agent (``ostree pull --http-header``,
    ``--append-user-agent``). ``url_override`` replaces the remote's URL and contenturl
    (``--url``; not for a metalink remote, whose metalink still decides). ``bareuseronly_files``
    refuses content a bare-user-only repository could not hold (setuid, world-writable);
    ``http_trusted`` stores a mirror's ``.filez`` objects unverified into an archive repository
    (``--http-trusted``; a pull into any other mode verifies all the same). A ``file://``
    remote that is not an archive repository is read as the repository it is, as ostree's
    ``remote_repo_local`` reads any file:// remote (unless ``require_static_deltas`` asks for
    its deltas); unlike ostree, every object of a file:// remote is verified as it is copied
    (``untrusted`` is then what always happens, and is accepted for ostree's sake).
    ``cache_dir`` keeps the summary cache in ``CACHE_DIR/summaries`` (``--cache-dir``).
    ``collection_refs`` (libostree's ``collection-refs`` option: (collection ID, ref, commit or
    "")) are pulled as those collection–refs, resolved in the summary's collection map when
    they are not its main collection's; with ``mirror`` they land in ``refs/mirrors/ID/REF``."""
    return pull_remote_outcome(
        repo, remote, refs_or_checksums,
        mirror=mirror, depth=depth, commit_metadata_only=commit_metadata_only, subpaths=subpaths,
        localcache_repos=localcache_repos, timestamp_check=timestamp_check, dry_run=dry_run,
        disable_static_deltas=disable_static_deltas, require_static_deltas=require_static_deltas,
        progress=progress, fetcher=fetcher, disable_verify_bindings=disable_verify_bindings,
        timestamp_check_from_rev=timestamp_check_from_rev, http_headers=http_headers,
        append_user_agent=append_user_agent, url_override=url_override,
        bareuseronly_files=bareuseronly_files, http_trusted=http_trusted,
        n_network_retries=n_network_retries, untrusted=untrusted, cache_dir=cache_dir,
        collection_refs=collection_refs).value()


def pull_remote_outcome(repo: Repo, remote: Union[str, RemoteOptions], refs_or_checksums: Sequence[str] = (), *,
                        mirror: bool = False, depth: int = 0, commit_metadata_only: bool = False,
                        subpaths: Sequence[str] = (), localcache_repos: Sequence[Union[str, Repo]] = (),
                        timestamp_check: bool = False, dry_run: bool = False, disable_static_deltas: bool = False,
                        require_static_deltas: bool = False, progress: Optional[ProgressCallback] = None,
                        fetcher: Optional[Fetcher] = None, disable_verify_bindings: bool = False,
                        timestamp_check_from_rev: Optional[str] = None,
                        http_headers: Sequence[Tuple[str, str]] = (),
                        append_user_agent: Optional[str] = None, url_override: Optional[str] = None,
                        bareuseronly_files: bool = False, http_trusted: bool = False,
                        n_network_retries: Optional[int] = None, untrusted: bool = False,
                        cache_dir: Optional[str] = None,
                        collection_refs: Sequence[Tuple[str, str, str]] = ()) -> PullOutcome:
    """:func:`pull_remote`'s pull, its outcome in a plain class (:class:`PullOutcome`, whose
    ``value()`` is the RepoPullResult): for the command line, which prints it and builds no
    attrs value (none of the pull's values are built, and attrs is not imported)."""
    collections: Dict[str, str] = {}
    if collection_refs:
        wanted_refs: List[str] = list(refs_or_checksums)
        for cid, ref, csum in collection_refs:
            validate_collection_id(cid)
            collections[ref] = cid
            wanted_refs.append(f"{ref}@{csum}" if csum else ref)
        refs_or_checksums = wanted_refs
    rem: RemoteOptions = (load_remote_fields(repo, remote, require_url=False) if isinstance(remote, str)
                          else remote)
    _check_fetchable(rem)
    metalink = rem.option("metalink")
    # _ostree_repo_remote_new_fetcher: REPO/REMOTE.cookies.txt when it is a regular file
    jar: Optional[str] = jar_path(repo.path, rem.name)
    if not os.path.isfile(jar):  # type: ignore[arg-type]
        jar = None
    summary_override: Optional[Tuple[bytes, str]] = None
    if metalink and fetcher is None:
        # the metalink names where the summary is; the repository is the folder it is in
        from .metalink import metalink_summary  # xml.parsers.expat, for the remotes that have one
        summary_override = metalink_summary(rem, metalink, max_size=obj.MAX_METADATA_SIZE,
                                            extra_headers=http_headers, append_user_agent=append_user_agent,
                                            cookie_jar=jar)
        rem = RemoteFields(rem.name, summary_override[1], rem.options, rem.source)
    elif url_override:
        rem = RemoteFields(rem.name, url_override, tuple((k, v) for k, v in rem.options if k != "contenturl"),
                           rem.source)
    elif not rem.url:
        raise PullError(f'No "url" option in remote "{rem.name}"')
    own_fetcher = fetcher is None
    f = fetcher if fetcher is not None else fetcher_for_remote(
        rem, extra_headers=http_headers, append_user_agent=append_user_agent, cookie_jar=jar,
        n_network_retries=n_network_retries)
    content_url = rem.option("contenturl") if own_fetcher else None
    cf: Optional[Fetcher] = None
    caches: List[Repo] = []
    local: Optional[Repo] = None
    try:
        where = urlsplit(rem.url)
        if own_fetcher and where.scheme == "file" and not require_static_deltas:
            candidate = Repo.open(unquote(where.path))
            if candidate.mode is RepoMode.ARCHIVE:
                if collections and not os.path.exists(os.path.join(candidate.path, "summary")):
                    # ostree reads any file:// remote as a repository: without a summary its
                    # collection–refs are its refs/mirrors, own and remotes' refs
                    refs_or_checksums = [_pin_collection_ref(candidate, r, collections) for r in refs_or_checksums]
                candidate.close()  # read over its files, as any archive remote
            else:
                local = candidate
        if content_url:
            cf = fetcher_for_remote(rem, url=content_url, extra_headers=http_headers,
                                    append_user_agent=append_user_agent, cookie_jar=jar,
                                    n_network_retries=n_network_retries)
        for c in localcache_repos:
            caches.append(c if isinstance(c, Repo) else Repo.open(c))
        return _run(repo, _Source(fetcher=f, content_fetcher=cf, local=local, trusted=False), rem,
                    rem.name, refs_or_checksums,
                    summary_override=summary_override[0] if summary_override is not None else None,
                    bareuseronly_files=bareuseronly_files, http_trusted=http_trusted, cache_dir=cache_dir,
                    ref_prefix=None if mirror else rem.name, mirror=mirror, depth=depth,
                    commit_metadata_only=commit_metadata_only, subpaths=subpaths, localcache_repos=caches,
                    timestamp_check=timestamp_check, dry_run=dry_run, progress=progress,
                    verify_bindings=not disable_verify_bindings,
                    timestamp_check_from_rev=timestamp_check_from_rev, collections=collections,
                    disable_static_deltas=disable_static_deltas, require_static_deltas=require_static_deltas)
    finally:
        for c, given in zip(caches, localcache_repos):
            if not isinstance(given, Repo):
                c.close()
        if own_fetcher:
            f.close()
        if cf is not None:
            cf.close()
        if local is not None:
            local.close()


def _pin_collection_ref(src: Repo, ref: str, collections: Mapping[str, str]) -> str:
    cid = collections.get(ref)
    if cid is None or "@" in ref:
        return ref
    value = src.list_collection_refs(cid).get((cid, ref))
    if value is None:
        raise PullError(f"Refspec ({cid}, {ref}) not found")
    return f"{ref}@{value}"


def _check_fetchable(rem: RemoteOptions) -> None:
    """The remote options that stop a pull before anything is fetched, with ostree's words."""
    unconfigured = rem.option("unconfigured-state")
    if unconfigured:
        raise PullError(f"remote unconfigured-state: {unconfigured}")
    backend = rem.option("custom-backend")
    if backend:
        raise PullError(f"Cannot fetch via libostree - remote '{rem.name}' uses custom backend '{backend}'")


def _verify_local_summary(src: Repo, verifier: RemoteOptions, repo: Repo) -> None:
    def read(name: str) -> Optional[bytes]:
        try:
            with open(os.path.join(src.path, name), "rb") as f:
                return f.read(MAX_SUMMARY_SIZE + 1)
        except FileNotFoundError:
            return None
    data = read("summary")
    if data is None:
        raise SignatureError("GPG verification enabled, but no summary found (use gpg-verify-summary=false"
                             " in remote config to disable)")
    trust.verify_summary(verifier, data, read("summary.sig"), repo=repo)


def pull_local(repo: Repo, src_repo: Union[str, Repo], refs: Sequence[str] = (), *, untrusted: bool = False,
               remote: Optional[str] = None, depth: int = 0, commit_metadata_only: bool = False,
               progress: Optional[ProgressCallback] = None,
               disable_verify_bindings: bool = False, bareuseronly_files: bool = False,
               gpg_verify: bool = False, gpg_verify_summary: bool = False,
               require_static_deltas: bool = False) -> RepoPullResult:
    """Copy ``refs`` (all of the source's own refs when empty) and their commits
    from the repository at ``src_repo`` into ``repo``, as ``ostree pull-local``:
    refs land in ``refs/heads/REF``, or ``refs/remotes/REMOTE/REF`` with
    ``remote``. Objects are copied trusted (hard-linked when the modes match)
    unless ``untrusted``, which verifies every one. ``bareuseronly_files`` refuses content a
    bare-user-only repository could not hold. ``gpg_verify`` checks each commit's signatures
    against ``remote``'s keyring and trust settings, as ``pull-local --gpg-verify --remote``.
    ``gpg_verify_summary`` requires the source's ``summary`` signed by the remote's keys
    (its ``summary.sig``), as ostree's pull through file:// requires it.
    ``require_static_deltas`` reads the source as a ``file://`` remote instead, through its
    static deltas (none for a commit is an error), as libostree then does: the deltas' objects,
    and their fallbacks fetched as an archive remote's, all verified."""
    if remote is not None:
        from ..store.refs import validate_remote_name
        validate_remote_name(remote)
    verifier: Optional[RemoteFields] = None
    if gpg_verify or gpg_verify_summary:
        if remote is None:
            raise PullError("Must specify remote name to enable gpg verification")
        verifier = load_remote_fields(repo, remote, require_url=False)
        if gpg_verify:
            verifier = RemoteFields(verifier.name, verifier.url, (("gpg-verify", "true"),) + verifier.options,
                                    verifier.source)
        if gpg_verify_summary:
            verifier = RemoteFields(verifier.name, verifier.url,
                                    (("gpg-verify-summary", "true"),) + verifier.options, verifier.source)
    src = src_repo if isinstance(src_repo, Repo) else Repo.open(src_repo)
    try:
        if gpg_verify_summary:
            assert verifier is not None
            _verify_local_summary(src, verifier, repo)
        for ref in refs:
            if parse_refspec(ref)[0] is not None:
                raise PullError(f"Invalid ref {ref!r} for pull-local: a remote ref")
        if require_static_deltas:
            return _pull_local_deltas(repo, src, refs, verifier, remote, depth=depth,
                                      commit_metadata_only=commit_metadata_only, progress=progress,
                                      verify_bindings=not disable_verify_bindings,
                                      bareuseronly_files=bareuseronly_files).value()
        return _run(repo, _Source(local=src, trusted=not untrusted), verifier, src.path, refs, ref_prefix=remote,
                    mirror=False, depth=depth, commit_metadata_only=commit_metadata_only, subpaths=(),
                    localcache_repos=(), timestamp_check=False, dry_run=False, progress=progress,
                    verify_bindings=not disable_verify_bindings, bareuseronly_files=bareuseronly_files).value()
    finally:
        if not isinstance(src_repo, Repo):
            src.close()


def _pull_local_deltas(repo: Repo, src: Repo, refs: Sequence[str], verifier: Optional[RemoteFields],
                       remote: Optional[str], *, depth: int, commit_metadata_only: bool,
                       progress: Optional[ProgressCallback], verify_bindings: bool,
                       bareuseronly_files: bool) -> PullOutcome:
    # ostree-repo-pull.c keeps remote_repo_local unset when deltas are required, so the
    # source is read over its file:// URL; pull-local turns sign-verify off, and
    # gpg-verify on only when asked
    url = "file://" + quote(os.path.abspath(src.path))
    if verifier is not None:
        rem = RemoteFields(verifier.name, url, tuple(
            (k, v) for k, v in verifier.options if not k.startswith("sign-verify")), verifier.source)
    else:
        rem = RemoteFields(url, url, (("gpg-verify", "false"),), None)
    wanted = list(refs) or sorted(src.list_refs())
    return _run(repo, _Source(fetcher=FileFetcher(src.path)), rem, src.path, wanted, ref_prefix=remote,
                mirror=False, depth=depth, commit_metadata_only=commit_metadata_only, subpaths=(),
                localcache_repos=(), timestamp_check=False, dry_run=False, progress=progress,
                verify_bindings=verify_bindings, bareuseronly_files=bareuseronly_files,
                require_static_deltas=True)


_DEFERRED.hide()


def __getattr__(name: str) -> type:
    return _DEFERRED.build(name)
