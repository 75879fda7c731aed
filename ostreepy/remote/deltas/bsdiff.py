"""bsdiff and bspatch in pure Python, in the stream format libostree's bundled
bsdiff (Matthew Endsley's variant, ``bsdiff/bsdiff.c`` and ``bspatch.c``)
writes into static deltas: no header and no bzip2, only repeated::

    ctrl: three 8-byte sign-magnitude little-endian integers (diff length,
          extra length, seek of the old position)
    diff: ``ctrl[0]`` bytes added bytewise (mod 256) to the old data
    extra: ``ctrl[1]`` bytes copied as they are

until the new size is reached.  The new size comes from outside (the delta's
``open`` opcode), as in libostree.

bspatch streams: it yields the output in pieces and holds only the old file
(which may be an mmap) and the patch.  The bytewise addition is done on whole
runs at once with integer arithmetic (add the low seven bits of each byte,
then fix the top bit with xor) so a patch costs about what a copy costs.

bsdiff keeps the upstream algorithm (suffix array of the old file, the same
scan and the same forward/backward extension rules) with the suffix array
built by prefix doubling on Python's sort; comparisons in the binary search
look at no more than :data:`_CMP_WINDOW` bytes, which can only make a match a
little shorter, never make the patch wrong.  It is meant for the files
libostree would bsdiff (modified files under ``max-bsdiff-size``), and is
slow on large ones: the compiler caps what it hands to it.
"""

from __future__ import annotations

import mmap
from itertools import accumulate
from operator import ne
from typing import Callable, Dict, Iterator, List, Sequence, Tuple, Union

from .format import DeltaError

Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]

_INT_MAX = 0x7FFFFFFF
_CMP_WINDOW = 256
_MASKS: Dict[int, Tuple[int, int]] = {}


def offtin(buf: Buffer) -> int:
    """An 8-byte sign-magnitude little-endian integer, as bspatch reads it."""
    y = int.from_bytes(bytes(buf[:7]) + bytes((buf[7] & 0x7F,)), "little")
    return -y if buf[7] & 0x80 else y


def offtout(x: int) -> bytes:
    """The 8-byte sign-magnitude little-endian form bsdiff writes."""
    y = -x if x < 0 else x
    b = bytearray(y.to_bytes(8, "little"))
    if x < 0:
        b[7] |= 0x80
    return bytes(b)


def _masks(n: int) -> Tuple[int, int]:
    m = _MASKS.get(n)
    if m is None:
        m = (int.from_bytes(b"\x7f" * n, "little"), int.from_bytes(b"\x80" * n, "little"))
        if len(_MASKS) < 64:
            _MASKS[n] = m
    return m


def add_bytes(a: Buffer, b: Buffer) -> bytes:
    """Bytewise (a + b) mod 256 of two equal-length runs."""
    n = len(a)
    if n == 0:
        return b""
    x = int.from_bytes(a, "little")
    y = int.from_bytes(b, "little")
    low, high = _masks(n)
    r: int = ((x & low) + (y & low)) ^ ((x ^ y) & high)
    return r.to_bytes(n, "little")


def sub_bytes(a: Buffer, b: Buffer) -> bytes:
    """Bytewise (a - b) mod 256: the inverse of :func:`add_bytes`."""
    n = len(a)
    if n == 0:
        return b""
    neg = add_bytes(bytes(b).translate(_NOT), b"\x01" * n)
    return add_bytes(a, neg)


_PIECE = 1 << 16
_NOT = bytes(255 - c for c in range(256))


def bspatch(old: Buffer, newsize: int, patch: Buffer) -> Iterator[bytes]:
    """The new file, in pieces, from ``old`` and the patch stream.

    Raises DeltaError where libostree's bspatch returns -1 (bad control
    values, output past ``newsize``) or would read past the end of the patch.
    """
    oldsize = len(old)
    plen = len(patch)
    ppos = 0
    oldpos = 0
    newpos = 0
    pmv = memoryview(patch)
    omv = memoryview(old)

    def take(n: int) -> memoryview:
        nonlocal ppos
        if n > plen - ppos:
            raise DeltaError("bsdiff patch failed: patch data truncated")
        v = pmv[ppos:ppos + n]
        ppos += n
        return v

    while newpos < newsize:
        ctrl = take(24)
        c0, c1, c2 = offtin(ctrl[0:8]), offtin(ctrl[8:16]), offtin(ctrl[16:24])
        if c0 < 0 or c0 > _INT_MAX or c1 < 0 or c1 > _INT_MAX or newpos + c0 > newsize:
            raise DeltaError("bsdiff patch failed")
        diff = take(c0)
        # add old data where it exists (upstream skips positions outside old)
        done = 0
        while done < c0:
            n = min(_PIECE, c0 - done)
            lo, hi = oldpos + done, oldpos + done + n
            clo, chi = max(lo, 0), min(hi, oldsize)
            d = diff[done:done + n]
            if clo >= chi:
                yield bytes(d)
            else:
                head = bytes(d[:clo - lo])
                mid = add_bytes(d[clo - lo:chi - lo], omv[clo:chi])
                tail = bytes(d[chi - lo:])
                yield head + mid + tail
            done += n
        newpos += c0
        oldpos += c0
        if newpos + c1 > newsize:
            raise DeltaError("bsdiff patch failed")
        extra = take(c1)
        for i in range(0, c1, _PIECE):
            yield bytes(extra[i:i + _PIECE])
        newpos += c1
        oldpos += c2


# ------------------------------------------------------------------ bsdiff

def suffix_array(s: bytes) -> List[int]:
    """Suffix array of ``s`` with the empty suffix (index len(s)) first, as qsufsort's.

    Prefix doubling: ranks of the first 8 bytes are built arithmetically (byte+1
    in base 257, 0 past the end so a shorter suffix sorts first), then each round
    sorts on (rank of i, rank of i+k) packed into one integer.
    """
    n = len(s)
    k1 = [c + 1 for c in s] + [0] * 8
    k2 = [a * 257 + b for a, b in zip(k1, k1[1:])]
    k4 = [a * 66049 + b for a, b in zip(k2, k2[2:])]
    keys = [a * 4362470401 + b for a, b in zip(k4, k4[4:n + 5])]
    del k1, k2, k4
    sa = list(range(n + 1))
    k = 8
    width = n + 2
    while True:
        sa.sort(key=keys.__getitem__)
        # rank = 1 + how many distinct keys come before, scattered back by position
        sk = list(map(keys.__getitem__, sa))
        ranks = list(accumulate(map(ne, sk, [-1, *sk[:-1]])))  # keys are >= 0
        rank = [0] * (n + 1)
        for _ in map(rank.__setitem__, sa, ranks):
            pass
        r = ranks[-1]
        if r == n + 1 or k > n:
            return sa
        shifted = rank[k:] + [0] * min(k, n + 1)
        keys = [a * width + b for a, b in zip(rank, shifted)]
        k *= 2


def _matchlen(old: bytes, a: int, new: bytes, b: int) -> int:
    n = min(len(old) - a, len(new) - b)
    i = 0
    step = 64
    while i < n:
        m = min(step, n - i)
        if old[a + i:a + i + m] == new[b + i:b + i + m]:
            i += m
            step = min(step * 2, 1 << 16)
            continue
        for j in range(m):
            if old[a + i + j] != new[b + i + j]:
                return i + j
    return i


def _search(sa: Sequence[int], old: bytes, new: bytes, scan: int) -> Tuple[int, int]:
    st, en = 0, len(old)
    probe = new[scan:scan + _CMP_WINDOW]
    while en - st >= 2:
        x = st + (en - st) // 2
        i = sa[x]
        m = min(len(old) - i, len(new) - scan, _CMP_WINDOW)
        if old[i:i + m] < probe[:m]:
            st = x
        else:
            en = x
    x = _matchlen(old, sa[st], new, scan)
    y = _matchlen(old, sa[en], new, scan)
    if x > y:
        return x, sa[st]
    return y, sa[en]


def bsdiff(old: bytes, new: bytes, write: Callable[[bytes], None]) -> None:
    """Write the patch from ``old`` to ``new`` through ``write``."""
    old = bytes(old)
    new = bytes(new)
    oldsize, newsize = len(old), len(new)
    sa = suffix_array(old)
    scan = length = pos = 0
    lastscan = lastpos = lastoffset = 0
    while scan < newsize:
        oldscore = 0
        scan += length
        scsc = scan
        while scan < newsize:
            length, pos = _search(sa, old, new, scan)
            while scsc < scan + length:
                if scsc + lastoffset < oldsize and old[scsc + lastoffset] == new[scsc]:
                    oldscore += 1
                scsc += 1
            if (length == oldscore and length != 0) or length > oldscore + 8:
                break
            if scan + lastoffset < oldsize and old[scan + lastoffset] == new[scan]:
                oldscore -= 1
            scan += 1
        if length != oldscore or scan == newsize:
            s = sf = lenf = 0
            i = 0
            while lastscan + i < scan and lastpos + i < oldsize:
                if old[lastpos + i] == new[lastscan + i]:
                    s += 1
                i += 1
                if s * 2 - i > sf * 2 - lenf:
                    sf, lenf = s, i
            lenb = 0
            if scan < newsize:
                s = sb = 0
                i = 1
                while scan >= lastscan + i and pos >= i:
                    if old[pos - i] == new[scan - i]:
                        s += 1
                    if s * 2 - i > sb * 2 - lenb:
                        sb, lenb = s, i
                    i += 1
            if lastscan + lenf > scan - lenb:
                overlap = (lastscan + lenf) - (scan - lenb)
                s = ss = lens = 0
                for i in range(overlap):
                    if new[lastscan + lenf - overlap + i] == old[lastpos + lenf - overlap + i]:
                        s += 1
                    if new[scan - lenb + i] == old[pos - lenb + i]:
                        s -= 1
                    if s > ss:
                        ss, lens = s, i + 1
                lenf += lens - overlap
                lenb -= lens
            extra_len = (scan - lenb) - (lastscan + lenf)
            write(offtout(lenf) + offtout(extra_len) + offtout((pos - lenb) - (lastpos + lenf)))
            write(sub_bytes(new[lastscan:lastscan + lenf], old[lastpos:lastpos + lenf]))
            write(new[lastscan + lenf:lastscan + lenf + extra_len])
            lastscan = scan - lenb
            lastpos = pos - lenb
            lastoffset = pos - scan


def bsdiff_bytes(old: bytes, new: bytes) -> bytes:
    """The whole patch from ``old`` to ``new``."""
    out: List[bytes] = []
    bsdiff(old, new, out.append)
    return b"".join(out)
