"""The standard metadata of a bootable commit (``ostree commit --bootable``).

As libostree's ``ostree_commit_metadata_for_bootable``: the committed tree (not the
source directory) is searched for ``usr/lib/modules/<kver>/vmlinuz``; exactly one such
kernel gives ``ostree.bootable = true`` and ``ostree.linux = <kver>``. Working on dirtree
objects makes it the same for directory, tar and ``--tree=ref=`` sources.
"""

from __future__ import annotations

from typing import Dict, Optional

from ..errors import OstreeError
from .gvariant import Variant
from .repo import Repo

__all__ = ["metadata_for_bootable"]

BOOTABLE_KEY = "ostree.bootable"
LINUX_KEY = "ostree.linux"


def _subdir(repo: Repo, tree: str, name: str) -> Optional[str]:
    for n, t, _m in repo.load_dirtree(tree).dirs:
        if n == name:
            return t
    return None


def metadata_for_bootable(repo: Repo, root_tree: str) -> Dict[str, Variant]:
    """The keys to add to a commit of ``root_tree``; raises when there is not exactly one kernel."""
    tree: Optional[str] = root_tree
    for part in ("usr", "lib", "modules"):
        tree = _subdir(repo, tree, part) if tree else None
    if tree is None:
        raise OstreeError("Opening usr/lib/modules: No such file or directory")
    release: Optional[str] = None
    for name, sub, _meta in repo.load_dirtree(tree).dirs:
        st = repo.load_dirtree(sub)
        if not any(n == "vmlinuz" for n, _ in st.files) and not any(d[0] == "vmlinuz" for d in st.dirs):
            continue
        if release is not None:
            raise OstreeError("Multiple kernels found in /usr/lib/modules")
        release = name
    if release is None:
        raise OstreeError("No kernel found in /usr/lib/modules")
    return {BOOTABLE_KEY: Variant("b", True), LINUX_KEY: Variant("s", release)}
