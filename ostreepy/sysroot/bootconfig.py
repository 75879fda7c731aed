"""The on-disk boot configuration of a sysroot: ``boot/loader`` and its
entries, the ``ostree/boot.B.S`` bootlinks, and the atomic swaps.

Layout (ostree's ``ostree-sysroot-deploy.c``, ``ostree-sysroot.c``)::

    boot/loader -> loader.B                 the active boot version B (0 or 1)
    boot/loader.B/entries/ostree-*.conf     BLS entries, options hold ostree=/ostree/boot.B/<os>/<bootcsum>/<serial>
    ostree/boot.B -> boot.B.S               the active subbootversion S
    ostree/boot.B.S/<os>/<bootcsum>/<serial> -> ../../../deploy/<os>/deploy/<csum>.<deployserial>

A new set of entries is written into ``loader.<1-B>``, its bootlinks into
``ostree/boot.<1-B>.*``, everything is synced, then ``boot/loader`` is
replaced by renaming a ``loader.tmp`` symlink over it: one rename, so a
crash leaves either the old or the new set active. When only the
deployments behind unchanged entries change, ``ostree/boot.B`` alone is
replaced the same way.

:func:`fault_point` is the test hook: ``OSTREEPY_FAULT=<step>`` in the
environment makes the process exit at once (``os._exit``) at that step.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from typing import List, Sequence, Tuple

from bootloader.bls import BLSEntry, format_entry, parse_entry
from bootloader.sort import ostree_sort_entries

from ..fsutil import NO_INODE_FLAGS, alter_immutable_flag, write_file_atomic
from ..errors import DeployError, SysrootError

__all__ = [
    "FAULT_ENV", "FAULT_EXIT_CODE", "fault_point",
    "read_bootversion", "read_subbootversion", "read_loader_entries", "write_entry",
    "symlink_replace", "create_bootlinks", "swap_bootlinks", "prepare_loader_link",
    "swap_loader", "syncfs", "set_immutable", "rm_rf",
]

#: the environment variable naming the step :func:`fault_point` stops the process at
FAULT_ENV = "OSTREEPY_FAULT"
#: the exit status of a process stopped by :func:`fault_point`
FAULT_EXIT_CODE = 86


def fault_point(step: str) -> None:
    """Exit hard here when the environment names this step (tests)."""
    if os.environ.get(FAULT_ENV) == step:
        os._exit(FAULT_EXIT_CODE)


# ------------------------------------------------------------------------ reading


def read_bootversion(sysroot: str) -> int:
    """From the ``boot/loader`` target; 0 when there is no link."""
    path = os.path.join(sysroot, "boot/loader")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    if not stat.S_ISLNK(st.st_mode):
        raise SysrootError("Not a symbolic link: boot/loader")
    target = os.readlink(path)
    if target == "loader.0":
        return 0
    if target == "loader.1":
        return 1
    raise SysrootError(f"Invalid target '{target}' in boot/loader")


def read_subbootversion(sysroot: str, bootversion: int) -> int:
    """From the ``ostree/boot.<B>`` target suffix; 0 when there is no link."""
    path = os.path.join(sysroot, f"ostree/boot.{bootversion}")
    try:
        target = os.readlink(path)
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise SysrootError(f"Reading current subbootversion: Reading ostree/boot.{bootversion}: "
                           f"{e.strerror}") from None
    if target.endswith(".0"):
        return 0
    if target.endswith(".1"):
        return 1
    raise SysrootError(f"Reading current subbootversion: Invalid target '{target}' in "
                       f"ostree/boot.{bootversion}")


def read_loader_entries(sysroot: str, bootversion: int) -> List[Tuple[str, BLSEntry]]:
    """The ``ostree-*.conf`` entries of ``loader.<B>``, in deployment order
    (highest ``version`` first)."""
    d = os.path.join(sysroot, f"boot/loader.{bootversion}/entries")
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if not (n.startswith("ostree-") and n.endswith(".conf")):
            continue
        p = os.path.join(d, n)
        if not stat.S_ISREG(os.stat(p).st_mode):
            continue
        with open(p, "rb") as f:
            data = f.read()
        try:
            out.append((n, parse_entry(data, strict=False)))
        except Exception as e:  # noqa: BLE001
            raise SysrootError(f"Parsing {n}: {e}") from None
    return ostree_sort_entries(out)


# ------------------------------------------------------------------------ writing


def write_entry(sysroot: str, bootversion: int, filename: str, entry: BLSEntry) -> None:
    """Write a boot entry file into ``boot/loader.<bootversion>/entries``, atomically."""
    d = os.path.join(sysroot, f"boot/loader.{bootversion}/entries")
    os.makedirs(d, 0o775, exist_ok=True)
    # kargs edit-in-place rewrites the active entry: it must not land empty after a crash
    write_file_atomic(os.path.join(d, filename), format_entry(entry).encode(), 0o644, fsync=True)


def symlink_replace(target: str, dirpath: str, name: str) -> None:
    """``symlink_at_replace``: create ``<name>.tmp`` then rename it over ``name``."""
    tmp = os.path.join(dirpath, name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, os.path.join(dirpath, name))


def rm_rf(path: str) -> None:
    """``glnx_shutil_rm_rf_at``, clearing the immutable flag of deployment roots."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    set_immutable(path, False)
    try:
        shutil.rmtree(path)
    except PermissionError:
        # a deployment root inside that still carries +i
        for dirpath, dirnames, _ in os.walk(path):
            for dn in dirnames:
                with contextlib.suppress(OSError):
                    set_immutable(os.path.join(dirpath, dn), False)
        shutil.rmtree(path)


def create_bootlinks(sysroot: str, bootversion: int, new_subbootversion: int,
                     links: Sequence[Tuple[str, str, int, str]]) -> None:
    """Build ``ostree/boot.<B>.<S>`` with one link per ``(osname, bootcsum,
    bootserial, deploy name)``."""
    ostree_dir = os.path.join(sysroot, "ostree")
    subdir = os.path.join(ostree_dir, f"boot.{bootversion}.{new_subbootversion}")
    rm_rf(subdir)
    os.makedirs(subdir, 0o755, exist_ok=True)
    for osname, bootcsum, bootserial, name in links:
        parent = os.path.join(subdir, osname, bootcsum)
        os.makedirs(parent, 0o755, exist_ok=True)
        symlink_replace(f"../../../deploy/{osname}/deploy/{name}", parent, str(bootserial))


def swap_bootlinks(sysroot: str, bootversion: int, new_subbootversion: int) -> str:
    """Point ``ostree/boot.<B>`` at ``boot.<B>.<S>``; returns that name."""
    name = f"boot.{bootversion}.{new_subbootversion}"
    symlink_replace(name, os.path.join(sysroot, "ostree"), f"boot.{bootversion}")
    return name


def prepare_loader_link(sysroot: str, new_bootversion: int) -> None:
    """``boot/boot -> .`` and ``boot/loader.tmp -> loader.<new>``."""
    boot = os.path.join(sysroot, "boot")
    try:
        os.symlink(".", os.path.join(boot, "boot"))
    except FileExistsError:
        pass
    tmp = os.path.join(boot, "loader.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(f"loader.{new_bootversion}", tmp)


def swap_loader(sysroot: str) -> None:
    """The one rename that switches the active boot entries."""
    boot = os.path.join(sysroot, "boot")
    os.rename(os.path.join(boot, "loader.tmp"), os.path.join(boot, "loader"))


def syncfs(path: str) -> None:
    """syncfs() on the filesystem holding ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.syncfs(fd) != 0:
                os.sync()
        except (OSError, AttributeError):
            os.sync()
    finally:
        os.close(fd)


def set_immutable(path: str, immutable: bool) -> None:
    """``_ostree_linuxfs_fd_alter_immutable_flag``: silently nothing when the
    filesystem or our privileges do not allow it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        alter_immutable_flag(fd, immutable)
    except OSError as e:
        if e.errno in NO_INODE_FLAGS or e.errno in (errno.EPERM, errno.EACCES):
            return
        raise DeployError(f"ioctl(EXT2_IOC_GETFLAGS/SETFLAGS): {e.strerror}") from None
    finally:
        os.close(fd)

