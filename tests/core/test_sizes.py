"""ostree.sizes, the size index of `commit --generate-sizes` (store/sizes.py): the pure
format, tested with bytes; that ostree writes the same is in tests/ostree."""

import pytest

from ostreepy.errors import OstreeError
from ostreepy.store.gvariant import Variant
from ostreepy.store.objects import ObjectType
from ostreepy.store.sizes import SizeEntry, SizeLog, decode_sizes, encode_sizes, read_varuint64, write_varuint64


@pytest.mark.parametrize("value, encoded", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                            (300, b"\xac\x02"), (2**64 - 1, b"\xff" * 9 + b"\x01")])
def test_varuint64_as_protobuf(value, encoded):
    assert write_varuint64(value) == encoded
    assert read_varuint64(b"x" + encoded, 1) == (value, 1 + len(encoded))


def test_entries_sorted_by_checksum_with_objtype_byte():
    a = SizeEntry("ff" * 32, ObjectType.FILE, 300, 1000)
    b = SizeEntry("01" * 32, ObjectType.DIR_META, 76, 76)
    v = encode_sizes([a, b])
    assert v.type == "aay"
    assert v.value[0] == bytes.fromhex("01" * 32) + b"\x4c\x4c\x03"
    assert v.value[1] == bytes.fromhex("ff" * 32) + b"\xac\x02\xe8\x07\x01"
    assert decode_sizes(v) == [b, a]


def test_old_entries_without_objtype_are_files_and_bad_ones_refused():
    assert decode_sizes(Variant("aay", [b"\xaa" * 32 + b"\x05\x06"])) == [
        SizeEntry("aa" * 32, ObjectType.FILE, 5, 6)]
    for bad in (b"\xaa" * 33, b"\xaa" * 32 + b"\x80\x80", b"\xaa" * 32 + b"\x01\x01\x0c"):
        with pytest.raises(OstreeError):
            decode_sizes(Variant("aay", [bad]))


def test_log_keeps_the_first_sizes_and_only_tree_objects():
    log = SizeLog()
    log.record("ab" * 32, ObjectType.FILE, 10, 20)
    log.record("ab" * 32, ObjectType.FILE, 99, 99)
    log.record("cd" * 32, ObjectType.COMMIT, 1, 1)
    assert log.entries() == [SizeEntry("ab" * 32, ObjectType.FILE, 10, 20)]
    log.clear()
    assert log.entries() == []


def test_format_size_goes_on_to_exabytes_as_g_format_size():
    # GLib's g_format_size has kB..EB (gutils.c, the SI table); "1152.9 PB" was ours for 2**60
    from ostreepy.store.prune import format_size
    assert format_size(999) == "999 bytes"
    assert format_size(1) == "1 byte"
    assert format_size(2 ** 48) == "281.5\u00a0TB"
    assert format_size(2 ** 60) == "1.2\u00a0EB"
    assert format_size(2 ** 64 - 1) == "18.4\u00a0EB"
