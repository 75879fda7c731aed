"""What a remote offers: its ``summary`` (and ``summary.sig``) fetched through
the remote's fetcher, checked against the remote's signature policy, and the
refs listed in it (``ostree remote refs``/``remote summary``).

As ``ostree_repo_remote_fetch_summary``: ``summary.sig`` is fetched first,
then ``summary``; a remote without either is not an error here (the caller
decides: ``remote refs`` says "server has no summary file"); the pair goes
through :func:`ostreepy.remote.trust.verify_summary` before anything of it is
used. Not done (yet): the summary cache under ``tmp/cache/summaries``,
metalink and ``mirrorlist=`` URLs.
"""

from __future__ import annotations

from typing import Dict, Optional

import attrs

from ..store.repo import Repo
from .config import Remote, RemoteError, load_remote
from .fetcher import Fetcher, NotFound, fetcher_for_remote
from .summary import MAX_SUMMARY_SIZE, Summary, parse_summary

__all__ = ["RemoteSummary", "fetch_summary", "remote_refs", "NoSummaryError"]

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


def _fetcher(remote: Remote) -> Fetcher:
    url = remote.url
    if remote.option("metalink") and not url:
        raise RemoteError(f'Remote "{remote.name}" uses a metalink, which ostreepy does not fetch yet')
    if url.startswith("mirrorlist="):
        raise RemoteError(f'Remote "{remote.name}" uses a mirrorlist, which ostreepy does not fetch yet')
    return fetcher_for_remote(remote)


def _get(fetcher: Fetcher, path: str, limit: int) -> Optional[bytes]:
    try:
        return fetcher.fetch_bytes(path, limit)
    except NotFound:
        return None


def fetch_summary(repo: Repo, name: str, sysroot: Optional[str] = None) -> RemoteSummary:
    """Fetch and verify the summary of remote ``name``."""
    from .trust import verify_summary
    remote = load_remote(repo, name, sysroot)
    fetcher = _fetcher(remote)
    try:
        sig = _get(fetcher, "summary.sig", MAX_SIG_SIZE)
        data = _get(fetcher, "summary", MAX_SUMMARY_SIZE)
    finally:
        fetcher.close()
    if data is not None:
        verify_summary(remote, data, sig, repo=repo)
        parse_summary(data)
    return RemoteSummary(remote=remote, data=data, signature=sig)


def remote_refs(repo: Repo, name: str, sysroot: Optional[str] = None) -> Dict[str, str]:
    """ref -> checksum of the remote's summary (its main list), sorted by name."""
    fetched = fetch_summary(repo, name, sysroot)
    if fetched.data is None:
        raise NoSummaryError("Remote refs not available; server has no summary file")
    refs = fetched.parsed().refs
    return {k: refs[k].checksum for k in sorted(refs, key=lambda s: s.encode())}

