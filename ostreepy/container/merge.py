"""Overlaying layer commits into one tree, as ostree-ext's merge does it.

ostree-ext checks each layer out on top of the last (union mode, whiteouts
processed) and commits the result.  We get the same tree without touching a
filesystem: the layers' dirtrees are overlaid in a :class:`MutableTree`, with
the semantics of that checkout —

* a file (or symlink) replaces whatever had its name;
* a directory that already exists keeps its metadata (checkout leaves existing
  directories' modes alone); a new one, or one that replaces a file, takes the
  layer's;
* ``.wh.NAME`` removes NAME and is not itself kept; a directory holding
  ``.wh..wh..opq`` is emptied before the layer's own entries go in, and takes
  the layer's metadata (it is removed and recreated).

A directory new to the merge whose subtree has no whiteouts is taken as it
is: a lazy node standing for the layer's dirtree, neither expanded in memory
nor written again (so merging a big single layer costs a walk of its
dirtrees, not a copy of the whole tree in memory).  A later layer that writes
into it loads it back.

One difference, on purpose: where ostree-ext's checkout fails on a layer that
puts a file where a directory was (EISDIR), we replace it, as the OCI layer
specification says.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional

from ..store.mtree import MutableTree
from ..store.repo import Repo

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT_NAME = ".wh..wh..opq"


def overlay_commit(repo: Repo, root: MutableTree, commit: str, process_whiteouts: bool) -> None:
    """Lay the tree of ``commit`` over ``root``, as a later layer over earlier ones (whiteouts
    delete what they name when ``process_whiteouts``)."""
    c = repo.load_commit(commit)
    if root.meta is None:
        root.meta = c.root_meta
    _overlay(repo, root, c.root_tree, process_whiteouts, {})


def _has_whiteouts(repo: Repo, tree_csum: str, seen: Dict[str, bool]) -> bool:
    found = seen.get(tree_csum)
    if found is None:
        dt = repo.load_dirtree(tree_csum)
        found = (any(n.startswith(WHITEOUT_PREFIX) for n, _ in dt.files)
                 or any(_has_whiteouts(repo, t, seen) for _, t, _ in dt.dirs))
        seen[tree_csum] = found
    return found


def _overlay(repo: Repo, dst: MutableTree, tree_csum: str, whiteouts: bool, seen: Dict[str, bool]) -> None:
    dt = repo.load_dirtree(tree_csum)
    for name, csum in dt.files:
        if whiteouts and name.startswith(WHITEOUT_PREFIX):
            target = name[len(WHITEOUT_PREFIX):]
            if name != OPAQUE_WHITEOUT_NAME:
                dst.remove(target)
            continue
        dst.dirs.pop(name, None)
        dst.files[name] = csum
    for name, sub_tree, sub_meta in dt.dirs:
        existing = dst.dirs.get(name)
        opaque = False
        if whiteouts:
            opaque = any(f == OPAQUE_WHITEOUT_NAME for f, _ in repo.load_dirtree(sub_tree).files)
        if existing is None or opaque:
            dst.files.pop(name, None)
            if not whiteouts or not _has_whiteouts(repo, sub_tree, seen):
                dst.dirs[name] = MutableTree.lazy(repo, sub_tree, sub_meta)
                continue
            existing = MutableTree()
            existing.meta = sub_meta
            dst.dirs[name] = existing
        _overlay(repo, existing, sub_tree, whiteouts, seen)


def merge_layers(repo: Repo, layer_commits: Iterable[str], base: Optional[str] = None) -> MutableTree:
    """The merged tree: ``base`` as is, then every layer with its whiteouts applied."""
    root = MutableTree()
    if base is not None:
        overlay_commit(repo, root, base, process_whiteouts=False)
    for commit in layer_commits:
        overlay_commit(repo, root, commit, process_whiteouts=True)
    cleanup_root(repo, root)
    return root


def cleanup_root(repo: Repo, root: MutableTree) -> None:
    """Drop the empty usr/etc/hostname and usr/etc/resolv.conf container builds leave behind."""
    etc = root.dirs.get("usr")
    etc = etc.dirs.get("etc") if etc is not None else None
    if etc is None:
        return
    for name in ("hostname", "resolv.conf"):
        csum = etc.files.get(name)
        if csum is None:
            continue
        header = repo.load_file_header(csum)
        if header.is_regular and repo.content_size(csum) == 0:
            del etc.files[name]
