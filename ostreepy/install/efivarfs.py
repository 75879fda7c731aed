"""Firmware boot entries through efivarfs, the thin I/O layer over
:mod:`ostreepy.install.efiboot`: what bootupd's ``--update-firmware`` does by
running ``efibootmgr`` (``src/efi.rs``: ``clear_efi_target`` then
``create_efi_boot_entry``), done without it.

:func:`add_boot_entry` deletes every ``Boot0###`` whose description is the
label (case-insensitively, as bootupd compares) and takes it out of
``BootOrder`` (``efibootmgr -b N -B``), then writes a ``Boot####`` at the
lowest free number and puts it first in ``BootOrder`` (``efibootmgr
--create``). :class:`Firmware` is what bootupd asks of the host first:
booted through UEFI (``/sys/firmware/efi`` exists) and efivars writable and
not empty; anything else means no entry, not an error.

Each variable is one ``write`` of attributes + data, as efivarfs requires.
efivarfs marks most variable files immutable, so the flag is cleared (the
``FS_IOC_SETFLAGS`` ioctl, as libefivar does) before a file is replaced or
removed. On efivarfs a write replaces the variable whole and a write of no
data deletes it; any other folder (a fake efivarfs for tests, a VARS
store's unpacked copy) gets the same outcome by a write to a temporary
name renamed over the old file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import attrs

from ..errors import OstreeError
from ..fsutil import NO_INODE_FLAGS, alter_immutable_flag
from . import gpt
from .efiboot import (EFI_GLOBAL, VAR_ATTRS, EfiFormatError, FilePath, HardDrive, LoadOption, boot_var_name,
                      decode_boot_order, efivarfs_bytes, encode_boot_order, split_efivarfs)

__all__ = ["EfiVarsError", "Firmware", "EfiVarStore", "BootEntry", "add_boot_entry", "EFIVARS"]

EFI_FIRMWARE = Path("/sys/firmware/efi")
#: where the kernel mounts efivarfs on a host booted through UEFI
EFIVARS = EFI_FIRMWARE / "efivars"


class EfiVarsError(OstreeError):
    """An EFI variable could not be read or written."""


@attrs.frozen
class Firmware:
    """What the host's firmware offers: booted through UEFI, and the folder of
    its variables when they can be written (None: read-only, empty or absent)."""

    efi_booted: bool
    efivars: Optional[Path] = None

    @classmethod
    def host(cls) -> "Firmware":
        booted = EFI_FIRMWARE.exists()
        if not booted or not EFIVARS.is_dir():
            return cls(efi_booted=booted)
        # bootupd skips read-only or empty efivars (its issue 972)
        if os.statvfs(EFIVARS).f_flag & os.ST_RDONLY or not any(os.scandir(EFIVARS)):
            return cls(efi_booted=True)
        return cls(efi_booted=True, efivars=EFIVARS)


@attrs.frozen
class BootEntry:
    """A firmware boot entry written: its number, label and loader path, and
    the entries of the same label it replaced."""

    number: int
    label: str
    loader: str
    replaced: Tuple[int, ...] = ()

    def __str__(self) -> str:
        return f"{boot_var_name(self.number)} {self.label} ({self.loader})"


def _is_efivarfs(path: Path) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            mounts = [ln.split() for ln in f]
    except OSError:
        return False
    real = os.path.realpath(path)
    for fields in mounts:
        if "-" in fields and fields[4] == real:
            return fields[fields.index("-") + 1] == "efivarfs"
    return False


class EfiVarStore:
    """The variables in an efivarfs folder (or a folder laid out like one)."""

    def __init__(self, path: Path, efivarfs: Optional[bool] = None) -> None:
        self.path = Path(path)
        self.efivarfs = _is_efivarfs(self.path) if efivarfs is None else efivarfs

    def _file(self, name: str, vendor: uuid.UUID) -> Path:
        return self.path / f"{name}-{vendor}"

    def read(self, name: str, vendor: uuid.UUID = EFI_GLOBAL) -> Optional[Tuple[int, bytes]]:
        """(attributes, data) of a variable, None when it does not exist."""
        try:
            raw = self._file(name, vendor).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise EfiVarsError(f"reading EFI variable {name}: {e.strerror}") from None
        try:
            return split_efivarfs(raw)
        except EfiFormatError as e:
            raise EfiVarsError(f"EFI variable {name}: {e}") from None

    def names(self, vendor: uuid.UUID = EFI_GLOBAL) -> List[str]:
        suffix = f"-{vendor}"
        return sorted(n[:-len(suffix)] for n in os.listdir(self.path) if n.endswith(suffix))

    def write(self, name: str, data: bytes, attributes: int = VAR_ATTRS, vendor: uuid.UUID = EFI_GLOBAL) -> None:
        """Set a variable (replacing it whole), in one write."""
        f = self._file(name, vendor)
        payload = efivarfs_bytes(attributes, data)
        try:
            if self.efivarfs:
                if f.exists():
                    _mutable(f)
                fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    if os.write(fd, payload) != len(payload):
                        raise EfiVarsError(f"writing EFI variable {name}: short write")
                finally:
                    os.close(fd)
                return
            tmp = f.with_name(f".{f.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, payload)
            finally:
                os.close(fd)
            if f.exists():
                _mutable(f)
            os.replace(tmp, f)
        except OSError as e:
            raise EfiVarsError(f"writing EFI variable {name}: {e.strerror}") from None

    def delete(self, name: str, vendor: uuid.UUID = EFI_GLOBAL) -> None:
        f = self._file(name, vendor)
        try:
            _mutable(f)
            f.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise EfiVarsError(f"deleting EFI variable {name}: {e.strerror}") from None

    def boot_numbers(self) -> List[int]:
        """The numbers of all ``Boot####`` variables, whatever they hold."""
        hexdigits = set("0123456789ABCDEF")
        return [int(n[4:], 16) for n in self.names() if len(n) == 8 and n.startswith("Boot")
                and set(n[4:]) <= hexdigits]

    def boot_options(self) -> Dict[int, LoadOption]:
        """The ``Boot####`` variables that parse as load options, by number."""
        out = {}
        for number in self.boot_numbers():
            found = self.read(boot_var_name(number))
            if found is None:
                continue
            try:
                out[number] = LoadOption.decode(found[1])
            except EfiFormatError:
                continue
        return out

    def boot_order(self) -> List[int]:
        found = self.read("BootOrder")
        if found is None:
            return []
        try:
            return list(decode_boot_order(found[1]))
        except EfiFormatError as e:
            raise EfiVarsError(str(e)) from None

    def set_boot_order(self, order: List[int]) -> None:
        if order:
            self.write("BootOrder", encode_boot_order(order))
        elif self.efivarfs:
            # a write of no data is how efivarfs deletes (libefivar writes just the attributes)
            self.write("BootOrder", b"")
        else:
            self.delete("BootOrder")


def _mutable(f: Path) -> None:
    """Clear the immutable flag efivarfs puts on variable files; folders that
    have no such flags (tmpfs) answer ENOTTY, which is fine."""
    fd = os.open(f, os.O_RDONLY)
    try:
        alter_immutable_flag(fd, False)
    except OSError as e:
        if e.errno not in NO_INODE_FLAGS:
            raise
    finally:
        os.close(fd)


def add_boot_entry(store: EfiVarStore, table: gpt.GptTable, partition: gpt.GptPartition, loader: str,
                   label: str) -> BootEntry:
    """bootupd's ``clear_efi_target(label)`` then ``efibootmgr --create`` for
    ``loader`` (``\\EFI\\...``) on ``partition`` of the disk whose GPT is ``table``."""
    if partition not in table.partitions:
        raise EfiVarsError(f"partition {partition.unique_guid} is not in the disk's table")
    number = partition.number or table.partitions.index(partition) + 1
    options = store.boot_options()
    order = store.boot_order()
    # bootupd parses efibootmgr's listing, where only Boot0### entries are taken
    same = tuple(n for n, opt in sorted(options.items())
                 if n < 0x1000 and opt.description.lower() == label.lower())
    for n in same:
        store.delete(boot_var_name(n))
        order = [o for o in order if o != n]
        store.set_boot_order(order)
        del options[n]
    taken = set(store.boot_numbers())
    free = next((n for n in range(0x10000) if n not in taken), None)
    if free is None:
        raise EfiVarsError("no free Boot#### number")
    hd = HardDrive(number=number, start=partition.first_lba, size=partition.last_lba - partition.first_lba + 1,
                   signature=partition.unique_guid)
    opt = LoadOption(description=label, device_path=(hd, FilePath(loader)))
    store.write(boot_var_name(free), opt.encode())
    store.set_boot_order([free] + [o for o in order if o != free])
    return BootEntry(number=free, label=label, loader=loader, replaced=same)
