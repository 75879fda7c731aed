"""Copying collection–refs onto a removable volume (``ostree create-usb``), laid out
so that the mount finder (:mod:`.finder_mount`) of any ostree finds them.

Design, as ot-builtin-create-usb.c:

* The destination repository (default ``MOUNT/.ostree/repo``) is created in archive
  mode (no xattrs needed, so FAT works; compressed), or opened when it exists; it must
  be on the mount's own file system and not be the source repository.
* The refs are mirrored into it from the source, read as a ``file://`` remote without
  signature checks (the source is the user's own repository): each lands in
  ``refs/mirrors/COLLECTION-ID/REF``, and with ``commit`` that commit is taken instead
  of the ref's.
* A summary is then regenerated (unsigned; its collection map lists the refs), since
  finders read summaries; no static deltas are made (ostree makes none either).
* Unless the repository is at a well-known path (``.ostree/repo``, ``ostree/repo``),
  ``.ostree/repos.d/NN-generated`` is made a relative symlink to it, unless an entry
  there is already that directory.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence
from urllib.parse import quote

import attrs

from ..errors import OstreeError
from ..progress import ProgressCallback
from ..store.repo import Repo, RepoMode
from .config import Remote
from .finder import CollectionRef

__all__ = ["CreateUsbError", "CreateUsbResult", "create_usb", "DEFAULT_DEST"]

#: where the repository goes on the volume without --destination-repo
DEFAULT_DEST = ".ostree/repo"
_WELL_KNOWN = (".ostree/repo", "ostree/repo")
_MAX_SYMLINKS = 100


class CreateUsbError(OstreeError):
    """A destination that cannot be used (off the volume, the source itself)."""


@attrs.frozen
class CreateUsbResult:
    """What was written: the destination repository (relative to the mount), the refs
    copied, and the repos.d symlink made (None when none was needed or one existed)."""

    dest_repo: str
    refs: tuple
    symlink: Optional[str]


def _symlink_into_repos_d(mount: str, dest_rel: str, dest_stat: os.stat_result) -> Optional[str]:
    repos_d = os.path.join(mount, ".ostree", "repos.d")
    os.makedirs(repos_d, mode=0o755, exist_ok=True)
    with os.scandir(repos_d) as it:
        for e in it:
            # already there (a symlink's target, or the repository itself), as ostree
            # compares the entry's inode with the repository's
            try:
                st = e.stat(follow_symlinks=True)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (dest_stat.st_dev, dest_stat.st_ino):
                return None
    target = os.path.join("..", "..", dest_rel)
    for i in range(_MAX_SYMLINKS):
        name = f"{i:02d}-generated"
        try:
            os.symlink(target, os.path.join(repos_d, name))
        except FileExistsError:
            continue
        return f".ostree/repos.d/{name}"
    raise CreateUsbError("Could not find an unused symlink name for the repository")


def create_usb(src: Repo, mount_path: str, refs: Sequence[CollectionRef], *,
               dest_repo: Optional[str] = None, commit: Optional[str] = None, fsync: bool = True,
               progress: Optional[ProgressCallback] = None) -> CreateUsbResult:
    """Copy ``refs`` of ``src`` into a repository on the volume mounted at ``mount_path``
    (see the module docstring); ``commit`` (only with one ref) copies that commit as it."""
    from .publish import regenerate_summary
    from .pull import pull_remote
    if not refs:
        raise CreateUsbError("At least one COLLECTION-ID REF pair must be specified")
    if commit is not None and len(refs) > 1:
        raise CreateUsbError("The --commit option can only be used when a single COLLECTION-ID REF pair"
                             " is specified")
    mount_st = os.stat(mount_path)  # must exist: a FileNotFoundError says so
    rel = dest_repo if dest_repo is not None else DEFAULT_DEST
    path = os.path.join(mount_path, rel)
    os.makedirs(path, mode=0o755, exist_ok=True)
    dest_st = os.stat(path)
    if dest_st.st_dev != mount_st.st_dev:
        raise CreateUsbError("--destination-repo must be a descendent of MOUNT-PATH")
    src_st = os.stat(src.path)
    if (src_st.st_dev, src_st.st_ino) == (dest_st.st_dev, dest_st.st_ino):
        raise CreateUsbError("--destination-repo must not be the source repository")
    with Repo.init(path, RepoMode.ARCHIVE) as dest:
        if not fsync:
            dest.fsync = False
        url = "file://" + quote(os.path.abspath(src.path))
        # a pull by URL, not by remote: no keyring, so no signature checks
        source = Remote(name=url, url=url, options=(("gpg-verify", "false"),), source=None)
        pull_remote(dest, source, mirror=True, progress=progress,
                    collection_refs=[(r.collection_id, r.ref_name, commit or "") for r in refs])
        regenerate_summary(dest)
    link = None
    if rel.strip("/") not in _WELL_KNOWN:
        link = _symlink_into_repos_d(mount_path, rel, dest_st)
    return CreateUsbResult(dest_repo=rel, refs=tuple(refs), symlink=link)
