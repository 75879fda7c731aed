"""UEFI boot variables as bytes: the ``EFI_LOAD_OPTION`` of a ``Boot####``
variable, the ``BootOrder`` list, the efivarfs file form of a variable, and
shim's fallback ``BOOT<arch>.CSV`` (pure format code, nothing here touches a
file; :mod:`ostreepy.install.efivarfs` is the thin layer that does).

What ``efibootmgr --create --disk D --part N --loader L --label T`` writes
(efibootmgr 17 over libefivar 37, checked byte for byte in the tests):

- ``Boot####`` (the lowest unused number, upper-case hex), attributes
  NON_VOLATILE|BOOTSERVICE_ACCESS|RUNTIME_ACCESS, holding an
  ``EFI_LOAD_OPTION`` (UEFI 2.10 section 3.1.3): ``Attributes`` u32
  (LOAD_OPTION_ACTIVE), ``FilePathListLength`` u16, ``Description`` as
  NUL-terminated UCS-2, the device path, and no optional data;
- the device path in efibootmgr's default abbreviated form: a Hard Drive
  media node (type 4 subtype 1, section 10.3.5.1: partition number, start
  and size in LBAs, the partition's unique GUID in EFI byte order, format 2
  = GPT, signature type 2 = GUID), a File Path media node (type 4 subtype 4,
  NUL-terminated UCS-2 with backslashes), and End Entire (0x7f 0xff);
- ``BootOrder``: u16 numbers, the new one first.

An efivarfs file is the variable's u32 attributes followed by its data.
Text forms follow ``efibootmgr -v`` (libefivar's formatter), e.g.
``HD(2,GPT,<guid>,0x1000,0x100000)/File(\\EFI\\debian\\shimx64.efi)``.
"""

from __future__ import annotations

import struct
import uuid
from typing import List, Sequence, Tuple, Union

import attrs

from ..errors import OstreeError

__all__ = ["EfiFormatError", "HardDrive", "FilePath", "OtherNode", "DeviceNode", "LoadOption",
           "encode_device_path", "decode_device_path", "format_device_path", "encode_boot_order",
           "decode_boot_order", "efivarfs_bytes", "split_efivarfs", "boot_var_name", "fallback_csv",
           "EFI_GLOBAL", "VAR_ATTRS", "LOAD_OPTION_ACTIVE"]

#: the vendor GUID of the globally defined variables (Boot####, BootOrder)
EFI_GLOBAL = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
#: NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS
VAR_ATTRS = 0x7
#: the load option attribute bit firmware needs to try an entry (efibootmgr's ``*``)
LOAD_OPTION_ACTIVE = 0x1

MEDIA = 4
HD_SUBTYPE = 1
FILE_SUBTYPE = 4
END = 0x7F
END_ENTIRE = 0xFF
_NODE = struct.Struct("<BBH")
_HD = struct.Struct("<IQQ16sBB")
_OPTION = struct.Struct("<IH")


class EfiFormatError(OstreeError):
    """Bytes that are not the EFI variable they should be."""


@attrs.frozen
class HardDrive:
    """A GPT partition as firmware names it: 1-based ``number``, ``start`` and
    ``size`` in 512-byte LBAs, and its unique partition GUID."""

    number: int
    start: int
    size: int
    signature: uuid.UUID

    def encode(self) -> bytes:
        body = _HD.pack(self.number, self.start, self.size, self.signature.bytes_le, 2, 2)
        return _NODE.pack(MEDIA, HD_SUBTYPE, _NODE.size + len(body)) + body

    def __str__(self) -> str:
        return f"HD({self.number},GPT,{self.signature},{self.start:#x},{self.size:#x})"


@attrs.frozen
class FilePath:
    """A path on the partition before it, with backslashes (``\\EFI\\BOOT\\BOOTX64.EFI``)."""

    path: str

    def encode(self) -> bytes:
        body = (self.path + "\0").encode("utf-16-le")
        return _NODE.pack(MEDIA, FILE_SUBTYPE, _NODE.size + len(body)) + body

    def __str__(self) -> str:
        return f"File({self.path})"


@attrs.frozen
class OtherNode:
    """Any node this module does not interpret, kept as read."""

    type: int
    subtype: int
    data: bytes

    def encode(self) -> bytes:
        return _NODE.pack(self.type, self.subtype, _NODE.size + len(self.data)) + self.data

    def __str__(self) -> str:
        return f"Path({self.type},{self.subtype},{self.data.hex()})"


#: one node of a device path, as :func:`decode_device_path` reads it
DeviceNode = Union[HardDrive, FilePath, OtherNode]


def encode_device_path(nodes: Sequence[DeviceNode]) -> bytes:
    """The nodes followed by End Entire."""
    return b"".join(n.encode() for n in nodes) + _NODE.pack(END, END_ENTIRE, _NODE.size)


def decode_device_path(data: bytes) -> Tuple[DeviceNode, ...]:
    """The nodes of one device path instance, up to its End Entire node."""
    nodes: List[DeviceNode] = []
    off = 0
    while True:
        if off + _NODE.size > len(data):
            raise EfiFormatError("device path: no End node")
        typ, sub, length = _NODE.unpack_from(data, off)
        if length < _NODE.size or off + length > len(data):
            raise EfiFormatError(f"device path: node at {off} has length {length}")
        body = data[off + _NODE.size:off + length]
        off += length
        if typ == END and sub == END_ENTIRE:
            return tuple(nodes)
        if typ == MEDIA and sub == HD_SUBTYPE and len(body) == _HD.size:
            num, start, size, sig, fmt, sigtype = _HD.unpack(body)
            if fmt == 2 and sigtype == 2:
                nodes.append(HardDrive(num, start, size, uuid.UUID(bytes_le=sig)))
                continue
        if typ == MEDIA and sub == FILE_SUBTYPE and len(body) % 2 == 0:
            try:
                nodes.append(FilePath(body.decode("utf-16-le").split("\0", 1)[0]))
                continue
            except UnicodeDecodeError:
                pass
        nodes.append(OtherNode(typ, sub, body))


def format_device_path(nodes: Sequence[DeviceNode]) -> str:
    """``efibootmgr -v``'s text of a device path."""
    return "/".join(str(n) for n in nodes)


@attrs.frozen
class LoadOption:
    """One ``Boot####`` variable's value."""

    description: str
    device_path: Tuple[DeviceNode, ...]
    attributes: int = LOAD_OPTION_ACTIVE
    optional_data: bytes = b""

    def encode(self) -> bytes:
        dp = encode_device_path(self.device_path)
        return (_OPTION.pack(self.attributes, len(dp)) + (self.description + "\0").encode("utf-16-le") + dp
                + self.optional_data)

    @classmethod
    def decode(cls, data: bytes) -> "LoadOption":
        if len(data) < _OPTION.size:
            raise EfiFormatError("load option: shorter than its header")
        attributes, dp_len = _OPTION.unpack_from(data, 0)
        off = _OPTION.size
        end = off
        while True:
            if end + 2 > len(data):
                raise EfiFormatError("load option: the description has no NUL")
            if data[end:end + 2] == b"\0\0":
                break
            end += 2
        description = data[off:end].decode("utf-16-le", errors="replace")
        off = end + 2
        if off + dp_len > len(data):
            raise EfiFormatError("load option: the device path runs past the end")
        return cls(description=description, device_path=decode_device_path(data[off:off + dp_len]),
                   attributes=attributes, optional_data=data[off + dp_len:])

    def describe(self, number: int) -> str:
        """The line ``efibootmgr -v`` prints for this option as ``Boot<number>``."""
        star = "*" if self.attributes & LOAD_OPTION_ACTIVE else " "
        return f"{boot_var_name(number)}{star} {self.description}\t{format_device_path(self.device_path)}"


def boot_var_name(number: int) -> str:
    """``Boot000A``: four upper-case hex digits, as firmware and efibootmgr name them."""
    if not 0 <= number <= 0xFFFF:
        raise EfiFormatError(f"boot option number {number} is not a u16")
    return f"Boot{number:04X}"


def encode_boot_order(order: Sequence[int]) -> bytes:
    """``BootOrder``'s value: the option numbers as little-endian u16, first tried first."""
    return struct.pack(f"<{len(order)}H", *order)


def decode_boot_order(data: bytes) -> Tuple[int, ...]:
    """The option numbers of a ``BootOrder`` value."""
    if len(data) % 2:
        raise EfiFormatError(f"BootOrder of {len(data)} bytes: not a list of u16")
    return struct.unpack(f"<{len(data) // 2}H", data)


def efivarfs_bytes(attributes: int, data: bytes) -> bytes:
    """A variable as one write to its efivarfs file: attributes, then data."""
    return struct.pack("<I", attributes) + data


def split_efivarfs(raw: bytes) -> Tuple[int, bytes]:
    """(attributes, data) of an efivarfs file's contents."""
    if len(raw) < 4:
        raise EfiFormatError(f"efivarfs file of {len(raw)} bytes has no attributes")
    return struct.unpack_from("<I", raw)[0], raw[4:]


def fallback_csv(loader: str, label: str, description: str = "", options: str = "") -> bytes:
    """shim's fallback ``BOOT<arch>.CSV``: UCS-2 (no byte order mark) lines of
    ``loader,label,options,description``, the loader named relative to the
    folder the file sits in; ``fbx64.efi`` makes one ``Boot####`` of each."""
    for field in (loader, label, description, options):
        if "," in field or "\n" in field:
            raise EfiFormatError(f"fallback CSV field {field!r} holds a comma or a newline")
    return f"{loader},{label},{options},{description}\n".encode("utf-16-le")
