"""GUID Partition Tables (UEFI spec chapter 5), as pure format code.

A table is a value (:class:`GptTable` of :class:`GptPartition`); :func:`encode`
turns it into the bytes of the two places a GPT lives — the protective MBR, the
primary header and entry array at the start of the disk, the entry array and
backup header at its end — and :func:`decode` reads them back, checking both
CRC32s and the header's claims about itself. Nothing here touches a file: the
writer in :mod:`ostreepy.install.disk` puts the bytes at their offsets.

Layout rules follow what ``sgdisk``/``sfdisk`` accept and what
``bootc install to-disk`` makes: 512-byte sectors, 128 entries of 128 bytes
(32 sectors), partitions on 1 MiB boundaries, and the type GUIDs of the
Discoverable Partitions Specification so that ``systemd-gpt-auto-generator``
and firmware find the ESP, /boot (XBOOTLDR) and the root without a table of
mounts.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from typing import Callable, List, Optional, Sequence, Tuple

import attrs

from ..errors import OstreeError

__all__ = ["GptError", "GptPartition", "GptTable", "GptBytes", "PartitionSpec", "encode", "decode", "layout",
           "bootc_layout", "protective_mbr"]

SECTOR = 512
MIB = 1024 * 1024
ENTRY_SIZE = 128
ENTRY_COUNT = 128
ENTRY_SECTORS = ENTRY_SIZE * ENTRY_COUNT // SECTOR  # 32
SIGNATURE = b"EFI PART"
REVISION = 0x00010000
HEADER_SIZE = 92
_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
_ENTRY = struct.Struct("<16s16sQQQ72s")

# Discoverable Partitions Specification type GUIDs
BIOS_BOOT = uuid.UUID("21686148-6449-6E6F-744E-656564454649")
ESP = uuid.UUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
XBOOTLDR = uuid.UUID("BC13C2FF-59E6-4262-A352-B275FD6F7172")
LINUX_DATA = uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
ROOT_X86_64 = uuid.UUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
ROOT_AARCH64 = uuid.UUID("B921B045-1DF0-41C3-AF44-4C6F280D3FAE")

# Attribute bit 2 ("legacy BIOS bootable") is not set by bootc; bit 0 marks the
# partition as required by the platform, which firmware tools respect.
ATTR_REQUIRED = 1 << 0


ReadAt = Callable[[int, int], bytes]


class GptError(OstreeError):
    """A partition table that cannot be written or read as asked."""


@attrs.frozen
class GptPartition:
    """One entry: ``first_lba``/``last_lba`` are inclusive, as on disk."""

    type_guid: uuid.UUID
    unique_guid: uuid.UUID
    first_lba: int
    last_lba: int
    name: str = ""
    attributes: int = 0
    #: the 1-based entry slot it was read from (firmware's partition number,
    #: which empty slots before it shift); 0 when not read from a disk, the
    #: place in the table's tuple then being its number. Not part of equality.
    number: int = attrs.field(default=0, eq=False)

    @property
    def offset(self) -> int:
        return self.first_lba * SECTOR

    @property
    def size(self) -> int:
        return (self.last_lba - self.first_lba + 1) * SECTOR


@attrs.frozen
class GptTable:
    """A whole table for a disk of ``disk_size`` bytes (a multiple of 512)."""

    disk_guid: uuid.UUID
    disk_size: int
    partitions: Tuple[GptPartition, ...]

    @property
    def last_lba(self) -> int:
        return self.disk_size // SECTOR - 1

    @property
    def first_usable_lba(self) -> int:
        return 2 + ENTRY_SECTORS

    @property
    def last_usable_lba(self) -> int:
        return self.last_lba - 1 - ENTRY_SECTORS


def _check(table: GptTable) -> None:
    if table.disk_size % SECTOR:
        raise GptError(f"disk size {table.disk_size} is not a multiple of {SECTOR}")
    if table.last_usable_lba < table.first_usable_lba:
        raise GptError(f"disk of {table.disk_size} bytes is too small for a GPT")
    if len(table.partitions) > ENTRY_COUNT:
        raise GptError(f"{len(table.partitions)} partitions: a GPT holds {ENTRY_COUNT}")
    spans = sorted((p.first_lba, p.last_lba, i + 1) for i, p in enumerate(table.partitions))
    prev_end = table.first_usable_lba - 1
    for first, last, num in spans:
        if last < first:
            raise GptError(f"partition {num} ends before it starts")
        if first <= prev_end or last > table.last_usable_lba:
            raise GptError(f"partition {num} ({first}-{last}) overlaps another or the GPT itself")
        prev_end = last
    for num, p in enumerate(table.partitions, 1):
        if len(p.name.encode("utf-16-le")) > 72:
            raise GptError(f"partition {num} name {p.name!r} is longer than 36 UTF-16 units")


def _entries(table: GptTable) -> bytes:
    out = bytearray(ENTRY_SIZE * ENTRY_COUNT)
    for i, p in enumerate(table.partitions):
        _ENTRY.pack_into(out, i * ENTRY_SIZE, p.type_guid.bytes_le, p.unique_guid.bytes_le,
                         p.first_lba, p.last_lba, p.attributes, p.name.encode("utf-16-le"))
    return bytes(out)


def _header(table: GptTable, my_lba: int, alt_lba: int, entries_lba: int, entries_crc: int) -> bytes:
    fields = [SIGNATURE, REVISION, HEADER_SIZE, 0, 0, my_lba, alt_lba, table.first_usable_lba,
              table.last_usable_lba, table.disk_guid.bytes_le, entries_lba, ENTRY_COUNT, ENTRY_SIZE,
              entries_crc]
    crc = zlib.crc32(_HEADER.pack(*fields))
    fields[3] = crc
    return _HEADER.pack(*fields).ljust(SECTOR, b"\0")


def protective_mbr(disk_size: int) -> bytes:
    """LBA 0: one partition of type 0xEE covering the disk (capped at 2^32-1 sectors)."""
    sectors = min(disk_size // SECTOR - 1, 0xFFFFFFFF)
    mbr = bytearray(SECTOR)
    # status, CHS first (0/0/2), type, CHS last (saturated), LBA first, sectors
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, sectors)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr)


@attrs.frozen
class GptBytes:
    """What :func:`encode` gives: ``head`` goes at offset 0, ``tail`` at ``tail_offset``."""

    head: bytes
    tail: bytes
    tail_offset: int


def encode(table: GptTable, mbr: Optional[bytes] = None) -> GptBytes:
    """The protective MBR (or ``mbr``'s boot code with our partition record),
    the primary GPT and the backup GPT of ``table``."""
    _check(table)
    entries = _entries(table)
    ecrc = zlib.crc32(entries)
    primary = _header(table, 1, table.last_lba, 2, ecrc)
    backup_entries_lba = table.last_lba - ENTRY_SECTORS
    backup = _header(table, table.last_lba, 1, backup_entries_lba, ecrc)
    first = bytearray(protective_mbr(table.disk_size))
    if mbr is not None:
        # keep a bootloader's code (GRUB's boot.img) ahead of the partition records
        first[:440] = mbr[:440]
    return GptBytes(head=bytes(first) + primary + entries, tail=entries + backup,
                    tail_offset=backup_entries_lba * SECTOR)


def _parse_header(raw: bytes, where: str) -> Tuple[tuple, int]:
    if len(raw) < HEADER_SIZE or raw[:8] != SIGNATURE:
        raise GptError(f"{where} GPT header: no 'EFI PART' signature")
    fields = list(_HEADER.unpack_from(raw))
    size = fields[2]
    if size < HEADER_SIZE or size > SECTOR:
        raise GptError(f"{where} GPT header: header size {size}")
    stored = fields[3]
    check = bytearray(raw[:size])
    check[16:20] = b"\0\0\0\0"
    if zlib.crc32(bytes(check)) != stored:
        raise GptError(f"{where} GPT header: CRC32 mismatch")
    return tuple(fields), size


def _parse_entries(raw: bytes, count: int, esize: int) -> List[GptPartition]:
    parts = []
    for i in range(count):
        t, u, first, last, attr, name = _ENTRY.unpack_from(raw, i * esize)
        if t == b"\0" * 16:
            continue
        parts.append(GptPartition(type_guid=uuid.UUID(bytes_le=t), unique_guid=uuid.UUID(bytes_le=u),
                                  first_lba=first, last_lba=last, attributes=attr,
                                  name=name.decode("utf-16-le").split("\0", 1)[0], number=i + 1))
    return parts


def decode(read_at: ReadAt, disk_size: int) -> GptTable:
    """Read the table of a disk through ``read_at(offset, length) -> bytes``.

    Both headers and both entry arrays must be intact and agree: a half-written
    table is an error, not something to guess around."""
    if disk_size % SECTOR or disk_size < SECTOR * (3 + 2 * ENTRY_SECTORS):
        raise GptError(f"disk of {disk_size} bytes cannot hold a GPT")
    mbr = read_at(0, SECTOR)
    if mbr[510:512] != b"\x55\xaa" or not any(mbr[446 + 16 * i + 4] == 0xEE for i in range(4)):
        raise GptError("no protective MBR (type 0xEE) in sector 0")
    last_lba = disk_size // SECTOR - 1
    tables = []
    for where, lba in (("primary", 1), ("backup", last_lba)):
        fields, _ = _parse_header(read_at(lba * SECTOR, SECTOR), where)
        (_, _, _, _, _, my_lba, alt_lba, first_u, last_u, dguid, elba, count, esize, ecrc) = fields
        if my_lba != lba:
            raise GptError(f"{where} GPT header says it is at LBA {my_lba}, found at {lba}")
        if alt_lba != (last_lba if lba == 1 else 1):
            raise GptError(f"{where} GPT header: alternate LBA {alt_lba} does not match the disk size")
        if esize < ENTRY_SIZE or esize % 8 or count * esize > 1024 * 1024:
            raise GptError(f"{where} GPT header: {count} entries of {esize} bytes")
        raw = read_at(elba * SECTOR, count * esize)
        if zlib.crc32(raw) != ecrc:
            raise GptError(f"{where} GPT entry array: CRC32 mismatch")
        tables.append((first_u, last_u, dguid, _parse_entries(raw, count, esize)))
    if tables[0] != tables[1]:
        raise GptError("primary and backup GPT differ")
    first_u, last_u, dguid, parts = tables[0]
    table = GptTable(disk_guid=uuid.UUID(bytes_le=dguid), disk_size=disk_size, partitions=tuple(parts))
    if not 2 <= first_u <= last_u < last_lba:
        raise GptError(f"GPT usable range {first_u}-{last_u} does not fit the disk")
    for num, p in enumerate(parts, 1):
        if not first_u <= p.first_lba <= p.last_lba <= last_u:
            raise GptError(f"partition {num} ({p.first_lba}-{p.last_lba}) lies outside the usable range")
    return table


@attrs.frozen
class PartitionSpec:
    """A partition to lay out: ``size`` in bytes, or None for the rest of the disk."""

    name: str
    type_guid: uuid.UUID
    size: Optional[int]
    unique_guid: Optional[uuid.UUID] = None


def layout(disk_size: int, specs: Sequence[PartitionSpec], disk_guid: Optional[uuid.UUID] = None,
           align: int = MIB) -> GptTable:
    """Place ``specs`` in order on ``align`` boundaries, the first at 1 MiB; at
    most one may take the rest (it must be the last). Sizes round up to ``align``."""
    if disk_size % align:
        raise GptError(f"disk size {disk_size} is not a multiple of {align}")
    lba_align = align // SECTOR
    last_usable = disk_size // SECTOR - 2 - ENTRY_SECTORS
    # the rest-of-disk partition stops at the last aligned boundary before the backup GPT
    end_limit = (last_usable + 1) // lba_align * lba_align
    start = lba_align
    parts = []
    for i, s in enumerate(specs):
        if s.size is None:
            if i != len(specs) - 1:
                raise GptError(f"only the last partition may take the rest of the disk ({s.name})")
            end = end_limit
        else:
            end = start + -(-s.size // align) * lba_align
        if end > end_limit or end <= start:
            need = (start * SECTOR + (s.size or align) + 2 * align) // MIB
            raise GptError(f"disk of {disk_size // MIB} MiB is too small: partition {s.name!r} "
                           f"needs about {need} MiB")
        parts.append(GptPartition(type_guid=s.type_guid, unique_guid=s.unique_guid or uuid.uuid4(),
                                  first_lba=start, last_lba=end - 1, name=s.name))
        start = end
    return GptTable(disk_guid=disk_guid or uuid.uuid4(), disk_size=disk_size, partitions=tuple(parts))


def bootc_layout(disk_size: int, boot_size: int = 1024 * MIB, esp_size: int = 512 * MIB,
                 root_size: Optional[int] = None, bios: bool = True,
                 root_type: uuid.UUID = ROOT_X86_64, disk_guid: Optional[uuid.UUID] = None) -> GptTable:
    """The disk ``bootc install to-disk`` makes on x86_64: BIOS boot 1 MiB, ESP
    512 MiB, /boot 1 GiB, root the rest (or ``root_size``)."""
    specs = []
    if bios:
        specs.append(PartitionSpec("BIOS-BOOT", BIOS_BOOT, MIB))
    specs += [PartitionSpec("EFI-SYSTEM", ESP, esp_size), PartitionSpec("boot", XBOOTLDR, boot_size),
              PartitionSpec("root", root_type, root_size)]
    return layout(disk_size, specs, disk_guid)
