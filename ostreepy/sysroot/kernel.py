"""Finding a deployment's kernel, initramfs and device tree as ostree does,
its boot checksum, and installing them into ``/boot/ostree/<os>-<bootcsum>/``.

Mirrors ``get_kernel_from_tree*`` and ``install_into_boot`` of ostree's
``ostree-sysroot-deploy.c``:

1. ``usr/lib/modules/<kver>/vmlinuz``: the first directory (readdir order)
   with a regular ``vmlinuz``; optional ``initramfs.img`` (else
   ``initramfs``), ``aboot.img``, ``devicetree`` (else a ``dtb/``
   directory), ``.vmlinuz.hmac``. bootcsum = sha256(vmlinuz ‖ initramfs ‖
   devicetree, or the dtb files in strcmp order, recursively).
2. legacy ``usr/lib/ostree-boot/`` else ``boot/``: ``vmlinuz-*-<bootcsum>``,
   ``initramfs-*-<bootcsum>``, ``devicetree-*-<bootcsum>``; bootcsum is the
   name suffix, which must agree between them.
3. the modules layout wins unless it lacks an initramfs that the legacy one has.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from typing import Iterator, List, Optional, Tuple

import attrs

from ..errors import DeployError
from ..store.objects import is_checksum

__all__ = ["KernelLayout", "find_kernel", "install_kernel", "kernel_layout_size",
           "commit_kernel_size"]

_CHUNK = 1 << 20


@attrs.frozen
class KernelLayout:
    """Where the boot files of a tree are (``boot_dir``, absolute) and the
    names they get in ``/boot/ostree/<os>-<bootcsum>/``.

    ``devicetree_name`` None with ``devicetree_src`` set means a whole
    directory (``dtb``), written as ``fdtdir``.
    """

    boot_dir: str
    kernel_src: str
    kernel_name: str
    bootcsum: str
    initramfs_src: Optional[str] = None
    initramfs_name: Optional[str] = None
    devicetree_src: Optional[str] = None
    devicetree_name: Optional[str] = None
    hmac_src: Optional[str] = None
    hmac_name: Optional[str] = None
    aboot_src: Optional[str] = None
    aboot_name: Optional[str] = None

    def file_pairs(self) -> List[Tuple[str, str]]:
        """``(source name, installed name)`` of the single files, in the
        order ostree installs them."""
        out = [(self.kernel_src, self.kernel_name)]
        if self.initramfs_src and self.initramfs_name:
            out.append((self.initramfs_src, self.initramfs_name))
        if self.devicetree_src and self.devicetree_name:
            out.append((self.devicetree_src, self.devicetree_name))
        if self.hmac_src and self.hmac_name:
            out.append((self.hmac_src, self.hmac_name))
        if self.aboot_src and self.aboot_name:
            out.append((self.aboot_src, self.aboot_name))
        return out


def _hash_file(h: "hashlib._Hash", path: str) -> None:
    with open(path, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                break
            h.update(b)


def _hash_dir(h: "hashlib._Hash", path: str) -> None:
    # checksum_dir_recurse: names sorted bytewise, directories recursed,
    # everything else opened and hashed (a symlink is followed).
    names = sorted(os.listdir(path), key=lambda n: os.fsencode(n))
    for n in names:
        p = os.path.join(path, n)
        st = os.lstat(p)
        if stat.S_ISDIR(st.st_mode):
            _hash_dir(h, p)
        elif stat.S_ISREG(st.st_mode):
            # ostree follows symlinks here; we do not read outside the tree, and the
            # copy below does not install them either
            _hash_file(h, p)


def _exists(path: str) -> bool:
    """A regular file, not followed through a symlink: whatever the image links to
    (a host path, say) must never be hashed, linked or copied into /boot."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _isdir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _usrlib_modules(root: str, compute_checksum: bool, no_dtb: bool = False) -> Optional[KernelLayout]:
    moddir = os.path.join(root, "usr/lib/modules")
    try:
        it = os.scandir(moddir)
    except (FileNotFoundError, NotADirectoryError):
        return None
    kver = None
    with it:
        for ent in it:  # readdir order, as ostree iterates
            if not ent.is_dir(follow_symlinks=False):
                continue
            try:
                st = os.lstat(os.path.join(ent.path, "vmlinuz"))
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            kver = ent.name
            break
    if kver is None:
        return None
    bdir = os.path.join(moddir, kver)
    h = hashlib.sha256()
    if compute_checksum:
        _hash_file(h, os.path.join(bdir, "vmlinuz"))
    fields = dict(boot_dir=bdir, kernel_src="vmlinuz", kernel_name=f"vmlinuz-{kver}")
    for cand in ("initramfs.img", "initramfs"):
        if _exists(os.path.join(bdir, cand)):
            fields.update(initramfs_src=cand, initramfs_name=f"initramfs-{kver}.img")
            if compute_checksum:
                _hash_file(h, os.path.join(bdir, cand))
            break
    if _exists(os.path.join(bdir, "aboot.img")):
        fields.update(aboot_src="aboot.img", aboot_name=f"aboot-{kver}.img")
    if no_dtb:  # OSTREE_SYSROOT_DEBUG=no-dtb
        pass
    elif _exists(os.path.join(bdir, "devicetree")):
        fields.update(devicetree_src="devicetree", devicetree_name=f"devicetree-{kver}")
        if compute_checksum:
            _hash_file(h, os.path.join(bdir, "devicetree"))
    elif _isdir(os.path.join(bdir, "dtb")):
        fields.update(devicetree_src="dtb")
        if compute_checksum:
            _hash_dir(h, os.path.join(bdir, "dtb"))
    if os.path.lexists(os.path.join(bdir, ".vmlinuz.hmac")) and _exists(os.path.join(bdir, ".vmlinuz.hmac")):
        fields.update(hmac_src=".vmlinuz.hmac", hmac_name=f".vmlinuz-{kver}.hmac")
    return KernelLayout(bootcsum=h.hexdigest() if compute_checksum else "", **fields)  # type: ignore[arg-type]


def _legacy(root: str) -> Optional[KernelLayout]:
    bdir = None
    for p in ("usr/lib/ostree-boot", "boot"):
        full = os.path.join(root, p)
        if _isdir(full):
            bdir = full
            break
    if bdir is None:
        return None
    found = {}
    with os.scandir(bdir) as it:
        for ent in it:
            name = ent.name
            if not ent.is_file(follow_symlinks=False):
                continue
            for prefix in ("vmlinuz-", "initramfs-", "devicetree-"):
                if name.startswith(prefix) and prefix not in found:
                    dash = name.rfind("-")
                    if is_checksum(name[dash + 1:]):
                        found[prefix] = (name, name[:dash], name[dash + 1:])
                    break
            if len(found) == 3:
                break
    if "vmlinuz-" not in found:
        return None
    ksrc, kname, kcsum = found["vmlinuz-"]
    fields = dict(boot_dir=bdir, kernel_src=ksrc, kernel_name=kname, bootcsum=kcsum)
    if "initramfs-" in found:
        src, name, c = found["initramfs-"]
        if c != kcsum:
            raise DeployError("Mismatched kernel checksum vs initrd")
        fields.update(initramfs_src=src, initramfs_name=name)
    if "devicetree-" in found:
        src, name, c = found["devicetree-"]
        if c != kcsum:
            raise DeployError("Mismatched kernel checksum vs device tree in tree")
        fields.update(devicetree_src=src, devicetree_name=name)
    return KernelLayout(**fields)  # type: ignore[arg-type]


def find_kernel(root: str, compute_checksum: bool = True, no_dtb: bool = False) -> KernelLayout:
    """The kernel layout of the tree at ``root``; raises :class:`DeployError`
    when there is none. Without ``compute_checksum`` the modules layout's
    bootcsum is left empty (the caller knows it); ``no_dtb`` leaves a modules
    layout's device tree out."""
    mod = _usrlib_modules(root, compute_checksum, no_dtb)
    legacy = _legacy(root)
    if legacy is None:
        if mod is None:
            raise DeployError("Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot")
        return mod
    if mod is not None and mod.initramfs_src is None and legacy.initramfs_src is not None:
        return legacy
    return mod if mod is not None else legacy


def _copy_into(src: str, dst_dir_fd: int, name: str) -> None:
    st = os.lstat(src)
    if not stat.S_ISREG(st.st_mode):
        raise DeployError(f"{src}: not a regular file")
    tmp = f".{name}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dst_dir_fd)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=dst_dir_fd)
    try:
        with open(os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
            while True:
                b = f.read(_CHUNK)
                if not b:
                    break
                os.write(fd, b)
        with contextlib.suppress(PermissionError):
            os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        os.fdatasync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, name, src_dir_fd=dst_dir_fd, dst_dir_fd=dst_dir_fd)
    finally:
        os.unlink(tmp, dir_fd=dst_dir_fd)


def _install_file(src: str, dst_dir_fd: int, name: str) -> None:
    # install_into_boot: a hardlink where possible, else a copy
    try:
        os.link(src, name, dst_dir_fd=dst_dir_fd, follow_symlinks=False)
        return
    except OSError as e:
        if e.errno not in (errno.EMLINK, errno.EXDEV, errno.EPERM):
            raise DeployError(f"linkat({name}): {e.strerror}") from None
    _copy_into(src, dst_dir_fd, name)


def _copy_dir(src: str, dst: str) -> None:
    os.makedirs(dst, 0o700, exist_ok=True)
    st = os.stat(src)
    for ent in os.scandir(src):
        s = ent.path
        d = os.path.join(dst, ent.name)
        if ent.is_dir(follow_symlinks=False):
            _copy_dir(s, d)
        elif ent.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(d)
            os.symlink(os.readlink(s), d)
        elif ent.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(d)
            dfd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
            try:
                _copy_into(s, dfd, ent.name)
            finally:
                os.close(dfd)
    with contextlib.suppress(PermissionError):
        os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))


def install_kernel(layout: KernelLayout, boot_root: str, osname: str) -> str:
    """Put the boot files into ``<boot_root>/ostree/<osname>-<bootcsum>/``
    unless already there; returns that directory."""
    bootcsumdir = os.path.join(boot_root, "ostree", f"{osname}-{layout.bootcsum}")
    os.makedirs(bootcsumdir, 0o775, exist_ok=True)
    dfd = os.open(bootcsumdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for src, name in layout.file_pairs():
            if _exists(os.path.join(bootcsumdir, name)):
                continue
            _install_file(os.path.join(layout.boot_dir, src), dfd, name)
        if layout.devicetree_src and layout.devicetree_name is None:
            _copy_dir(os.path.join(layout.boot_dir, layout.devicetree_src),
                      os.path.join(bootcsumdir, layout.devicetree_src))
    finally:
        os.close(dfd)
    return bootcsumdir


def _round(size: int, blocksize: int) -> int:
    if blocksize > 0 and size % blocksize:
        size += blocksize - size % blocksize
    return size


def kernel_layout_size(layout: KernelLayout, blocksize: int = 0) -> int:
    """``get_kernel_layout_size``: bytes the bootcsum directory would take."""
    total = 0
    for src, _ in layout.file_pairs():
        total += _round(os.stat(os.path.join(layout.boot_dir, src)).st_size, blocksize)
    if layout.devicetree_src and layout.devicetree_name is None:
        for dirpath, _dirs, files in os.walk(os.path.join(layout.boot_dir, layout.devicetree_src)):
            for f in files:
                total += _round(os.lstat(os.path.join(dirpath, f)).st_size, blocksize)
    return total


# -------------------------------------------------------------- from a commit (before checkout)


def _subtree(repo, tree: str, path: Tuple[str, ...]) -> Optional[str]:  # noqa: ANN001
    """The dirtree checksum at ``path`` below ``tree``, or None."""
    for name in path:
        nxt = next((t for n, t, _m in repo.load_dirtree(tree).dirs if n == name), None)
        if nxt is None:
            return None
        tree = nxt
    return tree


def _files_below(repo, tree: str) -> Iterator[str]:  # noqa: ANN001
    """Checksums of every file below ``tree``, recursively."""
    stack = [tree]
    while stack:
        dt = repo.load_dirtree(stack.pop())
        for _name, fcsum in dt.files:
            yield fcsum
        stack.extend(t for _n, t, _m in dt.dirs)


def commit_kernel_size(repo, csum: str, blocksize: int = 0) -> Tuple[int, int]:  # noqa: ANN001
    """Sizes needed by a deployment of ``csum`` before it is checked out:
    (bytes of its boot files, bytes of ``/usr/etc`` which is copied to
    ``/etc``). Approximates ``get_kernel_layout_size`` on the commit: all
    files under ``usr/lib/modules/<kver>/`` named like boot files, or the
    legacy boot directories' ``vmlinuz-``/``initramfs-``/``devicetree-`` files.

    Only the few directories that can hold them are read: a walk of the
    whole commit cost more than half a second at 20,000 files."""
    root = repo.load_commit(csum).root_tree
    size = lambda c: _round(repo.content_size(c), blocksize)  # noqa: E731
    etc_tree = _subtree(repo, root, ("usr", "etc"))
    etc = sum(size(c) for c in _files_below(repo, etc_tree)) if etc_tree else 0
    boot = 0
    names = ("vmlinuz", "initramfs.img", "initramfs", "devicetree", "aboot.img", ".vmlinuz.hmac")
    modules = _subtree(repo, root, ("usr", "lib", "modules"))
    for kver, ktree, _m in repo.load_dirtree(modules).dirs if modules else ():
        for name, c in repo.load_dirtree(ktree).files:
            if name in names or kver == "dtb":
                boot += size(c)
    for legacy in (("usr", "lib", "ostree-boot"), ("boot",)):
        t = _subtree(repo, root, legacy)
        for name, c in repo.load_dirtree(t).files if t else ():
            if name.startswith(("vmlinuz-", "initramfs-", "devicetree-")):
                boot += size(c)
    return boot, etc
