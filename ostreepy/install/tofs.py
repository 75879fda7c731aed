"""``bootc install to-filesystem``: make a sysroot on a target root (a mounted
filesystem, or a folder with ``--root-mount-spec``), pull and deploy the image
with the origin naming the target image reference, and write what booting
needs: kernel arguments (the image's ``kargs.d`` through the deploy, the
install configuration's ``[install] kargs`` from ``/usr/lib/bootc/install/
*.toml``, ``root=`` and ``rw``, then ``--karg``), the boot entries, and the
bootloader. Root's SSH keys go to the stateroot's ``var/roothome``.

The bootloader is ``--bootloader`` (grub, systemd, none), else the install
configuration's ``[install] bootloader`` (the last file that sets it wins, as
bootc merges them), else grub; bootc chooses in that order too (its last
fallback, systemd when the image has no bootupd, does not apply: ostreepy
installs GRUB itself). Like bootc through bootupd, the bootloader goes to
the disk that holds the target's /boot, found from the mounted filesystem
(:mod:`ostreepy.install.blockdev`):

- ``grub``: ``boot/grub/grub.cfg`` (Debian's GRUB has no ``blscfg``; with
  /boot on the root filesystem the entry paths get a ``/boot`` prefix); the
  ESP gets GRUB EFI, behind shim when the image ships it
  (:mod:`ostreepy.install.esp`); and when that disk has a BIOS boot partition
  and the image ships ``usr/lib/grub/i386-pc``, core.img goes there and
  boot.img's code to the MBR (:mod:`ostreepy.install.biosboot`), as
  bootupd's ``grub-install --target=i386-pc`` on the disk does.
- ``systemd``: systemd-boot on the ESP reading the BLS entries on /boot. No
  grub.cfg is written: it would make later deploys keep a GRUB menu nobody
  boots.
- ``none``: the boot entries only (bootc: "Don't use a bootloader managed by
  bootc"); no grub.cfg, ESP or MBR is touched.

Which firmware gets a bootloader follows bootc and bootupd. bootc runs
``bootupctl backend install`` with ``--update-firmware --auto`` unless
``--generic-image`` (bootc ``crates/lib/src/bootloader.rs``:
``(!configopts.generic_image).then_some(["--update-firmware", "--auto"])``),
and to-disk ``--via-loopback`` turns ``--generic-image`` on (``install.rs``).
bootupd's ``--auto`` on x86_64 takes EFI alone when the host is booted
through UEFI (``/sys/firmware/efi`` exists) and BIOS alone otherwise
(``bootupd.rs`` ``get_components_impl``); without it, both. So for grub:

- ``generic_image``: the ESP and the BIOS boot partition + MBR, and no
  firmware variable is touched;
- otherwise: only the running firmware's half, and on a UEFI host a
  ``Boot####`` entry for the installed loader put first in ``BootOrder``
  (:mod:`ostreepy.install.efivarfs`, bootupd's ``update_firmware``), when
  efivars is writable and not empty and the ESP is a partition of a block
  device (an image file behind a loop device, or a folder, gets none: its
  firmware is not this host's). The loader is the vendor folder's shim as
  bootupd's (``\\EFI\\<vendor>\\shimx64.efi``), labelled with the image's
  product name (``etc/system-release`` up to `` release``, else os-release
  ``NAME``), its older entries of that label removed first; an image without
  shim, which bootupd refuses, gets an entry for ``\\EFI\\BOOT\\BOOTX64.EFI``.

systemd-boot is bootc's ``bootctl install``, which always fills the ESP and
writes its "Linux Boot Manager" entry unless ``--no-variables``
(``--generic-image``); the same rules for the entry apply.

The ESP is ``boot/efi`` when a filesystem is mounted there (files copied in);
otherwise the ESP partition of /boot's disk, filled with mtools at its offset
without mounting. A folder target on no disk of its own gets only grub.cfg.

Refusals come before anything is written: a target that is not empty
without ``--replace``, no way to name the root filesystem, an unknown
bootloader. (An unknown one named by the image's install configuration can
only be seen once the image is pulled.)
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import tomllib
import uuid
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import attrs

from ..errors import OstreeError
from ..progress import ProgressCallback
from . import gpt
from .biosboot import grub_pc_dir, install_bios_boot, make_core_img
from .blockdev import DiskLocation, disk_of_mount, is_mount_point
from .efivarfs import BootEntry, EfiVarStore, Firmware, add_boot_entry
from .esp import SHIM, copy_to_dir, efi_vendor, fill_esp, grub_esp_files, make_grub_efi, systemd_boot_files

__all__ = ["InstallError", "InstallResult", "install_to_filesystem", "install_config_kargs",
           "install_config_bootloader", "make_grub_efi", "BOOTLOADERS", "boot_components", "product_name",
           "firmware_loader"]

#: the ``--bootloader`` values, bootc's (its ``grub-cc`` aside)
BOOTLOADERS = ("grub", "systemd", "none")

# what a freshly made filesystem (and its mounted /boot and ESP) may already hold
_EMPTY_OK = {"lost+found", "boot", "efi"}


class InstallError(OstreeError):
    """``bootc install`` refused the target; nothing was written."""


@attrs.frozen
class InstallResult:
    """What was installed: the deployment (``<checksum>.<serial>``) in
    ``stateroot``, and the kernel arguments of its boot entry."""

    target: Path
    stateroot: str
    deployment: str
    kargs: str
    bootloader: str = "grub"
    #: where the ESP files went (a mounted folder, or ``DISK@@OFFSET``), if anywhere
    esp: Optional[str] = None
    #: the disk whose BIOS boot partition and MBR got GRUB, if any
    bios_disk: Optional[Path] = None
    generic_image: bool = False
    #: the firmware halves chosen ("EFI", "BIOS"), as bootupd names its components
    components: Tuple[str, ...] = ()
    #: the firmware boot entry written, if any
    boot_entry: Optional[BootEntry] = None


def _findmnt(path: Path, field: str) -> Optional[str]:
    if not shutil.which("findmnt"):
        return None
    p = subprocess.run(["findmnt", "-n", "-o", field, "--mountpoint", str(path)], capture_output=True, text=True)
    out = p.stdout.strip()
    return out or None


def install_config_kargs(deployment: Path) -> List[str]:
    """``[install] kargs`` of the image's ``usr/lib/bootc/install/*.toml``, in name order."""
    out: List[str] = []
    d = deployment / "usr/lib/bootc/install"
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.toml")):
        try:
            doc = tomllib.loads(f.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise InstallError(f"{f.name}: {e}") from None
        kargs = doc.get("install", {}).get("kargs", [])
        if not isinstance(kargs, list) or not all(isinstance(k, str) for k in kargs):
            raise InstallError(f"{f.name}: install.kargs must be a list of strings")
        out.extend(kargs)
    return out


def install_config_bootloader(deployment: Path) -> Optional[str]:
    """``[install] bootloader`` of the image's install configuration (the last
    file in name order that sets it), None when none does."""
    found: Optional[str] = None
    d = deployment / "usr/lib/bootc/install"
    if not d.is_dir():
        return None
    for f in sorted(d.glob("*.toml")):
        try:
            doc = tomllib.loads(f.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise InstallError(f"{f.name}: {e}") from None
        value = doc.get("install", {}).get("bootloader")
        if value is None:
            continue
        if value not in BOOTLOADERS:
            raise InstallError(f"{f.name}: install.bootloader={value!r}: expected {', '.join(BOOTLOADERS)}")
        found = value
    return found


def _check_empty(target: Path, replace: Optional[str]) -> None:
    extra = sorted(n for n in os.listdir(target) if n not in _EMPTY_OK)
    for sub in ("boot", "boot/efi"):
        p = target / sub
        if p.is_dir():
            extra += [f"{sub}/{n}" for n in os.listdir(p) if n not in _EMPTY_OK]
    if extra and replace is None:
        raise InstallError(f"{target} is not empty ({', '.join(extra[:5])}): "
                           "use --replace=wipe or --replace=alongside")
    if extra and replace == "wipe":
        for top in (target / "boot/efi", target / "boot", target):
            if not top.is_dir():
                continue
            for n in os.listdir(top):
                if n in _EMPTY_OK:
                    continue
                p = top / n
                if p.is_dir() and not p.is_symlink():
                    subprocess.run(["chattr", "-R", "-i", str(p)], capture_output=True)
                    shutil.rmtree(p)
                else:
                    p.unlink()


def install_to_filesystem(target: Path, source_imgref: str, *, target_imgref: Optional[str] = None,
                          stateroot: str = "default", kargs: Sequence[str] = (),
                          root_mount_spec: Optional[str] = None, boot_mount_spec: Optional[str] = None,
                          root_ssh_authorized_keys: Optional[Path] = None, replace: Optional[str] = None,
                          progress: Optional[ProgressCallback] = None,
                          bootloader: Optional[str] = None, generic_image: bool = False,
                          firmware: Optional[Firmware] = None) -> InstallResult:
    """Install ``source_imgref`` (an ostree image reference) onto ``target``;
    ``firmware`` is the host's (:meth:`Firmware.host`) unless given."""
    from ..bootc.verbs import deploy_image
    from ..container.imgref import OstreeImageReference
    from ..sysroot.sysroot import Sysroot, init_fs
    from .image import grub_config

    target = Path(target)
    if not target.is_dir():
        raise InstallError(f"{target}: not a directory")
    if bootloader is not None and bootloader not in BOOTLOADERS:
        raise InstallError(f"--bootloader={bootloader}: expected {', '.join(BOOTLOADERS)}")
    if replace not in (None, "wipe", "alongside"):
        raise InstallError(f"--replace={replace}: expected wipe or alongside")
    if root_mount_spec is None:
        fs_uuid = _findmnt(target, "UUID")
        if fs_uuid is None:
            raise InstallError(f"{target} is not a mounted filesystem with a UUID: give --root-mount-spec")
        root_mount_spec = f"UUID={fs_uuid}"
    boot_separate = is_mount_point(target / "boot") and _findmnt(target / "boot", "UUID") is not None
    if boot_mount_spec is None and boot_separate:
        boot_mount_spec = f"UUID={_findmnt(target / 'boot', 'UUID')}"
    oref = OstreeImageReference.parse(source_imgref)
    tref = OstreeImageReference.parse(target_imgref) if target_imgref else None
    keys = None
    if root_ssh_authorized_keys is not None:
        try:
            keys = Path(root_ssh_authorized_keys).read_bytes()
        except OSError as e:
            raise InstallError(f"{root_ssh_authorized_keys}: {e.strerror}") from None
    _check_empty(target, replace)

    if not (target / "ostree/repo").is_dir():
        init_fs(str(target), repo_mode="bare" if os.geteuid() == 0 else "bare-user")
    with Sysroot(str(target), progress=progress) as sr:
        if not (target / "ostree/deploy" / stateroot).is_dir():
            sr.init_osname(stateroot)
        # the install config's kargs are read from the pulled image, so pull first
        # through the deploy with the base kargs, then redeploy only if it has some
        base = [f"root={root_mount_spec}", "rw"]
        res = deploy_image(sr, stateroot, oref, None, target=tref, kargs=base + list(kargs), progress=progress)
        dep = res.deployment
        assert dep is not None
        extra = install_config_kargs(Path(sr.deployment_dir(dep)))
        if extra:
            res = deploy_image(sr, stateroot, oref, None, target=tref, kargs=base + extra + list(kargs),
                               progress=progress)
            dep = res.deployment
            assert dep is not None
        ddir = Path(sr.deployment_dir(dep))
        options = (dep.bootconfig.get("options") if dep.bootconfig is not None else None) or ""
        name = f"{dep.csum}.{dep.deployserial}"
        if extra:
            # only the new deployment stays: the first was a step of the install
            sr.write_deployments([d for d in sr.deployments if f"{d.csum}.{d.deployserial}" == name])
    if keys is not None:
        ssh = target / "ostree/deploy" / stateroot / "var/roothome/.ssh"
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        (ssh / "authorized_keys").write_bytes(keys)
        os.chmod(ssh / "authorized_keys", 0o600)
    boot_id = (boot_mount_spec or root_mount_spec).removeprefix("UUID=")
    chosen = bootloader or install_config_bootloader(ddir) or "grub"
    firmware = firmware if firmware is not None else Firmware.host()
    efi, bios = boot_components(chosen, generic_image, firmware)
    result = InstallResult(target=target, stateroot=stateroot, deployment=name, kargs=options, bootloader=chosen,
                           generic_image=generic_image,
                           components=tuple(c for c, on in (("EFI", efi), ("BIOS", bios)) if on))
    if chosen == "none":
        return result
    separate = boot_separate or boot_mount_spec is not None
    if chosen == "grub":
        cfg = grub_config(target, uuid.UUID(boot_id) if _is_uuid(boot_id) else uuid.UUID(int=0))
        if not separate:
            cfg = cfg.replace("\nlinux /", "\nlinux /boot/").replace("\ninitrd /", "\ninitrd /boot/")
        (target / "boot/grub").mkdir(parents=True, exist_ok=True)
        (target / "boot/grub/grub.cfg").write_text(cfg)
    disk = disk_of_mount(target / "boot" if boot_separate else target)
    esp = _esp_place(target, disk) if efi else None
    entry = None
    if esp is not None:
        with tempfile.TemporaryDirectory(prefix="bootc-esp-") as tmp:
            files = (grub_esp_files(ddir, Path(tmp), boot_id, separate) if chosen == "grub"
                     else systemd_boot_files(ddir, Path(tmp)))
            if isinstance(esp, Path):
                copy_to_dir(esp, files)
            else:
                from .image import _which
                fill_esp(_which("mmd"), _which("mcopy"), esp, files)
        if not generic_image and firmware.efivars is not None:
            entry = _firmware_entry(firmware.efivars, _esp_location(target, disk), ddir, chosen,
                                    [dest for dest, _ in files])
    bios_disk = None
    pc_dir = grub_pc_dir(ddir) if chosen == "grub" and bios else None
    bios_part = _partition(disk, gpt.BIOS_BOOT)
    if disk is not None and bios_part is not None and pc_dir is not None:
        from .image import _which
        install_bios_boot(disk.disk, bios_part, pc_dir,
                          make_core_img(_which("grub-mkimage"), pc_dir, boot_id, separate))
        bios_disk = disk.disk
    return attrs.evolve(result, esp=None if esp is None else str(esp), bios_disk=bios_disk, boot_entry=entry)


def boot_components(bootloader: str, generic_image: bool, firmware: Firmware) -> Tuple[bool, bool]:
    """(EFI, BIOS): which firmware gets the bootloader, as bootc chooses
    through bootupd (``--auto`` unless generic) or ``bootctl``."""
    if bootloader == "none":
        return False, False
    if bootloader == "systemd":
        return True, False
    if generic_image:
        return True, True
    return firmware.efi_booted, not firmware.efi_booted


def product_name(deployment: Path) -> Optional[str]:
    """The label bootupd gives the firmware entry (its ``get_product_name``):
    ``etc/system-release`` without its `` release ...`` tail, else os-release ``NAME``."""
    rel = deployment / "etc/system-release"
    if rel.is_file():
        text = rel.read_text(errors="replace")
        return re.sub(r" *release.*", "", text).strip() or None
    for name in ("etc/os-release", "usr/lib/os-release"):
        f = deployment / name
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "NAME":
                return value.strip().strip("\"'") or None
    return None


def firmware_loader(deployment: Path, bootloader: str, esp_files: Sequence[str]) -> Tuple[str, str]:
    """(loader path, label) of the firmware entry: bootctl's for systemd-boot,
    bootupd's vendor shim for GRUB (``EFI/BOOT/BOOTX64.EFI`` without shim)."""
    if bootloader == "systemd":
        return "\\EFI\\systemd\\systemd-bootx64.efi", "Linux Boot Manager"
    vendor = efi_vendor(deployment)
    shim = f"EFI/{vendor}/shimx64.efi"
    if (deployment / SHIM).is_file() and vendor is not None and shim in esp_files:
        loader = "\\" + shim.replace("/", "\\")
    else:
        loader = "\\EFI\\BOOT\\BOOTX64.EFI"
    return loader, product_name(deployment) or vendor or "Linux"


def _esp_location(target: Path, disk: Optional[DiskLocation]) -> Optional[DiskLocation]:
    """The ESP's disk and partition: the mounted ``boot/efi``'s, else the ESP of /boot's disk."""
    if is_mount_point(target / "boot/efi"):
        return disk_of_mount(target / "boot/efi")
    part = _partition(disk, gpt.ESP)
    if disk is None or part is None:
        return None
    return attrs.evolve(disk, partition=part)


def _firmware_entry(efivars: Path, loc: Optional[DiskLocation], ddir: Path, bootloader: str,
                    esp_files: Sequence[str]) -> Optional[BootEntry]:
    # an image file (behind a loop device) boots on some other machine's firmware
    if loc is None or not loc.disk.exists() or not stat.S_ISBLK(os.stat(loc.disk).st_mode):
        return None
    loader, label = firmware_loader(ddir, bootloader, esp_files)
    return add_boot_entry(EfiVarStore(efivars), loc.table, loc.partition, loader, label)


def _partition(disk: Optional[DiskLocation], type_guid: uuid.UUID) -> Optional[gpt.GptPartition]:
    if disk is None:
        return None
    return next((p for p in disk.table.partitions if p.type_guid == type_guid), None)


def _esp_place(target: Path, disk: Optional[DiskLocation]) -> "Optional[Path | str]":
    """The mounted ``boot/efi`` (a Path), else the ESP partition of /boot's
    disk as mtools names it (``DISK@@OFFSET``), else None."""
    if is_mount_point(target / "boot/efi"):
        return target / "boot/efi"
    part = _partition(disk, gpt.ESP)
    if disk is None or part is None:
        return None
    return f"{disk.disk}@@{part.offset}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False
