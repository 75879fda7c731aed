"""Hardening item 10 (second half): kernel arguments ending in ``\\r``, ``\\f`` or
``\\v`` changed when an entry was written and read back."""

from __future__ import annotations

import pytest

from bootloader.bls import BLSEntry, format_entry, parse_entry
from bootloader.errors import BootloaderError
from bootloader.kargs import KernelArgs


@pytest.mark.parametrize("karg", ["quiet\v", "quiet\f", "a=\fb\v", "\vx"])
def test_vertical_tab_and_form_feed_survive_a_reread(karg):
    kargs = KernelArgs.parse(f"root=/dev/vda {karg}")
    entry = BLSEntry([("title", "t"), ("options", str(kargs)), ("linux", "/vmlinuz")])
    again = parse_entry(format_entry(entry))
    assert again == entry
    assert KernelArgs.parse(again.options) == kargs
    assert parse_entry(format_entry(entry), strict=False) == entry


@pytest.mark.parametrize("karg", ["quiet\r", "a\rb", "trailing "])
def test_what_a_reader_would_change_is_refused_on_write(karg):
    with pytest.raises(BootloaderError):
        BLSEntry([("title", "t"), ("options", f"root=/dev/vda {karg}")])
