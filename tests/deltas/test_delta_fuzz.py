"""Hostile bytes: every delta parser refuses garbage with an OstreeError,
never another exception, and bspatch never writes past the size it was given."""

from __future__ import annotations

import lzma

from hypothesis import given, settings
from hypothesis import strategies as st

from ostreepy.errors import OstreeError
from ostreepy.remote.deltas import format as fmt
from ostreepy.remote.deltas.apply import open_part
from ostreepy.remote.deltas.bsdiff import bspatch, offtout
from ostreepy.store.objects import ObjectType

OBJECTS = [(ObjectType.DIR_META, "00" * 32), (ObjectType.FILE, "11" * 32), (ObjectType.FILE, "22" * 32)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_superblock_garbage(data: bytes) -> None:
    for blob in (data, b"OSTSGNDT" + data):
        try:
            fmt.parse_superblock(blob)
        except OstreeError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"\0", b"x", b"q"]))
def test_part_garbage(data: bytes, comp: bytes) -> None:
    body = lzma.compress(data, format=lzma.FORMAT_XZ) if comp == b"x" and data[:1] == b"\1" else data
    try:
        part = open_part(comp + body, None)
        fmt.decode_ops(part.ops, OBJECTS)
    except OstreeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_opcode_garbage(ops: bytes) -> None:
    try:
        fmt.decode_ops(ops, OBJECTS)
    except OstreeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 100),
       st.lists(st.tuples(st.integers(-50, 120), st.integers(-5, 120), st.integers(-200, 200)), max_size=4),
       st.binary(max_size=200))
def test_bspatch_bounds(old: bytes, newsize: int, ctrls: list, tail: bytes) -> None:
    patch = b"".join(offtout(a) + offtout(b) + offtout(c) for a, b, c in ctrls) + tail
    try:
        out = b"".join(bspatch(old, newsize, patch))
    except OstreeError:
        return
    assert len(out) == newsize


def _outcome(fn, data):
    """What ``fn(data)`` does: ("ok", None) or (the OstreeError's class, its message)."""
    try:
        fn(data)
    except OstreeError as e:
        return type(e).__name__, str(e)
    return "ok", None


def _a_superblock() -> bytes:
    from ostreepy.store import gvariant
    from ostreepy.store.gvariant import Variant
    from ostreepy.store.objects import COMMIT_TYPE
    commit = gvariant.serialize(COMMIT_TYPE, ({"version": Variant("s", "1"), "n": Variant("a{sv}", {})}, b"",
                                              [("r", b"\x03" * 32)], "s", "b", 7, b"\x01" * 32, b"\x02" * 32))
    part = fmt.PartHeader(0, "ab" * 32, 10, 20, fmt.pack_objects(OBJECTS))
    fb = fmt.Fallback(ObjectType.FILE, "cd" * 32, 5, 6)
    meta = {"ostree.endianness": Variant("y", ord("l")), fmt.part_path(None, "ef" * 32, 0): Variant("(yay)", (0, b"x"))}
    return fmt.serialize_superblock(meta, 1, None, "ef" * 32, commit, [part], [fb])


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_plain_reads_refuse_what_the_parses_refuse(data) -> None:
    """read_superblock (the appliers' plain reading) and check_commit (write_metadata's checks
    of a commit without the value) accept and refuse a mutated superblock or commit exactly as
    parse_superblock and Commit.parse do, with the same error; what they accept reads the same."""
    from ostreepy.store import gvariant
    from ostreepy.store.objects import Commit
    sb = bytearray(_a_superblock())
    for _ in range(data.draw(st.integers(0, 3))):
        sb[data.draw(st.integers(0, len(sb) - 1))] = data.draw(st.integers(0, 255))
    blob = bytes(sb)
    assert _outcome(fmt.read_superblock, blob) == _outcome(fmt.parse_superblock, blob)
    if _outcome(fmt.read_superblock, blob)[0] == "ok":
        info, parsed = fmt.read_superblock(blob), fmt.parse_superblock(blob)
        assert info.commit == parsed.commit and info.to_checksum == parsed.to_checksum
        assert [(p.version, p.checksum, p.size, p.usize, p.objects_raw) for p in info.parts] == \
            [(p.version, p.checksum, p.size, p.usize, p.objects_raw) for p in parsed.parts]
        assert {k: (v.type, v.value) for k, v in info.metadata.items()} == \
            {k: (v.type, v.value) for k, v in parsed.metadata.items()}
        assert info.inline_part(0) == parsed.inline_part(0) and info.endianness == parsed.endianness
    commit = bytearray(gvariant.tuple_members(fmt.SUPERBLOCK_TYPE, _a_superblock())[4])
    for _ in range(data.draw(st.integers(1, 3))):
        commit[data.draw(st.integers(0, len(commit) - 1))] = data.draw(st.integers(0, 255))
    assert _outcome(fmt.check_commit, bytes(commit)) == _outcome(Commit.parse, bytes(commit))


def test_check_commit_refuses_as_commit_parse() -> None:
    from ostreepy.store import gvariant
    from ostreepy.store.gvariant import Variant
    from ostreepy.store.objects import COMMIT_TYPE, Commit
    good = ({"a": Variant("s", "1")}, b"", [("r", b"\x03" * 32)], "s", "b", 7, b"\x01" * 32, b"\x02" * 32)
    cases = [good, (good[0], b"\x00" * 5) + good[2:], ({"": Variant("s", "1")},) + good[1:],
             good[:6] + (b"\x01" * 31, b"\x02" * 32), good[:7] + (b"",), good[:2] + ([("r", b"\x03" * 3)],) + good[3:]]
    outcomes = []
    for value in cases:
        body = gvariant.serialize(COMMIT_TYPE, value)
        outcomes.append(_outcome(fmt.check_commit, body))
        assert outcomes[-1] == _outcome(Commit.parse, body)
    assert outcomes[0] == ("ok", None) and all(o[0] == "CorruptObjectError" for o in outcomes[1:]), outcomes


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_a_part_read_as_a_view_reads_and_refuses_as_the_copy(data) -> None:
    """read_part_payload's view (the appliers': the payload a view of the inflated part) accepts
    and refuses a mutated part exactly as the copying read does, with the same error, and what
    it accepts reads the same."""
    part = bytearray(fmt.serialize_part_payload([(0, 0, 0o100644), (1000, 1000, 0o100755)],
                                                [[], [(b"user.a", b"1")]], b"the payload bytes" * 9,
                                                b"S\x01\x02\x03\x04"))
    for _ in range(data.draw(st.integers(0, 3))):
        part[data.draw(st.integers(0, len(part) - 1))] = data.draw(st.integers(0, 255))
    blob = bytes(part[:data.draw(st.integers(0, len(part)))] if data.draw(st.booleans()) else part)
    copied, viewed = (_outcome(lambda b: fmt.read_part_payload(b, view), blob) for view in (False, True))
    assert copied[0] == viewed[0]
    if copied[0] == "ok":
        a, b = fmt.read_part_payload(blob), fmt.read_part_payload(blob, view=True)
        assert isinstance(b[2], memoryview) and (a[0], a[1], a[2], a[3]) == (b[0], b[1], bytes(b[2]), b[3])
    else:
        assert copied == viewed
