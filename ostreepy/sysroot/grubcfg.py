"""GRUB menu configuration regenerated with every new boot version, for GRUB
builds without ``blscfg`` (Debian's): ostree's grub2 backend
(``ostree-bootloader-grub2.c``) done with the project's own generator.

Which sysroots: ``sysroot.bootloader=grub2`` in the repo config, or ``auto``
(the default) with ``boot/grub/grub.cfg`` or ``boot/grub2/grub.cfg``
present, as ``_ostree_bootloader_grub2_query`` detects it (its BIOS paths;
the EFI vendor-directory config, rewritten non-atomically on FAT, and the
bootupd static-config opt-out are not handled here).

Where: like ostree, the menu for boot version N goes to
``boot/loader.N/grub.cfg``, beside ``loader.N/entries``, before the
``boot/loader`` swap; so the swap that switches the entries switches the menu
in the same rename. GRUB reads it through ``boot/grub/grub.cfg ->
../loader/grub.cfg`` (a link Fedora's grub2 package owns; ostree never
writes it). A ``grub.cfg`` that ``image build`` wrote as a plain file
carries :data:`MARKER`; it is turned into that link once, first copying it
into the active ``loader.B`` so that every step of the conversion leaves a
bootable menu behind. A plain ``grub.cfg`` without the marker belongs to
someone else and is left alone (as ostree leaves it).

What: ostree runs ``grub2-mkconfig``, whose ``15_ostree`` script calls
``grub2-generate`` with the ``GRUB2_BOOT_DEVICE_ID`` and
``GRUB2_PREPARE_ROOT_CACHE`` grub-mkconfig computed. Those two values and the
header before the first ``menuentry`` are kept in the config itself as
``# ostreepy-grub: key=value`` comment lines (:class:`GrubSettings`), so
every regeneration reproduces the menu ``image build`` wrote, with the
current entries, in deployment order: entry 0 (``set default=0``) is the new
default deployment.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import List, Optional, Sequence, Tuple

import attrs

from bootloader.bls import BLSEntry
from bootloader.errors import GrubConfigError
from bootloader.grub import generate_grub_config
from bootloader.sort import ostree_sort_entries

from ..errors import DeployError
from ..fsutil import write_all
from . import bootconfig as bc

__all__ = ["MARKER", "CONFIG_PATHS", "GrubSettings", "DEFAULT_HEADER", "render", "parse_settings",
           "detect", "write_config", "LINK_TARGET"]

#: the first line of every config made here
MARKER = "# ostreepy-grub: generated from the BLS entries of /boot/loader; regenerated on each deploy"
#: ``config_path_bios_1`` and ``_2`` of ostree's grub2 backend, relative to the sysroot
CONFIG_PATHS = ("boot/grub/grub.cfg", "boot/grub2/grub.cfg")
#: what ``boot/grub/grub.cfg`` points at once converted
LINK_TARGET = "../loader/grub.cfg"
#: ``15_ostree`` entries call ``load_video``, which grub-mkconfig's header defines
DEFAULT_HEADER = "set default=0\nfunction load_video {\n  insmod all_video\n}\n"

_KEY = "# ostreepy-grub: "


@attrs.frozen
class GrubSettings:
    """What grub-mkconfig would hand ``15_ostree``, plus the script header."""

    boot_device_id: str = "ostree"
    prepare_root_cache: str = ""
    header: str = DEFAULT_HEADER
    efi: bool = False


def render(settings: GrubSettings, entries: Sequence[Tuple[str, BLSEntry]]) -> str:
    """The whole ``grub.cfg``: marker, settings, header, one menuentry per entry
    in deployment order."""
    for key, value in (("boot-device-id", settings.boot_device_id),
                       ("prepare-root-cache", settings.prepare_root_cache)):
        if "\n" in value:
            raise GrubConfigError(f"{key}: a newline in {value!r}")
    head = [MARKER,
            f"{_KEY}boot-device-id={settings.boot_device_id}",
            f"{_KEY}prepare-root-cache={settings.prepare_root_cache}",
            f"{_KEY}efi={'1' if settings.efi else '0'}"]
    return ("\n".join(head) + "\n" + settings.header
            + generate_grub_config(ostree_sort_entries(list(entries)), boot_device_id=settings.boot_device_id,
                                   prepare_root_cache=settings.prepare_root_cache, efi=settings.efi))


def parse_settings(text: str) -> Optional[GrubSettings]:
    """The settings of a config :func:`render` made; None for any other."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\n") != MARKER:
        return None
    values = {}
    i = 1
    while i < len(lines) and lines[i].startswith(_KEY):
        key, _, value = lines[i][len(_KEY):].rstrip("\n").partition("=")
        values[key] = value
        i += 1
    header = []
    while i < len(lines) and not lines[i].startswith("menuentry "):
        header.append(lines[i])
        i += 1
    return GrubSettings(boot_device_id=values.get("boot-device-id", "ostree"),
                        prepare_root_cache=values.get("prepare-root-cache", ""),
                        header="".join(header), efi=values.get("efi") == "1")


def detect(sysroot: str, bootloader_opt: Optional[str]) -> bool:
    """Whether ostree would pick its grub2 backend (BIOS paths) for this sysroot."""
    opt = bootloader_opt or "auto"
    if opt == "grub2":
        return True
    if opt != "auto":
        return False
    if os.path.exists(os.path.join(sysroot, "boot/syslinux/syslinux.cfg")):
        return False  # ostree's auto probe tries syslinux first
    return any(os.path.exists(os.path.join(sysroot, p)) for p in CONFIG_PATHS)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _current_settings(sysroot: str, bootversion: int) -> GrubSettings:
    candidates = [f"boot/loader.{bootversion}/grub.cfg"] + list(CONFIG_PATHS)
    for rel in candidates:
        text = _read(os.path.join(sysroot, rel))
        if text is not None:
            s = parse_settings(text)
            if s is not None:
                return s
    return GrubSettings()


def _write_file(dirpath: str, name: str, data: bytes) -> None:
    tmp = os.path.join(dirpath, f".{name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        # ostree fdatasync()s the new config before the loader swap makes it live
        os.fdatasync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(dirpath, name))


def _convert_plain_configs(sysroot: str, current_bootversion: int) -> None:
    """Turn a marked plain ``grub.cfg`` into the ``../loader/grub.cfg`` link,
    the active ``loader.B`` first getting the same menu so the link never
    dangles."""
    for rel in CONFIG_PATHS:
        path = os.path.join(sysroot, rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        text = _read(path)
        if text is None or parse_settings(text) is None:
            continue
        loader = os.path.join(sysroot, f"boot/loader.{current_bootversion}")
        if not os.path.exists(os.path.join(loader, "grub.cfg")):
            os.makedirs(loader, 0o755, exist_ok=True)
            _write_file(loader, "grub.cfg", text.encode("utf-8", "surrogateescape"))
        if not os.path.lexists(os.path.join(sysroot, "boot/loader")):
            # no active boot version yet: the link would dangle until the swap
            continue
        bc.symlink_replace(LINK_TARGET, os.path.dirname(path), os.path.basename(path))


def write_config(sysroot: str, new_bootversion: int, current_bootversion: int) -> str:
    """Write ``boot/loader.<new>/grub.cfg`` from ``loader.<new>/entries``
    (ostree's ``_ostree_bootloader_grub2_write_config``, BIOS path); returns
    the path written. Call before the ``boot/loader`` swap."""
    settings = _current_settings(sysroot, current_bootversion)
    entries = bc.read_loader_entries(sysroot, new_bootversion)
    try:
        text = render(settings, entries)
    except GrubConfigError as e:
        raise DeployError(f"Writing GRUB configuration: {e}") from None
    _convert_plain_configs(sysroot, current_bootversion)
    loader = os.path.join(sysroot, f"boot/loader.{new_bootversion}")
    os.makedirs(loader, 0o755, exist_ok=True)
    _write_file(loader, "grub.cfg", text.encode("utf-8", "surrogateescape"))
    return os.path.join(loader, "grub.cfg")


def config_paths(sysroot: str) -> List[str]:
    """The ``grub.cfg`` paths GRUB may read in this sysroot (those present)."""
    return [os.path.join(sysroot, p) for p in CONFIG_PATHS if os.path.lexists(os.path.join(sysroot, p))]
