"""Finding and pulling collection–refs from wherever they are (``ostree find-remotes``),
as libostree's ``ostree_repo_find_remotes_async`` and
``ostree_repo_pull_from_remotes_async`` do.

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
* :func:`pull_from_remotes` pulls each candidate's refs in priority order, skipping refs
  already pulled; a ref no candidate delivered makes it fail, after the others are in.
  As libostree, commits are GPG-verified with the keyring of the remote the candidate
  stands for, and the summary signature is not asked for.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import attrs

from ..errors import OstreeError
from ..progress import ProgressCallback
from ..store import objects as obj
from ..store.objects import Commit, ObjectType
from ..store.refs import validate_collection_id, validate_ref
from ..store.repo import Repo
from .config import Remote
from .summary import Summary, SummaryRef, parse_summary

__all__ = ["CollectionRef", "FinderResult", "Finder", "FindRemotesError", "find_remotes",
           "latest_results", "pull_from_remotes", "finders_by_name"]


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


def finders_by_name(names: Sequence[str], cache_dir: Optional[str] = None) -> List[Finder]:
    """The finders ``--finders=config,mount`` names, checked as ot-builtin-find-remotes.c
    checks them."""
    from .finder_config import ConfigFinder
    from .finder_mount import MountFinder
    if not names or names == [""]:
        raise FindRemotesError("List of finders in --finders option must not be empty")
    out: List[Finder] = []
    seen = set()
    for n in names:
        if n not in ("config", "lan", "mount") or n in seen:
            raise FindRemotesError(f"Unknown or duplicate finder type given in --finders option: ‘{n}’")
        seen.add(n)
        if n == "lan":
            raise FindRemotesError("LAN repo finder requested but ostree was compiled without Avahi support")
        out.append(ConfigFinder(cache_dir) if n == "config" else MountFinder())
    return out


def default_finders(repo: Repo, cache_dir: Optional[str] = None) -> List[Finder]:
    """The repository's ``core.default-repo-finders`` (default: config and mount; lan is
    not built, so it is left out as an ostree without Avahi leaves it out)."""
    from .finder_config import ConfigFinder
    from .finder_mount import MountFinder
    raw = repo.config.get("core", "default-repo-finders")
    names = [n for n in (raw or "config;mount").split(";") if n]
    return [ConfigFinder(cache_dir) if n == "config" else MountFinder() for n in names if n in ("config", "mount")]


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
    for cand, summary in zip(candidates, summaries):
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


# ---------------------------------------------------------------- I/O over it

def _fetch_commit_timestamp(repo: Repo, checksum: str, cand: FinderResult) -> Optional[int]:
    if repo.has_object(checksum, ObjectType.COMMIT):
        return repo.load_commit(checksum).timestamp
    from .fetcher import FetchError, fetcher_for_remote
    f = fetcher_for_remote(cand.remote)
    try:
        data = f.fetch_bytes(f"objects/{checksum[:2]}/{checksum[2:]}.commit", obj.MAX_METADATA_SIZE)
    except (FetchError, OstreeError):
        return None
    finally:
        f.close()
    return Commit.parse(data).timestamp


def find_remotes(repo: Repo, refs: Sequence[CollectionRef], finders: Optional[Sequence[Finder]] = None,
                 cache_dir: Optional[str] = None) -> List[FinderResult]:
    """Where ``refs`` can be pulled from, newest first and in priority order (see the module
    docstring); ``finders`` default to the repository's ``core.default-repo-finders``."""
    from .listing import fetch_remote_summary
    if not refs:
        raise FindRemotesError("At least one COLLECTION-ID REF pair must be specified")
    candidates: List[FinderResult] = []
    for f in (finders if finders is not None else default_finders(repo, cache_dir)):
        candidates.extend(sorted(f.resolve(repo, refs), key=result_sort_key))
    summaries: List[Optional[Summary]] = []
    for cand in candidates:
        try:
            fetched = fetch_remote_summary(repo, cand.remote, cache_dir)
            summaries.append(parse_summary(fetched.data) if fetched.data is not None else None)
        except OstreeError:
            summaries.append(None)  # as libostree: a remote whose summary fails is left out
    return latest_results(candidates, summaries, refs,
                          lambda c, cand: _fetch_commit_timestamp(repo, c, cand))


def pull_from_remotes(repo: Repo, results: Sequence[FinderResult], *, mirror: bool = False,
                      progress: Optional[ProgressCallback] = None) -> int:
    """Pull every ref the results name, each from the first result (in their order) that has
    it; returns how many refs were pulled. :class:`FindRemotesError` names the refs no result
    delivered (the others stay pulled)."""
    from .pull import pull_remote
    pulled: Dict[CollectionRef, bool] = {}
    errors: List[str] = []
    for result in results:
        todo = [(ref, c) for ref, c in result.ref_to_checksum.items() if c is not None and not pulled.get(ref)]
        if not todo:
            continue
        # libostree: gpg-verify on, the summary's signature not asked for, no ed25519 checks
        opts = tuple((k, v) for k, v in result.remote.options
                     if k not in ("gpg-verify", "gpg-verify-summary", "sign-verify", "sign-verify-summary"))
        remote = attrs.evolve(result.remote, options=(("gpg-verify", "true"), ("gpg-verify-summary", "false"))
                              + opts)
        try:
            pull_remote(repo, remote, mirror=mirror, progress=progress, untrusted=True,
                        collection_refs=[(ref.collection_id, ref.ref_name, c) for ref, c in todo])
            ok = True
        except OstreeError as e:
            # as libostree: the next result may have these refs too
            errors.append(f"{result.name}: {e}")
            ok = False
        for ref, _ in todo:
            pulled[ref] = ok
    missing = [str(ref) for ref, ok in pulled.items() if not ok]
    if missing:
        raise FindRemotesError("Failed to pull some refs from the remotes: " + ", ".join(missing)
                               + "".join(f"\n  {e}" for e in errors))
    return len(pulled)


def same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
