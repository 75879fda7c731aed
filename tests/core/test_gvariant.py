"""GVariant codec: GLib's bytes for the worked examples, round trips, strict reading."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostreepy.errors import GVariantError, OstreeError
from ostreepy.store.gvariant import Variant, bswap32, bswap64, deserialize, parse_type, print_value, serialize
from ostreepy.store.gvariant_text import parse_text

# ---------------------------------------------------------------- worked examples (GLib's bytes)


def test_default_dirmeta_bytes_and_checksum():
    data = serialize("(uuua(ayay))", (0, 0, bswap32(0o040755), []))
    assert data.hex() == "00000000" "00000000" "000041ed"
    assert hashlib.sha256(data).hexdigest() == "446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488"


def test_file_header_regular():
    data = serialize("(uuuusa(ayay))", (0, 0, bswap32(0o100644), 0, "", []))
    assert data.hex() == "00000000" "00000000" "000081a4" "00000000" "00" "11"


def test_file_header_symlink():
    data = serialize("(uuuusa(ayay))", (0, 0, bswap32(0o120777), 0, "hello.txt", []))
    assert data.hex() == "00000000" "00000000" "0000a1ff" "00000000" "68656c6c6f2e74787400" "1a"


def test_file_header_with_xattrs():
    data = serialize("(uuuusa(ayay))", (0, 0, bswap32(0o100644), 0, "",
                                        [(b"user.aaa\0", b"1"), (b"user.foo\0", b"bar")]))
    assert data.hex() == ("00000000000000000000" "81a40000000000"
                          "757365722e61616100" "31" "09"
                          "757365722e666f6f00" "626172" "09"
                          "0b18" "11")


def test_commit_worked_example():
    tree = bytes(range(32))
    meta = bytes(range(32, 64))
    value = ({"ostree.ref-binding": Variant("as", ["test"])}, b"", [], "subj", "", bswap64(1577836800), tree, meta)
    data = serialize("(a{sv}aya(say)sstayay)", value)
    assert len(data) == 126
    assert data[:19] == b"ostree.ref-binding\0"
    assert data[19:24] == b"\0" * 5
    assert data[24:30] == b"test\x00\x05"
    assert data[30:33] == b"\x00as"
    assert data[33:35] == b"\x13\x22"
    assert data[35:41] == b"subj\x00\x00"
    assert data[48:56].hex() == "000000005e0be100"
    assert data[120:].hex() == "582928232323"
    assert deserialize("(a{sv}aya(say)sstayay)", data) == value


@pytest.mark.parametrize("n, width", [(1, 1), (40, 1), (300, 2)])
def test_offset_width_boundaries(n, width):
    # 300 strings of 5 bytes need two-byte framing offsets
    items = [f"s{i:03d}" for i in range(n)]
    data = serialize("as", items)
    body = sum(len(s) + 1 for s in items)
    assert len(data) == body + n * width
    assert deserialize("as", data) == items


def test_255_256_boundary():
    # total container size 255 -> 1-byte offsets; 256 -> 2-byte offsets
    s254 = "x" * 252  # 253 bytes + NUL... choose sizes so that body + 1 offset == 255
    data = serialize("(sy)", ("a" * 253, 7))
    assert deserialize("(sy)", data) == ("a" * 253, 7)
    for length in range(240, 270):
        v = ("b" * length, "c")
        assert deserialize("(ss)", serialize("(ss)", v)) == v
    del s254


def test_unit_tuple_and_maybe():
    assert serialize("()", ()) == b"\x00"
    assert serialize("ms", None) == b""
    assert serialize("ms", "a") == b"a\x00\x00"
    assert serialize("mu", 5) == b"\x05\x00\x00\x00"
    assert deserialize("ms", b"a\x00\x00") == "a"
    assert deserialize("mu", b"") is None


def test_variant_in_variant():
    v = Variant("v", Variant("s", "x"))
    data = serialize("v", v)
    assert deserialize("v", data) == v


# ---------------------------------------------------------------- round trips

_leaf = {
    "y": st.integers(0, 255),
    "b": st.booleans(),
    "n": st.integers(-(2 ** 15), 2 ** 15 - 1),
    "q": st.integers(0, 2 ** 16 - 1),
    "i": st.integers(-(2 ** 31), 2 ** 31 - 1),
    "u": st.integers(0, 2 ** 32 - 1),
    "x": st.integers(-(2 ** 63), 2 ** 63 - 1),
    "t": st.integers(0, 2 ** 64 - 1),
    "s": st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40),
}


def _type_strategy():
    basic = st.sampled_from(sorted(_leaf))
    return st.recursive(
        basic,
        lambda inner: st.one_of(
            inner.map(lambda t: "a" + t),
            inner.map(lambda t: "m" + t),
            st.lists(inner, min_size=1, max_size=4).map(lambda ts: "(" + "".join(ts) + ")"),
            st.tuples(st.sampled_from(["s", "u", "y"]), inner).map(lambda kv: "a{" + kv[0] + kv[1] + "}"),
        ),
        max_leaves=6,
    )


def _value_for(t):
    vt = parse_type(t)

    def build(vt):
        k = vt.kind
        if k in _leaf:
            return _leaf[k]
        if k == "a":
            child = vt.children[0]
            if child.kind == "y":
                return st.binary(max_size=40)
            if child.kind == "{":
                return st.dictionaries(build(child.children[0]), build(child.children[1]), max_size=5)
            return st.lists(build(child), max_size=5)
        if k == "m":
            child = vt.children[0]
            if child.kind == "m":  # nested maybes are ambiguous in Python
                return st.none()
            return st.one_of(st.none(), build(child))
        if k == "(":
            return st.tuples(*[build(c) for c in vt.children])
        raise AssertionError(k)

    return build(vt)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_round_trip(data):
    t = data.draw(_type_strategy())
    v = data.draw(_value_for(t))
    raw = serialize(t, v)
    assert deserialize(t, raw) == v
    # normal form: serializing again gives the same bytes
    assert serialize(t, deserialize(t, raw)) == raw


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["(a{sv}aya(say)sstayay)", "(a(say)a(sayay))", "(uuua(ayay))", "(uuuusa(ayay))", "a{sv}",
                        "as", "a(ayay)", "(tuuuusa(ayay))"]), st.binary(max_size=200))
def test_garbage_never_crashes(t, raw):
    """Arbitrary bytes either parse or raise our own error: never IndexError, never a hang."""
    try:
        deserialize(t, raw)
    except OstreeError:
        pass


# ---------------------------------------------------------------- strict reading


@pytest.mark.parametrize("t, raw", [
    ("u", b"\x00\x00\x00"),                 # wrong size for a fixed type
    ("s", b"abc"),                          # no NUL
    ("s", b"a\x00b\x00"),                   # embedded NUL
    ("s", b"\xff\x00"),                     # not UTF-8
    ("b", b"\x02"),                         # bool that is neither 0 nor 1
    ("as", b"a\x00\x09"),                   # framing offset past the end
    ("as", b"a\x00b\x00\x04\x02"),          # offsets going backwards
    ("(ss)", b"a\x00b\x00\x09"),            # tuple offset out of range
    ("(uu)", b"\x00" * 7),                  # truncated fixed tuple
    ("v", b"\x01\x02"),                     # variant without separator
    ("v", b"\x00\x00(u"),                   # variant with an invalid type
    ("au", b"\x00" * 6),                    # not a multiple of the element size
])
def test_malformed_input_raises_our_error(t, raw):
    with pytest.raises(GVariantError):
        deserialize(t, raw)


def test_deep_nesting_is_bounded():
    t = "v"
    raw = b""
    inner = serialize("s", "x") + b"\x00s"
    for _ in range(100):
        inner = inner + b"\x00v"
    with pytest.raises(GVariantError):
        deserialize(t, inner)
    del raw


@pytest.mark.parametrize("bad", ["", "(", "a", "a{vs}", "z", "(ss", "a{s}"])
def test_invalid_type_strings(bad):
    with pytest.raises(GVariantError):
        parse_type(bad)


# ---------------------------------------------------------------- text format


def test_print_matches_glib_style():
    assert print_value("a{sv}", {"version": Variant("s", "1.0")}) == "{'version': <'1.0'>}"
    assert print_value("as", []) == "@as []"
    assert print_value("a(ayay)", [(b"user.a\0", b"xy")]) == "[(b'user.a', [byte 0x78, 0x79])]"
    assert print_value("u", 5) == "uint32 5"
    assert print_value("ay", b"it's\0") == 'b"it\'s"'


@pytest.mark.parametrize("text, expect", [
    ("'hello'", Variant("s", "hello")),
    ("uint32 5", Variant("u", 5)),
    ("true", Variant("b", True)),
    ("['a', 'b']", Variant("as", ["a", "b"])),
    ("@as []", Variant("as", [])),
    ("{'k': <1>}", Variant("a{sv}", {"k": Variant("i", 1)})),
    ("(1, 'x')", Variant("(is)", (1, "x"))),
    ("b'abc'", Variant("ay", b"abc\0")),
    ("int64 -3", Variant("x", -3)),
])
def test_parse_text(text, expect):
    assert parse_text(text) == expect


def test_parse_text_errors():
    for bad in ["'unterminated", "[]", "uint32", "1 2"]:
        with pytest.raises(GVariantError):
            parse_text(bad)
