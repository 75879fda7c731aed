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
