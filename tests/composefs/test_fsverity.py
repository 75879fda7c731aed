"""fs-verity digests against the kernel's algorithm, as fsverity-utils computes it."""

from __future__ import annotations

import io
import subprocess

import pytest

from ostreepy.composefs.fsverity import FsVerityHasher, fsverity_digest, fsverity_digest_of_stream

from .conftest import tool

_PATTERN = bytes((i * 7) % 251 for i in range(600000))

# `fsverity digest` (fsverity-utils 1.5) of _PATTERN[:n]
VECTORS = {
    0: "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95",
    1: "b803429503d95915829b29fdbc8bbad142f3abfd11b1cadf5526582e685c0551",
    4095: "f7c044deee0d5af15f6478c08b8a0c03931d9963beb30220eeca8bdd03e1c7e4",
    4096: "258b680fa93e3bfc1586d9b439d29a2172bd0db550fe7da1272fd8120d801182",
    4097: "0328cc6ed983dc0df3103b9651098ab305e4adfae46a1a5814b6602b0630293d",
    524288: "e1389416027616e5a91f01961c0d159871f5c6afaf577d6e3b9d815f916fbde0",   # 128 blocks: one level-1 block
    524289: "00023924223dbf3c1f1095d9f0fb02546dc2d8ea7032445ad216eab168faa3bb",   # 129: two level-1 blocks
    528384: "6f014f4ac506e6436e4a5a7adb415abcb3a5476f7490f36621fa7c7e4c7e9272",
}
# zero-filled files around the third level (128 * 128 blocks)
ZERO_VECTORS = {
    67108864: "382b8844ad09fb5f7b53e0fc27413cd4e72f47d69604dac5d4865e609ba33c53",
    67108865: "be5993679f703697692cc6ce69e480edc9721baff591795438ae8097275c0687",
}


@pytest.mark.parametrize("size", sorted(VECTORS))
def test_vectors(size: int) -> None:
    assert fsverity_digest(_PATTERN[:size]).hex() == VECTORS[size]


@pytest.mark.parametrize("chunk", [7, 4095, 4097, 65536])
def test_streaming_in_any_chunks(chunk: int) -> None:
    data = _PATTERN[:528384]
    assert fsverity_digest_of_stream(io.BytesIO(data), chunk_size=chunk).hex() == VECTORS[528384]
    h = FsVerityHasher()
    for i in range(0, 524289, 3000):
        h.update(_PATTERN[i:min(i + 3000, 524289)])
    assert h.hexdigest() == VECTORS[524289]


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


@pytest.mark.parametrize("size", sorted(ZERO_VECTORS))
def test_three_levels(size: int) -> None:
    assert fsverity_digest_of_stream(_Zeros(size)).hex() == ZERO_VECTORS[size]


def test_against_fsverity_utils(tmp_path) -> None:
    fsverity = tool("fsverity", "fsverity")
    for n in (3, 8192, 524289 + 17):
        p = tmp_path / f"f{n}"
        p.write_bytes(_PATTERN[:n])
        out = subprocess.run([fsverity, "digest", str(p)], check=True, capture_output=True, text=True).stdout
        assert out.split()[0] == "sha256:" + fsverity_digest(_PATTERN[:n]).hex()
