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

bsdiff keeps upstream's output rules but not its matcher.  Upstream finds,
at each position of the new file, the longest match anywhere in the old one
with a suffix array (qsufsort), then cuts a control triple around each match
that beats the current alignment by more than 8 bytes: the diff runs forward
from the last match as far as 2*(equal bytes) - length keeps growing, the
extra is what is left, and the next diff starts as far back from the new
match as the same score allows.  Any matcher gives a valid patch, so here the
matches come from an index of ``_K``-byte anchors of the old file (a dict
keyed by the bytes, every ``stride`` positions, the first occurrence kept,
at most ``_MAX_ANCHORS`` entries however large the file).  The scan rides the
current alignment while it holds (one comparison per exact run, found with
whole-run integer xor); where it breaks, the new file's positions are looked
up in the index, in growing batches through ``map`` while nothing is found.
A hit is extended exactly both ways and kept by upstream's rule; the
extensions are scored at C speed (only the ends of equal runs where
differences are sparse).  A new match's backward extension stops at the end
of the last exact run, which keeps every byte scored a bounded number of
times (periodic data cannot make it quadratic).  A match shorter than
``_K + stride - 1`` bytes may be missed, which costs patch size, never
correctness; on libostree's own kind of inputs the patches come out the size
of its qsufsort ones (tests/deltas/test_bsdiff_matcher.py).  No size cap is
needed beyond libostree's ``max-bsdiff-size``; memory is the two files, the
patch and the bounded index.
"""

from __future__ import annotations

import mmap
import struct
from itertools import accumulate, compress
from operator import sub

from .format import DeltaError

TYPE_CHECKING = False  # typing is not imported at run time (an apply's start-up)
if TYPE_CHECKING:
    import re
    from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

    Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]

_INT_MAX = 0x7FFFFFFF
_CMP_WINDOW = 256
_MASKS: Dict[int, Tuple[int, int]] = {}


def offtin(buf: Buffer) -> int:
    """An 8-byte sign-magnitude little-endian integer, as bspatch reads it."""
    y = int.from_bytes(bytes(buf[:7]) + bytes((buf[7] & 0x7F,)), "little")
    return -y if buf[7] & 0x80 else y


_CTRL = struct.Struct("<QQQ")
_MAGNITUDE = (1 << 63) - 1
_SIGN = 1 << 63


def _ctrl(buf: Buffer) -> tuple[int, int, int]:
    """A control triple: three :func:`offtin` integers at once (one unpack, not three
    copies and conversions: a patch is mostly triples, ~26 per file of the 20k delta)."""
    a, b, c = _CTRL.unpack(buf)
    return (-(a & _MAGNITUDE) if a & _SIGN else a, -(b & _MAGNITUDE) if b & _SIGN else b,
            -(c & _MAGNITUDE) if c & _SIGN else c)


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
_FLUSH = 1 << 20
_NOT = bytes(255 - c for c in range(256))


def bspatch(old: Buffer, newsize: int, patch: Buffer) -> Iterator[bytes]:
    """The new file, in pieces, from ``old`` and the patch stream.

    Raises DeltaError where libostree's bspatch returns -1 (bad control
    values, output past ``newsize``) or would read past the end of the patch.

    A patch from libostree's bsdiff is mostly short triples (a diff of 8-30 bytes, all
    zero, then an extra): the 20k tree's delta has ~26 a file, the realistic tree's ~48.
    So a triple costs a few operations on the patch in place (one unpack, one count of
    zero bytes, one slice of old) and the output gathers in a buffer handed on every
    ``_FLUSH`` bytes (memory stays bounded, as the pieces were); only a diff with
    non-zero bytes is added, a ``_PIECE`` at a time.
    """
    oldsize = len(old)
    if not isinstance(patch, bytes):
        patch = bytes(patch)  # counted and sliced in place below (a memoryview has no count)
    plen = len(patch)
    ppos = 0
    oldpos = 0
    newpos = 0
    buf = bytearray()
    unpack = _CTRL.unpack_from
    zeros = patch.count
    while newpos < newsize:
        if plen - ppos < 24:
            raise DeltaError("bsdiff patch failed: patch data truncated")
        c0, c1, c2 = unpack(patch, ppos)
        ppos += 24
        if c2 & _SIGN:
            c2 = -(c2 & _MAGNITUDE)
        end = ppos + c0
        stop = end + c1
        # one test of a triple's bounds (both lengths, where the output and the patch end);
        # a triple it fails is judged again, check by check in bspatch's order (_checked)
        if (c0 | c1) > _INT_MAX or newpos + c0 + c1 > newsize or stop > plen:
            c0, c1 = _checked(c0, c1, newpos, newsize, plen - ppos)
            end = ppos + c0
            stop = end + c1
        if c0:
            if 0 <= oldpos and oldpos + c0 <= oldsize and zeros(0, ppos, end) == c0:
                buf += old[oldpos:oldpos + c0]  # nothing added: old as it is
            else:
                _add_diff(buf, patch, ppos, c0, old, oldpos, oldsize)
        if c1:
            buf += patch[end:stop]
        ppos = stop
        newpos += c0 + c1
        oldpos += c0 + c2
        if len(buf) >= _FLUSH:
            yield bytes(buf)
            buf = bytearray()
    if buf:
        yield bytes(buf)


def _checked(c0: int, c1: int, newpos: int, newsize: int, left: int) -> Tuple[int, int]:
    """A control triple's lengths (a negative zero read as zero), or DeltaError as bspatch
    refuses them, in its order (``left``: the patch's bytes after the triple)."""
    if c0 > _INT_MAX or c1 > _INT_MAX:
        # sign-magnitude: a negative zero is a valid zero, any other negative refused
        c0 = -(c0 & _MAGNITUDE) if c0 & _SIGN else c0
        c1 = -(c1 & _MAGNITUDE) if c1 & _SIGN else c1
        if c0 < 0 or c0 > _INT_MAX or c1 < 0 or c1 > _INT_MAX:
            raise DeltaError("bsdiff patch failed")
    if newpos + c0 > newsize:
        raise DeltaError("bsdiff patch failed")
    if c0 > left:
        raise DeltaError("bsdiff patch failed: patch data truncated")
    if newpos + c0 + c1 > newsize:
        raise DeltaError("bsdiff patch failed")
    if c1 > left - c0:
        raise DeltaError("bsdiff patch failed: patch data truncated")
    return c0, c1


def _add_diff(buf: bytearray, patch: bytes, ppos: int, c0: int, old: Buffer, oldpos: int, oldsize: int) -> None:
    """Append diff ``patch[ppos:ppos+c0]`` added bytewise to old from ``oldpos`` (where
    old has no byte, upstream adds nothing) to ``buf``, a ``_PIECE`` at a time."""
    done = 0
    while done < c0:
        n = min(_PIECE, c0 - done)
        lo, hi = oldpos + done, oldpos + done + n
        clo, chi = max(lo, 0), min(hi, oldsize)
        d = ppos + done
        if clo >= chi:
            buf += patch[d:d + n]
        else:
            buf += patch[d:d + clo - lo]
            buf += add_bytes(patch[d + clo - lo:d + chi - lo], old[clo:chi])
            buf += patch[d + chi - lo:d + n]
        done += n


# ------------------------------------------------------------------ bsdiff

#: anchor length: a k-byte run of the new file looked up in the old file's index
_K = 16
#: the index holds at most this many anchors (about 100 bytes each): past it the
#: stride grows, so a larger old file costs bounded memory and finds only longer matches
_MAX_ANCHORS = 1 << 18
_MIN_STRIDE = 8
#: positions of the new file looked up at once where nothing matches
_PROBE_BATCH = 256
_MIN_BATCH = 8
#: bytes compared per step of the scoring passes (bounds their temporary lists)
_SCORE_CHUNK = 1 << 16
#: translate table: a zero byte (equal bytes, after xor) -> 2, anything else -> 0
_EQ2 = bytes([2] + [0] * 255)
_EQ1 = bytes([1] + [0] * 255)


_NONZERO: Optional[re.Pattern[bytes]] = None


def _nonzero() -> re.Pattern[bytes]:
    """A non-zero byte, for the generator (re is imported by bsdiff, not by bspatch: an apply)."""
    global _NONZERO
    if _NONZERO is None:
        import re
        _NONZERO = re.compile(rb"[^\x00]")
    return _NONZERO


def _xor(a: bytes, b: bytes) -> bytes:
    n = len(a)
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little")


def _common_prefix(old: bytes, a: int, new: bytes, b: int) -> int:
    """Length of the common prefix of old[a:] and new[b:]."""
    n = min(len(old) - a, len(new) - b)
    i = 0
    step = 128
    while i < n:
        m = min(step, n - i)
        if old[a + i:a + i + m] != new[b + i:b + i + m]:
            x = int.from_bytes(old[a + i:a + i + m], "little") ^ int.from_bytes(new[b + i:b + i + m], "little")
            return i + ((x & -x).bit_length() - 1) // 8
        i += m
        step = min(step * 4, 1 << 20)
    return n


def _common_suffix(old: bytes, a: int, new: bytes, b: int, limit: int) -> int:
    """Length (at most ``limit``) of the common suffix of old[:a] and new[:b]."""
    n = min(a, b, limit)
    i = 0
    step = 128
    while i < n:
        m = min(step, n - i)
        if old[a - i - m:a - i] != new[b - i - m:b - i]:
            x = int.from_bytes(old[a - i - m:a - i], "big") ^ int.from_bytes(new[b - i - m:b - i], "big")
            return i + ((x & -x).bit_length() - 1) // 8
        i += m
        step = min(step * 4, 1 << 20)
    return n


def _equal_count(old: bytes, o: int, new: bytes, b: int, n: int) -> int:
    """How many of new[b:b+n] equal old at the same offset from ``o`` (outside old: unequal)."""
    lo, hi = max(o, 0), min(o + n, len(old))
    if lo >= hi:
        return 0
    return _xor(old[lo:hi], new[b + lo - o:b + hi - o]).count(0)


def _best_run(a: bytes, ai: int, b: bytes, bi: int, n: int, backward: bool = False) -> int:
    """The first i <= n maximising 2*(equal bytes among a[ai:ai+i], b[bi:bi+i]) - i,
    0 if none is positive: bsdiff's forward extension, at C speed; ``backward``
    counts from a[ai-1], b[bi-1] down instead (its backward extension).  The runs
    are sliced a piece at a time, never copied whole.

    The score climbs along a run of equal bytes, so its first maximum is at
    the end of a run: where unequal bytes are few only those ends are scored
    (the score just before the j-th unequal byte, at offset m, is m - 2j)."""
    best = 0
    best_i = 0
    total = 0  # 2 * equal bytes so far
    for c in range(0, n, _SCORE_CHUNK):
        size = min(_SCORE_CHUNK, n - c)
        if backward:
            x = _xor(a[ai - c - size:ai - c], b[bi - c - size:bi - c])[::-1]
        else:
            x = _xor(a[ai + c:ai + c + size], b[bi + c:bi + c + size])
        if (size - x.count(0)) * 8 < size:
            j = c - total // 2  # unequal bytes before this piece
            for found in _nonzero().finditer(x):
                at = c + found.start()
                if at - 2 * j > best:
                    best, best_i = at - 2 * j, at
                j += 1
            if c + size - 2 * j > best:
                best, best_i = c + size - 2 * j, c + size
            total = 2 * (c + size - j)
            continue
        d = x.translate(_EQ2)
        # score after byte c+t: total + sum(d[:t+1]) - (c+t+1)
        vals = list(map(sub, accumulate(d), range(c + 1 - total, c + 1 - total + size)))
        mx = max(vals)
        if mx > best:
            best = mx
            best_i = c + vals.index(mx) + 1
        total = vals[-1] + c + size
    return best_i


def _overlap_split(x: bytes, y: bytes) -> int:
    """bsdiff's split of an overlap: the first i maximising matches of x[:i] minus those of y[:i]."""
    if not x:
        return 0
    vals = list(accumulate(map(sub, x.translate(_EQ1), y.translate(_EQ1))))
    mx = max(vals)
    return vals.index(mx) + 1 if mx > 0 else 0


def bsdiff(old: bytes, new: bytes, write: Callable[[bytes], None]) -> None:
    """Write a patch from ``old`` to ``new`` through ``write``.

    Matches come from an anchor index instead of a suffix array; the
    control/diff/extra triples are cut exactly as upstream cuts them around
    each match (approximate forward and backward extension, overlap split)."""
    old = bytes(old)
    new = bytes(new)
    oldsize, newsize = len(old), len(new)
    k = _K
    stride = max(_MIN_STRIDE, -(-oldsize // _MAX_ANCHORS))
    # the first occurrence of each anchor wins: it leaves the most room to extend forward
    last = (oldsize - k) // stride * stride
    # positions are stored plus one, so a hit is truthy for itertools.compress
    index = {old[p:p + k]: p + 1 for p in range(last, -1, -stride)} if oldsize >= k else {}
    get = index.get
    lastscan = lastpos = lastoffset = 0
    q = 0
    # end of the last exact run taken or ridden: a new match's backward extension stops
    # there (it would only re-score what the forward one covers), so each byte is scored
    # a bounded number of times and periodic data cannot make the scan quadratic
    floor = 0
    batch = _MIN_BATCH
    rej_off = rej_end = -1
    while True:
        scan = newsize
        pos = length = 0
        while q <= newsize - k:
            o = q + lastoffset
            if 0 <= o <= oldsize - k and old[o:o + k] == new[q:q + k]:
                # still on the current alignment: ride it to its first mismatch
                floor = q + k + _common_prefix(old, o + k, new, q + k)
                q = floor + 1
                continue
            p = get(new[q:q + k])
            if p is None:
                # not on the alignment, no anchor: look the next stretch up in one go
                # (a resumed alignment is met again at an indexed position within a stride)
                # (growing while nothing is found: where matches are close, probes are few)
                end = min(q + 1 + batch, newsize - k + 1)
                hits = map(get, [new[i:i + k] for i in range(q + 1, end)])
                q = next(compress(range(q + 1, end), hits), end)
                batch = min(2 * batch, _PROBE_BATCH) if q == end else _MIN_BATCH
                continue
            p -= 1
            if p - q == rej_off and q + k <= rej_end:
                q += 1
                continue
            back = _common_suffix(old, p, new, q, q - max(lastscan, floor))
            qs, ps = q - back, p - back
            n = back + k + _common_prefix(old, p + k, new, q + k)
            # upstream's rule: take a new alignment only when it beats the
            # current one by more than 8 bytes over the match
            if n > _equal_count(old, qs + lastoffset, new, qs, n) + 8:
                scan, pos, length = qs, ps, n
                break
            rej_off, rej_end = p - q, qs + n
            q += 1
        m = min(scan - lastscan, oldsize - lastpos)
        lenf = _best_run(new, lastscan, old, lastpos, m) if m > 0 else 0
        lenb = 0
        if scan < newsize:
            m = min(scan - max(lastscan, floor), pos)
            if m > 0:
                lenb = _best_run(new, scan, old, pos, m, backward=True)
        else:
            pos = lastpos + lenf
        if lastscan + lenf > scan - lenb:
            overlap = (lastscan + lenf) - (scan - lenb)
            fx = _xor(new[lastscan + lenf - overlap:lastscan + lenf], old[lastpos + lenf - overlap:lastpos + lenf])
            bx = _xor(new[scan - lenb:scan - lenb + overlap], old[pos - lenb:pos - lenb + overlap])
            lens = _overlap_split(fx, bx)
            lenf += lens - overlap
            lenb -= lens
        extra_len = (scan - lenb) - (lastscan + lenf)
        write(offtout(lenf) + offtout(extra_len) + offtout((pos - lenb) - (lastpos + lenf)))
        for i in range(0, lenf, _SCORE_CHUNK * 16):  # pieces: big-integer temporaries stay small
            n = min(_SCORE_CHUNK * 16, lenf - i)
            write(sub_bytes(new[lastscan + i:lastscan + i + n], old[lastpos + i:lastpos + i + n]))
        write(new[lastscan + lenf:lastscan + lenf + extra_len])
        if scan >= newsize:
            return
        lastscan = scan - lenb
        lastpos = pos - lenb
        lastoffset = pos - scan
        q = floor = scan + length


def bsdiff_bytes(old: bytes, new: bytes) -> bytes:
    """The whole patch from ``old`` to ``new``."""
    out: List[bytes] = []
    bsdiff(old, new, out.append)
    return b"".join(out)
