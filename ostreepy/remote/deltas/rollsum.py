"""Rolling-checksum chunk matching, as libostree's ``ostree-rollsum.c`` over
bup's ``bupsplit.c``.

A file is cut where bup's rolling sum over a 64-byte window has its low 13
bits all set (chunks of about 8 KiB, at most 32 KiB); chunks are keyed by
zlib crc32 -- of the file's first bytes, as many as the chunk has, which is
what libostree computes (it passes the buffer's start, not the chunk's, to
crc32).  A chunk of the new file that has a chunk of the same key, length and
bytes in the old file is a match.  Only the low 13 bits of bup's two sums
decide a cut, so they are kept modulo 2**13 (the arithmetic wraps the same).
Pure code over bytes.
"""

from __future__ import annotations

import zlib
from typing import Dict, List, Tuple

import attrs

BLOBBITS = 13
BLOBSIZE = 1 << BLOBBITS
WINDOWSIZE = 1 << (7 - 1)
CHAR_OFFSET = 31
BLOB_MAX = 8192 * 4
_MASK = BLOBSIZE - 1


def find_ofs(buf: bytes, start: int, end: int) -> int:
    """bupsplit_find_ofs over buf[start:end]: the length of the first chunk, or 0.
    The reference loop, one byte at a time; :func:`chunks` uses the closed form."""
    s1 = (WINDOWSIZE * CHAR_OFFSET) & _MASK
    s2 = (WINDOWSIZE * (WINDOWSIZE - 1) * CHAR_OFFSET) & _MASK
    k = WINDOWSIZE * CHAR_OFFSET
    for count in range(start, end):
        drop = buf[count - WINDOWSIZE] if count - WINDOWSIZE >= start else 0
        s1 = (s1 + buf[count] - drop) & _MASK
        s2 = (s2 + s1 - WINDOWSIZE * drop - k) & _MASK
        if s2 == _MASK:
            return count - start + 1
    return 0


# After byte t, bup's s2 is WINDOWSIZE*(WINDOWSIZE-1)*CHAR_OFFSET plus the bytes
# of the window weighted by age (the newest 1, the oldest 64): each step adds s1,
# the window's sum.  So s2 at t is (t+1)*sum(x[i]) - sum(i*x[i]) over the window,
# from two prefix sums, and depends on where the chunk started only for its first
# 63 bytes (the window still reaches back before the start, where bup has zeros).
_S2_INIT = WINDOWSIZE * (WINDOWSIZE - 1) * CHAR_OFFSET


class _Splitter:
    def __init__(self, buf: bytes) -> None:
        from itertools import accumulate, repeat
        from operator import mod, mul, sub
        self.n = n = len(buf)
        self.p1 = p1 = [0, *accumulate(buf)]
        self.p2 = p2 = [0, *accumulate(map(mul, range(n), buf))]
        w = WINDOWSIZE
        # positions t >= w-1 whose full-window s2 marks a cut, all with C-level loops:
        # index j stands for t = j + w - 1
        wsum = map(sub, p1[w:], p1)
        wisum = map(sub, p2[w:], p2)
        vals = list(map(mod, map(sub, map(mul, range(w, n + 1), wsum), wisum), repeat(BLOBSIZE)))
        target = (_MASK - _S2_INIT) % BLOBSIZE
        cuts = []
        j = -1
        while True:
            try:
                j = vals.index(target, j + 1)
            except ValueError:
                break
            cuts.append(j + w - 1)
        self.cuts = cuts
        self._ci = 0

    def find(self, start: int, end: int) -> int:
        p1, p2 = self.p1, self.p2
        head_end = min(start + WINDOWSIZE - 1, end)
        for t in range(start, head_end):
            if ((_S2_INIT + (t + 1) * (p1[t + 1] - p1[start]) - (p2[t + 1] - p2[start])) & _MASK) == _MASK:
                return t - start + 1
        cuts = self.cuts
        i = self._ci
        while i < len(cuts) and cuts[i] < head_end:
            i += 1
        self._ci = i  # starts only move forward
        if i < len(cuts) and cuts[i] < end:
            return cuts[i] - start + 1
        return 0

def chunks(buf: bytes) -> List[Tuple[int, int, int]]:
    """(crc32, start, length) of each chunk, in order."""
    out = []
    start = 0
    remaining = len(buf)
    at_end = False
    splitter = _Splitter(buf) if buf else None
    while remaining > 0:
        if not at_end:
            assert splitter is not None
            offset = splitter.find(start, start + remaining)
            if offset == 0:
                at_end = True
                offset = min(BLOB_MAX, remaining)
            elif offset > BLOB_MAX:
                offset = BLOB_MAX
        else:
            offset = min(BLOB_MAX, remaining)
        # libostree hashes the file's first `offset` bytes, not the chunk's
        # (ostree-rollsum.c: crc32 (crc, buf, offset)); a chunk only matches where
        # the two files share that prefix, so the decisions follow it exactly
        out.append((zlib.crc32(buf[:offset]), start, offset))
        start += offset
        remaining -= offset
    return out


@attrs.frozen
class RollsumMatches:
    """The chunks of a new file found in an old one, with libostree's counters."""
    #: (length, to_start, from_start), sorted by to_start
    matches: Tuple[Tuple[int, int, int], ...]
    crcmatches: int
    bufmatches: int
    total: int
    match_size: int


def compute_matches(old: bytes, new: bytes) -> RollsumMatches:
    """Match the chunks of ``new`` against those of ``old`` (``_ostree_compute_rollsum_matches``)."""
    by_crc: Dict[int, List[Tuple[int, int]]] = {}
    for crc, start, length in chunks(old):
        by_crc.setdefault(crc, []).append((start, length))
    to_by_crc: Dict[int, List[Tuple[int, int]]] = {}
    for crc, start, length in chunks(new):
        to_by_crc.setdefault(crc, []).append((start, length))
    matches = []
    crcmatches = bufmatches = total = match_size = 0
    for crc, to_chunks in to_by_crc.items():
        from_chunks = by_crc.get(crc)
        if from_chunks is not None:
            crcmatches += 1
            for to_start, to_len in to_chunks:
                for from_start, from_len in from_chunks:
                    if from_len != to_len:
                        continue
                    if old[from_start:from_start + from_len] == new[to_start:to_start + to_len]:
                        bufmatches += 1
                        match_size += to_len
                        matches.append((to_len, to_start, from_start))
                        break
        total += len(to_chunks)
    matches.sort(key=lambda m: m[1])
    return RollsumMatches(tuple(matches), crcmatches, bufmatches, total, match_size)
