"""The /etc three-way merge of a new deployment, as ostree does it, and a
preview of what it will keep, drop and conflict on.

ostree (``merge_configuration_from`` in ``ostree-sysroot-deploy.c``) diffs
the merge deployment's ``usr/etc`` (vendor defaults) against its ``etc``
(what the admin has) with ``ostree_diff_dirs`` ignoring xattrs, then on the
new deployment's fresh ``etc`` (a copy of its ``usr/etc``):

* every *removed* path is ``rm -rf``'d,
* every *modified* then *added* path is copied over from the old ``etc``
  (directories recursively, missing parents created from the old ``etc``).

The local change always wins; there is no content merge. A path is modified
when its type, uid, gid, mode, size/content or symlink target differ.

The pure part works on snapshots: ordered maps ``relpath -> EtcEntry`` in
directory (readdir) order, made by :func:`snapshot_dir` from a directory or
:func:`snapshot_commit_dir` from a commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from typing import Dict, List, Mapping, Optional, Tuple

import attrs

from ..errors import DeployError

__all__ = [
    "EtcEntry", "EtcDiff", "EtcMergeItem", "EtcMergePlan",
    "snapshot_dir", "snapshot_commit_dir", "diff_snapshots", "plan_etc_merge",
    "apply_etc_merge", "format_plan",
]

_CHUNK = 1 << 20
Snapshot = Mapping[str, "EtcEntry"]


@attrs.frozen
class EtcEntry:
    """What ostree's checksum of a path covers when xattrs are ignored.

    ``kind`` is ``d`` (directory), ``f`` (regular file), ``l`` (symlink) or
    ``o`` (anything else, which the merge ignores); ``digest`` is the sha256
    of a file's content or a symlink's target."""

    kind: str
    mode: int
    uid: int
    gid: int
    digest: str = ""

    @property
    def content(self) -> Tuple[str, str]:
        """Type and content only (for comparing across owners)."""
        return (self.kind, self.digest)


@attrs.frozen
class EtcDiff:
    """``ostree_diff_dirs`` of vendor ``usr/etc`` against local ``etc``:
    relative paths, in the order ostree lists (and applies) them."""

    modified: Tuple[str, ...] = ()
    removed: Tuple[str, ...] = ()
    added: Tuple[str, ...] = ()

    def message(self) -> str:
        return (f"Copying /etc changes: {len(self.modified)} modified, "
                f"{len(self.removed)} removed, {len(self.added)} added")


# ------------------------------------------------------------------------ snapshots


def _hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    while True:
        b = os.read(fd, _CHUNK)
        if not b:
            break
        h.update(b)
    return h.hexdigest()


def snapshot_dir(root: str) -> Dict[str, EtcEntry]:
    """Every path under ``root`` (relative, depth first, readdir order)."""
    out: Dict[str, EtcEntry] = {}

    def walk(dirpath: str, rel: str) -> None:
        with os.scandir(dirpath) as it:
            ents = list(it)
        for ent in ents:
            p = rel + ent.name
            st = ent.stat(follow_symlinks=False)
            m = st.st_mode
            if stat.S_ISDIR(m):
                out[p] = EtcEntry("d", m, st.st_uid, st.st_gid)
                walk(ent.path, p + "/")
            elif stat.S_ISREG(m):
                fd = os.open(ent.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    out[p] = EtcEntry("f", m, st.st_uid, st.st_gid, _hash_fd(fd))
                finally:
                    os.close(fd)
            elif stat.S_ISLNK(m):
                target = os.readlink(ent.path)
                out[p] = EtcEntry("l", m, st.st_uid, st.st_gid,
                                  hashlib.sha256(os.fsencode(target)).hexdigest())
            else:
                out[p] = EtcEntry("o", m, st.st_uid, st.st_gid, str(st.st_rdev))

    walk(root, "")
    return out


def snapshot_commit_dir(repo, csum: str, subpath: str) -> Dict[str, EtcEntry]:  # noqa: ANN001
    """The same snapshot taken from a commit's ``subpath`` (``usr/etc``);
    empty when the commit has no such directory."""
    commit = repo.load_commit(csum)
    tree = commit.root_tree
    for comp in [c for c in subpath.strip("/").split("/") if c]:
        dt = repo.load_dirtree(tree)
        for name, t, _m in dt.dirs:
            if name == comp:
                tree = t
                break
        else:
            return {}
    out: Dict[str, EtcEntry] = {}

    def walk(tree_csum: str, rel: str) -> None:
        dt = repo.load_dirtree(tree_csum)
        for name, fcsum in dt.files:
            header, stream = repo.load_file(fcsum)
            p = rel + name
            if header.is_symlink:
                if stream is not None:
                    stream.close()
                out[p] = EtcEntry("l", header.mode, header.uid, header.gid,
                                  hashlib.sha256(header.symlink_target.encode()).hexdigest())
            else:
                h = hashlib.sha256()
                if stream is not None:
                    try:
                        while True:
                            b = stream.read(_CHUNK)
                            if not b:
                                break
                            h.update(b)
                    finally:
                        stream.close()
                out[p] = EtcEntry("f", header.mode, header.uid, header.gid, h.hexdigest())
        for name, t, m in dt.dirs:
            meta = repo.load_dirmeta(m)
            out[rel + name] = EtcEntry("d", meta.mode, meta.uid, meta.gid)
            walk(t, rel + name + "/")

    walk(tree, "")
    return out


# ------------------------------------------------------------------------ diff (pure)


def _children(snap: Snapshot) -> Dict[str, List[str]]:
    ch: Dict[str, List[str]] = {"": []}
    for p in snap:
        parent, _, name = p.rpartition("/")
        ch.setdefault(parent, []).append(p)
        if snap[p].kind == "d":
            ch.setdefault(p, [])
    return ch


def diff_snapshots(orig: Snapshot, modified: Snapshot) -> EtcDiff:
    """``ostree_diff_dirs(IGNORE_XATTRS, orig, modified)``."""
    ca, cb = _children(orig), _children(modified)
    mod: List[str] = []
    rem: List[str] = []
    add: List[str] = []

    def add_recurse(p: str) -> None:
        for c in cb.get(p, []):
            add.append(c)
            if modified[c].kind == "d":
                add_recurse(c)

    def walk(d: str) -> None:
        for p in ca.get(d, []):
            if p not in modified:
                rem.append(p)
                continue
            ea, eb = orig[p], modified[p]
            if ea.kind != eb.kind:
                mod.append(p)
                continue
            if ea != eb:
                mod.append(p)
            if ea.kind == "d":
                walk(p)
        for p in cb.get(d, []):
            if p not in orig:
                add.append(p)
                if modified[p].kind == "d":
                    add_recurse(p)

    walk("")
    return EtcDiff(tuple(mod), tuple(rem), tuple(add))


# ------------------------------------------------------------------------ preview (pure)


@attrs.frozen
class EtcMergeItem:
    """One path of the preview. ``action`` is one of ``keep-modified``,
    ``keep-added``, ``keep-removed`` (local changes carried over),
    ``vendor-update``, ``vendor-add``, ``vendor-remove`` (vendor changes
    applied to paths the admin did not touch); ``conflict`` says what the
    local change overrides, or is None."""

    path: str
    action: str
    conflict: Optional[str] = None


@attrs.frozen
class EtcMergePlan:
    """What a deploy's /etc merge will do, before doing it."""

    diff: EtcDiff
    items: Tuple[EtcMergeItem, ...] = ()
    error: Optional[str] = None

    def _where(self, *actions: str) -> Tuple[EtcMergeItem, ...]:
        return tuple(i for i in self.items if i.action in actions)

    @property
    def kept(self) -> Tuple[EtcMergeItem, ...]:
        """Local edits and additions that survive."""
        return self._where("keep-modified", "keep-added")

    @property
    def dropped(self) -> Tuple[EtcMergeItem, ...]:
        """Paths the new /etc will not have: local deletions kept, vendor removals."""
        return self._where("keep-removed", "vendor-remove")

    @property
    def vendor_updates(self) -> Tuple[EtcMergeItem, ...]:
        return self._where("vendor-update", "vendor-add")

    @property
    def conflicts(self) -> Tuple[EtcMergeItem, ...]:
        return tuple(i for i in self.items if i.conflict is not None)


def plan_etc_merge(orig: Snapshot, modified: Snapshot, old_vendor: Snapshot,
                   new_vendor: Snapshot) -> EtcMergePlan:
    """Preview the merge.

    ``orig`` / ``modified`` are the merge deployment's ``usr/etc`` and
    ``etc`` as on disk (their diff is what ostree carries over);
    ``old_vendor`` / ``new_vendor`` are the ``usr/etc`` of the old and new
    commits taken the same way (both from the repository), so that vendor
    changes are found regardless of checkout ownership.
    """
    diff = diff_snapshots(orig, modified)
    items: List[EtcMergeItem] = []
    error = None
    local = set(diff.modified) | set(diff.removed) | set(diff.added)

    def covered(p: str) -> bool:
        # a path under a locally removed/modified/added directory
        parts = p.split("/")
        return any("/".join(parts[:i]) in local for i in range(1, len(parts)))

    for p in diff.removed:
        if covered(p):
            continue
        conflict = None
        if p in new_vendor and new_vendor.get(p) != old_vendor.get(p):
            conflict = "changed by the new version; stays deleted"
        items.append(EtcMergeItem(p, "keep-removed", conflict))
    for p in diff.modified:
        conflict = None
        nv, ov = new_vendor.get(p), old_vendor.get(p)
        if modified[p].kind == "d" and nv is not None and nv.kind == "d":
            # both directories: ostree assumes the recursive copy did it
            if nv != ov:
                conflict = "directory metadata changed by the new version; the new version's is kept"
                items.append(EtcMergeItem(p, "vendor-update", conflict))
            continue
        if nv is not None and nv.kind == "d" and modified[p].kind != "d":
            error = f"Modified config file newly defaults to directory '{p}', cannot merge"
            conflict = "the new version makes it a directory"
        elif nv is None and ov is not None:
            conflict = "removed by the new version; the local version is kept"
        elif nv != ov:
            conflict = "changed by the new version; the local version wins"
        items.append(EtcMergeItem(p, "keep-modified", conflict))
    for p in diff.added:
        if covered(p):
            continue
        conflict = None
        nv = new_vendor.get(p)
        if nv is not None and nv.content != modified[p].content:
            conflict = "now shipped by the new version; the local version wins"
            if nv.kind == "d" and modified[p].kind != "d":
                error = f"Modified config file newly defaults to directory '{p}', cannot merge"
        items.append(EtcMergeItem(p, "keep-added", conflict))
    for p, nv in new_vendor.items():
        if p in local or covered(p):
            continue
        ov = old_vendor.get(p)
        if ov is None:
            items.append(EtcMergeItem(p, "vendor-add"))
        elif ov != nv:
            items.append(EtcMergeItem(p, "vendor-update"))
    for p in old_vendor:
        if p not in new_vendor and p not in local and not covered(p) and p in modified:
            items.append(EtcMergeItem(p, "vendor-remove"))
    return EtcMergePlan(diff, tuple(items), error)


def format_plan(plan: EtcMergePlan) -> str:
    """Text for ``--dry-run``: one line per path, conflicts marked."""
    out = [plan.diff.message() + "\n"]
    names = {"keep-modified": "keep (modified)", "keep-added": "keep (added)",
             "keep-removed": "drop (removed locally)", "vendor-update": "update",
             "vendor-add": "add", "vendor-remove": "drop (removed by the new version)"}
    for it in plan.items:
        line = f"  {names[it.action]}: /etc/{it.path}"
        if it.conflict:
            line += f"  CONFLICT: {it.conflict}"
        out.append(line + "\n")
    if plan.error:
        out.append(f"error: {plan.error}\n")
    return "".join(out)


# ------------------------------------------------------------------------ apply (filesystem)


def _copy_attrs(src: str, dst_fd: int) -> None:
    st = os.lstat(src)
    with contextlib.suppress(PermissionError):
        os.fchown(dst_fd, st.st_uid, st.st_gid)
    os.fchmod(dst_fd, stat.S_IMODE(st.st_mode))


def _copy_file(src: str, dst: str) -> None:
    # glnx_file_copy_at with OVERWRITE; xattrs are not copied (a change of
    # label alone is not a change to ostree either)
    st = os.lstat(src)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dst)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        with contextlib.suppress(PermissionError):
            os.lchown(dst, st.st_uid, st.st_gid)
        return
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(src, "rb") as f:
            while True:
                b = f.read(_CHUNK)
                if not b:
                    break
                view = memoryview(b)
                while view:
                    view = view[os.write(fd, view):]
        with contextlib.suppress(PermissionError):
            os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    finally:
        os.close(fd)


def _copy_dir_recurse(src: str, dst: str) -> None:
    os.makedirs(dst, 0o700, exist_ok=True)
    fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_attrs(src, fd)
    finally:
        os.close(fd)
    with os.scandir(src) as it:
        for ent in list(it):
            s, d = ent.path, os.path.join(dst, ent.name)
            st = ent.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                _copy_dir_recurse(s, d)
            elif stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
                _copy_file(s, d)
            # special files are ignored, as ostree does (with a log line)


def _ensure_dir_from_template(modified_etc: str, new_etc: str, rel: str) -> None:
    # a directory is entered, so a symlink in its place is followed too (inside the deployment)
    target = _in_deployment(new_etc, rel, follow_last=True)
    try:
        os.mkdir(target, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        parent = os.path.dirname(rel)
        if parent:
            _ensure_dir_from_template(modified_etc, new_etc, parent)
        # a symlinked directory may lead to a path the deployment does not have yet
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        os.mkdir(target, 0o700)
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _copy_attrs(os.path.join(modified_etc, rel), fd)
    finally:
        os.close(fd)


def _copy_modified(modified_etc: str, new_etc: str, rel: str) -> None:
    src = os.path.join(modified_etc, rel)
    st = os.lstat(src)
    parent = os.path.dirname(rel)
    if parent:
        _ensure_dir_from_template(modified_etc, new_etc, parent)
    dst = _in_deployment(new_etc, rel)
    try:
        nst = os.lstat(dst)
    except FileNotFoundError:
        nst = None
    if nst is not None:
        if stat.S_ISDIR(nst.st_mode):
            if not stat.S_ISDIR(st.st_mode):
                raise DeployError(f"During /etc merge: Modified config file newly defaults to "
                                  f"directory '{rel}', cannot merge")
            return  # assume the parent's recursive copy did it
        os.unlink(dst)
    if stat.S_ISDIR(st.st_mode):
        _copy_dir_recurse(src, dst)
    elif stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
        _copy_file(src, dst)


def resolve_beneath(root: str, rel: str, max_links: int = 40, follow_last: bool = False) -> str:
    """The path ``rel`` names under ``root`` as the booted deployment would see it:
    symlinks in its directories are followed *inside* ``root`` (an absolute target
    starts again at ``root``, ``..`` stops at it), so a symlink shipped in an image's
    /etc cannot send the merge's deletes and writes to the host.  The last component
    is not followed (it is what gets replaced or removed)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    done: List[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        cur = os.path.join(root, *done, name)
        if (parts or follow_last) and os.path.islink(cur):
            hops += 1
            if hops > max_links:
                raise DeployError(f"During /etc merge: too many levels of symbolic links in {rel}")
            target = os.readlink(cur)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(name)
    return os.path.join(root, *done)


def _rm_rf(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _in_deployment(new_etc: str, rel: str, follow_last: bool = False) -> str:
    # new_etc is <deployment>/etc: resolve with the deployment as the root
    root = os.path.dirname(new_etc.rstrip("/"))
    return resolve_beneath(root, "etc/" + rel, follow_last=follow_last)


def apply_etc_merge(merge_deployment_dir: str, new_deployment_dir: str) -> EtcDiff:
    """Carry the local /etc changes of the merge deployment into the new
    deployment's ``etc`` (which holds its vendor defaults)."""
    orig = os.path.join(merge_deployment_dir, "usr/etc")
    modified = os.path.join(merge_deployment_dir, "etc")
    new_etc = os.path.join(new_deployment_dir, "etc")
    try:
        diff = diff_snapshots(snapshot_dir(orig), snapshot_dir(modified))
    except OSError as e:
        raise DeployError(f"During /etc merge: While computing configuration diff: {e}") from None
    try:
        for rel in diff.removed:
            _rm_rf(_in_deployment(new_etc, rel))
        for rel in diff.modified + diff.added:
            _copy_modified(modified, new_etc, rel)
    except OSError as e:
        raise DeployError(f"During /etc merge: {e}") from None
    return diff
