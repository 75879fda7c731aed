"""What a prune tidies beside the objects, as ``ostree_repo_prune`` does after its sweep:
the static deltas to commits the repository no longer has
(``ostree_repo_prune_static_deltas``), and the cached summaries of remotes no longer
configured (``_ostree_repo_prune_tmp``).

One place for the command line's plain prune and the library's :func:`ostreepy.prune`.
Light on purpose: a prune of a repository with neither deltas nor a summary cache imports
nothing of the delta or summary-cache modules (their import is a few ms of a small prune).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Optional

    from ..store.repo import Repo

__all__ = ["SUMMARY_CACHE_SUBDIR", "prune_static_deltas", "tidy_after_prune"]

#: :data:`ostreepy.remote.summary_cache.CACHE_SUBDIR`, named here too: that module's import is
#: ~1.3 ms of a prune of a repository without a cache
SUMMARY_CACHE_SUBDIR = os.path.join("tmp", "cache", "summaries")


def prune_static_deltas(repo: Repo, commit: Optional[str]) -> None:
    """``ostree_repo_prune_static_deltas``: the deltas to ``commit`` (matched as given), or with
    None those to commits the repository no longer has
    (:func:`ostreepy.remote.deltas.store.prune_static_deltas`)."""
    if repo.has_static_deltas():
        from .deltas.store import prune_static_deltas as prune
        prune(repo, commit)


def tidy_after_prune(repo: Repo, *, deleted: bool) -> None:
    """After a prune's sweep, under its lock: the deltas to commits gone where objects were
    ``deleted`` (not on a dry run), and the summary cache, which ostree tidies on a dry run too."""
    if deleted:
        prune_static_deltas(repo, None)
    if os.path.isdir(os.path.join(repo.path, SUMMARY_CACHE_SUBDIR)):
        from .config import list_remotes
        from .summary_cache import prune_summary_cache
        prune_summary_cache(repo.path, [rem.name for rem in list_remotes(repo)])
