"""What the EFI system partition holds for each bootloader, and filling it
without mounting (mtools' ``mmd``/``mcopy`` on a FAT image file or the
partition's device alike, so image build and to-disk share it).

- ``grub``: ``EFI/BOOT/BOOTX64.EFI``, GRUB packed by ``grub-mkimage`` (see
  :func:`ostreepy.install.tofs.make_grub_efi`); its menu lives on /boot.
- ``systemd``: systemd-boot from the image (``systemd-boot-efi``'s
  ``usr/lib/systemd/boot/efi/systemd-bootx64.efi``) as the removable-media
  path ``EFI/BOOT/BOOTX64.EFI`` and as ``EFI/systemd/``, plus
  ``loader/loader.conf``. The entries stay where ostree writes them, on
  /boot, which the GPT marks XBOOTLDR; systemd-boot reads it only through a
  firmware filesystem driver, so an ext4 driver (rEFInd's ``ext4_x64.efi``)
  goes to ``EFI/systemd/drivers/``, where systemd-boot loads drivers from
  before it looks for entries. That driver follows ostree's ``loader ->
  loader.N`` symlink, so every later deploy's swap is seen, as for GRUB.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List, Sequence, Tuple

from ..errors import OstreeError

__all__ = ["EspError", "systemd_boot_files", "fill_esp"]

BOOTLOADERS = ("grub", "systemd")
SYSTEMD_BOOT = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
# rEFInd's read-only ext4 driver: Debian's refind package ships it here
EXT4_DRIVERS = ("usr/share/refind/refind/drivers_x64/ext4_x64.efi",)
LOADER_CONF = "timeout 1\n"


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


def fill_esp(mmd: str, mcopy: str, target: str, files: Sequence[Tuple[str, Path]]) -> None:
    """Copy ``files`` onto the FAT filesystem at ``target`` (file or device),
    making their folders first."""
    dirs: List[str] = []
    for dest, _ in files:
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "::/" + "/".join(parts[:i])
            if d not in dirs:
                dirs.append(d)
    if dirs:
        _run(mmd, "-D", "s", "-i", target, *dirs)
    for dest, src in files:
        _run(mcopy, "-o", "-i", target, str(src), f"::/{dest}")


def _run(*args: str) -> None:
    p = subprocess.run(list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise EspError(f"{os.path.basename(args[0])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()}")
