"""The GPT writer and reader: bytes against the UEFI layout, then against the
real partitioners (gdisk's ``sgdisk --verify``, util-linux ``sfdisk --dump``)
both ways: they accept our tables, and we read theirs."""

from __future__ import annotations

import shutil
import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest

from ostreepy.install import gpt
from ostreepy.install.disk import read_gpt, write_gpt

MIB = 1024 * 1024
DISK_GUID = uuid.UUID("11111111-2222-3333-4444-555555555555")


def _read(data: bytes):
    return lambda off, n: data[off:off + n]


def test_encode_layout_bytes() -> None:
    size = 64 * MIB
    t = gpt.layout(size, [gpt.PartitionSpec("esp", gpt.ESP, 8 * MIB, uuid.UUID(int=1)),
                          gpt.PartitionSpec("root", gpt.ROOT_X86_64, None, uuid.UUID(int=2))], DISK_GUID)
    b = gpt.encode(t)
    assert len(b.head) == 34 * 512 and len(b.tail) == 33 * 512
    assert b.tail_offset == size - 33 * 512
    mbr = b.head[:512]
    assert mbr[510:] == b"\x55\xaa" and mbr[450] == 0xEE
    assert struct.unpack_from("<II", mbr, 454) == (1, size // 512 - 1)
    hdr = b.head[512:1024]
    assert hdr[:8] == b"EFI PART"
    (crc,) = struct.unpack_from("<I", hdr, 16)
    assert zlib.crc32(hdr[:16] + b"\0" * 4 + hdr[20:92]) == crc
    my, alt, first, last = struct.unpack_from("<QQQQ", hdr, 24)
    assert (my, alt, first, last) == (1, size // 512 - 1, 34, size // 512 - 34)
    assert hdr[56:72] == DISK_GUID.bytes_le
    # mixed-endian GUID of the ESP type, as the spec prints it
    assert b.head[1024:1040] == bytes.fromhex("2873 2ac1 1ff8 d211 ba4b 00a0c93ec93b".replace(" ", ""))
    assert struct.unpack_from("<QQ", b.head, 1024 + 32) == (2048, 2048 + 8 * 2048 - 1)
    # root takes the rest up to the last MiB boundary ahead of the backup GPT
    assert struct.unpack_from("<QQ", b.head, 1024 + 128 + 32) == (18432, size // 512 - 2048 - 1)
    back = b.tail[-512:]
    assert struct.unpack_from("<QQ", back, 24) == (size // 512 - 1, 1)
    assert struct.unpack_from("<Q", back, 72)[0] == size // 512 - 33
    assert b.tail[:-512] == b.head[1024:]
    disk = bytearray(size)
    disk[:len(b.head)] = b.head
    disk[b.tail_offset:] = b.tail
    assert gpt.decode(_read(bytes(disk)), size) == t


def test_decode_refuses_damage() -> None:
    size = 8 * MIB
    t = gpt.layout(size, [gpt.PartitionSpec("a", gpt.LINUX_DATA, None)])
    b = gpt.encode(t)
    disk = bytearray(size)
    disk[:len(b.head)] = b.head
    disk[b.tail_offset:] = b.tail
    for off, what in ((600, "header: CRC32"), (1024 + 40, "entry array: CRC32"),
                      (size - 512 + 30, "backup GPT header")):
        bad = bytearray(disk)
        bad[off] ^= 0xFF
        with pytest.raises(gpt.GptError, match=what):
            gpt.decode(_read(bytes(bad)), size)
    with pytest.raises(gpt.GptError, match="protective MBR"):
        gpt.decode(_read(bytes(512) + bytes(disk[512:])), size)


def test_layout_refuses_what_does_not_fit() -> None:
    with pytest.raises(gpt.GptError, match="too small"):
        gpt.bootc_layout(1024 * MIB)
    with pytest.raises(gpt.GptError, match="only the last"):
        gpt.layout(64 * MIB, [gpt.PartitionSpec("a", gpt.ESP, None), gpt.PartitionSpec("b", gpt.ESP, MIB)])
    p = gpt.GptPartition(gpt.ESP, uuid.uuid4(), 2048, 4095)
    with pytest.raises(gpt.GptError, match="overlaps"):
        gpt.encode(gpt.GptTable(DISK_GUID, 8 * MIB, (p, attr_copy(p, 4000, 5000))))
    with pytest.raises(gpt.GptError, match="overlaps"):
        gpt.encode(gpt.GptTable(DISK_GUID, 8 * MIB, (attr_copy(p, 20, 100),)))


def attr_copy(p: gpt.GptPartition, first: int, last: int) -> gpt.GptPartition:
    import attrs
    return attrs.evolve(p, first_lba=first, last_lba=last, unique_guid=uuid.uuid4())


needs_gdisk = pytest.mark.skipif(not (shutil.which("sgdisk") and shutil.which("sfdisk")),
                                 reason="needs sgdisk (gdisk) and sfdisk (fdisk): scripts/install-peers.sh")


@needs_gdisk
def test_sgdisk_and_sfdisk_accept_bootc_layout(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    size = 3 * 1024 * MIB
    with open(img, "wb") as f:
        f.truncate(size)
    table = gpt.bootc_layout(size, disk_guid=DISK_GUID)
    write_gpt(img, table)
    v = subprocess.run(["sgdisk", "--verify", str(img)], capture_output=True, text=True)
    assert v.returncode == 0 and "No problems found" in v.stdout, v.stdout + v.stderr
    dump = subprocess.run(["sfdisk", "--dump", str(img)], capture_output=True, text=True, check=True).stdout
    assert "label: gpt" in dump and f"label-id: {str(DISK_GUID).upper()}" in dump
    assert f"last-lba: {size // 512 - 34}" in dump
    lines = [ln for ln in dump.splitlines() if ln.startswith(str(img))]
    want = [(2048, 2048, gpt.BIOS_BOOT, "BIOS-BOOT"), (4096, 512 * 2048, gpt.ESP, "EFI-SYSTEM"),
            (4096 + 512 * 2048, 1024 * 2048, gpt.XBOOTLDR, "boot"),
            (4096 + 1536 * 2048, size // 512 - 4096 - 1536 * 2048 - 2048, gpt.ROOT_X86_64, "root")]
    assert len(lines) == 4
    for (start, count, typ, name), (line, part) in zip(want, zip(lines, table.partitions)):
        assert f"start={start:>12}, size={count:>12}, type={str(typ).upper()}" in line, line
        assert f'uuid={str(part.unique_guid).upper()}, name="{name}"' in line, line


@needs_gdisk
def test_read_what_sgdisk_writes(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(20 * MIB)
    subprocess.run(["sgdisk", "-U", str(DISK_GUID), "-n", "1:2048:+10M", "-t", "1:EF00", "-c", "1:EFI System",
                    "-n", "2:0:0", "-t", "2:8304", "-A", "2:set:0", str(img)], check=True, capture_output=True)
    t = read_gpt(img)
    assert t.disk_guid == DISK_GUID
    esp, root = t.partitions
    assert (esp.type_guid, esp.first_lba, esp.last_lba, esp.name) == (gpt.ESP, 2048, 2048 + 20480 - 1, "EFI System")
    assert root.type_guid == gpt.ROOT_X86_64 and root.attributes == 1
    assert root.last_lba <= t.last_usable_lba
    # and our own rewrite of their table is byte-identical to theirs in the GPT areas
    before = img.read_bytes()
    write_gpt(img, t)
    after = img.read_bytes()
    assert after[512:34 * 512] == before[512:34 * 512] and after[-33 * 512:] == before[-33 * 512:]
