"""The configured-remotes finder (libostree's ``OstreeRepoFinderConfig``).

Design: every configured remote with a valid ``collection-id`` is asked, through its
summary, which collection–refs it lists (``ostree_repo_remote_list_collection_refs``:
the main refs under the summary's collection ID, the collection map's under theirs);
a remote listing any wanted ref of its own collection is a candidate, priority 100
(below the mount finder's 50: a local volume is preferred). A remote whose summary
cannot be fetched, or that lists none, is left out silently, as there.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from ..errors import OstreeError
from ..store.refs import validate_collection_id
from ..store.repo import Repo
from .config import list_remotes
from .finder import CollectionRef, FinderResult, summary_refs
from .summary import parse_summary

__all__ = ["ConfigFinder", "PRIORITY"]

#: libostree's priority for a configured remote (lower is tried first)
PRIORITY = 100


class ConfigFinder:
    """Candidates from the repository's configured remotes."""

    name = "OstreeRepoFinderConfig"

    def __init__(self, cache_dir: Optional[str] = None) -> None:
        self.cache_dir = cache_dir

    def resolve(self, repo: Repo, refs: Sequence[CollectionRef]) -> List[FinderResult]:
        from .listing import fetch_remote_summary
        out: List[FinderResult] = []
        for remote in list_remotes(repo):
            cid = remote.collection_id
            try:
                if cid is None:
                    continue
                validate_collection_id(cid)
                fetched = fetch_remote_summary(repo, remote, self.cache_dir)
                if fetched.data is None:
                    continue
                listed = summary_refs(parse_summary(fetched.data), refs)
            except OstreeError:
                continue
            found: Dict[CollectionRef, Optional[str]] = {
                r: s.checksum for r, s in listed.items() if r.collection_id == cid}
            if found:
                out.append(FinderResult(remote=remote, name=remote.name, finder=self.name, priority=PRIORITY,
                                        ref_to_checksum=found))
        return out
