"""DirTree.parse's one-pass path against the framing-then-validation path it stands in for:
on well-formed dirtrees and on mutated ones, whatever the fast path accepts the slow one
accepts with the same value, and what it declines the slow one still judges."""

import random

import pytest

from ostreepy.errors import OstreeError
from ostreepy.store import objects as obj
from ostreepy.store.objects import DirTree


def _slow(data: bytes) -> DirTree:
    files, dirs = obj._fast_parse_dirtree(data)
    return DirTree(
        tuple((obj.validate_filename(n), obj.checksum_from_bytes(c)) for n, c in files),
        tuple((obj.validate_filename(n), obj.checksum_from_bytes(t), obj.checksum_from_bytes(m))
              for n, t, m in dirs),
    )


def _samples() -> list:
    rng = random.Random(3)
    csum = lambda: bytes(rng.randrange(256) for _ in range(32)).hex()  # noqa: E731
    out = [DirTree().serialize()]
    for nfiles, ndirs in ((1, 0), (0, 1), (7, 3), (300, 20)):  # 300 files: 2-byte framing offsets
        files = tuple((f"f{i}-é", csum()) for i in range(nfiles))
        dirs = tuple((f"d{i}", csum(), csum()) for i in range(ndirs))
        out.append(DirTree(files, dirs).serialize())
    return out


def test_well_formed_agree() -> None:
    for data in _samples():
        assert obj._fused_parse_dirtree(data) is not None
        assert DirTree.parse(data) == _slow(data)
        assert DirTree.parse(data).serialize() == data


def test_mutations_agree() -> None:
    rng = random.Random(7)
    samples = _samples()[:4]
    accepted = 0
    for _ in range(3000):
        d = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 3)):
            if d:
                d[rng.randrange(len(d))] = rng.choice([0, 1, 0x2E, 0x2F, 0xFF, rng.randrange(256)])
        if d and rng.random() < 0.3:
            d = d[:rng.randrange(len(d))]
        data = bytes(d)
        fast = obj._fused_parse_dirtree(data)
        try:
            slow = _slow(data)
        except OstreeError:
            slow = None
        if fast is not None:
            accepted += 1
            assert slow == DirTree(*fast)
        elif slow is None:
            with pytest.raises(OstreeError):
                DirTree.parse(data)
    assert accepted  # the fast path took some of them
