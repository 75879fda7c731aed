"""The mounted-volumes finder (libostree's ``OstreeRepoFinderMount``), which reads what
``create-usb`` writes.

Design: on each mount root (by default the mounts of ``/proc/self/mountinfo`` that are
not system ones; a caller may give its own list, as libostree's tests give a volume
monitor), the repositories looked at are, in this order: every entry of
``.ostree/repos.d`` (usually symlinks, sorted by name), then the well-known
``.ostree/repo``, ``ostree/repo`` and ``var/lib/flatpak/repo``. A repository must be on
the mount's own file system (a symlink may not lead off the volume) and must not be the
repository being resolved for. Its collection–refs (remotes' refs excluded) are matched
against the wanted ones; each ref is taken from the first repository having it, and only
when a configured remote of that collection has a keyring
(``ostree_repo_resolve_keyring_for_collection``): its commits are checked with that
keyring and its refs written under that remote's name. Candidates are grouped by
(canonical repository URL, keyring remote), priority 50.
:func:`repo_candidates` and :func:`mount_points` are the parts that touch no repository.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import quote

import attrs

from ..errors import OstreeError
from ..store.repo import Repo
from .config import Remote, list_remotes
from .finder import CollectionRef, FinderResult

__all__ = ["MountFinder", "PRIORITY", "WELL_KNOWN_REPOS", "mount_points", "repo_candidates",
           "keyring_remote_for_collection", "dynamic_remote_name"]

#: libostree's priority for a repository on a mounted volume (before configured remotes)
PRIORITY = 50
#: looked at after .ostree/repos.d's entries (ostree's man page lists the same)
WELL_KNOWN_REPOS = (".ostree/repo", "ostree/repo", "var/lib/flatpak/repo")
#: g_unix_is_system_fs_type's list, the part a Linux mount table shows
_SYSTEM_FS = frozenset((
    "adfs", "afs", "auto", "autofs", "autofs4", "cgroup", "cgroup2", "configfs", "cxfs", "debugfs", "devfs",
    "devpts", "devtmpfs", "ecryptfs", "efivarfs", "fdescfs", "fusectl", "gfs", "gfs2", "gpfs", "hugetlbfs",
    "kernfs", "linprocfs", "linsysfs", "lustre", "lustre_lite", "mfs", "mqueue", "ncpfs", "nfsd", "nullfs",
    "ocfs2", "overlay", "proc", "procfs", "pstore", "ptyfs", "rootfs", "rpc_pipefs", "securityfs",
    "selinuxfs", "sysfs", "tmpfs", "usbfs", "binfmt_misc", "bpf", "tracefs", "fuse.portal", "nsfs"))
_SYSTEM_PATHS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt",
                 "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str) -> List[str]:
    """The user-visible mount roots of a ``/proc/self/mountinfo`` text: not a system file
    system type, not a system directory (as GLib's volume monitor leaves those out)."""
    out: List[str] = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 2 or len(fields) < 5:
            continue
        path, fstype = _unescape(fields[4]), fields[sep + 1]
        if fstype in _SYSTEM_FS or path in _SYSTEM_PATHS or path.startswith(("/proc/", "/sys/", "/dev/", "/run/")):
            continue
        out.append(path)
    return out


def repo_candidates(repos_d_entries: Iterable[str]) -> List[str]:
    """Paths (relative to a mount root) to try as repositories, in libostree's order."""
    return [f".ostree/repos.d/{e}" for e in sorted(repos_d_entries, key=lambda s: s.encode())] + list(
        WELL_KNOWN_REPOS)


def dynamic_remote_name(uri: str, keyring: str) -> str:
    """uri_and_keyring_to_name: both URI-escaped, joined by ``_``, every ``%`` made ``_``."""
    return f"{quote(uri, safe='')}_{quote(keyring, safe='')}".replace("%", "_")


def keyring_remote_for_collection(repo: Repo, collection_id: str) -> Optional[Remote]:
    """The first configured remote (by name) of that collection whose keyring is usable."""
    for remote in list_remotes(repo):
        if remote.collection_id != collection_id:
            continue
        if remote.keyring in ("", "/dev/null"):
            continue
        return remote
    return None


@attrs.frozen
class _Scanned:
    path: str
    refs: Dict[Tuple[str, str], str]


class MountFinder:
    """Candidates from repositories on mounted volumes."""

    name = "OstreeRepoFinderMount"

    def __init__(self, mounts: Optional[Sequence[str]] = None) -> None:
        self.mounts = mounts

    def _mounts(self) -> List[str]:
        if self.mounts is not None:
            return list(self.mounts)
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
                return mount_points(f.read())
        except OSError:
            return []

    def _scan(self, repo: Repo, root: str) -> List[_Scanned]:
        try:
            root_dev = os.stat(root).st_dev
        except OSError:
            return []
        try:
            entries = os.listdir(os.path.join(root, ".ostree/repos.d"))
        except OSError:
            entries = []
        own = os.stat(repo.path)
        out: List[_Scanned] = []
        for rel in repo_candidates(entries):
            path = os.path.join(root, rel)
            try:
                st = os.stat(path)
                if st.st_dev != root_dev or (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
                    continue
                with Repo.open(path) as other:
                    refs = other.list_collection_refs(include_remotes=False)
            except (OSError, OstreeError):
                continue
            out.append(_Scanned(path, refs))
        return out

    def resolve(self, repo: Repo, refs: Sequence[CollectionRef]) -> List[FinderResult]:
        out: List[FinderResult] = []
        for root in self._mounts():
            scanned = self._scan(repo, root)
            grouped: Dict[Tuple[str, str], Tuple[Remote, Dict[CollectionRef, Optional[str]]]] = {}
            for ref in refs:
                for s in scanned:
                    checksum = s.refs.get((ref.collection_id, ref.ref_name))
                    if checksum is None:
                        continue
                    keyring = keyring_remote_for_collection(repo, ref.collection_id)
                    if keyring is None:
                        continue
                    uri = "file://" + os.path.realpath(s.path)
                    key = (uri, keyring.name)
                    if key not in grouped:
                        grouped[key] = (attrs.evolve(keyring, url=uri, options=tuple(
                            (k, v) for k, v in keyring.options if k not in ("url", "contenturl", "metalink")
                        ) + (("url", uri),)), {})
                    grouped[key][1][ref] = checksum
                    break
            for (uri, _), (remote, found) in grouped.items():
                out.append(FinderResult(remote=remote, name=dynamic_remote_name(uri, remote.keyring),
                                        finder=self.name, priority=PRIORITY, ref_to_checksum=found))
        return out
