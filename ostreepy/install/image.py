"""``ostreepy image build``: a bootable disk image (raw or qcow2) from a
bootable container image, the bootc-image-builder job, without mounting
anything.

The flow is a staging area beside the output: a folder sysroot there gets the
image deployed by the same code as ``bootc switch`` (pull, kargs.d, origin),
with ``root=UUID=`` chosen before the deploy because ostree writes it into the
boot entry; its ``boot/`` becomes the /boot filesystem and the rest the root
filesystem, each made by ``mkfs.ext4 -d`` with the UUIDs chosen up front
straight into its partition of the sparse disk file (``-E offset=``); the ESP
is FAT made there by ``mkfs.vfat --offset`` and filled by ``mcopy`` with a
GRUB EFI binary that ``grub-mkimage`` packs from the image's own
``usr/lib/grub/x86_64-efi`` (the host's when the image has none) with an
early config that finds /boot by filesystem UUID, or with shim and the
image's signed GRUB when it ships them (:mod:`ostreepy.install.esp`). Debian's GRUB has no
``blscfg``, so /boot gets the ``grub/grub.cfg`` the project generates from
the BLS entries (what ostree's ``15_ostree`` would write). The GPT comes from
:mod:`ostreepy.install.gpt`. qcow2 is ``qemu-img convert`` of the raw disk.

The staging sysroot is written without fsync or syncfs: it is removed once
mkfs has read it, and a crash leaves staging behind, never an output. What
is kept is synced where it lands, once: mkfs.ext4 fsyncs each filesystem it
wrote into the disk, :func:`~ostreepy.install.disk.write_gpt` the disk at
the end. Left unsynced, the staging tree mostly never reaches the device,
which also makes its removal cheap (no blocks to free and discard).

Everything is checked before the output is touched: the tools, the kernel and
initramfs of the deployment, the disk size against what the trees need, and
the free space of the output folder.

Where the image ships GRUB for BIOS (``usr/lib/grub/i386-pc``) the disk boots
from a BIOS too (:mod:`ostreepy.install.biosboot`). ``bootloader="systemd"``
puts systemd-boot on the ESP instead of GRUB, reading ostree's entries from
the XBOOTLDR /boot (:mod:`ostreepy.install.esp`); no grub.cfg is written then,
so later deploys write only the BLS entries, which is what systemd-boot reads.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import attrs

from ..errors import OstreeError
from ..parallel import run_all
from ..progress import ImageBuildBytes, ImageBuildStage, ProgressCallback, emit
from . import gpt
from .biosboot import grub_pc_dir, install_bios_boot, make_core_img
from .config import BuildConfig
from .disk import write_gpt
from .esp import BOOTLOADERS, fill_esp, grub_esp_files, systemd_boot_files
from .owners import fix_owners

__all__ = ["ImageBuildError", "ImageBuildResult", "build_image", "grub_config", "tree_usage"]

MIB = 1024 * 1024
GIB = 1024 * MIB
ESP_SIZE = 512 * MIB
BOOT_SIZE = 1024 * MIB
STAGES = ("deploy", "grub", "root-fs", "boot-fs", "esp", "partition", "convert")


class ImageBuildError(OstreeError):
    """The disk image cannot be built as asked; nothing was written to the output."""


@attrs.frozen
class ImageBuildResult:
    """A built disk: ``path`` (``image/disk.raw`` or ``qcow2/disk.qcow2`` under
    the output folder), its GPT, the filesystem UUIDs the boot entry and GRUB
    name, and the deployment made (``<checksum>.<serial>`` in ``stateroot``)."""

    path: Path
    format: str
    disk_size: int
    table: gpt.GptTable
    root_uuid: uuid.UUID
    boot_uuid: uuid.UUID
    esp_serial: str
    stateroot: str
    deployment: str
    kargs: str
    bootloader: str = "grub"
    bios: bool = False


def _which(tool: str) -> str:
    for d in (os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]):
        p = os.path.join(d, tool)
        if d and os.access(p, os.X_OK):
            return p
    raise ImageBuildError(f"{tool} not found: install {_PACKAGE_OF.get(tool, tool)}")


_PACKAGE_OF = {"mkfs.ext4": "e2fsprogs", "mkfs.vfat": "dosfstools", "mcopy": "mtools", "mmd": "mtools",
               "grub-mkimage": "grub-common (and grub-efi-amd64-bin)", "qemu-img": "qemu-utils",
               "debugfs": "e2fsprogs", "mkfs.xfs": "xfsprogs"}


def _run(*args: str) -> None:
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise ImageBuildError(f"{os.path.basename(args[0])} failed ({p.returncode}): "
                              f"{(p.stderr or p.stdout).strip()}")


def tree_usage(root: Path, skip: Sequence[Path] = ()) -> Tuple[int, int]:
    """(bytes allocated, inodes) of a tree, each hardlinked inode once: what an
    ext4 made from it must hold."""
    seen = set()
    total = 0
    inodes = 0
    skipped = {str(p) for p in skip}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            inodes += 1
            total += max(st.st_blocks * 512, 4096 if stat.S_ISDIR(st.st_mode) else 0)
    return total, inodes


def _fs_size(used: int, inodes: int) -> int:
    # ext4 overhead: journal (up to 64 MiB), inode tables at 256 bytes per inode,
    # reserved blocks; rounded up to whole MiB
    need = int(used * 1.15) + inodes * 512 + 96 * MIB
    return -(-need // MIB) * MIB


def grub_config(sysroot: Path, boot_uuid: uuid.UUID) -> str:
    """/boot/grub/grub.cfg: the menu entries ostree's ``grub2-generate`` makes
    from the current boot version's entries (paths relative to /boot, as on
    a separate /boot filesystem), after a header for a serial console. It
    carries its settings, so every later deploy regenerates it
    (:mod:`ostreepy.sysroot.grubcfg`)."""
    from ..sysroot.bootconfig import read_bootversion, read_loader_entries
    from ..sysroot.grubcfg import DEFAULT_HEADER, GrubSettings, render
    bv = read_bootversion(str(sysroot))
    head = ("serial --unit=0 --speed=115200\n"
            "terminal_input console serial\n"
            "terminal_output console serial\n"
            "set timeout=1\n" + DEFAULT_HEADER)
    cache = f"search --no-floppy --fs-uuid --set=root {boot_uuid}"
    settings = GrubSettings(boot_device_id=str(boot_uuid), prepare_root_cache=cache, header=head, efi=True)
    return render(settings, read_loader_entries(str(sysroot), bv))


def _unimmutable(tree: Path) -> None:
    from ..sysroot.bootconfig import set_immutable
    deploy = tree / "ostree" / "deploy"
    if deploy.is_dir():
        for osdir in deploy.iterdir():
            dd = osdir / "deploy"
            if dd.is_dir():
                for d in dd.iterdir():
                    if d.is_dir() and not d.is_symlink():
                        set_immutable(str(d), False)


def build_image(imgref: str, outdir: Path, *, image_type: str = "raw", size: Optional[int] = None,
                rootfs: str = "ext4", config: Optional[BuildConfig] = None, stateroot: str = "default",
                kargs: Sequence[str] = (), bootloader: str = "grub",
                progress: Optional[ProgressCallback] = None) -> ImageBuildResult:
    """Build ``outdir/image/disk.raw`` (or ``outdir/qcow2/disk.qcow2``) from
    ``imgref`` (an ostree image reference, e.g. ``ostree-unverified-image:oci:DIR:TAG``)."""
    from ..bootc.verbs import deploy_image
    from ..container.imgref import OstreeImageReference
    from ..sysroot.sysroot import Sysroot, init_fs

    if image_type not in ("raw", "qcow2"):
        raise ImageBuildError(f"--type={image_type}: expected raw or qcow2")
    if rootfs != "ext4":
        raise ImageBuildError(f"--rootfs={rootfs}: only ext4 is supported")
    if bootloader not in BOOTLOADERS:
        raise ImageBuildError(f"--bootloader={bootloader}: expected {' or '.join(BOOTLOADERS)}")
    tools = {t: _which(t) for t in ("mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "mmd", "grub-mkimage")}
    if image_type == "qcow2":
        tools["qemu-img"] = _which("qemu-img")
    oref = OstreeImageReference.parse(imgref)
    config = config or BuildConfig()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    final = outdir / ("image/disk.raw" if image_type == "raw" else "qcow2/disk.qcow2")
    if final.exists():
        raise ImageBuildError(f"{final} exists: remove it or choose another output folder")

    root_uuid, boot_uuid = uuid.uuid4(), uuid.uuid4()
    serial = uuid.uuid4().hex[:8].upper()
    staging = Path(tempfile.mkdtemp(prefix=".image-build-", dir=outdir))
    total = len(STAGES) if image_type == "qcow2" else len(STAGES) - 1

    def stage(i: int) -> None:
        emit(progress, ImageBuildStage(stage=STAGES[i], index=i, total=total))

    try:
        stage(0)
        sr_path = staging / "sysroot"
        sr_path.mkdir()
        init_fs(str(sr_path), repo_mode="bare" if os.geteuid() == 0 else "bare-user")
        all_kargs = [f"root=UUID={root_uuid}", "rw"] + list(config.kargs) + list(kargs)
        # no fsync or syncfs in the staging sysroot (see the module's docstring)
        with Sysroot(str(sr_path), opts=("skip-sync",), progress=progress) as sr:
            sr.repo.fsync = False  # this process only: the image's repo config keeps fsync on
            sr.init_osname(stateroot)
            res = deploy_image(sr, stateroot, oref, None, kargs=all_kargs, progress=progress)
            dep = res.deployment
            assert dep is not None
            ddir = Path(sr.deployment_dir(dep))
            entry = dep.bootconfig
            if entry is None or not entry.get("linux"):
                raise ImageBuildError(f"{imgref}: the image has no kernel (usr/lib/modules/*/vmlinuz)")
            if not entry.get_all("initrd"):
                raise ImageBuildError(f"{imgref}: the image has no initramfs "
                                      "(usr/lib/modules/*/initramfs.img)")
            options = entry.get("options") or ""
            name = f"{dep.csum}.{dep.deployserial}"
        config.apply(sr_path, ddir, stateroot)

        stage(1)
        boot_tree = staging / "boot"
        os.rename(sr_path / "boot", boot_tree)
        (sr_path / "boot").mkdir()
        pc_dir = grub_pc_dir(ddir) if bootloader == "grub" else None
        core = None
        if bootloader == "grub":
            (boot_tree / "grub").mkdir(exist_ok=True)
            (boot_tree / "grub/grub.cfg").write_text(_grub_config_for(boot_tree, boot_uuid))
            esp_files = grub_esp_files(ddir, staging, str(boot_uuid), True)
            if pc_dir is not None:
                core = make_core_img(tools["grub-mkimage"], pc_dir, str(boot_uuid), True)
        else:
            esp_files = systemd_boot_files(ddir, staging)

        root_used, root_inodes = tree_usage(sr_path)
        boot_used, boot_inodes = tree_usage(boot_tree)
        root_min = max(_fs_size(root_used, root_inodes), config.min_size("/"))
        boot_size = max(BOOT_SIZE, _fs_size(boot_used, boot_inodes), config.min_size("/boot"))
        fixed = 3 * MIB + ESP_SIZE + boot_size
        if size is None:
            disk_size = fixed + max(root_min, 2 * GIB)
        else:
            disk_size = -(-size // MIB) * MIB
            if disk_size < fixed + root_min:
                raise ImageBuildError(f"--size={size}: too small for the image, which needs at least "
                                      f"{-(-(fixed + root_min) // MIB)} MiB")
        table = gpt.bootc_layout(disk_size, boot_size=boot_size, esp_size=ESP_SIZE)
        bios, esp, boot, root = table.partitions
        # the disk's data blocks (each filesystem is written once, in place) and a qcow2 copy
        need = root_used + boot_used + 2 * MIB + (root_used + boot_used if image_type == "qcow2" else 0)
        free = shutil.disk_usage(outdir).free
        if free < need:
            raise ImageBuildError(f"{outdir}: {free // MIB} MiB free, the build needs about {need // MIB} MiB")

        rootless = os.geteuid() != 0
        if rootless:
            # the image's repository is read as the bare one root would have made:
            # fix_owners gives its objects their real owners and turns symlinks back
            _set_repo_mode(sr_path / "ostree/repo/config", "bare")
        # every filesystem is made in place, in its partition of the sparse disk
        # file: nothing is copied and the disk is the only file the build writes
        raw = staging / "disk.raw"
        with open(raw, "wb") as f:
            f.truncate(disk_size)
        stage(2)
        _mkfs_ext4(tools["mkfs.ext4"], raw, root, sr_path, root_uuid, "root")
        if rootless:
            fix_owners(tools["debugfs"], raw, sr_path, root.offset)
        _written(progress, root)
        stage(3)
        _mkfs_ext4(tools["mkfs.ext4"], raw, boot, boot_tree, boot_uuid, "boot")
        if rootless:
            fix_owners(tools["debugfs"], raw, boot_tree, boot.offset)
        _written(progress, boot)
        stage(4)
        _run(tools["mkfs.vfat"], "-F", "32", "-n", "EFI-SYSTEM", "-i", serial, f"--offset={esp.offset // 512}",
             str(raw), str(esp.size // 1024))
        fill_esp(tools["mmd"], tools["mcopy"], str(raw), esp_files, esp.offset)
        _written(progress, esp)

        stage(5)
        write_gpt(raw, table)
        if core is not None and pc_dir is not None:
            install_bios_boot(raw, bios, pc_dir, core)

        final.parent.mkdir(parents=True, exist_ok=True)
        if image_type == "qcow2":
            stage(6)
            tmp = staging / "disk.qcow2"
            _run(tools["qemu-img"], "convert", "-f", "raw", "-O", "qcow2", str(raw), str(tmp))
            os.rename(tmp, final)
        else:
            os.rename(raw, final)
        return ImageBuildResult(path=final, format=image_type, disk_size=disk_size, table=table,
                                root_uuid=root_uuid, boot_uuid=boot_uuid,
                                esp_serial=f"{serial[:4]}-{serial[4:]}", stateroot=stateroot,
                                deployment=name, kargs=options, bootloader=bootloader, bios=core is not None)
    finally:
        _unimmutable(staging / "sysroot")
        _remove_tree(staging)


#: threads unlinking the staging tree's files
REMOVE_WORKERS = 8


def _remove_tree(top: Path) -> None:
    """``rm -rf top``, the files of each folder unlinked by a pool of threads.

    An unlink mostly waits in the kernel (the journal, freeing and discarding
    the blocks of files that reached the device), so a few at once overlap
    their waits: on a busy ext4 the staging tree of a 240 MB image went in
    about a third of the time of one thread. The folders then go the same
    way, a level at a time, deepest first; whatever is left (an error) goes
    with ``shutil.rmtree``."""
    dirs = [dirpath for dirpath, _, _ in os.walk(top)]  # symlinks to folders are not followed

    def unlink_files(d: str) -> None:
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            with os.scandir(fd) as it:
                names = [e.name for e in it if not e.is_dir(follow_symlinks=False)]
            for n in names:
                try:
                    os.unlink(n, dir_fd=fd)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def rmdir(d: str) -> None:
        try:
            os.rmdir(d)
        except OSError:
            pass

    by_depth: Dict[int, List[str]] = {}
    for d in dirs:
        by_depth.setdefault(d.count(os.sep), []).append(d)
    run_all(unlink_files, dirs, REMOVE_WORKERS, "ostreepy-rm")
    for depth in sorted(by_depth, reverse=True):
        run_all(rmdir, by_depth[depth], REMOVE_WORKERS, "ostreepy-rm")
    shutil.rmtree(top, ignore_errors=True)


def _grub_config_for(boot_tree: Path, boot_uuid: uuid.UUID) -> str:
    """:func:`grub_config` for a /boot tree moved out of its sysroot."""
    # read_bootversion looks at <sysroot>/boot/loader; give it a view of the moved tree
    view = boot_tree.parent / ".grubview"
    view.mkdir(exist_ok=True)
    link = view / "boot"
    if not link.is_symlink():
        link.symlink_to(boot_tree)
    try:
        return grub_config(view, boot_uuid)
    finally:
        link.unlink()
        view.rmdir()


def _written(progress: Optional[ProgressCallback], part: gpt.GptPartition) -> None:
    emit(progress, ImageBuildBytes(partition=part.name, done=part.size, total=part.size))


def _mkfs_ext4(mkfs: str, disk: Path, part: gpt.GptPartition, tree: Path, fs_uuid: uuid.UUID,
               label: str) -> None:
    # offset= (e2fsprogs >= 1.43) writes the filesystem into its partition of
    # the disk file, the rest of the file untouched; its discard punches holes
    # only in that range. lazy_journal_init: the journal lies in a hole of a
    # fresh file, zeros already, which mke2fs would otherwise allocate (as
    # unwritten extents) to zero again. root_owner: the root directory is root's
    # whoever builds; the rest keeps the owners of the staging tree (real ones
    # when run as root)
    _run(mkfs, "-q", "-F", "-t", "ext4", "-U", str(fs_uuid), "-L", label,
         "-E", f"root_owner=0:0,lazy_journal_init=1,offset={part.offset}", "-d", str(tree), str(disk),
         f"{part.size // 1024}k")


def _set_repo_mode(config: Path, mode: str) -> None:
    lines = config.read_text().splitlines()
    out = [f"mode={mode}" if ln.replace(" ", "").startswith("mode=") else ln for ln in lines]
    config.write_text("\n".join(out) + "\n")
