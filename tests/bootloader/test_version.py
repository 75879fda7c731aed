from __future__ import annotations

import ctypes
import itertools
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from bootloader.version import strverscmp, vercmp

SPEC_CHAIN = ("122.1 123~rc1-1 123 123-a 123-a.1 123-1 123-1.1 123^post1 123.a-1 123.1-1 "
              "123a-1 124-1").split()
SPEC_EXAMPLES = [
    ("11", "11", 0), ("systemd-123", "systemd-123", 0), ("bar-123", "foo-123", -1),
    ("123a", "123", 1), ("123.a", "123", 1), ("123.a", "123.b", -1), ("123a", "123.a", 1),
    ("11α", "11β", 0), ("B", "a", -1), ("", "0", -1), ("0.", "0", 1), ("0.0", "0", 1),
    ("0", "~", 1), ("", "~", 1), ("1_", "1", 0), ("_1", "1", 0), ("1_", "1.2", -1),
    ("1_2_3", "1.3.3", 1), ("1+", "1", 0), ("+1", "1", 0), ("1+", "1.2", -1), ("1+2+3", "1.3.3", 1),
]


@pytest.mark.parametrize("a,b,expected", SPEC_EXAMPLES)
def test_uapi_spec_examples(a, b, expected):
    assert vercmp(a, b) == expected
    assert vercmp(b, a) == -expected


def test_uapi_spec_chain():
    for i, j in itertools.combinations(range(len(SPEC_CHAIN)), 2):
        assert vercmp(SPEC_CHAIN[i], SPEC_CHAIN[j]) == -1, (SPEC_CHAIN[i], SPEC_CHAIN[j])
        assert vercmp(SPEC_CHAIN[j], SPEC_CHAIN[i]) == 1


# One pass of systemd's strverscmp_improved loop takes a '~', the end test, then '-', '^' and '.' in
# turn, and drops characters outside the set only at the top of a pass: what systemd 252 (Debian 12)
# says of these, kept as fixed vectors (hypothesis found the first: vercmp said 0)
PASS_STRUCTURE = [("~0", "~+0", 1), ("1-", "1-^", 1), ("1.~", "1.~a", -1), ("1-.", "1-a", -1),
                  ("-~", "-", -1), ("1..", "1.", 1), ("~+", "~a", -1), ("1-^.2", "1-^2", -1)]


@pytest.mark.parametrize("a,b,expected", PASS_STRUCTURE)
def test_uapi_follows_the_pass_structure_of_systemds_loop(a, b, expected):
    assert vercmp(a, b) == expected
    assert vercmp(b, a) == -expected
    assert systemd_compare(a, b) == expected
    assert systemd_compare(b, a) == -expected


def systemd_compare(a: str, b: str) -> int:
    rc = subprocess.run(["systemd-analyze", "compare-versions", "--", a, b], capture_output=True).returncode
    return {0: 0, 11: 1, 12: -1}[rc]


version_text = st.text(alphabet="0123456789.~^-_+aAbBzZ", max_size=10)


def test_uapi_matches_systemd_analyze_on_spec_examples():
    for a, b, expected in SPEC_EXAMPLES[:12]:
        assert systemd_compare(a, b) == expected == vercmp(a, b)


@settings(max_examples=60, deadline=None)
@given(version_text, version_text)
def test_uapi_matches_systemd_analyze(a, b):
    assert vercmp(a, b) == systemd_compare(a, b)


_libc = ctypes.CDLL(None)
_libc.strverscmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_libc.strverscmp.restype = ctypes.c_int


def glibc_strverscmp(a: str, b: str) -> int:
    r = _libc.strverscmp(a.encode(), b.encode())
    return (r > 0) - (r < 0)


cver = st.text(alphabet="0012345678900.-abx", max_size=8)


@settings(max_examples=500, deadline=None)
@given(cver, cver)
def test_strverscmp_matches_glibc(a, b):
    assert strverscmp(a, b) == glibc_strverscmp(a, b)


@pytest.mark.parametrize("a,b", [("1", "2"), ("a10", "a9"), ("000", "00"), ("0.9", "0.10"),
                                 ("x01", "x1"), ("item#99", "item#100"), ("10", "9"), ("", "1")])
def test_strverscmp_examples_match_glibc(a, b):
    assert strverscmp(a, b) == glibc_strverscmp(a, b)
    assert strverscmp(a.encode(), b.encode()) == strverscmp(a, b)


@settings(max_examples=300, deadline=None)
@given(version_text, version_text, version_text)
def test_vercmp_is_a_total_order(a, b, c):
    assert vercmp(a, a) == 0
    assert vercmp(a, b) == -vercmp(b, a)
    if vercmp(a, b) <= 0 and vercmp(b, c) <= 0:
        assert vercmp(a, c) <= 0


@settings(max_examples=300, deadline=None)
@given(cver, cver, cver)
def test_strverscmp_is_a_total_order(a, b, c):
    assert strverscmp(a, b) == -strverscmp(b, a)
    assert (strverscmp(a, b) == 0) == (a == b)
    if strverscmp(a, b) <= 0 and strverscmp(b, c) <= 0:
        assert strverscmp(a, c) <= 0
