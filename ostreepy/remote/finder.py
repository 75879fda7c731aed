"""Where collection–refs are: the finders' common types and the pure choice among
their candidates (the part of libostree's ``ostree_repo_find_remotes_async`` that
needs no I/O); :mod:`.p2p` fetches and pulls over it.

Design:

* A *finder* (:class:`Finder`) turns the wanted collection–refs into candidate
  :class:`FinderResult` s: a remote to pull from, with the commit it claims for each
  ref. :mod:`.finder_config` reads the configured remotes, :mod:`.finder_mount` the
  repositories on mounted volumes (``create-usb``'s layout). ostree's third, the LAN
  (Avahi/DNS-SD) finder, is not built: ``--finders=lan`` is refused as an ostree
  built without Avahi refuses it.
* The finders' claims are not trusted: each candidate's summary is fetched (through
  the remote's own signature policy) and read for the wanted refs, in its main list
  under its ``ostree.summary.collection-id`` and in its ``ostree.summary.collection-map``.
  :func:`latest_results` is the pure part: given what each summary says, every ref goes
  to the candidates that have its newest commit (by the summary's
  ``ostree.commit.timestamp``, else the commit's own), and a candidate with none of the
  newest is dropped, so an out-of-date mirror is never pulled from.
* :func:`ostreepy.remote.p2p.pull_from_remotes` pulls each candidate's refs in priority order, skipping refs
  already pulled; a ref no candidate delivered makes it fail, after the others are in.
  As libostree, commits are GPG-verified with the keyring of the remote the candidate
  stands for, and the summary signature is not asked for.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import attrs

from ..errors import OstreeError
from ..store.refs import validate_collection_id, validate_ref
from ..store.repo import Repo
from .config import Remote
from .summary import Summary, SummaryRef

__all__ = ["CollectionRef", "FinderResult", "Finder", "FindRemotesError", "latest_results", "result_sort_key",
           "summary_refs"]


class FindRemotesError(OstreeError):
    """A finder list that cannot be used, or refs that could not be pulled from any remote."""


@attrs.frozen(order=True)
class CollectionRef:
    """A ref within a collection: (collection ID, ref name)."""

    collection_id: str
    ref_name: str

    def __str__(self) -> str:
        return f"({self.collection_id}, {self.ref_name})"

    @classmethod
    def checked(cls, collection_id: str, ref_name: str) -> "CollectionRef":
        return cls(validate_collection_id(collection_id), validate_ref(ref_name))


@attrs.frozen
class FinderResult:
    """One place to pull from: ``remote`` (URL and the keyring remote whose name its refs
    and keys go by), ``name`` (ostree's remote name for it), the finder that found it
    (ostree's type name, as ``find-remotes`` prints it), its priority (lower first), and
    each wanted ref's commit there (None: not there, or not the newest)."""

    remote: Remote
    name: str
    finder: str
    priority: int
    ref_to_checksum: Mapping[CollectionRef, Optional[str]]
    summary_last_modified: int = 0

    @property
    def keyring(self) -> str:
        return self.remote.keyring

    def n_refs(self) -> int:
        return sum(1 for c in self.ref_to_checksum.values() if c is not None)


def result_sort_key(r: FinderResult) -> Tuple[int, int, int, bytes]:
    """ostree_repo_finder_result_compare's order (every part ascending, as there)."""
    return (r.priority, r.summary_last_modified, r.n_refs(), r.name.encode())


class Finder(Protocol):
    """Something that knows where collection–refs may be."""

    name: str

    def resolve(self, repo: Repo, refs: Sequence[CollectionRef]) -> List[FinderResult]: ...


# ---------------------------------------------------------------- the pure part

@attrs.frozen
class _Seen:
    """What one candidate's summary says of the wanted refs."""

    refs: Dict[CollectionRef, SummaryRef]
    last_modified: int


def summary_refs(summary: Summary, wanted: Sequence[CollectionRef]) -> Dict[CollectionRef, SummaryRef]:
    """The wanted refs a summary lists: its main refs under its collection ID, then its
    collection map (find_remotes_process_refs)."""
    out: Dict[CollectionRef, SummaryRef] = {}
    want = set(wanted)
    cid = summary.metadata.get("ostree.summary.collection-id")
    if cid is not None and cid.type == "s":
        for name, sref in summary.refs.items():
            cref = CollectionRef(cid.value, name)
            if cref in want:
                out[cref] = sref
    for (c, name), sref in summary.collection_refs().items():
        cref = CollectionRef(c, name)
        if cref in want:
            out[cref] = sref
    return out


def _last_modified(summary: Summary) -> int:
    from ..store.gvariant import bswap64
    v = summary.metadata.get("ostree.summary.last-modified")
    return bswap64(v.value) if v is not None and v.type == "t" else 0


def latest_results(candidates: Sequence[FinderResult], summaries: Sequence[Optional[Summary]],
                   refs: Sequence[CollectionRef],
                   commit_timestamp: Callable[[str, FinderResult], Optional[int]]) -> List[FinderResult]:
    """The candidates with each ref's newest commit, in priority order: ``summaries[i]``
    is what candidate ``i`` publishes (None: it could not be fetched, so it is dropped);
    ``commit_timestamp(checksum, candidate)`` gives a commit's time when no summary
    lists it (None: unknown, 0). A candidate whose summary disagrees with another on a
    commit's size or time is dropped, as libostree drops it."""
    seen: List[Optional[_Seen]] = []
    sizes: Dict[str, int] = {}
    times: Dict[str, int] = {}
    for summary in summaries:
        if summary is None:
            seen.append(None)
            continue
        found = summary_refs(summary, refs)
        ok = True
        for sref in found.values():
            if sizes.setdefault(sref.checksum, sref.size) != sref.size:
                ok = False
            ts = sref.timestamp or 0
            if ts and times.get(sref.checksum, 0) not in (0, ts):
                ok = False
            elif ts:
                times[sref.checksum] = ts
        seen.append(_Seen(found, _last_modified(summary)) if ok else None)
    for i, s in enumerate(seen):
        if s is None:
            continue
        for sref in s.refs.values():
            if not times.get(sref.checksum):
                times[sref.checksum] = commit_timestamp(sref.checksum, candidates[i]) or 0
    latest: Dict[CollectionRef, str] = {}
    for ref in refs:
        best: Optional[str] = None
        for s in seen:
            if s is None or ref not in s.refs:
                continue
            c = s.refs[ref].checksum
            if best is None or times.get(c, 0) > times.get(best, 0):
                best = c
        if best is not None:
            latest[ref] = best
    out: List[FinderResult] = []
    for cand, s in zip(candidates, seen):
        if s is None:
            continue
        mapping = {ref: (latest.get(ref) if ref in s.refs and s.refs[ref].checksum == latest.get(ref) else None)
                   for ref in refs}
        if not any(mapping.values()):
            continue
        out.append(attrs.evolve(cand, ref_to_checksum=mapping, summary_last_modified=s.last_modified))
    out.sort(key=result_sort_key)
    return out
