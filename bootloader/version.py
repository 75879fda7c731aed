"""Version string comparison.

Two orders matter for boot entries:

* :func:`vercmp` is the UAPI.10 version comparison of the ``uapi-group``
  Version Format Specification as systemd implements it
  (``strverscmp_improved``, what ``systemd-analyze compare-versions``
  prints). The Boot Loader Specification sorts ``version`` and entry file
  names with it.
* :func:`strverscmp` is glibc's ``strverscmp(3)``. ostree sorts the entries
  it reads back (``compare_boot_loader_configs``) with it on ``version``.

Both return a negative number, zero or a positive number like ``strcmp``.
"""

from __future__ import annotations

import functools
from typing import Union

__all__ = ["vercmp", "strverscmp", "vercmp_key", "strverscmp_key"]

_StrOrBytes = Union[str, bytes]

_UAPI_VALID = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.~^-")
_DIGITS = frozenset(b"0123456789")
_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _as_bytes(s: _StrOrBytes) -> bytes:
    if isinstance(s, bytes):
        return s
    return s.encode("utf-8", "surrogateescape")


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def vercmp(a: _StrOrBytes, b: _StrOrBytes) -> int:
    """Compare two version strings as UAPI.10 says; returns -1, 0 or 1.

    Non-ASCII characters are never part of a component (they are skipped
    like any other character outside ``[A-Za-z0-9.~^-]``).

    Where the spec text and systemd's ``strverscmp_improved`` differ, this
    follows systemd (which bootctl and sd-boot use), step for step: when one
    side has a digit run and the other a letter, the digits are newer (``0 >
    A``), where the spec reads "an empty numerical prefix evaluates as 0"; and
    one pass of its loop takes a '~', then the end test, then a '-', a '^' and
    a '.' in turn before a component, skipping characters outside the set only
    at the top of the pass, so ``~0 > ~+0`` and ``1- > 1-^`` as systemd says.
    """
    x = _as_bytes(a)
    y = _as_bytes(b)
    i = j = 0
    nx, ny = len(x), len(y)
    while True:
        # characters outside the valid set are dropped, at the top of a pass only
        while i < nx and x[i] not in _UAPI_VALID:
            i += 1
        while j < ny and y[j] not in _UAPI_VALID:
            j += 1
        # 0 stands for the end, as the NUL of systemd's C strings
        cx = x[i] if i < nx else 0
        cy = y[j] if j < ny else 0
        # '~' sorts lower than anything, even the end of the string
        if cx == 0x7E or cy == 0x7E:
            r = (cx != 0x7E) - (cy != 0x7E)
            if r:
                return r
            i += 1
            j += 1
            cx = x[i] if i < nx else 0
            cy = y[j] if j < ny else 0
        # at an end, the one with characters left is newer
        if cx == 0 or cy == 0:
            return _sign(cx - cy)
        # '-', then '^', then '.': each older than anything else, taken in turn in one pass
        for sep in (0x2D, 0x5E, 0x2E):
            if cx == sep or cy == sep:
                r = (cx != sep) - (cy != sep)
                if r:
                    return r
                i += 1
                j += 1
                cx = x[i] if i < nx else 0
                cy = y[j] if j < ny else 0
        if cx in _DIGITS or cy in _DIGITS:
            si = i
            while i < nx and x[i] in _DIGITS:
                i += 1
            sj = j
            while j < ny and y[j] in _DIGITS:
                j += 1
            # a digit run is newer than none (systemd); then the values
            r = (i > si) - (j > sj)
            if r:
                return r
            r = _sign(int(x[si:i]) - int(y[sj:j]))
            if r:
                return r
        else:
            # letters, byte by byte ('B' < 'a'), then the longer run is newer; a run may be
            # empty (the pass stopped at a character outside the set), and two empty runs
            # leave the next pass to drop that character
            si = i
            while i < nx and x[i] in _ALPHA:
                i += 1
            sj = j
            while j < ny and y[j] in _ALPHA:
                j += 1
            ra, rb = x[si:i], y[sj:j]
            n = min(len(ra), len(rb))
            if ra[:n] != rb[:n]:
                return -1 if ra[:n] < rb[:n] else 1
            r = _sign(len(ra) - len(rb))
            if r:
                return r


# glibc string/strverscmp.c, as a state machine over bytes.
_S_N, _S_I, _S_F, _S_Z = 0x0, 0x3, 0x6, 0x9
_CMP, _LEN = 2, 3
_NEXT_STATE = (
    # x     d     0
    _S_N, _S_I, _S_Z,  # S_N
    _S_N, _S_I, _S_I,  # S_I
    _S_N, _S_F, _S_F,  # S_F
    _S_N, _S_F, _S_Z,  # S_Z
)
_RESULT_TYPE = (
    # x/x  x/d  x/0  d/x  d/d  d/0  0/x  0/d  0/0
    _CMP, _CMP, _CMP, _CMP, _LEN, _CMP, _CMP, _CMP, _CMP,  # S_N
    _CMP, -1, -1, +1, _LEN, _LEN, +1, _LEN, _LEN,  # S_I
    _CMP, _CMP, _CMP, _CMP, _CMP, _CMP, _CMP, _CMP, _CMP,  # S_F
    _CMP, +1, +1, -1, _CMP, _CMP, -1, _CMP, _CMP,  # S_Z
)


def _cls(c: int) -> int:
    # 0 for "other", 1 for [1-9], 2 for '0'
    if c == 0x30:
        return 2
    if 0x31 <= c <= 0x39:
        return 1
    return 0


def strverscmp(a: _StrOrBytes, b: _StrOrBytes) -> int:
    """glibc ``strverscmp``: like strcmp, but digit runs compare as numbers
    (runs with leading zeros as fractional parts). Returns -1, 0 or 1.

    Strings are compared as their UTF-8 bytes; a NUL ends a string as in C.
    """
    x = _as_bytes(a).split(b"\0", 1)[0] + b"\0"
    y = _as_bytes(b).split(b"\0", 1)[0] + b"\0"
    p1 = p2 = 0
    c1 = x[p1]
    c2 = y[p2]
    p1 += 1
    p2 += 1
    state = _S_N + _cls(c1)
    while True:
        diff = c1 - c2
        if diff != 0:
            break
        if c1 == 0:
            return 0
        state = _NEXT_STATE[state]
        c1 = x[p1]
        c2 = y[p2]
        p1 += 1
        p2 += 1
        state += _cls(c1)
    result = _RESULT_TYPE[state * 3 + _cls(c2)]
    if result == _CMP:
        return _sign(diff)
    if result == _LEN:
        # while (isdigit (*p1++)) if (!isdigit (*p2++)) return 1;
        while True:
            d1 = x[p1]
            p1 += 1
            if not (0x30 <= d1 <= 0x39):
                break
            d2 = y[p2]
            p2 += 1
            if not (0x30 <= d2 <= 0x39):
                return 1
        return -1 if 0x30 <= y[p2] <= 0x39 else _sign(diff)
    return result


#: Sort key for :func:`vercmp` (ascending).
vercmp_key = functools.cmp_to_key(vercmp)
#: Sort key for :func:`strverscmp` (ascending).
strverscmp_key = functools.cmp_to_key(strverscmp)
