"""Ref aliases (``ostree refs --alias``): a local ref that is a symlink to another.

As libostree (ostree-repo-refs.c): the alias is ``refs/heads/ALIAS``, a relative
symlink (one ``../`` per ``/`` in ALIAS, then TARGET), so that resolving the alias
reads the target's file, and a commit to the target moves both. Listing aliases
strips the leading ``../``. The symlink is made under a temporary name and renamed
over the old one, so an alias changes atomically.
"""

from __future__ import annotations

import os

from ..errors import OstreeError
from .refs import validate_ref
from .repo import Repo

TYPE_CHECKING = False  # typing is not imported at run time: it is start-up every command pays
if TYPE_CHECKING:
    from typing import Dict

__all__ = ["list_aliases", "set_alias"]


def _heads(repo: Repo) -> str:
    return os.path.join(repo.path, "refs", "heads")


def list_aliases(repo: Repo) -> Dict[str, str]:
    """alias -> the ref it points at, sorted by alias."""
    out: Dict[str, str] = {}
    heads = _heads(repo)
    for dirpath, dirnames, filenames in os.walk(heads):
        for name in filenames + dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            target = os.readlink(path)
            while target.startswith("../"):
                target = target[3:]
            out[os.path.relpath(path, heads)] = target
    return dict(sorted(out.items()))


def set_alias(repo: Repo, alias: str, target: str) -> None:
    """Make ``alias`` point at the local ref ``target`` (replacing what ``alias`` was)."""
    validate_ref(alias)
    validate_ref(target)
    if not os.path.isfile(os.path.join(_heads(repo), target)):
        raise OstreeError(f"Cannot create alias to non-existent ref: {target}")
    path = os.path.join(_heads(repo), alias)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-alias-{os.getpid()}"
    os.symlink("../" * alias.count("/") + target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
