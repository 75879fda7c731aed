"""Finding and pulling collection–refs (``ostree find-remotes [--pull]``), as
libostree's ``ostree_repo_find_remotes_async`` and ``ostree_repo_pull_from_remotes_async``:
the I/O around :func:`ostreepy.remote.finder.latest_results`.

Design: the finders (:mod:`.finder_config`, :mod:`.finder_mount`; a repository's
default is its ``core.default-repo-finders``, else both) give candidates; each
candidate's summary is fetched through that remote's own policy (one that fails is
left out), a commit no summary dates is dated from the commit object, and the choice is
:func:`~ostreepy.remote.finder.latest_results`'s. Pulls go through
:func:`ostreepy.remote.pull.pull_remote` with ``collection_refs``, one per candidate in
priority order, each ref from the first candidate that delivers it.
"""

from __future__ import annotations

import hashlib
from typing import Dict, List, Optional, Sequence

import attrs

from ..errors import OstreeError
from ..progress import ProgressCallback
from ..store import objects as obj
from ..store.objects import Commit, ObjectType
from ..store.repo import Repo
from .finder import CollectionRef, Finder, FinderResult, FindRemotesError, latest_results, result_sort_key
from .finder_config import ConfigFinder
from .finder_mount import MountFinder
from .summary import Summary, parse_summary

__all__ = ["default_finders", "find_remotes", "finders_by_name", "pull_from_remotes"]


def finders_by_name(names: Sequence[str], cache_dir: Optional[str] = None) -> List[Finder]:
    """The finders ``--finders=config,mount`` names, checked as ot-builtin-find-remotes.c
    checks them."""
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
    raw = repo.config.get("core", "default-repo-finders")
    names = [n for n in (raw or "config;mount").split(";") if n]
    return [ConfigFinder(cache_dir) if n == "config" else MountFinder() for n in names if n in ("config", "mount")]


def _fetch_commit_timestamp(repo: Repo, checksum: str, cand: FinderResult) -> Optional[int]:
    """A commit's time, from the repository or fetched from the candidate (None: not to be
    had, or not the commit it claims to be; the pull checks its signatures later)."""
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
    if hashlib.sha256(data).hexdigest() != checksum:
        return None
    return Commit.parse(data).timestamp


def find_remotes(repo: Repo, refs: Sequence[CollectionRef], finders: Optional[Sequence[Finder]] = None,
                 cache_dir: Optional[str] = None) -> List[FinderResult]:
    """Where ``refs`` can be pulled from: the candidates with each ref's newest commit, in
    priority order (see the module docstring); ``finders`` default to the repository's ``core.default-repo-finders``."""
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
                      progress: Optional[ProgressCallback] = None, cache_dir: Optional[str] = None) -> int:
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
            pull_remote(repo, remote, mirror=mirror, progress=progress, untrusted=True, cache_dir=cache_dir,
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
