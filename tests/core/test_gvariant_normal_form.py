"""gvariant.normal_form: GLib's g_variant_get_normal_form of untrusted bytes, as
libostree stores a fetched .commitmeta (the corrupt case is checked against ostree in
tests/remote/test_pull_http.py)."""

from __future__ import annotations

from ostreepy.store import gvariant
from ostreepy.store.gvariant import Variant, normal_form, serialize


def test_normal_data_comes_back_unchanged():
    for t, v in (("a{sv}", {"a": Variant("s", "x"), "b": Variant("ay", b"\x01\x02"),
                            "c": Variant("(tb)", (5, True)), "d": Variant("as", ["", "yy"]),
                            "e": Variant("mv", Variant("u", 3)), "f": Variant("o", "/a/b_1")}),
                 ("(ssa(uay))", ("x", "", [(1, b"ab"), (2, b"")])), ("a{sv}", {})):
        data = serialize(t, v)
        assert normal_form(t, data) == data


def test_what_glib_reads_as_defaults():
    assert normal_form("a{sv}", b"borkborkbork\n") == serialize("a{sv}", [("", Variant("()", ()))] * 3)
    assert normal_form("u", b"\x01\x02") == b"\x00" * 4  # wrong size: zeros
    assert normal_form("b", b"\x07") == b"\x01"
    assert normal_form("s", b"a\x00b\x00") == b"\x00"  # embedded NUL
    assert normal_form("o", b"not/a/path\x00") == b"/\x00"
    assert normal_form("v", b"\x01\x00zz") == b"\x00\x00()"  # no such type: <()>
    assert normal_form("mu", b"\x01") == b""  # Nothing
    assert normal_form("au", b"\x01\x02\x03") == b""  # not a whole number of elements
    good = serialize("as", ["a", "b", "c"])
    # the second offset going backwards: it and every later member read as ""
    bad = good[:-3] + bytes([good[-3], 0, good[-1]])
    assert gvariant.deserialize("as", normal_form("as", bad)) == ["a", "", ""]
