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


def _mutated(rng: random.Random, samples: list) -> bytes:
    """One of ``samples`` with one to three bytes set to a framing-minded value, and cut short
    three times in ten."""
    d = bytearray(rng.choice(samples))
    for _ in range(rng.randint(1, 3)):
        if d:
            d[rng.randrange(len(d))] = rng.choice([0, 1, 0x2E, 0x2F, 0xFF, rng.randrange(256)])
    if d and rng.random() < 0.3:
        d = d[:rng.randrange(len(d))]
    return bytes(d)


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
        data = _mutated(rng, samples)
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


def test_check_dirtree_agrees_with_the_parse() -> None:
    """check_dirtree (a delta's writer: nothing built) accepts what the fused parse accepts
    and refuses what parse_dirtree refuses, with its error type and message."""
    rng = random.Random(13)
    samples = _samples()
    for data in samples:
        assert obj._fused_check_dirtree(data)
        obj.check_dirtree(data)
    checked = 0
    for _ in range(3000):
        data = _mutated(rng, samples[:4])
        assert obj._fused_check_dirtree(data) == (obj._fused_parse_dirtree(data) is not None)
        try:
            obj.parse_dirtree(data)
        except OstreeError as e:
            with pytest.raises(type(e)) as got:
                obj.check_dirtree(data)
            assert str(got.value) == str(e)
            checked += 1
        else:
            obj.check_dirtree(data)
    assert checked


def _generic(tree: DirTree) -> bytes:
    from ostreepy.store import gvariant
    def key(e: tuple) -> bytes:
        return e[0].encode("utf-8", "surrogateescape")
    return gvariant.serialize(obj.DIRTREE_TYPE, (
        [(n, bytes.fromhex(c)) for n, c in sorted(tree.files, key=key)],
        [(n, bytes.fromhex(t), bytes.fromhex(m)) for n, t, m in sorted(tree.dirs, key=key)]))


def test_serialize_fast_path_is_the_generic_serializer() -> None:
    """DirTree.serialize's one-pass writer gives gvariant.serialize's bytes at every framing
    width (1, 2 and 4-byte offsets, long names) and leaves what it cannot write to it (a
    checksum that is not 32 bytes, a name with a NUL: the generic path's answer or error)."""
    rng = random.Random(11)

    def csum() -> str:
        return rng.randbytes(32).hex()
    for n in (0, 1, 2, 5, 40, 300, 3000):
        for name_len in (1, 60, 250):
            files = tuple((f"f{i}" + "é" * rng.randrange(name_len), csum()) for i in range(rng.randrange(n + 1)))
            dirs = tuple((f"d{i}" + "x" * rng.randrange(name_len), csum(), csum()) for i in range(rng.randrange(n + 1)))
            tree = DirTree(files, dirs)
            assert obj._fused_serialize_dirtree(sorted(files), sorted(dirs)) is not None
            assert tree.serialize() == _generic(tree)
    huge = DirTree((("a" * 70000, csum()),), (("b" * 70000, csum(), csum()),))
    assert huge.serialize() == _generic(huge)
    short = DirTree((("f", "ab" * 20),), ())
    assert obj._fused_serialize_dirtree(short.files, ()) is None
    assert short.serialize() == _generic(short)
    with pytest.raises(OstreeError):
        DirTree((("a\x00b", csum()),), ()).serialize()
