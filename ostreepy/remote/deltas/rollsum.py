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
# the window's sum.  It depends on where the chunk started only for the chunk's
# first 63 bytes (the window still reaches back before the start, where bup has
# zeros); those few are summed directly.  For all the full windows at once the
# weighted sums are computed on big integers holding one byte per 16-bit lane:
# only the low 13 bits count, so every lane is masked to them after each step
# and a sum of three never carries into the next lane.  Doubling builds the
# window: with O the sum of the last L bytes and R the sum weighted 1..L,
# R' = R + (R + L*O) shifted by L lanes and O' = O + O shifted, six times
# (L = 1..32 -> 64); L*O is taken mod 2**13 by masking O to 13-log2(L) bits
# before the shift, so it too stays in its lane.  A cut is a lane whose
# value is a fixed one, found with bytes.find on (low byte, next 5 bits) pairs.
# The file goes through in slices, so memory stays a few times the slice.
_S2_INIT = WINDOWSIZE * (WINDOWSIZE - 1) * CHAR_OFFSET
_TARGET = (_MASK - _S2_INIT) % BLOBSIZE
_PAIR = bytes((_TARGET & 0xFF, _TARGET >> 8))
_SLICE = 1 << 18


def window_cuts(buf: bytes) -> List[int]:
    """Every t >= 63 where bup's sum over the full window buf[t-63:t+1] marks a cut."""
    w = WINDOWSIZE
    cuts: List[int] = []
    for first in range(w - 1, len(buf), _SLICE):
        seg = buf[first - (w - 1):first + _SLICE]
        m = len(seg)
        wide = bytearray(2 * m)
        wide[0::2] = seg
        rep = ((1 << (16 * m)) - 1) // 0xFFFF  # 1 in every lane: int.from_bytes is slower
        mask = _MASK * rep
        ones = ramp = int.from_bytes(wide, "little")
        for k in range(6):  # span 1, 2, 4, ..., 32
            sh = 16 << k
            times_span = ((ones & ((_MASK >> k) * rep)) << k) if k else ones
            # below 2**15 before the mask; the plain sums of at most 64 bytes fit a lane unmasked
            ramp = (ramp + ((ramp + times_span) << sh)) & mask
            ones = ones + (ones << sh)
        lanes = ramp.to_bytes(2 * m, "little")
        pairs = lanes[2 * (w - 1):]
        j = pairs.find(_PAIR)
        while j >= 0:
            if j & 1:
                j = pairs.find(_PAIR, j + 1)
                continue
            cuts.append(first + j // 2)
            j = pairs.find(_PAIR, j + 2)
    return cuts


class _Splitter:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.cuts = window_cuts(buf)
        self._ci = 0

    def find(self, start: int, end: int) -> int:
        buf = self.buf
        head_end = min(start + WINDOWSIZE - 1, end)
        s1 = 0
        s2 = _S2_INIT
        for t in range(start, head_end):
            s1 += buf[t]
            s2 += s1
            if (s2 & _MASK) == _MASK:
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
