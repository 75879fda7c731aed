"""The quick tar paths (store/readahead.py, store/tarheader.py) answer exactly as tarfile does.

QuickTarInfo.frombuf against tarfile's own on the headers of every format tarfile writes and on
thousands of mutated headers (the same fields, or the same exception); ReadAhead and
MemberReader against reading the bytes whole.
"""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from ostreepy.store.readahead import MemberReader, ReadAhead
from ostreepy.store.tarheader import QuickTarInfo

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname", "gname",
          "devmajor", "devminor")


def _parse(cls, buf: bytes):
    try:
        ti = cls.frombuf(buf, "utf-8", "surrogateescape")
    except Exception as e:  # noqa: BLE001 - the exception itself is what is compared
        return (type(e), str(e))
    return tuple(getattr(ti, f) for f in FIELDS) + (getattr(ti, "_sparse_structs", None),)


def _headers() -> list:
    out = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for name, typ, extra in [
            ("usr/bin/ls", tarfile.REGTYPE, {}),
            ("usr/share/doc/", tarfile.DIRTYPE, {}),
            ("usr/lib/" + "x" * 90 + "/libfoo.so.1", tarfile.REGTYPE, {}),  # ustar prefix
            ("bin", tarfile.SYMTYPE, {"linkname": "usr/bin"}),
            ("usr/bin/hl", tarfile.LNKTYPE, {"linkname": "usr/bin/ls"}),
            ("dev/null", tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3}),
            ("fifo", tarfile.FIFOTYPE, {}),
            ("caf\u00e9/na\u00efve", tarfile.REGTYPE, {}),
        ]:
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.size = 1234 if typ == tarfile.REGTYPE else 0
            ti.mode, ti.uid, ti.gid, ti.mtime = 0o4755, 1000, 1000, 1700000000
            ti.uname, ti.gname = "user", "group"
            for k, v in extra.items():
                setattr(ti, k, v)
            try:
                data = ti.tobuf(fmt, "utf-8", "surrogateescape")
            except ValueError:
                continue
            out.extend(data[i:i + 512] for i in range(0, len(data), 512))
    big = tarfile.TarInfo("big")
    big.uid = 1 << 40  # base-256 in GNU format
    out.append(big.tobuf(tarfile.GNU_FORMAT)[:512])
    v7dir = bytearray(tarfile.TarInfo("olddir/").tobuf(tarfile.USTAR_FORMAT)[:512])
    v7dir[156:157] = tarfile.AREGTYPE
    out.append(_fix_chksum(v7dir))
    out.append(b"\0" * 512)
    out.append(b"")
    out.append(b"x" * 100)
    return out


def _fix_chksum(buf: bytearray) -> bytes:
    buf[148:156] = b" " * 8
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def test_quick_header_parsing_answers_as_tarfile():
    headers = _headers()
    for h in headers:
        assert _parse(QuickTarInfo, h) == _parse(tarfile.TarInfo, h), h
    rng = random.Random(14)
    for _ in range(2000):
        h = bytearray(rng.choice([h for h in headers if len(h) == 512]))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(512) if rng.random() < 0.5 else rng.randrange(100, 160)
            h[pos] = rng.choice([0, 0x20, 0x30 + rng.randrange(10), 0x80, 0xFF, 0x1C, rng.randrange(256)])
        h = _fix_chksum(h) if rng.random() < 0.8 else bytes(h)
        assert _parse(QuickTarInfo, h) == _parse(tarfile.TarInfo, h), h


def test_signed_checksum_and_sparse_fall_back_to_tarfile():
    h = bytearray(tarfile.TarInfo("\u00e9t\u00e9").tobuf(tarfile.GNU_FORMAT)[:512])
    h[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in h)  # what old Sun tar wrote
    h[148:156] = b"%06o\0 " % signed
    assert _parse(QuickTarInfo, bytes(h)) == _parse(tarfile.TarInfo, bytes(h))
    sparse = bytearray(h)
    sparse[156:157] = tarfile.GNUTYPE_SPARSE
    sparse = _fix_chksum(sparse)
    assert _parse(QuickTarInfo, sparse) == _parse(tarfile.TarInfo, sparse)


class _Trickle(io.RawIOBase):
    """Hands out at most 7 bytes a read, as a slow pipe might."""

    def __init__(self, data: bytes) -> None:
        self.f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        return self.f.read(min(7, n) if n >= 0 else 7)


@pytest.mark.parametrize("chunk", [1, 5, 512, 1 << 20])
def test_readahead_reads_seeks_and_peeks_as_a_file_does(chunk):
    data = random.Random(3).randbytes(20_000)
    for src in (io.BytesIO(data), _Trickle(data)):
        ra = ReadAhead(src, chunk)
        assert ra.peek(600) == data[:600]
        assert ra.read(10) == data[:10] and ra.tell() == 10
        ra.seek(5000)
        assert ra.read(3000) == data[5000:8000]
        ra.seek(100, io.SEEK_CUR)
        assert ra.tell() == 8100
        m = MemberReader(ra, 9000, 4000)
        got = b""
        while part := m.read(333):
            got += part
        assert got == data[9000:13000] and ra.tell() == 13000
        with pytest.raises(io.UnsupportedOperation):
            ra.seek(10)
        assert ra.read() == data[13000:]
        ra.seek(30_000)  # past the end: the next read says so
        assert ra.read(1) == b""


def test_member_cut_short_raises_as_tarfile_does():
    ra = ReadAhead(io.BytesIO(b"abc"))  # type: ignore[arg-type]
    with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
        MemberReader(ra, 0, 10).read(10)


@pytest.mark.parametrize("chunk", [1, 5, 512, 1 << 20])
def test_member_views_are_the_bytes_without_copies(chunk):
    """read_view hands out views of the stream's chunk (cut short at its end), read_rest the
    whole rest (a view when it lies in one chunk), MemberViews a stream of views; a member
    cut short still raises as tarfile does."""
    from ostreepy.store.readahead import MemberViews
    data = random.Random(5).randbytes(20_000)
    ra = ReadAhead(io.BytesIO(data), chunk)  # type: ignore[arg-type]
    m = MemberReader(ra, 100, 3000)
    got = []
    while part := m.read_view(700):
        assert isinstance(part, memoryview) and len(part) <= min(700, chunk)
        got.append(bytes(part))
    assert b"".join(got) == data[100:3100] and ra.tell() == 3100
    rest = MemberReader(ra, 4000, 5000).read_rest()
    assert bytes(rest) == data[4000:9000]
    if chunk == 1 << 20:
        assert isinstance(rest, memoryview) and rest.obj is ra._buf
    views = MemberViews(MemberReader(ra, 9000, 11_000))
    out = b""
    while part := views.read(1 << 20):
        out += part
    assert out == data[9000:]
    with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
        MemberReader(ReadAhead(io.BytesIO(b"abc"), chunk), 0, 10).read_rest()  # type: ignore[arg-type]
