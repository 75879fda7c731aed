"""What the EFI system partition holds for each bootloader, and filling it
without mounting (mtools' ``mmd``/``mcopy`` on a FAT image file or the
partition's device alike, so image build and to-disk share it).

- ``grub``: ``EFI/BOOT/BOOTX64.EFI``, GRUB packed by ``grub-mkimage`` (see
  :func:`make_grub_efi`); its menu lives on /boot.
- ``systemd``: systemd-boot from the image (``systemd-boot-efi``'s
  ``usr/lib/systemd/boot/efi/systemd-bootx64.efi``) as the removable-media
  path ``EFI/BOOT/BOOTX64.EFI`` and as ``EFI/systemd/``, plus
  ``loader/loader.conf``. The entries stay where ostree writes them, on
  /boot, which the GPT marks XBOOTLDR; systemd-boot reads it only through a
  firmware filesystem driver, so an ext4 driver (rEFInd's ``ext4_x64.efi``)
  goes to ``EFI/systemd/drivers/``, where systemd-boot loads drivers from
  before it looks for entries. That driver follows ostree's ``loader ->
  loader.N`` symlink, so every later deploy's swap is seen, as for GRUB.
- ``grub`` with shim, when the image ships Debian's ``shim-signed``
  (``usr/lib/shim/shimx64.efi.signed``): laid out as bootupd lays out
  Fedora's shim and as ``grub-install --removable --uefi-secure-boot`` does
  Debian's. ``EFI/BOOT/BOOTX64.EFI`` is shim, ``grubx64.efi`` sits next to it
  (shim loads that name from its own folder) with MokManager ``mmx64.efi``;
  the same three under the vendor folder ``EFI/<os-release ID>/`` as
  ``shimx64.efi``, ``grubx64.efi``, ``mmx64.efi``. GRUB is the image's signed
  monolithic one (``grub-efi-amd64-signed``) when present, else the one
  ``grub-mkimage`` packs (which Secure Boot refuses: the boot then needs
  Secure Boot off). Debian's signed GRUB has ``/EFI/debian`` built in as its
  prefix and sources ``$prefix/grub.cfg``, or ``$cmdpath/grub.cfg`` when that
  folder is missing; so both the vendor folder and ``EFI/BOOT`` get a stub
  ``grub.cfg`` that finds /boot by filesystem UUID and loads its menu, the
  early configuration of the packed GRUB.
- shim's fallback, when the image ships it (``shim-helpers-amd64-signed``'s
  ``fbx64.efi.signed``) and there is a vendor folder: ``EFI/BOOT/fbx64.efi``
  and ``EFI/<vendor>/BOOTX64.CSV`` (the image's ``usr/lib/shim/BOOTX64.CSV``
  from ``shim-unsigned``, else one made for the vendor folder), where
  Debian's ``grub-install --force-extra-removable`` puts them and where
  Fedora's shim-x64 package (so bootupd's copy of it) has them. Firmware
  with no entry for the disk boots ``EFI/BOOT/BOOTX64.EFI``; shim started
  from there runs fb when it sits beside it, and fb writes the ``Boot####``
  the CSV names and boots it. That is the disk asking the firmware on its
  first boot, which a generic image (bootc's ``--generic-image``: the
  install itself leaves the firmware alone) is meant to do.

Where the ESP is a mounted folder (``bootc install to-filesystem`` with
``boot/efi`` mounted) the same files are copied in (:func:`copy_to_dir`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..errors import OstreeError
from .efiboot import fallback_csv

__all__ = ["EspError", "systemd_boot_files", "grub_esp_files", "grub_early_config", "make_grub_efi",
           "grub_modules_dir", "efi_vendor", "fill_esp", "copy_to_dir", "GRUB_MODULES"]

BOOTLOADERS = ("grub", "systemd")
# Debian's shim-signed, shim-helpers-amd64-signed and grub-efi-amd64-signed
SHIM = "usr/lib/shim/shimx64.efi.signed"
MOKMANAGER = "usr/lib/shim/mmx64.efi.signed"
FALLBACK = "usr/lib/shim/fbx64.efi.signed"
FALLBACK_CSV = "usr/lib/shim/BOOTX64.CSV"
SIGNED_GRUB = "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
SYSTEMD_BOOT = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
# rEFInd's read-only ext4 driver: Debian's refind package ships it here
EXT4_DRIVERS = ("usr/share/refind/refind/drivers_x64/ext4_x64.efi",)
LOADER_CONF = "timeout 1\n"
#: the modules packed into GRUB EFI: GPT, ext4/xfs/FAT, search by UUID, the menu, linux, a serial console
GRUB_MODULES = ("part_gpt", "part_msdos", "ext2", "xfs", "fat", "search", "search_fs_uuid", "normal", "configfile",
                "linux", "echo", "test", "gzio", "all_video", "serial", "terminal")


class EspError(OstreeError):
    """The image lacks what the chosen bootloader needs on the ESP."""


def _ext4_driver(deployment: Path) -> Path:
    for base in (deployment, Path("/")):
        for rel in EXT4_DRIVERS:
            if (base / rel).is_file():
                return base / rel
    raise EspError("systemd-boot reads the ext4 /boot (XBOOTLDR) through an EFI ext4 driver, and neither the "
                   "image nor this host has one (install refind, for its drivers_x64/ext4_x64.efi)")


def systemd_boot_files(deployment: Path, staging: Path) -> List[Tuple[str, Path]]:
    """(ESP path, source) pairs for systemd-boot from ``deployment``;
    ``loader.conf`` is written into ``staging``."""
    boot = deployment / SYSTEMD_BOOT
    if not boot.is_file():
        raise EspError(f"--bootloader=systemd: the image has no {SYSTEMD_BOOT} (systemd-boot-efi); "
                       "use --bootloader=grub")
    conf = staging / "loader.conf"
    conf.write_text(LOADER_CONF)
    return [("EFI/BOOT/BOOTX64.EFI", boot), ("EFI/systemd/systemd-bootx64.efi", boot),
            ("EFI/systemd/drivers/ext4_x64.efi", _ext4_driver(deployment)), ("loader/loader.conf", conf)]


def grub_modules_dir(deployment: Path) -> Path:
    """The image's ``usr/lib/grub/x86_64-efi``, else the host's."""
    own = deployment / "usr/lib/grub/x86_64-efi"
    if (own / "normal.mod").is_file():
        return own
    host = Path("/usr/lib/grub/x86_64-efi")
    if (host / "normal.mod").is_file():
        return host
    raise EspError("no GRUB EFI modules: the image has no usr/lib/grub/x86_64-efi and neither has "
                          "this host (install grub-efi-amd64-bin)")


def grub_early_config(boot_id: str, boot_separate: bool) -> str:
    """The configuration that finds /boot by filesystem UUID and loads its
    ``grub/grub.cfg`` (``boot/grub`` when /boot is a folder of the root)."""
    prefix = "/grub" if boot_separate else "/boot/grub"
    return (f"search --no-floppy --fs-uuid --set=root {boot_id}\nset prefix=($root){prefix}\n"
            f"configfile ($root){prefix}/grub.cfg\n")


def make_grub_efi(dest: Path, deployment: Path, boot_id: str, boot_separate: bool) -> None:
    """GRUB EFI packed by ``grub-mkimage`` from the deployment's modules (the
    host's when it has none), with :func:`grub_early_config` built in."""
    prefix = "/grub" if boot_separate else "/boot/grub"
    with tempfile.TemporaryDirectory(prefix="grub-early-") as tmp:
        early = Path(tmp) / "early.cfg"
        early.write_text(grub_early_config(boot_id, boot_separate))
        _run(_tool("grub-mkimage"), "-O", "x86_64-efi", "-d", str(grub_modules_dir(deployment)), "-p", prefix,
             "-c", str(early), "-o", str(dest), *GRUB_MODULES)


def efi_vendor(deployment: Path) -> Optional[str]:
    """The ESP's vendor folder: ``ID`` of the image's os-release (``debian``,
    the prefix Debian's signed GRUB has built in), None without one."""
    for rel in ("usr/lib/os-release", "etc/os-release", "usr/etc/os-release"):
        f = deployment / rel
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "ID":
                value = value.strip().strip("\"'")
                if value and "/" not in value and value not in (".", ".."):
                    return value
    return None


def grub_esp_files(deployment: Path, staging: Path, boot_id: str, boot_separate: bool) -> List[Tuple[str, Path]]:
    """(ESP path, source) pairs for GRUB from ``deployment``: behind shim when
    the image ships it, else GRUB alone as ``EFI/BOOT/BOOTX64.EFI``; the
    files made here go into ``staging``."""
    shim = deployment / SHIM
    if not shim.is_file():
        efi = staging / "BOOTX64.EFI"
        make_grub_efi(efi, deployment, boot_id, boot_separate)
        return [("EFI/BOOT/BOOTX64.EFI", efi)]
    grub = deployment / SIGNED_GRUB
    if not grub.is_file():
        grub = staging / "grubx64.efi"
        make_grub_efi(grub, deployment, boot_id, boot_separate)
    cfg = staging / "grub.cfg"
    cfg.write_text(grub_early_config(boot_id, boot_separate))
    mm = deployment / MOKMANAGER
    files = [("EFI/BOOT/BOOTX64.EFI", shim), ("EFI/BOOT/grubx64.efi", grub)]
    files += [("EFI/BOOT/mmx64.efi", mm)] if mm.is_file() else []
    files.append(("EFI/BOOT/grub.cfg", cfg))
    vendor = efi_vendor(deployment)
    if vendor is not None and vendor.upper() != "BOOT":
        files += [(f"EFI/{vendor}/shimx64.efi", shim), (f"EFI/{vendor}/grubx64.efi", grub)]
        files += [(f"EFI/{vendor}/mmx64.efi", mm)] if mm.is_file() else []
        files.append((f"EFI/{vendor}/grub.cfg", cfg))
        files += _fallback_files(deployment, staging, vendor)
    return files


def _fallback_files(deployment: Path, staging: Path, vendor: str) -> List[Tuple[str, Path]]:
    fb = deployment / FALLBACK
    if not fb.is_file():
        return []
    csv = deployment / FALLBACK_CSV
    if not csv.is_file():
        csv = staging / "BOOTX64.CSV"
        csv.write_bytes(fallback_csv("shimx64.efi", vendor, f"This is the boot entry for {vendor}"))
    return [("EFI/BOOT/fbx64.efi", fb), (f"EFI/{vendor}/BOOTX64.CSV", csv)]


def copy_to_dir(esp: Path, files: Sequence[Tuple[str, Path]]) -> None:
    """Copy ``files`` into the mounted ESP ``esp``, each through a temporary
    name so that none is left half-written under its real one."""
    for dest, src in files:
        out = esp / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, out)


def fill_esp(mmd: str, mcopy: str, target: str, files: Sequence[Tuple[str, Path]], offset: int = 0) -> None:
    """Copy ``files`` onto the FAT filesystem at ``target`` (file or device;
    ``offset`` bytes into it for a partition of a disk file), making their
    folders first."""
    cwd = None
    if offset:
        # mtools reads an offset after "@@" in the name: run beside the file,
        # so that only its own name is parsed
        cwd, name = os.path.split(os.path.abspath(target))
        if "@@" in name:
            raise EspError(f"{name}: a name with '@@' cannot be given an offset")
        target = f"{name}@@{offset}"
    dirs: List[str] = []
    for dest, _ in files:
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "::/" + "/".join(parts[:i])
            if d not in dirs:
                dirs.append(d)
    if dirs:
        # mmd exits 1 also when -D s skipped a folder that exists (an ESP filled
        # before, under --replace): then each folder must be there
        p = subprocess.run([mmd, "-D", "s", "-i", target, *dirs], capture_output=True, text=True, cwd=cwd)
        if p.returncode != 0:
            mdir = os.path.join(os.path.dirname(mmd), "mdir")
            for d in dirs:
                if subprocess.run([mdir, "-b", "-i", target, d], capture_output=True, cwd=cwd).returncode != 0:
                    raise EspError(f"mmd failed ({p.returncode}): {(p.stderr or p.stdout).strip()}")
    for dest, src in files:
        _run(mcopy, "-o", "-i", target, os.path.abspath(src), f"::/{dest}", cwd=cwd)


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")
    if found is None:
        raise EspError(f"{name} not found: install grub-common (and grub-efi-amd64-bin)")
    return found


def _run(*args: str, cwd: Optional[str] = None) -> None:
    p = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd)
    if p.returncode != 0:
        raise EspError(f"{os.path.basename(args[0])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()}")
