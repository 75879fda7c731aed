"""What a remote offers: its ``summary`` (and ``summary.sig``) fetched through
the remote's fetcher, checked against the remote's signature policy, and the
refs listed in it (``ostree remote refs``/``remote summary``).

As ``ostree_repo_remote_fetch_summary``: ``summary.sig`` is fetched first,
then ``summary``; a remote without either is not an error here (the caller
decides: ``remote refs`` says "server has no summary file"); the pair goes
through :func:`ostreepy.remote.trust.verify_summary` before anything of it is
used. The summary cache under ``tmp/cache/summaries`` is used as a pull uses it
(:mod:`ostreepy.remote.summary_cache`); a ``metalink`` remote's summary comes through its
metalink (:mod:`ostreepy.remote.metalink`; no ``summary.sig`` then, as ostree), a
``mirrorlist=`` URL's from its mirrors; the remote's cookie jar goes with the requests.
"""

from __future__ import annotations

import os
from typing import Dict, Optional
from urllib.parse import urlsplit

import attrs

from ..store.repo import Repo
from .config import Remote, RemoteError, load_remote
from .cookies import jar_path
from .fetcher import Fetcher, fetcher_for_remote
from .metalink import metalink_summary
from .summary_cache import SummaryCache, fetch_summary_pair
from .summary import MAX_SUMMARY_SIZE, Summary, parse_summary

__all__ = ["RemoteSummary", "fetch_summary", "fetch_remote_summary", "remote_refs", "NoSummaryError"]

#: OSTREE_MAX_METADATA_SIZE: a summary.sig larger than this is refused
MAX_SIG_SIZE = 10 * 1024 * 1024


class NoSummaryError(RemoteError):
    """The remote publishes no summary file."""


@attrs.frozen
class RemoteSummary:
    """A remote's summary as fetched: raw bytes (None when it has none) and signature."""

    remote: Remote
    data: Optional[bytes]
    signature: Optional[bytes]

    def parsed(self) -> Summary:
        if self.data is None:
            raise NoSummaryError("Remote server has no summary file")
        return parse_summary(self.data)


def _jar(repo: Repo, remote: Remote) -> Optional[str]:
    path = jar_path(repo.path, remote.name)
    return path if os.path.isfile(path) else None


def fetch_summary(repo: Repo, name: str, sysroot: Optional[str] = None,
                  cache_dir: Optional[str] = None) -> RemoteSummary:
    """Fetch and verify the summary of remote ``name`` (through the summary cache, kept in
    ``cache_dir/summaries`` when given)."""
    return fetch_remote_summary(repo, load_remote(repo, name, sysroot, require_url=False), cache_dir)


def fetch_remote_summary(repo: Repo, remote: Remote, cache_dir: Optional[str] = None) -> RemoteSummary:
    """:func:`fetch_summary` of a :class:`Remote` that need not be configured (the finders'
    remotes: a configured one with another URL, as ostree's dynamic remotes)."""
    from .trust import verify_summary
    name = remote.name
    jar = _jar(repo, remote)
    metalink = remote.option("metalink")
    if metalink:
        linked, _base = metalink_summary(remote, metalink, max_size=MAX_SUMMARY_SIZE, cookie_jar=jar)
        verify_summary(remote, linked, None, repo=repo)
        parse_summary(linked)
        return RemoteSummary(remote=remote, data=linked, signature=None)
    if not remote.url:
        raise RemoteError(f'No "url" option in remote "{name}"')
    fetcher: Fetcher = fetcher_for_remote(remote, cookie_jar=jar)
    cache = None
    if urlsplit(remote.url).scheme != "file" and SummaryCache.enabled(repo.path, cache_dir):
        cache = SummaryCache(repo.path, remote.name, cache_dir)

    def verify(data: Optional[bytes], sig: Optional[bytes]) -> None:
        if data is not None:
            verify_summary(remote, data, sig, repo=repo)

    try:
        data, sig = fetch_summary_pair(fetcher, cache, MAX_SUMMARY_SIZE, MAX_SIG_SIZE, verify)
    finally:
        fetcher.close()
    if data is not None:
        parse_summary(data)
    return RemoteSummary(remote=remote, data=data, signature=sig)


def remote_refs(repo: Repo, name: str, sysroot: Optional[str] = None,
                cache_dir: Optional[str] = None) -> Dict[str, str]:
    """ref -> checksum of the remote's summary (its main list), sorted by name."""
    fetched = fetch_summary(repo, name, sysroot, cache_dir)
    if fetched.data is None:
        raise NoSummaryError("Remote refs not available; server has no summary file")
    refs = fetched.parsed().refs
    return {k: refs[k].checksum for k in sorted(refs, key=lambda s: s.encode())}

